"""A form project's pre-fill: header, question and answer label the regions (many a page), never
the page's one-value fields; a schema that mixes both gets each where it belongs."""

from __future__ import annotations

import dataclasses

from core.fields import many_valued
from core.model import Page, PredictedRegion, Prediction, box_to_quad
from ml.fields.prefill import FieldReader

FORM = [((50, 40, 500, 70), "APPLICATION FOR EMPLOYMENT"), ((50, 100, 150, 120), "Name:"),
        ((170, 100, 400, 120), "John Smith"), ((50, 140, 150, 160), "Date:"), ((170, 140, 300, 160), "12/3/88")]


def _apply(schema, regions=None):
    regions = regions or tuple(PredictedRegion(box_to_quad(*b), t, 0.9) for b, t in FORM)
    pred = Prediction(page_id=1, engine="e", engine_version="1", config={}, config_hash="h", regions=tuple(regions))
    page = Page(document_id=0, page_no=1, image_sha256="x", width=600, height=800, id=1)
    return FieldReader(schema).apply(pred, page)


def test_a_forms_labels_go_on_its_regions():
    got = _apply(["header", "question", "answer"])
    assert [(r.text, r.label) for r in got.regions] == [
        ("APPLICATION FOR EMPLOYMENT", "header"), ("Name:", "question"), ("John Smith", "answer"),
        ("Date:", "question"), ("12/3/88", "answer")]
    assert got.fields == ()                       # no page value "question"
    assert many_valued("Question") and not many_valued("date")


def test_a_schema_of_both_kinds_gets_a_value_and_labels_and_keeps_a_given_label():
    regions = [PredictedRegion(box_to_quad(*b), t, 0.9) for b, t in FORM]
    regions[2] = dataclasses.replace(regions[2], label="name")       # labelled already: kept
    got = _apply(["date", "Question", "answer"], regions)
    assert [v.name for v in got.fields] == ["date"] and got.fields[0].text == "12/3/88"
    assert [r.label for r in got.regions] == [None, "Question", "name", "Question", "answer"]


def test_a_region_with_a_label_and_its_value_is_cut_into_a_question_and_an_answer():
    regions = [PredictedRegion(box_to_quad(50, 40, 500, 70), "APPLICATION FOR EMPLOYMENT", 0.9),
               PredictedRegion(box_to_quad(50, 100, 330, 120), "Date: 12/3/88", 0.8, disagree=True,
                               second_opinion="Date 12/3/86"),
               PredictedRegion(box_to_quad(50, 140, 330, 160), "Time: 10:20", 0.9, label="note"),
               PredictedRegion(box_to_quad(50, 180, 330, 200), "10:20", 0.9)]
    got = _apply(["header", "question", "answer"], regions).regions
    assert [(r.text, r.label) for r in got] == [
        ("APPLICATION FOR EMPLOYMENT", "header"), ("Date:", "question"), ("12/3/88", "answer"),
        ("Time: 10:20", "note"), ("10:20", None)]   # a labelled region and a time are left whole
    q, a = got[1], got[2]
    assert q.points[0] == (50, 100) and a.points[1] == (330, 100)  # the pieces tile the region
    assert q.points[1] == a.points[0]
    assert (q.confidence, q.disagree, q.second_opinion) == (0.8, False, None)
