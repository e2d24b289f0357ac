"""The domain model: plain dataclasses, no Qt, no SQL.

The store (``core.store``) turns rows into these and back; widgets in ``app/`` draw them.
Geometry is always in original page pixels. A region's shape is a 4-point polygon, clockwise
from top-left; an axis-aligned box is the special case where the polygon is a rectangle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]


class Role(str, enum.Enum):
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class PageStatus(str, enum.Enum):
    """Where a page stands in the work queue.

    ``new`` -> ``prefilled`` -> ``in_progress`` -> ``done``; review adds ``approved`` and
    ``rejected`` (a rejected page goes back to its annotator's queue).
    """

    NEW = "new"
    PREFILLED = "prefilled"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    APPROVED = "approved"
    REJECTED = "rejected"


#: Origin of a region made by a person rather than copied from a prediction.
HUMAN = "human"


def box_to_quad(x0: float, y0: float, x1: float, y1: float) -> Quad:
    """Axis-aligned box to the 4-point polygon form.

    >>> box_to_quad(1, 2, 3, 4)
    ((1, 2), (3, 2), (3, 4), (1, 4))
    """
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def quad_bounds(points: Quad | list) -> tuple[float, float, float, float]:
    """The axis-aligned bounds (x0, y0, x1, y1) of a polygon."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def flat_to_quad(flat: list[float]) -> Quad:
    """``[x1,y1,...,x4,y4]`` (the reference format's ``box``) to a polygon."""
    if len(flat) != 8:
        raise ValueError(f"a box needs 8 numbers, got {len(flat)}")
    return tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, 8, 2))  # type: ignore[return-value]


@dataclass
class User:
    name: str
    role: Role = Role.ANNOTATOR
    id: int | None = None


@dataclass
class Document:
    """An imported file (an image, a multi-page TIFF, a PDF)."""

    name: str
    sha256: str
    source: str
    kind: str  # "image" or "pdf"
    imported_at: str
    imported_by: str
    batch: str
    page_count: int = 0
    id: int | None = None


@dataclass
class Page:
    document_id: int
    page_no: int
    image_sha256: str
    width: int
    height: int
    status: PageStatus = PageStatus.NEW
    assignee: str | None = None
    name: str = ""
    created_at: str = ""
    updated_at: str = ""
    done_by: str | None = None
    done_at: str | None = None
    id: int | None = None


@dataclass
class Region:
    """A text region on a page: shape, text, field label and where it came from.

    ``origin`` is ``"human"`` or ``"prediction"``; ``prediction_id``/``pred_index`` say
    which predicted region it was copied from. ``version`` grows with every change and is
    how two windows detect a conflicting edit.
    """

    page_id: int
    points: Quad
    text: str = ""
    label: str | None = None
    confidence: float | None = None
    origin: str = HUMAN
    prediction_id: int | None = None
    pred_index: int | None = None
    deleted: bool = False
    locked: bool = False
    version: int = 1
    id: int | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return quad_bounds(self.points)


@dataclass(frozen=True)
class PredictedRegion:
    points: Quad
    text: str
    confidence: float
    label: str | None = None
    #: The engines read this region differently (the combined engine's second opinion).
    disagree: bool = False
    second_opinion: str | None = None


@dataclass(frozen=True)
class Prediction:
    """What one engine (and model version) said about a page. Never changed once written."""

    page_id: int
    engine: str
    engine_version: str
    config: dict[str, Any]
    config_hash: str
    regions: tuple[PredictedRegion, ...]
    created_at: str = ""
    model_version: str | None = None
    duration_s: float | None = None
    id: int | None = None


@dataclass(frozen=True)
class Edit:
    """One change in the append-only log: who changed which field of what, from and to."""

    action_id: int
    ts: str
    user: str
    page_id: int
    region_id: int | None
    field: str
    before: Any
    after: Any
    id: int | None = None


@dataclass(frozen=True)
class Review:
    page_id: int
    reviewer: str
    verdict: str  # "approved" or "rejected"
    comment: str = ""
    created_at: str = ""
    id: int | None = None


@dataclass
class FieldSchema:
    """The project's field names, in display order."""

    fields: list[str] = field(default_factory=list)

    PRESETS = {
        "receipt": ["company", "date", "address", "total"],
        "invoice": ["vendor", "invoice_number", "date", "due_date", "total", "tax", "currency"],
    }

    @classmethod
    def preset(cls, name: str) -> "FieldSchema":
        return cls(list(cls.PRESETS[name]))
