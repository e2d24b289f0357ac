"""CVAT for images 1.1 XML (``--annotations cvat``, ``--format cvat``).

Read (an ``annotations.xml``, or a folder holding ``*.xml`` files with an ``<annotations>`` root,
as CVAT's export zip unpacks to): every ``<image id name width height>``; its name is found in
the import folder (searched recursively; the path in ``name`` picks among files of the same
name). In it, each

- ``<box label xtl ytl xbr ybr rotation>``: a rectangle in pixels; ``rotation`` (degrees,
  clockwise, about the box's centre, as CVAT rotates) turns it into a 4-point region;
- ``<polygon label points="x1,y1;x2,y2;...">``: 4 points as given (turned clockwise when drawn
  the other way), other counts their smallest rotated rectangle

is one region. Its text is the ``<attribute>`` named ``text`` (CVAT's convention for OCR tasks:
add a text attribute to the label; ``transcription``, ``ocr``, ``value`` and ``content`` are
accepted too, in any case). The ``label`` is the region's field label, except a plain text
label (``text``, ``line``, ``word``, ``Text``...). Regions keep the file's order (the project
orders them for reading). Polylines, points, tags, masks, cuboids, skeletons and ellipses are
skipped; ``<track>`` (CVAT for *video*) is refused.

The XML is parsed without entities, DTDs or network access; a file declaring a DTD is refused.

Written (``OUT/annotations.xml`` and ``OUT/images/``, CVAT's own export layout, to import
into a CVAT task made from those images): ``<meta>`` with the labels (``text``, then every field
label, each with a ``text`` attribute of input type text), and per page an ``<image>`` whose
regions are ``<box>`` (a rectangle, with its ``rotation`` when rotated) or ``<polygon>`` (any
other 4 points), each with ``<attribute name="text">``; ``source`` is ``auto`` for a machine
line nobody corrected, ``manual`` otherwise; ``subset`` is the dataset version's split.
Not carried: confidences, page fields other than through labelled regions, page statuses.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lxml import etree

from ..errors import BadInputError
from ..importer import MAX_REFERENCE_LINES
from .base import AnnotatedPage, ExportOptions, ExportPage, Line, register_reader, register_writer
from .labelstudio import (
    DETECT_FILES,
    MAX_ANNOTATION_BYTES,
    ImageFinder,
    annotation_files,
    centre_rotated_rect,
    check_points,
    fit_rect,
    image_file_name,
    is_plain_label,
    quad,
)
from .reference import copy_atomic

#: Attribute names that carry a region's transcription, lower case.
TEXT_ATTRIBUTES = ("text", "transcription", "ocr", "value", "content")
#: Shapes without a text region in them.
SKIPPED = {"polyline", "points", "tag", "mask", "cuboid", "skeleton", "ellipse"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           dtd_validation=False, remove_comments=True, remove_pis=True)


def _looks_like_cvat(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return "<annotations" in head and ("<version>" in head or "<meta" in head or "<image" in head)


def parse(file: Path) -> etree._Element:
    """The file's root, parsed safely; BadInputError on a size over the limit, bad XML or a DTD."""
    def bad(what: str) -> BadInputError:
        return BadInputError(f"{file.name}: {what}")

    try:
        size = file.stat().st_size
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_ANNOTATION_BYTES:
        raise bad(f"the file is {size / 1024**2:.1f} MB; the limit is {MAX_ANNOTATION_BYTES // 1024**2} MB")
    try:
        with open(file, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror or exc}") from None
    root_at = head.find(b"<annotations")
    if b"<!DOCTYPE" in (head if root_at < 0 else head[:root_at]):
        raise bad("declares a DTD (entities); CVAT files never do, and it is refused")
    try:
        tree = etree.parse(str(file), _parser())
    except etree.XMLSyntaxError as exc:
        raise bad(f"is not well-formed XML ({str(exc)[:120]})") from None
    except OSError as exc:
        raise bad(f"cannot read: {exc}") from None
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise bad("declares a DTD (entities); CVAT files never do, and it is refused")
    return tree.getroot()


