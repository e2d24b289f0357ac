"""What every annotation format reads into and writes from: one page's lines, tool-neutral.

A **reader** turns another tool's files into :class:`AnnotatedPage` objects (one per page image,
with the lines people made and, where the tool keeps them, predictions), checking everything
before anything is written: a malformed file is one :class:`~core.errors.BadInputError` naming
the file and what is wrong, and nothing of it is imported. A **writer** turns
:class:`ExportPage` objects (a project's pages as they are now) into that tool's files.

Both register themselves in :data:`READERS` / :data:`WRITERS` by name (``paddleocr``,
``pagexml``, ...); :func:`reader` / :func:`writer` find them, :func:`detect` picks the reader
whose files a folder holds. The orchestration (images into the project, labels or a prediction
out of the lines, file names, progress) is in :mod:`core.formats.importing` and
:mod:`core.formats.exporting`: a format module only parses and renders.

Coordinates are image pixels of the page, x right, y down. A line's ``points`` are its polygon,
four corners clockwise from the top-left for a box or a rotated box (a format with
rectangles only writes the polygon's bounding rectangle).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import BadInputError

Point = tuple[float, float]


@dataclass
class Line:
    """One text line (or word, or segment: whatever the tool boxed) of a page."""

    points: list[Point]
    text: str = ""
    label: str | None = None  # the field it belongs to (company, total...), or a KIE class
    confidence: float | None = None  # a prediction's score where the tool gives one
    #: Provenance, filled on export: "human" (drawn by a person) or "prediction"; whether a person
    #: changed the machine's line; who changed it last and when (UTC ISO 8601).
    origin: str | None = None
    corrected: bool = False
    updated_by: str | None = None
    updated_at: str | None = None
    #: The block (paragraph, TextRegion, TextBlock) the line belongs to, where a format has them;
    #: lines of one block are consecutive in reading order.
    block: str | None = None
    #: The region's id in the project, filled on export (a key field names its regions by id).
    id: int | None = None


@dataclass
class AnnotatedPage:
    """A page image and its annotations, as a reader found them."""

    image: Path  # the image (or multi-page file) this page is on
    lines: list[Line] = field(default_factory=list)  # people's lines, in reading order
    page_no: int = 1  # the page of a multi-page image file (TIFF, PDF), from 1
    width: int | None = None  # as the annotation file says; checked against the image on import
    height: int | None = None
    fields: dict[str, str] = field(default_factory=dict)  # key fields of the page (or its document)
    #: Whether a person checked the page (PPOCRLabel's fileState.txt, Label Studio's reviewed
    #: tasks); None where the format does not say. Unchecked pages import as pre-filled, not done.
    checked: bool | None = None
    #: Lines another tool predicted, by source name ("label-studio:model-v3"); imported as
    #: predictions of that source, moderated and scored like any engine's.
    predictions: dict[str, list[Line]] = field(default_factory=dict)


@dataclass
class ExportField:
    """A key field of a page as the export gives it (issue 15): the page's field value (what
    pre-fill read and people corrected), or, for a name the page has no value of, the text of the
    regions labelled with it (``origin`` ``labels``)."""

    name: str
    text: str = ""
    value: str | None = None  # normalised (core.fields.normalise): ISO date, 1234.56, EUR...
    currency: str | None = None
    confidence: float | None = None
    regions: list[int] = field(default_factory=list)  # source region ids (those still on the page)
    boxes: list[list[Point]] = field(default_factory=list)  # their polygons, in the same order
    confirmed_by: str | None = None  # who set or checked it last; None: nobody (the machine's)
    absent: bool = False  # not on this page (predicted, or said by a person)
    origin: str = "labels"  # prediction / human / labels
    checked: bool = False


@dataclass
class ExportPage:
    """A project page as it is now, handed to a writer."""

    page_id: int
    document: str  # the document's file name ("scan.pdf")
    page_no: int  # its page in the document, from 1
    page_count: int  # pages of the document
    stem: str  # a file stem unique in this export, page number kept: "scan.pdf-p0001", "receipt.png"
    image: Path  # the page image in the project (PNG/JPEG/...), to copy, crop or embed
    width: int
    height: int
    status: str  # new, prefilled, in_progress, done, approved, rejected
    lines: list[Line]  # the page's regions now (deleted ones left out), in reading order
    fields: dict[str, str]  # field label -> text (regions with one label joined in reading order)
    split: str | None = None  # "train" / "val" when the export follows a dataset version
    #: The page's stored predictions, the latest of each engine: engine -> its lines (with
    #: confidences), for formats that carry predictions beside people's work (Label Studio).
    predictions: dict[str, list[Line]] = field(default_factory=dict)
    #: The page's key fields by name (issue 15), for writers with ``carries_fields``.
    key_fields: dict[str, ExportField] = field(default_factory=dict)


@dataclass
class ExportOptions:
    copy_images: bool = True
    #: "train"/"val" per page from a dataset version (formats that have a split write two lists).
    dataset_version: int | None = None
    #: The project's field schema, in its order (the fields CSV's columns); set by the exporter.
    fields: list[str] | None = None


class Reader(Protocol):
    name: str  # "paddleocr", the --annotations value
    title: str  # "PaddleOCR / PPOCRLabel (Label.txt)", shown to people

    def detect(self, path: Path) -> float:
        """How sure (0 = not this format, 1 = certain) that ``path`` (a file or folder) is ours."""

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        """Every page in ``path``. Raise BadInputError (file, line, what) on anything malformed;
        the importer reads everything before it writes, so raising late is fine."""


class Writer(Protocol):
    name: str  # "paddleocr", the --format value
    title: str
    #: Optional, True for a writer that reads ExportPage.predictions (the exporter reads them only then).
    carries_predictions: bool
    #: Optional, True for a writer that reads ExportPage.key_fields (likewise).
    carries_fields: bool

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        """Write ``pages`` under the folder ``out`` (or the file, for single-file formats);
        return the pages written. Stream: never hold more than one page's image in memory.
        ``progress(n, stem)`` after each page."""


READERS: dict[str, Reader] = {}
WRITERS: dict[str, Writer] = {}

#: The modules that register formats, imported on first use (a format is one module).
FORMAT_MODULES = (
    "paddle", "labelstudio", "coco", "cvat", "icdar", "pagexml", "alto", "hocr", "published",
    "tesstrain", "doctr", "searchable_pdf", "fields", "reference",
)


def register_reader(r: Reader) -> Reader:
    READERS[r.name] = r
    return r


def register_writer(w: Writer) -> Writer:
    WRITERS[w.name] = w
    return w


_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    for name in FORMAT_MODULES:
        try:
            importlib.import_module(f"core.formats.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"core.formats.{name}":
                raise  # a module that is there but fails to import is a bug, not a missing format
    _loaded = True


def reader(name: str) -> Reader:
    load_all()
    if name not in READERS:
        raise BadInputError(f"unknown annotation format {name!r} (known: {', '.join(sorted(READERS))}, auto)")
    return READERS[name]


def writer(name: str) -> Writer:
    load_all()
    if name not in WRITERS:
        raise BadInputError(f"unknown export format {name!r} (known: {', '.join(sorted(WRITERS))})")
    return WRITERS[name]


def detect(path: Path) -> Reader:
    """The reader most sure that ``path`` is in its format; BadInputError when none is."""
    load_all()
    scored = sorted(((r.detect(path), r.name) for r in READERS.values()), reverse=True)
    if not scored or scored[0][0] <= 0:
        raise BadInputError(f"{path}: no known annotation format found (give one with --annotations)")
    return READERS[scored[0][1]]


def map_ordered(fn: Callable, items: Iterable, workers: int | None = None) -> Iterator:
    """``fn(item)`` for each item, in threads, results in the items' order; at most ``2 x workers``
    items in flight, so memory stays flat whatever the number of pages. For writers whose page
    work is image decoding, warping and encoding (OpenCV releases the GIL there) and file writes:
    on two cores about twice as fast as one loop."""
    import os
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="export") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:  # a failure or a cancel: drop what has not started
                f.cancel()


def rect_of(points: Iterable[Point]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a polygon."""
    pts = list(points)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def box_points(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    """A rectangle as four corners clockwise from the top-left."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def documentation() -> str:
    """docs/formats.md: what maps to what in each format, from the format modules' docstrings
    (tests/test_docs.py checks that the file is this text)."""
    load_all()
    parts = ["# Formats in and out\n\n",
             "What `proofdesk import --annotations F` reads and `proofdesk export --format F` writes, format by\n"
             "format: generated from the format modules (`python -m core.formats > docs/formats.md`).\n\n",
             "| name | reads | writes | title |\n|---|---|---|---|\n"]
    for name in sorted(set(READERS) | set(WRITERS)):
        obj = READERS.get(name) or WRITERS[name]
        parts.append(f"| `{name}` | {'yes' if name in READERS else ''} | {'yes' if name in WRITERS else ''} |"
                     f" {obj.title.replace('<', '&lt;')} |\n")
    for module in FORMAT_MODULES:
        try:
            doc = importlib.import_module(f"core.formats.{module}").__doc__ or ""
        except ModuleNotFoundError:
            continue
        parts.append(f"\n## `core/formats/{module}.py`\n\n{doc.strip()}\n")
    return "".join(parts)
