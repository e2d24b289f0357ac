"""A team server: PostgreSQL roles, logins and grants, so that the server enforces who may do what.

``proofdesk server init URL --admin NAME`` prepares a database (ADR 0007):

- four group roles per database, named after it (role names are cluster-wide):
  ``pd_<db>_annotator`` <- ``pd_<db>_reviewer`` <- ``pd_<db>_admin`` (each a member of the one
  before, so it has its privileges too), and ``pd_<db>_owner``, which owns every project's schema
  and tables; admins are members of the owner (they create projects and run migrations);
- each person is a PostgreSQL login (``LOGIN``, member of one group), whose password the server
  keeps as a SCRAM verifier computed here: the clear password never travels in SQL, and
  Proofdesk stores none;
- per project (a schema), :func:`apply_grants`: what each group may read and write, row-level
  security on the edit log (a person writes only their own edits and undoes only their own
  actions), and a trigger on ``pages`` that refuses an approval or rejection from anyone who is
  not a reviewer. Annotators own nothing, so they cannot drop or disable any of it.
"""

from __future__ import annotations

import re

from .db import ServerLocation, parse_url
from .errors import PermissionDenied, ProjectError
from .model import Role

GROUPS = (Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN)
LOGIN_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,62}")

#: Tables each group may change (on top of reading every table). Reviewers have the annotators'
#: rights too, admins everything (they are members of the owner).
ANNOTATOR_WRITES = {
    # import, pre-fill, the workspace, marking done (verdicts and the QC routing run then)
    "documents": "INSERT", "pages": "INSERT, UPDATE", "page_references": "INSERT, UPDATE",
    "text_layers": "INSERT, UPDATE",  # a PDF page's text layer, written by whoever imports it
    "blobs": "INSERT", "predictions": "INSERT", "regions": "INSERT, UPDATE, DELETE",
    "page_fields": "INSERT, UPDATE, DELETE",  # a page's key field values: people's data like regions
    "field_verdicts": "INSERT, DELETE", "field_verdict_daily": "INSERT, UPDATE", "field_confidence_hist": "INSERT, UPDATE",
    "actions": "INSERT, UPDATE", "edits": "INSERT",
    "verdicts": "INSERT, DELETE", "verdict_state": "INSERT, UPDATE, DELETE",
    "review_queue": "INSERT, UPDATE, DELETE", "verdict_daily": "INSERT, UPDATE", "confidence_hist": "INSERT, UPDATE",
    "activity_daily": "INSERT, UPDATE, DELETE", "leases": "INSERT, UPDATE, DELETE",
    "settings": "INSERT, UPDATE",  # row-level security: an annotator writes only their own last page
}
REVIEWER_WRITES = {
    "reviews": "INSERT", "annotator_scores": "INSERT", "verdict_marks": "INSERT, UPDATE, DELETE",
    "field_verdict_marks": "INSERT, UPDATE, DELETE",
}


