"""Import images and PDFs into a project.

A file's pages are decoded one at a time and each is written to a private staging folder as
soon as it is rendered (``pages/.tmp-import-*/``), so memory holds one page whatever the page
count. The document, its pages, their references and (with ``labels``) the label regions are
then written in one transaction, in which the staged images move to their content-addressed
place just before the commit. So a file that fails anywhere (a broken page, a bad reference
file, a page or pixel limit, a database error) gets one line in the summary and leaves nothing:
no rows, no images; and a file cancelled part-way is dropped the same way.

Reference files (``<image>.json``) are read with limits (size, nesting, line count) and checked
completely, types and geometry, before anything is written: a NaN or a box off the page is a
failure line naming the file and what is wrong, never a half-imported page. Nothing is clamped.

Folders are imported in natural order (``r2`` before ``r10``), as PPOCRLabel lists them; files
named on the command line in the order given. The project database is checked between files:
when it was deleted or replaced under the running import, the import stops with an error
instead of writing into a file nobody will see again.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import math
import os
import re
import struct
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .db import integrity_errors, is_disk_full, operational_errors
from .errors import BadInputError, ProjectError
from .fields import FieldValue
from .model import Document, Page, PageStatus
from .project import Project, sha256_bytes
from .store import Store, now
from .textlayer import TextLayer, extract_text_layer

log = logging.getLogger(__name__)

#: File endings looked at when a folder is imported. A named file is always tried, whatever
#: its ending, because the ending may lie; contents decide the format.
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf"}

#: Pages above this many pixels are refused (decompression bombs, absurd scans). 150 MP is
#: an A0 sheet at 300 dpi; a 4000x6000 phone photo is 24 MP.
DEFAULT_MAX_PIXELS = 150_000_000
DEFAULT_DPI = 300
MAX_FILE_BYTES = 2 * 1024**3
#: Project setting: documents with more pages are refused before any page is rendered (a
#: 5,000-page PDF is more likely a mistake than a batch, and would hold the project's write
#: lock for its whole commit).
MAX_PAGES_SETTING = "max_pages_per_document"
DEFAULT_MAX_PAGES = 2000

#: Reference file limits. SROIE's largest is 12 KB and 150 lines; a dense newspaper page in
#: word boxes is a few thousand.
MAX_REFERENCE_BYTES = 50 * 1024**2
MAX_REFERENCE_LINES = 20_000
#: How far past the page edge a box may reach, in pixels: tools that round outwards put the
#: far corner of a full-width box at width + 1. More than that is a box for another image.
BOX_TOLERANCE_PX = 1.0

# Truncated images must fail, not import half-grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedPage:
    data: bytes  # encoded image as stored
    ext: str
    width: int
    height: int
    #: A PDF page's text layer in this image's pixels (None: an image, or a layer that could not be read).
    text_layer: TextLayer | None = None


@dataclass
class ImportSummary:
    imported: list[str] = field(default_factory=list)  # file paths
    pages: int = 0
    duplicates: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    ignored: list[str] = field(default_factory=list)
    cancelled: bool = False
    cancelled_in: str | None = None  # the file that was being imported when cancel came
    stopped: bool = False  # the disk is full: the files after the failed one were not tried
    document_ids: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {len(self.imported)} document(s), {self.pages} page(s)"]
        if self.duplicates:
            out.append(f"skipped {len(self.duplicates)} already imported")
        if self.cancelled_in:
            out.append(f"cancelled during {self.cancelled_in}: it and the rest were not imported")
        elif self.cancelled:
            out.append("cancelled: the rest was not imported")
        out += [f"failed: {path}: {msg}" for path, msg in self.failures]
        return out


@dataclass
class ImportOptions:
    dpi: int = DEFAULT_DPI
    max_pixels: int = DEFAULT_MAX_PIXELS
    reference: bool = False  # read <stem>.json beside each image (the reference format)
    labels: bool = False  # and make its lines the page's human-made regions, the page done
    user: str = "unknown"
    max_pages: int | None = None  # pages per document for this import; None: the project's setting
    batch: str | None = None
    #: Annotations from another tool's files (core.formats.importing): checked against each page
    #: as it is rendered, written in the document's own transaction. Any object with
    #: ``has(path)``, ``check_page(path, page_no, width, height)`` and ``apply(project, path, pages)``.
    annotations: Any = None


class _Cancelled(Exception):
    """The cancel event was set between two pages of a file."""


# -- finding files ------------------------------------------------------------------------------
def natural_key(name: str) -> tuple:
    """Sort key putting ``r2`` before ``r10`` (digit runs compare as numbers), case-insensitive.

    ``re.split`` with a group alternates text and digit runs, so position i holds the same type
    in every key and the comparison never mixes str and int. The name itself breaks ties.
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def _natural_path_key(rel: Path) -> list:
    # Folders by name, then the file by stem before its ending, so a.png comes before a9.png
    # (comparing whole names would put "a" + "9" before "a" + ".png").
    return [natural_key(part) for part in rel.parts[:-1]] + [natural_key(rel.stem), natural_key(rel.suffix)]


