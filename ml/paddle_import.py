"""Bring your own model: a PaddleOCR detector and/or recogniser exported to ONNX becomes a model version.

``proofdesk models import-paddle PROJECT --det det.onnx --rec rec.onnx --dict keys.txt [--name NAME]``
calls :func:`import_paddle`. The files are what ``paddle2onnx`` writes for a PP-OCR model (any
version, any language) and the dictionary PaddleOCR reads with it (``rec_char_dict_path``: one
character per line; PaddleOCR puts the CTC blank before the first line and, with
``use_space_char``, a space after the last).

Every file is checked before anything is written (:func:`check_detector`, :func:`check_recognizer`):
it must load in onnxruntime, hold its weights inside (no external data), take what PP-OCR
networks take (detector ``[N, 3, H, W]``, recogniser ``[N, 3, 48, W]`` or ``[N, 3, 32, W]``, H and W
dynamic: pages and lines come in every size) and give what they give (a one-channel probability
map the size of the input; ``N x T x C`` character scores), and the recogniser's class count must
be the dictionary's size + 2 (blank, space) or + 1 (blank). A refusal is one line
(:class:`ImportRefused`) and leaves the project as it was.

The model version is laid out as a training run lays out its own (``ml.training.worker._export_ocr``):
``models/<name>/`` holds the recogniser (``model.onnx``, ``model.json``, ``charset.txt``) and, when
the version has its own detector, ``det/`` (``model.onnx``, ``model.json``); ``model.json`` lists
the folder's files with their sha256 (``core.registry.write_manifest``). What is not imported comes
from the active model version (else the shipped model): a detector alone is paired with the
active recogniser (and its calibration), a recogniser alone with the active version's detector
when it has one of its own.

Before it is registered, the new version is read against the active one (else the shipped one)
on the project's finished pages (done or approved: people's lines), as a training run compares
its model: the lines' crops read by both recognisers (CER) and the pages read end to end by the
combined engine with each (typing saved, line recall, ECE; ``ml.training.worker.evaluate_pages``),
capped at :data:`DEFAULT_PAGES` pages. It is never promoted here: ``proofdesk models promote``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core import datasets, registry, runs
from core.errors import ProofdeskError

#: Finished pages read end to end by each model (the crops of their lines too); a training run
#: reads up to 50 validation pages (``e2e_val_pages``).
DEFAULT_PAGES = 20
#: Recogniser input heights PP-OCR uses: 48 (PP-OCRv3 and later), 32 (earlier).
REC_HEIGHTS = (48, 32)
#: Height assumed when the exported recogniser leaves its height dynamic.
DEFAULT_REC_HEIGHT = 48
#: What PaddleOCR feeds its networks (BGR pixels / 255, then these per channel).
DET_NORM = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
REC_NORM = {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
CHARSET_FILE = "charset.txt"
#: Default names: ``paddle-1``, ``paddle-2``...
NAME_PREFIX = "paddle"

Progress = Callable[[int, int, str], None]


class ImportRefused(ProofdeskError):
    """A file is not what ``import-paddle`` takes; the message is one line naming it and why."""


@dataclass
class Network:
    """One checked ONNX file: what its ``model.json`` will say."""

    path: Path
    sha256: str
    input_name: str
    opset: int
    producer: str
    #: Recognisers: input height, output classes, time stride, "probabilities" or "logits".
    height: int = 0
    classes: int = 0
    stride: int = 0
    output: str = "probabilities"
    notes: list[str] = field(default_factory=list)


def _dims(shape) -> list[Any]:
    """onnxruntime's shape with every dynamic dimension as None."""
    return [d if isinstance(d, int) and d > 0 else None for d in (shape or [])]


