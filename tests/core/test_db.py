"""core.db: the SQLite -> PostgreSQL translation statement by statement, team project URLs, and the
translated statements run on a real PostgreSQL next to SQLite (the semantics the store relies on)."""

from __future__ import annotations

import sqlite3

import pytest

from core.db import (
    ID_TABLES,
    PG_PRELUDE,
    PgConnection,
    database_errors,
    integrity_errors,
    is_disk_full,
    parse_url,
    translate,
    translate_ddl,
)
from core.errors import ProjectError


def sql(statement: str, with_params: bool = True) -> str:
    return translate(statement, with_params).sql


# -- placeholders and % ------------------------------------------------------------------------------
def test_placeholders_become_percent_s_outside_literals_and_comments():
    assert sql("SELECT * FROM pages WHERE id = ? AND name = ?") == "SELECT * FROM pages WHERE id = %s AND name = %s"
    assert sql("SELECT '?' , ? -- why?\nFROM t") == "SELECT '?' , %s -- why?\nFROM t"
    assert sql("SELECT \"a?\" FROM t /* ? */ WHERE x = ?") == "SELECT \"a?\" FROM t /* ? */ WHERE x = %s"
    assert sql("SELECT 1;") == "SELECT 1"


def test_numbered_placeholders_put_the_parameters_in_their_order():
    stmt = translate("UPDATE verdicts SET day = ?1 WHERE page_id = ?2 AND day != ?1")
    assert stmt.sql == "UPDATE verdicts SET day = %s WHERE page_id = %s AND day != %s"
    assert stmt.order == (1, 2, 1) and stmt.params(("d", 7)) == ("d", 7, "d")
    assert translate("SELECT ?").params([5]) == (5,)
    with pytest.raises(ValueError, match=r"\?2"):
        translate("SELECT ?2").params([1])
    with pytest.raises(ValueError, match="mixes"):
        translate("SELECT ?1, ?")


def test_percent_doubles_only_when_the_statement_has_parameters():
    assert sql("SELECT name FROM t WHERE name LIKE '50%' AND id = ?") == \
        "SELECT name FROM t WHERE name LIKE '50%%' AND id = %s"
    assert sql("SELECT name FROM t WHERE name LIKE '50%'", with_params=False) == \
        "SELECT name FROM t WHERE name LIKE '50%'"
    assert sql("SELECT id % 2 FROM t WHERE id > ?") == "SELECT id %% 2 FROM t WHERE id > %s"
    assert sql("SELECT id % 2 FROM t", with_params=False) == "SELECT id % 2 FROM t"
    # The driver reads % in the whole text, comments included.
    assert sql("SELECT ? -- 100%\nFROM t") == "SELECT %s -- 100%%\nFROM t"


# -- the column "user" -----------------------------------------------------------------------------
def test_the_user_column_is_quoted_and_nothing_else():
    assert sql("SELECT user, COUNT(*) FROM edits GROUP BY user") == \
        'SELECT "user", COUNT(*) FROM edits GROUP BY "user"'
    assert sql("SELECT e.user FROM edits e JOIN users u ON u.name = e.user") == \
        'SELECT e."user" FROM edits e JOIN users u ON u.name = e."user"'
    assert sql("SELECT current_user, users.name FROM users") == "SELECT current_user, users.name FROM users"
    assert sql("SELECT 'user' FROM t -- the user\nWHERE \"user\" = ?") == \
        "SELECT 'user' FROM t -- the user\nWHERE \"user\" = %s"
    assert sql("INSERT INTO settings (key, value) VALUES ('user', ?)").count('"user"') == 0
    assert sql("SELECT User FROM t") == 'SELECT "user" FROM t'


