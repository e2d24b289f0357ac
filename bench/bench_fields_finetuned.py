"""Key fields end to end from a fine-tuned OCR: K-fold, the OCR trained on each fold's training pages.

    flock /tmp/bench.lock .venv/bin/python bench/bench_fields_finetuned.py ../shared/datasets/sroie-dev \
        --folds 5 --seed 0 --out /tmp/fields-ft.json

The figure the issue "Key fields" asks for: what the fields are worth once a project has trained
its OCR on its own pages. Pages are dealt into K folds exactly as ``ml.fields.crossval.folds``
deals them (same seed, so the figures sit beside ``bench/bench_fields.py --cv K``); per fold:

1. a project of the training pages (``proofdesk init``, ``proofdesk import --reference-as-labels``:
   their reference lines and fields as people's finished pages), then ``proofdesk train`` with its
   defaults (``--epochs N``, ``--set KEY=VALUE`` to change them): recogniser, detector head,
   calibration refit, the run's own field model; its OCR version is promoted in the project;
2. the held-out pages pre-filled by the combined engine with that project's engine config
   (``ml.training.active.engine_config``: the promoted recogniser, its detector and calibration), as
   ``proofdesk prefill`` reads them; the shipped OCR's lines of the same pages beside them (read
   once for all pages, kept in ``WORK/shipped-lines.json``);
3. the key fields read from those lines by the field model learned on the training pages' reference
   lines (``ml.fields.model.train``, as ``ml/fields/crossval.py`` trains it) and by the zero-shot
   rules, scored as SROIE task 3 (``ml.fields.scoring.FieldScore``) with the OCR's ceiling; and the
   lines' typing saved (``core.scoring.score_page``, ci / cs) of both OCRs on the held-out pages.

Work folders live under ``--work`` (default /tmp/proofdesk-fields-ft): each fold's project and its
held-out lines (``fold-N/ft-lines.json``) are kept, so a run stopped part way resumes with the folds
it has (``--fresh`` starts over); the scores are recomputed from the kept lines each time (seconds).
Prints a markdown table per fold and overall; ``--out`` gets everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "app.cli", "--user", "bench"]

from core.scoring import PageScore, aggregate, score_page  # noqa: E402
from ml.evaluate import load_reference_dir  # noqa: E402
from ml.fields.crossval import folds, reference_lines  # noqa: E402
from ml.fields.extract import extract, page_of, scored_fields  # noqa: E402
from ml.fields.lines import lines_from  # noqa: E402
from ml.fields.model import Example, train  # noqa: E402
from ml.fields.scoring import FieldScore, infer_schema  # noqa: E402
from ml.fields.vocabulary import read_lines as vocabulary_read  # noqa: E402

#: The line sources each fold's held-out pages are read from.
SOURCES = ("fine-tuned", "shipped", "reference")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _cli(*args: str) -> str:
    out = subprocess.run(CLI + list(args), cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"proofdesk {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n"
                         f"{out.stderr[-3000:]}")
    return out.stdout


def read_lines(refs: list[dict], idx: list[int], config: dict | None, workers: int) -> dict[str, list]:
    """The combined engine's lines of pages ``idx`` with engine ``config``: image -> [[points, text], ...]."""
    from ml.pool import prefill_pages

    out: dict[str, list] = {}
    for r in prefill_pages(((i, refs[i]["_image"]) for i in idx), "combined", config, workers):
        d = refs[r.page_id]
        if r.error:
            log(f"  {d['image']}: {r.error}")
        regs = [] if r.prediction is None else r.prediction.regions
        out[d["image"]] = [[[list(map(float, p)) for p in reg.points], reg.text] for reg in regs]
    return out


def shipped_lines(refs: list[dict], work: Path, workers: int) -> dict[str, list]:
    cache = work / "shipped-lines.json"
    if cache.exists():
        got = json.loads(cache.read_text())
        if all(d["image"] in got for d in refs):
            return got
    log(f"shipped OCR: reading {len(refs)} pages with the combined engine")
    t0 = time.perf_counter()
    got = read_lines(refs, list(range(len(refs))), None, workers)
    log(f"shipped OCR: {time.perf_counter() - t0:.0f} s")
    cache.write_text(json.dumps(got))
    return got


