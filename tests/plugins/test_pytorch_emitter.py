"""The PyTorch emitter: the code it writes is valid, clean, stable and matches the builder."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_cases import (
    CASES,
    GOLDEN_CASES,
    GOLDEN_METADATA,
    IN,
    REFERENCE_CASES,
    cells,
    chain_cnn,
    conv,
    head,
    op,
)

from automl_codegen import OPS, Architecture, ArchitectureError, Block, Node
from automl_codegen_plugins.emitters.pytorch import PytorchEmitter, register_emitters
from automl_codegen_plugins.torch_model import build_model

EMITTER = PytorchEmitter()
GOLDEN_DIR = Path(__file__).parents[1] / "golden" / "pytorch"
HOSTILE = '"""; import os #'
_module_ids = itertools.count()


def import_file(path: Path) -> ModuleType:
    """Import generated code under a fresh name, leaving ``sys.modules`` alone."""
    spec = importlib.util.spec_from_file_location(f"emitted_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and batch-norm statistics, so that eval mode is not an identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            tensor.copy_(noise.abs() + 0.5 if name.endswith("running_var") else noise)
    return model.eval()


def emit(arch: Architecture, directory: Path, metadata: dict | None = None) -> ModuleType:
    path = directory / f"{arch.name.lower()[:20]}_{next(_module_ids)}.py"
    path.write_text(EMITTER.render(arch, metadata), encoding="utf-8")
    return import_file(path)


def metadata_for(arch: Architecture) -> dict:
    """The golden metadata, with the input shape of ``arch``."""
    return {**GOLDEN_METADATA, "input": {**GOLDEN_METADATA["input"], "shape": arch.input_shape}}


def inputs(arch: Architecture, batch: int) -> torch.Tensor:
    return torch.randn(batch, *arch.input_shape, generator=torch.Generator().manual_seed(1))


def max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_cases_cover_every_op():
    used = set().union(*(CASES[name]().op_counts() for name in CASES))
    missing = sorted(set(OPS) - used)
    assert not missing, f"no architecture in tests/plugins/ir_cases.py uses {missing}; add one"


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_model_matches_the_builder(case, tmp_path):
    arch = CASES[case]()
    built = randomized(build_model(arch))
    emitted = emit(arch, tmp_path).build_model()
    weights = EMITTER.code_state_dict(arch, built.state_dict())
    emitted.load_state_dict(weights, strict=True)
    x = inputs(arch, 4)

    with torch.no_grad():
        assert max_delta(emitted(x), built(x)) <= 1e-6
    assert list(emitted.state_dict()) == list(weights)
    assert sum(p.numel() for p in emitted.parameters()) == arch.num_params
    assert not emitted.training


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_emitted_ops_compute_what_a_hand_written_version_does(case, tmp_path):
    make_arch, reference = REFERENCE_CASES[case]
    arch = make_arch()
    model = randomized(emit(arch, tmp_path).build_model())
    x = inputs(arch, 2)

    with torch.no_grad():
        assert max_delta(model(x), reference(x, model)) <= 1e-6


@st.composite
def random_graphs(draw, inputs: tuple[str, ...], channels: int = 2) -> tuple[list[Node], str]:
    """A random DAG of shape-keeping nodes over ``inputs``; returns (nodes, output)."""
    values, used, nodes = list(inputs), set(), []
    for index in range(draw(st.integers(1, 7))):
        name = f"n{index}"
        kind = draw(st.sampled_from(["conv2d", "relu", "identity", "add", "concat"]))
        arity = draw(st.integers(2, 3)) if kind in ("add", "concat") else 1
        args = [draw(st.sampled_from(values)) for _ in range(arity)]
        used.update(args)
        if kind == "conv2d":
            nodes.append(conv(name, args[0], channels, channels, padding=1))
        elif kind == "concat":
            nodes.append(op(f"{name}_cat", "concat", *args))
            nodes.append(conv(name, f"{name}_cat", arity * channels, channels, k=1))
            used.add(f"{name}_cat")
        else:
            nodes.append(op(name, kind, *args))
        values.append(name)
    sinks = [node.name for node in nodes if node.name not in used]
    if len(sinks) > 1:
        nodes.append(op("merge", "add", *sinks))
    return nodes, nodes[-1].name


@st.composite
def random_architectures(draw) -> Architecture:
    """A random top-level graph calling a random block whose inputs may be ``x``/``out``."""
    block_inputs = draw(st.sampled_from([("x",), ("out",), ("s0", "s1"), ("out", "x")]))
    body, block_output = draw(random_graphs(block_inputs))
    block = Block("Random", block_inputs, (), body, block_output)
    top, top_output = draw(random_graphs((IN,)))
    call = Node("cell", "block", [top_output] * len(block_inputs), block="Random")
    nodes = [*top, call, *head("cell", 2, 3)]
    return Architecture((2, 3, 3), 3, nodes, "fc", blocks=[block])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=random_architectures())
