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

from automl_codegen import ConfigError

__all__ = ["AMP", "DATA", "DEFAULT_LR", "OPTIMIZERS", "SCHEDULES", "TrainingOptions"]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant")
AMP = ("auto", "off", "bf16", "fp16")
DATA = ("auto", "device", "loader")
#: Learning rates that work out of the box for the small networks of a search.
DEFAULT_LR = {"adamw": 3e-3, "sgd": 0.05}


def _fail(name: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"train evaluator: {name} must be {expected}, got {value!r}")


def _one_of(allowed: tuple[str, ...]):
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            msg = f"train evaluator: {attribute.name} must be one of {shown}; got {value!r}"
            raise ConfigError(msg)

    return check


def _number(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False, optional=False):
    """A real number in [low, high] (ends open as asked); None allowed when ``optional``."""
    lo, hi = ("(" if low_open else "["), (")" if high_open or high == math.inf else "]")
    interval = f"a number in {lo}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{hi}"

    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None and optional:
            return
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not ok:
            raise _fail(attribute.name, interval, value)

    return check


def _whole(low: int, *, optional: bool = False):
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _fail(attribute.name, f"a whole number >= {low}", value)

    return check


def _flag(*, optional: bool = False):
    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, bool):
            expected = "true, false or null (the default for the data and device)" if optional else "true or false"
            raise _fail(attribute.name, expected, value)

    return check


def _amp(value: object) -> object:
    # true/false read better on a command line (--evaluator-option amp=false).
    if value is True:
        return "auto"
    if value is False:
        return "off"
    return value


@attrs.frozen(kw_only=True)
class TrainingOptions:
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
        threads: torch threads for training; None leaves torch's setting.
    """

    optimizer: str = attrs.field(default="adamw", validator=_one_of(OPTIMIZERS))
    lr: float | None = attrs.field(default=None, validator=_number(0, low_open=True, optional=True))
    lr_min: float = attrs.field(default=0.0, validator=_number(0))
    weight_decay: float = attrs.field(default=1e-4, validator=_number(0))
    momentum: float = attrs.field(default=0.9, validator=_number(0, 1, high_open=True))
    schedule: str = attrs.field(default="cosine", validator=_one_of(SCHEDULES))
    warmup_epochs: int = attrs.field(default=0, validator=_whole(0))
    batch_size: int = attrs.field(default=64, validator=_whole(2))
    label_smoothing: float = attrs.field(default=0.0, validator=_number(0, 1, high_open=True))
    augment: bool | None = attrs.field(default=None, validator=_flag(optional=True))
    amp: str = attrs.field(default="auto", converter=_amp, validator=_one_of(AMP))
    channels_last: bool | None = attrs.field(default=None, validator=_flag(optional=True))
    compile: bool = attrs.field(default=False, validator=_flag())
    data: str = attrs.field(default="auto", validator=_one_of(DATA))
    workers: int | None = attrs.field(default=None, validator=_whole(0, optional=True))
    threads: int | None = attrs.field(default=None, validator=_whole(1, optional=True))

    def __attrs_post_init__(self) -> None:
        if self.lr_min >= self.peak_lr:
            msg = f"train evaluator: lr_min ({self.lr_min:g}) must be below lr ({self.peak_lr:g})"
            raise ConfigError(msg)

    @classmethod
    def from_options(cls, **options: Any) -> TrainingOptions:
        """Check user options (names first, then values); the error names what is wrong."""
        allowed = sorted(a.name for a in attrs.fields(cls))
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            msg = f"train evaluator has no option(s) {unknown}; allowed: {allowed}"
            raise ConfigError(msg)
        return cls(**options)

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]
