"""Text-segment detection: classical CV (connected components + morphology),
and Tesseract layout analysis split at word gaps.

A *segment* is what a person boxes when transcribing: a run of words on one
text row with no wide gap inside, so an item name and its price on the same
row are two segments (the SROIE convention). Boxes are axis-aligned
``(x0, y0, x1, y1)`` floats in the pixel frame of the image passed in; the
pipeline maps them back to original page pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import tesserocr

from ml import tess

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class DetectConfig:
    """Parameters of :func:`detect_segments`; lengths are in units of the
    page's typical character height ``ch`` unless said otherwise."""

    #: "cv" (connected components, default) or "tesseract" (PSM 3 page pass,
    #: lines split at word gaps: the reference baseline; also gives text).
    method: str = "cv"
    #: Adaptive threshold window (pixels, odd) and offset.
    block: int = 31
    offset: float = 15.0
    #: Horizontal smear that joins the glyphs of a word.
    glyph_join: float = 0.45
    #: Pieces on one row join when the gap is below this times their height.
    word_gap: float = 1.1
    #: Components taller than this are not text (borders, stamps, logos).
    max_height: float = 3.0
    #: Segments lower than this are rules, dotted leaders or specks.
    min_height: float = 0.45
    #: Box margin around the ink, times the segment height (matches how
    #: people draw boxes: ~0.1 h of white around the text).
    pad: float = 0.12
    #: Tesseract method: page segmentation mode and word gap in line heights.
    tess_psm: int = 3
    tess_gap: float = 1.5


def binarize(gray: np.ndarray, block: int = 31, offset: float = 15.0) -> np.ndarray:
    """Inverted binary (ink = 255) by local mean thresholding.

    A local threshold copes with the uneven illumination and faded thermal
    print of receipts far better than a global (Otsu) one.
    """
    block = max(3, int(block) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, offset)


def char_height(stats: np.ndarray) -> float:
    """Typical character height from connected-component stats (row 0 = background)."""
    w, h, a = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    ok = (h >= 6) & (h <= 150) & (w <= 3 * h) & (a >= 10)
    return float(np.median(h[ok])) if ok.any() else 20.0


def _union_find_merge(p: np.ndarray, word_gap: float, reach: float, ch: float) -> list[np.ndarray]:
    """Group piece boxes ``p`` (N x 4, sorted by x0) into segments.

    Two pieces join when they share a row (vertical overlap >= half the
    lower one), have comparable heights, and the horizontal gap is below
    ``word_gap`` times the taller one. The gap is relative to the local
    height, so headers in large print are grouped like body text.
    """
    n = len(p)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    x0, y0, x1, y1 = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    h = y1 - y0
    # Candidates for i lie in x0 order between i+1 and the first piece that
    # starts further right than any admissible gap.
    ends = np.searchsorted(x0, x1 + reach, side="right")
    for i in range(n):
        j = np.arange(i + 1, ends[i])
        if not len(j):
            continue
        ov = np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j])
        hi, hj = h[i], h[j]
        big, small = np.maximum(hi, hj), np.minimum(hi, hj)
        gap = x0[j] - x1[i]
        ok = (ov >= 0.5 * small) & (gap <= word_gap * big) & (big <= 2.5 * small + 0.5 * ch)
        for k in j[ok]:
            ri, rk = find(i), find(int(k))
            if ri != rk:
                parent[rk] = ri
    roots = np.array([find(i) for i in range(n)])
    return [np.nonzero(roots == r)[0] for r in np.unique(roots)]


def reading_order(boxes: list[Box]) -> list[Box]:
    """Sort boxes top-to-bottom by rows, left-to-right within a row."""
    rows: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        cy, h = (b[1] + b[3]) / 2, b[3] - b[1]
        if rows:
            last = rows[-1]
            ry = np.mean([(r[1] + r[3]) / 2 for r in last])
            rh = np.mean([r[3] - r[1] for r in last])
            if abs(cy - ry) < 0.5 * min(h, rh):
                last.append(b)
                continue
        rows.append([b])
    return [b for row in rows for b in sorted(row, key=lambda b: b[0])]


