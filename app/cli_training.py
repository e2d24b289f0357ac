"""``proofdesk dataset|models|train|runs|worker``: dataset versions, the model registry, training runs.

``proofdesk train`` creates the run record and starts ``proofdesk worker train`` as a child
process, which does the work and prints JSON lines; this side shows them as a progress bar and
makes sure the record ends right when the child dies or Ctrl-C cancels it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from core.errors import ProofdeskError


def _open(path: str):
    from app.cli_support import open_project

    return open_project(path)


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


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def field_figures(metrics: dict) -> str:
    """A field model version's figures on one line: overall F1 and each field's, with what it was
    compared with."""
    per = metrics.get("per_field") or {}
    parts = ", ".join(f"{k} {_pct(v.get('f1'))}" for k, v in per.items())
    return f"fields F1 {_pct(metrics.get('f1'))} ({parts})"


def version_figures(version, cer_label: str = "val CER") -> str:
    """A model version's figures on one line: a field model's F1s, else the OCR's validation CER."""
    from core import registry

    if version.task == registry.FIELDS:
        return field_figures(version.metrics)
    cer = version.metrics.get("val_cer")
    return f"{cer_label} {'-' if cer is None else f'{cer:.2%}'}"


def field_report(metrics: dict) -> list[str]:
    """How a run judged its field model: per field, its F1 against the compared model's, the noise,
    gained or lost; then the verdict."""
    from core.fields import many_valued

    forms = [many_valued(n) for n in metrics.get("schema") or []]
    what = "form fields" if forms and all(forms) else "key and form fields" if any(forms) else "key fields"
    head = (f"{what}, {metrics.get('eval')}" + (f" (K={metrics['folds']})" if metrics.get("folds") else "")
            + f" on {metrics.get('eval_pages')} page(s), against {metrics.get('compared_with')}:")
    rows = [head]
    for name, f in (metrics.get("per_field") or {}).items():
        rows.append(f"  {name:<18} F1 {_pct(f.get('f1')):>6} against {_pct(f.get('active_f1')):>6}"
                    f"  (noise {f.get('noise', 0):.1%}) {f.get('change', '')}"
                    + ("  (read by the rules)" if f.get("by_rules") else ""))
    typing = (f"; typing saved {_pct(metrics.get('typing_saved'))} against {_pct(metrics.get('active_typing_saved'))}"
              if metrics.get("typing_saved") is not None or metrics.get("active_typing_saved") is not None else "")
    rows.append(f"  {'all':<18} F1 {_pct(metrics.get('f1')):>6} against {_pct(metrics.get('active_f1')):>6}{typing}")
    rules = metrics.get("rules_read") or []
    if rules:
        rows.append(f"  read by the rules, which read {'it' if len(rules) == 1 else 'them'} better on pages the "
                    f"model did not learn from: {', '.join(rules)}")
    gained, lost = metrics.get("gained") or [], metrics.get("lost") or []
    rows.append(f"  gained: {', '.join(gained) or 'none'}; lost: {', '.join(lost) or 'none'}"
                f" -> {'better' if metrics.get('better') else 'not better'}")
    return rows


def recognizer_line(m: dict) -> str:
    """Which recogniser weights a run's model version carries (``keep_recognizer``), and on what."""
    kept = m.get("recognizer_kept")
    if m.get("recognizer_why") != "auto" or m.get("recognizer_lines") is None:
        return f"recogniser: the {kept} weights, as asked" if m.get("recognizer_why") == "asked" else \
            f"recogniser: the {kept} weights (no validation line to choose on)"
    what = ("reads them better beyond their noise" if kept == "trained"
            else "reads them no better beyond their noise: the base model's weights are kept")
    return (f"recogniser: on {m['recognizer_lines']} validation lines no training page has, the fine-tune's CER is "
            f"{m['recognizer_trained_cer']:.2%} against {m['recognizer_base_cer']:.2%} for the base "
            f"model's (z {m.get('recognizer_z')}): it {what}")


