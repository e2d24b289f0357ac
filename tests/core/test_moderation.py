"""Stored verdicts, QC routing, review scores, auto-accept, the Moderate queries and analytics."""

import random

import pytest

from core import analytics, review
from core.errors import PermissionDenied
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from core.queue import queue

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def _project(where, n_pages=1, conf=0.9):
    """A project (``where``: the ``project`` fixture's, or a folder to create it in) of one document
    whose pages carry a prediction of five lines."""
    project = where if isinstance(where, Project) else Project.create(where / "p")
    store = project.store
    store.add_document(Document("a.pdf", "sha-a", "/a.pdf", "pdf", "2026-11-02T09:00:00+00:00", "ana", "b"),
                       [Page(0, i + 1, f"img{i}", 500, 500, name=f"a-{i + 1}") for i in range(n_pages)])
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", conf)
                      for i in range(5))
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds, model_version="m1"))
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    store.set_user_role("boss", "boss", Role.ADMIN)
    return project, store


def _kinds(store, page_id):
    return sorted((r["pred_index"] if r["pred_index"] is not None else -1, r["kind"]) for r in store.query(
        "SELECT pred_index, kind FROM verdicts WHERE page_id = ?", (page_id,)))


def test_every_verdict_kind_is_stored_when_the_page_is_done(project):
    project, store = _project(project)
    page = store.pages()[0]
    regions = store.regions(page.id)
    store.update_region("ana", regions[1].id, text="LINE 1!")
    store.update_region("ana", regions[2].id, points=box_to_quad(10, 90, 100, 120))
    store.delete_regions("ana", [regions[3].id])
    store.add_region("ana", page.id, box_to_quad(300, 300, 400, 330), text="TOTAL")
    assert store.query("SELECT COUNT(*) FROM verdicts")[0][0] == 0  # edits alone write nothing
    store.set_page_status("ana", page.id, PageStatus.DONE)
    assert _kinds(store, page.id) == [(-1, "missing"), (0, "correct"), (1, "wrong_text"), (2, "wrong_box"),
                                      (3, "deleted"), (4, "correct")]
    row = store.query("SELECT edit_distance, engine, model_version, annotator, day FROM verdicts"
                      " WHERE kind = 'wrong_text'")[0]
    assert tuple(row)[:4] == (1, "classical", "m1", "ana") and len(row["day"]) == 10
    state = store.query("SELECT n_wrong FROM verdict_state WHERE page_id = ?", (page.id,))[0]
    assert state[0] == 4


def test_a_prediction_made_after_the_page_was_done_is_graded_on_nothing(project, tmp_path):
    """A new model run over finished pages (for comparison) changes nothing on them, and the
    people's work is still graded against the prediction they worked from."""
    project, store = _project(project)
    page = store.pages()[0]
    store.add_region("ana", page.id, box_to_quad(300, 300, 400, 330), text="TOTAL")
    store.set_page_status("ana", page.id, PageStatus.DONE)
    before = _kinds(store, page.id)
    assert before == [(-1, "missing"), (0, "correct"), (1, "correct"), (2, "correct"), (3, "correct"), (4, "correct")]
    late = PredictedRegion(box_to_quad(300, 300, 400, 330), "TOTAL", 0.99)
    store.add_prediction(Prediction(page.id, "combined", "v2", {}, "h2", (late,), model_version="m2"))
    review.refresh_verdicts(store, page.id)
    assert _kinds(store, page.id) == before
    assert {r["model_version"] for r in store.query("SELECT model_version FROM verdicts")} == {"m1"}
    # A page whose lines people made themselves (imported labels) and that was pre-filled only
    # after it was done has nothing to grade.
    other = Project.create(tmp_path / "q")
    st = other.store
    st.add_document(Document("b.png", "sha-b", "/b.png", "png", "2026-11-02T09:00:00+00:00", "ana", "b"),
                    [Page(0, 1, "imgb", 500, 500, name="b-1")])
    pid = st.pages()[0].id
    st.add_region("ana", pid, box_to_quad(10, 10, 200, 40), text="LINE")
    st.set_page_status("ana", pid, PageStatus.DONE)
    st.add_prediction(Prediction(pid, "combined", "v2", {}, "h2", (late,), model_version="m2"))
    review.refresh_verdicts(st, pid)
    assert _kinds(st, pid) == []


