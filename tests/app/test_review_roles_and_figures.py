"""Issue 17: what a role cannot do is disabled and says how to get the role (defect 7); the QC rules
are set in the app and Analytics shows the share routed (defect 6); the typing-saved chart of one
day shows its point on distinct dates, and each figure says whether it is of boxes or text
(defect 8). pytest-qt, offscreen."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QDateTime
from PySide6.QtGui import QColor

from app.main_window import MainWindow
from app.review.analytics import AnalyticsScreen, day_axis
from app.review.moderate import ModerateScreen
from core import review
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project

#: The screens read the same rules and figures from a project folder and a team server.
BOTH_BACKENDS = True


def _pages(project: Project, n: int = 3, reviewer: bool = True) -> Project:
    """``n`` pages of four predicted lines (0.9 .. 0.6): pages 1 and 2 done by ana (page 2 with
    a retyped line), the rest pre-filled; rita is a reviewer (``reviewer``)."""
    store = project.store
    store.add_document(Document("a.pdf", "sha-a", "/a.pdf", "pdf", "2026-11-02T09:00:00+00:00", "ana", "b"),
                       [Page(0, i + 1, f"img{i}", 500, 500, name=f"a-{i + 1}") for i in range(n)])
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", 0.9 - 0.1 * i)
                      for i in range(4))
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds, model_version="m1"))
    store.ensure_user("ana", Role.ANNOTATOR)
    if reviewer:
        store.ensure_user("rita", Role.REVIEWER)
    first, second = store.pages()[:2]
    store.set_page_status("ana", first.id, PageStatus.DONE)
    store.update_region("ana", store.regions(second.id)[0].id, text="LINE 0?")
    store.set_page_status("ana", second.id, PageStatus.DONE)
    return project


# -- defect 7: roles ------------------------------------------------------------------------------
def test_an_annotator_sees_approve_disabled_with_how_to_get_the_role(qtbot, project):
    """A one-person project (no reviewer or admin yet): its annotator may look at Moderate, but
    Approve was enabled and refused only on click."""
    _pages(project, reviewer=False)
    store = project.store
    store.ensure_user("olga", Role.ANNOTATOR)
    page = store.pages()[0]
    screen = ModerateScreen(project, "olga")
    qtbot.addWidget(screen)
    screen.select_page(page.id)
    assert screen.page_id == page.id and screen.delete_button.isEnabled()  # fixing is everyone's
    for button in (screen.approve_button, screen.reject_button, screen.mark_correct, screen.mark_wrong,
                   screen.next_button):
        assert not button.isEnabled(), button.text()
        assert "proofdesk users PROJECT --role olga reviewer" in button.toolTip()
    assert not screen.role_note.isHidden() and "Review > User and role" in screen.role_note.text()
    if project.server is None:  # a folder nobody is admin of: nobody else to ask
        assert "no admin yet, so olga may take it" in screen.role_note.text()
    # Given the role, the same person approves from the same screen.
    store.set_user_role("olga", "olga", Role.REVIEWER)  # the first of the project's roles: its own
    again = ModerateScreen(project, "olga")
    qtbot.addWidget(again)
    again.select_page(page.id)
    assert again.approve_button.isEnabled() and again.role_note.isHidden()
    assert again.review("approved") and store.get_page(page.id).status == PageStatus.APPROVED


def test_a_reviewer_cannot_approve_their_own_page(qtbot, project):
    _pages(project)
    store = project.store
    page = store.pages()[2]
    store.update_region("rita", store.regions(page.id)[0].id, text="LINE 0.")
    store.set_page_status("rita", page.id, PageStatus.DONE)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.select_page(page.id)
    assert not screen.approve_button.isEnabled() and "another reviewer" in screen.approve_button.toolTip()
    assert screen.mark_wrong.isEnabled()
    screen.select_page(store.pages()[0].id)  # ana's
    assert screen.approve_button.isEnabled()


@pytest.mark.folder_only  # switching user: on a team project who works is the server login
def test_the_review_menu_disables_what_the_role_cannot_open(qtbot, project, qsettings):
    _pages(project)
    store = project.store
    store.set_user_role("boss", "boss", Role.ADMIN)
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    menu = window.review.actions
    assert not menu["moderate"].isEnabled() and not menu["analytics"].isEnabled()
    assert "reviewers only" in menu["moderate"].text()
    assert "an admin gives it to ana" in menu["moderate"].toolTip() and "--role ana reviewer" in menu["moderate"].toolTip()
    assert "read only" in menu["qc"].text() and "admin" in menu["qc"].toolTip()
    assert not window.assign_action.isEnabled() and "--role ana reviewer" in window.assign_action.toolTip()
    window.review.switch_user("rita")
    assert menu["moderate"].isEnabled() and menu["analytics"].isEnabled() and window.assign_action.isEnabled()
    assert menu["moderate"].text() == "&Moderate..." and "read only" in menu["qc"].text()
    window.review.switch_user("boss")
    assert menu["qc"].text() == "&QC rules..."
    dialog = window.review.choose_user()
    assert dialog.role.isEnabled()  # an admin gives roles
    dialog.reject()
    window.review.switch_user("ana")
    dialog = window.review.choose_user()
    assert not dialog.role.isEnabled() and "no admin" in dialog.role.toolTip()
    dialog.reject()


# -- defect 6: the QC rules in the app, the share routed in Analytics -----------------------------
def test_an_admin_sets_the_qc_limit_in_the_app_and_analytics_show_the_share_routed(qtbot, project, qsettings):
    store = project.store
    store.set_user_role("boss", "boss", Role.ADMIN)
    _pages(project, 4)
    window = MainWindow(project, "rita", qsettings)
    qtbot.addWidget(window)
    dialog = window.review.open_qc_rules()
    assert not dialog.expected_wrong_max.isEnabled() and "Only an admin" in dialog.note.text()
    assert "2 of 2 finished pages went to review (100%): likely errors left 100%" in dialog.routed.text()
    dialog.reject()
    window = MainWindow(project, "boss", qsettings)
    qtbot.addWidget(window)
    dialog = window.review.open_qc_rules()
    assert dialog.expected_wrong_max.value() == 0.5 and dialog.share.value() == 10.0
    dialog.share.setValue(0.0)
    dialog.expected_wrong_max.setValue(2.5)
    dialog.buttons.accepted.emit()  # OK
    assert dialog.error.text() == "" and dialog.result() == dialog.DialogCode.Accepted
    assert review.qc_settings(store) == review.QCSettings(share=0.0, seed=0, expected_wrong_max=2.5, blind=True)
    third = store.pages()[2]
    store.set_page_status("ana", third.id, PageStatus.DONE)  # 0.1 + 0.2 + 0.3 + 0.4 expected: under 2.5
    assert third.id not in {e.page_id for e in review.review_queue(store)}
    today = dt.date.today().isoformat()
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.set_range(today, today)
    text = screen.qc_label.text()
    assert "<b>66.7%</b> of the 3 pages finished went to review (2): likely errors left 66.7% (2)" in text
    assert "more than 2.5 wrong regions" in text


# -- defect 8: one day, distinct dates, box or text -----------------------------------------------
def _tick_days(first: QDateTime, last: QDateTime, ticks: int) -> list[str]:
    step = (last.toMSecsSinceEpoch() - first.toMSecsSinceEpoch()) // (ticks - 1)
    return [QDateTime.fromMSecsSinceEpoch(first.toMSecsSinceEpoch() + i * step).toString("yyyy-MM-dd hh:mm")
            for i in range(ticks)]


def test_the_day_axis_labels_each_tick_with_its_own_day_at_noon():
    assert _tick_days(*day_axis("2026-11-05", "2026-11-05")) == [
        "2026-11-04 12:00", "2026-11-05 12:00", "2026-11-06 12:00"]
    assert _tick_days(*day_axis("2026-11-01", "2026-11-04")) == [
        f"2026-{d} 12:00" for d in ("10-31", "11-01", "11-02", "11-03", "11-04", "11-05")]
    for first, last in (("2026-10-01", "2026-11-30"), ("2026-03-20", "2026-04-02"), ("2025-12-30", "2026-01-02")):
        ticks = _tick_days(*day_axis(first, last))
        assert 3 <= len(ticks) <= 7 and len(set(t[:10] for t in ticks)) == len(ticks)
        assert all(t.endswith("12:00") for t in ticks)
        assert ticks[0][:10] < first and ticks[-1][:10] > last


def _plot_has(view, chart, colour: QColor) -> bool:
    """Whether the chart's plot area (legend left out) shows a pixel of ``colour``."""
    image = view.grab().toImage()
    area = view.mapFromScene(chart.mapToScene(chart.plotArea())).boundingRect()
    for x in range(max(area.left(), 0), min(area.right(), image.width())):
        for y in range(max(area.top(), 0), min(area.bottom(), image.height())):
            c = image.pixelColor(x, y)
            if abs(c.red() - colour.red()) + abs(c.green() - colour.green()) + abs(c.blue() - colour.blue()) < 30:
                return True
    return False


