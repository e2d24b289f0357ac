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
        "gutschrift", "credit note", "gutschriftsnummer", "rechnung #", "facture #", "n° facture",
    ),
    "invoice_date": (
        "rechnungsdatum", "datum", "belegdatum", "invoice date", "date of issue", "issue date", "date",
        "date de facture", "date de facturation", "date d'émission", "le ", "factuurdatum",
        "fecha", "data fattura", "data", "ausstellungsdatum", "rechnungs-datum", "beleg-datum",
        "date facture", "fecha de factura", "fecha de emisión", "data documento", "data emissione",
        "dated", "billing date", "document date", "belegdatum",
    ),
    "due_date": (
        "fällig", "fälligkeit", "fälligkeitsdatum", "zahlungsziel", "zahlbar bis", "zu zahlen bis",
        "due date", "payment due", "due", "pay by", "date d'échéance", "échéance", "echeance",
        "à payer avant", "vervaldatum", "vencimiento", "scadenza",
        "fällig am", "fällig bis", "zahlbar am", "zahlungsfrist", "spätestens bis", "netto bis", "ohne abzug bis",
        "payment due date", "due by", "payable by", "payable until", "payable before", "remit until", "remit by",
        "pay before", "pay until", "date limite de paiement", "date limite de règlement", "à régler avant",
        "à payer le", "date d'échéance de paiement", "payer avant le", "uiterste betaaldatum",
        "te betalen voor", "fecha de vencimiento", "data di scadenza", "data scadenza",
        "überweisen sie bis", "bis zum", "zahlung bis", "zahlen sie bis", "payment by", "pay no later than",
    ),
    "total": (
        "gesamtbetrag", "rechnungsbetrag", "endbetrag", "zu zahlen", "zahlbetrag", "bruttobetrag",
        "gesamtsumme", "summe brutto", "brutto", "gesamt", "total amount", "grand total", "amount due",
        "total due", "balance due", "total incl", "total ttc", "montant ttc", "net à payer", "total à payer",
        "montant total", "totaal", "te betalen", "importe total", "totale", "rounded total", "nett total",
        "total (rm)", "total rm", "total after rounding", "rounded total", "total payable", "nett total",
        "total rounded", "total after adj", "final total",
        "total:", "total", "amount", "summe",
        "rechnungssumme", "rechnungssumme brutto", "bruttosumme", "gesamtbrutto", "brutto gesamt",
        "gesamtbetrag brutto", "bruttorechnungsbetrag", "zahlbetrag brutto", "endsumme",
        "amount payable", "payable amount", "due payable", "invoice total", "total invoice amount",
        "total amount due", "total incl. vat", "total including vat", "total including tax", "total gross",
        "gross amount", "gross total", "montant à payer", "total toutes taxes comprises", "montant total ttc",
        "totaal incl", "totaalbedrag", "te voldoen", "total factura", "total a pagar", "importe a pagar",
        "totale fattura", "totale documento", "totale da pagare",
    ),
    "net_total": (
        "nettobetrag", "summe netto", "netto", "gesamt netto", "zwischensumme", "warenwert", "net amount",
        "net total", "subtotal", "sub total", "total excl", "total ht", "montant ht", "base ht",
        "sous-total", "totaal excl", "base imponible", "imponibile", "total excluding",
        "nettosumme", "netto gesamt", "gesamtnetto", "nettogesamtbetrag", "rechnungssumme netto",
        "rechnungssumme ohne", "summe ohne", "betrag ohne", "gesamtbetrag netto", "gesamtbetrag ohne",
        "total net", "net value", "total before tax", "amount before tax", "taxable amount", "amount excl",
        "total hors taxes", "montant hors taxes", "total hors taxe", "montant net", "total net ht",
        "totaal exclusief", "netto bedrag", "subtotaal", "importe neto", "total neto", "totale imponibile",
        "totale netto",
    ),
    "tax_total": (
        "mehrwertsteuer", "umsatzsteuer", "mwst", "ust", "steuer", "steuerbetrag", "vat", "tax amount",
        "total tax", "tax", "gst", "tva", "montant tva", "total tva", "btw", "iva", "sales tax",
        "tax total", "vat total", "total vat", "vat amount", "total taxes", "taxes", "ust-betrag",
        "ust.-betrag", "mwst-betrag", "mwst.-betrag", "umsatzsteuerbetrag", "mehrwertsteuerbetrag",
        "steuerbetrag gesamt", "summe ust", "summe mwst", "summe umsatzsteuer", "gesamt ust", "gesamt mwst",
        "montant de tva", "total de tva", "total taxes", "tva totale", "montant des taxes", "btw-bedrag",
        "btw bedrag", "totaal btw", "importe iva", "cuota iva", "total iva", "totale iva", "importo iva",
    ),
    "currency": ("währung", "currency", "devise", "valuta", "moneda", "eur", "usd", "gbp", "chf"),
    "seller": (
        "lieferant", "verkäufer", "absender", "rechnungssteller", "seller", "supplier", "vendor", "from",
        "sold by", "fournisseur", "vendeur", "émetteur", "leverancier", "proveedor", "fornitore",
        "auftragnehmer", "leistungserbringer", "rechnungsaussteller", "rechnungsersteller", "issued by", "bill from", "payee",
        "prestataire", "emisor", "cedente",
    ),
    "buyer": (
        "kunde", "käufer", "rechnungsempfänger", "empfänger", "an", "herrn", "herr", "frau", "firma",
        "bill to", "billed to", "invoice to", "customer", "buyer", "sold to", "client",
        "acheteur", "adresse de facturation", "destinataire", "klant", "cliente", "facturar a",
        "leistungsempfänger", "auftraggeber", "invoice address", "billing address", "invoiced to",
        "facturé à", "facturer à", "adresse de facture", "factuuradres", "cessionario", "committente",
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
             "qty", "quantity", "menge", "anzahl", "saving", "excl", "versand", "zuschlag", "zuschläge",
             "abschlag", "abschläge", "allowance", "allowances", "charges", "anzahlung", "anzahlungen",
             "acompte", "acomptes", "deposit", "prepaid", "prepayment", "skonto", "escompte", "solde",
             "residual", "ohne")


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
    """One regex for a list of words, case-insensitive, each a whole word where it starts or ends
    with a letter; at a place, the longest word that fits wins."""
    if not words:
        return None
    if all(w[0].isalnum() for w in words):
        # the word-start test asked once, and the words as a tree of their letters ("rechnung",
        # "rechnungsdatum" -> "rechnung(?:sdatum|)"): the same matches, 2-3x faster than one
        # alternative per word
        return re.compile(r"(?<![^\W\d_])" + _tree({_lower(w) for w in words}), re.IGNORECASE)
    alts, leads = [], []
    for w in sorted(words, key=len, reverse=True):
        leads.append(w[0].isalnum())
        alts.append(re.escape(w.strip()) + _end(w))
    return re.compile("|".join((r"(?<![^\W\d_])" if ld else "") + a for ld, a in zip(leads, alts)),
                      re.IGNORECASE)


