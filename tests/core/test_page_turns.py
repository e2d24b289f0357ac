"""Turning a page by hand (ADR 0008): one undoable action that turns the page and its regions.

The stored image never changes; the page's rotation does, every region moves with it, each move
logged, and undo / redo turn the page back and again. Predictions made before a turn, dataset
manifests and exports stay consistent with the turned regions.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.datasets import select_samples
from core.errors import ConflictError
from core.model import Document, Page, PageStatus, box_to_quad, turn_points
from core.project import Project
from core.store import now
from tests.core.test_store import add_doc, count, first_page, prediction

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def _points(store, rid):
    return [tuple(p) for p in store.get_region(rid).points]


def _edits(store, page_id, field):
    return [e for e in store.edits(page_id) if e["field"] == field]


def test_turn_moves_the_page_and_every_region_and_undo_redo_replay_it(project):
    store = project.store
    page_id = first_page(store, add_doc(store))                     # 1000 x 800
    store.add_prediction(prediction(page_id, [(10, 20, 300, 60), (500, 700, 900, 760)]))
    machine = [r.id for r in store.regions(page_id)]
    human = store.add_region("ana", page_id, box_to_quad(100, 100, 200, 140), "TOTAL")
    gone = store.add_region("ana", page_id, box_to_quad(600, 100, 700, 140), "X")
    store.delete_regions("ana", [gone])
    before = {rid: _points(store, rid) for rid in [*machine, human, gone]}
    status = store.get_page(page_id).status

    assert store.turn_page("ana", page_id, 1) == 90
    page = store.get_page(page_id)
    assert (page.rotation, page.width, page.height, page.image_size) == (90, 800, 1000, (1000, 800))
    # The text's top-left corner of the first line (10, 20) is now at (800 - 20, 10): the corner
    # order is kept, so the region still starts where its text does.
    assert _points(store, machine[0])[0] == (780.0, 10.0)
    for rid, pts in before.items():                                # deleted regions turn too
        assert _points(store, rid) == turn_points(pts, 90, 1000, 800)
    assert store.get_region(gone).deleted
    # One action: the page's rotation and each region's points, logged.
    assert [(e["before"], e["after"]) for e in _edits(store, page_id, "rotation")] == [(0, 90)]
    assert len(_edits(store, page_id, "points")) == len(before)
    # A turn is nobody's text or box: machine regions stay untouched, the status where it was.
    assert store.region_provenance(page_id)[machine[0]][0] is False
    assert page.status == status

    changed = store.undo("ana", page_id)
    assert set(changed) == set(before)
    page = store.get_page(page_id)
    assert (page.rotation, page.width, page.height) == (0, 1000, 800)
    assert {rid: _points(store, rid) for rid in before} == before  # exactly where they were

    store.redo("ana", page_id)
    assert store.get_page(page_id).rotation == 90
    assert _points(store, human) == turn_points(before[human], 90, 1000, 800)
    assert store.get_region(gone).deleted and not store.get_region(human).deleted
    # The earlier actions are still undone in order after the turn is.
    store.undo("ana", page_id)
    store.undo("ana", page_id)                                      # the delete
    assert not store.get_region(gone).deleted


def test_four_quarter_turns_and_both_directions_give_the_points_back_exactly(project):
    store = project.store
    page_id = first_page(store, add_doc(store))
    rid = store.add_region("ana", page_id, ((10.5, 20.25), (300.1, 25.0), (299.9, 60.7), (10.0, 55.3)), "A")
    start = _points(store, rid)
    for _ in range(4):
        store.turn_page("ana", page_id, 1)
    assert _points(store, rid) == start and store.get_page(page_id).rotation == 0
    assert store.turn_page("ana", page_id, -1) == 270                # counter-clockwise
    assert store.get_page(page_id).width == 800
    store.turn_page("ana", page_id, 2)
    assert store.get_page(page_id).rotation == 90
    store.turn_page("ana", page_id, -1)
    assert _points(store, rid) == start
    assert store.turn_page("ana", page_id, 0) == 0 and count(store, "actions") == 1 + 7 + 1  # 0: no edit


def test_a_prediction_made_before_a_turn_still_grades_the_turned_regions(project):
    from core.review import page_verdicts_now

    store = project.store
    page_id = first_page(store, add_doc(store))
    store.add_prediction(prediction(page_id, [(10, 20, 300, 60), (10, 100, 300, 140)]))
    store.turn_page("ana", page_id, 1)
    # Read back at the page's turn now: what the workspace compares regions with.
    (pred,) = store.predictions(page_id)
    assert pred.rotation == 90
    regions = store.regions(page_id)
    assert sorted(tuple(r.points) for r in regions) == sorted(tuple(p.points) for p in pred.regions)
    verdicts, _ = page_verdicts_now(store, page_id)
    assert [v.kind for _, v in verdicts] == ["correct", "correct"]

    # A prediction of the page as shown now lands as it is (an engine read the turned image) ...
    store.add_prediction(prediction(page_id, [(100, 10, 140, 300)], engine="e2"))
    assert store.predictions(page_id)[-1].regions[0].points == box_to_quad(100, 10, 140, 300)
    # ... one made on the stored image (a PDF's text layer: rotation=0) is turned onto the page.
    import dataclasses

    stored = dataclasses.replace(prediction(page_id, [(400, 300, 600, 340)], engine="e3"), rotation=0)
    store.add_prediction(stored)
    e3 = store.predictions(page_id)[-1]
    assert e3.rotation == 90 and list(e3.regions[0].points) == turn_points(box_to_quad(400, 300, 600, 340), 90, 1000, 800)
    e3_region = next(r for r in store.regions(page_id) if r.prediction_id == e3.id)
    assert list(e3_region.points) == list(e3.regions[0].points)


def test_undoing_a_turn_keeps_what_another_window_changed_since(project):
    store = project.store
    page_id = first_page(store, add_doc(store))
    rid = store.add_region("ana", page_id, box_to_quad(10, 20, 300, 60), "A")
    other = Project.open(project.location)
    try:
        store.turn_page("ana", page_id, 1)
        # Bob, in his own window, moves the region and adds one on the turned page.
        moved = box_to_quad(700, 10, 760, 400)
        other.store.update_region("bob", rid, other.store.get_region(rid).version, points=moved)
        added = other.store.add_region("bob", page_id, box_to_quad(100, 500, 140, 900), "B")
        # Ana's undo turns the page back as it is now: Bob's changes turn back with it.
        store.undo("ana", page_id)
        assert store.get_page(page_id).rotation == 0
        assert _points(store, rid) == turn_points(moved, -90, 800, 1000)
        assert _points(store, added) == turn_points(box_to_quad(100, 500, 140, 900), -90, 800, 1000)
        # Bob's own undo of his earlier move would write points of the page turned: refused.
        with pytest.raises(ConflictError, match="ana"):
            other.store.undo("bob", page_id)                       # his add
            other.store.undo("bob", page_id)                       # his move
    finally:
        other.close()


def test_an_earlier_move_is_not_undone_onto_a_page_someone_turned_since(project):
    store = project.store
    page_id = first_page(store, add_doc(store))
    rid = store.add_region("ana", page_id, box_to_quad(10, 20, 300, 60), "A")
    store.update_region("ana", rid, points=box_to_quad(10, 20, 320, 60))
    other = Project.open(project.location)
    try:
        other.store.turn_page("bob", page_id, 1)
        with pytest.raises(ConflictError, match="bob"):
            store.undo("ana", page_id)
        assert _points(store, rid) == turn_points(box_to_quad(10, 20, 320, 60), 90, 1000, 800)
    finally:
        other.close()


def _image_page(project, width=60, height=40) -> tuple[int, np.ndarray]:
    """A page whose stored image is a real PNG with a distinct pixel in each corner."""
    pixels = np.full((height, width, 3), 255, np.uint8)
    pixels[0, 0] = (255, 0, 0)
    pixels[0, -1] = (0, 255, 0)
    pixels[-1, -1] = (0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    sha = project.images.put(buf.getvalue(), "png")
    doc = Document(name="img.png", sha256="doc-" + sha, source="/src/img.png", kind="image", imported_at=now(),
                   imported_by="test", batch="b")
    store = project.store
    store.add_document(doc, [Page(document_id=0, page_no=1, name="img.png", image_sha256=sha, width=width,
                                  height=height)])
    return store.pages()[0].id, pixels


def test_the_image_as_shown_is_the_stored_one_turned_and_made_once(project):
    store = project.store
    page_id, pixels = _image_page(project)
    stored = project.image_path(store.get_page(page_id))
    store.turn_page("ana", page_id, 1)
    page = store.get_page(page_id)
    path = project.image_path(page)
    assert path != stored and stored.is_file()
    shown = np.array(Image.open(path))
    assert shown.shape == (page.height, page.width, 3) == (60, 40, 3)
    assert (shown == np.rot90(pixels, -1)).all()                   # clockwise, pixel for pixel
    assert tuple(shown[0, -1]) == (255, 0, 0)                     # top-left went top-right
    mtime = path.stat().st_mtime_ns
    assert project.image_path(page) == path and path.stat().st_mtime_ns == mtime  # made once
    store.turn_page("ana", page_id, 1)
    assert (np.array(Image.open(project.image_path(store.get_page(page_id)))) == np.rot90(pixels, 2)).all()
    store.turn_page("ana", page_id, 2)
    assert project.image_path(store.get_page(page_id)) == stored


def test_training_samples_stay_on_the_stored_image_and_exports_show_the_page_turned(project):
    from core.formats.exporting import export_pages

    store = project.store
    page_id, _ = _image_page(project)
    quad = ((5.0, 4.0), (30.0, 4.0), (30.0, 12.0), (5.0, 12.0))
    store.add_region("ana", page_id, quad, "TOTAL")
    store.turn_page("ana", page_id, -1)
    store.set_page_status("ana", page_id, PageStatus.DONE)
    # A manifest names the stored image: its points are where the text is on it, corners in the
    # text's order, whatever the page's turn.
    (sample,) = select_samples(store)
    assert sample.points == quad
    _, pages = export_pages(project)
    (out,) = list(pages)
    page = store.get_page(page_id)
    assert (out.width, out.height) == (page.width, page.height) == (40, 60)
    assert Image.open(out.image).size == (40, 60)
    assert [tuple(p) for p in out.lines[0].points] == turn_points(quad, 270, 60, 40)