def _db_tag(database: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", database.lower())[:40]


def group_role(database: str, role: Role | str) -> str:
    return f"pd_{_db_tag(database)}_{Role(role).value}"


def owner_role(database: str) -> str:
    return f"pd_{_db_tag(database)}_owner"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_login(name: str) -> str:
    if not LOGIN_NAME.fullmatch(name):
        raise ProjectError(f"a team member's name is lower-case letters, digits, '_', '.' or '-' (at most 63), not"
                           f" {name!r}: it is their PostgreSQL login")
    return name


def _connect(location: ServerLocation):
    import psycopg

    try:
        return psycopg.connect(location.conninfo, autocommit=True, connect_timeout=10, application_name="proofdesk")
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProjectError(f"cannot reach {location.display}: {text}") from None


def _scram(conn, user: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` (libpq computes it here; the server keeps it)."""
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def _role_exists(conn, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def is_initialised(conn, database: str) -> bool:
    return _role_exists(conn, owner_role(database))


def server_init(url: str, admin: str, password: str) -> list[str]:
    """Prepare the database of ``url`` for Proofdesk (its roles) and make ``admin`` its first admin
    login. Run by whoever administers the PostgreSQL server (a role that may create roles).
    Idempotent for the roles; refuses an ``admin`` login that exists already. Returns what it did."""
    from psycopg import sql

    location = parse_url(url)
    check_login(admin)
    if not password:
        raise ProjectError("the first admin needs a password (the team signs in to the server with theirs)")
    conn = _connect(location)
    done: list[str] = []
    try:
        me = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
        if not (me[0] or me[1]):
            raise PermissionDenied(f"{location.user or 'this login'} may not create roles on {location.display}:"
                                   " run `server init` as the server's administrator (for example postgres)")
        db = location.database
        owner = owner_role(db)
        groups = {r: group_role(db, r) for r in GROUPS}
        with conn.transaction():
            for name in (owner, *groups.values()):
                if not _role_exists(conn, name):
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
                    done.append(f"created role {name}")
            for member, of in ((groups[Role.REVIEWER], groups[Role.ANNOTATOR]),
                               (groups[Role.ADMIN], groups[Role.REVIEWER]), (groups[Role.ADMIN], owner)):
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(of), sql.Identifier(member)))
            ident = sql.Identifier(db)
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                ident, sql.Identifier(groups[Role.ANNOTATOR])))
            conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(ident, sql.Identifier(owner)))
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            if _role_exists(conn, admin):
                raise ProjectError(f"a login {admin!r} exists on this server already; choose another name for the"
                                   " first admin (or add them with `proofdesk users URL --add`)")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {} IN ROLE {}").format(
                sql.Identifier(admin), sql.Literal(_scram(conn, admin, password)),
                sql.Identifier(groups[Role.ADMIN])))
            done.append(f"created the admin login {admin}")
    finally:
        conn.close()
    return done


def add_member(url: str, name: str, role: Role | str, password: str | None) -> None:
    """Create ``name``'s login in ``role`` (or change the role of an existing one), as the admin
    whose login ``url`` carries; the server refuses anyone else (CREATEROLE). Also records the
    person in the project of ``url`` when it names one."""
    from psycopg import sql

    location = parse_url(url)
    check_login(name)
    role = Role(role)
    conn = _connect(location)
    try:
        db = location.database
        if not is_initialised(conn, db):
            raise ProjectError(f"{location.display} is not prepared for Proofdesk: run `proofdesk server init` first")
        groups = [group_role(db, r) for r in GROUPS]
        with conn.transaction():
            if _role_exists(conn, name):
                if password:
                    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(_scram(conn, name, password))))
            else:
                if not password:
                    raise ProjectError(f"{name} needs a password: they sign in to the server with it")
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(_scram(conn, name, password))))
            for g in groups:
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(g), sql.Identifier(name)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group_role(db, role)), sql.Identifier(name)))
            if role == Role.ADMIN:
                conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(name)))
            if location.project:
                conn.execute(sql.SQL("INSERT INTO {}.users (name, role, created_at) VALUES (%s, %s, now()::text)"
                                     " ON CONFLICT (name) DO UPDATE SET role = excluded.role").format(
                    sql.Identifier(location.project)), (name, role.value))
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            raise PermissionDenied(f"only an admin adds people or changes roles ({exc.diag.message_primary})") from None
        raise
    finally:
        conn.close()


def role_of_login(conn, database: str) -> Role | None:
    """The Proofdesk role the connection's login has on this server (None: not a member)."""
    for role in reversed(GROUPS):
        if conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (group_role(database, role),)).fetchone()[0]:
            return role
    return None


def prepare_schema(conn, location: ServerLocation, create: bool) -> bool:
    """Before a project's schema is created or migrated on an initialised server: act as the
    owner role (admins are its members), so that the schema and its tables belong to it and not
    to the person. Returns True when the caller must ``RESET ROLE`` afterwards."""
    raw = conn.raw
    if not is_initialised(raw, location.database):
        return False  # a bare database (one person's server, the tests' superuser): no roles
    owner = owner_role(location.database)
    if not raw.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (owner,)).fetchone()[0]:
        return False
    raw.execute(f"SET ROLE {_ident(owner)}")
    return True


def apply_grants(conn, location: ServerLocation) -> None:
    """The project's privileges, row-level security and review guard (idempotent; run as the
    owner after every migration, so new tables get theirs)."""
    raw = conn.raw
    db, schema = location.database, location.project
    if not is_initialised(raw, db):
        return
    s = _ident(schema)
    ann, rev, adm = (_ident(group_role(db, r)) for r in GROUPS)
    stmts = [
        f"GRANT USAGE ON SCHEMA {s} TO {ann}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {ann}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {ann}",
        f"GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {adm}",
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO {adm}",
    ]
    stmts += [f"GRANT {what} ON {s}.{t} TO {ann}" for t, what in ANNOTATOR_WRITES.items()]
    stmts += [f"GRANT {what} ON {s}.{t} TO {rev}" for t, what in REVIEWER_WRITES.items()]
    # The edit log: everyone reads it (undo's conflict check names who changed a region); each
    # person appends only their own edits and flags only their own actions as undone.
    for table in ("edits", "actions"):
        stmts += [
            f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {table}_read ON {s}.{table}",
            f"DROP POLICY IF EXISTS {table}_own ON {s}.{table}",
            f'CREATE POLICY {table}_own ON {s}.{table} FOR INSERT WITH CHECK ("user" = current_user)',
        ]
    # Blind review: while a page waits for a blind review, nobody but its annotator, reviewers and
    # admins can read the rows that say who annotated it (the page, its regions, its edit log, its
    # verdicts, its queue entry): other annotators do not see the page at all until it is reviewed.
    stmts.append(f"""CREATE OR REPLACE FUNCTION {s}.proofdesk_blind_to_me(p BIGINT) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {s}, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM {s}.review_queue q JOIN {s}.pages g ON g.id = q.page_id
                   WHERE q.page_id = p AND q.blind = 1 AND q.reviewed_at IS NULL
                     AND g.done_by IS DISTINCT FROM session_user)
$$""")
    stmts.append(f"REVOKE ALL ON FUNCTION {s}.proofdesk_blind_to_me(BIGINT) FROM PUBLIC")
    stmts.append(f"GRANT EXECUTE ON FUNCTION {s}.proofdesk_blind_to_me(BIGINT) TO {ann}")
    blind_tables = {"pages": "id", "regions": "page_id", "page_fields": "page_id", "edits": "page_id", "actions": "page_id",
                    "verdicts": "page_id", "review_queue": "page_id", "annotator_scores": "page_id"}
    for table, col in blind_tables.items():
        stmts += [
            f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {table}_see_all ON {s}.{table}",
            f"CREATE POLICY {table}_see_all ON {s}.{table} FOR SELECT TO {rev} USING (true)",
            f"DROP POLICY IF EXISTS {table}_see_unblind ON {s}.{table}",
            f"CREATE POLICY {table}_see_unblind ON {s}.{table} FOR SELECT TO {ann}"
            f" USING ({col} IS NULL OR NOT {s}.proofdesk_blind_to_me({col}))",
        ]
        if table in ("edits", "actions"):
            continue  # their writes have their own policies above and below
        for command in ("INSERT", "UPDATE", "DELETE"):
            using = "" if command == "INSERT" else " USING (true)"
            check = "" if command == "DELETE" else " WITH CHECK (true)"
            stmts += [
                f"DROP POLICY IF EXISTS {table}_{command.lower()} ON {s}.{table}",
                f"CREATE POLICY {table}_{command.lower()} ON {s}.{table} FOR {command} TO {ann}{using}{check}",
            ]
    # Settings are the project's (QC share, time zone, engine...): reviewers and admins write
    # them; an annotator only the page they were last on (the workspace reopens it).
    own_key = "key = 'last_page:' || current_user"
    is_reviewer = f"pg_has_role(current_user, '{group_role(db, Role.REVIEWER)}', 'USAGE')"
    stmts += [
        f"ALTER TABLE {s}.settings ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS settings_read ON {s}.settings",
        f"CREATE POLICY settings_read ON {s}.settings FOR SELECT USING (true)",
        f"DROP POLICY IF EXISTS settings_add ON {s}.settings",
        f"CREATE POLICY settings_add ON {s}.settings FOR INSERT WITH CHECK ({own_key} OR {is_reviewer})",
        f"DROP POLICY IF EXISTS settings_change ON {s}.settings",
        f"CREATE POLICY settings_change ON {s}.settings FOR UPDATE USING ({own_key} OR {is_reviewer})"
        f" WITH CHECK ({own_key} OR {is_reviewer})",
    ]
    stmts += [
        f"DROP POLICY IF EXISTS actions_undo ON {s}.actions",
        f'CREATE POLICY actions_undo ON {s}.actions FOR UPDATE USING ("user" = current_user)'
        f' WITH CHECK ("user" = current_user)',
        f"""CREATE OR REPLACE FUNCTION {s}.proofdesk_guard_review() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.status IN ('approved', 'rejected'))
       OR (TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status
           AND (NEW.status IN ('approved', 'rejected') OR OLD.status = 'approved')) THEN
        IF NOT pg_has_role(current_user, TG_ARGV[0], 'USAGE') THEN
            RAISE EXCEPTION 'only a reviewer approves or rejects a page (page %%, %s)', NEW.id, current_user
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN NEW;
END $$""".replace("%%, %s", "%, %"),
        f"DROP TRIGGER IF EXISTS pages_review_guard ON {s}.pages",
        f"CREATE TRIGGER pages_review_guard BEFORE INSERT OR UPDATE ON {s}.pages FOR EACH ROW"
        f" EXECUTE FUNCTION {s}.proofdesk_guard_review('{group_role(db, Role.REVIEWER)}')",
    ]
    for stmt in stmts:
        raw.execute(stmt)
