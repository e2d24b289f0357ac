"""Issue 17 in the workspace, driven with the keys: split and merge regions, checking a line, the
next page of a document, the list on a new page, the page summary, Z, field tags, the layout.

Every assertion that matters is made on the database, not on the widgets alone.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QApplication

from app.workspace.loader import read_page
from app.workspace.region_list import CONF, ROW_HEIGHT
from app.workspace.states import CHECKED, COLOURS, LABELLED, LOW
from core.importer import import_paths
from core.model import FieldSchema, PageStatus, PredictedRegion, Prediction, box_to_quad
from core.project import Project

from .test_workspace import press, shown_window, type_text

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
INVOICE = "Invoice INV/2023/03/0008"
#: (text drawn and read, confidence) of the invoice page's lines.
LINES = [(INVOICE, 0.45), ("Date 2023-03-01", 0.95), ("Total 1,234.00 EUR", 0.92), ("Thank you", 0.9)]
PAGE_W, PAGE_H = 900, 460


def draw(path, lines, size=(PAGE_W, PAGE_H), step=100, font_size=34, x=40):
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=font_size)
    boxes = []
    for i, text in enumerate(lines):
        y = 20 + i * step
        d.text((x, y), text, fill="black", font=font)
        x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
        boxes.append((x0 - 5, y0 - 5, x1 + 5, y1 + 5))
    img.save(path)
    return img, boxes


def prefill(project, page_id, boxes, lines):
    regions = tuple(PredictedRegion(box_to_quad(*b), t, c) for b, (t, c) in zip(boxes, lines))
    project.store.add_prediction(Prediction(page_id, "test", "1", {}, "h", regions))


@pytest.fixture
def invoice(qtbot, tmp_path, qsettings):
    """The main window on an invoice page (the invoice schema), then a two-page TIFF."""
    project = Project.create(tmp_path / "proj")
    project.store.set_fields(FieldSchema.preset("invoice").fields)
    src = tmp_path / "src"
    src.mkdir()
    _, boxes = draw(src / "a-invoice.png", [t for t, _ in LINES])
    import_paths(project, [src / "a-invoice.png"])
    page1, _ = draw(tmp_path / "p1.png", ["Page one"])
    page2, _ = draw(tmp_path / "p2.png", ["Page two"])
    page1.copy().save(src / "b-two-pages.tif", save_all=True, append_images=[page2.copy()])  # copies: no PNG settings
    import_paths(project, [src / "b-two-pages.tif"])
    prefill(project, project.store.pages()[0].id, boxes, LINES)
    yield from shown_window(qtbot, project, qsettings)


def regions(window):
    return window.project.store.regions(window.workspace.page_id)


def action_labels(window):
    return [r["label"] for r in window.project.store.query("SELECT label FROM actions ORDER BY id")]


def visible(window):
    return [(r.id, r.points, r.text, r.label, r.confidence) for r in regions(window)]


def test_cut_the_invoice_number_out_of_its_line_and_label_it(invoice, qtbot):
    """The issue's goal: with the cursor before the number, Shift+End and Ctrl+K cut it out,
    and a field key labels it."""
    ws = invoice.workspace
    store = invoice.project.store
    before = visible(invoice)
    line = regions(invoice)[0]
    press(qtbot, Qt.Key.Key_Tab)  # into the first line's text
    assert ws.list.editing_id() == line.id
    press(qtbot, Qt.Key.Key_Home)
    press(qtbot, Qt.Key.Key_Right, CTRL)  # the cursor before the number
    n = len(action_labels(invoice))
    press(qtbot, Qt.Key.Key_End, SHIFT)  # keystroke one: select the number
    press(qtbot, Qt.Key.Key_K, CTRL)  # keystroke two: cut it out
    assert action_labels(invoice)[n:] == ["split region"]
    texts = [r.text for r in regions(invoice)]
    assert texts[:2] == ["Invoice", "INV/2023/03/0008"]
    label_part, number = regions(invoice)[:2]
    assert store.get_region(line.id).deleted
    assert number.bounds[2] == pytest.approx(line.bounds[2]) and label_part.bounds[0] == pytest.approx(line.bounds[0])
    assert label_part.bounds[2] == pytest.approx(number.bounds[0])
    # The number is the selected region, in the list and on the canvas, the focus in the list.
    assert ws.list.selected_ids() == [number.id] and ws.canvas.selected_ids() == [number.id]
    assert set(ws.canvas.items_by_id) == {r.id for r in regions(invoice)}
    press(qtbot, Qt.Key.Key_1)  # the schema's first field
    assert store.get_region(number.id).label == "invoice_number"
    assert ws.states[number.id] == LABELLED
    # Two undos: the label, then the split; the page is as it was.
    press(qtbot, Qt.Key.Key_Z, CTRL)
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert visible(invoice) == before
    assert [r.id for r in ws.list.model_.regions] == [r[0] for r in before]
    press(qtbot, Qt.Key.Key_Z, CTRL | SHIFT)
    assert [r.text for r in regions(invoice)][:2] == ["Invoice", "INV/2023/03/0008"]


def test_split_at_the_cursor_and_in_the_middle(invoice, qtbot):
    ws = invoice.workspace
    line = regions(invoice)[0]
    ws.edit_region(line.id)
    editor = QApplication.focusWidget()
    editor.setCursorPosition(INVOICE.index("/2023"))
    press(qtbot, Qt.Key.Key_K, CTRL)
    assert [r.text for r in regions(invoice)][:2] == ["Invoice INV", "/2023/03/0008"]
    second = regions(invoice)[1]
    assert ws.list.selected_ids() == [second.id]  # what followed the cursor
    press(qtbot, Qt.Key.Key_Z, CTRL)
    # A selection in the middle: three pieces, the selection the current one.
    ws.edit_region(line.id)
    editor = QApplication.focusWidget()
    start = INVOICE.index("2023")
    editor.setSelection(start, 4)
    press(qtbot, Qt.Key.Key_K, CTRL)
    assert [r.text for r in regions(invoice)][:3] == ["Invoice INV/", "2023", "/03/0008"]
    assert ws.list.selected_ids() == [regions(invoice)[1].id]
    # Nothing to split: a message, nothing written.
    n = len(action_labels(invoice))
    ws.list.setFocus()
    ws.select([regions(invoice)[1].id])
    press(qtbot, Qt.Key.Key_K, CTRL)
    assert len(action_labels(invoice)) == n and "Split" in invoice.statusBar().currentMessage()


def test_typing_then_split_commits_the_typing_first(invoice, qtbot):
    ws = invoice.workspace
    line = regions(invoice)[0]
    ws.edit_region(line.id)
    type_text(qtbot, " X")  # not committed yet
    editor = QApplication.focusWidget()
    editor.setCursorPosition(len("Invoice "))
    press(qtbot, Qt.Key.Key_K, CTRL)
    assert [r.text for r in regions(invoice)][:2] == ["Invoice", "INV/2023/03/0008 X"]
    assert action_labels(invoice)[-2:] == ["edit text", "split region"]


def test_merge_the_selected_regions_with_one_key(invoice, qtbot):
    ws = invoice.workspace
    first, second, third = regions(invoice)[:3]
    before = visible(invoice)
    old = {r[0] for r in before}
    ws.select([third.id, first.id])
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_M)
    now = regions(invoice)
    merged = [r for r in now if r.id not in old]
    assert len(merged) == 1 and action_labels(invoice)[-1] == "merge 2 regions"
    m = merged[0]
    assert m.text == f"{INVOICE} Total 1,234.00 EUR"  # reading order, whatever the selection order
    x0, y0 = min(first.bounds[0], third.bounds[0]), first.bounds[1]
    x1, y1 = max(first.bounds[2], third.bounds[2]), third.bounds[3]
    assert m.points == box_to_quad(x0, y0, x1, y1)
    assert ws.list.selected_ids() == [m.id]
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert visible(invoice) == before
    # One region selected: nothing to merge.
    ws.select([first.id])
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_M)
    assert visible(invoice) == before and "merge" in invoice.statusBar().currentMessage()


def test_enter_on_a_low_confidence_line_checks_it(invoice, qtbot):
    """Defect 11: accepting a correct line showed nothing. It is checked now: in the edit log,
    shown with a check mark, no longer red or counted low, after a restart too."""
    ws = invoice.workspace
    store = invoice.project.store
    line = regions(invoice)[0]
    assert ws.states[line.id] == LOW
    assert "1 low confidence, 0 checked" in invoice.page_label.text()
    press(qtbot, Qt.Key.Key_J, CTRL)  # the next low-confidence line, its text open
    assert ws.list.editing_id() == line.id
    press(qtbot, Qt.Key.Key_Return)  # read, right: accept
    assert store.checked_region_ids(ws.page_id) == {line.id}
    assert action_labels(invoice)[-1] == "check"
    assert store.get_region(line.id).confidence == 0.45  # the machine's confidence is kept
    assert ws.states[line.id] == CHECKED
    model = ws.list.model_
    assert model.data(model.index(0, CONF)).startswith("\u2713")
    assert model.data(model.index(0, CONF), Qt.ItemDataRole.ForegroundRole) == COLOURS[CHECKED]
    assert "0 low confidence, 1 checked" in invoice.page_label.text()  # the summary follows each edit
    press(qtbot, Qt.Key.Key_J, CTRL)
    assert "No low-confidence region" in invoice.statusBar().currentMessage()
    # A second Enter on it changes nothing more.
    ws.edit_region(line.id)
    press(qtbot, Qt.Key.Key_Return)
    assert action_labels(invoice).count("check") == 1
    # What a restart reads.
    assert read_page(invoice.project, ws.page_id).states[line.id] == CHECKED
    # A corrected line is checked too.
    date = regions(invoice)[1]
    ws.edit_region(date.id)
    QApplication.focusWidget().setText("Date 2023-03-02")
    press(qtbot, Qt.Key.Key_Return)
    assert model.data(model.index(1, CONF)).startswith("\u2713")
    press(qtbot, Qt.Key.Key_Z, CTRL)
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert store.checked_region_ids(ws.page_id) == set() and ws.states[line.id] == LOW


def test_ctrl_enter_on_page_one_of_a_document_opens_its_page_two(invoice, qtbot):
    """Defect 9: page 1 of a two-page file, opened from the page list while another document is
    still to do, went to the other document."""
    ws = invoice.workspace
    pages = invoice.project.store.pages()
    invoice_page, one, two = (p.id for p in pages)
    invoice.show_page(one)
    assert ws.page_id == one
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert invoice.project.store.get_page(one).status == PageStatus.DONE
    assert ws.page_id == two
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert ws.page_id == invoice_page


def test_a_new_page_starts_at_the_top_of_the_list(invoice, qtbot, tmp_path):
    """Defect 9: the list kept the previous page's scroll position."""
    ws = invoice.workspace
    store = invoice.project.store
    page_id = ws.page_id
    for i in range(40):
        store.add_region("ana", page_id, box_to_quad(40, 10 + i * 10, 300, 18 + i * 10), text=f"line {i}")
    invoice.show_page(page_id)
    ws.list.scrollToBottom()
    assert ws.list.verticalScrollBar().value() > 0
    press(qtbot, Qt.Key.Key_PageDown, CTRL)
    assert ws.page_id != page_id
    invoice.show_page(page_id)
    assert ws.list.verticalScrollBar().value() == 0
    assert ws.list.currentIndex().row() == 0


