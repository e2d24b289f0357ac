"""The Training screen: start a run, watch loss and validation CER live, compare, promote, roll back.

The run itself is a child process (:class:`~app.training.process.TrainingProcess`); this screen
only reads its JSON lines (QProcess signals, never a blocking read) and the records in the
project database. Closing the screen only hides it (the main window keeps it), so a run goes on;
quitting the app stops its worker, and the run is then marked failed when the project is next
looked at, ready to resume from its last epoch.
"""

from __future__ import annotations

import json

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import datasets, registry, runs
from core.errors import ProofdeskError
from core.project import Project
from ml.training.active import active_model
from ml.training.params import DEFAULTS, resolve_params

from ..cli_training import ocr_field_line, recognizer_line
from ..errors import show_error
from .process import TrainingProcess

NEW_DATASET = -1
#: The "What to train" choices: (text, key, tooltip); the key's run parameters: :data:`WHAT_PARAMS`.
WHAT_CHOICES = [
    ("Text and fields", "both", "Fine-tune the OCR and train the key-field model"),
    ("Text only", "text", "Fine-tune the OCR only (proofdesk train --no-fields)"),
    ("Fields only", "fields", "Train the key-field model only, from the finished pages' field values: seconds, no"
                              " image read (proofdesk train --fields-only)"),
]
#: What each choice adds to the run's parameters, as the command line's options do ("both": the
#: default, the project decides, which it does for fields when the choice is enabled at all).
WHAT_PARAMS = {"both": {}, "text": {"train_fields": False}, "fields": {"train_ocr": False, "train_fields": True}}
COLUMNS = ["run", "status", "dataset", "epochs", "val CER", "compared", "typing saved", "compared", "verdict", "model",
           "duration", "cost", "fields F1", "OCR fields F1"]
#: The column of the key fields read from each run's OCR (``val_field_*``): shown only while some
#: row has those figures, so a project without them sees the table as before.
OCR_FIELDS_COLUMN = COLUMNS.index("OCR fields F1")
COLUMN_TIPS = {
    "fields F1": "The run's key-field model: its F1 against the compared field model's, and the fields it lost",
    "OCR fields F1": "The key fields read from the run's OCR on the validation pages that have people's field values:"
                     " F1 against the compared OCR's, the fields lost (in red) and gained beyond their noise",
}
#: What a run lost (a key field its OCR reads worse than the compared model, beyond the noise):
#: the analytics screen's red.
WARN_COLOUR = QColor(210, 40, 40)


def _pct(v) -> str:
    return "-" if v is None else f"{v:.2%}"


def _fields_cell(v: registry.ModelVersion | None) -> str:
    """A run's field model in the runs table: its F1 against the compared model's."""
    if v is None:
        return "-"
    m = v.metrics
    return f"{_pct(m.get('f1'))} vs {_pct(m.get('active_f1'))}" + (f", lost {', '.join(m['lost'])}" if m.get("lost") else "")


def _ocr_fields_cell(m: dict | None) -> str | None:
    """A run's OCR in the runs table: the key fields read from its regions on the validation pages
    (``val_field_*``, ``core.runs.ocr_better``), F1 against the compared OCR's, the fields lost
    (first: the cell may be cut) and gained; None without those figures."""
    if not m or not m.get("val_field_pages"):
        return None
    gained, lost = m.get("val_fields_gained") or [], m.get("val_fields_lost") or []
    return (f"{_pct(m.get('val_field_f1'))} vs {_pct(m.get('active_val_field_f1'))}"
            + (f", lost {', '.join(lost)}" if lost else "") + (f", gained {', '.join(gained)}" if gained else ""))


def _ocr_field_rows(m: dict | None) -> list[tuple[str, bool]]:
    """The detail pane's lines on the key fields read from a run's OCR: the CLI's sentence
    (:func:`app.cli_training.ocr_field_line`), then a row per field; each with whether it tells
    of a lost field (those are marked in :data:`WARN_COLOUR`). Empty without those figures."""
    line = ocr_field_line(m or {})
    if line is None:
        return []
    rows = [(f"  {line}", bool(m.get("val_fields_lost")))]
    for name, f in (m.get("val_field_per_field") or {}).items():
        change = f.get("change") or ""
        rows.append((f"    {name}: F1 {_pct(f.get('f1'))} against {_pct(f.get('active_f1'))}"
                     f" (noise {f.get('noise') or 0:.1%}), {change}", change == "lost"))
    return rows


