"""The TensorFlow emitter: the Keras code it writes is clean and stable, and with the
converted PyTorch weights it computes what the torch model computes, op by op."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import os
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

tf = pytest.importorskip("tensorflow")
# Keras' own save_weights trips over NumPy 2's copy keyword; nothing to do with this code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

import keras  # noqa: E402 - after the skip: TensorFlow brings Keras 3
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from ir_cases import (  # noqa: E402
    CASES,
    GOLDEN_METADATA,
    IN,
    REFERENCE_CASES,
    cells,
    chain_cnn,
    conv,
    head,
    op,
    single_op,
)
from tf_cases import SPACE_SAMPLES, TF_CASES, TF_GOLDEN_CASES, sampled  # noqa: E402

from automl_codegen import OPS, Architecture, ArchitectureError, Block, Node, PluginError  # noqa: E402
from automl_codegen.plugins import get_registry  # noqa: E402
from automl_codegen.testing import plugin_manager_with  # noqa: E402
from automl_codegen_plugins.emitters import tensorflow as tf_plugin  # noqa: E402
from automl_codegen_plugins.emitters.pytorch import PytorchEmitter  # noqa: E402
from automl_codegen_plugins.emitters.tensorflow import TensorflowEmitter, register_emitters  # noqa: E402
from automl_codegen_plugins.torch_model import build_model  # noqa: E402

EMITTER = TensorflowEmitter()
GOLDEN_DIR = Path(__file__).parents[1] / "golden" / "tensorflow"
HOSTILE = '"""; import os #'
TOLERANCE = 1e-4  # float32, across frameworks
_module_ids = itertools.count()


# -- helpers ------------------------------------------------------------------------------


def import_file(path: Path) -> ModuleType:
    """Import generated code under a fresh name, leaving ``sys.modules`` alone."""
    spec = importlib.util.spec_from_file_location(f"emitted_tf_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_like(arch: Architecture, seed: int = 0) -> torch.nn.Module:
    """The torch model with PyTorch's own random init and random batch-norm statistics.

    Weights keep their usual scale (as trained weights do), so outputs stay O(1) and an
    absolute tolerance means something; BN statistics are not the identity.
    """
    torch.manual_seed(seed)
    model = build_model(arch)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5, generator=generator)
                    module.bias.uniform_(-0.5, 0.5, generator=generator)
            if isinstance(module, torch.nn.LayerNorm) and module.elementwise_affine:
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.5, 0.5, generator=generator)
    return model.eval()


def inputs(arch: Architecture, batch: int = 4) -> torch.Tensor:
    return torch.randn(batch, *arch.input_shape, generator=torch.Generator().manual_seed(1))


def channels_last(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) and (N, C, L) -> (N, L, C), what the Keras model takes; (N, F) stays."""
    return x.numpy().transpose(0, *range(2, x.dim()), 1)


def exported(arch: Architecture, directory: Path, model: torch.nn.Module, meta: dict | None = None) -> keras.Model:
    """Export ``arch`` with ``model``'s weights and load the result as a user would."""
    paths = EMITTER.export(arch, directory, model.state_dict(), meta)
    assert paths == [directory / "model_tf.py", directory / "model_tf.weights.h5"]
    return import_file(paths[0]).build_model(str(paths[1]))


