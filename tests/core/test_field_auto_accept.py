"""Auto-accept per key field: a pre-filled page skips people only when its regions are sure and,
when the project has a field schema, each of its predicted fields is at or above that field's
threshold (the Wilson rule of the regions, ``core.analytics.field_auto_accept``)."""

from __future__ import annotations

import pytest

from app.cli import main
from core import review
from core.fields import FieldValue
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, box_to_quad

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

LINES = [("ACME Sdn Bhd", 0.99), ("Date 05.03.2018", 0.99), ("Total 12,50", 0.99)]


def _page(store, name: str, fields) -> int:
    store.add_document(Document(name, f"sha-{name}", f"/{name}", "image", "2026-11-02T09:00:00+00:00", "ana", "b"),
                       [Page(0, 1, f"img-{name}", 500, 500, name=name)])
    page_id = max(p.id for p in store.pages())
    regions = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 300, 40 + 40 * i), t, c)
                    for i, (t, c) in enumerate(LINES))
    store.add_prediction(Prediction(page_id, "neural", "v1", {}, f"h-{name}", regions, model_version="m1",
                                    fields=tuple(fields)))
    return page_id


def company(conf):
    return FieldValue("company", "ACME Sdn Bhd", "ACME Sdn Bhd", None, conf, (0,))


def date(conf):
    return FieldValue("date", "05.03.2018", "2018-03-05", None, conf, (1,), (5, 15))


def total(conf):
    return FieldValue("total", "12,50", "12.50", None, conf, (2,), (6, 11))


def _history(store, fields=(("company", 950), ("total", 970)), regions=True):
    """Checked pages' running totals: each named field right 600 times at its bucket's confidence
    (a threshold there at 99.5%), wrong 100 times at 0.5; and, with ``regions``, 600 right regions
    at 0.99."""
    with store.transaction() as c:
        for name, bucket in fields:
            for b, n, k in ((bucket, 600, 600), (500, 100, 0)):
                c.execute("INSERT INTO field_confidence_hist (name, engine, version, bucket, n, correct)"
                          " VALUES (?,?,?,?,?,?)", (name, "neural", "m1", b, n, k))
        if regions:
            c.execute("INSERT INTO confidence_hist (engine, version, bucket, n, correct) VALUES (?,?,?,?,?)",
                      ("neural", "m1", 990, 600, 600))


@pytest.fixture
def pages(project):
    store = project.store
    store.set_fields(["company", "date", "total"])
    _history(store)
    ids = {
        "sure": _page(store, "sure.png", [company(0.96), total(0.98)]),
        "low_total": _page(store, "low.png", [company(0.99), total(0.9)]),
        "no_fields": _page(store, "plain.png", []),
        "date_without_threshold": _page(store, "date.png", [company(0.99), date(0.999), total(0.99)]),
        "total_at_threshold": _page(store, "edge.png", [company(0.95), total(0.97)]),
    }
    return store, ids


def test_a_page_is_accepted_only_when_each_field_reaches_its_threshold(pages):
    store, ids = pages
    th = review.field_thresholds(store, 0.995)
    assert th == {"company": pytest.approx(0.95), "date": None, "total": pytest.approx(0.97)}
    # Regions alone would take every page (each region is at 0.99).
    assert store.auto_accept_candidates(0.98) == sorted(ids.values())
    want = sorted([ids["sure"], ids["no_fields"], ids["total_at_threshold"]])
    assert review.apply_auto_accept(store, "lead", 0.98, dry_run=True) == want
    assert review.apply_auto_accept(store, "lead", 0.98) == want
    assert store.get_page(ids["sure"]).status == PageStatus.DONE
    # A field below its threshold, and a field with no threshold yet (too few verdicts), keep the
    # page for people.
    assert store.get_page(ids["low_total"]).status == PageStatus.PREFILLED
    assert store.get_page(ids["date_without_threshold"]).status == PageStatus.PREFILLED
    [action] = store.query("SELECT * FROM actions WHERE page_id = ? AND label LIKE 'auto-accept%'", (ids["sure"],))
    assert "key field" in action["label"] and "applied by lead" in action["label"]


def test_a_lower_target_or_given_thresholds_decide_too(pages):
    store, ids = pages
    # Thresholds given by the caller are used as they are.
    given = {"company": 0.5, "date": 0.5, "total": 0.5}
    assert review.apply_auto_accept(store, "lead", 0.98, dry_run=True, fields=given) == sorted(ids.values())
    # A person's value of a field keeps the page (it is in progress then anyway).
    store.set_page_field(ids["sure"], FieldValue("total", "12.50"), "ana")
    assert ids["sure"] not in review.apply_auto_accept(store, "lead", 0.98, dry_run=True, fields=given)


def test_without_a_field_schema_fields_do_not_gate(pages):
    store, ids = pages
    store.set_fields([])
    assert review.field_thresholds(store) is None
    assert review.apply_auto_accept(store, "lead", 0.98, dry_run=True) == sorted(ids.values())


def test_cli_auto_accept_says_what_the_fields_held_back(pages, project, capsys):
    store, ids = pages
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.995", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "key fields: company >= 0.950, date no threshold yet (too few checked), total >= 0.970" in out
    assert "would accept 3 pre-filled page(s)" in out and "every key field at or above its field's" in out
    assert "2 more page(s) had every region sure but a key field below its threshold" in out
    assert store.get_page(ids["sure"]).status == PageStatus.PREFILLED
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.995"]) == 0
    out = capsys.readouterr().out
    assert "accepted 3 pre-filled page(s)" in out and "2 more page(s)" in out
    assert store.get_page(ids["sure"]).status == PageStatus.DONE
    assert store.get_page(ids["low_total"]).status == PageStatus.PREFILLED
