"""Key fields: their types, how a value is normalised, and when two values are the same.

A project's field schema is a list of names (``Store.fields()``). Each name has a *type* that says
how its text becomes a normalised value:

- ``date``: an ISO date (``2018-03-05``) from the usual printed forms (05.03.2018, 05/03/2018,
  2018-03-05, 05-03-18, 5. März 2018, 17 Feb 2026, February 17, 2026, 13 novembre 2017);
- ``amount``: a decimal with two places and, when the text shows it, a currency
  (``1.234,56 €`` -> ``1234.56``, currency ``EUR``);
- ``currency``: an ISO 4217 code from a sign or code (``€`` -> ``EUR``);
- ``number``: the identifier as printed without spaces (an invoice number, a VAT id);
- ``text``: the text with its whitespace made single spaces (names, addresses; may join lines).

The type of a name comes from :data:`FIELD_TYPES` (the presets' names and their usual synonyms),
else from its suffix (``*_date``, ``*_total``, ``*_amount``...), else ``text``. Qt-free.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Iterable

TEXT, DATE, AMOUNT, CURRENCY, NUMBER = "text", "date", "amount", "currency", "number"
TYPES = (TEXT, DATE, AMOUNT, CURRENCY, NUMBER)

#: The presets a new project can start from (``proofdesk init --preset``, Fields dialog).
#: The invoice names are those of e-invoices (EN 16931) and of ``invoices-dev``.
PRESETS: dict[str, list[str]] = {
    "receipt": ["company", "date", "address", "total"],
    "invoice": ["invoice_number", "invoice_date", "due_date", "seller", "buyer", "currency",
                "net_total", "tax_total", "total"],
    "form": ["header", "question", "answer"],
}

FIELD_TYPES: dict[str, str] = {
    "company": TEXT, "address": TEXT, "seller": TEXT, "buyer": TEXT, "vendor": TEXT,
    "header": TEXT, "question": TEXT, "answer": TEXT,
    "date": DATE, "invoice_date": DATE, "due_date": DATE, "delivery_date": DATE,
    "total": AMOUNT, "net_total": AMOUNT, "tax_total": AMOUNT, "tax": AMOUNT, "subtotal": AMOUNT,
    "currency": CURRENCY,
    "invoice_number": NUMBER, "order_number": NUMBER, "vat_id": NUMBER, "customer_number": NUMBER,
}

#: Fields whose value may span several lines (an address, a name printed over two lines).
MULTILINE = {"address", "seller", "buyer", "company", "vendor", "answer", "question", "header"}


def field_type(name: str) -> str:
    """The type of a field name: known names, then suffixes, else ``text``."""
    key = name.strip().lower()
    if key in FIELD_TYPES:
        return FIELD_TYPES[key]
    if key.endswith(("_date", "date")):
        return DATE
    if key.endswith(("_total", "_amount", "amount", "_sum", "_price")):
        return AMOUNT
    if key.endswith(("_number", "_no", "_nr", "_id", "number", "_code", "_ref", "reference")):
        return NUMBER
    if key.endswith("currency"):
        return CURRENCY
    return TEXT


#: Field names that label many regions of a page rather than give it one value: a form's every
#: label is a question, every filled-in value an answer (FUNSD's entities). Pre-fill puts them on
#: the regions (each region's field label), never in the page's field values.
MANY_VALUED = frozenset({"header", "question", "answer"})


def many_valued(name: str) -> bool:
    """Whether a field labels regions (many a page: :data:`MANY_VALUED`) instead of holding one value."""
    return name.strip().lower() in MANY_VALUED


def multiline(name: str) -> bool:
    """Whether a field's value may join several lines."""
    return name.strip().lower() in MULTILINE or field_type(name) == TEXT


# -- what a page says about a field --------------------------------------------------------

