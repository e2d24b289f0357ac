"""One home for "the active model version, else the shipped one" (issue 15): ``ml.training.active.active_model``
answers per task (recognition, fields), and every reader of the active model asks it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import registry
from ml.neural.models import BASE_MODEL, model_dir
from ml.training.active import ZERO_SHOT, active_model, active_rec_folder, engine_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_models_when_nothing_is_promoted(project):
    rec = active_model(project)
    assert rec.shipped and rec.version is None and rec.task == registry.RECOGNITION
    assert rec.folder == model_dir(BASE_MODEL, "rec-latin") and rec.name == f"{BASE_MODEL}/rec-latin"
    fields = active_model(project, registry.FIELDS)
    assert fields.shipped and fields.folder is None and fields.name == ZERO_SHOT
    assert active_rec_folder(project) is None and engine_config(project, "neural") is None
    with pytest.raises(ValueError, match="unknown model task"):
        active_model(project, "detection")


def test_each_task_has_its_own_active_version_and_every_reader_follows_it(project):
    from ml.fields.prefill import active_field_model

    store = project.store
    rec = registry.register(store, "lead", "run-1", registry.RECOGNITION, "models/run-1", "a" * 64)
    registry.promote(store, "lead", rec)
    got = active_model(project)
    assert got.version.id == rec.id and got.folder == project.root / "models" / "run-1" and got.name == "run-1"
    assert active_model(project, registry.FIELDS).shipped  # promoting the OCR leaves the fields alone
    assert active_rec_folder(project) == str(got.folder) and engine_config(project, "neural") == {"rec": str(got.folder)}

    fv = registry.register(store, "lead", "run-2-fields", registry.FIELDS, "models/run-2-fields", "b" * 64)
    registry.promote(store, "lead", fv)
    f = active_model(project, registry.FIELDS)
    assert f.version.id == fv.id and f.folder == project.root / "models" / "run-2-fields"
    assert active_model(project).version.id == rec.id  # and the other way round
    # The folder holds no field model: pre-fill goes on with the rules (and says why in the log).
    assert active_field_model(project) == (None, None)
    # Rolling back one task leaves the other as it is.
    fv2 = registry.register(store, "lead", "run-3-fields", registry.FIELDS, "models/run-3-fields", "c" * 64)
    registry.promote(store, "lead", fv2)
    assert registry.rollback(store, "lead", task=registry.FIELDS).id == fv.id
    assert active_model(project, registry.FIELDS).version.id == fv.id and active_model(project).version.id == rec.id


def test_the_plan_of_a_prefill_names_the_active_version(project, monkeypatch):
    import ml.prefill as prefill
    from ml.prefill import plan_prefill

    assert plan_prefill(project, [], engine="neural").model_version is None
    v = registry.register(project.store, "lead", "run-7", registry.RECOGNITION, "models/run-7", "d" * 64)
    registry.promote(project.store, "lead", v)
    # The folder is empty (the engine could not load it, which is not what this checks): the
    # shipped engine reads, the plan must still name the active version and pass its folder.
    real = prefill.get_engine
    seen = []

    def engine_only(name, config):
        seen.append(config["rec"])
        return real(name, None)

    monkeypatch.setattr(prefill, "get_engine", engine_only)
    assert plan_prefill(project, [], engine="neural").model_version == "run-7"
    assert seen == [str(project.root / "models" / "run-7")]


def test_nothing_else_looks_the_active_model_up_on_its_own():
    """The registry's ``active`` is read in one place (ml/training/active.py); the rest of the
    application asks ``active_model``, so the shipped fallback is written once."""
    pattern = re.compile(r"registry\.active\(|active_model_version_row\(")
    offenders = []
    for folder in ("app", "core", "ml"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ("core/registry.py", "core/run_store.py", "ml/training/active.py"):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []
