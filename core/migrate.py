"""Move a project between a folder and a team server, either way, with its whole history.

``proofdesk migrate SOURCE TARGET``: the source (a project folder or a ``postgresql://`` URL) is
opened read-only and read in one snapshot; the target is created new (:meth:`Project.create`:
a target that already holds a project is refused and left as it is) and every table of the
schema is copied row by row with its ids, in foreign-key order, in one transaction on the target,
streamed in batches (a project can hold millions of regions). The rows ``Project.create`` wrote
(``created_at``, the fields) are replaced by the source's. On PostgreSQL the identity sequences
are moved past the copied ids, so the next insert does not collide.

Files: page images go into the server's ``blobs`` table (folder -> server) or into the folder's
``pages/`` by hash (server -> folder); the model version folders, run artifacts and dataset
manifests the database names (paths relative to the project folder) are copied to the same
place in the target's folder (on a server: this machine's cache folder of it, and into ``blobs``
by sha256 only; keeping models on the server properly is a later change).

Then it is checked (:func:`verify`): the row count of every table, the edit log (a sha256 over
every row of ``edits`` in id order, on both sides), and every page's image on the target hashing
to its name. A failure is a :class:`ProjectError` naming what differs; the target is left as it
is for inspection.

On a team server prepared by ``server init`` the target is created, and written, by an admin's
login: admins have the owner role's privileges, so the edit log's row-level security (each person
writes only their own edits) and the review guard on ``pages`` let the copy in, and hold for
everyone afterwards as before. People then need logins of their own there (``proofdesk users``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence

from .db import database_errors, is_url
from .errors import ProjectError
from .project import Project, sha256_bytes

#: Rows read and written per batch (memory holds one batch of one table).
BATCH_ROWS = 5000
#: Rows per batch of a table holding file bytes (``blobs``): images can be tens of MB each.
BLOB_BATCH_ROWS = 8
#: The table of files kept in the database; handled with the page images, not counted row for row.
BLOBS = "blobs"
#: Bookkeeping tables of the schema machinery, not project data (each side has its own).
_NOT_DATA = {"proofdesk_migrations"}
_EXT = re.compile(r"[A-Za-z0-9]{1,10}")

Progress = Callable[[str, int, int], None]


@dataclass
class Report:
    """What a migration copied and how long it took."""

    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)  # rows per table, as on the target
    images: int = 0          # page images copied (distinct hashes)
    files: int = 0           # model / dataset files copied
    missing_files: list[str] = field(default_factory=list)  # named by the database, not in the source folder
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rows = sum(self.counts.values())
        out = [f"migrated {self.source} -> {self.target} in {self.seconds:.1f} s: {rows:,} rows in"
               f" {len(self.counts)} tables, {self.images:,} page images, {self.files:,} model / dataset files"]
        out += [f"  {table:<20} {n:>12,}" for table, n in self.counts.items() if n]
        empty = sum(1 for n in self.counts.values() if not n)
        if empty:
            out.append(f"  ({empty} other tables empty)")
        out.append("checked: the row count of every table, the edit log (sha256 of every row), every page image"
                   " (its bytes hash to its name)")
        if self.missing_files:
            out.append(f"not copied, not in the source's folder (a server's: this machine's cache of it): {', '.join(self.missing_files[:10])}"
                       + (f" and {len(self.missing_files) - 10} more" if len(self.missing_files) > 10 else ""))
        out += self.notes
        return out


# -- one side of the migration: the SQL either engine needs ---------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Side:
    """A project's database seen table by table (its names, columns, foreign keys), read in
    batches: a server-side cursor on PostgreSQL, ``fetchmany`` on SQLite."""

    def __init__(self, project: Project):
        self.project = project
        self.store = project.store
        self.pg = bool(project.server)
        self.mark = "%s" if self.pg else "?"
        self._cursors = itertools.count()

    @property
    def conn(self):
        return self.store.conn

    @property
    def raw(self):
        return self.conn.raw if self.pg else self.conn

    @property
    def where(self) -> str:
        return self.project.where

    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, params: Sequence = ()):
        return self.raw.execute(sql, tuple(params)) if params else self.raw.execute(sql)

    def scalar(self, sql: str, params: Sequence = ()):
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def tables(self) -> list[str]:
        """The project's tables in the order they were created."""
        if self.pg:
            names = [r[0] for r in self.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.oid", (self.project.server.project,))]
        else:
            names = [r[0] for r in self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
                " AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY rowid")]
        return [n for n in names if n not in _NOT_DATA and not n.startswith("_")]

    def columns(self, table: str) -> list[str]:
        if self.pg:
            return [r[0] for r in self.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position", (self.project.server.project, table))]
        return [r[1] for r in self.execute(f"PRAGMA table_info({_q(table)})")]

    def references(self) -> dict[str, set[str]]:
        """table -> the other tables its foreign keys point to."""
        refs: dict[str, set[str]] = {}
        if self.pg:
            for child, parent in self.execute(
                    "SELECT cl.relname, ref.relname FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid"
                    " JOIN pg_class ref ON ref.oid = c.confrelid JOIN pg_namespace n ON n.oid = cl.relnamespace"
                    " WHERE c.contype = 'f' AND n.nspname = %s", (self.project.server.project,)):
                refs.setdefault(child, set()).add(parent)
        else:
            for table in self.tables():
                for r in self.execute(f"PRAGMA foreign_key_list({_q(table)})"):
                    refs.setdefault(table, set()).add(r[2])
        return refs

    def stream(self, sql: str, params: Sequence = (), size: int = BATCH_ROWS) -> Iterator[list]:
        """The rows of ``sql`` in batches of ``size``; inside a transaction on PostgreSQL."""
        if self.pg:
            cur = self.raw.cursor(name=f"pd_migrate_{next(self._cursors)}")
            try:
                cur.execute(sql, tuple(params) if params else None)
                while rows := cur.fetchmany(size):
                    yield rows
            finally:
                cur.close()
        else:
            cur = self.raw.execute(sql, tuple(params))
            while rows := cur.fetchmany(size):
                yield rows

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM {_q(table)}"))

    def begin_reading(self) -> None:
        """One consistent snapshot for everything read until :meth:`end_reading`."""
        if self.pg:
            self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.raw.execute("BEGIN")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A snapshot for what is read inside, unless one is open already."""
        if self.in_transaction():
            yield
            return
        self.begin_reading()
        try:
            yield
        finally:
            self.end_reading()

    def end_reading(self) -> None:
        try:
            if self.in_transaction():
                self.raw.execute("ROLLBACK")
        except database_errors():
            pass


def _dependency_order(tables: list[str], refs: dict[str, set[str]]) -> list[str]:
    """``tables`` so that each comes after every table it refers to (ties: creation order)."""
    pending = list(tables)
    done: list[str] = []
    while pending:
        ready = next((t for t in pending if not (refs.get(t, set()) - {t}) - set(done)), None)
        if ready is None:
            raise ProjectError(f"the tables {', '.join(pending)} refer to each other in a cycle: no order copies them")
        done.append(ready)
        pending.remove(ready)
    return done


# -- the migration -----------------------------------------------------------------------------

def migrate(source_location, target_location, progress: Progress | None = None,
            before_verify: Callable[[Project], None] | None = None) -> Report:
    """Copy the project at ``source_location`` into a new project at ``target_location`` (a folder
    or a ``postgresql://`` URL each), then check the copy (:func:`verify`). See the module's doc.

    ``progress(what, done, total)``: called as each table's rows (and then the images and files)
    are copied. ``before_verify(target)``: called after the copy is committed and before it is
    checked (tests use it to damage the copy).
    """
    started = time.monotonic()
    if not is_url(target_location) and not is_url(source_location):
        if Path(source_location).expanduser().resolve() == Path(target_location).expanduser().resolve():
            raise ProjectError("the source and the target are the same folder")
    source = Project.open(source_location, readonly=True)
    try:
        target = Project.create(target_location)
    except BaseException:
        source.close()
        raise
    report = Report(source=source.where, target=target.where)
    src, dst = _Side(source), _Side(target)
    try:
        src.begin_reading()
        try:
            try:
                report.images, report.files, report.missing_files = _copy(src, dst, progress)
            except ProjectError as exc:
                raise ProjectError(f"{exc}. The new project {target.where} holds none of the rows (its"
                                   " database was rolled back): delete it before trying again") from exc
            if before_verify is not None:
                before_verify(target)
            report.counts = verify(source, target, _src=src)
        finally:
            src.end_reading()
    finally:
        source.close()
        target.close()
    if target.server and report.counts.get("users"):
        report.notes.append(f"people sign in to {target.where} with logins of their own: an admin adds each with"
                            " `proofdesk users URL --add NAME --role ROLE` (passwords kept in the folder do not"
                            " apply on a server)")
    if source.server and not target.server and report.counts.get("users"):
        report.notes.append("the server's logins are not copied: set passwords in the folder with"
                            " `proofdesk users FOLDER --password NAME` where people share it")
    report.seconds = time.monotonic() - started
    return report


def _copy(src: _Side, dst: _Side, progress: Progress | None) -> tuple[int, int, list[str]]:
    tables = src.tables()
    theirs = dst.tables()
    if sorted(tables) != sorted(theirs):
        differ = sorted(set(tables) ^ set(theirs))
        raise ProjectError(f"{src.where} and {dst.where} do not have the same tables ({', '.join(differ)}):"
                           " both must be at this Proofdesk's schema")
    order = _dependency_order(theirs, dst.references())
    columns = {}
    for t in order:
        mine, other = src.columns(t), dst.columns(t)
        if sorted(mine) != sorted(other):
            raise ProjectError(f"table {t} has other columns in {src.where} than in {dst.where}")
        columns[t] = mine
    table = "(starting)"
    try:
        with dst.store.transaction():
            if not dst.pg:
                dst.execute("PRAGMA defer_foreign_keys = ON")
            for table in reversed(order):  # what Project.create wrote (created_at, the fields)
                dst.execute(f"DELETE FROM {_q(table)}")
            for table in order:
                _copy_table(src, dst, table, columns[table], progress)
            table = "(page images)"
            images = _copy_images(src, dst, progress)
            table = "(model and dataset files)"
            files, missing = _copy_files(src, dst, progress)
            if dst.pg:
                table = "(identity sequences)"
                _move_sequences(dst, order, columns)
    except ProjectError:
        raise
    except (OSError, *database_errors()) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProjectError(f"copying {table} from {src.where} to {dst.where} failed: {text}") from exc
    return images, files, missing


def _copy_table(src: _Side, dst: _Side, table: str, columns: list[str], progress: Progress | None) -> None:
    total = src.count(table)
    cols = ", ".join(_q(c) for c in columns)
    where = ""
    if table == BLOBS and src.pg and not dst.pg:
        # A folder keeps its page images in pages/ (written by _copy_images), not in its database.
        where = " WHERE sha256 NOT IN (SELECT image_sha256 FROM pages)"
    order = " ORDER BY id" if "id" in columns else ""
    size = BLOB_BATCH_ROWS if table == BLOBS else BATCH_ROWS
    batches = src.stream(f"SELECT {cols} FROM {_q(table)}{where}{order}", size=size)
    done = 0
    if dst.pg:
        with dst.raw.cursor() as cur, cur.copy(f"COPY {_q(table)} ({cols}) FROM STDIN") as copy:
            for rows in batches:
                for row in rows:
                    copy.write_row(tuple(row))
                done += len(rows)
                if progress and done < total:
                    progress(table, done, total)
    else:
        insert = f"INSERT INTO {_q(table)} ({cols}) VALUES ({', '.join('?' * len(columns))})"
        for rows in batches:
            dst.raw.executemany(insert, [tuple(r) for r in rows])
            done += len(rows)
            if progress and done < total:
                progress(table, done, total)
    if progress:
        progress(table, done, done)


def _page_images(src: _Side) -> Iterator[tuple[str, str, bytes]]:
    """(sha256, ext, bytes) of every distinct page image of the source; ProjectError for one that
    is missing or damaged."""
    if src.pg:
        found = 0
        for rows in src.stream("SELECT sha256, ext, data FROM blobs WHERE sha256 IN"
                               " (SELECT image_sha256 FROM pages) ORDER BY sha256", size=BLOB_BATCH_ROWS):
            for sha, ext, data in rows:
                found += 1
                yield sha, ext, bytes(data)
        wanted = int(src.scalar("SELECT COUNT(DISTINCT image_sha256) FROM pages"))
        if found != wanted:
            sha = src.scalar("SELECT image_sha256 FROM pages WHERE image_sha256 NOT IN (SELECT sha256 FROM blobs)"
                             " ORDER BY id LIMIT 1")
            raise ProjectError(f"page image {sha} is not on {src.where}: the project cannot be copied whole")
        return
    for rows in src.stream("SELECT DISTINCT image_sha256 FROM pages ORDER BY image_sha256"):
        for (sha,) in rows:
            try:
                path = src.project.images.path(sha)
                data = path.read_bytes()
            except OSError as exc:
                raise ProjectError(f"page image {sha} is missing from {src.where}/pages: the project cannot be"
                                   f" copied whole ({exc.strerror or exc})") from None
            yield sha, path.suffix.lstrip("."), data


def _copy_images(src: _Side, dst: _Side, progress: Progress | None) -> int:
    """Every page image of the source into the target: its ``blobs`` (a server) or ``pages/`` (a
    folder). A target with the same kind of image store as the source gets what the table copy
    did not bring: a server's images came with ``blobs``."""
    if src.pg and dst.pg:
        return int(dst.scalar("SELECT COUNT(DISTINCT image_sha256) FROM pages"))
    total = int(src.scalar("SELECT COUNT(DISTINCT image_sha256) FROM pages"))
    done = 0
    batch: list[tuple] = []
    size = 0
    for sha, ext, data in _page_images(src):
        if sha256_bytes(data) != sha:
            raise ProjectError(f"page image {sha} in {src.where} is damaged (its bytes do not hash to its name)")
        if not _EXT.fullmatch(ext or ""):
            raise ProjectError(f"page image {sha} in {src.where} has an odd file type {ext!r}")
        if dst.pg:
            batch.append((sha, ext, len(data), data, _now()))
            size += len(data)
            if size >= 32 * 2**20 or len(batch) >= 64:
                _put_blobs(dst, batch)
                batch, size = [], 0
        else:
            dst.project.images.put(data, ext)
        done += 1
        if progress and done % 50 == 0 and done < total:
            progress("page images", done, total)
    if batch:
        _put_blobs(dst, batch)
    if progress:
        progress("page images", done, done)
    return done


def _now() -> str:
    from .store import now

    return now()


def _put_blobs(dst: _Side, rows: list[tuple]) -> None:
    with dst.raw.cursor() as cur:
        cur.executemany("INSERT INTO blobs (sha256, ext, size, data, created_at) VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (sha256) DO NOTHING", rows)


def _safe_relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and "\\" not in path and all(
        p not in ("", ".", "..") for p in parts)


def _named_files(src: _Side) -> list[str]:
    """The files and folders the database names, relative to the project folder."""
    found: set[str] = set()
    for sql in ("SELECT path FROM model_versions", "SELECT artifact_path FROM training_runs",
                "SELECT manifest FROM dataset_versions"):
        try:
            found.update(r[0] for r in src.execute(sql) if r[0])
        except database_errors():  # pragma: no cover - a schema without the table
            continue
    return sorted(found)


def _copy_files(src: _Side, dst: _Side, progress: Progress | None) -> tuple[int, list[str]]:
    """Model version folders, run artifacts and dataset manifests: to the same relative place in
    the target's folder (a server's: this machine's cache of it), and into a server's ``blobs``."""
    missing: list[str] = []
    files: list[tuple[Path, str]] = []  # (source file, relative path)
    for rel in _named_files(src):
        if not _safe_relative(rel):
            missing.append(rel)
            continue
        path = src.project.root / rel
        if path.is_file() and not path.is_symlink():
            files.append((path, rel))
        elif path.is_dir() and not path.is_symlink():
            for top, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not (Path(top) / d).is_symlink())
                for name in sorted(names):
                    f = Path(top) / name
                    if f.is_file() and not f.is_symlink() and not name.startswith(".tmp-"):
                        files.append((f, f.relative_to(src.project.root).as_posix()))
        else:
            missing.append(rel)
    unique = {rel: path for path, rel in files}
    done = 0
    for rel, path in unique.items():
        target = dst.project.root / rel
        _copy_file(path, target)
        if dst.pg:
            data = target.read_bytes()
            ext = path.suffix.lstrip(".").lower()
            _put_blobs(dst, [(sha256_bytes(data), ext if _EXT.fullmatch(ext) else "bin", len(data), data, _now())])
        done += 1
        if progress and done < len(unique):
            progress("model and dataset files", done, len(unique))
    if progress:
        progress("model and dataset files", done, done)
    return done, missing


def _copy_file(path: Path, target: Path) -> None:
    """``path`` to ``target`` through a temporary name (never half a file under the final name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as inp:
            shutil.copyfileobj(inp, out, 4 * 2**20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _move_sequences(dst: _Side, tables: list[str], columns: dict[str, list[str]]) -> None:
    """Each identity past the largest id copied: the next insert takes a new one."""
    for table in tables:
        if "id" not in columns[table]:
            continue
        seq = dst.scalar("SELECT pg_get_serial_sequence(%s, 'id')", (_q(table),))
        if seq:
            dst.execute(f"SELECT setval(%s, COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {_q(table)}", (seq,))


# -- checking the copy -------------------------------------------------------------------------

def _norm(value):
    """A value JSON does not write itself, as both engines' rows compare: numbers as int or
    float, bytes as hex (ints, floats, text and NULL are written as they are)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"hex": bytes(value).hex()}
    raise TypeError(f"a {type(value).__name__} in the edit log")


