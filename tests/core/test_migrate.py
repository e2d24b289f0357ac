"""`proofdesk migrate`: a project folder to a team server and back, with its whole history, checked."""

from __future__ import annotations

import hashlib
import json

import pytest

from core import datasets, registry
from core.errors import ProjectError
from core.importer import ImportOptions, import_paths
from core.migrate import edit_log_digest, migrate, verify
from core.model import PageStatus, PredictedRegion, Prediction, Role, box_to_quad
from core.project import Project
from tests.conftest import check_consistent

pytestmark = pytest.mark.timeout(400)


def _build(root, make_image, tmp_path):
    """A project with a bit of everything: two imported images, a prediction, people's edits (some
    undone and redone), a page done (verdicts, the QC queue) and reviewed, a dataset version, a
    model version with its folder."""
    project = Project.create(root)
    store = project.store
    src = tmp_path / "images"
    src.mkdir()
    for i in (1, 2):
        (src / f"scan{i}.png").write_bytes(make_image(i, size=(64, 48)))
    summary = import_paths(project, [src], ImportOptions(user="ana"))
    assert len(summary.imported) == 2
    p1, p2 = store.pages()
    preds = tuple(PredictedRegion(box_to_quad(2, 2 + 10 * i, 40, 10 + 10 * i), f"LINE {i}", 0.6 + i / 10)
                  for i in range(3))
    store.add_prediction(Prediction(p1.id, "classical", "v1", {}, "h1", preds))
    regions = store.regions(p1.id)
    store.update_region("ana", regions[0].id, text="FIRST")
    store.update_region("ana", regions[1].id, text="SECOND")
    store.undo("ana", p1.id)
    store.redo("ana", p1.id)
    store.update_region("ana", regions[1].id, text="SECOND!")
    store.undo("ana", p1.id)                       # regions[1] back to SECOND
    store.add_region("ana", p1.id, box_to_quad(5, 40, 50, 46), text="TOTAL 9.99")
    store.add_region("ana", p2.id, box_to_quad(1, 1, 20, 8), text="other page")
    store.set_page_status("ana", p1.id, PageStatus.DONE)
    store.set_user_role("lead", "lead", Role.ADMIN)
    store.set_user_role("lead", "rex", Role.REVIEWER)
    store.review_page("rex", p1.id, "approved")
    version, _ = datasets.create_version(store, project.root, "lead")
    model = project.root / "models" / "rec-1"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"not really onnx" * 100)
    (model / "model.json").write_text(json.dumps({"name": "rec-1"}))
    registry.register(store, "lead", "rec-1", registry.RECOGNITION, "models/rec-1",
                      hashlib.sha256(b"x").hexdigest())
    return project, p1.id, p2.id


def _snapshot(project) -> dict:
    """What must survive a migration, read through the store."""
    store = project.store
    out = {}
    for table in ("pages", "regions", "actions", "reviews", "verdicts", "review_queue", "users", "settings",
                  "fields", "predictions", "dataset_versions", "model_versions", "annotator_scores"):
        rows = store.query(f"SELECT * FROM {table}")
        out[table] = sorted(json.dumps([row[k] for k in sorted(row.keys())], default=str) for row in rows)
    out["edits"] = edit_log_digest(project)
    return out


def _check_copy(project, before, p1, p2, original_text):
    store = project.store
    assert _snapshot(project) == before
    # Images are readable where the project keeps them (a server fetches them into its cache).
    for page in store.pages():
        data = project.image_path(page).read_bytes()
        assert hashlib.sha256(data).hexdigest() == page.image_sha256
    assert store.get_page(p1).status == PageStatus.APPROVED
    # The model folder and the dataset manifest came along.
    assert (project.root / "models" / "rec-1" / "model.onnx").read_bytes() == b"not really onnx" * 100
    for version in datasets.list_versions(store):
        datasets.load_manifest(project.root, version)
    # The history goes on: undo works there, and new rows take new ids.
    region = store.add_region("ana", p2, box_to_quad(30, 30, 60, 40), text="NEW")
    assert region > max(r["id"] for r in store.query("SELECT id FROM regions WHERE id != ?", (region,)))
    store.update_region("ana", region, text="NEWER")
    store.undo("ana", p2)
    assert store.get_region(region).text == "NEW"
    store.undo("ana", p2)
    assert store.get_region(region).deleted
    store.undo("ana", p2)  # the region added before the migration
    assert [r.text for r in store.regions(p2)] == []
    store.redo("ana", p2)
    assert [r.text for r in store.regions(p2)] == [original_text]


