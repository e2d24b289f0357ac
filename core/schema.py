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


@migrations(name="0002_review")
def _review(db: Database) -> None:
    """Verdicts kept per region, the QC review queue, annotator scores; indexes for the screens."""
    _run_script(
        db,
        """
        CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            prediction_id INTEGER REFERENCES predictions(id) ON DELETE CASCADE,
            engine TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            model_version TEXT,
            region_id INTEGER,               -- no foreign key: verdicts are rebuilt, never joined for writes
            pred_index INTEGER,              -- NULL for a region a person added (missing)
            kind TEXT NOT NULL CHECK (kind IN ('correct', 'wrong_text', 'wrong_box', 'deleted', 'missing')),
            edit_distance INTEGER NOT NULL DEFAULT 0,
            ref_chars INTEGER NOT NULL DEFAULT 0,
            iou REAL,
            confidence REAL,
            mark TEXT,                       -- a reviewer's explicit mark: correct / wrong
            annotator TEXT,                  -- who did the page (pages.done_by) when refreshed
            day TEXT NOT NULL                -- YYYY-MM-DD: when the page was done, else last changed
        );
        CREATE INDEX verdicts_page ON verdicts(page_id);
        CREATE INDEX verdicts_day ON verdicts(day, engine, model_version, kind);
        CREATE TABLE verdict_marks (
            region_id INTEGER PRIMARY KEY REFERENCES regions(id) ON DELETE CASCADE,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            mark TEXT NOT NULL CHECK (mark IN ('correct', 'wrong')),
            marked_by TEXT NOT NULL,
            marked_at TEXT NOT NULL
        );
        CREATE INDEX verdict_marks_page ON verdict_marks(page_id);
        CREATE TABLE verdict_state (
            page_id INTEGER PRIMARY KEY REFERENCES pages(id) ON DELETE CASCADE,
            page_updated_at TEXT NOT NULL,   -- pages.updated_at the verdicts were computed for
            refreshed_at TEXT NOT NULL,
            n_wrong INTEGER NOT NULL DEFAULT 0,  -- wrong text + wrong box + deleted + missing
            min_confidence REAL
        );
        CREATE TABLE review_queue (
            page_id INTEGER PRIMARY KEY REFERENCES pages(id) ON DELETE CASCADE,
            reasons TEXT NOT NULL,           -- comma list: sample, low_confidence, disagreement, resubmitted
            routed_at TEXT NOT NULL,
            annotator TEXT,
            blind INTEGER NOT NULL DEFAULT 1,
            seed INTEGER NOT NULL,
            share REAL NOT NULL,
            min_confidence REAL,
            reviewed_at TEXT                 -- NULL while waiting for a reviewer
        );
        CREATE INDEX review_queue_open ON review_queue(reviewed_at, routed_at);
        CREATE TABLE annotator_scores (
            id INTEGER PRIMARY KEY,
            review_id INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            regions INTEGER NOT NULL,
            changed INTEGER NOT NULL,        -- regions the reviewer changed, added or deleted
            edit_distance INTEGER NOT NULL,
            ref_chars INTEGER NOT NULL,      -- characters of the reviewed text
            iou_sum REAL NOT NULL,
            iou_n INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX annotator_scores_who ON annotator_scores(annotator, created_at);
        CREATE INDEX pages_done ON pages(done_at, done_by);
        CREATE INDEX pages_document ON pages(document_id);
        CREATE INDEX documents_imported ON documents(imported_at);
        CREATE INDEX reviews_page ON reviews(page_id, created_at);
        CREATE INDEX edits_user_ts ON edits(user, ts);
        CREATE INDEX regions_confidence ON regions(page_id, deleted, confidence);
        """,
    )


