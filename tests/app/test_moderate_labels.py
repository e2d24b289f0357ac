"""Form labels on the Moderate screen (pytest-qt, offscreen): a region whose predicted label
(header / question / answer) people changed says so in the verdict table, the page list counts
such regions, and the "with wrong labels" filter finds the pages."""

from __future__ import annotations

from pathlib import Path

from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from tests.app.test_moderate_fields import page_column, project_of_pages, show_moderate

FORM = [("TO:", "question"), ("R. J. Reynolds", "answer"), ("DATE:", "question"), ("12/3/88", "answer")]


def make_project(tmp_path: Path) -> Project:
    """Two form pages pre-filled with labels; on the first, ana made an answer a question."""
    project = project_of_pages(tmp_path, FORM, 2, prefix="f")
    store = project.store
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    for page in store.pages():
        regions = tuple(PredictedRegion(box_to_quad(14, 16 + 50 * k, 400, 44 + 50 * k), t, 0.9, label=lab)
                        for k, (t, lab) in enumerate(FORM))
        store.add_prediction(Prediction(page.id, "combined", "v1", {}, "h1", regions, model_version="forms-1"))
    first = store.pages()[0]
    region = next(r for r in store.regions(first.id) if r.text == "12/3/88")
    store.update_region("ana", region.id, label="question")
    for page in store.pages():
        store.set_page_status("ana", page.id, PageStatus.DONE)
    return project


def test_moderate_shows_a_changed_label_and_filters_the_pages(qtbot, tmp_path):
    project = make_project(tmp_path)
    pages = project.store.pages()
    screen = show_moderate(qtbot, project)
    assert "1 with wrong labels" in screen.counts_label.text()
    assert page_column(screen, "Wrong labels") == {pages[0].id: "1", pages[1].id: ""}

    screen.select_page(pages[0].id)
    t = screen.verdicts
    cells = {t.item(r, 1).text(): t.item(r, 0).text() for r in range(t.rowCount())}
    assert cells["12/3/88"] == "correct; label answer \u2192 question"
    assert cells["R. J. Reynolds"] == "correct"

    combo = screen.filters.wrong_labels
    with qtbot.waitSignal(screen.filters.changed):
        combo.setCurrentIndex(combo.findData(True))
    assert [r.page_id for r in screen.model.rows] == [pages[0].id]
    with qtbot.waitSignal(screen.filters.changed):
        combo.setCurrentIndex(combo.findData(False))
    assert [r.page_id for r in screen.model.rows] == [pages[1].id]
