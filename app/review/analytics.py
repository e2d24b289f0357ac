"""The Analytics screen: annotators and models, for a date range, as QtCharts and tables.

Top: the date range, the auto-accept line (the confidence threshold that reaches the target
precision, box and text right, on checked regions, and the share of work it saves) and the QC
line (the share of finished pages routed to review, per reason). Charts: regions per hour and
CER against reviewers per annotator (over-performers green, under-performers red), typing saved
per day per engine and model version (text), box precision and recall and text 1 - CER per
engine and model version. Every figure says which it is: box (a predicted region kept, IoU 0.7,
whatever its text) or text (characters people typed). Tables below, key fields among them: accuracy
per field (right / predicted) with its auto-accept threshold at the target precision, per model
version and per day. Each chart exports as PNG, each table as CSV. The figures come from ``core.analytics``,
the same functions ``proofdesk stats`` prints.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QDateTimeAxis,
    QHorizontalStackedBarSeries,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QDate, QDateTime, QMargins, Qt, QTime, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QDateEdit,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import analytics, days, review
from core.errors import ProofdeskError
from core.fields import many_valued
from core.project import Project

from ..workers import Worker
from . import refresh_stale_in_background
from .qc_dialog import reason_name

FLAG_COLOURS = {"over": QColor(30, 150, 60), "under": QColor(210, 40, 40), "": QColor(70, 120, 200)}
SERIES_COLOURS = [QColor(30, 120, 230), QColor(235, 140, 0), QColor(30, 150, 60), QColor(200, 40, 200),
                  QColor(120, 120, 120), QColor(0, 160, 170)]
ANNOTATOR_COLUMNS = [("annotator", "Annotator"), ("pages_done", "Pages"), ("regions_touched", "Regions"),
                     ("active_hours", "Hours"), ("pages_per_hour", "Pages/h"), ("regions_per_hour", "Regions/h"),
                     ("edit_rate", "Edit rate"), ("rejection_rate", "Rejected"), ("cer_vs_reviewers", "CER vs reviewer"),
                     ("iou_vs_reviewers", "IoU vs reviewer"), ("flag", "Flag")]
ENGINE_COLUMNS = [("engine", "Engine"), ("version", "Model version"), ("regions", "Regions"), ("pages", "Pages"),
                  ("precision", "Box precision"), ("recall", "Box recall"), ("cer", "Text CER"),
                  ("typing_saved", "Typing saved (text)")]
#: What each figure of the engines is: a box figure or a text one (headers' tooltips).
ENGINE_TIPS = {
    "precision": "Box precision: the share of predicted regions people kept (IoU 0.7 or more with what they left),"
                 " whatever their text",
    "recall": "Box recall: the share of the regions people left that the engine had found",
    "cer": "Text CER: characters people changed in the text of the regions kept, per character",
    "typing_saved": "Text: the share of the characters people did not have to type (1 - CER)",
}
FIELD_COLUMNS = [("name", "Field"), ("predicted", "Predicted"), ("right", "Right"), ("accuracy", "Accuracy"),
                 ("wrong", "Wrong"), ("missing", "Missing"), ("not_on_page", "Not on page"),
                 ("correct_absent", "Correctly absent"), ("threshold", "Auto-accept from"),
                 ("precision_low", "Precision at least"), ("share_saved", "Saves")]
FIELD_MODEL_COLUMNS = [("engine", "Engine"), ("version", "Model version"), ("name", "Field"),
                       ("predicted", "Predicted"), ("right", "Right"), ("accuracy", "Accuracy"), ("wrong", "Wrong"),
                       ("missing", "Missing"), ("not_on_page", "Not on page")]
FIELD_DAY_COLUMNS = [("day", "Day"), ("engine", "Engine"), ("version", "Model version"), ("name", "Field"),
                     ("predicted", "Predicted"), ("right", "Right"), ("accuracy", "Accuracy")]
FIELD_TIPS = {
    "accuracy": "Of the fields the prediction named (a value, or absent), the share people left as predicted"
                " (correct, or correctly absent) and no reviewer marked wrong",
    "missing": "Final values the prediction did not give (it said absent, or did not name the field)",
    "not_on_page": "Values predicted where people marked the field absent",
    "threshold": "The lowest confidence at which this field's predictions are right at the target precision with"
                 " 95% confidence (Wilson lower bound): a page whose fields are all at or above their thresholds"
                 " could skip people. '-': too few checked predictions yet. A form label has no confidence:"
                 " 0.000 when all its predictions together are right at the target, else '-' (its pages wait"
                 " for people)",
}
PERCENT = {"accuracy", "precision_low", "share_saved", "edit_rate", "rejection_rate", "cer_vs_reviewers", "precision", "recall", "cer", "typing_saved"}
#: Annotators shown in the bar charts (the table has them all).
CHART_PEOPLE = 20


def _fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if key in PERCENT:
        return f"{100 * value:.1f}%"
    if key == "threshold":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _floor_to(value: float, step: float = 5.0) -> float:
    """The axis minimum: ``value`` rounded down to a multiple of ``step``, not below 0."""
    return max(0.0, step * (value // step))


def _clear(chart: QChart) -> None:
    """Take a chart's series and axes away for a redraw. An axis is hidden before it goes: one only
    removed kept its labels and title drawn under the new axis's (two sets of dates on one axis)."""
    chart.removeAllSeries()
    for axis in chart.axes():
        axis.setVisible(False)
        chart.removeAxis(axis)