def keras_params(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def max_delta(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def check_parity(arch: Architecture, directory: Path) -> tuple[float, int]:
    """max |Δ| between torch and the exported Keras model, and the Keras parameter count."""
    model = trained_like(arch)
    emitted = exported(arch, directory, model)
    x = inputs(arch)
    with torch.no_grad():
        expected = model(x).numpy()
    delta = max_delta(emitted(channels_last(x)), expected)
    assert delta <= TOLERANCE, f"{arch.name}: max |Δ| {delta:.3g}"
    assert keras_params(emitted) == arch.num_params == sum(p.numel() for p in model.parameters())
    return delta, keras_params(emitted)


# -- coverage and parity -------------------------------------------------------------------


def test_cases_cover_every_op():
    used = set().union(*(make().op_counts() for make in [*CASES.values(), *TF_CASES.values()]))
    missing = sorted(set(OPS) - used)
    assert not missing, f"no architecture in ir_cases.py or tf_cases.py uses {missing}; add one"


ALL_CASES = {**{f"ir-{k}": v for k, v in CASES.items()}, **{f"tf-{k}": v for k, v in TF_CASES.items()}}


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_keras_model_matches_torch_with_converted_weights(case, tmp_path):
    check_parity(ALL_CASES[case](), tmp_path)


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_keras_ops_compute_what_a_hand_written_version_does(case, tmp_path):
    make_arch, reference = REFERENCE_CASES[case]
    arch = make_arch()
    model = trained_like(arch)
    emitted = exported(arch, tmp_path, model)
    x = inputs(arch, 2)

    with torch.no_grad():
        expected = reference(x, model).numpy()

    assert max_delta(emitted(channels_last(x)), expected) <= 1e-5


@pytest.mark.parametrize("space", sorted(SPACE_SAMPLES))
def test_sampled_architectures_agree_in_both_frameworks(space, tmp_path):
    for index, arch in enumerate(sampled(space)):
        check_parity(arch, tmp_path / str(index))


def test_max_pool_pads_with_minus_infinity(tmp_path):
    # Zero padding would win every border window of a negative map.
    arch = single_op(op("pool", "max_pool2d", IN, kernel_size=3, stride=2, padding=1), (2, 6, 6))
    emitted = exported(arch, tmp_path, build_model(arch))
    x = -inputs(arch).abs() - 1

    assert max_delta(emitted(channels_last(x)), build_model(arch)(x).numpy()) == 0.0


def test_stride_two_pads_explicitly_where_same_would_be_asymmetric(tmp_path):
    arch = TF_CASES["stride2_padding"]()
    source = EMITTER.render(arch)

    assert '    x = layers.ZeroPadding2D(1, name="even.pad")(inputs)\n' in source
    assert '    x = layers.Conv2D(4, 3, strides=2, use_bias=False, name="even")(x)\n' in source
    # Stride 1 with symmetric padding is exactly "same", dilation included.
    assert 'layers.Conv2D(4, 3, padding="same", dilation_rate=2, use_bias=False, name="same")' in source
    # The trap is real: Keras' "same" on stride 2 pads (0, 1) and computes something else.
    model = trained_like(arch)
    x = inputs(arch)
    same = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)
    same.build((None, 10, 10, 2))
    same.set_weights([model.even.weight.detach().numpy().transpose(2, 3, 1, 0)])
    with torch.no_grad():
        expected = model.even(x).numpy().transpose(0, 2, 3, 1)
    assert max_delta(same(channels_last(x)), expected) > 1e-2


def test_batch_norm_momentum_follows_the_keras_convention(tmp_path):
    arch = TF_CASES["batchnorm_conventions"]()
    model = trained_like(arch)
    emitted = exported(arch, tmp_path, model)
    bn = emitted.get_layer("bn")
    assert bn.momentum == pytest.approx(0.7)  # torch's 0.3
    assert bn.epsilon == pytest.approx(1e-3)
    assert emitted.get_layer("plain").momentum == pytest.approx(0.95)
    assert not emitted.get_layer("plain").center
    assert not emitted.get_layer("plain").scale
    x = inputs(arch, 8)
    before = model.bn.running_var.numpy().copy()

    # One training step updates the moving statistics the same way in both frameworks...
    emitted(channels_last(x), training=True)
    with torch.no_grad():
        model.train()(x)

    assert max_delta(bn.moving_mean, model.bn.running_mean.numpy()) <= 1e-5
    # ...except that PyTorch folds in the unbiased batch variance, Keras the biased one.
    unbiased = (model.bn.running_var.numpy() - 0.7 * before) / 0.3
    biased = (np.asarray(bn.moving_variance) - 0.7 * before) / 0.3
    n = x.shape[0] * x.shape[2] * x.shape[3]
    assert unbiased == pytest.approx(biased * n / (n - 1), rel=1e-4)


@st.composite
def random_graphs(draw, inputs: tuple[str, ...], channels: int = 2) -> tuple[list[Node], str]:
    """A random DAG of shape-keeping nodes, some lowered to two Keras layers (pad + pool)."""
    values, used, nodes = list(inputs), set(), []
    for index in range(draw(st.integers(1, 6))):
        name = f"n{index}"
        kind = draw(st.sampled_from(["conv2d", "padded_avg", "relu", "identity", "add", "concat"]))
        arity = draw(st.integers(2, 3)) if kind in ("add", "concat") else 1
        args = [draw(st.sampled_from(values)) for _ in range(arity)]
        used.update(args)
        if kind == "conv2d":
            nodes.append(conv(name, args[0], channels, channels, padding=1))
        elif kind == "padded_avg":
            nodes.append(op(name, "avg_pool2d", args[0], kernel_size=3, stride=1, padding=1))
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
    block_inputs = draw(st.sampled_from([("x",), ("out",), ("s0", "s1"), ("out", "x")]))
    body, block_output = draw(random_graphs(block_inputs))
    block = Block("Random", block_inputs, (), body, block_output)
    top, top_output = draw(random_graphs((IN,)))
    call = Node("cell", "block", [top_output] * len(block_inputs), block="Random")
    return Architecture((2, 3, 3), 3, [*top, call, *head("cell", 2, 3)], "fc", blocks=[block])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=random_architectures())
