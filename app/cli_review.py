"""``proofdesk stats`` and ``proofdesk review``: the Analytics figures and the QC review queue."""

from __future__ import annotations

import json


def _open(path: str):
    from app.cli_support import open_project

    return open_project(path)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x, fmt="{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def cmd_stats(args) -> int:
    from core import analytics, days, review, sampling

    days.parse_range(args.date_from, args.date_to, ("--from", "--to"))  # one line, exit 1, when not dates
    project = _open(args.project)
    store = project.store
    analytics.require_analytics(store, args.user)
    review.refresh_stale(store)
    out = analytics.stats(store, args.date_from, args.date_to, viewer=args.user)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    span = f"{args.date_from or 'the start'} to {args.date_to or 'today'}"
    m = out["moderation"]
    print(f"Proofdesk statistics, {project.root.name}, pages done from {span} (days in {out['time_zone']})")
    print(f"pages: {m['total']} done or reviewed, {m['moderated']} moderated, {m['not_moderated']} not moderated,"
          f" {m['in_queue']} waiting in the review queue")
    print()
    print("annotators            pages  regions  hours  pages/h  regions/h  edit rate  rejected  CER vs reviewer  IoU")
    for a in out["annotators"]:
        flag = {"over": "  ++ over-performer", "under": "  -- under-performer"}.get(a["flag"], "")
        print(f"{a['annotator'][:20]:<20} {a['pages_done']:>6} {a['regions_touched']:>8} {a['active_hours']:>6.1f}"
              f" {_num(a['pages_per_hour']):>8} {_num(a['regions_per_hour']):>10} {_pct(a['edit_rate']):>10}"
              f" {_pct(a['rejection_rate']):>9} {_pct(a['cer_vs_reviewers']):>16}"
              f" {_num(a['iou_vs_reviewers'], '{:.2f}'):>5}{flag}")
    if not out["annotators"]:
        print("(no edits in this range)")
    print()
    print("engine / model version          regions  pages  precision  recall     CER  typing saved")
    for e in out["engines"]:
        name = f"{e['engine']} {e['version']}"
        print(f"{name[:30]:<30} {e['regions']:>9} {e['pages']:>6} {_pct(e['precision']):>10} {_pct(e['recall']):>7}"
              f" {_pct(e['cer']):>7} {_pct(e['typing_saved']):>13}")
    if not out["engines"]:
        print("(no verdicts in this range: pages get them when they are done)")
    q = out["qc_routing"]
    print()
    if q["finished"]:
        parts = ", ".join(f"{sampling.REASON_NAMES.get(k, k)} {_pct(v['share'])}" for k, v in q["reasons"].items()
                          if v["pages"])
        print(f"QC: {q['routed']} of {q['finished']} finished pages routed to review ({_pct(q['share'])})"
              + (f": {parts}" if parts else ""))
    else:
        print("QC: no page finished in this range")
    print(f"    (rules now: a {_pct(q['rules']['sample_share'])} sample, and pages expected to hold more than"
          f" {q['rules']['expected_wrong_max']:g} wrong regions among those nobody checked)")
    a = out["auto_accept"]
    print()
    if a["threshold"] is None:
        print(f"auto-accept: no confidence threshold reaches {_pct(a['target_precision'])} precision"
              f" on {a['total']} checked regions")
    else:
        print(f"auto-accept: confidence >= {a['threshold']:.3f} gives {_pct(a['precision'])} precision and saves"
              f" {_pct(a['share_saved'])} of the work ({a['accepted']} of {a['total']} checked regions)")
    _print_fields(out)
    return 0


