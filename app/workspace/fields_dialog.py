"""The field schema editor: the project's field names, in the order of their keys (1..9)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from core.model import FieldSchema


class FieldSchemaDialog(QDialog):
    """Edit the list of field names; presets replace it with the receipt or invoice fields."""

    def __init__(self, fields: list[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Field names")
        self.resize(380, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The first nine fields get the keys 1..9 (and Alt+1..9) in the workspace."))
        preset_row = QHBoxLayout()
        preset_row.addWidget(QLabel("Preset:"))
        self.preset = QComboBox()
        self.preset.addItem("(choose)")
        self.preset.addItems(sorted(FieldSchema.PRESETS))
        self.preset.activated.connect(self._apply_preset)
        preset_row.addWidget(self.preset, 1)
        layout.addLayout(preset_row)
        self.list = QListWidget()
        self.list.setDragDropMode(QListWidget.DragDropMode.InternalMove)
        for name in fields:
            self._add_item(name)
        layout.addWidget(self.list, 1)
        buttons_row = QHBoxLayout()
        for text, slot in (("Add", self.add_field), ("Remove", self.remove_field),
                           ("Up", lambda: self._move(-1)), ("Down", lambda: self._move(1))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons_row.addWidget(b)
        layout.addLayout(buttons_row)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)

    def _add_item(self, name: str) -> QListWidgetItem:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.list.addItem(item)
        return item

    def _apply_preset(self, index: int) -> None:
        if index <= 0:
            return
        self.list.clear()
        for name in FieldSchema.preset(self.preset.itemText(index)).fields:
            self._add_item(name)

    def add_field(self) -> None:
        item = self._add_item("new_field")
        self.list.setCurrentItem(item)
        self.list.editItem(item)

    def remove_field(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def _move(self, delta: int) -> None:
        row = self.list.currentRow()
        new = row + delta
        if row < 0 or not 0 <= new < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(new, item)
        self.list.setCurrentRow(new)

    def fields(self) -> list[str]:
        return [self.list.item(i).text().strip() for i in range(self.list.count()) if self.list.item(i).text().strip()]

    def accept(self) -> None:
        names = self.fields()
        if len(set(names)) != len(names):
            QMessageBox.warning(self, "Field names", "Each field name may appear only once.")
            return
        super().accept()
