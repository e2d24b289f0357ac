"""The command line's rough edges: system errors as one line, options anywhere, progress bars,
the log file, one version."""

from __future__ import annotations

import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from app import cli_support
from app.cli import main
from core.errors import ProofdeskError

ROOT = Path(__file__).resolve().parents[1]
PROOFDESK = [sys.executable, "-m", "app.cli"]


@pytest.fixture
def imported(project, make_image, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"p{i}.png").write_bytes(make_image(i))
    assert main(["import", str(project.root), str(src), "--quiet"]) == 0
    return project


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PROOFDESK_PASSWORD", None)
    return subprocess.run(PROOFDESK + args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, **kw)


# -- 11: system errors ----------------------------------------------------------------------------

def test_a_full_database_is_one_line_not_an_internal_error(imported, tmp_path, capsys):
    """SQLite's "database or disk is full", for real: the connection the command uses may not
    grow the file by one page (max_page_count), which is what a full disk does to it."""
    project = cli_support.open_project(str(imported.root))
    full = project.store.conn.execute("PRAGMA page_count").fetchone()[0]
    project.store.conn.execute(f"PRAGMA max_page_count = {full}")
    src = tmp_path / "more"
    src.mkdir()
    from tests.conftest import image_bytes

    for i in range(40):
        (src / f"m{i}.png").write_bytes(image_bytes(100 + i, size=(400, 300)))
    code = main(["import", str(imported.root), str(src), "--quiet"])
    err = capsys.readouterr()
    text = err.err + err.out
    assert code == 1 and "internal error" not in text and "cannot read" not in text, text
    assert "the disk holding the project is full" in text, text
    assert text.count("failed:") == 1  # it stopped: the next 39 files would fail the same way
    project.store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert len(imported.store.pages()) + text.count("imported 0") >= 3  # what was there is intact


def test_a_failed_write_is_not_called_a_failed_read(tmp_path):
    from core.importer import _disk_full, _os_failure

    with pytest.raises(OSError) as info, open("/dev/full", "wb") as fh:
        fh.write(b"x")
        fh.flush()
    assert "full" in _disk_full(info.value)
    denied = PermissionError(13, "Permission denied", str(tmp_path / "proj" / "pages" / "ab" / "x.png"))
    assert _os_failure(denied, tmp_path / "proj").startswith("cannot write")
    assert _os_failure(PermissionError(13, "Permission denied", "/elsewhere/x.png"), tmp_path / "proj").startswith(
        "cannot read")


def test_disk_full_when_writing_a_file_is_one_line():
    with pytest.raises(OSError) as info, open("/dev/full", "wb") as fh:
        fh.write(b"x" * 10)
        fh.flush()
    line = cli_support.describe_system_error(info.value, "p")
    assert line and "no space left" in line


def test_dates_are_validated(imported, capsys):
    for bad in (["--to", "2026-13-01"], ["--from", "garbage"]):
        code = main(["stats", str(imported.root), *bad])
        err = capsys.readouterr().err
        assert code == 1 and "internal error" not in err and "date" in err, err


