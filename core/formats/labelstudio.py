"""Label Studio: the JSON export (a list of tasks) of its OCR template (``--annotations labelstudio``,
``--format labelstudio``).

The labelling config this maps to is Label Studio's "Optical Character Recognition" template
(the writer puts it beside the tasks as ``label_config.xml``, with the project's fields)::

    <Image name="image" value="$image"/>
    <Labels name="label" toName="image"> <Label value="Text"/> <Label value="total"/> ... </Labels>
    <Rectangle name="bbox" toName="image"/>  <Polygon name="poly" toName="image"/>
    <TextArea name="transcription" toName="image" perRegion="true"/>

A task's results of one region share an ``id``: a ``rectangle`` / ``polygon`` (or
``rectanglelabels`` / ``polygonlabels``) gives the shape, ``labels`` the field label, ``textarea``
the text. Label Studio stores geometry in **percent** of ``original_width`` / ``original_height``:
a rectangle is ``x, y, width, height`` (its top-left corner before rotation, its size) and
``rotation`` in degrees clockwise about that top-left corner, which reads as the 4 points
``(x, y)``, ``(x + w cos r, y + w sin r)``, ``(x + w cos r - h sin r, y + w sin r + h cos r)``,
``(x - h sin r, y + h cos r)`` in pixels (exactly; nothing is rounded); a polygon's
``points`` are ``[x%, y%]`` pairs.

Read (a tasks JSON file, or a folder: each of its ``*.json`` that is a list of tasks):

- ``annotations`` (people's; ``completions`` of old exports): the latest one not cancelled
  (``was_cancelled`` ones are skipped), by ``updated_at``; the page counts as checked. A task with
  only a ``drafts`` entry gives the latest draft's regions, not checked; a task with neither, no
  regions, not checked (it imports pre-filled by its predictions, or new).
- ``predictions``: each ``model_version`` becomes a prediction of source
  ``label-studio:<model_version>`` (``label-studio`` when it has none); a result's ``score``
  (else the prediction's ``score``) is the line's confidence.
- Labels ``Text`` / ``Handwriting`` / ``text`` / ``line`` / ``word`` are plain text lines; any
  other label is the region's field label (at most one per region). A TextArea result without a
  region (``perRegion="false"``, named after a field) is that page field's text.
- ``data.image`` (else ``data.ocr``, the template's own name, else the task's only string) names
  the image; it is found **by file name in the import folder** (searched recursively), whatever
  the URL: ``/data/local-files/?d=dir/x.png`` (local files storage: ``dir/x.png``),
  ``/data/upload/3/1a2b3c4d-x.png`` (an upload: Label Studio put 8 hex digits and ``-`` before
  the name; ``1a2b3c4d-x.png``, else ``x.png``), ``https://host/path/x.png``,
  ``s3://bucket/x.png``, or a plain path. When several files have that name, the one whose
  folders match the URL's path best is taken; a tie is an error. Embedded images (``data:``)
  are refused.
- Polygons of other than 4 points become their smallest rotated rectangle (a region is 4 points);
  a 4-point polygon drawn counter-clockwise is turned clockwise. Texts of several TextArea
  entries are joined with a space. Other result types (choices, relations, ellipses, brushes,
  key points) are skipped.

Written (``OUT/tasks.json``, ``OUT/label_config.xml``, ``OUT/images/<stem>.<ext>``): one task
per page with ``data.image`` (and ``data.ocr``, for the stock template) set to
``/data/local-files/?d=images/<stem>.<ext>``; ``annotations``: one annotation with every region
of the page as it is now, for pages people worked on (in progress, done, approved, rejected:
Label Studio has no "in progress", so these read back as checked); ``predictions``: the machine's
lines nobody corrected, with their confidence as the per-region ``score`` (prediction
``model_version`` ``proofdesk``), so moderation can continue there; where the exporter hands a
page's predictions over by source, each is written as its own prediction instead
(``label-studio:v3`` back as ``model_version`` ``v3``). A region that is a
rectangle (rotated or not) is written as a ``rectangle`` with its ``rotation``, any other
4-point region as a ``polygon``; an unlabelled region gets the label ``Text``. Page fields are
written as page-level TextArea results named after the field (a field named like a tag of the
template, ``image``, ``label``, ``bbox``, ``poly`` or ``transcription``, is not).

Serving the images to Label Studio (local files): start it with
``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<the export folder>``, paste ``label_config.xml`` as the
project's labelling interface, add a *Local files* source storage with the absolute path
``<the export folder>/images`` (do not sync it: the tasks name the images already), then import
``tasks.json``.

Not carried: the provenance of lines (who, when), page statuses beyond "has an annotation",
reading order (Label Studio has none: the project orders regions itself), relations, and
more than one annotation per task (only the latest is read).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

import shapely
from lxml import etree

from ..errors import BadInputError
from ..importer import IMAGE_EXTS, MAX_REFERENCE_LINES, _json_type
from .base import (
    AnnotatedPage,
    ExportOptions,
    ExportPage,
    Line,
    Point,
    register_reader,
    register_writer,
)
from .reference import copy_atomic, load_json, number, peek_json, walk_files

# -- helpers shared by the Label Studio, COCO, CVAT and ICDAR modules --------------------------------
#: Annotation files (a Label Studio or COCO export of a whole project) may be this big.
MAX_ANNOTATION_BYTES = 512 * 1024**2
#: A region whose 4 points are a rectangle within this many pixels is written as a (rotated) box.
RECT_TOLERANCE_PX = 0.5
#: detect() looks at this many files at most.
DETECT_FILES = 20
#: Label values that mean "a text line", not a field.
PLAIN_LABELS = {"text", "line", "word", "textline", "text_line", "text line", "handwriting", "printed"}


def is_plain_label(label: str) -> bool:
    return label.strip().lower() in PLAIN_LABELS


def signed_area(points: list[Point]) -> float:
    """Twice the signed area; positive when the points go clockwise on the page (y down)."""
    n = len(points)
    return sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))


def quad(points: list[Point]) -> list[Point]:
    """A region's 4 points from a polygon: 4 points as given (turned clockwise when drawn the other
    way, the first point kept); any other count, their smallest rotated rectangle, clockwise from
    the corner nearest the page's top-left."""
    pts = [(float(x), float(y)) for x, y in points]
    if len(pts) == 4:
        if signed_area(pts) < 0:
            pts = [pts[0], pts[3], pts[2], pts[1]]
        return pts
    env = shapely.oriented_envelope(shapely.MultiPoint(pts))
    if env.geom_type == "Polygon":
        ring = [(float(x), float(y)) for x, y in list(env.exterior.coords)[:4]]
        if signed_area(ring) < 0:
            ring.reverse()
        start = min(range(4), key=lambda i: (ring[i][0] + ring[i][1], ring[i][1]))
        return ring[start:] + ring[:start]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]  # all on one line: its bounding rectangle
    return [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]


