"""Team-server figures of issue 14: many annotators on one project, pre-fill on several machines.

    .venv/bin/python bench/bench_team.py clients --clients 20 --minutes 5            # people typing
    .venv/bin/python bench/bench_team.py clients --clients 20 --minutes 2 --no-pause # stress
    .venv/bin/python bench/bench_team.py prefill --pages 40                          # 1 vs 2 followers, kill -9

Each run starts its own throwaway PostgreSQL cluster (tests/pgserver.py) with **fsync on**
(``fsync``, ``synchronous_commit`` and ``full_page_writes`` on, as a real server runs; the test
server turns them off; ``--fsync off`` for comparison), prepares the database as a team server
(``core.team.server_init``, an admin ``lead``, one annotator login per client or machine) and
throws it all away afterwards. Measure under ``flock /tmp/bench.lock`` on a shared machine.

``clients``: ``--clients`` processes (multiprocessing, spawn), each signed in with its own login,
edit one project of ``--pages`` pages (small generated images, each pre-filled with
``--regions`` predicted regions through ``store.add_prediction``; no OCR) for ``--minutes``:
``next_page(user=login)`` claims a page (a lease), then a burst of edits on it (3-6 text
corrections with ``expected_version``, a region added, one deleted), a pause of 100-400 ms
before each (``--no-pause``: none), the page marked done, the next page. Every call is timed
around the store call and recorded with what it wrote; every lease held with its times. The parent
then checks against the server: each recorded edit is in the edit log exactly once (per
login, the multiset of (page, region, field, value) rows, and one ``actions`` row per call), the
regions hold the last values written, no page was held by two clients at overlapping times, no
page was claimed by two clients or marked done twice, no page has edits of two logins; and
gives p50/p95/p99 of the commit latency.

``prefill``: ``--pages`` sroie-dev receipts imported into three projects; ``proofdesk prefill URL
--follow --until-idle --workers 1`` (the project's default engine, combined) as one process on the
first, as two processes at once on the second (each its own login and its own image cache:
two machines); pages/s compared. Then the kill case on the third: two followers (without
``--until-idle``: machines that follow), one killed -9 (its process group: the machine dies) once
``--kill-after`` pages are stored; the survivor finishes the dead one's pages when their leases
(60 s) run out, and is stopped once every page has its prediction. Every page must have
exactly one prediction. The same kill with ``--until-idle`` survivors is run too
(``--kill-until-idle``) to show what a script that stops when idle leaves behind. ``--skip-kill``
/ ``--skip-throughput`` run one half; ``--wait-quiet N`` waits (up to N x 10 s) for a 1-minute
load average below 1 before the throughput runs. Throughput is given three ways: pages over the
wall clock of the processes (start-up and model loading included), steady state (from the moment
every follower stored its first task's pages to the last page), and while every follower still
had work; the followers' CPU seconds (their pool workers included) beside it.

Summaries are printed and written as JSON (``--json PATH``, default under /tmp/bench_team/).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ROOT.parent / "shared" / "datasets"
OUT_DIR = Path("/tmp/bench_team")


# -- the server ----------------------------------------------------------------------------------
def bench_server(fsync: bool):
    """A throwaway cluster like the tests', with the durability settings of a real server."""
    from tests.pgserver import PgServer

    class BenchServer(PgServer):
        def _write_settings(self, port: int) -> None:
            super()._write_settings(port)
            if fsync:
                conf = self.datadir / "pgserver.conf"
                text = conf.read_text()
                for name in ("fsync", "synchronous_commit", "full_page_writes"):
                    text = text.replace(f"{name} = off", f"{name} = on")
                self._write_owned(conf, text)

    return BenchServer()


def server_settings(url: str) -> dict:
    import psycopg

    from core.db import parse_url

    with psycopg.connect(parse_url(url).conninfo, autocommit=True) as conn:
        out = {name: conn.execute(f"SHOW {name}").fetchone()[0]
               for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
                            "shared_buffers", "max_connections")}
    return out


def login_url(url: str, name: str, password: str | None) -> str:
    from core.db import parse_url

    return parse_url(url).with_login(name, password).url


