"""Read regions again after a person drew or resized them: crop, straighten, recognise.

Runs on a worker thread. The recogniser is the best one available (``ml.reader``: the neural
line recogniser, the project's promoted version when it has one, else Tesseract). A 4-point region of skewed text is warped upright first.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

#: The action label of a machine re-read; ``Store.typed_region_ids`` tells these apart from
#: text a person typed, which a re-read never overwrites on its own.
ACTION_LABEL = "re-recognize"


def qimage_to_gray(img: QImage) -> np.ndarray:
    g = img.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(g.constBits(), dtype=np.uint8).reshape(g.height(), g.bytesPerLine())
    return arr[:, : g.width()].copy()


def read_regions(image: QImage, quads: list, rec: str | None = None) -> list[tuple[str, float]]:
    """``(text, confidence 0..1)`` for each region's points, in order (any thread). ``rec``: the
    project's active recogniser folder (None: the shipped model)."""
    from ml.reader import read_quads  # onnxruntime / Tesseract: imported on first use

    return read_quads(qimage_to_gray(image), [list(map(list, q)) for q in quads], rec=rec)


def load_image(path: str) -> QImage:
    img = QImage(path)
    if img.isNull():
        raise OSError(f"cannot read the page image {path}")
    return img
