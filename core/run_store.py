"""The SQL of training: training runs, dataset versions and the model registry, as methods of the store.

``core.runs``, ``core.datasets`` and ``core.registry`` decide *what* to read and write (and
``core.project`` which model folders are leftovers); the statements live here, in a mixin
:class:`core.store.Store` inherits, so all SQL sits behind the store's interface. The methods use
``self.conn`` / ``self.query`` / ``self.transaction()`` like the rest of the store: a write opens
its own transaction, and inside an open one (``with store.transaction():``) joins it, so a
read-then-write of the logic stays one transaction.

Every statement is written once in the SQL both backends share (docs/adr/0006).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from .review_store import CONFIRMED_PAGES


class RunQueries:
    """Training run, dataset version and model registry SQL; mixed into :class:`core.store.Store`
    (which gives it ``conn``, ``query`` and ``transaction``)."""

    # -- training runs ---------------------------------------------------------------------------
    def run_row(self, run_id: int) -> sqlite3.Row | None:
        """A training run's stored row (None when there is no such run)."""
        rows = self.query("SELECT * FROM training_runs WHERE id = ?", (run_id,))
        return rows[0] if rows else None

    def run_rows(self) -> list[sqlite3.Row]:
        """Every training run's row, oldest first."""
        return self.query("SELECT * FROM training_runs ORDER BY id")

    def insert_queued_run(self, dataset_version_id: int, base_model_version_id: int | None, status: str,
                          params: str, created_at: str, created_by: str) -> int:
        """Add a run record (``params``: JSON text); returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO training_runs (dataset_version_id, base_model_version_id, status, params, created_at,"
                " created_by) VALUES (?,?,?,?,?,?)",
                (dataset_version_id, base_model_version_id, status, params, created_at, created_by),
            )
            return cur.lastrowid

    def insert_finished_run(self, *, dataset_version_id: int, base_model_version_id: int | None, status: str,
                            params: str, code_version: str | None, hardware: str, environment: str,
                            created_at: str, created_by: str, started_at: str | None, ended_at: str | None,
                            duration_s: float | None, cost: float | None, log: str, metrics: str,
                            artifact_path: str, artifact_sha256: str, verdict: str | None) -> int:
        """Add the whole record of a run done elsewhere (JSON text for params, hardware,
        environment, metrics); returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO training_runs (dataset_version_id, base_model_version_id, status, params, code_version,"
                " hardware, environment, created_at, created_by, started_at, ended_at, duration_s, cost, log, metrics,"
                " artifact_path, artifact_sha256, verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (dataset_version_id, base_model_version_id, status, params, code_version, hardware, environment,
                 created_at, created_by, started_at, ended_at, duration_s, cost, log, metrics, artifact_path,
                 artifact_sha256, verdict))
            return cur.lastrowid

    def run_start_state(self, run_id: int) -> sqlite3.Row | None:
        """``(status, pid, hardware, started_at)`` of a run (None when there is no such run)."""
        return self.conn.execute("SELECT status, pid, hardware, started_at FROM training_runs WHERE id = ?",
                                 (run_id,)).fetchone()

    def set_run_running(self, run_id: int, pid: int, hardware: str, environment: str, code_version: str,
                        started_at: str) -> None:
        """A worker took the run: its process, hardware and environment (JSON text), code version;
        ``started_at`` only when the run never started before."""
        with self.transaction() as c:
            c.execute("UPDATE training_runs SET status = 'running', pid = ?, hardware = ?, environment = ?,"
                      " code_version = ?, started_at = COALESCE(started_at, ?), ended_at = NULL, error = NULL"
                      " WHERE id = ?",
                      (pid, hardware, environment, code_version, started_at, run_id))

    def append_run_log(self, run_id: int, text: str) -> None:
        """Add ``text`` to the end of a run's log."""
        with self.transaction() as c:
            c.execute("UPDATE training_runs SET log = log || ? WHERE id = ?", (text, run_id))

    def run_metrics(self, run_id: int) -> str | None:
        """A run's metrics as stored (JSON text); None when there is no such run."""
        row = self.conn.execute("SELECT metrics FROM training_runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row["metrics"]

    def set_run_metrics(self, run_id: int, metrics: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE training_runs SET metrics = ? WHERE id = ?", (metrics, run_id))

    def run_duration_row(self, run_id: int) -> sqlite3.Row | None:
        """``(duration_s)`` of a run so far (None when there is no such run)."""
        return self.conn.execute("SELECT duration_s FROM training_runs WHERE id = ?", (run_id,)).fetchone()

    def close_run(self, run_id: int, status: str, ended_at: str, duration_s: float, cost: float,
                  cols: dict[str, Any]) -> None:
        """End a run: its status, end, duration and cost, and ``cols`` (column -> value; the
        column names are the caller's, never input)."""
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self.transaction() as c:
            c.execute(f"UPDATE training_runs SET status = ?, ended_at = ?, duration_s = ?, cost = ?{', ' if sets else ''}"
                      f"{sets} WHERE id = ?", (status, ended_at, duration_s, cost, *cols.values(), run_id))

    def run_status(self, run_id: int) -> str | None:
        """A run's status (None when there is no such run)."""
        row = self.conn.execute("SELECT status FROM training_runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row["status"]

    def running_run_rows(self) -> list[sqlite3.Row]:
        """``(id, pid, hardware)`` of every run recorded as running."""
        return self.query("SELECT id, pid, hardware FROM training_runs WHERE status = 'running'")

    def set_run_model_version(self, run_id: int, model_version_id: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE training_runs SET model_version_id = ? WHERE id = ?", (model_version_id, run_id))

    def registered_model_paths(self) -> list[str]:
        """Every model version's path and every run's artifact path (the folders in use)."""
        return [r[0] for r in self.query(
            "SELECT path FROM model_versions UNION SELECT artifact_path FROM training_runs"
            " WHERE artifact_path IS NOT NULL")]

    def ended_run_ids(self) -> set[int]:
        """Ids of the runs that are neither queued nor running."""
        return {r[0] for r in self.query(
            "SELECT id FROM training_runs WHERE status NOT IN ('queued', 'running')")}

    # -- dataset versions ----------------------------------------------------------------------------
    def confirmed_region_rows(self, statuses: Sequence[str]) -> list[sqlite3.Row]:
        """``(page_id, image_sha256, status, points, text, label, rotation, width, height)`` of each
        region with text (not deleted, not ICDAR's ``###``) on a page with one of ``statuses``
        that people finished (``Page.confirmed``: not one auto-accepted and not reviewed since):
        approved pages first, then by page and region. ``points`` are on the page as shown, turned
        by ``rotation`` from its stored image of ``width`` x ``height`` (ADR 0008)."""
        marks = ",".join("?" for _ in statuses)
        return self.query(
            "SELECT p.id AS page_id, p.image_sha256, p.status, r.points, r.text, r.label, p.rotation, p.width,"
            " p.height FROM regions r"
            f" JOIN pages p ON p.id = r.page_id WHERE p.status IN ({marks}) AND r.deleted = 0"
            f" AND p.id IN ({CONFIRMED_PAGES})"
            # "###" is ICDAR's and PaddleOCR's "don't care" mark (an unreadable line, boxed but not read).
            " AND TRIM(r.text) != '' AND TRIM(r.text) != '###' ORDER BY p.status = 'approved' DESC, p.id, r.id",
            statuses,
        )

    def dataset_version_row(self, version_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM dataset_versions WHERE id = ?", (version_id,))
        return rows[0] if rows else None

    def dataset_version_row_by_hash(self, digest: str) -> sqlite3.Row | None:
        existing = self.query("SELECT * FROM dataset_versions WHERE hash = ?", (digest,))
        return existing[0] if existing else None

    def dataset_version_rows(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM dataset_versions ORDER BY id")

    def dataset_version_exists(self, version_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM dataset_versions WHERE id = ?", (version_id,)).fetchone() is not None

    def dataset_version_hash(self, version_id: int) -> str | None:
        ds = self.query("SELECT hash FROM dataset_versions WHERE id = ?", (version_id,))
        return ds[0]["hash"] if ds else None

    def dataset_version_id_of_hash(self, digest: str) -> int | None:
        here = self.query("SELECT id FROM dataset_versions WHERE hash = ?", (digest,))
        return here[0]["id"] if here else None

    def insert_dataset_version(self, digest: str, created_at: str, created_by: str, selection: str, n_train: int,
                               n_val: int, n_pages: int, manifest: str) -> int:
        """Record a dataset version (``selection``: JSON text; ``manifest``: its file, relative to
        the project); returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO dataset_versions (hash, created_at, created_by, selection, n_train, n_val, n_pages, manifest)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (digest, created_at, created_by, selection, n_train, n_val, n_pages, manifest),
            )
            return cur.lastrowid

    # -- the model registry --------------------------------------------------------------------------
    def insert_model_version(self, name: str, task: str, path: str, sha256: str, metrics: str, run_id: int | None,
                             parent_id: int | None, created_at: str, created_by: str) -> int:
        """Record a model version (``metrics``: JSON text); returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO model_versions (name, task, path, sha256, metrics, run_id, parent_id, created_at, created_by)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (name, task, path, sha256, metrics, run_id, parent_id, created_at, created_by),
            )
            return cur.lastrowid

    def model_version_row(self, version_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM model_versions WHERE id = ?", (version_id,))
        return rows[0] if rows else None

    def latest_model_version_row(self, task: str) -> sqlite3.Row | None:
        """The newest model version of a task."""
        rows = self.query("SELECT * FROM model_versions WHERE task = ? ORDER BY id DESC LIMIT 1", (task,))
        return rows[0] if rows else None

    def model_version_row_named(self, name: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM model_versions WHERE name = ?", (name,))
        return rows[0] if rows else None

    def model_version_rows(self, task: str | None = None) -> list[sqlite3.Row]:
        """Every model version (of ``task``, when given), oldest first."""
        if task is None:
            return self.query("SELECT * FROM model_versions ORDER BY id")
        return self.query("SELECT * FROM model_versions WHERE task = ? ORDER BY id", (task,))

    def model_sha_registered(self, sha256: str) -> bool:
        """Whether a model version with this ONNX file's sha256 is recorded."""
        return bool(self.query("SELECT 1 FROM model_versions WHERE sha256 = ?", (sha256,)))

    def first_model_version_id_of_sha(self, sha256: str) -> int | None:
        """The oldest model version with this sha256, by id."""
        parent = self.query("SELECT id FROM model_versions WHERE sha256 = ? ORDER BY id LIMIT 1", (sha256,))
        return parent[0]["id"] if parent else None

    def active_model_version_row(self, task: str) -> sqlite3.Row | None:
        """The model version of the task's last promotion or rollback."""
        rows = self.query(
            "SELECT v.* FROM model_promotions p JOIN model_versions v ON v.id = p.model_version_id"
            " WHERE p.task = ? ORDER BY p.id DESC LIMIT 1",
            (task,),
        )
        return rows[0] if rows else None

    def promotion_rows(self, task: str) -> list[sqlite3.Row]:
        """``(id, kind, at, by, version_id, name)`` of a task's promotions and rollbacks, in order."""
        return self.query(
            "SELECT p.id, p.kind, p.at, p.by, v.id AS version_id, v.name FROM model_promotions p"
            " JOIN model_versions v ON v.id = p.model_version_id WHERE p.task = ? ORDER BY p.id", (task,))

    def promoted_version_ids(self, task: str) -> list[int]:
        """The model version of each of a task's promotions and rollbacks, newest first."""
        return [r["model_version_id"] for r in self.query(
            "SELECT model_version_id FROM model_promotions WHERE task = ? ORDER BY id DESC", (task,))]

    def add_promotion(self, model_version_id: int, task: str, kind: str, at: str, by: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO model_promotions (model_version_id, task, kind, at, by) VALUES (?,?,?,?,?)",
                      (model_version_id, task, kind, at, by))
