"""``waves``: a synthetic sequence task, which of several frequencies a noisy signal carries.

Each example is a sine wave of one of ``num_classes`` frequencies (evenly spaced between
``min_cycles`` and ``max_cycles`` cycles per sequence), with a random phase and amplitude,
buried in Gaussian noise; the class is the frequency. Neighbouring frequencies differ by
a cycle or two over the whole sequence, so a network must integrate over time rather than
look at a few samples: a small 1-D convolutional network learns it, a linear model does
not. It needs no files, so it is the sequence task's embedded dataset for tests and demos.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from automl_codegen import hookimpl
from automl_codegen.evaluation import Dataset
from automl_codegen.options import OptionError, check, finite_number, is_integer, positive_int

from ._split import DatasetOptions, check_held_out, check_samples_per_class, dataset_options, held_out, split_dataset

NAME = "waves"
#: Most values generated (float64 while drawn); a larger request is a typo.
MAX_VALUES = 1 << 27


@attrs.frozen(kw_only=True)
class WavesOptions(DatasetOptions):
    """The options of ``waves`` (see :func:`load_waves`)."""

    num_samples: int = attrs.field(
        default=1200, validator=positive_int(), metadata={"help": "sequences in all, >= 10 per class"}
    )
    num_classes: int = attrs.field(
        default=4,
        validator=check(lambda v: is_integer(v) and 2 <= v <= 64, "between 2 and 64"),
        metadata={"help": "frequencies to tell apart, 2 to 64"},
    )
    length: int = attrs.field(default=128, validator=positive_int(), metadata={"help": "samples per sequence, >= 16"})
    channels: int = attrs.field(
        default=1, validator=positive_int(), metadata={"help": "channels per sequence (each its own noise)"}
    )
    min_cycles: float = attrs.field(
        default=4.0, validator=finite_number(0), metadata={"help": "cycles per sequence of the lowest frequency"}
    )
    max_cycles: float = attrs.field(
        default=10.0, validator=finite_number(0), metadata={"help": "cycles per sequence of the highest frequency"}
    )
    noise: float = attrs.field(
        default=1.0, validator=finite_number(0), metadata={"help": "standard deviation of the Gaussian noise, >= 0"}
    )
    val_fraction: float = held_out("validation")
    test_fraction: float = held_out("test")

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        check_samples_per_class(self.num_samples, self.num_classes, owner)
        if self.length < 16:
            raise OptionError(
                "length={length} is too short to tell frequencies apart (need >= 16)", owner=owner, length=self.length
            )
        if not self.min_cycles < self.max_cycles <= self.length / 2:
            raise OptionError(
                "min_cycles={min_cycles} and max_cycles={max_cycles} must satisfy min_cycles < max_cycles <= "
                "length / 2 = {nyquist} (above it the frequencies alias)",
                owner=owner,
                min_cycles=self.min_cycles,
                max_cycles=self.max_cycles,
                nyquist=self.length / 2,
            )
        values = self.num_samples * self.channels * self.length
        if values > MAX_VALUES:
            raise OptionError(
                "num_samples x channels x length = {values:,} values, more than the {limit:,} this dataset makes "
                "(they are generated in memory); ask for fewer or shorter sequences",
                owner=owner,
                values=values,
                limit=MAX_VALUES,
            )
        check_held_out(self.val_fraction, self.test_fraction, owner)


def load_waves(*, seed: int = 0, **options: Any) -> Dataset:
    """Noisy sine waves ``(N, channels, length)``, labelled by frequency.

    Args:
        seed: seeds the signals, the labels and the split.
        options: :class:`WavesOptions`: ``num_samples`` (1200), ``num_classes`` (4),
            ``length`` (128), ``channels`` (1), ``min_cycles`` (4), ``max_cycles`` (10),
            ``noise`` (1.0), ``val_fraction`` and ``test_fraction`` (0.2 each).

    Raises:
        ConfigError: an unknown option or a bad value, named.
    """
    o = dataset_options(WavesOptions, NAME, options)
    rng = np.random.default_rng(seed)
    y = rng.integers(o.num_classes, size=o.num_samples).astype(np.int64)
    cycles = np.linspace(o.min_cycles, o.max_cycles, o.num_classes)[y]
    t = np.arange(o.length) / o.length
    phase = rng.uniform(0, 2 * np.pi, size=(o.num_samples, o.channels, 1))
    amplitude = rng.uniform(0.5, 1.5, size=(o.num_samples, 1, 1))
    x = amplitude * np.sin(2 * np.pi * cycles[:, None, None] * t + phase)
    x += rng.normal(0.0, o.noise, size=x.shape)
    dataset = split_dataset(
        NAME,
        x.astype(np.float32),
        y,
        num_classes=o.num_classes,
        seed=seed,
        val_fraction=float(o.val_fraction),
        test_fraction=float(o.test_fraction),
        description=(
            f"synthetic sine waves: {o.num_classes} frequencies from {o.min_cycles:g} to {o.max_cycles:g} cycles "
            f"per {o.length} samples, noise {o.noise:g}"
        ),
    )
    return attrs.evolve(dataset, task="sequence_classification")


load_waves.Options = WavesOptions  # type: ignore[attr-defined]


@hookimpl
def register_datasets(register):
    register(NAME, load_waves)
