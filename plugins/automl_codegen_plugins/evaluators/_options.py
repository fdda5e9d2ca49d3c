"""The train evaluator's options, checked without importing torch.

The options are checked when the evaluator is made, before the first trial, so a
misspelt value stops the search at once instead of failing every trial. What depends on
the dataset and the device (``"auto"`` values) is resolved later, per trial, by
:func:`automl_codegen_plugins.evaluators._training.resolve`.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from automl_codegen.options import (
    OptionError,
    PluginOptions,
    boolean,
    finite_number,
    integer,
    one_of,
    structure_options,
)

__all__ = ["AMP", "DATA", "DEFAULT_LR", "OPTIMIZERS", "SCHEDULES", "TrainingOptions"]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant")
AMP = ("auto", "off", "bf16", "fp16")
DATA = ("auto", "device", "loader")
#: Learning rates that work out of the box for the small networks of a search.
DEFAULT_LR = {"adamw": 3e-3, "sgd": 0.05}


_OWNER = "train evaluator"


def _one_of(allowed: tuple[str, ...]) -> Any:
    return one_of(allowed, message="{owner}: {name} must be one of {choices_repr}; got {value!r}")


def _number(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False, optional=False):
    """A finite number in [low, high] (ends open as asked); None allowed when ``optional``."""
    lo, hi = ("(" if low_open else "["), (")" if high_open or high == math.inf else "]")
    # Worded with both ends, inf included, as this evaluator always has.
    interval = f"a number in {lo}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{hi}"
    return finite_number(low, high, low_open=low_open, high_open=high_open, optional=optional, expected=interval)


def _whole(low: int, high: int | None = None, *, optional: bool = False) -> Any:
    expected = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"
    return integer(low, high, optional=optional, expected=expected)


#: Most DataLoader workers and torch threads: 100,000 workers forked until the machine
#: stalled, and as many threads make OpenMP abort.
MAX_WORKERS = 64
MAX_THREADS = 1024


def _flag(*, optional: bool = False) -> Any:
    expected = "true, false or null (the default for the data and device)" if optional else "true or false"
    return boolean(optional=optional, expected=expected)


def _amp(value: object) -> object:
    # true/false read better on a command line (--evaluator-option amp=false).
    if value is True:
        return "auto"
    if value is False:
        return "off"
    return value


@attrs.frozen(kw_only=True)
class TrainingOptions(PluginOptions):
    """How the train evaluator trains, as given (``None`` and ``"auto"`` resolved per trial).

    Attributes:
        optimizer: ``"adamw"`` or ``"sgd"`` (momentum ``momentum``, Nesterov).
        lr: peak learning rate; None takes the optimizer's default (:data:`DEFAULT_LR`).
        lr_min: where the cosine schedule ends.
        weight_decay: decoupled for AdamW, L2 for SGD.
        momentum: SGD's momentum (ignored by AdamW).
        schedule: ``"cosine"`` (annealed per epoch to ``lr_min``) or ``"constant"``.
        warmup_epochs: epochs of linear warm-up before the schedule (at most epochs - 1).
        batch_size: training batch size.
        label_smoothing: cross-entropy label smoothing.
        augment: random crop (zero padding of 1/8 of the image side: 4 pixels at 32) and
            horizontal flip; None takes the dataset's default (on for CIFAR and RGB folders).
        amp: mixed precision: ``"auto"`` (bf16 where the GPU has it, else fp16 with a
            gradient scaler; off on CPU), ``"off"``, ``"bf16"``, ``"fp16"`` (CUDA only).
        channels_last: NHWC memory layout; None is on for CUDA, off on CPU.
        compile: train through ``torch.compile``.
        data: ``"device"`` (the splits as tensors on the device), ``"loader"`` (batches
            from a DataLoader with ``workers`` processes) or ``"auto"``.
        workers: DataLoader worker processes (``data="loader"``); None is min(4, CPUs).
        threads: torch threads for training; None: torch's setting on CUDA, and on the
            CPU torch's setting less the cores other processes keep busy when the run
            starts (spinning threads on busy cores train many times slower), recorded
            with the run so a resumed run trains exactly alike.
    """

    unknown_message = "{owner} has no option(s) {unknown}; allowed: {sorted_names}"

    optimizer: str = attrs.field(
        default="adamw", validator=_one_of(OPTIMIZERS), metadata={"help": "adamw or sgd (Nesterov momentum)"}
    )
    lr: float | None = attrs.field(
        default=None,
        validator=_number(0, low_open=True, optional=True),
        metadata={"help": "peak learning rate; None: the optimizer's default (3e-3 AdamW, 0.05 SGD)"},
    )
    lr_min: float = attrs.field(default=0.0, validator=_number(0), metadata={"help": "where the cosine schedule ends"})
    weight_decay: float = attrs.field(
        default=1e-4, validator=_number(0), metadata={"help": "decoupled for AdamW, L2 for SGD"}
    )
    momentum: float = attrs.field(
        default=0.9, validator=_number(0, 1, high_open=True), metadata={"help": "SGD's momentum, in [0, 1)"}
    )
    schedule: str = attrs.field(
        default="cosine",
        validator=_one_of(SCHEDULES),
        metadata={"help": "cosine (annealed per epoch to lr_min) or constant"},
    )
    warmup_epochs: int = attrs.field(
        default=0, validator=_whole(0), metadata={"help": "epochs of linear warm-up before the schedule"}
    )
    batch_size: int = attrs.field(default=64, validator=_whole(2), metadata={"help": "training batch size, >= 2"})
    label_smoothing: float = attrs.field(
        default=0.0,
        validator=_number(0, 1, high_open=True),
        metadata={"help": "cross-entropy label smoothing, in [0, 1)"},
    )
    augment: bool | None = attrs.field(
        default=None,
        validator=_flag(optional=True),
        metadata={"help": "random crop and flip; None: the dataset's default"},
    )
    amp: str = attrs.field(
        default="auto",
        converter=_amp,
        validator=_one_of(AMP),
        metadata={"help": "mixed precision: auto, off, bf16 or fp16 (true: auto, false: off)"},
    )
    channels_last: bool | None = attrs.field(
        default=None,
        validator=_flag(optional=True),
        metadata={"help": "NHWC memory layout; None: on for CUDA, off on CPU"},
    )
    compile: bool = attrs.field(default=False, validator=_flag(), metadata={"help": "train through torch.compile"})
    data: str = attrs.field(
        default="auto",
        validator=_one_of(DATA),
        metadata={"help": "device (tensors on the device), loader (a DataLoader) or auto"},
    )
    workers: int | None = attrs.field(
        default=None,
        validator=_whole(0, MAX_WORKERS, optional=True),
        metadata={"help": f"DataLoader worker processes, at most {MAX_WORKERS}; None: min(4, CPUs)"},
    )
    threads: int | None = attrs.field(
        default=None,
        validator=_whole(1, MAX_THREADS, optional=True),
        metadata={"help": "torch threads for training; None: torch's, less cores other processes keep busy"},
    )

    def __attrs_post_init__(self) -> None:
        if self.lr_min >= self.peak_lr:
            template = "{owner}: lr_min ({lr_min:g}) must be below lr ({lr:g})"
            raise OptionError(template, owner=type(self).__name__, lr_min=self.lr_min, lr=self.peak_lr)

    @classmethod
    def from_options(cls, **options: Any) -> TrainingOptions:
        """Check user options (names first, then values); the error names what is wrong."""
        return structure_options(cls, options, owner=_OWNER)

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]
