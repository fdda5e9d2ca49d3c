"""What evaluators receive and return: datasets, the evaluation context, evaluations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # imported where arrays are handled, so `automl-codegen --help` stays fast
    import numpy as np


@attrs.frozen(eq=False)
class Dataset:
    """A dataset held in memory, already split and normalised.

    Inputs are float32 in the layout of ``task`` (:mod:`automl_codegen.tasks`): images
    ``(N, C, H, W)``, tables ``(N, F)``, sequences ``(N, C, L)``. Targets are int64 class
    labels ``(N,)``, or for regression float32 values standardised by the training split
    (``normalization["target"]`` holds their ``mean`` and ``std``; ``num_classes`` is 1,
    the number of outputs). ``normalization`` records how raw inputs were turned into
    these tensors, so generated code can repeat it.
    ``augment`` says whether random crops and horizontal flips suit the images (photos
    of objects: yes; digits and letters: no, a mirrored 2 is not a 2); it is the train
    evaluator's default for its ``augment`` option.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    normalization: dict[str, Any] = attrs.field(factory=dict)
    description: str = ""
    augment: bool = False
    task: str = "image_classification"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def fingerprint(self) -> str:
        """A hash of the split arrays: recognises the same data given again (a resumed run)."""
        import numpy

        # The normalisation too: data shifted or scaled standardises to the same arrays.
        digest = hashlib.sha256(json.dumps(self.normalization, sort_keys=True, default=str).encode())
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(str((array.shape, array.dtype.str)).encode())
            digest.update(numpy.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "train": len(self.y_train),
            "val": len(self.y_val),
            "test": len(self.y_test),
            "normalization": self.normalization,
            "description": self.description,
            "augment": self.augment,
            "task": self.task,
        }


@attrs.frozen
class TrainingBudget:
    """How much training one trial gets."""

    epochs: int = 15
    max_seconds: float | None = None
    patience: int | None = 4


@attrs.frozen(eq=False)
class EvaluationContext:
    """Everything an evaluator needs besides the architecture.

    ``genotype`` and ``space`` are the strategy's encoding and the search space's name,
    for evaluators that look results up instead of training (tabular benchmarks).
    ``final`` asks for final training of a chosen architecture
    (:meth:`SearchResult.retrain`): train on training + validation data for every epoch
    of the budget, keep the last weights, report test accuracy only.
    """

    dataset: Dataset
    budget: TrainingBudget
    seed: int
    profilers: Sequence[Any] = ()
    device: str = "cpu"
    trial_number: int = 0
    genotype: Any = None
    space: str | None = None
    final: bool = False


@attrs.frozen(eq=False)
class Evaluation:
    """An evaluator's answer: measurements and, optionally, the trained weights."""

    metrics: dict[str, float]
    state_dict: Any = None
