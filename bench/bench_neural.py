"""Figures of the neural and combined engines on a reference folder (docs/benchmarks.md, issue 5).

    .venv/bin/python bench/bench_neural.py ../shared/datasets/sroie-dev --out /tmp/neural.json
    .venv/bin/python bench/bench_neural.py ../shared/datasets/sroie-dev --fit   # refit calibration.json

One in-process pass per page (onnxruntime with one thread per core, Tesseract
in the same process), timed as pre-fill is: the combined engine's readings
give both engines' predictions (the neural engine's are the same detector and
recogniser calls; its s/page is detect + recognise, the combined one's adds
Tesseract). A second, untimed pass reads the reference line crops. Scores come
from core.scoring, as in ``proofdesk eval``.

Calibration: the combined engine's confidences come from a logistic model
(ml/neural/calibration.py). ``--fit`` fits it on all pages and writes
``resources/models/<model>/calibration.json``; the reliability table printed is
always 2-fold cross-fitted (fit on the even pages, table on the odd, and the
other way round), so it is not measured on the pages it was fitted on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.scoring import TextScore, aggregate, score_page, score_text, to_xyxy  # noqa: E402
from ml.evaluate import load_reference_dir  # noqa: E402
from ml.neural.calibration import (  # noqa: E402
    Calibrator,
    format_reliability,
    region_outcomes,
    reliability_table,
)
from ml.neural.combined import CombinedEngine  # noqa: E402
from ml.neural.models import model_dir  # noqa: E402
from ml.neural.recognizer import box_to_quad  # noqa: E402
from ml.prediction import load_image  # noqa: E402


def run(folder: str, limit: int | None) -> tuple[list[dict], CombinedEngine]:
    eng = CombinedEngine()
    pages = []
    for k, ref in enumerate(load_reference_dir(folder, limit)):
        img = load_image(ref["_image"])
        t0 = time.perf_counter()
        readings, timing = eng.readings(img)
        total = time.perf_counter() - t0
        crops, _ = eng.readings(img, [np.asarray(box_to_quad(to_xyxy(ln["box"])), dtype=np.float64)
                                      for ln in ref["lines"]])
        pages.append({"ref": ref, "readings": readings, "crops": crops, "timing": timing, "total_s": total})
        print(f"{k + 1} {Path(ref['_image']).name} {total:.2f}s {timing}", file=sys.stderr, flush=True)
    return pages, eng


def calib_samples(eng: CombinedEngine, page: dict) -> tuple[list[list[float]], list[bool]]:
    """Features and right/wrong of the regions the combined engine would pre-fill (before min_conf)."""
    return eng.calibration_samples(page["readings"], page["ref"]["lines"])


def score(pages: list[dict], eng: CombinedEngine, which: str, calib: dict[int, Calibrator] | None = None) -> dict:
    e2e, texts, seconds, pairs = [], TextScore(), [], []
    for i, p in enumerate(pages):
        ref = p["ref"]
        if which == "neural":
            lines = [(r.points, _Dec(r.neural, r.mean_conf)) for r in p["readings"]]
            regions = [{"points": g.points, "text": g.text, "confidence": g.confidence}
                       for g in eng.neural.to_regions(lines)]
            crop_texts = [r.neural for r in p["crops"]]
            seconds.append(p["timing"]["detect_s"] + p["timing"]["recognize_s"])
        else:
            saved = eng.calibrator
            if calib is not None:
                eng.calibrator = calib[i % 2]
            regions = [{"points": g.points, "text": g.text, "confidence": g.confidence}
                       for g in eng.to_regions(p["readings"])]
            eng.calibrator = saved
            crop_texts = [eng.finish(r)[0] for r in p["crops"]]
            seconds.append(p["total_s"])
        e2e.append(score_page([(g["points"], g["text"]) for g in regions],
                              [(ln["box"], ln["text"]) for ln in ref["lines"]], ref.get("fields")))
        texts = texts + score_text((ln["text"], t) for ln, t in zip(ref["lines"], crop_texts))
        pairs += region_outcomes(regions, ref["lines"])
    s = aggregate(e2e).summary()
    s.pop("counts")
    return {"engine": which, "crops": texts.summary(), "end_to_end": s,
            "s_per_page_median": statistics.median(seconds), "s_per_page_mean": statistics.fmean(seconds),
            "reliability": reliability_table(pairs)}


class _Dec:
    def __init__(self, text: str, conf: float):
        self.text, self.confidence = text, conf


def throughput(folder: str, device: str, batch: int = 64, seconds: float = 10.0, limit: int | None = None,
               engine: str = "neural", page_batch: int = 1) -> dict:
    """Recogniser lines/s in batches of ``batch`` 48 x 256 line crops, and whole-page pages/s.

    For the GPU machine: ``--throughput --device cuda`` (onnxruntime's CUDA provider; it
    says which provider really ran). Pages run one after the other; their line crops
    are batched within each page.
    """
    from ml.neural.engine import NeuralEngine

    eng = NeuralEngine({"device": device}) if engine == "neural" else CombinedEngine({"device": device})
    neural = eng if engine == "neural" else eng.neural
    refs = load_reference_dir(folder, limit)
    rec = neural.model.recognizer
    crops = []
    for ref in refs[:4]:
        img = load_image(ref["_image"])
        crops += [c for c in rec.crops(img, [box_to_quad(to_xyxy(ln["box"])) for ln in ref["lines"]]) if c is not None]
    x = rec.batch(crops[:batch] * (batch // max(1, len(crops[:batch])) + 1), [256] * batch)[:batch]
    rec._run(x)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        rec._run(x)
        n += batch
    lines_s = n / (time.perf_counter() - t0)
    images = [load_image(r["_image"]) for r in refs]
    eng.predict(images[0])
    per_page, cpu = [], []
    t0 = time.perf_counter()
    if page_batch > 1:  # pages read together (NeuralEngine.predict_many): full recogniser batches
        for k in range(0, len(images), page_batch):
            part = images[k:k + page_batch]
            t1, c1 = time.perf_counter(), time.process_time()
            neural.predict_many(part)
            per_page += [(time.perf_counter() - t1) / len(part)] * len(part)
            cpu += [(time.process_time() - c1) / len(part)] * len(part)
    else:
        for img in images:
            t1, c1 = time.perf_counter(), time.process_time()
            eng.predict(img)
            per_page.append(time.perf_counter() - t1)
            cpu.append(time.process_time() - c1)  # all threads: a check on wall times taken under load
    pages_s = len(images) / (time.perf_counter() - t0)
    return {"engine": engine if page_batch == 1 else "neural", "page_batch": page_batch,
            "provider": eng.provider, "batch": batch, "lines_per_s": round(lines_s, 1),
            "pages": len(images), "pages_per_s": round(pages_s, 2),
            "s_per_page_median": round(statistics.median(per_page), 3),
            "s_per_page_p90": round(float(np.percentile(per_page, 90)), 3),
            "cpu_s_per_page_median": round(statistics.median(cpu), 3), "threads": runtime_threads()}


def runtime_threads() -> int:
    from ml.neural.runtime import default_threads

    return default_threads()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--fit", action="store_true", help="fit calibration.json on all pages and save it")
    ap.add_argument("--out", help="write the JSON report here")
    ap.add_argument("--cache", help="pickle of the readings: reused if present (re-scoring without re-running)")
    ap.add_argument("--throughput", action="store_true", help="lines/s and pages/s only (see throughput())")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (with --throughput)")
    ap.add_argument("--engine", default="neural", choices=("neural", "combined"), help="with --throughput")
    ap.add_argument("--page-batch", type=int, default=1,
                    help="with --throughput: pages read together (the neural engine's predict_many), e.g. 16 on a GPU")
    args = ap.parse_args(argv)
    if args.throughput:
        print(json.dumps({"date": dt.datetime.now().isoformat(timespec="seconds"), "load_average": os.getloadavg(),
                          **throughput(args.dataset, args.device, limit=args.limit, engine=args.engine,
                                       page_batch=args.page_batch),
                          "load_average_after": os.getloadavg()}))
        return 0
    t0 = time.time()
    load = os.getloadavg()
    if args.cache and Path(args.cache).exists():
        with open(args.cache, "rb") as f:
            pages = pickle.load(f)
        eng = CombinedEngine()
    else:
        pages, eng = run(args.dataset, args.limit)
        if args.cache:
            with open(args.cache, "wb") as f:
                pickle.dump(pages, f)
    # 2-fold cross-fitted calibrators for the reported table.
    folds = {}
    for k in (0, 1):
        x, y = [], []
        for i, p in enumerate(pages):
            if i % 2 != k:  # fit on the other fold, apply to fold k
                a, b = calib_samples(eng, p)
                x += a
                y += b
        folds[k] = Calibrator.fit(np.array(x), np.array(y), note=f"fold {k}")
    if args.fit:
        x, y = [], []
        for p in pages:
            a, b = calib_samples(eng, p)
            x += a
            y += b
        cal = Calibrator.fit(np.array(x), np.array(y),
                             note=f"{Path(args.dataset).name}, {len(pages)} pages, {len(y)} regions, "
                                  f"{dt.date.today().isoformat()} (bench/bench_neural.py --fit)")
        cal.save(model_dir(eng.cfg.neural.model, "") / "calibration.json")
        print(f"calibration written: {cal.to_dict()}", file=sys.stderr)
    results = [score(pages, eng, "neural"), score(pages, eng, "combined", folds)]
    report = {
        "dataset": args.dataset, "pages": len(pages), "lines": sum(len(p["ref"]["lines"]) for p in pages),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()}-core CPU, {platform.system()} {platform.release()}",
        "provider": eng.provider, "engine_version": eng.version,
        "load_average_before": load, "load_average_after": os.getloadavg(), "wall_s": time.time() - t0,
        "results": results,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(f"{report['dataset']}: {report['pages']} pages, {report['lines']} lines; {report['machine']}, "
          f"onnxruntime on {report['provider']}; load average {load[0]:.1f} before, "
          f"{report['load_average_after'][0]:.1f} after")
    print("| engine | crop CER ci | crop CER ignoring spaces | recall | precision | typing saved ci | s/page median |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        c, e = r["crops"], r["end_to_end"]
        print(f"| {r['engine']} | {c['cer_ci']:.1%} | {c['cer_nospace']:.1%} | {e['recall']:.1%} | "
              f"{e['precision']:.1%} | {e['typing_saved_ci']:.1%} | {r['s_per_page_median']:.2f} |")
    for r in results:
        title = f"{r['engine']}: reliability" + (" (2-fold cross-fitted calibration)" if r["engine"] == "combined" else "")
        print("\n" + format_reliability(r["reliability"], title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
