"""``export_project``: a project's pages as Proofdesk's reference JSON, one file per page.

Kept for callers of the first export (the selftest, scripts); every format, this one included,
is written by :mod:`core.formats` (``proofdesk export --format``).
"""

from __future__ import annotations

import os


def export_project(project, out: str | os.PathLike, copy_images: bool = True, status: str | None = None) -> int:
    """Write ``<out>/<page>.json`` (and the page image beside it); return the page count."""
    from .formats import ExportOptions
    from .formats.exporting import export

    return export(project, out, "reference", status=status, options=ExportOptions(copy_images=copy_images))
