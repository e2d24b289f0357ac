"""Image augmentations for text lines and pages: plain numpy/OpenCV functions with a seeded RNG.

Every augmentation is ``fn(image, rng, **params) -> image``: uint8 gray (H x W)
or BGR (H x W x 3) in, the same kind out, the RNG a ``numpy.random.Generator``
so a seed reproduces a sample exactly. Geometric ones keep the output size
and fill uncovered pixels with the paper colour (the image's bright
percentile), as a scanner or a phone photo of a receipt would.

    rng = np.random.default_rng(7)
    line = augment(line, rng)                     # a random chain, each op with probability p
    line = AUGMENTATIONS["thermal_fade"](line, rng)

Used by synthetic training data and by fine-tuning on annotators'
corrections. ``python -m ml.augment --sheet out.png`` renders a sheet of
samples (one row per augmentation, then random chains) for a person to look at.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

Augmentation = Callable[..., np.ndarray]


def _paper(img: np.ndarray) -> tuple[int, ...] | int:
    """Background colour: the 90th percentile per channel."""
    if img.ndim == 2:
        return int(np.percentile(img, 90))
    return tuple(int(v) for v in np.percentile(img.reshape(-1, img.shape[2]), 90, axis=0))


def _warp(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if m.shape == (2, 3):
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=_paper(img))
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=_paper(img))


def rotate(img: np.ndarray, rng: np.random.Generator, max_deg: float = 3.0) -> np.ndarray:
    """Rotate about the centre by up to ``max_deg`` degrees either way."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-max_deg, max_deg)), 1.0)
    return _warp(img, m)


def scale(img: np.ndarray, rng: np.random.Generator, lo: float = 0.8, hi: float = 1.1) -> np.ndarray:
    """Zoom about the centre by a factor in [lo, hi] (the size stays; < 1 shows more paper)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, float(rng.uniform(lo, hi)))
    return _warp(img, m)


def crop(img: np.ndarray, rng: np.random.Generator, max_frac: float = 0.06) -> np.ndarray:
    """Cut up to ``max_frac`` of each side off and scale back to the size (a tight or sloppy box)."""
    h, w = img.shape[:2]
    t, b = (int(rng.uniform(0, max_frac) * h) for _ in range(2))
    left, right = (int(rng.uniform(0, max_frac) * w) for _ in range(2))
    part = img[t : max(t + 2, h - b), left : max(left + 2, w - right)]
    return cv2.resize(part, (w, h), interpolation=cv2.INTER_LINEAR)


def translate(img: np.ndarray, rng: np.random.Generator, max_frac: float = 0.05) -> np.ndarray:
    """Shift by up to ``max_frac`` of the width and height."""
    h, w = img.shape[:2]
    dx, dy = rng.uniform(-max_frac, max_frac) * w, rng.uniform(-max_frac, max_frac) * h
    return _warp(img, np.float32([[1, 0, dx], [0, 1, dy]]))


def perspective(img: np.ndarray, rng: np.random.Generator, max_frac: float = 0.05) -> np.ndarray:
    """Move each corner by up to ``max_frac`` of the height (a photo taken at a slant)."""
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    d = max_frac * min(h, w) if h < w else max_frac * h
    dst = src + rng.uniform(-d, d, size=(4, 2)).astype(np.float32)
    return _warp(img, cv2.getPerspectiveTransform(src, dst))


def blur(img: np.ndarray, rng: np.random.Generator, max_sigma: float = 1.2, motion: float = 0.3) -> np.ndarray:
    """Gaussian blur (sigma up to ``max_sigma``), or with probability ``motion`` a short horizontal smear."""
    if rng.random() < motion:
        k = int(rng.integers(2, 5))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        return cv2.filter2D(img, -1, kernel)
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, max_sigma)))


def gaussian_noise(img: np.ndarray, rng: np.random.Generator, max_std: float = 12.0) -> np.ndarray:
    """Add pixel noise with a standard deviation up to ``max_std`` grey levels."""
    noise = rng.normal(0.0, float(rng.uniform(2.0, max_std)), size=img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, rng: np.random.Generator, lo: int = 15, hi: int = 60) -> np.ndarray:
    """JPEG-compress at a quality in [lo, hi] and decode (blocking and ringing artefacts)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(lo, hi + 1))])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        return img
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out.reshape(img.shape)


def contrast(img: np.ndarray, rng: np.random.Generator, lo: float = 0.5, hi: float = 1.3,
             shift: float = 30.0) -> np.ndarray:
    """Scale the contrast about the mean by a factor in [lo, hi] and shift brightness by up to ``shift``."""
    x = img.astype(np.float32)
    m = float(x.mean())
    x = (x - m) * float(rng.uniform(lo, hi)) + m + float(rng.uniform(-shift, shift))
    return np.clip(x, 0, 255).astype(np.uint8)


