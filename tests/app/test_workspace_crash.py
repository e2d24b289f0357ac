"""Kill the app between edits (SIGKILL: no handler, no flush) and the last committed edit is there.

The child is the real main window, offscreen, driven by keys as a person would: Tab to the next
region, retype its text, Enter. It prints each edit once the workspace has committed it. The
parent kills it at an arbitrary moment after a few edits, while it keeps typing, and then opens
the project as the next start of the app would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from core.project import Project

from ..conftest import check_consistent
from .test_workspace import make_project

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from app.main_window import MainWindow
    from core.project import Project

    project = Project.open(sys.argv[2])
    win = MainWindow(project, "ana", QSettings(sys.argv[3], QSettings.Format.IniFormat))
    win.show()
    win.activateWindow()
    ws = win.workspace
    ws.open_page(project.store.pages()[1].id)
    state = {"n": 0, "region": None, "text": None}

    def on_commit(label):
        if label == "edit text":
            print("committed", state["region"], state["text"], flush=True)

    ws.committed.connect(on_commit)

    def step():
        state["n"] += 1
        ws.go(1)  # what Tab does
        editor = QApplication.focusWidget()
        state["region"], state["text"] = ws.list.editing_id(), f"EDIT {state['n']}"
        editor.selectAll()
        QTest.keyClicks(editor, state["text"])
        QTest.keyClick(editor, Qt.Key.Key_Return)
        QTimer.singleShot(5, step)

    QTimer.singleShot(200, step)
    app.exec()
    """
)


def test_sigkill_between_edits_keeps_the_last_edit_and_the_page(tmp_path, qtbot):
    project = make_project(tmp_path)
    page = project.store.pages()[1]
    root = project.root
    project.close()
    settings = tmp_path / "child.ini"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(root), str(settings)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen: list[tuple[int, int]] = []  # (region id, edit number) in commit order
    deadline = time.monotonic() + 60
    try:
        while len(seen) < 7 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            m = re.match(r"committed (\d+) EDIT (\d+)", line)
            if m:
                seen.append((int(m[1]), int(m[2])))
        child.send_signal(signal.SIGKILL)  # mid-typing: the child never stops on its own
    finally:
        child.kill()
        _, err = child.communicate(timeout=30)
    assert len(seen) == 7, f"the child made {len(seen)} edits before the deadline: {err[-2000:]}"
    assert child.returncode == -signal.SIGKILL

    project = Project.open(root)
    try:
        check_consistent(project)
        last = {}
        for region_id, n in seen:
            last[region_id] = n
        for region_id, n in last.items():
            text = project.store.get_region(region_id).text
            # That edit, or one the child committed after it and before it died.
            assert re.fullmatch(r"EDIT \d+", text) and int(text.split()[1]) >= n, (region_id, text, n)
        # The next start of the app reopens the page the person was on.
        window = MainWindow(project, "ana", QSettings(str(settings), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        assert window.workspace.page_id == page.id
        shown = {r.id: r.text for r in window.workspace.list.model_.regions}
        assert all(int(shown[rid].split()[1]) >= n for rid, n in last.items())
        window.close()
    finally:
        project.close()
