"""The Analytics screen's auto-accept line says that pages with key fields need each field's own
threshold too (``core.review.apply_auto_accept``), and which fields have none yet."""

from __future__ import annotations

from app.review.analytics import AnalyticsScreen
from tests.app.test_moderate_fields import make_project


def test_the_auto_accept_line_names_the_fields_without_a_threshold(qtbot, tmp_path):
    project = make_project(tmp_path)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.set_range("2000-01-01", "2100-12-31")
    text = screen.auto_label.text()
    assert "A page with key fields is accepted only when each field is at or above its own threshold" in text
    assert "none yet for company, date, address, total" in text
    screen.target.setValue(50.0)  # the company's three right values are enough for 50%
    text = screen.auto_label.text()
    assert "none yet for" in text and "company" not in text.split("none yet for", 1)[1]
    project.store.set_fields([])
    screen.target.setValue(60.0)
    assert "key fields" not in screen.auto_label.text()
