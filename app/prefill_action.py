"""The Pre-fill menu: run an engine on selected or new pages off the GUI thread.

Each finished page is committed by the worker as it completes and announced with a signal,
so the window redraws that page's regions at once if it is the one on screen.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from core.prefill_engine import DEFAULT_ENGINE, prefill_engine, set_prefill_engine

from .errors import show_error
from .workers import Worker, start

AUTO_PREFILL = "auto_prefill"
ENGINE_LABELS = {
    "combined": "&Combined: neural model, Tesseract's second opinion (best)",
    "neural": "&Neural model only",
    "classical": "C&lassical: OpenCV + Tesseract (fastest)",
}


class PageSignals(QObject):
    page_done = Signal(int)


class PrefillController(QObject):
    """Owns the menu actions and the running pre-fill of one main window."""

    finished = Signal(object)  # PrefillSummary

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.worker: Worker | None = None
        menu = window.menuBar().addMenu("&Pre-fill")
        self.selected_action = QAction("Pre-fill &selected pages", window)
        self.selected_action.setShortcut("Ctrl+Shift+P")
        self.selected_action.triggered.connect(lambda: self.prefill(window.page_list.selected_page_ids()))
        menu.addAction(self.selected_action)
        self.new_action = QAction("Pre-fill all &new pages", window)
        self.new_action.triggered.connect(lambda: self.prefill(None))
        menu.addAction(self.new_action)
        menu.addSeparator()
        self.auto_action = QAction("Pre-fill imported pages &automatically", window)
        self.auto_action.setCheckable(True)
        self.auto_action.toggled.connect(self._set_auto)
        menu.addAction(self.auto_action)
        # Which engine pre-fill runs (a project setting; the best one unless changed).
        engine_menu = menu.addMenu("&Engine")
        self.engine_group = QActionGroup(self)
        self.engine_actions: dict[str, QAction] = {}
        for name, label in ENGINE_LABELS.items():
            action = QAction(label, window)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, name=name: self._set_engine(name))
            self.engine_group.addAction(action)
            engine_menu.addAction(action)
            self.engine_actions[name] = action
        self.sync_with_project()

    def sync_with_project(self) -> None:
        if self.window.project is None:
            return
        self.auto_action.blockSignals(True)
        self.auto_action.setChecked(bool(self.window.project.store.get_setting(AUTO_PREFILL, False)))
        self.auto_action.blockSignals(False)
        name = prefill_engine(self.window.project.store)
        self.engine_actions.get(name, self.engine_actions[DEFAULT_ENGINE]).setChecked(True)

    def _set_engine(self, name: str) -> None:
        set_prefill_engine(self.window.project.store, name)
        self.window.statusBar().showMessage(f"Pre-fill will use: {ENGINE_LABELS[name]}", 5000)

    def _set_auto(self, on: bool) -> None:
        self.window.project.store.set_setting(AUTO_PREFILL, bool(on))

    def after_import(self, summary) -> None:
        """Called when an import finished: pre-fill its pages when the project asks for it."""
        if not summary.document_ids or not self.window.project.store.get_setting(AUTO_PREFILL, False):
            return
        ids = [p.id for p in self.window.project.store.pages() if p.document_id in set(summary.document_ids)]
        self.prefill(ids)

    def prefill(self, page_ids: list[int] | None, engine: str | None = None) -> Worker | None:
        """Pre-fill these pages (None: every new page) with ``engine``, by default the project's."""
        if self.worker is not None:
            self.window.statusBar().showMessage("A pre-fill is already running", 5000)
            return None
        if page_ids is not None and not page_ids:
            self.window.statusBar().showMessage("Select the pages to pre-fill first", 5000)
            return None
        project = self.window.project
        signals = PageSignals()

        def job(progress, cancel):
            # Imported here, on the worker thread: OpenCV, Tesseract and onnxruntime take a few
            # hundred ms to import, which on the GUI thread would freeze the window.
            from ml.prefill import prefill_project

            return prefill_project(project, page_ids, engine=engine, progress=progress, cancel=cancel,
                                   on_page=signals.page_done.emit)

        worker = Worker(job)
        worker.page_signals = signals  # keep it alive as long as the worker
        dialog = QProgressDialog("Pre-filling...", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Pre-fill")
        dialog.setMinimumDuration(300)
        dialog.setWindowModality(Qt.WindowModality.NonModal)  # the finished pages can be opened meanwhile
        # Nor does it take the keyboard: a person typing into a region keeps typing there.
        dialog.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        dialog.canceled.connect(worker.cancel.set)

        def on_progress(done, total, note):
            dialog.setMaximum(max(total, 1))
            dialog.setValue(done)
            dialog.setLabelText(f"Pre-filling {note} ({done}/{total})" if note else "Starting the OCR workers...")

        def on_finished(summary):
            self.window.reload_pages()
            self.window.statusBar().showMessage("; ".join(summary.lines()[:2]), 10000)
            if summary.failures:
                box = QMessageBox(QMessageBox.Icon.Warning, "Pre-fill finished with problems",
                                  "\n".join(summary.lines()[:40]), QMessageBox.StandardButton.Ok, self.window)
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.open()
            self.finished.emit(summary)

        def on_done():
            dialog.reset()
            self.worker = None

        signals.page_done.connect(self.window.on_page_changed_elsewhere)
        worker.signals.progress.connect(on_progress)
        worker.signals.finished.connect(on_finished)
        worker.signals.failed.connect(lambda msg, tb: show_error(self.window, "Pre-fill failed", msg, tb))
        worker.signals.done.connect(on_done)
        self.worker = worker
        start(worker)
        return worker
