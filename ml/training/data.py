"""Training data: line crops cut from page images by the manifest's quads, batches by width, features.

Crops are cut exactly as pre-fill cuts them (:class:`ml.neural.recognizer.Recognizer`: the same
context around the quad, the same scaling to the model's height and normalisation), so the
network is tuned on what it will see. Lines are sorted by width and cut into fixed batches,
each padded on the right to its widest line, as the recogniser batches them at inference.

With a frozen backbone (the default on a CPU) the backbone's output for every batch is
computed once, with onnxruntime (several times faster than the torch module on a CPU), and
only the sequence neck and the CTC head train on those features, epoch after epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ml.augment import augment
from ml.neural.recognizer import Recognizer


@dataclass
class Line:
    """One training line: the crop (uint8 BGR or gray), its text as class ids, its scaled width."""

    crop: np.ndarray
    text: str
    target: list[int]
    width: int
    augmented: bool = False
    #: Rendered by :mod:`ml.synth` (or the Hershey lines of ``synthetic_share``): training only.
    synthetic: bool = False


def encode(text: str, index: dict[str, int]) -> list[int] | None:
    """Class ids of ``text``; None when a character is not in the model's charset."""
    out = []
    for ch in text:
        if ch not in index:
            return None
        out.append(index[ch])
    return out


def load_page(path: Path) -> np.ndarray | None:
    """The page as pre-fill decodes it (8-bit gray, ``ml.prediction.load_image``), so the lines the
    model trains on are the pixels it will read; None when it cannot be decoded."""
    from ml.prediction import load_image

    try:
        return load_image(path)
    except (OSError, ValueError):
        return None


def cut_lines(samples: Sequence[dict], image_of: Callable[[str], Path], rec: Recognizer,
              max_width: int = 800) -> tuple[list[Line], int]:
    """Crops of ``samples`` (manifest entries), page by page. Returns ``(lines, skipped)``: lines whose
    text has a character outside the charset, or is too long for its width under CTC, are skipped."""
    index = {c: i for i, c in enumerate(rec.spec.charset) if i}
    stride = int(rec.spec.raw.get("output", {}).get("time_stride", 8) or 8)
    by_page: dict[str, list[dict]] = {}
    for s in samples:
        by_page.setdefault(s["image"], []).append(s)
    lines: list[Line] = []
    skipped = 0
    for sha, group in by_page.items():
        img = load_page(image_of(sha))
        if img is None:
            skipped += len(group)
            continue
        crops = rec.crops(img, [s["points"] for s in group])
        for s, c in zip(group, crops):
            target = encode(s["text"], index)
            if c is None or target is None:
                skipped += 1
                continue
            w = min(max_width, rec.scaled_width(c))
            # CTC needs a step per character plus one between repeated characters.
            need = len(target) + sum(a == b for a, b in zip(target, target[1:]))
            if need > math.ceil(w / stride):
                skipped += 1
                continue
            lines.append(Line(c, s["text"], target, w))
    return lines, skipped


def augmented_copies(lines: Sequence[Line], copies: float, seed: int) -> list[Line]:
    """``copies`` augmented variants per line (a fraction: that share of the lines, one each).

    Seeded, so a resumed run trains on the same ones."""
    rng = np.random.default_rng(seed)
    n = int(round(copies * len(lines)))
    picks = [i % len(lines) for i in range(n)] if lines else []
    if n % max(1, len(lines)):
        picks = list(rng.permutation(len(lines)))[: n % len(lines)] + picks[: n - n % len(lines)]
    return [Line(augment(lines[i].crop, rng), lines[i].text, lines[i].target, lines[i].width, augmented=True)
            for i in picks]


@dataclass
class Batch:
    """A fixed batch: normalised images ``N x 3 x H x W`` (or backbone features), targets, lengths."""

    x: np.ndarray
    targets: list[list[int]]
    widths: list[int]
    texts: list[str]


def make_batches(lines: Sequence[Line], rec: Recognizer, batch_size: int) -> list[Batch]:
    """Sort by width, cut into batches, pad each on the right to its widest line."""
    order = sorted(range(len(lines)), key=lambda i: lines[i].width)
    out = []
    for b in range(0, len(order), batch_size):
        part = [lines[i] for i in order[b : b + batch_size]]
        widths = [ln.width for ln in part]
        out.append(Batch(rec.batch([ln.crop for ln in part], widths), [ln.target for ln in part], widths,
                         [ln.text for ln in part]))
    return out


def backbone_session(model_path: Path, split: str, out_path: Path, threads: int = 0, device: str = "cpu"):
    """An onnxruntime session computing only the backbone (up to tensor ``split``) of the model."""
    import onnx
    from onnx import TensorProto, helper

    from ml.neural import runtime

    proto = onnx.load(str(model_path))
    g = proto.graph
    by_out = {o: n for n in g.node for o in n.output}
    need, stack, keep = set(), [split], []
    while stack:  # the nodes ``split`` depends on
        name = stack.pop()
        if name in need:
            continue
        need.add(name)
        node = by_out.get(name)
        if node is not None:
            stack.extend(i for i in node.input if i)
    keep = [n for n in g.node if any(o in need for o in n.output)]
    inits = [t for t in g.initializer if t.name in need]
    out = helper.make_tensor_value_info(split, TensorProto.FLOAT, None)
    sub = helper.make_model(helper.make_graph(keep, "backbone", [g.input[0]], [out], inits),
                            opset_imports=proto.opset_import, ir_version=proto.ir_version)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(sub, str(out_path))
    return runtime.create_session(out_path, device, threads)


