"""A project's own words, read by the recogniser itself: CTC rescoring of words it does not know.

Greedy CTC decoding reads each character on its own. On a project's pages the same words come
back page after page (``JALAN``, ``SELANGOR``, ``PAYABLE``, the shop's own name), and a word the
OCR read one character off (``ANOSA``, ``PAYOBLE``, ``MALAYSTA``) is almost always one of them.
:class:`Lexicon` keeps the words people's confirmed lines have on at least two pages (the
training run writes it beside the model it exports: ``lexicon.json`` in the model version's
folder). :func:`rescore` then, for each word of a decoded line that is *not* in the lexicon and is
one character (added, dropped or changed) away from words that are, asks the network which text
its own outputs support: the CTC likelihood of the whole line with the word as read against the
line with the known word (the forward algorithm over the line's time steps). The known word is
taken when its likelihood times :data:`PRIOR` beats the word as read; the character it changes
gets the known word's share of the two likelihoods as its confidence. So a character the network
was sure of is never overruled (its likelihood ratio is tiny), while one it hesitated over, where
the known word was a close second, is put right. Numbers, codes (two digits or more: ``SH01``,
``DE123456789``) and words under three characters are never touched.

Unlike ``ml.fields.vocabulary`` (a fixed table of look-alike characters, for the field reader
only), this works on every region people see and on any character the network itself doubted.
Qt-free.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .casing import upper as _upper
from .ctc import Decoded

#: A word is kept when people's lines have it on at least this many pages.
MIN_PAGES = 2
#: At most this many words (the most frequent) are kept.
MAX_WORDS = 20_000
#: Shortest word rescored (a known word may be one shorter).
MIN_LEN = 3
#: How much likelier a line must be with the word as read than with a known word for the read word to stay.
PRIOR = 20.0
#: The file in a recogniser's model folder.
FILE = "lexicon.json"

#: A word: letters and digits (the field reader's vocabulary reads words so too).
WORD = re.compile(r"[^\W_]+", re.UNICODE)


def cased(word: str, known: str) -> str:
    """``known`` (upper case) in ``word``'s case: Title, lower, else upper."""
    letters = [ch for ch in word if ch.isalpha()]
    if len(letters) > 1 and word[:1].isupper() and all(ch.islower() for ch in letters[1:]):
        return known[:1] + known[1:].lower()
    if sum(ch.islower() for ch in letters) * 2 > len(letters):
        return known.lower()
    return known


def _wordlike(w: str) -> bool:
    """A word to rescore or to rescore towards: two letters or more and at most one digit (a
    code such as ``SH01`` or ``DE123456789`` is an identifier, never made into another one)."""
    return sum(ch.isalpha() for ch in w) >= 2 and sum(ch.isdigit() for ch in w) <= 1


@dataclass
class Lexicon:
    """Upper-cased words and the number of pages people's lines have them on."""

    pages: dict[str, int] = field(default_factory=dict)
    _index: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.pages)

    def __contains__(self, word: str) -> bool:
        return _upper(word) in self.pages

    def near(self, word: str) -> list[str]:
        """Known words (upper case) one character away from ``word``: one added, dropped or changed."""
        if self._index is None:
            index: dict[str, list[str]] = {}
            for w in self.pages:
                for i in range(len(w)):
                    index.setdefault(w[:i] + w[i + 1:], []).append(w)
            self._index = index
        u = _upper(word)
        got = set(self._index.get(u, ()))              # the network dropped a character
        for i in range(len(u)):
            d = u[:i] + u[i + 1:]
            if d in self.pages:                         # it added one
                got.add(d)
            for w in self._index.get(d, ()):            # it changed one
                if len(w) == len(u) and sum(a != b for a, b in zip(w, u)) == 1:
                    got.add(w)
        got.discard(u)
        return sorted(w for w in got if len(w) >= MIN_LEN - 1 and _wordlike(w))

    def to_json(self) -> dict[str, int]:
        return dict(self.pages)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, doc: Any) -> "Lexicon":
        if not isinstance(doc, Mapping) or not all(isinstance(k, str) and isinstance(v, int) for k, v in doc.items()):
            raise ValueError("a lexicon is a table of words and page counts")
        return cls({_upper(k): v for k, v in doc.items()})

    @classmethod
    def load(cls, folder: str | Path) -> "Lexicon | None":
        """The lexicon in a model folder; None when it has none. Raises ValueError for a broken one."""
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a lexicon ({e})") from e
        return cls.from_json(doc)


def lexicon_of(pages: Iterable[Iterable[str]], min_pages: int = MIN_PAGES, max_words: int = MAX_WORDS) -> Lexicon:
    """The words of people's lines (one iterable of line texts a page) seen on ``min_pages`` pages;
    numbers, codes and words under two characters left out."""
    counts: dict[str, int] = {}
    for texts in pages:
        seen = {_upper(w) for t in texts for w in WORD.findall(t)}
        for w in seen:
            if len(w) >= MIN_LEN - 1 and _wordlike(w):
                counts[w] = counts.get(w, 0) + 1
    kept = sorted(((w, n) for w, n in counts.items() if n >= min_pages), key=lambda x: (-x[1], x[0]))
    return Lexicon(dict(kept[:max_words]))


