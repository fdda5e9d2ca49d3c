"""Base classes for search spaces and strategies: the contract plugins implement."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from .architecture import Architecture
from .errors import ConfigError
from .objective import Objective
from .trial import Trial

Genotype = Any  # JSON-compatible: dicts, lists, strings, numbers


@attrs.frozen
class Choice:
    """One categorical decision of a space: a name and its options (JSON values)."""

    name: str
    options: tuple[Any, ...] = attrs.field(converter=tuple)


class SearchSpace(ABC):
    """Turns genotypes into architectures and varies them.

    A space describes itself as a fixed sequence of categorical :meth:`choices`;
    ``encode``/``decode`` map a genotype to one option index per choice. From that the
    base class derives ``sample``, ``mutate`` and ``crossover``, so a simple space only
    writes ``choices``, ``decode`` (indices -> genotype), ``encode`` and
    ``to_architecture``. RL controllers and tabular benchmarks use the same encoding.
    """

    name = "space"

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes

    # -- what a space must provide -------------------------------------------------------

    @abstractmethod
    def choices(self) -> list[Choice]:
        """The decisions, in a fixed order."""

    @abstractmethod
    def decode(self, indices: Sequence[int]) -> Genotype:
        """The genotype with option ``indices[i]`` for choice ``i``."""

    @abstractmethod
    def encode(self, genotype: Genotype) -> list[int]:
        """The option index per choice; the inverse of :meth:`decode`."""

    @abstractmethod
    def to_architecture(self, genotype: Genotype) -> Architecture:
        """Lower a genotype to the IR."""

    # -- derived operations --------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> Genotype:
        return self.decode([int(rng.integers(len(c.options))) for c in self.choices()])

    def mutate(self, genotype: Genotype, rng: np.random.Generator, rate: float | None = None) -> Genotype:
        """Re-draw each decision with probability ``rate`` (default 1/#choices), at least one.

        Only decisions with more than one option are considered, and a re-drawn decision
        always takes a different option, so the child differs from its parent.
        """
        choices = self.choices()
        indices = self.encode(genotype)
        open_choices = [i for i, c in enumerate(choices) if len(c.options) > 1]
        if not open_choices:
            return self.decode(indices)
        rate = 1.0 / len(open_choices) if rate is None else rate
        picked = [i for i in open_choices if rng.random() < rate]
        if not picked:
            picked = [open_choices[int(rng.integers(len(open_choices)))]]
        for i in picked:
            new = int(rng.integers(len(choices[i].options) - 1))
            indices[i] = new if new < indices[i] else new + 1
        return self.decode(indices)

    def crossover(self, a: Genotype, b: Genotype, rng: np.random.Generator) -> Genotype:
        """Uniform crossover over the decisions."""
        ia, ib = self.encode(a), self.encode(b)
        return self.decode([x if rng.random() < 0.5 else y for x, y in zip(ia, ib, strict=True)])

    def key(self, genotype: Genotype) -> str:
        """A canonical string for de-duplicating genotypes."""
        return json.dumps(genotype, sort_keys=True, separators=(",", ":"))

    def size(self) -> int:
        total = 1
        for choice in self.choices():
            total *= len(choice.options)
        return total

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "choices": {c.name: list(c.options) for c in self.choices()}}


class Strategy(ABC):
    """An ask/tell search strategy.

    The engine calls ``ask(n)`` for genotypes to evaluate and ``tell(trials)`` with the
    finished trials (failed ones included, in any order). ``state_dict`` must return
    JSON-compatible data from which ``load_state_dict`` restores the exact state, RNG
    included, so a resumed run continues as if never stopped.
    """

    name = "strategy"

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
