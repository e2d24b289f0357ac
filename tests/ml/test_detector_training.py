"""The detector's fine-tuning pieces: the DB target, the torch module of the detector graph, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.scoring import match_lines
from ml.neural import runtime
from ml.neural.detector import DetectConfig, boxes_from_map
from ml.neural.models import BASE_MODEL, load_spec, model_dir
from ml.training import detector as dt


@pytest.fixture(scope="module")
def det_spec():
    return load_spec(model_dir(BASE_MODEL, "det"))


@pytest.mark.parametrize("ratio", [1.0, 1.5])
def test_kernel_target_gives_back_the_boxes(ratio):
    """The target's kernels, read by pre-fill's own box extraction, are the boxes people drew:
    what the head learns to draw is what pre-fill then cuts."""
    boxes = [np.array([[40, 30], [400, 30], [400, 62], [40, 62]], float),  # a long line
             np.array([[420, 30], [450, 30], [450, 62], [420, 62]], float),  # "X": a short one beside it
             np.array([[60, 120], [300, 110], [301, 140], [61, 150]], float)]  # slightly rotated
    page = (600, 400)
    gt = dt.kernel_target(boxes, page, (200, 300), ratio)  # the map at half the page size
    got = [b for b, _ in boxes_from_map(gt, page, DetectConfig(thresh=0.5, box_thresh=0.5, unclip_ratio=ratio))]
    assert len(got) == 3
    m = match_lines(got, boxes, threshold=0.8)
    assert len(m) == 3, m


def test_the_unclip_ratio_is_chosen_so_that_a_wide_map_gives_back_the_boxes():
    """A map wider than its kernels (what a fine-tuned head draws on pages it did not learn from)
    grown back by the base's ratio gives boxes too tall; the ratio chosen on the pages fits them."""
    import cv2

    boxes = [np.array([[40, 30 + 60 * k], [400, 30 + 60 * k], [400, 62 + 60 * k], [40, 62 + 60 * k]], float)
             for k in range(5)]
    page = (600, 400)
    gt = dt.kernel_target(boxes, page, (200, 300), 1.0)
    wide = cv2.dilate(gt, np.ones((3, 3), np.uint8))      # one map pixel more on every side
    pages = [dt.DetPage(None, page, boxes, gt, [20] * len(boxes))]
    base = DetectConfig(thresh=0.5, box_thresh=0.5, unclip_ratio=1.0)
    at_base = dt.detection_scores(pages, [wide], base)
    chosen, tried = dt.choose_unclip(pages, [wide], base)
    assert chosen.unclip_ratio < 1.0 and set(tried) == {str(r) for r in dt.UNCLIP_RATIOS}
    assert tried[str(chosen.unclip_ratio)]["iou"] > at_base["iou"] + 0.05
    assert tried[str(chosen.unclip_ratio)]["cost"] <= at_base["cost"]
    # the map it was trained to draw keeps the base's ratio
    assert dt.choose_unclip(pages, [gt], base)[0].unclip_ratio == 1.0


