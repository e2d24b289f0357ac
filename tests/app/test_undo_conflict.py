"""Ctrl+Z / Ctrl+Shift+Z in the workspace after another window changed the region: refused and
shown like a refused stale edit (status bar, page reloaded with the other change), never a
silent overwrite."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.project import Project
from tests.app.test_workspace import page_regions, press, win  # noqa: F401  (the fixture)

CTRL = Qt.KeyboardModifier.ControlModifier


def _type_and_commit(qtbot, ws, region_id, text):
    ws.edit_region(region_id)
    QApplication.focusWidget().setText(text)
    press(qtbot, Qt.Key.Key_Return)


def test_undo_refused_when_another_window_changed_the_region(win, qtbot):  # noqa: F811
    ws = win.workspace
    second = page_regions(win)[1]
    _type_and_commit(qtbot, ws, second.id, "ANA TYPED THIS")
    assert win.project.store.get_region(second.id).text == "ANA TYPED THIS"
    other = Project.open(win.project.root)  # a second app instance: its own connection
    try:
        r = other.store.get_region(second.id)
        other.store.update_region("bob", second.id, expected_version=r.version, text="BOB WAS HERE")

        press(qtbot, Qt.Key.Key_Z, CTRL)

        message = win.statusBar().currentMessage()
        assert "Not undone" in message and "bob" in message
        assert other.store.get_region(second.id).text == "BOB WAS HERE"
        assert win.project.store.can_undo("ana", ws.page_id)  # the undo stack is as it was
        qtbot.waitUntil(lambda: ws.list.model_.regions[1].text == "BOB WAS HERE", timeout=3000)
        assert ws.canvas.items_by_id[second.id].region.text == "BOB WAS HERE"
    finally:
        other.close()


def test_redo_refused_when_another_window_changed_the_region(win, qtbot):  # noqa: F811
    ws = win.workspace
    second = page_regions(win)[1]
    _type_and_commit(qtbot, ws, second.id, "ANA TYPED THIS")
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert win.project.store.get_region(second.id).text == second.text
    other = Project.open(win.project.root)
    try:
        r = other.store.get_region(second.id)
        other.store.update_region("bob", second.id, expected_version=r.version, text="BOB WAS HERE")

        press(qtbot, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)

        message = win.statusBar().currentMessage()
        assert "Not redone" in message and "bob" in message
        assert other.store.get_region(second.id).text == "BOB WAS HERE"
        qtbot.waitUntil(lambda: ws.list.model_.regions[1].text == "BOB WAS HERE", timeout=3000)
        assert ws.canvas.items_by_id[second.id].region.text == "BOB WAS HERE"
    finally:
        other.close()
