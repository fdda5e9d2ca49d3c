"""The darts-cell search space: the authors' notation, encoding, lowering, parameter counts."""

from __future__ import annotations

import copy
import importlib.util
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from automl_codegen import Architecture, ConfigError
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.emitters.pytorch._emitter import PytorchEmitter
from automl_codegen_plugins.spaces import darts_cell
from automl_codegen_plugins.spaces.darts_cell import DARTS_V1, DARTS_V2, FORM, OPS, DartsCellSpace
from automl_codegen_plugins.torch_model import build_model

# Verbatim from the authors' cnn/genotypes.py (github.com/quark0/darts).
DARTS_V1_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
SMALL = {"input_shape": (3, 16, 16), "num_classes": 10, "init_channels": 8, "layers": 5}


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _samples(space: DartsCellSpace, n: int) -> list[dict]:
    return [space.sample(np.random.default_rng(seed)) for seed in range(n)]


def _class_names(source: str) -> list[str]:
    return [line.split("(")[0].removeprefix("class ") for line in source.splitlines() if line.startswith("class ")]


@pytest.fixture(scope="module")
def space() -> DartsCellSpace:
    return DartsCellSpace()


# -- registration and options ------------------------------------------------------------------


def test_registered_through_its_hook():
    pm = get_plugin_manager(entry_points=False, plugins=[("darts-cell", darts_cell)])
    assert get_registry(pm).get("search_space", "darts-cell") is DartsCellSpace


def test_registered_by_its_entry_point():
    found = [e for e in metadata.entry_points(group="automl_codegen") if e.name == "darts-cell"]
    assert found, "pyproject.toml must declare the darts-cell entry point"
    assert found[0].load() is darts_cell


def test_module_does_not_import_torch():
    assert "import torch" not in Path(darts_cell.__file__).read_text(encoding="utf-8")


def test_defaults_are_the_papers_evaluation_network(space):
    assert space.input_shape == darts_cell.DEFAULT_INPUT == (3, 32, 32)
    assert (space.num_classes, space.init_channels, space.layers) == (10, 36, 20)
    assert space.reductions == [6, 13]
    assert space.ops == OPS[1:]  # no none


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"init_channels": 0}, "darts-cell option 'init_channels' must be an integer from 1 to 4096, got 0"),
        ({"layers": "8"}, "darts-cell option 'layers' must be an integer from 1 to 256, got '8'"),
        ({"layers": 100_000}, "darts-cell option 'layers' must be an integer from 1 to 256, got 100000"),
        ({"allow_none": 1}, "darts-cell option 'allow_none' must be true or false, got 1"),
        (
            {"auxiliary": True},
            "darts-cell option 'auxiliary' is not supported yet: the auxiliary head is a second, training-only "
            "output, and the architecture IR has a single output; use auxiliary=false",
        ),
        (
            {"input_shape": (3, 30, 30)},
            "darts-cell with layers=20 has 2 reduction cell(s), so it needs input height and width divisible by 4 "
            "(factorized reduce halves an even size), got 30x30",
        ),
        ({"input_shape": [3, 32]}, "darts-cell needs input_shape (C, H, W) of positive integers, got [3, 32]"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigError) as info:
        DartsCellSpace(**options)
    assert str(info.value) == message


# -- the authors' notation ---------------------------------------------------------------------


def test_published_genotypes_parse_from_the_authors_text(space):
    assert space.parse_genotype(DARTS_V1_TEXT) == DARTS_V1
    assert space.parse_genotype(DARTS_V2_TEXT) == DARTS_V2
    assert space.parse_genotype("DARTS_V1") == DARTS_V1
    assert space.parse_genotype(" DARTS ") == DARTS_V2  # the authors' alias
    parsed = space.parse_genotype("DARTS_V2")
    parsed["normal"][0][0] = "max_pool_3x3"
    assert DARTS_V2["normal"][0][0] == "sep_conv_3x3"  # a copy, not the constant


