"""Proofdesk's own reference JSON (``--format reference``, what ``proofdesk export`` writes by default).

One ``<stem>.json`` per page with the page image beside it as ``<stem>.png`` / ``.jpg`` (the format
of ``shared/datasets/README.md``), so an export is an evaluation set for ``proofdesk eval`` and
imports into another project with ``import --reference`` or ``--annotations reference``::

    {"image": "receipt.jpg", "name": "receipt.jpg", "document": "receipt.jpg", "page": 1,
     "width": 949, "height": 1349, "status": "done", "split": "train",
     "lines": [{"box": [x1, y1, x2, y2, x3, y3, x4, y4], "text": "TOTAL", "label": "total",
                "confidence": 0.93, "origin": "prediction", "corrected": true,
                "updated_by": "ana", "updated_at": "2025-01-31T09:12:00Z"}],
     "fields": {"total": "9.90"}}

Written: every region of the page (deleted ones left out) in reading order; ``box`` is its
4-point polygon, corners clockwise from the top-left, image pixels; ``label`` its field (or
null), ``confidence`` (null for a person's line), ``origin`` ``human`` or ``prediction``,
``corrected`` (a person changed the machine's line), who changed it last and when (UTC ISO 8601);
``block`` only where the line has one. ``fields``: label -> the texts of the regions with that
label joined in reading order. ``name`` is the page's name in the project (``scan.pdf p.2`` for
a page of a multi-page document), ``status`` its status, ``split`` (train/val) only when the
export follows a dataset version. Images are copied unless the export says not to (the
``image`` key names them either way).

Read: a folder (searched recursively) of ``X.json`` files, each with its image beside it (the
file its ``image`` key names, else ``X.png`` / ``X.jpg`` / ...), or one such JSON or image
file. Validated like ``import --reference`` (size, nesting and line-count limits, 8 finite
non-negative numbers per box, string texts, labels and fields): a problem is one error naming
the file and the line. Kept: boxes, texts, labels, confidences, blocks, fields, and whether a
person checked the page (``status`` done or approved; another status imports the page as in
progress; no status, as in the shipped datasets, as checked). Not read back: ``origin``,
``corrected``, ``updated_by`` and ``updated_at`` (imported lines are the importing user's work),
``split``, and the extra keys of the FUNSD reference files (``entities``, ``links``).
A folder's other JSON files (no ``lines`` key: reports, settings) are skipped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import BadInputError
from ..importer import MAX_REFERENCE_BYTES, _check_reference, _json_type, natural_key
from .base import AnnotatedPage, ExportOptions, ExportPage, Line, register_reader, register_writer

#: The page statuses that mean a person checked the page.
CHECKED_STATUSES = {"done", "approved"}
#: Image endings tried, in this order, for ``X.json`` without a usable ``image`` key.
PAIR_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
#: detect() looks at this many files and bytes at most.
DETECT_FILES = 20
DETECT_BYTES = 2 * 1024**2


# -- shared helpers (the published formats use them too) -----------------------------------------------
def load_json(path: Path, limit: int = MAX_REFERENCE_BYTES):
    """A JSON file's value, read with a size limit; BadInputError (naming the file) when it is too
    big, not UTF-8, not JSON, or nested too deeply to parse."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise BadInputError(f"{path.name}: the file is {size / 1024**2:.1f} MB; the limit is"
                                f" {limit / 1024**2:.0f} MB")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # it may have grown since stat
    except OSError as exc:
        raise BadInputError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise BadInputError(f"{path.name}: the file is over the limit of {limit / 1024**2:.0f} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path.name}: is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadInputError(f"{path.name}: is nested too deeply to be an annotation file") from None
    except ValueError as exc:
        raise BadInputError(f"{path.name}: is not valid JSON ({exc})") from None


def peek_json(path: Path):
    """A small JSON file's value for detect(), or None when it is big, unreadable or not JSON."""
    try:
        if path.stat().st_size > DETECT_BYTES:
            return None
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None


def walk_files(root: Path, exts: Iterable[str], limit: int | None = None) -> list[Path]:
    """Files under ``root`` ending in one of ``exts`` (lower case, with the dot), in natural order
    (``r2`` before ``r10``), folders first by name; hidden files and folders left out."""
    exts = tuple(exts)
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=natural_key)
        for name in sorted(files, key=natural_key):
            if not name.startswith(".") and name.lower().endswith(exts):
                found.append(Path(folder) / name)
                if limit is not None and len(found) >= limit:
                    return found
    if limit is None:
        found.sort(key=lambda p: [natural_key(part) for part in p.relative_to(root).parts])
    return found


