"""core.scoring on hand-made cases: every figure of the harness is checked against a count done by hand.

The definitions are those of shared/datasets/README.md: CER = sum of edit distances / sum of
reference characters; lines matched 1:1 at axis-aligned IoU >= 0.5; typing saved =
1 - (edits on matched lines + chars of unmatched reference lines + 1 per spurious line) / ref chars.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.scoring import (
    CASE_INSENSITIVE,
    CASE_SENSITIVE,
    NO_SPACE,
    PageScore,
    TextScore,
    aggregate,
    cer_counts,
    fields_found,
    iou,
    iou_matrix,
    levenshtein,
    match_lines,
    normalize,
    per_field_rates,
    ratio,
    score_page,
    score_text,
    to_xyxy,
)

# ----------------------------------------------------------------------------- edit distance


@pytest.mark.parametrize(
    "a, b, d",
    [
        ("", "", 0),
        ("abc", "abc", 0),
        ("", "abc", 3),  # three insertions
        ("abc", "", 3),  # three deletions
        ("kitten", "sitting", 3),  # k->s, e->i, +g
        ("flaw", "lawn", 2),  # -f, +n
        ("TOTAL", "T0TAL", 1),  # one substitution
        ("RM 1.25", "RM1.25", 1),  # one deleted space
        ("abcdef", "badcfe", 4),  # no transposition op: b+a+d+c+f+e via shifts costs 4
        ("intention", "execution", 5),
    ],
)
def test_levenshtein_known_distances(a, b, d):
    assert levenshtein(a, b) == d
    assert levenshtein(b, a) == d


def _lev_reference(a: str, b: str) -> int:
    """Textbook full-matrix Levenshtein, independent of the implementation under test."""
    m = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        m[i][0] = i
    for j in range(len(b) + 1):
        m[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            m[i][j] = min(m[i - 1][j] + 1, m[i][j - 1] + 1, m[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return m[-1][-1]


@given(st.text(alphabet="ab c1", max_size=12), st.text(alphabet="ab c1", max_size=12))
def test_levenshtein_matches_the_textbook_definition(a, b):
    d = levenshtein(a, b)
    assert d == _lev_reference(a, b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


# ----------------------------------------------------------------------------- CER modes


def test_normalize_modes():
    assert normalize("Rm 1.25", CASE_SENSITIVE) == "Rm 1.25"
    assert normalize("Rm 1.25", CASE_INSENSITIVE) == "RM 1.25"
    assert normalize(" Rm\t1.25 \n", NO_SPACE) == "RM1.25"
    with pytest.raises(ValueError):
        normalize("x", "nope")


def test_cer_counts_per_mode():
    pairs = [("TOTAL RM 12.50", "Total RM12.50"), ("ABC", "ABC")]
    # cs: "TOTAL" vs "Total" = 4 substitutions, plus one deleted space = 5; ref chars 14 + 3
    assert cer_counts(pairs, CASE_SENSITIVE) == (5, 17)
    # ci: only the space is left
    assert cer_counts(pairs, CASE_INSENSITIVE) == (1, 17)
    # no-space: nothing left, and the reference is counted without its spaces (12 + 3)
    assert cer_counts(pairs, NO_SPACE) == (0, 15)


def test_cer_is_a_micro_average_not_a_mean_of_lines():
    # One short line entirely wrong (1 edit / 1 char) and one long line right (0 / 9):
    # micro CER = 1/10, whereas the mean of line CERs would be 0.5.
    s = score_text([("A", "B"), ("123456789", "123456789")])
    assert s.summary()["cer_cs"] == pytest.approx(0.1)


def test_score_text_counts_exact_lines_and_all_modes():
    s = score_text([("HELLO WORLD", "Hello World"), ("RM 5", "RM5"), ("X", "X"), ("AB", "")])
    assert s.lines == 4
    assert s.exact_cs == 1  # only "X"
    assert s.exact_ci == 2  # "X" and HELLO WORLD
    assert (s.edits_cs, s.chars_cs) == (8 + 1 + 0 + 2, 11 + 4 + 1 + 2)
    assert (s.edits_ci, s.chars_ci) == (0 + 1 + 0 + 2, 18)
    assert (s.edits_nospace, s.chars_nospace) == (0 + 0 + 0 + 2, 10 + 3 + 1 + 2)
    summ = s.summary()
    assert summ["cer_ci"] == pytest.approx(3 / 18)
    assert summ["exact_ci"] == pytest.approx(0.5)
    # Adding two scores adds the counts.
    assert (s + s).edits_cs == 2 * s.edits_cs and (s + TextScore()).lines == 4


def test_empty_text_score_is_undefined_not_zero():
    summ = TextScore().summary()
    assert summ["cer_cs"] is None and summ["exact_cs"] is None
    assert ratio(0, 0) is None and ratio(1, 4) == 0.25


# ----------------------------------------------------------------------------- boxes


def test_to_xyxy_accepts_every_box_format():
    assert to_xyxy([10, 20, 30, 40]) == (10, 20, 30, 40)
    assert to_xyxy([30, 40, 10, 20]) == (10, 20, 30, 40)  # corners given the other way round
    quad8 = [10, 20, 30, 20, 30, 40, 10, 40]
    assert to_xyxy(quad8) == (10, 20, 30, 40)
    assert to_xyxy([[10, 20], [30, 20], [30, 40], [10, 40]]) == (10, 20, 30, 40)
    # A rotated quadrilateral: its axis-aligned hull.
    assert to_xyxy([12, 18, 32, 22, 28, 42, 8, 38]) == (8, 18, 32, 42)
    with pytest.raises(ValueError):
        to_xyxy([1, 2])


def test_iou_identical_disjoint_touching_contained_and_partial():
    a = (0, 0, 10, 10)
    assert iou(a, a) == 1.0
    assert iou(a, (20, 20, 30, 30)) == 0.0  # disjoint
    assert iou(a, (10, 0, 20, 10)) == 0.0  # sharing an edge only
    assert iou(a, (10, 10, 20, 20)) == 0.0  # sharing a corner only
    assert iou(a, (2, 2, 7, 7)) == pytest.approx(25 / 100)  # contained
    assert iou(a, (5, 0, 15, 10)) == pytest.approx(50 / 150)  # half overlap: 50 / (100 + 100 - 50)
    assert iou(a, (0, 0, 10, 10.0)) == iou((0, 0, 10, 10.0), a)


def test_iou_zero_area_boxes_give_zero_not_nan():
    assert iou((5, 5, 5, 5), (5, 5, 5, 5)) == 0.0  # two points: union 0
    assert iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0  # two identical vertical segments
    assert iou((5, 0, 5, 10), (0, 0, 10, 10)) == 0.0  # a segment inside a box
    m = iou_matrix([(5, 5, 5, 5), (0, 0, 10, 10)], [(5, 5, 5, 5), (0, 0, 10, 10)])
    assert m.tolist() == [[0.0, 0.0], [0.0, 1.0]]


def test_iou_matrix_matches_pairwise_iou_and_handles_empty_sides():
    pred = [(0, 0, 10, 10), (5, 0, 15, 10), [100, 100, 110, 100, 110, 110, 100, 110]]
    ref = [(0, 0, 10, 10), (50, 50, 60, 60)]
    m = iou_matrix(pred, ref)
    assert m.shape == (3, 2)
    for i, p in enumerate(pred):
        for j, r in enumerate(ref):
            assert m[i, j] == pytest.approx(iou(p, r))
    assert iou_matrix([], ref).shape == (0, 2)
    assert iou_matrix(pred, []).shape == (3, 0)


# ----------------------------------------------------------------------------- 1:1 matching


def test_match_lines_is_one_to_one_and_best_first():
    ref = [(0, 0, 100, 10)]
    # Both predictions overlap the one reference line at IoU >= 0.5; only the better one matches.
    pred = [(0, 0, 60, 10), (0, 0, 95, 10)]
    assert match_lines(pred, ref) == [(1, 0, pytest.approx(0.95))]
    # One prediction over two reference lines matches at most one of them.
    ref2 = [(0, 0, 100, 10), (0, 0, 90, 10)]
    got = match_lines([(0, 0, 100, 10)], ref2)
    assert [(p, r) for p, r, _ in got] == [(0, 0)]


def test_match_lines_threshold_is_inclusive_and_respected():
    ref = [(0, 0, 100, 10)]
    half = [(0, 0, 50, 10)]  # IoU exactly 0.5
    assert [(p, r) for p, r, _ in match_lines(half, ref)] == [(0, 0)]
    assert match_lines([(0, 0, 49, 10)], ref) == []  # IoU 0.49
    assert match_lines(half, ref, threshold=0.6) == []


def test_match_lines_ties_prefer_lower_indices_and_empty_inputs():
    ref = [(0, 0, 10, 10), (0, 0, 10, 10)]
    pred = [(0, 0, 10, 10), (0, 0, 10, 10)]
    assert [(p, r) for p, r, _ in match_lines(pred, ref)] == [(0, 0), (1, 1)]
    assert match_lines([], ref) == [] and match_lines(pred, []) == [] and match_lines([], []) == []


# ----------------------------------------------------------------------------- pages


def _box(x0, y0, x1, y1):
    """A reference-format 8-number box."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_score_page_typing_saved_exactly_as_the_readme_defines_it():
    ref = [
        (_box(0, 0, 100, 20), "TOTAL 12.50"),  # 11 chars, read with 2 edits ("T0TAL 12.5")
        (_box(0, 30, 100, 50), "THANK YOU"),  # 9 chars, read exactly
        (_box(0, 60, 100, 80), "CASH"),  # 4 chars, missed (no prediction overlaps it)
    ]
    pred = [
        (_box(1, 1, 99, 19), "T0TAL 12.5"),
        ([[0, 30], [100, 30], [100, 50], [0, 50]], "Thank you"),  # points format; 7 case edits
        (_box(200, 0, 300, 20), "NOISE"),  # spurious: costs 1, however long
        (_box(0, 60, 30, 80), "CA"),  # IoU 0.3 with CASH: not matched, so spurious too
    ]
    s = score_page(pred, ref)
    assert (s.ref_lines, s.pred_lines, s.matched, s.spurious) == (3, 4, 2, 2)
    assert s.ref_chars_cs == s.ref_chars_ci == 24
    assert s.matched_edits_ci == 2 and s.matched_edits_cs == 2 + 7
    assert s.unmatched_ref_chars_cs == 4
    summ = s.summary()
    assert summ["recall"] == pytest.approx(2 / 3)
    assert summ["precision"] == pytest.approx(2 / 4)
    assert summ["matched_cer_ci"] == pytest.approx(2 / 20)
    assert summ["matched_cer_cs"] == pytest.approx(9 / 20)
    # 1 - (2 edits + 4 unmatched chars + 2 spurious) / 24
    assert summ["typing_saved_ci"] == pytest.approx(1 - 8 / 24)
    assert summ["typing_saved_cs"] == pytest.approx(1 - 15 / 24)


