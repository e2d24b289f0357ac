"""The text layer of a born-digital PDF page: its lines as a person would box them, in page pixels.

A PDF made by a program (an invoice from an accounting system, a letter printed to PDF) carries
every character it shows, with its font position: reading those is exact, where OCR of the
rendered page is a guess. :func:`extract_text_layer` reads them from PDFium's text page while the
importer has the page open, in the pixel frame of the page image the importer renders (the same
``scale``: pixels per PDF point), so the lines can stand as regions on that image:

1. Characters: whitespace dropped (it only separates words), invisible text dropped (render mode
   3 or 7: the OCR layer a scanner lays over its scan, which is not what the page shows), glyphs
   without a Unicode value dropped (icons, private-use code points, U+FFFD) and counted, fake-bold
   duplicates (the same glyph drawn again at almost the same place) dropped.
2. Lines: glyphs on one baseline (within 0.25 x the font height) form a row; a row is split where
   the gap between two glyphs is above 2.5 x the row's median glyph advance, so a label and its
   far-away value are two lines, as a person would box them. A space goes where PDFium's text
   stream has whitespace between two glyphs, or, for glyphs from distant parts of the stream,
   where the gap is above 0.22 x the font height. Box: the union of the glyphs' tight boxes, padded
   by 0.1 x the font height. Text in NFC. Text running up or down the page (90 or 270 degrees, a
   note in the margin; a page with /Rotate) is grouped the same way in its own direction and kept
   as tall lines, their corners clockwise from the text's own top-left; slanted text is left out.
3. Image areas: the bounds of the page's image objects (logos, pasted scans, a stamp), Form
   XObjects included: what the text layer cannot hold and OCR must read.
4. The verdict: a layer is usable when it has enough visible glyphs (:data:`MIN_GLYPHS`), few
   Unicode map errors (:data:`MAX_MAP_ERRORS`) and few glyphs without a usable Unicode value
   (:data:`MAX_UNUSABLE`), and is not invisible text over a scan (a page whose text is all or mostly
   invisible is a scanned page with an OCR layer: our OCR reads it).

The recipe is that of ``shared/datasets/invoices-dev`` ("How it was built"), whose line boxes were
checked by drawing them on rendered invoices. No Qt, no ml: core only (pypdfium2 is imported by
the caller, who holds the page open).
"""

from __future__ import annotations

import ctypes
import json
import math
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from .model import Quad