def test_random_graphs_keep_every_value_they_still_need(arch, tmp_path_factory):
    # Two-layer nodes write an intermediate into a variable: it must not be one still needed.
    check_parity(arch, tmp_path_factory.mktemp("random"))


# -- the generated source -------------------------------------------------------------------


def metadata_for(arch: Architecture) -> dict:
    return {**GOLDEN_METADATA, "input": {**GOLDEN_METADATA["input"], "shape": arch.input_shape}}


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


def test_rendering_is_deterministic():
    for make_arch in ALL_CASES.values():
        arch = make_arch()
        again = Architecture.from_json(arch.to_json())
        reordered = {**dict(reversed(metadata_for(arch).items())), "metrics": {"b": 2, "a": 1}}
        swapped = {**metadata_for(arch), "metrics": {"a": 1, "b": 2}}

        assert EMITTER.render(arch) == EMITTER.render(again)
        assert EMITTER.render(arch, reordered) == EMITTER.render(again, swapped)


def _run_ruff(paths: list[Path]) -> subprocess.CompletedProcess:
    pytest.importorskip("ruff")
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"]
    options = ["--select", "E,F,W,I,B,UP", "--line-length", "100", "--target-version", "py310"]
    return subprocess.run([*command, *options, *map(str, paths)], capture_output=True, text=True, check=False)


def test_emitted_code_passes_ruff(tmp_path):
    paths = []
    for name, make_arch in ALL_CASES.items():
        arch = make_arch()
        paths.append(tmp_path / f"{name.replace('-', '_')}.py")
        paths[-1].write_text(EMITTER.render(arch, metadata_for(arch)), encoding="utf-8")
    for space in SPACE_SAMPLES:
        for index, arch in enumerate(sampled(space)):
            paths.append(tmp_path / f"{space.replace('-', '_')}_{index}.py")
            paths[-1].write_text(EMITTER.render(arch), encoding="utf-8")
    paths.append(tmp_path / "hostile.py")
    paths[-1].write_text(EMITTER.render(chain_cnn(), hostile_metadata()), encoding="utf-8")

    result = _run_ruff(paths)

    assert result.returncode == 0, result.stdout + result.stderr


def test_each_block_kind_becomes_one_function():
    source = EMITTER.render(cells())

    assert source.count("\ndef ") == 3
    assert source.index("def _conv_bn_act(") < source.index("def _cell(") < source.index("def build_model(")
    # c is 8 in every call, so it is written in; the stride differs.
    assert '    x = _cell(x, x, stride=1, name="cell1")\n' in source
    assert '    x = _cell(x, x, stride=2, name="cell2")\n' in source
    assert '    x = _conv_bn_act(x, name=f"{name}.inner")\n' in source


