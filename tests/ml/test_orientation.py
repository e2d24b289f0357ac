"""Page orientation and skew (``ml.orientation``) on real pages: SROIE receipts and invoices,
turned with numpy and skewed with OpenCV here, so the right answer is known exactly.

A turned page must read like the upright one (the same lines, in the page's own pixels), and a
skewed page must give one line per region, the regions slanted with the text.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.scoring import iou
from ml.orientation import (
    OrientationConfig,
    estimate_skew,
    reading_turn,
    turn_image,
    turn_matrix,
    upright,
)
from ml.prediction import load_image
from tests.conftest import DATASETS

SROIE = sorted((DATASETS / "sroie-dev").glob("*.jpg"))
INVOICES = sorted((DATASETS / "invoices-dev").glob("*.png"))
#: Ten pages: five receipts and five invoices, spread over the sets.
PAGES = SROIE[::12][:5] + INVOICES[::5][:5]
INVOICE = DATASETS / "invoices-dev" / "ferd22-einfach.png"


def _skew(img: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The page rotated by ``degrees`` (counter-clockwise) on its own canvas, and the matrix."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255), m


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    assert len(PAGES) == 10, PAGES
    return [load_image(p) for p in PAGES]


@pytest.mark.parametrize("turned_by", [0, 90, 180, 270])
def test_the_turn_that_makes_a_page_upright_is_found_on_real_pages(pages, turned_by):
    # np.rot90 turns counter-clockwise; k = -1 is a clockwise quarter turn.
    found = [upright(np.rot90(g, -turned_by // 90).copy(), OrientationConfig(deskew=False)).turn for g in pages]
    need = (360 - turned_by) % 360
    assert sum(t == need for t in found) >= 9, (need, found)


@pytest.mark.parametrize("angle", [4.0, -7.0])
def test_skew_is_measured_and_still_tells_up_from_down(pages, angle):
    for g in pages[::3]:
        base = estimate_skew(g)  # a receipt photo may lie a degree or two crooked already
        skewed, _ = _skew(g, angle)
        for turned_by in (0, 180):
            up = upright(turn_image(skewed, turned_by))
            assert up.turn == turned_by and up.skew == pytest.approx(base - angle, abs=0.6), (up.turn, up.skew)


def test_upright_pixels_and_points_go_both_ways():
    rng = np.random.default_rng(7)
    page = rng.integers(0, 255, (37, 53), dtype=np.uint8)
    for turn in (90, 180, 270):
        m = turn_matrix(53, 37, turn)
        img = turn_image(page, turn)
        # The centre of each page pixel lands on the centre of the same pixel of the turned image.
        for x, y in [(0, 0), (52, 0), (52, 36), (0, 36), (10, 20)]:
            u, v = m @ [x + 0.5, y + 0.5, 1]
            assert img[int(v), int(u)] == page[y, x], (turn, x, y)
    # A page turned and levelled: points found on the upright image come home.
    doc = cv2.cvtColor(load_image(INVOICE), cv2.COLOR_GRAY2BGR)
    skewed, _ = _skew(np.rot90(doc).copy(), 5.0)  # a quarter counter-clockwise, then 5 degrees
    up = upright(skewed)
    assert up.turn == 90 and up.skew == pytest.approx(-5.0, abs=0.5) and up.image.ndim == 3
    pts = rng.uniform(0, 400, (20, 2))
    moved = pts @ up.matrix[:, :2].T + up.matrix[:, 2]
    assert np.allclose(up.to_original(moved), pts)
    # Nothing of the page is cut off by levelling: the canvas grows.
    h, w = skewed.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) @ up.matrix[:, :2].T + up.matrix[:, 2]
    uh, uw = up.image.shape[:2]
    assert (corners >= -1).all() and (corners[:, 0] <= uw + 1).all() and (corners[:, 1] <= uh + 1).all()


def test_an_upright_level_page_is_left_as_it_is(pages):
    g = pages[5]  # an invoice: rendered, perfectly level
    up = upright(g)
    assert (up.turn, up.skew) == (0, 0.0) and up.identity and up.image is g
    off = upright(np.rot90(g).copy(), OrientationConfig(orientation=False, deskew=False))
    assert off.identity


def test_reading_turn_says_which_way_regions_read():
    across = [[0, 0], [100, 0], [100, 10], [0, 10]]
    assert reading_turn([across] * 3) == 0
    # The same regions on a page turned 90 degrees clockwise read down: a turn of 270 undoes it.
    m = turn_matrix(200, 100, 90)
    down = (np.array(across, float) @ m[:, :2].T + m[:, 2]).tolist()
    assert reading_turn([down] * 3) == 270
    assert reading_turn([[[100, 10], [0, 10], [0, 0], [100, 0]]]) == 180
    assert reading_turn([]) == 0


@pytest.fixture(scope="module")
def combined():
    from ml.engines import get_engine

    return get_engine("combined")


@pytest.fixture(scope="module")
def invoice_upright(combined):
    img = load_image(INVOICE)
    return img, combined.predict(img)


@pytest.mark.parametrize("turned_by", [90, 180])
def test_a_turned_page_reads_as_the_upright_one_in_its_own_pixels(combined, invoice_upright, turned_by):
    img, flat = invoice_upright
    turned = np.rot90(img, -turned_by // 90).copy()
    pred = combined.predict(turned)
    assert pred.info["turn"] == (360 - turned_by) % 360
    assert (pred.width, pred.height) == (turned.shape[1], turned.shape[0])
    m = turn_matrix(img.shape[1], img.shape[0], turned_by)
    # Each upright line, moved with the page, is found there with the same text; its region
    # starts at the text's top-left corner (where the upright one starts, moved).
    same = 0
    for r in flat.regions:
        quad = np.array(r.points) @ m[:, :2].T + m[:, 2]
        best = max(pred.regions, key=lambda q: iou(q.points, quad))
        if iou(best.points, quad) >= 0.8 and best.text == r.text:
            same += 1
            assert np.hypot(*(np.array(best.points[0]) - quad[0])) < 6
    assert same >= 0.95 * len(flat.regions), (same, len(flat.regions))
    assert abs(len(pred.regions) - len(flat.regions)) <= 2


def test_a_skewed_page_gives_one_line_per_region_slanted_with_the_text(combined, invoice_upright):
    img, flat = invoice_upright
    skewed, _ = _skew(img, 4.0)
    pred = combined.predict(skewed)
    assert pred.info["skew"] == pytest.approx(-4.0, abs=0.5)
    assert abs(len(pred.regions) - len(flat.regions)) <= 0.1 * len(flat.regions)

    def across(r):  # the region's height across its text
        p = np.array(r.points)
        return float(np.hypot(*(p[3] - p[0])))

    line = np.median([across(r) for r in flat.regions])
    assert np.median([across(r) for r in pred.regions]) == pytest.approx(line, rel=0.15)
    assert max(across(r) for r in pred.regions) <= 1.5 * max(across(r) for r in flat.regions)
    # The regions follow the slant: their top edges rise 4 degrees to the right.
    slopes = [np.degrees(np.arctan2(r.points[1][1] - r.points[0][1], r.points[1][0] - r.points[0][0]))
              for r in pred.regions if r.points[1][0] - r.points[0][0] > 200]
    assert np.median(slopes) == pytest.approx(-4.0, abs=0.7)

    # What Tesseract's second opinion reads: axis-aligned crops of the upright page, one line
    # each. Not levelled, the long lines' crops would hold two or three lines.
    def tallest_crop(engine):
        up, lines, _ = engine.neural.read_upright(skewed)
        heights = [p[:, 1].max() - p[:, 1].min() for p, _ in lines]
        return max(heights)

    from ml.engines import get_engine

    crooked = get_engine("combined", {"neural": {"orientation": {"deskew": False}}})
    assert tallest_crop(combined) <= 1.5 * line
    assert tallest_crop(crooked) >= 2.0 * line


def test_the_classical_engine_reads_a_receipt_upside_down_like_upright():
    from core.scoring import score_page
    from ml.classical import ClassicalEngine

    path = SROIE[0]
    ref = json.loads(path.with_suffix(".json").read_text())
    img = load_image(path)
    eng = ClassicalEngine()
    m = turn_matrix(img.shape[1], img.shape[0], 180)
    turned_ref = [(np.asarray(ln["box"], float).reshape(4, 2) @ m[:, :2].T + m[:, 2], ln["text"]) for ln in ref["lines"]]
    flat = score_page([(r.points, r.text) for r in eng.predict(img).regions],
                      [(ln["box"], ln["text"]) for ln in ref["lines"]]).summary()
    pred = eng.predict(np.rot90(img, 2).copy())
    assert pred.info["rotation"] == 180
    turned = score_page([(r.points, r.text) for r in pred.regions], turned_ref).summary()
    assert turned["recall"] >= flat["recall"] - 0.02 and turned["typing_saved_ci"] >= flat["typing_saved_ci"] - 0.02
