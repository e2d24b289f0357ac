"""Training runs: the experiment record of every fine-tuning run (no torch, no Qt).

A run goes ``queued`` (created with its dataset version, base model and parameters) ->
``running`` (a worker process took it: pid, hardware, environment, code version) -> ``done``
(artifact, model version, verdict), ``failed`` (error; the log stays) or ``cancelled``. A failed
or cancelled run may be taken up again by a worker (resume from its checkpoint): it goes back to
``running`` and keeps its log and metrics.

The worker writes these rows itself (it is the one that knows), so a run is recorded even when
the window that started it is closed. When the worker dies without saying so (killed, out of
memory, power cut), :func:`reap` finds a ``running`` run whose process is gone on this host and
marks it failed with its log. The estimated cost is device-hours times a rate per device kind,
a project setting (``training_cost_per_hour``).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, registry
from .errors import NotFoundError, ProofdeskError
from .store import Store, now

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
RUNS_DIR = "runs"
#: Project setting: estimated cost per device-hour, by device kind (currency in ``training_currency``).
COST_SETTING = "training_cost_per_hour"
DEFAULT_RATES = {"cpu": 0.10, "cuda": 2.50}
#: Verdicts of a finished run (the second is not promoted by default).
BETTER = "better"
NOT_BETTER = "not better than the active model"


class RunStateError(ProofdeskError):
    """A run is not in a state that allows what was asked (e.g. resume a finished run)."""


@dataclass
class Run:
    id: int
    dataset_version_id: int
    base_model_version_id: int | None
    status: str
    params: dict
    code_version: str | None
    hardware: dict
    environment: dict
    created_at: str
    created_by: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    cost: float | None
    log: str
    metrics: list = field(default_factory=list)
    artifact_path: str | None = None
    artifact_sha256: str | None = None
    model_version_id: int | None = None
    verdict: str | None = None
    error: str | None = None
    pid: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def folder(self, root: Path) -> Path:
        """``runs/<id>/`` of the project: log.jsonl, checkpoints."""
        return Path(root) / RUNS_DIR / str(self.id)


def _row(r) -> Run:
    return Run(r["id"], r["dataset_version_id"], r["base_model_version_id"], r["status"], json.loads(r["params"]),
               r["code_version"], json.loads(r["hardware"] or "{}"), json.loads(r["environment"] or "{}"),
               r["created_at"], r["created_by"], r["started_at"], r["ended_at"], r["duration_s"], r["cost"],
               r["log"], json.loads(r["metrics"]), r["artifact_path"], r["artifact_sha256"], r["model_version_id"],
               r["verdict"], r["error"], r["pid"])


def get(store: Store, run_id: int) -> Run:
    row = store.run_row(run_id)
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    return _row(row)


def list_runs(store: Store) -> list[Run]:
    return [_row(r) for r in store.run_rows()]


def create(store: Store, user: str, dataset_version_id: int, params: dict,
           base_model_version_id: int | None = None) -> Run:
    """A queued run. ``params`` is stored as given (JSON)."""
    with store.transaction():
        if not store.dataset_version_exists(dataset_version_id):
            raise NotFoundError(f"no dataset version {dataset_version_id}")
        run_id = store.insert_queued_run(dataset_version_id, base_model_version_id, "queued",
                                         json.dumps(params, sort_keys=True), now(), user)
    return get(store, run_id)


def code_version(repo: Path | None = None) -> str:
    """``<package version>`` plus ``+g<commit>`` (and ``.dirty``) when running from a git checkout."""
    version = __version__
    repo = repo or Path(__file__).resolve().parents[1]
    if not (repo / ".git").exists():
        return version  # the frozen app, an installed wheel
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if dirty else ''}" if commit else version


def mark_running(store: Store, run_id: int, pid: int, hardware: dict, environment: dict,
                 code: str | None = None) -> Run:
    """A worker took the run (first start or resume). Refuses a run that is done or held by a live worker."""
    with store.transaction():
        row = store.run_start_state(run_id)
        if row is None:
            raise NotFoundError(f"no training run {run_id}")
        if row["status"] == "done":
            raise RunStateError(f"run {run_id} is already done")
        held = json.loads(row["hardware"] or "{}").get("host")
        if (row["status"] == "running" and row["pid"] and row["pid"] != pid and held == hardware.get("host")
                and pid_alive(row["pid"])):
            raise RunStateError(f"run {run_id} is running in process {row['pid']}")
        store.set_run_running(run_id, pid, json.dumps(hardware), json.dumps(environment), code or code_version(),
                              now())
    return get(store, run_id)


def append_log(store: Store, run_id: int, line: str) -> None:
    store.append_run_log(run_id, line.rstrip("\n") + "\n")


def add_metric(store: Store, run_id: int, metric: dict) -> None:
    """One epoch's figures; an epoch logged again (after a resume) replaces the earlier entry."""
    with store.transaction():
        stored = store.run_metrics(run_id)
        if stored is None:
            raise NotFoundError(f"no training run {run_id}")
        metrics = [m for m in json.loads(stored) if m.get("epoch") != metric.get("epoch")]
        metrics.append(metric)
        metrics.sort(key=lambda m: m.get("epoch", 0))
        store.set_run_metrics(run_id, json.dumps(metrics))


