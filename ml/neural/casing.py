"""A project's case convention: the capitals a project's people transcribe in, read as they write.

Receipts are often transcribed in capitals whatever the print (SROIE's transcripts are all upper
case). A recogniser that reads mixed case then costs people a keystroke for every lower-case
letter, and a fine-tune on such pages learns little but the capitals (docs/training.md). A training
run finds the convention in people's lines of its training pages (:func:`convention_of`), writes it
into the model version's ``model.json`` (``"case": "upper"``), and the recogniser and the combined
engine write every text they read in it (:func:`apply`; ``RecognizeConfig.case``), whichever
recogniser's weights the version carries. Qt-free.
"""

from __future__ import annotations

from typing import Iterable

#: The one convention there is: every letter in capitals. "" reads text as the recogniser does.
UPPER = "upper"
CONVENTIONS = ("", UPPER)
#: A project writes in capitals when at least this share of its cased letters are capitals...
MIN_SHARE = 0.98
#: ...over at least this many letters (a handful of lines says nothing).
MIN_LETTERS = 300
#: The key in a model version's ``model.json``.
KEY = "case"


def convention_of(texts: Iterable[str]) -> str:
    """:data:`UPPER` when people's lines ``texts`` write their letters in capitals
    (:data:`MIN_SHARE` of :data:`MIN_LETTERS` or more), else ""."""
    upper = lower = 0
    for t in texts:
        for ch in t:
            if ch.isupper():
                upper += 1
            elif ch.islower():
                lower += 1
    n = upper + lower
    return UPPER if n >= MIN_LETTERS and upper >= MIN_SHARE * n else ""


def upper(text: str) -> str:
    """Upper case one character at a time: a character whose capital is two (``ß``) stays itself,
    so a text keeps its length (and each character its confidence)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def check(convention: str) -> str:
    """``convention`` when it is one of :data:`CONVENTIONS`; else ValueError naming them."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown case convention {convention!r} ({', '.join(repr(c) for c in CONVENTIONS)})")
    return convention


def apply(text: str, convention: str) -> str:
    """``text`` in the case ``convention`` (one of :data:`CONVENTIONS`)."""
    return upper(text) if check(convention) == UPPER else text
