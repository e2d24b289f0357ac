"""The Moderate and Analytics screens count days of the project's time zone (pytest-qt, offscreen)."""

from __future__ import annotations

from PySide6.QtCore import QDate

from app.review.analytics import AnalyticsScreen
from app.review.moderate import ModerateScreen
from core import days
from core.model import Role
from tests.core.test_local_days import SINGAPORE_EARLY, _work_at

#: The screens read the same figures from a project folder and a team server: each test runs on both.
BOTH_BACKENDS = True


def _singapore_project(project, monkeypatch):
    store = project.store
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    _work_at(monkeypatch, store, SINGAPORE_EARLY)  # 2026-11-30 07:30 in Singapore
    days.set_time_zone(store, "Asia/Singapore")
    return project


def test_moderate_filters_and_shows_singapore_days(qtbot, project, monkeypatch):
    _singapore_project(project, monkeypatch)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.filters.set_dates("2026-11-30", "2026-11-30")
    assert screen.counts["total"] == 1
    assert screen.model.data(screen.model.index(0, 3)) == "2026-11-30"  # the Done column: the local day
    screen.filters.set_dates("2026-11-29", "2026-11-29")
    assert screen.counts["total"] == 0
    screen.filters.set_dates("2026-12-01", "2026-11-30")  # shown, not an exception
    assert "the first day 2026-12-01 is after the last day 2026-11-30" in screen.message.text()


def test_analytics_opens_on_the_local_days_and_refuses_a_reversed_range(qtbot, project, monkeypatch):
    _singapore_project(project, monkeypatch)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    assert screen.date_from.date() == QDate(2026, 11, 30) == screen.date_to.date()
    assert [d.day for d in screen.data["days"]] == ["2026-11-30"]
    assert "Asia/Singapore" in screen.zone_label.text()
    screen.set_range("2026-11-29", "2026-11-29")
    assert screen.data["days"] == []
    screen.set_range("2026-12-01", "2026-11-30")  # shown, not an exception
    assert "From 2026-12-01 is after to 2026-11-30" in screen.auto_label.text()
