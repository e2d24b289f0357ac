"""Page orientation and skew: the shared first step of every engine.

    up = upright(page)                 # Upright: the page turned and levelled, and how
    quads = detect(up.image)           # an engine reads the upright page ...
    on_page = up.quads_to_original(quads)   # ... and hands back the page's own coordinates

A page may come in turned a quarter, upside down, or slightly slanted (a receipt laid crooked on
the scanner). Engines read lines left to right on level rows, so :func:`upright` finds

* the **turn**: the clockwise quarter turn (0/90/180/270) that makes the text read left to right.
  Which way the lines run (across or down the page) comes from the glyphs' nearest neighbours
  (:func:`lines_run_down`: a glyph's nearest neighbour is the next letter of its word; ~25 ms);
  up against down, on the page already turned and levelled, from reading the widest few segments
  both ways up and keeping the more confident reading (:func:`vote_upright`; the first reading
  alone when it is sure). The reader is pluggable: Tesseract by default (on a CPU it is the
  cheaper of Tesseract and the neural recogniser for this, and both were right on every test
  page). Tesseract's OSD (``method="osd"``, ``osd.traineddata``) is asked first when wanted and
  taken only when it is sure: it is unsure or wrong on sparse pages (docs/benchmarks.md,
  "Orientation");
* the **skew**: the small rotation (up to ``max_skew_deg``) that levels the lines, from the
  sharpness of the row projection profile (:func:`estimate_skew`).

The page is turned, rotated by the skew on a canvas grown to hold all of it (nothing is cut
off), turned 180 degrees when it reads upside down, and the 2x3 matrix from page pixels to upright
pixels is kept, so regions found on the upright image map back with
:meth:`Upright.quads_to_original`: 4-point polygons that follow the text's slant on the page,
still clockwise from the text's own top-left corner (so a region of a page turned 90 degrees
starts at the corner that is top-left when the text is read). The page itself is never changed.
Measured in docs/benchmarks.md, "Orientation"; tests in tests/ml/test_orientation.py.

No Qt here; OpenCV and, for the default reader, Tesseract.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from core.geometry import reading_turn  # noqa: F401  (where it lives: the workspace asks it without OpenCV)
from ml.preprocess import to_gray, up_down_segments

#: Reads axis-aligned boxes (x0, y0, x1, y1) of an image: ``[(text, confidence 0..1)]``.
Reader = Callable[[np.ndarray, Sequence[Sequence[float]]], Sequence[tuple[str, float]]]

TURNS = (0, 90, 180, 270)


@dataclass(frozen=True)
class OrientationConfig:
    """Switches of the orientation step (part of each engine's hashed config)."""

    #: Find and undo quarter turns and upside-down pages.
    orientation: bool = True
    #: Find and undo a small rotation (a crooked scan).
    deskew: bool = True
    #: Skews are looked for within +- this many degrees.
    max_skew_deg: float = 10.0
    #: A skew below this is left alone (resampling blurs text for no gain).
    min_skew_deg: float = 0.3
    #: "vote" (read the widest lines both ways up) or "osd" (Tesseract OSD when it is at least
    #: ``osd_min_conf`` sure, else the vote).
    method: str = "vote"
    osd_min_conf: float = 2.0
    #: Lines read both ways up by the vote.
    segments: int = 8
    #: The vote stops after the first reading when it is at least this confident (mean over its
    #: characters, 20 or more): no upside-down reading came above 0.49 on the 106 pages of
    #: sroie-dev, invoices-dev and funsd-dev, and 74 of the 106 upright ones read above it (one
    #: reading instead of two). 1.0 = always read both ways.
    sure_conf: float = 0.75

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self.orientation or self.deskew


@dataclass
class Upright:
    """A page made upright, and the way back to the page's own pixels."""

    image: np.ndarray
    #: Clockwise quarter turn applied to the page (0, 90, 180, 270).
    turn: int
    #: Degrees the turned page was then rotated by (counter-clockwise positive) to level its lines.
    skew: float
    #: 2x3 affine: page pixel (x, y, 1) -> upright pixel.
    matrix: np.ndarray
    #: The page's own size (width, height).
    size: tuple[int, int]

    @property
    def identity(self) -> bool:
        return self.turn == 0 and self.skew == 0.0

    @property
    def info(self) -> dict[str, Any]:
        """What an engine reports about it (``PagePrediction.info``)."""
        return {"turn": self.turn, "skew": round(self.skew, 2)}

    def to_original(self, points: Any) -> np.ndarray:
        """(N, 2) upright-image points -> page points (not clipped)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.identity:
            return pts.copy()
        inv = cv2.invertAffineTransform(self.matrix.astype(np.float64))
        return pts @ inv[:, :2].T + inv[:, 2]

    def quads_to_original(self, quads: Sequence[Any]) -> list[np.ndarray]:
        """4-point regions on the upright image -> 4x2 regions on the page, clipped to it.

        The corner order is kept: the first point stays the text's top-left corner, wherever
        that lies on the page.
        """
        w, h = self.size
        out = []
        for q in quads:
            p = self.to_original(q)
            p[:, 0] = p[:, 0].clip(0, w)
            p[:, 1] = p[:, 1].clip(0, h)
            out.append(p)
        return out


def turn_matrix(width: int, height: int, turn: int) -> np.ndarray:
    """2x3 affine of a clockwise quarter turn of a ``width`` x ``height`` image, in continuous
    pixel coordinates (the corner (0, 0) of the page goes to a corner of the turned one).

    >>> turn_matrix(4, 3, 90) @ [0, 0, 1]
    array([3., 0.])
    """
    t = turn % 360
    if t == 0:
        return np.array([[1.0, 0, 0], [0, 1.0, 0]])
    if t == 90:  # (x, y) -> (h - y, x)
        return np.array([[0, -1.0, height], [1.0, 0, 0]])
    if t == 180:
        return np.array([[-1.0, 0, width], [0, -1.0, height]])
    if t == 270:  # (x, y) -> (y, w - x)
        return np.array([[0, 1.0, 0], [-1.0, 0, width]])
    raise ValueError(f"not a quarter turn: {turn}")


def turn_image(image: np.ndarray, turn: int) -> np.ndarray:
    """The image turned clockwise by a quarter turn (0, 90, 180, 270); any channels."""
    t = turn % 360
    if t == 0:
        return image
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(t)
    if code is None:
        raise ValueError(f"not a quarter turn: {turn}")
    return cv2.rotate(image, code)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Affine ``outer`` after ``inner`` (both 2x3)."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def tesseract_reader(image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
    """The default :data:`Reader`: Tesseract LSTM, one line per box (``ml.recognize``)."""
    from ml.recognize import RecognizeConfig, recognize_boxes

    return recognize_boxes(to_gray(image), boxes, RecognizeConfig())


def vote_upright(image: np.ndarray, reader: Reader | None = None, segments: int = 8, sure_conf: float = 1.0) -> int:
    """0 or 180: which way up the lines of a page with horizontal text read better.

    The widest ``segments`` text segments (found by ``ml.detect.detect_cv``) are read as they are
    and turned 180 degrees; a recogniser is far less sure of upside-down glyphs, so the reading
    with more confident characters (sum of confidence x length) wins, by a 20% margin; upright
    on a tie or a page without text. Only the first ~12 character heights of a segment are read:
    they tell up from down as well as the whole line, at a fraction of the time. When the reading
    as it is has a mean character confidence of at least ``sure_conf`` (20 characters or more),
    it is taken without the upside-down one.
    """
    boxes, fboxes = up_down_segments(to_gray(image), segments)
    if not boxes:
        return 0
    read = reader or tesseract_reader
    flipped = cv2.rotate(image, cv2.ROTATE_180)
    as_is = read(image, boxes)
    up = sum(c * len(t.strip()) for t, c in as_is)
    chars = sum(len(t.strip()) for t, _ in as_is)
    if chars >= 20 and up >= sure_conf * chars:
        return 0
    down = sum(c * len(t.strip()) for t, c in read(flipped, fboxes))
    return 180 if down > 1.2 * up else 0


def _osd_turn(gray: np.ndarray, min_conf: float) -> int | None:
    """Tesseract OSD's clockwise turn for an upright page, when it is at least ``min_conf`` sure."""
    from ml import tess

    api = tess.get_osd_api()
    tess.set_gray(api, gray)
    try:
        osd = api.DetectOrientationScript()
    except RuntimeError:  # too little text to say
        return None
    if not osd or osd.get("orient_conf", 0.0) < min_conf or osd.get("orient_deg") not in TURNS:
        return None
    # OSD names how far the page is turned (clockwise); undoing it is the other way round.
    return (360 - int(osd["orient_deg"])) % 360


def _small_binary(gray: np.ndarray, long_side: int) -> np.ndarray:
    """Downscaled inverted binary (ink = 255) for cheap global estimates."""
    s = min(1.0, long_side / max(gray.shape))
    small = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else gray
    return cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 10)


