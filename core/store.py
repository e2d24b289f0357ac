"""The SQLite store: the only code that writes a project database.

- WAL mode: readers never wait for the writer, and a crash loses at most the action in flight.
- One transaction per user action (``BEGIN IMMEDIATE`` ... ``COMMIT``), and every change a
  person makes is written to the append-only ``edits`` log in the same transaction. Undo and
  redo replay that log, so they survive restarts and are recorded like any other change.
- One connection per thread: the GUI thread and worker threads never share a connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Sequence

from sqlite_utils import Database

from . import schema
from .analytics_store import AnalyticsQueries
from .db import POSTGRESQL, SQLITE, PgConnection, ServerLocation, lock_key
from .errors import ConflictError, NotFoundError, PermissionDenied, ProjectError
from .fields import FieldValue, make_value
from .geometry import any_overlap
from .lease_store import LeaseQueries
from .model import (
    HUMAN,
    Document,
    Page,
    PageField,
    PageStatus,
    PredictedRegion,
    Prediction,
    Region,
    Review,
    Role,
    User,
    quad_bounds,
    reframe,
    turn_points,
    turned_size,
)
from .review_store import ReviewQueries
from .run_store import RunQueries
from .textlayer_store import TextLayerQueries

#: Region columns a person can change through an action, and how they are stored.
EDITABLE_REGION_FIELDS = ("points", "text", "label", "deleted", "locked", "confidence")

#: An Edit of a page's key field is logged as ``field:<name>`` (region_id NULL), its before and
#: after the row's state (:func:`field_state`): None when there was (or is) no value.
FIELD_EDIT = "field:"


def now() -> str:
    """UTC timestamp, ISO 8601 with microseconds (sorts as text)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _when(ts: str | None) -> str:
    """A stored UTC timestamp as people read it in a message: local time, to the second."""
    try:
        return _dt.datetime.fromisoformat(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return str(ts)


def _to_db(field: str, value: Any) -> Any:
    if field == "points":
        return json.dumps([list(map(float, p)) for p in value])
    if field in ("deleted", "locked"):
        return int(bool(value))
    return value


def _row_to_region(row: sqlite3.Row) -> Region:
    points = tuple(tuple(p) for p in json.loads(row["points"]))
    return Region(
        id=row["id"],
        page_id=row["page_id"],
        points=points,  # type: ignore[arg-type]
        text=row["text"],
        label=row["label"],
        confidence=row["confidence"],
        origin=row["origin"],
        prediction_id=row["prediction_id"],
        pred_index=row["pred_index"],
        deleted=bool(row["deleted"]),
        locked=bool(row["locked"]),
        version=row["version"],
    )


def field_state(value: FieldValue, origin: str, checked: bool = False, confirmed_by: str | None = None,
                prediction_id: int | None = None) -> dict:
    """What an Edit ``field:<name>`` logs before and after: the FieldValue JSON (its ``sources``
    region ids) and the row's own facts, everything undo must put back exactly."""
    state = value.to_json() | {"origin": origin, "checked": bool(checked), "confirmed_by": confirmed_by,
                               "prediction_id": prediction_id}
    if value.confidence is not None:
        state["confidence"] = float(value.confidence)  # to_json rounds it: undo must put back the same number
    return state


def _row_value(row) -> FieldValue:
    span = json.loads(row["span"]) if row["span"] else None
    return FieldValue(name=row["name"], text=row["text"], value=row["value"], currency=row["currency"],
                      confidence=row["confidence"], sources=tuple(int(i) for i in json.loads(row["sources"] or "[]")),
                      span=tuple(span) if span else None, absent=bool(row["absent"]))


def _row_state(row) -> dict | None:
    if row is None:
        return None
    return field_state(_row_value(row), row["origin"], bool(row["checked"]), row["confirmed_by"], row["prediction_id"])


def _row_to_page_field(row) -> PageField:
    return PageField(id=row["id"], page_id=row["page_id"], value=_row_value(row), origin=row["origin"],
                     checked=bool(row["checked"]), confirmed_by=row["confirmed_by"],
                     prediction_id=row["prediction_id"], touched=bool(row["touched"]), version=row["version"],
                     updated_at=row["updated_at"], updated_by=row["updated_by"])


def _field_columns(value: FieldValue) -> tuple:
    """(text, value, currency, confidence, sources, span, absent) as stored."""
    return (value.text, value.value, value.currency, value.confidence, json.dumps([int(i) for i in value.sources]),
            json.dumps(list(value.span)) if value.span is not None else None, int(bool(value.absent)))


def _row_to_page(row: sqlite3.Row) -> Page:
    # The columns hold the stored image's size; a Page is the page as shown (turned by rotation).
    rotation = row["rotation"] or 0
    width, height = turned_size(row["width"], row["height"], rotation)
    return Page(
        id=row["id"],
        rotation=rotation,
        document_id=row["document_id"],
        page_no=row["page_no"],
        name=row["name"],
        image_sha256=row["image_sha256"],
        width=width,
        height=height,
        status=PageStatus(row["status"]),
        assignee=row["assignee"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        done_by=row["done_by"],
        done_at=row["done_at"],
    )


def turn_label(quarter_turns: int) -> str:
    """The action label of a page turn (what undo and the audit trail name it)."""
    q = int(quarter_turns) % 4
    return {1: "turn page clockwise", 2: "turn page 180", 3: "turn page counter-clockwise"}.get(q, "turn page")


def _row_to_document(row: sqlite3.Row) -> Document:
    return Document(**{k: row[k] for k in row.keys()})


class Action:
    """The writer handed out inside ``Store.action``: every change goes to the edit log."""

    def __init__(self, conn: sqlite3.Connection, action_id: int, user: str, page_id: int | None,
                 replaying: bool = False, store: Store | None = None):
        self.conn = conn
        #: The store the action writes to: hooks (core.review) call its methods, which join this
        #: action's transaction (inside it, the store's connection is ``conn``).
        self.store = store
        self.replaying = replaying  # undo/redo: the log already holds the status changes
        self.id = action_id
        self.user = user
        self.page_id = page_id
        self.ts = now()
        self.changed_regions: list[int] = []
        #: Names of the page fields this action changed (issue 15).
        self.changed_fields: list[str] = []

    def _log(self, region_id: int | None, field: str, before: Any, after: Any, page_id=None) -> None:
        self.conn.execute(
            "INSERT INTO edits (action_id, ts, user, page_id, region_id, field, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.id,
                self.ts,
                self.user,
                page_id if page_id is not None else self.page_id,
                region_id,
                field,
                json.dumps(before),
                json.dumps(after),
            ),
        )

    def _touch_page(self, page_id: int) -> None:
        # The first human change moves a page from new/pre-filled to in progress, logged like
        # any other change so that undoing that first edit puts the page back.
        if not self.replaying:
            row = self.conn.execute("SELECT status FROM pages WHERE id = ?", (page_id,)).fetchone()
            if row is not None and row["status"] in ("new", "prefilled"):
                self.set_page_status(page_id, PageStatus.IN_PROGRESS)
                return
        self.conn.execute("UPDATE pages SET updated_at = ? WHERE id = ?", (self.ts, page_id))

    def add_region(
        self,
        page_id: int,
        points,
        text: str = "",
        label: str | None = None,
        confidence: float | None = None,
    ) -> int:
        """A region drawn by a person."""
        x0, y0, x1, y1 = quad_bounds(points)
        cur = self.conn.execute(
            "INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, confidence, origin,"
            " touched, created_at, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,1,?,?,?)",
            (page_id, _to_db("points", points), x0, y0, x1, y1, text, label, confidence, HUMAN,
             self.ts, self.ts, self.user),
        )
        region_id = cur.lastrowid
        after = {"points": json.loads(_to_db("points", points)), "text": text, "label": label}
        self._log(region_id, "region", None, after, page_id=page_id)
        self._touch_page(page_id)
        self.changed_regions.append(region_id)
        return region_id

    def _region_row(self, region_id: int, expected_version: int | None):
        """The region's row; NotFoundError when there is none, ConflictError when it moved on
        since the caller loaded ``expected_version`` (another window changed it)."""
        row = self.conn.execute("SELECT * FROM regions WHERE id = ?", (region_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"region {region_id} does not exist")
        if expected_version is not None and row["version"] != expected_version:
            raise ConflictError(
                f"region {region_id} was changed by {row['updated_by']} at {_when(row['updated_at'])}"
                f" (version {row['version']}, this window had {expected_version})"
            )
        return row

    def update_region(self, region_id: int, expected_version: int | None = None, **changes: Any) -> int:
        """Change editable fields of a region; return its new version.

        ``expected_version`` is the version the caller loaded; when the region has moved on
        since (another window changed it), ConflictError is raised and nothing is written.
        """
        unknown = set(changes) - set(EDITABLE_REGION_FIELDS)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        row = self._region_row(region_id, expected_version)
        sets, params = [], []
        for field, value in changes.items():
            new = _to_db(field, value)
            old = row[field]
            if new == old:
                continue
            before = json.loads(old) if field == "points" else old
            after = json.loads(new) if field == "points" else new
            self._log(region_id, field, before, after, page_id=row["page_id"])
            sets.append(f"{field} = ?")
            params.append(new)
            if field == "points":
                x0, y0, x1, y1 = quad_bounds(value)
                sets.append("x0 = ?, y0 = ?, x1 = ?, y1 = ?")
                params += [x0, y0, x1, y1]
        if not sets:
            return row["version"]
        version = row["version"] + 1
        self.conn.execute(
            f"UPDATE regions SET {', '.join(sets)}, version = ?, touched = 1, updated_at = ?,"
            " updated_by = ? WHERE id = ?",
            (*params, version, self.ts, self.user, region_id),
        )
        self._touch_page(row["page_id"])
        self.changed_regions.append(region_id)
        return version

    def delete_region(self, region_id: int, expected_version: int | None = None) -> int:
        """Deleting is a flag, so moderation can still count a deleted prediction."""
        return self.update_region(region_id, expected_version, deleted=True)

    def check_region(self, region_id: int, expected_version: int | None = None, checked: bool = True) -> int:
        """A person read the region's text and found it right (Enter on a line it did not change):
        an Edit ``checked`` (False -> True; an undo logs True -> False) and a new version. Only the
        log holds it (``Store.checked_region_ids``): the row keeps its machine confidence, which QC
        routing and the confidence calibration read. Returns the new version."""
        row = self._region_row(region_id, expected_version)
        self._log(region_id, "checked", not checked, bool(checked), page_id=row["page_id"])
        version = row["version"] + 1
        self.conn.execute("UPDATE regions SET version = ?, touched = 1, updated_at = ?, updated_by = ? WHERE id = ?",
                          (version, self.ts, self.user, region_id))
        self._touch_page(row["page_id"])
        self.changed_regions.append(region_id)
        return version

    # -- key fields of the page (issue 15): people's data, like regions ---------------------------
    def _field_row(self, page_id: int, name: str, expected_version: int | None):
        """The page's row of field ``name`` (None when it has none); ConflictError when the caller
        loaded ``expected_version`` and the field moved on since (or went: an undo removed it)."""
        row = self.conn.execute("SELECT * FROM page_fields WHERE page_id = ? AND name = ?", (page_id, name)).fetchone()
        if expected_version is not None:
            if row is None:
                raise ConflictError(f"field {name} of page {page_id} was removed since this window loaded it"
                                    f" (version {expected_version})")
            if row["version"] != expected_version:
                raise ConflictError(
                    f"field {name} of page {page_id} was changed by {row['updated_by']} at {_when(row['updated_at'])}"
                    f" (version {row['version']}, this window had {expected_version})")
        return row

    def _check_page(self, page_id: int) -> None:
        if self.conn.execute("SELECT 1 FROM pages WHERE id = ?", (page_id,)).fetchone() is None:
            raise NotFoundError(f"page {page_id} does not exist")

    def write_field(self, page_id: int, name: str, state: dict | None, expected_version: int | None = None,
                    force: bool = False) -> int | None:
        """Put field ``name`` of the page in ``state`` (:func:`field_state`; None: no value at all),
        logged as an Edit ``field:<name>`` with the state before; return the new version (None when
        the row is gone). Nothing is written or logged when the state is already that, unless
        ``force`` (accepting a value twice still says who accepted it last)."""
        row = self._field_row(page_id, name, expected_version)
        before = _row_state(row)
        if before == state and not force:
            return row["version"] if row is not None else None
        self._log(None, FIELD_EDIT + name, before, state, page_id=page_id)
        version: int | None
        if state is None:
            self.conn.execute("DELETE FROM page_fields WHERE id = ?", (row["id"],))
            version = None
        else:
            value = FieldValue.from_json(state)
            cols = (*_field_columns(value), state["origin"], state.get("prediction_id"), int(bool(state.get("checked"))),
                    state.get("confirmed_by"))
            if row is None:
                version = 1
                self.conn.execute(
                    "INSERT INTO page_fields (page_id, name, text, value, currency, confidence, sources, span, absent,"
                    " origin, prediction_id, checked, confirmed_by, touched, version, created_at, updated_at, updated_by)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?,?)",
                    (page_id, name, *cols, version, self.ts, self.ts, self.user))
            else:
                version = row["version"] + 1
                self.conn.execute(
                    "UPDATE page_fields SET text = ?, value = ?, currency = ?, confidence = ?, sources = ?, span = ?,"
                    " absent = ?, origin = ?, prediction_id = ?, checked = ?, confirmed_by = ?, touched = 1,"
                    " version = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                    (*cols, version, self.ts, self.user, row["id"]))
        self._touch_page(page_id)
        self.changed_fields.append(name)
        return version

    def _check_sources(self, page_id: int, sources) -> None:
        ids = sorted({int(i) for i in sources})
        if not ids:
            return
        found = {r[0] for r in self.conn.execute(
            f"SELECT id FROM regions WHERE page_id = ? AND id IN ({','.join('?' * len(ids))})", (page_id, *ids))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValueError(f"not regions of page {page_id}: {', '.join(map(str, missing))}")

    def set_field(self, page_id: int, value: FieldValue, expected_version: int | None = None) -> int:
        """A person's value of a field (a typed correction, a source picked on the page): origin
        ``human``, confirmed by this user, not "checked" (that is accepting the value as it was).
        A value without its normalised form (``value`` None) gets it from the text
        (:func:`core.fields.make_value`); ``absent`` clears the text. A value without ``sources``
        keeps those of the page's value (a correction of what was read there). Source region ids
        must be the page's (ValueError). Returns the new version."""
        name = (value.name or "").strip()
        if not name:
            raise ValueError("a field needs a name")
        self._check_page(page_id)
        self._check_sources(page_id, value.sources)
        if not value.sources and not value.absent:
            # A typed correction keeps the regions the value was read from (the span within them
            # no longer holds).
            row = self._field_row(page_id, name, None)
            if row is not None and not row["absent"] and json.loads(row["sources"] or "[]"):
                value = dataclasses.replace(value, sources=tuple(json.loads(row["sources"])), span=None)
        if value.absent:
            value = FieldValue(name=name, absent=True)
        elif value.value is None:
            made = make_value(name, value.text, confidence=value.confidence, sources=tuple(value.sources),
                              span=value.span)
            value = FieldValue(name=name, text=made.text, value=made.value, currency=value.currency or made.currency,
                               confidence=made.confidence, sources=made.sources, span=made.span)
        elif value.name != name:
            value = dataclasses.replace(value, name=name)
        return self.write_field(page_id, name, field_state(value, HUMAN, False, self.user), expected_version)

    def check_field(self, page_id: int, name: str, expected_version: int | None = None) -> int:
        """A person accepted the field's value as it is (Enter): ``checked``, confirmed by them;
        the value, its origin and sources stay. NotFoundError when the page has no such field."""
        row = self._field_row(page_id, name, expected_version)
        if row is None:
            raise NotFoundError(f"page {page_id} has no value of field {name}")
        state = _row_state(row) | {"checked": True, "confirmed_by": self.user}
        return self.write_field(page_id, name, state, expected_version, force=True)

    def set_field_absent(self, page_id: int, name: str, expected_version: int | None = None) -> int:
        """A person says the field is not on this page."""
        return self.set_field(page_id, FieldValue(name=name, absent=True), expected_version)

    def turn_page(self, page_id: int, quarter_turns: int) -> int:
        """Turn a page by quarter turns, clockwise (negative: counter-clockwise); return its new
        rotation (ADR 0008).

        The stored image stays as it is; the page's ``rotation`` changes, and every region of the
        page (deleted ones too: undeleting one must put it in the right place) moves with it, each
        move logged as a ``points`` edit beside the page's ``rotation`` edit. A turn does not make a
        region "touched by a person" (its text and shape are the machine's as before), and does not
        move a new page into progress (it can still be pre-filled).
        """
        row = self.conn.execute("SELECT rotation, width, height FROM pages WHERE id = ?", (page_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"page {page_id} does not exist")
        old = row["rotation"] or 0
        delta = (int(quarter_turns) * 90) % 360
        if not delta:
            return old
        new = (old + delta) % 360
        shown_w, shown_h = turned_size(row["width"], row["height"], old)
        self._log(None, "rotation", old, new, page_id=page_id)
        self.conn.execute("UPDATE pages SET rotation = ?, updated_at = ? WHERE id = ?", (new, self.ts, page_id))
        regions = self.conn.execute("SELECT id, points FROM regions WHERE page_id = ? ORDER BY id",
                                    (page_id,)).fetchall()
        edits, updates = [], []
        for r in regions:
            before = json.loads(r["points"])
            after = turn_points(before, delta, shown_w, shown_h)
            stored = _to_db("points", after)
            edits.append((self.id, self.ts, self.user, page_id, r["id"], "points", json.dumps(before), stored))
            updates.append((stored, *quad_bounds(after), self.ts, self.user, r["id"]))
        if regions:
            self.conn.executemany(
                "INSERT INTO edits (action_id, ts, user, page_id, region_id, field, before, after)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", edits)
            self.conn.executemany(
                "UPDATE regions SET points = ?, x0 = ?, y0 = ?, x1 = ?, y1 = ?, version = version + 1,"
                " updated_at = ?, updated_by = ? WHERE id = ?", updates)
            self.changed_regions.extend(r["id"] for r in regions)
        return new

    def set_page_status(self, page_id: int, status: PageStatus) -> None:
        row = self.conn.execute("SELECT status FROM pages WHERE id = ?", (page_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"page {page_id} does not exist")
        status = PageStatus(status)
        if row["status"] == status.value:
            return
        self._log(None, "status", row["status"], status.value, page_id=page_id)
        if status == PageStatus.DONE:
            done_by, done_at = self.user, self.ts
        elif status in (PageStatus.NEW, PageStatus.PREFILLED, PageStatus.IN_PROGRESS):
            done_by, done_at = None, None  # back in the queue: no longer done by anyone
        else:  # approved / rejected keep who did the page
            row2 = self.conn.execute("SELECT done_by, done_at FROM pages WHERE id = ?", (page_id,)).fetchone()
            done_by, done_at = row2["done_by"], row2["done_at"]
        self.conn.execute(
            "UPDATE pages SET status = ?, updated_at = ?, done_by = ?, done_at = ? WHERE id = ?",
            (status.value, self.ts, done_by, done_at, page_id),
        )
        if status == PageStatus.DONE:
            self.conn.execute("DELETE FROM leases WHERE page_id = ?", (page_id,))  # done: nobody's any more
            # Fresh verdicts and the QC routing decision, in this same transaction.
            from .review import on_page_done

            on_page_done(self, page_id)


class Store(ReviewQueries, LeaseQueries, RunQueries, AnalyticsQueries, TextLayerQueries):
    def __init__(self, path, readonly: bool = False, *, create_schema: bool = False):
        """Open (and migrate) the project database: a SQLite file at ``path``, or a project on a
        PostgreSQL server when ``path`` is a :class:`core.db.ServerLocation` (``create_schema``:
        make its schema when it does not exist yet, for ``proofdesk init``).

        ``readonly``: for commands that only read. The file is opened ``mode=ro`` (a project on
        a read-only disk or share, or one the OS user may only read, still lists and exports);
        nothing is migrated, and an older database is refused with a message instead.
        """
        self.server: ServerLocation | None = path if isinstance(path, ServerLocation) else None
        self.path = None if self.server else Path(path)
        self.dialect = POSTGRESQL if self.server else SQLITE
        self.readonly = readonly
        #: Names this store's own announcements (notify), so its windows skip their own changes.
        self.client_id = uuid.uuid4().hex[:12]
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        try:
            if self.server:
                self._open_server(create_schema)
            else:
                conn = self.conn
                # Check the schema version before anything else touches the file: a database
                # from a newer Proofdesk is left exactly as it was.
                if readonly:
                    if schema.pending(Database(conn)):
                        raise ProjectError(f"{self.path} was written by an older Proofdesk and must be upgraded:"
                                           " open it once with write access")
                else:
                    schema.migrate(Database(conn))
        except BaseException:
            self.close()
            raise
        if not readonly and not self.server:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self._identity = self._file_identity()

    @property
    def where(self) -> str:
        """The project database as people name it: a file's path, or the server URL without its
        password."""
        return self.server.display if self.server else str(self.path)

    def _open_server(self, create_schema: bool) -> None:
        from . import team

        conn = self.conn
        name = self.server.project
        found = conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", (name,)).fetchone()
        migrator = schema.PgMigrator(conn)
        todo = schema.pending(migrator) if found else ["(new project)"]
        if not todo:
            return
        if found and self.readonly:
            raise ProjectError(f"{self.server.display} was written by an older Proofdesk and must be"
                               " upgraded: open it once as its admin")
        if not found and not create_schema:
            raise ProjectError(f"there is no project {name!r} on {self.server.display}; create it with"
                               " `proofdesk init URL`")
        # On a prepared server the schema and its tables belong to the owner role (admins act as
        # it); an annotator or reviewer cannot create or migrate a project.
        as_owner = team.prepare_schema(conn, self.server, create=not found)
        try:
            if not found:
                conn.raw.execute(f'CREATE SCHEMA "{name}"')
            schema.migrate(migrator)
            team.apply_grants(conn, self.server)
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                raise PermissionDenied(f"only an admin creates or upgrades a project on {self.server.display}"
                                       f" ({exc.diag.message_primary})") from None
            raise
        finally:
            if as_owner:
                conn.raw.execute("RESET ROLE")

    def _file_identity(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def check_file(self) -> None:
        """Raise ProjectError when the database file was deleted or replaced since it was opened.

        On Linux an open SQLite connection to an unlinked file goes on reading and writing the
        deleted inode, so a long command would report success and leave nothing behind. Long
        jobs call this between steps and before they report: one ``stat``, no database access.
        (A server's database cannot be replaced under a connection: nothing to check.)
        """
        if self.path is not None and self._file_identity() != self._identity:
            raise ProjectError(f"the project database {self.path} was deleted or replaced while this command ran;"
                               " nothing more was written")

    # -- connections -------------------------------------------------------------------
    @property
    def conn(self):
        """This thread's connection: ``sqlite3.Connection``, or :class:`core.db.PgConnection`
        (the same ``execute``/``executemany``/``in_transaction``, rows read by name)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self.server and conn.lost and not conn.in_transaction_safe():
            # The server went away since (restart, network): connect again at this use.
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            conn = self._local.conn = None
        if conn is None:
            if self.server:
                conn = PgConnection(self.server, self.server.project, lock_key(self.server.project))
                if self.readonly:
                    conn.raw.execute("SET default_transaction_read_only = on")
            else:
                # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per action.
                conn = self._connect()
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA busy_timeout=30000")
                # NORMAL is durable in WAL mode across application crashes (only a power cut can
                # lose the last commits); FULL makes every keystroke wait for fsync.
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            return conn
        except sqlite3.OperationalError:
            # A WAL database in a folder we cannot write has no -shm to share: SQLite can then
            # only read it as immutable (nobody can write it there either).
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False)

    def close(self) -> None:
        if self.server is not None and not self.readonly and getattr(self._local, "conn", None) is not None:
            # The window or worker goes: the pages it held are free at once (best effort: a lost
            # server lets them expire instead).
            with contextlib.suppress(Exception):
                self.release_leases(self.client_id)
        mine = getattr(self._local, "conn", None)
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):
                    if isinstance(conn, sqlite3.Connection) and conn is not mine:
                        # Another thread's (a background refresh of a screen being closed): closing
                        # it under a query it runs crashes the process. Its query is interrupted
                        # (it fails with "interrupted"), and the connection is closed when that
                        # thread lets go of it.
                        conn.interrupt()
                    else:
                        conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator:
        """One write transaction; nested calls join the outer one.

        SQLite: ``BEGIN IMMEDIATE`` takes the file's write lock. PostgreSQL: the same statement
        becomes ``BEGIN`` plus the project's advisory lock (core.db), so writers of one project
        are serialised there too and a read-then-write inside a transaction is never stale.
        """
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # SQLite has rolled back already after some errors (SQLITE_FULL, SQLITE_IOERR): a
            # second ROLLBACK would fail and hide the error that matters.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # e.g. SQLITE_BUSY: the transaction is still open
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    # -- settings, users, fields -------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def get_choice(self, key: str, choices: Sequence[str], default: str) -> str:
        """A setting that is one of ``choices``: ``default`` when unset or unknown (say, written
        by a later version)."""
        value = self.get_setting(key, default)
        return value if value in choices else default

    def set_choice(self, key: str, value: str, choices: Sequence[str], what: str) -> None:
        """Store a setting that must be one of ``choices``; ValueError naming ``what`` otherwise."""
        if value not in choices:
            raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
        self.set_setting(key, value)

    def ensure_user(self, name: str, role: Role = Role.ANNOTATOR) -> User:
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?, ?, ?)",
                (name, Role(role).value, now()),
            )
            row = c.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return User(id=row["id"], name=row["name"], role=Role(row["role"]))

    def get_user(self, name: str) -> User | None:
        row = self.conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        user = User(id=row["id"], name=row["name"], role=Role(row["role"])) if row else None
        if self.server is not None and name == self.login:
            # On a team project the server's word is the role: the login's group (what the server
            # enforces), the `users` row only mirrors it.
            role = self.login_role()
            if role is not None:
                return User(id=user.id if user else 0, name=name, role=role)
        return user

    @property
    def login(self) -> str | None:
        """A team project: the PostgreSQL login this store works as (None: a project folder)."""
        if self.server is None:
            return None
        cached = getattr(self, "_login", None)
        if cached is None:
            cached = self._login = self.conn.raw.execute("SELECT current_user").fetchone()[0]
        return cached

    def login_role(self) -> Role | None:
        """The role the server gives this store's login: its Proofdesk group; admin for a superuser
        on a database nobody prepared (one person's own server); None when neither."""
        cached = getattr(self, "_login_role", False)
        if cached is not False:
            return cached
        from . import team

        raw = self.conn.raw
        role = team.role_of_login(raw, self.server.database) if team.is_initialised(raw, self.server.database) else None
        if role is None and raw.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            role = Role.ADMIN
        self._login_role = role
        return role

    def users(self) -> list[User]:
        return [User(id=r["id"], name=r["name"], role=Role(r["role"])) for r in self.query("SELECT * FROM users ORDER BY name")]

    def has_admins(self) -> bool:
        return bool(self.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"))

    def require_admin(self, user: str) -> None:
        """PermissionDenied unless ``user`` is an admin, once the project has one (before that, a
        one-person project: its user may do admin things, and may make itself the first admin).
        The one home of that rule."""
        from .roles import require

        if self.has_admins():
            actor = self.get_user(user)
            require(actor.role if actor else Role.ANNOTATOR, "admin")

    def has_any_password(self) -> bool:
        return bool(self.query("SELECT 1 FROM users WHERE password_hash IS NOT NULL LIMIT 1"))

    def user_list(self) -> list[tuple[str, str, bool]]:
        """(name, role, has a password) of every user, by name."""
        return [(r["name"], r["role"], bool(r["pw"])) for r in self.query(
            "SELECT name, role, password_hash IS NOT NULL AS pw FROM users ORDER BY name")]

    def set_user_role(self, admin: str, name: str, role: Role) -> None:
        """Only an admin changes roles (the first user of a project may make itself admin)."""
        self.require_admin(admin)
        self.ensure_user(name)
        with self.transaction() as c:
            c.execute("UPDATE users SET role = ? WHERE name = ?", (Role(role).value, name))

    def has_password(self, name: str) -> bool:
        row = self.conn.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return row is not None and row["password_hash"] is not None

    def set_password(self, name: str, password: str | None, *, actor: str, proof: str | None = None) -> None:
        """Set ``name``'s password (None or empty: remove it), as ``actor`` who proves who they
        are with ``proof``, their own password (ignored when ``actor`` has none).

        Enforced here, whatever the caller shows: a password that exists is changed or removed
        only with it (``actor`` is ``name``) or by an admin; where the project has admins, only
        an admin sets someone else's password.
        """
        from .roles import hash_password, require

        if self.has_password(actor) and not self.check_password(actor, proof or ""):
            raise PermissionDenied(f"wrong password for {actor}")
        if actor != name:
            if self.has_admins() or self.has_password(name):
                actor_user = self.get_user(actor)
                try:
                    require(actor_user.role if actor_user else Role.ANNOTATOR, "admin")
                except PermissionDenied:
                    raise PermissionDenied(
                        f"only {name} (with the current password) or an admin can change {name}'s password"
                    ) from None
        self.ensure_user(name)
        with self.transaction() as c:
            c.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                      (hash_password(password) if password else None, name))

    def check_password(self, name: str, password: str) -> bool:
        """True when the user has no password or the password matches.

        A match against a hash made with a lower scrypt cost than today's stores a new hash at
        today's cost: existing passwords are upgraded at the next successful sign-in.
        """
        from .roles import hash_password, needs_rehash, verify_password

        row = self.conn.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        if row is None or row["password_hash"] is None:
            return True
        stored = row["password_hash"]
        if not verify_password(password, stored):
            return False
        if needs_rehash(stored) and not self.readonly:
            with self.transaction() as c:  # only if nobody changed it meanwhile
                c.execute("UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                          (hash_password(password), name, stored))
        return True

    def review_page(self, reviewer: str, page_id: int, verdict: str, comment: str = "") -> int:
        """Approve or reject a done page. Enforced here: reviewers only, never one's own page.

        A rejected page goes back to its annotator's queue with the comment.
        """
        from .errors import PermissionDenied
        from .roles import require

        if verdict not in ("approved", "rejected"):
            raise ValueError("verdict must be 'approved' or 'rejected'")
        user = self.get_user(reviewer)
        require(user.role if user else Role.ANNOTATOR, "review")
        page = self.get_page(page_id)
        annotators = {r["user"] for r in self.query(
            "SELECT DISTINCT user FROM edits WHERE page_id = ? AND user != ?", (page_id, page.done_by or ""))}
        if page.done_by == reviewer or (page.done_by is None and reviewer in annotators):
            raise PermissionDenied("nobody reviews their own work: ask another reviewer")
        if verdict == "rejected" and not comment.strip():
            raise ValueError("say why the page is rejected: the annotator sees the comment")
        with self.action(reviewer, page_id, f"review: {verdict}") as a:
            a.set_page_status(page_id, PageStatus(verdict))
            a.conn.execute("DELETE FROM leases WHERE page_id = ?", (page_id,))  # reviewed: nobody's any more
            if verdict == "rejected":
                a.conn.execute("UPDATE pages SET assignee = ? WHERE id = ?", (page.done_by, page_id))
            cur = a.conn.execute(
                "INSERT INTO reviews (page_id, reviewer, verdict, comment, created_at) VALUES (?,?,?,?,?)",
                (page_id, reviewer, verdict, comment, a.ts))
            from .review import on_page_reviewed

            on_page_reviewed(a, page_id, cur.lastrowid)  # closes the queue entry, scores the annotator
            return cur.lastrowid

    def reviews(self, page_id: int) -> list[Review]:
        return [Review(id=r["id"], page_id=r["page_id"], reviewer=r["reviewer"], verdict=r["verdict"],
                       comment=r["comment"], created_at=r["created_at"])
                for r in self.query("SELECT * FROM reviews WHERE page_id = ? ORDER BY id", (page_id,))]

    def page_verdicts(self, page_id: int) -> list:
        """Verdicts of the page's latest prediction against its current regions."""
        from .verdicts import compute_verdicts

        preds = self.predictions(page_id)
        if not preds:
            return []
        return compute_verdicts(preds[-1], self.regions(page_id, include_deleted=True))

    def fields(self) -> list[str]:
        return [r["name"] for r in self.query("SELECT name FROM fields ORDER BY position")]

    def set_fields(self, names: list[str]) -> None:
        clean = [n.strip() for n in names if n.strip()]
        if len(set(clean)) != len(clean):
            raise ValueError("field names must be unique")
        with self.transaction() as c:
            c.execute("DELETE FROM fields")
            c.executemany("INSERT INTO fields (name, position) VALUES (?, ?)",
                          [(n, i) for i, n in enumerate(clean)])

    # -- documents and pages -------------------------------------------------------------
    def find_document(self, sha256: str) -> Document | None:
        row = self.conn.execute("SELECT * FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return _row_to_document(row) if row else None

    def add_document(self, doc: Document, pages: list[Page], references: list[dict | None] | None = None) -> int:
        """Insert a document with all its pages (and their reference lines) in one transaction.

        Either everything lands or nothing does: no half documents.
        """
        stamp = now()
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO documents (name, sha256, source, kind, imported_at, imported_by, batch,"
                " page_count) VALUES (?,?,?,?,?,?,?,?)",
                (doc.name, doc.sha256, doc.source, doc.kind, doc.imported_at or stamp,
                 doc.imported_by, doc.batch, len(pages)),
            )
            doc_id = cur.lastrowid
            for i, page in enumerate(pages):
                cur = c.execute(
                    "INSERT INTO pages (document_id, page_no, name, image_sha256, width, height,"
                    " status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (doc_id, page.page_no, page.name, page.image_sha256, page.width, page.height,
                     PageStatus.NEW.value, stamp, stamp),
                )
                ref = references[i] if references else None
                if ref is not None:
                    c.execute(
                        "INSERT INTO page_references (page_id, lines, fields, source) VALUES (?,?,?,?)",
                        (cur.lastrowid, json.dumps(ref["lines"]), json.dumps(ref.get("fields", {})),
                         ref.get("source", "")),
                    )
            self.notify(c, "import", None)
        return doc_id

    def documents(self) -> list[Document]:
        return [_row_to_document(r) for r in self.query("SELECT * FROM documents ORDER BY id")]

    def get_document(self, doc_id: int) -> Document:
        row = self.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"document {doc_id} does not exist")
        return _row_to_document(row)

    def pages(self, status: str | PageStatus | None = None) -> list[Page]:
        if status is None:
            rows = self.query("SELECT * FROM pages ORDER BY document_id, page_no")
        else:
            rows = self.query("SELECT * FROM pages WHERE status = ? ORDER BY document_id, page_no",
                              (PageStatus(status).value,))
        return [_row_to_page(r) for r in rows]

    def pages_of(self, document_id: int) -> list[Page]:
        rows = self.query("SELECT * FROM pages WHERE document_id = ? ORDER BY page_no", (document_id,))
        return [_row_to_page(r) for r in rows]

    # -- files kept in the database (a team project's images) --------------------------------------
    def put_blob(self, sha: str, ext: str, data: bytes) -> None:
        """Keep ``data`` under its sha256 (a second put of the same bytes writes nothing)."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO blobs (sha256, ext, size, data, created_at) VALUES (?,?,?,?,?)",
                      (sha, ext, len(data), data, now()))

    def get_blob(self, sha: str) -> tuple[str, bytes] | None:
        row = self.conn.execute("SELECT ext, data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        return (row["ext"], bytes(row["data"])) if row else None

    def put_file(self, rel: str, data: bytes) -> str:
        """Keep a project file (a model version's, a dataset manifest) on the server: its bytes as a
        blob, its path pointing at them. Returns the sha256."""
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        with self.transaction() as c:
            self.put_blob(sha, Path(rel).suffix.lstrip(".") or "bin", data)
            c.execute("INSERT INTO project_files (path, sha256, size, created_at) VALUES (?,?,?,?)"
                      " ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,"
                      " created_at = excluded.created_at", (rel, sha, len(data), now()))
        return sha

    def files_under(self, rel: str) -> list[tuple[str, str]]:
        """(path, sha256) of the project file ``rel``, or of every file in the folder ``rel``."""
        rel = rel.rstrip("/")
        return [(r[0], r[1]) for r in self.query(
            "SELECT path, sha256 FROM project_files WHERE path = ? OR substr(path, 1, ?) = ? ORDER BY path",
            (rel, len(rel) + 1, rel + "/"))]

    def blob_hashes(self) -> set[str]:
        return {r[0] for r in self.query("SELECT sha256 FROM blobs")}

    def get_page(self, page_id: int) -> Page:
        row = self.conn.execute("SELECT * FROM pages WHERE id = ?", (page_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"page {page_id} does not exist")
        return _row_to_page(row)

    def count_pages(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM pages").fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self.query("SELECT status, COUNT(*) n FROM pages GROUP BY status")}

    def set_reference(self, page_id: int, lines: list[dict], fields: dict, source: str) -> None:
        """Store (or replace) a page's reference lines and fields."""
        with self.transaction() as c:
            c.execute("INSERT INTO page_references (page_id, lines, fields, source) VALUES (?,?,?,?)"
                      " ON CONFLICT(page_id) DO UPDATE SET lines = excluded.lines, fields = excluded.fields,"
                      " source = excluded.source", (page_id, json.dumps(lines), json.dumps(fields), source))

    def reference(self, page_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM page_references WHERE page_id = ?", (page_id,)).fetchone()
        if row is None:
            return None
        return {"lines": json.loads(row["lines"]), "fields": json.loads(row["fields"]), "source": row["source"]}

    # -- regions -------------------------------------------------------------------------
    def regions(self, page_id: int, include_deleted: bool = False) -> list[Region]:
        """A page's regions in reading order (top to bottom, then left to right)."""
        sql = "SELECT * FROM regions WHERE page_id = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        rows = self.query(sql, (page_id,))
        regions = [_row_to_region(r) for r in rows]
        return sort_reading_order(regions)

    def region_provenance(self, page_id: int) -> dict[int, tuple[bool, str | None, str | None]]:
        """Region id -> (touched by a person, who changed it last, when: UTC ISO 8601), deleted
        regions included; what an export says about where each line came from."""
        return {r["id"]: (bool(r["touched"]), r["updated_by"], r["updated_at"]) for r in self.query(
            "SELECT id, touched, updated_by, updated_at FROM regions WHERE page_id = ?", (page_id,))}

    def get_region(self, region_id: int) -> Region:
        row = self.conn.execute("SELECT * FROM regions WHERE id = ?", (region_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"region {region_id} does not exist")
        return _row_to_region(row)

    # -- predictions -----------------------------------------------------------------------
    def has_prediction(self, page_id: int, engine: str, config_hash: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM predictions WHERE page_id = ? AND engine = ? AND config_hash = ? LIMIT 1",
            (page_id, engine, config_hash),
        ).fetchone()
        return row is not None

    def add_prediction(self, pred: Prediction) -> int:
        """Write an immutable Prediction and make it the page's pre-filled regions.

        Regions a person touched are kept as they are; untouched machine regions from an
        earlier prediction are replaced, and a new predicted region that overlaps a touched
        one is not added (the person's version wins). A page people finished (done, approved)
        keeps its regions exactly: marking it done accepted its untouched regions too, so the
        prediction is stored (for comparison and evaluation) and nothing on the page changes.
        """
        stamp = now()
        with self.transaction() as c:
            status = c.execute("SELECT status, rotation, width, height FROM pages WHERE id = ?",
                               (pred.page_id,)).fetchone()
            finished = status is not None and status["status"] in (PageStatus.DONE.value, PageStatus.APPROVED.value)
            # The turn its points were made at (ADR 0008): as given, else the page's turn now.
            turn_now = (status["rotation"] or 0) if status is not None else 0
            frame = turn_now if pred.rotation is None else int(pred.rotation) % 360
            cur = c.execute(
                "INSERT INTO predictions (page_id, engine, engine_version, model_version, config,"
                " config_hash, regions, duration_s, created_at, rotation, fields) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (pred.page_id, pred.engine, pred.engine_version, pred.model_version,
                 json.dumps(pred.config, sort_keys=True), pred.config_hash,
                 json.dumps([_pred_region_json(r) for r in pred.regions]), pred.duration_s, stamp, frame,
                 json.dumps([f.to_json() for f in pred.fields])),
            )
            pred_id = cur.lastrowid
            self.notify(c, "prediction", pred.page_id)
            c.execute("DELETE FROM leases WHERE page_id = ? AND purpose = 'prefill'", (pred.page_id,))
            if finished:
                return pred_id
            # The page's field values that stay name the regions they were read from: those regions
            # stay too (a person's value always; every value when this prediction has no fields).
            page_fields = c.execute("SELECT * FROM page_fields WHERE page_id = ?", (pred.page_id,)).fetchall()
            anchors = {int(i) for r in page_fields if r["touched"] or not pred.fields
                       for i in json.loads(r["sources"] or "[]")}
            stale = [r["id"] for r in c.execute(
                "SELECT id FROM regions WHERE page_id = ? AND touched = 0 AND origin != ?", (pred.page_id, HUMAN))
                if r["id"] not in anchors]
            if stale and not anchors:
                c.execute("DELETE FROM regions WHERE page_id = ? AND touched = 0 AND origin != ?",
                          (pred.page_id, HUMAN))
            elif stale:
                c.executemany("DELETE FROM regions WHERE id = ?", [(i,) for i in stale])
            # A predicted region a person deleted still blocks its place: re-running the
            # engine must not bring back what someone removed.
            kept = [json.loads(r["points"]) for r in c.execute(
                "SELECT points FROM regions WHERE page_id = ? AND (deleted = 0 OR origin != ?)",
                (pred.page_id, HUMAN))]
            # The regions go on the page as it is shown now.
            points = [r.points for r in pred.regions] if frame == turn_now or status is None else [
                reframe(r.points, frame, turn_now, status["width"], status["height"]) for r in pred.regions]
            # Polygon IoU: on a skewed page neighbouring lines' rectangles overlap, their polygons do not.
            blocked = any_overlap(points, kept, 0.5)
            rows = []
            for i, r in enumerate(pred.regions):
                if blocked[i]:
                    continue
                bounds = quad_bounds(points[i])
                rows.append((pred.page_id, _to_db("points", points[i]), *bounds, r.text, r.label,
                             r.confidence, "prediction", pred_id, i, stamp, stamp, pred.engine))
            c.executemany(
                "INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, confidence,"
                " origin, prediction_id, pred_index, created_at, updated_at, updated_by)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            if pred.fields:
                self._prefill_fields(c, pred, pred_id, page_fields, stamp)
            c.execute(
                "UPDATE pages SET status = CASE WHEN status = 'new' THEN 'prefilled' ELSE status END,"
                " updated_at = ? WHERE id = ?",
                (stamp, pred.page_id),
            )
        return pred_id

    @staticmethod
    def _prefill_fields(c, pred: Prediction, pred_id: int, existing: Sequence, stamp: str) -> None:
        """The prediction's fields become the page's field values (inside add_prediction's
        transaction, after its regions): each ``sources`` index mapped to the region made from that
        predicted region (one a person's region blocked is left out), the first value of a name
        winning. A value a person set, checked or marked absent is never replaced; the machine's
        values of an earlier prediction are replaced, and dropped when this one lacks their name.
        Like pre-filled regions, not an action: no Edit, not undoable."""
        region_of = {r["pred_index"]: r["id"] for r in c.execute(
            "SELECT id, pred_index FROM regions WHERE prediction_id = ?", (pred_id,))}
        by_name = {r["name"]: r for r in existing}
        seen: set[str] = set()
        for f in pred.fields:
            f = FieldValue.from_json(f.to_json())  # exactly what the prediction row keeps
            name = (f.name or "").strip()
            if not name or name in seen:
                continue
            seen.add(name)
            row = by_name.get(name)
            if row is not None and row["touched"]:
                continue  # people's data
            sources = tuple(region_of[i] for i in f.sources if i in region_of)
            span = f.span if f.sources and f.sources[0] in region_of else None
            cols = _field_columns(dataclasses.replace(f, name=name, sources=sources, span=span))
            if row is None:
                c.execute(
                    "INSERT INTO page_fields (page_id, name, text, value, currency, confidence, sources, span, absent,"
                    " origin, prediction_id, created_at, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (pred.page_id, name, *cols, "prediction", pred_id, stamp, stamp, pred.engine))
            else:
                c.execute(
                    "UPDATE page_fields SET text = ?, value = ?, currency = ?, confidence = ?, sources = ?, span = ?,"
                    " absent = ?, origin = 'prediction', prediction_id = ?, checked = 0, confirmed_by = NULL,"
                    " version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?",
                    (*cols, pred_id, stamp, pred.engine, row["id"]))
        gone = [(r["id"],) for r in existing if r["name"] not in seen and not r["touched"]]
        if gone:
            c.executemany("DELETE FROM page_fields WHERE id = ?", gone)

    def at_page_turn(self, page_id: int, rows: Sequence) -> list:
        """Prediction rows of a page with their ``regions`` at the page's turn now (ADR 0008): a
        prediction made before the page was turned is compared with the regions after it. Rows
        already there are returned as they are; the others as dicts, ``rotation`` the page's."""
        page = self.conn.execute("SELECT rotation, width, height FROM pages WHERE id = ?", (page_id,)).fetchone()
        turn = (page["rotation"] or 0) if page is not None else 0
        if page is None or all((r["rotation"] or 0) == turn for r in rows):
            return list(rows)
        out = []
        for r in rows:
            frame = r["rotation"] or 0
            if frame == turn:
                out.append(r)
                continue
            d = {k: r[k] for k in r.keys()}
            regions = json.loads(d["regions"])
            for reg in regions:
                reg["points"] = [list(p) for p in reframe(reg["points"], frame, turn, page["width"], page["height"])]
            d["regions"], d["rotation"] = json.dumps(regions), turn
            out.append(d)
        return out

    def predictions(self, page_id: int) -> list[Prediction]:
        """A page's predictions, oldest first, their points at the page's turn now."""
        rows = self.at_page_turn(page_id, self.query("SELECT * FROM predictions WHERE page_id = ? ORDER BY id",
                                                     (page_id,)))
        return [
            Prediction(
                id=r["id"], page_id=r["page_id"], engine=r["engine"], engine_version=r["engine_version"],
                model_version=r["model_version"], config=json.loads(r["config"]),
                config_hash=r["config_hash"], duration_s=r["duration_s"], created_at=r["created_at"],
                rotation=r["rotation"],
                fields=tuple(FieldValue.from_json(d) for d in json.loads(r["fields"] or "[]")),
                regions=tuple(
                    PredictedRegion(points=tuple(tuple(p) for p in d["points"]), text=d["text"],
                                    confidence=d["confidence"], label=d.get("label"),
                                    disagree=bool(d.get("disagree")), second_opinion=d.get("second_opinion"))
                    for d in json.loads(r["regions"])
                ),
            )
            for r in rows
        ]

    # -- actions: every human change ----------------------------------------------------------
    @contextlib.contextmanager
    def action(self, user: str, page_id: int | None, label: str) -> Iterator[Action]:
        """One user action: one transaction, one ``actions`` row, its ``edits`` rows.

        >>> # with store.action("ana", page.id, "edit text") as a:
        >>> #     a.update_region(region.id, text="TOTAL")
        """
        with self.transaction() as c:
            cur = c.execute("INSERT INTO actions (page_id, user, ts, label) VALUES (?,?,?,?)",
                            (page_id, user, now(), label))
            yield Action(c, cur.lastrowid, user, page_id, store=self)
            self.notify(c, "edit", page_id, user)

    # -- live: the other windows on a team project ----------------------------------------------
    @property
    def channel(self) -> str | None:
        """The PostgreSQL channel a team project's changes are announced on (None: a folder)."""
        return f"proofdesk_{self.server.project}" if self.server else None

    def notify(self, c, kind: str, page_id: int | None, user: str | None = None) -> None:
        """Announce a change to the project's other open windows (core/live.py): ``edit`` (an
        action, an undo or redo, a review), ``prediction`` (pre-fill stored a page), ``import``.
        Sent inside the writer's transaction, so PostgreSQL delivers it at commit, and never for a
        change that was rolled back. Nothing to do on a project folder."""
        if self.server:
            c.execute("SELECT pg_notify(?, ?)",
                      (self.channel, json.dumps({"kind": kind, "page": page_id, "user": user, "client": self.client_id})))

    # Convenience wrappers: one action each.
    def add_region(self, user: str, page_id: int, points, text: str = "", label: str | None = None) -> int:
        with self.action(user, page_id, "add region") as a:
            return a.add_region(page_id, points, text=text, label=label)

    def update_region(self, user: str, region_id: int, expected_version: int | None = None, **changes) -> int:
        page_id = self.get_region(region_id).page_id
        with self.action(user, page_id, "edit " + ",".join(sorted(changes))) as a:
            return a.update_region(region_id, expected_version, **changes)

    def delete_regions(self, user: str, region_ids: list[int]) -> None:
        if not region_ids:
            return
        page_id = self.get_region(region_ids[0]).page_id
        with self.action(user, page_id, f"delete {len(region_ids)} region(s)") as a:
            for rid in region_ids:
                a.delete_region(rid)

    def set_page_status(self, user: str, page_id: int, status: PageStatus) -> None:
        with self.action(user, page_id, f"mark {PageStatus(status).value}") as a:
            a.set_page_status(page_id, status)

    def turn_page(self, user: str, page_id: int, quarter_turns: int) -> int:
        """Turn a page by quarter turns (clockwise; negative: counter-clockwise) as one undoable
        action; return its new rotation."""
        with self.action(user, page_id, turn_label(quarter_turns)) as a:
            return a.turn_page(page_id, quarter_turns)

    # -- key fields of a page (issue 15) ----------------------------------------------------------
    def page_fields(self, page_id: int) -> list[PageField]:
        """The page's field values: the project's schema order first, then other names by name."""
        return [_row_to_page_field(r) for r in self.query(
            "SELECT pf.* FROM page_fields pf LEFT JOIN fields f ON f.name = pf.name WHERE pf.page_id = ?"
            " ORDER BY CASE WHEN f.position IS NULL THEN 1 ELSE 0 END, f.position, pf.name", (page_id,))]

    def page_field(self, page_id: int, name: str) -> PageField | None:
        row = self.conn.execute("SELECT * FROM page_fields WHERE page_id = ? AND name = ?", (page_id, name)).fetchone()
        return _row_to_page_field(row) if row is not None else None

    def fields_signature(self, page_id: int) -> tuple:
        """A cheap fingerprint of a page's fields (like :meth:`regions_signature`)."""
        return tuple(self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(version), 0), COALESCE(MAX(id), 0) FROM page_fields WHERE page_id = ?",
            (page_id,)).fetchone())

    def set_page_field(self, page_id: int, value: FieldValue, user: str, version: int | None = None) -> int:
        """A person types (or picks the regions of) a field's value, as one undoable action. Give
        only the text (``value`` None) and the normalised value is made from it. ``version``: the
        field's version the window loaded (None: no check; a field the page does not have yet has
        none). Returns the new version; ConflictError when it is stale."""
        self.get_page(page_id)  # NotFoundError: no such page, or one this login may not see (blind review)
        with self.action(user, page_id, f"set field {value.name}") as a:
            return a.set_field(page_id, value, version)

    def check_page_field(self, page_id: int, name: str, user: str, version: int | None = None) -> int:
        """A person accepts the field's value as it is (Enter), as one undoable action."""
        self.get_page(page_id)  # NotFoundError: no such page, or one this login may not see (blind review)
        with self.action(user, page_id, f"check field {name}") as a:
            return a.check_field(page_id, name, version)

    def set_field_absent(self, page_id: int, name: str, user: str, version: int | None = None) -> int:
        """A person says the field is not on this page, as one undoable action."""
        self.get_page(page_id)  # NotFoundError: no such page, or one this login may not see (blind review)
        with self.action(user, page_id, f"field {name} absent") as a:
            return a.set_field_absent(page_id, name, version)

    def field_edits(self, page_id: int, name: str | None = None) -> list[dict]:
        """The edit log of the page's fields (all, or ``name``'s), oldest first: the audit trail."""
        rows = self.query("SELECT * FROM edits WHERE page_id = ? AND region_id IS NULL AND field LIKE 'field:%'"
                          " ORDER BY id", (page_id,))
        out = [dict(r) | {"before": json.loads(r["before"]), "after": json.loads(r["after"]),
                          "name": r["field"][len(FIELD_EDIT):]} for r in rows]
        return [e for e in out if name is None or e["name"] == name]

    def edits(self, page_id: int | None = None) -> list[dict]:
        if page_id is None:
            rows = self.query("SELECT * FROM edits ORDER BY id")
        else:
            rows = self.query("SELECT * FROM edits WHERE page_id = ? ORDER BY id", (page_id,))
        return [dict(r) | {"before": json.loads(r["before"]), "after": json.loads(r["after"])} for r in rows]

    # -- undo / redo ------------------------------------------------------------------------
    def _undo_target(self, c, user: str, page_id: int) -> sqlite3.Row | None:
        return c.execute(
            "SELECT * FROM actions WHERE page_id = ? AND user = ? AND kind = 'do' AND undone = 0"
            " AND EXISTS (SELECT 1 FROM edits WHERE action_id = actions.id)"
            " ORDER BY id DESC LIMIT 1",
            (page_id, user),
        ).fetchone()

    def _redo_target(self, c, user: str, page_id: int) -> sqlite3.Row | None:
        # Redo is possible only for actions undone after the user's last new action.
        last_do = c.execute(
            "SELECT COALESCE(MAX(id), 0) FROM actions WHERE page_id = ? AND user = ? AND kind = 'do'"
            " AND EXISTS (SELECT 1 FROM edits WHERE action_id = actions.id)",
            (page_id, user),
        ).fetchone()[0]
        return c.execute(
            "SELECT t.*, u.id AS undo_id FROM actions u JOIN actions t ON t.id = u.target"
            " WHERE u.page_id = ? AND u.user = ? AND u.kind = 'undo' AND u.id > ? AND t.undone = 1"
            " ORDER BY u.id DESC LIMIT 1",
            (page_id, user, last_do),
        ).fetchone()

    def can_undo(self, user: str, page_id: int) -> bool:
        return self._undo_target(self.conn, user, page_id) is not None

    def can_redo(self, user: str, page_id: int) -> bool:
        return self._redo_target(self.conn, user, page_id) is not None

    def undo(self, user: str, page_id: int) -> list[int]:
        """Revert the user's last action on the page; return the regions it changed."""
        return self._replay(user, page_id, undo=True)

    def redo(self, user: str, page_id: int) -> list[int]:
        """Re-apply the action the user undid last; return the regions it changed."""
        return self._replay(user, page_id, undo=False)

    @staticmethod
    def _refuse_if_changed_since(c, user: str, page_id: int, edits: list, since: int, undo: bool) -> None:
        """ConflictError when someone else changed what an undo or redo would write, since then.

        ``since`` is the action after which the regions and page status of ``edits`` must be
        untouched by anyone else: the action itself (undo), or its undo (redo). The user's own
        later actions in between are all undone (else they would be the target), so they are no
        conflict. Like a stale edit, the replay is refused as a whole and nothing is written.
        """
        regions = sorted({e["region_id"] for e in edits if e["region_id"] is not None})
        conds = [f"region_id IN ({','.join('?' * len(regions))})"] if regions else []
        fields = sorted({e["field"] for e in edits if e["region_id"] is None and e["field"].startswith(FIELD_EDIT)})
        statuses = [e for e in edits if e["field"] == "status"]
        if statuses:
            # The status the replay leaves; when the page already has it nothing is overwritten
            # (someone else's first edit moved it to in progress too, say).
            final = json.loads(statuses[0]["before"] if undo else statuses[-1]["after"])
            current = c.execute("SELECT status FROM pages WHERE id = ?", (page_id,)).fetchone()
            if current is None or current["status"] != final:
                conds.append("(region_id IS NULL AND field = 'status')")
        if fields:
            conds.append(f"(region_id IS NULL AND field IN ({','.join('?' * len(fields))}))")
        if not conds:
            return
        row = c.execute(
            "SELECT region_id, field, user, ts, after FROM edits WHERE page_id = ? AND action_id > ? AND user != ?"
            f" AND ({' OR '.join(conds)}) ORDER BY region_id IS NULL, id DESC LIMIT 1",
            (page_id, since, user, *regions, *fields),
        ).fetchone()
        if row is None:
            return
        if row["region_id"] is not None:
            what = f"region {row['region_id']} was changed"
        elif row["field"].startswith(FIELD_EDIT):
            what = f"field {row['field'][len(FIELD_EDIT):]} of page {page_id} was changed"
        else:
            what = f"page {page_id} was marked {json.loads(row['after'])}"
        raise ConflictError(f"{what} by {row['user']} at {_when(row['ts'])}, after this action"
                            + ("" if undo else " was undone"))

    def _replay(self, user: str, page_id: int, undo: bool) -> list[int]:
        with self.transaction() as c:
            target = (self._undo_target if undo else self._redo_target)(c, user, page_id)
            if target is None:
                return []
            edits = c.execute("SELECT * FROM edits WHERE action_id = ? ORDER BY id", (target["id"],)).fetchall()
            # A turn is replayed as a turn (undo: the other way) of the page as it is now, not by
            # writing back the points it logged: regions moved or added since, by anyone, turn
            # with the page, so nothing it would write can be stale (ADR 0008).
            turned = any(e["field"] == "rotation" for e in edits)
            if turned:
                edits = [e for e in edits if e["field"] != "points"]
            self._refuse_if_changed_since(c, user, page_id, [e for e in edits if e["field"] != "rotation"],
                                          target["id"] if undo else target["undo_id"], undo)
            kind = "undo" if undo else "redo"
            cur = c.execute(
                "INSERT INTO actions (page_id, user, ts, label, kind, target) VALUES (?,?,?,?,?,?)",
                (page_id, user, now(), f"{kind} {target['label']}", kind, target["id"]),
            )
            act = Action(c, cur.lastrowid, user, page_id, replaying=True, store=self)
            for e in (reversed(edits) if undo else edits):
                before, after = json.loads(e["before"]), json.loads(e["after"])
                value = before if undo else after
                if e["field"] == "status":
                    act.set_page_status(e["page_id"], PageStatus(value))
                elif e["field"] == "rotation":
                    act.turn_page(e["page_id"], ((after - before) // 90) * (-1 if undo else 1))
                elif e["field"] == "region":
                    # Undoing a creation hides the region; redoing shows it again.
                    act.update_region(e["region_id"], deleted=undo)
                elif e["field"] == "checked":
                    act.check_region(e["region_id"], checked=value)
                elif e["region_id"] is None and e["field"].startswith(FIELD_EDIT):
                    act.write_field(e["page_id"], e["field"][len(FIELD_EDIT):], value)
                else:
                    if e["field"] == "points":
                        value = [tuple(p) for p in value]
                    act.update_region(e["region_id"], **{e["field"]: value})
            c.execute("UPDATE actions SET undone = ? WHERE id = ?", (1 if undo else 0, target["id"]))
            self.notify(c, "edit", page_id, user)
            return sorted(set(act.changed_regions))

    # -- read-only queries for the workspace ---------------------------------------------------
    def regions_signature(self, page_id: int) -> tuple:
        """A cheap fingerprint of a page's regions: it changes with every change to any of them.

        Every change bumps a version, an added region raises the count and the highest id, and
        a re-run pre-fill replaces rows (new ids). Lets a window tell whether regions it loaded
        ahead are still current without reading them all again.
        """
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(version), 0), COALESCE(MAX(id), 0) FROM regions WHERE page_id = ?",
            (page_id,),
        ).fetchone()
        return tuple(row)

    def checked_region_ids(self, page_id: int, machine_labels: tuple[str, ...] = ("re-recognize", "split", "merge")
                           ) -> set[int]:
        """Regions of the page whose current text a person confirmed: typed it, or accepted it as it
        was (an Edit ``checked``, core.store.Action.check_region). A text set since by an action
        whose label starts with one of ``machine_labels`` (a re-read; the pieces of a split or a
        merge carry the text of what they came from) or by an undo is not confirmed, unless
        checked again."""
        typed: dict[int, bool] = {}
        accepted: dict[int, bool] = {}
        for r in self.query(
            "SELECT e.region_id, e.field, e.after, a.label FROM edits e JOIN actions a ON a.id = e.action_id"
            " WHERE e.page_id = ? AND e.region_id IS NOT NULL AND e.field IN ('text', 'region', 'checked')"
            " ORDER BY e.id",
            (page_id,),
        ):
            rid = r["region_id"]
            after = json.loads(r["after"]) if r["after"] is not None else None
            if r["field"] == "checked":
                accepted[rid] = bool(after)
                continue
            text = after.get("text", "") if r["field"] == "region" and isinstance(after, dict) else after
            label = r["label"] or ""
            undone = label.startswith("undo ")  # the text before a change: not known to be confirmed
            label = label.removeprefix("undo ").removeprefix("redo ")
            typed[rid] = bool(text) and not undone and not label.startswith(machine_labels)
            accepted[rid] = False  # a new text is not the one that was accepted
        return {rid for rid in typed.keys() | accepted.keys() if typed.get(rid) or accepted.get(rid)}

    def typed_region_ids(self, page_id: int, machine_labels: tuple[str, ...] = ("re-recognize",)) -> set[int]:
        """Regions of the page whose current text was last set by a person.

        A text set by an action whose label is one of ``machine_labels`` (or the undo/redo of
        one) counts as machine text; so does the empty text of a freshly drawn region.
        """
        last: dict[int, tuple[str, str]] = {}
        for r in self.query(
            "SELECT e.region_id, e.field, e.after, a.label FROM edits e JOIN actions a ON a.id = e.action_id"
            " WHERE e.page_id = ? AND e.region_id IS NOT NULL AND e.field IN ('text', 'region') ORDER BY e.id",
            (page_id,),
        ):
            after = json.loads(r["after"]) if r["after"] is not None else None
            text = after.get("text", "") if r["field"] == "region" and isinstance(after, dict) else after
            last[r["region_id"]] = (r["label"], text or "")
        machine = {p + m for m in machine_labels for p in ("", "undo ", "redo ")}
        return {rid for rid, (label, text) in last.items() if text and label not in machine}


def _pred_region_json(r: PredictedRegion) -> dict:
    d = {"points": [list(map(float, p)) for p in r.points], "text": r.text,
         "confidence": r.confidence, "label": r.label}
    if r.disagree:
        d["disagree"] = True
        d["second_opinion"] = r.second_opinion
    return d


def sort_reading_order(regions: list[Region]) -> list[Region]:
    """Top to bottom by rows, left to right within a row.

    Two regions share a row when their vertical centres are closer than half the smaller
    height, which keeps an item and its price on one row even when the scan is slightly skewed.
    """
    boxes = {id(r): r.bounds for r in regions}  # bounds once each: 800 regions a page
    items = sorted(regions, key=lambda r: boxes[id(r)][1] + boxes[id(r)][3])
    rows: list[list[Region]] = []
    row_y0 = row_y1 = 0.0  # the running sums of the last row's tops and bottoms
    for r in items:
        x0, y0, x1, y1 = boxes[id(r)]
        cy, h = (y0 + y1) / 2, max(1.0, y1 - y0)
        if rows:
            last = rows[-1]
            ly0, ly1 = row_y0 / len(last), row_y1 / len(last)
            if abs(cy - (ly0 + ly1) / 2) < 0.5 * min(h, max(1.0, ly1 - ly0)):
                last.append(r)
                row_y0 += y0
                row_y1 += y1
                continue
        rows.append([r])
        row_y0, row_y1 = y0, y1
    return [r for row in rows for r in sorted(row, key=lambda q: boxes[id(q)][0])]
