"""Label Studio in and out: its OCR template's JSON export, percent geometry and rotation, people's
annotations beside model predictions, images found by name, and hostile files refused whole.

The helpers at the top are shared with ``test_coco_cvat_icdar.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.errors import BadInputError
from core.formats import ExportOptions, ExportPage, Line, base
from core.formats.exporting import export
from core.formats.importing import import_annotations
from core.formats.labelstudio import fit_rect, quad, rotated_rect
from core.project import Project
from tests.conftest import image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True

#: Texts that must survive every format: accents, currency signs, CJK, commas, quotes.
TEXTS = ["Café crème brûlée", "TOTAL 9,90 €", "₹ 1,234.50 \"net\"", "東京都渋谷区 1-2-3", "Straße <&> 'x'",
         "ÅNGSTRÖM ø", "合計 ¥1,200"]


# -- shared helpers -------------------------------------------------------------------------------------
def write_png(path: Path, seed: int, size=(400, 300)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(seed, size))
    return path


def generated_lines() -> list[Line]:
    """Rotated 4-point rectangles (0, 12, -30, 90 and 180 degrees), a trapezoid, non-ASCII texts,
    field labels, on a 400x300 page."""
    rects = [((20, 20), 150, 24, 0.0), ((30, 70), 160, 22, 12.0), ((40, 200), 120, 20, -30.0),
             ((380, 40), 100, 18, 90.0), ((300, 290), 90, 20, 180.0)]
    lines = [Line(points=[(round(x, 3), round(y, 3)) for x, y in rotated_rect(tl, w, h, deg)],
                  text=TEXTS[i], label=("total" if i == 1 else "company" if i == 3 else None))
             for i, (tl, w, h, deg) in enumerate(rects)]
    lines.append(Line(points=[(200.0, 120.0), (330.0, 128.0), (320.0, 160.0), (210.0, 150.0)], text=TEXTS[5]))
    lines.append(Line(points=[(220.0, 230.0), (290.0, 230.0), (290.0, 250.0), (220.0, 250.0)], text=TEXTS[6],
                      label="date"))
    return lines


def export_page(image: Path, lines: list[Line], page_id: int = 1, status: str = "done", **kw) -> ExportPage:
    from PIL import Image

    with Image.open(image) as im:
        width, height = im.size
    fields: dict[str, str] = {}
    for ln in lines:
        if ln.label:
            fields[ln.label] = f"{fields[ln.label]} {ln.text}" if ln.label in fields else ln.text
    return ExportPage(page_id=page_id, document=image.name, page_no=1, page_count=1, stem=image.stem, image=image,
                      width=width, height=height, status=status, lines=lines, fields=fields, **kw)


def assert_same_lines(got: list[Line], want: list[Line], labels: bool = True, tol: float = 1.0) -> None:
    assert len(got) == len(want), ([g.text for g in got], [w.text for w in want])
    for g, w in zip(got, want):
        assert g.text == w.text
        if labels:
            assert g.label == w.label, (g.text, g.label, w.label)
        assert len(g.points) == 4
        for (gx, gy), (wx, wy) in zip(g.points, w.points):
            assert abs(gx - wx) <= tol and abs(gy - wy) <= tol, (g.text, g.points, w.points)


def read_all(fmt: str, path: Path):
    return list(base.reader(fmt).read(path))


def project_regions(project) -> dict[str, list[tuple]]:
    """Document stem -> its regions in reading order: (points, text, label)."""
    store = project.store
    out = {}
    for page in store.pages():
        doc = store.get_document(page.document_id)
        out[Path(doc.name).stem] = [(r.points, r.text, r.label) for r in store.regions(page.id)]
    return out


def assert_same_regions(a: dict, b: dict, labels: bool = True) -> None:
    assert a.keys() == b.keys()
    for stem in a:
        ra, rb = a[stem], b[stem]
        assert [t for _, t, _ in ra] == [t for _, t, _ in rb], stem  # text and reading order
        if labels:
            assert [lb for _, _, lb in ra] == [lb for _, _, lb in rb], stem
        for (pa, ta, _), (pb, _, _) in zip(ra, rb):
            for (xa, ya), (xb, yb) in zip(pa, pb):
                assert abs(xa - xb) <= 1 and abs(ya - yb) <= 1, (stem, ta, pa, pb)


def roundtrip_through_projects(tmp_path: Path, src: Path, fmt: str, labels: bool = True,
                               fmt_in: str = "auto") -> tuple[dict, dict, Project, Path]:
    """Import ``src``, export as ``fmt``, import that export into a second project: both
    projects' regions (the first project is returned open, with the export folder)."""
    first = Project.create(tmp_path / "first")
    summary = import_annotations(first, [src], fmt=fmt_in, options=None)
    assert not summary.failures, summary.failures
    assert summary.pages > 0
    out = tmp_path / f"out-{fmt}"
    n = export(first, out, fmt)
    assert n == summary.pages
    second = Project.create(tmp_path / "second")
    try:
        again = import_annotations(second, [out], fmt="auto")
        assert not again.failures, again.failures
        assert again.pages == summary.pages
        return project_regions(first), project_regions(second), first, out
    finally:
        second.close()


