"""The key fields of the page (issue 15): one row per field of the schema, beside the region list.

Each row shows the field's name, the text the page gives it (editable), its normalised value
(``2018-03-05``, ``529.87 EUR``) and how sure the machine was, coloured like the region list: red
low confidence, blue as the machine read it, teal with a check mark once a person checked or
typed it. A field the page does not have shows "not on this page".

The panel never writes anything: it reports what the person did (accept a value, type one, mark
it absent, pick another field) and the workspace turns each into one store action, then gives the
stored fields back (:meth:`FieldsPanel.show_fields`).

Keys while the panel has the focus (the table is in docs/workspace.md): Up/Down between fields,
Enter accepts the value as it is and moves to the next field, typing replaces the value (F2
edits it as it is; Enter commits, Esc discards), Esc goes back to the regions. The workspace's
keys (F6 in and out, Ctrl+L, Ctrl+Delete, undo...) still work here.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from core.fields import AMOUNT, CURRENCY, DATE, NUMBER, field_type, many_valued, normalise
from core.fields import TEXT as TEXT_TYPE
from core.model import HUMAN, PageField

from .region_list import IDLE_COMMIT_MS, RegionTextEdit  # noqa: F401  (the autosave pause, re-exported)
from .states import CHECKED, COLOURS, LOW, LOW_CONFIDENCE, PREFILLED

NAME, TEXT, VALUE, CONF = range(4)
ROW_HEIGHT = 28
#: A long value (an address) wraps and its row grows, up to this many pixels.
MAX_ROW_HEIGHT = 3 * 18 + 10
CHECK_MARK = "\u2713"
ABSENT_TEXT = "\u2014 not on this page"
#: "Not on this page": grey-violet italics, unlike any value.
ABSENT_COLOUR = QColor(120, 100, 150)
#: A text that does not read as its type (a date that is no date): the value column says so.
UNREAD_COLOUR = QColor(200, 40, 40)
EMPTY_COLOUR = QColor(140, 140, 140)
#: The outline of the current field's source regions on the page (PageCanvas.highlight_ids).
SOURCE_COLOUR = QColor(232, 40, 190)
NOT_A = {DATE: "not a date", AMOUNT: "not an amount", CURRENCY: "no currency", NUMBER: "no number"}
EMPTY_STATE = "empty"
DISPLAY, EDIT = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole
FOREGROUND, TOOLTIP, FONT = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole
USER = Qt.ItemDataRole.UserRole
READ_ONLY = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
EDITABLE = READ_ONLY | Qt.ItemFlag.ItemIsEditable
WRAP_ALIGN = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap
TEXT_ALIGN = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
NO_MODS = Qt.KeyboardModifier.NoModifier
TYPING_MODS = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier
#: Keys the table takes for itself while it has the focus (not the workspace's shortcuts: a
#: plain W or 1 there types, Delete clears the value being typed rather than deleting regions).
OWN_KEYS = {Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Home,
            Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Delete, Qt.Key.Key_Backspace,
            Qt.Key.Key_Escape, Qt.Key.Key_F2}


#: What the panel says when the schema gives it no field to show.
NO_FIELDS = "No key fields: the project's field schema is empty (Workspace > Field names...)"

def field_state(pf: PageField | None) -> str:
    """The colour a field's row takes, in the region list's palette (``states.COLOURS``)."""
    if pf is None:
        return EMPTY_STATE
    if is_checked(pf):
        return CHECKED
    conf = pf.value.confidence
    return LOW if conf is not None and conf < LOW_CONFIDENCE else PREFILLED


def is_checked(pf: PageField | None) -> bool:
    """A person accepted the value (Enter) or gave it (typed, linked, marked absent)."""
    return pf is not None and (pf.checked or pf.origin == HUMAN)


def value_text(name: str, pf: PageField | None, preview: str | None = None) -> tuple[str, bool]:
    """What the value column shows, and whether it is a failed reading (the text is not of the
    field's type). ``preview``: a text being typed, normalised as it would be stored."""
    kind = field_type(name)
    if preview is not None:
        if not preview.strip():
            return "", False
        n = normalise(name, preview)
        value, currency = n.value, n.currency
    elif pf is None or pf.absent or not pf.text.strip():
        return "", False
    else:
        value, currency = pf.value.value, pf.value.currency
    if value is None:
        return NOT_A.get(kind, ""), kind != TEXT_TYPE
    if kind == TEXT_TYPE:
        return "", False  # the text is the value
    return f"{value} {currency}" if currency else value, False


class FieldsModel(QAbstractTableModel):
    HEADERS = ("Field", "Value as on the page", "Normalised", "Conf")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names: list[str] = []
        self.fields: dict[str, PageField] = {}
        self.region_ids: set[int] = set()  # the page's regions now (a source gone is said so)
        self.preview: tuple[int, str] | None = None  # (row, text being typed)
        # Set by the panel: commit a typed text; False when it was refused.
        self.commit_text: Callable[[str, str], bool] = lambda name, text: False

    def set_fields(self, schema: list[str], fields: list[PageField], region_ids=()) -> None:
        """The schema's names in order, then names the page has outside it; the rows stay (no
        reset) when the names are the same, so an open editor and the cursor survive."""
        extra = [f.name for f in fields if f.name not in schema]
        names = list(schema) + sorted(set(extra))
        self.region_ids = set(region_ids)
        if names == self.names:
            self.fields = {f.name: f for f in fields}
            if names:
                self.dataChanged.emit(self.index(0, 0), self.index(len(names) - 1, len(self.HEADERS) - 1))
            return
        self.beginResetModel()
        self.names = names
        self.fields = {f.name: f for f in fields}
        self.preview = None
        self.endResetModel()

    def field(self, row: int) -> PageField | None:
        return self.fields.get(self.names[row]) if 0 <= row < len(self.names) else None

    def row_of(self, name: str | None) -> int:
        return self.names.index(name) if name in self.names else -1

    def set_preview(self, row: int, text: str | None) -> None:
        self.preview = None if text is None else (row, text)
        if 0 <= row < len(self.names):
            self.dataChanged.emit(self.index(row, VALUE), self.index(row, VALUE))

    # -- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.names)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=DISPLAY):
        if orientation == Qt.Orientation.Horizontal and role == DISPLAY:
            return self.HEADERS[section]
        return None

    def flags(self, index):
        return EDITABLE if index.column() == TEXT else READ_ONLY

    def data(self, index, role=DISPLAY):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        name = self.names[row]
        pf = self.fields.get(name)
        if role == EDIT:
            return pf.text if pf is not None and not pf.absent else ""
        if role == DISPLAY:
            if col == NAME:
                return name
            if col == TEXT:
                if pf is None:
                    return ""
                return ABSENT_TEXT if pf.absent else pf.text
            if col == VALUE:
                preview = self.preview[1] if self.preview is not None and self.preview[0] == row else None
                return value_text(name, pf, preview)[0]
            if col == CONF:
                if pf is None:
                    return ""
                conf = "" if pf.value.confidence is None else f"{pf.value.confidence:.2f}"
                return f"{CHECK_MARK} {conf}".strip() if is_checked(pf) else conf
            return None
        if role == FOREGROUND:
            state = field_state(pf)
            if col == TEXT and pf is not None and pf.absent:
                return ABSENT_COLOUR
            if col == VALUE:
                preview = self.preview[1] if self.preview is not None and self.preview[0] == row else None
                return UNREAD_COLOUR if value_text(name, pf, preview)[1] else None
            if col == CONF and state in (CHECKED, LOW):
                return COLOURS[state]
            return None
        if role == FONT:
            if col == TEXT and pf is not None and pf.absent:
                font = QFont()
                font.setItalic(True)
                return font
            return None
        if role == TOOLTIP:
            return self._tooltip(name, pf)
        if role == USER:
            return field_state(pf)
        return None

    def _tooltip(self, name: str, pf: PageField | None) -> str:
        kind = field_type(name)
        if pf is None:
            return f"{name} ({kind}): no value yet; type it, or select its region(s) on the page and link them"
        lines = [f"{name} ({kind})"]
        if pf.absent:
            lines.append("not on this page")
        elif pf.text:
            lines.append(pf.text)
        who = "the machine's reading" if pf.origin != HUMAN else f"given by {pf.confirmed_by or pf.updated_by}"
        if pf.checked:
            who += f", checked by {pf.confirmed_by}"
        if pf.value.confidence is not None:
            who += f", confidence {pf.value.confidence:.2f}"
        lines.append(who)
        if pf.value.sources:
            ids = ", ".join(str(i) + ("" if i in self.region_ids else " (gone)") for i in pf.value.sources)
            lines.append(f"from region(s) {ids}")
        return "\n".join(lines)

    def setData(self, index, value, role=EDIT) -> bool:
        if role != EDIT or not index.isValid() or index.column() != TEXT:
            return False
        return self.commit_text(self.names[index.row()], str(value))


class FieldTextEdit(RegionTextEdit):
    """The editor of a field's text: Enter commits (and moves on), Up/Down commit and move, Esc
    discards what was typed since the last commit. Like a region's text (``RegionTextEdit``, whose
    autosave it is), it also commits itself after a pause in typing (``IDLE_COMMIT_MS``), so a
    killed app loses at most the last fraction of a second. Keys of the workspace with a modifier
    (Ctrl+Z, Ctrl+L...) are left to it."""

    submitted = Signal(object, int, bool)  # editor, rows to move, by Enter

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            combo = QKeySequence(event.keyCombination()).toString(QKeySequence.SequenceFormat.PortableText)
            if combo in self.yield_keys:
                event.ignore()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape) and not (
                    event.modifiers() & ~TYPING_MODS):
                event.accept()  # ours, never the workspace's Enter (which edits a region)
                return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers() & ~TYPING_MODS
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not mods:
            self.timer.stop()
            self.submitted.emit(self, 1, True)
            return
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and not mods:
            self.timer.stop()
            self.submitted.emit(self, -1 if key == Qt.Key.Key_Up else 1, False)
            return
        super().keyPressEvent(event)  # Esc: the delegate closes the editor, nothing committed


