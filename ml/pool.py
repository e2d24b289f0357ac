"""Run an engine over many pages in worker processes, yielding results as they finish.

    for r in prefill_pages([(page_id, path), ...], workers=2):
        if r.error: ...           # the page failed; the run goes on
        else: store(r.page_id, r.prediction)

Each worker process builds its engine once (one Tesseract API per process).
Stop early by closing the generator (``break`` out of the loop) or by
setting ``cancel`` (a ``threading.Event``): pages not started are dropped,
running ones finish in the background and are discarded.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ml.engines import get_engine
from ml.prediction import PagePrediction, load_image

Source = str | Path | bytes


@dataclass
class PageResult:
    """Outcome for one page: a prediction, or an error message."""

    page_id: Any
    prediction: PagePrediction | None
    error: str | None
    #: Worker wall seconds for decode + engine (0 when the worker crashed).
    seconds: float
    #: Task-specific payload (the harness puts crop readings here).
    extra: Any = None
    #: CPU seconds of the worker process for this page. Unlike ``seconds`` it
    #: hardly grows when other work competes for the cores.
    cpu_seconds: float = 0.0


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: Pre-fill workers run this much nicer than the process that started them: with one worker
#: per core, the app's GUI thread would otherwise wait for a core behind them (stalls of 100+ ms
#: while a person types). On an otherwise idle machine it changes nothing.
WORKER_NICENESS = 10


def _init_worker(parent_pid: int | None = None, deathsig: bool = False) -> None:
    """Worker set-up. ``parent_pid``: the process that started the pool; the worker ends itself
    when that process is gone (killed: nobody would ever shut the pool down, and a worker
    blocks on its task pipe forever). ``deathsig``: also by the Linux parent-death signal, only
    when the pool was started on the main thread (the signal follows the starting thread)."""
    if parent_pid is not None:
        from ml.lifeline import watch_parent

        watch_parent(parent_pid, signal.SIGKILL if deathsig else None)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(WORKER_NICENESS)
    # One core per worker: no OpenMP threads in Tesseract, no OpenCV threads.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def predict_task(page_id: Any, source: Source, engine: str, config: Mapping | None) -> PageResult:
    """Decode and pre-fill one page; never raises (errors become the result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        pred = get_engine(engine, config).predict(load_image(source))
        return PageResult(page_id, pred, None, time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    except Exception as e:  # noqa: BLE001 - a bad page must not stop the run
        return PageResult(page_id, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0,
                          cpu_seconds=time.process_time() - c0)


def predict_many_task(pages: Sequence[tuple[Any, Source]], engine: str, config: Mapping | None) -> list[PageResult]:
    """Decode and pre-fill a few pages at once (the engine's ``predict_many`` when it has one: the
    neural engines recognise the lines of all of them in shared batches). Never raises: a page
    that cannot be decoded is an error of its own, and if reading them together fails, each is
    read alone so one bad page fails alone."""
    t0, c0 = time.perf_counter(), time.process_time()
    images, out = [], {}
    for pid, src in pages:
        try:
            images.append((pid, load_image(src)))
        except Exception as e:  # noqa: BLE001
            out[pid] = PageResult(pid, None, f"{type(e).__name__}: {e}", 0.0)
    try:
        eng = get_engine(engine, config)
        if len(images) > 1 and hasattr(eng, "predict_many"):
            preds = eng.predict_many([img for _, img in images])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            for (pid, _), pred in zip(images, preds):
                out[pid] = PageResult(pid, pred, None, wall / len(images), cpu_seconds=cpu / len(images))
            images = []
    except Exception:  # noqa: BLE001 - read them one by one below: the failing page fails alone
        pass
    for pid, img in images:
        out[pid] = predict_task(pid, img, engine, config)
    return [out[pid] for pid, _ in pages]


def crops_task(
    page_id: Any, source: Source, engine: str, config: Mapping | None, boxes: Sequence[Sequence[float]]
) -> PageResult:
    """Read given boxes of one page; readings in ``extra``. Never raises."""
    t0 = time.perf_counter()
    try:
        got = get_engine(engine, config).recognize_crops(load_image(source), boxes)
        return PageResult(page_id, None, None, time.perf_counter() - t0, got)
    except Exception as e:  # noqa: BLE001
        return PageResult(page_id, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0)


def map_pages(
    task: Callable[..., PageResult | list[PageResult]],
    items: Iterable[tuple],
    workers: int | None = None,
    cancel: threading.Event | None = None,
    split: Callable[[tuple], list[tuple]] | None = None,
    page_of: Callable[[tuple], Any] = lambda item: item[0],
) -> Iterator[PageResult]:
    """Run ``task(*item)`` for each item, yielding PageResults as they finish.

    ``workers=0`` runs in this process (no pool); None = one per core. Tasks
    go to a ``spawn`` pool (forking a process that already holds a Tesseract
    or Qt state is unsafe) with at most 2 x workers in flight, so a cancel
    drops the rest quickly. If a worker process dies (e.g. a crash inside
    Tesseract) the pool is rebuilt and the pages it held are retried one at a
    time; the page that crashes alone is reported as an error. Workers end themselves when
    this process is gone (``ml.lifeline``): a killed run leaves no worker behind.

    A task may return a list of PageResults (an item of several pages); ``split(item)`` then
    gives that item's one-page items, which is how its pages are retried after a crash, and
    ``page_of(item)`` the page id of a one-page item (default: its first element).
    """
    it = iter(items)

    def results(got: PageResult | list[PageResult]) -> list[PageResult]:
        return got if isinstance(got, list) else [got]

    if workers == 0:
        for item in it:
            if cancel is not None and cancel.is_set():
                return
            yield from results(task(*item))
        return
    n = workers or default_workers()
    ctx = mp.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        # Workers are started by the thread that submits (this one): the parent-death signal
        # only when that is the main thread. A pool of the app runs on a Qt pool thread, which
        # may end while the app lives: its workers rely on the lifeline's watchdog alone.
        on_main = threading.current_thread() is threading.main_thread()
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), on_main))

    pool = new_pool()
    inflight: dict[Future, tuple[tuple, bool]] = {}
    suspects: deque[tuple] = deque()
    exhausted = False
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return
            if suspects:
                if not inflight:  # retry a suspect alone, so a crash names its page
                    item = suspects.popleft()
                    inflight[pool.submit(task, *item)] = (item, True)
            else:
                while not exhausted and len(inflight) < 2 * n:
                    item = next(it, None)
                    if item is None:
                        exhausted = True
                        break
                    inflight[pool.submit(task, *item)] = (item, False)
            if not inflight:
                return
            done, _ = wait(list(inflight), timeout=0.25, return_when=FIRST_COMPLETED)
            broken = False
            for f in done:
                item, alone = inflight.pop(f)
                try:
                    result = f.result()
                except BrokenProcessPool:
                    broken = True
                    parts = split(item) if split is not None else [item]
                    if alone and len(parts) == 1:
                        yield PageResult(page_of(parts[0]), None, "worker process crashed on this page", 0.0)
                    else:
                        suspects.extend(parts)  # each page of a crashed batch is retried alone
                    continue
                yield from results(result)
            if broken:
                for item, _alone in inflight.values():
                    suspects.extend(split(item) if split is not None else [item])
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


