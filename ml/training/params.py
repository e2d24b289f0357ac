"""Training parameters: the defaults and how a run's stored params overlay them."""

from __future__ import annotations

from typing import Any, Mapping

from core.errors import ProofdeskError

#: Defaults sized so that a run on ~3,200 receipt lines ends within 10 minutes on a 2-core CPU
#: (docs/training.md has the measurements behind them).
DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    #: Peak learning rate (AdamW), reached after ``warmup_steps`` and decayed linearly to the end:
    #: higher rates (3e-4 and up) throw the pretrained neck off in its first steps.
    "lr": 1e-4,
    "warmup_steps": 10,
    "weight_decay": 1e-4,
    "batch_size": 32,
    #: "backbone": train the sequence neck and the CTC head on cached backbone features (fast
    #: on a CPU); "none": train the whole network (a GPU run).
    "freeze": "backbone",
    #: Cap on training lines (a seeded sample above it); None = all.
    "max_lines": 1500,
    #: Augmented variants per training line, mixed in with the originals so the model does not
    #: forget what it could read before the fine-tune (0.5: one for every other line).
    "augment_copies": 0.5,
    #: Rendered lines (mixed case, Hershey fonts) per training line. Off by default: at 0.1 it did
    #: not measurably keep lower case on FUNSD and cost validation CER (docs/benchmarks.md).
    "synthetic_share": 0.0,
    #: Cap on validation lines for the per-epoch figure (the final comparison uses them all).
    "val_lines": None,
    "max_width": 800,
    #: Also fine-tune the detector's DB head on the training pages' boxes (ml.training.detector):
    #: pre-fill then cuts lines where this project's people cut them.
    "detector": True,
    "det_epochs": 8,
    "det_lr": 1e-3,
    #: Cap on training pages for the detector (a seeded sample above it).
    "det_max_pages": 100,
    #: Fit the combined engine's confidence calibration for the new model on (at most this many)
    #: training pages, read as pre-fill reads them; 0 = keep the shipped calibration.
    "calib_pages": 30,
    #: Validation pages read end to end (the combined engine: detector, recogniser, Tesseract's
    #: second opinion, calibration) by the new and the compared model.
    "e2e_val_pages": 50,
    "device": "auto",
    "seed": 0,
    "threads": 0,
    #: Largest torch/onnxruntime logit difference the parity check accepts (logits are ~10-30).
    "parity_tol": 1e-2,
}


def resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` over the defaults; unknown keys and bad values raise ProofdeskError."""
    params = dict(params or {})
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ProofdeskError(f"unknown training parameter(s): {', '.join(sorted(unknown))}")
    out = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None or k in ("max_lines", "val_lines")}}
    if out["freeze"] not in ("backbone", "none"):
        raise ProofdeskError(f"freeze must be backbone or none, not {out['freeze']!r}")
    if out["device"] not in ("auto", "cpu", "cuda"):
        raise ProofdeskError(f"device must be auto, cpu or cuda, not {out['device']!r}")
    if int(out["epochs"]) < 1 or int(out["batch_size"]) < 1:
        raise ProofdeskError("epochs and batch size must be at least 1")
    return out
