"""Declared spaces: choices and their order, encoding, lowering with shape inference, keys, errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from automl_codegen import Architecture, ArchitectureError, Choice, ConfigError, SearchSpace
from automl_codegen import model_space as ms
from automl_codegen.protocols import OneShotSpace, SearchSpaceProtocol
from automl_codegen.testing import check_space

IMAGE = (1, 8, 8)


def mlp_declaration() -> ms.ModelSpace:
    """The module's own example."""
    return ms.ModelSpace(
        "my-mlp",
        ms.Repeat(
            ms.Residual(
                ms.Sequential(
                    ms.Linear(ms.choice("width", [64, 128, 256])),
                    ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm(), "layer": ms.LayerNorm()}),
                    ms.Activation(ms.choice("act", ["relu", "gelu", "silu"])),
                    ms.Dropout(ms.choice("dropout", [0.0, 0.1, 0.3])),
                ),
                enabled=ms.choice("skip", [False, True]),
            ),
            depth=ms.choice("depth", [1, 2, 3, 4]),
        ),
    )


def cnn_declaration() -> ms.ModelSpace:
    """A stem, then up to three residual conv layers with per-layer width, kernel, stride, norm, act."""
    return ms.ModelSpace(
        "my-cnn",
        ms.Sequential(
            ms.Conv(8, 3),
            ms.BatchNorm(),
            ms.Activation("relu"),
            ms.Repeat(
                ms.Residual(
                    ms.Sequential(
                        ms.Conv(ms.choice("width", [8, 16]), ms.choice("kernel", [3, 5]), ms.choice("stride", [1, 2])),
                        ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm()}),
                        ms.Activation(ms.choice("act", ["relu", "silu", "swish", "hardswish"])),
                        ms.Dropout(ms.choice("dropout", [0.0, 0.2])),
                    ),
                    enabled=ms.choice("skip", [False, True]),
                ),
                depth=ms.choice("depth", [1, 2, 3]),
            ),
        ),
    )


def error(fn, *args, **kwargs) -> str:
    with pytest.raises((ConfigError, ArchitectureError)) as info:
        fn(*args, **kwargs)
    return str(info.value)


# -- choices and genotypes -----------------------------------------------------------------------


def test_choices_are_the_declared_ones_in_source_order_per_repetition():
    space = mlp_declaration()((13,), 3)
    per_layer = ["width", "norm", "act", "dropout", "skip"]
    assert [c.name for c in space.choices()] == [f"{n}[{i}]" for i in range(4) for n in per_layer] + ["depth"]
    by_name = {c.name: c.options for c in space.choices()}
    assert by_name["width[2]"] == (64, 128, 256)
    assert by_name["norm[0]"] == ("none", "batch", "layer")
    assert by_name["skip[3]"] == (False, True)
    assert by_name["depth"] == (1, 2, 3, 4)
    assert all(isinstance(c, Choice) for c in space.choices())
    assert isinstance(space, SearchSpace)
    assert isinstance(space, SearchSpaceProtocol)
    assert isinstance(space, OneShotSpace)  # one-shot strategies ask; the space answers or refuses
    assert space.name == "my-mlp"
    assert space.size() == (3 * 3 * 3 * 3 * 2) ** 4 * 4


def test_a_choice_object_used_twice_is_one_decision():
    width = ms.choice("width", [4, 8])
    space = ms.ModelSpace("tied", ms.Sequential(ms.Conv(width, 3), ms.Conv(width, 1)))(IMAGE, 10)
    assert [c.name for c in space.choices()] == ["width"]
    arch = space.to_architecture({"width": 8})
    assert [n.attr("out_channels") for n in arch.nodes if n.op == "conv2d"] == [8, 8]


def test_nested_repeats_name_choices_by_both_repetitions():
    inner = ms.Repeat(ms.Conv(ms.choice("w", [4, 8]), 3), depth=ms.choice("d", [1, 2]))
    space = ms.ModelSpace("nested", ms.Repeat(inner, depth=2))(IMAGE, 10)
    assert [c.name for c in space.choices()] == ["w[0][0]", "w[0][1]", "d[0]", "w[1][0]", "w[1][1]", "d[1]"]
    arch = space.to_architecture({"w[0][0]": 4, "w[0][1]": 8, "d[0]": 2, "w[1][0]": 8, "w[1][1]": 4, "d[1]": 1})
    assert [n.name for n in arch.nodes] == ["layer0_0_conv", "layer0_1_conv", "layer1_0_conv", "pool", "classifier"]
    assert [n.attr("out_channels") for n in arch.nodes[:3]] == [4, 8, 8]


def test_a_oneof_lists_its_own_choice_then_those_inside_its_options():
    body = ms.Sequential(
        ms.Conv(4, 3),
        ms.OneOf("block", {"conv": ms.Conv(ms.choice("w", [4, 8]), 3), "pool": ms.MaxPool(2)}),
    )
    space = ms.ModelSpace("ops", body)(IMAGE, 10)
    assert [c.name for c in space.choices()] == ["block", "w"]
    # The unchosen option's choices are not used: one key for both widths.
    assert space.key({"block": "pool", "w": 4}) == space.key({"block": "pool", "w": 8})
    assert space.key({"block": "conv", "w": 4}) != space.key({"block": "conv", "w": 8})
    assert space.active_choices({"block": "pool", "w": 8}) == ["block"]


