"""CIFAR-10 and CIFAR-100, read from the pickled batches of their official python archives.

Nothing is downloaded. Unpack ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz``
into the data directory, which then holds ``cifar-10-batches-py/`` (``data_batch_1`` to
``data_batch_5``, ``test_batch``) or ``cifar-100-python/`` (``train``, ``test``).

The batches are pickles, and unpickling runs whatever a file names. They are read with an
unpickler that resolves only the few numpy names a batch of arrays, lists and bytes
needs, and refuses the file before anything else it names could run.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset
from automl_codegen.options import one_of

from ._files import data_directory
from ._split import OfficialSplitOptions, dataset_options, image_dataset, split_official

IMAGE_SHAPE = (3, 32, 32)
LABEL_MODES = {"fine": 100, "coarse": 20}
LABEL_MODE_MESSAGE = "{name} must be 'fine' (100 classes) or 'coarse' (20 superclasses), got {value!r}"
OFFICIAL = "use the files of the official archive"


@attrs.frozen
class _Release:
    name: str
    title: str
    folder: str
    archive: str
    train: tuple[str, ...]
    test: tuple[str, ...]


CIFAR10 = _Release(
    "cifar10",
    "CIFAR-10",
    "cifar-10-batches-py",
    "cifar-10-python.tar.gz",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("test_batch",),
)
CIFAR100 = _Release("cifar100", "CIFAR-100", "cifar-100-python", "cifar-100-python.tar.gz", ("train",), ("test",))


@attrs.frozen(kw_only=True)
class Cifar10Options(OfficialSplitOptions):
    """The options of ``cifar10`` (see :func:`load_cifar10`)."""


@attrs.frozen(kw_only=True)
class Cifar100Options(OfficialSplitOptions):
    """The options of ``cifar100`` (see :func:`load_cifar100`)."""

    label_mode: str = attrs.field(
        default="fine",
        validator=one_of(
            LABEL_MODES, message="{name} must be 'fine' (100 classes) or 'coarse' (20 superclasses), got {value!r}"
        ),
        metadata={"help": "fine (100 classes) or coarse (the 20 superclasses)"},
    )


def load_cifar10(*, seed: int = 0, **options: Any) -> Dataset:
    """CIFAR-10 as (N, 3, 32, 32) float32, 10 classes.

    Args:
        seed: seeds the validation split and the ``limit`` sample.
        options: :class:`Cifar10Options`:

            * ``root``: the directory holding ``cifar-10-batches-py/`` (or the batches
              themselves); default ``$AUTOML_CODEGEN_DATA/cifar10``, else
              ``~/.automl_codegen/data/cifar10``.
            * ``val_fraction``: share of each class of the official training set held out for
              validation (default 0.1). The official test set stays the test set.
            * ``limit``: use this many images in all, drawn per class, training and test keeping
              their published proportions (for quick searches).

    Raises:
        ConfigError: an unknown option or a bad value (named), or missing or damaged files.
    """
    o = dataset_options(Cifar10Options, CIFAR10.name, options)
    return _load(CIFAR10, "labels", 10, seed=seed, options=o)


def load_cifar100(*, seed: int = 0, **options: Any) -> Dataset:
    """CIFAR-100 as (N, 3, 32, 32) float32 with its 100 fine or 20 coarse classes.

    Args:
        seed: as for :func:`load_cifar10`.
        options: :class:`Cifar100Options`: ``root`` (the directory holding
            ``cifar-100-python/``, or its ``train`` and ``test``; default
            ``$AUTOML_CODEGEN_DATA/cifar100``, else ``~/.automl_codegen/data/cifar100``),
            ``val_fraction`` and ``limit`` as for :func:`load_cifar10`, and ``label_mode``:
            ``"fine"`` (100 classes, the default) or ``"coarse"`` (the 20 superclasses).
    """
    o = dataset_options(Cifar100Options, CIFAR100.name, options)
    return _load(CIFAR100, f"{o.label_mode}_labels", LABEL_MODES[o.label_mode], seed=seed, options=o)


load_cifar10.Options = Cifar10Options  # type: ignore[attr-defined]
load_cifar100.Options = Cifar100Options  # type: ignore[attr-defined]


def _load(release: _Release, labels_key: str, num_classes: int, *, seed: int, options: OfficialSplitOptions) -> Dataset:
    root, val_fraction, limit = options.root, float(options.val_fraction), options.limit
    folder = _find_folder(release, root)
    train = _concatenate([read_batch(folder / name, labels_key, num_classes) for name in release.train])
    test = _concatenate([read_batch(folder / name, labels_key, num_classes) for name in release.test])
    parts, how = split_official(train, test, val_fraction=val_fraction, limit=limit, seed=seed)
    sizes = ", ".join(f"{len(parts[k][1])} {k}" for k in ("train", "val", "test"))
    title = f"{release.title} ({labels_key.replace('_', ' ')})" if release is CIFAR100 else release.title
    return image_dataset(
        release.name,
        parts,
        num_classes=num_classes,
        seed=seed,
        description=f"{title}: 32x32 colour images, {num_classes} classes, read from {folder} ({sizes}); {how}",
        how_to_grow="raise limit or val_fraction",
        # Photos of objects: a shifted or mirrored car is still a car.
        augment=True,
    )


def _find_folder(release: _Release, root: str | os.PathLike[str] | None) -> Path:
    """The folder with the batches: ``root/<archive folder>``, or ``root`` when it holds them."""
    directory = data_directory(release.name, root)
    names = (*release.train, *release.test)
    listed = f"{names[0]} to {release.train[-1]} and {names[-1]}" if len(names) > 2 else " and ".join(names)
    expected = (
        f"It should hold {release.folder}/ as unpacked from the official python archive {release.archive}: "
        f"the pickled batches {listed}."
    )
    if not directory.path.is_dir():
        raise directory.missing(expected)
    folder = directory.path / release.folder
    if not folder.is_dir():
        if not any((directory.path / name).is_file() for name in names):
            raise directory.missing(expected, [f"{release.folder}/"])
        folder = directory.path
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise directory.missing(expected, missing, path=folder)
    return folder


def _concatenate(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


# -- reading one batch -------------------------------------------------------------------------


class _RefusedError(Exception):
    """A pickle named something outside the allowed set (its ``module.name`` is the message)."""


def _allowed_names() -> dict[tuple[str, str], Any]:
    """What a batch of numpy arrays may name, mapped to this numpy's objects.

    The official files were written by Python 2 with numpy 1 (``numpy.core``); numpy 2
    writes ``numpy._core``. ``scalar`` (a numpy number) and ``_frombuffer`` (pickle
    protocol 5) only rebuild values from bytes; they let re-saved batches load too.
    """
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    scalar = np.float64(0).__reduce__()[0]
    names: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        names[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        names[(f"{core}.multiarray", "scalar")] = scalar
        names[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return names


class _BatchUnpickler(pickle.Unpickler):
    allowed = _allowed_names()

    def find_class(self, module: str, name: str) -> Any:
        # Every global a pickle uses passes through here before it can be called.
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _RefusedError(f"{module}.{name}") from None


def read_batch(path: Path, labels_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels from one pickled CIFAR batch."""
    content = unpickle_batch(path)
    if not isinstance(content, dict):
        msg = (
            f"{path} is not a CIFAR batch: it holds a {type(content).__name__}, not a dict with 'data' and "
            f"'{labels_key}'; {OFFICIAL}"
        )
        raise ConfigError(msg)
    # The official loader reads with encoding="bytes", so the keys are bytes.
    entries = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    absent = [key for key in ("data", labels_key) if key not in entries]
    if absent:
        has = ", ".join(repr(k) for k in sorted(map(str, entries))) or "nothing"
        msg = (
            f"{path} is not a CIFAR batch: it has no {' or '.join(map(repr, absent))} entry (it has {has}); {OFFICIAL}"
        )
        raise ConfigError(msg)
    data, labels = entries["data"], entries[labels_key]
    width = int(np.prod(IMAGE_SHAPE))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == width):
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        msg = f"{path}: 'data' must be a uint8 array of shape (N, {width}), found a {found}; {OFFICIAL}"
        raise ConfigError(msg)
    y = np.asarray(labels)
    if y.ndim != 1 or not (y.size == 0 or np.issubdtype(y.dtype, np.integer)):
        msg = f"{path}: '{labels_key}' must be a list of whole numbers, found a {type(labels).__name__}; {OFFICIAL}"
        raise ConfigError(msg)
    if len(y) != len(data):
        msg = f"{path} holds {len(data)} images but {len(y)} labels in '{labels_key}'; {OFFICIAL}"
        raise ConfigError(msg)
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(bad):
        msg = (
            f"{path} holds label {y[bad[0]]} (at position {bad[0]}) in '{labels_key}', outside 0 to "
            f"{num_classes - 1}; {OFFICIAL}"
        )
        raise ConfigError(msg)
    # Rows are 1024 red, 1024 green, 1024 blue values, each plane row by row.
    return data.reshape(-1, *IMAGE_SHAPE), y.astype(np.int64)


def unpickle_batch(path: Path) -> Any:
    """The object pickled in ``path``, read without running anything but numpy rebuilders."""
    try:
        file = path.open("rb")
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    with file:
        try:
            return _BatchUnpickler(file, encoding="bytes").load()
        except _RefusedError as exc:
            msg = (
                f"refusing to load {path}: it references {exc}, which a CIFAR batch never does ({exc} was not "
                f"run); {OFFICIAL}"
            )
            raise ConfigError(msg) from None
        # A damaged pickle can fail in many ways (UnpicklingError, EOFError, ValueError, ...).
        except Exception as exc:
            msg = (
                f"{path} is not a readable CIFAR batch: the pickle is corrupt or truncated "
                f"({type(exc).__name__}: {exc}); unpack the official archive again"
            )
            raise ConfigError(msg) from exc


@hookimpl
def register_datasets(register):
    register("cifar10", load_cifar10)
    register("cifar100", load_cifar100)