def collect_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders (recursively, in natural order) and keep named files in the order given;
    report paths that do not exist."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            try:
                found = [q for q in p.rglob("*") if (q.is_file() or q.is_symlink()) and q.suffix.lower() in IMAGE_EXTS]
            except OSError as exc:
                missing.append((str(p), f"cannot read folder: {exc.strerror or exc}"))
                continue
            found = [f for f in found if not any(part.startswith(".") for part in f.relative_to(p).parts)]
            found.sort(key=lambda f: _natural_path_key(f.relative_to(p)))
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return files, missing


# -- decoding, one page at a time -------------------------------------------------------------------
def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise BadInputError("the image has no pixels")
    if width * height > max_pixels:
        raise BadInputError(
            f"page is {width}x{height} = {width * height / 1e6:.0f} megapixels, above the limit of "
            f"{max_pixels / 1e6:.0f} (raise it with --max-pixels if this is a real scan)"
        )


def _encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    if img.mode not in ("1", "L", "RGB", "RGBA", "I;16"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class PageSource:
    """The pages of one file: ``kind`` and ``count`` up front, pages decoded as iterated.

    Iterating renders one page per step and keeps none: whoever iterates stores each page
    before asking for the next. Use as a context manager (the decoder holds the file open).
    """

    kind = ""
    count = 0

    def __iter__(self) -> Iterator[DecodedPage]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "PageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _image_errors() -> Iterator[None]:
    """PIL's ways of saying the data is broken, as one BadInputError."""
    with warnings.catch_warnings():
        # PIL warns before it raises for bombs; we check the size ourselves first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except BadInputError:
            raise
        except UnidentifiedImageError:
            raise BadInputError("not an image or PDF that Proofdesk can read") from None
        except Image.DecompressionBombError as exc:
            raise BadInputError(f"image is too large: {exc}") from None
        except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError, struct.error) as exc:
            # PIL reports broken data with any of these, from seek() and EXIF parsing too.
            raise BadInputError(f"image data is broken ({exc or type(exc).__name__})") from None


class _ImagePages(PageSource):
    """Every frame of an image file, EXIF orientation applied.

    A single-frame JPEG or PNG that needs no rotation is kept byte for byte; anything else is
    stored as PNG (lossless).
    """

    kind = "image"

    def __init__(self, data: bytes, max_pixels: int):
        self.data, self.max_pixels = data, max_pixels
        with _image_errors():
            self.img = Image.open(io.BytesIO(data))
        try:
            with _image_errors():
                self.count = getattr(self.img, "n_frames", 1)
        except BaseException:
            self.img.close()
            raise

    def __iter__(self) -> Iterator[DecodedPage]:
        for i in range(self.count):
            with _image_errors():
                page = self._frame(i)
            yield page

    def _frame(self, i: int) -> DecodedPage:
        img = self.img
        img.seek(i)
        _check_pixels(img.width, img.height, self.max_pixels)
        img.load()
        orientation = img.getexif().get(0x0112, 1)
        if self.count == 1 and img.format in ("JPEG", "PNG") and orientation in (1, None):
            return DecodedPage(self.data, "jpg" if img.format == "JPEG" else "png", img.width, img.height)
        frame = ImageOps.exif_transpose(img.copy())
        return DecodedPage(_encode_png(frame), "png", frame.width, frame.height)

    def close(self) -> None:
        self.img.close()


