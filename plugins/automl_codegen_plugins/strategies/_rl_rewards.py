"""How ``rl`` turns a finished trial into a reward, failed trials included.

Rewards (option ``reward``):

* ``"objective"`` (default): the first objective, made larger-is-better (``max``
  objectives as they are, ``min`` objectives negated). Further objectives only act
  through constraints.
* ``"mnas"``: the MnasNet soft constraint (Tan et al. 2019),
  ``reward = Q * (LAT / latency_target) ** latency_weight``, with ``Q`` the first
  objective (it must be maximised, e.g. ``accuracy``), ``LAT`` the measurement
  ``latency_metric`` (default ``latency_ms``; read from the trial's objectives, else its
  metrics) and ``latency_weight`` ``w`` (default -0.07, the paper's value: twice the
  latency costs about 5% of the reward, half the latency gains about 5%).

Hard constraints (``constraints=[...]`` of the search) apply on top of either reward: a
complete trial that breaks them by a (relative) ``constraint_violation`` ``v > 0`` gets
``reward - constraint_penalty * v``. A latency constraint (``latency_ms <= T``) with a
large ``constraint_penalty`` plays the part of MnasNet's hard-constraint variant.

Failed trials (and trials whose reward is NaN or infinite, e.g. a missing latency) get
the worst reward seen so far minus ``failure_margin`` standard deviations of the finite
rewards seen so far (or, while those are all equal, minus ``failure_margin * |worst|``, or
``failure_margin`` when the worst is 0), resolved when their batch is used: always below
every working architecture, on the reward's own scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from automl_codegen import ConfigError, Objective, Trial
from automl_codegen.objective import MAX

__all__ = ["REWARDS", "Rewards"]

REWARDS = ("objective", "mnas")

#: The defaults of the mnas-only options, applied when ``reward="mnas"``.
_MNAS_DEFAULTS = {"latency_metric": "latency_ms", "latency_weight": -0.07}


class Rewards:
    """Rewards of trials (larger is better) and the running figures that place failures.

    Args:
        options: ``rl``'s options (``reward``, ``latency_*``, ``constraint_penalty``,
            ``failure_margin``), already checked one by one.
        objectives: the search's objectives; the first is the reward's.

    Raises:
        ConfigError: ``reward="mnas"`` with a first objective that is minimised.
    """

    def __init__(self, options: Any, objectives: Sequence[Objective]) -> None:
        self.primary = objectives[0]
        self.kind = options.reward
        self.constraint_penalty = float(options.constraint_penalty)
        self.failure_margin = float(options.failure_margin)
        self.latency_target = self.latency_weight = self.latency_metric = None
        if self.kind == "mnas":
            if self.primary.direction != MAX:
                msg = (
                    f"strategy 'rl': reward 'mnas' multiplies the first objective, which must be "
                    f"maximised (e.g. accuracy); got {self.primary.name!r} ({self.primary.direction})"
                )
                raise ConfigError(msg)
            self.latency_target = float(options.latency_target)
            weight, metric = options.latency_weight, options.latency_metric
            self.latency_weight = float(_MNAS_DEFAULTS["latency_weight"] if weight is None else weight)
            self.latency_metric = _MNAS_DEFAULTS["latency_metric"] if metric is None else metric
        self.worst: float | None = None  # lowest finite reward told so far
        # Count, mean and sum of squared deviations (Welford) of the finite rewards told.
        self.stats = [0, 0.0, 0.0]

    def __call__(self, trial: Trial) -> float | None:
        """The trial's reward, or ``None`` when it failed.

        ``None`` also for a complete trial whose reward cannot be computed: a NaN or
        infinite objective, constraint violation or latency, or a latency <= 0 under
        the mnas reward.
        """
        if not trial.ok:
            return None
        violation = float(trial.constraint_violation)
        if not 0 <= violation < math.inf:
            return None
        quality = float(trial.objectives.get(self.primary.name, math.nan))
        if self.kind == "objective":
            value = -self.primary.as_loss(quality)
        else:
            latency = trial.objectives.get(self.latency_metric, trial.metrics.get(self.latency_metric, math.nan))
            latency = float(latency)
            if not 0 < latency < math.inf:
                return None
            value = quality * (latency / self.latency_target) ** self.latency_weight
        value -= self.constraint_penalty * violation
        return value if math.isfinite(value) else None

    def observe(self, value: float) -> None:
        """Note a finite reward: the worst so far and the running spread (Welford)."""
        self.worst = value if self.worst is None else min(self.worst, value)
        count, mean, m2 = self.stats
        count += 1
        delta = value - mean
        mean += delta / count
        self.stats = [count, mean, m2 + delta * (value - mean)]

    def failure(self) -> float:
        """The worst finite reward told so far, less ``failure_margin`` spreads."""
        assert self.worst is not None
        count, _, m2 = self.stats
        spread = math.sqrt(m2 / count)
        if spread == 0:
            # Every reward so far is equal, so there is no scale yet: any margin tells
            # failures apart, and |worst| puts a failure at accuracy 0 (or at twice the
            # latency) rather than at an arbitrary number.
            spread = abs(self.worst) or 1.0
        return self.worst - self.failure_margin * spread

    def state_dict(self) -> dict[str, Any]:
        return {"worst": self.worst, "reward_stats": list(self.stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.worst = None if state["worst"] is None else float(state["worst"])
        count, mean, m2 = state["reward_stats"]
        self.stats = [int(count), float(mean), float(m2)]
