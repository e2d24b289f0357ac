"""`proofdesk --selftest` from the checkout: every check an ops person runs on an installed app
passes here too (the frozen app's run is tests/packaging/test_bundle.py, marked slow)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_selftest_from_source_passes_every_check(tmp_path):
    script = Path(sys.executable).parent / "proofdesk"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run([*cmd, "--selftest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for check in ("bundle", "project", "import", "prefill classical", "prefill neural", "prefill combined",
                  "export", "window", "training"):
        assert f"PASS {check}:" in out, out
    assert "0 failed" in out
