"""Which model a project's pre-fill and evaluation use: its active model version, else the shipped one.

A model version is a recogniser folder; a run that also fine-tuned the detector leaves it in the
version's ``det/`` sub-folder, with the box-extraction thresholds it chose in its ``model.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core import registry
from core.prefill_engine import TESSERACT_LANGUAGES
from ml.neural.detector import postprocess


def active_rec_folder(project) -> str | None:
    """Absolute folder of the project's active recognition model, None for the shipped one."""
    version = registry.active(project.store)
    return None if version is None else str(project.local(version.path))


def detector_of(rec_folder: str | Path) -> tuple[str, dict] | None:
    """``(det folder, {thresh, box_thresh})`` of a model version that has its own detector, else None.
    (The weights are checked against their sha256 when the engine loads them.)"""
    det = Path(rec_folder) / "det"
    try:
        meta = json.loads((det / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(det), postprocess(meta)


def model_config(folder: str | Path) -> dict[str, Any]:
    """The neural engine's config keys for the model version in ``folder``: its recogniser, and its
    detector with its thresholds when it has one."""
    out: dict[str, Any] = {"rec": str(folder)}
    try:
        meta = json.loads((Path(folder) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if meta.get("decode_charset") == "all":  # a model of another alphabet (models import-paddle)
        out["recognize"] = {"charset": "all"}
    det = detector_of(folder)
    if det is not None:
        out["det"] = det[0]
        if det[1]:
            out["detect"] = det[1]
    return out




def tesseract_languages(project) -> str | None:
    """The project's chosen Tesseract languages, None when it chose none."""
    value = project.store.get_setting(TESSERACT_LANGUAGES)
    return str(value) if value else None


def with_languages(engine: str, config: dict[str, Any] | None, langs: str | None) -> dict[str, Any] | None:
    """``config`` with the Tesseract languages ``langs`` filled in where ``engine`` reads with
    Tesseract (classical: ``recognize.lang``; combined: ``tesseract.lang``); keys given win."""
    key = {"classical": "recognize", "combined": "tesseract"}.get(engine)
    if not langs or key is None:
        return config
    config = dict(config or {})
    config[key] = {"lang": langs, **dict(config.get(key) or {})}
    return config


def engine_config(project, engine: str, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``config`` for ``engine`` with the project's Tesseract languages and its active model filled
    in (neural, combined); other engines, or a project with no promoted model and no language
    setting, get ``config`` back unchanged. Keys the caller gave win."""
    config = with_languages(engine, config, tesseract_languages(project))
    folder = active_rec_folder(project)
    if folder is None or engine not in ("neural", "combined"):
        return config
    config = dict(config or {})
    neural = model_config(folder)
    if engine == "neural":
        mine = config
    else:
        mine = dict(config.get("neural") or {})
    for key, value in neural.items():
        if key in ("detect", "recognize"):
            mine[key] = {**value, **dict(mine.get(key) or {})}
        else:
            mine.setdefault(key, value)
    if engine == "combined":
        config["neural"] = mine
    return config
