"""Pre-fill in the product: predictions stored per page, resumable, failures isolated, cancel keeps work."""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.importer import ImportOptions, import_paths
from core.model import PageStatus
from core.prefill_engine import prefill_engine, set_prefill_engine
from core.project import Project
from ml.prefill import plan_prefill, prefill_project

ROOT = Path(__file__).resolve().parents[2]
SROIE = ROOT.parent / "shared" / "datasets" / "sroie-dev"

#: Pre-fill writes predictions and regions the same way into a project folder and a team server:
#: each test runs on both.
BOTH_BACKENDS = True


def _project(project, n=2) -> Project:
    """sroie receipts in a project that pre-fills with the classical engine (the mechanics tested
    here are the same for every engine; the classical one is the quickest)."""
    files = sorted(SROIE.glob("*.jpg"))[:n]
    import_paths(project, files, ImportOptions(reference=True))
    set_prefill_engine(project.store, "classical")
    return project


def test_the_project_setting_chooses_the_engine_the_best_by_default(project):
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:1], ImportOptions())
    assert prefill_engine(project.store) == "combined"
    page = project.store.pages()[0]
    summary = prefill_project(project, workers=0)
    assert summary.engine == "combined" and summary.done == [page.id]
    (pred,) = project.store.predictions(page.id)
    assert pred.engine == "combined" and "ppocrv5" in pred.engine_version and "tesseract" in pred.engine_version
    # Some of its regions carry Tesseract's second opinion where the two engines disagree.
    assert any(r.second_opinion is not None for r in pred.regions)
    set_prefill_engine(project.store, "classical")
    assert plan_prefill(project, [page.id]).engine == "classical"
    assert plan_prefill(project, [page.id], engine="neural").engine == "neural"  # one run, setting kept
    assert prefill_engine(project.store) == "classical"
    with pytest.raises(ValueError):
        set_prefill_engine(project.store, "magic")
    project.store.set_setting("prefill_engine", "gone-engine")  # written by a later version, say
    assert prefill_engine(project.store) == "combined"


def test_prefill_writes_prediction_and_regions_then_skips(project):
    project = _project(project, 2)
    seen = []
    summary = prefill_project(project, workers=0, on_page=seen.append)
    assert sorted(summary.done) == sorted(p.id for p in project.store.pages())
    assert sorted(seen) == sorted(summary.done) and not summary.failures
    for page in project.store.pages():
        assert page.status == PageStatus.PREFILLED
        (pred,) = project.store.predictions(page.id)
        assert pred.engine == "classical" and "tesseract" in pred.engine_version and pred.config_hash
        regions = project.store.regions(page.id)
        assert len(regions) == len(pred.regions) > 10
        assert all(0.0 <= r.confidence <= 1.0 for r in regions)
        assert all(r.origin == "prediction" and r.prediction_id == pred.id for r in regions)
    # Resumable: same engine and config -> nothing to do.
    plan = plan_prefill(project, [p.id for p in project.store.pages()])
    assert plan.todo == [] and len(plan.skipped) == 2
    again = prefill_project(project, [p.id for p in project.store.pages()], workers=0)
    assert again.done == [] and len(again.skipped) == 2


def test_prefill_never_overwrites_what_a_person_touched(project):
    project = _project(project, 1)
    page = project.store.pages()[0]
    prefill_project(project, workers=0)
    first = project.store.regions(page.id)
    edited = first[0]
    project.store.update_region("ana", edited.id, text="CORRECTED BY ANA")
    deleted = first[1]
    project.store.delete_regions("ana", [deleted.id])
    # A different config is a different prediction: run it on the same page.
    summary = prefill_project(project, [page.id], engine="tesseract-baseline", workers=0)
    assert summary.done == [page.id]
    assert len(project.store.predictions(page.id)) == 2
    after = {r.id: r for r in project.store.regions(page.id, include_deleted=True)}
    assert after[edited.id].text == "CORRECTED BY ANA"
    assert after[deleted.id].deleted
    # Nothing new sits on top of the region the person corrected or deleted.
    from core.scoring import iou as _iou

    for r in project.store.regions(page.id):
        if r.id not in (edited.id, deleted.id):
            assert _iou(r.bounds, after[edited.id].bounds) < 0.5
            assert _iou(r.bounds, after[deleted.id].bounds) < 0.5


def test_a_failing_page_is_reported_and_the_rest_go_on(project):
    project = _project(project, 3)
    pages = project.store.pages()
    broken = project.image_path(pages[1])
    os.chmod(broken, 0o644)
    broken.write_bytes(b"this is no longer an image")
    summary = prefill_project(project, workers=1)
    assert sorted(summary.done) == sorted([pages[0].id, pages[2].id])
    assert [f[0] for f in summary.failures] == [pages[1].id]
    assert project.store.get_page(pages[1].id).status == PageStatus.NEW
    assert "failed: page" in "\n".join(summary.lines())


