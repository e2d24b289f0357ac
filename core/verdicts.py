"""Verdicts: what people made of each predicted region, derived from the Prediction and the Regions.

A prediction is immutable and every region remembers which predicted region it came from, so
the verdict of each predicted region can be recomputed at any time:

- ``correct``: the region is still there with the same text and (nearly) the same box;
- ``wrong_text``: the text was corrected (``edit_distance`` says by how much);
- ``wrong_box``: the box was moved or resized so that IoU with the prediction (of the polygons,
  not of their bounding rectangles) fell below the threshold (the text may also have changed);
- ``deleted``: a person deleted it (a false positive);
- ``missing``: a region a person added (the engine did not find it).

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
        out.append(Verdict(kind, prediction.id, i, region.id, dist, len(nfc(region.text)), iou, pred.confidence))
    for r in regions:
        if r.origin == HUMAN and not r.deleted:
            n = len(nfc(r.text))
            out.append(Verdict(MISSING, prediction.id, None, r.id, n, n))
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
