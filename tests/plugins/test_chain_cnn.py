"""The chain-cnn search space: encoding, lowering to the IR, and the built torch model."""

from __future__ import annotations

import copy
from importlib import metadata

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from automl_codegen import Architecture, ConfigError
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.spaces import chain_cnn
from automl_codegen_plugins.spaces.chain_cnn import FIELDS, ChainCNNSpace
from automl_codegen_plugins.torch_model import build_model

DIGITS = ((1, 8, 8), 10)
CIFAR100 = ((3, 32, 32), 100)


@pytest.fixture
def space() -> ChainCNNSpace:
    return ChainCNNSpace(*DIGITS)


def _stage(**overrides):
    genes = {
        "op": "mbconv",
        "kernel": 3,
        "width": 32,
        "depth": 2,
        "stride": 2,
        "skip": True,
        "expand": 4,
    }
    return {**genes, **overrides}


def _samples(space: ChainCNNSpace, n: int) -> list[dict]:
    return [space.sample(np.random.default_rng(seed)) for seed in range(n)]


def _num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# -- registration and options ----------------------------------------------------------------


def test_registered_by_its_entry_point():
    (ep,) = [e for e in metadata.entry_points(group="automl_codegen") if e.name == "chain-cnn"]
    assert ep.load() is chain_cnn
    pm = get_plugin_manager(entry_points=False, plugins=[("chain-cnn", chain_cnn)])
    assert get_registry(pm).get("search_space", "chain-cnn") is ChainCNNSpace


def test_module_does_not_import_torch():
    # The entry point is loaded by `automl-codegen plugins` and --help, which must start fast.
    assert "torch" not in chain_cnn.__dict__
    assert "import torch" not in open(chain_cnn.__file__).read()  # noqa: SIM115


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_stages": 0}, "chain-cnn option 'num_stages' must be an integer from 1 to 64, got 0"),
        ({"num_stages": 1_000_000}, "chain-cnn option 'num_stages' must be an integer from 1 to 64, got 1000000"),
        ({"stem_width": 1.5}, "chain-cnn option 'stem_width' must be a positive integer, got 1.5"),
        (
            {"widths": ()},
            "chain-cnn option 'widths' must list distinct positive integers, got ()",
        ),
        (
            {"depths": (1, 1)},
            "chain-cnn option 'depths' must list distinct non-negative integers, got (1, 1)",
        ),
        (
            {"depths": [-1, 2]},
            "chain-cnn option 'depths' must list distinct non-negative integers, got [-1, 2]",
        ),
        (
            {"kernel_sizes": (3, 4)},
            "chain-cnn option 'kernel_sizes' must hold odd kernel sizes, got (3, 4)",
        ),
        ({"kernel_sizes": [33]}, "chain-cnn option 'kernel_sizes' allows at most 31, got [33]"),
        (
            {"expand_ratios": (0,)},
            "chain-cnn option 'expand_ratios' must list distinct positive integers, got (0,)",
        ),
        ({"dropout": 1.0}, "chain-cnn option 'dropout' must be a number in [0, 1), got 1.0"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigError) as info:
        ChainCNNSpace(*DIGITS, **options)
    assert str(info.value) == message


def test_numpy_integers_are_accepted():
    # Datasets may report shapes and class counts as numpy integers.
    space = ChainCNNSpace(tuple(np.array([1, 8, 8])), np.int64(10), widths=[np.int64(16), 32])
    assert space.input_shape == (1, 8, 8)
    assert type(space.num_classes) is int
    assert space.choices()[2].options == (16, 32)
    genotype = space.default_genotype()
    genotype["stages"][0]["width"] = np.int64(32)
    assert space.encode(genotype)[2] == 1


def test_bad_input_shape_and_classes():
    with pytest.raises(ConfigError, match=r"input_shape \(C, H, W\)"):
        ChainCNNSpace((8, 8), 10)
    with pytest.raises(ConfigError, match="'num_classes' must be a positive integer"):
        ChainCNNSpace((1, 8, 8), 0)


# -- encoding --------------------------------------------------------------------------------


def test_choices_are_per_stage_in_a_fixed_order(space):
    names = [c.name for c in space.choices()]
    assert names[:7] == [f"stage1.{field}" for field in FIELDS]
    assert names[-1] == "stage3.expand"
    assert len(names) == 3 * len(FIELDS)
    assert space.choices()[0].options == ("conv", "dsconv", "mbconv")


