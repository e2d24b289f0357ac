"""The Pre-fill menu: run an engine on selected or new pages off the GUI thread.

Each finished page is committed by the worker as it completes and announced with a signal,
so the window redraws that page's regions at once if it is the one on screen.

Pages imported in the app are pre-filled by default (the project setting ``auto_prefill``; unset
means on in the app: a new user imports and sees what the machine read); a new page on screen
says in its empty region list that it is being pre-filled, or how to pre-fill it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox, QProgressDialog
from shiboken6 import isValid

from core.errors import ProofdeskError
from core.prefill_engine import (
    DEFAULT_ENGINE,
    DEFAULT_TESSERACT_LANGUAGES,
    ENGINE_SETTING,
    PREFILL_ENGINES,
    TESSERACT_LANGUAGES,
    prefill_engine,
    set_prefill_engine,
)

from .errors import show_error
from .workers import Worker, start

AUTO_PREFILL = "auto_prefill"
#: Pages imported in the app are pre-filled unless the project turned it off (Pre-fill > Pre-fill
#: imported pages automatically, or the Import dialog's box): a page nobody pre-filled shows nothing.
AUTO_PREFILL_DEFAULT = True
#: What the empty region list of a new page says.
PREFILLING_TEXT = "Pre-filling..."


def auto_prefill(store) -> bool:
    """Whether pages imported in the app are pre-filled (the project's setting, on when unset)."""
    return bool(store.get_setting(AUTO_PREFILL, AUTO_PREFILL_DEFAULT))


def not_prefilled_text(shortcut: str) -> str:
    return (f"Not pre-filled yet: press {shortcut} (Pre-fill > Pre-fill selected pages) to have the machine"
            " read it, or draw the regions yourself (W).")
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


#: The Tesseract languages a project can choose here: what the installed tessdata packages
#: allow (``ml.tess.LANGUAGES``; not imported: ml stays off the window's start).
LANGUAGE_CHOICES = {
    "deu+eng": "German + English (umlauts, ß, accents; the default of the combined engine)",
    "eng": "English only",
    "deu": "German only",
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
        self.running: set[int] | None = None  # the pages the running pre-fill takes (None: every new page)
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
        self.engine_group, self.engine_actions = self._choices(engine_menu, ENGINE_LABELS, self._set_engine)
        # The Tesseract language data the project's engines read with (a project setting).
        self.lang_group, self.lang_actions = self._choices(
            menu.addMenu("Tesseract &languages"), LANGUAGE_CHOICES, self._set_languages)
        # Plug-in engines join the menu the first time it opens: loading them imports their code
        # (and ml.engines' OpenCV), which the window's start need not wait for.
        self.engine_menu = engine_menu
        self.plugins_listed = False
        engine_menu.aboutToShow.connect(self.list_plugins)
        window.workspace.pageOpened.connect(self.update_empty_text)
        self.sync_with_project()

    def _choices(self, menu, labels: dict[str, str], choose) -> tuple[QActionGroup, dict[str, QAction]]:
        """One checkable action per ``labels`` entry in ``menu``, one checked at a time; choosing
        one calls ``choose(key)``."""
        group, actions = QActionGroup(self), {}
        for key, label in labels.items():
            action = QAction(label, self.window)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, key=key: choose(key))
            group.addAction(action)
            menu.addAction(action)
            actions[key] = action
        return group, actions

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
        self.auto_action.setChecked(auto_prefill(self.window.project.store))
        self.auto_action.blockSignals(False)
        store = self.window.project.store
        name = store.get_setting(ENGINE_SETTING, DEFAULT_ENGINE)
        name = name if isinstance(name, str) else DEFAULT_ENGINE
        if name not in ENGINE_LABELS and not self.plugins_listed:
            self.list_plugins()  # the project pre-fills with a plug-in: show it checked
        if name not in self.engine_actions:  # a plug-in not installed here: what pre-fill will run
            name = prefill_engine(store)
        self.engine_actions.get(name, self.engine_actions[DEFAULT_ENGINE]).setChecked(True)
        langs = store.get_setting(TESSERACT_LANGUAGES) or DEFAULT_TESSERACT_LANGUAGES
        for key, action in self.lang_actions.items():
            action.setChecked(key == langs)

    def _set_languages(self, langs: str) -> None:
        self.window.project.store.set_setting(TESSERACT_LANGUAGES, langs)
        self.window.statusBar().showMessage(
            f"Tesseract reads with: {LANGUAGE_CHOICES[langs]} (pages pre-filled from now on)", 5000)

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

    def after_import(self, summary) -> Worker | None:
        """Called when an import finished: pre-fill its new pages (pages that came with labels or a
        prediction have their regions) unless the project turned it off."""
        store = self.window.project.store
        self.sync_with_project()  # the Import dialog may have changed the setting
        if not summary.document_ids or not auto_prefill(store):
            return None
        docs = set(summary.document_ids)
        ids = [p.id for p in store.pages("new") if p.document_id in docs]
        return self.prefill(ids) if ids else None

    def empty_text(self, page_id: int | None) -> str:
        """What the empty region list of page ``page_id`` says: being pre-filled, or how to pre-fill
        it when it is new; nothing for other pages (a page read with no text, one people cleared)."""
        if page_id is None or self.window.project is None:
            return ""
        page = self.window.project.store.get_page(page_id)
        if page is None or page.status.value != "new":
            return ""
        if self.worker is not None and (self.running is None or page_id in self.running):
            return PREFILLING_TEXT
        shortcut = self.selected_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        return not_prefilled_text(shortcut or "Ctrl+Shift+P")

    def update_empty_text(self, *_) -> None:
        """Tell the region list of the page on screen what to say while it has no region."""
        try:
            text = self.empty_text(self.window.current_page_id())
        except ProofdeskError:
            text = ""  # a team server not answering now: the banner says so
        self.window.workspace.list.set_empty_text(text)

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
        self.running = None if page_ids is None else set(page_ids)
        dialog = QProgressDialog("Pre-filling...", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Pre-fill")
        dialog.setMinimumDuration(300)
        dialog.setWindowModality(Qt.WindowModality.NonModal)  # the finished pages can be opened meanwhile
        # Nor does it take the keyboard: a person typing into a region keeps typing there.
        dialog.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        dialog.canceled.connect(worker.cancel.set)

        def alive() -> bool:
            # A window closed (or a test's window deleted) while its pre-fill ran: the worker's last
            # signals still come, and must not touch widgets that are gone.
            return isValid(self.window) and isValid(dialog)

        def on_progress(done, total, note):
            if not alive():
                return
            dialog.setMaximum(max(total, 1))
            dialog.setValue(done)
            dialog.setLabelText(f"Pre-filling {note} ({done}/{total})" if note else "Starting the OCR workers...")

        def on_finished(summary):
            if not alive():
                return
            self.window.reload_pages()
            self.window.statusBar().showMessage("; ".join(summary.lines()[:2]), 10000)
            if summary.failures:
                box = QMessageBox(QMessageBox.Icon.Warning, "Pre-fill finished with problems",
                                  "\n".join(summary.lines()[:40]), QMessageBox.StandardButton.Ok, self.window)
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.open()
            self.finished.emit(summary)

        def on_done():
            if not alive():
                return
            dialog.reset()
            self.worker = None
            self.running = set()
            self.update_empty_text()

        signals.page_done.connect(self.window.on_page_changed_elsewhere)
        worker.signals.progress.connect(on_progress)
        worker.signals.finished.connect(on_finished)
        worker.signals.failed.connect(
            lambda msg, tb: show_error(self.window, "Pre-fill failed", msg, tb) if alive() else None)
        worker.signals.done.connect(on_done)
        self.worker = worker
        start(worker, keep=self.window.workers)  # a closing window cancels it
        self.update_empty_text()
        return worker
