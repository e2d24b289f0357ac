"""The Moderate and Analytics screens (pytest-qt, offscreen)."""

import pytest
from PIL import Image

from app.main_window import MainWindow
from app.review.analytics import AnalyticsScreen
from app.review.moderate import ModerateScreen
from core import review
from core.errors import PermissionDenied
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from core.queue import queue

#: The Analytics screen's figures come from the store, the same on a project folder and a team
#: server: the tests that take the ``project`` fixture run on both.
BOTH_BACKENDS = True


def _project(tmp_path, n=6, project: Project | None = None) -> Project:
    project = project or Project.create(tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        Image.new("RGB", (300 + i, 260), (240, 240, 240)).save(src / f"p{i}.png")
    import_paths(project, [src])
    store = project.store
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", 0.9 - 0.1 * i)
                      for i in range(4))
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds))
    # Four pages done on four days (Nov 1..4), one edited; two not done.
    for i, page in enumerate(store.pages()[:4]):
        if i == 1:
            store.update_region("ana", store.regions(page.id)[0].id, text="LINE 0?")
        store.set_page_status("ana", page.id, PageStatus.DONE)
        store.query("UPDATE pages SET done_at = ? WHERE id = ?", (f"2026-11-0{i + 1}T09:00:00+00:00", page.id))
    store.review_page("rita", store.pages()[0].id, "approved")
    store.query("UPDATE pages SET done_at = '2026-11-01T09:00:00+00:00' WHERE id = ?", (store.pages()[0].id,))
    return project


def test_moderate_counts_follow_a_date_range(qtbot, tmp_path):
    project = _project(tmp_path)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.show()
    assert screen.counts["total"] == 6 and screen.counts["moderated"] == 1
    screen.filters.set_dates("2026-11-01", "2026-11-02")
    assert (screen.counts["total"], screen.counts["moderated"], screen.counts["not_moderated"]) == (2, 1, 1)
    assert "1 moderated" in screen.counts_label.text() and "1 not moderated" in screen.counts_label.text()
    assert screen.model.rowCount() == 2
    screen.filters.set_dates("2026-11-03", "2026-11-30")
    assert (screen.counts["total"], screen.counts["moderated"]) == (2, 0)
    screen.filters.set_dates("2026-11-02", "2026-11-02", field="imported")
    assert screen.counts["total"] == 0  # imported today, not on Nov 2
    screen.filters.set_dates(None, None)
    screen.filters.wrong.setCurrentIndex(screen.filters.wrong.findData(True))
    assert screen.counts["total"] == 1
    assert not screen.filters.annotator.isEnabled()  # blind review: reviewers do not filter by annotator


def test_reject_sends_the_page_back_to_the_annotator_with_the_comment(qtbot, tmp_path, qsettings):
    project = _project(tmp_path)
    page = project.store.pages()[1]
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.select_page(page.id)
    assert screen.page_id == page.id
    kinds = [v.kind for v, _, _ in screen._rows]
    assert kinds.count("wrong_text") == 1 and kinds.count("correct") == 3
    assert len(screen.current.scene().items()) >= 4 and len(screen.predicted.scene().items()) >= 4
    screen.reject_button.click()  # no comment: refused by core, shown, nothing changes
    assert "say why" in screen.message.text() and project.store.get_page(page.id).status == PageStatus.DONE
    screen.comment.setText("line 1 says LINE 0, not LINE 0?")
    with qtbot.waitSignal(screen.pageReviewed):
        screen.reject_button.click()
    assert project.store.get_page(page.id).status == PageStatus.REJECTED
    assert page.id in queue(project.store)
    assert review.last_rejection(project.store, page.id).comment == "line 1 says LINE 0, not LINE 0?"
    assert screen.counts["moderated"] == 2
    # The annotator opens it in the workspace and sees the comment.
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    window.show_page(page.id)
    assert "line 1 says LINE 0" in window.statusBar().currentMessage()
    # Issue 17, defect 4: the reviewer is named with the comment, the comment stays in sight, and
    # the page summary does not say "rejected by" the annotator.
    note = window.review.rejection
    assert not note.isHidden() and note.toolTip() == "Rejected by rita: line 1 says LINE 0, not LINE 0?"
    window.statusBar().showMessage("something else", 0)
    assert not note.isHidden()
    assert "rejected (done by ana)" in window.page_label.text()
    window.show_page(project.store.pages()[0].id)  # approved earlier: no note
    assert note.isHidden()


def select_only(table, row: int) -> None:
    from PySide6.QtCore import QItemSelectionModel

    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    table.selectionModel().setCurrentIndex(table.model().index(row, 0), flags)


def test_fix_and_mark_from_the_moderate_screen(qtbot, tmp_path):
    project = _project(tmp_path)
    page = project.store.pages()[2]
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.select_page(page.id)
    screen.verdicts.item(0, 2).setText("LINE 0 fixed")  # typing in the "Now" column
    assert any(r.text == "LINE 0 fixed" for r in project.store.regions(page.id))
    assert "wrong text" in screen.verdicts.item(0, 0).text()
    # One row at a time, whatever modifier state an earlier test left in Qt (selectRow extends the
    # selection while Qt believes Ctrl or Shift is down).
    select_only(screen.verdicts, 1)
    screen.mark_wrong.click()
    assert list(review.marks(project.store, page.id).values()) == ["wrong"]
    select_only(screen.verdicts, 2)
    assert {i.row() for i in screen.verdicts.selectionModel().selectedRows()} == {2}
    screen.delete_button.click()
    assert [v.kind for v, _, _ in screen._rows].count("deleted") == 1
    screen.approve_button.click()
    assert project.store.get_page(page.id).status == PageStatus.APPROVED


