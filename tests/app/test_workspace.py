"""The annotation workspace, driven like a person does: keys and mouse on the real widgets.

Every assertion that matters is made on the database, not on the widgets alone.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QMouseEvent
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.workspace import keys as keymod
from app.workspace.canvas import DRAW_RECT, order_quad
from app.workspace.states import EDITED, HUMAN_ADDED, LABELLED, LOW, PREFILLED
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, box_to_quad
from core.project import Project

#: The lines drawn on each test page, what the "machine" read and how sure it was.
LINES = [("ACME STORE", "ACME STORE", 0.95), ("DATE 2024-01-02", "DATE 2O24-01-02", 0.40),
         ("TOTAL 12.50", "TOTAL 12.50", 0.90), ("THANK YOU", "THANK Y0U", 0.50)]
PAGE_W, PAGE_H = 800, 420


def _draw_page(path, lines=LINES):
    img = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=40)
    boxes = []
    for i, (text, _, _) in enumerate(lines):
        x, y = 40, 30 + i * 95
        draw.text((x, y), text, fill="black", font=font)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        boxes.append((x0 - 6, y0 - 6, x1 + 6, y1 + 6))
    img.save(path)
    return boxes


def make_project(tmp_path, pages: int = 3, prefill: bool = True) -> Project:
    """A project with ``pages`` pages of four text lines, pre-filled with known texts."""
    project = Project.create(tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    boxes = []
    for i in range(pages):
        boxes = _draw_page(src / f"page{i}.png", [(t + ("" if i == 0 else f" {i}"), r, c) for t, r, c in LINES])
    import_paths(project, [src])
    if prefill:
        for page in project.store.pages():
            regions = tuple(PredictedRegion(box_to_quad(*b), read, conf)
                            for b, (_, read, conf) in zip(boxes, LINES))
            project.store.add_prediction(Prediction(page.id, "test", "1", {}, "h", regions))
    return project


def shown_window(qtbot, project, qsettings):
    """(A fixture's body, ``yield from``.) The main window on ``project``, shown, active, its first
    page's image decoded; closed with the project afterwards."""
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.resize(1400, 800)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.workspace.canvas.has_image(full=True), timeout=5000)
    yield window
    window.close()
    project.close()


@pytest.fixture
def win(qtbot, tmp_path, qsettings):
    """The main window on a 3-page project, shown, active, its first page's image decoded."""
    yield from shown_window(qtbot, make_project(tmp_path), qsettings)


