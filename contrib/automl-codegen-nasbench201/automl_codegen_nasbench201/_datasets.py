"""Shape-only datasets for table-lookup searches: ``nb201-cifar10``, ``-cifar100``, ``-imagenet16``.

The engine sizes the search space from the run's dataset (input shape, class count)
before any trial. A lookup evaluator needs no images, so these datasets carry the
benchmark's shapes and empty splits: the ``nb201`` space then lowers exactly the
networks the benchmark trained (32×32×3 with 10 or 100 classes, 16×16×3 with 120), and
the evaluator knows which dataset's results to look up from the dataset's name.
They cannot be trained on: use them with ``--evaluator nasbench201``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from automl_codegen.evaluation import Dataset
from automl_codegen.options import PluginOptions, structure_options

__all__ = ["PREFIX", "SHAPES", "NB201DatasetOptions", "dataset_loader"]

PREFIX = "nb201-"
#: Per benchmark dataset: per-sample input shape, classes, the benchmark's own name.
SHAPES: dict[str, tuple[tuple[int, int, int], int, str]] = {
    "cifar10": ((3, 32, 32), 10, "CIFAR-10"),
    "cifar100": ((3, 32, 32), 100, "CIFAR-100"),
    "imagenet16": ((3, 16, 16), 120, "ImageNet16-120"),
}


@attrs.frozen(kw_only=True)
class NB201DatasetOptions(PluginOptions):
    """The options of the ``nb201-*`` datasets: none (they hold shapes, not images)."""

    unknown_message = "dataset {owner!r} has no options (got {unknown}): it holds no images, only shapes"


def dataset_loader(dataset: str) -> Callable[..., Dataset]:
    """The loader registered as ``nb201-<dataset>``: shapes of the benchmark, no images."""
    shape, classes, title = SHAPES[dataset]
    name = PREFIX + dataset

    def load(*, seed: int = 0, **options: Any) -> Dataset:
        structure_options(NB201DatasetOptions, options, owner=name)
        images = np.zeros((0, *shape), dtype=np.float32)
        labels = np.zeros((0,), dtype=np.int64)
        return Dataset(
            name=name,
            x_train=images,
            y_train=labels,
            x_val=images,
            y_val=labels,
            x_test=images,
            y_test=labels,
            num_classes=classes,
            normalization={"description": f"as NAS-Bench-201 trained on {title} (per-channel mean/std)"},
            description=(
                f"{title} shapes for NAS-Bench-201 table lookups ({shape[1]}x{shape[2]}x{shape[0]}, "
                f"{classes} classes); no images"
            ),
        )

    load.Options = NB201DatasetOptions  # type: ignore[attr-defined]
    load.__name__ = f"load_nb201_{dataset}"
    load.__doc__ = f"{title}'s shapes for NAS-Bench-201 lookups, no images (``seed`` is ignored)."
    return load
