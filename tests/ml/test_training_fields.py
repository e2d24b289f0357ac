"""Key fields learned by the training loop (issue 15): a run trains the field model on the finished
pages' field values, judges it by K-fold cross-validation against the active field model (else
the zero-shot rules), registers it under the registry's ``fields`` task; promoted, pre-fill reads
with it; a run that loses a field beyond its noise is not better; rollback restores the one before.

The pages are synthetic and have no image: fields-only runs (``train_ocr`` false) read regions
and field values, never pixels, so each run takes seconds.
"""

from __future__ import annotations

import json
import random

import pytest

from app.cli import main
from core import datasets, registry, runs
from core.fields import make_value
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, box_to_quad
from core.store import now
from ml.fields.crossval import folds
from ml.fields.prefill import FieldReader
from ml.training import fields as tf
from ml.training import worker

SCHEMA = ["invoice_number", "total", "order_number"]
#: Fields only, few epochs: a run takes seconds.
FAST = {"train_ocr": False, "field_epochs": 60, "field_folds": 5}


def _lines(rng: random.Random, i: int) -> tuple[list[str], dict[str, str]]:
    """One invoice-like page: the order number follows "Ref", a word the zero-shot rules do not
    know for it (so only a learned model reads it); the others follow their usual labels."""
    inv, code = f"INV-{1000 + 7 * i}", f"{rng.choice('ABCDEFGH')}{rng.randint(100, 999)}{rng.choice('KLMNP')}"
    total = f"{rng.randint(10, 999)}.{rng.randint(10, 99)}"
    lines = ["ACME Trading Ltd", f"Invoice No: {inv}", "Qty 2 x 3.50", f"Ref {code}", f"Total: {total}"]
    return lines, {"invoice_number": inv, "total": total, "order_number": code}


def _box(k: int):
    return box_to_quad(10, 40 * k + 10, 400, 40 * k + 40)


def _add_page(store, name: str, lines: list[str], truth: dict[str, str], names, status=PageStatus.DONE) -> int:
    """A page with ``lines`` as people's regions, the ``names`` of ``truth`` as its field values."""
    doc = Document(name=name, sha256=f"sha-{name}", source=f"/src/{name}", kind="image", imported_at=now(),
                   imported_by="ana", batch="b1")
    store.add_document(doc, [Page(document_id=0, page_no=1, name=name, image_sha256=f"img-{name}", width=1000,
                                  height=800)])
    page_id = max(p.id for p in store.pages())
    ids = [store.add_region("ana", page_id, [list(p) for p in _box(k)], text=t) for k, t in enumerate(lines)]
    for name_ in names:
        k = next(k for k, t in enumerate(lines) if truth[name_] in t)
        store.set_page_field(page_id, make_value(name_, truth[name_], sources=(ids[k],)), "ana")
    store.set_page_status("ana", page_id, status)
    return page_id


def _pages(store, prefix: str, n: int, seed: int, names_of=lambda i: SCHEMA, status=PageStatus.DONE) -> list[int]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lines, truth = _lines(rng, i)
        out.append(_add_page(store, f"{prefix}{i}.png", lines, truth, names_of(i), status))
    return out


def _work(project, run_id: int) -> tuple[int, list[dict]]:
    got: list[dict] = []
    return worker.run(project.root, run_id, emit=got.append), got


@pytest.fixture
def invoices(project):
    """Ten finished pages, every field filled in, and a dataset version (a run needs one)."""
    store = project.store
    store.set_fields(SCHEMA)
    ids = _pages(store, "a", 10, seed=1)
    version, _ = datasets.create_version(store, project.root, "lead")
    return project, version, ids


def _reads(project, seed: int = 99) -> dict[str, str | None]:
    """What pre-fill's field reader makes of a new page's lines (absent: None)."""
    lines, truth = _lines(random.Random(seed), 500)
    regions = tuple(PredictedRegion(_box(k), t, 0.9) for k, t in enumerate(lines))
    page = Page(document_id=0, page_no=1, image_sha256="x", width=1000, height=800, id=1)
    pred = Prediction(page_id=1, engine="e", engine_version="1", config={}, config_hash="h", regions=regions)
    got = FieldReader.for_project(project).apply(pred, page)
    return {v.name: (None if v.absent else v.text) for v in got.fields}, truth


