"""The domain model: plain dataclasses, no Qt, no SQL.

The store (``core.store``) turns rows into these and back; widgets in ``app/`` draw them.
Geometry is always in page pixels: the pixels of the page as it is shown, which is its stored
image turned by the page's ``rotation`` (a quarter turn a person made, ADR 0008). A region's shape
is a 4-point polygon, clockwise from the text's top-left; an axis-aligned box is the special case
where the polygon is a rectangle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .fields import PRESETS as _FIELD_PRESETS
from .fields import FieldValue

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


#: The turns a page can be shown at: clockwise degrees from its stored image.
TURNS = (0, 90, 180, 270)


def turned_size(width: float, height: float, turn: int) -> tuple[float, float]:
    """The size of a ``width`` x ``height`` picture turned clockwise by ``turn`` degrees.

    >>> turned_size(300, 200, 90)
    (200, 300)
    """
    return (height, width) if turn % 180 else (width, height)


def turn_points(points, turn: int, width: float, height: float) -> list[tuple[float, float]]:
    """Points of a ``width`` x ``height`` page, moved with the page as it is turned clockwise by
    ``turn`` degrees (a multiple of 90; negative: counter-clockwise). The corner order is kept, so a
    region still starts at its text's top-left corner. Rounded to 1/100 pixel, so turning four
    times gives the points back exactly.

    >>> turn_points([(10, 20)], 90, 300, 200)   # the top-left corner of the text goes ...
    [(180.0, 10.0)]
    >>> turn_points([(180, 10)], -90, 200, 300)  # ... and comes back
    [(10.0, 20.0)]
    """
    t = turn % 360
    if t not in TURNS:
        raise ValueError(f"not a quarter turn: {turn}")
    out = []
    for p in points:
        x, y = float(p[0]), float(p[1])
        if t == 90:
            x, y = height - y, x
        elif t == 180:
            x, y = width - x, height - y
        elif t == 270:
            x, y = y, width - x
        out.append((round(x, 2) + 0.0, round(y, 2) + 0.0))  # + 0.0: no -0.0
    return out


def reframe(points, from_turn: int, to_turn: int, image_width: float, image_height: float) -> list[tuple[float, float]]:
    """Points made on a page shown at ``from_turn`` moved to the page shown at ``to_turn`` (both
    clockwise degrees from a stored image of ``image_width`` x ``image_height``)."""
    if (to_turn - from_turn) % 360 == 0:
        return [(float(p[0]), float(p[1])) for p in points]
    w, h = turned_size(image_width, image_height, from_turn)
    return turn_points(points, to_turn - from_turn, w, h)


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


#: The name auto-accepted pages are done by (``core.review.apply_auto_accept``: in the edit log,
#: ``done_by`` and the analytics).
AUTO_ACCEPT_USER = "auto-accept"


def people_finished(status: str, done_by: str | None) -> bool:
    """Whether people finished a page of ``status`` done by ``done_by``: approved by a reviewer, or
    marked done by a person. A page auto-accepted (done by :data:`AUTO_ACCEPT_USER`) and not
    reviewed yet is the machine's own reading: it trains nothing (a model taught its own output
    learns its own mistakes), judges no run (the model that read it would win on it) and joins no
    running total (its regions would vouch for the threshold that took it). The same rule in SQL:
    ``core.review_store.CONFIRMED_PAGES``."""
    return status == PageStatus.APPROVED or (status == PageStatus.DONE and done_by != AUTO_ACCEPT_USER)


@dataclass
class Page:
    """One page image of a document. ``width`` and ``height`` are the page as shown: its stored
    image turned by ``rotation`` (clockwise degrees, 0/90/180/270; ADR 0008)."""

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
    rotation: int = 0

    @property
    def confirmed(self) -> bool:
        """Whether people finished the page (:func:`people_finished`)."""
        return people_finished(self.status, self.done_by)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the stored image."""
        w, h = turned_size(self.width, self.height, self.rotation)
        return int(w), int(h)

    def to_image(self, points) -> list[tuple[float, float]]:
        """Page points -> the stored image's pixels (what a dataset manifest holds)."""
        return reframe(points, self.rotation, 0, *self.image_size)

    def from_image(self, points) -> list[tuple[float, float]]:
        """The stored image's pixels -> page points (the page as shown)."""
        return reframe(points, 0, self.rotation, *self.image_size)


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
    #: The page's turn its points were made at (ADR 0008). None when written: the page's turn at
    #: that moment (an engine read ``Project.image_path``, the page as shown); 0 for points on the
    #: stored image (a PDF's text layer). Read back, the store gives the points at the page's
    #: current turn and says so here.
    rotation: int | None = None
    #: The key fields the engine read on the page (issue 15): each ``sources`` are indexes into
    #: ``regions``. Pre-fill makes them the page's field values (:class:`PageField`).
    fields: tuple[FieldValue, ...] = ()


#: Where a page's field value came from: a prediction (pre-fill) or a person.
FIELD_ORIGINS = ("prediction", HUMAN)


@dataclass(frozen=True)
class PageField:
    """A key field of a page as people work on it: people's data, like a :class:`Region`.

    ``value`` is the :class:`~core.fields.FieldValue` (its ``sources`` are region ids of the page);
    ``origin`` is ``"prediction"`` (written by pre-fill, ``prediction_id`` says which) or
    ``"human"`` (typed, or marked absent, by a person); ``checked``: a person accepted it as it is
    (Enter); ``confirmed_by``: who set or checked it last (None: nobody yet, the machine's value);
    ``touched``: a person changed it at some point (pre-fill never overwrites it then);
    ``version`` grows with every change, as a region's does (a stale write is refused).
    """

    page_id: int
    value: FieldValue
    origin: str = "prediction"
    checked: bool = False
    confirmed_by: str | None = None
    prediction_id: int | None = None
    touched: bool = False
    version: int = 1
    updated_at: str = ""
    updated_by: str = ""
    id: int | None = None

    @property
    def name(self) -> str:
        return self.value.name

    @property
    def text(self) -> str:
        return self.value.text

    @property
    def absent(self) -> bool:
        return self.value.absent


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

    #: The presets a new project can start from: those of :data:`core.fields.PRESETS`.
    PRESETS = {name: list(names) for name, names in _FIELD_PRESETS.items()}

    @classmethod
    def preset(cls, name: str) -> "FieldSchema":
        return cls(list(cls.PRESETS[name]))
