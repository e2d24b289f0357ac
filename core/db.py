"""Where a project's database lives, and one connection API over SQLite and PostgreSQL.

A project is stored either in a SQLite file (``proofdesk.db`` in the project folder: one person)
or in a PostgreSQL database a team shares, named by a URL::

    postgresql://[user[:password]@]host[:port]/DATABASE/PROJECT[?sslmode=require&...]

``PROJECT`` is a PostgreSQL schema of that database: one server holds many projects.

The store's SQL is written once, in the part of SQL both engines share, with ``?`` placeholders
(ADR 0006). :func:`translate` adapts the few things that differ, statement by statement, and
caches the result (the statements are constants):

- ``?`` placeholders become ``%s``, numbered ones (``?1``, ``?2``, ...) too, with the parameters
  put in the order they are used (``Statement.order``); a literal ``%`` doubles when the statement
  has parameters (the driver reads ``%`` everywhere in it, comments and string literals included);
- the column name ``user`` (a reserved word in PostgreSQL) is quoted;
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- an ``INSERT`` into a table with an ``id`` column returns it (``cursor.lastrowid``);
- ``julianday(x)``, the two-argument ``MIN``/``MAX`` (NULL when an argument is NULL, unlike
  ``LEAST``/``GREATEST``) and ``CAST(x AS INTEGER)`` (which truncates in SQLite) get their
  PostgreSQL spelling;
- ``BEGIN IMMEDIATE`` (SQLite: one writer at a time) becomes ``BEGIN`` plus a transaction-level
  advisory lock of the project, so writers of one project are serialised on both backends and
  every read-then-write in a transaction sees what it writes over.

Schema scripts (DDL) go through :func:`translate_ddl` as well: types, identities, the
``RAISE(ABORT)`` triggers.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ProjectError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

#: Tables whose rows have an ``id`` identity: an INSERT into them reports the new id.
ID_TABLES = frozenset({
    "users", "documents", "pages", "predictions", "regions", "actions", "edits", "reviews", "verdicts",
    "annotator_scores", "dataset_versions", "model_versions", "model_promotions", "training_runs",
})

#: A project's name on a server: it is a PostgreSQL schema (an identifier, unquoted).
PROJECT_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
_RESERVED_PROJECTS = {"public", "information_schema", "proofdesk"}


# -- where ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerLocation:
    """A project on a PostgreSQL server: ``conninfo`` for the driver, ``project`` the schema."""

    url: str          # as given (may hold a password: never print it, see ``display``)
    conninfo: str     # postgresql://user:pw@host:port/db?params, without the project
    database: str
    project: str | None
    user: str | None
    host: str
    port: int | None

    @property
    def display(self) -> str:
        """The URL without its password: for titles, messages, recent lists and logs."""
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        tail = f"/{self.project}" if self.project else ""
        return f"postgresql://{who}{self.host}{port}/{self.database}{tail}"

    def with_login(self, user: str, password: str | None) -> "ServerLocation":
        return parse_url(_with_login(self.url, user, password))


def _with_login(url: str, user: str, password: str | None) -> str:
    from urllib.parse import quote

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "") + "@" + host
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def is_url(target: Any) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def parse_url(url: str, need_project: bool = False) -> ServerLocation:
    """Split a team project's URL; ProjectError with what is wrong in it."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ProjectError(f"not a PostgreSQL URL: {url.split('@')[-1]!r} (postgresql://host/database/project)")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ProjectError("a team project's URL is postgresql://[user@]host[:port]/DATABASE/PROJECT")
    database, project = path[0], (path[1] if len(path) > 1 else None)
    if project is not None:
        check_project_name(project)
    elif need_project:
        raise ProjectError(f"name the project after the database: postgresql://.../{database}/PROJECT")
    try:
        port = parts.port
    except ValueError as exc:
        raise ProjectError(f"bad port in the server URL: {exc}") from None
    query = dict(parse_qsl(parts.query))
    allowed = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
               "target_session_attrs", "options"}
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ProjectError(f"unknown parameter in the server URL: {unknown[0]} (known: {', '.join(sorted(allowed))})")
    conninfo = parts._replace(scheme="postgresql", path=f"/{database}").geturl()
    return ServerLocation(url=url, conninfo=conninfo, database=database, project=project,
                          user=unquote(parts.username) if parts.username else None,
                          host=parts.hostname or "localhost", port=port)


