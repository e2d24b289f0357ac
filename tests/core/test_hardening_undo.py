"""Undo and redo never silently overwrite what another window (another person) changed since.

Two Store objects on one project file are two app windows. An undo or redo whose region (or
page status) was changed by someone else after the action is refused with ConflictError, like a
stale edit: nothing is written, the undo stack is left as it was, the other change stays.
"""

from __future__ import annotations

import pytest

from core.errors import ConflictError
from core.model import PageStatus, Role, box_to_quad
from core.project import Project
from tests.core.test_store import add_doc, count, first_page

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


@pytest.fixture
def two_windows(project):
    """(store of window A, store of window B, page id): two connections on one project."""
    page_id = first_page(project.store, add_doc(project.store))
    other = Project.open(project.location)
    yield project.store, other.store, page_id
    other.close()


def _log_size(store) -> tuple[int, int]:
    return count(store, "actions"), count(store, "edits")


def test_undo_is_refused_when_another_window_changed_the_region_since(two_windows):
    a, b, page_id = two_windows
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "TOTL")
    a.update_region("ana", rid, text="TOTAL")                       # ana's action
    b.update_region("bob", rid, b.get_region(rid).version, text="TOTAL 12.50")  # bob, later
    before = _log_size(a)

    with pytest.raises(ConflictError, match="bob"):
        a.undo("ana", page_id)

    assert a.get_region(rid).text == "TOTAL 12.50"                  # bob's text stays
    assert _log_size(a) == before                                   # nothing written
    assert a.can_undo("ana", page_id) and not a.can_redo("ana", page_id)  # the stack is unchanged
    with pytest.raises(ConflictError):                              # and stays refused
        a.undo("ana", page_id)
    assert b.get_region(rid).text == "TOTAL 12.50"                  # what a reload shows


def test_another_field_changed_since_refuses_too_like_a_stale_edit(two_windows):
    a, b, page_id = two_windows
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    a.update_region("ana", rid, text="B")
    b.update_region("bob", rid, b.get_region(rid).version, label="total")
    with pytest.raises(ConflictError, match="bob"):
        a.undo("ana", page_id)
    r = a.get_region(rid)
    assert (r.text, r.label) == ("B", "total")


def test_undo_of_unrelated_regions_still_works(two_windows):
    a, b, page_id = two_windows
    mine = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    theirs = b.add_region("bob", page_id, box_to_quad(10, 50, 100, 70), "X")
    a.update_region("ana", mine, text="B")
    b.update_region("bob", theirs, text="Y")
    assert a.undo("ana", page_id) == [mine]
    assert (a.get_region(mine).text, a.get_region(theirs).text) == ("A", "Y")


def test_own_undone_actions_in_between_are_no_conflict(two_windows):
    a, _b, page_id = two_windows
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    a.update_region("ana", rid, text="B")
    a.update_region("ana", rid, text="C")
    a.undo("ana", page_id)
    a.undo("ana", page_id)
    assert a.get_region(rid).text == "A"
    a.redo("ana", page_id)
    a.redo("ana", page_id)
    assert a.get_region(rid).text == "C"


def test_redo_is_refused_when_another_window_changed_the_region_after_the_undo(two_windows):
    a, b, page_id = two_windows
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    a.update_region("ana", rid, text="B")
    a.undo("ana", page_id)
    assert a.get_region(rid).text == "A"
    b.update_region("bob", rid, b.get_region(rid).version, text="BOB")
    before = _log_size(a)

    with pytest.raises(ConflictError, match="bob"):
        a.redo("ana", page_id)

    assert a.get_region(rid).text == "BOB"
    assert _log_size(a) == before
    assert a.can_redo("ana", page_id)                               # still offered, still refused
    with pytest.raises(ConflictError):
        a.redo("ana", page_id)
    assert b.get_region(rid).text == "BOB"


def test_undo_of_a_deletion_and_of_a_creation_refused_after_another_change(two_windows):
    a, b, page_id = two_windows
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")  # ana's creation
    b.update_region("bob", rid, b.get_region(rid).version, text="BOB")
    with pytest.raises(ConflictError):
        a.undo("ana", page_id)                                      # would hide bob's text
    assert [r.text for r in a.regions(page_id)] == ["BOB"]


def test_undo_of_a_status_change_is_refused_after_another_persons_review(two_windows):
    a, b, page_id = two_windows
    a.ensure_user("rita", Role.REVIEWER)
    rid = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    a.update_region("ana", rid, text="B")
    a.set_page_status("ana", page_id, PageStatus.DONE)
    b.review_page("rita", page_id, "approved")
    before = _log_size(a)

    with pytest.raises(ConflictError, match="rita"):
        a.undo("ana", page_id)                                      # "mark done" after the approval

    assert a.get_page(page_id).status == PageStatus.APPROVED
    assert _log_size(a) == before
    assert a.can_undo("ana", page_id)


def test_redo_of_a_status_change_is_refused_after_another_window_changed_it(two_windows):
    a, b, page_id = two_windows
    a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")
    a.set_page_status("ana", page_id, PageStatus.DONE)
    a.undo("ana", page_id)                                          # back in progress
    b.set_page_status("bob", page_id, PageStatus.DONE)              # bob finished it meanwhile
    b.set_page_status("bob", page_id, PageStatus.IN_PROGRESS)       # ... and reopened it
    with pytest.raises(ConflictError, match="bob"):
        a.redo("ana", page_id)
    assert a.get_page(page_id).status == PageStatus.IN_PROGRESS


def test_a_status_someone_else_left_as_the_replay_would_is_no_conflict(two_windows):
    a, b, page_id = two_windows
    mine = a.add_region("ana", page_id, box_to_quad(10, 10, 100, 30), "A")  # the page goes in progress
    a.undo("ana", page_id)                                          # ... and back to new
    b.add_region("bob", page_id, box_to_quad(10, 50, 100, 70), "X")  # bob's edit: in progress again
    assert a.redo("ana", page_id) == [mine]                         # nothing of bob's overwritten
    assert a.get_page(page_id).status == PageStatus.IN_PROGRESS