def prepare_team(srv, n_members: int, prefix: str) -> tuple[str, str, dict[str, str]]:
    """A database prepared as a team server: (superuser URL, lead's URL, {login: password})."""
    from core import team

    url = srv.create_database("bench")
    lead_pw = secrets.token_urlsafe(12)
    team.server_init(url, "lead", lead_pw)
    logins = {f"{prefix}{i:02d}": secrets.token_urlsafe(12) for i in range(1, n_members + 1)}
    return url, login_url(url, "lead", lead_pw), logins


def add_members(lead_url: str, project: str, logins: dict[str, str]) -> None:
    from core import team
    from core.model import Role

    for name, pw in logins.items():
        team.add_member(f"{lead_url}/{project}", name, Role.ANNOTATOR, pw)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 2)


def lat_summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": pct(values, 0.50), "p95_ms": pct(values, 0.95), "p99_ms": pct(values, 0.99),
            "max_ms": round(max(values), 2) if values else None,
            "mean_ms": round(statistics.fmean(values), 2) if values else None}


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_avg": os.getloadavg(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def write_json(summary: dict, path: str | None, name: str) -> Path:
    out = Path(path) if path else OUT_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    return out


# -- clients: people editing one project -------------------------------------------------------------
def page_image(seed: int) -> bytes:
    """A small white receipt-like page with a few dark bars (a few KB as PNG)."""
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("L", (480, 680), 255)
    d = ImageDraw.Draw(img)
    for i in range(20):
        y = 20 + i * 32
        d.rectangle((20, y + 6, 20 + rng.randint(80, 420), y + 22), fill=rng.randint(0, 80))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_client_project(lead_url: str, logins: dict[str, str], pages: int, regions: int, work: Path) -> dict:
    from core.importer import ImportOptions, import_paths
    from core.model import PredictedRegion, Prediction, box_to_quad
    from core.project import Project

    t0 = time.monotonic()
    project = Project.create(lead_url + "/proj")
    add_members(lead_url, "proj", logins)
    src = work / "pages"
    src.mkdir()
    for i in range(pages):
        (src / f"page{i:05d}.png").write_bytes(page_image(i))
    import_paths(project, [src], ImportOptions(user="lead"))
    t_import = time.monotonic() - t0
    rng = random.Random(7)
    store = project.store
    for page in store.pages():
        regs = tuple(
            PredictedRegion(points=box_to_quad(20, 20 + i * 32, 20 + rng.randint(80, 420), 46 + i * 32),
                            text=f"LINE {i} {rng.randint(0, 99999)}", confidence=round(rng.uniform(0.3, 1.0), 3))
            for i in range(regions))
        store.add_prediction(Prediction(page_id=page.id, engine="bench", engine_version="0", config={},
                                        config_hash="bench", regions=regs))
    counts = store.status_counts()
    project.close()
    return {"pages": pages, "regions_per_page": regions, "import_s": round(t_import, 1),
            "setup_s": round(time.monotonic() - t0, 1), "status": counts}


