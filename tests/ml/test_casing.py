"""A project's case convention (ml.neural.casing): found in people's lines, stored with a model
version, applied to every reading of the recogniser and the combined engine, and the choice of a
run's recogniser weights that comes with it (ml.training.worker.recognizer_choice)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.neural import casing
from ml.neural.combined import CombinedEngine, Reading
from ml.neural.engine import NeuralConfig
from ml.neural.models import BASE_MODEL, model_dir
from ml.prediction import load_image
from ml.training.active import model_config
from ml.training.worker import KEEP_TRAINED_Z, recognizer_choice

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = ["TAN WOON YANN", "BOOK TA .K(TAMAN DAYA) SDN BHD", "NO.5: 55,57 & 59, JALAN SAGU 18,", "TOTAL: 9.00",
           "TAMAN DAYA, 81100 JOHOR BAHRU,", "DOCUMENT NO : TD01167104", "CASHIER : MANIS"]


def test_a_project_writes_in_capitals_when_nearly_all_of_many_letters_are():
    lines = RECEIPT * 10
    assert casing.convention_of(lines) == casing.UPPER
    assert casing.convention_of(RECEIPT) == ""  # too few letters to say
    letters = sum(c.isalpha() for t in lines for c in t)
    mixed = lines + ["x" * int(0.03 * letters)]  # 3% lower case: a mixed-case project
    assert casing.convention_of(mixed) == ""
    assert casing.convention_of(lines + ["kg"]) == casing.UPPER  # a unit here and there
    assert casing.convention_of(["1234.56 - 12/03/2018"] * 200) == ""  # digits are no letters
    assert casing.convention_of(["Rechnung Nr. 2024-17", "Gesamtbetrag"] * 30) == ""


def test_upper_keeps_a_texts_length():
    assert casing.apply("Straße 5, Köln", casing.UPPER) == "STRAßE 5, KÖLN"
    assert casing.apply("Straße", "") == "Straße"
    with pytest.raises(ValueError, match="case convention"):
        casing.apply("x", "title")
    # a config naming a convention there is not fails when the recogniser is built, saying so
    from ml.neural.models import load_spec
    from ml.neural.recognizer import RecognizeConfig, Recognizer

    with pytest.raises(ValueError, match="unknown case convention 'title'"):
        Recognizer(load_spec(model_dir(BASE_MODEL, "rec-latin")), run=lambda x: x, cfg=RecognizeConfig(case="title"))


def test_configs_without_a_convention_hash_as_before():
    plain = NeuralConfig().to_dict()
    assert "case" not in plain["recognize"]
    upper = NeuralConfig.from_dict({"recognize": {"case": "upper"}}).to_dict()
    assert upper["recognize"]["case"] == "upper"
    from ml.neural.combined import _config

    assert "case" not in _config(None).to_dict()["neural"]["recognize"]
    assert _config({"neural": {"recognize": {"case": "upper"}}}).to_dict()["neural"]["recognize"]["case"] == "upper"


def test_a_model_versions_convention_reaches_its_engine_config(tmp_path):
    folder = tmp_path / "run-1"
    shutil.copytree(model_dir(BASE_MODEL, "rec-latin"), folder)
    assert "recognize" not in model_config(folder)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "case": "upper"}))
    assert model_config(folder)["recognize"] == {"case": "upper"}
    (folder / "model.json").write_text(json.dumps({**meta, "case": "shouting"}))  # not one we know: none
    assert "recognize" not in model_config(folder)


@pytest.fixture(scope="module")
def engines():
    return CombinedEngine(), CombinedEngine({"neural": {"recognize": {"case": "upper"}}})


def test_the_recogniser_and_the_combined_engine_read_in_the_convention(engines):
    """The shipped recogniser reads a receipt's print in mixed case; with the convention every
    region comes out in capitals, the same letters otherwise, and Tesseract's text too where it
    replaces the recogniser's."""
    plain, upper = engines
    image = load_image(sorted((ROOT / "resources" / "samples" / "receipts").glob("*.jpg"))[0])
    a, b = plain.predict(image).regions, upper.predict(image).regions
    assert [r.text.upper() for r in a] == [r.text for r in b]
    assert any(c.islower() for r in a for c in r.text)
    assert not any(c.islower() for r in b for c in r.text)
    assert upper.config_hash != plain.config_hash
    pts = np.zeros((4, 2))
    # no letter in the recogniser's reading: Tesseract's text stays as it is, but for the convention
    assert plain.finish(Reading(pts, "10.00", 0.6, 0.3, "Total", 0.95))[0] == "Total"
    assert upper.finish(Reading(pts, "10.00", 0.6, 0.3, "Total", 0.95))[0] == "TOTAL"
    crops = upper.neural.model.recognizer.crops(image, [r.points for r in a[:5]])
    assert all(not any(c.islower() for c in d.text) for d in upper.neural.model.recognizer.read(crops))


def test_auto_keeps_the_fine_tune_only_when_it_reads_better_beyond_noise():
    truths = [f"LINE {i} OF THE RECEIPT" for i in range(100)]
    base = [t.replace("E", "F", 1) for t in truths]  # one error a line
    choice = recognizer_choice(truths, truths, base)
    assert choice.kept == "trained" and choice.why == "auto" and choice.lines == 100
    assert choice.trained_cer == 0 and choice.base_cer > 0
    # better on two lines of a hundred: noise
    few = truths[:2] + base[2:]
    choice = recognizer_choice(truths, few, base)
    assert choice.kept == "base" and choice.z < KEEP_TRAINED_Z
    assert recognizer_choice(truths, base, base).kept == "base"  # no better: the base generalises
    assert recognizer_choice(truths, base, truths).kept == "base"  # worse
    # The fine-tune's one gain is the capitals: in the project's convention that is no gain at all.
    mixed = [t.title() for t in truths]
    assert recognizer_choice(truths, truths, mixed).kept == "trained"
    assert recognizer_choice(truths, truths, mixed, casing.UPPER).kept == "base"
    assert recognizer_choice([], [], []).kept == "trained"  # nothing to judge by


def test_auto_judges_on_the_lines_no_training_page_has():
    """A fine-tune reads the lines people typed on its training pages (a shop's name on each of its
    receipts) better than the base model: that is memory, not reading, and does not count."""
    repeated = [f"SHOP {i} SDN BHD" for i in range(60)]
    novel = [f"ITEM {i} PLAIN BREAD" for i in range(60)]
    truths = repeated + novel
    trained = repeated + [t.replace("B", "8", 1) for t in novel]  # reads the new lines no better...
    base = [t.replace("S", "5", 1) for t in repeated] + [t.replace("B", "8", 1) for t in novel]
    assert recognizer_choice(truths, trained, base).kept == "trained"  # ...but all lines say it does
    seen = {"shop %d  sdn bhd" % i for i in range(60)}  # as people typed them: case and spaces aside
    from ml.training.worker import line_key

    choice = recognizer_choice(truths, trained, base, seen={line_key(t) for t in seen})
    assert choice.kept == "base" and choice.lines == 60 and choice.z == 0
    # every validation line is on a training page: nothing to judge by
    assert recognizer_choice(repeated, repeated, base[:60], seen={line_key(t) for t in repeated}).kept == "trained"
