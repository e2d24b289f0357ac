"""The built app, smoke-run: `make test-bundle` (slow; not part of `make test`).

Builds the cpu flavour first when dist/cpu/Proofdesk is missing or older than the sources
(several minutes), then runs the frozen ``Proofdesk --selftest`` offscreen and under Xvfb: a
temporary project, a bundled receipt imported, pre-filled with both engines in worker
processes (the executable started again), exported, the window opened, a one-step training in
the worker. ``PROOFDESK_BUNDLE=path/to/Proofdesk`` tests another build folder (e.g. the gpu one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["app", "core", "ml", "resources", "packaging", "pyproject.toml"]


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        p = ROOT / name
        files = [p] if p.is_file() else (f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


@pytest.fixture(scope="module")
def bundle() -> Path:
    override = os.environ.get("PROOFDESK_BUNDLE")
    if override:
        folder = Path(override)
        assert (folder / "Proofdesk").is_file(), f"no Proofdesk executable in {folder}"
        return folder
    folder = ROOT / "dist" / "cpu" / "Proofdesk"
    exe = folder / "Proofdesk"
    if not exe.is_file() or exe.stat().st_mtime < _newest_source():
        subprocess.run(["make", "bundle", "FLAVOURS=cpu"], cwd=ROOT, check=True, timeout=3000)
    assert exe.is_file()
    return folder


def _run(cmd: list[str], env: dict, timeout: float = 1500) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    print(result.stdout, result.stderr[-3000:])
    return result


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "VIRTUAL_ENV")}
    # The frozen app must not lean on the checkout or the .venv.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env.update(extra)
    return env


def _check_selftest(result: subprocess.CompletedProcess, platform: str) -> None:
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "FAIL" not in out
    for check in ("bundle", "import", "prefill classical", "prefill neural", "prefill combined", "export", "window",
                  "training"):
        assert f"PASS {check}:" in out, f"{check} did not pass:\n{out}"
    assert "PASS bundle: frozen app" in out
    assert f"on the {platform} platform" in out


def test_selftest_offscreen(bundle, tmp_path):
    result = _run([str(bundle / "Proofdesk"), "--selftest"], _clean_env(QT_QPA_PLATFORM="offscreen",
                                                                        HOME=str(tmp_path)))
    _check_selftest(result, "offscreen")


def test_selftest_under_xvfb(bundle, tmp_path):
    # `make test-bundle` runs `make setup` first, which installs Xvfb: its absence is a failure.
    assert shutil.which("xvfb-run"), "xvfb-run is not installed (make setup installs it)"
    result = _run(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", str(bundle / "Proofdesk"), "--selftest"],
                  _clean_env(HOME=str(tmp_path)))
    _check_selftest(result, "xcb")


def test_command_line_answers(bundle, tmp_path):
    env = _clean_env(HOME=str(tmp_path))
    result = _run([str(bundle / "Proofdesk"), "--version"], env, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("proofdesk ")
    result = _run([str(bundle / "Proofdesk"), "init", str(tmp_path / "p")], env, timeout=300)
    assert result.returncode == 0, result.stderr
    result = _run([str(bundle / "Proofdesk"), "info"], env, timeout=300)
    assert result.returncode == 0 and "neural provider" in result.stdout, result.stdout + result.stderr


def test_cpu_flavour_leaves_out_cuda(bundle):
    if bundle.parent.name != "cpu":
        pytest.skip("not the cpu flavour")
    names = {p.name for p in bundle.rglob("*")}
    assert not {n for n in names if "providers_cuda" in n or "providers_tensorrt" in n or n.startswith("libcudart")}
    assert any(n.startswith("onnxruntime_pybind11_state") for n in names)  # onnxruntime itself is there


def test_archive_has_the_desktop_file_and_icon(bundle):
    archives = sorted(ROOT.glob(f"dist/Proofdesk-*-linux-x86_64-{bundle.parent.name}.tar.gz"))
    if not archives:
        pytest.skip("no archive (built without make bundle)")
    with tarfile.open(archives[-1]) as tar:
        names = set(tar.getnames())
    for name in ("Proofdesk/Proofdesk", "Proofdesk/proofdesk.desktop", "Proofdesk/proofdesk.png",
                 "Proofdesk/install-desktop-entry.sh"):
        assert name in names
