"""A team project's connection to its server, as the window shows it: live changes, loss, edits kept.

- :class:`LiveBridge` hands what :class:`core.live.Listener` reports on its own thread to the GUI
  thread (queued Qt signals).
- :class:`Connection` knows whether the server is reachable and holds the edits that could not be
  saved while it was not (:class:`PendingEdit`, in memory, in the order they were made). While it
  is lost, a timer retries every :data:`RETRY_MS` on a worker thread: it first checks the server
  answers (a store call after a lost connection reconnects by itself), then saves the pending
  edits in order. An edit the store refuses (someone else changed the region since: ConflictError)
  is dropped and reported, with the later pending edits that built on the same regions. When
  everything is saved the connection is back (``back``): the window reloads what it shows.
- :class:`ConnectionBanner` is the strip across the top of the window that says so.

Nothing here touches the server on the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel

from core.errors import ProjectError, ProofdeskError, ServerUnavailable

from .workers import Worker, start

log = logging.getLogger(__name__)

#: How often the edits kept while the server was lost are tried again.
RETRY_MS = 2000
_ids = itertools.count(1)


def is_connection_error(exc: BaseException) -> bool:
    """The server could not be reached: the connection was lost (ServerUnavailable), or making a
    new one failed ("cannot reach ..."), as opposed to a refusal of the change itself."""
    return isinstance(exc, ServerUnavailable) or (
        isinstance(exc, ProjectError) and str(exc).startswith("cannot reach"))


@dataclass
class PendingEdit:
    """One change not saved yet: ``run(store)`` makes it (one store action) on any thread."""

    label: str
    page_id: int | None
    run: Callable[[Any], Any]
    regions: frozenset[int] = frozenset()
    id: int = field(default_factory=lambda: next(_ids))


class LiveBridge(QObject):
    """Signals a Listener's thread may emit; connected queued, they arrive on the GUI thread."""

    change = Signal(dict)
    state = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.closed = False

    def on_change(self, change: dict) -> None:  # on the listener's thread
        if not self.closed:
            try:
                self.change.emit(change)
            except RuntimeError:  # the window is gone
                pass

    def on_state(self, up: bool) -> None:  # on the listener's thread
        if not self.closed:
            try:
                self.state.emit(up)
            except RuntimeError:
                pass


