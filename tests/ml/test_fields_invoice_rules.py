"""Zero-shot key fields on European invoices (ml/fields zeroshot + lexicon + candidates): labels
in German, French and English, party headings, total tables, rates and other dates.

Synthetic pages: lines from (x, y, text) rows, 24 px high, 10 px a character, on an A4-like page.
"""

from __future__ import annotations

from core.fields import PRESETS, same
from ml.fields import extract, lines_from, page_of

INVOICE = PRESETS["invoice"]


def _page(rows, width=1650, height=2340):
    lines = lines_from((((x, y), (x + 10 * len(t), y), (x + 10 * len(t), y + 24), (x, y + 24)), t)
                       for x, y, t in rows)
    return page_of(lines, width, height)


def _read(rows, schema=INVOICE):
    return {v.name: (None if v.absent else v.text) for v in extract(_page(rows), schema)}


def _check(got, want):
    for name, ref in want.items():
        assert got[name] is not None and same(name, got[name], ref), (name, got[name], ref)


# A German invoice laid out as label / value tables with a party heading over each block and a
# closing table of figures under column headers (the line table's rows above it).
DE_TABLES = [
    (180, 140, "Handelsrechnung Nr. 471102 vom 05.03.2018"),
    (190, 250, "Währung:"), (720, 250, "EUR"),
    (190, 300, "Liefer- und Leistungsdatum:"), (720, 300, "01.03.2018"),
    (190, 450, "Verkäufer"),
    (190, 500, "Nummer:"), (720, 500, "549910"),
    (190, 550, "Name:"), (720, 550, "Nordlicht Handel GmbH"),
    (190, 600, "Anschrift:"), (720, 600, "Hafenweg 7"), (720, 650, "DE 20095 Hamburg"),
    (190, 940, "Käufer/Leistungsempfänger"),
    (190, 990, "Nummer:"), (720, 990, "GE2020211"),
    (190, 1040, "Name:"), (720, 1040, "Bergblick Hotel AG"),
    (190, 1090, "Anschrift:"), (720, 1090, "Seeufer 15"), (720, 1140, "DE 83700 Rottach"),
    (190, 1300, "Pos"), (400, 1300, "Artikel"), (1370, 1300, "Betrag"),
    (190, 1350, "1"), (400, 1350, "Trennblätter A4"), (1420, 1350, "198,00"),
    (190, 1400, "2"), (400, 1400, "Joghurt Banane"), (1420, 1400, "275,00"),
    (130, 1800, "Warenwert"), (930, 1800, "Nettobetrag"), (1130, 1800, "MwSt-Betrag MwSt-%"), (1450, 1800, "Endbetrag"),
    (170, 1850, "198,00"), (990, 1850, "198,00"), (1200, 1850, "37,62"), (1310, 1850, "19,0"), (1490, 1850, "235,62"),
    (170, 1880, "275,00"), (990, 1880, "275,00"), (1210, 1880, "19,25"), (1320, 1880, "7,0"), (1490, 1880, "294,25"),
    (170, 1930, "473,00"), (990, 1930, "473,00"), (1200, 1930, "56,87"), (1320, 1930, "EUR"), (1490, 1930, "529,87"),
    (190, 2080, "Zahlbar innerhalb 30 Tagen netto bis 04.04.2018, 3% Skonto innerhalb 10 Tagen bis 15.03.2018"),
]


def test_german_invoice_parties_under_their_headings():
    got = _read(DE_TABLES)
    _check(got, {"seller": "Nordlicht Handel GmbH", "buyer": "Bergblick Hotel AG"})


def test_german_invoice_totals_from_the_closing_table():
    got = _read(DE_TABLES)
    _check(got, {"net_total": "473.00", "tax_total": "56.87", "total": "529.87"})


def test_german_invoice_date_of_the_title_not_the_delivery_date():
    got = _read(DE_TABLES)
    _check(got, {"invoice_number": "471102", "invoice_date": "2018-03-05", "due_date": "2018-04-04"})


