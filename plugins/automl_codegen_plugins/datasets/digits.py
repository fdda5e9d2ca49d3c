"""The embedded default dataset: scikit-learn's 8×8 handwritten digits (1,797 images)."""

from __future__ import annotations

import numpy as np

from automl_codegen import hookimpl
from automl_codegen.evaluation import Dataset

from ._split import split_dataset


def load_digits(*, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Digits as (N, 1, 8, 8) float32, split per class with a seeded shuffle.

    The split seed is fixed by ``seed`` alone, so runs with the same seed see the same
    test images and their accuracies are comparable.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return split_dataset(
        "digits",
        x,
        y,
        num_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description="scikit-learn digits: 8x8 grey-scale handwritten digits, 10 classes",
        preprocessing="pixel values 0..16 divided by 16",
    )


@hookimpl
def register_datasets(register):
    register("digits", load_digits)
