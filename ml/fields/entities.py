"""Many-valued fields: a form's lines labelled header / question / answer / other (FUNSD's entities).

Key fields (``ml.fields.extract``) take one value per field per page. A form has many: every
label ("Date:", "Batch Size") is a *question*, every filled-in value an *answer*, section titles
*headers*, the rest (page numbers, footnotes, print codes) *other*. This module labels every piece
of a page's text with one of the four and groups the pieces into entities::

    page = units_of(lines, width, height)            # lines: ml.fields.FLine (regions, reference)
    ents = predict(page)                             # zero-shot rules
    ents = predict(page, model)                      # a learned EntityModel
    model, stats = train([(page, labels), ...])      # labels: one per unit of page.lines

Units. The unit labelled is a line (a region), or, when ``split_colon`` is on, each side of a
line's first label colon: an OCR line ``Date: 12/3/88`` becomes the units ``Date:`` and
``12/3/88`` (their boxes cut in proportion to the characters). Reference lines (FUNSD's, one
entity each) are used as they are; an engine's lines are split, since a detector often reads a
label and its value as one line.

Grouping. Units become entities in reading order: a unit joins the entity of the unit right
above it (``Page.next_below``: starting within 1.6 line heights, overlapping horizontally) when
both have the same label and :func:`rule_link` says so: the vertical gap is under ``GROUP_GAP``
(0.3) line heights, their left edges or centres are aligned within 1.5 line heights, the upper
one does not end with a colon (a question ending in ':' is complete), and, for questions and
answers, which forms stack one per line ("Maker" / "Length" / "Weight"), the lower one starts in
lower case or '(' or the upper one ends with a connector (',', '-', '&', 'and', 'of', 'with'...);
headers and others join on the gap alone. With the reference labels on funsd-dev's reference
lines this grouping scores 91.7% entity F1 (no grouping 87.6%, the gap alone 80.5%): the rest are
entities people split or joined without a visible cue. A learned link (logistic, from
:data:`LINK_FEATURES`, trained when the examples carry entity ids) is available but scored 1-2
points under the rule in cross-validation, so the rule is the default.

Zero-shot rules (:func:`rules`, no training): a line ending in ':' ('?', '#', 'No.') is a
question; the text to its right on the same row, or under it when nothing is on its right, is an
answer; a short upper-case (or tall) line with few digits, alone on its row or centred, is a
header; a label-like line (starts with a letter, few digits, at most 6 words) with a value-like
line on its right is a question; long sentences, lines with no letters and lone codes at the
page's margins are other; a label-like line left over is a question (a blank form field), a
value-like one an answer.

The learned model (:class:`EntityModel`): a two-layer network (ReLU, 64 hidden) with a softmax
over the four labels, on :data:`FEATURES` per unit: position and size, text shape, the four
neighbours (left / right on the row, above / below in the column: present, gap, colon, case,
digits, length), the row and column counts, the zero-shot label of the unit and its neighbours,
and a hashed bag of the unit's words (bags of the neighbours' words cost 2 points of F1 on
funsd-dev's 16-page folds: too few pages to learn them). Trained with PyTorch on
one thread (cross-entropy, Adam, full batch), run with NumPy. Saved as ``entities.json``
(features, labels, standardisation, metadata) and ``entities.npz`` (weights, no pickle).

Scoring (:class:`EntityScore`) as SROIE task 3 compares values: a predicted (label, text) is right
when the page's reference has an unmatched entity with that label and the same text after
whitespace is squeezed, case-insensitive; each reference entity is matched once. Precision,
recall and F1 per label and overall (micro, over header/question/answer; ``other`` is reported
but not in the overall), the per-unit label accuracy, and the ceiling: the share of reference
entities whose text some unit, or some block of units down a column, reads exactly. Qt-free.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from core.fields import find_amounts, find_dates, squeeze

from .crossval import folds  # noqa: F401  (the key fields' seeded fold split, re-exported)
from .lines import FLine, Page, lines_from
from .scoring import FieldCounts  # right / predicted / reference / reachable and P, R, F1, ceiling

LABELS = ("header", "question", "answer", "other")
SCHEMA = ("header", "question", "answer")          # the form preset's fields; "other" is the rest
FORMAT = "proofdesk-entities"
FORMAT_VERSION = 1
GROUP_GAP = 0.3         # line heights between two lines of one entity at most
GROUP_ALIGN = 1.5       # line heights between their left edges (or centres) at most
HASH_BUCKETS = 32
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_LABEL_END = re.compile(r"(?::|\?|#|\bno\.?|\bnumber|\bnr\.?)\s*$", re.IGNORECASE)
_COLON = re.compile(r":(?!\d)")                  # not the colon of a time (10:30)


# -- units --------------------------------------------------------------------------------------

def split_at_colon(text: str) -> int | None:
    """Where a line splits into a label and its value: after its first label colon, when the
    label is 2-40 characters with letters and something follows; else None."""
    for m in _COLON.finditer(text):
        i = m.start()
        label, rest = text[:i], text[i + 1:].strip()
        if i > 0 and text[i - 1].isdigit() and rest[:1].isdigit():
            continue
        if 2 <= len(label.strip()) <= 40 and sum(ch.isalpha() for ch in label) >= 2 and rest:
            return i + 1
        return None
    return None


def units_of(lines: Sequence[FLine], width: float, height: float, split_colon: bool = False) -> Page:
    """The page of units a labelling reads: the lines, or with ``split_colon`` each line cut after
    its label colon into two units (boxes in proportion to the characters). Each unit's ``index``
    is its position in ``lines`` order with the splits counted (so ``units[i].index`` is unique);
    ``page.sources[u.index]`` is (the source line's index, start, end) in that line's text."""
    units: list[FLine] = []
    sources: dict[int, tuple[int, int, int]] = {}
    for ln in lines:
        cut = split_at_colon(ln.text) if split_colon else None
        if cut is None:
            parts = [(0, len(ln.text))]
        else:
            parts = [(0, cut), (len(ln.text) - len(ln.text[cut:].lstrip()), len(ln.text))]
        n = max(1, len(ln.text))
        for s, e in parts:
            x0 = ln.x0 + (ln.x1 - ln.x0) * s / n
            x1 = ln.x0 + (ln.x1 - ln.x0) * e / n
            u = FLine(ln.text[s:e].strip(), x0, ln.y0, x1, ln.y1, len(units))
            sources[u.index] = (ln.index, s, e)
            units.append(u)
    page = Page(units, width, height)
    page.sources = sources       # type: ignore[attr-defined]
    return page


# -- geometry helpers ---------------------------------------------------------------------------

class Geometry:
    """Neighbours of every unit of a page (positions in page.lines), computed once."""

    def __init__(self, page: Page):
        self.page = page
        n = len(page)
        b = np.array([(u.x0, u.y0, u.x1, u.y1) for u in page.lines], np.float64).reshape(-1, 4)
        h = np.maximum(1.0, b[:, 3] - b[:, 1])
        self.b, self.h = b, h
        pos = {id(u): k for k, u in enumerate(page.lines)}
        self.left = [self._pos(pos, page.left(k)) for k in range(n)]
        self.above = [self._pos(pos, page.above(k)) for k in range(n)]
        self.below = [page.next_below(k) for k in range(n)]
        self.right: list[int | None] = [None] * n
        self.row_count = np.zeros(n, np.float32)
        self.row_rank = np.zeros(n, np.float32)
        self.col_below = np.zeros(n, np.float32)
        self.far_below: list[int | None] = [None] * n
        for k in range(n):
            x0, y0, x1, y1 = b[k]
            overlap = np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)
            row = overlap > 0.5 * np.minimum(h, h[k])
            row[k] = False
            gap = b[:, 0] - x1
            ok = row & (b[:, 0] >= x1 - 0.5 * h[k]) & (gap < 40 * h[k])
            if ok.any():
                self.right[k] = int(np.flatnonzero(ok)[np.argmin(gap[ok])])
            self.row_count[k] = row.sum()
            self.row_rank[k] = (row & (b[:, 0] < x0)).sum()
            hover = np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0) > 0
            dy = b[:, 1] - y1
            down = hover & (dy > -0.3 * h[k])
            down[k] = False
            self.col_below[k] = (down & (dy < 6 * h[k])).sum()
            near = down & (dy < 4 * h[k])
            if near.any():
                self.far_below[k] = int(np.flatnonzero(near)[np.argmin(dy[near])])

    @staticmethod
    def _pos(pos, ln):
        return None if ln is None else pos[id(ln)]

    def gap_x(self, a: int, b: int) -> float:
        """Horizontal gap from unit a's right edge to unit b's left edge, in a's line heights."""
        return (self.b[b, 0] - self.b[a, 2]) / self.h[a]

    def gap_y(self, a: int, b: int) -> float:
        return (self.b[b, 1] - self.b[a, 3]) / self.h[a]


def _letters(t: str) -> list[str]:
    return [ch for ch in t if ch.isalpha()]


def _upper(t: str) -> float:
    le = _letters(t)
    return sum(ch.isupper() for ch in le) / len(le) if le else 0.0


def _digits(t: str) -> float:
    return sum(ch.isdigit() for ch in t) / max(1, len(t))


def ends_label(t: str) -> bool:
    """A line that announces a value: it ends with ':', '?', '#' or 'No.'."""
    return bool(_LABEL_END.search(t)) and len(_letters(t)) >= 2


def label_like(t: str) -> bool:
    """Could be a form's label: starts with a letter, few digits, at most 6 words, no sentence."""
    s = t.strip()
    return (bool(s) and (s[0].isalpha() or s[0] in "([") and _digits(s) < 0.25 and len(s.split()) <= 6
            and len(_letters(s)) >= 2 and not s.endswith((".", ",", ";")) or ends_label(s))


def header_like(t: str, rel_h: float) -> bool:
    s = t.strip()
    le = _letters(s)
    return (len(le) >= 4 and _digits(s) < 0.2 and len(s.split()) <= 9 and not s.endswith(":")
            and (_upper(s) >= 0.8 or rel_h >= 1.45))


# -- zero-shot rules ----------------------------------------------------------------------------

def rules(page: Page, geo: Geometry | None = None) -> list[str]:
    """The zero-shot label of every unit of the page (page.lines order)."""
    g = geo or Geometry(page)
    n = len(page)
    units = page.lines
    texts = [u.text for u in units]
    rel_h = [u.h / page.median_h for u in units]
    out: list[str | None] = [None] * n
    colon = [ends_label(t) for t in texts]
    for k in range(n):
        if colon[k]:
            out[k] = "question"
    # what a colon label announces: its right neighbour, else the line under it
    for k in range(n):
        if not colon[k]:
            continue
        r = g.right[k]
        if r is not None and out[r] is None and g.gap_x(k, r) < 25:
            out[r] = "answer"
            continue
        d = g.far_below[k]
        if r is None and d is not None and out[d] is None and not colon[d] and g.left[d] is None \
                and not header_like(texts[d], rel_h[d]):
            out[d] = "answer"
    # headers: short upper-case or tall lines, alone on their row or centred on the page
    for k in range(n):
        if out[k] is not None:
            continue
        if header_like(texts[k], rel_h[k]):
            centred = abs(units[k].cx - page.width / 2) < 0.12 * page.width
            alone = g.row_count[k] == 0 or (g.right[k] is None and g.left[k] is None)
            if centred or alone or rel_h[k] >= 1.45:
                out[k] = "header"
    # a label-like line with a value on its right: a question and its answer
    for k in range(n):
        if out[k] is not None and out[k] != "header":
            continue
        r = g.right[k]
        if r is None or g.gap_x(k, r) > 25:
            continue
        if label_like(texts[k]) and (out[r] is None or out[r] == "answer") and not label_like(texts[r]):
            out[k] = "question"
            out[r] = "answer"
    # other: sentences, no letters, codes alone at the top or bottom margin
    for k in range(n):
        if out[k] is not None:
            continue
        t = texts[k]
        words = len(t.split())
        margin = units[k].y0 > 0.85 * page.height or units[k].y1 < 0.06 * page.height
        if words > 10 and not colon[k]:
            out[k] = "other"
        elif len(_letters(t)) < 2 and (g.left[k] is None or out[g.left[k]] not in ("question",)):
            out[k] = "other" if g.left[k] is None else "answer"
        elif margin and g.row_count[k] == 0 and _digits(t) > 0.3:
            out[k] = "other"
    # left over: a label-like line is a question (a blank field), a value-like one an answer
    for k in range(n):
        if out[k] is None:
            left = g.left[k]
            if left is not None and out[left] == "question":
                out[k] = "answer"
            elif label_like(texts[k]) and _digits(texts[k]) < 0.1:
                out[k] = "question"
            else:
                out[k] = "answer"
    return [str(x) for x in out]


# -- grouping into entities ---------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    """One predicted entity: its label, text (lines joined by spaces), units (positions in
    page.lines), box and the mean probability of its label (1.0 from the rules)."""

    label: str
    text: str
    units: tuple[int, ...]
    box: tuple[float, float, float, float]
    confidence: float = 1.0


_CONNECTOR = re.compile(r"(?:[,&/(+-]|\b(?:and|or|of|the|with|for|to|in|on|per|a|an|by|at|from))\s*$",
                        re.IGNORECASE)
LINK_FEATURES = ("gap", "dx0", "dcx", "width_ratio", "height_ratio", "aligned", "upper_colon", "upper_period",
                 "upper_connector", "lower_lowercase", "lower_paren", "upper_words", "lower_words",
                 "upper_upper", "lower_upper", "upper_digits", "lower_digits", "upper_right", "lower_left",
                 "upper_label_like", "lower_label_like", "rule") + tuple(f"label_{lab}" for lab in LABELS)


def _pair(page: Page, g: "Geometry", k: int, d: int) -> tuple[float, float, bool]:
    a, b = page.lines[k], page.lines[d]
    gap = (b.y0 - a.y1) / a.h
    aligned = abs(b.x0 - a.x0) < GROUP_ALIGN * a.h or abs(b.cx - a.cx) < GROUP_ALIGN * a.h
    return gap, abs(b.x0 - a.x0) / a.h, aligned


def rule_link(page: Page, g: "Geometry", k: int, d: int, label: str) -> bool:
    """Whether unit d (under unit k, same label) continues k's entity, without training: the gap
    is under GROUP_GAP line heights, they are aligned, k does not end with ':', and, for questions
    and answers (often stacked one per line), d starts in lower case or '(' or k ends with a
    connector (',', '-', '&', 'and', 'of', 'with'...)."""
    a, b = page.lines[k], page.lines[d]
    gap, _, aligned = _pair(page, g, k, d)
    if a.text.rstrip().endswith(":") or not aligned or gap >= GROUP_GAP:
        return False
    if label in ("header", "other"):
        return True
    return b.text[:1].islower() or b.text[:1] == "(" or bool(_CONNECTOR.search(a.text))


def link_features(page: Page, g: "Geometry", k: int, d: int, label: str) -> np.ndarray:
    """The :data:`LINK_FEATURES` of the pair (unit k, unit d under it) that share ``label``."""
    a, b = page.lines[k], page.lines[d]
    gap, dx0, aligned = _pair(page, g, k, d)
    wa, wb = max(1.0, a.x1 - a.x0), max(1.0, b.x1 - b.x0)
    v = [min(3.0, max(-1.0, gap)), min(10.0, dx0) / 10, min(10.0, abs(b.cx - a.cx) / a.h) / 10,
         min(4.0, wb / wa) / 4, min(3.0, b.h / a.h) / 3, float(aligned), float(a.text.rstrip().endswith(":")),
         float(a.text.rstrip().endswith(".")), float(bool(_CONNECTOR.search(a.text))),
         float(b.text[:1].islower()), float(b.text[:1] == "("), min(len(a.text.split()), 12) / 12,
         min(len(b.text.split()), 12) / 12, _upper(a.text), _upper(b.text), _digits(a.text), _digits(b.text),
         float(g.right[k] is not None), float(g.left[d] is not None), float(label_like(a.text)),
         float(label_like(b.text)), float(rule_link(page, g, k, d, label))]
    v += [float(label == lab) for lab in LABELS]
    return np.array(v, np.float32)


def group(page: Page, labels: Sequence[str], probs: np.ndarray | None = None,
          geo: Geometry | None = None, model: "EntityModel | None" = None) -> list[Entity]:
    """Units and their labels made entities (module docstring "Grouping"): each unit may join the
    entity of the unit right above it when both have the same label and the link says so (the
    model's learned link when it has one, else :func:`rule_link`)."""
    g = geo or Geometry(page)
    n = len(page)
    head = list(range(n))                        # each unit's entity: the position of its first unit
    joined: set[int] = set()
    for k in range(n):
        d = g.below[k]
        if d is None or d in joined or labels[d] != labels[k]:
            continue
        if model is not None and model.has_link:
            ok = model.link_probability(link_features(page, g, k, d, labels[k])) > 0.5
        else:
            ok = rule_link(page, g, k, d, labels[k])
        if ok:
            head[d] = head[k]
            joined.add(d)
    members: dict[int, list[int]] = {}
    for k in range(n):
        h = k
        while head[h] != h:
            h = head[h]
        members.setdefault(h, []).append(k)
    out = []
    for h in sorted(members):
        ks = members[h]
        us = [page.lines[k] for k in ks]
        text = squeeze(" ".join(u.text for u in us))
        if not text:
            continue
        conf = 1.0 if probs is None else float(np.mean([probs[k, LABELS.index(labels[k])] for k in ks]))
        box = (min(u.x0 for u in us), min(u.y0 for u in us), max(u.x1 for u in us), max(u.y1 for u in us))
        out.append(Entity(labels[h], text, tuple(ks), box, conf))
    return out


# -- features -----------------------------------------------------------------------------------

_SELF = ("x0", "y0", "x1", "y1", "cx", "width", "rel_height", "centred", "rank", "log_len", "n_words",
         "digits", "alpha", "upper", "starts_upper", "title_words", "ends_label", "ends_colon", "has_colon",
         "ends_period", "has_date", "has_amount", "only_number", "paren", "few_letters", "long",
         "label_like", "header_like", "row_count", "row_rank", "col_below", "margin")
_NB = ("present", "gap", "ends_label", "upper", "digits", "log_len", "label_like", "aligned")
NEIGHBOURS = ("left", "right", "above", "below")
FEATURES = (_SELF + tuple(f"{n}_{f}" for n in NEIGHBOURS for f in _NB)
            + tuple(f"rule_{w}_{lab}" for w in ("self",) + NEIGHBOURS for lab in LABELS)
            + tuple(f"bag_self_{i}" for i in range(HASH_BUCKETS)))


def _bag(text: str | None) -> np.ndarray:
    v = np.zeros(HASH_BUCKETS, np.float32)
    for w in _WORD.findall(text or ""):
        v[zlib.crc32(w.casefold().encode("utf-8")) % HASH_BUCKETS] = 1.0
    return v


def features(page: Page, geo: Geometry | None = None, zero: Sequence[str] | None = None) -> np.ndarray:
    """The feature rows of a page's units (page.lines order), :data:`FEATURES` columns."""
    g = geo or Geometry(page)
    zero = list(zero) if zero is not None else rules(page, g)
    n = len(page)
    W, H = page.width, page.height
    X = np.zeros((n, len(FEATURES)), np.float32)
    units = page.lines
    shape = []
    for u in units:
        t = u.text
        shape.append((ends_label(t), _upper(t), _digits(t), np.log1p(len(t)) / 4, label_like(t)))
    ns = len(_SELF)
    for k, u in enumerate(units):
        t = u.text
        le = _letters(t)
        ws = t.split()
        r = X[k]
        r[0], r[1], r[2], r[3] = u.x0 / W, u.y0 / H, u.x1 / W, u.y1 / H
        r[4] = u.cx / W
        r[5] = (u.x1 - u.x0) / W
        r[6] = min(4.0, u.h / page.median_h)
        r[7] = 1 - min(1.0, abs(u.cx - W / 2) / (W / 2))
        r[8] = k / max(1, n)
        r[9] = np.log1p(len(t)) / 4
        r[10] = min(len(ws), 20) / 10
        r[11] = _digits(t)
        r[12] = len(le) / max(1, len(t))
        r[13] = _upper(t)
        r[14] = float(bool(t) and t[0].isupper())
        r[15] = sum(w[:1].isupper() for w in ws) / max(1, len(ws))
        r[16] = float(shape[k][0])
        r[17] = float(t.rstrip().endswith(":"))
        r[18] = float(":" in t)
        r[19] = float(t.rstrip().endswith("."))
        r[20] = float(bool(find_dates(t)))
        r[21] = float(bool(find_amounts(t)))
        r[22] = float(bool(re.fullmatch(r"[\d\s.,/%$()+-]+", t)))
        r[23] = float("(" in t or ")" in t)
        r[24] = float(len(le) < 3)
        r[25] = float(len(ws) > 10)
        r[26] = float(shape[k][4])
        r[27] = float(header_like(t, u.h / page.median_h))
        r[28] = min(g.row_count[k], 6) / 6
        r[29] = min(g.row_rank[k], 6) / 6
        r[30] = min(g.col_below[k], 6) / 6
        r[31] = float(u.y0 > 0.85 * H or u.y1 < 0.06 * H)
        for j, (name, nb) in enumerate(zip(NEIGHBOURS, (g.left[k], g.right[k], g.above[k], g.far_below[k]))):
            o = ns + j * len(_NB)
            if nb is None:
                continue
            v = units[nb]
            gap = g.gap_x(nb, k) if name == "left" else g.gap_x(k, nb) if name == "right" else \
                g.gap_y(nb, k) if name == "above" else g.gap_y(k, nb)
            r[o] = 1.0
            r[o + 1] = min(10.0, max(-1.0, gap)) / 10
            r[o + 2] = float(shape[nb][0])
            r[o + 3] = shape[nb][1]
            r[o + 4] = shape[nb][2]
            r[o + 5] = shape[nb][3]
            r[o + 6] = float(shape[nb][4])
            r[o + 7] = float(abs(v.x0 - u.x0) < 1.5 * u.h) if name in ("above", "below") else \
                float(abs(v.cy - u.cy) < 0.3 * u.h)
        o = ns + len(NEIGHBOURS) * len(_NB)
        for j, nb in enumerate((k, g.left[k], g.right[k], g.above[k], g.far_below[k])):
            if nb is not None:
                r[o + 4 * j + LABELS.index(zero[nb])] = 1.0
        o += 4 * (1 + len(NEIGHBOURS))
        r[o:o + HASH_BUCKETS] = _bag(t)
    return X


# -- the learned model --------------------------------------------------------------------------

@dataclass
class EntityModel:
    """A two-layer network from :data:`FEATURES` to the four labels' logits, and, when trained
    with entity ids, a logistic link from :data:`LINK_FEATURES` (does a unit continue the entity
    of the unit above it)."""

    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    #: link_mean, link_std, link_w (weights, then the bias last), or empty: the rule links.
    link: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def has_link(self) -> bool:
        return bool(self.link)

    def link_probability(self, x: np.ndarray) -> float:
        z = (x - self.link["link_mean"]) / self.link["link_std"]
        w = self.link["link_w"]
        return float(1.0 / (1.0 + np.exp(-(z @ w[:-1] + w[-1]))))

    def probabilities(self, page: Page, geo: Geometry | None = None, X: np.ndarray | None = None) -> np.ndarray:
        """(units, 4) label probabilities, rows in page.lines order, columns :data:`LABELS`."""
        if X is None:
            X = features(page, geo)
        if len(X) == 0:
            return np.zeros((0, len(LABELS)), np.float32)
        z = (X - self.mean) / self.std
        hdn = np.maximum(z @ self.w1 + self.b1, 0.0)
        lg = hdn @ self.w2 + self.b2
        lg = np.exp(lg - lg.max(axis=1, keepdims=True))
        return lg / lg.sum(axis=1, keepdims=True)

    def labels(self, page: Page, geo: Geometry | None = None) -> list[str]:
        return [LABELS[i] for i in self.probabilities(page, geo).argmax(axis=1)]

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "entities.npz", mean=self.mean, std=self.std, w1=self.w1, b1=self.b1, w2=self.w2,
                 b2=self.b2, **self.link)
        meta = dict(self.meta, format=FORMAT, format_version=FORMAT_VERSION, labels=list(LABELS),
                    features=list(FEATURES), link_features=list(LINK_FEATURES) if self.link else None,
                    hash_buckets=HASH_BUCKETS)
        (folder / "entities.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "EntityModel":
        """Read a saved model; a folder that does not hold one this code reads raises ValueError."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "entities.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or int(meta.get("format_version", 0)) > FORMAT_VERSION:
                raise ValueError(f"{folder}: not an entity model this version reads")
            if meta.get("features") != list(FEATURES) or meta.get("labels") != list(LABELS):
                raise ValueError(f"{folder}: made for other features or labels")
            if meta.get("link_features") not in (None, list(LINK_FEATURES)):
                raise ValueError(f"{folder}: its links were made for other features")
            with np.load(folder / "entities.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("mean", "std", "w1", "b1", "w2", "b2")}
                link = {k: z[k] for k in ("link_mean", "link_std", "link_w")} if meta.get("link_features") else {}
            nf = len(FEATURES)
            if arrays["w1"].shape[0] != nf or arrays["mean"].shape != (nf,) or arrays["w2"].shape[1] != len(LABELS):
                raise ValueError(f"{folder}: weights do not fit {nf} features and {len(LABELS)} labels")
            if link and link["link_w"].shape != (len(LINK_FEATURES) + 1,):
                raise ValueError(f"{folder}: link weights do not fit {len(LINK_FEATURES)} features")
        except (OSError, KeyError, TypeError, json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(str(folder)):
                raise
            raise ValueError(f"{folder}: unreadable entity model ({exc})") from exc
        return cls(meta=meta, link=link, **arrays)


@dataclass
class TrainStats:
    pages: int
    units: int
    links: int
    seconds: float
    loss: float
    counts: dict[str, int]


def link_examples(page: Page, labels: Sequence[str], ids: Sequence[Any], geo: Geometry | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The link rows of a labelled page: every unit and the unit under it when their labels are
    the same, target 1 when they belong to one entity (same id, not None)."""
    g = geo or Geometry(page)
    X, y = [], []
    for k in range(len(page)):
        d = g.below[k]
        if d is None or labels[d] != labels[k]:
            continue
        X.append(link_features(page, g, k, d, labels[k]))
        y.append(float(ids[k] is not None and ids[k] == ids[d]))
    return (np.array(X, np.float32).reshape(-1, len(LINK_FEATURES)), np.array(y, np.float32))


def train(examples: Sequence[tuple], *, hidden: int = 64, epochs: int = 300,
          lr: float = 0.01, weight_decay: float = 1e-2, seed: int = 0,
          features_of: Callable[[Page], np.ndarray] | None = None) -> tuple[EntityModel, TrainStats]:
    """Train the unit classifier on (page, one label a unit) examples, and the link when they are
    (page, labels, entity ids) with at least one pair of each kind; deterministic for a seed."""
    import torch

    t0 = time.perf_counter()
    Xs, ys, LX, Ly = [], [], [], []
    for ex in examples:
        page, labels = ex[0], ex[1]
        if len(labels) != len(page):
            raise ValueError(f"{len(labels)} labels for a page of {len(page)} units")
        if not len(page):
            continue
        Xs.append(features_of(page) if features_of else features(page))
        ys.append(np.array([LABELS.index(lab) for lab in labels], np.int64))
        if len(ex) > 2 and ex[2] is not None:
            lx, ly = link_examples(page, labels, ex[2])
            LX.append(lx)
            Ly.append(ly)
    if not Xs:
        raise ValueError("no units to learn from")
    X = np.concatenate(Xs)
    y = np.concatenate(ys)
    mean = X.mean(axis=0)
    std = X.std(axis=0) + 1e-3
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # tiny matrices: one thread beats two fighting over busy cores
    link: dict[str, np.ndarray] = {}
    try:
        torch.manual_seed(seed)
        Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
        yt = torch.from_numpy(y)
        l1 = torch.nn.Linear(X.shape[1], hidden)
        l2 = torch.nn.Linear(hidden, len(LABELS))
        opt = torch.optim.Adam(list(l1.parameters()) + list(l2.parameters()), lr=lr, weight_decay=weight_decay)
        loss = torch.zeros(())
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(l2(torch.relu(l1(Xt))), yt)
            loss.backward()
            opt.step()
        with torch.no_grad():
            w1 = l1.weight.detach().numpy().T.copy()
            b1 = l1.bias.detach().numpy().copy()
            w2 = l2.weight.detach().numpy().T.copy()
            b2 = l2.bias.detach().numpy().copy()
        lx = np.concatenate(LX) if LX else np.zeros((0, len(LINK_FEATURES)), np.float32)
        ly = np.concatenate(Ly) if Ly else np.zeros(0, np.float32)
        if len(ly) and 0 < ly.sum() < len(ly):
            lm, ls = lx.mean(axis=0), lx.std(axis=0) + 1e-3
            lxt = torch.from_numpy(((lx - lm) / ls).astype(np.float32))
            lyt = torch.from_numpy(ly)
            lin = torch.nn.Linear(lx.shape[1], 1)
            lopt = torch.optim.Adam(lin.parameters(), lr=0.05, weight_decay=weight_decay)
            for _ in range(epochs):
                lopt.zero_grad()
                lloss = torch.nn.functional.binary_cross_entropy_with_logits(lin(lxt).squeeze(-1), lyt)
                lloss.backward()
                lopt.step()
            with torch.no_grad():
                wl = np.concatenate([lin.weight.detach().numpy()[0], lin.bias.detach().numpy()]).astype(np.float32)
            link = {"link_mean": lm.astype(np.float32), "link_std": ls.astype(np.float32), "link_w": wl}
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    counts = {lab: int((y == i).sum()) for i, lab in enumerate(LABELS)}
    meta = {"trained_pages": len(examples), "units": int(len(y)), "links": int(len(ly)), "hidden": hidden,
            "epochs": epochs, "seed": seed, "seconds": round(seconds, 2), "counts": counts}
    model = EntityModel(mean.astype(np.float32), std.astype(np.float32), w1, b1, w2, b2, meta, link)
    return model, TrainStats(len(examples), int(len(y)), int(len(ly)), seconds, float(loss.item()), counts)


def read_labels(page: Page, model: EntityModel | None = None, geo: Geometry | None = None) -> list[str]:
    """Each unit's label: the model's (a learned :class:`EntityModel`), else the zero-shot rules'."""
    g = geo or Geometry(page)
    return rules(page, g) if model is None else model.labels(page, g)


def read_entities(page: Page, model: EntityModel | None = None) -> tuple[list[str], list[Entity]]:
    """(each unit's label, the page's entities): labels from the model (or the zero-shot rules), grouped."""
    g = Geometry(page)
    if model is None:
        labels = read_labels(page, None, g)
        return labels, group(page, labels, None, g)
    probs = model.probabilities(page, g)
    labels = [LABELS[i] for i in probs.argmax(axis=1)]
    return labels, group(page, labels, probs, g, model)


def predict(page: Page, model: EntityModel | None = None) -> list[Entity]:
    """The page's entities: labels from the model (or the zero-shot rules), grouped."""
    return read_entities(page, model)[1]


# -- reference pages ----------------------------------------------------------------------------

def reference_entities(ref: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A reference page's entities as (label, text), those with some text. A FUNSD file has
    ``entities``; a file with only labelled lines (``lines[].label``) counts each line as one."""
    if ref.get("entities"):
        items = [(e.get("label") or "other", e.get("text") or "") for e in ref["entities"]]
    else:
        items = [(ln.get("label") or "other", ln.get("text") or "") for ln in ref.get("lines", [])]
    return [(lab if lab in LABELS else "other", squeeze(t)) for lab, t in items if squeeze(t)]


def reference_units(ref: Mapping[str, Any]) -> Page:
    """The reference lines as units (never split: FUNSD's lines are one entity's each)."""
    return units_of(lines_from((ln["box"], ln["text"]) for ln in ref.get("lines", [])), ref["width"], ref["height"])


def unit_truth(page: Page, ref: Mapping[str, Any], given: bool = False) -> tuple[list[str], list[Any]]:
    """The reference label and entity id of each unit: a reference line's own (``given``: the
    units are the reference lines), else those of the entity whose words inside the unit have the
    most characters (a word is inside when its centre is in the unit's box grown by a quarter of
    its height); ``other`` and None when no word is."""
    if given:
        lines = ref.get("lines", [])
        labels, ids = [], []
        for u in page.lines:
            src = page.sources[u.index][0] if hasattr(page, "sources") else u.index
            lab = lines[src].get("label") or "other"
            labels.append(lab if lab in LABELS else "other")
            ids.append(lines[src].get("entity_id"))
        return labels, ids
    words = []
    for e in ref.get("entities", []):
        lab = e.get("label") if e.get("label") in LABELS else "other"
        for w in e.get("words") or []:
            t = squeeze(w.get("text") or "")
            if t and len(w.get("box") or ()) == 4:
                x0, y0, x1, y1 = w["box"]
                words.append(((x0 + x1) / 2, (y0 + y1) / 2, len(t), lab, e.get("id")))
    if not words:
        return ["other"] * len(page), [None] * len(page)
    cx = np.array([w[0] for w in words])
    cy = np.array([w[1] for w in words])
    labels, ids = [], []
    for u in page.lines:
        m = 0.25 * u.h
        inside = (cx >= u.x0 - m) & (cx <= u.x1 + m) & (cy >= u.y0 - m) & (cy <= u.y1 + m)
        votes: Counter = Counter()
        for i in np.flatnonzero(inside):
            votes[(words[i][3], words[i][4])] += words[i][2]
        (lab, eid), _ = votes.most_common(1)[0] if votes else (("other", None), 0)
        labels.append(lab)
        ids.append(eid)
    return labels, ids


def unit_labels(page: Page, ref: Mapping[str, Any], given: bool = False) -> list[str]:
    """The reference label of each unit (:func:`unit_truth`)."""
    return unit_truth(page, ref, given)[0]


def reachable(page: Page, ref_entities: Sequence[tuple[str, str]], geo: Geometry | None = None) -> int:
    """How many reference entities some unit, or a block of 2-5 units down a column, reads exactly."""
    g = geo or Geometry(page)
    texts = set()
    for k in range(len(page)):
        cur, parts = k, [page.lines[k].text]
        texts.add(_key(parts[0]))
        for _ in range(4):
            nxt = g.below[cur]
            if nxt is None:
                break
            parts.append(page.lines[nxt].text)
            texts.add(_key(" ".join(parts)))
            cur = nxt
    return sum(1 for _, t in ref_entities if _key(t) in texts)


def _key(text: str) -> str:
    return squeeze(text).casefold()


# -- scoring ------------------------------------------------------------------------------------

@dataclass
class EntityScore:
    """Entity-level counts per label (SROIE task 3's text rule) and the per-unit label accuracy."""

    per_label: dict[str, FieldCounts] = field(default_factory=lambda: {lab: FieldCounts() for lab in LABELS})
    units_right: int = 0
    units: int = 0
    confusion: dict[str, Counter] = field(default_factory=lambda: {lab: Counter() for lab in LABELS})

    def add_page(self, predicted: Iterable[tuple[str, str]], reference: Iterable[tuple[str, str]],
                 unit_pred: Sequence[str] | None = None, unit_true: Sequence[str] | None = None,
                 page: Page | None = None) -> None:
        """Count one page: predicted and reference (label, text) pairs; optionally the units'
        predicted and reference labels, and the page of units (for the ceiling)."""
        ref = [(lab, _key(t)) for lab, t in reference if _key(t)]
        pending = Counter(ref)
        for lab, t in predicted:
            t = _key(t)
            if not t:
                continue
            c = self.per_label.setdefault(lab, FieldCounts())
            c.predicted += 1
            if pending[(lab, t)] > 0:
                pending[(lab, t)] -= 1
                c.right += 1
        for lab, _ in ref:
            self.per_label.setdefault(lab, FieldCounts()).reference += 1
        if page is not None:
            for lab in {lab for lab, _ in ref}:
                self.per_label[lab].reachable += reachable(page, [e for e in ref if e[0] == lab])
        if unit_pred is not None and unit_true is not None:
            for p, t in zip(unit_pred, unit_true):
                self.units += 1
                self.units_right += int(p == t)
                self.confusion.setdefault(t, Counter())[p] += 1

    def overall(self, labels: Sequence[str] = SCHEMA) -> FieldCounts:
        total = FieldCounts()
        for lab in labels:
            total.add(self.per_label.get(lab, FieldCounts()))
        return total

    def summary(self) -> dict[str, Any]:
        return {"overall": self.overall().summary(),
                "per_label": {lab: c.summary() for lab, c in self.per_label.items()},
                "unit_accuracy": self.units_right / self.units if self.units else None,
                "units": self.units,
                "confusion": {t: dict(c) for t, c in self.confusion.items()}}


def format_entities(summary: Mapping[str, Any], title: str) -> str:
    """A markdown table of a summary: per label and overall (header/question/answer, micro)."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    rows = [f"**{title}**", "", "| label | F1 | precision | recall | ceiling | right/pred/ref |",
            "|---|---|---|---|---|---|"]
    items = list(summary["per_label"].items()) + [("all (h/q/a, micro)", summary["overall"])]
    for name, s in items:
        rows.append(f"| {name} | {pct(s['f1'])} | {pct(s['precision'])} | {pct(s['recall'])} | {pct(s['ceiling'])} "
                    f"| {s['right']}/{s['predicted']}/{s['reference']} |")
    if summary.get("unit_accuracy") is not None:
        rows.append(f"| unit label accuracy | {pct(summary['unit_accuracy'])} | | | | {summary['units']} units |")
    return "\n".join(rows)


# -- cross-validation ---------------------------------------------------------------------------

def _prepared(refs, lines_for, split_colon):
    """Per page: (units, geometry, features, reference unit labels, their entity ids)."""
    out = []
    for r in refs:
        if lines_for is None:
            page = reference_units(r)
            labels, ids = unit_truth(page, r, given=True)
        else:
            page = units_of(lines_for(r), r["width"], r["height"], split_colon)
            labels, ids = unit_truth(page, r)
        g = Geometry(page)
        out.append((page, g, features(page, g), labels, ids))
    return out


def cross_validate(refs: Sequence[Mapping[str, Any]], k: int = 5, seed: int = 0,
                   lines_for: Callable[[Mapping[str, Any]], list[FLine]] | None = None,
                   split_colon: bool = True, train_on: str = "reference", learn_links: bool = False,
                   progress: Callable[[str], None] | None = None, **train_kw: Any) -> dict[str, Any]:
    """K-fold cross-validation: train on K-1 folds, score the K-th, for each fold; the zero-shot
    rules are scored on the same pages. Test units: the reference lines (``lines_for`` None) or
    ``lines_for(ref)`` (an engine's lines, cut at label colons when ``split_colon``). Training
    units: the reference lines with their labels (``train_on="reference"``, what people's
    corrected regions are), or the test units with the labels of the reference words they hold
    (``train_on="engine"``). ``learn_links``: learn the grouping too (off: on funsd-dev the learned
    link scored 1-2 points under :func:`rule_link`)."""
    if k < 2 or k > len(refs):
        raise ValueError(f"cross-validation needs 2 <= K <= pages ({len(refs)}), not {k}")
    test = _prepared(refs, lines_for, split_colon)
    tr = test if (lines_for is None or train_on == "engine") else _prepared(refs, None, False)
    learned, zero = EntityScore(), EntityScore()
    seconds, predict_s, n_pred = [], 0.0, 0
    for f, held in enumerate(folds(len(refs), k, seed)):
        held_set = set(held)
        idx = [i for i in range(len(refs)) if i not in held_set]
        X = {id(tr[i][0]): tr[i][2] for i in idx}
        model, stats = train([(tr[i][0], tr[i][3], tr[i][4] if learn_links else None) for i in idx], seed=seed,
                             features_of=lambda p, X=X: X[id(p)], **train_kw)
        seconds.append(stats.seconds)
        for i in held:
            page, g, _, truth, _ = test[i]
            t0 = time.process_time()
            fresh = Geometry(page)            # timed as at pre-fill: neighbours, features, network, grouping
            probs = model.probabilities(page, fresh)
            labels = [LABELS[j] for j in probs.argmax(axis=1)]
            ents = group(page, labels, probs, fresh, model)
            predict_s += time.process_time() - t0
            n_pred += 1
            ref_ents = reference_entities(refs[i])
            learned.add_page([(e.label, e.text) for e in ents], ref_ents, labels, truth, page)
            zl = rules(page, g)
            zero.add_page([(e.label, e.text) for e in group(page, zl, None, g)], ref_ents, zl, truth, page)
        if progress:
            progress(f"fold {f + 1}/{k}: trained on {len(idx)} pages ({stats.units} units, {stats.links} links) "
                     f"in {stats.seconds:.1f} s")
    return {"k": k, "seed": seed, "pages": len(refs), "learned": learned.summary(), "zero_shot": zero.summary(),
            "train_seconds": seconds, "predict_ms_per_page": 1000 * predict_s / max(1, n_pred)}


def evaluate_entities(refs: Sequence[Mapping[str, Any]], model: EntityModel | None = None, cv: int | None = None,
                      seed: int = 0, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A form folder's figures from its reference lines (``proofdesk eval --fields-given-lines`` on a
    form schema): the pages labelled by ``model`` (None: the zero-shot rules) and grouped, scored
    by :class:`EntityScore`; ``cv`` adds K-fold cross-validation of a model learned from the
    folder's own labels (:func:`cross_validate`)."""
    refs = [r for r in refs if r.get("entities") or any("label" in ln for ln in r.get("lines", []))]
    if not refs:
        raise ValueError("the folder's reference files have no form labels (entities or labelled lines) to score")
    score, t = EntityScore(), 0.0
    for r in refs:
        page = reference_units(r)
        truth = unit_labels(page, r, given=True)
        t0 = time.perf_counter()
        labels, ents = read_entities(page, model)
        t += time.perf_counter() - t0
        score.add_page([(e.label, e.text) for e in ents], reference_entities(r), labels, truth, page)
    out: dict[str, Any] = {"pages": len(refs), "model": "zero-shot" if model is None else "learned",
                           "lines": "reference", "ms_per_page": 1000 * t / len(refs), **score.summary()}
    if cv:
        out["cv"] = cross_validate(refs, k=cv, seed=seed, progress=progress)
    return out


__all__ = ["LABELS", "SCHEMA", "FEATURES", "Entity", "EntityModel", "EntityScore", "units_of", "rules", "group",
           "features", "train", "predict", "read_entities", "read_labels", "Geometry", "reference_entities", "reference_units", "unit_labels", "unit_truth", "rule_link",
           "link_features",
           "cross_validate", "evaluate_entities", "format_entities", "folds"]