#: Bump when the recipe changes what comes out for the same PDF: stored with every layer and in
#: the engine version of the predictions made from it.
RECIPE_VERSION = 1
#: Fewer visible glyphs than this: not a text layer worth reading (a page number, a scan's stamp).
MIN_GLYPHS = 20
#: Share of visible glyphs PDFium flags with a Unicode map error, at most.
MAX_MAP_ERRORS = 0.02
#: Share of glyphs without a usable Unicode value (icons, private use, U+FFFD), at most.
MAX_UNUSABLE = 0.03
#: Rows: a glyph joins a row when its baseline is within this share of the row's font height.
SAME_BASELINE = 0.25
#: A row is split where the gap between two glyphs is above this many median glyph advances.
SPLIT_FACTOR = 2.5
#: A space between glyphs from distant parts of the text stream when the gap is above this share
#: of the font height.
SPACE_GAP = 0.22
#: Line boxes are padded by this share of the font height on every side.
PAD = 0.1
#: Image objects smaller than this (PDF points, either side) hold no text worth reading: rules,
#: bullets, a pixel spacer.
MIN_IMAGE_PT = 6.0
#: Directions within this angle (radians, about 1.1 degrees) of a multiple of 90 degrees count as
#: that direction; glyphs further off are slanted text and left out.
ANGLE_TOLERANCE = 0.02

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TextLine:
    """One line of the text layer: four corners in page pixels, clockwise from the text's top-left
    (an upright line: TL, TR, BR, BL, as regions have them), and its text."""

    points: Quad
    text: str

    def bounds(self) -> Box:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class TextLayer:
    """What a PDF page's text layer says, and whether it is good enough to pre-fill from."""

    lines: tuple[TextLine, ...]
    #: Axis-aligned ``(x0, y0, x1, y1)`` page-pixel boxes of the page's images (text there is OCR's).
    image_areas: tuple[Box, ...]
    #: Visible glyphs kept (whitespace, invisible text, icons and duplicates not counted).
    glyphs: int
    usable: bool
    #: Why not usable ("" when usable), in words for a person.
    reason: str = ""
    #: What read it: ``pdfium-<build> textlayer-<recipe>``.
    source: str = ""
    #: Counts behind the verdict: invisible, unmapped, map_errors, duplicates, slanted, off_page.
    stats: dict[str, int] = field(default_factory=dict)

    def lines_json(self) -> str:
        """The lines as JSON: ``[{"points": [[x, y] * 4], "text": ...}]`` (the reference format's shape)."""
        return json.dumps([{"points": [[round(x, 2), round(y, 2)] for x, y in ln.points], "text": ln.text}
                           for ln in self.lines], ensure_ascii=False)

    def image_areas_json(self) -> str:
        return json.dumps([[round(v, 2) for v in box] for box in self.image_areas])

    @classmethod
    def from_json(cls, lines: str, image_areas: str, glyphs: int, usable: bool, reason: str = "",
                  source: str = "", stats: str | None = None) -> "TextLayer":
        return cls(
            lines=tuple(TextLine(tuple((float(x), float(y)) for x, y in d["points"]), d["text"])  # type: ignore[arg-type]
                        for d in json.loads(lines)),
            image_areas=tuple(tuple(float(v) for v in box) for box in json.loads(image_areas)),  # type: ignore[misc]
            glyphs=int(glyphs), usable=bool(usable), reason=reason or "", source=source or "",
            stats=json.loads(stats) if stats else {},
        )


def source_name() -> str:
    """``pdfium-<build> textlayer-<recipe>``: what reads text layers in this installation."""
    try:
        from pypdfium2 import PDFIUM_INFO

        build = PDFIUM_INFO.build
    except Exception:  # noqa: BLE001 - only a label
        build = "unknown"
    return f"pdfium-{build} textlayer-{RECIPE_VERSION}"


# -- PDF space to page pixels --------------------------------------------------------------------
class _Affine:
    """PDF user space -> pixels of a ``width`` x ``height`` rendering of the page (crop box and
    /Rotate included), from PDFium's own mapping."""

    def __init__(self, raw, page, width: int, height: int):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        fine = 64  # PDFium maps to whole pixels: map to a 64 times larger device, then scale down

        def dev(x: float, y: float) -> tuple[float, float]:
            raw.FPDF_PageToDevice(page, 0, 0, width * fine, height * fine, 0, x, y, dx, dy)
            return dx.value / fine, dy.value / fine

        k = 10000.0  # far points: the rounding of the device coordinates is negligible
        o, ex, ey = dev(0.0, 0.0), dev(k, 0.0), dev(0.0, k)
        self.o = o
        self.a = ((ex[0] - o[0]) / k, (ex[1] - o[1]) / k)
        self.b = ((ey[0] - o[0]) / k, (ey[1] - o[1]) / k)

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        a, b, o = self.a, self.b, self.o
        return o[0] + a[0] * x + b[0] * y, o[1] + a[1] * x + b[1] * y


# A glyph's reading direction on the image, counter-clockwise in degrees (0: left to right, 90:
# bottom to top); each maps page pixels (x, y) to a frame (u, v) where the text reads along +u
# and its "down" is +v, and back.
_TO_FRAME = {
    0: lambda x, y: (x, y),
    90: lambda x, y: (-y, x),
    180: lambda x, y: (-x, -y),
    270: lambda x, y: (y, -x),
}
_FROM_FRAME = {
    0: lambda u, v: (u, v),
    90: lambda u, v: (v, -u),
    180: lambda u, v: (-u, -v),
    270: lambda u, v: (-v, u),
}


