"""Verdicts: what people made of each predicted region, derived from the Prediction and the Regions.

A prediction is immutable and every region remembers which predicted region it came from, so
the verdict of each predicted region can be recomputed at any time:

- ``correct``: the region is still there with the same text and (nearly) the same box;
- ``wrong_text``: the text was corrected (``edit_distance`` says by how much);
- ``wrong_box``: the box was moved or resized so that IoU with the prediction (of the polygons,
  not of their bounding rectangles) fell below the threshold (the text may also have changed);
- ``deleted``: a person deleted it (a false positive);
- ``missing``: a region a person added (the engine did not find it).

Beside its kind, a kept region's verdict says whether people changed the field label the
prediction gave it (:func:`label_wrong`: a form's answer made a question, a region labelled
``total`` relabelled ``net_total``); a label the prediction did not give is no verdict.

>>> from core.model import PredictedRegion, Region, Prediction, box_to_quad
>>> p = Prediction(1, "classical", "v", {}, "h", (PredictedRegion(box_to_quad(0, 0, 10, 10), "A", 0.9),), id=7)
>>> r = Region(1, box_to_quad(0, 0, 10, 10), "B", origin="prediction", prediction_id=7, pred_index=0, id=3)
>>> [v.kind for v in compute_verdicts(p, [r])]
['wrong_text']
"""

from __future__ import annotations

from dataclasses import dataclass

from .geometry import paired_iou
from .model import HUMAN, Prediction, Region
from .scoring import levenshtein, nfc

CORRECT = "correct"
WRONG_TEXT = "wrong_text"
WRONG_BOX = "wrong_box"
DELETED = "deleted"
MISSING = "missing"
KINDS = (CORRECT, WRONG_TEXT, WRONG_BOX, DELETED, MISSING)

#: Below this IoU with its prediction, a region's box counts as wrong.
BOX_IOU_THRESHOLD = 0.7


@dataclass(frozen=True)
class Verdict:
    kind: str
    prediction_id: int | None
    pred_index: int | None
    region_id: int | None
    edit_distance: int = 0
    ref_chars: int = 0  # characters of the final (human) text, the CER denominator
    iou: float | None = None
    confidence: float | None = None
    #: The field label the prediction gave the region, and the region's now (kept regions).
    pred_label: str | None = None
    label: str | None = None

    @property
    def label_wrong(self) -> bool:
        """:func:`label_wrong` of this verdict."""
        return label_wrong(self.kind, self.pred_label, self.label)


def label_wrong(kind: str, pred_label: str | None, label: str | None) -> bool:
    """Whether people changed the field label the prediction gave a region they kept (or cleared
    it). A region the prediction gave no label to has no label verdict, whatever people gave it:
    labelling is not asked of every region."""
    return kind in (CORRECT, WRONG_TEXT, WRONG_BOX) and bool(pred_label) and (label or None) != pred_label


def compute_verdicts(prediction: Prediction, regions: list[Region], iou_threshold: float = BOX_IOU_THRESHOLD) -> list[Verdict]:
    """Verdicts of one prediction against a page's regions (deleted ones included).

    Predicted regions with no region at all (never shown: a person's region already covered
    them) get no verdict. Human regions are ``missing`` unless deleted.
    """
    by_index = {r.pred_index: r for r in regions if r.prediction_id == prediction.id and r.origin != HUMAN}
    # Polygon IoU of each kept region with its prediction, all at once.
    live = [i for i in range(len(prediction.regions)) if i in by_index and not by_index[i].deleted]
    ious = dict(zip(live, paired_iou([prediction.regions[i].points for i in live], [by_index[i].points for i in live])))
    out: list[Verdict] = []
    for i, pred in enumerate(prediction.regions):
        region = by_index.get(i)
        if region is None:
            continue
        if region.deleted:
            out.append(Verdict(DELETED, prediction.id, i, region.id, confidence=pred.confidence))
            continue
        iou = ious[i]
        dist = levenshtein(pred.text, region.text)
        kind = WRONG_BOX if iou < iou_threshold else (WRONG_TEXT if dist else CORRECT)
        out.append(Verdict(kind, prediction.id, i, region.id, dist, len(nfc(region.text)), iou, pred.confidence,
                           pred.label, region.label))
    for r in regions:
        if r.origin == HUMAN and not r.deleted:
            n = len(nfc(r.text))
            out.append(Verdict(MISSING, prediction.id, None, r.id, n, n, label=r.label))
    return out


def summarize(verdicts: list[Verdict]) -> dict[str, float]:
    """Counts per kind plus precision, recall and CER of the engine against what people kept.

    precision = predicted regions kept (correct, wrong text) / predicted regions;
    recall = predicted regions kept / (kept + missing); CER = edits / characters of kept text.
    """
    counts = {k: 0 for k in KINDS}
    edits = chars = 0
    for v in verdicts:
        counts[v.kind] += 1
        if v.kind in (CORRECT, WRONG_TEXT, WRONG_BOX, MISSING):
            edits += v.edit_distance
            chars += v.ref_chars
    return summarize_counts(counts, edits, chars)


def summarize_counts(counts: dict[str, int], edits: int, chars: int) -> dict[str, float]:
    """:func:`summarize` from counts per kind and the summed edit distance and characters
    (of correct, wrong text, wrong box and missing verdicts), e.g. from a GROUP BY."""
    counts = {k: int(counts.get(k, 0)) for k in KINDS}
    predicted = counts[CORRECT] + counts[WRONG_TEXT] + counts[WRONG_BOX] + counts[DELETED]
    kept = counts[CORRECT] + counts[WRONG_TEXT]
    return {
        **counts,
        "precision": kept / predicted if predicted else 0.0,
        "recall": kept / (kept + counts[WRONG_BOX] + counts[MISSING]) if kept + counts[MISSING] + counts[WRONG_BOX] else 0.0,
        "cer": edits / chars if chars else 0.0,
        "typing_saved": 1 - edits / chars if chars else 0.0,
    }


