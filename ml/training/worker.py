"""The training worker: one run, start to finish, reported as JSON lines on stdout.

``proofdesk worker train PROJECT --run N`` (and ``python -m ml.training PROJECT N``) calls
:func:`run`. It prints one JSON object per line::

    {"type": "progress", "stage": "crops"|"features"|"train"|"export"|"evaluate", "done": 3, "total": 88, ...}
    {"type": "metric", "epoch": 1, "loss": 0.83, "val_cer": 0.041, "seconds": 61.2}
    {"type": "fields", "f1": 0.93, "active_f1": 0.81, "per_field": {...}, "gained": [...], "lost": [], "better": true, ...}
    {"type": "done", "model_version": 4, "name": "run-7", "val_cer": 0.021, "active_val_cer": 0.052, "verdict": "better",
     "val_typing_saved": 0.93, ..., "val_field_f1": 0.88, "active_val_field_f1": 0.85, "val_fields_gained": ["date"],
     "val_fields_lost": [], "val_field_per_field": {...}, "fields": {"model_version": 5, "name": "run-7-fields", ...}, ...}
    {"type": "error", "error": "..."}          (or {"type": "cancelled"})

and keeps the same lines in ``runs/<id>/log.jsonl``. The run's record in the project database
is written here as the run goes (running, log, one metric per epoch, done / failed / cancelled),
so the record holds even when whoever started the worker has gone.

The steps: cut the manifest's training lines from the page images, add augmented copies, sort
into batches by width; with a frozen backbone compute its features once (onnxruntime), then
train the neck and head with CTC for the epochs asked, checkpointing after each epoch (a killed
run started again resumes from the last one); export ONNX, check that onnxruntime gives the
torch module's logits, read the validation lines with the new model and with the model it is
compared with (the active one, else the shipped one: ``ml.training.active.active_model``), and
the validation pages end to end with both (typing saved; on the pages with people's field
values, the key fields read from each model's regions: :class:`FieldFigures`), list the model
folder's files with their sha256 in its model.json. The OCR's verdict is ``core.runs.ocr_better``. With ``train_fields`` (by default
when the project has fields and enough finished pages with field values), the key-field model is
learned and judged too (``ml.training.fields``: K-fold cross-validation against the active field
model, else the zero-shot rules) and written to ``models/run-N-fields``; ``train_ocr`` false skips
the OCR. Then every model the run made is registered with the run's verdict, in one transaction.
None is promoted here: the lead does that.

The code: :class:`RunContext` holds what every stage reads (project, record, parameters, device,
threads, the process's rank, reporter, cancel flag), loaded once by :func:`_setup`; each stage
returns a typed result (:class:`OcrTrained`, :class:`DetectorResult`, :class:`OcrResult`,
``ml.training.fields.FieldResult``), and the figures are dataclasses whose ``to_dict`` spells
out the registry's metric keys (:class:`OcrMetrics`, ``ml.training.fields.FieldMetrics``).

``runs/<id>/`` (the checkpoint, the log) outlives every failure and cancel: it is what a run
resumes from. Only the model folder of a run that stops before registering it goes. A checkpoint
is loaded as data only (tensors and plain values), never as code: the project folder may have
come from someone else.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from core import datasets, registry, runs
from core.errors import ProofdeskError
from core.project import Project
from core.scoring import score_text
from ml.neural import casing
from ml.training.active import ZERO_SHOT, active_model, model_config, model_of
from ml.training.params import resolve_params

if TYPE_CHECKING:
    from ml.training.fields import FieldResult

Emit = Callable[[dict], None]


class Cancelled(Exception):
    pass


class Dist:
    """Where this process stands in a ``torchrun`` launch (one process per GPU; DDP).

    A plain run is rank 0 of 1. Under ``torchrun`` every process trains on its share of the
    batches and DDP averages the gradients; rank 0 alone reports, writes the records, the
    checkpoints, the export and the evaluation.
    """

    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.world = max(1, int(env.get("WORLD_SIZE", "1") or 1))
        self.rank = int(env.get("RANK", "0") or 0) if self.world > 1 else 0
        self.local_rank = int(env.get("LOCAL_RANK", "0") or 0) if self.world > 1 else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, batches: list) -> list:
        """This process's batches: every ``world``-th, the same number for every process (DDP
        steps together)."""
        if self.world == 1:
            return batches
        n = len(batches) // self.world
        if n == 0:
            raise ProofdeskError(f"{len(batches)} batch(es) cannot be shared by {self.world} processes: "
                                 "fewer processes, a smaller batch size or more lines")
        return batches[self.rank :: self.world][:n]


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Reporter:
    """JSON lines to stdout and ``log.jsonl``; notable ones also to the run's log in the database."""

    def __init__(self, project: Project, run_id: int, folder: Path, emit: Emit, quiet: bool = False):
        self.project, self.run_id, self.emit = project, run_id, emit
        self.quiet = quiet  # the other processes of a multi-GPU run: rank 0 speaks for them
        folder.mkdir(parents=True, exist_ok=True)
        self.file = None if quiet else open(folder / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._last_progress = 0.0

    def __call__(self, obj: dict, db: bool = True) -> None:
        if self.quiet:
            return
        obj = {**obj, "run": self.run_id, "t": round(time.time(), 3)}
        line = json.dumps(obj)
        # Recorded before it is printed: whoever reads the line may kill us at once.
        if db:
            runs.append_log(self.project.store, self.run_id, line)
        self.file.write(line + "\n")
        self.file.flush()
        self.emit(obj)

    def progress(self, stage: str, done: int, total: int, **extra: Any) -> None:
        """Progress lines, at most 4 a second (always the last of a stage)."""
        t = time.monotonic()
        if done < total and t - self._last_progress < 0.25:
            return
        self._last_progress = t
        self({"type": "progress", "stage": stage, "done": done, "total": total, **extra}, db=False)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def hardware_info(device: str) -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"host": runs.host(), "cpu": cpu, "cores": _cores(), "device": device}
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1), gpu_count=torch.cuda.device_count())
    return info


def environment_info() -> dict:
    import onnxruntime
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "cuda": torch.version.cuda, "platform": platform.platform()}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_memory_mb(device: str) -> dict:
    import resource

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda"):
        import torch

        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


