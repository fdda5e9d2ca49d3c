"""The base class of search spaces: choices, encoding and the variation strategies use.

The contract itself is :class:`automl_codegen.protocols.SearchSpaceProtocol`; ``Strategy``,
``OneShotStrategy`` and ``SupernetContext`` live in :mod:`automl_codegen.strategy` and are
still importable from here.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .architecture import Architecture

if TYPE_CHECKING:  # numpy is imported by whoever passes a Generator; `automl-codegen --help` need not
    import numpy as np

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


# Plugins of the first release imported the strategy base classes from here.
from .strategy import OneShotStrategy, Strategy, SupernetContext  # noqa: E402

__all__ = ["Choice", "Genotype", "OneShotStrategy", "SearchSpace", "Strategy", "SupernetContext"]
