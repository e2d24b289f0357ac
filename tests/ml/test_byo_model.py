"""Bring your own model: ``proofdesk models import-paddle`` turns a PaddleOCR ONNX export into a model
version, checked, evaluated against the active one on the finished pages, never promoted by itself.

The input is the shipped model, which is PaddleOCR's own export (resources/models/ppocrv5-base:
det/model.onnx, rec/model.onnx and its dictionary rec/charset.txt, 18,383 characters for 18,385
classes: blank + characters + space)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from core import registry
from ml.neural.models import BASE_MODEL, load_spec, model_dir, models_root

BASE = models_root() / "ppocrv5-base"
DET, REC, DICT = BASE / "det" / "model.onnx", BASE / "rec" / "model.onnx", BASE / "rec" / "charset.txt"
LATIN_DICT = BASE / "rec-latin" / "charset.txt"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _tiny_onnx(path: Path, input_shape: list, output_shape: list, op: str = "Sigmoid") -> Path:
    """A one-operator ONNX model with the given input shape (for the shape checks)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8  # what this onnxruntime reads (onnx writes a newer one by default)
    onnx.save(model, str(path))
    return path


def _nothing_written(project) -> None:
    assert registry.versions(project.store) == []
    models = project.root / "models"  # a project has it from the start
    assert not models.exists() or list(models.iterdir()) == []


def test_paddle_export_becomes_a_model_version_evaluated_and_not_promoted(labelled, capsys):
    project, _ = labelled
    code, out, err = run(capsys, "models", "import-paddle", project.root, "--det", DET, "--rec", REC, "--dict", DICT,
                         "--pages", 2)
    assert code == 0, err
    assert "imported the PaddleOCR detector and recogniser as model version paddle-1" in out
    assert "2 page(s) read end to end" in out and "not promoted: proofdesk models promote" in out
    [v] = registry.versions(project.store)
    assert (v.name, v.task, v.path, v.run_id) == ("paddle-1", "recognition", "models/paddle-1", None)
    assert registry.active(project.store) is None  # never promoted by the import
    m = v.metrics
    # Evaluated as a training run evaluates its model: against the active (here: the shipped) one.
    assert m["compared_with"] == "ppocrv5-base/rec-latin" and m["val_pages"] == 2 and m["val_lines"] > 20
    for key in ("val_cer", "active_val_cer", "val_typing_saved", "active_val_typing_saved", "val_recall",
                "active_val_recall", "val_ece"):
        assert isinstance(m[key], float), key
    # rec-latin is the same network cut to its Latin classes, then taught invoice and receipt print
    # (its weights mixed with a synthetic-line fine-tune): it reads these receipt lines at least as well.
    assert m["active_val_cer"] <= m["val_cer"] + 0.005
    assert m["verdict"] in ("better", "not better than the active model")
    assert m["imported"]["rec"]["classes"] == 18385 and m["imported"]["rec"]["characters"] == 18383
    # Laid out as a training run's model version, its files listed with their sha256.
    folder = project.root / v.path
    listed = registry.verify_folder(folder)
    assert sorted(listed) == ["charset.txt", "det/model.json", "det/model.onnx", "model.onnx"]
    rec, det = load_spec(folder), load_spec(folder / "det")
    assert len(rec.charset) == 18385 and rec.charset[0] == "<blank>" and rec.charset[-1] == " "
    assert rec.input_height == 48 and rec.output == "probabilities" and rec.raw["output"]["time_stride"] == 8
    assert v.sha256 == rec.sha256 == listed["model.onnx"] and det.task == "detection"

    # Promoted like any other: pre-fill then reads with it, and says so.
    code, out, _ = run(capsys, "models", "promote", project.root, "paddle-1")
    assert code == 0 and registry.active(project.store).name == "paddle-1"
    from ml.prefill import plan_prefill

    plan = plan_prefill(project, [project.store.pages()[0].id], engine="neural")
    assert plan.model_version == "paddle-1" and "paddle-1-det@" in plan.engine_version


