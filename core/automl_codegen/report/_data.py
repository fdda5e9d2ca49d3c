"""What the report shows, worked out from a run without any plotting library.

The figure and the HTML page read the same numbers, so they are computed once here:
generations, the best trial so far, the axes of the trade-off panel, which trials form
the front on those axes, and how often the sampled architectures use each op.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..engine import is_better
from ..objective import MAX, MIN, Objective
from ..pareto import non_dominated_sort
from ..trial import Trial

#: Trials per "generation" when the run recorded no first generation size.
DEFAULT_GENERATION = 10

# Measurements that are better when larger; every other axis that is not an objective
# of the run (latency, parameters, FLOPs, memory) is better when smaller.
_HIGHER_IS_BETTER = ("accuracy", "test_accuracy")


def generation_size(config: Mapping[str, Any], n_trials: int) -> int:
    """Trials per generation of the progress panel: the run's ``first_generation_size``, else ten.

    The engine records the strategy's ``first_generation_size`` (its population or
    first batch: the trials proposed before the strategy learns anything)
    in the run's config; each later generation is taken to be as large. Runs recorded
    before strategies had that attribute hold the strategy's population size under that
    key, or null for a strategy without a population (older runs of batch learners): they
    are read by the same rule, so a null gives generations of ten. The size never
    exceeds the number of trials.
    """
    size = config.get("first_generation_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        size = DEFAULT_GENERATION
    return max(1, min(size, n_trials or 1))


def generations(trials: Sequence[Trial], size: int) -> list[list[Trial]]:
    """Consecutive groups of ``size`` trials in the order they ran (the last may be short)."""
    return [list(trials[i : i + size]) for i in range(0, len(trials), size)]


def best_so_far(trials: Sequence[Trial], objectives: Sequence[Objective]) -> list[Trial | None]:
    """Per trial, the run's best trial up to and including it (the engine's ranking)."""
    best: Trial | None = None
    out: list[Trial | None] = []
    for trial in trials:
        if is_better(trial, best, objectives):
            best = trial
        out.append(best)
    return out


def value(trial: Trial, name: str) -> float:
    """An objective or measurement of ``trial`` as a finite float, else NaN.

    ``params`` falls back to the count computed from the IR, so a run that measured
    nothing (``--profiler none``) still has a size axis.
    """
    raw = trial.objectives.get(name, trial.metrics.get(name))
    if raw is None and name == "params" and trial.architecture is not None:
        raw = trial.architecture.num_params
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def measured(trials: Sequence[Trial], name: str) -> bool:
    """Whether any completed trial has a finite value for ``name``."""
    return any(t.ok and not math.isnan(value(t, name)) for t in trials)


def accuracy_axis(trials: Sequence[Trial], objectives: Sequence[Objective]) -> str:
    """The quality axis of the search-space panel: accuracy when measured, else the first objective."""
    return "accuracy" if measured(trials, "accuracy") else objectives[0].name


def trade_off_axes(trials: Sequence[Trial], objectives: Sequence[Objective]) -> tuple[str, str]:
    """``(x, y)`` of the trade-off panel.

    y is the first objective. x is the second objective when the run has several;
    for a single objective it is the measured latency, or else the parameter count, so
    the panel still shows what each gain costs.
    """
    y = objectives[0].name
    if len(objectives) > 1:
        return objectives[1].name, y
    for candidate in ("latency_ms", "params"):
        if candidate != y and measured(trials, candidate):
            return candidate, y
    return "params", y


def direction(name: str, objectives: Sequence[Objective]) -> str:
    """``"min"`` or ``"max"`` for an axis: the objective's own, else by the measurement's kind."""
    for objective in objectives:
        if objective.name == name:
            return objective.direction
    return MAX if name in _HIGHER_IS_BETTER else MIN


def front_2d(trials: Sequence[Trial], x: str, y: str, objectives: Sequence[Objective]) -> list[Trial]:
    """Feasible trials that no other feasible trial beats on both ``x`` and ``y``, sorted by x.

    With two objectives this is the run's own Pareto front; with more it is the front of
    what the panel shows, drawn as a staircase beside the run's front members.
    """
    points = [t for t in trials if t.feasible and not math.isnan(value(t, x)) and not math.isnan(value(t, y))]
    if not points:
        return []
    signs = [1.0 if direction(name, objectives) == MIN else -1.0 for name in (x, y)]
    losses = np.array([[signs[0] * value(t, x), signs[1] * value(t, y)] for t in points])
    first = non_dominated_sort(losses)[0]
    return sorted((points[i] for i in first), key=lambda t: (value(t, x), value(t, y)))


def op_frequencies(trials: Sequence[Trial]) -> dict[str, float]:
    """Mean number of times each op occurs in a sampled architecture, most used first.

    Every trial with an architecture counts, failed ones included: the panel shows what
    the strategy proposed, not only what trained well.
    """
    archs = [t.architecture for t in trials if t.architecture is not None]
    totals: dict[str, int] = {}
    for arch in archs:
        for op, count in arch.op_counts().items():
            totals[op] = totals.get(op, 0) + count
    if not archs:
        return {}
    return dict(sorted(((op, n / len(archs)) for op, n in totals.items()), key=lambda kv: (-kv[1], kv[0])))


@attrs.frozen
class Showcase:
    """A trial whose generated code the page shows, and why it was picked."""

    trial: Trial
    reason: str


def showcase(best: Trial | None, front: Sequence[Trial], objectives: Sequence[Objective], limit: int) -> list[Showcase]:
    """The best trial, then other front members best-first on the first objective, at most ``limit``.

    A run with no feasible trial still shows its best (infeasible) one, marked so.
    """
    picked: list[Showcase] = []
    if best is not None and best.architecture is not None:
        picked.append(Showcase(best, "best" if best.feasible else "best, but breaks a constraint"))
    primary = objectives[0]
    ranked = sorted(front, key=lambda t: (primary.as_loss(t.objectives.get(primary.name, math.nan)), t.number))
    for trial in ranked:
        if len(picked) >= limit:
            break
        if trial.architecture is not None and all(p.trial.number != trial.number for p in picked):
            picked.append(Showcase(trial, "on the Pareto front"))
    return picked[:limit]