def _glyph_centres(gray: np.ndarray, long_side: int = 1200) -> tuple[np.ndarray, float]:
    """Centres of the glyph-sized ink components of a downscaled binary page, and their median
    size (pixels of that scale). Rules, borders, logos and specks are left out."""
    b = _small_binary(gray, long_side)
    n, _, st, centres = cv2.connectedComponentsWithStats(b, connectivity=8)
    side = np.maximum(st[:, 2], st[:, 3])
    keep = (st[:, 4] >= 6) & (side >= 3) & (side <= 0.05 * max(b.shape))
    keep[0] = False
    return centres[keep], float(np.median(side[keep])) if keep.any() else 0.0


def _nearest_neighbours(points: np.ndarray, chunk: int = 512) -> np.ndarray:
    """For each point, the vector to its nearest other point (N x 2); brute force in chunks
    (a page has a few thousand glyphs)."""
    out = np.zeros_like(points)
    for i in range(0, len(points), chunk):
        d = points[i:i + chunk, None, :] - points[None, :, :]
        dist = (d * d).sum(-1)
        rows = np.arange(len(dist))
        dist[rows, rows + i] = np.inf
        out[i:i + chunk] = -d[rows, dist.argmin(1)]
    return out


def lines_run_down(image: np.ndarray) -> tuple[bool, float]:
    """Whether the text lines of a page run down it (a quarter-turned page), and how sure: the
    share of glyphs whose nearest neighbour lies across (0.5 = no idea, 1 = all).

    A glyph's nearest neighbour is the next glyph of its word (the pitch of characters is less
    than the pitch of lines, in any font), so on a page whose lines run across most nearest
    neighbours lie left or right, and within 10 degrees of skew that stays so. Glyphs farther than
    1.5 glyph sizes from any other (isolated marks) do not vote. Right on all 848 pages of
    sroie-dev, invoices-dev and funsd-dev turned 0 or 90 degrees and skewed 0, 4, -7 and 10
    degrees, where the profile measure of ``ml.preprocess.text_is_vertical`` says "down" for some
    receipts skewed 4 degrees (their monospaced glyphs line up in columns once the rows blur).
    ~25 ms.
    """
    centres, size = _glyph_centres(to_gray(image))
    if len(centres) < 10:
        return False, 0.5
    vec = _nearest_neighbours(centres)
    near = np.hypot(vec[:, 0], vec[:, 1]) < 1.5 * size
    if near.sum() >= 10:
        vec = vec[near]
    across = float((np.abs(vec[:, 0]) > np.abs(vec[:, 1])).mean())
    return across < 0.5, max(across, 1.0 - across)


