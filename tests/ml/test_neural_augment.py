"""Augmentations: seeded, shape- and dtype-preserving; the sample sheet renders."""

import numpy as np
import pytest

from ml.augment import AUGMENTATIONS, augment, main, render_sheet


def _line(channels=0):
    img = np.full((40, 200), 235, np.uint8)
    img[12:28, 10:190:7] = 20  # glyph-like strokes
    return np.dstack([img] * 3) if channels else img


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("channels", [0, 3])
def test_each_augmentation_is_seeded_and_keeps_shape(name, channels):
    img = _line(channels)
    fn = AUGMENTATIONS[name]
    a = fn(img, np.random.default_rng(5))
    b = fn(img, np.random.default_rng(5))
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    outs = [fn(img, np.random.default_rng(s)) for s in range(4)]
    assert any(not np.array_equal(o, img) for o in outs)  # it does something


def test_chain_is_deterministic_and_sheet_renders(tmp_path):
    img = _line()
    assert np.array_equal(augment(img, np.random.default_rng(1), p=1.0), augment(img, np.random.default_rng(1), p=1.0))
    sheet = render_sheet([img], seed=0, variants=2, chains=2, height=20, width=100)
    assert sheet.ndim == 2 and sheet.shape[0] == (len(AUGMENTATIONS) + 2) * 24
    out = tmp_path / "sheet.png"
    assert main(["--sheet", str(out)]) == 0 and out.stat().st_size > 10_000