def test_search_log_notation_with_ranges(space):
    # train_search.py logs concats as range objects.
    text = DARTS_V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)").replace(
        "reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 6)"
    )
    assert space.parse_genotype(text) == DARTS_V2
    # A qualified name, positional fields and omitted concats are fine too.
    positional = f"genotypes.Genotype({DARTS_V2['normal']}, [2, 3, 4, 5], {DARTS_V2['reduce']})"
    assert space.parse_genotype(positional) == DARTS_V2


def test_json_notation(space):
    assert space.parse_genotype(json.dumps(DARTS_V1)) == DARTS_V1
    short = {"normal": DARTS_V1["normal"], "reduce": DARTS_V1["reduce"]}
    assert space.parse_genotype(json.dumps(short)) == DARTS_V1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("__import__('os').system('true')", "is not Genotype(...), a JSON object or a published genotype's name"),
        ("DARTS_V3", "is not Genotype(...), a JSON object or a published genotype's name"),
        (
            "Genotype(normal=__import__('os').listdir('.'), reduce=[])",
            "has a normal that is not a literal (__import__('os').listdir('.'))",
        ),
        (
            "Genotype(normal=[], reduce=[], cells=[])",
            "has an unknown field 'cells'; the fields are normal, normal_concat, reduce, reduce_concat",
        ),
        (
            "Genotype(normal=[], reduce=[], **extra)",
            "has an unknown field **; the fields are normal, normal_concat, reduce, reduce_concat",
        ),
        ("Genotype([], [2, 3, 4, 5], [], [2, 3, 4, 5], [])", "has 5 positional fields; Genotype has 4"),
        ("Genotype([], normal=[])", "gives 'normal' twice"),
        ('{"normal": [', "is not valid JSON (Expecting value: line 1 column 13 (char 12))"),
    ],
)
def test_malformed_text_is_named(space, text, problem):
    with pytest.raises(ConfigError) as info:
        space.parse_genotype(text)
    assert str(info.value) == f"darts-cell genotype text {problem}; write {FORM}"


def test_syntax_errors_say_where(space):
    # Python's own wording differs between versions; the column and the form are ours.
    with pytest.raises(ConfigError) as info:
        space.parse_genotype("Genotype(normal=[('sep_conv_3x3', 0)")
    message = str(info.value)
    assert message.startswith("darts-cell genotype text does not parse (")
    assert message.endswith(f" at column 17); write {FORM}")


def _v2_with(cell: str, position: int, pair) -> dict:
    genotype = copy.deepcopy(DARTS_V2)
    genotype[cell][position] = pair
    return genotype


@pytest.mark.parametrize(
    ("genotype", "message"),
    [
        (
            {"normal": DARTS_V2["normal"][:7], "reduce": DARTS_V2["reduce"]},
            "darts-cell genotype: 'normal' has 7 items, but needs 8 (op, input) pairs, two for each of the nodes 2 to 5",
        ),
        (
            _v2_with("reduce", 5, ["sep_conv_7x7", 1]),
            "darts-cell genotype: reduce[5] (node 4): unknown op 'sep_conv_7x7'; the ops are max_pool_3x3, "
            "avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5",
        ),
        (
            _v2_with("normal", 2, ["sep_conv_3x3", 3]),
            "darts-cell genotype: normal[2] (node 3): input 3 is not an earlier node; node 3 reads one of 0 to 2",
        ),
        (
            _v2_with("normal", 0, ["none", 0]),
            "darts-cell genotype: normal[0] (node 2): op 'none' is not allowed; set the space option "
            "allow_none=true to allow it",
        ),
        (
            _v2_with("normal", 1, "sep_conv_3x3"),
            "darts-cell genotype: normal[1] (node 2) is 'sep_conv_3x3', not an (op, input) pair such as "
            "('sep_conv_3x3', 0)",
        ),
        (
            _v2_with("normal", 1, ["sep_conv_3x3", True]),
            "darts-cell genotype: normal[1] (node 2) is ['sep_conv_3x3', True], not an (op, input) pair such as "
            "('sep_conv_3x3', 0)",
        ),
        (
            {**DARTS_V2, "normal_concat": [2, 3, 4]},
            "darts-cell genotype: 'normal_concat' is [2, 3, 4], but darts-cell cells concatenate all four nodes, "
            "[2, 3, 4, 5]",
        ),
        (
            {**DARTS_V2, "steps": 4},
            "darts-cell genotype has an unknown key 'steps'; the keys are 'normal', 'normal_concat', 'reduce', "
            "'reduce_concat'",
        ),
        (
            [DARTS_V2["normal"], DARTS_V2["reduce"]],
            "a darts-cell genotype is a dict with 'normal' and 'reduce' lists of [op, input] pairs "
            "(and optionally 'normal_concat' and 'reduce_concat'), got "
            + repr([DARTS_V2["normal"], DARTS_V2["reduce"]]),
        ),
    ],
)
def test_malformed_genotypes_are_named(space, genotype, message):
    with pytest.raises(ConfigError) as info:
        space.encode(genotype)
    assert str(info.value) == message
    with pytest.raises(ConfigError) as info:
        space.to_architecture(genotype)
    assert str(info.value) == message