def rates(store: Store) -> dict:
    return {**DEFAULT_RATES, **(store.get_setting(COST_SETTING, {}) or {})}


def estimate_cost(store: Store, device: str, seconds: float) -> float:
    """Device-hours times the project's rate for that kind of device (``cuda`` or ``cpu``)."""
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return round(seconds / 3600.0 * float(rates(store).get(kind, 0.0)), 6)


def _close(store: Store, run_id: int, status: str, duration_s: float | None, device: str | None, **cols) -> None:
    row = store.run_duration_row(run_id)
    if row is None:
        raise NotFoundError(f"no training run {run_id}")
    # Durations of resumed attempts add up.
    total = (row["duration_s"] or 0.0) + (duration_s or 0.0)
    cost = estimate_cost(store, device or "cpu", total)
    store.close_run(run_id, status, now(), round(total, 3), cost, cols)


@dataclass(frozen=True)
class Artifact:
    """A model a run made, to register with the run's end: its version's name, folder (relative to
    the project), sha256 (of the task's main file, ``registry.MAIN_FILE``), metrics and task.
    ``better``: the task's own verdict where the task judges itself (fields:
    ``ml.training.fields.judge``); None for the OCR, judged here by :func:`ocr_better`.
    ``parent_id``: the version it was trained from or compared with (None: the run's base model)."""

    name: str
    path: str
    sha256: str
    metrics: dict
    task: str = registry.RECOGNITION
    better: bool | None = None
    parent_id: int | None = None


def ocr_better(metrics: dict) -> bool:
    """The OCR rule, on the figures people feel:

    - strictly lower validation CER than the compared model (``val_cer`` < ``active_val_cer``), or the
      same CER (a run that kept the base model's recogniser weights, ``keep_recognizer``, reads the
      line crops as the shipped model does) and more typing saved on the validation pages read
      end to end (its detector, calibration, lexicon or case convention read the pages better);
    - where the validation pages were also read end to end, no less typing saved there,
      case-sensitive (``val_typing_saved``) nor case-insensitive (``val_typing_saved_ci``): a run
      that only learned a project's capitals, reading worse otherwise, is not better;
    - where some of those pages have people's field values (``val_field_pages``), the key fields
      read from each model's regions (``ml.training.worker.FieldFigures``): no field lost beyond
      its noise (``val_fields_lost`` empty: ``ml.training.fields.judge``), and the overall field
      F1 (``val_field_f1``) not below the compared model's (``active_val_field_f1``) by more than
      its noise (``val_field_f1_noise``; an F1 of None, nothing predicted and nothing expected,
      counts as 1 as the fields' rule counts it). A field gained is not asked for.

    No field figures (no schema, no validation page with field values): the first two only."""
    new, old = metrics.get("val_cer"), metrics.get("active_val_cer")
    saved, saved_before = metrics.get("val_typing_saved"), metrics.get("active_val_typing_saved")
    pages_better = saved is not None and saved_before is not None and saved > saved_before
    better = new is not None and (old is None or new < old or (new == old and pages_better))
    for key in ("val_typing_saved", "val_typing_saved_ci"):
        saved, saved_before = metrics.get(key), metrics.get(f"active_{key}")
        if saved is not None and saved_before is not None and saved < saved_before:
            better = False
    if metrics.get("val_field_pages"):
        if metrics.get("val_fields_lost"):
            better = False
        f1, f1_before = metrics.get("val_field_f1"), metrics.get("active_val_field_f1")
        drop = (1.0 if f1_before is None else float(f1_before)) - (1.0 if f1 is None else float(f1))
        if drop > float(metrics.get("val_field_f1_noise") or 0.0):
            better = False
    return better


