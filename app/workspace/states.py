"""What state a region is in (for colour and filters), and the colour of each state."""

from __future__ import annotations

from PySide6.QtGui import QColor

from core.model import HUMAN, PredictedRegion, Region

#: Below this confidence a machine-read region is flagged for attention.
LOW_CONFIDENCE = 0.6

PREFILLED, EDITED, HUMAN_ADDED, LOW, LABELLED = "prefilled", "edited", "human", "low", "labelled"
CHECKED = "checked"

COLOURS = {
    PREFILLED: QColor(30, 120, 230),   # blue: as the machine read it
    EDITED: QColor(235, 140, 0),       # orange: a person changed the machine's region
    HUMAN_ADDED: QColor(20, 160, 60),  # green: drawn by a person
    LOW: QColor(225, 40, 40),          # red: machine text with low confidence, not yet touched
    LABELLED: QColor(160, 60, 200),    # purple: carries a field label
    CHECKED: QColor(0, 150, 136),      # teal: a person read the machine's text and accepted it
}

NAMES = {
    PREFILLED: "pre-filled",
    EDITED: "edited",
    HUMAN_ADDED: "added by a person",
    LOW: "low confidence",
    LABELLED: "field label",
    CHECKED: "checked by a person",
}


def is_low(region: Region) -> bool:
    """Read by a machine with a low confidence: pre-filled, or a box a person drew and the
    recogniser read (typing its text removes the confidence)."""
    return region.confidence is not None and region.confidence < LOW_CONFIDENCE


def region_state(region: Region, predicted: PredictedRegion | None = None, checked: bool = False) -> str:
    """The state a region is drawn in; the field label wins, then who made it.

    ``predicted`` is the predicted region it was copied from, to tell an edited region from
    an untouched one (without it, any change of version counts as an edit). ``checked``: a
    person confirmed its text (typed it, or accepted it with Enter: ``Store.checked_region_ids``);
    a checked region is never flagged low, whatever its machine confidence.
    """
    if region.label:
        return LABELLED
    if region.origin == HUMAN:
        return LOW if is_low(region) and not checked else HUMAN_ADDED
    if predicted is not None:
        same_text = predicted.text == region.text
        same_box = all(abs(a - b) < 0.5 for p, q in zip(predicted.points, region.points) for a, b in zip(p, q))
        edited = not (same_text and same_box)
    else:
        edited = region.version > 1 and not checked  # checking bumps the version too
    if edited:
        return EDITED
    if checked:
        return CHECKED
    return LOW if is_low(region) else PREFILLED