def test_a_folder_goes_to_a_server_and_back(tmp_path, make_image, pg_database):
    source, p1, p2 = _build(tmp_path / "folder", make_image, tmp_path)
    before = _snapshot(source)
    source.close()
    source_db = (tmp_path / "folder" / "proofdesk.db").read_bytes()
    seen = []
    url = pg_database + "/moved"
    report = migrate(tmp_path / "folder", url, progress=lambda what, done, total: seen.append((what, done, total)))
    assert (tmp_path / "folder" / "proofdesk.db").read_bytes() == source_db  # the source is only read
    assert report.images == 2 and report.files == 3  # model.onnx, model.json, the manifest
    assert report.counts["regions"] == len(before["regions"])
    assert report.counts["edits"] == before["edits"][0] > 0
    assert ("regions", report.counts["regions"], report.counts["regions"]) in seen
    assert any("moved" in line for line in report.lines())

    server = Project.open(url)
    try:
        # Images are in the server's database, not only in some folder.
        assert {p.image_sha256 for p in server.store.pages()} <= server.store.blob_hashes()
        _check_copy(server, before, p1, p2, "other page")
        check_consistent(server)
        after_server = _snapshot(server)
    finally:
        server.close()

    back = tmp_path / "back"
    report = migrate(url, back)
    assert report.images == 2
    folder = Project.open(back)
    try:
        assert _snapshot(folder) == after_server
        # Page images went to pages/; the model files the server kept by hash stay in the database.
        assert len(folder.store.blob_hashes()) == 3
        assert not {p.image_sha256 for p in folder.store.pages()} & folder.store.blob_hashes()
        assert folder.store.get_page(p1).status == PageStatus.APPROVED
        check_consistent(folder)
        region = folder.store.add_region("ana", p2, box_to_quad(2, 2, 9, 9), text="LOCAL")
        folder.store.undo("ana", p2)
        assert folder.store.get_region(region).deleted
        assert (back / "models" / "rec-1" / "model.onnx").read_bytes() == b"not really onnx" * 100
    finally:
        folder.close()


def test_folder_to_folder(tmp_path, make_image):
    source, p1, p2 = _build(tmp_path / "a", make_image, tmp_path)
    before = _snapshot(source)
    source.close()
    report = migrate(tmp_path / "a", tmp_path / "b")
    assert report.images == 2
    copy = Project.open(tmp_path / "b")
    try:
        _check_copy(copy, before, p1, p2, "other page")
        check_consistent(copy)
    finally:
        copy.close()


def test_a_target_that_is_a_project_is_refused_and_left_alone(tmp_path, make_image, pg_database):
    source, _, _ = _build(tmp_path / "a", make_image, tmp_path)
    source.close()
    existing = Project.create(tmp_path / "b", fields=["only"])
    existing.close()
    before = (tmp_path / "b" / "proofdesk.db").read_bytes()
    with pytest.raises(ProjectError, match="already a Proofdesk project"):
        migrate(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "proofdesk.db").read_bytes() == before
    on_server = Project.create(pg_database + "/taken", fields=["only"])
    on_server.close()
    with pytest.raises(ProjectError, match="already a Proofdesk project"):
        migrate(tmp_path / "a", pg_database + "/taken")
    again = Project.open(pg_database + "/taken")
    try:
        assert again.store.fields() == ["only"] and again.store.count_pages() == 0
    finally:
        again.close()
    with pytest.raises(ProjectError, match="same folder"):
        migrate(tmp_path / "a", tmp_path / "a")


def test_a_copy_that_differs_is_reported_and_left_for_inspection(tmp_path, make_image, pg_database):
    source, _, _ = _build(tmp_path / "a", make_image, tmp_path)
    sha = source.store.pages()[0].image_sha256
    source.close()
    url = pg_database + "/damaged"

    def lose_an_image(target):
        with target.store.transaction() as c:
            c.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))

    with pytest.raises(ProjectError, match=f"page image {sha} is not on .*left as it is"):
        migrate(tmp_path / "a", url, before_verify=lose_an_image)
    left = Project.open(url)
    try:
        assert left.store.count_pages() == 2  # the copy is there to look at
    finally:
        left.close()

    def lose_a_region(target):
        with target.store.transaction() as c:
            c.execute("DELETE FROM verdict_marks")
            c.execute("DELETE FROM regions WHERE id = (SELECT MAX(id) FROM regions)")

    with pytest.raises(ProjectError, match=r"table regions has \d+ rows in .* but \d+ in"):
        migrate(tmp_path / "a", tmp_path / "c", before_verify=lose_a_region)


