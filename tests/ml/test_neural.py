"""The neural engine: model files checked before use, fallback, CTC decoding, torch/onnxruntime parity."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.engines import get_engine
from ml.neural import engine_or_fallback, runtime
from ml.neural.calibration import Calibrator, reliability_table
from ml.neural.combined import CombinedEngine, _respace
from ml.neural.ctc import decode_greedy
from ml.neural.engine import NeuralEngine
from ml.neural.models import BASE_MODEL, ModelError, load_spec, model_dir
from ml.neural.torch_model import export_onnx, load_recognizer
from ml.prediction import load_image

ROOT = Path(__file__).resolve().parents[2]
SROIE = ROOT.parent / "shared" / "datasets" / "sroie-dev"
PAGE = "X51005361950"
CHARS = ["<blank>", "a", "b", " "]


def _page():
    path = SROIE / f"{PAGE}.jpg"
    if not path.exists():  # the bundled samples are SROIE pages too
        path = next((ROOT / "resources" / "samples" / "receipts").glob("*.jpg"))
    ref = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return load_image(path), ref


def _broken_model(tmp_path: Path, how: str) -> Path:
    """A copy of the bundled model with its recogniser truncated or removed."""
    src = model_dir(BASE_MODEL, "")
    dst = tmp_path / "model"
    for part in ("det", "rec-latin"):
        shutil.copytree(src / part, dst / part)
    onnx_file = dst / "rec-latin" / "model.onnx"
    if how == "truncated":
        data = onnx_file.read_bytes()
        onnx_file.write_bytes(data[: len(data) // 2])
    else:
        onnx_file.unlink()
    return dst


# ------------------------------------------------------------------ CTC
def test_ctc_decodes_hand_made_logits_with_character_confidences():
    big, small = 8.0, 0.0
    steps = [  # a a - b b space blank a   (then padding past the length)
        [small, big, small, small],
        [small, big, small, small],
        [big, small, small, small],
        [small, small, big, small],
        [small, small, big, small],
        [small, small, small, big],
        [big, small, small, small],
        [small, big, small, small],
        [small, small, big, small],
    ]
    logits = np.array([steps], dtype=np.float32)
    (d,) = decode_greedy(logits, CHARS, logits=True, lengths=[8])
    assert d.text == "ab a"  # repeats merge, blanks split, the padded 9th step is not read
    assert len(d.char_conf) == 4
    expected = np.exp(big) / (np.exp(big) + 3)
    assert np.allclose(d.char_conf, expected, atol=1e-6)
    # The same scores as probabilities decode the same.
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    (p,) = decode_greedy(probs, CHARS, logits=False, lengths=[8])
    assert p.text == d.text and np.allclose(p.char_conf, d.char_conf, atol=1e-5)


def test_ctc_space_prior_and_class_mask():
    # Step 2 is a near tie between blank and space: the prior tips it to the space.
    logits = np.array([[[0, 5, 0, 0], [2.0, 0, 0, 1.5], [0, 0, 5, 0]]], dtype=np.float32)
    assert decode_greedy(logits, CHARS, logits=True)[0].text == "ab"
    prior = np.array([0, 0, 0, 1.0], dtype=np.float32)
    assert decode_greedy(logits, CHARS, logits=True, prior=prior)[0].text == "a b"
    allowed = np.array([True, True, False, True])
    d = decode_greedy(logits, CHARS, logits=True, allowed=allowed)[0]
    assert "b" not in d.text


# ------------------------------------------------------------------ model files
def test_model_json_sha256_is_checked(tmp_path):
    spec = load_spec(model_dir(BASE_MODEL, "rec-latin"))
    assert spec.output == "logits" and spec.charset[0] == "<blank>" and " " in spec.charset
    broken = _broken_model(tmp_path, "truncated")
    with pytest.raises(ModelError, match="corrupt"):
        load_spec(broken / "rec-latin")
    missing = _broken_model(tmp_path / "m2", "missing")
    with pytest.raises(ModelError, match="missing"):
        load_spec(missing / "rec-latin")


@pytest.mark.parametrize("how", ["truncated", "missing"])
def test_broken_model_warns_and_prefill_falls_back_to_classical(tmp_path, caplog, how):
    folder = _broken_model(tmp_path, how)
    with caplog.at_level(logging.WARNING):
        eng, warning = engine_or_fallback("neural", {"model": str(folder)})
    assert eng.name == "classical" and "classical" in warning and "neural" in warning
    assert warning in caplog.text and eng.fallback_warning == warning
    # The registry the pool and pre-fill use falls back the same way.
    assert get_engine("combined", {"neural": {"model": str(folder)}}).name == "classical"


# ------------------------------------------------------------------ torch module, parity, export
def _logp(x):
    return torch.log_softmax(torch.as_tensor(x), -1).numpy()


def _batch(seed=0, n=3, width=128):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, 48, width)).astype(np.float32)


def test_torch_module_matches_onnxruntime_and_fails_when_perturbed():
    spec = load_spec(model_dir(BASE_MODEL, "rec-latin"))
    net = load_recognizer(spec)
    sess = runtime.create_session(spec.path, "cpu")
    x = _batch()
    with torch.no_grad():
        torch_logits = net(torch.from_numpy(x)).numpy()
    ort_logits = sess.run(None, {"x": x})[0]
    assert torch_logits.shape == ort_logits.shape == (3, 16, len(spec.charset))
    tol = 1e-4
    assert np.abs(_logp(torch_logits) - _logp(ort_logits)).max() < tol
    # The test has teeth: a small change to one weight breaks parity.
    with torch.no_grad():
        first = next(iter(net.parameters()))
        first.add_(0.05 * torch.randn_like(first))
        perturbed = net(torch.from_numpy(x)).numpy()
    assert np.abs(_logp(perturbed) - _logp(ort_logits)).max() > tol


def test_torch_module_and_its_trainable_tail_run_on_another_device():
    """Training runs on a GPU when there is one: every tensor the module makes must follow the
    module to its device. PyTorch's "meta" device checks that without a GPU: it refuses to
    mix with CPU tensors and to be read back into numpy, as a CUDA tensor would."""
    from ml.training.model import DEFAULT_SPLIT, Tail, split_index, trainable_parameters

    spec = load_spec(model_dir(BASE_MODEL, "rec-latin"))
    net = load_recognizer(spec).to("meta")
    out = net(torch.zeros(2, 3, 48, 160, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (2, 20, len(spec.charset))
    # The part that training runs (after the frozen backbone), forward and backward.
    tail = Tail(net)
    params = [p for _, p in trainable_parameters(net, split_index(net, DEFAULT_SPLIT))]
    assert params and all(p.device.type == "meta" for p in params)
    feats = torch.zeros(2, 480, 1, 20, device="meta")
    logits = tail(feats)
    logits.float().log_softmax(2).sum().backward()
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in params)


def test_latin_head_equals_the_shipped_model_renormalised(tmp_path):
    """The Latin cut itself (``python -m ml.neural.torch_model``'s step) keeps the full model's
    readings of its classes. (The shipped rec-latin was taught more since: its weights differ.)"""
    from ml.neural.torch_model import derive_latin

    full = load_spec(model_dir(BASE_MODEL, "rec"))
    latin = load_spec(derive_latin(BASE_MODEL, tmp_path / "rec-latin"))
    keep = [full.charset.index(c) for c in latin.charset[1:]]
    x = _batch(1, n=1, width=96)
    p = runtime.create_session(full.path, "cpu").run(None, {"x": x})[0][:, :, [0] + keep]
    p /= p.sum(-1, keepdims=True)
    logits = runtime.create_session(latin.path, "cpu").run(None, {"x": x})[0]
    assert np.abs(_logp(logits) - np.log(p)).max() < 1e-4


def test_export_onnx_writes_model_json_with_sha256(tmp_path):
    spec = load_spec(model_dir(BASE_MODEL, "rec-latin"))
    net = load_recognizer(spec)
    folder = export_onnx(net, tmp_path / "rec", spec, meta={"id": "test-export"})
    again = load_spec(folder)  # verifies the sha256
    assert again.raw["id"] == "test-export" and again.output == "logits" and again.charset == spec.charset
    x = _batch(2, n=2, width=200)  # another width: the width axis is dynamic
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = runtime.create_session(again.path, "cpu").run(None, {"x": x})[0]
    assert np.abs(got - want).max() < 1e-4


# ------------------------------------------------------------------ engines on a real page
@pytest.fixture(scope="module")
def combined():
    return CombinedEngine()


def test_neural_engine_reads_a_receipt(combined):
    from core.scoring import score_page

    image, ref = _page()
    eng: NeuralEngine = combined.neural
    lines, timing = eng.read_page(image)
    pred = eng.to_regions(lines)
    assert eng.provider in ("cpu", "cuda") and timing["recognize_s"] > 0
    s = score_page([(r.points, r.text) for r in pred], [(ln["box"], ln["text"]) for ln in ref["lines"]]).summary()
    assert len(pred) >= 15 and s["recall"] >= 0.7 and s["typing_saved_ci"] >= 0.6
    assert all(0 <= r.confidence <= 1 for r in pred)


def test_pages_read_together_give_what_pages_read_one_by_one(combined):
    """predict_many (full recogniser batches across pages, for a GPU) reads as well as predict.

    Not always the same letters: the recogniser's attention sees the padding a batch adds on
    the right of its shorter lines, so a line read beside other pages' lines can come out
    differently (9 of 132 lines here, as often better as worse)."""
    import json

    from core.scoring import aggregate, score_page

    eng: NeuralEngine = combined.neural
    paths = sorted(SROIE.glob("*.jpg"))[:3]
    images = [load_image(p) for p in paths]
    refs = [json.loads(p.with_suffix(".json").read_text()) for p in paths]
    alone = [eng.predict(img) for img in images]
    together = eng.predict_many(images)
    assert len(together) == 3
    same = total = 0
    for a, b in zip(alone, together):
        assert [r.points for r in a.regions] == [r.points for r in b.regions]  # the same detection
        assert (b.width, b.height) == (a.width, a.height) and b.info["pages_in_batch"] == 3
        same += sum(x.text == y.text for x, y in zip(a.regions, b.regions))
        total += len(a.regions)
    assert total > 60 and same >= 0.85 * total

    def typing_saved(preds):
        return aggregate(score_page([(r.points, r.text) for r in p.regions],
                                    [(ln["box"], ln["text"]) for ln in ref["lines"]])
                         for p, ref in zip(preds, refs)).summary()["typing_saved_ci"]

    assert typing_saved(together) == pytest.approx(typing_saved(alone), abs=0.01)
    # One page alone in predict_many is predict.
    assert [r.text for r in eng.predict_many(images[:1])[0].regions] == [r.text for r in alone[0].regions]


def test_combined_engine_flags_disagreements(combined):
    image, ref = _page()
    pred = combined.predict(image)
    assert pred.engine == "combined" and pred.info["provider"] in ("cpu", "cuda")
    assert len(pred.regions) >= 15 and all(0 <= r.confidence <= 1 for r in pred.regions)
    flagged = [r for r in pred.regions if r.disagree]
    assert flagged and all(r.second_opinion is not None for r in flagged)
    assert all(r.second_opinion is None for r in pred.regions if not r.disagree)


def test_combined_engine_uses_the_model_versions_own_calibration(tmp_path):
    from ml.neural.combined import CombinedEngine

    shipped = CombinedEngine()
    assert shipped.calibration_path == model_dir(BASE_MODEL, "") / "calibration.json"
    folder = tmp_path / "run-1"
    shutil.copytree(model_dir(BASE_MODEL, "rec-latin"), folder)
    same = CombinedEngine({"neural": {"rec": str(folder)}})
    assert same.calibration_path == shipped.calibration_path  # none of its own: the shipped one
    Calibrator(weights=[0.5, 0.5, 1.0, -1.0, 0.0, 0.0], bias=-0.2).save(folder / "calibration.json")
    own = CombinedEngine({"neural": {"rec": str(folder)}})
    assert own.calibration_path == folder / "calibration.json"
    assert own.calibrator.weights[0] == 0.5 and own.config_hash != same.config_hash


def test_tesseract_text_takes_the_recognisers_capitals(combined):
    """Where Tesseract's reading replaces a line the recogniser wrote in capitals, it is capitalised
    too (a model fine-tuned on upper-case transcripts; Tesseract reads the print's lower case)."""
    from ml.neural.combined import Reading

    pts = np.zeros((4, 2))
    text, _, disagree = combined.finish(Reading(pts, "T0TAL AM0UNT", 0.6, 0.3, "Total Amount", 0.95))
    assert disagree and text == "TOTAL AMOUNT"
    text, _, _ = combined.finish(Reading(pts, "T0tal Am0unt", 0.6, 0.3, "Total Amount", 0.95))
    assert text == "Total Amount"  # a mixed-case reading: Tesseract's as it is
    text, _, _ = combined.finish(Reading(pts, "12.00", 0.6, 0.3, "12.80", 0.95))
    assert text == "12.80"


def test_respace_and_reliability_and_calibrator():
    assert _respace("Tel:03-1234", "TEL : 03-1234") == "Tel : 03-1234"
    t = reliability_table([(0.99, True), (0.97, True), (0.96, False), (0.2, False)], edges=(0, 0.5, 1))
    assert [b["n"] for b in t["bins"]] == [1, 3] and t["bins"][1]["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] + 0.3 * rng.normal(size=400)) > 0
    cal = Calibrator.fit(x, y)
    assert cal.predict([3, 0, 0, 0, 0, 0]) > 0.9 and cal.predict([-3, 0, 0, 0, 0, 0]) < 0.1


def test_sessions_report_the_provider_that_runs(monkeypatch):
    import ml

    sess = runtime.create_session(load_spec(model_dir(BASE_MODEL, "det")).path)
    provider = runtime.provider_of(sess)
    assert provider in sess.get_providers() and runtime.last_provider() == provider
    info = ml.runtime_info()
    assert info["neural provider"] == runtime.short_provider(provider) in ("cpu", "cuda")
    assert "rec-latin" in info["neural model"]
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")  # what the pre-fill pool sets in its workers
    assert runtime.default_threads() == 1
