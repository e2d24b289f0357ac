"""Field evaluation over a labelled folder: the field model alone on the reference lines
(``eval --fields-given-lines``), and the per-page hook ``ml.evaluate`` uses end to end.

Scored as SROIE task 3 (``ml.fields.scoring``). ``cv=K`` adds K-fold cross-validation of the
learned model (trained on K-1 folds of the folder's own labels, scored on the K-th). Qt-free.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from .crossval import cross_validate, reference_lines
from .extract import extract, page_of, scored_fields
from .lines import FLine
from .scoring import FieldScore, infer_schema
from .vocabulary import read_lines


def model_label(model) -> str:
    """What a report calls the field reader: the model's name, "learned", or "zero-shot"."""
    if model is None:
        return "zero-shot"
    return model.meta.get("name") or "learned"


class FieldEval:
    """Scores one folder's pages as they come: what the field reader made of some lines."""

    def __init__(self, schema: Sequence[str], model=None, ocr: bool = False):
        self.schema = list(schema)
        self.model = model
        #: The lines added are an OCR's: read through the model's vocabulary (ml.fields.vocabulary).
        self.ocr = ocr
        self.score = FieldScore()
        self.seconds = 0.0
        self.pages = 0
        self.misses: list[dict] = []

    def add(self, ref: Mapping[str, Any], lines: Sequence[FLine]) -> None:
        if self.ocr:
            lines = read_lines(lines, self.model)
        page = page_of(lines, ref["width"], ref["height"])
        t0 = time.perf_counter()
        scored = scored_fields(page, self.schema)
        values = extract(page, self.schema, self.model, scored)
        self.seconds += time.perf_counter() - t0
        self.pages += 1
        misses = self.score.add_page(values, ref.get("fields") or {}, scored, self.schema)
        self.misses += [dict(m, page=ref.get("image")) for m in misses]

    def report(self) -> dict[str, Any]:
        out = self.score.summary()
        out["ms_per_page"] = 1000 * self.seconds / max(1, self.pages)
        out["misses"] = self.misses
        return out


def evaluate_fields(refs: Sequence[Mapping[str, Any]], schema: Sequence[str] | None = None, model=None,
                    cv: int | None = None, seed: int = 0, lines_for=None, progress=None) -> dict[str, Any]:
    """The field figures of a folder from its reference lines (or ``lines_for(ref)``)."""
    names = list(schema) if schema else infer_schema(refs)
    if not names:
        raise ValueError("the folder's reference files have no fields to score")
    get = lines_for or reference_lines
    ev = FieldEval(names, model, ocr=lines_for is not None)
    for ref in refs:
        ev.add(ref, get(ref))
    out: dict[str, Any] = {"schema": names, "model": model_label(model),
                           "lines": "reference" if lines_for is None else "engine", **ev.report()}
    if cv:
        out["cv"] = cross_validate(refs, names, k=cv, seed=seed, lines_for=lines_for, progress=progress)
    return out