@migrations(name="0003_training")
def _training(db: Database) -> None:
    """Dataset versions, training runs (the experiment record) and the model registry."""
    _run_script(
        db,
        """
        CREATE TABLE dataset_versions (
            id INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,         -- sha256 of the manifest's samples and split
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            selection TEXT NOT NULL,           -- JSON: what was selected, the split rule
            n_train INTEGER NOT NULL,
            n_val INTEGER NOT NULL,
            n_pages INTEGER NOT NULL,
            manifest TEXT NOT NULL             -- path relative to the project folder
        );
        CREATE TABLE model_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            task TEXT NOT NULL,                -- recognition / detection
            path TEXT NOT NULL,                -- folder with model.onnx + model.json
            sha256 TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',-- JSON
            run_id INTEGER,                    -- the run that made it (NULL: shipped)
            parent_id INTEGER REFERENCES model_versions(id),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        );
        CREATE TABLE model_promotions (
            id INTEGER PRIMARY KEY,
            model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
            task TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('promote', 'rollback')),
            at TEXT NOT NULL,
            by TEXT NOT NULL
        );
        CREATE TABLE training_runs (
            id INTEGER PRIMARY KEY,
            dataset_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
            base_model_version_id INTEGER REFERENCES model_versions(id),
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            params TEXT NOT NULL,              -- JSON
            code_version TEXT,
            hardware TEXT,                     -- JSON
            environment TEXT,                  -- JSON
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            started_at TEXT,
            ended_at TEXT,
            duration_s REAL,
            cost REAL,
            log TEXT NOT NULL DEFAULT '',
            metrics TEXT NOT NULL DEFAULT '[]',-- JSON: one object per epoch
            artifact_path TEXT,
            artifact_sha256 TEXT,
            model_version_id INTEGER REFERENCES model_versions(id),
            verdict TEXT,
            error TEXT,
            pid INTEGER
        );
        CREATE INDEX training_runs_status ON training_runs(status);
        """,
    )


@migrations(name="0004_review_aggregates")
def _review_aggregates(db: Database) -> None:
    """Running totals the Analytics screen reads instead of scanning every verdict and edit.

    ``verdict_daily`` and ``confidence_hist`` count the verdicts of pages done or approved; they
    are kept by ``core.review.refresh_verdicts`` (the old rows of a page are subtracted, the new
    ones added); ``activity_daily`` by
    ``core.analytics.refresh_activity`` from the edit log, lazily. Both are filled here from what
    a database already holds.
    """
    _run_script(
        db,
        """
        CREATE TABLE verdict_daily (
            day TEXT NOT NULL,
            engine TEXT NOT NULL,
            version TEXT NOT NULL,           -- model_version, else engine_version
            annotator TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,              -- a verdict kind, or 'page' (pages counted)
            n INTEGER NOT NULL DEFAULT 0,
            edit_distance INTEGER NOT NULL DEFAULT 0,
            ref_chars INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, engine, version, annotator, kind)
        ) WITHOUT ROWID;
        CREATE TABLE confidence_hist (
            engine TEXT NOT NULL,
            version TEXT NOT NULL,
            bucket INTEGER NOT NULL,         -- CAST(confidence * 1000 AS INTEGER)
            n INTEGER NOT NULL DEFAULT 0,    -- predicted regions on pages done or approved
            correct INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (engine, version, bucket)
        ) WITHOUT ROWID;
        ALTER TABLE verdict_state ADD COLUMN in_hist INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE activity_daily (
            user TEXT NOT NULL,
            day TEXT NOT NULL,
            edits INTEGER NOT NULL,
            regions INTEGER NOT NULL,
            active_s REAL NOT NULL,
            PRIMARY KEY (user, day)
        ) WITHOUT ROWID;
        INSERT INTO verdict_daily (day, engine, version, annotator, kind, n, edit_distance, ref_chars)
            SELECT day, engine, COALESCE(model_version, engine_version), COALESCE(annotator, ''), kind,
                   COUNT(*), SUM(edit_distance), SUM(ref_chars)
            FROM verdicts WHERE page_id IN (SELECT id FROM pages WHERE status IN ('done', 'approved'))
            GROUP BY 1, 2, 3, 4, 5;
        INSERT INTO verdict_daily (day, engine, version, annotator, kind, n)
            SELECT day, engine, version, annotator, 'page', COUNT(*) FROM (
                SELECT DISTINCT page_id, day, engine, COALESCE(model_version, engine_version) AS version,
                       COALESCE(annotator, '') AS annotator FROM verdicts
                WHERE page_id IN (SELECT id FROM pages WHERE status IN ('done', 'approved'))) AS page_days
            GROUP BY 1, 2, 3, 4;
        INSERT INTO confidence_hist (engine, version, bucket, n, correct)
            SELECT v.engine, COALESCE(v.model_version, v.engine_version), CAST(v.confidence * 1000 AS INTEGER),
                   COUNT(*), SUM(CASE WHEN v.kind = 'correct' AND COALESCE(v.mark, '') != 'wrong' THEN 1 ELSE 0 END)
            FROM verdicts v JOIN pages p ON p.id = v.page_id
            WHERE p.status IN ('done', 'approved') AND v.pred_index IS NOT NULL AND v.confidence IS NOT NULL
            GROUP BY 1, 2, 3;
        UPDATE verdict_state SET in_hist = 1
            WHERE page_id IN (SELECT id FROM pages WHERE status IN ('done', 'approved'));
        """,
    )


