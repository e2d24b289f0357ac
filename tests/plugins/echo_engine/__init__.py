"""A minimal Proofdesk plug-in engine: one region per page, reading a fixed text.

What a plug-in provides: a factory ``factory(config: Mapping | None) -> Engine``, where the engine
has ``name``, ``version``, ``config`` (a JSON-able dict), ``config_hash`` and the two methods of
``ml.prediction.Engine``: ``predict(image) -> PagePrediction`` (the page as an 8-bit gray or BGR
array; region points in page pixels, TL, TR, BR, BL) and ``recognize_crops(image, boxes) ->
[(text, confidence)]``. Declare it in the package's ``pyproject.toml``::

    [project.entry-points."proofdesk.engines"]
    echo = "echo_engine:factory"
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from ml.prediction import PagePrediction, Region, config_hash

NAME = "echo"


class EchoEngine:
    name = NAME
    version = "echo 0.1"

    def __init__(self, config: Mapping[str, Any] | None = None):
        self.config = {"text": "ECHO", **dict(config or {})}
        self.config_hash = config_hash(self.name, self.config)

    def predict(self, image: np.ndarray) -> PagePrediction:
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        # One region: the page's middle band, a tenth of its height.
        y0, y1, x0, x1 = 0.45 * h, 0.55 * h, 0.1 * w, 0.9 * w
        region = Region([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], str(self.config["text"]), 1.0)
        return PagePrediction([region], self.name, self.version, dict(self.config), self.config_hash, w, h,
                              time.perf_counter() - t0, {"plugin": True})

    def recognize_crops(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[str, float]]:
        return [(str(self.config["text"]), 1.0) for _ in boxes]


def factory(config: Mapping[str, Any] | None = None) -> EchoEngine:
    return EchoEngine(config)
