"""A killed import leaves a sound project, and running the import again finishes the job."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PIL import Image

from core.importer import import_paths
from core.project import DB_NAME, Project

from ..conftest import check_consistent, image_bytes

#: A killed import must leave a sound project on a folder and on a team server alike: the test runs on both.
BOTH_BACKENDS = True

REPO = Path(__file__).resolve().parents[2]
N_FILES = 200

CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from core.importer import import_paths
    from core.project import Project
    project = Project.open(sys.argv[2])
    import_paths(project, [sys.argv[3]])
    print("finished", flush=True)
    """
)


def three_page_tiff(seed: int) -> bytes:
    frames = [Image.open(io.BytesIO(image_bytes(seed * 10 + k, (40, 30)))) for k in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def count_documents(location) -> int:
    """Read the count without ever writing to the database (read-only, no WAL checkpoint); on a
    server, through a connection of its own."""
    if isinstance(location, str):
        import psycopg

        from core.db import parse_url

        where = parse_url(location)
        with psycopg.connect(where.conninfo, autocommit=True) as conn:
            return conn.execute(f'SELECT COUNT(*) FROM "{where.project}".documents').fetchone()[0]
    db = Path(location) / DB_NAME
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:  # locked or not yet created: try again
        return 0
    finally:
        conn.close()


def test_sigkill_during_import_then_reimport(project, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Small PNGs (~3.6 kB, all different); every 10th file a 3-page TIFF, so a half-written
    # document would show.
    names = [f"scan_{i:03d}.{'tif' if i % 10 == 9 else 'png'}" for i in range(N_FILES)]
    for i, name in enumerate(names):
        (inbox / name).write_bytes(three_page_tiff(i) if name.endswith(".tif") else image_bytes(1000 + i, (40, 30)))
    location = project.location
    project.close()

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(location), str(inbox)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            killed_at = count_documents(location)
            if killed_at >= 5:
                break
            try:
                child.wait(timeout=0.005)  # returns only when the child has ended (too early)
                break
            except subprocess.TimeoutExpired:
                pass
        assert child.poll() is None, f"the child ended before it could be killed: {child.communicate()}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert killed_at >= 5

    project = Project.open(location)
    try:
        check_consistent(project)  # integrity, whole documents, every page image on disk
        docs = project.store.documents()
        assert killed_at <= len(docs) < N_FILES, "the kill must land in the middle of the batch"
        # Files are imported in sorted order, one committed transaction each: what survived is
        # exactly a prefix of the batch, every document with all its pages.
        assert [d.name for d in docs] == names[: len(docs)]
        assert [d.page_count for d in docs] == [3 if n.endswith(".tif") else 1 for n in names[: len(docs)]]
        n_pages = project.store.count_pages()
        assert n_pages == sum(d.page_count for d in docs)

        summary = import_paths(project, [inbox])
        assert summary.failures == []
        assert len(summary.duplicates) == len(docs)
        assert len(summary.imported) == N_FILES - len(docs)

        check_consistent(project)
        docs = project.store.documents()
        assert sorted(d.name for d in docs) == names
        total_pages = N_FILES + 2 * (N_FILES // 10)
        assert project.store.count_pages() == total_pages
        assert len({d.sha256 for d in docs}) == N_FILES
        assert len({p.image_sha256 for p in project.store.pages()}) == total_pages
    finally:
        project.close()
