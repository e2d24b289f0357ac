"""The learned field model: which candidate is each field's value, or is it absent.

For every field of a project's schema, a small network scores each candidate of the field's type
from its features (layout, text shape, the type's statistics, the words around it hashed, the
field's keywords, the zero-shot score); one more score, learned, stands for "not on this page".
A softmax over the page's candidates and that one gives each candidate's probability, which is
the field's confidence. Trained with PyTorch (listwise: the probability of the right candidates,
or of "absent"), run with NumPy (two small matrix products a field; no torch at pre-fill).

Saved as ``fields.json`` (schema, feature layout, standardisation, metrics) and ``fields.npz``
(the weights, loaded without pickle). Qt-free.

A field whose network reads fewer pages right than the zero-shot rules, on pages it did not learn
from and by more than chance explains, is left to the rules (``meta["rules_read"]``,
:func:`rules_read_better`): a field few pages have can be learned worse than the rules read it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from core.fields import CURRENCY, TEXT, field_type, parse_currency, same, same_value, squeeze

from .calibration import Calibration, fit_calibration
from .candidates import BASE_NAMES, FIELD_NAMES, FIELD_OFFSET, HASH_BUCKETS, N_BAGS
from .extract import Scored, scored_fields
from .lines import Page
from .vocabulary import attach, read_page

FORMAT = "proofdesk-fields"
FORMAT_VERSION = 1
N_FEATURES = FIELD_OFFSET + len(FIELD_NAMES)


@dataclass
class Example:
    """One page to learn from: its lines and the fields people confirmed (None = not on the page)."""

    page: Page
    fields: dict[str, str | None]
    #: The page's candidates and features for the schema, when already computed (scored_fields).
    scored: list[Scored] | None = None
    #: The same page as the OCR read it (pre-fill's lines), when known: the confidences are
    #: calibrated on what pre-fill will read, not on people's corrected lines.
    read: Page | None = None
    read_scored: list[Scored] | None = None


def targets(s: Scored, truth: str | None) -> np.ndarray | None:
    """Which candidates carry the confirmed value (a 0/1 row), all zeros when it is absent,
    None when it is on the page but no candidate reads it (nothing to learn from)."""
    y = np.zeros(len(s.cands), np.float32)
    if truth is None:
        return y
    for i, c in enumerate(s.cands):
        if matches(s.name, c.text, c.value, truth):
            y[i] = 1.0
    return y if y.any() else None


VOCAB = 24  # words a field learns as its labels: those most often right before, left of or above its values


def vocabulary(rows: Sequence[tuple["Scored", np.ndarray]], size: int = VOCAB) -> list[str]:
    """The words that announce a field on the training pages: seen around its right candidates
    more often than around the others (ranked by how much more), at most ``size``."""
    pos: dict[str, float] = {}
    neg: dict[str, float] = {}
    for s, y in rows:
        if not s.contexts:
            continue
        for ctx, yi in zip(s.contexts, y):
            seen = set().union(*ctx)
            target = pos if yi > 0 else neg
            for w in seen:
                target[w] = target.get(w, 0.0) + (1.0 / max(1.0, y.sum()) if yi > 0 else 1.0 / max(1, len(y)))
    score = {w: p / (1.0 + neg.get(w, 0.0)) for w, p in pos.items() if p >= 1.0}
    return [w for w, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def vocab_features(s: "Scored", vocab: Sequence[str]) -> np.ndarray:
    """For each candidate, whether each vocabulary word is before it, left of it, above it."""
    n, v = len(s.cands), len(vocab)
    out = np.zeros((n, 3 * v), np.float32)
    if not v or not s.contexts:
        return out
    index = {w: k for k, w in enumerate(vocab)}
    for i, ctx in enumerate(s.contexts):
        for j, part in enumerate(ctx):
            for w in part:
                k = index.get(w)
                if k is not None:
                    out[i, j * v + k] = 1.0
    return out


#: Field types whose values come back from document to document (a supplier's name and address):
#: a learned model remembers the values people confirmed for them (:class:`Memory`).
MEMORY_TYPES = (TEXT,)
MEMORY_FEATURES = ("known", "known_overlap")
MEMORY_CAP = 5000  # values remembered per field (the most frequent)
_MWORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=32768)
def _mwords(key: str) -> frozenset:
    return frozenset(_MWORD.findall(key))


@dataclass
class Memory:
    """The values people confirmed for a field on the training pages, ``text -> pages``
    (whitespace squeezed; compared ignoring case): a project's regular suppliers. A candidate's
    features: whether its text is one of them, and its best word overlap (Jaccard) with one. In
    training a page is scored against the other pages' values only (:meth:`features`'s ``minus``),
    as a new document is: a value seen once, on that page alone, is not known. :meth:`closest`
    puts right what the OCR misread of a known value."""

    values: dict[str, int]

    def __post_init__(self) -> None:
        self._keys: dict[str, int] = {}
        for text, n in self.values.items():
            key = text_key(text)
            self._keys[key] = self._keys.get(key, 0) + n
        self._sizes = [(key, len(_mwords(key))) for key in self._keys]
        self._texts = list(self.values)
        self._text_keys = [text_key(t) for t in self._texts]
        self._index: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(self._sizes):
            for w in _mwords(key):
                self._index.setdefault(w, []).append(i)

    def features(self, texts: Sequence[str], minus: dict[str, int] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), len(MEMORY_FEATURES)), np.float32)
        gone = minus or {}
        alive = [self._keys[key] - gone.get(key, 0) > 0 for key, _ in self._sizes]
        for i, text in enumerate(texts):
            key = text_key(text)
            out[i, 0] = float(self._keys.get(key, 0) - gone.get(key, 0) > 0)
            ws = _mwords(key)
            inter: dict[int, int] = {}
            for w in ws:
                for j in self._index.get(w, ()):
                    if alive[j]:
                        inter[j] = inter.get(j, 0) + 1
            if inter:
                out[i, 1] = max(n / (len(ws) + self._sizes[j][1] - n) for j, n in inter.items())
        return out

    def closest(self, text: str) -> str | None:
        """The known value that ``text`` misreads (at most one edit in :data:`SNAP_CHARS`
        characters, and nearer than any other known value), as people typed it; None when there
        is none or ``text`` is one already."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        key = text_key(text)
        if not key or not self.values or key in self._keys:
            return None
        got = process.extract(key, self._text_keys, scorer=Levenshtein.distance, limit=2,
                              score_cutoff=max(1, len(key) // SNAP_CHARS))
        if not got or (len(got) > 1 and got[1][1] <= got[0][1]):
            return None
        return self._texts[got[0][2]]

    def to_json(self) -> dict:
        return {"values": self.values}

    @classmethod
    def from_json(cls, doc: dict | None) -> "Memory | None":
        if not doc:
            return None
        return cls({str(k): int(v) for k, v in (doc.get("values") or {}).items()})

    @classmethod
    def of(cls, examples: Sequence["Example"], name: str) -> "Memory":
        values: dict[str, int] = {}
        first: dict[str, str] = {}  # a value's text as first confirmed, whatever its case later
        for ex in examples:
            text = confirmed(ex, name)
            if text:
                text = first.setdefault(text_key(text), text)
                values[text] = values.get(text, 0) + 1
        return cls(dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:MEMORY_CAP]))


