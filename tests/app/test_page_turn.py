"""Turning a page in the workspace (ADR 0008): R / Shift+R and the toolbar, undo, the image shown.

Driven with keys on the real window; what matters is asserted on the database and on what the
canvas shows (the page's size, its image, where the regions are).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QTransform

from core.model import turn_points
from tests.app.test_workspace import PAGE_H, PAGE_W, make_project, press, shown_window


@pytest.fixture
def win(qtbot, tmp_path, qsettings):
    project = make_project(tmp_path, pages=2)
    yield from shown_window(qtbot, project, qsettings)


def _full(ws) -> QImage | None:
    """The full-resolution image the canvas draws (None until it is decoded)."""
    return ws.canvas.image_item.levels[-1][1] if ws.canvas.has_image(full=True) else None


def _shown(ws):
    """(scene width, height), and the full-resolution image's size."""
    rect = ws.canvas.scene().sceneRect()
    full = _full(ws)
    return (rect.width(), rect.height()), None if full is None else (full.width(), full.height())


def _turned(win, qtbot, key, mods, rotation):
    """Press a turn key and wait until the page's turned image is decoded and shown."""
    ws = win.workspace
    with qtbot.waitSignal(ws.committed, timeout=10000):
        press(qtbot, key, mods)
    page = win.project.store.get_page(ws.page_id)
    assert page.rotation == rotation
    size = (page.width, page.height)
    qtbot.waitUntil(lambda: _shown(ws)[1] == size, timeout=10000)
    return page


def test_r_turns_the_page_and_its_regions_and_ctrl_z_turns_them_back(win, qtbot):
    ws, store = win.workspace, win.project.store
    page_id = ws.page_id
    before = {r.id: r.points for r in store.regions(page_id)}
    ws.list.setFocus()

    page = _turned(win, qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.NoModifier, 90)
    assert (page.width, page.height) == (PAGE_H, PAGE_W)
    assert _shown(ws)[0] == (PAGE_H, PAGE_W)                            # the scene is the turned page
    for r in store.regions(page_id):                                    # the regions turned with it ...
        assert list(r.points) == turn_points(before[r.id], 90, PAGE_W, PAGE_H)
        # ... and the canvas draws them where the store has them.
        item = ws.canvas.items_by_id[r.id]
        assert [(round(x, 2), round(y, 2)) for x, y in item.scene_points()] == list(r.points)
    assert len(ws.list.model_.regions) == len(before)

    # Shift+R is the other way: back to upright.
    _turned(win, qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier, 0)
    assert {r.id: r.points for r in store.regions(page_id)} == before
    assert _shown(ws) == ((PAGE_W, PAGE_H), (PAGE_W, PAGE_H))

    # Ctrl+Z undoes the last turn (the page is turned again), Ctrl+Z again the first.
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store.get_page(page_id).rotation == 90
    qtbot.waitUntil(lambda: _shown(ws)[1] == (PAGE_H, PAGE_W), timeout=10000)
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store.get_page(page_id).rotation == 0
    qtbot.waitUntil(lambda: _shown(ws)[1] == (PAGE_W, PAGE_H), timeout=10000)
    assert {r.id: r.points for r in store.regions(page_id)} == before


def test_the_toolbar_turns_too_and_the_shown_image_is_the_stored_one_turned(win, qtbot):
    ws, store = win.workspace, win.project.store
    stored = QImage(str(win.project.images.path(store.get_page(ws.page_id).image_sha256)))
    stored = stored.convertToFormat(_full(ws).format())
    assert _full(ws) == stored
    action = ws.actions_["turn_ccw"]
    assert action in ws.toolbar.actions() and ws.actions_["turn_cw"] in ws.toolbar.actions()
    with qtbot.waitSignal(ws.committed, timeout=10000):
        action.trigger()
    page = store.get_page(ws.page_id)
    assert page.rotation == 270
    qtbot.waitUntil(lambda: _shown(ws)[1] == (PAGE_H, PAGE_W), timeout=10000)
    # Pixel for pixel the stored image turned a quarter counter-clockwise (Qt's angles are
    # clockwise on screen), not resampled.
    assert _full(ws) == stored.transformed(QTransform().rotate(-90))
    # Another page opens at its own turn, and this one again turned.
    other = [p.id for p in store.pages() if p.id != page.id][0]
    ws.open_page(other)
    qtbot.waitUntil(lambda: _shown(ws)[1] == (PAGE_W, PAGE_H), timeout=10000)
    ws.open_page(page.id)
    qtbot.waitUntil(lambda: _shown(ws)[1] == (PAGE_H, PAGE_W), timeout=10000)


def test_a_page_prefilled_sideways_proposes_the_turn(win, qtbot):
    ws, store = win.workspace, win.project.store
    page_id = ws.page_id
    other = [p.id for p in store.pages() if p.id != page_id][0]
    # The machine's regions read down the page (what pre-fill gives on a page scanned sideways).
    with store.action("ana", page_id, "sideways") as a:
        for r in store.regions(page_id):
            a.update_region(r.id, points=[(y, PAGE_W - x) for x, y in r.points])
    messages = []
    ws.message.connect(lambda text, _ms: messages.append(text))
    ws.open_page(other)
    assert not any("reads turned" in m for m in messages)
    ws.open_page(page_id)
    assert any("reads turned 90" in m and "R turns it upright" in m for m in messages), messages
