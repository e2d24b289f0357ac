"""Words that announce a field (its label on the page), in German, French, English and more.

The zero-shot extractor looks for them beside or above a value; the learned model gets whether
they are there as features (and learns a project's own labels from the words around values).
A field name that is not listed is announced by its own words (``order_number`` -> "order
number"). All keys lower case; matching is on case-folded text with accents kept.
"""

from __future__ import annotations

import re
from functools import lru_cache

KEYWORDS: dict[str, tuple[str, ...]] = {
    "invoice_number": (
        "rechnungsnummer", "rechnungs-nr", "rechnung nr", "rechnungsnr", "rechnung-nr", "beleg-nr", "belegnummer",
        "invoice number", "invoice no", "invoice #", "invoice nr", "inv no", "invoice:", "invoice",
        "facture n°", "facture no", "n° de facture", "numéro de facture", "facture", "avoir",
        "factuurnummer", "factuur nr", "número de factura", "factura", "numero fattura", "fattura n",
        "rechnung", "nr.", "no.", "receipt no", "bill no", "doc no",
    ),
    "invoice_date": (
        "rechnungsdatum", "datum", "belegdatum", "invoice date", "date of issue", "issue date", "date",
        "date de facture", "date de facturation", "date d'émission", "le ", "factuurdatum",
        "fecha", "data fattura", "data",
    ),
    "due_date": (
        "fällig", "fälligkeit", "fälligkeitsdatum", "zahlungsziel", "zahlbar bis", "zu zahlen bis",
        "due date", "payment due", "due", "pay by", "date d'échéance", "échéance", "echeance",
        "à payer avant", "vervaldatum", "vencimiento", "scadenza",
    ),
    "total": (
        "gesamtbetrag", "rechnungsbetrag", "endbetrag", "zu zahlen", "zahlbetrag", "bruttobetrag",
        "gesamtsumme", "summe brutto", "brutto", "gesamt", "total amount", "grand total", "amount due",
        "total due", "balance due", "total incl", "total ttc", "montant ttc", "net à payer", "total à payer",
        "montant total", "totaal", "te betalen", "importe total", "totale", "rounded total", "nett total",
        "total (rm)", "total rm", "total after rounding", "rounded total", "total payable", "nett total",
        "total:", "total", "amount", "summe",
    ),
    "net_total": (
        "nettobetrag", "summe netto", "netto", "gesamt netto", "zwischensumme", "warenwert", "net amount",
        "net total", "subtotal", "sub total", "total excl", "total ht", "montant ht", "base ht",
        "sous-total", "totaal excl", "base imponible", "imponibile", "total excluding",
    ),
    "tax_total": (
        "mehrwertsteuer", "umsatzsteuer", "mwst", "ust", "steuer", "steuerbetrag", "vat", "tax amount",
        "total tax", "tax", "gst", "tva", "montant tva", "total tva", "btw", "iva", "sales tax",
    ),
    "currency": ("währung", "currency", "devise", "valuta", "moneda", "eur", "usd", "gbp", "chf"),
    "seller": (
        "lieferant", "verkäufer", "absender", "rechnungssteller", "seller", "supplier", "vendor", "from",
        "sold by", "fournisseur", "vendeur", "émetteur", "leverancier", "proveedor", "fornitore",
    ),
    "buyer": (
        "kunde", "käufer", "rechnungsempfänger", "empfänger", "an", "herrn", "herr", "frau", "firma",
        "bill to", "billed to", "invoice to", "customer", "buyer", "sold to", "ship to", "client",
        "acheteur", "adresse de facturation", "destinataire", "klant", "cliente", "facturar a",
    ),
    "company": ("sdn bhd", "sdn. bhd", "s/b", "gmbh", "ltd", "inc", "co.", "company", "enterprise", "trading",
                "restaurant", "store", "mart", "sarl", "s.a.", "ag", "bv"),
    "address": ("jalan", "jln", "lot", "no.", "taman", "street", "st.", "road", "rd", "avenue", "floor",
                "straße", "strasse", "str.", "weg", "platz", "rue", "chemin", "boulevard", "allée"),
    "date": ("date", "datum", "tarikh", "dated", "le ", "fecha", "data"),
    "header": (),
    "question": (),
    "answer": (),
}

#: Synonyms: a schema may name a field differently from the preset.
ALIASES = {"vendor": "seller", "supplier": "seller", "customer": "buyer", "tax": "tax_total", "vat": "tax_total",
           "subtotal": "net_total", "amount": "total", "grand_total": "total", "number": "invoice_number",
           "receipt_number": "invoice_number", "issue_date": "invoice_date", "store": "company",
           "merchant": "company"}

#: Keywords that announce *some* amount that is not the grand total (a line to skip for total).
NOT_TOTAL = ("subtotal", "sub total", "zwischensumme", "netto", "net ", " ht", "mwst", "ust", "vat", "tax",
             "gst", "tva", "rabatt", "discount", "remise", "change", "cash", "tendered", "paid", "rounding",
             "qty", "quantity", "menge", "anzahl", "saving", "excl", "versand")


def role(name: str) -> str:
    """The lexicon entry a field name uses: itself, a synonym, or itself (unknown)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


@lru_cache(maxsize=256)
def keywords(name: str) -> tuple[str, ...]:
    """The words that announce field ``name``: the lexicon's, else the name's own words."""
    r = role(name)
    if r in KEYWORDS and KEYWORDS[r]:
        return KEYWORDS[r]
    words = " ".join(re.split(r"[_\-\s]+", r)).strip()
    return (words,) if words else ()


@lru_cache(maxsize=4096)
def _pattern(words: tuple[str, ...]) -> re.Pattern | None:
    if not words:
        return None
    alts = []
    for w in sorted(words, key=len, reverse=True):
        e = re.escape(w.strip())
        lead = r"(?<![^\W\d_])" if w[0].isalnum() else ""
        tail = r"(?![^\W\d_])" if w.rstrip()[-1].isalnum() else ""
        alts.append(lead + e + tail)
    return re.compile("|".join(alts), re.IGNORECASE)


def find_keyword(name: str, text: str) -> re.Match | None:
    """The first (longest at a place) keyword of field ``name`` in text, or None."""
    p = _pattern(keywords(name))
    return p.search(text) if p is not None else None


@lru_cache(maxsize=32768)
def has_keyword(name: str, text: str) -> bool:
    """Whether text holds a keyword of field ``name`` (cached: pages repeat their lines' texts)."""
    return find_keyword(name, text) is not None


@lru_cache(maxsize=32768)
def keyword_length(name: str, text: str) -> int:
    """The length of the longest keyword of field ``name`` in text, 0 when there is none: the more
    specific label wins ("Date d'échéance" announces the due date more than the invoice date)."""
    p = _pattern(keywords(name))
    if p is None:
        return 0
    return max((m.end() - m.start() for m in p.finditer(text)), default=0)


def last_keyword_end(name: str, text: str) -> int:
    """Where the last keyword of ``name`` in ``text`` ends, or -1."""
    p = _pattern(keywords(name))
    if p is None:
        return -1
    end = -1
    for m in p.finditer(text):
        end = m.end()
    return end


@lru_cache(maxsize=16384)
def has_any(words: tuple[str, ...], text: str) -> bool:
    p = _pattern(tuple(words))
    return bool(p and p.search(text))
