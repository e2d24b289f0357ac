"""Field types and normalisation (core/fields.py): what a printed value means."""

from decimal import Decimal

import pytest

from core.fields import (
    FieldValue,
    field_type,
    find_amounts,
    find_dates,
    make_value,
    normalise,
    parse_amount,
    parse_currency,
    parse_date,
    same,
)


@pytest.mark.parametrize("text,iso", [
    ("05.03.2018", "2018-03-05"), ("Datum: 05/03/2018", "2018-03-05"), ("2018-03-05", "2018-03-05"),
    ("12-01-19", "2019-01-12"), ("13. November 2017", "2017-11-13"), ("February 17, 2026", "2026-02-17"),
    ("17 Feb 2026", "2026-02-17"), ("13 novembre 2017", "2017-11-13"), ("5. März 2018", "2018-03-05"),
    ("24-MAR-2018", "2018-03-24"), ("DATE 25/12/2018 10:22", "2018-12-25"), ("12/25/2018", "2018-12-25"),
    ("DATE03/04/2018", "2018-04-03"),  # a label whose colon the OCR lost: the date has its century
])
def test_dates_in_their_printed_forms(text, iso):
    assert parse_date(text).isoformat() == iso


@pytest.mark.parametrize("text", ["03-7 - 15", "Tel 0711 123456", "31.02.2018", "INV/2023/03/0008x",
                                  "HD03-04-06 - 5/40/160"])  # a product code, glued to its letters
def test_what_is_not_a_date(text):
    assert parse_date(text) is None


@pytest.mark.parametrize("text,value,currency", [
    ("1.234,56 €", "1234.56", "EUR"), ("€ 1,234.56", "1234.56", "EUR"), ("4,55€", "4.55", "EUR"),
    ("£12.50", "12.50", "GBP"), ("$0.01", "0.01", "USD"), ("CHF 1'234.50", "1234.50", "CHF"),
    ("1 234,56 kr", "1234.56", "SEK"), ("Total 529,87 EUR", "529.87", "EUR"), ("TOTAL RM 33.90", "33.90", "MYR"),
    ("RM40.00", "40.00", "MYR"), ("-12,00 €", "-12.00", "EUR"), ("2.000,00", "2000.00", None),
])
def test_amounts_with_their_currency(text, value, currency):
    v, cur = parse_amount(text)
    assert f"{v:.2f}" == value and cur == currency


def test_identifiers_percentages_and_dates_are_not_amounts():
    assert find_amounts("INV/2023/03/0008") == []
    assert find_amounts("RE-20170509/505") == []
    assert find_amounts("FORM2") == []
    assert [a[2] for a in find_amounts("TOTAL 0% SUPPLIES 35.14")] == [Decimal("35.14")]
    assert find_amounts("05.03.2018") == []


def test_an_amount_keeps_its_receipts_tax_code_glued_to_it():
    """Receipts print a line's tax code right after its amount ("51.60SR", "0.42V", "-3.00ZR"):
    still the amount. A time ("11.30AM"), a weight or length ("1.25KG", "2.50M") or a code ("12ABC",
    "35.5X25.5CM") stays out."""
    assert [a[2] for a in find_amounts("51.60SR")] == [Decimal("51.60")]
    assert [a[2] for a in find_amounts("GST 6% 0.42V")] == [Decimal("0.42")]
    assert [a[2] for a in find_amounts("-3.00ZR")] == [Decimal("-3.00")]
    for text in ("11.30AM", "12ABC", "35.5X25.5CM", "12.345SR", "7.00SRX", "V2.60", "1.25KG", "0.50L", "2.50M"):
        assert find_amounts(text) == [], text


def test_types_from_names_and_suffixes():
    assert [field_type(n) for n in ("total", "invoice_date", "currency", "invoice_number", "seller")] == \
        ["amount", "date", "currency", "number", "text"]
    assert field_type("delivery_date") == "date" and field_type("shipping_amount") == "amount"
    assert field_type("order_no") == "number" and field_type("notes") == "text"


def test_same_follows_sroie_then_normalised_values():
    assert same("company", "MR  D.I.Y.\nSDN BHD", "mr d.i.y. sdn bhd")
    assert not same("company", "MR D.I.Y.", "MR DIY")
    assert same("invoice_date", "05.03.2018", "2018-03-05")
    assert same("total", "529,87 €", "529.87")
    assert not same("total", "529,88", "529.87")
    assert not same("total", "", "529.87") and not same("total", None, "1")


def test_normalise_and_values_round_trip():
    n = normalise("total", "Summe 1.005,55 €")
    assert (n.value, n.currency) == ("1005.55", "EUR")
    assert normalise("currency", "€").value == "EUR" and parse_currency("12 USD") == "USD"
    assert normalise("invoice_number", "RE 2017 0509").value == "RE20170509"
    v = make_value("invoice_date", " 05.03.2018 ", confidence=0.9, sources=(3,), span=(7, 17))
    assert v.text == "05.03.2018" and v.value == "2018-03-05"
    assert FieldValue.from_json(v.to_json()) == v
    assert find_dates("from 01.01.2018 to 31.01.2018")[1][2].isoformat() == "2018-01-31"
