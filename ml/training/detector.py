"""Fine-tuning the text detector on the boxes people drew: the DB head learns the project's segmentation.

The shipped detector cuts lines where PaddleOCR's data cut them; a project's annotators may cut
them elsewhere (SROIE boxes "1", "X", "19.00", "19.00" where the detector finds one line
"1 X 19.00 19.00"). Reading a box that differs from the one people draw also costs the
recogniser: on sroie-dev it made 128 character errors on the detector's boxes against 59 on the
people's boxes of the same lines. So a run also fine-tunes the detector:

1. Each training page (all of its boxes: a page marked done is complete) is scaled as pre-fill
   scales it; the frozen network up to the DB head's input (``DET_SPLIT``, the neck's fused
   features at a quarter of the input size) runs once per page through onnxruntime.
2. The target is DB's: each box shrunk to its text kernel by the distance that the box
   extraction's unclip (``ml.neural.detector.boxes_from_map``) grows back, so the trained map
   gives back the people's boxes. The loss is DB's for the probability map: balanced binary
   cross-entropy (all kernel pixels, the hardest 3x as many background pixels) plus a dice
   term. Only the head trains (about 23,000 weights): seconds per epoch on a CPU.
3. The binarisation threshold is chosen on the training pages: the one whose boxes cost the
   least typing there (the characters of lines not found at IoU 0.5, plus one per box people did
   not draw): the fine-tuned map is less sure of itself between words than the shipped one, and
   where a page's people split or join is what the threshold decides. Then the unclip ratio:
   the one whose boxes fit the people's best (mean IoU) at no more typing; the fine-tuned map is
   wider than its kernels, and boxes grown by the base's ratio came out too tall.
4. Export writes the trained weights back into the shipped graph (same operators, same input
   and output), so the exported file is the detector pre-fill runs, and a parity check compares
   it with the torch module.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from core.errors import ProofdeskError
from ml.neural.detector import (
    DetectConfig,
    boxes_from_map,
    detection_shape,
    normalize,
    postprocess,
    resize_page,
    to_bgr,
)
from ml.neural.models import ModelSpec, load_spec, sha256_file

#: The DB head's input in the PP-OCRv5 detector graph: the neck's four levels, upsampled and
#: concatenated (N x 96 x H/4 x W/4). Everything before it is frozen.
DET_SPLIT = "Concat.1"
#: Binarisation thresholds tried on the training pages once the head is trained.
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: How far the box extraction grows a kernel back (``DetectConfig.unclip_ratio``), tried on the
#: training pages once the threshold is chosen: the fine-tuned map is wider than the kernels it
#: learned, so the base's 1.0 drew sroie-dev's lines 17% taller than people's (the shipped
#: detector's 1% taller), and a recogniser fine-tuned on people's boxes misread the loose crops.
UNCLIP_RATIOS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class DetPage:
    """One training page: its network input, the boxes people drew (page pixels), the target map."""

    #: The page scaled for the network, H x W x 3 uint8 (normalised when its features are computed,
    #: then dropped): a quarter of the float input's memory, pages at pre-fill's scale being large.
    x: np.ndarray | None
    size: tuple[int, int]  # page (width, height)
    boxes: list[np.ndarray]  # 4 x 2 each, page pixels
    target: np.ndarray  # H x W float32, 1 on the text kernels
    chars: list[int] | None = None  # characters of each box's text (what missing it costs)
    feats: Any = None  # the frozen part's output, float16 (torch), once computed


def shrink_distance(w: float, h: float, ratio: float = 1.0) -> float:
    """How far to shrink a ``w x h`` box (per side) so that the unclip of ``boxes_from_map``
    (a kernel ``w' x h'`` grows by ``d = ratio w'h' / (2 (w' + h'))`` per side) gives it back.

    The smaller root of ``ratio (w - 2D)(h - 2D) = 2D (w + h - 4D)``; about ``h / 4`` for a long
    line at ratio 1.
    """
    s, a, b = w + h, 4 * ratio + 8, (2 * ratio + 2) * (w + h)
    return float((b - np.sqrt(max(b * b - 4 * a * ratio * w * h, 0.0))) / (2 * a)) if s > 0 else 0.0


def kernel_target(boxes: Sequence[np.ndarray], page_size: tuple[int, int], map_hw: tuple[int, int],
                  unclip_ratio: float = 1.0) -> np.ndarray:
    """The DB probability target: 1 inside each box's kernel (map pixels), 0 elsewhere."""
    rh, rw = map_hw
    pw, ph = page_size
    gt = np.zeros((rh, rw), np.float32)
    for pts in boxes:
        pts = np.asarray(pts, np.float32).reshape(4, 2) * np.float32([rw / pw, rh / ph])
        (cx, cy), (w, h), angle = cv2.minAreaRect(pts)
        if min(w, h) < 2:
            continue
        d = shrink_distance(w, h, unclip_ratio)
        kernel = cv2.boxPoints(((cx, cy), (max(w - 2 * d, 1.0), max(h - 2 * d, 1.0)), angle))
        cv2.fillPoly(gt, [np.round(kernel).astype(np.int32)], 1.0)
    return gt


