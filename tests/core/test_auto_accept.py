"""Auto-accept applied: pre-filled pages the model is sure of are done without a person."""

from __future__ import annotations

import pytest

from app.cli import main
from core import review
from core.errors import PermissionDenied
from core.fields import FieldValue
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad

from ..conftest import image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def pages_with(project, tmp_path, confidences):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(len(confidences)):
        (src / f"p{i}.png").write_bytes(image_bytes(i))
    import_paths(project, [src])
    pages = project.store.pages()
    for page, confs in zip(pages, confidences):
        regions = tuple(PredictedRegion(box_to_quad(0, 10 * k, 10, 10 * k + 5), f"L{k}", c) for k, c in enumerate(confs))
        project.store.add_prediction(Prediction(page.id, "combined", "1", {}, "h", regions))
    return [p.id for p in pages]


def test_only_untouched_pages_with_every_region_above_the_threshold(project, tmp_path):
    sure, unsure, touched, empty = pages_with(project, tmp_path, [[0.99, 0.98], [0.99, 0.5], [0.99], []])
    store = project.store
    region = store.regions(touched)[0]
    store.update_region("ana", region.id, text="fixed by a person")  # now in progress
    assert review.apply_auto_accept(store, "lead", 0.97, dry_run=True) == [sure]
    assert store.get_page(sure).status == PageStatus.PREFILLED  # a dry run changes nothing
    assert review.apply_auto_accept(store, "lead", 0.97) == [sure]
    page = store.get_page(sure)
    assert page.status == PageStatus.DONE and page.done_by == review.AUTO_ACCEPT_USER
    [action] = store.query("SELECT * FROM actions WHERE page_id = ? AND label LIKE 'auto-accept%'", (sure,))
    assert "applied by lead" in action["label"] and action["user"] == review.AUTO_ACCEPT_USER
    assert store.get_page(unsure).status == PageStatus.PREFILLED
    assert review.apply_auto_accept(store, "lead", 0.97, engine="classical") == []  # other engine's pages only
    # An annotator may not apply it once the project has roles.
    store.set_user_role("lead", "lead", Role.ADMIN)
    store.ensure_user("ana", Role.ANNOTATOR)
    with pytest.raises(PermissionDenied):
        review.apply_auto_accept(store, "ana", 0.5)


def test_cli_chooses_the_threshold_from_checked_pages(project, tmp_path, capsys):
    ids = pages_with(project, tmp_path, [[0.99, 0.6]] * 4 + [[0.99, 0.995], [0.99, 0.98]])
    store = project.store
    for page_id in ids[:4]:  # people checked these: the 0.99 lines right, the 0.6 lines wrong
        low = [r for r in store.regions(page_id) if r.confidence < 0.9][0]
        store.update_region("ana", low.id, text="corrected")
        store.set_page_status("ana", page_id, PageStatus.DONE)
    # Four right lines prove little: 99% is out of reach, nothing is accepted.
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "no confidence threshold reaches 99.0% precision" in out and "nothing accepted" in out
    assert store.get_page(ids[4]).status == PageStatus.PREFILLED
    # They are enough to be 95% sure of 50% (Wilson bound of 4/4: 59.6%); with the 0.6 lines, 4 of
    # 8 right, not.
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "confidence >= 0.99" in out and "accepted 1 pre-filled page(s)" in out
    assert "(4 regions: at least 59.6% with 95% confidence)" in out
    assert store.get_page(ids[4]).status == PageStatus.DONE
    assert store.get_page(ids[5]).status == PageStatus.PREFILLED  # 0.98 is below the threshold


