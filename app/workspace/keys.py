"""Every key of the workspace in one table: defaults, QSettings overrides, the editor dialog, help.

An action may have several key sequences (``"1; Alt+1"``). The table is stored as
``shortcuts/<action id>`` in the application's QSettings, in Qt's portable text form, so a
person can change a key without touching code; the help overlay always shows the current keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SETTINGS_GROUP = "shortcuts"
PORTABLE = QKeySequence.SequenceFormat.PortableText
NATIVE = QKeySequence.SequenceFormat.NativeText

#: "workspace" keys work while the focus is in the canvas, the region list or the key fields
#: (plain keys such as W or 1 then never fire in other windows or dialogs); "window" keys work
#: anywhere in the window; "fields" keys only while the focus is in the key fields panel.
WORKSPACE, WINDOW, FIELDS = "workspace", "window", "fields"


@dataclass(frozen=True)
class KeyAction:
    id: str
    text: str
    defaults: str  # "; "-separated key sequences, portable text
    group: str
    scope: str = WORKSPACE


def _labels() -> list[KeyAction]:
    out = [KeyAction(f"label_{i}", f"Field label {i} of the schema", f"{i}; Alt+{i}", "Field labels")
           for i in range(1, 10)]
    out.append(KeyAction("label_clear", "Clear the field label", "0; Alt+0", "Field labels"))
    return out


ACTIONS: list[KeyAction] = [
    KeyAction("next_region", "Next region (focus into its text)", "Tab", "Navigate"),
    KeyAction("prev_region", "Previous region", "Shift+Tab; Shift+Backtab", "Navigate"),
    KeyAction("next_low", "Next low-confidence region", "Ctrl+J", "Navigate"),
    KeyAction("prev_low", "Previous low-confidence region", "Ctrl+Shift+J", "Navigate"),
    KeyAction("edit_accept", "Edit the text / commit it; unchanged: accept it as checked", "Return; Enter", "Navigate"),
    KeyAction("done_next", "Mark the page done, open the next page", "Ctrl+Return; Ctrl+Enter", "Pages"),
    KeyAction("next_page", "Next page in the queue (not marking done)", "Ctrl+PgDown", "Pages"),
    KeyAction("prev_page", "Back to the page opened before", "Ctrl+PgUp", "Pages"),
    KeyAction("turn_cw", "Turn the page a quarter clockwise (undoable)", "R", "Pages"),
    KeyAction("turn_ccw", "Turn the page a quarter counter-clockwise (undoable)", "Shift+R", "Pages"),
    KeyAction("undo", "Undo", "Ctrl+Z", "Edit"),
    KeyAction("redo", "Redo", "Ctrl+Shift+Z; Ctrl+Y", "Edit"),
    KeyAction("delete", "Delete the selected regions", "Delete", "Edit"),
    KeyAction("lock", "Lock / unlock the selected regions (no moves)", "L", "Edit"),
    KeyAction("draw_rect", "Draw a box (drag)", "W", "Edit"),
    KeyAction("draw_quad", "Draw a 4-point region (click 4 corners)", "Q", "Edit"),
    KeyAction("rerecognize", "Read the selected regions again (OCR)", "Ctrl+R", "Edit"),
    KeyAction("split", "Split the region at the text cursor, or cut out the selected text", "Ctrl+K", "Edit"),
    KeyAction("merge", "Merge the selected regions into one", "M", "Edit"),
    *_labels(),
    KeyAction("fields_focus", "Into the key fields / back to the regions", "F6", "Key fields", WINDOW),
    KeyAction("field_link", "Selected regions (or text) become the field's value", "Ctrl+L", "Key fields"),
    KeyAction("field_absent", "The field is not on this page", "Ctrl+Del", "Key fields", FIELDS),
    KeyAction("zoom_in", "Zoom in", "Ctrl+=; Ctrl++; +", "View", WINDOW),
    KeyAction("zoom_out", "Zoom out", "Ctrl+-; -", "View", WINDOW),
    KeyAction("fit_page", "Fit the page", "Ctrl+0", "View", WINDOW),
    KeyAction("fit_width", "Fit the width", "Ctrl+9", "View", WINDOW),
    KeyAction("zoom_region", "Zoom to the selected region", "Z", "View"),
    KeyAction("help", "Show / hide this help", "F1; ?", "Help", WINDOW),
]

BY_ID = {a.id: a for a in ACTIONS}

#: Keys that are not configurable, for the help overlay.
FIXED_KEYS = [
    ("Esc", "Cancel drawing / discard the typing not yet committed"),
    ("Wheel", "Zoom around the mouse"),
    ("Middle drag, Space + drag", "Pan"),
    ("Drag on empty page", "Select with a rubber band (Shift adds)"),
    ("Shift + click", "Add / remove a region from the selection"),
    ("Drag a region / its handles", "Move / resize (one undoable action)"),
    ("Arrow keys in the list", "Move between regions"),
    ("Shift+End, Shift+arrows in a text", "Select part of the line (then Ctrl+K cuts it out)"),
]

#: Keys of the key fields panel that are not configurable, shown with its group in the help.
FIELDS_FIXED_KEYS = [
    ("Up / Down", "Previous / next field (its regions outlined)"),
    ("Enter", "Accept the value as it is, next field"),
    ("Typing, F2, Delete", "Replace / edit / empty the value (Enter commits)"),
    ("Esc", "Discard the typing; then back to the regions"),
]


def parse(text: str) -> list[QKeySequence]:
    """``"Ctrl+Z; Ctrl+Y"`` -> key sequences (empty parts dropped)."""
    return [s for s in QKeySequence.listFromString(text, PORTABLE) if not s.isEmpty()]


def to_text(seqs: list[QKeySequence], fmt=PORTABLE) -> str:
    return "; ".join(s.toString(fmt) for s in seqs)


class KeyMap:
    """Action id -> key sequences: the defaults above, overridden by QSettings."""

    def __init__(self, settings: QSettings | None = None):
        self.settings = settings if settings is not None else QSettings()

    def keys(self, action_id: str) -> list[QKeySequence]:
        stored = self.settings.value(f"{SETTINGS_GROUP}/{action_id}")
        if isinstance(stored, list):  # QSettings splits on commas in some back-ends
            stored = ", ".join(stored)
        return parse(stored if isinstance(stored, str) else BY_ID[action_id].defaults)

    def text(self, action_id: str, fmt=NATIVE) -> str:
        return to_text(self.keys(action_id), fmt)

    def set_keys(self, action_id: str, seqs: list[QKeySequence]) -> None:
        if to_text(seqs) == to_text(parse(BY_ID[action_id].defaults)):
            self.settings.remove(f"{SETTINGS_GROUP}/{action_id}")
        else:
            self.settings.setValue(f"{SETTINGS_GROUP}/{action_id}", to_text(seqs))

    def reset(self) -> None:
        self.settings.remove(SETTINGS_GROUP)

    def as_dict(self) -> dict[str, list[QKeySequence]]:
        return {a.id: self.keys(a.id) for a in ACTIONS}


def conflicts(mapping: dict[str, list[QKeySequence]]) -> list[tuple[str, list[str]]]:
    """Key sequences bound to more than one action: ``[(key, [action ids])]``."""
    seen: dict[str, list[str]] = {}
    for action_id, seqs in mapping.items():
        for s in seqs:
            seen.setdefault(s.toString(PORTABLE), []).append(action_id)
    return [(k, ids) for k, ids in seen.items() if len(ids) > 1]


class ShortcutDialog(QDialog):
    """A table of action -> keys; edits are checked for clashes before they are saved."""

    def __init__(self, keymap: KeyMap, parent: QWidget | None = None):
        super().__init__(parent)
        self.keymap = keymap
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 640)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Several keys for one action are separated by \"; \" (e.g. Ctrl+Z; Ctrl+Y)."))
        self.table = QTableWidget(len(ACTIONS), 2, self)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.edits: dict[str, QLineEdit] = {}
        for row, action in enumerate(ACTIONS):
            item = QTableWidgetItem(f"{action.group}: {action.text}")
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, item)
            edit = QLineEdit(keymap.text(action.id, PORTABLE))
            self.table.setCellWidget(row, 1, edit)
            self.edits[action.id] = edit
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        reset = QPushButton("Reset to defaults")
        buttons.addButton(reset, QDialogButtonBox.ButtonRole.ResetRole)
        reset.clicked.connect(self.reset_defaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def reset_defaults(self) -> None:
        for action in ACTIONS:
            self.edits[action.id].setText(action.defaults)

    def mapping(self) -> dict[str, list[QKeySequence]]:
        return {a.id: parse(self.edits[a.id].text()) for a in ACTIONS}

    def accept(self) -> None:
        mapping = self.mapping()
        clashes = conflicts(mapping)
        if clashes:
            lines = [f"{k}: {', '.join(BY_ID[i].text for i in ids)}" for k, ids in clashes]
            QMessageBox.warning(self, "Keys used twice", "These keys are bound to more than one action:\n\n"
                                + "\n".join(lines))
            return
        for action_id, seqs in mapping.items():
            self.keymap.set_keys(action_id, seqs)
        super().accept()


class HelpOverlay(QWidget):
    """Every key, drawn over the workspace; any key or click closes it."""

    closed = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("HelpOverlay { background: rgba(20, 24, 32, 225); }"
                           " QLabel { color: #f0f0f0; font-size: 13px; }")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.label)
        self.hide()

    def show_keys(self, keymap: KeyMap, field_names: list[str]) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for a in ACTIONS:
            text = a.text
            if a.id.startswith("label_") and a.id != "label_clear":
                i = int(a.id.split("_")[1])
                if i > len(field_names):
                    continue
                text = f"Field label: {field_names[i - 1]}"
            groups.setdefault(a.group, []).append((keymap.text(a.id) or "(none)", text))
        groups.setdefault("Key fields", []).extend(FIELDS_FIXED_KEYS)
        groups["Mouse and fixed keys"] = FIXED_KEYS
        cols = []
        for name, rows in groups.items():
            body = "".join(f"<tr><td style='padding:2px 14px 2px 0; color:#ffd479'><b>{_esc(k)}</b></td>"
                           f"<td style='padding:2px 0'>{_esc(t)}</td></tr>" for k, t in rows)
            cols.append(f"<h3 style='color:#9cc8ff; margin:10px 0 4px 0'>{_esc(name)}</h3><table>{body}</table>")
        half = (len(cols) + 1) // 2
        self.label.setText(
            "<h2 style='color:white'>Keys (F1 or ? closes; Workspace &gt; Keyboard shortcuts... changes them)</h2>"
            f"<table><tr><td valign='top' style='padding-right:40px'>{''.join(cols[:half])}</td>"
            f"<td valign='top'>{''.join(cols[half:])}</td></tr></table>")
        self.setGeometry(self.parentWidget().rect())
        self.show()
        self.raise_()
        self.setFocus()

    def keyPressEvent(self, event) -> None:
        self.close_overlay()

    def mousePressEvent(self, event) -> None:
        self.close_overlay()

    def close_overlay(self) -> None:
        self.hide()
        self.closed.emit()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
