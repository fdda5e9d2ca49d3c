"""Trials in parallel: the engine's slots, out-of-order results, and the `process` executor.

The engine tests use a thread pool as the executor (fast, and the evaluator can see the
test's state); the `process` tests use real worker processes, so their evaluators are
module-level classes that a spawned worker can import.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from automl_codegen import ConfigError, Evaluation, NeuralArchitectureSearch, hookimpl
from automl_codegen.testing import plugin_manager_with
from automl_codegen_plugins.executors.process import ProcessExecutor


class SleepyEvaluator:
    """Scores without training; trial ``slow`` takes ``delay`` seconds, the others ``base`` (0.05 s).

    Records where and when each trial ran, in ``metrics``, so tests can see the overlap.
    """

    measures = ("accuracy", "pid", "started", "ended", "dataset_seen")

    def __init__(self, slow: int = -1, delay: float = 0.6, die: int = -1, base: float = 0.05) -> None:
        self.slow, self.delay, self.die, self.base = slow, delay, die, base

    def evaluate(self, architecture, context):
        started = time.time()
        if context.trial_number == self.die:
            os._exit(3)  # a worker killed mid-trial, as by a segfault in native code
        time.sleep(self.delay if context.trial_number == self.slow else self.base)
        score = (architecture.num_params % 97) / 97
        # Whether this process has had this very dataset object before (kept, so no other
        # object can take its address).
        seen = any(data is context.dataset for data in _DATASETS)
        _DATASETS.append(context.dataset)
        metrics = {"accuracy": score, "pid": os.getpid(), "started": started, "ended": time.time()}
        return Evaluation(metrics={**metrics, "dataset_seen": float(seen)})


_DATASETS: list = []


class Threads(ThreadPoolExecutor):
    """A parallel executor in one process, for testing the engine."""

    def __init__(self, workers: int = 2) -> None:
        super().__init__(max_workers=workers)
        self.max_workers = workers


class ParallelPlugins:
    @hookimpl
    def register_evaluators(self, register):
        register("sleepy", SleepyEvaluator)

    @hookimpl
    def register_executors(self, register):
        register("threads", Threads)


class InterruptAfter:
    """Raises KeyboardInterrupt once ``n`` trials have finished, like Ctrl-C at that moment."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    @hookimpl
    def on_trial_end(self, run, trial):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


