"""Small sample architectures for tests of builders and emitters.

``CASES`` together use every op of the vocabulary; tests check that, so a new op fails
them until a case covers it. ``REFERENCE_CASES`` pair one-op networks with a hand-written
torch computation of what the op must do. Builders are functions returning fresh values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name in torch code

from automl_codegen import Architecture, Block, Node

IN = Architecture.INPUT


def conv(name: str, src: str, c_in: int | str, c_out: int | str, k: int = 3, **attrs) -> Node:
    return Node(name, "conv2d", [src], {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, **attrs})


def op(name: str, kind: str, *inputs: str, **attrs) -> Node:
    return Node(name, kind, inputs, attrs)


def head(src: str, features: int, num_classes: int = 10) -> list[Node]:
    """Global pooling and a linear classifier."""
    return [
        op("gap", "global_avg_pool", src),
        op("fc", "linear", "gap", in_features=features, out_features=num_classes),
    ]


def chain_cnn() -> Architecture:
    """A plain chain: conv variants, batch norm, activations, pools, flatten, dropout."""
    nodes = [
        conv("stem", IN, 1, 8, padding=1, bias=True),
        op("bn", "batchnorm2d", "stem", num_features=8, eps=1e-3, momentum=0.01),
        op("act", "relu", "bn"),
        conv("grouped", "act", 8, 8, dilation=2, padding=2, groups=2),
        op("bn_plain", "batchnorm2d", "grouped", num_features=8, affine=False),
        op("act6", "relu6", "bn_plain"),
        op("pool", "max_pool2d", "act6", kernel_size=3, stride=2, padding=1),
        op("smooth", "avg_pool2d", "pool", kernel_size=3, stride=1, padding=1, count_include_pad=False),
        op("hswish", "hardswish", "smooth"),
        op("down", "avg_pool2d", "hswish", kernel_size=2, stride=2),
        op("flat", "flatten", "down"),
        op("drop", "dropout", "flat", p=0.2),
        op("fc", "linear", "drop", in_features=32, out_features=10, bias=False),
    ]
    return Architecture((1, 8, 8), 10, nodes, "fc", name="ChainNet")


def branches() -> Architecture:
    """Shared values and merges: depthwise, identity, zero, crop, add, concat, sigmoid, silu."""
    nodes = [
        conv("stem", IN, 3, 8, k=1),
        op("dw", "depthwise_conv2d", "stem", channels=8, kernel_size=3, stride=2, padding=1, bias=True),
        op("gate", "sigmoid", "dw"),
        op("skip", "identity", "stem"),
        op("thin", "max_pool2d", "skip", kernel_size=3, stride=2, padding=1),
        op("none", "zero", "stem", stride=2),
        op("shifted", "crop2d", "stem", top=1, left=1),
        conv("reduce", "shifted", 8, 8, k=1, stride=2, padding=1),
        op("merged", "add", "gate", "thin", "none", "reduce"),
        op("swish", "silu", "merged"),
        op("both", "concat", "swish", "dw"),
        *head("both", 16, 5),
    ]
    return Architecture((3, 9, 9), 5, nodes, "fc", name="BranchNet")


def inner_block() -> Block:
    return Block(
        "ConvBnAct",
        ["x"],
        ["c"],
        [
            conv("conv", "x", "c", "c", padding=1),
            op("bn", "batchnorm2d", "conv", num_features="c"),
            op("act", "relu", "bn"),
        ],
        "act",
    )


def cell_block() -> Block:
    """Two inputs; calls ``ConvBnAct``; its stride is a parameter (pool, zero, conv)."""
    return Block(
        "Cell",
        ["s0", "s1"],
        ["c", "stride"],
        [
            op("dw", "depthwise_conv2d", "s0", channels="c", kernel_size=3, stride="stride", padding=1),
            Node("inner", "block", ["dw"], {"c": "c"}, block="ConvBnAct"),
            op("pool", "max_pool2d", "s1", kernel_size=3, stride="stride", padding=1),
            op("none", "zero", "s0", stride="stride"),
            op("total", "add", "inner", "pool", "none"),
            op("cat", "concat", "total", "pool"),
        ],
        "cat",
    )


def cells() -> Architecture:
    """A block used twice with different parameters, and a block nested in it."""
    nodes = [
        conv("stem", IN, 1, 8, padding=1),
        Node("cell1", "block", ["stem", "stem"], {"c": 8, "stride": 1}, block="Cell"),
        conv("reduce", "cell1", 16, 8, k=1),
        Node("cell2", "block", ["reduce", "reduce"], {"c": 8, "stride": 2}, block="Cell"),
        *head("cell2", 16),
    ]
    return Architecture((1, 8, 8), 10, nodes, "fc", blocks=[cell_block(), inner_block()], name="CellNet")


def residual() -> Architecture:
    """A ResNet-style block, with the input kept alive across the branch."""
    block = Block(
        "Residual",
        ["x"],
        ["c"],
        [
            conv("conv1", "x", "c", "c", padding=1),
            op("bn1", "batchnorm2d", "conv1", num_features="c"),
            op("relu1", "relu", "bn1"),
            conv("conv2", "relu1", "c", "c", padding=1),
            op("bn2", "batchnorm2d", "conv2", num_features="c"),
            op("sum", "add", "bn2", "x"),
            op("act", "relu", "sum"),
        ],
        "act",
    )
    nodes = [
        conv("stem", IN, 3, 8, padding=1),
        Node("res1", "block", ["stem"], {"c": 8}, block="Residual"),
        Node("res2", "block", ["res1"], {"c": 8}, block="Residual"),
        *head("res2", 8),
    ]
    return Architecture((3, 6, 6), 10, nodes, "fc", blocks=[block], name="ResNetLike")


def conv1d(name: str, src: str, c_in: int | str, c_out: int | str, k: int = 3, **attrs) -> Node:
    return Node(name, "conv1d", [src], {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, **attrs})


def mlp() -> Architecture:
    """Tabular rows: linear, batch norm of features, gelu, dropout, a residual add (with a
    zero, a cell's "none" edge), layer norm, tanh."""
    nodes = [
        op("fc1", "linear", IN, in_features=12, out_features=16),
        op("bn", "batchnorm1d", "fc1", num_features=16, eps=1e-3, momentum=0.3),
        op("act", "gelu", "bn"),
        op("drop", "dropout", "act", p=0.1),
        op("fc2", "linear", "drop", in_features=16, out_features=16, bias=False),
        op("nothing", "zero", "fc1"),
        op("skip", "add", "fc2", "fc1", "nothing"),
        op("norm", "layer_norm", "skip", num_features=16, eps=1e-6),
        op("squash", "tanh", "norm"),
        op("plain", "layer_norm", "squash", num_features=16, affine=False),
        op("bn_plain", "batchnorm1d", "plain", num_features=16, affine=False),
        op("logits", "linear", "bn_plain", in_features=16, out_features=3),
    ]
    return Architecture((12,), 3, nodes, "logits", name="TabularMlp")


def sequence_cnn() -> Architecture:
    """A 1-D conv net: conv1d, batch norm, relu, max pool, strided conv, avg pool, global pool."""
    nodes = [
        conv1d("stem", IN, 3, 8, k=5, padding=2, bias=True),
        op("bn", "batchnorm1d", "stem", num_features=8, eps=1e-3, momentum=0.01),
        op("act", "relu", "bn"),
        op("pool", "max_pool1d", "act", kernel_size=3, stride=2, padding=1),
        conv1d("down", "pool", 8, 16, stride=2, padding=1),
        op("smooth", "avg_pool1d", "down", kernel_size=2),
        *head("smooth", 16, 4),
    ]
    return Architecture((3, 20), 4, nodes, "fc", name="SequenceNet")


def sequence_flatten() -> Architecture:
    """The 1-D conv net with a flatten head, and the rank-generic ops on (C, L) sequences:
    zero, identity, concat, grouped / dilated / depthwise conv1d, padded pools."""
    nodes = [
        conv1d("stem", IN, 2, 6, k=3, padding=1),
        op("bn", "batchnorm1d", "stem", num_features=6),
        op("act", "gelu", "bn"),
        conv1d("grouped", "act", 6, 6, k=3, padding=2, dilation=2, groups=3),
        conv1d("dw", "grouped", 6, 12, k=3, stride=2, padding=1, groups=6, bias=True),
        op("pool", "max_pool1d", "act", kernel_size=3, stride=2, padding=1),
        op("none", "zero", "act", stride=2),
        op("skip", "identity", "pool"),
        op("merged", "add", "skip", "none"),
        op("both", "concat", "merged", "dw"),
        op("smooth", "avg_pool1d", "both", kernel_size=3, stride=2, padding=1, count_include_pad=False),
        op("squash", "tanh", "smooth"),
        op("flat", "flatten", "squash"),
        op("drop", "dropout", "flat", p=0.2),
        op("fc", "linear", "drop", in_features=18 * 4, out_features=5),
    ]
    return Architecture((2, 13), 5, nodes, "fc", name="SequenceFlatten")


def long_names() -> Architecture:
    """64-character names everywhere, so emitted lines must be broken to fit."""
    a, b, c = ("a" * 63 + "1", "b" * 63 + "2", "c" * 63 + "3")
    param = "p" * 64
    block = Block(
        "B" * 64,
        [a, b],
        [param],
        [
            conv(c, a, param, param, padding=1, dilation=1, stride=1, groups=1),
            op("d" * 64, "add", c, b, a),
            op("e" * 64, "concat", "d" * 64, c, b, a),
        ],
        "e" * 64,
    )
    nodes = [
        conv(a, IN, 2, 4, k=1),
        conv(b, a, 4, 4, k=1),
        Node(c, "block", [a, b], {param: 4}, block=block.name),
        op("f" * 64, "avg_pool2d", c, kernel_size=3, stride=1, padding=1, count_include_pad=False),
        *head("f" * 64, 16, 3),
    ]
    return Architecture((2, 4, 4), 3, nodes, "fc", blocks=[block], name="N" * 64)


def repeats() -> Architecture:
    """What emitters restructure: numbered calls that feed each other (a Sequential of one
    input, a loop over cells of two), twins (a block and its "Residual" / "Wide" variant:
    an appended sum, another callee), a derived parameter (``c_half``) and a size."""
    unit = Block(
        "Unit", ["x"], ["c_in", "c_out"], [conv("conv", "x", "c_in", "c_out", k=1), op("act", "relu", "conv")], "act"
    )
    residual = Block(
        "UnitResidual",
        ["x"],
        ["channels"],
        [conv("conv", "x", "channels", "channels", k=1), op("act", "relu", "conv"), op("residual", "add", "x", "act")],
        "residual",
    )
    halves = Block(
        "Halves",
        ["x"],
        ["c_in", "c_out", "c_half"],
        [
            conv("left", "x", "c_in", "c_half", k=1, stride=2),
            op("shifted", "crop2d", "x", top=1, left=1),
            conv("right", "shifted", "c_in", "c_half", k=1, stride=2),
            op("both", "concat", "left", "right"),
            op("bn", "batchnorm2d", "both", num_features="c_out"),
        ],
        "bn",
    )

    def pair(name: str, first: Node, params: list[str]) -> Block:
        pre1 = Node("pre1", "block", ["s1"], {"c_in": "c_prev", "c_out": "c"}, block="Unit")
        return Block(
            name,
            ["s0", "s1"],
            params,
            [first, pre1, op("total", "add", "pre0", "pre1"), op("cat", "concat", "total", "pre1")],
            "cat",
        )

    plain = pair(
        "Pair",
        Node("pre0", "block", ["s0"], {"c_in": "c_prev_prev", "c_out": "c"}, block="Unit"),
        ["c_prev_prev", "c_prev", "c"],
    )
    wide = pair(
        "PairWide",
        Node("pre0", "block", ["s0"], {"c_in": "c_prev_prev", "c_out": "c", "c_half": "c_half"}, block="Halves"),
        ["c_prev_prev", "c_prev", "c", "c_half"],
    )
    nodes = [
        conv("stem", IN, 3, 8, padding=1),
        Node("unit0", "block", ["stem"], {"c_in": 8, "c_out": 16}, block="Unit"),
        Node("unit1", "block", ["unit0"], {"channels": 16}, block="UnitResidual"),
        Node("unit2", "block", ["unit1"], {"channels": 16}, block="UnitResidual"),
        Node("cell0", "block", ["unit2", "unit2"], {"c_prev_prev": 16, "c_prev": 16, "c": 8}, block="Pair"),
        Node("cell1", "block", ["unit2", "cell0"], {"c_prev_prev": 16, "c_prev": 16, "c": 8}, block="Pair"),
        Node("pool", "max_pool2d", ["cell1"], {"kernel_size": 2}),
        Node(
            "cell2",
            "block",
            ["cell0", "pool"],
            {"c_prev_prev": 16, "c_prev": 16, "c": 8, "c_half": 4},
            block="PairWide",
        ),
        Node("cell3", "block", ["pool", "cell2"], {"c_prev_prev": 16, "c_prev": 16, "c": 8}, block="Pair"),
        Node("cell4", "block", ["cell2", "cell3"], {"c_prev_prev": 16, "c_prev": 16, "c": 8}, block="Pair"),
        op("both", "concat", "cell3", "cell4"),
        *head("both", 32),
    ]
    blocks = [unit, residual, halves, plain, wide]
    return Architecture((3, 8, 8), 10, nodes, "fc", blocks=blocks, name="RepeatNet", sizes={"c": 4})


CASES: dict[str, Callable[[], Architecture]] = {
    "chain_cnn": chain_cnn,
    "branches": branches,
    "cells": cells,
    "residual": residual,
    "long_names": long_names,
    "mlp": mlp,
    "sequence_cnn": sequence_cnn,
    "sequence_flatten": sequence_flatten,
    "repeats": repeats,
}


def single_op(node: Node, input_shape: tuple[int, ...]) -> Architecture:
    """``input_ -> node (-> flatten)`` as a network, to check one op's values directly."""
    shape = node.spec.infer([input_shape], node.attr_dict)
    nodes = [node] if len(shape) == 1 else [node, op("flat", "flatten", node.name)]
    return Architecture(input_shape, math.prod(shape), nodes, nodes[-1].name)


# -- ops with tricky semantics, each beside a hand-written torch computation ---------------

Reference = Callable[[torch.Tensor, torch.nn.Module], torch.Tensor]


def _avg_pool_without_padding(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    # 3x3 windows, stride 2, padding 1: each output averages only the real pixels.
    n, c, h, w = x.shape
    out = torch.empty(n, c, (h + 1) // 2, (w + 1) // 2)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            rows = slice(max(2 * i - 1, 0), min(2 * i + 2, h))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, w))
            out[:, :, i, j] = x[:, :, rows, cols].mean(dim=(2, 3))
    return out.flatten(1)


def _zero_stride_2(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    n, c, h, w = x.shape
    return torch.zeros(n, c * -(-h // 2) * -(-w // 2))


def _flatten_chw(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    _, c, h, w = x.shape
    return torch.stack([x[:, i, j, k] for i in range(c) for j in range(h) for k in range(w)], dim=1)


def _depthwise(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    weight, bias = model.dw.weight, model.dw.bias
    per_channel = [F.conv2d(x[:, i : i + 1], weight[i : i + 1], bias[i : i + 1], 2, 2, 2) for i in range(x.shape[1])]
    return torch.cat(per_channel, dim=1).flatten(1)


def _global_mean(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    return x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])


def _crop(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    return x[:, :, 1:-2, 2:].flatten(1)


def _hardswish(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    return (x * (x + 3).clamp(0, 6) / 6).flatten(1)


def _conv1d_by_hand(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    # in 4, out 6, kernel 3, stride 2, padding 2, dilation 2, groups 2, bias: a sum per tap.
    weight, bias = model.conv.weight, model.conv.bias
    padded = F.pad(x, (2, 2))
    length = (x.shape[2] + 4 - 4 - 1) // 2 + 1
    out = torch.zeros(x.shape[0], 6, length)
    for o in range(6):
        group = o // 3
        for t in range(length):
            window = padded[:, 2 * group : 2 * group + 2, 2 * t : 2 * t + 5 : 2]  # (N, 2, 3)
            out[:, o, t] = (window * weight[o]).sum(dim=(1, 2)) + bias[o]
    return out.flatten(1)


def _batchnorm1d_sequence(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    bn = model.bn
    shape = (1, -1, 1)
    scale = (bn.running_var.reshape(shape) + bn.eps).sqrt()
    return ((x - bn.running_mean.reshape(shape)) / scale * bn.weight.reshape(shape) + bn.bias.reshape(shape)).flatten(1)


def _layer_norm(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=1, keepdim=True)  # biased, as layer norm uses
    return (x - mean) / (variance + 1e-5).sqrt() * model.norm.weight + model.norm.bias


def _gelu_exact(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    return (x * (1 + torch.erf(x / math.sqrt(2))) / 2).flatten(1)


def _max_pool1d_padded(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    # kernel 3, stride 2, padding 1: padding never wins, even over negative values.
    length = (x.shape[2] + 2 - 3) // 2 + 1
    windows = [x[:, :, max(2 * t - 1, 0) : 2 * t + 2].amax(dim=2) for t in range(length)]
    return torch.stack(windows, dim=2).flatten(1)


def _avg_pool1d_without_padding(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    # kernel 3, stride 2, padding 1, count_include_pad=False: means of the real steps only.
    length = (x.shape[2] + 2 - 3) // 2 + 1
    windows = [x[:, :, max(2 * t - 1, 0) : 2 * t + 2].mean(dim=2) for t in range(length)]
    return torch.stack(windows, dim=2).flatten(1)


def _sequence_mean(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    return x.sum(dim=2) / x.shape[2]


def _sequence_zero_stride_2(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    n, c, length = x.shape
    return torch.zeros(n, c * -(-length // 2))


def _flatten_cl(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    _, c, length = x.shape
    return torch.stack([x[:, i, t] for i in range(c) for t in range(length)], dim=1)


REFERENCE_CASES: dict[str, tuple[Callable[[], Architecture], Reference]] = {
    "avg_pool2d_count_include_pad_false": (
        lambda: single_op(
            op("pool", "avg_pool2d", IN, kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 5, 5)
        ),
        _avg_pool_without_padding,
    ),
    "zero_stride_2": (lambda: single_op(op("none", "zero", IN, stride=2), (3, 5, 5)), _zero_stride_2),
    "flatten_order": (lambda: single_op(op("flat", "flatten", IN), (2, 3, 4)), _flatten_chw),
    "crop2d": (lambda: single_op(op("crop", "crop2d", IN, top=1, bottom=2, left=2), (2, 6, 5)), _crop),
    "depthwise_conv2d": (
        lambda: single_op(
            op("dw", "depthwise_conv2d", IN, channels=3, kernel_size=3, stride=2, padding=2, dilation=2, bias=True),
            (3, 6, 6),
        ),
        _depthwise,
    ),
    "global_avg_pool": (lambda: single_op(op("gap", "global_avg_pool", IN), (4, 3, 5)), _global_mean),
    "hardswish": (lambda: single_op(op("act", "hardswish", IN), (2, 3, 3)), _hardswish),
    "conv1d": (
        lambda: single_op(conv1d("conv", IN, 4, 6, stride=2, padding=2, dilation=2, groups=2, bias=True), (4, 9)),
        _conv1d_by_hand,
    ),
    "batchnorm1d_sequence": (
        lambda: single_op(op("bn", "batchnorm1d", IN, num_features=3, eps=1e-3), (3, 5)),
        _batchnorm1d_sequence,
    ),
    "layer_norm": (lambda: single_op(op("norm", "layer_norm", IN, num_features=7), (7,)), _layer_norm),
    "gelu_exact": (lambda: single_op(op("act", "gelu", IN), (3, 4)), _gelu_exact),
    "max_pool1d_padding": (
        lambda: single_op(op("pool", "max_pool1d", IN, kernel_size=3, stride=2, padding=1), (2, 8)),
        _max_pool1d_padded,
    ),
    "avg_pool1d_count_include_pad_false": (
        lambda: single_op(
            op("pool", "avg_pool1d", IN, kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 7)
        ),
        _avg_pool1d_without_padding,
    ),
    "global_avg_pool_sequence": (lambda: single_op(op("gap", "global_avg_pool", IN), (4, 7)), _sequence_mean),
    "zero_stride_2_sequence": (
        lambda: single_op(op("none", "zero", IN, stride=2), (3, 5)),
        _sequence_zero_stride_2,
    ),
    "flatten_order_sequence": (lambda: single_op(op("flat", "flatten", IN), (3, 4)), _flatten_cl),
}

# -- golden files: tests/golden/regenerate.py writes these, tests compare byte for byte ----

GOLDEN_METADATA = {
    "input": {
        "shape": [1, 8, 8],
        "dtype": "float32",
        "normalization": "x / 16, then (x - 0.3) / 0.4",
        "preprocess": {"scale": 16.0, "mean": 0.3, "std": 0.4},
    },
    "metrics": {"accuracy": 0.9811, "latency_ms": 0.1234, "params": 704},
    "dataset": "digits",
    "strategy": "evolution",
    "space": "chain-cnn",
    "genotype": {"stages": [{"op": "conv", "width": 8}, {"op": "pool", "kernel": 3}]},
}


def darts_v2() -> Architecture:
    """DARTS_V2 on CIFAR-10 (36 channels, 20 cells): what the issue asked emitters to write like the authors."""
    from automl_codegen_plugins.spaces.darts_cell import DARTS_V2, DartsCellSpace

    return DartsCellSpace().to_architecture(DARTS_V2)


def _darts_v2_metadata() -> dict:
    from automl_codegen_plugins.spaces.darts_cell import DARTS_V2

    return {"space": "darts-cell", "genotype": DARTS_V2}


GOLDEN_CASES: dict[str, tuple[Callable[[], Architecture], dict | None]] = {
    "chain_cnn": (chain_cnn, GOLDEN_METADATA),
    "cells": (cells, None),
    "repeats": (repeats, None),
    "darts_v2": (darts_v2, _darts_v2_metadata()),
}
