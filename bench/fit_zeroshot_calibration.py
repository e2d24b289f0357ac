"""Fit (and check across sets) the zero-shot rules' confidence calibration (ml/fields/zeroshot.py).

    .venv/bin/python bench/fit_zeroshot_calibration.py ../shared/datasets/sroie-dev ../shared/datasets/invoices-dev

Every page of each labelled folder is read by the rules from its reference lines and from the
combined engine's lines (the cache bench/bench_fields.py keeps; pages without it are read from the
reference lines only). Each reading (a value or "absent") gives ``(field type, the rules' own
confidence, absent, right)``. The map is fitted on each folder alone and scored on the others
(ECE before -> after: the check that it carries to documents it was not fitted on), then on all of
them: that one is printed as the constant to ship (``zeroshot.CALIBRATION``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.fields import field_type  # noqa: E402
from ml.evaluate import load_reference_dir  # noqa: E402
from ml.fields.calibration import fit_calibration  # noqa: E402
from ml.fields.crossval import reference_lines  # noqa: E402
from ml.fields.extract import extract, page_of  # noqa: E402
from ml.fields.lines import lines_from  # noqa: E402
from ml.fields.model import is_right  # noqa: E402
from ml.fields.scoring import (
    EDGES,  # noqa: E402
    infer_schema,  # noqa: E402
)
from ml.neural.calibration import reliability_table  # noqa: E402


def readings(folder: str) -> list[tuple[str, float, bool, bool]]:
    refs = load_reference_dir(folder)
    schema = infer_schema(refs)
    cache = Path(f"/tmp/proofdesk-fields-lines-{Path(folder).name}-combined.json")
    got = json.loads(cache.read_text()) if cache.exists() else {}
    out = []
    for r in refs:
        sources = [reference_lines(r)]
        if r["image"] in got:
            sources.append(lines_from((p, t) for p, t in got[r["image"]]))
        truth = {k: (str(v) if v not in (None, "") else None) for k, v in (r.get("fields") or {}).items()}
        for lines in sources:
            for v in extract(page_of(lines, r["width"], r["height"]), schema, calibrated=False):
                out.append((field_type(v.name), float(v.confidence), bool(v.absent), is_right(v, truth.get(v.name))))
    return out


def ece(rs, cal=None) -> float:
    pairs = [((cal(g, p, a) if cal else p), right) for g, p, a, right in rs]
    return reliability_table(pairs, EDGES)["ece"]


def main(argv=None) -> int:
    folders = (argv if argv is not None else sys.argv[1:]) or ["../shared/datasets/sroie-dev",
                                                               "../shared/datasets/invoices-dev"]
    sets = {Path(f).name: readings(f) for f in folders}
    for name, rs in sets.items():
        cal = fit_calibration(rs)
        for other, ors in sets.items():
            if other != name:
                print(f"fitted on {name} ({len(rs)} readings), scored on {other} ({len(ors)}): "
                      f"ECE {100 * ece(ors):.1f}% -> {100 * ece(ors, cal):.1f}%")
    allr = [r for rs in sets.values() for r in rs]
    cal = fit_calibration(allr)
    print(f"fitted on all ({len(allr)} readings): ECE {100 * ece(allr):.1f}% -> {100 * ece(allr, cal):.1f}% (in sample)")
    print("CALIBRATION =", cal)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
