"""``proofdesk migrate SOURCE TARGET``: a project folder to a team server, a server's project to a
folder (or folder to folder, server to server), with its whole history, checked afterwards."""

from __future__ import annotations

import sys


def cmd_migrate(args) -> int:
    from core.db import is_url
    from core.migrate import migrate

    from .cli_support import authenticate, open_project, server_login

    source, target = args.source, args.target
    if is_url(source):
        source = server_login(source, args.user)  # the server enforces what this login may read
    else:
        # The copy carries everything, password hashes too: where the project has admins, one of
        # them (signed in) moves it.
        project = open_project(source, readonly=True)
        authenticate(project.store, args.user, project.root.name)
        project.store.require_admin(args.user)
    if is_url(target):
        target = server_login(target, args.user)  # creating a project there: the server's admins only

    def progress(what: str, done: int, total: int) -> None:
        if done == total and not args.quiet:
            print(f"copied {what}: {done:,}", file=sys.stderr, flush=True)

    report = migrate(source, target, progress=progress)
    for line in report.lines():
        print(line)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("migrate", help="copy a project with its whole history: a folder to a team server"
                                       " (postgresql://host/DATABASE/PROJECT), a server's project to a folder,"
                                       " checked afterwards")
    p.add_argument("source", metavar="SOURCE", help="the project: a folder or a postgresql:// URL (read only)")
    p.add_argument("target", metavar="TARGET", help="the new project: a folder or a postgresql:// URL (must not be a"
                                                    " project yet)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_migrate)
