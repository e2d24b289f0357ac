"""Schema migrations: older databases are brought up to date on open; newer ones are refused."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from sqlite_utils import Database

from core import schema
from core.errors import SchemaVersionError
from core.project import DB_NAME, SUBDIRS, Project

INITIAL = "0001_initial"


@pytest.fixture
def extra_migration(monkeypatch):
    """Register a second migration for this test only (the real list is restored afterwards)."""
    monkeypatch.setattr(schema.migrations, "_migrations", list(schema.migrations._migrations))

    def register(name="0002_test_probe", fail=False):
        @schema.migrations(name=name)
        def _probe(db):
            db.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, note TEXT)")
            db.execute("ALTER TABLE documents ADD COLUMN probe_note TEXT")
            db.execute("UPDATE documents SET probe_note = 'migrated'")
            if fail:
                raise RuntimeError("migration failed half way")

        return name

    return register


def make_old_project(root, stop_before: str) -> None:
    """A project folder whose database has only the migrations before ``stop_before``, plus data."""
    root.mkdir()
    for sub in SUBDIRS:
        (root / sub).mkdir()
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    schema.migrations.apply(Database(conn), stop_before=stop_before)
    conn.execute("INSERT INTO documents (name, sha256, source, kind, imported_at, imported_by, batch, page_count)"
                 " VALUES ('old.png', 'abc', '/old.png', 'image', 'then', 'ana', 'b', 0)")
    conn.close()


def applied(root) -> list[str]:
    conn = sqlite3.connect(root / DB_NAME)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def db_snapshot(root) -> str:
    conn = sqlite3.connect(root / DB_NAME)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def test_a_new_project_has_every_known_migration(project):
    assert applied(project.root) == schema.known_migrations()
    assert schema.migrate(Database(project.store.conn)) == []  # nothing left to do


def test_an_older_database_is_migrated_on_open(tmp_path, extra_migration):
    name = extra_migration()
    root = tmp_path / "old"
    make_old_project(root, stop_before=name)
    shipped = [m for m in schema.known_migrations() if m != name]
    assert applied(root) == shipped  # really an "older" database

    p = Project.open(root)
    try:
        assert applied(root) == [*shipped, name]
        rows = p.store.query("SELECT name, probe_note FROM documents")
        assert [tuple(r) for r in rows] == [("old.png", "migrated")]  # data kept, migration ran on it
        assert p.store.query("SELECT COUNT(*) FROM probe")[0][0] == 0
        assert schema.migrate(Database(p.store.conn)) == []
    finally:
        p.close()


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, extra_migration):
    name = extra_migration(fail=True)
    root = tmp_path / "old"
    make_old_project(root, stop_before=name)
    before = db_snapshot(root)
    with pytest.raises(RuntimeError, match="half way"):
        Project.open(root)
    assert db_snapshot(root) == before
    assert applied(root) == [m for m in schema.known_migrations() if m != name]


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path, extra_migration):
    name = extra_migration()  # pending for this database: must NOT be applied either
    root = tmp_path / "new"
    make_old_project(root, stop_before=name)
    conn = sqlite3.connect(root / DB_NAME)
    with conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                     " VALUES (?, '0099_from_the_future', '2030-01-01')", (schema.MIGRATION_SET,))
    conn.close()
    before = db_snapshot(root)
    files_before = sorted(p.name for p in root.iterdir())

    with pytest.raises(SchemaVersionError) as info:
        Project.open(root)
    msg = str(info.value)
    assert "newer version of Proofdesk" in msg and "0099_from_the_future" in msg and "\n" not in msg

    assert db_snapshot(root) == before
    assert applied(root) == [*(m for m in schema.known_migrations() if m != name), "0099_from_the_future"]
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        n for n in files_before if not n.endswith(("-wal", "-shm"))]


def test_migrations_of_another_set_are_not_mistaken_for_newer_ones(project):
    root = project.root
    project.close()
    conn = sqlite3.connect(root / DB_NAME)
    with conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                     " VALUES ('some_plugin', '0001_plugin', '2030-01-01')")
    conn.close()
    Project.open(root).close()
