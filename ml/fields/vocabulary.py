"""A project's own words: put right what the OCR misread by one look-alike character.

The OCR of a receipt misreads a character of a word the project has seen many times: ``SON BHD``
for ``SDN BHD``, ``JAMAN`` for ``TAMAN``, ``Tota1`` for ``Total``, ``Inc1.`` for ``Incl.``. A value
with one wrong character is a wrong value (fields are compared exactly), and a label read wrong
hides the value after it. The people's confirmed lines of a project's finished pages say which
words it really uses. :class:`Vocabulary` keeps those seen on at least :data:`MIN_PAGES` pages
(by the number of pages, so one long page does not outvote the rest), and :meth:`Vocabulary.correct`
replaces a word of an OCR line that is *not* among them by the one known word it becomes when one
character is swapped for a look-alike (:data:`LOOK_ALIKE`: 1/l/I, 0/O/D/Q, 5/S, 8/B, C/E/G,
U/O/V, N/M/H/R, ...), keeping the word's case. Nothing else is touched: a word it does not know and
cannot reach that way, a number, two letters or fewer, and a word two known ones could become
(unless one is on more than twice the pages of the other).

The field reader reads OCR lines through it where a learned field model carries one (its
``meta["vocabulary"]``, from the pages it learned from): at pre-fill, in ``eval`` end to end and
in a run's judgement of an OCR model; never people's own lines. The regions people see keep the
OCR's text. Measured on sroie-dev end to end (5-fold, two fold seeds): learned field F1 78.7% ->
80.5% (docs/benchmarks.md). Qt-free.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from ml.neural.lexicon import WORD as _WORD
from ml.neural.lexicon import cased as _cased

from .lines import FLine, Page

#: A word is kept when people's lines have it on at least this many pages.
MIN_PAGES = 2
#: At most this many words (the most frequent) are kept: a big project's vocabulary stays small.
MAX_WORDS = 20_000
#: Characters an OCR takes for one another (upper case; a pair each).
LOOK_ALIKE = frozenset(frozenset(p) for p in (
    "1L", "1I", "IL", "0O", "0D", "OD", "OQ", "0Q", "5S", "8B", "CE", "CG", "EF", "UO", "UV", "NM", "HM", "RN",
    "IJ", "TJ", "2Z", "6G"))
_SWAPS: dict[str, tuple[str, ...]] = {}
for _pair in LOOK_ALIKE:
    for _a in _pair:
        _SWAPS[_a] = tuple(sorted({*_SWAPS.get(_a, ()), *(_pair - {_a})}))


def _words(text: str) -> set[str]:
    return {w.upper() for w in _WORD.findall(text)}


@dataclass
class Vocabulary:
    """Upper-cased words and the number of pages people's lines have them on."""

    pages: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pages)

    def known(self, word: str) -> str | None:
        """The known word (upper case) ``word`` is a one-look-alike misreading of, else None."""
        u = word.upper()
        if u in self.pages or len(u) < 3 or sum(ch.isalpha() for ch in u) < 2:
            return None
        found = []
        for i, ch in enumerate(u):
            for other in _SWAPS.get(ch, ()):
                w = u[:i] + other + u[i + 1:]
                n = self.pages.get(w)
                if n:
                    found.append((n, w))
        if not found:
            return None
        found.sort(reverse=True)
        if len(found) > 1 and found[0][0] <= 2 * found[1][0]:
            return None            # two known words it could be: leave it
        return found[0][1]

    def correct(self, text: str) -> str:
        """``text`` with each word a one-look-alike misreading of a known word replaced by it."""
        if not self.pages:
            return text

        def one(m: re.Match) -> str:
            w = m.group(0)
            k = self.known(w)
            return w if k is None else _cased(w, k)

        return _WORD.sub(one, text)

    def correct_lines(self, lines: Sequence[FLine]) -> list[FLine]:
        """The lines with their texts corrected (boxes and indexes kept)."""
        out = []
        for ln in lines:
            t = self.correct(ln.text)
            out.append(ln if t == ln.text else dataclasses.replace(ln, text=t))
        return out

    def to_json(self) -> dict[str, int]:
        return dict(self.pages)

    @classmethod
    def from_json(cls, doc: Any) -> "Vocabulary | None":
        """A saved vocabulary; None for none. Raises ValueError for one that is not a word table."""
        if doc is None:
            return None
        if not isinstance(doc, Mapping) or not all(isinstance(k, str) and isinstance(v, int) for k, v in doc.items()):
            raise ValueError("the vocabulary is not a table of words and page counts")
        return cls(dict(doc))


def vocabulary_of(pages: Iterable[Iterable[str]], min_pages: int = MIN_PAGES, max_words: int = MAX_WORDS
                  ) -> Vocabulary:
    """The words of people's lines, one iterable of line texts a page, seen on ``min_pages`` pages."""
    counts: Counter = Counter()
    for texts in pages:
        counts.update(set().union(*(_words(t) for t in texts)))
    kept = [(w, n) for w, n in counts.items() if n >= min_pages]
    kept.sort(key=lambda x: (-x[1], x[0]))
    return Vocabulary(dict(kept[:max_words]))


def of_model(model) -> Vocabulary | None:
    """The vocabulary a learned field model carries (``meta["vocabulary"]``), else None."""
    if model is None:
        return None
    doc = (getattr(model, "meta", None) or {}).get("vocabulary")
    cached = getattr(model, "_vocabulary", None)
    if cached is not None and cached[0] is doc:
        return cached[1]
    vocab = Vocabulary.from_json(doc)
    try:
        model._vocabulary = (doc, vocab)     # read once a model, not once a page
    except AttributeError:
        pass
    return vocab


def attach(model, pages: Iterable[Iterable[str]]) -> None:
    """Give a field model the vocabulary of the pages it learned from (people's line texts)."""
    model.meta["vocabulary"] = vocabulary_of(pages).to_json()


def read_lines(lines: Sequence[FLine], model) -> list[FLine]:
    """OCR lines as the field reader reads them with ``model``: corrected by its vocabulary."""
    vocab = of_model(model)
    return list(lines) if vocab is None else vocab.correct_lines(lines)


def read_page(page: Page, model) -> Page:
    """An OCR's page as the field reader reads it with ``model`` (:func:`read_lines`): ``page``
    itself when no word of it changes, so that what was computed for it still holds."""
    fixed = read_lines(page.lines, model)
    if all(a is b for a, b in zip(fixed, page.lines)):
        return page
    return Page(fixed, page.width, page.height)


__all__ = ["LOOK_ALIKE", "MIN_PAGES", "Vocabulary", "attach", "of_model", "read_lines", "read_page", "vocabulary_of"]
