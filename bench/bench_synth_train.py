"""What synthetic invoice lines (ml/synth.py, ``proofdesk train --synthetic N``) do to the recogniser.

    flock /tmp/bench.lock .venv/bin/python bench/bench_synth_train.py --out /tmp/synth.json
    flock /tmp/bench.lock .venv/bin/python bench/bench_synth_train.py --max-lines 1500 --synthetic 0   # the control

1. A project of sroie-dev's receipts, their reference lines imported as people's labels (made once
   in ``--project``, default /tmp/proofdesk-synth-bench; kept for the next runs).
2. ``proofdesk train`` on it with ``--synthetic N``: the default ``--max-lines 1`` trains on the
   synthetic lines alone (a run needs one line of the project; its validation lines are sroie's
   and stay untouched), no detector, no calibration refit, no pages read end to end (the figures
   below are measured here instead).
3. The new recogniser and the shipped one read the reference line crops of invoices-dev (what it
   should learn) and sroie-dev (what it must not forget), as ``proofdesk eval --engine neural
   --project P`` reads them (the same engine, config and crops): CER case-sensitive and not, and
   counts of the invoice errors issue 17 lists (ß, umlauts and accents, € and a space before it
   or %, a space put inside an amount, 0 and O), over the lines where the reference has them.

Prints one JSON object (also to ``--out``): the parameters, the run's seconds, its validation
figures (the new model's and the shipped one's on the project's validation lines), the figures of
both models on both sets. ``--eval-only RUN`` evaluates a run done before.

Receipt lines (ml/synth.py's receipt style: capitals printed like a till's thermal slip) as a share
of the synthetic lines, the backbone's last block trained too, and the combined engine end to end
on both sets with the new model promoted in the project (``proofdesk eval SET --engine combined
--project P``; the raw reports beside ``--out``)::

    flock /tmp/bench.lock .venv/bin/python bench/bench_synth_train.py --project /tmp/rec17/proj \
        --synthetic 6000 --receipt-share 0.4 --freeze backbone_last --e2e --out /tmp/rec17/c.json

An invoice project instead (its validation pages judge the run; crops of invoices-dev would
include its training pages, so none are read here)::

    bench/bench_synth_train.py --project /tmp/inv --train-set invoices-dev --max-lines 1500 --synthetic 0 --no-eval
    bench/bench_synth_train.py --project /tmp/inv --train-set invoices-dev --max-lines 1500 --synthetic 1500 --no-eval
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
CLI = [sys.executable, "-m", "app.cli", "--user", "bench"]


def _cli(*args: str, quiet: bool = False) -> str:
    out = subprocess.run(CLI + list(args), cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"proofdesk {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    if not quiet:
        sys.stderr.write(out.stderr[-2000:])
    return out.stdout


def make_project(folder: Path, train_set: str = "sroie-dev") -> None:
    if (folder / "proofdesk.db").exists():
        return
    _cli("init", str(folder))
    _cli("import", str(folder), str(DATASETS / train_set), "--reference-as-labels", "--quiet")


def read_crops(folder: Path, model: str | None, limit: int | None = None) -> list[tuple[str, str]]:
    """(reference, reading) of every reference line crop of ``folder``, by the neural engine with
    ``model`` (a model version folder; None: the shipped one)."""
    from core.scoring import to_xyxy
    from ml.engines import get_engine
    from ml.evaluate import load_reference_dir
    from ml.prediction import load_image
    from ml.training.active import model_config

    engine = get_engine("neural", model_config(model) if model else None)
    pairs = []
    for d in load_reference_dir(folder, limit):
        got = engine.recognize_crops(load_image(d["_image"]), [to_xyxy(ln["box"]) for ln in d["lines"]])
        pairs += [(ln["text"], t) for ln, (t, _) in zip(d["lines"], got)]
    return pairs


#: Invoice errors of issue 17: (name, lines it concerns, the line is read right on that point).
CHECKS = (
    ("ß", lambda ref: "ß" in ref, lambda ref, got: got.count("ß") == ref.count("ß") and "lB" not in got),
    ("umlauts ä ö ü Ä Ö Ü", lambda ref: bool(re.search("[äöüÄÖÜ]", ref)),
     lambda ref, got: sorted(re.findall("[äöüÄÖÜ]", ref)) == sorted(re.findall("[äöüÄÖÜ]", got))),
    ("accents é è ê à â ç ô û ù ë ñ á í ó ú ã õ å ø æ", lambda ref: bool(re.search("[éèêàâçôûùëñáíóúãõåøæ]", ref)),
     lambda ref, got: sorted(re.findall("[éèêàâçôûùëñáíóúãõåøæ]", ref)) == sorted(re.findall("[éèêàâçôûùëñáíóúãõåøæ]", got))),
    ("€ read as €", lambda ref: "€" in ref, lambda ref, got: got.count("€") == ref.count("€")),
    ("space before € or %", lambda ref: bool(re.search(r"\d [€%]", ref)),
     lambda ref, got: len(re.findall(r"\d [€%]", got)) == len(re.findall(r"\d [€%]", ref))),
    ("no space added inside amounts (19,0)", lambda ref: bool(re.search(r"\d,\d", ref)),
     lambda ref, got: not re.search(r"\d, \d", got) or bool(re.search(r"\d, \d", ref))),
    ("digits with O/0 kept (0 not O, O not 0)", lambda ref: bool(re.search(r"[0O]", ref)),
     lambda ref, got: ref.count("0") == got.count("0") and ref.count("O") == got.count("O")),
)


def figures(pairs: list[tuple[str, str]]) -> dict:
    from core.scoring import score_text

    s = score_text(pairs).summary()
    out = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in s.items()}
    for name, concerns, right in CHECKS:
        mine = [(r, g) for r, g in pairs if concerns(r)]
        out[f"right: {name}"] = f"{sum(right(r, g) for r, g in mine)}/{len(mine)}"
    return out


def mix_model(checkpoint: Path, run_model: Path, alpha: float, out: Path) -> Path:
    """A weight-space mix of the shipped recogniser and a run's (WiSE-FT): every weight the run trained
    becomes ``(1 - alpha) * shipped + alpha * run`` (from the run's last checkpoint), exported as the
    run exports (model.onnx, model.json with its sha256) to ``out``."""
    import torch

    from ml.neural.models import BASE_MODEL, load_spec, model_dir
    from ml.neural.torch_model import export_onnx, load_recognizer

    spec = load_spec(model_dir(BASE_MODEL, "rec-latin"))
    net = load_recognizer(spec)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state"]
    with torch.no_grad():
        for k, v in state.items():
            p = net.params[k]
            p.copy_((1 - alpha) * p + alpha * v.to(p.dtype))
    meta = json.loads((run_model / "model.json").read_text(encoding="utf-8"))
    export_onnx(net, out, base=spec, charset=spec.charset, meta={
        "id": out.name, "source": f"weight mix: {1 - alpha:g} x {spec.version} + {alpha:g} x ({meta.get('source')})",
        "license": spec.raw.get("license", ""), "training": {**meta.get("training", {}), "mix_alpha": alpha}})
    return out


def e2e_figures(report: dict | list) -> dict:
    """The headline figures of a ``proofdesk eval --json`` report (the end-to-end and crop summaries,
    flattened; nested per-check counts kept as they are)."""
    if isinstance(report, list):
        report = report[0]
    out = {}
    for key, value in report.items():
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out[key] = round(value, 5) if isinstance(value, float) else value
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[f"{key}.{k}"] = round(v, 5) if isinstance(v, float) else v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default="/tmp/proofdesk-synth-bench")
    ap.add_argument("--synthetic", type=int, default=3000, help="synthetic lines (default 3000)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-lines", type=int, default=1, help="project lines (default 1: synthetic lines alone)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more training parameters")
    ap.add_argument("--eval-only", type=int, default=None, metavar="RUN", help="evaluate run RUN of the project")
    ap.add_argument("--no-baseline", action="store_true", help="skip the shipped model's figures")
    ap.add_argument("--pages", type=int, default=None, help="only the first N pages of each set (a smoke test)")
    ap.add_argument("--train-set", default="sroie-dev",
                    help="the reference folder the project is made of (default sroie-dev; invoices-dev: an invoice"
                         " project, judged by the run's own validation pages, --no-eval)")
    ap.add_argument("--no-eval", action="store_true", help="the run's own figures only (no crops read here)")
    ap.add_argument("--receipt-share", type=float, default=None,
                    help="share of the synthetic lines in the receipt style (synthetic_receipt_share)")
    ap.add_argument("--freeze", default=None, choices=("backbone", "backbone_last", "none"),
                    help="what stays frozen (default: the training default, the backbone)")
    ap.add_argument("--mix", default=None, metavar="A[,A...]",
                    help="also evaluate weight mixes (1-A) x shipped + A x the run (WiSE-FT), written to"
                         " PROJECT/mixes/run-N-aA; --e2e then runs on the last one given")
    ap.add_argument("--dump", action="store_true", help="write every crop's (reference, reading) beside --out")
    ap.add_argument("--sets", default="invoices-dev,sroie-dev", help="reference sets read (comma-separated)")
    ap.add_argument("--e2e", action="store_true",
                    help="also promote the new model in the project and run the combined engine end to end on the"
                         " sets (proofdesk eval --engine combined --project P)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("PROOFDESK_USER", "bench")
    project = Path(args.project)
    make_project(project, args.train_set)

    from app.cli_support import open_project
    from core import registry, runs

    t0 = time.monotonic()
    if args.eval_only is None:
        sets = ["--set", "calib_pages=0", "--set", "e2e_val_pages=0"]
        if args.receipt_share is not None:
            sets += ["--set", f"synthetic_receipt_share={args.receipt_share}"]
        if args.freeze is not None:
            sets += ["--set", f"freeze={args.freeze}"]
        for item in args.set:
            sets += ["--set", item]
        _cli("train", str(project), "--synthetic", str(args.synthetic), "--epochs", str(args.epochs), "--max-lines",
             str(args.max_lines), "--no-detector", "--quiet", *sets)
    train_s = time.monotonic() - t0
    p = open_project(str(project))
    try:
        run = runs.get(p.store, args.eval_only if args.eval_only is not None else max(r.id for r in runs.list_runs(p.store)))
        if run.status != "done":
            raise SystemExit(f"run {run.id} is {run.status}: {run.error}")
        model = str(p.local(registry.get(p.store, run.model_version_id).path))
        mv = registry.get(p.store, run.model_version_id)
        record = {"run": run.id, "params": run.params, "duration_s": run.duration_s, "metrics": run.metrics,
                  "model_metrics": {k: v for k, v in mv.metrics.items() if "cer" in k or "exact" in k or k == "val_lines"},
                  "base": json.loads((Path(model) / "model.json").read_text(encoding="utf-8")).get("source"),
                  "model_val_cer_sroie": registry.get(p.store, run.model_version_id).metrics.get("val_cer"),
                  "model_version": run.model_version_id, "model_folder": model}
    finally:
        p.close()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "run": record,
              "train_wall_s": round(train_s, 1)}
    mixes = []
    for a in [float(x) for x in (args.mix or "").split(",") if x]:
        out = project / "mixes" / f"run-{record['run']}-a{a:g}"
        mix_model(project / "runs" / str(record["run"]) / "checkpoint.pt", Path(model), a, out)
        mixes.append((f"mix {a:g}", str(out)))
    report["mixes"] = dict(mixes)
    for name in () if args.no_eval else [s for s in args.sets.split(",") if s]:
        for which, folder in (("shipped", None), ("trained", model), *mixes):
            if which == "shipped" and args.no_baseline:
                continue
            t = time.monotonic()
            pairs = read_crops(DATASETS / name, folder, args.pages)
            report[f"{name} {which}"] = {**figures(pairs), "seconds": round(time.monotonic() - t, 1)}
            if args.dump and args.out:  # (reference, reading) of every crop, to look at the errors
                Path(args.out).with_suffix(f".{name}.{which}.pairs.json").write_text(
                    json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
            print(f"{name} {which}: {json.dumps(report[f'{name} {which}'])}", file=sys.stderr, flush=True)
    if args.e2e and mixes:  # the mix goes in as the run's model version (its own files kept beside)
        vdir = Path(model)
        keep = vdir.parent / f"{vdir.name}.trained"
        if not keep.exists():
            shutil.copytree(vdir, keep)
        for f in ("model.onnx", "model.json", "charset.txt"):
            shutil.copy2(Path(mixes[-1][1]) / f, vdir / f)
        report["e2e_model"] = mixes[-1][1]
    if args.e2e:
        _cli("models", "promote", str(project), str(record["model_version"]), quiet=True)
        for name in [s for s in args.sets.split(",") if s]:
            t = time.monotonic()
            raw = _cli("eval", str(DATASETS / name), "--engine", "combined", "--json", "--project", str(project),
                       quiet=True)
            if args.out:
                Path(args.out).with_suffix(f".e2e-{name}.json").write_text(raw, encoding="utf-8")
            report[f"{name} combined e2e"] = {**e2e_figures(json.loads(raw)), "seconds": round(time.monotonic() - t, 1)}
            print(f"{name} combined e2e: {json.dumps(report[f'{name} combined e2e'])}", file=sys.stderr, flush=True)
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
