"""Searchable PDF export, checked with an independent reader (PDFium through pypdfium2): one PDF
per document with its pages, each page renders to its image, and the text under each line's box
is that line's text (accents, €, ₹, CJK and emoji included)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.formats import ExportOptions, ExportPage, Line, base
from core.formats.exporting import export
from core.formats.searchable_pdf import DEFAULT_DPI, glyphless_ttf
from core.importer import ImportOptions, import_paths
from tests.conftest import image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True

UNICODE_LINES = [
    ([(40, 30), (420, 30), (420, 80), (40, 80)], "Café crème 3,50 € naïve"),
    ([(60, 140), (400, 175), (396, 215), (56, 180)], "Grand total ₹ 1,234.00"),  # rotated ~5°
    ([(470, 100), (600, 330), (565, 350), (435, 120)], "領収書 漢字 テスト"),  # rotated ~60°
    ([(40, 400), (300, 400), (300, 440), (40, 440)], "Ærø ß 😀 ok"),  # beyond the BMP
]


def _open(path: Path):
    pdf = pdfium.PdfDocument(str(path))
    return pdf


def _page_text(pdf, i: int) -> tuple[str, object, object]:
    page = pdf[i]
    tp = page.get_textpage()
    return tp.get_text_range(), page, tp


def _text_in_box(page, tp, points, img_w: int, img_h: int) -> str:
    """The text PDFium finds inside a line's box (shrunk a little, so neighbours sharing an edge
    stay out), the box given in image pixels."""
    pw, ph = page.get_size()
    sx, sy = pw / img_w, ph / img_h
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dy = (y1 - y0) * 0.3
    dx = min((x1 - x0) * 0.02, 2)
    text = tp.get_text_bounded(left=(x0 + dx) * sx, bottom=ph - (y1 - dy) * sy, right=(x1 - dx) * sx,
                               top=ph - (y0 + dy) * sy)
    return text.replace("\x02", "-")  # PDFium's mark of a hyphen that ends a line


def _render(page, w: int, h: int) -> np.ndarray:
    """The page rendered onto exactly w x h pixels (the image's size), as RGB."""
    bitmap = pdfium.PdfBitmap.new_native(w, h, pdfium_c.FPDFBitmap_BGRx)
    bitmap.fill_rect((255, 255, 255, 255), 0, 0, w, h)
    pdfium_c.FPDF_RenderPageBitmap(bitmap.raw, page.raw, 0, 0, w, h, 0, 0)
    return np.asarray(bitmap.to_pil().convert("RGB"), dtype=np.int16)


def _difference(shown: np.ndarray, want: np.ndarray, block: int = 4) -> float:
    """Mean difference of 4x4-pixel block means: PDFium may place an image a pixel off at some
    page sizes (32-bit float rounding), which this forgives; wrong colours or content it does not."""
    assert shown.shape == want.shape
    h, w = (want.shape[0] // block) * block, (want.shape[1] // block) * block

    def blocks(a):
        return a[:h, :w].reshape(h // block, block, w // block, block, -1).astype(float).mean(axis=(1, 3))

    return float(np.abs(blocks(shown) - blocks(want.astype(np.int16))).mean())


def _smooth(w: int, h: int) -> np.ndarray:
    """An RGB test picture without sharp edges: gradients in three directions."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) * 255 // max(1, w + h - 2)],
                    -1).astype(np.uint8)


def _overlaps(a, b) -> bool:
    ax0, ay0 = min(p[0] for p in a), min(p[1] for p in a)
    ax1, ay1 = max(p[0] for p in a), max(p[1] for p in a)
    bx0, by0 = min(p[0] for p in b), min(p[1] for p in b)
    bx1, by1 = max(p[0] for p in b), max(p[1] for p in b)
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def test_the_embedded_font_is_a_truetype_font():
    font = ImageFont.truetype(io.BytesIO(glyphless_ttf()), 40)  # FreeType, as PDF viewers load it
    assert font.getname() == ("GlyphLessFont", "Regular")


def _tiff_with_text(path: Path) -> None:
    frames = []
    for i in range(2):
        im = Image.new("RGB", (640, 480), "white")
        d = ImageDraw.Draw(im)
        for pts, _ in UNICODE_LINES:
            d.polygon(pts, outline=(200, 30 * i, 0))
        frames.append(im)
    frames[0].save(path, "TIFF", save_all=True, append_images=frames[1:])


@pytest.fixture
def pdf_project(project, tmp_path, sroie_dir):
    """Two sroie-dev receipts (JPEG, their reference lines as regions), a 2-page TIFF (stored as
    PNG pages) with rotated lines in Unicode, and a one-page PNG without regions."""
    src = tmp_path / "src"
    src.mkdir()
    for img in sorted(sroie_dir.glob("*.jpg"))[:2]:
        shutil.copy(img, src / img.name)
        shutil.copy(img.with_suffix(".json"), src / img.with_suffix(".json").name)
    import_paths(project, [src], ImportOptions(labels=True, user="lead"))
    (tmp_path / "more").mkdir()
    _tiff_with_text(tmp_path / "more" / "fax.tif")
    Image.fromarray(_smooth(200, 100)).save(tmp_path / "more" / "blank.png")
    import_paths(project, [tmp_path / "more"], ImportOptions(user="lead"))
    store = project.store
    for page in store.pages():
        if page.name.startswith("fax.tif"):
            lines = UNICODE_LINES if page.page_no == 1 else UNICODE_LINES[:2]
            for pts, text in lines:
                store.add_region("ana", page.id, tuple(map(tuple, pts)), text=text)
    return project


def test_one_pdf_per_document_with_its_pages_text_and_images(pdf_project, tmp_path):
    store = pdf_project.store
    out = tmp_path / "pdf"
    assert export(pdf_project, out, "pdf") == 5
    docs = store.documents()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{Path(d.name).stem}.pdf" for d in docs)
    checked_lines = 0
    for doc in docs:
        pages = store.pages_of(doc.id)
        pdf = _open(out / f"{Path(doc.name).stem}.pdf")
        try:
            assert len(pdf) == len(pages) == doc.page_count
            for i, page in enumerate(pages):
                regions = store.regions(page.id)
                text, pg, tp = _page_text(pdf, i)
                # all the page's text, in reading order (PDFium joins lines of one row with a space)
                # (and marks a hyphen at a line's end U+FFFE, a hyphen it may drop)
                assert "".join(text.replace("\ufffe", "-").split()) == "".join("".join(r.text.split()) for r in regions)
                for r in regions:
                    if any(_overlaps(r.points, o.points) for o in regions if o.id != r.id):
                        continue  # the reader's box of an overlapped line holds its neighbour's text too
                    if r.points[0][1] != r.points[1][1]:
                        continue  # rotated: its bounding box is not its box (the next test checks those)
                    assert _text_in_box(pg, tp, r.points, page.width, page.height).strip() == r.text, r.text
                    checked_lines += 1
                image = np.asarray(Image.open(pdf_project.image_path(page)).convert("RGB"), dtype=np.int16)
                diff = _difference(_render(pg, page.width, page.height), image)
                assert diff < (3.0 if pdf_project.image_path(page).suffix == ".jpg" else 1.0), diff
                tp.close()
                pg.close()
        finally:
            pdf.close()
    assert checked_lines >= 50


def test_a_line_is_found_where_it_is_on_the_page_whatever_its_angle(tmp_path):
    img = tmp_path / "p.png"
    Image.new("L", (640, 480), 255).save(img)
    lines = [Line([tuple(map(float, p)) for p in pts], text) for pts, text in UNICODE_LINES]
    page = ExportPage(1, "p.png", 1, 1, "p", img, 640, 480, "done", lines, {})
    base.writer("pdf").write([page], tmp_path / "out", ExportOptions())
    pdf = _open(tmp_path / "out" / "p.pdf")
    try:
        pg = pdf[0]
        tp = pg.get_textpage()
        pw, ph = pg.get_size()
        s = pw / 640
        for ln in lines:
            n = tp.count_chars()
            # each character's box sits on the line: its centre is inside the line's polygon
            from shapely.geometry import Point as SPoint
            from shapely.geometry import Polygon

            poly = Polygon(ln.points).buffer(1.5)
            text = tp.get_text_range()
            start = text.index(ln.text)
            for k in range(start, start + len(ln.text)):
                if k >= n or text[k] == " ":
                    continue
                left, bottom, right, top = tp.get_charbox(k)
                cx, cy = (left + right) / 2 / s, (ph - (top + bottom) / 2) / s
                if ln.points[0][1] == ln.points[1][1]:  # axis-aligned: the char box is inside the box
                    assert poly.contains(SPoint(cx, cy)), (ln.text, k, cx, cy)
            # the first and last characters are at the two ends of the line
            first, last = tp.get_charbox(start), tp.get_charbox(start + len(ln.text) - 1)
            ends = [((first[0] + first[2]) / 2 / s, (ph - (first[1] + first[3]) / 2) / s),
                    ((last[0] + last[2]) / 2 / s, (ph - (last[1] + last[3]) / 2) / s)]
            tl, tr, br, bl = ln.points
            left_mid = ((tl[0] + bl[0]) / 2, (tl[1] + bl[1]) / 2)
            right_mid = ((tr[0] + br[0]) / 2, (tr[1] + br[1]) / 2)
            assert np.hypot(ends[0][0] - left_mid[0], ends[0][1] - left_mid[1]) < \
                np.hypot(ends[1][0] - left_mid[0], ends[1][1] - left_mid[1])
            assert np.hypot(ends[1][0] - right_mid[0], ends[1][1] - right_mid[1]) < 0.25 * np.hypot(
                tr[0] - tl[0], tr[1] - tl[1])
        for pts, text in UNICODE_LINES[:1] + UNICODE_LINES[3:]:  # the axis-aligned ones, by box
            assert _text_in_box(pg, tp, pts, 640, 480).strip() == text
        tp.close()
        pg.close()
    finally:
        pdf.close()


def _image(kind: str) -> tuple[bytes, str, np.ndarray]:
    """(file bytes, suffix, the RGB pixels a viewer should show) of an image of ``kind``."""
    rgb = _smooth(80, 60)
    buf = io.BytesIO()
    if kind == "1":
        im = Image.fromarray(rgb[..., 0] > 127).convert("1")
        im.save(buf, "PNG")
        return buf.getvalue(), ".png", np.asarray(im.convert("RGB"))
    if kind == "L":
        im = Image.fromarray(rgb[..., 0])
        im.save(buf, "PNG")
        return buf.getvalue(), ".png", np.asarray(im.convert("RGB"))
    if kind == "I;16":
        arr16 = (rgb[..., 0].astype(np.uint16) << 8) | rgb[..., 1]
        im = Image.fromarray(arr16)
        assert im.mode == "I;16"
        im.save(buf, "PNG")
        g = (arr16 >> 8).astype(np.uint8)
        return buf.getvalue(), ".png", np.stack([g, g, g], -1)
    if kind == "RGBA":
        alpha = np.where(rgb[..., 2] > 127, 255, 0).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(buf, "PNG")
        want = np.where(alpha[..., None] == 255, rgb, 255).astype(np.uint8)
        return buf.getvalue(), ".png", want
    if kind == "P":
        im = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        im.save(buf, "PNG")
        return buf.getvalue(), ".png", np.asarray(im.convert("RGB"))
    if kind == "RGB":
        Image.fromarray(rgb).save(buf, "PNG")
        return buf.getvalue(), ".png", rgb
    if kind == "JPEG-L":
        im = Image.fromarray(rgb[..., 0])
        im.save(buf, "JPEG", quality=95)
        return buf.getvalue(), ".jpg", np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if kind == "JPEG-RGB":
        Image.fromarray(rgb).save(buf, "JPEG", quality=95)
        return buf.getvalue(), ".jpg", np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["1", "L", "I;16", "RGB", "RGBA", "P", "JPEG-L", "JPEG-RGB"])
def test_every_kind_of_page_image_renders_back(kind, tmp_path):
    data, suffix, want = _image(kind)
    img = tmp_path / f"page{suffix}"
    img.write_bytes(data)
    page = ExportPage(1, f"page{suffix}", 1, 1, "page", img, 80, 60, "done",
                      [Line([(5.0, 5.0), (70.0, 5.0), (70.0, 20.0), (5.0, 20.0)], "hello")], {})
    base.writer("pdf").write([page], tmp_path / "out", ExportOptions())
    raw = (tmp_path / "out" / "page.pdf").read_bytes()
    if suffix == ".jpg":
        assert data in raw  # embedded as it is, not decoded and re-encoded
    pdf = _open(tmp_path / "out" / "page.pdf")
    try:
        diff = _difference(_render(pdf[0], 80, 60), want)
        assert diff < (2.0 if suffix == ".jpg" else 1.0), (kind, diff)
    finally:
        pdf.close()


@pytest.mark.parametrize("dpi", [None, 150])
def test_page_size_follows_the_image_resolution(dpi, tmp_path):
    img = tmp_path / "p.png"
    Image.new("RGB", (600, 300), "white").save(img, **({"dpi": (dpi, dpi)} if dpi else {}))
    page = ExportPage(1, "p.png", 1, 1, "p", img, 600, 300, "done", [], {})
    base.writer("pdf").write([page], tmp_path / "out", ExportOptions())
    pdf = _open(tmp_path / "out" / "p.pdf")
    try:
        w, h = pdf[0].get_size()
        res = dpi or DEFAULT_DPI
        assert w == pytest.approx(600 * 72 / res, abs=0.1) and h == pytest.approx(300 * 72 / res, abs=0.1)
        assert pdf[0].get_textpage().get_text_range() == ""
    finally:
        pdf.close()


def test_documents_are_written_one_at_a_time_as_pages_come(tmp_path):
    img = tmp_path / "p.png"
    img.write_bytes(image_bytes(3, (100, 80)))
    out = tmp_path / "out"
    seen = []

    def page(doc: str, stem: str, no: int, count: int, text: str) -> ExportPage:
        return ExportPage(no, doc, no, count, stem, img, 100, 80, "done",
                          [Line([(5.0, 5.0), (90.0, 5.0), (90.0, 25.0), (5.0, 25.0)], text)], {})

    def pages():
        yield page("scan.pdf", "scan-p001", 1, 2, "first")
        yield page("scan.pdf", "scan-p002", 2, 2, "second")
        # the next document starts only once the first is complete on disk
        assert (out / "scan.pdf").is_file() and seen == ["scan-p001", "scan-p002"]
        assert [p.name for p in out.iterdir()] == ["scan.pdf"]  # no temporary file left
        yield page("other.png", "other", 1, 1, "third")
        yield page("other.jpg", "other", 1, 1, "fourth")  # the same stem again: a file of its own

    n = base.writer("pdf").write(pages(), out, ExportOptions(), lambda k, stem: seen.append(stem))
    assert n == 4 and seen == ["scan-p001", "scan-p002", "other", "other"]
    assert sorted(p.name for p in out.iterdir()) == ["other.pdf", "other_2.pdf", "scan.pdf"]
    texts = {}
    for name in ("scan.pdf", "other.pdf", "other_2.pdf"):
        pdf = _open(out / name)
        try:
            texts[name] = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
        finally:
            pdf.close()
    assert texts == {"scan.pdf": ["first", "second"], "other.pdf": ["third"], "other_2.pdf": ["fourth"]}


def test_odd_texts_and_boxes_do_not_break_the_pdf(tmp_path):
    img = tmp_path / "p.png"
    img.write_bytes(image_bytes(3, (400, 300)))
    many = "".join(chr(0x1F300 + i) for i in range(0, 2100))  # more characters beyond the BMP than codes
    lines = [
        Line([(10.0, 10.0), (390.0, 10.0), (390.0, 40.0), (10.0, 40.0)], "tab\there \x00nul \ud800 lone"),
        Line([(10.0, 50.0), (10.0, 50.0), (10.0, 50.0), (10.0, 50.0)], "a point"),
        Line([(10.0, 60.0), (200.0, 60.0), (200.0, 60.0), (10.0, 60.0)], "no height"),
        Line([(10.0, 70.0), (390.0, 70.0), (390.0, 90.0), (10.0, 90.0)], ""),
        Line([(10.0, 100.0), (390.0, 100.0), (390.0, 130.0)], "three points"),
        Line([(390.0, 140.0), (10.0, 140.0), (10.0, 170.0), (390.0, 170.0)], "anticlockwise"),
        Line([(10.0, 200.0), (390.0, 200.0), (390.0, 290.0), (10.0, 290.0)], many),
    ]
    page = ExportPage(1, "p.png", 1, 1, "p", img, 400, 300, "done", lines, {})
    base.writer("pdf").write([page], tmp_path / "out", ExportOptions())
    pdf = _open(tmp_path / "out" / "p.pdf")
    try:
        text = pdf[0].get_textpage().get_text_range()
        assert " ".join(text.split()).startswith("tab here nul \ufffd lone")
        assert "three points" in text and "anticlockwise" in text
        assert "a point" not in text and "no height" not in text
        assert many[:2048] in text.replace("\r\n", "")
    finally:
        pdf.close()
