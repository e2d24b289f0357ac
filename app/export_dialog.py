"""File > Export: the project's pages in any format :mod:`core.formats` has a writer for.

Which pages: all, the pages the page list shows, the selected pages, or a dataset version's
(each page with the lines the version froze and its train / val split). The export runs on a
worker with a progress bar; Cancel stops between two pages (the writer's progress callback
raises :class:`ExportCancelled`, which the job catches), and the summary then says the export is
partial. When done: "Exported N pages to ..." and a button that opens the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from .errors import show_error
from .job_dialog import JobDialog
from .workers import Worker

ERROR_STYLE = "color: #c02020;"
ALL, SHOWN, SELECTED, DATASET = "all", "shown", "selected", "dataset"


class ExportCancelled(BaseException):
    """Raised from the writer's progress callback when Cancel was pressed. A BaseException, as
    KeyboardInterrupt is: a writer that catches Exception around a page must not swallow it."""

    def __init__(self, written: int):
        super().__init__(written)
        self.written = written


@dataclass
class ExportResult:
    written: int  # pages written
    total: int  # pages asked for
    out: Path
    format_title: str
    cancelled: bool = False

    def text(self) -> str:
        pages = "page" if self.written == 1 else "pages"
        if self.cancelled:
            return (f"Cancelled: the export is partial, {self.written} of {self.total} pages written to {self.out}"
                    " (files that list every page, where the format has them, may be missing).")
        return f"Exported {self.written} {pages} to {self.out}"


def export_job(project, out: Path, fmt: str, title: str, page_ids: list[int] | None, copy_images: bool,
               dataset_version: int | None):
    """The worker's function: export, stopping between pages when ``cancel`` is set."""
    from core.formats import ExportOptions
    from core.formats.exporting import export

    def job(progress, cancel):
        seen = {"total": len(page_ids) if page_ids is not None else 0}

        def report(done: int, total: int, stem: str) -> None:
            seen["total"] = total
            progress(done, total, stem)
            if cancel.is_set() and done < total:
                raise ExportCancelled(done)

        try:
            n = export(project, out, fmt, page_ids=page_ids,
                       options=ExportOptions(copy_images=copy_images, dataset_version=dataset_version),
                       progress=report)
        except ExportCancelled as stop:
            return ExportResult(stop.written, seen["total"], out, title, cancelled=True)
        return ExportResult(n, n, out, title)

    return job