# -- INSERT ----------------------------------------------------------------------------------------
def test_insert_or_ignore_becomes_on_conflict_do_nothing():
    assert sql("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)") == \
        "INSERT INTO settings (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert sql("insert or ignore into settings (key) values (?)") == \
        "insert into settings (key) values (%s) ON CONFLICT DO NOTHING"
    # Into a table with an id: the id comes back, after the ON CONFLICT clause.
    stmt = translate("INSERT OR IGNORE INTO users (name, role) VALUES (?, ?)")
    assert stmt.sql == "INSERT INTO users (name, role) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id"
    assert stmt.returns_id and stmt.plain == "INSERT INTO users (name, role) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    # An explicit RETURNING stays last; a comment at the end does not swallow the clause.
    assert sql("INSERT OR IGNORE INTO settings (key) VALUES (?) RETURNING key") == \
        "INSERT INTO settings (key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING key"
    assert sql("INSERT OR IGNORE INTO settings (key) VALUES (?) -- once") == \
        "INSERT INTO settings (key) VALUES (%s) ON CONFLICT DO NOTHING"


def test_returning_id_only_for_the_tables_with_an_id():
    assert "pages" in ID_TABLES and "settings" not in ID_TABLES
    pages = translate("INSERT INTO pages (document_id, page_no) VALUES (?, ?)")
    assert pages.returns_id and pages.sql.endswith(" RETURNING id")
    assert pages.plain == "INSERT INTO pages (document_id, page_no) VALUES (%s, %s)"
    for text in ("INSERT INTO settings (key, value) VALUES (?, ?)",
                 "INSERT INTO activity_daily (user, day) SELECT user, ? FROM edits",
                 "INSERT INTO pages (document_id) VALUES (?) RETURNING id, page_no",
                 "UPDATE pages SET name = ? WHERE id = ?",
                 "DELETE FROM regions WHERE id = ?",
                 "SELECT id FROM documents"):
        stmt = translate(text)
        assert not stmt.returns_id and stmt.sql.count("RETURNING") == text.count("RETURNING"), text
    with_comment = translate("INSERT INTO regions (page_id) VALUES (?) -- one")
    assert with_comment.returns_id and with_comment.sql == "INSERT INTO regions (page_id) VALUES (%s) RETURNING id"


# -- functions -------------------------------------------------------------------------------------
def test_julianday():
    assert sql("SELECT julianday(ts) FROM edits") == (
        "SELECT (CAST(EXTRACT(EPOCH FROM CAST(ts AS timestamptz)) AS DOUBLE PRECISION) / 86400.0 + 2440587.5)"
        " FROM edits")
    nested = sql("SELECT (julianday(MAX(ts)) - julianday(?)) * 86400 FROM edits")
    assert "CAST(MAX(ts) AS timestamptz)" in nested and "CAST(%s AS timestamptz)" in nested
    assert "julianday" not in nested


def test_two_argument_min_max_but_not_the_aggregates():
    assert sql("SELECT MIN(day), MAX(day) FROM activity_daily") == "SELECT MIN(day), MAX(day) FROM activity_daily"
    assert sql("SELECT min ( x ) FROM t") == "SELECT min ( x ) FROM t"
    two = sql("SELECT MIN(gap, ?) FROM t")
    assert two == ("SELECT (SELECT CASE WHEN COUNT(_v.x) = COUNT(*) THEN MIN(_v.x) END"
                   " FROM (VALUES (gap), (%s)) AS _v(x)) FROM t")
    assert two.count("%s") == 1  # each argument once: the parameters do not change
    # A comma inside an argument is not an argument of MIN; aggregates inside a scalar MAX are kept.
    nested = sql("SELECT MAX(MIN(a, 1), COALESCE(b, 2)), MAX(c) FROM t")
    assert "VALUES ((SELECT CASE WHEN COUNT(_v.x) = COUNT(*) THEN MIN(_v.x) END FROM (VALUES (a), (1))" in nested
    assert "(COALESCE(b, 2))" in nested and nested.endswith(", MAX(c) FROM t")
    assert sql("SELECT max(COALESCE(a, 0)) FROM t") == "SELECT max(COALESCE(a, 0)) FROM t"


