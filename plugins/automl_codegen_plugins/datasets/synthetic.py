"""A tiny learnable image task for fast tests: the class decides where a bright blob sits."""

from __future__ import annotations

import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset

from ._split import split_dataset


def load_synthetic(
    *,
    seed: int = 0,
    num_samples: int = 600,
    num_classes: int = 4,
    image_size: int = 8,
    channels: int = 1,
    noise: float = 0.6,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> Dataset:
    """Images of Gaussian noise with one brighter quadrant-like patch per class.

    Small convolutional networks learn it in a few epochs, bigger ones learn it better
    under noise, so a search has something real to improve on.
    """
    if num_samples < 10 * num_classes:
        msg = f"num_samples={num_samples} is too small for {num_classes} classes (need >= {10 * num_classes})"
        raise ConfigError(msg)
    if not 2 <= num_classes <= image_size * image_size:
        msg = f"num_classes must be between 2 and image_size**2, got {num_classes}"
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    y = rng.integers(num_classes, size=num_samples).astype(np.int64)
    x = rng.normal(0.0, noise, size=(num_samples, channels, image_size, image_size))
    # Each class owns a patch position on a coarse grid.
    grid = int(np.ceil(np.sqrt(num_classes)))
    cell = max(image_size // grid, 1)
    for label in range(num_classes):
        row, col = divmod(label, grid)
        mask = y == label
        x[mask, :, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] += 1.0
    x = x.astype(np.float32)
    return split_dataset(
        "synthetic",
        x,
        y,
        num_classes=num_classes,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        description=f"synthetic blobs: {num_classes} classes, {image_size}x{image_size}, noise {noise}",
    )


@hookimpl
def register_datasets(register):
    register("synthetic", load_synthetic)
