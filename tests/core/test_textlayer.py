"""A born-digital PDF page's text layer: read exactly, grouped as a person would box it, judged
usable or not, kept with the page at import (issue 17)."""

from __future__ import annotations

import time

import numpy as np
import pypdfium2 as pdfium
import pytest

from core import importer
from core.importer import ImportOptions, import_paths
from core.migrate import migrate
from core.project import Project
from core.textlayer import MIN_GLYPHS, TextLayer, TextLine, extract_text_layer
from tests.pdfs import (
    FONT,
    INVOICE_ROWS,
    LEFT_X,
    LOGO_BOX,
    PAGE,
    RIGHT_X,
    broken_unicode_pdf,
    invoice_pdf,
    scanned_pdf,
    write,
)

#: The store keeps text layers the same way in a project folder and on a team server.
BOTH_BACKENDS = True

SCALE = 200 / 72  # pixels per point: the dataset's 200 dpi
EXPECTED = [t for row in INVOICE_ROWS for t in row if t]


def layer_of(data: bytes, page_no: int = 0, scale: float = SCALE) -> tuple[TextLayer, np.ndarray]:
    """The text layer of a page and the page rendered at ``scale`` (gray)."""
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[page_no]
        image = page.render(scale=scale, grayscale=True).to_numpy()
        return extract_text_layer(page, scale, (image.shape[1], image.shape[0])), image
    finally:
        pdf.close()


def _fpdf():
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=PAGE)
    pdf.add_font("DejaVu", "", FONT)
    pdf.add_page()
    pdf.set_font("DejaVu", size=11)
    return pdf


# -- reading the text layer ---------------------------------------------------------------------
def test_accents_and_currency_signs_come_out_exactly():
    layer, _ = layer_of(invoice_pdf())
    assert layer.usable and layer.reason == ""
    assert [ln.text for ln in layer.lines] == EXPECTED
    text = " ".join(ln.text for ln in layer.lines)
    for ch in "üéßöàê€£₹":
        assert ch in text
    assert layer.glyphs == sum(len(t.replace(" ", "")) for t in EXPECTED)
    assert layer.source.startswith("pdfium-") and "textlayer-" in layer.source


def test_a_label_and_a_far_away_value_on_one_row_are_two_lines():
    layer, _ = layer_of(invoice_pdf())
    by_text = {ln.text: ln.bounds() for ln in layer.lines}
    label, value = by_text["Total:"], by_text["1.234,56 €"]
    # One row (their boxes share the line's height), far apart, each where it was written.
    assert min(label[3], value[3]) - max(label[1], value[1]) > 0.8 * (label[3] - label[1])
    assert value[0] - label[2] > 100
    assert abs(label[0] - LEFT_X * SCALE) < 6 and abs(value[0] - RIGHT_X * SCALE) < 6  # padding: 0.1 em
    # Words of one phrase stay one line, with their spaces.
    assert "Thé à la menthe, Crêpe flambée" in by_text


def _ink(image: np.ndarray) -> np.ndarray:
    return image < 128


@pytest.mark.parametrize("rotate", [0, 90])
def test_line_boxes_sit_on_the_ink_of_the_rendered_page(rotate):
    """Every line box holds ink, and the boxes hold all the ink of the page (nothing unboxed), in
    the pixels of the page as rendered: a page with /Rotate too."""
    data = invoice_pdf()
    if rotate:
        pdf = pdfium.PdfDocument(data)
        pdf[0].set_rotation(rotate)
        import io

        buf = io.BytesIO()
        pdf.save(buf)
        data = buf.getvalue()
    layer, image = layer_of(data)
    if rotate:
        assert image.shape[1] > image.shape[0]  # landscape
    ink = _ink(image)
    covered = np.zeros_like(ink)
    for ln in layer.lines:
        x0, y0, x1, y1 = (int(round(v)) for v in ln.bounds())
        assert ink[y0:y1, x0:x1].sum() > 20, ln
        covered[max(y0, 0):y1, max(x0, 0):x1] = True
    assert (ink & ~covered).sum() <= 0.001 * ink.sum()
    assert [ln.text for ln in layer.lines] == EXPECTED


