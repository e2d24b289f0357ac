"""Key-field figures of ml/fields on a labelled folder: zero-shot and learned (K-fold), from the
reference lines and from an engine's lines, with the OCR's ceiling, keystrokes and timings.

    flock /tmp/bench.lock .venv/bin/python bench/bench_fields.py ../shared/datasets/sroie-dev --engine combined
    .venv/bin/python bench/bench_fields.py ../shared/datasets/invoices-dev --engine combined --cv 5 --out /tmp/f.json

The engine reads each page once and its lines are kept in ``--lines`` (default
/tmp/proofdesk-fields-lines-<set>-<engine>.json) so that runs after the first take seconds: the
field reader is what changes between them, not the OCR. ``--engine none``: reference lines only.
Timings: prediction ms a page (CPU time of a page never seen: the reader's per-text caches emptied
before each page; median, mean, the largest), training seconds a fold.
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
from ml.fields.extract import extract, page_of, scored_fields  # noqa: E402
from ml.fields.lines import lines_from  # noqa: E402
from ml.fields.scoring import format_fields, infer_schema  # noqa: E402
from ml.fields.vocabulary import read_lines  # noqa: E402


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


#: Caches of compiled patterns: a process compiles them once, on its first page of a schema.
_COMPILED = {"_pattern", "_any_pattern", "keywords", "_keywords_of", "longest_keyword", "role", "_stems"}


def _text_caches() -> list:
    """Every per-text cache of the field reader (lru_cache'd functions of ml.fields and
    core.fields), the compiled patterns' left out."""
    import importlib
    import pkgutil

    import ml.fields

    mods = [importlib.import_module("core.fields")] + [importlib.import_module(f"ml.fields.{m.name}")
                                                       for m in pkgutil.iter_modules(ml.fields.__path__)]
    return [f for m in mods for n, f in vars(m).items()
            if callable(getattr(f, "cache_clear", None)) and n not in _COMPILED and getattr(f, "__module__", "") == m.__name__]


def cpu_ms_per_page(refs, schema, lines_for, model=None, repeat: int = 3) -> dict:
    """CPU ms to read a page's fields as pre-fill does (``model``: a learned one, its vocabulary
    first, as ``ml.fields.prefill.regions_page``; None: zero-shot) as a page never seen: every
    per-text cache emptied before each read (a real page shares few texts with the pages before
    it), the patterns compiled beforehand; the least of ``repeat`` reads. Median, mean, the largest
    and its lines."""
    caches = _text_caches()
    pages = [(d["image"], page_lines) for d in refs for page_lines in [lines_for(d)]]
    for d, (_, ls) in zip(refs[:3], pages):          # compile this schema's patterns
        extract(page_of(ls if model is None else read_lines(ls, model), d["width"], d["height"]), schema, model)
    ms = {}
    for d, (name, ls) in zip(refs, pages):
        best = float("inf")
        for _ in range(repeat):
            for c in caches:
                c.cache_clear()
            t0 = time.process_time()
            extract(page_of(ls if model is None else read_lines(ls, model), d["width"], d["height"]), schema, model)
            best = min(best, 1000 * (time.process_time() - t0))
        ms[name] = (best, len(ls))
    worst = max(ms, key=lambda k: ms[k][0])
    times = [v for v, _ in ms.values()]
    return {"median": statistics.median(times), "mean": statistics.fmean(times), "max": ms[worst][0],
            "max_page": worst, "max_page_lines": ms[worst][1],
            "over_50ms": sorted(k for k, (v, _) in ms.items() if v > 50)}


def model_of(refs, schema):
    """A field model trained on every page's reference lines and fields (for timing its reads)."""
    from ml.fields.crossval import _truth
    from ml.fields.model import Example, train

    pages = [page_of(reference_lines(d), d["width"], d["height"]) for d in refs]
    return train([Example(p, _truth(d, schema), scored_fields(p, schema)) for p, d in zip(pages, refs)], schema)[0]


def _say_ms(t: dict, what: str) -> str:
    return (f"  {t['median']:.1f} ms CPU a page never seen, {what} (median; mean {t['mean']:.1f}, largest "
            f"{t['max']:.1f} ms: {t['max_page']}, {t['max_page_lines']} lines; over 50 ms: {len(t['over_50ms'])} pages)")


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
    model = model_of(refs, schema)
    for label, lines_for in sources.items():
        rep = evaluate_fields(refs, schema, None, cv=args.cv, lines_for=lines_for)
        rep["cpu_ms_per_page"] = cpu_ms_per_page(refs, schema, lines_for or reference_lines)
        rep["cpu_ms_per_page_learned"] = cpu_ms_per_page(refs, schema, lines_for or reference_lines, model)
        report["runs"][label] = rep
        print(format_fields(rep, f"{label}: zero-shot"))
        print(_say_ms(rep["cpu_ms_per_page"], "zero-shot"))
        print(_say_ms(rep["cpu_ms_per_page_learned"], "learned"))
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
