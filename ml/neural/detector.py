"""Text detection with a DB (differentiable binarization) network: preprocessing and box extraction.

The network maps a page to a per-pixel text probability map that covers the
*shrunk* text kernels. :func:`boxes_from_map` turns it into text boxes: threshold,
contours, a minimum-area rectangle per contour, a score (mean probability in it),
then "unclip": the rectangle is grown back by ``area * unclip_ratio / perimeter``
on every side, undoing the shrink the network was trained with.

Boxes are 4-point polygons in ORIGINAL page pixels, clockwise from the top-left
corner (the reference format's order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ml.neural.models import ModelSpec


@dataclass(frozen=True)
class DetectConfig:
    """Parameters of the neural detector (defaults tuned on sroie-dev)."""

    #: The page's long side is scaled to at most this many pixels (speed);
    #: 0 = keep the page size. Sides are then rounded to multiples of 32.
    max_side: int = 960
    #: Pages whose short side would fall below this are scaled up to it.
    min_side: int = 0
    #: Scale by the page's own text size instead (0 = off): the typical character height
    #: (connected components, ``ml.detect.char_height``) becomes about this many input pixels,
    #: never smaller than ``max_side`` would make it and never above the page's own size
    #: (``max_side`` is then the floor, ``char_max_side`` the ceiling). Small print on an A4
    #: page at 200 dpi is 6 px high at 960 pixels: the detector misses or merges such lines.
    char_px: float = 12.0
    char_max_side: int = 4096
    #: Probability above which a pixel is text.
    thresh: float = 0.3
    #: Minimum mean probability inside a box to keep it.
    box_thresh: float = 0.6
    #: How much a kernel box is grown back (see the module docstring). 1.0 rather than
    #: PaddleOCR's 1.5: tighter boxes match annotated segments better (sroie-dev recall
    #: 88.3% at 1.5, 90.9% at 1.0); the recogniser adds its own context (pad_x, pad_y).
    unclip_ratio: float = 1.0
    #: Boxes whose short side is below this (map pixels) are dropped.
    min_size: float = 3.0
    #: Dilate the binary map by 2x2 before finding contours (joins broken kernels).
    dilate: bool = False
    max_candidates: int = 1000


def postprocess(meta: dict) -> dict[str, float]:
    """The box-extraction settings a detector's ``model.json`` records (``postprocess``: the
    thresholds and unclip ratio a fine-tuned detector was exported with, ``ml.training.detector``);
    {} for the shipped one."""
    pp = meta.get("postprocess") or {}
    return {k: float(pp[k]) for k in ("thresh", "box_thresh", "unclip_ratio") if k in pp}


def detection_shape(bgr: np.ndarray, cfg: DetectConfig, multiple: int = 32) -> tuple[int, int]:
    """``(H, W)`` the network reads a page at (:func:`resize_for_detection`, at the page's own text
    size when ``cfg.char_px`` asks for it): pre-fill and the detector's training scale alike."""
    char_h = page_char_height(bgr) if cfg.char_px else None
    return resize_for_detection(bgr.shape[:2], cfg, multiple, char_h)


def resize_page(bgr: np.ndarray, rh: int, rw: int) -> np.ndarray:
    """``bgr`` resized to ``rh x rw`` (area averaging when it shrinks)."""
    interp = cv2.INTER_AREA if rh * rw < bgr.shape[0] * bgr.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(bgr, (rw, rh), interpolation=interp)


def resize_for_detection(shape: tuple[int, int], cfg: DetectConfig, multiple: int = 32,
                         char_h: float | None = None) -> tuple[int, int]:
    """Network input ``(height, width)`` for a page of ``shape`` (h, w); ``char_h``: the page's
    typical character height in pixels (used when ``cfg.char_px`` is set)."""
    h, w = shape
    scale = 1.0
    if cfg.max_side and max(h, w) * scale > cfg.max_side:
        scale = cfg.max_side / max(h, w)
    if cfg.char_px and char_h:
        ceiling = min(1.0, cfg.char_max_side / max(h, w)) if cfg.char_max_side else 1.0
        scale = max(scale, min(ceiling, cfg.char_px / char_h))
    if cfg.min_side and min(h, w) * scale < cfg.min_side:
        scale = cfg.min_side / min(h, w)
    rh = max(multiple, int(round(h * scale / multiple)) * multiple)
    rw = max(multiple, int(round(w * scale / multiple)) * multiple)
    return rh, rw


