"""Candidate values of a page for each field type, and their features.

A candidate is a piece of the page that could be a field's value: a date or an amount inside a
line, a token that looks like an identifier, a currency sign, a whole line, the part of a line
after its label, or a block of lines under each other (an address). Every field of a type scores
the same candidates (shared per page), with the type's features, the words around them (hashed
so a learned model can pick up a project's own labels) and the field's own keywords.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from core.fields import (
    AMOUNT,
    CURRENCY,
    CURRENCY_RE,
    CURRENCY_SIGNS,
    DATE,
    NUMBER,
    TEXT,
    date_order,
    find_amounts,
    find_dates,
    parse_currency,
)

from .lexicon import (
    DELIVERY,
    LABEL_ONLY,
    NOT_TOTAL,
    any_keyword,
    has_any,
    has_keyword,
    keyword_length,
    longest_keyword,
    other_end,
    role,
    title_end,
)
from .lines import FLine, Page, row_edges

MAX_BLOCK = 5
#: How far before a value (characters) a label in the same line still announces it.
KW_REACH = 32
HASH_BUCKETS = 32
N_BAGS = 4  # words before the value in its line, the line to its left, the line above, the value's own
_SEP = re.compile(r"\s+[·•|–—-]\s+|\s{3,}")
_TOKEN = re.compile(r"(?<![\w/.\-])[A-Za-z0-9][A-Za-z0-9/.\-_]*[A-Za-z0-9](?![\w])")
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_LEGAL = ("sdn bhd", "sdn. bhd", "s/b", "sb", "bhd", "gmbh", "ltd", "limited", "inc", "llc", "sarl", "s.a.r.l", "sas",
          "s.a.", "ag", "kg", "ohg", "e.k.", "bv", "b.v.", "nv", "plc", "co.", "corporation", "corp", "enterprise",
          "trading", "a.g.", "s.l.", "s.p.a.", "srl", "oy", "ab", "as")
#: A company's legal form at the end of its name: a supplier is often on file without it.
_LEGAL_END = re.compile(r"[\s,]+(?:gmbh(?:\s*&\s*co\.?\s*kg)?|ag|kg|ohg|e\.\s?k\.|sarl|s\.a\.r\.l\.?|sas|s\.a\.?|"
                        r"ltd\.?|limited|inc\.?|llc|b\.?v\.?|n\.?v\.?|plc|s\.?r\.?l\.?|s\.l\.|s\.p\.a\.|"
                        r"sdn\.?\s*bhd\.?|oy|ab)\s*$", re.IGNORECASE)
_TITLE = ("invoice", "receipt", "tax invoice", "cash bill", "bill", "rechnung", "quittung", "beleg", "facture",
          "reçu", "avoir", "gutschrift", "credit note", "factuur", "factura", "fattura", "kassenbon", "thank you",
          "welcome", "copy", "kopie", "original", "duplicate", "order", "table", "page", "seite")
_LABELS = ("tel", "fax", "phone", "telefon", "gst", "vat", "ust", "tva", "email", "e-mail", "www", "http",
           "company no", "co no", "co. no", "reg no", "iban", "bic", "invoice", "receipt", "date", "datum")
_PHONE = re.compile(r"(?:\+?\d[\d ()/-]{7,}\d)")
_ADDR = ("jalan", "jln", "lot", "taman", "street", "st.", "road", "rd.", "avenue", "ave", "floor", "straße",
         "strasse", "str.", "weg", "platz", "allee", "rue", "chemin", "boulevard", "bd", "avenue", "place",
         "laan", "straat", "via", "calle", "plaza", "no.", "blok", "block", "seksyen", "bandar", "kawasan")


@dataclass
class Cand:
    """One candidate value: its text, the lines it comes from (positions in Page.lines)."""

    kind: str
    lines: tuple[int, ...]
    start: int
    end: int
    text: str
    value: str | None = None
    currency: str | None = None
    num: float = 0.0          # an amount's value, a date's ordinal


@dataclass
class Candidates:
    """A page's candidates of one type with their shared features (rows align)."""

    kind: str
    items: list[Cand] = field(default_factory=list)
    base: np.ndarray | None = None


def _crc(word: str) -> int:
    return zlib.crc32(word.casefold().encode("utf-8")) % HASH_BUCKETS


@lru_cache(maxsize=32768)
def words(text: str | None) -> frozenset:
    """The words of a text (letters only, 2 or more), case-folded."""
    return frozenset(w.casefold() for w in _WORD.findall(text or ""))


def context_words(page: Page, c: "Cand", above: list, left: list) -> tuple[frozenset, frozenset, frozenset]:
    """The words before a candidate in its line, in the line to its left, in the line above."""
    k = c.lines[0]
    return (words(page.lines[k].text[:c.start]), words(left[k].text if left[k] else None),
            words(above[k].text if above[k] else None))


@lru_cache(maxsize=32768)
def _buckets(text: str) -> tuple[int, ...]:
    """The hash buckets of a text's words (kept per text: a line's words are asked for by each of
    its candidates and its neighbours')."""
    return tuple(sorted({_crc(w) for w in _WORD.findall(text)}))


def without_legal_form(text: str) -> str:
    """A company's name without its trailing legal form ("Au bon moulin SARL" -> "Au bon moulin");
    the text itself when it has none (or is nothing but one)."""
    m = _LEGAL_END.search(text)
    return text[:m.start()] if m and m.start() >= 3 else text


