"""Field verdicts (issue 15): each predicted key field of a page against its final value, stored
when the page is done (recomputed when it is done again), counted per field, model version and
day in running totals, and the per-field auto-accept threshold (the Wilson rule of the regions)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from core import analytics, review
from core.errors import PermissionDenied
from core.fields import FieldValue
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.store import now
from core.verdicts import compute_field_verdicts
from tests.core.test_team_roles import team_server  # noqa: F401  (a fixture)

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

LINES = [("ACME Sdn Bhd", 0.95), ("Date 05.03.2018", 0.9), ("Total 12,50", 0.93), ("No. 17", 0.8)]


def _fields(conf=0.9):
    return (
        FieldValue("company", "ACME Sdn Bhd", "ACME Sdn Bhd", None, conf, (0,)),
        FieldValue("date", "05.03.2018", "2018-03-05", None, conf, (1,), (5, 15)),
        FieldValue("total", "12,50", "12.50", None, conf, (2,), (6, 11)),
        FieldValue("invoice_number", "17", "17", None, conf, (3,), (4, 6)),
        FieldValue("address", absent=True, confidence=conf),
        FieldValue("due_date", absent=True, confidence=conf),
    )


def _page(store, name: str, fields=None, model="m1", day="2026-11-02") -> int:
    store.add_document(Document(name, f"sha-{name}", f"/{name}", "image", f"{day}T09:00:00+00:00", "ana", "b"),
                       [Page(0, 1, f"img-{name}", 500, 500, name=name)])
    page_id = max(p.id for p in store.pages())
    regions = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 300, 40 + 40 * i), t, c)
                    for i, (t, c) in enumerate(LINES))
    store.add_prediction(Prediction(page_id, "neural", "v1", {}, f"h-{name}", regions, model_version=model,
                                    fields=_fields() if fields is None else fields))
    return page_id


def _setup(project):
    store = project.store
    store.set_fields(["company", "date", "address", "total"])
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    return store


def _done(store, page_id, day="2026-11-02", user="ana"):
    store.set_page_status(user, page_id, PageStatus.DONE)
    # Done on that day (the stored per-day figures follow the page's day: sync as a day change).
    store.query("UPDATE pages SET done_at = ? WHERE id = ?", (f"{day}T09:00:00+00:00", page_id))
    review.refresh_verdicts(store, page_id)


def _kinds(store, page_id):
    return {r["name"]: r["kind"] for r in review.field_verdicts(store, page_id)}


def test_each_field_verdict_kind_from_a_prediction_and_final_values(project):
    store = _setup(project)
    page_id = _page(store, "a.png")
    store.set_page_field(page_id, FieldValue("total", "13.50"), "ana")  # wrong
    store.set_field_absent(page_id, "invoice_number", "ana")  # not on the page
    store.set_page_field(page_id, FieldValue("address", "1 Main St"), "ana")  # predicted absent: missing
    store.set_page_field(page_id, FieldValue("tax_total", "1,00"), "ana")  # not predicted at all: missing
    store.set_page_field(page_id, FieldValue("date", "2018-03-05"), "ana")  # same date, typed as ISO: correct
    assert review.field_verdicts(store, page_id) == []  # edits alone write nothing
    _done(store, page_id)
    assert _kinds(store, page_id) == {"company": "correct", "date": "correct", "total": "wrong",
                                      "invoice_number": "not_on_page", "address": "missing",
                                      "due_date": "correct_absent", "tax_total": "missing"}
    rows = {r["name"]: r for r in review.field_verdicts(store, page_id)}
    assert (rows["total"]["predicted_text"], rows["total"]["final_text"], rows["total"]["ok"]) == ("12,50", "13.50", 0)
    assert rows["due_date"]["ok"] == 1 and rows["company"]["ok"] == 1  # correctly absent is right
    assert rows["tax_total"]["predicted"] == 0 and rows["address"]["predicted"] == 1
    assert (rows["company"]["engine"], rows["company"]["model_version"], rows["company"]["annotator"]) == (
        "neural", "m1", "ana")
    state = store.query("SELECT n_wrong_fields, fields_in_totals FROM verdict_state WHERE page_id = ?", (page_id,))[0]
    assert (state[0], state[1]) == (4, 1)


def test_compute_field_verdicts_on_values():
    F = FieldValue
    vs = compute_field_verdicts(
        [F("company", "ACME  sdn bhd", confidence=0.5), F("date", absent=True), F("total", "12,50", "12.50"),
         F("seller", "X")],
        [F("company", "acme sdn bhd"), F("date", absent=True), F("total", "12.5 ", "12.50")])
    assert [(v.name, v.kind) for v in vs] == [("company", "correct"), ("date", "correct_absent"),
                                              ("total", "correct"), ("seller", "not_on_page")]
    assert vs[0].confidence == 0.5 and all(v.predicted for v in vs)
    # Nothing predicted and nothing there: no verdict.
    assert compute_field_verdicts([], [F("date", absent=True)]) == []


def test_verdicts_are_recomputed_when_the_page_is_done_again(project):
    store = _setup(project)
    page_id = _page(store, "a.png")
    _done(store, page_id)
    assert set(_kinds(store, page_id).values()) == {"correct", "correct_absent"}
    before = analytics.field_report(store)["fields"]
    assert {f.name: (f.predicted, f.right) for f in before}["total"] == (1, 1)
    # Reopened, corrected, done again: the verdict and the totals follow (the old rows taken out).
    store.set_page_status("ana", page_id, PageStatus.IN_PROGRESS)
    store.set_page_field(page_id, FieldValue("total", "99,00"), "ana")
    _done(store, page_id)
    assert _kinds(store, page_id)["total"] == "wrong"
    after = {f.name: f for f in analytics.field_report(store)["fields"]}
    assert (after["total"].predicted, after["total"].right, after["total"].wrong, after["total"].correct) == (1, 0, 1, 0)
    assert store.query("SELECT COUNT(*) FROM field_verdicts WHERE page_id = ?", (page_id,))[0][0] == 6
    # A page not done (back in progress) leaves the totals.
    store.set_page_status("ana", page_id, PageStatus.IN_PROGRESS)
    review.refresh_verdicts(store, page_id)
    assert analytics.field_report(store)["fields"] == []


def test_a_reviewer_marks_a_field_wrong_and_the_moderate_filter_finds_the_pages(project):
    store = _setup(project)
    good, bad = _page(store, "good.png"), _page(store, "bad.png")
    store.set_page_field(bad, FieldValue("company", "ACME Ltd"), "ana")
    _done(store, good)
    _done(store, bad)
    F = review.ModerateFilter
    assert [p.page_id for p in review.moderate_pages(store, F(has_wrong_fields=True))] == [bad]
    assert [p.page_id for p in review.moderate_pages(store, F(has_wrong_fields=False))] == [good]
    assert review.moderate_counts(store, F(has_wrong_fields=True))["total"] == 1
    assert {p.page_id: p.n_wrong_fields for p in review.moderate_pages(store)} == {good: 0, bad: 1}
    with pytest.raises(PermissionDenied):
        review.mark_field(store, "ana", good, "total", "wrong")  # marking is for reviewers
    review.mark_field(store, "rita", good, "total", "wrong")
    assert {p.page_id for p in review.moderate_pages(store, F(has_wrong_fields=True))} == {good, bad}
    assert {f.name: f.right for f in analytics.field_report(store)["fields"]}["total"] == 1  # of 2
    review.mark_field(store, "rita", good, "total", None)
    assert [p.page_id for p in review.moderate_pages(store, F(has_wrong_fields=True))] == [bad]


def test_running_totals_per_field_model_version_and_day(project):
    store = _setup(project)
    p1 = _page(store, "p1.png", model="m1")
    p2 = _page(store, "p2.png", model="m2")
    p3 = _page(store, "p3.png", model="m2")
    store.set_page_field(p2, FieldValue("total", "1,00"), "ana")
    store.set_page_field(p3, FieldValue("date", "06.03.2018"), "ana")
    _done(store, p1, "2026-11-02")
    _done(store, p2, "2026-11-02")
    _done(store, p3, "2026-11-03")
    # The totals are what the verdicts add up to, without reading them (a rebuild gives the same).
    before = sorted(tuple(r) for r in store.query("SELECT * FROM field_verdict_daily WHERE n != 0"))
    with store.transaction():
        review.rebuild_totals(store)
    assert sorted(tuple(r) for r in store.query("SELECT * FROM field_verdict_daily WHERE n != 0")) == before
    rep = analytics.field_report(store)
    total = {f.name: f for f in rep["fields"]}
    assert [f.name for f in rep["fields"]][:4] == ["company", "date", "address", "total"]  # schema order
    assert (total["total"].predicted, total["total"].right, total["total"].accuracy) == (3, 2, 2 / 3)
    assert (total["date"].predicted, total["date"].right) == (3, 2)
    assert total["address"].correct_absent == 3 and total["address"].accuracy == 1.0
    models = {(f.version, f.name): f for f in rep["models"]}
    assert (models[("m1", "total")].right, models[("m2", "total")].predicted, models[("m2", "total")].right) == (
        1, 2, 1)
    daily = {(f.day, f.version, f.name): f for f in rep["days"]}  # per day, model version and field
    assert (daily[("2026-11-02", "m1", "total")].right, daily[("2026-11-02", "m2", "total")].right) == (1, 0)
    assert (daily[("2026-11-03", "m2", "date")].predicted, daily[("2026-11-03", "m2", "date")].right) == (1, 0)
    assert {d for d, _, _ in daily} == {"2026-11-02", "2026-11-03"}
    one_day = {f.name: f for f in analytics.field_report(store, "2026-11-03", "2026-11-03")["fields"]}
    assert one_day["total"].predicted == 1 and one_day["date"].wrong == 1
    out = analytics.stats(store)
    assert {f["name"]: f["accuracy"] for f in out["fields"]}["total"] == pytest.approx(2 / 3)
    assert {f["name"] for f in out["field_auto_accept"]} >= {"company", "total"}


def test_per_field_auto_accept_uses_the_wilson_rule(project):
    """A field right 600 times at confidence 0.97 and wrong at 0.5 gets a threshold between; a
    field with 30 right predictions has too little evidence for 99.5% and gets none."""
    store = _setup(project)
    hist = ([("total", 970, 600, 600), ("total", 500, 100, 0)] + [("company", 990, 30, 30)])
    with store.transaction() as c:
        for name, bucket, n, k in hist:
            c.execute("INSERT INTO field_confidence_hist (name, engine, version, bucket, n, correct)"
                      " VALUES (?,?,?,?,?,?)", (name, "neural", "m1", bucket, n, k))
    acc = {a.name: a for a in analytics.field_auto_accept(store, 0.995)}
    assert acc["total"].threshold == pytest.approx(0.97) and acc["total"].accepted == 600
    assert acc["total"].precision == 1.0 and acc["total"].precision_low >= 0.995
    assert acc["total"].share_saved == pytest.approx(600 / 700)
    assert acc["company"].threshold is None and acc["company"].total == 30
    # A lower target lets the 30 through; a model version with no data gives nothing.
    assert {a.name: a.threshold for a in analytics.field_auto_accept(store, 0.9)}["company"] == pytest.approx(0.99)
    assert analytics.field_auto_accept(store, 0.995, model_version="m9") == []
    th = {a.name: a.threshold for a in analytics.field_auto_accept(store, 0.995)}
    assert analytics.fields_auto_acceptable([FieldValue("total", "1", confidence=0.98)], th)
    assert not analytics.fields_auto_acceptable([FieldValue("total", "1", confidence=0.98),
                                                 FieldValue("company", "X", confidence=0.999)], th)


def test_per_field_auto_accept_from_done_pages(project):
    """The histogram the threshold reads is filled by pages done (and emptied when undone)."""
    store = _setup(project)
    ids = [_page(store, f"p{i}.png", fields=(FieldValue("total", "12,50", "12.50", None, 0.97, (2,)),))
           for i in range(3)]
    for pid in ids:
        _done(store, pid)
    rows = store.field_confidence_buckets()
    assert rows == [("total", 970, 3, 3)]
    acc = analytics.field_auto_accept(store, 0.5)
    assert acc[0].threshold == pytest.approx(0.97) and acc[0].total == 3
    assert analytics.field_auto_accept(store, 0.995)[0].threshold is None  # 3 are too few


def test_a_page_without_predicted_fields_has_no_field_verdicts(project):
    store = _setup(project)
    page_id = _page(store, "plain.png", fields=())
    store.set_page_field(page_id, FieldValue("total", "5,00"), "ana")
    _done(store, page_id)
    assert review.field_verdicts(store, page_id) == []
    assert store.query("SELECT n_wrong_fields FROM verdict_state WHERE page_id = ?", (page_id,))[0][0] == 0


def test_a_prediction_made_after_the_page_was_done_grades_no_fields(project):
    store = _setup(project)
    page_id = _page(store, "a.png")
    store.set_page_field(page_id, FieldValue("total", "13,50"), "ana")
    _done(store, page_id)
    late = (FieldValue("total", "13,50", "13.50", None, 0.99, (2,)),)
    regions = tuple(PredictedRegion(box_to_quad(10, 10, 300, 40), "x", 0.9) for _ in range(1))
    store.add_prediction(Prediction(page_id, "neural", "v2", {}, "late", regions, model_version="m2", fields=late))
    review.refresh_verdicts(store, page_id)
    assert _kinds(store, page_id)["total"] == "wrong"
    assert {r["model_version"] for r in review.field_verdicts(store, page_id)} == {"m1"}


def old_project_with_a_done_page(root, stop_before: str, statements) -> None:
    """A project of the schema before migration ``stop_before`` with one page done by ana, its
    rows from ``statements`` ((sql, params) each), and its region verdicts stored (a verdict_state)."""
    import sqlite3

    from core.project import DB_NAME
    from tests.core.test_schema import applied, make_old_project

    make_old_project(root, stop_before=stop_before)
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("INSERT INTO pages (document_id, page_no, name, image_sha256, width, height, status, created_at,"
                 " updated_at, done_by, done_at) VALUES (1, 1, 'old.png', 'img', 500, 500, 'done', 't', 't', 'ana',"
                 " '2026-11-02T09:00:00+00:00')")
    for sql, params in statements:
        conn.execute(sql, params)
    conn.execute("INSERT INTO verdict_state (page_id, page_updated_at, refreshed_at, in_hist) VALUES (1, 't', 't', 1)")
    conn.close()
    assert stop_before not in applied(root)


@contextmanager
def migrated_and_refreshed(root, migration: str):
    """The old project opened (and so migrated): its page is stale and refresh_stale redoes it."""
    from core.project import Project
    from tests.core.test_schema import applied

    p = Project.open(root)
    try:
        assert migration in applied(root)
        assert review.stale_pages(p.store) == [1]
        assert review.refresh_stale(p.store) == 1
        yield p.store
    finally:
        p.close()


def test_an_old_project_is_migrated_and_its_field_pages_refreshed(tmp_path):
    """A project of the schema before field verdicts whose page has field values and stored
    (region) verdicts: opened, it is migrated, the page is stale, and refresh_stale gives it
    field verdicts."""
    root = tmp_path / "old"
    old_project_with_a_done_page(root, "0010_field_verdicts", [
        ("INSERT INTO predictions (page_id, engine, engine_version, config, config_hash, regions, created_at,"
         " fields) VALUES (1, 'eng', '1', '{}', 'h', '[]', '2026-11-01T09:00:00+00:00',"
         " '[{\"name\": \"total\", \"text\": \"9.90\", \"value\": \"9.90\", \"confidence\": 0.9,"
         " \"sources\": []}]')", ()),
        ("INSERT INTO page_fields (page_id, name, text, value, origin, created_at, updated_at, updated_by)"
         " VALUES (1, 'total', '9.99', '9.99', 'human', 't', 't', 'ana')", ())])
    with migrated_and_refreshed(root, "0010_field_verdicts") as store:
        assert _kinds(store, 1) == {"total": "wrong"}
        assert {f.name: f.wrong for f in analytics.field_report(store)["fields"]} == {"total": 1}
        assert now()


def test_on_a_team_server_annotators_store_field_verdicts_and_reviewers_mark_them(team_server):  # noqa: F811
    """The server's grants (core/team.py) let an annotator's "done" write the page's field
    verdicts and totals, and a reviewer mark a field, as for regions."""
    from core.project import Project
    from tests.core.test_team_roles import login

    url, _ = team_server
    lead = Project.open(login(url, "lead") + "/acme")
    try:
        page_id = _page(_setup_roles(lead.store), "f.png")
    finally:
        lead.close()
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        ana.store.set_page_field(page_id, FieldValue("total", "99,00"), "ana")
        ana.store.set_page_status("ana", page_id, PageStatus.DONE)
        assert _kinds(ana.store, page_id)["total"] == "wrong"
    finally:
        ana.close()
    rex = Project.open(login(url, "rex") + "/acme")
    try:
        review.mark_field(rex.store, "rex", page_id, "company", "wrong")
        assert rex.store.field_verdict_marks(page_id) == {"company": "wrong"}
        assert {f.name: f.right for f in analytics.field_report(rex.store)["fields"]}["company"] == 0
    finally:
        rex.close()


def _setup_roles(store):
    store.set_fields(["company", "date", "address", "total"])
    return store


def test_the_field_totals_follow_the_project_time_zone(project):
    """Done at 20:00 UTC on Nov 2 is Nov 3 in Singapore: the per-day field totals move with the
    zone, as the region totals do."""
    from core import days

    store = _setup(project)
    page_id = _page(store, "a.png")
    store.set_page_status("ana", page_id, PageStatus.DONE)
    store.query("UPDATE pages SET done_at = '2026-11-02T20:00:00+00:00' WHERE id = ?", (page_id,))
    review.refresh_verdicts(store, page_id)
    days.set_time_zone(store, "UTC")
    assert {f.day for f in analytics.field_report(store)["days"]} == {"2026-11-02"}
    days.set_time_zone(store, "Asia/Singapore")
    assert {f.day for f in analytics.field_report(store)["days"]} == {"2026-11-03"}
    assert {r["day"] for r in review.field_verdicts(store, page_id)} == {"2026-11-03"}
    assert analytics.field_report(store, "2026-11-02", "2026-11-02")["fields"] == []