def test_z_fits_a_wide_line_and_never_zooms_out(invoice, qtbot):
    """Defect 9: Z zoomed out on a wide line."""
    ws = invoice.workspace
    canvas = ws.canvas
    line = regions(invoice)[0]
    canvas.fit("page")
    fitted = canvas.zoom()
    ws.select([line.id])
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_Z)
    zoomed = canvas.zoom()
    assert zoomed > fitted
    shown = canvas.mapFromScene(canvas.items_by_id[line.id].sceneBoundingRect()).boundingRect()
    vw = canvas.viewport().width()
    assert vw * 0.8 <= shown.width() <= vw  # the line fills the view's width, whole
    assert canvas.viewport().rect().contains(shown)
    # Zoomed in further by hand, the line still fits: Z only centres it, never zooms out.
    canvas.fit("page")
    canvas.zoom_by(1.25)
    before = canvas.zoom()
    canvas.zoom_to(regions(invoice)[1].id)  # a short line: fills the width, so zooms in
    assert canvas.zoom() >= before


def test_field_tags_sit_above_their_box_inside_the_page(invoice, qtbot):
    """Defect 10: tags covered the text they label and ran off the page's edge."""
    ws = invoice.workspace
    store = invoice.project.store
    page_id = ws.page_id
    top = regions(invoice)[0]  # 15 px from the top: no room above at this zoom
    right = store.add_region("ana", page_id, box_to_quad(PAGE_W - 60, 200, PAGE_W - 2, 230), text="EUR")
    mid = regions(invoice)[1]
    for rid, label in ((top.id, "invoice_number"), (right, "currency"), (mid.id, "date")):
        store.update_region("ana", rid, label=label)
    invoice.show_page(page_id)
    canvas = ws.canvas
    page = canvas.sceneRect()
    for zoom in ("page", "width"):
        canvas.fit(zoom)
        for rid in (top.id, right, mid.id):
            item = canvas.items_by_id[rid]
            tag = item.tag
            assert tag is not None and tag.fill.alpha() < 255
            scale = canvas.zoom()
            rect = QRectF(tag.scenePos(), tag.rect.size() / scale)
            box = item.sceneBoundingRect()
            assert page.adjusted(-0.5, -0.5, 0.5, 0.5).contains(rect), (rid, rect, page)
            assert not rect.intersects(box.adjusted(1, 1, -1, -1)), (rid, rect, box)  # never over the text
        mid_item = canvas.items_by_id[mid.id]
        assert mid_item.tag.scenePos().y() < mid_item.sceneBoundingRect().top()  # above, where there is room