def sroie_pages(sroie_dir: Path, n: int = 2) -> list[tuple[Path, dict]]:
    jpgs = sorted(sroie_dir.glob("*.jpg"))[:n]
    return [(p, json.loads(p.with_suffix(".json").read_text())) for p in jpgs]


def reference_lines(ref: dict) -> list[Line]:
    return [Line(points=[(float(b[i]), float(b[i + 1])) for i in range(0, 8, 2)], text=ln["text"])
            for ln in ref["lines"] for b in [ln["box"]]]


# -- Label Studio fixtures ------------------------------------------------------------------------------
def ls_rect(rid: str, x, y, w, h, rot=0.0, text=None, label=None, W=200, H=100, score=None) -> list[dict]:
    geom = {"x": x, "y": y, "width": w, "height": h, "rotation": rot}
    common = {"id": rid, "to_name": "image", "original_width": W, "original_height": H, "image_rotation": 0}
    out = [{**common, "from_name": "bbox", "type": "rectangle", "value": dict(geom)}]
    if label is not None:
        out.append({**common, "from_name": "label", "type": "labels", "value": {**geom, "labels": [label]}})
    if text is not None:
        out.append({**common, "from_name": "transcription", "type": "textarea", "value": {**geom, "text": [text]}})
    if score is not None:
        for r in out:
            r["score"] = score
    return out


def ls_poly(rid: str, points, text, W, H, label="Text") -> list[dict]:
    pts = [[100 * x / W, 100 * y / H] for x, y in points]
    common = {"id": rid, "to_name": "image", "original_width": W, "original_height": H}
    return [{**common, "from_name": "poly", "type": "polygon", "value": {"points": pts, "closed": True}},
            {**common, "from_name": "label", "type": "labels", "value": {"points": pts, "labels": [label]}},
            {**common, "from_name": "transcription", "type": "textarea", "value": {"points": pts, "text": [text]}}]


def ls_lines(lines: list[Line], W: int, H: int, prefix: str = "r") -> list[dict]:
    """Lines as Label Studio results, built by hand (not by the writer): rotated rectangles as
    rectangles with a rotation, other quads as polygons."""
    out = []
    for i, ln in enumerate(lines):
        (x0, y0), (x1, y1), _, (x3, y3) = ln.points
        w, h = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        deg = math.degrees(math.atan2(y1 - y0, x1 - x0))
        if all(abs(a - b) < 0.01 for p, q in zip(ln.points, rotated_rect((x0, y0), w, h, deg)) for a, b in zip(p, q)):
            out += ls_rect(f"{prefix}{i}", 100 * x0 / W, 100 * y0 / H, 100 * w / W, 100 * h / H, deg % 360,
                           text=ln.text, label=ln.label or "Text", W=W, H=H)
        else:
            out += ls_poly(f"{prefix}{i}", ln.points, ln.text, W, H, label=ln.label or "Text")
    return out


