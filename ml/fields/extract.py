"""Predict a page's fields from its lines: zero-shot rules, or a learned model when there is one.

    page = page_of(lines, width, height)
    values = extract(page, ["company", "date", "address", "total"], model=None)

Shared per page: the candidates of each type and their features; per field: its keyword
features, the zero-shot score, and (with a model) the model's score. The best candidate wins
unless the field is more likely absent. Qt-free; about 5-30 ms a page on one CPU core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from core.fields import AMOUNT, CURRENCY, TEXT, FieldValue, field_type, find_amounts, squeeze

from . import zeroshot
from .candidates import (
    BASE_NAMES,
    FIELD_NAMES,
    FIELD_OFFSET,
    Cand,
    adjustment_amounts,
    base_features,
    before_last,
    context_words,
    field_features,
    generate,
    neighbours,
    tax_amounts,
    without_legal_form,
)
from .lexicon import CREDIT_NOTE, role
from .lines import FLine, Page


@dataclass
class Scored:
    """One field's candidates with everything a model (or its trainer) reads."""

    name: str
    cands: list[Cand]
    X: np.ndarray          # base + field features + zero-shot score, one row per candidate
    zero: np.ndarray       # zero-shot scores
    threshold: float
    #: Per candidate, the words around it: (before it in its line, the line to its left, the line
    #: above), case-folded; a learned model's own vocabulary is looked up in them.
    contexts: list[tuple[frozenset, frozenset, frozenset]] | None = None
    #: The page says a later page of its document follows (``candidates.before_last``).
    before_last: bool = False


def page_of(lines: Sequence[FLine], width: float, height: float) -> Page:
    return Page(lines, width, height)


def scored_fields(page: Page, schema: Sequence[str]) -> list[Scored]:
    """Candidates and features for every field of the schema."""
    above, left, above2 = neighbours(page)
    early = before_last(page)
    by_kind: dict[str, tuple[list[Cand], np.ndarray]] = {}
    ctx_of: dict[str, list] = {}
    out = []
    for name in schema:
        kind = field_type(name)
        if kind not in by_kind:
            cands = generate(page, kind)
            by_kind[kind] = (cands, base_features(page, cands, above, left))
            ctx_of[kind] = [context_words(page, c, above, left) for c in cands]
        cands, base = by_kind[kind]
        own = field_features(name, schema, page, cands, above, left, above2)
        zero, thr = zeroshot.score(name, cands, base, own)
        X = np.concatenate([base, own, (zero - thr)[:, None].astype(np.float32)], axis=1) if cands else \
            np.zeros((0, base.shape[1] + own.shape[1] + 1), np.float32)
        out.append(Scored(name, cands, X, np.asarray(zero, np.float32), float(thr), ctx_of[kind], early))
    return out


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _value(page: Page, s: Scored, i: int, confidence: float) -> FieldValue:
    c = s.cands[i]
    sources = tuple(page.lines[k].index for k in c.lines)
    span = (c.start, c.end) if len(c.lines) == 1 else None
    return FieldValue(name=s.name, text=c.text, value=c.value, currency=c.currency, confidence=confidence,
                      sources=sources, span=span)


def extract(page: Page, schema: Sequence[str], model=None, scored: Sequence[Scored] | None = None,
            calibrated: bool = True) -> list[FieldValue]:
    """One FieldValue per field of the schema (absent ones say so), in schema order. ``scored``: the
    page's :func:`scored_fields` for this schema when the caller has them already. A learned
    model's confidences go through its calibration (``calibrated=False``: the network's own
    probability, unrounded, which is what a calibration is fitted on)."""
    picks = [_choice(s, model) for s in (scored if scored is not None else scored_fields(page, schema))]
    _add_up(picks)
    _tax_apart(picks)
    _parties_apart(picks, model)
    _rounded(picks, page)
    credit = is_credit_note(page)
    out = []
    for c in picks:
        s = c.scored
        conf = c.confidence
        if calibrated:
            conf = round(model.calibrated(s.name, conf, c.index is None) if c.learned else conf, 4)
        if c.index is None:
            out.append(_usual(model, s, page, picks) or FieldValue(name=s.name, absent=True, confidence=conf))
            continue
        v = _value(page, s, c.index, conf)
        if credit and field_type(s.name) == AMOUNT and v.value and v.value.startswith("-"):
            v = replace(v, value=v.value[1:])   # printed "-233,47" on a credit note: 233.47 credited
        known = model.remembered(s.name, v.text) if c.learned else None  # a supplier's name the OCR misread
        out.append(v if known is None else replace(v, text=known, value=known))
    return out


