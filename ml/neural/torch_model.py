"""The recogniser as a PyTorch module: loads the shipped ONNX weights, returns logits, exports to ONNX.

    net = load_recognizer("ppocrv5-base")            # torch.nn.Module, eval mode, logits out
    logits = net(batch)                               # N x 3 x 48 x W -> N x T x C
    export_onnx(net, "models/v2/rec", base=spec)     # model.onnx + model.json (with sha256)

The PP-OCRv5 recogniser ships as an ONNX graph of ~25 standard operators
(convolutions, batch norms, hard-swish, a small SVTR transformer). Rather than
a converter package (onnx2torch would pull in torchvision and a CUDA build of
torch on a plain ``pip install``), :class:`OnnxGraphModule` runs the graph's
nodes in order with torch operations: every float weight of the graph becomes
an ``nn.Parameter`` (batch-norm statistics are buffers), so the network
trains like any other module and ``torch.onnx.export`` turns it back into a
graph. The shipped graph ends with a Softmax; the module stops before it, so
it returns logits, and a CTC loss or :func:`ml.neural.ctc.decode_greedy`
(``logits=True``) takes them as they are.

``classes`` keeps only some output classes (rows of the last linear layer):
a Latin-only head is what fine-tuning on receipts needs, and it makes the
last layer and the decoding cheaper. The log-softmax over the kept classes
equals the shipped model's probabilities renormalised over them.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from ml.neural.models import ModelError, ModelSpec, load_spec, model_dir, sha256_file

# Batch-norm inputs 3 and 4 are running statistics, not trainable weights.
_BN_STATS = (3, 4)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _key(name: str) -> str:
    return re.sub(r"\W", "_", name)


class OnnxGraphModule(nn.Module):
    """Run an ONNX graph (one input, one output) with torch ops; its float constants are parameters.

    Supports the operators of the PP-OCR recognisers; an unknown operator
    raises ``NotImplementedError`` when the module is built, not at run time.
    """

    OPS = {
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Relu", "Sigmoid", "HardSigmoid", "HardSwish", "MatMul",
        "Conv", "BatchNormalization", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Shape",
        "Concat", "Softmax", "ReduceMean", "GlobalAveragePool", "AveragePool", "Identity", "Flatten",
        "Clip", "Equal", "Where", "Gather",  # what torch.onnx.export writes for the same network
        "Resize", "ConvTranspose",  # the PP-OCR detector's neck and DB head
    }

    def __init__(self, graph: onnx.GraphProto, output: str | None = None):
        super().__init__()
        self.input_name = graph.input[0].name
        self.output_name = output or graph.output[0].name
        consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        nodes = []
        for n in graph.node:
            if n.op_type == "Constant":
                consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
            elif n.op_type not in self.OPS:
                raise NotImplementedError(f"ONNX operator {n.op_type} ({n.name})")
            else:
                nodes.append(n)
        stats = {n.input[i] for n in nodes if n.op_type == "BatchNormalization" for i in _BN_STATS}
        # Resize's roi / scales / sizes are float or int constants that say how, not weights.
        static = {i for n in nodes if n.op_type == "Resize" for i in n.input[1:] if i}
        self.params = nn.ParameterDict()
        self._ints: dict[str, np.ndarray] = {}  # shapes, axes: plain constants, never traced
        self._tensor_keys: dict[str, tuple[str, str]] = {}  # onnx name -> ("param"|"buffer", key)
        used = {i for n in nodes for i in n.input}
        for name, arr in consts.items():
            if name not in used:
                continue
            if arr.dtype.kind != "f" or name in static:
                self._ints[name] = arr
            elif name in stats or arr.ndim == 0:
                self.register_buffer("b_" + _key(name), torch.from_numpy(arr.copy()))
                self._tensor_keys[name] = ("buffer", "b_" + _key(name))
            else:
                self.params[_key(name)] = nn.Parameter(torch.from_numpy(arr.copy()))
                self._tensor_keys[name] = ("param", _key(name))
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in nodes]

    # -- values
    def _const(self, name: str) -> Any:
        kind, key = self._tensor_keys[name]
        return self.params[key] if kind == "param" else getattr(self, key)

    def _ints_of(self, v: Any) -> list[int]:
        return [int(i) for i in np.asarray(v).reshape(-1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_nodes({self.input_name: x}, self.nodes)

    def run_nodes(self, env: dict[str, Any], nodes: list) -> torch.Tensor:
        """Run ``nodes`` (a part of the graph, in order) on the tensors in ``env`` (by name) and
        this module's constants; return the output. The training tail runs its part this way."""

        def get(name: str) -> Any:
            if not name:
                return None
            if name in env:
                return env[name]
            if name in self._ints:
                return self._ints[name]
            return self._const(name)

        for op, ins, outs, at in nodes:
            env[outs[0]] = self._run(op, [get(i) for i in ins], at)
            if outs[0] == self.output_name:
                break
        return env[self.output_name]

    # -- operators
    def _run(self, op: str, a: list[Any], at: dict[str, Any]) -> Any:  # noqa: C901 - a dispatch table
        if op in ("Add", "Sub", "Mul", "Div", "Pow"):
            x, y = (torch.as_tensor(np.array(v)) if isinstance(v, np.ndarray) else v for v in a)
            return {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow}[op](x, y)
        if op == "Sqrt":
            return torch.sqrt(a[0])
        if op == "Relu":
            return F.relu(a[0])
        if op == "Sigmoid":
            return torch.sigmoid(a[0])
        if op == "HardSigmoid":
            return torch.clamp(a[0] * at.get("alpha", 0.2) + at.get("beta", 0.5), 0.0, 1.0)
        if op == "HardSwish":
            return F.hardswish(a[0])
        if op == "MatMul":
            return torch.matmul(a[0], a[1])
        if op == "Identity":
            return a[0]
        if op == "Clip":
            lo = a[1] if len(a) > 1 and a[1] is not None else at.get("min")
            hi = a[2] if len(a) > 2 and a[2] is not None else at.get("max")
            # Bounds that are tensors (buffers: on the model's device, maybe a GPU) stay tensors;
            # reading them back as numbers (np.asarray) fails on any device but the CPU.
            lo = float(np.asarray(lo)) if isinstance(lo, (np.ndarray, int, float)) else lo
            hi = float(np.asarray(hi)) if isinstance(hi, (np.ndarray, int, float)) else hi
            if torch.is_tensor(lo) != torch.is_tensor(hi) and lo is not None and hi is not None:
                ref = lo if torch.is_tensor(lo) else hi  # clamp takes two numbers or two tensors
                lo, hi = (torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (lo, hi))
            return torch.clamp(a[0], lo, hi)
        if op == "Equal":
            x, y = (torch.as_tensor(np.array(v)) if isinstance(v, np.ndarray) else v for v in a)
            return torch.eq(x, y)
        if op == "Where":
            c, x, y = (torch.as_tensor(np.array(v)) if isinstance(v, np.ndarray) else v for v in a)
            return torch.where(c, x, y)
        if op == "Gather":
            x = torch.as_tensor(np.array(a[0])) if isinstance(a[0], np.ndarray) else a[0]
            idx = a[1]
            if isinstance(idx, np.ndarray) and idx.ndim == 0:
                return x.select(int(at.get("axis", 0)), int(idx))
            idx = torch.as_tensor(np.array(idx)) if isinstance(idx, np.ndarray) else idx
            return torch.index_select(x, int(at.get("axis", 0)), idx.reshape(-1)).reshape(
                x.shape[: int(at.get("axis", 0))] + idx.shape + x.shape[int(at.get("axis", 0)) + 1 :])
        if op == "Conv":
            pads = list(at.get("pads", [0, 0, 0, 0]))
            x = a[0]
            if pads[:2] != pads[2:]:
                x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]])
                pads = [0, 0, 0, 0]
            return F.conv2d(x, a[1], a[2] if len(a) > 2 else None, stride=tuple(at.get("strides", [1, 1])),
                            padding=tuple(pads[:2]), dilation=tuple(at.get("dilations", [1, 1])),
                            groups=int(at.get("group", 1)))
        if op == "ConvTranspose":
            pads = list(at.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:] or at.get("output_shape") or at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise NotImplementedError("ConvTranspose with asymmetric pads, output_shape or auto_pad")
            return F.conv_transpose2d(a[0], a[1], a[2] if len(a) > 2 else None,
                                      stride=tuple(at.get("strides", [1, 1])), padding=tuple(pads[:2]),
                                      output_padding=tuple(at.get("output_padding", [0, 0])),
                                      groups=int(at.get("group", 1)), dilation=tuple(at.get("dilations", [1, 1])))
        if op == "Resize":
            mode = at.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            ctm = at.get("coordinate_transformation_mode", b"half_pixel")
            ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
            scales = a[2] if len(a) > 2 and a[2] is not None and np.asarray(a[2]).size else None
            sizes = a[3] if len(a) > 3 and a[3] is not None else None
            if mode != "nearest" or ctm != "asymmetric" or scales is None or sizes is not None:
                raise NotImplementedError(f"Resize mode={mode} coordinate_transformation_mode={ctm} (nearest, "
                                          "asymmetric, by scales is what the detector uses)")
            sc = [float(v) for v in np.asarray(scales).reshape(-1)]
            if sc[:2] != [1.0, 1.0] or any(v != int(v) for v in sc[2:]):
                raise NotImplementedError(f"Resize scales {sc}")
            # Whole-number scales: nearest, asymmetric, floor is each pixel repeated.
            return F.interpolate(a[0], scale_factor=tuple(sc[2:]), mode="nearest")
        if op == "BatchNormalization":
            return F.batch_norm(a[0], a[3], a[4], a[1], a[2], training=False, eps=float(at.get("epsilon", 1e-5)))
        if op == "GlobalAveragePool":
            return a[0].mean(dim=(2, 3), keepdim=True)
        if op == "AveragePool":
            pads = list(at.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:]:
                raise NotImplementedError("asymmetric AveragePool padding")
            return F.avg_pool2d(a[0], tuple(at["kernel_shape"]), tuple(at.get("strides", at["kernel_shape"])),
                                tuple(pads[:2]), ceil_mode=bool(at.get("ceil_mode", 0)),
                                count_include_pad=bool(at.get("count_include_pad", 0)))
        if op == "ReduceMean":
            axes = at.get("axes")
            if axes is None and len(a) > 1 and a[1] is not None:
                axes = self._ints_of(a[1])
            return a[0].mean(dim=tuple(axes), keepdim=bool(at.get("keepdims", 1)))
        if op == "Softmax":
            return torch.softmax(a[0], dim=int(at.get("axis", -1)))
        if op == "Transpose":
            return a[0].permute(*at["perm"])
        if op == "Flatten":
            return torch.flatten(a[0], int(at.get("axis", 1)))
        if op == "Shape":
            shape = torch._shape_as_tensor(a[0])
            return shape[at.get("start", 0) : at.get("end", None)]
        if op in ("Squeeze", "Unsqueeze"):
            x = a[0]
            axes = self._ints_of(a[1]) if len(a) > 1 else list(at.get("axes", []))
            if isinstance(x, np.ndarray):
                return np.squeeze(x, tuple(axes)) if op == "Squeeze" else np.expand_dims(x, tuple(axes))
            if op == "Squeeze":  # select, not squeeze: it exports without an If on dynamic sizes
                for ax in sorted((ax % x.dim() for ax in axes), reverse=True):
                    x = x.select(ax, 0)
                return x
            for ax in sorted(axes):
                x = x.unsqueeze(ax)
            return x
        if op == "Slice":
            x = a[0]
            starts, ends = self._ints_of(a[1]), self._ints_of(a[2])
            axes = self._ints_of(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
            steps = self._ints_of(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
            if isinstance(x, np.ndarray):
                x = torch.as_tensor(np.array(x))
            idx: list[Any] = [slice(None)] * x.dim()
            for s, e, ax, st in zip(starts, ends, axes, steps):
                idx[ax] = slice(s, None if e >= 2**62 else e, st)
            return x[tuple(idx)]
        if op == "Concat":
            parts = [torch.as_tensor(np.array(v)) if isinstance(v, np.ndarray) else v for v in a]
            parts = [v.reshape(1) if v.dim() == 0 else v for v in parts]
            return torch.cat(parts, dim=int(at.get("axis", 0)))
        if op == "Reshape":
            x, shape = a
            if isinstance(shape, np.ndarray):  # constant target: 0 copies the input's dimension
                dims = [x.shape[i] if v == 0 else int(v) for i, v in enumerate(shape.tolist())]
                return x.reshape(dims)
            from torch.onnx import operators

            m = min(int(shape.shape[0]), x.dim())  # a computed target may hold 0s too
            copy = torch.cat([torch._shape_as_tensor(x)[:m], shape[m:]])
            shape = torch.where(shape == 0, copy, shape)
            return operators.reshape_from_tensor_shape(x, shape)
        raise NotImplementedError(op)  # pragma: no cover - __init__ refuses unknown ops


def _head(model: onnx.ModelProto) -> tuple[str, str, str, str]:
    """Names around the final ``MatMul(x, W) + b -> Softmax``: (logits, W, b, softmax output)."""
    by_out = {o: n for n in model.graph.node for o in n.output}
    out = model.graph.output[0].name
    sm = by_out.get(out)
    if sm is None or sm.op_type != "Softmax":
        raise ModelError("expected the recogniser graph to end with Softmax")
    add = by_out[sm.input[0]]
    mm = by_out.get(add.input[0])
    if add.op_type != "Add" or mm is None or mm.op_type != "MatMul":
        raise ModelError("expected MatMul + Add before the final Softmax")
    return sm.input[0], mm.input[1], add.input[1], out


def load_recognizer(model: str | Path | ModelSpec = "ppocrv5-base", classes: Sequence[int] | None = None,
                    fold: bool = False) -> OnnxGraphModule:
    """The recogniser of a model (bundled id, model folder or rec spec) as a torch module giving logits.

    The weights are read only after the sha256 check. ``classes``: keep only
    these output classes, in this order (index 0 should be the CTC blank).
    ``fold``: fold the affine operators into the convolutions first
    (``ml.neural.fold``; same outputs, faster, fewer parameters to train).
    """
    spec = model if isinstance(model, ModelSpec) else load_spec(model_dir(model, "rec"))
    proto = onnx.load(str(spec.path))
    if fold:
        from ml.neural.fold import fold_affine

        fold_affine(proto)
    if spec.output == "logits":
        net = OnnxGraphModule(proto.graph)
        w_name = None
    else:
        logits, w_name, b_name, _ = _head(proto)
        net = OnnxGraphModule(proto.graph, output=logits)
    if classes is not None:
        idx = torch.as_tensor(list(classes), dtype=torch.long)
        if w_name is None:  # an exported logits model: its last MatMul/Add
            mm = [n for n in net.nodes if n[0] == "MatMul"][-1]
            add = [n for n in net.nodes if n[0] == "Add" and n[1][0] == mm[2][0]][-1]
            w_name, b_name = mm[1][1], add[1][1]
        w, b = net._const(w_name), net._const(b_name)
        with torch.no_grad():
            net.params[_key(w_name)] = nn.Parameter(w[:, idx].clone())
            net.params[_key(b_name)] = nn.Parameter(b[idx].clone())
    net.spec = spec  # type: ignore[attr-defined]
    return net.eval()


def export_onnx(module: nn.Module, folder: str | Path, base: ModelSpec, charset: Sequence[str] | None = None,
                meta: Mapping[str, Any] | None = None, opset: int = 17) -> Path:
    """Export ``module`` (logits out) to ``folder/model.onnx`` and write ``model.json`` with its sha256.

    ``base``: the spec whose input size and normalisation the module keeps;
    ``charset``: the module's classes (index 0 = blank; default: the base's);
    ``meta``: more model.json keys (id, source, metrics...). Batch and width
    are dynamic axes. Returns the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    height = base.input_height or 48
    dummy = torch.zeros(2, base.channels, height, 160)
    path = folder / "model.onnx"
    was_training = module.training
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # Shape arithmetic on constants warns that it is traced as constants: it is meant to be.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False: one self-contained file
        torch.onnx.export(module, (dummy,), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "steps"}},
                          opset_version=opset, dynamo=False)
    module.train(was_training)
    chars = list(charset if charset is not None else base.charset)
    (folder / "charset.txt").write_text("".join(c + "\n" for c in chars[1:]), encoding="utf-8")
    raw = base.raw
    doc = {
        "id": (meta or {}).get("id", folder.name),
        "task": "recognition",
        "architecture": raw.get("architecture", base.architecture),
        "file": "model.onnx",
        "sha256": sha256_file(path),
        "input": {**raw.get("input", {}), "name": "x", "height": height},
        "normalization": raw.get("normalization", {"mean": list(base.mean), "std": list(base.std)}),
        "charset": {"file": "charset.txt", "blank_first": True, "space_last": False},
        "num_classes": len(chars),
        "output": {"kind": "logits", "shape": f"N x T x {len(chars)}",
                   "time_stride": raw.get("output", {}).get("time_stride", 8)},
        "opset": opset,
        "exported_by": "ml.neural.torch_model.export_onnx",
        **{k: v for k, v in (meta or {}).items() if k != "id"},
    }
    (folder / "model.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def derive_latin(model: str | Path = "ppocrv5-base", out: str | Path | None = None) -> Path:
    """Write ``<model>/rec-latin``: the recogniser with a Latin-only head, logits out, folded (reproducible).

    The classes kept are those of ``ml.neural.recognizer.allowed_mask(charset, "latin")``
    (blank, ASCII, Latin-1, a few typographic signs, space), in the original order.
    """
    from ml.neural.recognizer import allowed_mask

    spec = load_spec(model_dir(model, "rec"))
    classes = np.flatnonzero(allowed_mask(spec.charset, "latin")).tolist()
    net = load_recognizer(spec, classes=classes, fold=True)
    folder = Path(out) if out else spec.folder.parent / "rec-latin"
    meta = {
        "id": f"{spec.raw.get('id', 'rec')}-latin",
        "architecture": spec.architecture.replace("(softmax in the graph)", "(logits out)"),
        "source": f"derived from {spec.raw.get('id', spec.folder)} (sha256 {spec.sha256[:16]}...) by "
                  "`python -m ml.neural.torch_model`: the classifier rows of the Latin classes kept, "
                  "the final Softmax dropped, affine operators folded into the convolutions "
                  "(ml.neural.fold); exported from ml.neural.torch_model",
        "license": spec.raw.get("license", ""),
        "notice": spec.raw.get("notice", ""),
    }
    return export_onnx(net, folder, spec, charset=[spec.charset[i] for i in classes], meta=meta)


if __name__ == "__main__":  # python -m ml.neural.torch_model [MODEL_ID_OR_FOLDER]
    import sys

    print(derive_latin(*(sys.argv[1:2] or ["ppocrv5-base"])))
