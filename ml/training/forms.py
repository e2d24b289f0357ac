"""A run's form stage: learn the labels of a form's regions (header / question / answer) from the finished pages.

A form's fields are many-valued (``core.fields.many_valued``): people label each region of a page
header, question or answer (or leave it unlabelled: other), and pre-fill labels a new page's
regions the same way (``ml.fields.prefill.label_regions``): with the zero-shot rules
(``ml.fields.entities.rules``) until a run learns the project's own forms. This stage learns
:class:`ml.fields.entities.EntityModel` (a small network over each region's text, position and
neighbours) from every page done or approved that has at least one region labelled with one of
the schema's form fields: its units are the page's regions (not deleted, with text), each one's
truth its label (another label, or none: ``other``).

It is judged as the key fields are (``ml.training.fields``): K-fold cross-validation while the
pages are fewer than ``field_cv_pages`` (the dataset version's validation pages from there on),
each fold read by a model trained on the others and by the model the run is compared with (the
active field version's form model, else the rules), on the people's own regions. A form field's
figures count regions: predicted = the regions read with that label, reference = the regions
people gave it, right = both; precision, recall and F1 as for a key field, in the same summary
(``FieldScore.summary()``'s shape) so :func:`ml.training.fields.judge` says gained / lost / same
per form field and the run's record lists them beside the key fields. The model is saved in the
fields version folder (``entities.json`` + ``entities.npz``) beside the key-field model.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .fields import FieldMetrics, finished_pages, judge, judging_split


@dataclass
class FormPage:
    """One finished form page as training data: its regions as units and one label each."""

    page_id: int
    image_sha256: str
    page: Any  # ml.fields.lines.Page (units, with .sources)
    labels: list[str]  # ml.fields.entities.LABELS, one per unit


def _label_of(label: str | None, names: frozenset[str]) -> str:
    """A region's label as the form model's: header / question / answer when it is one of the
    schema's form fields (any spelling), else other."""
    lab = (label or "").strip().lower()
    return lab if lab in names else "other"


def _names(schema: Sequence[str]) -> frozenset[str]:
    """The schema's form fields the model knows, lower-cased (its labels)."""
    from ml.fields.entities import SCHEMA

    return frozenset(n.strip().lower() for n in schema) & frozenset(SCHEMA)


def form_names(schema: Sequence[str]) -> list[str]:
    """The schema's form fields this stage learns (header, question, answer; the schema's spelling)."""
    known = _names(schema)
    return [n for n in schema if n.strip().lower() in known]


def _labelled(store, names: frozenset[str]):
    """(page, its regions with text) of each finished page with a region labelled one of ``names``."""
    for page in finished_pages(store):
        regions = [r for r in store.regions(page.id) if (r.text or "").strip()]
        if any(_label_of(r.label, names) != "other" for r in regions):
            yield page, regions


def form_pages(store, schema: Sequence[str]) -> list[FormPage]:
    """The finished pages with at least one region labelled with a form field of ``schema``, by page id."""
    from ml.fields.prefill import regions_units

    names = _names(schema)
    out: list[FormPage] = []
    for page, regions in _labelled(store, names) if names else ():
        units = regions_units(regions, page.width, page.height)
        labels = [_label_of(regions[units.sources[u.index][0]].label, names) for u in units.lines]
        out.append(FormPage(page.id, page.image_sha256, units, labels))
    return sorted(out, key=lambda p: p.page_id)


def count_form_pages(store, schema: Sequence[str]) -> int:
    """Finished pages with at least one region labelled with a form field of ``schema``."""
    names = _names(schema)
    return sum(1 for _ in _labelled(store, names)) if names else 0


def score(pages: Sequence[FormPage], idx: Sequence[int], fields: Sequence[str], model, into: dict) -> None:
    """Count into ``into`` ({field: FieldCounts}) the regions of pages ``idx`` read by ``model``
    (None: the rules) against people's labels, per form field."""
    from ml.fields.entities import read_labels
    from ml.fields.scoring import FieldCounts

    for i in idx:
        got = read_labels(pages[i].page, model)
        for name in fields:
            lab = name.strip().lower()
            c = into.setdefault(name, FieldCounts())
            for p, t in zip(got, pages[i].labels):
                c.predicted += int(p == lab)
                c.reference += int(t == lab)
                c.right += int(p == t == lab)
                c.reachable += int(t == lab)   # a region is its own value: every one can be read


def summary_of(counts: Mapping[str, Any]) -> dict[str, Any]:
    """{field: FieldCounts} as a ``FieldScore.summary()``."""
    from ml.fields.scoring import FieldCounts

    total = FieldCounts()
    for c in counts.values():
        total.add(c)
    return {"overall": total.summary(), "per_field": {k: c.summary() for k, c in counts.items()}, "reliability": None}


def data_hash(pages: Sequence[FormPage]) -> str:
    """sha256 of what the form model learns from: each page's image, units and labels."""
    h = hashlib.sha256()
    for p in pages:
        h.update(json.dumps([p.image_sha256, [u.text for u in p.page.lines], p.labels], ensure_ascii=False).encode())
    return h.hexdigest()


def evaluate(pages: Sequence[FormPage], schema: Sequence[str], compared, compared_name: str, params: Mapping,
             val_images: set[str] | None = None, progress: Callable[[int, int], None] | None = None,
             check: Callable[[], None] = lambda: None):
    """Judge and train the form model: returns ``(EntityModel, FieldMetrics)`` (module docstring)."""
    from ml.fields.entities import train

    fields = form_names(schema)
    n, seed = len(pages), int(params["seed"])
    new: dict = {}
    old: dict = {}

    def fit(idx):
        return train([(pages[i].page, pages[i].labels) for i in idx], seed=seed)[0]

    t0 = time.perf_counter()
    method, parts = judging_split([p.image_sha256 for p in pages], params, val_images, "form fields labelled")
    if method == "cross-validation":
        k = len(parts)
        for f, test in enumerate(parts):
            check()
            held = set(test)
            model = fit([i for i in range(n) if i not in held])
            score(pages, test, fields, model, new)
            score(pages, test, fields, compared, old)
            if progress:
                progress(f + 1, k + 1)
        check()
        final = fit(range(n))
        folds_used, train_n, eval_n = k, n, n
    else:
        val = parts[0]
        held = set(val)
        final = fit([i for i in range(n) if i not in held])
        check()
        score(pages, val, fields, final, new)
        score(pages, val, fields, compared, old)
        folds_used, train_n, eval_n = None, n - len(val), len(val)
    if progress:
        progress(1, 1)
    new_s, old_s = summary_of(new), summary_of(old)
    metrics = FieldMetrics(method, folds_used, n, eval_n, train_n, compared_name, new_s, old_s, judge(new_s, old_s),
                           time.perf_counter() - t0, data_hash(pages), list(fields), int(final.meta.get("epochs", 0)))
    return final, metrics


__all__ = ["FormPage", "count_form_pages", "data_hash", "evaluate", "form_names", "form_pages", "score",
           "summary_of"]