def search(run_dir, *plugins, strategy="evolution", **overrides) -> NeuralArchitectureSearch:
    kwargs = {
        "dataset": "synthetic",
        "dataset_options": {"num_samples": 80, "num_classes": 2},
        "strategy": strategy,
        "strategy_options": {"population_size": 3} if strategy == "evolution" else {},
        "evaluator": "sleepy",
        "executor": "threads",
        "profilers": [],
        "budget": 8,
        "seed": 5,
        "progress": False,
        "run_dir": run_dir,
        "plugin_manager": plugin_manager_with(ParallelPlugins(), *plugins),
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


def journal_rows(run_dir) -> tuple[list[tuple[int, str]], int]:
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        rows = db.execute("SELECT number, status FROM trials ORDER BY number").fetchall()
        told = db.execute("SELECT after_trial FROM strategy_state").fetchone()[0]
    return rows, told


def overlapped(trials) -> bool:
    spans = sorted((t.metrics["started"], t.metrics["ended"]) for t in trials)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


# -- the engine --------------------------------------------------------------------------


def test_results_are_recorded_as_they_finish_and_numbered_as_they_started(tmp_path):
    # Trial 0 takes long: trials 1, 2, ... finish (and are told) before it.
    result = search(tmp_path / "run", evaluator_options={"slow": 0}).search()
    assert [t.number for t in result.trials] == list(range(8))
    assert all(t.ok for t in result.trials)
    assert overlapped(result.trials)
    finished = [json.loads(line)["number"] for line in (tmp_path / "run" / "trials.jsonl").read_text().splitlines()]
    assert finished[0] != 0
    assert sorted(finished) == list(range(8))
    rows, told = journal_rows(tmp_path / "run")
    assert told == 8  # how many trials the strategy heard of, whatever their numbers
    assert [status for _, status in rows] == ["complete"] * 8


def test_never_more_trials_than_the_budget_nor_than_the_executor_has_workers(tmp_path):
    result = search(tmp_path / "run", budget=7, executor_options={"workers": 3}).search()
    assert [t.number for t in result.trials] == list(range(7))
    assert len(journal_rows(tmp_path / "run")[0]) == 7  # none started beyond the budget
    events = sorted(
        [(t.metrics["started"], 1) for t in result.trials] + [(t.metrics["ended"], -1) for t in result.trials]
    )
    running = list(itertools.accumulate(step for _, step in events))  # trials running after each event
    assert 2 <= max(running) <= 3


def test_a_time_budget_starts_no_trial_once_spent_and_lets_running_ones_finish(tmp_path):
    result = search(tmp_path / "run", budget={"seconds": 0.3}, evaluator_options={"slow": 1, "delay": 1.0}).search()
    rows, _ = journal_rows(tmp_path / "run")
    assert all(status == "complete" for _, status in rows)
    assert 1 in {t.number for t in result.trials}  # the long trial was waited for
    assert result.elapsed_s >= 1.0
    assert len(result.trials) < 20


def test_a_time_budget_starts_no_trial_that_would_end_after_it(tmp_path):
    # Two workers, 0.4 s per trial, 1 s budget: two rounds end at 0.8 s; a third would
    # end at 1.2 s, so it is not started (before, the search ran 20% over its budget).
    result = search(tmp_path / "run", budget={"seconds": 1.0, "trials": 50}, evaluator_options={"base": 0.4}).search()
    assert len(result.trials) == 4
    assert result.elapsed_s < 1.0
    assert len(journal_rows(tmp_path / "run")[0]) == 4  # nothing started and dropped


def test_a_plugin_stop_lets_running_trials_finish(tmp_path):
    class StopAtFirst:
        @hookimpl
        def on_trial_end(self, run, trial):
            return True

    result = search(tmp_path / "run", StopAtFirst(), evaluator_options={"slow": 0}).search()
    assert [t.number for t in result.trials] == [0, 1]  # the one still running was recorded
    assert journal_rows(tmp_path / "run")[1] == 2


def test_ctrl_c_with_trials_out_of_order_resumes_to_a_full_numbered_run(tmp_path):
    # Trial 0 is slow: Ctrl-C after three others finished leaves a gap at number 0.
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path / "run", InterruptAfter(3), evaluator_options={"slow": 0, "delay": 1.0}).search()
    rows, told = journal_rows(tmp_path / "run")
    assert 0 not in [n for n, _ in rows]
    assert told == len(rows) == 3
    assert all(status == "complete" for _, status in rows)

    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, plugin_manager=plugin_manager_with(ParallelPlugins())
    ).search()
    assert [t.number for t in resumed.trials] == list(range(8))  # the gap was filled first
    assert journal_rows(tmp_path / "run")[1] == 8


def test_random_search_reruns_the_interrupted_trial_with_the_same_genotype(tmp_path):
    pytest.importorskip("automl_codegen_random")
    whole = search(tmp_path / "whole", strategy="random", space="nb201", executor="local").search()
    with pytest.raises(KeyboardInterrupt):
        search(
            tmp_path / "run",
            InterruptAfter(3),
            strategy="random",
            space="nb201",
            evaluator_options={"slow": 0, "delay": 1.0},
        ).search()
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, plugin_manager=plugin_manager_with(ParallelPlugins())
    ).search()
    # Random search asks first for what was pending: trial 0 runs its own genotype again.
    assert [t.genotype for t in resumed.trials] == [t.genotype for t in whole.trials]


@pytest.mark.slow
def test_one_shot_strategy_runs_its_single_trial_with_a_parallel_executor(tmp_path):
    result = search(
        tmp_path / "run",
        space="nb201",
        space_options={"channels": 4, "cells_per_stage": 1},
        strategy="darts",
        strategy_options={"epochs": 1, "batch_size": 32, "channels": 4, "cells_per_stage": 1},
        budget=3,
    ).search()
    assert [t.number for t in result.trials] == [0]