def test_random_graphs_keep_every_value_they_still_need(arch, tmp_path_factory):
    # Catches variable reuse gone wrong: a chain variable overwritten while still needed.
    built = randomized(build_model(arch))
    emitted = emit(arch, tmp_path_factory.mktemp("random")).build_model()
    emitted.load_state_dict(EMITTER.code_state_dict(arch, built.state_dict()))
    x = inputs(arch, 2)

    with torch.no_grad():
        assert max_delta(emitted(x), built(x)) <= 1e-5


def test_each_block_kind_becomes_one_class():
    source = EMITTER.render(cells())

    assert source.count("class ") == 3
    # Dependency order: a class is defined before the classes that use it.
    assert source.index("class ConvBnAct(nn.Sequential):") < source.index("class Cell(nn.Module):")
    assert source.index("class Cell(nn.Module):") < source.index("class CellNet(nn.Module):")
    # c is 8 in every call, so it is written in; the stride differs.
    assert "self.cell1 = Cell(stride=1)" in source
    assert "self.cell2 = Cell(stride=2)" in source
    assert "self.inner = ConvBnAct()" in source


def test_chains_reuse_x_and_shared_values_get_names():
    source = EMITTER.render(CASES["branches"]())

    # x goes on along the chain, even to a value read several times; values read once
    # are written where they are read; an identity is its input's variable.
    # Terms of a sum computed just before it are written in it, unless the line grows too
    # long; the others are named after their nodes.
    assert "        x = self.stem(x)\n        dw = self.dw(x)\n        gate = torch.sigmoid(dw)\n" in source
    assert "        thin = F.max_pool2d(x, 3, stride=2, padding=1)\n" in source
    assert "        x = gate + thin + torch.zeros_like(x[:, :, ::2, ::2]) + self.reduce(x[:, :, 1:, 1:])\n" in source
    assert "        x = torch.cat([F.silu(x), dw], dim=1)\n" in source
    assert "        return self.fc(x)\n" in source
    assert "skip" not in source


def test_cell_bodies_write_terms_in_place_and_name_what_they_share():
    source = EMITTER.render(CASES["repeats"]())

    assert "        total = pre0 + pre1\n        return torch.cat([total, pre1], dim=1)\n" in source
    assert "        x = torch.cat([self.left(x), self.right(x[:, :, 1:, 1:])], dim=1)\n" in source


def test_repeated_calls_are_built_and_run_in_a_loop():
    source = EMITTER.render(CASES["repeats"]())

    assert "        self.units = nn.Sequential(\n            Unit(c_in=2 * c, c_out=4 * c),\n" in source
    assert "            *(Unit(c_in=4 * c, c_out=4 * c, residual=True) for _ in range(2)),\n" in source
    assert "[Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c) for _ in range(2)]" in source
    assert (
        "        s0 = s1 = self.units(x)\n        for cell in self.cells:\n            s0, s1 = s1, cell(s0, s1)\n"
        in source
    )
    # After the loop, the last two cells' outputs are where the loop left them.
    assert "        pool = F.max_pool2d(s1, 2)\n        cell2 = self.cell2(s0, pool)\n" in source


