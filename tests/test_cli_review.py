"""``proofdesk stats`` and ``proofdesk review`` on a small project."""

import json

from app.cli import main
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project


def _project(tmp_path):
    project = Project.create(tmp_path / "p")
    store = project.store
    store.add_document(Document("a.pdf", "sha-a", "/a.pdf", "pdf", "", "ana", "b"),
                       [Page(0, i + 1, f"img{i}", 500, 500, name=f"a-{i + 1}") for i in range(3)])
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", 0.3 + 0.3 * i)
                      for i in range(3))
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds))
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    for page in store.pages():
        store.update_region("ana", store.regions(page.id)[-1].id, text="LINE 9")
        store.set_page_status("ana", page.id, PageStatus.DONE)
    store.review_page("rita", store.pages()[0].id, "rejected", comment="LINE 2, not 9")
    project.close()
    return tmp_path / "p"


def test_stats_and_review_commands(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["--user", "rita", "stats", str(root), "--from", "2000-01-01", "--to", "2999-12-31"]) == 0
    out = capsys.readouterr().out
    assert "1 moderated, 2 not moderated" in out and "ana" in out and "classical v1" in out
    assert "auto-accept" in out
    assert main(["--user", "rita", "stats", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # model figures count pages done or approved
    assert data["engines"][0]["regions"] == 6 and data["annotators"][0]["rejection_rate"] == 1.0
    assert main(["--user", "rita", "review", str(root)]) == 0
    out = capsys.readouterr().out
    assert "2 page(s)" in out and "low_confidence" in out and "(blind)" in out
    assert main(["--user", "rita", "review", str(root), "--all", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_an_annotator_is_refused(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["--user", "ana", "stats", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("proofdesk: error: an annotator cannot review; ask an admin or reviewer") and err.count("\n") == 1


def test_stats_counts_only_pages_people_finished(tmp_path, capsys):
    """Issue 17, defect 3: 13 pages of which 4 done said "13 done or reviewed"."""
    root = _project(tmp_path)  # 3 pages done (one rejected)
    project = Project.open(root)
    store = project.store
    store.add_document(Document("b.pdf", "sha-b", "/b.pdf", "pdf", "", "ana", "b"),
                       [Page(0, i + 1, f"imgb{i}", 500, 500, name=f"b-{i + 1}") for i in range(9)])
    for page in store.pages()[3:]:
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1",
                                        (PredictedRegion(box_to_quad(10, 10, 200, 40), "X", 0.9),)))
    project.close()
    assert main(["--user", "rita", "stats", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pages: 3 done or reviewed, 1 moderated, 2 not moderated" in out
