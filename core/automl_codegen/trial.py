"""Trials: one evaluated architecture with its measurements, as recorded in a run."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .architecture import Architecture
from .objective import Objective

COMPLETE = "complete"
FAILED = "failed"


@attrs.frozen
class Trial:
    """The record of one evaluation.

    Attributes:
        number: 0-based position in the run.
        genotype: the strategy's encoding (JSON-compatible).
        architecture: the lowered IR, or ``None`` when lowering itself failed or the
            evaluator did not need it (tabular benchmarks; the run lowers it on export).
        status: ``"complete"`` or ``"failed"``.
        metrics: every measurement (``accuracy``, ``test_accuracy``, ``latency_ms``, ...).
        objectives: the values of the run's objectives, by name.
        constraint_violation: 0 when every constraint holds, else the summed relative
            amount by which they are broken (smaller is closer to feasible).
        error: why a failed trial failed.
        duration_s: wall-clock seconds of the evaluation.
        weights: file name of the trained weights inside the run directory, if kept.
    """

    number: int
    genotype: Any
    architecture: Architecture | None = None
    status: str = COMPLETE
    metrics: dict[str, float] = attrs.field(factory=dict)
    objectives: dict[str, float] = attrs.field(factory=dict)
    constraint_violation: float = 0.0
    error: str | None = None
    duration_s: float = 0.0
    weights: str | None = None

    def __attrs_post_init__(self) -> None:
        # A record read back from a damaged journal fails here, named, instead of in the
        # middle of a ranking or a report (the journal words a ValueError as an unreadable trial).
        checks = (
            ("number", isinstance(self.number, numbers.Integral) and not isinstance(self.number, bool), "an integer"),
            ("status", isinstance(self.status, str), "text"),
            ("metrics", isinstance(self.metrics, Mapping), "a JSON object"),
            ("objectives", _numbers_by_name(self.objectives), "a JSON object of numbers"),
            ("constraint_violation", _real(self.constraint_violation), "a number"),
            ("duration_s", _real(self.duration_s), "a number"),
            ("error", self.error is None or isinstance(self.error, str), "text or null"),
            ("weights", self.weights is None or isinstance(self.weights, str), "a file name or null"),
        )
        for name, good, expected in checks:
            if not good:
                shown = repr(getattr(self, name))
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                msg = f"trial {self.number!r}: {name} must be {expected}, got {shown}"
                raise ValueError(msg)

    @property
    def ok(self) -> bool:
        return self.status == COMPLETE

    @property
    def feasible(self) -> bool:
        return self.ok and self.constraint_violation == 0.0

    def loss_vector(self, objectives: Sequence[Objective]) -> tuple[float, ...]:
        """Objective values turned so that smaller is better; failed trials are +inf."""
        if not self.ok:
            return tuple(math.inf for _ in objectives)
        return tuple(o.as_loss(self.objectives.get(o.name, math.nan)) for o in objectives)


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _numbers_by_name(values: Any) -> bool:
    return isinstance(values, Mapping) and all(isinstance(k, str) and _real(v) for k, v in values.items())
