"""The tests' throwaway PostgreSQL server (tests/pgserver.py, the pg_server and pg_database fixtures)."""

from __future__ import annotations

import psycopg
import pytest


def test_server_runs(pg_server):
    assert pg_server.started and pg_server.port
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        assert conn.execute("SELECT current_user, current_setting('listen_addresses')").fetchone() == (
            "pdadmin", "127.0.0.1")
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_database_accepts_connection_and_query(pg_database):
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, text text NOT NULL)")
        conn.execute("INSERT INTO t (text) VALUES (%s), (%s)", ("één", "two"))
        assert conn.execute("SELECT text FROM t ORDER BY id").fetchall() == [("één",), ("two",)]


#: current_database() of each run of test_each_test_gets_its_own_database.
_seen: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_database(pg_server, pg_database, run):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        assert conn.execute("SELECT to_regclass('marker')").fetchone() == (None,)  # fresh: no earlier run's table
        conn.execute("CREATE TABLE marker (x int)")
    _seen.append(name)
    if len(_seen) == 2:
        assert _seen[0] != _seen[1]
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:  # the first run's was dropped
            assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_seen[0],)).fetchone() is None


def test_two_databases_are_isolated(pg_server, pg_database):
    other = pg_server.create_database("test_other_db")
    try:
        assert other != pg_database
        with psycopg.connect(pg_database, autocommit=True) as a, psycopg.connect(other, autocommit=True) as b:
            a.execute("CREATE TABLE only_in_a (x int)")
            assert a.execute("SELECT to_regclass('only_in_a')::text").fetchone() == ("only_in_a",)
            assert b.execute("SELECT to_regclass('only_in_a')").fetchone() == (None,)
    finally:
        pg_server.drop_database("test_other_db")


def test_dropped_after_the_test(pg_server):
    url = pg_server.create_database("test_drop_me")
    conn = psycopg.connect(url)  # left open: WITH (FORCE) drops it anyway
    try:
        pg_server.drop_database("test_drop_me")
    finally:
        conn.close()
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = 'test_drop_me'").fetchone() is None


def test_wrong_password_refused(pg_server, pg_database):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.url(password="not-the-password"), connect_timeout=60)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_database.replace(pg_server.password, "wrong"), connect_timeout=60)
