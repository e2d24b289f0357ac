"""hOCR (HTML with OCR classes, as Tesseract and OCRopus write it): one or more ``ocr_page``\\s.

What maps to what:

- a line is an ``ocr_line`` (read also: ``ocrx_line``, and Tesseract's ``ocr_header``,
  ``ocr_caption``, ``ocr_textfloat`` lines) of ``ocrx_word``\\s; its geometry is the
  ``bbox x0 y0 x1 y1`` title property: **rectangles only** for other tools. A line that is not
  an axis-aligned rectangle (a rotated 4-point region) also gets hOCR's non-recommended
  ``poly x0 y0 x1 y1 ...`` property (declared as the ``ocrp_poly`` capability), which the
  import prefers; tools that read only ``bbox`` see its bounding rectangle. Coordinates are
  whole pixels.
- the text: the export splits it at whitespace into ``ocrx_word``\\s (each word a share of the
  line's box by its character count, a space between them); the import joins a line's words
  with one space (a line without words: its text, whitespace collapsed). Runs of several
  spaces, leading or trailing spaces and tabs do not survive.
- confidence: ``x_wconf`` (0-100, as Tesseract writes it) on the line and each word; the import
  takes the line's, else the mean of its words', divided by 100.
- the field label: the ``data-field`` attribute of the ``ocr_line`` (hOCR has no property for
  it; other tools ignore it). Provenance: ``data-origin``, ``data-corrected``,
  ``data-updated-by``, ``data-updated-at`` on the line.
- a block is an ``ocr_carea`` holding one ``ocr_par`` (its ``id`` the block name where that is
  a valid id, else a new one); lines without a block get one each. The import gives each line
  the ``id`` of its ``ocr_par`` (else its ``ocr_carea``/``ocrx_block``) as its block.
- reading order: document order.
- the image: the ``ocr_page`` title's ``image "<file>"`` (looked up as for PAGE XML) and
  ``bbox 0 0 <width> <height>``; export: ``<stem>.hocr`` (XHTML), the image copied beside it.
  Several pages of one file with one image are pages 1, 2, ... of it (a multi-page TIFF).

What hOCR cannot carry here: rotated geometry for other tools, page fields apart from the
labelled lines, whether a person checked the page, predictions of other engines.
"""

from __future__ import annotations

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
    head,
    number,
    polygon,
    read_limited,
    resolve_image,
    split_words,
    squeeze,
    word_quads,
    xml_safe,
)

XHTML = "http://www.w3.org/1999/xhtml"
EXTS = (".hocr", ".html", ".htm", ".xhtml")
LINE_CLASSES = {"ocr_line", "ocrx_line", "ocr_header", "ocr_caption", "ocr_textfloat"}
BLOCK_CLASSES = ("ocr_par", "ocr_carea", "ocrx_block")
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf ocrp_poly"


def _is_hocr(path: Path) -> bool:
    return b"ocr_page" in head(path, 16384)


class HocrReader(MarkupFilesReader):
    name = "hocr"
    title = "hOCR (Tesseract, OCRopus, Kraken HTML output)"
    exts = EXTS

    def sniff(self, path: Path) -> bool:
        return _is_hocr(path)

    def file_score(self, path: Path) -> float:
        return 1.0 if path.suffix.lower() in EXTS else 0.8  # an hOCR saved under another ending

    def pages_of(self, path: Path) -> list[AnnotatedPage]:
        return read_hocr_file(path)


def parse_title(title: str | None) -> dict[str, list[str]]:
    """hOCR title properties: ``'image "a b.png"; bbox 0 0 10 20'`` -> {image: ['a b.png'], bbox: [...]}.
    Double-quoted values may hold spaces and semicolons (backslash escapes)."""
    props: dict[str, list[str]] = {}
    tokens: list[str] = []
    cur: list[str] = []
    in_tok = in_q = False
    s = title or ""
    i = 0

    def end_prop() -> None:
        if tokens:
            props.setdefault(tokens[0], tokens[1:])
        tokens.clear()

    while i < len(s):
        c = s[i]
        if in_q:
            if c == "\\" and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                in_q = False
            else:
                cur.append(c)
        elif c == '"':
            in_q = in_tok = True
        elif c == ";" or c.isspace():
            if in_tok:
                tokens.append("".join(cur))
                cur, in_tok = [], False
            if c == ";":
                end_prop()
        else:
            cur.append(c)
            in_tok = True
        i += 1
    if in_tok:
        tokens.append("".join(cur))
    end_prop()
    return props