def test_decode_and_encode_are_inverse_over_random_genotypes():
    space = mlp_declaration()((13,), 3)
    rng = np.random.default_rng(0)
    sizes = [len(c.options) for c in space.choices()]
    for _ in range(300):
        indices = [int(rng.integers(n)) for n in sizes]
        genotype = space.decode(indices)
        assert list(genotype) == [c.name for c in space.choices()]
        assert space.encode(genotype) == indices
        assert space.encode(json.loads(json.dumps(genotype))) == indices  # as a journal stores it
    assert space.default_genotype() == space.decode([0] * len(sizes))
    assert space.default_genotype()["width[0]"] == 64


def test_genotype_values_compare_as_json():
    space = mlp_declaration()((13,), 3)
    genotype = space.default_genotype()
    assert space.encode({**genotype, "dropout[0]": 0}) == space.encode(genotype)  # 0 is 0.0
    assert error(space.encode, {**genotype, "skip[0]": 0}) == (
        "choice 'skip[0]' is 0, not one of its options: False, True"
    )
    assert error(space.encode, {**genotype, "width[1]": True}) == (
        "choice 'width[1]' is True, not one of its options: 64, 128, 256"
    )


def test_encode_refuses_unknown_missing_and_foreign_values():
    space = mlp_declaration()((13,), 3)
    genotype = space.default_genotype()
    assert error(space.encode, {**genotype, "widht[0]": 64}) == (
        "space 'my-mlp' has no choice 'widht[0]'; its choices are 'width[0]', 'norm[0]', 'act[0]', 'dropout[0]', "
        "'skip[0]', 'width[1]', 'norm[1]', 'act[1]', 'dropout[1]', 'skip[1]', 'width[2]', 'norm[2]', ... (21 in all)"
    )
    del genotype["depth"]
    assert error(space.encode, genotype) == (
        "the genotype lacks choice 'depth' of space 'my-mlp'; its options are 1, 2, 3, 4"
    )
    genotype["depth"] = 5
    assert error(space.encode, genotype) == "choice 'depth' is 5, not one of its options: 1, 2, 3, 4"
    assert error(space.encode, [64, 128]).startswith(
        "a genotype of space 'my-mlp' is a dict {choice name: value} such as {'width[0]': 64, "
    )
    assert error(space.decode, [0, 1]) == "space 'my-mlp' decodes 21 indices (one per choice), got 2"
    assert error(space.decode, [3] + [0] * 20) == "choice 'width[0]': index 3 is outside 0..2"
    assert error(space.decode, [True] + [0] * 20) == "choice 'width[0]': index True is outside 0..2"


def test_key_drops_the_choices_of_repetitions_beyond_the_depth():
    space = mlp_declaration()((13,), 3)
    rng = np.random.default_rng(1)
    a = space.sample(rng)
    a["depth"] = 2
    b = dict(a)
    options = {c.name: c.options for c in space.choices()}
    for name in ("width[2]", "act[3]", "skip[3]"):
        b[name] = next(o for o in options[name] if o != a[name])
    assert space.key(a) == space.key(b)
    assert space.active_choices(a) == [c.name for c in space.choices() if c.name[-3:] in ("[0]", "[1]")] + ["depth"]
    assert json.loads(space.key(a)) == {name: a[name] for name in space.active_choices(a)}
    c = dict(a, **{"width[1]": 256 if a["width[1]"] != 256 else 64})
    assert space.key(c) != space.key(a)
    assert space.key(dict(a, depth=3)) != space.key(a)


def test_mutation_and_crossover_stay_in_the_space():
    space = cnn_declaration()(IMAGE, 10)
    rng = np.random.default_rng(2)
    a, b = space.sample(rng), space.sample(rng)
    for _ in range(50):
        child = space.mutate(a, rng)
        assert child != a
        space.encode(space.crossover(child, b, rng))


# -- lowering ------------------------------------------------------------------------------------


def test_every_sampled_genotype_lowers_to_a_valid_architecture():
    space = cnn_declaration()(IMAGE, 10)
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(200):
        genotype = space.sample(rng)
        arch = space.to_architecture(genotype)
        assert isinstance(arch, Architecture)
        assert arch.input_shape == IMAGE
        assert arch.shapes[arch.output] == (10,)
        assert arch.name == "MyCnn"
        seen.add(arch.fingerprint())
        # Genotypes with one key are one network.
        assert space.to_architecture(space.decode(space.encode(genotype))) == arch
    assert len(seen) > 150


def test_parameter_count_of_a_hand_computed_network():
    space = ms.ModelSpace(
        "counted",
        ms.Sequential(
            ms.Conv(4, 3),
            ms.BatchNorm(),
            ms.Activation("relu"),
            ms.Repeat(ms.Residual(ms.Conv(ms.choice("w", [4, 8]), 3)), depth=ms.choice("d", [1, 2])),
        ),
    )(IMAGE, 10)
    arch = space.to_architecture({"w[0]": 8, "w[1]": 8, "d": 2})
    assert [(n.name, n.op) for n in arch.nodes] == [
        ("conv", "conv2d"),
        ("bn", "batchnorm2d"),
        ("act", "relu"),
        ("layer0_conv", "conv2d"),
        ("layer0_proj", "conv2d"),  # 4 -> 8 channels: a 1x1 projection
        ("layer0_proj_bn", "batchnorm2d"),
        ("layer0_residual", "add"),
        ("layer1_conv", "conv2d"),
        ("layer1_residual", "add"),  # 8 -> 8: the input itself
        ("pool", "global_avg_pool"),
        ("classifier", "linear"),
    ]
    stem = 4 * 1 * 9 + 4
    layer0 = 8 * 4 * 9 + 8 + 4 * 8 + 2 * 8  # conv, projection (no bias), its BN
    layer1 = 8 * 8 * 9 + 8
    head = 8 * 10 + 10
    assert arch.num_params == stem + 2 * 4 + layer0 + layer1 + head == 1066
    proj = next(n for n in arch.nodes if n.name == "layer0_proj")
    assert proj.attr_dict == {
        "in_channels": 4,
        "out_channels": 8,
        "kernel_size": 1,
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "groups": 1,
        "bias": False,
    }


