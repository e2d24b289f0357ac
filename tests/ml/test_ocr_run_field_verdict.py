"""An OCR run judged on the key fields too: the fields pre-fill would read from each model's
predicted regions on the validation pages that have people's field values, per field with the
field rule's noise (``ml.training.fields``). Lower CER but a field lost beyond its noise, or the
overall field F1 down beyond its noise: not better. No field figures: the rule as before."""

from __future__ import annotations

import pytest

from app.cli import main
from core import runs
from core.model import Page, PredictedRegion, Prediction
from ml.fields.prefill import FieldReader
from ml.fields.scoring import FieldScore
from ml.training import fields as tf
from ml.training import worker
from ml.training.active import ZERO_SHOT, active_model, model_config

SROIE_SCHEMA = ["company", "date", "address", "total"]


def _figures(per: dict[str, tuple[float | None, float | None, float, str]], f1, active_f1, noise, pages=20) -> dict:
    """Field figures as ``FieldFigures.to_dict`` writes them; ``per``: name -> (f1, active f1, noise, change)."""
    return {"val_field_pages": pages, "val_field_model": ZERO_SHOT, "val_field_f1": f1, "active_val_field_f1": active_f1,
            "val_field_f1_noise": noise, "val_field_f1_change": "same",
            "val_fields_gained": [k for k, v in per.items() if v[3] == "gained"],
            "val_fields_lost": [k for k, v in per.items() if v[3] == "lost"],
            "val_field_per_field": {k: {"f1": a, "active_f1": b, "noise": n, "change": c}
                                    for k, (a, b, n, c) in per.items()}}


#: Lower CER, more typing saved: better by the line figures alone.
LINES_BETTER = {"val_cer": 0.03, "active_val_cer": 0.06, "val_typing_saved": 0.93, "active_val_typing_saved": 0.91,
                "val_typing_saved_ci": 0.94, "active_val_typing_saved_ci": 0.93}


def _summary(per: dict[str, tuple[int, int, int]]) -> dict:
    """A ``FieldScore.summary()``-like dict from (right, predicted, reference) per field."""
    def one(r, p, ref):
        return {"f1": 2 * r / (p + ref) if p + ref else None, "right": r, "predicted": p, "reference": ref}

    tot = [sum(v[i] for v in per.values()) for i in range(3)]
    return {"per_field": {k: one(*v) for k, v in per.items()}, "overall": one(*tot)}


def test_lower_cer_but_a_field_lost_beyond_its_noise_is_not_better():
    assert runs.ocr_better(LINES_BETTER)
    # 20 pages: "total" falls from 0.95 to 0.70 (noise 0.05): lost, though the overall F1 holds.
    lost = _figures({"total": (0.70, 0.95, 0.05, "lost"), "date": (0.99, 0.80, 0.09, "gained")}, 0.85, 0.87, 0.04)
    assert not runs.ocr_better({**LINES_BETTER, **lost})
    # Every field within its noise but the overall F1 down by more than its own: not better either.
    overall = _figures({"total": (0.90, 0.95, 0.06, "same"), "date": (0.75, 0.80, 0.09, "same")}, 0.80, 0.90, 0.05)
    assert not runs.ocr_better({**LINES_BETTER, **overall})


def test_a_field_drop_within_its_noise_is_still_better_and_no_gain_is_asked_for():
    within = _figures({"total": (0.92, 0.95, 0.05, "same"), "date": (0.80, 0.80, 0.09, "same")}, 0.86, 0.88, 0.04)
    assert runs.ocr_better({**LINES_BETTER, **within})
    # A field nobody had and nothing claimed has F1 None on both sides: perfect, not a loss.
    none = _figures({"total": (None, None, 1.0, "same")}, None, None, 1.0, pages=1)
    assert runs.ocr_better({**LINES_BETTER, **none})
    # ... and where the compared model's is None and the run's 0 (it now claims a value nobody has),
    # the overall F1 falls from 1 beyond its noise.
    assert not runs.ocr_better({**LINES_BETTER, **_figures({"total": (0.0, None, 1.0, "same")}, 0.0, None, 0.5)})
    # The line figures still rule: higher CER is not better, whatever the fields.
    assert not runs.ocr_better({**LINES_BETTER, "val_cer": 0.07, **within})


