"""PAGE XML (PRImA, 2019-07-15 schema): one ``PcGts`` file per page image.

What maps to what:

- a line is a ``TextLine``: its polygon is ``Coords@points`` (``x,y`` pairs, any number of
  points; PAGE allows only non-negative integers, so the export rounds to whole pixels and
  clips at 0), its text ``TextEquiv/Unicode`` (where a line has several ``TextEquiv``, the
  lowest ``@index`` is the text; a line with none is its ``Word`` texts joined by a space), its
  confidence ``TextEquiv@conf`` (0..1). The export adds a ``Baseline`` along the polygon's
  bottom edge, for the tools that need one (Transkribus, Kraken); the import ignores it.
- the field label is the Transkribus convention ``TextLine@custom="structure {type:total;}"``
  (special characters escaped ``\\uXXXX``); a PAGE 2019 ``Labels/Label@value`` is read as well.
- a block (``Line.block``) is a ``TextRegion``, its ``@id`` the block name (a name that is not
  a valid XML id, or already taken, gets a new id). Lines without a block get one
  ``TextRegion`` each, so a region's ``Coords`` are the line's own polygon; the import gives
  every line the id of its ``TextRegion`` as its block. Nested regions and regions inside
  tables are read too; region types and region texts are not.
- reading order: ``ReadingOrder`` (``OrderedGroup``/``UnorderedGroup`` of region references,
  nested groups flattened) orders the regions, regions it leaves out follow in document order;
  lines keep their region's order (``readingOrder {index:N;}`` or ``TextLine@index`` where every
  line has one, else document order). The export writes one ``OrderedGroup`` over all regions.
- the image: ``Page@imageFilename`` (looked up beside the XML file, then one folder up, where
  Transkribus puts the ``page/`` folder; a name leading elsewhere, absolute or with ``..``, is
  looked up by its file name there), ``@imageWidth``, ``@imageHeight``. The export writes
  ``<stem>.xml`` and copies the image beside it as ``<stem>.<ext>``.
- provenance (export): ``TextLine/UserDefined/UserAttribute`` named ``origin`` (human or
  prediction), ``corrected``, ``updatedBy``, ``updatedAt``; read back into the lines.
- the page status: ``Metadata/MetadataItem[@name="status"]`` (Proofdesk's status; done and
  approved read as checked, the others as not checked; Transkribus' ``TranskribusMetadata@status``
  GT/FINAL as checked). Without it the import does not know whether a person checked the page.

What PAGE cannot carry here: page fields apart from the labelled lines (a field is its lines
joined), predictions of other engines, fractional coordinates, several pages per file.
Characters XML 1.0 cannot hold (control characters) are written as U+FFFD.

The module also holds the XML helpers :mod:`~core.formats.alto` and :mod:`~core.formats.hocr`
share: parsing with entities, DTDs and the network off, number and polygon checks, image
look-up, atomic writes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from ..errors import BadInputError
from .base import (
    AnnotatedPage,
    ExportOptions,
    ExportPage,
    Line,
    Point,
    box_points,
    rect_of,
    register_reader,
    register_writer,
)

NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
NS_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NS} {NS}/pagecontent.xsd"

# -- shared limits and helpers (also used by alto.py and hocr.py) -------------------------------------
#: An annotation file above this size is refused before it is parsed.
MAX_FILE_BYTES = 50 * 1024**2
#: Lines per page; a dense newspaper page in word boxes is a few thousand.
MAX_LINES = 20_000
#: Characters per line.
MAX_TEXT = 10_000
#: Coordinates beyond this (pixels, either sign) are not from any real page.
MAX_COORD = 1_000_000.0
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf")
#: How many files a folder's detect() sniffs at most.
DETECT_MAX_FILES = 200

_XML_PARSER_KW = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                      dtd_validation=False, remove_pis=True, remove_comments=True, collect_ids=False)


def bad(path: Path, what: str, el=None, line: int | None = None) -> BadInputError:
    """The error every reader raises: ``<file>: line N: what is wrong``."""
    n = line if line is not None else (getattr(el, "sourceline", None) if el is not None else None)
    return BadInputError(f"{path}: line {n}: {what}" if n else f"{path}: {what}")


def read_limited(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise bad(path, f"the file is {size / 1024**2:.0f} MB; annotation files above "
                            f"{MAX_FILE_BYTES // 1024**2} MB are not read")
        return path.read_bytes()
    except OSError as exc:
        raise bad(path, f"cannot read: {exc.strerror or exc}") from None


def parse_xml(path: Path, data: bytes | None = None) -> etree._Element:
    """The root element of an XML file, parsed without entities, DTDs or the network."""
    data = read_limited(path) if data is None else data
    parser = etree.XMLParser(**_XML_PARSER_KW)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise bad(path, f"not well-formed XML ({exc.msg})", line=exc.lineno or None) from None
    except (ValueError, etree.LxmlError) as exc:
        raise bad(path, f"not readable as XML ({exc})") from None
    if root is None:
        raise bad(path, "empty XML document")
    if root.getroottree().docinfo.internalDTD is not None:
        raise bad(path, "a DTD (entity declarations) is not allowed in an annotation file")
    return root


def local(el) -> str:
    """An element's name without its namespace ('' for comments and the like)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def number(path: Path, value, what: str, el=None, lo: float = -MAX_COORD, hi: float = MAX_COORD) -> float:
    """A finite number in [lo, hi] from an attribute's text, else BadInputError."""
    if value is None:
        raise bad(path, f"{what} is missing", el)
    try:
        v = float(str(value).strip())
    except (ValueError, OverflowError):
        raise bad(path, f"{what} is not a number: {str(value)[:40]!r}", el) from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise bad(path, f"{what} is out of range: {str(value)[:40]!r}", el)
    return v


