"""What the cell-based spaces (``nb201``, ``darts-cell``) share: option checks and IR helpers.

Both spaces lower to the IR with every operation kind as a :class:`Block`, so generated
code has one class per kind (``ReLUConvBN``, ``SepConv``, ``Cell``, ...) however many
cells the network stacks. Block parameters are plain integers bound per call; the IR
has no arithmetic on them, so a block that needs ``C // 2`` takes it as a parameter too.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Iterable, Mapping, Sequence

from automl_codegen import Architecture, Block, ConfigError, Node
from automl_codegen.supernet import SupernetCell, SupernetDescription

__all__ = [
    "SupernetCell",
    "SupernetDescription",
    "block_params",
    "call",
    "check_input_shape",
    "check_partial_channels",
    "check_supernet_sizes",
    "edge_op_network",
    "is_int",
    "positive_int",
    "relu_conv_bn",
    "sum_node",
    "weight_rows",
]


def is_int(value: object) -> bool:
    """An integer (numpy's too, as datasets may report shapes with them), but not a bool."""
    # The exact-type test first: checking against the numbers ABC costs ten times more,
    # and strategies decode every candidate genotype.
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def positive_int(space: str, name: str, value: object) -> int:
    """``value`` as an int, or a ConfigError naming the option."""
    if not is_int(value) or value < 1:
        msg = f"{space} option {name!r} must be a positive integer, got {value!r}"
        raise ConfigError(msg)
    return int(value)


def check_input_shape(space: str, value: object) -> tuple[int, int, int]:
    """``(C, H, W)`` of positive ints, or a ConfigError."""
    shape = tuple(value) if isinstance(value, list | tuple) else ()
    if len(shape) != 3 or not all(is_int(d) and d >= 1 for d in shape):
        msg = f"{space} needs input_shape (C, H, W) of positive integers, got {value!r}"
        raise ConfigError(msg)
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def call(name: str, block: Block, inputs: Sequence[str], **params: int | str) -> Node:
    """A node calling ``block``, binding only the parameters the block declares."""
    return Node(name, "block", tuple(inputs), {p: params[p] for p in block.params}, block=block.name)


def block_params(nodes: Iterable[Node], candidates: Sequence[str]) -> tuple[str, ...]:
    """The ``candidates`` some node refers to, in the candidates' order.

    A block must declare exactly the parameters its nodes use, and which ones a cell
    uses depends on its genotype (a cell without convolutions needs no channel count).
    """
    used = {value for node in nodes for _, value in node.attrs if isinstance(value, str)}
    return tuple(p for p in candidates if p in used)


def sum_node(name: str, terms: Sequence[str]) -> Node | None:
    """``add`` of two or more terms; ``None`` for one term, which is the value itself."""
    if len(terms) < 2:
        return None
    return Node(name, "add", tuple(terms))


@functools.cache  # a frozen Block: build it once
def relu_conv_bn() -> Block:
    """ReLU → conv (no bias) → BN: the authors' ``ReLUConvBN`` in both benchmarks.

    Kernel size, stride and padding are parameters, as in the authors' class, so the 1×1
    and 3×3 variants (and the residual block's strided 3×3) share one class.
    """
    nodes = [
        Node("relu", "relu", ("x",)),
        Node(
            "conv",
            "conv2d",
            ("relu",),
            {
                "in_channels": "c_in",
                "out_channels": "c_out",
                "kernel_size": "kernel_size",
                "stride": "stride",
                "padding": "padding",
            },
        ),
        Node("bn", "batchnorm2d", ("conv",), {"num_features": "c_out"}),
    ]
    return Block(
        name="ReLUConvBN",
        inputs=("x",),
        params=("c_in", "c_out", "kernel_size", "stride", "padding"),
        nodes=nodes,
        output="bn",
    )


# -- supernet descriptions (for one-shot strategies) ------------------------------------------


def edge_op_network(node: Node, blocks: Iterable[Block], params: Mapping[str, int], channels: int) -> Architecture:
    """A tiny network around one op node of a cell: ``edge`` → pooling → one logit.

    ``node`` reads the block input ``x`` and may use the string parameters in
    ``params`` (bound to integers here), as the same node does inside a cell block. The
    op runs on an 8×8 feature map of ``channels`` channels; the pooling and the linear
    layer only make the network a valid IR, whose validation checks the op's shapes.
    """
    used = {value for _, value in node.attrs if isinstance(value, str)}
    wrapper = Block(
        name="EdgeOp",
        inputs=("x",),
        params=tuple(p for p in params if p in used),
        nodes=[node],
        output=node.name,
    )
    known = {block.name: block for block in blocks}
    used_blocks = {wrapper.name: wrapper}
    pending = [node]
    while pending:  # only the blocks the op calls: the IR refuses unused ones
        current = pending.pop()
        if current.op == "block" and current.block not in used_blocks:
            used_blocks[current.block] = known[current.block]
            pending.extend(known[current.block].nodes)
    return Architecture(
        input_shape=(channels, 8, 8),
        num_classes=1,
        nodes=[
            call("edge", wrapper, (Architecture.INPUT,), **params),
            Node("pool", "global_avg_pool", ("edge",)),
            Node("classifier", "linear", ("pool",), {"in_features": channels, "out_features": 1}),
        ],
        output="classifier",
        blocks=list(used_blocks.values()),
        name="EdgeOpProbe",
    )


def check_supernet_sizes(space: str, sizes: Mapping[str, object], allowed: Sequence[str]) -> dict[str, int]:
    """The supernet size overrides of a space, as positive ints (ConfigError naming a bad one)."""
    unknown = sorted(set(sizes) - set(allowed))
    if unknown:
        msg = f"{space} has no supernet size option {unknown[0]!r}; its options are {', '.join(allowed)}"
        raise ConfigError(msg)
    return {name: positive_int(space, name, value) for name, value in sizes.items() if value is not None}


def check_partial_channels(space: str, value: object, cells: Sequence[SupernetCell]) -> int:
    """``K`` of partial channel connections: it must divide the width of every cell.

    A strided skip connection is a FactorizedReduce, whose two halves need an even width,
    so reduction cells need ``C / K`` even.
    """
    k = positive_int(space, "partial_channels", value)
    for cell in cells:
        if cell.channels % k:
            msg = (
                f"{space}: partial_channels={k} must divide the width of every cell, but cell {cell.node!r} "
                f"has {cell.channels} channels (the widths are {sorted({c.channels for c in cells})})"
            )
            raise ConfigError(msg)
        if cell.reduction and cell.channels // k % 2:
            msg = (
                f"{space}: partial_channels={k} leaves {cell.channels // k} channels per op in the reduction cell "
                f"{cell.node!r}, but a strided skip connection (FactorizedReduce) needs an even number"
            )
            raise ConfigError(msg)
    return k


def weight_rows(space: str, weights: object, kind: str, rows: int, columns: int) -> list[list[float]]:
    """``weights[kind]`` as ``rows`` lists of ``columns`` floats, or a ConfigError."""
    matrix = weights.get(kind) if isinstance(weights, Mapping) else None
    try:
        out = [[float(v) for v in row] for row in matrix]
    except (TypeError, ValueError):
        out = None
    if out is None or len(out) != rows or any(len(row) != columns for row in out):
        msg = f"{space} derives a genotype from weights[{kind!r}] of {rows} rows of {columns} numbers, got {matrix!r}"
        raise ConfigError(msg)
    return out