def _classes(el) -> set[str]:
    return set((el.get("class") or "").split())


def _parse_html(path: Path):
    data = read_limited(path)
    try:
        data.decode("utf-8")
        enc = "utf-8"
    except UnicodeDecodeError:
        enc = None
    parser = etree.HTMLParser(no_network=True, huge_tree=False, remove_comments=True, remove_pis=True,
                              encoding=enc, default_doctype=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError) as exc:
        raise bad(path, f"not readable as HTML ({exc})") from None
    if root is None:
        raise bad(path, "an empty document")
    fatal = [e for e in parser.error_log if e.level_name == "FATAL"]
    if fatal:  # the HTML parser recovers from anything; what it gave up on (nesting too deep) is lost
        raise bad(path, f"not readable as HTML ({fatal[0].message})", line=fatal[0].line or None)
    return root


def read_hocr_file(path: Path) -> list[AnnotatedPage]:
    root = _parse_html(path)
    pages_el = [el for el in root.iter() if isinstance(el.tag, str) and "ocr_page" in _classes(el)]
    if not pages_el:
        raise bad(path, "no ocr_page element: not hOCR")
    seen_images: dict[Path, int] = {}
    counts: dict[Path, int] = {}
    parsed = []
    for pel in pages_el:
        props = parse_title(pel.get("title"))
        image_name = props["image"][0] if props.get("image") else None
        image = resolve_image(path, image_name, pel)
        counts[image] = counts.get(image, 0) + 1
        parsed.append((pel, props, image))
    pages: list[AnnotatedPage] = []
    for pel, props, image in parsed:
        seen_images[image] = seen_images.get(image, 0) + 1
        page_no = seen_images[image] if counts[image] > 1 else 1
        width = height = None
        if props.get("bbox"):
            x0, y0, x1, y1 = _bbox(path, props["bbox"], pel)
            width, height = round(x1 - x0), round(y1 - y0)
            if width <= 0 or height <= 0:
                raise bad(path, "the ocr_page bbox has no area", pel)
        pages.append(AnnotatedPage(image=image, lines=_lines(path, pel), page_no=page_no, width=width, height=height))
    return pages


def _bbox(path: Path, vals: list[str], el) -> tuple[float, float, float, float]:
    if len(vals) != 4:
        raise bad(path, f"bbox needs 4 numbers, not {len(vals)}", el)
    x0, y0, x1, y1 = (number(path, v, "bbox", el) for v in vals)
    if x1 < x0 or y1 < y0:
        raise bad(path, "bbox has its far corner before its near one", el)
    return x0, y0, x1, y1


def _wconf(path: Path, props: dict, el) -> float | None:
    if not props.get("x_wconf"):
        return None
    return number(path, props["x_wconf"][0], "x_wconf", el, 0.0, 100.0) / 100.0


def _lines(path: Path, pel) -> list[Line]:
    def is_line(el) -> bool:
        return isinstance(el.tag, str) and bool(_classes(el) & LINE_CLASSES)

    cands = [el for el in pel.iter() if el is not pel and is_line(el)]
    line_els = [el for el in cands if not any(is_line(d) for d in el.iter() if d is not el)]
    if not line_els:  # words only: each word is a line
        line_els = [el for el in pel.iter() if isinstance(el.tag, str) and "ocrx_word" in _classes(el)]
    if len(line_els) > MAX_LINES:
        raise bad(path, f"more than {MAX_LINES} lines on a page", pel)
    lines: list[Line] = []
    for el in line_els:
        props = parse_title(el.get("title"))
        words = [w for w in el.iter() if w is not el and isinstance(w.tag, str) and "ocrx_word" in _classes(w)]
        pts = None
        if props.get("poly"):
            pts = polygon(path, [number(path, v, "poly", el) for v in props["poly"]], "poly", el)
        elif props.get("bbox"):
            pts = box_points(*_bbox(path, props["bbox"], el))
        else:
            rects = [_bbox(path, parse_title(w.get("title"))["bbox"], w) for w in words
                     if parse_title(w.get("title")).get("bbox")]
            if not rects:
                raise bad(path, "a line without bbox", el)
            pts = box_points(*rect_of([p for r in rects for p in box_points(*r)]))
        if words:
            text = " ".join(t for t in (squeeze(w.xpath("string()")) for w in words) if t)
        else:
            text = squeeze(el.xpath("string()"))
        conf = _wconf(path, props, el)
        if conf is None:
            confs = [c for c in (_wconf(path, parse_title(w.get("title")), w) for w in words) if c is not None]
            conf = sum(confs) / len(confs) if confs else None
        block = None
        anc = el.getparent()
        while anc is not None and anc is not pel:
            cl = _classes(anc)
            if any(b in cl for b in BLOCK_CLASSES) and anc.get("id"):
                block = anc.get("id")
                break
            anc = anc.getparent()
        origin = el.get("data-origin")
        lines.append(Line(
            points=pts, text=check_text(path, text, el), label=(el.get("data-field") or "").strip() or None,
            confidence=conf, origin=origin if origin in ("human", "prediction") else None,
            corrected=(el.get("data-corrected") or "").lower() == "true",
            updated_by=el.get("data-updated-by") or None, updated_at=el.get("data-updated-at") or None, block=block,
        ))
    return lines


