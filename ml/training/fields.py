"""A run's key-field stage: learn the field model from the finished pages, judge it, write its version folder.

The data: every page done or approved with at least one field value people left (a row of
``page_fields``). Its lines are its regions (not deleted, with text), its truth its field rows:
``{name: text}`` for a value, ``None`` for a field marked absent; a field without a row says
nothing about that page and is left out of its truth (not trained on, not scored).

The judgement (docs/training.md, "Key fields"): while the pages are fewer than
``field_cv_pages``, K-fold cross-validation (``field_folds``; K = the pages when they are fewer):
each fold is read by a model trained on the other folds and by the model the run is compared
with (the active field model, else the zero-shot rules), scored field by field as SROIE task 3
counts (:class:`ml.fields.scoring.FieldScore`). From ``field_cv_pages`` pages on, the dataset
version's validation pages judge a model trained on the others. The model saved is trained on
every page (cross-validation) or on the training pages.

A field the zero-shot rules read right on more of the held-out pages than its network, by more
than chance explains (``ml.fields.model.rules_read_better``: the folds' readings, or the model's
own inner folds on validation pages), is left to the rules in the model saved and in every fold
judged: the run is judged on what it would give, and does not lose a field the rules read better
(before, a run that gained five invoice fields lost due_date and was never better).

:func:`judge` is the rule: a field is *lost* when its F1 falls by more than its noise, *gained*
when it rises by more; the run's field model is better when it loses no field and its overall F1
is higher. The noise of a field is the larger of one page's worth of F1 (``2 / (predicted +
reference)`` of the compared model: one page read right or wrong moves F1 by that much) and the
binomial standard error of the compared model's F1 over the field's reference values
(``sqrt(F1 (1 - F1) / reference)``).

The OCR's judgement uses the same rule from the other side (``ml.training.worker._end_to_end``):
the fields pre-fill would read from each OCR model's regions on the validation pages with field
values (:func:`score_read_page`), per field by :func:`judge` and overall by :func:`change_of`;
``core.runs.ocr_better`` says no to an OCR model that loses a field or overall F1 beyond its noise.

The version folder (``models/run-N-fields/``): ``fields.json`` + ``fields.npz``
(``FieldModel.save``) and a ``model.json`` that says what it is and lists the other two with their
sha256 (``core.registry.write_manifest``); its sha256 in the registry is ``fields.npz``'s.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from core import registry
from core.errors import ProofdeskError

#: Pages done or approved with field values a run needs before it trains the fields unasked.
MIN_FIELD_PAGES = 5
FINISHED = ("done", "approved")


@dataclass
class FieldPage:
    """One finished page as field training data."""

    page_id: int
    image_sha256: str
    example: Any  # ml.fields.model.Example


def finished_pages(store):
    """The pages people finished (done or approved, :data:`FINISHED`), by status: an auto-accepted
    page nobody reviewed is the machine's own reading and teaches nothing (``Page.confirmed``)."""
    for status in FINISHED:
        for page in store.pages(status):
            if page.confirmed:
                yield page


def field_pages(store, schema: Sequence[str]) -> list[FieldPage]:
    """The finished pages with at least one field value of ``schema``, by page id."""
    from ml.fields.extract import scored_fields
    from ml.fields.model import Example
    from ml.fields.prefill import regions_page

    out = []
    for page in finished_pages(store):
        truth = truth_of(store.page_fields(page.id), schema)
        if not truth:
            continue
        regions = [r for r in store.regions(page.id) if (r.text or "").strip()]
        fpage = regions_page(regions, page.width, page.height)
        read = next((regions_page(p.regions, page.width, page.height) for p in reversed(store.predictions(page.id))
                     if p.regions), None)   # what pre-fill read: the confidences are calibrated on it
        out.append(FieldPage(page.id, page.image_sha256, Example(fpage, truth, scored_fields(fpage, schema), read,
                                                                 None if read is None else scored_fields(read, schema))))
    return sorted(out, key=lambda p: p.page_id)


