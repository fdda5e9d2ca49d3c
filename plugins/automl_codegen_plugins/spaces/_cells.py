"""What the cell-based spaces (``nb201``, ``darts-cell``) share: option checks and IR helpers.

Both spaces lower to the IR with every operation kind as a :class:`Block`, so generated
code has one class per kind (``ReLUConvBN``, ``SepConv``, ``Cell``, ...) however many
cells the network stacks. Block parameters are plain integers bound per call; the IR
has no arithmetic on them, so a block that needs ``C // 2`` takes it as a parameter too.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

from automl_codegen import Block, ConfigError, Node

__all__ = [
    "block_params",
    "call",
    "check_input_shape",
    "is_int",
    "positive_int",
    "relu_conv_bn",
    "sum_node",
]


def is_int(value: object) -> bool:
    """An integer (numpy's too, as datasets may report shapes with them), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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