def integer(path: Path, value, what: str, el=None, lo: int = 1, hi: int = int(MAX_COORD)) -> int:
    v = number(path, value, what, el, lo, hi)
    if v != int(v):
        raise bad(path, f"{what} is not a whole number: {str(value)[:40]!r}", el)
    return int(v)


def polygon(path: Path, coords: list[float], what: str, el=None) -> list[Point]:
    """Pairs of numbers as a polygon: three or more points, or two (a rectangle's corners)."""
    if len(coords) % 2:
        raise bad(path, f"{what} has an odd count of numbers", el)
    pts = [(coords[i], coords[i + 1]) for i in range(0, len(coords), 2)]
    if len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        pts = box_points(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if len(pts) < 2:
        raise bad(path, f"{what} needs at least two points", el)
    return pts


_POINTS_SPLIT = re.compile(r"[\s,]+")


def parse_points(path: Path, text, what: str, el=None) -> list[Point]:
    """``"x1,y1 x2,y2 ..."`` (PAGE, ALTO) or ``"x1 y1 x2 y2 ..."`` (older ALTO) as a polygon."""
    if text is None or not str(text).strip():
        raise bad(path, f"{what} is missing", el)
    parts = [p for p in _POINTS_SPLIT.split(str(text).strip()) if p]
    if len(parts) > 2 * 10_000:
        raise bad(path, f"{what} has too many points", el)
    return polygon(path, [number(path, p, what, el) for p in parts], what, el)


def check_text(path: Path, text: str, el=None) -> str:
    if len(text) > MAX_TEXT:
        raise bad(path, f"a text of {len(text)} characters (at most {MAX_TEXT})", el)
    return text


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(s: str | None) -> str:
    """Text XML 1.0 can hold: control characters and lone surrogates become U+FFFD."""
    return _XML_BAD.sub("\ufffd", s or "")


_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class IdMaker:
    """Unique XML ids: a wanted name where it is a valid id and free, else prefix + a number."""

    def __init__(self):
        self.used: set[str] = set()
        self.n: dict[str, int] = {}

    def __call__(self, prefix: str, wanted: str | None = None) -> str:
        if wanted and _NCNAME.match(wanted) and wanted not in self.used:
            self.used.add(wanted)
            return wanted
        while True:
            self.n[prefix] = self.n.get(prefix, 0) + 1
            cand = f"{prefix}{self.n[prefix]}"
            if cand not in self.used:
                self.used.add(cand)
                return cand


def natural_key(name: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t)


def files_in(path: Path, exts: tuple[str, ...], limit: int | None = None) -> list[Path]:
    """Files under ``path`` (a file: itself) whose names end in one of ``exts``, natural order."""
    if path.is_file():
        return [path]
    found: list[Path] = []
    for p in sorted(path.rglob("*"), key=lambda q: natural_key(str(q.relative_to(path)))):
        if p.name.startswith("."):
            continue
        if p.name.lower().endswith(exts) and p.is_file():
            found.append(p)
            if limit is not None and len(found) >= limit:
                break
    return found


def head(path: Path, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def resolve_image(xml_path: Path, name: str | None, el=None) -> Path:
    """The image a file names, looked up beside the file and one folder up (Transkribus keeps its
    XML in ``page/`` beside the images; OCR-D names images from the workspace above): by the name
    as given where it stays inside those folders, else by its last part (so absolute paths,
    Windows paths and URLs of another machine find the image copied beside the file, and a name
    never reaches files elsewhere on the disk). Where none exists, the path beside the file (the
    importer reports it missing). Without a name, an image with the file's own stem."""
    base = xml_path.parent
    if name is None or not str(name).strip():
        stem = xml_path.name.split(".")[0]
        for ext in IMAGE_EXTS:
            for cand in (base / f"{stem}{ext}", base / f"{stem}{ext.upper()}"):
                if cand.is_file():
                    return cand
        raise bad(xml_path, "the page image is not named (and no image with the file's name is beside it)", el)
    name = str(name).strip()
    if "\x00" in name or len(name) > 4096:
        raise bad(xml_path, "the image file name is not a file name", el)
    last = re.split(r"[\\/]", name)[-1]
    if last in ("", ".", ".."):
        raise bad(xml_path, f"the image file name {name[:80]!r} names no file", el)
    cands: list[Path] = []
    if not re.match(r"^[a-z][a-z0-9+.-]*:", name, re.I) and not Path(name).is_absolute():
        cands += [base / name, base.parent / name]
    cands += [base / last, base.parent / last]
    root = Path(os.path.abspath(base.parent))  # ".." resolved, links kept: a linked image folder is fine
    for c in cands:
        try:
            if Path(os.path.abspath(c)).is_relative_to(root) and c.is_file():
                return c
        except (OSError, ValueError):
            continue
    return base / last


def safe_stem(stem: str) -> str:
    """An export stem as one file name (no folders, not hidden)."""
    s = re.sub(r"[\\/\x00]+", "_", stem).strip()
    return s.lstrip(".") or "page"


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def copy_image(page: ExportPage, out: Path, stem: str, options: ExportOptions) -> str:
    """The image's file name beside the annotation (``<stem><ext>``), copied when asked."""
    name = f"{stem}{page.image.suffix.lower()}"
    if options.copy_images:
        tmp = out / f".{name}.tmp"
        shutil.copyfile(page.image, tmp)
        os.replace(tmp, out / name)
    return name


def blocks_of(lines: list[Line]) -> list[tuple[str | None, list[Line]]]:
    """Consecutive lines of one block together; a line without a block alone."""
    groups: list[tuple[str | None, list[Line]]] = []
    for ln in lines:
        if ln.block is not None and groups and groups[-1][0] == ln.block:
            groups[-1][1].append(ln)
        else:
            groups.append((ln.block, [ln]))
    return groups


def quad_of(points: list[Point]) -> list[Point]:
    """The four corners (TL, TR, BR, BL) of a line: its own for a 4-point polygon, else its rectangle."""
    pts = [(float(x), float(y)) for x, y in points]
    if len(pts) == 4:
        return pts
    return box_points(*rect_of(pts))


def word_quads(points: list[Point], words: list[str]) -> list[list[Point]]:
    """Each word's share of the line's quad, by character count (words joined by one space)."""
    tl, tr, br, bl = quad_of(points)
    total = max(1, sum(len(w) for w in words) + len(words) - 1)

    def lerp(a: Point, b: Point, f: float) -> Point:
        return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)

    out, pos = [], 0
    for w in words:
        f0, f1 = pos / total, min(1.0, (pos + len(w)) / total)
        out.append([lerp(tl, tr, f0), lerp(tl, tr, f1), lerp(bl, br, f1), lerp(bl, br, f0)])
        pos += len(w) + 1
    return out


_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")


def split_words(text: str) -> list[str]:
    """A line's words: split at runs of ASCII whitespace (so several spaces come back as one; a
    no-break space stays inside its word)."""
    return [w for w in _ASCII_SPACE.split(text) if w] or [""]


def squeeze(text: str) -> str:
    """Runs of ASCII whitespace as one space, none at the ends."""
    return " ".join(w for w in _ASCII_SPACE.split(text) if w)


def fmt(v: float, digits: int = 2) -> str:
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def iso_utc(value: str | None) -> str | None:
    """An ISO 8601 time as an xsd:dateTime, or None where it is not one."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return None
    return dt.isoformat()


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def confidence(path: Path, value, what: str, el=None) -> float:
    return number(path, value, what, el, 0.0, 1.0)


def guarded(path: Path, fn: Callable[[], object]):
    """Run a file's parse; anything but BadInputError from hostile input becomes one."""
    try:
        return fn()
    except BadInputError:
        raise
    except RecursionError:
        raise bad(path, "nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError, AttributeError,
            etree.LxmlError) as exc:
        raise bad(path, f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None


# -- Transkribus' custom attribute ------------------------------------------------------------------
_CUSTOM_GROUP = re.compile(r"([A-Za-z_][\w-]*)\s*\{([^}]*)\}")
_CUSTOM_ESC = re.compile(r"\\u([0-9a-fA-F]{4})")


def custom_escape(v: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if c in "\\;{}:" or c.isspace() or ord(c) < 32 else c for c in v)


def parse_custom(s: str | None) -> dict[str, dict[str, str]]:
    """``"readingOrder {index:0;} structure {type:total;}"`` as {group: {key: value}}."""
    out: dict[str, dict[str, str]] = {}
    for m in _CUSTOM_GROUP.finditer(s or ""):
        d = out.setdefault(m.group(1), {})
        for part in m.group(2).split(";"):
            if ":" in part:
                k, v = part.split(":", 1)
                d[k.strip()] = _CUSTOM_ESC.sub(lambda mm: chr(int(mm.group(1), 16)), v.strip())
    return out


# -- reading ----------------------------------------------------------------------------------------
def _is_page(path: Path) -> bool:
    h = head(path)
    return b"PcGts" in h and b"primaresearch.org/PAGE" in h


STATUS_CHECKED = {"done": True, "approved": True, "new": False, "prefilled": False, "in_progress": False,
                  "rejected": False, "gt": True, "final": True}


class MarkupFilesReader:
    """A reader of XML / HTML files found in a folder (or one named): PAGE XML, ALTO and hOCR differ
    only in how a file is recognised (``sniff``) and read (``pages_of``: every page in it)."""

    name = title = ""
    exts: tuple[str, ...] = (".xml",)

    def sniff(self, path: Path) -> bool:
        raise NotImplementedError

    def pages_of(self, path: Path) -> list[AnnotatedPage]:
        raise NotImplementedError

    def file_score(self, path: Path) -> float:
        """How sure detection is of a named file ``sniff`` recognised."""
        return 1.0

    def detect(self, path: Path) -> float:
        path = Path(path)
        if path.is_file():
            return self.file_score(path) if self.sniff(path) else 0.0
        if path.is_dir():
            return 0.9 if any(self.sniff(p) for p in files_in(path, self.exts, DETECT_MAX_FILES)) else 0.0
        return 0.0

    def read(self, path: Path) -> Iterator[AnnotatedPage]:
        path = Path(path)
        if not path.exists():
            raise BadInputError(f"{path}: no such file or folder")
        files = [path] if path.is_file() else [p for p in files_in(path, self.exts) if self.sniff(p)]
        for f in files:
            yield from guarded(f, lambda f=f: self.pages_of(f))


class PageXmlReader(MarkupFilesReader):
    name = "pagexml"
    title = "PAGE XML (2019-07-15; Transkribus, OCR-D, eScriptorium, Kraken)"

    def sniff(self, path: Path) -> bool:
        return _is_page(path)

    def pages_of(self, path: Path) -> list[AnnotatedPage]:
        return [read_page_file(path)]


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


def _reading_order(path: Path, ns: str, page) -> dict[str, int]:
    """Region id -> rank from ``ReadingOrder`` (nested groups flattened in order)."""
    ro = page.find(_q(ns, "ReadingOrder"))
    order: list[str] = []
    if ro is None:
        return {}

    def visit(group, depth: int = 0) -> None:
        if depth > 300:
            raise bad(path, "reading order nested too deeply", group)
        ref = group.get("regionRef")
        if ref:
            order.append(ref)
        kids = [k for k in group if local(k) in ("RegionRefIndexed", "OrderedGroupIndexed", "UnorderedGroupIndexed",
                                                  "RegionRef", "OrderedGroup", "UnorderedGroup")]
        if local(group).startswith("OrderedGroup"):
            def idx(k):
                return integer(path, k.get("index"), "reading order index", k, lo=0) if k.get("index") is not None \
                    else math.inf
            kids = sorted(kids, key=idx)
        for k in kids:
            if local(k) in ("RegionRefIndexed", "RegionRef"):
                ref = k.get("regionRef")
                if not ref:
                    raise bad(path, "a reading-order entry without regionRef", k)
                order.append(ref)
            else:
                visit(k, depth + 1)

    for g in ro:
        if local(g) in ("OrderedGroup", "UnorderedGroup"):
            visit(g)
    rank: dict[str, int] = {}
    for r in order:
        rank.setdefault(r, len(rank))
    return rank


def _line_text(path: Path, ns: str, tl) -> tuple[str, float | None]:
    equivs = tl.findall(_q(ns, "TextEquiv"))
    if equivs:
        def idx(e):
            i = e.get("index")
            return integer(path, i, "TextEquiv@index", e, lo=0) if i is not None else -1
        te = min(equivs, key=idx)  # the lowest index is the text; no index comes first
        uni = te.find(_q(ns, "Unicode"))
        text = (uni.text or "") if uni is not None else ""
        conf = te.get("conf")
        return text, (confidence(path, conf, "TextEquiv@conf", te) if conf is not None else None)
    words = []
    for w in tl.findall(_q(ns, "Word")):
        t, _ = _line_text(path, ns, w)
        if t:
            words.append(t)
    return " ".join(words), None


def _user_attributes(ns: str, el) -> dict[str, str]:
    ud = el.find(_q(ns, "UserDefined"))
    if ud is None:
        return {}
    return {a.get("name"): a.get("value") or "" for a in ud.findall(_q(ns, "UserAttribute")) if a.get("name")}


def read_page_file(path: Path) -> AnnotatedPage:
    root = parse_xml(path)
    ns = etree.QName(root).namespace or ""
    if local(root) != "PcGts" or not ns.startswith(NS_PREFIX):
        raise bad(path, "not a PAGE XML file (the root is not PcGts in the PAGE namespace)", root)
    page = root.find(_q(ns, "Page"))
    if page is None:
        raise bad(path, "no Page element", root)
    width = integer(path, page.get("imageWidth"), "Page@imageWidth", page)
    height = integer(path, page.get("imageHeight"), "Page@imageHeight", page)
    image = resolve_image(path, page.get("imageFilename"), page)

    checked = None
    md = root.find(_q(ns, "Metadata"))
    if md is not None:
        for item in md:
            name = local(item)
            if name == "MetadataItem" and item.get("name") == "status":
                checked = STATUS_CHECKED.get((item.get("value") or "").strip().lower(), checked)
            elif name == "TranskribusMetadata" and item.get("status"):
                checked = STATUS_CHECKED.get(item.get("status", "").strip().lower(), False)

    rank = _reading_order(path, ns, page)
    regions = list(page.iter(_q(ns, "TextRegion")))
    regions_sorted = sorted(enumerate(regions), key=lambda ir: (rank.get(ir[1].get("id") or "", math.inf), ir[0]))
    lines: list[Line] = []
    for _, reg in regions_sorted:
        tls = reg.findall(_q(ns, "TextLine"))
        keyed = []
        for i, tl in enumerate(tls):
            ro = parse_custom(tl.get("custom")).get("readingOrder", {}).get("index")
            if ro is None and tl.get("index") is not None:
                ro = tl.get("index")
            keyed.append((integer(path, ro, "TextLine reading-order index", tl, lo=0) if ro is not None else None, i, tl))
        if all(k[0] is not None for k in keyed):
            keyed.sort(key=lambda k: (k[0], k[1]))
        for _, _, tl in keyed:
            if len(lines) >= MAX_LINES:
                raise bad(path, f"more than {MAX_LINES} lines on a page", tl)
            coords = tl.find(_q(ns, "Coords"))
            if coords is None:
                raise bad(path, f"TextLine {tl.get('id')!r} has no Coords", tl)
            pts = parse_points(path, coords.get("points"), "Coords@points", coords)
            text, conf = _line_text(path, ns, tl)
            custom = parse_custom(tl.get("custom"))
            label = custom.get("structure", {}).get("type") or None
            if label is None:
                lab = tl.find(f"{_q(ns, 'Labels')}/{_q(ns, 'Label')}")
                if lab is not None and lab.get("value"):
                    label = lab.get("value")
            ua = _user_attributes(ns, tl)
            origin = ua.get("origin") if ua.get("origin") in ("human", "prediction") else None
            lines.append(Line(
                points=pts, text=check_text(path, text, tl), label=label, confidence=conf,
                origin=origin, corrected=ua.get("corrected", "").lower() == "true",
                updated_by=ua.get("updatedBy") or None, updated_at=ua.get("updatedAt") or None,
                block=reg.get("id") or None,
            ))
    return AnnotatedPage(image=image, lines=lines, page_no=1, width=width, height=height, checked=checked)


# -- writing ----------------------------------------------------------------------------------------
def _pts(points: Iterable[Point]) -> str:
    return " ".join(f"{max(0, round(x))},{max(0, round(y))}" for x, y in points)


def page_xml(page: ExportPage, image_name: str) -> bytes:
    """One page as a PAGE 2019-07-15 document."""
    def E(parent, name: str, /, **attrs):
        el = etree.SubElement(parent, f"{{{NS}}}{name}")
        for k, v in attrs.items():
            if v is not None:
                el.set(k, xml_safe(str(v)))
        return el

    root = etree.Element(f"{{{NS}}}PcGts", nsmap={None: NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    md = E(root, "Metadata")
    E(md, "Creator").text = "Proofdesk"
    stamp = now_utc()
    E(md, "Created").text = stamp
    E(md, "LastChange").text = stamp
    E(md, "MetadataItem", type="other", name="status", value=page.status)
    pg = E(root, "Page", imageFilename=image_name, imageWidth=str(int(page.width)), imageHeight=str(int(page.height)))
    groups = blocks_of(page.lines)
    ids = IdMaker()
    region_ids = [ids("r", block) for block, _ in groups]
    if groups:
        og = E(E(pg, "ReadingOrder"), "OrderedGroup", id=ids("ro"))
        for i, rid in enumerate(region_ids):
            E(og, "RegionRefIndexed", index=str(i), regionRef=rid)
    for i, ((_, lines), rid) in enumerate(zip(groups, region_ids)):
        reg = E(pg, "TextRegion", id=rid, custom=f"readingOrder {{index:{i};}}")
        E(reg, "Coords", points=_pts(lines[0].points if len(lines) == 1 else box_points(
            *rect_of([p for ln in lines for p in ln.points]))))
        for j, ln in enumerate(lines):
            custom = f"readingOrder {{index:{j};}}"
            if ln.label:
                custom += f" structure {{type:{custom_escape(ln.label)};}}"
            tl = E(reg, "TextLine", id=ids("l"), custom=custom)
            E(tl, "Coords", points=_pts(ln.points))
            tl_q = quad_of(ln.points)
            E(tl, "Baseline", points=_pts([tl_q[3], tl_q[2]]))
            te = E(tl, "TextEquiv", conf=fmt(min(1.0, max(0.0, ln.confidence)), 4) if ln.confidence is not None else None)
            E(te, "Unicode").text = xml_safe(ln.text)
            attrs = [("origin", ln.origin, "xsd:string"),
                     ("corrected", "true" if ln.corrected else ("false" if ln.origin else None), "xsd:boolean"),
                     ("updatedBy", ln.updated_by, "xsd:string"), ("updatedAt", ln.updated_at, "xsd:string")]
            if any(v for _, v, _ in attrs):
                ud = E(tl, "UserDefined")
                for name, v, typ in attrs:
                    if v:
                        E(ud, "UserAttribute", name=name, type=typ, value=v)
        E(E(reg, "TextEquiv"), "Unicode").text = xml_safe("\n".join(ln.text for ln in lines))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class OneFilePerPage:
    """A writer of one ``<stem><suffix>`` file per page (with its image beside it): PAGE XML, ALTO
    and hOCR differ only in ``render(page, image_name) -> bytes``."""

    name = title = suffix = ""

    def render(self, page: ExportPage, image_name: str) -> bytes:
        raise NotImplementedError

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for page in pages:
            stem = safe_stem(page.stem)
            image_name = copy_image(page, out, stem, options)
            write_atomic(out / f"{stem}{self.suffix}", self.render(page, image_name))
            n += 1
            if progress is not None:
                progress(n, page.stem)
        return n


class PageXmlWriter(OneFilePerPage):
    name = "pagexml"
    title = "PAGE XML (2019-07-15), one <page>.xml per page"
    suffix = ".xml"

    def render(self, page: ExportPage, image_name: str) -> bytes:
        return page_xml(page, image_name)


register_reader(PageXmlReader())
register_writer(PageXmlWriter())
