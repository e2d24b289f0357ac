"""Loading pages off the GUI thread, and ahead of time for the next page of the queue.

A page is its record, its regions (reading order), the predictions they came from (to tell an
edited region from an untouched one) and its image as a small pyramid of QImages (full size,
1/2, 1/4...), so the canvas draws any zoom from a level near it. Decoding a 24-megapixel JPEG
takes ~250 ms on a small CPU, so it never happens on the GUI thread: the next page is decoded
while the person works on this one, and a page opened cold shows its regions at once, a
DCT-scaled preview of a big JPEG in ~50 ms, then the full image.

Regions loaded ahead may have changed since (another window, a pre-fill): ``Store.
regions_signature`` tells in one cheap query whether they are still current.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QPointF, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader, QPainterPath, QPolygonF

from core.model import Page, PredictedRegion, Region
from core.project import Project

from ..workers import Worker
from .states import region_state

#: Pyramid levels stop below this many pixels on the long side.
SMALLEST_LEVEL = 700
#: JPEGs above this many pixels get a fast scaled preview before the full decode.
PREVIEW_ABOVE = 6_000_000
CACHE_PAGES = 3


@dataclass
class PageData:
    page: Page
    regions: list[Region]
    signature: tuple
    predicted: dict[tuple[int, int], PredictedRegion] = field(default_factory=dict)
    typed: set[int] = field(default_factory=set)
    #: Regions whose text a person confirmed (typed, or accepted with Enter): shown checked.
    checked: set[int] = field(default_factory=set)
    images: list[QImage] = field(default_factory=list)  # pyramid, full size first
    #: Worked out where the page was read (off the GUI thread when loaded ahead): the state of
    #: each region and its polygon, so that showing the page only creates the items.
    states: dict[int, str] = field(default_factory=dict)
    polygons: dict[int, QPolygonF] = field(default_factory=dict)
    #: The canvas layer's outlines, one path per (state, locked), ready to draw; None once a
    #: region changed after reading (the canvas then builds them itself).
    layer_paths: dict[tuple[str, bool], QPainterPath] | None = None
    image_path: str | None = None
    image_error: str | None = None


def read_page(project: Project, page_id: int) -> PageData:
    """Everything about a page but its image (any thread: the store has a connection per thread)."""
    store = project.store
    page = store.get_page(page_id)
    signature = store.regions_signature(page_id)
    regions = store.regions(page_id)
    predicted = {}
    wanted = {r.prediction_id for r in regions if r.prediction_id is not None}
    if wanted:
        for pred in store.predictions(page_id):
            if pred.id in wanted:
                for i, pr in enumerate(pred.regions):
                    predicted[(pred.id, i)] = pr
    try:
        path = str(project.image_path(page))
        error = None
    except FileNotFoundError as exc:
        path, error = None, str(exc)
    checked = store.checked_region_ids(page_id)
    states = {r.id: region_state(r, predicted.get((r.prediction_id, r.pred_index))
                                 if r.prediction_id is not None else None, r.id in checked) for r in regions}
    polygons = {r.id: QPolygonF([QPointF(x, y) for x, y in r.points]) for r in regions}
    layer_paths: dict[tuple[str, bool], QPainterPath] = {}
    for r in regions:
        outline = layer_paths.setdefault((states[r.id], r.locked), QPainterPath())
        outline.addPolygon(polygons[r.id])
        outline.closeSubpath()
    return PageData(page, regions, signature, predicted, store.typed_region_ids(page_id), checked,
                    image_path=path, image_error=error, states=states, polygons=polygons, layer_paths=layer_paths)


def _display_format(img: QImage) -> QImage:
    # RGB32 draws fastest with the raster engine; grayscale or paletted scans would be
    # converted again on every paint.
    if img.format() in (QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32_Premultiplied):
        return img
    return img.convertToFormat(QImage.Format.Format_RGB32)


def pyramid(full: QImage) -> list[QImage]:
    """``[full, 1/2, 1/4, ...]`` down to about SMALLEST_LEVEL pixels on the long side."""
    levels = [full]
    img = full
    while max(img.width(), img.height()) > 2 * SMALLEST_LEVEL:
        img = img.scaled(img.width() // 2, img.height() // 2, Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
        levels.append(img)
    return levels


def decode_preview(path: str) -> QImage | None:
    """A quarter-size decode of a big JPEG (libjpeg scales in the DCT: ~5x faster), else None."""
    reader = QImageReader(path)
    size = reader.size()
    if reader.format() not in (b"jpeg", b"jpg") or size.width() * size.height() < PREVIEW_ABOVE:
        return None
    reader.setScaledSize(QSize(size.width() // 4, size.height() // 4))
    img = reader.read()
    return None if img.isNull() else _display_format(img)


def decode_full(path: str) -> list[QImage]:
    reader = QImageReader(path)
    img = reader.read()
    if img.isNull():
        raise OSError(f"cannot decode {path}: {reader.errorString()}")
    return pyramid(_display_format(img))


class _Signals(QObject):
    preview = Signal(int, object)  # page id, QImage


class PageLoader(QObject):
    """Reads pages and decodes their images on its own small thread pool, keeps a few cached.

    Its own pool, so that a long import or pre-fill holding the global pool never delays the
    page a person is waiting for.
    """

    loaded = Signal(int)  # page id: PageData (with images) is in the cache
    preview = Signal(int, object)  # page id, a reduced QImage to show until the full one comes
    images = Signal(int, object)  # page id, the full pyramid
    failed = Signal(int, str)

    def __init__(self, project: Project, parent=None):
        super().__init__(parent)
        self.project = project
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.cache: OrderedDict[int, PageData] = OrderedDict()
        self.in_flight: dict[int, Worker] = {}
        self._image_jobs: dict[int, Worker] = {}

    def cached(self, page_id: int) -> PageData | None:
        data = self.cache.get(page_id)
        if data is not None:
            self.cache.move_to_end(page_id)
        return data

    def put(self, data: PageData) -> None:
        self.cache[data.page.id] = data
        self.cache.move_to_end(data.page.id)
        while len(self.cache) > CACHE_PAGES:
            self.cache.popitem(last=False)

    def forget(self, page_id: int) -> None:
        self.cache.pop(page_id, None)

    def preload(self, page_id: int | None) -> Worker | None:
        """Read and decode a page in the background; ``loaded`` says when it is ready."""
        if page_id is None or page_id in self.cache or page_id in self.in_flight:
            return None
        project = self.project

        def job(progress, cancel):
            data = read_page(project, page_id)
            if data.image_path is not None:
                try:
                    data.images = decode_full(data.image_path)
                except OSError as exc:
                    data.image_error = str(exc)
            return data

        worker = Worker(job)
        worker.signals.finished.connect(self._on_preloaded)
        worker.signals.failed.connect(lambda msg, tb: self.failed.emit(page_id, msg))
        worker.signals.done.connect(lambda: self.in_flight.pop(page_id, None))
        self.in_flight[page_id] = worker
        self.pool.start(worker)
        return worker

    def _on_preloaded(self, data: PageData) -> None:
        if data.page.id in self.cache and self.cache[data.page.id].images:
            return
        self.put(data)
        self.loaded.emit(data.page.id)

    def load_images(self, page_id: int, path: str) -> Worker:
        """Decode the image of the page on screen: ``preview`` (big JPEGs) then ``images``."""
        signals = _Signals()

        def job(progress, cancel):
            preview = decode_preview(path)
            if preview is not None:
                signals.preview.emit(page_id, preview)
            return decode_full(path)

        worker = Worker(job)
        worker.extra_signals = signals  # lives as long as the worker
        signals.preview.connect(self.preview.emit)
        worker.signals.finished.connect(lambda levels: self._on_images(page_id, levels))
        worker.signals.failed.connect(lambda msg, tb: self.failed.emit(page_id, msg))
        worker.signals.done.connect(lambda: self._image_jobs.pop(page_id, None))
        self._image_jobs[page_id] = worker
        self.pool.start(worker)
        return worker

    def _on_images(self, page_id: int, levels: list[QImage]) -> None:
        data = self.cache.get(page_id)
        if data is not None:
            data.images = levels
        self.images.emit(page_id, levels)

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)