def _print_fields(out: dict) -> None:
    """Key fields (issue 15): accuracy per field and per model version, and each field's
    auto-accept threshold at the regions' target precision."""
    accept = {f["name"]: f for f in out.get("field_auto_accept", [])}
    names = [f["name"] for f in out.get("fields", [])] + [n for n in accept
                                                          if n not in {f["name"] for f in out.get("fields", [])}]
    if not names:
        return
    stats = {f["name"]: f for f in out.get("fields", [])}
    print()
    target = next(iter(accept.values()))["target_precision"] if accept else out["auto_accept"]["target_precision"]
    print(f"key fields           predicted  right  accuracy  wrong  missing  not on page  auto-accept"
          f" ({_pct(target)})")
    for name in names:
        f = stats.get(name, {})
        a = accept.get(name)
        gate = "-" if not a or a["threshold"] is None else f">= {a['threshold']:.3f} saves {_pct(a['share_saved'])}"
        print(f"{name[:20]:<20} {f.get('predicted', 0):>9} {f.get('right', 0):>6} {_pct(f.get('accuracy')):>9}"
              f" {f.get('wrong', 0):>6} {f.get('missing', 0):>8} {f.get('not_on_page', 0):>12}  {gate}")
    if out.get("field_models"):
        print("key fields per engine / model version: accuracy (right of predicted)")
        for f in out["field_models"]:
            print(f"  {(f['engine'] + ' ' + f['version'])[:30]:<30} {f['name'][:20]:<20}"
                  f" {_pct(f['accuracy']):>7} ({f['right']} of {f['predicted']})")


def cmd_review(args) -> int:
    from core import review

    project = _open(args.project)
    store = project.store
    review.require_viewer(store, args.user)
    entries = review.review_queue(store, viewer=args.user, include_reviewed=args.all)
    if args.json:
        print(json.dumps([e.__dict__ for e in entries], indent=1))
        return 0
    qc = review.qc_settings(store)
    print(f"review queue: {len(entries)} page(s); {_rules(qc)}")
    print(f"{'id':>6}  {'status':<9} {'min conf':>8}  {'annotator':<14} {'routed':<19}  reasons / name")
    for e in entries:
        who = e.annotator or ("(blind)" if e.blind else "-")
        conf = "-" if e.min_confidence is None else f"{e.min_confidence:.2f}"
        print(f"{e.page_id:>6}  {e.status:<9} {conf:>8}  {who[:14]:<14} {e.routed_at[:19]:<19}  "
              f"{', '.join(e.reasons)}  {e.name}")
    return 0


def _rules(qc) -> str:
    return (f"QC sample {qc.share:.0%} (seed {qc.seed}); always routed when more than {qc.expected_wrong_max:g}"
            " wrong regions are expected among those nobody checked (low_confidence), and on engine disagreement;"
            f" reviews {'blind' if qc.blind else 'not blind'}")


def cmd_qc(args) -> int:
    """``proofdesk qc PROJECT [--share F] [--seed N] [--expected-wrong-max X] [--blind yes|no]``:
    show the QC rules, or change them (admins, once the project has one)."""
    from core import review

    store = _open(args.project).store
    changes = {"share": args.share, "seed": args.seed, "expected_wrong_max": args.expected_wrong_max,
               "blind": None if args.blind is None else args.blind == "yes"}
    if any(v is not None for v in changes.values()):
        try:
            qc = review.set_qc_settings(store, args.user, **changes)
        except ValueError as exc:
            from core.errors import ProofdeskError

            raise ProofdeskError(str(exc)) from None
        print("QC rules changed (pages marked done from now on follow them)")
    else:
        qc = review.qc_settings(store)
    if args.json:
        print(json.dumps(qc.__dict__, indent=1))
    else:
        print(_rules(qc))
    return 0


