"""Evaluation harness over a folder in the reference format (image + JSON beside it).

    report = evaluate_dir("/path/to/sroie-dev", engine="classical", workers=2)
    print(format_report(report))

Two passes over the pages, both through the worker pool:

1. pre-fill (timed): end-to-end detection recall/precision at axis-aligned
   IoU >= 0.5 (the published metric: ``core.scoring.score_page`` matches the
   lines' bounding rectangles, ``core.geometry.rect_iou_matrix``),
   CER on matched lines, typing saved, key fields, seconds per page
   (decode + preprocess + detect + recognise, measured in the worker) and
   pages/s (wall clock of the whole pass).
2. recognition on the reference line crops (``crops=True``): CER
   case-sensitive / case-insensitive / ignoring spaces, exact-line rate.

All ratios are sums over pages of numerators / sums of denominators.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from core.scoring import PageScore, TextScore, aggregate, per_field_rates, score_page, score_text, to_xyxy
from ml.engines import get_engine
from ml.neural.calibration import format_reliability, region_outcomes, reliability_table
from ml.pool import crops_task, default_workers, map_pages, prefill_pages


def load_reference_dir(path: str | Path, limit: int | None = None) -> list[dict]:
    """Reference pages of a folder: each JSON with an ``image`` beside it, sorted by name.

    Adds ``_json`` and ``_image`` (paths) to each dict.
    """
    folder = Path(path)
    pages = []
    for jp in sorted(folder.glob("*.json")):
        try:
            d = json.loads(jp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(d, dict) or "image" not in d or "lines" not in d:
            continue  # not a reference file
        d["_json"], d["_image"] = str(jp), str(folder / d["image"])
        pages.append(d)
        if limit and len(pages) >= limit:
            break
    return pages


def _machine() -> str:
    return f"{platform.machine()} {default_workers()}-core CPU, {platform.system()} {platform.release()}"


def evaluate_dir(
    path: str | Path,
    engine: str = "classical",
    workers: int = 1,
    limit: int | None = None,
    config: Mapping[str, Any] | None = None,
    crops: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    fields: Sequence[str] | None = None,
    field_model: Any = None,
    cv: int | None = None,
    forms: bool = False,
    form_model: Any = None,
) -> dict[str, Any]:
    """Evaluate ``engine`` on the reference folder ``path``; return a report dict.

    ``workers``: pool size (0 = in this process). ``limit``: first N pages.
    ``config``: engine config overlay. ``crops``: also score recognition on
    the reference crops (a second, untimed pass). ``progress(done, total, note)``: after each
    page of each pass (the command line's bar; eval runs for minutes).

    Key fields (``ml/fields``), when the reference files have any: ``fields`` (the schema; default
    the names the files use) read from each page's predicted lines with ``field_model`` (None: the
    zero-shot rules), and from the reference lines beside it; ``cv=K`` adds K-fold
    cross-validation of the learned model on the engine's lines and on the reference lines.

    Form fields (``forms``: header / question / answer, ``ml.fields.entities``): each page's
    predicted lines, cut after a label colon as pre-fill cuts them, labelled by ``form_model``
    (None: the zero-shot rules) and grouped into entities, scored against the reference entities;
    the same reader on the reference lines beside it; ``cv=K`` adds the K-fold figures.
    """
    from ml.fields.crossval import reference_lines
    from ml.fields.evaluate import FieldEval, model_label
    from ml.fields.lines import lines_from
    from ml.fields.scoring import infer_schema

    refs = load_reference_dir(path, limit)
    schema = list(fields) if fields else infer_schema(refs)
    fe2e = FieldEval(schema, field_model, ocr=True) if schema else None
    fgiven = FieldEval(schema, field_model) if schema else None
    if forms:
        from ml.fields import entities as ent

        form_e2e = ent.EntityScore()
    engine_lines: dict[int, list] = {}
    eng = get_engine(engine, config)
    by_id = {i: d for i, d in enumerate(refs)}

    # Pass 1: pre-fill, timed.
    t0 = time.perf_counter()
    scores: list[PageScore] = []
    seconds: list[float] = []
    cpu: list[float] = []
    errors: list[dict[str, str]] = []
    per_page: list[dict[str, Any]] = []
    field_pages = []
    outcomes: list[tuple[float, bool]] = []  # (confidence, right) of every predicted region
    providers: set[str] = set()  # the onnxruntime provider each page ran on (neural engines)
    for r in prefill_pages(((i, d["_image"]) for i, d in by_id.items()), engine, config, workers):
        d = by_id[r.page_id]
        ref = [(ln["box"], ln["text"]) for ln in d["lines"]]
        if r.error:
            errors.append({"page": d["image"], "error": r.error})
            pred: list = []
        else:
            seconds.append(r.seconds)
            cpu.append(r.cpu_seconds)
            pred = [(reg.points, reg.text) for reg in r.prediction.regions]
            outcomes.extend(region_outcomes(r.prediction.regions, d["lines"]))
            if (r.prediction.info or {}).get("provider"):
                providers.add(str(r.prediction.info["provider"]))
        s = score_page(pred, ref, d.get("fields"))
        scores.append(s)
        if fe2e is not None or forms:
            engine_lines[r.page_id] = lines_from(pred)
        if fe2e is not None:
            fe2e.add(d, engine_lines[r.page_id])
            fgiven.add(d, reference_lines(d))
        if forms:
            units = ent.units_of(engine_lines[r.page_id], d["width"], d["height"], split_colon=True)
            labels, ents = ent.read_entities(units, form_model)
            form_e2e.add_page([(e.label, e.text) for e in ents], ent.reference_entities(d), labels,
                              ent.unit_labels(units, d), units)
        field_pages.append((d.get("fields") or {}, [t for _, t in pred]))
        summ = s.summary()
        per_page.append({"page": d["image"], "recall": summ["recall"], "typing_saved_ci": summ["typing_saved_ci"],
                         "seconds": round(r.seconds, 3)})
        if progress is not None:
            progress(len(per_page), len(by_id), d["image"])
    wall = time.perf_counter() - t0

    # Pass 2: the engine's recogniser on the reference crops.
    text = TextScore()
    if crops:
        items = ((i, d["_image"], engine, config, [to_xyxy(ln["box"]) for ln in d["lines"]]) for i, d in by_id.items())
        for n, r in enumerate(map_pages(crops_task, items, workers), 1):
            if progress is not None:
                progress(n, len(by_id), f"crops {by_id[r.page_id]['image']}")
            lines = by_id[r.page_id]["lines"]
            got = r.extra if not r.error else [("", 0.0)] * len(lines)
            text = text + score_text((ln["text"], t) for ln, (t, _) in zip(lines, got))

    ids = {id(d): i for i, d in by_id.items()}

    def engine_lines_of(d: Mapping[str, Any]) -> list:
        """A reference page's engine lines (the K-fold figures read them)."""
        return engine_lines.get(ids[id(d)], [])

    field_report = None
    if fe2e is not None:
        field_report = {"schema": schema, "model": model_label(field_model),
                        "end_to_end": fe2e.report(), "given_lines": fgiven.report()}
        if cv:
            from ml.fields.crossval import cross_validate

            field_report["cv_end_to_end"] = cross_validate(refs, schema, k=cv, lines_for=engine_lines_of)
            field_report["cv_given_lines"] = cross_validate(refs, schema, k=cv)

    form_report = None
    if forms:
        form_report = {"model": "zero-shot" if form_model is None else "learned",
                       "end_to_end": form_e2e.summary(),
                       "given_lines": ent.evaluate_entities(refs, form_model, cv=cv)}
        if cv:
            form_report["cv_end_to_end"] = ent.cross_validate(refs, k=cv, lines_for=engine_lines_of)

    total = aggregate(scores)
    e2e = total.summary()
    counts = e2e.pop("counts")
    per_page.sort(key=lambda p: p["page"])
    return {
        "dataset": str(path),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(),
        "engine": eng.name,
        "engine_version": eng.version,
        "config": eng.config,
        "config_hash": eng.config_hash,
        "workers": workers,
        # What the neural sessions ran on (CUDAExecutionProvider / CPUExecutionProvider); None
        # for an engine that runs no onnxruntime session.
        "provider": ", ".join(sorted(providers)) or None,
        "pages": len(refs),
        "pages_failed": len(errors),
        "lines": sum(len(d["lines"]) for d in refs),
        "recognition": text.summary() if crops else None,
        "end_to_end": e2e,
        "key_fields": {"overall": e2e["key_fields"], **per_field_rates(field_pages)},
        # The key fields the field reader predicted, scored as SROIE task 3 (ml/fields/scoring.py).
        "fields": field_report,
        # A form's header / question / answer as entities (ml/fields/entities.py), when asked for.
        "forms": form_report,
        # Is the confidence calibrated: per confidence bin, the share of regions that are right.
        "reliability": reliability_table(outcomes),
        "timing": {
            "median_s": statistics.median(seconds) if seconds else None,
            "mean_s": statistics.fmean(seconds) if seconds else None,
            # CPU time of the worker per page: a check on the wall figures when the machine is busy.
            "cpu_median_s": statistics.median(cpu) if cpu else None,
            "cpu_mean_s": statistics.fmean(cpu) if cpu else None,
            "pages_per_s": len(refs) / wall if wall > 0 else None,
            "wall_s": wall,
            "cpu_count": os.cpu_count(),
        },
        "counts": counts,
        "errors": errors,
        "per_page": per_page,
    }


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if v is None else fmt.format(v)