class ExportDialog(JobDialog):
    """Choose format, folder and pages; see the module doc. Open it with ``open()``."""

    exported = Signal(object)  # ExportResult, after an export ended (cancelled ones too)

    def __init__(self, project, settings: QSettings | None = None, shown_ids: list[int] | None = None,
                 selected_ids: list[int] | None = None, parent: QWidget | None = None, keep: set | None = None):
        super().__init__(parent)
        from core.datasets import list_versions
        from core.formats import WRITERS, load_all

        load_all()
        self.project = project
        self.settings = settings or QSettings()
        self.keep = keep if keep is not None else set()
        self.all_ids = [p.id for p in project.store.pages()]
        self.shown_ids = list(shown_ids) if shown_ids is not None else list(self.all_ids)
        self.selected_ids = list(selected_ids or [])
        self.worker: Worker | None = None
        self.result_: ExportResult | None = None
        self.setWindowTitle("Export")
        self.setMinimumWidth(640)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.format = QComboBox()
        for w in sorted(WRITERS.values(), key=lambda w: w.title.casefold()):
            self.format.addItem(w.title, w.name)
        wanted = self.settings.value("export/format", "reference")
        self.format.setCurrentIndex(max(0, self.format.findData(wanted)))
        form.addRow("Format", self.format)

        self.folder = QLineEdit(str(self.settings.value("export/folder", "") or ""))
        self.folder.setPlaceholderText("The folder to write into (made if missing)")
        self.folder_button = QPushButton("Choose...")
        self.folder_button.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.folder_button)
        form.addRow("Folder", row)
        self.folder_note = QLabel()
        self.folder_note.setWordWrap(True)
        form.addRow("", self.folder_note)

        self.which = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        pages_box = QGridLayout()
        for row_no, (key, text, count) in enumerate([
                (ALL, "All pages", len(self.all_ids)),
                (SHOWN, "The pages shown in the page list", len(self.shown_ids)),
                (SELECTED, "The selected pages", len(self.selected_ids))]):
            radio = QRadioButton(f"{text} ({count})")
            radio.setEnabled(count > 0)
            self.radios[key] = radio
            self.which.addButton(radio)
            pages_box.addWidget(radio, row_no, 0, 1, 2)
        self.radios[DATASET] = QRadioButton("A dataset version")
        self.which.addButton(self.radios[DATASET])
        self.dataset = QComboBox()
        for v in reversed(list_versions(project.store)):
            self.dataset.addItem(f"{v.id}: {v.n_pages} pages, {v.n_train} train / {v.n_val} val lines,"
                                 f" {v.created_at[:10]} by {v.created_by}", v.id)
        self.radios[DATASET].setEnabled(self.dataset.count() > 0)
        self.dataset.setEnabled(False)
        pages_box.addWidget(self.radios[DATASET], 3, 0)
        pages_box.addWidget(self.dataset, 3, 1)
        pages_box.setColumnStretch(1, 1)
        form.addRow("Pages", pages_box)
        (self.radios[SELECTED] if len(self.selected_ids) > 1 else self.radios[ALL]).setChecked(True)

        self.copy_images = QCheckBox("Include the page images")
        self.copy_images.setChecked(self.settings.value("export/images", True, type=bool))
        form.addRow("", self.copy_images)

        self.progress = QProgressBar()
        self.progress_label = QLabel()
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.result_label)

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel export", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button = self.buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.open_button.clicked.connect(self.open_folder)
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)

        self.folder.textChanged.connect(self._update)
        self.which.buttonToggled.connect(self._update)
        self.format.currentIndexChanged.connect(self._update)
        self.dataset.currentIndexChanged.connect(self._update)
        self._show_running(False)
        self.open_button.hide()
        self.result_label.hide()
        self._update()

    # -- choosing --------------------------------------------------------------------------------
    def which_pages(self) -> str:
        return next((k for k, r in self.radios.items() if r.isChecked()), ALL)

    def set_which(self, key: str) -> None:
        self.radios[key].setChecked(True)

    def set_format(self, name: str) -> None:
        index = self.format.findData(name)
        if index < 0:
            raise ValueError(f"no export format {name!r} in the list")
        self.format.setCurrentIndex(index)

    def page_ids(self) -> list[int] | None:
        """The chosen pages' ids (None for a dataset version: the version decides)."""
        return {ALL: self.all_ids, SHOWN: self.shown_ids, SELECTED: self.selected_ids}.get(self.which_pages())

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _update(self, *_) -> None:
        running = self.worker is not None
        self.dataset.setEnabled(self.which_pages() == DATASET and not running)
        text = self.folder.text().strip()
        note, warn = "", False
        if text:
            path = Path(text).expanduser()
            if path.exists() and not path.is_dir():
                note, warn = "That is a file, not a folder.", True
            elif path.is_dir():
                try:
                    with os.scandir(path) as entries:
                        busy = any(True for _ in entries)
                except OSError as exc:
                    note, warn = f"Cannot read the folder: {exc.strerror or exc}", True
                else:
                    if busy:
                        note = "The folder is not empty: files of the same names are replaced."
        self.folder_note.setText(note)
        self.folder_note.setStyleSheet(ERROR_STYLE if warn else "")
        self.folder_note.setVisible(bool(note))
        ids = self.page_ids()
        has_pages = self.dataset.currentData() is not None if ids is None else bool(ids)
        self.export_button.setEnabled(bool(text) and not warn and has_pages and not running)
        for w in (self.format, self.folder, self.folder_button, self.copy_images, *self.radios.values()):
            w.setEnabled(not running and (w not in self.radios.values() or self._radio_possible(w)))

    def _radio_possible(self, radio: QRadioButton) -> bool:
        if radio is self.radios[DATASET]:
            return self.dataset.count() > 0
        key = next(k for k, r in self.radios.items() if r is radio)
        return bool({ALL: self.all_ids, SHOWN: self.shown_ids, SELECTED: self.selected_ids}[key])

    # -- exporting -------------------------------------------------------------------------------
    def start_export(self) -> Worker | None:
        if self.worker is not None or not self.export_button.isEnabled():
            return None
        out = Path(self.folder.text().strip()).expanduser().absolute()
        fmt, title = self.format.currentData(), self.format.currentText()
        self.settings.setValue("export/format", fmt)
        self.settings.setValue("export/folder", str(out))
        self.settings.setValue("export/images", self.copy_images.isChecked())
        dataset = self.dataset.currentData() if self.which_pages() == DATASET else None
        worker = Worker(export_job(self.project, out, fmt, title, self.page_ids(), self.copy_images.isChecked(),
                                   dataset))
        self.result_ = None
        self.result_label.hide()
        self.open_button.hide()
        return self.run_job(worker, f"Exporting as {title}...", self.keep)

    cancelling_text = "Cancelling after this page..."

    def progress_text(self, done: int, total: int, note: str) -> str:
        return f"Exported {note} ({done}/{total})"

    def _on_finished(self, result: ExportResult) -> None:
        self.result_ = result
        self.result_label.setText(result.text())
        self.result_label.setStyleSheet(ERROR_STYLE if result.cancelled else "")
        self.result_label.show()
        self.open_button.show()
        self.open_button.setFocus()
        self.exported.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self.result_label.setText(f"Export failed: {message}")
        self.result_label.setStyleSheet(ERROR_STYLE)
        self.result_label.show()
        show_error(self, "Export failed", message, details)

    def open_folder(self) -> None:
        """The export's folder in the file manager."""
        if self.result_ is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result_.out)))
