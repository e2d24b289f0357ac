"""Import images and PDFs into a project.

Each file is decoded completely (every page, every pixel) before anything is written, then
its page images go to the content-addressed store and the document with all its pages is
inserted in one transaction. A file that fails anywhere gets one line in the summary and
leaves nothing in the database; the batch goes on.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import BadInputError
from .model import Document, Page, PageStatus, flat_to_quad
from .project import Project, sha256_bytes
from .store import now

#: File endings looked at when a folder is imported. A named file is always tried, whatever
#: its ending, because the ending may lie; contents decide the format.
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf"}

#: Pages above this many pixels are refused (decompression bombs, absurd scans). 150 MP is
#: an A0 sheet at 300 dpi; a 4000x6000 phone photo is 24 MP.
DEFAULT_MAX_PIXELS = 150_000_000
DEFAULT_DPI = 300
MAX_FILE_BYTES = 2 * 1024**3

# Truncated images must fail, not import half-grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedPage:
    data: bytes  # encoded image as stored
    ext: str
    width: int
    height: int


@dataclass
class ImportSummary:
    imported: list[str] = field(default_factory=list)  # file paths
    pages: int = 0
    duplicates: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    ignored: list[str] = field(default_factory=list)
    cancelled: bool = False
    document_ids: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {len(self.imported)} document(s), {self.pages} page(s)"]
        if self.duplicates:
            out.append(f"skipped {len(self.duplicates)} already imported")
        if self.cancelled:
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
    batch: str | None = None


def collect_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders (recursively, sorted) and keep named files; report paths that do not exist."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            try:
                found = sorted(q for q in p.rglob("*") if (q.is_file() or q.is_symlink()) and q.suffix.lower() in IMAGE_EXTS)
            except OSError as exc:
                missing.append((str(p), f"cannot read folder: {exc.strerror or exc}"))
                continue
            files.extend(f for f in found if not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.exists():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return files, missing


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


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[DecodedPage]:
    """Decode every frame of an image file; EXIF orientation applied.

    Single-frame JPEG and PNG files that need no rotation are kept byte for byte; anything
    else is stored as PNG (lossless).
    """
    with warnings.catch_warnings():
        # PIL warns before it raises for bombs; we check the size ourselves first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadInputError("not an image or PDF that Proofdesk can read") from None
        except Image.DecompressionBombError as exc:
            raise BadInputError(f"image is too large: {exc}") from None
        with img:
            try:
                return _decode_frames(img, data, max_pixels)
            except BadInputError:
                raise
            except Image.DecompressionBombError as exc:
                raise BadInputError(f"image is too large: {exc}") from None
            except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError,
                    struct.error) as exc:
                # PIL reports broken data with any of these, from seek() and EXIF parsing too.
                raise BadInputError(f"image data is broken ({exc or type(exc).__name__})") from None


def _decode_frames(img: Image.Image, data: bytes, max_pixels: int) -> list[DecodedPage]:
    fmt = img.format
    n_frames = getattr(img, "n_frames", 1)
    pages: list[DecodedPage] = []
    for i in range(n_frames):
        img.seek(i)
        _check_pixels(img.width, img.height, max_pixels)
        img.load()
        orientation = img.getexif().get(0x0112, 1)
        if n_frames == 1 and fmt in ("JPEG", "PNG") and orientation in (1, None):
            pages.append(DecodedPage(data, "jpg" if fmt == "JPEG" else "png", img.width, img.height))
            continue
        frame = ImageOps.exif_transpose(img.copy())
        pages.append(DecodedPage(_encode_png(frame), "png", frame.width, frame.height))
    return pages


def decode_pdf(data: bytes, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[DecodedPage]:
    """Render each PDF page at ``dpi`` with pypdfium2."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise BadInputError("the PDF is encrypted (password protected)") from None
        raise BadInputError(f"the PDF is damaged or not a PDF ({msg})") from None
    try:
        if len(pdf) == 0:
            raise BadInputError("the PDF has no pages")
        pages = []
        scale = dpi / 72.0
        for i in range(len(pdf)):
            try:
                page = pdf[i]
            except pdfium.PdfiumError as exc:
                raise BadInputError(f"page {i + 1} of the PDF is damaged ({exc})") from None
            try:
                w_pt, h_pt = page.get_size()
                _check_pixels(round(w_pt * scale), round(h_pt * scale), max_pixels)
                try:
                    bitmap = page.render(scale=scale, grayscale=False)
                except pdfium.PdfiumError as exc:
                    raise BadInputError(f"page {i + 1} cannot be rendered ({exc})") from None
                img = bitmap.to_pil()
                pages.append(DecodedPage(_encode_png(img.convert("RGB")), "png", img.width, img.height))
            finally:
                page.close()
        return pages
    finally:
        pdf.close()


