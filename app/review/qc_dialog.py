"""Review > QC rules: which done pages go to review (the sample share, its seed, the expected
wrong regions a page may hold before it is routed, blind reviews), and how many did lately.

Everyone may read the rules; an admin changes them (core refuses anyone else: the dialog shows
the fields disabled with how to get the role). The same rules as ``proofdesk qc``.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
)

from core import analytics, review, sampling
from core.errors import ProofdeskError

from . import role_hint


class QCDialog(QDialog):
    """Show the project's QC rules; an admin changes them with OK."""

    def __init__(self, store, user: str, parent=None):
        super().__init__(parent)
        self.store, self.user = store, user
        self.setWindowTitle("QC rules")
        qc = review.qc_settings(store)
        form = QFormLayout(self)
        intro = QLabel("When a page is marked done, QC decides whether a reviewer checks it: a seeded sample of"
                       " pages, plus every page likely to still hold errors, plus every page where two engines"
                       " read a line differently.")
        intro.setWordWrap(True)
        form.addRow(intro)
        self.share = QDoubleSpinBox()
        self.share.setRange(0.0, 100.0)
        self.share.setDecimals(1)
        self.share.setSuffix(" %")
        self.share.setValue(100 * qc.share)
        self.share.setToolTip("The share of done pages drawn for review, whatever their confidence")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(qc.seed)
        self.seed.setToolTip("Another seed draws other pages (the same seed always the same ones)")
        self.expected_wrong_max = QDoubleSpinBox()
        self.expected_wrong_max.setRange(0.0, 1000.0)
        self.expected_wrong_max.setDecimals(2)
        self.expected_wrong_max.setSingleStep(0.1)
        self.expected_wrong_max.setValue(qc.expected_wrong_max)
        self.expected_wrong_max.setToolTip(
            "A page is routed (low_confidence) when more wrong regions than this are expected among the lines"
            " the machine read and nobody typed, accepted or marked: the sum of (1 - confidence) over them."
            f" The default, {sampling.DEFAULT_EXPECTED_WRONG_MAX:g}, routes a page when it is some 40%"
            " likely to still hold an error; higher routes fewer pages.")
        self.blind = QCheckBox("Reviewers do not see who annotated a page (admins do)")
        self.blind.setChecked(qc.blind)
        form.addRow("Sample", self.share)
        form.addRow("Seed", self.seed)
        form.addRow("Route a page expecting more than", self.expected_wrong_max)
        form.addRow("", QLabel("wrong regions among the lines nobody checked"))
        form.addRow("Blind", self.blind)
        self.routed = QLabel()
        self.routed.setWordWrap(True)
        form.addRow("Lately", self.routed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form.addRow(self.note)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c02020;")
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.editable = review.may(store, user, "admin")
        for w in (self.share, self.seed, self.expected_wrong_max, self.blind):
            w.setEnabled(self.editable)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.editable)
        if not self.editable:
            self.note.setText("Only an admin changes the QC rules. " + role_hint(user, "admin", store))
        self._show_routed()

    def _show_routed(self) -> None:
        q = analytics.qc_routing(self.store)
        if not q["finished"]:
            self.routed.setText("no page finished yet")
            return
        parts = ", ".join(f"{reason_name(k)} {v['share']:.0%}" for k, v in q["reasons"].items() if v["pages"])
        self.routed.setText(f"{q['routed']} of {q['finished']} finished pages went to review ({q['share']:.0%})"
                            + (f": {parts}" if parts else ""))

    def apply(self) -> None:
        try:
            review.set_qc_settings(self.store, self.user, share=self.share.value() / 100, seed=self.seed.value(),
                                   expected_wrong_max=self.expected_wrong_max.value(), blind=self.blind.isChecked())
        except (ProofdeskError, ValueError) as exc:
            self.error.setText(str(exc))
            return
        self.accept()


def reason_name(reason: str) -> str:
    """How a QC reason reads on screen."""
    return sampling.REASON_NAMES.get(reason, reason.replace("_", " "))
