"""Objectives (what a search optimises) and constraints (hard limits on measurements)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import attrs

from .errors import ConfigError

MIN = "min"
MAX = "max"


@attrs.frozen
class Objective:
    """A named quantity to minimise or maximise, computed from a trial's measurements.

    Attributes:
        name: how users select it (``--objective latency_ms``).
        direction: ``"min"`` or ``"max"``.
        compute: ``metrics -> value``; by default the measurement of the same name.
        requires: measurement names it needs, so the engine runs the right profilers.
        description: one line for ``automl-codegen plugins``.
        unit: for display.
    """

    name: str
    direction: str = attrs.field(validator=attrs.validators.in_((MIN, MAX)))
    compute: Callable[[Mapping[str, float]], float] | None = None
    requires: tuple[str, ...] = ()
    description: str = ""
    unit: str = ""

    def value(self, metrics: Mapping[str, float]) -> float:
        if self.compute is not None:
            return float(self.compute(metrics))
        if self.name not in metrics:
            msg = f"objective {self.name!r} needs the measurement {self.name!r}, which no profiler produced"
            raise KeyError(msg)
        return float(metrics[self.name])

    @property
    def needs(self) -> tuple[str, ...]:
        return self.requires or ((self.name,) if self.compute is None else ())

    def as_loss(self, value: float) -> float:
        """The value turned so that smaller is better (NaN counts as worst)."""
        if value != value:
            return math.inf
        return value if self.direction == MIN else -value

    def better(self, a: float, b: float) -> bool:
        return self.as_loss(a) < self.as_loss(b)


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


@attrs.frozen
class Constraint:
    """A hard limit such as ``latency_ms <= 2`` on one measurement."""

    name: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        match = _CONSTRAINT.match(text) if isinstance(text, str) else None
        if not match:
            msg = (
                f"cannot parse constraint {text!r}: write NAME OP NUMBER with OP one of "
                f"<=, <, >=, >, e.g. 'latency_ms <= 2' or 'params < 50000'"
            )
            raise ConfigError(msg)
        name, op, number = match.groups()
        try:
            bound = float(number)
        except ValueError:
            msg = f"constraint {text!r}: {number!r} is not a number"
            raise ConfigError(msg) from None
        if not math.isfinite(bound):
            msg = f"constraint {text!r}: the bound must be finite"
            raise ConfigError(msg)
        return cls(name, op, bound)

    def __str__(self) -> str:
        # Exact (shortest round-trip) digits: the journal stores this text, and a bound
        # rounded on the way would change which trials are feasible after a resume.
        bound = self.bound
        shown = str(int(bound)) if bound.is_integer() and abs(bound) < 1e15 else repr(bound)
        return f"{self.name} {self.op} {shown}"

    def violation(self, metrics: Mapping[str, float]) -> float:
        """0 when satisfied, else how far off relative to the bound (NaN/missing: inf)."""
        value = metrics.get(self.name, math.nan)
        if value != value:
            return math.inf
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if excess < 0 or (excess == 0 and self.op in ("<=", ">=")):
            return 0.0
        return max(excess, 1e-12) / max(abs(self.bound), 1e-12)