# A French invoice: "Total HT / Total taxes / Total TTC" beside a tax breakdown whose rows carry
# a "TVA" label at their left, a delivery address block and the billing address in the window.
FR = [
    (300, 90, "Moulin du Sud SARL - 12 chemin des oliviers - 84340 Malaucène - France"),
    (300, 140, "TVA : FR11999999998 - SIRET : 99999999800010 - SARL au capital de 12 000,00 €"),
    (85, 260, "Facture FA-2017-0010"),
    (100, 345, "Adresse de livraison"), (900, 345, "Adresse de facturation"),
    (100, 392, "Entrepôt Nord"), (900, 392, "Épicerie des Lilas"),
    (100, 424, "5 rue du port"), (900, 424, "8 avenue des Lilas"),
    (100, 456, "13002 Marseille"), (900, 456, "69003 Lyon"),
    (95, 620, "Date de facture"), (430, 620, "13/11/2017"),
    (95, 670, "Date d'échéance"), (430, 670, "13/12/2017"),
    (95, 720, "Date de livraison"), (430, 720, "10/11/2017"),
    (430, 1010, "Description"), (1120, 1010, "Prix unitaire"), (1450, 1010, "Montant HT"),
    (95, 1060, "Nougat 250g"), (1200, 1060, "4,55 €"), (1480, 1060, "81,90 €"),
    (95, 1110, "Huile d'olive 1 l"), (1190, 1110, "19,80 €"), (1460, 1110, "543,00 €"),
    (245, 1172, "Taxe"), (520, 1172, "Base"), (705, 1172, "Montant"), (1260, 1173, "Total HT"), (1450, 1173, "624,90 €"),
    (93, 1209, "TVA collectée 20,0%"), (570, 1209, "81,90 €"), (772, 1209, "16,38 €"),
    (1225, 1221, "Total taxes"), (1466, 1220, "46,25 €"),
    (93, 1247, "TVA collectée 5,5%"), (559, 1247, "543,00 €"), (770, 1247, "29,87 €"),
    (1243, 1268, "Total TTC"), (1451, 1268, "671,15 €"),
]


def test_french_invoice_amounts():
    got = _read(FR)
    _check(got, {"net_total": "624.90", "tax_total": "46.25", "total": "671.15"})


def test_french_invoice_buyer_is_not_the_delivery_address():
    got = _read(FR)
    _check(got, {"buyer": "Épicerie des Lilas", "invoice_date": "2017-11-13", "due_date": "2017-12-13"})


# An English invoice with labels before their values in one line and the delivery date first.
EN = [
    (1250, 340, "Sample Works Ltd"), (1250, 385, "12 High Street"), (1250, 425, "Leeds LS1 4AP"),
    (190, 470, "Theodor Example"), (190, 550, "42 Station Road"), (190, 590, "York YO1 6HT"),
    (160, 860, "Customer no.: 2"),
    (160, 980, "Invoice # RE-20201121/508 of 21.11.2020"),
    (160, 1020, "Date of delivery 10.11.2020"),
    (330, 1100, "Product"), (960, 1100, "Price"), (1170, 1100, "Total"),
    (330, 1150, "Design (hours)"), (960, 1150, "160.00 €"), (1170, 1150, "160.00 €"),
    (330, 1240, "Balloons"), (960, 1240, "0.79 €"), (1170, 1240, "316.00 €"),
    (160, 1380, "Net total: 476.00 €"),
    (160, 1500, "VAT"), (390, 1500, "Net amount"), (580, 1500, "VAT amount"),
    (160, 1540, "7%"), (390, 1540, "160.00 €"), (580, 1540, "11.20 €"),
    (160, 1585, "19%"), (390, 1585, "316.00 €"), (580, 1585, "60.04 €"),
    (420, 1630, "VAT total: 71.24 €"),
    (160, 1670, "Due payable: 547.24 €"),
    (160, 1820, "Please remit until 12.12.2020."),
]


def test_english_invoice_labels():
    got = _read(EN)
    _check(got, {"invoice_number": "RE-20201121/508", "invoice_date": "2020-11-21", "due_date": "2020-12-12",
                 "net_total": "476.00", "tax_total": "71.24", "total": "547.24"})


def test_a_rate_is_not_the_tax_amount_and_an_id_is_not_the_total():
    rows = [
        (110, 100, "Rechnung"), (110, 140, "GLN 4000001123452"),
        (110, 1700, "Rechnungsrabatt:"), (450, 1700, "Basisbetrag: 280,00, MwSt.-% 19,0, Rabattbetrag:"),
        (1120, 1700, "-5,60"),
        (600, 1900, "Steuerbetrag"), (1430, 1900, "52,14"),
        (600, 1950, "Bruttosumme"), (1420, 1950, "326,54"),
    ]
    got = _read(rows)
    _check(got, {"tax_total": "52.14", "total": "326.54"})


def test_receipt_fields_unchanged_by_invoice_rules():
    rows = [
        (150, 40, "SUNRISE GROCER SDN BHD"), (140, 100, "NO 12, JALAN MAWAR 3,"),
        (150, 130, "TAMAN MELATI, 53100 KUALA LUMPUR"), (40, 240, "DATE: 14/02/2019 10:22"),
        (40, 280, "BREAD WHITE"), (480, 280, "3.50"), (40, 360, "TOTAL"), (470, 360, "3.50"),
        (40, 400, "GST SUMMARY"), (260, 400, "AMOUNT(RM)"), (480, 400, "TAX(RM)"),
        (40, 430, "SR @ 6%"), (300, 430, "3.30"), (480, 430, "0.20"),
    ]
    got = _read(rows, PRESETS["receipt"])
    assert got["company"] == "SUNRISE GROCER SDN BHD"
    assert got["date"] == "14/02/2019"
    assert got["total"] == "3.50"


