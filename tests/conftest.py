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
def backend(request):
    """Where the ``project`` fixture's database lives: "sqlite" (a project folder), unless the
    test module sets ``BOTH_BACKENDS = True``: then each of its tests runs on both, the second
    time on a project of the session's PostgreSQL server (a fresh database per test)."""
    return getattr(request, "param", "sqlite")


def pytest_generate_tests(metafunc):
    if (getattr(metafunc.module, "BOTH_BACKENDS", False) and "backend" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("folder_only") is None):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def project(tmp_path, backend, request):
    from core.project import Project

    if backend == "postgresql":
        p = Project.create(request.getfixturevalue("pg_database") + "/proj")
    else:
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
    """The database is sound and every page it names is complete and has its image on disk (on
    a team project: on the server, fetched into this machine's cache)."""
    if project.server:  # PostgreSQL checks its foreign keys itself, at every commit
        conn = project.store.conn
    else:
        conn = sqlite3.connect(project.root / "proofdesk.db")
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    try:
        for doc_id, page_count in conn.execute("SELECT id, page_count FROM documents"):
            nos = [r[0] for r in conn.execute(
                "SELECT page_no FROM pages WHERE document_id = ? ORDER BY page_no", (doc_id,))]
            assert page_count >= 1 and nos == list(range(1, page_count + 1)), (doc_id, page_count, nos)
    finally:
        if not project.server:
            conn.close()
    for page in project.store.pages():
        assert project.image_path(page).is_file(), f"page {page.id} has no image file"


@pytest.fixture
def consistent():
    return check_consistent


# -- PostgreSQL: one throwaway server per session (tests/pgserver.py), a fresh database per test ------

#: pytest-timeout's limit (120 s, pyproject.toml) covers fixture set-up too, and the first test that
#: asks for the server pays its initdb and start, each waited on for up to 120 s (pg_ctl -w -t 120): so
#: tests using the server get this limit, unless they set their own.
PG_TEST_TIMEOUT = 400


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(PG_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of this session (superuser pdadmin; see tests/pgserver.py): started by the
    first test that asks for it, stopped and deleted at the end (or at exit, should the session die)."""
    import atexit

    from tests.pgserver import PgServer

    server = PgServer()
    atexit.register(server.stop)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture
def pg_database(pg_server):
    """A fresh, empty database of its own on the session's server; its URL (postgresql://...). Dropped
    afterwards, whatever connections the test left open."""
    import uuid

    name = f"test_{uuid.uuid4().hex[:16]}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)