def db_loss(prob, gt, neg_ratio: float = 3.0, bce_weight: float = 5.0):
    """DB's loss on the probability map: balanced BCE (hard negatives) * 5 + dice."""
    import torch

    p = prob.clamp(1e-6, 1 - 1e-6)
    bce = -(gt * torch.log(p) + (1 - gt) * torch.log(1 - p))
    pos = gt > 0.5
    n_pos = int(pos.sum())
    n_neg = min(int((~pos).sum()), int(neg_ratio * max(n_pos, 1)))
    hard = bce[~pos].topk(n_neg).values if n_neg else bce.new_zeros(0)
    balanced = (bce[pos].sum() + hard.sum()) / (n_pos + n_neg + 1e-6)
    dice = 1 - 2 * (p * gt).sum() / (p.sum() + gt.sum() + 1e-6)
    return bce_weight * balanced + dice


#: Network input pixels of all the training pages together, at most: their cached features take 12
#: bytes a pixel (96 channels at a quarter of the size, float16), so 1.5 GB. About 75 receipts or
#: 50 A4 invoices at pre-fill's scale; pages past it are left out (``prepare_pages``), in the order
#: given (the worker's is a seeded sample).
DET_MAX_PIXELS = 125_000_000


def prepare_pages(pages: Sequence[tuple[np.ndarray, Sequence, Sequence[str]]], spec: ModelSpec,
                  cfg: DetectConfig, max_pixels: int | None = DET_MAX_PIXELS) -> list[DetPage]:
    """``(image, [box points], [texts])`` per page -> :class:`DetPage` (input scaled as pre-fill
    scales it), while their inputs total at most ``max_pixels`` (None: all of them)."""
    out = []
    used = 0
    for image, boxes, texts in pages:
        bgr = to_bgr(image)
        # The page's own text size, as Detector.probability_map scales it at pre-fill: a head
        # trained at another scale than it reads at draws its boxes too tall (sroie-dev: 17%
        # taller than people's at the 960-pixel scale, against 1% for the shipped head).
        rh, rw = detection_shape(bgr, cfg, spec.size_multiple)
        if max_pixels is not None and out and used + rh * rw > max_pixels:
            continue   # over the memory budget (a smaller page further on may still fit)
        used += rh * rw
        x = resize_page(bgr, rh, rw)
        size = (bgr.shape[1], bgr.shape[0])
        pts = [np.asarray(b, np.float64).reshape(4, 2) for b in boxes]
        out.append(DetPage(x, size, pts, kernel_target(pts, size, (rh, rw), cfg.unclip_ratio),
                           [len(t) for t in texts]))
    return out


def coverage(found: Sequence[np.ndarray], boxes: Sequence[np.ndarray], size: tuple[int, int]) -> float:
    """Share of the boxes a detector ``found`` on a page that the people's ``boxes`` cover (at
    least half of each box's area inside them). A page people boxed only in part (key fields
    alone, say) covers little of it: training the detector on it would teach it to miss the rest."""
    if not found:
        return 1.0
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    for b in boxes:
        cv2.fillPoly(mask, [np.round(np.asarray(b, np.float64).reshape(4, 2)).astype(np.int32)], 1)
    covered = 0
    for b in found:
        pts = np.round(np.asarray(b, np.float64).reshape(4, 2)).astype(np.int32)
        x0, y0 = np.clip(pts.min(axis=0), 0, [w - 1, h - 1])
        x1, y1 = np.clip(pts.max(axis=0), 0, [w - 1, h - 1])
        one = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)  # the box's own rectangle, not the page
        cv2.fillPoly(one, [pts - [x0, y0]], 1)
        area = int(one.sum())
        covered += area > 0 and int((one & mask[y0:y1 + 1, x0:x1 + 1]).sum()) >= 0.5 * area
    return covered / len(found)