def test_a_payment_instruction_gives_the_due_date_and_an_order_deadline_does_not():
    rows = [(180, 140, "Rechnung Nr. 2017-505 vom 30.04.2017"), (190, 900, "Gesamtbetrag"), (900, 900, "590,24 €"),
            (190, 1000, "Bitte überweisen Sie bis zum 30.05.2017.")]
    assert _read(rows)["due_date"] == "30.05.2017"
    rows[-1] = (190, 1000, "Bei Bestellungen bis zum 19.12.2017 ist die Lieferung garantiert.")
    assert _read(rows)["due_date"] is None


def test_a_due_date_under_its_column_header():
    # A header row over a row of values, as a business system prints an invoice's terms.
    rows = [(150, 90, "Invoice 103767"), (150, 160, "February 17, 2026"),
            (150, 640, "Your Reference"), (510, 640, "Salesperson"), (860, 640, "Due Date"),
            (1220, 640, "Payment Terms"), (510, 675, "Detlef Hembrock"), (860, 675, "March 3, 2026"),
            (960, 1360, "Total € Incl. VAT"), (1480, 1360, "681.87")]
    got = _read(rows)
    _check(got, {"due_date": "2026-03-03", "invoice_date": "2026-02-17"})


def test_range_ends_are_a_periods_bounds():
    from ml.fields.candidates import range_ends

    assert range_ends("Berechnungszeitraum: 01.10.2018 bis 31.10.2018") == {21, 36}
    assert len(range_ends("Vom 17. Dezember 2025 bis 6. Januar 2026 haben wir Betriebsferien.")) == 2
    assert len(range_ends("du 01/10/2018 au 31/10/2018")) == 2
    assert len(range_ends("01.10.2018 - 31.10.2018")) == 2
    assert range_ends("Rechnung Nr. 471102 vom 05.03.2018") == frozenset()
    assert range_ends("Datum 05.03.2018 fällig 04.04.2018") == frozenset()


# An invoice's second page: items, the closing figures, the payment terms; no header.
CONTINUATION = [
    (180, 200, "Positionsdaten"), (190, 295, "Pos"), (530, 295, "Beschreibung"), (1370, 295, "Nettobetrag"),
    (190, 375, "1"), (530, 375, "Trennblätter A4"), (1420, 375, "198,00"),
    (870, 590, "Vom 17. Dezember 2025 bis 6. Januar 2026 haben wir Betriebsferien."),
    (590, 1550, "Rechnungssumme ohne USt."), (1420, 1550, "198,00"),
    (590, 1640, "Steuerbetrag"), (1430, 1640, "37,62"),
    (590, 1720, "Bruttosumme"), (1420, 1720, "235,62"),
    (1370, 2290, "Seite 2 von 2"),
]


def test_a_continuation_page_has_no_invoice_date():
    # The only date is a period's bound (the company's holidays): not the invoice's date, nor due.
    got = _read(CONTINUATION)
    assert got["invoice_date"] is None and got["due_date"] is None
    _check(got, {"total": "235.62", "tax_total": "37.62", "net_total": "198.00"})
    # Payment terms with a cash discount's deadline: a due date, and still no invoice date.
    rows = CONTINUATION[:7] + CONTINUATION[8:] + [
        (190, 2120, "Zahlbar innerhalb 30 Tagen netto bis 04.04.2018, 3% Skonto innerhalb 10 Tagen bis 15.03.2018")]
    got = _read(rows)
    assert got["invoice_date"] is None
    assert got["due_date"] == "04.04.2018"
    # A first page's unlabelled date at the top is still its date.
    got = _read([(150, 100, "Rechnung"), (1200, 160, "05.03.2018")] + CONTINUATION[:7])
    assert got["invoice_date"] == "05.03.2018"


def test_a_position_or_quantity_column_gives_no_amounts():
    from core.fields import AMOUNT
    from ml.fields.candidates import generate

    rows = [(180, 1300, "Positionsdaten"), (190, 1390, "Pos"), (530, 1390, "Beschreibung"), (1110, 1390, "Menge"),
            (1370, 1390, "Nettobetrag"),
            (190, 1470, "0"), (530, 1470, "Physiotherapie"), (1150, 1470, "10"), (1420, 1470, "260,00"),
            (190, 1520, "1"), (530, 1520, "Hausbesuch"), (1150, 1520, "12"), (1420, 1520, "120,00")]
    assert sorted(c.text for c in generate(_page(rows), AMOUNT)) == ["120,00", "260,00"]
    # A position "0" is not a tax total of 0.00.
    assert _read(rows[:9] + [(590, 1640, "Steuerbetrag")])["tax_total"] != "0"
    # The same whole numbers under a header of money are amounts.
    money = list(rows)
    money[1], money[3] = (190, 1390, "Betrag"), (1110, 1390, "Preis")
    assert sorted(c.text for c in generate(_page(money), AMOUNT)) == ["0", "1", "10", "12", "120,00", "260,00"]
