"""The key fields panel of the workspace (issue 15), driven with the keyboard only.

Pages are pre-filled with regions and key fields (``Store.add_prediction``); every assertion that
matters is made on the store, then on what the panel shows.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.workspace import keys as keymod
from app.workspace.fields_panel import ABSENT_TEXT, CHECK_MARK, CONF, TEXT, UNREAD_COLOUR, VALUE
from app.workspace.states import COLOURS, LOW
from core.fields import FieldValue
from core.model import HUMAN, PredictedRegion, Prediction, box_to_quad
from tests.app.test_workspace import LINES, _draw_page, make_project, press, shown_window

SCHEMA = ["company", "date", "address", "total"]
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _fields(i: int) -> tuple[FieldValue, ...]:
    """Page ``i``'s predicted fields; sources are indexes into the prediction's regions (LINES)."""
    return (
        FieldValue("company", f"ACME STORE{'' if i == 0 else f' {i}'}", None, None, 0.95, (0,)),
        FieldValue("date", "2O24-01-02", None, None, 0.40, (1,), (5, 15)),  # misread: not a date
        FieldValue("address", absent=True, confidence=0.7),
        FieldValue("total", "12.50", "12.50", None, 0.90, (2,), (6, 11)),
    )


def _prediction(page_id: int, boxes, fields, config_hash="h") -> Prediction:
    regions = tuple(PredictedRegion(box_to_quad(*b), read, conf) for b, (_, read, conf) in zip(boxes, LINES))
    return Prediction(page_id, "test", "1", {}, config_hash, regions, fields=fields)


def fields_window(qtbot, tmp_path, qsettings):
    """The main window on two pages pre-filled with fields (a generator, for fixtures to yield from)."""
    project = make_project(tmp_path, pages=2, prefill=False)
    project.store.set_fields(SCHEMA)
    boxes = _draw_page(tmp_path / "boxes.png")
    for i, page in enumerate(project.store.pages()):
        project.store.add_prediction(_prediction(page.id, boxes, _fields(i)))
    yield from shown_window(qtbot, project, qsettings)


@pytest.fixture
def win(qtbot, tmp_path, qsettings):
    yield from fields_window(qtbot, tmp_path, qsettings)


def type_text(qtbot, text):
    """Key by key where the focus is, as a keyboard types (the first key opens the editor)."""
    for ch in text:
        qtbot.keyClicks(QApplication.focusWidget(), ch)


def store_field(win, name):
    return win.project.store.page_field(win.workspace.page_id, name)


def region_ids(win):
    """The page's region ids by the machine's text."""
    return {r.text: r.id for r in win.project.store.regions(win.workspace.page_id)}


def shown(win, name, col=TEXT, role=Qt.ItemDataRole.DisplayRole):
    model = win.workspace.fields_panel.model_
    return model.data(model.index(model.row_of(name), col), role)


def into_fields(qtbot, win):
    press(qtbot, Qt.Key.Key_F6)
    view = win.workspace.fields_panel.view
    assert QApplication.focusWidget() is view
    return view


def test_the_panel_shows_the_page_fields(win):
    panel = win.workspace.fields_panel
    assert panel.isVisible() and panel.model_.names == SCHEMA
    assert shown(win, "company") == "ACME STORE"
    assert shown(win, "total") == "12.50" and shown(win, "total", VALUE) == "12.50"
    assert shown(win, "date", VALUE) == "not a date"  # the misread "2O24" does not pass as a date
    assert shown(win, "date", VALUE, Qt.ItemDataRole.ForegroundRole) == UNREAD_COLOUR
    assert shown(win, "date", CONF) == "0.40" and shown(win, "date", CONF, Qt.ItemDataRole.ForegroundRole) == COLOURS[LOW]
    assert shown(win, "address") == ABSENT_TEXT
    # The page (the canvas) keeps the larger share; the panel sits under the region list.
    ws = win.workspace
    assert ws.canvas.width() > ws.right.width()
    assert panel.geometry().top() > ws.list.geometry().top()
    assert panel.view.verticalScrollBar().maximum() == 0  # four fields shown whole


def test_default_keys_do_not_clash(qsettings):
    assert keymod.conflicts(keymod.KeyMap(qsettings).as_dict()) == []


def test_f6_goes_in_and_back_and_the_field_outlines_its_regions(win, qtbot):
    ws = win.workspace
    ids = region_ids(win)
    assert QApplication.focusWidget() is ws.list
    view = into_fields(qtbot, win)
    assert view.current_name() == "company"  # the first field still to check
    assert ws.canvas.highlighted == [ids["ACME STORE"]]
    assert ws.canvas._highlight is not None and ws.canvas._highlight.scene() is ws.canvas.scene()
    assert ws.list.selected_ids() == []  # outlined, not selected: Ctrl+L takes the selection
    press(qtbot, Qt.Key.Key_Down)
    assert view.current_name() == "date" and ws.canvas.highlighted == [ids["DATE 2O24-01-02"]]
    press(qtbot, Qt.Key.Key_Down)
    assert view.current_name() == "address" and ws.canvas.highlighted == []  # not on this page: nothing
    press(qtbot, Qt.Key.Key_F6)
    assert QApplication.focusWidget() is ws.list


def test_enter_checks_the_field_and_moves_on(win, qtbot):
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_Return)
    company = store_field(win, "company")
    assert company.checked and company.confirmed_by == "ana" and company.text == "ACME STORE"
    assert view.current_name() == "date"
    assert shown(win, "company", CONF) == f"{CHECK_MARK} 0.95"
    assert shown(win, "company", CONF, Qt.ItemDataRole.ForegroundRole) == COLOURS["checked"]
    assert not store_field(win, "date").checked


def test_plain_keys_in_the_panel_type_rather_than_act_on_regions(win, qtbot):
    ws = win.workspace
    before = len(win.project.store.regions(ws.page_id))
    into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_Delete)  # empties the value being typed, deletes no region
    press(qtbot, Qt.Key.Key_W)  # types a w, does not start drawing a box
    assert ws.canvas.mode == "select"
    assert ws.fields_panel.view.editing() and ws.fields_panel.view.delegate.editor.text() == "w"
    press(qtbot, Qt.Key.Key_Escape)  # discards it
    assert len(win.project.store.regions(ws.page_id)) == before
    assert store_field(win, "company").text == "ACME STORE" and not store_field(win, "company").touched


def test_typing_corrects_the_value_with_its_normalised_form(win, qtbot):
    ids = region_ids(win)
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_Down)
    assert view.current_name() == "date"
    type_text(qtbot, "02.01.2024")
    assert shown(win, "date", VALUE) == "2024-01-02"  # the normalised value, while typing
    assert store_field(win, "date").text == "2O24-01-02"  # nothing stored before Enter
    press(qtbot, Qt.Key.Key_Return)
    date = store_field(win, "date")
    assert (date.text, date.value.value, date.origin, date.confirmed_by) == ("02.01.2024", "2024-01-02", HUMAN, "ana")
    assert date.value.sources == (ids["DATE 2O24-01-02"],)  # still read from that line
    assert shown(win, "date") == "02.01.2024" and shown(win, "date", CONF).startswith(CHECK_MARK)
    assert view.current_name() == "address" and QApplication.focusWidget() is view


def test_the_absent_key_says_not_on_this_page(win, qtbot):
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_Delete, CTRL)
    company = store_field(win, "company")
    assert company.absent and company.origin == HUMAN and company.confirmed_by == "ana" and company.text == ""
    assert shown(win, "company") == ABSENT_TEXT
    assert view.current_name() == "date"


def test_link_takes_the_selected_region_and_the_selected_part_of_a_line(win, qtbot):
    ws = win.workspace
    ids = region_ids(win)
    view = into_fields(qtbot, win)  # on company
    press(qtbot, Qt.Key.Key_F6)  # back to the regions
    press(qtbot, Qt.Key.Key_Tab)  # the first line, selected, its text being edited
    press(qtbot, Qt.Key.Key_Tab)
    press(qtbot, Qt.Key.Key_Tab)
    press(qtbot, Qt.Key.Key_Tab)
    assert ws.list.editing_id() == ids["THANK Y0U"]
    press(qtbot, Qt.Key.Key_L, CTRL)
    company = store_field(win, "company")
    assert (company.text, company.value.sources, company.origin) == ("THANK Y0U", (ids["THANK Y0U"],), HUMAN)
    assert ws.canvas.highlighted == [ids["THANK Y0U"]]
    # Part of a line: the amount after "TOTAL", selected with Shift+Left in the line's text.
    press(qtbot, Qt.Key.Key_F6)
    for _ in range(3):
        press(qtbot, Qt.Key.Key_Down)
    assert view.current_name() == "total"
    press(qtbot, Qt.Key.Key_F6)
    press(qtbot, Qt.Key.Key_Tab, SHIFT)
    assert ws.list.editing_id() == ids["TOTAL 12.50"]
    press(qtbot, Qt.Key.Key_End)
    for _ in range(5):
        press(qtbot, Qt.Key.Key_Left, SHIFT)
    press(qtbot, Qt.Key.Key_L, CTRL)
    total = store_field(win, "total")
    assert (total.text, total.value.value, total.value.sources, total.value.span) == (
        "12.50", "12.50", (ids["TOTAL 12.50"],), (6, 11))
    assert win.project.store.get_region(ids["TOTAL 12.50"]).text == "TOTAL 12.50"  # the line is untouched


def test_undo_puts_the_value_back_and_the_panel_shows_it(win, qtbot):
    view = into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_End)  # the last field: total
    assert view.current_name() == "total"
    type_text(qtbot, "13,50 EUR")
    press(qtbot, Qt.Key.Key_Return)
    assert (store_field(win, "total").text, store_field(win, "total").value.currency) == ("13,50 EUR", "EUR")
    assert shown(win, "total", VALUE) == "13.50 EUR"
    press(qtbot, Qt.Key.Key_Z, CTRL)
    total = store_field(win, "total")
    assert (total.text, total.origin) == ("12.50", "prediction")
    assert shown(win, "total") == "12.50" and shown(win, "total", VALUE) == "12.50"
    assert view.current_name() == "total"
    press(qtbot, Qt.Key.Key_Z, CTRL | SHIFT)  # and redo
    assert store_field(win, "total").text == "13,50 EUR" and shown(win, "total") == "13,50 EUR"


def test_ctrl_z_while_typing_a_value_throws_the_typing_away_first(win, qtbot):
    into_fields(qtbot, win)
    type_text(qtbot, "OTHER")
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert store_field(win, "company").text == "ACME STORE"
    assert win.workspace.fields_panel.view.delegate.editor.text() == "ACME STORE"
    assert not win.project.store.can_undo("ana", win.workspace.page_id)


def test_a_stale_field_is_not_overwritten(win, qtbot):
    ws = win.workspace
    into_fields(qtbot, win)
    win.project.store.set_page_field(ws.page_id, FieldValue("company", "BOB'S STORE"), "bob")  # another window
    press(qtbot, Qt.Key.Key_Return)
    company = store_field(win, "company")
    assert (company.text, company.confirmed_by, company.checked) == ("BOB'S STORE", "bob", False)
    assert "Not saved" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: shown(win, "company") == "BOB'S STORE", timeout=5000)


def test_changing_page_and_a_new_prefill_reload_the_panel(win, qtbot, tmp_path):
    ws = win.workspace
    first = ws.page_id
    into_fields(qtbot, win)
    press(qtbot, Qt.Key.Key_PageDown, CTRL)  # the next page, from inside the panel
    assert ws.page_id != first
    assert shown(win, "company") == "ACME STORE 1"
    assert ws.fields_panel.page_id == ws.page_id
    assert QApplication.focusWidget() is ws.fields_panel.view  # working through fields page after page
    # Pre-fill writes this page again (a worker): the panel shows the new values.
    boxes = _draw_page(tmp_path / "boxes2.png")
    new = (FieldValue("company", "ACME STORES LTD", None, None, 0.97, (0,)),)
    win.project.store.add_prediction(_prediction(ws.page_id, boxes, new, config_hash="h2"))
    win.on_page_changed_elsewhere(ws.page_id)
    assert shown(win, "company") == "ACME STORES LTD"
    assert shown(win, "total") == ""  # that pre-fill found no total: the row is empty, still typeable


def test_a_forms_many_valued_fields_are_not_rows_of_the_panel(qtbot, tmp_path, qsettings):
    project = make_project(tmp_path, pages=1, prefill=False)
    project.store.set_fields(["header", "question", "answer"])
    boxes = _draw_page(tmp_path / "boxes.png")
    page = project.store.pages()[0]
    project.store.add_prediction(_prediction(page.id, boxes, ()))
    for w in shown_window(qtbot, project, qsettings):
        panel = w.workspace.fields_panel
        assert panel.model_.names == []
        assert panel.empty.isVisible() and "label the regions" in panel.empty.text()
        panel.show_fields(page.id, ["date", "question"], [], ())     # a schema of both kinds
        assert panel.model_.names == ["date"] and not panel.empty.isVisible()
        break