def test_the_page_gets_more_room_and_long_texts_wrap(invoice, qtbot, tmp_path):
    """Defect 14: the page at 20-25 %, long lines elided. The page pane is the larger; a tall
    page opens fitted to its width; a long text makes its row grow and is painted whole."""
    ws = invoice.workspace
    assert ws.canvas.width() > ws.list.width()
    store = invoice.project.store
    page_id = ws.page_id
    long_text = "Services rendered in March 2023 under the framework agreement 2021/44, see the attached list"
    rid = store.add_region("ana", page_id, box_to_quad(40, 400, 880, 440), text=long_text)
    invoice.show_page(page_id)
    row = ws.list.model_.row_of(rid)
    assert ws.list.rowHeight(row) > ROW_HEIGHT
    assert ws.list.rowHeight(1) == ROW_HEIGHT  # short lines keep one line
    # A wider text column: the row needs fewer lines (once the column's resize is handled).
    height = ws.list.rowHeight(row)
    ws.splitter.setSizes([300, 830])
    qtbot.waitUntil(lambda: ws.list.rowHeight(row) < height, timeout=3000)
    # A tall page (A4) opens fitted to its width.
    a4, _ = draw(tmp_path / "a4.png", ["An A4 page"], size=(1240, 1754))
    import_paths(invoice.project, [tmp_path / "a4.png"])
    tall = [p for p in store.pages() if p.height == 1754][0]
    invoice.show_page(tall.id)
    canvas = ws.canvas
    assert canvas.zoom() * 1240 == pytest.approx(canvas.viewport().width() - 4, abs=2)


def test_the_page_line_and_the_page_counts_follow_each_edit(invoice, qtbot):
    """Defect 9: the status bar's page counts still said "prefilled" while the page was in
    progress; the page's own line is read again after every action."""
    ws = invoice.workspace
    assert invoice.statusBar().currentMessage() == "3 page(s): 2 new, 1 prefilled"
    assert "prefilled" in invoice.page_label.text()
    date = regions(invoice)[1]
    assert ws.commit_text(date.id, "Date 2023-03-02")
    assert invoice.statusBar().currentMessage() == "3 page(s): 1 in progress, 2 new"
    assert "in progress" in invoice.page_label.text() and "1 checked" in invoice.page_label.text()
    assert ws.commit_text(date.id, "Date 2023-03-03")  # in progress already: the line still follows
    assert "1 checked" in invoice.page_label.text()
    ws.select([regions(invoice)[0].id])
    ws.list.setFocus()
    press(qtbot, Qt.Key.Key_Delete)
    assert "3 regions, 0 low confidence, 1 checked" in invoice.page_label.text()
