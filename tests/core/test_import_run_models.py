"""``proofdesk models import --from COPY --run N`` brings back every model the run made: a run that
trained the OCR and the key fields registers both here, each under its own task."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from app.cli import main
from core import registry, runs
from core.errors import ProofdeskError
from core.project import Project


def _folder(root, name: str, files: dict[str, bytes]) -> str:
    folder = root / "models" / name
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    (folder / "model.json").write_text(json.dumps({"name": name}))
    registry.write_manifest(folder)
    return hashlib.sha256(next(iter(files.values()))).hexdigest()


@pytest.fixture
def copy_with_both(project, one_line_version, tmp_path):
    """A copy of ``project`` (a field model version both have) where run 1 trained both models."""
    old_fields = registry.register(project.store, "lead", "old-fields", registry.FIELDS, "models/old-fields",
                                   "e" * 64, {"f1": 0.5})
    project.store.close()
    shutil.copytree(project.root, tmp_path / "copy")
    copy = Project.open(tmp_path / "copy")
    run = runs.create(copy.store, "lead", one_line_version.id, {"epochs": 1, "device": "cuda"})
    runs.mark_running(copy.store, run.id, 1, {"host": "gpu-box", "device": "cuda"}, {})
    ocr_sha = _folder(copy.root, "run-1", {"model.onnx": b"weights"})
    fields_sha = _folder(copy.root, "run-1-fields", {"fields.npz": b"field weights", "fields.json": b"{}"})
    runs.finish_models(copy.store, "lead", run.id, [
        runs.Artifact("run-1", "models/run-1", ocr_sha, {"val_cer": 0.01, "active_val_cer": 0.2}),
        runs.Artifact("run-1-fields", "models/run-1-fields", fields_sha,
                      {"f1": 0.9, "per_field": {"total": {"f1": 0.95}}}, task=registry.FIELDS, better=True,
                      parent_id=old_fields.id)], 42.0, "cuda")
    copy.close()
    return tmp_path / "copy", run.id, ocr_sha, fields_sha, old_fields.id


def test_import_brings_the_ocr_and_the_field_model(project, copy_with_both, capsys):
    copy, run_id, ocr_sha, fields_sha, old_fields_id = copy_with_both
    assert main(["--user", "lead", "models", "import", str(project.root), "--from", str(copy),
                 "--run", str(run_id)]) == 0
    out = capsys.readouterr().out
    assert "with 2 model version(s)" in out
    assert "run-1 (recognition): validation CER 1.00%" in out
    assert "run-1-fields (fields): fields F1 90.0% (total 95.0%)" in out
    assert f"proofdesk models promote {project.root} run-1-fields" in out
    here = Project.open(project.root)
    try:
        store = here.store
        ocr = registry.find(store, "run-1")
        fields = registry.find(store, "run-1-fields")
        assert (ocr.task, ocr.sha256) == (registry.RECOGNITION, ocr_sha)
        assert (fields.task, fields.sha256) == (registry.FIELDS, fields_sha)
        assert ocr.run_id == fields.run_id and [v.id for v in registry.of_run(store, ocr.run_id)] == [ocr.id, fields.id]
        run = runs.get(store, ocr.run_id)
        assert run.model_version_id == ocr.id and run.artifact_path == "models/run-1"
        assert fields.parent_id == old_fields_id  # the field version it was compared with, here too
        assert (here.root / "models" / "run-1-fields" / "fields.npz").read_bytes() == b"field weights"
        registry.verify_folder(here.root / "models" / "run-1-fields")
        assert registry.active(store, registry.FIELDS) is None  # nothing promoted
        # Imported twice: refused, nothing more registered.
        with pytest.raises(runs.RunStateError, match="here already"):
            runs.import_run_models(store, here.root, "lead", copy, run_id)
        assert len(registry.of_run(store, ocr.run_id)) == 2
    finally:
        here.close()


def test_a_tampered_field_model_refuses_the_whole_run(project, copy_with_both):
    copy, run_id, *_ = copy_with_both
    (copy / "models" / "run-1-fields" / "fields.npz").write_bytes(b"tampered")
    here = Project.open(project.root)
    try:
        before = len(registry.versions(here.store))
        with pytest.raises(ProofdeskError, match="sha256"):
            runs.import_run_models(here.store, here.root, "lead", copy, run_id)
        assert len(registry.versions(here.store)) == before
        assert not (here.root / "models" / "run-1").exists()  # the OCR's folder is not left behind
        assert not any(p.name.endswith(".import") for p in (here.root / "models").iterdir()) \
            if (here.root / "models").exists() else True
    finally:
        here.close()