def test_vertical_text_is_a_tall_line_whose_corners_start_at_the_texts_top_left():
    pdf = _fpdf()
    pdf.text(56, 90, "An invoice line that reads left to right, as usual")
    with pdf.rotation(90, 30, 700):
        pdf.text(30, 700, "Printed by Acme Print Services")  # up the left margin
    with pdf.rotation(-90, 570, 200):
        pdf.text(570, 200, "Archived copy, do not pay")  # down the right margin
    layer, image = layer_of(bytes(pdf.output()))
    by_text = {ln.text: ln for ln in layer.lines}
    up, down = by_text["Printed by Acme Print Services"], by_text["Archived copy, do not pay"]
    for ln in (up, down):
        x0, y0, x1, y1 = ln.bounds()
        assert y1 - y0 > 5 * (x1 - x0)  # tall
        assert _ink(image)[int(y0):int(y1), int(x0):int(x1)].sum() > 100
    # Text reading upwards starts at the bottom left; reading downwards, at the top right.
    x0, y0, x1, y1 = up.bounds()
    assert up.points[0] == pytest.approx((x0, y1)) and up.points[1] == pytest.approx((x0, y0))
    x0, y0, x1, y1 = down.bounds()
    assert down.points[0] == pytest.approx((x1, y0)) and down.points[1] == pytest.approx((x1, y1))


def test_a_scanned_page_with_an_invisible_ocr_layer_is_not_usable():
    layer, _ = layer_of(scanned_pdf())
    assert not layer.usable and "invisible" in layer.reason
    assert layer.glyphs == 0 and layer.lines == () and layer.stats["invisible"] > 100
    # The scan itself is an image area: the whole page.
    ((x0, y0, x1, y1),) = layer.image_areas
    assert x0 <= 1 and y0 <= 1 and x1 >= PAGE[0] * SCALE - 2 and y1 >= PAGE[1] * SCALE - 2


def test_a_text_layer_with_a_broken_unicode_map_is_not_usable():
    layer, _ = layer_of(broken_unicode_pdf())
    assert not layer.usable and "no usable Unicode value" in layer.reason
    assert layer.stats["unmapped"] > 100 and not layer.lines


def test_a_page_with_a_few_words_only_is_not_usable():
    pdf = _fpdf()
    pdf.text(56, 90, "Seite 1 von 2")
    layer, _ = layer_of(bytes(pdf.output()))
    assert not layer.usable and f"fewer than {MIN_GLYPHS}" in layer.reason
    assert [ln.text for ln in layer.lines] == ["Seite 1 von 2"]


def test_fake_bold_duplicates_are_dropped():
    pdf = _fpdf()
    for dx in (0, 0.25, 0.5):  # bold by drawing the words three times, a fraction of a point apart
        pdf.text(56 + dx, 90, "RECHNUNG Nr. 4711 an Müller")
    # A word made bold by drawing it again over a longer text (PDFium's own check compares whole
    # text objects, which differ here).
    pdf.text(56, 120, "Betrag fällig bis zum 31.03.2024")
    pdf.text(56.3, 120, "Betrag")
    layer, _ = layer_of(bytes(pdf.output()))
    assert [ln.text for ln in layer.lines] == ["RECHNUNG Nr. 4711 an Müller", "Betrag fällig bis zum 31.03.2024"]
    assert layer.stats["duplicates"] == len("Betrag")
    assert layer.glyphs == len("RECHNUNGNr.4711anMüllerBetragfälligbiszum31.03.2024")