# -- key fields (issue 15) ---------------------------------------------------------------------
# Per field of the page's latest prediction that made its fields, against the page's final
# field values (``Store.page_fields``), compared with ``core.fields.same`` (the SROIE rule: space
# squeezed, case-insensitive; typed fields also by normalised value):
#
# - ``correct``: the prediction's value is the final value;
# - ``wrong``: the prediction gave a value, the final is a different value;
# - ``missing``: the prediction said absent, or did not name the field, and the final has a value;
# - ``not_on_page``: the prediction gave a value and a person marked the field absent (a final
#   without any value counts as absent: nobody kept the predicted one);
# - ``correct_absent``: the prediction said absent and so is the final. Its own kind, so that a
#   model that says "absent" for a field the pages rarely have does not look like one that reads
#   it, but it is *right*: it counts as correct in accuracy and auto-accept (:data:`FIELD_RIGHT`).
#
# A field neither predicted nor with a final value has no verdict. ``predicted`` says whether
# the prediction named the field (a value or absent): accuracy is right / predicted.

FIELD_CORRECT = "correct"
FIELD_CORRECT_ABSENT = "correct_absent"
FIELD_WRONG = "wrong"
FIELD_MISSING = "missing"
FIELD_NOT_ON_PAGE = "not_on_page"
FIELD_KINDS = (FIELD_CORRECT, FIELD_CORRECT_ABSENT, FIELD_WRONG, FIELD_MISSING, FIELD_NOT_ON_PAGE)
#: The kinds that say the prediction was right.
FIELD_RIGHT = (FIELD_CORRECT, FIELD_CORRECT_ABSENT)


@dataclass(frozen=True)
class FieldVerdict:
    """What people made of one predicted field of a page."""

    name: str
    kind: str
    predicted: bool  # the prediction named the field (a value, or absent)
    predicted_text: str = ""
    predicted_value: str | None = None
    predicted_absent: bool = False
    final_text: str = ""
    final_value: str | None = None
    final_absent: bool = False
    confidence: float | None = None

    @property
    def right(self) -> bool:
        return self.kind in FIELD_RIGHT


def _has_value(v) -> bool:
    return v is not None and not v.absent and bool((v.text or "").strip() or v.value)


def _same_value(name: str, predicted, final) -> bool:
    from .fields import same

    if same(name, predicted.text, final.text):
        return True
    # Both normalised (a date typed as ISO against the printed one, already normalised on both).
    return predicted.value is not None and final.value is not None and str(predicted.value) == str(final.value)


def compute_field_verdicts(predicted, final, order=None) -> list[FieldVerdict]:
    """Verdicts of a prediction's fields (``FieldValue``s) against a page's final values
    (``FieldValue``s, or anything with a ``.value`` FieldValue such as ``PageField``).

    The first value of a name counts (as pre-fill takes it). Order: the prediction's names,
    then ``order`` (the project's field schema), then the other final names by name.

    >>> from core.fields import FieldValue as F
    >>> vs = compute_field_verdicts([F("total", "12,50", "12.50", confidence=0.9), F("date", absent=True)],
    ...                             [F("total", "12.50", "12.50"), F("date", "05.03.2018", "2018-03-05")])
    >>> [(v.name, v.kind) for v in vs]
    [('total', 'correct'), ('date', 'missing')]
    """
    pred: dict = {}
    for f in predicted:
        name = (f.name or "").strip()
        if name and name not in pred:
            pred[name] = f
    fin: dict = {}
    from .fields import FieldValue

    for f in final:
        v = f if isinstance(f, FieldValue) else f.value  # a PageField holds its FieldValue
        name = (v.name or "").strip()
        if name and name not in fin:
            fin[name] = v
    names = list(pred)
    for n in list(order or ()) + sorted(fin):
        if n not in names and n in fin:
            names.append(n)
    out: list[FieldVerdict] = []
    for name in names:
        p, f = pred.get(name), fin.get(name)
        p_has, f_has = _has_value(p), _has_value(f)
        if p is None and not f_has:
            continue  # nothing predicted, nothing there
        if p_has:
            kind = (FIELD_CORRECT if _same_value(name, p, f) else FIELD_WRONG) if f_has else FIELD_NOT_ON_PAGE
        else:
            kind = FIELD_MISSING if f_has else FIELD_CORRECT_ABSENT
        out.append(FieldVerdict(
            name, kind, p is not None,
            predicted_text=p.text if p_has else "", predicted_value=p.value if p_has else None,
            predicted_absent=p is not None and not p_has,
            final_text=f.text if f_has else "", final_value=f.value if f_has else None,
            final_absent=not f_has, confidence=p.confidence if p is not None else None))
    return out


def summarize_fields(counts: dict[str, int], predicted: int, right: int) -> dict[str, float]:
    """Per-field figures from counts per kind, the fields the prediction named and those it got
    right (a reviewer's "wrong" mark taken into account): accuracy = right / predicted."""
    counts = {k: int(counts.get(k, 0)) for k in FIELD_KINDS}
    return {**counts, "predicted": int(predicted), "right": int(right),
            "accuracy": right / predicted if predicted else None}