def generate(page: Page, kind: str) -> list[Cand]:
    """Every candidate of one type on the page."""
    out: list[Cand] = []
    seen: set[tuple] = set()

    def add(c: Cand) -> None:
        key = (c.lines, c.start, c.end, c.text.casefold())
        if c.text and key not in seen:
            seen.add(key)
            out.append(c)

    def add_name(k: int, start: int, text: str) -> None:
        """A piece of line k's text, and the same without its trailing legal form ("Au bon moulin
        SARL" as a ledger often files it: "Au bon moulin")."""
        add(Cand(TEXT, (k,), start, start + len(text), text, text))
        bare = without_legal_form(text)
        if bare != text:
            add(Cand(TEXT, (k,), start, start + len(bare), bare, bare))

    order = date_order(ln.text for ln in page.lines) if kind == DATE else None
    for k, ln in enumerate(page.lines):
        t = ln.text
        if kind == DATE:
            for s, e, d in find_dates(t, order):
                add(Cand(DATE, (k,), s, e, t[s:e].strip(), d.isoformat(), num=float(d.toordinal())))
        elif kind == AMOUNT:
            if _counter(page, k):
                continue
            for s, e, v, cur in find_amounts(t):
                piece = t[s:e]
                num = CURRENCY_RE.sub("", piece).strip()
                ns = s + piece.find(num) if num in piece else s
                add(Cand(AMOUNT, (k,), ns, ns + len(num), num, f"{v:.2f}", cur, float(v)))
        elif kind == NUMBER:
            dates = [(s, e) for s, e, _ in find_dates(t)]
            for m in _TOKEN.finditer(t):
                tok = m.group(0)
                if not any(ch.isdigit() for ch in tok) or len(tok) < 3:
                    continue
                if any(s <= m.start() < e for s, e in dates):
                    continue
                add(Cand(NUMBER, (k,), m.start(), m.end(), tok, tok))
        elif kind == CURRENCY:
            for m in CURRENCY_RE.finditer(t):
                code = CURRENCY_SIGNS.get(m.group(0).lower())
                if code:
                    add(Cand(CURRENCY, (k,), m.start(), m.end(), m.group(0), code))
            for m in re.finditer(r"\b[A-Z]{3}\b", t):
                code = parse_currency(m.group(0))
                if code == m.group(0):
                    add(Cand(CURRENCY, (k,), m.start(), m.end(), m.group(0), code))
        else:  # TEXT
            add_name(k, 0, t)
            if ":" in t:
                i = t.rfind(":")
                rest = t[i + 1:].strip()
                if len(rest) >= 2:
                    add(Cand(TEXT, (k,), len(t) - len(rest), len(t), rest, rest))
            m = re.search(r"\s*\([^()]*\)\s*$", t)
            if m and m.start() > 2:
                add(Cand(TEXT, (k,), 0, m.start(), t[:m.start()], t[:m.start()]))
            pos = 0
            parts = _SEP.split(t)
            if len(parts) > 1:
                for p in parts[:6]:
                    i = t.find(p, pos)
                    pos = i + len(p)
                    if len(p.strip()) >= 2:
                        add_name(k, i + len(p) - len(p.lstrip()), p.strip())
            for n in range(2, MAX_BLOCK + 1):
                block = page.below_block(k, n)
                if block is None:
                    break
                text = " ".join(b.text for b in block)
                idx = tuple(page.order[b.index] for b in block)
                add(Cand(TEXT, idx, 0, len(block[-1].text), text, text))
                head = block[0].text
                colon = head.find(":")
                if 0 < colon <= 15 and len(head) - colon > 3:  # "HQ ADD: LOT 11995, ..." without its label
                    rest = " ".join([head[colon + 1:].strip()] + [b.text for b in block[1:]])
                    add(Cand(TEXT, idx, 0, len(block[-1].text), rest, rest))
    if kind == NUMBER:  # also what follows an "Invoice No:"-style label
        for k, ln in enumerate(page.lines):
            if ":" in ln.text:
                rest = ln.text[ln.text.rfind(":") + 1:].strip()
                undated = rest
                for ds, de, _ in reversed(find_dates(rest)):   # "Zeitraum: 01.10.2018 bis 31.10.2018"
                    undated = undated[:ds] + undated[de:]
                if rest and any(ch.isdigit() for ch in undated) and len(rest) <= 40:
                    s = len(ln.text) - len(rest)
                    add(Cand(NUMBER, (k,), s, len(ln.text), rest, re.sub(r"\s+", "", rest)))
    return out


#: A column of counts, not of money: positions, quantities ("Pos", "Nr.", "Menge", "Qty", "Qté").
_COUNT_HEAD = re.compile(r"^\W*(?:pos(?:ition)?|nr|no|lfd|item|zeile|line|ligne|menge|qty|quantity|quantité|qté|"
                         r"anzahl|stk|stück|#)(?![^\W\d_])", re.IGNORECASE)
#: ... unless the header names money ("Line Total", "Item Price", "Pos. Betrag").
_MONEY_HEAD = re.compile(r"total|price|amount|betrag|preis|summe|prix|montant|importe|prezzo|bedrag|prijs",
                         re.IGNORECASE)


def _counter(page: Page, k: int) -> bool:
    """Whether line k is a bare whole number (no decimals, no currency) in a column headed as
    positions or quantities ("Pos" over "0", "1", "2"; "QTY" over "1"): a count, never an amount
    of money, so no amount candidate (an item's position "0" is not a tax total of 0.00)."""
    if not re.fullmatch(r"\d{1,4}", page.lines[k].text.strip()):
        return False
    pos = {id(ln): j for j, ln in enumerate(page.lines)}
    cur = k
    for _ in range(8):       # up the column past the figures above it to its header
        a = page.above(cur)
        if a is None:
            return False
        if not re.fullmatch(r"[\d\s.,]*", a.text):
            return bool(_COUNT_HEAD.match(a.text)) and not _MONEY_HEAD.search(a.text)
        cur = pos[id(a)]
    return False


BASE_NAMES = (
    "x0", "y0", "x1", "y1", "rank_top", "idx_top", "idx_bottom", "rel_height", "n_lines", "log_len",
    "digits", "alpha", "upper", "span_share", "at_start", "at_end", "n_words", "colon_before", "line_colon",
    "legal_form", "address_words", "postcode", "amount_log", "amount_rank", "amount_is_max",
    "amount_same", "currency_beside", "decimals", "date_rank", "date_same", "letters_and_digits",
    "lower_half", "token_len", "count_same_text", "line_amounts", "line_is_value_only",
    "doc_title", "paren", "label_inside", "phone", "short", "heads_block", "in_sep_line",
    "first_legal", "first_id", "after_label", "after_postcode", "before_legal", "last_postcode",
    "last_in_line", "negative", "row_last", "title_before", "label_only", "percent", "col_last",
    "after_rounding", "after_id", "continuation", "enclosed", "figure_label", "block_top", "window_right",
)
#: A receipt's rounding adjustment ("ROUNDING ADJ -0.02", "Rundung", "afronding", "arrondi"): the
#: total people pay is the one after it.
_ROUNDING_WORDS = ("rounding", "rundung", "afronding", "arrondi", "pyöristys", "avrunding", "zaokrąglen")
#: ... read with one letter wrong, as a receipt's faded print gives it ("RCUNDING ADJ"): the label
#: words are long and the lines they label short, so a near miss is no other word.
_ROUNDING = re.compile("|".join(w[:i] + r"[^\W\d_]" + w[i + 1:] for w in _ROUNDING_WORDS for i in range(len(w))),
                       re.IGNORECASE)