def test_image_areas_are_found_in_the_page_and_inside_form_xobjects():
    layer, _ = layer_of(invoice_pdf(logo=True))
    assert layer.usable and [ln.text for ln in layer.lines] == EXPECTED
    ((x0, y0, x1, y1),) = layer.image_areas
    assert (x0, y0, x1, y1) == pytest.approx(tuple(v * SCALE for v in LOGO_BOX), abs=2)
    # The same page placed on another page as a Form XObject, half size, moved.
    src = pdfium.PdfDocument(invoice_pdf(logo=True))
    dst = pdfium.PdfDocument.new()
    page = dst.new_page(*PAGE)
    obj = src.page_as_xobject(0, dst).as_pageobject()
    obj.transform(pdfium.PdfMatrix().scale(0.5, 0.5).translate(100, 50))
    page.insert_obj(obj)
    page.gen_content()
    import io

    buf = io.BytesIO()
    dst.save(buf)
    layer, image = layer_of(buf.getvalue())
    ((x0, y0, x1, y1),) = layer.image_areas
    # PDF y points up: the logo's top in the page is at 842 - 640 points, halved, lifted by 50.
    top = PAGE[1] - (0.5 * (PAGE[1] - LOGO_BOX[1]) + 50)
    assert (x0, y0) == pytest.approx(((0.5 * LOGO_BOX[0] + 100) * SCALE, top * SCALE), abs=2)
    assert (x1 - x0, y1 - y0) == pytest.approx((100 * SCALE, 40 * SCALE), abs=2)
    assert _ink(image)[int(y0):int(y1), int(x0):int(x1)].sum() > 500  # the logo's letters are there


def test_reading_a_dense_page_takes_well_under_a_fifth_of_a_second():
    """A full invoice page (about 3,300 glyphs, 134 lines): CPU seconds, so that other work on the
    machine does not count."""
    pdf = pdfium.PdfDocument(invoice_pdf(pages=3, dense=True))
    try:
        best = []
        for i in range(3):
            page = pdf[i]
            t0 = time.process_time()
            layer = extract_text_layer(page, 300 / 72)
            best.append(time.process_time() - t0)
            page.close()
            assert layer.usable and len(layer.lines) == 134
    finally:
        pdf.close()
    assert min(best) < 0.2, best


# -- kept with the page ----------------------------------------------------------------------------
def test_import_keeps_each_pdf_pages_text_layer_with_the_page(project, tmp_path, make_image):
    pdf = write(tmp_path / "invoice.pdf", invoice_pdf(pages=2, logo=True))
    img = write(tmp_path / "receipt.png", make_image(1, size=(64, 48)))
    summary = import_paths(project, [pdf, img], ImportOptions(dpi=200))
    assert not summary.failures and summary.pages == 3
    store = project.store
    pages = {p.name: p for p in store.pages()}
    for n in (1, 2):
        page = pages[f"invoice.pdf p.{n}"]
        layer = store.text_layer(page.id)
        assert layer is not None and layer.usable and [ln.text for ln in layer.lines] == EXPECTED
        # In the pixels of the stored page image: what reading it from the PDF at 200 dpi gives.
        fresh, image = layer_of(pdf.read_bytes(), n - 1, 200 / 72)
        assert (page.width, page.height) == (image.shape[1], image.shape[0])
        assert [ln.points for ln in layer.lines] == [
            tuple((round(x, 2), round(y, 2)) for x, y in ln.points) for ln in fresh.lines]
        assert layer.image_areas == tuple(tuple(round(v, 2) for v in a) for a in fresh.image_areas)
        assert layer.glyphs == fresh.glyphs and layer.source == fresh.source
    assert store.text_layer(pages["receipt.png"].id) is None
    assert store.text_layer_pages() == {pages["invoice.pdf p.1"].id: (True, True),
                                        pages["invoice.pdf p.2"].id: (True, True)}