def test_without_field_figures_the_rule_is_as_before():
    assert runs.ocr_better(LINES_BETTER)
    assert not runs.ocr_better({**LINES_BETTER, "val_typing_saved": 0.90})
    assert not runs.ocr_better({"val_cer": 0.06, "active_val_cer": 0.06})
    # Field keys of no page (none read) say nothing.
    assert runs.ocr_better({**LINES_BETTER, "val_field_pages": 0, "val_fields_lost": ["total"],
                            "val_field_f1": 0.0, "active_val_field_f1": 1.0})


def test_the_judgement_is_the_field_rule_s_noise_per_field_and_overall():
    """``FieldFigures.judged``: per field ``tf.judge``, overall ``tf.change_of`` with ``tf.noise``,
    and ``ocr_better`` agrees with what it wrote."""
    old = _summary({"a": (18, 20, 20), "b": (10, 20, 20)})
    # a one page worse (within its noise), b as before: nothing lost, the overall F1 within its noise.
    same = worker.FieldFigures.judged(20, ZERO_SHOT, _summary({"a": (17, 20, 20), "b": (10, 20, 20)}), old).to_dict()
    assert same["val_fields_lost"] == [] and same["val_field_f1_change"] == "same"
    assert same["val_field_f1_noise"] == pytest.approx(tf.noise(old["overall"]))
    assert runs.ocr_better({**LINES_BETTER, **same})
    # a three pages worse (0.15 > its noise 0.067), b gains more: a lost, the run's OCR not better.
    lost = worker.FieldFigures.judged(20, ZERO_SHOT, _summary({"a": (15, 20, 20), "b": (19, 20, 20)}), old).to_dict()
    assert lost["val_fields_lost"] == ["a"] and lost["val_fields_gained"] == ["b"]
    assert lost["val_field_per_field"]["a"] == {"f1": 0.75, "active_f1": 0.9, "noise": 0.0671, "change": "lost"}
    assert not runs.ocr_better({**LINES_BETTER, **lost})


@pytest.fixture
def with_fields(project, request):
    """The ``labelled`` receipts imported into a project with the SROIE schema: each finished page
    has the people's company, date, address and total (the reference's)."""
    project.store.set_fields(SROIE_SCHEMA)
    return request.getfixturevalue("labelled")


def _predicted_fields(project, sha: str, folder, truth: dict) -> dict:
    """Independently of the worker: the page read by the combined engine with the model in
    ``folder``, its regions read for the fields by pre-fill's own reader, scored against ``truth``."""
    from ml.neural.combined import CombinedEngine
    from ml.training import data

    pred = CombinedEngine({"neural": model_config(folder), "device": "cpu"}).predict(
        data.load_page(project.images.path(sha)))
    regions = tuple(PredictedRegion(tuple(tuple(p) for p in r.points), r.text, r.confidence) for r in pred.regions)
    page = Page(document_id=0, page_no=1, image_sha256=sha, width=pred.width, height=pred.height, id=1)
    got = FieldReader.for_project(project).apply(
        Prediction(page_id=1, engine="combined", engine_version="1", config={}, config_hash="h", regions=regions), page)
    score = FieldScore()
    score.add_page(got.fields, truth, schema=[n for n in SROIE_SCHEMA if n in truth])
    return _counts(score.summary())


def _counts(summary: dict) -> dict:
    """A ``FieldScore.summary()`` less the OCR's ceiling (which needs the page's candidates)."""
    def strip(s):
        return {k: v for k, v in s.items() if k != "ceiling"}

    return {"overall": strip(summary["overall"]), "per_field": {k: strip(v) for k, v in summary["per_field"].items()}}


