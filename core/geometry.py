"""Overlap of regions: IoU of their polygons (a box is the rectangle case), vectorised.

A region is a 4-point polygon. On a skewed page the bounding rectangles of two neighbouring
lines overlap a lot (600x30 lines 40 px apart: IoU 0.48 at 8 degrees, 0.64 at 15) although the
lines do not overlap at all, so every overlap in Proofdesk is the overlap of the polygons
(:func:`iou`, :func:`iou_matrix`, :func:`paired_iou`, :func:`any_overlap`). The one exception is
eval's published end-to-end metric, defined on axis-aligned rectangles
(``shared/datasets/README.md``): :func:`rect_iou` and :func:`rect_iou_matrix`.

A box may be given as 4 numbers ``x0, y0, x1, y1``, 8 numbers ``x1, y1, ..., x4, y4`` (the
reference format) or points ``[[x, y], ...]``. Degenerate shapes never give NaN: a
self-intersecting quad (a bow tie) counts for the area it really encloses (``make_valid``); a
shape of zero area, or with a non-finite coordinate, overlaps nothing (IoU 0).

Speed: only pairs whose bounding rectangles overlap are looked at; pairs of axis-aligned
rectangles (most pages) are computed from their bounds, and convex quads that a separating axis
keeps apart (neighbouring lines of a skewed page) get 0, both without GEOS; GEOS intersects only
what really overlaps. 200 lines skewed by 15 degrees against themselves: about 7 ms on a busy
2-core CPU (3 ms axis-aligned); the pure-Python rectangle loop pre-fill used took far longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import shapely

__all__ = ["any_overlap", "iou", "iou_matrix", "paired_iou", "rect_iou", "rect_iou_matrix", "to_xyxy"]


def _points(box: Sequence) -> np.ndarray:
    """``(k, 2)`` float corners of a box in any accepted format (4 numbers: a rectangle)."""
    a = np.asarray(box, dtype=float)
    if a.shape == (4,) or a.shape == (2, 2):
        x0, y0, x1, y1 = a.reshape(4)
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if a.size < 4 or a.size % 2:
        raise ValueError(f"bad box {box!r}")
    return a.reshape(-1, 2)


def to_xyxy(box: Sequence) -> tuple[float, float, float, float]:
    """Axis-aligned ``(x0, y0, x1, y1)`` around a box in any accepted format."""
    p = _points(box)
    return (p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max())


@dataclass
class _Shapes:
    """Boxes ready for overlap: bounds (N, 4), areas (N,), which are axis-aligned rectangles,
    and the (valid) polygons, None where the area is 0 or a coordinate is not finite."""

    bounds: np.ndarray
    area: np.ndarray
    rect: np.ndarray
    geoms: np.ndarray
    #: (N, 4, 2) corners, where ``convex`` (a convex quad, what detectors and people draw)
    quads: np.ndarray
    convex: np.ndarray

    def __len__(self) -> int:
        return len(self.area)


def _shapes(boxes: Sequence[Sequence]) -> _Shapes:
    pts = [_points(b) for b in boxes]
    n = len(pts)
    if not n:
        z = np.zeros(0)
        return _Shapes(np.zeros((0, 4)), z, z.astype(bool), np.empty(0, dtype=object), np.zeros((0, 4, 2)),
                       z.astype(bool))
    finite = np.array([np.isfinite(p).all() for p in pts])
    bounds = np.zeros((n, 4))
    geoms = np.full(n, None, dtype=object)
    ok = np.nonzero(finite)[0]
    if len(ok):
        if len({len(pts[i]) for i in ok}) == 1:
            stack = np.stack([pts[i] for i in ok])
            bounds[ok] = np.concatenate([stack.min(axis=1), stack.max(axis=1)], axis=1)
            geoms[ok] = shapely.polygons(stack)
        else:  # polygons of different vertex counts: one by one
            for i in ok:
                bounds[i] = (*pts[i].min(axis=0), *pts[i].max(axis=0))
                geoms[i] = shapely.Polygon(pts[i])
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    bad = finite & ~shapely.is_valid(geoms)
    if bad.any():  # a bow tie: the area it really encloses
        geoms[bad] = shapely.make_valid(geoms[bad])
    area = np.where(finite, shapely.area(geoms), 0.0)
    area = np.nan_to_num(area, nan=0.0)
    # An axis-aligned rectangle fills its bounds: overlap from the bounds, exactly, without GEOS.
    rect = finite & (np.abs(area - box_area) <= 1e-9 * np.maximum(box_area, 1.0))
    area = np.where(rect, box_area, area)
    geoms[area <= 0] = None
    quads = np.zeros((n, 4, 2))
    four = np.array([len(p) == 4 for p in pts]) & finite
    if four.any():
        quads[four] = np.stack([pts[i] for i in np.nonzero(four)[0]])
    # Convex: the turns at the 4 corners never change sign (a bow tie's do).
    e = np.roll(quads, -1, axis=1) - quads
    turn = e[..., 0] * np.roll(e, -1, axis=1)[..., 1] - e[..., 1] * np.roll(e, -1, axis=1)[..., 0]
    convex = four & (area > 0) & ((turn >= 0).all(axis=1) | (turn <= 0).all(axis=1))
    return _Shapes(bounds, area, rect, geoms, quads, convex)


def _separated(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Whether convex quads ``p[k]`` and ``q[k]`` ((K, 4, 2) each) have no interior in common:
    some edge normal of either separates them (the separating axis theorem)."""
    edges = np.concatenate([np.roll(p, -1, axis=1) - p, np.roll(q, -1, axis=1) - q], axis=1)
    nx, ny = -edges[..., 1], edges[..., 0]  # (K, 8): the 8 edge normals

    def span(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = [nx * corners[:, c, None, 0] + ny * corners[:, c, None, 1] for c in range(4)]
        return (np.minimum(np.minimum(d[0], d[1]), np.minimum(d[2], d[3])),
                np.maximum(np.maximum(d[0], d[1]), np.maximum(d[2], d[3])))

    (p_lo, p_hi), (q_lo, q_hi) = span(p), span(q)
    apart = ((p_hi <= q_lo) | (q_hi <= p_lo)) & ((nx != 0) | (ny != 0))  # a zero-length edge: no axis
    return apart.any(axis=1)


def _exact_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Areas of the intersections of polygons ``a[k]`` and ``b[k]`` (0 where GEOS gives up)."""
    try:
        return np.nan_to_num(shapely.area(shapely.intersection(a, b)), nan=0.0)
    except shapely.errors.GEOSException:  # a topology error on some pair: pair by pair
        out = np.zeros(len(a))
        for k, (x, y) in enumerate(zip(a, b)):
            try:
                out[k] = shapely.intersection(x, y).area
            except shapely.errors.GEOSException:
                try:
                    out[k] = shapely.intersection(x.buffer(0), y.buffer(0)).area
                except shapely.errors.GEOSException:
                    out[k] = 0.0
        return np.nan_to_num(out, nan=0.0)


def _iou(a: _Shapes, b: _Shapes, i: np.ndarray, j: np.ndarray, at_least: float | None = None) -> np.ndarray:
    """IoU of the pairs ``(a[i[k]], b[j[k]])``. With ``at_least``, pairs that cannot reach it
    (judged from their bounding rectangles and areas) come back as 0 without being computed."""
    ba, bb = a.bounds[i], b.bounds[j]
    iw = np.clip(np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0]), 0, None)
    ih = np.clip(np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1]), 0, None)
    rect_inter = iw * ih
    area_a, area_b = a.area[i], b.area[j]
    both_rect = a.rect[i] & b.rect[j]
    inter = np.where(both_rect, rect_inter, 0.0)
    todo = ~both_rect & (rect_inter > 0) & (area_a > 0) & (area_b > 0)
    # Neighbouring lines of a skewed page: their rectangles overlap, a separating axis says they
    # do not (cheaply, without GEOS).
    k = np.nonzero(todo & a.convex[i] & b.convex[j])[0]
    if len(k):
        todo[k[_separated(a.quads[i[k]], b.quads[j[k]])]] = False
    if at_least is not None and todo.any():
        most = np.minimum(rect_inter, np.minimum(area_a, area_b))  # the intersection is at most this
        with np.errstate(divide="ignore", invalid="ignore"):
            todo &= most / (area_a + area_b - most) >= at_least - 1e-12
    k = np.nonzero(todo)[0]
    if len(k):
        smaller = np.minimum(area_a[k], area_b[k])
        got = _exact_intersection(a.geoms[i[k]], b.geoms[j[k]])
        # One inside the other up to rounding: exactly the smaller area (a polygon with itself: 1.0).
        inter[k] = np.where(got >= smaller * (1 - 1e-12), smaller, got)
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.clip(out, 0.0, 1.0)


def _matrix(a: _Shapes, b: _Shapes, at_least: float | None = None) -> np.ndarray:
    out = np.zeros((len(a), len(b)))
    if not len(a) or not len(b):
        return out
    # Only pairs whose bounding rectangles overlap can overlap.
    ba, bb = a.bounds[:, None, :], b.bounds[None, :, :]
    near = ((np.minimum(ba[..., 2], bb[..., 2]) > np.maximum(ba[..., 0], bb[..., 0]))
            & (np.minimum(ba[..., 3], bb[..., 3]) > np.maximum(ba[..., 1], bb[..., 1]))
            & (a.area[:, None] > 0) & (b.area[None, :] > 0))
    i, j = np.nonzero(near)
    if len(i):
        out[i, j] = _iou(a, b, i, j, at_least)
    return out


def iou_matrix(a: Sequence[Sequence], b: Sequence[Sequence]) -> np.ndarray:
    """Polygon IoU of every box of ``a`` (rows) against every box of ``b`` (columns)."""
    return _matrix(_shapes(a), _shapes(b))


def iou(a: Sequence, b: Sequence) -> float:
    """Polygon IoU of two boxes (0 for touching shapes and for shapes of zero area)."""
    return float(iou_matrix([a], [b])[0, 0])


def paired_iou(a: Sequence[Sequence], b: Sequence[Sequence]) -> list[float]:
    """Polygon IoU of ``a[k]`` and ``b[k]`` for each k (two sequences of the same length)."""
    if len(a) != len(b):
        raise ValueError(f"paired_iou needs as many boxes on each side, not {len(a)} and {len(b)}")
    if not len(a):
        return []
    sa, sb = _shapes(a), _shapes(b)
    k = np.arange(len(a))
    return _iou(sa, sb, k, k).tolist()


def any_overlap(boxes: Sequence[Sequence], others: Sequence[Sequence], threshold: float) -> np.ndarray:
    """For each box, whether some box of ``others`` overlaps it at polygon IoU >= ``threshold``
    (``threshold`` > 0). Pairs that cannot reach it are never intersected: what pre-fill's
    de-duplication needs, fast."""
    if threshold <= 0:
        raise ValueError("any_overlap needs a threshold above 0")
    m = _matrix(_shapes(boxes), _shapes(others), at_least=threshold)
    return (m >= threshold).any(axis=1) if m.shape[1] else np.zeros(len(boxes), dtype=bool)


# --------------------------------------------------------------------------- rectangles
def rect_iou_matrix(a: Sequence[Sequence], b: Sequence[Sequence]) -> np.ndarray:
    """IoU of the axis-aligned bounding rectangles of every box of ``a`` against every box of
    ``b``: eval's published end-to-end metric only (use :func:`iou_matrix` for regions)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    p = np.array([to_xyxy(x) for x in a])[:, None, :]
    r = np.array([to_xyxy(x) for x in b])[None, :, :]
    iw = np.clip(np.minimum(p[..., 2], r[..., 2]) - np.maximum(p[..., 0], r[..., 0]), 0, None)
    ih = np.clip(np.minimum(p[..., 3], r[..., 3]) - np.maximum(p[..., 1], r[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(p) + area(r) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def rect_iou(a: Sequence, b: Sequence) -> float:
    """Axis-aligned IoU of the bounding rectangles of two boxes (the published metric only)."""
    return float(rect_iou_matrix([a], [b])[0, 0])


def reading_turn(quads: Sequence) -> int:
    """The clockwise quarter turn that would make regions read left to right, from the direction
    of their top edges (first to second corner), weighted by length: what pre-fill found out
    about a page that came in turned. 0 for upright text or no regions.

    >>> reading_turn([[[0, 0], [0, 50], [10, 50], [10, 0]]])   # lines run down the page
    270
    """
    total = np.zeros(2)
    for q in quads:
        p = np.asarray(q, dtype=np.float64).reshape(-1, 2)
        if len(p) < 2:
            continue
        total += p[1] - p[0]
    if not total.any():
        return 0
    angle = math.degrees(math.atan2(total[1], total[0]))  # image y grows down: 90 = down the page
    return int(-round(angle / 90.0) * 90) % 360
