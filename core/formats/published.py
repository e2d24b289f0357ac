"""FUNSD, SROIE and CORD as their authors publish them (``--annotations funsd|sroie|cord``; read only).

**FUNSD** (guillaumejaume.github.io/FUNSD): ``dataset/training_data/annotations/X.json`` with its
image in ``../images/X.png`` (or beside it); give the dataset folder, a split folder, the
annotations folder or one JSON. Each entity of ``"form"`` (``box``, ``text``, ``label``,
``words``, ``linking``, ``id``) becomes its text lines: the entity's non-empty words in order, a
new line where a word's vertical centre moves by more than 0.6 of the previous word's height or
the word starts left of the previous one (a multi-line answer is several regions, as people draw
lines; a one-line entity is one region), each line's box the union of its words' boxes, its text
the words joined with spaces. ``label`` (question / answer / header / other) is every line's
label; the lines of one entity share the ``block`` (its ``id``). An entity without words is one
line with its own box and text. Lost: ``linking`` (the question -> answer links: a region has
no place for them) and the word boxes inside a line. No fields (FUNSD has none).

**SROIE** (ICDAR 2019, rrc.cvc.uab.es/?ch=13): task-1 box files ``X.txt``, one text segment per
line ``x1,y1,x2,y2,x3,y3,x4,y4,text`` (the text may hold commas), and task-3 key files, also
``X.txt``, holding a JSON object ``{"company", "date", "address", "total"}``; images ``X.jpg``.
Give the folder holding them in any of the published layouts: the task folders side by side
(``0325updated.task1train(626p)/`` and ``0325updated.task2train(626p)/``, give their parent),
``box/`` + ``entities/`` + ``img/`` (the Kaggle "SROIE datasetv2" copy), or files and images in
one folder. A ``.txt`` is a key file when it starts with ``{``; files pair by name. Each box line
is a line (its 4 points as given); the key fields become the page's fields (empty values
dropped); and a field's value labels **one** run of lines with the field name: the first run
(in file order, up to 12 lines) whose texts, joined, equal the value ignoring spaces and case
(``total`` "9.00" labels the line "9.00"; an ``address`` labels its consecutive lines). A value
no run spells exactly (a date inside "DATE: 24/01/2018 10:43", a total printed "RM9.00") labels
nothing: the field stays in the page's fields, which is what evaluation reads. Text files that
are not UTF-8 are read as Latin-1 (copies re-saved in a legacy encoding); an empty box file is a
receipt without lines and is skipped. Two box files, or two key files, with one name (train and
test of one copy) are refused: import one split at a time.

**CORD** (github.com/clovaai/cord, v0 on GitHub and v1/v2 as files): ``json/X.json`` with its
image in ``../image/X.png`` (or ``.jpg``, or beside it); give the split folder, the ``json``
folder or one JSON. Each ``valid_line`` is a line: its non-empty words' texts joined with spaces,
its box the minimum-area rectangle around the words' quads (kept on the page; the axis-aligned
box unless the rotated one is at least 5% smaller, so level lines stay plain boxes), its label
the ``category`` (``menu.nm``, ``total.total_price``...). Fields: the non-key words (``is_key`` 0) of the first
line of each ``subtotal.*`` / ``sub_total.*`` / ``total.*`` category, under the category's name,
and ``total.total_price`` as the receipt field ``total``. ``meta.image_size`` is checked against
the image. Lost: ``group_id`` / ``sub_group_id`` (the menu item grouping), ``row_id``, ``is_key``
on the lines, word boxes, ``roi``, ``repeating_symbol``, ``dontcare`` and ``gt_parse`` (built
from ``valid_line``, which is read instead).

All three: every file is checked completely (types, finite numbers, sizes) before anything is
imported; a problem is one error naming the file and the entity, line or word.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import shapely
import shapely.errors

from ..errors import BadInputError
from ..importer import MAX_REFERENCE_BYTES, MAX_REFERENCE_LINES, _json_type, natural_key
from .base import AnnotatedPage, Line, Point, box_points, register_reader
from .reference import load_json, number, peek_json, size_of, walk_files

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
Bad = Callable[[str], BadInputError]


def _bad(path: Path) -> Bad:
    return lambda what: BadInputError(f"{path.name}: {what}")


def _find_image(ann: Path, stem: str, folders: tuple[str, ...]) -> Path:
    """The image of annotation file ``ann``: beside it, or in a sibling folder named in ``folders``
    (the published layouts); the first candidate when none exists (the importer says it is missing)."""
    places = [ann.parent / f for f in folders] + [ann.parent]
    if ann.parent.parent != ann.parent:
        places = [ann.parent.parent / f for f in folders] + places
    for place in places:
        for ext in IMAGE_EXTS:
            for candidate in (place / f"{stem}{ext}", place / f"{stem}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    return places[0] / f"{stem}.png"


def _text(value, what: str, bad: Bad) -> str:
    if not isinstance(value, str):
        raise bad(f"{what} must be a string, not {_json_type(value)}")
    return value


def _list(value, what: str, bad: Bad) -> list:
    if not isinstance(value, list):
        raise bad(f"{what} must be a list, not {_json_type(value)}")
    return value


def _object(value, what: str, bad: Bad) -> dict:
    if not isinstance(value, dict):
        raise bad(f"{what} must be a JSON object, not {_json_type(value)}")
    return value


def _count(n: int, bad: Bad) -> None:
    if n > MAX_REFERENCE_LINES:
        raise bad(f"more than {MAX_REFERENCE_LINES} lines; the limit is {MAX_REFERENCE_LINES} per page")


def _sample(root: Path, ext: str, per_folder: int = 3, limit: int = 40) -> list[Path]:
    """A few files of each folder under ``root`` (detect() looks at layouts, not at every file)."""
    out: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(folder) / f for f in sorted(files) if f.lower().endswith(ext) and not f.startswith(".")][:per_folder]
        if len(out) >= limit:
            break
    return out[:limit]


def _json_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInputError(f"{path}: no such file or folder")
    return walk_files(path, (".json",))


# -- FUNSD ---------------------------------------------------------------------------------------------
def _funsd_box(value, what: str, bad: Bad) -> tuple[float, float, float, float]:
    box = _list(value, what, bad)
    if len(box) != 4:
        raise bad(f"{what} needs 4 numbers (x0, y0, x1, y1), has {len(box)}")
    x0, y0, x1, y1 = (number(v, f"{what} {k}", bad) for k, v in enumerate(box, start=1))
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def funsd_lines(words: list[tuple[tuple[float, float, float, float], str]]) -> list[list]:
    """Words (box, text) of one entity, in order, split into printed lines: a new line where a
    word's vertical centre moves by more than 0.6 of the previous word's height, or where it
    starts left of the previous word (the rule ``shared/datasets/funsd-dev`` derives its lines by)."""
    lines: list[list] = []
    prev = None
    for box, text in words:
        if prev is None or abs((box[1] + box[3]) / 2 - (prev[1] + prev[3]) / 2) > 0.6 * (prev[3] - prev[1]) \
                or box[0] < prev[0]:
            lines.append([])
        lines[-1].append((box, text))
        prev = box
    return lines


def _funsd_page(path: Path) -> AnnotatedPage:
    bad = _bad(path)
    raw = load_json(path)
    if not isinstance(raw, dict) or "form" not in raw:
        raise bad("not a FUNSD annotation (no \"form\" list of entities)")
    form = _list(raw["form"], "form", bad)
    _count(len(form), bad)
    lines: list[Line] = []
    for i, ent in enumerate(form, start=1):
        where = f"entity {i}"
        ent = _object(ent, where, bad)
        label = ent.get("label")
        if label is not None:
            label = _text(label, f"{where}: label", bad) or None
        text = _text(ent.get("text", ""), f"{where}: text", bad)
        eid = ent.get("id", i - 1)
        if isinstance(eid, bool) or not isinstance(eid, (int, str)):
            raise bad(f"{where}: id must be a number, not {_json_type(eid)}")
        block = str(eid)[:100]
        words = []
        for k, w in enumerate(_list(ent.get("words", []), f"{where}: words", bad), start=1):
            w = _object(w, f"{where}: word {k}", bad)
            if "box" not in w:
                raise bad(f"{where}: word {k}: box is missing")
            box = _funsd_box(w["box"], f"{where}: word {k}: box", bad)
            wtext = _text(w.get("text", ""), f"{where}: word {k}: text", bad)
            if wtext.strip():
                words.append((box, wtext))
        if words:
            for run in funsd_lines(words):
                x0 = min(b[0] for b, _ in run)
                y0 = min(b[1] for b, _ in run)
                x1 = max(b[2] for b, _ in run)
                y1 = max(b[3] for b, _ in run)
                lines.append(Line(points=box_points(x0, y0, x1, y1), text=" ".join(t for _, t in run),
                                  label=label, block=block))
        elif text.strip():
            if "box" not in ent:
                raise bad(f"{where}: box is missing")
            lines.append(Line(points=box_points(*_funsd_box(ent["box"], f"{where}: box", bad)), text=text.strip(),
                              label=label, block=block))
        _count(len(lines), bad)
    return AnnotatedPage(image=_find_image(path, path.stem, ("images", "image", "imgs", "img")), lines=lines)


class _JsonPerPageReader:
    """A dataset of one JSON per page, recognised by a top-level list under ``key`` (FUNSD's
    ``form``, CORD's ``valid_line``); ``page(file)`` reads one."""

    name = title = key = ""

    @staticmethod
    def page(f: Path) -> AnnotatedPage:
        raise NotImplementedError

    def detect(self, path: Path) -> float:
        try:
            files = [path] if path.is_file() else _sample(path, ".json") if path.is_dir() else []
            for f in files:
                raw = peek_json(f) if f.suffix.lower() == ".json" else None
                if isinstance(raw, dict) and isinstance(raw.get(self.key), list):
                    return 0.95
        except OSError:
            pass
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        files = _json_files(Path(path))
        if not files:
            raise BadInputError(f"{Path(path).name}: no {self.name.upper()} annotation files (*.json) found")
        for f in files:
            yield self.page(f)


class FunsdReader(_JsonPerPageReader):
    name = "funsd"
    title = "FUNSD (annotations/*.json + images/, as published)"
    key = "form"
    page = staticmethod(_funsd_page)


# -- SROIE ---------------------------------------------------------------------------------------------
_BOX_LINE = re.compile(r"^\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){7}\s*,")
#: A field's value labels at most this many consecutive lines (an address over several lines).
MAX_FIELD_RUN = 12


def _read_text(path: Path) -> str:
    """A text file, UTF-8 (a byte-order mark allowed) or else Latin-1, with a size limit."""
    try:
        size = path.stat().st_size
        if size > MAX_REFERENCE_BYTES:
            raise BadInputError(f"{path.name}: the file is {size / 1024**2:.1f} MB; the limit is"
                                f" {MAX_REFERENCE_BYTES // 1024**2} MB")
        with open(path, "rb") as fh:
            data = fh.read(MAX_REFERENCE_BYTES + 1)
    except OSError as exc:
        raise BadInputError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_REFERENCE_BYTES:
        raise BadInputError(f"{path.name}: the file is over the limit of {MAX_REFERENCE_BYTES // 1024**2} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_key_text(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("{")


def sroie_box_lines(path: Path, text: str) -> list[Line]:
    """A task-1 file: ``x1,y1,x2,y2,x3,y3,x4,y4,text`` per line, blank lines skipped."""
    bad = _bad(path)
    lines = []
    for n, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        parts = row.split(",", 8)
        if len(parts) < 9:
            raise bad(f"line {n}: needs 8 coordinates and a text (x1,y1,x2,y2,x3,y3,x4,y4,text), has"
                      f" {len(parts)} comma-separated part(s)")
        coords = []
        for k, part in enumerate(parts[:8], start=1):
            try:
                v = float(part.strip())
            except ValueError:
                raise bad(f"line {n}: coordinate {k} is not a number ({part.strip()[:20]!r})") from None
            if not math.isfinite(v):
                raise bad(f"line {n}: coordinate {k} is not a finite number ({part.strip()[:20]!r})")
            coords.append(v)
        lines.append(Line(points=[(coords[j], coords[j + 1]) for j in range(0, 8, 2)], text=parts[8]))
        _count(len(lines), bad)
    return lines


def sroie_fields(path: Path, text: str) -> dict[str, str]:
    """A task-3 file: a JSON object of field name -> value; empty values dropped."""
    bad = _bad(path)
    try:
        raw = json.loads(text)
    except RecursionError:
        raise bad("is nested too deeply to be a key file") from None
    except ValueError as exc:
        raise bad(f"is not a valid JSON key file ({exc})") from None
    raw = _object(raw, "the key file", bad)
    fields = {}
    for name, value in raw.items():
        if not isinstance(value, str):
            raise bad(f"field {name[:40]} must be a string, not {_json_type(value)}")
        if name.strip() and value.strip():
            fields[name] = value
    return fields


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def label_field_lines(lines: list[Line], fields: dict[str, str]) -> None:
    """Label, for each field, the first run of consecutive unlabelled lines whose texts joined
    equal the field's value ignoring spaces and case (see the module doc)."""
    squashed = [_squash(ln.text) for ln in lines]

    def first_run(target: str) -> tuple[int, int] | None:
        for i in range(len(lines)):
            if lines[i].label is not None or not squashed[i] or not target.startswith(squashed[i]):
                continue
            acc = ""
            for j in range(i, min(len(lines), i + MAX_FIELD_RUN)):
                if lines[j].label is not None:
                    break
                acc += squashed[j]
                if acc == target:
                    return i, j + 1
                if not target.startswith(acc):
                    break
        return None

    for name, value in fields.items():
        target = _squash(value)
        run = first_run(target) if target else None
        if run is not None:
            for ln in lines[run[0]:run[1]]:
                ln.label = name


def _sroie_root(path: Path) -> tuple[Path, str | None]:
    """The folder to search and, for a named file, the one name (stem) to read."""
    if path.is_file():
        parent = path.parent
        layout = parent.name.lower() in ("box", "entities", "img", "key", "images")
        return (parent.parent if layout else parent), path.stem
    return path, None


class SroieReader:
    name = "sroie"
    title = "SROIE (ICDAR 2019: task-1 box .txt + task-3 key .txt, images .jpg)"

    def detect(self, path: Path) -> float:
        try:
            if path.is_file():
                files = [path] if path.suffix.lower() == ".txt" else []
            elif path.is_dir():
                files = _sample(path, ".txt")
            else:
                return 0.0
            score = 0.0
            for f in files:
                with open(f, "rb") as fh:
                    head = fh.read(4096).decode("utf-8", "replace")
                if _is_key_text(head):
                    raw = peek_json(f)
                    if isinstance(raw, dict) and {"company", "total"} & raw.keys():
                        return 0.9
                else:
                    first = next((row for row in head.splitlines() if row.strip()), "")
                    if _BOX_LINE.match(first):
                        # Same-stem images beside or in img/: SROIE (ICDAR 2015 names them gt_img_N.txt).
                        near = [f.parent, f.parent.parent / "img", f.parent.parent / "images"]
                        pair = any((d / f"{f.stem}{e}").is_file() for d in near for e in (".jpg", ".png", ".jpeg"))
                        score = max(score, 0.8 if pair else 0.3)
            return score
        except OSError:
            return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        if not path.exists():
            raise BadInputError(f"{path}: no such file or folder")
        root, only = _sroie_root(path)
        boxes: dict[str, tuple[Path, str]] = {}
        keys: dict[str, tuple[Path, str]] = {}
        for f in walk_files(root, (".txt",)):
            if only is not None and f.stem != only:
                continue
            text = _read_text(f)
            if not text.strip():
                continue  # an empty task-1 file: a receipt without text (nothing to import)
            kind = keys if _is_key_text(text) else boxes
            if f.stem in kind:
                raise BadInputError(f"{f.name}: two {'key' if kind is keys else 'box'} files with this name"
                                    f" ({kind[f.stem][0]} and {f}): import one split at a time")
            kind[f.stem] = (f, text)
        if only is not None and not (boxes or keys):
            raise BadInputError(f"{path.name}: not a SROIE box or key file")
        if not (boxes or keys):
            raise BadInputError(f"{path.name}: no SROIE box or key files (*.txt) found")
        images: dict[str, list[Path]] = {}
        for img in walk_files(root, IMAGE_EXTS):
            images.setdefault(img.stem, []).append(img)
        for stem in sorted(boxes.keys() | keys.keys(), key=natural_key):
            box_file = boxes.get(stem)
            key_file = keys.get(stem)
            lines = sroie_box_lines(*box_file) if box_file else []
            fields = sroie_fields(*key_file) if key_file else {}
            label_field_lines(lines, fields)
            anchor = (box_file or key_file)[0]
            yield AnnotatedPage(image=self._image(anchor, images.get(stem, [])), lines=lines, fields=fields)

    @staticmethod
    def _image(anchor: Path, candidates: list[Path]) -> Path:
        """The image beside the annotation file, else in a sibling folder, else anywhere below."""
        for near in (anchor.parent, anchor.parent.parent):
            for img in candidates:
                if img.parent == near or img.parent.parent == near:
                    return img
        return candidates[0] if candidates else anchor.with_suffix(".jpg")


# -- CORD ----------------------------------------------------------------------------------------------
_QUAD_KEYS = ("x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4")
#: The field prefixes kept as page fields (one value per receipt); ``menu.*`` lines repeat.
CORD_FIELD_PREFIXES = ("subtotal.", "sub_total.", "total.")
#: CORD categories that are a field of Proofdesk's receipt schema.
CORD_SCHEMA_FIELDS = {"total.total_price": "total"}


def _order_clockwise(points: list[Point]) -> list[Point]:
    """Four corners clockwise on the page (y down), starting from the top-left one."""
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    pts = sorted(points, key=lambda p: math.atan2(p[1] - cy, p[0] - cx))
    start = min(range(len(pts)), key=lambda k: (pts[k][0] + pts[k][1], pts[k][1]))
    return pts[start:] + pts[:start]


#: Coordinates beyond this are no page's (10 million pixels); geometry is not computed on them.
MAX_COORD = 1e7


def union_quad(points: list[Point], width: int | None = None, height: int | None = None) -> list[Point]:
    """The minimum-area rectangle around ``points`` as 4 corners clockwise from the top-left; the
    axis-aligned rectangle when the rotated one is not at least 5% smaller."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    plain = box_points(x0, y0, x1, y1)
    area = (x1 - x0) * (y1 - y0)
    if area <= 0 or len(points) < 3 or max(abs(x0), abs(y0), abs(x1), abs(y1)) > MAX_COORD:
        return plain  # (a box far off any page: the importer refuses it with the page size in hand)
    try:
        env = shapely.oriented_envelope(shapely.MultiPoint(points))
    except shapely.errors.GEOSException:
        return plain
    if env.geom_type != "Polygon" or env.area >= 0.95 * area:
        return plain
    corners = [(float(x), float(y)) for x, y in list(env.exterior.coords)[:4]]
    # Rounded, and kept on the page: the corners of a tilted rectangle around a line that touches
    # the page edge reach a little past it.
    hi_x = width if width else math.inf
    hi_y = height if height else math.inf
    corners = [(round(min(max(x, 0.0), hi_x), 1), round(min(max(y, 0.0), hi_y), 1)) for x, y in corners]
    return _order_clockwise(corners)


def _cord_quad(value, what: str, bad: Bad) -> list[Point]:
    quad = _object(value, what, bad)
    vals = []
    for k in _QUAD_KEYS:
        if k not in quad:
            raise bad(f"{what}: {k} is missing")
        vals.append(number(quad[k], f"{what}: {k}", bad))
    return [(vals[j], vals[j + 1]) for j in range(0, 8, 2)]


def _cord_page(path: Path) -> AnnotatedPage:
    bad = _bad(path)
    raw = load_json(path)
    if not isinstance(raw, dict) or "valid_line" not in raw:
        raise bad("not a CORD annotation (no \"valid_line\" list)")
    meta = raw.get("meta")
    width = height = None
    if meta is not None:
        meta = _object(meta, "meta", bad)
        size = meta.get("image_size")
        if size is not None:
            size = _object(size, "meta: image_size", bad)

            def bad_size(what: str) -> BadInputError:
                return bad(f"meta: image_size: {what}")

            width, height = size_of(size, "width", bad_size), size_of(size, "height", bad_size)
    valid = _list(raw["valid_line"], "valid_line", bad)
    _count(len(valid), bad)
    lines: list[Line] = []
    fields: dict[str, str] = {}
    for i, vl in enumerate(valid, start=1):
        where = f"valid_line {i}"
        vl = _object(vl, where, bad)
        category = vl.get("category")
        if category is not None:
            category = _text(category, f"{where}: category", bad).strip() or None
        corners: list[Point] = []
        texts: list[str] = []
        values: list[str] = []
        for k, w in enumerate(_list(vl.get("words", []), f"{where}: words", bad), start=1):
            w = _object(w, f"{where}: word {k}", bad)
            if "quad" not in w:
                raise bad(f"{where}: word {k}: quad is missing")
            quad = _cord_quad(w["quad"], f"{where}: word {k}: quad", bad)
            text = _text(w.get("text", ""), f"{where}: word {k}: text", bad).strip()
            is_key = w.get("is_key", 0)
            if is_key not in (0, 1, True, False):
                raise bad(f"{where}: word {k}: is_key must be 0 or 1, not {repr(is_key)[:20]}")
            if not text:
                continue
            corners += quad
            texts.append(text)
            if not is_key:
                values.append(text)
        if not texts:
            continue
        lines.append(Line(points=union_quad(corners, width, height), text=" ".join(texts), label=category))
        if category and category.startswith(CORD_FIELD_PREFIXES):
            name = CORD_SCHEMA_FIELDS.get(category, category)
            fields.setdefault(name, " ".join(values or texts))  # the first line of a category wins
    stem = path.stem
    return AnnotatedPage(image=_find_image(path, stem, ("image", "images", "img")), lines=lines, fields=fields,
                         width=width, height=height)


class CordReader(_JsonPerPageReader):
    name = "cord"
    title = "CORD (json/*.json + image/, as published)"
    key = "valid_line"
    page = staticmethod(_cord_page)


register_reader(FunsdReader())
register_reader(SroieReader())
register_reader(CordReader())