def _frame_box(direction: int, box: Box) -> Box:
    to = _TO_FRAME[direction]
    (u0, v0), (u1, v1) = to(box[0], box[1]), to(box[2], box[3])
    return min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)


@dataclass
class _Glyph:
    i: int  # index in PDFium's text stream
    ch: str
    u0: float  # tight box in the glyph's reading frame
    v0: float
    u1: float
    v1: float
    adv: float  # loose box width along the text: the glyph's advance
    em: float  # loose box height across the text: the font height
    base: float  # the baseline (origin's v)
    ws: bool  # whitespace (or a dropped glyph) before it in the text stream


def _unicode_at(raw, textpage, i: int, n: int) -> int:
    u = raw.FPDFText_GetUnicode(textpage, i)
    if 0xD800 <= u <= 0xDBFF:  # a UTF-16 surrogate pair: one code point
        lo = raw.FPDFText_GetUnicode(textpage, i + 1) if i + 1 < n else 0
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) if 0xDC00 <= lo <= 0xDFFF else 0xFFFD
    return u


_WHITESPACE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")
_NO_VALUE_CATEGORIES = ("Co", "Cs", "Cn")


def _page_glyphs(raw, page, textpage, affine: _Affine, width: int, height: int) -> tuple[dict, dict[str, int]]:
    """Visible glyphs by reading direction, and the counts of what was dropped."""
    # The hot loop of extraction (a dense page has 3,000+ glyphs): PDFium's functions and the
    # handles bound once, the page's mapping inlined.
    tp = getattr(textpage, "raw", textpage)
    get_unicode, get_object = raw.FPDFText_GetUnicode, raw.FPDFText_GetTextObject
    get_mode, map_error = raw.FPDFTextObj_GetTextRenderMode, raw.FPDFText_HasUnicodeMapError
    get_matrix, get_box = raw.FPDFText_GetMatrix, raw.FPDFText_GetCharBox
    get_loose, get_origin = raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetCharOrigin
    hidden = (raw.FPDF_TEXTRENDERMODE_INVISIBLE, raw.FPDF_TEXTRENDERMODE_CLIP)
    category, void_p, cast = unicodedata.category, ctypes.c_void_p, ctypes.cast
    (ax, ay), (bx, by), (ox0, oy0) = affine.a, affine.b, affine.o
    n = raw.FPDFText_CountChars(tp)
    stats = {"visible": 0, "invisible": 0, "unmapped": 0, "map_errors": 0, "duplicates": 0, "slanted": 0,
             "off_page": 0}
    by_dir: dict[int, list[_Glyph]] = {0: [], 90: [], 180: [], 270: []}
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    ox, oy = ctypes.c_double(), ctypes.c_double()
    loose = raw.FS_RECTF()
    matrix = raw.FS_MATRIX()
    render_mode: dict[int, int] = {}  # text object address -> its render mode
    quarter_turn, two_pi = math.pi / 2, 2 * math.pi

    def to_pixels(l_: float, r_: float, b_: float, t_: float) -> tuple[float, float, float, float]:
        """A PDF box (left, right, bottom, top) in page pixels, corners sorted: the page's mapping
        has no shear (0, 90, 180 or 270 degrees), so two opposite corners give the box."""
        x0, y0 = ox0 + ax * l_ + bx * b_, oy0 + ay * l_ + by * b_
        x1, y1 = ox0 + ax * r_ + bx * t_, oy0 + ay * r_ + by * t_
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    ws_before = False
    for i in range(n):
        u = get_unicode(tp, i)
        if 0xDC00 <= u <= 0xDFFF:  # the low half of a surrogate pair, joined to the char before
            continue
        if 0xD800 <= u <= 0xDBFF:
            u = _unicode_at(raw, tp, i, n)
        ch = chr(u) if 0 < u < 0x110000 else "\ufffd"
        cat = category(ch)
        if cat in _WHITESPACE_CATEGORIES or ch.isspace() or u in (0xFFFE, 0xFFFF):
            ws_before = True
            continue
        obj = get_object(tp, i)
        if obj:
            key = cast(obj, void_p).value or 0
            mode = render_mode.get(key)
            if mode is None:
                mode = render_mode[key] = get_mode(obj)
            if mode in hidden:
                stats["invisible"] += 1
                ws_before = True
                continue
        if ch == "\ufffd" or cat in _NO_VALUE_CATEGORIES:
            stats["unmapped"] += 1  # an icon or a glyph without a Unicode value: nothing to transcribe
            ws_before = True
            continue
        if map_error(tp, i):
            stats["map_errors"] += 1
        # The reading direction on the image, from the glyph's own matrix (its x axis).
        if get_matrix(tp, i, matrix):
            ma, mb = matrix.a, matrix.b
        else:
            ma, mb = 1.0, 0.0
        vx, vy = ax * ma + bx * mb, ay * ma + by * mb
        if vy == 0.0 and vx > 0:
            direction = 0  # the common case, without trigonometry
        else:
            angle = math.atan2(-vy, vx) % two_pi  # counter-clockwise on the image (y points down)
            quarter = round(angle / quarter_turn) % 4
            if abs(angle - quarter * quarter_turn) > ANGLE_TOLERANCE and abs(angle - two_pi) > ANGLE_TOLERANCE:
                stats["slanted"] += 1
                ws_before = True
                continue
            direction = quarter * 90
        get_box(tp, i, left, right, bottom, top)
        get_loose(tp, i, loose)
        get_origin(tp, i, ox, oy)
        x0, y0, x1, y1 = to_pixels(left.value, right.value, bottom.value, top.value)
        if x1 < 0 or y1 < 0 or x0 > width or y0 > height:
            stats["off_page"] += 1
            ws_before = True
            continue
        lx0, ly0, lx1, ly1 = to_pixels(loose.left, loose.right, loose.bottom, loose.top)
        if x1 - x0 < 0.01 and y1 - y0 < 0.01:  # a zero-size glyph: the loose box
            x0, y0, x1, y1 = lx0, ly0, lx1, ly1
        gx = ox0 + ax * ox.value + bx * oy.value
        gy = oy0 + ay * ox.value + by * oy.value
        stats["visible"] += 1
        if direction == 0:
            by_dir[0].append(_Glyph(i, ch, x0, y0, x1, y1, lx1 - lx0, max(ly1 - ly0, 1e-3), gy, ws_before))
        else:
            t = _frame_box(direction, (x0, y0, x1, y1))
            w = _frame_box(direction, (lx0, ly0, lx1, ly1))
            _, base = _TO_FRAME[direction](gx, gy)
            by_dir[direction].append(_Glyph(i, ch, *t, adv=w[2] - w[0], em=max(w[3] - w[1], 1e-3), base=base,
                                            ws=ws_before))
        ws_before = False
    for direction, glyphs in by_dir.items():
        kept = _drop_duplicates(glyphs)
        stats["duplicates"] += len(glyphs) - len(kept)
        by_dir[direction] = kept
    stats["visible"] -= stats["duplicates"]
    return by_dir, stats