def _chart(title: str) -> tuple[QChart, QChartView]:
    chart = QChart()
    chart.setTitle(title)
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)  # instant, and exact in PNGs
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    chart.setMargins(QMargins(4, 4, 4, 4))
    view = QChartView(chart)  # antialiasing only where lines need it: bars are rectangles
    view.setMinimumHeight(300)
    return chart, view


#: The most labelled days on the typing-saved axis.
MAX_DAY_TICKS = 7


def day_axis(first: str, last: str) -> tuple[QDateTime, QDateTime, int]:
    """The typing-saved axis for the days ``first`` .. ``last``: its range and tick count, so that
    every tick falls at noon of a day (where the points are), each label a different day.

    A day before and after the data give a single day room: one day reads ``11-04 11-05 11-06``
    with its point in the middle (a 00:00-23:59 range with 7 ticks read ``11-05`` seven times).
    With more days than ticks, a tick every few days.
    """
    start = QDate.fromString(first, "yyyy-MM-dd").addDays(-1)
    span = start.daysTo(QDate.fromString(last, "yyyy-MM-dd").addDays(1))
    step = max(1, math.ceil(span / (MAX_DAY_TICKS - 1)))
    steps = math.ceil(span / step)
    return (QDateTime(start, QTime(12, 0)), QDateTime(start.addDays(steps * step), QTime(12, 0)), steps + 1)


