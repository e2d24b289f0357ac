"""Synthetic invoice lines: text a European invoice prints, rendered with real fonts, cut as pre-fill cuts.

The shipped recogniser (PP-OCRv5, trained mostly on Chinese and English) misreads what European
invoices are full of: ß, umlauts and accents, the euro sign, a space before € and %, 0 beside O in
codes. This module makes line images of exactly that, for the training loop to mix into a run's
training lines (``synthetic_lines``; never into validation: a run is judged on the project's own
pages), and a sheet of them for a person to look at::

    gen = SynthGenerator()                    # the shipped Latin charset, the fonts found on this machine
    line = gen.line(seed=0, index=7)          # SynthLine: gray crop, its text, where its ink is
    lines = gen.lines(3000, seed=0)           # line i depends on (seed, i, GENERATOR_VERSION) only
    python -m ml.synth --sheet out.png        # or: proofdesk synth-sheet out.png

**Text.** Invoice-like lines in German, French, English, Dutch, Spanish, Italian, Portuguese and
the Nordic languages, written for this module (small word lists, no data set's text): labels and
values ("Rechnungsnummer: RE-12345", "Date de facture : 13/11/2017"), amounts in every usual style
(1.234,56 €, € 1,234.56, £12.50, CHF 1'234.50, ¥1,200, 1 234,56 kr), percentages with and without
a space, dates, invoice numbers, item rows, addresses with ß, umlauts and accents, page numbers,
phone numbers, IBANs and VAT ids, codes mixing 0 and O; about a fifth of them in capitals (headings,
table heads, receipts). A word or a currency sign the recogniser's charset lacks (for the shipped
Latin head: Æ, Ø, À, Ê, Ñ, Ô, î, ï, œ, §, ...) is never used: :attr:`SynthGenerator.missing` lists
what was left out; the charset is read from the model, so a head with more classes gets more.

**Image.** The text is drawn with PIL's basic layout (FreeType; no HarfBuzz, so the same pixels
everywhere) in TrueType fonts Debian packages (DejaVu, Liberation, FreeFont; :data:`FONT_FILES`),
several sizes, regular, bold and italic, dark gray to black on white or a light tint, with real
spaces (the font's advance, sometimes widened between words: a wide gap is still one space). Some
lines get what surrounds a line on a page: a line above or below at a tight line spacing, a table
rule, a cell's tinted background; some are rotated by up to a degree. The line is then cut as
pre-fill cuts a region: the text's tight box (its ink, plus a small margin as a person or the
detector draws it) grown by the recogniser's context (``pad_x``, ``pad_y`` of
:class:`ml.neural.recognizer.RecognizeConfig`) and warped out with the same function
(:func:`ml.neural.recognizer.crop_quad`); gray, as pre-fill reads pages. Last, photometric
augmentations of :mod:`ml.augment` (contrast, blur, noise, JPEG, faded print). Geometric ones
that move or cut the crop's content (scale, crop, translate) are left out: they could push a
glyph out of the crop while its text stays in the label.

**Receipt style** (``receipt_share``, default 0; training parameter ``synthetic_receipt_share``):
that share of the lines are till-receipt lines instead, all capitals (:class:`_Receipt`, words in
:data:`RECEIPT_WORDS`, written for this module: item rows with quantities and prices, TOTAL /
SUBTOTAL / CASH / CHANGE / GST / TAX / ROUNDING lines with amounts in RM, $, S$, € and others,
dates and times, receipt and document numbers, registration numbers, phone numbers, addresses,
dotted and dashed leaders), in monospaced and condensed sans faces (:data:`RECEIPT_FONT_FILES`),
printed small (10-27 px, sometimes without anti-aliasing, sometimes condensed or with strokes run
thicker), blown up as a low-resolution scan is, with uneven ink (a smooth field times the print
head's bands, dropouts), specks, paper grain, a little skew, then fading, contrast, blur, noise and
JPEG. Whether line ``i`` is a receipt line is its own draw from ``(s, GENERATOR_VERSION, i, 1)``;
a receipt line is drawn from ``(s, GENERATOR_VERSION, i, 2)``, and every other line is exactly the
line of ``receipt_share=0``, so the invoice lines stay as they were and a larger share only turns
more of them into receipt lines. :meth:`SynthGenerator.describe` records the share, the receipt
fonts (with a sha256) and how many receipt lines there are.

Deterministic: line ``i`` of seed ``s`` comes from its own random generator seeded with
``(s, GENERATOR_VERSION, i)``; with the same fonts (:meth:`SynthGenerator.describe` records their
names and a sha256 of their files) and Pillow it is the same image. Change anything that changes
the output, and bump :data:`GENERATOR_VERSION`.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

#: Bumped whenever the same (seed, index) would give another line: runs record it.
GENERATOR_VERSION = 1

#: Where Debian puts the TrueType fonts of fonts-dejavu-core/-extra, fonts-liberation2 (or
#: fonts-liberation) and fonts-freefont-ttf; ``PROOFDESK_FONTS_DIR`` (paths joined by ``os.pathsep``)
#: is searched first.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation2",
             "/usr/share/fonts/truetype/liberation", "/usr/share/fonts/truetype/freefont",
             "/usr/share/fonts/truetype/noto")

#: The fonts, in a fixed order, each with its weight in the draw: sans faces (Arial-, Helvetica-,
#: Verdana-like) are what invoices mostly print in, then serif and monospaced ones.
FONT_FILES: tuple[tuple[str, float], ...] = (
    ("DejaVuSans.ttf", 3.0), ("DejaVuSans-Bold.ttf", 1.5), ("DejaVuSans-Oblique.ttf", 0.4),
    ("DejaVuSansCondensed.ttf", 2.0), ("DejaVuSansCondensed-Bold.ttf", 0.8),
    ("DejaVuSerif.ttf", 0.8), ("DejaVuSerif-Bold.ttf", 0.3), ("DejaVuSansMono.ttf", 0.6),
    ("LiberationSans-Regular.ttf", 4.0), ("LiberationSans-Bold.ttf", 2.0), ("LiberationSans-Italic.ttf", 0.5),
    ("LiberationSerif-Regular.ttf", 1.2), ("LiberationSerif-Bold.ttf", 0.4), ("LiberationMono-Regular.ttf", 0.6),
    ("FreeSans.ttf", 2.5), ("FreeSansBold.ttf", 1.2), ("FreeSansOblique.ttf", 0.3),
    ("FreeSerif.ttf", 0.8), ("FreeSerifBold.ttf", 0.3), ("FreeMono.ttf", 0.4),
)

#: The faces of receipt lines (``receipt_share``): what till printers print in, monospaced and
#: condensed sans, mostly bold (a thermal head's dots run together); the Noto monospaced faces
#: come with fonts-noto-mono and are used where found.
RECEIPT_FONT_FILES: tuple[tuple[str, float], ...] = (
    ("DejaVuSansMono.ttf", 1.5), ("DejaVuSansMono-Bold.ttf", 1.5), ("LiberationMono-Regular.ttf", 1.5),
    ("LiberationMono-Bold.ttf", 1.5), ("FreeMono.ttf", 0.3), ("FreeMonoBold.ttf", 1.2),
    ("NotoSansMono-Regular.ttf", 1.2), ("NotoSansMono-Bold.ttf", 1.2), ("NotoMono-Regular.ttf", 0.8),
    ("DejaVuSansCondensed.ttf", 1.2), ("DejaVuSansCondensed-Bold.ttf", 1.5), ("LiberationSans-Regular.ttf", 0.6),
    ("LiberationSans-Bold.ttf", 0.8), ("FreeSans.ttf", 0.3), ("FreeSansBold.ttf", 0.5),
)

# --------------------------------------------------------------------------- the words
# Written for this module: words and phrases an invoice of each language prints. Names, streets
# and firms are made up or generic.

LANGS: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {
        "title": ("Rechnung", "Handelsrechnung", "Gutschrift", "Lieferschein", "Angebot", "Auftragsbestätigung",
                  "Proforma-Rechnung", "Schlussrechnung", "Abschlagsrechnung", "Mahnung"),
        "label": ("Rechnungsnummer", "Rechnungsdatum", "Kundennummer", "Lieferdatum", "Leistungsdatum",
                  "Bestellnummer", "Auftragsnummer", "Steuernummer", "USt-IdNr.", "USt.-Id.-Nr.", "Fälligkeitsdatum",
                  "Zahlungsziel", "Ansprechpartner", "Lieferanschrift", "Rechnungsanschrift", "Bankverbindung",
                  "Verwendungszweck", "Währung", "Betreff", "Anschrift", "Käufer", "Verkäufer", "Leistungszeitraum",
                  "Geschäftsführer", "Amtsgericht", "Handelsregister", "Zahlungsart", "Lieferschein-Nr.",
                  "Bestell-Nr.", "Ihr Zeichen", "Unser Zeichen", "Bearbeiter", "Telefon", "Datum", "Seite",
                  "Gläubiger-ID", "Zählernummer", "Empfänger", "Warenempfänger", "Rechnungsempfänger"),
        "total": ("Gesamtbetrag", "Nettobetrag", "Bruttobetrag", "Zwischensumme", "Rechnungsbetrag", "Summe",
                  "Endbetrag", "Zahlbetrag", "MwSt.", "USt.", "Umsatzsteuer", "Mehrwertsteuer", "Rabatt", "Skonto",
                  "Versandkosten", "Summe der Abschläge", "Zuschläge", "Gebühren", "Anzahlung", "Gesamt netto",
                  "Gesamt brutto", "Offener Betrag", "Bereits gezahlt", "Rechnungssumme", "Nettopreis",
                  "Einzelpreis", "Gesamtpreis", "Steuerbetrag", "Basisbetrag", "Fracht"),
        "item": ("Kaffeebohnen", "Schraubendreher", "Bürostuhl", "Druckerpapier", "Trennblätter", "Kugelschreiber",
                 "Lötzinn", "Wärmepumpe", "Türschloss", "Glühbirne", "Gemüsebrühe", "Gewürzmischung", "Fußmatte",
                 "Stoßdämpfer", "Schlüsseldienst", "Wartung", "Montage", "Reparatur", "Beratung", "Lieferung",
                 "Versand", "Heizöl", "Bügeleisen", "Müllbeutel", "Spülmittel", "Frühstück", "Übernachtung",
                 "Schließfach", "Grüner Tee", "Weißwein", "Süßwaren", "Mineralwasser", "Kunstrasen grün",
                 "Holzdübel", "Dichtungsring", "Stahlträger", "Fräsarbeiten", "Prüfgebühr", "Anfahrtspauschale",
                 "Arbeitsstunden", "Ölfilter", "Zündkerzen", "Bremsbeläge", "Größe XL", "Gießkanne", "Bräter",
                 "Möbelpolitur", "Rückenlehne", "Käse", "Brötchen", "Äpfel", "Kühlschrank", "Staubsauger"),
        "unit": ("Stk.", "Std.", "kg", "m", "l", "Pck.", "Stück", "Paar", "Karton", "h", "m²", "Pauschal"),
        "street": ("Hauptstraße", "Bahnhofstraße", "Schloßallee", "Gartenstraße", "Lindenweg", "Mühlenweg",
                   "Königstraße", "Marktplatz", "Fröbelstraße", "Goethestraße", "Schillerplatz", "Müllerstraße",
                   "Grüner Weg", "Süderstraße", "Weißenburger Str.", "Große Bleiche", "Kreuzstraße", "Überseering",
                   "Am Mühlbach", "Lieferantenstraße", "Kundenstraße", "Industriestr.", "Gewerbepark Süd",
                   "Rößlegasse", "Fährweg", "Brückenstraße", "Hößlinstraße", "Straße des 17. Juni"),
        "city": ("München", "Köln", "Düsseldorf", "Nürnberg", "Würzburg", "Lübeck", "Göttingen", "Osnabrück",
                 "Saarbrücken", "Fürth", "Gießen", "Tübingen", "Mülheim an der Ruhr", "Lörrach", "Berlin", "Hamburg",
                 "Frankfurt am Main", "Stuttgart", "Leipzig", "Dresden", "Wien", "Graz", "Zürich", "Bülach",
                 "Völklingen", "Bad Tölz", "Straubing", "Ölbronn-Dürrn"),
        "zip": ("DE {z5}", "D-{z5}", "{z5}", "A-{z4}", "CH-{z4}"),
        "name": ("Jürgen Müller", "Björn Schäfer", "Käthe Weiß", "Günther Groß", "Sören Köhler", "Hans Mustermann",
                 "Anja Fuchs", "Jörg Bäcker", "Uwe Hößl", "Dr. Maria Schütz", "Frau Özdemir", "Herr Krüger",
                 "Bärbel Löhr", "Till Großmann"),
        "firm": ("Müller & Söhne GmbH", "Bäckerei Schäfer", "Weißer Elektro GmbH", "Großhandel Nord AG",
                 "Lieferant GmbH", "Kunden AG Mitte", "Möbelhaus Jäger e.K.", "Glück Software GmbH & Co. KG",
                 "Hößl Metallbau OHG", "Grünwerk UG (haftungsbeschränkt)", "Stadtwerke Fürth", "Büro König"),
        "phrase": ("Zahlbar innerhalb von {n} Tagen ohne Abzug.", "Bitte überweisen Sie den Betrag bis zum {date}.",
                   "Vielen Dank für Ihren Auftrag!", "Es gelten unsere Allgemeinen Geschäftsbedingungen.",
                   "Die Ware bleibt bis zur vollständigen Bezahlung unser Eigentum.", "Lieferung frei Haus",
                   "Rechnung gemäß Bestellung vom {date}", "Bei Zahlung bis {date} gewähren wir {pct} Skonto.",
                   "Leistungszeitraum: {date} bis {date}", "Bitte geben Sie bei Zahlung die Rechnungsnummer an.",
                   "Steuerschuldnerschaft des Leistungsempfängers", "Betrag dankend erhalten.",
                   "Wir berechnen Ihnen folgende Leistungen:", "Übertrag", "Zwischensumme Seite {p}",
                   "Skontoabzüge werden nicht akzeptiert.", "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet."),
        "page": ("Seite {p} von {n}", "Seite {p}/{n}", "Seite {p}", "Blatt {p}"),
        "months": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                   "November", "Dezember"),
        "tax": ("MwSt.", "USt.", "MwSt", "Umsatzsteuer", "MwSt.-%", "USt-Satz"),
        "iban": ("DE",), "vat": ("DE{d9}", "ATU{d8}", "CHE-{d3}.{d3}.{d3} MWST"),
    },
    "fr": {
        "title": ("Facture", "Avoir", "Devis", "Bon de livraison", "Facture d'acompte", "Facture proforma",
                  "Note de frais", "Relevé de compte"),
        "label": ("Date de facture", "N° de facture", "Numéro de client", "Échéance", "Date d'échéance",
                  "Référence", "Adresse de livraison", "Adresse de facturation", "Siège social", "Mode de paiement",
                  "Conditions de paiement", "N° TVA intracommunautaire", "Téléphone", "Émetteur", "Destinataire",
                  "Votre commande", "Date de livraison", "Période", "Interlocuteur", "Objet", "Code client"),
        "total": ("Total HT", "Total TTC", "TVA", "Montant", "Montant HT", "Remise", "Acompte", "Solde à payer",
                  "Net à payer", "Frais de port", "Sous-total", "Prix unitaire", "Total taxes", "Escompte",
                  "Montant réglé", "Reste dû", "Éco-participation"),
        "item": ("Nougat de l'Abbaye 250g", "Huile d'olive à l'ancienne", "Crème brûlée", "Pâtisserie", "Café moulu",
                 "Thé vert", "Gâteau au chocolat", "Nuit d'hôtel", "Petit-déjeuner", "Réparation", "Main-d'œuvre",
                 "Déplacement", "Prestation de conseil", "Fenêtre PVC", "Tête de lit", "Pâté de campagne",
                 "Côtes-du-Rhône", "Château Margaux", "Bûche de Noël", "Confiture de mûres", "Sirop d'érable",
                 "Fromage râpé", "Biscuits aux raisins 300g", "Élagage", "Entretien chaudière", "Reçu"),
        "unit": ("pce", "h", "kg", "m", "l", "lot", "forfait", "jour", "m²", "u."),
        "street": ("rue de la Paix", "avenue des Champs-Élysées", "boulevard Saint-Michel", "place de l'Église",
                   "chemin des Prés", "rue du Général-de-Gaulle", "allée des Châtaigniers", "impasse du Moulin",
                   "chemin de l'olive", "quai de la Rapée", "rue Lepic", "cours Mirabeau", "route de Genève"),
        "city": ("Paris", "Lyon", "Besançon", "Orléans", "Nîmes", "Béziers", "Angoulême", "Châteauroux",
                 "Valenciennes", "Saint-Étienne", "Malaucène", "Genève", "Neuchâtel", "Bruxelles", "Liège",
                 "Montréal", "Québec", "Sète", "Fréjus", "Évry", "Île de la Réunion", "Saint-Denis"),
        "zip": ("{z5}", "F-{z5}", "B-{z4}", "CH-{z4}"),
        "name": ("Stéphanie Hoarau", "Hélène Dubois", "François Lefèvre", "Jérôme Giraud", "Amélie Rivière",
                 "Noël Chénier", "Gaëlle Fabre", "M. Benoît Pérez", "Mme Léa Guérin", "Anaïs Mercier"),
        "firm": ("Au bon moulin SARL", "Ma jolie boutique", "Hôtel Saint Denis", "Boulangerie Lefèvre",
                 "Société Générale de Crème", "Les Délices d'Élise", "Garage du Château SAS", "Pâtisserie Dupré"),
        "phrase": ("Merci de votre confiance !", "Facture à régler par virement sur le compte suivant :",
                   "Paiement à {n} jours fin de mois.", "Pénalités de retard : trois fois le taux d'intérêt légal",
                   "Escompte pour paiement anticipé : néant", "TVA non applicable, art. 293 B du CGI",
                   "Indemnité forfaitaire pour frais de recouvrement : 40 €", "Paiement immédiat",
                   "{pct} d'acompte, solde à {n} jours", "Exonération de TVA selon l'article 262 du CGI",
                   "Date limite de règlement : {date}", "Aucun escompte ne sera accordé."),
        "page": ("Page {p} / {n}", "Page {p} sur {n}", "Page {p}/{n}", "p. {p}"),
        "months": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                   "novembre", "décembre"),
        "tax": ("TVA", "T.V.A.", "Taux TVA"),
        "iban": ("FR", "BE", "CH"), "vat": ("FR{d2}{d9}", "FR {d2} {d3} {d3} {d3}", "BE0{d9}", "SIRET {d3} {d3} {d3} {d5}"),
    },
    "en": {
        "title": ("Invoice", "Tax Invoice", "Credit Note", "Receipt", "Statement", "Quote", "Purchase Order",
                  "Delivery Note", "Pro Forma Invoice"),
        "label": ("Invoice No.", "Invoice Number", "Invoice Date", "Due Date", "Bill To", "Ship To", "Customer ID",
                  "Order No.", "PO Number", "Account Number", "Sort Code", "Reference", "Payment Terms", "Salesperson",
                  "Shipment Method", "Payment Method", "Your Reference", "VAT Number", "Tax ID", "Delivery Address",
                  "Customer VAT Number", "Company No.", "Phone", "Email", "Contact"),
        "total": ("Subtotal", "Sales Tax", "VAT", "Total", "Total Due", "Amount Due", "Balance", "Balance Due",
                  "Rounding", "Cash", "Change", "Total Qty", "Total Sales (Inclusive of Tax)", "Tendered",
                  "Net Total", "Total Incl. VAT", "Total Excl. VAT", "Discount", "Shipping", "Deposit", "Tax Total",
                  "Unit Price", "Amount", "Paid", "Grand Total"),
        "item": ("Consulting services", "Widget, blue", "Office chair", "Printer paper A4", "Hot air (litres)",
                 "Software licence", "Annual support", "Travel expenses", "Hourly rate", "Shipping & handling",
                 "Web hosting", "Design work", "Café latte", "Résumé review", "Naïve art print", "Piñata",
                 "Garbage bag (blue)", "Toilet brush", "Windscreen cleaner 120ml", "Mineral water 1.5L",
                 "Chicken rice", "Iced lemon tea", "Notebook A5", "Door stopper", "Rubber gloves (M)"),
        "unit": ("pcs", "hrs", "ea", "box", "kg", "ft", "set", "month", "h", "pc"),
        "street": ("Baker Street", "Downing St.", "Main Street, Suite 200", "Station Road", "High Street",
                   "Church Lane", "Park Avenue", "Elm Street", "Queen's Road", "Victoria Embankment"),
        "city": ("London", "Manchester", "Dublin 2", "New York, NY", "Springfield, IL", "Edinburgh", "Cardiff",
                 "Boston, MA", "Toronto, ON", "Sydney NSW", "Birmingham", "Cork"),
        "zip": ("SW1A 1AA", "M1 1AE", "EC1V 9HX", "{z5}", "{z5}-{z4}", "D02 X285"),
        "name": ("John Smith", "Mary O'Brien", "David Jones", "Sarah Connor", "Chloë Evans", "Zoë Brown",
                 "Renée Walker", "Attn: Accounts Payable"),
        "firm": ("CRONUS UK Ltd.", "Global Supplies Ltd", "Acme Corp.", "Northwind Traders Inc.", "Smith & Sons plc",
                 "Blue Sky LLC", "Contoso Ltd."),
        "phrase": ("Thank you for your business!", "Payment due within {n} days.",
                   "Invoice to pay by wire transfer to the following bank account:", "Please quote the invoice number.",
                   "Net {n}", "All amounts in {cur}", "Late payments are subject to a {pct} monthly fee.",
                   "Goods remain our property until paid in full.", "E&OE", "Thank you. Please come again.",
                   "Goods sold are not returnable.", "Keep this receipt for returns.", "Tax Invoice",
                   "Strictly no cash refund.", "Prices include tax where applicable."),
        "page": ("Page {p} of {n}", "Page {p} / {n}", "Page {p}/{n}", "{p} of {n}"),
        "months": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                   "November", "December"),
        "tax": ("VAT", "Tax", "GST", "Sales tax"),
        "iban": ("GB", "IE"), "vat": ("GB{d3} {d4} {d2}", "IE{d7}A", "EIN {d2}-{d7}"),
    },
    "nl": {
        "title": ("Factuur", "Creditnota", "Offerte", "Pakbon", "Orderbevestiging"),
        "label": ("Factuurnummer", "Factuurdatum", "Vervaldatum", "Klantnummer", "Omschrijving", "Referentie",
                  "Afleveradres", "Betalingstermijn", "BTW-nummer", "KvK-nummer", "Ordernummer", "Uw kenmerk",
                  "Leverdatum", "Contactpersoon"),
        "total": ("Subtotaal", "BTW", "Totaal", "Te betalen", "Bedrag", "Korting", "Verzendkosten", "Totaal excl. BTW",
                  "Totaal incl. BTW", "Prijs", "Aanbetaling"),
        "item": ("Koffiebonen", "Bureaustoel", "Bijlage", "Tijdschrift", "Ijzerwaren", "Reparatie", "Adviesuren",
                 "Schoonmaak", "Huur", "Rijwiel", "Stroopwafels", "Kaas", "Ideeënbus", "Coördinatie", "Drukwerk"),
        "unit": ("st.", "uur", "kg", "m", "doos", "stuks"),
        "street": ("Rijksweg", "Dijkstraat", "Keizersgracht", "Prinsengracht", "Kerkstraat", "Stationsplein",
                   "Molenweg", "Wijnhaven", "Havenstraat", "Zuiderzeeweg"),
        "city": ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "IJmuiden", "Zwijndrecht",
                 "Antwerpen", "Gent", "'s-Hertogenbosch"),
        "zip": ("{z4} AB", "{z4} CJ", "{z4}", "B-{z4}"),
        "name": ("Jan de Vries", "Pieter van Dijk", "Anneke Bijl", "Joëlle Peeters", "Sanne IJsselstein"),
        "firm": ("Bakkerij de Wijk B.V.", "Van Dijk & Zonen", "Tijdwerk BV", "Rijnmond Handel N.V."),
        "phrase": ("Betaling binnen {n} dagen.", "Wij verzoeken u het bedrag binnen {n} dagen over te maken.",
                   "Bedankt voor uw bestelling!", "BTW verlegd", "Onder vermelding van het factuurnummer."),
        "page": ("Pagina {p} van {n}", "Blad {p} van {n}", "Pagina {p}/{n}"),
        "months": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                   "oktober", "november", "december"),
        "tax": ("BTW", "Btw"),
        "iban": ("NL", "BE"), "vat": ("NL{d9}B01", "BE0{d9}", "KvK {d8}"),
    },
    "es": {
        "title": ("Factura", "Factura simplificada", "Abono", "Presupuesto", "Albarán"),
        "label": ("Número de factura", "Fecha", "Fecha de vencimiento", "Cliente", "Descripción", "Forma de pago",
                  "Dirección", "NIF", "CIF", "Teléfono", "Referencia", "Pedido nº", "Condiciones"),
        "total": ("Base imponible", "IVA", "Total", "Importe", "Subtotal", "Descuento", "Total a pagar", "Cantidad",
                  "Precio unitario", "Recargo de equivalencia", "Retención IRPF"),
        "item": ("Café con leche", "Jamón ibérico", "Aceite de oliva", "Reparación", "Diseño gráfico", "Año completo",
                 "Señalización", "Piñones", "Limpieza", "Mantenimiento", "Consultoría", "Envío urgente"),
        "unit": ("ud.", "h", "kg", "m", "caja"),
        "street": ("Calle Mayor", "Avenida de la Constitución", "Plaza de España", "Calle de Alcalá", "Paseo de Gràcia",
                   "Calle Núñez de Balboa", "Ronda de Segovia"),
        "city": ("Madrid", "Barcelona", "Málaga", "Córdoba", "León", "Cádiz", "A Coruña", "Logroño", "Almería",
                 "Ávila", "Jaén"),
        "zip": ("{z5}",),
        "name": ("José García", "María Núñez", "Íñigo Martínez", "Begoña López", "Sr. Muñoz", "Ángela Ibáñez"),
        "firm": ("Hermanos Peña S.L.", "Distribuciones Málaga S.A.", "Panadería Señorío", "Muñoz y Asociados S.L.U."),
        "phrase": ("Gracias por su compra.", "Pago mediante transferencia bancaria.", "Vencimiento a {n} días.",
                   "Operación exenta de IVA.", "Página {p} de {n}"),
        "page": ("Página {p} de {n}", "Pág. {p}/{n}"),
        "months": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                   "octubre", "noviembre", "diciembre"),
        "tax": ("IVA", "I.V.A."),
        "iban": ("ES",), "vat": ("ESB{d8}", "B{d8}", "ESA{d8}"),
    },
    "it": {
        "title": ("Fattura", "Fattura elettronica", "Nota di credito", "Preventivo", "Documento di trasporto"),
        "label": ("Numero fattura", "Data", "Scadenza", "Cliente", "Descrizione", "Partita IVA", "Codice fiscale",
                  "Modalità di pagamento", "Indirizzo", "Riferimento", "Codice destinatario"),
        "total": ("Imponibile", "IVA", "Totale", "Totale documento", "Sconto", "Quantità", "Prezzo unitario",
                  "Importo", "Spese di trasporto", "Netto a pagare", "Ritenuta d'acconto"),
        "item": ("Caffè espresso", "Attività di consulenza", "Più servizi", "Manutenzione", "Olio extravergine",
                 "Parmigiano Reggiano", "Trasporto", "Noleggio", "Città e dintorni", "Perché no"),
        "unit": ("pz", "ore", "kg", "m", "cf."),
        "street": ("Via Roma", "Piazza del Duomo", "Corso Vittorio Emanuele II", "Via Garibaldi", "Viale Europa",
                   "Via dell'Artigianato"),
        "city": ("Roma", "Milano", "Torino", "Napoli", "Forlì", "Cantù", "Bologna", "Firenze", "Genova"),
        "zip": ("{z5}",),
        "name": ("Mario Rossi", "Niccolò Bianchi", "Lucia Mancini", "Sig.ra Della Rocca"),
        "firm": ("Rossi & Figli S.r.l.", "Caffè Centrale S.p.A.", "Officina Nicolò S.n.c."),
        "phrase": ("Grazie per la fiducia.", "Pagamento tramite bonifico bancario.", "Pagamento a {n} giorni data fattura.",
                   "Operazione soggetta a scissione dei pagamenti"),
        "page": ("Pagina {p} di {n}", "Pag. {p}/{n}"),
        "months": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
                   "ottobre", "novembre", "dicembre"),
        "tax": ("IVA",),
        "iban": ("IT",), "vat": ("IT{d9}{d2}", "P.IVA {d9}{d2}"),
    },
    "pt": {
        "title": ("Fatura", "Fatura-recibo", "Nota de crédito", "Orçamento", "Recibo"),
        "label": ("Número da fatura", "Data de emissão", "Vencimento", "Cliente", "Descrição", "NIF", "Morada",
                  "Condições de pagamento", "Referência", "Contribuinte nº"),
        "total": ("Total", "IVA", "Valor", "Subtotal", "Desconto", "Quantidade", "Preço unitário", "Total a pagar",
                  "Base tributável", "Retenção na fonte"),
        "item": ("Serviços de manutenção", "Informação técnica", "Promoção", "Pão de ló", "Açúcar", "Instalação",
                 "Formação", "Conceção gráfica", "Deslocação"),
        "unit": ("un.", "h", "kg", "m", "cx."),
        "street": ("Rua Augusta", "Avenida da Liberdade", "Praça do Comércio", "Rua de São João", "Travessa da Conceição"),
        "city": ("Lisboa", "Porto", "Coimbra", "Braga", "Évora", "São Paulo", "Guimarães", "Setúbal"),
        "zip": ("{z4}-{z3}",),
        "name": ("João Gonçalves", "Conceição Araújo", "António Simões", "Inês Guimarães"),
        "firm": ("Gonçalves & Filhos, Lda.", "Padaria São Bento", "Informação Útil S.A."),
        "phrase": ("Obrigado pela preferência.", "Pagamento por transferência bancária.",
                   "Processado por programa certificado", "IVA autoliquidação"),
        "page": ("Página {p} de {n}", "Pág. {p}/{n}"),
        "months": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
                   "outubro", "novembro", "dezembro"),
        "tax": ("IVA",),
        "iban": ("PT",), "vat": ("PT{d9}", "NIF {d9}"),
    },
    "nordic": {
        "title": ("Faktura", "Kreditnota", "Lasku", "Kvittering", "Tilbud", "Følgeseddel", "Påminnelse"),
        "label": ("Fakturanummer", "Fakturadatum", "Förfallodatum", "Kundnummer", "Fakturadato", "Forfaldsdato",
                  "Forfallsdato", "Beskrivning", "Beskrivelse", "Er reference", "Vår referens", "Organisationsnummer",
                  "Org.nr.", "CVR-nr.", "Bankgiro", "Kontonummer", "Betalingsbetingelser", "Eräpäivä",
                  "Laskun numero", "Päivämäärä", "Viitenumero", "Leveransadress", "Leveringsadresse"),
        "total": ("Att betala", "Moms", "MVA", "Belopp", "Beløb", "Beløp", "I alt", "Totalt", "Summa", "Yhteensä",
                  "ALV", "Rabat", "Rabatt", "Frakt", "Netto", "Öresavrundning", "Å betale", "Mva-grunnlag"),
        "item": ("Kaffebönor", "Kontorsstol", "Smørrebrød", "Bøger", "Kød og pålæg", "Rågbröd", "Kaffe och kaka",
                 "Städning", "Konsultation", "Reparasjon", "Frakt och hantering", "Hämtning", "Kärra", "Måltid",
                 "Överföring", "Jäätelö", "Työtunnit", "Övernattning", "Kjøkkenbenk", "Brød", "Blåbär", "Tårta",
                 "Fönsterbåge", "Vårdprodukter", "Påfyllning", "Gråsten"),
        "unit": ("st", "tim", "kg", "m", "stk.", "timer", "kpl", "h"),
        "street": ("Storgatan", "Drottninggatan", "Nørregade", "Kongens Gate", "Vesterbrogade", "Mannerheimintie",
                   "Götgatan", "Skolegade", "Åsgatan", "Kärrtorpsvägen", "Bryggen", "Vårvägen", "Strandvägen"),
        "city": ("Stockholm", "Göteborg", "Malmö", "Västerås", "Örebro", "Linköping", "Jönköping", "Umeå", "Gävle",
                 "København", "Århus", "Aalborg", "Næstved", "Tromsø", "Bærum", "Helsinki", "Jyväskylä",
                 "Hämeenlinna", "Bergen", "Oslo"),
        "zip": ("{z3} {z2}", "{z4}", "SE-{z3} {z2}", "DK-{z4}", "N-{z4}", "FI-{z5}"),
        "name": ("Björn Åkesson", "Sören Nørgaard", "Åsa Lindström", "Jens Kjær", "Mikko Mäkinen", "Øystein Berg",
                 "Märta Öberg", "Ragnhild Sæther"),
        "firm": ("Åkesson & Söner AB", "Nørgaard ApS", "Bryggeri Kjær A/S", "Mäkinen Oy", "Sæther AS",
                 "Östra Bygg AB"),
        "phrase": ("Tack för din beställning!", "Mange tak for handlen.", "Betalning inom {n} dagar.",
                   "Betales senest {date}.", "Kiitos tilauksestanne!", "Dröjsmålsränta {pct}", "Omvänd skattskyldighet"),
        "page": ("Sida {p} av {n}", "Side {p} af {n}", "Side {p} av {n}", "Sivu {p}/{n}", "Sida {p}"),
        "months": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
                   "oktober", "november", "december"),
        "tax": ("Moms", "MVA", "ALV", "Moms"),
        "iban": ("SE", "DK", "NO", "FI"), "vat": ("SE{d9}{d3}", "DK{d8}", "NO{d9}MVA", "FI{d8}", "{d6}-{d4}"),
    },
}

#: How often a line is in each language (the shipped set and its users: mostly German).
LANG_WEIGHTS = {"de": 0.30, "fr": 0.15, "en": 0.18, "nl": 0.07, "es": 0.07, "it": 0.07, "pt": 0.06, "nordic": 0.10}

#: Currencies: (sign or code, where it goes, digit style, decimals). Styles: "de" 1.234,56; "en"
#: 1,234.56; "fr" 1 234,56; "ch" 1'234.50; "in" 1,23,456.00 (lakh grouping).
CURRENCIES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "de": (("€", "after", "de", 2), ("EUR", "after", "de", 2), ("EUR", "before", "de", 2), ("€", "before", "de", 2),
           ("CHF", "before", "ch", 2), ("Fr.", "before", "ch", 2), ("€", "after", "de", 2)),
    "fr": (("€", "after", "fr", 2), ("€", "after", "de", 2), ("EUR", "after", "fr", 2), ("CHF", "after", "ch", 2),
           ("€", "after", "fr", 2)),
    "en": (("£", "before", "en", 2), ("$", "before", "en", 2), ("€", "before", "en", 2), ("€", "after", "en", 2),
           ("USD", "before", "en", 2), ("GBP", "after", "en", 2), ("US$", "before", "en", 2), ("¥", "before", "en", 0),
           ("JPY", "before", "en", 0), ("₹", "before", "in", 2), ("INR", "before", "in", 2), ("Rs.", "before", "in", 2)),
    "nl": (("€", "before", "de", 2), ("€", "after", "de", 2), ("EUR", "before", "de", 2)),
    "es": (("€", "after", "de", 2), ("EUR", "after", "de", 2)),
    "it": (("€", "before", "de", 2), ("€", "after", "de", 2), ("EUR", "before", "de", 2)),
    "pt": (("€", "after", "fr", 2), ("€", "after", "de", 2), ("R$", "before", "de", 2)),
    "nordic": (("kr", "after", "fr", 2), ("SEK", "after", "fr", 2), ("DKK", "before", "de", 2), ("NOK", "after", "fr", 2),
               ("kr.", "after", "de", 2), ("€", "after", "fr", 2), ("EUR", "after", "fr", 2)),
}

_CODE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CODE_PREFIX = ("INV", "RE", "FA", "R", "AB", "PO", "KD", "ORD", "LS", "GS", "F", "FV", "NO", "OP", "Art.-Nr. ",
                "Ref. ", "No. ", "Nr. ", "N° ", "#", "Pos. ")


# --------------------------------------------------------------------------- the texts
class _Text:
    """Invoice-like strings from one random generator; every piece passes ``ok`` (the charset)."""

    def __init__(self, rng: np.random.Generator, ok: Callable[[str], bool]):
        self.rng, self.ok = rng, ok

    def pick(self, items: Sequence[str]) -> str:
        good = [s for s in items if self.ok(s)]
        return str(good[int(self.rng.integers(len(good)))]) if good else ""

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def digits(self, n: int) -> str:
        return "".join(str(int(d)) for d in self.rng.integers(0, 10, n))

    # -- numbers
    def number(self, value: float, style: str, decimals: int) -> str:
        neg = value < 0
        q = f"{abs(value):.{decimals}f}"
        whole, _, frac = q.partition(".")
        sep, dec = {"de": (".", ","), "en": (",", "."), "fr": (" ", ","), "ch": (self.pick(("'", "’")), "."),
                    "in": (",", ".")}[style]
        if style == "in" and len(whole) > 3:
            head, tail = whole[:-3], whole[-3:]
            groups = []
            while len(head) > 2:
                groups.insert(0, head[-2:])
                head = head[:-2]
            whole = ",".join(([head] if head else []) + groups + [tail])
        elif len(whole) > 3 and not self.chance(0.2 if style != "fr" else 0.1):  # some print no grouping
            parts = []
            while len(whole) > 3:
                parts.insert(0, whole[-3:])
                whole = whole[:-3]
            whole = sep.join([whole] + parts)
        out = whole + (dec + frac if decimals else "")
        return ("-" + out) if neg else out

    def value(self) -> float:
        r = self.rng.random()
        if r < 0.08:
            return float(self.rng.integers(0, 100)) / 100
        if r < 0.55:
            return float(self.rng.integers(100, 100_000)) / 100
        if r < 0.9:
            return float(self.rng.integers(100_000, 10_000_000)) / 100
        return float(self.rng.integers(10_000_000, 1_000_000_000)) / 100

    def amount(self, lang: str, plain: bool = False) -> str:
        """An amount as invoices print it: sign or code before or after, with or without a space."""
        sign, where, style, decimals = self._currency(lang)
        v = self.value() * (-1 if self.chance(0.06) else 1)
        if decimals == 0:
            v = float(round(v * 10))
        num = self.number(v, style, decimals)
        if plain or self.chance(0.25):
            return num
        if where == "after":
            gap = " " if (len(sign) > 1 or self.chance(0.7)) else ""
            return num + gap + sign
        gap = " " if (len(sign) > 1 and sign[-1] not in ".$") or self.chance(0.25) else ""
        if num.startswith("-") and len(sign) == 1:  # -€73.25: the minus comes before a sign
            return "-" + sign + gap + num[1:]
        return sign + gap + num

    def _currency(self, lang: str) -> tuple[str, str, str, int]:
        options = [c for c in CURRENCIES[lang] if self.ok(c[0])]
        return options[int(self.rng.integers(len(options)))]

    def percent(self, lang: str) -> str:
        rate = self.pick(("19", "7", "20", "21", "10", "5,5", "5.5", "2,1", "16", "25", "24", "0", "8,1", "22",
                          "6", "12", "15", "2", "3", "19,0", "7,00", "20,00", "2,00"))
        if lang == "en" or lang == "nl" and self.chance(0.5):
            rate = rate.replace(",", ".")
        return rate + (" %" if self.chance(0.55) else "%")

    def date(self, lang: str) -> str:
        y, m, d = int(self.rng.integers(2010, 2031)), int(self.rng.integers(1, 13)), int(self.rng.integers(1, 29))
        r = self.rng.random()
        months = LANGS[lang]["months"]
        if r < 0.35:
            return f"{d:02d}.{m:02d}.{y}"
        if r < 0.55:
            return f"{d:02d}/{m:02d}/{y}"
        if r < 0.7:
            return f"{y}-{m:02d}-{d:02d}"
        if r < 0.78:
            return f"{d:02d}-{m:02d}-{y}"
        if r < 0.83:
            return f"{d}.{m}.{str(y)[2:]}"
        if lang == "en":
            return f"{months[m - 1]} {d}, {y}" if self.chance(0.6) else f"{d} {months[m - 1][:3]} {y}"
        if lang == "de":
            return f"{d}. {months[m - 1]} {y}"
        return f"{d} {months[m - 1]} {y}"

    def code(self) -> str:
        """Invoice numbers and references: digits with letters, 0 next to O, slashes and dashes."""
        y = int(self.rng.integers(2010, 2031))
        r = self.rng.random()
        if r < 0.15:
            return f"INV/{y}/{int(self.rng.integers(1, 13)):02d}/{self.digits(4)}"
        if r < 0.3:
            return f"{self.pick(('FA', 'RE', 'AR', 'FV', 'GS', 'R', 'F'))}-{y}-{self.digits(int(self.rng.integers(3, 6)))}"
        if r < 0.42:
            return f"{self.pick(('RE', 'INV', 'KD', 'LS', 'AB'))}-{self.digits(int(self.rng.integers(4, 7)))}"
        if r < 0.5:  # letters (O among them) beside digits (0 among them): KOP05, GO-2040, OB00712, SX-575
            letters = "".join(self.pick("OOABCDEGHKLMNPRSTUWXZ") for _ in range(int(self.rng.integers(1, 4))))
            digits = "".join(self.pick("00123456789") for _ in range(int(self.rng.integers(2, 7))))
            sep = self.pick(("", "", "-", " ", "/"))
            return letters + sep + digits if self.chance(0.7) else digits + sep + letters
        if r < 0.58:
            return f"{self.digits(int(self.rng.integers(5, 10)))}"
        if r < 0.65:  # item codes ending in a letter: 74C, 1851-B
            return f"{self.digits(int(self.rng.integers(2, 5)))}{self.pick(('', '-'))}{self.pick(_CODE_LETTERS)}"
        if r < 0.75:
            return f"{self.pick(_CODE_LETTERS)}{self.digits(2)}-{self.digits(2)}"
        if r < 0.85:
            return f"{self.digits(2)}.{self.digits(3)}.{self.digits(3)}.{self.digits(1)}-{y}-{self.digits(1)}"
        return f"{self.pick(_CODE_LETTERS)}{self.pick(_CODE_LETTERS)}{self.digits(3)}{self.pick(_CODE_LETTERS)}"

    def iban(self, lang: str) -> str:
        cc = self.pick(LANGS[lang]["iban"])
        n = {"DE": 20, "FR": 25, "BE": 14, "CH": 19, "GB": 20, "IE": 20, "NL": 16, "ES": 22, "IT": 25, "PT": 23,
             "SE": 22, "DK": 16, "NO": 13, "FI": 16}.get(cc, 18)
        body = self.digits(n)
        if cc in ("GB", "IE", "NL"):
            body = "".join(self.pick(_CODE_LETTERS) for _ in range(4)) + body[4:]
        s = cc + self.digits(2) + body
        grouped = " ".join(s[i : i + 4] for i in range(0, len(s), 4)) if self.chance(0.7) else s
        return self.pick(("IBAN: ", "IBAN ", "IBAN : ", "")) + grouped

    def bic(self) -> str:
        letters = "".join(self.pick(_CODE_LETTERS) for _ in range(6))
        return letters + self.pick(("XXX", "2X", "FF", "MM", "22", "B1")) if self.chance(0.8) else letters + "2L"

    def phone(self, lang: str) -> str:
        cc = {"de": "+49", "fr": "+33", "en": "+44", "nl": "+31", "es": "+34", "it": "+39", "pt": "+351",
              "nordic": "+46"}[lang]
        r = self.rng.random()
        if r < 0.35:
            return f"{cc} {self.digits(2)} {self.digits(4)} {self.digits(4)}"
        if r < 0.55:
            return f"{cc} (0){self.digits(2)} {self.digits(6)}-{self.digits(1)}"
        if r < 0.7:
            return f"0{self.digits(3)} / {self.digits(3)} {self.digits(2)} {self.digits(2)}"
        if r < 0.85:
            return " ".join(["0" + self.digits(1)] + [self.digits(2) for _ in range(4)])
        return f"({self.digits(3)}) {self.digits(3)}-{self.digits(4)}"

    def fill(self, template: str, lang: str) -> str:
        out = template
        for key, make in (("{date}", lambda: self.date(lang)), ("{n}", lambda: str(self.pick(("7", "8", "10", "14",
                          "20", "30", "45", "60")))), ("{p}", lambda: str(int(self.rng.integers(1, 5)))),
                          ("{pct}", lambda: self.percent(lang)), ("{cur}", lambda: self._currency(lang)[0])):
            while key in out:
                out = out.replace(key, make(), 1)
        return out

    def zipcode(self, lang: str) -> str:
        z = self.pick(LANGS[lang]["zip"])
        for k in ("z5", "z4", "z3", "z2"):
            while "{" + k + "}" in z:
                z = z.replace("{" + k + "}", self.digits(int(k[1])), 1)
        return z

    def vat(self, lang: str) -> str:
        v = self.pick(LANGS[lang]["vat"])
        for k in ("d9", "d8", "d7", "d6", "d5", "d4", "d3", "d2"):
            while "{" + k + "}" in v:
                v = v.replace("{" + k + "}", self.digits(int(k[1:])), 1)
        return v

    # -- lines
    def line(self) -> tuple[str, str]:
        """``(language, text)`` of one line."""
        langs = list(LANG_WEIGHTS)
        lang = langs[int(self.rng.choice(len(langs), p=np.array(list(LANG_WEIGHTS.values())) / sum(LANG_WEIGHTS.values())))]
        kinds = (("label_value", 0.2), ("total", 0.15), ("amount", 0.09), ("item", 0.12), ("address", 0.12),
                 ("phrase", 0.07), ("page", 0.04), ("date", 0.04), ("ident", 0.08), ("percent", 0.04),
                 ("title", 0.02), ("footer", 0.03))
        w = np.array([k[1] for k in kinds])
        kind = kinds[int(self.rng.choice(len(kinds), p=w / w.sum()))][0]
        text = getattr(self, "_" + kind)(lang)
        # Capitals: headings and table heads, and whole documents (receipts, some invoices). Without
        # them a model tuned on these lines reads capitals worse (O as 0, M as H, words in mixed case).
        if self.chance(0.3 if kind in ("title", "label_value", "total", "address", "item") else 0.12):
            up = text.upper()  # ß becomes SS, as str.upper does
            if self.ok(up):
                text = up
        return lang, " ".join(text.split())

    def _sep(self, lang: str) -> str:
        if lang == "fr":
            return self.pick((" : ", " : ", ": ", " "))
        return self.pick((": ", ": ", ": ", " ", " : ", ":")) if self.chance(0.9) else " - "

    def _label_value(self, lang: str) -> str:
        label = self.pick(LANGS[lang]["label"])
        if self.chance(0.08):
            return f"{label}{self._sep(lang).rstrip()}"  # a label alone, its value in another column
        return f"{label}{self._sep(lang)}{self.value_for(label, lang)}"

    def value_for(self, label: str, lang: str) -> str:
        """A value that goes with ``label``: a date after a date label, a VAT id after a tax label..."""
        low = label.lower()
        if any(k in low for k in ("datum", "date", "fecha", "data", "dato", "päivä", "échéance", "vencimiento",
                                  "scadenza", "vencimento", "förfallo", "forfald", "forfall", "period", "zeitraum")):
            return self.date(lang)
        if any(k in low for k in ("ust", "tva", "vat", "nif", "cif", "btw", "partita", "fiscale", "steuer", "org",
                                  "cvr", "kvk", "tax", "contribuinte", "company", "siège", "handelsreg", "amtsger")):
            return self.vat(lang)
        if re.search(r"\b(tel|tél|phone|fax)", low):
            return self.phone(lang)
        if any(k in low for k in ("bank", "iban", "konto", "account", "giro")):
            return self.iban(lang)
        if any(k in low for k in ("währung", "currency", "devise")):
            return self.pick(("EUR", "CHF", "GBP", "USD", "SEK", "DKK", "NOK", "JPY"))
        if any(k in low for k in ("seite", "page", "pagina", "página")):
            return self._page(lang)
        if any(k in low for k in ("zahlungsziel", "termijn", "conditions", "condições", "condiciones", "terms",
                                  "betingelser", "zahlungsart", "paiement", "pagamento", "pago", "payment")):
            return self.fill(self.pick(LANGS[lang]["phrase"]), lang)
        if any(k in low for k in ("anschrift", "adresse", "address", "adres", "dirección", "indirizzo", "morada",
                                  "adress")):
            return self._address(lang)
        if any(k in low for k in ("partner", "contact", "käufer", "verkäufer", "empfänger", "bill", "ship", "client",
                                  "klant", "kunde", "destinataire", "émetteur", "bearbeiter", "interlocuteur",
                                  "salesperson", "geschäftsführer", "contactpersoon", "referens", "reference")):
            return self.pick(LANGS[lang]["name"] + LANGS[lang]["firm"]) if self.chance(0.7) else self.code()
        return self.code()

    def _total(self, lang: str) -> str:
        label = self.pick(LANGS[lang]["total"])
        r = self.rng.random()
        if r < 0.25:
            tax = self.pick(LANGS[lang]["tax"])
            return f"{tax} {self.percent(lang)}{self.pick((' ', ': ', '  '))}{self.amount(lang)}"
        if r < 0.35:
            return f"{label} {self.percent(lang)}"
        return f"{label}{self.pick((' ', ': ', ' : ', ' '))}{self.amount(lang)}"

    def _amount(self, lang: str) -> str:
        r = self.rng.random()
        if r < 0.6:
            return self.amount(lang)
        if r < 0.8:
            return f"{self.amount(lang)} {self.amount(lang)}"
        return f"{self.amount(lang, plain=True)}{self.pick((' ', ' '))}{self.amount(lang, plain=True)}"

    def _item(self, lang: str) -> str:
        item = self.pick(LANGS[lang]["item"])
        unit = self.pick(LANGS[lang]["unit"])
        div = (1, 1, 1, 2, 4, 10, 100)[int(self.rng.integers(7))]
        qty = self.number(float(self.rng.integers(1, 500)) / div, "en" if lang == "en" else "de",
                          (0, 0, 2, 3, 4)[int(self.rng.integers(5))])
        r = self.rng.random()
        if r < 0.3:
            return f"{qty} {unit} {item}"
        if r < 0.5:
            return f"{int(self.rng.integers(1, 40))} {item} {self.amount(lang)}"
        if r < 0.65:
            return f"{qty} {self.pick(('x', '×', 'X'))} {item}"
        if r < 0.8:
            return f"{self.code()} {item}"
        if r < 0.9:
            return f"{item} {self.digits(int(self.rng.integers(1, 4)))}{self.pick(('g', ' g', 'ml', ' ml', 'cm', ' kg'))}"
        return f"{qty} {unit}"

    def _address(self, lang: str) -> str:
        r = self.rng.random()
        num = str(int(self.rng.integers(1, 250))) + (self.pick(("a", "b", "A", "-3")) if self.chance(0.1) else "")
        street = self.pick(LANGS[lang]["street"])
        city = self.pick(LANGS[lang]["city"])
        zipc = self.zipcode(lang)
        if r < 0.35:
            return f"{num} {street}" if lang in ("fr", "en") else f"{street} {num}"
        if r < 0.6:
            return f"{city} {zipc}" if lang == "en" and self.chance(0.5) else f"{zipc} {city}"
        if r < 0.75:
            return self.pick(LANGS[lang]["name"] + LANGS[lang]["firm"])
        sep = self.pick((" · ", " - ", ", ", " • ", " | "))
        firm = self.pick(LANGS[lang]["firm"])
        where = f"{street} {num}" if lang not in ("fr", "en") else f"{num} {street}"
        return sep.join((firm, where, f"{zipc} {city}")[: int(self.rng.integers(2, 4))])

    def _phrase(self, lang: str) -> str:
        return self.fill(self.pick(LANGS[lang]["phrase"]), lang)

    def _page(self, lang: str) -> str:
        n = int(self.rng.integers(1, 6))
        p = int(self.rng.integers(1, n + 1))
        return self.pick(LANGS[lang]["page"]).replace("{p}", str(p)).replace("{n}", str(n))

    def _date(self, lang: str) -> str:
        return self.date(lang)

    def _ident(self, lang: str) -> str:
        r = self.rng.random()
        if r < 0.35:
            return self.iban(lang)
        if r < 0.5:
            return self.pick(("BIC: ", "BIC ", "SWIFT: ", "")) + self.bic()
        if r < 0.7:
            return self.vat(lang)
        if r < 0.85:
            return self.pick(("Tel.: ", "Tel. ", "Fax ", "Tél. : ", "Phone: ", "T ", "")) + self.phone(lang)
        user = self.pick(("info", "rechnung", "facturation", "billing", "kontakt", "sav", "post"))
        host = self.pick(("beispiel", "muster-firma", "aubonmoulin", "example", "firma24", "bakkerij"))
        tld = self.pick(("de", "fr", "com", "nl", "es", "it", "pt", "se", "dk", "eu"))
        return f"{user}@{host}.{tld}" if self.chance(0.6) else f"www.{host}.{tld}"

    def _percent(self, lang: str) -> str:
        r = self.rng.random()
        if r < 0.5:
            return self.percent(lang)
        return f"{self.pick(LANGS[lang]['tax'])} {self.percent(lang)}"

    def _title(self, lang: str) -> str:
        title = self.pick(LANGS[lang]["title"])
        if self.chance(0.5):
            title += self.pick((" ", " Nr. ", " No. ", " N° ", " # ")) + self.code()
        if self.chance(0.3):
            title += self.pick((" vom ", " du ", " of ", " ")) + self.date(lang)
        return title

    def _footer(self, lang: str) -> str:
        parts = [self.pick(LANGS[lang]["firm"]), self.iban(lang), self.bic(), self.vat(lang), self.phone(lang)]
        k = int(self.rng.integers(2, 4))
        idx = sorted(int(i) for i in self.rng.choice(len(parts), k, replace=False))
        return self.pick((" · ", " | ", " - ", "  ")).join(parts[i] for i in idx)


# --------------------------------------------------------------------------- receipt lines
# Written for this module: what a till receipt prints, in capitals (general receipt words; made-up
# shops, streets and numbers; no data set's text).

RECEIPT_WORDS: dict[str, tuple[str, ...]] = {
    "shop_kind": ("TRADING", "ENTERPRISE", "HARDWARE", "STATIONERY", "BOOKSTORE", "MINI MARKET", "SUPERMARKET",
                  "RESTAURANT", "CAFE", "BAKERY", "PHARMACY", "FURNITURE", "ELECTRICAL", "AUTO PARTS", "FOOD COURT",
                  "KITCHEN", "MART", "STORE", "PRINTING", "OPTICAL", "GIFT SHOP", "CONFECTIONERY", "BOUTIQUE",
                  "TEA HOUSE", "NOODLE HOUSE", "SEAFOOD", "DIY CENTRE", "PETROL STATION", "BEAUTY SUPPLY"),
    "shop_name": ("SUNRISE", "GOLDEN STAR", "HAPPY DAY", "EVERGREEN", "BLUE OCEAN", "LUCKY", "RED LOTUS", "BRIGHT",
                  "DAILY FRESH", "CITY", "UNITED", "PREMIER", "ORCHID", "MAPLE", "PACIFIC", "ROYAL", "SILVER MOON",
                  "PEARL", "JADE GARDEN", "SUMMIT", "VICTORY", "HARMONY", "GREEN LEAF", "ALPHA", "OMEGA", "NOVA",
                  "KING'S", "TOP VALUE", "SMART", "PRIME", "METRO", "CORNER", "FAMILY", "WELCOME", "TWIN TOWER"),
    "firm_suffix": ("SDN BHD", "SDN. BHD.", "BHD", "PTE LTD", "PTE. LTD.", "LTD", "LIMITED", "INC.", "LLC", "CO.",
                    "& CO", "ENTERPRISE", "GMBH", "S.A.", "PLC", "(M) SDN BHD", "TRADING"),
    "item": ("MINERAL WATER", "COFFEE", "ICED TEA", "TEH TARIK", "FRIED RICE", "CHICKEN WING", "NOODLE SOUP",
             "WHITE BREAD", "FRESH MILK", "EGGS", "SUGAR", "COOKING OIL", "RICE 5KG", "TOOTHPASTE", "SHAMPOO",
             "TISSUE BOX", "A4 PAPER", "BALL PEN BLUE", "PENCIL 2B", "ERASER", "STAPLER", "FILE FOLDER",
             "GLUE STICK", "SCISSORS", "NOTEBOOK", "ENVELOPE", "BATTERY AA", "LED BULB", "EXTENSION CORD",
             "SCREW 8MM", "HAMMER", "PAINT BRUSH", "MASKING TAPE", "CABLE TIE", "PVC PIPE", "WALL PLUG",
             "SANDPAPER", "SPANNER SET", "DRILL BIT", "HOSE CLIP", "PLIERS", "TORCH LIGHT", "PADLOCK",
             "BAKED BEANS", "ORANGE JUICE", "SOFT DRINK CAN", "CHOCOLATE BAR", "POTATO CHIPS", "BISCUIT",
             "INSTANT NOODLE", "CANNED TUNA", "FROZEN PEAS", "YOGURT", "BUTTER", "CHEESE SLICE", "APPLE",
             "BANANA", "ONION", "GARLIC", "TOMATO", "CABBAGE", "CHICKEN BREAST", "BEEF MINCE", "FISH BALL",
             "TAKE AWAY BOX", "PLASTIC BAG", "SERVICE FEE", "DELIVERY", "LATTE", "CAPPUCCINO", "HOT CHOCOLATE",
             "CROISSANT", "MUFFIN", "SANDWICH", "BURGER", "FRENCH FRIES", "SALAD", "PIZZA SLICE", "DUMPLING",
             "SPRING ROLL", "CURRY PUFF", "LEMON TEA", "GREEN TEA", "BOTTLED WATER 1.5L", "DISH WASH 900ML",
             "DETERGENT 2KG", "HAND SOAP", "FLOOR CLEANER", "GARBAGE BAG", "ALUMINIUM FOIL", "CLING FILM",
             "PAPER CUP", "STRAW", "NAPKIN", "UNLEADED 95", "DIESEL", "CAR WASH", "PARKING"),
    "unit": ("PCS", "PC", "EA", "KG", "G", "ML", "L", "BOX", "PKT", "BTL", "CTN", "SET", "ROLL", "TIN", "UNIT",
             "LTR"),
    "street_kind": ("JALAN", "JLN", "LORONG", "PERSIARAN", "STREET", "ST.", "ROAD", "RD", "AVENUE", "AVE",
                    "LANE", "DRIVE", "BOULEVARD", "HIGHWAY", "WAY"),
    "street_name": ("INDUSTRI", "PERDANA", "MERDEKA", "BESAR", "SETIA", "SENTOSA", "MAWAR", "MELATI", "PERMAI",
                    "UTAMA", "BAHAGIA", "KENANGA", "CEMPAKA", "MAIN", "HIGH", "MARKET", "STATION", "KING",
                    "QUEEN", "HARBOUR", "HILL", "RIVER", "PARK", "CHURCH", "MILL", "OAK", "CEDAR", "LAKE"),
    "area": ("TAMAN", "BANDAR", "KAMPUNG", "SEKSYEN", "PUSAT BANDAR", "KAWASAN PERINDUSTRIAN", "DISTRICT",
             "INDUSTRIAL PARK", "BUSINESS CENTRE", "PLAZA", "SQUARE", "MALL", "COMMERCIAL CENTRE"),
    "city": ("KUALA LUMPUR", "PETALING JAYA", "SHAH ALAM", "SELANGOR", "JOHOR BAHRU", "PENANG", "IPOH",
             "MELAKA", "KOTA KINABALU", "KUCHING", "SINGAPORE", "SUBANG JAYA", "KLANG", "SEREMBAN", "KAJANG",
             "PUCHONG", "CHERAS", "AMPANG", "SEMENYIH", "RAWANG", "LONDON", "MANCHESTER", "NEW YORK",
             "LOS ANGELES", "SYDNEY", "AUCKLAND", "HONG KONG", "BANGKOK", "JAKARTA", "MANILA", "DUBLIN",
             "TORONTO", "VANCOUVER", "CHICAGO", "HOUSTON"),
    "state": ("SELANGOR DARUL EHSAN", "WILAYAH PERSEKUTUAN", "JOHOR", "PERAK", "PAHANG", "KEDAH", "SABAH",
              "SARAWAK", "NY", "CA", "TX", "IL", "NSW", "VIC", "UK", "MALAYSIA", "SINGAPORE", "USA", "AUSTRALIA"),
    "staff": ("CASHIER", "SERVER", "STAFF", "OPERATOR", "SALESPERSON", "SALES PERSON", "USER", "CLERK", "TELLER"),
    "staff_name": ("ADMIN", "MANAGER", "AMY", "JOHN", "SITI", "LEE", "KUMAR", "ALI", "MEI LING", "DAVID", "NUR",
                   "RAJ", "TAN", "WONG", "SARAH", "AHMAD", "LINDA", "CHONG", "01", "02", "03", "99"),
    "pay": ("CASH", "CHANGE", "VISA", "MASTERCARD", "MASTER", "DEBIT CARD", "CREDIT CARD", "AMEX", "E-WALLET",
            "TOUCH N GO", "NETS", "EFTPOS", "VOUCHER", "TENDERED", "PAID", "CARD", "CASH TENDERED", "BALANCE"),
    "total": ("TOTAL", "SUBTOTAL", "SUB TOTAL", "SUB-TOTAL", "GRAND TOTAL", "NET TOTAL", "TOTAL AMOUNT",
              "TOTAL DUE", "AMOUNT DUE", "AMOUNT", "TOTAL SALES", "TOTAL (INCL. GST)", "TOTAL INCL. GST",
              "TOTAL EXCL. GST", "TOTAL INCLUSIVE GST", "TOTAL SALES (EXCLUDING GST)", "TOTAL SALES (INCLUSIVE OF GST)",
              "ROUNDING", "ROUNDING ADJ", "ROUNDING ADJUSTMENT", "ROUNDED TOTAL", "DISCOUNT", "ITEM DISCOUNT",
              "SERVICE CHARGE", "SERVICE TAX", "NETT TOTAL", "TOTAL PAYABLE", "BILL TOTAL", "TOTAL SAVINGS",
              "DEPOSIT", "BALANCE DUE", "TOTAL TAX"),
    "tax": ("GST", "TAX", "SST", "VAT", "SALES TAX", "SERVICE TAX", "GST @6%", "GST 6%", "SST 6%", "SST 10%",
            "VAT 20%", "TAX 8.25%", "GST 0%", "GST @ 6%", "GST SR @ 6%", "GST ZR @ 0%", "TAX 7%"),
    "header": ("TAX INVOICE", "SIMPLIFIED TAX INVOICE", "CASH SALE", "CASH BILL", "RECEIPT", "OFFICIAL RECEIPT",
               "SALES RECEIPT", "INVOICE", "CASH RECEIPT", "CUSTOMER COPY", "MERCHANT COPY", "DUPLICATE",
               "REPRINT", "ORDER", "DINE IN", "TAKE AWAY", "SALES SLIP", "CREDIT NOTE", "REFUND"),
    "docno": ("INVOICE NO", "INV NO", "RECEIPT NO", "RECEIPT #", "BILL NO", "DOC NO", "DOCUMENT NO", "TRANS NO",
              "TRANS #", "SLIP NO", "ORDER NO", "CHECK NO", "REF NO", "TXN ID", "INVOICE #", "CS NO", "NO",
              "TABLE", "POS", "TERMINAL", "TERMINAL ID", "COUNTER", "SHIFT", "MEMBER NO", "CARD NO", "APPR CODE",
              "BATCH NO", "TILL NO", "STORE NO"),
    "reg": ("GST REG NO", "GST ID", "GST NO", "CO REG NO", "CO. REG. NO", "COMPANY NO", "ROC NO", "SST REG NO",
            "SST ID", "BUSINESS REG NO", "VAT REG NO", "TAX ID", "ABN", "GST REG. NO."),
    "phrase": ("THANK YOU", "THANK YOU. PLEASE COME AGAIN", "THANK YOU PLEASE COME AGAIN", "PLEASE COME AGAIN",
               "THANK YOU FOR SHOPPING WITH US", "HAVE A NICE DAY", "GOODS SOLD ARE NOT RETURNABLE",
               "GOODS SOLD ARE NOT RETURNABLE OR EXCHANGEABLE", "NO REFUND", "NO CASH REFUND",
               "PLEASE KEEP THIS RECEIPT", "KEEP RECEIPT FOR EXCHANGE", "EXCHANGE WITHIN 7 DAYS",
               "PRICES ARE INCLUSIVE OF GST", "PRICE INCLUSIVE OF SST", "ALL PRICES INCLUDE VAT",
               "THIS IS A COMPUTER GENERATED RECEIPT", "NO SIGNATURE REQUIRED", "SEE YOU AGAIN",
               "THANK YOU & SEE YOU AGAIN", "WELCOME", "SERVED BY", "CUSTOMER SIGNATURE", "PAID WITH THANKS",
               "E. & O.E.", "OPENING HOURS 8AM - 10PM", "FOLLOW US ON FACEBOOK", "WIFI PASSWORD", "TAX SUMMARY",
               "GST SUMMARY", "SUMMARY", "ITEM QTY PRICE AMOUNT", "DESCRIPTION QTY AMOUNT", "QTY DESCRIPTION TOTAL",
               "CODE DESCRIPTION", "ITEM DESCRIPTION", "U.PRICE", "DISC", "AMT", "QTY", "PRICE", "AMOUNT (RM)"),
}

#: Receipt currencies: (sign or code, before or after, digits) with weights; RM (ringgit) and the
#: dollar forms are what till receipts print most in this style, then the rest.
RECEIPT_CURRENCIES: tuple[tuple[str, float], ...] = (
    ("RM", 5.0), ("$", 2.0), ("S$", 1.0), ("USD", 0.5), ("MYR", 0.8), ("SGD", 0.4), ("EUR", 0.4), ("€", 0.5),
    ("£", 0.5), ("GBP", 0.2), ("A$", 0.2), ("HK$", 0.2), ("RP", 0.2), ("", 6.0))


class _Receipt(_Text):
    """Till-receipt lines, all capitals; every piece passes ``ok`` (the charset)."""

    def pick_w(self, items: Sequence[tuple[str, float]]) -> str:
        good = [(s, w) for s, w in items if self.ok(s)]
        w = np.array([x[1] for x in good], dtype=float)
        return good[int(self.rng.choice(len(good), p=w / w.sum()))][0]

    def money(self, small: bool = True, sign: str | None = None) -> str:
        v = float(self.rng.integers(5, 20_000 if small else 500_000)) / 100
        if self.chance(0.3):  # prices ending in 0 or 5
            v = round(v * 20) / 20
        num = f"{v:,.2f}" if v >= 1000 and self.chance(0.6) else f"{v:.2f}"
        if self.chance(0.04):
            num = "-" + num
        cur = self.pick_w(RECEIPT_CURRENCIES) if sign is None else sign
        if not cur:
            return num
        gap = " " if self.chance(0.45) else ""
        if cur == "€" and self.chance(0.5):
            return num + gap + cur
        return cur + gap + num if not num.startswith("-") else "-" + cur + gap + num[1:]

    def leader(self) -> str:
        """What sits between a label and its amount: spaces, a colon, dots, dashes."""
        r = self.rng.random()
        if r < 0.45:
            return " "
        if r < 0.65:
            return self.pick((": ", " : ", ":"))
        ch = self.pick((".", ".", "-", "=", "*", "_"))
        return " " * int(self.chance(0.6)) + ch * int(self.rng.integers(3, 14)) + " " * int(self.chance(0.6))

    def rdate(self) -> str:
        y, m, d = int(self.rng.integers(2010, 2031)), int(self.rng.integers(1, 13)), int(self.rng.integers(1, 29))
        mon = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")[m - 1]
        yy = str(y)[2:] if self.chance(0.25) else str(y)
        return self.pick((f"{d:02d}/{m:02d}/{yy}", f"{d:02d}-{m:02d}-{yy}", f"{d:02d}.{m:02d}.{yy}",
                          f"{y}-{m:02d}-{d:02d}", f"{d:02d} {mon} {y}", f"{d:02d}-{mon}-{yy}", f"{m:02d}/{d:02d}/{yy}",
                          f"{d:02d}{mon}{yy}", f"{d:02d}/{m:02d}/{yy}"))

    def rtime(self) -> str:
        h, mi, s = int(self.rng.integers(0, 24)), int(self.rng.integers(0, 60)), int(self.rng.integers(0, 60))
        r = self.rng.random()
        if r < 0.35:
            return f"{h:02d}:{mi:02d}:{s:02d}"
        if r < 0.6:
            return f"{h:02d}:{mi:02d}"
        h12 = h % 12 or 12
        ampm = "AM" if h < 12 else "PM"
        return self.pick((f"{h12:02d}:{mi:02d} {ampm}", f"{h12}:{mi:02d}{ampm}", f"{h12:02d}:{mi:02d}:{s:02d} {ampm}"))

    def docno(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return self.digits(int(self.rng.integers(4, 11)))
        if r < 0.55:
            return self.pick(("CS", "INV", "OR", "T", "R", "S", "CB", "TI", "A", "POS", "SI", "B")) + \
                self.pick(("", "", "-", "/")) + self.digits(int(self.rng.integers(4, 9)))
        if r < 0.7:
            return f"{self.digits(int(self.rng.integers(2, 5)))}-{self.digits(int(self.rng.integers(4, 8)))}"
        if r < 0.8:
            return f"{self.pick(_CODE_LETTERS)}{self.pick(_CODE_LETTERS)}{self.digits(2)}/{self.digits(5)}"
        if r < 0.9:  # O beside 0 in codes
            return "".join(self.pick("O0O0123456789ABCDEFGHKMNPRSTUVWXYZ") for _ in range(int(self.rng.integers(5, 11))))
        return "*" * int(self.rng.integers(4, 13)) + self.digits(4)

    def phone(self, lang: str = "en") -> str:
        r = self.rng.random()
        if r < 0.4:
            return f"0{self.digits(1)}-{self.digits(4)} {self.digits(4)}"
        if r < 0.6:
            return f"0{self.digits(2)}-{self.digits(7)}"
        if r < 0.75:
            return f"+60 {self.digits(1)}-{self.digits(4)} {self.digits(4)}"
        if r < 0.88:
            return f"({self.digits(3)}) {self.digits(3)}-{self.digits(4)}"
        return f"+65 {self.digits(4)} {self.digits(4)}"

    def shop(self) -> str:
        name = f"{self.pick(RECEIPT_WORDS['shop_name'])} {self.pick(RECEIPT_WORDS['shop_kind'])}"
        if self.chance(0.6):
            name += " " + self.pick(RECEIPT_WORDS["firm_suffix"])
        if self.chance(0.3):
            name += f" ({self.digits(int(self.rng.integers(5, 8)))}-{self.pick(_CODE_LETTERS)})"
        return name

    def address(self) -> str:
        r = self.rng.random()
        no = self.pick(("NO. ", "NO ", "LOT ", "", "", "UNIT ", "G-", "")) + str(int(self.rng.integers(1, 300))) + \
            (self.pick(("A", "B", "-1", "-G", "-3A")) if self.chance(0.2) else "")
        street = f"{self.pick(RECEIPT_WORDS['street_kind'])} {self.pick(RECEIPT_WORDS['street_name'])}"
        if self.chance(0.4):
            street += f" {int(self.rng.integers(1, 30))}" + (f"/{int(self.rng.integers(1, 30))}" if self.chance(0.4) else "")
        kind = street.split()[0]
        if kind in ("STREET", "ST.", "ROAD", "RD", "AVENUE", "AVE", "LANE", "DRIVE", "BOULEVARD", "HIGHWAY", "WAY"):
            street = f"{self.pick(RECEIPT_WORDS['street_name'])} {kind}"  # HIGH STREET, not STREET HIGH
        area = f"{self.pick(RECEIPT_WORDS['area'])} {self.pick(RECEIPT_WORDS['street_name'])}"
        zipc = self.digits(5) if self.chance(0.8) else self.digits(6)
        city = self.pick(RECEIPT_WORDS["city"])
        comma = self.pick((", ", ",", " "))
        if r < 0.3:
            return comma.join((no, street)) + (comma.rstrip() if self.chance(0.4) else "")
        if r < 0.5:
            return comma.join((no, street, area))
        if r < 0.7:
            return comma.join((area if self.chance(0.5) else street, f"{zipc} {city}"))
        if r < 0.85:
            return f"{zipc} {city}" + (comma + self.pick(RECEIPT_WORDS["state"]) if self.chance(0.6) else "")
        return comma.join((f"{zipc} {city}", self.pick(RECEIPT_WORDS["state"])))

    def line(self) -> tuple[str, str]:
        kinds = (("item", 0.26), ("total", 0.17), ("pay", 0.06), ("tax", 0.06), ("datetime", 0.07), ("doc", 0.08),
                 ("shop", 0.05), ("address", 0.1), ("reg", 0.05), ("phone", 0.03), ("phrase", 0.05),
                 ("header", 0.02))
        w = np.array([k[1] for k in kinds])
        kind = kinds[int(self.rng.choice(len(kinds), p=w / w.sum()))][0]
        text = getattr(self, "_r_" + kind)()
        return "receipt", " ".join(text.upper().split())

    def _qty(self) -> str:
        q = int(self.rng.integers(1, 13)) if self.chance(0.85) else int(self.rng.integers(13, 120))
        if self.chance(0.15):
            return f"{q / (1, 2, 4, 10)[int(self.rng.integers(4))]:.3f}"
        return str(q) if self.chance(0.7) else f"{q}.00" if self.chance(0.5) else f"{q:02d}"

    def _r_item(self) -> str:
        item = self.pick(RECEIPT_WORDS["item"])
        if self.chance(0.2):
            suffix = self.pick(("G", "ML", "KG", "L", "S", "'S", "PCS"))
            item += f" {int(self.rng.integers(1, 2000))}{suffix}"
        price = self.money(sign="")
        code = self.pick(("SR", "ZR", "S", "Z", "T", "E", "TX", "NT", "*", "")) if self.chance(0.35) else ""
        tail = f" {code}" if code else ""
        r = self.rng.random()
        if r < 0.25:
            return f"{item}{self.leader()}{price}{tail}"
        if r < 0.45:
            return f"{self._qty()} {self.pick(('X', 'X', 'x', '@', '*'))} {self.money(sign='')} {price}{tail}"
        if r < 0.6:
            return f"{self._qty()} {item} {price}{tail}"
        if r < 0.72:
            return f"{self.digits(int(self.rng.integers(6, 14)))} {item}"
        if r < 0.82:
            return f"{self._qty()} {self.pick(RECEIPT_WORDS['unit'])} {self.pick(('X', '@', 'x'))} {self.money()}"
        if r < 0.9:
            return f"{item} {self._qty()} {self.money(sign='')} {price}"
        return f"{self.digits(int(self.rng.integers(3, 7)))} {item} {self._qty()} {price}{tail}"

    def _r_total(self) -> str:
        label = self.pick(RECEIPT_WORDS["total"])
        if label.startswith("ROUNDING") and self.chance(0.8):
            return f"{label}{self.leader()}{self.pick(('-', '', ''))}0.0{int(self.rng.integers(0, 5))}"
        if self.chance(0.15):
            label += f" ({self.pick_w([(c, w) for c, w in RECEIPT_CURRENCIES if c])})"
        return f"{label}{self.leader()}{self.money(small=self.chance(0.8))}"

    def _r_pay(self) -> str:
        return f"{self.pick(RECEIPT_WORDS['pay'])}{self.leader()}{self.money()}"

    def _r_tax(self) -> str:
        tax = self.pick(RECEIPT_WORDS["tax"])
        r = self.rng.random()
        if r < 0.5:
            return f"{tax}{self.leader()}{self.money()}"
        if r < 0.75:  # a tax summary row: code, rate, amount, tax
            return (f"{self.pick(('SR', 'ZR', 'S', 'Z', 'T'))} {self.pick(('6%', '0%', '@6%', '6.00%', '10%', '7%'))}"
                    f" {self.money(sign='')} {self.money(sign='')}")
        return f"{tax} {self.pick(('AMOUNT', 'AMT', 'PAYABLE', 'INCLUDED', 'TOTAL'))}{self.leader()}{self.money()}"

    def _r_datetime(self) -> str:
        r = self.rng.random()
        d, t = self.rdate(), self.rtime()
        if r < 0.3:
            return f"{self.pick(('DATE', 'DATE:', 'DATE :', 'DT'))} {d} {self.pick(('', 'TIME', 'TIME:'))} {t}"
        if r < 0.55:
            return f"{d} {t}"
        if r < 0.7:
            return f"{self.pick(('DATE', 'DATE:', 'DATE :', 'INVOICE DATE:', 'BILL DATE'))} {d}"
        if r < 0.8:
            return f"{self.pick(('TIME', 'TIME:', 'TIME :'))} {t}"
        return f"{d} {t} {self.pick(RECEIPT_WORDS['docno'])}{self.pick((':', ' ', ' : '))}{self.docno()}"

    def _r_doc(self) -> str:
        label = self.pick(RECEIPT_WORDS["docno"])
        sep = self.pick((": ", " : ", " ", ":", ". ", " # "))
        if self.chance(0.25):
            other = self.pick(RECEIPT_WORDS["staff"])
            return f"{label}{sep}{self.docno()} {other}{sep}{self.pick(RECEIPT_WORDS['staff_name'])}"
        if self.chance(0.2):
            return f"{self.pick(RECEIPT_WORDS['staff'])}{sep}{self.pick(RECEIPT_WORDS['staff_name'])}"
        return f"{label}{sep}{self.docno()}"

    def _r_shop(self) -> str:
        return self.shop()

    def _r_address(self) -> str:
        return self.address()

    def _r_reg(self) -> str:
        label = self.pick(RECEIPT_WORDS["reg"])
        sep = self.pick((": ", " : ", " ", ":", ". "))
        num = self.digits(12) if self.chance(0.5) else f"{self.digits(int(self.rng.integers(5, 8)))}-{self.pick(_CODE_LETTERS)}"
        return f"{label}{sep}{num}" if self.chance(0.85) else f"({label}{sep}{num})"

    def _r_phone(self) -> str:
        tel = f"{self.pick(('TEL', 'TEL:', 'TEL :', 'TEL NO:', 'PHONE:', 'H/P', 'FAX:', 'T:'))} {self.phone()}"
        if self.chance(0.3):
            tel += f" {self.pick(('FAX', 'FAX:', 'FAX :'))} {self.phone()}"
        return tel

    def _r_phrase(self) -> str:
        p = self.pick(RECEIPT_WORDS["phrase"])
        if self.chance(0.15):
            return self.pick(("*** ", "** ", "-- ", "== ")) + p + self.pick((" ***", " **", " --", " =="))
        return p

    def _r_header(self) -> str:
        h = self.pick(RECEIPT_WORDS["header"])
        return h if self.chance(0.7) else f"{h} {self.pick(RECEIPT_WORDS['docno'])}: {self.docno()}"


# --------------------------------------------------------------------------- the images
@dataclass
class SynthLine:
    """One generated line: the crop (uint8 gray, as pre-fill cuts it), its text, and where the text's
    ink lies in the crop (``x0, y0, x1, y1``, pixels; exclusive ends)."""

    image: np.ndarray
    text: str
    ink_box: tuple[int, int, int, int]
    font: str
    size: int
    lang: str
    index: int


def font_paths(dirs: Sequence[str | Path] | None = None,
               files: Sequence[tuple[str, float]] = FONT_FILES) -> list[Path]:
    """The fonts of ``files`` (default :data:`FONT_FILES`) found on this machine, in that order
    (first found per name)."""
    extra = [d for d in os.environ.get("PROOFDESK_FONTS_DIR", "").split(os.pathsep) if d]
    search = [Path(d) for d in (list(dirs) if dirs is not None else extra + list(FONT_DIRS))]
    out = []
    for name, _ in files:
        for d in search:
            if (d / name).is_file():
                out.append(d / name)
                break
    return out


@lru_cache(maxsize=512)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=64)
def _covered(path: str, chars: str) -> frozenset[str]:
    """The characters of ``chars`` the font draws a glyph for (not its 'missing' box)."""
    from PIL import Image, ImageDraw

    font = _font(path, 24)

    def drawn(c: str) -> bytes:
        img = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(img).text((16, 16), c, font=font, fill=255)
        return img.tobytes()

    missing = drawn("\ue000")  # a private-use code point: no font here has a glyph for it
    return frozenset(c for c in chars if c == " " or drawn(c) != missing)


def default_charset() -> tuple[str, ...]:
    """The shipped Latin recogniser's classes (index 0 the CTC blank)."""
    from ml.neural.models import BASE_MODEL, load_spec, model_dir

    return load_spec(model_dir(BASE_MODEL, "rec-latin"), verify=False).charset


