"""COCO(-Text), CVAT for images 1.1 and ICDAR 2015 / MLT 2019 in and out: files as those tools
publish them read right, written files read back the same, round trips through two projects
keep every region, and hostile files (NaN, wrong types, entity bombs, missing images) are one
error each, importing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import BadInputError
from core.formats import ExportOptions, Line, base
from core.formats.icdar import script_of
from core.formats.importing import import_annotations
from tests.core.formats.test_labelstudio import (
    assert_same_lines,
    assert_same_regions,
    export_page,
    generated_lines,
    read_all,
    reference_lines,
    roundtrip_through_projects,
    sroie_pages,
    write_png,
)

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True


def _write(fmt: str, pages, out: Path, **options) -> int:
    out.mkdir(parents=True, exist_ok=True)
    return base.writer(fmt).write(pages, out, ExportOptions(**options))


def _flat(points) -> list[float]:
    return [float(c) for p in points for c in p]


# -- COCO ---------------------------------------------------------------------------------------------------
def coco_dataset(pages: list[tuple[str, int, int, list[Line]]], with_segmentation: bool = True) -> dict:
    """A COCO-Text style dataset built by hand: category 1 "text", then the labels."""
    cats = {"text": 1}
    images, anns = [], []
    for i, (name, w, h, lines) in enumerate(pages, start=1):
        images.append({"id": 100 + i, "file_name": name, "width": w, "height": h})
        for ln in lines:
            xs, ys = [p[0] for p in ln.points], [p[1] for p in ln.points]
            cid = cats.setdefault(ln.label or "text", len(cats) + 1)
            ann = {"id": len(anns) + 1, "image_id": 100 + i, "category_id": cid,
                   "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], "iscrowd": 0,
                   "utf8_string": ln.text, "legibility": "legible", "language": "english"}
            if with_segmentation:
                ann["segmentation"] = [_flat(ln.points)]
            anns.append(ann)
    return {"info": {"description": "test"}, "images": images, "annotations": anns,
            "categories": [{"id": cid, "name": n, "supercategory": "text"} for n, cid in cats.items()]}


def test_coco_text_dataset_results_file_and_cocotext_v2_layout(tmp_path):
    d = tmp_path / "coco"
    write_png(d / "train2014" / "a.jpg", 1, (300, 200))
    write_png(d / "train2014" / "b.jpg", 2, (300, 200))
    rotated = [(50, 20), (150, 40), (146, 60), (46, 40)]
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 300, "height": 200},
                   {"id": "b", "file_name": "train2014/b.jpg", "width": 300, "height": 200}],
        "categories": [{"id": 1, "name": "text"}, {"id": 2, "name": "total"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 2, "bbox": [46, 20, 104, 40], "segmentation": [_flat(rotated)],
             "utf8_string": "9,90 €", "legibility": "legible"},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 100, 80, 20], "utf8_string": "Café"},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [10, 150, 30, 10], "legibility": "illegible"},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [200, 150, 30, 10], "utf8_string": "guess",
             "score": 0.35},
            {"id": 5, "image_id": "b", "category_id": 1, "bbox": [0, 0, 10, 10], "utf8_string": "東京",
             "segmentation": {"counts": "abc", "size": [200, 300]}, "iscrowd": 1},
        ]}
    (d / "instances.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (d / "detector.json").write_text(json.dumps([
        {"image_id": 1, "category_id": 1, "bbox": [10, 100, 80, 20], "score": 0.9, "utf8_string": "Cafe"}]))
    assert base.detect(d).name == "coco"
    a, b = read_all("coco", d)
    assert a.image == d / "train2014" / "a.jpg" and (a.width, a.height) == (300, 200)
    assert [(ln.text, ln.label) for ln in a.lines] == [("9,90 €", "total"), ("Café", None), ("###", None)]
    assert a.lines[0].points == [(50, 20), (150, 40), (146, 60), (46, 40)]
    assert a.lines[1].points == [(10, 100), (90, 100), (90, 120), (10, 120)]
    assert [(ln.text, ln.confidence) for ln in a.predictions["coco"]] == [("guess", 0.35)]
    assert [(ln.text, ln.confidence) for ln in a.predictions["coco:detector"]] == [("Cafe", 0.9)]
    assert b.image.name == "b.jpg" and [ln.text for ln in b.lines] == ["東京"]  # a run-length mask: its bbox

    v2 = tmp_path / "v2"
    write_png(v2 / "COCO_train2014_000000000001.jpg", 3, (300, 200))
    (v2 / "cocotext.v2.json").write_text(json.dumps({
        "cats": {}, "info": {},
        "imgs": {"1": {"id": 1, "set": "train", "file_name": "COCO_train2014_000000000001.jpg", "width": 300,
                       "height": 200}},
        "anns": {"7": {"id": 7, "image_id": 1, "bbox": [10, 10, 40, 20], "mask": [10, 10, 50, 10, 50, 30, 10, 30],
                       "utf8_string": "STOP", "legibility": "legible", "class": "machine printed",
                       "language": "english", "area": 800}},
        "imgToAnns": {"1": [7]}}))
    (page,) = read_all("coco", v2)
    assert [(ln.text, ln.points) for ln in page.lines] == [("STOP", [(10, 10), (50, 10), (50, 30), (10, 30)])]


def test_coco_writer_then_reader_keeps_rotated_regions_texts_and_labels(tmp_path):
    img = write_png(tmp_path / "src" / "gen.png", 5)
    lines = generated_lines() + [Line(points=[(5, 5), (40, 5), (40, 15), (5, 15)], text="###")]
    out = tmp_path / "out"
    assert _write("coco", [export_page(img, lines)], out, fields=["company", "date", "total"]) == 1
    data = json.loads((out / "annotations.json").read_text("utf-8"))
    assert [c["name"] for c in data["categories"]] == ["text", "company", "date", "total"]
    assert data["images"] == [{"id": 1, "file_name": "gen.png", "width": 400, "height": 300}]
    assert data["annotations"][-1]["legibility"] == "illegible" and "utf8_string" not in data["annotations"][-1]
    assert (out / "images" / "gen.png").read_bytes() == img.read_bytes()
    (back,) = read_all("coco", out)
    assert_same_lines(back.lines, lines, tol=0.01)


def test_coco_writer_splits_train_and_val_with_a_dataset_version(tmp_path):
    a = write_png(tmp_path / "src" / "a.png", 6)
    b = write_png(tmp_path / "src" / "b.png", 7)
    lines = generated_lines()[:2]
    out = tmp_path / "out"
    _write("coco", [export_page(a, lines, 1, split="train"), export_page(b, lines, 2, split="val")], out)
    assert [im["file_name"] for im in json.loads((out / "train.json").read_text())["images"]] == ["a.png"]
    assert [im["file_name"] for im in json.loads((out / "val.json").read_text())["images"]] == ["b.png"]
    assert [p.image.name for p in read_all("coco", out)] == ["a.png", "b.png"]


def test_coco_sroie_and_generated_pages_round_trip_through_projects(tmp_path, sroie_dir):
    src = tmp_path / "src"
    pages = []
    for jpg, ref in sroie_pages(sroie_dir):
        (src / "images").mkdir(parents=True, exist_ok=True)
        (src / "images" / jpg.name).write_bytes(jpg.read_bytes())
        lines = reference_lines(ref)
        lines[-1].label = "total"
        pages.append((jpg.name, ref["width"], ref["height"], lines))
    write_png(src / "images" / "gen.png", 8)
    pages.append(("gen.png", 400, 300, generated_lines()))
    (src / "instances_train.json").write_text(json.dumps(coco_dataset(pages), ensure_ascii=False), encoding="utf-8")
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "coco")
    try:
        for name, _, _, lines in pages:
            got = sorted((t, lb) for _, t, lb in first[Path(name).stem])
            assert got == sorted((ln.text, ln.label) for ln in lines)
        assert_same_regions(first, second)
    finally:
        project.close()


def _coco_bad(**changes) -> dict:
    data = coco_dataset([("x.png", 200, 100, [Line(points=[(1, 1), (50, 1), (50, 20), (1, 20)], text="ok")])])
    for key, value in changes.items():
        if key == "ann":
            data["annotations"][0].update(value)
        elif key == "image":
            data["images"][0].update(value)
        else:
            data[key] = value
    return data


BAD_COCO = {
    "unknown image_id": (_coco_bad(ann={"image_id": 999}), "image_id 999 is not one of the images"),
    "bbox of three numbers": (_coco_bad(ann={"bbox": [1, 2, 3], "segmentation": []}), "bbox must be"),
    "negative bbox": (_coco_bad(ann={"bbox": [1, 2, -3, 4], "segmentation": []}), "negative size"),
    "text a number": (_coco_bad(ann={"utf8_string": 12}), "utf8_string must be a string"),
    "segmentation of strings": (_coco_bad(ann={"segmentation": [["a", 1, 2, 3, 4, 5]]}), "not a number"),
    "odd segmentation": (_coco_bad(ann={"segmentation": [[1, 2, 3, 4, 5]]}), "3 or more x, y pairs"),
    "unknown category": (_coco_bad(ann={"category_id": 42}), "category_id 42"),
    "missing image file": (_coco_bad(image={"file_name": "nowhere.png"}), "no file nowhere.png"),
    "width not whole": (_coco_bad(image={"width": 10.5}), "positive whole number"),
    "score above one": (_coco_bad(ann={"score": 3}), "between 0 and 1"),
    "image id twice": (_coco_bad(images=[{"id": 1, "file_name": "x.png", "width": 200, "height": 100}] * 2),
                       "used twice"),
    "annotation not an object": (_coco_bad(annotations=["x"]), "must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_COCO))
def test_coco_malformed_is_one_error(tmp_path, case):
    data, message = BAD_COCO[case]
    write_png(tmp_path / "x.png", 9, (200, 100))
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=message) as err:
        read_all("coco", tmp_path / "bad.json")
    assert str(err.value).startswith("bad.json: ")


@pytest.mark.parametrize("text, message", [
    ('{"images": [{"id": 1, "file_name": "x.png", "width": 200, "height": 100}], "annotations": ['
     '{"id": 1, "image_id": 1, "bbox": [NaN, 1, 2, 3]}]}', "not a finite number"),
    ('{"images": [{"id": 1, "file_name": "x.png", "width": 200, "height": 100}], "annotations": ['
     '{"id": 1, "image_id": 1, "bbox": [1e999, 1, 2, 3]}]}', "not a finite number"),
    ('{"images": ' + "[" * 100_000, "nested too deeply|not valid JSON"),
])
def test_coco_hostile_json_is_one_error(tmp_path, text, message):
    write_png(tmp_path / "x.png", 9, (200, 100))
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(BadInputError, match=message):
        read_all("coco", tmp_path / "bad.json")


def test_coco_results_file_alone_is_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps([{"image_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    with pytest.raises(BadInputError, match="names no images"):
        read_all("coco", tmp_path)


# -- CVAT -----------------------------------------------------------------------------------------------
CVAT_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task><labels>' \
            '<label><name>text</name></label><label><name>total</name></label></labels></task></meta>\n'


def test_cvat_rotated_box_is_turned_about_its_centre_and_attributes_carry_text(tmp_path):
    """A 100x20 box at (100,50)-(200,70), rotated 90 degrees clockwise about its centre
    (150, 60): by hand its top-left corner (-50, -10) from the centre goes to (10, -50), so
    (160, 10); the top-right (50, -10) to (10, 50): (160, 110); then (140, 110) and (140, 10)."""
    d = tmp_path / "cvat"
    write_png(d / "images" / "sub" / "r.png", 11, (300, 200))
    (d / "annotations.xml").write_text(CVAT_HEAD + """
