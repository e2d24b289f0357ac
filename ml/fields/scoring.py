"""Field scores as SROIE task 3 counts them, per field and overall, plus the OCR's ceiling.

A predicted field is right when its text matches the reference (``core.fields.same``: equal after
squeezing whitespace, case-insensitive; for typed fields also equal normalised values). Precision
= right / predicted (present), recall = right / reference fields, F1 their harmonic mean. The
ceiling is the share of reference fields that some candidate of the page reads exactly: what a
perfect chooser could reach with this OCR. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from core.fields import FieldValue, squeeze
from core.scoring import levenshtein

from .extract import Scored
from .model import is_right, targets


@dataclass
class FieldCounts:
    right: int = 0
    predicted: int = 0
    reference: int = 0
    reachable: int = 0     # reference fields some candidate reads exactly
    chars: int = 0         # characters of the reference values (what typing every field costs)
    edits: int = 0         # keystrokes to correct the predictions (edit distance; 1 to mark absent)

    def add(self, other: "FieldCounts") -> None:
        self.right += other.right
        self.predicted += other.predicted
        self.reference += other.reference
        self.reachable += other.reachable
        self.chars += other.chars
        self.edits += other.edits

    @classmethod
    def from_summary(cls, s: Mapping[str, Any]) -> "FieldCounts":
        """The counts back from their :meth:`summary` (the reachable ones from the ceiling)."""
        ref = int(s.get("reference") or 0)
        return cls(int(s.get("right") or 0), int(s.get("predicted") or 0), ref, round((s.get("ceiling") or 0.0) * ref),
                   int(s.get("chars") or 0), int(s.get("keystrokes") or 0))

    def summary(self) -> dict[str, Any]:
        p = self.right / self.predicted if self.predicted else None
        r = self.right / self.reference if self.reference else None
        f1 = 2 * self.right / (self.predicted + self.reference) if (self.predicted + self.reference) else None
        ceiling = self.reachable / self.reference if self.reference else None
        saved = 1 - self.edits / self.chars if self.chars else None
        return {"precision": p, "recall": r, "f1": f1, "right": self.right, "predicted": self.predicted,
                "reference": self.reference, "ceiling": ceiling, "typing_saved": saved,
                "keystrokes": self.edits, "chars": self.chars}


#: Confidence bins of a field reading's reliability table (a field's confidence is the
#: probability that the reading, a value or "not on this page", is right).
EDGES = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)


@dataclass
class FieldScore:
    per_field: dict[str, FieldCounts] = field(default_factory=dict)
    #: (confidence, right) of every reading with a confidence: a value that matches the
    #: reference, or "absent" where the reference has none.
    outcomes: list[tuple[float, bool]] = field(default_factory=list)

    def add_page(self, predicted: Sequence[FieldValue], reference: Mapping[str, Any],
                 scored: Sequence[Scored] | None = None, schema: Sequence[str] | None = None) -> list[dict]:
        """Count one page; return its misses (name, predicted text, reference) for reports."""
        names = list(schema or [v.name for v in predicted])
        by_name = {v.name: v for v in predicted}
        reach = {s.name: s for s in scored or ()}
        misses = []
        for name in names:
            c = self.per_field.setdefault(name, FieldCounts())
            v = by_name.get(name)
            ref = reference.get(name)
            ref = None if ref in (None, "") else str(ref)
            got = v is not None and not v.absent and bool(v.text)
            right = v is not None and is_right(v, ref)   # its value, or nothing read where nothing is
            ok = got and right
            c.predicted += int(got)
            c.reference += int(ref is not None)
            c.right += int(ok)
            if ref is not None:
                c.chars += len(squeeze(ref))
                c.edits += 0 if ok else levenshtein(squeeze(v.text) if got else "", squeeze(ref))
            elif got:
                c.edits += 1                      # one key: "not on this page"
            reachable = False
            if ref is not None and name in reach:
                y = targets(reach[name], ref)
                reachable = y is not None and bool(y.any())
                c.reachable += int(reachable)
            if v is not None and v.confidence is not None:
                self.outcomes.append((float(v.confidence), right))
            if not ok and (got or ref is not None):
                misses.append({"field": name, "predicted": v.text if got else None, "reference": ref,
                               "reachable": reachable})
        return misses

    def overall(self) -> FieldCounts:
        total = FieldCounts()
        for c in self.per_field.values():
            total.add(c)
        return total

    def summary(self) -> dict[str, Any]:
        from ml.neural.calibration import reliability_table

        return {"overall": self.overall().summary(),
                "per_field": {k: c.summary() for k, c in self.per_field.items()},
                "reliability": reliability_table(self.outcomes, EDGES) if self.outcomes else None}


def format_fields(summary: Mapping[str, Any], title: str = "Key fields (SROIE task 3 rule)") -> str:
    def pct(x):
        return "  -  " if x is None else f"{100 * x:5.1f}%"

    rows = [title, f"  {'field':16s} {'F1':>6s} {'prec':>6s} {'recall':>6s} {'ceiling':>7s} {'typing saved':>12s}"
                   "  right/pred/ref"]
    items: Iterable = list(summary["per_field"].items()) + [("all", summary["overall"])]
    for name, s in items:
        rows.append(f"  {name:16s} {pct(s['f1'])} {pct(s['precision'])} {pct(s['recall'])} {pct(s['ceiling']):>7s}"
                    f" {pct(s.get('typing_saved')):>12s}  {s['right']}/{s['predicted']}/{s['reference']}")
    rel = summary.get("reliability")
    if rel:
        rows.append(f"  confidence: calibration error (ECE) {pct(rel['ece']).strip()} over {rel['regions']} readings; "
                    + ", ".join(f"{b['lo']:.2f}-{b['hi']:.2f}: {b['n']} at {pct(b['mean_conf']).strip()}, "
                                f"{pct(b['accuracy']).strip()} right" for b in rel["bins"] if b["n"]))
    return "\n".join(rows)


def infer_schema(refs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The field names a labelled folder uses: a preset's order when they all belong to one, else
    the order they first appear in."""
    from core.fields import PRESETS

    seen = list(dict.fromkeys(k for r in refs for k in (r.get("fields") or {})))
    for names in PRESETS.values():
        if seen and set(seen) <= set(names):
            return [n for n in names if n in seen]
    return seen
