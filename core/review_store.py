"""The SQL of review, moderation and the work queue, as methods of the store.

``core.review`` (verdicts, QC routing, annotator scores, auto-accept, the Moderate screen's
queries) and ``core.queue`` decide *what* to read and write; the statements live here, in a
mixin :class:`core.store.Store` inherits, so all SQL sits behind the store's interface. The
methods use ``self.conn`` / ``self.query`` / ``self.transaction()`` like the rest of the store:
inside an open transaction (an action's hook, ``with store.transaction():``) the store's
per-thread connection is that transaction's, so a method called there joins it.

Every statement is written once in the SQL both backends share (docs/adr/0006).
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

from . import days
from .fields import MANY_VALUED, many_valued
from .model import AUTO_ACCEPT_USER, HUMAN, PageStatus, Region

#: The tables the Moderate screen's page list and counts read, joined once.
_MODERATE_FROM = (" FROM pages p JOIN documents d ON d.id = p.document_id"
                  " LEFT JOIN verdict_state s ON s.page_id = p.id LEFT JOIN review_queue q ON q.page_id = p.id")


#: The pages people finished, as SQL over ``pages``: approved, or done by a person (not by
#: auto-accept: ``core.model.people_finished``). Their verdicts make the running totals.
CONFIRMED_PAGES = (f"SELECT id FROM pages WHERE status = 'approved'"
                   f" OR (status = 'done' AND COALESCE(done_by, '') != '{AUTO_ACCEPT_USER}')")


def label_totals_sql(where: str, sign: int = 1) -> str:
    """The form labels' share of ``field_verdict_daily`` (Analytics' accuracy per field), from the
    stored region verdicts of the pages ``where`` selects, added (``sign`` +1) or taken out (-1).

    A form field (``header``, ``question``, ``answer``: :data:`core.fields.MANY_VALUED`) labels
    regions, so its verdicts are the regions' label verdicts: kind ``label``, one per kept region
    the prediction gave that label (``ok``: people left it), and kind ``label_missing``, one per
    region (kept, or one people added) people gave that label and the prediction did not."""
    sign = 1 if sign > 0 else -1
    many = ", ".join(f"'{n}'" for n in sorted(MANY_VALUED))
    version = "COALESCE(model_version, engine_version)"
    return (
        "INSERT INTO field_verdict_daily (day, engine, version, name, kind, n, predicted, ok)"
        f" SELECT day, engine, {version}, pred_label, 'label', {sign} * COUNT(*), {sign} * COUNT(*),"
        f" {sign} * SUM(CASE WHEN COALESCE(label, '') = pred_label THEN 1 ELSE 0 END) FROM verdicts"
        f" WHERE {where} AND kind IN ('correct', 'wrong_text', 'wrong_box') AND LOWER(pred_label) IN ({many})"
        " GROUP BY 1, 2, 3, 4"
        f" UNION ALL SELECT day, engine, {version}, label, 'label_missing', {sign} * COUNT(*), 0, 0 FROM verdicts"
        f" WHERE {where} AND kind IN ('correct', 'wrong_text', 'wrong_box', 'missing') AND LOWER(label) IN ({many})"
        " AND COALESCE(pred_label, '') != label GROUP BY 1, 2, 3, 4"
        " ON CONFLICT(day, engine, version, name, kind) DO UPDATE SET n = field_verdict_daily.n + excluded.n,"
        " predicted = field_verdict_daily.predicted + excluded.predicted, ok = field_verdict_daily.ok + excluded.ok")


def _moderate_where(f, tz) -> tuple[str, list]:
    """A ``core.review.ModerateFilter`` as SQL; its days are days of ``tz`` (the project's zone),
    compared as UTC instants."""
    clauses, params = [], []
    col = "d.imported_at" if f.date_field == "imported" else "p.done_at"
    if f.date_field not in ("imported", "annotated"):
        raise ValueError("date_field is 'imported' or 'annotated'")
    lo, hi = days.utc_bounds(f.date_from, f.date_to, tz)
    if f.date_from:
        clauses.append(f"{col} >= ?")
        params.append(lo)
    if f.date_to:
        clauses.append(f"{col} < ?")
        params.append(hi)
    if f.status:
        clauses.append("p.status = ?")
        params.append(PageStatus(f.status).value)
    if f.finished_only:
        clauses.append("p.status IN ('done', 'approved', 'rejected')")
    if f.annotator:
        clauses.append("p.done_by = ?")
        params.append(f.annotator)
    if f.engine or f.model_version:
        sub = "SELECT 1 FROM predictions x WHERE x.page_id = p.id"
        if f.engine:
            sub += " AND x.engine = ?"
            params.append(f.engine)
        if f.model_version:
            # COALESCE(x.model_version, x.engine_version) = ?, spelled so that PostgreSQL's
            # planner estimates it from the columns' statistics (it guessed 0.5% of the rows for
            # the COALESCE, a third match, and chose nested loops: docs/benchmarks.md, issue 14).
            sub += " AND (x.model_version = ? OR (x.model_version IS NULL AND x.engine_version = ?))"
            params += [f.model_version, f.model_version]
        clauses.append(f"EXISTS ({sub})")
    if f.confidence_below is not None:
        clauses.append("EXISTS (SELECT 1 FROM regions r WHERE r.page_id = p.id AND r.deleted = 0"
                       " AND r.confidence < ?)")
        params.append(float(f.confidence_below))
    if f.has_wrong is not None:
        clauses.append("COALESCE(s.n_wrong, 0) > 0" if f.has_wrong else "COALESCE(s.n_wrong, 0) = 0")
    has_wrong_fields = getattr(f, "has_wrong_fields", None)
    if has_wrong_fields is not None:
        clauses.append("COALESCE(s.n_wrong_fields, 0) > 0" if has_wrong_fields else
                       "(COALESCE(s.n_wrong_fields, 0) = 0 AND EXISTS (SELECT 1 FROM field_verdicts fv"
                       " WHERE fv.page_id = p.id))")
    has_wrong_labels = getattr(f, "has_wrong_labels", None)
    if has_wrong_labels is not None:
        clauses.append("COALESCE(s.n_wrong_labels, 0) > 0" if has_wrong_labels else
                       "(COALESCE(s.n_wrong_labels, 0) = 0 AND EXISTS (SELECT 1 FROM verdicts lv"
                       " WHERE lv.page_id = p.id AND lv.pred_label IS NOT NULL AND lv.pred_label != ''))")
    if f.routed_only:
        clauses.append("q.page_id IS NOT NULL")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class ReviewQueries:
    """Review, moderation and queue SQL; mixed into :class:`core.store.Store` (which gives it
    ``conn``, ``query`` and ``transaction``)."""

    # -- roles ---------------------------------------------------------------------------------
    def roles_in_use(self) -> bool:
        """Whether anyone in the project has been given the reviewer or admin role."""
        return bool(self.query("SELECT 1 FROM users WHERE role IN ('reviewer', 'admin') LIMIT 1"))

    # -- what verdicts are computed from -----------------------------------------------------------
    def page_row(self, page_id: int) -> sqlite3.Row | None:
        """A page's stored row as it is (None when there is no such page)."""
        return self.conn.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()

    def page_regions(self, page_id: int) -> list[Region]:
        """Every region of a page, deleted ones included, in stored order."""
        from .store import _row_to_region

        return [_row_to_region(r) for r in self.conn.execute("SELECT * FROM regions WHERE page_id = ?", (page_id,))]

    def prediction_rows(self, page_id: int) -> list[sqlite3.Row]:
        """A page's stored predictions, oldest first, as rows (points at the page's turn now)."""
        return self.at_page_turn(page_id, self.conn.execute(
            "SELECT * FROM predictions WHERE page_id = ? ORDER BY id", (page_id,)).fetchall())

    def min_machine_confidence(self, page_id: int) -> float | None:
        """The lowest confidence among a page's machine regions that are not deleted."""
        return self.conn.execute(
            "SELECT MIN(confidence) FROM regions WHERE page_id = ? AND deleted = 0 AND origin != ?",
            (page_id, HUMAN)).fetchone()[0]

    def region_confidences(self, page_id: int) -> list[tuple[int, float]]:
        """``(region id, confidence)`` of a page's regions that are not deleted and have a
        confidence (the machine read their text: predicted, or drawn by a person and read)."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT id, confidence FROM regions WHERE page_id = ? AND deleted = 0 AND confidence IS NOT NULL"
            " ORDER BY id", (page_id,))]

    # -- stored verdicts and their running totals ---------------------------------------------------
    def page_in_totals(self, page_id: int) -> bool:
        """Whether a page's stored verdicts are counted in the running totals."""
        prev = self.conn.execute("SELECT in_hist FROM verdict_state WHERE page_id = ?", (page_id,)).fetchone()
        return prev is not None and bool(prev["in_hist"])

    def delete_verdicts(self, page_id: int) -> None:
        self.conn.execute("DELETE FROM verdicts WHERE page_id = ?", (page_id,))

    def delete_verdict_state(self, page_id: int) -> None:
        self.conn.execute("DELETE FROM verdict_state WHERE page_id = ?", (page_id,))

    def write_verdicts(self, rows: Sequence[tuple]) -> None:
        """Insert verdict rows: ``(page_id, prediction_id, engine, engine_version, model_version,
        region_id, pred_index, kind, edit_distance, ref_chars, iou, confidence, mark, annotator, day,
        pred_label, label)``."""
        self.conn.executemany(
            "INSERT INTO verdicts (page_id, prediction_id, engine, engine_version, model_version, region_id,"
            " pred_index, kind, edit_distance, ref_chars, iou, confidence, mark, annotator, day, pred_label, label)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def write_verdict_state(self, page_id: int, page_updated_at: str, n_wrong: int,
                            min_confidence: float | None, in_totals: bool, n_wrong_labels: int = 0) -> None:
        """Remember which page version a page's stored verdicts were computed for."""
        from .store import now

        self.conn.execute(
            "INSERT INTO verdict_state (page_id, page_updated_at, refreshed_at, n_wrong, min_confidence, in_hist,"
            " n_wrong_labels)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(page_id) DO UPDATE SET page_updated_at = excluded.page_updated_at,"
            " refreshed_at = excluded.refreshed_at, n_wrong = excluded.n_wrong, min_confidence = excluded.min_confidence,"
            " in_hist = excluded.in_hist, n_wrong_labels = excluded.n_wrong_labels",
            (page_id, page_updated_at, now(), n_wrong, min_confidence, int(in_totals), n_wrong_labels))

    def add_to_totals(self, page_id: int, sign: int) -> None:
        """Add (``sign`` +1) or take out (-1) a page's stored verdicts from the running totals."""
        self.conn.execute(
            "INSERT INTO verdict_daily (day, engine, version, annotator, kind, n, edit_distance, ref_chars)"
            " SELECT day, engine, COALESCE(model_version, engine_version), COALESCE(annotator, ''), kind,"
            " ? * COUNT(*), ? * SUM(edit_distance), ? * SUM(ref_chars) FROM verdicts WHERE page_id = ?"
            " GROUP BY 1, 2, 3, 4, 5"
            " UNION ALL SELECT day, engine, COALESCE(model_version, engine_version), COALESCE(annotator, ''), 'page',"
            " ?, 0, 0 FROM verdicts WHERE page_id = ? GROUP BY 1, 2, 3, 4"
            " ON CONFLICT(day, engine, version, annotator, kind) DO UPDATE SET n = verdict_daily.n + excluded.n,"
            " edit_distance = verdict_daily.edit_distance + excluded.edit_distance,"
            " ref_chars = verdict_daily.ref_chars + excluded.ref_chars",
            (sign, sign, sign, page_id, sign, page_id))
        self.conn.execute(
            "INSERT INTO confidence_hist (engine, version, bucket, n, correct)"
            " SELECT engine, COALESCE(model_version, engine_version), CAST(confidence * 1000 AS INTEGER),"
            " ? * COUNT(*), ? * SUM(CASE WHEN kind = 'correct' AND COALESCE(mark, '') != 'wrong' THEN 1 ELSE 0 END) FROM verdicts"
            " WHERE page_id = ? AND pred_index IS NOT NULL AND confidence IS NOT NULL GROUP BY 1, 2, 3"
            " ON CONFLICT(engine, version, bucket) DO UPDATE SET n = confidence_hist.n + excluded.n,"
            " correct = confidence_hist.correct + excluded.correct",
            (sign, sign, page_id))
        self.conn.execute(label_totals_sql("page_id = ?", sign), (page_id, page_id))

    def rebuild_verdict_totals(self) -> None:
        """Recompute the running totals from the stored verdicts (call inside a transaction)."""
        conn = self.conn
        conn.execute("DELETE FROM verdict_daily")
        conn.execute("DELETE FROM confidence_hist")
        # CASE, not the bare IN: PostgreSQL stores no boolean in an integer column (docs/adr/0006).
        conn.execute(f"UPDATE verdict_state SET in_hist = CASE WHEN page_id IN ({CONFIRMED_PAGES}) THEN 1 ELSE 0 END")
        self.rebuild_field_totals()
        checked = "page_id IN (SELECT page_id FROM verdict_state WHERE in_hist = 1)"
        conn.execute(
            "INSERT INTO verdict_daily (day, engine, version, annotator, kind, n, edit_distance, ref_chars)"
            " SELECT day, engine, COALESCE(model_version, engine_version), COALESCE(annotator, ''), kind, COUNT(*),"
            f" SUM(edit_distance), SUM(ref_chars) FROM verdicts WHERE {checked} GROUP BY 1, 2, 3, 4, 5")
        conn.execute(
            "INSERT INTO verdict_daily (day, engine, version, annotator, kind, n)"
            " SELECT day, engine, version, annotator, 'page', COUNT(*) FROM (SELECT DISTINCT page_id, day, engine,"
            " COALESCE(model_version, engine_version) AS version, COALESCE(annotator, '') AS annotator FROM verdicts"
            f" WHERE {checked}) AS t GROUP BY 1, 2, 3, 4")
        conn.execute(
            "INSERT INTO confidence_hist (engine, version, bucket, n, correct)"
            " SELECT v.engine, COALESCE(v.model_version, v.engine_version), CAST(v.confidence * 1000 AS INTEGER),"
            " COUNT(*), SUM(CASE WHEN v.kind = 'correct' AND COALESCE(v.mark, '') != 'wrong' THEN 1 ELSE 0 END) FROM verdicts v"
            " JOIN verdict_state s ON s.page_id = v.page_id"
            " WHERE s.in_hist = 1 AND v.pred_index IS NOT NULL AND v.confidence IS NOT NULL GROUP BY 1, 2, 3")
        conn.execute(label_totals_sql(checked))

    def stale_verdict_pages(self) -> list[int]:
        """Pages changed since their verdicts were computed (or never computed, and pre-filled)."""
        return [r[0] for r in self.query(
            "SELECT p.id FROM pages p LEFT JOIN verdict_state s ON s.page_id = p.id"
            " WHERE (s.page_id IS NULL AND p.status != 'new') OR s.page_updated_at != p.updated_at")]

    def region_verdict_kinds(self, page_id: int) -> dict[int, str]:
        """Region id -> stored verdict kind (verdicts of no region left out)."""
        return {r["region_id"]: r["kind"] for r in self.query(
            "SELECT region_id, kind FROM verdicts WHERE page_id = ?", (page_id,)) if r["region_id"] is not None}

    # -- field verdicts (issue 15) and their running totals ---------------------------------------------
    def fields_in_totals(self, page_id: int) -> bool:
        """Whether a page's stored field verdicts are counted in the running totals."""
        row = self.conn.execute("SELECT fields_in_totals FROM verdict_state WHERE page_id = ?", (page_id,)).fetchone()
        return row is not None and bool(row["fields_in_totals"])

    def field_prediction_rows(self, page_id: int) -> list[sqlite3.Row]:
        """``(id, engine, engine_version, model_version, created_at, fields)`` of a page's predictions
        that have fields, oldest first (their regions are not read: a field verdict needs none)."""
        return self.conn.execute(
            "SELECT id, engine, engine_version, model_version, created_at, fields FROM predictions"
            " WHERE page_id = ? AND fields != '[]' ORDER BY id", (page_id,)).fetchall()

    def has_field_verdicts(self, page_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM field_verdicts WHERE page_id = ? LIMIT 1",
                                 (page_id,)).fetchone() is not None

    def delete_field_verdicts(self, page_id: int) -> None:
        self.conn.execute("DELETE FROM field_verdicts WHERE page_id = ?", (page_id,))

    def write_field_verdicts(self, rows: Sequence[tuple]) -> None:
        """Insert field verdict rows: ``(page_id, prediction_id, engine, engine_version, model_version,
        name, kind, predicted, predicted_text, predicted_value, predicted_absent, final_text,
        final_value, final_absent, confidence, mark, ok, annotator, day)``."""
        self.conn.executemany(
            "INSERT INTO field_verdicts (page_id, prediction_id, engine, engine_version, model_version, name, kind,"
            " predicted, predicted_text, predicted_value, predicted_absent, final_text, final_value, final_absent,"
            " confidence, mark, ok, annotator, day) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def write_field_verdict_state(self, page_id: int, n_wrong_fields: int, in_totals: bool) -> None:
        """A page's wrong fields and whether its field verdicts are in the totals (on the page's
        ``verdict_state`` row, written first by :meth:`write_verdict_state`)."""
        self.conn.execute("UPDATE verdict_state SET n_wrong_fields = ?, fields_in_totals = ? WHERE page_id = ?",
                          (n_wrong_fields, int(in_totals), page_id))

    def field_verdict_rows(self, page_id: int) -> list[sqlite3.Row]:
        """A page's stored field verdicts, in the order they were written."""
        return self.query("SELECT * FROM field_verdicts WHERE page_id = ? ORDER BY id", (page_id,))

    def add_fields_to_totals(self, page_id: int, sign: int) -> None:
        """Add (``sign`` +1) or take out (-1) a page's stored field verdicts from the running totals."""
        self.conn.execute(
            "INSERT INTO field_verdict_daily (day, engine, version, name, kind, n, predicted, ok)"
            " SELECT day, engine, COALESCE(model_version, engine_version), name, kind, ? * COUNT(*),"
            " ? * SUM(predicted), ? * SUM(ok) FROM field_verdicts WHERE page_id = ? GROUP BY 1, 2, 3, 4, 5"
            " ON CONFLICT(day, engine, version, name, kind) DO UPDATE SET n = field_verdict_daily.n + excluded.n,"
            " predicted = field_verdict_daily.predicted + excluded.predicted,"
            " ok = field_verdict_daily.ok + excluded.ok",
            (sign, sign, sign, page_id))
        self.conn.execute(
            "INSERT INTO field_confidence_hist (name, engine, version, bucket, n, correct)"
            " SELECT name, engine, COALESCE(model_version, engine_version), CAST(confidence * 1000 AS INTEGER),"
            " ? * COUNT(*), ? * SUM(ok) FROM field_verdicts"
            " WHERE page_id = ? AND predicted = 1 AND confidence IS NOT NULL GROUP BY 1, 2, 3, 4"
            " ON CONFLICT(name, engine, version, bucket) DO UPDATE SET n = field_confidence_hist.n + excluded.n,"
            " correct = field_confidence_hist.correct + excluded.correct",
            (sign, sign, page_id))

    def rebuild_field_totals(self) -> None:
        """Recompute the field running totals from the stored field verdicts (inside a transaction)."""
        conn = self.conn
        conn.execute("DELETE FROM field_verdict_daily")
        conn.execute("DELETE FROM field_confidence_hist")
        conn.execute(f"UPDATE verdict_state SET fields_in_totals = CASE WHEN page_id IN ({CONFIRMED_PAGES})"
                     " AND page_id IN (SELECT page_id FROM field_verdicts) THEN 1 ELSE 0 END")
        checked = "page_id IN (SELECT page_id FROM verdict_state WHERE fields_in_totals = 1)"
        conn.execute(
            "INSERT INTO field_verdict_daily (day, engine, version, name, kind, n, predicted, ok)"
            " SELECT day, engine, COALESCE(model_version, engine_version), name, kind, COUNT(*), SUM(predicted),"
            f" SUM(ok) FROM field_verdicts WHERE {checked} GROUP BY 1, 2, 3, 4, 5")
        conn.execute(
            "INSERT INTO field_confidence_hist (name, engine, version, bucket, n, correct)"
            " SELECT name, engine, COALESCE(model_version, engine_version), CAST(confidence * 1000 AS INTEGER),"
            f" COUNT(*), SUM(ok) FROM field_verdicts WHERE {checked} AND predicted = 1 AND confidence IS NOT NULL"
            " GROUP BY 1, 2, 3, 4")

    def field_verdict_marks(self, page_id: int) -> dict[str, str]:
        """Field name -> a reviewer's mark (``correct`` / ``wrong``) on a page's fields."""
        return {r["name"]: r["mark"] for r in self.query(
            "SELECT name, mark FROM field_verdict_marks WHERE page_id = ?", (page_id,))}

    def set_field_verdict_mark(self, page_id: int, name: str, mark: str | None, user: str, ts: str) -> None:
        """Store (or, ``mark`` None, clear) a reviewer's mark on a page's field."""
        with self.transaction() as c:
            if mark is None:
                c.execute("DELETE FROM field_verdict_marks WHERE page_id = ? AND name = ?", (page_id, name))
            else:
                c.execute(
                    "INSERT INTO field_verdict_marks (page_id, name, mark, marked_by, marked_at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(page_id, name) DO UPDATE SET mark = excluded.mark, marked_by = excluded.marked_by,"
                    " marked_at = excluded.marked_at", (page_id, name, mark, user, ts))

    def field_confidence_buckets(self, engine: str | None = None, model_version: str | None = None
                                 ) -> list[tuple[str, int, int, int]]:
        """``(field, bucket, predicted fields, right)`` from the running histogram (bucket: confidence
        x 1000). A form's labels (kind ``label`` of ``field_verdict_daily``: :func:`label_totals_sql`)
        are there too, each in bucket 0: a predicted label carries no confidence, so the one
        threshold a label can have is "all of them" (it gates auto-accept by its accuracy)."""
        where, params = "", []
        if engine:
            where += " AND engine = ?"
            params.append(engine)
        if model_version:
            where += " AND version = ?"
            params.append(model_version)
        sql = (f"SELECT name, bucket, SUM(n), SUM(correct) FROM field_confidence_hist WHERE 1 = 1{where}"
               " GROUP BY name, bucket UNION ALL"
               f" SELECT name, 0, SUM(n), SUM(ok) FROM field_verdict_daily WHERE kind = 'label'{where}"
               " GROUP BY name HAVING SUM(n) > 0")
        return [(r[0], r[1], r[2], r[3]) for r in self.query(sql, params + params)]

    # -- reviewers' marks ---------------------------------------------------------------------
    def verdict_marks(self, page_id: int) -> dict[int, str]:
        """Region id -> a reviewer's mark (``correct`` / ``wrong``) on a page's regions."""
        return {r["region_id"]: r["mark"] for r in self.query(
            "SELECT region_id, mark FROM verdict_marks WHERE page_id = ?", (page_id,))}

    def set_verdict_mark(self, region_id: int, page_id: int, mark: str | None, user: str, ts: str) -> None:
        """Store (or, ``mark`` None, clear) a reviewer's mark on a region."""
        with self.transaction() as c:
            if mark is None:
                c.execute("DELETE FROM verdict_marks WHERE region_id = ?", (region_id,))
            else:
                c.execute(
                    "INSERT INTO verdict_marks (region_id, page_id, mark, marked_by, marked_at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(region_id) DO UPDATE SET mark = excluded.mark, marked_by = excluded.marked_by,"
                    " marked_at = excluded.marked_at", (region_id, page_id, mark, user, ts))

    # -- QC routing and the review queue --------------------------------------------------------------
    def latest_engine_predictions(self, page_id: int) -> list[sqlite3.Row]:
        """``(engine, regions)`` of each engine's latest prediction of a page (points at the page's
        turn now)."""
        return self.at_page_turn(page_id, self.conn.execute(
            "SELECT engine, regions, rotation FROM predictions WHERE id IN"
            " (SELECT MAX(id) FROM predictions WHERE page_id = ? GROUP BY engine)", (page_id,)).fetchall())

    def page_done_by(self, page_id: int) -> str | None:
        """Who marked a page done (None: nobody, or no such page)."""
        page = self.conn.execute("SELECT done_by FROM pages WHERE id = ?", (page_id,)).fetchone()
        return page["done_by"] if page else None

    def was_rejected(self, page_id: int) -> bool:
        """Whether a review ever rejected the page."""
        return self.conn.execute(
            "SELECT 1 FROM reviews WHERE page_id = ? AND verdict = 'rejected'", (page_id,)).fetchone() is not None

    def drop_from_review(self, page_id: int) -> None:
        """Take a page out of the review queue unless it was reviewed already."""
        self.conn.execute("DELETE FROM review_queue WHERE page_id = ? AND reviewed_at IS NULL", (page_id,))

    def route_to_review(self, page_id: int, reasons: Sequence[str], routed_at: str, annotator: str | None,
                        blind: bool, seed: int, share: float, min_confidence: float | None) -> None:
        """Put a page in the review queue (again: a new routing reopens its entry), with why."""
        self.conn.execute(
            "INSERT INTO review_queue (page_id, reasons, routed_at, annotator, blind, seed, share, min_confidence)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(page_id) DO UPDATE SET reasons = excluded.reasons,"
            " routed_at = excluded.routed_at, annotator = excluded.annotator, blind = excluded.blind,"
            " seed = excluded.seed, share = excluded.share, min_confidence = excluded.min_confidence,"
            " reviewed_at = NULL",
            (page_id, ",".join(reasons), routed_at, annotator, int(blind), seed, share, min_confidence))

    def close_review_entry(self, page_id: int, ts: str) -> None:
        """Mark a page's review queue entry reviewed."""
        self.conn.execute("UPDATE review_queue SET reviewed_at = ? WHERE page_id = ?", (ts, page_id))

    def review_queue_rows(self, include_reviewed: bool = False) -> list[sqlite3.Row]:
        """Review queue entries with their page's name and status, lowest confidence first."""
        where = "" if include_reviewed else " WHERE q.reviewed_at IS NULL AND p.status = 'done'"
        return self.query(
            "SELECT q.*, p.name, p.status FROM review_queue q JOIN pages p ON p.id = q.page_id" + where +
            " ORDER BY q.min_confidence IS NULL, q.min_confidence, q.routed_at")

    # -- annotator scores -------------------------------------------------------------------------
    def review_row(self, review_id: int) -> sqlite3.Row | None:
        """``(reviewer, created_at)`` of a review."""
        return self.conn.execute("SELECT reviewer, created_at FROM reviews WHERE id = ?", (review_id,)).fetchone()

    def page_done_row(self, page_id: int) -> sqlite3.Row | None:
        """``(done_by, done_at)`` of a page."""
        return self.conn.execute("SELECT done_by, done_at FROM pages WHERE id = ?", (page_id,)).fetchone()

    def edits_by_others_since(self, page_id: int, since: str, user: str) -> list[sqlite3.Row]:
        """``(region_id, field, before)`` of region edits made after ``since`` by anyone but
        ``user``, in order (a line a reviewer only checked, Enter, is no change)."""
        return self.conn.execute(
            "SELECT region_id, field, before FROM edits WHERE page_id = ? AND ts > ? AND user != ?"
            " AND region_id IS NOT NULL AND field != 'checked' ORDER BY id", (page_id, since, user)).fetchall()

    def write_annotator_score(self, review_id: int, page_id: int, annotator: str, reviewer: str, regions: int,
                              changed: int, edit_distance: int, ref_chars: int, iou_sum: float, iou_n: int,
                              created_at: str) -> None:
        self.conn.execute(
            "INSERT INTO annotator_scores (review_id, page_id, annotator, reviewer, regions, changed, edit_distance,"
            " ref_chars, iou_sum, iou_n, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (review_id, page_id, annotator, reviewer, regions, changed, edit_distance, ref_chars, iou_sum, iou_n,
             created_at))

    # -- auto-accept ----------------------------------------------------------------------------
    def confidence_buckets(self, engine: str | None = None, model_version: str | None = None) -> list[tuple[int, int, int]]:
        """``(bucket, regions, correct)`` from the running histogram (bucket: confidence x 1000)."""
        sql = "SELECT bucket, SUM(n), SUM(correct) FROM confidence_hist WHERE 1 = 1"
        params: list = []
        if engine:
            sql += " AND engine = ?"
            params.append(engine)
        if model_version:
            sql += " AND version = ?"
            params.append(model_version)
        return [(r[0], r[1], r[2]) for r in self.query(sql + " GROUP BY bucket", params)]

    def predicted_confidences(self, engine: str | None = None, model_version: str | None = None,
                              reviewed_only: bool = True) -> list[tuple[float, bool]]:
        """(confidence, correct) of each stored verdict of a predicted region with a confidence."""
        sql = ("SELECT v.confidence, v.kind = 'correct' AND COALESCE(v.mark, '') != 'wrong' FROM verdicts v"
               " JOIN pages p ON p.id = v.page_id WHERE v.pred_index IS NOT NULL AND v.confidence IS NOT NULL")
        params: list = []
        if reviewed_only:
            sql += f" AND p.id IN ({CONFIRMED_PAGES})"
        if engine:
            sql += " AND v.engine = ?"
            params.append(engine)
        if model_version:
            sql += " AND COALESCE(v.model_version, v.engine_version) = ?"
            params.append(model_version)
        return [(r[0], bool(r[1])) for r in self.query(sql, params)]

    def auto_accept_candidates(self, threshold: float, engine: str | None = None,
                               field_thresholds: dict[str, float | None] | None = None) -> list[int]:
        """Pre-filled pages with regions, all machine-made with a confidence at or above
        ``threshold`` (with ``engine``: all predicted by it), by id.

        With ``field_thresholds`` (``{field name: threshold}``, ``core.analytics.field_auto_accept``),
        a page that has key field values is taken only when each of them is the machine's with a
        confidence at or above its field's threshold; a field without a threshold (too few verdicts
        yet), a value without a confidence or a person's value keeps the page for people. A page
        without field values is judged by its regions alone. A form label (``core.fields.many_valued``)
        without a threshold keeps each page with a region labelled so."""
        params: list = [threshold]
        engine_sql = ""
        if engine:
            engine_sql = (" AND NOT EXISTS (SELECT 1 FROM regions r2 LEFT JOIN predictions pr ON pr.id = r2.prediction_id"
                          " WHERE r2.page_id = p.id AND r2.deleted = 0 AND COALESCE(pr.engine, '') != ?)")
            params.append(engine)
        rows = self.query(
            "SELECT p.id FROM pages p WHERE p.status = 'prefilled'"
            " AND EXISTS (SELECT 1 FROM regions r WHERE r.page_id = p.id AND r.deleted = 0)"
            " AND NOT EXISTS (SELECT 1 FROM regions r WHERE r.page_id = p.id AND r.deleted = 0"
            "   AND (r.confidence IS NULL OR r.confidence < ? OR r.origin = 'human'))" + engine_sql +
            " ORDER BY p.id", params)
        ids = [r["id"] for r in rows]
        if field_thresholds is None or not ids:
            return ids
        held: set[int] = set()
        for r in self.query(
                "SELECT pf.page_id, pf.name, pf.confidence, pf.origin FROM page_fields pf"
                " JOIN pages p ON p.id = pf.page_id WHERE p.status = 'prefilled'"):
            limit = field_thresholds.get(r["name"])
            if (r["origin"] != "prediction" or r["confidence"] is None or limit is None
                    or float(r["confidence"]) < limit):
                held.add(r["page_id"])
        # A form's labels have no confidence: a label whose predictions are not yet right at the
        # target precision (no threshold) keeps every page that has a region labelled with it.
        unsure = sorted({n.lower() for n, limit in field_thresholds.items() if many_valued(n) and limit is None})
        if unsure:
            held.update(r[0] for r in self.query(
                "SELECT DISTINCT r.page_id FROM regions r JOIN pages p ON p.id = r.page_id"
                " WHERE p.status = 'prefilled' AND r.deleted = 0"
                f" AND LOWER(r.label) IN ({', '.join('?' * len(unsure))})", unsure))
        return [i for i in ids if i not in held]

    # -- the Moderate screen --------------------------------------------------------------------
    def moderate_totals(self, f, tz) -> tuple[int, int, int]:
        """(pages, moderated, waiting in the review queue) matching a ``ModerateFilter``."""
        where, params = _moderate_where(f, tz)
        row = self.query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN p.status IN ('approved', 'rejected') THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN q.page_id IS NOT NULL AND q.reviewed_at IS NULL AND p.status = 'done' THEN 1 ELSE 0 END), 0)"
            + _MODERATE_FROM + where, params)[0]
        return row[0], row[1], row[2]

    def moderate_rows(self, f, tz, limit: int | None = 5000) -> list[sqlite3.Row]:
        """The pages matching a ``ModerateFilter``: routed pages first, then lowest confidence first."""
        where, params = _moderate_where(f, tz)
        sql = ("SELECT p.id, p.name, p.status, p.done_by, p.done_at, d.imported_at, s.n_wrong, s.n_wrong_fields,"
               " s.n_wrong_labels, s.min_confidence,"
               " q.reasons, q.blind, q.reviewed_at" + _MODERATE_FROM + where +
               " ORDER BY (q.page_id IS NULL OR q.reviewed_at IS NOT NULL), s.min_confidence IS NULL,"
               " s.min_confidence, p.id")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.query(sql, params)

    def moderation_filter_choices(self) -> dict[str, list[str]]:
        """Values the filters offer: annotators, engines, model versions."""
        return {
            "annotator": [r[0] for r in self.query("SELECT DISTINCT done_by FROM pages WHERE done_by IS NOT NULL ORDER BY 1")],
            "engine": [r[0] for r in self.query("SELECT DISTINCT engine FROM predictions ORDER BY 1")],
            "model_version": [r[0] for r in self.query(
                "SELECT DISTINCT COALESCE(model_version, engine_version) FROM predictions ORDER BY 1")],
        }

    # -- the work queue -----------------------------------------------------------------------------
    def pages_needing_work(self, statuses: Sequence[str], order: str) -> list[int]:
        """Ids of the pages with one of ``statuses``: in import order, or (``order`` "confidence")
        lowest mean region confidence first, pages without any confidence last."""
        marks = ",".join("?" for _ in statuses)
        if order == "confidence":
            rows = self.query(
                "SELECT id FROM (SELECT p.id, p.document_id, p.page_no, (SELECT AVG(r.confidence) FROM regions r"
                "  WHERE r.page_id = p.id AND r.deleted = 0 AND r.confidence IS NOT NULL) AS mean"
                f" FROM pages p WHERE p.status IN ({marks})) AS q"
                " ORDER BY mean IS NULL, mean, document_id, page_no",
                list(statuses),
            )
        else:
            rows = self.query(
                f"SELECT id FROM pages WHERE status IN ({marks}) ORDER BY document_id, page_no", list(statuses)
            )
        return [r["id"] for r in rows]
