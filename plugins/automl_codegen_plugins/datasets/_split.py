"""Seeded, stratified train/validation/test splits and normalisation shared by datasets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import numpy as np

from automl_codegen import ConfigError
from automl_codegen.evaluation import Dataset
from automl_codegen.options import (
    OptionError,
    PluginOptions,
    finite_number,
    is_integer,
    positive_int,
    structure_options,
)

from ._files import root_path

_O = TypeVar("_O", bound="DatasetOptions")

#: The wording of the sum of the held-out fractions being too large.
TOO_LITTLE_TRAINING = (
    "val_fraction + test_fraction = {total:g} leaves too little training data; keep their sum below 0.9"
)


# -- options -------------------------------------------------------------------------------------


class DatasetOptions(PluginOptions):
    """Base of the datasets' options classes: their messages, worded as the loaders always did.

    Structured by :func:`dataset_options` with the dataset's name as the owner: a bad value
    reads "val_fraction must be between 0 and 1 (exclusive), got 1.0", an unknown name
    "dataset 'mnist' has no option(s) ['foo']; its options: root, val_fraction, limit".
    """

    __slots__ = ()

    invalid_message = "{name} must be {expected}, got {value!r}"
    unknown_message = "dataset {owner!r} has no option(s) {unknown}; its options: {names}"


def check_samples_per_class(num_samples: int, num_classes: int, owner: str) -> None:
    """A generated dataset needs ten examples per class to split and learn from."""
    if num_samples < 10 * num_classes:
        raise OptionError(
            "num_samples={num_samples} is too small for {num_classes} classes (need >= {need})",
            owner=owner,
            num_samples=num_samples,
            num_classes=num_classes,
            need=10 * num_classes,
        )


def held_out(split: str, default: float = 0.2) -> Any:
    """The option field of the share of each class held out for ``split`` ("validation", "test")."""
    return attrs.field(
        default=default, validator=fraction, metadata={"help": f"share of each class held out for {split}, in (0, 1)"}
    )


def dataset_options(cls: type[_O], name: str, options: Mapping[str, Any]) -> _O:
    """``options`` as ``cls``, checked; a ConfigError naming the dataset ``name`` otherwise."""
    return structure_options(cls, options, owner=name)


#: The validator of a held-out share: a number strictly between 0 and 1.
fraction = finite_number(0, 1, low_open=True, high_open=True, expected="between 0 and 1 (exclusive)")
#: The validator of ``limit``: a positive int, or None for every image.
image_limit = positive_int(optional=True, expected="a positive whole number of images")
LIMIT_HELP = "use this many images in all, drawn per class (quick searches); None: every image"
ROOT_HELP = "the data directory; None: $AUTOML_CODEGEN_DATA/<dataset>, else ~/.automl_codegen/data/<dataset>"


def int_if_integer(value: Any) -> Any:
    """The converter of ``limit``: numpy integers (a limit a script computed) as plain ints."""
    return int(value) if is_integer(value) else value


def check_held_out(val_fraction: float, test_fraction: float, owner: str) -> None:
    """An options class's cross-check: the held-out fractions leave enough training data."""
    if val_fraction + test_fraction >= 0.9:
        raise OptionError(TOO_LITTLE_TRAINING, owner=owner, total=val_fraction + test_fraction)


