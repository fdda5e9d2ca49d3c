"""Multi-fidelity scheduling: successive halving and Hyperband over training epochs.

Most candidates get a short training; the best of them are trained again for longer.
Rung ``r`` trains for ``min_epochs * eta ** r`` epochs (the last rung for the run's full
``epochs``). The schedule is asynchronous successive halving (ASHA, Li et al. 2020): a
finished trial of rung ``r`` is promoted to rung ``r + 1`` as soon as it ranks in the top
``1 / eta`` of the trials finished in rung ``r`` so far, so no rung waits for a full
cohort and parallel executors stay busy. Hyperband runs several such ladders
(brackets) that start new candidates at different rungs, cycling through them, which
hedges against short trainings that rank networks badly.

A promotion is an ordinary trial: same genotype, more epochs, recorded with ``rung``,
``budget_epochs`` and ``promoted_from`` among its metrics, and told to the strategy
like any other trial. Everything the scheduler knows is in those metrics, so a resumed
run rebuilds it from the journal. Networks are only compared with networks trained as
long: the run's best and its Pareto front come from the highest rung reached.

The scheduler is plain Python (no torch) and knows nothing about the engine: the engine
asks :meth:`FidelityScheduler.next` what to run and tells it what started and finished.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import ConfigError
from .objective import Objective
from .trial import Trial

SCHEDULES = ("successive-halving", "hyperband")

#: Metric names the engine records on every trial of a multi-fidelity run.
RUNG, BUDGET_EPOCHS, PROMOTED_FROM = "rung", "budget_epochs", "promoted_from"


@attrs.frozen
class Fidelity:
    """A validated multi-fidelity configuration.

    Attributes:
        schedule: ``"successive-halving"`` or ``"hyperband"``.
        min_epochs: epochs of the lowest rung, >= 1.
        max_epochs: epochs of the highest rung (the run's ``epochs``).
        eta: the reduction factor, >= 2: a rung keeps the best ``1 / eta`` of its trials,
            and trains ``eta`` times longer than the one below.
    """

    schedule: str
    min_epochs: int
    max_epochs: int
    eta: int = 3

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | str | None, max_epochs: int) -> Fidelity | None:
        """``None``, a schedule name, or ``{"schedule": ..., "min_epochs": ..., "eta": ...}``."""
        if spec is None:
            return None
        if isinstance(spec, str):
            spec = {"schedule": spec}
        if not isinstance(spec, Mapping):
            msg = f"fidelity must be a schedule name or a mapping, got {spec!r}"
            raise ConfigError(msg)
        unknown = sorted(set(spec) - {"schedule", "min_epochs", "max_epochs", "eta"})
        if unknown:
            msg = f"fidelity has no option(s) {unknown}; allowed: eta, min_epochs, schedule"
            raise ConfigError(msg)
        if spec.get("max_epochs", max_epochs) != max_epochs:
            # A recorded run names it; anyone else sets the run's epochs instead.
            msg = f"fidelity max_epochs={spec['max_epochs']!r} must equal the run's epochs ({max_epochs})"
            raise ConfigError(msg)
        schedule = spec.get("schedule", "successive-halving")
        if schedule not in SCHEDULES:
            msg = f"fidelity schedule {schedule!r} is unknown; choose one of {', '.join(SCHEDULES)}, 'auto' or 'none'"
            raise ConfigError(msg)
        eta = spec.get("eta", 3)
        if not _is_int(eta) or eta < 2:
            msg = f"fidelity eta must be an integer >= 2, got {eta!r}"
            raise ConfigError(msg)
        min_epochs = spec.get("min_epochs", max(1, max_epochs // eta**2))
        if not _is_int(min_epochs) or not 1 <= min_epochs < max_epochs:
            msg = (
                f"fidelity min_epochs must be an integer from 1 to epochs - 1 = {max_epochs - 1} "
                f"(the full training is the top rung), got {min_epochs!r}"
            )
            raise ConfigError(msg)
        return cls(schedule, int(min_epochs), int(max_epochs), int(eta))

    @property
    def rungs(self) -> tuple[int, ...]:
        """Epochs per rung, lowest first; the last is always ``max_epochs``."""
        epochs, rung = [], self.min_epochs
        while rung < self.max_epochs:
            epochs.append(rung)
            rung *= self.eta
        return (*epochs, self.max_epochs)

    @property
    def brackets(self) -> tuple[int, ...]:
        """The rung new candidates start at, per bracket (one bracket for successive halving)."""
        if self.schedule == "successive-halving":
            return (0,)
        return tuple(range(len(self.rungs) - 1))

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Job:
    """What to run next: a new candidate from the strategy, or a promotion of a finished trial."""

    rung: int
    epochs: int
    promote: Trial | None = None  # the trial whose genotype is trained again, longer


class FidelityScheduler:
    """Decides the rung of each next trial from the trials started and finished so far.

    Args:
        fidelity: the configuration.
        objective: the objective that ranks trials within a rung (the run's first).
        trials: finished trials of an earlier session of the run (resume).
    """

    def __init__(self, fidelity: Fidelity, objective: Objective, trials: Iterable[Trial] = ()) -> None:
        self.fidelity = fidelity
        self.objective = objective
        self._epochs = fidelity.rungs
        self._finished: list[list[Trial]] = [[] for _ in self._epochs]
        self._promoted: set[int] = set()  # trial numbers already promoted (or being promoted)
        self._new = 0  # candidates started, for cycling through Hyperband's brackets
        for trial in sorted(trials, key=lambda t: t.number):
            self.started(trial.metrics)
            self.finished(trial)

    def next(self) -> Job:
        """A promotion when a finished trial has earned one (highest rung first), else a new candidate.

        The job counts as started: a second call never returns the same promotion.
        """
        job = self.peek()
        self.started(self.metrics(job))
        return job

    def peek(self) -> Job:
        """What :meth:`next` would return, without counting it as started."""
        job = None
        for rung in reversed(range(len(self._epochs) - 1)):
            candidate = self._promotable(rung)
            if candidate is not None:
                job = Job(rung + 1, self._epochs[rung + 1], candidate)
                break
        if job is None:
            brackets = self.fidelity.brackets
            start = brackets[self._new % len(brackets)]
            job = Job(start, self._epochs[start])
        return job

    def _promotable(self, rung: int) -> Trial | None:
        finished = [t for t in self._finished[rung] if t.ok and math.isfinite(self._loss(t))]
        keep = len(finished) // self.fidelity.eta
        if keep == 0:
            return None
        ranked = sorted(finished, key=lambda t: (not t.feasible, t.constraint_violation, self._loss(t), t.number))
        for trial in ranked[:keep]:
            if trial.number not in self._promoted:
                return trial
        return None

    def _loss(self, trial: Trial) -> float:
        return self.objective.as_loss(trial.objectives.get(self.objective.name, math.nan))

    def metrics(self, job: Job) -> dict[str, float]:
        """What the engine records on the job's trial."""
        out = {RUNG: float(job.rung), BUDGET_EPOCHS: float(job.epochs)}
        if job.promote is not None:
            out[PROMOTED_FROM] = float(job.promote.number)
        return out

    def started(self, metrics: Mapping[str, Any]) -> None:
        """A trial with these scheduler ``metrics`` started: count it, reserve its parent.

        :meth:`next` calls this itself; rebuilding from a journal calls it per trial.
        """
        parent = metrics.get(PROMOTED_FROM)
        if parent is not None:
            self._promoted.add(int(parent))
        else:
            self._new += 1

    def finished(self, trial: Trial) -> None:
        rung = trial.metrics.get(RUNG)
        if rung is not None and 0 <= int(rung) < len(self._finished):
            self._finished[int(rung)].append(trial)


def top_rung(trials: Iterable[Trial]) -> list[Trial]:
    """The complete trials of the highest rung any complete trial reached (all, without rungs)."""
    trials = list(trials)
    rungs = [t.metrics[RUNG] for t in trials if t.ok and RUNG in t.metrics]
    if not rungs:
        return trials
    highest = max(rungs)
    return [t for t in trials if t.metrics.get(RUNG, highest) == highest]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
