"""A tiny learnable image task for fast tests: the class decides where a bright blob sits."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from automl_codegen import hookimpl
from automl_codegen.evaluation import Dataset
from automl_codegen.options import OptionError, check, finite_number, is_integer, positive_int

from ._split import DatasetOptions, check_held_out, check_samples_per_class, dataset_options, held_out, split_dataset

#: Most pixel values generated (float64 while drawn: 2 GiB); 10**12 images ran out of memory.
MAX_VALUES = 1 << 28


@attrs.frozen(kw_only=True)
class SyntheticOptions(DatasetOptions):
    """The options of ``synthetic`` (see :func:`load_synthetic`)."""

    num_samples: int = attrs.field(
        default=600, validator=positive_int(), metadata={"help": "images in all, >= 10 per class"}
    )
    num_classes: int = attrs.field(
        default=4,
        validator=check(lambda v: is_integer(v) and v >= 2, "between 2 and image_size**2"),
        metadata={"help": "classes, 2 to image_size**2"},
    )
    image_size: int = attrs.field(default=8, validator=positive_int(), metadata={"help": "pixels square, >= 1"})
    channels: int = attrs.field(default=1, validator=positive_int(), metadata={"help": "channels per image, >= 1"})
    noise: float = attrs.field(
        default=0.6, validator=finite_number(0), metadata={"help": "standard deviation of the Gaussian noise, >= 0"}
    )
    val_fraction: float = held_out("validation")
    test_fraction: float = held_out("test")

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        check_samples_per_class(self.num_samples, self.num_classes, owner)
        if self.num_classes > self.image_size * self.image_size:
            raise OptionError(
                "num_classes must be between 2 and image_size**2, got {num_classes}",
                owner=owner,
                num_classes=self.num_classes,
            )
        values = self.num_samples * self.channels * self.image_size**2
        if values > MAX_VALUES:
            raise OptionError(
                "num_samples x channels x image_size**2 = {values:,} pixel values, more than the "
                "{limit:,} this test dataset makes (they are generated in memory); ask for fewer or smaller images",
                owner=owner,
                values=values,
                limit=MAX_VALUES,
            )
        check_held_out(self.val_fraction, self.test_fraction, owner)


def load_synthetic(*, seed: int = 0, **options: Any) -> Dataset:
    """Images of Gaussian noise with one brighter quadrant-like patch per class.

    Small convolutional networks learn it in a few epochs, bigger ones learn it better
    under noise, so a search has something real to improve on.

    Args:
        seed: seeds the images, the labels and the split.
        options: :class:`SyntheticOptions`: ``num_samples`` (600), ``num_classes`` (4),
            ``image_size`` (8), ``channels`` (1), ``noise`` (0.6), ``val_fraction`` and
            ``test_fraction`` (0.2 each).

    Raises:
        ConfigError: an unknown option or a bad value, named.
    """
    o = dataset_options(SyntheticOptions, "synthetic", options)
    num_samples, num_classes, image_size, channels = o.num_samples, o.num_classes, o.image_size, o.channels
    noise, val_fraction, test_fraction = o.noise, float(o.val_fraction), float(o.test_fraction)
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


load_synthetic.Options = SyntheticOptions  # type: ignore[attr-defined]


@hookimpl
def register_datasets(register):
    register("synthetic", load_synthetic)