@attrs.frozen(kw_only=True)
class OfficialSplitOptions(DatasetOptions):
    """The options of a dataset published as a training and a test set (MNIST, CIFAR)."""

    root: str | os.PathLike[str] | None = attrs.field(default=None, validator=root_path, metadata={"help": ROOT_HELP})
    val_fraction: float = attrs.field(
        default=0.1,
        validator=fraction,
        metadata={"help": "share of each class of the official training set held out for validation, in (0, 1)"},
    )
    limit: int | None = attrs.field(
        default=None, converter=int_if_integer, validator=image_limit, metadata={"help": LIMIT_HELP}
    )


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Each share in (0, 1) and their sum below 0.9 (for direct callers of the helpers)."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            msg = f"{name} must be between 0 and 1 (exclusive), got {value!r}"
            raise ConfigError(msg)
    if val_fraction + test_fraction >= 0.9:
        raise ConfigError(TOO_LITTLE_TRAINING.format(total=val_fraction + test_fraction))


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
    scale: float = 1.0,
) -> Dataset:
    """A Dataset from whole arrays: stratified split, then the training set's statistics.

    ``preprocessing`` names what was done to raw inputs before standardisation (for
    the generated code's docstring), e.g. "pixel values 0..16 divided by 16"; ``scale``
    is that division as a number, for the generated code's ``preprocess`` function.
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
        normalization={
            "description": f"{steps}(x - {mean:.6f}) / {std:.6f}",
            # Absent means 1: data given from Python keeps the fingerprint its runs recorded.
            **({"scale": scale} if scale != 1.0 else {}),
            "mean": mean,
            "std": std,
        },
        description=description,
    )


def standardize(x_train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    """Scale every array by the training set's mean and std (one scalar each)."""
    mean = float(x_train.mean())
    std = float(x_train.std()) or 1.0
    arrays = [((a - mean) / std).astype(np.float32) for a in (x_train, *others)]
    return arrays, mean, std


# -- images read from files: limits, held-out parts and per-channel statistics ----------------


