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


def test_a_form_projects_labels_have_their_accuracy_and_gate_auto_accept_as_a_whole(qtbot, tmp_path):
    """Header / question / answer label regions, not pages: the per-field table counts the regions'
    labels (an answer people made a question: one wrong answer, one missed question), and the
    auto-accept line asks no confidence threshold of them: a label is sure when all its predictions
    are right at the target, which 4 checked ones are not."""
    from core import review
    from tests.app.test_moderate_labels import make_project as form_project

    project = form_project(tmp_path)
    project.store.set_fields(["header", "question", "answer"])
    review.refresh_stale(project.store)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.set_range("2000-01-01", "2100-12-31")
    t = screen.field_table
    heads = [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
    rows = {t.item(r, 0).text(): {h: t.item(r, c).text() for c, h in enumerate(heads)} for r in range(t.rowCount())}
    assert (rows["answer"]["Predicted"], rows["answer"]["Right"], rows["answer"]["Wrong"]) == ("4", "3", "1")
    assert (rows["question"]["Predicted"], rows["question"]["Right"], rows["question"]["Missing"]) == ("4", "4", "1")
    assert rows["answer"]["Accuracy"].startswith("75")
    assert rows["answer"]["Auto-accept from"] == "-" and rows["question"]["Auto-accept from"] == "-"
    assert "key fields" not in screen.auto_label.text()
    assert "A form page is accepted only when each label it predicts is right" in screen.auto_label.text()
    assert "not yet: header, question, answer" in screen.auto_label.text()