def test_text_errors_from_validation_keep_their_message(space):
    text = DARTS_V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 7)")
    with pytest.raises(ConfigError) as info:
        space.parse_genotype(text)
    assert str(info.value) == (
        "darts-cell genotype: normal[7] (node 5): input 7 is not an earlier node; node 5 reads one of 0 to 4"
    )


# -- encoding ----------------------------------------------------------------------------------


def test_choices_per_cell_node_and_input(space):
    choices = space.choices()
    assert len(choices) == 2 * 4 * 2 * 2
    assert [c.name for c in choices[:4]] == [
        "normal.node2.input0",
        "normal.node2.op0",
        "normal.node2.input1",
        "normal.node2.op1",
    ]
    assert choices[16].name == "reduce.node2.input0"
    assert [len(c.options) for c in choices if c.name.endswith("input0")] == [2, 3, 4, 5] * 2
    assert all(c.options == OPS[1:] for c in choices if ".op" in c.name)
    assert DartsCellSpace(allow_none=True).choices()[1].options == OPS
    assert space.size() == ((2 * 3 * 4 * 5) ** 2 * 7**8) ** 2


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_decode_encode_round_trip(data):
    space = DartsCellSpace(allow_none=data.draw(st.booleans()))
    indices = [data.draw(st.integers(0, len(c.options) - 1)) for c in space.choices()]
    genotype = space.decode(indices)
    assert space.encode(genotype) == indices
    assert space.parse_genotype(json.dumps(genotype)) == genotype


def test_encoding_of_the_published_genotype(space):
    indices = space.encode(DARTS_V2)
    assert indices[:4] == [0, space.ops.index("sep_conv_3x3"), 1, space.ops.index("sep_conv_3x3")]
    assert space.decode(indices) == DARTS_V2


def test_decode_rejects_bad_indices(space):
    with pytest.raises(ConfigError, match="darts-cell decodes 32 indices, got 3"):
        space.decode([0, 0, 0])
    with pytest.raises(ConfigError, match=r"normal.node2.input0: index 2 is outside 0..1"):
        space.decode([2] + [0] * 31)


def test_key_ignores_the_order_of_a_nodes_two_inputs(space):
    swapped = copy.deepcopy(DARTS_V2)
    swapped["normal"][0], swapped["normal"][1] = swapped["normal"][1], swapped["normal"][0]
    assert space.key(swapped) == space.key(DARTS_V2)
    assert space.key(DARTS_V1) != space.key(DARTS_V2)
    # The genotype itself is kept as given: the slots name the modules.
    assert space.decode(space.encode(swapped)) == swapped