def _usual(model, s: Scored, page: Page, picks: list) -> FieldValue | None:
    """A currency field no candidate of the page gives, on a page with amounts: the project's usual
    currency (``FieldModel.usual``), with the share of its training pages that had it as the
    confidence and no source region (nothing on the page prints it); else None."""
    if model is None or s.cands or field_type(s.name) != CURRENCY or (usual := model.usual(s.name)) is None:
        return None
    amounts = [c for c in picks if field_type(c.scored.name) == AMOUNT]
    if not (any(c.scored.cands for c in amounts) if amounts else any(find_amounts(ln.text) for ln in page.lines)):
        return None
    code, share = usual
    return FieldValue(name=s.name, text=code, value=code, currency=code, confidence=round(share, 4))


def is_credit_note(page: Page) -> bool:
    """Whether the page's title says it is a credit note (``lexicon.CREDIT_NOTE``, in its top third)."""
    return any(ln.y0 < page.height / 3 and CREDIT_NOTE.search(ln.text) for ln in page.lines)


@dataclass
class _Choice:
    """One field's reading: the candidate taken (None: absent) with its confidence, and every
    candidate's probability (the model's, or the rules' scores made into one)."""

    scored: Scored
    index: int | None
    confidence: float
    probs: np.ndarray
    learned: bool


#: Below this, an amount is a rounding adjustment's size or nothing ("ROUNDING RM 0.00", "-.01"):
#: not a document's total while the page has a larger one (:func:`_choice`).
SMALL_TOTAL = 0.1


def _not_total(s: Scored) -> np.ndarray | None:
    """For a total field, the candidates too small to be one when the page has larger ones, and a
    lone digit on a page whose amounts have cents (a speck of the paper the OCR read as "6" between
    "TOTAL ROUNDED" and "RM 33.90")."""
    if role(s.name) != "total" or not s.cands:
        return None
    cents = any(re.search(r"[.,]\d\d$", c.text) for c in s.cands)
    small = np.array([abs(c.num) < SMALL_TOTAL or (cents and c.currency is None and bool(re.fullmatch(r"\d", c.text)))
                      for c in s.cands])
    return small if small.any() and not small.all() else None


#: Fields whose value is a name or an address: a line that is only a label ("Votre référence",
#: "Customer VAT Number", "Anschrift:"), or a block with one, is never theirs (:func:`_labels`).
NAMED_ROLES = ("seller", "buyer", "company", "address")
_LABEL_ONLY = BASE_NAMES.index("label_only")
_FIGURE_LABEL = BASE_NAMES.index("figure_label")


#: A value that starts with its label: "HQ ADD: LOT 11995, ...", "Name: Max Mustermann" (a head of
#: up to 15 characters, starting with a letter, without digits, and a colon: a time is no label).
_LABEL_HEAD = re.compile(r"^[^\W\d_][^\d:]{0,14}:\s*\S")


def _labels(s: Scored) -> np.ndarray | None:
    """For a name or address field, the candidates that are a label or hold one (the
    ``label_only`` feature), or start with one (:data:`_LABEL_HEAD`: the same text without its
    label is a candidate too); None when there are none or nothing else."""
    if role(s.name) not in NAMED_ROLES or not s.cands:
        return None
    lab = (s.X[:, _LABEL_ONLY] > 0.5) | (s.X[:, _FIGURE_LABEL] > 0.5) \
        | np.array([bool(_LABEL_HEAD.match(c.text)) for c in s.cands])
    return lab if lab.any() and not lab.all() else None


