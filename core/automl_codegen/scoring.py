"""From a worker's outcome to a recorded Trial: objectives, constraints, and ranking.

A trial that fails (an exception while lowering, building, training or profiling, a NaN
accuracy) is recorded as failed with its reason; :func:`run_trial` never raises for it.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from .architecture import Architecture
from .evaluation import EvaluationContext
from .fidelity import RUNG
from .objective import Constraint, Objective
from .protocols import attribute
from .space import Genotype, SearchSpace
from .trial import COMPLETE, FAILED, Trial

__all__ = ["ObjectiveFaultError", "TrialOutcome", "best_trial", "is_better", "run_trial", "score", "trial_seed"]


def trial_seed(seed: int, number: int) -> int:
    """A per-trial seed that differs between trials and runs but is reproducible."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0] % (2**31 - 1))


@attrs.frozen
class TrialOutcome:
    """What comes back from a worker: the lowered architecture and metrics, or an error."""

    architecture: Architecture | None
    metrics: dict[str, float]
    state_dict: Any
    error: str | None
    duration_s: float


def run_trial(space: SearchSpace, genotype: Genotype, evaluator: Any, context: EvaluationContext) -> TrialOutcome:
    """Lower and evaluate one genotype; never raises for a failing trial.

    An evaluator with ``needs_architecture = False`` (a tabular benchmark, which looks
    the genotype up) gets ``None``: lowering would be most of the cost of such a trial,
    and the run lowers the genotypes it exports on demand.
    """
    started = time.perf_counter()
    architecture = None
    try:
        if attribute("evaluator", evaluator, "needs_architecture"):
            architecture = space.to_architecture(genotype)
        evaluation = evaluator.evaluate(architecture, context)
        bad = {k: v for k, v in evaluation.metrics.items() if isinstance(v, float) and math.isnan(v)}
        if "accuracy" in bad:
            msg = "evaluation produced NaN accuracy"
            raise RuntimeError(msg)
        return TrialOutcome(
            architecture, dict(evaluation.metrics), evaluation.state_dict, None, time.perf_counter() - started
        )
    except Exception as exc:
        # Keep the last frames: enough to locate a plugin bug without flooding the journal.
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        error = f"{type(exc).__name__}: {exc}\n{tail}"
        return TrialOutcome(architecture, {}, None, error, time.perf_counter() - started)


class ObjectiveFaultError(Exception):
    """An objective's own code raised (not a missing measurement): a plugin bug."""

    def __init__(self, objective: str) -> None:
        super().__init__(objective)
        self.objective = objective


def _objective_values(objectives: Sequence[Objective], metrics: dict[str, float]) -> dict[str, float]:
    values = {}
    for objective in objectives:
        try:
            values[objective.name] = objective.value(metrics)
        except KeyError:
            raise  # a measurement is missing: the trial fails, the search goes on
        except Exception as exc:
            raise ObjectiveFaultError(objective.name) from exc
    return values


def score(
    number: int,
    genotype: Genotype,
    outcome: TrialOutcome,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
) -> Trial:
    """Turn a worker's outcome into a Trial with objective values and constraint check."""
    error, values = outcome.error, {}
    if error is None:
        try:
            values = _objective_values(objectives, outcome.metrics)
        except KeyError as exc:
            error = f"objective could not be computed: {exc.args[0] if exc.args else exc}"
    return Trial(
        number=number,
        genotype=genotype,
        architecture=outcome.architecture,
        status=COMPLETE if error is None else FAILED,
        metrics=outcome.metrics,
        objectives=values,
        # A failed trial counts as infinitely infeasible so no ranking can prefer it.
        # A constraint may bound a measurement or an objective (one computed in Python, say).
        constraint_violation=(
            sum(c.violation({**outcome.metrics, **values}) for c in constraints) if error is None else math.inf
        ),
        error=error,
        duration_s=outcome.duration_s,
    )


#: The measurement that decides between trials tied on every objective (lower wins).
TIE_BREAKER = "val_loss"


def is_better(a: Trial, b: Trial | None, objectives: Sequence[Objective]) -> bool:
    """Whether ``a`` beats ``b`` for picking a single best: feasible first, then (in a
    multi-fidelity run) the longer-trained, then the objectives in order (later ones
    break ties, so the best is never dominated)."""
    if not a.ok:
        return False
    if b is None or not b.ok:
        return True
    if a.feasible != b.feasible:
        return a.feasible
    if not a.feasible:
        return a.constraint_violation < b.constraint_violation
    # A network trained for 1 epoch is not compared with one trained for 9: its
    # accuracy says how promising it is, not how good.
    rung_a, rung_b = a.metrics.get(RUNG), b.metrics.get(RUNG)
    if rung_a is not None and rung_b is not None and rung_a != rung_b:
        return rung_a > rung_b
    # Exact ties on every objective are common on small validation splits (many networks
    # at 100% accuracy): the lower validation loss, where the evaluator measures it, wins.
    return (a.loss_vector(objectives), _tie_breaker(a)) < (b.loss_vector(objectives), _tie_breaker(b))


def _tie_breaker(trial: Trial) -> float:
    value = trial.metrics.get(TIE_BREAKER, math.inf)
    return value if isinstance(value, int | float) and value == value else math.inf


def best_trial(trials: Sequence[Trial], objectives: Sequence[Objective]) -> Trial | None:
    best = None
    for trial in trials:
        if is_better(trial, best, objectives):
            best = trial
    return best
