"""IR version 2: (F,) and (C, L) inputs, the sequence and tabular ops, and reading version 1."""

from __future__ import annotations

import json

import pytest

from automl_codegen import IR_VERSION, OPS, Architecture, ArchitectureError, Node
from automl_codegen.testing import tiny_architecture

IN = Architecture.INPUT


def op(name, kind, *inputs, **attrs):
    return Node(name, kind, inputs, attrs)


def error_of(fn) -> str:
    with pytest.raises(ArchitectureError) as info:
        fn()
    return str(info.value)


def sequence_net(**conv) -> Architecture:
    nodes = [
        op("conv", "conv1d", IN, in_channels=3, out_channels=8, kernel_size=5, padding=2, **conv),
        op("bn", "batchnorm1d", "conv", num_features=8),
        op("act", "gelu", "bn"),
        op("pool", "max_pool1d", "act", kernel_size=3, stride=2, padding=1),
        op("down", "conv1d", "pool", in_channels=8, out_channels=16, kernel_size=3, stride=2, bias=True),
        op("avg", "avg_pool1d", "down", kernel_size=2),
        op("gap", "global_avg_pool", "avg"),
        op("fc", "linear", "gap", in_features=16, out_features=4),
    ]
    return Architecture((3, 32), 4, nodes, "fc", name="SeqNet")


def mlp(features: int = 12) -> Architecture:
    nodes = [
        op("fc1", "linear", IN, in_features=features, out_features=16),
        op("bn", "batchnorm1d", "fc1", num_features=16, affine=False),
        op("act", "tanh", "bn"),
        op("skip", "add", "act", "fc1"),
        op("norm", "layer_norm", "skip", num_features=16),
        op("fc2", "linear", "norm", in_features=16, out_features=3),
    ]
    return Architecture((features,), 3, nodes, "fc2", name="Mlp")


def test_sequence_shapes_and_parameters():
    arch = sequence_net()

    assert arch.shapes == {
        "conv": (8, 32),
        "bn": (8, 32),
        "act": (8, 32),
        "pool": (8, 16),
        "down": (16, 7),
        "avg": (16, 3),
        "gap": (16,),
        "fc": (4,),
    }
    # conv 3*8*5, bn 2*8, conv 8*16*3 + 16, linear 16*4 + 4
    assert arch.num_params == 120 + 16 + 384 + 16 + 68
    assert arch.ir_version == 2


def test_vector_shapes_and_parameters():
    arch = mlp()

    assert arch.shapes["norm"] == (16,)
    assert arch.shapes["fc2"] == (3,)
    # linear 12*16 + 16, bn without affine 0, layer norm 2*16, linear 16*3 + 3
    assert arch.num_params == 208 + 0 + 32 + 51


