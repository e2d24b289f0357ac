"""The work queue: which page comes next, in import order or lowest confidence first."""

from __future__ import annotations

import pytest

from core import queue
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, box_to_quad

from ..conftest import image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


@pytest.fixture
def four_pages(project, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"p{i}.png").write_bytes(image_bytes(i))
    import_paths(project, [src])
    return [p.id for p in project.store.pages()]


def prefill(project, page_id, *confidences):
    regions = tuple(PredictedRegion(box_to_quad(0, 10 * i, 5, 10 * i + 5), "x", c) for i, c in enumerate(confidences))
    project.store.add_prediction(Prediction(page_id, "test", "1", {}, "h", regions))


def test_import_order_and_done_pages_leave_the_queue(project, four_pages):
    a, b, c, d = four_pages
    assert queue.queue(project.store) == [a, b, c, d]
    project.store.set_page_status("ana", b, PageStatus.DONE)
    assert queue.queue(project.store) == [a, c, d]
    assert queue.next_page(project.store, current=b) == a  # b was just done: the head
    assert queue.next_page(project.store, current=c) == d  # c skipped: the one after it
    assert queue.next_page(project.store, current=d) == a  # wraps around
    assert queue.next_page(project.store, current=a, exclude=[c]) == d


def test_lowest_confidence_first_then_pages_without_confidence(project, four_pages):
    a, b, c, d = four_pages
    prefill(project, a, 0.9, 0.9)
    prefill(project, b, 0.2, 0.6)  # mean 0.4
    prefill(project, c, 0.7)
    queue.set_queue_order(project.store, "confidence")
    assert queue.queue_order(project.store) == "confidence"
    assert queue.queue(project.store) == [b, c, a, d]  # d has no pre-fill: last
    assert queue.queue(project.store, order="import") == [a, b, c, d]
    with pytest.raises(ValueError):
        queue.set_queue_order(project.store, "random")


def test_empty_queue(project, four_pages):
    for page_id in four_pages:
        project.store.set_page_status("ana", page_id, PageStatus.DONE)
    assert queue.queue(project.store) == []
    assert queue.next_page(project.store, current=four_pages[0]) is None
