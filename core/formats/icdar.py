"""ICDAR 2015 (Incidental Scene Text) and ICDAR 2019 MLT ground truth (``--annotations icdar``;
``--format icdar`` writes 2015, ``--format icdar2019`` writes MLT 2019).

One UTF-8 text file per image, ``gt_<image stem>.txt`` (``gt_img_1.txt`` for ``img_1.jpg``), a
region a line, its 4 corners clockwise from the top-left in pixels:

- ICDAR 2015: ``x1,y1,x2,y2,x3,y3,x4,y4,transcription``;
- MLT 2019 (and 2017): ``x1,y1,x2,y2,x3,y3,x4,y4,script,transcription``, the script one of
  ``Arabic, Latin, Chinese, Japanese, Korean, Bangla, Hindi, Symbols, Mixed, None``.

The transcription is everything after the 8th comma (9th for MLT: commas in it are kept, no
escaping); ``###`` marks a region "don't care" and is kept as that text. A file is read as MLT
when every one of its lines has a script name in the 9th field and a 10th field; the script is
not kept (Proofdesk has no use for it). A byte-order mark and Windows line ends are fine; a
line of only 8 numbers (a detection result) is a region without text.

Read: a ``gt_*.txt`` file, or a folder searched recursively for them (the published layout
keeps images and ground truth in sibling folders); each file's image is the image file with
that stem anywhere in the folder. A folder without ``gt_`` files is read as ``<stem>.txt`` beside
``<stem>.png|jpg|...`` when those files' lines are ICDAR lines.

Written (``OUT/images/<stem>.<ext>`` and ``OUT/gt/gt_<stem>.txt``; with a dataset version,
``OUT/train/...`` and ``OUT/val/...``): every region's 4 points rounded to whole pixels (the
evaluation scripts read integers), its text with line breaks as spaces, and ``###`` for a region
without text; UTF-8 with a byte-order mark and CRLF line ends, as the published files. The 2019
writer guesses each region's script from its characters' Unicode names. Not carried: field
labels, page fields, confidences, provenance, page statuses (rectangle-or-quad regions and
text only).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import BadInputError
from ..importer import IMAGE_EXTS, MAX_REFERENCE_BYTES, MAX_REFERENCE_LINES
from .base import AnnotatedPage, ExportOptions, ExportPage, Line, register_reader, register_writer
from .labelstudio import DETECT_FILES, image_file_name, signed_area
from .reference import copy_atomic, walk_files, write_atomic

SCRIPTS = ("Arabic", "Latin", "Chinese", "Japanese", "Korean", "Bangla", "Hindi", "Symbols", "Mixed", "None")
DONT_CARE = "###"


def _text_lines(file: Path) -> list[str]:
    def bad(what: str) -> BadInputError:
        return BadInputError(f"{file.name}: {what}")

    try:
        size = file.stat().st_size
        if size > MAX_REFERENCE_BYTES:
            raise bad(f"the file is {size / 1024**2:.1f} MB; the limit is {MAX_REFERENCE_BYTES // 1024**2} MB")
        data = file.read_bytes()
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(f"is not UTF-8 text (byte {exc.start})") from None
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def _coords(parts: list[str]) -> list[float] | None:
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def parse(file: Path) -> list[Line]:
    """The regions of one ground-truth file; BadInputError naming the file and line."""
    rows = [(n, ln) for n, ln in enumerate(_text_lines(file), start=1) if ln.strip()]
    if len(rows) > MAX_REFERENCE_LINES:
        raise BadInputError(f"{file.name}: {len(rows)} lines; the limit is {MAX_REFERENCE_LINES} per page")
    split = [(n, ln.split(",", 8)) for n, ln in rows]
    mlt = bool(split) and all(len(p) == 9 and "," in p[8] and p[8].split(",", 1)[0].strip() in SCRIPTS
                              for _, p in split)
    out = []
    for n, parts in split:
        if len(parts) < 8:
            raise BadInputError(f"{file.name}: line {n}: needs 8 coordinates x1,y1,...,x4,y4 before the text,"
                                f" has {len(parts)} fields")
        values = _coords([p.strip() for p in parts[:8]])
        if values is None:
            bad = next(p for p in parts[:8] if _coords([p.strip()]) is None)
            raise BadInputError(f"{file.name}: line {n}: coordinate {bad.strip()[:20]!r} is not a finite number")
        text = parts[8] if len(parts) == 9 else ""
        if mlt:
            text = text.split(",", 1)[1]
        points = [(values[i], values[i + 1]) for i in range(0, 8, 2)]
        if signed_area(points) < 0:  # drawn counter-clockwise: the same corners, clockwise
            points = [points[0], points[3], points[2], points[1]]
        out.append(Line(points=points, text=text))
    return out


def _stem(gt: Path) -> str:
    return gt.stem[3:] if gt.stem.startswith("gt_") else gt.stem


def _parses(file: Path) -> bool:
    """Whether a text file's first lines are ICDAR lines (for folders without ``gt_`` files)."""
    try:
        with open(file, "rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="replace")
    except OSError:
        return False
    lines = [ln.rstrip("\r") for ln in head.split("\n")[:5] if ln.strip()]
    return bool(lines) and all(len(p := ln.split(",", 8)) >= 8 and _coords(p[:8]) is not None for ln in lines)


def _pairs(root: Path) -> list[tuple[Path, Path | None]]:
    """(ground-truth file, its image or None) under a folder."""
    images: dict[str, list[Path]] = {}
    for p in walk_files(root, tuple(IMAGE_EXTS)):
        images.setdefault(p.stem, []).append(p)
    gts = [p for p in walk_files(root, (".txt",)) if p.name.startswith("gt_")]
    if not gts:
        gts = [p for p in walk_files(root, (".txt",)) if p.stem in images and _parses(p)]
    out = []
    for gt in gts:
        found = images.get(_stem(gt), [])
        if len(found) > 1:
            # Prefer an image beside the file, else the one in the folder nearest it.
            near = [p for p in found if p.parent == gt.parent]
            found = near or found
            if len(found) > 1:
                raise BadInputError(f"{gt.name}: several images are named {_stem(gt)}.* ("
                                    f"{', '.join(str(p.relative_to(root)) for p in found[:3])})")
        out.append((gt, found[0] if found else None))
    return out


class IcdarReader:
    name = "icdar"
    title = "ICDAR 2015 / MLT 2019 ground truth (gt_<image>.txt)"

    def detect(self, path: Path) -> float:
        try:
            path = Path(path)
            if path.is_file():
                return 0.8 if path.suffix.lower() == ".txt" and path.name.startswith("gt_") and _parses(path) else 0.0
            if path.is_dir():
                gts = [p for p in walk_files(path, (".txt",), 2000) if p.name.startswith("gt_")][:DETECT_FILES]
                if gts:
                    return 0.85 if any(_parses(p) for p in gts) else 0.0
        except (OSError, ValueError):
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        if path.is_file():
            stem = _stem(path)
            found = [p for p in walk_files(path.parent, tuple(IMAGE_EXTS)) if p.stem == stem]
            pairs = [(path, found[0] if len(found) == 1 else None)]
            if len(found) > 1:
                raise BadInputError(f"{path.name}: several images are named {stem}.* in {path.parent.name}")
        elif path.is_dir():
            pairs = _pairs(path)
        else:
            raise BadInputError(f"{path}: no such file or folder")
        if not pairs:
            raise BadInputError(f"{path.name}: no ICDAR ground-truth files (gt_<image>.txt) found")
        for gt, image in pairs:
            if image is None:
                raise BadInputError(f"{gt.name}: no image {_stem(gt)}.png/.jpg/... in {path.name}")
            yield AnnotatedPage(image=image, lines=parse(gt))


# -- writing -------------------------------------------------------------------------------------------
_SCRIPT_NAMES = (("LATIN", "Latin"), ("CJK", "Chinese"), ("HIRAGANA", "Japanese"), ("KATAKANA", "Japanese"),
                 ("HANGUL", "Korean"), ("ARABIC", "Arabic"), ("BENGALI", "Bangla"), ("DEVANAGARI", "Hindi"))


def script_of(text: str) -> str:
    """The MLT script of a transcription, from its letters' Unicode names."""
    if text == DONT_CARE:
        return "None"
    found = set()
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        found.add(next((s for prefix, s in _SCRIPT_NAMES if name.startswith(prefix) or f" {prefix}" in name),
                       "Other"))
    if not found:
        return "Symbols"
    if found == {"Chinese", "Japanese"}:
        return "Japanese"  # kana with kanji
    if len(found) == 1 and "Other" not in found:
        return found.pop()
    return "Mixed"


def gt_line(ln: Line, with_script: bool) -> str:
    text = " ".join(ln.text.splitlines()) if ln.text else DONT_CARE
    coords = ",".join(str(int(round(c))) for p in ln.points for c in p)
    return f"{coords},{script_of(text)},{text}" if with_script else f"{coords},{text}"


class IcdarWriter:
    name = "icdar"
    title = "ICDAR 2015 ground truth (gt_<stem>.txt and images)"
    with_script = False

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        count = 0
        for page in pages:
            base = out / page.split if page.split in ("train", "val") else out
            (base / "images").mkdir(parents=True, exist_ok=True)
            (base / "gt").mkdir(parents=True, exist_ok=True)
            if options.copy_images:
                copy_atomic(Path(page.image), base / "images" / image_file_name(page))
            body = "".join(gt_line(ln, self.with_script) + "\r\n" for ln in page.lines if len(ln.points) == 4)
            write_atomic(base / "gt" / f"gt_{page.stem}.txt", body, encoding="utf-8-sig", newline="")
            count += 1
            if progress is not None:
                progress(count, page.stem)
        return count


class Icdar2019Writer(IcdarWriter):
    name = "icdar2019"
    title = "ICDAR 2019 MLT ground truth (gt_<stem>.txt with scripts, and images)"
    with_script = True


register_reader(IcdarReader())
register_writer(IcdarWriter())
register_writer(Icdar2019Writer())
