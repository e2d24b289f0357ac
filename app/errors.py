"""Uncaught exceptions open a dialog with the traceback instead of killing the app."""

from __future__ import annotations

import logging
import sys
import traceback

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from core.errors import ProofdeskError


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.open()


def install_excepthook() -> None:
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(text)
        logging.getLogger("proofdesk.gui").error("uncaught %s: %s\n%s", exc_type.__name__, exc, text)
        app = QApplication.instance()
        if app is None:
            previous(exc_type, exc, tb)
            return
        if isinstance(exc, ProofdeskError):
            show_error(app.activeWindow(), "Proofdesk", str(exc))
        else:
            show_error(app.activeWindow(), "Proofdesk: unexpected error",
                       f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                       "Your edits are saved as you make them; nothing was lost. "
                       "Please report the details below.", text)

    sys.excepthook = hook