def test_mutation_and_crossover_stay_in_the_space():
    space = DartsCellSpace(**SMALL)
    rng = np.random.default_rng(0)
    parents = _samples(space, 6)
    for a, b in zip(parents[::2], parents[1::2], strict=True):
        child = space.mutate(a, rng)
        assert child != a
        mixed = space.crossover(a, b, rng)
        space.to_architecture(child)
        space.to_architecture(mixed)


# -- lowering ----------------------------------------------------------------------------------


def test_darts_v2_has_the_published_parameter_count(space):
    # 3,349,342: the DARTS (second order) CIFAR-10 network, 36 channels, 20 cells, no auxiliary
    # head, as the authors' utils.count_parameters_in_MB (which skips the auxiliary head)
    # reports it — "3.3M" in the paper's Table 1.
    arch = space.to_architecture(DARTS_V2)
    assert arch.num_params == 3_349_342
    assert _num_params(build_model(arch)) == 3_349_342


def test_darts_v2_network_structure(space):
    arch = space.to_architecture(DARTS_V2)
    assert arch.name == "DartsNetwork"
    calls = [(n.name, n.block) for n in arch.nodes if n.op == "block"]
    assert len(calls) == 20
    assert [name for name, block in calls if block == "ReductionCell"] == ["cell6", "cell13"]
    assert [name for name, block in calls if block == "NormalCellReductionPrev"] == ["cell7", "cell14"]
    assert arch.sizes == (("c", 36),)
    # Each cell reads the outputs of the two cells before it; the first reads the stem twice.
    assert arch.nodes[2].inputs == ("stem_bn", "stem_bn")
    assert arch.nodes[3].inputs == ("stem_bn", "cell0")
    assert arch.nodes[9].inputs == ("cell5", "cell6")
    assert arch.nodes[9].attr_dict == {"c_prev_prev": 144, "c_prev": 288, "c": 72, "c_half": 36}
    assert arch.shapes["cell5"] == (144, 32, 32)
    assert arch.shapes["cell6"] == (288, 16, 16)
    assert arch.shapes["cell19"] == (576, 8, 8)
    reduction = arch.block_map["ReductionCell"]
    # max_pool_3x3 on a cell input of a reduction cell has stride 2, on a node stride 1.
    assert reduction.nodes[2].op == "max_pool2d"
    assert reduction.nodes[2].attr_dict == {"kernel_size": 3, "stride": 2, "padding": 1}
    assert [n.op for n in reduction.nodes].count("identity") == 3  # skip_connect from node 2


def test_emitted_darts_v2_has_one_class_per_cell_kind_built_in_a_loop(space):
    source = PytorchEmitter().render(space.to_architecture(DARTS_V2), {"space": "darts-cell", "genotype": DARTS_V2})
    # The cell after a reduction is a NormalCell with reduction_prev=True, as in the authors' code.
    classes = ["ReLUConvBN", "SepConv", "DilConv", "FactorizedReduce", "NormalCell", "ReductionCell", "DartsNetwork"]
    assert _class_names(source) == classes
    assert len(source.splitlines()) <= 150  # not 20 unrolled cells
    assert "    def __init__(self, c: int = 36, num_classes: int = 10) -> None:" in source
    assert "            NormalCell(c_prev_prev=4 * c, c_prev=8 * c, c=2 * c, reduction_prev=True),\n" in source
    assert "        for cell in self.cells:\n            s0, s1 = s1, cell(s0, s1)\n" in source
    assert "        self.classifier = nn.Linear(16 * c, num_classes)\n" in source
    assert "c_half" not in source


@pytest.mark.parametrize(("init_channels", "num_classes"), [(36, 10), (16, 100), (20, 10)])
def test_emitted_network_takes_other_sizes_with_the_spaces_parameter_counts(tmp_path, init_channels, num_classes):
    emitted = _import_source(tmp_path / "darts.py", PytorchEmitter().render(DartsCellSpace().to_architecture(DARTS_V2)))
    model = emitted.build_model(c=init_channels, num_classes=num_classes)
    expected = DartsCellSpace(num_classes=num_classes, init_channels=init_channels).to_architecture(DARTS_V2)

    assert _num_params(model) == expected.num_params
    assert init_channels != 36 or _num_params(model) == 3_349_342


