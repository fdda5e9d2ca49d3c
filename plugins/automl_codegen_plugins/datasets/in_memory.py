"""Data given from Python: arrays, tensors, a dict of splits, a torch ``Dataset``.

``NeuralArchitectureSearch(dataset=(x, y))`` comes here (as the dataset ``in-memory``,
with the data passed beside the journaled options). Inputs are checked with one-line
errors that name the problem and never print array contents; image layouts are
recognised: ``(N, H, W)`` grey-scale, ``(N, C, H, W)`` channels-first and ``(N, H, W, C)``
channels-last (moved to channels-first; the description says which was assumed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset

from ._split import DatasetOptions, check_held_out, dataset_options, fraction, split_dataset, standardize

NAME = "in-memory"
_CHANNELS = (1, 2, 3, 4)  # what a channel axis of an image holds


@attrs.frozen(kw_only=True)
class InMemoryOptions(DatasetOptions):
    """The options of ``in-memory`` (see :func:`load_in_memory`)."""

    val_fraction: float = attrs.field(
        default=0.2, validator=fraction, metadata={"help": "share of each class held out for validation when not given"}
    )
    test_fraction: float = attrs.field(
        default=0.2, validator=fraction, metadata={"help": "share of each class held out for test when not given"}
    )

    def __attrs_post_init__(self) -> None:
        check_held_out(self.val_fraction, self.test_fraction, type(self).__name__)


def load_in_memory(*, seed: int = 0, data: Any = None, **options: Any) -> Dataset:
    """A Dataset from ``data``: ``(x, y)``, ``{"train": (x, y), "validation": ..., "test": ...}``,
    a ``torch.utils.data.Dataset`` of ``(x, y)`` items, or an :class:`automl_codegen.Dataset`.

    ``(x, y)`` is split per class with ``seed`` (``val_fraction``/``test_fraction``, 0.2
    each); a dict without ``validation`` or ``test`` has them split off its training data.
    Inputs are standardised by the training split's mean and std, recorded for the
    generated code.

    Raises:
        ConfigError: the data's shape, type, labels or values are not usable, named.
    """
    o = dataset_options(InMemoryOptions, NAME, options)
    if data is None:
        msg = (
            f"dataset {NAME!r} holds data given from Python, and none was given; pass it as "
            f"NeuralArchitectureSearch(dataset=(x, y)), resume(run_dir, dataset=...) or retrain(..., dataset=...)"
        )
        raise ConfigError(msg)
    if isinstance(data, Dataset):
        return data
    if isinstance(data, Mapping):
        return _from_splits(data, seed, o)
    if isinstance(data, tuple | list) and len(data) == 2:
        x, y, layout = _checked("data", *data)
        return _split(x, y, seed, o, layout)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        x, y, layout = _checked("data", *_items(data))
        return _split(x, y, seed, o, layout)
    msg = (
        f"dataset= takes a registered name, (x, y), a dict of splits, a torch Dataset or an "
        f"automl_codegen.Dataset; got {type(data).__name__}"
    )
    raise ConfigError(msg)


load_in_memory.Options = InMemoryOptions  # type: ignore[attr-defined]


def _split(x: np.ndarray, y: np.ndarray, seed: int, o: InMemoryOptions, layout: str) -> Dataset:
    num_classes = _num_classes(y)
    return split_dataset(
        NAME,
        x,
        y,
        num_classes=num_classes,
        seed=seed,
        val_fraction=float(o.val_fraction),
        test_fraction=float(o.test_fraction),
        description=f"arrays given from Python: {len(y)} {_shapes(layout, x)}, {num_classes} classes",
    )


def _from_splits(data: Mapping[str, Any], seed: int, o: InMemoryOptions) -> Dataset:
    unknown = sorted(set(data) - {"train", "validation", "test"})
    if unknown or "train" not in data:
        msg = f"a dict of splits needs 'train' and may have 'validation' and 'test'; got keys {sorted(data)}"
        raise ConfigError(msg)
    parts = {key: _checked(key, *_pair(key, value)) for key, value in data.items()}
    x, y, layout = parts["train"]
    shapes = {key: list(part[0].shape[1:]) for key, part in parts.items()}
    if len({str(s) for s in shapes.values()}) > 1:
        msg = f"the splits' inputs differ in shape: {shapes}"
        raise ConfigError(msg)
    missing = {"validation": o.val_fraction, "test": o.test_fraction}
    rng = np.random.default_rng(seed)
    for key in ("validation", "test"):
        if key not in parts:  # held out of the training data, per class
            held = np.zeros(len(y), dtype=bool)
            for label in np.unique(y):
                idx = rng.permutation(np.flatnonzero(y == label))
                held[idx[: round(len(idx) * float(missing[key]))]] = True
            parts[key] = (x[held], y[held], layout)
            x, y = x[~held], y[~held]
    (x_train, x_val, x_test), mean, std = standardize(x, parts["validation"][0], parts["test"][0])
    num_classes = _num_classes(np.concatenate([y, parts["validation"][1], parts["test"][1]]))
    return Dataset(
        name=NAME,
        x_train=x_train,
        y_train=y,
        x_val=x_val,
        y_val=parts["validation"][1],
        x_test=x_test,
        y_test=parts["test"][1],
        num_classes=num_classes,
        normalization={"description": f"(x - {mean:.6f}) / {std:.6f}", "mean": mean, "std": std},
        description=f"splits given from Python: {_shapes(layout, x)}, {num_classes} classes",
    )


def _shapes(layout: str, x: np.ndarray) -> str:
    """The layout the inputs were given in, and the (C, H, W) the network takes them as."""
    return f"{layout} inputs, taken as (C, H, W) = {tuple(int(d) for d in x.shape[1:])}"


def _pair(key: str, value: Any) -> tuple[Any, Any]:
    if not (isinstance(value, tuple | list) and len(value) == 2):
        msg = f"split {key!r} must be an (x, y) pair, got {type(value).__name__}"
        raise ConfigError(msg)
    return value[0], value[1]


def _items(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """The items of a map-style dataset (a torch ``Dataset``) stacked into two arrays."""
    xs, ys = [], []
    for index in range(len(data)):
        item = data[index]
        if not (isinstance(item, tuple | list) and len(item) == 2):
            msg = f"dataset item {index} must be an (x, y) pair, got {type(item).__name__}"
            raise ConfigError(msg)
        xs.append(_array(item[0]))
        ys.append(_array(item[1]))
    if not xs:
        msg = "the dataset given from Python is empty"
        raise ConfigError(msg)
    try:
        return np.stack(xs), np.stack(ys).reshape(-1)
    except ValueError:
        msg = "the dataset's items differ in shape; every x must have the same shape"
        raise ConfigError(msg) from None


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _checked(where: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """``x`` as float32 (N, C, H, W) and ``y`` as int64 labels, or a ConfigError naming the problem."""
    x, y = _array(x), _array(y)
    if x.dtype.kind not in "biuf":
        msg = f"{where}: x must hold numbers, got dtype {x.dtype}"
        raise ConfigError(msg)
    if y.ndim != 1:
        msg = f"{where}: y must be one label per example, shape (N,), got shape {list(y.shape)}"
        raise ConfigError(msg)
    if len(x) != len(y):
        msg = f"{where}: x has {len(x)} examples and y has {len(y)} labels"
        raise ConfigError(msg)
    if len(y) == 0:
        msg = f"{where}: no examples"
        raise ConfigError(msg)
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y)))):
        msg = f"{where}: y must hold integer class labels, got dtype {y.dtype} with non-integer values"
        raise ConfigError(msg)
    if y.min() < 0:
        msg = f"{where}: labels must be 0 or more, got a smallest label of {int(y.min())}"
        raise ConfigError(msg)
    x = x.astype(np.float32)
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        msg = f"{where}: x holds {bad} NaN or infinite values; drop or impute them first"
        raise ConfigError(msg)
    x, layout = _channels_first(where, x)
    return x, y.astype(np.int64), layout


def _channels_first(where: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Images as (N, C, H, W), and the layout that was assumed."""
    if x.ndim == 3:
        return x[:, None], "grey-scale (N, H, W)"
    if x.ndim != 4:
        msg = (
            f"{where}: x must be images, (N, H, W), (N, C, H, W) or (N, H, W, C); "
            f"got {x.ndim} dimensions, shape {list(x.shape)}"
        )
        raise ConfigError(msg)
    first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
    if last and not first:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), "channels-last (N, H, W, C)"
    return x, "channels-first (N, C, H, W)"


def _num_classes(y: np.ndarray) -> int:
    classes = int(y.max()) + 1
    if len(np.unique(y)) < 2:
        msg = f"the labels hold only one class ({int(y[0])}); a classifier needs two or more"
        raise ConfigError(msg)
    return classes


@hookimpl
def register_datasets(register):
    register(NAME, load_in_memory)