def test_cast_as_integer_truncates():
    assert sql("SELECT CAST(confidence * 1000 AS INTEGER) FROM v") == \
        "SELECT CAST(TRUNC(confidence * 1000) AS BIGINT) FROM v"
    assert sql("SELECT cast(x as integer) FROM v") == "SELECT CAST(TRUNC(x) AS BIGINT) FROM v"
    assert sql("SELECT CAST(x AS TEXT), CAST(y AS REAL) FROM v") == "SELECT CAST(x AS TEXT), CAST(y AS REAL) FROM v"
    assert sql("SELECT CAST(CAST(y AS REAL) * 2 AS INTEGER) FROM v") == \
        "SELECT CAST(TRUNC(CAST(y AS REAL) * 2) AS BIGINT) FROM v"


def test_begin_immediate_takes_the_project_lock():
    assert translate("BEGIN IMMEDIATE") == translate("begin immediate;")
    stmt = translate("BEGIN IMMEDIATE")
    assert stmt.sql == "BEGIN" and stmt.lock
    assert translate("BEGIN EXCLUSIVE").lock
    assert not translate("BEGIN").lock and translate("BEGIN").sql == "BEGIN"
    assert translate("COMMIT").sql == "COMMIT" and not translate("ROLLBACK").lock


def test_translations_are_cached():
    text = "SELECT id FROM pages WHERE name = ?"
    assert translate(text) is translate(text)
    assert translate(text, False) is not translate(text, True)


# -- DDL ---------------------------------------------------------------------------------------------
def test_translate_ddl_types_identities_and_triggers():
    [table] = translate_ddl("CREATE TABLE edits (id INTEGER PRIMARY KEY, user TEXT NOT NULL, n INTEGER,"
                            " conf REAL, img BLOB)")
    assert table == ('CREATE TABLE edits (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "user" TEXT NOT NULL,'
                     " n BIGINT, conf DOUBLE PRECISION, img BYTEA)")
    [kv] = translate_ddl("CREATE TABLE kv (key TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID")
    assert kv == "CREATE TABLE kv (key TEXT PRIMARY KEY, n BIGINT)"
    [alter] = translate_ddl("ALTER TABLE pages ADD COLUMN score REAL")
    assert alter == "ALTER TABLE pages ADD COLUMN score DOUBLE PRECISION"
    [index] = translate_ddl("CREATE INDEX edits_user ON edits (user, ts)")
    assert index == 'CREATE INDEX edits_user ON edits ("user", ts)'
    [trigger] = translate_ddl("CREATE TRIGGER edits_append_only BEFORE UPDATE ON edits\n"
                              "BEGIN SELECT RAISE(ABORT, 'the edit log is append-only'); END")
    assert trigger == ("CREATE TRIGGER edits_append_only BEFORE UPDATE ON edits FOR EACH ROW"
                       " EXECUTE FUNCTION proofdesk_refuse('the edit log is append-only')")
    # DDL has no parameters: a % stays single.
    [check] = translate_ddl("CREATE TABLE t (name TEXT CHECK (name NOT LIKE '%/%'))")
    assert "'%/%'" in check


# -- URLs ---------------------------------------------------------------------------------------------
def test_parse_url_splits_database_and_project_and_keeps_ssl():
    loc = parse_url("postgresql://ana:s3cr%40t@db.example.org:5433/team/acme_2026?sslmode=require")
    assert (loc.database, loc.project, loc.user, loc.host, loc.port) == ("team", "acme_2026", "ana", "db.example.org", 5433)
    assert loc.conninfo == "postgresql://ana:s3cr%40t@db.example.org:5433/team?sslmode=require"
    assert loc.display == "postgresql://ana@db.example.org:5433/team/acme_2026"
    assert "s3cr" not in loc.display
    bare = parse_url("postgres://host/team")
    assert bare.project is None and bare.conninfo == "postgresql://host/team" and bare.display == "postgresql://host/team"
    assert parse_url("postgresql://host/team/p?connect_timeout=5&application_name=x").conninfo == \
        "postgresql://host/team?connect_timeout=5&application_name=x"
    relogged = loc.with_login("bob", "pw")
    assert relogged.user == "bob" and relogged.project == "acme_2026" and "s3cr" not in relogged.url
    assert relogged.conninfo == "postgresql://bob:pw@db.example.org:5433/team?sslmode=require"