def log_probs(scores: np.ndarray, logits: bool) -> np.ndarray:
    """``T x C`` scores as log-probabilities."""
    s = np.asarray(scores, dtype=np.float64)
    if logits:
        m = s.max(axis=1, keepdims=True)
        return s - m - np.log(np.exp(s - m).sum(axis=1, keepdims=True))
    return np.log(np.maximum(s, 1e-30))


def ctc_log_likelihood(lp: np.ndarray, labels: Sequence[int], blank: int = 0) -> float:
    """log P(labels | lp) for ``T x C`` log-probabilities: the CTC forward algorithm."""
    t_max = lp.shape[0]
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    s = len(ext)
    if t_max == 0:
        return 0.0 if not labels else -math.inf
    # a label may skip the blank before it when it differs from the label two states back
    skip = np.zeros(s, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(s, -np.inf)
    alpha[0] = lp[0, ext[0]]
    if s > 1:
        alpha[1] = lp[0, ext[1]]
    for t in range(1, t_max):
        a1 = np.concatenate(([-np.inf], alpha[:-1]))
        a2 = np.concatenate(([-np.inf, -np.inf], alpha[:-2]))
        a2 = np.where(skip, a2, -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, a1), a2) + lp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if s > 1 else alpha[-1])


def _confidences(word: str, known: str, confs: Sequence[float], share: float) -> list[float]:
    """Confidences of ``known``'s characters, put in for ``word`` (``confs``): the characters both
    begin and end with keep theirs; the one changed or added gets the known word's ``share`` of the
    two likelihoods, and where one was dropped, the character after it no more than that share."""
    n = min(len(word), len(known))
    pre = 0
    while pre < n and word[pre].upper() == known[pre].upper():
        pre += 1
    suf = 0
    while suf < n - pre and word[-1 - suf].upper() == known[-1 - suf].upper():
        suf += 1
    mid = len(known) - pre - suf
    tail = list(confs[len(confs) - suf:]) if suf else []
    if mid == 0 and tail:
        tail[0] = min(tail[0], share)
    return list(confs[:pre]) + [share] * mid + tail


def rescore(decoded: Decoded, lp: np.ndarray, charset: Sequence[str], lexicon: Lexicon,
            allowed: np.ndarray | None = None, prior: float = PRIOR, logits: bool | None = None) -> Decoded:
    """``decoded`` (the greedy reading of one line, ``lp`` its ``T x C`` log-probabilities over the
    line's own time steps) with each unknown word the network's outputs find likelier as a known
    one (times ``prior``) replaced by it, in the read word's case (:func:`_confidences` for its
    characters' confidences). Everything else is kept as it was. With ``logits`` given, ``lp`` is
    the network's raw scores (:func:`log_probs`), turned into log-probabilities only for a line
    with a word worth rescoring."""
    text = decoded.text
    if not lexicon or not text:
        return decoded
    index = {ch: i for i, ch in enumerate(charset) if i and (allowed is None or allowed[i])}
    # the unknown words with known ones one character away: only those are worth a likelihood
    words = [(m, near) for m in WORD.finditer(text)
             if len(m.group(0)) >= MIN_LEN and _wordlike(m.group(0)) and m.group(0) not in lexicon
             and (near := lexicon.near(m.group(0)))]
    if not words:
        return decoded
    if logits is not None:
        lp = log_probs(lp, logits)
    confs = list(decoded.char_conf)

    def labels(t: str) -> list[int] | None:
        out = [index.get(ch) for ch in t]
        return None if any(i is None for i in out) else out  # type: ignore[return-value]

    base = labels(text)
    if base is None:
        return decoded
    here = ctc_log_likelihood(lp, base)
    log_prior = math.log(prior)
    # right to left, so that the spans of the words still to look at do not move
    for m, near in reversed(words):
        w = m.group(0)
        best, best_ll = None, here - log_prior
        for k in near:
            cand = cased(w, k)
            alt = text[:m.start()] + cand + text[m.end():]
            lab = labels(alt)
            if lab is None:
                continue
            ll = ctc_log_likelihood(lp, lab)
            if ll > best_ll:
                best, best_ll = (alt, cand), ll
        if best is None:
            continue
        alt, cand = best
        share = 1.0 / (1.0 + math.exp(min(50.0, here - best_ll - log_prior)))
        confs = confs[:m.start()] + _confidences(w, cand, confs[m.start():m.end()], share) + confs[m.end():]
        text, here = alt, best_ll
    return Decoded(text, confs)


__all__ = ["FILE", "Lexicon", "MIN_PAGES", "PRIOR", "WORD", "cased", "ctc_log_likelihood", "lexicon_of", "log_probs", "rescore"]