def test_training_pages_are_scaled_as_pre_fill_scales_them(det_spec):
    """A page of small print is read by pre-fill at its text's size, not at 960 pixels a side: the
    head learns at the scale it will read at."""
    from ml.neural.detector import page_char_height, resize_for_detection

    img = np.full((1500, 1060, 3), 255, np.uint8)
    import cv2
    for k in range(40):
        cv2.putText(img, "TOTAL 12.50 RM SDN BHD", (40, 40 + 35 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cfg = DetectConfig()
    want = resize_for_detection(img.shape[:2], cfg, det_spec.size_multiple, page_char_height(img))
    assert want != resize_for_detection(img.shape[:2], cfg, det_spec.size_multiple)   # the scales differ
    (page,) = dt.prepare_pages([(img, [[[40, 30], [300, 30], [300, 45], [40, 45]]], ["TOTAL"])], det_spec, cfg)
    assert page.x.shape[:2] == want and page.x.dtype == np.uint8
    # the pages' inputs stay within the memory budget: a page past it is left out, the first kept
    box = [[[40, 30], [300, 30], [300, 45], [40, 45]]]
    budget = int(want[0] * want[1] * 2.5)
    kept = dt.prepare_pages([(img, box, ["TOTAL"])] * 4, det_spec, cfg, max_pixels=budget)
    assert len(kept) == 2
    assert len(dt.prepare_pages([(img, box, ["TOTAL"])], det_spec, cfg, max_pixels=10)) == 1
    assert dt.postprocess_of(det_spec) == {}


def test_shrink_distance_solves_the_unclip():
    for w, h, r in ((300, 20, 1.0), (30, 25, 1.0), (300, 20, 1.5)):
        d = dt.shrink_distance(w, h, r)
        w2, h2 = w - 2 * d, h - 2 * d
        assert 0 < d < h / 2 and r * w2 * h2 / (2 * (w2 + h2)) == pytest.approx(d)


def test_db_loss_prefers_the_target():
    gt = torch.zeros(32, 48)
    gt[10:20, 5:40] = 1
    good = gt * 0.9 + 0.05
    assert dt.db_loss(good, gt) < dt.db_loss(torch.full_like(gt, 0.5), gt) < dt.db_loss(1 - good, gt)


def test_detector_graph_runs_in_torch_as_in_onnxruntime(det_spec):
    """Resize and ConvTranspose (the neck and the DB head) in OnnxGraphModule: same map as onnxruntime."""
    net = dt.load_detector_module(det_spec)
    x = np.random.default_rng(0).normal(size=(1, 3, 96, 160)).astype(np.float32)
    want = runtime.create_session(det_spec.path, "cpu").run(None, {"x": x})[0]
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (1, 1, 96, 160)
    assert np.abs(got - want).max() < 1e-4


def test_export_writes_the_trained_weights_back(det_spec, tmp_path):
    net = dt.load_detector_module(det_spec)
    with torch.no_grad():  # change the head as training would
        changed = [k for k in net.params if "conv2d_transpose" in k]
        assert changed
        for key in changed:
            net.params[key].add_(1.0)
    out = dt.export_detector(net, det_spec, tmp_path / "det", DetectConfig(thresh=0.6, box_thresh=0.65,
                                                                           unclip_ratio=0.7))
    spec = load_spec(out)  # sha256 checked
    assert spec.raw["postprocess"] == {"thresh": 0.6, "box_thresh": 0.65, "unclip_ratio": 0.7}
    assert dt.postprocess_of(spec) == {"thresh": 0.6, "box_thresh": 0.65, "unclip_ratio": 0.7}
    assert dt.postprocess_of(det_spec) == {}
    # pre-fill's engine reads with what the version recorded (ml.training.active.detector_of)
    assert DetectConfig(**dt.postprocess_of(spec)).unclip_ratio == 0.7
    x = np.random.default_rng(1).normal(size=(1, 3, 64, 96)).astype(np.float32)
    got = runtime.create_session(spec.path, "cpu").run(None, {"x": x})[0]
    shipped = runtime.create_session(det_spec.path, "cpu").run(None, {"x": x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 1e-4 and np.abs(got - shipped).max() > 1e-3
    assert json.loads((out / "model.json").read_text())["exported_by"] == "ml.training.detector.export_detector"


def test_neural_engine_reads_with_a_given_detector(det_spec, tmp_path, sroie_dir):
    """config ``det``: the engine loads that detector (its sha256 checked); the shipped config's hash
    is as it was before the key existed."""
    from ml.neural.engine import NeuralConfig, NeuralEngine

    assert "det" not in NeuralConfig().to_dict()
    net = dt.load_detector_module(det_spec)
    with torch.no_grad():
        for key, p in net.params.items():
            if "conv2d_transpose_1" in key:
                p.sub_(5.0)  # a detector that finds nothing
    out = dt.export_detector(net, det_spec, tmp_path / "det", DetectConfig())
    import cv2

    img = cv2.imread(str(sorted(sroie_dir.glob("*.jpg"))[0]))
    blind = NeuralEngine({"det": str(out)})
    assert blind.config["det"] == str(out) and blind.model.det_spec.sha256 != det_spec.sha256
    assert blind.predict(img).regions == [] and len(NeuralEngine().predict(img).regions) > 10
    (out / "model.onnx").write_bytes((out / "model.onnx").read_bytes()[:-10])  # corrupt: refused
    from ml.neural.models import ModelError

    with pytest.raises(ModelError):
        NeuralEngine({"det": str(out)})