_TOTAL_WORD = re.compile(r"total|summe|totaal|montant", re.IGNORECASE)


#: What joins the two ends of a period: "01.10.2018 bis 31.10.2018", "du 01/10 au 31/10/2018",
#: "from 1 May 2020 to 31 May 2020", "01.10.2018 - 31.10.2018".
_RANGE_SEP = re.compile(r"\s*(?:-|–|—|bis(?:\s+zum)?|to|till|until|through|thru|au|à|jusqu'au|tot|t/m|al|a|hasta|"
                        r"fino al)\s*", re.IGNORECASE)
#: Date fields that a period's bound is not (their ``other_label`` feature says so).
_NOT_PERIOD = ("invoice_date", "due_date")


@lru_cache(maxsize=8192)
def range_ends(text: str) -> frozenset[int]:
    """Where each date of a line that is an end of a period starts ("Vom 17. Dezember 2025 bis
    6. Januar 2026 haben wir Betriebsferien"): a period's bound is neither an invoice's date nor
    its due date, whatever label comes before the range."""
    found = find_dates(text)
    out: set[int] = set()
    for (s0, e0, _), (s1, _e1, _) in zip(found, found[1:]):
        if _RANGE_SEP.fullmatch(text[e0:s1]):
            out |= {s0, s1}
    return frozenset(out)


@lru_cache(maxsize=8192)
def _adjustment(text: str | None) -> bool:
    """A rounding adjustment's label ("ROUNDING ADJ"), not a total after it ("TOTAL AFTER ROUNDING")."""
    return bool(text) and bool(_ROUNDING.search(text)) and not _TOTAL_WORD.search(text)


#: A signed amount under one unit, as rounding adjustments print it: "-0.02", ".01", "-RM 0.02", "RM0.00".
_SMALL_SIGNED = re.compile(r"(?<![\w.,])([-−]?)\s*(?:RM|€|EUR|CHF|kr)?\s*([-−]?)0?[.,](\d{2})(?![\d.,])", re.IGNORECASE)


def _labelled_rows(page: Page, is_label: Callable[[str | None], bool]) -> list[FLine]:
    """The lines whose own text is a label ``is_label`` recognises, or whose left neighbour on its
    row is one ("ROUNDING ADJ -0.02"; "GST 6%" beside "0.42")."""
    flags = [is_label(ln.text) for ln in page.lines]
    if not any(flags):
        return []
    left = [page.left(k) for k in range(len(page))]   # each line's left neighbour: all a label beside needs
    return [ln for k, ln in enumerate(page.lines) if flags[k] or (left[k] is not None and is_label(left[k].text))]


def adjustment_amounts(page: Page) -> list[float]:
    """The non-zero rounding adjustments a page prints: the small signed amounts of a line labelled
    as one ("ROUNDING ADJ -0.02") or of the line right of such a label, on its row."""
    out = []
    for ln in _labelled_rows(page, _adjustment):
        for m in _SMALL_SIGNED.finditer(ln.text):
            v = int(m.group(3)) / 100
            if v and (m.group(1) or m.group(2)):
                v = -v
            if v:
                out.append(v)
    return out


def _tax_label(text: str | None) -> bool:
    """A tax's label ("GST 6%", "MwSt 19%"), not a total that includes it ("TOTAL INCL GST")."""
    return bool(text) and has_keyword("tax_total", text) and not has_keyword("total", text)


def tax_amounts(page: Page) -> list[float]:
    """The non-zero amounts a page prints as tax ("GST 6%" beside "0.42", "VAT 20%: 1.50"): those of
    a line with a tax label, or of the line right of such a label, on its row."""
    return [float(v) for ln in _labelled_rows(page, _tax_label) for _, _, v, _ in find_amounts(ln.text) if v]


#: A line that is only an identifier: "(81109-A)", "002043319-W", "(CO. REG : 933109-X)".
_ID_LINE = re.compile(r"\(?[^()]{0,20}?[:.]?\s*[A-Z]{0,3}[- ]?\d[\d -]{3,}[-]?[A-Z]?\)?", re.IGNORECASE)
_POSTCODE_LINE = re.compile(r"(?<!\d)(?:[A-Z]{1,2}-)?\d{4,5}(?!\d)\s+[^\W\d_]")


#: A company's registration line: "(GST REGISTRATION NO : 000850247680)", "GST REG NO: 000746659840",
#: "CO. NO: 20154-T", "USt-IdNr. DE123456789" (a label of its kind, then a long number).
_REG_LINE = re.compile(r"\b(?:reg(?:istration)?|gst|sst|co|company|roc|tin|vat|ust|tva|btw|siret|siren)\b"
                       r"[^\d]{0,25}\d[\d -]{4,}", re.IGNORECASE)


def _line_flags(text: str) -> tuple[float, float, float, float, float, float]:
    """(has a 4-5 digit number, a phone number, is only an id, has postcode + place, a label word,
    a 5-digit number) of a line's text."""
    return (float(bool(re.search(r"(?<!\d)\d{4,5}(?!\d)", text))), float(bool(_PHONE.search(text))),
            float(bool(_ID_LINE.fullmatch(text.strip()))), float(bool(_POSTCODE_LINE.search(text))),
            float(has_any(_LABELS, text.casefold())), float(bool(re.search(r"(?<!\d)\d{5}(?!\d)", text))))


#: A page number with its count: "Seite 2 von 3", "Page 2 of 5", "Page 2 / 2", "page 2 sur 3", "Pagina 2 di 4".
_PAGE_OF = re.compile(r"\b(?:seite|page|pagina|página|pág\.?|pag\.?|blatt|blad|sida|side|sivu|strona)\s*(\d{1,3})\s*"
                      r"(?:/|von|of|sur|de|di|van|av|af|z)\s*(\d{1,3})\b", re.IGNORECASE)


def page_number(page: Page) -> tuple[int, int] | None:
    """The page's number and its document's count of pages as it prints them ("Seite 2 von 3" ->
    (2, 3)), else None."""
    for ln in page.lines:
        for m in _PAGE_OF.finditer(ln.text):
            n, of = int(m.group(1)), int(m.group(2))
            if 1 <= n <= of:
                return n, of
    return None


