"""The ``proofdesk`` command line: a thin layer over the functions the GUI uses too.

The project folder is always the first argument. Errors print one line and exit non-zero;
``--debug`` shows the traceback. Heavy modules (Qt, OpenCV, Tesseract, onnxruntime) are
imported inside the command that needs them, so ``proofdesk pages`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from core import __version__
from core.db import is_url, parse_url
from core.errors import ProofdeskError
from core.fields import PRESETS as FIELD_PRESETS

from . import cli_support
from .cli_support import LOG_LEVELS, Progress, default_user  # noqa: F401  (Progress: used by cli_training)

log = logging.getLogger("proofdesk.cli")


def _open(path: str):
    return cli_support.open_project(path)


# -- commands ---------------------------------------------------------------------------------

def cmd_init(args) -> int:
    from core.model import FieldSchema
    from core.project import Project

    fields = FieldSchema.preset(args.preset).fields
    project = Project.create(args.project, fields=fields)
    print(f"created project {project.where} (fields: {', '.join(fields)})")
    return 0


def new_password(name: str) -> str | None:
    """A new password for ``name``: ``$PROOFDESK_NEW_PASSWORD`` in scripts, else typed twice."""
    import getpass

    secret = os.environ.get("PROOFDESK_NEW_PASSWORD")
    if secret is not None:
        return secret
    if not sys.stdin.isatty():
        raise ProofdeskError(f"type {name}'s new password at a terminal, or set PROOFDESK_NEW_PASSWORD")
    secret = getpass.getpass(f"new password for {name}: ")
    if secret and getpass.getpass("the same again: ") != secret:
        raise ProofdeskError("the two passwords differ; nothing changed")
    return secret


def cmd_server(args) -> int:
    from core import team

    url = cli_support.server_login(args.url, args.user)
    for line in team.server_init(url, args.admin, new_password(args.admin) or ""):
        print(line)
    location = parse_url(args.url)
    print(f"ready: {args.admin} creates projects with `proofdesk init postgresql://{args.admin}@{location.host}"
          f"{':' + str(location.port) if location.port else ''}/{location.database}/PROJECT` and adds people with"
          " `proofdesk users URL --add NAME --role ROLE`")
    return 0


def cmd_import(args) -> int:
    from core.importer import ImportOptions, import_paths

    project = _open(args.project)
    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        # First Ctrl-C stops after the page in hand (the file in hand is not imported); a second aborts.
        cancel.set()
        signal.signal(signal.SIGINT, previous)
        print("\ncancelling after this page: the file in hand is not imported, those before it are kept"
              " (Ctrl-C again to abort)...", file=sys.stderr)

    signal.signal(signal.SIGINT, on_sigint)
    options = ImportOptions(dpi=args.dpi, max_pixels=args.max_pixels, reference=args.reference,
                            labels=args.reference_as_labels, user=args.user, max_pages=args.max_pages)
    bar = None if args.quiet else Progress("import")
    try:
        if args.annotations:
            from core.formats.importing import import_annotations

            if args.reference or args.reference_as_labels:
                raise ProofdeskError("--annotations reads the annotations itself: leave out --reference and"
                                     " --reference-as-labels")
            summary = import_annotations(project, args.paths, args.annotations, args.as_, options, bar, cancel)
        else:
            summary = import_paths(project, args.paths, options, progress=bar, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    for line in summary.lines():
        print(line)
    if summary.document_ids and project.store.get_setting("auto_prefill", False) and not summary.cancelled:
        from ml.prefill import prefill_project

        docs = set(summary.document_ids)
        ids = [p.id for p in project.store.pages() if p.document_id in docs]
        print("the project pre-fills imported pages automatically:")
        result = prefill_project(project, ids, progress=None if args.quiet else Progress("prefill"))
        for line in result.lines():
            print(line)
    return 1 if summary.stopped or (summary.failures and not summary.imported and not summary.duplicates) else 0


def cmd_pages(args) -> int:
    project = _open(args.project)
    pages = project.store.pages(args.status)
    if args.json:
        print(json.dumps([{"id": p.id, "name": p.name, "status": p.status.value, "width": p.width,
                           "height": p.height} for p in pages], indent=1))
        return 0
    print(f"{'id':>5}  {'status':<12} {'size':>11}  name")
    for p in pages:
        print(f"{p.id:>5}  {p.status.value:<12} {f'{p.width}x{p.height}':>11}  {p.name}")
    print(f"{len(pages)} page(s)")
    return 0


def cmd_export(args) -> int:
    from core.formats import ExportOptions
    from core.formats.exporting import export

    project = _open(args.project)
    bar = Progress(f"export {args.format}")
    try:
        n = export(project, args.out, args.format, status=args.status,
                   page_ids=_parse_pages(args.pages) if args.pages else None,
                   options=ExportOptions(copy_images=not args.no_images, dataset_version=args.dataset_version),
                   progress=bar)
    finally:
        bar.close()
    print(f"exported {n} page(s) as {args.format} to {Path(args.out).resolve()}")
    return 0


def cmd_info(args) -> int:
    import platform

    print(f"Proofdesk {__version__}, Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    from ml import runtime_info  # imports tesserocr / onnxruntime lazily inside

    for key, value in runtime_info().items():
        print(f"{key}: {value}")
    if args.project:
        project = _open(args.project)
        counts = project.store.status_counts()
        print(f"project: {project.root}")
        print(f"documents: {len(project.store.documents())}, pages: {sum(counts.values())}")
        for status, n in sorted(counts.items()):
            print(f"  {status}: {n}")
        print(f"fields: {', '.join(project.store.fields())}")
    return 0


def _sigint_cancels(cancel: threading.Event, what: str):
    """First Ctrl-C sets ``cancel`` (finish what is in flight, keep what is done); a second aborts."""
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        cancel.set()
        signal.signal(signal.SIGINT, previous)
        print(f"\ncancelling after the {what} in flight (Ctrl-C again to abort)...", file=sys.stderr)

    signal.signal(signal.SIGINT, on_sigint)
    return previous


def cmd_prefill(args) -> int:
    from ml.prefill import plan_prefill, run_prefill

    project = _open(args.project)
    page_ids = None
    if args.pages:
        page_ids = _parse_pages(args.pages)
        known = {p.id for p in project.store.pages()}
        unknown = [i for i in page_ids if i not in known]
        if unknown:
            raise ProofdeskError(f"no such page(s): {', '.join(map(str, unknown))}")
    if args.set_default:
        from core.prefill_engine import set_prefill_engine

        if not args.engine:
            raise ProofdeskError("--set-default needs --engine")
        try:
            from ml.engines import ENGINES

            set_prefill_engine(project.store, args.engine, extra=ENGINES)
        except ValueError as e:
            raise ProofdeskError(str(e)) from None
    if args.languages:
        set_languages(project, args.languages)
    if args.follow:
        return _follow_prefill(project, args)
    plan = plan_prefill(project, page_ids, engine=args.engine)
    print(f"engine: {plan.engine} ({plan.engine_version}), config {plan.config_hash[:12]}; "
          f"{len(plan.todo)} page(s) to pre-fill, {len(plan.skipped)} already done", file=sys.stderr)
    cancel = threading.Event()
    previous = _sigint_cancels(cancel, "pages")
    try:
        summary = run_prefill(project, plan, workers=args.workers,
                              progress=None if args.quiet else Progress("prefill"), cancel=cancel, batch=args.batch)
    finally:
        signal.signal(signal.SIGINT, previous)
    for line in summary.lines():
        print(line)
    return 1 if summary.failures and not summary.done else (130 if summary.cancelled else 0)


def set_languages(project, langs: str) -> None:
    """Make ``langs`` (eng, deu+eng...) the project's Tesseract languages."""
    from core.prefill_engine import TESSERACT_LANGUAGES
    from ml.tess import check_languages

    try:
        langs = check_languages(langs)
    except ValueError as e:
        raise ProofdeskError(str(e)) from None
    project.store.set_setting(TESSERACT_LANGUAGES, langs)
    print(f"Tesseract languages of this project: {langs}", file=sys.stderr)


