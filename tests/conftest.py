"""Shared fixtures: a fresh project, the reference datasets, a consistency check, test images."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

#: ``/work/shared/datasets``: the ``shared`` folder beside the repository root.
DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory, monkeypatch):
    """The app's data folder (log file, demo project) of the tests, never the user's own; and
    the machine's time zone UTC, so that "which day" does not depend on where the suite runs
    (tests of time zones set their own)."""
    import time

    monkeypatch.setenv("PROOFDESK_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data-dir"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def project(tmp_path):
    from core.project import Project

    p = Project.create(tmp_path / "proj")
    yield p
    p.close()


@pytest.fixture
def sroie_dir() -> Path:
    d = DATASETS / "sroie-dev"
    assert d.is_dir(), f"reference dataset missing: {d}"
    return d


#: Training runs that take seconds, not minutes: a few lines, small batches.
TINY_TRAINING = {"max_lines": 12, "batch_size": 6, "val_lines": 6, "augment_copies": 0.5}
#: The validation share of :func:`labelled`'s dataset version.
LABELLED_VAL_SHARE = 0.5


@pytest.fixture
def labelled(project, sroie_dir, tmp_path):
    """Three sroie-dev receipts as people's work (their reference lines imported as labels): two
    training pages and one validation page, frozen into a dataset version. (project, version)"""
    import hashlib
    import shutil

    from core import datasets
    from core.importer import ImportOptions, import_paths

    src = tmp_path / "src"
    src.mkdir()
    train, val = [], []
    for img in sorted(sroie_dir.glob("*.jpg")):
        sha = hashlib.sha256(img.read_bytes()).hexdigest()
        (val if datasets.is_validation(sha, LABELLED_VAL_SHARE) else train).append(img)
        if len(train) >= 2 and val:
            break
    for img in train[:2] + val[:1]:
        shutil.copy(img, src / img.name)
        shutil.copy(img.with_suffix(".json"), src / img.with_suffix(".json").name)
    import_paths(project, [src], ImportOptions(labels=True, user="lead"))
    version, _ = datasets.create_version(project.store, project.root, "lead", val_share=LABELLED_VAL_SHARE)
    assert version.n_train and version.n_val
    return project, version


@pytest.fixture
def one_line_version(project, make_image, tmp_path):
    """A dataset version of one page with one line people confirmed: enough to record runs and
    registry rows (none is trained on it)."""
    from core import datasets
    from core.importer import ImportOptions, import_paths
    from core.model import PageStatus

    store = project.store
    img = tmp_path / "one-line.png"
    img.write_bytes(make_image(1))
    import_paths(project, [img], ImportOptions(user="lead"))
    page = store.pages()[0]
    store.add_region("lead", page.id, [[0, 0], [5, 0], [5, 2], [0, 2]], text="HELLO")
    store.set_page_status("lead", page.id, PageStatus.DONE)
    version, _ = datasets.create_version(store, project.root, "lead")
    return version


def image_bytes(seed: int, size=(32, 24), fmt="PNG", **save_kw) -> bytes:
    """A small noise image; different seeds give different content (and so different hashes)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **save_kw)
    return buf.getvalue()


@pytest.fixture
def make_image():
    return image_bytes


def check_consistent(project) -> None:
    """The database is sound and every page it names is complete and has its image on disk."""
    conn = sqlite3.connect(project.root / "proofdesk.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for doc_id, page_count in conn.execute("SELECT id, page_count FROM documents"):
            nos = [r[0] for r in conn.execute(
                "SELECT page_no FROM pages WHERE document_id = ? ORDER BY page_no", (doc_id,))]
            assert page_count >= 1 and nos == list(range(1, page_count + 1)), (doc_id, page_count, nos)
    finally:
        conn.close()
    for page in project.store.pages():
        assert project.image_path(page).is_file(), f"page {page.id} has no image file"


@pytest.fixture
def consistent():
    return check_consistent
