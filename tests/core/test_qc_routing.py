"""Issue 17, defect 6: QC routes a page on the wrong regions it is expected to still hold among the
lines nobody checked (a project setting), not on "some region below 0.6", which sent every
invoice page to review; Analytics shows the share of finished pages routed, per reason."""

import pytest

from core import analytics, review, sampling
from core.errors import PermissionDenied
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

#: An invoice page as the pre-fill leaves it: thirty sure lines, nine doubtful ones, one bad one.
INVOICE = [0.995] * 30 + [0.9] * 9 + [0.4]


def _invoices(project: Project, n_pages: int):
    store = project.store
    store.add_document(Document("inv.pdf", "sha-inv", "/inv.pdf", "pdf", "2026-11-02T09:00:00+00:00", "ana", "b"),
                       [Page(0, i + 1, f"img{i}", 800, 2000, name=f"inv-{i + 1}") for i in range(n_pages)])
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 45 * i, 400, 45 + 45 * i), f"LINE {i}", c)
                      for i, c in enumerate(INVOICE))
        store.add_prediction(Prediction(page.id, "combined", "v1", {}, "h1", preds, model_version="m1"))
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    return store


def _work_through(store, page_id: int) -> None:
    """What an annotator does on such a page: retype the bad line, accept the doubtful ones as
    they read (Enter), leave the sure ones, mark it done."""
    regions = sorted(store.regions(page_id), key=lambda r: r.confidence)
    store.update_region("ana", regions[0].id, text="TOTAL 12.40")
    with store.action("ana", page_id, "check") as a:
        for r in regions[1:10]:
            a.check_region(r.id, r.version)
    store.set_page_status("ana", page_id, PageStatus.DONE)


def test_checked_invoice_pages_go_to_review_at_the_sample_share_only(project):
    """Every page has a region under 0.6 (the old rule: 100% routed, all "low_confidence"); once
    people checked what was doubtful, only the seeded sample is reviewed."""
    store = _invoices(project, 40)
    assert review.qc_settings(store).share == 0.10 and review.qc_settings(store).expected_wrong_max == 0.5
    for page in store.pages():
        _work_through(store, page.id)
        assert review.expected_wrong(store, page.id) == pytest.approx(30 * 0.005)
    entries = review.review_queue(store, "rita")
    assert all(e.reasons == ("sample",) for e in entries)
    assert 1 <= len(entries) <= 10  # the 10% sample of 40 pages (seeded: 4 here), not 40


def test_a_page_left_as_the_machine_read_it_is_routed_and_the_limit_is_a_setting(project):
    store = _invoices(project, 3)
    store.set_user_role("boss", "boss", Role.ADMIN)
    review.set_qc_settings(store, "boss", share=0.0)
    worked, unread, lenient = store.pages()
    _work_through(store, worked.id)
    store.set_page_status("ana", unread.id, PageStatus.DONE)  # marked done without reading
    assert review.expected_wrong(store, unread.id) == pytest.approx(30 * 0.005 + 9 * 0.1 + 0.6)
    entries = {e.page_id: e for e in review.review_queue(store, "rita")}
    assert set(entries) == {unread.id} and entries[unread.id].reasons == ("low_confidence",)
    # A project that accepts more (the CLI's `proofdesk qc --expected-wrong-max 2`, the Review >
    # QC rules dialog): the same page is no longer routed.
    assert review.set_qc_settings(store, "boss", expected_wrong_max=2.0).expected_wrong_max == 2.0
    store.set_page_status("ana", lenient.id, PageStatus.DONE)
    assert lenient.id not in {e.page_id for e in review.review_queue(store, "rita")}
    with pytest.raises(PermissionDenied):
        review.set_qc_settings(store, "rita", expected_wrong_max=1.0)  # QC rules are an admin's
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError):
            review.set_qc_settings(store, "boss", expected_wrong_max=bad)
    with pytest.raises(ValueError):
        review.set_qc_settings(store, "boss", share=0.2, expected_wrong_max=-1)  # nothing written
    assert review.qc_settings(store).share == 0.0 and review.qc_settings(store).expected_wrong_max == 2.0


def test_a_one_person_project_sets_its_own_qc_rules(project):
    """No admin yet: its user may (as for every project-wide setting, Store.require_admin)."""
    store = project.store
    assert review.set_qc_settings(store, "solo", share=0.25, expected_wrong_max=1.5) == review.QCSettings(
        share=0.25, seed=0, expected_wrong_max=1.5, blind=True)


def test_expected_wrong_counts_only_what_nobody_checked():
    assert sampling.expected_wrong([]) == 0.0
    assert sampling.expected_wrong([0.9, 0.8, None, 1.2, -0.1]) == pytest.approx(0.1 + 0.2 + 0.0 + 1.0)
    assert sampling.route_reasons(3, 0.51, False, share=0.0) == ["low_confidence"]
    assert sampling.route_reasons(3, 0.51, False, share=0.0, expected_wrong_max=0.51) == []


def test_analytics_show_the_share_of_finished_pages_routed_per_reason(project):
    store = _invoices(project, 10)
    store.set_user_role("boss", "boss", Role.ADMIN)
    review.set_qc_settings(store, "boss", share=0.0)
    pages = store.pages()
    for p in pages[:6]:
        _work_through(store, p.id)  # not routed
    for p in pages[6:9]:
        store.set_page_status("ana", p.id, PageStatus.DONE)  # routed: low_confidence
    store.review_page("rita", pages[6].id, "rejected", "line 40 reads TOTAL")
    review.set_qc_settings(store, "boss", share=1.0)
    _work_through(store, pages[6].id)  # redone: sample (share 1 now) and resubmitted
    got = analytics.qc_routing(store)
    assert (got["finished"], got["routed"]) == (9, 3) and got["share"] == pytest.approx(3 / 9)
    assert {k: v["pages"] for k, v in got["reasons"].items()} == {
        "sample": 1, "low_confidence": 2, "disagreement": 0, "resubmitted": 1}
    assert got["reasons"]["low_confidence"]["share"] == pytest.approx(2 / 9)
    assert got["rules"] == {"sample_share": 1.0, "expected_wrong_max": 0.5}
    assert analytics.stats(store, viewer="rita")["qc_routing"] == got
    empty = analytics.qc_routing(store, "2030-01-01", "2030-01-31")
    assert (empty["finished"], empty["routed"], empty["share"]) == (0, 0, None)
