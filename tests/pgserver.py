"""A throwaway PostgreSQL server for the tests: a fresh cluster in a temp folder, on a free local port.

    with PgServer() as server:
        url = server.create_database("t1")   # postgresql://pdadmin:...@127.0.0.1:PORT/t1

It needs the server binaries (Debian's ``postgresql`` package): ``initdb``, ``pg_ctl`` and ``postgres``
from PATH, else from the newest ``/usr/lib/postgresql/*/bin``. PostgreSQL refuses to run as root, so
as root the cluster belongs to, and runs as, the ``postgres`` OS user (``runuser -u postgres``); as
anyone else it runs as the current user. Waits are on PostgreSQL's own signals (``pg_ctl -w``) with
generous limits, never on tight wall-clock guesses: CI machines are small and loaded.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

#: Seconds pg_ctl waits for the server to start or stop (``pg_ctl -t``).
WAIT_S = 120
#: A safety net on every subprocess, well above WAIT_S: pg_ctl's own limit is the one that should fire.
SUBPROCESS_LIMIT_S = 2 * WAIT_S + 60
SUPERUSER = "pdadmin"
OS_USER = "postgres"
REQUIRED = ("initdb", "pg_ctl", "postgres")
#: What a server log says when the chosen port was taken between choosing it and binding it.
_PORT_TAKEN = re.compile(r"could not bind|address already in use", re.IGNORECASE)
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def find_bindir() -> Path:
    """The folder of initdb, pg_ctl and postgres: PATH's (symlinks resolved: Debian links some of
    them into /usr/local/bin, not the others), else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        d = Path(os.path.realpath(on_path)).parent
        if all((d / b).is_file() for b in REQUIRED):
            return d

    def version(p: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", Path(p).parent.name))

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all((Path(d) / b).is_file() for b in REQUIRED):
            return Path(d)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install the Debian package `postgresql` "
        "(apt-get install postgresql; `make setup` does it as root)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One throwaway PostgreSQL cluster; :meth:`start` it, :meth:`stop` it (which deletes it)."""

    def __init__(self, bindir: str | Path | None = None):
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.as_root = os.geteuid() == 0
        self.password = secrets.token_urlsafe(24)
        self.port: int | None = None
        self.base: Path | None = None
        self.started = False

    # -- paths -------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "postgres.log"

    # -- running the binaries ----------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", OS_USER, "--", *cmd]
        # No PG* variables of the caller's (PGDATA, PGPORT, PGHOST...): every setting is explicit.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        proc = subprocess.run(cmd, cwd=self.base, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=SUBPROCESS_LIMIT_S)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}{self._log_tail()}")
        return proc

    def _log_tail(self, n: int = 30) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"\n--- last lines of {self.logfile} ---\n" + "\n".join(lines[-n:])

    def _make_base(self) -> Path:
        """The temp folder of the cluster. As root it is handed to the postgres user (mode 0700):
        mkdtemp's folder is root's and 0700, which postgres could not enter."""
        for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
            base = Path(tempfile.mkdtemp(prefix="pgserver-", dir=parent))
            if not self.as_root:
                return base
            shutil.chown(base, OS_USER, OS_USER)
            base.chmod(0o700)
            # Every folder above must let postgres through too (a TMPDIR under /root would not).
            if subprocess.run(["runuser", "-u", OS_USER, "--", "test", "-w", str(base)]).returncode == 0:
                return base
            shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"the {OS_USER} OS user cannot reach a temp folder under {tempfile.gettempdir()} or /tmp")

    def _write_owned(self, path: Path, text: str, mode: int = 0o600) -> None:
        path.write_text(text)
        path.chmod(mode)
        if self.as_root:
            shutil.chown(path, OS_USER, OS_USER)

    # -- set up, start, stop ---------------------------------------------------------------
    def init(self) -> None:
        """initdb a fresh cluster (superuser pdadmin, a random password, SCRAM auth) and configure it."""
        self.base = self._make_base()
        pwfile = self.base / "pwfile"
        self._write_owned(pwfile, self.password + "\n")
        try:
            for locale in ("C.UTF-8", "C"):
                shutil.rmtree(self.datadir, ignore_errors=True)
                proc = self._run("initdb", "-D", str(self.datadir), "-A", "scram-sha-256", f"--pwfile={pwfile}",
                                 "-U", SUPERUSER, "--encoding=UTF8", f"--locale={locale}", "--no-sync", check=False)
                if proc.returncode == 0:
                    break
            else:
                raise RuntimeError(f"initdb failed (exit {proc.returncode}):\n{proc.stdout}")
        finally:
            pwfile.unlink(missing_ok=True)
        (self.datadir / "pg_hba.conf").write_text(  # initdb's file: overwriting keeps its owner
            "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
            "local   all       all                 scram-sha-256\n"
            "host    all       all   127.0.0.1/32  scram-sha-256\n")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("\n# Throwaway test server (tests/pgserver.py)\ninclude 'pgserver.conf'\n")
        self._write_settings(free_port())

    def _write_settings(self, port: int) -> None:
        self.port = port
        self._write_owned(self.datadir / "pgserver.conf", (
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{self.base}'\n"
            # Test speed: a crash loses a throwaway cluster, nothing else.
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
            "shared_buffers = 128MB\n"))

    def start(self) -> PgServer:
        """initdb (first time) and start the server; wait until it accepts connections."""
        try:
            if self.base is None:
                self.init()
            for attempt in range(3):
                self.logfile.unlink(missing_ok=True)
                proc = self._run("pg_ctl", "-w", "-t", str(WAIT_S), "-D", str(self.datadir), "-l", str(self.logfile),
                                 "start", check=False)
                if proc.returncode == 0:
                    self.started = True
                    return self
                log = self._log_tail()
                if attempt < 2 and _PORT_TAKEN.search(log):  # the port was taken since we chose it: pick another
                    self._write_settings(free_port())
                    continue
                raise RuntimeError(f"PostgreSQL did not start (pg_ctl exit {proc.returncode}):\n{proc.stdout}{log}")
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: it is thrown away) and delete its folder. Idempotent."""
        if self.base is None:
            return
        try:
            pidfile = self.datadir / "postmaster.pid"
            if pidfile.exists():
                proc = self._run("pg_ctl", "-w", "-t", str(WAIT_S), "-D", str(self.datadir), "-m", "immediate",
                                 "stop", check=False)
                if proc.returncode != 0 and pidfile.exists():
                    self._kill_postmaster(pidfile)
        finally:
            base, self.base, self.started = self.base, None, False
            shutil.rmtree(base, ignore_errors=True)

    @staticmethod
    def _kill_postmaster(pidfile: Path) -> None:
        """pg_ctl could not stop it: SIGQUIT (immediate shutdown) the postmaster named in postmaster.pid."""
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.2)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------------
    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        if self.port is None:
            raise RuntimeError("the server has no port yet: start() it first")
        pw = self.password if password is None else password
        return f"postgresql://{quote(user, safe='')}:{quote(pw, safe='')}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def _admin(self):
        import psycopg

        return psycopg.connect(self.url(), autocommit=True, connect_timeout=WAIT_S)

    def create_database(self, name: str) -> str:
        """A fresh, empty database (owned by the superuser); its URL."""
        from psycopg import sql

        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(dbname=name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open to it."""
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
