"""The trainable part of the recogniser: the graph module split after its backbone.

:class:`ml.neural.torch_model.OnnxGraphModule` runs the graph's nodes in order. The PP-OCR
recogniser is a convolutional backbone (PP-LCNetV3, ending in an average pool to height 1),
a sequence neck (SVTR: convolutions and two transformer blocks) and a linear CTC head. Its
only tensor that crosses from the backbone to the rest is the pooled feature map, so the
network splits there: :class:`Tail` runs the nodes after it with the same parameters (they are
shared with the full module, so exporting the full module exports the trained weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: Where the backbone of the PP-OCRv5 recogniser ends (N x 480 x 1 x T).
DEFAULT_SPLIT = "/AveragePool_output_0"
#: Where the backbone's last block starts (``freeze="backbone_last"``: that block trains too).
LAST_BLOCK_SPLIT = "/Add_16_output_0"


def split_index(net: Any, split: str = DEFAULT_SPLIT) -> int:
    """Index of the first node after ``split``; checks only constants and ``split`` cross the cut."""
    idx = next((i for i, n in enumerate(net.nodes) if n[2][0] == split), None)
    if idx is None:
        raise ValueError(f"the recogniser graph has no tensor {split!r} to split at")
    produced = {net.input_name} | {o for n in net.nodes[: idx + 1] for o in n[2]}
    crossing = {i for n in net.nodes[idx + 1 :] for i in n[1] if i in produced}
    static = {o for n in _constant_nodes(net, idx + 1) for o in n[2]}
    if crossing - {split} - static:
        raise ValueError(f"tensors other than {split} cross the split: {sorted(crossing - {split} - static)[:5]}")
    return idx + 1


def _constant_nodes(net: Any, start: int) -> list:
    """Nodes before ``start`` computed from constants only (shape helpers the tail needs too)."""
    dynamic = {net.input_name}
    out = []
    for n in net.nodes[:start]:
        if any(i in dynamic for i in n[1]):
            dynamic.update(n[2])
        else:
            out.append(n)
    return out


class Tail(nn.Module):
    """The nodes of ``net`` from ``start`` on, fed the split tensor: features -> logits."""

    def __init__(self, net: Any, split: str = DEFAULT_SPLIT):
        super().__init__()
        self.net = net
        self.split = split
        self.start = split_index(net, split)
        self.nodes = _constant_nodes(net, self.start) + net.nodes[self.start :]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net.run_nodes({self.split: feats}, self.nodes)


def trainable_parameters(net: Any, start: int) -> list[tuple[str, nn.Parameter]]:
    """Parameters the nodes from ``start`` on use (the others are frozen)."""
    used = {i for n in net.nodes[start:] for i in n[1]}
    keys = {net._tensor_keys[i][1] for i in used if i in net._tensor_keys and net._tensor_keys[i][0] == "param"}
    return [(k, p) for k, p in net.params.items() if k in keys]


def freeze(net: Any, start: int | None) -> list[nn.Parameter]:
    """Freeze the backbone (``start`` = split index) or nothing (None); returns the parameters to train."""
    if start is None:
        params = list(net.params.values())
    else:
        params = [p for _, p in trainable_parameters(net, start)]
    keep = {id(p) for p in params}
    for p in net.params.values():
        p.requires_grad_(id(p) in keep)
    return params