def run_fold(refs: list[dict], f: int, train_idx: list[int], test_idx: list[int], work: Path, args) -> dict:
    """Train the OCR on ``train_idx`` in a project of its own, read ``test_idx`` with it; kept in ``fold-f/``."""
    fold = work / f"fold-{f}"
    done = fold / "ft-lines.json"
    if done.exists():
        return json.loads(done.read_text())
    if fold.exists():
        shutil.rmtree(fold)
    src = fold / "train-ref"
    src.mkdir(parents=True)
    for i in train_idx:
        shutil.copy2(refs[i]["_json"], src)
        shutil.copy2(refs[i]["_image"], src)
    project = fold / "project"
    _cli("init", str(project))
    _cli("import", str(project), str(src), "--reference-as-labels", "--quiet")
    train_args = ["train", str(project), "--json"]
    if args.epochs is not None:
        train_args += ["--epochs", str(args.epochs)]
    for item in args.set:
        train_args += ["--set", item]
    log(f"fold {f + 1}: training on {len(train_idx)} pages ({' '.join(train_args[2:]) or 'defaults'})")
    t0 = time.perf_counter()
    out = _cli(*train_args)
    train_s = time.perf_counter() - t0
    msgs = []
    for line in out.splitlines():
        try:
            msgs.append(json.loads(line))
        except ValueError:
            pass
    done_msg = next((m for m in msgs if m.get("type") == "done"), None)
    if done_msg is None or not done_msg.get("name"):
        raise SystemExit(f"fold {f + 1}: the run gave no model:\n{out[-3000:]}")
    _cli("models", "promote", str(project), done_msg["name"])
    from app.cli_support import open_project
    from ml.training.active import engine_config

    p = open_project(str(project))
    try:
        config = engine_config(p, "combined")
    finally:
        p.close()
    log(f"fold {f + 1}: trained in {train_s:.0f} s ({done_msg['name']}: val CER {done_msg.get('val_cer')}, "
        f"verdict {done_msg.get('verdict')}); reading {len(test_idx)} held-out pages")
    t1 = time.perf_counter()
    lines = read_lines(refs, test_idx, config, args.workers)
    result = {"fold": f, "train_pages": [refs[i]["image"] for i in train_idx],
              "test_pages": [refs[i]["image"] for i in test_idx], "train_seconds": train_s,
              "read_seconds": time.perf_counter() - t1, "config": config,
              "run": {k: v for k, v in done_msg.items() if not isinstance(v, (dict, list))},
              "run_fields": done_msg.get("fields"),
              "epochs": {m["epoch"]: {"loss": m.get("loss"), "val_cer": m.get("val_cer"), "seconds": m.get("seconds")}
                         for m in msgs if m.get("type") == "metric"},
              "detector": next(({k: v for k, v in m.items() if k not in ("thresholds", "det_loss")}
                                for m in msgs if m.get("type") == "detector"), None),
              "lines": lines}
    done.write_text(json.dumps(result))
    return result


def score_fold(refs: list[dict], schema: list[str], train_idx: list[int], test_idx: list[int],
               lines_by_source: dict[str, dict], seed: int, acc: dict) -> dict:
    """Field scores (learned, zero-shot) and the lines' typing saved per source on the held-out pages."""
    examples = []
    for i in train_idx:
        page = page_of(reference_lines(refs[i]), refs[i]["width"], refs[i]["height"])
        truth = {n: (str(refs[i]["fields"][n]) if (refs[i].get("fields") or {}).get(n) not in (None, "") else None)
                 for n in schema}
        examples.append(Example(page, truth, scored_fields(page, schema)))
    model, stats = train(examples, schema, seed=seed)
    out: dict = {"field_train_seconds": stats.seconds}
    for source, lines in lines_by_source.items():
        learned, zero, pages = FieldScore(), FieldScore(), []
        misses = []
        for i in test_idx:
            d = refs[i]
            if lines is None:
                flines, pred = reference_lines(d), None
            else:
                pred = [(pts, t) for pts, t in lines.get(d["image"], [])]
                flines = vocabulary_read(lines_from(pred), model)    # an OCR's lines, as pre-fill's reader reads them
            page = page_of(flines, d["width"], d["height"])
            scored = scored_fields(page, schema)
            truth = d.get("fields") or {}
            for m in learned.add_page(extract(page, schema, model, scored), truth, scored, schema):
                misses.append(dict(m, page=d["image"]))
            zero.add_page(extract(page, schema, scored=scored), truth, scored, schema)
            if pred is not None:
                pages.append(score_page(pred, [(ln["box"], ln["text"]) for ln in d["lines"]], truth))
        a = acc.setdefault(source, {"learned": FieldScore(), "zero": FieldScore(), "pages": []})
        for name, c in learned.per_field.items():
            a["learned"].per_field.setdefault(name, type(c)()).add(c)
        for name, c in zero.per_field.items():
            a["zero"].per_field.setdefault(name, type(c)()).add(c)
        a["pages"] += pages
        out[source] = {"learned": learned.summary(), "zero_shot": zero.summary(), "learned_misses": misses,
                       "lines": _lines_summary(pages)}
    return out


