"""Tabular (F,) and sequence (C, L) networks end to end: the torch builder trains them, both
emitters write them, the written code runs with the trained weights and computes what the
builder computes, and the deployment emitters and profilers handle them."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name in torch code
from ir_cases import IN, conv1d, mlp, op, sequence_cnn, sequence_flatten, single_op

from automl_codegen import Architecture, ArchitectureError, Block, Node
from automl_codegen_plugins.emitters.pytorch import PytorchEmitter
from automl_codegen_plugins.emitters.tensorflow import TensorflowEmitter
from automl_codegen_plugins.profilers.torch_cpu import TorchCPUProfiler
from automl_codegen_plugins.torch_model import build_model

# Keras' save_weights trips over NumPy 2's copy keyword; nothing to do with this code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

NETWORKS = {"mlp": mlp, "sequence_cnn": sequence_cnn, "sequence_flatten": sequence_flatten}
KERAS_TOLERANCE = 1e-4  # float32 across frameworks
_module_ids = itertools.count()


def import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"emitted_vs_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def channels_last(x: torch.Tensor) -> np.ndarray:
    return x.numpy().transpose(0, *range(2, x.dim()), 1)


def trained(arch: Architecture, steps: int = 60) -> tuple[torch.nn.Module, list[float]]:
    """The builder's model after some Adam steps on random data; eval mode, and the losses."""
    torch.manual_seed(0)
    model = build_model(arch)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, *arch.input_shape, generator=generator)
    y = torch.randint(0, arch.num_classes, (32,), generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def batch(arch: Architecture, size: int = 5) -> torch.Tensor:
    return torch.randn(size, *arch.input_shape, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("case", sorted(NETWORKS))
def test_the_builder_trains_them(case):
    arch = NETWORKS[case]()
    model, losses = trained(arch)

    assert losses[-1] < 0.5 * losses[0]
    assert sum(p.numel() for p in model.parameters()) == arch.num_params
    # Batch norm learnt running statistics from the (N, F) or (N, C, L) batches.
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms
    assert all(m.num_batches_tracked.item() == 60 for m in norms)
    assert all(not torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in norms)


@pytest.mark.parametrize("case", sorted(NETWORKS))
def test_written_pytorch_code_computes_what_the_trained_builder_does(case, tmp_path):
    arch = NETWORKS[case]()
    model, _ = trained(arch)
    x = batch(arch)

    paths = PytorchEmitter().export(arch, tmp_path, model.state_dict())
    emitted = import_file(paths[0]).build_model(str(paths[1]))

    with torch.no_grad():
        assert (emitted(x) - model(x)).abs().max().item() <= 1e-6
    assert list(emitted.state_dict()) == list(model.state_dict())


@pytest.mark.parametrize("case", sorted(NETWORKS))
def test_written_keras_code_computes_what_the_trained_builder_does(case, tmp_path):
    pytest.importorskip("tensorflow")
    arch = NETWORKS[case]()
    model, _ = trained(arch)
    x = batch(arch)

    paths = TensorflowEmitter().export(arch, tmp_path, model.state_dict())
    emitted = import_file(paths[0]).build_model(str(paths[1]))

    with torch.no_grad():
        expected = model(x).numpy()
    assert float(np.abs(np.asarray(emitted(channels_last(x))) - expected).max()) <= KERAS_TOLERANCE
    assert sum(int(np.prod(w.shape)) for w in emitted.trainable_weights) == arch.num_params


def test_mlp_state_dict_keys_are_the_node_names():
    keys = list(build_model(mlp()).state_dict())
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]

    assert keys == [
        "fc1.weight",
        "fc1.bias",
        *(f"bn.{key}" for key in bn),
        "fc2.weight",
        "norm.weight",
        "norm.bias",
        *(f"bn_plain.{key}" for key in bn[2:]),
        "logits.weight",
        "logits.bias",
    ]


def test_keras_takes_sequences_channels_last_and_vectors_as_they_are(tmp_path):
    pytest.importorskip("tensorflow")
    for make, expected in ((sequence_cnn, (None, 20, 3)), (mlp, (None, 12))):
        arch = make()
        path = TensorflowEmitter().export(arch, tmp_path / arch.name)[0]

        assert tuple(import_file(path).build_model().input_shape) == expected
    source = TensorflowEmitter().render(sequence_cnn())
    assert "Layout: channels last (N, L, C), as Keras expects. From PyTorch's (N, 3, 20):" in source
    assert "    x.transpose(0, 2, 1) for NumPy arrays, tf.transpose(x, (0, 2, 1)) for tensors." in source
    assert 'inputs = keras.Input((20, 3), name="input")' in source
    assert 'inputs = keras.Input((12,), name="input")' in TensorflowEmitter().render(mlp())


def test_keras_flattens_a_sequence_in_torch_order():
    source = TensorflowEmitter().render(sequence_flatten())

    assert '    out = layers.Permute((2, 1), name="flat.cl")(out)\n    out = layers.Flatten(name="flat")(out)\n' in source


def test_keras_gelu_is_the_exact_one_not_the_tanh_approximation(tmp_path):
    pytest.importorskip("tensorflow")
    arch = single_op(op("act", "gelu", IN), (9,))
    emitted = import_file(TensorflowEmitter().export(arch, tmp_path)[0]).build_model()
    x = torch.linspace(-4, 4, 9).reshape(1, 9)

    got = np.asarray(emitted(x.numpy()))

    assert float(np.abs(got - F.gelu(x).numpy()).max()) <= 1e-6
    assert float(np.abs(got - F.gelu(x, approximate="tanh").numpy()).max()) > 1e-4


def test_keras_1d_helper_layers_survive_a_keras_file_round_trip(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    arch = sequence_flatten()
    model, _ = trained(arch, steps=3)
    paths = TensorflowEmitter().export(arch, tmp_path, model.state_dict())
    emitted = import_file(paths[0]).build_model(str(paths[1]))
    x = channels_last(batch(arch))

    emitted.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")

    assert float(np.abs(np.asarray(loaded(x)) - np.asarray(emitted(x))).max()) == 0.0


def _thin_block() -> Block:
    return Block("Thin", ["x"], ["s"], [op("none", "zero", "x", stride="s")], "none")


def test_a_block_node_that_gets_two_ranks_is_refused_where_its_code_would_differ():
    # The zero subsamples a sequence in one call and passes a vector in the other.
    nodes = [
        Node("a", "block", [IN], {"s": 2}, block="Thin"),
        op("flat", "flatten", "a"),
        Node("b", "block", ["flat"], {"s": 1}, block="Thin"),
        op("fc", "linear", "b", in_features=8, out_features=2),
    ]
    arch = Architecture((2, 8), 2, nodes, "fc", blocks=[_thin_block()])
    assert build_model(arch)(torch.randn(3, 2, 8)).shape == (3, 2)  # the builder runs it

    with pytest.raises(ArchitectureError) as torch_error:
        PytorchEmitter().render(arch)
    with pytest.raises(ArchitectureError) as keras_error:
        TensorflowEmitter().render(arch)

    assert str(torch_error.value) == (
        "block 'Thin' node 'none': zero gets inputs of ranks [1, 2] in different calls; the PyTorch "
        "emitter needs one rank per block node"
    )
    assert str(keras_error.value) == (
        "block 'Thin' node 'none': zero gets sequences in some calls and vectors in others; the "
        "TensorFlow emitter needs one kind per block"
    )


def test_a_flatten_of_sequences_and_vectors_in_one_block_is_refused_by_keras():
    flat = Block("Flat", ["x"], [], [op("flat", "flatten", "x")], "flat")
    nodes = [
        Node("a", "block", [IN], block="Flat"),
        Node("b", "block", ["a"], block="Flat"),
        op("fc", "linear", "b", in_features=16, out_features=2),
    ]
    arch = Architecture((2, 8), 2, nodes, "fc", blocks=[flat])

    with pytest.raises(ArchitectureError) as info:
        TensorflowEmitter().render(arch)

    assert str(info.value) == (
        "block 'Flat' node 'flat': flatten gets sequences in some calls and vectors in others; the "
        "TensorFlow emitter needs one kind per block"
    )
    PytorchEmitter().render(arch)  # torch.flatten(x, 1) is the same code for both


# -- deployment files: onnx and tflite ----------------------------------------------------


@pytest.mark.parametrize("kind", ["onnx", "tflite"])
@pytest.mark.parametrize("case", ["mlp", "sequence_cnn"])
def test_deployment_files_compute_what_torch_does(kind, case, tmp_path):
    pytest.importorskip("tensorflow" if kind == "tflite" else "onnxruntime")
    from automl_codegen_plugins.emitters.onnx import OnnxEmitter
    from automl_codegen_plugins.emitters.tflite import TfliteEmitter
    from automl_codegen_plugins.emitters.tflite import _emitter as tflite_emitter

    arch = NETWORKS[case]()
    model, _ = trained(arch, steps=5)
    x = batch(arch, 3)
    with torch.no_grad():
        expected = model(x).numpy()

    if kind == "onnx":
        import onnx
        import onnxruntime as ort

        (path,) = OnnxEmitter().export(arch, tmp_path, model.state_dict())
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"input": x.numpy()})[0]
        facts = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
        layout = facts["input_layout"]
    else:
        path, description = TfliteEmitter().export(arch, tmp_path, model.state_dict())
        got = tflite_emitter.run(path.read_bytes(), np.ascontiguousarray(channels_last(x)))
        facts = json.loads(description.read_text())
        layout = facts["input"]["layout"]
        assert facts["input"]["shape"] == [None, *channels_last(x).shape[1:]]

    assert float(np.abs(got - expected).max()) <= KERAS_TOLERANCE
    assert facts["parity_max_abs_diff"] <= KERAS_TOLERANCE
    # ONNX takes PyTorch's channels-first input, TFLite the Keras model's channels-last one.
    assert (
        layout
        == {"onnx": {"mlp": "NF", "sequence_cnn": "NCL"}, "tflite": {"mlp": "NF", "sequence_cnn": "NLC"}}[kind][case]
    )


