"""What a user passes from Python instead of an entry point: objectives, callbacks, a device."""

from __future__ import annotations

import math
import os
import signal
import time
from concurrent.futures import Future
from typing import ClassVar

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
from automl_codegen.plugins import Registry, get_plugin_manager
from automl_codegen.testing import plugin_manager_with

SYNTHETIC = {"num_samples": 64, "image_size": 8}


class SizedEvaluator:
    """Scores without training: an accuracy and a parameter count per trial."""

    measures = ("accuracy", "params")
    needs_architecture = False

    def evaluate(self, architecture, context):
        n = context.trial_number
        return Evaluation(metrics={"accuracy": 0.5 + (n % 5) / 10, "params": 1000.0 * (1 + n % 3)})


class SizedPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("sized", SizedEvaluator)


def accuracy_per_kparam(metrics):
    return metrics["accuracy"] / (metrics["params"] / 1000)


PER_KPARAM = Objective("acc_per_kparam", "max", compute=accuracy_per_kparam, requires=("accuracy", "params"))


def _search(tmp_path, **overrides):
    kwargs = {
        "dataset": "synthetic",
        "dataset_options": SYNTHETIC,
        "evaluator": "sized",
        "profilers": [],
        "budget": 6,
        "progress": False,
        "device": "cpu",
        "run_dir": tmp_path / "run",
        "strategy_options": {"population_size": 2},
        "plugin_manager": plugin_manager_with(SizedPlugin()),
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


class Recorder(Callback):
    def __init__(self, stop_at: int | None = None) -> None:
        self.events: list[tuple] = []
        self.stop_at = stop_at

    def on_search_start(self, run):
        self.events.append(("start",))

    def on_trial_start(self, run, number, genotype):
        self.events.append(("trial start", number))

    def on_trial_end(self, run, trial):
        self.events.append(("trial end", trial.number))
        if trial.number == self.stop_at:
            raise KeyboardInterrupt

    def on_new_best(self, run, trial):
        self.events.append(("new best", trial.number))

    def on_search_end(self, run, result, error):
        self.events.append(("end", None if result is None else len(result.trials), type(error).__name__))


def test_a_python_objective_is_optimised_and_recorded_by_name_and_direction(tmp_path):
    result = _search(tmp_path, objectives=[PER_KPARAM, "accuracy"]).search()
    values = [t.objectives["acc_per_kparam"] for t in result.trials]
    assert values == [pytest.approx(accuracy_per_kparam(t.metrics)) for t in result.trials]
    assert result.best.objectives["acc_per_kparam"] == max(values)
    assert result.config["objectives"][0] == {"name": "acc_per_kparam", "direction": "max", "python": True}
    # Loading needs no function: the recorded values rank the trials.
    loaded = SearchResult.load(tmp_path / "run", registry=Registry(get_plugin_manager()))
    assert loaded.best.number == result.best.number
    assert [t.number for t in loaded.pareto_front] == [t.number for t in result.pareto_front]


def test_resuming_a_run_with_a_python_objective_asks_for_it_again(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _search(tmp_path, objectives=[PER_KPARAM], callbacks=[Recorder(stop_at=2)]).search()
    pm = plugin_manager_with(SizedPlugin())
    with pytest.raises(ConfigError) as info:
        NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, plugin_manager=pm)
    assert str(info.value) == (
        f"run {str(tmp_path / 'run')!r} optimises the objective 'acc_per_kparam', which was given from Python; "
        "pass it again: NeuralArchitectureSearch.resume(run_dir, objectives=[Objective('acc_per_kparam', ...)])"
    )
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, objectives=[PER_KPARAM], plugin_manager=pm
    ).search()
    assert [t.number for t in resumed.trials] == list(range(6))


def test_a_constraint_may_bound_a_python_objective(tmp_path):
    result = _search(tmp_path, objectives=[PER_KPARAM], constraints=["acc_per_kparam >= 0.4"]).search()
    for trial in result.trials:
        assert trial.feasible == (trial.objectives["acc_per_kparam"] >= 0.4)


def test_a_function_that_is_not_an_objective_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(ConfigError, match=r"wrap a function as Objective\('name', fn, direction='max'"):
        _search(tmp_path, objectives=[accuracy_per_kparam])
    with pytest.raises(ConfigError, match=r"a function without a usable name \(a lambda, say\) needs one"):
        _search(tmp_path, objectives=[(lambda m: 1.0, "max")])