#: Where a candidate's "a label announces something else" feature is (``other_label``).
_OTHER_LABEL = FIELD_OFFSET + FIELD_NAMES.index("other_label")


def _identifiers(s: Scored) -> np.ndarray | None:
    """For an amount field, the candidates whose label announces an identifier ("Buchungsreferenz:
    420", "Kundennummer:2", "Telefon: +49 932 431 0": ``lexicon.NOT_FIELD``), not money; None when
    there are none or nothing else."""
    if field_type(s.name) != AMOUNT or not s.cands:
        return None
    ids = s.X[:, _OTHER_LABEL] > 0.5
    return ids if ids.any() and not ids.all() else None


#: Where a candidate's own labels are: before it, left of it, above it, its column's head.
_OWN_LABELS = [FIELD_OFFSET + FIELD_NAMES.index(n) for n in ("kw_before", "kw_left", "kw_above", "kw_column")]


def _not_last(s: Scored) -> np.ndarray | None:
    """For a net, tax or total on a page that is not its document's last ("Seite 1 von 2": the
    totals are on the last page), the candidates no label of the field's own announces (an item's
    price, a line's amount); None elsewhere."""
    if not s.before_last or role(s.name) not in SUM_ROLES or field_type(s.name) != AMOUNT or not s.cands:
        return None
    unlabelled = ~(s.X[:, _OWN_LABELS] > 0.5).any(axis=1)
    return unlabelled if unlabelled.any() else None


def _not_value(s: Scored) -> np.ndarray | None:
    """The candidates that cannot be the field's value whatever a model scores them."""
    barred = [b for b in (_not_total(s) if role(s.name) == "total" else _labels(s), _identifiers(s), _not_last(s))
              if b is not None]
    if not barred:
        return None
    return np.logical_or.reduce(barred)   # all of them: the field is absent


def _choice(s: Scored, model, also: np.ndarray | None = None) -> _Choice:
    """The field's reading: the model's (when it knows the field) or the rules'; ``also``: more
    candidates it may not take (:func:`_parties_apart`)."""
    barred = _not_value(s)
    if also is not None and also.any():
        barred = also if barred is None else (barred | also)
    if model is not None and model.knows(s.name):
        probs, p_absent = model.probabilities(s)
        if barred is not None:   # a network that learned "ROUNDING RM 52.10" reads "ROUNDING ADJ: 0.00" so;
            # one that learned where a layout prints its buyer reads another's header labels there
            probs = np.where(barred, 0.0, probs)
            norm = probs.sum() + p_absent
            probs, p_absent = probs / norm, p_absent / norm
        if len(probs) and probs.max() >= p_absent:
            i = int(np.argmax(probs))
            return _Choice(s, i, float(probs[i]), probs, True)
        return _Choice(s, None, float(p_absent), probs, True)
    if not s.cands:
        return _Choice(s, None, 0.5, np.zeros(0), False)
    if barred is not None:
        s = replace(s, zero=np.where(barred, -1e6, s.zero).astype(np.float32))
    probs = np.exp(s.zero - s.zero.max())
    probs /= probs.sum()
    i = int(np.argmax(s.zero))
    margin = float(s.zero[i] - s.threshold)
    if margin < 0:
        return _Choice(s, None, _sigmoid(-margin), probs, False)
    rest = np.delete(s.zero, i)
    lead = float(s.zero[i] - rest.max()) if len(rest) else 3.0
    return _Choice(s, i, _sigmoid(min(margin, 3.0)) * _sigmoid(lead), probs, False)


#: The totals that add up (net + tax = total), by their lexicon role.
SUM_ROLES = ("net_total", "tax_total", "total")
#: How much less likely (all three together) a reading that adds up may be than the best one and
#: still be taken instead, and the candidates of each field it looks among.
SUM_ODDS = 50.0
SUM_TOP = 4


