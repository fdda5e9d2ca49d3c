"""The finished small run that report tests build from (helpers for hand-written runs: report_runs.py)."""

from __future__ import annotations

import pytest

from automl_codegen import NeuralArchitectureSearch, SearchResult

SYNTHETIC = {"num_samples": 200, "num_classes": 4, "noise": 0.8}
FAST_PROFILER = {"torch-cpu": {"min_run_time": 0.01, "warmup": 1}}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> SearchResult:
    """A real search: 6 trained trials, two objectives, a constraint, population 3 (two generations)."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    nas = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options=SYNTHETIC,
        objectives=["accuracy", "latency_ms"],
        constraints=["params < 20000"],
        budget=6,
        epochs=1,
        seed=0,
        progress=False,
        run_dir=run_dir,
        strategy_options={"population_size": 3},
        profiler_options=FAST_PROFILER,
    )
    nas.search()
    # Loaded from disk, as `automl-codegen report RUN_DIR` does.
    return SearchResult.load(run_dir)