@migrations(name="0005_team")
def _team(db: Database) -> None:
    """Page images and other files kept in the database, by sha256 (a team project's server holds
    them; a project folder keeps its images on disk and leaves this empty), the project's own
    files there (model versions, dataset manifests) by path, and page leases."""
    _run_script(
        db,
        """
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            ext TEXT NOT NULL,
            size INTEGER NOT NULL,
            data BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE leases (
            page_id INTEGER PRIMARY KEY REFERENCES pages(id) ON DELETE CASCADE,
            holder TEXT NOT NULL,             -- the user, or a pre-fill machine's worker name
            client TEXT NOT NULL,             -- the open store (window, worker) that holds it
            purpose TEXT NOT NULL,            -- annotate / review / prefill
            taken_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX leases_client ON leases(client);
        CREATE TABLE project_files (
            path TEXT PRIMARY KEY,            -- relative to the project folder: models/run-3/model.onnx
            sha256 TEXT NOT NULL,             -- its bytes are the blob of that hash
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    )


@migrations(name="0006_moderation_indexes")
def _moderation_indexes(db: Database) -> None:
    """The Moderate screen's engine, model version and confidence filters on a big project
    (docs/benchmarks.md, issue 14: 100,000 pages, 5,000,000 regions on PostgreSQL). "A region
    below confidence X" was answered by probing every page's regions (100,000 index probes); this
    index finds the few low-confidence regions directly. The predictions one holds everything the
    engine / model version filters and the filters' choices read, so they scan 5 MB instead of
    the predictions table with its regions (200 MB)."""
    _run_script(
        db,
        """
        CREATE INDEX regions_low_confidence ON regions(confidence, page_id) WHERE deleted = 0;
        CREATE INDEX predictions_versions ON predictions(engine, model_version, engine_version, page_id);
        """,
    )


@migrations(name="0007_text_layers")
def _text_layers(db: Database) -> None:
    """The text layer of each page of a born-digital PDF (issue 17, ``core/textlayer.py``): read at
    import while the page is open, so that pre-fill takes its lines as they are instead of reading
    the rendered page with OCR. Pages of images, and PDF pages whose layer could not be read, have
    no row; a layer that is there but not good enough (invisible text over a scan, too few glyphs,
    broken Unicode) has one with ``usable = 0`` and the reason."""
    _run_script(
        db,
        """
        CREATE TABLE text_layers (
            page_id INTEGER PRIMARY KEY REFERENCES pages(id) ON DELETE CASCADE,
            lines TEXT NOT NULL,             -- JSON: [{"points": [[x,y]*4], "text": ...}], page pixels
            image_areas TEXT NOT NULL,       -- JSON: [[x0,y0,x1,y1]], page pixels: what OCR reads
            glyphs INTEGER NOT NULL,         -- visible glyphs
            usable INTEGER NOT NULL,         -- 1: pre-fill takes its lines
            reason TEXT NOT NULL DEFAULT '', -- why not usable
            stats TEXT NOT NULL DEFAULT '{}',-- JSON: invisible, unmapped, map_errors, duplicates...
            source TEXT NOT NULL             -- what read it: pdfium-<build> textlayer-<recipe>
        );
        """,
    )


@migrations(name="0008_page_rotation")
def _page_rotation(db: Database) -> None:
    """Pages turned by hand (issue 17, ADR 0008): ``pages.rotation`` is the clockwise quarter turn
    (0, 90, 180, 270) the page is shown and read at, relative to its stored image (which never
    changes); region points are in the pixels of the page as shown. ``predictions.rotation`` is the
    turn of the page a prediction's points were made on, so a prediction made before a turn can
    still be compared with the regions after it."""
    _run_script(
        db,
        """
        ALTER TABLE pages ADD COLUMN rotation INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE predictions ADD COLUMN rotation INTEGER NOT NULL DEFAULT 0;
        """,
    )


@migrations(name="0009_page_fields")
def _page_fields(db: Database) -> None:
    """Key fields as a prediction and as people's data (issue 15, ``core/fields.py``).

    ``predictions.fields``: the fields an engine read (JSON list of ``FieldValue.to_json()``, each
    ``sources`` indexes into the prediction's ``regions``), immutable with the rest of the row.
    ``page_fields``: a page's value of each field, one row per (page, name), written by pre-fill
    from the prediction (``origin`` 'prediction') and changed by people through actions (every
    change an Edit ``field:<name>`` with the row's state before and after, so undo, the audit trail
    and crash recovery work as for regions). ``sources``: region ids (JSON); ``span``: JSON
    ``[start, end]`` in the first source's text; ``checked``: a person accepted it as it is;
    ``confirmed_by``: who set or checked it last; ``touched``: a person changed it (pre-fill never
    overwrites it then); ``version``: the stale-write check, as on a region."""
    _run_script(
        db,
        """
        ALTER TABLE predictions ADD COLUMN fields TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE page_fields (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            value TEXT,                      -- normalised (core.fields.normalise)
            currency TEXT,
            confidence REAL,
            sources TEXT NOT NULL DEFAULT '[]',  -- JSON: region ids
            span TEXT,                       -- JSON: [start, end] in the first source's text
            absent INTEGER NOT NULL DEFAULT 0,
            origin TEXT NOT NULL CHECK (origin IN ('prediction', 'human')),
            prediction_id INTEGER REFERENCES predictions(id) ON DELETE SET NULL,
            checked INTEGER NOT NULL DEFAULT 0,
            confirmed_by TEXT,
            touched INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            UNIQUE (page_id, name)
        );
        """,
    )


@migrations(name="0010_field_verdicts")
def _field_verdicts(db: Database) -> None:
    """Field verdicts (issue 15, ``core.verdicts.compute_field_verdicts``), stored and totalled like
    the region verdicts of 0002/0004 (ADR 0005): ``field_verdicts`` one row per field of a page's
    latest prediction that made its fields (and per final value it did not predict), rewritten with
    the region verdicts (``core.review.refresh_verdicts``: marking done, a review, stale pages);
    ``field_verdict_marks`` a reviewer's mark on a page's field, as ``verdict_marks`` on a region;
    ``field_verdict_daily`` and ``field_confidence_hist`` the running totals of pages done or
    approved, per field, engine, model version and day, and per 0.001-wide confidence bucket (the
    per-field auto-accept threshold). ``verdict_state`` gains the page's wrong fields (the Moderate
    filter) and whether its field verdicts are in the totals. Pages that already have field values
    are marked stale, so the screens' ``refresh_stale`` gives them field verdicts."""
    _run_script(
        db,
        """
        CREATE TABLE field_verdicts (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            prediction_id INTEGER REFERENCES predictions(id) ON DELETE CASCADE,
            engine TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            model_version TEXT,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('correct', 'correct_absent', 'wrong', 'missing', 'not_on_page')),
            predicted INTEGER NOT NULL,      -- 1: the prediction named the field (a value or absent)
            predicted_text TEXT NOT NULL DEFAULT '',
            predicted_value TEXT,
            predicted_absent INTEGER NOT NULL DEFAULT 0,
            final_text TEXT NOT NULL DEFAULT '',
            final_value TEXT,
            final_absent INTEGER NOT NULL DEFAULT 0,
            confidence REAL,
            mark TEXT,                       -- a reviewer's explicit mark: correct / wrong
            ok INTEGER NOT NULL,             -- right (correct, correct_absent) and not marked wrong
            annotator TEXT,
            day TEXT NOT NULL
        );
        CREATE INDEX field_verdicts_page ON field_verdicts(page_id);
        CREATE TABLE field_verdict_marks (
            page_id INTEGER NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            mark TEXT NOT NULL CHECK (mark IN ('correct', 'wrong')),
            marked_by TEXT NOT NULL,
            marked_at TEXT NOT NULL,
            PRIMARY KEY (page_id, name)
        );
        CREATE TABLE field_verdict_daily (
            day TEXT NOT NULL,
            engine TEXT NOT NULL,
            version TEXT NOT NULL,           -- model_version, else engine_version
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0,
            predicted INTEGER NOT NULL DEFAULT 0,
            ok INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, engine, version, name, kind)
        ) WITHOUT ROWID;
        CREATE TABLE field_confidence_hist (
            name TEXT NOT NULL,
            engine TEXT NOT NULL,
            version TEXT NOT NULL,
            bucket INTEGER NOT NULL,         -- CAST(confidence * 1000 AS INTEGER)
            n INTEGER NOT NULL DEFAULT 0,    -- predicted fields on pages done or approved
            correct INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (name, engine, version, bucket)
        ) WITHOUT ROWID;
        ALTER TABLE verdict_state ADD COLUMN n_wrong_fields INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE verdict_state ADD COLUMN fields_in_totals INTEGER NOT NULL DEFAULT 0;
        UPDATE verdict_state SET page_updated_at = '' WHERE page_id IN (SELECT page_id FROM page_fields);
        """,
    )


@migrations(name="0011_label_verdicts")
def _label_verdicts(db: Database) -> None:
    """A region's verdict keeps the field label its prediction gave it and the one it has now
    (``core.verdicts.label_wrong``: a form's answer people made a question); ``verdict_state``
    gains the page's wrong labels (the Moderate filter "with wrong labels"). Pages with labelled
    regions are marked stale, so the screens' ``refresh_stale`` gives them label verdicts."""
    _run_script(
        db,
        """
        ALTER TABLE verdicts ADD COLUMN pred_label TEXT;
        ALTER TABLE verdicts ADD COLUMN label TEXT;
        ALTER TABLE verdict_state ADD COLUMN n_wrong_labels INTEGER NOT NULL DEFAULT 0;
        UPDATE verdict_state SET page_updated_at = ''
            WHERE page_id IN (SELECT DISTINCT page_id FROM regions WHERE label IS NOT NULL)
               OR page_id IN (SELECT page_id FROM predictions WHERE regions LIKE '%"label": "%');
        """,
    )


@migrations(name="0012_label_totals")
def _label_totals(db: Database) -> None:
    """Form fields in Analytics: the label verdicts of pages done or approved join the field running
    totals (``core.review_store.label_totals_sql``: ``field_verdict_daily`` rows of kinds ``label``
    and ``label_missing``, named by the label). A region people added keeps its label in its
    verdict from now on, so pages with one are marked stale and re-graded when a screen opens."""
    from .review_store import label_totals_sql

    db.execute(label_totals_sql("page_id IN (SELECT page_id FROM verdict_state WHERE in_hist = 1)"))
    db.execute("UPDATE verdict_state SET page_updated_at = ''"
               " WHERE page_id IN (SELECT DISTINCT page_id FROM regions WHERE label IS NOT NULL AND origin = 'human')")


@migrations(name="0013_unreviewed_auto_accepts")
def _unreviewed_auto_accepts(db: Database) -> None:
    """A page auto-accepted and not reviewed since leaves the running totals (``in_hist``): the
    model figures and the auto-accept thresholds count the pages people finished, and such a page's
    regions are the machine's own. Those pages are marked stale: re-graded when a screen opens,
    their rows are taken out of the totals."""
    db.execute("UPDATE verdict_state SET page_updated_at = ''"
               " WHERE page_id IN (SELECT id FROM pages WHERE status = 'done' AND done_by = 'auto-accept')")


def _run_script(db, script: str) -> None:
    """Run SQL statements one at a time, on either backend (``db``: a sqlite-utils Database, or
    :class:`PgMigrator` which spells each statement for PostgreSQL).

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


def _refuse_unknown(applied: list[str]) -> None:
    known = set(known_migrations())
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise SchemaVersionError(
            "this project was written by a newer version of Proofdesk "
            f"(unknown schema migration {unknown[0]!r}); update Proofdesk to open it"
        )


def pending(db) -> list[str]:
    """The migrations ``db`` still needs, read only; SchemaVersionError when it is newer than us.

    ``db``: a sqlite-utils Database, or a :class:`PgMigrator`."""
    if isinstance(db, PgMigrator):
        applied = db.applied()
        _refuse_unknown(applied)
        return [name for name in known_migrations() if name not in set(applied)]
    _refuse_unknown([m.name for m in migrations.applied(db)])
    return [m.name for m in migrations.pending(db)]


def migrate(db) -> list[str]:
    """Bring ``db`` up to this code's schema; return the names of migrations applied.

    Raises SchemaVersionError when the database has migrations this code does not know.
    """
    todo = pending(db)
    if not todo:
        return todo
    if isinstance(db, PgMigrator):
        db.apply(todo)
    else:
        migrations.apply(db)
    return todo


class PgMigrator:
    """The same migrations on a project's PostgreSQL schema: each statement of a migration
    spelled for PostgreSQL (:func:`core.db.translate_ddl`), each migration and the record of it
    in one transaction (PostgreSQL's DDL is transactional), recorded in ``proofdesk_migrations``."""

    TABLE = "proofdesk_migrations"

    def __init__(self, conn):
        self.conn = conn  # a core.db.PgConnection whose search_path is the project's schema

    def applied(self) -> list[str]:
        exists = self.conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (self.conn.schema, self.TABLE)).fetchone()
        if not exists:
            return []
        return [r[0] for r in self.conn.execute(
            f"SELECT name FROM {self.TABLE} WHERE migration_set = ? ORDER BY applied_at, name", (MIGRATION_SET,))]

    def execute(self, statement: str) -> None:
        from .db import translate_ddl

        for sql in translate_ddl(statement):
            self.conn.raw.execute(sql)

    def apply(self, names: list[str]) -> None:
        from . import store as _store
        from .db import PG_PRELUDE

        by_name = {m.name: m for m in migrations._migrations}
        raw = self.conn.raw
        with raw.transaction():
            raw.execute(PG_PRELUDE)
            raw.execute(f"CREATE TABLE IF NOT EXISTS {self.TABLE} (migration_set TEXT NOT NULL, name TEXT NOT NULL,"
                        " applied_at TEXT NOT NULL, PRIMARY KEY (migration_set, name))")
        for name in names:
            with raw.transaction():
                by_name[name].fn(self)
                raw.execute(f"INSERT INTO {self.TABLE} (migration_set, name, applied_at) VALUES (%s, %s, %s)",
                            (MIGRATION_SET, name, _store.now()))