_WORDS = ("total", "cash", "change", "tax", "invoice", "receipt", "date", "qty", "price", "amount", "thank you",
          "please come again", "Sdn Bhd", "Street", "Road", "Tel", "GST", "Subtotal", "Rounding", "Item",
          "Discount", "Member", "No.", "Jalan", "Taman", "Kuala Lumpur", "Selangor", "Visa", "Card", "Table")
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN)


def synthetic_text(rng: np.random.Generator) -> str:
    """A receipt-like line in mixed case: words, amounts, dates, codes."""
    parts = []
    for _ in range(int(rng.integers(1, 5))):
        r = rng.random()
        if r < 0.45:
            w = str(rng.choice(_WORDS))
            parts.append(w.upper() if rng.random() < 0.3 else (w.lower() if rng.random() < 0.3 else w))
        elif r < 0.7:
            parts.append(f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}")
        elif r < 0.85:
            parts.append(f"{rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/{rng.integers(2015, 2027)}")
        else:
            parts.append("".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-#:")) for _ in range(6)))
    return " ".join(parts)


def synthetic_lines(n: int, rec: Recognizer, seed: int, max_width: int = 800) -> list[Line]:
    """``n`` rendered lines (OpenCV's Hershey fonts, mixed case, then augmented): text the receipts
    do not have, so a fine-tune on upper-case receipts does not forget lower case and other layouts."""
    rng = np.random.default_rng(seed + 7919)
    index = {c: i for i, c in enumerate(rec.spec.charset) if i}
    out: list[Line] = []
    while len(out) < n:
        text = synthetic_text(rng)
        target = encode(text, index)
        if not target:
            continue
        font = int(rng.choice(_FONTS))
        scale = float(rng.uniform(0.8, 1.3))
        thick = int(rng.integers(1, 3))
        (w, h), base = cv2.getTextSize(text, font, scale, thick)
        pad = int(h * rng.uniform(0.3, 0.6)) + 2  # room for the geometric augmentations
        ink = int(rng.integers(0, 80))
        img = np.full((h + base + 2 * pad, w + 2 * pad, 3), int(rng.integers(200, 256)), np.uint8)
        cv2.putText(img, text, (pad, pad + h), font, scale, (ink, ink, ink), thick, cv2.LINE_AA)
        img = augment(img, rng)
        width = min(max_width, rec.scaled_width(img))
        if len(target) + sum(a == b for a, b in zip(target, target[1:])) > math.ceil(width / 8):
            continue
        out.append(Line(img, text, target, width, augmented=True, synthetic=True))
    return out


def invoice_lines(n: int, rec: Recognizer, seed: int, max_width: int = 800,
                  receipt_share: float = 0.0) -> tuple[list[Line], dict]:
    """``n`` synthetic invoice lines (:mod:`ml.synth`: real fonts, European invoice text, cut with the
    recogniser's context) and what reproduces them (generator version, seed, fonts). Each line
    depends on ``(seed, its index, the generator's version)`` only, so a resumed run trains on the
    same ones. ``([], {})`` for ``n == 0``."""
    if n <= 0:
        return [], {}
    from ml.synth import SynthGenerator

    stride = int(rec.spec.raw.get("output", {}).get("time_stride", 8) or 8)
    gen = SynthGenerator(rec.spec.charset, pad_x=rec.cfg.pad_x, pad_y=rec.cfg.pad_y, height=rec.height,
                         max_width=max_width, stride=stride, receipt_share=receipt_share)
    index = {c: i for i, c in enumerate(rec.spec.charset) if i}
    out = []
    for s in gen.lines(n, seed):
        target = encode(s.text, index)
        if target is None:  # the generator keeps to the charset: a bug if it does not
            raise ValueError(f"synthetic line {s.index} has a character outside the charset: {s.text!r}")
        out.append(Line(s.image, s.text, target, min(max_width, rec.scaled_width(s.image)), augmented=True,
                        synthetic=True))
    return out, gen.describe(n, seed)


def check_synthetic(params: dict) -> None:
    """ProofdeskError at once when ``synthetic_lines`` are asked for on a machine without the fonts
    they are drawn in (rather than after the detector's minutes of training)."""
    if int(params.get("synthetic_lines") or 0) > 0:
        from ml.synth import SynthGenerator

        SynthGenerator.check_fonts()


def training_lines(lines: Sequence[Line], params: dict, rec: Recognizer) -> tuple[list[Line], dict]:
    """What a run trains on: the project's training lines, their augmented copies (``augment_copies``),
    Hershey lines (``synthetic_share``) and synthetic invoice lines (``synthetic_lines``). Returns
    ``(lines, counts)``; counts has ``augmented``, ``synthetic`` and, with invoice lines,
    ``synthetic_generator`` (:meth:`ml.synth.SynthGenerator.describe`). Validation lines never go
    through here: a run is judged on the project's own pages only."""
    seed, max_width = int(params["seed"]), int(params["max_width"])
    augmented = augmented_copies(lines, float(params["augment_copies"]), seed)
    hershey = synthetic_lines(int(round(float(params["synthetic_share"]) * len(lines))), rec, seed, max_width)
    invoices, info = invoice_lines(int(params.get("synthetic_lines") or 0), rec, seed, max_width,
                                   float(params.get("synthetic_receipt_share") or 0.0))
    counts: dict = {"augmented": len(augmented), "synthetic": len(hershey) + len(invoices)}
    if info:
        counts["synthetic_generator"] = info
    return list(lines) + augmented + hershey + invoices, counts