def fit_rect(points: list[Point], tolerance: float = RECT_TOLERANCE_PX) -> tuple[Point, float, float, float] | None:
    """``(top_left, width, height, angle_degrees)`` when the 4 points (clockwise from the top-left)
    are a rectangle, rotated by ``angle`` clockwise about its first point; else None."""
    if len(points) != 4:
        return None
    (x0, y0), (x1, y1), _, (x3, y3) = points
    w = math.hypot(x1 - x0, y1 - y0)
    h = math.hypot(x3 - x0, y3 - y0)
    angle = math.atan2(y1 - y0, x1 - x0) if w > 0 else 0.0
    rebuilt = rotated_rect((x0, y0), w, h, math.degrees(angle))
    if max(math.hypot(px - qx, py - qy) for (px, py), (qx, qy) in zip(points, rebuilt)) > tolerance:
        return None
    deg = math.degrees(angle) % 360.0
    if abs(deg) < 1e-9 or abs(deg - 360.0) < 1e-9:
        deg = 0.0
    return (float(x0), float(y0)), w, h, deg


def rotated_rect(top_left: Point, w: float, h: float, degrees: float) -> list[Point]:
    """A ``w`` x ``h`` rectangle rotated ``degrees`` clockwise (on the page, y down) about its
    top-left corner: 4 points clockwise from that corner."""
    x, y = top_left
    r = math.radians(degrees)
    c, s = math.cos(r), math.sin(r)
    return [(x, y), (x + w * c, y + w * s), (x + w * c - h * s, y + w * s + h * c), (x - h * s, y + h * c)]