def _add_up(picks: list[_Choice]) -> None:
    """An invoice's net, tax and total add up. When the three read do not: if two of them and one
    of the third field's candidates do, that candidate; else, among each field's few likeliest
    candidates, three that do when they are nearly as likely together (:data:`SUM_ODDS`)."""
    by_role = {role(c.scored.name): c for c in picks if field_type(c.scored.name) == AMOUNT}
    trio = [by_role.get(r) for r in SUM_ROLES]
    if any(c is None or c.index is None or not len(c.probs) for c in trio):
        return
    value = [np.array([cand.num for cand in c.scored.cands]) for c in trio]  # type: ignore[union-attr]
    # A net or a total of nothing adds up with anything printed twice (0,00 + 3,00 = 3,00): no evidence.
    adds = lambda i, j, k: (abs(value[0][i] + value[1][j] - value[2][k]) < 0.005  # noqa: E731
                            and abs(value[0][i]) >= 0.005 and abs(value[2][k]) >= 0.005)
    now = tuple(c.index for c in trio)  # type: ignore[union-attr]
    if adds(*now):
        return
    # Two of the three as read and a printed amount that completes the sum: the arithmetic is the
    # evidence (an exact cent by chance is rare), however sure the model was of the third.
    completions = []
    for f in range(3):
        for i in range(len(value[f])):
            pick = list(now)
            pick[f] = i
            if adds(*pick) and trio[f].probs[i] > 0:   # never a candidate it may not take (_not_value)
                completions.append((float(trio[f].probs[i]), f, i))  # type: ignore[union-attr]
    if completions:
        _, f, i = max(completions)
        c = trio[f]
        c.index, c.confidence = i, float(c.probs[i])  # type: ignore[union-attr]
        return
    top = [np.argsort(-c.probs)[:SUM_TOP] for c in trio]  # type: ignore[union-attr]
    logp = [np.log(np.maximum(c.probs, 1e-12)) for c in trio]  # type: ignore[union-attr]
    best, best_lp = None, sum(lp[i] for lp, i in zip(logp, now)) - np.log(SUM_ODDS)
    for i in top[0]:
        for j in top[1]:
            for k in top[2]:
                lp = logp[0][i] + logp[1][j] + logp[2][k]
                if lp > best_lp and adds(i, j, k) and min(trio[0].probs[i], trio[1].probs[j], trio[2].probs[k]) > 0:
                    best, best_lp = (int(i), int(j), int(k)), lp
    if best is None:
        return
    for c, i in zip(trio, best):
        if c.index != i:  # type: ignore[union-attr]
            c.index, c.confidence = i, float(c.probs[i])  # type: ignore[union-attr]


def _tax_apart(picks: list[_Choice]) -> None:
    """A tax is never the same printed amount as the net or the total it is part of (a tax of 100%,
    or of nothing on a total of nothing): where the tax field and one of them took one amount of the
    page, one of the two readings is wrong, and the less sure of them is read absent (people fill
    it; a next guess would be a guess)."""
    by_role = {role(c.scored.name): c for c in picks if field_type(c.scored.name) == AMOUNT and c.index is not None}
    tax = by_role.get("tax_total")
    if tax is None:
        return
    t = tax.scored.cands[tax.index]  # type: ignore[index]
    for other in (by_role.get("net_total"), by_role.get("total")):
        if other is None or tax.index is None:
            continue
        o = other.scored.cands[other.index]  # type: ignore[index]
        if (o.lines, o.start, o.end) == (t.lines, t.start, t.end) and abs(t.num) >= 0.005:
            weaker = tax if tax.confidence <= other.confidence else other
            weaker.index, weaker.confidence = None, 1.0 - weaker.confidence


def _party_key(text: str) -> str:
    return without_legal_form(squeeze(text).casefold())


def _same_party(a: str, b: str) -> bool:
    """Whether two readings name one party: the same name, with or without its legal form
    ("Au bon moulin SARL", "Au bon moulin"), or one the head of the other's block."""
    ka, kb = _party_key(a), _party_key(b)
    return ka == kb or ka.startswith(kb + " ") or kb.startswith(ka + " ")


