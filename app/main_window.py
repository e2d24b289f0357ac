"""The main window: wires the page list, the workspace and the menus together. Nothing more."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from core.db import parse_url
from core.errors import ProofdeskError
from core.model import PageStatus
from core.project import Project

from .connection_banner import Connection, ConnectionBanner, LiveBridge, is_connection_error
from .errors import show_error
from .page_list import PageList
from .workers import Worker, start
from .workspace import Workspace
from .workspace.workspace import last_page

MAX_RECENT = 8
#: Live changes from other people refresh the page list at most this often.
LIST_REFRESH_MS = 300


class MainWindow(QMainWindow):
    def __init__(self, project: Project, user: str, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.user = user
        self.project: Project | None = None
        self.workers: set[Worker] = set()
        # A team project: its listener (core.live), the bridge to this thread, the connection
        # state with the edits kept while the server is lost (app/connection_banner.py).
        self.live = None
        self.live_bridge: LiveBridge | None = None
        self.connection: Connection | None = None
        self.banner = ConnectionBanner()
        self._list_timer = QTimer(self)
        self._list_timer.setSingleShot(True)
        self._list_timer.setInterval(LIST_REFRESH_MS)
        self._list_timer.timeout.connect(self._refresh_after_live_changes)
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
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
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
        ws.pageStatusChanged.connect(lambda _: self._page_status_changed())

        self._build_menus()
        from .prefill_action import PrefillController

        self.prefill = PrefillController(self)
        self._build_help_menu()
        self.page_list.selectionModel().selectionChanged.connect(self._on_selection)
        self.page_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.assign_action = QAction("Assign to...", self.page_list)
        self.assign_action.setToolTip("Give the selected pages to a person: their next page offers them first")
        self.assign_action.triggered.connect(lambda: self.assign_dialog())
        self.page_list.addAction(self.assign_action)
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
        self.open_team_action = self._action(file_menu, "Open &team project...", self.open_team_project_dialog,
                                             "Ctrl+Shift+O")
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
        team = self.recent_team_projects()
        if team and self.recent_projects():
            self.recent_menu.addSeparator()
        for url in team:
            act = self.recent_menu.addAction(parse_url(url).display + " ...")
            act.setToolTip("Sign in to this team project")
            act.triggered.connect(lambda _=False, u=url: self.open_team_project_dialog(u))
        self.recent_menu.setEnabled(bool(self.recent_projects() or team))

    def recent_team_projects(self) -> list[str]:
        """Team projects opened lately (URL with the login name; the password is never stored)."""
        from .team_dialog import recent_team_projects

        return recent_team_projects(self.settings)

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
        if self.project is not project:
            self._stop_live()
        if self.project is not None and self.project is not project:
            self.project.close()
        self.project = project
        if project.server is not None:
            # A team project: its URL without the password; the cache folder is no recent folder.
            self.setWindowTitle(f"Proofdesk - {project.where}")
            from .team_dialog import remember_team_project

            remember_team_project(self.settings, project.server.url, self.user)
        else:
            self.setWindowTitle(f"Proofdesk - {project.name}")
            self._remember(project.root)
        self._refresh_recent_menu()
        if project.server is not None and self.live is None:
            self._start_live(project)
        if hasattr(self, "prefill"):
            self.prefill.sync_with_project()
        if hasattr(self, "engine_label"):
            self.update_engine_label()  # this project's promoted model, if any
        self.workspace.set_project(project, self.user)
        if getattr(self, "review", None) is not None:
            self.review.update_for_user()  # what this user's role may do here: the rest disabled
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
        self._counts_message = self._page_counts()
        self.statusBar().showMessage(self._counts_message)

    def _page_counts(self) -> str:
        counts = self.project.store.status_counts()
        total = sum(counts.values())
        parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
        return f"{total} page(s)" + (f": {parts}" if parts else "")

    def _page_status_changed(self) -> None:
        """A page moved on (in progress, done...): the page list, and the page counts where the
        status bar still shows them (they said "3 prefilled" while one was in progress)."""
        self._refresh_page_list()
        if self.statusBar().currentMessage() and self.statusBar().currentMessage() == getattr(
                self, "_counts_message", None):
            self.reload_pages()

    def _on_selection(self, *_):
        ids = self.page_list.selected_page_ids()
        if ids:
            self.show_page(ids[0])

    def show_page(self, page_id: int) -> None:
        self.workspace.open_page(page_id)

    def current_page_id(self) -> int | None:
        return self.workspace.page_id

    def assign_dialog(self, person: str | None = None) -> bool:
        """Page list > Assign to... (reviewers and admins): the selected pages to a person, or back
        to anyone. ``person`` skips the question (tests)."""
        from PySide6.QtWidgets import QInputDialog

        ids = self.page_list.selected_page_ids()
        if not ids or self.project is None:
            return False
        anyone = "(anyone)"
        if person is None:
            names = [anyone] + [name for name, _role, _pw in self.project.store.user_list()]
            person, ok = QInputDialog.getItem(self, "Assign pages", f"Give {len(ids)} page(s) to:", names, 0, True)
            if not ok:
                return False
        try:
            self.project.store.assign_pages(self.user, ids, None if person in ("", anyone) else person)
        except ProofdeskError as exc:
            show_error(self, "Cannot assign pages", str(exc))
            return False
        self.statusBar().showMessage(f"{len(ids)} page(s) assigned to {person or 'anyone'}", 8000)
        self.reload_pages()
        return True

    def _close_with_unsaved(self, pending: int) -> bool:
        """The server is away and edits wait to be sent: closing now drops them. Ask."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.warning(
            self, "Changes not saved",
            f"{pending} change(s) could not reach the server yet and would be lost if you close now."
            " Keep the window open until the connection is back (the banner goes), or close anyway?",
            QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Discard,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    # -- a team project: other people's changes, the connection ---------------------------------
    def _start_live(self, project: Project) -> None:
        """Listen to the project's changes (core.live) and watch the connection to its server."""
        from core.live import Listener

        self.connection = Connection(project.store, project.server.display, self)
        self.connection.lostChanged.connect(self._on_connection_lost_changed)
        self.connection.pendingChanged.connect(lambda _n: self._show_connection())
        self.connection.refused.connect(self._on_kept_edit_refused)
        self.connection.back.connect(self._on_connection_back)
        self.workspace.set_connection(self.connection)
        self.live_bridge = LiveBridge(self)
        self.live_bridge.change.connect(self._on_live_change, Qt.ConnectionType.QueuedConnection)
        self.live_bridge.state.connect(self._on_live_state, Qt.ConnectionType.QueuedConnection)
        self.live = Listener(project.server, project.store.channel, self.live_bridge.on_change,
                             self.live_bridge.on_state, skip_client=project.store.client_id).start()

    def _stop_live(self) -> None:
        self._list_timer.stop()
        if self.live_bridge is not None:
            self.live_bridge.closed = True
        if self.live is not None:
            self.live.stop(timeout=0.1)  # a daemon thread: it ends by itself within its 0.5 s wait
        if self.connection is not None:
            self.connection.close()
            self.workspace.set_connection(None)
        self.banner.hide()
        self.live = self.live_bridge = self.connection = None

    def _on_live_change(self, change: dict) -> None:
        """Another person's change committed: reload the page on screen if it is that page (the
        workspace and the Moderate screen), refresh the page list soon (bursts coalesce)."""
        if self.connection is not None and self.connection.lost:
            return  # reloaded as a whole when the connection is back
        page_id = change.get("page")
        if page_id is not None and page_id == self.current_page_id():
            self.show_page(page_id)
        review = getattr(self, "review", None)
        if review is not None and page_id is not None:
            try:
                review.page_changed_elsewhere(page_id)
            except ProofdeskError as exc:
                if not is_connection_error(exc) or self.connection is None:
                    raise
                self.connection.mark_lost(str(exc))
        if not self._list_timer.isActive():
            self._list_timer.start()

    def _refresh_after_live_changes(self) -> None:
        if self.project is None or (self.connection is not None and self.connection.lost):
            return
        try:
            self._refresh_page_list()
            review = getattr(self, "review", None)
            if review is not None:
                review.refresh_lists()
        except ProofdeskError as exc:
            if not is_connection_error(exc) or self.connection is None:
                raise
            self.connection.mark_lost(str(exc))

    def _on_live_state(self, up: bool) -> None:
        if self.connection is None:
            return
        if up:
            self.connection.server_back()
        else:
            self.connection.mark_lost("the server stopped answering")

    def _show_connection(self) -> None:
        if self.connection is None or not self.connection.lost:
            self.banner.hide()
            return
        text = self.connection.text()
        self.banner.show_text(text, self.connection.reason)
        self.statusBar().showMessage(text, 0)

    def _on_connection_lost_changed(self, lost: bool) -> None:
        self._show_connection()

    def _on_kept_edit_refused(self, edit, why: str) -> None:
        self.statusBar().showMessage(f"Not saved: {why}. The page was reloaded to show the other change.", 15000)
        self._kept_refused = getattr(self, "_kept_refused", 0) + 1

    def _on_connection_back(self, saved: int) -> None:
        """The server answers again: the kept edits are saved; show what is there now."""
        self.banner.hide()
        refused = getattr(self, "_kept_refused", 0)
        self._kept_refused = 0
        page_id = self.current_page_id()
        for attempt in (1, 2):  # this thread's connection may have died unnoticed: made again once
            try:
                self._refresh_page_list()
                break
            except ProofdeskError as exc:
                if not is_connection_error(exc) or self.connection is None:
                    raise
                if attempt == 2:
                    self.connection.mark_lost(str(exc))
                    return
        if page_id is not None:
            self.show_page(page_id)
        if not refused:
            self.statusBar().showMessage(f"Connection to {self.project.where} is back"
                                         + (f"; {saved} change(s) saved" if saved else ""), 10000)

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

    def open_team_project_dialog(self, url: str | None = None):
        """File > Open team project: server URL, login, password; opened off the GUI thread."""
        from .team_dialog import TeamProjectDialog

        dialog = TeamProjectDialog(self.settings, self, url=url)
        dialog.opened.connect(self._on_team_project_opened)
        dialog.open()
        self.team_dialog = dialog
        return dialog

    def _on_team_project_opened(self, project: Project, login: str) -> None:
        """On a team project the user is the server login (its roles are the server's)."""
        self._stop_live()
        self.user = login
        self.open_project(project)
        self.statusBar().showMessage(f"Signed in to {project.where} as {login}", 10000)

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

    def _active_model(self):
        """The project's promoted model, None when none (or a team server not answering now)."""
        if self.project is None or (self.connection is not None and self.connection.lost):
            return None
        for attempt in (1, 2):  # a connection that died unnoticed is made again once
            try:
                from ml.training.active import active_model

                return active_model(self.project).version
            except ProofdeskError as exc:
                if not is_connection_error(exc):
                    raise
                if self.connection is None:
                    return None  # the status bar's label is no reason to stop: shown as "no model"
                if attempt == 2:
                    self.connection.mark_lost(str(exc))
        return None

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
        version = self._active_model()
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
        pending = len(self.connection.pending) if self.connection is not None else 0
        if pending and not self._close_with_unsaved(pending):
            event.ignore()
            return
        self._stop_live()
        for worker in list(self.workers):
            worker.cancel.set()
        self.workspace.shutdown()
        super().closeEvent(event)
