"""The README says where the app keeps the demo project, and it is where the app makes it (issue
17, defect 16: a report had it in ``~/.local/share/Proofdesk/Proofdesk/demo-project``)."""

from pathlib import Path

from core.project import data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_names_the_demo_projects_folder(monkeypatch, tmp_path):
    import app.main as main_module

    monkeypatch.delenv("PROOFDESK_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    made = []
    monkeypatch.setattr("app.demo.ensure_demo_project", lambda folder, user, progress=None: made.append(folder))
    main_module.resolve_project(None, _NoSettings(), "ana", lambda message: None)
    assert made == [data_dir() / "demo-project"] == [tmp_path / ".local" / "share" / "Proofdesk" / "demo-project"]
    readme = (ROOT / "README.md").read_text()
    assert "`~/.local/share/Proofdesk/demo-project` on Linux" in readme
    assert "`$XDG_DATA_HOME/Proofdesk/demo-project`" in readme
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() / "demo-project" == tmp_path / "xdg" / "Proofdesk" / "demo-project"


class _NoSettings:
    """QSettings with no last project."""

    def value(self, key, default=None):
        return default