def _end(word: str) -> str:
    """A word that ends with a letter or digit ends there: no letter follows ("ust", not "Austria")."""
    return r"(?![^\W\d_])" if word.rstrip()[-1].isalnum() else ""


def _tree(words: set[str], last: str = "", whole: bool = True) -> str:
    """A regex of words sharing their beginnings (``last``: the letter before them): a longer word
    is tried before the shorter one it extends, so the longest that fits wins, as with the
    longest-first alternatives. Letters are grouped lower case (the regex ignores case).
    ``whole``: a word that ends with a letter or digit ends there (else: stems, inside words too)."""
    alts = []
    for ch in sorted({w[0] for w in words if w}):
        alts.append(re.escape(ch) + _tree({w[1:] for w in words if w and w[0] == ch}, ch, whole))
    if "" in words:   # a word ends here
        alts.append(_end(last) if whole else "")
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _lower(word: str, strip: bool = True) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in (word.strip() if strip else word))


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
    p = _any_pattern(tuple(words))
    return bool(p and p.search(text))


@lru_cache(maxsize=4096)
def _any_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    """A regex that finds a word of ``words`` where :func:`_pattern`'s does (whether, not which):
    the words that start with a letter as one tree under one word-start test, the others (" ht")
    as a tree of their own, without it."""
    if not words or all(w[0].isalnum() for w in words):
        return _pattern(words)
    led = {_lower(w) for w in words if w[0].isalnum()}
    bare = {_lower(w) for w in words if not w[0].isalnum()}
    alts = ([r"(?<![^\W\d_])" + _tree(led)] if led else []) + [_tree(bare)]
    return re.compile("|".join(alts), re.IGNORECASE)