@dataclass(frozen=True)
class FieldValue:
    """One field of one page: what it says there, normalised, and where it comes from.

    ``absent`` says the field is not on the page (predicted, or confirmed by a person);
    then ``text`` is empty. ``sources`` are indexes into the prediction's regions (in a
    Prediction) or region ids (in a page's field values); ``span`` is the character range of
    ``text`` inside the first source's text when the value is part of a line.
    """

    name: str
    text: str = ""
    value: str | None = None
    currency: str | None = None
    confidence: float | None = None
    sources: tuple[int, ...] = ()
    span: tuple[int, int] | None = None
    absent: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "text": self.text, "value": self.value}
        if self.currency:
            out["currency"] = self.currency
        if self.confidence is not None:
            out["confidence"] = round(float(self.confidence), 4)
        out["sources"] = list(self.sources)
        if self.span is not None:
            out["span"] = list(self.span)
        if self.absent:
            out["absent"] = True
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FieldValue":
        span = d.get("span")
        return cls(name=str(d["name"]), text=str(d.get("text") or ""), value=d.get("value"),
                   currency=d.get("currency"), confidence=d.get("confidence"),
                   sources=tuple(int(s) for s in d.get("sources") or ()),
                   span=tuple(span) if span else None, absent=bool(d.get("absent", False)))


def make_value(name: str, text: str, **kw: Any) -> FieldValue:
    """A FieldValue with its normalised value (and currency) filled from the text."""
    n = normalise(name, text)
    return FieldValue(name=name, text=n.text, value=n.value, currency=n.currency, **kw)


# -- normalisation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Normalised:
    text: str
    value: str | None
    currency: str | None = None