# -- profilers -----------------------------------------------------------------------------


def test_torch_cpu_profiler_measures_sequence_and_vector_networks():
    profiler = TorchCPUProfiler(min_run_time=0.02, warmup=1, cache=False)  # calibrated, the default
    # FLOPs of one sample are 2 * multiply-adds of the linear layers and convolutions.
    expected_flops = {
        "mlp": 2 * (12 * 16 + 16 * 16 + 16 * 3),
        "sequence_cnn": 2 * (8 * 20 * 3 * 5 + 16 * 5 * 8 * 3 + 16 * 4),
    }
    for case, flops in expected_flops.items():
        arch = NETWORKS[case]()

        metrics = profiler.profile(build_model(arch), arch)

        assert metrics["flops"] == flops
        assert metrics["params"] == arch.num_params
        assert metrics["latency_ms"] > 0
        assert metrics["latency_reference_ms"] > 0
        # Input and the largest live activations, float32, batch 1.
        assert metrics["activation_memory_mb"] * (1 << 20) >= 4 * math.prod(arch.input_shape)


def test_onnxruntime_profiler_measures_a_sequence_network():
    pytest.importorskip("onnxruntime")
    from automl_codegen_plugins.profilers.onnxruntime import OnnxRuntimeProfiler

    arch = sequence_cnn()

    metrics = OnnxRuntimeProfiler().profile(build_model(arch), arch)

    assert metrics["ort_latency_ms"] > 0


def test_a_strided_dilated_conv1d_matches_torch_in_keras(tmp_path):
    # Keras' Conv1D refuses stride with dilation: the emitter subsamples a stride-1 result.
    pytest.importorskip("tensorflow")
    arch = single_op(conv1d("conv", IN, 2, 3, k=3, stride=2, padding=2, dilation=2), (2, 11))
    model, _ = trained(arch, steps=1)
    paths = TensorflowEmitter().export(arch, tmp_path, model.state_dict())
    emitted = import_file(paths[0]).build_model(str(paths[1]))
    x = batch(arch)

    with torch.no_grad():
        expected = model(x).numpy()
    assert float(np.abs(np.asarray(emitted(channels_last(x))) - expected).max()) <= 1e-5
    assert 'layers.MaxPooling1D(1, strides=2, name="conv.subsample")' in paths[0].read_text()
