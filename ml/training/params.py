"""Training parameters: the defaults, what each may be, and how a run's stored params overlay them.

Every path that records a run (``proofdesk train``, the Training screen) calls
:func:`resolve_params` before it writes the run's row, and the worker calls it again on the row
it reads: a value of the wrong type or out of range (``--set lr=abc``, ``det_epochs=-3``) is
refused with one message naming the parameter, the value and what it may be, before a run
exists, instead of failing deep inside torch minutes later (or never, and being stored as the
run's record). The checks are a table, :data:`RULES`, one rule per parameter, so a parameter
added to :data:`DEFAULTS` without a rule fails the tests (``validate_params(DEFAULTS)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
    #: on a CPU); "backbone_last": the same, but the backbone's last block trains too (features
    #: cached before it, ml.training.model.LAST_BLOCK_SPLIT); "none": train the whole network (a GPU run).
    "freeze": "backbone",
    #: Cap on training lines (a seeded sample above it); None = all.
    "max_lines": 1500,
    #: Augmented variants per training line, mixed in with the originals so the model does not
    #: forget what it could read before the fine-tune (0.5: one for every other line).
    "augment_copies": 0.5,
    #: Rendered lines (mixed case, OpenCV's Hershey fonts) per training line. Off by default: at 0.1 it did
    #: not measurably keep lower case on FUNSD and cost validation CER (docs/benchmarks.md).
    "synthetic_share": 0.0,
    #: Synthetic invoice lines (ml.synth: European invoice text in real fonts, cut as pre-fill cuts)
    #: added to the training lines, never to validation. Off by default (docs/training.md has what
    #: they did on invoices-dev).
    "synthetic_lines": 0,
    #: Share of those lines in ml.synth's receipt style (capitals, thermal print); 0: invoice lines only.
    "synthetic_receipt_share": 0.0,
    #: Share of the base model's weights mixed back into the trained recogniser's at the end of
    #: the run (ml.training.worker.mix_base; WiSE-FT): 0 keeps the trained weights as they are.
    #: At 0.5 a fine-tune reads receipts of shops it never saw better than as trained (key fields
    #: 80.9 -> 82.3%, their ceiling 78.8 -> 83.8%) and keeps what it learned (docs/training.md).
    "base_share": 0.5,
    #: Which recogniser weights the model version carries: "trained" (the fine-tune, mixed as
    #: ``base_share`` says), "base" (the base model's: the recogniser is not trained; the version
    #: still has the run's detector, lexicon, case convention and calibration), or "auto": train,
    #: then keep the fine-tune only when it reads the validation lines no training page has better
    #: than the base beyond their noise (ml.training.worker.choose_recognizer). On sroie-dev the
    #: fine-tune's gain is the capitals, which the case convention gives the base model too; both
    #: dev sets read their key fields better with the base weights (ADR 0011).
    "keep_recognizer": "auto",
    #: Give the model version the lexicon of its training pages (ml.neural.lexicon: the words people's
    #: lines have on two pages or more), against which the recogniser rescores the words it reads
    #: that are not in it. On sroie-dev, 5 folds: key fields end to end 82.3 -> 83.1% (docs/training.md).
    "lexicon": True,
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
    #: Train the OCR (the recogniser, and the detector when ``detector``); false: the fields only.
    "train_ocr": True,
    #: Train the key-field model (ml.fields) on the finished pages' field values; null: when the
    #: project's schema is non-empty and at least ml.training.fields.MIN_FIELD_PAGES finished
    #: pages have field values (decided when the run is created, else when it starts).
    "train_fields": None,
    #: Epochs of each field's network (ml.fields.model.train's full-batch steps).
    "field_epochs": 300,
    #: K of the K-fold cross-validation that judges the field model, used while the finished pages
    #: with field values are fewer than ``field_cv_pages``; from there on, the dataset version's
    #: validation pages judge it (and it is trained on the others).
    "field_folds": 5,
    "field_cv_pages": 200,
    "device": "auto",
    "seed": 0,
    "threads": 0,
    #: Largest torch/onnxruntime logit difference the parity check accepts (logits are ~10-30).
    "parity_tol": 1e-2,
}


@dataclass(frozen=True)
class Rule:
    """What one parameter may be: ``kind`` ``int``, ``float``, ``bool`` or ``choice``; the range
    ``lo``..``hi`` (inclusive; ``lo_open``: strictly above ``lo``); ``none``: null is allowed
    (and means what the parameter's comment says)."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    none: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return " or ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        what = "an integer" if self.kind == "int" else "a number"
        if self.lo is not None and self.hi is not None and not self.lo_open:
            what += f" from {self.lo:g} to {self.hi:g}"
        elif self.lo is not None:
            what += f" above {self.lo:g}" if self.lo_open else f" at least {self.lo:g}"
            if self.hi is not None:
                what += f" and at most {self.hi:g}"
        return what + (" or null" if self.none else "")

    def allows(self, value: Any) -> bool:
        if value is None:
            return self.none
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "bool":
            return isinstance(value, bool)
        # JSON gives 2.0 for "2.0" and True for "true": neither is an epoch count.
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind == "float" else int):
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or value <= self.hi