def _follow_prefill(project, args) -> int:
    from ml.prefill import follow_prefill

    if args.pages:
        raise ProofdeskError("--follow takes whatever new page nobody holds; it does not take --pages")
    cancel = threading.Event()
    previous = _sigint_cancels(cancel, "pages")
    print(f"following {project.where}: pre-filling new pages as they come (Ctrl-C stops)", file=sys.stderr)

    def done(page_id: int) -> None:
        if not args.quiet:
            print(f"pre-filled page {page_id}", file=sys.stderr)

    try:
        summary = follow_prefill(project, engine=args.engine, workers=args.workers, batch=args.batch, cancel=cancel,
                                 on_page=done, until_idle=args.until_idle)
    finally:
        signal.signal(signal.SIGINT, previous)
    for line in summary.lines():
        print(line)
    return 1 if summary.failures and not summary.done else (130 if summary.cancelled else 0)


def _parse_pages(spec: list[str]) -> list[int]:
    """``["1-3", "7,9"]`` -> ``[1, 2, 3, 7, 9]``."""
    out: list[int] = []
    for chunk in ",".join(spec).split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            if "-" in chunk:
                a, b = (int(x) for x in chunk.split("-", 1))
                out.extend(range(a, b + 1))
            else:
                out.append(int(chunk))
        except ValueError:
            raise ProofdeskError(f"--pages: {chunk!r} is not a page id or a range like 3-7") from None
    return out


