"""Issue 17, defect 12: pages imported in the app are pre-filled by default (the auto option was
off and the workspace showed an empty list with no hint), and the empty region list of a new page
says whether it is being pre-filled or how to pre-fill it. pytest-qt, offscreen."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.main_window import MainWindow
from app.prefill_action import AUTO_PREFILL, PREFILLING_TEXT
from core.importer import ImportOptions, import_paths
from core.prefill_engine import set_prefill_engine
from core.project import Project

SROIE = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "sroie-dev"
#: A pre-fill of one receipt takes seconds; on a CI machine at load 5-7 it may take a minute.
#: This is how long the test waits for it to end, not a figure it checks.
PATIENCE_MS = 240_000


def _receipt() -> str:
    return str(sorted(SROIE.glob("*.jpg"))[0])


@pytest.mark.timeout(300)
def test_a_gui_import_prefills_the_new_pages_by_default(qtbot, tmp_path, qsettings):
    project = Project.create(tmp_path / "p")
    set_prefill_engine(project.store, "classical")  # the quickest engine: what is tested is that it runs
    assert project.store.get_setting(AUTO_PREFILL) is None  # a new project: nobody chose either way
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    assert window.prefill.auto_action.isChecked()
    dialog = window.import_dialog([_receipt()])
    assert dialog.prefill_after.isChecked() and dialog.prefill_after.isEnabled()
    with qtbot.waitSignal(window.prefill.finished, timeout=PATIENCE_MS) as blocker:
        dialog.start_import()
    assert len(blocker.args[0].done) == 1
    assert project.store.status_counts() == {"prefilled": 1}


def test_unticked_in_the_import_dialog_the_project_stops_prefilling(qtbot, tmp_path, qsettings):
    project = Project.create(tmp_path / "p")
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    dialog = window.import_dialog([_receipt()])
    dialog.prefill_after.setChecked(False)
    with qtbot.waitSignal(dialog.imported, timeout=PATIENCE_MS):
        dialog.start_import()
    assert project.store.get_setting(AUTO_PREFILL) is False and not window.prefill.auto_action.isChecked()
    assert window.prefill.worker is None and project.store.status_counts() == {"new": 1}
    assert not window.import_dialog([]).prefill_after.isChecked()  # the next import asks the same


@pytest.mark.timeout(300)
def test_the_empty_list_of_a_new_page_says_how_to_prefill_it_then_that_it_is_being_prefilled(
        qtbot, tmp_path, qsettings):
    project = Project.create(tmp_path / "p")
    set_prefill_engine(project.store, "classical")
    import_paths(project, [_receipt()], ImportOptions())
    page = project.store.pages()[0]
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.show()
    window.show_page(page.id)
    region_list = window.workspace.list
    assert region_list.model_.rowCount() == 0
    assert region_list.empty_text.startswith("Not pre-filled yet: press Ctrl+Shift+P (Pre-fill > Pre-fill selected")
    region_list.grab()  # painted with the text
    window.prefill.prefill([page.id])
    assert region_list.empty_text == PREFILLING_TEXT  # at once, before the worker has read anything
    with qtbot.waitSignal(window.prefill.finished, timeout=PATIENCE_MS):
        pass
    qtbot.waitUntil(lambda: region_list.model_.rowCount() > 0, timeout=PATIENCE_MS)
    assert region_list.empty_text == ""  # pre-filled: nothing more to say