def test_repeats_twins_and_sizes_follow_the_pytorch_code():
    source = EMITTER.render(CASES["repeats"]())

    assert "def build_model(weights: str | None = None, c: int = 4, num_classes: int = 10) -> keras.Model:" in source
    assert '    x = _unit(x, c_out=4 * c, name="units.0")\n    for i in range(1, 3):\n' in source
    assert '        x = _unit(x, c_out=4 * c, name=f"units.{i}", residual=True)\n' in source
    assert "    s0 = s1 = x\n    for i in range(2):\n" in source
    assert '        s0, s1 = s1, _pair(s0, s1, c=2 * c, name=f"cells.{i}")\n' in source
    assert '    cell2 = _pair(s0, pool, c=2 * c, name="cell2", wide=True)\n' in source
    assert '    pre0 = (_halves if wide else _unit)(s0, c_out=c, name=f"{name}.pre0")\n' in source
    assert '    if residual:\n        out = layers.Add(name=f"{name}.residual")([x, out])\n    return out\n' in source
    assert '    left = layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name=f"{name}.left")(x)\n' in source
    assert '    outputs = layers.Dense(num_classes, name="fc")(x)\n' in source


def test_other_sizes_build(tmp_path):
    arch = CASES["repeats"]()
    path = tmp_path / "model_tf.py"
    path.write_text(EMITTER.render(arch), encoding="utf-8")

    model = import_file(path).build_model(c=6, num_classes=3)

    assert model(np.zeros((2, 8, 8, 3), "float32")).shape == (2, 3)
    assert model.get_layer("cells.1.pre1.conv").kernel.shape == (1, 1, 24, 12)


def test_block_function_names_are_snake_case_and_distinct():
    source = EMITTER.render(TF_CASES["acronyms"]())

    assert "def _relu_conv_bn(x: keras.KerasTensor, name: str) -> keras.KerasTensor:" in source
    assert "def _conv_bn(x: keras.KerasTensor, name: str) -> keras.KerasTensor:" in source
    assert "def _conv_bn_2(x: keras.KerasTensor, name: str) -> keras.KerasTensor:" in source


@pytest.mark.parametrize("case", ["cells", "repeats"])
def test_layer_names_are_the_module_paths_of_the_pytorch_code(case, tmp_path):
    arch = CASES[case]()
    model = trained_like(arch)
    emitted = exported(arch, tmp_path, model)
    code_keys = PytorchEmitter().code_state_dict(arch, model.state_dict())
    torch_modules = {key.rsplit(".", 1)[0] for key in code_keys}

    assert {layer.name for layer in emitted.layers if layer.weights} == torch_modules


def test_helpers_are_written_only_when_used():
    plain = EMITTER.render(CASES["residual"]())
    helpers = EMITTER.render(CASES["branches"]())

    assert "_PACKAGE" not in plain
    assert "class " not in plain
    assert "class _Zeros(layers.Layer):" in helpers
    assert "class _PaddedMaxPooling2D(layers.Layer):" in helpers
    assert "class _PaddedAveragePooling2D" not in helpers


def test_a_block_that_flattens_maps_and_vectors_is_refused():
    block = Block("Flat", ["x"], [], [op("flat", "flatten", "x")], "flat")
    nodes = [
        Node("maps", "block", [IN], block="Flat"),
        op("gap", "global_avg_pool", IN),
        Node("vector", "block", ["gap"], block="Flat"),
        op("both", "concat", "maps", "vector"),
        op("fc", "linear", "both", in_features=2 * 3 * 3 + 2, out_features=2),
    ]
    arch = Architecture((2, 3, 3), 2, nodes, "fc", blocks=[block])

    with pytest.raises(ArchitectureError) as info:
        EMITTER.render(arch)

    assert str(info.value) == (
        "block 'Flat' node 'flat': flatten gets feature maps in some calls and vectors in "
        "others; the TensorFlow emitter needs one kind per block"
    )


def test_metadata_cannot_inject_code(tmp_path):
    source = EMITTER.render(chain_cnn(), hostile_metadata())

    tree = ast.parse(source)
    imported = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"keras", "keras.layers"}
    docstring = ast.get_docstring(tree)
    assert f'Search: dataset {HOSTILE}, strategy back\\slash\\, space ".' in docstring
    assert source.isascii()
    assert all(len(line) <= 100 for line in source.splitlines())
    path = tmp_path / "hostile.py"
    path.write_text(source, encoding="utf-8")
    assert import_file(path).build_model()(np.zeros((1, 8, 8, 1), "float32")).shape == (1, 10)