def test_verify_compares_the_edit_log_row_by_row(tmp_path, make_image):
    source, p1, _ = _build(tmp_path / "a", make_image, tmp_path)
    source.close()
    migrate(tmp_path / "a", tmp_path / "b")
    a, b = Project.open(tmp_path / "a", readonly=True), Project.open(tmp_path / "b")
    try:
        assert verify(a, b)["edits"] > 0
        # The same number of rows, one text changed: the counts agree, the log does not. (The
        # trigger refuses UPDATE on the edit log: rewrite a row as delete plus insert.)
        with b.store.transaction() as c:
            row = c.execute("SELECT * FROM edits ORDER BY id DESC LIMIT 1").fetchone()
            c.execute("DELETE FROM edits WHERE id = ?", (row["id"],))
            c.execute("INSERT INTO edits (id, action_id, ts, user, page_id, region_id, field, before, after)"
                      " VALUES (?,?,?,?,?,?,?,?,?)", (*[row[k] for k in ("id", "action_id", "ts", "user", "page_id",
                                                                         "region_id", "field", "before")], '"forged"'))
        with pytest.raises(ProjectError, match="the edit log .* is not the same"):
            verify(a, b)
    finally:
        a.close()
        b.close()


def test_the_command_line(tmp_path, make_image, pg_database, capsys):
    from app.cli import main

    source, _, _ = _build(tmp_path / "a", make_image, tmp_path)
    source.close()
    assert main(["migrate", str(tmp_path / "a"), pg_database + "/cli", "--user", "lead"]) == 0
    out, err = capsys.readouterr()
    assert "migrated" in out and "checked" in out and "copied regions" in err
    assert main(["migrate", str(tmp_path / "a"), pg_database + "/cli", "--user", "lead"]) == 1
    out, err = capsys.readouterr()
    assert "already a Proofdesk project" in err and len(err.strip().splitlines()) == 1
    # Where the project has admins, only an admin moves it.
    assert main(["migrate", str(tmp_path / "a"), str(tmp_path / "b"), "--user", "ana"]) == 1
    assert "admin" in capsys.readouterr().err


def test_a_prepared_team_server_takes_the_copy_from_its_admin(pg_database, tmp_path, make_image):
    """On a server prepared by `server init`, the admin migrating is no superuser: the edit log's
    row-level security (each person writes only their own edits) and the review guard still let
    the copy in, and afterwards hold for everyone as before."""
    from core import team
    from tests.core.test_team_roles import PASSWORDS, drop_team_roles, login

    drop_team_roles(pg_database)
    try:
        team.server_init(pg_database, "lead", PASSWORDS["lead"])
        lead = login(pg_database, "lead")
        project = Project.create(lead + "/acme")
        team.add_member(lead + "/acme", "ana", Role.ANNOTATOR, PASSWORDS["ana"])
        team.add_member(lead + "/acme", "rex", Role.REVIEWER, PASSWORDS["rex"])
        img = tmp_path / "scan.png"
        img.write_bytes(make_image(5))
        import_paths(project, [img], ImportOptions(user="lead"))
        page_id = project.store.pages()[0].id
        project.close()
        ana = Project.open(login(pg_database, "ana") + "/acme")
        ana.store.add_region("ana", page_id, box_to_quad(1, 1, 20, 8), "TOTAL 9.99")
        ana.store.set_page_status("ana", page_id, PageStatus.DONE)
        ana.close()

        migrate(lead + "/acme", tmp_path / "f")
        folder = Project.open(tmp_path / "f")
        folder.store.review_page("rex", page_id, "approved")
        folder.close()
        migrate(tmp_path / "f", lead + "/acme2")

        ana = Project.open(login(pg_database, "ana") + "/acme2")
        try:
            assert ana.store.get_page(page_id).status == PageStatus.APPROVED
            region = ana.store.add_region("ana", page_id, box_to_quad(30, 1, 40, 8), "MORE")
            ana.store.undo("ana", page_id)
            assert ana.store.get_region(region).deleted
            assert ana.image_path(ana.store.get_page(page_id)).read_bytes() == make_image(5)
            import psycopg

            with pytest.raises(psycopg.Error):  # the rules still hold: ana cannot approve
                with ana.store.transaction() as c:
                    c.execute("UPDATE pages SET status = 'rejected' WHERE id = ?", (page_id,))
        finally:
            ana.close()
    finally:
        drop_team_roles(pg_database)


def test_a_source_missing_an_image_is_refused_and_nothing_is_copied(tmp_path, make_image, pg_database):
    source, _, _ = _build(tmp_path / "a", make_image, tmp_path)
    page = source.store.pages()[1]
    source.image_path(page).unlink()
    source.close()
    with pytest.raises(ProjectError, match=f"page image {page.image_sha256} is missing .* holds none of the rows"):
        migrate(tmp_path / "a", pg_database + "/partial")
    left = Project.open(pg_database + "/partial")
    try:
        assert left.store.count_pages() == 0 and left.store.blob_hashes() == set()
    finally:
        left.close()