def test_repeat_depth_sets_the_number_of_layers():
    space = cnn_declaration()(IMAGE, 10)
    genotype = space.default_genotype()
    counts = []
    for depth in (1, 2, 3):
        arch = space.to_architecture({**genotype, "depth": depth})
        counts.append(arch.op_counts()["conv2d"])
        assert sorted({n.name.split("_")[0] for n in arch.nodes if n.name.startswith("layer")}) == [
            f"layer{i}" for i in range(depth)
        ]
    assert counts == [2, 3, 4]


def test_node_names_follow_the_declaration():
    space = cnn_declaration()(IMAGE, 10)
    genotype = {**space.default_genotype(), "norm[0]": "batch", "dropout[0]": 0.2, "skip[0]": True, "depth": 1}
    names = [n.name for n in space.to_architecture(genotype).nodes]
    assert names == [
        "conv",
        "bn",
        "act",
        "layer0_conv",
        "layer0_norm",  # the OneOf's name for its chosen option
        "layer0_act",
        "layer0_dropout",
        "layer0_residual",
        "pool",
        "classifier",
    ]
    # norm "none" is no node, nor is dropout 0.
    names = [n.name for n in space.to_architecture({**genotype, "norm[0]": "none", "dropout[0]": 0.0}).nodes]
    assert names == ["conv", "bn", "act", "layer0_conv", "layer0_act", "layer0_residual", "pool", "classifier"]


def test_activation_names_lower_to_ir_ops():
    space = cnn_declaration()(IMAGE, 10)
    genotype = {**space.default_genotype(), "depth": 1}
    ops = {name: space.to_architecture({**genotype, "act[0]": name}).nodes[4].op for name in ("silu", "swish")}
    assert ops == {"silu": "silu", "swish": "silu"}


def test_residual_projection_follows_width_and_stride():
    space = cnn_declaration()(IMAGE, 10)
    genotype = {**space.default_genotype(), "width[0]": 16, "stride[0]": 2, "skip[0]": True, "depth": 1}
    arch = space.to_architecture(genotype)
    proj = next(n for n in arch.nodes if n.name == "layer0_proj")
    assert (proj.attr("in_channels"), proj.attr("out_channels"), proj.attr("stride")) == (8, 16, 2)
    assert arch.shapes["layer0_proj_bn"] == arch.shapes["layer0_act"] == (16, 4, 4)
    # Without the skip there is no projection.
    arch = space.to_architecture({**genotype, "skip[0]": False})
    assert not any("proj" in n.name or n.op == "add" for n in arch.nodes)


def test_residual_projection_of_vectors_is_linear():
    space = ms.ModelSpace(
        "vectors",
        ms.Sequential(
            ms.Conv(4, 3),
            ms.GlobalAvgPool(),
            ms.Residual(ms.Sequential(ms.Linear(ms.choice("w", [4, 6])), ms.Activation("relu"))),
        ),
    )(IMAGE, 3)
    same = space.to_architecture({"w": 4})
    assert [n.name for n in same.nodes] == ["conv", "pool", "linear", "act", "residual", "classifier"]
    wider = space.to_architecture({"w": 6})
    proj = next(n for n in wider.nodes if n.name == "proj")
    assert (proj.op, proj.attr("in_features"), proj.attr("out_features")) == ("linear", 4, 6)
    assert wider.num_params == (4 * 9 + 4) + (4 * 6 + 6) + (4 * 6 + 6) + (6 * 3 + 3)


def test_flatten_and_pools_infer_their_sizes():
    space = ms.ModelSpace(
        "flat",
        ms.Sequential(
            ms.Conv(4, 3),
            ms.MaxPool(2),
            ms.AvgPool(ms.choice("k", [1, 3]), stride=1),
            ms.Flatten(),
            ms.Linear(5),
            ms.Flatten(),  # a vector stays as it is
        ),
    )(IMAGE, 2)
    arch = space.to_architecture({"k": 3})
    assert arch.shapes["maxpool"] == (4, 4, 4)
    assert arch.shapes["avgpool"] == (4, 2, 2)
    assert arch.shapes["flatten"] == (16,)
    assert [n.name for n in arch.nodes][-2:] == ["linear", "classifier"]
    assert space.to_architecture({"k": 1}).shapes["flatten"] == (64,)


def test_without_head_the_body_gives_the_outputs():
    body = ms.Sequential(ms.Conv(4, 3), ms.GlobalAvgPool(), ms.Linear(ms.choice("out", [3, 4])))
    space = ms.ModelSpace("headless", body, head=False)(IMAGE, 3)
    arch = space.to_architecture({"out": 3})
    assert [n.name for n in arch.nodes] == ["conv", "pool", "linear"]
    assert error(space.to_architecture, {"out": 4}) == (
        "space 'headless': linear = the body's output: with head=False the body must end in (3,) for "
        "num_classes=3, got (4,) (with out=4)"
    )


