"""Work claimed by one person or machine at a time: page leases (the store's SQL for them).

A lease says "this page is being worked on by HOLDER (from this open window or worker)" until it
expires. Taking one happens in a write transaction (the project's one-writer lock, ADR 0006), and
on PostgreSQL the candidate rows are also locked ``FOR UPDATE SKIP LOCKED``: two annotators, two
reviewers or two pre-fill machines never get the same page. A lease ends when the page is done
(or pre-filled, for a pre-fill machine), when its window or worker closes, or when it expires
without being renewed (a laptop that was shut, a machine that was killed): the page is back in
the pool. Only team projects take leases; one person's folder has nobody to share pages with.
"""

from __future__ import annotations

import datetime as _dt

from .db import POSTGRESQL

#: Seconds a lease lasts unless renewed: the GUI renews every minute, a pre-fill machine per page.
LEASE_S = {"annotate": 600, "review": 600, "prefill": 60}


def _later(seconds: float) -> str:
    return (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=seconds)).isoformat(timespec="microseconds")


class LeaseQueries:
    """Mixed into :class:`core.store.Store`."""

    def _lock_suffix(self, table: str) -> str:
        return f" FOR UPDATE OF {table} SKIP LOCKED" if self.dialect == POSTGRESQL else ""

    def leased_by_others(self, client: str) -> set[int]:
        """Pages another open window or worker holds now."""
        from .store import now

        return {r[0] for r in self.query("SELECT page_id FROM leases WHERE client != ? AND expires_at > ?",
                                         (client, now()))}

    def claim_first(self, page_ids, holder: str, client: str, purpose: str, statuses: tuple[str, ...],
                    ttl_s: float | None = None) -> int | None:
        """Take the first page of ``page_ids`` (in that order) that no other window or worker
        holds and that is still in one of ``statuses`` and not given to someone else, in one write
        transaction: who holds what and each page's status are read under the project's write
        lock, so no other claim or edit can come between the look and the lease (the list was made
        before: a page someone finished since is passed over). None when none is left."""
        from .store import now

        stamp = now()
        with self.transaction() as c:
            held = self.leased_by_others(client)  # inside the transaction: read under the lock
            for page_id in page_ids:
                if page_id in held:
                    continue
                row = c.execute("SELECT status, assignee FROM pages WHERE id = ?", (page_id,)).fetchone()
                if row is None or row["status"] not in statuses or row["assignee"] not in (None, holder):
                    continue
                self._write_lease(c, page_id, holder, client, purpose, stamp, ttl_s)
                return page_id
        return None

    def claim_instead(self, page_ids, current: int | None, holder: str, purpose: str,
                      statuses: tuple[str, ...]) -> int | None:
        """This store's window moves on from ``current``: :meth:`claim_first` of ``page_ids`` for
        it, and when another page was taken the lease on ``current`` ends."""
        page_id = self.claim_first(page_ids, holder, self.client_id, purpose, statuses)
        if page_id is not None and current is not None and current != page_id:
            self.release_leases(self.client_id, current)
        return page_id

    def _write_lease(self, c, page_id, holder, client, purpose, stamp, ttl_s) -> None:
        c.execute(
            "INSERT INTO leases (page_id, holder, client, purpose, taken_at, expires_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(page_id) DO UPDATE SET holder = excluded.holder, client = excluded.client,"
            " purpose = excluded.purpose, taken_at = excluded.taken_at, expires_at = excluded.expires_at",
            (page_id, holder, client, purpose, stamp, _later(ttl_s or LEASE_S[purpose])))

    def claim_batch(self, holder: str, client: str, purpose: str, statuses: list[str], limit: int,
                    ttl_s: float | None = None) -> list[int]:
        """Take up to ``limit`` pages of ``statuses`` that nobody holds, this client included (in
        import order; pages assigned to ``holder`` first, none assigned to someone else). What a
        pre-fill machine asks for: each call gives pages it does not have yet."""
        from .store import now

        stamp = now()
        marks = ",".join("?" for _ in statuses)
        with self.transaction() as c:
            ids = [r[0] for r in c.execute(
                "SELECT p.id FROM pages p LEFT JOIN leases l ON l.page_id = p.id"
                f" WHERE p.status IN ({marks}) AND (p.assignee IS NULL OR p.assignee = ?)"
                " AND (l.page_id IS NULL OR l.expires_at <= ?)"
                " ORDER BY CASE WHEN p.assignee IS NULL THEN 1 ELSE 0 END, p.document_id, p.page_no LIMIT ?"
                + self._lock_suffix("p"),
                (*statuses, holder, stamp, limit))]
            for page_id in ids:
                self._write_lease(c, page_id, holder, client, purpose, stamp, ttl_s)
        return ids

    def pages_left(self, statuses: list[str], but: set[int] = frozenset()) -> int:
        """Pages of ``statuses`` there still are, leased or not (``but``: leave these out)."""
        marks = ",".join("?" for _ in statuses)
        ids = {r[0] for r in self.query(f"SELECT id FROM pages WHERE status IN ({marks})", statuses)}
        return len(ids - set(but))

    def renew_leases(self, client: str, ttl_s: float | None = None) -> int:
        """Push back the expiry of every lease ``client`` holds (a heartbeat); how many."""
        from .store import now

        n = 0
        with self.transaction() as c:
            for row in c.execute("SELECT page_id, purpose FROM leases WHERE client = ?", (client,)).fetchall():
                c.execute("UPDATE leases SET expires_at = ? WHERE page_id = ? AND client = ?",
                          (_later(ttl_s or LEASE_S[row["purpose"]]), row["page_id"], client))
                n += 1
            # what expired meanwhile is nobody's: tidy up
            c.execute("DELETE FROM leases WHERE expires_at <= ?", (now(),))
        return n

    def release_leases(self, client: str, page_id: int | None = None) -> None:
        """End ``client``'s leases (one page, or all of them: the window or worker closes)."""
        with self.transaction() as c:
            if page_id is None:
                c.execute("DELETE FROM leases WHERE client = ?", (client,))
            else:
                c.execute("DELETE FROM leases WHERE client = ? AND page_id = ?", (client, page_id))

    def page_assignees(self) -> dict[int, str]:
        """Pages given to a person, and to whom."""
        return {r[0]: r[1] for r in self.query("SELECT id, assignee FROM pages WHERE assignee IS NOT NULL")}

    def lease_holder(self, page_id: int) -> str | None:
        from .store import now

        row = self.conn.execute("SELECT holder FROM leases WHERE page_id = ? AND expires_at > ?",
                                (page_id, now())).fetchone()
        return row["holder"] if row else None

    def assign_pages(self, lead: str, page_ids: list[int], person: str | None) -> None:
        """A lead (reviewer or admin) gives pages to ``person`` (None: to anyone): their "next
        page" offers them first, nobody else's offers them at all."""
        from .model import Role
        from .roles import require
        from .store import now

        actor = self.get_user(lead)
        require(actor.role if actor else Role.ANNOTATOR, "review")
        with self.transaction() as c:
            for page_id in page_ids:
                c.execute("UPDATE pages SET assignee = ? WHERE id = ?", (person, page_id))
                c.execute("INSERT INTO actions (page_id, user, ts, label) VALUES (?,?,?,?)",
                          (page_id, lead, now(), f"assign to {person or 'anyone'}"))
