"""onnxruntime sessions: CUDA when it really runs, else CPU, and say which one runs.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on a machine
without the CUDA libraries; asking for it there logs an error about
``libcublasLt`` and falls back to the CPU. That is harmless, so the noise is
kept out of the user's terminal: ``preload_dlls()`` runs with its prints
captured and the session is created with onnxruntime's logger at FATAL only.
What actually runs is ``session.get_providers()[0]`` (see :func:`provider_of`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_preloaded = False
#: The provider the last session created in this process runs on (for `info` and the status bar).
_last_provider: str | None = None


def _preload_quietly(ort: Any) -> None:
    """``onnxruntime.preload_dlls()`` once, where it exists, without its prints."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    if not hasattr(ort, "preload_dlls"):
        return
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            ort.preload_dlls()
    except Exception as exc:  # noqa: BLE001 - a failed preload only means "no CUDA"
        log.debug("onnxruntime.preload_dlls failed: %s", exc)
    if buf.getvalue().strip():
        log.debug("onnxruntime.preload_dlls: %s", buf.getvalue().strip())


def wanted_providers(device: str = "auto") -> list:
    """Providers to ask for: ``auto`` = CUDA (when this onnxruntime has it) then CPU; ``cpu``;
    ``cuda``; ``cuda:N`` (GPU N: each process of a multi-GPU training run uses its own)."""
    import onnxruntime as ort

    if device == "cpu":
        return [CPU]
    gpu = device.partition(":")[2] if device.startswith("cuda:") else ""
    if device not in ("auto", "cuda") and not gpu.isdigit():
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)")
    if CUDA in ort.get_available_providers():
        return [(CUDA, {"device_id": int(gpu)}) if gpu else CUDA, CPU]
    return [CPU]


def default_threads() -> int:
    """Intra-op threads: the cores this process may use, or ``$OMP_THREAD_LIMIT``.

    The pre-fill pool runs one worker per core and sets ``OMP_THREAD_LIMIT=1``
    in each (``ml.pool``): onnxruntime then keeps to one thread per worker
    too, instead of every worker starting one per core.
    """
    limit = os.environ.get("OMP_THREAD_LIMIT", "")
    if limit.isdigit() and int(limit) > 0:
        return int(limit)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def create_session(path: str | Path, device: str = "auto", threads: int = 0) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``: CUDA if it works here, else CPU.

    ``threads`` = intra-op threads (0 = one per available core). The CUDA
    fallback's error log is silenced; :func:`provider_of` tells what runs.
    """
    global _last_provider
    import onnxruntime as ort

    providers = wanted_providers(device)
    if len(providers) > 1:  # CUDA first
        _preload_quietly(ort)
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only for the session's own log
    so.intra_op_num_threads = threads or default_threads()
    so.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: the app shares its cores with the GUI,
    # Tesseract and other pool workers, and spinning threads burn them (sroie pages under a
    # load average of 4.7: 3.5 s/page median without spinning, 5.0 s with).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # A provider that fails to load is reported through the default logger
    # (an ERROR line about libcublasLt); FATAL-only while creating hides it.
    ort.set_default_logger_severity(4)
    try:
        sess = ort.InferenceSession(str(path), so, providers=providers)
    finally:
        ort.set_default_logger_severity(3)
    _last_provider = provider_of(sess)
    if device.startswith("cuda") and _last_provider != CUDA:
        log.warning("CUDA was asked for but onnxruntime runs %s on %s", Path(path).name, _last_provider)
    return sess


def provider_of(session: Any) -> str:
    """The execution provider that runs ``session`` (the first one it kept)."""
    return session.get_providers()[0]


def short_provider(provider: str | None) -> str:
    """``CUDAExecutionProvider`` -> ``cuda`` (for the status bar and reports)."""
    if not provider:
        return "none"
    return provider.removesuffix("ExecutionProvider").lower()


def last_provider() -> str | None:
    """The provider of the last session this process created (None before any)."""
    return _last_provider


def describe(sessions: Sequence[Any]) -> str:
    """e.g. ``"cpu"`` or ``"cuda"``; ``"cuda+cpu"`` when sessions differ."""
    names = []
    for s in sessions:
        n = short_provider(provider_of(s))
        if n not in names:
            names.append(n)
    return "+".join(names) or "none"
