"""PaddleOCR / PPOCRLabel: ``--annotations paddleocr`` / ``paddleocr-rec``, ``--format paddleocr``.

**Read** (``paddleocr``): a PPOCRLabel folder (or a folder of such folders, as PaddleOCR's
``gen_ocr_train_val_test.py`` takes them, or one label file: ``Label.txt``, ``det/train.txt``)::

    Label.txt       zh_train/img_1.jpg<TAB>[{"transcription": "TOTAL", "points": [[x, y], ...],
                                            "difficult": false, "key_cls": "total"}, ...]
    fileState.txt   /abs/path/zh_train/img_1.jpg<TAB>1

- one ``Label.txt`` line -> one page; the image path is relative to the folder's parent as
  PPOCRLabel writes it (``<folder>/<image>``), or to the folder, or absolute; a path that is
  missing there is looked for by its file name in the folder (a dataset moved since it was
  labelled). Paths outside the folder are refused.
- each region -> a line: ``transcription`` -> text, ``points`` -> polygon (4 points kept,
  turned clockwise when given counter-clockwise; PPOCRLabel's multi-point polygons, 5 or
  more points, become their minimum-area rotated rectangle, starting at the corner nearest the
  first point), ``key_cls`` (KIE mode) -> the field label (``"None"`` = no label).
- ``fileState.txt``: a page listed there with state 1 was checked by a person (``checked``
  True, imported done); a page not listed was not (in progress). No ``fileState.txt``: the
  format does not say (``checked`` None: done). A checked image with no ``Label.txt`` line
  (PPOCRLabel leaves out images without boxes) is a page with no lines.
- ``"###"`` (and ``"*"``): PaddleOCR's "don't care" transcriptions (the detector's training
  ignores those boxes, PPOCRLabel leaves them out of recognition crops) are kept as regions
  with that text, so the box survives a round trip; the writer leaves them out of the crops
  again. (Proofdesk's own training would read ``###`` as a text: delete or retype them.)
- Not kept: ``difficult`` (Proofdesk has no such flag), PPOCRLabel's ``Cache.cach``
  (its unsaved working state) and KIE ``id`` / ``linking``. Label.txt has no confidences and
  no page fields beyond the regions' labels.

**Read** (``paddleocr-rec``): a recognition set, ``rec_gt.txt`` (or any ``<crop><TAB><text>``
list) with its crops (paths as in ``Label.txt``; a bare name is also looked for in
``crop_img/``): each crop is a page with one line covering the whole crop, checked (None).
Exactly one tab per line (PaddleOCR would cut a text at a second one).

**Write** (``paddleocr``), what PaddleOCR's training reads and PPOCRLabel opens, in ``OUT``:

- the page images, ``<stem>.png`` / ``.jpg`` (the stem's characters other than letters, digits
  and ``._-`` made ``_``, made unique ignoring case);
- ``Label.txt``: ``<OUT's name>/<image><TAB><JSON>`` per page with regions (corners rounded
  to whole pixels, ``difficult`` false, ``key_cls`` on every region of a page where one region
  has a field label, ``"None"`` for the others); train the detector with
  ``data_dir: <OUT's parent>``, ``label_file_list: [<OUT>/Label.txt]``;
- ``fileState.txt``: the absolute path of each page that is done or approved, ``1``;
- ``rec_gt.txt`` + ``crop_img/<image stem>_crop_<i>.jpg`` (PPOCRLabel's names, ``i`` the
  region's place on the page): each region cut out upright with a perspective warp as
  PPOCRLabel's ``get_rotate_crop_image`` does (a crop 1.5 times taller than wide is turned a
  quarter, as PaddleOCR does for vertical text); ``data_dir: <OUT>``. Texts ``###`` / empty and
  degenerate regions are left out; a tab or line break in a text becomes a space;
- with a dataset version, also PaddleOCR's ``gen_ocr_train_val_test.py`` layout of the same
  split: ``det/train.txt`` + ``det/train/``, ``det/val.txt`` + ``det/val/``, ``rec/train.txt`` +
  ``rec/train/``, ``rec/val.txt`` + ``rec/val/`` (hard links where the disk allows), paths
  relative to ``det/`` and ``rec/`` (``data_dir: <OUT>/det``) where that script writes absolute
  ones, so the folder can move to a training machine.
- Not written: page fields that no region carries, provenance, confidences. Without copying
  images, ``Label.txt`` names the project's images by absolute path.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import BadInputError
from ..importer import natural_key
from .base import (
    AnnotatedPage,
    ExportOptions,
    ExportPage,
    Line,
    Point,
    box_points,
    map_ordered,
    rect_of,
    register_reader,
    register_writer,
)

LABEL_FILE = "Label.txt"
STATE_FILE = "fileState.txt"
REC_FILE = "rec_gt.txt"
CROP_DIR = "crop_img"
#: Limits of what is read: a list file (Label.txt of 100,000 images is ~200 MB), one line of it
#: (one page's regions), regions per page, points per region, and coordinates.
MAX_LIST_BYTES = 2 * 1024**3
MAX_LINE_BYTES = 50 * 1024**2
MAX_REGIONS = 20_000
MAX_POINTS = 1_000
MAX_COORD = 1e6
#: detect() reads this much of a file at most.
SNIFF_BYTES = 64 * 1024
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
#: PaddleOCR's "don't care" transcriptions (DetLabelEncode's ignore tags).
IGNORE_TEXTS = {"###", "*"}
CHECKED_STATUSES = {"done", "approved"}
SPLITS = ("train", "val", "test")


# -- reading list files ---------------------------------------------------------------------------------
def _bad(path: Path, n: int | None, what: str) -> BadInputError:
    return BadInputError(f"{path.name}: line {n}: {what}" if n is not None else f"{path.name}: {what}")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of each non-blank line of a UTF-8 list file,
    read with size limits; a problem is a BadInputError naming the file and the line."""
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except OSError as exc:
        raise _bad(path, None, f"cannot read it ({exc.strerror or exc})") from None
    if size > MAX_LIST_BYTES:
        fh.close()
        raise _bad(path, None, f"the file is {size / 1024**2:.0f} MB; the limit is {MAX_LIST_BYTES // 1024**2} MB")
    with fh:
        n = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise _bad(path, n + 1, f"cannot read it ({exc.strerror or exc})") from None
            if not raw:
                return
            n += 1
            if len(raw) > MAX_LINE_BYTES:
                raise _bad(path, n, f"longer than {MAX_LINE_BYTES // 1024**2} MB")
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                s = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _bad(path, n, f"is not UTF-8 text (byte {exc.start + 1})") from None
            if s.endswith("\n"):
                s = s[:-1]
            if s.endswith("\r"):
                s = s[:-1]
            if s.strip():
                yield n, s


