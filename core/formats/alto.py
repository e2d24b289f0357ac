"""ALTO (v4.4 written; v2-v4 read): one ``<alto>`` file, one or more ``Page`` elements.

What maps to what:

- a line is a ``TextLine`` of ``String`` words: its rectangle ``HPOS``/``VPOS``/``WIDTH``/
  ``HEIGHT``; a line that is not an axis-aligned rectangle (a rotated 4-point region) also
  gets ``Shape/Polygon@POINTS`` (``x,y x,y ...``), which the import prefers. The export splits
  the text at whitespace into ``String@CONTENT`` words with one ``SP`` between them (each word
  a share of the line's box by its character count); the import joins the ``String``\\s of a
  line with one space (plus a line-end ``HYP``). So runs of several spaces, leading or trailing
  spaces and tabs do not survive: a line comes back with single spaces.
- confidence: ``String@WC`` (0..1) on every word of the line; the import takes the mean.
- the field label: a ``NamedEntityTag`` (``TYPE`` and ``LABEL`` the label) in ``Tags``,
  referenced by ``TextLine@TAGREFS``; the import reads ``TYPE`` (else ``LABEL``) of the first
  tag the line (or, where the line has none, all its words alike) refers to.
- a block is a ``TextBlock`` (its ``ID`` the block name where that is a valid XML id, else a
  new one); lines without a block get a ``TextBlock`` each. Blocks inside ``ComposedBlock``\\s
  and margins are read too.
- reading order: document order, or ``ReadingOrder`` (ALTO 4.2+) where the file has one (its
  ``ElementRef``\\s may name blocks or lines; what it leaves out follows in document order).
- the image: ``Description/sourceImageInformation/fileName`` (one for the file) and
  ``Page@WIDTH``/``HEIGHT`` (the image looked up as for PAGE XML; export: ``<stem>.alto.xml``,
  the image copied beside it); ``MeasurementUnit`` ``pixel`` is written. Files in ``mm10`` or
  ``inch1200`` are scaled to the image's pixels by its size over ``Page@WIDTH``/``HEIGHT``, as
  the schema says. Several pages of one file are pages 1, 2, ... of that image (a multi-page
  TIFF); a one-page file is page 1.
- provenance (export): one ``Description/Processing`` per distinct (origin, corrected, who,
  when), referenced by ``TextLine@PROCESSINGREFS``: ``processingCategory`` contentGeneration or
  contentModification (corrected), ``processingDateTime`` (when), ``processingAgency`` (who),
  ``processingStepSettings`` ``origin=...; corrected=...``; read back into the lines.

What ALTO cannot carry here: page fields apart from the labelled lines, whether a person
checked the page, predictions of other engines.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from lxml import etree

from .base import AnnotatedPage, ExportPage, Line, box_points, rect_of, register_reader, register_writer
from .pagexml import (
    MAX_LINES,
    IdMaker,
    MarkupFilesReader,
    OneFilePerPage,
    bad,
    blocks_of,
    check_text,
    confidence,
    fmt,
    head,
    integer,
    iso_utc,
    local,
    number,
    parse_points,
    parse_xml,
    resolve_image,
    split_words,
    word_quads,
    xml_safe,
)

NS = "http://www.loc.gov/standards/alto/ns-v4#"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NS} http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
_SNIFF = re.compile(rb"<([A-Za-z_][\w.-]*:)?alto[\s>/]")


def _is_alto(path: Path) -> bool:
    return bool(_SNIFF.search(head(path)))


class AltoReader(MarkupFilesReader):
    name = "alto"
    title = "ALTO XML (v2-v4; Tesseract, ABBYY, OCR-D, library digitisation)"

    def sniff(self, path: Path) -> bool:
        return _is_alto(path)

    def pages_of(self, path: Path) -> list[AnnotatedPage]:
        return read_alto_file(path)


def _image_size(path: Path, image: Path, page_no: int, el) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(image) as img:
            if page_no > 1:
                img.seek(page_no - 1)
            return img.width, img.height
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as exc:
        raise bad(path, f"coordinates are not in pixels and the image {image.name} cannot be opened to scale "
                        f"them ({exc})", el) from None


def _reading_order(root, ns: str) -> dict[str, int]:
    ro = root.find(f"{{{ns}}}ReadingOrder" if ns else "ReadingOrder")
    if ro is None:
        return {}
    rank: dict[str, int] = {}
    for el in ro.iter():
        if local(el) in ("ElementRef", "OrderedGroup", "UnorderedGroup"):
            for ref in (el.get("REF") or "").split():
                rank.setdefault(ref, len(rank))
    return rank


def _provenance(proc) -> dict:
    out: dict = {}
    for el in proc.iter():
        name = local(el)
        if name == "processingStepSettings":
            for part in (el.text or "").split(";"):
                if "=" in part:
                    k, v = (s.strip() for s in part.split("=", 1))
                    if k == "origin" and v in ("human", "prediction"):
                        out["origin"] = v
                    elif k == "corrected":
                        out["corrected"] = v.lower() == "true"
        elif name == "processingAgency" and el.text:
            out["updated_by"] = el.text.strip()
        elif name == "processingDateTime" and el.text:
            out["updated_at"] = el.text.strip()
    return out


def read_alto_file(path: Path) -> list[AnnotatedPage]:
    root = parse_xml(path)
    ns = etree.QName(root).namespace or ""

    def q(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    if local(root) != "alto":
        raise bad(path, "not an ALTO file (the root is not alto)", root)
    unit, file_name = "pixel", None
    processing: dict[str, dict] = {}
    desc = root.find(q("Description"))
    if desc is not None:
        mu = desc.find(q("MeasurementUnit"))
        if mu is not None:
            unit = (mu.text or "").strip()
            if unit not in ("pixel", "mm10", "inch1200"):
                raise bad(path, f"MeasurementUnit {unit[:20]!r} is not pixel, mm10 or inch1200", mu)
        fn = desc.find(f"{q('sourceImageInformation')}/{q('fileName')}")
        if fn is not None:
            file_name = fn.text
        for proc in desc:
            if local(proc) in ("Processing", "OCRProcessing") and proc.get("ID"):
                processing[proc.get("ID")] = _provenance(proc)
    image = resolve_image(path, file_name, desc)
    tags: dict[str, str] = {}
    tags_el = root.find(q("Tags"))
    if tags_el is not None:
        for t in tags_el:
            if t.get("ID"):
                tags[t.get("ID")] = (t.get("TYPE") or t.get("LABEL") or "").strip()
    rank = _reading_order(root, ns)
    layout = root.find(q("Layout"))
    if layout is None:
        raise bad(path, "no Layout element", root)
    pages_el = layout.findall(q("Page"))
    if not pages_el:
        raise bad(path, "no Page element", layout)

    def tag_of(refs: str | None, el) -> str | None:
        for ref in (refs or "").split():
            if ref not in tags:
                raise bad(path, f"TAGREFS names an unknown tag {ref[:40]!r}", el)
            if tags[ref]:
                return tags[ref]
        return None

    pages: list[AnnotatedPage] = []
    for page_no, pel in enumerate(pages_el, start=1):
        if unit == "pixel":
            sx = sy = 1.0
            width = integer(path, pel.get("WIDTH"), "Page@WIDTH", pel) if pel.get("WIDTH") else None
            height = integer(path, pel.get("HEIGHT"), "Page@HEIGHT", pel) if pel.get("HEIGHT") else None
        else:
            pw = number(path, pel.get("WIDTH"), "Page@WIDTH", pel, lo=1e-6)
            ph = number(path, pel.get("HEIGHT"), "Page@HEIGHT", pel, lo=1e-6)
            width, height = _image_size(path, image, page_no if len(pages_el) > 1 else 1, pel)
            sx, sy = width / pw, height / ph

        def rect(el, what: str, sx=sx, sy=sy):
            vals = [el.get(a) for a in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
            if any(v is None for v in vals):
                return None
            x, y, w, h = (number(path, v, f"{what}@{a}", el) for v, a in zip(vals, ("HPOS", "VPOS", "WIDTH", "HEIGHT")))
            if w < 0 or h < 0:
                raise bad(path, f"{what} has a negative size", el)
            return box_points(x * sx, y * sy, (x + w) * sx, (y + h) * sy)

        entries = []
        for block in pel.iter(q("TextBlock")):
            for tl in block.findall(q("TextLine")):
                entries.append((len(entries), block, tl))
                if len(entries) > MAX_LINES:
                    raise bad(path, f"more than {MAX_LINES} lines on a page", tl)
        entries.sort(key=lambda e: (rank.get(e[2].get("ID") or "", rank.get(e[1].get("ID") or "", math.inf)), e[0]))
        lines: list[Line] = []
        for _, block, tl in entries:
            strings = tl.findall(q("String"))
            pts = None
            shape = tl.find(f"{q('Shape')}/{q('Polygon')}")
            if shape is not None:
                pts = [(x * sx, y * sy) for x, y in parse_points(path, shape.get("POINTS"), "Polygon@POINTS", shape)]
            if pts is None:
                pts = rect(tl, "TextLine")
            if pts is None:
                word_rects = [r for r in (rect(s, "String") for s in strings) if r is not None]
                if not word_rects:
                    raise bad(path, f"TextLine {tl.get('ID')!r} has no position (HPOS/VPOS/WIDTH/HEIGHT)", tl)
                pts = box_points(*rect_of([p for r in word_rects for p in r]))
            words = []
            for s in strings:
                content = s.get("CONTENT")
                if content is None:
                    raise bad(path, "a String without CONTENT", s)
                words.append(content)
            text = " ".join(w for w in words if w != "")
            hyp = tl.find(q("HYP"))
            if hyp is not None and hyp.get("CONTENT"):
                text += hyp.get("CONTENT")
            wcs = [confidence(path, s.get("WC"), "String@WC", s) for s in strings if s.get("WC") is not None]
            label = tag_of(tl.get("TAGREFS"), tl)
            if label is None and strings and not tl.get("TAGREFS"):
                word_tags = {tag_of(s.get("TAGREFS"), s) for s in strings}
                label = word_tags.pop() if len(word_tags) == 1 else None
            prov: dict = {}
            for ref in (tl.get("PROCESSINGREFS") or "").split():
                if ref in processing:
                    prov = processing[ref]
                    break
            lines.append(Line(
                points=pts, text=check_text(path, text, tl), label=label,
                confidence=sum(wcs) / len(wcs) if wcs else None,
                origin=prov.get("origin"), corrected=bool(prov.get("corrected", False)),
                updated_by=prov.get("updated_by"), updated_at=prov.get("updated_at"),
                block=block.get("ID") or None,
            ))
        pages.append(AnnotatedPage(image=image, lines=lines, page_no=page_no if len(pages_el) > 1 else 1,
                                   width=width, height=height))
    return pages


# -- writing ----------------------------------------------------------------------------------------
def _rect_attrs(points) -> dict[str, str]:
    x0, y0, x1, y1 = rect_of(points)
    x0, y0 = max(0.0, x0), max(0.0, y0)
    return {"HPOS": fmt(x0), "VPOS": fmt(y0), "WIDTH": fmt(max(0.0, x1 - x0)), "HEIGHT": fmt(max(0.0, y1 - y0))}


def _is_rect(points) -> bool:
    x0, y0, x1, y1 = rect_of(points)
    return [(round(x, 2), round(y, 2)) for x, y in points] == [
        (round(x, 2), round(y, 2)) for x, y in box_points(x0, y0, x1, y1)]


def alto_xml(page: ExportPage, image_name: str) -> bytes:
    """One page as an ALTO 4.4 document, coordinates in pixels."""
    def E(parent, name: str, /, **attrs):
        el = etree.SubElement(parent, f"{{{NS}}}{name}")
        for k, v in attrs.items():
            if v is not None:
                el.set(k, xml_safe(str(v)))
        return el

    ids = IdMaker()
    root = etree.Element(f"{{{NS}}}alto", nsmap={None: NS, "xlink": XLINK, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    root.set("SCHEMAVERSION", "4.4")
    desc = E(root, "Description")
    E(desc, "MeasurementUnit").text = "pixel"
    E(E(desc, "sourceImageInformation"), "fileName").text = xml_safe(image_name)

    procs: dict[tuple, str] = {}
    for ln in page.lines:
        key = (ln.origin, ln.corrected, ln.updated_by, ln.updated_at)
        if ln.origin is None and not ln.corrected and not ln.updated_by and not ln.updated_at:
            continue
        if key in procs:
            continue
        pid = procs[key] = ids("proc")
        proc = E(desc, "Processing", ID=pid)
        E(proc, "processingCategory").text = "contentModification" if ln.corrected else "contentGeneration"
        when = iso_utc(ln.updated_at)
        if when:
            E(proc, "processingDateTime").text = when
        if ln.updated_by:
            E(proc, "processingAgency").text = xml_safe(ln.updated_by)
        E(proc, "processingStepDescription").text = (
            "corrected by a person" if ln.corrected else
            "drawn by a person" if ln.origin == "human" else "predicted by an engine")
        E(proc, "processingStepSettings").text = xml_safe(
            f"origin={ln.origin or ''}; corrected={'true' if ln.corrected else 'false'}")
        sw = E(proc, "processingSoftware")
        E(sw, "softwareName").text = "Proofdesk"

    labels = sorted({ln.label for ln in page.lines if ln.label})
    tag_ids: dict[str, str] = {}
    if labels:
        tags = E(root, "Tags")
        for label in labels:
            tag_ids[label] = ids("tag")
            E(tags, "NamedEntityTag", ID=tag_ids[label], TYPE=label, LABEL=label)

    layout = E(root, "Layout")
    w, h = int(page.width), int(page.height)
    pg = E(layout, "Page", ID=ids("page"), PHYSICAL_IMG_NR=str(page.page_no), WIDTH=str(w), HEIGHT=str(h))
    ps = E(pg, "PrintSpace", HPOS="0", VPOS="0", WIDTH=str(w), HEIGHT=str(h))
    for block, lines in blocks_of(page.lines):
        tb = E(ps, "TextBlock", ID=ids("block", block), **_rect_attrs([p for ln in lines for p in ln.points]))
        for ln in lines:
            key = (ln.origin, ln.corrected, ln.updated_by, ln.updated_at)
            tl = E(tb, "TextLine", ID=ids("line"), **_rect_attrs(ln.points),
                   TAGREFS=tag_ids.get(ln.label) if ln.label else None, PROCESSINGREFS=procs.get(key))
            if not _is_rect(ln.points):
                E(E(tl, "Shape"), "Polygon", POINTS=" ".join(f"{fmt(x)},{fmt(y)}" for x, y in ln.points))
            words = split_words(ln.text)
            quads = word_quads(ln.points, words)
            wc = fmt(min(1.0, max(0.0, ln.confidence)), 4) if ln.confidence is not None else None
            for i, (word, wq) in enumerate(zip(words, quads)):
                if i:
                    x_prev = rect_of(quads[i - 1])[2]
                    r = _rect_attrs(wq)
                    E(tl, "SP", HPOS=fmt(max(0.0, x_prev)), VPOS=r["VPOS"],
                      WIDTH=fmt(max(0.0, float(r["HPOS"]) - x_prev)))
                E(tl, "String", **_rect_attrs(wq), CONTENT=word, WC=wc)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class AltoWriter(OneFilePerPage):
    name = "alto"
    title = "ALTO 4.4, one <page>.alto.xml per page"
    suffix = ".alto.xml"

    def render(self, page: ExportPage, image_name: str) -> bytes:
        return alto_xml(page, image_name)


register_reader(AltoReader())
register_writer(AltoWriter())
