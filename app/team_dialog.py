"""File > Open team project: a project on the team's PostgreSQL server, signed in as oneself.

The server URL (``postgresql://[user@]host[:port]/DATABASE/PROJECT[?sslmode=...]``) comes from an
editable list of the team projects opened lately, the login name from the URL or the last one used,
the password is typed (or left empty for libpq's ``PGPASSWORD``/``.pgpass``). Connecting can take
seconds, so the project is opened on a worker thread; the server's reason for a refusal (a wrong
password, an unreachable host, no such project) shows in the dialog, which stays open. The recent
list keeps URLs with the login name and never a password (ADR 0007: Proofdesk stores no password).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from core.db import parse_url
from core.errors import ProofdeskError

from .workers import Worker, start

RECENT_TEAM = "recent_team_projects"
LAST_LOGIN = "last_team_login"
MAX_RECENT = 8


def without_password(url: str, login: str | None = None) -> str:
    """The URL with the login name (``login``, else its own) and no password; query kept."""
    location = parse_url(url)
    user = login or location.user
    if not user:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return location.with_login(user, None).url


def recent_team_projects(settings: QSettings) -> list[str]:
    value = settings.value(RECENT_TEAM, [])
    if isinstance(value, str):
        value = [value]
    out = []
    for url in value or []:
        try:
            out.append(without_password(str(url)))  # never hand out a password, whatever is stored
        except ProofdeskError:
            continue
    return out


def remember_team_project(settings: QSettings, url: str, login: str | None) -> None:
    """First in the recent team projects (without its password), and the login name used."""
    clean = without_password(url, login)
    recent = [clean] + [u for u in recent_team_projects(settings) if u != clean]
    settings.setValue(RECENT_TEAM, recent[:MAX_RECENT])
    if login:
        settings.setValue(LAST_LOGIN, login)


def _open_project(progress, cancel, url: str):
    from core.project import Project

    return Project.open(url)


class TeamProjectDialog(QDialog):
    """Sign in to a team project. ``opened(project, login)`` when the server let us in."""

    opened = Signal(object, str)

    def __init__(self, settings: QSettings, parent=None, url: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open team project")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.settings = settings
        self.workers: set[Worker] = set()
        self.worker: Worker | None = None
        self.project = None
        self.cancelled = False

        self.url = QComboBox()
        self.url.setEditable(True)
        self.url.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.url.setMinimumWidth(460)
        self.url.addItems(recent_team_projects(settings))
        self.url.lineEdit().setPlaceholderText("postgresql://host:5432/DATABASE/PROJECT")
        self.url.setToolTip("The team project's address: postgresql://[login@]host[:port]/DATABASE/PROJECT"
                            "[?sslmode=require]")
        self.login = QLineEdit()
        self.login.setPlaceholderText("your login on the server")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("not stored")
        self.password.setToolTip("Typed each time: Proofdesk never stores it (empty: PGPASSWORD or ~/.pgpass)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.buttons.accepted.connect(self.start_open)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Server &URL:", self.url)
        form.addRow("&Login:", self.login)
        form.addRow("&Password:", self.password)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.url.currentTextChanged.connect(self._login_from_url)
        if url:
            self.url.setCurrentText(without_password(url) if "@" in url else url)
        self._login_from_url(self.url.currentText())
        if not self.login.text():
            self.login.setText(str(settings.value(LAST_LOGIN, "") or ""))
        (self.password if self.url.currentText() and self.login.text() else self.url).setFocus()

    def _login_from_url(self, text: str) -> None:
        try:
            user = parse_url(text.strip()).user if text.strip() else None
        except ProofdeskError:
            return
        if user:
            self.login.setText(user)

    # -- opening -----------------------------------------------------------------------------
    def target(self) -> tuple[str, str]:
        """(the URL to open, with the login and password; the login). ProofdeskError when wrong."""
        text = self.url.currentText().strip()
        if not text:
            raise ProofdeskError("type the team project's URL: postgresql://host:5432/DATABASE/PROJECT")
        location = parse_url(text, need_project=True)
        login = self.login.text().strip() or location.user
        if not login:
            raise ProofdeskError("type your login name on the server")
        password = self.password.text() or (unquote(urlsplit(text).password) if urlsplit(text).password else None)
        return location.with_login(login, password).url, login

    def start_open(self) -> Worker | None:
        if self.worker is not None:
            return self.worker
        self.cancelled = False
        try:
            url, login = self.target()
        except ProofdeskError as exc:
            self._say(str(exc), error=True)
            return None
        self._busy(True)
        self._say(f"Connecting to {parse_url(url).display}...")
        worker = Worker(_open_project, url)
        worker.signals.finished.connect(lambda project: self._on_opened(project, url, login))
        worker.signals.failed.connect(self._on_failed)
        self.worker = worker
        return start(worker, keep=self.workers)

    def _on_opened(self, project, url: str, login: str) -> None:
        self.worker = None
        if self.cancelled:
            project.close()  # cancelled while connecting
            return
        remember_team_project(self.settings, url, login)
        self.project = project
        self._say("")
        self.password.clear()
        self.accept()
        self.opened.emit(project, login)

    def _on_failed(self, message: str, _tb: str) -> None:
        self.worker = None
        self._busy(False)
        self._say(message, error=True)
        if "password" in message.lower():
            self.password.selectAll()
            self.password.setFocus()

    def _busy(self, on: bool) -> None:
        for w in (self.url, self.login, self.password, self.open_button):
            w.setEnabled(not on)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #c02020;" if error else "")
        self.status.setText(text)

    def reject(self) -> None:
        self.cancelled = self.worker is not None  # what it opens is closed when it ends
        super().reject()
