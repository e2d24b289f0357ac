"""The fields export (a JSON per document, fields.csv) and Proofdesk's own reference JSON, in and out."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInputError
from core.formats import ExportOptions, ExportPage, Line, base, box_points
from core.formats.exporting import export
from core.formats.fields import FieldsWriter, csv_cell
from core.formats.importing import import_annotations
from core.formats.reference import ReferenceReader, ReferenceWriter
from core.importer import ImportOptions, import_paths
from core.model import PageStatus, PredictedRegion, Prediction, box_to_quad
from core.project import Project
from tests.conftest import DATASETS, image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True


def _page(document, page_no, page_count, stem, lines, tmp_path, status="done") -> ExportPage:
    image = tmp_path / "img" / f"{stem}.png"
    image.parent.mkdir(exist_ok=True)
    image.write_bytes(image_bytes(page_no, (120, 80)))
    fields: dict[str, str] = {}
    for ln in lines:
        if ln.label:
            fields[ln.label] = f"{fields[ln.label]} {ln.text}".strip() if ln.label in fields else ln.text
    return ExportPage(page_id=page_no, document=document, page_no=page_no, page_count=page_count, stem=stem,
                      image=image, width=120, height=80, status=status, lines=lines, fields=fields)


def _line(text, label=None, y=10):
    return Line(points=box_points(5, y, 100, y + 10), text=text, label=label, origin="human")


def _read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, for Excel
    assert b"\r\n" in raw
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# -- fields ----------------------------------------------------------------------------------------------
def test_fields_csv_and_json_per_document(tmp_path):
    pages = [
        # A two-page invoice: the total on both pages (an amount: the last page wins), the seller on page 2.
        _page("invoice.pdf", 1, 2, "invoice-p001", [_line("Total 1", None), _line("1,00 €", "total", 30)], tmp_path),
        _page("invoice.pdf", 2, 2, "invoice-p002",
              [_line("Café \"Zoë\", Lyon", "company"), _line("Rue de l'Église", "address", 30),
               _line("7 Place", "address", 50), _line("2,00 €", "total", 60)], tmp_path),
        _page("receipt.jpg", 1, 1, "receipt", [_line("=HYPERLINK(\"http://x\")", "company"),
                                                _line("-5.00", "total", 40), _line("line\nbreak", "date", 60)],
              tmp_path),
        _page("blank.png", 1, 1, "blank", [_line("no label")], tmp_path),
        # Another document of the same name (imported from another folder): its own row and file.
        _page("receipt.jpg", 1, 1, "receipt_2", [_line("SECOND", "company")], tmp_path),
        _page("extra.png", 1, 1, "extra", [_line("menu", "menu.nm")], tmp_path),
    ]
    seen = []
    options = ExportOptions(fields=["company", "date", "address", "total"])
    n = FieldsWriter().write(iter(pages), tmp_path / "out", options, lambda k, stem: seen.append((k, stem)))
    assert n == 6 and seen == [(i + 1, p.stem) for i, p in enumerate(pages)]

    rows = _read_csv(tmp_path / "out" / "fields.csv")
    with open(tmp_path / "out" / "fields.csv", encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == ["document", "pages", "company", "date", "address", "total"]  # schema order
    assert [r["document"] for r in rows] == ["invoice.pdf", "receipt.jpg", "blank.png", "receipt.jpg", "extra.png"]
    assert rows[0] == {"document": "invoice.pdf", "pages": "2", "company": 'Café "Zoë", Lyon', "date": "",
                       "address": "Rue de l'Église 7 Place", "total": "2.00"}  # the normalised value
    assert rows[1]["company"] == "'=HYPERLINK(\"http://x\")"  # never a formula in Excel
    assert rows[1]["total"] == "-5.00" and rows[1]["date"] == "line\nbreak"  # not a date: the text
    assert rows[2] == {"document": "blank.png", "pages": "1", "company": "", "date": "", "address": "", "total": ""}
    assert rows[3]["company"] == "SECOND"
    assert "menu.nm" not in rows[4]  # not in the schema: only in the JSON

    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["blank.fields.json", "extra.fields.json", "fields.csv", "invoice.fields.json",
                     "receipt.fields.json", "receipt_2.fields.json"]
    inv = json.loads((tmp_path / "out" / "invoice.fields.json").read_text(encoding="utf-8"))
    assert inv["document"] == "invoice.pdf" and inv["pages"] == [1, 2]
    assert inv["fields"]["total"] == {"name": "total", "text": "2,00 €", "value": "2.00", "currency": "EUR",
                                      "confidence": None, "page": 2, "region_ids": [],
                                      "regions": [[[5, 60], [100, 60], [100, 70], [5, 70]]],
                                      "confirmed_by": None, "checked": False, "origin": "labels", "absent": False}
    assert inv["fields"]["address"]["page"] == 2 and len(inv["fields"]["address"]["regions"]) == 2
    assert inv["fields"]["company"]["text"] == 'Café "Zoë", Lyon'
    extra = json.loads((tmp_path / "out" / "extra.fields.json").read_text(encoding="utf-8"))
    assert extra["fields"]["menu.nm"]["text"] == "menu"


def test_fields_without_a_schema_take_every_field_in_order_met(tmp_path):
    pages = [_page("a.png", 1, 1, "a", [_line("9.90", "total")], tmp_path),
             _page("b.png", 1, 1, "b", [_line("ACME", "company"), _line("1.00", "total", 30)], tmp_path)]
    FieldsWriter().write(pages, tmp_path / "out", ExportOptions(), None)
    with open(tmp_path / "out" / "fields.csv", encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [["document", "pages", "total", "company"], ["a.png", "1", "9.90", ""],
                                        ["b.png", "1", "1.00", "ACME"]]


def test_csv_cell():
    assert [csv_cell(v) for v in ("=1+1", "+33 1 23", "@SUM(A1)", "-", "-5.00", "+1,234.50", "12%", "ACME", "")] == [
        "'=1+1", "'+33 1 23", "'@SUM(A1)", "'-", "-5.00", "+1,234.50", "12%", "ACME", ""]


# -- a project to export ---------------------------------------------------------------------------------
def _tiff_two_pages() -> bytes:
    frames = [Image.open(io.BytesIO(image_bytes(s, (50, 40)))) for s in (21, 22)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _fill(project, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "receipt.png").write_bytes(image_bytes(20, (300, 200)))
    (tmp_path / "in" / "fax.tif").write_bytes(_tiff_two_pages())
    assert import_paths(project, [tmp_path / "in"]).pages == 3
    store = project.store
    receipt = next(p for p in store.pages() if p.name == "receipt.png")
    store.add_prediction(Prediction(
        page_id=receipt.id, engine="eng", engine_version="1", config={}, config_hash="h",
        regions=(PredictedRegion(box_to_quad(10, 10, 200, 30), "ACME SDN BHD", 0.93),
                 PredictedRegion(box_to_quad(10, 150, 100, 170), "T0TAL", 0.41),
                 PredictedRegion(box_to_quad(200, 150, 290, 170), "9.90", 0.88))))
    by_text = {r.text: r for r in store.regions(receipt.id)}
    store.update_region("ana", by_text["ACME SDN BHD"].id, label="company")
    store.update_region("ana", by_text["T0TAL"].id, text="TOTAL")
    store.update_region("ana", by_text["9.90"].id, label="total")
    store.add_region("ana", receipt.id, box_to_quad(10, 70, 250, 90), "JALAN KPB 6,", label="address")
    store.add_region("ana", receipt.id, box_to_quad(10, 40, 250, 60), "LOT 1851-A, CAFÉ", label="address")
    store.set_page_status("ana", receipt.id, PageStatus.DONE)
    fax2 = next(p for p in store.pages() if p.page_no == 2)
    store.add_region("bob", fax2.id, ((5, 5), (45, 6), (44, 16), (4, 15)), "skewed line")
    return receipt


def _shapes(store, page_id):
    return sorted((tuple(map(tuple, r.points)), r.text, r.label) for r in store.regions(page_id))


def test_fields_export_of_a_project(project, tmp_path):
    _fill(project, tmp_path)
    assert export(project, tmp_path / "out", "fields") == 3
    rows = _read_csv(tmp_path / "out" / "fields.csv")
    assert list(rows[0]) == ["document", "pages", "company", "date", "address", "total"]  # the project's schema
    assert rows == [  # in the project's order (the folder was imported in name order)
        {"document": "fax.tif", "pages": "2", "company": "", "date": "", "address": "", "total": ""},
        {"document": "receipt.png", "pages": "1", "company": "ACME SDN BHD", "date": "",
         "address": "LOT 1851-A, CAFÉ JALAN KPB 6,", "total": "9.90"},
    ]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["fax.fields.json", "receipt.fields.json"]
    fax = json.loads((tmp_path / "out" / "fax.fields.json").read_text(encoding="utf-8"))
    assert fax == {"document": "fax.tif", "page_count": 2, "pages": [1, 2], "fields": {}}


# -- reference -------------------------------------------------------------------------------------------
def test_reference_export_evaluates_and_imports_back(project, tmp_path):
    receipt = _fill(project, tmp_path)
    out = tmp_path / "out"
    assert export(project, out, "reference") == 3
    assert sorted(p.name for p in out.iterdir()) == [
        "fax-p001.json", "fax-p001.png", "fax-p002.json", "fax-p002.png", "receipt.json", "receipt.png"]
    rec = json.loads((out / "receipt.json").read_text(encoding="utf-8"))
    assert (rec["image"], rec["name"], rec["document"], rec["page"], rec["width"], rec["height"], rec["status"]) == (
        "receipt.png", "receipt.png", "receipt.png", 1, 300, 200, "done")
    assert "split" not in rec
    assert [(ln["text"], ln["label"], ln["origin"], ln["corrected"], ln["updated_by"]) for ln in rec["lines"]] == [
        ("ACME SDN BHD", "company", "prediction", True, "ana"),
        ("LOT 1851-A, CAFÉ", "address", "human", False, "ana"),
        ("JALAN KPB 6,", "address", "human", False, "ana"),
        ("TOTAL", None, "prediction", True, "ana"),
        ("9.90", "total", "prediction", True, "ana"),
    ]
    assert rec["lines"][0]["box"] == [10, 10, 200, 10, 200, 30, 10, 30] and rec["lines"][0]["confidence"] == 0.93
    assert all(ln["updated_at"] for ln in rec["lines"])
    assert rec["fields"] == {"company": "ACME SDN BHD", "address": "LOT 1851-A, CAFÉ JALAN KPB 6,", "total": "9.90"}
    fax2 = json.loads((out / "fax-p002.json").read_text(encoding="utf-8"))
    assert (fax2["name"], fax2["page"], fax2["status"]) == ("fax.tif p.2", 2, "in_progress")
    with Image.open(out / "fax-p002.png") as im:
        assert im.size == (fax2["width"], fax2["height"]) == (50, 40)

    # proofdesk eval reads it.
    from ml.evaluate import load_reference_dir

    refs = load_reference_dir(out)
    assert [Path(r["_image"]).name for r in refs] == ["fax-p001.png", "fax-p002.png", "receipt.png"]
    assert all(Path(r["_image"]).is_file() for r in refs)

    # --annotations reference (detected): the same regions and fields; checked pages done.
    again = Project.create(tmp_path / "again")
    try:
        summary = import_annotations(again, [out])
        assert summary.failures == [] and summary.pages == 3
        new_receipt = next(p for p in again.store.pages() if p.name == "receipt.png")
        assert _shapes(again.store, new_receipt.id) == _shapes(project.store, receipt.id)
        assert new_receipt.status == PageStatus.DONE
        assert again.store.reference(new_receipt.id)["fields"] == rec["fields"]
        skewed = next(p for p in again.store.pages() if p.name == "fax-p002.png")
        assert skewed.status != PageStatus.DONE
        assert [r.points for r in again.store.regions(skewed.id)] == [((5, 5), (45, 6), (44, 16), (4, 15))]
    finally:
        again.close()

    # import --reference --labels (the importer's own reference reader) reads it too.
    third = Project.create(tmp_path / "third")
    try:
        summary = import_paths(third, [out / "receipt.png"], ImportOptions(reference=True, labels=True))
        assert summary.failures == [] and summary.pages == 1
        (page,) = third.store.pages()
        assert _shapes(third.store, page.id) == _shapes(project.store, receipt.id)
    finally:
        third.close()


def test_reference_export_without_images_and_with_a_split(tmp_path):
    page = _page("a.png", 1, 1, "a", [Line(box_points(1.5, 2, 30, 12.25), "x", block="b1", origin="human")], tmp_path)
    page.split = "val"
    assert ReferenceWriter().write([page], tmp_path / "out", ExportOptions(copy_images=False)) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json"]
    rec = json.loads((tmp_path / "out" / "a.json").read_text(encoding="utf-8"))
    assert rec["image"] == "a.png" and rec["split"] == "val"
    assert rec["lines"][0]["box"] == [1.5, 2, 30, 2, 30, 12.25, 1.5, 12.25] and rec["lines"][0]["block"] == "b1"
    (back,) = ReferenceReader().read(tmp_path / "out" / "a.json")
    assert back.lines[0].points == [(1.5, 2), (30, 2), (30, 12.25), (1.5, 12.25)] and back.lines[0].block == "b1"
    assert back.checked is True and back.image == tmp_path / "out" / "a.png"  # not copied: the importer says so


def test_reference_reads_the_shipped_datasets_in_place(sroie_dir):
    reader = ReferenceReader()
    assert base.detect(sroie_dir).name == "reference"
    assert base.detect(DATASETS / "funsd-dev").name == "reference"
    pages = list(reader.read(sroie_dir))
    assert len(pages) == 60
    first = pages[0]
    ref = json.loads(first.image.with_suffix(".json").read_text(encoding="utf-8"))
    assert first.image.is_file() and first.image.name == ref["image"]
    assert [ln.text for ln in first.lines] == [ln["text"] for ln in ref["lines"]]
    assert [[c for p in ln.points for c in p] for ln in first.lines] == [ln["box"] for ln in ref["lines"]]
    assert first.fields == ref["fields"] and (first.width, first.height) == (ref["width"], ref["height"])
    assert first.checked is None  # no status: a dataset, imported as checked


def test_reference_skips_other_json_and_needs_some(tmp_path):
    (tmp_path / "report.json").write_text('{"metrics": {"cer": 0.1}}', encoding="utf-8")
    with pytest.raises(BadInputError, match="no reference JSON"):
        list(ReferenceReader().read(tmp_path))
    (tmp_path / "a.png").write_bytes(image_bytes(1, (50, 40)))
    (tmp_path / "a.json").write_text('{"image": "a.png", "lines": [{"box": [1,1,9,1,9,9,1,9], "text": "hi",'
                                     ' "confidence": 0.5}], "status": "prefilled"}', encoding="utf-8")
    (page,) = ReferenceReader().read(tmp_path)
    assert page.lines[0].confidence == 0.5 and page.checked is False
    assert ReferenceReader().detect(tmp_path) == 0.9 and ReferenceReader().detect(tmp_path / "a.png") == 0.9


DEEP = "[" * 100_000 + "]" * 100_000
REFERENCE_BAD = {
    "not json": "{",
    "deep": '{"lines": ' + DEEP + "}",
    "lines not list": '{"lines": "x"}',
    "line not object": '{"lines": [3]}',
    "box short": '{"lines": [{"box": [1,2,3,4,5,6,7], "text": ""}]}',
    "box nan": '{"lines": [{"box": [NaN,2,3,4,5,6,7,8], "text": ""}]}',
    "box huge": '{"lines": [{"box": [1' + "0" * 400 + ',2,3,4,5,6,7,8], "text": ""}]}',
    "box bool": '{"lines": [{"box": [true,2,3,4,5,6,7,8], "text": ""}]}',
    "text missing": '{"lines": [{"box": [1,2,3,4,5,6,7,8]}]}',
    "text number": '{"lines": [{"box": [1,2,3,4,5,6,7,8], "text": 1}]}',
    "label list": '{"lines": [{"box": [1,2,3,4,5,6,7,8], "text": "", "label": []}]}',
    "confidence 2": '{"lines": [{"box": [1,2,3,4,5,6,7,8], "text": "", "confidence": 2}]}',
    "confidence text": '{"lines": [{"box": [1,2,3,4,5,6,7,8], "text": "", "confidence": "high"}]}',
    "block list": '{"lines": [{"box": [1,2,3,4,5,6,7,8], "text": "", "block": []}]}',
    "fields list": '{"lines": [], "fields": []}',
    "field number": '{"lines": [], "fields": {"total": 9.9}}',
    "width negative": '{"lines": [], "width": -3}',
    "height string": '{"lines": [], "height": "40"}',
    "status number": '{"lines": [], "status": 1}',
}


@pytest.mark.parametrize("case", sorted(REFERENCE_BAD))
def test_reference_malformed_is_one_error(tmp_path, case):
    (tmp_path / "p.png").write_bytes(image_bytes(1, (50, 40)))
    (tmp_path / "p.json").write_text(REFERENCE_BAD[case], encoding="utf-8")
    with pytest.raises(BadInputError) as err:
        list(ReferenceReader().read(tmp_path))
    assert str(err.value).startswith("p.json:"), str(err.value)
