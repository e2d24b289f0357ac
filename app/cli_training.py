"""``proofdesk dataset`` and ``proofdesk models``: dataset versions and the model registry."""

from __future__ import annotations

import json


def _open(path: str):
    from core.project import Project

    return Project.open(path)


def cmd_dataset(args) -> int:
    from core import datasets

    project = _open(args.project)
    try:
        if args.action == "create":
            version, created = datasets.create_version(project.store, project.root, args.user, args.selection,
                                                       args.val_share, args.max_samples)
            print(f"{'created' if created else 'unchanged, already'} dataset version {version.id}"
                  f" ({version.hash[:12]}): {version.n_train} train / {version.n_val} validation lines"
                  f" from {version.n_pages} pages")
        elif args.action == "list":
            rows = datasets.list_versions(project.store)
            if args.json:
                print(json.dumps([v.__dict__ for v in rows], indent=1))
            for v in [] if args.json else rows:
                print(f"{v.id:>4}  {v.hash[:12]}  {v.created_at[:19]}  {v.created_by:<12} {v.n_train:>6} train"
                      f" {v.n_val:>6} val {v.n_pages:>5} pages  {v.selection['selection']}")
            if not rows and not args.json:
                print("no dataset versions yet: `proofdesk dataset create PROJECT`")
        else:  # diff
            if len(args.versions) != 2:
                raise SystemExit("dataset diff needs two version ids: proofdesk dataset diff PROJECT A B")
            a, b = (datasets.get_version(project.store, int(v)) for v in args.versions)
            for line in datasets.diff(project.root, a, b).lines()[: 1 + args.limit]:
                print(line)
    finally:
        project.close()
    return 0


def cmd_models(args) -> int:
    from core import registry

    project = _open(args.project)
    try:
        store = project.store
        if args.action == "list":
            active = registry.active(store)
            rows = registry.versions(store)
            if args.json:
                print(json.dumps({"active": active.id if active else None, "versions": [v.__dict__ for v in rows]},
                                 indent=1))
                return 0
            print(f"active: {active.name if active else 'the shipped model'}")
            for v in rows:
                cer = v.metrics.get("val_cer")
                mark = "*" if active and v.id == active.id else " "
                print(f"{mark}{v.id:>4}  {v.name:<28} {v.task:<12} run {v.run_id or '-':<4}"
                      f" val CER {'-' if cer is None else f'{cer:.2%}'}  {v.created_at[:19]}")
        elif args.action == "promote":
            version = registry.find(store, args.version or "latest")
            registry.promote(store, args.user, version)
            print(f"promoted {version.name}: the next pre-fill uses it")
        else:  # rollback
            version = registry.rollback(store, args.user,
                                        registry.find(store, args.version) if args.version else None)
            print(f"rolled back to {version.name}")
    finally:
        project.close()
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("dataset", help="freeze, list and compare training datasets (versions of confirmed lines)")
    p.add_argument("action", choices=["create", "list", "diff"])
    p.add_argument("project")
    p.add_argument("versions", nargs="*", metavar="VERSION", help="diff: the two version ids")
    p.add_argument("--selection", choices=["done", "approved"], default="done",
                   help="create: pages done or approved (default), or approved by a reviewer only")
    p.add_argument("--val-share", type=float, default=0.2, help="create: share of pages for validation (default 0.2)")
    p.add_argument("--max-samples", type=int, default=None, help="create: cap on lines (reviewed pages first)")
    p.add_argument("--limit", type=int, default=50, help="diff: lines of detail to print (default 50)")
    p.add_argument("--json", action="store_true", help="list: machine-readable")
    p.set_defaults(func=cmd_dataset)

    p = sub.add_parser("models", help="list model versions, promote one for pre-fill, roll back")
    p.add_argument("action", choices=["list", "promote", "rollback"])
    p.add_argument("project")
    p.add_argument("version", nargs="?", help="id, name or latest (promote default: latest;"
                                              " rollback default: the one active before)")
    p.add_argument("--json", action="store_true", help="list: machine-readable")
    p.set_defaults(func=cmd_models)
