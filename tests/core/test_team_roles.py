"""A team server enforces the roles itself: each forbidden action is tried as the annotator's own
PostgreSQL login, through the store and with hand-written SQL (ADR 0007)."""

from __future__ import annotations

import psycopg
import pytest

from core import team
from core.db import parse_url
from core.errors import PermissionDenied, ProjectError
from core.model import Document, Page, PageStatus, Role, box_to_quad
from core.project import Project
from core.store import now

PASSWORDS = {"lead": "lead-pw-1", "ana": "ana-pw-2", "rex": "rex-pw-3"}


def login(url: str, name: str) -> str:
    """``url`` signed in as ``name``."""
    return parse_url(url).with_login(name, PASSWORDS[name]).url


@pytest.fixture
def team_server(pg_database):
    """A prepared database with a project ``acme`` of one page, done by ana; lead is admin, ana an
    annotator, rex a reviewer. Returns (database URL as the server's superuser, page id)."""
    drop_team_roles(pg_database)  # what an earlier test that died in its set-up left
    done = team.server_init(pg_database, "lead", PASSWORDS["lead"])
    assert "created the admin login lead" in done
    lead_db = login(pg_database, "lead")
    project = Project.create(lead_db + "/acme")
    team.add_member(lead_db + "/acme", "ana", Role.ANNOTATOR, PASSWORDS["ana"])
    team.add_member(lead_db + "/acme", "rex", Role.REVIEWER, PASSWORDS["rex"])
    doc = Document(name="a.png", sha256="sha-a", source="/src/a.png", kind="image", imported_at=now(),
                   imported_by="lead", batch="b1")
    project.store.add_document(doc, [Page(document_id=0, page_no=1, name="a.png p.1", image_sha256="img-a",
                                          width=1000, height=800)])
    page_id = project.store.pages()[0].id
    project.close()
    ana = Project.open(login(pg_database, "ana") + "/acme")
    try:
        ana.store.add_region("ana", page_id, box_to_quad(10, 10, 200, 40), "TOTAL 9.99")
        ana.store.set_page_status("ana", page_id, PageStatus.DONE)
    finally:
        ana.close()
    yield pg_database, page_id
    drop_team_roles(pg_database)


def drop_team_roles(url: str) -> None:
    """Logins and groups are the cluster's, not the database's: the next test's server init needs
    them gone."""
    db = parse_url(url).database
    names = ["lead", "ana", "rex", "bob", team.owner_role(db), *(team.group_role(db, r) for r in team.GROUPS)]
    conn = psycopg.connect(parse_url(url).conninfo, autocommit=True)
    try:
        present = [n for n in names if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (n,)).fetchone()]
        if not present:
            return
        quoted = ", ".join(f'"{n}"' for n in present)
        conn.execute(f"DROP OWNED BY {quoted} CASCADE")
        for n in present:
            conn.execute(f'DROP ROLE "{n}"')
    finally:
        conn.close()


@pytest.fixture
def ana_sql(team_server):
    """ana's own connection, in the project's schema: hand-written SQL."""
    url, _ = team_server
    conn = psycopg.connect(parse_url(login(url, "ana")).conninfo, autocommit=True)
    conn.execute("SET search_path TO acme")
    yield conn
    conn.close()


def refused(conn, sql: str, params=()) -> str:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params)
    return str(info.value)


def test_an_annotator_annotates_through_the_server(team_server):
    url, page_id = team_server
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        assert ana.store.get_page(page_id).status == PageStatus.DONE
        assert [r.text for r in ana.store.regions(page_id)] == ["TOTAL 9.99"]
        assert ana.store.get_user("ana").role == Role.ANNOTATOR
    finally:
        ana.close()


def test_an_annotator_cannot_approve_a_page(team_server, ana_sql):
    url, page_id = team_server
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        with pytest.raises(PermissionDenied):
            ana.store.review_page("ana", page_id, "approved")
    finally:
        ana.close()
    assert "only a reviewer" in refused(ana_sql, "UPDATE pages SET status = 'approved' WHERE id = %s", (page_id,))
    assert "permission denied" in refused(
        ana_sql, "INSERT INTO reviews (page_id, reviewer, verdict, comment, created_at)"
                 " VALUES (%s, 'rex', 'approved', '', 'now')", (page_id,))
    # ... but the reviewer can, through the same server
    rex = Project.open(login(url, "rex") + "/acme")
    try:
        rex.store.review_page("rex", page_id, "approved")
        assert rex.store.get_page(page_id).status == PageStatus.APPROVED
    finally:
        rex.close()
    assert "only a reviewer" in refused(ana_sql, "UPDATE pages SET status = 'done' WHERE id = %s", (page_id,))