class AnalyticsScreen(QWidget):
    """Admin and reviewer screen. Raises PermissionDenied (from core) for an annotator."""

    refreshed = Signal()

    def __init__(self, project: Project, user: str, parent=None):
        super().__init__(parent)
        analytics.require_analytics(project.store, user)
        self.project = project
        self.user = user
        self.data: dict = {}
        self.setWindowTitle(f"Proofdesk - Analytics - {project.name}")
        self.date_from = QDateEdit(calendarPopup=True)
        self.date_to = QDateEdit(calendarPopup=True)
        first, last = self._data_span()
        for edit, day in ((self.date_from, first), (self.date_to, last)):
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.fromString(day, "yyyy-MM-dd"))
        self.target = QDoubleSpinBox()
        self.target.setRange(50.0, 100.0)
        self.target.setDecimals(1)
        self.target.setSuffix(" %")
        self.target.setValue(99.5)
        apply = QPushButton("Apply")
        apply.clicked.connect(self.refresh)
        self.target.valueChanged.connect(lambda _v: self._update_auto_accept())
        self.zone_label = QLabel()
        top = QHBoxLayout()
        for w in (QLabel("From"), self.date_from, QLabel("to"), self.date_to, self.zone_label, apply,
                  QLabel("   Auto-accept target precision"), self.target):
            top.addWidget(w)
        top.addStretch(1)
        self.auto_label = QLabel()
        self.auto_label.setTextFormat(Qt.TextFormat.RichText)
        self.qc_label = QLabel()
        self.qc_label.setTextFormat(Qt.TextFormat.RichText)
        self.qc_label.setWordWrap(True)

        self.speed_chart, self.speed_view = _chart("Regions per hour (green: over-performer, red: under)")
        self.cer_chart, self.cer_view = _chart("CER against reviewers (green: over-performer, red: under)")
        for chart in (self.speed_chart, self.cer_chart):
            chart.legend().hide()  # the title says what the colours mean: room for every name
        self.saved_chart, self.saved_view = _chart("Typing saved per day (text), by engine and model version")
        self.saved_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.quality_chart, self.quality_view = _chart(
            "Box precision and recall, text 1 - CER, by engine and model version")
        self.charts = {"regions_per_hour": self.speed_view, "cer_vs_reviewers": self.cer_view,
                       "typing_saved": self.saved_view, "precision_recall": self.quality_view}
        grid = QGridLayout()
        for i, (name, view) in enumerate(self.charts.items()):
            box = QVBoxLayout()
            box.addWidget(view, 1)
            button = QPushButton("Export PNG...")
            button.clicked.connect(lambda _=False, n=name: self._export_png_dialog(n))
            box.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
            grid.addLayout(box, i // 2, i % 2)
        charts = QWidget()
        charts.setLayout(grid)

        self.annotator_table = self._table([h for _, h in ANNOTATOR_COLUMNS])
        self.engine_table = self._table([h for _, h in ENGINE_COLUMNS])
        for col, (key, _) in enumerate(ENGINE_COLUMNS):
            if key in ENGINE_TIPS:
                self.engine_table.horizontalHeaderItem(col).setToolTip(ENGINE_TIPS[key])
        self.field_table = self._table([h for _, h in FIELD_COLUMNS])
        self.field_model_table = self._table([h for _, h in FIELD_MODEL_COLUMNS])
        self.field_day_table = self._table([h for _, h in FIELD_DAY_COLUMNS])
        for table, columns in ((self.field_table, FIELD_COLUMNS), (self.field_model_table, FIELD_MODEL_COLUMNS),
                               (self.field_day_table, FIELD_DAY_COLUMNS)):
            for col, (key, _) in enumerate(columns):
                if key in FIELD_TIPS:
                    table.horizontalHeaderItem(col).setToolTip(FIELD_TIPS[key])
        tables = QTabWidget()
        self.table_tabs = tables
        for name, table, label in (("annotators", self.annotator_table, "Annotators"),
                                   ("engines", self.engine_table, "Engines and model versions"),
                                   ("fields", self.field_table, "Fields"),
                                   ("field_models", self.field_model_table, "Fields by model version"),
                                   ("field_days", self.field_day_table, "Fields by day")):
            page = QWidget()
            pv = QVBoxLayout(page)
            pv.addWidget(table)
            button = QPushButton("Export CSV...")
            button.clicked.connect(lambda _=False, n=name: self._export_csv_dialog(n))
            pv.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
            tables.addTab(page, label)
        self.tables = {"annotators": self.annotator_table, "engines": self.engine_table, "fields": self.field_table,
                       "field_models": self.field_model_table, "field_days": self.field_day_table}

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.auto_label)
        layout.addWidget(self.qc_label)
        layout.addWidget(charts, 4)
        layout.addWidget(tables, 2)
        self.refresh()
        self.workers: set[Worker] = set()
        self._refresh_stale_in_background()

    def _refresh_stale_in_background(self) -> Worker:
        return refresh_stale_in_background(self)

    def _table(self, headers: list[str]) -> QTableWidget:
        t = QTableWidget(0, len(headers))
        t.setHorizontalHeaderLabels(headers)
        t.verticalHeader().hide()
        t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # Interactive + one resizeColumnsToContents after filling: ResizeToContents re-measures
        # every column on every setItem (150 ms for a 12-row table).
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        t.setAlternatingRowColors(True)
        return t

    def _data_span(self) -> tuple[str, str]:
        if not analytics.sync_days(self.project.store):  # days of the project's zone (redone when it changed)
            analytics.refresh_activity(self.project.store)
        first, last = analytics.activity_span(self.project.store)  # not the edit log
        today = QDate.currentDate().toString("yyyy-MM-dd")
        return (first or today)[:10], (last or today)[:10]

    def set_range(self, first: str, last: str) -> None:
        self.date_from.setDate(QDate.fromString(first, "yyyy-MM-dd"))
        self.date_to.setDate(QDate.fromString(last, "yyyy-MM-dd"))
        self.refresh()

    # -- data --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Figures for the range, then charts and tables."""
        try:
            self.data = self.load()
        except ProofdeskError as exc:  # a reversed range: said where the figures would be
            self.auto_label.setText(f"<span style='color:#c02020'>{exc}</span>")
            return
        self.draw()
        self.refreshed.emit()

    def load(self) -> dict:
        store = self.project.store
        first = self.date_from.date().toString("yyyy-MM-dd")
        last = self.date_to.date().toString("yyyy-MM-dd")
        days.parse_range(first, last, ("From", "to"))
        self.zone_label.setText(f"(days in {days.zone_name(store)})")
        people = analytics.annotator_stats(store, first, last)
        engines, per_day = analytics.engine_report(store, first, last)
        self._accept_counts = review.auto_accept_counts(store)
        self._field_buckets = store.field_confidence_buckets()
        fields = analytics.field_report(store, first, last)
        return {"from": first, "to": last, "annotators": people, "engines": engines, "days": per_day,
                "qc_routing": analytics.qc_routing(store, first, last), "fields": fields["fields"],
                "field_models": fields["models"], "field_days": fields["days"]}

    def _update_auto_accept(self) -> None:
        a = review.choose_threshold_counts(self._accept_counts, self.target.value() / 100)
        self.auto_accept = a
        if a.threshold is None:
            text = (f"Auto-accept: no confidence threshold reaches {a.target_precision:.1%} precision (box and text"
                    f" right) on the {a.total} predicted regions people checked.")
        else:
            text = (f"Auto-accept regions with confidence &ge; <b>{a.threshold:.3f}</b>: precision (box and text right)"
                    f" <b>{a.precision:.2%}</b> (at least {a.precision_low:.2%} with 95% confidence) on"
                    f" {a.accepted} of {a.total} checked regions, saves <b>{a.share_saved:.1%}</b> of the work.")
        # core.review.apply_auto_accept: a page's key fields must be sure too, and a form's labels
        # (no confidence: all of a label's predictions right at the target, or none skip people)
        names = self.project.store.fields()
        schema = [n for n in names if not many_valued(n)]
        labels = [n for n in names if many_valued(n)]
        sure = {f.name for f in analytics.field_auto_accept(self.project.store, a.target_precision,
                                                            buckets=getattr(self, "_field_buckets", []))
                if f.threshold is not None} if names else set()
        if schema:
            waiting = [n for n in schema if n not in sure]
            text += (" A page with key fields is accepted only when each field is at or above its own threshold"
                     " (table below)" + (f"; none yet for {', '.join(waiting)}." if waiting else "."))
        if labels:
            waiting = [n for n in labels if n not in sure]
            text += (" A form page is accepted only when each label it predicts is right at the target precision"
                     + (f"; not yet: {', '.join(waiting)} (its pages wait for people)." if waiting else
                        ": all are."))
        self.auto_label.setText(text)
        self._update_fields()

    def _field_rows(self) -> list[dict]:
        """The per-field table's rows: accuracy over the range, and the auto-accept threshold at the
        target precision (checked pages of every day, as the regions' threshold)."""
        target = self.target.value() / 100
        accept = {a.name: a for a in analytics.field_auto_accept(self.project.store, target,
                                                                   buckets=self._field_buckets)}
        self.field_accept = accept
        rows = []
        names = [f.name for f in self.data.get("fields", [])]
        names += [n for n in accept if n not in names]
        stats = {f.name: f for f in self.data.get("fields", [])}
        for name in names:
            row = stats[name].as_dict() if name in stats else {"name": name}
            a = accept.get(name)
            row.update({"threshold": a.threshold if a else None,
                        "precision_low": a.precision_low if a and a.threshold is not None else None,
                        "share_saved": a.share_saved if a and a.threshold is not None else None})
            rows.append(row)
        return rows

    def _update_fields(self) -> None:
        if not self.data:
            return
        self._fill(self.field_table, FIELD_COLUMNS, self._field_rows())

    # -- drawing ---------------------------------------------------------------------------------
    def draw(self) -> None:
        d = self.data
        people = sorted(d["annotators"], key=lambda s: -(s.regions_per_hour or 0))[:CHART_PEOPLE]
        self._bars(self.speed_chart, [(s.annotator, s.regions_per_hour or 0.0, s.flag) for s in people], "regions / h")
        people_cer = sorted((s for s in d["annotators"] if s.cer_vs_reviewers is not None),
                            key=lambda s: s.cer_vs_reviewers)[:CHART_PEOPLE]
        self._bars(self.cer_chart, [(s.annotator, 100 * s.cer_vs_reviewers, s.flag) for s in people_cer], "CER %")
        self._typing_saved(d["days"])
        self._quality(d["engines"])
        self._fill(self.annotator_table, ANNOTATOR_COLUMNS, [s.as_dict() for s in d["annotators"]],
                   colour_key="flag")
        self._fill(self.engine_table, ENGINE_COLUMNS, [e.as_dict() for e in d["engines"]])
        self._fill(self.field_model_table, FIELD_MODEL_COLUMNS, [f.as_dict() for f in d["field_models"]])
        self._fill(self.field_day_table, FIELD_DAY_COLUMNS, [f.as_dict() for f in d["field_days"]])
        self._update_auto_accept()
        self._update_qc(d["qc_routing"])

    def _update_qc(self, q: dict) -> None:
        """The QC line: how many of the pages finished in the range went to review, and why."""
        rules = (f"rules now: a {q['rules']['sample_share']:.0%} sample, and pages expected to hold more than"
                 f" {q['rules']['expected_wrong_max']:g} wrong regions among the lines nobody checked"
                 " (Review &gt; QC rules)")
        if not q["finished"]:
            self.qc_label.setText(f"QC: no page finished in this range ({rules}).")
            return
        parts = ", ".join(f"{reason_name(k)} {v['share']:.1%} ({v['pages']})" for k, v in q["reasons"].items()
                          if v["pages"])
        self.qc_label.setText(f"QC: <b>{q['share']:.1%}</b> of the {q['finished']} pages finished went to review"
                              f" ({q['routed']})" + (f": {parts}" if parts else "") + f"; {rules}.")

    def _bars(self, chart: QChart, rows: list[tuple[str, float, str]], unit: str) -> None:
        _clear(chart)
        series = QHorizontalStackedBarSeries()
        # One set per flag so that over- and under-performers get their colours; stacked, and
        # each set has a value only on its own rows, so every row shows one bar.
        sets = {}
        for flag, colour in FLAG_COLOURS.items():
            s = QBarSet({"over": "over-performer", "under": "under-performer", "": "others"}[flag])
            s.setColor(colour)
            sets[flag] = s
        names = [r[0] for r in reversed(rows)]
        for _name, value, flag in reversed(rows):
            for f, s in sets.items():
                s.append(value if f == flag else 0.0)
        for s in sets.values():
            series.append(s)
        series.setBarWidth(0.7)
        chart.addSeries(series)
        y = QBarCategoryAxis()
        y.append(names or ["(none)"])
        font = y.labelsFont()
        font.setPointSizeF(7.5 if len(names) > 8 else 9)  # every name readable, not elided
        y.setLabelsFont(font)
        y.setTruncateLabels(False)
        x = QValueAxis()
        x.setTitleText(unit)
        x.setMin(0)
        x.setMax(max([r[1] for r in rows] + [1.0]) * 1.05)
        x.applyNiceNumbers()
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(y)
        series.attachAxis(x)

    def _typing_saved(self, per_day) -> None:
        chart = self.saved_chart
        _clear(chart)
        by_key: dict[tuple[str, str], QLineSeries] = {}
        # A day is a day of the project's zone (core.days); the axis labels its points in this
        # machine's local time, so each point sits at local noon of its day.
        for d in per_day:
            series = by_key.get((d.engine, d.version))
            if series is None:
                series = by_key[(d.engine, d.version)] = QLineSeries()
                series.setName(f"{d.engine} {d.version}")
                series.setColor(SERIES_COLOURS[(len(by_key) - 1) % len(SERIES_COLOURS)])
            when = QDateTime(QDate.fromString(d.day, "yyyy-MM-dd"), QTime(12, 0))
            series.append(when.toMSecsSinceEpoch(), 100 * d.typing_saved)
        for series in by_key.values():
            series.setPointsVisible(True)  # a line of one day is a point: drawn as one
            series.setMarkerSize(7.0)
        x = QDateTimeAxis()
        x.setFormat("MM-dd")
        y = QValueAxis()
        y.setTitleText("typing saved %")
        lows = [100 * d.typing_saved for d in per_day]
        y.setRange(_floor_to(min(lows + [100.0]) - 2), 100.0)  # zoomed to the data: changes show
        if per_day:
            first, last, ticks = day_axis(min(d.day for d in per_day), max(d.day for d in per_day))
            x.setRange(first, last)
            x.setTickCount(ticks)
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        for series in by_key.values():
            chart.addSeries(series)
            series.attachAxis(x)
            series.attachAxis(y)

    def _quality(self, engines) -> None:
        chart = self.quality_chart
        _clear(chart)
        series = QBarSeries()
        for label, key, colour in (("box precision", "precision", QColor(30, 120, 230)),
                                   ("box recall", "recall", QColor(235, 140, 0)),
                                   ("text 1 - CER", "cer", QColor(30, 150, 60))):
            s = QBarSet(label)
            s.setColor(colour)
            for e in engines:
                v = getattr(e, key)
                s.append(100 * (1 - v if key == "cer" else v))
            series.append(s)
        chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append([f"{e.engine} {e.version}" for e in engines] or ["(none)"])
        y = QValueAxis()
        lows = [100 * min(e.precision, e.recall, 1 - e.cer) for e in engines]
        y.setRange(_floor_to(min(lows + [100.0]) - 2), 100)
        y.setTitleText("%")
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x)
        series.attachAxis(y)

    def _fill(self, table: QTableWidget, columns, rows: list[dict], colour_key: str | None = None) -> None:
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, (key, _) in enumerate(columns):
                item = QTableWidgetItem(_fmt(key, row.get(key)))
                if colour_key and row.get(colour_key):
                    item.setForeground(FLAG_COLOURS[row[colour_key]])
                table.setItem(i, j, item)
        table.resizeColumnsToContents()
        table.setUpdatesEnabled(True)

    # -- export --------------------------------------------------------------------------------
    def export_png(self, chart: str, path: str | Path) -> Path:
        path = Path(path)
        if not self.charts[chart].grab().save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")
        return path

    def export_csv(self, table: str, path: str | Path) -> Path:
        """The table's figures, unformatted (fractions, not percentages)."""
        path = Path(path)
        columns = {"annotators": ANNOTATOR_COLUMNS, "engines": ENGINE_COLUMNS, "fields": FIELD_COLUMNS,
                   "field_models": FIELD_MODEL_COLUMNS, "field_days": FIELD_DAY_COLUMNS}[table]
        if table == "fields":
            rows = self._field_rows()
        else:
            rows = [r.as_dict() for r in self.data[table]]
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([k for k, _ in columns])
            for r in rows:
                w.writerow(["" if r.get(k) is None else r.get(k) for k, _ in columns])
        return path

    def _export_png_dialog(self, chart: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export chart", f"{chart}.png", "PNG images (*.png)")
        if path:
            self.export_png(chart, path)

    def _export_csv_dialog(self, table: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export table", f"{table}.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(table, path)
