"""COCO detection JSON with COCO-Text's text attributes (``--annotations coco``, ``--format coco``).

Read (a ``.json`` file, or a folder: each of its top-level ``*.json`` in COCO's layout):

- ``images[]``: ``id``, ``file_name`` (found by name in the import folder, searched recursively;
  a path in ``file_name`` picks among files of the same name), ``width``, ``height``.
- ``annotations[]``: one region each. ``segmentation`` (a polygon ``[x1, y1, ..., xn, yn]``, the
  first of the list; several polygons are taken together) gives the 4 points when present: 4
  points as they are, other counts their smallest rotated rectangle; else ``bbox``
  ``[x, y, w, h]`` (pixels) a rectangle. ``utf8_string`` is the text; an ``illegible`` region
  without one (``legibility``) gets ``###``, ICDAR's "don't care". ``category_id`` names a
  ``categories[]`` entry whose ``name`` is the field label, except the plain ``text``,
  ``line``, ``word`` (and COCO-Text's single category). Run-length (``iscrowd``) masks use
  ``bbox``.
- An annotation with a ``score`` (a detector's output inside a dataset file) is a line of a
  prediction of source ``coco``. A **results file** (a JSON *list* of ``{image_id, bbox,
  score, ...}``, as COCO evaluation reads) in the folder beside the dataset file is a
  prediction of source ``coco:<file stem>`` for the dataset's images; alone it names no images
  and is refused.
- COCO-Text v2 as published (``cocotext.v2.json``: ``imgs`` and ``anns`` objects keyed by id,
  ``mask`` for the polygon) reads the same way.

Regions are in the file's order (COCO has no reading order: the project orders them). An image
without annotations is a page without regions (checked: nothing to read on it).

Written (``OUT/annotations.json``, or ``OUT/train.json`` and ``OUT/val.json`` with a dataset
version; images in ``OUT/images/``): ``images`` (``id`` the page id, ``file_name``, ``width``,
``height``), ``annotations`` (``segmentation`` the 4 points, ``bbox`` their bounding rectangle,
``area`` the polygon's, ``utf8_string``, ``legibility`` ``illegible`` for ``###`` else
``legible``, ``category_id``), ``categories`` (``text`` for unlabelled regions, then every field
label). Not carried: confidences and provenance (a COCO ground truth has none), page fields
other than through labelled regions, page statuses.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import BadInputError
from ..importer import MAX_REFERENCE_LINES, _json_type
from .base import AnnotatedPage, ExportOptions, ExportPage, Line, box_points, register_reader, register_writer
from .labelstudio import (
    DETECT_FILES,
    MAX_ANNOTATION_BYTES,
    ImageFinder,
    annotation_files,
    check_points,
    image_file_name,
    is_plain_label,
    quad,
    signed_area,
)
from .reference import copy_atomic, load_json, number, peek_json

ILLEGIBLE_TEXT = "###"


def _is_dataset(raw) -> bool:
    return isinstance(raw, dict) and ((isinstance(raw.get("images"), list) and isinstance(raw.get("annotations"), list))
                                      or (isinstance(raw.get("imgs"), dict) and isinstance(raw.get("anns"), dict)))


def _is_results(raw) -> bool:
    return (isinstance(raw, list) and bool(raw) and isinstance(raw[0], dict) and "image_id" in raw[0]
            and "score" in raw[0])


def _peek_kind(p: Path) -> str | None:
    raw = peek_json(p)
    if raw is None:
        try:
            with open(p, "rb") as fh:
                head = fh.read(65536).decode("utf-8-sig", errors="replace").lstrip()
        except OSError:
            return None
        if head.startswith("{") and ('"images"' in head or '"imgs"' in head):
            return "dataset"
        if head.startswith("[") and '"image_id"' in head and '"score"' in head:
            return "results"
        return None
    return "dataset" if _is_dataset(raw) else "results" if _is_results(raw) else None


def _ident(value, what: str, bad) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise bad(f"{what} must be a number or a string, not {_json_type(value)}")
    return value


class _Reader:
    def __init__(self, file: Path, finder: ImageFinder):
        self.file, self.finder = file, finder

    def bad(self, what: str) -> BadInputError:
        return BadInputError(f"{self.file.name}: {what}")

    def dataset(self, raw: dict) -> tuple[dict, list[AnnotatedPage]]:
        """id -> page, and the pages in the file's order."""
        if "imgs" in raw and "images" not in raw:  # COCO-Text v2 as published
            images = list(raw["imgs"].values())
            anns = list(raw["anns"].values())
            cats = raw.get("cats") or {}
            cats = list(cats.values()) if isinstance(cats, dict) else cats
        else:
            images, anns, cats = raw["images"], raw["annotations"], raw.get("categories", [])
        if not isinstance(cats, list):
            raise self.bad(f"categories must be a list, not {_json_type(cats)}")
        categories: dict[int | str, str | None] = {}
        for k, c in enumerate(cats, start=1):
            if not isinstance(c, dict):
                raise self.bad(f"category {k} must be a JSON object, not {_json_type(c)}")
            cid = _ident(c.get("id"), f"category {k}: id", self.bad)
            name = c.get("name")
            if not isinstance(name, str):
                raise self.bad(f"category {k}: name must be a string, not {_json_type(name)}")
            # One category (COCO-Text's "text", a detector's "0") is what was boxed: text lines.
            categories[cid] = None if is_plain_label(name) or not name.strip() or len(cats) == 1 else name
        self.categories = categories
        by_id: dict[int | str, AnnotatedPage] = {}
        pages = []
        seen: dict[Path, int | str] = {}
        for k, im in enumerate(images, start=1):
            if not isinstance(im, dict):
                raise self.bad(f"image {k} must be a JSON object, not {_json_type(im)}")
            iid = _ident(im.get("id"), f"image {k}: id", self.bad)
            if iid in by_id:
                raise self.bad(f"image {k}: id {iid!r} is used twice")
            name = im.get("file_name")
            if not isinstance(name, str) or not name.strip():
                raise self.bad(f"image {iid!r}: file_name must name the image, not {repr(name)[:40]}")
            path = self.finder.find(name, lambda what, i=iid: self.bad(f"image {i!r}: {what}"))
            if path in seen:
                raise self.bad(f"image {iid!r}: {path.name} is image {seen[path]!r} too")
            seen[path] = iid
            size = []
            for key in ("width", "height"):
                v = number(im.get(key), f"image {iid!r}: {key}", self.bad)
                if not (v.is_integer() and 0 < v < 10**6):
                    raise self.bad(f"image {iid!r}: {key} must be a positive whole number of pixels, not {v:g}")
                size.append(int(v))
            page = AnnotatedPage(image=path, width=size[0], height=size[1])
            by_id[iid] = page
            pages.append(page)
        for k, a in enumerate(anns, start=1):
            iid, line, scored = self.annotation(a, k, by_id, categories)
            page = by_id[iid]
            target = page.predictions.setdefault("coco", []) if scored else page.lines
            target.append(line)
            if len(target) > MAX_REFERENCE_LINES:
                raise self.bad(f"image {iid!r}: more than {MAX_REFERENCE_LINES} annotations")
        return by_id, pages

    def annotation(self, a, k: int, by_id: dict, categories: dict) -> tuple[int | str, Line, bool]:
        if not isinstance(a, dict):
            raise self.bad(f"annotation {k} must be a JSON object, not {_json_type(a)}")
        aid = a.get("id", k)
        where = f"annotation {aid!r}"[:60] if isinstance(aid, (int, str)) and not isinstance(aid, bool) else \
            f"annotation #{k}"
        iid = _ident(a.get("image_id"), f"{where}: image_id", self.bad)
        if iid not in by_id:
            # COCO-Text v2 keys images by strings of their numeric ids.
            alt = str(iid) if isinstance(iid, int) else int(iid) if iid.isdigit() and len(iid) < 20 else None
            if alt is None or alt not in by_id:
                raise self.bad(f"{where}: image_id {iid!r} is not one of the images")
            iid = alt
        points = None
        seg = a.get("segmentation", a.get("mask"))
        if isinstance(seg, list) and seg:
            polys = seg if isinstance(seg[0], list) else [seg]
            flat: list = []
            for p in polys:
                if not isinstance(p, list):
                    raise self.bad(f"{where}: segmentation must be a list of polygons")
                if len(p) % 2 or len(p) < 6:
                    raise self.bad(f"{where}: a segmentation polygon needs 3 or more x, y pairs, has {len(p)}"
                                   " numbers")
                flat += p
            if len(flat) > 20_000:
                raise self.bad(f"{where}: segmentation has {len(flat)} numbers, too many for one region")
            xy = [number(v, f"{where}: segmentation number {i + 1}", self.bad) for i, v in enumerate(flat)]
            pts = [(xy[i], xy[i + 1]) for i in range(0, len(xy), 2)]
            points = quad(pts)  # several polygons (a word split in parts): one rectangle around them all
        elif seg is not None and not isinstance(seg, (dict, list)):
            raise self.bad(f"{where}: segmentation must be a list of polygons or a mask, not {_json_type(seg)}")
        if points is None:
            bbox = a.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise self.bad(f"{where}: bbox must be [x, y, width, height], not {repr(bbox)[:40]}")
            x, y, w, h = (number(v, f"{where}: bbox", self.bad) for v in bbox)
            if w < 0 or h < 0:
                raise self.bad(f"{where}: bbox has a negative size ({w:g} x {h:g})")
            points = box_points(x, y, x + w, y + h)
        check_points(points, where, self.bad)
        text = a.get("utf8_string")
        if text is not None and not isinstance(text, str):
            raise self.bad(f"{where}: utf8_string must be a string, not {_json_type(text)}")
        legibility = a.get("legibility")
        if legibility is not None and not isinstance(legibility, str):
            raise self.bad(f"{where}: legibility must be a string, not {_json_type(legibility)}")
        if not text and legibility == "illegible":
            text = ILLEGIBLE_TEXT
        label = None
        if "category_id" in a and a["category_id"] is not None:
            cid = _ident(a["category_id"], f"{where}: category_id", self.bad)
            if categories and cid not in categories:
                raise self.bad(f"{where}: category_id {cid!r} is not one of the categories")
            label = categories.get(cid)
        confidence = None
        if a.get("score") is not None:
            confidence = number(a["score"], f"{where}: score", self.bad)
            if not 0 <= confidence <= 1:
                raise self.bad(f"{where}: score must be between 0 and 1, not {confidence:g}")
        return iid, Line(points=points, text=text or "", label=label, confidence=confidence), confidence is not None

    def results(self, raw: list, by_id: dict, categories: dict, source: str) -> None:
        for k, a in enumerate(raw, start=1):
            if isinstance(a, dict) and a.get("score") is None:
                raise self.bad(f"result {k}: score is missing (a results file lists scored detections)")
            iid, line, _ = self.annotation(a, k, by_id, categories)
            lines = by_id[iid].predictions.setdefault(source, [])
            lines.append(line)
            if len(lines) > MAX_REFERENCE_LINES:
                raise self.bad(f"image {iid!r}: more than {MAX_REFERENCE_LINES} results")


