"""The "combined" engine: the neural engine reads the page, Tesseract gives a second opinion.

For each region the neural detector finds, the neural recogniser's reading is
the primary text; Tesseract (the classical engine's recogniser,
``ml.recognize.recognize_boxes``, PSM 7) reads the same box. The region then gets

* ``text``: the neural reading; where the two agree but for spaces, Tesseract's
  spacing (PP-OCRv5 was trained mostly on Chinese and drops spaces between
  Latin words, Tesseract rarely does); where they disagree, the neural
  recogniser is unsure of a character and Tesseract is sure, Tesseract's text;
* ``confidence``: a calibrated probability that the text is right, from the
  recogniser's character probabilities, the agreement and Tesseract's own
  confidence (``ml.neural.calibration``, fitted on sroie-dev, stored in the
  model folder's ``calibration.json``);
* ``disagree``: True where the two engines read different texts (ignoring
  case and spaces), with Tesseract's reading in ``second_opinion``: the
  regions an annotator should look at first.

Tesseract runs on the CPU in this process; with ``second_opinion="doubtful"``
it reads only regions whose weakest character is below ``doubt_below``.

Both read the page made upright (turned and levelled, ``ml.orientation``; switched by the neural
config's ``orientation`` section), so Tesseract's axis-aligned crops hold one line even on a
crooked scan; the regions are mapped back to the page's own pixels at the end.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.prefill_engine import DEFAULT_TESSERACT_LANGUAGES
from ml import tess
from ml.neural import casing
from ml.neural.calibration import Calibrator, features, region_outcomes, same_text
from ml.neural.engine import RUNTIME_KEYS, NeuralConfig, NeuralEngine, _overlay
from ml.neural.models import model_dir
from ml.neural.recognizer import is_vertical
from ml.orientation import Upright
from ml.prediction import PagePrediction, Region, config_hash
from ml.preprocess import to_gray
from ml.recognize import RecognizeConfig as TessConfig
from ml.recognize import recognize_boxes

ENGINE_NAME = "combined"
PIPELINE_VERSION = "1.0"


@dataclass(frozen=True)
class CombinedConfig:
    """Configuration of the combined engine (hashed into the prediction's config_hash)."""

    neural: NeuralConfig = field(default_factory=NeuralConfig)
    #: Tesseract's reading, with German + English data: deu has the umlauts, ß and the accents
    #: eng lacks (invoices-dev crop CER 1.85% -> 1.55%; sroie-dev unchanged, 2.9% ci).
    tesseract: TessConfig = field(default_factory=lambda: TessConfig(lang=DEFAULT_TESSERACT_LANGUAGES))
    #: "all" regions get Tesseract's reading, or only the "doubtful" ones.
    second_opinion: str = "all"
    doubt_below: float = 0.95
    #: Take Tesseract's spaces where both agree but for spaces. Off since the recogniser was taught
    #: invoice print (2026-11-30): Tesseract's spacing then undid its "Seite 1", "19 %", "0,00 €"
    #: (invoices-dev crop CER cs 0.89% -> 0.70%, typing saved 94.81% -> 94.88%; sroie-dev crop CER
    #: ci 2.35% -> 2.26%, typing saved ci 93.05% -> 93.06%).
    tesseract_spaces: bool = False
    #: Where they disagree, take Tesseract's text if the recogniser's weakest character is
    #: below ``prefer_tesseract_below`` and Tesseract's confidence is at least ``tesseract_sure``.
    prefer_tesseract_below: float = 0.7
    tesseract_sure: float = 0.85
    #: Regions whose calibrated confidence is below this are not pre-filled.
    min_conf: float = 0.05
    #: Where the two readings differ only in diacritics, keep a letter's diacritic whichever
    #: engine read it (``_diacritics``): dropping an accent is what both recognisers do most
    #: (the recogniser reads "Falligkeit", Tesseract "a" for "à"); inventing one is rare.
    keep_diacritics: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["neural"]["recognize"]["case"]:  # read as read: configs (and their hashes) as before ``case``
            del d["neural"]["recognize"]["case"]
        return d


def _config(d: Mapping[str, Any] | None) -> CombinedConfig:
    # "calibration" is what the engine reports of its calibration file (so a refit changes the
    # config hash); it comes back here when a stored config is run again, as pre-fill does in
    # its workers, and is not an option: the file is read again.
    d = {k: v for k, v in dict(d or {}).items() if k not in RUNTIME_KEYS and k != "calibration"}
    base = CombinedConfig()
    changes: dict[str, Any] = {}
    if "neural" in d:
        changes["neural"] = NeuralConfig.from_dict(d.pop("neural"))
    if "tesseract" in d:
        changes["tesseract"] = _overlay(TessConfig, d.pop("tesseract"), base.tesseract)
    out = _overlay(CombinedConfig, d, base)
    if out.second_opinion not in ("all", "doubtful"):
        raise ValueError(f"second_opinion must be 'all' or 'doubtful', not {out.second_opinion!r}")
    return CombinedConfig(**{**{k: getattr(out, k) for k in out.__dataclass_fields__}, **changes})


@dataclass
class Reading:
    """Everything the combined engine knows about one region (also what calibration is fitted on)."""

    points: np.ndarray
    neural: str
    mean_conf: float
    min_conf: float
    tesseract: str | None
    tess_conf: float

    @property
    def agree(self) -> bool | None:
        return None if self.tesseract is None else same_text(self.neural, self.tesseract)

    def features(self) -> list[float]:
        return features(self.mean_conf, self.min_conf, self.agree, self.tess_conf, len(self.neural))


class CombinedEngine:
    """:class:`ml.prediction.Engine`: neural primary, Tesseract second opinion, calibrated confidences."""

    def __init__(self, config: Mapping[str, Any] | None = None, name: str = ENGINE_NAME):
        self.cfg = _config(config)
        rt = {k: v for k, v in dict(config or {}).items() if k in RUNTIME_KEYS}
        self.neural = NeuralEngine(self.cfg.neural, name=name) if not rt else NeuralEngine(
            {**self.cfg.neural.to_dict(), **rt}, name=name)
        self.calibration_path = calibration_path(self.cfg.neural)
        self.calibrator = Calibrator.load(self.calibration_path)
        self.name = name
        self.version = (f"{self.neural.model.version}; tesseract {tess.tesseract_version()} tessdata_fast-{self.cfg.tesseract.lang}; "
                        f"combined {PIPELINE_VERSION}")
        self.config = self.cfg.to_dict()
        self.config["calibration"] = self.calibrator.to_dict()  # a refit is a different config
        self.config_hash = config_hash(name, self.config)

    @property
    def provider(self) -> str:
        return self.neural.provider

    def readings(self, image: np.ndarray, points: Sequence[np.ndarray] | None = None) -> tuple[list[Reading], dict]:
        """Both engines' readings of the page's regions (detected on the upright page, or
        ``points`` given: read where they are); points in the page's own pixels."""
        if points is None:
            up, lines, timing = self.neural.read_upright(image)
            readings, timing = self._second_opinion(up.image, lines, timing)
            return _on_page(up, readings), timing
        decoded = self.neural.model.recognizer.read_regions(image, points)
        return self._second_opinion(image, list(zip(points, decoded)), {})

    def _second_opinion(self, image: np.ndarray, lines: Sequence[tuple[np.ndarray, Any]], timing: dict
                        ) -> tuple[list[Reading], dict]:
        """Tesseract's reading of the neural lines that need one, as :class:`Reading` s."""
        t1 = time.perf_counter()
        # Not vertical text: Tesseract reads a box as a horizontal line and makes a tall one a `|`.
        check = [i for i, (p, d) in enumerate(lines) if d.text.strip() and not is_vertical(p) and (
            self.cfg.second_opinion == "all" or d.min_conf < self.cfg.doubt_below)]
        gray = to_gray(image)
        boxes = [_bbox(lines[i][0]) for i in check]
        second = dict(zip(check, recognize_boxes(gray, boxes, self.cfg.tesseract)))
        out = []
        for i, (p, d) in enumerate(lines):
            t, c = second.get(i, (None, 0.0))
            out.append(Reading(np.asarray(p), d.text, d.confidence, d.min_conf, t, c))
        timing = {**timing, "tesseract_s": round(time.perf_counter() - t1, 4)}
        return out, timing

    def finish(self, r: Reading) -> tuple[str, float, bool]:
        """Final text, calibrated confidence and disagreement flag of one region."""
        text = r.neural
        if self.cfg.tesseract_spaces and r.agree and r.tesseract and r.tesseract != r.neural:
            text = _respace(r.neural, r.tesseract)
        elif self.cfg.keep_diacritics and r.tesseract and (merged := _diacritics(r.neural, r.tesseract)) is not None:
            text = merged
        elif (r.agree is False and r.tesseract and r.min_conf < self.cfg.prefer_tesseract_below
              and r.tess_conf >= self.cfg.tesseract_sure):
            text = r.tesseract
            if any(c.isalpha() for c in r.neural) and not any(c.islower() for c in r.neural):
                # The recogniser writes this line in capitals (a model fine-tuned on a project that
                # transcribes in capitals does so everywhere): so does the text that replaces it.
                text = text.upper()
        # The project's case convention (the recogniser's readings are in it already; Tesseract's
        # and the diacritics it lends are not).
        text = casing.apply(text, self.cfg.neural.recognize.case)
        # A line never starts or ends with a space (the recogniser's space prior can put one on
        # the edge of a loosely cut crop).
        return text.strip(), self.calibrator.predict(r.features()), r.agree is False

    def predict(self, image: np.ndarray) -> PagePrediction:
        t0 = time.perf_counter()
        readings, timing = self.readings(image)
        return self._prediction(image, readings, timing, time.perf_counter() - t0)

    def predict_many(self, images: Sequence[np.ndarray]) -> list[PagePrediction]:
        """:meth:`predict` for several pages: the neural lines of all of them recognised in shared
        batches (``NeuralEngine.read_pages``), Tesseract's second opinion page by page."""
        t0 = time.perf_counter()
        pages = self.neural.read_pages_upright(images)
        share = (time.perf_counter() - t0) / max(1, len(images))
        out = []
        for img, (up, lines, timing) in zip(images, pages):
            t1 = time.perf_counter()
            readings, timing = self._second_opinion(up.image, lines, timing)
            readings = _on_page(up, readings)
            out.append(self._prediction(img, readings, timing, share + time.perf_counter() - t1))
        return out

    def _prediction(self, image: np.ndarray, readings: Sequence[Reading], timing: dict, seconds: float
                    ) -> PagePrediction:
        h, w = image.shape[:2]
        regions = self.to_regions(readings)
        return PagePrediction(
            regions=regions, engine=self.name, engine_version=self.version, config=self.config,
            config_hash=self.config_hash, width=w, height=h, seconds=seconds,
            info={"provider": self.provider, "disagreements": sum(g.disagree for g in regions), **timing},
        )

    def to_regions(self, readings: Sequence[Reading]) -> list[Region]:
        """Regions of the readings worth pre-filling, with calibrated confidences and flags."""
        regions = []
        for r in readings:
            if not r.neural.strip():
                continue
            text, conf, disagree = self.finish(r)
            if conf < self.cfg.min_conf:
                continue
            regions.append(Region([[round(float(x), 1), round(float(y), 1)] for x, y in r.points], text,
                                  round(conf, 4), disagree=disagree,
                                  second_opinion=r.tesseract if disagree else None))
        return regions

    def calibration_samples(self, readings: Sequence[Reading], ref_lines: Sequence[Mapping[str, Any]]
                            ) -> tuple[list[list[float]], list[bool]]:
        """What a :class:`Calibrator` is fitted on: the features of each region this engine would
        pre-fill (before ``min_conf``) and whether its final text is right against ``ref_lines``
        (the reference format's lines: ``box``, ``text``)."""
        rs = [r for r in readings if r.neural.strip()]
        regions = [{"points": r.points.tolist(), "text": self.finish(r)[0], "confidence": 1.0} for r in rs]
        return [r.features() for r in rs], [ok for _, ok in region_outcomes(regions, ref_lines)]

    def recognize_crops(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
        """Read given axis-aligned boxes (x0, y0, x1, y1): final text and calibrated confidence."""
        from ml.neural.recognizer import box_to_quad

        readings, _ = self.readings(image, [np.asarray(box_to_quad(b), dtype=np.float64) for b in boxes])
        out = []
        for r in readings:
            text, conf, _ = self.finish(r)
            out.append((text, round(conf, 4) if text else 0.0))
        return out


def calibration_path(neural: NeuralConfig) -> Path:
    """The calibration the combined engine uses with ``neural``'s recogniser: the model version's
    own (``calibration.json`` in its folder, fitted by the training run that made it), else the
    one shipped with the base model."""
    own = model_dir(neural.model, neural.rec) / "calibration.json"
    return own if own.is_file() else model_dir(neural.model, "") / "calibration.json"


def _on_page(up: Upright, readings: list[Reading]) -> list[Reading]:
    """Readings made on the upright page, their points moved to the page's own pixels."""
    if not up.identity:
        for r, p in zip(readings, up.quads_to_original([r.points for r in readings])):
            r.points = p
    return readings


def _bbox(points: np.ndarray) -> tuple[float, float, float, float]:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))


