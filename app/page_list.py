"""The page list: one row per page with its status, name and size."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from core.model import Page, PageStatus

STATUS_COLOURS = {
    PageStatus.NEW: QColor(140, 140, 140),
    PageStatus.PREFILLED: QColor(30, 120, 230),
    PageStatus.IN_PROGRESS: QColor(220, 150, 20),
    PageStatus.DONE: QColor(20, 160, 60),
    PageStatus.APPROVED: QColor(20, 120, 40),
    PageStatus.REJECTED: QColor(210, 40, 40),
}


class PageListModel(QAbstractTableModel):
    HEADERS = ("Status", "Name", "Size")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pages: list[Page] = []

    def set_pages(self, pages: list[Page]) -> None:
        self.beginResetModel()
        self.pages = list(pages)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.pages)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        page = self.pages[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (page.status.value.replace("_", " "), page.name, f"{page.width}x{page.height}")[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 0:
            return STATUS_COLOURS.get(page.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            done = f"\ndone by {page.done_by} at {page.done_at[:16].replace('T', ' ')}" if page.done_by and page.done_at else ""
            given = f"\nassigned to {page.assignee}" if page.assignee else ""
            return f"{page.name}: {page.status.value.replace('_', ' ')}{done}{given}"
        if role == Qt.ItemDataRole.UserRole:
            return page.id
        return None

    def row_of(self, page_id: int) -> int:
        for i, p in enumerate(self.pages):
            if p.id == page_id:
                return i
        return -1


class PageList(QTableView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_ = PageListModel(self)
        self.setModel(self.model_)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.verticalHeader().hide()
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)

    def selected_page_ids(self) -> list[int]:
        return [self.model_.pages[i.row()].id for i in self.selectionModel().selectedRows()]

    def select_page(self, page_id: int) -> None:
        # Not selectRow(): with extended selection it honours the keyboard modifiers held at
        # the moment (Shift from Shift+Tab would extend the selection instead of moving it).
        row = self.model_.row_of(page_id)
        if row >= 0:
            flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.selectionModel().setCurrentIndex(self.model_.index(row, 0), flags)
            self.scrollTo(self.model_.index(row, 0))