def _sniff(path: Path) -> str:
    """The first non-blank line of a small read of ``path`` ('' when unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return ""
    text = head.decode("utf-8-sig", errors="replace")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def resolve_image(entry: str, folder: Path, also_in: tuple[str, ...] = ()) -> Path | None:
    """The file a list entry names, inside ``folder`` (absolute), or None.

    Tried in order: PPOCRLabel's ``<folder name>/<image>`` (relative to the folder's parent),
    the path relative to the folder (PaddleOCR's ``data_dir``), an absolute path, and the bare
    file name in the folder (and in its sub-folders ``also_in``). Whatever it is, the file must be inside the folder (no ``..``
    or absolute path out of it); symbolic links in the folder are followed.
    """
    entry = entry.strip()
    parts = [p for p in re.split(r"[\\/]+", entry) if p not in ("", ".")]
    if not parts:
        return None
    base = os.path.normpath(str(folder))
    candidates: list[str] = []
    if re.match(r"^([\\/]|[A-Za-z]:[\\/])", entry):
        candidates.append(entry)
    else:
        if len(parts) >= 2 and parts[0] == folder.name:
            candidates.append(os.path.join(base, *parts[1:]))
        candidates.append(os.path.join(base, *parts))
    candidates.append(os.path.join(base, parts[-1]))
    candidates += [os.path.join(base, sub, parts[-1]) for sub in also_in]
    for c in candidates:
        norm = os.path.normpath(c)
        if not norm.startswith(base + os.sep):
            continue
        try:
            if os.path.isfile(norm):
                return Path(norm)
        except (OSError, ValueError):
            continue
    return None


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _number(v) -> float | None:
    """``v`` as a finite float within MAX_COORD, or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) and abs(f) <= MAX_COORD else None