def truths_of_images(store, image_shas, schema: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """The people's field values (:func:`truth_of`) of the finished pages whose image is one of
    ``image_shas``, by image sha256 (an image on two pages: the first page with values); images
    without such a page are left out. Cheap: no regions read (the OCR's validation pages)."""
    wanted_shas, out = set(image_shas), {}
    if not schema or not wanted_shas:
        return out
    for page in finished_pages(store):
        if page.image_sha256 in wanted_shas and page.image_sha256 not in out:
            truth = truth_of(store.page_fields(page.id), schema)
            if truth:
                out[page.image_sha256] = truth
    return out


def truth_of(rows, schema: Sequence[str]) -> dict[str, str | None]:
    """A page's field rows as training truth: the text of a value, None for a field marked
    absent; fields outside the schema, and values with no text, are left out."""
    out: dict[str, str | None] = {}
    for f in rows:
        if f.name not in schema:
            continue
        if f.value.absent:
            out[f.name] = None
        elif (f.value.text or "").strip():
            out[f.name] = f.value.text
    return out


def count_field_pages(store) -> int:
    """Finished pages with at least one field row (cheap: no regions read)."""
    return sum(1 for page in finished_pages(store) if store.page_fields(page.id))


def wanted(store, params: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a run trains the fields, and why: the ``train_fields`` parameter when it is set,
    else whether the project's schema is non-empty and :data:`MIN_FIELD_PAGES` finished pages
    have field values."""
    if params.get("train_fields") is not None:
        return bool(params["train_fields"]), "train_fields is " + ("true" if params["train_fields"] else "false")
    schema = list(store.fields())
    if not schema:
        return False, "the project has no fields"
    n = count_field_pages(store)
    if n >= MIN_FIELD_PAGES:
        return True, f"{n} finished pages have field values"
    from .forms import count_form_pages, form_names

    if form_names(schema):
        forms = count_form_pages(store, schema)
        if forms >= MIN_FIELD_PAGES:
            return True, f"{forms} finished pages have form fields labelled"
        return False, (f"{n} finished page(s) have field values and {forms} form fields labelled, "
                       f"fewer than {MIN_FIELD_PAGES}")
    return False, f"{n} finished page(s) have field values, fewer than {MIN_FIELD_PAGES}"


def resolve_for_project(store, params: dict) -> dict:
    """``params`` with ``train_fields`` decided for this project when it was left to it (what the
    CLI and the Training screen record in a new run)."""
    if params.get("train_fields") is None:
        params = {**params, "train_fields": wanted(store, params)[0]}
    return params


# -- the judgement ---------------------------------------------------------------------------------
GAINED, LOST, SAME = "gained", "lost", "same"


def _f1(s: Mapping[str, Any]) -> float:
    """A field's F1; a field nobody had and nothing claimed (no predicted, no reference) is perfect."""
    return 1.0 if s.get("f1") is None else float(s["f1"])


def noise(compared: Mapping[str, Any]) -> float:
    """How far a field's F1 moves by chance (module docstring): the larger of one page's worth
    and the binomial standard error of the compared model's F1."""
    f1 = _f1(compared)
    page_worth = 2.0 / max(1, int(compared.get("predicted") or 0) + int(compared.get("reference") or 0))
    ref = int(compared.get("reference") or 0)
    se = math.sqrt(f1 * (1.0 - f1) / ref) if ref else 0.0
    return max(page_worth, se)


@dataclass
class FieldChange:
    f1: float | None
    active_f1: float | None
    noise: float
    change: str  # gained / lost / same


@dataclass
class FieldVerdict:
    better: bool
    gained: list[str]
    lost: list[str]
    per_field: dict[str, FieldChange]


def change_of(new: Mapping[str, Any], old: Mapping[str, Any]) -> FieldChange:
    """One F1 (a field's counts, or the overall ones, of a ``FieldScore.summary()``) of ``new``
    against ``old``'s: gained when it rises by more than :func:`noise` of ``old``, lost when it
    falls by more, else the same. (The noise is kept to 4 places; the comparison uses it whole.)"""
    n = noise(old)
    d = _f1(new) - _f1(old)
    return FieldChange(new.get("f1"), old.get("f1"), round(n, 4), GAINED if d > n else LOST if d < -n else SAME)


def judge(new: Mapping[str, Any], old: Mapping[str, Any]) -> FieldVerdict:
    """Compare two ``FieldScore.summary()`` of the same pages: ``new`` (the run's model), ``old``
    (the model it is compared with). Better: no field lost beyond its noise, overall F1 higher."""
    per: dict[str, FieldChange] = {}
    for name in list(dict.fromkeys([*old["per_field"], *new["per_field"]])):
        per[name] = change_of(new["per_field"].get(name) or {}, old["per_field"].get(name) or {})
    lost = [k for k, c in per.items() if c.change == LOST]
    gained = [k for k, c in per.items() if c.change == GAINED]
    better = not lost and _f1(new["overall"]) > _f1(old["overall"])
    return FieldVerdict(better, gained, lost, per)


# -- evaluation ------------------------------------------------------------------------------------
@dataclass
class FieldMetrics:
    """A field model version's figures (the registry's metrics of a ``fields`` version)."""

    method: str  # "cross-validation" or "validation pages"
    folds: int | None
    pages: int  # pages with field values
    eval_pages: int  # pages scored
    train_pages: int  # pages the saved model was trained on
    compared_with: str
    new: dict  # FieldScore.summary() of the run's model
    old: dict  # ... of the compared model
    verdict: FieldVerdict
    train_seconds: float
    data_hash: str
    schema: list[str]
    epochs: int
    #: The fields the saved model leaves to the zero-shot rules, which read them better on pages
    #: its networks did not learn from (``ml.fields.model.rules_read_better``).
    rules_read: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        per = {}
        for name, c in self.verdict.per_field.items():
            a = self.new["per_field"].get(name) or {}
            b = self.old["per_field"].get(name) or {}
            per[name] = {"f1": a.get("f1"), "precision": a.get("precision"), "recall": a.get("recall"),
                         "typing_saved": a.get("typing_saved"), "right": a.get("right"),
                         "predicted": a.get("predicted"), "reference": a.get("reference"),
                         "active_f1": b.get("f1"), "active_typing_saved": b.get("typing_saved"),
                         "noise": c.noise, "change": c.change, "by_rules": name in self.rules_read}
        return {"task": registry.FIELDS, "eval": self.method, "folds": self.folds, "pages": self.pages,
                "eval_pages": self.eval_pages, "train_pages": self.train_pages, "compared_with": self.compared_with,
                "f1": self.new["overall"]["f1"], "active_f1": self.old["overall"]["f1"],
                "typing_saved": self.new["overall"]["typing_saved"],
                "active_typing_saved": self.old["overall"]["typing_saved"],
                "per_field": per, "gained": list(self.verdict.gained), "lost": list(self.verdict.lost),
                "better": self.verdict.better, "train_seconds": round(self.train_seconds, 2),
                "data_hash": self.data_hash, "schema": list(self.schema), "epochs": self.epochs,
                "rules_read": list(self.rules_read)}


def data_hash(pages: Sequence[FieldPage]) -> str:
    """sha256 of what the field model learns from: each page's image, lines and truth."""
    h = hashlib.sha256()
    for p in pages:
        ex = p.example
        h.update(json.dumps([p.image_sha256, [ln.text for ln in ex.page.lines], sorted(ex.fields.items(),
                             key=lambda kv: kv[0])], ensure_ascii=False).encode())
    return h.hexdigest()


def _score(pages: Sequence[FieldPage], idx: Sequence[int], schema: Sequence[str], model, into) -> None:
    from ml.fields.extract import extract

    for i in idx:
        ex = pages[i].example
        names = [n for n in schema if n in ex.fields]
        into.add_page(extract(ex.page, schema, model), ex.fields, ex.scored, names)


def score_read_page(into, regions, width: float, height: float, schema: Sequence[str],
                    truth: Mapping[str, str | None], model) -> None:
    """Count into ``into`` (a ``FieldScore``) the fields read from one page's OCR: ``regions``
    (anything with ``points`` and ``text``: an engine's predicted regions) made a field page as
    pre-fill makes one (``ml.fields.prefill.regions_page``), read with ``model`` (None: the
    zero-shot rules) and scored against ``truth`` (:func:`truth_of`), on the fields it has, as
    :func:`_score` scores the people's own lines."""
    from ml.fields import extract, scored_fields
    from ml.fields.prefill import regions_page

    page = regions_page(regions, width, height, model)      # an OCR's regions: through the model's vocabulary
    scored = scored_fields(page, schema)
    into.add_page(extract(page, schema, model, scored), truth, scored, [n for n in schema if n in truth])


def judging_split(images: Sequence[str], params: Mapping, val_images: set[str] | None, what: str
                  ) -> tuple[str, list[list[int]]]:
    """How a run judges a model learned from pages (one image sha256 each; module docstring):
    ``("cross-validation", folds)`` while they are fewer than ``field_cv_pages`` (K =
    ``field_folds``, at most the pages; refused under 2, ``what`` saying what they have), else
    ``("validation pages", [their indexes])``: the dataset version's validation images, or a
    seeded fifth when none of the pages is one."""
    from ml.fields.crossval import folds as deal

    n, seed = len(images), int(params["seed"])
    if n < int(params["field_cv_pages"]):
        if n < 2:
            raise ProofdeskError(f"{n} finished page(s) have {what}: the model needs at least 2 to be judged "
                                 "(cross-validation)")
        return "cross-validation", deal(n, min(int(params["field_folds"]), n), seed)
    val = [i for i, sha in enumerate(images) if val_images and sha in val_images]
    if not val:  # no dataset split to go by: a seeded fifth
        val = sorted(random.Random(seed).sample(range(n), max(1, n // 5)))
    return "validation pages", [val]


def evaluate(pages: Sequence[FieldPage], schema: Sequence[str], compared, compared_name: str, params: Mapping,
             val_images: set[str] | None = None, progress: Callable[[int, int], None] | None = None,
             check: Callable[[], None] = lambda: None):
    """Judge and train: returns ``(FieldModel, FieldMetrics)`` (module docstring)."""
    from ml.fields.model import CALIB_MIN_PAGES, fit_calibration, readings_of, rules_read_better, train
    from ml.fields.scoring import FieldScore

    n = len(pages)
    seed, epochs = int(params["seed"]), int(params["field_epochs"])
    examples = [p.example for p in pages]
    new, old = FieldScore(), FieldScore()
    t0 = time.perf_counter()
    method, parts = judging_split([p.image_sha256 for p in pages], params, val_images, "field values")
    if method == "cross-validation":
        k = len(parts)
        # The folds' readings of pages they did not learn: the confidences' calibration, and which
        # fields the rules read better than a network (``rules_read_better``).
        readings: list = []
        models = []
        for f, test in enumerate(parts):
            check()
            held = set(test)
            model, _ = train([examples[i] for i in range(n) if i not in held], schema, epochs=epochs, seed=seed,
                             calibrate=False)
            models.append(model)
            readings += readings_of(model, [examples[i] for i in test], schema)
            _score(pages, test, schema, compared, old)
            if progress:
                progress(f + 1, k + 1)
        # The fields the rules read better on the folds' held-out pages are read by the rules in
        # every fold's model as in the model saved: the judgement scores what the run would give.
        rules = rules_read_better(readings)
        for model, test in zip(models, parts):
            model.meta["rules_read"] = rules
            _score(pages, test, schema, model, new)
        check()
        final, _ = train(examples, schema, epochs=epochs, seed=seed, calibrate=False)
        final.meta["rules_read"] = rules
        if n >= CALIB_MIN_PAGES:
            final.calibration = fit_calibration([r for r in readings if r.field not in rules])
        folds_used, train_n, eval_n = k, n, n
    else:
        val = parts[0]
        held = set(val)
        final, _ = train([examples[i] for i in range(n) if i not in held], schema, epochs=epochs, seed=seed)
        check()
        _score(pages, val, schema, final, new)
        _score(pages, val, schema, compared, old)
        folds_used, train_n, eval_n = None, n - len(val), len(val)
    if progress:
        progress(1, 1)
    seconds = time.perf_counter() - t0
    new_s, old_s = new.summary(), old.summary()
    metrics = FieldMetrics(method, folds_used, n, eval_n, train_n, compared_name, new_s, old_s, judge(new_s, old_s),
                           seconds, data_hash(pages), list(schema), epochs, list(final.meta.get("rules_read") or []))
    return final, metrics


@dataclass
class FieldResult:
    """What the field stage made: the version folder (written, listed, not yet registered)."""

    name: str
    path: str  # relative to the project
    sha256: str  # of fields.npz
    metrics: FieldMetrics
    parent_id: int | None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def merged(a: FieldMetrics | None, b: FieldMetrics | None) -> FieldMetrics:
    """One version's figures from its key fields' (``a``) and its form fields' (``b``, regions
    counted: ``ml.training.forms``): the fields side by side, the overall counts summed, judged
    again as a whole. Either may be None (not trained), not both."""
    if a is None or b is None:
        got = a if b is None else b
        if got is None:
            raise ValueError("no figures to merge")
        return got
    from ml.fields.scoring import FieldCounts

    def both(x: Mapping[str, Any], y: Mapping[str, Any]) -> dict[str, Any]:
        total = FieldCounts.from_summary(x["overall"])
        total.add(FieldCounts.from_summary(y["overall"]))
        return {"overall": total.summary(), "per_field": {**x["per_field"], **y["per_field"]},
                "reliability": x.get("reliability")}

    new, old = both(a.new, b.new), both(a.old, b.old)
    method = a.method if a.method == b.method else f"{a.method}; form fields: {b.method}"
    return FieldMetrics(method, a.folds if a.folds == b.folds else a.folds or b.folds, max(a.pages, b.pages),
                        max(a.eval_pages, b.eval_pages), max(a.train_pages, b.train_pages), a.compared_with, new, old,
                        judge(new, old), a.train_seconds + b.train_seconds,
                        hashlib.sha256((a.data_hash + b.data_hash).encode()).hexdigest(), [*a.schema, *b.schema],
                        a.epochs, [*a.rules_read, *b.rules_read])


def write_version(folder: Path, model, run_id: int, params: Mapping, metrics: FieldMetrics, compared: str,
                  forms=None) -> str:
    """``FieldModel.save`` (``model`` None: one that knows no key field, so pre-fill's rules read
    them), the form model's ``EntityModel.save`` when ``forms`` is one, and ``model.json``
    listing the files (``registry.write_manifest``); returns the sha256 of ``fields.npz``."""
    import shutil

    if folder.exists():
        shutil.rmtree(folder)  # a half-written folder of an earlier attempt of this run (never registered)
    if model is None:
        from ml.fields.model import FieldModel

        model = FieldModel({}, {"schema": []})
    model.save(folder)
    if forms is not None:
        forms.save(folder)
    doc = {"id": folder.name, "task": registry.FIELDS, "format": "proofdesk-fields",
           "source": f"trained by Proofdesk run {run_id} on {metrics.train_pages} finished page(s) "
                     f"(data {metrics.data_hash[:12]}); compared with {compared}",
           "training": {"run": run_id, "params": dict(params), "schema": list(metrics.schema)}}
    (folder / registry.MODEL_JSON).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    listed = registry.write_manifest(folder)
    return listed[registry.MAIN_FILE[registry.FIELDS]]


def summary_line(metrics: FieldMetrics) -> dict[str, Any]:
    """The ``fields`` JSON line of a run's log (what it gained and lost per field)."""
    d = metrics.to_dict()
    return {"eval": d["eval"], "folds": d["folds"], "pages": d["pages"], "eval_pages": d["eval_pages"],
            "compared_with": d["compared_with"],
            "f1": d["f1"], "active_f1": d["active_f1"], "typing_saved": d["typing_saved"],
            "active_typing_saved": d["active_typing_saved"],
            "per_field": {k: {"f1": v["f1"], "active_f1": v["active_f1"], "noise": v["noise"], "change": v["change"],
                              "by_rules": v["by_rules"]} for k, v in d["per_field"].items()},
            "gained": d["gained"], "lost": d["lost"], "better": d["better"], "train_seconds": d["train_seconds"],
            "rules_read": d["rules_read"]}


__all__ = ["MIN_FIELD_PAGES", "FieldChange", "FieldPage", "FieldMetrics", "FieldResult", "FieldVerdict",
           "change_of", "evaluate", "field_pages", "judge", "merged", "noise", "resolve_for_project", "score_read_page",
           "summary_line", "truth_of", "truths_of_images", "wanted", "write_version"]
