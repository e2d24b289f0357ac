"""Pre-fill a project's pages: run an engine on a process pool and store each page as it finishes.

prepare (which pages, which engine and config; pure) -> run (the pool yields results) ->
process (one transaction per finished page: an immutable Prediction plus initial regions).
Resumable: a page that already has a prediction from the same engine and config is skipped.
Cancel stops after the pages in flight; pages written before are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core import registry
from core.model import PageStatus, PredictedRegion, Prediction
from core.prefill_engine import prefill_engine
from core.project import Project

from .engines import get_engine
from .pool import prefill_pages
from .prediction import PagePrediction

#: Pages in these states are pre-filled by "all new pages".
PREFILL_STATUSES = (PageStatus.NEW,)


@dataclass
class PrefillPlan:
    engine: str
    config: dict[str, Any]
    config_hash: str
    engine_version: str
    todo: list[int]  # page ids
    skipped: list[int]  # already pre-filled by this engine and config
    #: The project's model version the engine reads with (its registry name), None for the
    #: shipped models: stored with each prediction, so analytics can tell model versions apart.
    model_version: str | None = None


@dataclass
class PrefillSummary:
    engine: str
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (page id, name, message)
    cancelled: bool = False

    def lines(self) -> list[str]:
        out = [f"pre-filled {len(self.done)} page(s) with {self.engine}"]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} already pre-filled with the same engine and config")
        if self.cancelled:
            out.append("cancelled: the pages not started were left as they were")
        out += [f"failed: page {pid} ({name}): {msg}" for pid, name, msg in self.failures]
        return out


def plan_prefill(
    project: Project,
    page_ids: Iterable[int] | None = None,
    engine: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> PrefillPlan:
    """Which pages to run. ``page_ids=None`` means every page still new; ``engine=None``, the
    project's engine (``core.prefill_engine``).

    The neural engines read with the project's active (promoted) recogniser when it has one.
    """
    from ml.training.active import engine_config

    if not engine:
        from ml.engines import ENGINES  # plug-ins (entry point group proofdesk.engines) included

        engine = prefill_engine(project.store, extra=ENGINES)
    eng = get_engine(engine, engine_config(project, engine, dict(config) if config else None))
    if page_ids is None:
        ids = [p.id for p in project.store.pages() if p.status in PREFILL_STATUSES]
    else:
        ids = list(page_ids)
    todo, skipped = [], []
    for pid in ids:
        (skipped if project.store.has_prediction(pid, eng.name, eng.config_hash) else todo).append(pid)
    version = registry.active(project.store) if engine in ("neural", "combined") else None
    return PrefillPlan(eng.name, dict(eng.config), eng.config_hash, eng.version, todo, skipped,
                       version.name if version is not None else None)


def to_core_prediction(page_id: int, pred: PagePrediction, model_version: str | None = None) -> Prediction:
    return Prediction(
        page_id=page_id,
        engine=pred.engine,
        engine_version=pred.engine_version,
        model_version=model_version,
        config=pred.config,
        config_hash=pred.config_hash,
        duration_s=pred.seconds,
        regions=tuple(
            PredictedRegion(points=tuple(tuple(map(float, p)) for p in r.points), text=r.text,
                            confidence=float(r.confidence), disagree=bool(getattr(r, "disagree", False)),
                            second_opinion=getattr(r, "second_opinion", None))
            for r in pred.regions
        ),
    )


def run_prefill(
    project: Project,
    plan: PrefillPlan,
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
    on_page: Callable[[int], None] | None = None,
    batch: int | None = None,
) -> PrefillSummary:
    """Run the plan; each finished page is committed at once (and ``on_page(page_id)`` called).
    ``batch``: pages a worker reads together (``ml.pool.prefill_pages``)."""
    summary = PrefillSummary(plan.engine, skipped=list(plan.skipped))
    total = len(plan.todo)
    if progress is not None:
        progress(0, total, "")
    names = {p.id: p.name for p in project.store.pages()}
    sources = ((pid, str(project.image_path(project.store.get_page(pid)))) for pid in plan.todo)
    for n, result in enumerate(prefill_pages(sources, plan.engine, plan.config, workers, cancel, batch), start=1):
        if result.prediction is None:
            summary.failures.append((result.page_id, names.get(result.page_id, "?"), result.error or "failed"))
        else:
            # A database deleted or replaced under us would take every page written from now on
            # with it (on Linux the open connection writes into the deleted file): stop and say so.
            project.store.check_file()
            project.store.add_prediction(to_core_prediction(result.page_id, result.prediction, plan.model_version))
            summary.done.append(result.page_id)
            if on_page is not None:
                on_page(result.page_id)
        if progress is not None:
            progress(n, total, names.get(result.page_id, ""))
    if cancel is not None and cancel.is_set() and len(summary.done) + len(summary.failures) < total:
        summary.cancelled = True
    project.store.check_file()
    return summary


def prefill_project(
    project: Project,
    page_ids: Iterable[int] | None = None,
    engine: str | None = None,
    config: Mapping[str, Any] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
    on_page: Callable[[int], None] | None = None,
) -> PrefillSummary:
    """Plan and run in one call (what the CLI and the GUI use)."""
    plan = plan_prefill(project, page_ids, engine, config)
    return run_prefill(project, plan, workers, progress, cancel, on_page)
