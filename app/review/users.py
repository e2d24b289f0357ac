"""Who is working: switch user (password checked where the user has one) and set roles (admins)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit

from core.errors import PermissionDenied
from core.model import Role
from core.review import may, role_of


class UserDialog(QDialog):
    """Pick the user (any name; new names start as annotators) and, for admins, a role."""

    def __init__(self, store, current_user: str, parent=None):
        super().__init__(parent)
        self.store = store
        self.current_user = current_user
        self.setWindowTitle("User and role")
        form = QFormLayout(self)
        self.name = QComboBox()
        self.name.setEditable(True)
        names = sorted({u.name for u in store.users()} | {current_user})
        self.name.addItems(names)
        self.name.setCurrentText(current_user)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.role = QComboBox()
        for r in Role:
            self.role.addItem(r.value, r)
        self.role.setCurrentIndex(self.role.findData(role_of(store, current_user)))
        self.name.currentTextChanged.connect(
            lambda n: self.role.setCurrentIndex(self.role.findData(role_of(store, n.strip() or current_user))))
        self.error = QLabel()
        self.error.setStyleSheet("color: #c02020;")
        form.addRow("User", self.name)
        form.addRow("Password", self.password)
        form.addRow("Role", self.role)
        note = QLabel("Only an admin changes roles (the first admin of a project may name itself).")
        note.setWordWrap(True)
        if not may(store, current_user, "admin"):
            # Shown, not offered: core would refuse it (Store.set_user_role).
            self.role.setEnabled(False)
            self.role.setToolTip(f"{current_user} is no admin: ask an admin to give roles here, or to run"
                                 " `proofdesk users PROJECT --role NAME ROLE`")
            note.setText(note.text() + f" {current_user} is no admin: ask one to give roles (here, or with"
                         " `proofdesk users PROJECT --role NAME reviewer`).")
        form.addRow(note)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.apply)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.chosen: str | None = None

    def apply(self) -> None:
        name = self.name.currentText().strip()
        self.error.clear()
        if not name:
            return
        if not self.store.check_password(name, self.password.text()):
            self.error.setText("Wrong password")
            return
        role = self.role.currentData()
        try:
            if role != role_of(self.store, name):
                self.store.set_user_role(self.current_user, name, role)
            else:
                self.store.ensure_user(name)
        except PermissionDenied as exc:
            self.error.setText(str(exc))
            return
        self.chosen = name
        self.accept()