class CocoReader:
    name = "coco"
    title = "COCO / COCO-Text JSON"

    def detect(self, path: Path) -> float:
        try:
            path = Path(path)
            if path.is_file():
                return 0.9 if path.suffix.lower() == ".json" and _peek_kind(path) == "dataset" else 0.0
            if path.is_dir():
                jsons = [p for p in sorted(path.iterdir()) if p.suffix.lower() == ".json" and p.is_file()]
                return 0.85 if any(_peek_kind(p) == "dataset" for p in jsons[:DETECT_FILES]) else 0.0
        except OSError:
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        files = annotation_files(path, ".json", lambda p: _peek_kind(p) is not None)
        finder = ImageFinder(path if path.is_dir() else path.parent)
        datasets, results = [], []
        for f in files:
            raw = load_json(f, MAX_ANNOTATION_BYTES)
            if _is_dataset(raw):
                datasets.append((f, raw))
            elif isinstance(raw, list):
                results.append((f, raw))
            else:
                raise BadInputError(f"{f.name}: not a COCO file (an object with images and annotations)")
        if not datasets:
            what = "only a results file, which names no images" if results else "no COCO JSON"
            raise BadInputError(f"{path.name}: {what}; a COCO dataset file (images, annotations) is needed")
        all_pages: list[AnnotatedPage] = []
        by_id: dict = {}
        categories: dict = {}
        seen: set[Path] = set()
        for f, raw in datasets:
            reader = _Reader(f, finder)
            ids, pages = reader.dataset(raw)
            for cid, label in reader.categories.items():
                categories.setdefault(cid, label)
            for p in pages:
                if p.image in seen:
                    raise BadInputError(f"{f.name}: {p.image.name} is in another COCO file of {path.name} too")
                seen.add(p.image)
            all_pages += pages
            for iid, page in ids.items():
                by_id.setdefault(iid, page)
        for f, raw in results:
            _Reader(f, finder).results(raw, by_id, categories, f"coco:{f.stem}")
        yield from all_pages


