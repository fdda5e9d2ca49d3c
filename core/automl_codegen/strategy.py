"""Base classes for search strategies: ask/tell bookkeeping, state, events, one-shot.

The contract is :class:`automl_codegen.protocols.StrategyProtocol` (and
``OneShotStrategyProtocol``); these classes implement its bookkeeping so a strategy
writes ``ask`` and ``tell`` and keeps its randomness in ``self.rng``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .objective import Objective
    from .space import Genotype, SearchSpace
    from .trial import Trial

__all__ = ["OneShotStrategy", "Strategy", "SupernetContext"]


class Strategy(ABC):
    """An ask/tell search strategy (:class:`automl_codegen.protocols.StrategyProtocol`).

    The engine calls ``ask(n)`` for genotypes to evaluate and ``tell(trials)`` with the
    finished trials (failed ones included, in any order). ``state_dict`` must return
    JSON-compatible data from which ``load_state_dict`` restores the exact state, RNG
    included, so a resumed run continues as if never stopped. The base class saves
    ``self.rng``; a subclass adds its own state to ``super().state_dict()``.

    Attributes:
        first_generation_size: trials proposed before anything is learnt (set it to
            the population or first batch; ``None`` when there is no such phase).
    """

    name = "strategy"
    first_generation_size: int | None = None

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], *, seed: int = 0, **options: Any) -> None:
        if options:
            msg = f"strategy {self.name!r} has no option(s) {sorted(options)}"
            raise ConfigError(msg)
        if not objectives:
            msg = f"strategy {self.name!r} needs at least one objective"
            raise ConfigError(msg)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            msg = f"strategy {self.name!r} needs a non-negative integer seed, got {seed!r}"
            raise ConfigError(msg)
        self.space = space
        self.objectives = list(objectives)
        self.seed = seed
        import numpy as np  # here, not at import: `automl-codegen --help` loads this module

        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def ask(self, n: int) -> list[Genotype]:
        """Up to ``n`` genotypes to evaluate next."""

    @abstractmethod
    def tell(self, trials: Sequence[Trial]) -> None:
        """Learn from finished trials."""

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def emit(self, kind: str, step: int, **values: Any) -> None:
        """Record a JSON-compatible event for the run report (RL reward, entropy, ...).

        The engine moves emitted events into the journal after each ``tell``; a step
        emitted again (after a resume) replaces the earlier record.
        """
        self.__dict__.setdefault("_events", []).append((kind, step, values))

    def drain_events(self) -> list[tuple[str, int, dict[str, Any]]]:
        """The events emitted since the last call (the engine calls this)."""
        events = self.__dict__.get("_events", [])
        self.__dict__["_events"] = []
        return events


class OneShotStrategy(Strategy):
    """A strategy that trains a weight-sharing supernet before it proposes anything.

    The engine calls :meth:`train_supernet` once, before the first ``ask`` (and again
    after a resume, when the state says training is unfinished). The strategy trains
    through the :class:`SupernetContext` it is given, calling ``context.checkpoint()``
    after each epoch so a killed run resumes from its last finished epoch. Afterwards
    ``ask`` returns the derived architectures, which the engine retrains from scratch,
    profiles and records like any other trial; ``tell`` receives those trials.
    """

    one_shot = True

    @property
    @abstractmethod
    def supernet_trained(self) -> bool:
        """Whether the supernet phase is over (part of the saved state)."""

    @abstractmethod
    def train_supernet(self, context: SupernetContext) -> None:
        """Train the supernet within ``context``; checkpoint after every epoch."""


class SupernetContext:
    """What the engine lends a one-shot strategy: data, device, budget and a journal.

    Attributes:
        dataset: the run's :class:`~automl_codegen.evaluation.Dataset` (train split for
            weights, validation split for architecture parameters or rewards).
        device: ``"cpu"`` or ``"cuda"``.
        seed: the run's seed.
        deadline: ``time.perf_counter()`` value after which training should stop (the
            run's wall-clock budget), or None.
    """

    def __init__(self, dataset: Any, device: str, seed: int, deadline: float | None, checkpoint: Any, log: Any) -> None:
        self.dataset = dataset
        self.device = device
        self.seed = seed
        self.deadline = deadline
        self._checkpoint = checkpoint
        self._log = log

    def checkpoint(self) -> None:
        """Save the strategy's ``state_dict()`` to the journal now (call after each epoch)."""
        self._checkpoint()

    def log(self, kind: str, step: int, **values: Any) -> None:
        """Record a JSON-compatible event for the run report, e.g. ``log("alpha", epoch, normal=[...])``."""
        self._log(kind, step, values)
