"""PaddleOCR / PPOCRLabel in and out: Label.txt, fileState.txt, rec_gt.txt + crops, the split lists.

What is written is read back by hand here (split on the tab, PIL opens each crop), not only by
our own reader, so a writer and reader that agree on a wrong format still fail.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import BadInputError
from core.formats import AnnotatedPage, ExportOptions, ExportPage, Line, base
from core.formats.exporting import export
from core.formats.importing import import_annotations
from core.formats.paddle import PaddleReader, PaddleRecReader, PaddleWriter, crop_size
from core.model import PageStatus
from core.project import Project
from tests.conftest import image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True

TEXTS = ["Café crème 3,50 €", "₹ 1,234.00 नमस्ते", "東京都千代田区 1-1", "Ωmega—«quoted»", "TOTAL 12.90"]


# -- generated pages ----------------------------------------------------------------------------------
def line_pattern(w: int = 240, h: int = 40) -> np.ndarray:
    """A grey line image that looks different upside down and mirrored: a dark block at the
    left end, bars of growing width after it."""
    img = np.full((h, w), 235, np.uint8)
    img[4:h - 4, 4:30] = 20
    x = 40
    k = 2
    while x + k < w - 4:
        img[8:h - 8 if k % 2 else h - 14, x:x + k] = 40
        x += k + 6
        k += 1
    return img


def rotated_line_page(path: Path, angle: float, size=(600, 420), line=(240, 40)) -> list[tuple[float, float]]:
    """A white page with :func:`line_pattern` rotated by ``angle`` degrees around the page centre;
    returns the line's corners, clockwise from its own top-left (the region a person draws)."""
    import cv2

    w, h = line
    pattern = line_pattern(w, h)
    page_w, page_h = size
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += (page_w / 2 - w / 2, page_h / 2 - h / 2)
    canvas = cv2.warpAffine(pattern, m, (page_w, page_h), flags=cv2.INTER_LINEAR, borderValue=255)
    Image.fromarray(canvas).convert("RGB").save(path)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], float) @ m.T
    return [(float(x), float(y)) for x, y in corners]


def rotated_quad(cx, cy, w, h, angle_deg) -> list[tuple[float, float]]:
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), math.sin(a)  # along the text (y down: a positive angle turns clockwise)
    vx, vy = -uy, ux  # across it, downwards
    x0, y0 = cx - ux * w / 2 - vx * h / 2, cy - uy * w / 2 - vy * h / 2
    return [(x0, y0), (x0 + ux * w, y0 + uy * w), (x0 + ux * w + vx * h, y0 + uy * w + vy * h),
            (x0 + vx * h, y0 + vy * h)]


def sample_lines() -> list[Line]:
    """Five regions on a 640x480 page: axis-aligned and rotated, labelled and not, non-ASCII."""
    return [
        Line([(20, 20), (300, 20), (300, 60), (20, 60)], TEXTS[0], label="company"),
        Line(rotated_quad(330, 150, 260, 36, 12), TEXTS[1]),
        Line(rotated_quad(320, 260, 300, 40, -20), TEXTS[2], label="address"),
        Line(rotated_quad(200, 380, 200, 30, 5), TEXTS[3]),
        Line([(400, 400), (600, 400), (600, 440), (400, 440)], TEXTS[4], label="total"),
    ]


def export_page(tmp_path: Path, i: int, lines: list[Line], status="done", split=None, stem=None,
                size=(640, 480)) -> ExportPage:
    img = tmp_path / "project-images" / f"{i:064x}.png"
    img.parent.mkdir(parents=True, exist_ok=True)
    img.write_bytes(image_bytes(i, size=size))
    return ExportPage(page_id=i, document=f"doc{i}.png", page_no=1, page_count=1, stem=stem or f"doc{i}",
                      image=img, width=size[0], height=size[1], status=status, lines=lines,
                      fields={ln.label: ln.text for ln in lines if ln.label}, split=split)


def read_rec_gt(folder: Path, name: str = "rec_gt.txt") -> list[tuple[Path, str]]:
    """An independent reader of PaddleOCR's recognition list: <path>\\t<text> per line."""
    raw = (folder / name).read_bytes()
    text = raw.decode("utf-8")  # strict: fails on anything that is not UTF-8
    out = []
    for line in text.split("\n"):
        if not line:
            continue
        parts = line.split("\t")
        assert len(parts) == 2, line
        out.append((folder / parts[0], parts[1]))
    return out


