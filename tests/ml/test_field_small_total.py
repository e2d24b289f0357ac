"""A total is not a rounding adjustment's size: an amount under 0.10 is never read as a page's total
while the page has a larger amount (a network that learned "ROUNDING RM 52.10" as a total would
otherwise read "ROUNDING ADJ RM 0.00")."""

from __future__ import annotations

import random

from ml.fields import extract, lines_from, page_of
from ml.fields.extract import scored_fields
from ml.fields.model import Example, train


def _page(rows, width=600, height=1000):
    lines = lines_from((((x, y), (x + 9 * len(t), y), (x + 9 * len(t), y + 20), (x, y + 20)), t) for x, y, t in rows)
    return page_of(lines, width, height)


def _receipt(rnd, total_cents, adj_cents, final_label):
    sub = (total_cents - adj_cents) / 100
    return _page([(60, 40, "KEDAI RUNCIT MAJU"), (60, 300, "ITEM A"), (420, 300, f"{sub / 2:.2f}"),
                  (60, 340, "ITEM B"), (420, 340, f"{sub / 2:.2f}"),
                  (60, 600, "TOTAL SALES (INCLUSIVE GST) RM"), (420, 600, f"{sub:.2f}"),
                  (60, 640, "ROUNDING ADJUSTMENT RM"), (420, 640, f"{adj_cents / 100:.2f}"),
                  (60, 680, final_label), (420, 680, f"{total_cents / 100:.2f}"),
                  (60, 720, "CASH RM"), (420, 720, f"{(total_cents + 1000 * rnd.randint(1, 5)) / 100:.2f}")])


def test_a_small_amount_beside_a_rounding_label_is_not_the_total():
    rnd = random.Random(3)
    pages = []
    for _ in range(16):   # the family that prints its rounded total as "ROUNDING RM 52.10"
        cents = rnd.randint(500, 9000) // 5 * 5
        pages.append((_receipt(rnd, cents, rnd.choice([1, 2, -1, -2]), "ROUNDING RM"), {"total": f"{cents / 100:.2f}"}))
    model, _ = train([Example(p, f) for p, f in pages], ["total"], epochs=300, calibrate=False)
    probe = _page([(60, 40, "SYARIKAT LAIN"), (60, 300, "ITEM C"), (420, 300, "362.50"),
                   (60, 600, "TOTAL INC. GST"), (420, 600, "362.50"),
                   (60, 640, "ROUNDING RM"), (420, 640, "0.00"),
                   (60, 680, "FINAL TOTAL"), (420, 680, "362.50"),
                   (60, 720, "CASH RM"), (420, 720, "400.00")])
    (learned,) = extract(probe, ["total"], model)
    assert learned.text != "0.00" and float(learned.value) > 300    # before: "0.00", beside "ROUNDING RM"
    assert extract(probe, ["total"])[0].text == "362.50"          # the rules'
    probs, _ = model.probabilities(__import__("ml.fields.extract", fromlist=["x"]).scored_fields(probe, ["total"])[0])
    assert max(probs) > 0.5   # the network alone would be sure of the adjustment: the test can fail
    # a page whose amounts are all small keeps them: its total may be one
    tiny = _page([(60, 40, "SHOP"), (60, 600, "TOTAL"), (420, 600, "0.05")])
    assert extract(tiny, ["total"], model)[0].text == "0.05"


def test_the_rounding_adjustments_a_page_prints_are_read_with_their_sign():
    from ml.fields.candidates import adjustment_amounts
    page = _page([(60, 600, "ROUNDING ADJUSTMENT RM"), (420, 600, "-.01"), (60, 640, "ROUNDING RM"), (420, 640, "45.35"),
                  (60, 700, "ROUNDING ADJ -RM 0.02"), (60, 760, "ROUNDING :"), (420, 760, "0.00"), (60, 800, "CASH -0.05")])
    assert sorted(adjustment_amounts(page)) == [-0.02, -0.01]
    assert adjustment_amounts(_page([(60, 600, "TOTAL"), (420, 600, "-0.02")])) == []


def test_the_total_is_the_one_after_its_rounding_adjustment():
    """'TOTAL RM INCL. OF GST 31.47', 'ROUNDING ADJ -0.02', 'TOTAL RM 31.45': what was paid is 31.45,
    even for a network that learned 'TOTAL RM INCL. OF GST' as the total's label on pages without one."""
    rnd = random.Random(5)
    pages = []
    for _ in range(16):
        c = rnd.randint(500, 9000)
        sub = c + rnd.randint(100, 900)
        pages.append((_page([(60, 40, "KEDAI BUKU"), (60, 300, "ITEM"), (420, 300, f"{sub / 100:.2f}"),
                             (60, 340, "DISCOUNT"), (420, 340, f"-{(sub - c) / 100:.2f}"),
                             (60, 420, "TOTAL RM INCL. OF GST"), (420, 420, f"{c / 100:.2f}"),
                             (60, 460, "CASH"), (420, 460, f"{(c // 1000 + 1) * 10:.2f}")]), {"total": f"{c / 100:.2f}"}))
    model, _ = train([Example(p, f) for p, f in pages], ["total"], epochs=300, calibrate=False)
    page = _page([(60, 40, "KEDAI BUKU"), (60, 300, "70G P.COPY"), (420, 300, "41.07"), (60, 340, "STAT-GREAT SAVING"),
                  (420, 340, "-9.60"), (60, 420, "TOTAL RM INCL. OF GST"), (420, 420, "31.47"),
                  (60, 460, "ROUNDING ADJ"), (420, 460, "-0.02"), (60, 500, "TOTAL RM"), (420, 500, "31.45"),
                  (60, 540, "CASH"), (420, 540, "-50.00")])
    s = scored_fields(page, ["total"])[0]
    probs, _ = model.probabilities(s)
    assert s.cands[int(probs.argmax())].text == "31.47"      # the network's own first choice
    (got,) = extract(page, ["total"], model)
    assert got.text == "31.45" and got.value == "31.45"
    assert extract(page, ["total"])[0].text == "31.45"      # the rules'
    # without an adjustment printed, nothing moves
    plain = _page([(60, 420, "TOTAL RM INCL. OF GST"), (420, 420, "31.47"), (60, 500, "TOTAL RM"), (420, 500, "31.45")])
    assert extract(plain, ["total"], model)[0].text == "31.47"