def test_describe_and_pickle():
    space = cnn_declaration()(IMAGE, 10)
    described = space.describe()
    assert described["name"] == "my-cnn"
    assert described["choices"]["depth"] == [1, 2, 3]
    assert described["input_shape"] == [1, 8, 8]
    assert described["declaration"].startswith("Sequential(Conv(out=8, kernel=3, stride=1, bias=True), BatchNorm()")
    json.dumps(described)
    copy = pickle.loads(pickle.dumps(space))
    genotype = space.sample(np.random.default_rng(0))
    assert copy.to_architecture(genotype) == space.to_architecture(genotype)
    assert [c.name for c in copy.choices()] == [c.name for c in space.choices()]


@pytest.mark.parametrize("declare", [cnn_declaration, lambda: cell_declaration()])
def test_declared_spaces_conform_to_the_space_contract(declare):
    report = check_space(declare(), input_shape=IMAGE, num_classes=10, samples=30)
    assert "30 samples: JSON, encode/decode, key, to_architecture" in report.checked


def test_a_declaration_is_a_space_factory():
    declaration = cnn_declaration()
    assert declaration.name == "my-cnn"
    assert declaration.input_ranks == (2, 3)
    assert mlp_declaration().input_ranks == (1,)
    space = declaration(np.array(IMAGE), np.int64(10))
    assert space.input_shape == IMAGE
    assert space.num_classes == 10
    assert error(declaration, IMAGE, 10, widths=[4]) == (
        "space 'my-cnn' is declared in Python and takes no options; got 'widths' (change the declaration instead)"
    )


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ms.choice("width", []), "choice 'width' has no options; give at least one"),
        (
            lambda: ms.choice("width", "abc"),
            "choice 'width': options must be a list (or tuple or range) of values, got 'abc'",
        ),
        (lambda: ms.choice("width", [64, 64]), "choice 'width' lists the option 64 twice"),
        (lambda: ms.choice("dropout", [0, 0.0]), "choice 'dropout' lists the option 0.0 twice"),
        (
            lambda: ms.choice("width", [64, {1, 2}]),
            "choice 'width': option {1, 2} is not a JSON value (None, a bool, number or string, or a list or dict of them)",
        ),
        (
            lambda: ms.choice("p", [float("nan")]),
            "choice 'p': option nan is not a JSON value (JSON has no NaN or infinity)",
        ),
        (
            lambda: ms.choice("width[0]", [1]),
            "choice name 'width[0]' is not valid: use a letter, then letters, digits, '_', '.' or '-' (at most 64 characters)",
        ),
        (
            lambda: ms.Activation("swishy"),
            "Activation: name must be one of relu, gelu, silu, swish, tanh, sigmoid, relu6, hardswish, got 'swishy'",
        ),
        (
            lambda: ms.Activation(ms.choice("act", ["relu", "mish"])),
            "Activation: name is choice 'act', whose option 'mish' is not one of relu, gelu, silu, swish, tanh, "
            "sigmoid, relu6, hardswish (options: 'relu', 'mish')",
        ),
        (
            lambda: ms.Conv(8, 4),
            "Conv: kernel must be an odd integer from 1 to 31 ('same' padding k // 2 needs an odd kernel), got 4",
        ),
        (
            lambda: ms.Conv(8, ms.choice("k", [3, 4])),
            "Conv: kernel is choice 'k', whose option 4 is not an odd integer from 1 to 31 ('same' padding k // 2 "
            "needs an odd kernel) (options: 3, 4)",
        ),
        (lambda: ms.Linear(0), "Linear: out must be an integer from 1 to 65536, got 0"),
        (lambda: ms.Linear(True), "Linear: out must be an integer from 1 to 65536, got True"),
        (lambda: ms.Dropout(1.0), "Dropout: p must be a probability in [0, 1), got 1.0"),
        (lambda: ms.MaxPool(2, stride=0), "MaxPool: stride must be None or an integer from 1 to 16, got 0"),
        (lambda: ms.Repeat(ms.Identity(), depth=65), "Repeat: depth must be an integer from 0 to 64, got 65"),
        (lambda: ms.Residual(ms.Identity(), enabled=1), "Residual: enabled must be True or False, got 1"),
        (lambda: ms.Sequential(), "Sequential() needs at least one layer (Identity() for none)"),
        (
            lambda: ms.Sequential(ms.Linear(3), "torch.nn.Linear"),
            "Sequential item 1 must be a layer (Linear, Conv, Sequential, ...), got 'torch.nn.Linear'",
        ),
        (lambda: ms.OneOf("norm", {}), "OneOf 'norm' has no options; give at least one"),
        (
            lambda: ms.OneOf("norm", [ms.BatchNorm()]),
            "OneOf 'norm': options must be a dict {label: layer}, got [BatchNorm()]",
        ),
        (
            lambda: ms.ModelSpace("My_MLP", ms.Linear(3)),
            "model space name 'My_MLP' is not valid: use lower-case letters, digits and dashes, starting with a "
            "letter (at most 64 characters), e.g. 'my-mlp'",
        ),
    ],
)
def test_declaration_errors(make, message):
    assert error(make) == message


def test_two_choices_of_one_name_are_refused():
    body = ms.Sequential(ms.Linear(ms.choice("width", [8])), ms.Linear(ms.choice("width", [16])))
    assert error(ms.ModelSpace, "dup", body) == (
        "model space 'dup': two different choices are named 'width'; rename one, or use one choice object in both "
        "places to make them one decision"
    )
    # A OneOf's name is a choice name too.
    body = ms.Sequential(ms.Linear(ms.choice("norm", [8])), ms.OneOf("norm", {"none": ms.Identity()}))
    assert "two different choices are named 'norm'" in error(ms.ModelSpace, "dup", body)


