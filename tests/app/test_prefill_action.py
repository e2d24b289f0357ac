"""The Pre-fill menu runs off the GUI thread and each finished page shows its regions."""

from pathlib import Path

from app.main_window import MainWindow
from core.importer import ImportOptions, import_paths
from core.project import Project

SROIE = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "sroie-dev"


def test_prefill_selected_page_shows_regions(qtbot, tmp_path, qsettings):
    project = Project.create(tmp_path / "p")
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:2], ImportOptions())
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.show()
    first = project.store.pages()[0].id
    assert window.current_page_id() == first
    assert window.page_view.region_items == []
    ticks = []
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    worker = window.prefill.prefill([first])
    with qtbot.waitSignal(window.prefill.finished, timeout=60000) as blocker:
        pass
    timer.stop()
    summary = blocker.args[0]
    assert summary.done == [first] and summary.engine == "combined"  # the project's engine: the best
    assert len(window.page_view.region_items) == len(project.store.regions(first)) > 10
    assert ticks, "the event loop kept running while the worker ran"
    assert worker.cancel is not None
    assert project.store.status_counts() == {"prefilled": 1, "new": 1}


def test_auto_prefill_after_import(qtbot, tmp_path, qsettings):
    project = Project.create(tmp_path / "p")
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    # On by default, the project choosing neither (issue 17, defect 12); the menu turns it off and on.
    assert window.prefill.auto_action.isChecked() and project.store.get_setting("auto_prefill") is None
    window.prefill.auto_action.setChecked(False)
    window.prefill.auto_action.setChecked(True)
    assert project.store.get_setting("auto_prefill") is True
    window.import_files([str(sorted(SROIE.glob("*.jpg"))[0])])
    with qtbot.waitSignal(window.prefill.finished, timeout=60000) as blocker:
        pass
    assert len(blocker.args[0].done) == 1
    assert project.store.status_counts() == {"prefilled": 1}


def test_engine_menu_sets_the_projects_prefill_engine(qtbot, tmp_path, qsettings):
    from core.prefill_engine import prefill_engine

    project = Project.create(tmp_path / "p")
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    actions = window.prefill.engine_actions
    assert [n for n, a in actions.items() if a.isChecked()] == ["combined"]  # the best, by default
    actions["classical"].trigger()
    assert prefill_engine(project.store) == "classical"
    assert [n for n, a in actions.items() if a.isChecked()] == ["classical"]  # one at a time
    # Another window on the project shows the project's choice.
    other = MainWindow(project, "bob", qsettings)
    qtbot.addWidget(other)
    assert other.prefill.engine_actions["classical"].isChecked()


def test_language_menu_sets_the_projects_tesseract_languages(qtbot, tmp_path, qsettings):
    from ml.training.active import TESSERACT_LANGUAGES, engine_config

    project = Project.create(tmp_path / "p")
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    actions = window.prefill.lang_actions
    assert [n for n, a in actions.items() if a.isChecked()] == ["deu+eng"]
    actions["eng"].trigger()
    assert project.store.get_setting(TESSERACT_LANGUAGES) == "eng"
    assert engine_config(project, "combined")["tesseract"]["lang"] == "eng"  # what pre-fill reads with
    other = MainWindow(project, "bob", qsettings)
    qtbot.addWidget(other)
    assert [n for n, a in other.prefill.lang_actions.items() if a.isChecked()] == ["eng"]