def test_typing_saved_for_one_day_is_a_point_under_its_own_date(qtbot, project):
    _pages(project)
    today = dt.date.today().isoformat()
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.resize(1400, 900)
    screen.show()
    qtbot.waitExposed(screen)
    screen.set_range(today, today)
    chart = screen.saved_chart
    (series,) = chart.series()
    assert series.count() == 1 and series.pointsVisible()
    assert _plot_has(screen.saved_view, chart, series.color())
    (x,) = [a for a in chart.axes() if a.metaObject().className() == "QDateTimeAxis"]
    days = [t[:10] for t in _tick_days(x.min(), x.max(), x.tickCount())]
    assert len(set(days)) == len(days) == 3 and days[1] == today
    # Redrawn for another range, the chart shows what a fresh screen shows for it: no labels of
    # the axes it had before left under the new ones (they were: two dates on each tick).
    store = project.store
    page = store.pages()[0]
    store.query("UPDATE pages SET done_at = '2026-10-01T09:00:00+00:00' WHERE id = ?", (page.id,))
    review.refresh_verdicts(store, page.id)  # its verdicts now count on that day
    screen.set_range("2026-10-01", "2026-10-01")
    assert [d.day for d in screen.data["days"]] == ["2026-10-01"]
    screen.set_range(today, today)
    fresh = AnalyticsScreen(project, "rita")
    qtbot.addWidget(fresh)
    fresh.resize(1400, 900)
    fresh.show()
    qtbot.waitExposed(fresh)
    fresh.set_range(today, today)
    assert screen.saved_view.grab().toImage() == fresh.saved_view.grab().toImage()


def test_each_model_figure_says_if_it_is_of_boxes_or_text(qtbot, project):
    _pages(project)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    headers = [screen.engine_table.horizontalHeaderItem(i).text() for i in range(screen.engine_table.columnCount())]
    assert {"Box precision", "Box recall", "Text CER", "Typing saved (text)"} <= set(headers)
    assert "whatever their text" in screen.engine_table.horizontalHeaderItem(headers.index("Box precision")).toolTip()
    assert [s.label() for s in screen.quality_chart.series()[0].barSets()] == [
        "box precision", "box recall", "text 1 - CER"]
    assert "Box precision" in screen.quality_chart.title() and "(text)" in screen.saved_chart.title()
    assert "box and text right" in screen.auto_label.text()
