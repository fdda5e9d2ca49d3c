"""Data given from Python: arrays, tensors, a dict of splits, a torch ``Dataset``.

``NeuralArchitectureSearch(dataset=(x, y))`` comes here (as the dataset ``in-memory``,
with the data passed beside the journaled options). Inputs are checked with one-line
errors that name the problem and never print array contents; image layouts are
recognised: ``(N, H, W)`` grey-scale, ``(N, C, H, W)`` channels-first and ``(N, H, W, C)``
channels-last (moved to channels-first; the description says which was assumed).

Tables and sequences come here too. The ``task`` option says what the arrays are; left
out (None) it is decided from them:

* x of 3 or 4 dimensions: ``image_classification``, as always (so ``(N, C, L)``
  sequences need ``task="sequence_classification"``);
* x of 2 dimensions ``(N, F)``: ``tabular_regression`` when y is a float array whose
  values are not all whole numbers, or are more than 20 distinct whole numbers
  (scikit-learn's diabetes target, say); otherwise ``tabular_classification`` (labels
  of an integer, bool or string array, or few whole numbers in a float array). The
  description says when regression was decided this way; pass ``task`` to overrule it.

Tables ``(N, F)`` are standardised per feature and sequences per channel by the training
split. Sequences are channels first: ``(N, L)`` is taken as one channel ``(N, 1, L)``,
``(N, C, L)`` is kept; ``(N, L, C)`` arrays must be transposed first
(``x.transpose(0, 2, 1)``), which the error says when the last axis looks like channels.
Class labels that are not already 0..K-1 (strings, 1..K, ...) are mapped to 0..K-1 and
recorded in ``normalization["classes"]``; regression targets are standardised and
recorded in ``normalization["target"]`` (see :mod:`automl_codegen.tasks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset
from automl_codegen.options import check
from automl_codegen.tasks import IMAGE_CLASSIFICATION, TASKS, get_task

from ._split import (
    MAX_AUTO_CLASSES,
    DatasetOptions,
    check_held_out,
    check_parts,
    class_codes,
    dataset_options,
    fraction,
    is_whole,
    split_dataset,
    split_rows,
    standardize,
    standardize_channels,
    standardize_features,
    standardize_target,
    target_text,
)

NAME = "in-memory"
_CHANNELS = (1, 2, 3, 4)  # what a channel axis of an image holds


@attrs.frozen(kw_only=True)
class InMemoryOptions(DatasetOptions):
    """The options of ``in-memory`` (see :func:`load_in_memory`)."""

    val_fraction: float = attrs.field(
        default=0.2,
        validator=fraction,
        metadata={"help": "share held out for validation when not given (of each class when classifying)"},
    )
    test_fraction: float = attrs.field(
        default=0.2,
        validator=fraction,
        metadata={"help": "share held out for test when not given (of each class when classifying)"},
    )
    task: str | None = attrs.field(
        default=None,
        validator=check(lambda v: isinstance(v, str) and v in TASKS, f"one of {', '.join(TASKS)}", optional=True),
        metadata={
            "help": "what the arrays are for; None: decided from them (3-D/4-D x: images; 2-D x: a table, "
            "regression when y holds floats that are not a few whole numbers)"
        },
    )

    def __attrs_post_init__(self) -> None:
        check_held_out(self.val_fraction, self.test_fraction, type(self).__name__)


def load_in_memory(*, seed: int = 0, data: Any = None, **options: Any) -> Dataset:
    """A Dataset from ``data``: ``(x, y)``, ``{"train": (x, y), "validation": ..., "test": ...}``,
    a ``torch.utils.data.Dataset`` of ``(x, y)`` items, or an :class:`automl_codegen.Dataset`.

    ``(x, y)`` is split with ``seed`` (``val_fraction``/``test_fraction``, 0.2 each; per
    class when classifying, at random for regression); a dict without ``validation`` or
    ``test`` has them split off its training data. ``task`` (None: decided from the
    arrays, see the module's documentation) says whether x holds images, a table or
    sequences. Inputs are standardised by the training split (images by one mean and
    std, tables per feature, sequences per channel), recorded for the generated code.

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
        _check_split_names(data)
        pairs = {key: _pair(key, value) for key, value in data.items()}
        task, note = _task("train", *pairs["train"], o.task)
        if task == IMAGE_CLASSIFICATION:
            return _from_splits(data, seed, o)
        return _table_or_sequence(pairs, seed, o, task, note, from_splits=True)
    if isinstance(data, tuple | list) and len(data) == 2:
        pair = (data[0], data[1])
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        pair = _items(data)
    else:
        msg = (
            f"dataset= takes a registered name, (x, y), a dict of splits, a torch Dataset or an "
            f"automl_codegen.Dataset; got {type(data).__name__}"
        )
        raise ConfigError(msg)
    task, note = _task("data", *pair, o.task)
    if task == IMAGE_CLASSIFICATION:
        x, y, layout = _checked("data", *pair)
        return _split(x, y, seed, o, layout)
    return _table_or_sequence({"data": pair}, seed, o, task, note, from_splits=False)


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


def _check_split_names(data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - {"train", "validation", "test"}, key=str)
    if unknown or "train" not in data:
        msg = f"a dict of splits needs 'train' and may have 'validation' and 'test'; got keys {sorted(data, key=str)}"
        raise ConfigError(msg)


def _from_splits(data: Mapping[str, Any], seed: int, o: InMemoryOptions) -> Dataset:
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


# -- tables and sequences ------------------------------------------------------------------------

TABULAR_REGRESSION = "tabular_regression"
SEQUENCE_CLASSIFICATION = "sequence_classification"


def _task(where: str, x: Any, y: Any, given: str | None) -> tuple[str, str]:
    """The task of the arrays (``given``, else decided from them), and a note when the
    decision was not the obvious one (regression from a float y), for the description."""
    if given is not None:
        return given, ""
    x, y = _array(x), _array(y)
    if x.ndim in (3, 4):
        return IMAGE_CLASSIFICATION, ""
    if x.ndim != 2:
        msg = (
            f"{where}: x must be images, (N, H, W), (N, C, H, W) or (N, H, W, C), or a table (N, F); got "
            f"{x.ndim} dimension{'' if x.ndim == 1 else 's'}, shape {list(x.shape)}; "
            f"for sequences pass task='sequence_classification'"
        )
        raise ConfigError(msg)
    if y.dtype.kind == "f" and y.ndim == 1 and not (is_whole(y) and len(np.unique(y)) <= MAX_AUTO_CLASSES):
        why = (
            "are not all whole numbers"
            if not is_whole(y)
            else f"are more than {MAX_AUTO_CLASSES} distinct whole numbers"
        )
        note = f"; regression decided from y (its floats {why}); pass task='tabular_classification' to classify"
        return TABULAR_REGRESSION, note
    return "tabular_classification", ""


def _shape_name(x: np.ndarray) -> str:
    """The layout ``x``'s shape suggests, for an error naming it."""
    if x.ndim == 4:
        return "(N, C, H, W)" if x.shape[1] in _CHANNELS and x.shape[3] not in _CHANNELS else "(N, H, W, C)"
    names = {1: "(N,)", 2: "(N, F)", 3: "(N, C, L)"}
    return names.get(x.ndim, f"{x.ndim} dimensions, shape")


def _table_arrays(where: str, x: Any, y: Any, task: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as float64 (N, F) or (N, C, L) and ``y`` as given, or a ConfigError naming the problem."""
    x, y = _array(x), _array(y)
    if x.dtype.kind not in "biuf":
        msg = f"{where}: x must hold numbers, got dtype {x.dtype}"
        raise ConfigError(msg)
    if task == SEQUENCE_CLASSIFICATION:
        if x.ndim == 2:
            x = x[:, None, :]
        elif x.ndim != 3:
            msg = f"{where}: task {task!r} needs x of shape (N, L) or (N, C, L), got {_shape_name(x)} = {list(x.shape)}"
            raise ConfigError(msg)
        elif x.shape[2] <= 4 < x.shape[1]:
            msg = (
                f"{where}: task {task!r} takes channels first, x of shape (N, C, L); {list(x.shape)} looks like "
                f"(N, L, C), {x.shape[2]} channels of length {x.shape[1]}: pass x.transpose(0, 2, 1)"
            )
            raise ConfigError(msg)
    elif x.ndim != 2:
        hint = "x.reshape(-1, 1) for one feature" if x.ndim == 1 else "x.reshape(len(x), -1) to flatten each example"
        msg = f"{where}: task {task!r} needs x of shape (N, F), got {_shape_name(x)} = {list(x.shape)}; use {hint}"
        raise ConfigError(msg)
    if y.ndim != 1:
        msg = f"{where}: y must be one target per example, shape (N,), got shape {list(y.shape)}"
        raise ConfigError(msg)
    if len(x) != len(y):
        msg = f"{where}: x has {len(x)} examples and y has {len(y)} targets"
        raise ConfigError(msg)
    if len(y) == 0:
        msg = f"{where}: no examples"
        raise ConfigError(msg)
    x = x.astype(np.float64)
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        msg = f"{where}: x holds {bad} NaN or infinite values; drop or impute them first"
        raise ConfigError(msg)
    if y.dtype.kind == "O" and all(isinstance(v, str) for v in y):
        y = y.astype(str)
    regression = get_task(task).regression
    if y.dtype.kind not in ("biuf" if regression else "biufU"):
        wanted = "numbers" if regression else "class labels: numbers or strings"
        msg = f"{where}: y must hold {wanted} for task {task!r}, got dtype {y.dtype}"
        raise ConfigError(msg)
    if y.dtype.kind == "f":
        bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        if bad:
            msg = f"{where}: y holds {bad} NaN or infinite values; drop those examples first"
            raise ConfigError(msg)
    return x, y


def _table_or_sequence(
    pairs: dict[str, tuple[Any, Any]], seed: int, o: InMemoryOptions, task: str, note: str, *, from_splits: bool
) -> Dataset:
    """A Dataset of tables or sequences from ``{"data": (x, y)}`` or a dict of splits."""
    regression = get_task(task).regression
    parts = {key: _table_arrays(key, x, y, task) for key, (x, y) in pairs.items()}
    shapes = {key: list(part[0].shape[1:]) for key, part in parts.items()}
    if len({str(s) for s in shapes.values()}) > 1:
        msg = f"the splits' inputs differ in shape: {shapes}"
        raise ConfigError(msg)
    classes = None
    if not regression:  # one mapping for every split: the labels of all of them, sorted
        keys = list(parts)
        try:
            codes, classes = class_codes(np.concatenate([parts[k][1] for k in keys]))
        except TypeError:
            msg = "the splits' labels mix strings and numbers; give labels of one kind"
            raise ConfigError(msg) from None
        ends = np.cumsum([len(parts[k][1]) for k in keys])
        for key, part in zip(keys, np.split(codes, ends[:-1]), strict=True):
            parts[key] = (parts[key][0], part)
        if codes.max() == 0:
            label = classes[0] if classes is not None else 0
            msg = f"the labels hold only one class ({label!r}); a classifier needs two or more"
            raise ConfigError(msg)
    fractions = {"validation": float(o.val_fraction), "test": float(o.test_fraction)}
    if from_splits:
        x, y = parts["train"]
        rng = np.random.default_rng(seed)
        for key in ("validation", "test"):
            if key not in parts:  # held out of the training data, per class when classifying
                held = _held_out(y, fractions[key], rng, regression=regression)
                parts[key] = (x[held], y[held])
                x, y = x[~held], y[~held]
        parts["train"] = (x, y)
        check_parts(
            "the splits",
            tuple(parts[k][1] for k in ("train", "validation", "test")),
            "examples",
            per_class=not regression,
        )
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = (parts[k] for k in ("train", "validation", "test"))
        how = "splits given from Python:"
    else:
        x, y = parts["data"]
        split = split_rows(
            y, regression=regression, val_fraction=fractions["validation"], test_fraction=fractions["test"], seed=seed
        )
        check_parts("data", split, "examples", per_class=not regression)
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = ((x[i], y[i]) for i in split)
        how = f"arrays given from Python: {len(y)}"
    if task == SEQUENCE_CLASSIFICATION:
        (x_train, x_val, x_test), mean, std = standardize_channels(x_train, x_val, x_test)
        show = ", ".join
        normalization: dict[str, Any] = {
            "description": (
                f"per channel (x - mean) / std with mean [{show(f'{m:.6f}' for m in mean)}] and std "
                f"[{show(f'{s:.6f}' for s in std)}] (statistics of the training split)"
            ),
            "mean": mean,
            "std": std,
        }
        one = ", (N, L) taken as one channel" if any(_array(x).ndim == 2 for x, _ in pairs.values()) else ""
        inputs = f"sequences of (C, L) = {tuple(int(d) for d in x_train.shape[1:])}{one}"
    else:
        (x_train, x_val, x_test), columns = standardize_features(x_train, x_val, x_test)
        normalization = {
            "description": "per feature (x - mean) / std, statistics of the training split (in 'columns')",
            "columns": columns,
            "feature_names": [c["name"] for c in columns],
        }
        inputs = f"rows of {x_train.shape[1]} features"
    if regression:
        (y_train, y_val, y_test), target = standardize_target("y", y_train, y_val, y_test)
        normalization["target"] = target
        normalization["description"] += f"; {target_text(target)}"
        num_classes, outputs = 1, "a regression target"
    else:
        num_classes = int(max(part[1].max() for part in parts.values())) + 1
        outputs = f"{num_classes} classes"
    if classes is not None:
        normalization["classes"] = classes
    return Dataset(
        name=NAME,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        normalization=normalization,
        description=f"{how} {inputs}, {outputs}, task {task}{note}",
        task=task,
    )


def _held_out(y: np.ndarray, share: float, rng: np.random.Generator, *, regression: bool) -> np.ndarray:
    """A mask of ``share`` of the examples (of each class when classifying), drawn with ``rng``."""
    held = np.zeros(len(y), dtype=bool)
    groups = [np.arange(len(y))] if regression else [np.flatnonzero(y == label) for label in np.unique(y)]
    for idx in groups:
        held[rng.permutation(idx)[: round(len(idx) * share)]] = True
    return held


def _num_classes(y: np.ndarray) -> int:
    classes = int(y.max()) + 1
    if len(np.unique(y)) < 2:
        msg = f"the labels hold only one class ({int(y[0])}); a classifier needs two or more"
        raise ConfigError(msg)
    return classes


@hookimpl
def register_datasets(register):
    register(NAME, load_in_memory)
