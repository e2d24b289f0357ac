"""The main window: wires the page list, the workspace and the menus together. Nothing more."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from core import registry
from core.errors import ProofdeskError
from core.model import PageStatus
from core.project import Project

from .errors import show_error
from .page_list import PageList
from .workers import Worker, start
from .workspace import Workspace
from .workspace.workspace import last_page

MAX_RECENT = 8


class MainWindow(QMainWindow):
    def __init__(self, project: Project, user: str, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.user = user
        self.project: Project | None = None
        self.workers: set[Worker] = set()
        self.resize(1400, 900)

        self._shown_once = False
        self.page_list = PageList()
        # Which pages the list shows: all, or those of one status (what File > Export calls "the
        # pages shown in the page list").
        self.page_filter = QComboBox()
        self.page_filter.setToolTip("Show all pages, or the pages of one status")
        self.page_filter.addItem("All pages", None)
        for status in PageStatus:
            self.page_filter.addItem(status.value.replace("_", " ").capitalize(), status.value)
        self.page_filter.currentIndexChanged.connect(lambda _: self._refresh_page_list())
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.page_filter)
        column.addWidget(self.page_list)
        self.workspace = Workspace(self.settings)
        self.page_view = self.workspace.canvas  # the page canvas
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.workspace)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 1140])
        self.setCentralWidget(splitter)
        self.page_label = QLabel()
        self.zoom_label = QLabel()
        self.engine_label = QLabel()
        self.statusBar().addPermanentWidget(self.engine_label)
        self.statusBar().addPermanentWidget(self.page_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self._show_ocr_device()
        ws = self.workspace
        ws.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        ws.summary.connect(self.page_label.setText)
        ws.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        ws.pageOpened.connect(self._select_quietly)
        ws.pageStatusChanged.connect(lambda _: self._refresh_page_list())

        self._build_menus()
        from .prefill_action import PrefillController

        self.prefill = PrefillController(self)
        self._build_help_menu()
        self.page_list.selectionModel().selectionChanged.connect(self._on_selection)
        self.open_project(project)

    # -- menus ---------------------------------------------------------------------------------
    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New project...", self.new_project_dialog, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open project...", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self.import_action = self._action(file_menu, "&Import...", self.import_dialog, "Ctrl+I")
        self._action(file_menu, "Import &folder...", self.import_folder_dialog, "Ctrl+Shift+I")
        self.export_action = self._action(file_menu, "&Export...", self.export_dialog, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions(self.workspace.view_actions())
        self.workspace.populate_menu(self.menuBar().addMenu("&Workspace"))
        from .training.menu import add_training_menu

        add_training_menu(self)
        from .review import install as install_review  # Moderate, Analytics, users: app/review/

        self.review = install_review(self)

    def _build_help_menu(self) -> None:
        """Help comes last on the menu bar (after the menus the controllers add)."""
        help_menu = self.menuBar().addMenu("&Help")
        self.open_log_action = self._action(help_menu, "Open &log folder", self.open_log_folder)
        self._action(help_menu, "&About Proofdesk", self.about)

    def open_log_folder(self) -> None:
        """The folder of the rotating log file (errors with their tracebacks), in the file manager."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from .cli_support import log_dir

        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from core import __version__

        from .cli_support import log_dir

        QMessageBox.about(self, "About Proofdesk",
                          f"Proofdesk {__version__}\nHuman-in-the-loop OCR.\n\nLog files: {log_dir()}")

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_projects():
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self._open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_projects()))

    def recent_projects(self) -> list[str]:
        value = self.settings.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in (value or []) if (Path(p) / "proofdesk.db").exists()]

    def _remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_projects() if p != str(path)]
        self.settings.setValue("recent_projects", recent[:MAX_RECENT])
        self.settings.setValue("last_project", str(path))

    # -- project -------------------------------------------------------------------------------
    def open_project(self, project: Project) -> None:
        if self.project is not None and self.project is not project:
            self.project.close()
        self.project = project
        self.setWindowTitle(f"Proofdesk - {project.name}")
        self._remember(project.root)
        self._refresh_recent_menu()
        if hasattr(self, "prefill"):
            self.prefill.sync_with_project()
        if hasattr(self, "engine_label"):
            self.update_engine_label()  # this project's promoted model, if any
        self.workspace.set_project(project, self.user)
        self.reload_pages()
        # Reopen the page this user was on, else the head of the queue, else the first page.
        from core.queue import next_page

        start = last_page(project, self.user) or next_page(project.store, user=self.user)
        if start is not None:
            self.page_list.select_page(start)
        elif self.page_list.model_.pages:
            self.page_list.selectRow(0)

    def _refresh_page_list(self) -> None:
        selected = self.page_list.selected_page_ids()
        self.page_list.model_.set_pages(self.project.store.pages(self.page_filter.currentData()))
        for page_id in selected[:1]:
            self._select_quietly(page_id)

    def _select_quietly(self, page_id: int) -> None:
        """Follow the workspace (it opened the next page) without opening the page again."""
        model = self.page_list.selectionModel()
        model.blockSignals(True)
        self.page_list.select_page(page_id)
        model.blockSignals(False)
        self.page_list.viewport().update()

    def reload_pages(self) -> None:
        self._refresh_page_list()
        counts = self.project.store.status_counts()
        total = sum(counts.values())
        parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
        self.statusBar().showMessage(f"{total} page(s)" + (f": {parts}" if parts else ""))

    def _on_selection(self, *_):
        ids = self.page_list.selected_page_ids()
        if ids:
            self.show_page(ids[0])

    def show_page(self, page_id: int) -> None:
        self.workspace.open_page(page_id)

    def current_page_id(self) -> int | None:
        return self.workspace.page_id

    def on_page_changed_elsewhere(self, page_id: int) -> None:
        """A worker changed a page (pre-fill finished it): refresh the list, and the view if shown."""
        self.reload_pages()
        if page_id == self.current_page_id():
            self.show_page(page_id)

    def _open_path(self, path: str) -> None:
        try:
            self.open_project(Project.open(path))
        except ProofdeskError as exc:
            show_error(self, "Cannot open project", str(exc))

    def open_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project folder")
        if path:
            self._open_path(path)

    def new_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project")
        if not path:
            return
        try:
            self.open_project(Project.create(path))
        except ProofdeskError as exc:
            show_error(self, "Cannot create project", str(exc))

    # -- import and export ---------------------------------------------------------------------
    def import_dialog(self, paths: list[str] | None = None):
        """File > Import: files or a folder, with annotations or not (app/import_dialog.py)."""
        from .import_dialog import ImportDialog

        dialog = ImportDialog(self.project, self.user, self, paths=paths or [], keep=self.workers)
        dialog.imported.connect(self._after_import)
        dialog.open()  # window-modal, never blocks the event loop
        self.import_window = dialog
        return dialog

    def import_folder_dialog(self) -> None:
        """A shortcut into the Import dialog with a folder already chosen."""
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of documents")
        if folder:
            self.import_dialog([folder])

    def import_files(self, paths: list[str], reference: bool = False) -> Worker:
        """Import ``paths`` at once (images and PDFs; ``reference``: their reference JSON too), in the
        Import dialog, on a worker thread: the window stays responsive."""
        dialog = self.import_dialog(paths)
        dialog.reference.setChecked(reference)
        return dialog.start_import()

    def _after_import(self, summary) -> None:
        self.reload_pages()
        self.prefill.after_import(summary)
        self.statusBar().showMessage("; ".join(summary.lines()[:2]), 10000)

    def export_dialog(self):
        """File > Export: a format, a folder, which pages (app/export_dialog.py)."""
        from .export_dialog import ExportDialog

        shown = [p.id for p in self.page_list.model_.pages]  # what the page list shows now
        dialog = ExportDialog(self.project, self.settings, shown, self.page_list.selected_page_ids(), self,
                              keep=self.workers)
        dialog.exported.connect(lambda result: self.statusBar().showMessage(result.text(), 10000))
        dialog.open()
        self.export_window = dialog
        return dialog

    def _show_ocr_device(self) -> None:
        """Which OCR model runs, and on what (CUDA or CPU): found off the GUI thread (it loads
        onnxruntime and the model), shown in the status bar."""

        def job(progress, cancel):
            from ml.neural import runtime_info

            return runtime_info()

        worker = Worker(job)
        worker.signals.finished.connect(self._on_ocr_info)  # a method: gone with the window
        start(worker, keep=self.workers)

    def _on_ocr_info(self, info: dict) -> None:
        self._ocr_info = info
        self.update_engine_label()

    def update_engine_label(self) -> None:
        """"OCR: neural (the project's promoted model, if any) on CPU|CUDA" in the status bar."""
        info = getattr(self, "_ocr_info", None)
        if info is None:
            return  # the lookup has not answered yet; it calls back when it does
        provider = info.get("neural provider", "")
        if "unavailable" in info.get("neural model", "unavailable") or provider.startswith("unavailable"):
            self.engine_label.setText("OCR: classical (neural model unavailable)")
            self.engine_label.setToolTip(info.get("neural model", "") + "\n" + provider)
            return
        version = registry.active(self.project.store) if self.project is not None else None
        model = f" ({version.name})" if version is not None else ""
        self.engine_label.setText(
            f"OCR: neural{model} on {provider.upper() if provider in ('cpu', 'cuda') else provider}")
        self.engine_label.setToolTip(
            info.get("neural model", "") + (f"\nrecogniser: the project's model {version.name}" if version else ""))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # The keyboard starts in the region list, ready for Tab: not in the page list, which
        # would otherwise take the focus as the first widget of the window.
        if not self._shown_once:
            self._shown_once = True
            self.workspace.list.setFocus()

    def closeEvent(self, event) -> None:
        for worker in list(self.workers):
            worker.cancel.set()
        self.workspace.shutdown()
        super().closeEvent(event)