def test_an_executor_with_a_bad_max_workers_is_refused(tmp_path):
    class Broken(Threads):
        def __init__(self) -> None:
            super().__init__()
            self.max_workers = 0

    class Plugin:
        @hookimpl
        def register_executors(self, register):
            register("broken", Broken)

    with pytest.raises(ConfigError, match=r"^executor 'broken' has max_workers=0; it must be a positive integer$"):
        search(tmp_path / "run", Plugin(), executor="broken").search()


# -- the `process` executor ----------------------------------------------------------------


def test_process_executor_runs_trials_in_worker_processes_at_once(tmp_path):
    result = search(
        tmp_path / "run",
        executor="process",
        executor_options={"workers": 2},
        evaluator_options={"delay": 0.5, "slow": 1},
    ).search()
    assert [t.number for t in result.trials] == list(range(8))
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    pids = {t.metrics["pid"] for t in result.trials}
    assert len(pids) == 2
    assert os.getpid() not in pids
    assert overlapped(result.trials)


def test_in_memory_data_goes_to_each_worker_once(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((60, 8, 8), dtype=np.float32), np.arange(60) % 3)
    result = search(
        tmp_path / "run", dataset=data, dataset_options={}, executor="process", executor_options={"workers": 2}
    ).search()
    trials = result.trials
    assert all(t.ok for t in trials), [t.error for t in trials]
    for pid in {t.metrics["pid"] for t in trials}:
        seen = [t.metrics["dataset_seen"] for t in trials if t.metrics["pid"] == pid]
        assert seen == [0.0] + [1.0] * (len(seen) - 1)  # the first trial brought it, the rest reuse it


def test_a_worker_that_dies_mid_trial_fails_that_trial_and_the_search_goes_on(tmp_path):
    result = search(
        tmp_path / "run", executor="process", executor_options={"workers": 2}, evaluator_options={"die": 2}
    ).search()
    assert len(result.trials) == 8
    failed = [t for t in result.trials if not t.ok]
    assert [t.number for t in failed] == [2]
    assert failed[0].error.startswith(
        "the executor lost the trial: WorkerDiedError: the worker process running this trial exited with code 3 after "
    )
    assert failed[0].error.endswith("s; the search goes on with a new worker")
    assert len({t.metrics["pid"] for t in result.trials if t.ok}) == 3  # the dead worker was replaced


@pytest.mark.slow
def test_ctrl_c_stops_a_running_process_trial_instead_of_waiting_for_it(tmp_path):
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        search(
            tmp_path / "run",
            InterruptAfter(2),
            executor="process",
            executor_options={"workers": 2},
            evaluator_options={"slow": 0, "delay": 60},
        ).search()
    assert time.monotonic() - started < 30
    rows, told = journal_rows(tmp_path / "run")
    assert told == len(rows) == 2
    assert 0 not in [n for n, _ in rows]


def test_process_executor_returns_trained_weights(tmp_path):
    result = search(
        tmp_path / "run",
        evaluator="train",
        executor="process",
        executor_options={"workers": 2},
        epochs=1,
        budget=2,
    ).search()
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    assert all((tmp_path / "run" / t.weights).is_file() for t in result.trials)


def test_process_executor_shares_the_cores_between_workers():
    executor = ProcessExecutor(workers=2)
    try:
        assert executor.max_workers == 2
        assert executor.threads_per_worker == max(1, len(os.sched_getaffinity(0)) // 2)
        threads = executor.submit(torch_threads).result()
        assert threads == executor.threads_per_worker
    finally:
        executor.shutdown()


def test_a_worker_that_died_while_idle_is_replaced():
    executor = ProcessExecutor(workers=1)
    try:
        first = executor.submit(os.getpid).result()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not executor._pools[0]._broken and time.monotonic() < deadline:
            time.sleep(0.05)  # until the pool has noticed
        assert executor.submit(os.getpid).result() not in (first, os.getpid())
    finally:
        executor.shutdown()


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "executor 'process': workers must be an integer from 1 to 256, got 0"),
        ({"threads_per_worker": 1.5}, "executor 'process': threads_per_worker must be an integer from 1 to 1024, got 1.5"),
        ({"start_method": "fork"}, "executor 'process': start_method must be one of spawn, forkserver, got 'fork'"),
    ],
)
def test_process_executor_bad_options_are_named(options, message):
    with pytest.raises(ConfigError) as info:
        ProcessExecutor(**options)
    assert str(info.value) == message
