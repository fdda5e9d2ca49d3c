"""Plugins written against automl_codegen.protocols alone, driven by the real engine.

``HillClimber`` subclasses nothing of the core: it implements StrategyProtocol's four
methods, keeps its own numpy Generator in its state and declares
``first_generation_size``. It searches, resumes exactly after a kill, and its summary
compares the best with the best of its first generation. Plugins of the first release
(an executor whose ``shutdown`` has no ``cancel_futures``, a profiler registered as an
object) keep working.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from automl_codegen import ConfigError, NeuralArchitectureSearch, hookimpl
from automl_codegen.cli import _print_summary
from automl_codegen.protocols import Executor, Profiler, StrategyProtocol, attribute
from automl_codegen.testing import (
    ToyEvaluator,
    ToySpace,
    check_strategy,
    check_strategy_in_search,
    plugin_manager_with,
    toy_dataset,
)

SYNTHETIC = {"num_samples": 80, "num_classes": 2, "image_size": 8}


class HillClimber:
    """First ``first_generation_size`` random genotypes, then mutations of the best so far.

    Written against :mod:`automl_codegen.protocols` only: no base class, its own RNG.
    """

    first_generation_size = 4
    _MAX_TRIES = 16

    def __init__(self, space, objectives, *, seed=0, **options):
        if options:
            msg = f"strategy 'hill-climb' has no option(s) {sorted(options)}"
            raise ConfigError(msg)
        self.space, self.objectives = space, list(objectives)
        self.rng = np.random.default_rng(seed)
        self.asked = 0
        self.best = None  # {"genotype": ..., "loss": [...]} of the best complete trial
        self.seen = []  # space.key of every genotype proposed, in order

    def ask(self, n):
        proposals = []
        for _ in range(n):
            for _ in range(self._MAX_TRIES):
                if self.asked < self.first_generation_size or self.best is None:
                    genotype = self.space.sample(self.rng)
                else:
                    genotype = self.space.mutate(self.best["genotype"], self.rng)
                if self.space.key(genotype) not in self.seen:
                    break
            self.seen.append(self.space.key(genotype))
            self.asked += 1
            proposals.append(genotype)
        return proposals

    def tell(self, trials):
        for trial in trials:
            if not trial.ok:
                continue
            loss = list(trial.loss_vector(self.objectives))
            if self.best is None or loss < self.best["loss"]:
                self.best = {"genotype": trial.genotype, "loss": loss}

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "asked": self.asked, "best": self.best, "seen": list(self.seen)}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.asked, self.best, self.seen = state["asked"], state["best"], list(state["seen"])


class HillClimbPlugin:
    @hookimpl
    def register_strategies(self, register):
        register("hill-climb", HillClimber)


def test_the_strategy_implements_the_protocol_without_the_base_class():
    strategy = HillClimber(ToySpace(), [], seed=0)
    assert isinstance(strategy, StrategyProtocol)
    assert not any(cls.__module__.startswith("automl_codegen") for cls in type(strategy).__mro__)
    assert attribute("strategy", strategy, "first_generation_size") == 4
    assert attribute("strategy", strategy, "one_shot") is False


def test_the_strategy_passes_check_strategy():
    report = check_strategy(HillClimber)
    assert not report.skipped
    assert "killed after 5 trials and resumed, it proposes what an uninterrupted run did" in report.checked


def test_the_strategy_resumes_exactly_in_a_search(tmp_path):
    report = check_strategy_in_search("hill-climb", plugins=[HillClimbPlugin()], run_dir=tmp_path)
    assert "killed after 5 trials and resumed, the search has the same trials" in report.checked
    assert report.result.summary()["first_generation_size"] == 4


def test_the_strategy_searches_a_real_dataset_and_its_summary_names_its_first_generation(tmp_path, capsys):
    result = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options=SYNTHETIC,
        space="chain-cnn",
        space_options={"num_stages": 1, "widths": [4, 8], "depths": [1]},
        strategy="hill-climb",
        profilers=[],
        budget=6,
        epochs=1,
        seed=0,
        progress=False,
        run_dir=tmp_path / "run",
        plugin_manager=plugin_manager_with(HillClimbPlugin()),
    ).search()
    assert len(result.trials) == 6
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    summary = result.summary()
    assert summary["first_generation_size"] == 4
    _print_summary(result)
    assert "best of the first 4 (random) trials: trial" in capsys.readouterr().out


# -- plugins of the first release --------------------------------------------------------------


class LegacyExecutor:
    """Two threads, and the documented ``shutdown(wait=True)``: no ``cancel_futures``."""

    max_workers = 2

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.shutdowns = []

    def submit(self, fn, /, *args) -> Future:
        return self.pool.submit(fn, *args)

    def shutdown(self, wait=True):
        self.shutdowns.append(wait)
        self.pool.shutdown(wait=wait)


class InterruptAfter:
    def __init__(self, n):
        self.n = n

    @hookimpl
    def on_trial_end(self, run, trial):
        if trial.number + 1 >= self.n:
            raise KeyboardInterrupt


class SlowToyEvaluator(ToyEvaluator):
    """A toy evaluation that takes a moment, so the other slot is still busy at an interrupt."""

    def evaluate(self, architecture, context):
        threading.Event().wait(0.05 * (context.trial_number % 2))
        return super().evaluate(architecture, context)


def test_a_legacy_executor_sees_an_interrupt_not_a_type_error(tmp_path):
    executors = []

    def make_executor(**options):
        executors.append(LegacyExecutor(**options))
        return executors[-1]

    class Plugin:
        @hookimpl
        def register_executors(self, register):
            register("legacy", make_executor)

        @hookimpl
        def register_datasets(self, register):
            register("toy", toy_dataset)

        @hookimpl
        def register_search_spaces(self, register):
            register("toy", ToySpace)

        @hookimpl
        def register_evaluators(self, register):
            register("toy", SlowToyEvaluator)

    def search(*plugins):
        return NeuralArchitectureSearch(
            dataset="toy",
            space="toy",
            strategy_options={"population_size": 4},
            evaluator="toy",
            executor="legacy",
            profilers=[],
            budget=8,
            progress=False,
            run_dir=tmp_path / "run",
            plugin_manager=plugin_manager_with(Plugin(), *plugins),
        )

    assert isinstance(LegacyExecutor(), Executor)
    with pytest.raises(KeyboardInterrupt):
        search(InterruptAfter(3)).search()
    assert executors[-1].shutdowns == [True]
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, plugin_manager=plugin_manager_with(Plugin())
    ).search()
    assert sorted(t.number for t in resumed.trials) == list(range(8))
    assert executors[-1].shutdowns == [True]


class LegacyProfiler:
    """A profiler *object*, as the first release registered them."""

    measures = ("legacy_units",)

    def __init__(self):
        self.calls = 0

    def profile(self, model, architecture, device):
        self.calls += 1
        return {"legacy_units": float(architecture.num_params)}


def test_a_profiler_registered_as_an_object_is_used_as_it_is(tmp_path):
    profiler = LegacyProfiler()

    class Plugin:
        @hookimpl
        def register_profilers(self, register):
            register("legacy", profiler)

    def search(**overrides):
        kwargs = {
            "dataset": "synthetic",
            "dataset_options": SYNTHETIC,
            "space_options": {"num_stages": 1, "widths": [4, 8], "depths": [1]},
            "strategy_options": {"population_size": 2},
            "profilers": ["legacy"],
            "constraints": ["legacy_units < 1e9"],
            "budget": 2,
            "epochs": 1,
            "progress": False,
            "run_dir": tmp_path / "run",
            "plugin_manager": plugin_manager_with(Plugin()),
            **overrides,
        }
        return NeuralArchitectureSearch(**kwargs)

    assert isinstance(profiler, Profiler)
    result = search().search()
    assert profiler.calls == 2
    assert all(t.ok and t.feasible for t in result.trials), [t.error for t in result.trials]
    assert all(t.metrics["legacy_units"] == t.architecture.num_params for t in result.trials)
    with pytest.raises(ConfigError, match=r"profiler 'legacy' takes no options \(it was registered as an object"):
        search(profiler_options={"legacy": {"repeats": 3}}, run_dir=tmp_path / "other")