class _PdfPages(PageSource):
    """Each PDF page rendered at ``dpi`` with pypdfium2, with its text layer (``core/textlayer.py``)
    read while the page is open. Reading the text layer never fails the page: a page whose layer
    PDFium cannot read has none, and is read by OCR like a scan."""

    kind = "pdf"

    def __init__(self, data: bytes, dpi: int, max_pixels: int):
        import pypdfium2 as pdfium

        self.pdfium, self.scale, self.max_pixels = pdfium, dpi / 72.0, max_pixels
        try:
            self.pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            msg = str(exc)
            if "password" in msg.lower():
                raise BadInputError("the PDF is encrypted (password protected)") from None
            raise BadInputError(f"the PDF is damaged or not a PDF ({msg})") from None
        self.count = len(self.pdf)
        if self.count == 0:
            self.pdf.close()
            raise BadInputError("the PDF has no pages")

    def __iter__(self) -> Iterator[DecodedPage]:
        for i in range(self.count):
            yield self._render(i)

    def _render(self, i: int) -> DecodedPage:
        pdfium = self.pdfium
        try:
            page = self.pdf[i]
        except pdfium.PdfiumError as exc:
            raise BadInputError(f"page {i + 1} of the PDF is damaged ({exc})") from None
        try:
            w_pt, h_pt = page.get_size()
            _check_pixels(round(w_pt * self.scale), round(h_pt * self.scale), self.max_pixels)
            try:
                bitmap = page.render(scale=self.scale, grayscale=False)
            except pdfium.PdfiumError as exc:
                raise BadInputError(f"page {i + 1} cannot be rendered ({exc})") from None
            img = bitmap.to_pil()
            layer = _read_text_layer(page, self.scale, (img.width, img.height), i)
            return DecodedPage(_encode_png(img.convert("RGB")), "png", img.width, img.height, layer)
        finally:
            page.close()

    def close(self) -> None:
        self.pdf.close()


def _read_text_layer(page, scale: float, size: tuple[int, int], i: int) -> TextLayer | None:
    """The page's text layer, or None when PDFium cannot read it (the import goes on without)."""
    try:
        return extract_text_layer(page, scale, size)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged text layer must never fail the import
        log.warning("page %d: the text layer cannot be read (%s: %s); the page is read by OCR", i + 1,
                    type(exc).__name__, exc)
        return None


def open_pages(data: bytes, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS) -> PageSource:
    """The pages of a file, by content, not by file ending; nothing is decoded yet but the header."""
    if not data:
        raise BadInputError("the file is empty (0 bytes)")
    if data[:5] == b"%PDF-" or data[:1024].lstrip().startswith(b"%PDF-"):
        return _PdfPages(data, dpi, max_pixels)
    return _ImagePages(data, max_pixels)


def decode_file(data: bytes, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, list[DecodedPage]]:
    """Every page of a small file at once. Returns (kind, pages). The importer streams instead."""
    with open_pages(data, dpi, max_pixels) as source:
        return source.kind, list(source)