#: The rows of the table: label, and how to get the cell from a report.
_ROWS: list[tuple[str, Any]] = [
    ("pages / lines", lambda r: f"{r['pages']} / {r['lines']}"),
    ("engine version", lambda r: r["engine_version"]),
    ("config", lambda r: r["config_hash"]),
    ("workers", lambda r: str(r["workers"])),
    ("onnxruntime provider", lambda r: r.get("provider") or "—"),
    ("crop CER case-sensitive", lambda r: _pct((r.get("recognition") or {}).get("cer_cs"))),
    ("crop CER case-insensitive", lambda r: _pct((r.get("recognition") or {}).get("cer_ci"))),
    ("crop CER ignoring spaces", lambda r: _pct((r.get("recognition") or {}).get("cer_nospace"))),
    ("crop exact lines (cs / ci)", lambda r: "{} / {}".format(
        _pct((r.get("recognition") or {}).get("exact_cs")), _pct((r.get("recognition") or {}).get("exact_ci")))),
    ("crop currency signs read right", lambda r: "{} of {}".format(
        _pct((r.get("recognition") or {}).get("currency_right")), (r.get("recognition") or {}).get("currency", "—"))),
    ("crop accented letters read right", lambda r: "{} of {}".format(
        _pct((r.get("recognition") or {}).get("accented_right")), (r.get("recognition") or {}).get("accented", "—"))),
    ("end-to-end recall", lambda r: _pct(r["end_to_end"]["recall"])),
    ("end-to-end precision", lambda r: _pct(r["end_to_end"]["precision"])),
    ("CER on matched lines (cs / ci)", lambda r: "{} / {}".format(
        _pct(r["end_to_end"]["matched_cer_cs"]), _pct(r["end_to_end"]["matched_cer_ci"]))),
    ("typing saved (cs / ci)", lambda r: "{} / {}".format(
        _pct(r["end_to_end"]["typing_saved_cs"]), _pct(r["end_to_end"]["typing_saved_ci"]))),
    ("key fields found (text anywhere)", lambda r: _pct(r["key_fields"].get("overall"))),
    ("field F1 end to end / given lines", lambda r: "{} / {}".format(
        _pct(((r.get("fields") or {}).get("end_to_end") or {}).get("overall", {}).get("f1")),
        _pct(((r.get("fields") or {}).get("given_lines") or {}).get("overall", {}).get("f1")))),
    ("field typing saved end to end", lambda r: _pct(
        ((r.get("fields") or {}).get("end_to_end") or {}).get("overall", {}).get("typing_saved"))),
    ("confidence calibration error (ECE)", lambda r: _pct((r.get("reliability") or {}).get("ece"))),
    ("s/page median / mean", lambda r: f"{_num(r['timing']['median_s'])} / {_num(r['timing']['mean_s'])}"),
    ("CPU s/page median / mean", lambda r: "{} / {}".format(
        _num(r["timing"].get("cpu_median_s")), _num(r["timing"].get("cpu_mean_s")))),
    ("pages/s", lambda r: _num(r["timing"]["pages_per_s"], "{:.2f}")),
    ("failed pages", lambda r: str(r["pages_failed"])),
]


