"""The key fields export (issue 15): each document's fields as a JSON (normalised value, currency,
confidence, source regions and their boxes, who confirmed it, absent) and one fields.csv for the
batch (one row per document, the schema's columns, UTF-8 with a BOM), from the page's field values."""

from __future__ import annotations

import csv
import json

from core.fields import FieldValue
from core.formats.exporting import export
from core.importer import import_paths
from core.model import FieldSchema, PredictedRegion, Prediction, box_to_quad
from tests.conftest import image_bytes
from tests.core.formats.test_fields_reference import _tiff_two_pages

BOTH_BACKENDS = True

INVOICE = FieldSchema.preset("invoice").fields


def _predict(store, page_id, lines, fields, config_hash="h") -> dict[str, int]:
    """Pre-fill the page with ``lines`` (text, confidence) and ``fields``; region id by text."""
    regions = tuple(PredictedRegion(box_to_quad(10, 10 + 30 * i, 290, 35 + 30 * i), text, conf)
                    for i, (text, conf) in enumerate(lines))
    store.add_prediction(Prediction(page_id=page_id, engine="eng", engine_version="1", config={},
                                    config_hash=config_hash, regions=regions, fields=tuple(fields)))
    return {r.text: r.id for r in store.regions(page_id)}


def _fill(project, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "blank.png").write_bytes(image_bytes(30, (300, 200)))
    (src / "facture-é.png").write_bytes(image_bytes(31, (300, 200)))
    (src / "two.tif").write_bytes(_tiff_two_pages())
    assert import_paths(project, [src]).pages == 4
    store = project.store
    store.set_fields(INVOICE)
    pages = {(p.name, p.page_no): p.id for p in store.pages()}
    facture = next(pid for (name, _), pid in pages.items() if name.startswith("facture"))
    ids = _predict(store, facture, [("Facture F-2026/17", 0.91), ("Date : 5 mars 2026", 0.85),
                                    ("Café Zoë, Lyon", 0.8), ("TOTAL TTC 1.234,56 €", 0.93)], [
        FieldValue("invoice_number", "F-2026/17", "F-2026/17", None, 0.91, (0,), (8, 17)),
        FieldValue("invoice_date", "5 mars 2026", "2026-03-05", None, 0.85, (1,)),
        FieldValue("seller", "Café Zoë, Lyon", "Café Zoë, Lyon", None, 0.8, (2,)),
        FieldValue("total", "1.234,56 €", "1234.56", "EUR", 0.93, (3,)),
        FieldValue("due_date", absent=True, confidence=0.6),
    ])
    store.set_page_field(facture, FieldValue("total", "1.234,50 €"), "ana")  # typed: keeps its region
    store.check_page_field(facture, "invoice_number", "bob")  # accepted as it is
    tif1, tif2 = (pid for (name, no), pid in sorted(pages.items(), key=lambda kv: kv[0][1]) if name.startswith("two"))
    _predict(store, tif1, [("No 77", 0.9)], [FieldValue("invoice_number", "77", "77", None, 0.9, (0,))])
    store.set_field_absent(tif1, "total", "ana")  # not on page 1 ...
    _predict(store, tif2, [("No 78", 0.9), ("Total 12,00 €", 0.7)], [
        FieldValue("invoice_number", "78", "78", None, 0.9, (0,)),  # the first page's wins
        FieldValue("total", "12,00 €", "12.00", "EUR", 0.7, (1,)),  # ... but on page 2
    ])
    return ids


def test_the_fields_json_of_a_document(project, tmp_path):
    ids = _fill(project, tmp_path)
    assert export(project, tmp_path / "out", "fields") == 4
    doc = json.loads((tmp_path / "out" / "facture-é.fields.json").read_text(encoding="utf-8"))
    assert (doc["document"], doc["page_count"], doc["pages"]) == ("facture-é.png", 1, [1])
    f = doc["fields"]
    assert set(f) == {"invoice_number", "invoice_date", "seller", "total", "due_date"}
    total_box = [[10, 100], [290, 100], [290, 125], [10, 125]]
    assert f["total"] == {"name": "total", "text": "1.234,50 €", "value": "1234.50", "currency": "EUR",
                          "confidence": None, "page": 1, "region_ids": [ids["TOTAL TTC 1.234,56 €"]],
                          "regions": [total_box], "confirmed_by": "ana", "checked": False, "origin": "human",
                          "absent": False}
    assert (f["invoice_number"]["confirmed_by"], f["invoice_number"]["checked"], f["invoice_number"]["origin"],
            f["invoice_number"]["confidence"]) == ("bob", True, "prediction", 0.91)
    assert f["invoice_date"]["value"] == "2026-03-05" and f["invoice_date"]["region_ids"] == [ids["Date : 5 mars 2026"]]
    assert f["seller"]["text"] == "Café Zoë, Lyon" and f["seller"]["confirmed_by"] is None  # nobody confirmed it
    assert f["due_date"] == {"name": "due_date", "text": "", "value": None, "currency": None, "confidence": 0.6,
                             "page": 1, "region_ids": [], "regions": [], "confirmed_by": None, "checked": False,
                             "origin": "prediction", "absent": True}
    two = json.loads((tmp_path / "out" / "two.fields.json").read_text(encoding="utf-8"))
    assert two["page_count"] == 2 and two["pages"] == [1, 2]
    assert (two["fields"]["invoice_number"]["text"], two["fields"]["invoice_number"]["page"]) == ("77", 1)
    assert (two["fields"]["total"]["value"], two["fields"]["total"]["page"]) == ("12.00", 2)  # absent on page 1
    blank = json.loads((tmp_path / "out" / "blank.fields.json").read_text(encoding="utf-8"))
    assert blank == {"document": "blank.png", "page_count": 1, "pages": [1], "fields": {}}


