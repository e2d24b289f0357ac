"""Key fields on the Moderate and Analytics screens (issue 15, pytest-qt, offscreen): the field
table of a page (predicted, final, verdict, confidence, mark), the "with wrong fields" filter,
and the per-field table of Analytics (accuracy and the auto-accept threshold)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from app.review.analytics import FIELD_COLUMNS, AnalyticsScreen
from app.review.moderate import ModerateScreen
from core.fields import FieldValue
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project

LINES = [("ACME TRADING SDN BHD", 0.97), ("12 JALAN BESAR, 50000 KL", 0.82), ("DATE 05/03/2018", 0.93),
         ("TOTAL 12.50", 0.95)]


def _fields():
    return (FieldValue("company", "ACME TRADING SDN BHD", "ACME TRADING SDN BHD", None, 0.97, (0,)),
            FieldValue("date", "05/03/2018", "2018-03-05", None, 0.93, (2,), (5, 15)),
            FieldValue("address", absent=True, confidence=0.41),
            FieldValue("total", "12.50", "12.50", None, 0.95, (3,), (6, 11)))


def project_of_pages(tmp_path: Path, lines, n: int, prefix: str = "r") -> Project:
    """A project of ``n`` images, each printing the texts of ``lines`` ((text, anything) pairs)."""
    project = Project.create(tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        img = Image.new("RGB", (420 + i, 260), (250, 250, 246))
        draw = ImageDraw.Draw(img)
        for k, (text, _) in enumerate(lines):
            draw.text((20, 24 + 50 * k), text, fill=(20, 20, 20))
        img.save(src / f"{prefix}{i}.png")
    import_paths(project, [src])
    return project


def make_project(tmp_path: Path, n: int = 3) -> Project:
    """``n`` receipt pages with predicted lines and fields; page 1 gets two fields wrong (total
    corrected, address missed), page 2 the date marked absent; all done by ana."""
    project = project_of_pages(tmp_path, LINES, n)
    store = project.store
    store.set_fields(["company", "date", "address", "total"])
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    for page in store.pages():
        regions = tuple(PredictedRegion(box_to_quad(14, 16 + 50 * k, 400, 44 + 50 * k), t, c)
                        for k, (t, c) in enumerate(LINES))
        store.add_prediction(Prediction(page.id, "neural", "v1", {}, "h1", regions, model_version="m1",
                                        fields=_fields()))
    pages = store.pages()
    store.set_page_field(pages[0].id, FieldValue("total", "12.80"), "ana")
    store.set_page_field(pages[0].id, FieldValue("address", "12 JALAN BESAR, 50000 KL"), "ana")
    if len(pages) > 1:
        store.set_field_absent(pages[1].id, "date", "ana")
    for page in pages:
        store.set_page_status("ana", page.id, PageStatus.DONE)
    return project


def show_moderate(qtbot, project, user: str = "rita") -> ModerateScreen:
    screen = ModerateScreen(project, user)
    qtbot.addWidget(screen)
    screen.resize(1500, 950)
    screen.show()
    return screen


def page_column(screen: ModerateScreen, header: str) -> dict[int, str]:
    """The page list's column ``header``, page id -> the text shown."""
    col = screen.model.HEADERS.index(header)
    return {screen.model.rows[i].page_id: screen.model.data(screen.model.index(i, col))
            for i in range(screen.model.rowCount())}


def test_moderate_shows_the_field_table_and_filters_pages_with_wrong_fields(qtbot, tmp_path):
    project = make_project(tmp_path)
    pages = project.store.pages()
    screen = show_moderate(qtbot, project)
    assert "2 with wrong fields" in screen.counts_label.text()
    assert page_column(screen, "Wrong fields") == {pages[0].id: "2", pages[1].id: "1", pages[2].id: ""}

    screen.select_page(pages[0].id)
    t = screen.field_table
    rows = [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]
    assert rows == [["company", "ACME TRADING SDN BHD", "ACME TRADING SDN BHD", "correct", "0.97", ""],
                    ["date", "05/03/2018", "05/03/2018", "correct", "0.93", ""],
                    ["address", "(absent)", "12 JALAN BESAR, 50000 KL", "missing", "0.41", ""],
                    ["total", "12.50", "12.80", "wrong", "0.95", ""]]
    assert screen.fields_box.isVisible() and "2 of 4" in screen.fields_summary.text()

    # A reviewer's mark, as on regions: the untouched company marked wrong counts as wrong.
    t.selectRow(0)
    screen.mark_field_wrong.click()
    assert screen.field_table.item(0, 5).text() == "wrong"
    assert "1 of 4" in screen.fields_summary.text()

    # The filter: only the pages with wrong fields (page 3 is all right).
    f = screen.filters.wrong_fields
    f.setCurrentIndex(f.findData(True))
    assert sorted(screen.page_ids()) == sorted([pages[0].id, pages[1].id])
    screen.select_page(pages[2].id)
    screen.field_table.selectRow(0)
    screen.mark_field_wrong.click()  # now page 3 has a wrong field too
    assert sorted(screen.page_ids()) == sorted(p.id for p in pages)
    screen.field_table.selectRow(0)
    screen.mark_field_correct.click()
    f.setCurrentIndex(f.findData(False))
    assert screen.page_ids() == [pages[2].id]
    shot = tmp_path / "moderate-fields.png"
    screen.select_page(pages[0].id)
    assert screen.grab().save(str(shot)) and shot.stat().st_size > 10_000


