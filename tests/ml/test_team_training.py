"""Training against a team server: the worker reads the dataset from the server and uploads the
model version to it; another machine, with nothing cached, fetches and promotes it."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from core import registry
from core.project import Project
from ml.neural.lexicon import Lexicon
from ml.neural.models import sha256_file

from ..conftest import TINY_TRAINING as TINY


@pytest.fixture
def backend():
    """Only the team server here (tests/ml/test_training.py trains on a folder)."""
    return "postgresql"


def test_a_run_on_one_machine_serves_every_machine(labelled, capsys, monkeypatch, tmp_path):
    project, version = labelled
    assert project.server is not None
    url = str(project.location)
    code = main(["--user", "lead", "train", url, "--dataset", str(version.id), "--epochs", "1",
                 "--max-lines", str(TINY["max_lines"]), "--batch-size", str(TINY["batch_size"]), "--json"])
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert code == 0, lines[-3:]
    done = lines[-1]
    assert done["type"] == "done"
    mv = registry.get(project.store, done["model_version"])
    stored = dict(project.store.files_under(mv.path))
    assert f"{mv.path}/model.onnx" in stored and f"{mv.path}/model.json" in stored
    # Another machine: its own, empty cache; the model comes from the server.
    monkeypatch.setenv("PROOFDESK_DATA_DIR", str(tmp_path / "other-machine"))
    other = Project.open(url)
    try:
        assert other.root != project.root and not (other.root / mv.path).exists()
        folder = other.local(mv.path)
        assert sha256_file(folder / "model.onnx") == mv.sha256
        registry.verify_folder(folder)  # exactly the files model.json lists, with their hashes
        # its lexicon too: the other machine's recogniser reads with the same words
        assert Lexicon.load(folder) == Lexicon.load(project.root / mv.path) and len(Lexicon.load(folder)) > 0
        registry.promote(other.store, "lead", registry.get(other.store, mv.id))
    finally:
        other.close()
    assert registry.active(project.store).id == mv.id  # one transaction every client sees