def test_the_fields_csv_of_a_batch(project, tmp_path):
    _fill(project, tmp_path)
    export(project, tmp_path / "out", "fields")
    raw = (tmp_path / "out" / "fields.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the accents right
    assert "Café Zoë".encode() in raw
    with open(tmp_path / "out" / "fields.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["document", "pages", *INVOICE]  # the schema's order
    assert len(rows) == 4  # a header and one row per document
    table = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [r["document"] for r in table] == ["blank.png", "facture-é.png", "two.tif"]
    assert table[0] == {"document": "blank.png", "pages": "1", **{name: "" for name in INVOICE}}
    assert table[1] == {"document": "facture-é.png", "pages": "1", "invoice_number": "F-2026/17",
                        "invoice_date": "2026-03-05", "due_date": "", "seller": "Café Zoë, Lyon", "buyer": "",
                        "currency": "", "net_total": "", "tax_total": "", "total": "1234.50"}
    assert (table[2]["pages"], table[2]["invoice_number"], table[2]["total"]) == ("2", "77", "12.00")


def test_the_export_follows_undo(project, tmp_path):
    """The export reads the page's fields as they are now: an undone correction is not exported."""
    _fill(project, tmp_path)
    store = project.store
    facture = next(p.id for p in store.pages() if p.name.startswith("facture"))
    store.undo("ana", facture)  # the typed total
    export(project, tmp_path / "out", "fields")
    doc = json.loads((tmp_path / "out" / "facture-é.fields.json").read_text(encoding="utf-8"))
    assert (doc["fields"]["total"]["value"], doc["fields"]["total"]["confirmed_by"]) == ("1234.56", None)


def test_a_long_invoice_takes_its_amounts_from_the_last_page_that_has_them(project, tmp_path):
    """Page 1 of two prints a carried-forward subtotal people left as its total; page 2 the
    invoice's total. The document's total is page 2's; its number stays page 1's."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "long.tif").write_bytes(_tiff_two_pages())
    import_paths(project, [src])
    store = project.store
    store.set_fields(INVOICE)
    first, second = (p.id for p in sorted(store.pages(), key=lambda p: p.page_no))
    _predict(store, first, [("Rechnung 4711", 0.9), ("Übertrag 500,00 €", 0.9)], [
        FieldValue("invoice_number", "4711", "4711", None, 0.9, (0,)),
        FieldValue("total", "500,00 €", "500.00", "EUR", 0.8, (1,))])
    _predict(store, second, [("Rechnung 4711 Seite 2", 0.9), ("Gesamtbetrag 1.190,00 €", 0.9)], [
        FieldValue("invoice_number", "4711 Seite 2", "4711Seite2", None, 0.5, (0,)),
        FieldValue("total", "1.190,00 €", "1190.00", "EUR", 0.9, (1,))])
    export(project, tmp_path / "out", "fields")
    doc = json.loads((tmp_path / "out" / "long.fields.json").read_text(encoding="utf-8"))
    assert (doc["fields"]["total"]["value"], doc["fields"]["total"]["page"]) == ("1190.00", 2)
    assert (doc["fields"]["invoice_number"]["text"], doc["fields"]["invoice_number"]["page"]) == ("4711", 1)
    # page 2 says the total is not there: page 1's stands
    store.set_field_absent(second, "total", "ana")
    export(project, tmp_path / "out2", "fields")
    doc = json.loads((tmp_path / "out2" / "long.fields.json").read_text(encoding="utf-8"))
    assert (doc["fields"]["total"]["value"], doc["fields"]["total"]["page"]) == ("500.00", 1)