def test_end_to_end_scores_the_fields_read_from_each_model_s_predicted_regions(with_fields):
    from core import datasets

    project, version = with_fields
    manifest = datasets.load_manifest(project.root, version, project)
    [sha] = sorted({s["image"] for s in manifest["val"]})
    [truth] = tf.truths_of_images(project.store, [sha], SROIE_SCHEMA).values()
    assert set(truth) == set(SROIE_SCHEMA)
    # The new model: the shipped multilingual recogniser; compared: the project's active one (the
    # shipped Latin recogniser). Both read the page end to end as a run's evaluation reads it.
    cmp_folder = active_model(project).folder
    new_folder = cmp_folder.parent / "rec"
    e2e = worker._end_to_end(worker.RunContext(project, None, {"e2e_val_pages": 5}, "cpu", 0, worker.Dist({}),
                                               _Quiet(), {"flag": False}, 0.0), manifest, new_folder, cmp_folder)
    m = e2e.to_dict()
    assert m["val_pages"] == 1 and m["val_field_pages"] == 1 and m["val_field_model"] == ZERO_SHOT
    # The compared model's figures are what pre-fill's field reader makes of that model's regions
    # (read again here; the new model's once only: the test stays short).
    old, new = _predicted_fields(project, sha, cmp_folder, truth), e2e.fields.new
    assert _counts(e2e.fields.old) == old and new["per_field"]["date"]["reference"] == 1
    assert m["val_field_f1"] == new["overall"]["f1"] and m["active_val_field_f1"] == old["overall"]["f1"]
    assert set(m["val_field_per_field"]) == set(SROIE_SCHEMA)
    for name, f in m["val_field_per_field"].items():
        assert (f["f1"], f["active_f1"]) == (new["per_field"][name]["f1"], old["per_field"][name]["f1"]), name
    # From the OCR's regions, not the people's lines: these read every field but the company right
    # (so do the compared model's regions since a total is the one after its rounding adjustment);
    # the new model's regions read fewer.
    people = FieldScore()
    pages = tf.field_pages(project.store, SROIE_SCHEMA)
    [i] = [i for i, p in enumerate(pages) if p.image_sha256 == sha]
    tf._score(pages, [i], SROIE_SCHEMA, None, people)
    assert people.summary()["overall"]["f1"] == 0.75 and _counts(new) != _counts(people.summary())
    # The multilingual recogniser misreads a field the Latin one reads (the address): the overall
    # F1 falls by one field, within its noise on one page (no single field can be lost beyond its
    # own there), so a lower CER is enough; a second field lost would be beyond it.
    assert (m["active_val_field_f1"], m["val_field_f1"], m["val_field_f1_noise"]) == (0.75, 0.5, 0.25)
    assert new["per_field"]["address"]["f1"] == 0.0 and old["per_field"]["address"]["f1"] == 1.0
    assert m["val_field_f1_change"] == "same" and m["val_fields_lost"] == []
    fields = {k: v for k, v in m.items() if k.startswith(("val_field", "active_val_field"))}
    assert runs.ocr_better({"val_cer": 0.01, "active_val_cer": 0.5, **fields})
    assert not runs.ocr_better({"val_cer": 0.01, "active_val_cer": 0.5, **fields, "val_field_f1": 0.25})


class _Quiet:
    def __call__(self, obj, db=True):
        pass

    def progress(self, *a, **k):
        pass


def test_pages_without_field_values_give_no_field_figures(with_fields):
    from core.model import PageStatus

    project, _ = with_fields
    store = project.store
    page = store.pages()[0]
    assert set(tf.truths_of_images(store, [page.image_sha256, "other"], SROIE_SCHEMA)) == {page.image_sha256}
    assert tf.truths_of_images(store, [page.image_sha256], []) == {}  # no schema
    assert tf.truths_of_images(store, [page.image_sha256], ["invoice_number"]) == {}  # no value of it
    store.set_page_status("lead", page.id, PageStatus.IN_PROGRESS)  # not finished: not people's word yet
    assert tf.truths_of_images(store, [page.image_sha256], SROIE_SCHEMA) == {}
    e2e = worker.EndToEnd(worker.PageFigures(0.9, 0.9, 0.8, 0.1), worker.PageFigures(0.8, 0.8, 0.8, 0.1), 3)
    assert not any("field" in k for k in e2e.to_dict())


def test_runs_show_says_what_the_ocr_gained_and_lost_on_the_fields(project, one_line_version, capsys):
    store = project.store
    run = runs.create(store, "lead", one_line_version.id, {})
    figures = _figures({"total": (0.70, 0.95, 0.05, "lost"), "date": (0.99, 0.80, 0.09, "gained")}, 0.85, 0.87, 0.04)
    run, _ = runs.finish(store, "lead", run.id, "models/run-1", "f" * 64, {**LINES_BETTER, **figures}, "run-1", 1.0,
                         "cpu")
    assert run.verdict == runs.NOT_BETTER  # lower CER, more typing saved, but "total" lost
    capsys.readouterr()
    assert main(["runs", "show", str(project.root), str(run.id)]) == 0
    out = capsys.readouterr().out
    assert "OCR model version" in out and "key fields read from the OCR on 20 validation page(s)" in out
    assert "F1 85.0% against 87.0%" in out and "gained: date; lost: total" in out
