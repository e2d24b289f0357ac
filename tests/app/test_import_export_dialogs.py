"""File > Import and File > Export: the real dialogs, driven with pytest-qt on a project.

What the annotations hold is shown before anything is written; a malformed file keeps Import
off; reference lines come in as people's labels; an export of the selected pages writes exactly
those pages; cancel makes a partial export that says so; Open folder opens the export's folder.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QItemSelectionModel, Qt

from app import export_dialog as export_module
from app.export_dialog import DATASET, SELECTED, SHOWN, ExportDialog
from app.import_dialog import AUTO, NONE, ImportDialog
from app.main_window import MainWindow
from core.formats import READERS, WRITERS, AnnotatedPage, Line, load_all
from core.importer import import_paths
from core.model import HUMAN

BOX = [10, 10, 90, 10, 90, 30, 10, 30]


def _pairs(folder: Path, n: int = 2, lines_per_page: int = 2, status: str | None = None) -> Path:
    """``n`` images with their reference JSON beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (200 + i, 100), (i * 50, 90, 130)).save(folder / f"r{i}.png")
        raw = {"image": f"r{i}.png", "width": 200 + i, "height": 100,
               "lines": [{"box": [c + 25 * j * (k % 2) for k, c in enumerate(BOX)], "text": f"LINE {i}.{j}"}
                         for j in range(lines_per_page)],
               "fields": {"total": "9.90"}}
        if status:
            raw["status"] = status
        (folder / f"r{i}.json").write_text(json.dumps(raw))
    return folder


def _rows(project) -> dict[str, int]:
    """Row counts of every table: what "nothing written" means."""
    conn = sqlite3.connect(project.root / "proofdesk.db")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def _import_dialog(qtbot, project, paths=None) -> ImportDialog:
    dialog = ImportDialog(project, "ana", paths=[str(p) for p in paths or []])
    qtbot.addWidget(dialog)
    dialog.open()
    return dialog


def _wait_found(qtbot, dialog: ImportDialog) -> None:
    qtbot.waitUntil(lambda: dialog.found is not None, timeout=10000)


def _project_with_pages(project, tmp_path, n=3):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        Image.new("RGB", (120 + i, 80), (i * 60, 40, 200)).save(src / f"page{i}.png")
    import_paths(project, [src])
    return project


# -- import -----------------------------------------------------------------------------------------
def test_annotations_are_shown_before_anything_is_written_then_imported_as_labels(qtbot, project, tmp_path):
    folder = _pairs(tmp_path / "labelled", n=2, lines_per_page=3)
    before = _rows(project)
    dialog = _import_dialog(qtbot, project)
    dialog.set_format(AUTO)
    dialog.set_paths([str(folder)])
    # Read on a worker: nothing is known yet when set_paths returns, and Import waits for it.
    assert dialog.found is None and "Reading" in dialog.found_label.text()
    assert not dialog.import_button.isEnabled()
    _wait_found(qtbot, dialog)
    text = dialog.found_label.text()
    assert text == (f"{READERS['reference'].title}: 2 pages, 6 lines; 0 images missing")
    assert dialog.import_button.isEnabled()
    assert _rows(project) == before  # the database is unchanged until Import is pressed

    assert dialog.as_labels.isChecked()
    with qtbot.waitSignal(dialog.imported, timeout=20000) as blocker:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    summary = blocker.args[0]
    assert summary.pages == 2 and not summary.failures
    pages = project.store.pages()
    assert [p.status.value for p in pages] == ["done", "done"]  # no status in the files: people checked them
    regions = project.store.regions(pages[0].id)
    assert [r.text for r in regions] == ["LINE 0.0", "LINE 0.1", "LINE 0.2"]
    assert {r.origin for r in regions} == {HUMAN}
    assert "pages now 2 done" in dialog.summary_text.toPlainText()
    qtbot.waitUntil(lambda: dialog.worker is None)
    assert not dialog.import_button.isEnabled()  # not twice by accident


