"""The reviewer's half of the app: the Moderate and Analytics screens, users and roles.

``install(window)`` adds a Review menu to the main window; each screen opens in its own
window, so the workspace stays as it is, and "Fix / fill in in the workspace" brings the main
window back on that page. Who may open what is decided in core (an annotator is refused); the
menus and screens ask core first (``core.review.may``) and show what the user's role cannot do
disabled, with how to get the role (:func:`role_hint`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from core.errors import ProofdeskError
from core.review import last_rejection, may, refresh_stale, require_viewer, role_of

from ..errors import show_error
from ..workers import Worker, start

__all__ = ["install", "ReviewMenu", "refresh_stale_in_background", "role_hint", "ROLE_OF"]

#: The role each action needs (``core.roles.PERMISSIONS``), as it is named to people.
ROLE_OF = {"review": "reviewer", "admin": "admin"}


def role_hint(user: str, action: str, store=None) -> str:
    """How ``user`` gets what ``action`` (``review``, ``admin``) needs: one sentence for a tooltip
    or a note (an admin gives roles: Review > User and role, or ``proofdesk users``; in a project
    with no admin yet, ``store`` says so, its user may name itself)."""
    role = ROLE_OF.get(action, action)
    cli = f"`proofdesk users PROJECT --role {user} {role}`"
    if store is not None and store.server is None and not store.has_admins():
        return (f"It needs the {role} role: this project has no admin yet, so {user} may take it in Review >"
                f" User and role, or with {cli}.")
    return (f"It needs the {role} role: an admin gives it to {user} in Review > User and role, or runs {cli}"
            f" (on a team project: `proofdesk users postgresql://... --add {user} --role {role}`).")


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
        menu.setToolTipsVisible(True)
        self.menu = menu
        self.actions: dict[str, QAction] = {}
        for name, text, slot, key in (("moderate", "&Moderate...", self.open_moderate, "Ctrl+M"),
                                      ("analytics", "&Analytics...", self.open_analytics, "Ctrl+Shift+A"),
                                      ("qc", "&QC rules...", self.open_qc_rules, None),
                                      ("user", "&User and role...", self.choose_user, None)):
            act = QAction(text, window)
            if key:
                act.setShortcut(QKeySequence(key))
            act.triggered.connect(slot)
            menu.addAction(act)
            self.actions[name] = act
        self._texts = {name: act.text() for name, act in self.actions.items()}
        window.workspace.pageOpened.connect(self._tell_rejection)
        # A rejected page keeps its reviewer's comment in sight while it is open (a status-bar
        # message alone goes with the next message).
        self.rejection = QLabel()
        self.rejection.setObjectName("rejectionNote")
        self.rejection.setStyleSheet("color: #b01818; font-weight: bold;")
        self.rejection.hide()
        window.statusBar().addPermanentWidget(self.rejection)
        self.update_for_user()

    def update_for_user(self) -> None:
        """Show what the window's user may do: Moderate and Analytics need the reviewer role where
        the project has roles (a one-person project's user may look), changing the QC rules an
        admin's; what is not allowed is disabled and says how to get the role. Called when the
        project or the user changes."""
        w = self.window
        project = getattr(w, "project", None)
        if project is None:
            return
        store, user = project.store, w.user
        try:
            require_viewer(store, user)
            viewer = True
        except ProofdeskError:
            viewer = False
        for name in ("moderate", "analytics"):
            self._allow(name, viewer, "reviewers", role_hint(user, "review", store))
        admin = may(store, user, "admin")
        qc = self.actions["qc"]
        qc.setText(self._texts["qc"] if admin else "&QC rules (read only)...")
        qc.setToolTip("Which done pages go to review" if admin else
                      "Only an admin changes the QC rules. " + role_hint(user, "admin", store))
        assign = getattr(w, "assign_action", None)
        if assign is not None:
            lead = may(store, user, "review")
            assign.setEnabled(lead)
            assign.setToolTip("Give the selected pages to a person: their next page offers them first" if lead else
                              "Assigning pages is for reviewers and admins. " + role_hint(user, "review", store))

    def _allow(self, name: str, ok: bool, who: str, hint: str) -> None:
        act = self.actions[name]
        act.setEnabled(ok)
        act.setText(self._texts[name] if ok else self._texts[name].replace("...", f" ({who} only)..."))
        act.setToolTip("" if ok else hint)
        act.setStatusTip("" if ok else hint)

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

    def open_qc_rules(self):
        """Review > QC rules: everyone reads them, an admin changes them (app/review/qc_dialog.py)."""
        from .qc_dialog import QCDialog

        dialog = QCDialog(self.window.project.store, self.window.user, self.window)
        dialog.open()
        self.qc_dialog = dialog
        return dialog

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
        self.update_for_user()


def install(window) -> ReviewMenu:
    return ReviewMenu(window)
