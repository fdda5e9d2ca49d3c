"""The embedded default dataset: scikit-learn's 8×8 handwritten digits (1,797 images)."""

from __future__ import annotations

import numpy as np

from automl_codegen import hookimpl
from automl_codegen.evaluation import Dataset

from ._split import standardize, stratified_split


def load_digits(*, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Digits as (N, 1, 8, 8) float32, split per class with a seeded shuffle.

    The split seed is fixed by ``seed`` alone, so runs with the same seed see the same
    test images and their accuracies are comparable.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    train, val, test = stratified_split(y, val_fraction, test_fraction, seed)
    (x_train, x_val, x_test), mean, std = standardize(x[train], x[val], x[test])
    return Dataset(
        name="digits",
        x_train=x_train,
        y_train=y[train],
        x_val=x_val,
        y_val=y[val],
        x_test=x_test,
        y_test=y[test],
        num_classes=10,
        normalization={
            "description": f"pixel values 0..16 divided by 16, then (x - {mean:.6f}) / {std:.6f}",
            "scale": 1 / 16,
            "mean": mean,
            "std": std,
        },
        description="scikit-learn digits: 8x8 grey-scale handwritten digits, 10 classes",
    )


@hookimpl
def register_datasets(register):
    register("digits", load_digits)