def test_typing_saved_can_go_negative_with_many_spurious_lines():
    ref = [(_box(0, 0, 10, 10), "AB")]
    pred = [(_box(100 + 20 * i, 0, 110 + 20 * i, 10), "X") for i in range(5)]
    summ = score_page(pred, ref).summary()
    assert summ["typing_saved_ci"] == pytest.approx(1 - (2 + 5) / 2)
    assert summ["recall"] == 0.0 and summ["precision"] == 0.0


def test_a_perfect_page_saves_all_typing():
    ref = [(_box(0, 0, 100, 20), "A B"), (_box(0, 30, 100, 50), "C")]
    summ = score_page(ref, ref).summary()
    assert summ["recall"] == summ["precision"] == 1.0
    assert summ["typing_saved_cs"] == summ["typing_saved_ci"] == 1.0
    assert summ["matched_cer_cs"] == 0.0


def test_empty_page_is_undefined_everywhere_and_adds_nothing():
    s = score_page([], [])
    summ = s.summary()
    for key in ("recall", "precision", "matched_cer_cs", "typing_saved_cs", "typing_saved_ci", "key_fields"):
        assert summ[key] is None, key
    assert aggregate([s]) == PageScore()


def test_page_without_reference_lines_counts_its_predictions_as_spurious():
    pred = [(_box(0, 0, 10, 10), "STRAY"), (_box(0, 20, 10, 30), "MARK")]
    blank = score_page(pred, [])
    summ = blank.summary()
    assert blank.spurious == 2 and summ["precision"] == 0.0
    assert summ["recall"] is None and summ["typing_saved_ci"] is None  # nothing to type: undefined
    # Aggregated with a real page, the spurious lines cost keystrokes there.
    real = score_page([(_box(0, 0, 10, 10), "ABCD")], [(_box(0, 0, 10, 10), "ABCD")])
    total = aggregate([real, blank])
    assert total.summary()["typing_saved_ci"] == pytest.approx(1 - 2 / 4)
    assert total.summary()["recall"] == 1.0 and total.summary()["precision"] == pytest.approx(1 / 3)


