"""check_strategy: a strategy driven by ask/tell on the toy problem, as the engine would."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError
from ..objective import Objective
from ..protocols import OneShotStrategyProtocol, StrategyProtocol, attribute
from ..scoring import TrialOutcome, score
from ._report import ConformanceReport, _canonical, _fail, _short
from ._toy import TOY_OBJECTIVES, ToySpace, _toy_metrics, toy_score


def check_strategy(
    factory: Callable[..., Any],
    *,
    space: Any = None,
    objectives: Sequence[Objective] | None = None,
    options: Mapping[str, Any] | None = None,
    trials: int = 12,
    seed: int = 0,
    kill_after: int = 5,
    fail_every: int | None = 4,
) -> ConformanceReport:
    """Drive ``factory``'s strategy by ask/tell on a toy problem, as the engine would.

    ``factory(space, objectives, seed=seed, **options)`` builds the strategy (what
    ``register_strategies`` registers). Without the engine, one genotype is asked and
    told at a time, scored by :func:`toy_score`; every ``fail_every``-th trial is told
    as failed. Checked: the optional attributes' types; an unknown option is a
    ConfigError naming it (the factory's contract); every ask returns a list of at
    most ``n`` JSON genotypes of the space (``n=3`` too); ``state_dict()`` after every
    tell is strict JSON; two strategies with the same seed propose the same (no global
    RNG); killed after ``kill_after`` tells and rebuilt from the saved state, a
    strategy proposes what the uninterrupted one did; and over ``trials`` trials it
    explores (not one genotype only) and finds something at least as good as its
    first proposal and as the median random genotype.

    A one-shot strategy (``one_shot`` true) is asked nothing before its supernet is
    trained: its protocol, state and attributes are checked, and the ask/tell checks
    are reported as skipped (use :func:`check_strategy_in_search`, or
    :class:`RecordingSupernetContext` for the supernet phase).

    Args:
        factory: the strategy class, or any ``factory(space, objectives, *, seed, **options)``.
        space: the space to search (default :class:`ToySpace`); one-shot strategies need
            a cell space (nb201, darts-cell).
        objectives: default ``accuracy`` (max); ``TOY_OBJECTIVES`` for two objectives.
            Only ``accuracy`` and ``toy_cost`` are measured.
        options: the strategy's options (small ones keep the check fast).
        trials: trials per run; kill_after: tells before the simulated kill.

    Raises:
        AssertionError: the strategy breaks the contract; the message says how.
    """
    space = ToySpace() if space is None else space
    objectives = [TOY_OBJECTIVES[0]] if objectives is None else list(objectives)
    options = dict(options or {})
    _check_toy_objectives(objectives)
    if not 0 < kill_after < trials:
        msg = f"check_strategy needs 0 < kill_after < trials, got kill_after={kill_after}, trials={trials}"
        raise ValueError(msg)
    label = _strategy_label(factory)
    report = ConformanceReport(label)

    def build() -> Any:
        return factory(space, objectives, seed=seed, **options)

    strategy = build()
    _check_strategy_shape(label, strategy, report)
    _check_unknown_option(label, lambda **more: factory(space, objectives, seed=seed, **options, **more), report)
    if attribute("strategy", strategy, "one_shot"):
        _check_one_shot(label, strategy, build, report)
        return report

    driver = _Driver(label, space, objectives, fail_every)
    _check_batch_ask(label, build(), driver, report)
    whole = _check_full_run(build, driver, trials, report)
    again = _check_same_seed(label, build, driver, whole, kill_after, report)
    if len(whole.genotypes) > kill_after:
        _check_resume(label, build, driver, (whole, again), trials, kill_after, report)
    _check_progress(label, space, whole, seed, report)
    return report


def _check_full_run(build: Callable[[], Any], driver: _Driver, trials: int, report: ConformanceReport) -> _Run:
    """One uninterrupted run of ``trials`` trials: every ask, tell and state checked."""
    whole = driver.run(build(), trials)
    report.passed("every ask returns JSON genotypes of the space; tell accepts failed trials")
    report.passed("state_dict() is strict JSON after every tell")
    if len(whole.genotypes) < trials:
        report.skip("a full run", f"the strategy ended the search after {len(whole.genotypes)} trials")
    return whole


def _check_same_seed(
    label: str, build: Callable[[], Any], driver: _Driver, whole: _Run, kill_after: int, report: ConformanceReport
) -> _Run:
    """A second strategy with the same seed, run for ``kill_after`` trials, proposes what ``whole`` did."""
    again = driver.run(build(), kill_after)
    _same_proposals(
        label,
        whole.genotypes[:kill_after],
        again.genotypes,
        "a second strategy with the same seed",
        fix=(
            "Draw every random number from a numpy Generator seeded with `seed` (the base class's self.rng), "
            "never from numpy's global RNG, `random`, or torch's global generator"
        ),
    )
    report.passed("the same seed proposes the same genotypes")
    return again


def _check_resume(
    label: str,
    build: Callable[[], Any],
    driver: _Driver,
    runs: tuple[_Run, _Run],
    trials: int,
    kill_after: int,
    report: ConformanceReport,
) -> None:
    """Rebuilt from the state ``again`` saved last, a strategy goes on as ``whole`` did (``runs`` = both)."""
    whole, again = runs
    resumed = build()
    try:
        resumed.load_state_dict(json.loads(again.states[-1]))
    except Exception as exc:
        raise _fail(
            label,
            f"load_state_dict() of its own saved state raised {type(exc).__name__}: {exc}",
            "load_state_dict must accept what state_dict returned, after a JSON round trip",
        ) from exc
    rest = driver.run(resumed, trials, start=kill_after)
    _same_proposals(
        label,
        whole.genotypes,
        again.genotypes + rest.genotypes,
        f"a strategy rebuilt from its state after {kill_after} trials",
        fix=(
            "state_dict() must hold everything later proposals depend on (the RNG state included) "
            "and load_state_dict() must restore all of it"
        ),
    )
    report.passed(f"killed after {kill_after} trials and resumed, it proposes what an uninterrupted run did")


@attrs.define
class _Run:
    genotypes: list[Any] = attrs.field(factory=list)
    scores: list[float | None] = attrs.field(factory=list)
    states: list[str] = attrs.field(factory=list)


class _Driver:
    """The engine's loop with one slot, without the engine: ask 1, score, tell 1, save."""

    def __init__(self, label: str, space: Any, objectives: Sequence[Objective], fail_every: int | None) -> None:
        self.label, self.space, self.objectives, self.fail_every = label, space, objectives, fail_every

    def run(self, strategy: Any, trials: int, *, start: int = 0) -> _Run:
        run = _Run()
        for number in range(start, trials):
            proposed = self.ask(strategy, 1)
            if not proposed:
                break
            genotype = proposed[0]
            trial = self.trial(number, genotype)
            self.tell(strategy, [trial])
            run.genotypes.append(genotype)
            run.scores.append(trial.objectives.get("accuracy") if trial.ok else None)
            run.states.append(self.state(strategy, number))
        return run

    def ask(self, strategy: Any, n: int) -> list[Any]:
        proposed = strategy.ask(n)
        if not isinstance(proposed, list) or len(proposed) > n:
            raise _fail(
                self.label,
                f"ask({n}) returned {_short(proposed)}",
                "ask(n) must return a list of at most n genotypes (an empty list ends the search)",
            )
        for genotype in proposed:
            _check_genotype(self.label, self.space, genotype, f"ask({n})")
        return proposed

    def trial(self, number: int, genotype: Any) -> Any:
        if self.fail_every and (number + 1) % self.fail_every == 0:
            outcome = TrialOutcome(None, {}, None, "RuntimeError: simulated failure", 0.0)
        else:
            outcome = TrialOutcome(None, _toy_metrics(self.space, genotype), None, None, 0.0)
        return score(number, genotype, outcome, self.objectives, ())

    def tell(self, strategy: Any, trials: list[Any]) -> None:
        try:
            strategy.tell(trials)
        except Exception as exc:
            failed = " (a failed trial)" if any(not t.ok for t in trials) else ""
            raise _fail(
                self.label,
                f"tell() of trial {trials[0].number}{failed} raised {type(exc).__name__}: {exc}",
                "tell must accept every finished trial, failed ones (status 'failed', empty "
                "objectives, loss_vector all inf) included",
            ) from exc

    def state(self, strategy: Any, number: int) -> str:
        state = strategy.state_dict()
        if not isinstance(state, dict):
            raise _fail(self.label, f"state_dict() returned a {type(state).__name__}", "return a JSON object (dict)")
        try:
            text = json.dumps(state, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _fail(
                self.label,
                f"state_dict() after trial {number} is not strict JSON: {exc}",
                "keep only dicts, lists, strings, finite numbers, booleans and None in the state "
                "(write inf/nan as strings, numpy values with .tolist() or int()/float())",
            ) from exc
        if json.loads(text) != state:
            raise _fail(
                self.label,
                f"state_dict() after trial {number} changes in a JSON round trip",
                "use lists rather than tuples and string keys in dicts: the journal stores JSON",
            )
        return text


def _check_toy_objectives(objectives: Sequence[Objective]) -> None:
    measured = set(_toy_metrics(ToySpace(), ToySpace().optimum()))
    for objective in objectives:
        if not set(objective.needs) <= measured:
            msg = (
                f"objective {objective.name!r} needs {list(objective.needs)}, but the toy evaluator "
                f"measures only {sorted(measured)}; use automl_codegen.testing.TOY_OBJECTIVES"
            )
            raise ValueError(msg)


def _strategy_label(factory: Any) -> str:
    name = getattr(factory, "name", None)
    if not isinstance(name, str) or name in ("", "strategy"):
        name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"strategy {name!r}"


def _check_strategy_shape(label: str, strategy: Any, report: ConformanceReport) -> None:
    if not isinstance(strategy, StrategyProtocol):
        missing = [
            m for m in ("ask", "tell", "state_dict", "load_state_dict") if not callable(getattr(strategy, m, None))
        ]
        raise _fail(
            label,
            f"the factory built a {type(strategy).__name__} without {', '.join(missing)}",
            "implement automl_codegen.protocols.StrategyProtocol (or subclass automl_codegen.Strategy)",
        )
    size = attribute("strategy", strategy, "first_generation_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise _fail(
            label,
            f"first_generation_size is {size!r}",
            "set it to a positive int (the trials proposed before anything is learnt) or None",
        )
    one_shot = attribute("strategy", strategy, "one_shot")
    if not isinstance(one_shot, bool):
        raise _fail(label, f"one_shot is {one_shot!r}", "one_shot must be True or False")
    report.passed("the optional attributes have their documented types")


def _check_unknown_option(label: str, build: Callable[..., Any], report: ConformanceReport) -> None:
    option = "conformance_no_such_option"
    fix = "refuse unknown options with automl_codegen.ConfigError naming them (a misspelt --strategy-option)"
    try:
        build(**{option: 1})
    except ConfigError as exc:
        if option not in str(exc):
            raise _fail(
                label, f"the ConfigError for an unknown option {option!r} does not name it: {exc}", fix
            ) from exc
    except Exception as exc:
        raise _fail(label, f"an unknown option {option!r} raised {type(exc).__name__}: {exc}", fix) from exc
    else:
        raise _fail(label, f"the factory accepted an unknown option {option!r}", fix)
    report.passed("an unknown option is a ConfigError naming it")


def _check_one_shot(label: str, strategy: Any, build: Callable[[], Any], report: ConformanceReport) -> None:
    if not isinstance(strategy, OneShotStrategyProtocol):
        raise _fail(
            label,
            "one_shot is true but it has no supernet_trained or train_supernet",
            "implement automl_codegen.protocols.OneShotStrategyProtocol (or subclass OneShotStrategy)",
        )
    if strategy.supernet_trained is not False:
        raise _fail(
            label,
            f"a fresh one-shot strategy says supernet_trained={strategy.supernet_trained!r}",
            "supernet_trained must be False until train_supernet has finished",
        )
    text = _Driver(label, None, [], None).state(strategy, -1)
    fresh = build()
    try:
        fresh.load_state_dict(json.loads(text))
    except Exception as exc:
        raise _fail(
            label,
            f"load_state_dict() of its own untrained state raised {type(exc).__name__}: {exc}",
            "load_state_dict must accept what state_dict returned, after a JSON round trip",
        ) from exc
    if fresh.supernet_trained is not False:
        raise _fail(
            label,
            "after load_state_dict of an untrained state, supernet_trained is not False",
            "keep supernet_trained in the state",
        )
    report.passed("one-shot: the protocol, and an untrained state is strict JSON and loads back")
    report.skip(
        "ask/tell",
        "a one-shot strategy is asked nothing before its supernet is trained; check it with "
        "check_strategy_in_search, or train_supernet with RecordingSupernetContext",
    )


def _check_batch_ask(label: str, strategy: Any, driver: _Driver, report: ConformanceReport) -> None:
    proposed = driver.ask(strategy, 3)
    trials = [driver.trial(number, genotype) for number, genotype in enumerate(proposed)]
    driver.tell(strategy, trials[::-1])  # finished out of order, told together
    driver.state(strategy, len(trials) - 1)
    report.passed("ask(3) returns at most 3 genotypes, told together in any order")


def _check_genotype(label: str, space: Any, genotype: Any, where: str) -> None:
    try:
        text = json.dumps(genotype, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise _fail(
            label,
            f"{where} proposed {_short(genotype)}, which is not JSON ({exc})",
            "genotypes are stored as JSON: use dicts, lists, str, int, float, bool",
        ) from exc
    if json.loads(text) != genotype:
        raise _fail(
            label,
            f"{where} proposed {_short(genotype)}, which changes in a JSON round trip",
            "use lists, not tuples, and string dict keys",
        )
    try:
        space.encode(genotype)
    except Exception as exc:
        raise _fail(
            label,
            f"{where} proposed {_short(genotype)}, which the space cannot encode ({type(exc).__name__}: {exc})",
            "propose only genotypes of the space: from space.sample/mutate/crossover/decode",
        ) from exc


def _same_proposals(label: str, expected: list[Any], got: list[Any], who: str, fix: str) -> None:
    for number, (a, b) in enumerate(zip(expected, got, strict=False)):
        if _canonical(a) != _canonical(b):
            raise _fail(
                label, f"{who} proposed {_short(b)} as trial {number}, where the first run proposed {_short(a)}", fix
            )
    if len(expected) != len(got):
        raise _fail(label, f"{who} proposed {len(got)} genotypes where the first run proposed {len(expected)}", fix)


def _check_progress(label: str, space: Any, run: _Run, seed: int, report: ConformanceReport) -> None:
    keys = {space.key(g) for g in run.genotypes}
    if len(run.genotypes) > 1 and len(keys) == 1 and _size(space) > 1:
        raise _fail(
            label,
            f"all {len(run.genotypes)} proposals are the same genotype {_short(run.genotypes[0])}",
            "a strategy must explore: sample, mutate, or avoid what it has already proposed",
        )
    scores = [s for s in run.scores if s is not None]
    if not scores or run.scores[0] is None:
        report.skip("progress", "the first trial failed")
        return
    rng = np.random.default_rng(seed + 1)
    median = float(np.median([toy_score(space, space.sample(rng)) for _ in range(101)]))
    best = max(scores)
    # The best is never below the first proposal; the median random genotype is the real bar.
    if best < median:
        raise _fail(
            label,
            f"the best toy score of {len(scores)} trials is {best:.3f}, below the median random genotype's "
            f"({median:.3f}; its first proposal scored {run.scores[0]:.3f})",
            "propose from space.sample/mutate/crossover and learn from trial.loss_vector(objectives) "
            "(smaller is better)",
        )
    report.passed(f"finds a toy score of {best:.3f} (first proposal {run.scores[0]:.3f}, random median {median:.3f})")


def _size(space: Any) -> int:
    total = 1
    for choice in space.choices():
        total *= len(choice.options)
    return total