def check_project_name(name: str) -> str:
    if not PROJECT_NAME.fullmatch(name) or name in _RESERVED_PROJECTS or name.startswith("pg_"):
        raise ProjectError(f"a project on a server is named with lower-case letters, digits and _ (starting"
                           f" with a letter, at most 48), not {name!r}")
    return name


# -- rows -----------------------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type:
    index = {n: i for i, n in enumerate(names)}

    class Row(tuple):
        """A result row read like ``sqlite3.Row``: by position, by column name, ``keys()``."""

        __slots__ = ()

        def __getitem__(self, key):
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self):
            return list(names)

    return Row


# -- translation ----------------------------------------------------------------------------------
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?\d*|%|\w+|\s+|.", re.S)


@dataclass(frozen=True)
class Statement:
    sql: str
    returns_id: bool = False   # RETURNING id was added: the cursor's lastrowid
    lock: bool = False         # BEGIN IMMEDIATE: take the project's write lock after BEGIN
    order: tuple[int, ...] | None = None  # numbered placeholders: the parameter each %s takes
    plain: str | None = None   # the statement without the RETURNING id added (for executemany)

    def params(self, params: Sequence) -> tuple:
        """The parameters in the order of the translated statement's placeholders."""
        params = tuple(params)
        if self.order is None:
            return params
        if max(self.order) > len(params):
            raise ValueError(f"?{max(self.order)} in a statement given {len(params)} parameters")
        return tuple(params[i - 1] for i in self.order)