@dataclass
class RunContext:
    """What every stage of a run reads, loaded once: the project, the run's record, its resolved
    parameters, the device and threads, this process's place in a multi-process launch, the
    reporter, the cancel flag and the clock."""

    project: Project
    record: runs.Run
    params: dict
    device: str
    threads: int
    dist: Dist
    report: Reporter
    cancel: dict
    t0: float
    #: Model folders written and not yet registered: they go if the run stops (see run()).
    unregistered: list = field(default_factory=list)

    @property
    def store(self):
        return self.project.store

    @property
    def folder(self) -> Path:
        """``runs/<id>/``: the log, the checkpoint, the detector being trained."""
        return self.record.folder(self.project.root)

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    def check(self) -> None:
        """Raise Cancelled when SIGTERM or SIGINT asked the run to stop."""
        if self.cancel["flag"]:
            raise Cancelled()

    def refresh(self) -> runs.Run:
        self.record = runs.get(self.store, self.record.id)
        return self.record


@dataclass
class DetectorResult:
    """The detector stage's: the exported detector, its post-processing and its figures."""

    spec: Any
    cfg: Any
    metrics: dict


@dataclass
class OcrTrained:
    """The training stage's: the trained network and what the export and evaluation need."""

    net: Any
    spec: Any
    rec: Any
    val_lines: list
    det: DetectorResult | None
    synthetic: dict | None
    #: The training pages' case convention (ml.neural.casing): "upper" or "".
    case: str
    #: Which recogniser weights the version carries, and why.
    recognizer: "RecognizerChoice"


#: How sure the validation lines must be that the fine-tune reads better than the base model
#: (one-sided z of the per-line character errors' difference: 1.645 is 95%) for "auto" to keep it.
KEEP_TRAINED_Z = 1.645


@dataclass(frozen=True)
class RecognizerChoice:
    """Which recogniser weights a run's model version carries (``keep_recognizer``): ``kept`` is
    "trained" or "base"; ``why`` "asked" (the parameter said which) or "auto"; with "auto", the
    validation lines judged on (``lines``: those whose text is on no training page), the
    case-sensitive CER of each on them (read in the project's case convention, without the
    lexicon) and the z of the fine-tune's gain."""

    kept: str
    why: str
    lines: int = 0
    trained_cer: float | None = None
    base_cer: float | None = None
    z: float | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"recognizer_kept": self.kept, "recognizer_why": self.why}
        if self.why == "auto":
            out.update({"recognizer_lines": self.lines, "recognizer_trained_cer": self.trained_cer,
                        "recognizer_base_cer": self.base_cer, "recognizer_z": self.z})
        return out


def line_key(text: str) -> str:
    """A line's text as :func:`recognizer_choice` compares it with the training lines' (case and
    runs of spaces aside)."""
    return " ".join(casing.upper(text).split())


def recognizer_choice(truths: list[str], trained: list[str], base: list[str], case: str = "",
                      seen: set[str] | frozenset[str] = frozenset()) -> RecognizerChoice:
    """"auto"'s choice from the validation lines ``truths`` as the fine-tune (``trained``) and the
    base model (``base``) read them: keep the fine-tune when its gain in character errors per line,
    both read in the case convention ``case``, is beyond the lines' noise (z >= KEEP_TRAINED_Z).
    Only the lines whose text no training line has (``seen``: their :func:`line_key`) count: a
    project's pages repeat lines (a shop's name and address on each of its receipts), and a
    fine-tune that reads better only the lines people already typed has learned them, not to read
    (on sroie-dev it kept a fine-tune for its repeated lines, z 3.4 over all of them, 1.0 over the
    others, that read the held-out receipts' fields worse; docs/training.md)."""
    from core.scoring import CASE_SENSITIVE, cer_counts

    keep = [i for i, ref in enumerate(truths) if line_key(ref) not in seen]
    truths, trained, base = [truths[i] for i in keep], [trained[i] for i in keep], [base[i] for i in keep]
    if not truths:
        return RecognizerChoice("trained", "auto")  # nothing to judge by: as runs always did
    diffs, errs_t, errs_b, chars = [], 0, 0, 0
    for ref, t, b in zip(truths, trained, base, strict=True):
        et, n = cer_counts([(ref, casing.apply(t, case))], CASE_SENSITIVE)
        eb, _ = cer_counts([(ref, casing.apply(b, case))], CASE_SENSITIVE)
        diffs.append(eb - et)
        errs_t, errs_b, chars = errs_t + et, errs_b + eb, chars + n
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / max(1, n - 1)
    z = mean / math.sqrt(var / n) if var > 0 else (math.inf if mean > 0 else 0.0)
    kept = "trained" if z >= KEEP_TRAINED_Z else "base"
    return RecognizerChoice(kept, "auto", n, round(errs_t / max(1, chars), 5), round(errs_b / max(1, chars), 5),
                            round(z, 3) if math.isfinite(z) else z)


@dataclass(frozen=True)
class ReadFigures:
    """A recogniser reading the validation line crops: case-sensitive and -insensitive CER, exact lines."""

    cer: float | None
    cer_ci: float | None
    exact: float | None


@dataclass(frozen=True)
class PageFigures:
    """The validation pages read end to end by one model."""

    typing_saved: float | None
    typing_saved_ci: float | None
    recall: float | None
    ece: float | None


@dataclass(frozen=True)
class CalibrationResult:
    pages: int = 0
    regions: int = 0
    note: str | None = None  # why the shipped calibration stays

    def to_dict(self) -> dict:
        if self.note:
            return {"calibration": self.note}
        return {"calibration_pages": self.pages, "calibration_regions": self.regions} if self.pages else {}


@dataclass(frozen=True)
class FieldFigures:
    """The key fields read from each model's predicted regions on the validation pages that have
    people's field values, by the field model pre-fill reads with (``field_model``: the active
    field model version, else the zero-shot rules), scored against those values: ``new`` and
    ``old`` are ``FieldScore.summary()`` of the run's OCR and of the compared one. ``verdict``:
    ``ml.training.fields.judge`` (per field: gained / lost / same beyond its noise; its ``better``
    is the field model's rule, not the OCR's); ``overall``: the overall F1's change
    (``ml.training.fields.change_of``), ``overall_noise`` its noise in full."""

    pages: int
    field_model: str
    new: dict
    old: dict
    verdict: Any  # ml.training.fields.FieldVerdict
    overall: Any  # ml.training.fields.FieldChange
    overall_noise: float

    @classmethod
    def judged(cls, pages: int, field_model: str, new: dict, old: dict) -> "FieldFigures":
        from ml.training.fields import change_of, judge, noise

        return cls(pages, field_model, new, old, judge(new, old), change_of(new["overall"], old["overall"]),
                   noise(old["overall"]))

    def to_dict(self) -> dict:
        per = {name: {"f1": c.f1, "active_f1": c.active_f1, "noise": c.noise, "change": c.change}
               for name, c in self.verdict.per_field.items()}
        return {"val_field_pages": self.pages, "val_field_model": self.field_model,
                "val_field_f1": self.overall.f1, "active_val_field_f1": self.overall.active_f1,
                "val_field_f1_noise": self.overall_noise, "val_field_f1_change": self.overall.change,
                "val_fields_gained": list(self.verdict.gained), "val_fields_lost": list(self.verdict.lost),
                "val_field_per_field": per}