def _lines_summary(pages: list[PageScore]) -> dict | None:
    if not pages:
        return None
    s = aggregate(pages).summary()
    s.pop("counts")
    return s


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def table(title: str, figs: dict, schema: list[str], train_s: float | None = None) -> str:
    """Markdown: per field F1 zero-shot / learned per source, ceiling, field typing saved; then the lines."""
    rows = [f"### {title}", "",
            "| field | F1 zero-shot (fine-tuned OCR) | F1 learned (fine-tuned OCR) | ceiling (fine-tuned OCR) "
            "| F1 zero-shot (shipped OCR) | F1 learned (shipped OCR) | ceiling (shipped OCR) "
            "| F1 learned (reference lines) | field typing saved learned (fine-tuned / shipped) |",
            "|---|---|---|---|---|---|---|---|---|"]
    ft, sh, rf = figs["fine-tuned"], figs["shipped"], figs["reference"]
    for name in schema + ["overall"]:
        def get(src, kind, key, name=name):
            s = src[kind]["overall"] if name == "overall" else src[kind]["per_field"].get(name, {})
            return s.get(key)
        rows.append(f"| {'**all**' if name == 'overall' else name} | {_pct(get(ft, 'zero_shot', 'f1'))} "
                    f"| {_pct(get(ft, 'learned', 'f1'))} | {_pct(get(ft, 'learned', 'ceiling'))} "
                    f"| {_pct(get(sh, 'zero_shot', 'f1'))} | {_pct(get(sh, 'learned', 'f1'))} "
                    f"| {_pct(get(sh, 'learned', 'ceiling'))} | {_pct(get(rf, 'learned', 'f1'))} "
                    f"| {_pct(get(ft, 'learned', 'typing_saved'))} / {_pct(get(sh, 'learned', 'typing_saved'))} |")
    lf, ls = ft["lines"], sh["lines"]
    rows += ["", "| lines of the held-out pages | fine-tuned OCR | shipped OCR |", "|---|---|---|"]
    for label, key in (("typing saved ci", "typing_saved_ci"), ("typing saved cs", "typing_saved_cs"),
                       ("line recall (IoU 0.5)", "recall"), ("line precision", "precision"),
                       ("CER matched lines ci", "matched_cer_ci"), ("CER matched lines cs", "matched_cer_cs"),
                       ("key fields found (text anywhere)", "key_fields")):
        rows.append(f"| {label} | {_pct(lf[key])} | {_pct(ls[key])} |")
    if train_s is not None:
        rows.append(f"| OCR training seconds | {train_s:.0f} | - |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", default=str(ROOT.parent / "shared" / "datasets" / "sroie-dev"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="fold split and field model seed (ml.fields.crossval)")
    ap.add_argument("--epochs", type=int, default=None, help="OCR training epochs (default: proofdesk train's, 3)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="other training parameters, passed to proofdesk train")
    ap.add_argument("--only", type=str, default=None, metavar="F[,F...]", help="run only these folds (1-based)")
    ap.add_argument("--workers", type=int, default=1, help="pre-fill workers (default 1)")
    ap.add_argument("--work", default="/tmp/proofdesk-fields-ft", help="work folder (projects, kept lines)")
    ap.add_argument("--fresh", action="store_true", help="delete the work folder's folds first")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("PROOFDESK_USER", "bench")
    refs = load_reference_dir(args.dataset)
    schema = infer_schema(refs)
    work = Path(args.work)
    if args.fresh and work.exists():
        for p in work.glob("fold-*"):
            shutil.rmtree(p)
    work.mkdir(parents=True, exist_ok=True)
    split = folds(len(refs), args.folds, args.seed)
    wanted = range(args.folds) if not args.only else [int(x) - 1 for x in args.only.split(",")]
    shipped = shipped_lines(refs, work, args.workers)
    report = {"dataset": args.dataset, "schema": schema, "pages": len(refs), "folds": args.folds, "seed": args.seed,
              "epochs": args.epochs, "set": args.set, "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
              "date": time.strftime("%Y-%m-%d %H:%M"), "per_fold": []}
    acc: dict = {}
    out_tables = []
    t_all = time.perf_counter()
    for f in wanted:
        test = split[f]
        train_idx = [i for i in range(len(refs)) if i not in set(test)]
        res = run_fold(refs, f, train_idx, test, work, args)
        figs = score_fold(refs, schema, train_idx, test, {"fine-tuned": res["lines"], "shipped": shipped,
                                                           "reference": None}, args.seed, acc)
        entry = {k: v for k, v in res.items() if k != "lines"}
        entry["figures"] = figs
        report["per_fold"].append(entry)
        t = table(f"fold {f + 1}/{args.folds}: {len(train_idx)} training pages, {len(test)} held out", figs, schema,
                  res["train_seconds"])
        out_tables.append(t)
        print(t + "\n", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    overall = {src: {"learned": a["learned"].summary(), "zero_shot": a["zero"].summary(),
                     "lines": _lines_summary(a["pages"])} for src, a in acc.items()}
    report["overall"] = overall
    secs = [e["train_seconds"] for e in report["per_fold"]]
    report["train_seconds_mean"] = sum(secs) / len(secs) if secs else None
    report["wall_seconds"] = time.perf_counter() - t_all
    t = table(f"overall: {len(report['per_fold'])} fold(s), {sum(len(split[f]) for f in wanted)} held-out pages"
              f" (OCR training {report['train_seconds_mean']:.0f} s a fold on average)", overall, schema)
    print(t, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
