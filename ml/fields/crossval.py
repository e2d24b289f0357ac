"""K-fold cross-validation of the field model on a labelled folder (reference lines and fields).

    report = cross_validate(refs, schema, k=5)      # refs: ml.evaluate.load_reference_dir(...)

Pages are dealt into K folds by a seeded shuffle; each fold is scored by a model trained on the
other K-1, from the reference lines (the field model alone: ``--fields-given-lines``) or from
lines an engine read (``lines_for``: page -> FLines). The zero-shot rules are scored on the same
pages beside it. Qt-free.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Mapping, Sequence

from .extract import extract, page_of, scored_fields
from .lines import FLine, lines_from
from .model import Example, train
from .scoring import FieldScore
from .vocabulary import read_page


def reference_lines(ref: Mapping[str, Any]) -> list[FLine]:
    return lines_from((ln["box"], ln["text"]) for ln in ref.get("lines", []))


def folds(n: int, k: int, seed: int = 0) -> list[list[int]]:
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return [sorted(idx[i::k]) for i in range(k)]


def cross_validate(refs: Sequence[Mapping[str, Any]], schema: Sequence[str], k: int = 5, seed: int = 0,
                   lines_for: Callable[[Mapping[str, Any]], list[FLine]] | None = None,
                   progress: Callable[[str], None] | None = None, **train_kw: Any) -> dict[str, Any]:
    """Train on K-1 folds, score the K-th, for each fold; return the summed scores."""
    if k < 2 or k > len(refs):
        raise ValueError(f"--cv needs 2 <= K <= pages ({len(refs)}), not {k}")
    train_lines = [page_of(reference_lines(r), r["width"], r["height"]) for r in refs]
    test_lines = train_lines if lines_for is None else [page_of(lines_for(r), r["width"], r["height"]) for r in refs]
    train_scored = [scored_fields(p, schema) for p in train_lines]
    test_scored = train_scored if lines_for is None else [scored_fields(p, schema) for p in test_lines]
    learned, zero = FieldScore(), FieldScore()
    seconds, predict_s, n_pred = [], 0.0, 0
    misses: list[dict] = []
    for f, test in enumerate(folds(len(refs), k, seed)):
        train_idx = [i for i in range(len(refs)) if i not in set(test)]
        examples = [Example(train_lines[i], _truth(refs[i], schema), train_scored[i],
                            None if lines_for is None else test_lines[i], None if lines_for is None else test_scored[i])
                    for i in train_idx]
        model, stats = train(examples, schema, seed=seed, **train_kw)
        seconds.append(stats.seconds)
        for i in test:
            t0 = time.perf_counter()
            # an OCR's lines: read through the vocabulary of the training pages
            page = test_lines[i] if lines_for is None else read_page(test_lines[i], model)
            scored = scored_fields(page, schema) if page is not test_lines[i] else test_scored[i]
            vals = extract(page, schema, model, scored)
            predict_s += time.perf_counter() - t0
            n_pred += 1
            misses += [dict(m, page=refs[i].get("image"), fold=f)
                       for m in learned.add_page(vals, refs[i].get("fields") or {}, scored, schema)]
            zero.add_page(extract(test_lines[i], schema, scored=test_scored[i]), refs[i].get("fields") or {},
                          test_scored[i], schema)
        if progress:
            progress(f"fold {f + 1}/{k}: trained on {len(train_idx)} pages in {stats.seconds:.1f} s")
    return {"k": k, "seed": seed, "pages": len(refs), "learned": learned.summary(), "zero_shot": zero.summary(),
            "train_seconds": seconds, "predict_ms_per_page": 1000 * predict_s / max(1, n_pred), "misses": misses}


def _truth(ref: Mapping[str, Any], schema: Sequence[str]) -> dict[str, str | None]:
    """A labelled page's fields: every schema field, None where the page has none."""
    fields = ref.get("fields") or {}
    return {name: (str(fields[name]) if fields.get(name) not in (None, "") else None) for name in schema}
