"""The main window's Training menu (QtCharts and the screen load only when it is opened)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


def add_training_menu(window) -> QAction:
    """Add a Training menu to ``window`` (a MainWindow: ``project``, ``user``, a status bar)."""
    menu = window.menuBar().addMenu("&Training")
    act = QAction("&Training runs...", window)
    act.setShortcut(QKeySequence("Ctrl+Shift+T"))
    act.triggered.connect(lambda: open_training_screen(window))
    menu.addAction(act)
    return act


def fitting_size(window, width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height``, made smaller where the window's screen has less room: wide enough
    that the runs table shows every column beside the details (1100 px cut the verdict off)."""
    screen = window.screen() if hasattr(window, "screen") else None
    if screen is None:
        return width, height
    room = screen.availableGeometry()
    return min(width, max(640, room.width() - 40)), min(height, max(480, room.height() - 60))


def open_training_screen(window):
    """Show (creating when needed) the Training screen of the window's current project."""
    from .screen import TrainingScreen

    screen = getattr(window, "training_screen", None)
    if screen is None or screen.project is not window.project:
        screen = TrainingScreen(window.project, window.user)
        screen.setWindowFlag(Qt.WindowType.Window)
        screen.resize(*fitting_size(window, 1560, 940))
        screen.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        if hasattr(window, "update_engine_label"):
            screen.modelChanged.connect(window.update_engine_label)
        window.training_screen = screen
    screen.show()
    screen.raise_()
    screen.activateWindow()
    return screen