#: A known value stands for a candidate that reads it with at most one edit in this many characters.
SNAP_CHARS = 12


def confirmed(ex: "Example", name: str) -> str:
    """The value people confirmed for field ``name`` on a page, whitespace squeezed ('' for none)."""
    return squeeze(ex.fields.get(name) or "")


#: Pages a model needs before its confidences are calibrated (:func:`fit_calibration`).
CALIB_MIN_PAGES = 12
#: Folds of the training pages whose held-out readings calibrate the confidences and choose the
#: fields the rules read better (:func:`held_out_readings`), as the run's own cross-validation
#: deals them. Five, not three: each reading model learns from 80% of the pages rather than 67%, so
#: it reads as the model saved will (5-fold ``eval --cv``, seed 0, 2026-11-30: ECE sroie-dev 4.2%
#: -> 2.1% given the lines, 7.5% -> 6.0% end to end; invoices-dev 7.0% -> 4.4%, 6.1% -> 5.1%;
#: invoices-dev F1 89.3% -> 89.6% given the lines, 88.4% -> 88.8% end to end, the rules taking a
#: field less often where a network of 14 pages read it worse than one of 21 does).
CALIB_FOLDS = 5


@dataclass
class FieldNet:
    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    absent: float
    vocab: list[str] = field(default_factory=list)
    #: For a model saved by an earlier version with fewer features: the columns of today's
    #: features it was trained on, in its order (None: all of them, as they are).
    select: np.ndarray | None = None
    #: Weight of the zero-shot rules' margin (the raw ``zero_shot`` feature, the last of
    #: :data:`N_FEATURES`) added to each candidate's score: the network learns a correction of the
    #: rules rather than a field from nothing (0: a model from before, or trained without it).
    rule_weight: float = 0.0
    #: The values people confirmed on the training pages (None: a field type that does not come
    #: back from page to page, or a model from before: no memory columns).
    memory: Memory | None = None

    def inputs(self, s: "Scored") -> np.ndarray:
        X = s.X if self.select is None else s.X[:, self.select]
        parts = [X]
        if self.vocab:
            parts.append(vocab_features(s, self.vocab))
        if self.memory is not None:
            parts.append(self.memory.features([c.text for c in s.cands]))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else X

    def logits(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, np.float32)
        z = (X - self.mean) / self.std
        # einsum, not @: matrices this small are 10x slower through a multi-threaded BLAS on a busy
        # machine (8 ms against 0.7 for 300 candidates: the learned model cost 37 ms a page).
        h = np.maximum(np.einsum("ij,jk->ik", z, self.w1, optimize=False) + self.b1, 0.0)
        out = np.einsum("ij,j->i", h, self.w2, optimize=False) + self.b2
        if self.rule_weight:  # the zero-shot margin: the last feature before the vocabulary's
            out = out + self.rule_weight * X[:, (N_FEATURES if self.select is None else len(self.select)) - 1]
        return out


