"""Text layer first (issue 17): a born-digital PDF page is pre-filled from its own text layer,
its images by the OCR engine, and everything else as before."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from core.importer import ImportOptions, import_paths
from core.model import PageStatus, quad_bounds
from core.prefill_engine import set_prefill_engine
from ml.engines import ENGINES, get_engine
from ml.prediction import load_image
from ml.prefill import TEXT_LAYER_SETTING, follow_prefill, plan_prefill, prefill_project
from tests.pdfs import INVOICE_ROWS, LOGO_BOX, invoice_pdf, scanned_pdf, write

#: Pre-fill writes the same predictions into a project folder and a team server.
BOTH_BACKENDS = True

EXPECTED = [t for row in INVOICE_ROWS for t in row if t]


def _import(project, tmp_path, name: str, data: bytes, dpi: int = 150) -> list[int]:
    summary = import_paths(project, [write(tmp_path / name, data)], ImportOptions(dpi=dpi))
    assert not summary.failures
    doc = summary.document_ids[0]
    return [p.id for p in project.store.pages_of(doc)]


def test_a_pdf_page_is_prefilled_from_its_text_layer_without_ocr_or_a_worker(project, tmp_path):
    ids = _import(project, tmp_path, "invoice.pdf", invoice_pdf(pages=2))
    children = []
    # The project's engine (combined, the default) and workers: nothing of it is started.
    summary = prefill_project(project, workers=2,
                              on_page=lambda pid: children.append(multiprocessing.active_children()))
    assert sorted(summary.done) == sorted(ids) == sorted(summary.text_layer) and not summary.failures
    assert children == [[], []]  # no worker process was ever there
    assert summary.lines()[0] == "pre-filled 2 page(s) from their PDF text layer"
    for pid in ids:
        (pred,) = project.store.predictions(pid)
        assert pred.engine == "textlayer" and pred.engine_version.startswith("pdfium-")
        assert pred.config == {"source": "pdf text layer", "recipe": 1} and pred.model_version is None
        assert [r.text for r in pred.regions] == EXPECTED and {r.confidence for r in pred.regions} == {1.0}
        regions = project.store.regions(pid)
        assert sorted(r.text for r in regions) == sorted(EXPECTED)
        assert all(r.confidence == 1.0 and r.origin == "prediction" and r.prediction_id == pred.id for r in regions)
        assert project.store.get_page(pid).status == PageStatus.PREFILLED
    # Resumable: the same pages again are skipped.
    plan = plan_prefill(project, ids)
    assert plan.todo == [] and sorted(plan.skipped) == sorted(ids)


def test_text_inside_an_image_is_read_by_ocr_and_only_there(project, tmp_path):
    (pid,) = _import(project, tmp_path, "logo.pdf", invoice_pdf(logo=True))
    set_prefill_engine(project.store, "classical")
    plan = plan_prefill(project)
    assert plan.engine == "classical" and plan.text_layer == {pid: True}
    summary = prefill_project(project, workers=0)
    assert summary.done == [pid] == summary.text_layer and not summary.failures and not summary.warnings
    (pred,) = project.store.predictions(pid)
    assert pred.engine == "textlayer" and pred.config["ocr"] == "classical"
    ocr_hash = get_engine("classical").config_hash
    assert pred.config["ocr_config_hash"] == ocr_hash
    # The text layer's lines, then what OCR read inside the logo, nothing else of OCR's.
    lines, extra = pred.regions[:len(EXPECTED)], pred.regions[len(EXPECTED):]
    assert [r.text for r in lines] == EXPECTED and {r.confidence for r in lines} == {1.0}
    assert extra and any("ACME" in r.text for r in extra)
    layer = project.store.text_layer(pid)
    ((ax0, ay0, ax1, ay1),) = layer.image_areas
    assert (ax0, ay0, ax1, ay1) == pytest.approx(tuple(v * 150 / 72 for v in LOGO_BOX), abs=2)
    for r in extra:
        x0, y0, x1, y1 = quad_bounds(r.points)
        assert ax0 - 2 <= x0 and ay0 - 2 <= y0 and x1 <= ax1 + 2 and y1 <= ay1 + 2, r
        assert r.confidence < 1.0
    # OCR read the body text too: none of it came in beside the text layer's lines.
    from ml.prefill import to_core_prediction

    page = project.store.get_page(pid)
    ocr = get_engine("classical").predict(load_image(str(project.image_path(page))))
    assert len(to_core_prediction(pid, ocr).regions) > len(extra) + 5
    # Resumable with the same OCR engine and config; another OCR engine reads the images again.
    assert plan_prefill(project, [pid]).skipped == [pid]
    assert plan_prefill(project, [pid], engine="textlayer").skipped == [pid]


def test_a_scanned_pdf_with_an_invisible_ocr_layer_goes_to_ocr(project, tmp_path):
    (pid,) = _import(project, tmp_path, "scan.pdf", scanned_pdf(), dpi=100)
    layer = project.store.text_layer(pid)
    assert layer is not None and not layer.usable
    set_prefill_engine(project.store, "classical")
    plan = plan_prefill(project)
    assert plan.todo == [pid] and plan.text_layer == {}
    summary = prefill_project(project, workers=0)
    assert summary.done == [pid] and summary.text_layer == []
    assert summary.lines()[0] == "pre-filled 1 page(s) with classical"
    (pred,) = project.store.predictions(pid)
    assert pred.engine == "classical"


def test_the_project_can_turn_text_layer_first_off_and_a_run_can_ask_for_it(project, tmp_path, make_image):
    (pid,) = _import(project, tmp_path, "invoice.pdf", invoice_pdf(), dpi=100)
    img = import_paths(project, [write(tmp_path / "photo.png", make_image(3, size=(120, 80)))]).document_ids[0]
    (img_id,) = [p.id for p in project.store.pages_of(img)]
    set_prefill_engine(project.store, "classical")
    project.store.set_setting(TEXT_LAYER_SETTING, False)
    plan = plan_prefill(project)
    assert sorted(plan.todo) == sorted([pid, img_id]) and plan.text_layer == {} and not plan.text_layer_first
    # Named engines read every page themselves; "textlayer" named turns it on for this run.
    assert plan_prefill(project, engine="classical").text_layer == {}
    plan = plan_prefill(project, engine="textlayer")
    assert plan.engine == "classical" and plan.text_layer == {pid: False}
    summary = prefill_project(project, engine="textlayer", workers=0)
    assert sorted(summary.done) == sorted([pid, img_id]) and summary.text_layer == [pid]
    assert summary.lines()[0] == "pre-filled 2 page(s): 1 with classical, 1 from their PDF text layer"
    assert [p.engine for p in project.store.predictions(pid)] == ["textlayer"]
    assert [p.engine for p in project.store.predictions(img_id)] == ["classical"]
    # Back on: the PDF page is pre-filled by its text layer already, the image by classical.
    project.store.set_setting(TEXT_LAYER_SETTING, True)
    plan = plan_prefill(project, [pid, img_id])
    assert plan.todo == [] and sorted(plan.skipped) == sorted([pid, img_id])


def test_follow_prefill_takes_text_layer_pages_too(project, tmp_path, make_image):
    ids = _import(project, tmp_path, "invoice.pdf", invoice_pdf(pages=3), dpi=100)
    import_paths(project, [write(tmp_path / "photo.png", make_image(5, size=(120, 80)))])
    img_id = next(p.id for p in project.store.pages() if p.id not in ids)
    set_prefill_engine(project.store, "classical")
    seen = []
    summary = follow_prefill(project, workers=0, batch=2, until_idle=True, on_page=seen.append,
                             cancel=threading.Event())
    assert sorted(summary.done) == sorted([*ids, img_id]) == sorted(seen) and not summary.failures
    assert sorted(summary.text_layer) == sorted(ids)
    for pid in ids:
        (pred,) = project.store.predictions(pid)
        assert pred.engine == "textlayer" and [r.text for r in pred.regions] == EXPECTED
    assert [p.engine for p in project.store.predictions(img_id)] == ["classical"]
    assert project.store.query("SELECT COUNT(*) FROM leases")[0][0] == 0


def test_the_textlayer_engine_reads_a_plain_image_with_its_ocr_engine(make_image):
    """``--engine textlayer`` and ``eval`` know it; an image has no text layer, so it reads with
    its OCR engine (combined unless configured)."""
    assert "textlayer" in ENGINES
    from PIL import Image, ImageDraw, ImageFont

    from tests.pdfs import FONT

    picture = Image.new("L", (900, 200), 255)
    ImageDraw.Draw(picture).text((40, 60), "TOTAL 12.50 EUR", fill=0, font=ImageFont.truetype(FONT, 48))
    image = np.asarray(picture)
    engine = get_engine("textlayer", {"ocr": "classical"})
    assert engine.name == "textlayer" and engine.version.startswith("pdfium-")
    got = engine.predict(image)
    want = get_engine("classical").predict(image)
    assert [r.text for r in got.regions] == [r.text for r in want.regions] and "TOTAL" in " ".join(
        r.text for r in got.regions)
    assert get_engine("textlayer").config == {"ocr": "combined"}
    with pytest.raises(ValueError):
        get_engine("textlayer", {"ocr": "textlayer"})


@pytest.mark.folder_only
def test_a_page_whose_images_ocr_cannot_read_keeps_its_text_layer(project, tmp_path):
    (pid,) = _import(project, tmp_path, "logo.pdf", invoice_pdf(logo=True), dpi=100)
    set_prefill_engine(project.store, "classical")
    path = project.image_path(project.store.get_page(pid))
    good = path.read_bytes()
    path.write_bytes(b"not an image any more")  # OCR cannot read the page image now
    summary = prefill_project(project, workers=0)
    assert summary.done == [pid] == summary.text_layer and not summary.failures
    assert len(summary.warnings) == 1 and "images could not be read" in summary.warnings[0]
    assert summary.warnings[0] in summary.lines()
    (pred,) = project.store.predictions(pid)
    assert pred.engine == "textlayer" and "ocr" not in pred.config
    assert [r.text for r in pred.regions] == EXPECTED
    # The images are read when pre-fill runs again and OCR can read them.
    assert plan_prefill(project, [pid]).todo == [pid]
    path.write_bytes(good)
    summary = prefill_project(project, [pid], workers=0)
    assert summary.done == [pid] and not summary.warnings
    assert project.store.predictions(pid)[-1].config["ocr"] == "classical"


def test_a_turned_pdf_page_gets_its_text_layer_lines_and_image_text_where_they_are_shown(project, tmp_path):
    """A PDF page turned by hand before pre-fill (ADR 0008): the text layer is on the stored image,
    OCR reads the page as shown; both land where the page shows them."""
    (pid,) = _import(project, tmp_path, "logo.pdf", invoice_pdf(logo=True))
    stored = project.store.get_page(pid)
    project.store.turn_page("ana", pid, 1)
    set_prefill_engine(project.store, "classical")
    summary = prefill_project(project, workers=0)
    assert summary.done == [pid] and not summary.failures
    page = project.store.get_page(pid)
    assert (page.width, page.height) == (stored.height, stored.width)
    layer = project.store.text_layer(pid)
    regions = {r.text: r for r in project.store.regions(pid)}
    for ln in layer.lines:
        assert quad_bounds(regions[ln.text].points) == pytest.approx(quad_bounds(page.from_image(ln.points)), abs=1)
    # The logo's OCR text is inside the logo as shown.
    ((ax0, ay0, ax1, ay1),) = layer.image_areas
    shown = quad_bounds(page.from_image([(ax0, ay0), (ax1, ay0), (ax1, ay1), (ax0, ay1)]))
    extra = [r for t, r in regions.items() if t not in {ln.text for ln in layer.lines}]
    assert extra and any("ACME" in r.text for r in extra)
    for r in extra:
        x0, y0, x1, y1 = quad_bounds(r.points)
        assert shown[0] - 3 <= x0 and shown[1] - 3 <= y0 and x1 <= shown[2] + 3 and y1 <= shown[3] + 3, r
