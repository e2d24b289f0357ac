"""A field's confidence is calibrated: among readings given about c, about c are right."""

from __future__ import annotations

import random

import pytest

from ml.fields import extract, lines_from, page_of
from ml.fields.model import CALIB_MIN_PAGES, Example, FieldModel, fit_calibration, train
from ml.fields.scoring import FieldScore, format_fields


def _page(rows, width=600, height=1000):
    lines = lines_from((((x, y), (x + 9 * len(t), y), (x + 9 * len(t), y + 20), (x, y + 20)), t) for x, y, t in rows)
    return page_of(lines, width, height)


def _half_labelled_pages(n, seed=0):
    """Pages of six look-alike codes; on half of them 'Ref' labels the field's code, on the
    other half the code is one of the six unlabelled: no model reads those better than by chance."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        codes = [f"{rnd.choice('ABCDEFGH')}{rnd.randint(1000, 9999)}" for _ in range(6)]
        slot = rnd.randrange(6)
        labelled = rnd.random() < 0.5
        rows = [(60, 40, "ACME TRADING LTD")]
        for i, code in enumerate(codes):
            label = "Ref" if (labelled and i == slot) else rnd.choice(["Item", "Batch", "Lot", "Bin", "Shelf"])
            rows += [(60, 100 + 40 * i, label), (300, 100 + 40 * i, code)]
        out.append((_page(rows), {"ref_code": codes[slot]}))
    return out


def test_the_fitted_map_brings_overconfident_readings_down_to_how_often_they_are_right():
    rnd = random.Random(1)
    readings = [("total", rnd.uniform(0.995, 0.99999), False, rnd.random() < 0.7) for _ in range(300)]
    readings += [("date", rnd.uniform(0.995, 0.99999), False, rnd.random() < 0.97) for _ in range(300)]
    cal = fit_calibration(readings)
    assert cal.readings == 600
    assert cal("total", 0.999, False) == pytest.approx(0.7, abs=0.08)
    assert cal("date", 0.999, False) == pytest.approx(0.97, abs=0.03)
    # monotonic within a field: the ranking (and so each field's auto-accept threshold) is kept
    assert cal("total", 0.9, False) < cal("total", 0.99, False) < cal("total", 0.9999, False)
    again = type(cal).from_json(cal.to_json())
    assert again("total", 0.999, False) == pytest.approx(cal("total", 0.999, False))


def test_a_model_trained_on_enough_pages_gives_calibrated_confidences(tmp_path):
    pages = _half_labelled_pages(160)
    model, _ = train([Example(p, f) for p, f in pages[:60]], ["ref_code"], epochs=200)
    assert model.calibration is not None and model.calibration.readings == 60
    score = FieldScore()
    raw = FieldScore()
    for p, f in pages[60:]:
        score.add_page(extract(p, ["ref_code"], model), f)
        raw.add_page(extract(p, ["ref_code"], model, calibrated=False), f)
    right = score.overall().summary()["right"] / 100
    assert 0.45 < right < 0.85                           # half the pages are a guess
    mean_conf = sum(c for c, _ in score.outcomes) / len(score.outcomes)
    assert mean_conf == pytest.approx(right, abs=0.12)
    rel, rel_raw = score.summary()["reliability"], raw.summary()["reliability"]
    assert rel["ece"] < rel_raw["ece"]
    assert "calibration error (ECE)" in format_fields(score.summary())
    # saved and read back with its calibration
    model.save(tmp_path / "m")
    again = FieldModel.load(tmp_path / "m")
    p, _ = pages[100]
    assert [v.to_json() for v in extract(p, ["ref_code"], again)] == [v.to_json() for v in extract(p, ["ref_code"], model)]


def test_too_few_pages_to_calibrate_leave_the_networks_probabilities_as_they_are():
    pages = _half_labelled_pages(CALIB_MIN_PAGES - 1)
    model, _ = train([Example(p, f) for p, f in pages], ["ref_code"], epochs=50)
    assert model.calibration is None
    p, _ = pages[0]
    a = extract(p, ["ref_code"], model)[0].confidence
    assert a == pytest.approx(extract(p, ["ref_code"], model, calibrated=False)[0].confidence, abs=1e-4)


def test_a_model_whose_saved_calibration_is_corrupt_is_refused_with_a_message(tmp_path):
    import json

    pages = _half_labelled_pages(CALIB_MIN_PAGES)
    model, _ = train([Example(p, f) for p, f in pages], ["ref_code"], epochs=20)
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "fields.json").read_text())
    assert meta["calibration"]["readings"] == CALIB_MIN_PAGES
    meta["calibration"] = {"slope": "steep"}
    (tmp_path / "m" / "fields.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unreadable field model"):
        FieldModel.load(tmp_path / "m")
