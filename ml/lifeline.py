"""Child processes that end when the process that started them is gone.

A pre-fill worker or a training worker whose parent is killed (SIGKILL, a crash, the app closed
by the OS) would otherwise run on, reparented to PID 1: pool workers block forever on their task
pipe (they hold its write end themselves, so it never reaches end-of-file).

    watch_parent(parent_pid)     # a pool worker, first thing: ends at once (os._exit)
    end_with_parent()            # a program started as a child (the training worker): stops
                                 # as if cancelled (SIGTERM), ended GRACE_S later at the latest

Two mechanisms, both on:

* Linux: the parent-death signal (``prctl(PR_SET_PDEATHSIG)``), sent by the kernel at once.
  It fires when the *thread* that started the child exits, not the process: ask for it only
  when that thread lives as long as the child should (the main thread; a pool started on a Qt
  pool thread, which may end while the app runs on, passes ``deathsig=None``).
* Everywhere: a daemon thread that notices the parent is gone (``os.getppid()`` no longer the
  parent's pid, every :data:`POLL_S`; on Windows, where orphans are not reparented, a wait on the
  parent's process handle).

Right after setting the signal the parent pid is checked once: a parent that died before (the
signal would never come) is noticed at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
from typing import Callable

#: Seconds between two looks at the parent pid.
POLL_S = 0.25
#: Exit status of a process that found its parent gone.
ORPHAN_EXIT = 75
#: Seconds a graceful ``on_orphan`` gets before the process is ended anyway (as long as the app
#: gives a cancelled training worker, app/training/process.py).
GRACE_S = 15.0
#: The pid of the parent, set by a parent that starts a program (not a multiprocessing child,
#: which gets it as an argument): it closes the race of a parent gone before the child looked.
PARENT_ENV = "PROOFDESK_PARENT_PID"

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(signum: int) -> bool:
    """Linux: have the kernel send ``signum`` to this process when its parent thread exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_now() -> None:
    """The default ``on_orphan``: end at once (a pool worker has nothing to save)."""
    os._exit(ORPHAN_EXIT)


def stop_gracefully() -> None:
    """The ``on_orphan`` of a program that stops cleanly on SIGTERM (the training worker).

    Whoever read its output is gone: output to a pipe goes to /dev/null first, or its next
    progress line would fail (BrokenPipeError) before it gets to stop cleanly."""
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
    os.kill(os.getpid(), signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists
        return True
    return True


def _initial_parent() -> int:
    """The parent's pid: :data:`PARENT_ENV` when it set it, else ``os.getppid()``."""
    env = os.environ.pop(PARENT_ENV, "")  # not for this process's own children
    ppid = os.getppid()
    if env.strip().isdigit() and int(env) != ppid and sys.platform != "win32" and not _alive(int(env)):
        return int(env)  # it started us and is gone already: we were reparented
    return ppid  # (a live pid other than our parent: set by a grandparent, e.g. around torchrun)


def _parent_waiter(parent_pid: int) -> Callable[[], None] | None:
    """Windows: a function that returns once the parent has exited (None if it cannot tell)."""
    try:
        import ctypes
        from ctypes import wintypes

        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.OpenProcess.restype = wintypes.HANDLE
        k32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        k32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
        handle = k32.OpenProcess(0x00100000, False, parent_pid)  # SYNCHRONIZE
        if not handle:
            return None
        return lambda: k32.WaitForSingleObject(handle, 0xFFFFFFFF)  # INFINITE
    except (OSError, AttributeError, ImportError):
        return None


def watch_parent(
    parent_pid: int | None = None,
    deathsig: int | None = signal.SIGKILL,
    on_orphan: Callable[[], None] = exit_now,
    poll_s: float = POLL_S,
) -> int:
    """End this process when its parent is gone; returns the parent pid it watches.

    ``parent_pid``: the pid of the process that started this one (None: :func:`_initial_parent`).
    ``deathsig``: the Linux parent-death signal, None for none. With a graceful ``on_orphan``
    (anything but :func:`exit_now`) the signal gets a handler that calls it, so call this on the
    main thread then. ``on_orphan`` runs once, from that handler, the watchdog thread or (parent
    gone already) the caller; :data:`GRACE_S` after a graceful one the process is ended anyway.
    """
    if parent_pid is None:
        parent_pid = _initial_parent()
    graceful = on_orphan is not exit_now
    once = threading.Lock()

    def orphaned() -> None:
        if once.acquire(blocking=False):
            with contextlib.suppress(Exception):
                on_orphan()
            if graceful:
                deadline = threading.Timer(GRACE_S, exit_now)
                deadline.daemon = True  # a worker that ends before exits as it would
                deadline.start()

    if deathsig is not None and graceful and deathsig != signal.SIGKILL:
        if threading.current_thread() is threading.main_thread():
            signal.signal(deathsig, lambda signum, frame: orphaned())
        else:
            deathsig = None  # no handler for it: the watchdog alone
    if deathsig is not None:
        set_parent_death_signal(deathsig)
    waiter = _parent_waiter(parent_pid) if sys.platform == "win32" else None
    if sys.platform != "win32" and os.getppid() != parent_pid:  # gone before the signal was set
        orphaned()
        return parent_pid

    def watch() -> None:
        if waiter is not None:
            waiter()
        elif sys.platform == "win32":
            return  # no handle on the parent: nothing to watch
        else:
            while os.getppid() == parent_pid:
                threading.Event().wait(poll_s)
        orphaned()

    threading.Thread(target=watch, name="proofdesk-lifeline", daemon=True).start()
    return parent_pid


def end_with_parent() -> int:
    """For a program its parent started and reads (the training worker): when the parent is
    gone, stop as if cancelled (SIGTERM, output to a pipe dropped), ended :data:`GRACE_S` later
    at the latest. The parent-death signal is SIGHUP ("the other end hung up"), handled here."""
    return watch_parent(deathsig=signal.SIGHUP if hasattr(signal, "SIGHUP") else None, on_orphan=stop_gracefully)