def test_a_choice_inside_and_outside_a_repeat_is_refused():
    width = ms.choice("width", [4, 8])
    body = ms.Sequential(ms.Linear(width), ms.Repeat(ms.Linear(width), depth=2))
    assert error(ms.ModelSpace, "mixed", body) == (
        "model space 'mixed': choice 'width' is used both inside a Repeat, where it is decided per repetition "
        "('width[0]', 'width[1]', ...), and outside it or in another Repeat; use a separate choice in each place"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            ms.Sequential(ms.Conv(8, 3), ms.Linear(4)),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: "
            "Linear(out=4, bias=True) needs a (F,) vector, but gets a (C, H, W) feature map; add GlobalAvgPool() "
            "or Flatten() before it",
        ),
        (
            ms.Sequential(ms.Linear(8), ms.Conv(8, 3)),
            "model space 'bad' fits no input; with a (F,) vector as input, Sequential item 1: "
            "Conv(out=8, kernel=3, stride=1, bias=True) needs a (C, L) sequence or a (C, H, W) feature map, but "
            "gets a (F,) vector; use Linear on vectors",
        ),
        (
            ms.Sequential(ms.Conv(8, 3), ms.LayerNorm()),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: "
            "LayerNorm() needs a (F,) vector, but gets a (C, H, W) feature map; use BatchNorm() on sequences and "
            "feature maps",
        ),
        (
            ms.Sequential(ms.Conv(8, 3), ms.GlobalAvgPool(), ms.GlobalAvgPool()),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 2: "
            "GlobalAvgPool() needs a (C, L) sequence or a (C, H, W) feature map, but gets a (F,) vector; the input "
            "is a vector already",
        ),
        (
            ms.Sequential(ms.Conv(8, 3), ms.OneOf("reduce", {"gap": ms.GlobalAvgPool(), "none": ms.Identity()})),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: "
            "OneOf 'reduce': its options must give one kind of output, but 'gap' gives a (F,) vector, 'none' gives "
            "a (C, H, W) feature map",
        ),
        (
            ms.Sequential(ms.Conv(8, 3), ms.Repeat(ms.Flatten(), depth=ms.choice("d", [0, 1]))),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: "
            "Repeat: every depth must give one kind of output, but depth 0 gives a (C, H, W) feature map, depth 1 "
            "gives a (F,) vector",
        ),
        (
            ms.Sequential(ms.Conv(8, 3), ms.Residual(ms.Sequential(ms.GlobalAvgPool(), ms.Linear(8)))),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: "
            "Residual's block turns a (C, H, W) feature map into a (F,) vector; a skip connection adds its input "
            "to its output, so they must be of one kind",
        ),
        (
            ms.Repeat(ms.Sequential(ms.Conv(8, 3), ms.OneOf("o", {"lin": ms.Linear(3)})), depth=2),
            "model space 'bad' fits no input; with a (C, H, W) feature map as input, Repeat repetition 0 > "
            "Sequential item 1 > OneOf 'o' option 'lin': Linear(out=3, bias=True) needs a (F,) vector, but gets a "
            "(C, H, W) feature map; add GlobalAvgPool() or Flatten() before it",
        ),
    ],
)
def test_layers_that_fit_no_input_are_refused_when_declared(body, message):
    assert error(ms.ModelSpace, "bad", body) == message


def test_an_input_the_declaration_does_not_fit_is_refused_when_the_space_is_built():
    declaration = ms.ModelSpace("my-mlp", ms.Sequential(ms.Linear(8), ms.Activation("relu")))
    assert error(declaration, IMAGE, 3) == (
        "space 'my-mlp' takes (F,) vectors, not inputs of shape (1, 8, 8); with a (C, H, W) feature map as input, "
        "Sequential item 0: Linear(out=8, bias=True) needs a (F,) vector, but gets a (C, H, W) feature map; add "
        "GlobalAvgPool() or Flatten() before it"
    )
    assert error(declaration, (1, 2, 3, 4), 3) == (
        "space 'my-mlp' needs input_shape (F,), (C, L) or (C, H, W) of positive integers, got (1, 2, 3, 4)"
    )
    assert error(declaration, (13,), 0) == "space 'my-mlp' needs a positive integer num_classes, got 0"


def test_headless_declarations_must_end_in_a_vector():
    assert error(ms.ModelSpace, "bad", ms.Conv(8, 3), head=False) == (
        "model space 'bad' fits no input; with a (C, H, W) feature map as input, with head=False the body must "
        "end in a vector of outputs, but ends in a (C, H, W) feature map"
    )


def test_lowering_errors_name_the_node_the_layer_and_the_choices():
    declaration = ms.ModelSpace(
        "pools",
        ms.Sequential(ms.Conv(4, 3), ms.Repeat(ms.MaxPool(ms.choice("k", [2, 3])), depth=ms.choice("depth", [1, 4]))),
    )
    space = declaration(IMAGE, 10)
    space.to_architecture({"k[0]": 3, "k[1]": 2, "k[2]": 2, "k[3]": 2, "depth": 1})
    assert error(space.to_architecture, {"k[0]": 2, "k[1]": 2, "k[2]": 2, "k[3]": 3, "depth": 4}) == (
        "space 'pools': layer3_maxpool = MaxPool(kernel=choice 'k', stride=None, padding=0): max_pool2d with kernel_size=3, "
        "stride=3, padding=0, dilation=1 leaves no output for an input of size 1 (with depth=4, k[0]=2, k[1]=2, "
        "k[2]=2, k[3]=3)"
    )