@dataclass(frozen=True)
class EndToEnd:
    new: PageFigures
    active: PageFigures
    pages: int
    #: None: no validation page read has people's field values (or the project has no fields).
    fields: FieldFigures | None = None

    def to_dict(self) -> dict:
        out = {"val_typing_saved": self.new.typing_saved, "val_typing_saved_ci": self.new.typing_saved_ci,
               "val_recall": self.new.recall, "val_ece": self.new.ece,
               "active_val_typing_saved": self.active.typing_saved,
               "active_val_typing_saved_ci": self.active.typing_saved_ci,
               "active_val_recall": self.active.recall, "active_val_ece": self.active.ece, "val_pages": self.pages}
        if self.fields is not None:
            out.update(self.fields.to_dict())
        return out


@dataclass
class OcrMetrics:
    """The OCR model version's figures: the new model and the one it is compared with on the same
    validation lines and pages (the registry's metrics, the done line)."""

    val: ReadFigures
    active_val: ReadFigures
    calibration: CalibrationResult
    end_to_end: EndToEnd | None
    det: dict
    compared_with: str
    val_lines: int
    parity: float
    epochs: int
    #: Words in the model version's lexicon (``lexicon.json``); None: it has none.
    lexicon_words: int | None = None
    #: Its case convention (ml.neural.casing; "" none).
    case: str = ""
    recognizer: RecognizerChoice | None = None

    def to_dict(self) -> dict:
        out = {"val_cer": self.val.cer, "val_cer_ci": self.val.cer_ci, "val_exact": self.val.exact,
               "active_val_cer": self.active_val.cer, "active_val_cer_ci": self.active_val.cer_ci,
               "active_val_exact": self.active_val.exact}
        out.update(self.calibration.to_dict())
        if self.end_to_end is not None:
            out.update(self.end_to_end.to_dict())
        out.update(self.det)
        out.update({"compared_with": self.compared_with, "val_lines": self.val_lines,
                    "parity_max_abs_diff": self.parity, "epochs": self.epochs})
        if self.lexicon_words is not None:
            out["lexicon_words"] = self.lexicon_words
        if self.case:
            out["case"] = self.case
        if self.recognizer is not None:
            out.update(self.recognizer.to_dict())
        return out


@dataclass
class OcrResult:
    """The export stage's: the OCR version folder (written and listed, not yet registered)."""

    name: str
    path: str
    sha256: str
    metrics: OcrMetrics


def base_model_folder(project: Project, run: runs.Run) -> Path:
    """The recogniser the run starts from: its base model version, else the shipped Latin one."""
    base = registry.get(project.store, run.base_model_version_id) if run.base_model_version_id is not None else None
    return model_of(project, base).folder