def test_verdicts_go_stale_on_an_edit_and_are_refreshed_lazily(project):
    project, store = _project(project, n_pages=2)
    assert set(review.stale_pages(store)) == {p.id for p in store.pages()}
    assert review.refresh_stale(store) == 2 and review.stale_pages(store) == []
    page = store.pages()[0]
    store.update_region("ana", store.regions(page.id)[0].id, text="X")
    assert review.stale_pages(store) == [page.id]
    review.refresh_stale(store)
    assert (0, "wrong_text") in _kinds(store, page.id)
    store.undo("ana", page.id)
    review.refresh_stale(store)
    assert (0, "correct") in _kinds(store, page.id)


def test_sampling_share_is_seeded_and_respected_over_many_pages(project):
    project, store = _project(project, n_pages=400, conf=0.95)
    review.set_qc_settings(store, "boss", share=0.25, seed=11)
    with store.transaction():
        picked = [p.id for p in store.pages() if review.route_page(store, p.id) == ["sample"]]
    assert 0.19 <= len(picked) / 400 <= 0.31
    with store.transaction():
        again = [p.id for p in store.pages() if review.route_page(store, p.id) == ["sample"]]
    assert again == picked
    review.set_qc_settings(store, "boss", seed=12)
    with store.transaction():
        other = [p.id for p in store.pages() if review.route_page(store, p.id) == ["sample"]]
    assert other != picked
    with pytest.raises(PermissionDenied):
        review.set_qc_settings(store, "rita", share=0.5)  # QC rules are an admin's


def test_low_confidence_and_disagreement_are_always_routed(project):
    project, store = _project(project, n_pages=3, conf=0.95)
    review.set_qc_settings(store, "boss", share=0.0)
    low, disagree, plain = store.pages()
    store.update_region("ana", store.regions(low.id)[0].id, text="LINE 0")  # touch: page in progress
    store.query("UPDATE regions SET confidence = 0.2 WHERE page_id = ?", (low.id,))
    other = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LlNE {i}", 0.95)
                  for i in range(5))
    store.add_prediction(Prediction(disagree.id, "neural", "n1", {}, "h2", other))
    for p in (low, disagree, plain):
        store.set_page_status("ana", p.id, PageStatus.DONE)
    entries = {e.page_id: e for e in review.review_queue(store, "rita")}
    assert entries[low.id].reasons == ("low_confidence",)
    assert entries[disagree.id].reasons == ("disagreement",)
    assert plain.id not in entries
    assert entries[low.id].annotator is None and entries[low.id].blind  # blind for a reviewer
    assert review.review_queue(store, "boss")[0].annotator == "ana"  # not for an admin


def test_role_rules_are_enforced_in_core(project):
    project, store = _project(project, n_pages=2)
    page, hers = store.pages()
    store.set_page_status("ana", page.id, PageStatus.DONE)
    with pytest.raises(PermissionDenied):
        store.review_page("ana", page.id, "approved")  # an annotator cannot approve
    with pytest.raises(PermissionDenied):
        review.moderate_counts(store, viewer="ana")  # nor open the Moderate screen
    with pytest.raises(PermissionDenied):
        analytics.stats(store, viewer="ana")  # nor Analytics
    with pytest.raises(PermissionDenied):
        review.mark_region(store, "ana", store.regions(page.id)[0].id, "wrong")
    with pytest.raises(PermissionDenied):
        review.set_qc_settings(store, "ana", share=0.5)
    with pytest.raises(PermissionDenied):
        review.moderate_pages(store, review.ModerateFilter(annotator="ana"), viewer="rita")  # blind
    store.update_region("rita", store.regions(hers.id)[0].id, text="LINE 0.")
    store.set_page_status("rita", hers.id, PageStatus.DONE)  # a reviewer annotating a page
    with pytest.raises(PermissionDenied):
        store.review_page("rita", hers.id, "approved")  # nobody approves their own work
    store.review_page("boss", hers.id, "approved")
    store.update_region("rita", store.regions(page.id)[0].id, text="LINE 0!")  # moderating: fix, approve
    store.review_page("rita", page.id, "approved")