def centre_rotated_rect(x0: float, y0: float, x1: float, y1: float, degrees: float) -> list[Point]:
    """The box ``x0,y0 - x1,y1`` rotated ``degrees`` clockwise about its centre (CVAT's rotation)."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = math.radians(degrees)
    c, s = math.cos(r), math.sin(r)
    return [(cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy))
            for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


def check_points(points: list[Point], what: str, bad: Callable[[str], BadInputError]) -> None:
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise bad(f"{what}: a corner is not a finite number")


def image_file_name(page: ExportPage) -> str:
    """The exported image's file name: the page's stem and the image's own ending."""
    return f"{page.stem}{Path(page.image).suffix.lower() or '.png'}"


class ImageFinder:
    """Image files under an import folder, found by name (see the module docs)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._by_name: dict[str, list[Path]] | None = None

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = {}
            for p in walk_files(self.root, tuple(IMAGE_EXTS)):
                self._by_name.setdefault(p.name, []).append(p)
                if p.name.lower() != p.name:
                    self._by_name.setdefault(p.name.lower(), []).append(p)
        return self._by_name

    def find(self, ref: str, bad: Callable[[str], BadInputError], also: Iterable[str] = ()) -> Path:
        """The image ``ref`` (a relative path or file name; ``..`` and roots ignored) names; ``also``:
        other names to try when ``ref``'s own is not there."""
        parts = [p for p in PurePosixPath(ref.replace("\\", "/")).parts if p not in ("/", ".", "..", "")]
        if not parts:
            raise bad(f"image {ref[:80]!r} names no file")
        direct = self.root.joinpath(*parts)
        if direct.is_file():
            return direct
        for name in [parts[-1], *also]:
            candidates = self._index().get(name) or self._index().get(name.lower())
            if not candidates:
                continue
            if len(candidates) == 1:
                return candidates[0]

            def match(p: Path) -> int:
                rel = p.relative_to(self.root).parts[:-1]
                n = 0
                for a, b in zip(reversed(rel), reversed(parts[:-1])):
                    if a != b:
                        break
                    n += 1
                return n

            scored = sorted(candidates, key=match, reverse=True)
            if match(scored[0]) == match(scored[1]):
                raise bad(f"image {ref[:80]!r}: several files are named {name} in {self.root.name}"
                          f" ({scored[0].relative_to(self.root)}, {scored[1].relative_to(self.root)})")
            return scored[0]
        raise bad(f"image {ref[:80]!r}: no file {parts[-1]} in {self.root.name} (searched with its sub-folders)")