<image id="0" name="sub/r.png" width="300" height="200">
  <box label="text" source="manual" occluded="0" xtl="100" ytl="50" xbr="200" ybr="70" rotation="90" z_order="0">
    <attribute name="text">Vertical 東京</attribute>
  </box>
  <polygon label="total" points="10,150;90,150;90,170;10,170" occluded="0">
    <attribute name="Transcription">9,90 € &lt;net&gt;</attribute>
  </polygon>
  <polygon label="Line" points="10,10;60,10;60,30;10,30;5,20"><attribute name="ocr">five</attribute></polygon>
  <polyline label="text" points="1,1;5,5"></polyline>
  <tag label="receipt" source="manual"></tag>
  <box label="text" xtl="220" ytl="20" xbr="280" ybr="40"></box>
</image>
</annotations>""", encoding="utf-8")
    assert base.detect(d).name == "cvat"
    (page,) = read_all("cvat", d)
    assert page.image == d / "images" / "sub" / "r.png" and (page.width, page.height) == (300, 200)
    box = page.lines[0]
    for (gx, gy), (wx, wy) in zip(box.points, [(160, 10), (160, 110), (140, 110), (140, 10)]):
        assert gx == pytest.approx(wx, abs=1e-9) and gy == pytest.approx(wy, abs=1e-9)
    assert [(ln.text, ln.label) for ln in page.lines] == [
        ("Vertical 東京", None), ("9,90 € <net>", "total"), ("five", None), ("", None)]
    assert page.lines[2].points == [(5, 10), (60, 10), (60, 30), (5, 30)]


def test_cvat_writer_then_reader_keeps_rotated_regions_texts_and_labels(tmp_path):
    img = write_png(tmp_path / "src" / "gen.png", 12)
    lines = generated_lines()
    lines[0].origin = "prediction"
    out = tmp_path / "out"
    assert _write("cvat", [export_page(img, lines)], out, fields=["company", "date", "total"]) == 1
    xml = (out / "annotations.xml").read_text("utf-8")
    assert "<version>1.1</version>" in xml and "<name>total</name>" in xml
    assert xml.count("<box ") == 6 and xml.count("<polygon ") == 1 and 'rotation="12.00"' in xml
    assert 'source="auto"' in xml
    (back,) = read_all("cvat", out)
    assert_same_lines(back.lines, lines, tol=0.02)


def test_cvat_sroie_and_generated_pages_round_trip_through_projects(tmp_path, sroie_dir):
    src = tmp_path / "src"
    body, want = [], {}
    for k, (jpg, ref) in enumerate(sroie_pages(sroie_dir)):
        (src / "images").mkdir(parents=True, exist_ok=True)
        (src / "images" / jpg.name).write_bytes(jpg.read_bytes())
        lines = reference_lines(ref)
        lines[1].label = "company"
        want[jpg.stem] = lines
        shapes = []
        for ln in lines:
            xs, ys = [p[0] for p in ln.points], [p[1] for p in ln.points]
            text = ln.text.replace("&", "&amp;").replace("<", "&lt;")
            shapes.append(f'<box label="{ln.label or "text"}" xtl="{min(xs)}" ytl="{min(ys)}" xbr="{max(xs)}"'
                          f' ybr="{max(ys)}"><attribute name="text">{text}</attribute></box>')
        body.append(f'<image id="{k}" name="{jpg.name}" width="{ref["width"]}" height="{ref["height"]}">'
                    + "".join(shapes) + "</image>")
    write_png(src / "images" / "gen.png", 13)
    lines = generated_lines()
    want["gen"] = lines
    shapes = [f'<polygon label="{ln.label or "text"}" points="{";".join(f"{x},{y}" for x, y in ln.points)}">'
              f'<attribute name="text">{ln.text.replace("&", "&amp;").replace("<", "&lt;")}</attribute></polygon>'
              for ln in lines]
    body.append('<image id="9" name="gen.png" width="400" height="300">' + "".join(shapes) + "</image>")
    (src / "annotations.xml").write_text(CVAT_HEAD + "\n".join(body) + "</annotations>", encoding="utf-8")
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "cvat")
    try:
        for stem, lines in want.items():
            assert sorted((t, lb) for _, t, lb in first[stem]) == sorted((ln.text, ln.label) for ln in lines)
        assert_same_regions(first, second)
    finally:
        project.close()


BOMB = """<?xml version="1.0"?>
<!DOCTYPE annotations [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<annotations><version>1.1</version><image id="0" name="x.png" width="200" height="100">
<box label="text" xtl="1" ytl="1" xbr="5" ybr="5"><attribute name="text">&f;</attribute></box></image></annotations>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotations><version>1.1</version><image id="0" name="x.png" width="200" height="100">
<box label="text" xtl="1" ytl="1" xbr="5" ybr="5"><attribute name="text">&secret;</attribute></box></image></annotations>"""


def _cvat(shape: str, image: str = '<image id="0" name="x.png" width="200" height="100">') -> str:
    return CVAT_HEAD + image + shape + "</image></annotations>"


BAD_CVAT = {
    "entity bomb": (BOMB, "DTD"),
    "external entity": (EXTERNAL, "DTD"),
    "undeclared entity": (_cvat('<box label="text" xtl="1" ytl="1" xbr="5" ybr="5">&x;</box>'), "well-formed"),
    "not XML": ("<annotations><image>", "well-formed"),
    "deep nesting": (CVAT_HEAD + "<x>" * 100_000 + "</x>" * 100_000 + "</annotations>", "well-formed"),
    "NaN corner": (_cvat('<box label="text" xtl="nan" ytl="1" xbr="5" ybr="5"/>'), "not a finite number"),
    "huge corner": (_cvat('<box label="text" xtl="1e999" ytl="1" xbr="5" ybr="5"/>'), "not a finite number"),
    "word for a corner": (_cvat('<box label="text" xtl="left" ytl="1" xbr="5" ybr="5"/>'), "not a number"),
    "missing corner": (_cvat('<box label="text" xtl="1" ytl="1" xbr="5"/>'), "has no ybr"),
    "inside-out box": (_cvat('<box label="text" xtl="9" ytl="1" xbr="5" ybr="5"/>'), "ends before it starts"),
    "bad polygon": (_cvat('<polygon label="text" points="1,1;2;3,3"/>'), "point 2"),
    "two-point polygon": (_cvat('<polygon label="text" points="1,1;2,2"/>'), "3 or more points"),
    "missing image": (_cvat("", '<image id="0" name="gone.png" width="200" height="100">'), "no file gone.png"),
    "image size": (_cvat("", '<image id="0" name="x.png" width="-3" height="100">'), "positive whole number"),
    "video": (CVAT_HEAD + '<track id="0" label="text"><box frame="0" xtl="1" ytl="1" xbr="2" ybr="2"/></track>'
              "</annotations>", "CVAT for video"),
    "other root": ('<?xml version="1.0"?><annotations2><image/></annotations2>', "no CVAT XML|not <annotations>"),
}


@pytest.mark.parametrize("case", sorted(BAD_CVAT))
def test_cvat_malformed_is_one_error(tmp_path, case):
    text, message = BAD_CVAT[case]
    write_png(tmp_path / "x.png", 14, (200, 100))
    (tmp_path / "annotations.xml").write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match=message):
        read_all("cvat", tmp_path / "annotations.xml")


def test_cvat_entity_bomb_imports_nothing(tmp_path, project):
    write_png(tmp_path / "x.png", 15, (200, 100))
    (tmp_path / "annotations.xml").write_text(BOMB, encoding="utf-8")
    summary = import_annotations(project, [tmp_path], fmt="cvat")
    assert len(summary.failures) == 1 and "DTD" in summary.failures[0][1]
    assert project.store.pages() == []


# -- ICDAR ----------------------------------------------------------------------------------------------
def test_icdar2015_and_mlt2019_files_as_published(tmp_path):
    d = tmp_path / "icdar"
    write_png(d / "ch4_training_images" / "img_1.jpg", 16, (300, 200))
    write_png(d / "ch4_training_images" / "img_2.jpg", 17, (300, 200))
    gt = d / "ch4_training_localization_transcription_gt"
    gt.mkdir()
    (gt / "gt_img_1.txt").write_bytes("\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\r\n"
                                      "493,115,519,115,519,131,493,131,[06]\r\n"
                                      "374,155,409,155,409,170,374,170,###\r\n"
                                      "10,10,90,10,90,30,10,30,1,234.50 €, net\r\n"
                                      "\r\n".encode("utf-8"))
    (gt / "gt_img_2.txt").write_text("10,10,60,10,60,30,10,30,Chinese,東京,大阪\n"
                                     "10,40,60,40,60,60,10,60,Latin,Café\n"
                                     "10.5,70,60,70,60,90,10,90,None,###\n", encoding="utf-8")
    assert base.detect(d).name == "icdar"
    a, b = read_all("icdar", d)
    assert a.image.name == "img_1.jpg"
    assert [ln.text for ln in a.lines] == ["Genaxis Theatre", "[06]", "###", "1,234.50 €, net"]
    assert a.lines[0].points == [(377, 117), (463, 117), (465, 130), (378, 130)]
    assert [ln.text for ln in b.lines] == ["東京,大阪", "Café", "###"]  # the script column is not text
    assert b.lines[2].points[0] == (10.5, 70)


def test_icdar_writers_then_reader(tmp_path):
    img = write_png(tmp_path / "src" / "gen.png", 18)
    lines = generated_lines() + [Line(points=[(5, 5), (40, 5), (40, 15), (5, 15)], text="")]
    page = export_page(img, lines)
    out15, out19 = tmp_path / "out15", tmp_path / "out19"
    _write("icdar", [page], out15)
    _write("icdar2019", [page], out19)
    raw = (out15 / "gt" / "gt_gen.txt").read_bytes()
    assert raw.startswith("\ufeff".encode()) and raw.count(b"\r\n") == len(lines)
    first = raw.decode("utf-8-sig").split("\r\n")[0]
    assert first == "20,20,170,20,170,44,20,44,Café crème brûlée"
    mlt = (out19 / "gt" / "gt_gen.txt").read_bytes().decode("utf-8-sig").split("\r\n")
    assert mlt[0] == "20,20,170,20,170,44,20,44,Latin,Café crème brûlée"
    assert mlt[3].split(",")[8] == "Chinese" and mlt[-2].endswith(",None,###")
    want = [Line(points=ln.points, text=ln.text or "###") for ln in lines]
    for out in (out15, out19):
        (back,) = read_all("icdar", out)
        assert back.image == out / "images" / "gen.png"
        assert_same_lines(back.lines, want, labels=False, tol=0.5)


def test_script_guesses():
    assert [script_of(t) for t in ["Café", "東京", "ひらがな漢字", "서울", "مرحبا", "বাংলা", "हिन्दी", "12,50 €",
                                   "Tokyo 東京", "###"]] == [
        "Latin", "Chinese", "Japanese", "Korean", "Arabic", "Bangla", "Hindi", "Symbols", "Mixed", "None"]


def test_icdar_sroie_and_generated_pages_round_trip_through_projects(tmp_path, sroie_dir):
    src = tmp_path / "src"
    want = {}
    for jpg, ref in sroie_pages(sroie_dir):
        (src / "imgs").mkdir(parents=True, exist_ok=True)
        (src / "gt").mkdir(parents=True, exist_ok=True)
        (src / "imgs" / jpg.name).write_bytes(jpg.read_bytes())
        (src / "gt" / f"gt_{jpg.stem}.txt").write_text(
            "".join(",".join(map(str, ln["box"])) + "," + ln["text"] + "\r\n" for ln in ref["lines"]),
            encoding="utf-8-sig")
        want[jpg.stem] = [ln["text"] for ln in ref["lines"]]
    write_png(src / "imgs" / "gen.png", 19)
    lines = generated_lines()
    (src / "gt" / "gt_gen.txt").write_text("".join(
        ",".join(str(round(c)) for p in ln.points for c in p) + f",{ln.text}\n" for ln in lines), encoding="utf-8")
    want["gen"] = [ln.text for ln in lines]
    first, second, project, out = roundtrip_through_projects(tmp_path, src, "icdar", labels=False)
    try:
        for stem, texts in want.items():
            assert sorted(t for _, t, _ in first[stem]) == sorted(texts)
        assert_same_regions(first, second, labels=False)
    finally:
        project.close()


BAD_ICDAR = {
    "seven coordinates": ("1,2,3,4,5,6,7\n", "line 1: needs 8 coordinates"),
    "NaN": ("1,1,5,1,5,5,nan,5,text\n", "line 1: coordinate 'nan' is not a finite number"),
    "huge": ("ok\n" * 0 + "1,1,5,1,5,5,1,5,a\n1,1,1e999,1,5,5,1,5,b\n", "line 2: coordinate '1e999'"),
    "word": ("1,1,five,1,5,5,1,5,text\n", "coordinate 'five'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ICDAR))
def test_icdar_malformed_is_one_error(tmp_path, case):
    text, message = BAD_ICDAR[case]
    write_png(tmp_path / "x.png", 20, (200, 100))
    (tmp_path / "gt_x.txt").write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match=message) as err:
        read_all("icdar", tmp_path)
    assert str(err.value).startswith("gt_x.txt: ")


def test_icdar_not_utf8_or_without_image_is_one_error(tmp_path):
    write_png(tmp_path / "x.png", 20, (200, 100))
    (tmp_path / "gt_x.txt").write_bytes("1,1,5,1,5,5,1,5,caf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInputError, match="not UTF-8"):
        read_all("icdar", tmp_path)
    (tmp_path / "gt_x.txt").unlink()
    (tmp_path / "gt_y.txt").write_text("1,1,5,1,5,5,1,5,y\n")
    with pytest.raises(BadInputError, match="no image y"):
        read_all("icdar", tmp_path)


def test_icdar_box_off_the_page_imports_nothing(tmp_path, project):
    write_png(tmp_path / "x.png", 21, (200, 100))
    (tmp_path / "gt_x.txt").write_text("1,1,5,1,5,5,1,5,fine\n1,1,500,1,500,5,1,5,too far\n")
    summary = import_annotations(project, [tmp_path], fmt="icdar")
    assert len(summary.failures) == 1 and "outside" in summary.failures[0][1]
    assert project.store.pages() == []
