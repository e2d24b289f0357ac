"""The "neural" engine: DB detector + CTC recogniser on onnxruntime (CUDA when present, else CPU).

    eng = NeuralEngine()                    # bundled ppocrv5-base, defaults
    pred = eng.predict(gray_page)           # PagePrediction; pred.info["provider"] == "cpu"

``config`` keys (all optional, nested like the classical engine's)::

    {"model": "ppocrv5-base" or a folder,
     "detect": {DetectConfig fields}, "recognize": {RecognizeConfig fields},
     "orientation": {OrientationConfig fields}, "min_conf": 0.5, "device": "auto"|"cpu"|"cuda", "threads": 0}

Pages are read upright: quarter turns and skews up to 10 degrees are undone first
(``ml.orientation``), and the regions found are mapped back to the page's own pixels, 4-point
polygons following the text.

``device`` and ``threads`` say where it runs, not what it computes, so they are
not part of ``config`` / ``config_hash`` (a page pre-filled on a GPU box is not
pre-filled again on a laptop).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ml.neural import runtime
from ml.neural.detector import DetectConfig, Detector
from ml.neural.models import BASE_MODEL, ModelSpec, load_spec, model_dir
from ml.neural.recognizer import RecognizeConfig, Recognizer, box_to_quad
from ml.orientation import OrientationConfig, Upright, upright
from ml.prediction import PagePrediction, Region, config_hash

ENGINE_NAME = "neural"
#: Bump when the pipeline's behaviour changes for an unchanged config and model.
PIPELINE_VERSION = "1.0"
#: Keys of a config mapping that choose where the engine runs, not what it computes.
RUNTIME_KEYS = ("device", "threads")


@dataclass(frozen=True)
class NeuralConfig:
    """Full configuration of the neural engine (hashed into the prediction's config_hash)."""

    #: Bundled model id (under resources/models) or a model folder with det/ and rec/.
    model: str = BASE_MODEL
    #: Sub-folder of the recogniser: "rec-latin" (Latin head, logits; see ml.neural.torch_model)
    #: or "rec" (the shipped PP-OCRv5 head, 18,385 classes).
    rec: str = "rec-latin"
    #: Sub-folder (or folder) of the detector: "det" (shipped) or a fine-tuned one
    #: (``ml.training.detector``; a model version's ``det/``).
    det: str = "det"
    detect: DetectConfig = field(default_factory=DetectConfig)
    recognize: RecognizeConfig = field(default_factory=RecognizeConfig)
    #: Lines whose recognition confidence is below this are not pre-filled.
    min_conf: float = 0.3
    #: Quarter turns and skew undone before reading (``ml.orientation``).
    orientation: OrientationConfig = field(default_factory=OrientationConfig)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["det"] == "det":  # the shipped detector: configs (and their hashes) as before ``det`` was added
            del d["det"]
        if not d["recognize"]["case"]:  # read as read: configs (and their hashes) as before ``case``
            del d["recognize"]["case"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, base: NeuralConfig | None = None) -> NeuralConfig:
        """Overlay a partial nested dict on ``base`` (default: the defaults); unknown keys raise ValueError."""
        return _overlay(cls, d, base or cls())


def _overlay(cls: type, d: Mapping[str, Any] | None, base: Any) -> Any:
    d = {k: v for k, v in dict(d or {}).items() if k not in RUNTIME_KEYS}
    names = {f.name: f for f in fields(cls)}
    bad = set(d) - set(names)
    if bad:
        raise ValueError(f"unknown {cls.__name__} option(s): {sorted(bad)}")
    changes = {}
    for key, value in d.items():
        cur = getattr(base, key)
        if hasattr(cur, "__dataclass_fields__"):
            sub = set(value) - {f.name for f in fields(cur)}
            if sub:
                raise ValueError(f"unknown {key} option(s): {sorted(sub)}")
            changes[key] = replace(cur, **value)
        else:
            changes[key] = value
    return replace(base, **changes)


class NeuralModel:
    """The loaded networks of one model folder: detector + recogniser sessions.

    Raises :class:`ml.neural.models.ModelError` when a file is missing or corrupt.
    """

    def __init__(self, model: str = BASE_MODEL, detect: DetectConfig | None = None,
                 recognize: RecognizeConfig | None = None, device: str = "auto", threads: int = 0,
                 rec: str = "rec-latin", det: str = "det"):
        self.det_spec: ModelSpec = load_spec(model_dir(model, det))
        self.rec_spec: ModelSpec = load_spec(model_dir(model, rec))
        det_sess = runtime.create_session(self.det_spec.path, device, threads)
        rec_sess = runtime.create_session(self.rec_spec.path, device, threads)
        self.detector = Detector(self.det_spec, det_sess, detect)
        self.recognizer = Recognizer(self.rec_spec, rec_sess, recognize)
        self.provider = runtime.describe([det_sess, rec_sess])

    @property
    def version(self) -> str:
        return f"det {self.det_spec.version}, rec {self.rec_spec.version}"


def on_page(up: Upright, lines: Sequence[tuple[np.ndarray, Any]]) -> list[tuple[np.ndarray, Any]]:
    """Lines read on the upright page with their points in the page's own pixels."""
    if up.identity:
        return list(lines)
    return list(zip(up.quads_to_original([p for p, _ in lines]), [d for _, d in lines]))


def _region(points: np.ndarray, text: str, conf: float) -> Region:
    return Region([[round(float(x), 1), round(float(y), 1)] for x, y in points], text, round(float(conf), 4))


class NeuralEngine:
    """:class:`ml.prediction.Engine` with the neural detector and recogniser."""

    def __init__(self, config: NeuralConfig | Mapping[str, Any] | None = None, name: str = ENGINE_NAME):
        if isinstance(config, NeuralConfig):
            self.cfg, rt = config, {}
        else:
            self.cfg = NeuralConfig.from_dict(config)
            rt = {k: v for k, v in dict(config or {}).items() if k in RUNTIME_KEYS}
        self.device = str(rt.get("device", "auto"))
        self.threads = int(rt.get("threads", 0))
        self.model = NeuralModel(self.cfg.model, self.cfg.detect, self.cfg.recognize, self.device, self.threads,
                                 self.cfg.rec, self.cfg.det)
        self.name = name
        self.version = f"{self.model.version}; neural {PIPELINE_VERSION}"
        self.config = self.cfg.to_dict()
        self.config_hash = config_hash(name, self.config)

    @property
    def provider(self) -> str:
        """Where the networks run: ``cpu``, ``cuda`` (or ``cuda+cpu`` if they differ)."""
        return self.model.provider

    def upright(self, image: np.ndarray) -> Upright:
        """The page turned and levelled for reading, as the config says (``ml.orientation``)."""
        return upright(image, self.cfg.orientation)

    def read_upright(self, image: np.ndarray) -> tuple[Upright, list[tuple[np.ndarray, Any]], dict[str, Any]]:
        """Turn and level a page, detect and read it: the :class:`Upright` page, its
        ``[(points, Decoded)]`` in reading order in the UPRIGHT image's pixels, stage timings."""
        t0 = time.perf_counter()
        up = self.upright(image)
        t1 = time.perf_counter()
        boxes = self.model.detector.detect(up.image)
        t2 = time.perf_counter()
        decoded = self.model.recognizer.read_regions(up.image, [b for b, _ in boxes])
        t3 = time.perf_counter()
        timing = {"orient_s": round(t1 - t0, 4), "detect_s": round(t2 - t1, 4), "recognize_s": round(t3 - t2, 4),
                  **up.info}
        return up, [(b, d) for (b, _), d in zip(boxes, decoded)], timing

    def read_page(self, image: np.ndarray) -> tuple[list[tuple[np.ndarray, Any]], dict[str, Any]]:
        """Detect and read a page: ``[(points, Decoded)]`` in reading order, points in the page's own
        pixels (mapped back from the upright page), plus stage timings."""
        up, lines, timing = self.read_upright(image)
        return on_page(up, lines), timing

    def predict_many(self, images: Sequence[np.ndarray]) -> list[PagePrediction]:
        """:meth:`predict` for several pages at once: each page detected on its own, then the
        lines of all of them read together, so the recogniser's batches are full (what a GPU
        needs to be busy; on a CPU it changes little). Same regions as one page at a time, up
        to the rare line whose reading depends on the padding of its batch."""
        t0 = time.perf_counter()
        pages = self.read_pages(images)
        n = max(1, len(images))  # each page is given its share of the time
        return [self._page_prediction(img, lines, (time.perf_counter() - t0) / n, timing)
                for img, (lines, timing) in zip(images, pages)]

    def read_pages(self, images: Sequence[np.ndarray]) -> list[tuple[list[tuple[np.ndarray, Any]], dict[str, Any]]]:
        """:meth:`read_page` for several pages, their lines recognised in shared batches; each page's
        timing is its share of the whole."""
        return [(on_page(up, lines), info) for up, lines, info in self.read_pages_upright(images)]

    def read_pages_upright(self, images: Sequence[np.ndarray]
                           ) -> list[tuple[Upright, list[tuple[np.ndarray, Any]], dict[str, Any]]]:
        """:meth:`read_upright` for several pages, their lines recognised in shared batches."""
        t0 = time.perf_counter()
        ups = [self.upright(img) for img in images]
        t1 = time.perf_counter()
        boxes = [self.model.detector.detect(up.image) for up in ups]
        t2 = time.perf_counter()
        rec = self.model.recognizer
        crops = [c for up, bs in zip(ups, boxes) for c in rec.crops(up.image, [b for b, _ in bs], both_ways=True)]
        decoded = rec.read(crops)
        t3 = time.perf_counter()
        n = max(1, len(images))
        info = {"pages_in_batch": len(images), "orient_s": round((t1 - t0) / n, 4),
                "detect_s": round((t2 - t1) / n, 4), "recognize_s": round((t3 - t2) / n, 4)}
        out, i = [], 0
        for up, bs in zip(ups, boxes):
            out.append((up, [(b, d) for (b, _), d in zip(bs, decoded[i:i + len(bs)])], {**info, **up.info}))
            i += len(bs)
        return out

    def predict(self, image: np.ndarray) -> PagePrediction:
        t0 = time.perf_counter()
        lines, timing = self.read_page(image)
        return self._page_prediction(image, lines, time.perf_counter() - t0, timing)

    def _page_prediction(self, image: np.ndarray, lines: Sequence[tuple[np.ndarray, Any]], seconds: float,
                         info: Mapping[str, Any]) -> PagePrediction:
        h, w = image.shape[:2]
        return PagePrediction(
            regions=self.to_regions(lines), engine=self.name, engine_version=self.version, config=self.config,
            config_hash=self.config_hash, width=w, height=h, seconds=seconds,
            info={"provider": self.provider, **info},
        )

    def to_regions(self, lines: Sequence[tuple[np.ndarray, Any]]) -> list[Region]:
        """Regions of the lines worth pre-filling (some text, confidence >= ``min_conf``)."""
        return [_region(p, d.text.strip(), d.confidence) for p, d in lines
                if d.text.strip() and d.confidence >= self.cfg.min_conf]

    def recognize_crops(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
        """Read given axis-aligned boxes (x0, y0, x1, y1) of a page: (text, confidence)."""
        got = self.model.recognizer.read_regions(image, [box_to_quad(b) for b in boxes])
        return [(d.text.strip(), round(d.confidence, 4)) for d in got]