def cmd_eval(args) -> int:
    from ml.engines import ENGINES
    from ml.evaluate import evaluate_dir, format_reports

    folder = Path(args.dataset)
    if not folder.is_dir():
        raise ProofdeskError(f"no such folder: {folder}")
    # --engine a --engine b, --engine a b and --engine a,b all name engines a and b.
    engines = list(dict.fromkeys(e.strip() for spec in (args.engine or ["classical"]) for e in spec.split(",")
                                 if e.strip()))
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ProofdeskError(f"unknown engine(s): {', '.join(unknown)} (known: {', '.join(sorted(ENGINES))})")
    if getattr(args, "fields_given_lines", False):
        return eval_fields_given_lines(args, folder)
    reports = []
    names, forms = _key_field_names(args)
    for engine in engines:
        try:
            bar = Progress(f"eval {engine}")
            try:
                reports.append(evaluate_dir(folder, engine=engine, workers=args.workers, limit=args.limit,
                                            crops=not args.no_crops, progress=bar, fields=names, cv=args.cv,
                                            forms=forms))
            finally:
                bar.close()
        except ValueError as exc:
            raise ProofdeskError(str(exc)) from None
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=1))
    else:
        print(format_reports(reports))
    return 0


def _field_names(args, project_schema: list[str] | None = None) -> list[str] | None:
    if getattr(args, "fields", None):
        return [n.strip() for n in args.fields.split(",") if n.strip()]
    return project_schema or None


def _key_field_names(args, project_schema: list[str] | None = None) -> tuple[list[str] | None, bool]:
    """(the key fields ``eval`` scores: :func:`_field_names` without a form's header / question /
    answer, whether it scores those as a form's entities)."""
    from core.fields import many_valued

    names = _field_names(args, project_schema)
    if not names or not any(many_valued(n) for n in names):
        return names, False
    return [n for n in names if not many_valued(n)] or None, True