def test_an_annotator_cannot_open_the_screens(qtbot, tmp_path, qsettings):
    project = _project(tmp_path)
    with pytest.raises(PermissionDenied):
        ModerateScreen(project, "ana")
    with pytest.raises(PermissionDenied):
        AnalyticsScreen(project, "ana")
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    assert window.review.open_moderate() is None and window.review.open_analytics() is None
    assert "cannot review" in window.statusBar().currentMessage()
    window.review.switch_user("rita")
    screen = window.review.open_moderate()
    assert screen is not None and screen.user == "rita"
    page = project.store.pages()[3]
    screen.select_page(page.id)
    screen.open_button.click()  # fix boxes / draw what is missing: the workspace opens the page
    assert window.workspace.page_id == page.id and window.user == "rita"
    screen.close()


def test_analytics_charts_and_exports(qtbot, tmp_path, project):
    project = _project(tmp_path, project=project)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.show()
    screen.set_range("2026-11-01", "2026-12-31")
    assert screen.saved_chart.series() and screen.quality_chart.series() and screen.speed_chart.series()
    assert screen.engine_table.rowCount() == 1 and screen.engine_table.item(0, 0).text() == "classical"
    assert screen.annotator_table.rowCount() >= 1
    png = screen.export_png("typing_saved", tmp_path / "saved.png")
    assert png.stat().st_size > 1000
    csv_path = screen.export_csv("engines", tmp_path / "engines.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("engine,version,regions") and lines[1].startswith("classical,v1,")
    assert "Auto-accept" in screen.auto_label.text()
    screen.set_range("2030-01-01", "2030-01-02")
    assert screen.engine_table.rowCount() == 0


def test_user_and_role_dialog(qtbot, tmp_path, qsettings):
    project = _project(tmp_path)
    store = project.store
    store.set_password("rita", "pw", actor="rita")
    store.set_user_role("boss", "boss", Role.ADMIN)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    dialog = window.review.choose_user()
    dialog.name.setCurrentText("rita")
    dialog.password.setText("wrong")
    dialog.apply()
    assert dialog.error.text() == "Wrong password" and window.user == "ana"
    dialog.password.setText("pw")
    dialog.role.setCurrentIndex(dialog.role.findData(Role.ADMIN))  # ana is no admin: refused
    dialog.apply()
    assert "cannot admin" in dialog.error.text() and store.get_user("rita").role == Role.REVIEWER
    dialog.role.setCurrentIndex(dialog.role.findData(Role.REVIEWER))
    dialog.apply()
    assert window.user == "rita" and "rita (reviewer)" in window.statusBar().currentMessage()


def test_next_in_qc_queue_opens_the_next_open_page_and_two_reviewers_split_it(qtbot, tmp_path, project):
    """The Moderate screen's "Next in QC queue": the routed pages in queue order; on a team
    project (the [postgresql] run) two reviewers' windows never get the same page."""
    project.store.set_user_role("lead", "lead", Role.ADMIN)
    review.set_qc_settings(project.store, "lead", share=1.0)  # every done page is reviewed
    project = _project(tmp_path, project=project)
    store = project.store
    store.ensure_user("rex", Role.REVIEWER)
    open_entries = [e.page_id for e in review.review_queue(store) if e.status == "done"]
    assert len(open_entries) >= 2
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    first = screen.open_next_in_queue()
    assert first == open_entries[0] and screen.page_id == first
    other_project = Project.open(project.location)
    try:
        other = ModerateScreen(other_project, "rex")
        qtbot.addWidget(other)
        second = other.open_next_in_queue()
        if project.server is not None:
            assert second != first  # leased to rita's window
        else:
            assert second == first  # one desk: nobody to share with
        screen.review("approved")
        assert screen.open_next_in_queue() != first
    finally:
        other_project.close()


def test_the_moderate_screen_shows_only_the_boxes_of_the_page_it_shows(qtbot, tmp_path):
    """Issue 17, defect 2: opening one page, then another, left the first page's boxes drawn
    over the second in both views, piling up with each page."""
    from PySide6.QtWidgets import QGraphicsPolygonItem

    project = _project(tmp_path)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)

    def boxes(canvas):
        return sum(isinstance(i, QGraphicsPolygonItem) for i in canvas.scene().items())

    first, second = project.store.pages()[0].id, project.store.pages()[1].id
    screen.open_page(first)
    counts = boxes(screen.predicted), boxes(screen.current)
    assert counts[0] >= 4 and counts[1] >= 4
    for page_id in (second, first, second):
        screen.open_page(page_id)
    assert (boxes(screen.predicted), boxes(screen.current)) == counts  # same shape of page: same boxes