@lru_cache(maxsize=32768)
def any_keyword(names: tuple[str, ...], text: str) -> bool:
    """Whether text holds a keyword of any of the fields ``names``: one regex where asking each
    field's would take one per field (most texts hold none)."""
    p = _any_pattern(_keywords_of(names))
    return bool(p and p.search(text))


@lru_cache(maxsize=256)
def longest_keyword(names: tuple[str, ...]) -> int:
    """The length of the longest keyword of any of the fields ``names``."""
    return max((len(w.strip()) for w in _keywords_of(names)), default=0)


@lru_cache(maxsize=256)
def _keywords_of(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({w for n in names for w in keywords(n)}))


#: Word stems that announce some *other* date or identifier than the field's (matched inside
#: compounds too: "Lieferdatum", "Bestellnummer", "Abrechnungszeitraum"): a delivery or order
#: date is not the invoice date, a customer or order number is not the invoice number.
_OTHER_DATE = ("liefer", "leistung", "delivery", "livraison", "levering", "entrega", "consegna", "bestell",
               "order", "commande", "pedido", "ordine", "auftrag", "zeitraum", "period", "période", "periode",
               "versand", "shipping", "shipped", "expédition", "skonto", "escompte", "discount", "anzahlung",
               "geburt", "birth", "gültig", "valid", "abrechnung")
#: ... and a person or a channel of a party, not its name ("Ansprechpartner: Tanja Tinder", "Sales
#: Contact", "Salesperson", "z. Hd."): the seller's or the buyer's contact, not the seller or buyer.
_CONTACT = ("ansprechpartner", "ansprechperson", "kontaktperson", "kontakt", "contact", "salesperson",
            "sales rep", "sachbearbeit", "bearbeiter", "bearbeitet von", "interlocuteur", "attn", "attention",
            "z. hd", "z.hd", "zu händen", "vertreter", "representative", "telefon", "phone", "e-mail", "email",
            "fax", "persona de contacto", "referente")
#: ... and an identifier, not money ("Buchungsreferenz: 420", "Steuernummer", "Kundennummer: 12345"):
#: no amount of the document's.
_IDENTIFIER = ("referenz", "reference", "référence", "riferimento", "referencia", "nummer", "number", "numéro",
               "numero", "número", "iban", "konto", "account", "compte", "telefon", "phone", "téléphone")
NOT_FIELD: dict[str, tuple[str, ...]] = {
    "total": _IDENTIFIER,
    "net_total": _IDENTIFIER,
    "tax_total": _IDENTIFIER,
    "seller": _CONTACT,
    "buyer": _CONTACT,
    "invoice_date": _OTHER_DATE + ("fällig", "due", "échéance", "zahlbar", "payable", "payment", "zahlung",
                                   "règlement", "paiement", "remit", "vencimiento", "scadenza", "verval"),
    "due_date": _OTHER_DATE,
    "date": ("liefer", "delivery", "order", "bestell", "geburt", "birth", "valid", "gültig"),
    "invoice_number": ("kunde", "customer", "client", "klant", "bestell", "order", "auftrag", "commande",
                       "pedido", "ordine", "liefer", "delivery", "livraison", "ust", "vat", "tva", "btw",
                       "steuer", "tax", "iban", "bic", "konto", "account", "compte", "tel", "fax", "phone",
                       "gln", "gtin", "ean", "handelsreg", "register", "siret", "siren", "rcs", "blz",
                       "vertrag", "contract", "contrat", "projekt", "project", "seite", "page", "mandat",
                       "mandate", "referenz des", "your ref", "ihre ref", "votre réf", "buyer ref",
                       "kassenzeichen", "versicherungsschein", "police", "policy", "artikel", "article",
                       "art-nr", "art.-nr", "item", "reg-nr", "reg.-nr", "reg. nr", "reg nr", "regnr", "weee",
                       "registration", "registrier"),
}