def edit_log_digest(side: _Side | Project) -> tuple[int, str]:
    """(rows, sha256) of the edit log: every column of every ``edits`` row, in id order."""
    side = side if isinstance(side, _Side) else _Side(side)
    columns = sorted(side.columns("edits"))
    digest = hashlib.sha256()
    n = 0
    with side.reading():
        for rows in side.stream(f"SELECT {', '.join(_q(c) for c in columns)} FROM edits ORDER BY id"):
            for row in rows:
                digest.update(json.dumps(tuple(row), separators=(",", ":"), default=_norm).encode())
                digest.update(b"\n")
                n += 1
    return n, digest.hexdigest()


def verify(source: Project, target: Project, _src: _Side | None = None) -> dict[str, int]:
    """Check that ``target`` holds what ``source`` does: the rows of every table, the edit log,
    every page image. Returns the row counts per table; ProjectError naming what differs."""
    src = _src or _Side(source)
    dst = _Side(target)
    leave = "; the target is left as it is for inspection"
    with src.reading(), dst.reading():
        counts: dict[str, int] = {}
        theirs = set(dst.tables())
        for table in src.tables():
            if table == BLOBS:
                continue
            a = src.count(table)
            b = dst.count(table) if table in theirs else None
            if a != b:
                raise ProjectError(f"the copy differs: table {table} has {a} rows in {src.where} but {b} in"
                                   f" {dst.where}{leave}")
            counts[table] = b
        n_a, digest_a = edit_log_digest(src)
        n_b, digest_b = edit_log_digest(dst)
        if digest_a != digest_b:
            raise ProjectError(f"the copy differs: the edit log ({n_a} rows in {src.where}, {n_b} in {dst.where})"
                               f" is not the same (sha256 {digest_a[:12]} vs {digest_b[:12]}){leave}")
        _verify_images(dst, leave)
        _verify_blobs(src, dst, leave)
        counts[BLOBS] = dst.count(BLOBS)
    return counts


