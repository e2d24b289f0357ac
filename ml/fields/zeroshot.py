"""Field values before anyone labelled a field: typed patterns and keyword anchors.

Each field is scored by a short rule over the candidates' features (``candidates.BASE_NAMES``,
``candidates.FIELD_NAMES``) chosen by its role (what the lexicon calls it) and its type. A field
whose best candidate scores under the rule's threshold is predicted absent: an invoice's due date
or tax total is only taken when a label announces it. The learned model gets this score as one of
its features, so it starts from what the rules know.
"""

from __future__ import annotations

import numpy as np

from core.fields import AMOUNT, CURRENCY, DATE, NUMBER, field_type

from .candidates import BASE_NAMES, FIELD_NAMES, Cand
from .lexicon import role

_B = {n: i for i, n in enumerate(BASE_NAMES)}
#: The invoice date's rule threshold (see :func:`score`).
INVOICE_DATE_THRESHOLD = -1.0
#: A party's threshold on a continuation page (``candidates.continuation``): elsewhere a company or
#: seller is always some line of the page (its letterhead), there only a label or a section heading
#: announces one.
CONTINUATION_PARTY_THRESHOLD = 1.5
_F = {n: i for i, n in enumerate(FIELD_NAMES[:-1])}


def score(name: str, cands: list[Cand], base: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, float]:
    """(score of each candidate, threshold under which the field is absent)."""
    n = len(cands)
    if n == 0:
        return np.zeros(0, np.float32), 0.0

    def b(col: str) -> np.ndarray:
        return base[:, _B[col]]

    def f(col: str) -> np.ndarray:
        return own[:, _F[col]]

    kw = 3.0 * f("kw_before") + 2.5 * f("kw_left") + 1.5 * f("kw_above") + 0.5 * f("kw_above2")
    other = 2.0 * f("other_kw_before")
    r, kind = role(name), field_type(name)
    later = bool(b("continuation").max() > 0.5)     # not the document's first page
    if kind == DATE:
        # A date's label above it counts as one on its left: a header row over a row of values
        # ("Invoice Date | Due Date" over "February 17, 2026 | March 3, 2026").
        kw = 3.0 * f("kw_before") + 2.5 * f("kw_left") + 2.5 * f("kw_above") + 0.5 * f("kw_above2")
        ol = f("other_label")      # "Lieferdatum", "Date of delivery", a period's bound: another date's
        tb = b("title_before") if r == "invoice_date" else 0.0   # "Rechnung Nr. 471102 vom 05.03.2018"
        s = (kw * (1 - ol) - other * (1 - tb) + 0.3 * (1 - b("date_rank")) + 0.5 * b("date_same") - 1.0 * b("y0")
             - 1.5 * ol + 1.5 * tb)
        if r == "date":
            return s, -10.0
        if r == "invoice_date":
            # Without any label a date scores at least -1 (at the page's foot): under that, every
            # date of the page is announced as another one (delivery, payment terms, a period), as
            # on an invoice's continuation page, which has no invoice date.
            return s, INVOICE_DATE_THRESHOLD
        return s, 2.0
    if kind == AMOUNT:
        kw_here = f("kw_before") + f("kw_left")
        s = (kw - other * (1 - kw_here) + 1.0 * b("decimals") - 2.0 * b("negative") + 0.4 * b("amount_same") + 0.6 * b("line_is_value_only")
             + 0.8 * b("last_in_line") + 0.6 * b("row_last") * b("decimals")
             - 3.0 * (1 - b("decimals")) * (b("amount_log") > 1.2)   # a 7+ digit integer is an id
             - 2.5 * b("percent") + 2.0 * f("kw_column") * b("col_last") * (1 - f("kw_above")))
        if r == "total":
            s += 1.5 * b("amount_is_max") + 0.5 * b("lower_half") - 2.0 * f("not_total_line") * (1 - kw_here) \
                + 0.5 * b("currency_beside") + 2.0 * b("after_rounding")
            return s, 2.9
        return s, 2.5
    if kind == NUMBER:
        s = kw - other + 0.5 * b("letters_and_digits") + 0.5 * b("token_len") - 0.5 * b("y0") \
            - 1.5 * (b("token_len") >= 0.6) * (b("letters_and_digits") == 0) - 0.5 * b("colon_before") * 0 \
            - 2.5 * f("other_label") - 2.0 * b("enclosed")
        if r == "invoice_number":
            s = s + 1.5 * b("title_before")
        return s, 2.0
    if kind == CURRENCY:
        values = [c.value for c in cands]
        count = np.array([values.count(v) for v in values], np.float32)
        return np.log1p(count) + kw, 0.0
    # text
    top = 1.0 - b("rank_top")
    lines = b("n_lines") * 5
    if r in ("company", "seller"):
        s = (2.0 * top + 1.5 * b("legal_form") + 0.6 * np.minimum(b("rel_height"), 2.0) + 0.5 * b("upper")
             - 2.0 * b("digits") - 0.8 * (lines - 1) - 0.8 * b("line_colon") + 1.0 * kw - other
             + 0.3 * b("count_same_text") - 0.5 * b("address_words") - 0.5 * b("postcode")
             - 2.0 * b("doc_title") - 1.5 * b("paren") - 2.0 * b("short") - 1.0 * b("phone"))
        s = s + 2.5 * f("kw_section") - 3.0 * b("label_only") - 2.5 * f("other_label")
        if r == "seller":
            s = s - 1.0 * (b("digits") > 0) - 1.0 * b("address_words")
        if r == "seller":
            s = s + 1.0 * b("legal_form") * (b("count_same_text") > 0.2) + 0.5 * b("in_sep_line")
        if later:   # no letterhead: only what a label or a heading announces
            return s - 3.0 * (1.0 - np.minimum(1.0, kw + f("kw_section"))), CONTINUATION_PARTY_THRESHOLD
        return s, -10.0
    if r == "buyer":
        # a window envelope's recipient: on the first page only
        band = ((b("y0") > 0.08) & (b("y0") < 0.4) & (not later)).astype(np.float32)
        window = band * (b("x0") < 0.5)
        # A French letter's window is on the right (NF Z 11-001): an address block there
        right = band * (b("x0") >= 0.5) * b("heads_block") * b("window_right")
        s = (kw + 1.0 * window + 0.5 * b("legal_form") - 1.5 * b("digits") - 0.6 * (lines - 1)
             - 0.8 * b("line_colon") - other - 0.5 * b("address_words") - 0.5 * b("postcode")
             + 1.5 * b("heads_block") * window + 2.0 * right - 1.0 * band * (b("heads_block") - b("block_top"))
             - 2.0 * b("in_sep_line") - 1.0 * b("doc_title")
             + 2.5 * f("kw_section") - 3.0 * b("label_only") - 1.0 * (b("digits") > 0) - 1.0 * b("address_words")
             - 2.5 * f("other_label"))
        return s, 1.5
    if r == "address":
        good = ((lines >= 2) & (lines <= 4)).astype(np.float32)
        s = (3.0 * b("address_words") + 1.5 * b("postcode") + 0.8 * good + 1.0 * top - 1.5 * b("legal_form")
             - 1.0 * b("line_colon") - 0.5 * np.abs(b("digits") - 0.2) - other - 1.5 * b("paren")
             - 2.0 * b("label_inside") - 1.5 * b("phone") - 1.0 * b("doc_title") - 1.5 * b("first_legal")
             - 1.5 * b("first_id") + 0.8 * b("after_label") - 1.0 * b("after_postcode") + 0.5 * b("last_postcode"))
        return s, 0.5
    return kw - other, 2.5
