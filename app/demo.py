"""The demo project a new user sees on first start, made from the bundled samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.importer import ImportOptions, import_paths
from core.project import DB_NAME, Project
from core.resources import sample_receipts


def ensure_demo_project(folder: Path, user: str, progress: Callable[[int, int, str], None] | None = None) -> Project:
    """Open the demo project in ``folder``, creating and filling it first when needed."""
    if (folder / DB_NAME).exists():
        project = Project.open(folder)
        if project.store.count_pages() > 0:
            return project
    else:
        project = Project.create(folder)
    import_paths(project, sample_receipts(), ImportOptions(reference=True, user=user, batch="demo"),
                 progress=progress)
    # The demo pre-fills itself (in the background, once the window is up) so that a new user
    # sees what the machine read without configuring anything.
    project.store.set_setting("demo", True)
    project.store.set_setting("auto_prefill", True)
    return project
