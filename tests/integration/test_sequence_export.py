"""Sequences given from Python: the generated preprocess repeats the per-channel standardisation."""

from __future__ import annotations

import numpy as np
import torch

from automl_codegen import NeuralArchitectureSearch


def test_raw_sequences_through_generated_preprocess_match_the_dataset_in_both_frameworks(tmp_path, import_file):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2, 32)).astype(np.float32)
    y = rng.integers(0, 2, 200)
    x[y == 1, 0] += 1.0
    x = x * np.array([3.0, 0.5], dtype=np.float32)[None, :, None] + 5
    nas = NeuralArchitectureSearch(
        task="sequence_classification",
        dataset=(x, y),
        budget=1,
        epochs=2,
        profilers=[],
        progress=False,
        run_dir=tmp_path / "run",
    )
    result = nas.search()
    torch_paths = result.export("pytorch", tmp_path / "out")
    keras_paths = result.export("tensorflow", tmp_path / "out")
    torch_module = import_file(torch_paths[0], "sequence_torch")
    keras_module = import_file(keras_paths[0], "sequence_keras")
    recorded = nas.dataset.normalization
    mean = np.array(recorded["mean"], dtype=np.float32)[None, :, None]
    std = np.array(recorded["std"], dtype=np.float32)[None, :, None]
    assert np.allclose(torch_module.preprocess(x[:8]).numpy(), (x[:8] - mean) / std, atol=1e-5)
    net = torch_module.build_model(str(torch_paths[1]))
    with torch.no_grad():
        expected = net(torch_module.preprocess(x[:8])).numpy()
    keras_net = keras_module.build_model(str(keras_paths[1]))
    got = np.asarray(keras_net(keras_module.preprocess(x[:8].transpose(0, 2, 1))))
    assert np.max(np.abs(got - expected)) <= 1e-4