def _drop_duplicates(glyphs: list[_Glyph]) -> list[_Glyph]:
    """Fake bold: the same glyph drawn again within 0.15 of its height of itself (a real repeated
    letter is an advance away)."""
    if not glyphs:
        return glyphs
    cell = max(0.15 * max(g.em for g in glyphs), 0.5)  # no tolerance is above a cell: 3 x 3 cells hold a match
    cells: dict[tuple[str, int, int], list[_Glyph]] = {}
    kept = []
    near = [(du, dv) for du in (-1, 0, 1) for dv in (-1, 0, 1)]
    for g in glyphs:
        tol = 0.15 * g.em
        cu, cv = int(g.u0 // cell), int(g.base // cell)
        ch = g.ch
        if any(abs(o.u0 - g.u0) <= tol and abs(o.base - g.base) <= tol
               for du, dv in near for o in cells.get((ch, cu + du, cv + dv), ())):
            continue
        cells.setdefault((ch, cu, cv), []).append(g)
        kept.append(g)
    return kept


def _rows(glyphs: list[_Glyph]) -> list[list[_Glyph]]:
    rows: list[list[_Glyph]] = []
    ems: list[float] = []  # the running median's input of the last row
    for g in sorted(glyphs, key=lambda g: (g.base, g.u0)):
        if rows:
            row = rows[-1]
            tol = SAME_BASELINE * statistics.median(ems)
            if abs(g.base - row[-1].base) <= tol or abs(g.base - row[0].base) <= tol:
                row.append(g)
                ems.append(g.em)
                continue
        rows.append([g])
        ems = [g.em]
    return rows


def _segments(row: list[_Glyph]) -> list[tuple[list[_Glyph], str]]:
    """A row split at its large gaps, each piece with its text (spaces put back)."""
    row.sort(key=lambda g: (g.u0, g.i))
    em = statistics.median(g.em for g in row)
    adv = statistics.median(g.adv for g in row)
    split_gap = SPLIT_FACTOR * max(adv, 0.25 * em)
    # Is each neighbour pair consecutive in the text stream (no glyph of this row between them)?
    order = sorted(range(len(row)), key=lambda k: row[k].i)
    rank = [0] * len(row)
    for r, k in enumerate(order):
        rank[k] = r
    out: list[tuple[list[_Glyph], str]] = []
    seg, parts = [row[0]], [row[0].ch]
    for k in range(1, len(row)):
        prev, g = row[k - 1], row[k]
        gap = g.u0 - prev.u1
        if gap > split_gap:
            out.append((seg, "".join(parts)))
            seg, parts = [g], [g.ch]
            continue
        if rank[k] == rank[k - 1] + 1:  # the next glyph of the stream: trust its whitespace
            space = g.ws and gap > -0.05 * em
        else:
            space = gap > SPACE_GAP * em
        if space:
            parts.append(" ")
        parts.append(g.ch)
        seg.append(g)
    out.append((seg, "".join(parts)))
    return out


def group_lines(by_direction: dict[int, list[_Glyph]]) -> list[TextLine]:
    """Glyphs to lines as a person would box them: rows by baseline, split at large gaps."""
    lines: list[TextLine] = []
    for direction in (0, 90, 270, 180):
        back = _FROM_FRAME[direction]
        for row in _rows(by_direction.get(direction, [])):
            for seg, text in _segments(row):
                text = unicodedata.normalize("NFC", text).strip()
                if not text:
                    continue
                pad = PAD * statistics.median(g.em for g in seg)
                u0 = min(g.u0 for g in seg) - pad
                u1 = max(g.u1 for g in seg) + pad
                v0 = min(g.v0 for g in seg) - pad
                v1 = max(g.v1 for g in seg) + pad
                corners = tuple(back(u, v) for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1)))
                lines.append(TextLine(corners, text))  # type: ignore[arg-type]
    return lines


