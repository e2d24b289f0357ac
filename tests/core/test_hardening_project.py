"""Project hardening: leftovers of killed processes are cleaned at open; a vanished database is noticed.

- ``pages/.tmp-*`` (an image write killed before its rename) and ``models/run-N/`` folders that
  no model version or run record points to (an export killed before it was registered) are
  removed when a project opens, once they are an hour old: younger ones may be another
  process's write in progress. A run that is queued or running keeps its folder.
- ``Store.check_file`` notices the database file deleted or replaced under an open connection
  (on Linux SQLite would go on writing into the deleted file, and the work would be lost).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from core import registry, runs
from core.errors import ProjectError
from core.project import Project, clean_leftovers
from core.store import Store, now

HOUR = 3600


def age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def a_run(store: Store) -> runs.Run:
    """A queued training run (with the dataset version row it needs)."""
    with store.transaction() as c:
        cur = c.execute("INSERT INTO dataset_versions (hash, created_at, created_by, selection, n_train, n_val,"
                        " n_pages, manifest) VALUES (?,?,?,?,?,?,?,?)",
                        (f"h{time.monotonic_ns()}", now(), "lead", "{}", 1, 1, 1, "datasets/x.json"))
    return runs.create(store, "lead", cur.lastrowid, {"epochs": 1})


def model_folder(root, name: str):
    folder = root / "models" / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "model.json").write_text(json.dumps({"id": name}))
    return folder


@pytest.fixture
def leftovers(project):
    """A project closed with leftovers of every kind, some old and some fresh."""
    root, store = project.root, project.store
    sha = project.images.put(b"\x89PNG not really", "png")
    image = project.images.path(sha, "png")
    old_tmp = image.parent / ".tmp-old1234"
    old_tmp.write_bytes(b"half an image")
    age(old_tmp, 2 * HOUR)
    fresh_tmp = image.parent / ".tmp-fresh123"  # another process may be writing it right now
    fresh_tmp.write_bytes(b"being written")
    age(image, 2 * HOUR)  # an image is never a leftover, however old

    registered = model_folder(root, "run-3")
    registry.register(store, "lead", "run-3", registry.RECOGNITION, "models/run-3", "abc")
    failed = a_run(store)
    runs.mark_running(store, failed.id, os.getpid(), {"host": runs.host()}, {}, "test")
    runs.fail(store, failed.id, "killed during export")
    orphan = model_folder(root, f"run-{failed.id}")  # export killed before registration
    unknown = model_folder(root, "run-99")  # a run this database does not know (a restored backup)
    imported = model_folder(root, "run-4-gpubox")  # a run imported from another machine, registered
    registry.register(store, "lead", "run-4-gpubox", registry.RECOGNITION, "models/run-4-gpubox", "def")
    busy = a_run(store)
    runs.mark_running(store, busy.id, os.getpid(), {"host": runs.host()}, {}, "test")
    in_progress = model_folder(root, f"run-{busy.id}")  # a worker exporting now
    mine = model_folder(root, "my-baseline")  # not a name Proofdesk writes: never touched
    staged = model_folder(root, ".paddle-1.import")  # an import killed before its rename
    project.close()
    return {"old_tmp": old_tmp, "fresh_tmp": fresh_tmp, "image": image, "registered": registered,
            "orphan": orphan, "imported": imported, "in_progress": in_progress, "mine": mine, "root": root,
            "unknown": unknown, "staged": staged}


def test_open_removes_old_temp_images_and_keeps_young_ones(leftovers):
    p = Project.open(leftovers["root"])
    try:
        assert not leftovers["old_tmp"].exists()
        assert leftovers["fresh_tmp"].exists() and leftovers["image"].exists()
        # The model folders were all written a moment ago: too young to judge at open.
        assert all(leftovers[k].is_dir() for k in ("registered", "orphan", "imported", "in_progress", "mine"))
    finally:
        p.close()


def test_unregistered_run_folders_are_removed_once_old(leftovers):
    store = Store(leftovers["root"] / "proofdesk.db")
    try:
        # An hour from now, everything made above is old enough.
        removed = clean_leftovers(leftovers["root"], store, now=time.time() + 2 * HOUR)
    finally:
        store.close()
    assert not leftovers["orphan"].exists()
    assert leftovers["registered"].is_dir() and leftovers["imported"].is_dir()
    assert leftovers["in_progress"].is_dir()  # its run is running
    assert leftovers["mine"].is_dir()
    assert leftovers["unknown"].is_dir()  # may be the only copy of a model a restored database forgot
    assert not leftovers["fresh_tmp"].exists() and leftovers["image"].exists()
    assert sorted(p.name for p in removed) == sorted(leftovers[k].name for k in ("orphan", "old_tmp", "fresh_tmp",
                                                                               "staged"))


def test_a_copied_old_model_folder_is_not_mistaken_for_a_leftover(project, tmp_path):
    """``import_run`` copies with the source's old mtimes before it registers the folder: the
    folder's change time (not settable backwards) says it is new."""
    src = model_folder(tmp_path / "elsewhere", "run-7")
    for p in [src, *src.iterdir()]:
        age(p, 5 * HOUR)
    dest = project.root / "models" / "run-7"
    shutil.copytree(src, dest)
    assert dest.stat().st_mtime < time.time() - 4 * HOUR  # looks old by its mtime
    assert clean_leftovers(project.root, project.store) == []
    assert dest.is_dir()


def test_check_file_passes_while_the_database_is_in_place(project):
    project.store.check_file()
    project.store.set_setting("x", 1)
    project.store.check_file()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_check_file_notices_the_database_deleted_or_replaced(project, tmp_path, how):
    db = project.root / "proofdesk.db"
    if how == "deleted":
        db.unlink()
    else:
        shutil.copy(db, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", db)
    with pytest.raises(ProjectError) as exc:
        project.store.check_file()
    assert str(exc.value) == (f"the project database {db} was deleted or replaced while this command ran;"
                              " nothing more was written")
