"""Dataset versions, the model registry and importing labelled data (training groundwork)."""

from __future__ import annotations

import json
import shutil

import pytest

from app.cli import main
from core import datasets, registry
from core.errors import NotFoundError, PermissionDenied, ProofdeskError
from core.importer import ImportOptions, import_paths
from core.model import PageStatus, Role

from ..conftest import check_consistent

#: The store's behaviour is the same on a project folder and on a team server: each test runs on both.
BOTH_BACKENDS = True


@pytest.fixture
def labelled(project, sroie_dir, tmp_path):
    """Six sroie-dev receipts imported with their reference lines as people's work."""
    src = tmp_path / "src"
    src.mkdir()
    for img in sorted(sroie_dir.glob("*.jpg"))[:6]:
        shutil.copy(img, src / img.name)
        shutil.copy(img.with_suffix(".json"), src / img.with_suffix(".json").name)
    summary = import_paths(project, [src], ImportOptions(labels=True, user="ana"))
    assert len(summary.imported) == 6
    return project, src


def test_reference_as_labels_makes_human_regions_and_done_pages(labelled):
    project, src = labelled
    store = project.store
    for page in store.pages():
        ref = json.loads((src / page.name).with_suffix(".json").read_text())
        regions = store.regions(page.id)
        assert [r.text for r in regions] and sorted(r.text for r in regions) == sorted(
            line["text"] for line in ref["lines"] if line["text"].strip())
        assert all(r.origin == "human" for r in regions)
        assert page.status == PageStatus.DONE and page.done_by == "ana"
    # The reference's key fields are the page's field values, as the importing person's: what a
    # field model trains on (before, none came in and `train --fields-only` found nothing to learn).
    assert store.fields() == ["company", "date", "address", "total"]
    for page in store.pages():
        ref = json.loads((src / page.name).with_suffix(".json").read_text())
        got = {v.name: v for v in store.page_fields(page.id)}
        assert {n: got[n].text for n in store.fields()} == {n: ref["fields"][n] for n in store.fields()}
        assert all(got[n].origin == "human" and got[n].confirmed_by == "ana" for n in store.fields())
    # One action per page in the edit log, by the importing user.
    actions = store.query("SELECT label, user FROM actions")
    assert {(a["label"], a["user"]) for a in actions} == {("import labels", "ana")} and len(actions) == 6
    # Importing again adds nothing.
    again = import_paths(project, [src], ImportOptions(labels=True, user="ana"))
    assert len(again.duplicates) == 6 and len(store.query("SELECT id FROM actions")) == 6
    check_consistent(project)


def test_dataset_version_is_frozen_hashed_and_split_by_page(labelled):
    project, _ = labelled
    store, root = project.store, project.root
    v1, created = datasets.create_version(store, root, "lead", val_share=0.5)
    assert created and v1.n_train + v1.n_val == len(store.query("SELECT id FROM regions"))
    manifest = datasets.load_manifest(root, v1)
    train_pages = {s["image"] for s in manifest["train"]}
    val_pages = {s["image"] for s in manifest["val"]}
    assert train_pages and val_pages and not train_pages & val_pages  # no page in both
    # Same selection, same hash: no second version.
    again, created = datasets.create_version(store, root, "lead", val_share=0.5)
    assert not created and again.id == v1.id
    # A correction changes the hash; the diff names it; the split of each page stays put.
    region = store.regions(store.pages()[0].id)[0]
    store.update_region("ana", region.id, text=region.text + " FIXED")
    v2, created = datasets.create_version(store, root, "lead", val_share=0.5)
    assert created and v2.hash != v1.hash
    d = datasets.diff(root, v1, v2)
    assert len(d.changed) == 1 and not d.added and not d.removed
    assert d.changed[0][1]["text"].endswith(" FIXED")
    m2 = datasets.load_manifest(root, v2)
    assert {s["image"] for s in m2["val"]} == val_pages
    # A manifest changed on disk is refused.
    path = root / v1.manifest
    path.write_text(path.read_text().replace(manifest["train"][0]["text"], "tampered", 1))
    with pytest.raises(ProofdeskError, match="does not match its hash"):
        datasets.load_manifest(root, v1)


