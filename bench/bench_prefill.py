"""Pre-fill figures of issue 3 with one command: quality on sroie-dev and funsd-dev, speed, scaling.

    .venv/bin/python bench/bench_prefill.py                  # print the markdown tables
    .venv/bin/python bench/bench_prefill.py --write          # and put them in docs/benchmarks.md
    .venv/bin/python bench/bench_prefill.py --quick          # 5 pages per set, a smoke run

For each dataset and engine: ``ml.evaluate.evaluate_dir`` with one worker (crop CER case-sensitive,
case-insensitive and ignoring spaces, exact lines, end-to-end recall / precision, CER on matched
lines, typing saved, key fields, seconds per page median and mean as measured in the worker:
decode + preprocessing + detection + recognition). Then the first engine pre-fills the first
dataset with 1 and with 2 worker processes for throughput.

Throughput is pages per second of wall clock in steady state: timed from the moment every worker
has delivered its first page (process start-up and model loading excluded) to the last page.
The wall clock including start-up is reported beside it. The 1-minute load average before and
after each pass is recorded: other work on the machine slows every figure down, so compare runs
made under a low load only.

The datasets are read from ``../shared/datasets`` (FUNSD images are read here, never shipped).
``--write`` replaces only the part of docs/benchmarks.md between this script's markers under
"## Classical pre-fill (issue 3)", so other sections of that file are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.engines import get_engine  # noqa: E402
from ml.evaluate import evaluate_dir, format_reports, load_reference_dir  # noqa: E402
from ml.pool import prefill_pages  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Classical pre-fill (issue 3)"
START, END = "<!-- bench_prefill:start -->", "<!-- bench_prefill:end -->"


def load() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(threshold: float | None, max_wait: float) -> None:
    """Wait (at most ``max_wait`` s) until the 1-minute load average is below ``threshold``.

    On a machine shared with other work, timings taken under load say little;
    the load is recorded either way.
    """
    if threshold is None:
        return
    t0 = time.monotonic()
    while load() >= threshold and time.monotonic() - t0 < max_wait:
        time.sleep(5)
    if load() >= threshold:
        print(f"  load still {load():.2f} after {max_wait:.0f} s; measuring anyway", file=sys.stderr, flush=True)


def throughput(images: list[str], engine: str, workers: int) -> dict:
    """Pre-fill ``images`` on ``workers`` processes; steady-state and overall pages/s."""
    before = load()
    t0 = time.perf_counter()
    stamps, failed, worker_s, cpu_s = [], 0, [], []
    for r in prefill_pages(list(enumerate(images)), engine=engine, workers=workers):
        stamps.append(time.perf_counter() - t0)
        failed += r.error is not None
        worker_s.append(r.seconds)
        cpu_s.append(r.cpu_seconds)
    wall = stamps[-1] if stamps else 0.0
    # Steady state: after every worker has delivered one page (start-up and warm-up are over).
    w = min(workers, len(stamps) - 1)
    steady = (len(stamps) - w) / (stamps[-1] - stamps[w - 1]) if w >= 1 and stamps[-1] > stamps[w - 1] else None
    return {
        "workers": workers,
        "pages": len(images),
        "failed": failed,
        "wall_s": wall,
        "pages_per_s_steady": steady,
        "pages_per_s_overall": len(images) / wall if wall else None,
        "worker_s_median": statistics.median(worker_s) if worker_s else None,
        "worker_s_mean": statistics.fmean(worker_s) if worker_s else None,
        "worker_cpu_s_median": statistics.median(cpu_s) if cpu_s else None,
        "load_before": before,
        "load_after": load(),
    }


def _f(v, fmt="{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def speed_table(runs: list[dict]) -> str:
    # "x 1 worker" is relative to the median steady rate of the 1-worker runs (repeat them to confirm).
    ones = [r["pages_per_s_steady"] for r in runs if r["workers"] == 1 and r["pages_per_s_steady"]]
    base = statistics.median(ones) if ones else None
    lines = [
        "| workers | pages/s (steady state) | × 1 worker | pages/s incl. start-up | wall s | "
        "s/page in worker (median / mean) | CPU s/page (median) | load avg before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        ratio = r["pages_per_s_steady"] / base if base and r["pages_per_s_steady"] else None
        lines.append(
            f"| {r['workers']} | {_f(r['pages_per_s_steady'])} | {_f(ratio)} | {_f(r['pages_per_s_overall'])} | "
            f"{_f(r['wall_s'], '{:.1f}')} | {_f(r['worker_s_median'], '{:.3f}')} / {_f(r['worker_s_mean'], '{:.3f}')} | "
            f"{_f(r.get('worker_cpu_s_median'), '{:.3f}')} | "
            f"{r['load_before']:.2f} / {r['load_after']:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cores}-core CPU{f' ({model})' if model else ''}, no GPU, {platform.system()} {platform.machine()}"


def command_line() -> str:
    return "python bench/bench_prefill.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")


def markdown(reports: list[dict], titles: list[str], speed: list[dict], speed_set: str, engine: str,
             commands: list[str] | None = None) -> str:
    version = reports[0]["engine_version"] if reports else get_engine(engine).version
    cmds = " and ".join(f"`{c}`" for c in (commands or [command_line()]))
    out = [
        f"Measured {dt.date.today().isoformat()} on {machine()}; Python {platform.python_version()}, "
        f"{version}. Command: {cmds}.",
    ]
    if reports:
        table = format_reports(reports, titles).split("\n", 2)[2]  # drop the "dataset:" line
        loads = ", ".join(f"{t}: {r['_load'][0]:.2f} → {r['_load'][1]:.2f}" for t, r in zip(titles, reports))
        out += ["", "### Quality and time per page (1 worker)", "", table, "",
                f"1-minute load average before → after each column's run: {loads}."]
    if speed:
        out += ["", f"### Throughput ({engine} on {speed_set}, {speed[0]['pages']} pages)", "", speed_table(speed)]
    return "\n".join(out)


def write_doc(section: str) -> None:
    block = f"{START}\n{section}\n{END}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    elif HEADING in text:
        at = text.index(HEADING) + len(HEADING)
        text = text[:at] + "\n\n" + block + text[at:]
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["sroie-dev", "funsd-dev"],
                    help="folders under --root (default: sroie-dev funsd-dev)")
    ap.add_argument("--root", type=Path, default=DATASETS, help=f"where the datasets are (default {DATASETS})")
    ap.add_argument("--engine", default="classical,tesseract-baseline",
                    help="comma-separated engines (default: classical,tesseract-baseline); the first is timed for throughput")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for throughput (default 1 2)")
    ap.add_argument("--limit", type=int, default=None, help="first N pages of each set")
    ap.add_argument("--quick", action="store_true", help="5 pages per set (a smoke run)")
    ap.add_argument("--no-speed", action="store_true", help="skip the throughput passes")
    ap.add_argument("--no-quality", action="store_true", help="throughput passes only")
    ap.add_argument("--quiet-load", type=float, default=None, metavar="L",
                    help="before each timed pass wait until the 1-minute load average is below L")
    ap.add_argument("--max-wait", type=float, default=600, help="longest wait for --quiet-load, seconds (default 600)")
    ap.add_argument("--write", action="store_true", help=f"put the tables into {DOC.relative_to(ROOT)}")
    ap.add_argument("--json-out", type=Path, help="also write every report as JSON here")
    ap.add_argument("--from-json", type=Path, nargs="+", metavar="FILE",
                    help="measure nothing: render (and --write) the tables of earlier --json-out files")
    args = ap.parse_args(argv)
    if args.from_json:
        runs = [json.loads(f.read_text()) for f in args.from_json]
        reports = [r for run in runs for r in run["reports"]]
        titles = [f"{Path(r['dataset']).name} {r['engine']}" for r in reports]
        speed = [t for run in runs for t in run["throughput"]]
        speed_set = next((run["speed_set"] for run in runs if run["throughput"]), "")
        engine = next((run["engine"] for run in runs if run["throughput"]), reports[0]["engine"] if reports else "")
        md = markdown(reports, titles, speed, speed_set, engine, [run["command"] for run in runs])
        print(md)
        if args.write:
            write_doc(md)
        return 0
    limit = 5 if args.quick else args.limit
    engines = [e.strip() for e in args.engine.split(",") if e.strip()]

    reports, titles = [], []
    for ds in [] if args.no_quality else args.datasets:
        for eng in engines:
            print(f"evaluating {eng} on {ds} ...", file=sys.stderr, flush=True)
            wait_for_quiet(args.quiet_load, args.max_wait)
            before = load()
            rep = evaluate_dir(args.root / ds, engine=eng, workers=1, limit=limit)
            rep["_load"] = (before, load())
            reports.append(rep)
            titles.append(f"{ds} {eng}")
    speed: list[dict] = []
    speed_set = args.datasets[0]
    if not args.no_speed:
        images = [d["_image"] for d in load_reference_dir(args.root / speed_set, limit)]
        for w in args.workers:
            print(f"throughput: {engines[0]} on {speed_set}, {w} worker(s) ...", file=sys.stderr, flush=True)
            wait_for_quiet(args.quiet_load, args.max_wait)
            speed.append(throughput(images, engines[0], w))
    if args.json_out:
        args.json_out.write_text(json.dumps({"command": command_line(), "reports": reports, "throughput": speed,
                                             "speed_set": speed_set, "engine": engines[0]}, indent=1, default=str))
    md = markdown(reports, titles, speed, speed_set, engines[0])
    print(md)
    if args.write:
        write_doc(md)
        print(f"\nwritten to {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
