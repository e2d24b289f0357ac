"""OCR scoring: edit distance, CER, box IoU, line matching, typing saved, key fields.

Pure Python + numpy, no image or ML imports, so the store, the CLI and the
evaluation harness can all share one definition of every figure.

Definitions follow ``shared/datasets/README.md``:

* CER = sum of Levenshtein distances / sum of reference characters (micro
  average over lines and pages, never a mean of per-line ratios).
* End-to-end: predicted lines are matched 1:1 to reference lines at
  axis-aligned IoU >= 0.5.
* Typing saved = 1 - (edits on matched lines + characters of unmatched
  reference lines + 1 per spurious predicted line) / reference characters.

Pages are aggregated by summing numerators and denominators.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Sequence

import numpy as np

# Text comparison modes.
CASE_SENSITIVE = "cs"
CASE_INSENSITIVE = "ci"
#: Case-insensitive AND all whitespace removed ("ignoring spaces").
NO_SPACE = "nospace"
MODES = (CASE_SENSITIVE, CASE_INSENSITIVE, NO_SPACE)

IOU_THRESHOLD = 0.5

_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------- text
def levenshtein(a: str, b: str) -> int:
    """Return the Levenshtein distance (insert/delete/substitute, each cost 1)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a  # keep the inner row short
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def normalize(text: str, mode: str = CASE_SENSITIVE) -> str:
    """Normalise ``text`` for comparison mode ``mode`` (one of :data:`MODES`).

    ``cs`` keeps the text as is; ``ci`` upper-cases it (``str.upper``: SROIE
    transcripts are upper case); ``nospace`` upper-cases and drops all
    whitespace, so "RM 1.25" == "RM1.25".
    """
    if mode == CASE_SENSITIVE:
        return text
    if mode == CASE_INSENSITIVE:
        return text.upper()
    if mode == NO_SPACE:
        return _WS.sub("", text.upper())
    raise ValueError(f"unknown mode {mode!r}")


def cer_counts(pairs: Iterable[tuple[str, str]], mode: str = CASE_SENSITIVE) -> tuple[int, int]:
    """Sum (edits, reference chars) over ``(reference, predicted)`` pairs."""
    edits = chars = 0
    for ref, pred in pairs:
        r, p = normalize(ref, mode), normalize(pred, mode)
        edits += levenshtein(r, p)
        chars += len(r)
    return edits, chars


def ratio(num: float, den: float) -> float | None:
    """``num / den``, or None when the denominator is 0 (undefined, not 0 or 1)."""
    return num / den if den else None