def _image_areas(raw, page, affine: _Affine, scale: float, width: int, height: int) -> list[Box]:
    """The page-pixel bounds of the page's image objects (inside Form XObjects too), clipped to the
    page; images smaller than :data:`MIN_IMAGE_PT` on a side are left out."""
    out: list[Box] = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    fs = raw.FS_MATRIX()
    min_px = MIN_IMAGE_PT * scale

    def visit(count: int, get, ctm: tuple[float, ...] | None, depth: int) -> None:
        for k in range(count):
            obj = get(k)
            if not obj:
                continue
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_FORM and depth < 8:
                if not raw.FPDFPageObj_GetMatrix(obj, fs):
                    continue
                inner = (fs.a, fs.b, fs.c, fs.d, fs.e, fs.f)
                # Objects of a form are in its space: the form's matrix, then the outer ones.
                m = inner if ctm is None else _compose(inner, ctm)
                visit(raw.FPDFFormObj_CountObjects(obj), lambda j, o=obj: raw.FPDFFormObj_GetObject(o, j), m,
                      depth + 1)
                continue
            if kind != raw.FPDF_PAGEOBJ_IMAGE or not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
                continue
            corners = [(left.value, bottom.value), (right.value, bottom.value), (right.value, top.value),
                       (left.value, top.value)]
            if ctm is not None:
                a, b, c, d, e, f = ctm
                corners = [(a * x + c * y + e, b * x + d * y + f) for x, y in corners]
            pts = [affine(x, y) for x, y in corners]
            x0, y0 = max(0.0, min(p[0] for p in pts)), max(0.0, min(p[1] for p in pts))
            x1, y1 = min(float(width), max(p[0] for p in pts)), min(float(height), max(p[1] for p in pts))
            if x1 - x0 >= min_px and y1 - y0 >= min_px:
                out.append((x0, y0, x1, y1))

    visit(raw.FPDFPage_CountObjects(page), lambda j: raw.FPDFPage_GetObject(page, j), None, 0)
    return out


