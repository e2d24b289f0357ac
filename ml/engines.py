"""Engine registry: name -> factory(config dict or None) -> Engine.

Worker processes rebuild engines from ``(name, config)``, so engines must be
registered when this module is imported (a later neural engine adds its
entry here and imports its heavy dependencies inside its factory).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from ml.classical import BASELINE_CONFIG, ClassicalEngine
from ml.prediction import Engine

EngineFactory = Callable[[Mapping[str, Any] | None], Engine]

ENGINES: dict[str, EngineFactory] = {
    # The default pre-fill engine.
    "classical": lambda config=None: ClassicalEngine(config),
    # Plain Tesseract as in shared/datasets/README.md (for comparisons).
    "tesseract-baseline": lambda config=None: ClassicalEngine(config, name="tesseract-baseline", base=BASELINE_CONFIG),
}

_cache: dict[tuple[str, str], Engine] = {}


def get_engine(name: str = "classical", config: Mapping[str, Any] | None = None) -> Engine:
    """The engine ``name`` built with ``config`` (cached per process)."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; known: {sorted(ENGINES)}")
    key = (name, json.dumps(config or {}, sort_keys=True))
    if key not in _cache:
        _cache[key] = ENGINES[name](config)
    return _cache[key]

# "neural" and "combined": cheap to import (onnxruntime and the model load in
# the factories); a missing or corrupt model warns and gives the classical engine.
from ml.neural import NEURAL_ENGINES  # noqa: E402

ENGINES.update(NEURAL_ENGINES)