def _log_likelihood(c: _Choice) -> float:
    """How likely a reading is, on one scale for a model's and the rules': the log-probability of
    its candidate (or of "absent") among the field's candidates and "absent" (the rules' threshold
    standing for absent's score)."""
    if c.learned:
        p = float(c.probs[c.index]) if c.index is not None else max(0.0, 1.0 - float(c.probs.sum()))
        return float(np.log(max(p, 1e-12)))
    z = np.append(c.scored.zero.astype(np.float64), c.scored.threshold)
    lse = float(z.max() + np.log(np.exp(z - z.max()).sum()))
    return float((z[c.index] if c.index is not None else c.scored.threshold) - lse)


def _parties_apart(picks: list[_Choice], model) -> None:
    """A seller is not its own buyer: where both took one party's name (one address block read as
    both, the other block as neither), the two readings are made again, one of the fields barred
    from that party, and the pair more likely together is kept (the seller with its name and the
    buyer with its next, or the buyer with it and the seller with its next)."""
    by_role = {role(c.scored.name): k for k, c in enumerate(picks) if field_type(c.scored.name) == TEXT}
    if "seller" not in by_role or "buyer" not in by_role:
        return
    ks, kb = by_role["seller"], by_role["buyer"]
    sel, buy = picks[ks], picks[kb]
    if sel.index is None or buy.index is None:
        return
    ts, tb = sel.scored.cands[sel.index].text, buy.scored.cands[buy.index].text
    if not _same_party(ts, tb):
        return
    def bar(c: _Choice, text: str) -> np.ndarray:
        return np.array([_same_party(x.text, text) for x in c.scored.cands])

    buy2 = _choice(buy.scored, model, bar(buy, ts))
    sel2 = _choice(sel.scored, model, bar(sel, tb))
    if _log_likelihood(sel) + _log_likelihood(buy2) >= _log_likelihood(sel2) + _log_likelihood(buy):
        picks[kb] = buy2
    else:
        picks[ks] = sel2


def _rounded(picks: list[_Choice], page: Page) -> None:
    """A receipt's total after its tax and rounding adjustment: when the total read plus an
    adjustment the page prints ("ROUNDING ADJ -0.02"), plus a tax it prints, or plus both, is an
    amount of the page ("TOTAL RM 31.47", "ROUNDING ADJ -0.02", "TOTAL RM 31.45"; "SUB TOTAL 7.00",
    "GST 6% 0.42", "ROUNDING ADJ -0.02", "NET TOTAL 7.40"; "EXCL. GST RM 73.87", "GST AMT RM4.43",
    "PAID RM78.30"), that amount is the total: what was paid. An exact cent by chance is rare."""
    totals = [c for c in picks if role(c.scored.name) == "total" and field_type(c.scored.name) == AMOUNT
              and c.index is not None and len(c.probs)]
    if not totals:
        return
    adjustments = [0.0] + adjustment_amounts(page)
    # A tax alone moves a total only where no tax field is read beside it (a receipt's schema): an
    # invoice's net, tax and total are :func:`_add_up`'s, whose tax rows are many ("MwSt 19% auf
    # 275,00: 52,25").
    tax_alone = not any(role(c.scored.name) in SUM_ROLES[:2] for c in picks)
    taxes = [0.0] + tax_amounts(page)
    if len(adjustments) == 1 and (len(taxes) == 1 or not tax_alone):
        return
    for c in totals:
        cands = c.scored.cands
        now = cands[c.index].num
        targets = [now + t + a for a in adjustments for t in taxes
                   if (a or (t and tax_alone)) and abs(t - now) >= 0.005]
        best = None
        for i, cand in enumerate(cands):
            if any(abs(cand.num - v) < 0.005 for v in targets) and (best is None or c.probs[i] > c.probs[best]):
                best = i
        if best is not None:
            c.index, c.confidence = best, float(max(c.probs[best], c.confidence))