def test_grouped_dilated_conv1d_and_its_parameters():
    def net(groups: int) -> Architecture:
        shape = {"in_channels": 4, "out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 2, "dilation": 2}
        conv = op("conv", "conv1d", IN, groups=groups, **shape)
        return Architecture((4, 32), 8, [conv, op("gap", "global_avg_pool", "conv")], "gap")

    arch = net(groups=4)

    assert arch.shapes["conv"] == (8, 14)  # (32 + 4 - 2 * 4 - 1) // 2 + 1
    assert arch.num_params == 8 * 1 * 5  # one input channel per group
    assert error_of(lambda: net(groups=3)) == (
        "nodes[0] 'conv': conv1d groups=3 must divide in_channels=4 and out_channels=8"
    )


@pytest.mark.parametrize(
    ("shape", "nodes", "message"),
    [
        (
            (3, 8, 8),
            [op("c", "conv1d", IN, in_channels=3, out_channels=4, kernel_size=3)],
            "nodes[0] 'c': conv1d needs a (C, L) sequence, got shape (3, 8, 8)",
        ),
        (
            (3, 8),
            [op("c", "conv2d", IN, in_channels=3, out_channels=4, kernel_size=3)],
            "nodes[0] 'c': conv2d needs a (C, H, W) feature map, got shape (3, 8)",
        ),
        (
            (3, 8),
            [op("c", "conv1d", IN, in_channels=4, out_channels=4, kernel_size=3)],
            "nodes[0] 'c': conv1d expects 4 input channels (in_channels), got 3",
        ),
        (
            (3, 4),
            [op("c", "conv1d", IN, in_channels=3, out_channels=4, kernel_size=5)],
            "nodes[0] 'c': conv1d with kernel_size=5, stride=1, padding=0, dilation=1 leaves no "
            "output for an input of size 4",
        ),
        (
            (3, 8, 8),
            [op("b", "batchnorm1d", IN, num_features=3)],
            "nodes[0] 'b': batchnorm1d needs a (F,) vector or a (C, L) sequence, got shape (3, 8, 8)",
        ),
        (
            (6,),
            [op("b", "batchnorm1d", IN, num_features=3)],
            "nodes[0] 'b': batchnorm1d expects 3 input features (num_features), got 6",
        ),
        (
            (3, 8),
            [op("b", "batchnorm2d", IN, num_features=3)],
            "nodes[0] 'b': batchnorm2d needs a (C, H, W) feature map, got shape (3, 8)",
        ),
        (
            (3, 8),
            [op("n", "layer_norm", IN, num_features=3)],
            "nodes[0] 'n': layer_norm normalises the features of a (F,) vector, got shape (3, 8); "
            "add flatten or global_avg_pool, or use batchnorm1d/batchnorm2d",
        ),
        (
            (6,),
            [op("n", "layer_norm", IN, num_features=5)],
            "nodes[0] 'n': layer_norm expects 5 input features (num_features), got 6",
        ),
        (
            (3, 8, 8),
            [op("p", "max_pool1d", IN, kernel_size=2)],
            "nodes[0] 'p': max_pool1d needs a (C, L) sequence, got shape (3, 8, 8)",
        ),
        (
            (3, 8),
            [op("p", "avg_pool1d", IN, kernel_size=2, padding=2)],
            "nodes[0] 'p': avg_pool1d padding=2 must be at most half of kernel_size=2",
        ),
        (
            (3, 8),
            [op("p", "max_pool2d", IN, kernel_size=2)],
            "nodes[0] 'p': max_pool2d needs a (C, H, W) feature map, got shape (3, 8)",
        ),
        (
            (6,),
            [op("g", "global_avg_pool", IN)],
            "nodes[0] 'g': global_avg_pool needs a (C, L) sequence or a (C, H, W) feature map, got shape (6,)",
        ),
        (
            (6,),
            [op("z", "zero", IN, stride=2)],
            "nodes[0] 'z': zero with stride=2 needs a (C, L) sequence or a (C, H, W) feature map, got shape (6,)",
        ),
        (
            (3, 8),
            [op("c", "crop2d", IN, top=1)],
            "nodes[0] 'c': crop2d needs a (C, H, W) feature map, got shape (3, 8)",
        ),
        (
            (3, 8),
            [op("f", "linear", IN, in_features=24, out_features=2)],
            "nodes[0] 'f': linear needs a vector input, got shape (3, 8); add flatten or global_avg_pool",
        ),
        (
            (3, 8),
            [op("g", "global_avg_pool", IN), op("c", "concat", IN, "g")],
            "nodes[1] 'c': concat joins along channels and needs equal other dimensions, got (3, 8), (3,)",
        ),
        (
            (3, 8),
            [op("g", "global_avg_pool", IN), op("a", "add", "g", IN)],
            "nodes[1] 'a': add needs inputs of one shape, got (3,), (3, 8)",
        ),
    ],
)
def test_shape_rules_name_the_problem(shape, nodes, message):
    assert error_of(lambda: Architecture(shape, 2, nodes, nodes[-1].name)) == message


def test_rank_generic_ops_on_sequences_and_vectors():
    nodes = [
        op("none", "zero", IN, stride=3),
        op("same", "identity", IN),
        op("thin", "max_pool1d", "same", kernel_size=3),
        op("both", "concat", "none", "thin"),
        op("drop", "dropout", "both", p=0.1),
        op("flat", "flatten", "drop"),
        op("vec_zero", "zero", "flat"),
        op("again", "flatten", "vec_zero"),
        op("more", "concat", "again", "flat"),
        op("fc", "linear", "more", in_features=2 * 4 * 3, out_features=2),
    ]
    arch = Architecture((2, 9), 2, nodes, "fc")

    assert arch.shapes["none"] == (2, 3)
    assert arch.shapes["thin"] == (2, 3)
    assert arch.shapes["both"] == (4, 3)
    assert arch.shapes["flat"] == (12,)
    assert arch.shapes["more"] == (24,)


def test_input_shapes_of_rank_one_to_three_are_accepted_and_others_refused():
    assert mlp().input_shape == (12,)
    assert sequence_net().input_shape == (3, 32)
    assert error_of(lambda: Architecture((1, 2, 8, 8), 2, [op("f", "flatten", IN)], "f")) == (
        "input_shape must be (F,), (C, L) or (C, H, W), got (1, 2, 8, 8)"
    )
    assert error_of(lambda: Architecture((), 2, [op("f", "flatten", IN)], "f")) == (
        "input_shape must be (F,), (C, L) or (C, H, W), got ()"
    )
    assert error_of(lambda: Architecture((3, 0), 2, [op("f", "flatten", IN)], "f")) == (
        "input_shape must be (C, L), each an integer from 1 to 16384, got (3, 0)"
    )
    assert error_of(lambda: Architecture((1, -8, 8), 2, [op("f", "flatten", IN)], "f")) == (
        "input_shape must be (C, H, W), each an integer from 1 to 16384, got (1, -8, 8)"
    )


def test_new_ops_are_version_two_and_the_old_vocabulary_stays_version_one():
    assert IR_VERSION == 2
    new = {"conv1d", "batchnorm1d", "max_pool1d", "avg_pool1d", "layer_norm", "gelu", "tanh"}
    assert {name for name, spec in OPS.items() if spec.since == 2} == new
    assert all(spec.since == 1 for name, spec in OPS.items() if name not in new)
    assert all(spec.doc for spec in OPS.values())


def test_an_architecture_records_the_oldest_version_that_can_express_it():
    image = tiny_architecture((3, 8, 8), 4)
    vector_of_old_ops = Architecture((5,), 2, [op("fc", "linear", IN, in_features=5, out_features=2)], "fc")

    assert image.ir_version == 1
    assert image.to_dict()["ir_version"] == 1
    assert vector_of_old_ops.ir_version == 2  # (F,) inputs are new in version 2
    assert mlp().ir_version == 2
    assert sequence_net().ir_version == 2


def test_version_one_json_still_reads_with_the_same_fingerprint():
    image = tiny_architecture((3, 8, 8), 4)
    # What a journal or best.json of a version-1 release holds.
    saved = json.dumps({**image.to_dict(), "ir_version": 1})

    loaded = Architecture.from_json(saved)

    assert loaded == image
    assert loaded.fingerprint() == image.fingerprint()
    # Written explicitly as version 2, the same network is another value (another hash).
    assert Architecture.from_dict({**image.to_dict(), "ir_version": 2}).ir_version == 2


def test_a_version_too_old_for_the_ops_or_too_new_is_refused():
    data = sequence_net().to_dict()

    assert error_of(lambda: Architecture.from_dict({**data, "ir_version": 1})) == (
        "invalid architecture: op 'avg_pool1d' needs IR version 2, but the architecture says ir_version=1 @ $"
    )
    vector = mlp().to_dict()
    vector["nodes"][1]["op"] = "dropout"
    vector["nodes"][1]["attrs"] = {}
    vector["nodes"][2]["op"] = "relu"
    vector["nodes"][4]["op"] = "identity"
    vector["nodes"][4]["attrs"] = {}
    assert error_of(lambda: Architecture.from_dict({**vector, "ir_version": 1})) == (
        "invalid architecture: an input_shape of rank 1 needs IR version 2, but the architecture says ir_version=1 @ $"
    )
    assert error_of(lambda: Architecture.from_dict({**data, "ir_version": 3})) == (
        "invalid architecture: architecture was written for IR version 3; this automl-codegen reads versions 1 to 2 @ $"
    )
    assert "reads versions 1 to 2" in error_of(lambda: Architecture.from_dict({**data, "ir_version": 0}))


@pytest.mark.parametrize("kind", ["max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d"])
def test_a_pool_stride_defaults_to_its_kernel_size_as_in_pytorch(kind):
    assert op("p", kind, IN, kernel_size=3) == op("p", kind, IN, kernel_size=3, stride=3)
    assert op("p", kind, IN, kernel_size=3).attr("stride") == 3
    # A block parameter's window gives the stride too.
    assert op("p", kind, "x", kernel_size="k").attr("stride") == "k"
