"""Pre-fill a project's pages: run an engine on a process pool and store each page as it finishes.

prepare (which pages, which engine and config; pure) -> run (the pool yields results) ->
process (one transaction per finished page: an immutable Prediction plus initial regions).
Resumable: a page that already has a prediction from the same engine and config is skipped.
Cancel stops after the pages in flight; pages written before are kept.

Text layer first (``ml/textlayer.py``): with the project's engine (no engine named) and the project
setting ``prefill.text_layer`` on (the default), or with the engine ``textlayer`` named, a PDF page
with a usable text layer is pre-filled from it (engine ``textlayer``): at once, in this process,
when the page has no images; through the pool's OCR engine, for the regions inside its images, when
it has. Every other page goes to the OCR engine as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.model import PageStatus, PredictedRegion, Prediction
from core.prefill_engine import DEFAULT_ENGINE, prefill_engine
from core.project import Project

from .engines import get_engine
from .fields.prefill import FieldReader
from .pool import default_page_batch, prefill_pages
from .prediction import PagePrediction
from .textlayer import TEXT_LAYER_ENGINE, text_layer_config_hash, text_layer_prediction

#: Pages in these states are pre-filled by "all new pages".
PREFILL_STATUSES = (PageStatus.NEW,)
#: Project setting: pre-fill PDF pages from their text layer when it is usable (true unless set false).
TEXT_LAYER_SETTING = "prefill.text_layer"


def text_layer_first(store) -> bool:
    """The project's ``prefill.text_layer`` setting (true when unset or not a true/false value)."""
    value = store.get_setting(TEXT_LAYER_SETTING, True)
    return value if isinstance(value, bool) else True


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
    #: Pages of ``todo`` pre-filled from their PDF text layer: page id -> whether its image areas
    #: are read by ``engine`` too (False: the text layer alone, written without a worker).
    text_layer: dict[int, bool] = field(default_factory=dict)
    #: Text layer first is on for this plan (the project's engine and setting, or ``textlayer`` named).
    text_layer_first: bool = False
    #: What reads the key fields from each page's regions (ml/fields), None for no fields.
    fields: Any = None


@dataclass
class PrefillSummary:
    engine: str
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (page id, name, message)
    cancelled: bool = False
    #: Pages of ``done`` pre-filled from their PDF text layer (engine ``textlayer``).
    text_layer: list[int] = field(default_factory=list)
    #: Things that went wrong without failing a page (an image area OCR could not read).
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        n, n_layer = len(self.done), len(self.text_layer)
        if not n_layer:
            out = [f"pre-filled {n} page(s) with {self.engine}"]
        elif n_layer == n:
            out = [f"pre-filled {n} page(s) from their PDF text layer"]
        else:
            out = [f"pre-filled {n} page(s): {n - n_layer} with {self.engine}, {n_layer} from their PDF text layer"]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} already pre-filled with the same engine and config")
        if self.cancelled:
            out.append("cancelled: the pages not started were left as they were")
        out += [f"failed: page {pid} ({name}): {msg}" for pid, name, msg in self.failures]
        out += self.warnings
        return out


