"""The Training screen: its chart and records follow a run's JSON lines; a real (tiny) run in a
child process ends done; a killed worker marks its run failed.

The chart and promote test replays a recorded run (``data/training_run.jsonl``: the stdout of a
real run of the worker, ``TINY_TRAINING`` and 2 epochs on the ``labelled`` project, CPU; the
absolute checkpoint path made relative) into the screen, one line per turn of the event loop,
keeping the records the worker keeps: nothing there waits on a clock, so a busy machine makes it
slower, never red. The real runs wait for the worker's end however long it takes (PATIENCE is a
hang guard, not a figure under test).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer, Signal

from core import datasets, registry, runs

from ..conftest import TINY_TRAINING as TINY

RECORDED = Path(__file__).parent / "data" / "training_run.jsonl"
#: How long a real run may take before the test gives up (a hang, not slowness: a tiny run takes
#: some 40 s on an idle 2-core machine).
PATIENCE_MS = 600_000
#: The fields of a "done" line that are not the model's metrics (what runs.finish records).
DONE_FIELDS = {"type", "model_version", "name", "path", "sha256", "verdict", "duration_s", "cost", "checkpoint",
               "run", "t"}


@pytest.fixture
def labelled(labelled):
    """The shared fixture's project (its dataset version is the screen's second choice)."""
    return labelled[0]


class ReplayedRun(QObject):
    """A recorded run played into the screen as its worker process would: each line emitted on
    its own turn of the event loop, after the record the worker keeps for it (the run started, a
    metric per epoch, the model registered and the run closed with "done")."""

    message = Signal(dict)
    ended = Signal(int, str)

    def __init__(self, project, run_id: int, parent=None):
        super().__init__(parent)
        self.project, self.run_id = project, run_id
        self.lines = [json.loads(ln) for ln in RECORDED.read_text().splitlines() if ln.strip()]
        self.running = False

    def start(self) -> None:
        self.running = True
        QTimer.singleShot(0, self._next)

    def cancel(self) -> None:
        self.lines = []

    def _next(self) -> None:
        store = self.project.store
        if not self.lines:
            self.running = False
            self.ended.emit(self.run_id, runs.get(store, self.run_id).status)
            return
        msg = {**self.lines.pop(0), "run": self.run_id}
        kind = msg["type"]
        if kind == "start":
            runs.mark_running(store, self.run_id, os.getpid(), {"host": runs.host(), "device": msg["device"]},
                              {"replayed": str(RECORDED.name)}, code="recorded")
        if kind != "progress":  # what the worker also writes to the run's log
            runs.append_log(store, self.run_id, json.dumps(msg))
        if kind == "metric":
            runs.add_metric(store, self.run_id, {k: v for k, v in msg.items() if k not in ("type", "run", "t")})
        elif kind == "done":
            run = runs.get(store, self.run_id)
            runs.finish(store, run.created_by, self.run_id, msg["path"], msg["sha256"],
                        {k: v for k, v in msg.items() if k not in DONE_FIELDS}, msg["name"], msg["duration_s"], "cpu")
        self.message.emit(msg)
        QTimer.singleShot(0, self._next)


def test_the_chart_follows_a_recorded_run_then_its_model_is_promoted(qtbot, labelled):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    screen.process_class = ReplayedRun
    screen.params_override = TINY
    screen.epochs.setValue(2)
    screen.dataset.setCurrentIndex(1)  # the version the fixture made
    seen = []  # (line type, stage, loss points, CER points) as each line arrived
    with qtbot.waitSignal(screen.runEnded, timeout=PATIENCE_MS) as ended:
        run_id = screen.start_run()
        assert run_id is not None and not screen.start_button.isEnabled()
        screen.process.message.connect(lambda m: seen.append(
            (m["type"], m.get("stage"), screen.chart.loss.count(), screen.chart.cer.count())))
    assert ended.args == [run_id, "done"]
    assert len(seen) == len(RECORDED.read_text().splitlines())
    # Live: the loss while the recogniser trains, the CER at each epoch's end, nothing for the
    # detector's epochs (which come first, with a loss on another scale).
    first_metric = next(i for i, s in enumerate(seen) if s[0] == "metric")
    assert seen[first_metric][2] == 3 and seen[first_metric][3] == 1
    assert all(s[2] == 0 for s in seen if s[1] and s[1].startswith("detector"))
    assert screen.chart.cer.count() == 2 and screen.chart.cer.at(1).x() == 2
    assert screen.chart.loss.count() == 6 and all(p.x() <= 2 for p in screen.chart.loss.points())
    assert "typing saved on the validation pages" in screen.state.text()
    run = runs.get(labelled.store, run_id)
    assert run.status == "done" and len(run.metrics) == 2
    assert screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "done"
    col = [screen.table.horizontalHeaderItem(i).text() for i in range(screen.table.columnCount())].index("typing saved")
    assert screen.table.item(0, col).text() == "93.73%"  # the validation page read end to end
    assert screen.start_button.isEnabled() and not screen.cancel_button.isEnabled()

    # Promote its model, then roll back to the shipped one... which needs an earlier version: none.
    screen.table.selectRow(0)
    with qtbot.waitSignal(screen.modelChanged, timeout=PATIENCE_MS):  # the main window's status bar listens
        screen.promote_selected()
    assert registry.active(labelled.store).id == run.model_version_id
    assert "run-" in screen.active_label.text()
    assert screen.describe(run).startswith(f"run {run_id}: done")


@pytest.mark.timeout(PATIENCE_MS // 1000 + 120)
def test_a_real_run_in_a_child_process_ends_done(qtbot, labelled):
    """One real (tiny) run of the worker: it ends done, and its chart and record show it. The
    test waits for the process's end, however long the machine takes."""
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    screen.params_override = TINY
    screen.epochs.setValue(2)
    screen.dataset.setCurrentIndex(1)
    with qtbot.waitSignal(screen.runEnded, timeout=PATIENCE_MS) as ended:
        run_id = screen.start_run()
    assert ended.args == [run_id, "done"], runs.get(labelled.store, run_id).error
    run = runs.get(labelled.store, run_id)
    assert run.status == "done" and len(run.metrics) == 2 and run.model_version_id is not None
    assert screen.chart.cer.count() == 2 and screen.chart.loss.count() > 0
    assert screen.table.item(0, 1).text() == "done" and "typing saved" in screen.state.text()
    # its record says which recogniser weights the version carries, chosen on the validation lines
    described = screen.describe(run, registry.get(labelled.store, run.model_version_id).metrics)
    assert "validation lines no training page has, the fine-tune's CER is" in described
    assert "in capitals (the training pages' case convention)" in described