def _shape_text(dims: list[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _load(path: Path, what: str):
    """``(onnx model proto without weights, onnxruntime CPU session)``; ImportRefused when ``path``
    is not a self-contained ONNX model that onnxruntime loads."""
    import onnx

    from ml.neural import runtime

    if not path.is_file():
        raise ImportRefused(f"{what} {path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        if not proto.graph.node or not proto.graph.input:
            raise ValueError("no graph")
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: not an ONNX file
        raise ImportRefused(f"{what} {path} is not an ONNX model ({type(exc).__name__}: {str(exc)[:120]})") from None
    external = [t.name for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ImportRefused(f"{what} {path} keeps its weights in external files ({external[0]}...): export it as one "
                            "file")
    try:
        sess = runtime.create_session(path, "cpu", 0)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's refusal, whatever its type
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise ImportRefused(f"{what} {path} does not load in onnxruntime (...{why[-200:]})") from None
    return proto, sess


def _network(path: Path, proto, sess) -> Network:
    from ml.neural.models import sha256_file

    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    producer = " ".join(x for x in (proto.producer_name, proto.producer_version) if x)
    return Network(path, sha256_file(path), sess.get_inputs()[0].name, opset, producer)


def _one_input(sess, what: str, path: Path, want: str) -> list[Any]:
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ImportRefused(f"{what} {path} takes {len(inputs)} inputs; a PP-OCR {want} takes one")
    if inputs[0].type != "tensor(float)":
        raise ImportRefused(f"{what} {path} takes {inputs[0].type}; a PP-OCR {want} takes tensor(float)")
    return _dims(inputs[0].shape)


def _run(sess, x: np.ndarray, what: str, path: Path) -> np.ndarray:
    try:
        out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    except Exception as exc:  # noqa: BLE001
        raise ImportRefused(f"{what} {path} fails on a {_shape_text(list(x.shape))} input "
                            f"({str(exc).splitlines()[0][:160]})") from None
    out = np.asarray(out)
    if not np.issubdtype(out.dtype, np.floating) or not np.isfinite(out).all():
        raise ImportRefused(f"{what} {path} gives non-finite or non-float output on a blank input")
    return out


def check_detector(path: str | Path) -> Network:
    """Check a PP-OCR text detector (DB): ``[N, 3, H, W]`` in, ``[N, 1, H, W]`` probabilities out."""
    path = Path(path)
    what = "detector"
    proto, sess = _load(path, what)
    dims = _one_input(sess, what, path, what)
    if len(dims) != 4 or dims[1] not in (3, None):
        raise ImportRefused(f"{what} {path} takes input {_shape_text(dims)} (rank {len(dims)}); a PP-OCR detector "
                            "takes [N, 3, H, W]")
    if dims[2] in REC_HEIGHTS and dims[3] is None:
        raise ImportRefused(f"{what} {path} takes input {_shape_text(dims)}, lines {dims[2]} pixels high: a "
                            "recogniser (--rec), not a detector")
    if dims[2] is not None or dims[3] is not None:
        raise ImportRefused(f"{what} {path} takes a fixed page size {_shape_text(dims)}; export it with a dynamic "
                            "height and width ([-1, 3, -1, -1])")
    out = _run(sess, np.zeros((1, 3, 128, 160), np.float32), what, path)
    if out.ndim != 4 or out.shape[1] != 1 or out.shape[2:] != (128, 160):
        raise ImportRefused(f"{what} {path} gives {_shape_text(list(out.shape))} for a [1, 3, 128, 160] input; a "
                            "PP-OCR detector gives a probability map [1, 1, 128, 160]")
    if out.min() < -1e-4 or out.max() > 1 + 1e-4:
        raise ImportRefused(f"{what} {path} gives values outside 0..1: not a DB probability map")
    return _network(path, proto, sess)


def read_dictionary(path: str | Path) -> list[str]:
    """PaddleOCR's character dictionary: one character per line (a line may be a space), UTF-8
    (a byte-order mark is dropped). ImportRefused when unreadable or empty."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ImportRefused(f"dictionary {path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"dictionary {path} is not UTF-8 text (byte {exc.start})") from None
    # As PaddleOCR reads it: each line without its line break, nothing else stripped.
    chars = text.replace("\r\n", "\n").split("\n")
    if chars and chars[-1] == "":
        chars.pop()  # the file's last line break
    if not chars:
        raise ImportRefused(f"dictionary {path} is empty")
    if "\0" in text:
        raise ImportRefused(f"dictionary {path} holds NUL bytes: not a text file")
    # The model folder's charset.txt is read back line by line (ml.neural.models), where a line
    # separator of another kind (U+2028, U+0085, a lone CR...) would end a line too.
    odd = [i for i, c in enumerate(chars, 1) if c.splitlines() not in ([c], []) or "\r" in c]
    if odd:
        raise ImportRefused(f"dictionary {path}: line {odd[0]} holds a line-separator character "
                            f"({ascii(chars[odd[0] - 1])}), which a model folder's charset file cannot hold")
    return chars


def check_recognizer(path: str | Path, dictionary: str | Path) -> tuple[Network, list[str], bool]:
    """Check a PP-OCR CTC recogniser against its dictionary. Returns ``(network, characters,
    space_last)``: ``space_last`` when its classes are blank + characters + space."""
    path = Path(path)
    what = "recogniser"
    chars = read_dictionary(dictionary)
    proto, sess = _load(path, what)
    dims = _one_input(sess, what, path, what)
    if len(dims) != 4 or dims[1] not in (3, None):
        raise ImportRefused(f"{what} {path} takes input {_shape_text(dims)} (rank {len(dims)}); a PP-OCR recogniser "
                            "takes [N, 3, 48, W] (or [N, 3, 32, W])")
    if dims[2] is not None and dims[2] not in REC_HEIGHTS:
        raise ImportRefused(f"{what} {path} takes lines {dims[2]} pixels high; PP-OCR recognisers take 48 (or 32)")
    if dims[3] is not None:
        raise ImportRefused(f"{what} {path} takes a fixed line width ({dims[3]}); export it with a dynamic width "
                            f"([-1, 3, {dims[2] or DEFAULT_REC_HEIGHT}, -1])")
    net = _network(path, proto, sess)
    net.height = dims[2] or DEFAULT_REC_HEIGHT
    if dims[2] is None:
        net.notes.append(f"its input height is dynamic: {DEFAULT_REC_HEIGHT} assumed")
    width = 320
    out = _run(sess, np.zeros((1, 3, net.height, width), np.float32), what, path)
    if out.ndim != 3 or out.shape[0] != 1 or out.shape[1] < 1:
        raise ImportRefused(f"{what} {path} gives {_shape_text(list(out.shape))} for a [1, 3, {net.height}, {width}] "
                            "input; a PP-OCR recogniser gives [1, T, classes]")
    net.classes = int(out.shape[2])
    n = len(chars)
    if net.classes not in (n + 2, n + 1):
        raise ImportRefused(f"{what} {path} has {net.classes} output classes but dictionary {Path(dictionary)} has "
                            f"{n} characters: expected {n + 2} (blank + characters + space) or {n + 1} "
                            "(blank + characters); is it the model's own dictionary?")
    net.stride = max(1, int(round(width / out.shape[1])))
    final = [nd for nd in proto.graph.node if proto.graph.output[0].name in nd.output]
    softmax = bool(final) and final[0].op_type == "Softmax"
    sums = out.sum(axis=2)
    probabilities = softmax or (out.min() >= 0 and np.allclose(sums, 1.0, atol=1e-3))
    net.output = "probabilities" if probabilities else "logits"
    return net, chars, net.classes == n + 2


# -- the model version folder ---------------------------------------------------------------------


def _det_json(name: str, net: Network) -> dict:
    return {
        "id": f"{name}-det",
        "task": "detection",
        "architecture": "PaddleOCR text detector (DB), imported from ONNX",
        "file": "model.onnx",
        "sha256": net.sha256,
        "input": {"name": net.input_name, "layout": "NCHW", "channels": 3, "channel_order": "BGR",
                  "size_multiple": 32, "note": "height and width any multiple of 32"},
        "normalization": DET_NORM,
        "output": {"kind": "probabilities", "shape": "N x 1 x H x W", "meaning": "text-kernel probability per pixel"},
        "opset": net.opset,
        "source": f"imported by `proofdesk models import-paddle` from {net.path.name} (sha256 {net.sha256[:16]}...,"
                  f" {net.producer or 'producer unknown'})",
        "license": "",
    }


def _rec_json(name: str, net: Network, space_last: bool, dictionary: Path, dict_sha: str,
              chars: list[str] | None = None) -> dict:
    from ml.neural.recognizer import allowed_mask

    # A dictionary beyond the Latin alphabet (Chinese, Korean, Cyrillic...) is decoded in full: the
    # engines' default restriction to Latin characters would drop everything the model is for.
    latin_only = chars is None or bool(allowed_mask(["<blank>", *chars], "latin")[1:].all())
    return {
        **({} if latin_only else {"decode_charset": "all"}),
        "id": name,
        "task": "recognition",
        "architecture": "PaddleOCR text-line recogniser (CTC), imported from ONNX",
        "file": "model.onnx",
        "sha256": net.sha256,
        "input": {"name": net.input_name, "layout": "NCHW", "channels": 3, "channel_order": "BGR",
                  "height": net.height, "width": f"any; {net.stride} input columns per output time step",
                  "padding": "0 after normalisation (mid gray), on the right"},
        "normalization": REC_NORM,
        "charset": {"file": CHARSET_FILE, "blank_first": True, "space_last": space_last},
        "num_classes": net.classes,
        "output": {"kind": net.output, "shape": f"N x T x {net.classes}", "time_stride": net.stride},
        "opset": net.opset,
        "source": f"imported by `proofdesk models import-paddle` from {net.path.name} (sha256 {net.sha256[:16]}...,"
                  f" {net.producer or 'producer unknown'}) with the dictionary {dictionary.name} "
                  f"(sha256 {dict_sha[:16]}...)",
        "license": "",
    }


def _copy_file(src: Path, dest: Path, sha256: str | None = None) -> None:
    """Copy ``src`` to the new file ``dest``; with ``sha256``, refuse a file changed since it was checked."""
    from ml.neural.models import sha256_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as f, open(dest, "xb") as out:
        shutil.copyfileobj(f, out, 1 << 20)
    if sha256 is not None and sha256_file(dest) != sha256:
        raise ImportRefused(f"{src} changed while it was copied: import it again")


def _copy_recogniser(src: Path, dest: Path) -> None:
    """The recogniser files of a model folder (model.json without its file list, the ONNX file, the
    charset, the calibration fitted for it), checked against its sha256 first."""
    from ml.neural.models import load_spec

    spec = load_spec(src)  # the sha256 of its weights checked
    meta = dict(spec.raw)
    meta.pop(registry.MANIFEST_KEY, None)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / registry.MODEL_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _copy_file(spec.path, dest / spec.file, spec.sha256)
    cs = meta.get("charset")
    if isinstance(cs, dict) and cs.get("file"):
        _copy_file(src / cs["file"], dest / cs["file"])
    if (src / "calibration.json").is_file():
        _copy_file(src / "calibration.json", dest / "calibration.json")


def _copy_detector(src: Path, dest: Path) -> None:
    from ml.neural.models import load_spec

    spec = load_spec(src)
    meta = dict(spec.raw)
    meta.pop(registry.MANIFEST_KEY, None)
    dest.mkdir(parents=True)
    (dest / registry.MODEL_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _copy_file(spec.path, dest / spec.file, spec.sha256)


def _free_name(project, wanted: str | None) -> str:
    taken = {x for v in registry.versions(project.store) for x in (v.name, v.path)}
    models = project.root / "models"

    def free(n: str) -> bool:
        return n not in taken and f"models/{n}" not in taken and not os.path.lexists(models / n)

    if wanted is not None:
        registry.check_name(wanted)
        if not free(wanted):
            raise ImportRefused(f"a model version named {wanted} is here already (or models/{wanted} exists): "
                                "choose another --name")
        return wanted
    n = 1
    while not free(f"{NAME_PREFIX}-{n}"):
        n += 1
    return f"{NAME_PREFIX}-{n}"


# -- evaluation -----------------------------------------------------------------------------------


class _Report:
    """What ``ml.training.worker.evaluate_pages`` reports progress to."""

    def __init__(self, progress: Progress | None):
        self._progress = progress

    def progress(self, stage: str, done: int, total: int, **extra: Any) -> None:
        if self._progress is not None:
            self._progress(done, total, f"{stage} {extra.get('model', '')}".strip())


def evaluation_pages(store, pages: int) -> dict[str, list[dict]]:
    """The finished pages (done or approved) an imported model is read on: ``{image sha256: [people's
    lines]}``, at most ``pages`` of them (in image-hash order: a fixed, unbiased sample)."""
    by_page: dict[str, list[dict]] = {}
    for s in datasets.select_samples(store, "done"):
        by_page.setdefault(s.image_sha256, []).append(s.to_json())
    return {sha: by_page[sha] for sha in sorted(by_page)[: max(0, pages)]}


def evaluate(project, new_folder: Path, cmp_folder: Path, pages: int = DEFAULT_PAGES, device: str = "auto",
             threads: int = 0, progress: Progress | None = None) -> dict:
    """The new model version (``new_folder``) against ``cmp_folder`` on the project's finished pages,
    as a training run compares its model with the active one: the people's lines cut from the pages
    and read by both recognisers (``val_cer``, ``active_val_cer``...), then the pages read end to
    end by the combined engine with each (``val_typing_saved``, ``val_recall``, ``val_ece`` and the
    ``active_val_`` figures). ``{}`` when the project has no finished page."""
    from core.scoring import score_text
    from ml.neural import runtime
    from ml.neural.models import load_spec
    from ml.neural.recognizer import Recognizer
    from ml.training import data
    from ml.training.worker import evaluate_pages

    chosen = evaluation_pages(project.store, pages)
    if not chosen:
        return {}
    new_spec, cmp_spec = load_spec(new_folder), load_spec(cmp_folder)
    crops, texts = [], []
    cutter = Recognizer(new_spec, run=lambda x: x)  # cropping only: the same cut for both models
    for sha, lines in chosen.items():
        img = data.load_page(project.images.path(sha))
        if img is None:
            continue
        for c, s in zip(cutter.crops(img, [s["points"] for s in lines]), lines):
            if c is not None:
                crops.append(c)
                texts.append(s["text"])
    figures: dict[str, Any] = {}
    for n, (key, spec) in enumerate((("val", new_spec), ("active_val", cmp_spec))):
        if progress is not None:
            progress(n, 2, f"lines {key}")
        r = Recognizer(spec, runtime.create_session(spec.path, device, threads))
        s = score_text(zip(texts, (d.text for d in r.read(crops)))).summary()
        figures[f"{key}_cer"] = s["cer_cs"]
        figures[f"{key}_cer_ci"] = s["cer_ci"]
        figures[f"{key}_exact"] = s["exact_cs"]
    figures["val_lines"] = len(texts)
    manifest = {"val": [s for lines in chosen.values() for s in lines]}
    figures.update(evaluate_pages(project, manifest, new_folder, cmp_folder, device=device, threads=threads,
                                  report=_Report(progress)))
    return figures


#: The verdict of a version that could not be read on any page.
NOT_EVALUATED = "not evaluated: the project has no page done or approved"


def verdict(figures: dict) -> str:
    """``runs.BETTER`` when the new version is no worse than the one it was compared with on either
    figure (line CER, typing saved end to end) and better on one; else ``runs.NOT_BETTER``. (A
    detector imported alone keeps the recogniser, hence the CER: it is judged on typing saved.)"""
    pairs = [(figures.get("val_cer"), figures.get("active_val_cer"), -1),
             (figures.get("val_typing_saved"), figures.get("active_val_typing_saved"), 1)]
    pairs = [(a, b, sign) for a, b, sign in pairs if a is not None and b is not None]
    if not pairs:
        return NOT_EVALUATED
    worse = any(sign * (a - b) < -1e-9 for a, b, sign in pairs)
    better = any(sign * (a - b) > 1e-9 for a, b, sign in pairs)
    return runs.BETTER if better and not worse else runs.NOT_BETTER


# -- the import -----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    version: registry.ModelVersion
    verdict: str
    figures: dict
    compared_with: str
    notes: list[str]
    seconds: float


def import_paddle(project, user: str, det: str | Path | None = None, rec: str | Path | None = None,
                  dictionary: str | Path | None = None, name: str | None = None, pages: int = DEFAULT_PAGES,
                  device: str = "auto", threads: int = 0, progress: Progress | None = None) -> ImportResult:
    """Check the files, write ``models/<name>/``, evaluate it against the active model on the
    project's finished pages (``pages`` of them at most; 0: not evaluated), register it (never
    promoted). Raises :class:`ImportRefused` (one line) with nothing written."""
    from ml.neural.models import sha256_file
    from ml.training.active import active_model, detector_of

    t0 = time.monotonic()
    if det is None and rec is None:
        raise ImportRefused("import-paddle needs --det DET.onnx, --rec REC.onnx (with --dict), or both")
    if rec is not None and dictionary is None:
        raise ImportRefused("--rec needs --dict: the character dictionary the recogniser was trained with")
    if rec is None and dictionary is not None:
        raise ImportRefused("--dict goes with --rec (the recogniser it belongs to)")
    det_net = check_detector(det) if det is not None else None
    rec_checked = check_recognizer(rec, dictionary) if rec is not None else None
    name = _free_name(project, name)

    now = active_model(project)  # the model it is compared with, and the parts not imported come from
    active = now.version
    active_folder = now.folder if active is not None else None
    models = project.root / "models"
    if models.is_symlink() or (models.exists() and not models.is_dir()):
        raise ImportRefused(f"{models} is not a folder of this project (a link?): nothing imported")
    notes: list[str] = []
    created = not models.exists()
    tmp = models / f".{name}.import"
    dest = models / name
    try:
        models.mkdir(exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # what an import killed half-way left
        tmp.mkdir()
        if rec_checked is not None:
            net, chars, space_last = rec_checked
            notes += net.notes
            dict_sha = sha256_file(dictionary)
            (tmp / CHARSET_FILE).write_text("".join(c + "\n" for c in chars), encoding="utf-8")
            _copy_file(net.path, tmp / "model.onnx", net.sha256)
            (tmp / registry.MODEL_JSON).write_text(
                json.dumps(_rec_json(name, net, space_last, Path(dictionary), dict_sha, chars), indent=2,
                           ensure_ascii=False)
                + "\n", encoding="utf-8")
        else:  # a detector alone: with the recogniser it is used with now
            _copy_recogniser(now.folder, tmp)
            notes.append(f"recogniser: {now.name}'s, as it is")
        if det_net is not None:
            (tmp / "det").mkdir()
            _copy_file(det_net.path, tmp / "det" / "model.onnx", det_net.sha256)
            (tmp / "det" / registry.MODEL_JSON).write_text(json.dumps(_det_json(name, det_net), indent=2) + "\n",
                                                           encoding="utf-8")
        elif active_folder is not None and detector_of(active_folder) is not None:
            _copy_detector(Path(detector_of(active_folder)[0]), tmp / "det")
            notes.append(f"detector: {active.name}'s, as it is")
        registry.write_manifest(tmp)
        listed = registry.verify_folder(tmp)
        same = _same_as(project, listed)
        if same is not None:
            raise ImportRefused(f"model version {same} holds these very networks already: nothing imported")

        cmp_folder, cmp_name = now.folder, now.name
        te = time.monotonic()
        figures = evaluate(project, tmp, cmp_folder, pages, device, threads, progress) if pages > 0 else {}
        if not figures:
            notes.append("not evaluated: " + ("--pages 0" if pages <= 0 else "the project has no page done or approved"))
        result = verdict(figures)
        metrics = {**figures, "compared_with": cmp_name, "verdict": result, "source": "import-paddle",
                   "imported": {k: v for k, v in {
                       "det": {"file": str(det), "sha256": det_net.sha256} if det_net else None,
                       "rec": {"file": str(rec), "sha256": rec_checked[0].sha256, "classes": rec_checked[0].classes,
                               "dictionary": str(dictionary), "characters": len(rec_checked[1]),
                               "space_last": rec_checked[2]} if rec_checked else None}.items() if v},
                   "eval_seconds": round(time.monotonic() - te, 1)}
        project.store.check_file()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(models, ignore_errors=True)
        raise
    try:
        project.publish(f"models/{name}")  # a team project: the version goes to the server
        version = registry.register(project.store, user, name, registry.RECOGNITION, f"models/{name}",
                                    listed["model.onnx"], metrics, parent_id=active.id if active else None)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return ImportResult(version, result, figures, cmp_name, notes, time.monotonic() - t0)


def _same_as(project, listed: dict[str, str]) -> str | None:
    """The name of a registered version with the same recogniser and detector weights, if any."""
    want = (listed.get("model.onnx"), listed.get("det/model.onnx"))
    for v in registry.versions(project.store):
        if v.sha256 != want[0]:
            continue
        try:
            theirs = json.loads((project.local(v.path) / registry.MODEL_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (theirs.get(registry.MANIFEST_KEY) or {}).get("det/model.onnx") == want[1]:
            return v.name
    return None
