"""Hardening of training runs: a planted checkpoint runs no code, a failure after training keeps the
run resumable, and a bad parameter is refused before any run is recorded.

The runs here are real (in this process, on a few receipt lines, without the detector, the
calibration or the end-to-end pages, so each takes seconds); a later stage is replaced only to
make it fail on purpose.
"""

from __future__ import annotations

import os

import pytest

from app.cli import main
from core import datasets, registry, runs
from ml.training import worker
from ml.training.params import DEFAULTS

from ..conftest import TINY_TRAINING as TINY

#: A run that is all recogniser: seconds on a CPU.
QUICK = {**TINY, "epochs": 1, "detector": False, "calib_pages": 0, "e2e_val_pages": 0}


class Planted:
    """What a checkpoint from someone else may hold: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _work(project, run_id) -> tuple[int, list[dict]]:
    lines: list[dict] = []
    return worker.run(project.root, run_id, emit=lines.append), lines


# -- 1. a checkpoint is data, never code ----------------------------------------------------------

def test_a_planted_checkpoint_is_refused_and_runs_nothing(labelled, tmp_path):
    import torch

    project, version = labelled
    run = runs.create(project.store, "lead", version.id, QUICK)
    folder = run.folder(project.root)
    folder.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    torch.save({"epoch": 1, "state": {}, "opt": {}, "sched": Planted(marker)}, folder / "checkpoint.pt")

    code, lines = _work(project, run.id)
    assert code == 1
    assert not marker.exists()  # nothing in the file was executed
    failed = runs.get(project.store, run.id)
    assert failed.status == "failed" and "checkpoint.pt" in failed.error and "safely" in failed.error
    assert "\n" not in failed.error and lines[-1] == {**lines[-1], "type": "error", "error": failed.error}
    assert failed.model_version_id is None and not (project.root / "models" / f"run-{run.id}").exists()


def test_a_damaged_checkpoint_fails_the_run_with_a_clear_message(labelled):
    project, version = labelled
    run = runs.create(project.store, "lead", version.id, QUICK)
    folder = run.folder(project.root)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"PK\x03\x04 half a checkpoint")

    code, _ = _work(project, run.id)
    failed = runs.get(project.store, run.id)
    assert code == 1 and "checkpoint.pt" in failed.error and "delete it" in failed.error


# -- 3. a failure after training keeps the run's folder -------------------------------------------

@pytest.mark.parametrize("failure, status, rc", [(RuntimeError("forced failure after training"), "failed", 1),
                                                  (worker.Cancelled(), "cancelled", 130)])
def test_a_failure_after_training_keeps_the_run_resumable(labelled, monkeypatch, failure, status, rc):
    project, version = labelled
    run = runs.create(project.store, "lead", version.id, QUICK)
    folder = run.folder(project.root)
    model = project.root / "models" / f"run-{run.id}"

    def fail(*args, **kwargs):
        assert (model / "model.onnx").is_file()  # exported already: the half-written model must go
        raise failure

    monkeypatch.setattr(worker, "_end_to_end", fail)
    code, _ = _work(project, run.id)
    assert code == rc and runs.get(project.store, run.id).status == status
    assert (folder / "checkpoint.pt").is_file() and (folder / "log.jsonl").is_file()
    assert not model.exists() and registry.versions(project.store) == []

    monkeypatch.undo()
    code, lines = _work(project, run.id)
    assert code == 0, lines[-3:]
    assert {"type": "resume", "from_epoch": 1}.items() <= next(m for m in lines if m["type"] == "resume").items()
    assert not [m for m in lines if m["type"] == "metric"]  # the epoch was not trained again
    done = runs.get(project.store, run.id)
    assert done.status == "done" and done.model_version_id is not None and (model / "model.onnx").is_file()
    assert done.log.count('"type": "start"') == 2
    # Its model.json lists every file of the folder with its sha256: it can be imported elsewhere.
    assert registry.verify_folder(model)["model.onnx"] == done.artifact_sha256


# -- 4. parameters are checked before a run is recorded -------------------------------------------

@pytest.fixture
def version(one_line_version):
    """A dataset version of one page with one line (enough to record runs; none is trained)."""
    return one_line_version


@pytest.mark.parametrize("argv, words", [
    (["--set", "lr=abc"], ["lr", "'abc'", "number"]),
    (["--set", "det_epochs=-3"], ["det_epochs", "-3", "integer from 1 to"]),
    (["--set", "lr=abc", "--set", "det_epochs=-3"], ["lr", "'abc'", "det_epochs", "-3"]),
    (["--epochs", "0"], ["epochs", "0", "integer from 1 to"]),
    (["--batch-size", "-2"], ["batch_size", "-2"]),
    (["--max-lines", "0"], ["max_lines", "0"]),
    (["--set", "detector=\"yes\""], ["detector", "'yes'", "true or false"]),
    (["--set", "epochs=2.5"], ["epochs", "2.5", "integer"]),
    (["--set", "epochs=true"], ["epochs", "True", "integer"]),
    (["--set", "lr=NaN"], ["lr", "nan"]),
    (["--set", "augment_copies=-1"], ["augment_copies", "-1"]),
    (["--set", "base_share=1.5"], ["base_share", "1.5", "number from 0 to 1"]),
    (["--set", "lexicon=2"], ["lexicon", "2", "true or false"]),
    (["--set", "freeze=\"head\""], ["freeze", "'head'", "backbone"]),
    (["--set", "nonsense=1"], ["nonsense"]),
])
def test_a_bad_parameter_is_refused_before_a_run_is_recorded(project, version, capsys, argv, words):
    code = main(["--user", "lead", "train", str(project.root), "--dataset", str(version.id), "--create-only", *argv])
    err = capsys.readouterr().err
    assert code == 1 and err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert all(w in err for w in words), err
    assert runs.list_runs(project.store) == []


def _more_work(project) -> None:
    """One more confirmed line: the next dataset version would differ from ``version``."""
    page = project.store.pages()[0]
    project.store.add_region("lead", page.id, [[0, 3], [5, 3], [5, 5], [0, 5]], text="WORLD")


def test_a_bad_parameter_creates_no_dataset_version_either(project, version, capsys):
    _more_work(project)
    code = main(["--user", "lead", "train", str(project.root), "--create-only", "--set", "lr=abc"])
    assert code == 1 and "lr" in capsys.readouterr().err
    assert [v.id for v in datasets.list_versions(project.store)] == [version.id] and runs.list_runs(project.store) == []


def test_good_parameters_are_recorded(labelled, capsys):
    project, version = labelled  # training and validation lines: a run that can be judged
    code = main(["--user", "lead", "train", str(project.root), "--dataset", str(version.id), "--create-only",
                 "--epochs", "2", "--lr", "3e-4", "--batch-size", "8", "--set", "det_epochs=2",
                 "--set", "max_lines=null", "--set", "augment_copies=0", "--set", "warmup_steps=0"])
    assert code == 0, capsys.readouterr().err
    (run,) = runs.list_runs(project.store)
    assert run.status == "queued" and run.params == {"epochs": 2, "lr": 3e-4, "batch_size": 8, "det_epochs": 2,
                                                     "max_lines": None, "augment_copies": 0, "warmup_steps": 0}


def test_the_defaults_pass_and_each_check_names_its_parameter():
    from ml.training.params import validate_params

    assert validate_params(DEFAULTS) == DEFAULTS
    assert validate_params({**DEFAULTS, "lr": 1, "max_lines": None, "val_lines": 10})["lr"] == 1
    for key, bad in (("seed", -1), ("threads", 1.0), ("parity_tol", 0), ("device", "tpu"), ("val_lines", 0),
                     ("det_max_pages", "all"), ("calib_pages", None), ("max_width", 8)):
        with pytest.raises(Exception, match=f"^training parameter {key} "):
            validate_params({**DEFAULTS, key: bad})


def test_the_training_screen_refuses_a_bad_parameter(qtbot, project, version, monkeypatch):
    from app.training import screen as screen_module

    shown = []
    monkeypatch.setattr(screen_module, "show_error", lambda parent, title, msg, *a, **k: shown.append(msg))
    _more_work(project)
    screen = screen_module.TrainingScreen(project, "lead")
    qtbot.addWidget(screen)
    screen.params_override = {"det_epochs": -3}
    screen.dataset.setCurrentIndex(0)  # a new dataset version: not made either
    assert screen.start_run() is None
    assert len(shown) == 1 and "det_epochs" in shown[0] and "-3" in shown[0]
    assert runs.list_runs(project.store) == [] and len(datasets.list_versions(project.store)) == 1