def test_the_recogniser_line_says_what_was_kept_and_why():
    from app.cli_training import recognizer_line

    auto = {"recognizer_kept": "base", "recognizer_why": "auto", "recognizer_lines": 380,
            "recognizer_trained_cer": 0.0095, "recognizer_base_cer": 0.0101, "recognizer_z": 0.4}
    assert recognizer_line(auto) == ("recogniser: on 380 validation lines no training page has, the fine-tune's "
                                     "CER is 0.95% against 1.01% for the base model's (z 0.4): it reads them no "
                                     "better beyond their noise: the base model's weights are kept")
    assert "reads them better beyond their noise" in recognizer_line({**auto, "recognizer_kept": "trained"})
    assert recognizer_line({"recognizer_kept": "base", "recognizer_why": "asked"}) == \
        "recogniser: the base weights, as asked"


@pytest.mark.timeout(PATIENCE_MS // 1000 + 120)
def test_a_killed_worker_marks_the_run_failed_with_its_log(qtbot, labelled):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(labelled, "lead")
    qtbot.addWidget(screen)
    screen.params_override = {**TINY, "epochs": 50}
    screen.dataset.setCurrentIndex(1)
    with qtbot.waitSignal(screen.runEnded, timeout=PATIENCE_MS) as ended:
        run_id = screen.start_run()
        qtbot.waitUntil(lambda: '"type": "start"' in runs.get(labelled.store, run_id).log, timeout=PATIENCE_MS)
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


def test_promote_and_roll_back_are_disabled_for_anyone_but_an_admin(qtbot, project):
    """Issue 17, defect 7: what a role cannot do is disabled, and says how to get the role."""
    from app.training.screen import TrainingScreen
    from core.model import Role

    store = project.store
    screen = TrainingScreen(project, "ana")
    qtbot.addWidget(screen)
    assert screen.promote_button.isEnabled()  # no admin yet: a one-person project's user may
    store.ensure_user("lead", Role.ADMIN)
    store.ensure_user("ana")
    for user, allowed in (("ana", False), ("lead", True)):
        screen = TrainingScreen(project, user)
        qtbot.addWidget(screen)
        assert screen.promote_button.isEnabled() is allowed and screen.rollback_button.isEnabled() is allowed
        if not allowed:
            assert "admin" in screen.promote_button.toolTip() and "proofdesk users" in screen.promote_button.toolTip()
