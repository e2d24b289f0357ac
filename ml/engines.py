"""Engine registry: name -> factory(config dict or None) -> Engine.

Worker processes rebuild engines from ``(name, config)``, so engines must be
registered when this module is imported (a later neural engine adds its
entry here and imports its heavy dependencies inside its factory).

**Plug-ins.** Any installed Python package can add an engine through the entry point group
``proofdesk.engines``: each entry point names a factory ``factory(config: Mapping | None) ->
ml.prediction.Engine`` (``name = "package.module:factory"`` in the package's
``[project.entry-points."proofdesk.engines"]``). They are loaded when this module is imported, in
every process that imports it (the pre-fill pool's workers too: they are spawned, and rebuild the
engine by name), and the names join :data:`ENGINES`: ``--engine``, ``eval``, Pre-fill > Engine and
the selftest see them. A plug-in that fails to load (its import raises, its factory is not
callable, its name is taken or not a plain name) is left out with one warning line (stderr and the
log) and its reason in :data:`PLUGIN_ERRORS`; the other engines work as before.
"""

from __future__ import annotations

import json
import logging
import re
import sys
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

# "textlayer": a born-digital PDF page's own text layer (ml/textlayer.py; pre-fill takes it from the
# project). Given a plain image, which has none, it reads with its OCR engine (combined by default).
from ml.textlayer import TextLayerEngine  # noqa: E402

ENGINES["textlayer"] = lambda config=None: TextLayerEngine(config)


log = logging.getLogger(__name__)

#: The entry point group plug-in engines register under.
PLUGIN_GROUP = "proofdesk.engines"
#: A plug-in engine's name: what ``--engine a,b`` and a project setting can hold.
PLUGIN_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
#: The engines this module defines itself (a plug-in cannot replace them).
BUILTIN_ENGINES = tuple(ENGINES)
#: Loaded plug-in engines: name -> the entry point's value (``module:factory``) and its distribution.
PLUGINS: dict[str, str] = {}
#: Plug-ins that failed to load: name -> one line saying why.
PLUGIN_ERRORS: dict[str, str] = {}


def _in_worker() -> bool:
    """In a process the pre-fill pool spawned (its parent has warned about the plug-ins already).
    A spawned worker imports this module while it unpickles its task, before ``parent_process()``
    is set; its process name (``SpawnProcess-N``) is set by then."""
    import multiprocessing

    return multiprocessing.parent_process() is not None or multiprocessing.current_process().name != "MainProcess"


def load_plugins(group: str = PLUGIN_GROUP) -> dict[str, str]:
    """Add the plug-in engines installed now to :data:`ENGINES` (again: one installed since is added,
    one gone is removed). Returns :data:`PLUGIN_ERRORS`."""
    import importlib
    from importlib.metadata import entry_points

    importlib.invalidate_caches()  # a package installed (a .dist-info written) since the last look
    for name in list(PLUGINS):
        ENGINES.pop(name, None)
        _forget(name)
    PLUGINS.clear()
    PLUGIN_ERRORS.clear()
    try:
        found = sorted(entry_points(group=group), key=lambda ep: ep.name)
    except Exception as exc:  # noqa: BLE001 - a broken installation's metadata must not stop the app
        _report("*", f"the installed packages' entry points cannot be read ({type(exc).__name__}: {exc})")
        return PLUGIN_ERRORS
    for ep in found:
        where = f"{ep.value}" + (f" of {ep.dist.name}" if getattr(ep, "dist", None) is not None else "")
        if not PLUGIN_NAME_RE.fullmatch(ep.name):
            _report(ep.name, f"{where}: the name is not 1 to 40 lower-case letters, digits, '.', '_' or '-'")
            continue
        if ep.name in BUILTIN_ENGINES or ep.name in PLUGINS:
            _report(ep.name, f"{where}: an engine of that name is loaded already")
            continue
        try:
            factory = ep.load()
        except BaseException as exc:  # noqa: BLE001 - whatever its import does (SystemExit included)
            if isinstance(exc, KeyboardInterrupt):
                raise
            _report(ep.name, f"{where} failed to load: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if not callable(factory):
            _report(ep.name, f"{where} is not a factory (a callable taking a config)")
            continue
        ENGINES[ep.name] = factory
        PLUGINS[ep.name] = where
    return PLUGIN_ERRORS


def _forget(name: str) -> None:
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def _report(name: str, why: str) -> None:
    PLUGIN_ERRORS[name] = why
    msg = f"plug-in engine {name!r} not loaded: {why}"
    if _in_worker():
        log.debug(msg)
        return
    log.warning(msg)
    if sys.stderr is not None:  # None in a GUI app started without a console
        print(f"proofdesk: warning: {msg}", file=sys.stderr, flush=True)


def plugin_engines() -> list[str]:
    """The plug-in engines loaded in this process, by name."""
    return sorted(PLUGINS)


load_plugins()
