"""How to start the training worker as a child process (the CLI and the Training screen both do).

In the frozen app the executable is the app itself, so the worker is ``<app> worker train``;
from a checkout or an installed package it is ``python -m app.cli worker train``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def worker_command(project_root: str | Path, run_id: int) -> list[str]:
    """The argv of the worker for run ``run_id`` of the project at ``project_root`` (a folder, or a
    team project's URL: named without its password, which :func:`worker_env` passes)."""
    from core.db import is_url, parse_url

    where = parse_url(project_root).display if is_url(project_root) else str(Path(project_root).resolve())
    args = ["worker", "train", where, "--run", str(run_id)]
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "app.cli", *args]


def worker_env(project_root: str | Path | None = None) -> dict[str, str]:
    """The child's environment: unbuffered output (JSON lines arrive as they are printed); for a
    team project the login's password (never on the command line, where `ps` shows it)."""
    env = dict(os.environ)
    if isinstance(project_root, str) and project_root.startswith("postgresql://"):
        from urllib.parse import unquote, urlsplit

        password = urlsplit(project_root).password
        if password is not None:
            env["PROOFDESK_PASSWORD"] = unquote(password)
    env["PYTHONUNBUFFERED"] = "1"
    # The worker ends with its parent (ml.lifeline); this pid closes the race of a parent killed
    # while the worker is still starting.
    env["PROOFDESK_PARENT_PID"] = str(os.getpid())
    root = str(Path(__file__).resolve().parents[2])
    if not getattr(sys, "frozen", False):
        # `python -m app.cli` must find this checkout even when started from another folder.
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