@dataclass
class TextScore:
    """Recognition counts for a set of (reference, predicted) line pairs."""

    lines: int = 0
    exact_cs: int = 0
    exact_ci: int = 0
    edits_cs: int = 0
    chars_cs: int = 0
    edits_ci: int = 0
    chars_ci: int = 0
    edits_nospace: int = 0
    chars_nospace: int = 0

    def __add__(self, other: TextScore) -> TextScore:
        return TextScore(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def summary(self) -> dict:
        """Ratios: CER per mode and exact-line rates (None when undefined)."""
        return {
            "lines": self.lines,
            "cer_cs": ratio(self.edits_cs, self.chars_cs),
            "cer_ci": ratio(self.edits_ci, self.chars_ci),
            "cer_nospace": ratio(self.edits_nospace, self.chars_nospace),
            "exact_cs": ratio(self.exact_cs, self.lines),
            "exact_ci": ratio(self.exact_ci, self.lines),
        }


def score_text(pairs: Iterable[tuple[str, str]]) -> TextScore:
    """Score ``(reference, predicted)`` pairs in every mode at once."""
    s = TextScore()
    for ref, pred in pairs:
        s.lines += 1
        s.exact_cs += ref == pred
        s.exact_ci += normalize(ref, CASE_INSENSITIVE) == normalize(pred, CASE_INSENSITIVE)
        for mode in MODES:
            e, c = cer_counts([(ref, pred)], mode)
            setattr(s, f"edits_{mode}", getattr(s, f"edits_{mode}") + e)
            setattr(s, f"chars_{mode}", getattr(s, f"chars_{mode}") + c)
    return s


# --------------------------------------------------------------------------- boxes
def to_xyxy(box: Sequence) -> tuple[float, float, float, float]:
    """Axis-aligned ``(x0, y0, x1, y1)`` of a box given as 4 numbers
    ``x0,y0,x1,y1``, 8 numbers ``x1,y1,...,x4,y4`` or 4 points ``[[x, y]] * 4``.
    """
    a = np.asarray(box, dtype=float)
    if a.shape == (4,):
        x0, y0, x1, y1 = a
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    pts = a.reshape(-1, 2)  # 8 numbers or 4x2 points
    if pts.shape[0] < 2:
        raise ValueError(f"bad box {box!r}")
    return (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())


def iou(a: Sequence, b: Sequence) -> float:
    """Axis-aligned IoU of two boxes (any format of :func:`to_xyxy`).

    Touching boxes give 0; if the union has zero area (two degenerate boxes)
    the IoU is 0, not NaN.
    """
    ax0, ay0, ax1, ay1 = to_xyxy(a)
    bx0, by0, bx1, by1 = to_xyxy(b)
    iw = min(ax1, bx1) - max(ax0, bx0)
    ih = min(ay1, by1) - max(ay0, by0)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(pred: Sequence[Sequence], ref: Sequence[Sequence]) -> np.ndarray:
    """IoU of every predicted box (rows) against every reference box (columns)."""
    if not len(pred) or not len(ref):
        return np.zeros((len(pred), len(ref)))
    p = np.array([to_xyxy(b) for b in pred])[:, None, :]
    r = np.array([to_xyxy(b) for b in ref])[None, :, :]
    iw = np.clip(np.minimum(p[..., 2], r[..., 2]) - np.maximum(p[..., 0], r[..., 0]), 0, None)
    ih = np.clip(np.minimum(p[..., 3], r[..., 3]) - np.maximum(p[..., 1], r[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(p) + area(r) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out


def match_lines(
    pred: Sequence[Sequence], ref: Sequence[Sequence], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Match predicted boxes 1:1 to reference boxes; return ``(pred_i, ref_i, iou)``.

    Greedy by IoU descending (ties: lower indices first). At IoU >= 0.5 a box
    rarely overlaps two partners that much, so greedy and optimal (Hungarian)
    matching almost always agree, and greedy is simple and deterministic.
    """
    m = iou_matrix(pred, ref)
    if m.size == 0:
        return []
    pi, ri = np.nonzero(m >= threshold)
    order = sorted(zip(pi.tolist(), ri.tolist()), key=lambda t: (-m[t], t))
    used_p, used_r, out = set(), set(), []
    for p, r in order:
        if p not in used_p and r not in used_r:
            used_p.add(p)
            used_r.add(r)
            out.append((p, r, float(m[p, r])))
    return out


# --------------------------------------------------------------------------- pages
@dataclass
class PageScore:
    """End-to-end counts for one page (or a sum of pages, via ``+``).

    ``cost_*`` is the typing cost of the definition: edits on matched lines +
    chars of unmatched reference lines + 1 per spurious predicted line; chars
    are counted in the same mode as the edits.
    """

    ref_lines: int = 0
    pred_lines: int = 0
    matched: int = 0
    ref_chars_cs: int = 0
    ref_chars_ci: int = 0
    matched_edits_cs: int = 0
    matched_edits_ci: int = 0
    matched_edits_nospace: int = 0
    matched_chars_cs: int = 0
    matched_chars_ci: int = 0
    matched_chars_nospace: int = 0
    unmatched_ref_chars_cs: int = 0
    unmatched_ref_chars_ci: int = 0
    spurious: int = 0
    fields_total: int = 0
    fields_found: int = 0

    def __add__(self, other: PageScore) -> PageScore:
        return PageScore(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def cost_cs(self) -> int:
        return self.matched_edits_cs + self.unmatched_ref_chars_cs + self.spurious

    @property
    def cost_ci(self) -> int:
        return self.matched_edits_ci + self.unmatched_ref_chars_ci + self.spurious

    def summary(self) -> dict:
        """Ratios (None where the denominator is 0) plus the raw counts."""
        return {
            "recall": ratio(self.matched, self.ref_lines),
            "precision": ratio(self.matched, self.pred_lines),
            "matched_cer_cs": ratio(self.matched_edits_cs, self.matched_chars_cs),
            "matched_cer_ci": ratio(self.matched_edits_ci, self.matched_chars_ci),
            "matched_cer_nospace": ratio(self.matched_edits_nospace, self.matched_chars_nospace),
            "typing_saved_cs": None if not self.ref_chars_cs else 1 - self.cost_cs / self.ref_chars_cs,
            "typing_saved_ci": None if not self.ref_chars_ci else 1 - self.cost_ci / self.ref_chars_ci,
            "key_fields": ratio(self.fields_found, self.fields_total),
            "counts": asdict(self),
        }


def field_key(text: str) -> str:
    """Normalise text for key-field lookup: upper case, all whitespace removed.

    Removing (not collapsing) whitespace lets a value match across line breaks
    and around spacing differences such as "7/4,KAWASAN" vs "7/4, KAWASAN".
    """
    return _WS.sub("", text.upper())


def fields_found(fields_: dict, pred_texts: Sequence[str]) -> tuple[int, int]:
    """Return (found, total) over the non-empty key fields of a page.

    A field is found when its :func:`field_key` is a substring of the
    :func:`field_key` of all predicted lines joined in prediction order.
    """
    haystack = field_key(" ".join(pred_texts))
    total = found = 0
    for value in (fields_ or {}).values():
        key = field_key(str(value or ""))
        if not key:
            continue
        total += 1
        found += key in haystack
    return found, total


def score_page(
    pred: Sequence[tuple[Sequence, str]],
    ref: Sequence[tuple[Sequence, str]],
    fields_: dict | None = None,
    threshold: float = IOU_THRESHOLD,
) -> PageScore:
    """Score one page end to end.

    ``pred`` and ``ref`` are sequences of ``(box, text)``; boxes in any format
    of :func:`to_xyxy`. ``fields_`` is the reference key fields (may be None).
    """
    matches = match_lines([b for b, _ in pred], [b for b, _ in ref], threshold)
    s = PageScore(ref_lines=len(ref), pred_lines=len(pred), matched=len(matches))
    matched_ref = set()
    for p, r, _ in matches:
        matched_ref.add(r)
        rt, pt = ref[r][1], pred[p][1]
        for mode in MODES:
            e, c = cer_counts([(rt, pt)], mode)
            setattr(s, f"matched_edits_{mode}", getattr(s, f"matched_edits_{mode}") + e)
            setattr(s, f"matched_chars_{mode}", getattr(s, f"matched_chars_{mode}") + c)
    for i, (_, text) in enumerate(ref):
        n_cs, n_ci = len(text), len(normalize(text, CASE_INSENSITIVE))
        s.ref_chars_cs += n_cs
        s.ref_chars_ci += n_ci
        if i not in matched_ref:
            s.unmatched_ref_chars_cs += n_cs
            s.unmatched_ref_chars_ci += n_ci
    s.spurious = len(pred) - len(matches)
    if fields_:
        s.fields_found, s.fields_total = fields_found(fields_, [t for _, t in pred])
    return s


def aggregate(scores: Iterable[PageScore]) -> PageScore:
    """Sum page scores (ratios are then taken on the sums, not averaged)."""
    total = PageScore()
    for s in scores:
        total = total + s
    return total


def per_field_rates(pages: Iterable[tuple[dict, Sequence[str]]]) -> dict[str, float | None]:
    """Share of pages whose field value is found, per field name.

    ``pages`` yields ``(reference fields, predicted texts)``; pages where a
    field is empty do not count for that field.
    """
    found: dict[str, int] = {}
    total: dict[str, int] = {}
    for fields_, texts in pages:
        for name, value in (fields_ or {}).items():
            f, t = fields_found({name: value}, texts)
            if t:
                total[name] = total.get(name, 0) + t
                found[name] = found.get(name, 0) + f
    return {name: ratio(found[name], total[name]) for name in total}