def number(value, what: str, bad: Callable[[str], BadInputError]) -> float:
    """``value`` as a finite float; ``bad(...)`` names ``what`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{what} is not a number ({repr(value)[:20]})")
    try:
        out = float(value)
    except OverflowError:  # an integer too large for a float
        raise bad(f"{what} is not a finite number ({repr(value)[:20]})") from None
    if not math.isfinite(out):
        raise bad(f"{what} is not a finite number ({repr(value)[:20]})")
    return out


def size_of(raw: dict, key: str, bad: Callable[[str], BadInputError]) -> int | None:
    """An optional positive whole-number page size (``width`` / ``height``)."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            isinstance(value, int) or (math.isfinite(value) and value.is_integer())) or not 0 < value < 10**7:
        raise bad(f"{key} must be a positive whole number of pixels, not {repr(value)[:20]}")
    return int(value)


# -- reading -------------------------------------------------------------------------------------------
def _image_of(json_path: Path, raw: dict) -> Path:
    """The image a reference file is for: its ``image`` key when that names a file beside it, else
    the same stem with an image ending (the first that exists; ``.png`` when none does)."""
    name = raw.get("image")
    if isinstance(name, str) and name and Path(name).name == name and name not in (".", ".."):
        named = json_path.with_name(name)
        if named.is_file():
            return named
    for ext in PAIR_EXTS:
        for candidate in (json_path.with_suffix(ext), json_path.with_suffix(ext.upper())):
            if candidate.is_file():
                return candidate
    if isinstance(name, str) and name and Path(name).name == name and name not in (".", ".."):
        return json_path.with_name(name)  # missing: the importer says so
    return json_path.with_suffix(".png")


def read_page(json_path: Path, raw=None) -> AnnotatedPage:
    """One reference file as a page, checked completely (BadInputError naming file and line)."""
    if raw is None:
        raw = load_json(json_path)

    def bad(what: str) -> BadInputError:
        return BadInputError(f"{json_path.name}: {what}")

    checked = _check_reference(raw, bad)  # types, box numbers, texts, labels, fields
    width, height = size_of(raw, "width", bad), size_of(raw, "height", bad)
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        raise bad(f"status must be a string, not {_json_type(status)}")
    lines = []
    for i, (line, raw_line) in enumerate(zip(checked["lines"], raw.get("lines", [])), start=1):
        confidence = raw_line.get("confidence")
        if confidence is not None:
            confidence = number(confidence, f"line {i}: confidence", bad)
            if not 0 <= confidence <= 1:
                raise bad(f"line {i}: confidence must be between 0 and 1, not {confidence:g}")
        block = raw_line.get("block")
        if isinstance(block, bool) or (block is not None and not isinstance(block, (str, int))):
            raise bad(f"line {i}: block must be a string or null, not {_json_type(block)}")
        lines.append(Line(points=[(float(x), float(y)) for x, y in line["points"]], text=line["text"],
                          label=line.get("label"), confidence=confidence,
                          block=None if block is None else str(block)))
    return AnnotatedPage(image=_image_of(json_path, raw), lines=lines, width=width, height=height,
                         fields=dict(checked["fields"]),
                         checked=None if status is None else status in CHECKED_STATUSES)