def page_char_height(bgr: np.ndarray) -> float:
    """The typical character height of a page in pixels (connected components of the
    binarised page, read at up to 2000 pixels a side for speed)."""
    from ml.detect import binarize, char_height

    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    f = min(1.0, 2000.0 / max(gray.shape[:2]))
    if f < 1.0:
        gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    stats = cv2.connectedComponentsWithStats(binarize(gray), connectivity=8)[2]
    return char_height(stats) / f


def to_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel uint8 view of a gray, BGR or BGRA page."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def normalize(bgr: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 H x W x 3 -> float32 1 x 3 x H x W with the model's mean/std."""
    x = bgr.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(spec.mean, dtype=np.float32)
    x /= np.asarray(spec.std, dtype=np.float32)
    return x.transpose(2, 0, 1)[None]


def order_clockwise(pts: np.ndarray) -> np.ndarray:
    """Order 4 points clockwise starting at the top-left (image y grows down).

    The two left-most points are the left side; of those the upper one is
    top-left. Robust for the near-horizontal boxes of documents.
    """
    pts = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    xs = np.argsort(pts[:, 0], kind="stable")
    left, right = pts[xs[:2]], pts[xs[2:]]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl])


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the polygon ``box`` (map pixels)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def boxes_from_map(prob: np.ndarray, page_size: tuple[int, int], cfg: DetectConfig) -> list[tuple[np.ndarray, float]]:
    """Text boxes from a ``H x W`` probability map: ``[(4x2 points in page pixels, score)]``.

    ``page_size`` is the original ``(width, height)``; points are scaled to it,
    clipped to the page and ordered clockwise from the top-left. Sorted top to
    bottom, then left to right.
    """
    mh, mw = prob.shape
    pw, ph = page_size
    bitmap = (prob > cfg.thresh).astype(np.uint8)
    if cfg.dilate:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = pw / mw, ph / mh
    out = []
    for contour in contours[: cfg.max_candidates]:
        if len(contour) < 3:
            continue
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < cfg.min_size:
            continue
        box = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        score = _box_score(prob, box)
        if score < cfg.box_thresh:
            continue
        # Unclip: offsetting a rectangle outward by d on every side and taking
        # the minimum-area rectangle of the (round-cornered) result gives the
        # rectangle grown by 2d, so no polygon clipping library is needed.
        d = rw * rh * cfg.unclip_ratio / (2.0 * (rw + rh))
        rw2, rh2 = rw + 2 * d, rh + 2 * d
        if min(rw2, rh2) < cfg.min_size + 2:
            continue
        box = cv2.boxPoints(((cx, cy), (rw2, rh2), angle)).astype(np.float64)
        box[:, 0] = np.clip(box[:, 0] * sx, 0, pw)
        box[:, 1] = np.clip(box[:, 1] * sy, 0, ph)
        out.append((order_clockwise(box), score))
    out.sort(key=lambda b: (round(b[0][:, 1].min() / 10), b[0][:, 0].min()))
    return out


class Detector:
    """A DB detector on an onnxruntime session: ``detect(page) -> [(points, score)]``."""

    def __init__(self, spec: ModelSpec, session: Any, cfg: DetectConfig | None = None):
        self.spec = spec
        self.session = session
        self.cfg = cfg or DetectConfig()
        self._input = session.get_inputs()[0].name

    def probability_map(self, image: np.ndarray) -> np.ndarray:
        """The network's ``H' x W'`` text probability for ``image`` resized for detection."""
        bgr = to_bgr(image)
        rh, rw = detection_shape(bgr, self.cfg, self.spec.size_multiple)
        x = normalize(resize_page(bgr, rh, rw), self.spec)
        return self.session.run(None, {self._input: x})[0][0, 0]

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes (4x2, page pixels, clockwise from top-left) with their detection scores."""
        h, w = image.shape[:2]
        return boxes_from_map(self.probability_map(image), (w, h), self.cfg)