def _compose(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, ...]:
    """The matrix applying ``inner`` first, then ``outer`` (PDF's [a b c d e f] row-vector form)."""
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def verdict(stats: dict[str, int]) -> tuple[bool, str]:
    """Is a layer with these counts good enough to pre-fill from? (usable, why not)."""
    visible, invisible = stats.get("visible", 0), stats.get("invisible", 0)
    unmapped, errors = stats.get("unmapped", 0), stats.get("map_errors", 0)
    if visible == 0 and invisible:
        return False, "the text layer is invisible text only (a scanned page with an OCR layer)"
    if invisible > visible:
        return False, "the text layer is mostly invisible text (a scanned page with an OCR layer)"
    if unmapped > MAX_UNUSABLE * (visible + unmapped):
        return False, f"{unmapped} of {visible + unmapped} glyphs have no usable Unicode value"
    if errors > MAX_MAP_ERRORS * visible:
        return False, f"{errors} of {visible} glyphs have no reliable Unicode mapping"
    if visible < MIN_GLYPHS:
        return False, f"the text layer has {visible} visible glyph(s), fewer than {MIN_GLYPHS}"
    return True, ""


def page_pixel_size(page, scale: float) -> tuple[int, int]:
    """The size pypdfium2's ``page.render(scale=scale)`` gives the page image."""
    w_pt, h_pt = page.get_size()
    return math.ceil(w_pt * scale), math.ceil(h_pt * scale)


def extract_text_layer(page, scale: float, size: Sequence[int] | None = None) -> TextLayer:
    """The text layer of an open pypdfium2 page, in the pixels of its rendering at ``scale``
    (pixels per PDF point; ``size``: that image's width and height, by default what
    ``page.render(scale=scale)`` makes). Raises whatever PDFium raises on a broken page; the
    importer catches it (the page then has no text layer)."""
    import pypdfium2.raw as raw

    width, height = (int(size[0]), int(size[1])) if size is not None else page_pixel_size(page, scale)
    affine = _Affine(raw, page, width, height)
    textpage = page.get_textpage()
    try:
        by_dir, stats = _page_glyphs(raw, page, textpage, affine, width, height)
    finally:
        textpage.close()
    usable, reason = verdict(stats)
    lines = group_lines(by_dir)
    areas = _image_areas(raw, page, affine, scale, width, height)
    return TextLayer(tuple(lines), tuple(areas), stats["visible"], usable, reason, source_name(), stats)