# -- cells and the one-shot contract ------------------------------------------------------------


def conv_op(width: int, kernel: int) -> ms.Layer:
    return ms.Sequential(ms.Activation("relu"), ms.Conv(width, kernel, bias=False), ms.BatchNorm())


def cell_ops(width: int = 4) -> dict:
    return {
        "conv3": conv_op(width, 3),
        "conv1": conv_op(width, 1),
        "skip": ms.Identity(),
        "pool": ms.AvgPool(3, stride=1, padding=1),
    }


def cell_declaration(cell: ms.Cell | None = None, *, twice: bool = True) -> ms.ModelSpace:
    """A stem, a cell, a strided conv, the same cell again (one decision, shared)."""
    cell = cell or ms.Cell("cell", nodes=2, ops=cell_ops())
    layers = [ms.Conv(4, 3, bias=False), ms.BatchNorm(), cell]
    if twice:
        layers += [ms.Conv(4, 3, stride=2), cell]
    return ms.ModelSpace("tiny-cells", ms.Sequential(*layers))


def test_a_cell_is_a_choice_per_edge_lowered_as_sums_of_ops():
    space = cell_declaration(twice=False)(IMAGE, 10)
    assert [c.name for c in space.choices()] == ["cell.edge_0_1", "cell.edge_0_2", "cell.edge_1_2"]
    assert space.choices()[0].options == ("conv3", "conv1", "skip", "pool")
    arch = space.to_architecture({"cell.edge_0_1": "conv3", "cell.edge_0_2": "skip", "cell.edge_1_2": "pool"})
    assert [(n.name, n.op, n.inputs) for n in arch.nodes] == [
        ("conv", "conv2d", ("input_",)),
        ("bn", "batchnorm2d", ("conv",)),
        ("cell_0_1_act", "relu", ("bn",)),
        ("cell_0_1_conv", "conv2d", ("cell_0_1_act",)),
        ("cell_0_1_bn", "batchnorm2d", ("cell_0_1_conv",)),
        ("cell_1_2", "avg_pool2d", ("cell_0_1_bn",)),
        ("cell_node2", "add", ("bn", "cell_1_2")),  # skip from node 0, pool from node 1
        ("pool", "global_avg_pool", ("cell_node2",)),
        ("classifier", "linear", ("pool",)),
    ]
    assert arch.num_params == (4 * 9) + 8 + (4 * 4 * 9 + 8) + (4 * 10 + 10)


def test_cell_declaration_errors():
    assert error(ms.Cell, "cell", 0, cell_ops()) == "Cell 'cell': nodes must be an integer from 1 to 8, got 0"
    assert error(ms.Cell, "cell", 2, [ms.Identity()]) == (
        "Cell 'cell': ops must be a dict {label: layer}, got [Identity()]"
    )
    ops = {"conv": ms.Conv(ms.choice("w", [4, 8]), 3), "skip": ms.Identity()}
    assert error(ms.Cell, "cell", 2, ops) == (
        "Cell 'cell': op 'conv' holds choice 'w'; a cell's ops are fixed layers (its edges choose among them)"
    )
    assert error(ms.ModelSpace, "bad", ms.Sequential(ms.Conv(4, 3), ms.Cell("c", 1, {"gap": ms.GlobalAvgPool()}))) == (
        "model space 'bad' fits no input; with a (C, H, W) feature map as input, Sequential item 1: Cell 'c': op "
        "'gap' turns a (C, H, W) feature map into a (F,) vector; a cell's ops must keep the shape"
    )
    space = cell_declaration(ms.Cell("cell", 1, {"wide": conv_op(8, 3)}), twice=False)(IMAGE, 10)
    assert error(space.to_architecture, {"cell.edge_0_1": "wide"}) == (
        "space 'tiny-cells': cell_0_1_bn = Cell 'cell' op 'wide': maps (4, 8, 8) to (8, 8, 8); a cell's ops must "
        "keep the shape (with cell.edge_0_1='wide')"
    )


def test_a_space_of_cells_describes_its_supernet():
    space = cell_declaration()(IMAGE, 10)
    description = space.supernet_description()
    assert description.kinds == ("cell",)  # one Cell object: one decision, shared by both cells
    assert description.ops == ("conv3", "conv1", "skip", "pool")
    assert description.edges == ((0, 1), (0, 2), (1, 2))
    assert [(c.node, c.kind, c.channels, c.reduction) for c in description.cells] == [
        ("cell", "cell", 4, False),
        ("cell_1", "cell", 4, False),
    ]
    assert (description.cell_inputs, description.output, description.partial_channels) == (1, "last", 1)
    skeleton = description.skeleton
    assert [(n.name, n.op) for n in skeleton.nodes] == [
        ("conv", "conv2d"),
        ("bn", "batchnorm2d"),
        ("cell", "block"),
        ("conv_1", "conv2d"),
        ("cell_1", "block"),
        ("pool", "global_avg_pool"),
        ("classifier", "linear"),
    ]
    assert sorted(description.op_networks) == [("conv1", 4, 1), ("conv3", 4, 1), ("pool", 4, 1), ("skip", 4, 1)]
    network = description.op_networks[("conv3", 4, 1)]
    assert network.nodes[0].name == "edge"
    assert network.input_shape == (4, 8, 8)
    assert network.op_counts() == {"batchnorm2d": 1, "conv2d": 1, "global_avg_pool": 1, "linear": 1, "relu": 1}
    assert description.op_networks[("skip", 4, 1)].block_map["EdgeOp"].nodes[0].op == "identity"


