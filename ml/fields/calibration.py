"""Calibrated confidences of field readings: a logistic map from a reader's own probability.

A reading (a value, or "not on this page") is given a confidence; it is *calibrated* when, among
readings given about c, about c are right. :class:`Calibration` maps a probability's log-odds
through a slope, an offset, an offset for absent readings and one per group (a field's name for a
learned model, a field's type for the zero-shot rules), fitted by :func:`fit_calibration` on
``(group, probability, absent, right)`` readings of pages the reader did not learn from. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: Pull of the calibration's weights towards "as the network says" (slope 1, no field's own
#: offset): a field read on a few dozen pages gets a map near the shared one.
CALIB_L2 = 1.0
_EPS = 1e-6


def _logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return float(np.log(p / (1 - p)))


@dataclass
class Calibration:
    """p(a reading is right) from the network's probability of it: a logistic map of the
    probability's log-odds, with an offset for "absent" readings and one per field, fitted on
    readings of pages the networks that made them did not learn from (:func:`fit_calibration`).
    The network is trained to rank; on a page it never saw it says 0.99 where it is right four
    times in five."""

    slope: float = 1.0
    bias: float = 0.0
    absent: float = 0.0
    fields: dict[str, float] = field(default_factory=dict)
    readings: int = 0

    def __call__(self, name: str, p: float, absent: bool) -> float:
        z = self.bias + self.slope * _logit(p) + self.absent * float(absent) + self.fields.get(name, 0.0)
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))))

    def to_json(self) -> dict:
        return {"slope": self.slope, "bias": self.bias, "absent": self.absent, "fields": self.fields,
                "readings": self.readings}

    @classmethod
    def from_json(cls, doc: dict | None) -> "Calibration | None":
        if not doc:
            return None
        return cls(float(doc["slope"]), float(doc["bias"]), float(doc["absent"]),
                   {str(k): float(v) for k, v in (doc.get("fields") or {}).items()}, int(doc.get("readings", 0)))


def fit_calibration(readings: Sequence[tuple[str, float, bool, bool]], l2: float = CALIB_L2) -> Calibration:
    """Fit a :class:`Calibration` on ``(field, probability, absent, right)`` readings by Newton's
    method on the log-loss, the weights but the bias pulled towards the identity map."""
    names = sorted({r[0] for r in readings})
    a = np.array([[1.0, _logit(p), float(ab)] + [float(n == name) for name in names]
                  for n, p, ab, *_ in readings], np.float64).reshape(-1, 3 + len(names))
    y = np.array([float(r[3]) for r in readings])
    w0 = np.zeros(a.shape[1])
    w0[1] = 1.0
    w = w0.copy()
    reg = l2 * np.eye(a.shape[1])
    reg[0, 0] = 1e-2

    def loss(w: np.ndarray) -> float:
        z = a @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * (w - w0) @ reg @ (w - w0))

    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -40, 40)))
        grad = a.T @ (p - y) + reg @ (w - w0)
        hess = (a * (p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(hess, grad)
        t, now = 1.0, loss(w)
        while t > 1e-4 and loss(w - t * step) > now:   # damped: Newton overshoots on separable readings
            t /= 2
        w -= t * step
        if np.abs(t * step).max() < 1e-8:
            break
    return Calibration(round(float(w[1]), 6), round(float(w[0]), 6), round(float(w[2]), 6),
                       {name: round(float(v), 6) for name, v in zip(names, w[3:])}, len(readings))