def annotation_files(path: Path, suffix: str, looks_right: Callable[[Path], bool]) -> list[Path]:
    """The annotation files of ``path``: itself, or its top-level ``*suffix`` files that look right."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInputError(f"{path}: no such file or folder")
    return [p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() == suffix and looks_right(p)]


# -- reading -------------------------------------------------------------------------------------------
#: Result types: shapes, labels, text.
SHAPES = {"rectangle": "rect", "rectanglelabels": "rect", "polygon": "poly", "polygonlabels": "poly"}
LABEL_KEYS = ("labels", "rectanglelabels", "polygonlabels")
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
#: Percent values may overshoot 0..100 by this much (floating-point rounding in the browser).
PERCENT_SLACK = 0.01


def _is_tasks(raw) -> bool:
    return (isinstance(raw, list) and bool(raw) and all(isinstance(t, dict) for t in raw[:50])
            and all("data" in t for t in raw[:50])
            and any(k in t for t in raw[:50] for k in ("annotations", "predictions", "completions", "drafts")))


def _looks_like_tasks_file(p: Path) -> bool:
    raw = peek_json(p)
    if raw is not None:
        return _is_tasks(raw)
    try:  # too big to peek at: its first bytes
        with open(p, "rb") as fh:
            head = fh.read(65536).decode("utf-8-sig", errors="replace").lstrip()
    except OSError:
        return False
    return head.startswith("[") and '"data"' in head and any(
        f'"{k}"' in head for k in ("annotations", "predictions", "completions"))


def image_refs(ref: str) -> tuple[str, list[str]]:
    """What a task's image URL names: a relative path, and other file names to try."""
    if ref.startswith("data:"):
        raise ValueError("the image is embedded in the task (a data: URL); Proofdesk needs image files")
    parts = urlsplit(ref)
    query = parse_qs(parts.query)
    if "d" in query and query["d"] and query["d"][0]:  # /data/local-files/?d=dir/x.png
        return query["d"][0], []
    path = unquote(parts.path) if parts.scheme or parts.netloc or parts.query else ref
    name = PurePosixPath(path.replace("\\", "/")).name
    if path.startswith("/data/upload/"):
        m = UPLOAD_PREFIX.match(name)
        return name, [m.group(1)] if m else []
    if parts.scheme in ("http", "https", "s3", "gs", "azure-blob", "ftp", "file") or parts.netloc:
        return name, []
    return path, []