def test_reject_sends_the_page_back_with_the_comment_and_scores_the_annotator(project):
    project, store = _project(project)
    page = store.pages()[0]
    regions = store.regions(page.id)
    store.update_region("ana", regions[0].id, text="TOTAL 33.92")
    store.set_page_status("ana", page.id, PageStatus.DONE)
    # The reviewer corrects the annotator's text (2 characters) and deletes one region.
    store.update_region("rita", regions[0].id, text="TOTAL 33.90")
    store.delete_regions("rita", [regions[4].id])
    store.review_page("rita", page.id, "rejected", comment="the total is 33.90")
    assert page.id in queue(store)
    assert review.last_rejection(store, page.id).comment == "the total is 33.90"
    score = store.query("SELECT * FROM annotator_scores")[0]
    assert score["annotator"] == "ana" and score["reviewer"] == "rita"
    assert score["edit_distance"] == 1 + len("LINE 4") and score["changed"] == 2
    assert score["ref_chars"] == len("TOTAL 33.90") + sum(len(f"LINE {i}") for i in (1, 2, 3))
    assert score["iou_n"] == 4 and score["iou_sum"] == pytest.approx(4.0)
    # Done again: back in the review queue as a resubmission.
    store.set_page_status("ana", page.id, PageStatus.DONE)
    assert "resubmitted" in review.review_queue(store)[0].reasons
    people = {s.annotator: s for s in analytics.annotator_stats(store)}
    assert people["ana"].rejection_rate == 1.0
    assert people["ana"].cer_vs_reviewers == pytest.approx(score["edit_distance"] / score["ref_chars"])


def test_choose_threshold_on_synthetic_verdicts():
    rng = random.Random(3)
    # Confidence c is correct with probability c: high confidences are nearly always right.
    data = [(c, rng.random() < c ** 8) for c in (rng.random() for _ in range(20_000))]
    a = review.choose_threshold(data, target_precision=0.8)
    assert a.precision_low >= 0.8 and a.precision > a.precision_low and 0 < a.share_saved < 1
    above = [ok for c, ok in data if c >= a.threshold]
    assert sum(above) / len(above) == pytest.approx(a.precision)
    assert review.precision_lower_bound(sum(above), len(above)) == pytest.approx(a.precision_low)
    assert len(above) / len(data) == pytest.approx(a.share_saved)
    # One step lower would miss the target (it is the lowest threshold that reaches it)...
    lower = max(c for c, _ in data if c < a.threshold)
    below = [ok for c, ok in data if c >= lower]
    assert review.precision_lower_bound(sum(below), len(below)) < 0.8
    # ...and a stricter target gives a higher threshold and saves less.
    strict = review.choose_threshold(data, target_precision=0.99)  # out of reach on 20,000 regions
    assert strict.threshold is None and strict.share_saved == 0.0
    strict = review.choose_threshold(data, target_precision=0.9)
    assert strict.threshold > a.threshold and strict.share_saved < a.share_saved
    # The bound, not the measure, must reach the target: 26 right of 26 is not proof of 99.5%.
    assert review.choose_threshold([(0.99, True)] * 26).threshold is None
    assert review.choose_threshold([(0.99, True)] * 540).threshold == 0.99
    assert round(review.precision_lower_bound(26, 26), 3) == 0.906
    assert review.precision_lower_bound(0, 0) == 0.0
    assert review.choose_threshold([(0.9, False)] * 10).threshold is None
    assert review.choose_threshold([]).share_saved == 0.0
    # Equal confidences are never split.
    tie = review.choose_threshold([(0.9, True)] * 99 + [(0.9, False)] + [(0.5, True)], 0.999)
    assert tie.threshold is None


