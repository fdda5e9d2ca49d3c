"""The embedded default dataset: scikit-learn's 8×8 handwritten digits (1,797 images)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from automl_codegen import hookimpl
from automl_codegen.evaluation import Dataset

from ._split import DatasetOptions, check_held_out, dataset_options, held_out, split_dataset


@attrs.frozen(kw_only=True)
class DigitsOptions(DatasetOptions):
    """The options of ``digits`` (see :func:`load_digits`)."""

    val_fraction: float = held_out("validation")
    test_fraction: float = held_out("test")

    def __attrs_post_init__(self) -> None:
        check_held_out(self.val_fraction, self.test_fraction, type(self).__name__)


def load_digits(*, seed: int = 0, **options: Any) -> Dataset:
    """Digits as (N, 1, 8, 8) float32, split per class with a seeded shuffle.

    The split seed is fixed by ``seed`` alone, so runs with the same seed see the same
    test images and their accuracies are comparable. ``options``: :class:`DigitsOptions`
    (``val_fraction``, ``test_fraction``, 0.2 each; their sum below 0.9).

    Raises:
        ConfigError: an unknown option or a bad value, named.
    """
    o = dataset_options(DigitsOptions, "digits", options)
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
        val_fraction=float(o.val_fraction),
        test_fraction=float(o.test_fraction),
        description="scikit-learn digits: 8x8 grey-scale handwritten digits, 10 classes",
        preprocessing="pixel values 0..16 divided by 16",
        scale=16.0,
    )


load_digits.Options = DigitsOptions  # type: ignore[attr-defined]


@hookimpl
def register_datasets(register):
    register("digits", load_digits)