#: What a document calls itself in its title line ("Handelsrechnung Nr. 471102 vom 05.03.2018",
#: "Invoice # RE-505 of 09.05.2017", "Facture FA-2017-0010 du 13/11/2017").
_TITLE = re.compile(r"rechnung(?!s(?:summe|betrag|empf|stell|adress))|gutschrift|\binvoice\b|\bfacture\b|"
                    r"\bavoir\b|\bfactura\b|\bfattura\b|\bfactuur\b|\bcredit note\b|\bnota de crédito\b",
                    re.IGNORECASE)


#: A credit note's title ("Avoir AV-2017-0005", "Gutschrift Nr. 12", "Credit note 7"): its amounts
#: are given positive, as EN 16931 gives them (the document's type says it is a credit).
CREDIT_NOTE = re.compile(r"^\W*(?:avoir|gutschrift|rechnungskorrektur|credit note|credit memo|creditnota|"
                         r"nota di credito|nota de cr[ée]dito|factura rectificativa)\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _stems(words: tuple[str, ...]) -> re.Pattern:
    """Word stems, inside words too, the longest at a place winning (as a tree of their letters)."""
    return re.compile(_tree({_lower(w, strip=False) for w in words if w}, whole=False), re.IGNORECASE)


@lru_cache(maxsize=32768)
def other_end(name: str, text: str) -> int:
    """Where the last word stem announcing something else than field ``name`` ends in text, or -1."""
    words = NOT_FIELD.get(role(name))
    if not words or not text:
        return -1
    end = -1
    for m in _stems(words).finditer(text):
        end = m.end()
    return end


@lru_cache(maxsize=32768)
def title_end(text: str) -> int:
    """Where the last word naming the document (invoice, Rechnung, facture...) ends in text, or -1."""
    end = -1
    for m in _TITLE.finditer(text or ""):
        end = m.end()
    return end


#: Headings of a block that is neither party's name: the delivery address (BT-70, not the buyer).
DELIVERY = ("lieferadresse", "lieferanschrift", "warenempfänger", "lieferung an", "delivery address",
            "deliver to", "ship to", "shipping address", "adresse de livraison", "livraison", "livré à",
            "afleveradres", "leveringsadres", "dirección de entrega", "indirizzo di consegna", "destinazione")

#: Lines that are a label, never a value ("Anschrift", "Name", "Nummer" when the colon is lost).
LABEL_ONLY = frozenset((
    "name", "namen", "nom", "naam", "nombre", "nome", "anschrift", "adresse", "address", "indirizzo",
    "dirección", "adres", "nummer", "number", "numéro", "telefon", "telephone", "téléphone", "phone", "tel",
    "fax", "e-mail", "email", "mail", "bemerkung", "bemerkungen", "remarks", "notes", "note", "betreff",
    "subject", "objet", "ansprechpartner", "contact", "kontakt", "land", "country", "pays", "ort", "city",
    "ville", "plz", "postcode", "zip", "incoterms", "referenz", "reference", "référence", "datum", "date",
    # a document's header labels, each on its own line above or beside its value
    "your reference", "our reference", "your ref", "our ref", "agreement ref", "customer reference",
    "order reference", "votre référence", "notre référence", "vos références", "nos références", "réf marché",
    "référence client", "ihr zeichen", "unser zeichen", "ihre referenz", "unsere referenz", "ihre nachricht",
    "ihre bestellung", "sales contact", "contact commercial", "payment terms", "terms of payment",
    "conditions de paiement", "conditions de règlement", "mode de paiement", "zahlungsbedingungen",
    "zahlungsart", "lieferbedingungen", "delivery terms", "customer vat number", "vat number", "vat no",
    "tva client", "numéro de tva", "ust idnr", "ust id", "steuernummer", "tax id", "customer number",
    "customer no", "kundennummer", "kunden nr", "numéro client", "invoice date", "due date",
    "date de facture", "date échéance", "rechnungsdatum", "lieferdatum", "leistungsdatum", "delivery date",
    "date de livraison", "page", "seite",
))
