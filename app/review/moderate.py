"""The Moderate screen: filter pages, count moderated against not, compare prediction and now.

Left: the filters, the counts for the current filter and the page list (review-queue pages
first, lowest confidence first). Right: the page as the engine predicted it beside the page as
it is now, each region coloured by its verdict, and the list of verdicts: predicted text,
current text (editable: a fix is one store action), kind, confidence and the reviewer's mark.
Approve, or reject with a comment that sends the page back to its annotator. Below, the page's
key fields (issue 15): each field of the prediction that made them beside its final value, with
its verdict (correct, correctly absent, wrong, missing, not on the page), confidence and the
reviewer's mark; the page list counts wrong fields and filters pages "with wrong fields". A
region whose predicted field label people changed (a form's answer made a question) says so
beside its verdict, and the page list counts and filters those ("with wrong labels").

Every rule (who may look, who may approve, blind review) is enforced in core; this screen asks
core first and shows what the user may not do disabled, with how to get the role (a one-person
project's annotator may look, but approving, rejecting and marking need the reviewer role), and
shows any refusal it gets back.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImageReader, QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsPolygonItem,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import days, review
from core.errors import ProofdeskError
from core.model import PageStatus, quad_bounds
from core.project import Project

from ..workers import Worker
from ..workspace.canvas import PageCanvas
from . import refresh_stale_in_background, role_hint

KIND_COLOURS = {
    "correct": QColor(30, 150, 60),
    "wrong_text": QColor(235, 140, 0),
    "wrong_box": QColor(200, 40, 200),
    "deleted": QColor(220, 30, 30),
    "missing": QColor(30, 110, 230),
}
KIND_NAMES = {"correct": "correct", "wrong_text": "wrong text", "wrong_box": "wrong box",
              "deleted": "deleted (false positive)", "missing": "missing (added by a person)"}
FIELD_KIND_COLOURS = {
    "correct": QColor(30, 150, 60),
    "correct_absent": QColor(60, 140, 110),
    "wrong": QColor(235, 140, 0),
    "missing": QColor(30, 110, 230),
    "not_on_page": QColor(220, 30, 30),
}
FIELD_KIND_NAMES = {"correct": "correct", "correct_absent": "correctly absent", "wrong": "wrong",
                    "missing": "missing", "not_on_page": "not on the page"}
PREDICTED_COLOUR = QColor(90, 90, 90)
#: Long side of the page image drawn on the two canvases (a moderation view, not for typing).
VIEW_PIXELS = 1600
#: Rows in the page list: review-queue pages and the lowest confidence first; narrow the filter
#: to see others (the counts always cover every page of the filter).
LIST_LIMIT = 1000
ANY = "any"


def _pen(colour: QColor, dashed: bool = False) -> QPen:
    pen = QPen(colour, 2.0)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class FilterBar(QGroupBox):
    """Every filter of the Moderate screen; ``changed`` fires on any edit."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Filter", parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.date_field = QComboBox()
        self.date_field.addItem("annotated (marked done)", "annotated")
        self.date_field.addItem("imported", "imported")
        self.use_dates = QCheckBox("between")
        self.date_from = QDateEdit(calendarPopup=True)
        self.date_to = QDateEdit(calendarPopup=True)
        for d in (self.date_from, self.date_to):
            d.setDisplayFormat("yyyy-MM-dd")
            d.setDate(QDate.currentDate())
        row = QHBoxLayout()
        row.addWidget(self.date_field)
        row.addWidget(self.use_dates)
        row.addWidget(self.date_from)
        row.addWidget(QLabel("and"))
        row.addWidget(self.date_to)
        form.addRow("Pages", row)
        self.status = QComboBox()
        self.status.addItem(ANY, None)
        for s in PageStatus:
            self.status.addItem(s.value.replace("_", " "), s.value)
        self.annotator = QComboBox()
        self.engine = QComboBox()
        self.version = QComboBox()
        row = QHBoxLayout()
        row.addWidget(self.status)
        row.addWidget(QLabel("annotator"))
        row.addWidget(self.annotator)
        form.addRow("Status", row)
        row = QHBoxLayout()
        row.addWidget(self.engine)
        row.addWidget(QLabel("model version"))
        row.addWidget(self.version)
        form.addRow("Engine", row)
        self.use_conf = QCheckBox("below")
        self.conf = QDoubleSpinBox()
        self.conf.setRange(0.0, 1.0)
        self.conf.setSingleStep(0.05)
        self.conf.setValue(0.6)
        self.wrong = QComboBox()
        self.wrong.addItem(ANY, None)
        self.wrong.addItem("with wrong predictions", True)
        self.wrong.addItem("all predictions correct", False)
        self.routed = QCheckBox("review queue only")
        self.wrong_fields = QComboBox()
        self.wrong_fields.addItem(ANY, None)
        self.wrong_fields.addItem("with wrong fields", True)
        self.wrong_fields.addItem("all fields right", False)
        self.wrong_fields.setToolTip("Key fields: pages with a field predicted wrong, missed, not on the page or"
                                     " marked wrong; or pages whose predicted fields are all right")
        self.wrong_labels = QComboBox()
        self.wrong_labels.addItem(ANY, None)
        self.wrong_labels.addItem("with wrong labels", True)
        self.wrong_labels.addItem("all labels right", False)
        self.wrong_labels.setToolTip("Field labels (a form's header / question / answer, a key field's region):"
                                     " pages with a region whose predicted label people changed; or pages"
                                     " whose predicted labels people all kept")
        row = QHBoxLayout()
        row.addWidget(self.use_conf)
        row.addWidget(self.conf)
        row.addWidget(self.wrong)
        row.addWidget(QLabel("fields"))
        row.addWidget(self.wrong_fields)
        row.addWidget(QLabel("labels"))
        row.addWidget(self.wrong_labels)
        row.addWidget(self.routed)
        form.addRow("Confidence", row)
        for w in (self.date_field, self.status, self.annotator, self.engine, self.version, self.wrong,
                  self.wrong_fields, self.wrong_labels):
            w.currentIndexChanged.connect(self.changed)
        for w in (self.use_dates, self.use_conf, self.routed):
            w.toggled.connect(self.changed)
        for w in (self.date_from, self.date_to):
            w.dateChanged.connect(lambda _d: self.use_dates.isChecked() and self.changed.emit())
        self.conf.valueChanged.connect(lambda _v: self.use_conf.isChecked() and self.changed.emit())

    def set_choices(self, choices: dict[str, list[str]], annotators_allowed: bool) -> None:
        for combo, key in ((self.annotator, "annotator"), (self.engine, "engine"), (self.version, "model_version")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(ANY, None)
            for value in choices.get(key, []):
                combo.addItem(value, value)
            i = combo.findData(current)
            combo.setCurrentIndex(max(i, 0))
            combo.blockSignals(False)
        self.annotator.setEnabled(annotators_allowed)
        self.annotator.setToolTip("" if annotators_allowed else "Reviews are blind: only an admin filters by annotator")

    def set_dates(self, first: str | None, last: str | None, field: str = "annotated") -> None:
        """Filter by a date range (``None`` for both: no date filter)."""
        self.blockSignals(True)
        self.date_field.setCurrentIndex(self.date_field.findData(field))
        if first:
            self.date_from.setDate(QDate.fromString(first, "yyyy-MM-dd"))
        if last:
            self.date_to.setDate(QDate.fromString(last, "yyyy-MM-dd"))
        self.use_dates.setChecked(bool(first or last))
        self.blockSignals(False)
        self.changed.emit()

    def filter(self) -> review.ModerateFilter:
        dates = self.use_dates.isChecked()
        return review.ModerateFilter(
            date_from=self.date_from.date().toString("yyyy-MM-dd") if dates else None,
            date_to=self.date_to.date().toString("yyyy-MM-dd") if dates else None,
            date_field=self.date_field.currentData(),
            status=self.status.currentData(),
            annotator=self.annotator.currentData() if self.annotator.isEnabled() else None,
            engine=self.engine.currentData(),
            model_version=self.version.currentData(),
            confidence_below=self.conf.value() if self.use_conf.isChecked() else None,
            has_wrong=self.wrong.currentData(),
            has_wrong_fields=self.wrong_fields.currentData(),
            has_wrong_labels=self.wrong_labels.currentData(),
            routed_only=self.routed.isChecked(),
        )


class ModeratePageModel(QAbstractTableModel):
    HEADERS = ("Page", "Status", "Annotator", "Done", "Wrong", "Wrong fields", "Wrong labels", "Min conf",
               "Why in review")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[review.ModeratePage] = []
        self.zone = days.get_zone("UTC")  # the project's: set by the screen, days shown as the filters count them

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            who = r.annotator or ("(blind)" if r.blind and r.done_at else "")
            conf = "" if r.min_confidence is None else f"{r.min_confidence:.2f}"
            return (r.name, r.status.replace("_", " "), who, days.local_day(r.done_at, self.zone) or "",
                    str(r.n_wrong) if r.n_wrong else "", str(r.n_wrong_fields) if r.n_wrong_fields else "",
                    str(r.n_wrong_labels) if r.n_wrong_labels else "", conf, ", ".join(r.reasons))[index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return r.page_id
        return None


def _colour(v) -> QColor:
    """A verdict's colour: its kind's, but a kept text whose label people changed is not shown as right."""
    return KIND_COLOURS["wrong_text" if v.label_wrong and v.kind == "correct" else v.kind]


def _label_change(v) -> str:
    """``label answer -> question`` for a verdict whose predicted label people changed, else ''."""
    return f"label {v.pred_label} \u2192 {v.label or '(none)'}" if v.label_wrong else ""


class ModerateScreen(QWidget):
    """The reviewer's screen. Raises PermissionDenied (from core) for an annotator."""

    openInWorkspace = Signal(int)  # page id: fix boxes, fill in missing regions there
    pageReviewed = Signal(int)
    refreshed = Signal()  # counts and list are current

    def __init__(self, project: Project, user: str, parent=None):
        super().__init__(parent)
        review.require_viewer(project.store, user)
        self.project = project
        self.user = user
        self.page_id: int | None = None
        self.counts: dict[str, int] = {}
        self._rows: list[tuple] = []  # (verdict, predicted text, region) per verdict table row
        self.workers: set[Worker] = set()
        self.setWindowTitle(f"Proofdesk - Moderate - {project.name}")

        self.filters = FilterBar()
        self.counts_label = QLabel()
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.model = ModeratePageModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in enumerate((150, 80, 90, 84, 50, 90, 90, 64)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(self._on_select)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.filters)
        lv.addWidget(self.counts_label)
        lv.addWidget(self.table, 1)

        self.predicted = PageCanvas()
        self.current = PageCanvas()
        for c in (self.predicted, self.current):
            c.setInteractive(False)  # a moderation view: changes go through the buttons
        self._content = None  # the part of the page with regions, what the canvases show
        # The two canvases move together: zoom or scroll one, the other follows.
        for a, b in ((self.predicted, self.current), (self.current, self.predicted)):
            a.zoomChanged.connect(lambda _z, a=a, b=b: b.setTransform(a.transform()))
            a.horizontalScrollBar().valueChanged.connect(b.horizontalScrollBar().setValue)
            a.verticalScrollBar().valueChanged.connect(b.verticalScrollBar().setValue)
        self.page_title = QLabel()
        legend = QLabel("  ".join(
            f'<span style="color:{KIND_COLOURS[k].name()}">&#9632; {KIND_NAMES[k]}</span>' for k in KIND_COLOURS))
        legend.setTextFormat(Qt.TextFormat.RichText)
        canvases = QSplitter(Qt.Orientation.Horizontal)
        for title, canvas in (("Predicted by the engine", self.predicted), ("Now (colour = verdict)", self.current)):
            box = QWidget()
            bv = QVBoxLayout(box)
            bv.setContentsMargins(0, 0, 0, 0)
            bv.addWidget(QLabel(f"<b>{title}</b>"))
            bv.addWidget(canvas)
            canvases.addWidget(box)
        self.verdicts = QTableWidget(0, 5)
        self.verdicts.setHorizontalHeaderLabels(["Verdict", "Predicted", "Now (edit to fix)", "Conf", "Mark"])
        self.verdicts.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.verdicts.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verdicts.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verdicts.verticalHeader().hide()
        self.verdicts.itemChanged.connect(self._on_text_edited)
        self.verdicts.itemSelectionChanged.connect(self._highlight)

        # The page's key fields: predicted against final, with verdicts and the reviewer's marks.
        self.fields_box = QGroupBox("Key fields (predicted against final)")
        self.field_table = QTableWidget(0, 6)
        self.field_table.setHorizontalHeaderLabels(["Field", "Predicted", "Final", "Verdict", "Conf", "Mark"])
        for col in (1, 2):
            self.field_table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.field_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.field_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.field_table.verticalHeader().hide()
        self.field_table.verticalHeader().setDefaultSectionSize(24)
        self.field_table.setMinimumHeight(150)
        self.fields_summary = QLabel()
        self.mark_field_correct = QPushButton("Mark field correct")
        self.mark_field_wrong = QPushButton("Mark field wrong")
        self.mark_field_correct.clicked.connect(lambda: self.mark_fields_selected("correct"))
        self.mark_field_wrong.clicked.connect(lambda: self.mark_fields_selected("wrong"))
        fv = QVBoxLayout(self.fields_box)
        fv.setContentsMargins(4, 4, 4, 4)
        fv.addWidget(self.field_table, 1)
        frow = QHBoxLayout()
        frow.addWidget(self.fields_summary, 1)
        frow.addWidget(self.mark_field_correct)
        frow.addWidget(self.mark_field_wrong)
        fv.addLayout(frow)
        self._field_rows: list = []  # FieldVerdict per field table row
        self.mark_correct = QPushButton("Mark correct")
        self.mark_wrong = QPushButton("Mark wrong")
        self.delete_button = QPushButton("Delete region")
        self.open_button = QPushButton("Fix / fill in in the workspace")
        self.mark_correct.clicked.connect(lambda: self.mark_selected("correct"))
        self.mark_wrong.clicked.connect(lambda: self.mark_selected("wrong"))
        self.delete_button.clicked.connect(self.delete_selected)
        self.open_button.clicked.connect(lambda: self.page_id is not None and self.openInWorkspace.emit(self.page_id))
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment for the annotator (needed to reject)")
        self.next_button = QPushButton("&Next in QC queue")
        self.next_button.setToolTip("Open the next page of the QC queue that nobody else is reviewing (Alt+N)")
        self.next_button.clicked.connect(self.open_next_in_queue)
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.approve_button.clicked.connect(lambda: self.review("approved"))
        self.reject_button.clicked.connect(lambda: self.review("rejected"))
        self.message = QLabel()
        self.message.setWordWrap(True)
        # What the user's role may do here (core enforces it anyway): the rest is disabled.
        self.may_review = review.may(project.store, user, "review")
        self.role_note = QLabel()
        self.role_note.setObjectName("roleNote")
        self.role_note.setWordWrap(True)
        self.role_note.setStyleSheet("color: #8a5a00;")
        hint = role_hint(user, "review", project.store)
        if not self.may_review:
            self.role_note.setText(f"You ({user}) may look at the pages here, but approving, rejecting and marking"
                                   f" predictions is for reviewers. {hint}")
            for b in (self.approve_button, self.reject_button, self.mark_correct, self.mark_wrong,
                      self.mark_field_correct, self.mark_field_wrong, self.next_button, self.comment):
                b.setToolTip(f"For reviewers. {hint}")
        self.role_note.setVisible(not self.may_review)
        buttons = QHBoxLayout()
        for b in (self.mark_correct, self.mark_wrong, self.delete_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.next_button)
        verdict_row.addWidget(self.comment, 1)
        verdict_row.addWidget(self.approve_button)
        verdict_row.addWidget(self.reject_button)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.page_title)
        rv.addWidget(legend)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(canvases)
        split.addWidget(self.verdicts)
        split.addWidget(self.fields_box)
        split.setSizes([430, 170, 230])
        rv.addWidget(split, 1)
        rv.addLayout(buttons)
        rv.addLayout(verdict_row)
        rv.addWidget(self.role_note)
        rv.addWidget(self.message)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right)
        main.setSizes([560, 1000])
        layout = QVBoxLayout(self)
        layout.addWidget(main)
        self.filters.changed.connect(self.refresh)
        self._set_page_enabled(False)
        self.filters.set_choices(review.filter_choices(project.store),
                                 review.sees_annotators(project.store, user))
        self.refresh()
        self.refresh_stale_in_background()

    # -- list and counts -------------------------------------------------------------------
    def _pages_with(self, f: review.ModerateFilter, flag: str) -> int:
        """Pages of filter ``f`` for which ``flag`` ("has_wrong_fields", "has_wrong_labels") holds:
        counted when the filter leaves it open, else all of them or none."""
        if getattr(f, flag) is None:
            from dataclasses import replace

            return review.moderate_counts(self.project.store, replace(f, **{flag: True}), viewer=self.user)["total"]
        return self.counts["total"] if getattr(f, flag) else 0

    def refresh(self) -> None:
        """Counts and page list for the current filter (the part that must be fast)."""
        store = self.project.store
        f = self.filters.filter()
        try:
            days.parse_range(f.date_from, f.date_to, ("the first day", "the last day"))
            self.model.zone = days.zone(store)
            self.counts = review.moderate_counts(store, f, viewer=self.user)
            rows = review.moderate_pages(store, f, viewer=self.user, limit=LIST_LIMIT)
        except ProofdeskError as exc:
            self._say(str(exc), error=True)
            return
        c = self.counts
        c["wrong_fields"] = self._pages_with(f, "has_wrong_fields")
        c["wrong_labels"] = self._pages_with(f, "has_wrong_labels")
        labels = f", {c['wrong_labels']} with wrong labels" if c["wrong_labels"] or f.has_wrong_labels is not None else ""
        self.counts_label.setText(
            f"<b>{c['total']}</b> page(s): <b style='color:#1e7a3c'>{c['moderated']} moderated</b>, "
            f"<b style='color:#b35a00'>{c['not_moderated']} not moderated</b>; {c['in_queue']} waiting in the"
            f" review queue; {c['wrong_fields']} with wrong fields{labels}"
            + (f" (the list shows the first {LIST_LIMIT:,})" if c["total"] > LIST_LIMIT else ""))
        keep = self.page_id
        self.model.set_rows(rows)
        if keep is not None:
            for i, r in enumerate(rows):
                if r.page_id == keep:
                    self.table.selectRow(i)
                    break
        self.refreshed.emit()

    def refresh_stale_in_background(self) -> Worker:
        return refresh_stale_in_background(self)

    def page_ids(self) -> list[int]:
        return [r.page_id for r in self.model.rows]

    def select_page(self, page_id: int) -> None:
        for i, r in enumerate(self.model.rows):
            if r.page_id == page_id:
                self.table.selectRow(i)
                return
        self.open_page(page_id)

    def _on_select(self, *_):
        rows = self.table.selectionModel().selectedRows()
        if rows:
            pid = self.model.rows[rows[0].row()].page_id
            if pid != self.page_id:
                self.open_page(pid)

    # -- one page ---------------------------------------------------------------------------
    def _set_page_enabled(self, on: bool, own: bool = False) -> None:
        """Enable the buttons of a page on screen (``on``) that the user's role allows; Approve and
        Reject not on ``own`` work (core refuses it: nobody reviews their own work)."""
        for w in (self.delete_button, self.open_button):
            w.setEnabled(on)
        for w in (self.mark_correct, self.mark_wrong, self.mark_field_correct, self.mark_field_wrong):
            w.setEnabled(on and self.may_review)
        for w in (self.approve_button, self.reject_button, self.comment):
            w.setEnabled(on and self.may_review and not own)
            if self.may_review:
                w.setToolTip("You marked this page done: another reviewer approves or rejects it" if on and own
                             else "")
        self.next_button.setEnabled(self.may_review)

    def _image(self, page) -> list:
        try:
            path = str(self.project.image_path(page))
        except FileNotFoundError:
            return []
        reader = QImageReader(path)
        size = reader.size()
        long_side = max(size.width(), size.height())
        if long_side > VIEW_PIXELS:
            reader.setScaledSize(QSize(size.width() * VIEW_PIXELS // long_side, size.height() * VIEW_PIXELS // long_side))
        img = reader.read()
        return [] if img.isNull() else [img]

    def open_page(self, page_id: int) -> None:
        store = self.project.store
        self.page_id = page_id
        page = store.get_page(page_id)
        review.refresh_verdicts(store, page_id)
        pairs, _ = review.page_verdicts_now(store, page_id)
        preds = {p.id: p for p in store.predictions(page_id)}
        regions = {r.id: r for r in store.regions(page_id, include_deleted=True)}
        marks = review.marks(store, page_id)
        images = self._image(page)
        for canvas in (self.predicted, self.current):
            canvas.set_page(page.width, page.height, images)
        # The boxes of the page shown before go: the canvases keep their scene from page to page.
        for item in getattr(self, "_overlay", []):
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._overlay: list[QGraphicsPolygonItem] = []
        self._items: dict[int, QGraphicsPolygonItem] = {}
        shown_preds = set()
        self._rows = []
        for pred_row, v in pairs:
            pred = preds.get(pred_row["id"])
            pr = pred.regions[v.pred_index] if pred is not None and v.pred_index is not None else None
            region = regions.get(v.region_id)
            if pr is not None and (pred.id, v.pred_index) not in shown_preds:
                shown_preds.add((pred.id, v.pred_index))
                item = QGraphicsPolygonItem(QPolygonF([_pt(p) for p in pr.points]))
                item.setPen(_pen(PREDICTED_COLOUR))
                self.predicted.scene().addItem(item)
                self._overlay.append(item)
            if region is not None:
                colour = _colour(v)
                item = QGraphicsPolygonItem(QPolygonF([_pt(p) for p in region.points]))
                item.setPen(_pen(colour, dashed=v.kind == "deleted"))
                fill = QColor(colour)
                fill.setAlpha(40)
                item.setBrush(QBrush(fill))
                item.setToolTip(f"{KIND_NAMES[v.kind]}: {region.text}"
                                + (f" ({_label_change(v)})" if v.label_wrong else ""))
                self.current.scene().addItem(item)
                self._overlay.append(item)
                self._items[region.id] = item
            self._rows.append((v, pr.text if pr is not None else "", region))
        self._fill_verdicts(marks)
        _pred, self._field_rows = review.page_field_verdicts_now(store, page_id)
        self._fill_fields(store.field_verdict_marks(page_id))
        self._content = _content_rect([r.bounds for r in regions.values()] + [
            quad_bounds(pr.points) for p in preds.values() for pr in p.regions])
        self.fit_content()
        who = page.done_by or "-"
        entry = next((e for e in review.review_queue(store, self.user, include_reviewed=True) if e.page_id == page_id),
                     None)
        if entry is not None and entry.annotator is None and entry.blind:
            who = "(blind review)"
        reasons = f"; in review because: {', '.join(entry.reasons)}" if entry else ""
        self.page_title.setText(f"<b>{page.name}</b> ({page.status.value.replace('_', ' ')}), by {who}{reasons}")
        self._set_page_enabled(True, own=page.done_by == self.user)
        last = review.last_rejection(store, page_id)
        self._say(f"Rejected by {last.reviewer}: {last.comment}" if last else "")

    def fit_content(self) -> None:
        """Both canvases show the part of the page that has regions (receipts are small on a scan)."""
        bars = [b for c in (self.predicted, self.current) for b in (c.horizontalScrollBar(), c.verticalScrollBar())]
        for b in bars:
            b.blockSignals(True)  # fit each on its own, not through the other's scroll sync
        for canvas in (self.predicted, self.current):
            canvas._fit_mode = None if self._content is not None else "page"
            if self._content is not None:
                canvas.fitInView(self._content, Qt.AspectRatioMode.KeepAspectRatio)
            else:
                canvas.fit("page")
        for b in bars:
            b.blockSignals(False)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.fit_content)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_content()

    def _fill_verdicts(self, marks: dict[int, str]) -> None:
        t = self.verdicts
        t.blockSignals(True)
        t.setRowCount(len(self._rows))
        for i, (v, predicted, region) in enumerate(self._rows):
            editable = region is not None and not region.deleted
            verdict = KIND_NAMES[v.kind] + (f" ({v.edit_distance})" if v.kind == "wrong_text" else "")
            if v.label_wrong:   # a form's answer made a question: said beside the text's verdict
                verdict += f"; {_label_change(v)}"
            cells = (verdict, predicted,
                     region.text if editable else "", "" if v.confidence is None else f"{v.confidence:.2f}",
                     marks.get(v.region_id, ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                if col == 2 and editable:
                    flags |= Qt.ItemFlag.ItemIsEditable
                item.setFlags(flags)
                if col == 0:
                    item.setForeground(_colour(v))
                t.setItem(i, col, item)
        t.resizeColumnToContents(0)
        t.blockSignals(False)

    def _fill_fields(self, marks: dict[str, str]) -> None:
        """The field table: one row per field verdict of the page (hidden when it has none)."""
        t = self.field_table
        t.setRowCount(len(self._field_rows))
        for i, v in enumerate(self._field_rows):
            predicted = "(absent)" if v.predicted_absent else (v.predicted_text if v.predicted else "(not predicted)")
            final = "(absent)" if v.final_absent else v.final_text
            cells = (v.name, predicted, final, FIELD_KIND_NAMES.get(v.kind, v.kind),
                     "" if v.confidence is None else f"{v.confidence:.2f}", marks.get(v.name, ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                if col == 3:
                    item.setForeground(FIELD_KIND_COLOURS.get(v.kind, PREDICTED_COLOUR))
                t.setItem(i, col, item)
        t.resizeColumnToContents(0)
        t.resizeColumnToContents(3)
        right = sum(1 for v in self._field_rows if v.right and marks.get(v.name) != "wrong")
        named = sum(1 for v in self._field_rows if v.predicted)
        self.fields_summary.setText(f"{right} of {named} predicted field(s) right" if self._field_rows else "")
        self.fields_box.setVisible(bool(self._field_rows))

    def _selected_fields(self) -> list[str]:
        rows = sorted({i.row() for i in self.field_table.selectedIndexes()})
        return [self._field_rows[r].name for r in rows if r < len(self._field_rows)]

    def mark_fields_selected(self, mark: str) -> None:
        names = self._selected_fields()
        if not names:
            self._say("Select a field in the key fields list first")
            return
        page_id = self.page_id

        def do():
            for name in names:
                review.mark_field(self.project.store, self.user, page_id, name, mark)

        self._act(do, f"{len(names)} field(s) marked {mark}")

    def _selected_regions(self) -> list[int]:
        rows = sorted({i.row() for i in self.verdicts.selectedIndexes()})
        return [self._rows[r][2].id for r in rows if self._rows[r][2] is not None]

    def _highlight(self) -> None:
        chosen = set(self._selected_regions())
        for rid, item in getattr(self, "_items", {}).items():
            pen = item.pen()
            pen.setWidthF(4.0 if rid in chosen else 2.0)
            item.setPen(pen)

    def _act(self, fn, ok: str) -> bool:
        try:
            fn()
        except (ProofdeskError, ValueError) as exc:
            self._say(str(exc), error=True)
            return False
        page_id = self.page_id
        self.refresh()
        if page_id is not None:
            self.open_page(page_id)
        self._say(ok)
        return True

    def mark_selected(self, mark: str) -> None:
        ids = self._selected_regions()
        if not ids:
            self._say("Select a predicted region in the list first")
            return

        def do():
            for rid in ids:
                review.mark_region(self.project.store, self.user, rid, mark)

        self._act(do, f"{len(ids)} region(s) marked {mark}")

    def delete_selected(self) -> None:
        ids = self._selected_regions()
        if ids:
            self._act(lambda: self.project.store.delete_regions(self.user, ids), f"{len(ids)} region(s) deleted")

    def _on_text_edited(self, item: QTableWidgetItem) -> None:
        if item.column() != 2:
            return
        region = self._rows[item.row()][2]
        if region is None or item.text() == region.text:
            return
        self._act(lambda: self.project.store.update_region(self.user, region.id, expected_version=region.version,
                                                           text=item.text()), "text corrected")

    def open_next_in_queue(self) -> int | None:
        """The next QC page nobody else holds (on a team project it is leased to this window)."""
        try:
            page_id = review.next_review_page(self.project.store, self.user, self.page_id)
        except ProofdeskError as exc:
            self._say(str(exc), error=True)
            return None
        if page_id is None:
            self._say("the QC queue has no other page for you (empty, yours, or held by another reviewer)")
            return None
        if page_id in self.page_ids():
            self.select_page(page_id)
        else:
            self.open_page(page_id)
        return page_id

    def review(self, verdict: str) -> bool:
        """Approve or reject the page on screen (core checks role, own work and the comment)."""
        if self.page_id is None:
            return False
        page_id = self.page_id
        ok = self._act(lambda: self.project.store.review_page(self.user, page_id, verdict, self.comment.text()),
                       f"page {verdict}" + (": back in its annotator's queue" if verdict == "rejected" else ""))
        if ok:
            self.comment.clear()
            self.pageReviewed.emit(page_id)
        return ok

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c02020;" if error else "")
        self.message.setText(text)

    def closeEvent(self, event) -> None:
        for w in list(self.workers):
            w.cancel.set()
        super().closeEvent(event)


def _content_rect(boxes) -> QRectF | None:
    """Where the regions are, ignoring the few outermost ones (specks an engine read at the edges)."""
    if not boxes:
        return None
    cut = len(boxes) // 25

    def span(values, low):
        values = sorted(values)
        return values[cut] if low else values[-1 - cut]

    x0, y0 = span([b[0] for b in boxes], True), span([b[1] for b in boxes], True)
    x1, y1 = span([b[2] for b in boxes], False), span([b[3] for b in boxes], False)
    pad = 0.05 * max(x1 - x0, y1 - y0, 1.0)
    return QRectF(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)


def _pt(p):
    from PySide6.QtCore import QPointF

    return QPointF(float(p[0]), float(p[1]))
