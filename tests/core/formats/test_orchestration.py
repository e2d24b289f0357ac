"""Import and export around the formats: what the lines become, file names, provenance, splits.

A tiny JSON format registered by the tests stands in for the real ones (their own tests cover
their files); what is tested here is what every format shares.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import BadInputError
from core.formats import AnnotatedPage, ExportOptions, Line, base, box_points
from core.formats.exporting import export, export_pages
from core.formats.importing import import_annotations, read_annotations
from core.model import PageStatus, PredictedRegion, Prediction
from tests.conftest import image_bytes

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True


class _Reader:
    """``annotations.json``: {"pages": [{"image", "checked", "lines": [[x0,y0,x1,y1,text,label]],
    "predicted": [[x0,y0,x1,y1,text,score]]}]} beside the images."""

    name, title = "tiny", "Tiny test format"

    def detect(self, path: Path) -> float:
        return 1.0 if (path / "annotations.json").is_file() else 0.0

    def read(self, path: Path):
        data = json.loads((path / "annotations.json").read_text())
        for i, page in enumerate(data["pages"], start=1):
            if not isinstance(page.get("lines"), list):
                raise BadInputError(f"annotations.json: page {i}: lines must be a list")
            yield AnnotatedPage(
                image=path / page["image"], checked=page.get("checked"),
                lines=[Line(box_points(*ln[:4]), ln[4], ln[5] if len(ln) > 5 else None) for ln in page["lines"]],
                predictions={"tiny-model": [Line(box_points(*p[:4]), p[4], confidence=p[5])
                                            for p in page.get("predicted", [])]} if page.get("predicted") else {})


class _Writer:
    name, title = "tiny", "Tiny test format"

    def write(self, pages, out: Path, options: ExportOptions, progress=None) -> int:
        n = 0
        for page in pages:
            (out / f"{page.stem}.json").write_text(json.dumps({
                "page_no": page.page_no, "split": page.split, "fields": page.fields,
                "lines": [{"points": ln.points, "text": ln.text, "label": ln.label, "origin": ln.origin,
                           "corrected": ln.corrected, "by": ln.updated_by, "at": ln.updated_at}
                          for ln in page.lines]}, ensure_ascii=False))
            n += 1
            if progress:
                progress(n, page.stem)
        return n


@pytest.fixture(autouse=True)
def tiny_format():
    base.load_all()
    base.register_reader(_Reader())
    base.register_writer(_Writer())
    yield
    base.READERS.pop("tiny", None)
    base.WRITERS.pop("tiny", None)


def _folder(tmp_path, pages) -> Path:
    src = tmp_path / "src"
    src.mkdir(parents=True)
    for i, page in enumerate(pages):
        (src / page["image"]).write_bytes(image_bytes(200 + i, size=(300, 200)))
    (src / "annotations.json").write_text(json.dumps({"pages": pages}, ensure_ascii=False))
    return src


def test_labels_become_peoples_regions_and_checked_pages_are_done(project, tmp_path):
    src = _folder(tmp_path, [
        {"image": "a.png", "checked": True, "lines": [[10, 10, 100, 30, "Café 12,50 €", "total"], [10, 50, 90, 70, "x"]]},
        {"image": "b.png", "checked": False, "lines": [[5, 5, 50, 20, "₹ 99"]]},
    ])
    summary = import_annotations(project, [src], "auto", "labels")
    assert len(summary.imported) == 2 and not summary.failures
    store = project.store
    a, b = sorted(store.pages(), key=lambda p: p.name)
    assert a.status == PageStatus.DONE and b.status == PageStatus.IN_PROGRESS
    regions = store.regions(a.id)
    assert [(r.text, r.label, r.origin) for r in regions] == [("Café 12,50 €", "total", "human"), ("x", None, "human")]
    assert store.reference(a.id)["lines"][0]["text"] == "Café 12,50 €"
    # Imported again: nothing doubled.
    again = import_annotations(project, [src], "tiny", "labels")
    assert len(again.duplicates) == 2 and len(store.regions(a.id)) == 2


def test_as_prediction_is_an_engine_scored_like_any(project, tmp_path):
    src = _folder(tmp_path, [{"image": "a.png", "lines": [[10, 10, 100, 30, "TOTAL"], [10, 50, 90, 70, "X"]]}])
    import_annotations(project, [src], "tiny", "prediction")
    page = project.store.pages()[0]
    pred = project.store.predictions(page.id)[-1]
    assert pred.engine == "tiny-import" and [r.text for r in pred.regions] == ["TOTAL", "X"]
    assert page.status in (PageStatus.PREFILLED, PageStatus.NEW)
    assert [r.origin for r in project.store.regions(page.id)] == ["prediction", "prediction"]


def test_labels_over_a_prediction_read_as_corrections(project, tmp_path):
    """Label Studio keeps a model's predictions beside people's annotations: moderation must see
    what people made of each predicted line."""
    src = _folder(tmp_path, [{
        "image": "a.png", "checked": True,
        "predicted": [[10, 10, 100, 30, "TOTAI", 0.6], [10, 50, 90, 70, "KEEP", 0.9], [200, 150, 260, 170, "junk", 0.3]],
        "lines": [[10, 10, 100, 30, "TOTAL"], [10, 50, 90, 70, "KEEP"], [120, 100, 200, 120, "missed"]],
    }])
    import_annotations(project, [src], "tiny", "labels")
    store = project.store
    page = store.pages()[0]
    assert page.status == PageStatus.DONE
    kinds = sorted(v.kind for v in store.page_verdicts(page.id))
    assert kinds == ["correct", "deleted", "missing", "wrong_text"]
    assert sorted(r.text for r in store.regions(page.id)) == ["KEEP", "TOTAL", "missed"]


def test_a_malformed_file_writes_nothing(project, tmp_path):
    src = _folder(tmp_path, [{"image": "a.png", "lines": [[10, 10, 100, 30, "ok"]]}, {"image": "b.png", "lines": 7}])
    summary = import_annotations(project, [src], "tiny")
    assert summary.failures and "page 2: lines must be a list" in summary.failures[0][1]
    assert project.store.pages() == []
    # A box off the page fails that document, nothing of it written.
    src2 = _folder(tmp_path / "2", [{"image": "c.png", "lines": [[10, 10, 900, 30, "too wide"]]}])
    summary = import_annotations(project, [src2], "tiny")
    assert summary.failures and "outside the 300x200 page" in summary.failures[0][1]
    assert project.store.pages() == []
    with pytest.raises(BadInputError):
        read_annotations(tmp_path / "nothing-here", "auto")


def test_export_names_keep_page_numbers_and_never_collide(project, tmp_path):
    from PIL import Image

    from core.importer import ImportOptions, import_paths

    src = tmp_path / "docs"
    src.mkdir()
    (src / "X.png").write_bytes(image_bytes(1))
    frames = [Image.new("RGB", (40, 30), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(src / "X.pdf", save_all=True, append_images=frames[1:])
    import_paths(project, [src / "X.png", src / "X.pdf"], ImportOptions())
    total, pages = export_pages(project)
    stems = sorted(p.stem for p in pages)
    assert total == 4 and stems == ["X_pdf-p001", "X_pdf-p002", "X_pdf-p003", "X_png"]


def test_export_says_where_each_line_came_from(project, tmp_path):
    from core.importer import ImportOptions, import_paths

    img = tmp_path / "p.png"
    img.write_bytes(image_bytes(5, size=(300, 200)))
    import_paths(project, [img], ImportOptions())
    store = project.store
    page = store.pages()[0]
    store.add_prediction(Prediction(page_id=page.id, engine="classical", engine_version="1", config={},
                                    config_hash="h", regions=(
                                        PredictedRegion(box_points(10, 10, 100, 30), "TOTAI", 0.5),
                                        PredictedRegion(box_points(10, 50, 100, 70), "SAME", 0.9))))
    r = next(r for r in store.regions(page.id) if r.text == "TOTAI")
    store.update_region("ana", r.id, text="TOTAL")
    store.add_region("bob", page.id, box_points(10, 100, 100, 120), text="NEW")
    out = tmp_path / "out"
    assert export(project, out, "tiny") == 1
    lines = json.loads(next(out.glob("*.json")).read_text())["lines"]
    got = {ln["text"]: (ln["origin"], ln["corrected"], ln["by"]) for ln in lines}
    assert got["TOTAL"] == ("prediction", True, "ana")
    assert got["SAME"] == ("prediction", False, "classical")
    assert got["NEW"] == ("human", False, "bob")
    assert all(ln["at"] for ln in lines)


def test_export_of_a_dataset_version_follows_its_split(labelled, tmp_path):
    project, version = labelled
    out = tmp_path / "out"
    n = export(project, out, "tiny", options=ExportOptions(dataset_version=version.id))
    splits = [json.loads(f.read_text())["split"] for f in sorted(out.glob("*.json"))]
    assert n == 3 and sorted(splits) == ["train", "train", "val"]
