"""The classical pre-fill engine: preprocess -> detect segments -> Tesseract per segment.

    pred = prefill_image(gray_or_bgr_array)              # default config
    pred = prefill_image(img, {"preprocess": {"orientation": False}})   # a page known to be upright

Runs on CPU only, one Tesseract API per process/thread (see ``ml.tess``).
For many pages in parallel use :func:`ml.pool.prefill_pages`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ml import tess
from ml.detect import DetectConfig, detect_cv, detect_tesseract
from ml.orientation import OrientationConfig, upright
from ml.prediction import PagePrediction, Region, config_hash
from ml.preprocess import PreprocessConfig, preprocess, to_gray
from ml.recognize import RecognizeConfig, keep_text, recognize_boxes

ENGINE_NAME = "classical"
#: Bump when the pipeline's behaviour changes for an unchanged config.
PIPELINE_VERSION = "1.0"


@dataclass(frozen=True)
class ClassicalConfig:
    """Full configuration of the classical engine (all parts switchable)."""

    #: Quarter turns and skews up to 10 degrees are undone by default (``ml.orientation``, the
    #: step every engine shares): a turned page otherwise reads as a few dozen garbage regions.
    preprocess: PreprocessConfig = field(default_factory=lambda: PreprocessConfig(orientation=True, max_skew_deg=10.0))
    detect: DetectConfig = field(default_factory=DetectConfig)
    recognize: RecognizeConfig = field(default_factory=RecognizeConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, base: ClassicalConfig | None = None) -> ClassicalConfig:
        """Overlay a (possibly partial, nested) dict on ``base`` (default: the defaults).

        Unknown sections or keys raise ValueError, so a typo in a CLI option
        does not silently run the default.
        """
        d = dict(d or {})
        base = base or cls()
        parts = {f.name: getattr(base, f.name) for f in fields(cls)}
        for section, values in d.items():
            if section not in parts:
                raise ValueError(f"unknown config section {section!r}")
            part = parts[section]
            bad = set(values) - {f.name for f in fields(part)}
            if bad:
                raise ValueError(f"unknown {section} option(s): {sorted(bad)}")
            parts[section] = replace(part, **values)
        return cls(**parts)


def orientation_config(pre: PreprocessConfig) -> OrientationConfig:
    """The shared orientation step (``ml.orientation.upright``) as the preprocess switches say."""
    return OrientationConfig(orientation=pre.orientation, deskew=pre.deskew, max_skew_deg=pre.max_skew_deg,
                             min_skew_deg=pre.min_skew_deg, method=pre.orientation_method,
                             osd_min_conf=pre.osd_min_conf)


#: Reproduces the README baseline: plain Tesseract PSM 3 page pass split at
#: word gaps; crops read as they are with 2 px of page around them.
BASELINE_CONFIG = ClassicalConfig(
    preprocess=PreprocessConfig(orientation=False, deskew=False),
    detect=DetectConfig(method="tesseract", tess_psm=3, tess_gap=1.5, pad=0.0),
    recognize=RecognizeConfig(target_height=0, border=0.0, context=2, drop_punct=False, lang="eng"),
)


def engine_version(lang: str = "eng") -> str:
    """Tesseract + model + pipeline version, e.g. ``tesseract 5.5.4 tessdata_fast-eng; classical 1.0``."""
    return f"tesseract {tess.tesseract_version()} tessdata_fast-{lang}; classical {PIPELINE_VERSION}"


def _as_config(config: ClassicalConfig | Mapping[str, Any] | None, base: ClassicalConfig | None = None) -> ClassicalConfig:
    return config if isinstance(config, ClassicalConfig) else ClassicalConfig.from_dict(config, base)


def _quad(box: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def prefill_image(
    image: np.ndarray, config: ClassicalConfig | Mapping[str, Any] | None = None, engine: str = ENGINE_NAME
) -> PagePrediction:
    """Pre-fill one page: regions with text and confidence in ORIGINAL pixels.

    ``image`` is a gray or BGR uint8 array; ``config`` a :class:`ClassicalConfig`
    or a partial dict of it (None = defaults).
    """
    cfg = _as_config(config)
    t0 = time.perf_counter()
    gray = to_gray(image)
    h, w = gray.shape[:2]
    # Turn and level first (the step all engines share); preprocess then only scales and cleans.
    up = upright(gray, orientation_config(cfg.preprocess))
    pre = preprocess(up.image, replace(cfg.preprocess, orientation=False, deskew=False))

    if cfg.detect.method == "cv":
        boxes = detect_cv(pre.image, cfg.detect)
        read = recognize_boxes(pre.image, boxes, cfg.recognize)
        segs = [(b, t, c) for b, (t, c) in zip(boxes, read)]
    elif cfg.detect.method == "tesseract":
        segs = [(s.box, s.text, s.confidence) for s in detect_tesseract(pre.image, cfg.detect)]
    else:
        raise ValueError(f"unknown detect method {cfg.detect.method!r}")

    regions = []
    for box, text, conf in segs:
        if not keep_text(text, cfg.recognize) or conf < cfg.recognize.min_conf:
            continue
        pts = up.to_original(pre.to_original(_quad(box)))
        pts[:, 0] = pts[:, 0].clip(0, w)
        pts[:, 1] = pts[:, 1].clip(0, h)
        regions.append(Region([[round(float(x), 1), round(float(y), 1)] for x, y in pts], text, round(conf, 4)))

    cdict = cfg.to_dict()
    return PagePrediction(
        regions=regions,
        engine=engine,
        engine_version=engine_version(cfg.recognize.lang),
        config=cdict,
        config_hash=config_hash(engine, cdict),
        width=w,
        height=h,
        seconds=time.perf_counter() - t0,
        info={"rotation": up.turn, "skew": round(up.skew, 2), **up.info},
    )


def recognize_crops(
    image: np.ndarray, boxes: Sequence[Sequence[float]], config: ClassicalConfig | Mapping[str, Any] | None = None
) -> list[tuple[str, float]]:
    """Read given axis-aligned boxes (original pixels) with the engine's recogniser.

    No preprocessing: the boxes are trusted as they are (used by the harness
    on reference crops, and by the app to re-read a box a person drew).
    """
    cfg = _as_config(config)
    return recognize_boxes(to_gray(image), boxes, cfg.recognize)


class ClassicalEngine:
    """:class:`ml.prediction.Engine` implementation around :func:`prefill_image`."""

    def __init__(
        self,
        config: ClassicalConfig | Mapping[str, Any] | None = None,
        name: str = ENGINE_NAME,
        base: ClassicalConfig | None = None,
    ):
        self.cfg = _as_config(config, base)
        self.name = name
        self.version = engine_version(self.cfg.recognize.lang)
        self.config = self.cfg.to_dict()
        self.config_hash = config_hash(name, self.config)

    def predict(self, image: np.ndarray) -> PagePrediction:
        return prefill_image(image, self.cfg, self.name)

    def recognize_crops(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
        return recognize_crops(image, boxes, self.cfg)