#: One rule per parameter of :data:`DEFAULTS`. The upper bounds only catch typing slips (an extra
#: zero or two): they are far above anything that makes sense on any hardware.
RULES: dict[str, Rule] = {
    "epochs": Rule("int", 1, 10_000),
    "lr": Rule("float", 0, 1, lo_open=True),
    "warmup_steps": Rule("int", 0, 1_000_000),
    "weight_decay": Rule("float", 0, 1),
    "batch_size": Rule("int", 1, 4096),
    "freeze": Rule("choice", choices=("backbone", "backbone_last", "none")),
    "max_lines": Rule("int", 1, None, none=True),
    "augment_copies": Rule("float", 0, 100),
    "synthetic_share": Rule("float", 0, 100),
    "synthetic_lines": Rule("int", 0, 1_000_000),
    "synthetic_receipt_share": Rule("float", 0, 1),
    "base_share": Rule("float", 0, 1),
    "keep_recognizer": Rule("choice", choices=("auto", "trained", "base")),
    "lexicon": Rule("bool"),
    "val_lines": Rule("int", 1, None, none=True),
    #: Lines are cut to this width (pixels, at the model's input height): below a few CTC steps
    #: (8 pixels each) nothing can be read.
    "max_width": Rule("int", 32, 100_000),
    "detector": Rule("bool"),
    "det_epochs": Rule("int", 1, 10_000),
    "det_lr": Rule("float", 0, 1, lo_open=True),
    "det_max_pages": Rule("int", 0, None),  # 0: every training page
    "calib_pages": Rule("int", 0, 1_000_000),
    "e2e_val_pages": Rule("int", 0, 1_000_000),
    "train_ocr": Rule("bool"),
    "train_fields": Rule("bool", none=True),  # null: decided from the project (see DEFAULTS)
    "field_epochs": Rule("int", 1, 100_000),
    "field_folds": Rule("int", 2, 100),
    "field_cv_pages": Rule("int", 0, None),
    "device": Rule("choice", choices=("auto", "cpu", "cuda")),
    "seed": Rule("int", 0, 2**32 - 1),  # what numpy and torch accept as a seed
    "threads": Rule("int", 0, 4096),  # 0: every core
    "parity_tol": Rule("float", 0, None, lo_open=True),
}


def _shown(value: Any) -> str:
    text = repr(value)  # repr: a string shows its quotes and never breaks the line
    return text if len(text) <= 60 else text[:57] + "..."


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as they are, once every key is known and every value fits its rule; else one
    ProofdeskError (one line) naming each bad parameter, its value and what it may be."""
    unknown = set(params) - set(RULES)
    if unknown:
        raise ProofdeskError(f"unknown training parameter(s): {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(RULES))})")
    bad = [f"training parameter {key} must be {RULES[key].describe()}, not {_shown(params[key])}"
           for key in sorted(params) if not RULES[key].allows(params[key])]
    if params.get("train_ocr") is False and params.get("train_fields") is False:
        bad.append("a run with train_ocr and train_fields both false trains nothing")
    if bad:
        raise ProofdeskError("; ".join(bad))
    return dict(params)


def resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` over the defaults, checked (:func:`validate_params`); a null keeps the default,
    except for the caps where null means no cap."""
    given = {k: v for k, v in dict(params or {}).items() if v is not None or k not in RULES or RULES[k].none}
    return validate_params({**DEFAULTS, **given})
