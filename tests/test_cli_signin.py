"""The command line signs in like the GUI: naming a user who has a password needs that password.

Before: ``--user boss`` or ``PROOFDESK_USER=boss`` acted as boss whatever the password, and anyone
could remove boss's password (after which the GUI asked nobody to sign in).
"""

from __future__ import annotations

import hashlib
import secrets

import pytest

from app.cli import main
from core.errors import PermissionDenied
from core.model import Role


@pytest.fixture
def guarded(project, monkeypatch):
    """A project whose admin ``boss`` has a password; ``ana`` is an annotator without one."""
    monkeypatch.delenv("PROOFDESK_PASSWORD", raising=False)
    monkeypatch.delenv("PROOFDESK_NEW_PASSWORD", raising=False)
    monkeypatch.delenv("PROOFDESK_USER", raising=False)
    store = project.store
    store.set_user_role("boss", "boss", Role.ADMIN)
    store.set_password("boss", "hunter2", actor="boss")
    store.ensure_user("ana")
    return project


def _role(project, name):
    u = project.store.get_user(name)
    return u.role if u else None


def test_acting_as_a_user_with_a_password_needs_it(guarded, monkeypatch, capsys):
    root = str(guarded.root)
    # No terminal (pytest's stdin) and no $PROOFDESK_PASSWORD: refused, nothing done.
    assert main(["--user", "boss", "users", root, "--role", "ana", "admin"]) == 1
    assert "boss has a password" in capsys.readouterr().err
    assert _role(guarded, "ana") == Role.ANNOTATOR
    # The same through the environment variable naming the user.
    monkeypatch.setenv("PROOFDESK_USER", "boss")
    assert main(["users", root, "--role", "ana", "admin"]) == 1
    assert _role(guarded, "ana") == Role.ANNOTATOR
    # A wrong password: refused.
    monkeypatch.setenv("PROOFDESK_PASSWORD", "guess")
    assert main(["users", root, "--role", "ana", "admin"]) == 1
    assert "wrong password for boss" in capsys.readouterr().err
    assert _role(guarded, "ana") == Role.ANNOTATOR
    # The right one: done.
    monkeypatch.setenv("PROOFDESK_PASSWORD", "hunter2")
    assert main(["users", root, "--role", "ana", "admin"]) == 0
    assert _role(guarded, "ana") == Role.ADMIN


def test_read_commands_as_a_guarded_user_need_the_password_too(guarded, capsys):
    # The review queue shows blind-review annotators to admins only.
    assert main(["review", str(guarded.root), "--user", "boss"]) == 1
    assert "boss has a password" in capsys.readouterr().err


def test_nobody_removes_or_changes_someone_elses_password(guarded, monkeypatch, capsys):
    root = str(guarded.root)
    monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", "")
    # ana (no password, not an admin) removing boss's password: refused, boss still signs in.
    assert main(["--user", "ana", "users", root, "--password", "boss"]) == 1
    assert guarded.store.has_password("boss")
    assert not guarded.store.check_password("boss", "")
    # In core too, whatever the caller: the old password or an admin's.
    with pytest.raises(PermissionDenied):
        guarded.store.set_password("boss", None, actor="ana")
    with pytest.raises(PermissionDenied):
        guarded.store.set_password("boss", None, actor="boss", proof="guess")
    assert guarded.store.has_password("boss")
    capsys.readouterr()
    # boss, with the old password, changes it.
    monkeypatch.setenv("PROOFDESK_PASSWORD", "hunter2")
    monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", "correct horse")
    assert main(["users", root, "--user", "boss", "--password", "boss"]) == 0
    assert guarded.store.check_password("boss", "correct horse")
    assert not guarded.store.check_password("boss", "hunter2")


def test_a_password_of_a_user_without_admins_is_changed_only_with_it(project, monkeypatch, capsys):
    monkeypatch.delenv("PROOFDESK_PASSWORD", raising=False)
    store = project.store
    store.set_password("rita", "pw", actor="rita")  # no admins in this project
    monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", "")
    assert main(["--user", "eve", "users", str(project.root), "--password", "rita"]) == 1
    assert "rita" in capsys.readouterr().err
    assert store.has_password("rita")
    # An admin (with their own password checked) may reset it.
    store.set_user_role("lead", "lead", Role.ADMIN)
    store.set_password("rita", None, actor="lead")
    assert not store.has_password("rita")


def test_scrypt_cost_and_upgrade_at_sign_in(project):
    from core import roles

    h = roles.hash_password("pw")
    _, n, r, p, _, _ = h.split("$")
    assert int(n) >= 2**17 and int(r) == 8 and int(p) == 1
    # A hash from before (N=2^14) still verifies and is replaced at the next successful sign-in.
    salt = secrets.token_bytes(16)
    old = f"scrypt${2**14}$8$1${salt.hex()}${hashlib.scrypt(b'pw', salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"
    store = project.store
    store.ensure_user("old")
    with store.transaction() as c:
        c.execute("UPDATE users SET password_hash = ? WHERE name = 'old'", (old,))
    assert roles.needs_rehash(old) and not roles.needs_rehash(h)
    assert not store.check_password("old", "wrong")
    assert store.query("SELECT password_hash FROM users WHERE name = 'old'")[0][0] == old  # not on a failure
    assert store.check_password("old", "pw")
    upgraded = store.query("SELECT password_hash FROM users WHERE name = 'old'")[0][0]
    assert upgraded != old and int(upgraded.split("$")[1]) >= 2**17
    assert store.check_password("old", "pw") and not store.check_password("old", "wrong")
    # A tampered hash asking for absurd memory or time is refused, not computed.
    assert not roles.verify_password("pw", f"scrypt${2**30}$8$1${salt.hex()}${'0' * 64}")
