"""Splitting and merging regions (core/regions_ops.py), checking a line (an Edit ``checked``), and
the next page of a document: one action each, in the edit log, undone exactly."""

from __future__ import annotations

import pytest

from core import queue
from core.model import HUMAN, Document, Page, PageStatus, PredictedRegion, Prediction, box_to_quad
from core.regions_ops import RegionOpError, hull_quad, merge_regions, plan_split, split_region, text_fractions
from core.store import now
from core.verdicts import DELETED, MISSING, compute_verdicts

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

INVOICE = "Invoice INV/2023/03/0008"
LINE = box_to_quad(100, 50, 500, 80)


def add_doc(store, name="inv.pdf", n_pages=1) -> list[int]:
    doc = Document(name=name, sha256=f"sha-{name}", source=f"/src/{name}", kind="pdf", imported_at=now(),
                   imported_by="test", batch="b1")
    pages = [Page(document_id=0, page_no=i, name=f"{name} p.{i}", image_sha256=f"img-{name}-{i}", width=1000,
                  height=800) for i in range(1, n_pages + 1)]
    doc_id = store.add_document(doc, pages)
    return [p.id for p in store.pages_of(doc_id)]


@pytest.fixture
def page(project):
    """A pre-filled page: the invoice line (low confidence), a date line under it."""
    store = project.store
    page_id = add_doc(store)[0]
    store.add_prediction(Prediction(page_id, "test", "1", {}, "h", (
        PredictedRegion(LINE, INVOICE, 0.41),
        PredictedRegion(box_to_quad(100, 100, 300, 130), "Date 2023-03-01", 0.95),
    )))
    return page_id


def visible(store, page_id):
    """Everything a person sees of a page's regions."""
    return [(r.id, r.points, r.text, r.label, r.confidence, r.origin, r.locked) for r in store.regions(page_id)]


def flat(points) -> list[float]:
    return [c for p in points for c in p]


def width(points) -> float:
    return points[1][0] - points[0][0]


def test_split_at_the_text_cursor_is_one_action(project, page):
    store = project.store
    line = store.regions(page)[0]
    before = visible(store, page)
    with store.action("ana", page, "split region") as a:
        result = split_region(a, line, INVOICE.index("INV"))
    regions = store.regions(page)
    texts = [r.text for r in regions]
    assert texts == ["Invoice", "INV/2023/03/0008", "Date 2023-03-01"]
    label_part, number = regions[0], regions[1]
    assert result.ids == [label_part.id, number.id] and result.current == number.id
    # The pieces tile the line: the cut in the space, proportional to the characters' widths.
    assert label_part.points[0] == LINE[0] and number.points[1] == LINE[1]
    assert label_part.points[1] == number.points[0] and label_part.points[2] == number.points[3]
    f = text_fractions(INVOICE)
    cut = 100 + 400 * (f[7] + f[8]) / 2
    assert label_part.points[1][0] == pytest.approx(cut, abs=0.1)
    assert 0.25 < width(label_part.points) / 400 < 0.4  # "Invoice" is about a third of the line
    assert all(r.origin == HUMAN and r.confidence == 0.41 for r in (label_part, number))
    assert store.get_region(line.id).deleted
    # One action: the delete and both additions, in the edit log.
    edits = [e for e in store.edits(page) if e["region_id"] is not None]
    assert {e["action_id"] for e in edits} == {edits[0]["action_id"]}
    assert sorted(e["field"] for e in edits) == ["deleted", "region", "region"]
    store.undo("ana", page)
    assert visible(store, page) == before
    store.redo("ana", page)
    assert [r.text for r in store.regions(page)] == texts


def test_split_a_selection_makes_three_pieces_and_the_selection_is_current(project, page):
    store = project.store
    line = store.regions(page)[0]
    store.update_region("ana", line.id, label="invoice_number")
    line = store.get_region(line.id)
    before = visible(store, page)
    start = INVOICE.index("2023")
    with store.action("ana", page, "split region") as a:
        result = split_region(a, line, start, start + 4)
    pieces = [store.get_region(i) for i in result.ids]
    assert [p.text for p in pieces] == ["Invoice INV/", "2023", "/03/0008"]
    assert result.current == pieces[1].id
    assert [p.label for p in pieces] == [None, "invoice_number", None]  # the label goes with the selection
    assert pieces[0].points[0] == LINE[0] and pieces[2].points[1] == LINE[1]
    for left, right in zip(pieces, pieces[1:]):
        assert left.points[1] == right.points[0] and left.points[2] == right.points[3]
    store.undo("ana", page)
    assert visible(store, page) == before
    store.redo("ana", page)
    assert [r.text for r in store.regions(page)][:3] == ["Invoice INV/", "2023", "/03/0008"]
    store.undo("ana", page)
    assert visible(store, page) == before


def test_a_slanted_region_splits_along_its_top_and_bottom_edges(project, page):
    store = project.store
    quad = ((100.0, 200.0), (500.0, 240.0), (497.0, 270.0), (97.0, 230.0))
    rid = store.add_region("ana", page, quad, text="AB BA")
    with store.action("ana", page, "split region") as a:
        result = split_region(a, store.get_region(rid), 2)
    left, right = (store.get_region(i) for i in result.ids)
    # "AB" and "BA" are as wide: the cut is half way along both edges.
    assert left.points[1] == pytest.approx((300.0, 220.0)) and left.points[2] == pytest.approx((297.0, 250.0))
    assert right.points == (left.points[1], quad[1], quad[2], left.points[2])
    assert flat(hull_quad([left.points, right.points])) == pytest.approx(flat(quad), abs=0.2)


