"""Random search driven by the real engine, and installed as a real distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl_codegen import NeuralArchitectureSearch, hookimpl
from automl_codegen.evaluation import Evaluation
from automl_codegen.testing import plugin_manager_with

PACKAGE = Path(__file__).resolve().parents[1]


class CountingEvaluator:
    """Scores a genotype without training: the number of convolutions in the nb201 cell."""

    measures = ("accuracy",)

    def evaluate(self, architecture, context):
        return Evaluation(metrics={"accuracy": context.genotype.count("conv") / 6})


class EvaluatorPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("count-convs", CountingEvaluator)


class StopAfter:
    """Asks the engine to stop after ``n`` trials, like a Ctrl-C between trials."""

    def __init__(self, n: int) -> None:
        self.n = n

    @hookimpl
    def on_trial_end(self, run, trial):
        return trial.number + 1 >= self.n


def search(run_dir: Path, *plugins: object, budget: int = 12) -> NeuralArchitectureSearch:
    return NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 80, "num_classes": 2},
        space="nb201",
        strategy="random",
        evaluator="count-convs",
        profilers=[],
        budget=budget,
        seed=11,
        progress=False,
        run_dir=run_dir,
        plugin_manager=plugin_manager_with(EvaluatorPlugin(), *plugins),
    )


def test_a_search_evaluates_distinct_architectures(tmp_path):
    result = search(tmp_path / "run").search()
    genotypes = [t.genotype for t in result.trials]
    assert len(genotypes) == len(set(genotypes)) == 12
    assert all(t.ok for t in result.trials)


def test_a_stopped_search_resumes_exactly(tmp_path):
    whole = [t.genotype for t in search(tmp_path / "whole").search().trials]
    search(tmp_path / "part", StopAfter(5)).search()
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "part", progress=False, plugin_manager=plugin_manager_with(EvaluatorPlugin())
    ).search()
    assert [t.genotype for t in resumed.trials] == whole


# -- a real install, as a user gets it ---------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """This distribution installed with pip into a private directory (not the editable copy)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            target,
            PACKAGE,
        ],
        check=True,
        capture_output=True,
    )
    return target


def cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "automl_codegen.cli", *args], capture_output=True, text=True, env=env)


def test_installed_distribution_is_listed(site):
    out = cli(site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout) if r["name"] == "random")
    assert (row["kind"], row["module"], row["distribution"], row["version"]) == (
        "strategy",
        "automl_codegen_random",
        "automl-codegen-random",
        "0.1.0",
    )


def test_unknown_option_is_one_line_on_the_command_line(site, tmp_path):
    out = cli(site, "search", "--strategy", "random", "--strategy-option", "sample_size=3", "-o", str(tmp_path / "r"))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "automl-codegen: error: strategy 'random' has no option(s) ['sample_size']; its options: max_tries"
    )