def write_tasks(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path) -> Path:
    """A folder with one 200x100 image, ``receipt.png``."""
    d = tmp_path / "ls"
    write_png(d / "receipt.png", 1, (200, 100))
    return d


# -- rotation and percent geometry ---------------------------------------------------------------------
def test_rotation_is_about_the_top_left_corner_in_pixels_of_the_percent_box(small):
    """x=10%, y=20%, 25% x 10% of a 200x100 image, rotated 30 degrees: by hand, the top-left
    corner stays at (20, 20); the top edge (50 px) ends at (20 + 50 cos 30, 20 + 50 sin 30) =
    (63.3013, 45); the left edge (10 px) at (20 - 10 sin 30, 20 + 10 cos 30) = (15, 28.6603);
    the far corner at their sum less the start, (58.3013, 53.6603)."""
    write_tasks(small / "export.json", [{"id": 1, "data": {"image": "receipt.png"},
                                         "annotations": [{"result": ls_rect("a", 10, 20, 25, 10, 30, text="X")}]}])
    (page,) = read_all("labelstudio", small)
    want = [(20.0, 20.0), (63.30127, 45.0), (58.30127, 53.66025), (15.0, 28.66025)]
    for (gx, gy), (wx, wy) in zip(page.lines[0].points, want):
        assert gx == pytest.approx(wx, abs=1e-4) and gy == pytest.approx(wy, abs=1e-4)
    # And back: the writer's rectangle is the same percent box and angle.
    fit = fit_rect(page.lines[0].points)
    assert fit is not None
    (x, y), w, h, deg = fit
    assert (100 * x / 200, 100 * y / 100, 100 * w / 200, 100 * h / 100) == pytest.approx((10, 20, 25, 10))
    assert deg == pytest.approx(30)


def test_unrotated_box_and_a_polygon_of_five_points(small):
    results = ls_rect("a", 0, 0, 50, 50, text="top left") + [
        {"id": "b", "type": "polygon", "from_name": "poly", "to_name": "image", "original_width": 200,
         "original_height": 100, "value": {"points": [[60, 10], [90, 10], [90, 40], [60, 40], [55, 25]]}}]
    write_tasks(small / "t.json", [{"data": {"image": "receipt.png"}, "annotations": [{"result": results}]}])
    (page,) = read_all("labelstudio", small / "t.json")
    assert page.lines[0].points == [(0, 0), (100, 0), (100, 50), (0, 50)]
    assert page.lines[0].text == "top left" and page.lines[0].label is None
    # Five points: their smallest rotated rectangle (here the axis-aligned one), clockwise.
    assert page.lines[1].points == [(110, 10), (180, 10), (180, 40), (110, 40)]
    assert page.width == 200 and page.height == 100 and page.checked is True


def test_counter_clockwise_quad_is_turned_clockwise_keeping_its_first_corner():
    assert quad([(0, 0), (0, 10), (50, 10), (50, 0)]) == [(0, 0), (50, 0), (50, 10), (0, 10)]


