"""What the dialogs that run one background job share (File > Import, File > Export): a progress
bar, a label and a Cancel button shown while the job runs, the worker's signals wired, cancel
between two steps, and closing while it runs (the job is cancelled, the dialog goes once it ended)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from .workers import Worker, start


class JobDialog(QDialog):
    """Subclasses build ``progress``, ``progress_label`` and ``cancel_button`` and define
    ``_on_finished(result)``, ``_on_failed(message, details)``, ``progress_text(done, total, note)``
    and ``cancelling_text``; ``_on_done`` may be extended."""

    cancelling_text = "Cancelling..."
    worker: Worker | None = None

    def progress_text(self, done: int, total: int, note: str) -> str:
        raise NotImplementedError

    def _show_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.progress_label.setVisible(running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)

    def run_job(self, worker: Worker, starting: str, keep: set | None) -> Worker:
        """Wire ``worker``'s signals, show the progress as busy with ``starting``, start it."""
        self.worker = worker
        worker.signals.progress.connect(self._on_progress)
        worker.signals.finished.connect(self._on_finished)
        worker.signals.failed.connect(self._on_failed)
        worker.signals.done.connect(self._on_done)
        self.progress.setRange(0, 0)  # busy until the first step says how many
        self.progress_label.setText(starting)
        self._show_running(True)
        self._update()
        return start(worker, keep=keep)

    def cancel_job(self) -> None:
        if self.worker is not None:
            self.worker.cancel.set()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText(self.cancelling_text)

    def _on_progress(self, done: int, total: int, note: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if not self.worker.cancel.is_set():
            self.progress_label.setText(self.progress_text(done, total, note))

    def _on_done(self) -> None:
        self.worker = None
        self._show_running(False)
        self._update()

    def done(self, result: int) -> None:
        """Closed: deleted once no job runs any more (a running one still reports its end, so
        that the window shows what it kept)."""
        super().done(result)
        if self.worker is None:
            self.deleteLater()
        else:
            self.worker.signals.done.connect(self.deleteLater)

    def reject(self) -> None:
        """Close (Escape): a job still running is cancelled; what it finished is kept."""
        self.cancel_job()
        super().reject()
