"""The Training screen starts a real (tiny) run in a child process and its chart follows the JSON lines."""

from __future__ import annotations

import pytest

from core import datasets, registry, runs

from ..conftest import TINY_TRAINING as TINY


@pytest.fixture
def labelled(labelled):
    """The shared fixture's project (its dataset version is the screen's second choice)."""
    return labelled[0]


def test_start_a_run_and_see_the_chart_update_then_promote(qtbot, labelled):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    screen.params_override = TINY
    screen.epochs.setValue(2)
    screen.dataset.setCurrentIndex(1)  # the version made above
    with qtbot.waitSignal(screen.runEnded, timeout=90_000) as ended:
        run_id = screen.start_run()
        assert run_id is not None and not screen.start_button.isEnabled()
        qtbot.waitUntil(lambda: screen.chart.loss.count() > 0, timeout=60_000)  # live, during the run
    assert ended.args == [run_id, "done"]
    assert screen.chart.cer.count() == 2 and screen.chart.cer.at(1).x() == 2
    # The chart is the recogniser's: the detector's epochs (which came first) are not on it.
    assert all(p.x() <= 2 for p in screen.chart.loss.points()) and screen.chart.loss.count() > 0
    assert "typing saved on the validation pages" in screen.state.text()
    run = runs.get(labelled.store, run_id)
    assert run.status == "done" and len(run.metrics) == 2
    assert screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "done"
    col = [screen.table.horizontalHeaderItem(i).text() for i in range(screen.table.columnCount())].index("typing saved")
    assert screen.table.item(0, col).text().endswith("%")  # the validation page read end to end

    # Promote its model, then roll back to the shipped one... which needs an earlier version: none.
    screen.table.selectRow(0)
    with qtbot.waitSignal(screen.modelChanged, timeout=1000):  # the main window's status bar listens
        screen.promote_selected()
    assert registry.active(labelled.store).id == run.model_version_id
    assert "run-" in screen.active_label.text()
    assert screen.describe(run).startswith(f"run {run_id}: done")


def test_a_killed_worker_marks_the_run_failed_with_its_log(qtbot, labelled):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    screen.params_override = {**TINY, "epochs": 50}
    screen.dataset.setCurrentIndex(1)
    with qtbot.waitSignal(screen.runEnded, timeout=60_000) as ended:
        run_id = screen.start_run()
        qtbot.waitUntil(lambda: '"type": "start"' in runs.get(labelled.store, run_id).log, timeout=60_000)
        screen.process.proc.kill()  # a crash, not a cancel
    assert ended.args == [run_id, "failed"]
    run = runs.get(labelled.store, run_id)
    assert run.status == "failed" and "exited with code" in run.error and '"type": "start"' in run.log
    assert registry.versions(labelled.store) == []
    assert screen.start_button.isEnabled() and "failed" in screen.state.text()


def test_compare_two_runs_side_by_side(qtbot, labelled):
    from app.training.screen import TrainingScreen

    store = labelled.store
    v = datasets.list_versions(store)[0]
    a = runs.create(store, "lead", v.id, {"epochs": 1, "lr": 1e-4})
    b = runs.create(store, "lead", v.id, {"epochs": 1, "lr": 3e-4})
    runs.add_metric(store, a.id, {"epoch": 1, "loss": 0.5, "val_cer": 0.04})
    runs.fail(store, b.id, "boom")
    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    text = screen.compare(a.id, b.id)
    assert "param lr" in text and "0.0001" in text and "0.0003" in text and "epoch 1 loss / CER" in text
    assert screen.table.rowCount() == 2


def test_an_imported_model_is_listed_and_promoted_here(qtbot, project):
    """A model version no run made (models import-paddle) is a row of its own, promotable here."""
    from app.training.screen import TrainingScreen

    store = project.store
    version = registry.register(store, "lead", "paddle-1", registry.RECOGNITION, "models/paddle-1", "0" * 64,
                                metrics={"imported": True, "val_cer": 0.05, "verdict": "better"})
    screen = TrainingScreen(project, "lead")
    qtbot.addWidget(screen)
    rows = [r for r in range(screen.table.rowCount()) if screen.table.item(r, 9).text() == "paddle-1"]
    assert len(rows) == 1 and screen.table.item(rows[0], 1).text() == "imported"
    screen.table.selectRow(rows[0])
    assert screen.selected_model_ids() == [version.id] and screen.selected_run_ids() == []
    screen.promote_selected()
    assert registry.active(store).name == "paddle-1"
    assert "active model: paddle-1" in screen.active_label.text()
