"""The Training screen shows what a run's OCR did to the key fields: the fields read from each
OCR model's regions on the validation pages that have people's field values (the OCR model
version's ``val_field_*`` metrics): the field F1 against the compared model's, the fields gained,
and the fields lost in the warning colour. A run without those figures looks as before.

The runs are closed with the real records (``core.runs.finish``, which registers the OCR model
version), their figures written by the worker's own ``FieldFigures.to_dict``; the live case's
worker is a fake that closes its run on the next turn of the event loop: nothing waits on a clock.
"""

from __future__ import annotations

from app.cli_training import ocr_field_line
from core import registry, runs
from ml.training.fields import FieldChange, FieldVerdict
from ml.training.worker import FieldFigures

from .fake_workers import OneTurnWorker

#: Lower CER, more typing saved: better on the line figures alone.
LINES_BETTER = {"val_cer": 0.03, "active_val_cer": 0.06, "val_typing_saved": 0.93, "active_val_typing_saved": 0.91,
                "val_typing_saved_ci": 0.94, "active_val_typing_saved_ci": 0.93}
#: On 20 validation pages: "total" falls from 95% to 70% (lost), "date" rises from 80% to 99%
#: (gained), "company" holds; overall 85% against 87%.
FIGURES = FieldFigures(
    20, "zero-shot", {}, {},
    FieldVerdict(False, ["date"], ["total"], {
        "company": FieldChange(0.90, 0.91, 0.06, "same"),
        "date": FieldChange(0.99, 0.80, 0.09, "gained"),
        "total": FieldChange(0.70, 0.95, 0.05, "lost"),
    }),
    FieldChange(0.85, 0.87, 0.04, "same"), 0.04).to_dict()


def _finished(store, dataset_id: int, metrics: dict) -> runs.Run:
    run = runs.create(store, "lead", dataset_id, {"epochs": 1})
    runs.add_metric(store, run.id, {"epoch": 1, "loss": 0.4, "val_cer": metrics["val_cer"]})
    run, _ = runs.finish(store, "lead", run.id, f"models/run-{run.id}", "f" * 64, metrics, f"run-{run.id}", 1.0, "cpu")
    return run


def _screen(qtbot, project):
    from app.training.screen import TrainingScreen

    screen = TrainingScreen(project, "lead")
    qtbot.addWidget(screen)
    return screen


def _row(screen, run_id: int) -> int:
    from PySide6.QtCore import Qt

    rows = [r for r in range(screen.table.rowCount())
            if screen.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == run_id]
    assert len(rows) == 1
    return rows[0]


