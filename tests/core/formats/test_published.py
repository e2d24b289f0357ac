"""FUNSD, SROIE and CORD as published: layouts, lines, labels, fields, and hostile files.

SROIE is tested on real receipts (``shared/datasets/sroie-dev`` converted into the published
task-1 / task-3 text files in a temporary folder); FUNSD on its published JSON rebuilt from
``funsd-dev``'s original entities (nothing of funsd-dev is copied into the repository, and its
images are not used) and on a generated form; CORD on generated receipts in its published layout.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from core.errors import BadInputError
from core.formats import base
from core.formats.importing import import_annotations
from core.formats.published import CordReader, FunsdReader, SroieReader, funsd_lines, union_quad
from core.model import PageStatus
from tests.conftest import DATASETS, image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True

FUNSD_DEV = DATASETS / "funsd-dev"


# -- SROIE on real receipts ------------------------------------------------------------------------------
def _sroie_refs(sroie_dir: Path, limit: int | None = None) -> dict[str, dict]:
    refs = {}
    for jp in sorted(sroie_dir.glob("*.json"))[:limit]:
        refs[jp.stem] = json.loads(jp.read_text(encoding="utf-8"))
    return refs


def _task1(ref: dict) -> str:
    # As published: integer corners, then the text (which may hold commas), CRLF line ends.
    return "".join(",".join(str(int(c)) for c in ln["box"]) + "," + ln["text"] + "\r\n" for ln in ref["lines"])


def _task3(ref: dict) -> str:
    return json.dumps(ref["fields"], indent=4)


def sroie_kaggle(sroie_dir: Path, dest: Path, limit: int | None = None, copy: bool = False) -> dict[str, dict]:
    """``box/`` + ``entities/`` + ``img/`` (the "SROIE datasetv2" layout)."""
    refs = _sroie_refs(sroie_dir, limit)
    for sub in ("box", "entities", "img"):
        (dest / sub).mkdir(parents=True)
    for stem, ref in refs.items():
        (dest / "box" / f"{stem}.txt").write_bytes(_task1(ref).encode("utf-8"))
        (dest / "entities" / f"{stem}.txt").write_text(_task3(ref), encoding="utf-8")
        if copy:
            shutil.copyfile(sroie_dir / ref["image"], dest / "img" / ref["image"])
        else:
            (dest / "img" / ref["image"]).symlink_to(sroie_dir / ref["image"])
    return refs


def test_sroie_reads_real_receipts_lines_fields_and_labels(sroie_dir, tmp_path):
    refs = sroie_kaggle(sroie_dir, tmp_path / "SROIE2019" / "train")
    reader = SroieReader()
    assert reader.detect(tmp_path / "SROIE2019" / "train") >= 0.8
    pages = list(reader.read(tmp_path / "SROIE2019" / "train"))
    assert len(pages) == len(refs) == 60
    labelled = {"company": 0, "date": 0, "address": 0, "total": 0}
    for page in pages:
        ref = refs[page.image.stem]
        assert page.image == tmp_path / "SROIE2019" / "train" / "img" / ref["image"]
        assert [ln.text for ln in page.lines] == [ln["text"] for ln in ref["lines"]]
        assert [[c for p in ln.points for c in p] for ln in page.lines] == [ln["box"] for ln in ref["lines"]]
        assert page.fields == {k: v for k, v in ref["fields"].items() if v.strip()}
        assert page.checked is None and page.predictions == {}
        for name, value in page.fields.items():
            runs = [i for i, ln in enumerate(page.lines) if ln.label == name]
            if runs:
                labelled[name] += 1
                # One run of consecutive lines, spelling the value (spaces and case aside).
                assert runs == list(range(runs[0], runs[-1] + 1))
                joined = "".join(page.lines[i].text for i in runs)
                assert "".join(joined.split()).casefold() == "".join(value.split()).casefold()
        assert all(ln.label in (None, *page.fields) for ln in page.lines)
    # Totals and addresses are spelled by lines on nearly every receipt; dates mostly sit inside a
    # longer line ("DATE: ..."), companies often beside a registration number: those stay unlabelled.
    assert labelled["total"] >= 50 and labelled["address"] >= 48
    assert 25 <= labelled["company"] < 60 and 5 <= labelled["date"] < 60

    speed_mart = next(p for p in pages if p.image.stem == "X51005361950")
    assert [(ln.label, ln.text) for ln in speed_mart.lines if ln.label] == [
        ("address", "LOT P.T. 2811, JALAN ANGSA,"), ("address", "TAMAN BERKELEY"),
        ("address", "41150 KLANG, SELANGOR"), ("address", "1076-IJOK"),
        ("date", "24-01-18"), ("total", "2.50")]


def test_sroie_task_folders_side_by_side_and_one_folder(sroie_dir, tmp_path):
    """The ICDAR download: a task-1 folder and a task-3 folder, each with the images; or all in one."""
    refs = _sroie_refs(sroie_dir, 3)
    t1, t3, flat = tmp_path / "dl" / "0325updated.task1train(626p)", tmp_path / "dl" / "task3", tmp_path / "flat"
    for d in (t1, t3, flat):
        d.mkdir(parents=True)
    for stem, ref in refs.items():
        for d in (t1, t3, flat):
            (d / ref["image"]).symlink_to(sroie_dir / ref["image"])
        (t1 / f"{stem}.txt").write_text(_task1(ref), encoding="utf-8")
        (t3 / f"{stem}.txt").write_text(_task3(ref), encoding="utf-8")
        (flat / f"{stem}.txt").write_text(_task1(ref), encoding="utf-8")
    pages = list(SroieReader().read(tmp_path / "dl"))
    assert [p.image.stem for p in pages] == list(refs)
    for page in pages:
        assert page.image.parent == t1  # beside the box file
        assert page.fields and len(page.lines) == len(refs[page.image.stem]["lines"])
    flat_pages = list(SroieReader().read(flat))
    assert [p.image.parent for p in flat_pages] == [flat] * 3
    assert all(p.lines and p.fields == {} for p in flat_pages)
    # One named file: that receipt only.
    stem = next(iter(refs))
    one = list(SroieReader().read(t1 / f"{stem}.txt"))
    assert len(one) == 1 and one[0].lines and one[0].image.stem == stem


def test_sroie_latin1_text_and_commas_in_text(tmp_path):
    (tmp_path / "a.jpg").write_bytes(image_bytes(1, (200, 100), "JPEG"))
    (tmp_path / "a.txt").write_bytes("10,10,90,10,90,30,10,30,CAF\xc9, 2 X 3,50\n\n5,40,60,40,60,60,5,60,TOTAL\n"
                                     .encode("latin-1"))
    (page,) = SroieReader().read(tmp_path)
    assert [ln.text for ln in page.lines] == ["CAFÉ, 2 X 3,50", "TOTAL"]
    assert page.lines[0].points == [(10, 10), (90, 10), (90, 30), (10, 30)]


def test_sroie_imports_into_a_project_as_labels(project, sroie_dir, tmp_path):
    refs = sroie_kaggle(sroie_dir, tmp_path / "train", limit=3, copy=True)
    summary = import_annotations(project, [tmp_path / "train"])  # detected
    assert summary.failures == [] and summary.pages == 3
    store = project.store
    for page in store.pages():
        ref = refs[Path(page.name).stem]
        assert page.status == PageStatus.DONE
        regions = store.regions(page.id)
        assert sorted(r.text for r in regions) == sorted(ln["text"] for ln in ref["lines"])
        assert all(r.origin == "human" for r in regions)
        assert store.reference(page.id)["fields"] == ref["fields"]
        for name, value in ref["fields"].items():
            got = [r for r in regions if r.label == name]
            if got:
                assert "".join("".join(r.text for r in got).split()) == "".join(value.split())


# -- FUNSD ---------------------------------------------------------------------------------------------
def _funsd_form(ref: dict) -> dict:
    """The published FUNSD annotation of a funsd-dev page, rebuilt from its original entities."""
    links: dict[int, list] = {}
    for a, b in ref["links"]:
        links.setdefault(a, []).append([a, b])
        links.setdefault(b, []).append([a, b])
    return {"form": [{"box": e["box"], "text": e["text"], "label": e["label"], "words": e["words"],
                      "linking": links.get(e["id"], []), "id": e["id"]} for e in ref["entities"]]}


def test_funsd_lines_match_funsd_dev_on_real_forms(tmp_path):
    ann = tmp_path / "dataset" / "training_data" / "annotations"
    ann.mkdir(parents=True)
    refs = {}
    for jp in sorted(FUNSD_DEV.glob("*.json")):
        refs[jp.stem] = json.loads(jp.read_text(encoding="utf-8"))
        (ann / jp.name).write_text(json.dumps(_funsd_form(refs[jp.stem])), encoding="utf-8")
    assert len(refs) == 20
    reader = FunsdReader()
    assert reader.detect(tmp_path / "dataset") >= 0.9
    pages = list(reader.read(tmp_path / "dataset"))
    assert len(pages) == 20
    for page in pages:
        ref = refs[page.image.stem]
        assert page.image == ann.parent / "images" / f"{page.image.stem}.png"  # missing here: the importer says so
        got = [([c for p in ln.points for c in p], ln.text, ln.label, ln.block) for ln in page.lines]
        want = [(ln["box"], ln["text"], ln["label"], str(ln["entity_id"])) for ln in ref["lines"]]
        assert got == want
        assert page.fields == {}


def _funsd_fixture(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "images" / "form1.png").write_bytes(image_bytes(5, (400, 300)))
    form = {"form": [
        {"id": 0, "label": "question", "text": "Name:", "box": [10, 10, 60, 25], "linking": [[0, 1]],
         "words": [{"box": [10, 10, 60, 25], "text": "Name:"}]},
        {"id": 1, "label": "answer", "text": "Jane Doe of Lyon", "box": [70, 10, 200, 50], "linking": [[0, 1]],
         "words": [{"box": [70, 10, 110, 25], "text": "Jane"}, {"box": [115, 11, 150, 26], "text": "Doe"},
                   {"box": [70, 32, 90, 48], "text": "of"}, {"box": [95, 33, 140, 50], "text": "Lyon"},
                   {"box": [141, 33, 141, 50], "text": " "}]},
        {"id": 2, "label": "header", "text": "FORM", "box": [150, 260, 100, 280], "linking": [], "words": []},
        {"id": 3, "label": "other", "text": "", "box": [0, 0, 1, 1], "linking": [], "words": []},
    ]}
    (root / "annotations" / "form1.json").write_text(json.dumps(form), encoding="utf-8")
    return root


def test_funsd_entity_lines_blocks_and_labels(project, tmp_path):
    root = _funsd_fixture(tmp_path / "testing_data")
    (page,) = FunsdReader().read(root / "annotations" / "form1.json")
    assert page.image == root / "images" / "form1.png"
    assert [(ln.text, ln.label, ln.block, ln.points[0], ln.points[2]) for ln in page.lines] == [
        ("Name:", "question", "0", (10, 10), (60, 25)),
        ("Jane Doe", "answer", "1", (70, 10), (150, 26)),  # a two-line answer is two lines
        ("of Lyon", "answer", "1", (70, 32), (140, 50)),
        ("FORM", "header", "2", (100, 260), (150, 280)),  # no words: the entity's own box
    ]
    summary = import_annotations(project, [root], fmt="funsd")
    assert summary.failures == [] and summary.pages == 1
    (pg,) = project.store.pages()
    assert pg.status == PageStatus.DONE
    assert sorted((r.text, r.label) for r in project.store.regions(pg.id)) == [
        ("FORM", "header"), ("Jane Doe", "answer"), ("Name:", "question"), ("of Lyon", "answer")]


def test_funsd_line_rule():
    words = [((0, 0, 10, 10), "a"), ((12, 2, 20, 12), "b"), ((30, 0, 40, 10), "c"), ((0, 20, 5, 30), "d")]
    assert [[t for _, t in run] for run in funsd_lines(words)] == [["a", "b", "c"], ["d"]]
    assert funsd_lines([]) == []


# -- CORD ----------------------------------------------------------------------------------------------
def _quad(x1, y1, x2, y2, x3, y3, x4, y4):
    return {"x2": x2, "y3": y3, "x3": x3, "y4": y4, "x1": x1, "y1": y1, "x4": x4, "y2": y2}


def _word(text, box, is_key=0, row_id=1):
    x0, y0, x1, y1 = box
    return {"quad": _quad(x0, y0, x1, y0, x1, y1, x0, y1), "is_key": is_key, "row_id": row_id, "text": text}


def _cord_receipt(width=400, height=300, extra_lines=()):
    # A photographed receipt: the last line climbs 0.2 px per px (two words, rotated rectangles).
    ux, uy = 1 / math.hypot(1, 0.2), -0.2 / math.hypot(1, 0.2)
    nx, ny = -uy, ux

    def rotated(s0, s1, text):
        corners = [(20 + s * ux + t * nx, 200 + s * uy + t * ny) for s, t in ((s0, 0), (s1, 0), (s1, 20), (s0, 20))]
        return {"quad": _quad(*(round(c, 1) for p in corners for c in p)), "is_key": 0, "row_id": 9, "text": text}

    tilted = [rotated(0, 50, "THANK"), rotated(60, 110, "YOU")]
    return {
        "dontcare": [],
        "valid_line": [
            {"words": [_word("ES", (20, 40, 40, 60)), _word("TEH", (45, 40, 80, 60)), _word("  ", (85, 40, 90, 60))],
             "category": "menu.nm", "group_id": 3, "sub_group_id": 0},
            {"words": [_word("10,000", (300, 40, 360, 60))], "category": "menu.price", "group_id": 3},
            {"words": [_word("SUBTOTAL", (20, 100, 120, 120), 1), _word("10,000", (300, 100, 360, 120))],
             "category": "sub_total.subtotal_price", "group_id": 5},
            {"words": [_word("TOTAL", (20, 140, 90, 160), 1), _word("11,000", (300, 140, 360, 160))],
             "category": "total.total_price", "group_id": 9},
            {"words": [_word("TOTAL", (20, 170, 90, 190), 1), _word("99,999", (300, 170, 360, 190))],
             "category": "total.total_price", "group_id": 10},
            {"words": tilted, "category": "menu.etc", "group_id": 11},
            {"words": [], "category": "menu.etc", "group_id": 12},
            *extra_lines,
        ],
        "meta": {"version": "v0.0", "split": "train", "image_id": 0, "image_size": {"width": width, "height": height}},
        "roi": {},
        "repeating_symbol": [],
    }


def _cord_layout(root: Path, receipt: dict | None = None, size=(400, 300)) -> Path:
    (root / "json").mkdir(parents=True)
    (root / "image").mkdir()
    (root / "image" / "receipt_00000.png").write_bytes(image_bytes(9, size))
    (root / "json" / "receipt_00000.json").write_text(json.dumps(receipt or _cord_receipt()), encoding="utf-8")
    return root


def test_cord_lines_labels_fields(tmp_path):
    root = _cord_layout(tmp_path / "CORD" / "train")
    reader = CordReader()
    assert reader.detect(root) >= 0.9 and reader.detect(root / "json" / "receipt_00000.json") >= 0.9
    (page,) = reader.read(root)
    assert page.image == root / "image" / "receipt_00000.png"
    assert (page.width, page.height) == (400, 300)
    assert [(ln.text, ln.label) for ln in page.lines] == [
        ("ES TEH", "menu.nm"), ("10,000", "menu.price"), ("SUBTOTAL 10,000", "sub_total.subtotal_price"),
        ("TOTAL 11,000", "total.total_price"), ("TOTAL 99,999", "total.total_price"), ("THANK YOU", "menu.etc")]
    assert page.lines[0].points == [(20, 40), (80, 40), (80, 60), (20, 60)]  # the blank word left out
    assert page.lines[2].points == [(20, 100), (360, 100), (360, 120), (20, 120)]
    # The tilted line: a rotated rectangle, clockwise from the top-left, hugging the words.
    tilted = page.lines[5].points
    assert len(tilted) == 4 and tilted[0] == min(tilted, key=lambda p: p[0] + p[1])
    assert tilted[0] == pytest.approx((20, 200), abs=0.3)
    assert math.dist(tilted[0], tilted[1]) == pytest.approx(110, abs=0.3)
    assert math.dist(tilted[1], tilted[2]) == pytest.approx(20, abs=0.3)
    edge = (tilted[1][1] - tilted[0][1]) / (tilted[1][0] - tilted[0][0])
    assert edge == pytest.approx(-0.2, abs=0.01)
    # The non-key words of the first line of each total category; total.total_price is the receipt's total.
    assert page.fields == {"sub_total.subtotal_price": "10,000", "total": "11,000"}


def test_cord_union_quad():
    assert union_quad([(0, 0), (10, 0), (10, 5), (0, 5)]) == [(0, 0), (10, 0), (10, 5), (0, 5)]
    assert union_quad([(3, 3)]) == [(3, 3), (3, 3), (3, 3), (3, 3)]
    # A tilted line touching the left edge: its rectangle would reach x = -1.9; kept on the page.
    quad = union_quad([(0, 10), (50, 0), (50, 10), (0, 20)], 100, 100)
    assert quad == [(0.0, 10.4), (50.0, 0.0), (51.9, 9.6), (0.0, 20.0)]
    assert union_quad([(0, 10), (50, 0), (50, 10), (0, 20)], 51, 100)[2] == (51, 9.6)


def test_cord_imports_and_the_image_size_is_checked(project, tmp_path):
    ok = _cord_layout(tmp_path / "ok")
    summary = import_annotations(project, [ok], fmt="auto")
    assert summary.failures == [] and summary.pages == 1
    (pg,) = project.store.pages()
    assert project.store.reference(pg.id)["fields"]["total"] == "11,000"
    assert {r.label for r in project.store.regions(pg.id)} >= {"menu.nm", "total.total_price"}

    wrong = _cord_layout(tmp_path / "wrong", _cord_receipt(width=800, height=600), size=(401, 301))
    summary = import_annotations(project, [wrong], fmt="cord")
    assert len(summary.failures) == 1 and "800x600" in summary.failures[0][1]
    assert len(project.store.pages()) == 1


# -- detection -------------------------------------------------------------------------------------------
def test_detect_picks_each_published_format(sroie_dir, tmp_path):
    sroie_kaggle(sroie_dir, tmp_path / "sroie", limit=2)
    funsd = _funsd_fixture(tmp_path / "funsd")
    cord = _cord_layout(tmp_path / "cord")
    assert base.detect(tmp_path / "sroie").name == "sroie"
    assert base.detect(funsd).name == "funsd"
    assert base.detect(cord).name == "cord"
    for r in (SroieReader(), FunsdReader(), CordReader()):
        assert r.detect(tmp_path / "nowhere") == 0.0
    assert SroieReader().detect(funsd) == 0.0 and FunsdReader().detect(cord) == 0.0
    assert CordReader().detect(funsd) == 0.0 and FunsdReader().detect(tmp_path / "sroie") == 0.0


# -- hostile files ---------------------------------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000
FUNSD_BAD = {
    "not json": "{form:",
    "deep": DEEP,
    "top list": "[]",
    "no form": '{"forms": []}',
    "form not list": '{"form": {"a": 1}}',
    "entity not object": '{"form": [1]}',
    "nan box": '{"form": [{"words": [{"box": [NaN, 1, 2, 3], "text": "a"}]}]}',
    "huge box": '{"form": [{"words": [{"box": [1' + "0" * 400 + ', 1, 2, 3], "text": "a"}]}]}',
    "bool box": '{"form": [{"words": [{"box": [true, 1, 2, 3], "text": "a"}]}]}',
    "short box": '{"form": [{"words": [{"box": [1, 2, 3], "text": "a"}]}]}',
    "text not string": '{"form": [{"words": [{"box": [1, 1, 2, 3], "text": 5}]}]}',
    "label not string": '{"form": [{"label": [], "words": []}]}',
    "words not list": '{"form": [{"words": "abc"}]}',
    "word without box": '{"form": [{"words": [{"text": "a"}]}]}',
    "id object": '{"form": [{"id": {}, "words": []}]}',
    "entity without box": '{"form": [{"text": "a", "words": []}]}',
}
CORD_BAD = {
    "not json": "{",
    "deep": '{"valid_line": ' + DEEP + "}",
    "no valid_line": '{"meta": {}}',
    "valid_line not list": '{"valid_line": 3}',
    "line not object": '{"valid_line": ["a"]}',
    "words not list": '{"valid_line": [{"words": {}}]}',
    "quad missing": '{"valid_line": [{"words": [{"text": "a"}]}]}',
    "quad key missing": '{"valid_line": [{"words": [{"text": "a", "quad": {"x1": 1}}]}]}',
    "quad nan": '{"valid_line": [{"words": [{"text": "a", "quad": {"x1": NaN, "y1": 1, "x2": 1, "y2": 1,'
                ' "x3": 1, "y3": 1, "x4": 1, "y4": 1}}]}]}',
    "quad infinity": '{"valid_line": [{"words": [{"text": "a", "quad": {"x1": Infinity, "y1": 1, "x2": 1,'
                     ' "y2": 1, "x3": 1, "y3": 1, "x4": 1, "y4": 1}}]}]}',
    "quad string": '{"valid_line": [{"words": [{"text": "a", "quad": {"x1": "1", "y1": 1, "x2": 1, "y2": 1,'
                   ' "x3": 1, "y3": 1, "x4": 1, "y4": 1}}]}]}',
    "category number": '{"valid_line": [{"category": 1, "words": []}]}',
    "is_key odd": '{"valid_line": [{"words": [{"text": "a", "is_key": "yes", "quad": {"x1": 1, "y1": 1, "x2": 1,'
                  ' "y2": 1, "x3": 1, "y3": 1, "x4": 1, "y4": 1}}]}]}',
    "meta not object": '{"valid_line": [], "meta": []}',
    "size negative": '{"valid_line": [], "meta": {"image_size": {"width": -4, "height": 3}}}',
    "size float": '{"valid_line": [], "meta": {"image_size": {"width": 4.5, "height": 3}}}',
}
SROIE_BAD = {
    "too few parts": "1,2,3,4,TEXT\n",
    "letters": "1,2,3,4,5,6,7,eight,TEXT\n",
    "nan": "1,2,3,4,5,6,7,nan,TEXT\n",
    "inf": "1,2,3,4,5,6,7,inf,TEXT\n",
    "second line bad": "1,2,3,4,5,6,7,8,OK\n1,2,3\n",
    "key not json": "{company: 1}",
    "key deep": '{"a": ' + DEEP + "}",
    "key list": "[1]",
    "key value number": '{"company": 5}',
    "key value object": '{"total": {"v": 1}}',
}


def _bad_case(reader, tmp_path: Path, text: str, kind: str) -> None:
    if kind == "sroie":
        (tmp_path / "X1.jpg").write_bytes(image_bytes(3, (100, 100), "JPEG"))
        path = tmp_path / "X1.txt"
    else:
        path = tmp_path / "receipt_00000.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        list(reader.read(tmp_path))
    assert str(err.value).startswith(f"{path.name}:"), str(err.value)


@pytest.mark.parametrize("case", sorted(FUNSD_BAD))
def test_funsd_malformed_is_one_error(tmp_path, case):
    _bad_case(FunsdReader(), tmp_path, FUNSD_BAD[case], "funsd")


@pytest.mark.parametrize("case", sorted(CORD_BAD))
def test_cord_malformed_is_one_error(tmp_path, case):
    _bad_case(CordReader(), tmp_path, CORD_BAD[case], "cord")


@pytest.mark.parametrize("case", sorted(SROIE_BAD))
def test_sroie_malformed_is_one_error(tmp_path, case):
    _bad_case(SroieReader(), tmp_path, SROIE_BAD[case], "sroie")


def test_sroie_line_number_is_named(tmp_path):
    (tmp_path / "X1.txt").write_text("1,2,3,4,5,6,7,8,OK\n\n1,2,3,4,5,6,7,x,BAD\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"^X1.txt: line 3: coordinate 8 is not a number"):
        list(SroieReader().read(tmp_path))


def test_sroie_same_name_twice_is_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "X1.txt").write_text("1,2,3,4,5,6,7,8,OK\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="one split at a time"):
        list(SroieReader().read(tmp_path))


def test_a_malformed_file_imports_nothing(project, tmp_path):
    root = _cord_layout(tmp_path / "cord")
    (root / "image" / "receipt_00001.png").write_bytes(image_bytes(10, (400, 300)))
    (root / "json" / "receipt_00001.json").write_text(CORD_BAD["quad nan"], encoding="utf-8")
    summary = import_annotations(project, [root], fmt="cord")
    assert len(summary.failures) == 1 and "receipt_00001.json: valid_line 1: word 1" in summary.failures[0][1]
    assert project.store.pages() == []


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replaced(value, path, new):
    if not path:
        return new
    value = json.loads(json.dumps(value))
    cur = value
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = new
    return value


HOSTILE = [None, True, -1, 0, 1e308, float("nan"), float("inf"), 10**400, "", "x", [], {}, [[[]]], {"a": {}}, [1, 2]]


@pytest.mark.parametrize("kind", ["funsd", "cord"])
def test_hostile_values_anywhere_are_bad_input_never_a_crash(tmp_path, kind):
    """Any value of the file replaced by a hostile one: it reads, or it is one BadInputError."""
    import random

    doc = _cord_receipt() if kind == "cord" else json.loads(
        (_funsd_fixture(tmp_path / "f") / "annotations" / "form1.json").read_text(encoding="utf-8"))
    reader = CordReader() if kind == "cord" else FunsdReader()
    rng = random.Random(16)
    paths = list(_paths(doc))
    target = tmp_path / "x.json"
    outcomes = set()
    for _ in range(400):
        target.write_text(json.dumps(_replaced(doc, rng.choice(paths), rng.choice(HOSTILE))), encoding="utf-8")
        try:
            list(reader.read(target))
            outcomes.add("read")
        except BadInputError:
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}
