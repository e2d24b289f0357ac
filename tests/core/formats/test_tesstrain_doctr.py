"""tesstrain line pairs and docTR's detection / recognition folders, read back by hand."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from core.formats import ExportOptions, ExportPage, Line, base
from core.formats.doctr import DoctrWriter
from core.formats.exporting import export
from core.formats.importing import import_annotations
from core.formats.paddle import crop_size
from core.formats.tesstrain import TesstrainWriter
from tests.core.formats.test_paddle import (
    TEXTS,
    export_page,
    line_pattern,
    rotated_line_page,
    sample_lines,
    sroie_ppocrlabel,
)

#: Import and export read and write the store the same way on a project folder and a team server:
#: each test that takes the ``project`` fixture runs on both.
BOTH_BACKENDS = True

EXTRA = [Line([(5, 440), (60, 440), (60, 470), (5, 470)], "###"),
         Line([(100, 440), (160, 440), (160, 470), (100, 470)], "  "),
         Line([(170, 440), (260, 440), (260, 470), (170, 470)], " two\nlines\t "),
         Line([(300, 300), (300, 300), (300, 300), (300, 300)], "no area")]


def read_pairs(folder) -> dict[str, tuple[tuple[int, int], str]]:
    """An independent tesstrain reader: every <name>.gt.txt with its <name>.png."""
    out = {}
    for gt in sorted(folder.glob("*.gt.txt")):
        name = gt.name[: -len(".gt.txt")]
        raw = gt.read_bytes().decode("utf-8")  # strict UTF-8
        assert raw.endswith("\n") and raw.count("\n") == 1, raw  # one line
        text = raw[:-1]
        assert text == text.strip() and text
        with Image.open(folder / f"{name}.png") as im:
            assert im.format == "PNG"
            out[name] = (im.size, text)
    assert len(list(folder.glob("*.png"))) == len(out)  # no image without its text
    return out


def test_tesstrain_pairs(tmp_path):
    lines = sample_lines() + EXTRA
    pages = [export_page(tmp_path, 1, lines, stem="scan-p001"), export_page(tmp_path, 2, lines[:2], stem="Reçu n°2")]
    seen = []
    assert TesstrainWriter().write(pages, tmp_path / "gt", ExportOptions(), lambda n, s: seen.append(n)) == 2
    assert seen == [1, 2]
    pairs = read_pairs(tmp_path / "gt")
    assert sorted(pairs) == sorted([f"scan-p001_{i}" for i in (0, 1, 2, 3, 4, 7)] + ["Reçu_n_2_0", "Reçu_n_2_1"])
    assert [pairs[f"scan-p001_{i}"][1] for i in range(5)] == TEXTS
    assert pairs["scan-p001_7"][1] == "two lines"
    for i, ln in enumerate(sample_lines()):
        (w, h), _ = pairs[f"scan-p001_{i}"]
        want_w, want_h = crop_size(ln.points)
        assert abs(w - want_w) <= 2 and abs(h - want_h) <= 2


@pytest.mark.parametrize("angle", [25, -160])
def test_tesstrain_crops_are_upright(tmp_path, angle):
    img = tmp_path / f"{'0' * 63}1.png"
    corners = rotated_line_page(img, angle)
    page = ExportPage(page_id=1, document="d.png", page_no=1, page_count=1, stem="d", image=img, width=600,
                      height=420, status="done", lines=[Line(corners, "LINE")], fields={})
    TesstrainWriter().write([page], tmp_path / "gt", ExportOptions())
    crop = np.asarray(Image.open(tmp_path / "gt" / "d_0.png").convert("L"), dtype=float)
    assert abs(crop.shape[1] / crop.shape[0] - 6) < 0.3
    resized = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((240, 40)), dtype=float)
    pattern = line_pattern().astype(float)
    upright = np.corrcoef(resized.ravel(), pattern.ravel())[0, 1]
    assert upright > 0.85 and upright > np.corrcoef(resized.ravel(), pattern[::-1, ::-1].ravel())[0, 1] + 0.3


def check_doctr_set(folder) -> tuple[dict, dict]:
    """docTR's detection set in ``folder`` (images/ + labels.json), checked by hand."""
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    for name, entry in labels.items():
        assert set(entry) == {"img_dimensions", "img_hash", "polygons"}
        data = (folder / "images" / name).read_bytes()
        assert entry["img_hash"] == hashlib.sha256(data).hexdigest()
        with Image.open(folder / "images" / name) as im:
            assert entry["img_dimensions"] == [im.height, im.width]  # docTR's shapes are (height, width)
        for poly in entry["polygons"]:
            assert len(poly) == 4 and all(len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in poly)
    return labels


