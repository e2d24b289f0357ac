"""The field features' fast look-ups give what their plain definitions give.

Each shortcut (keyword regexes as a tree of letters, one regex for any field's keyword, a block's
statistics from its lines', every line's neighbours at once) is checked against the slow, obvious
way of computing the same thing, on texts and layouts built to hit its edges.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from core.fields import PRESETS
from ml.fields import candidates as C
from ml.fields import lexicon as L
from ml.fields.lines import FLine, Page

TEXTS = [
    "Rechnungsnummer: 4711", "RECHNUNG NR. 12", "Rechnungsdatum 05.03.2018", "Datum:", "Invoice date",
    "Invoice", "Invoice Number INV-1", "Date d'échéance : 30/04/2024", "Date d'échéance de paiement",
    "Net à payer 120,00 €", "Total TTC", "Gesamtbetrag brutto", "Zwischensumme netto", "Sub Total 4.20",
    "TOTAL ROUNDED", "Lieferant GmbH", "Bill to:", "Austria", "Rechnungsempfänger", "le 12 mars",
    "Kunden-Nr.", "n° de facture", "N° FACTURE 2024-1", "ust", "USt-IdNr. DE123", "Summe USt 19%",
    "total:", "Totaal excl. btw", "fällig am 12.04.", "Zahlbar bis 01.05.2024 ohne Abzug", "", " ",
    "Rechnung # 88", "Steuer", "Mehrwertsteuerbetrag", "Tax Invoice", "CASH BILL", "Sdn Bhd", "SDN. BHD.",
    "Thank you", "credit", "note", "Jalan Ampang", "No. 5, Lot 276", "Taman Sri", "straße", "STR. 12",
]


def _longest_first(words: tuple[str, ...]) -> re.Pattern:
    """The plain pattern: one alternative per word, longest first, word ends where a word has one."""
    alts = []
    for w in sorted(words, key=len, reverse=True):
        lead = r"(?<![^\W\d_])" if w[0].isalnum() else ""
        tail = r"(?![^\W\d_])" if w.rstrip()[-1].isalnum() else ""
        alts.append(lead + re.escape(w.strip()) + tail)
    return re.compile("|".join(alts), re.IGNORECASE)


def _texts() -> list[str]:
    rng = random.Random(7)
    out = list(TEXTS)
    words = [w for ws in L.KEYWORDS.values() for w in ws] + list(C._LEGAL) + list(C._TITLE)
    for _ in range(400):   # keywords glued to each other, cut, upper-cased, inside longer words
        parts = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        glue = rng.choice([" ", "", ": ", "-", "  "])
        t = glue.join(parts)
        t = t.upper() if rng.random() < 0.3 else t
        if rng.random() < 0.3:
            t = t[rng.randint(0, max(0, len(t) - 1)):]
        out.append("x" + t if rng.random() < 0.1 else t)
    return out


@pytest.mark.parametrize("name", sorted(L.KEYWORDS))
def test_a_fields_keyword_regex_finds_what_one_alternative_per_word_finds(name):
    words = L.keywords(name)
    fast, plain = L._pattern(words), _longest_first(words)
    for t in _texts():
        assert [m.span() for m in fast.finditer(t)] == [m.span() for m in plain.finditer(t)], (name, t)


@pytest.mark.parametrize("role", sorted(L.NOT_FIELD))
def test_stems_of_other_labels_match_as_one_alternative_per_stem_does(role):
    words = L.NOT_FIELD[role]
    plain = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    texts = _texts() + [w.upper() + "x" for w in words] + [" ".join(words)]
    for t in texts:
        assert [m.span() for m in L._stems(words).finditer(t)] == [m.span() for m in plain.finditer(t)], (role, t)


def test_word_lists_that_start_with_a_sign_keep_their_own_alternatives():
    words = ("n°", "#", "nr.", "(total)")
    assert [m.group(0) for m in L._pattern(words).finditer("Nr. 5 # 6 n° 7 (TOTAL)")] == ["Nr.", "#", "n°", "(TOTAL)"]


def test_a_word_list_with_words_that_start_with_a_space_is_found_where_it_was():
    words = tuple(L.NOT_TOTAL)     # " ht" among words that start with a letter
    assert any(not w[0].isalnum() for w in words)
    plain = _longest_first(words)
    for t in _texts() + ["Total HT", "Nacht", "Zwischensumme", "sub total 5", "SUBTOTAL"]:
        assert L.has_any(words, t) == bool(plain.search(t)), t


def test_any_keyword_is_whether_some_field_has_a_keyword_there():
    for preset in PRESETS.values():
        names = tuple(sorted(preset))
        for t in _texts():
            assert L.any_keyword(names, t) == any(L.keyword_length(n, t) > 0 for n in names), (names, t)


def test_a_blocks_statistics_are_those_of_its_text():
    rng = random.Random(3)
    lines = TEXTS + ["SDN", "BHD", "TAX", "INVOICE", "CREDIT", "NOTE", "THANK", "YOU", "Sdn.", "Bhd 12"]
    for _ in range(600):
        texts = [rng.choice(lines) or "x" for _ in range(rng.randint(2, 4))]
        t = " ".join(texts)
        if rng.random() < 0.3:   # the first line without its label, as generate cuts "HQ ADD: LOT 5"
            t = t[rng.randint(0, len(texts[0])):].lstrip() or t
        C._text_stats.cache_clear()
        assert C._block_stats(t, texts) == C._text_stats(t), (t, texts)
        assert C._block_buckets(t, texts) == C._buckets(t), (t, texts)


def test_a_keyword_across_two_lines_of_a_block_is_found():
    fields = tuple(sorted(PRESETS["invoice"]))
    # "sold to" (the buyer's label) over two lines, neither of which holds a keyword of its own
    assert not L.any_keyword(fields, "Goods sold") and not L.any_keyword(fields, "to Muster GmbH")
    assert C._block_keyword(fields, "Goods sold to Muster GmbH", ["Goods sold", "to Muster GmbH"])
    assert C._block_keyword(fields, "sold to Muster GmbH", ["Ship: Goods sold", "to Muster GmbH"])
    assert not C._block_keyword(fields, "Muster AG Hauptstr. 5 10115 Berlin", ["Muster AG", "Hauptstr. 5", "10115 Berlin"])
    rng = random.Random(5)
    for _ in range(300):
        texts = [rng.choice(TEXTS) or "x" for _ in range(rng.randint(2, 3))]
        t = " ".join(texts)
        if L.any_keyword(fields, t):
            assert C._block_keyword(fields, t, texts), t


# -- every line's neighbours at once, against one line at a time ------------------------------------

def _one_at_a_time(page: Page):
    b = np.array([(ln.x0, ln.y0, ln.x1, ln.y1) for ln in page.lines], np.float64).reshape(-1, 4)
    h = np.maximum(1.0, b[:, 3] - b[:, 1])

    def pick(ok, gap, k):
        ok[k] = False
        return int(np.flatnonzero(ok)[np.argmin(gap[ok])]) if ok.any() else None

    above, left, below, aligned, right = [], [], [], [], []
    for k in range(len(b)):
        x0, y0, x1, y1 = b[k]
        hk = h[k]
        gap = y0 - b[:, 3]
        above.append(pick((b[:, 3] <= y0 + 0.3 * hk) & (np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0) > -0.5 * hk)
                          & (gap + 0.3 * hk >= 0) & (gap < 3.5 * hk), gap, k))
        overlap = np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)
        gap = x0 - b[:, 2]
        left.append(pick((b[:, 2] <= x0 + 0.5 * hk) & (overlap > 0.5 * np.minimum(h, hk)) & (gap < 40.0 * hk), gap, k))
        g = b[:, 1] - y1
        under = (b[:, 1] + b[:, 3]) / 2 > (y0 + y1) / 2 + 0.4 * hk
        below.append(pick(under & (g < 1.6 * hk) & (np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0) > 0), g, k))
        aligned.append(pick(under & (g < 3.5 * hk) & (np.abs(b[:, 0] - x0) <= hk), g, k))
        ok = (b[:, 0] >= x1 - 0.5 * hk) & (overlap > 0.5 * np.minimum(h, hk))
        ok[k] = False
        right.append(bool(ok.any()))
    return above, left, below, aligned, right


@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_every_lines_neighbours_at_once_are_those_found_one_line_at_a_time(n):
    rng = random.Random(n)
    boxes, y = [], 40.0
    for _ in range(n):   # columns with jittered edges, rows at any spacing, some lines level, some tiny
        y += rng.choice([0.0, rng.uniform(0, 40)])
        x0 = rng.choice([50, 300, 600]) + rng.uniform(0, 30)
        boxes.append((x0, y, x0 + rng.uniform(10, 400), y + rng.choice([0.5, rng.uniform(5, 30)])))
    page = Page([FLine(f"line {i}", *bx, i) for i, bx in enumerate(boxes)], 1200, 4000)
    above, left, below, aligned, right = _one_at_a_time(page)
    pos = {id(ln): k for k, ln in enumerate(page.lines)}
    assert [None if page.above(k) is None else pos[id(page.above(k))] for k in range(n)] == above
    assert [None if page.left(k) is None else pos[id(page.left(k))] for k in range(n)] == left
    assert [page.next_below(k) for k in range(n)] == below
    assert [page.next_aligned(k) for k in range(n)] == aligned
    assert C._amount_right(page, [True] * n) == right
    if n > 100:   # the layout has neighbours to find, of every kind
        assert all(any(x is not None for x in found) for found in (above, left, below, aligned)) and any(right)