def _signed_area(pts: list[Point]) -> float:
    """Twice the polygon's signed area: positive when clockwise on screen (y down)."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]))


def to_quad(pts: list[Point]) -> list[Point]:
    """Four corners clockwise (y down) from the first: a 4-point polygon as given (reversed
    when counter-clockwise), a longer one as its minimum-area rotated rectangle starting at the
    corner nearest its first point."""
    if len(pts) == 4:
        return pts if _signed_area(pts) >= 0 else [pts[0], pts[3], pts[2], pts[1]]
    import cv2
    import numpy as np

    corners = cv2.boxPoints(cv2.minAreaRect(np.asarray(pts, dtype=np.float32))).astype(float).tolist()
    quad = [(float(x), float(y)) for x, y in corners]
    if _signed_area(quad) < 0:
        quad.reverse()
    first = min(range(4), key=lambda i: (quad[i][0] - pts[0][0]) ** 2 + (quad[i][1] - pts[0][1]) ** 2)
    return quad[first:] + quad[:first]


def parse_regions(data, bad: Callable[[str], BadInputError]) -> list[Line]:
    """The lines of one PPOCRLabel annotation (the JSON list after the tab), validated."""
    if not isinstance(data, list):
        raise bad(f"the annotation must be a JSON list, not {_json_type(data)}")
    if len(data) > MAX_REGIONS:
        raise bad(f"{len(data)} regions; the limit is {MAX_REGIONS} per page")
    lines = []
    for k, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise bad(f"region {k} must be a JSON object, not {_json_type(item)}")
        text = item.get("transcription")
        if not isinstance(text, str):
            what = "missing" if "transcription" not in item else f"{_json_type(text)}, not a string"
            raise bad(f"region {k}: transcription is {what}")
        raw = item.get("points")
        if not isinstance(raw, list):
            what = "missing" if "points" not in item else f"{_json_type(raw)}, not a list of [x, y]"
            raise bad(f"region {k}: points is {what}")
        if not 4 <= len(raw) <= MAX_POINTS:
            raise bad(f"region {k}: {len(raw)} points; a region needs 4 (or up to {MAX_POINTS})")
        pts: list[Point] = []
        for j, p in enumerate(raw, start=1):
            if not isinstance(p, list) or len(p) != 2:
                raise bad(f"region {k}: point {j} is not [x, y] ({json.dumps(p)[:30]})")
            x, y = _number(p[0]), _number(p[1])
            if x is None or y is None:
                raise bad(f"region {k}: point {j} is not two finite numbers ({json.dumps(p)[:30]})")
            pts.append((x, y))
        difficult = item.get("difficult", False)
        if not (isinstance(difficult, bool) or (type(difficult) is int and difficult in (0, 1))):
            raise bad(f"region {k}: difficult must be true or false, not {json.dumps(difficult)[:20]}")
        key = item.get("key_cls")
        if key is not None and not isinstance(key, str):
            raise bad(f"region {k}: key_cls must be a string, not {_json_type(key)}")
        label = key.strip() if key and key.strip() and key.strip() != "None" else None
        lines.append(Line(points=to_quad(pts), text=text, label=label))
    return lines


def _load_json(payload: str, bad: Callable[[str], BadInputError]):
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except RecursionError:
        raise bad("the annotation is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise bad(f"the annotation is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # NaN / Infinity, an integer of thousands of digits
        raise bad(f"the annotation is not valid JSON ({exc})") from None


# -- paddleocr reader ------------------------------------------------------------------------------------
def _label_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if (path / LABEL_FILE).is_file():
        return [path / LABEL_FILE]
    try:
        subs = sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: natural_key(p.name))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the folder ({exc.strerror or exc})") from None
    found = [p / LABEL_FILE for p in subs if (p / LABEL_FILE).is_file()]
    if not found:
        raise BadInputError(f"{path}: no {LABEL_FILE} in it or in its folders")
    return found


def _looks_like_label_line(line: str) -> bool:
    entry, _, payload = line.partition("\t")
    payload = payload.strip()
    return bool(entry.strip()) and payload.startswith("[") and (payload == "[]" or '"points"' in payload)


class PaddleReader:
    name = "paddleocr"
    title = "PaddleOCR / PPOCRLabel (Label.txt)"

    def detect(self, path: Path) -> float:
        path = Path(path)
        try:
            if path.is_dir():
                if (path / LABEL_FILE).is_file():
                    return 1.0
                subs = [p for p in path.iterdir() if p.is_dir()][:200]
                return 0.8 if any((p / LABEL_FILE).is_file() for p in subs) else 0.0
            if path.name == LABEL_FILE:
                return 1.0
            if path.suffix.lower() == ".txt" and _looks_like_label_line(_sniff(path)):
                return 0.8
        except OSError:
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        for label_file in _label_files(Path(path)):
            yield from self._read_file(label_file)

    def _read_file(self, label_file: Path) -> Iterator[AnnotatedPage]:
        folder = Path(os.path.abspath(label_file.parent))
        state_file = folder / STATE_FILE
        checked = _read_state(state_file, folder) if state_file.is_file() else None
        seen: dict[str, int] = {}
        for n, s in text_lines(label_file):
            def bad(what: str, n=n) -> BadInputError:
                return _bad(label_file, n, what)

            entry, tab, payload = s.partition("\t")
            if not tab:
                raise bad("expected <image path><TAB><JSON list>, found no tab")
            if not entry.strip():
                raise bad("no image path before the tab")
            lines = parse_regions(_load_json(payload, bad), bad)
            image = resolve_image(entry, folder)
            if image is None:
                raise bad(f"image {entry.strip()[:200]!r} not found in {folder}")
            key = os.path.normcase(str(image))
            if key in seen:
                raise bad(f"{image.name} is annotated again (first on line {seen[key]})")
            seen[key] = n
            yield AnnotatedPage(image=image, lines=lines, checked=None if checked is None else key in checked)
        for key, image in (checked or {}).items():
            if key not in seen:  # checked, but no boxes: PPOCRLabel leaves it out of Label.txt
                yield AnnotatedPage(image=image, lines=[], checked=True)


def _read_state(state_file: Path, folder: Path) -> dict[str, Path]:
    """The images fileState.txt marks checked (state 1), by normalised path. Entries naming
    images that are no longer there are stale (PPOCRLabel keeps them) and skipped."""
    out: dict[str, Path] = {}
    for n, s in text_lines(state_file):
        entry, tab, state = s.rpartition("\t")
        if not tab or not entry.strip():
            raise _bad(state_file, n, "expected <image path><TAB><0 or 1>")
        if state.strip() not in ("0", "1"):
            raise _bad(state_file, n, f"the state must be 0 or 1, not {state.strip()[:20]!r}")
        image = resolve_image(entry, folder)
        if image is not None and state.strip() == "1":
            out[os.path.normcase(str(image))] = image
    return out


# -- paddleocr-rec reader -----------------------------------------------------------------------------------
def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header; BadInputError when it is not an image."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
    except Exception as exc:  # PIL has many ways of saying "not an image"
        raise BadInputError(f"{path.name}: not a readable image ({type(exc).__name__})") from None
    if w <= 0 or h <= 0:
        raise BadInputError(f"{path.name}: the image has no pixels")
    return w, h


class PaddleRecReader:
    name = "paddleocr-rec"
    title = "PaddleOCR recognition set (rec_gt.txt + crops)"

    def detect(self, path: Path) -> float:
        path = Path(path)
        try:
            if path.is_dir():
                if (path / REC_FILE).is_file():
                    return 0.3 if (path / LABEL_FILE).is_file() else 0.9
                return 0.0
            if path.suffix.lower() != ".txt":
                return 0.0
            if path.name.startswith("rec_gt"):
                return 0.9
            entry, tab, text = _sniff(path).partition("\t")
            if tab and Path(entry.strip()).suffix.lower() in IMAGE_EXTS and not text.lstrip().startswith("[{"):
                return 0.6
        except OSError:
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        rec_file = path / REC_FILE if path.is_dir() else path
        if not rec_file.is_file():
            raise BadInputError(f"{path}: no {REC_FILE} in it")
        folder = Path(os.path.abspath(rec_file.parent))
        seen: dict[str, int] = {}
        for n, s in text_lines(rec_file):
            fields = s.split("\t")
            if len(fields) != 2:
                what = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs (a text cannot hold a tab)"
                raise _bad(rec_file, n, f"expected <crop image><TAB><text>, found {what}")
            entry, text = fields
            if entry.lstrip().startswith("["):
                raise _bad(rec_file, n, "lists of images per line are not supported; one crop per line")
            image = resolve_image(entry, folder, also_in=(CROP_DIR,))
            if image is None:
                raise _bad(rec_file, n, f"image {entry.strip()[:200]!r} not found in {folder}")
            key = os.path.normcase(str(image))
            if key in seen:
                raise _bad(rec_file, n, f"{image.name} is listed again (first on line {seen[key]})")
            seen[key] = n
            try:
                w, h = image_size(image)
            except BadInputError as exc:
                raise _bad(rec_file, n, str(exc)) from None
            yield AnnotatedPage(image=image, lines=[Line(points=box_points(0, 0, w, h), text=text)], width=w, height=h)


# -- writing: names, files, crops (tesstrain and docTR use these too) ---------------------------------------------
def safe_name(name: str) -> str:
    """``name`` usable as a file name everywhere, Makefiles included (tesstrain): letters (accents
    and all scripts), digits and ``._-``, anything else ``_``; at most 120 bytes of UTF-8."""
    s = re.sub(r"[^\w.-]+", "_", name).strip("._")
    while len(s.encode("utf-8")) > 120:
        s = s[:-1]
    return s or "page"


class FileNames:
    """Unique (case-insensitively) image base names for the pages of one export."""

    def __init__(self):
        self.used: set[str] = set()

    def base(self, page: ExportPage) -> str:
        stem = safe_name(page.stem)
        if Path(stem).suffix.lower() in IMAGE_EXTS:  # a stem with the source's ending: "receipt.jpg"
            stem = safe_name(Path(stem).stem)
        name, k = stem, 2
        while name.casefold() in self.used:
            name, k = f"{stem}-{k}", k + 1
        self.used.add(name.casefold())
        return name

    def entry(self, page: ExportPage) -> tuple[ExportPage, str, str, str | None]:
        """(page, base name, image file name, train/val split or None), for writers that cut a
        page's crops in threads: call it in page order, so names stay as one loop would give them."""
        base = self.base(page)
        return page, base, base + image_suffix(page), page.split if page.split in SPLITS else None


