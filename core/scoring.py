"""OCR scoring: edit distance, CER, region overlap, line matching, typing saved, key fields.

No image or ML imports (numpy, rapidfuzz and shapely only), so the store, the CLI and the
evaluation harness can all share one definition of every figure.

Definitions follow ``shared/datasets/README.md``:

* CER = sum of Levenshtein distances / sum of reference characters (micro
  average over lines and pages, never a mean of per-line ratios). Text is
  compared in Unicode NFC: an accent typed as a combining mark ('e' + U+0301)
  is the same text, and the same number of characters, as the precomposed 'é'.
* End-to-end: predicted lines are matched 1:1 to reference lines at
  axis-aligned IoU >= 0.5 (:func:`score_page`: the published metric keeps
  rectangles; everything else matches polygons, ``core.geometry``).
* Typing saved = 1 - (edits on matched lines + characters of unmatched
  reference lines + 1 per spurious predicted line) / reference characters.

Pages are aggregated by summing numerators and denominators.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein as _Levenshtein

# Region overlap lives in core.geometry; these names are part of scoring's API.
from .geometry import iou, iou_matrix, paired_iou, rect_iou, rect_iou_matrix, to_xyxy  # noqa: F401

# Text comparison modes.
CASE_SENSITIVE = "cs"
CASE_INSENSITIVE = "ci"
#: Case-insensitive AND all whitespace removed ("ignoring spaces").
NO_SPACE = "nospace"
MODES = (CASE_SENSITIVE, CASE_INSENSITIVE, NO_SPACE)

IOU_THRESHOLD = 0.5

_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------- text
def nfc(text: str) -> str:
    """``text`` in Unicode normal form C (composed: 'e' + U+0301 becomes 'é')."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def levenshtein(a: str, b: str) -> int:
    """Return the Levenshtein distance (insert/delete/substitute, each cost 1) of the NFC forms
    of ``a`` and ``b`` (rapidfuzz: the textbook DP's result, in C, bit-parallel)."""
    return _Levenshtein.distance(nfc(a), nfc(b))


def normalize(text: str, mode: str = CASE_SENSITIVE) -> str:
    """Normalise ``text`` for comparison mode ``mode`` (one of :data:`MODES`).

    Every mode is NFC first. ``cs`` keeps the text otherwise as is; ``ci`` upper-cases it
    (``str.upper``: SROIE transcripts are upper case); ``nospace`` upper-cases and drops all
    whitespace, so "RM 1.25" == "RM1.25".
    """
    if mode == CASE_SENSITIVE:
        return nfc(text)
    if mode == CASE_INSENSITIVE:
        return nfc(text.upper())
    if mode == NO_SPACE:
        return _WS.sub("", nfc(text.upper()))
    raise ValueError(f"unknown mode {mode!r}")


def _mode_counts(ref: str, pred: str) -> dict[str, tuple[int, int]]:
    """``(edits, reference chars)`` of one pair in every mode: one distance per mode, none
    where the normalised texts are equal."""
    out = {}
    for mode in MODES:
        r, p = normalize(ref, mode), normalize(pred, mode)
        out[mode] = (0 if r == p else _Levenshtein.distance(r, p), len(r))
    return out


def cer_counts(pairs: Iterable[tuple[str, str]], mode: str = CASE_SENSITIVE) -> tuple[int, int]:
    """Sum (edits, reference chars) over ``(reference, predicted)`` pairs."""
    edits = chars = 0
    for ref, pred in pairs:
        r, p = normalize(ref, mode), normalize(pred, mode)
        edits += 0 if r == p else _Levenshtein.distance(r, p)
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
    #: Reference currency signs ($ € £ ¥ ₹...) and non-ASCII letters (ä ß é ø ł...), and how many
    #: of them the prediction has in the same place (:func:`special_counts`).
    currency: int = 0
    currency_right: int = 0
    accented: int = 0
    accented_right: int = 0

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
            "currency_right": ratio(self.currency_right, self.currency),
            "accented_right": ratio(self.accented_right, self.accented),
            "currency": self.currency,
            "accented": self.accented,
        }


