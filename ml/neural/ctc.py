"""CTC greedy decoding on numpy arrays: one decoder for the torch and the onnxruntime paths.

The network's output per line is ``T x C`` (time steps x classes, class 0 = blank),
either logits or probabilities. Greedy decoding takes the best class per step,
merges repeats and drops blanks; each kept character's confidence is the
probability of its best step (the maximum over the run of steps it spans).

>>> import numpy as np
>>> p = np.array([[.1, .9, 0], [.1, .8, .1], [.9, .05, .05], [0, 0, 1.]])
>>> decode_greedy(p[None], ["-", "a", "b"])[0].text
'ab'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Decoded:
    """One decoded line."""

    text: str
    #: Probability of each character of ``text`` (same length as ``text``).
    char_conf: list[float]

    @property
    def confidence(self) -> float:
        """Line confidence: the mean character probability (0 for an empty line)."""
        return float(np.mean(self.char_conf)) if self.char_conf else 0.0

    @property
    def min_conf(self) -> float:
        """The weakest character's probability (1 for an empty line: nothing to doubt)."""
        return float(min(self.char_conf)) if self.char_conf else 1.0


def best_path(scores: np.ndarray, logits: bool = False, allowed: np.ndarray | None = None,
              prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best class and its probability per step, for ``N x T x C`` scores.

    ``logits``: the scores are pre-softmax (the probability is then the
    softmax at the best class, computed stably). ``allowed``: optional boolean
    mask over classes; the others are never chosen (probabilities are then
    renormalised over the allowed classes, blank included). ``prior``: optional
    per-class log-weights (length C) added to the log-probabilities before the
    choice, e.g. to favour the space a model trained on Chinese under-predicts.
    """
    s = np.asarray(scores, dtype=np.float32)
    if s.ndim != 3:
        raise ValueError(f"expected N x T x C scores, got shape {s.shape}")
    if prior is not None and np.any(prior):
        w = np.asarray(prior, dtype=np.float32)
        s = s + w if logits else s * np.exp(w)
    if allowed is not None:
        s = s[:, :, allowed]
        index = np.flatnonzero(allowed)
    if logits:
        m = s.max(axis=2, keepdims=True)
        e = np.exp(s - m)
        best = s.argmax(axis=2)
        prob = 1.0 / e.sum(axis=2)  # softmax at the maximum: exp(0) / sum
    else:
        best = s.argmax(axis=2)
        prob = np.take_along_axis(s, best[..., None], axis=2)[..., 0]
        if allowed is not None or prior is not None:
            prob = prob / np.maximum(s.sum(axis=2), 1e-12)
    if allowed is not None:
        best = index[best]
    return best, prob


def collapse(best: np.ndarray, prob: np.ndarray, charset: Sequence[str], length: int | None = None, blank: int = 0) -> Decoded:
    """Greedy CTC collapse of one line's best path (``T`` classes and probabilities).

    ``length`` limits the steps read (a padded line's own width); repeats merge
    into one character whose confidence is the best step's probability.
    """
    t_max = len(best) if length is None else min(length, len(best))
    chars: list[str] = []
    confs: list[float] = []
    prev = blank
    for t in range(t_max):
        c = int(best[t])
        if c != blank:
            if c != prev:
                chars.append(charset[c])
                confs.append(float(prob[t]))
            else:
                confs[-1] = max(confs[-1], float(prob[t]))
        prev = c
    return Decoded("".join(chars), confs)


def decode_greedy(
    scores: np.ndarray,
    charset: Sequence[str],
    logits: bool = False,
    lengths: Sequence[int] | None = None,
    allowed: np.ndarray | None = None,
    prior: np.ndarray | None = None,
) -> list[Decoded]:
    """Decode ``N x T x C`` scores (logits with ``logits=True``, else probabilities).

    ``lengths``: valid time steps per line (None = all). ``allowed``: boolean
    class mask, ``prior``: per-class log-weights (see :func:`best_path`).
    """
    best, prob = best_path(scores, logits, allowed, prior)
    return [collapse(best[i], prob[i], charset, None if lengths is None else lengths[i]) for i in range(best.shape[0])]
