"""The best line recogniser available, for reading a few regions at a time.

The workspace re-reads a box a person drew or resized. The neural recogniser reads a line far
better than Tesseract does (see docs/benchmarks.md); when its model is missing or corrupt, the
classical recogniser reads instead, and ``warning`` says why. Loaded once per process (about a
second), on the worker thread that first needs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)
_lock = threading.Lock()
_loaded: dict[str, object] = {}
warning: str | None = None


def _neural(rec: str | None = None):
    """The neural Recognizer (the shipped one, or the model folder ``rec``: a project's promoted
    version), or None when its model cannot be loaded."""
    global warning
    key = f"neural:{rec or ''}"
    with _lock:
        if key not in _loaded:
            try:
                from ml.neural import runtime
                from ml.neural.models import BASE_MODEL, load_spec, model_dir
                from ml.neural.recognizer import Recognizer

                spec = load_spec(model_dir(BASE_MODEL, rec or "rec-latin"))
                _loaded[key] = Recognizer(spec, runtime.create_session(spec.path, "auto", 0))
                warning = None
            except Exception as exc:  # noqa: BLE001 - any failure: fall back, say why
                warning = f"neural recogniser unavailable ({exc}); Tesseract reads instead"
                log.warning(warning)
                _loaded[key] = None
        return _loaded[key]


def read_quads(image: np.ndarray, quads: Sequence[Sequence[Sequence[float]]], engine: str = "best",
               rec: str | None = None) -> list[tuple[str, float]]:
    """``(text, confidence 0..1)`` for each 4-point region of ``image`` (gray or BGR), in order.

    ``engine``: ``"best"`` (neural, else classical), ``"neural"`` or ``"classical"``. ``rec``:
    the recogniser's model folder when it is not the shipped one (the project's active model,
    ``ml.training.active.active_rec_folder``).
    """
    rec = _neural(rec) if engine in ("best", "neural") else None
    if rec is not None:
        return [(d.text, d.confidence) for d in rec.read_regions(image, quads)]
    if engine == "neural":
        raise RuntimeError(warning or "neural recogniser unavailable")
    from ml.classical import recognize_crops
    from ml.neural.recognizer import crop_quad

    out = []
    for q in quads:
        crop = crop_quad(image, q)
        if crop is None or min(crop.shape[:2]) < 2:
            out.append(("", 0.0))
        else:
            out.extend(recognize_crops(crop, [(0, 0, crop.shape[1], crop.shape[0])]))
    return out