def run(project_root: str | Path, run_id: int, emit: Emit = _print_json) -> int:
    """Run (or resume) training run ``run_id``; returns the exit code (0 done, 1 failed, 130 cancelled)."""
    project = Project.open(project_root)
    store = project.store
    record = runs.get(store, run_id)
    dist = Dist()
    report = Reporter(project, run_id, record.folder(project.root), emit, quiet=not dist.main)
    cancel = {"flag": False}

    def on_signal(signum, frame):
        cancel["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    ctx = RunContext(project, record, {}, "cpu", 1, dist, report, cancel, time.monotonic())
    try:
        _setup(ctx)
        trained = _train(ctx) if ctx.params["train_ocr"] else None
        if not dist.main:
            return 0  # rank 0 exports and registers the models
        # From here to their registration, models/run-N*/ are models nobody knows of: they go if
        # the run stops. runs/<id>/ (checkpoint, log) stays whatever happens: the run resumes from it.
        ocr = _export_ocr(ctx, trained, _model_rel(project, run_id)) if trained is not None else None
        fields = _fields_stage(ctx) if ctx.params["train_fields"] else None
        done = _register(ctx, ocr, fields)
        ctx.unregistered.clear()  # registered: they stay
        report({"type": "done", **done})
        return 0
    except Cancelled:
        if dist.main:
            runs.cancel(store, run_id, time.monotonic() - ctx.t0, ctx.device)
        report({"type": "cancelled"})
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure ends as a failed run with its log
        msg = str(exc) if isinstance(exc, ProofdeskError) else f"{type(exc).__name__}: {exc}"
        if not dist.main:
            print(f"rank {dist.rank}: {msg}", file=sys.stderr)  # rank 0 fails the run when it stops too
            return 1
        try:
            runs.fail(store, run_id, msg, time.monotonic() - ctx.t0, ctx.device, log=traceback.format_exc())
        finally:
            report({"type": "error", "error": msg}, db=False)
        return 1
    finally:
        for out in ctx.unregistered:
            if not _registered(project, out):
                shutil.rmtree(out, ignore_errors=True)  # a model never registered leaves nothing
        for s, h in old.items():
            signal.signal(s, h)
        if dist.world > 1:
            import torch.distributed

            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
        report.close()
        project.close()


def _setup(ctx: RunContext) -> None:
    """Resolve the parameters (the fields: whether this project has enough to learn from), pick the
    device and threads, join a multi-process launch, mark the run running, say ``start``."""
    import torch

    from ml.training import fields

    params = resolve_params(ctx.record.params)
    train_fields, why = fields.wanted(ctx.store, params)
    if not params["train_ocr"] and not train_fields:
        raise ProofdeskError(f"nothing to train: train_ocr is false and the fields are not trained ({why})")
    ctx.params = {**params, "train_fields": train_fields}
    p, dist = ctx.params, ctx.dist
    device = "cuda" if p["device"] in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    if p["device"] == "cuda" and device != "cuda":
        raise ProofdeskError("--device cuda was asked for, but torch sees no CUDA device here")
    threads = int(p["threads"]) or _cores()
    if dist.world > 1:  # under torchrun: one process per GPU (gloo on CPUs, for tests)
        import torch.distributed

        if device == "cuda":
            torch.cuda.set_device(dist.local_rank)
            device = f"cuda:{dist.local_rank}"
        else:
            threads = max(1, threads // dist.world)
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    ctx.device, ctx.threads = device, threads
    torch.set_num_threads(threads)
    if dist.main:
        runs.mark_running(ctx.store, ctx.record.id, os.getpid(), {**hardware_info(device), "processes": dist.world},
                          environment_info())
    ctx.refresh()
    ctx.report({"type": "start", "params": ctx.params, "device": device, "pid": os.getpid(), "processes": dist.world,
                "fields": why})


def _model_rel(project: Project, run_id: int, suffix: str = "") -> str:
    """Where run ``run_id``'s model goes, relative to the project root: ``models/run-N`` (the
    field model: ``models/run-N-fields``), unless a registered version has that name or folder
    already (a model imported from a copy of the project, where it was run N): then
    ``models/run-N.2`` and so on. A registered model's folder is never written over."""
    taken = {x for v in registry.versions(project.store) for x in (v.name, v.path)}
    name, n = f"run-{run_id}{suffix}", 1
    while name in taken or f"models/{name}" in taken:
        n += 1
        name = f"run-{run_id}{suffix}.{n}"
    return f"models/{name}"


def _registered(project: Project, folder: Path) -> bool:
    """Whether ``folder`` is a registered model version's (which a failed run must not remove)."""
    rel = folder.relative_to(project.root).as_posix()
    try:
        return any(v.path == rel for v in registry.versions(project.store))
    except Exception:  # noqa: BLE001 - the database failed too: keep the folder (it may be registered)
        return True


def _train(ctx: RunContext) -> OcrTrained:
    """The OCR's training stage: the detector (when asked), the line crops, the recogniser's epochs."""
    import torch

    from ml.neural.models import load_spec
    from ml.neural.recognizer import Recognizer
    from ml.neural.torch_model import load_recognizer
    from ml.training import data
    from ml.training.model import DEFAULT_SPLIT, LAST_BLOCK_SPLIT, Tail, freeze, split_index

    project, record, params, device, threads = ctx.project, ctx.record, ctx.params, ctx.device, ctx.threads
    report, cancel, dist, folder = ctx.report, ctx.cancel, ctx.dist, ctx.folder
    version = datasets.get_version(project.store, record.dataset_version_id)
    datasets.check_trainable(version)  # a run nobody could judge fails at once, saying why
    manifest = datasets.load_manifest(project.root, version, project)
    spec = load_spec(base_model_folder(project, record))  # checks the sha256 first
    rec = Recognizer(spec, run=lambda x: x)  # its cropping, scaling and batching only
    image_of = project.images.path
    seed = int(params["seed"])

    train_samples = list(manifest["train"])
    if params["max_lines"] and len(train_samples) > int(params["max_lines"]):
        train_samples = random.Random(seed).sample(train_samples, int(params["max_lines"]))
    val_samples = list(manifest["val"])
    if params["val_lines"] and len(val_samples) > int(params["val_lines"]):
        val_samples = random.Random(seed + 1).sample(val_samples, int(params["val_lines"]))
    if not train_samples:
        raise ProofdeskError(f"dataset version {version.id} has no training lines")
    data.check_synthetic(params)  # fonts for synthetic lines: checked before the detector's minutes
    det = None
    if params["detector"]:
        det = _detector_stage(ctx, manifest)
    report.progress("crops", 0, len(train_samples) + len(val_samples))
    lines, skipped = data.cut_lines(train_samples, image_of, rec, params["max_width"])
    val_lines, val_skipped = data.cut_lines(val_samples, image_of, rec, params["max_width"])
    report.progress("crops", len(train_samples) + len(val_samples), len(train_samples) + len(val_samples))
    if not lines:
        raise ProofdeskError("no usable training line (texts outside the model's charset, or unreadable pages)")
    # Augmented copies and synthetic lines go to training only: validation is the project's own lines.
    all_lines, extra = data.training_lines(lines, params, rec)
    batches = dist.share(data.make_batches(all_lines, rec, int(params["batch_size"])))
    # Validation and everything after training: rank 0 alone.
    val_batches = data.make_batches(val_lines, rec, int(params["batch_size"])) if val_lines and dist.main else []
    report({"type": "data", "train_lines": len(lines), **extra,
            "val_lines": len(val_lines), "skipped": skipped + val_skipped, "batches": len(batches),
            "dataset_version": version.id, "dataset_hash": version.hash})

    net = load_recognizer(spec)
    frozen = params["freeze"] in ("backbone", "backbone_last")
    split = LAST_BLOCK_SPLIT if params["freeze"] == "backbone_last" else DEFAULT_SPLIT
    start = split_index(net, split) if frozen else None
    trainable = freeze(net, start)
    # The base model's weights of what trains, kept for mixing back in at the end (base_share)
    # and for "auto"'s comparison.
    base_share = float(params["base_share"])
    keep = str(params["keep_recognizer"])
    base_weights = [p.detach().clone() for p in trainable] if base_share > 0 or keep == "auto" else []
    # People's capitals (ml.neural.casing), from the training lines' texts (augmented copies share them).
    case = casing.convention_of(s["text"] for s in manifest["train"])
    if frozen and keep != "base":
        # The backbone never changes: its output for each fixed batch is computed once.
        sess = data.backbone_session(spec.path, split, folder / _backbone_name(dist), threads, device)
        name = sess.get_inputs()[0].name
        every = batches + val_batches
        for i, b in enumerate(every):
            if cancel["flag"]:
                raise Cancelled()
            b.x = sess.run(None, {name: b.x})[0]
            report.progress("features", i + 1, len(every))
        del sess
        if not dist.main:
            (folder / _backbone_name(dist)).unlink(missing_ok=True)  # rank 0's goes in _register
        module = Tail(net, split)
    else:
        module = net
    dev = torch.device(device)
    net.to(dev)
    opt = torch.optim.AdamW(trainable, lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
    epochs = int(params["epochs"]) if keep != "base" else 0  # "base": the recogniser does not train
    total_steps, warm = epochs * len(batches), max(1, int(params["warmup_steps"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1.0 - s / max(1, total_steps)))
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    prior = torch.as_tensor(rec.prior if rec.prior is not None else np.zeros(len(spec.charset), np.float32),
                            device=dev)
    stride = int(spec.raw.get("output", {}).get("time_stride", 8) or 8)

    ckpt_path = folder / "checkpoint.pt"
    first_epoch = 1
    if ckpt_path.exists():
        ckpt = _load_checkpoint(ckpt_path, dev)
        if ckpt.get("base_sha256") != spec.sha256 or ckpt.get("dataset_hash") != version.hash:
            raise ProofdeskError(f"{ckpt_path} belongs to another base model or dataset version")
        with torch.no_grad():
            for k, v in ckpt["state"].items():
                net.params[k].copy_(v)
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        first_epoch = ckpt["epoch"] + 1
        report({"type": "resume", "from_epoch": ckpt["epoch"]})

    model = module
    if dist.world > 1:  # gradients averaged over the processes at each step
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)
    for epoch in range(first_epoch, epochs + 1):
        te = time.monotonic()
        model.train()
        order = list(range(len(batches)))
        random.Random(seed * 1000 + epoch).shuffle(order)
        total = 0.0
        for n, bi in enumerate(order, 1):
            if cancel["flag"]:
                raise Cancelled()
            b = batches[bi]
            x = torch.as_tensor(b.x, device=dev)
            logits = model(x) + prior
            logp = logits.float().log_softmax(2).transpose(0, 1)  # T x N x C
            t_max = logp.shape[0]
            in_len = torch.as_tensor([min(t_max, math.ceil(w / stride) + rec.cfg.tail_steps) for w in b.widths])
            tgt = torch.as_tensor([c for t in b.targets for c in t], dtype=torch.long)
            tgt_len = torch.as_tensor([len(t) for t in b.targets])
            loss = ctc(logp, tgt, in_len, tgt_len)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
            report.progress("train", n, len(order), epoch=epoch, epochs=epochs, loss=round(total / n, 4))
        if not dist.main:
            continue  # the metric, the checkpoint and the record are rank 0's
        val_cer = _val_cer(module, val_batches, rec, stride, dev) if val_batches else None
        metric = {"epoch": epoch, "loss": round(total / max(1, len(order)), 5),
                  "val_cer": None if val_cer is None else round(val_cer, 5), "seconds": round(time.monotonic() - te, 2)}
        _save_checkpoint(ckpt_path, net, trainable, opt, sched, epoch, spec.sha256, version.hash)
        runs.add_metric(project.store, record.id, metric)
        report({"type": "metric", **metric})
    mix_base(trainable, base_weights, base_share)
    if keep == "auto" and dist.main:
        seen = {line_key(s["text"]) for s in manifest["train"]}
        choice = choose_recognizer(module, trainable, base_weights, val_batches, rec, stride, dev, case, seen)
        report({"type": "recognizer", **choice.to_dict()})
    else:
        choice = RecognizerChoice(keep if keep != "auto" else "trained", "asked" if keep != "auto" else "auto")
    net.to("cpu")
    return OcrTrained(net, spec, rec, val_lines, det, extra.get("synthetic_generator"), case, choice)


def mix_base(trainable, base_weights, share: float) -> None:
    """Move the trained weights ``share`` of the way back to the base model's, in place (WiSE-FT,
    Wortsman et al. 2022: weight-space ensembling). A fine-tune on one project's pages reads those
    pages' shops better and unseen ones worse; the mix keeps most of the first and gives back much
    of the second (docs/training.md, "Mixing the base weights back"). What the run exports, and
    what its comparison with the active model judges, is the mixed model; the checkpoint keeps
    the trained weights, so a resumed run mixes from them again."""
    import torch

    if share <= 0:
        return
    with torch.no_grad():
        for p, b in zip(trainable, base_weights, strict=True):
            p.mul_(1.0 - share).add_(b.to(p.device, p.dtype), alpha=share)


def base_det_folder(project: Project, run: runs.Run) -> Path:
    """The detector the run starts from: its base model version's own, else the shipped one."""
    from ml.neural.models import BASE_MODEL, model_dir
    from ml.training.active import detector_of

    got = detector_of(base_model_folder(project, run))
    return Path(got[0]) if got is not None else model_dir(BASE_MODEL, "det")


def _train_detector(ctx: RunContext, items: list, base, cfg, out: Path, partial: int) -> dict:
    """Train, export to ``out`` (written beside and renamed into place) and return the metrics."""
    from ml.training import detector as dt

    params, folder, record = ctx.params, ctx.folder, ctx.record

    det_pages = dt.prepare_pages(items, base, cfg)
    tmp = folder / "det.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trained = dt.train_detector(det_pages, base, cfg, tmp, epochs=int(params["det_epochs"]),
                               lr=float(params["det_lr"]), seed=ctx.seed, device=ctx.device,
                               threads=ctx.threads, work=folder, progress=ctx.report.progress, check=ctx.check)
    metrics = {**trained, "det_pages_partial": partial, "det_pages_over_budget": len(items) - len(det_pages)}
    doc = json.loads((tmp / "model.json").read_text(encoding="utf-8"))
    doc["training_metrics"] = metrics
    doc["id"] = f"run-{record.id}-det"
    doc["source"] = f"fine-tuned by Proofdesk run {record.id} from {base.version}"
    (tmp / "model.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return metrics


def _by_page(samples) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in samples:
        out.setdefault(s["image"], []).append(s)
    return out


#: A training page trains the detector only if the people's boxes cover at least this share of
#: what the base detector finds on it (``ml.training.detector.coverage``).
MIN_PAGE_COVERAGE = 0.6


def _detector_stage(ctx: RunContext, manifest: dict) -> DetectorResult | None:
    """Fine-tune the detector on the training pages (rank 0; the others wait and load it).

    Exported to ``runs/<id>/det``; a resumed run whose detector is there (and checks out) uses
    it as it is. None when no training page is boxed in full (the run keeps its base detector)."""
    from dataclasses import replace

    from ml.neural import runtime
    from ml.neural.detector import DetectConfig, Detector
    from ml.neural.models import ModelError, load_spec
    from ml.training import data
    from ml.training import detector as dt

    project, params, threads, report, dist = ctx.project, ctx.params, ctx.threads, ctx.report, ctx.dist
    out = ctx.folder / "det"
    base = load_spec(base_det_folder(project, ctx.record))
    cfg = replace(DetectConfig(), **dt.postprocess_of(base))
    metrics: dict = {}
    resumed = False

    if dist.main:
        try:
            spec = load_spec(out)
            metrics = dict(spec.raw.get("training_metrics") or {})
            resumed = True  # a run started again: its detector was trained and exported already
        except ModelError:
            pages = _by_page(manifest["train"])
            shas = sorted(pages)
            cap = params["det_max_pages"]
            if cap and len(shas) > int(cap):
                shas = sorted(random.Random(int(params["seed"])).sample(shas, int(cap)))
            items, partial = [], 0
            base_detector = Detector(base, runtime.create_session(base.path, "cpu", threads), cfg)
            for i, sha in enumerate(shas):
                ctx.check()
                img = data.load_page(project.images.path(sha))
                if img is not None:
                    boxes = [s["points"] for s in pages[sha]]
                    found = [b for b, _ in base_detector.detect(img)]
                    if dt.coverage(found, boxes, (img.shape[1], img.shape[0])) < MIN_PAGE_COVERAGE:
                        partial += 1  # boxed in part only: it would teach the detector to miss the rest
                    else:
                        items.append((img, boxes, [s["text"] for s in pages[sha]]))
                report.progress("detector pages", i + 1, len(shas))
            if items:
                metrics = _train_detector(ctx, items, base, cfg, out, partial)
        if metrics:
            report({"type": "detector", "resumed": resumed,
                    **{k: v for k, v in metrics.items() if k not in ("det_thresholds", "det_unclips")},
                    "thresholds": metrics.get("det_thresholds"), "unclips": metrics.get("det_unclips")})
        else:  # the run goes on with the detector it started from
            report({"type": "detector", "skipped": f"no training page is boxed in full ({partial} of them boxed "
                                                   "in part only): the detector is left as it was"})
    if dist.world > 1:
        import torch.distributed

        torch.distributed.barrier()  # the others wait for rank 0's detector
    if not (out / "model.json").is_file():
        return None
    spec = load_spec(out)
    return DetectorResult(spec, replace(cfg, **dt.postprocess_of(spec)), metrics)


def _backbone_name(dist: Dist) -> str:
    """The frozen backbone's ONNX file: one per process of a multi-GPU run (each writes its own)."""
    return "backbone.onnx" if dist.main else f"backbone-rank{dist.rank}.onnx"


def _val_readings(module, val_batches, rec, stride: int, dev) -> list[tuple[str, str]]:
    """(people's text, reading) of each validation line, read by ``module`` as it is now (greedy,
    without the lexicon)."""
    import torch

    from ml.neural.ctc import decode_greedy

    module.eval()
    pairs = []
    with torch.no_grad():
        for b in val_batches:
            logits = module(torch.as_tensor(b.x, device=dev)).float().cpu().numpy()
            lengths = [math.ceil(w / stride) + rec.cfg.tail_steps for w in b.widths]
            got = decode_greedy(logits, rec.spec.charset, True, lengths, rec.mask, rec.prior)
            pairs += [(t, d.text) for t, d in zip(b.texts, got)]
    return pairs


def _val_cer(module, val_batches, rec, stride: int, dev) -> float:
    return score_text(_val_readings(module, val_batches, rec, stride, dev)).summary()["cer_cs"] or 0.0


def choose_recognizer(module, trainable, base_weights, val_batches, rec, stride: int, dev, case: str,
                      seen: set[str]) -> RecognizerChoice:
    """``keep_recognizer`` "auto": the validation lines read by the trained (mixed) weights and by
    the base model's, judged by :func:`recognizer_choice` (on those whose text is not in ``seen``,
    the training lines'); where the base's win, they are put back in place (``trainable`` is what
    the export writes)."""
    import torch

    trained = _val_readings(module, val_batches, rec, stride, dev)
    kept = [p.detach().clone() for p in trainable]
    mix_base(trainable, base_weights, 1.0)
    base = _val_readings(module, val_batches, rec, stride, dev)
    choice = recognizer_choice([t for t, _ in trained], [r for _, r in trained], [r for _, r in base], case, seen)
    if choice.kept == "trained":
        with torch.no_grad():
            for p, k in zip(trainable, kept, strict=True):
                p.copy_(k)
    return choice


#: What a checkpoint holds: plain values and tensors only, so that it loads with torch's
#: ``weights_only`` unpickler (see :func:`_load_checkpoint`).
CHECKPOINT_KEYS = {"epoch": int, "state": dict, "opt": dict, "sched": dict, "base_sha256": str, "dataset_hash": str}


def _load_checkpoint(path: Path, dev) -> dict:
    """The checkpoint at ``path``, loaded as data only.

    A checkpoint is a pickle, and a pickle may call any function as it loads: a project folder
    received from someone else could carry a ``runs/<id>/checkpoint.pt`` that runs a command as
    the user who resumes the run. ``weights_only=True`` lets torch's unpickler build tensors and
    plain containers and refuse anything else without calling it; what we save
    (:func:`_save_checkpoint`: tensors, the optimizer's and scheduler's state dicts, numbers and
    strings) is all of that kind. A file it refuses, or a damaged one, fails the run with a
    message saying what to do: deleting the file starts the run over from its first epoch.
    """
    import torch

    what = (f"{path} cannot be loaded safely as a checkpoint (it holds more than tensors and plain values, or it "
            "is damaged); delete it to train the run from its first epoch")
    try:
        ckpt = torch.load(path, map_location=dev, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler's refusal, a truncated zip, a bad header...
        raise ProofdeskError(what) from exc
    if not isinstance(ckpt, dict) or any(not isinstance(ckpt.get(k), t) or isinstance(ckpt.get(k), bool)
                                         for k, t in CHECKPOINT_KEYS.items()):
        raise ProofdeskError(what)
    return ckpt


def _save_checkpoint(path: Path, net, trainable, opt, sched, epoch: int, base_sha: str, dataset_hash: str) -> None:
    import torch

    keep = {id(p) for p in trainable}
    state = {k: p.detach().cpu() for k, p in net.params.items() if id(p) in keep}
    tmp = path.with_suffix(".tmp")
    torch.save({"epoch": epoch, "state": state, "opt": opt.state_dict(), "sched": sched.state_dict(), "base_sha256": base_sha,
                "dataset_hash": dataset_hash}, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint


def _export_ocr(ctx: RunContext, trained: OcrTrained, rel: str) -> OcrResult:
    """Export the trained model to ``rel`` (``models/<name>``), check it, evaluate it against the
    active model (else the shipped one), list its files: ready to register."""
    from ml.neural import runtime
    from ml.neural.lexicon import lexicon_of
    from ml.neural.models import load_spec, sha256_file
    from ml.neural.recognizer import RecognizeConfig, Recognizer
    from ml.neural.torch_model import export_onnx

    project, record, params = ctx.project, ctx.record, ctx.params
    net, spec, rec, val_lines, det = trained.net, trained.spec, trained.rec, trained.val_lines, trained.det
    name = rel.rsplit("/", 1)[1]
    out = project.root / rel
    ctx.unregistered.append(out)
    if out.exists():
        shutil.rmtree(out)  # a half-written export of an earlier attempt of this run (never registered)
    ctx.report.progress("export", 0, 1)
    version = datasets.get_version(project.store, record.dataset_version_id)
    choice = trained.recognizer
    export_onnx(net, out, base=spec, charset=spec.charset, meta={
        "id": name, "source": f"fine-tuned by Proofdesk run {record.id} from {spec.version} on dataset version "
                              f"{version.id} ({version.hash[:12]})"
                              + (" (the base model's recogniser weights)" if choice.kept == "base" else ""),
        "license": spec.raw.get("license", ""), **({casing.KEY: trained.case} if trained.case else {}),
        "training": {"run": record.id, "params": params, "recognizer": choice.to_dict(),
                     **({"synthetic": trained.synthetic} if trained.synthetic else {})}})
    if trained.case:
        ctx.report({"type": "case", "convention": trained.case})
    if det is not None:  # the run's detector travels with its recogniser: one model version
        shutil.copytree(det.spec.folder, out / "det")
    manifest = datasets.load_manifest(project.root, version, project)
    lexicon = None
    if params["lexicon"]:
        # the training pages' words (never the validation pages': they judge the model)
        lexicon = lexicon_of([s["text"] for s in page] for page in _by_page(manifest["train"]).values())
        lexicon.save(out)
        ctx.report({"type": "lexicon", "words": len(lexicon)})
    ctx.report.progress("export", 1, 1)
    ctx.check()
    new_spec = load_spec(out)
    parity = _parity(net, new_spec, rec, val_lines, ctx.threads)
    if parity > float(params["parity_tol"]):
        raise ProofdeskError(f"torch / onnxruntime parity check failed: logits differ by {parity:.4g}")
    ctx.report({"type": "parity", "max_abs_diff": parity})

    # The same validation lines, read as pre-fill reads them (onnxruntime), by both models.
    compared = active_model(project)
    crops = [ln.crop for ln in val_lines]
    texts = [ln.text for ln in val_lines]
    read: list[ReadFigures] = []
    for n, (key, folder) in enumerate((("val", out), ("active_val", compared.folder))):
        ctx.report.progress("evaluate", n, 2, model=key)
        spec_ = new_spec if key == "val" else load_spec(folder)
        # read as pre-fill reads: with the version's case convention (and its lexicon)
        r = Recognizer(spec_, runtime.create_session(spec_.path, ctx.device, ctx.threads),
                       RecognizeConfig(**model_config(folder).get("recognize", {})))
        s = score_text(zip(texts, (d.text for d in r.read(crops)))).summary()
        read.append(ReadFigures(s["cer_cs"], s["cer_ci"], s["exact_cs"]))
    ctx.report.progress("evaluate", 2, 2)
    calibration = _calibrate(ctx, manifest, out)
    e2e = _end_to_end(ctx, manifest, out, compared.folder)
    metrics = OcrMetrics(read[0], read[1], calibration, e2e, dict(det.metrics) if det is not None else {},
                         compared.name, len(val_lines), parity, 0 if params["keep_recognizer"] == "base" else int(params["epochs"]),
                         None if lexicon is None else len(lexicon), trained.case, choice)
    # The folder is complete: model.json lists its files with their sha256 (what an import of this
    # model into another copy of the project holds the folder to).
    registry.write_manifest(out)
    project.publish(rel)  # a team project: the model version goes to the server, for every machine
    return OcrResult(name, rel, sha256_file(new_spec.path), metrics)


def _fields_stage(ctx: RunContext) -> "FieldResult":
    """Learn the field model from the finished pages, judge it against the active field model
    (else the zero-shot rules), write ``models/run-N-fields`` (ml.training.fields). A schema with
    form fields (header / question / answer) learns its form model too, from the pages people
    labelled, judged the same way against the active version's form model (ml.training.forms);
    both live in the one version folder."""
    from core.fields import many_valued
    from ml.fields.prefill import active_field_model, active_form_model
    from ml.training import fields, forms

    project = ctx.project
    schema = list(project.store.fields())
    if not schema:
        raise ProofdeskError("train_fields is true, but the project has no fields (set its schema first)")
    t0 = time.monotonic()
    single = [n for n in schema if not many_valued(n)]
    pages = fields.field_pages(project.store, single) if single else []
    fpages = forms.form_pages(project.store, schema) if forms.form_names(schema) else []
    ctx.report.progress("fields", 0, 1)
    compared = active_model(project, registry.FIELDS)
    model, _ = active_field_model(project)  # None: no active one, or unreadable: the zero-shot rules
    form_model, _ = active_form_model(project)
    val_images = None
    if max(len(pages), len(fpages)) >= int(ctx.params["field_cv_pages"]):
        version = datasets.get_version(project.store, ctx.record.dataset_version_id)
        val_images = {s["image"] for s in datasets.load_manifest(project.root, version, project)["val"]}
    final = final_forms = None
    key_metrics = form_metrics = None
    if single and (len(pages) >= 2 or len(fpages) < 2):   # the key fields; a form project with none skips them
        final, key_metrics = fields.evaluate(pages, single, model, compared.name if model is not None else ZERO_SHOT,
                                             ctx.params, val_images, check=ctx.check,
                                             progress=lambda d, t: ctx.report.progress("fields", d, t))
    if fpages and (len(fpages) >= 2 or key_metrics is None):
        final_forms, form_metrics = forms.evaluate(fpages, schema, form_model,
                                                   compared.name if form_model is not None else ZERO_SHOT,
                                                   ctx.params, val_images, check=ctx.check,
                                                   progress=lambda d, t: ctx.report.progress("form fields", d, t))
    if key_metrics is None and form_metrics is None:
        raise ProofdeskError("no finished page has field values or form fields labelled: nothing to learn the "
                             "fields from")
    metrics = fields.merged(key_metrics, form_metrics)
    # The half this run did not learn is the active version's, carried over: promoting the new version
    # must not take the key fields' (or the forms') model away.
    if final is None and model is not None and model.nets:
        final = model
    if final_forms is None and form_model is not None:
        final_forms = form_model
    rel = _model_rel(project, ctx.record.id, "-fields")
    out = project.root / rel
    ctx.unregistered.append(out)
    sha = fields.write_version(out, final, ctx.record.id, ctx.params, metrics, metrics.compared_with, final_forms)
    project.publish(rel)
    ctx.report({"type": "fields", **fields.summary_line(metrics)})
    parent = compared.version.id if compared.version is not None and (model is not None or form_model is not None) \
        else None
    return fields.FieldResult(rel.rsplit("/", 1)[1], rel, sha, metrics, parent, time.monotonic() - t0)


def _register(ctx: RunContext, ocr: OcrResult | None, fields) -> dict:
    """Register the run's models (the OCR's first) and close the run with its verdict; the done line."""
    project, record = ctx.project, ctx.record
    made = []
    if ocr is not None:
        made.append(runs.Artifact(ocr.name, ocr.path, ocr.sha256, ocr.metrics.to_dict()))
    if fields is not None:
        made.append(runs.Artifact(fields.name, fields.path, fields.sha256, fields.metrics.to_dict(), registry.FIELDS,
                                  better=fields.metrics.verdict.better, parent_id=fields.parent_id))
    hardware = {**runs.get(project.store, record.id).hardware, **peak_memory_mb(ctx.device)}
    project.store.check_file()  # a database deleted or replaced meanwhile would take the record with it
    run_, versions = runs.finish_models(project.store, record.created_by, record.id, made,
                                        time.monotonic() - ctx.t0, ctx.device, hardware)  # everything included
    ckpt = ctx.folder / "checkpoint.pt"
    (ctx.folder / "backbone.onnx").unlink(missing_ok=True)
    first = versions[0]
    done = {"model_version": first.id, "name": first.name, "path": first.path, "sha256": first.sha256,
            "verdict": run_.verdict, "duration_s": run_.duration_s, "cost": run_.cost, "checkpoint": str(ckpt)}
    if ocr is not None:
        done.update(ocr.metrics.to_dict())
    if fields is not None:
        fv = versions[-1]
        done["fields"] = {"model_version": fv.id, "name": fv.name, "path": fv.path, "sha256": fv.sha256,
                          "verdict": runs.BETTER if fields.metrics.verdict.better else runs.NOT_BETTER,
                          **fields.metrics.to_dict()}
    return done


def _calibrate(ctx: RunContext, manifest: dict, folder: Path) -> CalibrationResult:
    """Fit the combined engine's calibration for the new model (``folder/calibration.json``) on
    training pages read as pre-fill reads them: the shipped one was fitted on the shipped model's
    confidences, which a fine-tune changes (a fine-tuned recogniser is surer of itself)."""
    n = int(ctx.params["calib_pages"] or 0)
    if n <= 0:
        return CalibrationResult()
    from ml.neural.calibration import Calibrator
    from ml.neural.combined import CombinedEngine
    from ml.training import data

    pages = _by_page(manifest["train"])
    shas = sorted(pages)
    if len(shas) > n:
        shas = sorted(random.Random(ctx.seed + 3).sample(shas, n))
    engine = CombinedEngine({"neural": model_config(folder), "device": ctx.device, "threads": ctx.threads})
    x: list = []
    y: list = []
    for i, sha in enumerate(shas):
        ctx.check()
        img = data.load_page(ctx.project.images.path(sha))
        if img is not None:
            readings, _ = engine.readings(img)
            a, b = engine.calibration_samples(readings, [{"box": s["points"], "text": s["text"]} for s in pages[sha]])
            x += a
            y += b
        ctx.report.progress("calibrate", i + 1, len(shas))
    if len(set(y)) < 2:  # all right or all wrong: nothing to fit a slope on
        return CalibrationResult(note="shipped (the training pages gave no right and wrong regions to fit on)")
    cal = Calibrator.fit(np.array(x), np.array(y), note=f"fitted by the training run on {len(shas)} training "
                                                       f"page(s), {len(y)} regions")
    cal.save(folder / "calibration.json")
    return CalibrationResult(len(shas), len(y))


def _end_to_end(ctx: RunContext, manifest: dict, new_folder: Path, cmp_folder: Path) -> EndToEnd | None:
    """The validation pages read end to end as pre-fill reads them (the combined engine: detector,
    recogniser, Tesseract's second opinion, calibrated confidence) by the new model and by the one
    it is compared with, scored against the people's lines: typing saved (case-sensitive and not),
    line recall, and the calibration error of the confidences (ECE). On those of the pages that are
    finished with people's field values (the project's schema), the key fields pre-fill would read
    from each model's predicted regions (the active field model, else the zero-shot rules) are
    scored against the values and judged per field (:class:`FieldFigures`). None when the dataset
    has no validation page."""
    from core.scoring import aggregate, score_page
    from ml.fields.prefill import active_field_model
    from ml.fields.scoring import FieldScore
    from ml.neural.calibration import region_outcomes, reliability_table
    from ml.neural.combined import CombinedEngine
    from ml.training import data
    from ml.training.fields import score_read_page, truths_of_images

    pages = _by_page(manifest["val"])
    shas = sorted(pages)[: int(ctx.params["e2e_val_pages"] or 0)]
    if not shas:
        return None
    schema = list(ctx.project.store.fields())
    truths = truths_of_images(ctx.project.store, shas, schema)  # {} without a schema or field values
    field_model, field_model_name = active_field_model(ctx.project) if truths else (None, None)
    got: list[PageFigures] = []
    field_scores: list[FieldScore] = []
    field_pages = 0
    for n, (key, folder) in enumerate((("val", new_folder), ("active_val", cmp_folder))):
        # A model version's own detector (det/, with its thresholds) and calibration when it has them.
        engine = CombinedEngine({"neural": model_config(folder), "device": ctx.device, "threads": ctx.threads})
        scores, outcomes = [], []
        fscore, field_pages = FieldScore(), 0
        for i, sha in enumerate(shas):
            ctx.check()
            img = data.load_page(ctx.project.images.path(sha))
            if img is None:
                continue
            pred = engine.predict(img)
            regions = pred.regions
            ref = [{"box": s["points"], "text": s["text"]} for s in pages[sha]]
            scores.append(score_page([(r.points, r.text) for r in regions], [(r["box"], r["text"]) for r in ref]))
            outcomes += region_outcomes(regions, ref)
            if sha in truths:  # the same regions, read for the key fields as pre-fill reads them
                score_read_page(fscore, regions, pred.width, pred.height, schema, truths[sha], field_model)
                field_pages += 1
            ctx.report.progress("evaluate pages", n * len(shas) + i + 1, 2 * len(shas), model=key)
        summ = aggregate(scores).summary()
        got.append(PageFigures(summ["typing_saved_cs"], summ["typing_saved_ci"], summ["recall"],
                               reliability_table(outcomes)["ece"]))
        field_scores.append(fscore)
    fields = None
    if field_pages:
        fields = FieldFigures.judged(field_pages, field_model_name or ZERO_SHOT, field_scores[0].summary(),
                                     field_scores[1].summary())
    return EndToEnd(got[0], got[1], len(shas), fields)


def evaluate_pages(project: Project, manifest: dict, new_folder: Path, cmp_folder: Path, *, device: str = "auto",
                   threads: int = 0, report=None, cancel: dict | None = None) -> dict:
    """:func:`_end_to_end` outside a run (the PaddleOCR import compares its model as a run does):
    every validation page of ``manifest`` read end to end by both models; ``{}`` without one."""
    pages = len({s["image"] for s in manifest.get("val", [])})
    ctx = RunContext(project, None, {"e2e_val_pages": pages}, device, threads, Dist({}), report,  # type: ignore[arg-type]
                     cancel or {"flag": False}, time.monotonic())
    e = _end_to_end(ctx, manifest, new_folder, cmp_folder)
    return {} if e is None else e.to_dict()


def _parity(net, spec, rec, val_lines, threads: int) -> float:
    """Largest |torch - onnxruntime| logit difference on a few validation lines (or a blank line)."""
    import torch

    from ml.neural import runtime

    sess = runtime.create_session(spec.path, "cpu", threads)
    crops = [ln.crop for ln in val_lines[:8]] or [np.full((48, 200, 3), 255, np.uint8)]
    widths = [rec.scaled_width(c) for c in crops]
    x = rec.batch(crops, widths)
    net.eval()
    with torch.no_grad():
        want = net(torch.as_tensor(x)).numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max())
