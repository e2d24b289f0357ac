"""The SQL of analytics: activity per person and day, and the figures the Analytics screen reads.

``core.analytics`` decides *what* to compute; the statements live here, in a mixin
:class:`core.store.Store` inherits, so all SQL sits behind the store's interface. The methods use
``self.conn`` / ``self.query`` / ``self.transaction()`` like the rest of the store: a write opens
its own transaction, and inside an open one (``with store.transaction():``) joins it.

Day bounds (``lo``, ``hi``) are ``[lo, hi)`` as day text for the stored per-day figures, and
``t_lo``, ``t_hi`` the same as UTC instants for timestamps (``core.days``).

Every statement is written once in the SQL both backends share (docs/adr/0006).
"""

from __future__ import annotations

import sqlite3
from typing import Sequence


class AnalyticsQueries:
    """Analytics SQL; mixed into :class:`core.store.Store` (which gives it ``conn``, ``query``
    and ``transaction``)."""

    # -- activity per person and day, from the edit log ------------------------------------------
    def activity_span(self) -> tuple[str | None, str | None]:
        """The first and last day in ``activity_daily`` (None, None when it is empty)."""
        row = self.query("SELECT MIN(day), MAX(day) FROM activity_daily")[0]
        return row[0], row[1]

    def last_edit_id(self) -> int:
        """The id of the newest edit (0: none)."""
        return self.query("SELECT COALESCE(MAX(id), 0) FROM edits")[0][0]

    def edit_minutes_since(self, edit_id: int) -> list[str]:
        """The UTC minutes (``YYYY-MM-DDTHH:MM``) of the edits after ``edit_id``, each once."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT substr(ts, 1, 16) FROM edits WHERE id > ?",
                                                (edit_id,))]

    def recompute_activity_day(self, day: str, t_lo: str, t_hi: str, idle_gap_s: float) -> int:
        """Redo ``activity_daily`` of ``day`` from the edits in ``[t_lo, t_hi)``: per person, edits,
        regions touched and active seconds (gaps between consecutive edits, each capped at
        ``idle_gap_s``). Returns the rows written."""
        with self.transaction() as c:
            c.execute("DELETE FROM activity_daily WHERE day = ?", (day,))
            return c.execute(
                "INSERT INTO activity_daily (user, day, edits, regions, active_s)"
                " SELECT user, ?, COUNT(*), COUNT(DISTINCT region_id), COALESCE(SUM(MIN(gap, ?)), 0) FROM ("
                "  SELECT user, region_id, (julianday(ts) - julianday(LAG(ts) OVER (PARTITION BY user ORDER BY ts)))"
                "   * 86400.0 AS gap FROM edits WHERE ts >= ? AND ts < ?) AS g"
                " GROUP BY user", (day, idle_gap_s, t_lo, t_hi)).rowcount

    def clear_activity(self) -> None:
        """Forget every ``activity_daily`` row (to be recomputed from the edit log)."""
        with self.transaction() as c:
            c.execute("DELETE FROM activity_daily")

    # -- the days of stored verdicts -----------------------------------------------------------------
    def verdict_page_times(self) -> list[tuple[int, str | None]]:
        """``(page_id, when)`` of each page with stored verdicts: when it was done, else the page
        version the verdicts were computed for."""
        rows = self.conn.execute("SELECT s.page_id, COALESCE(p.done_at, s.page_updated_at) FROM verdict_state s"
                                 " JOIN pages p ON p.id = s.page_id").fetchall()
        return [(r[0], r[1]) for r in rows]

    def set_verdict_days(self, days: Sequence[tuple[str | None, int]]) -> None:
        """Give each page's stored verdicts a day: ``(day, page_id)`` pairs."""
        with self.transaction() as c:
            c.executemany("UPDATE verdicts SET day = ?1 WHERE page_id = ?2 AND day != ?1", days)
            c.executemany("UPDATE field_verdicts SET day = ?1 WHERE page_id = ?2 AND day != ?1", days)

    # -- the Analytics screen's figures --------------------------------------------------------------
    def activity_totals(self, lo: str, hi: str) -> list[sqlite3.Row]:
        """``(user, edits, regions, active_s)`` summed over the days ``[lo, hi)``."""
        return self.query(
            "SELECT user, SUM(edits), SUM(regions), SUM(active_s) FROM activity_daily WHERE day >= ? AND day < ?"
            " GROUP BY user", (lo, hi))

    def pages_done_per_person(self, t_lo: str, t_hi: str) -> list[sqlite3.Row]:
        """``(done_by, pages)`` of the pages marked done in ``[t_lo, t_hi)``."""
        return self.query(
            "SELECT done_by, COUNT(*) FROM pages WHERE done_by IS NOT NULL AND done_at >= ? AND done_at < ?"
            " GROUP BY done_by", (t_lo, t_hi))

    def annotator_verdict_totals(self, lo: str, hi: str) -> list[sqlite3.Row]:
        """``(annotator, predicted regions, changed)`` from the running totals over ``[lo, hi)``."""
        return self.query(
            "SELECT annotator, SUM(n), SUM(CASE WHEN kind = 'correct' THEN 0 ELSE n END) FROM verdict_daily"
            " WHERE annotator != '' AND kind NOT IN ('missing', 'page') AND day >= ? AND day < ?"
            " GROUP BY annotator", (lo, hi))

    def annotator_review_totals(self, t_lo: str, t_hi: str) -> list[sqlite3.Row]:
        """``(annotator, reviews, rejections, edit_distance, ref_chars, iou_sum, iou_n)`` of the
        annotator scores written in ``[t_lo, t_hi)``."""
        return self.query(
            "SELECT a.annotator, COUNT(*), SUM(CASE WHEN v.verdict = 'rejected' THEN 1 ELSE 0 END), SUM(a.edit_distance), SUM(a.ref_chars),"
            " SUM(a.iou_sum), SUM(a.iou_n) FROM annotator_scores a JOIN reviews v ON v.id = a.review_id"
            " WHERE a.created_at >= ? AND a.created_at < ? GROUP BY a.annotator", (t_lo, t_hi))

    def verdict_daily_groups(self, lo: str, hi: str) -> list[sqlite3.Row]:
        """``(day, engine, version, kind, n, edit_distance, ref_chars)`` of the running totals over
        ``[lo, hi)``, groups that sum to nothing left out."""
        return self.query(
            "SELECT day, engine, version, kind, SUM(n), SUM(edit_distance), SUM(ref_chars) FROM verdict_daily"
            " WHERE day >= ? AND day < ? GROUP BY day, engine, version, kind HAVING SUM(n) != 0", (lo, hi))

    def routing_counts(self, t_lo: str, t_hi: str) -> list[sqlite3.Row]:
        """``(reasons, pages)`` of the pages people finished (done, approved or rejected) in
        ``[t_lo, t_hi)``, grouped by the reasons their review queue entry holds (None: not routed)."""
        return self.query(
            "SELECT q.reasons, COUNT(*) FROM pages p LEFT JOIN review_queue q ON q.page_id = p.id"
            " WHERE p.status IN ('done', 'approved', 'rejected') AND p.done_at >= ? AND p.done_at < ?"
            " GROUP BY q.reasons", (t_lo, t_hi))

    def field_verdict_daily_groups(self, lo: str, hi: str) -> list[sqlite3.Row]:
        """``(day, engine, version, name, kind, n, predicted, ok)`` of the field running totals over
        ``[lo, hi)``, groups that sum to nothing left out."""
        return self.query(
            "SELECT day, engine, version, name, kind, SUM(n), SUM(predicted), SUM(ok) FROM field_verdict_daily"
            " WHERE day >= ? AND day < ? GROUP BY day, engine, version, name, kind HAVING SUM(n) != 0", (lo, hi))