def test_twins_become_one_class_with_a_flag():
    source = EMITTER.render(CASES["repeats"]())

    assert "class UnitResidual" not in source
    assert "class PairWide" not in source
    # An appended sum runs when the flag is set...
    assert "    def __init__(self, c_in: int, c_out: int, residual: bool = False) -> None:" in source
    assert "        if self.residual:\n            out = x + out\n        return out\n" in source
    # ...and a node that calls another block picks the class.
    assert "        self.pre0 = (Halves if wide else Unit)(c_in=c_prev_prev, c_out=c)\n" in source
    assert "self.cell2 = Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c, wide=True)" in source


def test_a_parameter_that_follows_from_others_is_computed():
    source = EMITTER.render(CASES["repeats"]())

    # Halves' c_half is c_out // 2: the batch norm after the two halves says so.
    assert "class Halves(nn.Module):\n    def __init__(self, c_in: int, c_out: int) -> None:" in source
    assert "        self.left = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)\n" in source
    assert "c_half" not in source


def test_sizes_and_the_class_count_are_arguments(tmp_path):
    arch = CASES["repeats"]()
    module = emit(arch, tmp_path)
    source = EMITTER.render(arch)

    assert "    def __init__(self, c: int = 4, num_classes: int = 10) -> None:" in source
    assert "        self.stem = nn.Conv2d(3, 2 * c, 3, padding=1, bias=False)\n" in source
    assert "        self.fc = nn.Linear(8 * c, num_classes)\n" in source
    assert sum(p.numel() for p in module.build_model().parameters()) == arch.num_params
    wider = module.build_model(c=6, num_classes=3)
    assert wider(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    assert (wider.stem.out_channels, wider.cells[0].pre1.conv.out_channels, wider.fc.in_features) == (12, 12, 48)
    # (DARTS at other sizes has its space's parameter counts: see test_darts_cell.py.)


def test_repeated_calls_have_the_same_keys_in_the_builder_and_the_code(tmp_path):
    arch = CASES["repeats"]()
    model = randomized(build_model(arch))
    keys = list(model.state_dict())

    assert "units.1.conv.weight" in keys
    assert "cells.0.pre0.conv.weight" in keys
    assert "cell2.pre0.left.weight" in keys
    assert model.cell1 is model.cells[1]  # the builder still answers to the node's name
    emitted = emit(arch, tmp_path).build_model()
    emitted.load_state_dict(model.state_dict(), strict=True)  # trained weights load as they are
    x = inputs(arch, 3)
    with torch.no_grad():
        assert max_delta(emitted(x), model(x)) <= 1e-6


def _saved_before_containers(key: str) -> str:
    """``cells.1.x`` as weights saved before repeated calls had containers named it: ``cell1.x``."""
    group, _, rest = key.partition(".")
    index, _, tail = rest.partition(".")
    return f"{group[:-1]}{index}.{tail}" if group in ("units", "cells") else key


def test_export_renames_weights_saved_before_repeated_calls_had_containers(tmp_path):
    arch = CASES["repeats"]()
    model = randomized(build_model(arch))
    old = {_saved_before_containers(key): value for key, value in model.state_dict().items()}
    assert "cell1.pre1.conv.weight" in old

    paths = EMITTER.export(arch, tmp_path, old)

    assert list(torch.load(paths[1], weights_only=True)) == list(model.state_dict())
    x = inputs(arch, 3)
    with torch.no_grad():
        assert max_delta(import_file(paths[0]).build_model(str(paths[1]))(x), model(x)) <= 1e-6


def test_rendering_is_deterministic():
    for make_arch in CASES.values():
        arch = make_arch()
        again = Architecture.from_json(arch.to_json())
        reordered = {**dict(reversed(metadata_for(arch).items())), "metrics": {"b": 2, "a": 1}}
        metrics_swapped = {**metadata_for(arch), "metrics": {"a": 1, "b": 2}}

        assert EMITTER.render(arch) == EMITTER.render(again)
        assert EMITTER.render(arch, reordered) == EMITTER.render(again, metrics_swapped)


def _run_ruff(paths: list[Path]) -> subprocess.CompletedProcess:
    pytest.importorskip("ruff")
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"]
    options = ["--select", "E,F,W,I,B,UP", "--line-length", "100", "--target-version", "py310"]
    return subprocess.run([*command, *options, *map(str, paths)], capture_output=True, text=True, check=False)


def test_emitted_code_passes_ruff(tmp_path):
    paths = []
    for name, make_arch in CASES.items():
        paths.append(tmp_path / f"{name}.py")
        arch = make_arch()
        paths[-1].write_text(EMITTER.render(arch, metadata_for(arch)), encoding="utf-8")
    paths.append(tmp_path / "hostile.py")
    paths[-1].write_text(EMITTER.render(chain_cnn(), hostile_metadata()), encoding="utf-8")

    result = _run_ruff(paths)

    assert result.returncode == 0, result.stdout + result.stderr


# Recent torch deprecates TorchScript, but users still script the models they export.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("case", ["cells", "branches", "chain_cnn", "repeats"])
def test_emitted_model_can_be_scripted(case, tmp_path):
    arch = CASES[case]()
    model = randomized(emit(arch, tmp_path).build_model())
    x = inputs(arch, 2)

    scripted = torch.jit.script(model)

    with torch.no_grad():
        assert max_delta(scripted(x), model(x)) <= 1e-6


def test_export_runs_in_a_fresh_interpreter_without_automl_codegen(tmp_path):
    arch = cells()
    model = randomized(build_model(arch))
    x = inputs(arch, 3)
    with torch.no_grad():
        torch.save({"x": x, "y": model(x)}, tmp_path / "io.pt")
    out = tmp_path / "out"
    paths = EMITTER.export(arch, out, model.state_dict(), metadata_for(arch))
    assert paths == [out / "model.py", out / "model.pt"]
    # -S skips site-packages (and the editable install of automl_codegen); only torch's
    # directory is put back, without processing its .pth files.
    script = f"""
        import sys
        sys.path[:0] = [".", {str(Path(torch.__file__).parents[1])!r}]
        try:
            import automl_codegen
        except ModuleNotFoundError:
            pass
        else:
            sys.exit("automl_codegen is importable: " + automl_codegen.__file__)
        import runpy
        import torch
        from model import build_model
        io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=True)
        delta = (build_model("model.pt")(io["x"]) - io["y"]).abs().max().item()
        print("delta", delta)
        assert delta <= 1e-6, delta
        runpy.run_path("model.py", run_name="__main__")
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", textwrap.dedent(script)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch.Size([2, 10])" in result.stdout


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_files(case):
    make_arch, golden_metadata = GOLDEN_CASES[case]
    path = GOLDEN_DIR / f"{case}.py"

    expected = path.read_bytes().decode("utf-8") if path.exists() else None

    assert EMITTER.render(make_arch(), golden_metadata) == expected, (
        f"{path} differs from what the emitter writes now; run "
        f"`python tests/golden/regenerate.py` and review the diff before committing it"
    )


def hostile_metadata() -> dict:
    return {
        "input": {"shape": [1, 8, 8], "dtype": HOSTILE, "normalization": HOSTILE + "\\"},
        "metrics": {HOSTILE: 1.0, "accuracy": HOSTILE, "x" * 300: "\\" * 120},
        "dataset": HOSTILE,
        "strategy": "back\\slash\\",
        "space": '"',
        "genotype": {"ops": [HOSTILE, "\\", "\u00e9\n\t"]},
        HOSTILE: "line\nbreak",
    }


def test_metadata_cannot_inject_code(tmp_path):
    source = EMITTER.render(chain_cnn(), hostile_metadata())

    tree = ast.parse(source)
    imported = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"torch", "torch.nn.functional", "torch.nn"}
    docstring = ast.get_docstring(tree)
    assert f'Search: dataset {HOSTILE}, strategy back\\slash\\, space ".' in docstring
    assert source.isascii()
    assert all(len(line) <= 100 for line in source.splitlines())
    # Still runs, with the text shown as it was given.
    path = tmp_path / "hostile.py"
    path.write_text(source, encoding="utf-8")
    assert import_file(path).build_model()(torch.randn(1, 1, 8, 8)).shape == (1, 10)


def test_docstring_states_input_metrics_and_usage():
    given = {**GOLDEN_METADATA, "space": None, "trial": 7}
    docstring = ast.get_docstring(ast.parse(EMITTER.render(chain_cnn(), given)))

    assert "Input: a float32 tensor of shape (N, 1, 8, 8), N being the batch size." in docstring
    assert "Normalisation: x / 16, then (x - 0.3) / 0.4" in docstring
    assert "    accuracy: 0.9811\n    latency_ms: 0.1234\n    params: 704" in docstring
    assert "Search: dataset digits, strategy evolution.\n" in docstring
    assert "trial: 7\n" in docstring
    assert 'model = build_model("model.pt")' in docstring


def test_metadata_shape_must_match_the_architecture():
    with pytest.raises(ValueError, match=r"metadata input shape \[3, 8, 8\] does not match"):
        EMITTER.render(chain_cnn(), {"input": {"shape": [3, 8, 8]}})


def _calling(block: Block, **params: int) -> Architecture:
    nodes = [Node("cell", "block", [IN], params, block=block.name), *head("cell", 2, 2)]
    return Architecture((2, 4, 4), 2, nodes, "fc", blocks=[block])


@pytest.mark.parametrize(
    ("make_arch", "message"),
    [
        (
            lambda: _calling(Block("F", ["x"], [], [op("act", "relu", "x")], "act")),
            "block name 'F' is not a valid class name: use CamelCase letters and digits, at least 2 characters",
        ),
        (
            lambda: _calling(
                Block("Cell", ["x"], ["training"], [op("z", "zero", "x", stride="training")], "z"),
                training=1,
            ),
            "block 'Cell': parameter 'training' is reserved in generated code; rename it",
        ),
        (
            lambda: Architecture((1, 4, 4), 2, [conv("share_memory", IN, 1, 2), *head("share_memory", 2, 2)], "fc"),
            "node name 'share_memory' is reserved in generated code; rename it",
        ),
    ],
    ids=["class-named-F", "stored-parameter", "module-attribute"],
)
def test_names_that_would_break_generated_code_are_refused(make_arch, message):
    with pytest.raises(ArchitectureError) as info:
        EMITTER.render(make_arch())

    assert str(info.value) == message


def test_export_without_weights_writes_only_the_module(tmp_path):
    assert EMITTER.export(chain_cnn(), tmp_path / "a") == [tmp_path / "a" / "model.py"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["model.py"]


def test_export_refuses_weights_of_another_architecture(tmp_path):
    weights = build_model(cells()).state_dict()

    with pytest.raises(ValueError, match="does not fit architecture 'ChainNet'"):
        EMITTER.export(chain_cnn(), tmp_path, weights)
    assert list(tmp_path.iterdir()) == []


def test_plugin_registers_the_emitter_and_imports_no_torch():
    registered = {}
    register_emitters(register=registered.__setitem__)
    entry_points = metadata.entry_points(group="automl_codegen", name="pytorch")
    check = (
        "import sys, automl_codegen_plugins.emitters.pytorch; "
        "assert 'torch' not in sys.modules and 'jinja2' not in sys.modules"
    )

    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)

    assert list(registered) == ["pytorch"]
    assert isinstance(registered["pytorch"], PytorchEmitter)
    assert [ep.value for ep in entry_points] == ["automl_codegen_plugins.emitters.pytorch"]
    assert result.returncode == 0, result.stderr


def test_an_export_that_fails_while_writing_leaves_the_earlier_files_whole(tmp_path, monkeypatch):
    arch = cells()
    out = tmp_path / "out"
    EMITTER.export(arch, out, build_model(arch).state_dict(), metadata_for(arch))
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half")  # a partial write, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        EMITTER.export(arch, out, randomized(build_model(arch)).state_dict(), metadata_for(arch))
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no temporary file left either


def test_a_genotype_longer_than_a_line_is_never_split_in_the_docstring():
    genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_3x3~2|"
    docstring = ast.get_docstring(ast.parse(EMITTER.render(chain_cnn(), {"genotype": genotype, "space": "nb201"})))
    assert f"Genotype:\n    {genotype}\n" in docstring
