"""The search loop: ask the strategy, evaluate through the executor, record, tell.

The engine owns timing, profiling, objectives and constraints; strategies only see
finished :class:`Trial` records. A trial that fails (an exception while lowering,
building, training or profiling, a NaN loss) is recorded as failed with its reason and
the search goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from .architecture import Architecture
from .evaluation import EvaluationContext
from .fidelity import BUDGET_EPOCHS, RUNG
from .objective import Constraint, Objective
from .space import Genotype, SearchSpace
from .trial import COMPLETE, FAILED, Trial


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
        if getattr(evaluator, "needs_architecture", True):
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
        constraint_violation=sum(c.violation(outcome.metrics) for c in constraints) if error is None else math.inf,
        error=error,
        duration_s=outcome.duration_s,
    )


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
    return a.loss_vector(objectives) < b.loss_vector(objectives)


def best_trial(trials: Sequence[Trial], objectives: Sequence[Objective]) -> Trial | None:
    best = None
    for trial in trials:
        if is_better(trial, best, objectives):
            best = trial
    return best


@attrs.define
class Budget:
    """When to stop: a number of trials and/or wall-clock seconds (either may be None)."""

    trials: int | None = None
    seconds: float | None = None

    def exhausted(self, done: int, elapsed: float) -> bool:
        return (self.trials is not None and done >= self.trials) or (
            self.seconds is not None and elapsed >= self.seconds
        )


class TrialDuration:
    """Predicts how long a trial of so many epochs takes, from the trials finished so far.

    A trial costs a fixed part (building, profiling, testing) plus a part per epoch, so
    with finished trials of at least two different epoch counts the prediction is the
    least-squares line ``a + b * epochs`` through them (``a`` kept >= 0); with one epoch
    count it is their mean duration scaled by the epochs asked (a conservative guess for
    shorter trials); with none there is no prediction. The time budget uses it to start
    no trial that would end after the budget.
    """

    def __init__(self, planned_epochs: int, trials: Sequence[Trial] = ()) -> None:
        self.planned_epochs = planned_epochs
        # Running sums over (epochs x, seconds y): count, x, y, x*x, x*y. Predicting is
        # then O(1) per trial started, even over thousands of tabular trials.
        self._sums = [0.0] * 5
        for trial in trials:
            self.add(trial)

    def add(self, trial: Trial) -> None:
        """Learn from a finished trial: its planned epochs (its rung's, else the run's) and duration.

        Planned, not trained: a trial that early stopping cut short still says how long
        the next one may take.
        """
        if not trial.ok or not trial.duration_s > 0:
            return  # failures often end early, which says little about a full training
        x = float(trial.metrics.get(BUDGET_EPOCHS, self.planned_epochs))
        if math.isfinite(x) and x > 0:
            y = float(trial.duration_s)
            for index, value in enumerate((1.0, x, y, x * x, x * y)):
                self._sums[index] += value

    def predict(self, epochs: float) -> float | None:
        """Seconds a trial of ``epochs`` epochs should take, or ``None`` before any trial finished."""
        n, sx, sy, sxx, sxy = self._sums
        if n == 0:
            return None
        spread = sxx - sx * sx / n
        if spread <= 1e-9 * sxx:  # one epoch count: its mean duration, scaled
            return sy / sx * epochs
        slope = (sxy - sx * sy / n) / spread
        intercept = (sy - slope * sx) / n
        if slope <= 0 or intercept < 0:  # noise or overlapping trials: fall back to a rate
            return epochs * sy / sx
        return intercept + slope * epochs


ProgressCallback = Callable[[Trial, Trial | None], None]
