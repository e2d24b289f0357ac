"""Splitting a region into pieces and merging regions into one: one Action each.

A born-digital invoice line often holds a label and its value (``Invoice INV/2023/03/0008``);
labelling the number means cutting it out of its line. :func:`split_region` cuts a region at a
text position, or around a selected part of its text (up to three pieces: before, the
selection, after); :func:`merge_regions` joins regions into one. Both work inside an open
``Store.action``: they delete the originals and add the new regions, so the edit log holds all
of it and one undo puts the page back exactly as it was.

Where the pieces go on the page is worked out from the text: each character's share of the
line is its width in a proportional sans-serif font (Helvetica's widths), and the cuts fall
along the region's top and bottom edges (a slanted 4-point region gives slanted pieces),
midway through the spaces between the pieces, so the pieces tile the original exactly.

Provenance: the pieces and the merged region are regions a person made (origin ``human``), as a
box drawn over part of a line is today; they keep the machine's confidence (their text is still
the machine's until someone checks it) and a piece of a checked line stays checked. Moderation
counts a split or merged prediction as a redraw is counted: the predicted region ``deleted``,
the new ones ``missing`` (core/verdicts.py).

>>> from core.model import Region, box_to_quad
>>> r = Region(1, box_to_quad(0, 0, 100, 10), "AB BA", id=5)
>>> [(p.text, p.points[0][0], p.points[1][0]) for p in plan_split(r, 3)]
[('AB', 0, 50.0), ('BA', 50.0, 100)]
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from .errors import ProofdeskError
from .model import Quad, Region
from .store import Action, sort_reading_order

#: Advance widths of Helvetica (1/1000 em) for printable ASCII, from its AFM file; other
#: characters count as a digit (556), wide East Asian ones as a full em, combining marks as 0.
_ASCII_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,  # space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,  # 0 to ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,  # @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,  # P to _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,  # ` to o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,  # p to ~
)


class RegionOpError(ProofdeskError):
    """A split or merge that cannot be made (nothing to split, fewer than two regions, a lock)."""


def char_width(ch: str) -> float:
    """The advance width of one character, in 1/1000 em of a proportional sans-serif font."""
    code = ord(ch)
    if 32 <= code <= 126:
        return float(_ASCII_WIDTHS[code - 32])
    if unicodedata.combining(ch):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1000.0
    return 556.0


def text_fractions(text: str) -> list[float]:
    """``f[i]``: the share of the line's width taken by ``text[:i]`` (``f[0] == 0``, ``f[-1] == 1``)."""
    widths = [char_width(c) for c in text]
    total = sum(widths)
    out = [0.0]
    run = 0.0
    for w in widths:
        run += w
        out.append(run / total if total else len(out) / max(1, len(text)))
    return out


