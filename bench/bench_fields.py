"""Key-field figures of ml/fields on a labelled folder: zero-shot and learned (K-fold), from the
reference lines and from an engine's lines, with the OCR's ceiling, keystrokes and timings.

    flock /tmp/bench.lock .venv/bin/python bench/bench_fields.py ../shared/datasets/sroie-dev --engine combined
    .venv/bin/python bench/bench_fields.py ../shared/datasets/invoices-dev --engine combined --cv 5 --out /tmp/f.json

The engine reads each page once and its lines are kept in ``--lines`` (default
/tmp/proofdesk-fields-lines-<set>-<engine>.json) so that runs after the first take seconds: the
field reader is what changes between them, not the OCR. ``--engine none``: reference lines only.
Timings: prediction ms a page (CPU time, the median page), training seconds a fold.
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
from ml.fields.crossval import reference_lines  # noqa: E402
from ml.fields.evaluate import evaluate_fields  # noqa: E402
from ml.fields.extract import extract, page_of  # noqa: E402
from ml.fields.lines import lines_from  # noqa: E402
from ml.fields.scoring import format_fields, infer_schema  # noqa: E402


def engine_lines(refs, engine: str, cache: Path) -> dict[str, list]:
    if cache.exists():
        return json.loads(cache.read_text())
    from ml.pool import prefill_pages

    out: dict[str, list] = {}
    by_id = dict(enumerate(refs))
    for r in prefill_pages(((i, d["_image"]) for i, d in by_id.items()), engine, None, 1):
        d = by_id[r.page_id]
        regs = [] if r.prediction is None else r.prediction.regions
        out[d["image"]] = [[[list(map(float, p)) for p in reg.points], reg.text] for reg in regs]
        print(f"  read {len(out)}/{len(refs)} {d['image']}", file=sys.stderr)
    cache.write_text(json.dumps(out))
    return out


def cpu_ms_per_page(refs, schema, lines_for) -> float:
    times = []
    for d in refs:
        page = page_of(lines_for(d), d["width"], d["height"])
        t0 = time.process_time()
        extract(page, schema)
        times.append(1000 * (time.process_time() - t0))
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--engine", default="combined", help="engine whose lines are read (none: reference lines only)")
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--fields", default=None)
    ap.add_argument("--lines", default=None, help="cache of the engine's lines (JSON)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    refs = load_reference_dir(args.dataset)
    schema = args.fields.split(",") if args.fields else infer_schema(refs)
    report = {"dataset": args.dataset, "schema": schema, "pages": len(refs),
              "date": time.strftime("%Y-%m-%d %H:%M"), "runs": {}}
    sources = {"reference lines": None}
    if args.engine != "none":
        cache = Path(args.lines or f"/tmp/proofdesk-fields-lines-{Path(args.dataset).name}-{args.engine}.json")
        got = engine_lines(refs, args.engine, cache)
        sources[f"{args.engine} lines"] = lambda d: lines_from((p, t) for p, t in got.get(d["image"], []))
    for label, lines_for in sources.items():
        rep = evaluate_fields(refs, schema, None, cv=args.cv, lines_for=lines_for)
        rep["cpu_ms_per_page_median"] = cpu_ms_per_page(refs, schema, lines_for or reference_lines)
        report["runs"][label] = rep
        print(format_fields(rep, f"{label}: zero-shot"))
        print(f"  {rep['cpu_ms_per_page_median']:.1f} ms CPU a page (median)")
        if rep.get("cv"):
            cvr = rep["cv"]
            print(format_fields(cvr["learned"], f"{label}: learned, {cvr['k']}-fold cross-validation"))
            print(f"  training {statistics.fmean(cvr['train_seconds']):.1f} s a fold "
                  f"({len(refs) - len(refs) // cvr['k']} pages); prediction {cvr['predict_ms_per_page']:.1f} ms a page")
        print()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