def continuation(page: Page) -> bool:
    """Whether the page says it is not its document's first: it prints its number as the second or a
    later one of a count ("Seite 2 von 3", "Page 2 of 2"). A continuation page carries the tables and
    totals; the letterhead, the recipient's window and the document's title are on the first page, so
    a party or the invoice number there needs a label announcing it."""
    no = page_number(page)
    return no is not None and no[0] >= 2


#: Words of a French invoice ("Facture", "TVA", "TTC", "Date d'échéance", "SIRET"): where a letter's
#: window, and its recipient, is on the right (NF Z 11-001), not on the left (DIN 5008, most others).
_FRENCH = re.compile(r"\b(?:facture|avoir|tva|ttc|hors taxes?|échéance|montant|net à payer|siret|siren|règlement|"
                     r"acompte|destinataire|fournisseur)\b", re.IGNORECASE)


def window_right(page: Page) -> bool:
    """Whether the page reads as a French letter (two or more distinct words of :data:`_FRENCH`),
    whose window envelope's recipient is printed on the right."""
    found = {m.group(0).casefold() for ln in page.lines for m in _FRENCH.finditer(ln.text)}
    return len(found) >= 2


def before_last(page: Page) -> bool:
    """Whether the page says a later page of its document follows ("Seite 1 von 2"): a document's
    totals are on its last page, so a net, tax or total here needs its own label."""
    no = page_number(page)
    return no is not None and no[0] < no[1]


def _heads_block(page: Page, k: int) -> float:
    """1 when line k starts an address block: a line with a postcode and a place follows within
    four lines down its column (a window envelope's recipient, a letterhead), the lines close or
    left-aligned and widely spaced."""
    cur, seen = k, {k}
    for _ in range(4):
        nxt = page.next_below(cur)
        if nxt is None:
            nxt = page.next_aligned(cur)
        if nxt is None or nxt in seen:
            return 0.0
        if _POSTCODE_LINE.search(page.lines[nxt].text):
            return 1.0
        seen.add(nxt)
        cur = nxt
    return 0.0


def _after_rounding(page: Page, left: list) -> list[bool]:
    """Per line: whether a rounding adjustment's line is in the row or so above it (centre to
    centre), and neither it nor its label on the left is one (the adjustment's own value)."""
    rounding = [_adjustment(ln.text) for ln in page.lines]
    if not any(rounding):
        return [False] * len(page)
    cys = [ln.cy for ln, r in zip(page.lines, rounding) if r]
    reach = 2.6 * page.median_h  # the next row or so: the cash paid two rows down is not it
    out = []
    for k, ln in enumerate(page.lines):
        own = rounding[k] or (left[k] is not None and _adjustment(left[k].text))
        out.append(not own and any(0.5 * ln.h < ln.cy - cy <= reach for cy in cys))
    return out


def _amount_right(page: Page, has_amount: Sequence[bool], left: bool = False) -> list[bool]:
    """Per line: whether a line to its right on the same row holds an amount (a table row whose
    label is at its left has its value at its right end: "Umsatzsteuer 19% | 198,00 | 37,62");
    ``left``: to its left, and what is asked of it is ``has_amount``."""
    amt = np.asarray(has_amount, bool)

    def rule(b: np.ndarray, h: np.ndarray, rows: np.ndarray):
        x0, y0, x1, y1, hk = row_edges(b, h, rows)
        overlap = np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0)
        side = (b[:, 2] <= x0 + 0.5 * hk) if left else (b[:, 0] >= x1 - 0.5 * hk)
        return amt & side & (overlap > 0.5 * np.minimum(h, hk)), None

    return [found for ok, _ in page.compare_lines(rule) for found in ok.any(axis=1).tolist()]


@dataclass
class _LineFacts:
    """What base_features reads of each line whatever the type: kept per page (``Page.memo``)."""

    text_count: dict[str, int]                 # how often each line's text (case-folded) is on the page
    line_amounts: list[int]                    # amounts in the line
    heads: list[float]                         # 1 where the line starts an address block
    flags: list[tuple[float, ...]]             # :func:`_line_flags`


def _line_facts(page: Page) -> _LineFacts:
    def make() -> _LineFacts:
        text_count: dict[str, int] = {}
        for ln in page.lines:
            text_count[ln.text.casefold()] = text_count.get(ln.text.casefold(), 0) + 1
        return _LineFacts(text_count, [len(find_amounts(ln.text)) for ln in page.lines],
                          [_heads_block(page, k) for k in range(len(page))],
                          [_line_flags(ln.text) for ln in page.lines])   # the regexes are the cost
    return page.memo("line_facts", make)


@dataclass
class _TextFacts:
    """Per line, what a name's or an address's features read (TEXT only), kept per page."""

    #: the company's id or registration line, whose next line down starts its address
    registration: list[bool]
    #: the label of a figure, a table's row or column head ("Total Residual | 0.00", "Prix HT" over
    #: "4,55 €"): no party's name or address
    labels_figure: list[bool]
    #: the lines that continue a line above them in their column (a contact person under the
    #: company's name, a street under it); a sender's return line ("Bei Spiel GmbH · Ecke 12 · 12345
    #: Stadthausen") over a window's recipient does not count
    continues: set[int]


def _text_facts(page: Page) -> _TextFacts:
    def make() -> _TextFacts:
        f = _line_facts(page)
        registration = [fl[2] > 0 or bool(_REG_LINE.search(ln.text)) for fl, ln in zip(f.flags, page.lines)]
        money = [n > 0 and bool(_CENTS.search(ln.text)) for n, ln in zip(f.line_amounts, page.lines)]
        right_figure = _amount_right(page, money)
        labels_figure = []
        for k in range(len(page.lines)):
            nxt = page.next_below(k)
            below = nxt is not None and money[nxt] and _figure(page.lines[nxt].text)
            labels_figure.append(f.line_amounts[k] == 0 and (right_figure[k] or below))
        continues: set[int] = set()
        for j, ln in enumerate(page.lines):
            nxt = page.next_below(j)
            if nxt is not None and len(_SEP.split(ln.text)) <= 2:
                continues.add(nxt)
        return _TextFacts(registration, labels_figure, continues)
    return page.memo("text_facts", make)


