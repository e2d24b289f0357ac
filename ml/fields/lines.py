"""The lines a field extractor reads: text, box, reading order and neighbours.

From a prediction's regions (pre-fill), a page's regions (training from people's work) or a
reference file's lines (``eval --fields-given-lines``). Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from core.geometry import to_xyxy

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class FLine:
    """One line: its text, its axis-aligned box in page pixels and its index in the source."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    index: int

    @property
    def h(self) -> float:
        return max(1.0, self.y1 - self.y0)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2


def lines_from(items: Iterable[tuple[object, str]]) -> list[FLine]:
    """FLines from (points, text) pairs, in the given order (the index is the pair's position).

    Empty texts are kept out (a box nobody read cannot hold a value) but keep their index.
    """
    out = []
    for i, (points, text) in enumerate(items):
        t = " ".join(str(text or "").split())
        if not t:
            continue
        x0, y0, x1, y1 = to_xyxy(points)
        out.append(FLine(t, float(x0), float(y0), float(x1), float(y1), i))
    return out


def reading_order(lines: Sequence[FLine]) -> list[FLine]:
    """Lines row by row, top to bottom, each row left to right. A line joins the row being built
    when it overlaps that row's first line vertically by more than half the smaller height (lines of
    one row differ in height: a big total beside its small label)."""
    rows: list[list[FLine]] = []
    for ln in sorted(lines, key=lambda ln: (ln.cy, ln.x0)):
        if rows:
            head = rows[-1][0]
            if min(head.y1, ln.y1) - max(head.y0, ln.y0) > 0.5 * min(head.h, ln.h):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.x0)]


class Page:
    """Lines of a page in reading order, with the look-ups the features need."""

    def __init__(self, lines: Sequence[FLine], width: float, height: float):
        self.width = float(max(1.0, width))
        self.height = float(max(1.0, height))
        self.lines = reading_order(lines)
        self.order = {ln.index: k for k, ln in enumerate(self.lines)}
        self.median_h = median([ln.h for ln in lines]) if lines else 10.0

    def __len__(self) -> int:
        return len(self.lines)

    def _arrays(self):
        if not hasattr(self, "_b"):
            b = np.array([(ln.x0, ln.y0, ln.x1, ln.y1) for ln in self.lines], np.float64).reshape(-1, 4)
            self._b = b
            self._h = np.maximum(1.0, b[:, 3] - b[:, 1])
        return self._b, self._h

    def above(self, k: int) -> FLine | None:
        """The nearest line above line k (reading order position) that overlaps it horizontally."""
        j = self._nearest("above", _above)[k]
        return None if j is None else self.lines[j]

    def left(self, k: int) -> FLine | None:
        """The nearest line on the same row to the left of line k (a label in its own box)."""
        j = self._nearest("left", _left)[k]
        return None if j is None else self.lines[j]

    def next_below(self, k: int) -> int | None:
        """The line that continues line k's column: the nearest below, starting within 1.6 line
        heights and overlapping it horizontally (position in reading order), else None."""
        return self._nearest_below(k, aligned=False)

    def next_aligned(self, k: int) -> int | None:
        """The line under line k in a left-aligned column of widely spaced lines (an address
        printed with one and a half or double spacing): the nearest below starting within 3.5 line
        heights whose left edge is within one line height of line k's, else None."""
        return self._nearest_below(k, aligned=True)

    def memo(self, key: str, make: Callable[[], T]) -> T:
        """What ``make()`` returns, made once per page and kept under ``key``: the per-line facts
        (flags, block heads, amounts in a row) that every type's features ask for."""
        if not hasattr(self, "_memo"):
            self._memo: dict[str, Any] = {}
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def _nearest_below(self, k: int, aligned: bool) -> int | None:
        """:meth:`next_below` (``aligned`` False) or :meth:`next_aligned`."""
        return self._nearest("aligned" if aligned else "below", _aligned if aligned else _below)[k]

    def _nearest(self, key: str, rule: Callable) -> list[int | None]:
        """Per line k, the line j != k that ``rule`` admits with the least gap (the first such in
        reading order on a tie), else None: every line's at once, kept per page, as the features ask
        for each line's many times; ``rule`` as :meth:`compare_lines` takes it."""
        if not hasattr(self, "_near"):
            self._near: dict[str, list[int | None]] = {}
        if key not in self._near:
            out: list[int | None] = []
            for ok, gap in self.compare_lines(rule):
                best = np.argmin(np.where(ok, gap, np.inf), axis=1)
                out += [int(j) if found else None for j, found in zip(best, ok.any(axis=1))]
            self._near[key] = out
        return self._near[key]

    def compare_lines(self, rule: Callable) -> Iterator[tuple[np.ndarray, Any]]:
        """``rule(b, h, rows)`` -> (admitted, gap) for every line against every other, in blocks of
        :data:`_ROWS` lines (one row a line of the block, one column a line of the page; a line is
        never admitted against itself), so a huge page needs no huge matrix."""
        b, h = self._arrays()
        for s in range(0, len(b), _ROWS):
            rows = np.arange(s, min(len(b), s + _ROWS))
            ok, gap = rule(b, h, rows)
            ok[np.arange(len(rows)), rows] = False
            yield ok, gap

    def below_block(self, k: int, n: int) -> list[FLine] | None:
        """Line k and the n-1 lines that follow it down its column as one block (an address), or None."""
        block, seen, cur = [self.lines[k]], {k}, k
        while len(block) < n:
            nxt = self.next_below(cur)
            if nxt is None or nxt in seen:
                return None
            block.append(self.lines[nxt])
            seen.add(nxt)
            cur = nxt
        return block


