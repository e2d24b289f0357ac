"""The command line: thin over core, readable errors, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _png(path: Path, colour) -> Path:
    Image.new("RGB", (64, 48), colour).save(path)
    return path


def test_init_import_pages_export(tmp_path, capsys):
    proj = tmp_path / "p"
    assert run(capsys, "init", proj)[0] == 0
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png", "red")
    _png(src / "b.png", "blue")
    (src / "broken.jpg").write_bytes(b"not an image at all")
    code, out, _ = run(capsys, "import", proj, src, "--quiet")
    assert code == 0
    assert "imported 2 document(s), 2 page(s)" in out
    assert "broken.jpg" in out and "failed" in out
    code, out, _ = run(capsys, "pages", proj, "--json")
    pages = json.loads(out)
    assert [p["name"] for p in pages] == ["a.png", "b.png"]
    assert all(p["status"] == "new" for p in pages)
    code, out, _ = run(capsys, "import", proj, src, "--quiet")
    assert "imported 0 document(s)" in out and "skipped 2 already imported" in out
    code, out, _ = run(capsys, "export", proj, tmp_path / "out")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["a.json", "b.json"]


def test_errors_are_one_line_and_non_zero(tmp_path, capsys):
    code, out, err = run(capsys, "pages", tmp_path / "nope")
    assert code == 1
    assert err.strip().count("\n") == 0 and "no such project folder" in err
    assert "Traceback" not in err
    (tmp_path / "plain").mkdir()
    code, _, err = run(capsys, "pages", tmp_path / "plain")
    assert code == 1 and "not a Proofdesk project" in err
    run(capsys, "init", tmp_path / "q")
    code, _, err = run(capsys, "init", tmp_path / "q")
    assert code == 1 and "already a Proofdesk project" in err


def test_import_sroie_with_reference(tmp_path, capsys):
    proj = tmp_path / "p"
    run(capsys, "init", proj)
    files = sorted((DATASETS / "sroie-dev").glob("*.jpg"))[:3]
    code, out, _ = run(capsys, "import", proj, *files, "--reference", "--quiet")
    assert code == 0 and "imported 3 document(s), 3 page(s)" in out
    from core.project import Project

    project = Project.open(proj)
    for page, f in zip(project.store.pages(), files, strict=True):
        ref = json.loads(f.with_suffix(".json").read_text())
        assert len(project.store.reference(page.id)["lines"]) == len(ref["lines"])
        assert project.store.reference(page.id)["fields"] == ref["fields"]


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_console_script_runs(argv):
    result = subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "proofdesk" in result.stdout