def test_a_function_with_a_direction_is_an_objective_named_after_it(tmp_path):
    result = _search(tmp_path, objectives=[(accuracy_per_kparam, "max"), "params"]).search()
    best = result.best
    assert best.objectives["accuracy_per_kparam"] == max(t.objectives["accuracy_per_kparam"] for t in result.trials)
    recorded = SearchResult.load(tmp_path / "run").config["objectives"][0]
    assert recorded == {"name": "accuracy_per_kparam", "direction": "max", "python": True}


def test_callbacks_see_every_event_in_order(tmp_path):
    recorder = Recorder()
    _search(tmp_path, budget=3, callbacks=[recorder]).search()
    trial_events = [e for e in recorder.events if e[0] in ("trial start", "trial end")]
    assert trial_events == [
        ("trial start", 0),
        ("trial end", 0),
        ("trial start", 1),
        ("trial end", 1),
        ("trial start", 2),
        ("trial end", 2),
    ]
    assert recorder.events[0] == ("start",)
    assert recorder.events[-1] == ("end", 3, "NoneType")
    assert ("new best", 0) in recorder.events


def test_callbacks_hear_of_ctrl_c_and_the_plugin_manager_is_left_as_it_was(tmp_path):
    recorder = Recorder(stop_at=1)
    nas = _search(tmp_path, callbacks=[recorder])
    before = set(nas.registry.plugin_manager.get_plugins())
    with pytest.raises(KeyboardInterrupt):
        nas.search()
    assert recorder.events[-1] == ("end", None, "KeyboardInterrupt")
    assert set(nas.registry.plugin_manager.get_plugins()) == before


def test_a_callback_without_any_event_method_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="has none of the methods on_search_start, on_trial_start"):
        _search(tmp_path, callbacks=[object()])


def test_device_auto_is_resolved_and_recorded(tmp_path):
    torch = pytest.importorskip("torch")
    nas = _search(tmp_path, device="auto")
    assert nas.settings.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ("cuda:x", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'cuda:x'"),
    ],
)
def test_a_bad_device_is_refused(tmp_path, device, message):
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, device=device)
    assert str(info.value) == message


def test_cuda_without_a_device_is_an_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ConfigError) as info:
        _search(tmp_path, device="cuda:0")
    assert str(info.value) == "device 'cuda:0' was asked for but torch sees no CUDA device; use device 'auto' or 'cpu'"


class BudgetRecorder:
    """Records the training budget each trial was given."""

    measures = ("accuracy",)
    needs_architecture = False
    seen: ClassVar[list] = []

    def evaluate(self, architecture, context):
        BudgetRecorder.seen.append(context.budget.max_seconds)
        return Evaluation(metrics={"accuracy": 0.5})


class BudgetPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("budget-recorder", BudgetRecorder)


@pytest.mark.parametrize(
    ("budget", "trial_seconds"), [({"trials": 3, "seconds": 100}, None), (3, None), ({"trials": 3, "seconds": 100}, 20)]
)
def test_training_is_capped_by_the_time_left(tmp_path, budget, trial_seconds):
    BudgetRecorder.seen = []
    _search(
        tmp_path,
        evaluator="budget-recorder",
        budget=budget,
        trial_seconds=trial_seconds,
        plugin_manager=plugin_manager_with(BudgetPlugin()),
    ).search()
    first, *later = BudgetRecorder.seen
    if isinstance(budget, dict) and trial_seconds is None:
        assert 45 < first <= 50  # no duration estimate yet: half the time left
        assert all(90 < cap <= 100 for cap in later)  # then the time left (no overhead measured)
    else:
        assert first == trial_seconds
        assert later == [trial_seconds, trial_seconds]


def test_resume_takes_only_objective_values(tmp_path):
    _search(tmp_path, budget=1).search()
    with pytest.raises(ConfigError, match=r"^resume\(objectives=\.\.\.\) takes the Objective values"):
        NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, objectives=["accuracy"])


# -- extending a run ---------------------------------------------------------------------


def test_search_again_searches_that_many_more_trials_in_the_same_run(tmp_path):
    nas = _search(tmp_path, budget=2)
    first = nas.search()
    assert [t.number for t in first.trials] == [0, 1]
    again = nas.search()  # the budget is spent: nothing more, no error
    assert [t.number for t in again.trials] == [0, 1]
    more = nas.search(trials=3)
    assert [t.number for t in more.trials] == [0, 1, 2, 3, 4]
    assert SearchResult.load(tmp_path / "run").config["budget"] == {"trials": 5, "seconds": None}


