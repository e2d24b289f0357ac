"""``proofdesk qc``: the QC rules, shown and set (issue 17, defect 6); ``stats`` shows the share routed."""

import json

from app.cli import main
from core import review
from core.model import Document, Page, PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project


def _project(tmp_path):
    project = Project.create(tmp_path / "p")
    store = project.store
    store.add_document(Document("a.pdf", "sha-a", "/a.pdf", "pdf", "", "ana", "b"),
                       [Page(0, i + 1, f"img{i}", 500, 500, name=f"a-{i + 1}") for i in range(2)])
    for page in store.pages():
        preds = tuple(PredictedRegion(box_to_quad(10, 10 + 40 * i, 200, 40 + 40 * i), f"LINE {i}", c)
                      for i, c in enumerate((0.4, 0.99)))
        store.add_prediction(Prediction(page.id, "classical", "v1", {}, "h1", preds))
    store.ensure_user("ana", Role.ANNOTATOR)
    store.ensure_user("rita", Role.REVIEWER)
    store.set_user_role("boss", "boss", Role.ADMIN)
    project.close()
    return tmp_path / "p"


def test_qc_shows_and_sets_the_rules(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["--user", "rita", "qc", str(root)]) == 0
    out = capsys.readouterr().out
    assert "QC sample 10% (seed 0)" in out and "more than 0.5 wrong regions are expected" in out
    assert main(["--user", "boss", "qc", str(root), "--share", "0", "--expected-wrong-max", "0.7"]) == 0
    assert "QC rules changed" in capsys.readouterr().out
    assert main(["--user", "boss", "qc", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"share": 0.0, "seed": 0, "expected_wrong_max": 0.7, "blind": True}
    # Refused: a reviewer changing them, a negative limit; one line each, nothing changed.
    assert main(["--user", "rita", "qc", str(root), "--expected-wrong-max", "2"]) == 1
    assert main(["--user", "boss", "qc", str(root), "--expected-wrong-max", "-1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "cannot admin" in err[0] and "0 or more" in err[1]
    project = Project.open(root)
    try:
        store = project.store
        assert review.qc_settings(store).expected_wrong_max == 0.7
        first, second = store.pages()
        store.set_page_status("ana", first.id, PageStatus.DONE)  # 0.61 expected: under 0.7
        store.update_region("ana", store.regions(second.id)[0].id, text="LINE 0.")
        store.set_page_status("ana", second.id, PageStatus.DONE)
        assert [e.page_id for e in review.review_queue(store)] == []
        review.set_qc_settings(store, "boss", expected_wrong_max=0.5)
        store.set_page_status("ana", first.id, PageStatus.IN_PROGRESS)
        store.set_page_status("ana", first.id, PageStatus.DONE)
        assert [e.reasons for e in review.review_queue(store)] == [("low_confidence",)]
    finally:
        project.close()
    assert main(["--user", "rita", "stats", str(root)]) == 0
    out = capsys.readouterr().out
    assert "QC: 1 of 2 finished pages routed to review (50.0%): likely errors left 50.0%" in out
