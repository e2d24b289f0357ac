"""QC sampling: which done pages go to review, and why. Seeded and reproducible.

A page is routed when any rule says so; each routed page keeps its reasons:

- ``sample``: a stable pseudo-random draw per page, so the same share of pages is picked
  whatever order pages finish in, and the same page is always picked with the same seed;
- ``low_confidence``: the page is likely to still hold wrong regions: the expected number of
  wrong regions among the regions whose text the machine read and nobody checked or corrected,
  ``sum(1 - confidence)`` (:func:`expected_wrong`; the confidences are calibrated: of the
  regions at 0.9, nine in ten are right), is above the project's limit;
- ``disagreement``: two engines disagree on a region (the pre-fill flags it).

Why not "some region below a confidence": an invoice page holds 40-80 regions and nearly every
one has a region under 0.6 somewhere (a stamp, a faint line), so that rule sent every page to
review. What a reviewer can catch is what people left as the machine read it; a region a person
typed or accepted is no longer the machine's guess.

>>> route_reasons(page_id=1, expected_wrong=1.3, disagreement=False, share=1.0, seed=0)
['sample', 'low_confidence']
>>> expected_wrong([0.95] * 5), expected_wrong([0.4])  # five sure lines left; one doubtful one
(0.25, 0.6)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_SHARE = 0.10
#: How each reason reads to people (the app's and the command line's figures).
REASON_NAMES = {"sample": "sample", "low_confidence": "likely errors left", "disagreement": "engines disagree",
                "resubmitted": "resubmitted"}
#: Route a page when more than this many wrong regions are expected among those nobody checked.
#: 0.5: with independent regions, the chance that at least one of them is wrong is then about
#: ``1 - exp(-0.5)``, some 40%: a page is routed when it is close to a coin toss that it still
#: holds an error. A page whose annotator confirmed every line but five left at 0.95 (0.25
#: expected) is not routed; one with a single 0.4 line left as the machine read it (0.6) is, and
#: so is a page marked done without looking (the five bundled receipts, pre-filled: 6 to 13 each).
DEFAULT_EXPECTED_WRONG_MAX = 0.5


def sample_draw(page_id: int, seed: int) -> float:
    """A number in [0, 1) fixed by (page, seed): sha256, not ``random``, so no state to keep."""
    digest = hashlib.sha256(f"{seed}:{page_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def expected_wrong(confidences: Iterable[float | None]) -> float:
    """The expected number of wrong regions among regions of these (calibrated) confidences:
    ``sum(1 - c)``. A region without a confidence adds nothing (nothing is known of it).

    >>> expected_wrong([0.9, 0.8, None])
    0.3
    """
    return round(sum(1.0 - min(max(float(c), 0.0), 1.0) for c in confidences if c is not None), 9)


def route_reasons(
    page_id: int,
    expected_wrong: float | None,
    disagreement: bool,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    expected_wrong_max: float = DEFAULT_EXPECTED_WRONG_MAX,
) -> list[str]:
    """Why this page goes to review (empty: it does not). ``expected_wrong``: of the machine
    regions nobody checked (:func:`expected_wrong`; None: the page has none)."""
    reasons = []
    if sample_draw(page_id, seed) < share:
        reasons.append("sample")
    if expected_wrong is not None and expected_wrong > expected_wrong_max:
        reasons.append("low_confidence")
    if disagreement:
        reasons.append("disagreement")
    return reasons
