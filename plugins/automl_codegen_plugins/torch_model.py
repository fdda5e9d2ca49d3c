"""Build a runnable ``torch.nn.Module`` straight from an :class:`Architecture`.

The search trains and profiles these interpreted models; the PyTorch emitter writes the
same network out as source. Both register one submodule per parameterised node under
the node's name, so a state dict trained here loads into the emitted code with
``load_state_dict(strict=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name every PyTorch reader expects
from torch import nn

from automl_codegen import Architecture, ArchitectureError, Node

__all__ = ["GraphModule", "build_model"]

Tensor = torch.Tensor
_Function = Callable[[Sequence[Tensor], Mapping[str, Any]], Tensor]


def _zero(x: Tensor, stride: int) -> Tensor:
    if stride != 1:
        # Subsample L of (N, C, L), or H and W of (N, C, H, W).
        x = x[:, :, ::stride] if x.dim() == 3 else x[:, :, ::stride, ::stride]
    return torch.zeros_like(x)


def _global_avg_pool(x: Tensor) -> Tensor:
    # The mean over L of (N, C, L) or over H and W of (N, C, H, W).
    return x.mean(dim=2) if x.dim() == 3 else x.mean(dim=(2, 3))


def _add(xs: Sequence[Tensor]) -> Tensor:
    # Left to right, like ``a + b + c`` in emitted code, so results agree bit for bit.
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


#: Parameter-free ops, computed functionally from their inputs and resolved attributes.
FUNCTIONS: dict[str, _Function] = {
    "relu": lambda xs, a: F.relu(xs[0]),
    "relu6": lambda xs, a: F.relu6(xs[0]),
    "sigmoid": lambda xs, a: torch.sigmoid(xs[0]),
    "hardswish": lambda xs, a: F.hardswish(xs[0]),
    "silu": lambda xs, a: F.silu(xs[0]),
    "gelu": lambda xs, a: F.gelu(xs[0]),
    "tanh": lambda xs, a: torch.tanh(xs[0]),
    "max_pool2d": lambda xs, a: F.max_pool2d(xs[0], a["kernel_size"], a["stride"], a["padding"]),
    "avg_pool2d": lambda xs, a: F.avg_pool2d(
        xs[0],
        a["kernel_size"],
        a["stride"],
        a["padding"],
        count_include_pad=a["count_include_pad"],
    ),
    "max_pool1d": lambda xs, a: F.max_pool1d(xs[0], a["kernel_size"], a["stride"], a["padding"]),
    "avg_pool1d": lambda xs, a: F.avg_pool1d(
        xs[0],
        a["kernel_size"],
        a["stride"],
        a["padding"],
        count_include_pad=a["count_include_pad"],
    ),
    "global_avg_pool": lambda xs, a: _global_avg_pool(xs[0]),
    "flatten": lambda xs, a: torch.flatten(xs[0], 1),
    "identity": lambda xs, a: xs[0],
    "zero": lambda xs, a: _zero(xs[0], a["stride"]),
    "crop2d": lambda xs, a: xs[0][
        :, :, a["top"] : xs[0].shape[2] - a["bottom"], a["left"] : xs[0].shape[3] - a["right"]
    ],
    "add": lambda xs, a: _add(xs),
    "concat": lambda xs, a: torch.cat(list(xs), dim=1),
}


def _make_module(arch: Architecture, node: Node, a: Mapping[str, Any]) -> nn.Module | None:
    """The submodule of a parameterised node; ``None`` for ops computed functionally."""
    op = node.op
    if op == "conv2d":
        return nn.Conv2d(
            a["in_channels"],
            a["out_channels"],
            a["kernel_size"],
            stride=a["stride"],
            padding=a["padding"],
            dilation=a["dilation"],
            groups=a["groups"],
            bias=a["bias"],
        )
    if op == "conv1d":
        return nn.Conv1d(
            a["in_channels"],
            a["out_channels"],
            a["kernel_size"],
            stride=a["stride"],
            padding=a["padding"],
            dilation=a["dilation"],
            groups=a["groups"],
            bias=a["bias"],
        )
    if op == "depthwise_conv2d":
        c = a["channels"]
        return nn.Conv2d(
            c,
            c,
            a["kernel_size"],
            stride=a["stride"],
            padding=a["padding"],
            dilation=a["dilation"],
            groups=c,
            bias=a["bias"],
        )
    if op == "batchnorm2d":
        return nn.BatchNorm2d(a["num_features"], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])
    if op == "batchnorm1d":
        return nn.BatchNorm1d(a["num_features"], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])
    if op == "layer_norm":
        return nn.LayerNorm(a["num_features"], eps=a["eps"], elementwise_affine=a["affine"])
    if op == "linear":
        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])
    if op == "dropout":
        return nn.Dropout(a["p"])
    if op == "block":
        block = arch.block_map[node.block]
        return GraphModule(arch, block.nodes, block.inputs, block.output, a)
    if op not in FUNCTIONS:
        msg = f"node {node.name!r}: the torch builder does not know op {op!r}"
        raise ArchitectureError(msg)
    return None


class GraphModule(nn.Module):
    """Runs one graph of an architecture: the network itself or one block call.

    Args:
        arch: the architecture the graph belongs to (for the blocks it calls).
        nodes: the graph's nodes in topological order.
        inputs: names of the graph's inputs, in the order ``forward`` takes them.
        output: the node whose value ``forward`` returns.
        params: the block parameters bound by the calling node (empty for the network).
    """

    def __init__(
        self,
        arch: Architecture,
        nodes: Sequence[Node],
        inputs: Sequence[str],
        output: str,
        params: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        params = params or {}
        self._graph_inputs = tuple(inputs)
        self._graph_output = output
        self._steps: list[tuple[Node, dict[str, Any], tuple[str, ...]]] = []
        last_use = {ref: i for i, node in enumerate(nodes) for ref in node.inputs}
        for index, node in enumerate(nodes):
            values = {k: params[v] if isinstance(v, str) else v for k, v in node.attrs}
            module = _make_module(arch, node, values)
            if module is not None:
                if hasattr(self, node.name):
                    msg = f"node {node.name!r} would shadow the nn.Module attribute of that name; rename the node"
                    raise ArchitectureError(msg)
                self.add_module(node.name, module)
            # Values are dropped after their last use, so peak memory matches plain code.
            dead = tuple(sorted({r for r in node.inputs if last_use[r] == index} - {output}))
            self._steps.append((node, values, dead))

    def forward(self, *inputs: Tensor) -> Tensor:
        values = dict(zip(self._graph_inputs, inputs, strict=True))
        for node, attrs, dead in self._steps:
            args = [values[ref] for ref in node.inputs]
            if node.name in self._modules:
                values[node.name] = self._modules[node.name](*args)
            else:
                values[node.name] = FUNCTIONS[node.op](args, attrs)
            for ref in dead:
                del values[ref]
        return values[self._graph_output]


def build_model(arch: Architecture) -> GraphModule:
    """Build the network of ``arch`` as a module, freshly initialised and in train mode.

    Args:
        arch: a validated architecture.

    Returns:
        A module mapping ``(N, *input_shape)`` input (``(N, C, H, W)``, ``(N, C, L)`` or
        ``(N, F)``) to ``(N, num_classes)`` logits whose state dict has the keys of the
        code the PyTorch emitter writes.
    """
    return GraphModule(arch, arch.nodes, (Architecture.INPUT,), arch.output)