@lru_cache(maxsize=32768)
def _text_stats(t: str) -> tuple[int, int, int, float, float, float]:
    """(digits, letters, capitals among them, has a legal form, address words (0-1), has a title
    word) of a candidate's text: kept per text, as the same pieces recur across types and pages."""
    digits, letters, upper, legal, addr, title = _part_stats(t)
    return digits, letters, upper, float(legal), min(3, len(addr)) / 3, float(title)


@lru_cache(maxsize=32768)
def _part_stats(t: str) -> tuple[int, int, int, bool, frozenset, bool]:
    """:func:`_text_stats` before it is summed up: the address words themselves."""
    letters = "".join(filter(str.isalpha, t))
    low = t.casefold()
    addr = frozenset(w for w in _ADDR if w in low) if _ADDR_ANY.search(low) else frozenset()
    return (sum(map(str.isdigit, t)), len(letters), sum(map(str.isupper, letters)), has_any(_LEGAL, low), addr,
            has_any(_TITLE, low))


#: Any address word anywhere (most texts have none): the words themselves are looked for after it.
_ADDR_ANY = re.compile("|".join(map(re.escape, _ADDR)))
#: The legal forms and title words of more than one word: the only ones that can span two lines.
_LEGAL_SPACED = tuple(w for w in _LEGAL if " " in w.strip())
_TITLE_SPACED = tuple(w for w in _TITLE if " " in w.strip())


def _block_stats(t: str, texts: Sequence[str]) -> tuple[int, int, int, float, float, float]:
    """:func:`_text_stats` of a block's text, its lines' ``texts`` joined by spaces (the first line
    may be cut: "HQ ADD: LOT 11995" -> "LOT 11995"), from each line's, kept per line: counts add
    up, a word is in one of the lines unless it has a space in it. Any other text: its own."""
    parts = _block_parts(t, texts)
    if parts is None:
        return _text_stats(t)
    stats = [_part_stats(p) for p in parts]
    addr = frozenset().union(*(st[4] for st in stats))
    return (sum(st[0] for st in stats), sum(st[1] for st in stats), sum(st[2] for st in stats),
            float(any(st[3] for st in stats) or _across(_LEGAL_SPACED, parts, t)), min(3, len(addr)) / 3,
            float(any(st[5] for st in stats) or _across(_TITLE_SPACED, parts, t)))


def _across(words: tuple[str, ...], parts: Sequence[str], t: str) -> bool:
    """Whether ``t``, its ``parts`` joined by spaces, holds one of ``words`` (each of two words or
    more): asked of the letters where two parts meet first, which neighbouring blocks share."""
    if not any(_meet(words, a, b) for a, b in zip(parts, parts[1:])):
        return False
    return has_any(words, t.casefold())


@lru_cache(maxsize=32768)
def _meet(words: tuple[str, ...], a: str, b: str) -> bool:
    """Whether a word of ``words`` may span the end of ``a`` and the start of ``b`` joined by a
    space: the longest word's length either side of the space, and the letter before or after it."""
    return has_any(words, _seam(a, b, max(len(w.strip()) for w in words)).casefold())


def _seam(a: str, b: str, longest: int) -> str:
    """Where ``a`` and ``b`` meet, joined by a space: as many letters either side as a word of
    ``longest`` letters across them needs, and the letter before or after it."""
    return a[-longest - 1:] + " " + b[:longest + 1]


def _block_parts(t: str, texts: Sequence[str]) -> list[str] | None:
    """A block's text as its lines' ``texts`` joined by spaces, the first maybe cut ("HQ ADD: LOT
    11995" -> "LOT 11995"): the pieces, whose join is ``t``; None when ``t`` is not such a text."""
    tail = " ".join(texts[1:])
    head = t[:len(t) - len(tail) - 1]
    if not t.endswith(" " + tail) or not texts[0].endswith(head):
        return None
    return [head, *texts[1:]]


def _block_buckets(t: str, texts: Sequence[str]) -> tuple[int, ...]:
    """:func:`_buckets` of a block's text from its lines' (no word spans two lines)."""
    parts = _block_parts(t, texts)
    if parts is None:
        return _buckets(t)
    return tuple(sorted(set().union(*(_buckets(p) for p in parts))))


_FIGURE_LABEL, _BLOCK_TOP, _ENCLOSED = (BASE_NAMES.index(n) for n in ("figure_label", "block_top", "enclosed"))
_DIGITS_4_5 = re.compile(r"(?<!\d)\d{4,5}(?!\d)")
_CENTS_END = re.compile(r"[.,]\d{2}$")