# -- what a real export holds ---------------------------------------------------------------------------
def test_a_real_export_annotations_predictions_cancelled_drafts_and_image_urls(tmp_path):
    d = tmp_path / "export"
    for i, name in enumerate(["a.png", "b.png", "c.png", "d.png", "e.png"]):
        write_png(d / "imgs" / name, 10 + i, (200, 100))
    tasks = [
        {"id": 11, "data": {"image": "/data/upload/3/1a2b3c4d-a.png"},
         "annotations": [
             {"id": 1, "was_cancelled": False, "updated_at": "2024-05-01T10:00:00Z",
              "result": ls_rect("old", 10, 10, 10, 10, text="OLD")},
             {"id": 2, "was_cancelled": False, "updated_at": "2024-05-02T10:00:00Z",
              "result": ls_rect("n1", 10, 10, 20, 10, text="TOTAL 9,90 €", label="total")
              + ls_rect("n2", 10, 40, 20, 10, text="Café", label="Text")},
             {"id": 3, "was_cancelled": True, "updated_at": "2024-06-01T10:00:00Z",
              "result": ls_rect("c", 0, 0, 5, 5, text="CANCELLED")}],
         "predictions": [{"model_version": "ocr-v3", "score": 0.7,
                          "result": ls_rect("p1", 10, 10, 20, 10, text="T0TAL 9,90", score=0.42)
                          + ls_rect("p2", 10, 40, 20, 10, text="Cafe")}]},
        {"id": 12, "data": {"ocr": "/data/local-files/?d=imgs/b.png"},
         "predictions": [{"model_version": "", "result": ls_rect("q", 50, 50, 10, 10, text="東京")}]},
        {"id": 13, "data": {"image": "https://example.com/bucket/c.png?sig=1"},
         "drafts": [{"result": ls_rect("d", 1, 1, 10, 10, text="draft")}]},
        {"id": 14, "data": {"image": "s3://bucket/folder/d.png"}, "annotations": []},
        {"id": 15, "data": {"image": "imgs/e.png"}, "completions": [{"result": ls_rect("e", 1, 1, 5, 5, text="old LS")}]},
    ]
    write_tasks(d / "project-1-at-2024.json", tasks)
    assert base.detect(d).name == "labelstudio"
    a, b, c, dd, e = read_all("labelstudio", d)
    assert a.image == d / "imgs" / "a.png" and a.checked is True
    assert [(ln.text, ln.label) for ln in a.lines] == [("TOTAL 9,90 €", "total"), ("Café", None)]
    assert [ln.text for ln in a.predictions["label-studio:ocr-v3"]] == ["T0TAL 9,90", "Cafe"]
    assert [ln.confidence for ln in a.predictions["label-studio:ocr-v3"]] == [0.42, 0.7]  # region score, else task's
    assert b.image.name == "b.png" and b.lines == [] and b.checked is False
    assert [ln.text for ln in b.predictions["label-studio"]] == ["東京"]
    assert c.image.name == "c.png" and [ln.text for ln in c.lines] == ["draft"] and c.checked is False
    assert dd.image.name == "d.png" and dd.lines == [] and dd.checked is False
    assert [ln.text for ln in e.lines] == ["old LS"] and e.checked is True


def test_same_name_in_two_folders_is_chosen_by_the_url_path_or_refused(tmp_path):
    d = tmp_path / "x"
    write_png(d / "2023" / "scan.png", 1, (200, 100))
    write_png(d / "2024" / "scan.png", 2, (200, 100))
    write_tasks(d / "t.json", [{"data": {"image": "/data/local-files/?d=archive/2024/scan.png"},
                                "annotations": [{"result": ls_rect("a", 1, 1, 5, 5, text="x")}]}])
    (page,) = read_all("labelstudio", d)
    assert page.image == d / "2024" / "scan.png"
    write_tasks(d / "t.json", [{"data": {"image": "https://host/scan.png"},
                                "annotations": [{"result": ls_rect("a", 1, 1, 5, 5, text="x")}]}])
    with pytest.raises(BadInputError, match="several files are named scan.png"):
        read_all("labelstudio", d)


# -- writer ---------------------------------------------------------------------------------------------
def test_writer_then_reader_keeps_rotated_regions_texts_labels_and_fields(tmp_path):
    img = write_png(tmp_path / "src" / "page.png", 3)
    lines = generated_lines()
    page = export_page(img, lines)
    out = tmp_path / "out"
    out.mkdir()
    assert base.writer("labelstudio").write([page], out, ExportOptions(fields=["company", "date", "total"])) == 1
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=images/page.png"
    assert (out / "images" / "page.png").read_bytes() == img.read_bytes()
    shapes = [r for r in tasks[0]["annotations"][0]["result"] if r["from_name"] in ("bbox", "poly")]
    assert [r["type"] for r in shapes] == ["rectangle"] * 5 + ["polygon", "rectangle"]
    assert shapes[1]["value"]["rotation"] == pytest.approx(12, abs=1e-3)
    assert shapes[2]["value"]["rotation"] == pytest.approx(330, abs=1e-3)
    config = (out / "label_config.xml").read_text(encoding="utf-8")
    for tag in ('name="image"', 'value="total"', 'name="bbox"', 'name="poly"', 'perRegion="true"'):
        assert tag in config
    (back,) = read_all("labelstudio", out)
    assert_same_lines(back.lines, lines, tol=1e-3)
    assert back.fields == page.fields and back.checked is True