def test_strided_skip_is_a_factorized_reduce():
    # DARTS_V1's reduce cell has no skip from an input; this one does.
    genotype = copy.deepcopy(DARTS_V1)
    genotype["reduce"][0] = ["skip_connect", 0]
    arch = DartsCellSpace(**SMALL).to_architecture(genotype)
    first = arch.block_map["ReductionCell"].nodes[2]
    assert (first.name, first.block) == ("node2_op0", "FactorizedReduce")
    assert first.attr_dict == {"c_in": "c", "c_out": "c", "c_half": "c_half"}
    factorized = arch.block_map["FactorizedReduce"]
    assert [n.op for n in factorized.nodes] == ["relu", "conv2d", "crop2d", "conv2d", "concat", "batchnorm2d"]
    assert factorized.nodes[2].attr_dict == {"top": 1, "bottom": 0, "left": 1, "right": 0}


def test_ops_follow_the_authors():
    genotype = copy.deepcopy(DARTS_V2)
    genotype["normal"][:4] = [["avg_pool_3x3", 0], ["sep_conv_5x5", 1], ["dil_conv_5x5", 0], ["none", 1]]
    cell = DartsCellSpace(allow_none=True, **SMALL).to_architecture(genotype).block_map["NormalCell"]
    by_name = {n.name: n for n in cell.nodes}
    assert by_name["node2_op0"].attr_dict == {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False}
    assert by_name["node2_op1"].attr_dict == {"c": "c", "kernel_size": 5, "stride": 1, "padding": 2}
    assert by_name["node3_op0"].attr_dict == {
        "c": "c",
        "kernel_size": 5,
        "stride": 1,
        "padding": 4,
        "dilation": 2,
    }
    assert (by_name["node3_op1"].op, by_name["node3_op1"].attr_dict) == ("zero", {"stride": 1})
    assert by_name["preprocess0"].attr_dict == {
        "c_in": "c_prev_prev",
        "c_out": "c",
        "kernel_size": 1,
        "stride": 1,
        "padding": 0,
    }


def test_unread_cell_inputs_are_not_preprocessed():
    genotype = copy.deepcopy(DARTS_V2)
    genotype["normal"] = [[op, 1 if source == 0 else source] for op, source in genotype["normal"]]
    arch = DartsCellSpace(**SMALL).to_architecture(genotype)
    normal = arch.block_map["NormalCell"]
    assert "preprocess0" not in {n.name for n in normal.nodes}
    assert normal.params == ("c_prev", "c")
    # Without preprocess0, a normal cell after a reduction is the same module: one class.
    assert "NormalCellReductionPrev" not in arch.block_map
    assert _num_params(build_model(arch)) == arch.num_params


def test_shallow_networks_have_a_reduction_cell_after_a_reduction():
    space = DartsCellSpace((3, 8, 8), 10, init_channels=4, layers=2)
    assert space.reductions == [0, 1]
    arch = space.to_architecture(DARTS_V2)
    assert [n.block for n in arch.nodes if n.op == "block"] == ["ReductionCell", "ReductionCellReductionPrev"]
    assert arch.shapes["cell1"] == (64, 2, 2)
    assert _num_params(build_model(arch)) == arch.num_params


@pytest.mark.parametrize("allow_none", [False, True])
def test_sampled_genotypes_build_with_torch(allow_none):
    torch.manual_seed(0)
    space = DartsCellSpace((1, 8, 8), 3, init_channels=4, layers=4, allow_none=allow_none)
    for genotype in [DARTS_V1, *_samples(space, 4)]:
        arch = space.to_architecture(genotype)
        model = build_model(arch).eval()
        assert _num_params(model) == arch.num_params
        with torch.no_grad():
            assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_architecture_round_trips_through_json():
    space = DartsCellSpace(**SMALL)
    for genotype in [DARTS_V2, *_samples(space, 3)]:
        arch = space.to_architecture(genotype)
        assert Architecture.from_json(arch.to_json()) == arch