#: Pages a pre-fill task reads together with the neural engines (``predict_many``): their lines
#: share the recogniser's batches, less padding per batch. On the 2-core CPU, one thread per
#: worker: 1.58 -> 1.27 s/page for the neural engine (docs/benchmarks.md); on a GPU it is what
#: keeps the device busy. The classical engine reads page by page.
PAGE_BATCH = 4


def default_page_batch(engine: str) -> int:
    return PAGE_BATCH if engine in ("neural", "combined") else 1


def prefill_pages(
    pages: Iterable[tuple[Any, Source]],
    engine: str = "classical",
    config: Mapping | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    batch: int | None = None,
) -> Iterator[PageResult]:
    """Pre-fill ``(page_id, path or encoded bytes)`` pages with ``engine``.

    Yields a :class:`PageResult` per page in completion order (not input
    order). See :func:`map_pages` for ``workers`` and ``cancel``. ``batch``: pages per task
    (default :func:`default_page_batch`); a task of several pages that crashes its worker has
    its pages retried one at a time.
    """
    batch = default_page_batch(engine) if batch is None else max(1, int(batch))
    if batch == 1:
        return map_pages(predict_task, ((pid, src, engine, config) for pid, src in pages), workers, cancel)

    def chunks() -> Iterator[tuple]:
        chunk: list = []
        for page in pages:
            chunk.append(tuple(page))
            if len(chunk) == batch:
                yield (chunk, engine, config)
                chunk = []
        if chunk:
            yield (chunk, engine, config)

    def split(item: tuple) -> list[tuple]:
        return [([page], item[1], item[2]) for page in item[0]]

    return map_pages(predict_many_task, chunks(), workers, cancel, split, page_of=lambda item: item[0][0][0])