def detection_scores(pages: Sequence[DetPage], maps: Sequence[np.ndarray], cfg: DetectConfig) -> dict:
    """How the boxes ``cfg`` extracts from ``maps`` match the pages' boxes (IoU >= 0.5): F1, and
    the detection part of typing saved: the characters of the lines not found plus one per box
    found where people drew none, over all characters."""
    from core.scoring import match_lines

    matched = n_pred = n_ref = missed = total = 0
    iou = 0.0
    for page, prob in zip(pages, maps):
        pred = [b for b, _ in boxes_from_map(prob, page.size, cfg)]
        m = match_lines(pred, page.boxes)
        chars = page.chars or [1] * len(page.boxes)
        found = {r for _, r, _ in m}
        missed += sum(c for i, c in enumerate(chars) if i not in found) + len(pred) - len(m)
        total += sum(chars)
        matched += len(m)
        iou += sum(x for _, _, x in m)
        n_pred += len(pred)
        n_ref += len(page.boxes)
    return {"f1": 2 * matched / max(1, n_pred + n_ref), "cost": missed / max(1, total), "iou": iou / max(1, matched)}


def choose_thresholds(pages: Sequence[DetPage], maps: Sequence[np.ndarray], cfg: DetectConfig) -> tuple[DetectConfig, dict]:
    """The binarisation threshold (box threshold at least the base's) that costs the least typing
    on the training pages (lines missed, boxes too many; then the better F1); returns the config
    and the figures of each threshold tried."""
    scores = {}
    for t in THRESHOLDS:
        scores[t] = detection_scores(pages, maps, replace(cfg, thresh=t, box_thresh=max(t, cfg.box_thresh)))
    best = min(scores, key=lambda t: (round(scores[t]["cost"], 4), -scores[t]["f1"], abs(t - cfg.thresh)))
    tried = {str(t): {k: round(v, 4) for k, v in sc.items()} for t, sc in scores.items()}
    return replace(cfg, thresh=best, box_thresh=max(best, cfg.box_thresh)), tried


def choose_unclip(pages: Sequence[DetPage], maps: Sequence[np.ndarray], cfg: DetectConfig) -> tuple[DetectConfig, dict]:
    """The unclip ratio whose boxes fit the people's boxes of the training pages best (the mean IoU
    of the boxes matched) without costing more typing there than ``cfg``'s (the threshold's
    choice); returns the config and the figures of each ratio tried."""
    ratios = sorted({*UNCLIP_RATIOS, cfg.unclip_ratio})   # ``cfg``'s own among them: it always fits
    scores = {r: detection_scores(pages, maps, replace(cfg, unclip_ratio=r)) for r in ratios}
    limit = round(scores[cfg.unclip_ratio]["cost"], 4)
    fits = [r for r, sc in scores.items() if round(sc["cost"], 4) <= limit]
    best = max(fits, key=lambda r: (round(scores[r]["iou"], 4), -abs(r - cfg.unclip_ratio)))
    tried = {str(r): {k: round(v, 4) for k, v in sc.items()} for r, sc in scores.items()}
    return replace(cfg, unclip_ratio=best), tried


def load_detector_module(spec: ModelSpec):
    """The detector graph as a torch module (probabilities out)."""
    import onnx

    from ml.neural.torch_model import OnnxGraphModule

    net = OnnxGraphModule(onnx.load(str(spec.path)).graph)
    net.spec = spec  # type: ignore[attr-defined]
    return net.eval()