def test_a_text_layer_is_stored_and_replaced_as_it_is(project, tmp_path):
    import_paths(project, [write(tmp_path / "a.pdf", invoice_pdf())], ImportOptions(dpi=72))
    page = project.store.pages()[0]
    layer = TextLayer(lines=(TextLine(((1.0, 2.0), (30.5, 2.0), (30.5, 12.25), (1.0, 12.25)), "₹ 45,000 ü ß"),),
                      image_areas=((5.0, 6.0, 70.0, 80.0),), glyphs=9, usable=False, reason="why not",
                      source="pdfium-1 textlayer-1", stats={"invisible": 3})
    project.store.set_text_layer(page.id, layer)
    assert project.store.text_layer(page.id) == layer
    again = TextLayer(lines=(), image_areas=(), glyphs=0, usable=False, reason="gone", source="pdfium-2 textlayer-1")
    project.store.set_text_layer(page.id, again)
    assert project.store.text_layer(page.id) == again
    project.store.set_text_layer(page.id, layer)
    assert project.store.text_layer(page.id) == layer
    assert project.store.text_layer_pages([page.id, 999]) == {page.id: (False, True)}


def test_a_damaged_text_layer_never_fails_the_import(project, tmp_path, monkeypatch):
    # A font whose Unicode map is broken: imported, its layer kept as not usable, with the reason.
    broken = write(tmp_path / "broken.pdf", broken_unicode_pdf())
    summary = import_paths(project, [broken])
    assert not summary.failures and summary.pages == 1
    layer = project.store.text_layer(project.store.pages()[0].id)
    assert layer is not None and not layer.usable and "Unicode" in layer.reason

    # PDFium failing on the text page: the page is imported without a text layer.
    def fails(page, scale, size=None):
        raise pdfium.PdfiumError("Failed to load text page.")

    monkeypatch.setattr(importer, "extract_text_layer", fails)
    summary = import_paths(project, [write(tmp_path / "invoice.pdf", invoice_pdf(pages=2))])
    assert not summary.failures and summary.pages == 2
    new = [p for p in project.store.pages() if p.name.startswith("invoice.pdf")]
    assert len(new) == 2 and all(project.store.text_layer(p.id) is None for p in new)

    # Imported again once the text layer can be read: the duplicate gets its text layers.
    monkeypatch.undo()
    summary = import_paths(project, [tmp_path / "invoice.pdf"])
    assert summary.duplicates == [str(tmp_path / "invoice.pdf")] and summary.pages == 0
    assert all(project.store.text_layer(p.id).lines for p in new)


def test_text_layers_travel_with_a_project_to_a_server_and_back(tmp_path, pg_database):
    folder = Project.create(tmp_path / "folder")
    try:
        import_paths(folder, [write(tmp_path / "invoice.pdf", invoice_pdf(logo=True))], ImportOptions(dpi=100))
        page = folder.store.pages()[0]
        layer = folder.store.text_layer(page.id)
    finally:
        folder.close()
    assert layer is not None and layer.usable
    url = pg_database + "/moved"
    report = migrate(tmp_path / "folder", url)
    assert report.counts["text_layers"] == 1
    server = Project.open(url)
    try:
        assert server.store.text_layer(page.id) == layer
    finally:
        server.close()
    migrate(url, tmp_path / "back")
    back = Project.open(tmp_path / "back")
    try:
        assert back.store.text_layer(page.id) == layer
    finally:
        back.close()


def test_an_annotator_on_a_team_server_imports_a_pdf_with_its_text_layer(pg_database, tmp_path):
    """The server's grants: whoever may import writes a page's text layer with it, and reads it."""
    from core import team
    from core.model import Role
    from tests.core.test_team_roles import PASSWORDS, drop_team_roles, login

    drop_team_roles(pg_database)
    try:
        team.server_init(pg_database, "lead", PASSWORDS["lead"])
        Project.create(login(pg_database, "lead") + "/acme").close()
        team.add_member(login(pg_database, "lead") + "/acme", "ana", Role.ANNOTATOR, PASSWORDS["ana"])
        ana = Project.open(login(pg_database, "ana") + "/acme")
        try:
            summary = import_paths(ana, [write(tmp_path / "invoice.pdf", invoice_pdf())], ImportOptions(user="ana"))
            assert not summary.failures and summary.pages == 1
            layer = ana.store.text_layer(ana.store.pages()[0].id)
            assert layer is not None and layer.usable and [ln.text for ln in layer.lines] == EXPECTED
        finally:
            ana.close()
    finally:
        drop_team_roles(pg_database)