def _verify_images(dst: _Side, leave: str) -> None:
    """Every page's image on the target (a blob on a server, a file in a folder), its bytes hashing
    to its name."""
    if dst.pg:
        found = 0
        for rows in dst.stream("SELECT sha256, data FROM blobs WHERE sha256 IN (SELECT image_sha256 FROM pages)",
                               size=BLOB_BATCH_ROWS):
            for sha, data in rows:
                if sha256_bytes(bytes(data)) != sha:
                    raise ProjectError(f"the copy differs: page image {sha} on {dst.where} does not hash to its"
                                       f" name{leave}")
                found += 1
        wanted = int(dst.scalar("SELECT COUNT(DISTINCT image_sha256) FROM pages"))
        if found != wanted:
            sha = dst.scalar("SELECT image_sha256 FROM pages WHERE image_sha256 NOT IN (SELECT sha256 FROM blobs)"
                             " ORDER BY id LIMIT 1")
            raise ProjectError(f"the copy differs: page image {sha} is not on {dst.where} ({found} of {wanted}"
                               f" page images there){leave}")
        return
    images = dst.project.images
    for rows in dst.stream("SELECT DISTINCT image_sha256 FROM pages"):
        for (sha,) in rows:
            try:
                data = images.path(sha).read_bytes()
            except OSError:
                raise ProjectError(f"the copy differs: page image {sha} is missing from {dst.where}/pages{leave}"
                                   ) from None
            if sha256_bytes(data) != sha:
                raise ProjectError(f"the copy differs: page image {sha} in {dst.where}/pages does not hash to its"
                                   f" name{leave}")


def _verify_blobs(src: _Side, dst: _Side, leave: str) -> None:
    """Every file the source keeps in its database is on the target (a page image of a folder
    target in its ``pages/``, checked above)."""
    page_images = "" if dst.pg else " WHERE sha256 NOT IN (SELECT image_sha256 FROM pages)"
    for rows in src.stream(f"SELECT sha256 FROM blobs{page_images} ORDER BY sha256", size=500):
        wanted = [r[0] for r in rows]
        marks = ", ".join([dst.mark] * len(wanted))
        there = {r[0] for r in dst.execute(f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", wanted)}
        lost = [sha for sha in wanted if sha not in there]
        if lost:
            raise ProjectError(f"the copy differs: the file {lost[0]} kept in {src.where}'s database is not in"
                               f" {dst.where}'s{leave}")