def _close_paren(tokens: list[str], i: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == "(":
            depth += 1
        elif tokens[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses in SQL")


def _top_level_comma(tokens: list[str], i: int, j: int) -> bool:
    depth = 0
    for t in tokens[i + 1:j]:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif t == "," and depth == 0:
            return True
    return False


def _split_args(tokens: list[str]) -> list[list[str]]:
    """The tokens of a call's arguments (between its parentheses), split at top-level commas."""
    args: list[list[str]] = [[]]
    depth = 0
    for t in tokens:
        if t == "," and depth == 0:
            args.append([])
            continue
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        args[-1].append(t)
    return args


def _next_word(tokens: list[str], i: int) -> int:
    """Index of the next token after ``i`` that is not white space (len(tokens) when none)."""
    i += 1
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    return i


def _rewrite_functions(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        low = t.lower()
        k = _next_word(tokens, i)
        if low in ("julianday", "min", "max", "cast") and k < len(tokens) and tokens[k] == "(":
            j = _close_paren(tokens, k)
            inner = _rewrite_functions(tokens[k + 1:j])
            body = "".join(inner)
            if low == "julianday":
                # A double, as SQLite's REAL (EXTRACT gives numeric); zone-less text is UTC (the
                # connection's time zone), as in SQLite.
                out.append(f"(CAST(EXTRACT(EPOCH FROM CAST({body} AS timestamptz)) AS DOUBLE PRECISION)"
                           f" / 86400.0 + 2440587.5)")
                i = j + 1
                continue
            if low in ("min", "max") and _top_level_comma(tokens, k, j):
                # SQLite's scalar MIN/MAX is NULL when an argument is NULL; LEAST/GREATEST skip
                # NULLs. Each argument is written once (a placeholder must stay one parameter).
                values = ", ".join(f"({''.join(arg).strip()})" for arg in _split_args(inner))
                out.append(f"(SELECT CASE WHEN COUNT(_v.x) = COUNT(*) THEN {low.upper()}(_v.x) END"
                           f" FROM (VALUES {values}) AS _v(x))")
                i = j + 1
                continue
            if low == "cast":
                m = re.fullmatch(r"(.*)\s+AS\s+INTEGER\s*", body, re.S | re.I)
                if m:  # SQLite truncates toward zero; PostgreSQL would round
                    out.append(f"CAST(TRUNC({m.group(1)}) AS BIGINT)")
                    i = j + 1
                    continue
            out.append(t)
            out.extend(tokens[i + 1:k])
            out.append("(")
            out.extend(inner)
            out.append(")")
            i = j + 1
            continue
        out.append(t)
        i += 1
    return out


@lru_cache(maxsize=4096)
def translate(sql: str, with_params: bool = True) -> Statement:
    """The PostgreSQL spelling of one statement written for SQLite (see the module's doc)."""
    head = sql.strip().rstrip(";").strip()
    if re.fullmatch(r"BEGIN\s+(IMMEDIATE|EXCLUSIVE)(\s+TRANSACTION)?", head, re.I):
        return Statement("BEGIN", lock=True)
    tokens = _TOKEN.findall(head)
    out: list[str] = []
    numbered: list[int] = []
    plain_marks = False
    for t in tokens:
        if t.startswith("?"):
            out.append("%s")
            if len(t) > 1:
                numbered.append(int(t[1:]))
            else:
                plain_marks = True
        elif "%" in t:  # an operator, or inside a literal, quoted name or comment
            out.append(t.replace("%", "%%") if with_params else t)
        elif t.lower() == "user":
            out.append('"user"')
        else:
            out.append(t)
    if numbered and plain_marks:
        raise ValueError(f"a statement mixes ? and ?NNN placeholders: {sql!r}")
    out = _rewrite_functions(_TOKEN.findall("".join(out)))
    # Comments are dropped from the end, so that a clause added there is not commented out.
    while out and (out[-1].isspace() or out[-1].startswith(("--", "/*"))):
        out.pop()
    words = [t.lower() for t in out if t.strip() and not t.startswith(("--", "/*"))]
    returns_id = False
    if words[:3] == ["insert", "or", "ignore"]:
        first = next(i for i, t in enumerate(out) if t.lower() == "or")
        ignore = next(i for i in range(first + 1, len(out)) if out[i].lower() == "ignore")
        del out[first:_next_word(out, ignore)]
        words = ["insert", *words[3:]]
        at = len(out)
        if "returning" in words:  # ON CONFLICT comes before RETURNING
            at = max(i for i, t in enumerate(out) if t.lower() == "returning")
        out[at:at] = ["ON CONFLICT DO NOTHING "] if at < len(out) else [" ON CONFLICT DO NOTHING"]
    text = "".join(out)
    plain = text
    if words[:1] == ["insert"] and len(words) > 2 and words[1] == "into" and words[2] in ID_TABLES \
            and "returning" not in words:
        text += " RETURNING id"
        returns_id = True
    return Statement(text, returns_id=returns_id, order=tuple(numbered) if numbered else None, plain=plain)


_DDL_TYPES = [
    (re.compile(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b", re.I), "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    (re.compile(r"\)\s*WITHOUT\s+ROWID", re.I), ")"),
]
_TRIGGER = re.compile(
    r"CREATE\s+TRIGGER\s+(\w+)\s+BEFORE\s+(UPDATE|DELETE)\s+ON\s+(\w+)\s+BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT\s*,"
    r"\s*'([^']*)'\s*\)\s*;\s*END", re.I | re.S)


def translate_ddl(statement: str) -> list[str]:
    """The PostgreSQL statements for one SQLite schema statement."""
    m = _TRIGGER.search(statement)
    if m:
        name, when, table, message = m.groups()
        return [
            f"CREATE TRIGGER {name} BEFORE {when.upper()} ON {table} FOR EACH ROW"
            f" EXECUTE FUNCTION proofdesk_refuse('{message}')"
        ]
    sql = statement
    if re.match(r"\s*(--[^\n]*\n\s*)*(CREATE\s+TABLE|ALTER\s+TABLE)\b", sql, re.I):
        for pattern, repl in _DDL_TYPES:
            sql = pattern.sub(repl, sql)
    return [translate(sql, with_params=False).sql]


#: Created once per schema, before the first migration: the trigger function behind the
#: append-only and immutable tables.
PG_PRELUDE = """
CREATE OR REPLACE FUNCTION proofdesk_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$
"""


# -- connections ----------------------------------------------------------------------------------
class PgCursor:
    """What ``execute`` returns on PostgreSQL: the parts of ``sqlite3.Cursor`` the store uses."""

    def __init__(self, cur, returns_id: bool):
        self._cur = cur
        self.lastrowid = None
        if returns_id:
            rows = cur.fetchall()
            self.lastrowid = rows[-1][0] if rows else None
            self._rows: list | None = []
        else:
            self._rows = None
        self.rowcount = cur.rowcount

    def fetchone(self):
        if self._rows is not None:
            return None
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self):
        if self._rows is not None:
            return []
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self):
        return iter(self.fetchall())


def _pg_row_factory(cursor):
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(c.name for c in cursor.description))
    return cls


def _numeric_loader():
    """SUM() of integers is NUMERIC in PostgreSQL: read it as int (or float), as SQLite gives."""
    from decimal import Decimal

    from psycopg.adapt import Loader

    class NumericLoader(Loader):
        def load(self, data):
            d = Decimal(bytes(data).decode())
            return int(d) if d == d.to_integral_value() else float(d)

    return NumericLoader


class PgConnection:
    """A psycopg 3 connection in autocommit mode, driven like the store's sqlite3 connections:
    explicit ``BEGIN``/``COMMIT``, ``?`` placeholders, rows read by name."""

    dialect = POSTGRESQL

    def __init__(self, location: ServerLocation, schema: str | None, lock_key: int, connect_timeout: int = 10):
        import psycopg

        self.location = location
        self.schema = schema
        self.lock_key = lock_key
        try:
            self.raw = psycopg.connect(location.conninfo, autocommit=True, row_factory=_pg_row_factory,
                                       connect_timeout=connect_timeout, application_name="proofdesk")
        except psycopg.OperationalError as exc:
            raise ProjectError(f"cannot reach {location.display}: {_first_line(exc)}") from None
        self.raw.adapters.register_loader("numeric", _numeric_loader())
        # julianday() of a timestamp without an offset is UTC, as in SQLite (not the server's zone).
        self.raw.execute("SET TIME ZONE 'UTC'")
        if schema:
            self.raw.execute(f'SET search_path TO "{schema}", public')

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence | None = ()) -> PgCursor:
        stmt = translate(sql, with_params=bool(params))
        cur = self.raw.cursor()
        try:
            cur.execute(stmt.sql, stmt.params(params) if params else None)
            if stmt.lock:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
        except Exception as exc:
            self._raise_if_lost(exc)
            raise
        return PgCursor(cur, stmt.returns_id)

    def in_transaction_safe(self) -> bool:
        """in_transaction, False when the connection is gone."""
        try:
            return not self.lost and self.in_transaction
        except Exception:
            return False

    @property
    def lost(self) -> bool:
        """The connection is gone (server restarted, network down): the store makes a new one."""
        return self.raw.closed or self.raw.broken

    def _raise_if_lost(self, exc: BaseException) -> None:
        import psycopg

        if isinstance(exc, psycopg.OperationalError) and self.lost:
            from .errors import ServerUnavailable

            raise ServerUnavailable(f"lost the connection to {self.location.display}: {_first_line(exc)}; this change"
                                    " was not saved") from exc

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        stmt = translate(sql, with_params=True)
        try:
            with self.raw.cursor() as cur:
                cur.executemany(stmt.plain or stmt.sql, [stmt.params(r) for r in rows])
        except Exception as exc:
            self._raise_if_lost(exc)
            raise

    def close(self) -> None:
        self.raw.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def lock_key(project: str) -> int:
    """The advisory-lock key of a project's writers (a signed 64-bit number from its name)."""
    return zlib.crc32(f"proofdesk:{project}".encode())


#: Errors of either backend, for code that must catch them without caring which one it has.
def _errors(sqlite_error: type[BaseException], psycopg_name: str) -> tuple[type[BaseException], ...]:
    """``sqlite_error`` and psycopg's exception of that name (psycopg is a dependency: both)."""
    import psycopg

    return sqlite_error, getattr(psycopg, psycopg_name)


def integrity_errors() -> tuple[type[BaseException], ...]:
    """A constraint refused the row (a duplicate key, a foreign key), on either backend."""
    return _errors(sqlite3.IntegrityError, "IntegrityError")


def database_errors() -> tuple[type[BaseException], ...]:
    """Any error of either backend."""
    return _errors(sqlite3.Error, "Error")


def operational_errors() -> tuple[type[BaseException], ...]:
    """What the database raises when it cannot do the work (disk full, I/O, a lost server), as
    opposed to a statement's own mistake."""
    return _errors(sqlite3.OperationalError, "OperationalError")


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc)
    return getattr(getattr(exc, "sqlstate", None), "__str__", lambda: "")() == "53100"


class SqliteFile:
    """Where: a SQLite project database file."""

    dialect = SQLITE

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def display(self) -> str:
        return str(self.path)

