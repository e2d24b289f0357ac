"""Calibrated confidences and reliability tables.

A confidence is *calibrated* when, among the regions given a confidence near
c, about c of them are right. "Right" here is what an annotator sees: the
region matches a reference line (IoU >= 0.5, 1:1, as in ``core.scoring``)
and its text equals that line's, case-insensitively.

    pairs = region_outcomes(prediction.regions, reference["lines"])
    table = reliability_table(pairs)          # bins of confidence vs accuracy
    print(format_reliability(table))

The combined engine turns its raw evidence (the recogniser's character
probabilities, whether Tesseract read the same text, Tesseract's own
confidence) into one probability with a small logistic model
(:class:`Calibrator`) fitted by ``bench/bench_neural.py --fit`` and stored
beside the model as ``calibration.json``.

>>> t = reliability_table([(0.95, True), (0.92, True), (0.3, False)], edges=(0, 0.5, 1))
>>> [(b["n"], b["accuracy"]) for b in t["bins"]]
[(1, 0.0), (2, 1.0)]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from core.scoring import CASE_INSENSITIVE, NO_SPACE, match_lines, normalize

#: Default bin edges: finer near 1, where most regions of a good engine fall.
EDGES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)


def _points(region: Any) -> Sequence:
    return region.points if hasattr(region, "points") else region["points"]


def region_outcomes(regions: Sequence[Any], ref_lines: Sequence[Mapping[str, Any]]) -> list[tuple[float, bool]]:
    """``(confidence, right)`` for each predicted region of a page.

    ``regions``: objects or dicts with ``points``, ``text``, ``confidence``;
    ``ref_lines``: the reference format's ``lines`` (``box``, ``text``).
    """
    refs = list(ref_lines)
    matches = {p: r for p, r, _ in match_lines([_points(g) for g in regions], [ln["box"] for ln in refs])}
    out = []
    for i, g in enumerate(regions):
        text = g.text if hasattr(g, "text") else g["text"]
        conf = g.confidence if hasattr(g, "confidence") else g["confidence"]
        r = matches.get(i)
        right = r is not None and normalize(text, CASE_INSENSITIVE) == normalize(refs[r]["text"], CASE_INSENSITIVE)
        out.append((float(conf), bool(right)))
    return out


def reliability_table(pairs: Iterable[tuple[float, bool]], edges: Sequence[float] = EDGES) -> dict[str, Any]:
    """Bin ``(confidence, right)`` pairs: per bin n, mean confidence, accuracy; plus the ECE.

    ECE (expected calibration error) = sum over bins of n/N x |accuracy - mean confidence|.
    The last bin includes its upper edge.
    """
    ps = list(pairs)
    conf = np.array([c for c, _ in ps], dtype=np.float64)
    right = np.array([r for _, r in ps], dtype=np.float64)
    bins = []
    ece = 0.0
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = k == len(edges) - 2
        sel = (conf >= lo) & ((conf <= hi) if last else (conf < hi))
        n = int(sel.sum())
        b = {"lo": lo, "hi": hi, "n": n, "mean_conf": None, "accuracy": None}
        if n:
            b["mean_conf"] = round(float(conf[sel].mean()), 4)
            b["accuracy"] = round(float(right[sel].mean()), 4)
            ece += n / len(ps) * abs(b["accuracy"] - b["mean_conf"])
        bins.append(b)
    return {"bins": bins, "regions": len(ps), "accuracy": round(float(right.mean()), 4) if ps else None,
            "ece": round(ece, 4) if ps else None}


def format_reliability(table: Mapping[str, Any], title: str = "reliability (confidence vs right, ci)") -> str:
    """A markdown table of :func:`reliability_table`."""
    lines = [f"{title}: {table['regions']} regions, ECE {_pct(table['ece'])}",
             "| confidence | regions | mean confidence | right |", "|---|---|---|---|"]
    for b in table["bins"]:
        lines.append(f"| {b['lo']:.2f}-{b['hi']:.2f} | {b['n']} | {_pct(b['mean_conf'])} | {_pct(b['accuracy'])} |")
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


# --------------------------------------------------------------------------- the combined engine's model
def _logit(p: float, eps: float = 1e-4) -> float:
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def features(mean_conf: float, min_conf: float, agree: bool | None, tess_conf: float, length: int) -> list[float]:
    """The evidence of one region, as the calibrator's inputs (see the module docstring)."""
    checked = agree is not None
    return [
        _logit(mean_conf),
        _logit(min_conf),
        1.0 if agree else 0.0,
        0.0 if agree or not checked else 1.0,  # checked and disagreeing
        tess_conf if checked else 0.0,
        math.log1p(length),
    ]


FEATURES = ("logit_mean_conf", "logit_min_conf", "agree", "disagree", "tess_conf", "log1p_length")


@dataclass
class Calibrator:
    """Logistic model: p(right) = sigmoid(bias + weights . features)."""

    weights: list[float] = field(default_factory=lambda: [0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    bias: float = 0.0
    fitted_on: str = "identity (not fitted): p = the weakest character's probability"

    def predict(self, x: Sequence[float]) -> float:
        z = self.bias + float(np.dot(self.weights, x))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50, note: str = "") -> Calibrator:
        """Fit by Newton's method (a few features, a few thousand regions: instant)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        a = np.hstack([np.ones((len(x), 1)), x])
        w = np.zeros(a.shape[1])
        reg = l2 * np.eye(a.shape[1])
        reg[0, 0] = 0.0
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -40, 40)))
            grad = a.T @ (p - y) + reg @ w
            hess = (a * (p * (1 - p))[:, None]).T @ a + reg
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls([round(float(v), 6) for v in w[1:]], round(float(w[0]), 6), note)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "weights": self.weights, "bias": self.bias, "fitted_on": self.fitted_on}

    @classmethod
    def load(cls, path: str | Path) -> Calibrator:
        """Read ``calibration.json``; a missing or unreadable file gives the identity calibrator."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            if list(d.get("features", [])) != list(FEATURES):
                return cls()
            return cls([float(v) for v in d["weights"]], float(d["bias"]), str(d.get("fitted_on", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def same_text(a: str, b: str) -> bool:
    """Whether two readings agree: equal ignoring case and spaces."""
    return normalize(a, NO_SPACE) == normalize(b, NO_SPACE)