class _Reader:
    def __init__(self, file: Path, finder: ImageFinder):
        self.file, self.finder = file, finder

    def bad(self, what: str, el: etree._Element | None = None) -> BadInputError:
        line = f"line {el.sourceline}: " if el is not None and el.sourceline else ""
        return BadInputError(f"{self.file.name}: {line}{what}")

    def num(self, el: etree._Element, key: str, default: float | None = None) -> float:
        raw = el.get(key)
        if raw is None:
            if default is not None:
                return default
            raise self.bad(f"<{el.tag}> has no {key}", el)
        try:
            v = float(raw)
        except ValueError:
            raise self.bad(f"<{el.tag}> {key}={raw[:30]!r} is not a number", el) from None
        if v != v or v in (float("inf"), float("-inf")):
            raise self.bad(f"<{el.tag}> {key}={raw[:30]!r} is not a finite number", el)
        return v

    def pages(self, root: etree._Element) -> Iterator[AnnotatedPage]:
        if root.tag != "annotations":
            raise self.bad(f"the root element is <{str(root.tag)[:40]}>, not <annotations>", root)
        version = root.findtext("version")
        if version is not None and not version.strip().startswith("1."):
            raise self.bad(f"CVAT XML version {version.strip()[:20]!r}; version 1.1 is read", root)
        track = root.find("track")
        if track is not None:
            raise self.bad("has <track> elements: that is CVAT for video; export as CVAT for images 1.1", track)
        seen: dict[Path, str] = {}
        for im in root.findall("image"):
            name = im.get("name")
            if not name or not name.strip():
                raise self.bad("<image> has no name", im)
            path = self.finder.find(name, lambda what, el=im: self.bad(what, el))
            if path in seen:
                raise self.bad(f"image {name[:60]!r} is listed twice (also as {seen[path][:60]!r})", im)
            seen[path] = name
            size = []
            for key in ("width", "height"):
                v = self.num(im, key)
                if not (v.is_integer() and 0 < v < 10**6):
                    raise self.bad(f"<image> {key} must be a positive whole number of pixels, not {v:g}", im)
                size.append(int(v))
            page = AnnotatedPage(image=path, width=size[0], height=size[1])
            for el in im:
                if not isinstance(el.tag, str) or el.tag in SKIPPED:
                    continue
                if el.tag not in ("box", "polygon"):
                    continue  # something newer CVAT versions add: no text region
                page.lines.append(self.region(el))
                if len(page.lines) > MAX_REFERENCE_LINES:
                    raise self.bad(f"more than {MAX_REFERENCE_LINES} regions on one image", im)
            yield page

    def region(self, el: etree._Element) -> Line:
        if el.tag == "box":
            x0, y0, x1, y1 = (self.num(el, k) for k in ("xtl", "ytl", "xbr", "ybr"))
            if x1 < x0 or y1 < y0:
                raise self.bad(f"<box> ends before it starts ({x0:g},{y0:g} - {x1:g},{y1:g})", el)
            rotation = self.num(el, "rotation", 0.0)
            if abs(rotation) > 3600:
                raise self.bad(f"<box> rotation {rotation:g} is not an angle in degrees", el)
            points = centre_rotated_rect(x0, y0, x1, y1, rotation)
        else:
            raw = el.get("points") or ""
            pts = []
            for k, pair in enumerate(raw.split(";"), start=1):
                xy = pair.split(",")
                if len(xy) != 2:
                    raise self.bad(f"<polygon> point {k} {pair[:30]!r} is not x,y", el)
                try:
                    x, y = float(xy[0]), float(xy[1])
                except ValueError:
                    raise self.bad(f"<polygon> point {k} {pair[:30]!r} is not two numbers", el) from None
                pts.append((x, y))
            if len(pts) < 3:
                raise self.bad(f"<polygon> needs 3 or more points, has {len(pts)}", el)
            if len(pts) > 10_000:
                raise self.bad(f"<polygon> has {len(pts)} points, too many for one region", el)
            check_points(pts, f"line {el.sourceline}: <polygon>", lambda w: self.bad(w))
            points = quad(pts)
        check_points(points, f"line {el.sourceline}: <{el.tag}>", lambda w: self.bad(w))
        text = None
        for a in el.findall("attribute"):
            name = (a.get("name") or "").strip().lower()
            if name in TEXT_ATTRIBUTES and (text is None or name == "text"):
                text = "".join(a.itertext())
        label = el.get("label") or ""
        return Line(points=points, text=text or "", label=None if not label.strip() or is_plain_label(label) else label)