def _base(ch: str) -> str:
    """A letter without its diacritics ("é" -> "e"; "ß", "ø" stay)."""
    return "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))


def _diacritics(primary: str, other: str) -> str | None:
    """``primary`` with the diacritics ``other`` has where ``primary`` has the plain letter, if the
    two are the same text but for diacritics (and spaces: ``primary``'s are kept); else None.
    Where both have a different diacritic on a letter, ``primary``'s stays.

    >>> _diacritics("Falligkeit à", "Fälligkeit a")
    'Fälligkeit à'
    """
    a = [c for c in unicodedata.normalize("NFC", primary)]
    b = [c for c in unicodedata.normalize("NFC", other) if not c.isspace()]
    letters = [c for c in a if not c.isspace()]
    if len(letters) != len(b) or letters == b or any(_base(x) != _base(y) for x, y in zip(letters, b)):
        return None
    out, k = [], 0
    for c in a:
        if c.isspace():
            out.append(c)
            continue
        o = b[k]
        k += 1
        out.append(o if c == _base(c) and o != c else c)
    return "".join(out)


def _respace(primary: str, spaced: str) -> str:
    """``primary``'s characters with ``spaced``'s spaces (both equal but for case and spaces).

    >>> _respace("Tel:03-1234", "TEL : 03-1234")
    'Tel : 03-1234'
    """
    chars = [c for c in primary if not c.isspace()]
    out, k = [], 0
    for c in spaced:
        if c.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        elif k < len(chars):
            out.append(chars[k])
            k += 1
    out.extend(chars[k:])
    return "".join(out).strip()
