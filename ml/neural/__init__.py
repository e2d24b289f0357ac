"""The local neural OCR model: DB text detection + CTC line recognition on onnxruntime.

Register the engines in ``ml.engines``::

    from ml.neural import NEURAL_ENGINES
    ENGINES.update(NEURAL_ENGINES)

Importing this package is cheap: onnxruntime, torch and the model files are
loaded by the factories. The strict ones (``FACTORIES``) raise :class:`ModelError`
(a ``core.errors.ProofdeskError``) when the model is missing or corrupt; the
registered ones (``NEURAL_ENGINES``, via :func:`engine_or_fallback`) log a
warning and give the classical engine, so pre-fill goes on.

Modules: ``models`` (model.json, sha256), ``runtime`` (onnxruntime sessions,
providers), ``detector`` (DB boxes), ``recognizer`` (crops, batches),
``ctc`` (the decoder), ``engine`` (neural), ``combined`` (neural + Tesseract),
``calibration`` (calibrated confidences, reliability tables), ``torch_model``
(the recogniser as a PyTorch module, ONNX export), ``fold`` (graph folding).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from ml.neural.models import ModelError

log = logging.getLogger(__name__)


def neural_factory(config: Mapping[str, Any] | None = None) -> Any:
    """The "neural" engine (neural detection + neural recognition); raises ModelError."""
    from ml.neural.engine import NeuralEngine

    return NeuralEngine(config)


def combined_factory(config: Mapping[str, Any] | None = None) -> Any:
    """The "combined" engine (neural, with Tesseract as a second opinion); raises ModelError."""
    from ml.neural.combined import CombinedEngine

    return CombinedEngine(config)


#: Strict factories: a missing or corrupt model raises :class:`ModelError`.
FACTORIES: dict[str, Callable[[Mapping[str, Any] | None], Any]] = {
    "neural": neural_factory,
    "combined": combined_factory,
}


def engine_or_fallback(name: str, config: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
    """Build engine ``name``; if its model is missing or corrupt, the classical engine instead.

    Returns ``(engine, warning)``: the warning is None when ``name`` was built,
    else a one-line message for the status bar / CLI. The fallback engine also
    carries the message as ``engine.fallback_warning``.
    """
    try:
        return FACTORIES[name](config), None
    except ModelError as e:
        from ml.classical import ClassicalEngine

        msg = f"{name} engine unavailable ({e}); pre-fill falls back to the classical engine"
        log.warning(msg)
        eng = ClassicalEngine(None)
        eng.fallback_warning = msg  # type: ignore[attr-defined]
        return eng, msg


def _registered(name: str) -> Callable[[Mapping[str, Any] | None], Any]:
    def factory(config: Mapping[str, Any] | None = None) -> Any:
        return engine_or_fallback(name, config)[0]

    factory.__name__ = f"{name}_or_classical"
    return factory


#: What ``ml.engines.ENGINES`` registers: a broken model warns and gives the
#: classical engine, so pre-fill goes on (its predictions say "classical").
NEURAL_ENGINES: dict[str, Callable[[Mapping[str, Any] | None], Any]] = {n: _registered(n) for n in FACTORIES}


def runtime_info() -> dict[str, str]:
    """For ``proofdesk info``: the bundled model's status and the provider it would run on."""
    from ml.neural import runtime
    from ml.neural.models import BASE_MODEL, load_spec, model_dir

    info: dict[str, str] = {}
    try:
        specs = [load_spec(model_dir(BASE_MODEL, p)) for p in ("det", "rec-latin")]
        info["neural model"] = ", ".join(s.version for s in specs)
        sess = runtime.create_session(specs[0].path)
        info["neural provider"] = runtime.short_provider(runtime.provider_of(sess))
    except ModelError as e:
        info["neural model"] = f"unavailable ({e})"
    except Exception as e:  # noqa: BLE001 - `info` reports, never fails
        info["neural provider"] = f"unavailable ({e})"
    return info


__all__ = ["FACTORIES", "NEURAL_ENGINES", "ModelError", "engine_or_fallback", "neural_factory", "combined_factory", "runtime_info"]
