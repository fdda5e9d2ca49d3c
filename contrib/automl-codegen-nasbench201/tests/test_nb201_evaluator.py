"""The nasbench201 evaluator, its datasets and objectives, outside a search."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from automl_codegen_nasbench201 import DEFAULT_TABLE, TABLE_ENV_VAR, NasBench201Evaluator
from nb201_tables import CELL_A, CELL_B, HEADER, TINY_ROWS, write_csv

from automl_codegen import ConfigError
from automl_codegen.evaluation import EvaluationContext, TrainingBudget
from automl_codegen.plugins import get_plugin_manager, get_registry

REGISTRY = get_registry(get_plugin_manager())


def dataset(name: str):
    return REGISTRY.get("dataset", name)(seed=0)


def context(genotype, data: str = "nb201-cifar10", space: str | None = "nb201") -> EvaluationContext:
    return EvaluationContext(dataset=dataset(data), budget=TrainingBudget(), seed=0, genotype=genotype, space=space)


def evaluate(evaluator, genotype, **kwargs) -> dict[str, float]:
    return evaluator.evaluate(None, context(genotype, **kwargs)).metrics


def error(function, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as excinfo:
        function(*args, **kwargs)
    return str(excinfo.value)


# -- registration ------------------------------------------------------------------------


def test_installed_entry_point_registers_everything():
    entries = {(e.kind, e.name): e for e in REGISTRY.entries() if e.source.distribution == "automl-codegen-nasbench201"}
    assert ("evaluator", "nasbench201") in entries
    assert {("dataset", f"nb201-{d}") for d in ("cifar10", "cifar100", "imagenet16")} <= set(entries)
    latency = REGISTRY.get("objective", "pi5_onnx_latency_ms")
    assert (latency.direction, latency.unit) == ("min", "ms")
    assert REGISTRY.get("objective", "pi5_onnx_energy_mj").unit == "mJ"


@pytest.mark.parametrize(
    ("name", "shape", "classes"),
    [("nb201-cifar10", (3, 32, 32), 10), ("nb201-cifar100", (3, 32, 32), 100), ("nb201-imagenet16", (3, 16, 16), 120)],
)
def test_datasets_carry_the_benchmark_shapes_and_no_images(name, shape, classes):
    data = dataset(name)
    assert (data.name, data.input_shape, data.num_classes) == (name, shape, classes)
    assert len(data.y_train) == len(data.y_val) == len(data.y_test) == 0
    space = REGISTRY.get("search_space", "nb201")(data.input_shape, data.num_classes)
    assert space.to_architecture(CELL_A).num_classes == classes


def test_datasets_have_no_options():
    message = error(REGISTRY.get("dataset", "nb201-cifar10"), seed=0, image_size=8)
    assert message == "dataset 'nb201-cifar10' has no options (got ['image_size']): it holds no images, only shapes"


# -- scoring -----------------------------------------------------------------------------


def test_metrics_are_the_table_row_as_fractions(tiny_table):
    evaluator = NasBench201Evaluator(table=tiny_table)
    assert evaluator.measures == ("accuracy", "test_accuracy", "test_accuracy_12ep", "benchmark_index")
    assert evaluate(evaluator, CELL_A) == {
        "accuracy": 0.82834,
        "test_accuracy": 0.9366,
        "test_accuracy_12ep": 0.8822,
        "benchmark_index": 1.0,
    }
    # The run's dataset picks the table's columns; an index is a genotype too.
    assert evaluate(evaluator, 0, data="nb201-imagenet16")["test_accuracy"] == 0.266333
    assert evaluate(evaluator, CELL_A, data="nb201-cifar100")["accuracy"] == 0.578
    assert evaluator.lookups == 3
    assert evaluator.lookup_seconds > 0


def test_explicit_dataset_works_with_any_run_dataset(tiny_table):
    evaluator = NasBench201Evaluator(table=tiny_table, dataset="cifar100")
    assert evaluate(evaluator, CELL_B, data="synthetic")["accuracy"] == 0.3184


def test_run_dataset_and_option_must_agree(tiny_table):
    evaluator = NasBench201Evaluator(table=tiny_table, dataset="cifar100")
    assert error(evaluate, evaluator, CELL_A, data="nb201-cifar10") == (
        "evaluator 'nasbench201' has dataset='cifar100', but the search runs on 'nb201-cifar10'; "
        "use --dataset nb201-cifar100 or drop the evaluator's dataset option"
    )


def test_a_dataset_it_cannot_map_needs_the_option(tiny_table):
    evaluator = NasBench201Evaluator(table=tiny_table)
    assert error(evaluate, evaluator, CELL_A, data="synthetic") == (
        "evaluator 'nasbench201' does not know which NAS-Bench-201 results to look up for the dataset "
        "'synthetic': search on one of nb201-cifar10, nb201-cifar100, nb201-imagenet16 (--dataset), or pass "
        "--evaluator-option dataset=NAME with NAME one of cifar10, cifar100, imagenet16"
    )


def test_other_spaces_and_missing_genotypes_are_refused(tiny_table):
    evaluator = NasBench201Evaluator(table=tiny_table)
    assert error(evaluate, evaluator, [1, 2], space="chain-cnn") == (
        "evaluator 'nasbench201' looks up cells of the nb201 space, but this search uses 'chain-cnn'"
    )
    assert error(evaluate, evaluator, None) == (
        "evaluator 'nasbench201' needs the trial's genotype (EvaluationContext.genotype): "
        "run it through NeuralArchitectureSearch with space 'nb201'"
    )


def test_device_measurements_join_on_the_index(tiny_table, tmp_path):
    device = write_csv(
        tmp_path / "device.csv",
        ["index", "pi5_onnx_latency_ms", "pixel_litert_latency_ms", "pi5_onnx_energy_mj"],
        [[0, 1.5, 1.0, 2.5], [1, 10.5, 6.25, 16.5]],
    )
    evaluator = NasBench201Evaluator(table=tiny_table, latency_table=device)
    assert evaluator.measures[-4:] == (
        "pi5_onnx_latency_ms",
        "pixel_litert_latency_ms",
        "pi5_onnx_energy_mj",
        "latency_ms",
    )
    metrics = evaluate(evaluator, CELL_A)
    assert (metrics["latency_ms"], metrics["pi5_onnx_energy_mj"]) == (10.5, 16.5)
    pixel = NasBench201Evaluator(table=tiny_table, latency_table=device, latency_column="pixel_litert_latency_ms")
    assert evaluate(pixel, CELL_B)["latency_ms"] == 1.0
    assert error(NasBench201Evaluator, table=tiny_table, latency_table=device, latency_column="gpu_ms") == (
        f"evaluator 'nasbench201': latency_column 'gpu_ms' is not a column of {device}; its columns: "
        "pi5_onnx_latency_ms, pixel_litert_latency_ms, pi5_onnx_energy_mj"
    )
    # Index 7 is in the accuracy table only: that trial fails, saying where it is missing.
    assert error(evaluate, evaluator, 7) == f"architecture 7 is not in the device table {device}"


def test_training_times_from_the_table_or_a_fixed_charge(tiny_table, tmp_path):
    timed = write_csv(
        tmp_path / "timed.csv",
        [*HEADER, "cifar10_train_seconds_12ep"],
        [[*row, 100.0 + row[0]] for row in TINY_ROWS],
    )
    evaluator = NasBench201Evaluator(table=timed, time_budget=500)
    assert "train_seconds" in evaluator.measures
    assert evaluate(evaluator, CELL_A)["train_seconds"] == 101.0
    fixed = NasBench201Evaluator(table=tiny_table, seconds_per_query=30)
    assert evaluate(fixed, CELL_A)["train_seconds"] == 30.0


# -- options and tables that cannot work ------------------------------------------------


def test_missing_table_says_where_to_put_it_and_how_to_pass_it(tmp_path, monkeypatch):
    monkeypatch.delenv(TABLE_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert error(NasBench201Evaluator) == (
        f"evaluator 'nasbench201': the NAS-Bench-201 table {Path(DEFAULT_TABLE)} (the default location) does not "
        f"exist. Put nb201_accuracy.csv there, set ${TABLE_ENV_VAR} to its path, or pass --evaluator-option "
        "table=PATH (Python: evaluator_options={'table': PATH}); the official NATS-Bench archive works too when "
        "the nats_bench package is installed"
    )
    monkeypatch.setenv(TABLE_ENV_VAR, str(tmp_path / "env.csv"))
    assert f"table {tmp_path / 'env.csv'} (${TABLE_ENV_VAR}) does not exist" in error(NasBench201Evaluator)
    assert f"table {tmp_path / 'x.csv'} (the evaluator option table) does not" in error(
        NasBench201Evaluator, table=str(tmp_path / "x.csv")
    )


def test_table_from_the_environment(tiny_table, monkeypatch):
    monkeypatch.setenv(TABLE_ENV_VAR, str(tiny_table))
    assert NasBench201Evaluator().table.path == tiny_table


def test_a_table_without_the_datasets_columns(tmp_path):
    path = write_csv(tmp_path / "c10.csv", HEADER[:5], [row[:5] for row in TINY_ROWS])
    assert NasBench201Evaluator(table=path, dataset="cifar10").table.path == path
    assert error(NasBench201Evaluator, table=path, dataset="imagenet16") == (
        f"{path} has no imagenet16 results: it lacks the column(s) imagenet16_valid_12ep, imagenet16_test_12ep, "
        "imagenet16_test_200ep"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"epochs": 12},
            "evaluator 'nasbench201' has no option(s) ['epochs']; its options: table, dataset, latency_table, "
            "latency_column, time_budget, seconds_per_query",
        ),
        (
            {"dataset": "imagenet"},
            "evaluator 'nasbench201': unknown dataset 'imagenet'; choose one of cifar10, cifar100, imagenet16",
        ),
        ({"time_budget": 0}, "evaluator 'nasbench201': time_budget must be a positive number of seconds, got 0"),
        (
            {"seconds_per_query": "10"},
            "evaluator 'nasbench201': seconds_per_query must be a positive number of seconds, got '10'",
        ),
        (
            {"latency_column": "pi5_onnx_latency_ms"},
            "evaluator 'nasbench201': latency_column needs latency_table=PATH (nb201_device_latency.csv)",
        ),
        ({"latency_table": 3}, "evaluator 'nasbench201': latency_table must be a file path, got 3"),
    ],
)
def test_bad_options_name_the_option(tiny_table, options, message):
    assert error(NasBench201Evaluator, table=tiny_table, **options) == message


def test_a_time_budget_needs_training_times(tiny_table):
    assert error(NasBench201Evaluator, table=tiny_table, dataset="cifar10", time_budget=20000) == (
        f"evaluator 'nasbench201': time_budget needs simulated training times, and {tiny_table} has none for "
        "cifar10 (no column cifar10_train_seconds_12ep); read the NATS-Bench archive (table=DIR, with nats_bench "
        "installed) or charge a fixed time with seconds_per_query=S"
    )


@pytest.mark.skipif(importlib.util.find_spec("nats_bench") is not None, reason="nats_bench is installed")
def test_nats_bench_files_without_the_package(tmp_path):
    archive = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    archive.mkdir()
    assert error(NasBench201Evaluator, table=archive) == (
        f"{archive} is a NATS-Bench benchmark file, which is read with the nats_bench package: "
        "`pip install nats_bench`, or pass the compact CSV table as table=PATH"
    )
