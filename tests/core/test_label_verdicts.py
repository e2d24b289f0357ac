"""Label verdicts: the field label a prediction gave a region (a form's header / question / answer,
a key field's region) against the one people left, kept with the region's verdict and counted per
page, so that Moderate finds the pages whose labels people changed ("with wrong labels")."""

from __future__ import annotations

from core import review
from core.model import HUMAN, Document, Page, PageStatus, PredictedRegion, Prediction, Region, Role, box_to_quad
from core.verdicts import compute_verdicts, label_wrong

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True

FORM = [("Date:", "question"), ("12/3/88", "answer"), ("Batch Size", "question"), ("TO:", None)]


def _pred(labels=FORM, pid=7):
    return Prediction(1, "combined", "v", {}, "h", tuple(
        PredictedRegion(box_to_quad(10, 10 + 40 * i, 300, 40 + 40 * i), t, 0.9, label=lab)
        for i, (t, lab) in enumerate(labels)), id=pid)


def _kept(p, i, label, text=None, deleted=False):
    pr = p.regions[i]
    return Region(1, pr.points, pr.text if text is None else text, label=label, origin="prediction",
                  prediction_id=p.id, pred_index=i, id=100 + i, deleted=deleted)


def test_a_changed_or_cleared_predicted_label_is_wrong_and_a_label_nobody_predicted_is_no_verdict():
    p = _pred()
    regions = [_kept(p, 0, "question"), _kept(p, 1, "question", text="12/8/88"), _kept(p, 2, None),
               _kept(p, 3, "header"),
               Region(1, box_to_quad(10, 300, 300, 330), "added", label="answer", origin=HUMAN, id=200)]
    got = {v.region_id: v for v in compute_verdicts(p, regions)}
    assert [got[100 + i].label_wrong for i in range(4)] == [False, True, True, False]
    assert got[101].kind == "wrong_text" and (got[101].pred_label, got[101].label) == ("answer", "question")
    assert got[102].kind == "correct" and got[102].label_wrong          # the text kept, its label cleared
    assert not got[200].label_wrong                                      # missing: a region people added
    deleted = compute_verdicts(p, [_kept(p, 1, "answer", deleted=True)])
    assert deleted[0].kind == "deleted" and not deleted[0].label_wrong
    assert not label_wrong("correct", "", "question") and label_wrong("wrong_box", "answer", "header")


def _setup(project):
    store = project.store
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    return store


def _page(store, name, labels=FORM) -> int:
    store.add_document(Document(name, f"sha-{name}", f"/{name}", "image", "2026-11-02T09:00:00+00:00", "ana", "b"),
                       [Page(0, 1, f"img-{name}", 500, 500, name=name)])
    page_id = max(p.id for p in store.pages())
    store.add_prediction(Prediction(page_id, "combined", "v1", {}, f"h-{name}", _pred(labels).regions,
                                    model_version="forms-1"))
    return page_id


def _done(store, page_id, user="ana"):
    store.set_page_status(user, page_id, PageStatus.DONE)
    review.refresh_verdicts(store, page_id)


def test_moderate_finds_the_pages_whose_labels_people_changed(project):
    store = _setup(project)
    kept, relabelled, unlabelled = _page(store, "kept.png"), _page(store, "relabelled.png"), \
        _page(store, "plain.png", [(t, None) for t, _ in FORM])
    answer = next(r for r in store.regions(relabelled) if r.text == "12/3/88")
    store.update_region("ana", answer.id, label="question")
    plain = store.regions(unlabelled)[0]
    store.update_region("ana", plain.id, label="header")        # a label nobody predicted: no verdict
    for page_id in (kept, relabelled, unlabelled):
        _done(store, page_id)
    F = review.ModerateFilter
    assert [p.page_id for p in review.moderate_pages(store, F(has_wrong_labels=True))] == [relabelled]
    assert [p.page_id for p in review.moderate_pages(store, F(has_wrong_labels=False))] == [kept]
    assert review.moderate_counts(store, F(has_wrong_labels=True))["total"] == 1
    assert {p.page_id: p.n_wrong_labels for p in review.moderate_pages(store)} == {kept: 0, relabelled: 1,
                                                                                  unlabelled: 0}
    # the text verdicts are as before: the relabelled region's text was kept
    assert review.region_verdicts(store, relabelled)[answer.id] == "correct"
    # people put the label back: the page is right again once its verdicts are refreshed
    store.update_region("ana", answer.id, label="answer")
    _done(store, relabelled)
    assert review.moderate_pages(store, F(has_wrong_labels=True)) == []


