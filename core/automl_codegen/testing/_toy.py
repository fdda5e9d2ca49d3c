"""A toy search space, evaluator and dataset: strategies tested without training or torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..architecture import Architecture, Node
from ..errors import ConfigError
from ..evaluation import Dataset, Evaluation
from ..objective import MAX, MIN, Objective
from ..space import Choice, SearchSpace

#: The registered names :func:`check_strategy_in_search` adds for its toy search.
TOY_DATASET = "conformance-toy"
_TOY_SPACE = "conformance-toy"
_TOY_EVALUATOR = "conformance-toy"
_TOY_STRATEGY = "conformance-strategy"
_TOY_INPUT = (1, 8, 8)
_TOY_CLASSES = 4

#: The objectives the toy evaluator can score: ``accuracy`` (max) and ``toy_cost`` (min).
TOY_OBJECTIVES = (
    Objective("accuracy", MAX, description="toy score of the genotype, 1 at the space's optimum"),
    Objective("toy_cost", MIN, description="toy cost: the mean option index of the genotype"),
)


class ToySpace(SearchSpace):
    """A small search space for testing strategies: 4 choices, 54 genotypes.

    A genotype is ``{"width": 8, "kernel": 3, "depth": 2, "act": "relu"}``; it lowers to
    ``depth`` conv-BN-activation layers of ``width`` channels, global pooling and a
    linear classifier. :func:`toy_score` scores it without training; its optimum is
    :meth:`optimum`.
    """

    name = "toy"

    OPTIONS: Mapping[str, tuple[Any, ...]] = {
        "width": (4, 8, 16),
        "kernel": (1, 3, 5),
        "depth": (1, 2, 3),
        "act": ("relu", "sigmoid"),
    }

    def __init__(self, input_shape: Sequence[int] = _TOY_INPUT, num_classes: int = _TOY_CLASSES, **options: Any):
        if options:
            msg = f"search space 'toy' has no option(s) {sorted(options)}"
            raise ConfigError(msg)
        super().__init__(input_shape, num_classes)

    def choices(self) -> list[Choice]:
        return [Choice(name, options) for name, options in self.OPTIONS.items()]

    def decode(self, indices: Sequence[int]) -> dict[str, Any]:
        if len(indices) != len(self.OPTIONS):
            msg = f"the toy space decodes {len(self.OPTIONS)} indices, got {list(indices)}"
            raise ConfigError(msg)
        return {name: options[int(i)] for (name, options), i in zip(self.OPTIONS.items(), indices, strict=True)}

    def encode(self, genotype: Any) -> list[int]:
        if not isinstance(genotype, dict) or set(genotype) != set(self.OPTIONS):
            msg = f"a toy genotype is a dict with keys {sorted(self.OPTIONS)}, got {genotype!r}"
            raise ConfigError(msg)
        indices = []
        for name, options in self.OPTIONS.items():
            value = genotype[name]
            found = [i for i, o in enumerate(options) if type(o) is type(value) and o == value]
            if not found:
                msg = f"toy genotype {name!r} is {value!r}, not one of {list(options)}"
                raise ConfigError(msg)
            indices.append(found[0])
        return indices

    def to_architecture(self, genotype: Any) -> Architecture:
        g = self.decode(self.encode(genotype))
        nodes, source, channels = [], Architecture.INPUT, self.input_shape[0]
        for layer in range(g["depth"]):
            conv = {"in_channels": channels, "out_channels": g["width"], "kernel_size": g["kernel"]}
            nodes += [
                Node(f"conv{layer}", "conv2d", (source,), {**conv, "padding": g["kernel"] // 2}),
                Node(f"bn{layer}", "batchnorm2d", (f"conv{layer}",), {"num_features": g["width"]}),
                Node(f"act{layer}", g["act"], (f"bn{layer}",)),
            ]
            source, channels = f"act{layer}", g["width"]
        nodes += [
            Node("pool", "global_avg_pool", (source,)),
            Node("classifier", "linear", ("pool",), {"in_features": channels, "out_features": self.num_classes}),
        ]
        return Architecture(self.input_shape, self.num_classes, nodes, "classifier", name="ToyNet")

    def optimum(self) -> dict[str, Any]:
        """The genotype :func:`toy_score` rates 1."""
        return self.decode(_targets(self))


def _targets(space: Any) -> list[int]:
    """The best option per choice under :func:`toy_score`: spread over the options, fixed."""
    return [(2 * i + 1) % len(c.options) for i, c in enumerate(space.choices())]


def toy_score(space: Any, genotype: Any) -> float:
    """A score in [0, 1] of any space's genotype, computed from its option indices.

    Each choice with more than one option has a target option (fixed per position); a
    genotype scores the mean closeness of its options to the targets, so 1 exactly at
    the optimum and smoothly less away from it: something a strategy can climb.
    """
    choices = space.choices()
    indices = space.encode(genotype)
    terms = [
        1.0 - abs(index - target) / (len(choice.options) - 1)
        for choice, index, target in zip(choices, indices, _targets(space), strict=True)
        if len(choice.options) > 1
    ]
    return sum(terms) / len(terms) if terms else 1.0


def _toy_cost(space: Any, genotype: Any) -> float:
    choices, indices = space.choices(), space.encode(genotype)
    return sum(i / max(len(c.options) - 1, 1) for c, i in zip(choices, indices, strict=True)) / len(choices)


def _toy_metrics(space: Any, genotype: Any) -> dict[str, float]:
    return {"accuracy": toy_score(space, genotype), "toy_cost": _toy_cost(space, genotype)}


class ToyEvaluator:
    """Scores genotypes of ``space`` with :func:`toy_score`: no training, no torch.

    Measures ``accuracy`` (the toy score) and ``toy_cost``. With ``fail_every=k`` every
    k-th trial (numbers k-1, 2k-1, ...) fails, as a trial that runs out of memory would.
    """

    measures = ("accuracy", "toy_cost")
    needs_architecture = False

    def __init__(self, space: Any = None, fail_every: int | None = None) -> None:
        self.space = ToySpace() if space is None else space
        self.fail_every = fail_every

    def evaluate(self, architecture: Any, context: Any) -> Evaluation:
        if self.fail_every and (context.trial_number + 1) % self.fail_every == 0:
            msg = f"simulated failure of trial {context.trial_number}"
            raise RuntimeError(msg)
        return Evaluation(metrics=_toy_metrics(self.space, context.genotype))


def toy_dataset(*, seed: int = 0, input_shape: Sequence[int] = _TOY_INPUT, num_classes: int = _TOY_CLASSES) -> Dataset:
    """A dataset of a few random images, for searches whose evaluator never trains."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, *input_shape)).astype(np.float32)
        return x, (np.arange(n) % num_classes).astype(np.int64)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split(8), split(4), split(4)
    return Dataset(TOY_DATASET, x_train, y_train, x_val, y_val, x_test, y_test, num_classes, description="toy")
