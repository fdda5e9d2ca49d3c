"""Objectives (what a search optimises) and constraints (hard limits on measurements)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

import attrs

from .errors import ConfigError

MIN = "min"
MAX = "max"


@attrs.frozen(init=False)
class Objective:
    """A named quantity to minimise or maximise, computed from a trial's measurements.

    Written either way round::

        Objective("latency_ms", "min")                       # the measurement of that name
        Objective("acc_per_kparam", fn, direction="max", needs=["accuracy", "params"])
        Objective("acc_per_kparam", "max", compute=fn, requires=("accuracy", "params"))

    Attributes:
        name: how users select it (``--objective latency_ms``).
        direction: ``"min"`` or ``"max"``.
        compute: ``metrics -> value``; by default the measurement of the same name.
        requires: measurement names it needs (``needs=`` says the same), so the search
            checks before the first trial that something measures them.
        description: one line for ``automl-codegen plugins``.
        unit: for display.
    """

    name: str
    direction: str = attrs.field(validator=attrs.validators.in_((MIN, MAX)))
    compute: Callable[[Mapping[str, float]], float] | None = None
    requires: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    description: str = ""
    unit: str = ""

    def __init__(
        self,
        name: str,
        *how: str | Callable[[Mapping[str, float]], float],
        direction: str | None = None,
        compute: Callable[[Mapping[str, float]], float] | None = None,
        requires: Sequence[str] | None = None,
        needs: Sequence[str] | None = None,
        description: str = "",
        unit: str = "",
    ) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            msg = f"an objective's name must be an identifier such as 'acc_per_kparam', got {name!r}"
            raise ConfigError(msg)
        if len(how) > 2:
            msg = f"Objective({name!r}, ...) takes a direction and a function, got {len(how)} positional values"
            raise ConfigError(msg)
        for value in how:  # the direction and the function, in either order
            if isinstance(value, str) and direction is None:
                direction = value
            elif callable(value) and compute is None:
                compute = value
            else:
                msg = (
                    f"Objective({name!r}, ...): {value!r} is given twice or is neither a direction "
                    f"('min', 'max') nor a function of the metrics"
                )
                raise ConfigError(msg)
        if direction not in (MIN, MAX):
            msg = f"objective {name!r} needs direction 'min' or 'max', got {direction!r}"
            raise ConfigError(msg)
        if compute is not None and not callable(compute):
            msg = f"objective {name!r}: compute must be a function of the metrics, got {compute!r}"
            raise ConfigError(msg)
        if requires is not None and needs is not None:
            msg = f"objective {name!r}: give needs= or requires= (they say the same), not both"
            raise ConfigError(msg)
        required = needs if needs is not None else requires if requires is not None else ()
        if isinstance(required, str) or not all(isinstance(r, str) for r in required):
            msg = f"objective {name!r}: needs must be a list of measurement names, got {required!r}"
            raise ConfigError(msg)
        self.__attrs_init__(name, direction, compute, tuple(required), description, unit)

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