def stratified_subset(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` labels drawn per class in the classes' proportions.

    Counts are rounded by largest remainder, so they add up to ``size`` exactly.
    """
    if size >= len(y):
        return np.arange(len(y))
    labels, counts = np.unique(y, return_counts=True)
    exact = counts * size / len(y)
    take = np.floor(exact).astype(int)
    # Stable sort: equal remainders go to the lower label, so the result is reproducible.
    for i in np.argsort(-(exact - take), kind="stable")[: size - take.sum()]:
        take[i] += 1
    parts = [rng.permutation(np.flatnonzero(y == label))[:n] for label, n in zip(labels, take, strict=True)]
    return np.sort(np.concatenate(parts))


def stratified_holdout(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (kept, held out), ``fraction`` of each class held out."""
    kept: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_held = round(len(idx) * fraction)
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def channel_statistics(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 ``(N, C, H, W)`` images scaled to 0..1.

    Counted from a histogram of the 256 byte values, so the statistics are exact and no
    float copy of the whole training set is made.
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    means: list[float] = []
    stds: list[float] = []
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float(counts @ values / total)
        var = max(float(counts @ values**2 / total) - mean * mean, 0.0)
        means.append(mean)
        # A constant channel (every pixel equal) is only shifted, not divided by zero.
        stds.append(float(np.sqrt(var)) or 1.0)
    return means, stds


def normalize_images(x: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` -> float32 ``(x / 255 - mean[c]) / std[c]``."""
    out = x.astype(np.float32)
    for c, (m, s) in enumerate(zip(mean, std, strict=True)):
        out[:, c] /= 255.0
        out[:, c] -= m
        out[:, c] /= s
    return out


def image_dataset(
    name: str,
    parts: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    num_classes: int,
    seed: int,
    description: str,
    how_to_grow: str,
    augment: bool = False,
) -> Dataset:
    """A Dataset from uint8 images already split into "train", "val" and "test".

    Each channel is standardised by the training split's statistics, which are recorded
    in ``normalization`` together with the split seed. ``how_to_grow`` ends the error
    raised when a split is empty ("raise limit"). ``augment``: whether random crops and
    flips suit these images (:attr:`Dataset.augment`).
    """
    sizes = {key: len(y) for key, (_, y) in parts.items()}
    if min(sizes.values()) == 0:
        msg = (
            f"{name}: the split leaves {sizes['train']} training, {sizes['val']} validation and "
            f"{sizes['test']} test images; every part needs at least one, so {how_to_grow}"
        )
        raise ConfigError(msg)
    mean, std = channel_statistics(parts["train"][0])
    show = ", ".join
    normalization = {
        "description": (
            f"pixel values 0..255 divided by 255, then per channel (x - mean) / std with "
            f"mean [{show(f'{m:.6f}' for m in mean)}] and std [{show(f'{s:.6f}' for s in std)}] "
            f"(statistics of the training split, split seed {seed})"
        ),
        "scale": 255.0,
        "mean": mean,
        "std": std,
        "split_seed": seed,
    }
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (parts[k] for k in ("train", "val", "test"))
    return Dataset(
        name=name,
        x_train=normalize_images(x_train, mean, std),
        y_train=y_train.astype(np.int64),
        x_val=normalize_images(x_val, mean, std),
        y_val=y_val.astype(np.int64),
        x_test=normalize_images(x_test, mean, std),
        y_test=y_test.astype(np.int64),
        num_classes=num_classes,
        normalization=normalization,
        description=description,
        augment=augment,
    )


def seeded_generators(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one seed (subsampling, then splitting)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def split_official(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    val_fraction: float,
    limit: int | None,
    seed: int,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Parts for a dataset published with a training and a test set, and how they were made.

    The official test set stays the test set; validation is ``val_fraction`` of each
    class of the official training set. ``limit`` keeps that many images in all, drawn
    per class, the training and test sets keeping their published proportions.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    for part, labels in (("training", y_train), ("test", y_test)):
        if not len(labels):  # the split below would fail on it with a numpy message
            msg = f"the official {part} set holds no images: its files are empty or damaged; download them again"
            raise ConfigError(msg)
    subset_rng, split_rng = seeded_generators(seed, 2)
    how = f"validation: {val_fraction * 100:g}% of each class of the official training set; test: the official test set"
    if limit is not None and limit < len(y_train) + len(y_test):
        n_train = round(limit * len(y_train) / (len(y_train) + len(y_test)))
        keep_train = stratified_subset(y_train, n_train, subset_rng)
        keep_test = stratified_subset(y_test, limit - n_train, subset_rng)
        x_train, y_train = x_train[keep_train], y_train[keep_train]
        x_test, y_test = x_test[keep_test], y_test[keep_test]
        how += f"; limit {limit}: {n_train} training and {limit - n_train} test images, drawn per class"
    kept, held = stratified_holdout(y_train, val_fraction, split_rng)
    parts = {"train": (x_train[kept], y_train[kept]), "val": (x_train[held], y_train[held]), "test": (x_test, y_test)}
    return parts, f"{how}; split seed {seed}"


# -- tables and sequences: splits, class labels, per-feature and per-target statistics --------

#: Whole-number targets with at most this many distinct values are classes when the task is
#: decided from the data (a csv target, a float y given from Python); more are a regression.
MAX_AUTO_CLASSES = 20


def random_split(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) of ``n`` rows, shuffled with ``seed`` (regression targets)."""
    check_fractions(val_fraction, test_fraction)
    idx = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    parts = (idx[n_test + n_val :], idx[n_test : n_test + n_val], idx[:n_test])
    return tuple(np.sort(p) for p in parts)  # type: ignore[return-value]


def split_rows(
    y: np.ndarray, *, regression: bool, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices: per class for labels, at random for regression targets."""
    if regression:
        return random_split(len(y), val_fraction, test_fraction, seed)
    return stratified_split(y, val_fraction, test_fraction, seed)


def check_parts(owner: str, parts: tuple[np.ndarray, ...], unit: str = "rows", *, per_class: bool = False) -> None:
    """Every split holds at least one example, or a ConfigError that says how many each got.

    ``per_class``: the parts were split per class, each class rounded on its own (many
    small classes can leave nothing to hold out).
    """
    train, val, test = (len(p) for p in parts)
    if min(train, val, test) == 0:
        how = " per class" if per_class else ""
        msg = (
            f"{owner}: too few {unit} to split{how}: {train + val + test} {unit} leave {train} for training, {val} "
            f"for validation and {test} for test; every part needs at least one, so add {unit} or change "
            f"val_fraction/test_fraction"
        )
        raise ConfigError(msg)


def json_label(value: Any) -> Any:
    """A class label as a plain JSON value: whole numbers as int, other numbers as float."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return str(value)


def class_codes(labels: np.ndarray) -> tuple[np.ndarray, list[Any] | None]:
    """``labels`` as int64 codes 0..K-1 and the original label per code.

    The classes are the sorted distinct labels; they are None when the labels already
    are the whole numbers 0..K-1 (nothing to map back).
    """
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    if classes.dtype.kind in "iuf" and np.array_equal(classes, np.arange(len(classes))):
        return codes, None
    return codes, [json_label(c) for c in classes]


def is_whole(values: np.ndarray) -> bool:
    """Every value a finite whole number (a float array that holds labels)."""
    if values.dtype.kind in "iu":
        return True
    return values.dtype.kind == "f" and bool(np.all(np.isfinite(values) & (values == np.round(values))))


def standardize_target(name: str, y_train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Regression targets as float32 ``(y - mean) / std`` of the training split, and the record
    ``{"name", "mean", "std"}`` (``normalization["target"]``; std 0 counts as 1)."""
    train = np.asarray(y_train, dtype=np.float64)
    mean = float(train.mean())
    std = float(train.std()) or 1.0
    arrays = [((np.asarray(y, dtype=np.float64) - mean) / std).astype(np.float32) for y in (train, *others)]
    return arrays, {"name": name, "mean": mean, "std": std}


def target_text(target: dict[str, Any]) -> str:
    """``target (y - 12.5) / 3`` (``y + 0.25`` for a negative mean), for a description."""
    mean, std = target["mean"], target["std"]
    shift = f"y + {-mean:.6g}" if mean < 0 else f"y - {mean:.6g}"
    return f"target ({shift}) / {std:.6g}"


def numeric_column(name: str, train: np.ndarray, *, missing: int = 0) -> dict[str, Any]:
    """The record of a numeric feature from its training values (float64, NaN where missing).

    ``fill`` is the training median (what replaces a missing value), ``mean`` and ``std``
    standardise the filled values (std 0 counts as 1); ``missing`` counts the values filled.
    """
    present = train[~np.isnan(train)]
    fill = float(np.median(present))
    filled = np.where(np.isnan(train), fill, train)
    return {
        "name": name,
        "kind": "numeric",
        "fill": fill,
        "missing": int(missing),
        "mean": float(filled.mean()),
        "std": float(filled.std()) or 1.0,
    }


def apply_numeric(column: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """float64 values (NaN where missing) filled and standardised as ``column`` records, as float32."""
    filled = np.where(np.isnan(values), column["fill"], values)
    return ((filled - column["mean"]) / column["std"]).astype(np.float32)


def standardize_features(x_train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """(N, F) arrays standardised per feature by the training split, and the features' records
    (named ``x0``, ``x1``, ... in the format of :func:`numeric_column`)."""
    train = np.asarray(x_train, dtype=np.float64)
    columns = [numeric_column(f"x{j}", train[:, j]) for j in range(train.shape[1])]
    arrays = []
    for x in (train, *others):
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(x.shape, dtype=np.float32)
        for j, column in enumerate(columns):
            out[:, j] = apply_numeric(column, x[:, j])
        arrays.append(out)
    return arrays, columns


def standardize_channels(x_train: np.ndarray, *others: np.ndarray) -> tuple[list[np.ndarray], list[float], list[float]]:
    """(N, C, L) arrays standardised per channel by the training split: arrays, means, stds."""
    train = np.asarray(x_train, dtype=np.float64)
    mean = [float(m) for m in train.mean(axis=(0, 2))]
    std = [float(s) or 1.0 for s in train.std(axis=(0, 2))]
    m, s = np.array(mean)[None, :, None], np.array(std)[None, :, None]
    arrays = [((np.asarray(x, dtype=np.float64) - m) / s).astype(np.float32) for x in (train, *others)]
    return arrays, mean, std