def test_weights_and_genotypes_are_inverse():
    space = cell_declaration()(IMAGE, 10)
    rng = np.random.default_rng(4)
    for _ in range(20):
        genotype = space.sample(rng)
        weights = space.genotype_weights(genotype)
        assert list(weights) == ["cell"]
        assert [sum(row) for row in weights["cell"]] == [1.0, 1.0, 1.0]
        assert space.genotype_from_weights(weights) == genotype
    derived = space.genotype_from_weights({"cell": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0, 0], [0, 0, 0.9, 0]]})
    assert derived == {"cell.edge_0_1": "pool", "cell.edge_0_2": "conv3", "cell.edge_1_2": "skip"}  # ties: first
    assert error(space.genotype_from_weights, {"cell": [[1, 0, 0, 0]]}) == (
        "space 'tiny-cells' derives a genotype from weights['cell'] of 3 rows of 4 numbers, got [[1, 0, 0, 0]]"
    )


def test_repeated_cells_and_op_choices_are_a_kind_each():
    op = ms.OneOf("op", {"conv3": conv_op(4, 3), "skip": ms.Identity(), "pool": ms.MaxPool(3, stride=1, padding=1)})
    space = ms.ModelSpace("chain", ms.Sequential(ms.Conv(4, 3), ms.Repeat(op, depth=3)))(IMAGE, 10)
    description = space.supernet_description()
    assert description.kinds == ("op[0]", "op[1]", "op[2]")
    assert description.edges == ((0, 1),)
    assert description.ops == ("conv3", "skip", "pool")
    assert [c.node for c in description.cells] == ["layer0_op", "layer1_op", "layer2_op"]
    genotype = {"op[0]": "pool", "op[1]": "conv3", "op[2]": "skip"}
    assert space.genotype_weights(genotype) == {
        "op[0]": [[0.0, 0.0, 1.0]],
        "op[1]": [[1.0, 0.0, 0.0]],
        "op[2]": [[0.0, 1.0, 0.0]],
    }
    assert space.genotype_from_weights(space.genotype_weights(genotype)) == genotype


def test_one_shot_strategies_are_refused_spaces_with_other_choices():
    space = mlp_declaration()((13,), 3)
    assert error(space.supernet_description) == (
        "space 'my-mlp' has choices that are not op choices on a fixed graph ('width[0]', 'act[0]', 'dropout[0]', "
        "'skip[0]', 'width[1]', 'act[1]', 'dropout[1]', 'skip[1]', 'width[2]', 'act[2]', 'dropout[2]', 'skip[2]', "
        "... (17 in all)): one-shot strategies (darts, enas) search only OneOf and Cell edges whose ops keep the "
        "shape; use evolution or rl"
    )
    # A OneOf whose option holds a choice is not an op choice on a fixed graph either.
    option = ms.OneOf("op", {"conv": ms.Conv(ms.choice("w", [4]), 3), "skip": ms.Identity()})
    space = ms.ModelSpace("inner", ms.Sequential(ms.Conv(4, 3), option))(IMAGE, 10)
    assert "has choices that are not op choices on a fixed graph ('w')" in error(space.supernet_description)


@pytest.mark.parametrize(
    ("body", "call", "message"),
    [
        (
            ms.Sequential(
                ms.Conv(4, 3),
                ms.OneOf("a", {"skip": ms.Identity(), "conv": conv_op(4, 3)}),
                ms.OneOf("b", {"skip": ms.Identity(), "pool": ms.MaxPool(3, 1, padding=1)}),
            ),
            {},
            "space 'bad': one-shot strategies need every op choice to offer the same ops on the same edges (one op "
            "list for all cells), but 'a' has ops ['skip', 'conv'] on 1 edge(s) and 'b' has ops ['skip', 'pool'] on 1 "
            "edge(s)",
        ),
        (
            ms.Sequential(ms.Conv(4, 3), ms.OneOf("a", {"none": ms.Identity(), "conv": conv_op(4, 3)})),
            {},
            "space 'bad': 'a' has an op labelled 'none', which one-shot strategies read as the zero op; give "
            "Identity() another label",
        ),
        (
            ms.Sequential(ms.Conv(4, 3), ms.OneOf("a", {"skip": ms.Identity(), "wide": conv_op(8, 3)})),
            {},
            "space 'bad': op 'wide' of 'a' maps (4, 8, 8) to (8, 8, 8); one-shot strategies need ops that keep the "
            "shape",
        ),
        (
            ms.Sequential(ms.Conv(4, 3), ms.OneOf("a", {"skip": ms.Identity()})),
            {"init_channels": 8, "layers": None},
            "space 'bad' has no supernet size options (init_channels given): its supernet is the declared network",
        ),
        (
            ms.Sequential(ms.Conv(4, 3), ms.OneOf("a", {"skip": ms.Identity()})),
            {"partial_channels": 2},
            "space 'bad': partial channels (PC-DARTS) need cells of image channels; a declared space takes "
            "partial_channels=1 only, got 2",
        ),
        (ms.Conv(4, 3), {}, "space 'bad' has no choices: there is nothing for a one-shot strategy to search"),
    ],
)
def test_one_shot_refusals_name_the_problem(body, call, message):
    space = ms.ModelSpace("bad", body)(IMAGE, 10)
    assert error(space.supernet_description, **call) == message