def _colour_at(screen, text: str):
    """The foreground colour of the detail pane's character at the middle of ``text``."""
    from PySide6.QtGui import QTextCursor

    doc = screen.detail.document()
    found = doc.find(text)
    assert not found.isNull(), text
    cursor = QTextCursor(doc)
    cursor.setPosition((found.selectionStart() + found.selectionEnd()) // 2)
    return cursor.charFormat().foreground().color()


def _visible_columns(screen) -> list[str]:
    """The shown column headers, in the order they are shown."""
    header = screen.table.horizontalHeader()
    return [screen.table.horizontalHeaderItem(header.logicalIndex(v)).text() for v in range(header.count())
            if not header.isSectionHidden(header.logicalIndex(v))]


def test_the_ocr_fields_f1s_gained_and_lost_show_and_the_lost_field_in_red(qtbot, project, one_line_version):
    from app.training.screen import COLUMNS, WARN_COLOUR

    store = project.store
    run = _finished(store, one_line_version.id, {**LINES_BETTER, **FIGURES})
    assert run.verdict == runs.NOT_BETTER  # the lost field decides it (core.runs.ocr_better)
    metrics = registry.get(store, run.model_version_id).metrics
    assert metrics["val_fields_lost"] == ["total"] and metrics["val_field_f1"] == 0.85
    screen = _screen(qtbot, project)

    # The runs table: a column of its own beside the verdict, the lost field in the warning colour.
    shown = _visible_columns(screen)
    assert sorted(shown) == sorted(COLUMNS) and shown[shown.index("verdict") + 1] == "OCR fields F1"
    col, row = COLUMNS.index("OCR fields F1"), _row(screen, run.id)
    cell = screen.table.item(row, col)
    assert cell.text() == "85.00% vs 87.00%, lost total, gained date"
    assert cell.foreground().color() == WARN_COLOUR and cell.font().bold()
    assert cell.toolTip() == ocr_field_line(metrics)
    assert screen.table.item(row, COLUMNS.index("verdict")).text() == runs.NOT_BETTER

    # The detail pane: the CLI's sentence, then a row per field; the lost ones in red.
    screen.table.selectRow(row)
    text = screen.detail.toPlainText()
    assert text.startswith(f"run {run.id}: done - {runs.NOT_BETTER}")
    assert "  " + ocr_field_line(metrics) in text.splitlines()
    assert "F1 85.0% against 87.0%" in text and "gained: date; lost: total" in text
    rows = {ln.split(":")[0].strip(): ln for ln in text.splitlines() if ln.startswith("    ") and ": F1 " in ln}
    assert set(rows) == {"company", "date", "total"}
    assert rows["total"] == "    total: F1 70.00% against 95.00% (noise 5.0%), lost"
    assert rows["date"].endswith("gained") and rows["company"].endswith("same")
    assert _colour_at(screen, "lost: total") == WARN_COLOUR
    assert _colour_at(screen, rows["total"].strip()) == WARN_COLOUR
    for calm in ("gained: date", rows["date"].strip(), rows["company"].strip()):
        assert _colour_at(screen, calm) != WARN_COLOUR, calm


def test_a_run_without_field_figures_looks_as_before(qtbot, project, one_line_version):
    from app.training.screen import COLUMNS

    store = project.store
    run = _finished(store, one_line_version.id, dict(LINES_BETTER))
    assert run.verdict == runs.BETTER
    screen = _screen(qtbot, project)
    assert _visible_columns(screen) == [c for c in COLUMNS if c != "OCR fields F1"]
    screen.table.selectRow(_row(screen, run.id))
    text = screen.detail.toPlainText()
    assert text.startswith(f"run {run.id}: done - {runs.BETTER}")
    assert "key fields read from the OCR" not in text and "OCR fields" not in text

    # Beside a run that has them: the column shows, this run's cell says nothing, nor its detail.
    other = _finished(store, one_line_version.id, {**LINES_BETTER, **FIGURES})
    screen.refresh()
    assert "OCR fields F1" in _visible_columns(screen)
    row = _row(screen, run.id)
    assert screen.table.item(row, COLUMNS.index("OCR fields F1")).text() == "-"
    screen.table.clearSelection()
    screen.table.selectRow(row)
    assert "key fields read from the OCR" not in screen.detail.toPlainText()
    assert "OCR fields lost" in screen.compare(run.id, other.id)


class FinishingWorker(OneTurnWorker):
    """Closes its run as done with the field figures on the next turn of the event loop (the
    records the worker keeps): the screen shows the finished run from its records."""

    def finish(self) -> str:
        store = self.project.store
        run = runs.get(store, self.run_id)
        runs.finish(store, run.created_by, self.run_id, f"models/run-{self.run_id}", "f" * 64,
                    {**LINES_BETTER, **FIGURES}, f"run-{self.run_id}", 1.0, "cpu")
        return "done"


def test_a_run_that_ends_on_the_screen_shows_what_its_ocr_lost(qtbot, project, one_line_version):
    from app.training.screen import COLUMNS, WARN_COLOUR

    screen = _screen(qtbot, project)
    assert "OCR fields F1" not in _visible_columns(screen)
    screen.process_class = FinishingWorker
    screen.dataset.setCurrentIndex(1)  # the fixture's dataset version
    with qtbot.waitSignal(screen.runEnded, timeout=60_000) as ended:
        run_id = screen.start_run()
        assert run_id is not None
    assert ended.args == [run_id, "done"]
    text = screen.detail.toPlainText()
    assert "gained: date; lost: total" in text and _colour_at(screen, "lost: total") == WARN_COLOUR
    cell = screen.table.item(_row(screen, run_id), COLUMNS.index("OCR fields F1"))
    assert not screen.table.isColumnHidden(COLUMNS.index("OCR fields F1"))
    assert cell.text() == "85.00% vs 87.00%, lost total, gained date" and cell.foreground().color() == WARN_COLOUR