def client_main(url: str, login: str, seed: int, duration_s: float, pause: tuple[float, float], out: str,
                ready, go, start_at) -> None:
    """One annotator: claim, edit, mark done, repeat until the time is up; record everything."""
    from core.errors import ConflictError
    from core.model import PageStatus, box_to_quad
    from core.project import Project
    from core.queue import next_page

    rng = random.Random(seed)
    project = Project.open(url)
    store = project.store
    attempts = [0]
    claim_first = store.claim_first

    def counted_claim(*a, **kw):  # how many claim transactions next_page takes (one since claim_first)
        attempts[0] += 1
        return claim_first(*a, **kw)

    store.claim_first = counted_claim
    store.regions(1)  # connect now, not in the first timed call
    ready.put(login)
    go.wait()
    wait = start_at.value - time.time()
    if wait > 0:
        time.sleep(wait)
    deadline = time.time() + duration_s
    ops: list[dict] = []
    leases: list[dict] = []
    claims: list[float] = []
    tries: list[int] = []
    errors: list[str] = []
    loads: list[float] = []
    counter = 0
    current = None
    queue_empty = False

    def timed(kind: str, page: int, region: int | None, value, fn, *args, **kwargs):
        t0w, t0 = time.time(), time.perf_counter()
        result = fn(*args, **kwargs)
        ms = (time.perf_counter() - t0) * 1000
        ops.append({"op": kind, "page": page, "region": region, "value": value, "t0": t0w, "t1": time.time(),
                    "ms": ms})
        return result

    def think():
        if pause[1] > 0:
            time.sleep(rng.uniform(*pause))

    try:
        while time.time() < deadline:
            t0 = time.perf_counter()
            attempts[0] = 0
            page = next_page(store, current, user=login)
            claims.append((time.perf_counter() - t0) * 1000)
            tries.append(attempts[0])
            if page is None:
                queue_empty = True
                break
            lease = {"page": page, "from": time.time(), "to": None, "done": False}
            leases.append(lease)
            current = page
            try:
                t0 = time.perf_counter()
                regs = store.regions(page)
                loads.append((time.perf_counter() - t0) * 1000)
                versions = {r.id: r.version for r in regs}
                live = [r.id for r in regs]
                for _ in range(rng.randint(3, 6)):
                    think()
                    rid = rng.choice(live)
                    counter += 1
                    value = f"{login} {page} #{counter}"
                    versions[rid] = timed("text", page, rid, value, store.update_region, login, rid,
                                          expected_version=versions[rid], text=value)
                think()
                counter += 1
                value = f"{login} added #{counter}"
                y = rng.randint(0, 600)
                new = timed("add", page, None, value, store.add_region, login, page,
                            box_to_quad(30, y, 300, y + 20), text=value)
                ops[-1]["region"] = new
                versions[new] = 1
                live.append(new)
                think()
                rid = rng.choice(live)
                versions[rid] = timed("delete", page, rid, True, store.update_region, login, rid,
                                      expected_version=versions[rid], deleted=True)
                live.remove(rid)
                think()
                lease["to"] = time.time()
                timed("done", page, None, "done", store.set_page_status, login, page, PageStatus.DONE)
                lease["done"] = True
            except ConflictError as exc:
                errors.append(f"conflict on page {page}: {exc}")
                lease["to"] = lease["to"] or time.time()
            except Exception as exc:  # recorded, the client goes on
                try:
                    again = len(store.regions(page))
                    raw = store.conn.raw.execute("SELECT count(*), count(*) FILTER (WHERE deleted = 0)"
                                                 " FROM regions WHERE page_id = %s", (page,)).fetchone()
                    st = store.conn.raw.execute("SELECT status, done_by FROM pages WHERE id = %s", (page,)).fetchone()
                    detail = f" (read again: {again} regions; raw {tuple(raw)}; page {st})"
                except Exception as exc2:  # noqa: BLE001
                    detail = f" (and reading again: {exc2})"
                errors.append(f"page {page}: {type(exc).__name__}: {exc}{detail}")
                lease["to"] = lease["to"] or time.time()
    finally:
        Path(out).write_text(json.dumps({"login": login, "ops": ops, "leases": leases, "claims_ms": claims, "claim_tries": tries,
                                         "loads_ms": loads, "errors": errors, "queue_empty": queue_empty}))
        project.close()