def test_nothing_to_split_and_locked_regions_are_refused(project, page):
    store = project.store
    line = store.regions(page)[0]
    for start, end in ((0, None), (len(INVOICE), None), (0, len(INVOICE)), (2, 2)):
        with pytest.raises(RegionOpError):  # a cut at either end, all of it selected, a cut in spaces
            plan_split(line if start != 2 else line.__class__(page, LINE, "  Invoice  "), start, end)
    # Only the space selected: a cut there, the part after it meant.
    assert [(p.text, p.current) for p in plan_split(line, 7, 8)] == [("Invoice", False), ("INV/2023/03/0008", True)]
    store.update_region("ana", line.id, locked=True)
    n = len(store.edits(page))
    with pytest.raises(RegionOpError), store.action("ana", page, "split region") as a:
        split_region(a, store.get_region(line.id), 8)
    assert len(store.edits(page)) == n and not store.get_region(line.id).deleted


def test_merge_joins_texts_in_reading_order_under_one_box(project, page):
    store = project.store
    line, date = store.regions(page)
    total = store.add_region("ana", page, box_to_quad(600, 52, 700, 78), text="EUR", label="currency")
    regions = [store.get_region(total), line, date]  # selected in any order
    before = visible(store, page)
    with store.action("ana", page, "merge 3 regions") as a:
        rid = merge_regions(a, regions)
    merged = store.get_region(rid)
    assert [r.id for r in store.regions(page)] == [rid]
    assert merged.text == f"{INVOICE} EUR Date 2023-03-01"  # reading order: the row, then the next
    assert merged.points == box_to_quad(100, 50, 700, 130)
    assert merged.label == "currency"  # the only label among them
    assert merged.confidence == 0.41 and merged.origin == HUMAN
    store.undo("ana", page)
    assert visible(store, page) == before
    store.redo("ana", page)
    assert [r.id for r in store.regions(page)] == [rid]
    with pytest.raises(RegionOpError), store.action("ana", page, "merge") as a:
        merge_regions(a, [merged])


def test_merging_the_pieces_of_a_split_gives_the_line_back(project, page):
    store = project.store
    line = store.regions(page)[0]
    with store.action("ana", page, "split region") as a:
        ids = split_region(a, line, 8).ids
    with store.action("ana", page, "merge 2 regions") as a:
        rid = merge_regions(a, [store.get_region(i) for i in ids])
    merged = store.get_region(rid)
    assert merged.text == INVOICE and flat(merged.points) == pytest.approx(flat(LINE))


def test_a_split_prediction_counts_as_a_redraw(project, page):
    """Moderation: the predicted line deleted, its pieces missing, as when a person deletes it
    and draws the pieces."""
    store = project.store
    line = store.regions(page)[0]
    with store.action("ana", page, "split region") as a:
        ids = split_region(a, line, 8).ids
    pred = store.predictions(page)[-1]
    kinds = {(v.kind, v.region_id) for v in compute_verdicts(pred, store.regions(page, include_deleted=True))}
    assert (DELETED, line.id) in kinds and {(MISSING, i) for i in ids} <= kinds


def test_checking_a_line_is_an_edit_that_keeps_its_confidence_and_undoes(project, page):
    store = project.store
    line, date = store.regions(page)
    assert store.checked_region_ids(page) == set()
    with store.action("ana", page, "check") as a:
        version = a.check_region(line.id, line.version)
    assert version == line.version + 1
    assert store.checked_region_ids(page) == {line.id}
    assert store.get_region(line.id).confidence == 0.41  # QC and calibration still see the machine's
    assert store.get_page(page).status == PageStatus.IN_PROGRESS
    assert [e["field"] for e in store.edits(page) if e["region_id"] == line.id] == ["checked"]
    store.undo("ana", page)
    assert store.checked_region_ids(page) == set()
    store.redo("ana", page)
    assert store.checked_region_ids(page) == {line.id}
    # Typed text is checked text; a machine re-read is not, until checked again.
    store.update_region("ana", date.id, text="Date 2023-03-02")
    assert store.checked_region_ids(page) == {line.id, date.id}
    with store.action("ana", page, "re-recognize") as a:
        a.update_region(line.id, text="Invoice INV/2023/03/0009")
    assert store.checked_region_ids(page) == {date.id}
    # The pieces of a checked line are checked; their texts came from it.
    with store.action("ana", page, "split region") as a:
        ids = split_region(a, store.get_region(date.id), 5, checked=True).ids
    assert store.checked_region_ids(page) >= set(ids)
    with store.action("ana", page, "merge 2 regions") as a:
        rid = merge_regions(a, [store.get_region(i) for i in ids])
    assert rid not in store.checked_region_ids(page)


def test_the_next_page_after_page_one_of_a_document_is_its_page_two(project):
    store = project.store
    first = add_doc(store, "first.png")
    pdf = add_doc(store, "two-pages.pdf", n_pages=2)
    later = add_doc(store, "later.png")
    # Page 1 of the PDF opened from the page list and marked done: its page 2 comes next, not
    # the head of the queue (another document).
    store.set_page_status("ana", pdf[0], PageStatus.DONE)
    assert queue.next_page(store, current=pdf[0]) == pdf[1]
    # In confidence order too.
    store.add_prediction(Prediction(later[0], "test", "1", {}, "h", (PredictedRegion(LINE, "x", 0.1),)))
    store.add_prediction(Prediction(pdf[1], "test", "1", {}, "h", (PredictedRegion(LINE, "x", 0.9),)))
    assert queue.queue(store, order="confidence")[0] == later[0]
    assert queue.next_page(store, current=pdf[0], order="confidence") == pdf[1]
    # The last page of a document: the queue as before.
    store.set_page_status("ana", pdf[1], PageStatus.DONE)
    assert queue.next_page(store, current=pdf[1]) == first[0]