def test_an_annotator_cannot_promote_a_model_or_change_roles(team_server, ana_sql):
    url, _ = team_server
    assert "permission denied" in refused(
        ana_sql, "INSERT INTO model_versions (name, task, path, sha256, created_at, created_by)"
                 " VALUES ('mine', 'recognition', 'models/mine', 'x', 'now', 'ana')")
    assert "permission denied" in refused(
        ana_sql, "INSERT INTO model_promotions (model_version_id, task, kind, at, by) VALUES (1, 'recognition',"
                 " 'promote', 'now', 'ana')")
    assert "permission denied" in refused(ana_sql, "UPDATE users SET role = 'admin' WHERE name = 'ana'")
    assert "row-level security" in refused(ana_sql, "INSERT INTO settings (key, value) VALUES ('qc_share', '0')")
    assert ana_sql.execute("UPDATE settings SET value = '0' WHERE key = 'created_at'").rowcount == 0
    ana_sql.execute("INSERT INTO settings (key, value) VALUES ('last_page:ana', '1')")  # her own: allowed
    assert "row-level security" in refused(ana_sql, "INSERT INTO settings (key, value) VALUES ('last_page:rex', '1')")
    for grant in (f"GRANT {team.group_role(parse_url(url).database, Role.REVIEWER)} TO ana",
                  "ALTER ROLE ana CREATEROLE", "ALTER TABLE pages DISABLE TRIGGER pages_review_guard",
                  "DROP TRIGGER pages_review_guard ON pages", "ALTER TABLE edits DISABLE ROW LEVEL SECURITY"):
        refused(ana_sql, grant)
    with pytest.raises(PermissionDenied):
        team.add_member(login(url, "ana") + "/acme", "ana", Role.ADMIN, None)
    with pytest.raises(PermissionDenied):
        team.add_member(login(url, "ana") + "/acme", "mallory", Role.ANNOTATOR, "pw")


def test_an_annotator_cannot_rewrite_the_edit_log(team_server, ana_sql):
    url, page_id = team_server
    assert "permission denied" in refused(ana_sql, "UPDATE edits SET after = '\"X\"'")
    assert "permission denied" in refused(ana_sql, "DELETE FROM edits")
    assert "row-level security" in refused(
        ana_sql, "INSERT INTO edits (action_id, ts, \"user\", page_id, field, before, after)"
                 " SELECT id, 'now', 'rex', page_id, 'text', '\"a\"', '\"b\"' FROM actions LIMIT 1")
    # flags on someone else's actions: nothing matches (ana's UPDATE sees only her own rows)
    lead = Project.open(login(url, "lead") + "/acme")
    try:
        lead.store.add_region("lead", page_id, box_to_quad(10, 60, 200, 90), "lead's")
    finally:
        lead.close()
    cur = ana_sql.execute("UPDATE actions SET undone = 1 WHERE \"user\" = 'lead'")
    assert cur.rowcount == 0


def test_creating_a_project_needs_an_admin(team_server):
    url, _ = team_server
    with pytest.raises((PermissionDenied, ProjectError)):
        Project.create(login(url, "ana") + "/other")


def test_passwords_are_not_stored_in_clear(team_server):
    url, _ = team_server
    conn = psycopg.connect(parse_url(url).conninfo, autocommit=True)  # the server's superuser
    try:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'ana'").fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$") and PASSWORDS["ana"] not in stored
        users = conn.execute("SELECT name, password_hash FROM acme.users ORDER BY name").fetchall()
        assert all(h is None for _, h in users)
    finally:
        conn.close()
    with pytest.raises(ProjectError, match="password authentication failed"):
        Project.open(parse_url(url).with_login("ana", "wrong").url + "/acme")