def test_writer_puts_uncorrected_machine_lines_in_predictions_with_their_scores(tmp_path):
    img = write_png(tmp_path / "src" / "p.png", 4)
    lines = [Line(points=[(10, 10), (100, 10), (100, 30), (10, 30)], text="MACHINE", confidence=0.61,
                  origin="prediction"),
             Line(points=[(10, 50), (100, 50), (100, 70), (10, 70)], text="FIXED", confidence=0.3,
                  origin="prediction", corrected=True),
             Line(points=[(10, 90), (100, 90), (100, 110), (10, 110)], text="DRAWN", origin="human")]
    prefilled = export_page(img, lines, page_id=1, status="prefilled")
    out = tmp_path / "out"
    out.mkdir()
    base.writer("labelstudio").write([prefilled], out, ExportOptions())
    (task,) = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert task["annotations"] == []  # nobody worked on it: nothing of people's
    (pred,) = task["predictions"]
    assert pred["model_version"] == "proofdesk" and pred["score"] == pytest.approx(0.61)
    (back,) = read_all("labelstudio", out)
    assert back.checked is False and back.lines == []
    assert [(ln.text, ln.confidence) for ln in back.predictions["label-studio:proofdesk"]] == [("MACHINE", 0.61)]
    # Where the exporter hands over the page's predictions by source, each is its own prediction.
    page = export_page(img, lines, page_id=2)
    page.predictions = {"label-studio:v3": [Line(points=lines[0].points, text="M4CHINE", confidence=0.5)]}
    base.writer("labelstudio").write([page], out, ExportOptions())
    (task,) = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert [p["model_version"] for p in task["predictions"]] == ["v3"]
    (back,) = read_all("labelstudio", out)
    assert [ln.text for ln in back.lines] == ["MACHINE", "FIXED", "DRAWN"]
    assert [(ln.text, ln.confidence) for ln in back.predictions["label-studio:v3"]] == [("M4CHINE", 0.5)]


# -- through the project ----------------------------------------------------------------------------------
def test_sroie_receipts_labelstudio_to_proofdesk_to_labelstudio(tmp_path, sroie_dir):
    src = tmp_path / "src"
    tasks, want = [], {}
    for k, (jpg, ref) in enumerate(sroie_pages(sroie_dir), start=1):
        (src / "uploads").mkdir(parents=True, exist_ok=True)
        (src / "uploads" / jpg.name).write_bytes(jpg.read_bytes())
        lines = reference_lines(ref)
        lines[0].label = "company"
        want[jpg.stem] = lines
        tasks.append({"id": k, "data": {"image": f"/data/upload/1/0f0f0f0f-{jpg.name}"},
                      "annotations": [{"result": ls_lines(lines, ref["width"], ref["height"])}]})
    write_tasks(src / "export.json", tasks)
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "labelstudio")
    try:
        for stem, lines in want.items():
            # Every reference line came in (the project orders them itself).
            got = sorted((t, lb) for _, t, lb in first[stem])
            assert got == sorted((ln.text, ln.label) for ln in lines)
        assert all(p.status.value == "done" for p in project.store.pages())
        assert_same_regions(first, second)
    finally:
        project.close()