def test_page_with_reference_lines_but_no_prediction_saves_nothing():
    ref = [(_box(0, 0, 10, 10), "ABC"), (_box(0, 20, 10, 30), "DE")]
    summ = score_page([], ref).summary()
    assert summ["recall"] == 0.0 and summ["precision"] is None
    assert summ["typing_saved_cs"] == 0.0
    assert summ["matched_cer_cs"] is None


def test_aggregate_sums_counts_it_does_not_average_pages():
    # Page 1: 10 chars, all saved. Page 2: 2 chars, all missed. Mean of pages = 0.5; sum = 10/12.
    p1 = score_page([(_box(0, 0, 10, 10), "ABCDEFGHIJ")], [(_box(0, 0, 10, 10), "ABCDEFGHIJ")])
    p2 = score_page([], [(_box(0, 0, 10, 10), "XY")])
    total = aggregate([p1, p2])
    assert total.ref_lines == 2 and total.matched == 1
    assert total.summary()["typing_saved_ci"] == pytest.approx(10 / 12)
    assert total.summary()["recall"] == 0.5


# ----------------------------------------------------------------------------- key fields


def test_fields_found_across_lines_and_spacing():
    fields = {
        "company": "99 SPEED MART S/B",
        "address": "LOT P.T. 2811, JALAN ANGSANA",  # spans two predicted lines
        "total": "12.50",
        "date": "",  # empty: not counted
    }
    texts = ["99 Speed Mart S/B", "LOT P.T. 2811,", "JALAN ANGSANA", "TOTAL 12.60"]
    assert fields_found(fields, texts) == (2, 3)
    assert fields_found(fields, []) == (0, 3)
    assert fields_found({}, texts) == (0, 0)
    s = score_page([(_box(0, 0, 1, 1), t) for t in texts], [], fields)
    assert (s.fields_found, s.fields_total) == (2, 3)


def test_per_field_rates_share_of_pages():
    pages = [
        ({"total": "1.00", "date": "01/01/2019"}, ["TOTAL 1.00", "01/01/2019"]),
        ({"total": "2.00", "date": ""}, ["TOTAL 3.00"]),
        ({"total": "3.00"}, ["3.00"]),
    ]
    rates = per_field_rates(pages)
    assert rates == {"total": pytest.approx(2 / 3), "date": 1.0}
