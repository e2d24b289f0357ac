"""Export a project's pages as JSON, one file per page.

The file is the reference format (``image``, ``width``, ``height``, ``lines[].box``,
``lines[].text``, ``fields``) plus what only Proofdesk knows per line: field label,
confidence and origin. So an export can be evaluated with ``proofdesk eval`` or imported into
another project with ``--reference``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .project import Project


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "page"


def page_record(project: Project, page) -> dict:
    regions = project.store.regions(page.id)
    fields: dict[str, str] = {}
    for r in regions:
        if r.label:
            # Several regions with one label (an address over three lines) join in reading order.
            fields[r.label] = f"{fields[r.label]} {r.text}".strip() if r.label in fields else r.text
    image_name = project.images.path(page.image_sha256).name
    return {
        "image": image_name,
        "name": page.name,
        "width": page.width,
        "height": page.height,
        "status": page.status.value,
        "lines": [
            {
                "box": [c for p in r.points for c in p],
                "text": r.text,
                "label": r.label,
                "confidence": r.confidence,
                "origin": r.origin,
            }
            for r in regions
        ],
        "fields": fields,
    }


def export_project(project: Project, out: str | os.PathLike, copy_images: bool = True, status: str | None = None) -> int:
    """Write ``<out>/<page>.json`` (and the page image beside it); return the page count."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    used: set[str] = set()
    for page in project.store.pages(status):
        stem = _safe_name(Path(page.name).stem if page.page_no == 1 else page.name)
        base, n = stem, 2
        while stem in used:
            stem, n = f"{base}_{n}", n + 1
        used.add(stem)
        record = page_record(project, page)
        src = project.images.path(page.image_sha256)
        record["image"] = f"{stem}{src.suffix}"
        if copy_images:
            shutil.copyfile(src, out / record["image"])
        tmp = out / f".{stem}.json.tmp"
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, out / f"{stem}.json")
        count += 1
    return count
