"""The region list: one row per region in reading order, its crop beside its editable text.

Model/view, not a widget per region: the view asks only for the rows on screen, and each crop
is cut from the page image the first time its row is shown, then cached. The text editor
commits on Enter, on focus out, and after a short pause in typing, so a crash loses at most
the last fraction of a second of typing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QRect,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

from core.model import Region

from .states import CHECKED, COLOURS, LOW, NAMES, PREFILLED, is_low

CROP, TEXT, FIELD, CONF = range(4)
#: Enum members looked up once: each ``Qt.ItemDataRole.X`` goes through a slow Python descriptor
#: in PySide6, and a repaint of the list asks for several hundred of them.
DISPLAY, EDIT, DECORATION = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.DecorationRole
FOREGROUND, TOOLTIP, USER = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.UserRole
ANSWERED_ROLES = (DISPLAY, EDIT, DECORATION, FOREGROUND, TOOLTIP, USER)
READ_ONLY = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
EDITABLE = READ_ONLY | Qt.ItemFlag.ItemIsEditable
SELECTED_STATE = QStyle.StateFlag.State_Selected
ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate
TEXT_ALIGN = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
WRAP_ALIGN = TEXT_ALIGN | Qt.TextFlag.TextWordWrap
ELIDE = Qt.TextElideMode.ElideRight
SMOOTH = QPainter.RenderHint.SmoothPixmapTransform
ROW_HEIGHT = 30
CROP_HEIGHT = ROW_HEIGHT - 8
#: A long line's crop is cut into at most this many strips, one under the other (like wrapped
#: text), before it is shrunk to fit its column.
MAX_CROP_STRIPS = 2
#: A crop up to this much wider than its column is shrunk to it rather than cut into strips.
SHRINK_RATHER = 1.4
#: A row grows to show a long text whole, up to this many pixels (then it is elided).
MAX_ROW_HEIGHT = 160
CHECK_MARK = "\u2713"
#: Milliseconds of no typing after which the text is committed.
IDLE_COMMIT_MS = 400
#: A region whose change is kept until the team server is back (not saved yet): its row's text
#: and a wider bar beside its crop.
UNSAVED_COLOUR = QColor(200, 0, 130)


class CropCache:
    """Region crops cut lazily from the page image, scaled to the row height."""

    def __init__(self, max_items: int = 3000):
        self.image: QImage | None = None
        self.scale = 1.0  # image pixels per page pixel
        self.max_items = max_items
        self._cache: dict[tuple, QImage] = {}

    def set_image(self, image: QImage | None, page_width: int) -> None:
        self.image = image
        self.scale = image.width() / page_width if image is not None and page_width else 1.0
        self._cache.clear()

    def get(self, region: Region) -> QImage | None:
        if self.image is None:
            return None
        key = (region.id, region.points)
        img = self._cache.get(key)
        if img is None:
            if len(self._cache) >= self.max_items:
                self._cache.clear()
            img = self._make(region)
            self._cache[key] = img
        return img

    def _make(self, region: Region) -> QImage:
        x0, y0, x1, y1 = region.bounds
        s = self.scale
        rect = QRect(int(x0 * s), int(y0 * s), max(1, int((x1 - x0) * s + 0.5)), max(1, int((y1 - y0) * s + 0.5)))
        crop = self.image.copy(rect)
        if crop.height() > 0 and crop.height() != CROP_HEIGHT:
            crop = crop.scaledToHeight(CROP_HEIGHT, Qt.TransformationMode.SmoothTransformation)
        return crop


class RegionListModel(QAbstractTableModel):
    HEADERS = ("Image", "Text", "Field", "Conf")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.regions: list[Region] = []
        self.states: dict[int, str] = {}
        self.rows: dict[int, int] = {}  # region id -> row
        self.crops = CropCache()
        # Set by the workspace: commit a text or a label; return False when it was refused.
        self.commit_text: Callable[[int, str], bool] = lambda rid, text: False
        self.commit_label: Callable[[int, str | None], bool] = lambda rid, label: False
        self.fields: list[str] = []
        self.unsaved: set[int] = set()  # regions with a change not saved yet (server out of reach)
        self.checked: set[int] = set()  # regions whose text a person confirmed (the workspace's set)

    def set_unsaved(self, ids: set[int]) -> None:
        if ids == self.unsaved:
            return
        self.unsaved = set(ids)
        if self.regions:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.regions) - 1, len(self.HEADERS) - 1))

    def set_regions(self, regions: list[Region], states: dict[int, str], checked: set[int] | None = None) -> None:
        """``checked`` is kept, not copied: the workspace adds to it as lines are checked."""
        self.beginResetModel()
        self.regions = list(regions)
        self.states = dict(states)
        if checked is not None:
            self.checked = checked
        self.rows = {r.id: i for i, r in enumerate(self.regions)}
        self.endResetModel()

    def update_region(self, region: Region, state: str) -> None:
        row = self.rows.get(region.id)
        if row is None:
            return
        self.regions[row] = region
        self.states[region.id] = state
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def crops_changed(self) -> None:
        if self.regions:
            self.dataChanged.emit(self.index(0, CROP), self.index(len(self.regions) - 1, CROP))

    def region_at(self, row: int) -> Region:
        return self.regions[row]

    def row_of(self, region_id: int) -> int:
        return self.rows.get(region_id, -1)

    # -- Qt model ----------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.regions)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def flags(self, index):
        return EDITABLE if index.column() in (TEXT, FIELD) else READ_ONLY

    def data(self, index, role=DISPLAY):
        # Views ask for a dozen roles per cell on every paint; most are not answered here, and
        # leaving at once saves a few ms a paint (a tuple, not a set: enum hashing is Python).
        if role not in ANSWERED_ROLES or not index.isValid():
            return None
        r = self.regions[index.row()]
        col = index.column()
        if role in (DISPLAY, EDIT):
            if col == TEXT:
                return r.text
            if col == FIELD:
                return r.label or ""
            if col == CONF:
                conf = "" if r.confidence is None else f"{r.confidence:.2f}"
                return f"{CHECK_MARK} {conf}".strip() if r.id in self.checked else conf
            return None
        if role == DECORATION and col == CROP:
            return self.crops.get(r)
        if role == FOREGROUND:
            if r.id in self.unsaved and col in (TEXT, FIELD):
                return UNSAVED_COLOUR
            if col == CONF:
                if r.id in self.checked:
                    return COLOURS[CHECKED]  # a person read it: the machine's doubt is answered
                if is_low(r):
                    return COLOURS[LOW]
            if col == FIELD:
                return COLOURS["labelled"]
        if role == TOOLTIP:
            state = NAMES.get(self.states.get(r.id, PREFILLED), "")
            about = f"region {r.id}: {state}" + (" (locked)" if r.locked else "")
            if r.id in self.checked and self.states.get(r.id) != CHECKED:
                about += ", text checked by a person"
            if r.id in self.unsaved:
                about += "\nnot saved yet: saved when the connection to the server is back"
            # The whole text, for a line longer than its column shows.
            return f"{r.text}\n{about}" if col == TEXT and r.text else about
        if role == USER:
            return r.id
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        r = self.regions[index.row()]
        if index.column() == TEXT:
            return self.commit_text(r.id, str(value))
        if index.column() == FIELD:
            return self.commit_label(r.id, str(value) or None)
        return False


class RegionTextEdit(QLineEdit):
    """The text editor of one row; commits itself after a pause in typing."""

    idle = Signal(object)

    def __init__(self, parent, yield_keys: set[str]):
        super().__init__(parent)
        self.region_id: int | None = None
        self.committed_text = ""
        self.yield_keys = yield_keys
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(IDLE_COMMIT_MS)
        self.timer.timeout.connect(lambda: self.idle.emit(self))
        self.textEdited.connect(lambda _: self.timer.start())

    @property
    def dirty(self) -> bool:
        return self.text() != self.committed_text

    def event(self, event) -> bool:
        # QLineEdit claims Ctrl+Z and friends for its own undo; the workspace's keys (undo from
        # the edit log, next region, mark done...) win, and the workspace deals with the typing.
        if event.type() == QEvent.Type.ShortcutOverride:
            combo = QKeySequence(event.keyCombination()).toString(QKeySequence.SequenceFormat.PortableText)
            if combo in self.yield_keys:
                event.ignore()
                return True
        return super().event(event)


class RegionDelegate(QStyledItemDelegate):
    """Paints the crop with a state colour bar; edits the text (line edit) and the field (combo)."""

    def __init__(self, view: "RegionListView"):
        super().__init__(view)
        self.view = view
        self.editor: RegionTextEdit | None = None

    def paint(self, painter: QPainter, option, index) -> None:
        if index.column() != CROP:
            return self._paint_text(painter, option, index)
        model = index.model()
        r = model.region_at(index.row())
        if option.state & SELECTED_STATE:
            painter.fillRect(option.rect, option.palette.highlight())
        colour = COLOURS.get(model.states.get(r.id, PREFILLED), COLOURS[PREFILLED])
        unsaved = r.id in model.unsaved
        painter.fillRect(QRect(option.rect.left(), option.rect.top() + 2, 7 if unsaved else 4,
                               option.rect.height() - 4), UNSAVED_COLOUR if unsaved else colour)
        img = index.data(DECORATION)
        if img is None or img.isNull():
            return
        area = option.rect.adjusted(8, 3, -2, -3)
        w, h = img.width(), img.height()
        aw = max(1, area.width())
        # A long line is cut into strips one under the other, as far as the row is tall (it grows
        # for them: RegionListView.row_height), then shrunk to the column.
        strips = 1 if w <= aw * SHRINK_RATHER else max(1, min(MAX_CROP_STRIPS, (area.height() + 2) // (h + 2),
                                                               math.ceil(w / aw)))
        sw = math.ceil(w / strips)
        scale = min(1.0, aw / sw)
        th = h * scale
        top = area.top() + (area.height() - (strips * th + (strips - 1) * 2)) / 2
        painter.save()
        painter.setRenderHint(SMOOTH, True)
        for k in range(strips):
            src = QRectF(k * sw, 0, min(sw, w - k * sw), h)
            painter.drawImage(QRectF(area.left(), top + k * (th + 2), src.width() * scale, th), img, src)
        painter.restore()

    def _paint_text(self, painter: QPainter, option, index) -> None:
        """A text cell drawn directly: background, one elided line. The style's item painting
        (a dozen model roles, a text layout per cell) cost ~75 us a cell, ~5 ms a page change."""
        rect = option.rect
        selected = bool(option.state & SELECTED_STATE)
        if selected:
            painter.fillRect(rect, option.palette.highlight())
        elif option.features & ALTERNATE:
            painter.fillRect(rect, option.palette.alternateBase())
        text = index.data(DISPLAY)
        if not text:
            return
        colour = None if selected else index.data(FOREGROUND)
        painter.setPen(option.palette.highlightedText().color() if selected
                       else (colour if colour is not None else option.palette.text().color()))
        painter.setFont(option.font)
        area = rect.adjusted(4, 0, -4, 0)
        fm = option.fontMetrics
        if rect.height() > ROW_HEIGHT and fm.horizontalAdvance(text) > area.width():
            painter.drawText(area, WRAP_ALIGN, text)  # the row grew for it: wrapped, whole
        else:
            painter.drawText(area, TEXT_ALIGN, fm.elidedText(text, ELIDE, area.width()))

    def createEditor(self, parent, option, index):
        if index.column() == FIELD:
            combo = QComboBox(parent)
            combo.addItem("")
            combo.addItems(index.model().fields)
            combo.activated.connect(lambda _: self.commitData.emit(combo))
            return combo
        if index.column() != TEXT:
            return None
        editor = RegionTextEdit(parent, self.view.yield_keys)
        editor.setFont(self.view.text_font)
        editor.idle.connect(self.commitData.emit)
        self.editor = editor
        editor.destroyed.connect(lambda *_: self._forget(editor))
        return editor

    def _forget(self, editor) -> None:
        if self.editor is editor:
            self.editor = None

    def destroyEditor(self, editor, index) -> None:
        if editor is self.editor:
            self.editor = None
        super().destroyEditor(editor, index)

    def setEditorData(self, editor, index) -> None:
        if isinstance(editor, RegionTextEdit):
            r = index.model().region_at(index.row())
            if editor.region_id == r.id and editor.dirty:
                return  # keep what is being typed; the commit will sort out the rest
            editor.region_id = r.id
            editor.committed_text = r.text
            editor.setText(r.text)
            return
        if isinstance(editor, QComboBox):
            editor.setCurrentText(index.data() or "")
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor, model, index) -> None:
        if isinstance(editor, RegionTextEdit):
            editor.timer.stop()
            if not editor.dirty:
                return
            text = editor.text()
            if model.setData(index, text):
                editor.committed_text = text
            return
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText())
            return
        super().setModelData(editor, model, index)

    def sizeHint(self, option, index):
        size = super().sizeHint(option, index)
        size.setHeight(ROW_HEIGHT)
        return size


class RegionListView(QTableView):
    """The list; the workspace wires its selection to the canvas and its keys to actions."""

    selectedIdsChanged = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_ = RegionListModel(self)
        self.setModel(self.model_)
        self.yield_keys: set[str] = set()
        self.text_font = QFont(self.font())
        self.text_font.setPointSizeF(self.font().pointSizeF() * 1.15)
        self.delegate = RegionDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.SelectedClicked)
        self.setTabKeyNavigation(False)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(CROP, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(FIELD, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(CONF, QHeaderView.ResizeMode.Fixed)
        hh.resizeSection(CROP, 300)
        hh.resizeSection(FIELD, 110)  # "invoice_number" whole
        hh.resizeSection(CONF, 58)  # room for the check mark before the confidence
        self._quiet = False
        self.selectionModel().selectionChanged.connect(self._on_selection)
        # Rows grow to show a long text wrapped (and a long line's crop in strips).
        self._heights_timer = QTimer(self)
        self._heights_timer.setSingleShot(True)
        self._heights_timer.setInterval(0)
        self._heights_timer.timeout.connect(self.update_row_heights)
        self._tall: dict[int, int] = {}  # rows taller than ROW_HEIGHT, and their heights
        self.model_.modelReset.connect(self._rows_reset)
        self.model_.dataChanged.connect(lambda a, b, *_: self.update_row_heights(a.row(), b.row()))
        hh.sectionResized.connect(lambda col, *_: self._heights_timer.start() if col in (CROP, TEXT) else None)

    #: What the list says while it has no row (the window sets it: "Not pre-filled yet: ...").
    empty_text = ""

    def set_empty_text(self, text: str) -> None:
        if text != self.empty_text:
            self.empty_text = text
            self.viewport().update()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.empty_text and not self.model_.rowCount():
            painter = QPainter(self.viewport())
            painter.setPen(QColor(110, 110, 110))
            painter.drawText(self.viewport().rect().adjusted(16, 24, -16, -16),
                             int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
                             self.empty_text)
            painter.end()

    def resizeEvent(self, event) -> None:
        # The crop and its text share the width: what the eye reads sits next to what the hand types.
        super().resizeEvent(event)
        free = self.viewport().width() - self.columnWidth(FIELD) - self.columnWidth(CONF)
        self.setColumnWidth(CROP, max(120, int(free * 0.5)))

    # -- row heights -------------------------------------------------------------------------
    @staticmethod
    def row_height(region: Region, text_width: int, crop_width: int, fm, sure_fit: int = 0) -> int:
        """The height a row needs: its text wrapped in ``text_width``, its crop in strips of
        ``crop_width`` (at most MAX_CROP_STRIPS); at least ROW_HEIGHT, at most MAX_ROW_HEIGHT.
        ``sure_fit``: texts this short fit whatever their characters (not measured)."""
        h = ROW_HEIGHT
        text = region.text
        if text and len(text) > sure_fit and fm.horizontalAdvance(text) > text_width:
            h = fm.boundingRect(QRect(0, 0, text_width, 4 * MAX_ROW_HEIGHT), WRAP_ALIGN, text).height() + 10
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = region.points
        crop = (max(ax, bx, cx, dx) - min(ax, bx, cx, dx)) * CROP_HEIGHT / max(1.0, max(ay, by, cy, dy) - min(
            ay, by, cy, dy))  # the crop's width at the row's height
        if crop > crop_width * SHRINK_RATHER:
            h = max(h, min(MAX_CROP_STRIPS, math.ceil(crop / crop_width)) * (CROP_HEIGHT + 2) + 6)
        return max(ROW_HEIGHT, min(MAX_ROW_HEIGHT, h))

    def _rows_reset(self) -> None:
        """New regions (a page opened or read again): rows the last ones made taller are made
        ROW_HEIGHT again (the header keeps sizes by row number), then measured."""
        header = self.verticalHeader()
        n = len(self.model_.regions)
        for row in self._tall:
            if row < n:
                header.resizeSection(row, ROW_HEIGHT)
        self._tall = {}
        self.update_row_heights()

    def update_row_heights(self, first: int = 0, last: int | None = None) -> None:
        """Give rows ``first`` to ``last`` (all by default) the height they need. ~2 ms for 800
        rows of short lines: most are measured by their length alone."""
        regions = self.model_.regions
        if not regions:
            return
        fm = self.fontMetrics()  # the font the text cells are painted in
        text_width = max(20, self.columnWidth(TEXT) - 8)
        crop_width = max(20, self.columnWidth(CROP) - 10)
        sure_fit = text_width // max(1, fm.maxWidth())
        header = self.verticalHeader()
        tall = self._tall
        row_height = self.row_height
        last = len(regions) - 1 if last is None else min(last, len(regions) - 1)
        for row in range(max(0, first), last + 1):
            h = row_height(regions[row], text_width, crop_width, fm, sure_fit)
            if tall.get(row, ROW_HEIGHT) != h:
                header.resizeSection(row, h)
                if h == ROW_HEIGHT:
                    tall.pop(row, None)
                else:
                    tall[row] = h

    def show_top(self) -> None:
        """Scroll to the first region, the list's cursor on it (nothing selected)."""
        self.scrollToTop()
        if self.model_.regions:
            self.selectionModel().setCurrentIndex(self.model_.index(0, TEXT),
                                                  QItemSelectionModel.SelectionFlag.NoUpdate)

    # -- selection -------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.model_.regions[r].id for r in rows if r < len(self.model_.regions)]

    def current_id(self) -> int | None:
        row = self.currentIndex().row()
        return self.model_.regions[row].id if 0 <= row < len(self.model_.regions) else None

    def select_ids(self, ids: list[int], current: int | None = None) -> None:
        """Select these regions quietly (no selectedIdsChanged) and scroll the first into view."""
        self._quiet = True
        try:
            sel = QItemSelection()
            for rid in ids:
                row = self.model_.row_of(rid)
                if row >= 0:
                    sel.select(self.model_.index(row, 0), self.model_.index(row, self.model_.columnCount() - 1))
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.selectionModel().select(sel, flags)
            focus = current if current is not None else (ids[0] if ids else None)
            if focus is not None and self.model_.row_of(focus) >= 0:
                idx = self.model_.index(self.model_.row_of(focus), TEXT)
                self.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.scrollTo(idx)
        finally:
            self._quiet = False

    def _on_selection(self, *_):
        if not self._quiet:
            self.selectedIdsChanged.emit(self.selected_ids())

    # -- editing ---------------------------------------------------------------------------
    def editing_id(self) -> int | None:
        ed = self.delegate.editor
        return ed.region_id if ed is not None and self.state() == QAbstractItemView.State.EditingState else None

    def open_editor(self, region_id: int) -> RegionTextEdit | None:
        row = self.model_.row_of(region_id)
        if row < 0:
            return None
        idx = self.model_.index(row, TEXT)
        self.scrollTo(idx)
        # Not setCurrentIndex(): it applies the modifiers of the key being handled (Ctrl+J
        # would toggle the row out of the selection). The selection is the workspace's business.
        self.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.NoUpdate)
        self.edit(idx)
        ed = self.delegate.editor
        if ed is not None:
            ed.deselect()
            ed.end(False)
            ed.setFocus()
        return ed

    def commit_editor(self) -> bool:
        """Commit what is being typed; True when nothing is left uncommitted."""
        ed = self.delegate.editor
        if ed is None:
            return True
        if ed.dirty:
            self.delegate.commitData.emit(ed)
        return ed is None or not ed.dirty

    def close_editor(self, commit: bool = True) -> None:
        ed = self.delegate.editor
        if ed is None:
            return
        if commit:
            self.commit_editor()
        else:  # the focus-out that follows must not commit what was discarded
            ed.timer.stop()
            ed.setText(ed.committed_text)
        hint = QStyledItemDelegate.EndEditHint.NoHint
        self.delegate.closeEditor.emit(ed, hint)
        self.setFocus()