def test_models_import_from_nowhere(imported, tmp_path, capsys):
    code = main(["models", "import", str(imported.root), "--from", str(tmp_path / "nonexistent"), "--run", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "internal error" not in err
    assert not (tmp_path / "nonexistent").exists()


def test_a_closed_pipe_ends_quietly(imported):
    root = str(imported.root)
    proc = subprocess.Popen(PROOFDESK + ["pages", root], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.read(5)
    proc.stdout.close()  # what `| head -c 5` does
    _, err = proc.communicate(timeout=120)
    assert b"Error" not in err and b"internal error" not in err, err
    assert proc.returncode in (0, 141, -13)


def _main_as_other_user(args: list[str], out: Path) -> tuple[int, str, str]:
    """``main(args)`` in a forked child that is not root (root reads and writes anything), with
    its stdout and stderr in files. Forked rather than exec'd: the interpreter may live where an
    unprivileged user cannot run it, so everything the commands need is imported first."""
    import app.cli_review  # noqa: F401
    import app.cli_training  # noqa: F401
    import core.export  # noqa: F401
    import ml.prefill  # noqa: F401

    o, e = out / "stdout.txt", out / "stderr.txt"
    pid = os.fork()
    if pid == 0:  # the child
        code = 99
        try:
            fo, fe = os.open(o, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), os.open(e, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fo, 1)
            os.dup2(fe, 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            code = main(args)
        except BaseException:  # noqa: BLE001 - report anything, never return into pytest
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), o.read_text(), e.read_text()


def test_a_read_only_project_still_lists_and_exports(imported, monkeypatch):
    """Before: every command, even `pages`, failed with an internal error (exit 2)."""
    # A project the OS user may only read (mode 555/444, as on a read-only share).
    base = Path(tempfile.mkdtemp(prefix="pd-ro-"))
    try:
        os.chmod(base, 0o777)
        root = base / "proj"
        shutil.copytree(imported.root, root)
        out = base / "out"
        out.mkdir()
        os.chmod(out, 0o777)
        for p in [root, *root.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        # The same commands once as root on the writable project first: whatever they import lazily
        # (gzip, psycopg's ctypes.util...) is then loaded, as the child may not read the stdlib.
        warm = Path(tempfile.mkdtemp(prefix="pd-warm-"))
        for args in (["pages", str(imported.root)], ["export", str(imported.root), str(warm / "x")],
                     ["stats", str(imported.root)]):
            assert main(args) == 0
        shutil.rmtree(warm, ignore_errors=True)
        monkeypatch.setenv("PROOFDESK_DATA_DIR", str(base / "data"))
        code, stdout, stderr = _main_as_other_user(["pages", str(root)], base)
        assert code == 0, stderr
        assert "3 page(s)" in stdout
        code, stdout, stderr = _main_as_other_user(["export", str(root), str(out / "x")], base)
        assert code == 0, stderr
        code, stdout, stderr = _main_as_other_user(["stats", str(root)], base)
        assert code == 0, stderr
        assert len(list((out / "x").glob("*.json"))) == 3
        # A command that writes says why it cannot, in one line.
        from tests.conftest import image_bytes

        src = base / "new"
        src.mkdir()
        (src / "new.png").write_bytes(image_bytes(99))
        code, stdout, stderr = _main_as_other_user(["import", str(root), str(src), "--quiet"], base)
        assert code == 1, stderr
        assert "read-only" in stderr and "internal error" not in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in imported.root.iterdir())
    finally:
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base)


# -- 12: global options after the command name ----------------------------------------------------

def test_global_options_work_after_the_command(imported, capsys):
    root = str(imported.root)
    assert main(["pages", root, "--user", "zed", "--debug"]) == 0
    assert main(["users", root, "--user", "zed", "--role", "zed", "admin"]) == 0
    assert imported.store.get_user("zed").role.value == "admin"
    # Given before the command, it is not overwritten by the command's own default.
    assert main(["--user", "amy", "users", root, "--role", "amy", "reviewer"]) == 1  # amy is not an admin
    capsys.readouterr()
    with pytest.raises(ProofdeskError):  # --debug after the command shows the traceback
        main(["models", "promote", root, "nope", "--debug", "--user", "zed"])


# -- 13: progress bars ----------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_fits_an_80_column_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    stream = _Tty()
    bar = cli_support.Progress("import", stream=stream)
    for i in range(1, 51):
        bar(i, 50, f"/some/long/folder/name/file-{i:04d}-with-a-rather-long-name.png")
    text = stream.getvalue()
    lines = [seg for seg in re.split(r"[\r\n]", text) if seg.strip()]
    assert text.count("\n") <= 1  # one line redrawn in place, not a line per file
    assert lines and max(len(seg) for seg in lines) <= 80


def test_no_bar_when_not_a_terminal(imported, tmp_path, make_image, capfd):
    src = tmp_path / "again"
    src.mkdir()
    (src / "x.png").write_bytes(make_image(77))
    assert main(["import", str(imported.root), str(src)]) == 0
    err = capfd.readouterr().err
    assert "\r" not in err and "[" not in err


def test_eval_reports_progress(sroie_dir, monkeypatch):
    calls = []
    from ml.evaluate import evaluate_dir

    evaluate_dir(sroie_dir, engine="classical", workers=0, limit=2, crops=False,
                 progress=lambda done, total, note="": calls.append((done, total)))
    assert calls and calls[-1] == (2, 2)


# -- 17: the log file -----------------------------------------------------------------------------

def test_errors_land_in_the_log_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROOFDESK_DATA_DIR", str(tmp_path / "data"))
    assert main(["pages", str(tmp_path / "no-such-project")]) == 1
    log = tmp_path / "data" / "logs" / "proofdesk.log"
    assert log.is_file() and "no such project folder" in log.read_text()
    capsys.readouterr()
    assert main(["pages", str(tmp_path / "no-such-project"), "--log-level", "debug"]) == 1
    assert "DEBUG" in capsys.readouterr().err or "INFO" in log.read_text()


def test_help_opens_the_log_folder(qtbot, project, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QDesktopServices

    from app.main_window import MainWindow

    monkeypatch.setenv("PROOFDESK_DATA_DIR", str(tmp_path / "data"))
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toLocalFile())))
    window = MainWindow(project, "ana", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.open_log_action.trigger()
    assert opened == [str(tmp_path / "data" / "logs")]


# -- 18: one version ------------------------------------------------------------------------------

def test_one_version_from_pyproject(capsys):
    from core import __version__

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == version
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"proofdesk {version}"
    # No second copy of the number in the code.
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("ml/**/*.py"), *ROOT.glob("app/**/*.py")]:
        assert not re.search(r"__version__\s*=\s*[\"']", path.read_text()), path
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog or f"## [{version}]" in changelog


def test_sqlite_errors_of_the_system_are_recognised():
    assert "full" in cli_support.describe_system_error(sqlite3.OperationalError("database or disk is full"), "p")
    assert "read-only" in cli_support.describe_system_error(
        sqlite3.OperationalError("attempt to write a readonly database"), "p")
    assert cli_support.describe_system_error(ValueError("x"), "p") is None


def test_server_errors_of_the_system_are_recognised():
    import psycopg

    assert "server's disk is full" in cli_support.describe_system_error(psycopg.errors.DiskFull("no space"), "p")
    line = cli_support.describe_system_error(psycopg.OperationalError("server closed the connection\ndetail"), "p")
    assert line == "the project's database server failed (p): server closed the connection"
    assert cli_support.describe_system_error(sqlite3.OperationalError("some new sqlite trouble"), "p") is None