def test_generated_rotated_non_ascii_pages_round_trip_with_their_predictions(tmp_path):
    src = tmp_path / "src"
    lines = generated_lines()
    write_png(src / "gen1.png", 21)
    write_png(src / "gen2.png", 22)
    write_tasks(src / "tasks.json", [
        {"id": 1, "data": {"image": "gen1.png"}, "annotations": [{"result": ls_lines(lines, 400, 300)}],
         "predictions": [{"model_version": "v3", "result": ls_lines(lines[:2], 400, 300, "m")}]},
        {"id": 2, "data": {"image": "gen2.png"}, "annotations": [{"result": ls_lines(lines[::-1], 400, 300)}],
         "predictions": [{"model_version": "v3", "score": 0.8, "result": ls_lines(lines[2:4], 400, 300, "m")}]},
    ])
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "labelstudio")
    try:
        assert sorted(t for _, t, _ in first["gen1"]) == sorted(ln.text for ln in lines)
        assert_same_regions(first, second)
        store = project.store
        by_doc = {store.get_document(p.document_id).name: p for p in store.pages()}
        assert {p.status.value for p in by_doc.values()} == {"done"}
        preds = store.predictions(by_doc["gen2.png"].id)
        assert [p.engine for p in preds] == ["label-studio:v3"]
        assert sorted(r.text for r in preds[0].regions) == sorted(ln.text for ln in lines[2:4])
        assert all(r.confidence == pytest.approx(0.8) for r in preds[0].regions)
    finally:
        project.close()


def test_a_task_only_predicted_comes_in_pre_filled_and_goes_back_as_a_prediction(tmp_path):
    """Nobody annotated the task in Label Studio: its prediction is the page's pre-fill (not
    people's work, nothing deleted), and it goes back to Label Studio as a prediction."""
    src = tmp_path / "src"
    lines = generated_lines()[2:4]
    write_png(src / "only.png", 23)
    write_tasks(src / "tasks.json", [
        {"id": 2, "data": {"image": "only.png"},
         "predictions": [{"model_version": "v3", "score": 0.8, "result": ls_lines(lines, 400, 300, "m")}]}])
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "labelstudio")
    try:
        (page,) = project.store.pages()
        assert page.status.value == "prefilled"
        assert sorted(t for _, t, _ in first["only"]) == sorted(ln.text for ln in lines)
        (task,) = json.loads((out / "tasks.json").read_text("utf-8"))
        assert task["annotations"] == []
        (pred,) = task["predictions"]
        texts = [r["value"]["text"][0] for r in pred["result"] if r["type"] == "textarea"]
        assert sorted(texts) == sorted(ln.text for ln in lines)
        assert all(r["score"] == pytest.approx(0.8) for r in pred["result"])
        assert_same_regions(first, second)
    finally:
        project.close()


def test_import_as_prediction_makes_an_engine_of_the_format(tmp_path, project):
    src = tmp_path / "src"
    lines = generated_lines()[:3]
    write_png(src / "g.png", 31)
    write_tasks(src / "t.json", [{"data": {"image": "g.png"}, "annotations": [{"result": ls_lines(lines, 400, 300)}]}])
    summary = import_annotations(project, [src], fmt="labelstudio", as_="prediction")
    assert not summary.failures and summary.pages == 1
    (page,) = project.store.pages()
    (pred,) = project.store.predictions(page.id)
    assert pred.engine == "labelstudio-import"
    assert sorted(r.text for r in pred.regions) == sorted(ln.text for ln in lines)


# -- hostile and malformed files ------------------------------------------------------------------------
def _task(results, image="receipt.png", **extra) -> list[dict]:
    return [{"id": 5, "data": {"image": image}, "annotations": [{"result": results}], **extra}]


