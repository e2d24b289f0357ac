"""Long in-process work on the Qt thread pool, with progress, cancel and result signals.

A job is a plain function ``fn(progress, cancel, *args)`` from core/ or ml/: it reports
``progress(done, total, note)``, checks ``cancel.is_set()``, and returns its result. The
worker turns those into signals that arrive on the GUI thread; it never touches widgets.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class WorkerSignals(QObject):
    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str, str)  # message, traceback
    done = Signal()  # after finished or failed


class Worker(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.cancel = threading.Event()
        self.signals = WorkerSignals()
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.fn(self._progress, self.cancel, *self.args, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never lost
            self.signals.failed.emit(str(exc) or type(exc).__name__, traceback.format_exc())
        else:
            self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()

    def _progress(self, done: int, total: int, note: str = "") -> None:
        self.signals.progress.emit(done, total, note)


def start(worker: Worker, pool: QThreadPool | None = None, keep: set | None = None) -> Worker:
    """Run ``worker`` on ``pool`` (the global one by default). ``keep``: the owner's set of
    running workers; the worker stays in it until done (a Worker is not auto-deleted: something
    must hold it while it runs, and a closing window can tell what is still running)."""
    if keep is not None:
        keep.add(worker)
        worker.signals.done.connect(lambda: keep.discard(worker))
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