def test_the_command_line_sets_up_a_team(pg_database, monkeypatch, capsys, tmp_path, make_image):
    """What ops staff type: prepare the server, create a project, add people; then each works
    with their own login."""
    from app.cli import main

    drop_team_roles(pg_database)
    try:
        monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", PASSWORDS["lead"])
        assert main(["server", "init", pg_database, "--admin", "lead"]) == 0
        assert "created the admin login lead" in capsys.readouterr().out
        lead_url = parse_url(pg_database).with_login("lead", None).url + "/acme"
        monkeypatch.setenv("PROOFDESK_PASSWORD", PASSWORDS["lead"])
        assert main(["init", lead_url, "--preset", "invoice"]) == 0
        assert "created project postgresql://lead@" in capsys.readouterr().out
        monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", PASSWORDS["ana"])
        assert main(["users", lead_url, "--add", "ana", "--role", "annotator"]) == 0
        assert "ana is annotator" in capsys.readouterr().out
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.png").write_bytes(make_image(1, size=(320, 240)))
        assert main(["import", lead_url, str(tmp_path / "in")]) == 0
        capsys.readouterr()
        ana_url = parse_url(pg_database).with_login("ana", None).url + "/acme"
        monkeypatch.setenv("PROOFDESK_PASSWORD", PASSWORDS["ana"])
        assert main(["pages", ana_url]) == 0
        assert "a.png" in capsys.readouterr().out
        # ana cannot add people, whatever she types
        monkeypatch.setenv("PROOFDESK_NEW_PASSWORD", "x")
        assert main(["users", ana_url, "--add", "mallory", "--role", "admin"]) == 1
        assert "only an admin" in capsys.readouterr().err
        monkeypatch.setenv("PROOFDESK_PASSWORD", "wrong")
        assert main(["pages", ana_url]) == 1
        assert "password authentication failed" in capsys.readouterr().err
    finally:
        from app import cli_support

        cli_support.close_projects()
        drop_team_roles(pg_database)


def test_a_server_project_from_a_newer_proofdesk_is_refused(pg_database):
    from core.errors import SchemaVersionError

    p = Project.create(pg_database + "/proj")
    with p.store.transaction() as c:
        c.execute("INSERT INTO proofdesk_migrations (migration_set, name, applied_at) VALUES"
                  " ('proofdesk', '0099_from_the_future', '2030-01-01')")
    p.close()
    with pytest.raises(SchemaVersionError, match="newer version of Proofdesk"):
        Project.open(pg_database + "/proj")


def test_sslmode_in_the_url_reaches_the_server(pg_database):
    """The test server has no certificate: `sslmode=disable` connects, `require` is refused by the
    server with its own reason, in one line."""
    Project.create(pg_database + "/proj").close()
    Project.open(pg_database + "/proj?sslmode=disable").close()
    with pytest.raises(ProjectError, match="SSL"):
        Project.open(pg_database + "/proj?sslmode=require")


def test_other_annotators_cannot_read_who_annotated_a_page_under_blind_review(team_server):
    """ana's page waits for a blind review: bob (another annotator) cannot read who did it, even
    with hand-written SQL; ana herself and the reviewer still work with it."""
    from core import review

    url, page_id = team_server
    lead = Project.open(login(url, "lead") + "/acme")
    try:
        team.add_member(login(url, "lead") + "/acme", "bob", Role.ANNOTATOR, "bob-pw-4")
        review.set_qc_settings(lead.store, "lead", share=1.0)
        doc = Document(name="b.png", sha256="sha-b", source="/b.png", kind="image", imported_at=now(),
                       imported_by="lead", batch="b1")
        lead.store.add_document(doc, [Page(document_id=0, page_no=1, name="b", image_sha256="img-b", width=100,
                                           height=80)])
        blind_page = max(p.id for p in lead.store.pages())
    finally:
        lead.close()
    ana = Project.open(login(url, "ana") + "/acme")
    try:
        ana.store.add_region("ana", blind_page, box_to_quad(1, 1, 50, 20), "ana's line")
        ana.store.set_page_status("ana", blind_page, PageStatus.DONE)
        assert ana.store.get_page(blind_page).done_by == "ana"  # her own: she sees it
    finally:
        ana.close()
    bob = psycopg.connect(parse_url(url).with_login("bob", "bob-pw-4").conninfo, autocommit=True)
    try:
        bob.execute("SET search_path TO acme")
        for sql in ("SELECT done_by FROM pages WHERE id = %s", "SELECT updated_by FROM regions WHERE page_id = %s",
                    'SELECT "user" FROM edits WHERE page_id = %s', 'SELECT "user" FROM actions WHERE page_id = %s',
                    "SELECT annotator FROM review_queue WHERE page_id = %s",
                    "SELECT annotator FROM verdicts WHERE page_id = %s"):
            assert bob.execute(sql, (blind_page,)).fetchall() == [], sql
        assert bob.execute("SELECT COUNT(*) FROM pages").fetchone()[0] >= 1  # the rest he sees
    finally:
        bob.close()
    rex = Project.open(login(url, "rex") + "/acme")
    try:
        assert rex.store.get_page(blind_page).done_by == "ana"  # the reviewer's connection reads it
        rex.store.review_page("rex", blind_page, "approved")
    finally:
        rex.close()
    bob = psycopg.connect(parse_url(url).with_login("bob", "bob-pw-4").conninfo, autocommit=True)
    try:
        bob.execute("SET search_path TO acme")  # reviewed: no longer blind
        assert bob.execute("SELECT done_by FROM pages WHERE id = %s", (blind_page,)).fetchone()[0] == "ana"
    finally:
        bob.close()