def _is_reference(raw) -> bool:
    return isinstance(raw, dict) and "lines" in raw


class ReferenceReader:
    name = "reference"
    title = "Proofdesk reference JSON (one JSON per image)"

    def detect(self, path: Path) -> float:
        try:
            path = Path(path)
            if path.is_file():
                jsons = [path if path.suffix.lower() == ".json" else path.with_suffix(".json")]
            elif path.is_dir():
                jsons = walk_files(path, (".json",), DETECT_FILES)
            else:
                return 0.0
            for jp in jsons:
                raw = peek_json(jp) if jp.is_file() else None
                if not _is_reference(raw) or not isinstance(raw["lines"], list):
                    continue
                first = raw["lines"][0] if raw["lines"] else {}
                shaped = isinstance(first, dict) and (not first or isinstance(first.get("box"), list)
                                                      and len(first["box"]) == 8)
                if shaped and _image_of(jp, raw).is_file():
                    return 0.9
                if shaped:
                    return 0.5
        except (OSError, ValueError):
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        if path.is_file():
            jp = path if path.suffix.lower() == ".json" else path.with_suffix(".json")
            if not jp.is_file():
                raise BadInputError(f"{path.name}: no reference file {jp.name} beside it")
            yield read_page(jp)
            return
        if not path.is_dir():
            raise BadInputError(f"{path}: no such file or folder")
        found = 0
        for jp in walk_files(path, (".json",)):
            raw = load_json(jp)
            if not _is_reference(raw):
                continue  # another JSON (a report, a settings file): not a page
            found += 1
            yield read_page(jp, raw)
        if not found:
            raise BadInputError(f"{path.name}: no reference JSON files (with \"lines\") found")


# -- writing -------------------------------------------------------------------------------------------
def _coord(v: float):
    v = float(v)
    return int(v) if v.is_integer() else round(v, 3)


def page_name(page: ExportPage) -> str:
    """The page's name in the project: the document's, with `` p.N`` on a multi-page document."""
    return page.document if page.page_count <= 1 else f"{page.document} p.{page.page_no}"


def page_record(page: ExportPage, image_name: str) -> dict:
    """The reference JSON of one page."""
    lines = []
    for ln in page.lines:
        rec = {
            "box": [_coord(c) for p in ln.points for c in p],
            "text": ln.text,
            "label": ln.label,
            "confidence": ln.confidence,
            "origin": ln.origin,
            "corrected": bool(ln.corrected),
            "updated_by": ln.updated_by,
            "updated_at": ln.updated_at,
        }
        if ln.block is not None:
            rec["block"] = ln.block
        lines.append(rec)
    record = {
        "image": image_name,
        "name": page_name(page),
        "document": page.document,
        "page": page.page_no,
        "width": page.width,
        "height": page.height,
        "status": page.status,
    }
    if page.split is not None:
        record["split"] = page.split
    record["lines"] = lines
    record["fields"] = dict(page.fields)
    return record


def write_atomic(path: Path, text: str, encoding: str = "utf-8", newline: str | None = None) -> None:
    """Write ``path`` through a hidden temporary file, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding=encoding, newline=newline) as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)  # streamed: the image is never all in memory
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ReferenceWriter:
    name = "reference"
    title = "Proofdesk reference JSON (one JSON per page, image beside it)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for page in pages:
            image_name = f"{page.stem}{Path(page.image).suffix.lower() or '.png'}"
            if getattr(options, "copy_images", True):
                copy_atomic(Path(page.image), out / image_name)
            record = page_record(page, image_name)
            write_atomic(out / f"{page.stem}.json", json.dumps(record, ensure_ascii=False, indent=1))
            count += 1
            if progress is not None:
                progress(count, page.stem)
        return count


register_reader(ReferenceReader())
register_writer(ReferenceWriter())
