"""The evaluation harness and `proofdesk eval` on a few sroie-dev pages (the figures, not the speed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from core.scoring import aggregate, score_page, score_text, to_xyxy
from ml.engines import get_engine
from ml.evaluate import evaluate_dir, format_report, format_reports, load_reference_dir
from ml.prediction import load_image

SROIE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "sroie-dev"
#: Two of the quickest receipts of the set.
PAGES = ["X51005757349", "X51006619854"]

REPORT_KEYS = {
    "dataset", "date", "machine", "engine", "engine_version", "config", "config_hash", "workers", "pages",
    "pages_failed", "lines", "recognition", "end_to_end", "key_fields", "timing", "counts", "errors", "per_page",
    "provider", "reliability", "fields", "forms",
}


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    """Two real receipts, one page whose image is broken, and a JSON that is not a reference file."""
    d = tmp_path_factory.mktemp("mini")
    for stem in PAGES:
        shutil.copy(SROIE / f"{stem}.jpg", d)
        shutil.copy(SROIE / f"{stem}.json", d)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (d / "broken.json").write_text(json.dumps({
        "image": "broken.jpg", "width": 100, "height": 100,
        "lines": [{"box": [0, 0, 50, 0, 50, 10, 0, 10], "text": "LOST"}],
        "fields": {"total": "9.99"},
    }))
    (d / "settings.json").write_text(json.dumps({"not": "a reference file"}))
    return d


@pytest.fixture(scope="module")
def report(mini) -> dict:
    return evaluate_dir(mini, engine="classical", workers=0)


def test_reference_folder_loading_skips_what_is_not_a_reference(mini):
    refs = load_reference_dir(mini)
    assert [r["image"] for r in refs] == ["X51005757349.jpg", "X51006619854.jpg", "broken.jpg"]
    assert Path(refs[0]["_image"]).is_file()
    assert len(load_reference_dir(mini, limit=1)) == 1


def test_report_figures_equal_the_scoring_of_the_engine_output(mini, report):
    """The harness adds nothing of its own: its figures are core.scoring on the engine's output."""
    eng = get_engine("classical")
    refs = [r for r in load_reference_dir(mini) if r["image"] != "broken.jpg"]
    pages, crops = [], score_text([])
    for ref in refs:
        img = load_image(ref["_image"])
        pred = eng.predict(img)
        pages.append(score_page([(r.points, r.text) for r in pred.regions],
                                [(ln["box"], ln["text"]) for ln in ref["lines"]], ref["fields"]))
        got = eng.recognize_crops(img, [to_xyxy(ln["box"]) for ln in ref["lines"]])
        crops = crops + score_text((ln["text"], t) for ln, (t, _) in zip(ref["lines"], got))
    # The broken page: nothing pre-filled, so its reference line is missed and its field not found,
    # and its crop reads as empty.
    pages.append(score_page([], [([0, 0, 50, 0, 50, 10, 0, 10], "LOST")], {"total": "9.99"}))
    crops = crops + score_text([("LOST", "")])
    expected = aggregate(pages).summary()

    assert report["counts"] == expected.pop("counts")
    assert report["end_to_end"] == pytest.approx(expected)
    assert report["recognition"] == pytest.approx(crops.summary())
    assert report["key_fields"]["overall"] == expected["key_fields"]
    assert report["lines"] == report["recognition"]["lines"] == sum(len(r["lines"]) for r in refs) + 1


def test_report_describes_the_run(mini, report):
    assert set(report) == REPORT_KEYS
    # Key fields read from the engine's lines and from the reference lines, scored as SROIE task 3.
    f = report["fields"]
    assert f["schema"] == ["company", "date", "address", "total"] and f["model"] == "zero-shot"
    assert f["given_lines"]["overall"]["reference"] == f["end_to_end"]["overall"]["reference"] > 0
    assert 0 <= f["end_to_end"]["overall"]["f1"] <= f["given_lines"]["overall"]["ceiling"] <= 1
    assert report["engine"] == "classical" and report["config_hash"] == get_engine("classical").config_hash
    assert report["pages"] == 3 and report["pages_failed"] == 1
    # The real receipts are read well: the harness is not scoring noise.
    assert report["end_to_end"]["recall"] > 0.8 and report["recognition"]["cer_ci"] < 0.15
    t = report["timing"]
    assert 0 < t["median_s"] < 30 and 0 < t["mean_s"] < 30 and t["pages_per_s"] > 0
    assert 0 < t["cpu_median_s"] < 30 and 0 < t["cpu_mean_s"] < 30
    assert {p["page"] for p in report["per_page"]} == {"X51005757349.jpg", "X51006619854.jpg", "broken.jpg"}
    json.dumps(report)  # JSON-ready as it is


