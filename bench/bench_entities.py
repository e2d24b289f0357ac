"""Many-valued form fields (header / question / answer / other, ml/fields/entities.py) on a labelled
folder of FUNSD-style pages: zero-shot rules and the learned unit classifier (K-fold), from the
reference lines and from an engine's lines, per label, with timings. Prints markdown tables.

    .venv/bin/python bench/bench_entities.py ../shared/datasets/funsd-dev --engine none
    flock /tmp/bench.lock .venv/bin/python bench/bench_entities.py ../shared/datasets/funsd-dev --engine combined

The engine reads each page once and its lines are kept in ``--lines`` (default
/tmp/proofdesk-fields-lines-<set>-<engine>.json, the cache bench/bench_fields.py uses: the same
lines), so runs after the first take seconds. ``--engine none``: the reference lines only.
Engine lines are cut after a label colon (``Date: 12/3/88`` -> two units) unless ``--no-split``;
the learned model trains on the reference lines of the K-1 folds (``--train-on engine``: on the
engine's units, labelled by the reference words they hold).

Scores (SROIE task 3's text rule): an entity is right when the page has an unmatched reference
entity with its label and text (whitespace squeezed, case-insensitive). "all" is the micro
average over header/question/answer; ceiling: reference entities some unit (or block of units
down a column) reads exactly. Timings: CPU ms a page (median, features + rules or network +
grouping), training seconds a fold (wall clock, one torch thread).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.evaluate import load_reference_dir  # noqa: E402
from ml.fields import entities as E  # noqa: E402
from ml.fields.lines import lines_from  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fields import engine_lines  # noqa: E402  (the engine's lines, read once and cached)


def zero_shot_run(refs, lines_for, split_colon: bool) -> dict:
    """The zero-shot rules on every page, with CPU ms a page (median)."""
    score, times = E.EntityScore(), []
    for d in refs:
        if lines_for is None:
            page = E.reference_units(d)
            truth = E.unit_labels(page, d, given=True)
        else:
            page = E.units_of(lines_for(d), d["width"], d["height"], split_colon)
            truth = E.unit_labels(page, d)
        t0 = time.process_time()
        g = E.Geometry(page)
        labels = E.rules(page, g)
        ents = E.group(page, labels, None, g)
        times.append(1000 * (time.process_time() - t0))
        score.add_page([(e.label, e.text) for e in ents], E.reference_entities(d), labels, truth, page)
    out = score.summary()
    out["cpu_ms_per_page_median"] = statistics.median(times) if times else None
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--engine", default="combined", help="engine whose lines are read (none: reference lines only)")
    ap.add_argument("--cv", type=int, default=5, help="K of the K-fold cross-validation (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lines", default=None, help="cache of the engine's lines (JSON)")
    ap.add_argument("--no-split", action="store_true", help="do not cut engine lines after a label colon")
    ap.add_argument("--train-on", choices=("reference", "engine"), default="reference")
    ap.add_argument("--learn-links", action="store_true", help="learn the grouping too (default: rule links)")
    ap.add_argument("--out", default=None, help="write the full report (JSON) here")
    args = ap.parse_args(argv)
    refs = load_reference_dir(args.dataset)
    refs = [r for r in refs if r.get("entities") or any("label" in ln for ln in r.get("lines", []))]
    if not refs:
        print(f"{args.dataset}: no pages with entities or labelled lines", file=sys.stderr)
        return 1
    report = {"dataset": args.dataset, "pages": len(refs), "date": time.strftime("%Y-%m-%d %H:%M"),
              "split_colon": not args.no_split, "train_on": args.train_on, "runs": {}}
    sources = {"reference lines": None}
    if args.engine != "none":
        cache = Path(args.lines or f"/tmp/proofdesk-fields-lines-{Path(args.dataset).name}-{args.engine}.json")
        got = engine_lines(refs, args.engine, cache)
        sources[f"{args.engine} lines"] = lambda d: lines_from((p, t) for p, t in got.get(d["image"], []))
    summary_rows = []
    for label, lines_for in sources.items():
        split = lines_for is not None and not args.no_split
        zs = zero_shot_run(refs, lines_for, split)
        run = {"zero_shot": zs}
        print(E.format_entities(zs, f"{label}: zero-shot rules ({len(refs)} pages"
                                    f"{', cut at label colons' if split else ''})"))
        print(f"\n{zs['cpu_ms_per_page_median']:.1f} ms CPU a page (median)\n")
        row = [label, zs["overall"]["f1"], None, zs["unit_accuracy"], None, zs["cpu_ms_per_page_median"], None, None]
        if args.cv:
            rep = E.cross_validate(refs, args.cv, seed=args.seed, lines_for=lines_for, split_colon=split,
                                   train_on=args.train_on, learn_links=args.learn_links,
                                   progress=lambda m: print("  " + m, file=sys.stderr))
            run["cv"] = rep
            print(E.format_entities(rep["learned"], f"{label}: learned, {rep['k']}-fold cross-validation "
                                                    f"(trained on {args.train_on} lines)"))
            ts = statistics.fmean(rep["train_seconds"])
            print(f"\ntraining {ts:.1f} s a fold ({len(refs) - len(refs) // rep['k']} pages); "
                  f"prediction {rep['predict_ms_per_page']:.1f} ms CPU a page (mean)\n")
            row[2], row[4], row[6], row[7] = (rep["learned"]["overall"]["f1"], rep["learned"]["unit_accuracy"],
                                              rep["predict_ms_per_page"], ts)
            for name in E.LABELS:
                run.setdefault("per_label_f1", {})[name] = {
                    "zero_shot": zs["per_label"][name]["f1"], "learned": rep["learned"]["per_label"][name]["f1"]}
        report["runs"][label] = run
        summary_rows.append(row)

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    def num(x, f="{:.1f}"):
        return "-" if x is None else f.format(x)

    print("**Summary** (entity F1, micro over header/question/answer)\n")
    print("| lines | zero-shot F1 | learned F1 (CV) | zero-shot unit acc. | learned unit acc. | zero-shot ms/page "
          "| learned ms/page | training s/fold |")
    print("|---|---|---|---|---|---|---|---|")
    for r in summary_rows:
        print(f"| {r[0]} | {pct(r[1])} | {pct(r[2])} | {pct(r[3])} | {pct(r[4])} | {num(r[5])} | {num(r[6])} "
              f"| {num(r[7])} |")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
