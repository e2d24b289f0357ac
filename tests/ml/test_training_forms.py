"""A form project's labels learned by the training loop (issue 15): the regions people labelled
header / question / answer on finished pages train the form model (ml.training.forms) in a
fields run, judged by cross-validation against the zero-shot rules per form field, saved in the
fields version; promoted, pre-fill labels a new page's regions with it. Synthetic pages without
images: the run reads regions and labels, never pixels.

The forms here stack each answer under its question with no colon ("Name" / "Mary Dupont"): the
zero-shot rules call a label-like line with nothing beside it a question, so they read every
answer that is a person's name as a question; the project's own pages teach the model otherwise.
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
from ml.fields.prefill import FieldReader, active_form_model
from ml.training import fields as tf
from ml.training import forms as tforms
from ml.training import worker

SCHEMA = ["header", "question", "answer"]
FAST = {"train_ocr": False, "field_folds": 5}
QUESTIONS = ["Name", "Company", "City", "Phone", "Department", "Signature", "Approved by", "Project"]
FIRST = ["John", "Mary", "Peter", "Anna", "Luis", "Marta", "Karl", "Ines"]
LAST = ["Smith", "Berger", "Dupont", "Rossi", "Novak", "Meyer"]


def _form(rng: random.Random) -> list[tuple[tuple[int, int, int, int], str, str | None]]:
    """One form: a title, five questions each with its answer on the line below (box, text, label)."""
    out = [((300, 10, 700, 45), "APPLICATION FORM", "header")]
    y = 60
    for q in rng.sample(QUESTIONS, 5):
        out.append(((40, y, 40 + 12 * len(q), y + 25), q, "question"))
        y += 30
        a = (f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.6
             else f"{rng.randint(10, 99)} {rng.choice(LAST)} Street")
        out.append(((40, y, 40 + 12 * len(a), y + 25), a, "answer"))
        y += 45
    out.append(((40, 740, 200, 760), "Form 7/2", None))  # left unlabelled: other
    return out


def _add(store, name: str, regions, status=PageStatus.DONE, spell=str) -> int:
    doc = Document(name=name, sha256=f"sha-{name}", source=f"/src/{name}", kind="image", imported_at=now(),
                   imported_by="ana", batch="b1")
    store.add_document(doc, [Page(document_id=0, page_no=1, name=name, image_sha256=f"img-{name}", width=1000,
                                  height=800)])
    page_id = max(p.id for p in store.pages())
    for (x0, y0, x1, y1), text, label in regions:
        store.add_region("ana", page_id, [list(p) for p in box_to_quad(x0, y0, x1, y1)], text=text,
                         label=None if label is None else spell(label))
    store.set_page_status("ana", page_id, status)
    return page_id


def _reads(project, seed: int = 99) -> list[tuple[str, str | None, str | None]]:
    """(text, label pre-fill gives it, people's label) for a new form's predicted regions."""
    form = _form(random.Random(seed))
    regions = tuple(PredictedRegion(box_to_quad(*box), text, 0.9) for box, text, _ in form)
    page = Page(document_id=0, page_no=1, image_sha256="x", width=1000, height=800, id=1)
    pred = Prediction(page_id=1, engine="e", engine_version="1", config={}, config_hash="h", regions=regions)
    got = FieldReader.for_project(project).apply(pred, page)
    return [(r.text, r.label, want) for r, (_, _, want) in zip(got.regions, form)]


def _wrong_answers(reads) -> int:
    return sum(1 for _, got, want in reads if want == "answer" and got != "Answer" and got != "answer")


@pytest.fixture
def forms(project):
    store = project.store
    store.set_fields(SCHEMA)
    rng = random.Random(1)
    for i in range(10):
        _add(store, f"f{i}.png", _form(rng))
    version, _ = datasets.create_version(store, project.root, "lead")
    return project, version


def test_a_form_project_learns_its_labels_in_a_run_and_prefill_uses_them_once_promoted(forms):
    project, version = forms
    store = project.store
    before = _reads(project)
    assert _wrong_answers(before) >= 1          # the rules read a name under a label as a question

    # Form labels alone are enough for a run to train the fields unasked.
    assert tf.wanted(store, {"train_fields": None}) == (True, "10 finished pages have form fields labelled")
    run = runs.create(store, "lead", version.id, FAST)
    got: list[dict] = []
    assert worker.run(project.root, run.id, emit=got.append) == 0, got[-3:]
    (fv,) = registry.of_run(store, run.id, registry.FIELDS)
    m = fv.metrics
    assert m["eval"] == "cross-validation" and m["folds"] == 5 and m["pages"] == 10
    assert m["compared_with"] == "zero-shot rules" and set(m["per_field"]) == set(SCHEMA)
    # Regions counted: 5 answers a page, 50 in all; the rules read some as questions, the model does not.
    ans = m["per_field"]["answer"]
    assert ans["reference"] == 50 and ans["change"] == "gained" and ans["f1"] > ans["active_f1"]
    assert m["lost"] == [] and m["better"] is True and runs.get(store, run.id).verdict == runs.BETTER
    logged = [json.loads(ln) for ln in runs.get(store, run.id).log.splitlines() if '"type": "fields"' in ln]
    assert logged and "answer" in logged[0]["per_field"]
    from app.cli_training import field_report

    report = "\n".join(field_report(m))
    assert report.startswith("form fields, cross-validation (K=5) on 10 page(s)") and "typing saved" not in report
    folder = project.local(fv.path)
    listed = registry.verify_folder(folder)
    assert {"fields.npz", "entities.npz", "entities.json"} <= set(listed) and listed["fields.npz"] == fv.sha256

    assert active_form_model(project) == (None, None)   # not promoted yet: the rules
    assert main(["--user", "lead", "models", "promote", str(project.root), fv.name]) == 0
    reader = FieldReader.for_project(project)
    assert reader.version == fv.name and reader.forms is not None
    after = _reads(project)
    assert _wrong_answers(after) == 0
    assert all(got == want for _, got, want in after if want is not None)


def test_labels_count_in_any_spelling_and_other_labels_are_other(project):
    store = project.store
    store.set_fields(["Header", "Question", "Answer", "date"])
    pid = _add(store, "s.png", _form(random.Random(3)), spell=str.capitalize)
    store.update_region("ana", store.regions(pid)[-1].id, label="date")   # a key field's label: other to forms
    (page,) = tforms.form_pages(store, store.fields())
    assert page.page_id == pid and len(page.labels) == 12
    assert page.labels.count("question") == 5 == page.labels.count("answer") and page.labels[-1] == "other"
    assert tforms.form_names(store.fields()) == ["Header", "Question", "Answer"]
    assert tforms.count_form_pages(store, ["date"]) == 0


def test_an_unreadable_form_model_is_left_out_and_the_rules_label(forms, caplog):
    project, version = forms
    run = runs.create(project.store, "lead", version.id, FAST)
    assert worker.run(project.root, run.id, emit=lambda m: None) == 0
    (fv,) = registry.of_run(project.store, run.id, registry.FIELDS)
    registry.promote(project.store, "lead", fv)
    (project.local(fv.path) / "entities.npz").write_bytes(b"not a model")
    with caplog.at_level("WARNING"):
        reader = FieldReader.for_project(project)
    assert reader.forms is None and "form model run-1-fields not used" in caplog.text
    assert _wrong_answers(_reads(project)) >= 1           # the rules again; pre-fill goes on


def test_a_schema_with_key_and_form_fields_judges_both_in_one_version(project):
    store = project.store
    store.set_fields(["date", *SCHEMA])
    rng = random.Random(4)
    for i in range(6):
        form = _form(rng)
        day = f"0{1 + i}.03.2024"
        form.append(((600, 60, 800, 85), f"Date: {day}", None))
        pid = _add(store, f"k{i}.png", form)
        src = store.regions(pid)[-1].id
        store.set_page_field(pid, make_value("date", day, sources=(src,)), "ana")
    version, _ = datasets.create_version(store, project.root, "lead")
    run = runs.create(store, "lead", version.id, {**FAST, "field_epochs": 40})
    assert worker.run(project.root, run.id, emit=lambda m: None) == 0
    (fv,) = registry.of_run(store, run.id, registry.FIELDS)
    m = fv.metrics
    assert set(m["per_field"]) == {"date", *SCHEMA} and m["schema"] == ["date", *SCHEMA]
    assert m["per_field"]["date"]["reference"] == 6 and m["per_field"]["question"]["reference"] == 30
    assert registry.verify_folder(project.local(fv.path)).keys() >= {"fields.npz", "entities.npz"}


def _answer_f1(out: str) -> float:
    row = next(ln for ln in out.splitlines() if ln.startswith("| answer |"))
    return float(row.split("|")[2].strip().rstrip("%"))


def test_eval_scores_a_form_folder_with_the_projects_form_model(forms, tmp_path, capsys):
    project, version = forms
    folder = tmp_path / "held"
    folder.mkdir()
    for i in range(3):
        form = _form(random.Random(200 + i))
        lines = [{"box": [x0, y0, x1, y1], "text": t, "label": lab or "other"} for (x0, y0, x1, y1), t, lab in form]
        (folder / f"h{i}.json").write_text(json.dumps({"image": f"h{i}.png", "width": 1000, "height": 800,
                                                       "lines": lines}), encoding="utf-8")
    assert main(["eval", str(folder), "--fields", "header,question,answer", "--fields-given-lines"]) == 0
    rules_out = capsys.readouterr().out
    assert "form fields (zero-shot" in rules_out and "| question |" in rules_out
    run = runs.create(project.store, "lead", version.id, FAST)
    assert worker.run(project.root, run.id, emit=lambda m: None) == 0
    (fv,) = registry.of_run(project.store, run.id, registry.FIELDS)
    registry.promote(project.store, "lead", fv)
    assert main(["eval", str(folder), "--project", str(project.root), "--fields-given-lines"]) == 0
    learned_out = capsys.readouterr().out
    assert "form fields (learned" in learned_out and "key fields" not in learned_out
    assert _answer_f1(learned_out) == 100.0 > _answer_f1(rules_out)


def test_a_run_that_learns_only_the_key_fields_keeps_the_active_form_model(forms):
    project, version = forms
    store = project.store
    run = runs.create(store, "lead", version.id, FAST)
    assert worker.run(project.root, run.id, emit=lambda m: None) == 0
    (v1,) = registry.of_run(store, run.id, registry.FIELDS)
    registry.promote(store, "lead", v1)
    # The schema gains a key field; its pages have no form labels: the next run learns the date only.
    store.set_fields(["date", *SCHEMA])
    for pid in [p.id for p in store.pages()]:
        store.set_page_status("ana", pid, PageStatus.IN_PROGRESS)
    for i in range(6):
        day = f"0{1 + i}.03.2024"
        pid = _add(store, f"d{i}.png", [((600, 60, 800, 85), f"Date: {day}", None)])
        store.set_page_field(pid, make_value("date", day, sources=(store.regions(pid)[0].id,)), "ana")
    second = runs.create(store, "lead", version.id, {**FAST, "field_epochs": 40})
    assert worker.run(project.root, second.id, emit=lambda m: None) == 0
    (v2,) = registry.of_run(store, second.id, registry.FIELDS)
    assert set(v2.metrics["per_field"]) == {"date"}
    registry.promote(store, "lead", v2)
    reader = FieldReader.for_project(project)
    assert reader.version == v2.name and reader.forms is not None and reader.model.knows("date")
    assert _wrong_answers(_reads(project)) == 0


def test_the_judging_split_is_folds_while_pages_are_few_then_the_validation_pages():
    from core.errors import ProofdeskError

    params = {"seed": 0, "field_folds": 5, "field_cv_pages": 6}
    method, parts = tf.judging_split(["a", "b", "c"], params, None, "form fields labelled")
    assert method == "cross-validation" and sorted(i for p in parts for i in p) == [0, 1, 2] and len(parts) == 3
    images = [f"img{i}" for i in range(10)]
    assert tf.judging_split(images, params, {"img3", "img7"}, "x") == ("validation pages", [[3, 7]])
    method, (val,) = tf.judging_split(images, params, {"elsewhere"}, "x")
    assert method == "validation pages" and len(val) == 2            # no split to go by: a seeded fifth
    with pytest.raises(ProofdeskError, match="1 finished page.s. have form fields labelled"):
        tf.judging_split(["a"], params, None, "form fields labelled")


def test_a_form_model_is_judged_on_the_validation_pages_once_they_are_many(forms):
    project, version = forms
    pages = tforms.form_pages(project.store, SCHEMA)
    params = {"seed": 0, "field_folds": 5, "field_cv_pages": 5}
    model, m = tforms.evaluate(pages, SCHEMA, None, "zero-shot rules", params, {pages[0].image_sha256})
    assert m.method == "validation pages" and (m.eval_pages, m.train_pages) == (1, 9)
    assert m.new["per_field"]["answer"]["reference"] == 5 and model.meta["trained_pages"] == 9


def test_counts_come_back_from_their_summary_when_two_kinds_of_figures_are_merged():
    from ml.fields.scoring import FieldCounts

    c = FieldCounts(right=3, predicted=4, reference=7, reachable=6, chars=20, edits=5)
    assert FieldCounts.from_summary(c.summary()) == c
