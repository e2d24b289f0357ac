"""QC sampling: which done pages go to review, and why. Seeded and reproducible.

A page is routed when any rule says so; each routed page keeps its reasons:

- ``sample``: a stable pseudo-random draw per page, so the same share of pages is picked
  whatever order pages finish in, and the same page is always picked with the same seed;
- ``low_confidence``: some region's confidence is below the threshold;
- ``disagreement``: two engines disagree on a region (the pre-fill flags it).

>>> route_reasons(page_id=1, min_confidence=0.2, disagreement=False, share=1.0, seed=0)
['sample', 'low_confidence']
"""

from __future__ import annotations

import hashlib

DEFAULT_SHARE = 0.10
DEFAULT_CONFIDENCE_THRESHOLD = 0.6


def sample_draw(page_id: int, seed: int) -> float:
    """A number in [0, 1) fixed by (page, seed): sha256, not ``random``, so no state to keep."""
    digest = hashlib.sha256(f"{seed}:{page_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route_reasons(
    page_id: int,
    min_confidence: float | None,
    disagreement: bool,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
) -> list[str]:
    """Why this page goes to review (empty: it does not)."""
    reasons = []
    if sample_draw(page_id, seed) < share:
        reasons.append("sample")
    if min_confidence is not None and min_confidence < confidence_threshold:
        reasons.append("low_confidence")
    if disagreement:
        reasons.append("disagreement")
    return reasons