def eval_fields_given_lines(args, folder: Path, model=None, project_schema: list[str] | None = None,
                            form_model=None) -> int:
    """``eval --fields-given-lines``: the field reader (rules, or ``model``) on the reference lines;
    a form schema's header / question / answer (``core.fields.many_valued``) are scored as a form's
    entities (``ml.fields.entities.evaluate_entities``, with ``form_model`` or the rules)."""
    from core.fields import many_valued
    from ml.evaluate import load_reference_dir
    from ml.fields.evaluate import evaluate_fields
    from ml.fields.scoring import format_fields

    refs = load_reference_dir(folder, args.limit)
    if not refs:
        raise ProofdeskError(f"no reference files (image + JSON) in {folder}")
    if args.cv is not None and not 2 <= args.cv <= len(refs):
        raise ProofdeskError(f"--cv K needs 2 <= K <= the folder's pages ({len(refs)})")
    names = _field_names(args, project_schema)
    if names and any(many_valued(n) for n in names):
        single = [n for n in names if not many_valued(n)]
        code = eval_forms_given_lines(args, folder, refs, form_model)
        if not single:
            return code
        names = single
    try:
        report = evaluate_fields(refs, names, model, cv=args.cv, progress=lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        raise ProofdeskError(str(exc)) from None
    report["dataset"] = str(folder)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    print(f"dataset: {folder} ({len(refs)} pages), fields given the reference lines")
    print(format_fields(report, f"key fields ({report['model']}; SROIE task 3 rule)"))
    print(f"  {report['ms_per_page']:.1f} ms a page")
    if report.get("cv"):
        cvr = report["cv"]
        print()
        print(format_fields(cvr["learned"], f"learned, {cvr['k']}-fold cross-validation (trained on the other folds)"))
        print(f"  training: {', '.join(f'{s:.1f}' for s in cvr['train_seconds'])} s a fold;"
              f" prediction {cvr['predict_ms_per_page']:.1f} ms a page")
    return 0


def eval_forms_given_lines(args, folder: Path, refs, form_model=None) -> int:
    """The form part of ``eval --fields-given-lines``: entity figures per label, and with ``--cv K``
    those of a model learned from the folder's own labels."""
    from ml.fields.entities import evaluate_entities, format_entities

    try:
        report = evaluate_entities(refs, form_model, cv=args.cv, progress=lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        raise ProofdeskError(str(exc)) from None
    report["dataset"] = str(folder)
    if args.json:
        print(json.dumps({"forms": report}, indent=1, ensure_ascii=False))
        return 0
    print(f"dataset: {folder} ({report['pages']} pages), form fields given the reference lines")
    print(format_entities(report, f"form fields ({report['model']}; an entity right when its label and text match)"))
    print(f"  {report['ms_per_page']:.1f} ms a page")
    if report.get("cv"):
        cvr = report["cv"]
        print()
        print(format_entities(cvr["learned"], f"learned, {cvr['k']}-fold cross-validation (trained on the other folds)"))
    return 0


def cmd_gui(args) -> int:
    from app.main import run_gui

    return run_gui(args.project)


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proofdesk",
        description="Proofdesk: human-in-the-loop OCR. Correct what the machine read; "
        "the corrections train the model that reads the next batch.",
    )
    parser.add_argument("--version", action="version", version=f"proofdesk {__version__}")
    _add_global_options(parser, default=True)
    parser.add_argument("--selftest", action="store_true",
                        help="check headless what a user needs (import, pre-fill with both engines, "
                        "training in the worker, export, the window); exits 1 on any failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("server", help="prepare a PostgreSQL database for team projects (roles, the first admin)")
    p.add_argument("action", choices=["init"])
    p.add_argument("url", help="postgresql://ADMIN@host[:port]/DATABASE as the server's administrator"
                               " (a login that may create roles)")
    p.add_argument("--admin", required=True, metavar="NAME",
                   help="the team's first Proofdesk admin: a new PostgreSQL login (password asked for;"
                        " $PROOFDESK_NEW_PASSWORD in scripts)")
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("init", help="create a new project: a folder, or postgresql://host/DATABASE/PROJECT on a"
                                    " team server (as its admin)")
    p.add_argument("project")
    p.add_argument("--preset", choices=sorted(FIELD_PRESETS), default="receipt",
                   help="field names to start with (default: receipt)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", help="import images and PDFs (files and folders)")
    p.add_argument("project")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--reference", action="store_true",
                   help="keep the reference lines and fields from <image>.json beside each image")
    p.add_argument("--reference-as-labels", action="store_true",
                   help="make the reference lines of <image>.json the pages' human-made regions, pages done")
    p.add_argument("--dpi", type=int, default=300, help="PDF render resolution (default 300)")
    p.add_argument("--max-pixels", type=int, default=150_000_000, help="refuse pages above this many pixels")
    p.add_argument("--max-pages", type=int, default=None, metavar="N",
                   help="refuse documents with more pages (default: the project setting max_pages_per_document,"
                        " 2000)")
    p.add_argument("--annotations", metavar="FORMAT", default=None,
                   help="PATH holds another tool's annotations with their images: auto (detected) or paddleocr,"
                        " paddleocr-rec, labelstudio, coco, cvat, icdar, pagexml, alto, hocr, funsd, sroie, cord,"
                        " reference")
    p.add_argument("--as", dest="as_", choices=["labels", "prediction"], default="labels",
                   help="with --annotations: people's labels (default; pages done where the tool says they were"
                        " checked) or a prediction of that tool, moderated and scored like an engine's")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("pages", help="list the pages of a project")
    p.add_argument("project")
    p.add_argument("--status", choices=["new", "prefilled", "in_progress", "done", "approved", "rejected"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pages)

    p = sub.add_parser("export", help="write the pages in a format (Proofdesk JSON, PaddleOCR, PAGE XML, ...)")
    p.add_argument("project")
    p.add_argument("out")
    p.add_argument("--format", default="reference", metavar="F",
                   help="reference (default: one JSON per page), paddleocr, tesstrain, doctr, coco, labelstudio,"
                        " cvat, icdar2015, pagexml, alto, hocr, pdf (searchable), fields")
    p.add_argument("--status", choices=["new", "prefilled", "in_progress", "done", "approved", "rejected"])
    p.add_argument("--pages", nargs="+", metavar="IDS", help="only these page ids or ranges (1-20 31)")
    p.add_argument("--dataset-version", type=int, default=None, metavar="N",
                   help="the pages of dataset version N with the lines it froze and its train/val split")
    p.add_argument("--no-images", action="store_true", help="write the annotation files only")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prefill", help="pre-fill pages with an OCR engine (resumable, Ctrl-C keeps finished pages)")
    p.add_argument("project")
    p.add_argument("--pages", nargs="+", metavar="IDS", help="page ids or ranges (1-20 31); default: every new page")
    p.add_argument("--engine", default=None,
                   help="engine to run: combined, neural, classical or tesseract-baseline (default: the "
                        "project's pre-fill engine, combined unless set with --set-default)")
    p.add_argument("--set-default", action="store_true",
                   help="make --engine the project's pre-fill engine (the GUI's too), then pre-fill")
    p.add_argument("--languages", metavar="LANGS", default=None,
                   help="make these the project's Tesseract languages, then pre-fill: eng, deu or both as"
                        " deu+eng (the default; deu reads umlauts, ß and the accents of the other Latin"
                        " languages)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="pages each worker reads together (default 4 for the neural engines, 1 for classical; "
                        "more on a GPU, e.g. 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--follow", action="store_true",
                   help="keep pre-filling new pages as they are imported, with any number of other machines"
                        " doing the same (each takes a few pages at a time; a killed one's pages go back to the"
                        " pool); until Ctrl-C")
    p.add_argument("--until-idle", action="store_true", help="with --follow: stop when no page is left to take")
    p.set_defaults(func=cmd_prefill)

    p = sub.add_parser("eval", help="score engines on a folder in the reference format (no project needed)")
    p.add_argument("dataset", metavar="DATASET_DIR")
    p.add_argument("--engine", nargs="+", action="extend", default=None, metavar="ENGINE",
                   help="engine(s) to evaluate side by side, repeated or comma-separated (default: classical)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1; 0 = in this process)")
    p.add_argument("--limit", type=int, default=None, help="only the first N pages")
    p.add_argument("--no-crops", action="store_true", help="skip the recognition-on-reference-crops pass")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: the report, or a list of reports for several engines")
    p.add_argument("--fields", default=None, metavar="NAMES",
                   help="key fields to score, comma-separated (default: the names the reference files use;"
                        " with --project: the project's schema)")
    p.add_argument("--fields-given-lines", action="store_true",
                   help="score the field reader alone on the reference lines (no OCR: seconds, not minutes)")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="also train and score the learned field model by K-fold cross-validation on the folder's"
                        " own fields (on the engine's lines and on the reference lines)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="versions, engines, devices, and a project's counts")
    p.add_argument("project", nargs="?")
    p.set_defaults(func=cmd_info)

    from .cli_training import add_parsers as add_training_parsers

    add_training_parsers(sub)

    from .cli_review import add_parsers as add_review_parsers

    add_review_parsers(sub)

    from .cli_migrate import add_parsers as add_migrate_parsers

    add_migrate_parsers(sub)

    p = sub.add_parser("gui", help="open the app (on PROJECT, or the last/demo project)")
    p.add_argument("project", nargs="?")
    p.set_defaults(func=cmd_gui)

    # --debug, --user and --log-level work before or after the command name.
    for command_parser in sub.choices.values():
        _add_global_options(command_parser, default=False)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: bool) -> None:
    """The options every command takes. On a command's own parser they default to SUPPRESS, so
    that one given before the command name is not overwritten by the command's default."""
    def d(value):
        return value if default else argparse.SUPPRESS

    parser.add_argument("--debug", action="store_true", default=d(False), help="show tracebacks on errors")
    parser.add_argument("--user", default=d(default_user()),
                        help="who is working (default: $PROOFDESK_USER, else the OS user); where that user has a"
                             " password in the project it is asked for ($PROOFDESK_PASSWORD in scripts)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=d(None),
                        help="log at this level to the log file and to stderr (default: info, to the log file"
                             " only)")


#: Commands that never act as a user in a project: no sign-in. (`gui` signs in in its window;
#: `worker` does a run an authenticated user created.)
NO_SIGN_IN = {"init", "eval", "info", "gui", "worker"}


def _only_reads(args) -> bool:
    """Commands that only read the project: they also work on one the OS user may only read."""
    command, action = args.command, getattr(args, "action", None)
    return (command in ("pages", "export", "info", "runs", "stats", "review")
            or (command == "models" and action == "list")
            or (command == "dataset" and action in ("list", "diff")))


def _sign_in(args) -> None:
    """Open the command's project (read-only where it only reads and cannot write) and prove
    that whoever runs the command is ``--user`` where that user has a password."""
    project_path = getattr(args, "project", None)
    if args.command == "server" or not project_path:
        return
    if is_url(project_path):
        # A team project: the person signs in to the server with their own login, and the server
        # enforces their role (core/team.py); Proofdesk keeps no password of its own there.
        args.project = cli_support.server_login(project_path, args.user)
        args.user = parse_url(args.project).user
        if args.command not in ("init", "users"):
            cli_support.open_project(args.project, readonly=_only_reads(args))
        return
    if args.command in NO_SIGN_IN:
        return
    root = Path(project_path).expanduser()
    db = root / "proofdesk.db"
    if not db.is_file():
        return  # the command says "not a project" itself
    writable = os.access(root, os.W_OK) and os.access(db, os.W_OK)
    if not writable and not _only_reads(args):
        raise ProofdeskError(f"the project {root} is read-only for you: `{args.command}` changes it and needs write"
                             " access to its folder and proofdesk.db (pages, export, stats, review, runs and"
                             " models list only read, and work)")
    project = cli_support.open_project(project_path, readonly=not writable)
    args.password_checked = cli_support.authenticate(project.store, args.user, project.root.name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from .selftest import main as selftest

        return selftest()
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    logfile = cli_support.setup_logging(args.log_level or "info", stderr=args.log_level is not None)
    log.info("proofdesk %s: %s (user %s)", __version__, args.command, args.user)
    project = getattr(args, "project", None)
    try:
        _sign_in(args)
        return args.func(args) or 0
    except ProofdeskError as exc:
        if args.debug:
            raise
        log.info("%s failed: %s", args.command, exc)
        print(f"proofdesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("proofdesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`proofdesk pages P | head`): stop quietly, as Unix tools do. Point
        # stdout at /dev/null so that Python's flush at exit does not fail again.
        with _suppress():
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a tool ended by SIGPIPE
    except Exception as exc:
        if args.debug:
            raise
        known = cli_support.describe_system_error(exc, project)
        if known:
            log.warning("%s failed: %s", args.command, exc, exc_info=True)
            print(f"proofdesk: error: {known}", file=sys.stderr)
            return 1
        # A bug: still one line, the traceback in the log file and on request.
        log.exception("internal error in %s", args.command)
        where = f"; the traceback is in {logfile}" if logfile else ""
        print(f"proofdesk: internal error: {type(exc).__name__}: {exc} (run with --debug for details{where})",
              file=sys.stderr)
        return 2
    finally:
        cli_support.close_projects()


def _suppress():
    import contextlib

    return contextlib.suppress(OSError)


if __name__ == "__main__":
    sys.exit(main())
