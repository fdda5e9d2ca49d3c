"""The Ray executor under the real engine, on a private two-CPU Ray; and installed with pip."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("automl_codegen_ray")

from automl_codegen_ray import RayExecutor  # noqa: E402

from automl_codegen import ConfigError, Dataset, Evaluation, NeuralArchitectureSearch, hookimpl  # noqa: E402
from automl_codegen.testing import plugin_manager_with  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1]


class QuickEvaluator:
    """Scores without training. Trial ``die`` kills its worker (os._exit), once if
    ``marker`` names a file to leave behind, else every time; trial ``slow`` sleeps.

    Records where and when each trial ran, and whether its process had been given this
    very dataset object before (``dataset_seen``)."""

    measures = ("accuracy", "pid", "started", "ended", "dataset_seen")

    def __init__(self, die: int = -1, marker: str | None = None, slow: int = -1, delay: float = 0.3) -> None:
        self.die, self.marker, self.slow, self.delay = die, marker, slow, delay

    def evaluate(self, architecture, context):
        started = time.time()
        if context.trial_number == self.die and not (self.marker and os.path.exists(self.marker)):
            if self.marker:
                Path(self.marker).touch()
            os._exit(3)
        time.sleep(self.delay if context.trial_number == self.slow else 0.3)
        score = (architecture.num_params % 97) / 97
        given = _given_datasets()
        seen = any(data is context.dataset for data in given)
        given.append(context.dataset)
        metrics = {"accuracy": score, "pid": os.getpid(), "started": started, "ended": time.time()}
        return Evaluation(metrics={**metrics, "dataset_seen": float(seen)})


def _given_datasets() -> list:
    """The datasets this process's trials were given, kept so that no other object takes their address.

    This module travels to the Ray workers by value, so its globals are new in every
    trial: the list lives in a module of its own that the worker process keeps.
    """
    name = "_automl_codegen_ray_test_state"
    state = sys.modules.setdefault(name, types.ModuleType(name))
    return state.__dict__.setdefault("datasets", [])


class QuickPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("quick", QuickEvaluator)


class InterruptAfter:
    """Raises KeyboardInterrupt once ``n`` trials have finished, like Ctrl-C at that moment."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    @hookimpl
    def on_trial_end(self, run, trial):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One private Ray with two CPUs for the module; the executor uses it and leaves it running."""
    # Ray workers do not see the test directory: ship this module's classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def search(run_dir: Path, *plugins: object, **overrides) -> NeuralArchitectureSearch:
    kwargs = {
        "dataset": "synthetic",
        "dataset_options": {"num_samples": 80, "num_classes": 2},
        "strategy_options": {"population_size": 3},
        "evaluator": "quick",
        "executor": "ray",
        "profilers": [],
        "budget": 6,
        "seed": 2,
        "progress": False,
        "run_dir": run_dir,
        "plugin_manager": plugin_manager_with(QuickPlugin(), *plugins),
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


def test_trials_run_as_ray_tasks_two_at_a_time(tmp_path):
    result = search(tmp_path / "run").search()
    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    assert os.getpid() not in {t.metrics["pid"] for t in result.trials}
    spans = sorted((t.metrics["started"], t.metrics["ended"]) for t in result.trials)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))  # two ran at once


def test_a_worker_process_gets_the_dataset_once_and_keeps_it(tmp_path):
    result = search(tmp_path / "run", budget=8).search()
    by_pid: dict[int, list] = {}
    for trial in sorted(result.trials, key=lambda t: t.metrics["started"]):
        by_pid.setdefault(trial.metrics["pid"], []).append(trial.metrics["dataset_seen"])
    assert max(len(seen) for seen in by_pid.values()) > 1, by_pid  # some worker ran several trials
    # Each worker's first trial unpickles the dataset; the others get that same object.
    assert all(seen == [0.0] + [1.0] * (len(seen) - 1) for seen in by_pid.values()), by_pid


def name_of(data: Dataset) -> str:
    return data.name


def test_each_dataset_goes_into_the_object_store_once_and_calls_carry_a_key(monkeypatch):
    put = ray.put
    stored = []
    monkeypatch.setattr(ray, "put", lambda value, **kwargs: stored.append(value) or put(value, **kwargs))
    first, second = dataset("first", 2_000), dataset("second", 100)
    executor = RayExecutor(workers=2)
    try:
        call, refs = executor._pack(name_of, (first,), {})
        assert len(call) < 10_000  # the 25 MB of images are not in it
        assert len(refs) == 1
        futures = [executor.submit(name_of, data) for data in (first, first, second, first, second)]
        assert [f.result() for f in futures] == ["first", "first", "second", "first", "second"]
    finally:
        executor.shutdown()
    assert [data.name for data in stored] == ["first", "second"]


def dataset(name: str, samples: int) -> Dataset:
    x = np.zeros((samples, 3, 32, 32), dtype=np.float32)
    y = np.zeros(samples, dtype=np.int64)
    return Dataset(name, x, y, x[:10], y[:10], x[:10], y[:10], num_classes=2)


def test_a_worker_killed_mid_trial_is_a_failed_trial_and_the_search_goes_on(tmp_path):
    result = search(tmp_path / "run", evaluator_options={"die": 1}).search()
    assert len(result.trials) == 6
    assert [t.number for t in result.trials if not t.ok] == [1]
    error = result.trials[1].error
    assert error.startswith("the executor lost the trial: WorkerCrashedError: ")
    assert all(t.ok for t in result.trials if t.number != 1)


def test_retries_run_a_trial_again_when_its_worker_died(tmp_path):
    marker = tmp_path / "died-once"
    result = search(
        tmp_path / "run", evaluator_options={"die": 1, "marker": str(marker)}, executor_options={"retries": 1}
    ).search()
    assert marker.exists()
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]


def test_ctrl_c_cancels_the_running_trials(tmp_path):
    # Trial 0 would sleep a minute; Ctrl-C after two other trials must not wait for it.
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path / "run", InterruptAfter(2), evaluator_options={"slow": 0, "delay": 60}).search()
    assert time.monotonic() - started < 30
    with sqlite3.connect(tmp_path / "run" / "journal.sqlite") as db:
        rows = db.execute("SELECT number, status FROM trials ORDER BY number").fetchall()
    assert [status for _, status in rows] == ["complete", "complete"]  # trial 0 was dropped, to run on resume
    assert 0 not in [number for number, _ in rows]


@pytest.mark.slow
def test_a_small_search_with_real_training(tmp_path):
    result = search(
        tmp_path / "run", evaluator="train", epochs=1, budget=4, executor_options={"num_cpus": 1, "workers": 2}
    ).search()
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    assert all((tmp_path / "run" / t.weights).is_file() for t in result.trials)


def test_workers_default_to_what_the_cluster_fits():
    executor = RayExecutor(num_cpus=0.5)
    try:
        assert executor.max_workers == 4
    finally:
        executor.shutdown()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_cpus": -1}, "executor 'ray': num_cpus must be a number >= 0, got -1"),
        ({"workers": 0}, "executor 'ray': workers must be an integer >= 1, got 0"),
        ({"retries": 1.5}, "executor 'ray': retries must be an integer >= 0, got 1.5"),
        (
            {"num_cpus": 0},
            "executor 'ray': num_cpus and num_gpus are both 0; a trial needs some resource to be scheduled",
        ),
        (
            {"gpus": 1},
            "executor 'ray' has no option(s) ['gpus']; "
            "its options: address, cpus, workers, num_cpus, num_gpus, retries, init_options",
        ),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ConfigError) as info:
        RayExecutor(**options)
    assert str(info.value) == message


# -- a real install, as a user gets it ---------------------------------------------------


def test_installed_distribution_is_listed(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, PACKAGE],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "automl_codegen.cli", "plugins", "--json"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout) if r["name"] == "ray")
    assert (row["kind"], row["module"], row["distribution"], row["version"]) == (
        "executor",
        "automl_codegen_ray",
        "automl-codegen-ray",
        "0.1.0",
    )
