"""The training-run record without a worker: states, metrics, cost, lost workers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core import registry, runs
from core.errors import NotFoundError

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


@pytest.fixture
def version(one_line_version):
    return one_line_version


def test_run_lifecycle_cost_and_verdict(project, version):
    store = project.store
    store.set_setting(runs.COST_SETTING, {"cpu": 3.6})
    run = runs.create(store, "lead", version.id, {"epochs": 2})
    assert run.status == "queued" and run.params == {"epochs": 2}
    runs.mark_running(store, run.id, 12345, {"host": runs.host(), "device": "cpu"}, {"python": "3.11"}, "0.1.0+gabc")
    runs.append_log(store, run.id, "hello")
    runs.add_metric(store, run.id, {"epoch": 1, "loss": 2.0, "val_cer": 0.2})
    runs.add_metric(store, run.id, {"epoch": 1, "loss": 1.5, "val_cer": 0.1})  # epoch 1 again (a resume)
    run, mv = runs.finish(store, "lead", run.id, "models/run-1", "f" * 64, {"val_cer": 0.05, "active_val_cer": 0.1},
                          "run-1", 100.0, "cpu")
    assert run.status == "done" and run.verdict == runs.BETTER and run.model_version_id == mv.id
    assert run.metrics == [{"epoch": 1, "loss": 1.5, "val_cer": 0.1}] and run.log == "hello\n"
    assert run.cost == pytest.approx(0.1) and run.duration_s == 100.0  # 100 s at 3.6 an hour
    assert mv.metrics["dataset_version_id"] == version.id and registry.active(store) is None
    with pytest.raises(runs.RunStateError):
        runs.mark_running(store, run.id, 1, {"host": runs.host()}, {})

    other = runs.create(store, "lead", version.id, {})
    other, _ = runs.finish(store, "lead", other.id, "models/run-2", "0" * 64, {"val_cer": 0.2, "active_val_cer": 0.1},
                           "run-2", 1.0, "cuda")
    assert other.verdict == runs.NOT_BETTER and other.cost == pytest.approx(1.0 / 3600 * runs.DEFAULT_RATES["cuda"], abs=1e-6)
    # Lower CER but less typing saved on the validation pages read end to end: not better.
    third = runs.create(store, "lead", version.id, {})
    third, _ = runs.finish(store, "lead", third.id, "models/run-3", "1" * 64, {
        "val_cer": 0.05, "active_val_cer": 0.1, "val_typing_saved": 0.90, "active_val_typing_saved": 0.92},
        "run-3", 1.0, "cpu")
    assert third.verdict == runs.NOT_BETTER
    fourth = runs.create(store, "lead", version.id, {})
    fourth, _ = runs.finish(store, "lead", fourth.id, "models/run-4", "2" * 64, {
        "val_cer": 0.05, "active_val_cer": 0.1, "val_typing_saved": 0.93, "active_val_typing_saved": 0.92},
        "run-4", 1.0, "cpu")
    assert fourth.verdict == runs.BETTER
    # More typing saved case-sensitive (a project's capitals learned) but less ignoring case: the
    # fine-tuned OCR of sroie-dev's folds, which read worse apart from the capitals: not better.
    fifth = runs.create(store, "lead", version.id, {})
    fifth, _ = runs.finish(store, "lead", fifth.id, "models/run-5", "3" * 64, {
        "val_cer": 0.03, "active_val_cer": 0.25, "val_typing_saved": 0.92, "active_val_typing_saved": 0.70,
        "val_typing_saved_ci": 0.923, "active_val_typing_saved_ci": 0.930}, "run-5", 1.0, "cpu")
    assert fifth.verdict == runs.NOT_BETTER
    # The same crops' CER (the base model's recogniser weights kept) and the pages read end to end
    # better (its detector): better. The same CER and nothing read end to end: nothing gained.
    same = {"val_cer": 0.0011, "active_val_cer": 0.0011}
    sixth = runs.create(store, "lead", version.id, {})
    sixth, _ = runs.finish(store, "lead", sixth.id, "models/run-6", "4" * 64, {
        **same, "val_typing_saved": 0.946, "active_val_typing_saved": 0.938, "val_typing_saved_ci": 0.946,
        "active_val_typing_saved_ci": 0.938}, "run-6", 1.0, "cpu")
    assert sixth.verdict == runs.BETTER
    assert not runs.ocr_better(same)
    assert not runs.ocr_better({**same, "val_typing_saved": 0.938, "active_val_typing_saved": 0.938})
    assert not runs.ocr_better({**same, "val_cer": 0.0012, "val_typing_saved": 0.95, "active_val_typing_saved": 0.938})
    with pytest.raises(NotFoundError):
        runs.create(store, "lead", 999, {})


def test_reap_marks_a_run_failed_when_its_worker_is_gone(project, version):
    store = project.store
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = runs.create(store, "lead", version.id, {})
    runs.mark_running(store, dead.id, gone.pid, {"host": runs.host()}, {})
    alive = runs.create(store, "lead", version.id, {})
    import os

    runs.mark_running(store, alive.id, os.getpid(), {"host": runs.host()}, {})
    elsewhere = runs.create(store, "lead", version.id, {})
    runs.mark_running(store, elsewhere.id, gone.pid, {"host": "gpu-box-elsewhere"}, {})
    assert [r.id for r in runs.reap(store)] == [dead.id]
    assert runs.get(store, dead.id).status == "failed" and runs.get(store, alive.id).status == "running"
    assert runs.get(store, elsewhere.id).status == "running"
    cancelled = runs.cancel(store, alive.id)
    assert cancelled.status == "cancelled" and runs.cancel(store, dead.id).status == "failed"
    assert "+g" in runs.code_version() or runs.code_version() == "0.1.0"


@pytest.mark.folder_only
def test_import_a_run_done_on_a_copy_of_the_project(project, version, tmp_path):
    import hashlib
    import shutil

    from core.project import Project

    project.store.close()
    shutil.copytree(project.root, tmp_path / "copy")  # what goes to the GPU machine
    copy = Project.open(tmp_path / "copy")
    run = runs.create(copy.store, "lead", version.id, {"epochs": 1, "device": "cuda"})
    runs.mark_running(copy.store, run.id, 1, {"host": "gpu-box", "device": "cuda", "gpu": "H100"}, {"torch": "x"})
    folder = copy.root / "models" / "run-1"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"weights")
    (folder / "model.json").write_text("{}")
    registry.write_manifest(folder)  # what the worker does last: model.json lists the folder's files
    sha = hashlib.sha256(b"weights").hexdigest()
    runs.finish(copy.store, "lead", run.id, "models/run-1", sha, {"val_cer": 0.01, "active_val_cer": 0.2}, "run-1",
                42.0, "cuda")
    copy.close()

    here = Project.open(project.root)
    try:
        got, mv = runs.import_run(here.store, here.root, "lead", tmp_path / "copy", run.id)
        assert got.status == "done" and got.hardware["gpu"] == "H100" and got.model_version_id == mv.id
        assert mv.sha256 == sha and mv.name == "run-1" and (here.root / "models" / "run-1" / "model.onnx").exists()
        assert registry.active(here.store) is None and "imported by lead" in got.log
        with pytest.raises(runs.RunStateError):  # the same run twice
            runs.import_run(here.store, here.root, "lead", tmp_path / "copy", run.id)
        (tmp_path / "copy" / "models" / "run-1" / "model.onnx").write_bytes(b"tampered")
        with pytest.raises(runs.ProofdeskError, match="sha256"):
            runs.import_run(here.store, here.root, "lead", tmp_path / "copy", run.id)
    finally:
        here.close()
