"""Predict a page's fields from its lines: zero-shot rules, or a learned model when there is one.

    page = page_of(lines, width, height)
    values = extract(page, ["company", "date", "address", "total"], model=None)

Shared per page: the candidates of each type and their features; per field: its keyword
features, the zero-shot score, and (with a model) the model's score. The best candidate wins
unless the field is more likely absent. Qt-free; about 5-30 ms a page on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.fields import FieldValue, field_type

from . import zeroshot
from .candidates import Cand, base_features, context_words, field_features, generate, neighbours
from .lines import FLine, Page


@dataclass
class Scored:
    """One field's candidates with everything a model (or its trainer) reads."""

    name: str
    cands: list[Cand]
    X: np.ndarray          # base + field features + zero-shot score, one row per candidate
    zero: np.ndarray       # zero-shot scores
    threshold: float
    #: Per candidate, the words around it: (before it in its line, the line to its left, the line
    #: above), case-folded; a learned model's own vocabulary is looked up in them.
    contexts: list[tuple[frozenset, frozenset, frozenset]] | None = None


def page_of(lines: Sequence[FLine], width: float, height: float) -> Page:
    return Page(lines, width, height)


def scored_fields(page: Page, schema: Sequence[str]) -> list[Scored]:
    """Candidates and features for every field of the schema."""
    above, left, above2 = neighbours(page)
    by_kind: dict[str, tuple[list[Cand], np.ndarray]] = {}
    ctx_of: dict[str, list] = {}
    out = []
    for name in schema:
        kind = field_type(name)
        if kind not in by_kind:
            cands = generate(page, kind)
            by_kind[kind] = (cands, base_features(page, cands, above, left))
            ctx_of[kind] = [context_words(page, c, above, left) for c in cands]
        cands, base = by_kind[kind]
        own = field_features(name, schema, page, cands, above, left, above2)
        zero, thr = zeroshot.score(name, cands, base, own)
        X = np.concatenate([base, own, (zero - thr)[:, None].astype(np.float32)], axis=1) if cands else \
            np.zeros((0, base.shape[1] + own.shape[1] + 1), np.float32)
        out.append(Scored(name, cands, X, np.asarray(zero, np.float32), float(thr), ctx_of[kind]))
    return out


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _value(page: Page, s: Scored, i: int, confidence: float) -> FieldValue:
    c = s.cands[i]
    sources = tuple(page.lines[k].index for k in c.lines)
    span = (c.start, c.end) if len(c.lines) == 1 else None
    return FieldValue(name=s.name, text=c.text, value=c.value, currency=c.currency,
                      confidence=round(confidence, 4), sources=sources, span=span)


def extract(page: Page, schema: Sequence[str], model=None, scored: Sequence[Scored] | None = None) -> list[FieldValue]:
    """One FieldValue per field of the schema (absent ones say so), in schema order. ``scored``: the
    page's :func:`scored_fields` for this schema when the caller has them already."""
    out = []
    for s in scored if scored is not None else scored_fields(page, schema):
        if model is not None and model.knows(s.name):
            probs, p_absent = model.probabilities(s)
            if len(probs) and probs.max() >= p_absent:
                i = int(np.argmax(probs))
                out.append(_value(page, s, i, float(probs[i])))
            else:
                out.append(FieldValue(name=s.name, absent=True, confidence=round(float(p_absent), 4)))
            continue
        if not s.cands:
            out.append(FieldValue(name=s.name, absent=True, confidence=0.5))
            continue
        i = int(np.argmax(s.zero))
        margin = float(s.zero[i] - s.threshold)
        if margin < 0:
            out.append(FieldValue(name=s.name, absent=True, confidence=round(_sigmoid(-margin), 4)))
        else:
            rest = np.delete(s.zero, i)
            lead = float(s.zero[i] - rest.max()) if len(rest) else 3.0
            out.append(_value(page, s, i, _sigmoid(min(margin, 3.0)) * _sigmoid(lead)))
    return out