def test_only_confirmed_regions_count(project, labelled):
    store = project.store
    page = store.pages()[0]
    store.set_page_status("ana", page.id, PageStatus.IN_PROGRESS)  # reopened: not confirmed now
    samples = datasets.select_samples(store)
    assert page.id not in {s.page_id for s in samples}
    assert datasets.select_samples(store, "approved") == []
    with pytest.raises(ProofdeskError):
        datasets.select_samples(store, "everything")


def test_registry_promote_and_roll_back(project):
    store = project.store
    base = registry.register(store, "lead", "ppocrv5-base", "recognition", "resources/models/x", "a" * 64)
    assert registry.active(store) is None  # nothing promoted: the shipped model
    v1 = registry.register(store, "lead", "ft-1", "recognition", "models/ft-1", "b" * 64, {"val_cer": 0.03}, parent_id=base.id)
    registry.promote(store, "lead", base)
    registry.promote(store, "lead", v1)
    assert registry.active(store).id == v1.id
    assert registry.rollback(store, "lead").id == base.id
    assert registry.active(store).id == base.id
    assert registry.find(store, "latest").id == v1.id and registry.find(store, "ft-1").id == v1.id
    assert [h["kind"] for h in registry.history(store)] == ["promote", "promote", "rollback"]
    with pytest.raises(NotFoundError):
        registry.find(store, "nope")
    # Once the project has an admin, an annotator may not switch models.
    store.set_user_role("lead", "lead", Role.ADMIN)
    store.ensure_user("ana", Role.ANNOTATOR)
    with pytest.raises(PermissionDenied):
        registry.promote(store, "ana", v1)
    registry.promote(store, "lead", v1)
    assert registry.active(store).id == v1.id


def test_cli_dataset_and_models(labelled, capsys):
    project, _ = labelled
    root = str(project.location)
    assert main(["--user", "lead", "dataset", "create", root]) == 0
    assert "created dataset version 1" in capsys.readouterr().out
    assert main(["dataset", "create", root]) == 0
    assert "already" in capsys.readouterr().out
    assert main(["dataset", "list", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == 1
    assert main(["models", "list", root]) == 0
    assert "the shipped model" in capsys.readouterr().out
    assert main(["models", "promote", root]) == 1  # nothing registered: one clear line
    assert "no model version" in capsys.readouterr().err


def test_training_with_nothing_to_validate_is_refused_up_front(project, make_image, tmp_path, capsys):
    """Issue 17, defect 1: 3 finished pages, none in validation, trained 3.5 minutes and ended with
    "internal error: TypeError ... NoneType.__format__"; it is refused before a run is recorded,
    saying how many pages are needed."""
    from app.cli import main
    from core import runs
    from core.model import PageStatus, box_to_quad

    src = tmp_path / "few"
    src.mkdir()
    for i in range(3):
        (src / f"p{i}.png").write_bytes(make_image(i, size=(200, 120)))
    import_paths(project, [src], ImportOptions(user="lead"))
    for page in project.store.pages():
        project.store.add_region("lead", page.id, box_to_quad(5, 5, 100, 30), "TOTAL 1.00")
        project.store.set_page_status("lead", page.id, PageStatus.DONE)
    version, _ = datasets.create_version(project.store, project.root, "lead", val_share=0.01)
    assert version.n_val == 0 and version.n_train == 3
    assert main(["--user", "lead", "train", str(project.location), "--dataset", str(version.id)]) == 1
    err = capsys.readouterr().err
    assert "no validation lines" in err and "pages give both almost always" in err and "internal error" not in err
    assert runs.list_runs(project.store) == []  # nothing recorded
