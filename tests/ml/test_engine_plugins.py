"""Plug-in engines (entry point group ``proofdesk.engines``): found, run by name in every process that
reads pages (the CLI, the pre-fill pool's spawned workers, eval, the selftest, the GUI's menu), and a
broken one reported without breaking the others. The example plug-in is tests/plugins/echo_engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.plugins import HERE, install

ROOT = Path(__file__).resolve().parents[2]
SROIE = ROOT.parent / "shared" / "datasets" / "sroie-dev"


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The echo plug-in and a broken one installed (dist-info on a temporary sys.path entry), loaded;
    afterwards gone again. Yields the PYTHONPATH a child process needs to see them."""
    from ml import engines

    site = tmp_path / "site"
    install(site, "echo-engine", {"echo": "echo_engine:factory"})
    install(site, "broken-engine", {"broken": "broken_engine:factory"})
    paths = [str(site), str(HERE)]
    monkeypatch.setattr(sys, "path", paths + sys.path)
    engines.load_plugins()
    yield os.pathsep.join(paths + [str(ROOT)])
    monkeypatch.undo()
    sys.modules.pop("echo_engine", None)
    engines.load_plugins()
    assert "echo" not in engines.ENGINES


@pytest.fixture
def qsettings(tmp_path):
    """Isolated QSettings (as tests/app's), never the user's own."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    yield s
    s.clear()


def _env(pythonpath: str) -> dict:
    return {**os.environ, "PYTHONPATH": pythonpath, "QT_QPA_PLATFORM": "offscreen"}


def test_plugin_joins_the_engines_and_a_broken_one_is_reported(plugins, capsys):
    from ml import engines

    engines.load_plugins()  # again, to see what it says (the fixture's first load said it too)
    err = capsys.readouterr().err
    assert "echo" in engines.ENGINES and engines.plugin_engines() == ["echo"]
    assert "echo_engine:factory of echo-engine" == engines.PLUGINS["echo"]
    # The broken one: left out, one warning line naming it and why; the others unharmed.
    assert "broken" not in engines.ENGINES
    assert "broken on purpose" in engines.PLUGIN_ERRORS["broken"]
    warnings = [ln for ln in err.splitlines() if "plug-in engine" in ln]
    assert len(warnings) == 1 and "'broken'" in warnings[0] and "RuntimeError" in warnings[0], err
    pred = engines.get_engine("echo", {"text": "HELLO"}).predict(np.zeros((100, 200), np.uint8))
    assert pred.engine == "echo" and [r.text for r in pred.regions] == ["HELLO"]
    assert pred.width == 200 and pred.height == 100
    assert engines.get_engine("classical").name == "classical"


def test_a_plugin_cannot_take_a_builtin_name_or_an_odd_one(tmp_path, monkeypatch, capsys):
    from ml import engines

    site = tmp_path / "site"
    install(site, "bad-names", {"classical": "echo_engine:factory", "Echo,x": "echo_engine:factory",
                                "notcallable": "echo_engine:NAME"})
    monkeypatch.setattr(sys, "path", [str(site), str(HERE)] + sys.path)
    try:
        engines.load_plugins()
        assert engines.ENGINES["classical"] is not engines.ENGINES.get("notcallable")
        assert sorted(engines.PLUGIN_ERRORS) == ["Echo,x", "classical", "notcallable"]
        assert "loaded already" in engines.PLUGIN_ERRORS["classical"]
        assert engines.get_engine("classical").name == "classical"
        assert len([ln for ln in capsys.readouterr().err.splitlines() if "plug-in engine" in ln]) == 3
    finally:
        monkeypatch.undo()
        engines.load_plugins()
    assert engines.PLUGIN_ERRORS == {}


def test_pool_workers_rebuild_a_plugin_engine_by_name(plugins, make_image):
    """The pool's workers are spawned: they import ml.engines afresh and must load the plug-ins too."""
    from ml.pool import prefill_pages

    results = list(prefill_pages([(1, make_image(1)), (2, make_image(2))], "echo", {"text": "W"}, workers=1))
    assert [r.error for r in results] == [None, None]
    assert {r.page_id: [x.text for x in r.prediction.regions] for r in results} == {1: ["W"], 2: ["W"]}


