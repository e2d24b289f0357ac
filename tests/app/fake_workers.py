"""A stand-in for the Training screen's worker process: it "runs" for one turn of the event loop,
then :meth:`OneTurnWorker.finish` closes the run the way the subclass says and ``ended`` is
emitted. Tests read the run's records afterwards; nothing waits on a clock."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal


class OneTurnWorker(QObject):
    message = Signal(dict)
    ended = Signal(int, str)

    def __init__(self, project, run_id: int, parent=None):
        super().__init__(parent)
        self.project, self.run_id = project, run_id
        self.running = False

    def start(self) -> None:
        self.running = True
        QTimer.singleShot(0, self._end)

    def cancel(self) -> None:
        pass

    def _end(self) -> None:
        status = self.finish()
        self.running = False
        self.ended.emit(self.run_id, status)

    def finish(self) -> str:
        """Close the run in the project's records; return its status."""
        raise NotImplementedError
