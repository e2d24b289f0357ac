"""Time the Moderate screen's filtered counts and the Analytics screen's charts on a big project.

    .venv/bin/python bench/gen_review_project.py /tmp/review-bench      # 10,000 pages, 500,000 regions
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_review.py /tmp/review-bench [--repeat 5]

Each figure is the median (and the worst) of ``--repeat`` runs, in milliseconds:

- Moderate, per filter: ``moderate_counts`` alone, and the whole screen update a person waits
  for (filter changed -> counts and page list queried -> table model reset -> the event loop
  lays out and paints the window);
- Analytics, per date range: figures from core (``load``), charts and tables built (``draw``),
  the event loop's layout and paint, and their sum (what a person waits for); then the window
  rendered once more into an image (``grab``, what a PNG export costs), not in the sum;
- what keeps the stored data current: marking a 50-region page done (verdicts + routing in the
  same transaction), a single text edit (for comparison: nothing is added to it), and a review.

Prints a Markdown table and the load averages before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _ms(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), max(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--user", default="boss", help="who looks (the generator makes boss an admin)")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.review.analytics import AnalyticsScreen
    from app.review.moderate import ModerateScreen
    from core import review
    from core.model import PageStatus
    from core.project import Project

    load_before = os.getloadavg()
    app = QApplication.instance() or QApplication([])
    project = Project.open(args.root)
    store = project.store
    n_pages = store.count_pages()
    n_regions = store.query("SELECT COUNT(*) FROM regions")[0][0]
    rows: list[tuple[str, str, float, float]] = []

    def add(group, what, fn):
        med, worst = _ms(fn, args.repeat)
        rows.append((group, what, med, worst))
        print(f"{group:<10} {what:<58} {med:8.1f} {worst:8.1f}", file=sys.stderr)

    F = review.ModerateFilter
    filters = [
        ("no filter", F()),
        ("annotated 2026-10-01..10-15", F(date_from="2026-10-01", date_to="2026-10-15")),
        ("imported 2026-10-01..10-15, status done", F(date_field="imported", date_from="2026-10-01",
                                                       date_to="2026-10-15", status="done")),
        ("annotator + has wrong predictions", F(annotator="annotator03", has_wrong=True)),
        ("model version rec-latin-2", F(model_version="rec-latin-2")),
        ("engine neural, confidence below 0.6", F(engine="neural", confidence_below=0.6)),
        ("review queue only", F(routed_only=True)),
    ]
    for label, f in filters:
        add("counts", label, lambda f=f: review.moderate_counts(store, f, viewer=args.user))

    t0 = time.perf_counter()
    screen = ModerateScreen(project, args.user)
    screen.resize(1560, 940)
    screen.show()
    app.processEvents()
    rows.append(("moderate", "open the screen (counts, 1,000-row list, painted)", 1000 * (time.perf_counter() - t0), 0))
    ranges = [("2026-10-01", "2026-10-15"), ("2026-09-25", "2026-11-23"), ("2026-11-01", "2026-11-07")]

    turn = iter(range(10**6))

    def moderate_range():
        first, last = ranges[next(turn) % len(ranges)]
        screen.filters.set_dates(first, last)  # -> refresh(): counts + list
        app.processEvents()  # the event loop lays out and paints the window

    add("moderate", "date range changed: counts + list + paint", moderate_range)
    screen.filters.set_dates(None, None)

    def moderate_conf():
        screen.filters.use_conf.setChecked(not screen.filters.use_conf.isChecked())
        app.processEvents()

    add("moderate", "confidence filter toggled: counts + list + paint", moderate_conf)
    page_id = screen.model.rows[0].page_id
    add("moderate", "open a page (50 regions: both canvases, verdict list)", lambda: screen.open_page(page_id))
    screen.close()

    t0 = time.perf_counter()
    analytics_screen = AnalyticsScreen(project, args.user)
    analytics_screen.resize(1560, 940)
    analytics_screen.show()
    app.processEvents()
    rows.append(("analytics", "open the screen (figures, 4 charts, tables, painted)",
                 1000 * (time.perf_counter() - t0), 0))
    for first, last in [("2026-09-25", "2026-11-23"), ("2026-10-01", "2026-10-31")]:
        analytics_screen.date_from.setDate(analytics_screen.date_from.date().fromString(first, "yyyy-MM-dd"))
        analytics_screen.date_to.setDate(analytics_screen.date_to.date().fromString(last, "yyyy-MM-dd"))
        parts = {"load": [], "draw": [], "paint": [], "total": [], "grab": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            analytics_screen.data = analytics_screen.load()
            t1 = time.perf_counter()
            analytics_screen.draw()
            t2 = time.perf_counter()
            app.processEvents()  # the event loop lays the charts out and paints the window
            t3 = time.perf_counter()
            analytics_screen.grab()  # a second full render into an image, as an export does
            t4 = time.perf_counter()
            for k, v in (("load", t1 - t0), ("draw", t2 - t1), ("paint", t3 - t2), ("total", t3 - t0),
                         ("grab", t4 - t3)):
                parts[k].append(1000 * v)
        for k, label in (("load", "figures from core"), ("draw", "charts and tables built"),
                         ("paint", "layout and paint (event loop)"), ("total", "all: the charts appear"),
                         ("grab", "the whole window rendered again into an image")):
            rows.append(("analytics", f"{first}..{last}: {label}", statistics.median(parts[k]), max(parts[k])))
    analytics_screen.close()

    # Keeping the stored data current.
    pid = store.query("SELECT id FROM pages WHERE status = 'in_progress' LIMIT 1")[0][0]
    region = store.regions(pid)[0]
    add("upkeep", "one text edit (unchanged by this work)",
        lambda: store.update_region("bench", region.id, text=region.text + "x"))

    def done_and_back():
        store.set_page_status("bench", pid, PageStatus.DONE)
        store.set_page_status("bench", pid, PageStatus.IN_PROGRESS)

    add("upkeep", "mark a 50-region page done (verdicts, routing), then back", done_and_back)
    add("upkeep", "refresh_stale() (the page above is stale once)", lambda: review.refresh_stale(store))
    load_after = os.getloadavg()
    project.close()

    print(f"{n_pages:,} pages, {n_regions:,} regions; load average before {load_before[0]:.1f} "
          f"{load_before[1]:.1f} {load_before[2]:.1f}, after {load_after[0]:.1f} {load_after[1]:.1f} "
          f"{load_after[2]:.1f}")
    print()
    print("| screen | what | median ms | worst ms |")
    print("|---|---|---:|---:|")
    for group, what, med, worst in rows:
        print(f"| {group} | {what} | {med:.0f} | {worst:.0f} |" if worst else f"| {group} | {what} | {med:.0f} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