class LiveChart(QChartView):
    """Training loss (left axis) and validation CER (right axis) against epochs."""

    def __init__(self, parent=None):
        chart = QChart()
        chart.setTitle("Loss and validation CER")
        chart.setMargins(QMargins(4, 4, 4, 4))
        self.loss = QLineSeries()
        self.loss.setName("training loss")
        self.cer = QLineSeries()
        self.cer.setName("validation CER %")
        chart.addSeries(self.loss)
        chart.addSeries(self.cer)
        self.x = QValueAxis()
        self.x.setTitleText("epoch")
        self.x.setLabelFormat("%.0f")
        self.x.setTickType(QValueAxis.TickType.TicksDynamic)  # a tick per epoch (5 fixed ticks label 1.5 as "2")
        self.x.setTickAnchor(0)
        self.x.setTickInterval(1)
        self.y_loss = QValueAxis()
        self.y_loss.setTitleText("loss")
        self.y_cer = QValueAxis()
        self.y_cer.setTitleText("CER %")
        chart.addAxis(self.x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_loss, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(self.y_cer, Qt.AlignmentFlag.AlignRight)
        for s, y in ((self.loss, self.y_loss), (self.cer, self.y_cer)):
            s.attachAxis(self.x)
            s.attachAxis(y)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.clear()

    def clear(self, epochs: int = 1) -> None:
        self.loss.clear()
        self.cer.clear()
        self.x.setRange(0, max(1, epochs))
        self.y_loss.setRange(0, 1)
        self.y_cer.setRange(0, 10)

    def add_loss(self, x: float, loss: float) -> None:
        self.loss.append(x, loss)
        self.y_loss.setMax(max(self.y_loss.max(), loss * 1.1))
        self.x.setMax(max(self.x.max(), x))

    def add_cer(self, epoch: float, cer: float) -> None:
        self.cer.append(epoch, cer * 100)
        self.y_cer.setMax(max(self.y_cer.max(), cer * 110))
        self.x.setMax(max(self.x.max(), epoch))

    def show_run(self, run: runs.Run) -> None:
        self.clear(int(run.params.get("epochs") or len(run.metrics) or 1))
        for m in run.metrics:
            if m.get("loss") is not None:
                self.add_loss(m["epoch"], m["loss"])
            if m.get("val_cer") is not None:
                self.add_cer(m["epoch"], m["val_cer"])


class TrainingScreen(QWidget):
    """Start / cancel a run, the live chart, the runs with their records, compare, promote, roll back."""

    runEnded = Signal(int, str)  # run id, status (for tests and the status bar)
    #: What runs a run: the worker as a child process. Anything with its signals (``message``,
    #: ``ended``), ``start()``, ``cancel()`` and ``running`` will do (tests replay a recorded run).
    process_class = TrainingProcess
    modelChanged = Signal()  # a promotion or a rollback: pre-fill and re-reading now use another model
    message = Signal(str)

    def __init__(self, project: Project, user: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.project, self.user = project, user
        self.process: TrainingProcess | None = None
        self.setWindowTitle(f"Training - {project.name}")

        # -- start a run
        self.dataset = QComboBox()
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 200)
        self.epochs.setValue(3)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        # What a run trains (``train_ocr`` / ``train_fields``, as `proofdesk train --no-fields /
        # --fields-only`): the choices with fields are disabled while the project cannot train them.
        self.what = QComboBox()
        for text, key, tip in WHAT_CHOICES:
            self.what.addItem(text, key)
            self.what.setItemData(self.what.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.what.setAccessibleName("What to train")
        what_label = QLabel("&What to train")
        what_label.setBuddy(self.what)
        self.fields_why = ""
        self.start_button = QPushButton("Start run")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.state = QLabel("no run in progress")
        top = QHBoxLayout()
        for w in (QLabel("Dataset"), self.dataset, what_label, self.what, QLabel("Epochs"), self.epochs,
                  QLabel("Device"), self.device, self.start_button, self.cancel_button):
            top.addWidget(w)
        top.addStretch(1)

        self.chart = LiveChart()
        self.chart.setMinimumHeight(220)

        # -- runs
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, name in enumerate(COLUMNS):
            if name in COLUMN_TIPS:
                self.table.horizontalHeaderItem(col).setToolTip(COLUMN_TIPS[name])
        # Shown beside the verdict it may explain (its index stays the last: the cells keep theirs).
        self.table.horizontalHeader().moveSection(OCR_FIELDS_COLUMN, COLUMNS.index("verdict") + 1)
        self.table.setColumnHidden(OCR_FIELDS_COLUMN, True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.compare_button = QPushButton("Compare two runs")
        self.promote_button = QPushButton("Promote model")
        self.rollback_button = QPushButton("Roll back")
        self.promote_fields_button = QPushButton("Promote field model")
        self.rollback_fields_button = QPushButton("Roll back field model")
        self.refresh_button = QPushButton("Refresh")
        self.active_label = QLabel()
        buttons = QHBoxLayout()
        for w in (self.compare_button, self.promote_button, self.rollback_button, self.promote_fields_button,
                  self.rollback_fields_button, self.refresh_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.active_label)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.table)
        lower.addWidget(self.detail)
        lower.setStretchFactor(0, 2)   # the table's 14 columns; the details wrap
        lower.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        QWidget.setTabOrder(self.dataset, self.what)  # Tab goes along the line as it reads
        QWidget.setTabOrder(self.what, self.epochs)
        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.state, 2)
        layout.addLayout(status)
        layout.addWidget(self.chart, 2)
        layout.addLayout(buttons)
        layout.addWidget(lower, 3)

        self.start_button.clicked.connect(self.start_run)
        self.cancel_button.clicked.connect(self.cancel_run)
        self.compare_button.clicked.connect(self.compare_selected)
        self.promote_button.clicked.connect(self.promote_selected)
        self.rollback_button.clicked.connect(lambda: self.roll_back())
        self.promote_fields_button.clicked.connect(self.promote_selected_fields)
        self.rollback_fields_button.clicked.connect(lambda: self.roll_back(registry.FIELDS))
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.gate_by_role()
        self.refresh()

    def gate_by_role(self) -> None:
        """Promoting and rolling back are an admin's (``core.registry``): for anyone else the
        buttons are disabled and say how to get the role, rather than refusing on click."""
        from core.review import may

        from ..review import role_hint

        admin = may(self.project.store, self.user, "admin")
        hint = "" if admin else "Only an admin changes the model pre-fill uses. " + role_hint(
            self.user, "admin", self.project.store)
        for button, tip in ((self.promote_button, "Make the selected run's model the one pre-fill uses"),
                            (self.rollback_button, "Go back to the model that was active before"),
                            (self.promote_fields_button,
                             "Make the selected run's key-field model the one pre-fill reads fields with"),
                            (self.rollback_fields_button, "Go back to the field model that was active before")):
            button.setEnabled(admin)
            button.setToolTip(tip if admin else hint)

    # -- data ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        store = self.project.store
        for r in runs.reap(store):
            self.message.emit(f"run {r.id} had lost its worker: marked failed")
        current = self.dataset.currentData()
        self.dataset.blockSignals(True)
        self.dataset.clear()
        self.dataset.addItem("new from confirmed pages", NEW_DATASET)
        for v in reversed(datasets.list_versions(store)):
            self.dataset.addItem(f"{v.id}: {v.n_train} train / {v.n_val} val ({v.hash[:8]})", v.id)
        idx = self.dataset.findData(current)
        self.dataset.setCurrentIndex(max(0, idx))
        self.dataset.blockSignals(False)
        selected = self._selected_keys()
        self.runs = runs.list_runs(store)
        models = {v.id: v for v in registry.versions(store)}
        field_of_run = {v.run_id: v for v in models.values() if v.task == registry.FIELDS and v.run_id is not None}
        # Model versions no run made (models import-paddle): listed too, so they can be promoted here.
        self.imported = [v for v in models.values() if v.run_id is None]
        self.table.setRowCount(len(self.runs) + len(self.imported))
        for row, v in enumerate(reversed(self.imported), start=len(self.runs)):
            m = v.metrics
            cells = ["-", "imported", "-", "-", _pct(m.get("val_cer")), _pct(m.get("active_val_cer")),
                     _pct(m.get("val_typing_saved")), _pct(m.get("active_val_typing_saved")), m.get("verdict") or "",
                     v.name, "-" if m.get("eval_seconds") is None else f"{m['eval_seconds']:.0f} s", "-",
                     _fields_cell(v) if v.task == registry.FIELDS else "-", _ocr_fields_cell(m) or "-"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, f"model:{v.id}")
                self.table.setItem(row, col, item)
            self._mark_ocr_fields(row, m)
        for row, r in enumerate(reversed(self.runs)):
            mv = models.get(r.model_version_id)
            cells = [str(r.id), r.status, str(r.dataset_version_id), f"{len(r.metrics)}/{r.params.get('epochs', DEFAULTS['epochs'])}",
                     _pct(mv.metrics.get("val_cer") if mv else (r.metrics[-1].get("val_cer") if r.metrics else None)),
                     _pct(mv.metrics.get("active_val_cer") if mv else None),
                     _pct(mv.metrics.get("val_typing_saved") if mv else None),  # validation pages, end to end
                     _pct(mv.metrics.get("active_val_typing_saved") if mv else None), r.verdict or r.error or "",
                     mv.name if mv else "", "-" if r.duration_s is None else f"{r.duration_s:.0f} s",
                     "-" if r.cost is None else f"{r.cost:.4f}", _fields_cell(field_of_run.get(r.id)),
                     _ocr_fields_cell(mv.metrics if mv else None) or "-"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r.id)
                self.table.setItem(row, col, item)
            self._mark_ocr_fields(row, mv.metrics if mv else None)
        self.table.setColumnHidden(OCR_FIELDS_COLUMN, not any(
            _ocr_fields_cell(v.metrics) for v in models.values() if v.task == registry.RECOGNITION))
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) in selected:
                self.table.selectRow(row)
        if not (self.process and self.process.running):  # not on each epoch's refresh: it counts pages
            self.update_what()
        active, fields = active_model(self.project), active_model(self.project, registry.FIELDS)
        self.active_label.setText(f"active model: {'the shipped model' if active.shipped else active.name}; "
                                  f"fields: {fields.name}")

    def _mark_ocr_fields(self, row: int, metrics: dict | None) -> None:
        """The OCR fields cell of ``row``: the CLI's sentence as its tooltip; red and bold when a
        field was lost (bold still shows on a selected row, drawn in the selection's colours)."""
        line = ocr_field_line(metrics or {})
        if line is None:
            return
        item = self.table.item(row, OCR_FIELDS_COLUMN)
        item.setToolTip(line)
        if metrics.get("val_fields_lost"):
            item.setForeground(WARN_COLOUR)
            font = item.font()
            font.setBold(True)
            item.setFont(font)

    def update_what(self) -> None:
        """Enable the choices that train the key fields only when the project can train them (a
        field schema and ``MIN_FIELD_PAGES`` finished pages with field values, as a run decides by
        default); else disable them, say why in their tooltips, and choose "Text only"."""
        from ml.training.fields import MIN_FIELD_PAGES, wanted

        ok, why = wanted(self.project.store, {})
        self.fields_why = "" if ok else (
            f"Key fields cannot be trained yet: {why}" + (
                " (name them in Workspace > Field names...)." if not self.project.store.fields()
                else f" (a run needs at least {MIN_FIELD_PAGES} done or approved pages with field values)."))
        model = self.what.model()
        for i, (_text, key, tip) in enumerate(WHAT_CHOICES):
            fields = key != "text"
            model.item(i).setEnabled(ok or not fields)
            self.what.setItemData(i, tip if ok or not fields else self.fields_why, Qt.ItemDataRole.ToolTipRole)
        if not ok and self.what.currentData() != "text":
            self.what.setCurrentIndex(self.what.findData("text"))
        self.what.setToolTip("What the run trains: the OCR, the key fields, or both" +
                             (f". {self.fields_why}" if self.fields_why else ""))

    def what_params(self) -> dict:
        """The run parameters of the "What to train" choice (``train_ocr`` / ``train_fields``)."""
        return dict(WHAT_PARAMS[self.what.currentData() or "both"])

    def selected_run_ids(self) -> list[int]:
        """The selected runs (rows of imported model versions left out: see selected_model_ids)."""
        return [k for k in self._selected_keys() if isinstance(k, int)]

    def selected_model_ids(self) -> list[int]:
        """The selected rows' model versions: a run's, or an imported one's."""
        out = []
        for k in self._selected_keys():
            if isinstance(k, str) and k.startswith("model:"):
                out.append(int(k.split(":", 1)[1]))
            elif isinstance(k, int):
                run = runs.get(self.project.store, k)
                if run.model_version_id is not None:
                    out.append(run.model_version_id)
        return out

    def _selected_keys(self) -> list:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _on_selection(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) == 1 and not (self.process and self.process.running):
            run = runs.get(self.project.store, ids[0])
            self.chart.show_run(run)
            self._show_detail(run)

    def _show_detail(self, run: runs.Run) -> None:
        """The run's record in the detail pane; what its OCR lost on the key fields in red."""
        model_metrics = self._model_metrics(run)
        self.detail.setPlainText(self.describe(run, model_metrics, self._field_metrics(run)))
        doc, warn = self.detail.document(), QTextCharFormat()
        warn.setForeground(WARN_COLOUR)
        warn.setFontWeight(700)
        flags = QTextDocument.FindFlag.FindCaseSensitively
        for i, (text, lost) in enumerate(_ocr_field_rows(model_metrics)):
            if not lost:
                continue
            # The sentence (first): only its "lost: ..." part; a field's row: the whole row.
            mark = f"lost: {', '.join(model_metrics['val_fields_lost'])}" if i == 0 else text.strip()
            found = doc.find(text.strip(), 0, flags)
            if not found.isNull():
                found = doc.find(mark, found.selectionStart(), flags)
            if not found.isNull():
                found.mergeCharFormat(warn)
        self.detail.moveCursor(QTextCursor.MoveOperation.Start)

    def _model_metrics(self, run: runs.Run) -> dict | None:
        return registry.get(self.project.store, run.model_version_id).metrics if run.model_version_id else None

    def _field_metrics(self, run: runs.Run) -> dict | None:
        got = registry.of_run(self.project.store, run.id, registry.FIELDS)
        return got[-1].metrics if got else None

    @staticmethod
    def describe(run: runs.Run, model_metrics: dict | None = None, field_metrics: dict | None = None) -> str:
        lines = [f"run {run.id}: {run.status}" + (f" - {run.verdict}" if run.verdict else ""),
                 f"dataset version {run.dataset_version_id}, base model version {run.base_model_version_id or 'shipped'}",
                 f"params: {json.dumps(run.params, sort_keys=True)}",
                 f"code: {run.code_version}", f"hardware: {json.dumps(run.hardware)}",
                 f"environment: {json.dumps(run.environment)}",
                 f"started {run.started_at}, ended {run.ended_at}, {run.duration_s} s, estimated cost {run.cost}",
                 f"artifact: {run.artifact_path} sha256 {run.artifact_sha256}"]
        if run.error:
            lines.append(f"error: {run.error}")
        lines.append("metrics:")
        lines += [f"  epoch {m['epoch']}: loss {m['loss']}, val CER {_pct(m.get('val_cer'))}" for m in run.metrics]
        if model_metrics:
            m = model_metrics
            if m.get("val_typing_saved") is not None:
                lines.append(f"  validation pages ({m.get('val_pages')}) read end to end: typing saved "
                             f"{_pct(m['val_typing_saved'])} against {_pct(m.get('active_val_typing_saved'))}, line "
                             f"recall {_pct(m.get('val_recall'))} against {_pct(m.get('active_val_recall'))}, "
                             f"confidence error (ECE) {_pct(m.get('val_ece'))} against {_pct(m.get('active_val_ece'))}")
            lines += [text for text, _lost in _ocr_field_rows(m)]
            if m.get("recognizer_kept"):
                lines.append("  " + recognizer_line(m) + (", in capitals (the training pages' case convention)"
                                                           if m.get("case") == "upper" else ""))
            if m.get("det_thresh") is not None:
                lines.append(f"  detector: fine-tuned on {m.get('det_pages')} page(s), {m.get('det_epochs')} epochs, "
                             f"box threshold {m['det_thresh']:g}"
                             + (f", boxes grown x{m['det_unclip_ratio']:g}" if m.get("det_unclip_ratio") is not None
                                else ""))
        if field_metrics:
            from app.cli_training import field_report

            lines += ["  " + row for row in field_report(field_metrics)]
        lines.append("log:")
        lines += ["  " + ln[:300] for ln in run.log.splitlines()[-40:]]
        return "\n".join(lines)

    # -- a run ---------------------------------------------------------------------------------
    def start_run(self) -> int | None:
        """Create the run (a dataset version when asked) and start its worker. Returns the run id."""
        if self.process and self.process.running:
            return None
        store = self.project.store
        try:
            params = {"epochs": self.epochs.value(), "device": self.device.currentText(), **self.what_params(),
                      **self.extra_params()}
            resolve_params(params)  # a bad value is refused before anything is recorded
            dataset_id = self.dataset.currentData()
            if dataset_id in (None, NEW_DATASET):
                version, _ = datasets.create_version(store, self.project.root, self.user)
                dataset_id = version.id
            active = active_model(self.project).version
            run = runs.create(store, self.user, dataset_id, params, active.id if active else None)
        except ProofdeskError as exc:
            show_error(self, "Cannot start training", str(exc))
            return None
        self.process = self.process_class(self.project, run.id, self)
        self.process.message.connect(self.on_message)
        self.process.ended.connect(self.on_ended)
        self.chart.clear(self.epochs.value())
        self.progress.setValue(0)
        self.state.setText(f"run {run.id}: starting the worker...")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.process.start()
        self.refresh()
        return run.id

    def extra_params(self) -> dict:
        """More run parameters (tests make runs tiny through this)."""
        return dict(getattr(self, "params_override", {}) or {})

    def cancel_run(self) -> None:
        if self.process and self.process.running:
            self.state.setText("cancelling...")
            self.process.cancel()

    def on_message(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "progress":
            total = max(1, int(msg.get("total") or 1))
            self.progress.setMaximum(total)
            self.progress.setValue(int(msg.get("done") or 0))
            text = f"{msg['stage']} {msg.get('done')}/{total}"
            if "epoch" in msg:
                text = f"epoch {msg['epoch']}/{msg['epochs']}: {text}"
                # The chart is the recogniser's; the detector's epochs (stage "detector") come first
                # and have a loss of their own, on another scale: shown in the text only.
                if msg.get("loss") is not None and msg["stage"] == "train":
                    self.chart.add_loss(msg["epoch"] - 1 + msg["done"] / total, float(msg["loss"]))
                    text += f", loss {msg['loss']:.3f}"
            self.state.setText(text)
        elif kind == "metric":
            if msg.get("val_cer") is not None:
                self.chart.add_cer(msg["epoch"], float(msg["val_cer"]))
            self.refresh()
        elif kind == "fields":
            self.state.setText(f"key fields: F1 {_pct(msg.get('f1'))} against {_pct(msg.get('active_f1'))} for "
                               f"{msg.get('compared_with')}" + (f", lost {', '.join(msg['lost'])}" if msg.get("lost")
                                                                else ""))
        elif kind == "done":
            text = f"done: {msg['name']}"
            if msg.get("val_cer") is not None:
                text += f", validation CER {_pct(msg['val_cer'])} against {_pct(msg['active_val_cer'])}"
            if msg.get("fields"):
                f = msg["fields"]
                text += f"; key fields F1 {_pct(f.get('f1'))} against {_pct(f.get('active_f1'))}"
            if msg.get("val_typing_saved") is not None:
                text += (f"; typing saved on the validation pages {_pct(msg['val_typing_saved'])} against "
                         f"{_pct(msg.get('active_val_typing_saved'))}")
            self.state.setText(f"{text} ({msg['verdict']})")
        elif kind == "error":
            self.state.setText(f"failed: {msg.get('error')}")
        elif kind == "cancelled":
            self.state.setText("cancelled")

    def on_ended(self, run_id: int, status: str) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        run = runs.get(self.project.store, run_id)
        if status != "done":
            self.state.setText(f"run {run_id} {status}" + (f": {run.error}" if run.error else ""))
        self._show_detail(run)
        self.refresh()
        self.message.emit(f"training run {run_id} {status}")
        self.runEnded.emit(run_id, status)

    # -- compare, promote, roll back -----------------------------------------------------------
    def compare_selected(self) -> str | None:
        ids = self.selected_run_ids()
        if len(ids) != 2:
            self.detail.setPlainText("Select two runs (Ctrl+click) to compare them side by side.")
            return None
        text = self.compare(*ids)
        self.detail.setPlainText(text)
        return text

    def compare(self, a: int, b: int) -> str:
        store = self.project.store
        ra, rb = runs.get(store, a), runs.get(store, b)
        ma = registry.get(store, ra.model_version_id).metrics if ra.model_version_id else {}
        mb = registry.get(store, rb.model_version_id).metrics if rb.model_version_id else {}
        rows = [("status", ra.status, rb.status), ("dataset version", ra.dataset_version_id, rb.dataset_version_id),
                ("verdict", ra.verdict, rb.verdict), ("val CER", _pct(ma.get("val_cer")), _pct(mb.get("val_cer"))),
                ("compared model CER", _pct(ma.get("active_val_cer")), _pct(mb.get("active_val_cer"))),
                ("duration s", ra.duration_s, rb.duration_s), ("cost", ra.cost, rb.cost),
                ("device", ra.hardware.get("device"), rb.hardware.get("device")),
                ("code", ra.code_version, rb.code_version)]
        if ma.get("val_field_pages") or mb.get("val_field_pages"):
            rows += [("OCR fields F1", _pct(ma.get("val_field_f1")), _pct(mb.get("val_field_f1"))),
                     ("compared OCR fields F1", _pct(ma.get("active_val_field_f1")), _pct(mb.get("active_val_field_f1"))),
                     ("OCR fields gained", ", ".join(ma.get("val_fields_gained") or []) or "-",
                      ", ".join(mb.get("val_fields_gained") or []) or "-"),
                     ("OCR fields lost", ", ".join(ma.get("val_fields_lost") or []) or "-",
                      ", ".join(mb.get("val_fields_lost") or []) or "-")]
        keys = sorted(set(ra.params) | set(rb.params))
        rows += [(f"param {k}", ra.params.get(k), rb.params.get(k)) for k in keys]
        for e in range(1, max(len(ra.metrics), len(rb.metrics)) + 1):
            ea = next((m for m in ra.metrics if m["epoch"] == e), {})
            eb = next((m for m in rb.metrics if m["epoch"] == e), {})
            rows.append((f"epoch {e} loss / CER", f"{ea.get('loss', '-')} / {_pct(ea.get('val_cer'))}",
                         f"{eb.get('loss', '-')} / {_pct(eb.get('val_cer'))}"))
        width = max(len(r[0]) for r in rows)
        out = [f"{'':<{width}}  {'run ' + str(a):<28}  run {b}"]
        out += [f"{k:<{width}}  {str(x):<28}  {y}" + ("" if x == y else "   *") for k, x, y in rows]
        return "\n".join(out)

    def promote_selected(self) -> None:
        if len(self._selected_keys()) != 1:
            self.detail.setPlainText("Select the run (or imported model) whose model to promote.")
            return
        ids = self.selected_model_ids()
        if not ids:
            self.detail.setPlainText(f"Run {self.selected_run_ids()[0]} made no model.")
            return
        try:
            version = registry.get(self.project.store, ids[0])
            registry.promote(self.project.store, self.user, version)
        except ProofdeskError as exc:
            show_error(self, "Cannot promote", str(exc))
            return
        self.message.emit(f"promoted {version.name}: the next pre-fill uses it")
        self.modelChanged.emit()
        self.refresh()

    def promote_selected_fields(self) -> None:
        """Promote the selected run's key-field model (pre-fill reads the fields with it)."""
        ids = self.selected_run_ids()
        if len(self._selected_keys()) != 1 or len(ids) != 1:
            self.detail.setPlainText("Select the run whose field model to promote.")
            return
        got = registry.of_run(self.project.store, ids[0], registry.FIELDS)
        if not got:
            self.detail.setPlainText(f"Run {ids[0]} made no field model.")
            return
        try:
            registry.promote(self.project.store, self.user, got[-1])
        except ProofdeskError as exc:
            show_error(self, "Cannot promote", str(exc))
            return
        self.message.emit(f"promoted {got[-1].name}: the next pre-fill reads the key fields with it")
        self.modelChanged.emit()
        self.refresh()

    def roll_back(self, task: str = registry.RECOGNITION) -> None:
        try:
            version = registry.rollback(self.project.store, self.user, task=task)
        except ProofdeskError as exc:
            show_error(self, "Cannot roll back", str(exc))
            return
        self.message.emit(f"rolled back to {version.name}")
        self.modelChanged.emit()
        self.refresh()
