"""Verdicts per prediction, QC sampling, roles and reviews, enforced in core."""

import pytest

from core.errors import PermissionDenied
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from core.roles import hash_password, require, verify_password
from core.sampling import route_reasons, sample_draw
from core.verdicts import CORRECT, DELETED, MISSING, WRONG_BOX, WRONG_TEXT, summarize

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


@pytest.fixture
def page(tmp_path):
    project = Project.create(tmp_path / "p")
    project.store.add_document(Document("a.png", "sha-a", "/a.png", "image", "", "ana", "b"),
                               [Page(0, 1, "img", 500, 500, name="a.png")])
    page = project.store.pages()[0]
    preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", 0.5 + i / 20)
                  for i in range(5))
    project.store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds))
    return project, page


def test_each_verdict_kind(page):
    project, page = page
    store = project.store
    regions = store.regions(page.id)
    assert [v.kind for v in store.page_verdicts(page.id)] == [CORRECT] * 5
    store.update_region("ana", regions[1].id, text="LINE 1!")                     # wrong text, distance 1
    store.update_region("ana", regions[2].id, points=box_to_quad(10, 90, 100, 120))  # wrong box
    store.delete_regions("ana", [regions[3].id])                                 # false positive
    store.add_region("ana", page.id, box_to_quad(300, 300, 400, 330), text="TOTAL")  # missing
    store.update_region("ana", regions[4].id, points=box_to_quad(10, 170, 201, 200))  # tiny nudge: still correct
    verdicts = {(v.pred_index, v.kind): v for v in store.page_verdicts(page.id)}
    assert set(verdicts) == {(0, CORRECT), (1, WRONG_TEXT), (2, WRONG_BOX), (3, DELETED), (None, MISSING), (4, CORRECT)}
    assert verdicts[(1, WRONG_TEXT)].edit_distance == 1
    assert verdicts[(2, WRONG_BOX)].iou < 0.7
    s = summarize(list(verdicts.values()))
    assert s["correct"] == 2 and s["deleted"] == 1 and s["missing"] == 1
    assert s["precision"] == pytest.approx(3 / 5)
    # Undoing the deletion brings the verdict back to correct: verdicts are derived, not stored.
    store.undo("ana", page.id)  # the nudge
    store.undo("ana", page.id)  # the added region
    store.undo("ana", page.id)  # the deletion
    kinds = {v.pred_index: v.kind for v in store.page_verdicts(page.id)}
    assert kinds[3] == CORRECT and None not in kinds


def test_sampling_is_seeded_and_respects_the_share():
    picked = [pid for pid in range(10_000) if "sample" in route_reasons(pid, 0.0, False, share=0.10, seed=7)]
    assert 0.09 <= len(picked) / 10_000 <= 0.11
    again = [pid for pid in range(10_000) if "sample" in route_reasons(pid, 0.0, False, share=0.10, seed=7)]
    assert picked == again
    other = [pid for pid in range(10_000) if "sample" in route_reasons(pid, 0.0, False, share=0.10, seed=8)]
    assert picked != other
    assert all(0 <= sample_draw(i, 1) < 1 for i in range(100))


def test_always_route_rules():
    # Never sampled (share 0), yet routed when more wrong regions are expected among those nobody
    # checked than the project allows (0.5 by default), or for disagreement, with the reason.
    assert route_reasons(1, 0.7, False, share=0.0) == ["low_confidence"]
    assert route_reasons(1, 0.7, False, share=0.0, expected_wrong_max=1.0) == []
    assert route_reasons(1, 0.05, True, share=0.0) == ["disagreement"]
    assert route_reasons(1, 0.5, False, share=0.0) == []
    assert route_reasons(1, None, False, share=0.0) == []


def test_roles_and_passwords():
    require(Role.REVIEWER, "review")
    with pytest.raises(PermissionDenied):
        require(Role.ANNOTATOR, "review")
    with pytest.raises(PermissionDenied):
        require("annotator", "admin")
    h = hash_password("pw")
    assert h.startswith("scrypt$") and "pw" not in h.split("$", 4)[-1]
    assert hash_password("pw") != h  # salted
    assert verify_password("pw", h) and not verify_password("PW", h) and not verify_password("pw", "garbage")


def test_reviews_enforced_in_core(page):
    project, page = page
    store = project.store
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    store.update_region("ana", store.regions(page.id)[0].id, text="FIXED")
    store.set_page_status("ana", page.id, PageStatus.DONE)
    # An annotator may not approve, not even another person's page.
    store.ensure_user("bob", Role.ANNOTATOR)
    with pytest.raises(PermissionDenied):
        store.review_page("bob", page.id, "approved")
    # A reviewer may not approve their own work (ana is made a reviewer too).
    store.set_user_role("ana", "ana", Role.REVIEWER)
    with pytest.raises(PermissionDenied):
        store.review_page("ana", page.id, "approved")
    with pytest.raises(ValueError):
        store.review_page("rita", page.id, "rejected", comment="  ")
    store.review_page("rita", page.id, "rejected", comment="the total is 33.90, not 33.92")
    after = store.get_page(page.id)
    assert after.status == PageStatus.REJECTED and after.assignee == "ana"
    assert store.reviews(page.id)[0].comment.startswith("the total")
    assert store.get_page(page.id).status == PageStatus.REJECTED


def test_only_an_admin_changes_roles(tmp_path):
    store = Project.create(tmp_path / "p").store
    store.set_user_role("boss", "boss", Role.ADMIN)  # first admin of a project
    store.set_user_role("boss", "rita", Role.REVIEWER)
    assert store.get_user("rita").role == Role.REVIEWER
    with pytest.raises(PermissionDenied):
        store.set_user_role("rita", "rita", Role.ADMIN)
    store.set_password("rita", "pw", actor="rita")
    assert store.check_password("rita", "pw") and not store.check_password("rita", "nope")
    assert store.check_password("boss", "anything")  # no password set
