"""Turned and skewed pages against upright ones (docs/benchmarks.md, "Orientation"; issue 17).

    flock /tmp/bench.lock .venv/bin/python bench/bench_orientation.py ../shared/datasets/invoices-dev \\
        --engine combined --variants upright,turn90,turn180 --off turn90 --out /tmp/orientation.json

Makes copies of a reference folder (the format of shared/datasets/README.md) turned 90 or 180
degrees clockwise (``turnN``) or rotated by a few degrees (``skewN``, counter-clockwise, on the
page's own canvas, white corners), with their reference JSON moved the same way (boxes, width and
height), into a temporary folder, and runs the evaluation harness (``ml.evaluate.evaluate_dir``,
what ``proofdesk eval --json`` runs) on each. ``--off V``: also variant V with the engine's
orientation step switched off (what pre-fill did before issue 17). Also counts how often
``ml.orientation.upright`` finds the turn that makes each copy upright, and how long it takes.

Prints one table (markdown) and writes every report with ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model import turn_points  # noqa: E402
from ml.evaluate import evaluate_dir, load_reference_dir  # noqa: E402
from ml.orientation import upright  # noqa: E402

#: The engine config that switches the orientation step off, per engine.
OFF = {
    "combined": {"neural": {"orientation": {"orientation": False, "deskew": False}}},
    "neural": {"orientation": {"orientation": False, "deskew": False}},
    "classical": {"preprocess": {"orientation": False, "deskew": False}},
}


def variant_transform(name: str, width: int, height: int) -> tuple[str, float, np.ndarray | None]:
    """("turn" | "skew" | "upright", degrees, 2x3 matrix of a skew or None)."""
    m = re.fullmatch(r"(turn|skew)(-?\d+(?:\.\d+)?)", name)
    if name == "upright":
        return "upright", 0.0, None
    if m is None:
        raise SystemExit(f"unknown variant {name!r}: upright, turnN (90, 180, 270), skewN (degrees)")
    kind, deg = m.group(1), float(m.group(2))
    if kind == "turn":
        if deg % 90:
            raise SystemExit(f"{name}: a turn is a multiple of 90 degrees")
        return kind, deg % 360, None
    return kind, deg, cv2.getRotationMatrix2D((width / 2.0, height / 2.0), deg, 1.0)


def make_variant(src: Path, dst: Path, name: str) -> int:
    """Copy every reference page of ``src`` into ``dst`` turned or skewed as ``name`` says."""
    dst.mkdir(parents=True, exist_ok=True)
    pages = load_reference_dir(src)
    for d in pages:
        img = cv2.imread(d["_image"], cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        h, w = img.shape[:2]
        kind, deg, m = variant_transform(name, w, h)
        ref = {k: v for k, v in d.items() if not k.startswith("_")}
        lines = [dict(ln) for ln in d["lines"]]
        if kind == "turn":
            img = np.ascontiguousarray(np.rot90(img, -int(deg) // 90))
            for ln in lines:
                quad = [(ln["box"][i], ln["box"][i + 1]) for i in range(0, 8, 2)]
                ln["box"] = [round(c, 2) for p in turn_points(quad, int(deg), w, h) for c in p]
        elif kind == "skew":
            fill = (255,) * (1 if img.ndim == 2 else img.shape[2])
            img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill)
            for ln in lines:
                quad = np.asarray(ln["box"], float).reshape(4, 2) @ m[:, :2].T + m[:, 2]
                ln["box"] = [round(float(c), 2) for c in quad.reshape(-1)]
        ref["lines"] = lines
        ref["height"], ref["width"] = img.shape[:2]
        ref["image"] = Path(d["image"]).stem + ".png"
        cv2.imwrite(str(dst / ref["image"]), img)
        (dst / (Path(d["image"]).stem + ".json")).write_text(json.dumps(ref, ensure_ascii=False), encoding="utf-8")
    return len(pages)


def turns_found(folder: Path, name: str) -> tuple[int, int, float]:
    """(pages whose turn ``upright`` finds, pages, median seconds of ``upright``)."""
    pages = load_reference_dir(folder)
    kind, deg, _ = variant_transform(name, 1, 1)
    need = (360 - int(deg)) % 360 if kind == "turn" else 0
    right, secs = 0, []
    for d in pages:
        img = cv2.imread(d["_image"], cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        t0 = time.perf_counter()
        up = upright(img)
        secs.append(time.perf_counter() - t0)
        right += up.turn == need
    return right, len(pages), statistics.median(secs) if secs else 0.0


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--engine", default="combined")
    ap.add_argument("--variants", default="upright,turn90,turn180")
    ap.add_argument("--off", default="", help="variants also run with the orientation step switched off")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    variants = [v for v in args.variants.split(",") if v]
    off = [v for v in args.off.split(",") if v]
    rows, reports = [], {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="orientation-") as tmp:
        for name in dict.fromkeys(variants + off):
            folder = Path(tmp) / name
            n = make_variant(args.dataset, folder, name)
            if args.limit:
                for extra in sorted(folder.glob("*.json"))[args.limit:]:
                    extra.unlink()
                n = min(n, args.limit)
            found = turns_found(folder, name)
            runs = ([(name, None)] if name in variants else []) + ([(name + " (orientation off)", OFF[args.engine])]
                                                                   if name in off else [])
            for title, config in runs:
                t0 = time.perf_counter()
                rep = evaluate_dir(folder, engine=args.engine, workers=args.workers, config=config, crops=False)
                e2e = rep["end_to_end"]
                reports[title] = rep
                rows.append((title, n, e2e["recall"], e2e["precision"], e2e["typing_saved_ci"], e2e["typing_saved_cs"],
                             rep["timing"]["median_s"], found if config is None else None, time.perf_counter() - t0))
                print(f"{title}: recall {_pct(e2e['recall'])}, typing saved ci {_pct(e2e['typing_saved_ci'])},"
                      f" {rep['timing']['median_s']:.2f} s/page", file=sys.stderr, flush=True)
    print(f"dataset: {args.dataset}, engine: {args.engine}, {platform.machine()} {os.cpu_count()}-core CPU,"
          f" {dt.date.today().isoformat()}, load average at start {load:.2f}" if load is not None else "")
    print()
    print("| pages | n | line recall | precision | typing saved ci | typing saved cs | s/page median |"
          " turn found (upright s median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for title, n, rec, prec, tci, tcs, spp, found, _wall in rows:
        f = "" if found is None else f"{found[0]}/{found[1]} ({found[2]:.2f} s)"
        print(f"| {title} | {n} | {_pct(rec)} | {_pct(prec)} | {_pct(tci)} | {_pct(tcs)} | {spp:.2f} | {f} |")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "reports": reports}, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