def base_features(page: Page, cands: Sequence[Cand], above: list, left: list) -> np.ndarray:
    """The features of every candidate that do not depend on which field scores it."""
    n = len(cands)
    W, H, nl = page.width, page.height, max(1, len(page))
    amounts = sorted({c.num for c in cands if c.kind == AMOUNT}, reverse=True)
    amount_rank = {v: i for i, v in enumerate(amounts)}
    dates = sorted({c.num for c in cands if c.kind == DATE})
    date_rank = {v: i for i, v in enumerate(dates)}
    value_count: dict = {}
    for c in cands:
        value_count[c.value] = value_count.get(c.value, 0) + 1
    nb = len(BASE_NAMES)
    X = np.zeros((n, nb + N_BAGS * HASH_BUCKETS), np.float32)
    kinds = {c.kind for c in cands}
    f = _line_facts(page)
    text_count, line_amounts, heads, flags = f.text_count, f.line_amounts, f.heads, f.flags
    after_rounding: list[bool] = []
    right: list[bool] | None = None
    text_left: list[bool] = []
    registration: list[bool] = []
    labels_figure: list[bool] = []
    continues: set[int] = set()
    if AMOUNT in kinds:
        after_rounding = page.memo("after_rounding", lambda: _after_rounding(page, left))
        right = page.memo("amount_right", lambda: _amount_right(page, [n > 0 for n in line_amounts]))
        text_left = page.memo("text_left", lambda: _amount_right(page, [not _figure(ln.text) for ln in page.lines],
                                                                  left=True))
    # the page's own, every candidate's; only for the kinds a first page alone announces (a party,
    # the invoice number): a continuation page's totals and dates read as any page's
    page_flags = [0.0] * nb
    bag_rows: list[int] = []      # the words' hash buckets, set in one go
    bag_cols: list[int] = []
    if kinds & {TEXT, NUMBER}:
        page_flags[BASE_NAMES.index("continuation")] = float(page.memo("continuation", lambda: continuation(page)))
    if TEXT in kinds:
        page_flags[BASE_NAMES.index("window_right")] = float(page.memo("window_right", lambda: window_right(page)))
        tf = _text_facts(page)
        registration, labels_figure, continues = tf.registration, tf.labels_figure, tf.continues
    lines = page.lines
    text_kind, amount_kind = TEXT in kinds, AMOUNT in kinds
    per_line: dict[int, tuple[list[float], list[int]]] = {}

    def of_line(k: int) -> tuple[list[float], list[int]]:
        """What a candidate's row owes only to its first line: the row so far, and the hash buckets
        of the lines to its left and above."""
        first = lines[k]
        row = page_flags.copy()
        row[1] = first.y0 / H
        row[4] = k / nl
        row[5] = min(k, 30) / 30
        row[6] = min(nl - 1 - k, 30) / 30
        row[7] = first.h / page.median_h
        row[18] = float(":" in first.text)
        row[31] = float(first.cy > H / 2)
        row[33] = min(text_count.get(first.text.casefold(), 1), 5) / 5
        row[34] = min(line_amounts[k], 5) / 5
        row[41] = heads[k]
        if amount_kind:
            # the last figure of a column of figures (a closing table's sum row), no text at its left
            nxt = page.next_below(k)
            row[55] = float((nxt is None or line_amounts[nxt] == 0) and not text_left[k])
            # after a rounding adjustment in the rows just above: "TOTAL ROUNDED RM 33.90"
            row[56] = float(after_rounding[k])
        if text_kind:            # where a block starts and ends: an address is not its company's name
            row[43] = float(has_any(_LEGAL, first.text.casefold()))
            row[44] = flags[k][2]
            prev = above[k]
            row[47] = float(prev is not None and has_any(_LEGAL, prev.text.casefold()))
            # a line with a number right under the company's id or registration line: where its
            # address starts ("(767840-W)", "NO 24, 25 & 26,"; not a branch's name)
            row[57] = float(prev is not None and any(ch.isdigit() for ch in first.text)
                            and registration[page.order[prev.index]])
            row[_FIGURE_LABEL] = float(labels_figure[k])
            # the first line of an address block: where its party's name is
            row[_BLOCK_TOP] = float(heads[k] > 0 and k not in continues)
        a, l_ = above[k], left[k]
        cols = [nb + HASH_BUCKETS + j for j in _buckets(l_.text if l_ else "")] \
            + [nb + 2 * HASH_BUCKETS + j for j in _buckets(a.text if a else "")]
        return row, cols

    rows: list[list[float]] = []
    for i, c in enumerate(cands):
        k = c.lines[0]
        if k not in per_line:
            per_line[k] = of_line(k)
        row, near_cols = per_line[k]
        row = row.copy()
        first = lines[k]
        t = c.text
        if len(c.lines) > 1:
            ls = [lines[j] for j in c.lines]
            last = ls[-1]
            x0, x1 = min(ln.x0 for ln in ls), max(ln.x1 for ln in ls)
            block = [ln.text for ln in ls]
            n_digits, n_letters, n_upper, legal, addr, title = _block_stats(t, block)
            width = sum(len(ln.text) for ln in ls)
        else:
            ls, last, x0, x1, block = [first], first, first.x0, first.x1, None
            n_digits, n_letters, n_upper, legal, addr, title = _text_stats(t)
            width = len(first.text)
        before = first.text[:c.start]
        row[0] = x0 / W
        row[2] = x1 / W
        row[3] = last.y1 / H
        row[8] = len(c.lines) / MAX_BLOCK
        row[9] = math.log1p(len(t)) / 5
        row[10] = n_digits / max(1, len(t))
        row[11] = n_letters / max(1, len(t))
        row[12] = n_upper / max(1, n_letters)
        row[13] = len(t) / max(1, width)
        row[14] = float(c.start == 0)
        row[15] = float(c.end >= len(last.text))
        row[16] = min(len(t.split()), 20) / 10
        row[17] = float(":" in before)
        row[19] = legal
        row[20] = addr
        part = block is None and len(t) < len(first.text)   # a piece of a line: its own text decides
        row[21] = float(c.kind == TEXT and (bool(_DIGITS_4_5.search(t)) if part
                                            else any(flags[j][0] for j in c.lines)))
        if c.kind == AMOUNT:
            row[22] = np.log10(1 + abs(c.num)) / 5
            row[23] = amount_rank.get(c.num, 0) / max(1, len(amounts))
            row[24] = float(amount_rank.get(c.num) == 0)
            row[25] = min(value_count.get(c.value, 1), 5) / 5
            row[26] = float(c.currency is not None)
            row[27] = float(bool(_CENTS_END.search(t)))
        if c.kind == DATE:
            row[28] = date_rank.get(c.num, 0) / max(1, len(dates))
            row[29] = min(value_count.get(c.value, 1), 5) / 5
        row[30] = float(n_letters > 0 and n_digits > 0)
        row[32] = min(len(t), 30) / 30
        row[35] = float(len(t) >= 0.9 * len(first.text))
        row[36] = title
        row[37] = float(t.lstrip().startswith("(") or t.count("(") != t.count(")"))
        if block:
            row[38] = float(any(":" in ln.text or has_any(_LABELS, ln.text.casefold()) for ln in ls[1:]))
        row[39] = float(c.kind == TEXT and (bool(_PHONE.search(t)) if part else any(flags[j][1] for j in c.lines)))
        row[40] = float(n_letters < 4)
        row[42] = float(len(_SEP.split(first.text)) > 2 and len(t) < 0.9 * len(first.text))
        if c.kind in (AMOUNT, DATE):  # a row's last figure: "MwSt 19% auf 275,00: 52,25" -> 52,25
            found = find_amounts(first.text) if c.kind == AMOUNT else find_dates(first.text)
            row[49] = float(bool(found) and found[-1][1] <= c.end + 4)
            row[50] = float(c.kind == AMOUNT and c.num < 0)
            if c.kind == AMOUNT and right is not None:
                row[51] = float(row[49] and not right[k])
        row[53] = float(t.rstrip().endswith(":") or _label_only(t)
                        or (block is not None and (first.text.rstrip().endswith(":")
                                                   or any(_label_only(ln.text) for ln in ls))))
        if c.kind == AMOUNT:  # a rate, not an amount: "MwSt.-% 19,0", "19,0 %", a "%" column's figure
            a_ = above[k]
            row[54] = float(before.rstrip().endswith("%") or first.text[c.end:].lstrip().startswith("%")
                            or (a_ is not None and "%" in a_.text and not find_amounts(a_.text)))
        if c.kind == NUMBER:   # "Rechnung des Versicherers (575) Nr. ...": a code in brackets qualifies
            row[_ENCLOSED] = float(first.text[:c.start].rstrip().endswith(("(", "["))
                                   and first.text[c.end:].lstrip().startswith((")", "]")))
        if c.kind in (DATE, NUMBER):  # "Rechnung Nr. 471102 vom 05.03.2018": the title line's own
            te = title_end(before)
            row[52] = float(te >= 0 and other_end("invoice_date" if c.kind == DATE else "invoice_number",
                                                  before[te:]) < 0)
        if c.kind == TEXT:          # what follows the block: a label, a phone, a place
            after = page.next_below(c.lines[-1])
            if after is not None:
                fa = flags[after]
                row[45] = float(":" in lines[after].text or fa[1] or fa[4])
                row[46] = fa[3]
            fl = flags[c.lines[-1]]
            row[48] = float(fl[3] or fl[5])
        rows.append(row)
        cols = [nb + j for j in _buckets(before)] + near_cols \
            + [nb + 3 * HASH_BUCKETS + j for j in (_block_buckets(t, block) if block else _buckets(t))]
        bag_rows += [i] * len(cols)
        bag_cols += cols
    if rows:
        X[:, :nb] = rows
    X[bag_rows, bag_cols] = 1.0
    return X


