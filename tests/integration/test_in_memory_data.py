"""Data given from Python: arrays, a dict of splits, a torch Dataset, checked and resumable."""

from __future__ import annotations

import numpy as np
import pytest

from automl_codegen import (
    Callback,
    ConfigError,
    Evaluation,
    NeuralArchitectureSearch,
    Objective,
    SearchResult,
    hookimpl,
)
from automl_codegen.testing import plugin_manager_with

torch = pytest.importorskip("torch")


def digits(n: int = 300, layout: str = "nhwc") -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.images[:n].astype(np.float32), bunch.target[:n]
    return (x[..., None] if layout == "nhwc" else x), y


def kparam_accuracy(metrics):
    return metrics["accuracy"] / (metrics["params"] / 1000)


PER_KPARAM = Objective("acc_per_kparam", "max", compute=kparam_accuracy, requires=("accuracy", "params"))


class LookupEvaluator:
    """Scores without training, so a test of the data path stays fast."""

    measures = ("accuracy",)
    needs_architecture = False

    def evaluate(self, architecture, context):
        return Evaluation(metrics={"accuracy": float(context.dataset.y_train.mean()) / 10})


class LookupPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("lookup", LookupEvaluator)


class StopAt(Callback):
    def __init__(self, number: int | None = None) -> None:
        self.number, self.seen = number, []

    def on_trial_end(self, run, trial):
        self.seen.append(trial.number)
        if trial.number == self.number:
            raise KeyboardInterrupt


def search(tmp_path, data, **overrides):
    kwargs = {
        "dataset": data,
        "objectives": [PER_KPARAM, "accuracy"],
        "budget": 4,
        "epochs": 1,
        "profilers": ["torch-cpu"],
        "profiler_options": {"torch-cpu": {"calibrate": False, "min_run_time": 0.01, "warmup": 1}},
        "strategy_options": {"population_size": 2},
        "space_options": {"widths": [4, 8], "depths": [1]},
        "progress": False,
        "device": "cpu",
        "run_dir": tmp_path / "run",
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


def test_numpy_arrays_search_resume_after_a_kill_and_export_documented_code(tmp_path):
    data = digits()
    stop = StopAt(number=1)
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, data, callbacks=[stop]).search()
    assert stop.seen == [0, 1]
    with pytest.raises(ConfigError, match="holds data given from Python, and none was given"):
        NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, objectives=[PER_KPARAM])
    again = StopAt()
    result = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, objectives=[PER_KPARAM], dataset=data, callbacks=[again]
    ).search()
    assert [t.number for t in result.trials] == [0, 1, 2, 3]
    assert again.seen == [2, 3]
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    summary = result.config["dataset_summary"]
    assert summary["input_shape"] == [1, 8, 8]  # channels-last arrays, moved to channels-first
    assert "channels-last (N, H, W, C)" in summary["description"]
    written = result.export("pytorch", tmp_path / "out")
    source = next(p for p in written if p.suffix == ".py").read_text()
    assert "1, 8, 8" in source
    assert summary["normalization"]["description"] in source


def test_resume_refuses_other_data(tmp_path):
    x, y = digits()
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, (x, y), callbacks=[StopAt(number=0)]).search()
    with pytest.raises(ConfigError, match="searched other data than the dataset given now"):
        NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, objectives=[PER_KPARAM], dataset=(x + 1, y))


def test_a_torch_dataset_and_a_dict_of_splits(tmp_path):
    x, y = digits(layout="nhw")
    tensors = torch.utils.data.TensorDataset(torch.from_numpy(x[:, None]), torch.from_numpy(y))
    common = {
        "evaluator": "lookup",
        "profilers": [],
        "objectives": ["accuracy"],
        "plugin_manager": plugin_manager_with(LookupPlugin()),
    }
    nas = search(tmp_path, tensors, **common)
    assert nas.dataset.input_shape == (1, 8, 8)
    assert len(nas.search().trials) == 4
    splits = {"train": (x[:200], y[:200]), "test": (x[200:], y[200:])}
    nas = search(tmp_path, splits, run_dir=tmp_path / "splits", **common)
    assert len(nas.dataset.y_test) == 100
    assert len(nas.dataset.y_train) + len(nas.dataset.y_val) == 200
    assert "grey-scale (N, H, W)" in nas.dataset.description


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((np.zeros((10, 8, 8)), np.zeros(9)), "data: x has 10 examples and y has 9 labels"),
        ((np.full((10, 8, 8), np.nan), np.arange(10) % 2), "data: x holds 640 NaN or infinite values; drop or impute"),
        ((np.zeros(10), np.arange(10) % 2), "data: x must be images, (N, H, W), (N, C, H, W) or (N, H, W, C)"),
        ((np.zeros((10, 8, 8)), np.full(10, 0.5)), "data: y must hold integer class labels"),
        ((np.zeros((10, 8, 8)), np.zeros(10)), "the labels hold only one class (0); a classifier needs two or more"),
        ((np.zeros((10, 8, 8)), -np.ones(10)), "data: labels must be 0 or more, got a smallest label of -1"),
        ({"training": (np.zeros((4, 2, 2)), np.zeros(4))}, "a dict of splits needs 'train'"),
        (42, "dataset= takes a registered name, (x, y), a dict of splits, a torch Dataset"),
    ],
)
def test_bad_data_gets_one_line_that_never_prints_the_contents(tmp_path, data, message):
    with pytest.raises(ConfigError) as info:
        search(tmp_path, data)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert len(text) < 300


def test_retraining_a_run_of_in_memory_data(tmp_path):
    data = digits()
    result = search(tmp_path, data, objectives=["accuracy"], profilers=[]).search(trials=2)
    final = result.retrain(2)  # the search's own result still holds the data
    assert final.metrics["epochs"] == 2.0
    loaded = SearchResult.load(tmp_path / "run")
    with pytest.raises(
        ConfigError, match=r"holds data given from Python, and none was given; .* retrain\(\.\.\., dataset"
    ):
        loaded.retrain(2)
    again = loaded.retrain(2, dataset=data)
    assert again.metrics["test_accuracy"] == final.metrics["test_accuracy"]  # same data, seed and schedule
    with pytest.raises(ConfigError, match="searched other data than the dataset given now"):
        loaded.retrain(2, dataset=(data[0] + 1, data[1]))


def test_images_keep_the_fingerprints_runs_recorded_before_tables_came():
    # Tables and sequences were added beside images; resumed image runs must still match.
    from automl_codegen_plugins.datasets.in_memory import load_in_memory

    x, y = digits(layout="nhw")
    assert load_in_memory(data=(x[..., None], y)).fingerprint() == "884ee0949742c2cf"
    splits = {"train": (x[:200], y[:200]), "test": (x[200:], y[200:])}
    assert load_in_memory(data=splits, seed=1).fingerprint() == "069f2f4ec1d93c50"
    assert load_in_memory(data=(x, y), task="image_classification").task == "image_classification"