def ocr_field_line(metrics: dict) -> str | None:
    """An OCR model's key fields on its validation pages (read from each model's regions): field
    F1 against the compared model's, and the fields gained and lost beyond their noise; None
    without field figures."""
    if not metrics.get("val_field_pages"):
        return None
    gained, lost = metrics.get("val_fields_gained") or [], metrics.get("val_fields_lost") or []
    return (f"key fields read from the OCR on {metrics['val_field_pages']} validation page(s) "
            f"({metrics.get('val_field_model')}): F1 {_pct(metrics.get('val_field_f1'))} against "
            f"{_pct(metrics.get('active_val_field_f1'))} (noise {metrics.get('val_field_f1_noise') or 0:.1%}); "
            f"gained: {', '.join(gained) or 'none'}; lost: {', '.join(lost) or 'none'}")


def cmd_models(args) -> int:
    from core import registry
    from ml.training.active import active_model

    project = _open(args.project)
    try:
        store = project.store
        task = getattr(args, "task", None)
        if args.action == "list":
            actives = {t: active_model(project, t) for t in registry.TASKS}
            rows = registry.versions(store, task)
            if args.json:
                act = actives[registry.RECOGNITION].version
                fa = actives[registry.FIELDS].version
                print(json.dumps({"active": act.id if act else None, "active_fields": fa.id if fa else None,
                                  "versions": [v.__dict__ for v in rows]}, indent=1))
                return 0
            rec = actives[registry.RECOGNITION]
            print(f"active: {rec.name if not rec.shipped else 'the shipped model'}")
            print(f"active fields model: {actives[registry.FIELDS].name}")
            for v in rows:
                a = actives.get(v.task)
                mark = "*" if a is not None and a.version is not None and v.id == a.version.id else " "
                print(f"{mark}{v.id:>4}  {v.name:<28} {v.task:<12} run {v.run_id or '-':<4}"
                      f" {version_figures(v)}  {v.created_at[:19]}")
        elif args.action == "promote":
            version = registry.find(store, args.version or "latest", task or registry.RECOGNITION)
            registry.promote(store, args.user, version)
            what = "the next pre-fill reads the key fields with it" if version.task == registry.FIELDS else \
                "the next pre-fill uses it"
            print(f"promoted {version.name}: {what}")
        elif args.action == "import":
            from core import runs

            if not args.source or args.run is None:
                raise ProofdeskError("models import needs --from COPY and --run N (the run done in the copy)")
            run, versions = runs.import_run_models(store, project.root, args.user, Path(args.source), args.run)
            print(f"imported run {args.run} of {args.source} as run {run.id} ({run.verdict}) with"
                  f" {len(versions)} model version(s):")
            for version in versions:
                print(f"  {version.name} ({version.task}): {version_figures(version, 'validation CER')}; promote it with:"
                      f" proofdesk models promote {args.project} {version.name}")
        elif args.action == "import-paddle":
            return _import_paddle(args, project)
        else:  # rollback
            version = registry.find(store, args.version) if args.version else None
            version = registry.rollback(store, args.user, version,
                                        task=version.task if version else (task or registry.RECOGNITION))
            print(f"rolled back to {version.name}")
    finally:
        project.close()
    return 0


