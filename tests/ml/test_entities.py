"""Many-valued form fields (ml/fields/entities.py): rules, grouping, the learned model, scoring.

Synthetic pages only (FUNSD's images and files stay in ../shared, read by bench/bench_entities.py)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ml.fields import entities as E
from ml.fields.lines import lines_from


def _lines(rows):
    """FLines from (x, y, text) rows, 20 px high, 9 px a character."""
    return lines_from((((x, y), (x + 9 * len(t), y), (x + 9 * len(t), y + 20), (x, y + 20)), t)
                      for x, y, t in rows)


def _page(rows, width=800, height=1000, split=False):
    return E.units_of(_lines(rows), width, height, split)


def _labels(page):
    return {u.text: lab for u, lab in zip(page.lines, E.rules(page))}


FORM = [
    (256, 40, "APPLICATION FORM"),                   # centred, upper case: a header
    (60, 120, "Name:"), (200, 120, "John Smith"),
    (60, 160, "Date:"), (60, 185, "12/03/1988"),     # a value under its label, nothing on its right
    (60, 240, "Department"), (300, 240, "Research and Development"),
    (60, 400, "Please return this form to the office before the end of the month, thank you."),
]


def test_rules_label_a_form_they_never_saw():
    got = _labels(_page(FORM))
    assert got["APPLICATION FORM"] == "header"
    assert got["Name:"] == "question" and got["John Smith"] == "answer"
    assert got["Date:"] == "question" and got["12/03/1988"] == "answer"
    assert got["Department"] == "question" and got["Research and Development"] == "answer"
    assert got["Please return this form to the office before the end of the month, thank you."] == "other"


def test_rules_do_not_make_every_line_a_question():
    # a lone value without a label on a row full of numbers stays an answer, a colon line a question
    got = _labels(_page([(60, 100, "Batch Size"), (300, 100, "50 lbs."), (60, 140, "Remarks:"),
                         (300, 300, "1234 5678")]))
    assert got["Batch Size"] == "question" and got["50 lbs."] == "answer"
    assert got["Remarks:"] == "question"
    assert got["1234 5678"] != "question"


def test_predict_groups_a_wrapped_answer_but_not_stacked_labels():
    rows = [(60, 100, "Maker"), (60, 122, "Length"), (60, 144, "Weight"),            # stacked questions
            (300, 100, "Spray 50 lbs. tobacco with"), (300, 122, "solution of alcohol")]
    page = _page(rows)
    labels = ["question" if u.x0 < 200 else "answer" for u in page.lines]
    ents = {(e.label, e.text) for e in E.group(page, labels)}
    assert ("question", "Maker") in ents and ("question", "Length") in ents and ("question", "Weight") in ents
    assert ("answer", "Spray 50 lbs. tobacco with solution of alcohol") in ents
    # the same lines with a wide gap between them are two entities
    far = _page([(300, 100, "Spray 50 lbs. tobacco with"), (300, 140, "solution of alcohol")])
    assert len(E.group(far, ["answer", "answer"])) == 2
    # a label ending with ':' is complete: the line under it is not part of it
    col = _page([(60, 100, "Comments:"), (60, 121, "(continued)")])
    assert len(E.group(col, ["question", "question"])) == 2


def test_split_colon_cuts_a_label_from_its_value_but_not_a_time():
    page = _page([(60, 100, "Date: 12/3/88"), (60, 200, "10:30 am"), (60, 300, "Ratio 3:1")], split=True)
    texts = [u.text for u in page.lines]
    assert texts == ["Date:", "12/3/88", "10:30 am", "Ratio 3:1"]
    d, v = page.lines[0], page.lines[1]
    assert d.x1 <= v.x0 and d.x0 == 60 and v.x1 == pytest.approx(60 + 9 * len("Date: 12/3/88"))
    assert page.sources[v.index][0] == 0            # both halves come from the first line
    labels = dict(zip(texts, E.rules(page)))
    assert labels["Date:"] == "question" and labels["12/3/88"] == "answer"


def _ref(rows_with_labels, width=800, height=1000):
    """A reference page in the FUNSD format from (x, y, text, label) rows, one entity each."""
    lines, ents = [], []
    for i, (x, y, t, lab) in enumerate(rows_with_labels):
        x1 = x + 9 * len(t)
        lines.append({"box": [x, y, x1, y, x1, y + 20, x, y + 20], "text": t, "entity_id": i, "label": lab})
        words, cx = [], x
        for w in t.split():
            words.append({"box": [cx, y, cx + 9 * len(w), y + 20], "text": w})
            cx += 9 * (len(w) + 1)
        ents.append({"id": i, "box": [x, y, x1, y + 20], "text": t, "label": lab, "words": words})
    return {"image": "synthetic.png", "width": width, "height": height, "lines": lines, "entities": ents,
            "links": []}


def test_unit_truth_from_words_labels_each_half_of_a_merged_line():
    ref = _ref([(60, 100, "Name:", "question"), (114, 100, "Jane Roe", "answer")])
    merged = lines_from([([(60, 100), (186, 100), (186, 120), (60, 120)], "Name: Jane Roe")])
    page = E.units_of(merged, 800, 1000, split_colon=True)
    labels, ids = E.unit_truth(page, ref)
    assert [u.text for u in page.lines] == ["Name:", "Jane Roe"]
    assert labels == ["question", "answer"] and ids == [0, 1]
    given = E.reference_units(ref)
    assert E.unit_truth(given, ref, given=True) == (["question", "answer"], [0, 1])


# -- the learned model --------------------------------------------------------------------------

def _synthetic_page(rng: random.Random):
    """A pattern the rules do not know: lower-case codes at the left are questions, capitalised
    words beside them answers, lines starting with '#' anywhere other, lines in the top band headers."""
    rows = []
    y = 150
    for _ in range(rng.randint(4, 8)):
        q = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 7)))
        a = rng.choice(["Alpha", "Bravo", "Charlie", "Delta", "Echo"]) + " " + str(rng.randint(1, 99))
        rows.append((rng.randint(40, 80), y, q, "question"))
        rows.append((rng.randint(350, 420), y, a, "answer"))
        y += rng.randint(40, 60)
    rows.append((rng.randint(100, 500), rng.randint(20, 60), "Zulu " + rng.choice(["x", "y", "z"]) * 3, "header"))
    rows.append((rng.randint(40, 500), y + 40, "#" + str(rng.randint(100, 999)) + " ref", "other"))
    return _ref(rows)


def _examples(refs):
    out = []
    for r in refs:
        page = E.reference_units(r)
        out.append((page, E.unit_labels(page, r, given=True)))
    return out


def test_learned_model_learns_a_pattern_and_round_trips_exactly(tmp_path):
    rng = random.Random(7)
    train_refs = [_synthetic_page(rng) for _ in range(24)]
    test_refs = [_synthetic_page(rng) for _ in range(8)]
    model, stats = E.train(_examples(train_refs), epochs=200, seed=0)
    assert stats.units == sum(len(r["lines"]) for r in train_refs) and stats.seconds > 0
    right = total = 0
    zero_right = 0
    for page, truth in _examples(test_refs):
        got = model.labels(page)
        right += sum(a == b for a, b in zip(got, truth))
        zero_right += sum(a == b for a, b in zip(E.rules(page), truth))
        total += len(truth)
    assert right / total >= 0.95
    assert zero_right / total < 0.9                  # the rules alone do not know this pattern

    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "entities.json").read_text())["format"] == "proofdesk-entities"
    back = E.EntityModel.load(tmp_path / "m")        # np.load(allow_pickle=False) inside
    page = _examples(test_refs)[0][0]
    assert np.array_equal(model.probabilities(page), back.probabilities(page))
    assert [(e.label, e.text, e.confidence) for e in E.predict(page, model)] == \
        [(e.label, e.text, e.confidence) for e in E.predict(page, back)]

    # the same data and seed give the same weights
    again, _ = E.train(_examples(train_refs), epochs=200, seed=0)
    assert np.array_equal(again.w1, model.w1) and np.array_equal(again.w2, model.w2)


def test_learned_links_round_trip_and_a_bad_model_folder_is_refused(tmp_path):
    rng = random.Random(3)
    refs = [_synthetic_page(rng) for _ in range(6)]
    ex = []
    for r in refs:
        page = E.reference_units(r)
        labels, ids = E.unit_truth(page, r, given=True)
        ex.append((page, labels, ids))
    # one wrapped answer per page, so that links of both kinds exist
    wrapped = _ref([(300, 100, "Spray tobacco with", "answer"), (300, 121, "solution of alcohol", "answer"),
                    (300, 200, "Alpha 1", "answer"), (300, 221, "Bravo 2", "answer")])
    wrapped["lines"][1]["entity_id"] = 0
    page = E.reference_units(wrapped)
    labels, ids = E.unit_truth(page, wrapped, given=True)
    ex.append((page, labels, ids))
    model, stats = E.train(ex, epochs=100)
    assert model.has_link and stats.links >= 2
    model.save(tmp_path / "m")
    back = E.EntityModel.load(tmp_path / "m")
    assert back.has_link and np.array_equal(back.link["link_w"], model.link["link_w"])
    meta = json.loads((tmp_path / "m" / "entities.json").read_text())
    meta["features"] = meta["features"][:-1]
    (tmp_path / "m" / "entities.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError):
        E.EntityModel.load(tmp_path / "m")
    with pytest.raises(ValueError):
        E.EntityModel.load(tmp_path / "nothing")


# -- scoring ------------------------------------------------------------------------------------

def test_scoring_counts_labels_texts_and_duplicates_once():
    ref = [("question", "Date:"), ("answer", "12/3/88"), ("question", "Brand:"), ("question", "Brand:"),
           ("header", "FRONT CIGARETTES"), ("other", "ATX 0062194")]
    pred = [("question", "date:"),               # case-insensitive: right
            ("answer", "12/3/88 "),               # whitespace squeezed: right
            ("question", "Brand:"), ("question", "Brand:"), ("question", "Brand:"),  # 2 right, 1 extra
            ("answer", "FRONT CIGARETTES"),       # right text, wrong label: not a match
            ("header", "FRONT CIGARETTE"),        # right label, wrong text: not a match
            ("other", "ATX 0062194")]
    sc = E.EntityScore()
    sc.add_page(pred, ref, ["question", "answer"], ["question", "question"])
    s = sc.summary()
    q, a, h, o = (s["per_label"][k] for k in ("question", "answer", "header", "other"))
    assert (q["right"], q["predicted"], q["reference"]) == (3, 4, 3)
    assert (a["right"], a["predicted"], a["reference"]) == (1, 2, 1)
    assert (h["right"], h["predicted"], h["reference"]) == (0, 1, 1)
    assert (o["right"], o["predicted"], o["reference"]) == (1, 1, 1)
    # overall: header, question, answer only (micro)
    assert (s["overall"]["right"], s["overall"]["predicted"], s["overall"]["reference"]) == (4, 7, 5)
    assert s["overall"]["f1"] == pytest.approx(2 * 4 / (7 + 5))
    assert s["unit_accuracy"] == 0.5


def test_reference_entities_skip_empty_texts_and_ceiling_counts_blocks():
    ref = _ref([(60, 100, "Spray tobacco with", "answer"), (60, 121, "solution of alcohol", "answer"),
                (400, 100, "Brand:", "question")])
    ref["entities"][0]["text"] = "Spray tobacco with solution of alcohol"
    ref["entities"][1]["text"] = "   "
    ents = E.reference_entities(ref)
    assert ents == [("answer", "Spray tobacco with solution of alcohol"), ("question", "Brand:")]
    page = E.reference_units(ref)
    assert E.reachable(page, ents) == 2             # the answer is a block of two lines


def test_cross_validation_is_deterministic_and_scores_every_page():
    rng = random.Random(11)
    refs = [_synthetic_page(rng) for _ in range(10)]
    a = E.cross_validate(refs, k=5, seed=0, epochs=60)
    b = E.cross_validate(refs, k=5, seed=0, epochs=60)
    assert a["learned"] == b["learned"] and a["zero_shot"] == b["zero_shot"]
    assert a["learned"]["units"] == sum(len(r["lines"]) for r in refs)
    assert a["learned"]["overall"]["reference"] == sum(1 for r in refs for e in r["entities"]
                                                       if e["label"] != "other")
    assert a["learned"]["overall"]["f1"] > a["zero_shot"]["overall"]["f1"]
    with pytest.raises(ValueError):
        E.cross_validate(refs, k=11)