def assert_same_points(a, b, tol=1.0):
    assert len(a) == len(b) == 4
    for (x0, y0), (x1, y1) in zip(a, b):
        assert abs(x0 - x1) <= tol and abs(y0 - y1) <= tol, (a, b)


# -- a PPOCRLabel folder as the tool writes it --------------------------------------------------------------
def ppocrlabel_folder(root: Path, name="batch1", state=True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(image_bytes(1, size=(400, 300), fmt="JPEG"))
    (folder / "b.png").write_bytes(image_bytes(2, size=(400, 300)))
    (folder / "c.png").write_bytes(image_bytes(3, size=(400, 300)))
    a = [{"transcription": "Café 3,50 €", "points": [[10, 10], [200, 10], [200, 40], [10, 40]],
          "difficult": False, "key_cls": "company"},
         {"transcription": "###", "points": [[10, 60], [90, 60], [90, 80], [10, 80]], "difficult": False,
          "key_cls": "None"},
         # counter-clockwise as some tools write it
         {"transcription": "東京", "points": [[10, 100], [10, 130], [120, 130], [120, 100]], "difficult": True}]
    b = [{"transcription": "₹ 99", "points": [[50, 50], [80, 40], [120, 45], [150, 60], [120, 80], [60, 80]],
          "difficult": False}]
    lines = [f"{name}/a.jpg\t{json.dumps(a, ensure_ascii=False)}", f"b.png\t{json.dumps(b, ensure_ascii=False)}"]
    (folder / "Label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if state:
        # PPOCRLabel writes absolute paths of the machine it ran on: a moved folder still works.
        (folder / "fileState.txt").write_text(
            f"/Users/someone/Downloads/{name}/a.jpg\t1\n{folder / 'c.png'}\t1\n/elsewhere/gone.png\t1\n",
            encoding="utf-8")
    return folder


def test_reads_a_ppocrlabel_folder(tmp_path):
    folder = ppocrlabel_folder(tmp_path)
    assert PaddleReader().detect(folder) == 1.0
    assert base.detect(folder).name == "paddleocr"
    pages = list(PaddleReader().read(folder))
    assert [p.image.name for p in pages] == ["a.jpg", "b.png", "c.png"]
    a, b, c = pages
    assert [ln.text for ln in a.lines] == ["Café 3,50 €", "###", "東京"]
    assert [ln.label for ln in a.lines] == ["company", None, None]  # "None" is no label
    assert a.lines[0].points == [(10, 10), (200, 10), (200, 40), (10, 40)]
    # counter-clockwise corners are turned clockwise, the first corner kept
    assert a.lines[2].points == [(10, 100), (120, 100), (120, 130), (10, 130)]
    # a multi-point polygon becomes its rotated bounding rectangle, 4 corners clockwise
    quad = b.lines[0].points
    assert len(quad) == 4
    assert sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(quad, quad[1:] + quad[:1])) > 0
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    assert min(xs) <= 50.5 and max(xs) >= 149.5 and min(ys) <= 40.5 and max(ys) >= 79.5
    assert math.dist(quad[0], (50, 50)) < 25  # starts near the polygon's first point
    # fileState: a (moved, found by name) and c (no boxes) checked; b not
    assert (a.checked, b.checked, c.checked) == (True, False, True)
    assert c.lines == []


def test_no_file_state_means_the_format_does_not_say(tmp_path):
    folder = ppocrlabel_folder(tmp_path, state=False)
    pages = list(PaddleReader().read(folder))
    assert [p.checked for p in pages] == [None, None]


def test_reads_a_folder_of_ppocrlabel_folders_and_a_label_file(tmp_path):
    ppocrlabel_folder(tmp_path / "data", "r10")
    ppocrlabel_folder(tmp_path / "data", "r2")
    assert PaddleReader().detect(tmp_path / "data") > 0
    pages = list(PaddleReader().read(tmp_path / "data"))
    assert [p.image.parent.name for p in pages] == ["r2"] * 3 + ["r10"] * 3  # natural order
    pages = list(PaddleReader().read(tmp_path / "data" / "r2" / "Label.txt"))
    assert len(pages) == 3


# -- malformed Label.txt: one error naming file and line, nothing imported ------------------------------------
GOOD = '[{"transcription": "A", "points": [[1, 1], [20, 1], [20, 10], [1, 10]], "difficult": false}]'
BAD_LINES = {
    "bad json": ('img.png\t[{"transcription": "A", "points": [[1, 1]', "not valid JSON"),
    "3 points": ('img.png\t[{"transcription": "A", "points": [[1, 1], [20, 1], [20, 10]]}]', "3 points"),
    "NaN": ('img.png\t[{"transcription": "A", "points": [[NaN, 1], [20, 1], [20, 10], [1, 10]]}]', "NaN"),
    "infinite": ('img.png\t[{"transcription": "A", "points": [[1e999, 1], [20, 1], [20, 10], [1, 10]]}]',
                 "finite"),
    "huge int": ('img.png\t[{"transcription": "A", "points": [[' + "9" * 5000 + ', 1], [2, 1], [2, 1], [1, 1]]}]',
                 "not valid JSON"),
    "huge number": ('img.png\t[{"transcription": "A", "points": [[1e300, 1], [2, 1], [2, 1], [1, 1]]}]', "finite"),
    "text not a string": ('img.png\t[{"transcription": 5, "points": [[1, 1], [20, 1], [20, 10], [1, 10]]}]',
                          "transcription"),
    "points a string": ('img.png\t[{"transcription": "A", "points": "1,1,20,1"}]', "points"),
    "point of 3": ('img.png\t[{"transcription": "A", "points": [[1, 1, 1], [20, 1], [20, 10], [1, 10]]}]',
                   "point 1"),
    "bool coordinate": ('img.png\t[{"transcription": "A", "points": [[true, 1], [20, 1], [20, 10], [1, 10]]}]',
                        "point 1"),
    "no points": ('img.png\t[{"transcription": "A"}]', "points is missing"),
    "not a list": ('img.png\t{"transcription": "A"}', "JSON list"),
    "region not an object": ("img.png\t[5]", "region 1"),
    "key_cls a list": ('img.png\t[{"transcription": "A", "points": [[1, 1], [20, 1], [20, 10], [1, 10]], '
                       '"key_cls": ["x"]}]', "key_cls"),
    "difficult a string": ('img.png\t[{"transcription": "A", "points": [[1, 1], [20, 1], [20, 10], [1, 10]], '
                           '"difficult": "yes"}]', "difficult"),
    "deep nesting": ("img.png\t" + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "no tab": ("img.png " + GOOD, "no tab"),
    "missing image": ("nothere.png\t" + GOOD, "not found"),
    "outside the folder": ("../outside.png\t" + GOOD, "not found"),
    "duplicate": ("img.png\t" + GOOD + "\nimg.png\t" + GOOD, "annotated again"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_malformed_label_txt_is_one_error_naming_file_and_line(tmp_path, project, case):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "img.png").write_bytes(image_bytes(5, size=(64, 48)))
    (folder / "ok.png").write_bytes(image_bytes(6, size=(64, 48)))
    (tmp_path / "outside.png").write_bytes(image_bytes(7, size=(64, 48)))
    content, expected = BAD_LINES[case]
    # a good first line, so the error must name line 2 (and nothing of the file is imported)
    (folder / "Label.txt").write_text(f"ok.png\t{GOOD}\n{content}\n", encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        list(PaddleReader().read(folder))
    msg = str(err.value)
    assert msg.startswith("Label.txt: line "), msg
    assert msg.startswith("Label.txt: line 3:" if case == "duplicate" else "Label.txt: line 2:"), msg
    assert expected in msg, msg
    summary = import_annotations(project, [folder], "paddleocr")
    assert len(summary.failures) == 1 and "Label.txt: line" in summary.failures[0][1]
    assert project.store.pages() == []


def test_label_txt_not_utf8_and_bad_file_state(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "img.png").write_bytes(image_bytes(5, size=(64, 48)))
    (folder / "Label.txt").write_bytes(b"img.png\t[{\"transcription\": \"\xff\xfe\", \"points\": []}]\n")
    with pytest.raises(BadInputError, match=r"^Label.txt: line 1: is not UTF-8"):
        list(PaddleReader().read(folder))
    (folder / "Label.txt").write_text(f"img.png\t{GOOD}\n", encoding="utf-8")
    (folder / "fileState.txt").write_text("/x/img.png\tyes\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"^fileState.txt: line 1: the state must be 0 or 1"):
        list(PaddleReader().read(folder))


# -- the recognition set reader ----------------------------------------------------------------------------
def test_reads_a_recognition_set(tmp_path):
    folder = tmp_path / "rec"
    (folder / "crop_img").mkdir(parents=True)
    (folder / "crop_img" / "a_crop_0.jpg").write_bytes(image_bytes(1, size=(120, 30), fmt="JPEG"))
    (folder / "crop_img" / "a_crop_1.jpg").write_bytes(image_bytes(2, size=(80, 24), fmt="JPEG"))
    (folder / "rec_gt.txt").write_text("crop_img/a_crop_0.jpg\tCafé €5\na_crop_1.jpg\t東京 \n", encoding="utf-8")
    assert base.detect(folder).name == "paddleocr-rec"
    pages = list(PaddleRecReader().read(folder))
    assert [(p.image.name, p.width, p.height) for p in pages] == [("a_crop_0.jpg", 120, 30), ("a_crop_1.jpg", 80, 24)]
    assert [p.lines[0].text for p in pages] == ["Café €5", "東京 "]
    assert pages[0].lines[0].points == [(0, 0), (120, 0), (120, 30), (0, 30)]
    for content, expected in [("crop_img/a_crop_0.jpg\tA\tB\n", "2 tabs"), ("crop_img/none.jpg\tA\n", "not found"),
                              ("rec_gt.txt\tA\n", "not a readable image"), ("no tab here\n", "no tab")]:
        (folder / "rec_gt.txt").write_text("a_crop_1.jpg\tok\n" + content, encoding="utf-8")
        with pytest.raises(BadInputError, match=r"^rec_gt.txt: line 2: ") as err:
            list(PaddleRecReader().read(folder))
        assert expected in str(err.value)


# -- the writer ----------------------------------------------------------------------------------------------
def test_writer_label_txt_file_state_and_crops(tmp_path):
    out = tmp_path / "export"
    lines = sample_lines() + [Line([(5, 440), (60, 440), (60, 470), (5, 470)], "###"),
                              Line([(100, 440), (160, 440), (160, 470), (100, 470)], ""),
                              Line([(170, 440), (260, 440), (260, 470), (170, 470)], "tab\there\nand line")]
    pages = [export_page(tmp_path, 1, lines, status="done"),
             export_page(tmp_path, 2, sample_lines()[1:2], status="in_progress"),
             export_page(tmp_path, 3, [], status="approved", stem="empty page")]
    seen = []
    n = PaddleWriter().write(pages, out, ExportOptions(), lambda k, stem: seen.append((k, stem)))
    assert n == 3 and seen == [(1, "doc1"), (2, "doc2"), (3, "empty page")]

    # Label.txt, read by hand: <folder>/<image>\t<JSON> as PPOCRLabel writes it
    rows = [ln.split("\t") for ln in (out / "Label.txt").read_text(encoding="utf-8").splitlines()]
    assert [r[0] for r in rows] == ["export/doc1.png", "export/doc2.png"]  # no line for a page without regions
    regions = json.loads(rows[0][1])
    assert [r["transcription"] for r in regions] == [ln.text for ln in lines]
    assert all(r["difficult"] is False for r in regions)
    assert [r["key_cls"] for r in regions] == ["company", "None", "address", "None", "total", "None", "None", "None"]
    assert "key_cls" not in json.loads(rows[1][1])[0]  # no field labels on that page
    for r, ln in zip(regions, lines):
        assert all(isinstance(v, int) for p in r["points"] for v in p)
        assert_same_points(r["points"], ln.points, tol=0.5)
    for name in ("doc1.png", "doc2.png", "empty_page.png"):
        assert Image.open(out / name).size == (640, 480)

    # fileState.txt: done and approved pages, by absolute path
    state = (out / "fileState.txt").read_text(encoding="utf-8").splitlines()
    assert state == [f"{out / 'doc1.png'}\t1", f"{out / 'empty_page.png'}\t1"]

    # rec_gt.txt + crop_img/: one line per crop, UTF-8, each crop opens with the region's size
    rec = read_rec_gt(out)
    assert [t for _, t in rec] == TEXTS + ["tab here and line", TEXTS[1]]  # "###" and "" left out
    assert [p.name for p, _ in rec] == [f"doc1_crop_{i}.jpg" for i in (0, 1, 2, 3, 4, 7)] + ["doc2_crop_0.jpg"]
    for (path, _), ln in zip(rec, lines[:5] + lines[7:] + lines[1:2]):
        with Image.open(path) as im:
            w, h = crop_size(ln.points)
            assert abs(im.width - w) <= 2 and abs(im.height - h) <= 2, (path.name, im.size, (w, h))
            assert im.width > im.height
    assert not (out / "det").exists()  # no dataset version, no split lists

    # and our own reader reads the folder back: same regions, texts, labels, checked pages
    back = list(PaddleReader().read(out))
    assert [p.image.name for p in back] == ["doc1.png", "doc2.png", "empty_page.png"]
    assert [p.checked for p in back] == [True, False, True]
    for got, want in zip(back[0].lines, lines):
        assert got.text == want.text and got.label == want.label
        assert_same_points(got.points, want.points)


@pytest.mark.parametrize("angle", [0, 17, -35, 160, 90])
def test_rotated_regions_are_cropped_upright(tmp_path, angle):
    img = tmp_path / f"{'0' * 63}1.png"
    corners = rotated_line_page(img, angle)
    page = ExportPage(page_id=1, document="d.png", page_no=1, page_count=1, stem="d", image=img, width=600,
                      height=420, status="done", lines=[Line(corners, "LINE")], fields={})
    PaddleWriter().write([page], tmp_path / "out", ExportOptions())
    [(crop_path, text)] = read_rec_gt(tmp_path / "out")
    crop = np.asarray(Image.open(crop_path).convert("L"), dtype=float)
    assert abs(crop.shape[1] / crop.shape[0] - 240 / 40) < 0.3  # the line's aspect ratio, not the bounding box's
    pattern = line_pattern().astype(float)
    resized = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((240, 40)), dtype=float)
    upright = np.corrcoef(resized.ravel(), pattern.ravel())[0, 1]
    upside_down = np.corrcoef(resized.ravel(), pattern[::-1, ::-1].ravel())[0, 1]
    assert upright > 0.85 and upright > upside_down + 0.3, (upright, upside_down)


def test_tall_crops_turn_as_paddleocr_does(tmp_path):
    tall = Line([(100, 50), (130, 50), (130, 250), (100, 250)], "縦書き")
    PaddleWriter().write([export_page(tmp_path, 1, [tall])], tmp_path / "out", ExportOptions())
    [(crop_path, _)] = read_rec_gt(tmp_path / "out")
    assert Image.open(crop_path).size == (200, 30)


def test_writer_split_lists_follow_the_dataset_version(tmp_path):
    out = tmp_path / "export"
    pages = [export_page(tmp_path, 1, sample_lines(), split="train"),
             export_page(tmp_path, 2, sample_lines()[:2], split="val"),
             export_page(tmp_path, 3, sample_lines()[:1], split=None)]
    PaddleWriter().write(pages, out, ExportOptions(dataset_version=1))
    # PaddleOCR's gen_ocr_train_val_test.py layout: det/{train,val}.txt + det/{train,val}/, same for rec
    det_train = [ln.split("\t") for ln in (out / "det" / "train.txt").read_text(encoding="utf-8").splitlines()]
    det_val = [ln.split("\t") for ln in (out / "det" / "val.txt").read_text(encoding="utf-8").splitlines()]
    assert [r[0] for r in det_train] == ["train/doc1.png"] and [r[0] for r in det_val] == ["val/doc2.png"]
    assert (out / "det" / "train" / "doc1.png").read_bytes() == (out / "doc1.png").read_bytes()
    assert len(json.loads(det_train[0][1])) == 5
    rec_train = read_rec_gt(out / "rec", "train.txt")
    rec_val = read_rec_gt(out / "rec", "val.txt")
    assert [t for _, t in rec_train] == TEXTS and [t for _, t in rec_val] == TEXTS[:2]
    assert all(p.is_file() and p.parent.name == "train" for p, _ in rec_train)
    assert all(p.is_file() and p.parent.name == "val" for p, _ in rec_val)
    # the whole export is there too, the page outside the version included
    assert len((out / "Label.txt").read_text(encoding="utf-8").splitlines()) == 3
    assert len(read_rec_gt(out)) == 5 + 2 + 1
    # the split lists are PaddleOCR label files our readers take too (found by their content)
    assert base.detect(out / "det" / "train.txt").name == "paddleocr"
    [page] = list(PaddleReader().read(out / "det" / "train.txt"))
    assert page.image == out / "det" / "train" / "doc1.png" and len(page.lines) == 5
    assert [p.lines[0].text for p in PaddleRecReader().read(out / "rec" / "val.txt")] == TEXTS[:2]


def test_writer_without_copying_images_names_the_project_images(tmp_path):
    out = tmp_path / "export"
    page = export_page(tmp_path, 1, sample_lines(), split="train")
    PaddleWriter().write([page], out, ExportOptions(copy_images=False, dataset_version=1))
    assert not list(out.glob("*.png"))
    [row] = (out / "Label.txt").read_text(encoding="utf-8").splitlines()
    assert row.split("\t")[0] == str(page.image)
    assert (out / "det" / "train.txt").read_text(encoding="utf-8").split("\t")[0] == str(page.image)
    assert len(read_rec_gt(out)) == 5  # the crops are written all the same


def test_file_names_are_unique_and_safe(tmp_path):
    pages = [export_page(tmp_path, 1, sample_lines()[:1], stem="Scan"), export_page(tmp_path, 2, [], stem="scan"),
             export_page(tmp_path, 3, sample_lines()[:1], stem="a/b\tc")]
    PaddleWriter().write(pages, tmp_path / "out", ExportOptions())
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".png")
    assert names == ["Scan.png", "a_b_c.png", "scan-2.png"]
    assert sorted(p.name for p in (tmp_path / "out" / "crop_img").iterdir()) == ["Scan_crop_0.jpg", "a_b_c_crop_0.jpg"]


# -- round trips through a project ---------------------------------------------------------------------------
def regions_by_image(project: Project) -> dict[str, list]:
    return {p.image_sha256: project.store.regions(p.id) for p in project.store.pages()}


def assert_same_regions(a: Project, b: Project):
    ra, rb = regions_by_image(a), regions_by_image(b)
    assert ra.keys() == rb.keys() and ra
    for sha in ra:
        assert len(ra[sha]) == len(rb[sha]), sha
        for x, y in zip(ra[sha], rb[sha]):  # reading order kept
            assert x.text == y.text and x.label == y.label
            assert_same_points(x.points, y.points)


def sroie_ppocrlabel(sroie_dir: Path, root: Path, n=3) -> tuple[Path, list[dict]]:
    """The first ``n`` sroie-dev receipts as a PPOCRLabel folder (their reference lines as boxes)."""
    folder = root / "sroie"
    folder.mkdir(parents=True)
    refs, rows = [], []
    for img in sorted(sroie_dir.glob("*.jpg"))[:n]:
        ref = json.loads(img.with_suffix(".json").read_text(encoding="utf-8"))
        shutil.copy(img, folder / img.name)
        regions = [{"transcription": ln["text"], "points": [ln["box"][i:i + 2] for i in range(0, 8, 2)],
                    "difficult": False} for ln in ref["lines"]]
        rows.append(f"sroie/{img.name}\t{json.dumps(regions, ensure_ascii=False)}")
        refs.append(ref)
    (folder / "Label.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, refs


def test_sroie_round_trip_through_projects(tmp_path, project, sroie_dir):
    folder, refs = sroie_ppocrlabel(sroie_dir, tmp_path)
    summary = import_annotations(project, [folder], "auto")
    assert not summary.failures and summary.pages == 3
    pages = project.store.pages()
    assert all(p.status == PageStatus.DONE for p in pages)  # no fileState.txt: the format does not say
    for page, ref in zip(pages, refs):
        got = sorted((r.text, tuple(map(tuple, r.points))) for r in project.store.regions(page.id))
        want = sorted((ln["text"], tuple((float(ln["box"][i]), float(ln["box"][i + 1])) for i in range(0, 8, 2)))
                      for ln in ref["lines"])
        assert [t for t, _ in got] == [t for t, _ in want]

    out = tmp_path / "export"
    assert export(project, out, "paddleocr") == 3
    assert len(read_rec_gt(out)) == sum(1 for r in refs for ln in r["lines"] if ln["text"].strip()
                                        and ln["text"].strip() != "###")
    second = Project.create(tmp_path / "second")
    try:
        summary = import_annotations(second, [out], "paddleocr")
        assert not summary.failures and summary.pages == 3
        assert_same_regions(project, second)
        # fileState.txt said done: done again
        assert all(p.status == PageStatus.DONE for p in second.store.pages())
    finally:
        second.close()


def test_generated_round_trip_rotated_non_ascii_fields_and_checked(tmp_path, project):
    """Generated pages: rotated regions, accents, €, ₹, CJK, field labels; one page checked, one not."""
    src = tmp_path / "gen"
    src.mkdir()
    rows = []
    for i, quads in enumerate([sample_lines(), sample_lines()[::-1][:3]], start=1):
        (src / f"page{i}.png").write_bytes(image_bytes(40 + i, size=(640, 480)))
        regions = [{"transcription": ln.text, "points": [list(p) for p in ln.points], "difficult": False,
                    "key_cls": ln.label or "None"} for ln in quads]
        rows.append(f"gen/page{i}.png\t{json.dumps(regions, ensure_ascii=False)}")
    (src / "Label.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (src / "fileState.txt").write_text(f"{src / 'page1.png'}\t1\n", encoding="utf-8")
    summary = import_annotations(project, [src], "paddleocr")
    assert not summary.failures and summary.pages == 2
    p1, p2 = project.store.pages()
    assert (p1.status, p2.status) == (PageStatus.DONE, PageStatus.IN_PROGRESS)
    by_text = {r.text: r for r in project.store.regions(p1.id)}
    assert set(by_text) == set(TEXTS)
    for ln in sample_lines():
        assert by_text[ln.text].label == ln.label
        assert_same_points(by_text[ln.text].points, ln.points)

    out = tmp_path / "export"
    assert export(project, out, "paddleocr") == 2
    second = Project.create(tmp_path / "second")
    try:
        summary = import_annotations(second, [out], "auto")
        assert not summary.failures
        assert_same_regions(project, second)
        q1, q2 = second.store.pages()
        assert (q1.status, q2.status) == (PageStatus.DONE, PageStatus.IN_PROGRESS)
    finally:
        second.close()


def test_recognition_set_round_trip(tmp_path, project):
    """paddleocr-rec: the crops an export wrote import as one-line pages with their texts."""
    out = tmp_path / "export"
    PaddleWriter().write([export_page(tmp_path, 1, sample_lines())], out, ExportOptions())
    summary = import_annotations(project, [out / "rec_gt.txt"], "auto")
    assert not summary.failures and summary.pages == 5
    texts = []
    for page in project.store.pages():
        [r] = project.store.regions(page.id)
        assert_same_points(r.points, [(0, 0), (page.width, 0), (page.width, page.height), (0, page.height)])
        texts.append(r.text)
    assert sorted(texts) == sorted(TEXTS)


def test_annotated_page_fields_are_the_reference(tmp_path, project):
    """Key fields come back from the regions' key_cls labels (fields with no region are lost)."""
    src = tmp_path / "one"
    src.mkdir()
    (src / "p.png").write_bytes(image_bytes(9, size=(640, 480)))
    regions = [{"transcription": ln.text, "points": [list(p) for p in ln.points], "key_cls": ln.label or "None",
                "difficult": False} for ln in sample_lines()]
    (src / "Label.txt").write_text(f"one/p.png\t{json.dumps(regions, ensure_ascii=False)}\n", encoding="utf-8")
    import_annotations(project, [src], "paddleocr")
    out = tmp_path / "export"
    export(project, out, "paddleocr")
    [page] = list(PaddleReader().read(out))
    assert isinstance(page, AnnotatedPage)
    assert {ln.label: ln.text for ln in page.lines if ln.label} == {
        "company": TEXTS[0], "address": TEXTS[2], "total": TEXTS[4]}