class _Task:
    """Reading one task; ``bad`` names the file and the task."""

    def __init__(self, file: Path, index: int, raw, finder: ImageFinder):
        self.file, self.finder = file, finder
        tid = raw.get("id") if isinstance(raw, dict) else None
        self.where = f"task {tid}" if isinstance(tid, (int, str)) and not isinstance(tid, bool) else f"task #{index}"
        self.where = self.where[:60]
        self.raw = raw
        self.size: tuple[int, int] | None = None

    def bad(self, what: str) -> BadInputError:
        return BadInputError(f"{self.file.name}: {self.where}: {what}")

    def page(self) -> AnnotatedPage:
        raw = self.raw
        if not isinstance(raw, dict):
            raise self.bad(f"must be a JSON object, not {_json_type(raw)}")
        data = raw.get("data")
        if not isinstance(data, dict):
            raise self.bad(f"data must be a JSON object, not {_json_type(data)}")
        ref = data.get("image", data.get("ocr"))
        if ref is None:
            strings = [v for v in data.values() if isinstance(v, str)]
            ref = strings[0] if len(strings) == 1 else None
        if not isinstance(ref, str) or not ref.strip():
            raise self.bad("data.image must name the task's image")
        try:
            rel, also = image_refs(ref.strip())
        except ValueError as exc:
            raise self.bad(str(exc)) from None
        image = self.finder.find(rel, self.bad, also)

        def results_of(entries, key: str) -> list:
            if entries is None:
                return []
            if not isinstance(entries, list):
                raise self.bad(f"{key} must be a list, not {_json_type(entries)}")
            for k, e in enumerate(entries, start=1):
                if not isinstance(e, dict):
                    raise self.bad(f"{key} {k} must be a JSON object, not {_json_type(e)}")
                if not isinstance(e.get("result", []), list):
                    raise self.bad(f"{key} {k}: result must be a list, not {_json_type(e.get('result'))}")
            return entries

        annotations = results_of(raw.get("annotations", raw.get("completions")), "annotations")
        kept = [a for a in annotations if a.get("was_cancelled") is not True]
        drafts = results_of(raw.get("drafts"), "drafts")
        page = AnnotatedPage(image=image, checked=False)
        chosen = _latest(kept) or _latest(drafts)
        if chosen is not None:
            page.lines, page.fields = self.lines(chosen.get("result", []), "annotation", image)
            page.checked = bool(kept)
        for k, pred in enumerate(results_of(raw.get("predictions"), "predictions"), start=1):
            version = pred.get("model_version")
            if isinstance(version, bool) or (version is not None and not isinstance(version, (str, int, float))):
                raise self.bad(f"prediction {k}: model_version must be a string, not {_json_type(version)}")
            score = pred.get("score")
            score = None if score is None else self.confidence(score, f"prediction {k}: score")
            source = f"label-studio:{version}" if version not in (None, "") else "label-studio"
            lines, _ = self.lines(pred.get("result", []), f"prediction {k}", image, default_confidence=score)
            page.predictions[source[:200]] = lines
        if self.size is not None:
            page.width, page.height = self.size
        return page

    def confidence(self, value, what: str) -> float:
        v = number(value, what, self.bad)
        if not 0 <= v <= 1:
            raise self.bad(f"{what} must be between 0 and 1, not {v:g}")
        return v

    def dimension(self, result: dict, key: str, what: str) -> int:
        v = number(result.get(key), f"{what}: {key}", self.bad)
        if not (v.is_integer() and 0 < v < 10**6):
            raise self.bad(f"{what}: {key} must be a positive whole number of pixels, not {v:g}")
        return int(v)

    def percent(self, value, what: str, low: float = 0.0) -> float:
        v = number(value, what, self.bad)
        if not (low - PERCENT_SLACK <= v <= 100 + PERCENT_SLACK):
            raise self.bad(f"{what} is {v:g}: percent of the image must be between 0 and 100")
        return v

    def extent(self, value, what: str) -> float:
        v = number(value, what, self.bad)
        if not -PERCENT_SLACK <= v <= 1000:
            raise self.bad(f"{what} is {v:g}: a size in percent of the image must be between 0 and 100")
        return max(v, 0.0)

    def geometry(self, value: dict, kind: str, what: str) -> list[Point]:
        assert self.size is not None
        w, h = self.size
        if kind == "rect":
            x = self.percent(value.get("x"), f"{what}: x") * w / 100
            y = self.percent(value.get("y"), f"{what}: y") * h / 100
            # A rotated box may be longer than the image is wide: only the corners must be on it.
            width = self.extent(value.get("width"), f"{what}: width") * w / 100
            height = self.extent(value.get("height"), f"{what}: height") * h / 100
            rotation = value.get("rotation", 0) or 0
            rotation = number(rotation, f"{what}: rotation", self.bad)
            if abs(rotation) > 3600:
                raise self.bad(f"{what}: rotation {rotation:g} is not an angle in degrees")
            points = rotated_rect((x, y), width, height, rotation)
        else:
            raw_points = value.get("points")
            if not isinstance(raw_points, list) or not 3 <= len(raw_points) <= 10_000:
                raise self.bad(f"{what}: points must be a list of 3 or more [x, y] pairs")
            points = []
            for k, p in enumerate(raw_points, start=1):
                if not isinstance(p, list) or len(p) != 2:
                    raise self.bad(f"{what}: point {k} must be an [x, y] pair, not {repr(p)[:30]}")
                points.append((self.percent(p[0], f"{what}: point {k} x") * w / 100,
                               self.percent(p[1], f"{what}: point {k} y") * h / 100))
            points = quad(points)
        check_points(points, what, self.bad)
        for px, py in points:
            if not (-1 <= px <= w + 1 and -1 <= py <= h + 1):
                raise self.bad(f"{what}: reaches ({px:.1f}, {py:.1f}), outside the {w}x{h} image"
                               f" ({100 * px / w:.1f}%, {100 * py / h:.1f}%)")
        return points

    def lines(self, results, what: str, image: Path, default_confidence: float | None = None
              ) -> tuple[list[Line], dict[str, str]]:
        if not isinstance(results, list):
            raise self.bad(f"{what}: result must be a list, not {_json_type(results)}")
        regions: dict[str, dict] = {}
        fields: dict[str, str] = {}
        page_texts: list[tuple[str, str]] = []
        for k, r in enumerate(results, start=1):
            where = f"{what}: result {k}"
            if not isinstance(r, dict):
                raise self.bad(f"{where} must be a JSON object, not {_json_type(r)}")
            kind = r.get("type")
            if not isinstance(kind, str):
                raise self.bad(f"{where}: type must be a string, not {_json_type(kind)}")
            if kind not in SHAPES and kind not in ("labels", "textarea"):
                continue  # choices, relations, ellipses, brushes...: nothing of a text region
            value = r.get("value")
            if not isinstance(value, dict):
                raise self.bad(f"{where}: value must be a JSON object, not {_json_type(value)}")
            rid = r.get("id")
            if isinstance(rid, bool) or not isinstance(rid, (str, int)):
                raise self.bad(f"{where}: id must be a string, not {_json_type(rid)}")
            rid = str(rid)
            where = f"{what}: region {rid[:40]}"
            if "original_width" in r or "original_height" in r:
                size = (self.dimension(r, "original_width", where), self.dimension(r, "original_height", where))
                if self.size is not None and size != self.size:
                    raise self.bad(f"{where}: original size {size[0]}x{size[1]} differs from"
                                   f" {self.size[0]}x{self.size[1]} of the task's other results")
                self.size = size
            reg = regions.setdefault(rid, {"shape": None, "value": None, "text": None, "labels": [],
                                           "score": None, "from": r.get("from_name")})
            if kind in SHAPES:
                reg["shape"], reg["value"] = SHAPES[kind], value
            elif reg["shape"] is None and reg["value"] is None:
                if {"x", "y", "width", "height"} <= value.keys():
                    reg["value"], reg["implied"] = value, "rect"
                elif "points" in value:
                    reg["value"], reg["implied"] = value, "poly"
            for key in LABEL_KEYS:
                if key in value:
                    labels = value[key]
                    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
                        raise self.bad(f"{where}: {key} must be a list of strings")
                    reg["labels"] += labels
            if kind == "textarea":
                text = value.get("text", [])
                if isinstance(text, str):
                    text = [text]
                if not isinstance(text, list) or not all(isinstance(s, str) for s in text):
                    raise self.bad(f"{where}: text must be a list of strings")
                reg["text"] = " ".join(text) if reg["text"] is None else f"{reg['text']} {' '.join(text)}"
            if "score" in r and r["score"] is not None:
                reg["score"] = self.confidence(r["score"], f"{where}: score")
        out = []
        for rid, reg in regions.items():
            where = f"{what}: region {rid[:40]}"
            kind = reg["shape"] or reg.get("implied")
            if kind is None:
                if reg["text"] is not None and not reg["labels"]:
                    # A TextArea of the whole page (perRegion="false"): a field, named after its tag.
                    name = reg["from"] if isinstance(reg["from"], str) and reg["from"] else "text"
                    if name != "transcription":
                        page_texts.append((name, reg["text"]))
                continue  # labels alone, or a shape Proofdesk has no use for
            if self.size is None:
                self.size = _image_size(image, self.bad)
            points = self.geometry(reg["value"], kind, where)
            fields_of = [s for s in dict.fromkeys(reg["labels"]) if not is_plain_label(s)]
            if len(fields_of) > 1:
                raise self.bad(f"{where}: several field labels ({', '.join(fields_of)[:80]});"
                               " a region has at most one")
            conf = reg["score"] if reg["score"] is not None else default_confidence
            out.append(Line(points=points, text=reg["text"] or "", label=fields_of[0] if fields_of else None,
                            confidence=conf))
            if len(out) > MAX_REFERENCE_LINES:
                raise self.bad(f"{what}: more than {MAX_REFERENCE_LINES} regions")
        for name, text in page_texts:
            fields[name] = text
        return out, fields