def _lerp(a, b, t: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _clean(p: tuple[float, float]) -> tuple[float, float]:
    return (round(p[0], 1) + 0.0, round(p[1], 1) + 0.0)  # + 0.0: no -0.0


def slice_quad(points: Quad, t0: float, t1: float) -> Quad:
    """The part of a 4-point region (clockwise from top-left) between the shares ``t0`` and ``t1``
    of its length, interpolated along its top edge and its bottom edge."""
    tl, tr, br, bl = points
    if t0 <= 0.0 and t1 >= 1.0:
        return tuple(tuple(p) for p in points)  # type: ignore[return-value]
    top0 = tl if t0 <= 0.0 else _clean(_lerp(tl, tr, t0))
    top1 = tr if t1 >= 1.0 else _clean(_lerp(tl, tr, t1))
    bot1 = br if t1 >= 1.0 else _clean(_lerp(bl, br, t1))
    bot0 = bl if t0 <= 0.0 else _clean(_lerp(bl, br, t0))
    return (tuple(top0), tuple(top1), tuple(bot1), tuple(bot0))  # type: ignore[return-value]


@dataclass(frozen=True)
class Piece:
    text: str
    points: Quad
    current: bool  # the piece the person meant: the selection, or the part after the cursor


def plan_split(region: Region, start: int, end: int | None = None) -> list[Piece]:
    """The pieces a split makes, without writing anything.

    ``start`` alone: cut at that text position (the part after it is the current piece).
    ``start`` and ``end`` (a selection, ``end > start``): up to three pieces, before, the
    selection (current) and after. Pieces are stripped of surrounding spaces; a piece with no
    text left is dropped (its width goes to its neighbours). RegionOpError when fewer than two
    pieces would be left.
    """
    text = region.text or ""
    n = len(text)
    start = max(0, min(n, int(start)))
    end = start if end is None else max(start, min(n, int(end)))
    bounds = sorted({0, start, end, n})
    spans = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    chosen = (start, end) if end > start else (start, n)
    kept = []  # (content start, content end, current)
    for a, b in spans:
        part = text[a:b]
        stripped = part.strip()
        if not stripped:
            continue
        lead = len(part) - len(part.lstrip())
        cs = a + lead
        kept.append((cs, cs + len(stripped), a >= chosen[0] and b <= chosen[1]))
    if len(kept) < 2:
        raise RegionOpError("nothing to split: put the text cursor between two parts of the line, or select one part")
    if not any(c for _, _, c in kept):  # the chosen part was only spaces: the next piece is meant
        later = [i for i, (cs, _, _) in enumerate(kept) if cs >= chosen[0]]
        i = later[0] if later else len(kept) - 1
        kept[i] = (kept[i][0], kept[i][1], True)
    f = text_fractions(text)
    # Cuts midway through the gap between the pieces, so that the pieces tile the region.
    cuts = [0.0] + [(f[kept[i][1]] + f[kept[i + 1][0]]) / 2 for i in range(len(kept) - 1)] + [1.0]
    return [Piece(text[cs:ce], slice_quad(region.points, cuts[i], cuts[i + 1]), current)
            for i, (cs, ce, current) in enumerate(kept)]


@dataclass(frozen=True)
class SplitResult:
    ids: list[int]  # the new regions, left to right
    current: int  # the piece meant (the selection, or the part after the cursor)


def _check_editable(regions: list[Region]) -> None:
    for r in regions:
        if r.deleted:
            raise RegionOpError(f"region {r.id} is deleted")
        if r.locked:
            raise RegionOpError(f"region {r.id} is locked (L unlocks it)")


def split_region(a: Action, region: Region, start: int, end: int | None = None, checked: bool = False) -> SplitResult:
    """Split ``region`` (as the caller loaded it: its version is checked) into pieces, one action.

    The original is deleted and each piece added as a region of its own with its part of the
    text and of the box. The field label, if any, goes to the current piece; every piece keeps
    the original's confidence; ``checked`` (the original's text was confirmed) marks the pieces
    checked too. See :func:`plan_split` for ``start`` and ``end``.
    """
    _check_editable([region])
    pieces = plan_split(region, start, end)
    a.delete_region(region.id, region.version)
    ids, current = [], None
    for p in pieces:
        rid = a.add_region(region.page_id, p.points, text=p.text, label=region.label if p.current else None,
                           confidence=region.confidence)
        if checked:
            a.check_region(rid)
        ids.append(rid)
        if p.current:
            current = rid
    return SplitResult(ids, current if current is not None else ids[-1])


def _is_box(points) -> bool:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return abs(y0 - y1) < 0.5 and abs(x1 - x2) < 0.5 and abs(y2 - y3) < 0.5 and abs(x3 - x0) < 0.5


def hull_quad(quads: list) -> Quad:
    """One 4-point region around several: their union box when all are boxes, else the
    rectangle around all their corners turned to their mean slant (the direction of their
    top edges, longer edges weighing more), clockwise from top-left."""
    if all(_is_box(q) for q in quads):
        xs = [p[0] for q in quads for p in q]
        ys = [p[1] for q in quads for p in q]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    dx = sum(q[1][0] - q[0][0] for q in quads)
    dy = sum(q[1][1] - q[0][1] for q in quads)
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm  # along the lines
    vx, vy = -uy, ux  # down the page (y grows downwards)
    along = [p[0] * ux + p[1] * uy for q in quads for p in q]
    across = [p[0] * vx + p[1] * vy for q in quads for p in q]
    a0, a1, b0, b1 = min(along), max(along), min(across), max(across)

    def at(s: float, t: float) -> tuple[float, float]:
        return _clean((s * ux + t * vx, s * uy + t * vy))

    return (at(a0, b0), at(a1, b0), at(a1, b1), at(a0, b1))


@dataclass(frozen=True)
class MergePlan:
    points: Quad
    text: str
    label: str | None
    confidence: float | None


def plan_merge(regions: list[Region]) -> MergePlan:
    """What :func:`merge_regions` makes of ``regions``, without writing anything: the hull, the
    texts in reading order joined by a space, the field label of the first (in reading order)
    that has one, the lowest confidence."""
    if len(regions) < 2:
        raise RegionOpError("select two or more regions to merge")
    if len({r.page_id for r in regions}) != 1:
        raise RegionOpError("regions of different pages cannot be merged")
    ordered = sort_reading_order(list(regions))
    text = " ".join(t for t in ((r.text or "").strip() for r in ordered) if t)
    label = next((r.label for r in ordered if r.label), None)
    confs = [r.confidence for r in ordered if r.confidence is not None]
    return MergePlan(hull_quad([r.points for r in ordered]), text, label, min(confs) if confs else None)


def merge_regions(a: Action, regions: list[Region], checked: bool = False) -> int:
    """Merge ``regions`` (as the caller loaded them: their versions are checked) into one region,
    one action: the originals are deleted, the merged one added (see :func:`plan_merge`);
    ``checked`` marks it checked (every original's text was confirmed). Returns its id."""
    _check_editable(list(regions))
    plan = plan_merge(list(regions))
    for r in regions:
        a.delete_region(r.id, r.version)
    rid = a.add_region(regions[0].page_id, plan.points, text=plan.text, label=plan.label,
                       confidence=plan.confidence)
    if checked:
        a.check_region(rid)
    return rid
