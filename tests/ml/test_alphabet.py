"""The alphabet real invoices use: Tesseract's language data per project, the recogniser's Latin
cut (₹, Latin Extended-A), and the detector reading small print at the page's own text size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.project import Project
from ml import tess
from ml.engines import get_engine
from ml.neural.detector import DetectConfig, page_char_height, resize_for_detection, to_bgr
from ml.neural.models import BASE_MODEL, load_spec, model_dir
from ml.recognize import RecognizeConfig, recognize_boxes
from ml.training.active import TESSERACT_LANGUAGES, engine_config

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
INVOICES = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "invoices-dev"


def line_image(text: str, size: int = 30) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A gray line with ``text`` and its ink box (4 px margin)."""
    font = ImageFont.truetype(FONT, size)
    im = Image.new("L", (40 + int(font.getlength(text)), size * 2), 255)
    ImageDraw.Draw(im).text((10, size // 3), text, font=font, fill=0)
    g = np.array(im)
    ys, xs = np.nonzero(g < 128)
    return g, (int(xs.min()) - 4, int(ys.min()) - 4, int(xs.max()) + 4, int(ys.max()) + 4)


def test_the_combined_engine_reads_umlauts_and_eszett_with_german_data():
    from ml.neural.combined import CombinedConfig

    gray, box = line_image("Müllerstraße 12, Größe")
    cfg = CombinedConfig().tesseract
    assert cfg.lang == "deu+eng"
    assert recognize_boxes(gray, [box], cfg)[0][0] == "Müllerstraße 12, Größe"
    # English data alone has no ß and no umlauts: what the second opinion used to read.
    eng = recognize_boxes(gray, [box], RecognizeConfig(lang="eng"))[0][0]
    assert "ß" not in eng and "ü" not in eng


def test_languages_are_checked_against_the_installed_data():
    assert tess.check_languages(" deu + eng ") == "deu+eng"
    assert {"eng", "deu"} <= set(tess.installed_languages())
    with pytest.raises(ValueError, match="not installed"):
        tess.check_languages("xyz")
    with pytest.raises(ValueError):
        tess.check_languages("")


def test_a_projects_languages_reach_the_engines_that_read_with_tesseract(tmp_path):
    project = Project.create(tmp_path / "p")
    try:
        assert engine_config(project, "classical") is None  # nothing chosen: the engines' default
        project.store.set_setting(TESSERACT_LANGUAGES, "eng")
        assert engine_config(project, "classical") == {"recognize": {"lang": "eng"}}
        assert engine_config(project, "combined")["tesseract"] == {"lang": "eng"}
        # What the caller gives wins; engines without Tesseract are left alone.
        assert engine_config(project, "classical", {"recognize": {"lang": "deu"}})["recognize"]["lang"] == "deu"
        assert engine_config(project, "neural") is None
        assert get_engine("classical", engine_config(project, "classical")).version.endswith(
            "tessdata_fast-eng; classical 1.0")
    finally:
        project.close()


def test_prefill_languages_flag_sets_the_project_setting(tmp_path, capsys):
    from app.cli import main

    Project.create(tmp_path / "p").close()
    assert main(["prefill", str(tmp_path / "p"), "--languages", "klingon"]) != 0
    assert "not installed" in capsys.readouterr().err
    assert main(["prefill", str(tmp_path / "p"), "--languages", "eng+deu", "--quiet"]) == 0
    project = Project.open(tmp_path / "p")
    try:
        assert project.store.get_setting(TESSERACT_LANGUAGES) == "eng+deu"
    finally:
        project.close()


def test_the_latin_recogniser_has_the_rupee_and_central_european_letters():
    charset = set(load_spec(model_dir(BASE_MODEL, "rec-latin")).charset)
    assert {"₹", "€", "£", "¥", "ß", "ä", "é", "Š", "ł", "ř", "ț"} <= charset
    gray, box = line_image("Total: ₹ 4,500.00")
    text = get_engine("neural").recognize_crops(np.stack([gray] * 3, -1), [box])[0][0]
    assert text == "Total: ₹ 4,500.00"


def test_the_detector_scales_small_print_up_to_a_readable_size():
    cfg = DetectConfig()
    # An A4 page at 200 dpi with 15-pixel characters: 960 pixels would make them 6 high.
    assert resize_for_detection((2339, 1653), DetectConfig(char_px=0)) == (960, 672)
    h, w = resize_for_detection((2339, 1653), cfg, 32, char_h=15.0)
    assert 1850 <= h <= 1900  # scale 12 / 15 = 0.8
    # Big print is not scaled up past max_side's size, and never past the page's own size.
    assert resize_for_detection((2339, 1653), cfg, 32, char_h=40.0) == (960, 672)
    assert resize_for_detection((1000, 700), cfg, 32, char_h=4.0) == (992, 704)
    page = np.array(Image.open(INVOICES / "fnfe-facture-fr.png").convert("RGB"))
    assert 11 <= page_char_height(to_bgr(page)) <= 20


def test_small_print_lines_of_an_invoice_page_are_found():
    """The footer of an A4 invoice at 200 dpi (7-point print): at the old fixed 960 pixels the
    detector merged or lost most of these lines."""
    ref = json.loads((INVOICES / "fnfe-facture-fr.json").read_text(encoding="utf-8"))
    page = np.array(Image.open(INVOICES / ref["image"]).convert("RGB"))
    from core.scoring import match_lines

    refs = [np.array(ln["box"], float).reshape(4, 2) for ln in ref["lines"]]
    found = {}
    for name, cfg in (("fixed", {"detect": {"char_px": 0}}), ("own size", None)):
        boxes = [b for b, _ in get_engine("neural", cfg).model.detector.detect(page)]
        found[name] = len(match_lines(boxes, refs, rect=True)) / len(refs)
    assert found["own size"] >= 0.93
    assert found["own size"] > found["fixed"] + 0.05


def test_currency_signs_and_accented_letters_are_scored_one_by_one():
    from core.scoring import score_text, special_counts

    assert special_counts("Straße 4,55 €", "Strasse 4,55 E") == (1, 0, 1, 0)
    assert special_counts("Fälligkeit ₹ 5 $", "Fälligkeit 5 $") == (2, 1, 1, 1)
    assert special_counts("Total", "Tota1") == (0, 0, 0, 0)
    s = score_text([("Größe €", "Größe €"), ("Größe €", "Grosse E")]).summary()
    assert (s["currency"], s["currency_right"], s["accented"], s["accented_right"]) == (2, 0.5, 4, 0.5)


def invoice_table_page() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """An A4 page at 200 dpi with a table in 8-point print: item, a lone quantity, a price. Returns
    the page and the boxes of the six quantities."""
    font = ImageFont.truetype(FONT, 18)
    im = Image.new("L", (1653, 2339), 255)
    draw = ImageDraw.Draw(im)
    draw.text((120, 200), "Rechnung Nr. RE-2024-0815 vom 13.11.2024", font=font, fill=0)
    quantities = []
    for row, item in enumerate(["Schrauben M4 verzinkt", "Dübel 6 mm", "Winkel 40 x 40", "Kabelbinder schwarz",
                                "Isolierband rot", "Klemme 3-polig"]):
        y = 400 + 60 * row
        draw.text((120, y), item, font=font, fill=0)
        draw.text((1000, y), "1", font=font, fill=0)
        x0, y0, x1, y1 = draw.textbbox((1000, y), "1", font=font)
        quantities.append((x0, y0, x1, y1))
        draw.text((1350, y), f"{12 + row},50 €", font=font, fill=0)
    return np.array(im), quantities


def test_lone_quantities_in_a_table_are_found_and_read():
    page, quantities = invoice_table_page()
    rgb = np.stack([page] * 3, -1)
    def found(cfg) -> int:
        """Quantities with a region of their own (holding the glyph, not its row) read as 1."""
        regions = get_engine("combined", cfg).predict(rgb).regions
        hits = 0
        for x0, y0, x1, y1 in quantities:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            for r in regions:
                p = np.asarray(r.points)
                if (p[:, 0].min() <= cx <= p[:, 0].max() and p[:, 1].min() <= cy <= p[:, 1].max()
                        and p[:, 0].max() - p[:, 0].min() < 4 * (x1 - x0) and r.text == "1"):
                    hits += 1
                    break
        return hits

    assert found(None) == 6
    assert found({"neural": {"detect": {"char_px": 0}}}) <= 2  # at the old fixed 960 pixels: none


@pytest.mark.parametrize("turn", [1, 3])  # np.rot90 k: 1 = reads bottom-to-top, 3 = top-to-bottom
def test_vertical_text_in_a_margin_is_read_whichever_way_it_runs(turn):
    """Invoice margins print notes turned a quarter either way; a tall box is read both ways and the
    confident reading kept (the crop used to be turned one way only, and padded by its long side)."""
    gray, (x0, y0, x1, y1) = line_image("Beispielrechnung Seite 2")
    page = np.full((gray.shape[1] + 40, gray.shape[0] + 200), 255, np.uint8)
    turned = np.rot90(gray, turn)
    page[20:20 + turned.shape[0], 100:100 + turned.shape[1]] = turned
    h, w = gray.shape
    corners = {1: (y0, w - x1, y1, w - x0), 3: (h - y1, x0, h - y0, x1)}[turn]   # the ink box, turned
    box = (100 + corners[0], 20 + corners[1], 100 + corners[2], 20 + corners[3])
    assert box[3] - box[1] > 3 * (box[2] - box[0])
    text = get_engine("neural").recognize_crops(np.stack([page] * 3, -1), [box])[0][0]
    assert text == "Beispielrechnung Seite 2"


def _loose_line(text: str, size: int = 24):
    """A page with one line of ``text``, its ink box and a loose box around it (half the line's
    height of white on every side: what the detector's unclipped boxes look like)."""
    g, (x0, y0, x1, y1) = line_image(text, size)
    page = np.full((g.shape[0] + 80, g.shape[1] + 80), 255, np.uint8)
    page[40:40 + g.shape[0], 40:40 + g.shape[1]] = g
    ink = (x0 + 44, y0 + 44, x1 + 36, y1 + 36)  # line_image's box has a 4 px margin
    h = ink[3] - ink[1]
    return np.stack([page] * 3, -1), ink, (ink[0] - h // 2, ink[1] - h // 2, ink[2] + h // 2, ink[3] + h // 2)


@pytest.mark.parametrize("text", ["Seite 1 von 2", "4,55 €", "Page 1 / 1"])
def test_a_loose_box_is_read_as_the_ink_it_holds(text):
    """The recogniser cuts its crop around a region's ink: a loose detector box made its text small
    in the crop and its narrow spaces vanished (``Seite1``, ``4,55€`` on invoices-dev)."""
    from ml.neural.recognizer import box_to_quad, fit_to_ink

    rgb, ink, loose = _loose_line(text)
    q = fit_to_ink(rgb, box_to_quad(loose))
    assert np.allclose([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], ink, atol=2)
    assert get_engine("neural").recognize_crops(rgb, [loose])[0][0] == text


def test_fitting_to_ink_keeps_slant_and_leaves_specks_and_blank_regions_alone():
    from ml.neural.recognizer import box_to_quad, fit_to_ink

    rgb, ink, loose = _loose_line("Rechnung")
    blank = np.full_like(rgb, 255)
    assert np.allclose(fit_to_ink(blank, box_to_quad(loose)), box_to_quad(loose))  # nothing to find
    dash = rgb.copy()
    dash[:] = 255
    dash[60:62, 50:90] = 0  # a rule 2 px thick in a box 30 px tall: kept as it is
    assert np.allclose(fit_to_ink(dash, box_to_quad((45, 45, 95, 75))), box_to_quad((45, 45, 95, 75)))
    # A slanted region (its top edge rises 6 px over its length) is trimmed along its own axes.
    x0, y0, x1, y1 = loose
    slanted = [[x0, y0 + 6], [x1, y0], [x1, y1], [x0, y1 + 6]]
    q = fit_to_ink(rgb, slanted)
    assert q[0, 1] - q[1, 1] == pytest.approx(6 * (q[1, 0] - q[0, 0]) / (x1 - x0), abs=0.5)


def test_vertical_text_gets_no_second_opinion_from_tesseract():
    """Tesseract reads a box as one horizontal line: a margin note running down came back as ``|``
    and, where the recogniser was unsure of one character, replaced the whole right reading."""
    from ml.neural.combined import CombinedEngine
    from ml.neural.recognizer import box_to_quad

    gray, (x0, y0, x1, y1) = line_image("Beispielrechnung Seite 2")
    page = np.full((gray.shape[1] + 40, gray.shape[0] + 200), 255, np.uint8)
    turned = np.rot90(gray, 1)
    page[20:20 + turned.shape[0], 100:100 + turned.shape[1]] = turned
    h, w = gray.shape
    box = (100 + y0, 20 + w - x1, 100 + y1, 20 + w - x0)
    eng = CombinedEngine({"second_opinion": "all"})
    rgb = np.stack([page] * 3, -1)
    readings, _ = eng.readings(rgb, [np.asarray(box_to_quad(box), dtype=np.float64)])
    assert readings[0].neural == "Beispielrechnung Seite 2" and readings[0].tesseract is None
    # A horizontal line beside it still gets one.
    line, lbox = line_image("Rechnung")
    readings, _ = eng.readings(np.stack([line] * 3, -1), [np.asarray(box_to_quad(lbox), dtype=np.float64)])
    assert readings[0].tesseract