def _latest(entries: list[dict]) -> dict | None:
    """The entry updated last (``updated_at``, else ``created_at``; the later in the list on a tie)."""
    if not entries:
        return None

    def stamp(e: dict) -> str:
        s = e.get("updated_at") or e.get("created_at") or ""
        return s if isinstance(s, str) else ""

    best = entries[0]
    for e in entries[1:]:
        if stamp(e) >= stamp(best):
            best = e
    return best


def _image_size(image: Path, bad: Callable[[str], BadInputError]) -> tuple[int, int]:
    """An image's size from its header (results without ``original_width``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise bad(f"no original_width/original_height and the image {image.name} cannot be read ({exc})") from None


class LabelStudioReader:
    name = "labelstudio"
    title = "Label Studio JSON export (OCR template)"

    def detect(self, path: Path) -> float:
        try:
            path = Path(path)
            if path.is_file():
                return 0.95 if path.suffix.lower() == ".json" and _looks_like_tasks_file(path) else 0.0
            if path.is_dir():
                jsons = [p for p in sorted(path.iterdir()) if p.suffix.lower() == ".json" and p.is_file()]
                return 0.9 if any(_looks_like_tasks_file(p) for p in jsons[:DETECT_FILES]) else 0.0
        except OSError:
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        files = annotation_files(path, ".json", _looks_like_tasks_file)
        if not files:
            raise BadInputError(f"{path.name}: no Label Studio JSON export (a list of tasks) found")
        finder = ImageFinder(path if path.is_dir() else path.parent)
        seen: dict[Path, str] = {}
        for file in files:
            raw = load_json(file, MAX_ANNOTATION_BYTES)
            if not isinstance(raw, list):
                raise BadInputError(f"{file.name}: a Label Studio export is a list of tasks, not {_json_type(raw)}")
            for i, task in enumerate(raw, start=1):
                t = _Task(file, i, task, finder)
                page = t.page()
                if page.image in seen:
                    raise t.bad(f"its image {page.image.name} is also {seen[page.image]}'s")
                seen[page.image] = t.where
                yield page


# -- writing -------------------------------------------------------------------------------------------
#: The tags of the written labelling config; a field with one of these names is not written.
TEMPLATE_TAGS = {"image", "label", "bbox", "poly", "transcription"}
TAG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
PEOPLE_STATUSES = {"in_progress", "done", "approved", "rejected"}
MODEL_VERSION = "proofdesk"


def _pct(v: float, whole: int) -> float:
    return 100.0 * float(v) / whole if whole else 0.0


def region_results(ln: Line, rid: str, width: int, height: int, score: bool = False) -> list[dict]:
    """The results of one region: its shape, its label, its text (sharing ``rid``)."""
    fit = fit_rect(list(ln.points))
    if fit is not None:
        (x, y), w, h, deg = fit
        geom = {"x": _pct(x, width), "y": _pct(y, height), "width": _pct(w, width),
                "height": _pct(h, height), "rotation": deg}
        shape, tag = "rectangle", "bbox"
    else:
        geom = {"points": [[_pct(x, width), _pct(y, height)] for x, y in ln.points], "closed": True}
        shape, tag = "polygon", "poly"
    common = {"id": rid, "to_name": "image", "original_width": width, "original_height": height,
              "image_rotation": 0}
    out = [
        {**common, "from_name": tag, "type": shape, "value": dict(geom)},
        {**common, "from_name": "label", "type": "labels", "value": {**geom, "labels": [ln.label or "Text"]}},
        {**common, "from_name": "transcription", "type": "textarea", "value": {**geom, "text": [ln.text]}},
    ]
    if score and ln.confidence is not None:
        for r in out:
            r["score"] = float(ln.confidence)
    return out


def label_config(labels: Iterable[str], fields: Iterable[str]) -> str:
    """The OCR template with the project's labels and a page-level TextArea per field."""
    view = etree.Element("View")
    etree.SubElement(view, "Image", name="image", value="$image")
    tags = etree.SubElement(view, "Labels", name="label", toName="image")
    etree.SubElement(tags, "Label", value="Text", background="green")
    for label in labels:
        if label != "Text":
            etree.SubElement(tags, "Label", value=label, background="purple")
    etree.SubElement(view, "Rectangle", name="bbox", toName="image", strokeWidth="3")
    etree.SubElement(view, "Polygon", name="poly", toName="image", strokeWidth="3")
    etree.SubElement(view, "TextArea", name="transcription", toName="image", editable="true", perRegion="true",
                     required="true", maxSubmissions="1", rows="5", placeholder="Recognized Text",
                     displayMode="region-list")
    for name in fields:
        etree.SubElement(view, "Header", value=name)
        etree.SubElement(view, "TextArea", name=name, toName="image", editable="true", perRegion="false",
                         maxSubmissions="1", rows="1")
    return etree.tostring(view, pretty_print=True, encoding="unicode")


