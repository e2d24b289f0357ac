"""Model folders: ``model.onnx`` + ``model.json`` (+ a charset file), checked before use.

A model folder (shipped under ``resources/models/<id>/{det,rec}`` or written by
training into a project's ``models/<id>/``) holds::

    model.onnx    the network
    model.json    architecture, input size, normalisation, charset, sha256 of model.onnx,
                  source and licence
    charset.txt   (recognisers) one character per line; classes = blank + lines + space

Loading checks the sha256 of ``model.onnx`` against ``model.json`` before any
byte reaches onnxruntime; a missing, truncated or altered file raises
:class:`ModelError`, which the engine factories turn into a warning and a
fallback to the classical engine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import ProofdeskError
from core.resources import resources_dir

#: The bundled base model (PP-OCRv5 mobile det + rec, Apache-2.0; see its NOTICE).
BASE_MODEL = "ppocrv5-base"


class ModelError(ProofdeskError):
    """A neural model is missing, corrupt (sha256 mismatch) or its model.json is unusable."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """What ``model.json`` says about one network (detector or recogniser)."""

    folder: Path
    task: str  # "detection" or "recognition"
    architecture: str
    sha256: str
    file: str = "model.onnx"
    #: Per-channel mean/std on pixel/255, in the channel order the model takes.
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    channels: int = 3
    #: Recognisers: input height; detectors: side multiple.
    input_height: int = 0
    size_multiple: int = 32
    #: Recognisers: the class list, index 0 = CTC blank.
    charset: tuple[str, ...] = ()
    #: "probabilities" (softmax inside the graph) or "logits".
    output: str = "probabilities"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def path(self) -> Path:
        return self.folder / self.file

    @property
    def version(self) -> str:
        """Short id for engine versions: ``<architecture> <sha256[:12]>``."""
        return f"{self.raw.get('id', self.folder.name)}@{self.sha256[:12]}"


def models_root() -> Path:
    """``resources/models`` (inside the frozen app too)."""
    return resources_dir() / "models"


def model_dir(name_or_path: str | Path, part: str) -> Path:
    """Folder of ``part`` ("det" or "rec") of a model given by bundled id or path."""
    p = Path(name_or_path)
    if not p.is_absolute() and not p.exists():
        p = models_root() / str(name_or_path)
    return p / part


def _read_charset(folder: Path, meta: dict[str, Any]) -> tuple[str, ...]:
    cs = meta.get("charset")
    if isinstance(cs, dict):  # {"file": "charset.txt", "blank_first": true, "space_last": true}
        fp = folder / cs["file"]
        if not fp.is_file():
            raise ModelError(f"charset file missing: {fp}")
        # Lines are characters; strip only the line break (some are spaces).
        chars = [ln.rstrip("\r\n") for ln in fp.read_text(encoding="utf-8").splitlines()]
        out = (["<blank>"] if cs.get("blank_first", True) else []) + chars
        if cs.get("space_last", False):
            out.append(" ")
        return tuple(out)
    if isinstance(cs, list):
        return tuple(cs)
    return ()


def load_spec(folder: str | Path, verify: bool = True) -> ModelSpec:
    """Read and check ``folder/model.json``; with ``verify`` also the sha256 of the weights.

    Raises :class:`ModelError` with a message meant for the user.
    """
    folder = Path(folder)
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise ModelError(f"model.json missing in {folder}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"unreadable model.json in {folder}: {e}") from e
    try:
        norm = meta.get("normalization", {})
        spec = ModelSpec(
            folder=folder,
            task=meta["task"],
            architecture=meta["architecture"],
            sha256=meta["sha256"].lower(),
            file=meta.get("file", "model.onnx"),
            mean=tuple(norm.get("mean", (0.5, 0.5, 0.5))),
            std=tuple(norm.get("std", (0.5, 0.5, 0.5))),
            channels=int(meta.get("input", {}).get("channels", 3)),
            input_height=int(meta.get("input", {}).get("height", 0) or 0),
            size_multiple=int(meta.get("input", {}).get("size_multiple", 32) or 32),
            charset=_read_charset(folder, meta),
            output=meta.get("output", {}).get("kind", "probabilities"),
            raw=meta,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"model.json in {folder} lacks or mangles {e}") from e
    if not spec.path.is_file():
        raise ModelError(f"model file missing: {spec.path}")
    if verify:
        check_sha256(spec)
    return spec


def check_sha256(spec: ModelSpec) -> None:
    """Raise :class:`ModelError` unless ``model.onnx`` hashes to what ``model.json`` says."""
    got = _cached_sha256(str(spec.path), spec.path.stat().st_size, spec.path.stat().st_mtime_ns)
    if got != spec.sha256:
        raise ModelError(
            f"{spec.path} is corrupt or was changed: sha256 {got[:16]}... but model.json says {spec.sha256[:16]}..."
        )


@lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime, so a file replaced on disk is hashed again.
    return sha256_file(path)
