"""What every ``proofdesk`` command shares: who is working (and proving it), opening the project
once, progress bars, the log file, and turning system errors into one line that says what to do.

Qt-free on purpose: ``proofdesk pages`` must answer without loading a GUI toolkit.
"""

from __future__ import annotations

import errno
import getpass
import io
import logging
import logging.handlers
import os
import sqlite3
import sys
from pathlib import Path

from core.errors import PermissionDenied, ProjectError

log = logging.getLogger("proofdesk")

#: The environment variable a script sets to sign in as ``--user`` (a terminal is asked instead).
PASSWORD_ENV = "PROOFDESK_PASSWORD"


def default_user() -> str:
    try:
        return os.environ.get("PROOFDESK_USER") or getpass.getuser()
    except Exception:  # getpass fails in some containers without a passwd entry
        return "user"


# -- the app's data folder and its log ---------------------------------------------------------

def data_dir() -> Path:
    """The app's own data folder (demo project, logs, team projects' caches): see
    :func:`core.project.data_dir`."""
    from core.project import data_dir as _data_dir

    return _data_dir()


def log_dir() -> Path:
    return data_dir() / "logs"


LOG_LEVELS = ("debug", "info", "warning", "error")
_configured: logging.Handler | None = None


def logging_configured() -> bool:
    return _configured is not None


def setup_logging(level: str = "info", stderr: bool = False) -> Path | None:
    """Log to ``<data folder>/logs/proofdesk.log`` (rotated at 2 MB, 5 kept) at ``level``.

    ``stderr``: also show records at ``level`` on stderr (the command line's ``--log-level``).
    Returns the log file, or None when the folder cannot be written (logging is then to stderr
    only for warnings and worse: a read-only home must not stop the app).
    """
    global _configured
    root = logging.getLogger()
    numeric = getattr(logging, level.upper())
    root.setLevel(numeric)
    if _configured is not None:  # called again (tests, the GUI after the CLI): replace ours only
        root.removeHandler(_configured)
        _configured.close()
        _configured = None
    path: Path | None = log_dir() / "proofdesk.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=5, encoding="utf-8", delay=True)
    except OSError:
        path = None
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    _configured = handler
    for h in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(h)
    if stderr:
        err = _Stderr()
        err.setLevel(numeric)
        err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(err)
    return path


