"""Short real training runs on the CPU: the records, the hashes, the JSON lines, resume after a kill,
and a failed run that changes no model. Each run is a real child process on a few receipt lines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from app.cli import main
from app.training.command import worker_command, worker_env
from core import registry, runs
from ml.neural.models import BASE_MODEL, load_spec, model_dir, sha256_file

from ..conftest import TINY_TRAINING as TINY


def _run(project, version, **params) -> runs.Run:
    return runs.create(project.store, "lead", version.id, {**TINY, **params})


def _lines(out: str) -> list[dict]:
    return [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]


def test_short_run_records_hashes_and_json_lines(labelled, capsys):
    project, version = labelled
    root = str(project.root)
    code = main(["--user", "lead", "train", root, "--dataset", str(version.id), "--epochs", "2", "--max-lines", "12",
                 "--batch-size", "6", "--json"])
    lines = _lines(capsys.readouterr().out)
    assert code == 0, lines[-3:]
    kinds = [m["type"] for m in lines]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    assert [m["epoch"] for m in lines if m["type"] == "metric"] == [1, 2]
    assert all(isinstance(m["loss"], float) for m in lines if m["type"] == "metric")
    data = next(m for m in lines if m["type"] == "data")
    assert data["dataset_hash"] == version.hash and data["train_lines"] == 12 and data["augmented"] == 6
    done = lines[-1]

    run = runs.get(project.store, done["run"])
    assert run.status == "done" and run.dataset_version_id == version.id and run.error is None
    assert run.params["epochs"] == 2 and [m["epoch"] for m in run.metrics] == [1, 2]
    assert run.hardware["host"] == runs.host() and run.hardware["device"] == "cpu" and run.hardware["peak_rss_mb"] > 0
    assert run.environment["torch"] and run.environment["onnxruntime"] and run.environment["python"]
    assert run.code_version.startswith("0.1.0")
    assert run.started_at and run.ended_at and run.duration_s > 0 and run.cost >= 0
    import datetime as dt

    wall = (dt.datetime.fromisoformat(run.ended_at) - dt.datetime.fromisoformat(run.started_at)).total_seconds()
    # The whole run, export and evaluation included (and the worker's start before it was marked running).
    assert wall - 1.0 <= run.duration_s <= wall + 10.0
    # The artifact: the file, model.json and the registry agree on its sha256.
    onnx_path = project.root / run.artifact_path / "model.onnx"
    assert run.artifact_sha256 == sha256_file(onnx_path) == load_spec(project.root / run.artifact_path).sha256
    mv = registry.get(project.store, run.model_version_id)
    assert mv.sha256 == run.artifact_sha256 and mv.run_id == run.id and mv.path == run.artifact_path
    assert mv.metrics["val_cer"] == done["val_cer"] and "active_val_cer" in mv.metrics
    assert mv.metrics["parity_max_abs_diff"] < 1e-2
    assert run.verdict in (runs.BETTER, runs.NOT_BETTER)
    assert registry.active(project.store) is None  # registered, never promoted by the run
    # The same lines are in the run's folder and (all but progress) in the record's log.
    folder = run.folder(project.root)
    on_disk = [json.loads(ln) for ln in (folder / "log.jsonl").read_text().splitlines()]
    assert [m["type"] for m in on_disk if m["type"] != "progress"] == [k for k in kinds if k != "progress"]
    assert '"type": "metric"' in run.log and (folder / "checkpoint.pt").exists()
    # The detector was fine-tuned on the training pages and travels with the recogniser.
    det = next(m for m in lines if m["type"] == "detector")
    assert det["resumed"] is False and det["det_pages"] == 2 and len(det["det_loss"]) == det["det_epochs"]
    assert det["det_loss"][-1] < det["det_loss"][0] and det["det_parity_max_abs_diff"] < 1e-3
    det_spec = load_spec(project.root / run.artifact_path / "det")  # its sha256 checks out
    assert det_spec.raw["postprocess"]["thresh"] == det["det_thresh"] and det_spec.sha256 != load_spec(
        model_dir(BASE_MODEL, "det")).sha256
    # The validation page read end to end by the new model and by the shipped one.
    for key in ("val_typing_saved", "active_val_typing_saved", "val_recall", "active_val_recall"):
        assert 0.0 <= mv.metrics[key] <= 1.0, key
    assert mv.metrics["val_pages"] == 1 and 0.0 <= mv.metrics["val_ece"] <= 1.0
    # The combined engine's calibration, refitted for the new model on the training pages, is in
    # its folder, and the combined engine reads with it.
    assert mv.metrics["calibration_regions"] > 0 and mv.metrics["calibration_pages"] == 2
    from ml.neural.combined import CombinedEngine
    from ml.training.active import model_config

    folder = project.root / run.artifact_path
    assert CombinedEngine({"neural": model_config(folder)}).calibration_path == folder / "calibration.json"
    # The words of the training pages (on both of them) are the model version's lexicon, listed
    # with its other files; its recogniser reads with it.
    from ml.neural.lexicon import Lexicon
    from ml.neural.recognizer import Recognizer

    lexicon = Lexicon.load(folder)
    assert next(m for m in lines if m["type"] == "lexicon")["words"] == len(lexicon) == mv.metrics["lexicon_words"] > 0
    assert "lexicon.json" in registry.verify_folder(folder)
    texts = [[s["text"] for s in manifest_page] for manifest_page in _train_pages(project, version)]
    assert all(sum(w in " ".join(t).upper() for t in texts) == 2 for w in lexicon.pages)
    assert Recognizer(load_spec(folder), run=lambda x: x).lexicon == lexicon


def _train_pages(project, version) -> list[list[dict]]:
    from core import datasets

    pages: dict[str, list[dict]] = {}
    for s in datasets.load_manifest(project.root, version)["train"]:
        pages.setdefault(s["image"], []).append(s)
    return list(pages.values())


def test_resume_after_kill_continues_from_the_checkpoint(labelled):
    project, version = labelled
    run = _run(project, version, epochs=3, synthetic_share=0.25)  # synthetic lines on this path
    proc = subprocess.Popen(worker_command(project.root, run.id), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=worker_env())
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["type"] == "metric":
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-run, right after epoch 1's checkpoint
    proc.wait()
    assert seen[-1]["epoch"] == 1
    assert runs.get(project.store, run.id).status == "running"  # nobody closed it...
    assert [r.id for r in runs.reap(project.store)] == [run.id]  # ...until its dead worker is noticed
    failed = runs.get(project.store, run.id)
    assert failed.status == "failed" and "ended without finishing" in failed.error and '"type": "metric"' in failed.log

    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = _lines(out.stdout)
    assert {"type": "resume", "from_epoch": 1}.items() <= next(m for m in lines if m["type"] == "resume").items()
    assert next(m for m in lines if m["type"] == "detector")["resumed"] is True  # trained before the kill
    assert [m["epoch"] for m in lines if m["type"] == "metric"] == [2, 3]  # epoch 1 is not done again
    done = runs.get(project.store, run.id)
    assert done.status == "done" and [m["epoch"] for m in done.metrics] == [1, 2, 3]
    assert done.log.count('"type": "start"') == 2 and done.model_version_id is not None


def test_failed_run_changes_no_model_and_keeps_its_log(labelled, tmp_path):
    project, version = labelled
    store = project.store
    # A base model version whose weights were damaged on disk after it was registered.
    broken = project.root / "models" / "broken"
    shutil.copytree(model_dir(BASE_MODEL, "rec-latin"), broken)
    base = registry.register(store, "lead", "broken", "recognition", "models/broken", sha256_file(broken / "model.onnx"))
    registry.promote(store, "lead", base)
    with open(broken / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 64)
    before = [v.id for v in registry.versions(store)], registry.history(store)
    run = runs.create(store, "lead", version.id, {**TINY, "epochs": 1}, base.id)

    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 1
    lines = _lines(out.stdout)
    assert lines[-1]["type"] == "error" and "corrupt" in lines[-1]["error"]
    failed = runs.get(store, run.id)
    assert failed.status == "failed" and "corrupt" in failed.error
    assert "Traceback" in failed.log and '"type": "start"' in failed.log
    assert failed.model_version_id is None and failed.artifact_path is None
    assert ([v.id for v in registry.versions(store)], registry.history(store)) == before
    assert registry.active(store).id == base.id
    assert not (project.root / "models" / f"run-{run.id}").exists()


def test_ctrl_c_on_proofdesk_train_cancels_the_run(labelled):
    import sys

    project, version = labelled
    cmd = [sys.executable, "-m", "app.cli", "--user", "lead", "train", str(project.root), "--dataset", str(version.id),
           "--epochs", "50", "--max-lines", "12", "--batch-size", "6", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env())
    for line in proc.stdout:
        if json.loads(line).get("stage") == "train":
            break
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert '"type": "cancelled"' in rest
    (run,) = runs.list_runs(project.store)
    assert run.status == "cancelled" and run.ended_at and run.model_version_id is None
    assert registry.versions(project.store) == []


def test_engine_config_reads_with_the_active_model(project):
    from ml.training.active import engine_config

    assert engine_config(project, "neural") is None  # nothing promoted: the shipped model
    v = registry.register(project.store, "lead", "run-9", "recognition", "models/run-9", "a" * 64)
    registry.promote(project.store, "lead", v)
    folder = str(project.root / "models" / "run-9")
    assert engine_config(project, "neural") == {"rec": folder}
    assert engine_config(project, "combined", {"min_conf": 0.1}) == {"min_conf": 0.1, "neural": {"rec": folder}}
    assert engine_config(project, "classical", {"x": 1}) == {"x": 1}
    # A version with its own detector: the engines use it, with the thresholds it was exported with;
    # thresholds the caller gives win.
    det = project.root / "models" / "run-9" / "det"
    det.mkdir(parents=True)
    (det / "model.json").write_text(json.dumps({"postprocess": {"thresh": 0.6, "box_thresh": 0.7}}))
    want = {"rec": folder, "det": str(det), "detect": {"thresh": 0.6, "box_thresh": 0.7}}
    assert engine_config(project, "neural") == want
    assert engine_config(project, "combined", {"neural": {"detect": {"thresh": 0.5}}}) == {
        "neural": {**want, "detect": {"thresh": 0.5, "box_thresh": 0.7}}}


def test_two_processes_under_torchrun_train_one_model(labelled, capsys):
    """Scale-out: the worker under `torchrun` (DDP; gloo on this CPU machine, NCCL on GPUs) trains
    one model from two processes; rank 0 alone reports, records, exports and registers it."""
    import sys
    from pathlib import Path

    from ml.training.worker import Dist

    project, version = labelled
    # The run is recorded by `proofdesk train --create-only`, which prints its id and starts nothing.
    code = main(["--user", "lead", "train", str(project.root), "--dataset", str(version.id), "--epochs", "2",
                 "--max-lines", "24", "--batch-size", "6", "--set", "det_epochs=1", "--set", "calib_pages=0",
                 "--set", "e2e_val_pages=0", "--create-only"])  # 36 lines with copies: 3 batches each
    assert code == 0
    run = max(runs.list_runs(project.store), key=lambda r: r.id)
    assert run.status == "queued" and run.params["max_lines"] == 24 and capsys.readouterr().out.strip() == str(run.id)
    assert run.params["det_epochs"] == 1 and run.params["e2e_val_pages"] == 0
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "ml.training", str(project.root), str(run.id)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=worker_env(), timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    lines = _lines(out.stdout)
    kinds = [m["type"] for m in lines]
    assert kinds.count("start") == 1 and kinds.count("done") == 1  # one voice: rank 0's
    assert next(m for m in lines if m["type"] == "start")["processes"] == 2
    assert [m["epoch"] for m in lines if m["type"] == "metric"] == [1, 2]
    done = runs.get(project.store, run.id)
    assert done.status == "done" and [m["epoch"] for m in done.metrics] == [1, 2]
    assert done.hardware["processes"] == 2 and done.log.count('"type": "start"') == 1
    mv = registry.get(project.store, done.model_version_id)
    assert mv.sha256 == sha256_file(project.root / mv.path / "model.onnx")
    assert not list(done.folder(project.root).glob("backbone*.onnx"))  # every process cleaned up
    # Rank 0 trained the detector while the other waited; the model version has it. As asked: no
    # calibration refit, no end-to-end pass.
    assert load_spec(project.root / mv.path / "det").raw["postprocess"]["thresh"] == mv.metrics["det_thresh"]
    assert not (project.root / mv.path / "calibration.json").exists() and "val_typing_saved" not in mv.metrics
    assert main(["--user", "lead", "train", str(project.root), "--set", "no_such=1", "--create-only"]) != 0
    assert main(["--user", "lead", "train", str(project.root), "--no-detector", "--create-only"]) == 0
    assert max(runs.list_runs(project.store), key=lambda r: r.id).params["detector"] is False
    assert main(["--user", "lead", "train", str(project.root), "--keep-recognizer", "base", "--create-only"]) == 0
    assert max(runs.list_runs(project.store), key=lambda r: r.id).params["keep_recognizer"] == "base"
    # How the batches are shared: the same number each, none twice.
    three = Dist({"WORLD_SIZE": "3", "RANK": "1", "LOCAL_RANK": "1"})
    assert three.share(list(range(10))) == [1, 4, 7] and not three.main
    assert Dist({}).share([1, 2]) == [1, 2] and Dist({}).main
    with pytest.raises(Exception, match="cannot be shared by 3 processes"):
        three.share([0, 1])


def test_pages_boxed_in_part_do_not_train_the_detector(labelled):
    """A project that boxes key fields only: its pages cover little of the text the detector finds,
    so the run leaves the detector as it was (training on them would teach it to miss the rest)
    and still fine-tunes the recogniser."""
    from core import datasets

    project, _ = labelled
    store = project.store
    for page in store.pages():
        regions = store.regions(page.id)
        store.delete_regions("lead", [r.id for r in regions[3:]])  # three lines of each page kept
    version, _ = datasets.create_version(store, project.root, "lead", val_share=0.5)
    run = _run(project, version, epochs=1, e2e_val_pages=0, calib_pages=0)
    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    det = next(m for m in _lines(out.stdout) if m["type"] == "detector")
    assert "boxed in part only" in det["skipped"]
    done = runs.get(project.store, run.id)
    assert done.status == "done" and not (project.root / done.artifact_path / "det").exists()


def test_coverage_of_what_the_detector_finds():
    import numpy as np

    from ml.training.detector import coverage

    def box(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)

    found = [box(10, 10, 100, 30), box(10, 40, 100, 60), box(10, 70, 100, 90)]
    assert coverage(found, [box(5, 5, 105, 95)], (200, 120)) == 1.0
    assert coverage(found, [box(8, 8, 102, 32)], (200, 120)) == pytest.approx(1 / 3)
    assert coverage(found, [box(10, 10, 40, 30)], (200, 120)) == 0.0  # a third of a box is not enough
    assert coverage([], [], (200, 120)) == 1.0


def test_mix_base_moves_the_trained_weights_back_by_the_share():
    import torch

    from ml.training.worker import mix_base

    trained = [torch.nn.Parameter(torch.tensor([2.0, 4.0])), torch.nn.Parameter(torch.tensor([[1.0]]))]
    base = [torch.tensor([0.0, 0.0]), torch.tensor([[3.0]])]
    mix_base(trained, base, 0.25)  # 0.75 trained + 0.25 base
    assert trained[0].tolist() == [1.5, 3.0] and trained[1].tolist() == [[1.5]]
    mix_base(trained, [], 0.0)  # nothing kept, nothing mixed
    assert trained[0].tolist() == [1.5, 3.0]
    with pytest.raises(ValueError):  # a weight without its base is a bug, not a silent half-mix
        mix_base(trained, base[:1], 0.5)


def test_a_run_with_all_of_the_base_weights_exports_the_base_model(labelled):
    """base_share = 1: the run trains, then mixes all of the base back in. What it exports, and what
    its comparison judges, is then the model it started from: the same logits, the same validation
    figures as the shipped model it is compared with. A mix made after the export, or on a copy of
    the weights the export does not read, fails this."""
    import numpy as np

    from ml.neural import runtime
    from ml.training.active import shipped_model

    project, version = labelled
    run = _run(project, version, epochs=2, base_share=1.0, keep_recognizer="trained", detector=False, calib_pages=0,
               e2e_val_pages=0)
    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    done = runs.get(project.store, run.id)
    losses = [m["loss"] for m in done.metrics]
    assert len(losses) == 2 and losses[1] != losses[0]  # it did train
    mv = registry.get(project.store, done.model_version_id)
    assert mv.metrics["val_cer"] == mv.metrics["active_val_cer"]
    x = np.random.default_rng(0).random((2, 3, 48, 160), dtype=np.float32)
    logits = [runtime.create_session(str(p), "cpu", 1).run(None, {"x": x})[0]
              for p in (project.root / done.artifact_path / "model.onnx", load_spec(shipped_model()[0]).path)]
    assert np.abs(logits[0] - logits[1]).max() < 1e-3


def test_a_run_that_keeps_the_base_recogniser_trains_no_epoch_and_writes_its_case_convention(labelled):
    """keep_recognizer = "base": the recogniser does not train (no epoch, no checkpoint), the
    version carries the base model's weights, and its people's capitals (these receipts are
    transcribed in upper case) as its case convention: pre-fill with it writes upper case, so its
    validation lines read at least as well as the shipped model's do case-sensitively and exactly
    as well case-insensitively. A run that forgot the convention, or read its validation lines
    without it, fails this."""
    import numpy as np

    from ml.neural import runtime
    from ml.training.active import model_config, shipped_model

    project, version = labelled
    run = _run(project, version, keep_recognizer="base", val_lines=40, detector=False, calib_pages=0,
               e2e_val_pages=0)
    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    done = runs.get(project.store, run.id)
    assert done.metrics == [] and not (done.folder(project.root) / "checkpoint.pt").exists()
    mv = registry.get(project.store, done.model_version_id)
    assert mv.metrics["recognizer_kept"] == "base" and mv.metrics["recognizer_why"] == "asked"
    assert mv.metrics["case"] == "upper" and mv.metrics["epochs"] == 0
    folder = project.root / done.artifact_path
    meta = json.loads((folder / "model.json").read_text())
    assert meta["case"] == "upper" and meta["training"]["recognizer"]["recognizer_kept"] == "base"
    assert model_config(folder)["recognize"] == {"case": "upper"}
    assert mv.metrics["val_cer_ci"] == mv.metrics["active_val_cer_ci"]
    assert mv.metrics["val_cer"] < mv.metrics["active_val_cer"]  # the shipped model reads mixed case
    x = np.random.default_rng(0).random((2, 3, 48, 160), dtype=np.float32)
    logits = [runtime.create_session(str(p), "cpu", 1).run(None, {"x": x})[0]
              for p in (folder / "model.onnx", load_spec(shipped_model()[0]).path)]
    assert np.abs(logits[0] - logits[1]).max() < 1e-3


def test_an_auto_run_records_which_recogniser_it_kept_and_why(labelled):
    """keep_recognizer = "auto" (the default): the run trains, reads its validation lines with the
    trained and the base weights, and keeps one; the record says which, with both figures."""
    project, version = labelled
    run = _run(project, version, epochs=1, detector=False, calib_pages=0, e2e_val_pages=0)
    out = subprocess.run(worker_command(project.root, run.id), capture_output=True, text=True, env=worker_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    done = runs.get(project.store, run.id)
    assert len(done.metrics) == 1  # it trained
    mv = registry.get(project.store, done.model_version_id)
    m = mv.metrics
    assert m["recognizer_why"] == "auto" and m["recognizer_kept"] in ("trained", "base")
    # judged on the validation lines whose text no training line has (of the 6 it reads)
    assert 1 <= m["recognizer_lines"] <= 6 and 0 <= m["recognizer_trained_cer"] and 0 <= m["recognizer_base_cer"]
    event = next(e for e in _lines(out.stdout) if e["type"] == "recognizer")
    assert event["recognizer_kept"] == m["recognizer_kept"] and event["recognizer_z"] == m["recognizer_z"]
