"""A project's own words put right the OCR's one-look-alike misreadings (ml.fields.vocabulary), in the
field reader's view of OCR lines only."""

from __future__ import annotations

import pytest

from core.model import Page, PredictedRegion, Prediction, box_to_quad
from ml.fields.lines import lines_from
from ml.fields.model import FieldModel
from ml.fields.prefill import FieldReader, regions_page
from ml.fields.vocabulary import Vocabulary, attach, of_model, read_lines, vocabulary_of

PAGES = [["SANYU SUPPLY SDN BHD", "TAMAN SRI", "Total: 4.00"],
         ["KEDAI SDN BHD", "JALAN TAMAN", "Sub Total 3.00"],
         ["SDN BHD", "ONE TWO", "Total 9.00"]]


def test_words_seen_on_two_pages_are_kept_by_pages_not_by_count():
    v = vocabulary_of(PAGES + [["SRI SRI SRI SRI"]])
    assert v.pages["SDN"] == 3 and v.pages["TOTAL"] == 3 and v.pages["TAMAN"] == 2
    assert "SRI" in v.pages and "SANYU" not in v.pages and "ONE" not in v.pages   # one page each
    assert len(vocabulary_of(PAGES, max_words=2)) == 2


@pytest.mark.parametrize("ocr,fixed", [
    ("SANYU SUPPLY SON BHD", "SANYU SUPPLY SDN BHD"),   # O for D
    ("JAMAN BERKELEY", "TAMAN BERKELEY"),               # J for T
    ("Sub Tota1 9.00", "Sub Total 9.00"),               # 1 for l, the word's case kept
    ("sub totai", "sub total"),
    ("SDN BHD", "SDN BHD"),                             # known: untouched
    ("BERKELEY 47500", "BERKELEY 47500"),               # unknown and no known word one look-alike away
    ("S0N", "SDN"), ("IO", "IO"),                       # two characters: too short to tell
    ("SUN BHD", "SUN BHD"),                             # U for D is no look-alike
])
def test_one_look_alike_character_is_put_right(ocr, fixed):
    assert vocabulary_of(PAGES).correct(ocr) == fixed


def test_a_word_two_known_words_could_be_is_left_alone_unless_one_is_far_more_common():
    assert Vocabulary({"CASH": 4, "CASE": 3}).correct("CASF") == "CASE"   # F looks like E only
    assert Vocabulary({"MOLD": 3, "MOLO": 3}).correct("MOL0") == "MOL0"   # 0: D or O, as common: left
    assert Vocabulary({"MOLD": 7, "MOLO": 3}).correct("MOL0") == "MOLD"   # more than twice as common
    assert Vocabulary({"MOLD": 6, "MOLO": 3}).correct("MOL0") == "MOL0"


def test_the_reader_corrects_ocr_lines_only_and_the_vocabulary_travels_with_the_model(tmp_path):
    model = FieldModel({}, {"schema": []})
    attach(model, PAGES)
    model.save(tmp_path / "m")
    loaded = FieldModel.load(tmp_path / "m")
    assert of_model(loaded).pages == vocabulary_of(PAGES).pages
    assert of_model(FieldModel({}, {})) is None and of_model(None) is None
    lines = lines_from([(box_to_quad(0, 0, 100, 20), "SON BHD"), (box_to_quad(0, 30, 100, 50), "JAMAN")])
    fixed = read_lines(lines, loaded)
    assert [ln.text for ln in fixed] == ["SDN BHD", "TAMAN"] and (fixed[0].x1, fixed[0].index) == (100, 0)
    regions = [PredictedRegion(box_to_quad(0, 0, 100, 20), "SON BHD", 0.9)]
    assert [ln.text for ln in regions_page(regions, 200, 200).lines] == ["SON BHD"]         # people's view: as read
    assert [ln.text for ln in regions_page(regions, 200, 200, loaded).lines] == ["SDN BHD"]
    # Pre-fill reads fields through it; the regions keep the OCR's text.
    page = Page(document_id=0, page_no=1, image_sha256="x", width=200, height=200, id=1)
    pred = Prediction(page_id=1, engine="e", engine_version="1", config={}, config_hash="h", regions=tuple(regions))
    got = FieldReader(["company"], loaded, "v").apply(pred, page)
    assert got.regions[0].text == "SON BHD"


def test_a_vocabulary_that_is_not_a_word_table_is_refused():
    with pytest.raises(ValueError, match="not a table"):
        Vocabulary.from_json({"SDN": "three"})
    assert Vocabulary.from_json(None) is None


def test_the_held_out_readings_read_an_ocr_page_through_the_models_words_as_pre_fill_does():
    """The calibration and the choice of fields the rules read are made on what pre-fill shows:
    the OCR's lines through the model's words, not as the OCR printed them."""
    from ml.fields import page_of
    from ml.fields.extract import scored_fields
    from ml.fields.model import Example, readings_of, train

    def page(rows):
        return page_of(lines_from((((60, y), (400, y), (400, y + 20), (60, y + 20)), t) for y, t in rows), 600, 800)

    schema = ["company"]
    people = [page([(40, f"KEDAI {w} SDN BHD"), (100, "JALAN TAMAN"), (500, "TOTAL 4.00")]) for w in ("ALPHA", "BETA", "GAMMA")]
    model, _ = train([Example(p, {"company": p.lines[0].text}) for p in people], schema, epochs=100, calibrate=False)
    truth = page([(40, "KEDAI DELTA SDN BHD"), (100, "JALAN TAMAN"), (500, "TOTAL 4.00")])
    ocr = page([(40, "KEDAI DELTA SON BHD"), (100, "JALAN TAMAN"), (500, "TOTAL 4.00")])   # O for D
    ex = Example(truth, {"company": "KEDAI DELTA SDN BHD"}, None, ocr, scored_fields(ocr, schema))
    (r,) = readings_of(model, [ex], schema)
    assert r.field == "company" and r.right and not r.absent
