"""File > Import: images, PDFs and folders, alone, with the reference JSON beside each image, or
with another tool's annotations (any format :mod:`core.formats` has a reader for).

Annotations are read first, on a worker thread, and what was found is shown (format, pages,
lines, pages a person checked, images missing; or the one line of a malformed file) before Import
is enabled: nothing is written to the project until Import is pressed. The import then runs on a
worker with a progress bar and Cancel (the file in hand is dropped, those before it are kept);
the dialog shows the summary, one line per duplicate and per failure, and emits ``imported``
so that the window refreshes its page list and pre-fills the new pages ("Then: pre-fill", on
unless the project turned it off: the project setting of app/prefill_action.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import ProofdeskError
from core.importer import ImportOptions, ImportSummary, import_paths

from .errors import show_error
from .job_dialog import JobDialog
from .prefill_action import AUTO_PREFILL, auto_prefill
from .workers import Worker, start

#: The "Annotations" choices besides each reader's name.
NONE, AUTO = "", "auto"
DOCUMENTS_FILTER = "Documents (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *.pdf)"
ANNOTATIONS_FILTER = "Annotations (*.txt *.json *.xml *.hocr *.html *.tsv *.csv)"
ERROR_STYLE = "color: #c02020;"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass
class Found:
    """What the annotations at one path hold, read and checked, nothing written."""

    path: str
    title: str = ""
    pages: int = 0
    lines: int = 0
    checked: int | None = None  # pages a person checked; None where the format does not say
    predicted: list[str] = field(default_factory=list)  # other tools' predictions, by source
    missing: list[str] = field(default_factory=list)  # image files the annotations name, not there
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.missing and self.pages > 0

    def text(self) -> str:
        """"PaddleOCR / PPOCRLabel (Label.txt): 12 pages, 340 lines, 10 checked; 0 images missing"."""
        if self.error:
            return self.error
        out = f"{self.title}: {_n(self.pages, 'page')}, {_n(self.lines, 'line')}"
        if self.checked is not None:
            out += f", {self.checked} checked"
        if self.predicted:
            out += f", predictions of {', '.join(self.predicted)}"
        out += f"; {_n(len(self.missing), 'image')} missing"
        if self.missing:
            out += f" (e.g. {self.missing[0]}): nothing of {Path(self.path).name} would be imported"
        elif not self.pages:
            out += ": no pages found, nothing to import"
        return out


def survey(paths: list[str], fmt: str) -> list[Found]:
    """Read the annotations at each path as the import will (each path on its own), write nothing."""
    from core.formats.importing import Annotations, read_annotations

    out = []
    for path in paths:
        try:
            reader, pages = read_annotations(path, fmt)
            Annotations(reader.name, pages, "labels", "", "")  # the importer's own checks (a page twice)
        except (ProofdeskError, OSError) as exc:
            out.append(Found(path, error=str(exc) or type(exc).__name__))
            continue
        images = {str(p.image): p.image for p in pages}
        checked = [p.checked for p in pages]
        sources = sorted({s for p in pages for s in p.predictions})
        out.append(Found(path, reader.title, len(pages), sum(len(p.lines) for p in pages),
                         None if all(c is None for c in checked) else sum(c is True for c in checked),
                         sources, [p.name for p in images.values() if not p.is_file()]))
    return out


class ImportDialog(JobDialog):
    """Choose what to import and how; see the module doc. Open it with ``open()``: it never blocks."""

    #: (generation, [Found]) after the annotations were read; the generation of the current choice
    #: is ``self.generation`` (an older answer, for a choice since changed, is dropped).
    surveyed = Signal(object)
    imported = Signal(object)  # ImportSummary, after an import finished (cancelled ones too)

    def __init__(self, project, user: str, parent: QWidget | None = None, paths: list[str] | None = None,
                 keep: set | None = None):
        super().__init__(parent)
        from core.formats import READERS, load_all

        load_all()
        self.project, self.user = project, user
        self.keep = keep if keep is not None else set()
        self.paths: list[str] = []
        self.found: list[Found] | None = None
        self.generation = 0
        self.worker: Worker | None = None  # the import, while it runs
        self.summary: ImportSummary | None = None
        self.setWindowTitle("Import")
        self.setMinimumWidth(680)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Import into the project <b>{project.name}</b>: images (PNG, JPEG, TIFF, BMP,"
                                " WebP), PDFs, folders of them, and annotations made in other tools."))
        form = QFormLayout()
        layout.addLayout(form)

        self.path_list = QListWidget()
        self.path_list.setMaximumHeight(90)
        self.path_list.setToolTip("What will be imported")
        self.files_button = QPushButton("Files...")
        self.folder_button = QPushButton("Folder...")
        self.files_button.clicked.connect(self.choose_files)
        self.folder_button.clicked.connect(self.choose_folder)
        choose = QVBoxLayout()
        choose.addWidget(self.files_button)
        choose.addWidget(self.folder_button)
        choose.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.path_list, 1)
        row.addLayout(choose)
        form.addRow("From", row)

        self.annotations = QComboBox()
        self.annotations.addItem("None: the images and PDFs only", NONE)
        self.annotations.addItem("Auto-detect the format", AUTO)
        for r in sorted(READERS.values(), key=lambda r: r.title.casefold()):
            self.annotations.addItem(r.title, r.name)
        self.annotations.setToolTip("Another tool's annotations (PaddleOCR's Label.txt, a COCO JSON, PAGE XML...):"
                                    " choose the file or the folder that holds them with their images")
        form.addRow("Annotations", self.annotations)

        self.as_labels = QRadioButton("People's labels (pages done where the tool says a person checked them)")
        self.as_prediction = QRadioButton("A prediction of that tool (pages pre-filled, to correct and moderate)")
        self.as_labels.setChecked(True)
        self.as_group = QButtonGroup(self)
        self.as_group.addButton(self.as_labels)
        self.as_group.addButton(self.as_prediction)
        as_box = QVBoxLayout()
        as_box.addWidget(self.as_labels)
        as_box.addWidget(self.as_prediction)
        form.addRow("As", as_box)

        self.reference = QCheckBox("Reference JSON beside each image (<image>.json: lines and fields)")
        self.reference_labels = QCheckBox("... as labels: its lines become the page's regions, the page done")
        self.reference.toggled.connect(self._update)
        ref_box = QVBoxLayout()
        ref_box.addWidget(self.reference)
        ref_box.addWidget(self.reference_labels)
        form.addRow("Reference", ref_box)

        self.prefill_after = QCheckBox("Pre-fill the new pages: the machine reads them, you correct")
        self.prefill_after.setToolTip("With the project's engine (Pre-fill > Engine), in the background. A project"
                                      " setting, also Pre-fill > Pre-fill imported pages automatically; pages that"
                                      " come with labels or a prediction keep theirs")
        self.prefill_after.setChecked(auto_prefill(project.store))
        form.addRow("Then", self.prefill_after)

        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.found_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Found", self.found_label)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        self.summary_text.setMaximumHeight(140)
        layout.addWidget(self.summary_text)

        self.buttons = QDialogButtonBox()
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel import", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)

        self.annotations.currentIndexChanged.connect(self._choice_changed)
        self.surveyed.connect(self._on_surveyed)
        self._show_running(False)
        self.set_paths(paths or [])

    # -- choosing --------------------------------------------------------------------------------
    @property
    def fmt(self) -> str:
        """NONE, AUTO or a reader's name."""
        return self.annotations.currentData()

    def set_format(self, name: str) -> None:
        """Choose NONE, AUTO or a reader by name (as the combo box does)."""
        index = self.annotations.findData(name)
        if index < 0:
            raise ValueError(f"no annotation format {name!r} in the list")
        self.annotations.setCurrentIndex(index)

    def choose_files(self) -> None:
        filters = [DOCUMENTS_FILTER, ANNOTATIONS_FILTER, "All files (*)"]
        if self.fmt != NONE:
            filters[0], filters[1] = filters[1], filters[0]
        files, _ = QFileDialog.getOpenFileNames(self, "Import files", self._start_dir(), ";;".join(filters))
        if files:
            self.set_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder", self._start_dir())
        if folder:
            self.set_paths([folder])

    def _start_dir(self) -> str:
        return str(Path(self.paths[0]).parent) if self.paths else ""

    def set_paths(self, paths: list[str]) -> None:
        self.paths = [str(p) for p in paths]
        self.path_list.clear()
        self.path_list.addItems(self.paths)
        if not self.paths:
            self.path_list.addItem("(nothing chosen yet: Files... or Folder...)")
        self._choice_changed()

    def _choice_changed(self, *_) -> None:
        """Paths or format changed: forget what was found and read again (annotations only)."""
        self.generation += 1
        self.found = None
        self.summary = None
        self.summary_text.clear()
        self.summary_text.hide()
        if self.fmt != NONE and self.paths:
            self._read_annotations()
        self._update()

    def _read_annotations(self) -> None:
        generation, paths, fmt = self.generation, list(self.paths), self.fmt

        def job(progress, cancel):
            return generation, survey(paths, fmt)

        worker = Worker(job)
        worker.signals.finished.connect(self.surveyed)
        worker.signals.failed.connect(self._on_survey_failed)
        start(worker, keep=self.keep)

    def _on_surveyed(self, answer) -> None:
        generation, found = answer
        if generation == self.generation:
            self.found = found
            self._update()

    def _on_survey_failed(self, message: str, details: str) -> None:
        self.found = [Found("", error=f"Could not read the annotations: {message}")]
        self._update()

    def _update(self, *_) -> None:
        """Enable what applies to the choice; say what was found; Import only when it can go."""
        annotated = self.fmt != NONE
        running = self.worker is not None
        self.as_labels.setEnabled(annotated and not running)
        self.as_prediction.setEnabled(annotated and not running)
        self.reference.setEnabled(not annotated and not running)
        self.reference_labels.setEnabled(not annotated and not running and self.reference.isChecked())
        if not self.reference.isChecked():
            self.reference_labels.setChecked(False)
        error = False
        if not self.paths:
            text = "Choose files or a folder."
        elif not annotated:
            what = "with the reference JSON beside each image" if self.reference.isChecked() else "images and PDFs only"
            name = f"{len(self.paths)} files and folders" if len(self.paths) > 1 else Path(self.paths[0]).name
            text = f"{name}: {what}."
        elif self.found is None:
            text = "Reading the annotations..."
        else:
            several = len(self.found) > 1
            text = "\n".join((f"{Path(f.path).name}: " if several else "") + f.text() for f in self.found)
            error = not all(f.ok for f in self.found)
        self.found_label.setText(text)
        self.found_label.setStyleSheet(ERROR_STYLE if error else "")
        ready = bool(self.paths) and (not annotated or (self.found is not None and not error))
        self.import_button.setEnabled(ready and not running and self.summary is None)
        for w in (self.files_button, self.folder_button, self.annotations, self.prefill_after):
            w.setEnabled(not running)

    # -- importing -------------------------------------------------------------------------------
    def start_import(self) -> Worker | None:
        """Import what was chosen, on a worker; the dialog shows progress, then the summary."""
        if self.worker is not None or not self.import_button.isEnabled():
            return None  # running, or nothing (sound) to import yet
        project, paths, fmt = self.project, list(self.paths), self.fmt
        if self.prefill_after.isChecked() != auto_prefill(project.store):
            project.store.set_setting(AUTO_PREFILL, self.prefill_after.isChecked())
        if fmt == NONE:
            options = ImportOptions(user=self.user, reference=self.reference.isChecked(),
                                    labels=self.reference.isChecked() and self.reference_labels.isChecked())

            def job(progress, cancel):
                return import_paths(project, paths, options, progress=progress, cancel=cancel)
        else:
            as_ = "prediction" if self.as_prediction.isChecked() else "labels"
            options = ImportOptions(user=self.user)

            def job(progress, cancel):
                from core.formats.importing import import_annotations

                return import_annotations(project, paths, fmt, as_, options, progress, cancel)

        return self.run_job(Worker(job), "Starting...", self.keep)

    cancelling_text = "Cancelling after this page: the file in hand is dropped, those before it are kept..."

    def progress_text(self, done: int, total: int, note: str) -> str:
        return f"Importing {Path(note).name} ({done}/{total})"

    def _on_finished(self, summary: ImportSummary) -> None:
        self.summary = summary
        lines = summary.lines()
        docs = set(summary.document_ids)
        statuses: dict[str, int] = {}
        for page in self.project.store.pages():
            if page.document_id in docs:
                statuses[page.status.value] = statuses.get(page.status.value, 0) + 1
        if statuses:
            lines.insert(1, "pages now " + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(statuses.items())))
        lines += [f"already imported: {path}" for path in summary.duplicates]
        self.summary_text.setPlainText("\n".join(lines))
        self.summary_text.setStyleSheet(ERROR_STYLE if summary.failures or summary.stopped else "")
        self.summary_text.show()
        self.imported.emit(summary)

    def _on_failed(self, message: str, details: str) -> None:
        self.summary = ImportSummary(failures=[("import", message)])
        self.summary_text.setPlainText(f"Import failed: {message}")
        self.summary_text.setStyleSheet(ERROR_STYLE)
        self.summary_text.show()
        show_error(self, "Import failed", message, details)

    def _on_done(self) -> None:
        super()._on_done()
        self.close_button.setFocus()
