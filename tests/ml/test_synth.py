"""Synthetic invoice lines (ml/synth.py) and how training uses them: the same lines for a seed, only
characters the recogniser has, the text inside its crop, real spaces, training lines only, the
CLI flag in the run's record, the sheet."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from app.cli import main
from core import runs
from core.errors import ProofdeskError
from ml.synth import FONT_DIRS, GENERATOR_VERSION, SynthGenerator, default_charset, font_paths


@pytest.fixture(scope="module")
def gen() -> SynthGenerator:
    return SynthGenerator()


@pytest.fixture(scope="module")
def many(gen) -> list:
    return gen.lines(800, seed=11)


def test_the_fonts_debian_packages_are_there():
    names = {p.name for p in font_paths()}
    # fonts-dejavu-core, fonts-liberation2, fonts-freefont-ttf (the Makefile's apt list)
    assert {"DejaVuSans.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf"} <= names, (names, FONT_DIRS)


def test_a_seed_gives_the_same_lines_and_each_line_depends_on_its_index_only(gen):
    a = gen.lines(12, seed=3)
    b = SynthGenerator().lines(12, seed=3)  # another generator, same fonts
    assert [x.text for x in a] == [y.text for y in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    # Line 7 alone is line 7 of the twelve: a resumed run or a sheet sees the same one.
    seven = gen.line(3, 7)
    assert seven.text == a[7].text and np.array_equal(seven.image, a[7].image)
    other = gen.lines(12, seed=4)
    assert [x.text for x in other] != [x.text for x in a]
    info = gen.describe(12, 3)
    assert info["version"] == GENERATOR_VERSION and info["seed"] == 3 and info["n"] == 12
    assert info["fonts"] == [p.name for p in gen.fonts] and len(info["fonts_sha256"]) == 64


def test_every_character_is_in_the_recogniser_charset(many):
    charset = set(default_charset()[1:])
    outside = {c for ln in many for c in ln.text if c not in charset}
    assert not outside, outside
    assert all(ln.text and ln.text == ln.text.strip() and "  " not in ln.text for ln in many)


def test_what_invoices_print_is_there(many):
    texts = [ln.text for ln in many]
    joined = "\n".join(texts)
    for piece in ("ß", "ä", "ö", "ü", "é", "è", "à", "ç", "å", "ø", "ñ", "€", " €", "%", " %", "£", "CHF", "$",
                  "Seite", "Page", "IBAN", ",", "."):
        assert piece in joined, piece
    # An amount with the euro sign after it and a space between, and one with none.
    import re

    assert re.search(r"\d,\d\d €", joined) and re.search(r"\d,\d\d€", joined)
    assert re.search(r"\d %", joined) and re.search(r"\d%", joined)
    assert re.search(r"\d{2}\.\d{2}\.\d{4}", joined) and re.search(r"\d{4}-\d{2}-\d{2}", joined)
    assert re.search(r"[A-Z]*O[A-Z]*[-/ ]?\d*0", joined)  # O beside 0 in codes
    # Most lines have words: the space is learnt.
    assert sum(" " in t for t in texts) > 0.7 * len(texts)
    assert len({ln.font for ln in many}) >= 10 and len({ln.lang for ln in many}) == 8


def test_characters_the_head_lacks_are_never_generated_and_are_reported():
    charset = [c for c in default_charset() if c not in ("ß", "€", "ä", "₹")]
    g = SynthGenerator(charset)
    assert {"ß", "€", "ä", "₹"} <= set(g.missing)
    texts = [ln.text for ln in g.lines(150, seed=2)]
    assert not any(c in t for t in texts for c in "ß€ä₹")
    # With the sign in the charset, rupee amounts are written with it.
    from ml.synth import _Text

    full = SynthGenerator([*charset, "₹"])
    assert "₹" not in full.missing
    amounts = [_Text(np.random.default_rng(i), full.ok).amount("en") for i in range(300)]
    assert any("₹" in a for a in amounts)
    assert not any("₹" in _Text(np.random.default_rng(i), g.ok).amount("en") for i in range(300))


def test_the_text_is_inside_its_crop_with_the_recognisers_context():
    # Alone on the page (no neighbouring line or rule) and without photometric changes, every dark
    # pixel of the crop is the line's text: none touches the crop's edge, accents and descenders
    # included, and the margin is the context pre-fill cuts around a box.
    g = SynthGenerator(augment=False, context=False)
    for ln in g.lines(120, seed=5):
        h, w = ln.image.shape
        ys, xs = np.nonzero(ln.image < 160)
        assert len(xs), ln.text
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        ink_h = y1 - y0
        assert x0 >= max(1, 0.15 * ink_h) - 1 and w - x1 >= max(1, 0.15 * ink_h) - 1, (ln.text, x0, w - x1, ink_h)
        assert y0 >= 1 and h - y1 >= 1, (ln.text, y0, h - y1)
        # The ink box the generator reports is where the text is.
        bx0, by0, bx1, by1 = ln.ink_box
        assert bx0 <= x0 + 1 and by0 <= y0 + 1 and bx1 >= x1 - 1 and by1 >= y1 - 1, (ln.ink_box, (x0, y0, x1, y1))


def test_context_lines_never_cut_into_the_text(many):
    for ln in many:
        h, w = ln.image.shape
        x0, y0, x1, y1 = ln.ink_box
        assert 0 < x0 < x1 < w and 0 <= y0 < y1 <= h and x1 - x0 > 2, (ln.text, ln.ink_box, ln.image.shape)
        assert x0 >= 1 and w - x1 >= 1, ln.text


def test_spaces_are_rendered_as_gaps():
    # Upright fonts: each space leaves a run of empty columns at least a fifth of the font size wide.
    fonts = [p for p in font_paths() if p.name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf")]
    g = SynthGenerator(fonts=fonts, augment=False, context=False)
    checked = 0
    for ln in g.lines(80, seed=9):
        x0, _, x1, _ = ln.ink_box
        cols = (ln.image[:, x0:x1] < 160).any(axis=0)
        runs_, n = [], 0
        for c in cols:
            if c:
                if n:
                    runs_.append(n)
                n = 0
            else:
                n += 1
        wide = sum(r >= 0.2 * ln.size for r in runs_)  # the crop is at the rendering's scale
        assert wide >= ln.text.count(" "), (ln.text, runs_, ln.size)
        checked += ln.text.count(" ") > 0
    assert checked > 40


def test_no_fonts_is_one_clear_error(tmp_path, monkeypatch):
    import ml.synth
    from ml.training import data

    assert font_paths([tmp_path]) == []
    with pytest.raises(ProofdeskError, match="fonts-liberation2"):
        SynthGenerator(fonts=[])
    # A run asking for synthetic lines on a machine without the fonts fails before it trains anything.
    monkeypatch.setattr(ml.synth, "font_paths", lambda dirs=None: [])
    data.check_synthetic({"synthetic_lines": 0})  # none asked for: nothing to check
    with pytest.raises(ProofdeskError, match="TrueType fonts"):
        data.check_synthetic({"synthetic_lines": 5})


def test_synthetic_lines_go_to_training_only(labelled):
    from core import datasets
    from ml.neural.models import BASE_MODEL, load_spec, model_dir
    from ml.neural.recognizer import Recognizer
    from ml.training import data
    from ml.training.params import resolve_params

    project, version = labelled
    manifest = datasets.load_manifest(project.root, version, project)
    rec = Recognizer(load_spec(model_dir(BASE_MODEL, "rec-latin")), run=lambda x: x)
    lines, _ = data.cut_lines(manifest["train"][:10], project.images.path, rec)
    params = resolve_params({"synthetic_lines": 24, "augment_copies": 0.5})
    every, counts = data.training_lines(lines, params, rec)
    synthetic = [ln for ln in every if ln.synthetic]
    assert len(synthetic) == 24 == counts["synthetic"] and counts["augmented"] == 5
    assert every[: len(lines)] == lines and all(not ln.synthetic for ln in every[: len(lines) + 5])
    info = counts["synthetic_generator"]
    assert info["n"] == 24 and info["seed"] == params["seed"] and info["version"] == GENERATOR_VERSION
    # Encoded for the model, within the width a batch takes; the same as the generator's lines.
    index = {c: i for i, c in enumerate(rec.spec.charset) if i}
    want = SynthGenerator(rec.spec.charset).lines(24, seed=params["seed"])
    assert [ln.text for ln in synthetic] == [s.text for s in want]
    assert all(ln.target == [index[c] for c in ln.text] and 0 < ln.width <= params["max_width"] for ln in synthetic)
    # None by default.
    _, counts = data.training_lines(lines, resolve_params({}), rec)
    assert counts["synthetic"] == 0 and "synthetic_generator" not in counts


def test_a_run_with_synthetic_lines_trains_on_them_and_judges_on_the_project_only(labelled, capsys):
    project, version = labelled
    code = main(["--user", "lead", "train", str(project.root), "--dataset", str(version.id), "--epochs", "1",
                 "--max-lines", "6", "--batch-size", "8", "--synthetic", "10", "--no-detector", "--set",
                 "calib_pages=0", "--set", "e2e_val_pages=0", "--set", "val_lines=6", "--json"])
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert code == 0, lines[-3:]
    data = next(m for m in lines if m["type"] == "data")
    assert data["train_lines"] == 6 and data["synthetic"] == 10 and data["augmented"] == 3
    assert data["val_lines"] == 6  # the project's lines only
    assert data["synthetic_generator"]["n"] == 10 and data["synthetic_generator"]["version"] == GENERATOR_VERSION
    run = runs.get(project.store, lines[-1]["run"])
    assert run.status == "done" and run.params["synthetic_lines"] == 10
    assert '"synthetic_generator"' in run.log  # in the run's record, not only on stdout
    meta = json.loads((project.root / run.artifact_path / "model.json").read_text())
    assert meta["training"]["synthetic"]["n"] == 10 and meta["training"]["params"]["synthetic_lines"] == 10
    assert meta["training"]["synthetic"]["fonts_sha256"] == data["synthetic_generator"]["fonts_sha256"]


def test_the_cli_flag_reaches_the_runs_parameters(labelled, capsys):
    project, version = labelled
    root = str(project.root)
    assert main(["--user", "lead", "train", root, "--dataset", str(version.id), "--synthetic", "250",
                 "--create-only"]) == 0
    run_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    assert runs.get(project.store, run_id).params["synthetic_lines"] == 250
    before = len(runs.list_runs(project.store))
    assert main(["--user", "lead", "train", root, "--dataset", str(version.id), "--synthetic", "-5",
                 "--create-only"]) != 0
    assert "synthetic_lines must be an integer from 0" in capsys.readouterr().err
    assert len(runs.list_runs(project.store)) == before  # refused before a run was recorded


def test_the_sheet_shows_the_lines_with_their_texts(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["synth-sheet", str(out), "--n", "6", "--seed", "4", "--columns", "2"]) == 0
    assert "6 synthetic lines, seed 4" in capsys.readouterr().out
    sheet = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert sheet is not None and sheet.shape[1] > 1600 and sheet.shape[0] >= 3 * 48
    # Three rows: each has a line (dark pixels) and its text under it.
    assert (sheet < 128).sum() > 6 * 200


# --------------------------------------------------------------------------- the receipt style
@pytest.fixture(scope="module")
def receipts() -> SynthGenerator:
    return SynthGenerator(receipt_share=1.0)


@pytest.fixture(scope="module")
def receipt_lines(receipts) -> list:
    return receipts.lines(300, seed=7)


def test_receipt_lines_are_capitals_in_the_charset_in_till_printer_faces(receipts, receipt_lines):
    from ml.synth import RECEIPT_FONT_FILES

    charset = set(default_charset()[1:])
    outside = {c for ln in receipt_lines for c in ln.text if c not in charset}
    assert not outside, outside
    for ln in receipt_lines:
        assert ln.text and ln.text == ln.text.strip() and "  " not in ln.text, ln.text
        assert ln.text == ln.text.upper() and not any(c.islower() for c in ln.text), ln.text
        assert ln.lang == "receipt" and ln.font in dict(RECEIPT_FONT_FILES), ln.font
    mono = {p.name for p in receipts.receipt_fonts if "Mono" in p.name}
    assert len(mono) >= 4 and mono & {ln.font for ln in receipt_lines}


def test_receipt_lines_print_what_receipts_print(receipt_lines):
    import re

    texts = [ln.text for ln in receipt_lines]
    joined = "\n".join(texts)
    for word in ("TOTAL", "CASH", "CHANGE", "GST", "RM", "SUBTOTAL", "TAX"):
        assert word in joined, word
    assert re.search(r"RM ?\d+\.\d\d", joined)  # ringgit amounts, with and without the space
    assert re.search(r"\d\d:\d\d", joined) and re.search(r"\d\d/\d\d/\d{2,4}", joined)  # times and dates
    assert re.search(r"\.{3,}|-{3,}", joined)  # dotted leaders
    assert sum(bool(re.search(r"\d\.\d\d\b", t)) for t in texts) > 0.4 * len(texts)  # most carry an amount
    assert len({t for t in texts}) > 0.95 * len(texts)  # not a handful of lines repeated


def test_receipt_lines_are_low_resolution_and_reproducible(receipts, receipt_lines):
    again = SynthGenerator(receipt_share=1.0).lines(20, seed=7)
    assert [x.text for x in again] == [y.text for y in receipt_lines[:20]]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(again, receipt_lines))
    assert receipts.line(7, 13).text == receipt_lines[13].text
    assert [x.text for x in receipts.lines(20, seed=8)] != [x.text for x in again]
    # Printed small: most were drawn at under 16 px (then blown up or not, as a scan of a slip is).
    assert sum(ln.size < 16 for ln in receipt_lines) > 0.5 * len(receipt_lines)
    for ln in receipt_lines:
        h, w = ln.image.shape
        x0, y0, x1, y1 = ln.ink_box
        assert 0 < x0 < x1 < w and 0 <= y0 < y1 <= h, (ln.text, ln.ink_box, ln.image.shape)


def test_the_receipt_share_keeps_the_invoice_lines_and_is_recorded(gen):
    plain = gen.lines(60, seed=3)
    mixed_gen = SynthGenerator(receipt_share=0.4)
    mixed = mixed_gen.lines(60, seed=3)
    kinds = [mixed_gen.is_receipt(3, i) for i in range(60)]
    assert 10 <= sum(kinds) <= 40  # about 0.4 of them
    for is_receipt, a, b in zip(kinds, mixed, plain):
        if is_receipt:
            assert a.lang == "receipt" and a.text == a.text.upper()
        else:  # every other line is the very line of share 0
            assert a.text == b.text and np.array_equal(a.image, b.image)
    # A larger share only turns more lines into receipt lines.
    more = SynthGenerator(receipt_share=0.7)
    assert all(more.is_receipt(3, i) for i in range(60) if kinds[i])
    info = mixed_gen.describe(60, 3)
    assert info["receipt_share"] == 0.4 and info["receipt_lines"] == sum(kinds)
    assert info["receipt_fonts"] and len(info["receipt_fonts_sha256"]) == 64
    assert gen.describe(60, 3)["receipt_share"] == 0.0 and "receipt_fonts" not in gen.describe(60, 3)
    with pytest.raises(ValueError, match="receipt_share"):
        SynthGenerator(receipt_share=1.5)


def test_the_training_parameter_reaches_the_generator():
    from ml.neural.models import BASE_MODEL, load_spec, model_dir
    from ml.neural.recognizer import Recognizer
    from ml.training import data
    from ml.training.params import resolve_params

    rec = Recognizer(load_spec(model_dir(BASE_MODEL, "rec-latin")), run=lambda x: x)
    params = resolve_params({"synthetic_lines": 30, "synthetic_receipt_share": 0.5})
    every, counts = data.training_lines([], params, rec)
    info = counts["synthetic_generator"]
    assert info["receipt_share"] == 0.5 and 5 <= info["receipt_lines"] <= 25
    want = SynthGenerator(rec.spec.charset, receipt_share=0.5).lines(30, seed=params["seed"])
    assert [ln.text for ln in every] == [s.text for s in want]
    with pytest.raises(ProofdeskError, match="synthetic_receipt_share"):
        resolve_params({"synthetic_receipt_share": 2})
