"""Segment recognition: Tesseract LSTM (tessdata_fast, ``lang``: eng unless a project chooses; the combined engine reads with deu+eng) on each crop, PSM 7.

Recognising each detected segment as a single line is both faster and more
accurate on receipts than a page-level pass: Tesseract skips its own layout
analysis, and every crop is normalised (white margin, minimum height) first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ml import tess

_ALNUM = re.compile(r"\w", re.UNICODE)
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class RecognizeConfig:
    """Parameters of :func:`recognize_boxes`."""

    #: Tesseract page segmentation mode for a crop (7 = single text line).
    psm: int = 7
    #: Crops are scaled to this height in pixels (the box, before the margin
    #: is added); 0 = never scale. Tesseract cuts the text line out with a
    #: fixed 4-pixel padding and scales it to the LSTM's 36-pixel input, so the
    #: crop's height decides how wide that input gets: at ~24 px the glyphs
    #: fill it well (lowest CER on sroie-dev crops), while taller crops only
    #: add LSTM time steps (upscaled small print: up to 40% more) and lower
    #: ones lose detail.
    target_height: int = 24
    max_upscale: float = 3.0
    #: Scale crops taller than ``target_height`` down as well (False: only up).
    downscale: bool = True
    #: White margin added around the crop, times its height. Tesseract
    #: reads a text line best with clear space around it.
    border: float = 0.3
    #: Extra page pixels taken around each box (0 = the box exactly).
    context: int = 0
    #: Drop results without a letter or digit (rules, dotted leaders, noise),
    #: except lone ":" and "%", which transcriptions keep as segments.
    drop_punct: bool = True
    #: Drop results whose confidence (0..1) is below this.
    min_conf: float = 0.0
    #: Tesseract language(s), "eng" or e.g. "eng+deu" (``ml.tess.LANGUAGES``; a project's
    #: ``tesseract.languages`` setting).
    lang: str = "eng"


def keep_text(text: str, cfg: RecognizeConfig) -> bool:
    """Whether a recognised segment is worth pre-filling."""
    if not text:
        return False
    if cfg.drop_punct and not _ALNUM.search(text) and text not in (":", "%"):
        return False
    return True


def prepare_crop(gray: np.ndarray, box: Sequence[float], cfg: RecognizeConfig) -> np.ndarray | None:
    """Cut ``box`` (x0, y0, x1, y1) out of ``gray`` and normalise it for Tesseract."""
    hgt, wid = gray.shape[:2]
    x0 = max(0, int(round(box[0])) - cfg.context)
    y0 = max(0, int(round(box[1])) - cfg.context)
    x1 = min(wid, int(round(box[2])) + cfg.context)
    y1 = min(hgt, int(round(box[3])) + cfg.context)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = gray[y0:y1, x0:x1]
    h = crop.shape[0]
    if cfg.target_height and (h < cfg.target_height or cfg.downscale):
        s = min(cfg.max_upscale, cfg.target_height / h)
        if abs(s - 1.0) > 0.05:
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=interp)
    m = int(round(cfg.border * crop.shape[0]))
    if m:
        crop = cv2.copyMakeBorder(crop, m, m, m, m, cv2.BORDER_CONSTANT, value=255)
    return np.ascontiguousarray(crop)


def recognize_boxes(
    gray: np.ndarray, boxes: Sequence[Sequence[float]], cfg: RecognizeConfig | None = None
) -> list[tuple[str, float]]:
    """Recognise each box of a grayscale page; return ``(text, confidence 0..1)``
    per box, in order (empty text and 0 when nothing was read)."""
    cfg = cfg or RecognizeConfig()
    api = tess.get_api(cfg.psm, cfg.lang)
    out: list[tuple[str, float]] = []
    for box in boxes:
        crop = prepare_crop(gray, box, cfg)
        if crop is None:
            out.append(("", 0.0))
            continue
        tess.set_gray(api, crop)
        text = _WS.sub(" ", api.GetUTF8Text() or "").strip()
        conf = max(0.0, min(1.0, api.MeanTextConf() / 100.0)) if text else 0.0
        out.append((text, conf))
    return out
