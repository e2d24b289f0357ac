"""The app shell: the window shows a project's pages and the selected page with its regions."""

from pathlib import Path

from PIL import Image

from app.demo import ensure_demo_project
from app.main_window import MainWindow
from core.importer import import_paths
from core.model import box_to_quad
from core.project import Project
from core.resources import sample_receipts


def _project_with_pages(tmp_path, n=3) -> Project:
    project = Project.create(tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        Image.new("RGB", (200 + i, 100), (i * 40, 80, 120)).save(src / f"p{i}.png")
    import_paths(project, [src])
    return project


def test_demo_project_has_the_bundled_receipts_with_reference(tmp_path):
    assert len(sample_receipts()) == 5
    assert (sample_receipts()[0].parent / "ATTRIBUTION.md").exists()
    project = ensure_demo_project(tmp_path / "demo", "ana")
    pages = project.store.pages()
    assert len(pages) == 5
    assert all(project.store.reference(p.id)["lines"] for p in pages)
    # Opening again neither duplicates nor fails.
    again = ensure_demo_project(tmp_path / "demo", "ana")
    assert again.store.count_pages() == 5


def test_window_lists_pages_and_shows_the_first(qtbot, tmp_path, qsettings):
    project = _project_with_pages(tmp_path)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.show()
    assert window.page_list.model_.rowCount() == 3
    assert window.page_list.selected_page_ids() == [project.store.pages()[0].id]
    assert window.page_view.sceneRect().width() == 200
    assert "3 page(s)" in window.statusBar().currentMessage()
    assert qsettings.value("last_project") == str(project.root)


def test_region_changed_through_core_shows_on_canvas(qtbot, tmp_path, qsettings):
    project = _project_with_pages(tmp_path, 1)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    page = project.store.pages()[0]
    assert window.page_view.region_items == []
    rid = project.store.add_region("ana", page.id, box_to_quad(10, 10, 90, 30), text="TOTAL")
    window.show_page(page.id)
    items = window.page_view.region_items
    assert [i.region.id for i in items] == [rid]
    assert items[0].boundingRect().width() >= 80
    project.store.update_region("ana", rid, text="TOTAL 9.90")
    window.show_page(page.id)
    assert window.page_view.region_items[0].region.text == "TOTAL 9.90"


def test_import_runs_off_the_gui_thread_with_progress(qtbot, tmp_path, qsettings):
    project = _project_with_pages(tmp_path, 1)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    more = tmp_path / "more"
    more.mkdir()
    for i in range(4):
        Image.new("RGB", (50, 60 + i), "white").save(more / f"m{i}.png")
    (more / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    seen = []
    worker = window.import_files([str(more)])
    worker.signals.progress.connect(lambda d, t, n: seen.append((d, t)))
    with qtbot.waitSignal(worker.signals.done, timeout=20000):
        pass
    qtbot.waitUntil(lambda: window.page_list.model_.rowCount() == 5, timeout=5000)
    assert project.store.count_pages() == 5


def test_zoom_and_fit(qtbot, tmp_path, qsettings):
    project = _project_with_pages(tmp_path, 1)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.show()
    view = window.page_view
    view.fit("page")
    z = view.zoom()
    view.zoom_by(2.0)
    assert abs(view.zoom() - 2 * z) < 1e-6
    view.fit("width")
    assert abs(view.zoom() * 200 - (view.viewport().width() - 4)) < 1.0


def test_uncaught_exception_opens_a_dialog(qtbot, monkeypatch):
    import sys

    from app import errors

    shown = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, msg, details="": shown.append((title, details)))
    old = sys.excepthook
    try:
        errors.install_excepthook()
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = old
    assert shown and "RuntimeError: boom" in shown[0][1]
    assert Path  # keep import used


def test_the_page_list_shows_one_status_and_export_offers_those_pages(qtbot, project, tmp_path, make_image):
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from core.importer import ImportOptions, import_paths
    from core.model import PageStatus

    for i in range(3):
        (tmp_path / f"p{i}.png").write_bytes(make_image(i))
    import_paths(project, sorted(tmp_path.glob("p*.png")), ImportOptions())
    done = project.store.pages()[1]
    project.store.set_page_status("ana", done.id, PageStatus.DONE)
    window = MainWindow(project, "ana", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert len(window.page_list.model_.pages) == 3
    window.page_filter.setCurrentIndex(window.page_filter.findData("done"))
    assert [p.id for p in window.page_list.model_.pages] == [done.id]
    window.page_filter.setCurrentIndex(window.page_filter.findData(None))
    assert len(window.page_list.model_.pages) == 3