def finish(store: Store, user: str, run_id: int, artifact_path: str, artifact_sha256: str, metrics: dict,
           name: str, duration_s: float, device: str, hardware: dict | None = None) -> tuple[Run, registry.ModelVersion]:
    """The run made an OCR model: register it (never promoted here) and close the run with its verdict.

    ``metrics`` must hold ``val_cer`` (the new model) and ``active_val_cer`` (the model it is
    compared with, on the same validation lines): :func:`ocr_better` is the verdict.
    """
    run, versions = finish_models(store, user, run_id, [Artifact(name, artifact_path, artifact_sha256, metrics)],
                                  duration_s, device, hardware)
    return run, versions[0]


def finish_models(store: Store, user: str, run_id: int, artifacts: list[Artifact], duration_s: float, device: str,
                  hardware: dict | None = None) -> tuple[Run, list[registry.ModelVersion]]:
    """The run made these models (the OCR's first when it made one): register them all (never
    promoted here) and close the run, in one transaction. The run's verdict is ``better`` only
    when every model is (the OCR by :func:`ocr_better`, the fields by their own ``better``); its
    artifact and model version are the first model's, the others name the run (``run_id``)."""
    if not artifacts:
        raise ProofdeskError(f"run {run_id} made no model to register")
    run = get(store, run_id)
    better = all(ocr_better(a.metrics) if a.better is None else a.better for a in artifacts)
    verdict = BETTER if better else NOT_BETTER
    with store.transaction():
        versions = [registry.register(store, user, a.name, a.task, a.path, a.sha256,
                                      {**a.metrics, "dataset_version_id": run.dataset_version_id}, run_id=run_id,
                                      parent_id=a.parent_id if a.task != registry.RECOGNITION
                                      else run.base_model_version_id)
                    for a in artifacts]
        extra = {"hardware": json.dumps(hardware)} if hardware is not None else {}
        first = artifacts[0]
        _close(store, run_id, "done", duration_s, device, artifact_path=first.path,
               artifact_sha256=first.sha256, model_version_id=versions[0].id, verdict=verdict, pid=None, **extra)
    return get(store, run_id), versions


def fail(store: Store, run_id: int, error: str, duration_s: float | None = None, device: str | None = None,
         log: str | None = None) -> Run:
    """Mark a run failed (the log stays; ``log`` is appended to it). Nothing else changes."""
    with store.transaction():
        if log:
            store.append_run_log(run_id, log.rstrip("\n") + "\n")
        _close(store, run_id, "failed", duration_s, device, error=error, pid=None)
    return get(store, run_id)


def cancel(store: Store, run_id: int, duration_s: float | None = None, device: str | None = None) -> Run:
    """Mark a queued or running run cancelled (a finished one is left as it is)."""
    with store.transaction():
        status = store.run_status(run_id)
        if status is None:
            raise NotFoundError(f"no training run {run_id}")
        if status in ("queued", "running"):
            _close(store, run_id, "cancelled", duration_s, device, pid=None)
    return get(store, run_id)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # not Linux: kill(0) said it exists