def detect_cv(gray: np.ndarray, cfg: DetectConfig | None = None) -> list[Box]:
    """Classical segment detection on a grayscale page; boxes in reading order."""
    cfg = cfg or DetectConfig()
    b = binarize(gray, cfg.block, cfg.offset)
    n, lab, st, _ = cv2.connectedComponentsWithStats(b, connectivity=8)
    if n <= 1:
        return []
    ch = char_height(st)
    # Drop non-text blobs before smearing so they cannot glue lines together.
    keep = np.ones(n, bool)
    keep[0] = False
    keep[1:] = st[1:, 3] <= cfg.max_height * ch
    if not keep[1:].all():
        b = np.where(keep[lab], np.uint8(255), np.uint8(0))

    kw = max(3, int(round(cfg.glyph_join * ch)) | 1)  # odd: symmetric smear
    smear = cv2.dilate(b, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, 1)))
    n, _, st, _ = cv2.connectedComponentsWithStats(smear, connectivity=8)
    half = (kw - 1) // 2
    p = st[1:, :4].astype(np.float64)
    p[:, 0] += half  # undo the smear: exact ink extent
    p[:, 2] = p[:, 0] + st[1:, 2] - 2 * half
    p[:, 3] = p[:, 1] + st[1:, 3]
    p = p[(p[:, 2] > p[:, 0]) & (p[:, 3] - p[:, 1] >= 0.2 * ch)]
    if not len(p):
        return []
    p = p[np.argsort(p[:, 0], kind="stable")]

    boxes: list[Box] = []
    for idx in _union_find_merge(p, cfg.word_gap, cfg.word_gap * cfg.max_height * ch, ch):
        q = p[idx]
        x0, y0, x1, y1 = q[:, 0].min(), q[:, 1].min(), q[:, 2].max(), q[:, 3].max()
        h = y1 - y0
        if h < cfg.min_height * ch:
            continue
        m = cfg.pad * h
        boxes.append((x0 - m, y0 - m, x1 + m, y1 + m))
    return reading_order(boxes)


@dataclass
class TextSegment:
    """A detected segment that already carries text (Tesseract page pass)."""

    box: Box
    text: str
    confidence: float  # 0..1


def detect_tesseract(gray: np.ndarray, cfg: DetectConfig | None = None) -> list[TextSegment]:
    """Tesseract page pass (``cfg.tess_psm``); each text line split where the
    gap between words exceeds ``cfg.tess_gap`` times the line's median word
    height. Returns segments with Tesseract's text and mean word confidence.
    """
    cfg = cfg or DetectConfig()
    api = tess.get_api(cfg.tess_psm)
    tess.set_gray(api, gray)
    api.Recognize()
    lines: list[list[tuple[Box, str, float]]] = []
    it = api.GetIterator()
    level = tesserocr.RIL.WORD
    for w in tesserocr.iterate_level(it, level):
        if w.Empty(level):
            continue
        bb = w.BoundingBox(level)
        if bb is None:
            continue
        if w.IsAtBeginningOf(tesserocr.RIL.TEXTLINE) or not lines:
            lines.append([])
        lines[-1].append((tuple(float(v) for v in bb), w.GetUTF8Text(level) or "", w.Confidence(level) / 100))
    out: list[TextSegment] = []
    for words in lines:
        words.sort(key=lambda t: t[0][0])
        h = float(np.median([wb[3] - wb[1] for wb, _, _ in words]))
        groups = [[words[0]]]
        for word in words[1:]:
            if word[0][0] - groups[-1][-1][0][2] > cfg.tess_gap * h:
                groups.append([])
            groups[-1].append(word)
        for g in groups:
            text = " ".join(t for _, t, _ in g).strip()
            if not text:
                continue
            box = (min(b[0] for b, _, _ in g), min(b[1] for b, _, _ in g),
                   max(b[2] for b, _, _ in g), max(b[3] for b, _, _ in g))
            out.append(TextSegment(box, text, float(np.mean([c for _, _, c in g]))))
    return out
