"""A key field's typed value is saved after a short pause in typing (the region text editor's
autosave), not only on Enter or when the focus moves: an app killed then loses nothing typed.

Waits are on the store (``qtbot.waitUntil``), never a sleep: a busy machine makes them slower,
never red."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.workspace.fields_panel import IDLE_COMMIT_MS, VALUE, FieldTextEdit
from core.model import HUMAN
from core.store import Store
from tests.app.test_fields_panel import fields_window, into_fields, shown, store_field, type_text
from tests.app.test_workspace import press

WAIT_MS = 10_000 + IDLE_COMMIT_MS


@pytest.fixture
def win(qtbot, tmp_path, qsettings):
    """The key fields panel's window (``test_fields_panel``): two pages pre-filled with fields."""
    yield from fields_window(qtbot, tmp_path, qsettings)


def _field_edits(win, name):
    return win.project.store.field_edits(win.workspace.page_id, name)


def test_a_pause_in_typing_saves_the_value_and_the_editor_stays_open(win, qtbot):
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_End)  # total
    assert view.current_name() == "total"
    type_text(qtbot, "13,50 EUR")
    editor = view.delegate.editor
    assert isinstance(editor, FieldTextEdit) and editor.timer.isActive()
    # Saved without Enter, once the pause is over.
    qtbot.waitUntil(lambda: store_field(win, "total").text == "13,50 EUR", timeout=WAIT_MS)
    total = store_field(win, "total")
    assert (total.origin, total.confirmed_by, total.value.currency) == (HUMAN, "ana", "EUR")
    assert view.editing() and view.delegate.editor is editor and editor.text() == "13,50 EUR"
    assert not editor.dirty and not editor.timer.isActive()
    assert QApplication.focusWidget() is editor  # typing goes on where it was
    # What a killed app leaves: the value is in the project, read by another connection.
    other = Store(win.project.root / "proofdesk.db", readonly=True)
    try:
        assert other.page_field(win.workspace.page_id, "total").text == "13,50 EUR"
    finally:
        other.close()
    # More typing, another pause: saved again, one action each (undo goes back a pause at a time).
    type_text(qtbot, "0")
    qtbot.waitUntil(lambda: store_field(win, "total").text == "13,50 EUR0", timeout=WAIT_MS)
    assert win.project.store.can_undo("ana", win.workspace.page_id)
    # Enter now: nothing left to save; it moves on like an accept of the value already given.
    n = len(_field_edits(win, "total"))
    press(qtbot, Qt.Key.Key_Return)
    assert not view.editing() and len(_field_edits(win, "total")) == n
    assert shown(win, "total") == "13,50 EUR0"


def test_enter_before_the_pause_saves_once(win, qtbot):
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_Down)  # date
    type_text(qtbot, "02.01.2024")
    assert view.delegate.editor.timer.isActive()
    press(qtbot, Qt.Key.Key_Return)
    assert store_field(win, "date").text == "02.01.2024" and not view.editing()
    n = len(_field_edits(win, "date"))
    # The closed editor's timer never saves it a second time: wait past the pause for something
    # the event loop does after it (a later timer, twice as long).
    later = []
    QTimer.singleShot(2 * IDLE_COMMIT_MS, lambda: later.append(1))
    qtbot.waitUntil(lambda: bool(later), timeout=WAIT_MS)
    assert len(_field_edits(win, "date")) == n
    assert shown(win, "date", VALUE) == "2024-01-02"


def test_esc_after_a_pause_keeps_what_was_saved_and_drops_the_rest(win, qtbot):
    view = into_fields(qtbot, win)  # company
    type_text(qtbot, "BOB")
    qtbot.waitUntil(lambda: store_field(win, "company").text == "BOB", timeout=WAIT_MS)
    type_text(qtbot, "X")
    view.delegate.editor.timer.stop()  # Esc comes before the pause is over
    press(qtbot, Qt.Key.Key_Escape)
    assert store_field(win, "company").text == "BOB" and not view.editing()
    assert shown(win, "company") == "BOB"


def test_moving_the_focus_away_saves_what_was_typed(win, qtbot):
    view = into_fields(qtbot, win)  # company
    type_text(qtbot, "ACME LTD")
    view.delegate.editor.timer.stop()  # before the pause is over: the focus change saves it
    press(qtbot, Qt.Key.Key_F6)  # back to the regions
    assert store_field(win, "company").text == "ACME LTD"