def export_detector(net, base: ModelSpec, folder: str | Path, detect: DetectConfig, meta: dict | None = None) -> Path:
    """Write ``folder/model.onnx`` (the base graph with ``net``'s weights) and ``model.json``.

    The weights go back into the graph's own constants and initializers, so the file has the
    shipped detector's operators, input and output; ``model.json`` keeps the base's description
    and adds the box extraction's thresholds (``postprocess``) the run chose.
    """
    import onnx
    from onnx import numpy_helper

    from ml.neural.torch_model import _key

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(base.path))
    weights = {k: p.detach().cpu().numpy() for k, p in net.params.items()}
    weights.update({k[2:]: b.detach().cpu().numpy() for k, b in net.named_buffers() if k.startswith("b_")})
    for t in proto.graph.initializer:
        if _key(t.name) in weights:
            t.CopyFrom(numpy_helper.from_array(weights[_key(t.name)].astype(np.float32), t.name))
    for node in proto.graph.node:
        if node.op_type == "Constant" and _key(node.output[0]) in weights:
            arr = weights[_key(node.output[0])]
            node.attribute[0].t.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), node.output[0]))
    path = folder / "model.onnx"
    onnx.save(proto, str(path))
    doc = {k: v for k, v in base.raw.items() if k not in ("notice", "sha256")}
    doc.update({"file": "model.onnx", "sha256": sha256_file(path),
                "postprocess": {"thresh": detect.thresh, "box_thresh": detect.box_thresh,
                                "unclip_ratio": detect.unclip_ratio},
                "exported_by": "ml.training.detector.export_detector", **(meta or {})})
    (folder / "model.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def postprocess_of(spec: ModelSpec) -> dict:
    """The box-extraction thresholds a fine-tuned detector was exported with ({} for the shipped one)."""
    return postprocess(spec.raw)


def train_detector(pages: Sequence[DetPage], base: ModelSpec, cfg: DetectConfig, out: Path, *, epochs: int, lr: float,
                   seed: int, device: str, threads: int, work: Path,
                   progress: Callable[..., None] = lambda *a, **k: None,
                   check: Callable[[], None] = lambda: None) -> dict:
    """Fine-tune the DB head of ``base`` on ``pages``; export to ``out`` (the thresholds it chose in
    its ``model.json``); return the figures of how it went.

    ``progress(stage, done, total, **extra)`` is told as it goes; ``check()`` is called between
    steps and may raise to stop the run (the worker's cancel)."""
    import torch

    from ml.neural import runtime
    from ml.training.data import backbone_session
    from ml.training.model import Tail, freeze, split_index

    if not pages:
        raise ProofdeskError("no page to train the detector on")
    t0 = time.monotonic()
    sess = backbone_session(base.path, DET_SPLIT, work / "det-backbone.onnx", threads, device)
    name = sess.get_inputs()[0].name
    # The parity check's input: the smallest page, at most 640 pixels a side (the network is
    # convolutional; what it checks is the exported weights, at the tolerance of a 960-pixel page).
    probe = normalize(np.ascontiguousarray(min(pages, key=lambda p: p.x.size).x[:640, :640]), base)
    for i, page in enumerate(pages):
        check()
        page.feats = torch.from_numpy(sess.run(None, {name: normalize(page.x, base)})[0]).half()
        page.x = None  # its features are what training needs
        progress("detector features", i + 1, len(pages))
    del sess
    (work / "det-backbone.onnx").unlink(missing_ok=True)

    net = load_detector_module(base)
    trainable = freeze(net, split_index(net, DET_SPLIT))
    tail = Tail(net, DET_SPLIT)
    dev = torch.device(device)
    net.to(dev)
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=1e-4)
    steps = max(1, epochs * len(pages))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1.0 - s / steps))
    losses = []
    for epoch in range(1, epochs + 1):
        order = list(range(len(pages)))
        random.Random(seed * 1000 + epoch).shuffle(order)
        total = 0.0
        for n, i in enumerate(order, 1):
            check()
            page = pages[i]
            prob = tail(page.feats.to(dev).float())[0, 0]
            loss = db_loss(prob, torch.from_numpy(page.target).to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
            progress("detector", n, len(order), epoch=epoch, epochs=epochs, loss=round(total / n, 4))
        losses.append(round(total / len(order), 5))
    tail.eval()
    with torch.no_grad():
        maps = [tail(p.feats.to(dev).float())[0, 0].cpu().numpy() for p in pages]
    before = detection_scores(pages, maps, cfg)
    chosen, tried = choose_thresholds(pages, maps, cfg)
    chosen, unclips = choose_unclip(pages, maps, chosen)
    after = unclips[str(chosen.unclip_ratio)]
    net.to("cpu")
    export_detector(net, base, out, chosen, meta={"architecture": base.architecture + "; DB head fine-tuned by Proofdesk"})
    spec = load_spec(out)
    # Parity: the exported graph run by onnxruntime gives the torch module's map.
    got = runtime.create_session(spec.path, "cpu", threads).run(None, {"x": probe})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(probe)).numpy()
    parity = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    if parity > 1e-3:
        raise ProofdeskError(f"detector export: onnxruntime and torch probability maps differ by {parity:.3g}")
    for p in pages:
        p.feats = None
    metrics = {"det_pages": len(pages), "det_epochs": epochs, "det_loss": losses,
               "det_train_f1": after["f1"], "det_train_cost": after["cost"],
               "det_train_f1_base_thresh": round(before["f1"], 4), "det_train_cost_base_thresh": round(before["cost"], 4),
               "det_thresholds": tried, "det_thresh": chosen.thresh, "det_box_thresh": chosen.box_thresh,
               "det_unclip_ratio": chosen.unclip_ratio, "det_unclips": unclips,
               "det_train_iou": after["iou"], "det_train_iou_base_thresh": round(before["iou"], 4),
               "det_parity_max_abs_diff": parity, "det_seconds": round(time.monotonic() - t0, 1)}
    return metrics
