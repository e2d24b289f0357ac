"""Searchable PDF (export only): one ``<document>.pdf`` per document, its pages in order.

Each page is the page image, full page, with an invisible text layer over it (text render mode
3, as Tesseract's and OCRmyPDF's PDFs have): every line's text is placed on the line's box,
along its bottom edge (rotated boxes rotated), one em as high as the box and squeezed or
stretched to its width, so selecting, searching and copying in a viewer find the line where it
is on the image. The text is Unicode throughout (accents, €, ₹, CJK, emoji): a Type0 font with
``Identity-H`` encoding over a CID font whose one glyph is a plain box, never painted (the
"GlyphLessFont" idea of Tesseract; the tiny TrueType program is generated here), and a ``ToUnicode`` CMap that
maps each code back to its character. Characters beyond the BMP get codes of their own in the
surrogate range, mapped back by the CMap (2,048 different ones per PDF; more become U+FFFD);
control characters become spaces.

The PDF is written here, without a PDF library: JPEG pages are embedded as they are
(``DCTDecode``), other images decoded and stored losslessly (``FlateDecode`` with the PNG
"up" predictor; 1-bit, 8-bit gray, 16-bit gray, RGB and CMYK kept, transparency flattened on
white). Pages are written as they come (a document's pages one after the other, as the exporter
hands them over), so memory holds one page image whatever the page count, and a document's PDF
is complete on disk once its last page is written.

The page size comes from the image's resolution where it records one (PNG ``pHYs``, JPEG JFIF
or EXIF), else 300 dpi (the resolution PDFs are imported at). A file name is the document's
name without its extension (``scan.pdf`` -> ``scan.pdf``; ``X.png`` and ``X.jpg`` in one
project -> ``X_png.pdf``, ``X_jpg.pdf``, as the export's stems say).

What a searchable PDF does not carry: field labels, confidences, provenance, blocks, the exact
polygon of a 4-point region that is not a rectangle (the text sits on its bottom edge, as high
as the region is across it). Lines with no text are left out.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import BadInputError
from .base import ExportOptions, ExportPage, Line, register_writer

#: Page resolution when the image does not say.
DEFAULT_DPI = 300.0
FONT_NAME = "GlyphLessFont"
#: Advance width of every glyph, in 1/1000 em.
GLYPH_WIDTH = 500
_NON_BMP_FIRST = 0xD800
_NON_BMP_LAST = 0xDFFF


# -- the glyph-less TrueType font -------------------------------------------------------------------
def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}L", data)) & 0xFFFFFFFF


def glyphless_ttf() -> bytes:
    """A TrueType font of two glyphs: .notdef and one 500x1000 box (never painted: mode 3)."""
    upm = 1000
    # glyph 1: one closed contour, the box (0,0)-(500,1000), on-curve points, 16-bit coordinates
    glyph1 = struct.pack(">hhhhh", 1, 0, 0, GLYPH_WIDTH, upm) + struct.pack(">HH", 3, 0) + bytes([1, 1, 1, 1])
    glyph1 += struct.pack(">hhhh", 0, 0, GLYPH_WIDTH, 0) + struct.pack(">hhhh", 0, upm, 0, -upm)
    glyph1 += b"\0" * (-len(glyph1) % 4)
    glyf = glyph1
    loca = struct.pack(">HHH", 0, 0, len(glyph1) // 2)
    head = struct.pack(">LLLLHHqqhhhhHHhhh", 0x00010000, 0x00010000, 0, 0x5F0F3CF5, 0x000B, upm, 0, 0,
                       0, 0, GLYPH_WIDTH, upm, 0, 8, 2, 0, 0)
    hhea = struct.pack(">LhhhHhhhhhhhhhhhH", 0x00010000, upm, 0, 0, GLYPH_WIDTH, 0, 0, GLYPH_WIDTH, 1, 0, 0,
                       0, 0, 0, 0, 0, 2)
    hmtx = struct.pack(">HhHh", GLYPH_WIDTH, 0, GLYPH_WIDTH, 0)
    maxp = struct.pack(">LHHHHHHHHHHHHHH", 0x00010000, 2, 4, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0)
    cmap = struct.pack(">HHHHL", 0, 1, 3, 1, 12) + struct.pack(">HHHHHHHHHHHH", 4, 24, 0, 2, 2, 0, 0,
                                                                 0xFFFF, 0, 0xFFFF, 1, 0)
    post = struct.pack(">LLhhLLLLL", 0x00030000, 0, -100, 50, 0, 0, 0, 0, 0)
    os2 = struct.pack(">HhHHHhhhhhhhhhhh", 3, GLYPH_WIDTH, 400, 5, 0, 650, 700, 0, 140, 650, 700, 0, 480, 50, 250, 0)
    os2 += bytes(10)  # panose
    os2 += struct.pack(">LLLL", 0, 0, 0, 0) + b"NONE" + struct.pack(">HHH", 0x0040, 0x0020, 0xFFFF)
    os2 += struct.pack(">hhhHH", upm, 0, 0, upm, 0) + struct.pack(">LL", 1, 0)
    os2 += struct.pack(">hhHHH", 0, upm, 0, 0x0020, 0)
    names = [(1, FONT_NAME), (2, "Regular"), (3, f"{FONT_NAME}-Regular"), (4, FONT_NAME), (5, "Version 1.0"),
             (6, FONT_NAME)]
    strings = b""
    records = b""
    for nid, s in names:
        enc = s.encode("utf-16-be")
        records += struct.pack(">HHHHHH", 3, 1, 0x409, nid, len(enc), len(strings))
        strings += enc
    name = struct.pack(">HHH", 0, len(names), 6 + len(records)) + records + strings
    tables = {b"OS/2": os2, b"cmap": cmap, b"glyf": glyf, b"head": head, b"hhea": hhea, b"hmtx": hmtx,
              b"loca": loca, b"maxp": maxp, b"name": name, b"post": post}
    tags = sorted(tables)
    n = len(tags)
    es = int(math.log2(n))
    sr = (2 ** es) * 16
    out = struct.pack(">LHHHH", 0x00010000, n, sr, es, n * 16 - sr)
    offset = 12 + 16 * n
    directory, body = b"", b""
    head_offset = 0
    for tag in tags:
        data = tables[tag]
        directory += struct.pack(">4sLLL", tag, _checksum(data), offset + len(body), len(data))
        if tag == b"head":
            head_offset = offset + len(body)
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(out + directory + body)
    adjust = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    font[head_offset + 8:head_offset + 12] = struct.pack(">L", adjust)
    return bytes(font)


# -- text ---------------------------------------------------------------------------------------------
class CodeMap:
    """Characters -> 2-byte codes (CIDs) of one PDF, and the ToUnicode CMap that maps them back."""

    def __init__(self):
        self.used: dict[int, str] = {}
        self.extra: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        codes = []
        for ch in text:
            cp = ord(ch)
            if cp < 0x20 or cp == 0x7F:
                ch, cp = " ", 0x20
            if cp > 0xFFFF:
                code = self.extra.get(ch)
                if code is None:
                    code = _NON_BMP_FIRST + len(self.extra)
                    if code > _NON_BMP_LAST:
                        ch, code = "\ufffd", 0xFFFD
                    else:
                        self.extra[ch] = code
            elif _NON_BMP_FIRST <= cp <= _NON_BMP_LAST:
                ch, code = "\ufffd", 0xFFFD  # a lone surrogate is no character
            else:
                code = cp
            self.used[code] = ch
            codes.append(code)
        return codes

    def to_unicode(self) -> bytes:
        lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
                 "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
                 "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
                 "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
        items = sorted(self.used.items())
        for i in range(0, len(items), 100):
            chunk = items[i:i + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            for code, ch in chunk:
                lines.append(f"<{code:04X}> <{ch.encode('utf-16-be').hex().upper()}>")
            lines.append("endbfchar")
        lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
        return "\n".join(lines).encode("ascii")


def _num(v: float, digits: int = 4) -> str:
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _frame(quad: list[tuple[float, float]]):
    """(origin, cos, sin, width, height) of a box given TL, TR, BR, BL (y up); None when degenerate."""
    tl, tr, br, bl = quad
    ux, uy = br[0] - bl[0], br[1] - bl[1]
    width = math.hypot(ux, uy)
    if not math.isfinite(width) or width <= 1e-6:
        return None
    cos, sin = ux / width, uy / width
    # the box's height: its left and right edges across the baseline direction
    h = ((tl[0] - bl[0]) * -sin + (tl[1] - bl[1]) * cos + (tr[0] - br[0]) * -sin + (tr[1] - br[1]) * cos) / 2
    if not math.isfinite(h) or h <= 1e-6:
        return None
    return bl, cos, sin, width, h


def text_ops(lines: list[Line], height_px: float, scale: float, codes: CodeMap) -> bytes:
    """The invisible text of a page: each line on its box, in reading order."""
    ops = ["BT", "3 Tr"]
    for ln in lines:
        text = ln.text or ""
        if not text.strip() or len(ln.points) < 2:
            continue
        pts = [(float(x) * scale, (height_px - float(y)) * scale) for x, y in ln.points]
        frame = _frame(pts) if len(pts) == 4 else None
        if frame is None:  # not a 4-point region, or one whose corners are not clockwise: its rectangle
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            frame = _frame([(min(xs), max(ys)), (max(xs), max(ys)), (max(xs), min(ys)), (min(xs), min(ys))])
        if frame is None:
            continue
        (ox, oy), cos, sin, width, h = frame
        cids = codes.encode(text)
        tz = 100.0 * width / (len(cids) * GLYPH_WIDTH / 1000.0 * h)
        ops.append(f"/F1 {_num(h)} Tf {_num(tz)} Tz {_num(cos)} {_num(sin)} {_num(-sin)} {_num(cos)} "
                   f"{_num(ox)} {_num(oy)} Tm <{''.join(f'{c:04X}' for c in cids)}> Tj")
    ops.append("ET")
    return "\n".join(ops).encode("ascii")


# -- images -------------------------------------------------------------------------------------------
def _up_filter(raw: bytes, row_bytes: int) -> bytes:
    """PNG "up" filter of every row (PDF Predictor 12..15), a filter byte before each row."""
    import numpy as np

    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, row_bytes)
    diff = rows.copy()
    diff[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps, as the filter wants
    return np.hstack([np.full((rows.shape[0], 1), 2, dtype=np.uint8), diff]).tobytes()


def image_xobject(path: Path) -> tuple[dict[str, str], bytes, tuple[float, float], tuple[int, int]]:
    """(dictionary entries, stream bytes, dpi, pixel size) of one page image."""
    from PIL import Image

    try:
        img = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInputError(f"{path.name}: cannot open the page image ({exc})") from None
    with img:
        dpi = img.info.get("dpi") or (0, 0)
        try:
            dx, dy = float(dpi[0]), float(dpi[1])
        except (TypeError, ValueError, IndexError):
            dx = dy = 0.0
        if not (30 <= dx <= 5000 and 30 <= dy <= 5000):
            dx = dy = DEFAULT_DPI
        w, h = img.size
        entries = {"Type": "/XObject", "Subtype": "/Image", "Width": str(w), "Height": str(h)}
        if img.format == "JPEG" and img.mode in ("L", "RGB", "CMYK"):
            entries["ColorSpace"] = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}[img.mode]
            entries["BitsPerComponent"] = "8"
            entries["Filter"] = "/DCTDecode"
            if img.mode == "CMYK" and "adobe" in img.info:
                entries["Decode"] = "[1 0 1 0 1 0 1 0]"  # Adobe writes CMYK JPEGs inverted
            return entries, path.read_bytes(), (dx, dy), (w, h)
        try:
            img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise BadInputError(f"{path.name}: cannot read the page image ({exc})") from None
        mode = img.mode
        if mode == "1":
            colors, bpc, space, raw = 1, 1, "/DeviceGray", img.tobytes()
        elif mode in ("I;16", "I;16B", "I;16L", "I"):
            import numpy as np

            arr = np.asarray(img)
            arr = np.clip(arr, 0, 65535).astype(">u2")
            colors, bpc, space, raw = 1, 16, "/DeviceGray", arr.tobytes()
        elif mode == "L":
            colors, bpc, space, raw = 1, 8, "/DeviceGray", img.tobytes()
        elif mode == "CMYK":
            colors, bpc, space, raw = 4, 8, "/DeviceCMYK", img.tobytes()
        else:
            if "A" in img.getbands() or "transparency" in img.info:
                rgba = img.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                rgb = flat
            else:
                rgb = img.convert("RGB")
            colors, bpc, space, raw = 3, 8, "/DeviceRGB", rgb.tobytes()
            del rgb
        row_bytes = (w * colors * bpc + 7) // 8
        data = zlib.compress(_up_filter(raw, row_bytes), 6)
        del raw
        entries.update({"ColorSpace": space, "BitsPerComponent": str(bpc), "Filter": "/FlateDecode",
                        "DecodeParms": f"<< /Predictor 15 /Colors {colors} /BitsPerComponent {bpc} /Columns {w} >>"})
        return entries, data, (dx, dy), (w, h)


# -- the PDF file -------------------------------------------------------------------------------------
def _pdf_text(s: str) -> str:
    """A PDF text string: UTF-16BE with its byte-order mark, as hex."""
    return "<FEFF" + s.encode("utf-16-be", "replace").hex().upper() + ">"


class PdfFile:
    """One PDF written as it goes: fixed objects first, pages appended, the rest on close."""

    CATALOG, PAGES, FONT, CIDFONT, TOUNICODE, DESCRIPTOR, CIDTOGID, FONTFILE, INFO = range(1, 10)

    def __init__(self, path: Path, title: str):
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp")
        self.f = open(self.tmp, "wb")
        self.offsets: dict[int, int] = {}
        self.next_id = 10
        self.kids: list[int] = []
        self.codes = CodeMap()
        self.title = title
        self.f.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        self._obj(self.FONT, f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT_NAME} /Encoding /Identity-H "
                             f"/DescendantFonts [{self.CIDFONT} 0 R] /ToUnicode {self.TOUNICODE} 0 R >>")
        self._obj(self.CIDFONT, f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{FONT_NAME} "
                                "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                                f"/FontDescriptor {self.DESCRIPTOR} 0 R /DW {GLYPH_WIDTH} "
                                f"/CIDToGIDMap {self.CIDTOGID} 0 R >>")
        self._obj(self.DESCRIPTOR, f"<< /Type /FontDescriptor /FontName /{FONT_NAME} /Flags 5 "
                                   f"/FontBBox [0 0 {GLYPH_WIDTH} 1000] /ItalicAngle 0 /Ascent 1000 /Descent 0 "
                                   f"/CapHeight 1000 /StemV 80 /FontFile2 {self.FONTFILE} 0 R >>")
        self._stream(self.CIDTOGID, {}, zlib.compress(b"\x00\x01" * 65536, 9), flate=True)
        ttf = glyphless_ttf()
        self._stream(self.FONTFILE, {"Length1": str(len(ttf))}, zlib.compress(ttf, 9), flate=True)

    def _obj(self, num: int, body: str | bytes) -> None:
        self.offsets[num] = self.f.tell()
        self.f.write(f"{num} 0 obj\n".encode())
        self.f.write(body.encode("ascii") if isinstance(body, str) else body)
        self.f.write(b"\nendobj\n")

    def _stream(self, num: int, entries: dict[str, str], data: bytes, flate: bool = False) -> None:
        d = dict(entries)
        if flate:
            d["Filter"] = "/FlateDecode"
        d["Length"] = str(len(data))
        head = "<< " + " ".join(f"/{k} {v}" for k, v in d.items()) + " >>\nstream\n"
        self._obj(num, head.encode("ascii") + data + b"\nendstream")

    def _new(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def add_page(self, page: ExportPage) -> None:
        entries, data, (dx, dy), (w, h) = image_xobject(page.image)
        sx, sy = 72.0 / dx, 72.0 / dy
        pw, ph = page.width or w, page.height or h
        im, content, pg = self._new(), self._new(), self._new()
        self._stream(im, entries, data)
        del data
        # sizes in 1/64 pt, exact in the 32-bit floats readers use (PDFium then places the
        # image on whole device pixels at more zooms)
        width_pt, height_pt = round(pw * sx * 64) / 64, round(ph * sy * 64) / 64
        sx, sy = width_pt / pw, height_pt / ph
        text = text_ops(page.lines, ph, 1.0, self.codes)
        wpt, hpt = _num(width_pt, 6), _num(height_pt, 6)
        ops = (f"q {wpt} 0 0 {hpt} 0 0 cm /Im0 Do Q\n"
               f"q {_num(sx, 8)} 0 0 {_num(sy, 8)} 0 0 cm\n").encode("ascii") + text + b"\nQ"
        self._stream(content, {}, zlib.compress(ops, 6), flate=True)
        self._obj(pg, f"<< /Type /Page /Parent {self.PAGES} 0 R /MediaBox [0 0 {wpt} {hpt}] "
                      f"/Resources << /XObject << /Im0 {im} 0 R >> /Font << /F1 {self.FONT} 0 R >> >> "
                      f"/Contents {content} 0 R >>")
        self.kids.append(pg)

    def close(self) -> None:
        self._stream(self.TOUNICODE, {}, zlib.compress(self.codes.to_unicode(), 9), flate=True)
        self._obj(self.PAGES, f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in self.kids)}] "
                              f"/Count {len(self.kids)} >>")
        self._obj(self.CATALOG, f"<< /Type /Catalog /Pages {self.PAGES} 0 R >>")
        self._obj(self.INFO, f"<< /Producer (Proofdesk) /Title {_pdf_text(self.title)} >>")
        xref = self.f.tell()
        size = self.next_id
        out = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        for num in range(1, size):
            if num in self.offsets:
                out.append(f"{self.offsets[num]:010d} 00000 n \n")
            else:
                out.append("0000000000 65535 f \n")
        out.append(f"trailer\n<< /Size {size} /Root {self.CATALOG} 0 R /Info {self.INFO} 0 R >>\n"
                   f"startxref\n{xref}\n%%EOF\n")
        self.f.write("".join(out).encode("ascii"))
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        try:
            self.tmp.unlink()
        except OSError:
            pass


def document_stem(page: ExportPage) -> str:
    """The document's part of a page's stem (``scan-p002`` -> ``scan``)."""
    stem = page.stem
    if page.page_count > 1:
        stem = re.sub(r"-p\d+$", "", stem)
    stem = re.sub(r"[\\/\x00]+", "_", stem).strip().lstrip(".")
    return stem or "document"


class SearchablePdfWriter:
    name = "pdf"
    title = "Searchable PDF (page images with an invisible text layer), one per document"

    def write(self, pages: Iterable[ExportPage], out: Path, options: ExportOptions,
              progress: Callable[[int, str], None] | None = None) -> int:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        pdf: PdfFile | None = None
        key = None
        last_no = 0
        used: set[str] = set()
        try:
            for page in pages:
                this = (page.document, document_stem(page))
                if pdf is None or this != key or page.page_no <= last_no:
                    if pdf is not None:
                        pdf.close()
                    stem, i = this[1], 2
                    while stem.lower() in used:
                        stem, i = f"{this[1]}_{i}", i + 1
                    used.add(stem.lower())
                    pdf, key = PdfFile(out / f"{stem}.pdf", page.document), this
                last_no = page.page_no
                pdf.add_page(page)
                if page.page_no >= page.page_count:  # the document's last page: the file is complete
                    pdf.close()
                    pdf = None
                n += 1
                if progress is not None:
                    progress(n, page.stem)
            if pdf is not None:
                pdf.close()
                pdf = None
        finally:
            if pdf is not None:
                pdf.abort()
        return n


register_writer(SearchablePdfWriter())
