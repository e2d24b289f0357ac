"""The reviewer's half of the app: the Moderate and Analytics screens, users and roles.

``install(window)`` adds a Review menu to the main window; each screen opens in its own
window, so the workspace stays as it is, and "Fix / fill in in the workspace" brings the main
window back on that page. Who may open what is decided in core (an annotator is refused).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from core.errors import ProofdeskError
from core.review import last_rejection, refresh_stale, role_of

from ..errors import show_error
from ..workers import Worker, start

__all__ = ["install", "ReviewMenu", "refresh_stale_in_background"]


def refresh_stale_in_background(screen):
    """Pages edited since their verdicts were stored get fresh ones, off the GUI thread; then
    ``screen`` (a review screen: ``project``, ``workers``, ``refresh``) redraws if any changed."""
    project = screen.project
    worker = Worker(lambda progress, cancel: refresh_stale(project.store))
    worker.signals.finished.connect(lambda n: n and screen.refresh())
    return start(worker, keep=screen.workers)


class ReviewMenu:
    """The Review menu of a main window and the screens it opened."""

    def __init__(self, window):
        self.window = window
        self.moderate = None
        self.analytics = None
        menu = window.menuBar().addMenu("&Review")
        self.menu = menu
        for text, slot, key in (("&Moderate...", self.open_moderate, "Ctrl+M"),
                                ("&Analytics...", self.open_analytics, "Ctrl+Shift+A"),
                                ("&User and role...", self.choose_user, None)):
            act = QAction(text, window)
            if key:
                act.setShortcut(QKeySequence(key))
            act.triggered.connect(slot)
            menu.addAction(act)
        window.workspace.pageOpened.connect(self._tell_rejection)
        # A rejected page keeps its reviewer's comment in sight while it is open (a status-bar
        # message alone goes with the next message).
        self.rejection = QLabel()
        self.rejection.setObjectName("rejectionNote")
        self.rejection.setStyleSheet("color: #b01818; font-weight: bold;")
        self.rejection.hide()
        window.statusBar().addPermanentWidget(self.rejection)

    def _screen(self, attr: str, factory):
        screen = getattr(self, attr)
        if screen is not None and (screen.project is not self.window.project or screen.user != self.window.user):
            screen.close()
            screen = None
        if screen is None:
            try:
                screen = factory(self.window.project, self.window.user)
            except ProofdeskError as exc:
                self.window.statusBar().showMessage(str(exc), 10000)
                show_error(self.window, "Not allowed", str(exc))
                return None
            screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
            screen.resize(1560, 940)
            setattr(self, attr, screen)
        screen.show()
        screen.raise_()
        screen.activateWindow()
        return screen

    def open_moderate(self):
        from .moderate import ModerateScreen

        screen = self._screen("moderate", ModerateScreen)
        if screen is not None and not getattr(screen, "_wired", False):
            screen._wired = True
            screen.openInWorkspace.connect(self._open_in_workspace)
            screen.pageReviewed.connect(lambda _pid: self.window.reload_pages())
        return screen

    def open_analytics(self):
        from .analytics import AnalyticsScreen

        return self._screen("analytics", AnalyticsScreen)

    def _open_in_workspace(self, page_id: int) -> None:
        self.window.page_list.select_page(page_id)
        self.window.show_page(page_id)
        self.window.raise_()
        self.window.activateWindow()

    def _shown(self, screen):
        return screen if screen is not None and screen.isVisible() and screen.project is self.window.project else None

    def page_changed_elsewhere(self, page_id: int) -> None:
        """Another person changed a page (a team project's live change): the Moderate screen
        shows it again if it is the page on screen."""
        screen = self._shown(self.moderate)
        if screen is not None and screen.page_id == page_id:
            screen.open_page(page_id)

    def refresh_lists(self) -> None:
        """Changes elsewhere (coalesced by the window): the Moderate screen's counts and list."""
        screen = self._shown(self.moderate)
        if screen is not None:
            screen.refresh()

    def _tell_rejection(self, page_id: int) -> None:
        """A rejected page opened in the workspace shows the reviewer's comment."""
        project = self.window.project
        if project is None:
            return
        review = last_rejection(project.store, page_id)
        if review is not None and project.store.get_page(page_id).status.value == "rejected":
            text = f"Rejected by {review.reviewer}: {review.comment}"
            self.window.statusBar().showMessage(text, 0)
            self.rejection.setText(text if len(text) <= 90 else text[:87] + "...")
            self.rejection.setToolTip(text)
            self.rejection.show()
        else:
            self.rejection.hide()

    def choose_user(self):
        from .users import UserDialog

        dialog = UserDialog(self.window.project.store, self.window.user, self.window)

        def done(result):
            if result and dialog.chosen:
                self.switch_user(dialog.chosen)

        dialog.finished.connect(done)
        dialog.open()
        return dialog

    def switch_user(self, name: str) -> None:
        w = self.window
        if w.project is not None and w.project.server is not None and name != w.user:
            # On a team project who works is the server login (the server enforces its role):
            # another person signs in with File > Open team project.
            w.statusBar().showMessage(f"On a team project you work as your login ({w.user}): to work as {name},"
                                      " open the project with their login (File > Open team project)", 8000)
            return
        current = w.current_page_id()
        w.user = name
        w.workspace.set_project(w.project, name)
        w.reload_pages()
        if current is not None:
            w.show_page(current)
        role = role_of(w.project.store, name).value
        w.statusBar().showMessage(f"Working as {name} ({role})", 8000)
        for screen in (self.moderate, self.analytics):
            if screen is not None:
                screen.close()
        self.moderate = self.analytics = None


def install(window) -> ReviewMenu:
    return ReviewMenu(window)
