"""check_strategy_in_search: a strategy through the real engine, uninterrupted and killed and resumed."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..hookspecs import hookimpl
from ._registry import plugin_manager_with, registry_with
from ._report import ConformanceReport, _fail
from ._strategy import _same_proposals
from ._toy import (
    _TOY_CLASSES,
    _TOY_EVALUATOR,
    _TOY_INPUT,
    _TOY_SPACE,
    _TOY_STRATEGY,
    TOY_DATASET,
    TOY_OBJECTIVES,
    ToyEvaluator,
    ToySpace,
    toy_dataset,
)


def check_strategy_in_search(
    strategy: str | Callable[..., Any],
    *,
    plugins: Sequence[object] = (),
    strategy_options: Mapping[str, Any] | None = None,
    space: str | None = None,
    space_options: Mapping[str, Any] | None = None,
    objectives: Sequence[str] = ("accuracy",),
    trials: int = 12,
    kill_after: int = 5,
    seed: int = 0,
    fail_every: int | None = 4,
    run_dir: str | Path | None = None,
) -> ConformanceReport:
    """Run a strategy through the real engine: an uninterrupted search against a killed and resumed one.

    A :class:`~automl_codegen.NeuralArchitectureSearch` of ``trials`` trials searches
    the toy space (or ``space``) on a toy dataset with :class:`ToyEvaluator` (no
    training, no torch: a second or two). A second search is killed by a
    KeyboardInterrupt from ``on_trial_end`` after ``kill_after`` trials and continued
    with ``NeuralArchitectureSearch.resume``; its trials must have the genotypes of the
    uninterrupted run's. ``report.result`` is the uninterrupted run's result.

    Args:
        strategy: a registered strategy name (installed, or registered by one of
            ``plugins``), or a factory, which is registered as ``"conformance-strategy"``.
        plugins: inline plugins to register too (see :func:`plugin_manager_with`).
        space: a registered space name; default the :class:`ToySpace`.
        objectives: objective names; ``accuracy`` and ``toy_cost`` are measured.
        run_dir: where the two runs go (``whole/``, ``killed/``); default a temporary
            directory, removed afterwards.

    Raises:
        AssertionError: the run fails, the resumed run differs, or the killed run did
            not stop where it should.
    """
    extra: list[object] = list(plugins)
    if not isinstance(strategy, str):
        extra.append(_StrategyPlugin(strategy))
        name = _TOY_STRATEGY
    else:
        name = strategy
    label = f"strategy {name!r}"
    report = ConformanceReport(label)
    space_options = dict(space_options or {})
    if space is None:
        space_name, space_factory = _TOY_SPACE, ToySpace
    else:
        space_name, space_factory = space, registry_with(*plugins).get("search_space", space)
    toy = _ToyPlugin(space_factory, space_options, fail_every)
    runs = _ToySearches(
        settings={
            "dataset": TOY_DATASET,
            "space": space_name,
            "space_options": space_options,
            "strategy": name,
            "strategy_options": strategy_options,
            "objectives": list(objectives),
            "evaluator": _TOY_EVALUATOR,
            "profilers": [],
            "budget": trials,
            "seed": seed,
            "epochs": 1,
            "progress": False,
        },
        plugins=(toy, *extra),
    )
    with _directory(run_dir) as root:
        started = time.perf_counter()
        whole = _check_whole_search(label, runs, root / "whole", report)
        if len(whole.trials) <= kill_after:
            report.skip("kill and resume", f"the search ended after {len(whole.trials)} trials")
        else:
            _check_kill_and_resume(label, runs, root / "killed", whole, kill_after, report)
        report.result = whole
        report.passed(f"took {time.perf_counter() - started:.2f} s")
    return report


@attrs.define
class _ToySearches:
    """The searches of :func:`check_strategy_in_search`: ``settings`` and ``plugins`` shared, a run_dir each."""

    settings: dict[str, Any]
    plugins: tuple[object, ...]

    def start(self, directory: Path, *more: object) -> Any:
        from ..search import NeuralArchitectureSearch

        return NeuralArchitectureSearch(
            **self.settings, run_dir=directory, plugin_manager=plugin_manager_with(*self.plugins, *more)
        )

    def resume(self, directory: Path) -> Any:
        from ..search import NeuralArchitectureSearch

        return NeuralArchitectureSearch.resume(
            directory, progress=False, plugin_manager=plugin_manager_with(*self.plugins)
        )


def _check_whole_search(label: str, runs: _ToySearches, directory: Path, report: ConformanceReport) -> Any:
    """The uninterrupted search: it records trials, and none fails but the simulated failures."""
    whole = runs.start(directory).search()
    if not whole.trials:
        raise _fail(label, "the search recorded no trial", "ask(1) must propose a genotype")
    crashed = [t for t in whole.trials if not t.ok and "simulated failure" not in (t.error or "")]
    if crashed:
        raise _fail(
            label, f"trial {crashed[0].number} failed: {crashed[0].error}", "propose genotypes the space can lower"
        )
    report.passed(f"an uninterrupted search of {len(whole.trials)} trials")
    return whole


def _check_kill_and_resume(
    label: str, runs: _ToySearches, directory: Path, whole: Any, kill_after: int, report: ConformanceReport
) -> None:
    """A search killed after ``kill_after`` trials and resumed has the trials of ``whole``."""
    killed = runs.start(directory, _KillAfter(kill_after))
    try:
        killed.search()
    except KeyboardInterrupt:
        pass
    else:
        raise _fail(
            label,
            f"a KeyboardInterrupt raised from on_trial_end after {kill_after} trials did not stop the search",
            "do not catch KeyboardInterrupt in the strategy",
        )
    resumed = runs.resume(directory).search()
    _same_proposals(
        label,
        [t.genotype for t in whole.trials],
        [t.genotype for t in resumed.trials],
        f"a search killed after {kill_after} trials and resumed",
        fix="state_dict() must hold everything later proposals depend on (the RNG state included), "
        "and load_state_dict() must restore all of it",
    )
    report.passed(f"killed after {kill_after} trials and resumed, the search has the same trials")


@contextlib.contextmanager
def _directory(run_dir: str | Path | None) -> Iterator[Path]:
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        yield Path(run_dir)
        return
    with tempfile.TemporaryDirectory(prefix="automl-codegen-conformance-") as tmp:
        yield Path(tmp)


class _ToyPlugin:
    """Registers the toy dataset, space, evaluator (scoring ``space_factory``'s genotypes) and ``toy_cost``."""

    def __init__(self, space_factory: Callable[..., Any], space_options: dict[str, Any], fail_every: int | None):
        self.space_factory, self.space_options, self.fail_every = space_factory, space_options, fail_every

    @hookimpl
    def register_datasets(self, register: Callable[[str, Any], None]) -> None:
        register(TOY_DATASET, toy_dataset)

    @hookimpl
    def register_objectives(self, register: Callable[[str, Any], None]) -> None:
        register("toy_cost", TOY_OBJECTIVES[1])

    @hookimpl
    def register_search_spaces(self, register: Callable[[str, Any], None]) -> None:
        register(_TOY_SPACE, ToySpace)

    @hookimpl
    def register_evaluators(self, register: Callable[[str, Any], None]) -> None:
        register(_TOY_EVALUATOR, self._build_evaluator)

    def _build_evaluator(self, **options: Any) -> ToyEvaluator:
        space = self.space_factory(_TOY_INPUT, _TOY_CLASSES, **self.space_options)
        return ToyEvaluator(space, **{"fail_every": self.fail_every, **options})


class _StrategyPlugin:
    def __init__(self, factory: Callable[..., Any]) -> None:
        self.factory = factory

    @hookimpl
    def register_strategies(self, register: Callable[[str, Any], None]) -> None:
        register(_TOY_STRATEGY, self.factory)


class _KillAfter:
    """Raises KeyboardInterrupt after ``n`` trials, like Ctrl-C between trials."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    @hookimpl
    def on_trial_end(self, run: Any, trial: Any) -> None:
        self.seen += 1
        if self.seen >= self.n:
            raise KeyboardInterrupt
