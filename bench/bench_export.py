"""Export 10,000 pages to every format: wall time and peak memory (docs/benchmarks.md, issue 16).

The project is made once by SQL (like bench/gen_review_project.py): 10,000 single-page documents
whose images are the five bundled SROIE receipts (content-addressed: five image files), each
page with that receipt's reference lines as people's regions (about 50 per page: 500,000 lines),
done. Then each format is exported in its own process (``proofdesk export --format F``) and its
wall time and peak RSS are recorded.

    .venv/bin/python bench/bench_export.py /tmp/export-bench [--pages 10000] [--formats paddleocr,pagexml]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.project import DB_NAME, Project  # noqa: E402

SAMPLES = ROOT / "resources" / "samples" / "receipts"
FORMATS = ["reference", "paddleocr", "tesstrain", "doctr", "coco", "labelstudio", "cvat", "icdar", "pagexml",
           "alto", "hocr", "pdf", "fields"]


def make_project(root: Path, n_pages: int) -> None:
    from PIL import Image

    project = Project.create(root)
    receipts = []
    for img in sorted(SAMPLES.glob("*.jpg")):
        ref = json.loads(img.with_suffix(".json").read_text())
        sha = project.images.put(img.read_bytes(), "jpg")
        w, h = Image.open(img).size
        receipts.append((img.name, sha, w, h, ref["lines"]))
    project.close()
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    c = conn.cursor()
    c.execute("BEGIN")
    now = "2026-11-29T12:00:00.000000+00:00"
    for i in range(n_pages):
        name, sha, w, h, lines = receipts[i % len(receipts)]
        doc_name = f"r{i:05d}-{name}"
        c.execute("INSERT INTO documents (name, sha256, source, kind, imported_at, imported_by, batch, page_count)"
                  " VALUES (?,?,?,?,?,?,?,1)", (doc_name, f"{i:064x}", doc_name, "image", now, "bench", "b1"))
        doc_id = c.lastrowid
        c.execute("INSERT INTO pages (document_id, page_no, name, image_sha256, width, height, status, created_at,"
                  " updated_at, done_by, done_at) VALUES (?,?,?,?,?,?,'done',?,?,'bench',?)",
                  (doc_id, 1, doc_name, sha, w, h, now, now, now))
        page_id = c.lastrowid
        rows = []
        for ln in lines:
            b = ln["box"]
            pts = [[b[0], b[1]], [b[2], b[3]], [b[4], b[5]], [b[6], b[7]]]
            xs, ys = b[0::2], b[1::2]
            rows.append((page_id, json.dumps(pts), min(xs), min(ys), max(xs), max(ys), ln["text"], None, None,
                         "human", 1, now, now, "bench"))
        c.executemany("INSERT INTO regions (page_id, points, x0, y0, x1, y1, text, label, confidence, origin,"
                      " touched, created_at, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    c.execute("COMMIT")
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    root = Path(args.folder) / "project"
    if not (root / DB_NAME).exists():
        t = time.perf_counter()
        make_project(root, args.pages)
        print(f"project: {args.pages} pages in {time.perf_counter() - t:.0f} s", flush=True)
    print("| format | pages | wall time | peak RSS | output |\n|---|---|---|---|---|")
    for fmt in args.formats.split(","):
        out = Path(args.folder) / f"out-{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        # The last export's deleted files are still being written back: let the disk settle, so
        # that each format is timed alone.
        os.sync()
        time.sleep(10)
        t = time.perf_counter()
        # GNU time prints the child's peak RSS (KiB) as the last line of stderr.
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "app.cli", "export", str(root),
                               str(out), "--format", fmt], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        peak_kib = int(proc.stderr.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.exists() else 0
        note = "" if proc.returncode == 0 else f" FAILED: {proc.stderr.strip()[-200:]}"
        print(f"| {fmt} | {args.pages} | {wall:.0f} s | {peak_kib / 1024:.0f} MB | {size / 1e6:.0f} MB{note} |",
              flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
