"""The Pre-fill menu: run an engine on selected or new pages off the GUI thread.

Each finished page is committed by the worker as it completes and announced with a signal,
so the window redraws that page's regions at once if it is the one on screen.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from core.prefill_engine import DEFAULT_ENGINE, ENGINE_SETTING, PREFILL_ENGINES, prefill_engine, set_prefill_engine

from .errors import show_error
from .workers import Worker, start

AUTO_PREFILL = "auto_prefill"
ENGINE_LABELS = {
    "combined": "&Combined: neural model, Tesseract's second opinion (best)",
    "neural": "&Neural model only",
    "classical": "C&lassical: OpenCV + Tesseract (fastest)",
}


def plugin_label(name: str) -> str:
    return f"{name} (plug-in)"


def plugin_engine(store) -> str | None:
    """The plug-in engine (``ml.engines``, entry point group ``proofdesk.engines``) the project's
    pre-fill engine setting names, when it is loaded in this process; None otherwise (pre-fill
    then runs the project's built-in engine). Imports ``ml.engines``: not on the GUI thread."""
    name = store.get_setting(ENGINE_SETTING, None)
    if not isinstance(name, str) or name in PREFILL_ENGINES:
        return None
    from ml.engines import ENGINES

    return name if name in ENGINES else None


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
        # Plug-in engines join the menu the first time it opens: loading them imports their code
        # (and ml.engines' OpenCV), which the window's start need not wait for.
        self.engine_menu = engine_menu
        self.plugins_listed = False
        engine_menu.aboutToShow.connect(self.list_plugins)
        self.sync_with_project()

    def list_plugins(self) -> None:
        """Add the installed plug-in engines to Pre-fill > Engine (once); one that failed to load is
        shown disabled, with the reason as its tooltip."""
        if self.plugins_listed:
            return
        self.plugins_listed = True
        from ml import engines

        names, broken = engines.plugin_engines(), dict(engines.PLUGIN_ERRORS)
        if names or broken:
            self.engine_menu.addSeparator()
        for name in names:
            action = QAction(plugin_label(name), self.window)
            action.setCheckable(True)
            action.setToolTip(engines.PLUGINS[name])
            action.triggered.connect(lambda _=False, name=name: self._set_engine(name))
            self.engine_group.addAction(action)
            self.engine_menu.addAction(action)
            self.engine_actions[name] = action
        for name, why in sorted(broken.items()):
            action = QAction(f"{name} (plug-in, failed to load)", self.window)
            action.setEnabled(False)
            action.setToolTip(why)
            self.engine_menu.addAction(action)
        self.engine_menu.setToolTipsVisible(True)

    def sync_with_project(self) -> None:
        if self.window.project is None:
            return
        self.auto_action.blockSignals(True)
        self.auto_action.setChecked(bool(self.window.project.store.get_setting(AUTO_PREFILL, False)))
        self.auto_action.blockSignals(False)
        store = self.window.project.store
        name = store.get_setting(ENGINE_SETTING, DEFAULT_ENGINE)
        name = name if isinstance(name, str) else DEFAULT_ENGINE
        if name not in ENGINE_LABELS and not self.plugins_listed:
            self.list_plugins()  # the project pre-fills with a plug-in: show it checked
        if name not in self.engine_actions:  # a plug-in not installed here: what pre-fill will run
            name = prefill_engine(store)
        self.engine_actions.get(name, self.engine_actions[DEFAULT_ENGINE]).setChecked(True)

    def _set_engine(self, name: str) -> None:
        store = self.window.project.store
        if name in PREFILL_ENGINES:
            set_prefill_engine(store, name)
        else:  # a plug-in: the same setting (core knows only the built-in names; see plugin_engine)
            store.set_setting(ENGINE_SETTING, name)
        label = ENGINE_LABELS.get(name, plugin_label(name)).replace("&", "")
        self.window.statusBar().showMessage(f"Pre-fill will use: {label}", 5000)

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

            chosen = engine or plugin_engine(project.store)
            return prefill_project(project, page_ids, engine=chosen, progress=progress, cancel=cancel,
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
