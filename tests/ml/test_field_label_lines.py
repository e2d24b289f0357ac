"""A line that is only a label ("Votre référence", "Customer VAT Number", "Ihr Zeichen") is never the
value of a name or address field, nor is a block of lines holding one: a network that learned
where a buyer's name sits read the header labels printed there on another layout as the buyer
(fnfe-facture-dom: "Votre référence Réf. marché N° TVA client")."""

from __future__ import annotations

import numpy as np

from ml.fields import extract, lines_from, page_of
from ml.fields.candidates import BASE_NAMES, _label_only
from ml.fields.extract import scored_fields

LABEL = BASE_NAMES.index("label_only")


def _page(rows, width=800, height=1100):
    lines = lines_from((((x, y), (x + 9 * len(t), y), (x + 9 * len(t), y + 20), (x, y + 20)), t) for x, y, t in rows)
    return page_of(lines, width, height)


def test_header_labels_are_labels_and_names_are_not():
    for t in ("Votre référence", "Réf. marché", "N° TVA client", "Your Reference", "Agreement Ref.", "Sales Contact",
              "Payment Terms", "Customer VAT Number", "Ihr Zeichen", "Zahlungsbedingungen", "Date d'échéance",
              "Invoice Date", "Kundennummer"):
        assert _label_only(t), t
    for t in ("Hôtel Saint Denis", "Au bon moulin SARL", "Max Mustermann", "Adatum Corporation", "Me gusta olive",
              "Verkehrsbetriebe GmbH", "GARDENIA BAKERIES (KL) SDN BHD", "NO 8, JALAN 7/118B, DESA TUN RAZAK"):
        assert not _label_only(t), t


def test_a_block_that_holds_a_label_line_is_marked_whichever_line_it_is():
    page = _page([(60, 100, "Me gusta olive"), (60, 125, "Your Reference"), (60, 150, "Agreement Ref.")])
    (s,) = scored_fields(page, ["buyer"])
    by_text = {c.text: s.X[i, LABEL] for i, c in enumerate(s.cands)}
    assert by_text["Me gusta olive"] == 0.0
    blocks = [t for t in by_text if "\n" in t or " Your Reference" in t]
    assert blocks and all(by_text[t] == 1.0 for t in blocks)


class _Sure:
    """A field model sure of the candidate a test names (what a network that learned a layout does)."""

    meta: dict = {}

    def __init__(self, wanted: str, second: str = ""):
        self.wanted, self.second = wanted, second

    def knows(self, name):
        return True

    def probabilities(self, s):
        p = np.array([0.9 if c.text == self.wanted else 0.3 if c.text == self.second else 0.01 for c in s.cands])
        return p / (p.sum() + 0.05), 0.05 / (p.sum() + 0.05)

    def calibrated(self, name, p, absent):
        return p

    def remembered(self, name, text):
        return None

    def usual(self, name):
        return None


def test_a_label_line_is_not_read_as_a_name_however_sure_the_model_is():
    probe = _page([(60, 60, "Facture FA-2017-0009"), (60, 200, "Votre référence"), (60, 225, "Réf. marché"),
                   (60, 320, "Hôtel Saint Denis"), (60, 345, "42 rue du stade"), (500, 400, "Date de facture"),
                   (620, 400, "05/11/2017"), (60, 700, "Total TTC"), (620, 700, "473,00")])
    (s,) = scored_fields(probe, ["buyer"])
    texts = [c.text for c in s.cands]
    assert "Votre référence" in texts
    (got,) = extract(probe, ["buyer"], _Sure("Votre référence", "Hôtel Saint Denis"))
    assert got.text == "Hôtel Saint Denis"       # the next likeliest that is not a label
    assert "référence" not in (extract(probe, ["buyer"])[0].text or "")     # the rules' reading
    # the mask is for names and addresses: a field of another kind reads what its model says
    (num,) = extract(probe, ["invoice_number"], _Sure("FA-2017-0009"))
    assert num.text == "FA-2017-0009"
    # a page whose every candidate is a label keeps them (nothing else to read)
    only = _page([(60, 200, "Votre référence")])
    (got,) = extract(only, ["buyer"], _Sure("Votre référence"))
    assert got.text == "Votre référence"