class _Stderr(logging.StreamHandler):
    """Whatever ``sys.stderr`` is when a record comes (it may be replaced after set-up)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


# -- progress -------------------------------------------------------------------------------

class Progress:
    """A progress bar on stderr (tqdm: fits the terminal's width), none when stderr is not a
    terminal. Called as ``progress(done, total, note)`` by import, pre-fill, eval and training.
    """

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None

    def __call__(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self._bar is None or self._bar.total != total:
            self.close()
            self._bar = tqdm(total=total, desc=self.label, file=self.stream, ncols=self._width(), leave=True,
                             unit="", bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}"
                             " [{elapsed}<{remaining}] {postfix}")
        bar = self._bar
        if note:
            bar.set_postfix_str(_short(note), refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            self.close()

    def _width(self) -> int:
        """The terminal's width ($COLUMNS first), so that a redraw never wraps onto a new line."""
        import shutil

        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return shutil.get_terminal_size().columns

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _short(note: str, width: int = 28) -> str:
    """A file name for the bar, its page ("x.pdf p. 12 of 5000") kept when the name is cut."""
    name = Path(note).name if ("/" in note or "\\" in note) else note
    base, sep, page = name.rpartition(" p. ")
    if not sep:
        return name[:width]
    return f"{base[:max(8, width - len(page) - 4)]} p. {page}"


# -- opening the project, as someone ------------------------------------------------------------

_projects: dict[Path, object] = {}


def open_project(path: str, readonly: bool = False):
    """The project at ``path``, opened once per command: the sign-in check and the command share
    it (opened read-only when the sign-in found the command only reads a project it cannot write).
    ``readonly``: how to open it when it is not open yet."""
    from core.db import is_url
    from core.project import Project

    key = path if is_url(path) else Path(path).expanduser().resolve()
    project = _projects.get(key)
    if project is None:
        project = _projects[key] = Project.open(path, readonly=readonly)
    return project


def close_projects() -> None:
    for project in _projects.values():
        project.close()
    _projects.clear()


def server_login(url: str, user: str) -> str:
    """``url`` with the login that works: the URL's own user (else ``user``) and a password from
    the URL, ``$PROOFDESK_PASSWORD``, libpq's own places (``PGPASSWORD``, ``~/.pgpass``) or, when
    the server asks for one and there is a terminal, typed there. Raises PermissionDenied or
    ProjectError with the server's reason."""
    from urllib.parse import urlsplit

    from core.db import PgConnection, parse_url

    location = parse_url(url)
    login = location.user or user
    password = urlsplit(url).password or os.environ.get(PASSWORD_ENV)
    candidate = location.with_login(login, password)
    if password is None:
        try:
            PgConnection(candidate, None, 0).close()  # libpq may find one (.pgpass, PGPASSWORD)
            return candidate.url
        except ProjectError as exc:
            if "no password supplied" not in str(exc):
                raise
        if not sys.stdin.isatty():
            raise PermissionDenied(f"{login} signs in to {location.display} with a password: type it at a terminal,"
                                   f" or set {PASSWORD_ENV} for a script")
        password = getpass.getpass(f"password for {login} on {location.display}: ")
        candidate = location.with_login(login, password)
    return candidate.url


def read_password(user: str, where: str) -> str:
    """``user``'s password: ``$PROOFDESK_PASSWORD``, else asked on the terminal."""
    secret = os.environ.get(PASSWORD_ENV)
    if secret is not None:
        return secret
    if not sys.stdin.isatty():
        raise PermissionDenied(f"{user} has a password in {where}: type it at a terminal, or set {PASSWORD_ENV}"
                               " for a script")
    return getpass.getpass(f"password for {user} ({where}): ")


def authenticate(store, user: str, where: str) -> str | None:
    """Prove that the person running the command is ``user``, as the GUI's sign-in does: where
    ``user`` has a password in this project, ask for it (one try; a script gives it in
    ``$PROOFDESK_PASSWORD``). Returns the password checked (None: ``user`` has none)."""
    if not store.has_password(user):
        return None
    secret = read_password(user, where)
    if not store.check_password(user, secret):
        log.warning("wrong password for %s in %s", user, where)
        raise PermissionDenied(f"wrong password for {user}")
    return secret


# -- system errors, one line each ------------------------------------------------------------------

def describe_system_error(exc: BaseException, project: str | None) -> str | None:
    """One line saying what happened and what to do, for errors of the system rather than of
    Proofdesk (a full disk, a read-only project); None for anything else (a bug)."""
    where = f" ({project})" if project else ""
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        text = str(exc).lower()
        if "disk is full" in text or "database or disk is full" in text:
            return (f"the disk holding the project is full{where}: free some space and run the command again"
                    " (the action that failed was not written; everything before it is kept)")
        if "readonly" in text or "read-only" in text:
            return (f"the project is read-only for you{where}: commands that change it need write access to"
                    " its folder and proofdesk.db (pages, export, stats, runs list and models list only read)")
        if "unable to open database" in text:
            return f"cannot open the project's database{where}: check that its folder exists and can be read"
        if "locked" in text:
            return f"the project's database stayed locked by another program{where}: close it and run again"
        if "malformed" in text or "not a database" in text:
            return (f"the project's database is damaged{where}: restore proofdesk.db from a backup"
                    " (nothing was written)")
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"no space left on the disk{name}: free some space and run the command again"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"permission denied or read-only file system{name}: {exc.strerror}"
        if exc.errno == errno.ENOENT:
            return f"no such file or folder{name}"
    if isinstance(exc, MemoryError):
        return "out of memory: close other programs, or use fewer --workers or smaller batches"
    from core.db import is_disk_full, operational_errors

    if is_disk_full(exc):  # the team server's disk
        return (f"the server's disk is full{where}: ask its administrator to free some space, then run the"
                " command again (the action that failed was not written; everything before it is kept)")
    if isinstance(exc, operational_errors()) and not isinstance(exc, sqlite3.Error):
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the project's database server failed{where}: {line}"
    return None
