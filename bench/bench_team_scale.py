"""Team server at scale (issue 14): the workspace on a team project, and the Moderate screen's
filters and counts on 100,000 pages / 5,000,000 regions, on PostgreSQL and on SQLite.

A benchmark server (tests/pgserver.py's throwaway cluster, but durable: fsync, synchronous_commit
and full_page_writes on; shared_buffers 1GB, work_mem 64MB), kept up until Ctrl-C / SIGTERM, which
stops it and deletes its folder::

    .venv/bin/python bench/bench_team_scale.py serve --url-file /tmp/ts/url &

The moderation project: the review generator's project, ten times bigger, copied to the server::

    .venv/bin/python bench/gen_review_project.py /tmp/ts/big --pages 100000      # 5,000,000 regions
    .venv/bin/python bench/bench_team_scale.py migrate /tmp/ts/big "$(cat /tmp/ts/url)/big"   # + ANALYZE
    flock /tmp/bench.lock .venv/bin/python bench/bench_team_scale.py moderate "$(cat /tmp/ts/url)/big"
    flock /tmp/bench.lock .venv/bin/python bench/bench_team_scale.py moderate /tmp/ts/big

Each query is run once to warm up, then ``--repeat`` times (default 5): median and worst, in ms.
``--explain`` prints PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of every query slower than the target.

The workspace (bench/bench_workspace.py's figures 1 and 2 and the text edit, on a 3-page project
of 4000x6000 JPEGs with 800 regions a page; images cached on this machine)::

    flock /tmp/bench.lock .venv/bin/python bench/bench_team_scale.py workspace "$(cat /tmp/ts/url)"
    flock /tmp/bench.lock .venv/bin/python bench/bench_team_scale.py workspace /tmp/ts/ws
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.pgserver import PgServer  # noqa: E402

TARGET_MS = 500.0


class BenchServer(PgServer):
    """tests/pgserver.py's cluster with durable settings: what a team server runs with."""

    SETTINGS = ("fsync = on\n"
                "synchronous_commit = on\n"
                "full_page_writes = on\n"
                "shared_buffers = 1GB\n"
                "work_mem = 64MB\n"
                "maintenance_work_mem = 512MB\n"
                "max_wal_size = 4GB\n"
                "max_connections = 100\n")

    def _write_settings(self, port: int) -> None:
        self.port = port
        self._write_owned(self.datadir / "pgserver.conf", (
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{self.base}'\n" + self.SETTINGS))


def cmd_serve(args) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with BenchServer() as srv:
        url = srv.create_database(args.database)
        import psycopg

        with psycopg.connect(srv.url(), autocommit=True) as c:
            settings = {k: c.execute(f"SHOW {k}").fetchone()[0] for k in
                        ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers",
                         "work_mem", "random_page_cost", "effective_cache_size")}
        print(f"serving {srv.datadir} on port {srv.port}: {settings}", flush=True)
        Path(args.url_file).write_text(url)
        while not stop.wait(1.0):
            pass
        Path(args.url_file).unlink(missing_ok=True)
    print("stopped; cluster deleted", flush=True)
    return 0


def cmd_migrate(args) -> int:
    from core.migrate import migrate
    from core.project import Project

    last = [0.0]

    def progress(what, done, total):
        now = time.monotonic()
        if now - last[0] > 15 or done == total:
            last[0] = now
            print(f"  {what}: {done:,} / {total:,}", flush=True)

    t0 = time.perf_counter()
    report = migrate(args.source, args.target, progress=progress)
    print("\n".join(report.lines()))
    t1 = time.perf_counter()
    project = Project.open(args.target)
    project.store.conn.execute("ANALYZE")
    project.close()
    print(f"migrate {t1 - t0:.0f} s (its own figure {report.seconds:.0f} s); ANALYZE {time.perf_counter() - t1:.0f} s")
    return 0


def _timed(fn, repeat: int) -> tuple[float, float]:
    """(median, worst) ms of ``repeat`` calls after one warm-up (bench_review's timing)."""
    import bench_review

    fn()  # warm-up
    return bench_review._ms(fn, repeat)


def cmd_moderate(args) -> int:
    from core import review
    from core.project import Project

    load_before = os.getloadavg()
    project = Project.open(args.location, readonly=True)
    store = project.store
    pg = project.server is not None
    n_pages = store.count_pages()
    n_regions = store.query("SELECT COUNT(*) FROM regions")[0][0]
    print(f"{project.where}: {n_pages:,} pages, {n_regions:,} regions", file=sys.stderr, flush=True)

    captured: list[tuple[str, tuple]] = []
    plain_query = store.query

    def capturing_query(sql, params=()):
        captured.append((sql, tuple(params)))
        return plain_query(sql, params)

    F = review.ModerateFilter
    filters = [  # bench/bench_review.py's filters, and the screen's other date ranges
        ("no filter", F()),
        ("annotated 2026-10-01..10-15", F(date_from="2026-10-01", date_to="2026-10-15")),
        ("annotated 2026-09-25..11-23", F(date_from="2026-09-25", date_to="2026-11-23")),
        ("annotated 2026-11-01..11-07", F(date_from="2026-11-01", date_to="2026-11-07")),
        ("imported 2026-10-01..10-15, status done", F(date_field="imported", date_from="2026-10-01",
                                                       date_to="2026-10-15", status="done")),
        ("annotator + has wrong predictions", F(annotator="annotator03", has_wrong=True)),
        ("model version rec-latin-2", F(model_version="rec-latin-2")),
        ("confidence below 0.6", F(confidence_below=0.6)),
        ("engine neural, confidence below 0.6", F(engine="neural", confidence_below=0.6)),
        ("review queue only", F(routed_only=True)),
    ]
    from app.review.moderate import LIST_LIMIT

    rows = []
    slow = []

    def add(what, query, fn):
        captured.clear()
        store.query = capturing_query
        try:
            fn()
        finally:
            store.query = plain_query
        statements = list(captured)
        med, worst = _timed(fn, args.repeat)
        rows.append((what, query, med, worst))
        print(f"{what:<42} {query:<22} {med:9.1f} {worst:9.1f}", file=sys.stderr, flush=True)
        if worst > TARGET_MS or args.explain_all:
            slow.append((what, query, statements))

    for label, f in filters:
        add(label, "counts", lambda f=f: review.moderate_counts(store, f, viewer=args.viewer))
        add(label, f"list ({LIST_LIMIT:,} rows)",
            lambda f=f: review.moderate_pages(store, f, viewer=args.viewer, limit=LIST_LIMIT))
        add(label, "counts + list", lambda f=f: (review.moderate_counts(store, f, viewer=args.viewer),
                                                  review.moderate_pages(store, f, viewer=args.viewer,
                                                                        limit=LIST_LIMIT)))
    add("the filters' choices", "filter_choices", lambda: review.filter_choices(store))
    load_after = os.getloadavg()

    if args.explain and pg:
        for what, query, statements in slow:
            for sql, params in statements:
                if "FROM pages p" not in sql and "DISTINCT" not in sql:
                    continue
                print(f"\n-- {what} / {query}\n{sql}\n{params}")
                for r in store.query("EXPLAIN (ANALYZE, BUFFERS) " + sql, params):
                    print(r[0])
    project.close()

    worst_row = max(rows, key=lambda r: r[3])
    print(f"\n{project.where}: {n_pages:,} pages, {n_regions:,} regions, {'PostgreSQL' if pg else 'SQLite'};"
          f" median and worst of {args.repeat} after one warm-up; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| filter | query | median ms | worst ms |")
    print("|---|---|---:|---:|")
    for what, query, med, worst in rows:
        print(f"| {what} | {query} | {med:.0f} | {worst:.0f} |")
    print(f"\nworst single run: {worst_row[3]:.0f} ms ({worst_row[0]}, {worst_row[1]});"
          f" slowest median: {max(r[2] for r in rows):.0f} ms")
    return 0


def cmd_workspace(args) -> int:
    import bench_workspace as bw
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="bench_team_ws_"))
    os.environ["PROOFDESK_DATA_DIR"] = str(tmp / "data")  # this machine's cache of the team project
    app = QApplication.instance() or QApplication([])
    from app.main import warm_up
    from app.main_window import MainWindow
    from core.queue import next_page

    warm_up()
    team = args.location.startswith("postgresql://")
    location = f"{args.location}/{args.project}" if team else str(Path(args.location) / args.project)
    user = "pdadmin" if team else "bench"
    t = time.perf_counter()
    project = bw.build_project(tmp, 3, location)
    print(f"built {project.where}: 3 pages, {bw.N_REGIONS} regions each, {bw.W}x{bw.H} JPEG:"
          f" {time.perf_counter() - t:.1f} s", flush=True)
    cached = [project.image_path(p) for p in project.store.pages()]
    assert all(p.is_file() and str(p).startswith(str(tmp if team else args.location)) for p in cached), cached
    load_before = os.getloadavg()

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(project, user, settings)
    window.resize(1600, 1000)
    window.show()
    ws = window.workspace
    pages = [p.id for p in project.store.pages()]
    bw.wait(app, lambda: ws.canvas.has_image(full=True))

    # 1. Open a page, nothing in the loader's cache (the image file cached on this machine).
    cold, cold_full = [], []
    for _ in range(args.repeats):
        target = pages[2] if ws.page_id != pages[2] else pages[1]
        ws.loader.cache.clear()
        ws.loader.wait()
        app.processEvents()
        t = time.perf_counter()
        ws.open_page(target)
        bw.drawn(window)
        cold.append(time.perf_counter() - t)
        assert len(ws.canvas.items_by_id) == bw.N_REGIONS and ws.list.model_.rowCount() == bw.N_REGIONS
        bw.wait(app, lambda: ws.canvas.has_image(full=True))
        bw.drawn(window)
        cold_full.append(time.perf_counter() - t)

    # 2. Next page from the queue, loaded ahead.
    warm = []
    for _ in range(args.repeats):
        nxt = next_page(project.store, current=ws.page_id)
        bw.wait(app, lambda nxt=nxt: (d := ws.loader.cache.get(nxt)) is not None and bool(d.images))
        t = time.perf_counter()
        ws.open_next_page()
        bw.drawn(window)
        warm.append(time.perf_counter() - t)
        assert ws.page_id == nxt and ws.canvas.has_image(full=True)

    # 3. One text edit committed (store action: on a server, a transaction with its lock).
    regions = list(ws.list.model_.regions)
    edits = []
    for i in range(args.edits):
        r = regions[i % len(regions)]
        t = time.perf_counter()
        assert ws.commit_text(r.id, f"edited {i}")
        edits.append(time.perf_counter() - t)
    load_after = os.getloadavg()

    def ms(xs):
        return f"{statistics.median(xs) * 1000:.1f} ms median, {max(xs) * 1000:.1f} ms max"

    print(f"{'PostgreSQL' if team else 'SQLite'} {project.where}; load average before {load_before[0]:.2f},"
          f" after {load_after[0]:.2f}")
    print(f"open a page of {bw.N_REGIONS} regions, image cached (regions drawn): {ms(cold)}")
    print(f"open a page, full {bw.W}x{bw.H} image decoded and drawn: {ms(cold_full)}")
    print(f"next page from the queue, preloaded: {ms(warm)}")
    print(f"one text edit committed: {statistics.median(edits) * 1000:.2f} ms median, "
          f"p95 {sorted(edits)[int(len(edits) * 0.95)] * 1000:.2f} ms")
    window.close()
    project.close()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    if not team:
        shutil.rmtree(location, ignore_errors=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a benchmark PostgreSQL server until Ctrl-C / SIGTERM")
    s.add_argument("--url-file", required=True, help="where to write the database's URL")
    s.add_argument("--database", default="bench")
    m = sub.add_parser("migrate", help="copy a project folder to the server (core.migrate), then ANALYZE")
    m.add_argument("source")
    m.add_argument("target")
    q = sub.add_parser("moderate", help="time the Moderate screen's queries")
    q.add_argument("location", help="a project folder or postgresql://.../DB/PROJECT")
    q.add_argument("--repeat", type=int, default=5)
    q.add_argument("--viewer", default="boss", help="who looks (the generator makes boss an admin)")
    q.add_argument("--explain", action="store_true", help=f"EXPLAIN ANALYZE what is over {TARGET_MS:.0f} ms")
    q.add_argument("--explain-all", action="store_true", help="with --explain: every query")
    w = sub.add_parser("workspace", help="open a page of 800 regions, next page, text edit")
    w.add_argument("location", help="a folder to make the project in, or postgresql://.../DB")
    w.add_argument("--project", default="ws")
    w.add_argument("--repeats", type=int, default=15)
    w.add_argument("--edits", type=int, default=200)
    args = ap.parse_args(argv)
    return {"serve": cmd_serve, "migrate": cmd_migrate, "moderate": cmd_moderate,
            "workspace": cmd_workspace}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