def test_form_fields_end_to_end_are_the_entity_scoring_of_the_engine_output(tmp_path):
    """A form (funsd-dev, read from the shared folder; never shipped): the harness cuts the engine's
    lines at label colons, labels them with the rules and groups them as pre-fill does, and counts
    them against the reference entities; nothing of its own."""
    from ml.fields import entities as ent
    from ml.fields.lines import lines_from

    funsd = SROIE.parent / "funsd-dev"
    stem = "00093726"
    for ext in (".png", ".json"):
        shutil.copy(funsd / f"{stem}{ext}", tmp_path)
    rep = evaluate_dir(tmp_path, engine="classical", workers=0, crops=False, forms=True)
    (ref,) = load_reference_dir(tmp_path)
    pred = get_engine("classical").predict(load_image(ref["_image"]))
    units = ent.units_of(lines_from((r.points, r.text) for r in pred.regions), ref["width"], ref["height"],
                         split_colon=True)
    labels, ents = ent.read_entities(units)
    want = ent.EntityScore()
    want.add_page([(e.label, e.text) for e in ents], ent.reference_entities(ref), labels, ent.unit_labels(units, ref),
                  units)
    got = rep["forms"]
    assert got["model"] == "zero-shot" and got["end_to_end"] == want.summary()
    assert got["end_to_end"]["overall"]["reference"] == len([e for e in ent.reference_entities(ref)
                                                            if e[0] != "other"]) > 0
    assert got["end_to_end"]["overall"]["right"] > 0           # the form is read, not noise
    assert got["given_lines"]["overall"]["f1"] >= got["end_to_end"]["overall"]["f1"]
    assert "form fields end to end (zero-shot)" in format_reports([rep])


def test_reliability_table_is_the_engines_confidences_against_the_reference(mini, report):
    """The report says how far the confidences can be trusted: per confidence bin, the share of
    regions read right, from the engine's own output (worked out again here, page by page)."""
    from ml.neural.calibration import region_outcomes, reliability_table

    eng = get_engine("classical")
    pairs = []
    for ref in load_reference_dir(mini):
        if ref["image"] == "broken.jpg":
            continue
        pairs += region_outcomes(eng.predict(load_image(ref["_image"])).regions, ref["lines"])
    assert report["reliability"] == reliability_table(pairs)
    assert report["reliability"]["regions"] == len(pairs) > 40
    assert 0 <= report["reliability"]["ece"] < 0.5
    assert report["provider"] is None  # the classical engine runs no onnxruntime session
    text = format_report(report)
    assert "classical: reliability (confidence vs right, ci)" in text
    assert f"{len(pairs)} regions, ECE {100 * report['reliability']['ece']:.1f}%" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| onnxruntime provider"))
    assert row.split("|")[2].strip() == "—"


def test_neural_report_says_which_onnxruntime_provider_ran(mini):
    rep = evaluate_dir(mini, engine="neural", workers=0, limit=1, crops=False)
    assert rep["provider"] == "cpu"  # this machine has no GPU; the CUDA provider is tried first
    assert rep["reliability"]["regions"] > 20
    row = next(ln for ln in format_report(rep).splitlines() if ln.startswith("| onnxruntime provider"))
    assert row.split("|")[2].strip() == "cpu"


def test_a_broken_page_is_reported_and_the_rest_go_on(report):
    (err,) = report["errors"]
    assert err["page"] == "broken.jpg" and "decode" in err["error"]
    # The two good pages were scored: their lines were matched.
    assert report["counts"]["matched"] > 40
    assert len([p for p in report["per_page"] if p["recall"]]) == 2


def test_worker_pool_gives_the_same_figures_as_in_process(mini, report):
    pooled = evaluate_dir(mini, engine="classical", workers=1, crops=False)
    assert pooled["counts"] == report["counts"]
    assert pooled["end_to_end"] == report["end_to_end"]
    assert pooled["errors"] == report["errors"] and pooled["recognition"] is None


def test_format_reports_puts_engines_side_by_side(mini, report):
    other = dict(report, engine="tesseract-baseline", key_fields={"overall": 0.25, "total": 0.5, "vendor": 1.0})
    text = format_reports([report, other])
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["metric", "classical", "tesseract-baseline"]
    row = next(ln for ln in lines if "end-to-end recall" in ln)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == cells[2] == f"{100 * report['end_to_end']['recall']:.1f}%"
    # Key fields of either report get a row; a field one report lacks shows a dash.
    vendor = next(ln for ln in lines if ln.startswith("|   vendor"))
    assert [c.strip() for c in vendor.strip("|").split("|")][1:] == ["—", "100.0%"]
    assert f"classical: error: {mini.name}/broken.jpg" in text
    assert f"tesseract-baseline: error: {mini.name}/broken.jpg" in text
    titled = format_reports([report, other], titles=["A", "B"]).splitlines()
    assert next(ln for ln in titled if ln.startswith("| metric")).split("|")[2].strip() == "A"
    assert format_report(report) == format_reports([report])


def test_cli_eval_json_shape(mini, capsys):
    assert main(["eval", str(mini), "--workers", "0", "--no-crops", "--limit", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, dict) and set(out) == REPORT_KEYS
    assert out["pages"] == 1 and out["recognition"] is None and out["engine"] == "classical"
    assert set(out["end_to_end"]) >= {"recall", "precision", "matched_cer_cs", "matched_cer_ci",
                                      "typing_saved_cs", "typing_saved_ci", "key_fields"}
    assert set(out["timing"]) >= {"median_s", "mean_s", "pages_per_s"}


def test_cli_eval_several_engines_comma_or_repeated(mini, capsys):
    args = ["eval", str(mini), "--workers", "0", "--no-crops", "--limit", "1"]
    assert main(args + ["--engine", "classical,tesseract-baseline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["engine"] for r in out] == ["classical", "tesseract-baseline"]
    assert main(args + ["--engine", "tesseract-baseline", "--engine", "classical"]) == 0
    table = capsys.readouterr().out
    header = next(ln for ln in table.splitlines() if ln.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["metric", "tesseract-baseline", "classical"]


def test_cli_eval_unknown_engine_is_one_line(mini, capsys):
    assert main(["eval", str(mini), "--engine", "classical,nope", "--workers", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert "unknown engine" in line and "nope" in line and "classical" in line
    assert main(["eval", str(mini / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err
