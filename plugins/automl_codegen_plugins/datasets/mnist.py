"""MNIST and Fashion-MNIST, read from their published idx files in a local directory.

Nothing is downloaded. The directory holds the four idx files, gzipped or not::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

An idx file is a big-endian header (magic number 0x00000803 for images, 0x00000801 for
labels; then one uint32 per dimension) followed by the uint8 values. Every size is
checked against the header, so a truncated download is caught and named.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset

from ._files import data_directory
from ._split import OfficialSplitOptions, dataset_options, image_dataset, split_official

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
#: split -> (images file, labels file), without the optional ".gz"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NUM_CLASSES = 10


@attrs.frozen
class _Release:
    name: str
    title: str
    what: str


MNIST = _Release("mnist", "MNIST", "grey-scale handwritten digits")
FASHION_MNIST = _Release("fashion-mnist", "Fashion-MNIST", "grey-scale images of clothing")


@attrs.frozen(kw_only=True)
class MnistOptions(OfficialSplitOptions):
    """The options of ``mnist`` and ``fashion-mnist`` (see :func:`load_idx_release`)."""


def load_mnist(*, seed: int = 0, **options: Any) -> Dataset:
    """MNIST as (N, 1, 28, 28) float32; see :func:`load_idx_release` for the options."""
    return load_idx_release(MNIST, seed=seed, **options)


def load_fashion_mnist(*, seed: int = 0, **options: Any) -> Dataset:
    """Fashion-MNIST as (N, 1, 28, 28) float32; see :func:`load_idx_release` for the options."""
    return load_idx_release(FASHION_MNIST, seed=seed, **options)


load_mnist.Options = MnistOptions  # type: ignore[attr-defined]
load_fashion_mnist.Options = MnistOptions  # type: ignore[attr-defined]


def load_idx_release(release: _Release, *, seed: int = 0, **options: Any) -> Dataset:
    """Read the four idx files of ``release`` and split them.

    Args:
        release: which dataset (MNIST or Fashion-MNIST); they share the file names.
        seed: seeds the validation split and the ``limit`` sample.
        options: :class:`MnistOptions`:

            * ``root``: the directory with the idx files (default ``$AUTOML_CODEGEN_DATA/<name>``,
              else ``~/.automl_codegen/data/<name>``).
            * ``val_fraction``: share of each class of the official training set held out for
              validation (default 0.1). The official test set stays the test set.
            * ``limit``: use this many images in all, drawn per class, training and test keeping
              their published proportions (for quick searches).

    Raises:
        ConfigError: an unknown option or a bad value (named), or missing or damaged files.
    """
    o = dataset_options(MnistOptions, release.name, options)
    root, val_fraction, limit = o.root, float(o.val_fraction), o.limit
    paths = _find_files(release, root)
    arrays = {split: _read_pair(release, *paths[split]) for split in FILES}
    (x_train, _), (x_test, _) = arrays["train"], arrays["test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        msg = (
            f"{release.title}: the training images are {_dims(x_train.shape[2:])} pixels but the test images "
            f"{_dims(x_test.shape[2:])}; all four files must come from the same release"
        )
        raise ConfigError(msg)
    parts, how = split_official(arrays["train"], arrays["test"], val_fraction=val_fraction, limit=limit, seed=seed)
    sizes = ", ".join(f"{len(parts[k][1])} {k}" for k in ("train", "val", "test"))
    return image_dataset(
        release.name,
        parts,
        num_classes=NUM_CLASSES,
        seed=seed,
        description=(
            f"{release.title}: {_dims(x_train.shape[2:])} {release.what}, {NUM_CLASSES} classes, read from "
            f"{paths['train'][0].parent} ({sizes}); {how}"
        ),
        how_to_grow="raise limit or val_fraction",
    )


def _find_files(release: _Release, root: str | os.PathLike[str] | None) -> dict[str, tuple[Path, Path]]:
    directory = data_directory(release.name, root)
    names = [name for pair in FILES.values() for name in pair]
    expected = (
        f"It should hold the four {release.title} idx files, gzipped or not: {', '.join(names[:-1])} and "
        f"{names[-1]} (each may end in .gz)."
    )
    if not directory.path.is_dir():
        raise directory.missing(expected)
    found: dict[str, Path] = {}
    for name in names:
        for candidate in (directory.path / name, directory.path / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
    missing = [f"{name}[.gz]" for name in names if name not in found]
    if missing:
        raise directory.missing(expected, missing)
    return {split: (found[images], found[labels]) for split, (images, labels) in FILES.items()}


def _read_pair(release: _Release, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 1, H, W) and labels (N,) from one images file and one labels file."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        msg = (
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            f"both must come from the same {release.title} release"
        )
        raise ConfigError(msg)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if len(bad):
        msg = (
            f"{labels_path} holds label {labels[bad[0]]} (at position {bad[0]}), but {release.title} labels are "
            f"0 to {NUM_CLASSES - 1}; download it again"
        )
        raise ConfigError(msg)
    return images[:, None, :, :], labels


#: Decompressed bytes per compressed byte an idx file may reach, and its largest size.
MAX_GZIP_RATIO = 100
MAX_IDX_BYTES = 4 << 30


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an idx file (gzipped or not) whose header must start with ``magic``."""
    data, after = _read_bytes(path)
    kinds = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
    kind = kinds[magic]
    if len(data) < 4:
        msg = f"{path} is truncated: {len(data)} bytes{after}, too few for an idx header; download it again"
        raise ConfigError(msg)
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        msg = f"{path} is not an idx {kind} file: it starts with 0x{found:08X}, not 0x{magic:08X}"
        if found in kinds:
            msg += f" (0x{found:08X} starts an idx {kinds[found]} file: are two files swapped?)"
        raise ConfigError(msg + "; download it again")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        msg = (
            f"{path} is truncated: {len(data)} bytes{after}, too few for its {header}-byte idx header; "
            f"download it again"
        )
        raise ConfigError(msg)
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    what = f"{dims[0]} {kind}" + (f" of {_dims(dims[1:])}" if len(dims) > 1 else "")
    if len(data) < expected:
        msg = (
            f"{path} is truncated: its header announces {what} ({expected} bytes in all) but it holds "
            f"{len(data)} bytes{after}; download it again"
        )
        raise ConfigError(msg)
    if len(data) > expected:
        msg = (
            f"{path} holds {len(data)} bytes{after}, {len(data) - expected} more than the {expected} its header "
            f"announces ({what}); it is not an idx file as published, download it again"
        )
        raise ConfigError(msg)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_bytes(path: Path) -> tuple[bytes, str]:
    """The file's bytes, decompressed when they are gzip (whatever the name says)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    if raw[:2] != b"\x1f\x8b":
        return raw, ""
    # Published idx files shrink about 5x; a file that would expand far more is refused
    # before it fills the memory (a 2 MB file once expanded to 3.9 GB).
    cap = min(max(MAX_GZIP_RATIO * len(raw), 64 << 20), MAX_IDX_BYTES)
    try:
        data = _gunzip(raw, cap)
    except (OSError, EOFError, zlib.error) as exc:
        plain = path.name.removesuffix(".gz")
        msg = f"{path} is not a readable gzip file ({exc}); download it again, or put the uncompressed {plain} there"
        raise ConfigError(msg) from exc
    if data is None:
        msg = (
            f"{path} expands to more than {cap:,} bytes from {len(raw):,}: not an idx file as published; "
            f"download it again"
        )
        raise ConfigError(msg)
    return data, " after decompression"


def _gunzip(raw: bytes, cap: int) -> bytes | None:
    """``raw`` decompressed (every gzip member), or None once it passes ``cap`` bytes."""
    out, rest = bytearray(), raw
    while rest:
        stream = zlib.decompressobj(wbits=31)
        out += stream.decompress(rest, cap + 1 - len(out))
        if len(out) > cap:
            return None
        if not stream.eof:
            msg = "Compressed file ended before the end-of-stream marker was reached"
            raise EOFError(msg)
        rest = stream.unused_data
    return bytes(out)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


@hookimpl
def register_datasets(register):
    register("mnist", load_mnist)
    register("fashion-mnist", load_fashion_mnist)