def check_clients(lead_url: str, records: list[dict]) -> dict:
    """Compare what the clients recorded with what the server holds."""
    import psycopg

    from core.db import parse_url

    loc = parse_url(lead_url + "/proj")
    conn = psycopg.connect(loc.conninfo, autocommit=True)
    conn.execute("SET search_path TO proj")
    edits = conn.execute('SELECT "user", page_id, region_id, field, after FROM edits').fetchall()
    actions = collections.Counter(r[0] for r in conn.execute(
        'SELECT "user" FROM actions WHERE kind = \'do\'').fetchall())
    regions = {r[0]: (r[1], r[2], r[3]) for r in conn.execute("SELECT id, text, deleted, page_id FROM regions")}
    done_rows = collections.Counter(r[0] for r in conn.execute(
        "SELECT page_id FROM edits WHERE field = 'status' AND after = '\"done\"'").fetchall())
    users_per_page = collections.defaultdict(set)
    for user, page, *_ in edits:
        users_per_page[page].add(user)
    leases_left = conn.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    statuses = dict(conn.execute("SELECT status, COUNT(*) FROM pages GROUP BY status").fetchall())
    conn.close()

    def db_key(field, after):
        value = json.loads(after)
        if field == "region":
            value = value["text"]
        if field == "deleted":
            value = bool(value)
        return field, value

    actual = collections.defaultdict(collections.Counter)
    for user, page, region, field, after in edits:
        actual[user][(page, region, *db_key(field, after))] += 1
    lost = duplicated = calls = 0
    action_mismatch = {}
    examples = []
    last_text: dict[int, str] = {}
    deleted: set[int] = set()
    intervals = collections.defaultdict(list)
    claimed_by = collections.defaultdict(set)
    done_by = collections.defaultdict(set)
    for rec in records:
        login = rec["login"]
        expected = collections.Counter()
        pages_seen = set()
        for op in sorted(rec["ops"], key=lambda o: o["t0"]):
            calls += 1
            page = op["page"]
            if page not in pages_seen and op["op"] != "done":
                pages_seen.add(page)
                expected[(page, None, "status", "in_progress")] += 1  # the page's first human change
            if op["op"] == "text":
                expected[(page, op["region"], "text", op["value"])] += 1
                last_text[op["region"]] = op["value"]
            elif op["op"] == "add":
                expected[(page, op["region"], "region", op["value"])] += 1
                last_text[op["region"]] = op["value"]
            elif op["op"] == "delete":
                expected[(page, op["region"], "deleted", True)] += 1
                deleted.add(op["region"])
            elif op["op"] == "done":
                expected[(page, None, "status", "done")] += 1
                done_by[page].add(login)
        missing = expected - actual[login]
        extra = actual[login] - expected
        lost += sum(missing.values())
        duplicated += sum(extra.values())
        examples += [("lost", login, k) for k in list(missing)[:3]] + [("extra", login, k) for k in list(extra)[:3]]
        if actions[login] != len(rec["ops"]):
            action_mismatch[login] = (len(rec["ops"]), actions[login])
        for lease in rec["leases"]:
            intervals[lease["page"]].append((lease["from"], lease["to"] or lease["from"], login))
            claimed_by[lease["page"]].add(login)
    overlaps = 0
    for spans in intervals.values():
        spans.sort()
        for i, (b0, _b1, lb) in enumerate(spans):  # any earlier span of another client still open at b0
            if any(la != lb and b0 < a1 for _a0, a1, la in spans[:i]):
                overlaps += 1
    wrong_values = [rid for rid, text in last_text.items() if regions.get(rid, (None,))[0] != text]
    wrong_deleted = [rid for rid in deleted if not regions.get(rid, (None, 0))[1]]
    return {
        "calls_recorded": calls,
        "edit_rows_on_server": len(edits),
        "lost_edits": lost,
        "duplicated_or_unexpected_edits": duplicated,
        "examples": [list(map(str, e)) for e in examples[:10]],
        "logins_whose_action_count_differs": action_mismatch,
        "regions_checked": len(last_text),
        "regions_not_holding_last_value": len(wrong_values) + len(wrong_deleted),
        "pages_claimed": len(intervals),
        "pages_claimed_by_two_clients": sum(1 for s in claimed_by.values() if len(s) > 1),
        "pages_held_by_two_at_overlapping_times": overlaps,
        "pages_marked_done_twice": sum(1 for n in done_rows.values() if n > 1),
        "pages_marked_done_by_two_clients": sum(1 for s in done_by.values() if len(s) > 1),
        "pages_with_edits_of_two_logins": sum(1 for s in users_per_page.values() if len(s - {"lead"}) > 1),
        "leases_left": leases_left,
        "page_statuses": statuses,
    }