def test_cancel_keeps_finished_pages(project):
    project = _project(project, 4)
    cancel = threading.Event()

    def on_page(pid):
        cancel.set()  # cancel as soon as the first page is stored

    summary = prefill_project(project, workers=0, cancel=cancel, on_page=on_page)
    assert len(summary.done) == 1 and summary.cancelled
    assert project.store.status_counts() == {"prefilled": 1, "new": 3}
    rest = prefill_project(project, workers=0)
    assert len(rest.done) == 3


def test_cli_prefill_ctrl_c_keeps_finished_pages(project):
    project = _project(project, 6)
    root = project.location
    project.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "prefill", str(root), "--workers", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until at least one page is committed, then press Ctrl-C.
    import sqlite3
    import time

    def n_predictions() -> int:  # read-only, by a connection of its own
        if isinstance(root, str):
            import psycopg

            from core.db import parse_url

            where = parse_url(root)
            with psycopg.connect(where.conninfo, autocommit=True) as conn:
                return conn.execute(f'SELECT COUNT(*) FROM "{where.project}".predictions').fetchone()[0]
        con = sqlite3.connect(f"file:{root / 'proofdesk.db'}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        finally:
            con.close()

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if n_predictions() >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "cancelling" in err
    reopened = Project.open(root)
    done = reopened.store.status_counts().get("prefilled", 0)
    assert 1 <= done < 6, (out, err)
    assert proc.returncode == 130
    # Run again: resumes with the rest only.
    result = subprocess.run([sys.executable, "-m", "app.cli", "prefill", str(root), "--workers", "1", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"pre-filled {6 - done} page(s)" in result.stdout
    assert shutil.which  # keep import used


def test_prefill_reads_with_the_promoted_model(project):
    """After a promotion the next pre-fill uses that model version (its folder, its config hash)."""
    from core import registry
    from core.resources import resources_dir
    from ml.prefill import plan_prefill

    shipped = plan_prefill(project, engine="neural")
    folder = project.root / "models" / "ft-1"
    shutil.copytree(resources_dir() / "models" / "ppocrv5-base" / "rec-latin", folder)
    version = registry.register(project.store, "lead", "ft-1", "recognition", "models/ft-1", "0" * 64)
    registry.promote(project.store, "lead", version)
    promoted = plan_prefill(project, engine="neural")
    assert promoted.config["rec"] == str(folder)
    assert promoted.config_hash != shipped.config_hash  # pages pre-filled before are told apart
    assert shipped.model_version is None and promoted.model_version == "ft-1"
    assert plan_prefill(project, engine="classical").model_version is None  # it reads no model
    # The project's default engine (combined) reads with it too, and each prediction says so.
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:1], ImportOptions())
    page = project.store.pages()[0]
    assert prefill_project(project, workers=0).done == [page.id]
    (pred,) = project.store.predictions(page.id)
    assert pred.engine == "combined" and pred.model_version == "ft-1"
    assert pred.config["neural"]["rec"] == str(folder)


def test_cli_set_default_changes_the_projects_engine(project, capsys):
    from app.cli import main

    project = _project(project, 1)  # set to classical
    root = str(project.location)
    project.close()
    assert main(["prefill", root, "--set-default"]) != 0
    assert "--set-default needs --engine" in capsys.readouterr().err
    assert main(["prefill", root, "--engine", "magic", "--set-default"]) != 0
    assert "must be one of combined, neural, classical" in capsys.readouterr().err
    assert main(["prefill", root, "--engine", "neural", "--set-default", "--workers", "0", "--quiet"]) == 0
    assert "pre-filled 1 page(s) with neural" in capsys.readouterr().out
    reopened = Project.open(root)
    try:
        assert prefill_engine(reopened.store) == "neural"
        assert [p.engine for p in reopened.store.predictions(reopened.store.pages()[0].id)] == ["neural"]
    finally:
        reopened.close()


@pytest.mark.folder_only  # the project folder's own database file, deleted under it
def test_a_database_deleted_during_prefill_stops_it(project):
    """Before: pre-fill went on writing into the deleted file and reported every page done."""
    from core.errors import ProjectError

    project = _project(project, 3)
    db = project.root / "proofdesk.db"

    def on_page(pid):
        if db.exists():
            db.unlink()  # someone deletes the project's database while pre-fill runs

    with pytest.raises(ProjectError, match="deleted or replaced"):
        prefill_project(project, workers=0, on_page=on_page)