def is_currency(ch: str) -> bool:
    return unicodedata.category(ch) == "Sc"


def is_accented(ch: str) -> bool:
    """A letter outside ASCII: with a diacritic (ä é ł), or its own letter (ß ø æ)."""
    return ord(ch) > 127 and unicodedata.category(ch).startswith("L")


def special_counts(ref: str, pred: str) -> tuple[int, int, int, int]:
    """``(currency, currency read right, accented, accented read right)`` of one line: a
    reference character is read right when the alignment of the two texts (the Levenshtein
    edit script, case-sensitive, NFC) keeps it as it is."""
    ref, pred = nfc(ref), nfc(pred)
    kept = set()
    for op in _Levenshtein.opcodes(ref, pred):
        if op.tag == "equal":
            kept.update(range(op.src_start, op.src_end))
    cur = cur_ok = acc = acc_ok = 0
    for i, ch in enumerate(ref):
        if is_currency(ch):
            cur += 1
            cur_ok += i in kept
        elif is_accented(ch):
            acc += 1
            acc_ok += i in kept
    return cur, cur_ok, acc, acc_ok


def score_text(pairs: Iterable[tuple[str, str]]) -> TextScore:
    """Score ``(reference, predicted)`` pairs in every mode at once."""
    s = TextScore()
    for ref, pred in pairs:
        counts = _mode_counts(ref, pred)
        s.lines += 1
        s.exact_cs += counts[CASE_SENSITIVE][0] == 0
        s.exact_ci += counts[CASE_INSENSITIVE][0] == 0
        cur, cur_ok, acc, acc_ok = special_counts(ref, pred)
        s.currency += cur
        s.currency_right += cur_ok
        s.accented += acc
        s.accented_right += acc_ok
        for mode, (e, c) in counts.items():
            setattr(s, f"edits_{mode}", getattr(s, f"edits_{mode}") + e)
            setattr(s, f"chars_{mode}", getattr(s, f"chars_{mode}") + c)
    return s


# --------------------------------------------------------------------------- boxes
# iou, iou_matrix, paired_iou (polygons) and rect_iou, rect_iou_matrix (bounding rectangles, the
# published metric only) come from core.geometry.


def match_lines(
    pred: Sequence[Sequence], ref: Sequence[Sequence], threshold: float = IOU_THRESHOLD, *, rect: bool = False
) -> list[tuple[int, int, float]]:
    """Match predicted boxes 1:1 to reference boxes; return ``(pred_i, ref_i, iou)``.

    Greedy by IoU descending (ties: lower indices first). At IoU >= 0.5 a box
    rarely overlaps two partners that much, so greedy and optimal (Hungarian)
    matching almost always agree, and greedy is simple and deterministic.
    IoU of the polygons; ``rect=True``: of their bounding rectangles (the
    published end-to-end metric, :func:`score_page`).
    """
    m = rect_iou_matrix(pred, ref) if rect else iou_matrix(pred, ref)
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
    return _WS.sub("", nfc(text.upper()))


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
    Lines are matched on their axis-aligned bounding rectangles: the published
    metric (``shared/datasets/README.md``), comparable with published figures.
    """
    matches = match_lines([b for b, _ in pred], [b for b, _ in ref], threshold, rect=True)
    s = PageScore(ref_lines=len(ref), pred_lines=len(pred), matched=len(matches))
    matched_ref = set()
    for p, r, _ in matches:
        matched_ref.add(r)
        for mode, (e, c) in _mode_counts(ref[r][1], pred[p][1]).items():
            setattr(s, f"matched_edits_{mode}", getattr(s, f"matched_edits_{mode}") + e)
            setattr(s, f"matched_chars_{mode}", getattr(s, f"matched_chars_{mode}") + c)
    for i, (_, text) in enumerate(ref):
        n_cs, n_ci = len(normalize(text, CASE_SENSITIVE)), len(normalize(text, CASE_INSENSITIVE))
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