def test_an_old_project_is_migrated_and_its_labelled_pages_refreshed(tmp_path):
    """A project of the schema before label verdicts with a finished page whose predicted label
    people changed: opened, it is migrated, the page is stale, and refresh_stale finds the label."""
    import json

    from tests.core.test_field_verdicts import migrated_and_refreshed, old_project_with_a_done_page

    root = tmp_path / "old"
    regions = [{"points": [[10, 10], [300, 10], [300, 40], [10, 40]], "text": "12/3/88", "confidence": 0.9,
                "label": "answer"}]
    old_project_with_a_done_page(root, "0011_label_verdicts", [
        ("INSERT INTO predictions (page_id, engine, engine_version, config, config_hash, regions, created_at)"
         " VALUES (1, 'combined', '1', '{}', 'h', ?, '2026-11-01T09:00:00+00:00')", (json.dumps(regions),)),
        ("INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, confidence, origin, prediction_id,"
         " pred_index, touched, created_at, updated_at, updated_by) VALUES (1, '[[10,10],[300,10],[300,40],[10,40]]',"
         " 10, 10, 300, 40, '12/3/88', 'question', 0.9, 'prediction', 1, 0, 1, 't', 't', 'ana')", ())])
    with migrated_and_refreshed(root, "0011_label_verdicts") as store:
        assert [(x.page_id, x.n_wrong_labels) for x in review.moderate_pages(store)] == [(1, 1)]


def _label_figures(store) -> dict[str, tuple]:
    from core import analytics

    return {f.name: (f.predicted, f.right, f.wrong, f.missing) for f in analytics.field_report(store)["fields"]}


def test_analytics_counts_a_form_label_per_field_model_version_and_day(project):
    """A form field's accuracy is its regions': predicted with the label, left with it, changed
    (wrong), and people's regions with the label the prediction did not give (missing)."""
    from core import analytics

    store = _setup(project)
    kept, relabelled = _page(store, "kept.png"), _page(store, "relabelled.png")
    answer = next(r for r in store.regions(relabelled) if r.text == "12/3/88")
    store.update_region("ana", answer.id, label="question")
    store.add_region("ana", relabelled, box_to_quad(10, 300, 300, 330), "5 kg", label="answer")
    for page_id in (kept, relabelled):
        _done(store, page_id)
    # question: 2 + 2 predicted, all left; the relabelled answer is a question it missed
    # answer: 1 + 1 predicted, one changed; the added region is an answer it missed
    assert _label_figures(store) == {"question": (4, 4, 0, 1), "answer": (2, 1, 1, 1)}
    rep = analytics.field_report(store)
    assert {(f.version, f.name, f.accuracy) for f in rep["models"]} == {("forms-1", "question", 1.0),
                                                                      ("forms-1", "answer", 0.5)}
    assert sorted((f.name, f.predicted) for f in rep["days"]) == [("answer", 2), ("question", 4)]  # one day
    before = sorted(tuple(r) for r in store.query("SELECT * FROM field_verdict_daily WHERE n != 0"))
    with store.transaction():
        review.rebuild_totals(store)
    assert sorted(tuple(r) for r in store.query("SELECT * FROM field_verdict_daily WHERE n != 0")) == before
    # reopened, the label put back, done again: the old rows leave the totals, the new ones come in
    store.set_page_status("ana", relabelled, PageStatus.IN_PROGRESS)
    store.update_region("ana", answer.id, label="answer")
    _done(store, relabelled)
    assert _label_figures(store) == {"question": (4, 4, 0, 0), "answer": (2, 2, 0, 1)}
    store.set_page_status("ana", relabelled, PageStatus.IN_PROGRESS)
    review.refresh_verdicts(store, relabelled)
    assert _label_figures(store) == {"question": (2, 2, 0, 0), "answer": (1, 1, 0, 0)}