def _field_ok(name: str) -> bool:
    return bool(TAG_NAME.match(name)) and name.lower() not in TEMPLATE_TAGS


class LabelStudioWriter:
    name = "labelstudio"
    carries_predictions = True  # the page's stored predictions go out as Label Studio predictions
    title = "Label Studio JSON tasks (OCR template), images and labelling config"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        images = out / "images"
        images.mkdir(parents=True, exist_ok=True)
        labels: dict[str, None] = {f: None for f in (options.fields or [])}
        fields: dict[str, None] = {f: None for f in (options.fields or []) if _field_ok(f)}
        tasks = out / "tasks.json"
        tmp = out / ".tasks.json.tmp"
        count = 0
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write("[")
                for page in pages:
                    name = image_file_name(page)
                    if options.copy_images:
                        copy_atomic(Path(page.image), images / name)
                    task = self.task(page, name)
                    for ln in page.lines:
                        if ln.label:
                            labels.setdefault(ln.label)
                    for f in page.fields:
                        if _field_ok(f):
                            fields.setdefault(f)
                    fh.write(("," if count else "") + "\n" + json.dumps(task, ensure_ascii=False))
                    count += 1
                    if progress is not None:
                        progress(count, page.stem)
                fh.write("\n]\n")
            os.replace(tmp, tasks)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        (out / "label_config.xml").write_text(label_config(labels, fields), encoding="utf-8")
        return count

    def task(self, page: ExportPage, image_name: str) -> dict:
        url = f"/data/local-files/?d=images/{image_name}"
        data = {"image": url, "ocr": url, "document": page.document, "page": page.page_no,
                "proofdesk_page_id": page.page_id, "status": page.status}
        if page.split is not None:
            data["split"] = page.split
        task: dict = {"data": data, "annotations": [], "predictions": []}
        if page.status in PEOPLE_STATUSES:
            result = []
            for i, ln in enumerate(page.lines, start=1):
                result += region_results(ln, f"p{page.page_id}r{i}", page.width, page.height)
            for k, (name, text) in enumerate(page.fields.items(), start=1):
                if _field_ok(name):
                    result.append({"id": f"p{page.page_id}f{k}", "from_name": name, "to_name": "image",
                                   "type": "textarea", "value": {"text": [text]}})
            stamps = [ln.updated_at for ln in page.lines if ln.updated_at]
            annotation = {"result": result, "was_cancelled": False, "ground_truth": False}
            if stamps:
                annotation["updated_at"] = max(stamps)
            task["annotations"].append(annotation)
        # The page's predictions by source where the exporter hands them over (``predictions``:
        # source -> lines); else the machine's lines nobody corrected, as one prediction.
        sources = getattr(page, "predictions", None)
        if not isinstance(sources, dict) or not sources:
            machine = [ln for ln in page.lines if ln.origin == "prediction" and not ln.corrected]
            sources = {MODEL_VERSION: machine} if machine else {}
        for k, (source, lines) in enumerate(sources.items(), start=1):
            result = []
            for i, ln in enumerate(lines, start=1):
                result += region_results(ln, f"p{page.page_id}m{k}r{i}", page.width, page.height, score=True)
            scores = [ln.confidence for ln in lines if ln.confidence is not None]
            version = source.split(":", 1)[1] if source.startswith("label-studio:") else source
            task["predictions"].append({"model_version": version, "result": result,
                                        **({"score": sum(scores) / len(scores)} if scores else {})})
        return task


register_reader(LabelStudioReader())
register_writer(LabelStudioWriter())
