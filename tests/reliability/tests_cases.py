"""An architecture with a block, used by the hostile-input tests."""

from __future__ import annotations

from automl_codegen import Architecture, Block, Node


def block_architecture() -> Architecture:
    block = Block(
        "ConvBn",
        ("x",),
        ("c_in", "c_out"),
        (
            Node(
                "conv",
                "conv2d",
                ("x",),
                {"in_channels": "c_in", "out_channels": "c_out", "kernel_size": 3, "padding": 1},
            ),
            Node("bn", "batchnorm2d", ("conv",), {"num_features": "c_out"}),
            Node("act", "relu", ("bn",)),
        ),
        "act",
    )
    return Architecture(
        (1, 8, 8),
        10,
        (
            Node("stem", "block", ("input_",), {"c_in": 1, "c_out": 8}, block="ConvBn"),
            Node("pool", "global_avg_pool", ("stem",)),
            Node("classifier", "linear", ("pool",), {"in_features": 8, "out_features": 10}),
        ),
        "classifier",
        (block,),
    )