# -- vectors and sequences (IR v2) ---------------------------------------------------------------


def seq_declaration() -> ms.ModelSpace:
    return ms.ModelSpace(
        "my-seq",
        ms.Sequential(
            ms.Conv(8, 5),
            ms.BatchNorm(),
            ms.Activation("gelu"),
            ms.Repeat(
                ms.Residual(
                    ms.Sequential(
                        ms.Conv(ms.choice("width", [8, 16]), 3, ms.choice("stride", [1, 2])),
                        ms.BatchNorm(),
                        ms.Activation(ms.choice("act", ["relu", "tanh", "sigmoid", "relu6"])),
                    )
                ),
                depth=ms.choice("depth", [1, 2]),
            ),
            ms.OneOf("pool", {"max": ms.MaxPool(2), "avg": ms.AvgPool(2), "none": ms.Identity()}),
        ),
    )


def test_an_mlp_lowers_with_vector_ops_and_a_hand_computed_parameter_count():
    space = mlp_declaration()((13,), 3)
    genotype = space.default_genotype() | {
        "width[0]": 64,
        "norm[0]": "layer",
        "act[0]": "gelu",
        "dropout[0]": 0.1,
        "skip[0]": True,
        "width[1]": 128,
        "norm[1]": "batch",
        "act[1]": "silu",
        "skip[1]": True,
        "depth": 2,
    }
    arch = space.to_architecture(genotype)
    assert arch.input_shape == (13,)
    assert [(n.name, n.op) for n in arch.nodes] == [
        ("layer0_linear", "linear"),
        ("layer0_norm", "layer_norm"),
        ("layer0_act", "gelu"),
        ("layer0_dropout", "dropout"),
        ("layer0_proj", "linear"),  # 13 -> 64 features
        ("layer0_residual", "add"),
        ("layer1_linear", "linear"),
        ("layer1_norm", "batchnorm1d"),
        ("layer1_act", "silu"),
        ("layer1_proj", "linear"),  # 64 -> 128
        ("layer1_residual", "add"),
        ("classifier", "linear"),
    ]
    layer0 = (13 * 64 + 64) + 2 * 64 + (13 * 64 + 64)
    layer1 = (64 * 128 + 128) + 2 * 128 + (64 * 128 + 128)
    assert arch.num_params == layer0 + layer1 + (128 * 3 + 3) == 19203


def test_every_sampled_mlp_and_sequence_genotype_lowers():
    rng = np.random.default_rng(5)
    for space in (mlp_declaration()((13,), 3), seq_declaration()((3, 32), 4)):
        for _ in range(200):
            arch = space.to_architecture(space.sample(rng))
            assert arch.input_shape == space.input_shape
            assert arch.shapes[arch.output] == (space.num_classes,)


def test_sequences_lower_to_1d_ops_and_project_strided_residuals():
    space = seq_declaration()((3, 32), 4)
    genotype = {**space.default_genotype(), "width[0]": 16, "stride[0]": 2, "act[0]": "tanh", "depth": 1}
    arch = space.to_architecture(genotype)
    assert [(n.name, n.op) for n in arch.nodes] == [
        ("conv", "conv1d"),
        ("bn", "batchnorm1d"),
        ("act", "gelu"),
        ("layer0_conv", "conv1d"),
        ("layer0_bn", "batchnorm1d"),
        ("layer0_act", "tanh"),
        ("layer0_proj", "conv1d"),
        ("layer0_proj_bn", "batchnorm1d"),
        ("layer0_residual", "add"),
        ("pool", "max_pool1d"),
        ("pool_1", "global_avg_pool"),  # the head's, after the OneOf named 'pool'
        ("classifier", "linear"),
    ]
    assert arch.shapes["layer0_residual"] == (16, 16)
    assert arch.shapes["pool"] == (16, 8)
    proj = next(n for n in arch.nodes if n.name == "layer0_proj")
    assert (proj.attr("kernel_size"), proj.attr("stride")) == (1, 2)
    assert space.to_architecture({**genotype, "pool": "avg"}).nodes[9].op == "avg_pool1d"


@pytest.mark.parametrize(
    ("declare", "shape"),
    [(mlp_declaration, (13,)), (seq_declaration, (3, 32))],
)
def test_vector_and_sequence_spaces_conform(declare, shape):
    check_space(declare(), input_shape=shape, num_classes=3, samples=30)


def test_op_choices_on_vectors_describe_a_supernet():
    op = ms.OneOf(
        "op",
        {"lin": ms.Sequential(ms.Linear(16), ms.BatchNorm(), ms.Activation("relu")), "skip": ms.Identity()},
    )
    space = ms.ModelSpace("vector-chain", ms.Sequential(ms.Linear(16), ms.Repeat(op, depth=2)))((13,), 3)
    description = space.supernet_description()
    assert description.kinds == ("op[0]", "op[1]")
    assert [(c.node, c.channels) for c in description.cells] == [("layer0_op", 16), ("layer1_op", 16)]
    network = description.op_networks[("lin", 16, 1)]
    assert network.input_shape == (16,)
    assert [n.op for n in network.nodes] == ["block", "linear"]  # no pooling of a vector
    assert space.genotype_from_weights({"op[0]": [[0.2, 0.8]], "op[1]": [[0.6, 0.4]]}) == {
        "op[0]": "skip",
        "op[1]": "lin",
    }