def thermal_fade(img: np.ndarray, rng: np.random.Generator, strength: float = 0.7) -> np.ndarray:
    """Faded thermal print: ink lightened unevenly, paler vertical bands, greyish-yellow paper.

    Thermal receipts fade with heat, light and age: the print head leaves
    bands along the paper's length, and the fading varies smoothly over the
    slip. Ink (dark pixels) is pulled towards the paper by a smooth random
    field times column bands; the paper gets a slight tint.
    """
    h, w = img.shape[:2]
    x = img.astype(np.float32)
    paper = np.asarray(_paper(img), dtype=np.float32)
    # Smooth field: low-resolution noise blown up.
    field = cv2.resize(rng.uniform(0, 1, size=(max(2, h // 16), max(2, w // 16))).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    bands = cv2.resize(rng.uniform(0, 1, size=(1, max(2, w // 8))).astype(np.float32), (w, 1),
                       interpolation=cv2.INTER_LINEAR)
    fade = np.clip(float(rng.uniform(0.3, 1.0)) * strength * (0.6 * field + 0.4 * bands), 0, 0.95)
    if x.ndim == 3:
        fade = fade[..., None]
    x = x + (paper - x) * fade
    tint = np.array([rng.uniform(-18, 0), rng.uniform(-8, 0), 0.0], np.float32) if x.ndim == 3 else rng.uniform(-12, 0)
    return np.clip(x + tint, 0, 255).astype(np.uint8)


#: Name -> function, in the order the sheet shows them.
AUGMENTATIONS: dict[str, Augmentation] = {
    "rotate": rotate,
    "scale": scale,
    "crop": crop,
    "translate": translate,
    "perspective": perspective,
    "blur": blur,
    "gaussian_noise": gaussian_noise,
    "jpeg": jpeg,
    "contrast": contrast,
    "thermal_fade": thermal_fade,
}

#: Geometry first, then optics, then ink and paper, then sensor and compression.
DEFAULT_CHAIN = ("perspective", "rotate", "scale", "translate", "crop", "thermal_fade", "contrast", "blur",
                 "gaussian_noise", "jpeg")


def augment(img: np.ndarray, rng: np.random.Generator, ops: Sequence[str] = DEFAULT_CHAIN, p: float = 0.4) -> np.ndarray:
    """Apply each augmentation of ``ops`` in turn with probability ``p``.

    >>> rng = np.random.default_rng(0)
    >>> augment(np.full((32, 128), 255, np.uint8), rng).shape
    (32, 128)
    """
    out = img
    for name in ops:
        if rng.random() < p:
            out = AUGMENTATIONS[name](out, rng)
    return out


# --------------------------------------------------------------------------- the sheet
def sample_lines(n: int = 4) -> list[np.ndarray]:
    """A few real text lines (gray) from the bundled sample receipts, with a margin around them."""
    import json

    from core.resources import resources_dir

    folder = resources_dir() / "samples" / "receipts"
    out: list[np.ndarray] = []
    for jp in sorted(folder.glob("*.json")):
        ref = json.loads(jp.read_text(encoding="utf-8"))
        img = cv2.imread(str(folder / ref["image"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        for ln in sorted(ref["lines"], key=lambda ln: -len(ln["text"]))[:1]:
            xs, ys = ln["box"][0::2], ln["box"][1::2]
            x0, y0, x1, y1 = int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))
            m = int(0.3 * (y1 - y0))
            out.append(img[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m].copy())
        if len(out) >= n:
            break
    return out


def render_sheet(lines: Sequence[np.ndarray], seed: int = 0, variants: int = 3, chains: int = 4,
                 height: int = 40, width: int = 360) -> np.ndarray:
    """One row per augmentation (the original, then ``variants`` samples), then random chains."""
    rng = np.random.default_rng(seed)
    base = [cv2.resize(ln, (width, height), interpolation=cv2.INTER_AREA) for ln in lines]
    label_w = 130

    def row(label: str, cells: list[np.ndarray]) -> np.ndarray:
        tag = np.full((height, label_w), 255, np.uint8)
        cv2.putText(tag, label, (4, height // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1, cv2.LINE_AA)
        gap = np.full((height, 6), 200, np.uint8)
        parts = [tag]
        for c in cells:
            parts += [gap, c]
        return np.hstack(parts)

    rows = []
    for name, fn in AUGMENTATIONS.items():
        src = base[len(rows) % len(base)]
        rows.append(row(name, [src] + [fn(src, rng) for _ in range(variants)]))
    for k in range(chains):
        src = base[k % len(base)]
        rows.append(row(f"chain {k + 1}", [src] + [augment(src, rng) for _ in range(variants)]))
    sep = np.full((4, rows[0].shape[1]), 255, np.uint8)
    return np.vstack([r for pair in zip(rows, [sep] * len(rows)) for r in pair])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.augment", description="Render a sheet of augmented text lines.")
    ap.add_argument("--sheet", required=True, help="PNG file to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image", help="a text-line image to use instead of the bundled sample receipts")
    args = ap.parse_args(argv)
    if args.image:
        img = cv2.imread(args.image, cv2.IMREAD_GRAYSCALE)
        if img is None:
            print(f"cannot read {args.image}", file=sys.stderr)
            return 1
        lines = [img]
    else:
        lines = sample_lines()
    sheet = render_sheet(lines, seed=args.seed)
    Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.sheet, sheet):
        print(f"cannot write {args.sheet}", file=sys.stderr)
        return 1
    print(f"{args.sheet}: {sheet.shape[1]} x {sheet.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