def format_reports(reports: Sequence[Mapping[str, Any]], titles: Sequence[str] | None = None) -> str:
    """Reports side by side, one column per report (by default titled with its engine).

    A markdown table (readable as plain text), preceded by the dataset line and
    followed by the first failed pages of each report, if any.
    """
    if not reports:
        return "(no reports)"
    head = ["metric"] + (list(titles) if titles else [r["engine"] for r in reports])
    body = [[label] + [get(r) for r in reports] for label, get in _ROWS]
    # One row per key field, after the overall row (fields differ between datasets).
    names = list(dict.fromkeys(k for r in reports for k in r["key_fields"] if k != "overall"))
    at = next(i for i, row in enumerate(body) if row[0] == "key fields found (text anywhere)") + 1
    body[at:at] = [[f"  {n}"] + [_pct(r["key_fields"].get(n)) for r in reports] for n in names]
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    datasets = {r["dataset"] for r in reports}
    out = [f"dataset: {', '.join(sorted(datasets))}", "",
           line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in body]
    for r, title in zip(reports, head[1:]):
        f = r.get("fields")
        if f:
            from ml.fields.scoring import format_fields

            out += ["", format_fields(f["end_to_end"], f"{title}: key fields end to end ({f['model']}; SROIE task 3 rule)")]
            out += ["", format_fields(f["given_lines"], f"{title}: key fields from the reference lines ({f['model']})")]
            for key, what in (("cv_end_to_end", "end to end"), ("cv_given_lines", "given the reference lines")):
                if f.get(key):
                    cvr = f[key]
                    out += ["", format_fields(cvr["learned"], f"{title}: learned, {cvr['k']}-fold cross-validation, {what}")]
    for r, title in zip(reports, head[1:]):
        fm = r.get("forms")
        if fm:
            from ml.fields.entities import format_entities

            out += ["", format_entities(fm["end_to_end"], f"{title}: form fields end to end ({fm['model']})")]
            out += ["", format_entities(fm["given_lines"], f"{title}: form fields from the reference lines "
                                                           f"({fm['model']})")]
            if fm.get("cv_end_to_end"):
                cvr = fm["cv_end_to_end"]
                out += ["", format_entities(cvr["learned"], f"{title}: form fields learned, {cvr['k']}-fold "
                                                            "cross-validation, end to end")]
    for r, title in zip(reports, head[1:]):
        if (r.get("reliability") or {}).get("regions"):
            out += ["", format_reliability(r["reliability"], f"{title}: reliability (confidence vs right, ci)")]
    for r in reports:
        errors = r.get("errors") or []
        for e in errors[:10]:
            out.append(f"  {r['engine']}: error: {Path(r['dataset']).name}/{e['page']}: {e['error']}")
        if len(errors) > 10:
            out.append(f"  {r['engine']}: ... and {len(errors) - 10} more failed pages")
    return "\n".join(out)


def format_report(report: Mapping[str, Any]) -> str:
    """Readable table of one :func:`evaluate_dir` report (see :func:`format_reports`)."""
    return format_reports([report])
