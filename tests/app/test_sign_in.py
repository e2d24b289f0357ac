"""Who is working: the OS user, unless the project asks for a sign-in (or a user has a password)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.main import ASK_USER_SETTING, choose_user
from app.review.users import UserDialog


def answer(name: str, password: str, cancel: bool = False):
    """Fill in the sign-in dialog once it is open (it runs its own event loop)."""

    def fill():
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, UserDialog) and w.isVisible()), None)
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        if cancel:
            dialog.reject()
            return
        dialog.name.setCurrentText(name)
        dialog.password.setText(password)
        dialog.apply()
        if dialog.isVisible():  # refused (wrong password): give up
            dialog.reject()

    QTimer.singleShot(20, fill)


def test_no_sign_in_by_default(project, qtbot):
    assert choose_user(project.store, "osuser") == "osuser"


def test_a_password_means_signing_in(project, qtbot):
    project.store.set_password("lead", "s3cret", actor="lead")
    answer("lead", "wrong")
    assert choose_user(project.store, "osuser") is None  # refused, then closed
    answer("lead", "s3cret")
    assert choose_user(project.store, "osuser") == "lead"


def test_the_project_can_ask_every_time(project, qtbot):
    project.store.set_setting(ASK_USER_SETTING, True)
    answer("ana", "")
    assert choose_user(project.store, "osuser") == "ana"
    answer("", "", cancel=True)
    assert choose_user(project.store, "osuser") is None


def test_cli_users_sets_password_role_and_sign_in(project, monkeypatch, capsys):
    from app.cli import main

    root = str(project.root)
    monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", "s3cret")
    assert main(["--user", "lead", "users", root, "--role", "lead", "admin", "--password", "lead"]) == 0
    out = capsys.readouterr().out
    assert "lead is now admin" in out and "asks who is working at start" in out
    assert project.store.check_password("lead", "s3cret") and not project.store.check_password("lead", "guess")
    assert main(["--user", "ana", "users", root, "--password", "lead"]) == 1  # not an admin
    assert "or an admin can change lead's password" in capsys.readouterr().err
