"""Build a runnable ``torch.nn.Module`` straight from an :class:`Architecture`.

The search trains and profiles these interpreted models; the PyTorch emitter writes the
same network out as source. Both register one submodule per parameterised node under
the node's name, and hold repeated calls (``cell0``, ``cell1``, ... feeding each other)
in one container (``cells.0``, ``cells.1``, ...: see
:func:`automl_codegen_plugins.emitters._structure.repeats`), so a state dict trained
here loads into the emitted code with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name every PyTorch reader expects
from torch import nn

from automl_codegen import Architecture, ArchitectureError, Node

from .emitters._structure import Group, repeats

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
        groups: runs of calls that feed each other, each held in an ``nn.ModuleList``
            named after the run and called in a loop (the network's repeated cells).
            The module still answers to a call's node name: ``model.cell7`` is
            ``model.cells[7]``, for code that finds a node's module by its name.
    """

    def __init__(
        self,
        arch: Architecture,
        nodes: Sequence[Node],
        inputs: Sequence[str],
        output: str,
        params: Mapping[str, int] | None = None,
        groups: Sequence[Group] = (),
    ) -> None:
        super().__init__()
        params = params or {}
        self._graph_inputs = tuple(inputs)
        self._graph_output = output
        first = {group.members[0]: group for group in groups}
        grouped = {member for group in groups for member in group.members}
        self._members = {member: (group.name, i) for group in groups for i, member in enumerate(group.members)}
        by_name = {node.name: node for node in nodes}
        # Each step: (name, what it reads, the values it leaves, how it runs).
        steps: list[tuple[str, tuple[str, ...], tuple[str, ...], Any]] = []
        for node in nodes:
            values = {k: params[v] if isinstance(v, str) else v for k, v in node.attrs}
            if node.name in first:
                group = first[node.name]
                cells = nn.ModuleList(_make_module(arch, by_name[m], _bound(by_name[m])) for m in group.members)
                self._register(group.name, cells)
                left = group.members[-group.arity :]
                steps.append((group.name, group.initial, left, group))
            elif node.name not in grouped:
                module = _make_module(arch, node, values)
                if module is not None:
                    self._register(node.name, module)
                steps.append((node.name, node.inputs, (node.name,), (node, values)))
        # Values are dropped after their last use, so peak memory matches plain code.
        last_use = {ref: i for i, (_, reads, _, _) in enumerate(steps) for ref in reads}
        self._steps = [
            (name, reads, left, how, tuple(sorted({r for r in reads if last_use[r] == i} - {output} - set(left))))
            for i, (name, reads, left, how) in enumerate(steps)
        ]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            member = self.__dict__.get("_members", {}).get(name)
            if member is None:
                raise
            return self._modules[member[0]][member[1]]

    def _register(self, name: str, module: nn.Module) -> None:
        if hasattr(self, name):
            msg = f"node {name!r} would shadow the nn.Module attribute of that name; rename the node"
            raise ArchitectureError(msg)
        self.add_module(name, module)

    def forward(self, *inputs: Tensor) -> Tensor:
        values = dict(zip(self._graph_inputs, inputs, strict=True))
        for name, reads, left, how, dead in self._steps:
            args = [values[ref] for ref in reads]
            if isinstance(how, Group):
                # Each call reads the last `arity` values: the start values, then the outputs.
                for cell in self._modules[name]:
                    args = [*args[1:], cell(*args)]
                values.update(zip(left, args[-len(left) :], strict=True))
            elif name in self._modules:
                values[name] = self._modules[name](*args)
            else:
                node, attrs = how
                values[name] = FUNCTIONS[node.op](args, attrs)
            for ref in dead:
                del values[ref]
        return values[self._graph_output]


def _bound(node: Node) -> dict[str, Any]:
    """A top-level node's attributes (no block parameters to resolve there)."""
    return dict(node.attrs)


def build_model(arch: Architecture) -> GraphModule:
    """Build the network of ``arch`` as a module, freshly initialised and in train mode.

    Args:
        arch: a validated architecture.

    Returns:
        A module mapping ``(N, *input_shape)`` input (``(N, C, H, W)``, ``(N, C, L)`` or
        ``(N, F)``) to ``(N, num_classes)`` logits whose state dict has the keys of the
        code the PyTorch emitter writes.
    """
    return GraphModule(arch, arch.nodes, (Architecture.INPUT,), arch.output, groups=repeats(arch))
