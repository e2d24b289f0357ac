"""Start the GUI: pick the project (given, last used, or the demo), show progress, open the window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox, QSplashScreen

from core.errors import ProofdeskError
from core.project import DB_NAME, Project

from .errors import install_excepthook


def data_dir() -> Path:
    """The app's data folder (demo project, logs): one definition for the GUI and the command line."""
    from .cli_support import data_dir as _data_dir

    return _data_dir()


def _splash() -> QSplashScreen:
    pixmap = QPixmap(480, 200)
    pixmap.fill(QColor(34, 52, 78))
    painter = QPainter(pixmap)
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPointSize(26)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect().adjusted(0, -30, 0, 0), Qt.AlignmentFlag.AlignCenter, "Proofdesk")
    painter.end()
    splash = QSplashScreen(pixmap)
    splash.show()
    return splash


def resolve_project(path: str | None, settings: QSettings, user: str, report) -> Project:
    """The project to open: the one asked for, else the last one, else the demo project."""
    if path:
        return Project.open_or_create(path)
    last = settings.value("last_project")
    if last and (Path(last) / DB_NAME).exists():
        try:
            return Project.open(last)
        except ProofdeskError:
            pass  # fall back to the demo rather than refusing to start
    from .demo import ensure_demo_project

    report("Creating the demo project...")
    return ensure_demo_project(data_dir() / "demo-project", user,
                               progress=lambda d, t, n: report(f"Creating the demo project ({d}/{t})..."))


#: A project setting: ask who is working at every start, even when nobody has a password.
ASK_USER_SETTING = "choose_user_at_start"


def asks_for_user(store) -> bool:
    """Sign in at start when the project asks for it, or when any user has a password."""
    return bool(store.get_setting(ASK_USER_SETTING, False)) or store.has_any_password()


def choose_user(store, default: str, parent=None) -> str | None:
    """Who is working: ``default`` (the OS user) unless the project asks; then the sign-in
    dialog (user, password where the user has one, role for admins). None when cancelled."""
    if not asks_for_user(store):
        return default
    from PySide6.QtWidgets import QDialog

    from .review.users import UserDialog

    dialog = UserDialog(store, default, parent)
    dialog.setWindowTitle("Proofdesk - who is working?")
    return dialog.chosen if dialog.exec() == QDialog.DialogCode.Accepted else None


def warm_up() -> None:
    """Import what background work will need, now, behind the splash (~0.3 s).

    A module's first import holds Python's GIL until it is done, whichever thread imports it:
    OpenCV, Tesseract, PIL's codecs or onnxruntime imported by the first pre-fill or import
    froze the window for 80-130 ms. Imported here, they never are on a worker thread.
    """
    import PIL.Image

    PIL.Image.init()  # every codec plugin, not on the first file decoded
    import ml.prefill  # noqa: F401 - OpenCV, Tesseract, the engines and the pool
    import ml.reader  # noqa: F401 - what re-reads a box
    from ml.neural import recognizer, runtime  # noqa: F401 - onnxruntime


def run_gui(project_path: str | None = None, user: str | None = None) -> int:
    from .cli import default_user

    QCoreApplication.setOrganizationName("Proofdesk")
    QCoreApplication.setApplicationName("Proofdesk")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from .cli_support import logging_configured, setup_logging

    if not logging_configured():  # `proofdesk gui` has set it up already, with --log-level
        setup_logging()
    install_excepthook()
    user = user or default_user()
    splash = _splash()

    def report(message: str) -> None:
        splash.showMessage(message, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter, QColor("white"))
        app.processEvents()

    settings = QSettings()
    report("Opening the project...")
    try:
        project = resolve_project(project_path, settings, user, report)
    except ProofdeskError as exc:
        splash.close()
        print(f"proofdesk: error: {exc}", file=sys.stderr)
        QMessageBox.critical(None, "Cannot open project", str(exc))
        return 1
    splash.hide()
    if project.server is not None:
        # A team project: the user is the server login (ADR 0007), its role the server's.
        user = project.server.user or user
    else:
        user = choose_user(project.store, user)
    if user is None:  # the person closed the sign-in: nothing opened, nothing changed
        project.close()
        return 0
    splash.show()
    report("Loading the OCR engines...")
    warm_up()
    report("Loading the window...")
    from .main_window import MainWindow

    window = MainWindow(project, user, settings)
    window.show()
    splash.finish(window)
    if project.store.get_setting("demo", False) and project.store.pages("new"):
        window.prefill.prefill(None)
    return app.exec()
