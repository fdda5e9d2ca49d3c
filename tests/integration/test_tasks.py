"""The task decides metrics, the default objective and the default space; mismatches are refused early."""

from __future__ import annotations

import sys

import pytest

from automl_codegen import ConfigError, NeuralArchitectureSearch
from automl_codegen.tasks import TASKS, get_task

SYNTHETIC = {"num_samples": 64, "image_size": 8}


def _search(tmp_path, **overrides):
    kwargs = {
        "dataset": "synthetic",
        "dataset_options": SYNTHETIC,
        "profilers": [],
        "budget": 2,
        "epochs": 1,
        "progress": False,
        "run_dir": tmp_path / "run",
    }
    return NeuralArchitectureSearch(**{**kwargs, **overrides})


def test_every_task_names_a_default_space_and_metric():
    assert {name: (t.default_space, t.metric) for name, t in TASKS.items()} == {
        "image_classification": ("chain-cnn", "accuracy"),
        "tabular_classification": ("mlp", "accuracy"),
        "tabular_regression": ("mlp", "mse"),
        "sequence_classification": ("seq-cnn", "accuracy"),
    }
    assert get_task("tabular_regression").metrics == ("mse", "mae", "r2", "test_mse", "test_mae", "test_r2")


def test_the_task_objective_and_space_default_to_the_datasets(tmp_path):
    nas = _search(tmp_path)
    assert (nas.settings.task, nas.settings.space) == ("image_classification", "chain-cnn")
    assert [o.name for o in nas.objectives] == ["accuracy"]


def test_a_task_the_dataset_does_not_hold_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, task="tabular_regression")
    assert str(info.value) == (
        "task='tabular_regression', but dataset 'synthetic' holds (C, H, W) images for "
        "'image_classification'; leave task out or give a dataset for 'tabular_regression'"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"objectives": ["mse"]},
            "objective 'mse' needs 'mse', which task 'image_classification' does not measure; "
            "it measures accuracy, test_accuracy",
        ),
        (
            {"constraints": ["r2 >= 0.5"]},
            "constraint 'r2 >= 0.5' needs 'r2', which task 'image_classification' does not measure; "
            "it measures accuracy, test_accuracy",
        ),
    ],
)
def test_metrics_of_another_task_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            "no_such_package.spaces:mine",
            "space 'no_such_package.spaces:mine': cannot import 'no_such_package.spaces' "
            "(No module named 'no_such_package'); is it installed or on PYTHONPATH?",
        ),
        ("json:no_such_space", "space 'json:no_such_space': module 'json' has no space factory 'no_such_space'"),
        ("json:__doc__", "space 'json:__doc__': module 'json' has no space factory '__doc__'"),
    ],
)
def test_a_space_named_by_module_and_attribute_must_exist(tmp_path, space, message):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, space=space)
    assert str(info.value) == message


def test_a_space_given_by_module_and_attribute_is_searched_and_recorded(tmp_path, monkeypatch):
    module = type(sys)("my_spaces")
    from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace

    module.tiny = lambda input_shape, num_classes: ChainCNNSpace(input_shape, num_classes, widths=[4], depths=[1])
    monkeypatch.setitem(sys.modules, "my_spaces", module)
    nas = _search(tmp_path, space="my_spaces:tiny")
    result = nas.search()
    assert result.config["space"] == "my_spaces:tiny"
    assert all(t.genotype["stages"][0]["width"] == 4 for t in result.trials)
    resumed = NeuralArchitectureSearch.resume(tmp_path / "run", progress=False)
    assert type(resumed.space) is ChainCNNSpace


def test_a_space_object_must_be_given_again_to_resume(tmp_path):
    from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace

    class Tiny:
        name = "tiny-chain"

        def __call__(self, input_shape, num_classes):
            return ChainCNNSpace(input_shape, num_classes, widths=[4], depths=[1])

    _search(tmp_path, space=Tiny()).search()
    with pytest.raises(ConfigError) as info:
        NeuralArchitectureSearch.resume(tmp_path / "run", progress=False)
    assert str(info.value) == (
        f"run {str(tmp_path / 'run')!r} searched the space 'tiny-chain', which was given from Python; "
        f"pass it again: NeuralArchitectureSearch.resume(run_dir, space=...)"
    )
    resumed = NeuralArchitectureSearch.resume(tmp_path / "run", space=Tiny(), progress=False)
    assert resumed.settings.space == "tiny-chain"
    with pytest.raises(ConfigError, match="searched the space 'tiny-chain', not 'chain-cnn'"):
        NeuralArchitectureSearch.resume(tmp_path / "run", space="chain-cnn", progress=False)


def test_a_space_that_is_not_a_factory_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, space=42)
    assert str(info.value) == (
        "space= takes a registered name, 'package.module:attribute', or a space factory with a name "
        "(an automl_codegen.model_space.ModelSpace); got int"
    )


def _cli(*args, cwd=None):
    import os
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "automl_codegen.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_a_regression_csv_is_searched_and_exported_from_the_command_line(tmp_path):
    import csv
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "houses.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rooms", "area", "town", "price"])
        for _ in range(150):
            rooms, area, town = int(rng.integers(1, 6)), rng.uniform(20, 200), str(rng.choice(["north", "south"]))
            writer.writerow([rooms, f"{area:.1f}", town, f"{1000 * area + (50000 if town == 'north' else 0):.0f}"])
    run = tmp_path / "run"
    out = _cli(
        *"search --dataset csv --dataset-option".split(),
        f"path={path}",
        *"--dataset-option target=price --task tabular_regression --budget-trials 2 --epochs 3 --quiet -o".split(),
        run,
    )
    assert out.returncode == 0, out.stderr
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert all({"mse", "mae", "r2", "test_mse"} <= set(t["metrics"]) for t in trials)
    from automl_codegen import SearchResult

    assert SearchResult.load(run).config["task"] == "tabular_regression"
    out = _cli("export", run, "--emitter", "tensorflow", "-o", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    assert "def predict(model, rows):" in (tmp_path / "out" / "model_tf.py").read_text()


def test_the_command_line_refuses_a_task_the_data_does_not_hold(tmp_path):
    out = _cli("search", "--dataset", "digits", "--task", "tabular_regression", "--quiet", "-o", tmp_path / "run")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "automl-codegen: error: task='tabular_regression', but dataset 'digits' holds (C, H, W) images for "
        "'image_classification'; leave task out or give a dataset for 'tabular_regression'"
    )


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            "json:dumps",
            "space 'json:dumps': calling it as a space factory, with the input shape and the class count, failed "
            "(TypeError: dumps() takes 1 positional argument but 2 were given); name a SearchSpace class, a "
            "ModelSpace, or a function (input_shape, num_classes) -> SearchSpace",
        ),
        (
            "builtins:slice",
            "space 'builtins:slice' made a slice, not a search space (it has no choices, encode, decode, "
            "to_architecture, sample, mutate, crossover, key); a space factory returns an automl_codegen.SearchSpace",
        ),
    ],
)
def test_a_callable_that_is_not_a_space_factory_is_refused(tmp_path, space, message):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, space=space)
    assert str(info.value) == message
    assert not (tmp_path / "run").exists()
