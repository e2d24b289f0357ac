"""Read regions again after a person drew or resized them: crop, straighten, recognise.

Runs on a worker thread. The recogniser is the best engine available; for now the classical
one (Tesseract LSTM, one text line per crop: ``ml.classical.recognize_crops``). A 4-point
region of skewed text is warped to an upright rectangle first.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

#: The action label of a machine re-read; ``Store.typed_region_ids`` tells these apart from
#: text a person typed, which a re-read never overwrites on its own.
ACTION_LABEL = "re-recognize"


def qimage_to_gray(img: QImage) -> np.ndarray:
    g = img.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(g.constBits(), dtype=np.uint8).reshape(g.height(), g.bytesPerLine())
    return arr[:, : g.width()].copy()


def crop_region(image: QImage, points) -> np.ndarray | None:
    """The region's pixels as an upright grayscale array (None when it is off the page)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    x1, y1 = min(image.width(), math.ceil(max(xs))), min(image.height(), math.ceil(max(ys)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    gray = qimage_to_gray(image.copy(QRect(x0, y0, x1 - x0, y1 - y0)))
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = points
    if abs(ay - by) < 0.5 and abs(bx - cx) < 0.5 and abs(cy - dy) < 0.5 and abs(dx - ax) < 0.5:
        return gray
    import cv2  # heavy: only for skewed regions

    w = int(round(max(math.hypot(bx - ax, by - ay), math.hypot(cx - dx, cy - dy))))
    h = int(round(max(math.hypot(dx - ax, dy - ay), math.hypot(cx - bx, cy - by))))
    if w < 2 or h < 2:
        return None
    src = np.array([(x - x0, y - y0) for x, y in points], dtype=np.float32)
    dst = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(gray, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def read_regions(image: QImage, quads: list) -> list[tuple[str, float]]:
    """``(text, confidence 0..1)`` for each region's points, in order."""
    from ml.classical import recognize_crops  # Tesseract: imported on first use

    out = []
    for points in quads:
        crop = crop_region(image, points)
        if crop is None:
            out.append(("", 0.0))
            continue
        out.extend(recognize_crops(crop, [(0, 0, crop.shape[1], crop.shape[0])]))
    return out


def load_image(path: str) -> QImage:
    img = QImage(path)
    if img.isNull():
        raise OSError(f"cannot read the page image {path}")
    return img