def _import_paddle(args, project) -> int:
    """``proofdesk models import-paddle P --det D --rec R --dict K``: a PaddleOCR ONNX export as a model version."""
    from app.cli_support import Progress
    from ml.paddle_import import import_paddle

    if args.source is not None or args.run is not None:
        raise ProofdeskError("import-paddle takes --det/--rec/--dict; --from and --run are for `models import`")
    bar = Progress("evaluate")
    try:
        got = import_paddle(project, args.user, det=args.det, rec=args.rec, dictionary=args.dict, name=args.name,
                            pages=args.pages, progress=bar)
    finally:
        bar.close()
    v, f = got.version, got.figures
    if args.json:
        print(json.dumps({"model_version": v.id, "name": v.name, "path": v.path, "sha256": v.sha256,
                          "verdict": got.verdict, "notes": got.notes, "seconds": round(got.seconds, 1), **v.metrics},
                         indent=1))
        return 0
    parts = [p for p in ("detector" if "det" in v.metrics["imported"] else "",
                         "recogniser" if "rec" in v.metrics["imported"] else "") if p]
    print(f"imported the PaddleOCR {' and '.join(parts)} as model version {v.name} ({v.path})")
    for note in got.notes:
        print(f"  {note}")
    if f:
        print(f"  {f['val_lines']} line(s) of the project's finished pages: CER {f['val_cer']:.2%} against "
              f"{f['active_val_cer']:.2%} for {got.compared_with}")
        if f.get("val_typing_saved") is not None:
            print(f"  {f['val_pages']} page(s) read end to end: typing saved {f['val_typing_saved']:.1%} against "
                  f"{f['active_val_typing_saved']:.1%}, line recall {f['val_recall']:.1%} against "
                  f"{f['active_val_recall']:.1%}")
    print(f"  {got.verdict}; not promoted: proofdesk models promote {args.project} {v.name}")
    return 0


#: The training worker yields the cores to the app: with torch on every core, the GUI thread
#: would otherwise wait behind it. On an otherwise idle machine it changes nothing.
WORKER_NICENESS = 10


def cmd_worker(args) -> int:
    import contextlib
    import os

    from ml.lifeline import end_with_parent
    from ml.training.worker import run

    end_with_parent()  # its parent killed (the CLI, the app): stop as if cancelled, never run on orphaned
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(WORKER_NICENESS)
    return run(args.project, args.run)