def test_parse_url_refusals():
    with pytest.raises(ProjectError, match="name the project"):
        parse_url("postgresql://host/team", need_project=True)
    for bad in ("Acme", "1acme", "public", "pg_acme", "information_schema", "proofdesk", "a-b", "a" * 49, "acme%20x"):
        with pytest.raises(ProjectError, match="lower-case letters"):
            parse_url(f"postgresql://host/team/{bad}")
    assert parse_url(f"postgresql://host/team/{'a' * 48}").project == "a" * 48
    for bad in ("postgresql://host", "postgresql://host/", "postgresql://host/team/acme/extra"):
        with pytest.raises(ProjectError, match="DATABASE/PROJECT"):
            parse_url(bad)
    with pytest.raises(ProjectError, match="unknown parameter in the server URL: password"):
        parse_url("postgresql://host/team/acme?sslmode=require&password=x")
    with pytest.raises(ProjectError, match="bad port"):
        parse_url("postgresql://host:99999/team/acme")
    with pytest.raises(ProjectError, match="not a PostgreSQL URL") as err:
        parse_url("mysql://root:hunter2@host/team/acme")
    assert "hunter2" not in str(err.value)


# -- errors --------------------------------------------------------------------------------------------
def test_error_families_of_both_backends():
    import psycopg

    assert sqlite3.IntegrityError in integrity_errors() and psycopg.IntegrityError in integrity_errors()
    assert sqlite3.Error in database_errors() and psycopg.Error in database_errors()
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(psycopg.errors.DiskFull("could not extend file"))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
    assert not is_disk_full(psycopg.OperationalError("connection lost"))


# -- on a real server, next to SQLite ------------------------------------------------------------------
@pytest.fixture
def engines(pg_database):
    """(sqlite3 connection in memory, PgConnection to a fresh database): the same statement on both."""
    lite = sqlite3.connect(":memory:", isolation_level=None)
    pg = PgConnection(parse_url(pg_database), None, lock_key=4242)
    yield lite, pg
    lite.close()
    pg.close()


def both(engines, statement: str, params=()):
    lite, pg = engines
    return [tuple(r) for r in lite.execute(statement, params).fetchall()], \
        [tuple(r) for r in pg.execute(statement, params).fetchall()]


def test_cast_as_integer_truncates_like_sqlite(engines):
    lite, pg = both(engines, "SELECT CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? * 1000 AS INTEGER), CAST(? AS INTEGER)",
                    (0.9999, -1.5, 0.0125, 7))
    assert lite == pg == [(0, -1, 12, 7)]
    lite, pg = both(engines, "SELECT CAST(0.9999 AS INTEGER), CAST(-1.5 AS INTEGER), CAST(2.5 AS INTEGER)")
    assert lite == pg == [(0, -1, 2)]


def test_julianday_differences_equal_sqlites(engines):
    pairs = [("2026-11-05T10:01:30.250000+00:00", "2026-11-05T10:00:00.000000+00:00"),
             ("2026-10-25T01:30:00+00:00", "2026-10-24T23:59:00+00:00"),
             ("2026-11-30T07:30:00+08:00", "2026-11-29T23:00:00+00:00"),   # offsets honoured
             ("2026-03-29T03:00:00", "2026-03-28T23:00:00")]                # no offset: UTC
    for a, b in pairs:
        [(d_lite,)], [(d_pg,)] = both(engines, "SELECT (julianday(?) - julianday(?)) * 86400.0", (a, b))
        assert isinstance(d_pg, float) and d_pg == pytest.approx(d_lite, abs=1e-3), (a, b)
    [(j_lite,)], [(j_pg,)] = both(engines, "SELECT julianday('2026-11-05T12:00:00')")
    assert j_pg == pytest.approx(j_lite, abs=1e-8) and isinstance(j_pg, float)