class Connection(QObject):
    """Whether the team server is reachable, and the edits kept until it is again."""

    lostChanged = Signal(bool)       # True: lost; False: back (pending edits saved)
    pendingChanged = Signal(int)     # how many edits are not saved yet
    saved = Signal(object, object)   # PendingEdit, what its store call returned
    refused = Signal(object, str)    # PendingEdit, why (a conflict: someone else's change won)
    back = Signal(int)               # the connection is back; how many kept edits were saved

    def __init__(self, store, server: str, parent=None, retry_ms: int = RETRY_MS):
        super().__init__(parent)
        self.store = store
        self.server = server
        self.lost = False
        self.reason = ""
        self.pending: list[PendingEdit] = []
        self.workers: set[Worker] = set()
        self._busy = False
        self._saved_since_lost = 0
        self.timer = QTimer(self)
        self.timer.setInterval(retry_ms)
        self.timer.timeout.connect(self.retry)
        self.closed = False

    # -- state -------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.pending)

    def unsaved_regions(self, page_id: int | None = None) -> set[int]:
        return {r for e in self.pending if page_id is None or e.page_id == page_id for r in e.regions}

    def mark_lost(self, reason: str = "") -> None:
        """The server did not answer (a store call, the listener): say so, retry until it does."""
        if self.closed:
            return
        self.reason = reason or self.reason
        if not self.timer.isActive():
            self.timer.start()
        if not self.lost:
            self.lost = True
            self._saved_since_lost = 0
            log.warning("lost the connection to %s: %s", self.server, reason)
            self.lostChanged.emit(True)

    def keep(self, edit: PendingEdit, reason: str = "") -> None:
        """An edit that could not be saved: kept, and saved when the server answers again."""
        self.pending.append(edit)
        self.mark_lost(reason)
        self.pendingChanged.emit(len(self.pending))

    def server_back(self) -> None:
        """The listener reached the server again: try at once rather than at the next tick."""
        if self.lost:
            self.retry()

    # -- retrying ----------------------------------------------------------------------------
    def retry(self) -> Worker | None:
        """Check the server answers and save the kept edits in order, on a worker thread."""
        if self.closed or self._busy or not self.lost:
            return None
        self._busy = True
        edits = list(self.pending)
        store = self.store
        worker = Worker(_save_in_order, store, edits)
        worker.signals.finished.connect(self._on_retried)
        worker.signals.failed.connect(self._on_retry_failed)
        return start(worker, keep=self.workers)

    def _on_retry_failed(self, message: str, _tb: str) -> None:
        self._busy = False
        log.warning("retrying the kept edits failed: %s", message)

    def _on_retried(self, outcome) -> None:
        self._busy = False
        if self.closed:
            return
        results, still_lost = outcome
        done = {e.id for e, _, _ in results}
        self.pending = [e for e in self.pending if e.id not in done]
        if results:
            self.pendingChanged.emit(len(self.pending))
        for edit, ok, value in results:
            if ok:
                self._saved_since_lost += 1
                self.saved.emit(edit, value)
            else:
                self.refused.emit(edit, value)
        if still_lost is not None:
            self.reason = still_lost
            return
        if self.pending:  # made while this retry ran: save them now
            QTimer.singleShot(0, self.retry)
            return
        self.timer.stop()
        self.lost = False
        self.reason = ""
        log.info("the connection to %s is back (%d kept edit(s) saved)", self.server, self._saved_since_lost)
        self.lostChanged.emit(False)
        self.back.emit(self._saved_since_lost)

    def close(self) -> None:
        """The window leaves this project: stop retrying (what is still pending is lost with it)."""
        self.closed = True
        self.timer.stop()
        for w in list(self.workers):
            w.cancel.set()

    def text(self) -> str:
        n = len(self.pending)
        return (f"Connection to {self.server} lost; reconnecting... {n} change(s) not saved yet" if n
                else f"Connection to {self.server} lost; reconnecting...")


def _answers(store) -> str | None:
    """None when the server answers this thread's connection (made again when it was lost),
    else why not."""
    for attempt in (1, 2):
        try:
            store.get_setting("created_at")  # the cheapest read the store has
            return None
        except ProofdeskError as exc:
            if not is_connection_error(exc):
                raise
            if attempt == 2 or not isinstance(exc, ServerUnavailable):
                return str(exc)
    return "no answer"


def _save_in_order(progress, cancel, store, edits: list[PendingEdit]):
    """Worker job: ``([(edit, saved?, value or why), ...], None or why the server is still lost)``."""
    results: list[tuple[PendingEdit, bool, Any]] = []
    why = _answers(store)
    if why is not None:
        return results, why
    spoiled: set[int] = set()  # regions of a refused edit: the kept edits after it built on it
    for edit in edits:
        if cancel.is_set():
            return results, "cancelled"
        if edit.regions & spoiled:
            results.append((edit, False, f"{edit.label}: it followed a change that was refused"))
            continue
        try:
            value = edit.run(store)
        except ProofdeskError as exc:
            if is_connection_error(exc):
                return results, str(exc)
            spoiled |= edit.regions
            results.append((edit, False, str(exc)))
            continue
        results.append((edit, True, value))
    return results, None


class ConnectionBanner(QFrame):
    """The strip across the top of the window while the server is lost."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("connectionBanner")
        self.setStyleSheet("#connectionBanner { background: #b3261e; }"
                           " #connectionBanner QLabel { color: white; font-weight: bold; padding: 6px; }")
        self.label = QLabel()
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(self.label, 1)
        self.hide()

    def show_text(self, text: str, tooltip: str = "") -> None:
        self.label.setText(text)
        self.label.setToolTip(tooltip)
        self.show()

    def text(self) -> str:
        return self.label.text()