FIELD_NAMES = ("kw_before", "kw_left", "kw_above", "kw_inside", "kw_above2", "other_kw_before", "not_total_line",
               "kw_section", "other_label", "kw_column", "zero_shot")
#: Where a candidate's field features start in its row of ``extract.Scored.X``: after the base
#: features and the hashed word bags (the zero-shot score is the last field feature).
FIELD_OFFSET = len(BASE_NAMES) + N_BAGS * HASH_BUCKETS

#: Fields whose value heads a block under a heading ("Käufer", "Bill to", "Fournisseur").
_PARTIES = ("seller", "buyer")
#: A label of a number ("Kunden-Nr.", "Art-Nr-Lieferant:", "Customer No.", "N° client", "Client ID"):
#: it announces a party's identifier, not its name.
_NUMBER_LABEL = re.compile(r"(?<![^\W\d_])(?:nr|no|nummer|number|num|numéro|numero|número|id|n°|nº)(?![^\W\d_])",
                           re.IGNORECASE)


@lru_cache(maxsize=16384)
def _number_label(text: str) -> bool:
    return bool(_NUMBER_LABEL.search(text))


#: An amount with its cents ("4,55", "0.00"): money, not a phone number's or a street's digits.
_CENTS = re.compile(r"\d[.,]\d\d(?!\d)")


def _figure(text: str) -> bool:
    """A line that is only figures or a currency ("473,00", "56,87 EUR", "EUR")."""
    rest = CURRENCY_RE.sub("", text)
    return (bool(find_amounts(text)) or not rest.strip()) and not any(ch.isalpha() for ch in rest)


def _column_headers(page: Page, above: list) -> list[FLine | None]:
    """Per line: the first line up its column that is not a figure (a table's column header), at
    most six rows up; None when the line is not a figure or there is none."""
    return page.memo("column_headers", lambda: _find_column_headers(page, above))


def _find_column_headers(page: Page, above: list) -> list[FLine | None]:
    pos = {id(ln): k for k, ln in enumerate(page.lines)}
    figure = [_figure(ln.text) for ln in page.lines]
    out: list[FLine | None] = []
    for k in range(len(page)):
        hd, cur = None, k
        if figure[k]:
            for _ in range(6):
                a = above[cur]
                if a is None:
                    break
                j = pos[id(a)]
                if not figure[j]:
                    hd = a
                    break
                cur = j
        out.append(hd)
    return out


@lru_cache(maxsize=16384)
def _heading(t: str, names: tuple[str, ...] = ("seller", "buyer")) -> bool:
    """A short line that is mostly a party's (or the delivery address's) word: "Käufer/Leistungs-
    empfänger", "Bill to:", "Adresse de livraison"; not "Art-Nr-Kunde", not "Lieferant GmbH"."""
    if len(t) > 40 or len(t.split()) > 5 or any(ch.isdigit() for ch in t) or has_any(_LEGAL, t.casefold()):
        return False
    letters = sum(ch.isalpha() for ch in t)
    return max([keyword_length(n, t) for n in names] + [_delivery_length(t)]) >= 0.6 * letters


def _delivery_length(t: str) -> int:
    m = [len(w) for w in DELIVERY if w in t.casefold()]
    return max(m, default=0)


@lru_cache(maxsize=16384)
def _label_only(t: str) -> bool:
    """A label without its value ("Anschrift", "Name", "Adresse de livraison")."""
    return " ".join(_WORD.findall(t)).casefold() in LABEL_ONLY or _heading(t)


def _sections(page: Page, names: Sequence[str], left: list) -> list[FLine | None]:
    """Per line: the heading of its section, the nearest short line above that names a party
    ("Verkäufer", "Rechnungsempfänger", "Bill to:"), over it or over its label ("Name:" left of
    it), starting at or left of it; else None. A name is no heading ("Lieferant GmbH")."""
    parties = tuple(n for n in names if role(n) in _PARTIES)
    heads = [k for k, ln in enumerate(page.lines) if _heading(ln.text, parties)]
    out: list[FLine | None] = []
    reach = 8 * page.median_h
    for k, ln in enumerate(page.lines):
        best, key = None, None
        lab = left[k]          # a label in its own box left of it ("Name:") is under the heading too
        x0 = lab.x0 if lab is not None and (lab.text.rstrip().endswith(":") or _label_only(lab.text)) else ln.x0
        for j in heads:
            hd = page.lines[j]
            if hd is ln or hd.y1 > ln.y0 + 0.3 * ln.h or ln.y0 - hd.y1 > reach or hd.x0 > ln.x0 + ln.h \
                    or hd.x1 < x0:
                continue
            kk = (round((ln.y0 - hd.y1) / max(1.0, 0.5 * ln.h)), -hd.x0)
            if key is None or kk < key:
                best, key = hd, kk
        out.append(best)
    return out