def test_an_auto_accepted_page_vouches_for_nothing_until_a_reviewer_approves_it(project, tmp_path):
    """Its regions are the machine's own reading: they do not join the figures the threshold is
    chosen from, nor the lines and fields a run learns from, until a reviewer approves the page."""
    from ml.training.fields import count_field_pages, field_pages

    ids = pages_with(project, tmp_path, [[0.99, 0.6]] * 4 + [[0.99, 0.995]] * 2)
    store = project.store
    for page_id in ids[:4]:
        store.set_page_field(page_id, FieldValue("total", "9,90"), "ana")
        store.set_page_status("ana", page_id, PageStatus.DONE)
    counts = review.auto_accept_counts(store)
    assert sum(n for _, n, _ in counts) == 8
    assert review.apply_auto_accept(store, "lead", 0.98) == ids[4:]
    assert review.auto_accept_counts(store) == counts                 # the histogram is as it was
    assert len(review.moderate_pages(store, review.ModerateFilter(finished_only=True))) == 6  # still moderated
    assert {r["page_id"] for r in store.confirmed_region_rows(("done", "approved"))} == set(ids[:4])
    # a page with field values done as auto-accept does it (its values the machine's): no field example
    store.set_fields(["total"])
    store.set_page_field(ids[5], FieldValue("total", "1,00"), review.AUTO_ACCEPT_USER)
    assert (store.get_page(ids[5]).status, store.get_page(ids[5]).done_by) == (PageStatus.DONE, "auto-accept")
    assert [p.page_id for p in field_pages(store, ["total"])] == ids[:4] and count_field_pages(store) == 4
    with store.transaction():
        review.rebuild_totals(store)
    assert review.auto_accept_counts(store) == counts                 # rebuilt: the same
    # a reviewer approves them: people vouch for them now
    store.ensure_user("rita", Role.REVIEWER)
    for page_id in ids[4:]:
        store.review_page("rita", page_id, "approved")
    assert sum(n for _, n, _ in review.auto_accept_counts(store)) == 12
    assert {r["page_id"] for r in store.confirmed_region_rows(("done", "approved"))} == set(ids)
    assert count_field_pages(store) == 5


def test_a_project_with_auto_accepted_pages_in_its_totals_takes_them_out_when_opened(tmp_path):
    """Before this version an auto-accepted page's regions were in the running totals: opened, the
    project marks such pages stale and re-grading them takes them out."""
    import json

    from core.project import Project
    from tests.core.test_field_verdicts import old_project_with_a_done_page
    from tests.core.test_schema import applied

    root = tmp_path / "old"
    regions = [{"points": [[10, 10], [300, 10], [300, 40], [10, 40]], "text": "TOTAL 9.90", "confidence": 0.99}]
    old_project_with_a_done_page(root, "0013_unreviewed_auto_accepts", [
        ("UPDATE pages SET done_by = 'auto-accept' WHERE id = 1", ()),
        ("INSERT INTO predictions (page_id, engine, engine_version, config, config_hash, regions, created_at)"
         " VALUES (1, 'combined', '1', '{}', 'h', ?, '2026-11-01T09:00:00+00:00')", (json.dumps(regions),)),
        ("INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, confidence, origin, prediction_id,"
         " pred_index, touched, created_at, updated_at, updated_by) VALUES (1, '[[10,10],[300,10],[300,40],[10,40]]',"
         " 10, 10, 300, 40, 'TOTAL 9.90', 0.99, 'prediction', 1, 0, 0, 't', 't', 'ana')", ()),
        ("INSERT INTO verdicts (page_id, prediction_id, engine, engine_version, region_id, pred_index, kind,"
         " edit_distance, ref_chars, confidence, annotator, day) VALUES"
         " (1, 1, 'combined', '1', 1, 0, 'correct', 0, 10, 0.99, 'auto-accept', '2026-11-02')", ()),
        ("INSERT INTO confidence_hist (engine, version, bucket, n, correct) VALUES ('combined', '1', 990, 1, 1)", ()),
    ])
    p = Project.open(root)
    try:
        assert "0013_unreviewed_auto_accepts" in applied(root)
        assert sum(n for _, n, _ in review.auto_accept_counts(p.store)) == 1   # as the old version counted
        assert review.stale_pages(p.store) == [1]
        assert review.refresh_stale(p.store) == 1
        assert sum(n for _, n, _ in review.auto_accept_counts(p.store)) == 0
    finally:
        p.close()