# -- reference files ---------------------------------------------------------------------------------
def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def read_reference(image_path: Path) -> dict | None:
    """The reference lines and fields stored beside an image as ``<stem>.json``, if any.

    Checked completely but for the page size (see :func:`check_reference_fits`); a problem is
    a BadInputError naming the file, the line and what is wrong.
    """
    ref_path = image_path.with_suffix(".json")
    if not ref_path.exists():
        return None

    def bad(what: str) -> BadInputError:
        return BadInputError(f"reference file {ref_path.name}: {what}")

    too_big = f"the file is {{:.1f}} MB; the limit is {MAX_REFERENCE_BYTES // 1024**2} MB"
    size = ref_path.stat().st_size
    if size > MAX_REFERENCE_BYTES:
        raise bad(too_big.format(size / 1024**2))
    with open(ref_path, "rb") as fh:
        raw_bytes = fh.read(MAX_REFERENCE_BYTES + 1)  # it may have grown since stat
    if len(raw_bytes) > MAX_REFERENCE_BYTES:
        raise bad(too_big.format(len(raw_bytes) / 1024**2))
    try:
        text = raw_bytes.decode("utf-8-sig")  # a byte-order mark, as Windows editors write, is fine
    except UnicodeDecodeError as exc:
        raise bad(f"is not UTF-8 text (byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except RecursionError:
        # The C parser recurses once per level; a file of 100,000 brackets ends here.
        raise bad("is nested too deeply to be a reference file") from None
    except ValueError as exc:
        raise bad(f"is not valid JSON ({exc})") from None
    return {**_check_reference(raw, bad), "source": ref_path.name}


def _check_reference(raw, bad: Callable[[str], BadInputError]) -> dict:
    if not isinstance(raw, dict):
        raise bad(f"the top level must be a JSON object, not {_json_type(raw)}")
    lines = raw.get("lines", [])
    if not isinstance(lines, list):
        raise bad(f"lines must be a list, not {_json_type(lines)}")
    if len(lines) > MAX_REFERENCE_LINES:
        raise bad(f"{len(lines)} lines; the limit is {MAX_REFERENCE_LINES} per page")
    out = []
    for i, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise bad(f"line {i} must be a JSON object, not {_json_type(line)}")
        if "box" not in line:
            raise bad(f"line {i}: box is missing")
        box = line["box"]
        if not isinstance(box, list):
            raise bad(f"line {i}: box needs 8 numbers, not {_json_type(box)}")
        if len(box) != 8:
            raise bad(f"line {i}: box needs 8 numbers, has {len(box)}")
        for k, v in enumerate(box, start=1):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(f"line {i}: box coordinate {k} is not a number ({repr(v)[:20]})")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise bad(f"line {i}: box coordinate {k} is not a finite number ({repr(v)[:20]})")
            if v < 0:
                raise bad(f"line {i}: box coordinate {k} is negative ({v:g})")
        if "text" not in line:
            raise bad(f"line {i}: text is missing")
        if not isinstance(line["text"], str):
            raise bad(f"line {i}: text must be a string, not {_json_type(line['text'])}")
        label = line.get("label")
        if label is not None and not isinstance(label, str):
            raise bad(f"line {i}: label must be a string or null, not {_json_type(label)}")
        points = [[float(box[j]), float(box[j + 1])] for j in range(0, 8, 2)]
        out.append({"points": points, "text": line["text"], **({"label": label} if label else {})})
    fields = raw.get("fields")
    fields = {} if fields is None else fields
    if not isinstance(fields, dict):
        raise bad(f"fields must be a JSON object, not {_json_type(fields)}")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise bad(f"field {name[:40]} must be a string, not {_json_type(value)}")
    return {"lines": out, "fields": fields}


def check_reference_fits(reference: dict, width: int, height: int) -> None:
    """Every box of ``reference`` on a ``width`` x ``height`` page (within BOX_TOLERANCE_PX)."""
    for i, line in enumerate(reference["lines"], start=1):
        for x, y in line["points"]:
            for axis, value, limit in (("x", x, width), ("y", y, height)):
                if value > limit + BOX_TOLERANCE_PX:
                    raise BadInputError(
                        f"reference file {reference['source']}: line {i}: box reaches {axis}={value:g}, outside the"
                        f" page ({width}x{height})")


# -- importing ----------------------------------------------------------------------------------------
def max_pages_per_document(store: Store) -> int:
    """The project's page limit per document (setting ``max_pages_per_document``)."""
    value = store.get_setting(MAX_PAGES_SETTING, DEFAULT_MAX_PAGES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProjectError(f"the project setting {MAX_PAGES_SETTING} must be a whole number of pages, 1 or more,"
                           f" not {value!r}")
    return value


@dataclass
class _Run:
    """What every file of one import_paths call shares."""

    options: ImportOptions
    batch: str
    max_pages: int
    progress: Callable[[int, int, str], None] | None
    cancel: threading.Event | None
    done: int = 0
    total: int = 0


def import_paths(
    project: Project,
    paths: Iterable[str | os.PathLike],
    options: ImportOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportSummary:
    """Import files and folders; returns what happened to each.

    ``progress(done, total, note)`` is called after every file (``note``: its path) and, for a
    file of several pages, after each page (``note``: ``"<path> p. 12 of 5000"``; ``done``
    still counts whole files, so callers need no change). Setting ``cancel`` stops between two
    pages: the file in hand is dropped, everything imported before it stays. Raises
    ProjectError when the project database is deleted or replaced under the import.
    """
    options = options or ImportOptions()
    max_pages = options.max_pages if options.max_pages is not None else max_pages_per_document(project.store)
    run = _Run(options, options.batch or f"{now()[:19]}-{uuid.uuid4().hex[:6]}", max_pages, progress, cancel)
    files, missing = collect_files(paths)
    run.total = len(files)
    summary = ImportSummary(failures=list(missing))
    for i, path in enumerate(files):
        project.store.check_file()
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        run.done = i
        try:
            _import_one(project, path, run, summary)
        except _Cancelled:
            summary.cancelled, summary.cancelled_in = True, str(path)
            break
        except ProjectError:
            raise  # the project itself is gone or broken: no use trying the next file
        except BadInputError as exc:
            summary.failures.append((str(path), str(exc)))
        except MemoryError:
            summary.failures.append((str(path), "not enough memory to decode this file"))
        except (OSError, *operational_errors()) as exc:
            full = _disk_full(exc)
            if full:  # every next file would fail the same way: stop, keep what is imported
                summary.failures.append((str(path), full))
                summary.stopped = True
                break
            summary.failures.append((str(path), _os_failure(exc, project.root)))
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch
            summary.failures.append((str(path), f"cannot import: {type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(i + 1, len(files), str(path))
    project.store.check_file()  # before anyone is told "imported"
    return summary


def _disk_full(exc: BaseException) -> str | None:
    """The message for a full disk (an image write, SQLite's "database or disk is full", the
    server's disk_full)."""
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or is_disk_full(exc):
        return ("the disk holding the project is full: nothing of this file was written; free some space and"
                " import again (files imported before it are kept, those after it were not tried)")
    return None


def _os_failure(exc: BaseException, root: Path) -> str:
    """"cannot read" for the file being imported, "cannot write" for the project's own files."""
    if isinstance(exc, operational_errors()):
        return f"cannot write to the project's database: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
    name = getattr(exc, "filename", None)
    try:
        ours = name is not None and Path(name).resolve().is_relative_to(root)
    except (OSError, ValueError):
        ours = False
    return f"cannot {'write' if ours else 'read'}: {exc.strerror or exc}"


def _import_one(project: Project, path: Path, run: _Run, summary: ImportSummary) -> None:
    options, store = run.options, project.store
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BadInputError(f"the file is {size / 1024**3:.1f} GB; files above 2 GB are not imported")
    data = path.read_bytes()
    sha = sha256_bytes(data)
    existing = store.find_document(sha)
    ann = options.annotations if options.annotations is not None and options.annotations.has(path) else None
    if existing is not None:
        summary.duplicates.append(str(path))
        if existing.kind == "pdf" and not store.document_has_text_layers(existing.id):
            _add_text_layers(store, existing.id, data)  # imported by a Proofdesk before text layers
        if ann is not None:
            # Imported before (as a plain image, or with other annotations): add these to it.
            with store.transaction():
                pages = store.pages_of(existing.id)
                for page in pages:
                    ann.check_page(path, page.page_no, page.width, page.height)
                ann.apply(project, path, pages)
        elif options.labels:
            # Imported before without its labels (a plain import, or an older Proofdesk that
            # wrote them in a second transaction which may not have happened): add them.
            reference = read_reference(path)
            if reference is not None:
                with store.transaction():
                    for page in store.pages_of(existing.id):
                        check_reference_fits(reference, page.width, page.height)
                        apply_reference_labels(project, page.id, reference, options.user)
        return
    # The reference first: a bad one fails the file before any page is decoded.
    reference = read_reference(path) if options.reference or options.labels else None
    with open_pages(data, options.dpi, options.max_pixels) as source, project.images.staging() as staged:
        count = source.count
        if count > run.max_pages:
            raise BadInputError(f"{path.name} has {count} pages; the limit is {run.max_pages}"
                                f" (setting {MAX_PAGES_SETTING})")
        if reference is not None and count != 1:
            raise BadInputError("reference lines are only supported for single-page images")
        pages, layers = [], []
        for n, dp in enumerate(source, start=1):
            if reference is not None:
                check_reference_fits(reference, dp.width, dp.height)
            if ann is not None:
                ann.check_page(path, n, dp.width, dp.height)
            image_sha = staged.put(dp.data, dp.ext)
            pages.append(Page(document_id=0, page_no=n, name=path.name if count == 1 else f"{path.name} p.{n}",
                              image_sha256=image_sha, width=dp.width, height=dp.height))
            layers.append(dp.text_layer)
            del dp  # the next page is rendered only when this one is on disk
            if count > 1 and run.progress is not None:
                # No "/" in what follows the path: callers show Path(note).name.
                run.progress(run.done, run.total, f"{path} p. {n} of {count}")
            if n < count and run.cancel is not None and run.cancel.is_set():
                raise _Cancelled()
        doc = Document(name=path.name, sha256=sha, source=str(path.resolve()), kind=source.kind,
                       imported_at=now(), imported_by=options.user, batch=run.batch)
        store.check_file()
        try:
            # One transaction: the rows, the label regions, and the images moved into place
            # last, so a failure anywhere leaves neither rows nor images (only a failing COMMIT
            # itself leaves published images without rows: harmless, nothing names them).
            with store.transaction():
                doc_id = store.add_document(doc, pages, [reference] if reference else None)
                if any(layer is not None for layer in layers):
                    for page, layer in zip(store.pages_of(doc_id), layers):
                        if layer is not None:
                            store.set_text_layer(page.id, layer)
                if options.labels and reference is not None:
                    for page in store.pages_of(doc_id):
                        apply_reference_labels(project, page.id, reference, options.user)
                if ann is not None:
                    ann.apply(project, path, store.pages_of(doc_id))
                try:
                    staged.publish()
                except OSError as exc:
                    raise BadInputError(f"cannot store the page images: {exc.strerror or exc}") from None
        except integrity_errors():
            if store.find_document(sha) is None:
                raise
            # Another process imported the same file a moment ago.
            summary.duplicates.append(str(path))
            return
    summary.imported.append(str(path))
    summary.document_ids.append(doc_id)
    summary.pages += len(pages)


def _add_text_layers(store: Store, document_id: int, data: bytes) -> int:
    """Read the text layers of a PDF imported before Proofdesk kept them, in the frame of its stored
    page images; returns how many pages got one. Never raises for the PDF's sake."""
    import pypdfium2 as pdfium

    layers: list[tuple[int, TextLayer]] = []
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return 0
    try:
        for page in store.pages_of(document_id):
            if not 1 <= page.page_no <= len(pdf):
                continue
            try:
                pdf_page = pdf[page.page_no - 1]
            except pdfium.PdfiumError:
                continue
            try:
                w_pt = pdf_page.get_size()[0]
                layer = _read_text_layer(pdf_page, page.width / w_pt if w_pt > 0 else 1.0,
                                         (page.width, page.height), page.page_no - 1)
            finally:
                pdf_page.close()
            if layer is not None:
                layers.append((page.id, layer))
    finally:
        pdf.close()
    if layers:
        with store.transaction():
            for page_id, layer in layers:
                store.set_text_layer(page_id, layer)
    return len(layers)


def apply_reference_labels(project: Project, page_id: int, reference: dict, user: str, done: bool = True) -> int:
    """Make the reference lines the page's regions, as a person's work, and mark it done.

    How already-labelled data comes in (and how a reference set becomes training data): one
    action by ``user``, so it is in the edit log like any correction. The reference's key fields
    (``fields``: name -> value) become the page's field values for the project's field names, as
    that person's: a name the reference leaves empty or out is "not on this page" (the reference is
    the whole truth of the page); a field model can then be trained on them. Does nothing on a page
    that already has human-made regions. Returns the number of regions added.
    """
    store = project.store
    if any(r.origin == "human" for r in store.regions(page_id, include_deleted=True)):
        return 0
    lines = [line for line in reference.get("lines", []) if str(line.get("text", "")).strip()]
    given = reference.get("fields") if isinstance(reference.get("fields"), dict) else {}
    names = store.fields() if given else []
    with store.action(user, page_id, "import labels") as a:
        for line in lines:
            a.add_region(page_id, tuple(tuple(p) for p in line["points"]), text=line["text"], label=line.get("label"))
        for name in names:
            value = given.get(name)
            text = "" if value is None else str(value).strip()
            a.set_field(page_id, FieldValue(name=name, text=text) if text else FieldValue(name=name, absent=True))
        if done:
            a.set_page_status(page_id, PageStatus.DONE)
    return len(lines)