#: Lines compared at a time by :meth:`Page.compare_lines` (a block of _ROWS x lines booleans).
_ROWS = 256


def row_edges(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
    """The asking lines' box edges and heights as columns, to compare with every line's."""
    r = b[rows]
    return r[:, 0:1], r[:, 1:2], r[:, 2:3], r[:, 3:4], h[rows][:, None]


def _above(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
    """Above the line, overlapping it horizontally (half a line height of slack), within 3.5 line
    heights; its bottom may reach 0.3 line heights into it."""
    x0, y0, x1, _, hk = row_edges(b, h, rows)
    gap = y0 - b[:, 3]
    ok = (b[:, 3] <= y0 + 0.3 * hk) & (np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0) > -0.5 * hk) \
        & (gap + 0.3 * hk >= 0) & (gap < 3.5 * hk)
    return ok, gap


def _left(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
    """Left of the line on its row (more than half the smaller height shared), within 40 heights."""
    x0, y0, _, y1, hk = row_edges(b, h, rows)
    overlap = np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)
    gap = x0 - b[:, 2]
    ok = (b[:, 2] <= x0 + 0.5 * hk) & (overlap > 0.5 * np.minimum(h, hk)) & (gap < 40.0 * hk)
    return ok, gap


def _under(b: np.ndarray, h: np.ndarray, rows: np.ndarray, reach: float, beside: np.ndarray):
    _, y0, _, y1, hk = row_edges(b, h, rows)
    g = b[:, 1] - y1
    return ((b[:, 1] + b[:, 3]) / 2 > (y0 + y1) / 2 + 0.4 * hk) & (g < reach * hk) & beside, g


def _below(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
    """:meth:`Page.next_below`'s rule: below within 1.6 line heights, overlapping horizontally."""
    x0, _, x1, _, _ = row_edges(b, h, rows)
    return _under(b, h, rows, 1.6, np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0) > 0)


def _aligned(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
    """:meth:`Page.next_aligned`'s rule: below within 3.5 line heights, left edges within one."""
    x0, _, _, _, hk = row_edges(b, h, rows)
    return _under(b, h, rows, 3.5, np.abs(b[:, 0] - x0) <= hk)
