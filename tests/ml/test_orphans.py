"""Killing a process that started pre-fill workers (or a training worker) leaves nothing behind.

A `proofdesk prefill` killed with SIGKILL used to leave its pool workers (and the multiprocessing
resource tracker) running forever, reparented to PID 1 and blocked on a pipe; a training worker
ran on until its next output line failed. These tests kill the parent mid-run and look at its
session in /proc (Linux only).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from core.importer import ImportOptions, import_paths
from core.prefill_engine import set_prefill_engine
from core.project import Project

ROOT = Path(__file__).resolve().parents[2]
SROIE = ROOT.parent / "shared" / "datasets" / "sroie-dev"

# These read the process tree from /proc: the suite runs on Linux (the Makefile's Debian set-up).

#: Generous: CI runs these at a load of 5-7 on 2 cores.
START_DEADLINE_S = 90
#: How long the orphans get to notice their parent is gone.
EXIT_DEADLINE_S = 5


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session_processes(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session ``sid``: pid -> command line."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is not None and st[0] != "Z" and int(st[3]) == sid:
            out[int(entry)] = _cmdline(int(entry))
    return out


def _nice(pid: int) -> int | None:
    st = _stat(pid)
    return None if st is None else int(st[16])  # field 19 of stat: nice


def _kill_session(sid: int) -> None:
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _committed(root: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{root / 'proofdesk.db'}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _wait_gone(sid: int) -> dict[int, str]:
    deadline = time.monotonic() + EXIT_DEADLINE_S
    left = session_processes(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = session_processes(sid)
    return left


def _kill_when_workers_run(cmd: list[str], log_path: Path, progress: Callable[[], int]) -> tuple[dict, int]:
    """Start ``cmd`` in a session of its own, SIGKILL it once its 2 pool workers are at work, and
    return (its processes still alive EXIT_DEADLINE_S later, ``progress()`` after the kill)."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sid = proc.pid
    try:
        # Ready when both workers have run their initializer, which renices them above the
        # parent (at nice 19 already, nothing can show it: then when two pages are done).
        deadline = time.monotonic() + START_DEADLINE_S
        parent_nice = _nice(proc.pid)
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [pid for pid, cmd in session_processes(sid).items()
                       if "spawn_main" in cmd and (_stat(pid) or ["", ""])[1] == str(proc.pid)]
            ready = [pid for pid in workers if (_nice(pid) or 0) > parent_nice]
            if len(ready) >= 2 or (parent_nice >= 19 and len(workers) >= 2 and progress() >= 2):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the workers did not start (exit code {proc.poll()}): "
                        f"{log_path.read_text(errors='replace')[-2000:]}")
        assert len(workers) == 2, session_processes(sid)
        proc.kill()
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL  # killed, not finished already
        return _wait_gone(sid), progress()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_session(sid)
        log.close()


def test_killing_prefill_leaves_no_worker_behind(tmp_path):
    """`proofdesk prefill` starts its pool on the main thread: the workers get the parent-death
    signal (Linux) and the watchdog; the resource tracker ends when they do."""
    n_pages = 16  # ~0.5-1 s of one core each: the run is far from over when it is killed
    project = Project.create(tmp_path / "p")
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:n_pages], ImportOptions())
    set_prefill_engine(project.store, "classical")
    root = project.root
    project.close()
    cmd = [sys.executable, "-m", "app.cli", "prefill", str(root), "--engine", "classical", "--workers", "2"]
    left, committed = _kill_when_workers_run(cmd, tmp_path / "prefill.log", lambda: _committed(root))
    assert not left, f"{len(left)} process(es) left behind: {left}"
    assert committed < n_pages  # it was killed mid-run


#: A pool started on a thread that is not the main one, like the app's pre-fill (a Qt pool
#: thread): no parent-death signal there, the workers' watchdog alone ends them.
THREAD_SCRIPT = """
import sys, threading
from ml.pool import prefill_pages

def run():
    for r in prefill_pages([(p, p) for p in sys.argv[1:]], "classical", workers=2):
        print(r.page_id, r.error, flush=True)

t = threading.Thread(target=run)
t.start()
t.join()
"""


def test_killing_a_process_with_a_pool_on_another_thread_leaves_no_worker_behind(tmp_path):
    pages = [str(p) for p in sorted(SROIE.glob("*.jpg"))[:16]]
    log_path = tmp_path / "pool.log"

    def done() -> int:
        return log_path.read_text(errors="replace").count(" None\n") if log_path.exists() else 0

    left, finished = _kill_when_workers_run([sys.executable, "-c", THREAD_SCRIPT, *pages], log_path, done)
    assert not left, f"{len(left)} process(es) left behind: {left}"
    assert finished < len(pages)


#: What `proofdesk train` and the app do with the training worker: start it, read its lines.
SUPERVISOR_SCRIPT = """
import subprocess, sys
proc = subprocess.Popen([sys.executable, "-m", "ml.training", *sys.argv[1:]], stdout=subprocess.PIPE)
for line in proc.stdout:
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
"""


def test_a_training_worker_whose_parent_is_killed_stops_as_cancelled(labelled, tmp_path):
    from app.training.command import worker_env
    from core import runs

    from ..conftest import TINY_TRAINING

    project, version = labelled
    run = runs.create(project.store, "lead", version.id, {**TINY_TRAINING, "epochs": 50})
    log_path = tmp_path / "supervisor.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR_SCRIPT, str(project.root), str(run.id)], cwd=ROOT,
                            stdout=log, stderr=subprocess.DEVNULL, env=worker_env(), start_new_session=True)
    sid = proc.pid
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while '"stage": "train"' not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text(errors="replace")
            time.sleep(0.05)
        (worker,) = [pid for pid in session_processes(sid) if pid != proc.pid]
        proc.kill()
        proc.wait(timeout=30)
        left = _wait_gone(sid)
        assert not left, f"{len(left)} process(es) left behind: {left}"
        record = runs.get(project.store, run.id)
        assert record.status == "cancelled", (record.status, record.error)  # not a broken pipe
        assert worker not in session_processes(sid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_session(sid)
        log.close()


def test_a_child_whose_parent_died_before_it_looked_ends_at_once():
    """The race the parent-death signal leaves: the parent gone before the child set it. The
    parent's pid (given, or PROOFDESK_PARENT_PID) is then not the child's parent any more."""
    from ml.lifeline import ORPHAN_EXIT, PARENT_ENV

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    script = "import time; from ml.lifeline import watch_parent; watch_parent(); time.sleep(60)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, PARENT_ENV: str(gone.pid)},
                         timeout=50)
    assert out.returncode == ORPHAN_EXIT
    # A live pid that is not the parent (set further up, e.g. around torchrun) is no reason to end.
    script = "from ml.lifeline import watch_parent; import os; assert watch_parent() == os.getppid()"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, PARENT_ENV: "1"}, timeout=50)
    assert out.returncode == 0