def test_a_malformed_annotation_file_shows_its_line_and_keeps_import_off(qtbot, project, tmp_path):
    folder = _pairs(tmp_path / "bad", n=2)
    raw = json.loads((folder / "r1.json").read_text())
    raw["lines"][1]["box"] = [1, 2, 3]  # not 8 numbers
    (folder / "r1.json").write_text(json.dumps(raw))
    before = _rows(project)
    dialog = _import_dialog(qtbot, project, [folder])
    dialog.set_format("reference")
    _wait_found(qtbot, dialog)
    text = dialog.found_label.text()
    assert "r1.json" in text and "line 2" in text and "\n" not in text
    assert "c02020" in dialog.found_label.styleSheet()
    assert not dialog.import_button.isEnabled()
    assert dialog.start_import() is None  # called directly, as the Import button would: nothing starts
    # Back to a good file: Import comes on again.
    raw["lines"][1]["box"] = BOX
    (folder / "r1.json").write_text(json.dumps(raw))
    dialog.set_paths([str(folder)])
    _wait_found(qtbot, dialog)
    assert dialog.import_button.isEnabled()
    assert _rows(project) == before


def test_missing_images_are_counted_and_keep_import_off(qtbot, project, tmp_path):
    folder = _pairs(tmp_path / "missing", n=3)
    (folder / "r2.png").unlink()
    dialog = _import_dialog(qtbot, project, [folder])
    dialog.set_format("reference")
    _wait_found(qtbot, dialog)
    text = dialog.found_label.text()
    assert "3 pages" in text and "1 image missing" in text and "r2.png" in text
    assert not dialog.import_button.isEnabled()