def test_rec_alone_takes_the_active_detector_det_alone_the_active_recogniser(labelled, capsys):
    project, _ = labelled
    assert run(capsys, "models", "import-paddle", project.root, "--det", DET, "--pages", 0)[0] == 0
    v = registry.find(project.store, "paddle-1")
    # A detector alone: paired with the recogniser pre-fill uses now (the shipped Latin one).
    assert load_spec(project.root / v.path).sha256 == load_spec(BASE / "rec-latin").sha256
    assert list(v.metrics["imported"]) == ["det"] and "val_cer" not in v.metrics
    # The same networks again: refused, nothing written.
    code, _, err = run(capsys, "models", "import-paddle", project.root, "--det", DET, "--pages", 0)
    assert code == 1 and "paddle-1 holds these very networks already" in err
    assert len(registry.versions(project.store)) == 1 and sorted(p.name for p in (project.root / "models").iterdir()) \
        == ["paddle-1"]
    registry.promote(project.store, "lead", v)
    code, out, err = run(capsys, "models", "import-paddle", project.root, "--rec", REC, "--dict", DICT, "--name",
                         "full-rec", "--pages", 0, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["name"] == "full-rec" and doc["verdict"].startswith("not evaluated")
    folder = project.root / "models" / "full-rec"
    # A recogniser alone: with the active version's own detector.
    assert load_spec(folder / "det").sha256 == load_spec(BASE / "det").sha256
    assert registry.find(project.store, "full-rec").parent_id == v.id
    code, _, err = run(capsys, "models", "import-paddle", project.root, "--rec", REC, "--dict", DICT, "--name",
                       "full-rec")
    assert code == 1 and "a model version named full-rec is here already" in err


@pytest.mark.parametrize("case", ["wrong dict size", "not onnx", "det input rank", "rec height", "swapped",
                                  "dict not utf-8", "no dict", "nothing"])
def test_refused_with_one_line_and_nothing_written(project, tmp_path, capsys, case):
    args = {
        "wrong dict size": ["--rec", REC, "--dict", LATIN_DICT],
        "not onnx": ["--det", DICT],
        "det input rank": ["--det", _tiny_onnx(tmp_path / "det.onnx", ["N", 64, 64], ["N", 64, 64])],
        "rec height": ["--rec", _tiny_onnx(tmp_path / "rec.onnx", ["N", 3, 64, "W"], ["N", 3, 64, "W"]),
                       "--dict", DICT],
        "swapped": ["--det", REC],
        "dict not utf-8": ["--rec", REC, "--dict", tmp_path / "latin1.txt"],
        "no dict": ["--rec", REC],
        "nothing": [],
    }[case]
    (tmp_path / "latin1.txt").write_bytes("a\nb\n\xe9\n".encode("latin-1"))
    code, out, err = run(capsys, "models", "import-paddle", project.root, *args)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proofdesk: error: "), err
    want = {
        "wrong dict size": "has 18385 output classes but dictionary",
        "not onnx": "is not an ONNX model",
        "det input rank": "takes input [?, 64, 64] (rank 3); a PP-OCR detector takes [N, 3, H, W]",
        "rec height": "takes lines 64 pixels high",
        "swapped": "lines 48 pixels high: a recogniser (--rec), not a detector",
        "dict not utf-8": "is not UTF-8 text",
        "no dict": "--rec needs --dict",
        "nothing": "needs --det",
    }[case]
    assert want in lines[0], lines[0]
    if case == "wrong dict size":
        n = len(load_spec(model_dir(BASE_MODEL, "rec-latin")).charset) - 1  # the dictionary given: rec-latin's
        assert f"{n} characters: expected {n + 2} (blank + characters + space) or {n + 1}" in lines[0]
    _nothing_written(project)


def test_a_failure_while_evaluating_leaves_nothing(labelled, capsys, monkeypatch):
    project, _ = labelled
    import ml.paddle_import as pi

    def boom(*a, **k):
        raise RuntimeError("the evaluation broke")

    monkeypatch.setattr(pi, "evaluate", boom)
    code, _, err = run(capsys, "models", "import-paddle", project.root, "--det", DET, "--rec", REC, "--dict", DICT)
    assert code == 2 and "the evaluation broke" in err
    _nothing_written(project)


def test_models_import_from_a_copy_still_wants_from_and_run(project, capsys):
    code, _, err = run(capsys, "models", "import", project.root)
    assert code == 1 and "needs --from COPY and --run N" in err
    code, _, err = run(capsys, "models", "import-paddle", project.root, "--from", project.root, "--run", 1)
    assert code == 1 and "--from and --run are for `models import`" in err


def test_dictionary_is_read_as_paddleocr_reads_it(tmp_path):
    from ml.paddle_import import read_dictionary

    p = tmp_path / "keys.txt"
    p.write_bytes("\ufeffa\r\n \nb\n".encode())
    assert read_dictionary(p) == ["a", " ", "b"]  # BOM dropped, CRLF, a space is a character
    p.write_bytes(b"a\nb")
    assert read_dictionary(p) == ["a", "b"]
    # A character the charset file could not give back line for line is refused, not mangled.
    p.write_text("a\n\u2028\nb\n", encoding="utf-8")
    from ml.paddle_import import ImportRefused

    with pytest.raises(ImportRefused, match="line 2 holds a line-separator character"):
        read_dictionary(p)


def test_a_model_of_another_alphabet_is_decoded_in_full(tmp_path):
    """A Korean or Chinese dictionary must not be cut to the Latin characters pre-fill reads by default."""
    import json

    from ml.paddle_import import _rec_json
    from ml.training.active import model_config

    class _Net:
        sha256, input_name, height, stride, classes, output, opset, producer = "0" * 64, "x", 48, 8, 7, "probs", 11, ""
        path = tmp_path / "rec.onnx"

    for chars, expected in ((["한", "국", "a"], {"charset": "all"}), (["a", "é", "€"], None)):
        folder = tmp_path / "".join(chars)
        folder.mkdir()
        meta = _rec_json("v", _Net(), True, tmp_path / "keys.txt", "0" * 64, chars)
        (folder / "model.json").write_text(json.dumps(meta, ensure_ascii=False))
        assert model_config(folder).get("recognize") == expected