def test_a_project_before_label_totals_gets_them_when_opened(tmp_path):
    """A finished page of a project before label totals, its verdicts stored with their labels:
    opened, the migration adds them to the totals, and the page (a region people added with a
    label) is re-graded, which counts that region as a missed answer."""
    import json

    from tests.core.test_field_verdicts import migrated_and_refreshed, old_project_with_a_done_page

    root = tmp_path / "old"
    box = "[[10,10],[300,10],[300,40],[10,40]]"
    regions = [{"points": json.loads(box), "text": "12/3/88", "confidence": 0.9, "label": "answer"}]
    old_project_with_a_done_page(root, "0012_label_totals", [
        ("INSERT INTO predictions (page_id, engine, engine_version, config, config_hash, regions, created_at)"
         " VALUES (1, 'combined', '1', '{}', 'h', ?, '2026-11-01T09:00:00+00:00')", (json.dumps(regions),)),
        ("INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, confidence, origin, prediction_id,"
         f" pred_index, touched, created_at, updated_at, updated_by) VALUES (1, '{box}',"
         " 10, 10, 300, 40, '12/3/88', 'question', 0.9, 'prediction', 1, 0, 1, 't', 't', 'ana')", ()),
        ("INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, origin, touched, created_at,"
         " updated_at, updated_by) VALUES (1, '[[10,50],[300,50],[300,80],[10,80]]', 10, 50, 300, 80, '5 kg',"
         " 'answer', 'human', 1, 't', 't', 'ana')", ()),
        ("INSERT INTO verdicts (page_id, prediction_id, engine, engine_version, region_id, pred_index, kind,"
         " edit_distance, ref_chars, annotator, day, pred_label, label) VALUES"
         " (1, 1, 'combined', '1', 1, 0, 'correct', 0, 7, 'ana', '2026-11-02', 'answer', 'question'),"
         " (1, 1, 'combined', '1', 2, NULL, 'missing', 4, 4, 'ana', '2026-11-02', NULL, NULL)", ())])
    from core.project import Project

    p = Project.open(root)
    try:
        assert _label_figures(p.store) == {"question": (0, 0, 0, 1), "answer": (1, 0, 1, 0)}
    finally:
        p.close()
    with migrated_and_refreshed(root, "0012_label_totals") as store:
        assert _label_figures(store) == {"question": (0, 0, 0, 1), "answer": (1, 0, 1, 1)}


def test_a_form_label_gates_auto_accept_by_its_accuracy(project, capsys):
    """A form label has no confidence, so it gates auto-accept as a whole: once all of its
    predictions on checked pages are right at the target precision (Wilson bound), pages with it
    may skip people; a label below it, or never checked, keeps each page that predicts it."""
    from app.cli import main
    from core import analytics

    store = _setup(project)
    store.ensure_user("lead", Role.ADMIN)
    store.set_fields(["header", "question", "answer"])
    for i in range(10):                     # 20 questions, all right; 10 answers, 3 relabelled
        page_id = _page(store, f"done{i}.png")
        if i < 3:
            answer = next(r for r in store.regions(page_id) if r.text == "12/3/88")
            store.update_region("ana", answer.id, label="question")
        _done(store, page_id)
    assert review.field_thresholds(store, 0.8) == {"header": None, "question": 0.0, "answer": None}
    acc = {a.name: a for a in analytics.field_auto_accept(store, 0.8)}
    assert acc["question"].total == 20 and acc["question"].precision == 1.0
    assert acc["answer"].threshold is None and acc["answer"].total == 10
    # At 0.9, 20 right of 20 is not enough (Wilson bound 0.84): every label holds its pages.
    assert review.field_thresholds(store, 0.9)["question"] is None
    questions = _page(store, "questions.png", [("Date:", "question"), ("TO:", None)])
    answers = _page(store, "answers.png", [("Date:", "question"), ("12/3/88", "answer")])
    header = _page(store, "header.png", [("FAX", "header")])
    plain = _page(store, "plain.png", [("TO:", None)])
    assert store.auto_accept_candidates(0.5) == [questions, answers, header, plain]   # regions alone
    assert review.apply_auto_accept(store, "lead", 0.5, dry_run=True, target_precision=0.8) == [questions, plain]
    assert review.apply_auto_accept(store, "lead", 0.5, dry_run=True, target_precision=0.9) == [plain]
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.8", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "form labels" in out and "question sure" in out and "answer not yet" in out and "header not yet" in out
    assert "would accept 2 pre-filled page(s)" in out and "every form label it predicts sure" in out
    assert "2 more page(s) had every region sure but a form label not yet sure" in out
