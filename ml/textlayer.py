"""Text layer first: a born-digital PDF page is pre-filled from its own text layer.

The importer keeps each PDF page's text layer (``core/textlayer.py``). For a page whose layer is
usable, pre-fill writes a Prediction of the engine ``textlayer``: the layer's lines, confidence 1.0
(the characters are the document's own, not a reading). What the layer cannot hold, text inside
the page's images (a logo, a pasted scan, a stamp), is read by the project's OCR engine: it reads
the page and only its regions lying inside an image area, and not overlapping a text-layer line,
join the prediction. A page without images needs no OCR and no worker process; a page without a
usable layer (an image, a scanned PDF with an invisible OCR layer, a layer with broken Unicode) is
pre-filled by the OCR engine as before.

As an engine of :data:`ml.engines.ENGINES` (``--engine textlayer``, ``eval``), ``textlayer`` given a
plain image, which has no text layer, reads it with its OCR engine (config ``{"ocr": name}``,
``combined`` by default) and returns that engine's prediction: so evaluating it on an image folder
measures that OCR engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from core.model import PredictedRegion, Prediction, quad_bounds
from core.textlayer import RECIPE_VERSION, TextLayer, source_name

from .prediction import PagePrediction, config_hash

#: The engine name of predictions made from a text layer.
TEXT_LAYER_ENGINE = "textlayer"
#: OCR regions join a text-layer prediction when at least this share of their box lies inside
#: one image area...
INSIDE_SHARE = 0.6
#: ...and at most this share of the smaller of the two boxes overlaps any text-layer line.
OVERLAP_SHARE = 0.2


def text_layer_config(ocr_engine: str | None = None, ocr_config_hash: str | None = None) -> dict[str, Any]:
    """The config of a text-layer prediction: the recipe, and the OCR engine that read the image
    areas (its name and config hash) when one did."""
    config: dict[str, Any] = {"source": "pdf text layer", "recipe": RECIPE_VERSION}
    if ocr_engine:
        config["ocr"] = ocr_engine
        config["ocr_config_hash"] = ocr_config_hash or ""
    return config


def text_layer_config_hash(ocr_engine: str | None = None, ocr_config_hash: str | None = None) -> str:
    return config_hash(TEXT_LAYER_ENGINE, text_layer_config(ocr_engine, ocr_config_hash))


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def regions_in_image_areas(ocr: Sequence, layer: TextLayer) -> list:
    """The OCR regions (anything with ``points``) that lie inside one of the layer's image areas
    (:data:`INSIDE_SHARE` of their box) and do not overlap a text-layer line
    (:data:`OVERLAP_SHARE` of the smaller box)."""
    lines = [ln.bounds() for ln in layer.lines]
    out = []
    for r in ocr:
        box = quad_bounds(r.points)
        size = _area(box)
        if size <= 0:
            continue
        if not any(_intersection(box, area) >= INSIDE_SHARE * size for area in layer.image_areas):
            continue
        if any(_intersection(box, ln) > OVERLAP_SHARE * min(size, _area(ln)) for ln in lines if _area(ln) > 0):
            continue
        out.append(r)
    return out


def text_layer_prediction(page_id: int, layer: TextLayer, ocr: PagePrediction | None = None,
                          seconds: float = 0.0, page=None) -> Prediction:
    """The ``textlayer`` Prediction of a page: its text layer's lines (confidence 1.0), and with
    ``ocr`` (the OCR engine's prediction of the page) the OCR regions inside its image areas.

    Every point is on the stored image (the text layer's frame; ``rotation=0``, ADR 0008): the OCR
    engine read the page as shown, so with ``page`` (its :class:`core.model.Page`) a turned page's
    OCR regions are taken back to the stored image first."""
    regions = [PredictedRegion(points=tuple((float(x), float(y)) for x, y in ln.points), text=ln.text,  # type: ignore[arg-type]
                               confidence=1.0) for ln in layer.lines]
    config = text_layer_config()
    if ocr is not None:
        config = text_layer_config(ocr.engine, ocr.config_hash)
        ocr_regions = list(ocr.regions)
        if page is not None and getattr(page, "rotation", 0):
            ocr_regions = [replace(r, points=[list(p) for p in page.to_image(r.points)]) for r in ocr_regions]
        for r in regions_in_image_areas(ocr_regions, layer):
            regions.append(PredictedRegion(
                points=tuple(tuple(map(float, p)) for p in r.points), text=r.text,  # type: ignore[arg-type]
                confidence=float(r.confidence), disagree=bool(getattr(r, "disagree", False)),
                second_opinion=getattr(r, "second_opinion", None)))
        seconds += ocr.seconds
    return Prediction(page_id=page_id, engine=TEXT_LAYER_ENGINE, engine_version=layer.source or source_name(),
                      config=config, config_hash=config_hash(TEXT_LAYER_ENGINE, config), regions=tuple(regions),
                      duration_s=seconds, rotation=0)


class TextLayerEngine:
    """``textlayer`` as an engine of the registry. Pre-fill takes a PDF page's text layer from the
    project (``ml.prefill``); an image handed to this engine has none, so it is read by the OCR
    engine named in the config (``{"ocr": "combined", "ocr_config": {...}}``)."""

    name = TEXT_LAYER_ENGINE

    def __init__(self, config: Mapping[str, Any] | None = None):
        config = dict(config or {})
        from core.prefill_engine import DEFAULT_ENGINE

        ocr = config.get("ocr") or DEFAULT_ENGINE
        if ocr == TEXT_LAYER_ENGINE:
            raise ValueError("the textlayer engine's OCR engine cannot be textlayer itself")
        self.config = {"ocr": ocr, **({"ocr_config": dict(config["ocr_config"])} if config.get("ocr_config") else {})}
        self.version = source_name()
        self.config_hash = config_hash(self.name, self.config)

    def _ocr(self):
        from .engines import get_engine

        return get_engine(self.config["ocr"], self.config.get("ocr_config"))

    def predict(self, image) -> PagePrediction:
        """An image has no text layer: its OCR engine's prediction."""
        return self._ocr().predict(image)

    def recognize_crops(self, image, boxes):
        return self._ocr().recognize_crops(image, boxes)
