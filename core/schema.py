"""Every table and every migration of a project database, in one place.

Migrations are applied in order on open (sqlite-utils ``Migrations``); each runs in its own
transaction. A database that has a migration this code does not know was written by a newer
Proofdesk, and is refused rather than guessed at.

Add a migration at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import SchemaVersionError

MIGRATION_SET = "proofdesk"
migrations = Migrations(MIGRATION_SET)


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    _run_script(
        db,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL              -- JSON
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'admin')),
            password_hash TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE fields (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            imported_by TEXT NOT NULL,
            batch TEXT NOT NULL,
            page_count INTEGER NOT NULL
        );
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            page_no INTEGER NOT NULL,
            name TEXT NOT NULL,
            image_sha256 TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            assignee TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            done_by TEXT,
            done_at TEXT,
            UNIQUE (document_id, page_no)
        );
        CREATE INDEX pages_status ON pages(status);
        CREATE TABLE page_references (
            page_id INTEGER PRIMARY KEY REFERENCES pages(id) ON DELETE CASCADE,
            lines TEXT NOT NULL,             -- JSON: [{"points": [[x,y]*4], "text": ...}]
            fields TEXT NOT NULL,            -- JSON: {"company": ...}
            source TEXT NOT NULL
        );
        CREATE TABLE predictions (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            engine TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            model_version TEXT,
            config TEXT NOT NULL,            -- JSON
            config_hash TEXT NOT NULL,
            regions TEXT NOT NULL,           -- JSON, immutable
            duration_s REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX predictions_page ON predictions(page_id, engine, config_hash);
        CREATE TRIGGER predictions_immutable BEFORE UPDATE ON predictions
        BEGIN
            SELECT RAISE(ABORT, 'predictions are immutable');
        END;
        CREATE TABLE regions (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            points TEXT NOT NULL,            -- JSON: [[x,y]*4], page pixels
            x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            label TEXT,
            confidence REAL,
            origin TEXT NOT NULL,            -- 'human' or 'prediction'
            prediction_id INTEGER REFERENCES predictions(id),
            pred_index INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0,
            locked INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1,
            touched INTEGER NOT NULL DEFAULT 0,  -- a person changed it
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );
        CREATE INDEX regions_page ON regions(page_id);
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            page_id INTEGER REFERENCES pages(id) ON DELETE CASCADE,
            user TEXT NOT NULL,
            ts TEXT NOT NULL,
            label TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'do' CHECK (kind IN ('do', 'undo', 'redo')),
            target INTEGER REFERENCES actions(id),
            undone INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX actions_page ON actions(page_id, user);
        CREATE TABLE edits (
            id INTEGER PRIMARY KEY,
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            ts TEXT NOT NULL,
            user TEXT NOT NULL,
            page_id INTEGER REFERENCES pages(id) ON DELETE CASCADE,
            region_id INTEGER REFERENCES regions(id) ON DELETE CASCADE,
            field TEXT NOT NULL,
            before TEXT,                     -- JSON
            after TEXT                       -- JSON
        );
        CREATE INDEX edits_action ON edits(action_id);
        CREATE INDEX edits_page ON edits(page_id);
        CREATE TRIGGER edits_append_only BEFORE UPDATE ON edits
        BEGIN
            SELECT RAISE(ABORT, 'the edit log is append-only');
        END;
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            reviewer TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('approved', 'rejected')),
            comment TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        """
    )


def _run_script(db: Database, script: str) -> None:
    """Run SQL statements one at a time.

    ``executescript`` would COMMIT first and so break the migration's transaction.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            db.execute(buffer)
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement: {buffer[:80]!r}")


def known_migrations() -> list[str]:
    return [m.name for m in migrations._migrations]


def migrate(db: Database) -> list[str]:
    """Bring ``db`` up to this code's schema; return the names of migrations applied.

    Raises SchemaVersionError when the database has migrations this code does not know.
    """
    known = set(known_migrations())
    applied = [m.name for m in migrations.applied(db)]
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise SchemaVersionError(
            "this project was written by a newer version of Proofdesk "
            f"(unknown schema migration {unknown[0]!r}); update Proofdesk to open it"
        )
    pending = [m.name for m in migrations.pending(db)]
    if pending:
        migrations.apply(db)
    return pending