@dataclass
class FieldModel:
    """One network per field of the schema it was trained on."""

    nets: dict[str, FieldNet]
    meta: dict[str, Any] = field(default_factory=dict)
    #: The map from the networks' probabilities to calibrated confidences (None: as they are).
    calibration: Calibration | None = None

    def calibrated(self, name: str, p: float, absent: bool) -> float:
        """A reading's confidence: the probability ``p`` the network gave it, calibrated."""
        return float(p) if self.calibration is None else self.calibration(name, p, absent)

    def knows(self, name: str) -> bool:
        """Whether its network reads ``name`` (not a field it never learned, nor one the rules read
        better on the pages it was judged on: ``meta["rules_read"]``, :func:`rules_read_better`)."""
        return name in self.nets and name not in (self.meta.get("rules_read") or ())

    def usual(self, name: str) -> tuple[str, float] | None:
        """A currency field's usual value in this project and the share of its training pages
        that had it (:func:`usual_currencies`), else None."""
        d = (self.meta.get("usual") or {}).get(name)
        return (str(d["value"]), float(d["share"])) if d else None

    @property
    def schema(self) -> list[str]:
        return list(self.meta.get("schema") or self.nets)

    def remembered(self, name: str, text: str) -> str | None:
        """The value people confirmed before that ``text`` misreads (:meth:`Memory.closest`), else None."""
        net = self.nets.get(name)
        return None if net is None or net.memory is None else net.memory.closest(text)

    def probabilities(self, s: Scored) -> tuple[np.ndarray, float]:
        """(probability of each candidate, probability that the field is absent)."""
        net = self.nets[s.name]
        lg = net.logits(net.inputs(s))
        allv = np.concatenate([lg, [net.absent]])
        allv = np.exp(allv - allv.max())
        allv /= allv.sum()
        return allv[:-1], float(allv[-1])

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, net in self.nets.items():
            for k in ("mean", "std", "w1", "b1", "w2"):
                arrays[f"{name}.{k}"] = getattr(net, k)
            arrays[f"{name}.b2"] = np.array([net.b2, net.absent, net.rule_weight], np.float32)
        np.savez(folder / "fields.npz", **arrays)
        meta = dict(self.meta, format=FORMAT, format_version=FORMAT_VERSION, fields=list(self.nets),
                    vocab={name: net.vocab for name, net in self.nets.items()},
                    memory={name: net.memory.to_json() for name, net in self.nets.items() if net.memory is not None},
                    memory_features=list(MEMORY_FEATURES),
                    calibration=self.calibration.to_json() if self.calibration is not None else None,
                    n_features=N_FEATURES, base_features=list(BASE_NAMES), field_features=list(FIELD_NAMES),
                    hash_buckets=HASH_BUCKETS)
        (folder / "fields.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "FieldModel":
        """Read a saved model; a file that is not one (or does not fit this code) raises ValueError."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "fields.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or int(meta.get("format_version", 0)) > FORMAT_VERSION:
                raise ValueError(f"{folder}: not a field model this version reads")
            select = _columns(meta, folder)
            n_features = N_FEATURES if select is None else len(select)
            nets = {}
            with np.load(folder / "fields.npz", allow_pickle=False) as z:
                for name in meta["fields"]:
                    b = z[f"{name}.b2"]
                    vocab = [str(w) for w in (meta.get("vocab") or {}).get(name, [])]
                    memory = Memory.from_json((meta.get("memory") or {}).get(name))
                    if memory is not None and list(meta.get("memory_features") or []) != list(MEMORY_FEATURES):
                        raise ValueError(f"{folder}: field {name} remembers values with other features")
                    nets[name] = FieldNet(z[f"{name}.mean"], z[f"{name}.std"], z[f"{name}.w1"], z[f"{name}.b1"],
                                          z[f"{name}.w2"], float(b[0]), float(b[1]), vocab, select,
                                          float(b[2]) if len(b) > 2 else 0.0, memory)
                    want = n_features + 3 * len(vocab) + (len(MEMORY_FEATURES) if memory is not None else 0)
                    if nets[name].w1.shape[0] != want or nets[name].mean.shape[0] != want:
                        raise ValueError(f"{folder}: field {name} has {nets[name].w1.shape[0]} inputs, not {want}")
            calibration = Calibration.from_json(meta.get("calibration"))
            rules = meta.get("rules_read")
            if rules is not None and (not isinstance(rules, list) or not all(isinstance(n, str) for n in rules)):
                raise ValueError(f"{folder}: the fields the rules read are not a list of names: {rules!r}")
        except (OSError, KeyError, TypeError, json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(str(folder)):
                raise
            raise ValueError(f"{folder}: unreadable field model ({exc})") from exc
        return cls(nets, meta, calibration)


def _layout(base: Sequence[str], fields: Sequence[str], buckets: int) -> list[tuple[str, Any]]:
    """The names of a candidate's feature columns, in order (``extract.scored_fields``): the base
    features, the hashed word bags, the field's own features (the zero-shot score last)."""
    return ([("base", n) for n in base] + [("bag", i) for i in range(N_BAGS * buckets)]
            + [("field", n) for n in fields])


def _columns(meta: dict, folder: Path) -> np.ndarray | None:
    """None when a saved model's features are today's; else the columns of today's features it
    reads, in its order: a model saved before features were added keeps working (the new ones are
    not its inputs) until a run trains one that uses them. A feature it knows that is gone (or another
    hashing) cannot be read: ValueError."""
    base, fields_ = list(meta.get("base_features") or []), list(meta.get("field_features") or [])
    if base == list(BASE_NAMES) and fields_ == list(FIELD_NAMES) and meta.get("n_features") == N_FEATURES:
        return None
    now = {k: i for i, k in enumerate(_layout(BASE_NAMES, FIELD_NAMES, HASH_BUCKETS))}
    saved = _layout(base, fields_, int(meta.get("hash_buckets") or 0))
    missing = [k[1] for k in saved if k not in now]
    if not base or missing or int(meta.get("hash_buckets") or 0) != HASH_BUCKETS or len(saved) != meta.get("n_features"):
        raise ValueError(f"{folder}: made for other features ({meta.get('n_features')}, this code {N_FEATURES}"
                         + (f"; gone: {', '.join(map(str, missing[:5]))}" if missing else "") + ")")
    return np.array([now[k] for k in saved], dtype=np.intp)


#: The rules' margin's starting weight in a trained network's scores (:attr:`FieldNet.rule_weight`;
#: 0 = the network alone, as before). On 21-48 training pages it lifts the learned figures where
#: the rules were already good (invoices-dev 5-fold end to end 71.8% -> 75.1%, sroie-dev 74.5% ->
#: 75.3%: docs/benchmarks.md "Key fields").
RULE_PRIOR = 1.0
#: Adam's weight decay: on 21-48 pages, stronger than usual, so that a field seen on few pages stays
#: near the rules (5-fold, two fold seeds: invoices-dev given the lines 1e-3: 79.6%, 0.01: 80.0%,
#: 0.03: 81.2%, 0.1: 82.8%, 0.3: 82.5%; sroie-dev 87.1-87.7% throughout: docs/benchmarks.md).
WEIGHT_DECAY = 0.05


@dataclass
class TrainStats:
    pages: int
    seconds: float
    per_field: dict[str, dict[str, int]]


def train(examples: Sequence[Example], schema: Sequence[str], *, hidden: int = 32, epochs: int = 300,
          lr: float = 0.01, weight_decay: float = WEIGHT_DECAY, seed: int = 0,
          progress: Callable[[str], None] | None = None, rule_prior: float = RULE_PRIOR, memory: bool = True,
          calibrate: bool = True) -> tuple[FieldModel, TrainStats]:
    """Train one network per field on the examples; fields nobody confirmed on any page are skipped.
    ``rule_prior``: the starting weight of the zero-shot rules' margin in each candidate's score
    (learned with the rest; 0: the network alone). ``memory``: text fields remember the values
    people confirmed (:class:`Memory`). ``calibrate``: from :data:`CALIB_MIN_PAGES` pages on, the
    confidences are calibrated on :data:`CALIB_FOLDS` folds of the examples (:func:`held_out_readings`),
    and the fields the rules read better on those folds are left to them (:func:`rules_read_better`).
    The model carries the words of the examples' lines (``ml.fields.vocabulary``), through which
    it reads an OCR's lines."""
    import torch

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    # Tiny matrices: one thread is 10x faster than two fighting over a busy machine's cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    calibrate = calibrate and len(examples) >= CALIB_MIN_PAGES
    examples = [replace(ex, scored=ex.scored if ex.scored is not None else scored_fields(ex.page, schema),
                        read_scored=ex.read_scored if not calibrate or ex.read is None or ex.read_scored is not None
                        else scored_fields(ex.read, schema)) for ex in examples]

    def learn(sub: Sequence[Example], report: Callable[[str], None] | None, start: float
              ) -> tuple[FieldModel, TrainStats]:
        m, st = _train(sub, schema, hidden, epochs, lr, weight_decay, seed, report, start, rule_prior, memory)
        attach(m, ([ln.text for ln in ex.page.lines] for ex in sub))   # its pages' words (vocabulary)
        return m, st

    try:
        model, stats = learn(examples, progress, t0)
        if calibrate:
            if progress:
                progress(f"calibrating the confidences on {CALIB_FOLDS} folds of {len(examples)} pages")
            readings = held_out_readings(examples, schema, lambda sub: learn(sub, None, time.perf_counter())[0], seed)
            rules = rules_read_better(readings)
            model.meta["rules_read"] = rules
            model.calibration = fit_calibration([r for r in readings if r.field not in rules])
            if progress and rules:
                progress(f"read by the rules, which read them better on pages not learned from: {', '.join(rules)}")
            stats.seconds = time.perf_counter() - t0
            model.meta["seconds"] = round(stats.seconds, 2)
            if progress:
                c = model.calibration
                progress(f"calibration: slope {c.slope:.2f}, offset {c.bias:+.2f} on {c.readings} readings")
        return model, stats
    finally:
        torch.set_num_threads(threads)


#: A currency people confirmed on at least this many pages, and on this share of the pages with
#: one, is the project's usual currency (:func:`usual_currencies`).
USUAL_PAGES = 3
USUAL_SHARE = 0.8


def usual_currencies(examples: Sequence[Example], schema: Sequence[str]) -> dict[str, dict]:
    """Per currency field of the schema, the code people confirmed on most training pages when it
    is the project's usual one (:data:`USUAL_PAGES`, :data:`USUAL_SHARE`): a page with amounts that
    prints no currency (an invoice's second page, a domestic invoice) is in it."""
    from collections import Counter

    out = {}
    for name in schema:
        if field_type(name) != CURRENCY:
            continue
        codes = Counter(parse_currency(v) or squeeze(v).upper() for ex in examples if (v := ex.fields.get(name)))
        if not codes:
            continue
        code, n = codes.most_common(1)[0]
        total = sum(codes.values())
        if n >= USUAL_PAGES and n / total >= USUAL_SHARE:
            out[name] = {"value": code, "share": round(n / total, 4), "pages": total}
    return out


class Reading(NamedTuple):
    """One field of one page read by a model that did not learn from it (:func:`readings_of`)."""

    field: str
    p: float            # the network's probability of what it read
    absent: bool        # it read the field absent
    right: bool         # what it read is what people confirmed
    rules_right: bool   # what the zero-shot rules read on the same page is


def held_out_readings(examples: Sequence[Example], schema: Sequence[str],
                      fit: Callable[[Sequence[Example]], FieldModel], seed: int = 0) -> list[Reading]:
    """Readings of pages the model that read them did not learn from: :data:`CALIB_FOLDS` folds of
    the examples, each read by a model ``fit`` on the rest (from the OCR's lines where an example
    has them, :attr:`Example.read`). What the confidences' calibration is fitted on and what
    decides which fields the rules read better (:func:`rules_read_better`)."""
    import random

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    readings: list[Reading] = []
    for f in range(CALIB_FOLDS):
        held = set(order[f::CALIB_FOLDS])
        sub = fit([ex for i, ex in enumerate(examples) if i not in held])
        readings += readings_of(sub, [examples[i] for i in sorted(held)], schema)
    return readings


#: A field's network gives way to the zero-shot rules when, on pages it did not learn from, the
#: rules read at least this many more pages right than the network (:func:`rules_read_better`).
#: One page either way is a tie. Measured against a one-sided sign test at 10% (the rule before,
#: which asked 4 to 0 or 6 to 1 of a field, and so let few-page fields such as an invoice's due date
#: stay with a network that read them worse), 20%, 30% and 50%, and against "more pages" (1 is
#: enough) and "as many pages" (ties to the rules): ADR 0009, session 16.
RULES_MARGIN = 2


def rules_read_better(readings: Sequence[Reading], margin: int = RULES_MARGIN) -> list[str]:
    """The fields whose held-out readings the rules got right on at least ``margin`` more pages than
    the network (counted over the pages only one of the two read right): a field few pages have
    (an invoice's due date on 7 of 21) can be learned worse than the rules read it, and a model
    that read it so would lose it."""
    rules_only: dict[str, int] = {}
    net_only: dict[str, int] = {}
    for r in readings:
        if r.rules_right != r.right:
            d = rules_only if r.rules_right else net_only
            d[r.field] = d.get(r.field, 0) + 1
    return sorted(name for name, b in rules_only.items() if b - net_only.get(name, 0) >= margin)


def readings_of(model: FieldModel, examples: Sequence[Example], schema: Sequence[str]) -> list[Reading]:
    """:class:`Reading` of each field ``model`` reads (by its network) on the examples (their OCR's
    lines where they have them) that people said something about, with what the rules read on the
    same page. ``model`` must not have learned from these pages."""
    from .extract import extract

    out = []
    for ex in examples:
        page, scored = _as_read(ex, model, schema)
        rules = {v.name: v for v in extract(page, schema, None, scored=scored)}
        for v in extract(page, schema, model, scored=scored, calibrated=False):
            if v.name not in ex.fields or not model.knows(v.name) or v.confidence is None:
                continue
            truth = ex.fields[v.name]
            out.append(Reading(v.name, float(v.confidence), bool(v.absent), is_right(v, truth),
                               is_right(rules[v.name], truth)))
    return out


def _as_read(ex: Example, model: FieldModel, schema: Sequence[str]) -> tuple[Page, list[Scored] | None]:
    """An example's page and its fields' candidates as pre-fill reads it with ``model``: its OCR's
    lines through the model's words (``ml.fields.vocabulary``) where it has them, else people's."""
    if ex.read is None:
        return ex.page, ex.scored
    page = read_page(ex.read, model)
    return (ex.read, ex.read_scored) if page is ex.read else (page, scored_fields(page, schema))


def matches(name: str, text: str, value: str | None, truth: str) -> bool:
    """Whether a text (and its normalised value, read in its page's context: a US date on a page
    that prints them) is the value people confirmed."""
    return same(name, text, truth) or same_value(name, value, truth)


def is_right(v, truth: str | None) -> bool:
    """Whether a reading (a FieldValue) is what people confirmed: its value, or nothing read (absent,
    or no text) where they said the field is not on the page."""
    if v.absent or not v.text:
        return truth is None
    return truth is not None and matches(v.name, v.text, v.value, truth)


def _train(examples, schema, hidden, epochs, lr, weight_decay, seed, progress, t0, rule_prior, use_memory):
    import torch

    per_page = [ex.scored if ex.scored is not None else scored_fields(ex.page, schema) for ex in examples]
    nets: dict[str, FieldNet] = {}
    per_field: dict[str, dict[str, int]] = {}
    for j, name in enumerate(schema):
        rows = []
        counts = {"pages": 0, "present": 0, "absent": 0, "unreadable": 0}
        for ex, scored in zip(examples, per_page):
            if name not in ex.fields:
                continue                      # nobody said anything about this field on that page
            s = scored[j]
            y = targets(s, ex.fields[name])
            if y is None:
                counts["unreadable"] += 1
                continue
            counts["pages"] += 1
            counts["present" if y.any() else "absent"] += 1
            rows.append((s, y, ex))
        per_field[name] = counts
        if counts["pages"] == 0:
            continue
        vocab = vocabulary([(s, y) for s, y, _ in rows])
        memory = Memory.of(examples, name) if use_memory and field_type(name) in MEMORY_TYPES else None
        built = []
        for s, y, ex in rows:
            parts = [s.X]
            if vocab:
                parts.append(vocab_features(s, vocab))
            if memory is not None:   # what the other pages taught: this page's own value left out
                own = confirmed(ex, name)
                parts.append(memory.features([c.text for c in s.cands], {text_key(own): 1} if own else None))
            built.append((np.concatenate(parts, axis=1) if len(parts) > 1 else s.X, y))
        rows = built
        nf = N_FEATURES + 3 * len(vocab) + (len(MEMORY_FEATURES) if memory is not None else 0)
        allX = np.concatenate([X for X, _ in rows if len(X)] or [np.zeros((1, nf), np.float32)])
        mean = allX.mean(axis=0)
        std = allX.std(axis=0) + 1e-3
        # The pages' candidates one after another (no padding to the longest page: a form's text
        # candidates are 2-5 times fewer than the longest page times the pages), each with its page.
        Xf = np.concatenate([(X - mean) / std for X, _ in rows] or [np.zeros((0, nf), np.float32)]).astype(np.float32)
        Yf = np.concatenate([y for _, y in rows] or [np.zeros(0, np.float32)]).astype(np.float32)
        Zf = np.concatenate([X[:, N_FEATURES - 1] for X, _ in rows] or [np.zeros(0, np.float32)]).astype(np.float32)
        seg = np.concatenate([np.full(len(X), i, np.int64) for i, (X, _) in enumerate(rows)] or [np.zeros(0, np.int64)])
        none = np.array([not y.any() for _, y in rows], np.float32)   # pages whose answer is "absent"
        tensors = [torch.from_numpy(a) for a in (Xf, Yf, Zf, seg, none)]
        w1, b1, w2, b2, absent_, rule_w, loss = _fit_one(*tensors, nf, hidden, epochs, lr, weight_decay, rule_prior)
        nets[name] = FieldNet(mean.astype(np.float32), std.astype(np.float32), w1, b1, w2,
                              b2, absent_, vocab, rule_weight=rule_w if rule_prior else 0.0, memory=memory)
        if progress:
            progress(f"{name}: {counts['pages']} pages ({counts['present']} with it, {counts['absent']} without), "
                     f"loss {loss:.3f}")
    seconds = time.perf_counter() - t0
    meta = {"schema": list(schema), "trained_pages": len(examples), "hidden": hidden, "epochs": epochs,
            "seed": seed, "rule_prior": rule_prior, "remembers": use_memory, "seconds": round(seconds, 2),
            "per_field": per_field, "usual": usual_currencies(examples, schema)}
    return FieldModel(nets, meta), TrainStats(len(examples), seconds, per_field)


def _segment_lse(values, seg, extra):
    """Per page, log(sum(exp(its candidates' values)) + exp(extra)): ``values`` one per candidate
    (``-inf`` leaves one out), ``seg`` its page, ``extra`` one per page (``-inf``: none)."""
    import torch

    top = torch.full_like(extra, float("-inf")).scatter_reduce(0, seg, values, "amax", include_self=True)
    top = torch.maximum(top, extra).detach()     # the shift only keeps exp() in range
    total = torch.zeros_like(extra).index_add(0, seg, torch.exp(values - top[seg])) + torch.exp(extra - top)
    return top + torch.log(total)


def _fit_one(Xt, Yt, Zt, seg, none, nf: int, hidden: int, epochs: int, lr: float, weight_decay: float,
             rule_prior: float):
    """One field's network on its pages' candidates (``Xt`` one row each, ``seg`` its page, ``Yt``
    1 for the right ones, ``Zt`` the rules' margin; ``none`` 1 for a page whose answer is absent):
    (w1, b1, w2, b2, absent, rule weight, last loss). The loss: minus the log-probability, over
    each page's candidates and "absent", of the right ones (or of "absent")."""
    import torch

    P = none.shape[0]
    l1 = torch.nn.Linear(nf, hidden) if hidden else torch.nn.Identity()
    l2 = torch.nn.Linear(hidden or nf, 1)
    absent = torch.nn.Parameter(torch.zeros(1))
    rule = torch.nn.Parameter(torch.full((1,), float(rule_prior)))
    params = list(l1.parameters()) + list(l2.parameters()) + [absent] + ([rule] if rule_prior else [])
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss = torch.zeros(())
    minus_inf = torch.tensor(float("-inf"))
    for _ in range(epochs):
        opt.zero_grad()
        lg = l2(torch.relu(l1(Xt)) if hidden else Xt).squeeze(-1)
        if rule_prior:
            lg = lg + rule * Zt
        a = absent.expand(P)
        everything = _segment_lse(lg, seg, a)
        right = _segment_lse(torch.where(Yt > 0, lg, minus_inf), seg, torch.where(none > 0, a, minus_inf))
        loss = (everything - right).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        if hidden:
            w1, b1 = l1.weight.detach().numpy().T.copy(), l1.bias.detach().numpy().copy()
        else:   # a linear scorer: the identity as the hidden layer (ReLU of z would cut the signs)
            w1 = np.concatenate([np.eye(nf), -np.eye(nf)], axis=1).astype(np.float32)
            b1 = np.zeros(2 * nf, np.float32)
        w2 = l2.weight.detach().numpy()[0].copy()
        if not hidden:
            w2 = np.concatenate([w2, -w2])
        return (w1, b1, w2, float(l2.bias.item()), float(absent.item()),
                float(rule.item()) if rule_prior else 0.0, float(loss.item()))


@lru_cache(maxsize=32768)
def text_key(text: str | None) -> str:
    return squeeze(text or "").casefold()


__all__ = ["Calibration", "Example", "FieldModel", "FieldNet", "fit_calibration", "readings_of", "held_out_readings", "rules_read_better", "Reading", "is_right", "matches", "Memory", "MEMORY_FEATURES", "train", "targets", "N_FEATURES", "field_type"]
