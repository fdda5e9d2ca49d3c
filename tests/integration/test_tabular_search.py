"""Tables end to end: a regression and a classification search, then generated code that takes raw rows."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from automl_codegen import NeuralArchitectureSearch
from automl_codegen_plugins.torch_model import build_model


def _regression_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32) * [1, 10, 100, 0.1, 1]
    y = 300.0 + 40.0 * x[:, 0] - 2.0 * x[:, 1] + 0.3 * x[:, 2] + 5.0 * np.sin(3 * x[:, 4]) + rng.normal(0, 2, n)
    return x, y.astype(np.float32)


def test_a_regression_search_reports_errors_in_the_targets_units(tmp_path, import_file):
    x, y = _regression_data()
    nas = NeuralArchitectureSearch(
        task="tabular_regression",
        dataset=(x, y),
        budget=3,
        epochs=40,
        profilers=[],
        progress=False,
        run_dir=tmp_path / "run",
    )
    assert (nas.settings.space, [o.name for o in nas.objectives]) == ("mlp", ["mse"])
    result = nas.search()
    best = result.best
    assert best.metrics["r2"] > 0.9
    assert best.metrics["test_r2"] > 0.9
    # The recorded test figures are those of the weights, in the target's own units.
    data = nas.dataset
    target = data.normalization["target"]
    model = build_model(best.architecture).eval()
    model.load_state_dict(torch.load(tmp_path / "run" / best.weights, weights_only=True))
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.x_test)).numpy()[:, 0] * target["std"] + target["mean"]
    truth = data.y_test * target["std"] + target["mean"]
    assert best.metrics["test_mse"] == pytest.approx(np.mean((predicted - truth) ** 2), rel=1e-4)
    assert best.metrics["test_mae"] == pytest.approx(np.mean(np.abs(predicted - truth)), rel=1e-4)
    # Raw rows through the generated code's predict give the same values.
    paths = result.export("pytorch", tmp_path / "out")
    generated = import_file(paths[0], "generated_regression")
    net = generated.build_model(str(paths[1]))
    test_rows = [dict(zip(generated.COLUMNS, row, strict=True)) for row in _raw_test_rows(x, data)]
    assert np.allclose(generated.predict(net, test_rows), predicted, rtol=1e-5, atol=1e-3)
    # And through the Keras code's.
    keras_paths = result.export("tensorflow", tmp_path / "out_tf")
    keras_module = import_file(keras_paths[0], "generated_regression_tf")
    keras_net = keras_module.build_model(str(keras_paths[1]))
    assert np.allclose(keras_module.predict(keras_net, test_rows), predicted, rtol=1e-4, atol=1e-2)


def _raw_test_rows(x, data):
    """The raw rows of ``x`` whose standardised form is the dataset's test split."""
    columns = data.normalization["columns"]
    mean = np.array([c["mean"] for c in columns])
    std = np.array([c["std"] for c in columns])
    raw = data.x_test * std + mean
    # Look each standardised row up among the raw rows (the split shuffled them).
    return [x[np.abs(x - r).sum(1).argmin()].tolist() for r in raw]


def test_a_classification_table_from_a_csv_file_predicts_its_labels_from_raw_rows(tmp_path, import_file):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(300):
        colour = ["red", "green", "blue"][i % 3]
        size = rng.normal(10 + 5 * (i % 3), 1.0)
        weight = "" if i % 17 == 0 else f"{rng.normal(50, 10):.2f}"
        rows.append({"colour": colour, "size": f"{size:.3f}", "weight": weight, "kind": ["ant", "bee", "cat"][i % 3]})
    path = tmp_path / "animals.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    nas = NeuralArchitectureSearch(
        dataset="csv",
        dataset_options={"path": str(path), "target": "kind"},
        budget=2,
        epochs=20,
        profilers=[],
        progress=False,
        run_dir=tmp_path / "run",
    )
    assert nas.settings.task == "tabular_classification"
    result = nas.search()
    assert result.best.metrics["test_accuracy"] > 0.9
    paths = result.export("pytorch", tmp_path / "out")
    generated = import_file(paths[0], "generated_animals")
    net = generated.build_model(str(paths[1]))
    predicted = generated.predict(net, [{k: v for k, v in row.items() if k != "kind"} for row in rows])
    assert np.mean([p == row["kind"] for p, row in zip(predicted, rows, strict=True)]) > 0.9
