"""Which model a project's pre-fill, evaluation and training read: its active model version, else the shipped one.

:func:`active_model` is the one place that answers it, per registry task: ``recognition`` (the
recogniser folder, with its detector in ``det/`` when the version has one; else the shipped
PP-OCRv5 Latin recogniser) and ``fields`` (the field model folder; else no folder: the
zero-shot rules). Pre-fill, re-reading a box, evaluation, a run's comparison, the BYO import,
the CLI and the app ask it; nothing else falls back to the shipped model on its own.

A model version is a recogniser folder; a run that also fine-tuned the detector leaves it in the
version's ``det/`` sub-folder, with the box-extraction thresholds it chose in its ``model.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import registry
from core.prefill_engine import TESSERACT_LANGUAGES
from ml.neural import casing

#: What a task reads when nothing of it is promoted.
ZERO_SHOT = "zero-shot rules"


@dataclass(frozen=True)
class ActiveModel:
    """The model a task reads now: ``version`` (None: the shipped one), ``folder`` (the absolute
    folder to load; None for the fields task without a version: the zero-shot rules need none)
    and ``name`` (the version's name, else the shipped model's)."""

    task: str
    version: registry.ModelVersion | None
    folder: Path | None
    name: str

    @property
    def shipped(self) -> bool:
        return self.version is None


def shipped_model(task: str = registry.RECOGNITION) -> tuple[Path | None, str]:
    """(folder, name) of what ``task`` reads without a model version."""
    if task == registry.FIELDS:
        return None, ZERO_SHOT
    if task != registry.RECOGNITION:
        raise ValueError(f"unknown model task {task!r} (known: {', '.join(registry.TASKS)})")
    from ml.neural.models import BASE_MODEL, model_dir

    return model_dir(BASE_MODEL, "rec-latin"), f"{BASE_MODEL}/rec-latin"


def model_of(project, version: registry.ModelVersion | None, task: str = registry.RECOGNITION) -> ActiveModel:
    """``version`` (of ``task``) as an :class:`ActiveModel`; None: the shipped one."""
    if version is None:
        folder, name = shipped_model(task)
        return ActiveModel(task, None, folder, name)
    return ActiveModel(task, version, Path(project.local(version.path)), version.name)


def active_model(project, task: str = registry.RECOGNITION) -> ActiveModel:
    """The model ``task`` reads now in ``project``: its active (promoted) version, else the shipped one."""
    return model_of(project, registry.active(project.store, task), task)


def active_rec_folder(project) -> str | None:
    """Absolute folder of the project's active recognition model, None for the shipped one."""
    got = active_model(project)
    return None if got.shipped else str(got.folder)


def detector_of(rec_folder: str | Path) -> tuple[str, dict] | None:
    """``(det folder, {thresh, box_thresh})`` of a model version that has its own detector, else None.
    (The weights are checked against their sha256 when the engine loads them.)"""
    from ml.neural.detector import postprocess

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
    if meta.get(casing.KEY) in casing.CONVENTIONS[1:]:  # its project's case convention (ml.neural.casing)
        out.setdefault("recognize", {})["case"] = meta[casing.KEY]
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