def decode_file(data: bytes, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, list[DecodedPage]]:
    """Decode by content, not by file ending. Returns (kind, pages)."""
    if not data:
        raise BadInputError("the file is empty (0 bytes)")
    if data[:5] == b"%PDF-" or data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf", decode_pdf(data, dpi, max_pixels)
    return "image", decode_image(data, max_pixels)


def read_reference(image_path: Path) -> dict | None:
    """The reference lines and fields stored beside an image as ``<stem>.json``, if any."""
    ref_path = image_path.with_suffix(".json")
    if not ref_path.exists():
        return None
    try:
        raw = json.loads(ref_path.read_text(encoding="utf-8"))
        lines = [{"points": [list(p) for p in flat_to_quad(line["box"])], "text": str(line["text"]),
                  **({"label": str(line["label"])} if line.get("label") else {})}
                 for line in raw.get("lines", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"reference file {ref_path.name} is not in the reference format ({exc})") from None
    return {"lines": lines, "fields": raw.get("fields", {}) or {}, "source": ref_path.name}


def import_paths(
    project: Project,
    paths: Iterable[str | os.PathLike],
    options: ImportOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportSummary:
    """Import files and folders; returns what happened to each.

    ``progress(done, total, path)`` is called after every file; setting ``cancel`` stops
    after the file in hand, keeping everything imported so far.
    """
    options = options or ImportOptions()
    batch = options.batch or f"{now()[:19]}-{uuid.uuid4().hex[:6]}"
    files, missing = collect_files(paths)
    summary = ImportSummary(failures=list(missing))
    for i, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        try:
            _import_one(project, path, options, batch, summary)
        except BadInputError as exc:
            summary.failures.append((str(path), str(exc)))
        except MemoryError:
            summary.failures.append((str(path), "not enough memory to decode this file"))
        except OSError as exc:
            summary.failures.append((str(path), f"cannot read: {exc.strerror or exc}"))
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch
            summary.failures.append((str(path), f"cannot import: {type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(i + 1, len(files), str(path))
    return summary


def _import_one(project: Project, path: Path, options: ImportOptions, batch: str, summary: ImportSummary) -> None:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BadInputError(f"the file is {size / 1024**3:.1f} GB; files above 2 GB are not imported")
    data = path.read_bytes()
    sha = sha256_bytes(data)
    existing = project.store.find_document(sha)
    if existing is not None:
        summary.duplicates.append(str(path))
        if options.labels:  # a run stopped between the document and its labels: finish it
            reference = read_reference(path)
            for page in project.store.pages_of(existing.id) if reference else []:
                apply_reference_labels(project, page.id, reference, options.user)
        return
    kind, decoded = decode_file(data, options.dpi, options.max_pixels)
    reference = read_reference(path) if options.reference or options.labels else None
    if reference is not None and len(decoded) != 1:
        raise BadInputError("reference lines are only supported for single-page images")
    pages = []
    for n, dp in enumerate(decoded, start=1):
        image_sha = project.images.put(dp.data, dp.ext)
        name = path.name if len(decoded) == 1 else f"{path.name} p.{n}"
        pages.append(Page(document_id=0, page_no=n, name=name, image_sha256=image_sha,
                          width=dp.width, height=dp.height))
    doc = Document(name=path.name, sha256=sha, source=str(path.resolve()), kind=kind,
                   imported_at=now(), imported_by=options.user, batch=batch)
    try:
        doc_id = project.store.add_document(doc, pages, [reference] * len(pages) if reference else None)
    except sqlite3.IntegrityError:
        # Another process imported the same file a moment ago.
        summary.duplicates.append(str(path))
        return
    if options.labels and reference is not None:
        for page in project.store.pages_of(doc_id):
            apply_reference_labels(project, page.id, reference, options.user)
    summary.imported.append(str(path))
    summary.document_ids.append(doc_id)
    summary.pages += len(pages)


def apply_reference_labels(project: Project, page_id: int, reference: dict, user: str) -> int:
    """Make the reference lines the page's regions, as a person's work, and mark it done.

    How already-labelled data comes in (and how a reference set becomes training data): one
    action by ``user``, so it is in the edit log like any correction. Does nothing on a page
    that already has human-made regions. Returns the number of regions added.
    """
    store = project.store
    if any(r.origin == "human" for r in store.regions(page_id, include_deleted=True)):
        return 0
    lines = [line for line in reference.get("lines", []) if str(line.get("text", "")).strip()]
    with store.action(user, page_id, "import labels") as a:
        for line in lines:
            a.add_region(page_id, tuple(tuple(p) for p in line["points"]), text=line["text"], label=line.get("label"))
        a.set_page_status(page_id, PageStatus.DONE)
    return len(lines)
