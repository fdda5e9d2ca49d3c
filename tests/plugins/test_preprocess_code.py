"""The preprocess function of generated code: stored pixel values to the network's input."""

from __future__ import annotations

import importlib.util
import itertools
import os

import numpy as np
import pytest
from ir_cases import CASES

from automl_codegen import NeuralArchitectureSearch
from automl_codegen_plugins.datasets.digits import load_digits
from automl_codegen_plugins.emitters.pytorch import PytorchEmitter
from automl_codegen_plugins.emitters.tensorflow import TensorflowEmitter

_ids = itertools.count()
PER_CHANNEL = {"scale": 255.0, "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


def module_of(source, tmp_path):
    path = tmp_path / f"generated_{next(_ids)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pytorch_code_computes_the_recorded_standardisation(tmp_path):
    arch = CASES["residual"]()
    channels = arch.input_shape[0]
    stats = {"scale": 255.0, "mean": [0.5] * channels, "std": [0.25] * channels}
    source = PytorchEmitter().render(arch, {"input": {"preprocess": stats}})
    assert "SCALE = 255.0\n" in source
    module = module_of(source, tmp_path)
    pixels = np.random.default_rng(0).integers(0, 256, (2, *arch.input_shape), dtype=np.uint8)
    expected = (pixels / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(module.preprocess(pixels).numpy(), expected, rtol=1e-6, atol=1e-6)
    assert "logits = model(preprocess(pixels))" in source


def test_keras_code_computes_it_channels_last(tmp_path):
    pytest.importorskip("keras")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    arch = CASES["chain_cnn"]()
    stats = {"scale": 16.0, "mean": 0.3, "std": 0.5}  # one value for every channel
    module = module_of(TensorflowEmitter().render(arch, {"input": {"preprocess": stats}}), tmp_path)
    c, h, w = arch.input_shape
    pixels = np.random.default_rng(0).integers(0, 17, (2, h, w, c)).astype(np.float32)
    got = np.asarray(module.preprocess(pixels))
    np.testing.assert_allclose(got, (pixels / 16.0 - 0.3) / 0.5, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "stats",
    [
        None,
        {"mean": float("nan"), "std": 1.0},
        {"mean": [0.1, 0.2], "std": [1.0, 1.0]},  # two channels for a one-channel network
        {"mean": 0.1, "std": 0.0},
        {"mean": "0.1", "std": 1.0},
        {"mean": 0.1, "std": 1.0, "scale": -1},
    ],
)
def test_without_plain_recorded_numbers_there_is_no_function_to_guess(stats):
    source = PytorchEmitter().render(CASES["chain_cnn"](), {"input": {"preprocess": stats}})
    assert "def preprocess" not in source
    assert "SCALE" not in source


@pytest.mark.slow
def test_a_digits_search_exports_code_that_turns_raw_digits_into_its_inputs(tmp_path):
    from sklearn.datasets import load_digits as sklearn_digits

    result = NeuralArchitectureSearch(
        dataset="digits", budget=1, epochs=1, profilers=[], progress=False, run_dir=tmp_path / "run", seed=3
    ).search()
    result.export("pytorch", tmp_path / "out")
    module = module_of((tmp_path / "out" / "model.py").read_text(), tmp_path)
    assert "SCALE = 16.0\n" in (tmp_path / "out" / "model.py").read_text()
    raw = sklearn_digits().images[:, None, :, :]  # 0..16, as scikit-learn stores them
    preprocessed = module.preprocess(raw).numpy().reshape(len(raw), -1)
    searched = load_digits(seed=3).x_test.reshape(-1, 64)
    # Every test image the search scored is one of the raw images, preprocessed.
    distances = np.abs(searched[:, None, :] - preprocessed[None, :, :]).max(axis=2).min(axis=1)
    assert distances.max() < 1e-5
