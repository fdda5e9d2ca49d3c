"""Seeded, stratified train/validation/test splits and normalisation shared by datasets."""

from __future__ import annotations

import numpy as np

from automl_codegen import ConfigError
from automl_codegen.evaluation import Dataset


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            msg = f"{name} must be between 0 and 1 (exclusive), got {value!r}"
            raise ConfigError(msg)
    if val_fraction + test_fraction >= 0.9:
        msg = (
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves too little "
            f"training data; keep their sum below 0.9"
        )
        raise ConfigError(msg)


def stratified_split(
    y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test), each class split in the same proportions."""
    check_fractions(val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = round(len(idx) * test_fraction)
        n_val = round(len(idx) * val_fraction)
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    # Sorting keeps the order independent of the class loop; training shuffles anyway.
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def split_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    description: str,
    preprocessing: str = "",
) -> Dataset:
    """A Dataset from whole arrays: stratified split, then the training set's statistics.

    ``preprocessing`` names what was done to raw inputs before standardisation (for
    the generated code's docstring), e.g. "pixel values 0..16 divided by 16".
    """
    train, val, test = stratified_split(y, val_fraction, test_fraction, seed)
    (x_train, x_val, x_test), mean, std = standardize(x[train], x[val], x[test])
    steps = f"{preprocessing}, then " if preprocessing else ""
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y[train],
        x_val=x_val,
        y_val=y[val],
        x_test=x_test,
        y_test=y[test],
        num_classes=num_classes,
        normalization={"description": f"{steps}(x - {mean:.6f}) / {std:.6f}", "mean": mean, "std": std},
        description=description,
    )


def standardize(x_train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    """Scale every array by the training set's mean and std (one scalar each)."""
    mean = float(x_train.mean())
    std = float(x_train.std()) or 1.0
    arrays = [((a - mean) / std).astype(np.float32) for a in (x_train, *others)]
    return arrays, mean, std