def test_an_annotator_may_look_but_not_mark_fields(qtbot, tmp_path):
    project = make_project(tmp_path, n=1)
    project.store.set_user_role("boss", "boss", Role.ADMIN)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.select_page(project.store.pages()[0].id)
    assert screen.mark_field_wrong.isEnabled()
    screen.field_table.clearSelection()
    screen.mark_field_wrong.click()  # nothing chosen: said, nothing marked
    assert "Select a field" in screen.message.text()
    assert project.store.field_verdict_marks(project.store.pages()[0].id) == {}


def test_a_page_without_predicted_fields_hides_the_field_table(qtbot, tmp_path):
    project = make_project(tmp_path, n=1)
    store = project.store
    page = store.pages()[0]
    src = tmp_path / "src2"
    src.mkdir()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(src / "plain.png")
    import_paths(project, [src])
    plain = next(p for p in store.pages() if p.id != page.id)
    store.add_prediction(Prediction(plain.id, "neural", "v1", {}, "h2",
                                    (PredictedRegion(box_to_quad(10, 10, 100, 30), "HELLO", 0.9),)))
    store.set_page_status("ana", plain.id, PageStatus.DONE)
    screen = ModerateScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.show()
    screen.select_page(plain.id)
    assert screen.field_table.rowCount() == 0 and not screen.fields_box.isVisible()
    screen.select_page(page.id)
    assert screen.field_table.rowCount() == 4 and screen.fields_box.isVisible()


def test_analytics_shows_accuracy_and_auto_accept_per_field(qtbot, tmp_path):
    project = make_project(tmp_path)
    screen = AnalyticsScreen(project, "rita")
    qtbot.addWidget(screen)
    screen.set_range("2000-01-01", "2100-12-31")
    t = screen.field_table
    headers = [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
    assert headers == [h for _, h in FIELD_COLUMNS]
    rows = {t.item(r, 0).text(): [t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())}
    assert list(rows) == ["company", "date", "address", "total"]
    col = {k: i for i, (k, _) in enumerate(FIELD_COLUMNS)}
    assert (rows["total"][col["predicted"]], rows["total"][col["right"]], rows["total"][col["accuracy"]]) == (
        "3", "2", "66.7%")
    assert rows["date"][col["not_on_page"]] == "1" and rows["address"][col["missing"]] == "1"
    assert rows["address"][col["correct_absent"]] == "2"
    assert rows["company"][col["accuracy"]] == "100.0%"
    # Three pages prove nothing at 99.5%: no threshold; at 50% the company's three right ones do.
    assert rows["company"][col["threshold"]] == "-"
    screen.target.setValue(50.0)
    company = next(r for r in range(t.rowCount()) if t.item(r, 0).text() == "company")
    assert t.item(company, col["threshold"]).text() == "0.970"
    assert screen.field_accept["company"].threshold is not None
    m = screen.field_model_table
    assert m.rowCount() == 4 and m.item(0, 1).text() == "m1"
    assert screen.field_day_table.rowCount() == 4
    out = screen.export_csv("fields", tmp_path / "fields.csv")
    assert out.read_text().splitlines()[0].startswith("name,predicted,right,accuracy")


def test_proofdesk_stats_prints_the_per_field_figures(tmp_path, capsys):
    from app.cli import main

    project = make_project(tmp_path)
    root = str(project.root)
    project.close()
    assert main(["--user", "rita", "stats", root]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines()[out.splitlines().index(
        next(ln for ln in out.splitlines() if ln.startswith("key fields "))) + 1:] if ln.strip()}
    assert "66.7%" in lines["total"] and lines["total"].split()[1:3] == ["3", "2"]
    assert "100.0%" in lines["company"]
    assert "neural m1" in out.split("key fields per engine / model version")[1]