def field_features(name: str, others: Sequence[str], page: Page, cands: Sequence[Cand], above: list,
                   left: list, above2: list) -> np.ndarray:
    """The features that depend on the field: its keywords around each candidate, others' too."""
    n = len(cands)
    rivals = [o for o in others if o != name]
    fields = tuple(sorted(set(rivals) | {name}))
    sections = _sections(page, others, left) if role(name) in _PARTIES and cands and cands[0].kind == TEXT else None
    headers = _column_headers(page, above) if cands and cands[0].kind == AMOUNT else None
    period = bool(cands) and cands[0].kind == DATE and role(name) in _NOT_PERIOD

    party = role(name) in _PARTIES

    def kw(text: str | None, near: bool = False) -> float:
        """1 when text holds a keyword of this field at least as long as any other field's. For a
        party, not in a label of its number ("Kunden-Nr.", "Art-Nr-Lieferant", "Customer No."), and
        in a line beside or above (``near``) only when that line is a label: the keyword is most of
        its letters, or it ends with a colon ("Käufer", "Bill to:"; not "MUSTER-KUNDE GMBH")."""
        if not text or not any_keyword(fields, text) or (party and _number_label(text)):
            return 0.0
        mine = keyword_length(name, text)
        if party and near and mine and not text.rstrip().endswith(":") \
                and 2 * mine < sum(ch.isalpha() for ch in text):
            return 0.0
        return float(mine > 0 and all(keyword_length(o, text) <= mine for o in rivals))

    def rival(text: str) -> float:
        if not any_keyword(fields, text):
            return 0.0
        mine = keyword_length(name, text)
        return float(any(keyword_length(o, text) > mine for o in rivals))

    not_total = page.memo("not_total", lambda: [float(has_any(NOT_TOTAL, ln.text.casefold())) for ln in page.lines])

    def _line_keywords(k: int) -> tuple[float, float, float, float, float]:
        """This field's keywords left of line k, above it, two above; its section's heading (1 this
        field's, -1 another's); its column's header over figures."""
        ln = page.lines[k]
        section = 0.0
        if sections is not None:
            hd = sections[k]
            if hd is not None and hd is not ln:   # 1 under this field's heading, -1 under another's
                section = -1.0 if _delivery_length(hd.text) else kw(hd.text) - rival(hd.text)
        column = 0.0
        if headers is not None:   # a column's header over figures: "Nettobetrag / 321,40 / 127,59 / 448,99"
            hd = headers[k]
            # only a specific one ("Nettobetrag", "Endbetrag"): an item table's "Amount" sums nothing
            column = kw(hd.text) if hd is not None and keyword_length(name, hd.text) >= 8 else 0.0
        return (kw(left[k].text if left[k] else None, near=True), kw(above[k].text if above[k] else None, near=True),
                kw(above2[k].text if above2[k] else None, near=True), section, column)

    def _start_keywords(k: int, start: int) -> tuple[float, float, float]:
        """This field's keyword just before ``start`` in line k, another's, and whether the nearest
        label names another date or number."""
        text = page.lines[k].text
        before = text[max(0, start - KW_REACH):start]     # a label is close to its value
        # The nearest label (before it in its line, else the line to its left, else above) names
        # another date or number: "Lieferdatum: 05.03.2018", "Kunden-Nr.: 12345"; or an invoice's
        # or due date's candidate is one end of a period ("01.10.2018 bis 31.10.2018": range_ends).
        lab = before if _has_letter(before) else (left[k].text if left[k] else (above[k].text if above[k] else ""))
        other = float(other_end(name, lab) >= 0 and keyword_length(name, lab) < 8
                      or (period and start in range_ends(text)))
        return kw(before), rival(before) if before else 0.0, other
    # what a candidate owes to its line (its neighbours, its section, its column's header) and to
    # where it starts in it (the label before it), asked once: a line's many candidates share them
    per_line: dict[int, tuple[float, float, float, float, float]] = {}
    per_start: dict[tuple[int, int], tuple[float, float, float]] = {}
    rows: list[tuple[float, ...]] = []
    for c in cands:
        k = c.lines[0]
        if k not in per_line:
            per_line[k] = _line_keywords(k)
        kw_left, kw_above, kw_above2, section, column = per_line[k]
        if (k, c.start) not in per_start:
            per_start[k, c.start] = _start_keywords(k, c.start)
        kw_before, rival_before, other = per_start[k, c.start]
        # a block's text holds no keyword unless a line of it does or one spans two of its lines
        inside = kw(c.text) if len(c.lines) == 1 or _block_keyword(fields, c.text, [page.lines[j].text for j in c.lines]) \
            else 0.0
        rows.append((kw_before, kw_left, kw_above, inside, kw_above2, rival_before, not_total[k], section, other, column))
    return np.array(rows, np.float32).reshape(n, len(FIELD_NAMES) - 1)


@lru_cache(maxsize=32768)
def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _block_keyword(fields: tuple[str, ...], t: str, texts: Sequence[str]) -> bool:
    """Whether a block's text (its lines' ``texts`` joined by spaces, the first maybe cut) may hold
    a keyword of ``fields``: one of its lines does, or the few letters either side of where two
    lines meet do (a keyword of two words, one on each line); False only when it holds none."""
    parts = _block_parts(t, texts)
    if parts is None:
        return any_keyword(fields, t)
    if any(any_keyword(fields, p) for p in parts):
        return True
    return any(_keyword_meets(fields, a, b) for a, b in zip(parts, parts[1:]))


@lru_cache(maxsize=32768)
def _keyword_meets(fields: tuple[str, ...], a: str, b: str) -> bool:
    """Whether a keyword of ``fields`` may span the end of ``a`` and the start of ``b`` joined by a
    space: the longest keyword's length either side, and the letter before or after it."""
    return any_keyword(fields, _seam(a, b, longest_keyword(fields)))


def neighbours(page: Page) -> tuple[list, list, list]:
    """For each line (reading order): the line above, the line to its left, the one above that."""
    above = [page.above(k) for k in range(len(page))]
    left = [page.left(k) for k in range(len(page))]
    pos = {id(ln): k for k, ln in enumerate(page.lines)}
    above2 = [above[pos[id(a)]] if a is not None else None for a in above]
    return above, left, above2
