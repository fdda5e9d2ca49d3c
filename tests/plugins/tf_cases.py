"""Architectures for the TensorFlow emitter's tests, beyond those of ``ir_cases``.

``TF_CASES`` each target one place where PyTorch and Keras disagree by default (padding
on stride 2, -inf padding of max pooling, flatten order, strided dilation, ...); the
emitter must make them agree. ``SPACE_SAMPLES`` names the built-in search spaces and how
many architectures to sample from each: a new space is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ir_cases import GOLDEN_CASES, IN, conv, conv1d, head, op

from automl_codegen import Architecture, Block, Node, SearchSpace
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.spaces.nb201 import NB201Space


def stride2_padding() -> Architecture:
    """Stride-2 convs on even and odd sizes: Keras' "same" would pad (0, 1), PyTorch pads (1, 1)."""
    nodes = [
        conv("even", IN, 2, 4, stride=2, padding=1),
        conv("odd", "even", 4, 4, k=5, stride=2, padding=2, bias=True),
        conv("same", "odd", 4, 4, k=3, padding=2, dilation=2),
        *head("same", 4, 3),
    ]
    return Architecture((2, 10, 10), 3, nodes, "fc", name="StrideTwo")


def strided_dilation() -> Architecture:
    """Stride and dilation together, which Keras' Conv2D refuses; groups and depthwise too."""
    nodes = [
        conv("dilated", IN, 4, 6, stride=2, padding=2, dilation=2, groups=2),
        conv("grouped_depthwise", "dilated", 6, 12, groups=6, padding=1),
        op("dw", "depthwise_conv2d", "grouped_depthwise", channels=12, kernel_size=3, stride=2, dilation=2, padding=1),
        *head("dw", 12, 4),
    ]
    return Architecture((4, 11, 11), 4, nodes, "fc", name="StridedDilation")


def pooling_and_flatten() -> Architecture:
    """Padded max pooling of signed values (-inf, not 0, pads), avg pooling with
    count_include_pad=True (zeros count), and a flatten of a map feeding a dense layer."""
    nodes = [
        conv("conv", IN, 1, 3, padding=1, bias=True),
        op("shift", "crop2d", "conv", right=1, bottom=1),
        op("pool", "max_pool2d", "shift", kernel_size=3, stride=2, padding=1),
        op("mean", "avg_pool2d", "pool", kernel_size=3, stride=1, padding=1, count_include_pad=True),
        op("flat", "flatten", "mean"),
        op("fc", "linear", "flat", in_features=3 * 3 * 3, out_features=5),
    ]
    return Architecture((1, 6, 6), 5, nodes, "fc", name="PoolingAndFlatten")


def batchnorm_conventions() -> Architecture:
    """Batch norm with non-default momentum and eps, affine and not."""
    nodes = [
        conv("conv", IN, 3, 4, padding=1),
        op("bn", "batchnorm2d", "conv", num_features=4, momentum=0.3, eps=1e-3),
        op("plain", "batchnorm2d", "bn", num_features=4, affine=False, momentum=0.05),
        *head("plain", 4, 2),
    ]
    return Architecture((3, 5, 5), 2, nodes, "fc", name="BatchNormNet")


def parameterised_block() -> Block:
    """Every int attribute that shapes the Keras code given by a block parameter."""
    return Block(
        "ParamConv",
        ["x"],
        ["c", "k", "stride", "pad", "conv_pad", "dil", "groups", "crop"],
        [
            conv("conv", "x", "c", "c", k="k", stride="stride", padding="conv_pad", dilation="dil", groups="groups"),
            op("dw", "depthwise_conv2d", "conv", channels="c", kernel_size="k", padding="pad"),
            op("max", "max_pool2d", "x", kernel_size="k", stride="stride", padding="pad"),
            op("avg", "avg_pool2d", "x", kernel_size="k", stride="stride", padding="pad", count_include_pad=False),
            op("none", "zero", "x", stride="stride"),
            op("sum", "add", "dw", "max", "avg", "none"),
            op("cut", "crop2d", "sum", top="crop", left="crop"),
        ],
        "cut",
    )


def parameterised() -> Architecture:
    """A block called with stride 1 and with stride 2 + dilation 2 (the subsampling path).

    Every parameter differs between the two calls: one bound to the same value in every
    call would be written into the generated code as that value.
    """
    nodes = [
        conv("stem", IN, 2, 4, k=1),
        Node(
            "one",
            "block",
            ["stem"],
            {"c": 4, "k": 3, "pad": 1, "stride": 1, "conv_pad": 1, "dil": 1, "groups": 1, "crop": 0},
            block="ParamConv",
        ),
        conv("widen", "one", 4, 6, k=1),
        Node(
            "two",
            "block",
            ["widen"],
            {"c": 6, "k": 5, "pad": 2, "stride": 2, "conv_pad": 4, "dil": 2, "groups": 2, "crop": 1},
            block="ParamConv",
        ),
        *head("two", 6, 3),
    ]
    return Architecture((2, 9, 9), 3, nodes, "fc", blocks=[parameterised_block()], name="Parameterised")


