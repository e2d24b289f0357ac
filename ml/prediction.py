"""Engine-neutral prediction types, config hashing and image loading.

Everything an engine returns for a page is a :class:`PagePrediction`; the
store persists it as one Prediction with its Regions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import cv2
import numpy as np


@dataclass
class Region:
    """One predicted text segment.

    ``points`` are four ``[x, y]`` corners in ORIGINAL page pixels, clockwise
    starting from the text's top-left (for an upright page: TL, TR, BR, BL,
    the reference format's order).
    """

    points: list[list[float]]
    text: str
    confidence: float  # 0..1
    #: Set by engines that read a region twice (``combined``): the two readings differ.
    disagree: bool = False
    #: The second reading where it differs from ``text`` (None otherwise).
    second_opinion: str | None = None

    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned ``(x0, y0, x1, y1)`` around the points."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass
class PagePrediction:
    """An engine's pre-fill for one page."""

    regions: list[Region]
    engine: str  # e.g. "classical"
    engine_version: str  # e.g. "tesseract 5.5.4 tessdata_fast-eng / classical 1.0"
    config: dict[str, Any]
    config_hash: str
    width: int  # original page size in pixels
    height: int
    #: Wall seconds spent in the engine for this page (preprocess to text).
    seconds: float = 0.0
    #: Engine-specific facts, e.g. {"rotation": 90, "skew": 0.8}.
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PagePrediction:
        d = dict(d)
        d["regions"] = [Region(**r) for r in d.get("regions", [])]
        return cls(**d)


class Engine(Protocol):
    """What the pool, the harness and the CLI need from an OCR engine."""

    name: str
    version: str
    config: dict[str, Any]
    config_hash: str

    def predict(self, image: np.ndarray) -> PagePrediction:
        """Pre-fill a page (gray or BGR uint8 array)."""
        ...

    def recognize_crops(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
        """Read given axis-aligned boxes (x0, y0, x1, y1) of a page: (text, confidence)."""
        ...


def config_hash(engine: str, config: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of an engine name and its config dict.

    Canonical JSON (sorted keys, no whitespace), so the hash does not depend
    on dict order or the Python version; the engine version is not part of
    it (store it beside the hash).
    """
    blob = json.dumps({"engine": engine, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def load_image(source: str | Path | bytes | np.ndarray) -> np.ndarray:
    """Decode a page to an 8-bit grayscale array.

    Accepts a path, encoded bytes or an array (returned as is). The stored
    pixel grid is used as it is: EXIF orientation is NOT applied, so boxes
    are in the same frame as the file's width/height. Raises ValueError when
    the data cannot be decoded.
    """
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, (str, Path)):
        data = np.fromfile(str(source), dtype=np.uint8)  # works with non-ASCII paths
    else:
        data = np.frombuffer(source, dtype=np.uint8)
    img = None
    if data.size:
        img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError(f"cannot decode image {source if isinstance(source, (str, Path)) else '<bytes>'}")
    return img
