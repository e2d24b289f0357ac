"""Plug-in engines for the tests, and how a test installs one.

A plug-in is an ordinary Python package that declares an entry point in the group
``proofdesk.engines``. Installed with pip, its ``pyproject.toml`` says::

    [project.entry-points."proofdesk.engines"]
    echo = "echo_engine:factory"

and pip writes ``echo_engine-0.1.dist-info/entry_points.txt``, which is what
``importlib.metadata.entry_points(group="proofdesk.engines")`` finds on ``sys.path``. The tests do
without pip: :func:`install` writes such a ``.dist-info`` folder into a temporary folder, which goes
on ``sys.path`` (and on ``PYTHONPATH`` for the processes a test starts; the pre-fill pool's spawned
workers get the parent's ``sys.path``) beside this folder, where the packages' code is.
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the plug-in packages (``echo_engine``, ``broken_engine``): goes on sys.path.
HERE = Path(__file__).resolve().parent


def install(site: Path, dist: str, entry_points: dict[str, str], version: str = "0.1") -> Path:
    """Declare distribution ``dist`` with ``entry_points`` (``{name: "module:factory"}``) in the group
    ``proofdesk.engines``, as pip would, in the folder ``site``. Returns its ``.dist-info`` folder."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[proofdesk.engines]\n{lines}", encoding="utf-8")
    return info