def run_clients(args) -> dict:
    logging_quiet()
    work = Path(tempfile.mkdtemp(prefix="bench-team-"))
    os.environ["PROOFDESK_DATA_DIR"] = str(work / "data")
    srv = bench_server(args.fsync == "on")
    srv.start()
    try:
        url, lead_url, logins = prepare_team(srv, args.clients, "ann")
        settings = server_settings(url)
        print(f"server: PostgreSQL {settings['server_version']}, fsync {settings['fsync']}, synchronous_commit"
              f" {settings['synchronous_commit']}", flush=True)
        setup = make_client_project(lead_url, logins, args.pages, args.regions, work)
        print(f"project: {setup}", flush=True)
        pause = (0.0, 0.0) if args.no_pause else (0.1, 0.4)
        ctx = mp.get_context("spawn")
        ready, go, start_at = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
        procs, outs = [], []
        for i, (name, pw) in enumerate(logins.items()):
            out = work / f"client-{name}.json"
            outs.append(out)
            p = ctx.Process(target=client_main, args=(login_url(url, name, pw) + "/proj", name, 1000 + i,
                                                      args.minutes * 60, pause, str(out), ready, go, start_at))
            p.start()
            procs.append(p)
        for _ in procs:
            ready.get(timeout=300)
        load_before = os.getloadavg()
        start_at.value = time.time() + 1.0
        go.set()
        t_start = start_at.value
        for p in procs:
            p.join()
        wall = time.time() - t_start
        load_after = os.getloadavg()
        records = [json.loads(o.read_text()) for o in outs if o.exists()]
        if any(r.get("errors") for r in records):  # keep the clients' records to look at
            keep = Path(tempfile.mkdtemp(prefix="bench-team-errors-", dir="/tmp"))
            for o in outs:
                if o.exists():
                    shutil.copy(o, keep / o.name)
            print(f"errors: the clients' records are kept in {keep}", flush=True)
        check = check_clients(lead_url, records)
        ops = [op for r in records for op in r["ops"]]
        by_kind = collections.defaultdict(list)
        for op in ops:
            by_kind[op["op"]].append(op["ms"])
        edits_ms = by_kind["text"] + by_kind["add"] + by_kind["delete"]
        summary = {
            "figure": "clients", "clients": args.clients, "minutes": args.minutes,
            "pause_s": list(pause), "machine": machine(), "server": settings, "setup": setup,
            "wall_s": round(wall, 1), "load_before": load_before, "load_after": load_after,
            "exit_codes": [p.exitcode for p in procs], "client_files": len(records),
            "queue_ran_out": sum(1 for r in records if r["queue_empty"]),
            "errors": [e for r in records for e in r["errors"]][:20],
            "n_errors": sum(len(r["errors"]) for r in records),
            "pages_done": len(by_kind["done"]), "calls": len(ops), "calls_per_s": round(len(ops) / wall, 1),
            "latency": {
                "edit (text, add, delete)": lat_summary(edits_ms),
                "text": lat_summary(by_kind["text"]), "add": lat_summary(by_kind["add"]),
                "delete": lat_summary(by_kind["delete"]), "mark done": lat_summary(by_kind["done"]),
                "every call": lat_summary([op["ms"] for op in ops]),
                "next_page (claim)": lat_summary([c for r in records for c in r["claims_ms"]]),
                "load page regions": lat_summary([c for r in records for c in r["loads_ms"]]),
            },
            "check": check,
        }
        tries = sorted(t for r in records for t in r["claim_tries"])
        if tries:
            summary["claim_transactions_per_next_page"] = {
                "mean": round(statistics.fmean(tries), 2), "p50": pct(tries, 0.5), "p95": pct(tries, 0.95),
                "max": tries[-1], "refused_in_all": sum(t - 1 for t in tries)}
        c = check
        summary["passed"] = {
            "no lost or duplicated edits": c["lost_edits"] == 0 and c["duplicated_or_unexpected_edits"] == 0
            and not c["logins_whose_action_count_differs"] and c["regions_not_holding_last_value"] == 0,
            "no page claimed twice": c["pages_claimed_by_two_clients"] == 0
            and c["pages_held_by_two_at_overlapping_times"] == 0 and c["pages_marked_done_twice"] == 0
            and c["pages_with_edits_of_two_logins"] == 0,
            "p95 edit commit <= 30 ms": (summary["latency"]["edit (text, add, delete)"]["p95_ms"] or 1e9) <= 30,
        }
        return summary
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


# -- prefill: followers on several machines ------------------------------------------------------------
def logging_quiet() -> None:
    import logging

    logging.getLogger().setLevel(logging.WARNING)