def test_resume_with_a_budget_extends_the_run_and_a_later_resume_keeps_it(tmp_path):
    _search(tmp_path, budget=2).search()
    pm = plugin_manager_with(SizedPlugin())
    extended = NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, budget=3, plugin_manager=pm)
    assert extended.budget.trials == 5
    assert len(extended.search().trials) == 5
    # The journal holds the new total: resuming without a budget has nothing left to do.
    assert (
        len(NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, plugin_manager=pm).search().trials) == 5
    )


def test_seconds_given_to_search_count_from_where_the_run_stands(tmp_path):
    nas = _search(tmp_path, budget=1)
    nas.search()
    nas.search(seconds=30, trials=1)
    budget = SearchResult.load(tmp_path / "run").config["budget"]
    elapsed = SearchResult.load(tmp_path / "run").elapsed_s
    assert budget["trials"] == 2
    assert 30 <= budget["seconds"] <= 30 + elapsed


def test_the_first_search_may_set_the_budget_and_the_defaults_follow_it(tmp_path):
    nas = _search(tmp_path, budget=None)
    assert nas.budget.seconds == 180
    assert nas.budget.trials is None
    assert any("no budget given" in note for note in nas.notes)
    result = nas.search(trials=2)
    assert len(result.trials) == 2
    assert result.config["budget"] == {"trials": 2, "seconds": None}


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"trials": 0}, "budget['trials'] must be a positive int, got 0"),
        ({"seconds": -5}, "budget['seconds'] must be a positive float, got -5"),
        ({"seconds": math.nan}, "budget['seconds'] must be a positive float, got nan"),
    ],
)
def test_an_extension_that_cannot_be_honoured_is_an_error(tmp_path, budget, message):
    nas = _search(tmp_path, budget=1)
    nas.search()
    with pytest.raises(ConfigError) as info:
        nas.search(**budget)
    assert str(info.value) == message


# -- epochs chosen to fit the time budget ------------------------------------------------


class EpochSleeper:
    """Takes ``fixed + per_epoch * epochs`` seconds, like a training; records the epochs asked."""

    measures = ("accuracy",)
    needs_architecture = False
    trains = True

    def __init__(self, fixed: float = 0.0, per_epoch: float = 0.15) -> None:
        self.fixed, self.per_epoch = fixed, per_epoch

    def evaluate(self, architecture, context):
        time.sleep(self.fixed + self.per_epoch * context.budget.epochs)
        return Evaluation(metrics={"accuracy": 0.5})


class SleeperPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("sleeper", EpochSleeper)


def _timed(tmp_path, seconds, epochs, **options):
    return _search(
        tmp_path,
        evaluator="sleeper",
        evaluator_options=options,
        budget={"seconds": seconds},
        epochs=epochs,
        plugin_manager=plugin_manager_with(SleeperPlugin()),
    ).search()


def test_a_trial_that_would_not_fit_trains_fewer_epochs(tmp_path):
    # 1.5 s for 10 epochs, then 1 s left: about 6 epochs fit, then nothing does.
    result = _timed(tmp_path, 2.5, 10, per_epoch=0.15)
    planned = [t.metrics.get("budget_epochs", 10.0) for t in result.trials]
    assert planned[0] == 10.0
    assert len(planned) == 2
    assert 3 <= planned[1] <= 7


def test_a_search_tries_a_second_network_even_when_none_fits(tmp_path):
    # 2.02 s for 2 epochs leaves 1 s: not even one epoch fits, but one trial is no search.
    result = _timed(tmp_path, 3.0, 2, fixed=2.0, per_epoch=0.01)
    assert len(result.trials) == 2


class SecondCtrlC:
    """Runs trials inline; its shutdown is hit by a second Ctrl-C, as a user pressing twice."""

    max_workers = 1
    finished = False

    def __init__(self, **options) -> None:
        SecondCtrlC.finished = False

    def submit(self, fn, *args, **kwargs):
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def shutdown(self, wait=True, *, cancel_futures=False):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal is handled by now
        SecondCtrlC.finished = True


class SecondCtrlCPlugin:
    @hookimpl
    def register_executors(self, register):
        register("second-ctrl-c", SecondCtrlC)


def test_a_second_ctrl_c_during_cleanup_does_not_cut_it_short(tmp_path):
    # As in a terminal, whatever the test runner inherited (a background job ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    nas = _search(
        tmp_path,
        executor="second-ctrl-c",
        callbacks=[Recorder(stop_at=1)],
        plugin_manager=plugin_manager_with(SizedPlugin(), SecondCtrlCPlugin()),
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            nas.search()
        assert SecondCtrlC.finished  # the cleanup ran to its end
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and Ctrl-C works again
    finally:
        signal.signal(signal.SIGINT, previous)
