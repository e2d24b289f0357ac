"""Text-line recognition: crops -> fixed-height batches -> network -> CTC greedy decoding.

Crops are cut with a perspective warp from the 4-point regions (so slightly
rotated lines come out straight), scaled to the model's input height keeping
their aspect ratio, sorted by width and batched: each batch is padded on the
right to its widest crop, so a batch of similar lines wastes little compute.
Each line is decoded only over the time steps its own width covers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ml.neural import casing
from ml.neural.ctc import Decoded, decode_greedy
from ml.neural.detector import to_bgr
from ml.neural.lexicon import Lexicon, rescore
from ml.neural.models import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecognizeConfig:
    """Parameters of the neural recogniser."""

    #: Lines per network call (sorted by width first).
    batch_size: int = 16
    #: A batch is at least this wide (input pixels); 0 = exactly the widest crop.
    min_width: int = 0
    #: Crops are never wider than this after scaling (very long lines are squeezed).
    max_width: int = 3200
    #: Restrict decoding to a character set: "all" (the model's), "latin"
    #: (ASCII + Latin-1 + common typographic signs).
    charset: str = "latin"
    #: Extra time steps decoded past a line's own width (its last glyph may sit on the edge).
    tail_steps: int = 2
    #: Log-weight added to the space class before decoding: PP-OCRv5 was
    #: trained mostly on Chinese and drops many spaces between Latin words.
    space_prior: float = 2.0
    #: Page context added around a region before it is cut (times its height,
    #: vertical / horizontal): the model was trained on loosely cut lines.
    pad_y: float = 0.2
    pad_x: float = 0.2
    #: A region much taller than wide (vertical text: a margin note, a spine) is read turned both
    #: ways, top-to-bottom and bottom-to-top, and the more confident reading is kept.
    vertical_both_ways: bool = True
    #: Cut the crop around the region's ink, not around the region: a detector's box is loose (DB's
    #: unclip grows a 17-pixel line to 33) and the recogniser, trained on lines cut close, reads
    #: the smaller text of a loose crop worse (drops the space of ``Seite 1``, ``4,55 €``). The box
    #: shown to people stays as it is; only what the recogniser reads moves.
    fit_ink: bool = True
    #: White kept around the ink once fitted (times the ink's height), before ``pad_*``.
    fit_margin: float = 0.1
    #: The project's case convention (``ml.neural.casing``): "upper" writes every reading in
    #: capitals; "" (the default) as read. A model version sets it from its ``model.json``.
    case: str = ""


_LATIN_EXTRA = "€£¥₹°±×÷·•–—‘’“”„‚«»‰…¢§©®µ¶ȘșȚț"


def _latin(ch: str) -> bool:
    """ASCII, Latin-1, Latin Extended-A (Czech, Polish, Hungarian, Turkish, Baltic letters...) and
    the signs of :data:`_LATIN_EXTRA` (₹ among them: Indian invoices)."""
    o = ord(ch)
    return 32 <= o < 127 or 160 <= o < 0x180 or ch in _LATIN_EXTRA


def allowed_mask(charset: Sequence[str], which: str) -> np.ndarray | None:
    """Boolean class mask for ``which`` ("all" -> None). The blank (class 0) is always allowed."""
    if which == "all":
        return None
    if which != "latin":
        raise ValueError(f"unknown charset restriction {which!r} (all, latin)")
    mask = np.zeros(len(charset), dtype=bool)
    mask[0] = True
    for i, ch in enumerate(charset[1:], start=1):
        if len(ch) == 1 and _latin(ch):
            mask[i] = True
    return mask


def grow_quad(points: Sequence[Sequence[float]], pad_x: float, pad_y: float) -> np.ndarray:
    """Grow a TL, TR, BR, BL quadrilateral along its own axes by ``pad_* x`` its height."""
    q = np.asarray(points, dtype=np.float32).reshape(4, 2)
    if not (pad_x or pad_y):
        return q
    along = (q[1] - q[0]) + (q[2] - q[3])
    across = (q[3] - q[0]) + (q[2] - q[1])
    h = float(np.linalg.norm(across)) / 2
    ua = along / max(float(np.linalg.norm(along)), 1e-6)
    uc = across / max(float(np.linalg.norm(across)), 1e-6)
    dx, dy = ua * pad_x * h, uc * pad_y * h
    return np.array([q[0] - dx - dy, q[1] + dx - dy, q[2] + dx + dy, q[3] - dx + dy], dtype=np.float32)


#: A region this many times taller than wide is vertical text (a margin note); a lone character
#: (a ``1``, a ``€``) is taller than wide too, but not this much, and is read as it stands.
VERTICAL_ASPECT = 3.0


def is_vertical(points: Sequence[Sequence[float]]) -> bool:
    """A region much taller than wide along its own axes: vertical text."""
    q = np.asarray(points, dtype=np.float32).reshape(4, 2)
    w = max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2]))
    h = max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))
    return bool(h >= VERTICAL_ASPECT * w)


def crop_quad(image: np.ndarray, points: Sequence[Sequence[float]], pad_x: float = 0.0,
              pad_y: float = 0.0, reads: str = "down") -> np.ndarray | None:
    """Warp the quadrilateral ``points`` (TL, TR, BR, BL) of ``image`` to an upright rectangle.

    ``pad_x`` / ``pad_y`` take that much more page around it (times the text's height, clipped to
    the page). Returns None for a degenerate region. A region much taller than wide is taken as
    vertical text: its long side becomes the line, as text reading top-to-bottom (``reads="down"``,
    the glyphs' tops to the right: the crop is the region turned a quarter counter-clockwise) or
    bottom-to-top (``"up"``, a quarter clockwise); the padding is then relative to its short side,
    as for any line. ``reads="across"`` cuts it as it stands (a lone tall character: a ``1``, a ``€``).
    """
    q0 = np.asarray(points, dtype=np.float32).reshape(4, 2)
    if reads != "across" and is_vertical(q0):
        # Relabel the corners so that the text runs from the new TL to the new TR.
        q0 = q0[[1, 2, 3, 0]] if reads == "down" else q0[[3, 0, 1, 2]]
    q = grow_quad(q0, pad_x, pad_y)
    ih, iw = image.shape[:2]
    q[:, 0] = q[:, 0].clip(0, iw)
    q[:, 1] = q[:, 1].clip(0, ih)
    w = int(round(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[3] - q[2]))))
    h = int(round(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))))
    if w < 2 or h < 2:
        return None
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    crop = cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


#: :func:`fit_to_ink` keeps the region when its ink is shorter than this share of the region
#: (a dash, a dot, a rule): a crop cut that close would blow a speck up to a line's height.
FIT_MIN_HEIGHT = 0.35
#: ... or shorter than this many pixels (a speck: cut that close it would be read as anything).
FIT_MIN_PIXELS = 6
#: ... or when the darkest and lightest pixels differ by less than this (no text to find).
FIT_MIN_CONTRAST = 40


def fit_to_ink(image: np.ndarray, points: Sequence[Sequence[float]], margin: float = 0.0) -> np.ndarray:
    """The part of the quadrilateral ``points`` (TL, TR, BR, BL) that holds its ink.

    The region is cut as it stands, binarised (Otsu; light text on dark is turned round first), and
    its rows and columns without ink are trimmed from its edges; the trimmed rectangle is mapped back
    onto the quadrilateral, so a slanted region stays slanted. Returns the region unchanged when it
    has no contrast, no ink, or ink much thinner across the text than itself (:data:`FIT_MIN_HEIGHT`:
    a dash, or a dark rule beside light grey text that Otsu would keep alone) or only a few pixels
    thick (:data:`FIT_MIN_PIXELS`: a speck).
    """
    q = np.asarray(points, dtype=np.float32).reshape(4, 2)
    crop = crop_quad(image, q, reads="across")
    if crop is None:
        return q
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if gray.dtype != np.uint8:
        gray = cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if int(gray.max()) - int(gray.min()) < FIT_MIN_CONTRAST:
        return q
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:
        ink = 1 - ink
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    h, w = ink.shape
    if not len(rows):
        return q
    # The extent across the text (rows of a line, columns of vertical text) must stay.
    across, extent = (cols, w) if h > w else (rows, h)
    if across[-1] + 1 - across[0] < max(FIT_MIN_HEIGHT * extent, FIT_MIN_PIXELS):
        return q
    # ``margin`` x the ink's height (across the text) of white kept on every side, within the region.
    mh = margin * (across[-1] + 1 - across[0])
    v0, v1 = max(0.0, rows[0] - mh) / h, min(float(h), rows[-1] + 1 + mh) / h
    u0, u1 = max(0.0, cols[0] - mh) / w, min(float(w), cols[-1] + 1 + mh) / w

    def at(u: float, v: float) -> np.ndarray:
        top, bottom = q[0] + u * (q[1] - q[0]), q[3] + u * (q[2] - q[3])
        return top + v * (bottom - top)

    return np.array([at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)], dtype=np.float32)


def box_to_quad(box: Sequence[float]) -> list[list[float]]:
    """Axis-aligned ``(x0, y0, x1, y1)`` to TL, TR, BR, BL points."""
    x0, y0, x1, y1 = box
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _folder_lexicon(spec: ModelSpec) -> Lexicon | None:
    """The lexicon beside a recogniser's model, if any; a broken one is left out with a warning."""
    try:
        return Lexicon.load(spec.folder) if spec.folder else None
    except ValueError as e:
        log.warning("%s; reading without it", e)
        return None


class Recognizer:
    """A CTC line recogniser: ``read(crops) -> [Decoded]``.

    ``run`` maps a float32 ``N x 3 x H x W`` batch to ``N x T x C`` scores;
    by default the onnxruntime session's, but any callable works (the torch
    module's, in the parity tests and in training).
    """

    def __init__(self, spec: ModelSpec, session: Any = None, cfg: RecognizeConfig | None = None,
                 run: Callable[[np.ndarray], np.ndarray] | None = None, logits: bool | None = None,
                 lexicon: Lexicon | None | bool = True):
        """``lexicon``: the words its readings are rescored against (:mod:`ml.neural.lexicon`);
        True (the default) reads the model folder's ``lexicon.json`` when it has one, None or False: none."""
        if session is None and run is None:
            raise ValueError("a session or a run function is needed")
        self.spec = spec
        self.session = session
        self.cfg = cfg or RecognizeConfig()
        self.height = spec.input_height or 48
        self.logits = (spec.output == "logits") if logits is None else logits
        self.mask = allowed_mask(spec.charset, self.cfg.charset)
        if self.mask is not None and self.mask.all():
            self.mask = None  # a Latin-only model: nothing to mask
        self.prior = None
        if self.cfg.space_prior and " " in spec.charset:
            self.prior = np.zeros(len(spec.charset), dtype=np.float32)
            self.prior[spec.charset.index(" ")] = self.cfg.space_prior
        if run is None:
            name = session.get_inputs()[0].name
            run = lambda x: session.run(None, {name: x})[0]  # noqa: E731
        self._run = run
        self.lexicon = _folder_lexicon(spec) if lexicon is True else (lexicon or None)
        casing.check(self.cfg.case)  # an unknown convention fails here, not on the first line read
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._std = np.asarray(spec.std, dtype=np.float32)

    def scaled_width(self, crop: np.ndarray) -> int:
        """Input width of ``crop`` once scaled to the model's height."""
        h, w = crop.shape[:2]
        return max(1, min(self.cfg.max_width, int(math.ceil(self.height * w / max(h, 1)))))

    def prepare(self, crop: np.ndarray, width: int) -> np.ndarray:
        """One crop as a normalised ``3 x H x width`` float32 array (CHW)."""
        bgr = to_bgr(crop)
        x = cv2.resize(bgr, (width, self.height), interpolation=cv2.INTER_LINEAR if width > bgr.shape[1] else cv2.INTER_AREA)
        x = (x.astype(np.float32) * (1.0 / 255.0) - self._mean) / self._std
        return x.transpose(2, 0, 1)

    def batch(self, crops: Sequence[np.ndarray], widths: Sequence[int]) -> np.ndarray:
        """Pad ``crops`` (scaled to ``widths``) on the right into one ``N x 3 x H x Wmax`` batch."""
        wmax = max(max(widths), self.cfg.min_width)
        x = np.zeros((len(crops), 3, self.height, wmax), dtype=np.float32)  # 0 = mid gray after normalising
        for i, (c, w) in enumerate(zip(crops, widths)):
            x[i, :, :, :w] = self.prepare(c, w)
        return x

    def read(self, crops: Sequence[np.ndarray | None | tuple]) -> list[Decoded]:
        """Recognise line crops (None -> empty); results in input order. An entry that is a tuple
        of crops (a vertical region cut both ways) gives the most confident of their readings."""
        if any(isinstance(c, tuple) for c in crops):
            flat, owner = [], []
            for i, c in enumerate(crops):
                for part in (c if isinstance(c, tuple) else (c,)):
                    flat.append(part)
                    owner.append(i)
            best: dict[int, Decoded] = {}
            for i, d in zip(owner, self.read(flat)):
                if i not in best or d.confidence > best[i].confidence:
                    best[i] = d
            return [best[i] for i in range(len(crops))]
        out: list[Decoded] = [Decoded("", []) for _ in crops]
        idx = [i for i, c in enumerate(crops) if c is not None and c.size and min(c.shape[:2]) >= 2]
        widths = {i: self.scaled_width(crops[i]) for i in idx}
        idx.sort(key=lambda i: widths[i])
        stride = int(self.spec.raw.get("output", {}).get("time_stride", 8) or 8)
        for b in range(0, len(idx), self.cfg.batch_size):
            part = idx[b : b + self.cfg.batch_size]
            ws = [widths[i] for i in part]
            scores = self._run(self.batch([crops[i] for i in part], ws))
            lengths = [math.ceil(w / stride) + self.cfg.tail_steps for w in ws]
            for j, (i, d) in enumerate(zip(part, decode_greedy(scores, self.spec.charset, self.logits, lengths,
                                                                self.mask, self.prior))):
                if self.lexicon:
                    d = rescore(d, np.asarray(scores[j])[: lengths[j]], self.spec.charset, self.lexicon, self.mask,
                                logits=self.logits)
                if self.cfg.case:
                    d = Decoded(casing.apply(d.text, self.cfg.case), d.char_conf)
                out[i] = d
        return out

    def crops(self, image: np.ndarray, regions: Sequence[Sequence[Sequence[float]]],
              both_ways: bool = False) -> list:
        """Cut 4-point regions of a page with the configured context. ``both_ways`` (and the
        config's ``vertical_both_ways``): a vertical region gives two crops, read top-to-bottom
        and bottom-to-top, for :meth:`read` to choose between."""
        out: list = []
        for q in regions:
            if self.cfg.fit_ink:
                q = fit_to_ink(image, q, self.cfg.fit_margin)
            crop = crop_quad(image, q, self.cfg.pad_x, self.cfg.pad_y)
            if both_ways and self.cfg.vertical_both_ways and crop is not None and is_vertical(q):
                crop = (crop, crop_quad(image, q, self.cfg.pad_x, self.cfg.pad_y, reads="up"))
            out.append(crop)
        return out

    def read_regions(self, image: np.ndarray, regions: Sequence[Sequence[Sequence[float]]]) -> list[Decoded]:
        """Recognise 4-point regions of a page (a vertical one read both ways)."""
        return self.read(self.crops(image, regions, both_ways=True))