def test_size_is_the_product_of_the_options(space):
    per_stage = 3 * 2 * 6 * 3 * 2 * 2 * 3  # op, kernel, width, depth, stride, skip, expand
    assert space.size() == per_stage**3
    assert ChainCNNSpace(*DIGITS, num_stages=2, widths=(8, 16)).size() == (3 * 2 * 2 * 3 * 2 * 2 * 3) ** 2


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decode_encode_round_trip(data):
    space = ChainCNNSpace(*DIGITS, num_stages=data.draw(st.integers(1, 5)))
    indices = [data.draw(st.integers(0, len(c.options) - 1)) for c in space.choices()]
    genotype = space.decode(indices)
    assert space.encode(genotype) == indices
    assert space.decode(space.encode(genotype)) == genotype


def test_sampled_genotypes_round_trip(space):
    for genotype in _samples(space, 300):
        assert space.decode(space.encode(genotype)) == genotype
        assert len(genotype["stages"]) == 3
        assert all(list(stage) == list(FIELDS) for stage in genotype["stages"])


def test_decode_rejects_bad_indices(space):
    with pytest.raises(ConfigError, match="chain-cnn decodes 21 indices, got 2"):
        space.decode([0, 0])
    with pytest.raises(ConfigError, match=r"stage1.op: index 3 is outside 0..2"):
        space.decode([3] + [0] * 20)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda g: g["stages"][1].pop("kernel"),
            "stage 2 is missing 'kernel'; allowed values: 3, 5",
        ),
        (
            lambda g: g["stages"][0].update(op="resnet"),
            "stage 1 'op' is 'resnet', not one of the allowed values: 'conv', 'dsconv', 'mbconv'",
        ),
        (
            lambda g: g["stages"][2].update(width=20),
            "stage 3 'width' is 20, not one of the allowed values: 8, 16, 24, 32, 48, 64",
        ),
        (
            # JSON true is not the stride 1, although True == 1 in Python.
            lambda g: g["stages"][0].update(stride=True),
            "stage 1 'stride' is True, not one of the allowed values: 1, 2",
        ),
        (
            lambda g: g["stages"][0].update(kernal=3),
            "stage 1 has unknown key 'kernal'; the keys are "
            "'op', 'kernel', 'width', 'depth', 'stride', 'skip', 'expand'",
        ),
        (
            lambda g: g["stages"].pop(),
            "genotype has 2 stages, but the space has num_stages=3",
        ),
    ],
)
def test_malformed_genotypes_are_named(space, mutate, message):
    genotype = copy.deepcopy(space.default_genotype())
    mutate(genotype)
    with pytest.raises(ConfigError) as info:
        space.encode(genotype)
    assert str(info.value) == message
    with pytest.raises(ConfigError):
        space.to_architecture(genotype)


def test_genotype_must_have_stages(space):
    with pytest.raises(ConfigError, match=r'a chain-cnn genotype is \{"stages": \[...\]\}, got \[\]'):
        space.encode([])


# -- lowering --------------------------------------------------------------------------------


