"""Issue 17, defect 13: on a machine without CUDA, onnxruntime's red "Failed to load library
libonnxruntime_providers_cuda.so" must not reach the console: the CUDA provider is asked for only
where the libraries it needs load. Where they do (a GPU machine), CUDA is still asked for first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.neural import runtime

ROOT = Path(__file__).resolve().parents[2]

#: Run in a child process, as the app's first start is: onnxruntime's default logger as it comes,
#: sessions made on two threads at once (the status bar's lookup and a pre-fill), and one made
#: straight from what wanted_providers says (what any caller of it gets).
CHILD = r"""
import json, logging, sys, threading
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
import onnxruntime as ort
from ml.neural import runtime
from ml.neural.models import BASE_MODEL, load_spec, model_dir

paths = [str(load_spec(model_dir(BASE_MODEL, p)).path) for p in ("det", "rec-latin")]
threads = [threading.Thread(target=runtime.create_session, args=(p,)) for p in paths * 2]
for t in threads:
    t.start()
for t in threads:
    t.join()
wanted = runtime.wanted_providers("auto")
direct = ort.InferenceSession(paths[1], providers=wanted)
print("RESULT " + json.dumps({"wanted": [w if isinstance(w, str) else w[0] for w in wanted],
                              "runs": direct.get_providers()[0], "last": runtime.last_provider(),
                              "missing": runtime.cuda_missing()}))
"""


def _run_child() -> tuple[dict, str, str]:
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=400,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), proc.stdout, proc.stderr


@pytest.mark.timeout(420)  # a child process loading onnxruntime and two models, on a busy machine
def test_creating_sessions_prints_nothing_to_stderr():
    """On this CPU machine (the CUDA provider is in onnxruntime-gpu, its libraries are not): CPU
    sessions, one calm info line; on a GPU machine: CUDA sessions, and no error either."""
    result, out, err = _run_child()
    assert err == "", err  # not a word on stderr: no red error, no yellow warning
    said = [ln for ln in out.splitlines() if "onnxruntime runs on the CPU" in ln]
    if result["missing"]:
        assert result["wanted"] == [runtime.CPU] and result["runs"] == result["last"] == runtime.CPU
        assert len(said) == 1 and said[0].startswith("INFO ")  # one calm line, at info
        assert f"({', '.join(result['missing'])} not found)" in said[0]
    else:  # every library the CUDA provider needs loads here
        assert result["wanted"] == [runtime.CUDA, runtime.CPU] and result["runs"] == runtime.CUDA and not said


def test_cuda_is_asked_for_where_its_libraries_load(monkeypatch):
    """The CUDA path by design: available in onnxruntime and every library it needs loads."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    monkeypatch.setattr(runtime, "_cuda_missing", [])
    assert runtime.wanted_providers("auto") == [runtime.CUDA, runtime.CPU]
    assert runtime.wanted_providers("cuda:1") == [(runtime.CUDA, {"device_id": 1}), runtime.CPU]
    assert runtime.wanted_providers("cpu") == [runtime.CPU]
    monkeypatch.setattr(runtime, "_cuda_missing", ["libcublasLt.so.13"])
    assert runtime.wanted_providers("auto") == [runtime.CPU]
    monkeypatch.setattr(ort, "get_available_providers", lambda: [runtime.CPU])  # the CPU build
    monkeypatch.setattr(runtime, "_cuda_missing", [])
    assert runtime.wanted_providers("auto") == [runtime.CPU]


def test_what_the_cuda_provider_needs_is_read_from_its_library():
    import onnxruntime as ort

    lib = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    needed = runtime.needed_libraries(lib)
    assert needed is not None and "libcuda.so.1" in needed
    assert any(n.startswith("libcublasLt.so.") for n in needed) and any(n.startswith("libcudart.so.") for n in needed)
    assert runtime.needed_libraries(Path(__file__)) is None  # not ELF
    assert runtime.needed_libraries(lib.parent / "no-such.so") is None