def test_the_size_c_is_a_hint_in_the_json_only_where_declared():
    arch = DartsCellSpace(**SMALL).to_architecture(DARTS_V2)
    data = arch.to_dict()
    assert data["sizes"] == {"c": 8}
    # Without sizes the JSON, and so the fingerprint, is what it was before sizes existed.
    plain = Architecture.from_dict({k: v for k, v in data.items() if k != "sizes"})
    assert "sizes" not in plain.to_dict()
    assert plain.num_params == arch.num_params
    assert plain.fingerprint() != arch.fingerprint()
    with pytest.raises(ValueError, match="size 'stem' is also the name of a node"):
        Architecture.from_dict({**data, "sizes": {"stem": 8}})
    with pytest.raises(ValueError, match=r"size 'c' must be an integer from 1 to 65536, got True"):
        Architecture.from_dict({**data, "sizes": {"c": True}})


# -- emitted code ------------------------------------------------------------------------------


def _import_source(path: Path, source: str):
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Every op, in both cell kinds; the reduce cell has strided pools, skip and none on its inputs.
EVERY_OP = {
    "normal": [
        ["sep_conv_3x3", 0],
        ["sep_conv_5x5", 1],
        ["dil_conv_3x3", 0],
        ["dil_conv_5x5", 2],
        ["avg_pool_3x3", 1],
        ["max_pool_3x3", 3],
        ["skip_connect", 0],
        ["none", 4],
    ],
    "reduce": [
        ["skip_connect", 0],
        ["none", 1],
        ["max_pool_3x3", 1],
        ["avg_pool_3x3", 2],
        ["sep_conv_3x3", 0],
        ["dil_conv_3x3", 1],
        ["skip_connect", 4],
        ["sep_conv_5x5", 3],
    ],
}


def test_emitted_code_matches_the_built_model(tmp_path):
    arch = DartsCellSpace(allow_none=True, **SMALL).to_architecture(EVERY_OP)
    torch.manual_seed(0)
    model = build_model(arch)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():  # random weights and BN statistics
                noise = torch.randn(tensor.shape, generator=generator)
                tensor.copy_(noise.abs() + 0.5 if name.endswith("running_var") else noise)
    model.eval()
    source = PytorchEmitter().render(arch)
    classes = ["ReLUConvBN", "SepConv", "DilConv", "FactorizedReduce", "NormalCell", "ReductionCell", "DartsNetwork"]
    assert sorted(_class_names(source)) == sorted(classes)
    emitted = _import_source(tmp_path / "darts.py", source).build_model()
    # The cells live in one nn.ModuleList: cell3.x is cells.3.x in the generated code.
    weights = PytorchEmitter().code_state_dict(arch, model.state_dict())
    assert "cells.3.preprocess0.conv.weight" in weights
    emitted.load_state_dict(weights, strict=True)
    x = torch.randn(2, *SMALL["input_shape"], generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=1e-6)


def test_shallow_network_after_two_reductions_emits_one_reduction_class(tmp_path):
    # layers=2: a reduction cell follows a reduction cell (ReductionCellReductionPrev).
    arch = DartsCellSpace((3, 8, 8), 10, init_channels=4, layers=2).to_architecture(DARTS_V2)
    source = PytorchEmitter().render(arch)
    assert "class ReductionCellReductionPrev" not in source
    assert "ReductionCell(c_prev_prev=3 * c, c_prev=8 * c, c=4 * c, reduction_prev=True)" in source
    torch.manual_seed(0)
    model = build_model(arch).eval()
    emitted = _import_source(tmp_path / "darts.py", source).build_model()
    emitted.load_state_dict(PytorchEmitter().code_state_dict(arch, model.state_dict()), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=1e-6)
