"""Make a big project for the review benchmarks: 10,000 pages, 500,000 regions, by SQL.

Every page shares one tiny PNG (the screens under test count and chart; they do not decode
big images). The project is made the normal way (``Project.create``: every migration), then
filled with plain INSERTs in one transaction: documents and pages imported over 60 days,
predictions from three model versions of two engines, regions (most as predicted, some
corrected, moved, deleted, some added by people), the edit log that made those changes (with
realistic timestamps per annotator), pages done / approved / rejected, reviews, annotator
scores, the review queue, and the stored verdicts (exactly what ``core.review.refresh_verdicts``
would store: ``--check N`` recomputes N random pages through core and compares).

    .venv/bin/python bench/gen_review_project.py /tmp/review-bench [--pages 10000] [--regions 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.project import DB_NAME, Project  # noqa: E402

ANNOTATORS = [f"annotator{i:02d}" for i in range(12)]
REVIEWERS = ["rita", "rob", "ruth"]
START = dt.datetime(2026, 9, 25, 8, 0, tzinfo=dt.timezone.utc)
DAYS = 60
#: engine, engine_version, model_version, first day it was used
VERSIONS = [("classical", "tess-5.3", None, 0), ("neural", "0.3", "rec-latin-1", 0),
            ("neural", "0.3", "rec-latin-2", 20), ("neural", "0.3", "rec-latin-3", 40)]
WORDS = "TOTAL CASH CHANGE GST TAX INVOICE RECEIPT QTY PRICE AMOUNT DATE NO ITEM SUBTOTAL ROUNDING".split()


def tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 600), (245, 245, 240)).save(buf, "PNG")
    return buf.getvalue()


def ts(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds")


def quad(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def generate(root: Path, n_pages: int, per_page: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    project = Project.create(root)
    sha = project.images.put(tiny_png(), "png")
    project.close()
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    c = conn.cursor()
    c.execute("BEGIN")
    now = ts(START)
    for name in ANNOTATORS:
        c.execute("INSERT INTO users (name, role, created_at) VALUES (?, 'annotator', ?)", (name, now))
    for name in REVIEWERS:
        c.execute("INSERT INTO users (name, role, created_at) VALUES (?, 'reviewer', ?)", (name, now))
    c.execute("INSERT INTO users (name, role, created_at) VALUES ('boss', 'admin', ?)", (now,))
    # Each annotator has a speed and an error rate, so analytics has over- and under-performers.
    skill = {a: (rng.uniform(0.5, 1.6), rng.uniform(0.02, 0.12)) for a in ANNOTATORS}
    skill[ANNOTATORS[-1]] = (0.35, 0.3)  # one clear under-performer
    pages_per_doc = 5
    n_docs = (n_pages + pages_per_doc - 1) // pages_per_doc
    page_id = region_id = pred_id = action_id = review_id = 0
    docs, pages, preds, regions, actions, edits, verdicts, states = [], [], [], [], [], [], [], []
    reviews, scores, queue = [], [], []
    clock = {a: START for a in ANNOTATORS}
    for d in range(n_docs):
        day = d * DAYS // n_docs
        imported = START + dt.timedelta(days=day, minutes=rng.randint(0, 600))
        docs.append((d + 1, f"doc{d:05d}.pdf", f"{d:064x}", f"/scans/doc{d:05d}.pdf", "pdf", ts(imported), "boss",
                     f"batch{day:02d}", pages_per_doc))
        for pno in range(1, pages_per_doc + 1):
            if page_id >= n_pages:
                break
            page_id += 1
            usable = [v for v in VERSIONS if v[3] <= day]
            engine, engine_version, model_version, _ = rng.choice(usable[-2:])
            pred_id += 1
            base_conf = {"classical": 0.78, "neural": 0.80}[engine] + 0.03 * int((model_version or "0")[-1])
            pred_regions = []
            for i in range(per_page):
                y = 10 + i * 11
                x0, x1 = 10 + rng.randint(0, 20), 200 + rng.randint(0, 180)
                text = f"{rng.choice(WORDS)} {rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
                conf = min(0.999, max(0.05, rng.gauss(base_conf, 0.07)))
                pred_regions.append({"points": quad(x0, y, x1, y + 9), "text": text, "confidence": round(conf, 4),
                                     "label": None})
            roll = rng.random()
            status = ("prefilled" if roll < 0.12 else "in_progress" if roll < 0.2 else "done" if roll < 0.75
                      else "approved" if roll < 0.93 else "rejected")
            annotator = rng.choice(ANNOTATORS) if status != "prefilled" else None
            speed, err = skill.get(annotator, (1.0, 0.05))
            t = max(clock.get(annotator, START), imported) if annotator else imported
            if annotator and t.date() > (imported + dt.timedelta(days=2)).date():
                t = imported + dt.timedelta(hours=rng.randint(1, 30))
            action_id += 1
            page_actions = [(action_id, page_id, annotator or "classical", ts(t), "work", "do", None, 0)]
            n_wrong = 0
            min_conf = 1.0
            page_verdicts = []
            done_by = annotator if status in ("done", "approved", "rejected") else None
            for i, pr in enumerate(pred_regions):
                region_id += 1
                x0, y0 = pr["points"][0]
                x1, y1 = pr["points"][2]
                text, deleted, points = pr["text"], 0, pr["points"]
                kind, dist, iou = "correct", 0, 1.0
                wrong_p = (1 - pr["confidence"]) * 0.9
                touched = 0
                if annotator and rng.random() < wrong_p:
                    touched = 1
                    t += dt.timedelta(seconds=rng.expovariate(1 / (9 / speed)))
                    r = rng.random()
                    if r < 0.75:
                        new = text[:-1] + str(rng.randint(0, 9)) if text[-1:] != "0" else text + "!"
                        if new == text:
                            new = text + "?"
                        edits.append((action_id, ts(t), annotator, page_id, region_id, "text", json.dumps(text),
                                      json.dumps(new)))
                        dist = 1  # one character changed or added
                        text, kind = new, "wrong_text"
                    elif r < 0.9:
                        points = quad(x0, y0, x0 + (x1 - x0) * 0.5, y1)
                        edits.append((action_id, ts(t), annotator, page_id, region_id, "points",
                                      json.dumps(pr["points"]), json.dumps(points)))
                        kind, iou = "wrong_box", 0.5
                    else:
                        deleted = 1
                        edits.append((action_id, ts(t), annotator, page_id, region_id, "deleted", "0", "1"))
                        kind = "deleted"
                elif annotator:
                    t += dt.timedelta(seconds=rng.expovariate(1 / (1.5 / speed)))
                if not deleted:
                    min_conf = min(min_conf, pr["confidence"])
                regions.append((region_id, page_id, json.dumps(points), points[0][0], points[0][1], points[2][0],
                                points[2][1], text, None,
                                pr["confidence"], "prediction", pred_id, i, deleted, 0, 1 + touched, touched,
                                ts(imported), ts(t), annotator or engine))
                if kind != "correct":
                    n_wrong += 1
                page_verdicts.append((region_id, i, kind, dist, 0 if kind == "deleted" else len(text),
                                      None if kind == "deleted" else iou, pr["confidence"]))
            if annotator and rng.random() < 0.3:  # a line the engine missed
                region_id += 1
                t += dt.timedelta(seconds=rng.expovariate(1 / (20 / speed)))
                text = f"{rng.choice(WORDS)} {rng.randint(1, 99)}"
                pts = quad(220, 580, 380, 592)
                regions.append((region_id, page_id, json.dumps(pts), 220, 580, 380, 592, text, None, None, "human",
                                None, None, 0, 0, 1, 1, ts(t), ts(t), annotator))
                edits.append((action_id, ts(t), annotator, page_id, region_id, "region", "null",
                              json.dumps({"points": pts, "text": text, "label": None})))
                page_verdicts.append((region_id, None, "missing", len(text), len(text), None, None))
                n_wrong += 1
            done_at = None
            if done_by:
                t += dt.timedelta(seconds=rng.uniform(3, 15) / speed)
                done_at = ts(t)
                edits.append((action_id, done_at, annotator, page_id, None, "status", json.dumps("in_progress"),
                              json.dumps("done")))
            updated = ts(t)
            if annotator:
                clock[annotator] = t + dt.timedelta(seconds=rng.uniform(5, 60))
                if rng.random() < 0.08:  # end of a session
                    clock[annotator] += dt.timedelta(hours=rng.uniform(1, 16))
            if status in ("approved", "rejected"):
                review_id += 1
                reviewer = rng.choice(REVIEWERS)
                at = ts(t + dt.timedelta(hours=rng.uniform(1, 48)))
                reviews.append((review_id, page_id, reviewer, status, "" if status == "approved" else "fix the total", at))
                chars = sum(v[4] for v in page_verdicts)
                errs = sum(1 for _ in range(chars) if rng.random() < err * 0.1)
                scores.append((review_id, page_id, annotator, reviewer, len(page_verdicts), errs and 1, errs, chars,
                               len(page_verdicts) * 0.97, len(page_verdicts), at))
                updated = at
            if done_by:
                draw = rng.random()
                reasons = (["sample"] if draw < 0.10 else []) + (["low_confidence"] if min_conf < 0.6 else [])
                if reasons:
                    queue.append((page_id, ",".join(reasons), done_at, annotator, 1, 0, 0.10, min_conf,
                                  updated if status != "done" else None))
            pages.append((page_id, d + 1, pno, f"doc{d:05d}-{pno}", sha, 400, 600, status, annotator,
                          ts(imported), updated, done_by, done_at))
            preds.append((pred_id, page_id, engine, engine_version, model_version, "{}", f"cfg-{engine}",
                          json.dumps(pred_regions), 1.0, ts(imported)))
            actions.extend(page_actions)
            vday = (done_at or updated)[:10]
            for rid, idx, kind, dist, chars, iou, conf in page_verdicts:
                verdicts.append((page_id, pred_id, engine, engine_version, model_version, rid, idx, kind, dist, chars,
                                 iou, conf, None, done_by, vday))
            states.append((page_id, updated, updated, n_wrong, min_conf))
    c.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)", docs)
    c.executemany("INSERT INTO pages (id, document_id, page_no, name, image_sha256, width, height, status, assignee,"
                  " created_at, updated_at, done_by, done_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", pages)
    c.executemany("INSERT INTO predictions (id, page_id, engine, engine_version, model_version, config, config_hash,"
                  " regions, duration_s, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)", preds)
    c.executemany("INSERT INTO regions (id, page_id, points, x0, y0, x1, y1, text, label, confidence, origin,"
                  " prediction_id, pred_index, deleted, locked, version, touched, created_at, updated_at, updated_by)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", regions)
    c.executemany("INSERT INTO actions (id, page_id, user, ts, label, kind, target, undone) VALUES (?,?,?,?,?,?,?,?)",
                  actions)
    c.executemany("INSERT INTO edits (action_id, ts, user, page_id, region_id, field, before, after)"
                  " VALUES (?,?,?,?,?,?,?,?)", edits)
    c.executemany("INSERT INTO reviews (id, page_id, reviewer, verdict, comment, created_at) VALUES (?,?,?,?,?,?)",
                  reviews)
    c.executemany("INSERT INTO annotator_scores (review_id, page_id, annotator, reviewer, regions, changed,"
                  " edit_distance, ref_chars, iou_sum, iou_n, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", scores)
    c.executemany("INSERT INTO review_queue (page_id, reasons, routed_at, annotator, blind, seed, share,"
                  " min_confidence, reviewed_at) VALUES (?,?,?,?,?,?,?,?,?)", queue)
    c.executemany("INSERT INTO verdicts (page_id, prediction_id, engine, engine_version, model_version, region_id,"
                  " pred_index, kind, edit_distance, ref_chars, iou, confidence, mark, annotator, day)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", verdicts)
    c.executemany("INSERT INTO verdict_state (page_id, page_updated_at, refreshed_at, n_wrong, min_confidence)"
                  " VALUES (?,?,?,?,?)", states)
    c.execute("COMMIT")
    c.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    from core.analytics import refresh_activity
    from core.review import rebuild_totals

    project = Project.open(root)
    rebuild_totals(project.store)  # the running totals the Analytics screen reads
    refresh_activity(project.store)  # per person and day, from the edit log
    project.close()
    return {"pages": len(pages), "regions": len(regions), "edits": len(edits), "verdicts": len(verdicts),
            "reviews": len(reviews), "queue": len(queue), "seconds": round(time.perf_counter() - t0, 1)}


def check(root: Path, n: int, seed: int = 2) -> int:
    """Recompute ``n`` random pages' verdicts through core; return how many differ from the generated ones."""
    from core import review

    project = Project.open(root)
    store = project.store
    ids = [r[0] for r in store.query("SELECT id FROM pages")]
    bad = 0
    for pid in random.Random(seed).sample(ids, min(n, len(ids))):
        before = sorted((r["region_id"], r["kind"], r["edit_distance"]) for r in store.query(
            "SELECT region_id, kind, edit_distance FROM verdicts WHERE page_id = ?", (pid,)))
        with store.transaction() as c:
            review.refresh_verdicts(store, pid)  # in this transaction, rolled back below
            after = sorted((r["region_id"], r["kind"], r["edit_distance"]) for r in c.execute(
                "SELECT region_id, kind, edit_distance FROM verdicts WHERE page_id = ?", (pid,)))
            c.execute("ROLLBACK")
            c.execute("BEGIN")  # leave the generated rows as they were
        bad += before != after
    project.close()
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--regions", type=int, default=50, help="predicted regions per page")
    ap.add_argument("--check", type=int, default=20, help="recompute this many pages' verdicts through core")
    args = ap.parse_args(argv)
    if (args.root / DB_NAME).exists():
        print(f"{args.root} already holds a project", file=sys.stderr)
        return 1
    info = generate(args.root, args.pages, args.regions)
    print(json.dumps(info))
    if args.check:
        bad = check(args.root, args.check)
        print(f"verdicts recomputed through core for {args.check} pages: {bad} differ")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