def cmd_auto_accept(args) -> int:
    from core import review

    project = _open(args.project)
    store = project.store
    choice = review.choose_threshold_counts(review.auto_accept_counts(store, args.engine), args.target)
    if choice.threshold is None:
        print(f"no confidence threshold reaches {_pct(args.target)} precision on the {choice.total} regions people"
              " checked: nothing accepted (finish and review more pages first)")
        return 0
    fields = review.field_thresholds(store, args.target, args.engine)
    regions_sure = len(store.auto_accept_candidates(choice.threshold, args.engine)) if fields is not None else 0
    ids = review.apply_auto_accept(store, args.user, choice.threshold, args.engine, dry_run=args.dry_run,
                                   target_precision=args.target, fields=fields)
    print(f"threshold: confidence >= {choice.threshold:.3f}: {_pct(choice.precision)} of such regions were right"
          f" on the pages people checked ({choice.accepted} regions: at least {_pct(choice.precision_low)} with 95%"
          f" confidence); it saves {_pct(choice.share_saved)} of the work")
    from core.fields import many_valued

    keys = {n: th for n, th in (fields or {}).items() if not many_valued(n)}
    labels = {n: th for n, th in (fields or {}).items() if many_valued(n)}
    if keys:
        print("key fields: " + ", ".join(
            f"{name} >= {th:.3f}" if th is not None else f"{name} no threshold yet (too few checked)"
            for name, th in keys.items()))
    if labels:
        print(f"form labels (all of a label's predictions right at {_pct(args.target)}, or none: a label has no"
              " confidence): " + ", ".join(f"{name} sure" if th is not None else f"{name} not yet"
                                          for name, th in labels.items()))
    gates = ([" every key field at or above its field's"] if keys else []) + \
        ([" every form label it predicts sure"] if labels else [])
    print(f"{'would accept' if args.dry_run else 'accepted'} {len(ids)} pre-filled page(s) whose every region"
          " is at or above it" + "".join(" and" + g for g in gates)
          + f"{': ' + ' '.join(map(str, ids)) if ids and len(ids) <= 50 else ''}")
    held = regions_sure - len(ids)
    if fields is not None and held > 0:
        why = " or".join(g for g in ([" a key field below its threshold (or a field with none yet)"] if keys else [])
                         + ([" a form label not yet sure"] if labels else []))
        print(f"{held} more page(s) had every region sure but{why}: left for people")
    return 0


def cmd_users(args) -> int:
    import getpass
    import os
    import sys

    from app.main import ASK_USER_SETTING
    from core.errors import ProofdeskError
    from core.model import Role

    if getattr(args, "add", None) or (args.role and "://" in args.project):
        return _team_member(args)
    if args.role and len(args.role) != 2:
        raise ProofdeskError("--role NAME ROLE (with --add NAME: --role ROLE)")
    project = _open(args.project)
    store = project.store
    if args.role:
        name, role = args.role
        store.set_user_role(args.user, name, Role(role))
        print(f"{name} is now {role}")
    if args.password:
        # The old password (or an admin's) was asked when signing in as --user; core checks it.
        secret = os.environ.get("PROOFDESK_NEW_PASSWORD")
        if secret is None:
            if not sys.stdin.isatty():
                raise ProofdeskError("type the new password at a terminal, or set PROOFDESK_NEW_PASSWORD"
                                     " (empty: remove the password)")
            secret = getpass.getpass(f"new password for {args.password} (empty: none): ")
            if secret and getpass.getpass("the same again: ") != secret:
                raise ProofdeskError("the two passwords differ; nothing changed")
        store.set_password(args.password, secret or None, actor=args.user, proof=getattr(args, "password_checked", None))
        print(f"password {'set' if secret else 'removed'} for {args.password}")
    if args.ask_at_start:
        store.set_setting(ASK_USER_SETTING, args.ask_at_start == "yes")
    if args.time_zone is not None:
        from core import days

        if args.time_zone:
            days.get_zone(args.time_zone)  # a bad name is refused before the role is asked for
        store.require_admin(args.user)  # a project-wide setting: admins, once there is one
        days.set_time_zone(store, args.time_zone or None)
    if args.time_zone is not None or not (args.role or args.password or args.ask_at_start):
        from core import days

        name = days.zone_name(store)
        print(f"days are counted in {name}" + ("" if store.get_setting(days.TIME_ZONE_SETTING)
                                                else " (this machine's zone: the project sets none)"))
    asks = store.get_setting(ASK_USER_SETTING, False) or store.has_any_password()
    print(f"the app {'asks who is working at start' if asks else 'opens as the OS user'}")
    for name, role, pw in store.user_list():
        print(f"  {name:<20} {role:<10} {'password' if pw else ''}")
    return 0