def test_a_fields_only_run_is_judged_registered_and_used_once_promoted(invoices, capsys):
    project, version, _ = invoices
    store = project.store
    before, truth = _reads(project)
    assert before["order_number"] != truth["order_number"]  # the rules do not read it

    run = runs.create(store, "lead", version.id, FAST)
    code, lines = _work(project, run.id)
    assert code == 0, lines[-3:]
    done = runs.get(store, run.id)
    assert done.status == "done" and done.metrics == []  # no OCR epochs
    start = next(m for m in lines if m["type"] == "start")
    assert start["params"]["train_fields"] is True and start["params"]["train_ocr"] is False
    assert registry.versions(store, registry.RECOGNITION) == []  # no OCR model made

    (fv,) = registry.of_run(store, run.id, registry.FIELDS)
    assert done.model_version_id == fv.id and done.artifact_path == fv.path == "models/run-1-fields"
    m = fv.metrics
    assert m["eval"] == "cross-validation" and m["folds"] == 5 and m["pages"] == 10
    assert m["compared_with"] == "zero-shot rules" and set(m["per_field"]) == set(SCHEMA)
    for name, f in m["per_field"].items():
        assert {"f1", "active_f1", "noise", "change", "typing_saved"} <= set(f), name
    # The rules miss the order number; the learned model reads it: gained, nothing lost, better.
    assert m["per_field"]["order_number"]["change"] == "gained" and m["lost"] == [] and m["better"] is True
    assert done.verdict == runs.BETTER
    # The record's log says what it gained and lost, field by field.
    logged = [json.loads(ln) for ln in done.log.splitlines() if '"type": "fields"' in ln]
    assert logged and logged[0]["gained"] == m["gained"] and "order_number" in logged[0]["per_field"]
    # The folder lists its files with their sha256 (registry manifest rules), fields.npz's is the version's.
    assert registry.verify_folder(project.local(fv.path))["fields.npz"] == fv.sha256

    assert registry.active(store, registry.FIELDS) is None  # never promoted by the run
    assert main(["--user", "lead", "models", "promote", str(project.root), fv.name]) == 0
    assert registry.active(store, registry.FIELDS).id == fv.id and registry.active(store) is None
    reader = FieldReader.for_project(project)
    assert reader.version == fv.name and reader.model is not None
    # It carries the words of the pages it learned from (read on 10 pages each), for the OCR's misreadings.
    from ml.fields.vocabulary import of_model

    vocab = of_model(reader.model)
    assert vocab.pages["INVOICE"] == vocab.pages["TOTAL"] == 10 and vocab.correct("Tota1:") == "Total:"
    after, truth = _reads(project)
    assert after["order_number"] == truth["order_number"]
    assert main(["models", "list", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "active fields model: run-1-fields" in out and "order_number" in out


def test_a_run_that_loses_a_field_is_not_better_and_rollback_restores_the_one_before(invoices, capsys):
    project, version, old_pages = invoices
    store = project.store
    first = runs.create(store, "lead", version.id, FAST)
    assert _work(project, first.id)[0] == 0
    (v1,) = registry.of_run(store, first.id, registry.FIELDS)
    registry.promote(store, "lead", v1)

    # The next run sees other pages: the earlier ones went back to work, and on the new ones people
    # filled in the order number on the pages of one cross-validation fold only. Each of those is
    # judged by a model trained without a single order number, against the active model, which
    # reads them: order number lost, whatever the other fields do.
    for pid in old_pages:
        store.set_page_status("ana", pid, PageStatus.IN_PROGRESS)
    one_fold = set(folds(10, 5, 0)[0])
    _pages(store, "b", 10, seed=2, names_of=lambda i: SCHEMA if i in one_fold else SCHEMA[:2])
    second = runs.create(store, "lead", version.id, FAST)
    code, lines = _work(project, second.id)
    assert code == 0, lines[-3:]
    (v2,) = registry.of_run(store, second.id, registry.FIELDS)
    m = v2.metrics
    assert m["compared_with"] == v1.name and v2.parent_id == v1.id
    assert m["lost"] == ["order_number"] and m["better"] is False
    assert m["per_field"]["order_number"]["f1"] < m["per_field"]["order_number"]["active_f1"] - \
        m["per_field"]["order_number"]["noise"]
    done = runs.get(store, second.id)
    assert done.verdict == runs.NOT_BETTER
    fields_line = next(x for x in lines if x["type"] == "fields")
    assert fields_line["lost"] == ["order_number"] and fields_line["better"] is False
    assert next(x for x in lines if x["type"] == "done")["fields"]["verdict"] == runs.NOT_BETTER

    # Promoted anyway, then rolled back: pre-fill reads with the first model again.
    assert main(["--user", "lead", "models", "promote", str(project.root), v2.name]) == 0
    assert FieldReader.for_project(project).version == v2.name
    assert main(["--user", "lead", "models", "rollback", str(project.root), "--task", "fields"]) == 0
    assert "rolled back to run-1-fields" in capsys.readouterr().out
    assert registry.active(store, registry.FIELDS).id == v1.id
    assert FieldReader.for_project(project).version == v1.name
    assert registry.active(store) is None  # the OCR's task is another


# -- the rule -------------------------------------------------------------------------------------------
def _summary(per: dict[str, tuple[int, int, int]]) -> dict:
    """A FieldScore-like summary from (right, predicted, reference) per field."""
    def one(r, p, ref):
        return {"f1": 2 * r / (p + ref) if p + ref else None, "right": r, "predicted": p, "reference": ref,
                "typing_saved": None}

    tot = [sum(v[i] for v in per.values()) for i in range(3)]
    return {"per_field": {k: one(*v) for k, v in per.items()}, "overall": one(*tot)}


def test_the_noise_rule():
    # 20 pages: one page's worth of F1 is 2 / 40 = 0.05; the binomial error of 0.9 is sqrt(.09/20) = 0.067.
    assert tf.noise(_summary({"a": (18, 20, 20)})["per_field"]["a"]) == pytest.approx(0.0671, abs=1e-3)
    assert tf.noise(_summary({"a": (20, 20, 20)})["per_field"]["a"]) == pytest.approx(0.05)
    old = _summary({"a": (18, 20, 20), "b": (10, 20, 20)})
    # One page fewer right on a: within the noise, and b gains: better.
    v = tf.judge(_summary({"a": (17, 20, 20), "b": (16, 20, 20)}), old)
    assert v.better and v.lost == [] and v.gained == ["b"]
    # Three pages fewer on a (0.15 > 0.067), though the overall F1 rises: not better, a lost.
    v = tf.judge(_summary({"a": (15, 20, 20), "b": (19, 20, 20)}), old)
    assert not v.better and v.lost == ["a"] and v.per_field["a"].change == "lost"
    # Nothing lost and nothing better overall: not better either.
    assert not tf.judge(old, old).better


def test_fields_are_trained_unasked_only_with_a_schema_and_enough_pages(project):
    store = project.store
    store.set_fields([])
    assert tf.wanted(store, {"train_fields": None}) == (False, "the project has no fields")
    store.set_fields(SCHEMA)
    _pages(store, "c", tf.MIN_FIELD_PAGES - 1, seed=3)
    assert tf.wanted(store, {"train_fields": None})[0] is False
    _pages(store, "d", 1, seed=4)
    assert tf.wanted(store, {"train_fields": None})[0] is True
    assert tf.wanted(store, {"train_fields": False})[0] is False
    from core.errors import ProofdeskError
    from ml.training.params import resolve_params

    with pytest.raises(ProofdeskError, match="trains nothing"):
        resolve_params({"train_ocr": False, "train_fields": False})
    assert resolve_params({})["train_fields"] is None  # decided from the project when the run starts


def test_truth_leaves_out_fields_without_a_row_and_keeps_absent_ones(project):
    store = project.store
    store.set_fields(SCHEMA)
    lines, truth = _lines(random.Random(5), 1)
    pid = _add_page(store, "e.png", lines, truth, ["total"])
    store.set_field_absent(pid, "order_number", "ana")
    assert tf.truth_of(store.page_fields(pid), SCHEMA) == {"total": truth["total"], "order_number": None}


def test_proofdesk_train_prints_the_field_figures_and_the_verdict(invoices, capsys):
    project, version, _ = invoices
    root = str(project.root)
    code = main(["--user", "lead", "train", root, "--dataset", str(version.id), "--fields-only",
                 "--set", "field_epochs=60", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "training the key fields (train_fields is true)" in err
    assert "key fields, cross-validation (K=5) on 10 page(s), against zero-shot rules:" in out
    row = next(ln for ln in out.splitlines() if ln.strip().startswith("order_number"))
    assert "F1" in row and row.endswith("gained")
    assert "gained: order_number" in out and "-> better" in out
    assert f"promote the field model with: proofdesk models promote {root} run-1-fields" in out
    assert main(["runs", "list", root]) == 0
    listed = capsys.readouterr().out
    assert "run-1-fields: fields F1" in listed and "order_number" in listed


def test_the_training_screen_shows_the_field_model_beside_the_ocr(qtbot, invoices):
    from app.training.screen import COLUMNS, TrainingScreen

    project, version, _ = invoices
    run = runs.create(project.store, "lead", version.id, FAST)
    assert _work(project, run.id)[0] == 0
    screen = TrainingScreen(project, "lead")
    qtbot.addWidget(screen)
    cell = screen.table.item(0, COLUMNS.index("fields F1")).text()
    (fv,) = registry.of_run(project.store, run.id, registry.FIELDS)
    assert cell == f"{fv.metrics['f1']:.2%} vs {fv.metrics['active_f1']:.2%}"
    screen.table.selectRow(0)
    detail = screen.detail.toPlainText()
    assert "against zero-shot rules" in detail and "order_number" in detail and "gained" in detail
    screen.promote_fields_button.click()
    assert registry.active(project.store, registry.FIELDS).id == fv.id
    assert "fields: run-1-fields" in screen.active_label.text()


def test_the_field_models_confidences_are_calibrated_on_what_the_ocr_read(project):
    """From CALIB_MIN_PAGES finished pages on, the saved field model carries a calibration fitted
    on the cross-validation folds' readings of each page *as pre-fill's OCR read it* (the page's
    prediction), not of the lines people corrected."""
    from ml.fields.model import CALIB_MIN_PAGES, FieldModel

    store = project.store
    store.set_fields(SCHEMA)
    n = CALIB_MIN_PAGES + 2
    ids = _pages(store, "c", n, seed=3)
    for i, page_id in enumerate(ids):   # the OCR misread every other page's order number
        people = [r.text for r in store.regions(page_id)]
        read = ["Ref X" + t[5:] if i % 2 and t.startswith("Ref ") else t for t in people]
        store.add_prediction(Prediction(page_id=page_id, engine="e", engine_version="1", config={}, config_hash="h",
                                        regions=tuple(PredictedRegion(_box(k), t, 0.9) for k, t in enumerate(read))))
    pages = tf.field_pages(store, SCHEMA)
    assert len(pages) == n and all(p.example.read is not None for p in pages)
    assert sum("Ref X" in " ".join(ln.text for ln in p.example.read.lines) for p in pages) == n // 2
    version, _ = datasets.create_version(store, project.root, "lead")
    run = runs.create(store, "lead", version.id, FAST)
    code, lines = _work(project, run.id)
    assert code == 0, lines[-3:]
    (fv,) = registry.of_run(store, run.id, registry.FIELDS)
    model = FieldModel.load(project.local(fv.path))
    cal = model.calibration
    assert cal is not None and cal.readings == n * len(SCHEMA)
    # half the order numbers the OCR gives are wrong, whatever the network says: the calibrated
    # confidence of an order number read well is far below its other fields'
    assert cal("order_number", 0.99, False) < cal("invoice_number", 0.99, False) - 0.1
