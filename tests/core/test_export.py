"""Export: one reference-format JSON per page, which imports back with ``reference=True``."""

from __future__ import annotations

import io
import json

from PIL import Image

from core.export import export_project
from core.importer import ImportOptions, import_paths
from core.model import PageStatus, PredictedRegion, Prediction, box_to_quad
from core.project import Project

from ..conftest import image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def tiff_two_pages() -> bytes:
    frames = [Image.open(io.BytesIO(image_bytes(s, (50, 40)))) for s in (21, 22)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def fill(project, tmp_path):
    """Two documents (a receipt and a 2-page TIFF) with predicted, corrected and drawn regions."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "receipt.png").write_bytes(image_bytes(20, (300, 200)))
    (tmp_path / "in" / "fax.tif").write_bytes(tiff_two_pages())
    summary = import_paths(project, [tmp_path / "in"])
    assert summary.failures == [] and summary.pages == 3
    store = project.store
    receipt = next(p for p in store.pages() if p.name == "receipt.png")
    store.add_prediction(Prediction(
        page_id=receipt.id, engine="eng", engine_version="1", config={}, config_hash="h",
        regions=(PredictedRegion(box_to_quad(10, 10, 200, 30), "ACME SDN BHD", 0.93),
                 PredictedRegion(box_to_quad(10, 150, 100, 170), "T0TAL", 0.41),
                 PredictedRegion(box_to_quad(200, 150, 290, 170), "9.90", 0.88),
                 PredictedRegion(box_to_quad(10, 180, 100, 195), "smudge", 0.12))))
    by_text = {r.text: r for r in store.regions(receipt.id)}
    store.update_region("ana", by_text["ACME SDN BHD"].id, label="company")
    store.update_region("ana", by_text["T0TAL"].id, text="TOTAL")
    store.update_region("ana", by_text["9.90"].id, label="total")
    store.delete_regions("ana", [by_text["smudge"].id])
    # An address over two lines, drawn by hand: the field joins them in reading order.
    store.add_region("ana", receipt.id, box_to_quad(10, 70, 250, 90), "JALAN KPB 6,", label="address")
    store.add_region("ana", receipt.id, box_to_quad(10, 40, 250, 60), "LOT 1851-A", label="address")
    store.set_page_status("ana", receipt.id, PageStatus.DONE)
    fax2 = next(p for p in store.pages() if p.page_no == 2)
    store.add_region("bob", fax2.id, ((5, 5), (45, 6), (44, 16), (4, 15)), "skewed line")
    return receipt


def test_export_writes_reference_format_per_page(project, tmp_path):
    receipt = fill(project, tmp_path)
    out = tmp_path / "out"
    assert export_project(project, out) == 3

    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 3 and not list(out.glob(".*"))  # no temp files left
    records = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in jsons}
    for json_name, rec in records.items():
        assert {"image", "width", "height", "lines", "fields"} <= rec.keys()
        assert rec["image"].rsplit(".", 1)[0] == json_name[: -len(".json")]  # image beside its JSON
        with Image.open(out / rec["image"]) as im:
            assert im.size == (rec["width"], rec["height"])
        for line in rec["lines"]:
            assert len(line["box"]) == 8 and all(isinstance(c, (int, float)) for c in line["box"])
            assert isinstance(line["text"], str)
            assert {"label", "confidence", "origin"} <= line.keys()

    rec = next(r for r in records.values() if r["name"] == "receipt.png")
    assert (rec["width"], rec["height"], rec["status"]) == (300, 200, "done")
    assert [(li["text"], li["label"], li["origin"]) for li in rec["lines"]] == [
        ("ACME SDN BHD", "company", "prediction"),
        ("LOT 1851-A", "address", "human"),
        ("JALAN KPB 6,", "address", "human"),
        ("TOTAL", None, "prediction"),
        ("9.90", "total", "prediction"),
    ]  # reading order; the deleted region is gone
    assert rec["lines"][0]["confidence"] == 0.93 and rec["lines"][1]["confidence"] is None
    assert rec["lines"][0]["box"] == [10, 10, 200, 10, 200, 30, 10, 30]
    assert rec["fields"] == {"company": "ACME SDN BHD", "address": "LOT 1851-A JALAN KPB 6,", "total": "9.90"}
    # The image beside it is the page image, byte for byte.
    assert (out / rec["image"]).read_bytes() == project.image_path(receipt).read_bytes()

    fax = sorted((r for r in records.values() if r["name"].startswith("fax.tif")), key=lambda r: r["name"])
    assert [r["name"] for r in fax] == ["fax.tif p.1", "fax.tif p.2"]
    assert fax[0]["lines"] == [] and fax[0]["fields"] == {}
    assert fax[1]["lines"][0]["box"] == [5, 5, 45, 6, 44, 16, 4, 15]

    # Only done pages, when asked.
    assert export_project(project, tmp_path / "done", status="done") == 1


def test_export_reimports_with_reference(project, tmp_path):
    fill(project, tmp_path)
    out = tmp_path / "out"
    export_project(project, out)
    exported = {json.loads(p.read_text())["image"]: json.loads(p.read_text()) for p in out.glob("*.json")}

    other = Project.create(tmp_path / "other")
    try:
        summary = import_paths(other, [out], ImportOptions(reference=True))
        assert summary.failures == [] and len(summary.imported) == 3
        for page in other.store.pages():
            rec = exported[page.name]
            assert (page.width, page.height) == (rec["width"], rec["height"])
            ref = other.store.reference(page.id)
            assert ref is not None
            assert [(sum(ln["points"], []), ln["text"]) for ln in ref["lines"]] == [
                (li["box"], li["text"]) for li in rec["lines"]]
            assert ref["fields"] == rec["fields"]
    finally:
        other.close()
