"""onnxruntime sessions: CUDA when it really runs, else CPU, and say which one runs.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on a machine
without the CUDA libraries; asking for it there prints onnxruntime's red "Failed to
load library libonnxruntime_providers_cuda.so ... libcublasLt.so.13" and falls back to
the CPU. So the CUDA provider is asked for only where the libraries it needs load
(:func:`cuda_missing`: every library ``libonnxruntime_providers_cuda.so`` names as
needed, from its ELF header, after ``preload_dlls()`` put the pip-installed NVIDIA ones
in place): the CUDA driver (``libcuda.so.1``: no GPU, no driver), the CUDA runtime,
cuBLAS, cuBLASLt, cuRAND. Where one is missing the session is a CPU one, said calmly in
one info line. Where they are all there (a GPU machine) CUDA is asked for, then the CPU,
as before; a failure past that point (no cuDNN for a convolution, a driver too old) is
still onnxruntime's to report, with its logger at FATAL while the session is made.
What actually runs is ``session.get_providers()[0]`` (see :func:`provider_of`).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_preloaded = False
#: The provider the last session created in this process runs on (for `info` and the status bar).
_last_provider: str | None = None
#: What :func:`cuda_missing` found (None: not looked yet); looked once per process.
_cuda_missing: list[str] | None = None
_cuda_lock = threading.Lock()
#: Sessions made at once on two threads (the status bar's lookup, a pre-fill) share onnxruntime's
#: default logger: its severity is lowered and restored by one of them at a time.
_logger_lock = threading.Lock()
#: What the CUDA provider of onnxruntime-gpu 1.2x-1.3x links against, by CUDA major version: used
#: where its library cannot be read (not ELF: Windows) to know what to look for.
_CUDA_LIBS = {12: ["libcublasLt.so.12", "libcublas.so.12", "libcurand.so.10", "libcudart.so.12", "libcuda.so.1"],
              13: ["libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcuda.so.1"]}


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


def needed_libraries(path: str | Path) -> list[str] | None:
    """The shared libraries an ELF file names as needed (``DT_NEEDED``), in order; None when
    ``path`` is not a 64-bit little-endian ELF file that can be read."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    try:
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        segments = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
        dynamic = next(s for s in segments if s[0] == 2)  # PT_DYNAMIC
        loads = [s for s in segments if s[0] == 1]  # PT_LOAD: to turn addresses into file offsets

        def offset(addr: int) -> int:
            seg = next(s for s in loads if s[3] <= addr < s[3] + s[6])
            return addr - seg[3] + seg[2]

        needed, strtab = [], None
        for i in range(dynamic[5] // 16):
            tag, value = struct.unpack_from("<qQ", data, dynamic[2] + 16 * i)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED: an offset into the string table
                needed.append(value)
            elif tag == 5:  # DT_STRTAB
                strtab = offset(value)
        if strtab is None:
            return None
        return [data[strtab + n:data.index(b"\0", strtab + n)].decode() for n in needed]
    except (struct.error, StopIteration, ValueError, UnicodeDecodeError):
        return None


def _cuda_provider_libraries(ort: Any) -> list[str]:
    """The libraries onnxruntime's CUDA provider needs: read from its own file, else the list for
    the CUDA version this onnxruntime was built for."""
    folder = Path(ort.__file__).parent / "capi"
    found = needed_libraries(folder / "libonnxruntime_providers_cuda.so")
    if found:
        return found
    try:
        from onnxruntime.capi import build_and_package_info as build

        major = int(str(getattr(build, "cuda_version", "") or "0").split(".")[0])
    except (ImportError, ValueError):
        major = 0
    return _CUDA_LIBS.get(major, _CUDA_LIBS[13])


def cuda_missing(ort: Any = None) -> list[str]:
    """The libraries onnxruntime's CUDA provider needs that do not load here (empty: all do, so
    CUDA may be asked for). Looked once per process: ``preload_dlls()`` (its prints captured) puts
    the pip-installed NVIDIA libraries in place, then each needed library is loaded by name."""
    global _cuda_missing
    with _cuda_lock:
        if _cuda_missing is not None:
            return list(_cuda_missing)
        if ort is None:
            import onnxruntime as ort
        if sys.platform != "linux":
            _cuda_missing = []  # no ELF to read: asked for as before, onnxruntime falls back quietly
            return []
        _preload_quietly(ort)
        missing = []
        for name in _cuda_provider_libraries(ort):
            try:
                ctypes.CDLL(name)
            except OSError:
                missing.append(name)
        _cuda_missing = missing
        if missing:
            log.info("onnxruntime runs on the CPU: no CUDA here (%s not found)", ", ".join(missing))
        return list(missing)


def wanted_providers(device: str = "auto") -> list:
    """Providers to ask for: ``auto`` = CUDA (when this onnxruntime has it and the libraries it
    needs load: :func:`cuda_missing`) then CPU; ``cpu``; ``cuda``; ``cuda:N`` (GPU N: each process
    of a multi-GPU training run uses its own)."""
    import onnxruntime as ort

    if device == "cpu":
        return [CPU]
    gpu = device.partition(":")[2] if device.startswith("cuda:") else ""
    if device not in ("auto", "cuda") and not gpu.isdigit():
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)")
    if CUDA in ort.get_available_providers() and not cuda_missing(ort):
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

    providers = wanted_providers(device)  # preloads the CUDA libraries where it looks for them
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only for the session's own log
    so.intra_op_num_threads = threads or default_threads()
    so.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: the app shares its cores with the GUI,
    # Tesseract and other pool workers, and spinning threads burn them (sroie pages under a
    # load average of 4.7: 3.5 s/page median without spinning, 5.0 s with).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if len(providers) == 1:
        sess = ort.InferenceSession(str(path), so, providers=providers)
    else:
        # CUDA is asked for because its libraries load; should the provider still fail, it says
        # so through the default logger: FATAL-only while creating, one thread at a time.
        with _logger_lock:
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