def test_cli_prefill_with_a_plugin_through_the_pool(plugins, tmp_path):
    from core.importer import ImportOptions, import_paths
    from core.project import Project

    project = Project.create(tmp_path / "p")
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:3], ImportOptions())
    project.close()
    cmd = [sys.executable, "-m", "app.cli", "prefill", str(tmp_path / "p"), "--engine", "echo", "--set-default",
           "--workers", "2", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(plugins))
    assert proc.returncode == 0, proc.stderr
    assert "pre-filled 3 page(s) with echo" in proc.stdout
    assert proc.stderr.count("plug-in engine 'broken' not loaded") == 1, proc.stderr  # workers stay quiet
    project = Project.open(tmp_path / "p")
    try:
        for page in project.store.pages():
            preds = project.store.predictions(page.id)
            assert [p.engine for p in preds] == ["echo"]
            assert [r.text for r in project.store.regions(page.id)] == ["ECHO"]
        # The project's pre-fill engine is the plug-in now: a plain pre-fill (CLI, GUI) uses it.
        from ml.prefill import plan_prefill

        assert plan_prefill(project).engine == "echo"
    finally:
        project.close()


def test_cli_eval_runs_a_plugin(plugins, tmp_path):
    cmd = [sys.executable, "-m", "app.cli", "eval", str(SROIE), "--engine", "echo", "--limit", "2", "--workers", "1",
           "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(plugins))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["engine"] == "echo" and report["pages"] == 2, report
    # An unknown engine is still one line, and names the plug-in among the known ones.
    proc = subprocess.run(cmd[:6] + ["nope"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=_env(plugins))
    assert proc.returncode == 1 and "echo" in proc.stderr.splitlines()[-1]


def test_selftest_checks_each_plugin(plugins, tmp_path):
    import io

    from app.selftest import SelfTest

    out = io.StringIO()
    st = SelfTest(tmp_path / "work", out)
    (tmp_path / "work").mkdir()
    st.check("project", st.make_project)
    st.check("import", st.import_sample, needs=("project",))
    st.plugin_checks()
    st.project.close()
    results = {name: (status, detail) for name, status, detail in st.results}
    assert results["prefill plug-in echo"][0] == "PASS", out.getvalue()
    assert "1 regions, e.g. 'ECHO'" in results["prefill plug-in echo"][1]
    assert results["plug-in broken"][0] == "FAIL" and "broken on purpose" in results["plug-in broken"][1]


def test_engine_menu_lists_plugins_and_prefill_uses_the_chosen_one(plugins, qtbot, tmp_path, qsettings):
    from app.main_window import MainWindow
    from app.prefill_action import plugin_engine
    from core.importer import ImportOptions, import_paths
    from core.prefill_engine import prefill_engine
    from core.project import Project

    project = Project.create(tmp_path / "p")
    import_paths(project, sorted(SROIE.glob("*.jpg"))[:1], ImportOptions())
    window = MainWindow(project, "ana", qsettings)
    qtbot.addWidget(window)
    ctl = window.prefill
    assert "echo" not in ctl.engine_actions  # not before the menu opens: the window starts without them
    ctl.engine_menu.aboutToShow.emit()
    texts = {a.text(): a for a in ctl.engine_menu.actions()}
    assert "echo (plug-in)" in texts and not texts["broken (plug-in, failed to load)"].isEnabled()
    assert "broken on purpose" in texts["broken (plug-in, failed to load)"].toolTip()
    ctl.engine_actions["echo"].trigger()
    assert [n for n, a in ctl.engine_actions.items() if a.isChecked()] == ["echo"]
    assert plugin_engine(project.store) == "echo"
    assert prefill_engine(project.store) == "combined"  # what core (and so the CLI) falls back to
    # Another window on the project shows the choice; pre-fill from the menu runs the plug-in.
    other = MainWindow(project, "bob", qsettings)
    qtbot.addWidget(other)
    assert other.prefill.engine_actions["echo"].isChecked()
    first = project.store.pages()[0].id
    window.prefill.prefill([first])
    with qtbot.waitSignal(window.prefill.finished, timeout=60000) as blocker:
        pass
    assert blocker.args[0].engine == "echo" and blocker.args[0].done == [first]
    # Back to a built-in engine: core's setting again.
    ctl.engine_actions["classical"].trigger()
    assert prefill_engine(project.store) == "classical" and plugin_engine(project.store) is None


def test_selftest_run_includes_the_plugin_checks(plugins, tmp_path, monkeypatch):
    import io

    from app.selftest import SelfTest

    names = []
    monkeypatch.setattr(SelfTest, "check", lambda self, name, fn, needs=(): names.append(name))
    SelfTest(tmp_path, io.StringIO()).run()
    assert "prefill plug-in echo" in names and "plug-in broken" in names
    assert names.index("prefill combined") < names.index("prefill plug-in echo") < names.index("export")