def image_suffix(page: ExportPage) -> str:
    suffix = page.image.suffix.lower()
    return suffix if suffix in IMAGE_EXTS else ".png"


def copy_image(src: Path, dst: Path) -> None:
    """Copy a project image out (never a hard link: editing the export must not touch the project)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        raise BadInputError(f"cannot copy {src.name} to {dst}: {exc.strerror or exc}") from None


def link_or_copy(src: Path, dst: Path) -> None:
    """A second name for a file this export wrote (a hard link where the disk allows)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def load_page(page: ExportPage, gray: bool = False):
    """The page image as a BGR array, or 8-bit gray with ``gray`` (a JPEG decodes 3-4x faster
    so); one page in memory at a time."""
    import cv2
    import numpy as np

    try:
        data = np.fromfile(str(page.image), dtype=np.uint8)
    except OSError as exc:
        raise BadInputError(f"{page.stem}: cannot read the page image {page.image}: {exc.strerror or exc}") from None
    mode = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    img = cv2.imdecode(data, mode | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if img is None:
        raise BadInputError(f"{page.stem}: the page image {page.image} cannot be decoded")
    return img


def crop_quad(points: list[Point]) -> list[Point]:
    """The four corners a crop is cut along: the region's own, or its bounding rectangle."""
    pts = [(float(x), float(y)) for x, y in points]
    return pts if len(pts) == 4 else box_points(*rect_of(pts))


def crop_size(points: list[Point]) -> tuple[int, int]:
    """(width, height) of a region's crop, as PaddleOCR's get_rotate_crop_image computes it:
    the longer of the two edges along the text (first to second corner) and across it."""
    p = crop_quad(points)
    if _signed_area(p) < 0:
        p = [p[0], p[3], p[2], p[1]]
    w = max(math.dist(p[0], p[1]), math.dist(p[2], p[3]))
    h = max(math.dist(p[0], p[3]), math.dist(p[1], p[2]))
    return int(w), int(h)


def crop_line(img, points: list[Point], turn_tall: bool = False):
    """The region cut out of ``img`` (BGR array) and warped upright: its first corner at the
    crop's top-left, the first edge along the top (PPOCRLabel's get_rotate_crop_image);
    ``turn_tall`` turns a crop 1.5 times taller than wide a quarter counter-clockwise, as
    PaddleOCR does. None for a region without area."""
    import cv2
    import numpy as np

    p = crop_quad(points)
    if _signed_area(p) < 0:
        p = [p[0], p[3], p[2], p[1]]
    w, h = crop_size(p)
    if w < 1 or h < 1:
        return None
    src = np.asarray(p, dtype=np.float32)
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst)
    crop = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if turn_tall and crop.shape[0] >= 1.5 * crop.shape[1]:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def write_new(path: Path, data: bytes) -> None:
    """Write a small file with as little as the OS needs: an export of 10,000 pages creates a
    million of them (tesstrain), and Python's buffered text files cost a third more per file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def save_image(img, path: Path, ext: str = ".png") -> None:
    import cv2

    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise BadInputError(f"cannot encode {path.name}")
    try:
        write_new(path, buf.tobytes())
    except FileNotFoundError:  # the folder's first file
        path.parent.mkdir(parents=True, exist_ok=True)
        write_new(path, buf.tobytes())


def one_line(text: str) -> str:
    """A text on one line of a list file: tabs and line breaks become spaces."""
    return " ".join(text.replace("\t", " ").splitlines()) if text else ""


def croppable(line: Line) -> bool:
    """Whether a line goes to the recognition crops: it has a text, not a "don't care" one."""
    text = one_line(line.text).strip()
    return bool(text) and text not in IGNORE_TEXTS


# -- paddleocr writer ------------------------------------------------------------------------------------
def label_json(page: ExportPage) -> str:
    kie = any(ln.label for ln in page.lines)
    regions = []
    for ln in page.lines:
        r = {"transcription": ln.text, "points": [[round(x), round(y)] for x, y in ln.points], "difficult": False}
        if kie:
            r["key_cls"] = ln.label or "None"
        regions.append(r)
    return json.dumps(regions, ensure_ascii=False)


class PaddleWriter:
    name = "paddleocr"
    title = "PaddleOCR / PPOCRLabel (Label.txt, rec_gt.txt + crop_img/)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(os.path.abspath(out))
        out.mkdir(parents=True, exist_ok=True)
        names = FileNames()
        split_files: dict[tuple[str, str], object] = {}
        count = 0
        with open(out / LABEL_FILE, "w", encoding="utf-8", newline="\n") as label_f, \
                open(out / STATE_FILE, "w", encoding="utf-8", newline="\n") as state_f, \
                open(out / REC_FILE, "w", encoding="utf-8", newline="\n") as rec_f:
            def files_of(item):
                """The page's image and crops, written (in a thread: OpenCV and the disk release the GIL)."""
                page, base, file_name, split = item
                if options.copy_images:
                    copy_image(page.image, out / file_name)
                    if split and page.lines:
                        link_or_copy(out / file_name, out / "det" / split / file_name)
                crops, img = [], None
                for i, ln in enumerate(page.lines):
                    if not croppable(ln):
                        continue
                    if img is None:
                        img = load_page(page)
                    crop = crop_line(img, ln.points, turn_tall=True)
                    if crop is None:
                        continue
                    crop_name = f"{base}_crop_{i}.jpg"
                    save_image(crop, out / CROP_DIR / crop_name, ".jpg")
                    if split:
                        link_or_copy(out / CROP_DIR / crop_name, out / "rec" / split / crop_name)
                    crops.append((crop_name, one_line(ln.text)))
                return item, crops

            try:
                for (page, _base, file_name, split), crops in map_ordered(files_of, map(names.entry, pages)):
                    if options.copy_images:
                        ref, path_now = f"{out.name}/{file_name}", out / file_name
                    else:
                        path_now = Path(os.path.abspath(page.image))
                        ref = str(path_now)
                    if page.lines:
                        payload = label_json(page)
                        label_f.write(f"{ref}\t{payload}\n")
                        if split:
                            det_ref = f"{split}/{file_name}" if options.copy_images else ref
                            self._list(split_files, out, "det", split).write(f"{det_ref}\t{payload}\n")
                    if page.status in CHECKED_STATUSES:
                        state_f.write(f"{path_now}\t1\n")
                    for crop_name, text in crops:
                        rec_f.write(f"{CROP_DIR}/{crop_name}\t{text}\n")
                        if split:
                            self._list(split_files, out, "rec", split).write(f"{split}/{crop_name}\t{text}\n")
                    count += 1
                    if progress:
                        progress(count, page.stem)
            finally:
                for f in split_files.values():
                    f.close()
        return count

    @staticmethod
    def _list(files: dict, out: Path, kind: str, split: str):
        if (kind, split) not in files:
            (out / kind).mkdir(exist_ok=True)
            files[(kind, split)] = open(out / kind / f"{split}.txt", "w", encoding="utf-8", newline="\n")
        return files[(kind, split)]


register_reader(PaddleReader())
register_reader(PaddleRecReader())
register_writer(PaddleWriter())