# -- writing -------------------------------------------------------------------------------------------
class _Stream:
    """One COCO file written as it goes: images and annotations to temporary files, joined at the end."""

    def __init__(self, out: Path, name: str):
        self.path = out / name
        self.images = tempfile.TemporaryFile("w+", encoding="utf-8", dir=out)
        self.anns = tempfile.TemporaryFile("w+", encoding="utf-8", dir=out)
        self.n_images = self.n_anns = 0

    def add(self, image: dict, anns: list[dict]) -> None:
        self.images.write(("," if self.n_images else "") + "\n" + json.dumps(image, ensure_ascii=False))
        self.n_images += 1
        for a in anns:
            a["id"] = self.n_anns + 1
            self.anns.write(("," if self.n_anns else "") + "\n" + json.dumps(a, ensure_ascii=False))
            self.n_anns += 1

    def finish(self, categories: list[dict]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write('{"info": {"description": "Proofdesk export", "version": "1.0"}, "licenses": [],\n')
                fh.write('"categories": ' + json.dumps(categories, ensure_ascii=False) + ',\n"images": [')
                for src in (self.images, self.anns):
                    src.seek(0)
                    while chunk := src.read(1 << 20):
                        fh.write(chunk)
                    fh.write("\n]" + (',\n"annotations": [' if src is self.images else "}\n"))
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            self.close()

    def close(self) -> None:
        self.images.close()
        self.anns.close()


def _r(v: float) -> float:
    return round(float(v), 2)


def annotation_record(ln: Line, image_id: int, category_id: int) -> dict:
    xs, ys = [p[0] for p in ln.points], [p[1] for p in ln.points]
    x0, y0 = min(xs), min(ys)
    rec = {"image_id": image_id, "category_id": category_id,
           "segmentation": [[_r(c) for p in ln.points for c in p]],
           "area": _r(abs(signed_area(list(ln.points))) / 2),
           "bbox": [_r(x0), _r(y0), _r(max(xs) - x0), _r(max(ys) - y0)], "iscrowd": 0}
    if ln.text == ILLEGIBLE_TEXT:
        rec["legibility"] = "illegible"
    else:
        rec["legibility"] = "legible"
        rec["utf8_string"] = ln.text
    return rec


class CocoWriter:
    name = "coco"
    title = "COCO-Text JSON (images, annotations with utf8_string, categories)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        images = out / "images"
        images.mkdir(parents=True, exist_ok=True)
        categories: dict[str | None, int] = {None: 1}
        for f in options.fields or []:
            categories.setdefault(f, len(categories) + 1)
        streams: dict[str | None, _Stream] = {}
        count = 0
        try:
            for page in pages:
                name = image_file_name(page)
                if options.copy_images:
                    copy_atomic(Path(page.image), images / name)
                split = page.split if page.split in ("train", "val") else None
                if split not in streams:
                    streams[split] = _Stream(out, f"{split}.json" if split else "annotations.json")
                anns = []
                for ln in page.lines:
                    cid = categories.setdefault(ln.label or None, len(categories) + 1)
                    anns.append(annotation_record(ln, page.page_id, cid))
                streams[split].add({"id": page.page_id, "file_name": name, "width": page.width,
                                    "height": page.height}, anns)
                count += 1
                if progress is not None:
                    progress(count, page.stem)
            cats = [{"id": cid, "name": label or "text", "supercategory": "text"}
                    for label, cid in categories.items()]
            if not streams:
                streams[None] = _Stream(out, "annotations.json")
            for s in list(streams.values()):
                s.finish(cats)
        finally:
            for s in streams.values():
                s.close()
        return count


register_reader(CocoReader())
register_writer(CocoWriter())
