"""Real PDFs with a text layer for the tests, made with fpdf2 and the DejaVu Sans font (Debian's
fonts-dejavu-core): invoices with accents and currency signs, a label and its far-away value on
one row, a logo image, a scanned page with an invisible OCR layer, a text layer with a broken
Unicode map."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#: A4 in points.
PAGE = (595.0, 842.0)

#: What the invoice says, row by row: (left text, right text or None). The right texts stand at
#: the right margin, far from their labels: two lines each.
INVOICE_ROWS = [
    ("Müller & Söhne GmbH, Hauptstraße 5, 80331 München", None),
    ("Rechnung Nr. 2024-0815 vom 03.02.2024", None),
    ("Café crème (Größe L)", "12,50 €"),
    ("Thé à la menthe, Crêpe flambée", "8,90 €"),
    ("Consulting, London office", "£ 1,250.00"),
    ("Software licence, Bengaluru", "₹ 45,000"),
    ("Zwischensumme", "1.271,40 €"),
    ("Total:", "1.234,56 €"),
]
#: Where the rows are: x of the labels and of the values, y of the first baseline, row spacing.
LEFT_X, RIGHT_X, TOP_Y, ROW_DY = 56.0, 470.0, 90.0, 22.0
#: The logo: where it is on the page (points) and what it says.
LOGO_BOX = (360.0, 640.0, 560.0, 720.0)
LOGO_TEXT = "ACME Tools Ltd"


def _pdf():
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=PAGE)
    pdf.set_compression(False)  # tests edit the bytes (the broken Unicode map)
    pdf.add_font("DejaVu", "", FONT)
    return pdf


def _invoice_page(pdf, rows=INVOICE_ROWS, size: float = 11.0, dy: float = ROW_DY) -> None:
    pdf.add_page()
    pdf.set_font("DejaVu", size=size)
    for k, (left, right) in enumerate(rows):
        y = TOP_Y + k * dy
        pdf.text(LEFT_X, y, left)
        if right is not None:
            pdf.text(RIGHT_X, y, right)


def invoice_pdf(pages: int = 1, logo: bool = False, dense: bool = False) -> bytes:
    """An invoice of ``pages`` pages (each the rows of :data:`INVOICE_ROWS`; ``dense``: and 60 item
    rows more, a realistic full page), with the ACME logo (an image) at :data:`LOGO_BOX` when
    ``logo``."""
    pdf = _pdf()
    rows = list(INVOICE_ROWS)
    if dense:
        rows += [(f"Pos. {k:02d} Schraube M{k % 12 + 3} × {10 + k} mm, verzinkt (Güteklasse 8.8)", f"{k * 3.75:,.2f} €")
                 for k in range(1, 61)]
    for _ in range(pages):
        _invoice_page(pdf, rows, size=8.0 if dense else 11.0, dy=10.5 if dense else ROW_DY)
        if logo:
            x0, y0, x1, y1 = LOGO_BOX
            pdf.image(logo_image(), x=x0, y=y0, w=x1 - x0, h=y1 - y0)
    return bytes(pdf.output())


def logo_image(scale: int = 4) -> Image.Image:
    """The logo as a picture: the company's name in black letters (20 points high) on white."""
    x0, y0, x1, y1 = LOGO_BOX
    w, h = int((x1 - x0) * scale), int((y1 - y0) * scale)
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, int(h * 0.25))
    draw.text((w * 0.08, h * 0.3), LOGO_TEXT, fill="black", font=font)
    return img


def scanned_pdf() -> bytes:
    """A scanned page with an OCR layer: a picture of the text over the whole page, and the same
    words as invisible text (render mode 3) where the picture shows them."""
    scale = 2
    img = Image.new("RGB", (int(PAGE[0] * scale), int(PAGE[1] * scale)), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 11 * scale)
    for k, (left, right) in enumerate(INVOICE_ROWS):
        y = TOP_Y + k * ROW_DY - 9  # the top of the letters, a baseline at y
        draw.text((LEFT_X * scale, y * scale), left, fill="black", font=font)
        if right:
            draw.text((RIGHT_X * scale, y * scale), right, fill="black", font=font)
    pdf = _pdf()
    pdf.add_page()
    pdf.image(img, x=0, y=0, w=PAGE[0], h=PAGE[1])
    pdf.set_font("DejaVu", size=11)
    pdf.text_mode = "INVISIBLE"
    for k, (left, right) in enumerate(INVOICE_ROWS):
        y = TOP_Y + k * ROW_DY
        pdf.text(LEFT_X, y, left)
        if right:
            pdf.text(RIGHT_X, y, right)
    return bytes(pdf.output())


def broken_unicode_pdf() -> bytes:
    """The invoice with its font's ToUnicode map pointing every glyph at a private-use code point:
    PDFium reads glyphs without a usable Unicode value (a damaged text layer). Same byte length, so
    the cross-reference table stays right."""
    data = invoice_pdf()
    start = data.index(b"beginbfchar")
    end = data.index(b"endbfchar", start)
    body = re.sub(rb"(<[0-9A-Fa-f]{4}> )<[0-9A-Fa-f]{2}([0-9A-Fa-f]{2})>", rb"\1<E0\2>", data[start:end])
    assert body != data[start:end]
    return data[:start] + body + data[end:]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
