"""Edit distance: rapidfuzz's Levenshtein on NFC-normalised text.

An accent typed as two code points ('e' + U+0301) is the same text as the precomposed 'é':
zero edits, and one character of reference, whatever the input method produced.
"""

from __future__ import annotations

import time
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from core.model import PredictedRegion, Prediction, Region, box_to_quad
from core.scoring import (
    CASE_INSENSITIVE,
    CASE_SENSITIVE,
    NO_SPACE,
    cer_counts,
    levenshtein,
    normalize,
    score_page,
    score_text,
)
from core.verdicts import CORRECT, compute_verdicts

#: The stored verdicts of such text are the same on a project folder and a team server: the tests
#: that use a project run on both.
BOTH_BACKENDS = True

DECOMPOSED = "Cafe\u0301 cre\u0300me bru\u0302le\u0301e"  # accents as combining marks
COMPOSED = "Café crème brûlée"


def _dp(a: str, b: str) -> int:
    """Reference: the textbook full-matrix Levenshtein DP (insert, delete, substitute: cost 1)."""
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[-1]


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def test_decomposed_accent_is_the_same_text():
    assert DECOMPOSED != COMPOSED and nfc(DECOMPOSED) == COMPOSED
    assert levenshtein("e\u0301", "\u00e9") == 0
    assert levenshtein(DECOMPOSED, COMPOSED) == 0
    assert levenshtein("Cafe\u0301", "Cafe") == 1  # the accent itself is still one edit
    for mode in (CASE_SENSITIVE, CASE_INSENSITIVE, NO_SPACE):
        assert cer_counts([(COMPOSED, DECOMPOSED)], mode)[0] == 0
        # The reference is counted in characters as people read them.
        assert cer_counts([(DECOMPOSED, COMPOSED)], mode) == (0, len(normalize(COMPOSED, mode)))
    s = score_text([(COMPOSED, DECOMPOSED)])
    assert s.summary()["cer_cs"] == 0 and s.exact_cs == 1 and s.exact_ci == 1 and s.chars_cs == len(COMPOSED)
    page = score_page([((0, 0, 10, 10), DECOMPOSED)], [((0, 0, 10, 10), COMPOSED)]).summary()
    assert page["matched_cer_cs"] == 0 and page["typing_saved_cs"] == 1.0


def test_verdict_of_a_decomposed_accent_is_correct():
    q = box_to_quad(0, 0, 100, 20)
    p = Prediction(1, "classical", "v", {}, "h", (PredictedRegion(q, COMPOSED, 0.9),), id=7)
    r = Region(1, q, DECOMPOSED, origin="prediction", prediction_id=7, pred_index=0, id=3)
    [v] = compute_verdicts(p, [r])
    assert (v.kind, v.edit_distance, v.ref_chars) == (CORRECT, 0, len(COMPOSED))


def test_stored_verdict_of_a_decomposed_accent_is_correct(project):
    from core.model import PageStatus
    from tests.core.test_store import add_doc, first_page

    store = project.store
    page_id = first_page(store, add_doc(store))
    q = box_to_quad(0, 0, 100, 20)
    store.add_prediction(Prediction(page_id, "classical", "v", {}, "h", (PredictedRegion(q, COMPOSED, 0.9),)))
    store.update_region("ana", store.regions(page_id)[0].id, text=DECOMPOSED)  # typed with combining marks
    assert store.regions(page_id)[0].text == DECOMPOSED  # stored as typed, on both backends
    store.set_page_status("ana", page_id, PageStatus.DONE)
    [v] = store.query("SELECT kind, edit_distance, ref_chars FROM verdicts WHERE page_id = ?", (page_id,))
    assert (v["kind"], v["edit_distance"], v["ref_chars"]) == (CORRECT, 0, len(COMPOSED))


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_TEXT, _TEXT)
def test_distance_equals_the_reference_dp_on_nfc_text(a, b):
    d = levenshtein(a, b)
    assert d == _dp(nfc(a), nfc(b)) == levenshtein(b, a)
    assert abs(len(nfc(a)) - len(nfc(b))) <= d <= max(len(nfc(a)), len(nfc(b)))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aAbe c1\u00e9\u0301", max_size=60), st.text(alphabet="aAbe c1\u00e9\u0301", max_size=60))
def test_distance_equals_the_reference_dp_on_short_alphabets(a, b):
    # Few letters, so that many pairs are near each other; 'e' + U+0301 composes to 'é'.
    assert levenshtein(a, b) == _dp(nfc(a), nfc(b))


def test_long_lines_are_fast_and_identical_to_rapidfuzz():
    # A 951-character line took 0.84 s in the pure-Python DP; rapidfuzz takes microseconds.
    base = ("TOTAL RM 12.50 CASH 20.00 CHANGE 7.50 " * 30)[:951]
    other = base[::-1][:951]
    edited = base.replace("CASH", "C4SH").replace("7.50", "7,5")
    assert len(base) == 951
    assert levenshtein(base, other) == Levenshtein.distance(base, other)
    assert levenshtein(base, edited) == Levenshtein.distance(base, edited) == 75
    t0 = time.perf_counter()
    for _ in range(1000):
        levenshtein(base, other)
        # The old code needs ~800 s for the loop: fail as soon as it is clearly not rapidfuzz.
        assert time.perf_counter() - t0 < 0.2
