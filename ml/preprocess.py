"""Page preprocessing on numpy arrays, keeping the geometric transform.

Every step that moves pixels (downscale, quarter-turn rotation, deskew)
updates a 2x3 affine matrix that maps ORIGINAL page pixels to processed
pixels, so detected boxes can be mapped back with :meth:`Preprocessed.to_original`.
Photometric steps (denoise, contrast) do not move pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml import tess


@dataclass(frozen=True)
class PreprocessConfig:
    """Switches for :func:`preprocess`. Defaults are the best speed/quality on sroie-dev."""

    #: Fix quarter turns (text-line direction) and upside-down pages (Tesseract OSD).
    #: Off by default: costs ~0.3 s/page and scanned receipts are upright.
    orientation: bool = False
    #: Minimum OSD orientation confidence to turn a page upside down.
    osd_min_conf: float = 2.0
    #: Estimate and undo small rotations (projection profiles).
    deskew: bool = True
    max_skew_deg: float = 5.0
    #: Skew below this is left alone (resampling blurs text for no gain).
    min_skew_deg: float = 0.3
    #: 3x3 median filter against salt-and-pepper noise.
    denoise: bool = False
    #: "none", "stretch" (min/max to 0..255) or "clahe" (local contrast).
    contrast: str = "none"
    #: Pages whose long side exceeds this are downscaled (speed; 0 = never).
    max_side: int = 4000


@dataclass
class Preprocessed:
    """A preprocessed grayscale page and how it relates to the original."""

    image: np.ndarray
    #: 2x3 affine, original pixel (x, y, 1) -> processed pixel.
    matrix: np.ndarray
    original_size: tuple[int, int]  # (width, height)
    rotation: int = 0  # quarter turn applied, degrees clockwise
    skew: float = 0.0  # small rotation undone, degrees (counter-clockwise positive)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) processed-pixel points back to original page pixels."""
        inv = cv2.invertAffineTransform(self.matrix.astype(np.float64))
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ inv[:, :2].T + inv[:, 2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Affine ``outer`` after ``inner`` (both 2x3)."""
    a = np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]])
    return a[:2]


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel view of a gray, BGR or BGRA array."""
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image


def rotate_quarter(gray: np.ndarray, degrees_cw: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by 0/90/180/270 degrees clockwise; return (image, 2x3 matrix)."""
    h, w = gray.shape[:2]
    d = degrees_cw % 360
    if d == 0:
        return gray, np.array([[1.0, 0, 0], [0, 1.0, 0]])
    if d == 90:  # (x, y) -> (h-1-y, x)
        return cv2.rotate(gray, cv2.ROTATE_90_CLOCKWISE), np.array([[0, -1.0, h - 1], [1.0, 0, 0]])
    if d == 180:
        return cv2.rotate(gray, cv2.ROTATE_180), np.array([[-1.0, 0, w - 1], [0, -1.0, h - 1]])
    if d == 270:  # (x, y) -> (y, w-1-x)
        return cv2.rotate(gray, cv2.ROTATE_90_COUNTERCLOCKWISE), np.array([[0, 1.0, 0], [-1.0, 0, w - 1]])
    raise ValueError(f"not a quarter turn: {degrees_cw}")


def _small_binary(gray: np.ndarray, long_side: int = 1000) -> np.ndarray:
    """Downscaled inverted binary (text = 255) for cheap global estimates."""
    s = min(1.0, long_side / max(gray.shape))
    small = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else gray
    return cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 10)


def text_is_vertical(gray: np.ndarray) -> bool:
    """True when text lines run top-to-bottom (page turned a quarter).

    Smearing along the text direction joins characters into long runs; we
    compare how much ink ends up in elongated blobs for horizontal vs
    vertical smearing. Cheap (~10 ms) and independent of the script.
    """
    b = _small_binary(gray)
    k = max(3, int(round(max(b.shape) / 150)))

    def elongated(kernel: tuple[int, int], horizontal: bool) -> int:
        d = cv2.dilate(b, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        _, _, st, _ = cv2.connectedComponentsWithStats(d, connectivity=8)
        w, h, a = st[1:, 2], st[1:, 3], st[1:, 4]
        m = (w > 4 * h) if horizontal else (h > 4 * w)
        return int(a[m].sum())

    return elongated((1, k), False) > 1.5 * elongated((k, 1), True)


def detect_orientation(gray: np.ndarray, min_conf: float = 2.0) -> int:
    """Clockwise quarter turn (0/90/180/270) that makes the page upright.

    Quarter turns come from :func:`text_is_vertical`; upside down is decided
    by Tesseract OSD (``osd.traineddata``), and only when its confidence is
    at least ``min_conf`` (OSD is unreliable on sparse pages).
    """
    base = 90 if text_is_vertical(gray) else 0
    img, _ = rotate_quarter(gray, base)
    api = tess.get_osd_api()
    tess.set_gray(api, img)
    try:
        osd = api.DetectOrientationScript()
    except RuntimeError:
        osd = None
    if osd and osd.get("orient_conf", 0) >= min_conf and osd.get("orient_deg") == 180:
        return (base + 180) % 360
    return base


def estimate_skew(gray: np.ndarray, max_deg: float = 5.0) -> float:
    """Skew angle in degrees (positive = text rises to the right... i.e. the
    rotation, counter-clockwise, that levels the text lines).

    Maximises the sharpness (sum of squares) of the row projection profile
    of a downscaled binary page over candidate rotations, coarse then fine.
    """
    b = _small_binary(gray, 800)
    ys, xs = np.nonzero(b)
    if len(xs) < 100:
        return 0.0
    center = (b.shape[1] / 2.0, b.shape[0] / 2.0)

    def score(angle: float) -> float:
        m = cv2.getRotationMatrix2D(center, angle, 1.0)
        rows = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]  # only y matters for the profile
        prof = np.bincount(np.clip(rows.astype(np.int64), 0, None))
        return float(np.dot(prof, prof))

    best = max(np.arange(-max_deg, max_deg + 1e-9, 1.0), key=score)
    fine = np.arange(best - 0.9, best + 0.9 + 1e-9, 0.1)
    return float(max(fine, key=score))


def preprocess(image: np.ndarray, config: PreprocessConfig | None = None) -> Preprocessed:
    """Run the configured steps on ``image`` (gray or BGR uint8)."""
    cfg = config or PreprocessConfig()
    gray = to_gray(image)
    h, w = gray.shape[:2]
    matrix = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    rotation, skew = 0, 0.0

    if cfg.max_side and max(h, w) > cfg.max_side:
        s = cfg.max_side / max(h, w)
        gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        matrix = _compose(np.array([[s, 0, 0], [0, s, 0]]), matrix)

    if cfg.orientation:
        rotation = detect_orientation(gray, cfg.osd_min_conf)
        if rotation:
            gray, m = rotate_quarter(gray, rotation)
            matrix = _compose(m, matrix)

    if cfg.deskew:
        angle = estimate_skew(gray, cfg.max_skew_deg)
        if abs(angle) >= cfg.min_skew_deg:
            skew = angle
            gh, gw = gray.shape[:2]
            m = cv2.getRotationMatrix2D((gw / 2.0, gh / 2.0), angle, 1.0)
            # Replicate the border so the corners do not turn into black wedges
            # that binarization would take for ink.
            gray = cv2.warpAffine(gray, m, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            matrix = _compose(m, matrix)

    if cfg.denoise:
        gray = cv2.medianBlur(gray, 3)
    if cfg.contrast == "stretch":
        gray = cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX)
    elif cfg.contrast == "clahe":
        gray = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)
    elif cfg.contrast != "none":
        raise ValueError(f"unknown contrast mode {cfg.contrast!r}")

    return Preprocessed(gray, matrix, (w, h), rotation, skew)