def test_no_annotations_found_is_one_line(qtbot, project, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    Image.new("RGB", (50, 40), "white").save(folder / "a.png")
    dialog = _import_dialog(qtbot, project, [folder])
    assert dialog.import_button.isEnabled()  # plain images: nothing to read first
    dialog.set_format(AUTO)
    _wait_found(qtbot, dialog)
    assert "no known annotation format" in dialog.found_label.text()
    assert not dialog.import_button.isEnabled()


def test_annotations_as_a_prediction_of_that_tool(qtbot, project, tmp_path):
    folder = _pairs(tmp_path / "pred", n=1, lines_per_page=2)
    dialog = _import_dialog(qtbot, project, [folder])
    dialog.set_format("reference")
    _wait_found(qtbot, dialog)
    qtbot.mouseClick(dialog.as_prediction, Qt.MouseButton.LeftButton)
    assert dialog.as_prediction.isChecked()
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.import_button.click()
    page = project.store.pages()[0]
    assert [p.engine for p in project.store.predictions(page.id)] == ["reference-import"]
    assert page.status.value != "done"
    assert HUMAN not in {r.origin for r in project.store.regions(page.id)}


def test_plain_import_with_the_reference_beside_each_image_as_labels(qtbot, project, tmp_path):
    folder = _pairs(tmp_path / "ref", n=2, lines_per_page=1)
    dialog = _import_dialog(qtbot, project, [folder])
    assert dialog.fmt == NONE
    assert not dialog.reference_labels.isEnabled()  # "as labels" only with the reference
    dialog.reference.setChecked(True)
    assert dialog.reference_labels.isEnabled()
    dialog.reference_labels.setChecked(True)
    assert "reference JSON" in dialog.found_label.text()
    progress = []
    worker = dialog.start_import()
    worker.signals.progress.connect(lambda done, total, note: progress.append((done, total)))
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        pass
    assert [p.status.value for p in project.store.pages()] == ["done", "done"]
    assert project.store.reference(project.store.pages()[0].id)["lines"]
    assert "imported 2 document(s), 2 page(s)" in dialog.summary_text.toPlainText()


def test_the_summary_lists_duplicates_and_failures_one_line_each(qtbot, project, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (50, 40), "white").save(folder / "a.png")
    import_paths(project, [folder / "a.png"])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    dialog = _import_dialog(qtbot, project, [folder])
    with qtbot.waitSignal(dialog.imported, timeout=20000) as blocker:
        dialog.start_import()
    lines = dialog.summary_text.toPlainText().splitlines()
    assert blocker.args[0].duplicates and blocker.args[0].failures
    assert any(line.startswith("already imported: ") and line.endswith("a.png") for line in lines)
    assert any(line.startswith("failed: ") and "broken.png" in line for line in lines)


# -- the formats present at run time ------------------------------------------------------------------
class _TinyReader:
    name, title = "tiny-test", "Tiny test format (tiny.txt)"

    def detect(self, path):
        return 1.0 if Path(path).name == "tiny.txt" else 0.0

    def read(self, path):
        path = Path(path)
        for row in path.read_text().splitlines():
            image, text = row.split("\t")
            yield AnnotatedPage(image=path.parent / image, lines=[Line(points=[(1, 1), (20, 1), (20, 9), (1, 9)],
                                                                       text=text)], checked=False)


class _SlowWriter:
    """Writes nothing; cancels its own export after the first page (the test's Cancel press)."""

    name, title = "cancel-test", "Cancel test format"
    on_first_page = None

    def write(self, pages, out, options, progress=None):
        n = 0
        for page in pages:
            (Path(out) / f"{page.stem}.txt").write_text(page.stem)
            n += 1
            if n == 1 and self.on_first_page:
                self.on_first_page()
            if progress:
                progress(n, page.stem)
        return n


@pytest.fixture
def test_formats():
    from core.formats import register_reader, register_writer

    load_all()
    register_reader(_TinyReader())
    writer = register_writer(_SlowWriter())
    yield writer
    READERS.pop("tiny-test", None)
    WRITERS.pop("cancel-test", None)


def test_the_dialogs_list_the_formats_registered_at_run_time(qtbot, project, tmp_path, test_formats, qsettings):
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.new("RGB", (40, 20), "white").save(folder / "x.png")
    (folder / "tiny.txt").write_text("x.png\tHELLO\n")
    dialog = _import_dialog(qtbot, project, [folder / "tiny.txt"])
    titles = [dialog.annotations.itemText(i) for i in range(dialog.annotations.count())]
    assert titles[:2] == ["None: the images and PDFs only", "Auto-detect the format"]
    assert {r.title for r in READERS.values()} == set(titles[2:])
    dialog.set_format(AUTO)
    _wait_found(qtbot, dialog)
    assert dialog.found_label.text() == "Tiny test format (tiny.txt): 1 page, 1 line, 0 checked; 0 images missing"
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.import_button.click()
    assert [p.status.value for p in project.store.pages()] == ["in_progress"]  # not checked: not done

    export = ExportDialog(project, qsettings)
    qtbot.addWidget(export)
    assert {export.format.itemText(i) for i in range(export.format.count())} == {w.title for w in WRITERS.values()}


# -- export -----------------------------------------------------------------------------------------
def _window_with_selection(qtbot, project, qsettings, rows) -> MainWindow:
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    selection = window.page_list.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(window.page_list.model_.index(row, 0),
                         QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    return window


def test_export_of_the_selected_pages_writes_exactly_those(qtbot, project, tmp_path, qsettings, monkeypatch):
    _project_with_pages(project, tmp_path, 4)
    window = _window_with_selection(qtbot, project, qsettings, [1, 3])
    chosen = window.page_list.selected_page_ids()
    assert len(chosen) == 2
    dialog = window.export_dialog()
    assert dialog.isVisible() and dialog.which_pages() == SELECTED  # several selected: those by default
    assert dialog.radios[SHOWN].text() == "The pages shown in the page list (4)"
    assert not dialog.export_button.isEnabled()  # no folder yet
    out = tmp_path / "out"
    monkeypatch.setattr(export_module.QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    dialog.folder_button.click()
    assert dialog.folder.text() == str(out)
    dialog.set_format("reference")
    seen = []
    with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
        worker = dialog.start_export()
        worker.signals.progress.connect(lambda done, total, stem: seen.append((done, total)))
    result = blocker.args[0]
    assert result.written == 2 and not result.cancelled
    names = {p.name for p in project.store.pages() if p.id in chosen}
    stems = {Path(n).stem for n in names}
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{s}.json" for s in stems] + [f"{s}.png" for s in stems])
    assert dialog.result_label.text() == f"Exported 2 pages to {out}"
    assert dialog.open_button.isVisible()
    qtbot.waitUntil(lambda: "Exported 2 pages" in window.statusBar().currentMessage())

    opened = []
    monkeypatch.setattr(export_module.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    dialog.open_button.click()
    assert opened == [str(out)]
    # Remembered for the next export.
    again = window.export_dialog()
    assert again.folder.text() == str(out) and again.format.currentData() == "reference"


def test_export_without_images_and_progress(qtbot, project, tmp_path, qsettings):
    _project_with_pages(project, tmp_path, 3)
    dialog = ExportDialog(project, qsettings, selected_ids=[])
    qtbot.addWidget(dialog)
    dialog.open()
    assert not dialog.radios[SELECTED].isEnabled()
    dialog.copy_images.setChecked(False)
    dialog.folder.setText(str(tmp_path / "json-only"))
    progress = []
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        worker = dialog.start_export()
        worker.signals.progress.connect(lambda done, total, stem: progress.append((done, total)))
    assert sorted(p.suffix for p in (tmp_path / "json-only").iterdir()) == [".json"] * 3
    qtbot.waitUntil(lambda: dialog.worker is None)
    assert dialog.progress.maximum() == 3 and dialog.progress.value() == 3


def test_cancel_stops_between_pages_and_says_the_export_is_partial(qtbot, project, tmp_path, qsettings,
                                                                   test_formats):
    _project_with_pages(project, tmp_path, 3)
    dialog = ExportDialog(project, qsettings)
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.set_format("cancel-test")
    dialog.folder.setText(str(tmp_path / "partial"))
    pressed = threading.Event()
    test_formats.on_first_page = lambda: (dialog.worker.cancel.set(), pressed.set())
    try:
        with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
            dialog.start_export()
    finally:
        test_formats.on_first_page = None
    result = blocker.args[0]
    assert pressed.is_set() and result.cancelled and (result.written, result.total) == (1, 3)
    assert len(list((tmp_path / "partial").iterdir())) == 1
    assert dialog.result_label.text().startswith("Cancelled: the export is partial, 1 of 3 pages written")


def test_export_of_a_dataset_version_keeps_its_split(qtbot, labelled, tmp_path, qsettings):
    project, version = labelled
    dialog = ExportDialog(project, qsettings)
    qtbot.addWidget(dialog)
    dialog.open()
    assert dialog.radios[DATASET].isEnabled() and not dialog.dataset.isEnabled()
    dialog.set_which(DATASET)
    assert dialog.dataset.isEnabled() and dialog.dataset.currentData() == version.id
    dialog.copy_images.setChecked(False)
    dialog.folder.setText(str(tmp_path / "ds"))
    with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
        dialog.start_export()
    assert blocker.args[0].written == version.n_pages
    splits = {json.loads(p.read_text())["split"] for p in (tmp_path / "ds").glob("*.json")}
    assert splits == {"train", "val"}


def test_a_file_as_the_export_folder_is_refused(qtbot, project, tmp_path, qsettings):
    _project_with_pages(project, tmp_path, 1)
    (tmp_path / "afile").write_text("x")
    dialog = ExportDialog(project, qsettings)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "afile"))
    assert not dialog.export_button.isEnabled() and "not a folder" in dialog.folder_note.text()
    dialog.folder.setText(str(tmp_path / "src"))
    assert dialog.export_button.isEnabled() and "not empty" in dialog.folder_note.text()


# -- the menus ---------------------------------------------------------------------------------------
def test_file_menu_import_and_export(qtbot, project, tmp_path, qsettings, monkeypatch):
    from app import main_window

    _project_with_pages(project, tmp_path, 2)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    assert window.import_action.shortcut().toString() == "Ctrl+I"
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    window.import_action.trigger()
    assert isinstance(window.import_window, ImportDialog) and window.import_window.isVisible()
    window.import_window.reject()
    folder = _pairs(tmp_path / "more", n=1)
    monkeypatch.setattr(main_window.QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.import_folder_dialog()
    dialog = window.import_window
    assert dialog.paths == [str(folder)]
    with qtbot.waitSignal(dialog.imported, timeout=20000):
        dialog.import_button.click()
    qtbot.waitUntil(lambda: window.page_list.model_.rowCount() == 3, timeout=5000)
    window.export_action.trigger()
    assert isinstance(window.export_window, ExportDialog) and window.export_window.isVisible()