def test_docstring_states_layout_metrics_and_usage():
    docstring = ast.get_docstring(ast.parse(EMITTER.render(chain_cnn(), GOLDEN_METADATA)))

    assert "Input: a float32 tensor of shape (N, 8, 8, 1), N being the batch size.\n" in docstring
    assert "Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 1, 8, 8):\n" in docstring
    assert "    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.\n" in docstring
    assert "Normalisation: x / 16, then (x - 0.3) / 0.4" in docstring
    assert "    accuracy: 0.9811\n    latency_ms: 0.1234\n    params: 704" in docstring
    assert 'model = build_model("model_tf.weights.h5")' in docstring


def test_metadata_shape_must_match_the_architecture():
    with pytest.raises(ValueError, match=r"metadata input shape \[3, 8, 8\] does not match"):
        EMITTER.render(chain_cnn(), {"input": {"shape": [3, 8, 8]}})


@pytest.mark.parametrize("case", sorted(TF_GOLDEN_CASES))
def test_golden_files(case):
    make_arch, golden_metadata = TF_GOLDEN_CASES[case]
    path = GOLDEN_DIR / f"{case}.py"

    expected = path.read_bytes().decode("utf-8") if path.exists() else None

    assert EMITTER.render(make_arch(), golden_metadata) == expected, (
        f"{path} differs from what the emitter writes now; run "
        f"`python tests/golden/regenerate_tensorflow.py` and review the diff before committing it"
    )


# -- export, saving, conversion -----------------------------------------------------------


def test_export_refuses_weights_of_another_architecture_before_writing(tmp_path):
    weights = build_model(cells()).state_dict()

    with pytest.raises(ValueError, match="does not fit architecture 'ChainNet'"):
        EMITTER.export(chain_cnn(), tmp_path / "out", weights)
    assert not (tmp_path / "out").exists()