def squeeze(text: str) -> str:
    """Whitespace (line breaks included) made single spaces, ends trimmed, NFC."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def normalise(name_or_type: str, text: str) -> Normalised:
    """The normalised value of a field's text, by the field's type (or a type name)."""
    kind = name_or_type if name_or_type in TYPES else field_type(name_or_type)
    t = squeeze(text)
    if kind == DATE:
        d = parse_date(t)
        return Normalised(t, d.isoformat() if d else None)
    if kind == AMOUNT:
        a = parse_amount(t)
        return Normalised(t, f"{a[0]:.2f}" if a else None, a[1] if a else None)
    if kind == CURRENCY:
        return Normalised(t, parse_currency(t))
    if kind == NUMBER:
        return Normalised(t, re.sub(r"\s+", "", t) or None)
    return Normalised(t, t or None)


def same(name: str, predicted: str | None, reference: str | None) -> bool:
    """Whether a predicted field text matches a reference value.

    SROIE task 3's rule first: equal after squeezing whitespace, case-insensitive. Then, for a
    typed field, equal normalised values (a reference that is already normalised, such as an
    e-invoice's ISO date or ``529.87``, matches the printed ``05.03.2018`` or ``529,87 €``).
    """
    if predicted is None or reference is None:
        return False
    p, r = squeeze(predicted).casefold(), squeeze(reference).casefold()
    if not p or not r:
        return False
    if p == r:
        return True
    kind = field_type(name)
    if kind == TEXT:
        return False
    a, b = normalise(kind, predicted).value, normalise(kind, reference).value
    return a is not None and a == b


def same_value(name: str, value: str | None, reference: str | None) -> bool:
    """Whether a typed field's normalised ``value``, read in its page's context (a US date on a
    page that prints them), is the reference's normalised value, though its text alone would read
    otherwise. Text fields have no such value: False."""
    kind = field_type(name)
    if kind == TEXT or not value or reference is None:
        return False
    want = normalise(kind, reference).value
    return want is not None and str(value).casefold() == want.casefold()


# -- dates -----------------------------------------------------------------------------------

MONTHS: dict[str, int] = {}
for _i, _names in enumerate([
    "january jan januar jänner janvier janv enero ene gennaio gen januari janeiro",
    "february feb februar février fevrier févr fevr febrero febbraio februari fevereiro fev",
    "march mar märz maerz mrz mars marzo maart março marco",
    "april apr avril avr abril aprile",
    "may mai mayo maggio mei maio",
    "june jun juni juin junio giugno giu junho",
    "july jul juli juillet juil julio luglio lug julho",
    "august aug août aout agosto ago augustus",
    "september sep sept septembre septiembre settembre set setembro",
    "october oct oktober octobre octubre ottobre ott okt outubro out",
    "november nov novembre noviembre novembro",
    "december dec dezember décembre decembre déc dic diciembre dicembre dez dezembro",
], start=1):
    for _n in _names.split():
        MONTHS.setdefault(_n, _i)

_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
#: Where a date can be inside a line: numeric (d.m.y, y-m-d) or with a month name.
DATE_RE = re.compile(
    r"(?<![\d.])(?:"
    r"(?P<y1>(?:19|20)\d\d)[-./](?P<m1>[01]?\d)[-./](?P<d1>[0-3]?\d)"
    r"|(?P<d2>[0-3]?\d)(?P<s2>[-./])(?P<m2>[0-3]?\d)(?P=s2)(?P<y2>(?:19|20)?\d\d)"
    r"|(?P<d2b>[0-3]?\d)\.\s(?P<m2b>[01]?\d)\.\s(?P<y2b>(?:19|20)\d\d)"
    r"|(?P<d3>[0-3]?\d)(?:\.|st|nd|rd|th|er)?[\s\-/]*(?:de\s+)?(?P<mn3>" + _MONTH_RE + r")\.?,?[\s\-/]*(?:de\s+)?(?P<y3>(?:19|20)?\d\d)"
    r"|(?P<mn4>" + _MONTH_RE + r")\.?\s+(?P<d4>[0-3]?\d)(?:st|nd|rd|th)?,?\s+(?P<y4>(?:19|20)\d\d)"
    r")(?![\d])",
    re.IGNORECASE)


#: :func:`date_order`'s answers.
MONTH_FIRST, DAY_FIRST = "month first", "day first"


def _year(y: str) -> int:
    v = int(y)
    return v + 2000 if v < 100 else v


def _date_of(m: re.Match, order: str | None = None) -> date | None:
    g = m.groupdict()
    try:
        if g["y1"]:
            return date(int(g["y1"]), int(g["m1"]), int(g["d1"]))
        if g["y2"] or g["y2b"]:
            d, mo, y = (int(g["d2"]), int(g["m2"]), _year(g["y2"])) if g["y2"] else \
                (int(g["d2b"]), int(g["m2b"]), _year(g["y2b"]))
            if mo > 12 and d <= 12:       # the US order (month first) when the other cannot be...
                if order == DAY_FIRST:    # ...unless the page prints its dates day first: a code
                    return None
                d, mo = mo, d
            elif order == MONTH_FIRST and g["y2"] and g["s2"] != "." and mo <= 12:  # a page that prints US dates
                d, mo = mo, d
            return date(y, mo, d)
        if g["y3"]:
            return date(_year(g["y3"]), MONTHS[g["mn3"].lower()], int(g["d3"]))
        if g["y4"]:
            return date(int(g["y4"]), MONTHS[g["mn4"].lower()], int(g["d4"]))
    except (ValueError, KeyError):
        return None
    return None


def find_dates(text: str, order: str | None = None) -> list[tuple[int, int, date]]:
    """Every date printed in a text: (start, end, date), left to right. Numeric dates are read day
    first unless that cannot be (``11/17/2017``). ``order``, the order the document prints its dates
    in (:func:`date_order`): :data:`MONTH_FIRST`, so ``11/03/2017`` (with ``/`` or ``-``, not ``.``)
    is 3 November; :data:`DAY_FIRST`, so ``11-22-31``, which only reads month first, is not a date
    but a code (``CK 11-22-31`` beside a receipt's ``19-09-17``)."""
    return list(_find_dates(text or "", order))


@lru_cache(maxsize=8192)
def _find_dates(text: str, order: str | None = None) -> tuple[tuple[int, int, date], ...]:
    out = []
    for m in DATE_RE.finditer(text or ""):
        if _in_a_code(text, m):
            continue
        d = _date_of(m, order)
        if d is not None and 1950 <= d.year <= 2100:
            out.append((m.start(), m.end(), d))
    return tuple(out)


def _in_a_code(text: str, m: re.Match) -> bool:
    """Whether a numeric date with a two-digit year is glued to the letters before it: a product or
    batch code ("HD03-04-06"), not a date. A date with its century ("DATE03/04/2018", a label whose
    colon the OCR lost) is kept."""
    g = m.groupdict()
    return bool(m.start() and text[m.start() - 1].isalpha() and g["y2"] and len(g["y2"]) == 2)


def date_order(texts: Iterable[str]) -> str | None:
    """The order a document prints its numeric dates in, from those that read only one way:
    :data:`MONTH_FIRST` when more of them read only month first (``11/17/2017``) than only day
    first (``17/11/2017``), :data:`DAY_FIRST` when at least as many read only day first (and
    one does: the default reading wins a tie, where the other is more likely a code), None when
    none reads only one way. Dotted dates (``17.11.2017``) are day first wherever they are
    printed, so they say nothing about a document's order."""
    us = eu = 0
    for text in texts:
        for m in DATE_RE.finditer(text or ""):
            g = m.groupdict()
            if not g["y2"] or g["s2"] == "." or _in_a_code(text, m):
                continue
            a, b = int(g["d2"]), int(g["m2"])
            us += a <= 12 < b <= 31
            eu += b <= 12 < a <= 31
    if us > eu:
        return MONTH_FIRST
    return DAY_FIRST if eu else None


def parse_date(text: str) -> date | None:
    """The date a text prints (the first one), or None."""
    found = find_dates(squeeze(text))
    return found[0][2] if found else None


# -- amounts and currencies ------------------------------------------------------------------

CURRENCY_SIGNS: dict[str, str] = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "$": "USD", "usd": "USD", "us$": "USD",
    "£": "GBP", "gbp": "GBP", "¥": "JPY", "jpy": "JPY", "yen": "JPY", "₹": "INR", "inr": "INR",
    "rs": "INR", "rs.": "INR", "chf": "CHF", "fr.": "CHF", "sfr": "CHF", "rm": "MYR", "myr": "MYR",
    "sek": "SEK", "nok": "NOK", "dkk": "DKK", "kr": "SEK", "pln": "PLN", "zł": "PLN", "zl": "PLN",
    "czk": "CZK", "kč": "CZK", "huf": "HUF", "ft": "HUF", "ron": "RON", "lei": "RON", "try": "TRY",
    "₺": "TRY", "cad": "CAD", "aud": "AUD", "sgd": "SGD", "s$": "SGD", "cny": "CNY", "rmb": "CNY",
}
_CUR_WORDS = sorted((re.escape(k) for k in CURRENCY_SIGNS if k[0].isalpha()), key=len, reverse=True)
_CUR_SIGNS = "€$£¥₹₺"
CURRENCY_RE = re.compile(r"(?:(?<![A-Za-z])(?:" + "|".join(_CUR_WORDS) + r")(?![A-Za-z])|[" + _CUR_SIGNS + "])",
                         re.IGNORECASE)

#: An amount: digits with optional thousands grouping and a decimal part of 1-2 digits, or a
#: plain integer. Grouping with '.', ',', ' ', "'" or a thin space. Cents may have a receipt's tax
#: code glued on ("51.60SR", "0.42V"), not a time's or a unit's letters ("11.30AM", "1.25KG").
AMOUNT_RE = re.compile(
    r"(?:(?<![\w.,'/-])|(?<=\bRM)|(?<=\bRs)|(?<=\bRs\.)|(?<=\bEUR)|(?<=\bUSD)|(?<=\bGBP)|(?<=\bCHF)|(?<=\bINR))(?P<sign>[-−–])?\s?"
    r"(?P<num>\d{1,3}(?:(?P<g>[.,' \u202f\u00a0])\d{3})(?:(?P=g)\d{3})*(?:[.,]\d{1,2})?"
    r"|\d+(?:[.,]\d{1,2})?)"
    r"(?P<minus>-)?(?:(?<=[.,]\d\d)(?=(?!AM|PM|KG|ML|CL|CM|MM|PC|[GLM](?!\w))[A-Z]{1,2}(?!\w))|(?![\w/%]|[.,]\d|-\d|\s%))")


def parse_currency(text: str) -> str | None:
    """The ISO code of the first currency sign or code in a text."""
    m = CURRENCY_RE.search(text or "")
    if m:
        return CURRENCY_SIGNS.get(m.group(0).lower())
    m = re.search(r"\b([A-Z]{3})\b", text or "")
    if m and m.group(1) in set(CURRENCY_SIGNS.values()):
        return m.group(1)
    return None


def _amount_value(num: str) -> Decimal | None:
    s = num.replace("\u202f", " ").replace("\u00a0", " ")
    last = max(s.rfind("."), s.rfind(","))
    if last >= 0 and len(s) - last - 1 in (1, 2):
        whole, frac = s[:last], s[last + 1:]
    else:
        whole, frac = s, ""
    whole = re.sub(r"[.,' ]", "", whole)
    if not whole.isdigit() or (frac and not frac.isdigit()):
        return None
    try:
        return Decimal(f"{whole}.{frac or '0'}")
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[tuple[int, int, Decimal, str | None]]:
    """Every amount printed in a text: (start, end, value, currency code or None).

    The span covers the number and a currency sign or code right beside it. Years and dates are
    not amounts (a date's digits are skipped).
    """
    return list(_find_amounts(text or ""))


@lru_cache(maxsize=8192)
def _find_amounts(t: str) -> tuple[tuple[int, int, Decimal, str | None], ...]:
    dates = [(s, e) for s, e, _ in find_dates(t)]
    out = []
    for m in AMOUNT_RE.finditer(t):
        s, e = m.start("num"), m.end("num")
        if any(ds <= s < de for ds, de in dates):
            continue
        v = _amount_value(m.group("num"))
        if v is None:
            continue
        if m.group("sign") or m.group("minus"):
            v = -v
            s = m.start("sign") if m.group("sign") else s
            e = m.end("minus") if m.group("minus") else e
        cur = None
        before = CURRENCY_RE.search(t[max(0, s - 5):s] + "\0")
        after = CURRENCY_RE.match(t[e:e + 5].lstrip())
        if after:
            cur = CURRENCY_SIGNS.get(after.group(0).lower())
            e = e + (len(t[e:e + 5]) - len(t[e:e + 5].lstrip())) + after.end()
        elif before and t[max(0, s - 5):s].rstrip().endswith(before.group(0)):
            cur = CURRENCY_SIGNS.get(before.group(0).lower())
            s = max(0, s - 5) + t[max(0, s - 5):s].rfind(before.group(0))
        out.append((s, e, v, cur))
    return tuple(out)


def parse_amount(text: str) -> tuple[Decimal, str | None] | None:
    """The amount a text prints (the last one: ``Total 12,50 €`` -> 12.50 EUR), or None."""
    found = find_amounts(squeeze(text))
    if not found:
        return None
    s, e, v, cur = found[-1]
    return v, cur or parse_currency(text)


def values_json(values: Iterable[FieldValue]) -> list[dict[str, Any]]:
    return [v.to_json() for v in values]


__all__ = ["FieldValue", "Normalised", "PRESETS", "FIELD_TYPES", "TYPES", "field_type", "multiline", "MANY_VALUED",
           "many_valued",
           "normalise", "same", "squeeze", "find_dates", "parse_date", "find_amounts", "parse_amount",
           "parse_currency", "make_value", "values_json"]