# -- writing ----------------------------------------------------------------------------------------
def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bbox_prop(points) -> str:
    x0, y0, x1, y1 = rect_of(points)
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    return f"bbox {x0} {y0} {max(x0, round(x1))} {max(y0, round(y1))}"


def _poly_prop(points) -> str | None:
    r = [(max(0, round(x)), max(0, round(y))) for x, y in points]
    x0, y0, x1, y1 = rect_of(r)
    if r == [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]:
        return None
    return "poly " + " ".join(f"{x} {y}" for x, y in r)


def hocr_html(page: ExportPage, image_name: str) -> bytes:
    """One page as an hOCR (XHTML) document."""
    def E(parent, name: str, text: str | None = None, /, **attrs):
        el = etree.SubElement(parent, f"{{{XHTML}}}{name}")
        for k, v in attrs.items():
            if v is not None:
                el.set(k.replace("_", "-") if k.startswith("data") else k, xml_safe(str(v)))
        if text is not None:
            el.text = xml_safe(text)
        return el

    root = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML})
    root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    root.set("lang", "en")
    hd = E(root, "head")
    E(hd, "title", xml_safe(page.stem))
    E(hd, "meta", **{"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    E(hd, "meta", name="ocr-system", content="Proofdesk")
    E(hd, "meta", name="ocr-capabilities", content=CAPABILITIES)
    E(hd, "meta", name="ocr-number-of-pages", content="1")
    body = E(root, "body")
    pg = E(body, "div", **{"class": "ocr_page", "id": "page_1",
                           "title": f"image {_quote(image_name)}; bbox 0 0 {int(page.width)} {int(page.height)}; "
                                    f"ppageno {max(0, page.page_no - 1)}"})
    ids = IdMaker()
    ids.used.add("page_1")
    for block, lines in blocks_of(page.lines):
        all_pts = [p for ln in lines for p in ln.points]
        carea = E(pg, "div", **{"class": "ocr_carea", "id": ids("block_"), "title": _bbox_prop(all_pts)})
        par = E(carea, "p", **{"class": "ocr_par", "id": ids("par_", block), "title": _bbox_prop(all_pts)})
        for ln in lines:
            conf = f"; x_wconf {round(min(1.0, max(0.0, ln.confidence)) * 100, 2):g}" if ln.confidence is not None else ""
            poly = _poly_prop(ln.points)
            title = _bbox_prop(ln.points) + (f"; {poly}" if poly else "") + conf
            span = E(par, "span", **{"class": "ocr_line", "id": ids("line_"), "title": title,
                                     "data-field": ln.label or None, "data-origin": ln.origin,
                                     "data-corrected": "true" if ln.corrected else None,
                                     "data-updated-by": ln.updated_by, "data-updated-at": ln.updated_at})
            words = split_words(ln.text)
            prev = None
            for word, wq in zip(words, word_quads(ln.points, words)):
                if prev is not None:
                    prev.tail = " "
                prev = E(span, "span", word, **{"class": "ocrx_word", "id": ids("word_"),
                                                "title": _bbox_prop(wq) + conf})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True, doctype="<!DOCTYPE html>")


class HocrWriter(OneFilePerPage):
    name = "hocr"
    title = "hOCR, one <page>.hocr per page"
    suffix = ".hocr"

    def render(self, page: ExportPage, image_name: str) -> bytes:
        return hocr_html(page, image_name)


register_reader(HocrReader())
register_writer(HocrWriter())