def estimate_skew(gray: np.ndarray, max_deg: float = 10.0) -> float:
    """The rotation (degrees, counter-clockwise positive, within +-``max_deg``) that levels a
    page's lines: the one whose row projection profile of the ink is sharpest (sum of squares),
    over a 1-degree grid, then 0.1 degree around the best.

    The same measure as ``ml.preprocess.estimate_skew``, without its pile-up: that one clips rows
    rotated above the top to row 0, a spike that wins at large angles (a receipt skewed 4 degrees
    came out at -10.7 with a 10-degree range); here the rows are shifted instead.
    """
    b = _small_binary(gray, 800)
    ys, xs = np.nonzero(b)
    if len(xs) < 100:
        return 0.0
    xs = xs - b.shape[1] / 2.0
    ys = ys - b.shape[0] / 2.0

    def score(angle: float) -> float:
        a = math.radians(angle)
        rows = np.rint(-math.sin(a) * xs + math.cos(a) * ys).astype(np.int64)
        prof = np.bincount(rows - rows.min())
        return float(np.dot(prof, prof))

    best = max(np.arange(-max_deg, max_deg + 1e-9, 1.0), key=score)
    fine = np.arange(best - 0.9, best + 0.9 + 1e-9, 0.1)
    return float(max(fine[np.abs(fine) <= max_deg + 1e-9], key=score))