BAD_TASKS = {
    "percent out of range": (_task(ls_rect("a", 150, 10, 10, 10, text="x")), "between 0 and 100"),
    "negative percent": (_task(ls_rect("a", 10, -5, 10, 10, text="x")), "between 0 and 100"),
    "box off the image": (_task(ls_rect("a", 95, 10, 30, 10, text="x")), "outside the 200x100 image"),
    "rotation as text": (_task(ls_rect("a", 10, 10, 10, 10, rot="30", text="x")), "rotation is not a number"),
    "text not strings": (_task([{**r, "value": {**r["value"], "text": [1]}} if r["type"] == "textarea" else r
                                for r in ls_rect("a", 1, 1, 5, 5, text="x")]), "text must be a list of strings"),
    "value not an object": (_task([{"id": "a", "type": "rectangle", "value": "10,10", "original_width": 200,
                                    "original_height": 100}]), "value must be a JSON object"),
    "result not a list": (_task({"id": "a"}), "result must be a list"),
    "data not an object": ([{"data": ["receipt.png"], "annotations": []}], "data must be a JSON object"),
    "no image": ([{"data": {"text": 3}, "annotations": []}], "data.image"),
    "unknown image": (_task(ls_rect("a", 1, 1, 5, 5, text="x"), image="/data/upload/1/abcdef12-missing.png"),
                      "no file abcdef12-missing.png"),
    "embedded image": (_task([], image="data:image/png;base64,AAAA"), "embedded"),
    "two field labels": (_task([*ls_rect("a", 1, 1, 5, 5, text="x", label="total"),
                                {"id": "a", "type": "labels", "original_width": 200, "original_height": 100,
                                 "value": {"x": 1, "y": 1, "width": 5, "height": 5, "labels": ["date"]}}]),
                         "several field labels"),
    "zero size": (_task(ls_rect("a", 1, 1, 5, 5, text="x", W=0)), "positive whole number"),
    "score out of range": (_task([], predictions=[{"model_version": "v", "result": ls_rect("a", 1, 1, 5, 5, score=7)}]),
                           "between 0 and 1"),
    "polygon point not a pair": (_task([{"id": "p", "type": "polygon", "original_width": 200, "original_height": 100,
                                         "value": {"points": [[1, 1], [2], [3, 3]]}}]), "point 2"),
    "same image twice": (_task([]) + _task([]), "also task 5"),
}


@pytest.mark.parametrize("case", sorted(BAD_TASKS))
def test_malformed_tasks_are_one_error_naming_file_and_task(small, case):
    tasks, message = BAD_TASKS[case]
    write_tasks(small / "bad.json", tasks)
    with pytest.raises(BadInputError, match=message) as err:
        read_all("labelstudio", small / "bad.json")
    assert str(err.value).startswith("bad.json: ")


@pytest.mark.parametrize("text, message", [
    ('[{"data": {"image": "receipt.png"}, "annotations": [{"result": [{"id": "a", "type": "rectangle",'
     ' "original_width": 200, "original_height": 100, "value": {"x": NaN, "y": 1, "width": 1, "height": 1}}]}]}]',
     "not a finite number"),
    ('[{"data": {"image": "receipt.png"}, "annotations": [{"result": [{"id": "a", "type": "rectangle",'
     ' "original_width": 200, "original_height": 100, "value": {"x": 1e999, "y": 1, "width": 1, "height": 1}}]}]}]',
     "not a finite number"),
    ('[{"data": {"image": "receipt.png"}, "annotations": [{"result": [{"id": "a", "type": "rectangle",'
     ' "original_width": 200, "original_height": 100, "value": {"x": ' + "9" * 5000 + ', "y": 1}}]}]}]',
     "not valid JSON|not a finite number"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ('{"data": {"image": "receipt.png"}}', "list of tasks"),
    ('[{"data": {"image": "receipt.png"}, "annotations": [', "not valid JSON"),
    ("\xff\xfe[]", "not UTF-8|not valid JSON"),
])
def test_hostile_json_is_one_error(small, text, message):
    path = small / "hostile.json"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    with pytest.raises(BadInputError, match=message):
        read_all("labelstudio", path)


def test_a_malformed_file_imports_nothing(tmp_path, project):
    src = tmp_path / "src"
    write_png(src / "ok.png", 41, (200, 100))
    write_png(src / "receipt.png", 42, (200, 100))
    write_tasks(src / "t.json", [
        {"id": 1, "data": {"image": "ok.png"}, "annotations": [{"result": ls_rect("a", 1, 1, 5, 5, text="fine")}]},
        {"id": 2, "data": {"image": "receipt.png"}, "annotations": [{"result": ls_rect("b", 1, 1, 500, 5, text="x")}]},
    ])
    summary = import_annotations(project, [src], fmt="labelstudio")
    assert len(summary.failures) == 1 and "task 2" in summary.failures[0][1]
    assert project.store.pages() == []