def host() -> str:
    return socket.gethostname() or platform.node()


def reap(store: Store) -> list[Run]:
    """Mark failed every ``running`` run of this host whose worker process is gone. Returns them."""
    out = []
    for r in store.running_run_rows():
        if json.loads(r["hardware"] or "{}").get("host", host()) != host():
            continue  # a worker on another machine: not ours to judge
        if r["pid"] and pid_alive(r["pid"]):
            continue
        out.append(fail(store, r["id"], f"the worker process ({r['pid']}) ended without finishing the run"))
    return out


def import_run(store: Store, root: Path, user: str, copy_root: Path, run_id: int) -> tuple[Run, registry.ModelVersion]:
    """:func:`import_run_models`, and the run's first model version (the OCR's when it made both)."""
    run, versions = import_run_models(store, root, user, copy_root, run_id)
    return run, versions[0]


def import_run_models(store: Store, root: Path, user: str, copy_root: Path,
                      run_id: int) -> tuple[Run, list[registry.ModelVersion]]:
    """Bring back a run done elsewhere (a GPU machine) against a copy of this project, with every
    model it made: the OCR's and the key fields' (``registry.of_run``), each registered under its
    own task, the run's first model first.

    Copies each model folder into ``models/`` and adds the run's record and the model versions
    here, under new ids; the dataset version must be this project's too (same hash). No model is
    promoted.

    Nothing of the copy is taken on trust: it may have come from someone else, and its records
    name folders. A folder that is not a project is refused before its database is opened (opening
    would create one), and the database is opened read-only. Each model version's name must be a
    plain name (``registry.check_name``) and its folder ``models/<name>`` of the copy, a real folder
    (no link) holding exactly the files its ``model.json`` lists, each with its sha256, its main
    file's (``registry.MAIN_FILE``) the one the run recorded (``registry.verify_folder``). The
    files are copied (and hashed again as they are read) into hidden folders of this project's
    ``models/``, renamed into place, and the records written only then, all in one transaction:
    a refused import, of any of the run's models, leaves both projects as they were.
    """
    import re
    import shutil

    from .errors import ProjectError

    root, copy_root = Path(root).resolve(), Path(copy_root)
    if not (copy_root / "proofdesk.db").is_file():
        raise ProjectError(f"{copy_root} is not a Proofdesk project (no proofdesk.db)")
    copy_root = copy_root.resolve()
    other = Store(copy_root / "proofdesk.db", readonly=True)
    try:
        run = get(other, run_id)
        if run.status != "done" or run.model_version_id is None:
            raise RunStateError(f"run {run_id} of {copy_root} is {run.status}: only a finished run can be imported")
        first = registry.get(other, run.model_version_id)
        made = [first] + [v for v in registry.of_run(other, run_id) if v.id != first.id]
        # What each version was trained from or compared with, by sha256 (its id here differs).
        parents_sha = {v.id: (registry.get(other, v.parent_id).sha256 if v.parent_id is not None else None)
                       for v in made}
        ds = other.dataset_version_hash(run.dataset_version_id)
        base_sha = (registry.get(other, run.base_model_version_id).sha256
                    if run.base_model_version_id is not None else None)
    finally:
        other.close()
    if not ds:
        raise NotFoundError(f"run {run_id} of {copy_root} names a dataset version the copy does not have")
    models_there = copy_root / "models"
    here = store.dataset_version_id_of_hash(ds)
    if here is None:
        raise NotFoundError(f"dataset version {ds[:12]} of run {run_id} is not in this project")
    models = root / "models"
    if models.is_symlink() or (models.exists() and not models.is_dir()):
        raise ProofdeskError(f"{models} is not a folder of this project (a link?): nothing imported")
    taken = {v.name for v in registry.versions(store)}
    shas: set[str] = set()
    plan = []  # (version in the copy, its folder there, its files, its name here)
    for mv in made:
        try:
            registry.check_name(mv.name)
        except ProofdeskError as exc:
            raise ProofdeskError(f"run {run_id} of {copy_root}: {exc}") from None
        if mv.path != f"models/{mv.name}":
            raise ProofdeskError(f"run {run_id} of {copy_root}: its model's path {mv.path[:80]!r} is not "
                                 f"models/{mv.name}, the folder of that model version in the copy")
        src = models_there / mv.name
        if models_there.is_symlink() or src.is_symlink() or not src.resolve().is_relative_to(copy_root):
            raise ProofdeskError(f"{src} is (or is in) a symbolic link: a model folder holds plain files only")
        listed = registry.verify_folder(src)
        main_file = registry.MAIN_FILE.get(mv.task, "model.onnx")
        if listed.get(main_file) != mv.sha256:
            raise ProofdeskError(f"{src / main_file} does not match the sha256 its run recorded")
        if store.model_sha_registered(mv.sha256) or mv.sha256 in shas:
            what = "model" if len(made) == 1 else f"{mv.task} model"
            raise RunStateError(f"the {what} of run {run_id} ({mv.sha256[:12]}) is here already: imported before?")
        shas.add(mv.sha256)
        name = mv.name
        if name in taken or os.path.lexists(models / name):
            # The copy's host names it apart (its characters made safe, the whole cut to a name's length).
            where = re.sub(r"[^A-Za-z0-9._-]+", "-", str(run.hardware.get("host") or "")).strip("-._") or "imported"
            name = registry.check_name(f"{mv.name}-{where}"[:64].rstrip("-._"))
        if name in taken or os.path.lexists(models / name):
            raise RunStateError(f"a model version named {name} is here already")
        taken.add(name)
        plan.append((mv, src, listed, name))
    created = not models.exists()
    placed: list[Path] = []
    tmps = [models / f".{name}.import" for *_, name in plan]
    try:
        models.mkdir(exist_ok=True)
        for (_mv, src, listed, _name), tmp in zip(plan, tmps):
            shutil.rmtree(tmp, ignore_errors=True)  # what an import killed half-way left
            registry.copy_folder(src, tmp, listed)
        for (*_, name), tmp in zip(plan, tmps):
            os.rename(tmp, models / name)
            placed.append(models / name)
    except BaseException:
        for folder in tmps + placed:
            shutil.rmtree(folder, ignore_errors=True)
        if created:
            shutil.rmtree(models, ignore_errors=True)
        raise
    parent_id = store.first_model_version_id_of_sha(base_sha) if base_sha else None
    first_name = plan[0][3]
    versions = []
    try:
        with store.transaction():
            new_id = store.insert_finished_run(
                dataset_version_id=here, base_model_version_id=parent_id, status="done",
                params=json.dumps(run.params, sort_keys=True), code_version=run.code_version,
                hardware=json.dumps(run.hardware), environment=json.dumps(run.environment),
                created_at=run.created_at, created_by=run.created_by, started_at=run.started_at,
                ended_at=run.ended_at, duration_s=run.duration_s, cost=run.cost,
                log=run.log + f"imported by {user} at {now()} from {copy_root} (run {run_id} there)\n",
                metrics=json.dumps(run.metrics), artifact_path=f"models/{first_name}", artifact_sha256=first.sha256,
                verdict=run.verdict)
            from .project import publish

            for mv, _src, _listed, name in plan:
                publish(store, root, f"models/{name}")  # a team project: the version goes to the server
                if mv.task == registry.RECOGNITION:
                    parent = parent_id
                else:  # the version it was compared with, when this project has it too
                    psha = parents_sha.get(mv.id)
                    parent = store.first_model_version_id_of_sha(psha) if psha else None
                versions.append(registry.register(store, user, name, mv.task, f"models/{name}", mv.sha256,
                                                  {**mv.metrics, "imported_from": str(copy_root)}, run_id=new_id,
                                                  parent_id=parent))
            store.set_run_model_version(new_id, versions[0].id)
    except BaseException:
        for folder in placed:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return get(store, new_id), versions