def test_sum_reads_as_int_and_scalar_min_max_keep_sqlites_nulls(engines):
    lite, pg = engines
    lite.execute("CREATE TABLE t (user TEXT, n INTEGER, gap REAL)")
    for stmt in translate_ddl("CREATE TABLE t (user TEXT, n INTEGER, gap REAL)"):
        pg.raw.execute(stmt)
    rows = [("ana", 1, None), ("ana", 2, 30.0), ("bob", 3, 900.0)]
    lite.executemany("INSERT INTO t (user, n, gap) VALUES (?, ?, ?)", rows)
    pg.executemany("INSERT INTO t (user, n, gap) VALUES (?, ?, ?)", rows)
    query = ("SELECT user, SUM(n), COALESCE(SUM(MIN(gap, ?)), 0), MAX(SUM(n), 2), SUM(n) / 2.0 FROM t"
             " GROUP BY user ORDER BY user")
    lite_rows, pg_rows = both(engines, query, (300.0,))
    assert lite_rows == pg_rows == [("ana", 3, 30.0, 3, 1.5), ("bob", 3, 300.0, 3, 1.5)]
    assert all(type(r[1]) is int for r in pg_rows)
    assert both(engines, "SELECT MIN(1, NULL), MAX(NULL, 2), MIN(?, 5)", (3,)) == ([(None, None, 3)], [(None, None, 3)])


def test_placeholders_percent_and_user_on_a_server(engines):
    lite_rows, pg_rows = both(engines, "SELECT ?1 + ?2, ?1, '50%' || ?3, 7 % 4", (2, 3, "!"))
    assert lite_rows == pg_rows == [(5, 2, "50%!", 3)]
    assert both(engines, "SELECT '50%', 7 % 4") == ([("50%", 3)], [("50%", 3)])


def test_lastrowid_insert_or_ignore_and_triggers_on_a_server(engines):
    _, pg = engines
    pg.raw.execute(PG_PRELUDE)
    for ddl in ("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
                "CREATE TRIGGER users_keep BEFORE DELETE ON users BEGIN SELECT RAISE(ABORT, 'users stay'); END"):
        for stmt in translate_ddl(ddl):
            pg.raw.execute(stmt)
    assert pg.execute("INSERT INTO users (name) VALUES (?)", ("ana",)).lastrowid == 1
    assert pg.execute("INSERT INTO users (name) VALUES (?)", ("bob",)).lastrowid == 2
    ignored = pg.execute("INSERT OR IGNORE INTO users (name) VALUES (?)", ("ana",))
    assert ignored.rowcount == 0 and ignored.lastrowid is None
    with pytest.raises(integrity_errors(), match="users stay"):
        pg.execute("DELETE FROM users WHERE name = ?", ("ana",))
    assert [r["name"] for r in pg.execute("SELECT name FROM users ORDER BY id")] == ["ana", "bob"]


def test_begin_immediate_serialises_writers_of_a_project(engines, pg_database):
    import psycopg

    _, first = engines
    second = PgConnection(parse_url(pg_database), None, lock_key=4242)
    other_project = PgConnection(parse_url(pg_database), None, lock_key=4343)
    try:
        first.execute("BEGIN IMMEDIATE")
        assert first.in_transaction
        other_project.execute("BEGIN IMMEDIATE")  # another project's writers do not wait
        other_project.execute("COMMIT")
        second.raw.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            second.execute("BEGIN IMMEDIATE")
        second.execute("ROLLBACK")
        first.execute("COMMIT")
        second.execute("BEGIN IMMEDIATE")  # free again
        second.execute("COMMIT")
    finally:
        second.close()
        other_project.close()