def press(qtbot, key, mods=Qt.KeyboardModifier.NoModifier):
    """A key press where the keyboard focus is, as a real keyboard would deliver it."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has the keyboard focus"
    qtbot.keyClick(target, key, mods)


def type_text(qtbot, text):
    qtbot.keyClicks(QApplication.focusWidget(), text)


def mouse(widget, kind, pos, button=Qt.MouseButton.LeftButton, buttons=None, mods=Qt.KeyboardModifier.NoModifier):
    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == "release" else button
    p = QPointF(pos)
    event = QMouseEvent(types[kind], p, widget.mapToGlobal(p), Qt.MouseButton.NoButton if kind == "move" else button,
                        buttons, mods)
    QApplication.sendEvent(widget, event)


def drag(canvas, start_scene, end_scene, steps=5, mods=Qt.KeyboardModifier.NoModifier):
    """Press, move and release the left button on the canvas between two page points."""
    vp = canvas.viewport()
    a = canvas.mapFromScene(QPointF(*start_scene))
    b = canvas.mapFromScene(QPointF(*end_scene))
    mouse(vp, "press", a, mods=mods)
    for i in range(1, steps + 1):
        mouse(vp, "move", a + (b - a) * i / steps, mods=mods)
    mouse(vp, "release", b, mods=mods)


def click(canvas, scene_pos, mods=Qt.KeyboardModifier.NoModifier):
    p = canvas.mapFromScene(QPointF(*scene_pos))
    mouse(canvas.viewport(), "press", p, mods=mods)
    mouse(canvas.viewport(), "release", p, mods=mods)


def page_regions(window):
    return window.project.store.regions(window.workspace.page_id)


def actions(window):
    return window.project.store.query("SELECT * FROM actions ORDER BY id")


def test_page_opens_with_regions_in_reading_order_coloured_by_state(win):
    ws = win.workspace
    stored = page_regions(win)
    assert [i.region.id for i in ws.canvas.region_items] == [r.id for r in stored]
    assert [r.id for r in ws.list.model_.regions] == [r.id for r in stored]
    assert [ws.states[r.id] for r in stored] == [PREFILLED, LOW, PREFILLED, LOW]
    # Crops are cut only for the rows the view asked for, and come from the page image.
    crop = ws.list.model_.crops.get(stored[0])
    assert crop is not None and crop.height() > 10 and crop.width() > 100


def test_text_column_tooltip_shows_the_whole_line(win):
    """A line longer than its column is elided on screen; hovering shows all of it."""
    from app.workspace.region_list import TEXT

    model = win.workspace.list.model_
    first = page_regions(win)[0]
    tip = model.data(model.index(0, TEXT), Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines()[0] == first.text and "pre-filled" in tip.splitlines()[1]
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole).startswith(f"region {first.id}")


def test_tab_types_and_enter_commits_one_action(win, qtbot):
    ws = win.workspace
    first, second = page_regions(win)[:2]
    press(qtbot, Qt.Key.Key_Tab)
    assert ws.list.editing_id() == first.id
    press(qtbot, Qt.Key.Key_Tab)
    assert ws.list.editing_id() == second.id
    editor = QApplication.focusWidget()
    editor.selectAll()
    type_text(qtbot, "DATE 2024-01-02")
    before = len(actions(win))
    press(qtbot, Qt.Key.Key_Return)
    assert win.project.store.get_region(second.id).text == "DATE 2024-01-02"
    assert len(actions(win)) == before + 1
    assert ws.list.editing_id() is None
    assert ws.states[second.id] == EDITED
    assert win.project.store.get_page(ws.page_id).status == PageStatus.IN_PROGRESS
    press(qtbot, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert ws.list.editing_id() == first.id


def test_typing_commits_itself_after_a_pause_and_on_focus_out(win, qtbot):
    ws = win.workspace
    third = page_regions(win)[2]
    ws.edit_region(third.id)
    type_text(qtbot, " EUR")
    assert win.project.store.get_region(third.id).text == "TOTAL 12.50"  # not yet: still typing
    qtbot.waitUntil(lambda: win.project.store.get_region(third.id).text == "TOTAL 12.50 EUR", timeout=3000)
    assert ws.list.editing_id() == third.id  # the editor stays open
    type_text(qtbot, "!")
    ws.canvas.setFocus()  # focus leaves the editor: committed at once
    assert win.project.store.get_region(third.id).text == "TOTAL 12.50 EUR!"


def test_field_label_keys(win, qtbot):
    ws = win.workspace
    regions = page_regions(win)
    fields = win.project.store.fields()
    ws.edit_region(regions[0].id)
    press(qtbot, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)  # while typing: Alt+1
    assert win.project.store.get_region(regions[0].id).label == fields[0]
    press(qtbot, Qt.Key.Key_Return)  # leave the text; plain digits label now
    press(qtbot, Qt.Key.Key_Down)
    press(qtbot, Qt.Key.Key_2)
    assert win.project.store.get_region(regions[1].id).label == fields[1]
    assert ws.states[regions[1].id] == LABELLED
    assert ws.list.model_.data(ws.list.model_.index(1, 2)) == fields[1]
    item = ws.canvas.items_by_id[regions[1].id]
    assert item.tag is not None and item.tag.text.startswith(fields[1])
    press(qtbot, Qt.Key.Key_2)  # the same key again takes the label off
    assert win.project.store.get_region(regions[1].id).label is None


def test_undo_redo_replay_the_edit_log(win, qtbot):
    ws = win.workspace
    second = page_regions(win)[1]
    ws.edit_region(second.id)
    QApplication.focusWidget().setText("FIXED")
    press(qtbot, Qt.Key.Key_Return)
    assert win.project.store.get_region(second.id).text == "FIXED"
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.project.store.get_region(second.id).text == "DATE 2O24-01-02"
    assert ws.list.model_.regions[1].text == "DATE 2O24-01-02"
    assert ws.canvas.items_by_id[second.id].region.text == "DATE 2O24-01-02"
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.project.store.get_region(second.id).text == "FIXED"
    assert ws.list.model_.regions[1].text == "FIXED"


def test_ctrl_z_while_typing_first_discards_the_uncommitted_typing(win, qtbot):
    ws = win.workspace
    first = page_regions(win)[0]
    ws.edit_region(first.id)
    type_text(qtbot, "XYZ")
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    editor = QApplication.focusWidget()
    assert editor.text() == "ACME STORE"
    assert win.project.store.get_region(first.id).text == "ACME STORE"
    assert not win.project.store.can_undo("ana", ws.page_id)


def test_delete_key_and_undo(win, qtbot):
    ws = win.workspace
    regions = page_regions(win)
    ws.select([regions[1].id, regions[2].id])
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_Delete)
    assert [r.id for r in page_regions(win)] == [regions[0].id, regions[3].id]
    assert set(ws.canvas.items_by_id) == {regions[0].id, regions[3].id}
    assert ws.list.model_.rowCount() == 2
    assert len([a for a in actions(win) if a["label"].startswith("delete")]) == 1  # one action
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(page_regions(win)) == 4 and ws.list.model_.rowCount() == 4


def test_lock_keeps_a_region_from_moving_and_deleting(win, qtbot):
    ws = win.workspace
    first = page_regions(win)[0]
    ws.select([first.id])
    ws.canvas.setFocus()
    press(qtbot, Qt.Key.Key_L)
    assert win.project.store.get_region(first.id).locked
    x0, y0, x1, y1 = first.bounds
    drag(ws.canvas, ((x0 + x1) / 2, (y0 + y1) / 2), ((x0 + x1) / 2 + 80, (y0 + y1) / 2 + 40))
    press(qtbot, Qt.Key.Key_Delete)
    stored = win.project.store.get_region(first.id)
    assert stored.points == first.points and not stored.deleted
    press(qtbot, Qt.Key.Key_L)
    assert not win.project.store.get_region(first.id).locked


def test_navigate_to_low_confidence_regions(win, qtbot):
    ws = win.workspace
    regions = page_regions(win)
    press(qtbot, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert ws.list.editing_id() == regions[1].id
    assert ws.canvas.selected_ids() == [regions[1].id]
    press(qtbot, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert ws.list.editing_id() == regions[3].id
    press(qtbot, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)  # wraps around
    assert ws.list.editing_id() == regions[1].id


def test_draw_a_box_is_one_action_and_is_read_by_ocr(win, qtbot):
    ws = win.workspace
    total = page_regions(win)[2]
    x0, y0, x1, y1 = total.bounds
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_W)
    assert ws.canvas.mode == DRAW_RECT
    before = len(actions(win))
    drag(ws.canvas, (x0, y0), (x1, y1))
    added = [r for r in page_regions(win) if r.origin == "human"]
    assert len(added) == 1 and len(actions(win)) == before + 1
    assert added[0].bounds == pytest.approx((x0, y0, x1, y1), abs=2)
    assert ws.states[added[0].id] == HUMAN_ADDED
    assert ws.list.editing_id() == added[0].id  # focus is in its text
    # Tesseract reads it off the GUI thread and fills the text in.
    qtbot.waitUntil(lambda: "TOTAL" in win.project.store.get_region(added[0].id).text, timeout=20000)
    qtbot.waitUntil(lambda: "TOTAL" in QApplication.focusWidget().text(), timeout=2000)


def test_rereading_uses_the_projects_promoted_recogniser(win, qtbot):
    """After the lead promotes a fine-tuned model, a re-read box is read by that model (as the
    next pre-fill is), not by the shipped one."""
    import shutil

    from core import registry
    from core.resources import resources_dir
    from ml import reader

    project = win.project
    folder = project.root / "models" / "ft-1"
    shutil.copytree(resources_dir() / "models" / "ppocrv5-base" / "rec-latin", folder)
    version = registry.register(project.store, "lead", "ft-1", "recognition", "models/ft-1", "0" * 64)
    registry.promote(project.store, "lead", version)
    ws = win.workspace
    total = page_regions(win)[2]
    project.store.update_region("ana", total.id, text="")  # nothing typed: a re-read fills it in
    win.show_page(ws.page_id)
    ws.select([total.id])
    worker = ws.rerecognize([total.id], force=True)
    assert worker is not None
    qtbot.waitUntil(lambda: "TOTAL" in project.store.get_region(total.id).text, timeout=20000)
    assert reader._loaded.get(f"neural:{folder}") is not None
    # The status bar names the model (after a promotion from the Training screen it is told).
    qtbot.waitUntil(lambda: win.engine_label.text().startswith("OCR: "), timeout=20000)
    win.update_engine_label()
    assert win.engine_label.text() == "OCR: neural (ft-1) on CPU"


def test_rerecognition_never_overwrites_typed_text_unless_asked(win, qtbot):
    ws = win.workspace
    total = page_regions(win)[2]
    ws.edit_region(total.id)
    QApplication.focusWidget().setText("typed by a person")
    press(qtbot, Qt.Key.Key_Return)
    # Resize by dragging the right edge handle: the box changes, the typed text stays.
    x0, y0, x1, y1 = total.bounds
    ws.select([total.id])
    assert len(ws.canvas.handles) == 8
    drag(ws.canvas, (x1, (y0 + y1) / 2), (x1 + 30, (y0 + y1) / 2))
    stored = win.project.store.get_region(total.id)
    assert stored.bounds[2] == pytest.approx(x1 + 30, abs=2)
    assert ws.rerecognize([total.id], force=False) is None  # nothing to read: the text is typed
    assert stored.text == "typed by a person"
    ws.canvas.setFocus()
    with qtbot.waitSignal(ws.committed, timeout=20000, check_params_cb=lambda label: label == "re-recognize"):
        press(qtbot, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # asked for: read again
    assert "TOTAL" in win.project.store.get_region(total.id).text


def test_move_regions_by_mouse_is_one_action(win, qtbot):
    ws = win.workspace
    a, b = page_regions(win)[:2]
    ws.select([a.id])
    ax, ay = (a.bounds[0] + a.bounds[2]) / 2, (a.bounds[1] + a.bounds[3]) / 2
    click(ws.canvas, ((b.bounds[0] + b.bounds[2]) / 2, (b.bounds[1] + b.bounds[3]) / 2),
          mods=Qt.KeyboardModifier.ShiftModifier)
    assert set(ws.selected_ids()) == {a.id, b.id}
    before = len(actions(win))
    drag(ws.canvas, (ax, ay), (ax + 20, ay + 10))
    assert len(actions(win)) == before + 1
    for old in (a, b):
        new = win.project.store.get_region(old.id)
        assert new.bounds[0] == pytest.approx(old.bounds[0] + 20, abs=1.5)
        assert new.bounds[1] == pytest.approx(old.bounds[1] + 10, abs=1.5)


def test_draw_a_four_point_region(win, qtbot):
    ws = win.workspace
    ws.canvas.setFocus()
    press(qtbot, Qt.Key.Key_Q)
    for p in [(600, 60), (700, 70), (690, 110), (595, 100)]:
        click(ws.canvas, p)
    added = [r for r in page_regions(win) if r.origin == "human"]
    assert len(added) == 1
    pts = added[0].points
    assert pts[0] == pytest.approx((600, 60), abs=1.5) and pts[2] == pytest.approx((690, 110), abs=1.5)
    assert order_quad([(1, 1), (0, 0), (0, 1), (1, 0)]) == [(0, 0), (1, 0), (1, 1), (0, 1)]


def test_rubber_band_selects_in_canvas_and_list(win, qtbot):
    ws = win.workspace
    regions = page_regions(win)
    drag(ws.canvas, (5, 5), (PAGE_W - 5, regions[1].bounds[3] + 5))
    assert set(ws.canvas.selected_ids()) == {regions[0].id, regions[1].id}
    assert set(ws.list.selected_ids()) == {regions[0].id, regions[1].id}
    ws.list.select_ids([])
    ws.list.selectRow(3)
    assert ws.canvas.selected_ids() == [regions[3].id]


def test_mark_done_opens_the_next_page_and_remembers_it(win, qtbot):
    ws = win.workspace
    pages = win.project.store.pages()
    assert ws.page_id == pages[0].id
    qtbot.waitUntil(lambda: pages[1].id in ws.loader.cache, timeout=5000)  # loaded ahead
    press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    done = win.project.store.get_page(pages[0].id)
    assert done.status == PageStatus.DONE and done.done_by == "ana" and done.done_at
    assert ws.page_id == pages[1].id
    assert ws.canvas.has_image(full=True)  # it came decoded from the cache
    assert win.page_list.selected_page_ids() == [pages[1].id]
    assert win.project.store.get_setting("last_page:ana") == pages[1].id
    assert [r.text for r in ws.list.model_.regions][0] == "ACME STORE"


def test_region_changed_through_core_shows_after_reload(win):
    ws = win.workspace
    first = page_regions(win)[0]
    win.project.store.update_region("bob", first.id, text="CHANGED ELSEWHERE", label="company")
    win.show_page(ws.page_id)
    assert ws.list.model_.regions[0].text == "CHANGED ELSEWHERE"
    assert ws.canvas.items_by_id[first.id].region.label == "company"
    assert ws.states[first.id] == LABELLED


def test_conflicting_edit_from_another_connection_is_shown_not_overwritten(win, qtbot, tmp_path):
    ws = win.workspace
    second = page_regions(win)[1]
    other = Project.open(win.project.root)  # a second app instance: its own connection
    try:
        ws.edit_region(second.id)  # this window loaded version 1
        other.store.update_region("bob", second.id, expected_version=second.version, text="BOB WAS HERE")
        QApplication.focusWidget().setText("ANA TYPED THIS")
        press(qtbot, Qt.Key.Key_Return)
        assert "Not saved" in win.statusBar().currentMessage()
        assert "bob" in win.statusBar().currentMessage()
        assert other.store.get_region(second.id).text == "BOB WAS HERE"
        qtbot.waitUntil(lambda: ws.list.model_.regions[1].text == "BOB WAS HERE", timeout=3000)
        assert ws.canvas.items_by_id[second.id].region.text == "BOB WAS HERE"
    finally:
        other.close()


def test_shortcuts_are_configurable_and_the_help_shows_them(win, qtbot, qsettings):
    ws = win.workspace
    ws.keymap.set_keys("undo", keymod.parse("Ctrl+U"))
    ws.apply_keys()
    assert qsettings.value("shortcuts/undo") == "Ctrl+U"
    first = page_regions(win)[0]
    ws.edit_region(first.id)
    QApplication.focusWidget().setText("NEW")
    press(qtbot, Qt.Key.Key_Return)
    press(qtbot, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    assert win.project.store.get_region(first.id).text == "ACME STORE"
    press(qtbot, Qt.Key.Key_F1)
    assert ws.help_overlay.isVisible()
    text = ws.help_overlay.label.text()
    assert QKeySequence("Ctrl+U").toString(QKeySequence.SequenceFormat.NativeText) in text
    assert "company" in text  # the schema's field names beside their keys
    press(qtbot, Qt.Key.Key_Escape)
    assert not ws.help_overlay.isVisible()
    assert keymod.conflicts({"a": keymod.parse("W"), "b": keymod.parse("W; Q")}) == [("W", ["a", "b"])]


def test_field_schema_dialog_presets(qtbot):
    from app.workspace.fields_dialog import FieldSchemaDialog

    dialog = FieldSchemaDialog(["company"])
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("invoice")
    dialog.preset.activated.emit(dialog.preset.currentIndex())
    assert dialog.fields() == ["invoice_number", "invoice_date", "due_date", "seller", "buyer", "currency",
                              "net_total", "tax_total", "total"]


def test_zoom_keys_and_wheel(win, qtbot):
    canvas = win.workspace.canvas
    canvas.fit("page")
    z = canvas.zoom()
    canvas.setFocus()
    press(qtbot, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(z * 1.25)
    press(qtbot, Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() * PAGE_W == pytest.approx(canvas.viewport().width() - 4, abs=1)
    assert QPoint  # keep import used


def test_page_list_says_who_marked_a_page_done_and_when(win, qtbot):
    ws = win.workspace
    first = ws.page_id
    press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    model = win.page_list.model_
    row = model.row_of(first)
    tip = model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
    page = win.project.store.get_page(first)
    assert "done by ana at " + page.done_at[:16].replace("T", " ") in tip
    assert model.data(model.index(row, 0)) == "done"


def test_status_bar_says_which_ocr_runs_and_on_what(win, qtbot):
    qtbot.waitUntil(lambda: win.engine_label.text().startswith("OCR: "), timeout=20000)
    assert win.engine_label.text() == "OCR: neural on CPU"  # this machine has no GPU


def test_a_window_closed_before_its_background_lookups_finish_is_left_alone(qtbot, tmp_path, qsettings):
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication

    project = make_project(tmp_path, pages=1)
    window = MainWindow(project, "ana", qsettings)
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, 0)  # deleted now, while the OCR lookup still runs
    assert QThreadPool.globalInstance().waitForDone(20000)
    qtbot.wait(50)  # its finished signal arrives with no window to show it in: no error
    project.close()


def test_region_items_reused_for_the_next_page_show_that_page_and_take_clicks(win, qtbot):
    """A page change hands the previous page's region items to the new page (no 800 items
    made and destroyed each time): each must show the new region, its tag and its look, and
    take clicks; the ones left over stay hidden and out of hit tests."""
    from app.workspace.canvas import NO_CONTENTS, RegionItem

    ws = win.workspace
    first_page = page_regions(win)
    win.project.store.update_region("ana", first_page[0].id, label="company")
    win.show_page(ws.page_id)
    old_items = {id(i) for i in ws.canvas.items_by_id.values()}
    ws.canvas.viewport().repaint()
    assert all(i.layered and i.flags() & NO_CONTENTS for i in ws.canvas.items_by_id.values())

    # The second page has one region fewer: one reused item is left over.
    second_id = win.project.store.pages()[1].id
    gone = win.project.store.regions(second_id)[-1]
    win.project.store.delete_regions("ana", [gone.id])
    win.show_page(second_id)
    second_page = page_regions(win)
    items = ws.canvas.items_by_id
    assert set(items) == {r.id for r in second_page}
    assert {id(i) for i in items.values()} <= old_items  # reused, not made anew
    for r in second_page:
        item = items[r.id]
        assert item.isVisible() and item.region == r and item.tag is None  # no label on page 2
        assert item.scene_points() == [tuple(map(float, p)) for p in r.points]
    spare = [i for i in ws.canvas.scene().items() if isinstance(i, RegionItem) and not i.isVisible()]
    assert len(spare) == 1 and not spare[0].isSelected()

    # Clicking a reused item selects that region; it then paints itself, not the layer.
    target = second_page[2]
    click(ws.canvas, ((target.bounds[0] + target.bounds[2]) / 2, (target.bounds[1] + target.bounds[3]) / 2))
    assert ws.canvas.selected_ids() == [target.id] and ws.list.selected_ids() == [target.id]
    ws.canvas.viewport().repaint()
    assert not items[target.id].layered and not items[target.id].flags() & NO_CONTENTS
    # The spare item (page 1's last region, which page 2 lacks) is not clickable.
    where = first_page[-1]
    click(ws.canvas, ((where.bounds[0] + where.bounds[2]) / 2, (where.bounds[1] + where.bounds[3]) / 2))
    assert ws.canvas.selected_ids() == []


def test_a_drawn_box_read_by_the_machine_carries_its_confidence_until_a_person_types(win, qtbot):
    """Issue 17, defect 5: a box drawn with W that clips the next line was read as garbage with no
    confidence and no low-confidence flag; a re-read keeps its confidence (and the edit log has it),
    a low one is flagged, and typing the text makes it the person's."""
    from app.workspace.states import HUMAN_ADDED, LOW, region_state

    ws = win.workspace
    page_id = ws.page_id
    rid = win.project.store.add_region("ana", page_id, box_to_quad(40, 20, 400, 140), "")
    win.show_page(page_id)
    version = win.project.store.get_region(rid).version
    ws._on_read(page_id, [((rid, version), ("dere", 0.21))], True)  # what the reader gave back
    region = win.project.store.get_region(rid)
    assert (region.text, region.confidence) == ("dere", 0.21)
    assert region_state(region) == LOW and rid in [r.id for r in ws.regions.values() if region_state(r) == LOW]
    assert ws.commit_text(rid, "DATE 2024-01-02")
    region = win.project.store.get_region(rid)
    assert region.confidence is None and region_state(region) == HUMAN_ADDED
    win.project.store.undo("ana", page_id)  # the typing undone: the machine's reading and confidence back
    assert win.project.store.get_region(rid).confidence == 0.21
