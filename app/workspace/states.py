"""What state a region is in (for colour and filters), and the colour of each state."""

from __future__ import annotations

from PySide6.QtGui import QColor

from core.model import HUMAN, PredictedRegion, Region

#: Below this confidence a machine-read region is flagged for attention.
LOW_CONFIDENCE = 0.6

PREFILLED, EDITED, HUMAN_ADDED, LOW, LABELLED = "prefilled", "edited", "human", "low", "labelled"

COLOURS = {
    PREFILLED: QColor(30, 120, 230),   # blue: as the machine read it
    EDITED: QColor(235, 140, 0),       # orange: a person changed the machine's region
    HUMAN_ADDED: QColor(20, 160, 60),  # green: drawn by a person
    LOW: QColor(225, 40, 40),          # red: machine text with low confidence, not yet touched
    LABELLED: QColor(160, 60, 200),    # purple: carries a field label
}

NAMES = {
    PREFILLED: "pre-filled",
    EDITED: "edited",
    HUMAN_ADDED: "added by a person",
    LOW: "low confidence",
    LABELLED: "field label",
}


def is_low(region: Region) -> bool:
    """Read by a machine with a low confidence: pre-filled, or a box a person drew and the
    recogniser read (typing its text removes the confidence)."""
    return region.confidence is not None and region.confidence < LOW_CONFIDENCE


def region_state(region: Region, predicted: PredictedRegion | None = None) -> str:
    """The state a region is drawn in; the field label wins, then who made it.

    ``predicted`` is the predicted region it was copied from, to tell an edited region from
    an untouched one (without it, any change of version counts as an edit).
    """
    if region.label:
        return LABELLED
    if region.origin == HUMAN:
        return LOW if is_low(region) else HUMAN_ADDED
    if predicted is not None:
        same_text = predicted.text == region.text
        same_box = all(abs(a - b) < 0.5 for p, q in zip(predicted.points, region.points) for a, b in zip(p, q))
        edited = not (same_text and same_box)
    else:
        edited = region.version > 1
    if edited:
        return EDITED
    return LOW if is_low(region) else PREFILLED