def pred_rows(lead_url: str, project: str) -> list[tuple]:
    import psycopg

    from core.db import parse_url

    with psycopg.connect(parse_url(lead_url).conninfo, autocommit=True) as conn:
        return conn.execute(f"SELECT page_id, engine, created_at FROM {project}.predictions ORDER BY created_at"
                            ).fetchall()


def start_follower(url: str, login: str, password: str, work: Path, tag: str, until_idle: bool) -> subprocess.Popen:
    """``proofdesk prefill URL --follow`` as its own machine: own login (password in the
    environment), own data folder (image cache), own process group."""
    from core.db import parse_url

    loc = parse_url(url)
    target = parse_url(login_url(url, login, None)).url  # no password in the command line
    env = dict(os.environ, PROOFDESK_PASSWORD=password, PROOFDESK_DATA_DIR=str(work / f"data-{tag}"),
               PYTHONPATH=str(ROOT))
    assert loc.project
    cmd = [sys.executable, "-m", "app.cli", "prefill", target, "--follow", "--workers", "1"]
    if until_idle:
        cmd.append("--until-idle")
    log = open(work / f"{tag}.log", "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def follower_run(lead_url: str, project: str, members: list[tuple[str, str]], work: Path, tag: str) -> dict:
    import resource

    t0, t0_wall = time.monotonic(), time.time()
    load_before = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [start_follower(f"{lead_url}/{project}", name, pw, work, f"{tag}-{name}", True) for name, pw in members]
    ended: dict[int, float] = {}
    while len(ended) < len(procs):
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.time()
        time.sleep(0.1)
    codes = [p.returncode for p in procs]
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the followers and their pool workers (reaped)
    cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rows = pred_rows(lead_url, project)
    per_page = collections.Counter(r[0] for r in rows)
    # Steady state: from the moment every follower has stored its first task's pages (start-up,
    # model loading and the first task left out) to the last page; "while all ran": to the last
    # page of the follower that ran out of work first. Which follower stored a page: its log.
    stamp = {r[0]: dt.datetime.fromisoformat(r[2]).timestamp() for r in rows}
    stored_by = []
    for name, _ in members:
        ids = [int(m) for m in re.findall(r"pre-filled page (\d+)", (work / f"{tag}-{name}.log").read_text())]
        stored_by.append([stamp[i] for i in ids if i in stamp])
    stamps = sorted(stamp.values())
    both = steady_rate = None
    if stamps and all(stored_by):
        t_ready = max(min(ts) for ts in stored_by)
        after = [t for t in stamps if t > t_ready]
        if after:
            steady_rate = round(len(after) / (stamps[-1] - t_ready), 3)
        t_first_out = min(max(ts) for ts in stored_by)
        window = [t for t in stamps if t_ready < t <= t_first_out]
        if window and t_first_out > t_ready:
            both = round(len(window) / (t_first_out - t_ready), 3)
    out = {"followers": len(procs), "exit_codes": codes, "wall_s": round(wall, 1), "pages": len(per_page),
           "s_first_page_after_start": round(stamps[0] - t0_wall, 1) if stamps
           else None,
           "pages_stored_by_each": [len(ts) for ts in stored_by],
           "last_page_of_each_s_after_start": [round(max(ts) - t0_wall, 1) if ts else None for ts in stored_by],
           "pages_per_s_while_all_ran": both,
           "follower_cpu_s": round(cpu_s, 1), "follower_cpu_s_per_page": round(cpu_s / max(1, len(per_page)), 2),
           "cores_busy_with_followers": round(cpu_s / wall, 2),
           "predictions": len(rows), "engines": sorted({r[1] for r in rows}),
           "pages_prefilled_twice": sum(1 for n in per_page.values() if n > 1),
           "pages_per_s_wall": round(len(per_page) / wall, 3), "pages_per_s_steady": steady_rate,
           "load_before": load_before, "load_after": os.getloadavg(),
           "log_tail": {n: (work / f"{tag}-{n}.log").read_text().splitlines()[-3:] for n, _ in members}}
    print(f"{tag}: {out}", flush=True)
    return out


def kill_run(lead_url: str, project: str, members: list[tuple[str, str]], work: Path, tag: str, n_pages: int,
             kill_after: int, until_idle: bool, limit_s: float = 600) -> dict:
    """Two followers; the first is killed -9 (its whole process group) once ``kill_after`` pages are
    stored; the survivor runs until every page has a prediction (or it exits: ``until_idle``)."""
    from core.lease_store import LEASE_S

    t0 = time.monotonic()
    procs = [start_follower(f"{lead_url}/{project}", name, pw, work, f"{tag}-{name}", until_idle)
             for name, pw in members]
    victim, survivor = procs
    from core.store import now

    killed_at = all_at = None
    victim_alive = None
    held_at_kill: list[int] = []
    done_at_kill = 0
    import psycopg

    from core.db import parse_url

    def victim_leases() -> list[int]:
        # a follower's lease holder is prefill@HOST:PID (the CLI process, the group leader)
        with psycopg.connect(parse_url(lead_url).conninfo, autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                f"SELECT page_id FROM {project}.leases WHERE holder LIKE %s AND expires_at > %s",
                (f"%:{victim.pid}", now())).fetchall()]

    while time.monotonic() - t0 < limit_s:
        rows = pred_rows(lead_url, project)
        # killed while it holds pages it has not stored: what the lease expiry must recover
        if killed_at is None and len(rows) >= kill_after and (victim.poll() is not None or victim_leases()):
            victim_alive = victim.poll() is None
            os.killpg(victim.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            victim.wait(60)
            rows = pred_rows(lead_url, project)
            done_at_kill = len(rows)
            stored = {r[0] for r in rows}
            held_at_kill = [p for p in victim_leases() if p not in stored]
            print(f"{tag}: killed {members[0][0]} (running: {victim_alive}) after {len(rows)} pages stored,"
                  f" holding {held_at_kill}", flush=True)
        if len({r[0] for r in rows}) >= n_pages and all_at is None:
            all_at = time.monotonic()
            if not until_idle:
                break
        if survivor.poll() is not None:
            break
        time.sleep(0.5)
    finished = time.monotonic()
    survivor_code = survivor.poll()
    if survivor_code is None:
        survivor.send_signal(signal.SIGINT)  # Ctrl-C: a follower keeps what it stored and stops
        try:
            survivor_code = survivor.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(survivor.pid, signal.SIGKILL)
            survivor_code = survivor.wait(60)
    if victim.poll() is None:  # never killed (the survivor ended first): stop it now
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(60)
    rows = pred_rows(lead_url, project)
    per_page = collections.Counter(r[0] for r in rows)
    out = {"until_idle": until_idle, "lease_s": LEASE_S["prefill"], "pages": n_pages,
           "killed_after_pages": done_at_kill, "victim_held_at_kill": held_at_kill,
           "victim_pages_finished_by_survivor": sum(1 for p in held_at_kill if per_page.get(p)),
           "pages_with_a_prediction": len(per_page), "pages_without": n_pages - len(per_page),
           "pages_prefilled_twice": sum(1 for n in per_page.values() if n > 1),
           "survivor_exit_code": survivor_code,
           "victim_running_when_killed": victim_alive,
           "s_from_kill_to_all_pages": round(all_at - killed_at, 1) if killed_at and all_at else None,
           "survivor_stopped_by": "itself" if survivor_code not in (130, -2) else "SIGINT from the benchmark",
           "wall_s": round(finished - t0, 1), "load_after": os.getloadavg(),
           "log_tail": {n: (work / f"{tag}-{n}.log").read_text().splitlines()[-3:] for n, _ in members}}
    print(f"{tag}: {out}", flush=True)
    return out


def run_prefill(args) -> dict:
    from core.importer import ImportOptions, import_paths
    from core.prefill_engine import prefill_engine
    from core.project import Project

    logging_quiet()
    work = Path(tempfile.mkdtemp(prefix="bench-team-pf-"))
    os.environ["PROOFDESK_DATA_DIR"] = str(work / "data")
    images = sorted((DATASETS / "sroie-dev").glob("*.jpg"))[: args.pages]
    if len(images) < args.pages:
        raise SystemExit(f"only {len(images)} images in {DATASETS / 'sroie-dev'}")
    src = work / "src"
    src.mkdir()
    for img in images:
        shutil.copy(img, src / img.name)
    srv = bench_server(args.fsync == "on")
    srv.start()
    try:
        url, lead_url, logins = prepare_team(srv, 2, "box")
        settings = server_settings(url)
        members = list(logins.items())
        projects = ((["one", "two"] if not args.skip_throughput else []) + (["killed"] if not args.skip_kill else [])
                    + (["killidle"] if args.kill_until_idle else []))
        engines = {}
        for name in projects:
            project = Project.create(f"{lead_url}/{name}")
            add_members(lead_url, name, logins)
            import_paths(project, [src], ImportOptions(user="lead"))
            engines[name] = prefill_engine(project.store)
            project.close()
        print(f"server {settings}; projects {projects} with {args.pages} pages each; engine {engines}", flush=True)
        summary = {"figure": "prefill", "pages": args.pages, "machine": machine(), "server": settings,
                   "default_engine": engines}
        if not args.skip_throughput:
            for _ in range(args.wait_quiet):  # at most this many 10 s waits for a 1-minute load below 1
                if os.getloadavg()[0] < 1.0:
                    break
                time.sleep(10)
            one = follower_run(lead_url, "one", members[:1], work, "one")
            two = follower_run(lead_url, "two", members, work, "two")
            summary["one_follower"], summary["two_followers"] = one, two
            for key in ("pages_per_s_wall", "pages_per_s_steady", "pages_per_s_while_all_ran"):
                if one[key] and two[key]:
                    summary[f"speedup_{key[len('pages_per_s_'):]}"] = round(two[key] / one[key], 2)
        kill_after = args.kill_after or max(2, args.pages // 4)
        if not args.skip_kill:
            summary["kill"] = kill_run(lead_url, "killed", members, work, "kill", args.pages, kill_after, False)
        if args.kill_until_idle:
            summary["kill_until_idle"] = kill_run(lead_url, "killidle", members, work, "killidle", args.pages,
                                                  kill_after, True)
        summary["passed"] = {
            "no page pre-filled twice": all(summary[s]["pages_prefilled_twice"] == 0 for s in
                                            ("one_follower", "two_followers", "kill") if s in summary)}
        if "kill" in summary:
            k = summary["kill"]
            summary["passed"]["killed worker's pages finished by the other"] = (
                k["pages_without"] == 0 and k["victim_pages_finished_by_survivor"] == len(k["victim_held_at_kill"]))
        if "speedup_steady" in summary:
            summary["passed"]["2 followers >= 1.7x one (steady)"] = summary["speedup_steady"] >= 1.7
        return summary
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="figure", required=True)
    c = sub.add_parser("clients", help="annotators editing one project at once")
    c.add_argument("--clients", type=int, default=20)
    c.add_argument("--minutes", type=float, default=5)
    c.add_argument("--pages", type=int, default=4000, help="enough for 20 clients for 5 min with pauses (~3000)")
    c.add_argument("--regions", type=int, default=20)
    c.add_argument("--no-pause", action="store_true", help="no pause between edits (a stress figure)")
    p = sub.add_parser("prefill", help="pre-fill with 1 and 2 --follow processes, and a killed one")
    p.add_argument("--pages", type=int, default=40)
    p.add_argument("--kill-after", type=int, default=0, help="kill once this many pages are stored (default pages/4)")
    p.add_argument("--kill-until-idle", action="store_true", help="also the kill case with --until-idle survivors")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-kill", action="store_true")
    p.add_argument("--wait-quiet", type=int, default=0, metavar="N",
                   help="before the throughput runs, wait up to N x 10 s for a 1-minute load average below 1")
    for sp in (c, p):
        sp.add_argument("--fsync", choices=["on", "off"], default="on")
        sp.add_argument("--json", help="where to write the summary (default /tmp/bench_team/FIGURE-TIME.json)")
    args = ap.parse_args(argv)
    summary = run_clients(args) if args.figure == "clients" else run_prefill(args)
    print(json.dumps(summary, indent=2, default=str))
    print(f"written to {write_json(summary, args.json, args.figure)}")
    return 0 if all(summary.get("passed", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