class CvatReader:
    name = "cvat"
    title = "CVAT for images 1.1 XML"

    def detect(self, path: Path) -> float:
        try:
            path = Path(path)
            if path.is_file():
                return 0.9 if path.suffix.lower() == ".xml" and _looks_like_cvat(path) else 0.0
            if path.is_dir():
                xmls = [p for p in sorted(path.iterdir()) if p.suffix.lower() == ".xml" and p.is_file()]
                return 0.9 if any(_looks_like_cvat(p) for p in xmls[:DETECT_FILES]) else 0.0
        except OSError:
            return 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        files = annotation_files(path, ".xml", _looks_like_cvat)
        if not files:
            raise BadInputError(f"{path.name}: no CVAT XML (annotations.xml) found")
        finder = ImageFinder(path if path.is_dir() else path.parent)
        seen: set[Path] = set()
        for f in files:
            for page in _Reader(f, finder).pages(parse(f)):
                if page.image in seen:
                    raise BadInputError(f"{f.name}: {page.image.name} is in another CVAT file of {path.name} too")
                seen.add(page.image)
                yield page


# -- writing -------------------------------------------------------------------------------------------
def _f(v: float) -> str:
    return f"{float(v):.2f}"


def shape_element(ln: Line) -> etree._Element:
    """A region as a ``<box>`` (rectangle, rotated about its centre) or a ``<polygon>``."""
    attrs = {"label": ln.label or "text", "source": "auto" if ln.origin == "prediction" and not ln.corrected
             else "manual", "occluded": "0"}
    fit = fit_rect(list(ln.points))
    if fit is not None:
        (x, y), w, h, deg = fit
        # The centre of the rotated rectangle; the box is the unrotated one around it.
        cx = (ln.points[0][0] + ln.points[2][0]) / 2
        cy = (ln.points[0][1] + ln.points[2][1]) / 2
        el = etree.Element("box", **attrs, xtl=_f(cx - w / 2), ytl=_f(cy - h / 2), xbr=_f(cx + w / 2),
                           ybr=_f(cy + h / 2), z_order="0")
        if deg:
            el.set("rotation", f"{deg:.2f}")
    else:
        el = etree.Element("polygon", **attrs, points=";".join(f"{_f(x)},{_f(y)}" for x, y in ln.points),
                           z_order="0")
    etree.SubElement(el, "attribute", name="text").text = ln.text
    return el


def _meta(labels: Iterable[str], size: int) -> etree._Element:
    meta = etree.Element("meta")
    task = etree.SubElement(meta, "task")
    etree.SubElement(task, "name").text = "Proofdesk export"
    etree.SubElement(task, "size").text = str(size)
    etree.SubElement(task, "mode").text = "annotation"
    etree.SubElement(task, "overlap").text = "0"
    etree.SubElement(task, "flipped").text = "False"
    ls = etree.SubElement(task, "labels")
    for name in labels:
        label = etree.SubElement(ls, "label")
        etree.SubElement(label, "name").text = name
        etree.SubElement(label, "type").text = "any"
        attrs = etree.SubElement(label, "attributes")
        a = etree.SubElement(attrs, "attribute")
        etree.SubElement(a, "name").text = "text"
        etree.SubElement(a, "mutable").text = "False"
        etree.SubElement(a, "input_type").text = "text"
        etree.SubElement(a, "default_value").text = ""
        etree.SubElement(a, "values").text = ""
    return meta


def _clean(text: str) -> str:
    """XML 1.0 cannot hold control characters other than tab and line breaks."""
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20 and c not in "\ufffe\uffff")


class CvatWriter:
    name = "cvat"
    title = "CVAT for images 1.1 XML (annotations.xml and images/)"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        images = out / "images"
        images.mkdir(parents=True, exist_ok=True)
        labels: dict[str, None] = {"text": None, **{_clean(f): None for f in (options.fields or []) if _clean(f)}}
        count = 0
        target = out / "annotations.xml"
        tmp = out / ".annotations.xml.tmp"
        with tempfile.TemporaryFile("w+b", dir=out) as body:
            for page in pages:
                name = image_file_name(page)
                if options.copy_images:
                    copy_atomic(Path(page.image), images / name)
                im = etree.Element("image", id=str(count), name=name, width=str(page.width),
                                   height=str(page.height))
                if page.split:
                    im.set("subset", page.split)
                for ln in page.lines:
                    label = _clean(ln.label or "") or None
                    if label:
                        labels.setdefault(label)
                    im.append(shape_element(Line(points=ln.points, text=_clean(ln.text), label=label,
                                                 origin=ln.origin, corrected=ln.corrected)))
                body.write(etree.tostring(im, encoding="utf-8", pretty_print=True))
                count += 1
                if progress is not None:
                    progress(count, page.stem)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(b'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n')
                    fh.write(etree.tostring(_meta(labels, count), encoding="utf-8", pretty_print=True))
                    body.seek(0)
                    while chunk := body.read(1 << 20):
                        fh.write(chunk)
                    fh.write(b"</annotations>\n")
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return count


register_reader(CvatReader())
register_writer(CvatWriter())