def vectors() -> Architecture:
    """Flatten and pooled vectors concatenated, a flatten of a vector, identities at the end."""
    block = Block(
        "VectorHead",
        ["maps"],
        ["features"],
        [
            op("gap", "global_avg_pool", "maps"),
            op("flat", "flatten", "maps"),
            op("both", "concat", "gap", "flat"),
            op("again", "flatten", "both"),
            op("fc", "linear", "again", in_features="features", out_features=4),
            op("act", "silu", "fc"),
            op("same", "identity", "act"),
        ],
        "same",
    )
    nodes = [
        conv("conv", IN, 2, 3, k=2),
        Node("vec", "block", ["conv"], {"features": 3 + 3 * 2 * 3}, block="VectorHead"),
        op("result", "identity", "vec"),
    ]
    return Architecture((2, 3, 4), 4, nodes, "result", blocks=[block], name="VectorNet")


def sequence_block() -> Block:
    """The 1-D ops with every int attribute that shapes the Keras code given by a block parameter."""
    return Block(
        "SeqParam",
        ["x"],
        ["c", "k", "stride", "pad", "conv_pad", "dil", "groups"],
        [
            conv1d("conv", "x", "c", "c", k="k", stride="stride", padding="conv_pad", dilation="dil", groups="groups"),
            op("peak", "max_pool1d", "x", kernel_size="k", stride="stride", padding="pad"),
            op("avg", "avg_pool1d", "x", kernel_size="k", stride="stride", padding="pad", count_include_pad=False),
            op("counted", "avg_pool1d", "x", kernel_size="k", stride="stride", padding="pad"),
            op("none", "zero", "x", stride="stride"),
            op("sum", "add", "conv", "peak", "avg", "counted", "none"),
        ],
        "sum",
    )


def sequence_parameterised() -> Architecture:
    """A 1-D block called at stride 1 and at stride 2 + dilation 2 (the subsampling path),
    and a strided dilated conv1d outside blocks."""
    common = {"c": 4, "k": 3, "pad": 1}
    nodes = [
        conv1d("stem", IN, 2, 4, k=3, stride=2, dilation=2, padding=1, bias=True),
        Node("one", "block", ["stem"], {**common, "stride": 1, "conv_pad": 1, "dil": 1, "groups": 1}, block="SeqParam"),
        Node("two", "block", ["one"], {**common, "stride": 2, "conv_pad": 2, "dil": 2, "groups": 2}, block="SeqParam"),
        op("flat", "flatten", "two"),
        op("fc", "linear", "flat", in_features=4 * 4, out_features=3),
    ]
    return Architecture((2, 17), 3, nodes, "fc", blocks=[sequence_block()], name="SequenceParameterised")


def acronyms() -> Architecture:
    """Block names that become function names: acronyms, and two that share a snake_case name."""
    blocks = [
        Block("ReLUConvBN", ["x"], [], [op("act", "relu", "x")], "act"),
        Block("ConvBN", ["x"], [], [op("act", "relu6", "x")], "act"),
        Block("ConvBn", ["x"], [], [op("act", "hardswish", "x")], "act"),
    ]
    nodes = [
        Node("a", "block", [IN], block="ReLUConvBN"),
        Node("b", "block", ["a"], block="ConvBN"),
        Node("c", "block", ["b"], block="ConvBn"),
        *head("c", 2, 2),
    ]
    return Architecture((2, 3, 3), 2, nodes, "fc", blocks=blocks, name="Acronyms")


TF_CASES: dict[str, Callable[[], Architecture]] = {
    "stride2_padding": stride2_padding,
    "strided_dilation": strided_dilation,
    "pooling_and_flatten": pooling_and_flatten,
    "batchnorm_conventions": batchnorm_conventions,
    "parameterised": parameterised,
    "vectors": vectors,
    "acronyms": acronyms,
    "sequence_parameterised": sequence_parameterised,
}


# -- architectures sampled from the built-in search spaces --------------------------------


#: space id → (space, samples). Small options keep the tests fast.
SPACE_SAMPLES: dict[str, tuple[SearchSpace, int]] = {
    "chain-cnn-3x16x16": (ChainCNNSpace((3, 16, 16), 10), 5),
    "chain-cnn-1x8x8": (ChainCNNSpace((1, 8, 8), 10), 5),
    # Empty stages: networks down to the stem alone, as a latency-aware search finds them.
    "chain-cnn-shallow": (ChainCNNSpace((1, 8, 8), 10, depths=(0, 1)), 4),
    "nb201": (NB201Space((3, 8, 8), 10, channels=4, cells_per_stage=1), 2),
    "darts-cell": (DartsCellSpace((3, 8, 8), 10, init_channels=4, layers=3), 1),
}


def sampled(space_id: str) -> list[Architecture]:
    """The sampled architectures of one space (seeds 0, 1, ...)."""
    space, count = SPACE_SAMPLES[space_id]
    return [space.to_architecture(space.sample(np.random.default_rng(seed))) for seed in range(count)]


# -- golden files: tests/golden/regenerate_tensorflow.py writes these ---------------------

#: The PyTorch emitter's golden cases, plus one that shows block parameters in Keras code.
TF_GOLDEN_CASES: dict[str, tuple[Callable[[], Architecture], dict | None]] = {
    **GOLDEN_CASES,
    "parameterised": (parameterised, None),
}