def plan_prefill(
    project: Project,
    page_ids: Iterable[int] | None = None,
    engine: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> PrefillPlan:
    """Which pages to run. ``page_ids=None`` means every page still new; ``engine=None``, the
    project's engine (``core.prefill_engine``), text layer first unless the project turned it off
    (:data:`TEXT_LAYER_SETTING`); ``engine="textlayer"``, text layer first with the project's
    engine for the rest. Any other engine named reads every page itself.

    The neural engines read with the project's active (promoted) recogniser when it has one.
    """
    from ml.engines import ENGINES  # plug-ins (entry point group proofdesk.engines) included
    from ml.training.active import active_model, engine_config

    store = project.store
    layer_first = False
    if not engine or engine == TEXT_LAYER_ENGINE:
        own = prefill_engine(store, extra=ENGINES)
        layer_first = engine == TEXT_LAYER_ENGINE or own == TEXT_LAYER_ENGINE or text_layer_first(store)
        # The OCR engine: the project's (a project set to "textlayer" reads the rest with the default).
        engine = own if own != TEXT_LAYER_ENGINE else DEFAULT_ENGINE
    eng = get_engine(engine, engine_config(project, engine, dict(config) if config else None))
    if page_ids is None:
        ids = [p.id for p in store.pages() if p.status in PREFILL_STATUSES]
    else:
        ids = list(page_ids)
    layers = store.text_layer_pages(ids) if layer_first and ids else {}
    todo, skipped, by_layer = [], [], {}
    for pid in ids:
        usable, images = layers.get(pid, (False, False))
        if usable:
            wanted = text_layer_config_hash(eng.name, eng.config_hash) if images else text_layer_config_hash()
            if store.has_prediction(pid, TEXT_LAYER_ENGINE, wanted):
                skipped.append(pid)
            else:
                todo.append(pid)
                by_layer[pid] = images
            continue
        (skipped if store.has_prediction(pid, eng.name, eng.config_hash) else todo).append(pid)
    version = active_model(project).version if engine in ("neural", "combined") else None
    return PrefillPlan(eng.name, dict(eng.config), eng.config_hash, eng.version, todo, skipped,
                       version.name if version is not None else None, by_layer, layer_first,
                       FieldReader.for_project(project))


def _with_fields(plan: PrefillPlan, store, pred: Prediction) -> Prediction:
    """The prediction with the key fields of the project's schema read from its regions."""
    if plan.fields is None:
        return pred
    return plan.fields.apply(pred, store.get_page(pred.page_id))


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


def _store_text_layer_page(project: Project, page_id: int, result, summary: PrefillSummary, name: str,
                           plan: PrefillPlan | None = None) -> bool:
    """Write the ``textlayer`` prediction of a page: its text layer, with ``result`` (the OCR engine's
    PageResult for the page, None when it has no images) the OCR regions inside its images. An OCR
    failure there leaves the text layer alone (a warning); the page fails only when its layer is gone
    or unreadable."""
    import time

    t0 = time.perf_counter()
    store = project.store
    try:
        layer = store.text_layer(page_id)
    except (ValueError, KeyError, TypeError) as exc:  # a stored layer that does not parse
        summary.failures.append((page_id, name, f"its text layer cannot be read ({type(exc).__name__}: {exc})"))
        return False
    if layer is None or not layer.usable:
        summary.failures.append((page_id, name, "its text layer is gone"))
        return False
    ocr = None
    if result is not None:
        if result.prediction is None:
            summary.warnings.append(f"page {page_id} ({name}): its images could not be read"
                                    f" ({result.error or 'failed'}); pre-filled from its text layer alone")
        else:
            ocr = result.prediction
    pred = text_layer_prediction(page_id, layer, ocr, time.perf_counter() - t0, store.get_page(page_id))
    # A database deleted or replaced under us would take every page written from now on with it.
    store.check_file()
    store.add_prediction(_with_fields(plan, store, pred) if plan is not None else pred)
    summary.done.append(page_id)
    summary.text_layer.append(page_id)
    return True


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
    ``batch``: pages a worker reads together (``ml.pool.prefill_pages``). Pages pre-filled from their
    text layer alone come first, written here without a worker; then the pool reads the rest."""
    summary = PrefillSummary(plan.engine, skipped=list(plan.skipped))
    total = len(plan.todo)
    if progress is not None:
        progress(0, total, "")
    names = {p.id: p.name for p in project.store.pages()}
    n = 0
    direct = [pid for pid in plan.todo if plan.text_layer.get(pid) is False]
    for pid in direct:
        if cancel is not None and cancel.is_set():
            break
        n += 1
        if _store_text_layer_page(project, pid, None, summary, names.get(pid, "?"), plan) and on_page is not None:
            on_page(pid)
        if progress is not None:
            progress(n, total, names.get(pid, ""))
    rest = [pid for pid in plan.todo if plan.text_layer.get(pid) is not False]
    if rest and not (cancel is not None and cancel.is_set()):
        sources = ((pid, str(project.image_path(project.store.get_page(pid)))) for pid in rest)
        for result in prefill_pages(sources, plan.engine, plan.config, workers, cancel, batch):
            n += 1
            if result.page_id in plan.text_layer:  # its images were read: the text layer's prediction
                if _store_text_layer_page(project, result.page_id, result, summary,
                                          names.get(result.page_id, "?"), plan) and on_page is not None:
                    on_page(result.page_id)
            elif result.prediction is None:
                summary.failures.append((result.page_id, names.get(result.page_id, "?"), result.error or "failed"))
            else:
                # A database deleted or replaced under us would take every page written from now on
                # with it (on Linux the open connection writes into the deleted file): stop and say so.
                project.store.check_file()
                pred = to_core_prediction(result.page_id, result.prediction, plan.model_version)
                project.store.add_prediction(_with_fields(plan, project.store, pred))
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


def follow_prefill(
    project: Project,
    engine: str | None = None,
    workers: int | None = None,
    batch: int | None = None,
    cancel: threading.Event | None = None,
    on_page: Callable[[int], None] | None = None,
    until_idle: bool = False,
    idle_wait_s: float = 5.0,
    holder: str | None = None,
) -> PrefillSummary:
    """Pre-fill new pages as they come, together with any number of other machines (``prefill
    --follow``): take a few unclaimed pages at a time (a lease each, ``core/lease_store.py``), store
    each as it finishes (which ends its lease), take more. Pages imported meanwhile are picked up
    (at once on a team server: the import is announced; else within ``idle_wait_s``). A machine
    killed mid-batch stored what it finished; the leases of the rest run out and another machine
    takes them. Each round reads with the model version active when it starts, so a promotion
    reaches every machine. ``until_idle``: stop when no page is left to pre-fill, pages other
    machines hold included (a dead machine's come back when their leases run out), but those that
    failed here (scripts, benchmarks); otherwise run until ``cancel``."""
    import os
    import socket
    import time

    from core.lease_store import LEASE_S

    cancel = cancel or threading.Event()
    store = project.store
    holder = holder or f"prefill@{socket.gethostname()}:{os.getpid()}"
    wake = threading.Event()
    listener = None
    if project.server is not None:
        from core.live import Listener

        listener = Listener(project.server, store.channel,
                            lambda change: wake.set() if change.get("kind") == "import" else None).start()
    summary = PrefillSummary(engine or "")
    try:
        while not cancel.is_set():
            plan = plan_prefill(project, [], engine)
            summary.engine = plan.engine
            per_claim = default_page_batch(plan.engine) if batch is None else max(1, int(batch))
            claimed: list[int] = []
            with_images: set[int] = set()  # text-layer pages whose images the pool reads

            def sources(per_claim=per_claim, claimed=claimed, plan=plan, with_images=with_images):
                while not cancel.is_set():
                    ids = store.claim_batch(holder, store.client_id, "prefill", [s.value for s in PREFILL_STATUSES],
                                            per_claim)
                    if not ids:
                        return
                    claimed.extend(ids)
                    layers = store.text_layer_pages(ids) if plan.text_layer_first else {}
                    for pid in ids:
                        usable, images = layers.get(pid, (False, False))
                        if usable and not images:  # the text layer alone: written here, no worker
                            if _store_text_layer_page(project, pid, None, summary, str(pid), plan):
                                store.renew_leases(store.client_id)
                                if on_page is not None:
                                    on_page(pid)
                            continue
                        if usable:
                            with_images.add(pid)
                        yield pid, str(project.image_path(store.get_page(pid)))

            for result in prefill_pages(sources(), plan.engine, plan.config, workers, cancel, batch):
                if result.page_id in with_images:
                    if _store_text_layer_page(project, result.page_id, result, summary, str(result.page_id), plan):
                        store.renew_leases(store.client_id)
                        if on_page is not None:
                            on_page(result.page_id)
                    continue
                if result.prediction is None:
                    # kept leased by this machine while it runs, so it is not retried in a loop here
                    summary.failures.append((result.page_id, str(result.page_id), result.error or "failed"))
                    continue
                store.check_file()
                pred = to_core_prediction(result.page_id, result.prediction, plan.model_version)
                store.add_prediction(_with_fields(plan, store, pred))
                store.renew_leases(store.client_id)
                summary.done.append(result.page_id)
                if on_page is not None:
                    on_page(result.page_id)
            failed = {pid for pid, _name, _msg in summary.failures}
            if not claimed and until_idle and not store.pages_left([s.value for s in PREFILL_STATUSES], but=failed):
                break  # nothing left to pre-fill (but what failed here): pages other machines hold count
            if not claimed:
                # What is left is held by other machines (done soon, or back in the pool when a dead
                # one's leases run out), or nothing is: wait for an import or a lease to end.
                deadline = time.monotonic() + (min(idle_wait_s, LEASE_S["prefill"] / 4) if until_idle else idle_wait_s)
                while not (cancel.is_set() or wake.is_set()) and time.monotonic() < deadline:
                    wake.wait(0.25)  # Ctrl-C (cancel) ends the wait too
                wake.clear()
    finally:
        if listener is not None:
            listener.stop()
        store.release_leases(store.client_id)
    summary.cancelled = cancel.is_set()
    return summary