@pytest.mark.parametrize(("input_shape", "num_classes"), [DIGITS, CIFAR100])
def test_every_sampled_genotype_lowers_to_a_valid_architecture(input_shape, num_classes):
    space = ChainCNNSpace(input_shape, num_classes, num_stages=4)
    for genotype in _samples(space, 300):
        arch = space.to_architecture(genotype)
        assert arch.shapes["classifier"] == (num_classes,)
        assert arch.name == "ChainCNN"
        # With padding k // 2 a layer maps n to ceil(n / stride); 8×8 bottoms out at 1×1.
        # 32×32 inputs get a stride-2 stem.
        size = input_shape[1] if input_shape[1] < 28 else input_shape[1] // 2
        assert arch.shapes["stem"][1:] == (size, size)
        for number, stage in enumerate(genotype["stages"], start=1):
            size = -(-size // stage["stride"])
            assert arch.shapes[f"stage{number}_0"] == (stage["width"], size, size)


@pytest.mark.parametrize(
    ("input_shape", "options", "stem_size"),
    [
        ((1, 8, 8), {}, 8),
        ((1, 27, 27), {}, 27),
        ((1, 28, 28), {}, 14),
        ((1, 28, 40), {}, 14),
        ((3, 32, 32), {"stem_stride": 1}, 32),
        ((1, 8, 8), {"stem_stride": 2}, 4),
    ],
)
def test_stem_downsamples_large_inputs_unless_told(input_shape, options, stem_size):
    space = ChainCNNSpace(input_shape, 10, **options)
    arch = space.to_architecture(space.default_genotype())
    assert arch.shapes["stem"][1] == stem_size


def test_stem_stride_is_checked():
    with pytest.raises(ConfigError, match=r"^chain-cnn option 'stem_stride' must be 1, 2 or None, got 3$"):
        ChainCNNSpace((1, 8, 8), 10, stem_stride=3)


def test_default_genotype(space):
    genotype = space.default_genotype()
    assert [s["op"] for s in genotype["stages"]] == ["conv", "mbconv", "mbconv"]
    assert [s["width"] for s in genotype["stages"]] == [16, 32, 64]
    arch = space.to_architecture(genotype)
    assert [n.name for n in arch.nodes] == [
        "stem",
        "stage1_0",
        "stage2_0",
        "stage2_1",
        "stage3_0",
        "stage3_1",
        "pool",
        "classifier",
    ]
    # The stem and the stage-1 conv share one class.
    assert [b.name for b in arch.blocks] == ["ConvBnRelu3", "MBConv3", "MBConv3Residual"]
    assert arch.op_counts() == {
        "add": 2,
        "batchnorm2d": 14,
        "conv2d": 10,
        "depthwise_conv2d": 4,
        "global_avg_pool": 1,
        "linear": 1,
        "relu": 2,
        "relu6": 8,
    }
    # Other options get the nearest allowed values, so the baseline is always in the space.
    odd = ChainCNNSpace(*DIGITS, num_stages=5, widths=(12, 40), kernel_sizes=(7,), depths=(3,))
    odd.to_architecture(odd.default_genotype())


def test_deep_stage_is_one_or_two_blocks_not_copies(space):
    genotype = {
        "stages": [
            _stage(op="conv", width=16, stride=1, depth=1, skip=False),
            _stage(depth=3),
            _stage(op="dsconv", width=32, depth=3, stride=1, skip=True),
        ]
    }
    arch = space.to_architecture(genotype)
    assert [b.name for b in arch.blocks] == [
        "ConvBnRelu3",
        "MBConv3",
        "MBConv3Residual",
        "DepthwiseSeparable3Residual",
    ]
    calls = [n.block for n in arch.nodes if n.op == "block"]
    assert calls.count("MBConv3Residual") == 2
    assert calls.count("DepthwiseSeparable3Residual") == 3
    # The first layer of the mbconv stage changes width and stride, so it has no shortcut.
    assert dict(arch.nodes[2].attrs) == {"c_in": 16, "c_out": 32, "hidden": 64, "stride": 2}
    assert dict(arch.nodes[3].attrs) == {"channels": 32, "hidden": 128}


def test_mbconv_is_a_linear_bottleneck(space):
    arch = space.to_architecture({"stages": [_stage(stride=1)] * 3})
    block = arch.block_map["MBConv3Residual"]
    assert [n.op for n in block.nodes][-3:] == ["conv2d", "batchnorm2d", "add"]
    assert block.nodes[-1].inputs == ("x", "project_bn")


def test_kernel_size_makes_a_distinct_block(space):
    genotype = {"stages": [_stage(op="dsconv", kernel=k, stride=1, skip=False) for k in (3, 5, 3)]}
    names = sorted(b.name for b in space.to_architecture(genotype).blocks)
    assert names == ["ConvBnRelu3", "DepthwiseSeparable3", "DepthwiseSeparable5"]


def test_dropout_before_the_classifier():
    space = ChainCNNSpace(*DIGITS, dropout=0.2)
    arch = space.to_architecture(space.default_genotype())
    assert [n.name for n in arch.nodes][-3:] == ["pool", "dropout", "classifier"]
    assert arch.nodes[-2].attr("p") == 0.2


def test_architecture_round_trips_through_json(space):
    for genotype in _samples(space, 20):
        arch = space.to_architecture(genotype)
        assert Architecture.from_json(arch.to_json()) == arch


@pytest.mark.parametrize(("input_shape", "num_classes"), [DIGITS, CIFAR100])
def test_empty_stages_are_left_out(input_shape, num_classes):
    space = ChainCNNSpace(input_shape, num_classes, depths=(0, 1, 2), stem_width=12)
    stem_only = space.to_architecture({"stages": [_stage(depth=0)] * 3})
    assert [n.name for n in stem_only.nodes] == ["stem", "pool", "classifier"]
    # The classifier reads the last layer that exists: here the stem's 12 channels.
    assert stem_only.nodes[-1].attr("in_features") == 12
    # An empty stage passes the map through: stage 3 follows stage 1 directly.
    genotype = {"stages": [_stage(width=24, depth=1), _stage(width=48, depth=0), _stage(width=16, depth=2)]}
    arch = space.to_architecture(genotype)
    assert [n.name for n in arch.nodes if n.name.startswith("stage")] == ["stage1_0", "stage3_0", "stage3_1"]
    assert arch.nodes[2].attr("c_in") == 24
    last_empty = {"stages": [_stage(width=24, depth=1), _stage(width=48, depth=2), _stage(width=16, depth=0)]}
    assert space.to_architecture(last_empty).nodes[-1].attr("in_features") == 48
    for a in (stem_only, arch, space.to_architecture(last_empty)):
        model = build_model(a).eval()
        assert _num_params(model) == a.num_params
        with torch.no_grad():
            assert model(torch.randn(2, *input_shape)).shape == (2, num_classes)


def test_key_ignores_every_decision_of_an_empty_stage():
    space = ChainCNNSpace(*DIGITS, depths=(0, 1, 2))
    genotype = {"stages": [_stage(depth=1), _stage(depth=0), _stage(depth=2)]}
    other = copy.deepcopy(genotype)
    other["stages"][1] = _stage(op="conv", kernel=5, width=64, depth=0, stride=1, skip=False, expand=6)
    assert space.key(other) == space.key(genotype)
    assert space.to_architecture(other) == space.to_architecture(genotype)
    deeper = copy.deepcopy(genotype)
    deeper["stages"][1]["depth"] = 1
    assert space.key(deeper) != space.key(genotype)


# -- the built model -------------------------------------------------------------------------


@pytest.mark.parametrize(("input_shape", "num_classes"), [DIGITS, CIFAR100])
def test_built_model_matches_the_ir(input_shape, num_classes):
    torch.manual_seed(0)
    space = ChainCNNSpace(input_shape, num_classes)
    for genotype in [space.default_genotype(), *_samples(space, 12)]:
        arch = space.to_architecture(genotype)
        model = build_model(arch).eval()
        assert _num_params(model) == arch.num_params
        with torch.no_grad():
            out = model(torch.randn(2, *input_shape))
        assert out.shape == (2, num_classes)


# -- variation -------------------------------------------------------------------------------


def test_mutation_changes_the_genotype_and_stays_valid(space):
    rng = np.random.default_rng(0)
    for genotype in _samples(space, 50):
        child = space.mutate(genotype, rng)
        assert child != genotype
        space.to_architecture(child)


def test_crossover_takes_each_decision_from_a_parent(space):
    rng = np.random.default_rng(1)
    parents = _samples(space, 40)
    for a, b in zip(parents[::2], parents[1::2], strict=True):
        child = space.crossover(a, b, rng)
        for x, y, z in zip(space.encode(a), space.encode(b), space.encode(child), strict=True):
            assert z in (x, y)
        space.to_architecture(child)


def test_key_ignores_decisions_that_change_nothing(space):
    genotype = {"stages": [_stage(op="conv", expand=2), _stage(depth=1), _stage()]}
    inert = copy.deepcopy(genotype)
    inert["stages"][0]["expand"] = 6  # expand only matters for mbconv
    inert["stages"][1]["skip"] = False  # one strided layer: no shortcut either way
    assert space.key(inert) == space.key(genotype)
    assert space.to_architecture(inert) == space.to_architecture(genotype)
    changed = copy.deepcopy(genotype)
    changed["stages"][2]["expand"] = 6
    assert space.key(changed) != space.key(genotype)
