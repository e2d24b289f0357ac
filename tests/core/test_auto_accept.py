"""Auto-accept applied: pre-filled pages the model is sure of are done without a person."""

from __future__ import annotations

import pytest

from app.cli import main
from core import review
from core.errors import PermissionDenied
from core.importer import import_paths
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad

from ..conftest import image_bytes

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


def pages_with(project, tmp_path, confidences):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(len(confidences)):
        (src / f"p{i}.png").write_bytes(image_bytes(i))
    import_paths(project, [src])
    pages = project.store.pages()
    for page, confs in zip(pages, confidences):
        regions = tuple(PredictedRegion(box_to_quad(0, 10 * k, 10, 10 * k + 5), f"L{k}", c) for k, c in enumerate(confs))
        project.store.add_prediction(Prediction(page.id, "combined", "1", {}, "h", regions))
    return [p.id for p in pages]


def test_only_untouched_pages_with_every_region_above_the_threshold(project, tmp_path):
    sure, unsure, touched, empty = pages_with(project, tmp_path, [[0.99, 0.98], [0.99, 0.5], [0.99], []])
    store = project.store
    region = store.regions(touched)[0]
    store.update_region("ana", region.id, text="fixed by a person")  # now in progress
    assert review.apply_auto_accept(store, "lead", 0.97, dry_run=True) == [sure]
    assert store.get_page(sure).status == PageStatus.PREFILLED  # a dry run changes nothing
    assert review.apply_auto_accept(store, "lead", 0.97) == [sure]
    page = store.get_page(sure)
    assert page.status == PageStatus.DONE and page.done_by == review.AUTO_ACCEPT_USER
    [action] = store.query("SELECT * FROM actions WHERE page_id = ? AND label LIKE 'auto-accept%'", (sure,))
    assert "applied by lead" in action["label"] and action["user"] == review.AUTO_ACCEPT_USER
    assert store.get_page(unsure).status == PageStatus.PREFILLED
    assert review.apply_auto_accept(store, "lead", 0.97, engine="classical") == []  # other engine's pages only
    # An annotator may not apply it once the project has roles.
    store.set_user_role("lead", "lead", Role.ADMIN)
    store.ensure_user("ana", Role.ANNOTATOR)
    with pytest.raises(PermissionDenied):
        review.apply_auto_accept(store, "ana", 0.5)


def test_cli_chooses_the_threshold_from_checked_pages(project, tmp_path, capsys):
    ids = pages_with(project, tmp_path, [[0.99, 0.6]] * 4 + [[0.99, 0.995], [0.99, 0.98]])
    store = project.store
    for page_id in ids[:4]:  # people checked these: the 0.99 lines right, the 0.6 lines wrong
        low = [r for r in store.regions(page_id) if r.confidence < 0.9][0]
        store.update_region("ana", low.id, text="corrected")
        store.set_page_status("ana", page_id, PageStatus.DONE)
    # Four right lines prove little: 99% is out of reach, nothing is accepted.
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "no confidence threshold reaches 99.0% precision" in out and "nothing accepted" in out
    assert store.get_page(ids[4]).status == PageStatus.PREFILLED
    # They are enough to be 95% sure of 50% (Wilson bound of 4/4: 59.6%); with the 0.6 lines, 4 of
    # 8 right, not.
    assert main(["--user", "lead", "auto-accept", str(project.location), "--target", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "confidence >= 0.99" in out and "accepted 1 pre-filled page(s)" in out
    assert "(4 regions: at least 59.6% with 95% confidence)" in out
    assert store.get_page(ids[4]).status == PageStatus.DONE
    assert store.get_page(ids[5]).status == PageStatus.PREFILLED  # 0.98 is below the threshold