def _team_member(args) -> int:
    """``users URL --add NAME --role ROLE``: a team member's server login (the admin's own login
    runs it; the server refuses anyone else)."""
    from app.cli import new_password
    from core import team
    from core.db import is_url
    from core.errors import ProofdeskError
    from core.model import Role

    if not is_url(args.project):
        raise ProofdeskError("--add is for a team project (postgresql://...): in a project folder people are added"
                             " by working in it, and --role NAME ROLE gives a role")
    if not args.add or not args.role or len(args.role) != 1:
        raise ProofdeskError("name the person and one role: --add NAME --role annotator|reviewer|admin")
    role = Role(args.role[0])
    team.add_member(args.project, args.add, role, new_password(args.add) or None)
    print(f"{args.add} is {role.value} on {args.project.split('@')[-1]}")
    return 0


def cmd_assign(args) -> int:
    from app.cli import _parse_pages
    from core.errors import ProofdeskError

    store = _open(args.project).store
    ids = _parse_pages(args.pages)
    known = {p.id for p in store.pages()}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ProofdeskError(f"no such page(s): {', '.join(map(str, unknown))}")
    store.assign_pages(args.user, ids, args.to or None)
    print(f"{len(ids)} page(s) assigned to {args.to or 'anyone'}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("assign", help="give pages to a person (reviewers and admins): their next page offers them first")
    p.add_argument("project")
    p.add_argument("--to", required=True, metavar="NAME", help="the person ('' gives the pages back to anyone)")
    p.add_argument("--pages", required=True, nargs="+", metavar="IDS", help="page ids or ranges (1-20 31)")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("users", help="the project's users and roles; set a password or a role; sign-in at start")
    p.add_argument("project")
    p.add_argument("--role", nargs="+", metavar="NAME ROLE",
                   help="give NAME the role annotator, reviewer or admin (with --add: the new member's role)")
    p.add_argument("--add", metavar="NAME",
                   help="team project (postgresql://...): add NAME as a server login with --role ROLE (password asked"
                        " for; $PROOFDESK_NEW_PASSWORD in scripts), or change an existing member's role")
    p.add_argument("--password", metavar="NAME",
                   help="set or remove NAME's password (the new one is asked for; $PROOFDESK_NEW_PASSWORD in"
                        " scripts); needs NAME's current password (sign in as NAME) or an admin's")
    p.add_argument("--ask-at-start", choices=["yes", "no"], help="always ask who is working when the app starts")
    p.add_argument("--time-zone", metavar="NAME",
                   help="the time zone the project's days are counted in (Analytics, date filters): an IANA name"
                        " such as Asia/Singapore, UTC or UTC+08:00; '' for each machine's own zone (the default)")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("auto-accept", help="mark done, without a person, pre-filled pages the model is sure of"
                                           " (every region and, with a field schema, every key field)")
    p.add_argument("project")
    p.add_argument("--target", type=float, default=0.995,
                   help="precision the threshold must reach on reviewed data (default 0.995)")
    p.add_argument("--engine", help="only this engine's predictions (default: all)")
    p.add_argument("--dry-run", action="store_true", help="say which pages, accept none")
    p.set_defaults(func=cmd_auto_accept)

    p = sub.add_parser("stats", help="annotator and model figures (the Analytics screen) for a date range")
    p.add_argument("project")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD), included")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day (YYYY-MM-DD), included")
    p.add_argument("--json", action="store_true", help="every figure as JSON")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("qc", help="the QC rules (which done pages go to review): show them, or set them (admins)")
    p.add_argument("project")
    p.add_argument("--share", type=float, metavar="F", help="the seeded share of done pages sampled for review (0-1)")
    p.add_argument("--seed", type=int, help="the sample's seed (another seed samples other pages)")
    p.add_argument("--expected-wrong-max", type=float, metavar="X",
                   help="route a page when more than X wrong regions are expected among the regions nobody"
                        " checked, sum(1 - confidence) (default 0.5)")
    p.add_argument("--blind", choices=["yes", "no"], help="hide who annotated a page from reviewers (admins see it)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_qc)

    p = sub.add_parser("review", help="the QC review queue, with the reason each page is in it")
    p.add_argument("project")
    p.add_argument("--all", action="store_true", help="also pages already reviewed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)