def test_export_without_weights_writes_only_the_module(tmp_path):
    assert EMITTER.export(chain_cnn(), tmp_path) == [tmp_path / "model_tf.py"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_tf.py"]


def test_export_with_weights_but_no_keras_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` now fails

    with pytest.raises(PluginError, match=r"pip install 'automl-codegen\[tf\]'"):
        EMITTER.export(chain_cnn(), tmp_path / "out", build_model(chain_cnn()).state_dict())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["branches", "chain_cnn"])
def test_keras_file_round_trip(case, tmp_path):
    arch = CASES[case]()
    emitted = exported(arch, tmp_path, trained_like(arch))
    x = channels_last(inputs(arch))

    emitted.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")

    assert max_delta(loaded(x), emitted(x)) == 0.0
    assert keras_params(loaded) == arch.num_params


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
@pytest.mark.parametrize("case", ["sampled", "tf-parameterised"])
def test_tflite_conversion_runs_with_the_same_outputs(case, tmp_path):
    arch = sampled("chain-cnn-3x16x16")[1] if case == "sampled" else ALL_CASES[case]()
    model = trained_like(arch)
    emitted = exported(arch, tmp_path, model)
    x = inputs(arch)

    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(emitted).convert()
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    given, result = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(given["index"], list(channels_last(x).shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], channels_last(x))
    interpreter.invoke()

    with torch.no_grad():
        assert max_delta(interpreter.get_tensor(result["index"]), model(x).numpy()) <= TOLERANCE


@pytest.mark.slow  # a second TensorFlow import, in a subprocess
def test_export_runs_in_a_fresh_interpreter_without_automl_codegen(tmp_path):
    arch = cells()
    model = trained_like(arch)
    x = inputs(arch, 3)
    with torch.no_grad():
        np.save(tmp_path / "x.npy", channels_last(x))
        np.save(tmp_path / "y.npy", model(x).numpy())
    out = tmp_path / "out"
    EMITTER.export(arch, out, model.state_dict(), metadata_for(arch))
    # -S skips site-packages (and the editable install of automl_codegen); only the
    # directory holding TensorFlow is put back, without processing its .pth files.
    script = f"""
        import sys
        sys.path[:0] = [".", {sysconfig.get_paths()["purelib"]!r}]
        try:
            import automl_codegen
        except ModuleNotFoundError:
            pass
        else:
            sys.exit("automl_codegen is importable: " + automl_codegen.__file__)
        import runpy
        import numpy as np
        from model_tf import build_model
        x, y = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        model = build_model("model_tf.weights.h5")
        delta = float(np.abs(np.asarray(model(x)) - y).max())
        print("delta", delta)
        assert delta <= {TOLERANCE}, delta
        # Importing model_tf registered its helper layers: a saved .keras file loads.
        import keras
        model.save("again.keras")
        again = keras.saving.load_model("again.keras")
        assert float(np.abs(np.asarray(again(x)) - y).max()) <= {TOLERANCE}
        assert "torch" not in sys.modules
        runpy.run_path("model_tf.py", run_name="__main__")
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", textwrap.dedent(script)],
        cwd=out,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "(2, 10)" in result.stdout


# -- the plugin -----------------------------------------------------------------------------


def test_plugin_module_imports_no_framework():
    check = (
        "import sys, automl_codegen_plugins.emitters.tensorflow as plugin\n"
        "heavy = ['torch', 'tensorflow', 'keras', 'jinja2']\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "from automl_codegen.testing import tiny_architecture\n"
        "import tempfile, pathlib\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        "    plugin.TensorflowEmitter().export(tiny_architecture(), out)\n"
        "    assert (pathlib.Path(out) / 'model_tf.py').is_file()\n"
        "# Code without weights needs neither framework.\n"
        "assert not [m for m in heavy[:3] if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
    )

    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr


def test_hook_registers_the_emitter():
    registered = {}
    register_emitters(register=registered.__setitem__)

    assert list(registered) == ["tensorflow"]
    assert isinstance(registered["tensorflow"], TensorflowEmitter)
    assert (registered["tensorflow"].name, registered["tensorflow"].file_name) == ("tensorflow", "model_tf.py")


def test_registered_by_its_entry_point():
    found = list(metadata.entry_points(group="automl_codegen", name="tensorflow"))
    assert "tensorflow" in get_registry().names("emitter"), "pyproject.toml must declare the tensorflow entry point"

    assert [ep.value for ep in found] == ["automl_codegen_plugins.emitters.tensorflow"]
    assert isinstance(get_registry().get("emitter", "tensorflow"), TensorflowEmitter)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A one-trial search on synthetic data; the tensorflow plugin is registered inline
    until its entry point is declared (registering it twice would be refused)."""
    from automl_codegen import NeuralArchitectureSearch

    declared = "tensorflow" in get_registry().names("emitter")
    run_dir = tmp_path_factory.mktemp("search") / "run"
    nas = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 120, "num_classes": 3},
        budget=1,
        epochs=1,
        seed=0,
        progress=False,
        run_dir=run_dir,
        profiler_options={"torch-cpu": {"min_run_time": 0.01, "warmup": 1}},
        plugin_manager=None if declared else plugin_manager_with(tf_plugin),
    )
    return nas.search()


@pytest.mark.slow
def test_search_result_exports_tensorflow(finished_run, tmp_path):
    trial = finished_run.best
    paths = finished_run.export("tensorflow", tmp_path)

    assert [p.name for p in paths] == ["model_tf.py", "model_tf.weights.h5"]
    weights = torch.load(finished_run.run_dir / trial.weights, weights_only=True)
    engine = build_model(trial.architecture)
    engine.load_state_dict(weights)
    x = inputs(trial.architecture)
    with torch.no_grad():
        expected = engine.eval()(x).numpy()
    emitted = import_file(paths[0]).build_model(str(paths[1]))
    assert max_delta(emitted(channels_last(x)), expected) <= TOLERANCE
    assert "Measured during the search:" in paths[0].read_text(encoding="utf-8")


@pytest.mark.slow
def test_cli_exports_tensorflow(finished_run, tmp_path):
    assert "tensorflow" in get_registry().names("emitter"), "pyproject.toml must declare the tensorflow entry point"
    command = [sys.executable, "-m", "automl_codegen.cli", "export", str(finished_run.run_dir)]

    result = subprocess.run(
        [*command, "--emitter", "tensorflow", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_tf.py", "model_tf.weights.h5"]
