"""Table-lookup searches through the real engine and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from automl_codegen_nasbench201 import load_accuracy_table
from nb201_tables import REAL_DEVICE_TABLE, REAL_TABLE, needs_real_table

from automl_codegen import ConfigError, NeuralArchitectureSearch, hookimpl
from automl_codegen.testing import plugin_manager_with

PACKAGE = Path(__file__).resolve().parents[1]


def search(run_dir: Path, table: Path, *plugins: object, budget: int = 30, **overrides) -> NeuralArchitectureSearch:
    arguments = {
        "dataset": "nb201-cifar10",
        "space": "nb201",
        "strategy": "evolution",
        "evaluator": "nasbench201",
        "evaluator_options": {"table": str(table)},
        "profilers": [],
        "budget": budget,
        "seed": 3,
        "progress": False,
        "run_dir": run_dir,
        "plugin_manager": plugin_manager_with(*plugins) if plugins else None,
    }
    return NeuralArchitectureSearch(**{**arguments, **overrides})


def test_a_search_reports_the_table_and_optimises_the_signal(tmp_path, full_table):
    result = search(tmp_path / "run", full_table).search()
    assert [t.status for t in result.trials] == ["complete"] * 30
    table = load_accuracy_table(full_table)
    for trial in result.trials:
        record = table.lookup(trial.genotype, "cifar10")
        assert trial.metrics["accuracy"] == record.valid_12ep / 100
        assert trial.metrics["test_accuracy"] == record.test_200ep / 100
    assert result.best.metrics["accuracy"] == max(t.metrics["accuracy"] for t in result.trials)
    assert result.summary()["best"]["metrics"]["test_accuracy"] == result.best.metrics["test_accuracy"]


def test_lookups_skip_lowering_and_the_run_lowers_what_it_exports(tmp_path, full_table):
    """The evaluator needs genotypes only, so trials carry none; best.json and exports still work."""
    from automl_codegen import Architecture, SearchResult

    result = search(tmp_path / "run", full_table, budget=5).search()
    assert all(t.ok and t.architecture is None for t in result.trials)
    best_json = Architecture.from_json((tmp_path / "run" / "best.json").read_text())
    loaded = SearchResult.load(tmp_path / "run")
    lowered = loaded.with_architecture(loaded.best)
    assert lowered.architecture == best_json
    written = loaded.export("pytorch", tmp_path / "out")
    assert (tmp_path / "out" / "model.py") in written


def test_a_cell_missing_from_a_slice_fails_its_trial_only(tmp_path, tiny_table):
    result = search(tmp_path / "run", tiny_table, budget=3).search()
    assert [t.status for t in result.trials] == ["failed"] * 3
    assert "is not in" in result.failure_summary()


def test_the_search_is_checked_before_its_first_trial(tmp_path, full_table):
    with pytest.raises(ConfigError) as excinfo:
        search(tmp_path / "run", full_table, space="chain-cnn", dataset="synthetic").search()
    assert str(excinfo.value) == (
        "evaluator 'nasbench201' looks up cells of the nb201 space; use --space nb201, not 'chain-cnn'"
    )
    with pytest.raises(ConfigError, match="does not know which NAS-Bench-201 results to look up"):
        search(tmp_path / "run2", full_table, dataset="synthetic").search()


class StopAfter:
    def __init__(self, n: int) -> None:
        self.n = n

    @hookimpl
    def on_trial_end(self, run, trial):
        return trial.number + 1 >= self.n


def test_a_simulated_time_budget_stops_the_search_and_survives_a_resume(tmp_path, full_table):
    options = {"table": str(full_table), "seconds_per_query": 10, "time_budget": 35}
    result = search(tmp_path / "whole", full_table, evaluator_options=options).search()
    assert len(result.trials) == 4  # 10 + 10 + 10 + 10 >= 35: the fourth trial crosses it
    search(tmp_path / "part", full_table, StopAfter(2), evaluator_options=options).search()
    resumed = NeuralArchitectureSearch.resume(tmp_path / "part", progress=False).search()
    assert [t.genotype for t in resumed.trials] == [t.genotype for t in result.trials]


def test_hardware_aware_search_on_the_device_table(tmp_path, full_table):
    # Synthetic accuracies, device latencies keyed by the synthetic index: both sides from files.
    device = tmp_path / "device.csv"
    device.write_text("index,pi5_onnx_latency_ms\n" + "".join(f"{i},{1 + i % 97}\n" for i in range(15625)))
    result = search(
        tmp_path / "run",
        full_table,
        objectives=["accuracy", "pi5_onnx_latency_ms"],
        constraints=["latency_ms <= 50"],
        evaluator_options={"table": str(full_table), "latency_table": str(device)},
    ).search()
    assert result.pareto_front
    assert all(t.metrics["latency_ms"] == t.metrics["pi5_onnx_latency_ms"] for t in result.trials)


# -- the command line ------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    command = [sys.executable, "-m", "automl_codegen.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environ)


def test_command_line_search(tmp_path, full_table):
    run = tmp_path / "run"
    out = cli(
        *"search --dataset nb201-cifar100 --space nb201 --evaluator nasbench201 --profiler none".split(),
        *f"--evaluator-option table={full_table} --budget-trials 12 --quiet -o {run}".split(),
    )
    assert out.returncode == 0, out.stderr
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 12
    assert {"accuracy", "test_accuracy", "test_accuracy_12ep", "benchmark_index"} <= set(trials[0]["metrics"])


def test_command_line_missing_table_is_one_line(tmp_path):
    out = cli(
        *"search --dataset nb201-cifar10 --space nb201 --evaluator nasbench201 --profiler none".split(),
        "-o",
        str(tmp_path / "run"),
        env={"AUTOML_CODEGEN_NB201_TABLE": str(tmp_path / "missing.csv")},
    )
    assert out.returncode == 2
    assert out.stderr.startswith(
        f"automl-codegen: error: evaluator 'nasbench201': the NAS-Bench-201 table {tmp_path / 'missing.csv'} "
        "($AUTOML_CODEGEN_NB201_TABLE) does not exist. Put nb201_accuracy.csv there"
    )
    assert out.stderr.count("\n") == 1


@needs_real_table
def test_real_table_search_beats_its_first_generation(tmp_path):
    result = search(
        tmp_path / "run",
        REAL_TABLE,
        budget=60,
        evaluator_options={"table": str(REAL_TABLE), "latency_table": str(REAL_DEVICE_TABLE)},
    ).search()
    summary = result.summary()
    assert summary["best"]["objectives"]["accuracy"] >= summary["best_of_first_generation"]["objectives"]["accuracy"]
    assert 0.85 < result.best.metrics["test_accuracy"] <= 0.9438
    assert result.best.metrics["pi5_onnx_latency_ms"] > 0


# -- a real install, as a user gets it ---------------------------------------------------


def test_installed_distribution_is_listed(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, PACKAGE],
        check=True,
        capture_output=True,
    )
    out = cli("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(out.stdout)}
    evaluator = rows[("evaluator", "nasbench201")]
    assert (evaluator["module"], evaluator["distribution"], evaluator["version"]) == (
        "automl_codegen_nasbench201",
        "automl-codegen-nasbench201",
        "0.1.0",
    )
    assert ("dataset", "nb201-imagenet16") in rows
