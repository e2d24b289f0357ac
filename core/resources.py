"""Where shipped data lives: ``resources/`` beside the packages, or inside the frozen app."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def sample_receipts() -> list[Path]:
    """The bundled SROIE receipts (CC BY 4.0, see resources/samples/receipts/ATTRIBUTION.md)."""
    return sorted((resources_dir() / "samples" / "receipts").glob("*.jpg"))