def check_doctr_rec(folder) -> dict:
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    for name, text in labels.items():
        assert isinstance(text, str) and text.strip() and "\n" not in text
        Image.open(folder / "images" / name).verify()
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(labels)
    return labels


def test_doctr_detection_and_recognition(tmp_path):
    lines = sample_lines() + EXTRA
    pages = [export_page(tmp_path, 1, lines, split="train"), export_page(tmp_path, 2, lines[:2], split="val",
                                                                         size=(500, 700)),
             export_page(tmp_path, 3, [], split=None)]
    out = tmp_path / "doctr"
    assert DoctrWriter().write(pages, out, ExportOptions(dataset_version=1)) == 3
    det = check_doctr_set(out)
    assert list(det) == ["doc1.png", "doc2.png", "doc3.png"]
    assert det["doc2.png"]["img_dimensions"] == [700, 500]
    for poly, ln in zip(det["doc1.png"]["polygons"], lines):
        assert np.allclose(poly, ln.points, atol=0.01)
    assert det["doc3.png"]["polygons"] == []
    rec = check_doctr_rec(out / "recognition")
    assert [rec[f"doc1_{i}.jpg"] for i in range(5)] == TEXTS
    assert rec["doc1_7.jpg"] == " two lines  "  # one line, spaces kept
    assert "doc1_5.jpg" not in rec and "doc1_6.jpg" not in rec and "doc1_8.jpg" not in rec
    for i, ln in enumerate(sample_lines()):
        w, h = crop_size(ln.points)
        with Image.open(out / "recognition" / "images" / f"doc1_{i}.jpg") as im:
            assert abs(im.width - w) <= 2 and abs(im.height - h) <= 2
    # the split, for --train_path / --val_path
    assert list(check_doctr_set(out / "train")) == ["doc1.png"]
    assert list(check_doctr_set(out / "val")) == ["doc2.png"]
    assert len(check_doctr_rec(out / "recognition" / "train")) == 6
    assert sorted(check_doctr_rec(out / "recognition" / "val").values()) == sorted(TEXTS[:2])


def test_doctr_and_tesstrain_from_a_project(tmp_path, project, sroie_dir):
    folder, refs = sroie_ppocrlabel(sroie_dir, tmp_path, n=2)
    assert not import_annotations(project, [folder], "paddleocr").failures
    texts = sorted(ln["text"].strip() for r in refs for ln in r["lines"] if ln["text"].strip())
    assert base.writer("tesstrain") and base.writer("doctr")

    assert export(project, tmp_path / "gt", "tesstrain") == 2
    pairs = read_pairs(tmp_path / "gt")
    assert sorted(t for _, t in pairs.values()) == texts

    assert export(project, tmp_path / "doctr", "doctr") == 2
    det = check_doctr_set(tmp_path / "doctr")
    assert sorted(len(e["polygons"]) for e in det.values()) == sorted(len(r["lines"]) for r in refs)
    for entry, ref in zip(det.values(), refs):
        assert entry["img_dimensions"] == [ref["height"], ref["width"]]
    rec = check_doctr_rec(tmp_path / "doctr" / "recognition")
    assert sorted(t.strip() for t in rec.values()) == texts