class FieldsDelegate(QStyledItemDelegate):
    """Paints a state bar before the field's name, wraps a long text; edits the text."""

    def __init__(self, view: "FieldsView"):
        super().__init__(view)
        self.view = view
        self.editor: FieldTextEdit | None = None

    def paint(self, painter: QPainter, option, index) -> None:
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, option.palette.highlight())
        elif option.features & option.ViewItemFeature.Alternate:
            painter.fillRect(rect, option.palette.alternateBase())
        area = rect.adjusted(4, 0, -4, 0)
        if index.column() == NAME:
            state = index.data(USER)
            if state != EMPTY_STATE:
                painter.fillRect(QRect(rect.left(), rect.top() + 2, 4, rect.height() - 4),
                                 COLOURS.get(state, COLOURS[PREFILLED]))
            area = rect.adjusted(9, 0, -4, 0)
        text = index.data(DISPLAY)
        if not text:
            return
        colour = None if selected else index.data(FOREGROUND)
        painter.setPen(option.palette.highlightedText().color() if selected
                       else (colour if colour is not None else option.palette.text().color()))
        font = index.data(FONT)
        painter.setFont(font if font is not None else option.font)
        fm = painter.fontMetrics()
        if index.column() == TEXT and rect.height() > ROW_HEIGHT and fm.horizontalAdvance(text) > area.width():
            painter.drawText(area, WRAP_ALIGN, text)
        else:
            painter.drawText(area, TEXT_ALIGN, fm.elidedText(text, Qt.TextElideMode.ElideRight, area.width()))

    def sizeHint(self, option, index):
        return QSize(super().sizeHint(option, index).width(), ROW_HEIGHT)

    def createEditor(self, parent, option, index):
        if index.column() != TEXT:
            return None
        editor = FieldTextEdit(parent, self.view.yield_keys)
        editor.setFont(self.view.font())
        row = index.row()
        model = index.model()
        editor.textEdited.connect(lambda text: model.set_preview(row, text))
        editor.submitted.connect(self.view.editor_submitted)
        editor.idle.connect(self._idle)  # a pause in typing: commit, the editor stays open
        self.editor = editor
        editor.destroyed.connect(lambda *_: self._forget(editor))
        return editor

    def _forget(self, editor) -> None:
        if self.editor is editor:
            self.editor = None

    def _idle(self, editor) -> None:
        if isValid(editor) and editor is self.editor and editor.dirty:
            self.commitData.emit(editor)

    def destroyEditor(self, editor, index) -> None:
        if isinstance(editor, FieldTextEdit):
            editor.timer.stop()
        if editor is self.editor:
            self.editor = None
        index.model().set_preview(index.row(), None)
        super().destroyEditor(editor, index)

    def setEditorData(self, editor, index) -> None:
        if isinstance(editor, FieldTextEdit):
            if editor.dirty:
                return  # keep what is being typed
            text = index.data(EDIT) or ""
            editor.committed_text = text
            editor.setText(text)
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor, model, index) -> None:
        if isinstance(editor, FieldTextEdit):
            editor.timer.stop()
            if not editor.dirty:
                return
            text = editor.text()
            if model.setData(index, text):
                editor.committed_text = text
            return
        super().setModelData(editor, model, index)


