"""Which recogniser a project's pre-fill and evaluation use: its active model version, else the shipped one."""

from __future__ import annotations

from typing import Any

from core import registry


def active_rec_folder(project) -> str | None:
    """Absolute folder of the project's active recognition model, None for the shipped one."""
    version = registry.active(project.store)
    return None if version is None else str(project.root / version.path)


def engine_config(project, engine: str, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``config`` for ``engine`` with the project's active recogniser filled in (neural, combined);
    other engines, or a project with no promoted model, get ``config`` back unchanged."""
    folder = active_rec_folder(project)
    if folder is None or engine not in ("neural", "combined"):
        return config
    config = dict(config or {})
    if engine == "neural":
        config.setdefault("rec", folder)
    else:
        config["neural"] = {**dict(config.get("neural") or {}), "rec": folder}
    return config