def test_moderate_counts_filter_by_date_and_more(project):
    project, store = _project(project, n_pages=6)
    pages = store.pages()
    for i, p in enumerate(pages[:4]):
        if i == 0:
            store.update_region("ana", store.regions(p.id)[0].id, text="wrong")
        store.set_page_status("ana", p.id, PageStatus.DONE)
        store.query("UPDATE pages SET done_at = ? WHERE id = ?", (f"2026-11-0{i + 1}T10:00:00+00:00", p.id))
    store.review_page("rita", pages[0].id, "approved")
    store.review_page("rita", pages[1].id, "rejected", comment="no")
    store.conn.execute("UPDATE pages SET done_at = '2026-11-01T10:00:00+00:00' WHERE id = ?", (pages[0].id,))
    store.conn.execute("UPDATE pages SET done_at = '2026-11-02T10:00:00+00:00' WHERE id = ?", (pages[1].id,))
    F = review.ModerateFilter
    assert review.moderate_counts(store) == {"total": 6, "moderated": 2, "not_moderated": 4,
                                             "in_queue": review.moderate_counts(store)["in_queue"]}
    c = review.moderate_counts(store, F(date_from="2026-11-02", date_to="2026-11-03"), viewer="rita")
    assert (c["total"], c["moderated"], c["not_moderated"]) == (2, 1, 1)
    c = review.moderate_counts(store, F(date_from="2026-11-01", date_to="2026-11-01"))
    assert (c["total"], c["moderated"]) == (1, 1)
    assert review.moderate_counts(store, F(date_field="imported", date_from="2026-11-02",
                                           date_to="2026-11-02"))["total"] == 6
    assert review.moderate_counts(store, F(date_field="imported", date_to="2026-11-01"))["total"] == 0
    assert review.moderate_counts(store, F(status="done"))["total"] == 2
    assert review.moderate_counts(store, F(annotator="ana"))["total"] == 4
    assert review.moderate_counts(store, F(engine="classical", model_version="m1"))["total"] == 6
    assert review.moderate_counts(store, F(engine="neural"))["total"] == 0
    assert review.moderate_counts(store, F(confidence_below=0.95))["total"] == 6
    assert review.moderate_counts(store, F(confidence_below=0.5))["total"] == 0
    assert review.moderate_counts(store, F(has_wrong=True))["total"] == 1
    rows = review.moderate_pages(store, F(date_from="2026-11-02", date_to="2026-11-03"), viewer="boss")
    assert [r.page_id for r in rows] == sorted(r.page_id for r in rows) or len(rows) == 2
    assert {r.annotator for r in rows} == {"ana"}
    # A model version is the prediction's model_version, else (none) its engine_version.
    assert review.moderate_counts(store, F(model_version="v1"))["total"] == 0
    store.add_prediction(Prediction(pages[5].id, "tesseract", "5.3", {}, "h9", (), model_version=None))
    assert review.moderate_counts(store, F(model_version="5.3"))["total"] == 1
    assert [r.page_id for r in review.moderate_pages(store, F(engine="tesseract", model_version="5.3"))] == [pages[5].id]