class FieldsView(QTableView):
    """The table of fields; the keys a person uses in it."""

    currentFieldChanged = Signal(object)  # field name, or None
    accepted = Signal(str)  # Enter on a value left as it was
    leave = Signal()  # Esc: back to the regions

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_ = FieldsModel(self)
        self.setModel(self.model_)
        self.yield_keys: set[str] = set()
        self.delegate = FieldsDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.setTabKeyNavigation(False)
        self.setWordWrap(True)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        vh = self.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(VALUE, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(CONF, QHeaderView.ResizeMode.Fixed)
        fm = self.fontMetrics()
        hh.resizeSection(NAME, fm.horizontalAdvance("invoice_number") + 22)
        hh.resizeSection(VALUE, fm.horizontalAdvance("1234567.89 EUR") + 14)
        hh.resizeSection(CONF, fm.horizontalAdvance(f"{CHECK_MARK} 0.00") + 14)
        self.model_.modelReset.connect(self.update_row_heights)
        self.model_.dataChanged.connect(lambda *_: self.update_row_heights())
        hh.sectionResized.connect(lambda col, *_: self.update_row_heights() if col == TEXT else None)

    # -- rows --------------------------------------------------------------------------------
    def current_name(self) -> str | None:
        row = self.currentIndex().row()
        return self.model_.names[row] if 0 <= row < len(self.model_.names) else None

    def set_current(self, name: str | None) -> None:
        row = self.model_.row_of(name)
        if row < 0:
            self.selectionModel().clearCurrentIndex()
            self.clearSelection()
            return
        self.setCurrentIndex(self.model_.index(row, TEXT))

    def currentChanged(self, current, previous) -> None:
        super().currentChanged(current, previous)
        if current.row() != previous.row():
            self.currentFieldChanged.emit(self.current_name())

    def update_row_heights(self) -> None:
        """A long value (an address) wraps: its row grows, up to MAX_ROW_HEIGHT."""
        fm = self.fontMetrics()
        width = max(20, self.columnWidth(TEXT) - 8)
        header = self.verticalHeader()
        for row in range(self.model_.rowCount()):
            text = self.model_.data(self.model_.index(row, TEXT)) or ""
            h = ROW_HEIGHT
            if fm.horizontalAdvance(text) > width:
                h = fm.boundingRect(QRect(0, 0, width, 10 * MAX_ROW_HEIGHT), WRAP_ALIGN, text).height() + 10
            h = max(ROW_HEIGHT, min(MAX_ROW_HEIGHT, h))
            if header.sectionSize(row) != h:
                header.resizeSection(row, h)

    def needed_height(self) -> int:
        """The height that shows every row without scrolling."""
        rows = sum(self.rowHeight(r) for r in range(self.model_.rowCount())) or ROW_HEIGHT
        return rows + self.horizontalHeader().height() + 2 * self.frameWidth() + 2

    # -- keys --------------------------------------------------------------------------------
    def event(self, event) -> bool:
        # Plain keys are the table's here (typing a value, Enter, Delete), not the workspace's
        # shortcuts; keys with Ctrl or Alt, Tab and the F keys stay the workspace's.
        if event.type() == QEvent.Type.ShortcutOverride and self.state() != QAbstractItemView.State.EditingState:
            mods = event.modifiers() & ~TYPING_MODS
            if not mods and (event.key() in OWN_KEYS or (event.text() and event.text().isprintable())):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers() & ~TYPING_MODS
        if self.state() != QAbstractItemView.State.EditingState and not mods:
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                name = self.current_name()
                if name is not None:
                    self.accepted.emit(name)
                return
            if key == Qt.Key.Key_Escape:
                self.leave.emit()
                return
            if key == Qt.Key.Key_F2:
                self.open_editor()
                return
            if key in (Qt.Key.Key_Home, Qt.Key.Key_End):  # the first / last field (not column)
                self.move(-len(self.model_.names) if key == Qt.Key.Key_Home else len(self.model_.names))
                return
            if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.open_editor("")
                return
            text = event.text()
            if text and text.isprintable():
                self.open_editor(text)
                return
        super().keyPressEvent(event)

    def open_editor(self, replace: str | None = None) -> FieldTextEdit | None:
        """Edit the current field's text; ``replace``: start from this text instead (typing over
        the value, as in a spreadsheet)."""
        row = self.currentIndex().row()
        if row < 0:
            return None
        idx = self.model_.index(row, TEXT)
        self.edit(idx)
        ed = self.delegate.editor
        if ed is None:
            return None
        if replace is not None:
            ed.setText(replace)
            self.model_.set_preview(row, replace)
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
        return self.delegate.editor is None or not self.delegate.editor.dirty

    def close_editor(self, commit: bool = True) -> None:
        ed = self.delegate.editor
        if ed is None:
            return
        if commit:
            self.commit_editor()
        else:
            ed.setText(ed.committed_text)
        had_focus = ed.hasFocus()
        self.delegate.closeEditor.emit(ed, QStyledItemDelegate.EndEditHint.NoHint)
        if had_focus:
            self.setFocus()

    def editing(self) -> bool:
        return self.delegate.editor is not None and self.state() == QAbstractItemView.State.EditingState

    def editor_submitted(self, editor: FieldTextEdit, step: int, by_enter: bool) -> None:
        """Enter / Up / Down in the editor: commit (Enter on a text left as it was accepts it),
        close, move ``step`` rows when the commit went through."""
        name = self.current_name()
        row = self.currentIndex().row()
        unchanged = not editor.dirty
        if not unchanged:
            text = editor.text()
            if not self.model_.setData(self.model_.index(row, TEXT), text):
                return  # refused (a conflict): the workspace reloaded and said so
            if isValid(editor):
                editor.committed_text = text
        self.close_editor(commit=False)
        self.setFocus()
        if by_enter and unchanged and name is not None:
            self.accepted.emit(name)  # moves on itself when the accept goes through
            return
        if step:
            self.move(step)

    def move(self, step: int) -> None:
        row = self.currentIndex().row()
        n = self.model_.rowCount()
        if n:
            self.setCurrentIndex(self.model_.index(max(0, min(n - 1, row + step)), TEXT))


class FieldsPanel(QWidget):
    """The title line and the table; F6 (by default) jumps in and back."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.title)
        self.view = FieldsView(self)
        layout.addWidget(self.view, 1)
        self.empty = QLabel(NO_FIELDS)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #777; padding: 8px;")
        self.empty.hide()
        layout.addWidget(self.empty)
        self.setFocusProxy(self.view)
        self.page_id: int | None = None
        self.set_keys("F6", "Ctrl+L", "Ctrl+Del")

    @property
    def model_(self) -> FieldsModel:
        return self.view.model_

    def set_keys(self, focus: str, link: str, absent: str) -> None:
        """The title line names the keys as they are bound now."""
        def k(s):
            return f"<b>{s}</b>" if s else "(no key)"

        self.title.setText(
            "<span style='font-weight:600'>Key fields</span>"
            f"<span style='color:#555'> &nbsp;{k(focus)} in/out \u00b7 <b>Enter</b> accept \u00b7 type to"
            f" correct \u00b7 {k(link)} take the selection \u00b7 {k(absent)} not on the page</span>")

    def show_fields(self, page_id: int | None, schema: list[str], fields: list[PageField], region_ids=()) -> None:
        """Show a page's fields; the current field stays when it is the same page."""
        keep = self.view.current_name() if page_id == self.page_id else None
        if page_id != self.page_id:
            self.view.close_editor(commit=False)
        self.page_id = page_id
        single = [n for n in schema if not many_valued(n)]
        many = [n for n in schema if many_valued(n)]
        self.model_.set_fields(single if page_id is not None else [], fields, region_ids)
        self.empty.setText(NO_FIELDS if not many else
                           f"{', '.join(many)}: a form has many of each, so they label the regions: the region "
                           "list's Field column (keys 1-9 on a region), pre-filled by the rules until a "
                           "training run learns them from the pages you finish")
        self.empty.setVisible(page_id is not None and not self.model_.names)
        if keep is not None and self.model_.row_of(keep) >= 0:
            if self.view.current_name() != keep:
                self.view.set_current(keep)
        elif page_id is not None and self.view.hasFocus() and self.model_.names:
            self.view.set_current(self.model_.names[0])
        else:
            self.view.set_current(None)
        self.view.update_row_heights()

    def current_field(self) -> PageField | None:
        name = self.view.current_name()
        return self.model_.fields.get(name) if name is not None else None
