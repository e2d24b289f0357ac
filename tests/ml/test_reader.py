"""The line reader the workspace uses to re-read a box: neural first, Tesseract as the fallback."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ml import reader


def line_page(text="TOTAL 12.50"):
    img = Image.new("L", (600, 120), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=40)
    draw.text((40, 30), text, fill=0, font=font)
    x0, y0, x1, y1 = draw.textbbox((40, 30), text, font=font)
    quad = [[x0 - 6, y0 - 6], [x1 + 6, y0 - 6], [x1 + 6, y1 + 6], [x0 - 6, y1 + 6]]
    return np.asarray(img), quad


def test_best_reader_is_neural_and_reads_the_line():
    page, quad = line_page()
    (text, conf), (empty, _) = reader.read_quads(page, [quad, [[0, 0], [1, 0], [1, 1], [0, 1]]])
    assert reader._loaded.get("neural:") is not None and reader.warning is None  # the shipped model
    assert text.replace(" ", "") == "TOTAL12.50" and 0.5 < conf <= 1.0
    assert empty == ""


def test_classical_reads_too_and_a_broken_model_falls_back(monkeypatch):
    page, quad = line_page("THANK YOU")
    [(text, _)] = reader.read_quads(page, [quad], engine="classical")
    assert "THANK" in text
    monkeypatch.setattr(reader, "_loaded", {})
    monkeypatch.setattr(reader, "warning", None)
    import ml.neural.models as models

    def broken(*a, **k):
        raise models.ModelError("model.onnx: sha256 mismatch")

    monkeypatch.setattr(models, "load_spec", broken)
    [(text, _)] = reader.read_quads(page, [quad])
    assert "THANK" in text and "sha256 mismatch" in reader.warning