def test_analytics_from_edit_timestamps_and_verdicts(project):
    project, store = _project(project, n_pages=2)
    for p in store.pages():
        store.update_region("ana", store.regions(p.id)[0].id, text="changed")
        store.set_page_status("ana", p.id, PageStatus.DONE)
    # Spread ana's edits over a known time: 4 edits, 60 s apart, then a long break (capped).
    ids = [r[0] for r in store.query("SELECT id FROM edits WHERE user = 'ana' ORDER BY id")]
    stamps = ["2026-11-05T10:00:00+00:00", "2026-11-05T10:01:00+00:00", "2026-11-05T10:02:00+00:00",
              "2026-11-05T13:00:00+00:00"]
    with store.transaction() as c:
        # Test set-up only: rewrite the clock (PostgreSQL names the trigger's table).
        c.execute("DROP TRIGGER edits_append_only" + (" ON edits" if project.server else ""))
        for i, eid in enumerate(ids):
            c.execute("UPDATE edits SET ts = ? WHERE id = ?", (stamps[min(i, 3)], eid))
        c.execute("UPDATE pages SET done_at = '2026-11-05T13:00:00+00:00'")
        for p in store.pages():
            review.refresh_verdicts(store, p.id)  # their day is the day the page was done
    s = {a.annotator: a for a in analytics.annotator_stats(store, "2026-11-05", "2026-11-05")}["ana"]
    assert s.active_hours == pytest.approx((60 + 60 + analytics.IDLE_GAP_S) / 3600)
    assert s.pages_done == 2 and s.pages_per_hour == pytest.approx(2 / s.active_hours)
    assert s.regions_touched == 2 and s.edit_rate == pytest.approx(2 / 10)
    assert analytics.annotator_stats(store, "2026-12-01", "2026-12-31") == []
    engines, days = analytics.engine_report(store)
    assert [(e.engine, e.version, e.regions) for e in engines] == [("classical", "m1", 10)]
    assert engines[0].precision == 1.0 and engines[0].cer > 0 and days[0].engine == "classical"
    out = analytics.stats(store, viewer="rita")
    assert out["engines"][0]["engine"] == "classical" and "auto_accept" in out


def test_flagging_over_and_under_performers():
    people = [analytics.AnnotatorStats(n, regions_per_hour=r, cer_vs_reviewers=c)
              for n, r, c in [("a", 100, 0.01), ("b", 100, 0.02), ("c", 100, 0.02), ("d", 20, 0.2)]]
    analytics.flag_performers(people)
    assert {p.annotator: p.flag for p in people}["d"] == "under"
    assert {p.annotator: p.flag for p in people}["b"] == ""


def _totals(store):
    daily = sorted(tuple(r) for r in store.query(
        "SELECT day, engine, version, annotator, kind, SUM(n), SUM(edit_distance), SUM(ref_chars)"
        " FROM verdict_daily GROUP BY 1, 2, 3, 4, 5 HAVING SUM(n) != 0"))
    hist = sorted(tuple(r) for r in store.query(
        "SELECT engine, version, bucket, n, correct FROM confidence_hist WHERE n != 0"))
    return daily, hist


def test_running_totals_match_the_stored_verdicts(project):
    project, store = _project(project, n_pages=4)
    pages = store.pages()
    other = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", 0.97)
                  for i in range(3))
    store.add_prediction(Prediction(pages[3].id, "neural", "n1", {}, "h2", other, model_version="m2"))
    for i, p in enumerate(pages):
        regions = store.regions(p.id)
        store.update_region("ana", regions[0].id, text=f"fix {i}")
        if i % 2:
            store.delete_regions("ana", [regions[1].id])
        store.set_page_status("ana", p.id, PageStatus.DONE)
    store.review_page("rita", pages[0].id, "approved")
    store.update_region("rita", store.regions(pages[1].id)[2].id, text="after done")  # stale until refreshed
    review.mark_region(store, "rita", store.regions(pages[2].id)[3].id, "wrong")
    store.review_page("rita", pages[3].id, "rejected", comment="again")  # leaves the histogram
    review.refresh_stale(store)
    live = _totals(store)
    review.rebuild_totals(store)
    assert _totals(store) == live
    # The histogram gives the same threshold as the region-by-region data.
    by_bucket = review.choose_threshold_counts(review.auto_accept_counts(store), 0.8)
    exact = review.choose_threshold(review.auto_accept_data(store), 0.8)
    assert (by_bucket.accepted, by_bucket.total) == (exact.accepted, exact.total)
    engines, _ = analytics.engine_report(store)
    assert {(e.engine, e.version, e.pages) for e in engines} == {("classical", "m1", 3)}  # page 4: rejected, not counted
