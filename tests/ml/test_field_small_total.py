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
    s = scored_fields(probe, ["total"])[0]
    probs, _ = model.probabilities(s)
    adjustment = next(i for i, c in enumerate(s.cands) if c.text == "0.00")
    assert probs[adjustment] > 0.5        # the network alone is sure of the adjustment
    # a page whose amounts are all small keeps them: its total may be one
    tiny = _page([(60, 40, "SHOP"), (60, 600, "TOTAL"), (420, 600, "0.05")])
    assert extract(tiny, ["total"], model)[0].text == "0.05"