def _set_params(items: list[str]) -> dict:
    """``--set KEY=VALUE`` options: VALUE as JSON (1e-3, true, null), else as text."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ProofdeskError(f"--set wants KEY=VALUE, not {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def cmd_train(args) -> int:
    from core import datasets, runs
    from ml.training.active import active_model
    from ml.training.fields import wanted as fields_wanted
    from ml.training.params import resolve_params

    project = _open(args.project)
    try:
        store = project.store
        for r in runs.reap(store):
            print(f"run {r.id} had lost its worker: marked failed", file=sys.stderr)
        if args.resume is not None:
            run = runs.get(store, args.resume)
            if run.status == "done":
                raise ProofdeskError(f"run {run.id} is done already; start a new one")
            print(f"resuming run {run.id} ({run.status})", file=sys.stderr)
        else:
            params = {k: v for k, v in {"epochs": args.epochs, "device": args.device, "lr": args.lr,
                                         "batch_size": args.batch_size, "max_lines": args.max_lines,
                                         "freeze": args.freeze, "seed": args.seed,
                                         "keep_recognizer": args.keep_recognizer}.items() if v is not None}
            if args.no_detector:
                params["detector"] = False
            if args.synthetic is not None:
                params["synthetic_lines"] = args.synthetic
            if args.fields_only:
                params.update(train_ocr=False, train_fields=True)
            if args.no_fields:
                params["train_fields"] = False
            params.update(_set_params(args.set))
            # A bad value fails here, before anything is recorded (a dataset version, the run).
            resolve_params(params)
            if args.dataset is not None:
                version = datasets.get_version(store, args.dataset)
            else:
                version, created = datasets.create_version(store, project.root, args.user)
                print(f"{'created' if created else 'using'} dataset version {version.id} ({version.hash[:12]}):"
                      f" {version.n_train} train / {version.n_val} validation lines", file=sys.stderr)
            if resolve_params(params)["train_ocr"]:
                datasets.check_trainable(version)  # refused before a run is recorded, with how many pages it needs
            active = active_model(project)
            run = runs.create(store, args.user, version.id, params, active.version.id if active.version else None)
            what = [f"fine-tuning {active.name if active.version else 'the shipped recogniser'}"
                    f" on dataset version {version.id}"] if resolve_params(params)["train_ocr"] else []
            wanted, why = fields_wanted(store, resolve_params(params))
            what.append(f"training the key fields ({why})" if wanted else f"not the key fields ({why})")
            print(f"run {run.id}: {'; '.join(what)}", file=sys.stderr)
    finally:
        project.close()
    if args.create_only:
        # For a launcher of its own, e.g. several GPUs: torchrun ... -m ml.training PROJECT RUN.
        print(run.id)
        return 0
    return supervise(args.project, run.id, json_lines=args.json, quiet=args.quiet)


def supervise(project_root: str, run_id: int, json_lines: bool = False, quiet: bool = False) -> int:
    """Start the worker for ``run_id``, follow its JSON lines, settle the record when it ends.

    Returns 0 (done), 1 (failed) or 130 (cancelled with Ctrl-C)."""
    from app.cli_support import Progress, open_project
    from app.training.command import worker_command, worker_env
    from core import runs
    from core.db import is_url, parse_url

    root = open_project(project_root).root if is_url(project_root) else Path(project_root).resolve()
    folder = root / runs.RUNS_DIR / str(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    stderr_path = folder / "worker.stderr"
    cancelled = {"flag": False}
    with open(stderr_path, "ab") as err:
        # Own session: Ctrl-C reaches only this process, which asks the worker to stop (SIGTERM).
        target = project_root if is_url(project_root) else root
        proc = subprocess.Popen(worker_command(target, run_id), stdout=subprocess.PIPE, stderr=err, text=True,
                                env=worker_env(str(target)), start_new_session=True, bufsize=1)

        def on_sigint(signum, frame):
            cancelled["flag"] = True
            print("\ncancelling the run (the last finished epoch stays checkpointed)...", file=sys.stderr)
            proc.terminate()

        previous = signal.signal(signal.SIGINT, on_sigint)
        bars: dict[str, Progress] = {}
        try:
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # not ours (a library printing): it is in the log file anyway
                if json_lines:
                    print(json.dumps(msg), flush=True)
                    continue
                kind = msg.get("type")
                if kind == "progress" and not quiet:
                    stage = msg["stage"] + (f" {msg['epoch']}/{msg['epochs']}" if "epoch" in msg else "")
                    bar = bars.setdefault(stage, Progress(f"{stage:<10}"))
                    bar(msg["done"], msg["total"], f"loss {msg['loss']:.3f}" if "loss" in msg else "")
                elif kind == "metric":
                    cer = msg.get("val_cer")
                    print(f"epoch {msg['epoch']}: loss {msg['loss']:.4f}, validation CER "
                          f"{'-' if cer is None else f'{cer:.2%}'} ({msg['seconds']:.0f} s)")
                elif kind == "resume":
                    print(f"resumed after epoch {msg['from_epoch']} (checkpoint)")
                elif kind == "lexicon" and not quiet:
                    print(f"lexicon: {msg['words']} words of the training pages go with the model")
                elif kind == "case" and not quiet:
                    print("case: the training pages are transcribed in capitals; the model reads in capitals")
                elif kind == "recognizer" and not quiet:
                    print(recognizer_line(msg))
                elif kind == "detector" and msg.get("resumed"):
                    print("detector: trained before the run stopped, used as it is")
                elif kind == "fields":
                    for row in field_report(msg):
                        print(row)
                elif kind == "done":
                    fields = msg.get("fields")
                    if msg.get("val_cer") is not None:
                        print(f"done: model version {msg['model_version']} ({msg['name']}), validation CER"
                              f" {msg['val_cer']:.2%} against {msg['active_val_cer']:.2%} for {msg['compared_with']}:"
                              f" {msg['verdict']}; {msg['duration_s']:.0f} s, estimated cost {msg['cost']:.4f}")
                    else:
                        print(f"done: {msg['verdict']}; {msg['duration_s']:.0f} s, estimated cost {msg['cost']:.4f}")
                    if fields:
                        print(f"  field model version {fields['model_version']} ({fields['name']}): "
                              f"{field_figures(fields)} against {_pct(fields.get('active_f1'))} for "
                              f"{fields['compared_with']}: {fields['verdict']}")
                    if msg.get("val_typing_saved") is not None:
                        print(f"  the {msg['val_pages']} validation page(s) read end to end: typing saved "
                              f"{msg['val_typing_saved']:.1%} against {msg['active_val_typing_saved']:.1%}, line "
                              f"recall {msg['val_recall']:.1%} against {msg['active_val_recall']:.1%}")
                    if ocr_line := ocr_field_line(msg):
                        print(f"  {ocr_line}")
                    if msg.get("det_thresh") is not None:
                        print(f"  detector fine-tuned on {msg['det_pages']} page(s), box threshold "
                              f"{msg['det_thresh']:g}" + (f", boxes grown x{msg['det_unclip_ratio']:g}"
                                                          if msg.get("det_unclip_ratio") is not None else ""))
                    shown = parse_url(project_root).display if is_url(project_root) else project_root
                    if msg["verdict"] == runs.BETTER and msg.get("val_cer") is not None:
                        print(f"promote it with: proofdesk models promote {shown} {msg['name']}")
                    if fields and fields["verdict"] == runs.BETTER:
                        print(f"promote the field model with: proofdesk models promote {shown} {fields['name']}")
                elif kind == "error":
                    print(f"proofdesk: training failed: {msg['error']}", file=sys.stderr)
            rc = proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    project = _open(str(project_root if is_url(project_root) else root))
    try:
        run = runs.get(project.store, run_id)
        if run.status in ("running", "queued"):
            # The worker died without closing its record (killed, crashed): say so, with its stderr.
            tail = stderr_path.read_text(errors="replace")[-4000:] if stderr_path.exists() else ""
            if cancelled["flag"]:
                run = runs.cancel(project.store, run_id)
            else:
                run = runs.fail(project.store, run_id, f"the worker exited with code {rc}", log=tail)
                print(f"proofdesk: training failed: {run.error}", file=sys.stderr)
    finally:
        project.close()
    return {"done": 0, "cancelled": 130}.get(run.status, 1)


def cmd_synth_sheet(args) -> int:
    """``proofdesk synth-sheet OUT.png``: the first N synthetic lines of a seed, their texts below them."""
    from ml.synth import GENERATOR_VERSION, SynthGenerator, write_sheet

    if args.n < 1 or args.columns < 1:
        raise ProofdeskError("--n and --columns must be at least 1")
    gen = SynthGenerator()
    out = write_sheet(args.out, args.n, args.seed, args.columns, gen)
    print(f"{out}: {args.n} synthetic lines, seed {args.seed}, generator v{GENERATOR_VERSION}, {len(gen.fonts)} fonts;"
          f" characters the recogniser's charset lacks (never generated): {gen.missing or 'none'}")
    return 0


def cmd_runs(args) -> int:
    from core import registry, runs

    project = _open(args.project)
    try:
        store = project.store
        runs.reap(store)
        if args.action == "show":
            if args.run is None:
                raise ProofdeskError("runs show needs a run id: proofdesk runs show PROJECT N")
            run = runs.get(store, args.run)
            if args.json:
                print(json.dumps(run.__dict__, indent=1))
                return 0
            for key, value in run.__dict__.items():
                if key != "log":
                    print(f"{key:>22}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
            for mv in registry.of_run(store, run.id, registry.RECOGNITION):
                print(f"{'OCR model version':>22}: {mv.id} ({mv.name}), {version_figures(mv)}")
                if ocr_line := ocr_field_line(mv.metrics):
                    print(" " * 24 + ocr_line)
            for fv in registry.of_run(store, run.id, registry.FIELDS):
                print(f"{'field model version':>22}: {fv.id} ({fv.name})")
                for row in field_report(fv.metrics):
                    print(" " * 24 + row)
            print("log (last 20 lines):")
            for line in run.log.splitlines()[-20:]:
                print("  " + line[:200])
            return 0
        rows = runs.list_runs(store)
        field_versions = {v.run_id: v for v in registry.versions(store, registry.FIELDS) if v.run_id is not None}
        if args.json:
            print(json.dumps([{**{k: v for k, v in r.__dict__.items() if k != "log"},
                               "field_model_version_id": field_versions[r.id].id if r.id in field_versions else None}
                              for r in rows], indent=1))
            return 0
        for r in rows:
            last = r.metrics[-1] if r.metrics else {}
            cer = last.get("val_cer")
            fv = field_versions.get(r.id)
            fields = f"  {fv.name}: {field_figures(fv.metrics)}" if fv is not None else ""
            print(f"{r.id:>4}  {r.status:<9} dataset {r.dataset_version_id:<3} epochs {len(r.metrics)}/"
                  f"{r.params.get('epochs', '-')}  val CER {'-' if cer is None else f'{cer:.2%}'}"
                  f"  {'-' if r.duration_s is None else f'{r.duration_s:.0f} s'}  {r.verdict or r.error or ''}{fields}")
        if not rows:
            print("no training runs yet: `proofdesk train PROJECT`")
    finally:
        project.close()
    return 0


def cmd_eval_project(args, plain) -> int:
    """``proofdesk eval DIR --project P``: the engines read with that project's active model."""
    if not args.project:
        return plain(args)
    from app.cli_support import Progress
    from ml.engines import ENGINES
    from ml.evaluate import evaluate_dir, format_reports
    from ml.training.active import engine_config

    folder = Path(args.dataset)
    if not folder.is_dir():
        raise ProofdeskError(f"no such folder: {folder}")
    engines = list(dict.fromkeys(e.strip() for spec in (args.engine or ["neural"]) for e in spec.split(",")
                                 if e.strip()))
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ProofdeskError(f"unknown engine(s): {', '.join(unknown)} (known: {', '.join(sorted(ENGINES))})")
    from app.cli import _key_field_names, eval_fields_given_lines
    from ml.fields.prefill import active_field_model, active_form_model

    project = _open(args.project)
    try:
        configs = {e: engine_config(project, e) for e in engines}
        field_model, _version = active_field_model(project)
        form_model, _version = active_form_model(project)
        schema = list(project.store.fields())
    finally:
        project.close()
    if getattr(args, "fields_given_lines", False):
        return eval_fields_given_lines(args, folder, field_model, schema, form_model)
    reports = []
    names, forms = _key_field_names(args, schema)
    for engine in engines:
        try:
            bar = Progress(f"eval {engine}")
            try:
                reports.append(evaluate_dir(folder, engine=engine, workers=args.workers, limit=args.limit,
                                            crops=not args.no_crops, config=configs[engine], progress=bar,
                                            fields=names, field_model=field_model, cv=args.cv,
                                            forms=forms, form_model=form_model))
            finally:
                bar.close()
        except ValueError as exc:
            raise ProofdeskError(str(exc)) from None
    print(json.dumps(reports if len(reports) > 1 else reports[0], indent=1) if args.json else format_reports(reports))
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

    p = sub.add_parser("models", help="list model versions, promote one for pre-fill, roll back, import from a copy"
                                      " or a PaddleOCR ONNX export")
    p.add_argument("action", choices=["list", "promote", "rollback", "import", "import-paddle"])
    p.add_argument("project")
    p.add_argument("version", nargs="?", help="id, name or latest (promote default: latest;"
                                              " rollback default: the one active before)")
    p.add_argument("--json", action="store_true", help="list, import-paddle: machine-readable")
    p.add_argument("--from", dest="source", default=None, metavar="COPY",
                   help="import: a copy of this project where a run was done (e.g. on a GPU machine)")
    p.add_argument("--run", type=int, default=None,
                   help="import: the run's id in that copy (every model it made: the OCR's and the key fields')")
    p.add_argument("--det", default=None, metavar="DET.onnx",
                   help="import-paddle: a PaddleOCR text detector exported to ONNX (paddle2onnx)")
    p.add_argument("--rec", default=None, metavar="REC.onnx",
                   help="import-paddle: a PaddleOCR text recogniser exported to ONNX (with --dict)")
    p.add_argument("--dict", default=None, metavar="KEYS.txt",
                   help="import-paddle: the recogniser's character dictionary (one character per line)")
    p.add_argument("--name", default=None, help="import-paddle: the model version's name (default paddle-N)")
    p.add_argument("--task", choices=["recognition", "fields"], default=None,
                   help="list: only this task's versions; promote latest, rollback: of this task (default: the"
                        " OCR's, recognition; a version named says its own)")
    p.add_argument("--pages", type=int, default=20,
                   help="import-paddle: finished pages to evaluate it on against the active model (default 20;"
                        " 0: none)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="fine-tune the recogniser on the lines people confirmed (a child process)")
    p.add_argument("project")
    p.add_argument("--dataset", type=int, default=None,
                   help="dataset version id (default: freeze the current selection into one)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 3)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="where to train (default auto: cuda when torch sees a GPU, else cpu)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=None, help="lines per batch (default 32)")
    p.add_argument("--max-lines", type=int, default=None, help="cap on training lines (default 1500)")
    p.add_argument("--freeze", choices=["backbone", "none"], default=None,
                   help="backbone (default): train neck and head on cached features; none: the whole network")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--no-detector", action="store_true",
                   help="fine-tune the recogniser only (default: the detector too, on the training pages' boxes)")
    p.add_argument("--keep-recognizer", choices=["auto", "trained", "base"], default=None,
                   help="the recogniser weights the model version carries: auto (default: the fine-tune only"
                        " when it reads the validation lines no training page has better than the base beyond"
                        " their noise), trained,"
                        " or base (no recogniser epochs: the detector, lexicon, case convention and calibration"
                        " are the run's)")
    p.add_argument("--synthetic", type=int, default=None, metavar="N",
                   help="add N synthetic invoice lines (ml.synth) to the training lines, never to validation"
                        " (default 0; look at them with `proofdesk synth-sheet OUT.png`)")
    p.add_argument("--fields-only", action="store_true",
                   help="train the key-field model only (no OCR): seconds, from the finished pages' field values")
    p.add_argument("--no-fields", action="store_true",
                   help="do not train the key-field model (default: trained when the project has fields and at"
                        " least 5 finished pages with field values)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other training parameter (ml/training/params.py), VALUE as JSON: --set det_epochs=4")
    p.add_argument("--resume", type=int, default=None, metavar="RUN",
                   help="resume a failed or cancelled run from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print the worker's JSON lines instead of a progress bar")
    p.add_argument("--quiet", action="store_true", help="no progress bar (epochs and the result only)")
    p.add_argument("--create-only", action="store_true",
                   help="record the run and print its id, start nothing (then: torchrun --nproc_per_node N "
                        "-m ml.training PROJECT ID, for several GPUs)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("synth-sheet", help="write a sheet of synthetic invoice lines (what `train --synthetic N`"
                                           " adds) to look at")
    p.add_argument("out", metavar="OUT.png")
    p.add_argument("--n", type=int, default=60, help="lines (default 60)")
    p.add_argument("--seed", type=int, default=0, help="the seed (a run uses its `seed` parameter; default 0)")
    p.add_argument("--columns", type=int, default=2, help="columns of the grid (default 2)")
    p.set_defaults(func=cmd_synth_sheet)

    p = sub.add_parser("runs", help="list training runs, or show one run's full record and log")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("project")
    p.add_argument("run", nargs="?", type=int, help="show: the run id")
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("worker", help="internal: the background worker process (what train and the app start)")
    p.add_argument("kind", choices=["train"])
    p.add_argument("project")
    p.add_argument("--run", type=int, required=True, help="the training run to do or resume")
    p.set_defaults(func=cmd_worker)

    # `proofdesk eval DIR --project P`: evaluate with that project's active model.
    ev = sub.choices.get("eval")
    if ev is not None:
        ev.add_argument("--project", default=None,
                        help="use this project's active model version (neural, combined; default engine: neural)")
        plain = ev.get_default("func")
        ev.set_defaults(func=lambda args, plain=plain: cmd_eval_project(args, plain))