def text_direction(image: np.ndarray, max_deg: float = 10.0, down: bool = True) -> tuple[int, float]:
    """How the text lines of a page run: ``(turn, skew)``, ``turn`` 0 when they run across the page
    (possibly upside down), 90 when they run down it (turning the page 90 degrees clockwise makes
    them run across, possibly upside down); ``skew`` the rotation (degrees, counter-clockwise)
    that then levels them (:func:`estimate_skew`, within +-``max_deg``; 0 = no
    levelling). ``down=False``: the lines are known to run across, only the skew is wanted.

    >>> text_direction(np.full((40, 60), 255, np.uint8))
    (0, 0.0)
    """
    turn = 90 if down and lines_run_down(image)[0] else 0
    if not max_deg:
        return turn, 0.0
    return turn, round(float(estimate_skew(to_gray(turn_image(image, turn)), max_deg)), 2) + 0.0


def detect_turn(image: np.ndarray, reader: Reader | None = None, config: OrientationConfig | None = None) -> int:
    """The clockwise quarter turn (0, 90, 180, 270) that makes the page's text read left to right
    (see :func:`upright`, which also levels the page first, as this does to tell up from down).

    >>> import numpy as np
    >>> detect_turn(np.full((40, 60), 255, np.uint8))   # nothing to read: left as it is
    0
    """
    cfg = replace(config or OrientationConfig(), orientation=True)
    return upright(image, cfg, reader).turn


def _background(image: np.ndarray) -> tuple[float, ...]:
    """The paper's colour (median of a sample of pixels), to fill what a rotation uncovers."""
    sample = image[:: max(1, image.shape[0] // 200), :: max(1, image.shape[1] // 200)]
    if sample.ndim == 2:
        return (float(np.median(sample)),)
    return tuple(float(np.median(sample[..., c])) for c in range(sample.shape[2]))


def rotate_expanded(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate by ``angle`` degrees (counter-clockwise positive) on a canvas grown to hold the
    whole page, the new corners filled with the paper's colour; returns (image, 2x3 matrix)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    out = cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_background(image))
    return out, m


def upright(image: np.ndarray, config: OrientationConfig | None = None, reader: Reader | None = None) -> Upright:
    """The page turned and levelled for reading (see the module docstring); gray or colour in,
    the same out. With both switches off (or an upright, level page) the image is the page itself.

    Steps: which way the lines run and their skew (:func:`text_direction`); the quarter turn that
    makes them run across; the levelling rotation; then up or down (:func:`vote_upright`, or OSD),
    judged on the levelled page, whose segments are then one line each.

    >>> import numpy as np
    >>> up = upright(np.full((30, 50), 255, np.uint8))
    >>> (up.turn, up.skew, up.image.shape)
    (0, 0.0, (30, 50))
    """
    cfg = config or OrientationConfig()
    if cfg.method not in ("vote", "osd"):
        raise ValueError(f"unknown orientation method {cfg.method!r} (vote, osd)")
    h, w = image.shape[:2]
    matrix = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    turn, skew, img = 0, 0.0, image
    if not cfg.active:
        return Upright(img, turn, skew, matrix, (w, h))
    # Turning off: the lines are taken to run across, and only levelled.
    turn, angle = text_direction(image, cfg.max_skew_deg if cfg.deskew else 0.0, down=cfg.orientation)
    if turn:
        img = turn_image(image, turn)
        matrix = turn_matrix(w, h, turn)
    if cfg.deskew and abs(angle) >= cfg.min_skew_deg:
        skew = float(angle)
        img, m = rotate_expanded(img, skew)
        matrix = _compose(m, matrix)
    if cfg.orientation and _upside_down(img, reader, cfg):
        ih, iw = img.shape[:2]
        img = turn_image(img, 180)
        matrix = _compose(turn_matrix(iw, ih, 180), matrix)
        turn = (turn + 180) % 360
    return Upright(img, turn, skew, matrix, (w, h))


def _upside_down(image: np.ndarray, reader: Reader | None, cfg: OrientationConfig) -> bool:
    """Whether a page whose lines run across (and are level) reads upside down."""
    if cfg.method == "osd":
        osd = _osd_turn(to_gray(image), cfg.osd_min_conf)
        if osd in (0, 180):
            return osd == 180
    return vote_upright(image, reader, cfg.segments, cfg.sure_conf) == 180