def _all_text() -> str:
    """Every character the word lists and formats can produce (for the coverage checks)."""
    chars = set("0123456789.,;:-/'’()#&@%+×·•|$ ")
    for lang in LANGS.values():
        for items in lang.values():
            for s in items:
                chars |= set(s) | set(s.upper())
    for opts in CURRENCIES.values():
        for c in opts:
            chars |= set(c[0])
    chars |= set(_CODE_LETTERS) | set(_CODE_LETTERS.lower())
    for items in RECEIPT_WORDS.values():
        for s in items:
            chars |= set(s)
    chars |= set("*=_@!") | {c[0] for c, _ in RECEIPT_CURRENCIES if c} | set("".join(c for c, _ in RECEIPT_CURRENCIES))
    return "".join(sorted(chars))


class SynthGenerator:
    """Deterministic synthetic invoice lines for a recogniser's charset and input geometry."""

    def __init__(self, charset: Sequence[str] | None = None, fonts: Sequence[str | Path] | None = None,
                 pad_x: float | None = None, pad_y: float | None = None, height: int = 48, max_width: int = 800,
                 stride: int = 8, augment: bool = True, context: bool = True, receipt_share: float = 0.0,
                 receipt_fonts: Sequence[str | Path] | None = None):
        from ml.neural.recognizer import RecognizeConfig

        cfg = RecognizeConfig()
        self.charset = tuple(charset) if charset is not None else default_charset()
        self.chars = frozenset(c for c in self.charset[1:] if len(c) == 1)
        self.pad_x = cfg.pad_x if pad_x is None else pad_x
        self.pad_y = cfg.pad_y if pad_y is None else pad_y
        self.height, self.max_width, self.stride, self.augment = height, max_width, stride, augment
        #: Draw what surrounds a line on a page (neighbouring lines, rules, a cell's tint); off: the text alone.
        self.context = context
        self.fonts = self.check_fonts(fonts)
        weights = dict(FONT_FILES)
        w = np.array([weights.get(f.name, 1.0) for f in self.fonts], dtype=float)
        self._font_p = w / w.sum()
        alltext = _all_text()
        self._coverage = [_covered(str(f), alltext) for f in self.fonts]
        #: Share of lines in the receipt style (:class:`_Receipt` text, thermal-print rendering).
        #: Whether line i is one depends on (seed, i) alone, by its own draw, and a line that is not
        #: is the very line of ``receipt_share=0``: the invoice lines stay reproducible, and a
        #: larger share only turns more of them into receipt lines.
        if not 0.0 <= float(receipt_share) <= 1.0:
            raise ValueError(f"receipt_share must be from 0 to 1, not {receipt_share!r}")
        self.receipt_share = float(receipt_share)
        self.receipt_fonts: list[Path] = []
        if self.receipt_share > 0:
            self.receipt_fonts = ([Path(f) for f in receipt_fonts] if receipt_fonts is not None
                                  else font_paths(files=RECEIPT_FONT_FILES)) or list(self.fonts)
            rw = dict(RECEIPT_FONT_FILES)
            w = np.array([rw.get(f.name, 1.0) for f in self.receipt_fonts], dtype=float)
            self._receipt_p = w / w.sum()
            self._receipt_coverage = [_covered(str(f), alltext) for f in self.receipt_fonts]
        #: Characters the word lists use that the charset lacks: never generated.
        self.missing = "".join(sorted(c for c in alltext if c not in self.chars))

    @staticmethod
    def check_fonts(fonts: Sequence[str | Path] | None = None) -> list[Path]:
        """``fonts`` (default: those of :data:`FONT_FILES` found here); ProofdeskError when there are none."""
        from core.errors import ProofdeskError

        found = [Path(f) for f in fonts] if fonts is not None else font_paths()
        if not found:
            raise ProofdeskError("synthetic lines need TrueType fonts and none was found in "
                                 f"{', '.join(FONT_DIRS)} (Debian: apt-get install fonts-dejavu-core "
                                 "fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf; or set PROOFDESK_FONTS_DIR)")
        return found

    def ok(self, text: str) -> bool:
        return all(c in self.chars for c in text)

    def describe(self, n: int, seed: int) -> dict:
        """What reproduces ``lines(n, seed)``: generator version, seed, count, fonts (names, sha256)."""
        h = hashlib.sha256()
        for f in self.fonts:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        from PIL import __version__ as pil

        out = {"generator": "ml.synth", "version": GENERATOR_VERSION, "seed": int(seed), "n": int(n),
               "fonts": [f.name for f in self.fonts], "fonts_sha256": h.hexdigest(), "pillow": pil,
               "pad_x": self.pad_x, "pad_y": self.pad_y, "charset_missing": self.missing,
               "receipt_share": self.receipt_share}
        if self.receipt_share > 0:
            rh = hashlib.sha256()
            for f in self.receipt_fonts:
                rh.update(f.name.encode() + b"\0" + f.read_bytes())
            out["receipt_fonts"] = [f.name for f in self.receipt_fonts]
            out["receipt_fonts_sha256"] = rh.hexdigest()
            out["receipt_lines"] = sum(self.is_receipt(seed, i) for i in range(int(n)))
        return out

    def is_receipt(self, seed: int, index: int) -> bool:
        """Whether line ``index`` of ``seed`` is in the receipt style (its own draw, below the share)."""
        if self.receipt_share <= 0:
            return False
        u = np.random.default_rng([int(seed), GENERATOR_VERSION, int(index), 1]).random()
        return bool(u < self.receipt_share)

    def lines(self, n: int, seed: int = 0, start: int = 0) -> list[SynthLine]:
        return [self.line(seed, i) for i in range(start, start + n)]

    def line(self, seed: int, index: int) -> SynthLine:
        """Line ``index`` of ``seed``: the same whatever else was generated before."""
        receipt = self.is_receipt(seed, index)
        rng = np.random.default_rng([int(seed), GENERATOR_VERSION, int(index)] + ([2] if receipt else []))
        attempt = self._try_receipt if receipt else self._try
        for _ in range(200):
            got = attempt(rng, index)
            if got is not None:
                return got
        raise RuntimeError(f"no synthetic line fits after 200 tries (seed {seed}, index {index})")  # pragma: no cover

    # -- one attempt: None when the text does not fit the charset, the font or the width
    def _try(self, rng: np.random.Generator, index: int) -> SynthLine | None:
        import cv2

        from ml.augment import augment, blur
        from ml.neural.recognizer import box_to_quad, crop_quad

        lang, text = _Text(rng, self.ok).line()
        k = int(rng.choice(len(self.fonts), p=self._font_p))
        if not text or not self.ok(text) or not set(text) <= self._coverage[k]:
            return None
        r = rng.random()
        size = int(rng.integers(12, 18)) if r < 0.2 else int(rng.integers(18, 34)) if r < 0.85 else int(rng.integers(34, 52))
        font = _font(str(self.fonts[k]), size)
        words = text.split(" ")
        space = font.getlength(" ")
        # A wide gap between words is still one space in the text (a person types one).
        gap = space * (float(rng.uniform(1.5, 4.0)) if rng.random() < 0.12 else 1.0)
        adv = sum(font.getlength(w) for w in words) + gap * (len(words) - 1)
        if gap == space:
            adv = font.getlength(text)
        # Clearly too wide for the model's input at its height: another text, before drawing anything
        # (the exact width and CTC checks follow the cut).
        est_h = size * 1.25 * (1 + 2 * self.pad_y)
        if math.ceil(self.height * (adv + 2 * self.pad_x * size) / est_h) > self.max_width * 0.97:
            return None

        W, H = int(adv + 6 * size), int(6 * size)
        paper = int(rng.integers(236, 256)) if rng.random() < 0.9 else int(rng.integers(205, 236))
        ink = int(rng.integers(0, 40)) if rng.random() < 0.75 else int(rng.integers(40, 120))
        from PIL import Image, ImageDraw

        canvas = Image.new("L", (W, H), paper)
        mask = Image.new("L", (W, H), 0)
        dc, dm = ImageDraw.Draw(canvas), ImageDraw.Draw(mask)
        x0, base = 3 * size, H // 2 + int(0.3 * size)
        if self.context and rng.random() < 0.2:  # a table cell's tint behind the line
            tint = int(np.clip(paper - rng.integers(10, 45), 150, 255))
            top = base - size * rng.uniform(0.95, 1.4)
            dc.rectangle([x0 - size * rng.uniform(0.15, 2.5), top, x0 + adv + size * rng.uniform(0.15, 2.5),
                          base + size * rng.uniform(0.3, 0.7)], fill=tint)
        if gap == space:
            dc.text((x0, base), text, font=font, fill=ink, anchor="ls")
            dm.text((x0, base), text, font=font, fill=255, anchor="ls")
        else:
            x = float(x0)
            for w in words:
                dc.text((x, base), w, font=font, fill=ink, anchor="ls")
                dm.text((x, base), w, font=font, fill=255, anchor="ls")
                x += font.getlength(w) + gap
        if self.context:
            self._context(dc, rng, font, size, x0, base, adv, ink, self._coverage[k])
        img, m = np.asarray(canvas).copy(), np.asarray(mask).copy()
        if rng.random() < 0.25:  # a page scanned a little askew
            rot = cv2.getRotationMatrix2D((W / 2, base), float(rng.uniform(-1.0, 1.0)), 1.0)
            img = cv2.warpAffine(img, rot, (W, H), flags=cv2.INTER_LINEAR, borderValue=paper)
            m = cv2.warpAffine(m, rot, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
        ys, xs = np.nonzero(m > 64)
        if not len(xs):
            return None
        # The line's box as a person or the detector draws it: the ink, plus a small margin.
        mg = size * rng.uniform(0.0, 0.15, 4)
        box = (xs.min() - mg[0], ys.min() - mg[1], xs.max() + 1 + mg[2], ys.max() + 1 + mg[3])
        quad = box_to_quad(box)
        crop = crop_quad(img, quad, self.pad_x, self.pad_y)
        cm = crop_quad(m, quad, self.pad_x, self.pad_y)
        if crop is None or cm is None:
            return None
        cys, cxs = np.nonzero(cm > 64)
        ink_box = (int(cxs.min()), int(cys.min()), int(cxs.max()) + 1, int(cys.max()) + 1)
        width = max(1, math.ceil(self.height * crop.shape[1] / crop.shape[0]))
        need = len(text) + sum(a == b for a, b in zip(text, text[1:]))
        if width > self.max_width or need > math.ceil(width / self.stride):
            return None
        if self.augment:
            crop = augment(crop, rng, ops=("thermal_fade",), p=0.05)  # receipts; invoices seldom fade
            crop = augment(crop, rng, ops=("contrast",), p=0.15)
            if rng.random() < 0.3:  # blur relative to the line's height: the model sees every line 48 pixels high
                crop = blur(crop, rng, max_sigma=float(np.clip(0.025 * crop.shape[0], 0.35, 1.2)), motion=0.15)
            crop = augment(crop, rng, ops=("gaussian_noise", "jpeg"), p=0.3)
        return SynthLine(np.ascontiguousarray(crop), text, ink_box, self.fonts[k].name, size, lang, index)

    def _try_receipt(self, rng: np.random.Generator, index: int) -> SynthLine | None:
        """One receipt line: capitals in a till printer's face, printed small (a thermal head's dots,
        sometimes unsmoothed), condensed, scanned at a low resolution and blown up, with uneven and
        faded ink, dropouts in the strokes, specks on the paper, blur and noise."""
        import cv2
        from PIL import Image, ImageDraw

        from ml.augment import augment, blur
        from ml.neural.recognizer import box_to_quad, crop_quad

        lang, text = _Receipt(rng, self.ok).line()
        k = int(rng.choice(len(self.receipt_fonts), p=self._receipt_p))
        if not text or not self.ok(text) or not set(text) <= self._receipt_coverage[k]:
            return None
        size = int(rng.integers(10, 17)) if rng.random() < 0.65 else int(rng.integers(17, 28))
        font = _font(str(self.receipt_fonts[k]), size)
        adv = font.getlength(text)
        condense = float(rng.uniform(0.8, 1.0)) if rng.random() < 0.35 else 1.0
        up = float(rng.uniform(1.0, 3.2)) if rng.random() < 0.75 else 1.0
        est_h = size * 1.25 * (1 + 2 * self.pad_y)
        if math.ceil(self.height * (adv * condense + 2 * self.pad_x * size) / est_h) > self.max_width * 0.97:
            return None
        W, H = int(adv + 6 * size), int(6 * size)
        cover = Image.new("L", (W, H), 0)  # ink coverage, text and what surrounds it
        mask = Image.new("L", (W, H), 0)  # the line's text only
        dc, dm = ImageDraw.Draw(cover), ImageDraw.Draw(mask)
        if rng.random() < 0.4:
            dc.fontmode = "1"  # no anti-aliasing: the print head's dots, hard-edged
        x0, base = 3 * size, H // 2 + int(0.3 * size)
        dc.text((x0, base), text, font=font, fill=255, anchor="ls")
        dm.text((x0, base), text, font=font, fill=255, anchor="ls")
        if self.context:
            filler = _Receipt(rng, lambda s: set(s) <= self._receipt_coverage[k])
            for sign in (-1, 1):
                if rng.random() < 0.3:  # receipts print lines close together
                    other = filler.line()[1]
                    y = base + sign * size * rng.uniform(1.15, 1.6)
                    dc.text((x0 + size * rng.uniform(-4, 4), y), other, font=font, fill=255, anchor="ls")
                elif rng.random() < 0.1:  # a dashed or solid separator
                    y = base + (size * rng.uniform(0.4, 0.8) if sign > 0 else -size * rng.uniform(1.0, 1.3))
                    dc.text((0, y), rng.choice(["-", "=", "*", "_"]) * int(W / max(1.0, font.getlength("-"))),
                            font=font, fill=255, anchor="ls")
        cov, m = np.asarray(cover).astype(np.float32) / 255.0, np.asarray(mask).copy()
        if size >= 13 and rng.random() < 0.3:  # a hot print head: strokes run thicker
            cov = cv2.dilate(cov, np.ones((1 + int(rng.random() < 0.5), 2), np.uint8))
        if condense != 1.0 or up != 1.0:
            nw, nh = max(8, round(W * condense * up)), max(8, round(H * up))
            interp = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(3))]
            cov = np.clip(cv2.resize(cov, (nw, nh), interpolation=interp), 0, 1)
            m = cv2.resize(m, (nw, nh), interpolation=cv2.INTER_LINEAR)
        h, w = cov.shape
        # Uneven ink: a smooth field along the line times the print head's bands, and dropouts.
        field = cv2.resize(rng.uniform(0, 1, (max(2, h // 12), max(2, w // 24))).astype(np.float32), (w, h),
                           interpolation=cv2.INTER_CUBIC)
        bands = cv2.resize(rng.uniform(0, 1, (1, max(2, w // 6))).astype(np.float32), (w, 1),
                           interpolation=cv2.INTER_LINEAR)
        lo = float(rng.uniform(0.55, 0.95))
        strength = np.clip(lo + (1 - lo) * (0.6 * field + 0.4 * bands), 0.15, 1.0)
        if rng.random() < 0.3:
            cell = max(1, round(up))
            holes = rng.random((math.ceil(h / cell), math.ceil(w / cell))) < rng.uniform(0.01, 0.08)
            holes = np.kron(holes, np.ones((cell, cell), bool))[:h, :w]
            strength = np.where(holes, strength * float(rng.uniform(0.0, 0.5)), strength)
        # Receipts are mostly scanned white with dark print; some slips are grey or faded.
        paper = float(rng.integers(232, 256)) if rng.random() < 0.85 else float(rng.integers(195, 232))
        ink = float(rng.integers(0, 50)) if rng.random() < 0.8 else float(rng.integers(50, 110))
        img = paper - (paper - ink) * cov * strength
        if rng.random() < 0.6:  # specks of dust and toner on the paper
            n = int(rng.integers(1, 4) * w * h / 2000)
            ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
            img[ys, xs] = np.minimum(img[ys, xs], rng.uniform(ink, paper, n))
        if rng.random() < 0.3:  # paper grain
            img = img + rng.normal(0, float(rng.uniform(2, 8)), img.shape)
        img = np.clip(img, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:  # a slip photographed or scanned a little askew
            rot = cv2.getRotationMatrix2D((w / 2, h / 2 + 0.3 * size * up), float(rng.uniform(-1.2, 1.2)), 1.0)
            img = cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=int(paper))
            m = cv2.warpAffine(m, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        ys, xs = np.nonzero(m > 64)
        if not len(xs):
            return None
        s = size * up
        mg = s * rng.uniform(0.0, 0.15, 4)
        box = (xs.min() - mg[0], ys.min() - mg[1], xs.max() + 1 + mg[2], ys.max() + 1 + mg[3])
        quad = box_to_quad(box)
        crop = crop_quad(img, quad, self.pad_x, self.pad_y)
        cm = crop_quad(m, quad, self.pad_x, self.pad_y)
        if crop is None or cm is None:
            return None
        cys, cxs = np.nonzero(cm > 64)
        if not len(cxs):
            return None
        ink_box = (int(cxs.min()), int(cys.min()), int(cxs.max()) + 1, int(cys.max()) + 1)
        width = max(1, math.ceil(self.height * crop.shape[1] / crop.shape[0]))
        need = len(text) + sum(a == b for a, b in zip(text, text[1:]))
        if width > self.max_width or need > math.ceil(width / self.stride):
            return None
        if self.augment:
            crop = augment(crop, rng, ops=("thermal_fade",), p=0.15)
            crop = augment(crop, rng, ops=("contrast",), p=0.2)
            if rng.random() < 0.4:
                crop = blur(crop, rng, max_sigma=float(np.clip(0.03 * crop.shape[0], 0.35, 1.2)), motion=0.2)
            crop = augment(crop, rng, ops=("gaussian_noise", "jpeg"), p=0.3)
        return SynthLine(np.ascontiguousarray(crop), text, ink_box, self.receipt_fonts[k].name, size, lang, index)

    def _context(self, dc, rng: np.random.Generator, font, size: int, x0: int, base: int, adv: float, ink: int,
                 covered: frozenset[str]) -> None:
        """What surrounds a line on a page: lines above and below, table rules."""
        filler = _Text(rng, lambda s: set(s) <= covered)
        for sign in (-1, 1):
            if rng.random() < 0.25:  # a neighbouring line at a tight line spacing
                other = filler.line()[1]
                y = base + sign * size * rng.uniform(1.2, 1.8)
                dc.text((x0 + size * rng.uniform(-3, 3), y), other, font=font, fill=ink, anchor="ls")
            elif rng.random() < 0.12:  # a table rule
                y = base + (size * rng.uniform(0.35, 0.8) if sign > 0 else -size * rng.uniform(1.0, 1.4))
                shade = int(rng.integers(0, 200))
                dc.line([(0, y), (x0 + adv + 3 * size, y)], fill=shade, width=int(rng.integers(1, 3)))
        if rng.random() < 0.06:  # a cell border left or right
            x = x0 - size * rng.uniform(0.35, 1.2) if rng.random() < 0.5 else x0 + adv + size * rng.uniform(0.35, 1.2)
            dc.line([(x, base - 2 * size), (x, base + size)], fill=int(rng.integers(0, 200)), width=1)


# --------------------------------------------------------------------------- the sheet
def render_sheet(lines: Sequence[SynthLine], columns: int = 2, cell_width: int = 820, height: int = 48) -> np.ndarray:
    """A grid of lines, each scaled to the model's input height, its text below it (gray image)."""
    from PIL import Image, ImageDraw

    fonts = font_paths()
    label = _font(str(next((f for f in fonts if f.name == "DejaVuSans.ttf"), fonts[0])), 15)
    small = _font(str(next((f for f in fonts if f.name == "DejaVuSans.ttf"), fonts[0])), 11)
    row_h = height + 42
    rows = math.ceil(len(lines) / columns)
    sheet = Image.new("L", (columns * (cell_width + 16) + 8, rows * row_h + 8), 255)
    draw = ImageDraw.Draw(sheet)
    for i, ln in enumerate(lines):
        r, c = divmod(i, columns)
        x, y = 8 + c * (cell_width + 16), 8 + r * row_h
        h, w = ln.image.shape[:2]
        sw = min(cell_width, max(1, round(height * w / h)))
        sh = height if sw < cell_width else max(1, round(h * cell_width / w))
        img = Image.fromarray(ln.image).resize((sw, sh), Image.Resampling.BILINEAR)
        draw.rectangle([x - 1, y - 1, x + sw, y + sh], outline=170)
        sheet.paste(img, (x, y))
        draw.text((x, y + height + 4), ln.text, font=label, fill=0)
        draw.text((x + cell_width - 4, y + height + 24), f"#{ln.index} {ln.font} {ln.size}px {ln.lang}", font=small,
                  fill=120, anchor="ra")
    return np.asarray(sheet)


def write_sheet(out: str | Path, n: int = 60, seed: int = 0, columns: int = 2,
                gen: SynthGenerator | None = None) -> Path:
    """Generate ``n`` lines of ``seed`` (with ``gen``, default the shipped charset's) and write their
    sheet to ``out`` (PNG)."""
    import cv2

    gen = gen or SynthGenerator()
    sheet = render_sheet(gen.lines(n, seed), columns=columns)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"cannot write {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.synth", description="Write a sheet of synthetic invoice lines.")
    ap.add_argument("--sheet", required=True, help="PNG file to write")
    ap.add_argument("--n", type=int, default=60, help="lines (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--columns", type=int, default=2)
    args = ap.parse_args(argv)
    gen = SynthGenerator()
    out = write_sheet(args.sheet, args.n, args.seed, args.columns, gen)
    print(f"{out}: {args.n} lines, seed {args.seed}, generator v{GENERATOR_VERSION}, {len(gen.fonts)} fonts; "
          f"characters the charset lacks, never generated: {gen.missing or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
