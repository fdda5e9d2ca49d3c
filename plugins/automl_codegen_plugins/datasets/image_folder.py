"""Your own images: one folder per class of PNG or JPEG files, decoded with Pillow.

::

    root/
        cat/  0001.png  0002.jpg ...
        dog/  a.jpeg ...

Classes are the folder names in sorted order (label 0 is the first). Nothing is
downloaded; Pillow is imported only when the images are decoded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.evaluation import Dataset
from automl_codegen.options import check, is_integer

from ._files import data_directory, root_path
from ._split import (
    LIMIT_HELP,
    ROOT_HELP,
    DatasetOptions,
    check_held_out,
    dataset_options,
    held_out,
    image_dataset,
    image_limit,
    int_if_integer,
    seeded_generators,
    stratified_split,
    stratified_subset,
)

NAME = "image-folder"
SUFFIXES = (".png", ".jpg", ".jpeg")
EXPECTED = (
    "It should hold one folder per class, named after the class, each with that class's PNG or JPEG "
    "images (.png, .jpg, .jpeg)."
)


#: Limits checked before any pixel is decoded: a network's input side, a source image's
#: pixels (a 144-megapixel PNG was decoded whole before), and the decoded dataset's bytes.
MAX_SIDE = 4096
MAX_SOURCE_PIXELS = 50_000_000
MAX_DATASET_BYTES = 8 << 30


def _is_image_size(value: Any) -> bool:
    pair = [value, value] if is_integer(value) else value
    return isinstance(pair, list | tuple) and len(pair) == 2 and all(is_integer(v) and 1 <= v <= MAX_SIDE for v in pair)


def _size_pair(value: Any) -> Any:
    # [height, width] as a tuple (hashable, frozen); anything else is left to the validator.
    return tuple(value) if isinstance(value, list) and _is_image_size(value) else value


@attrs.frozen(kw_only=True)
class ImageFolderOptions(DatasetOptions):
    """The options of ``image-folder`` (see :func:`load_image_folder`)."""

    root: str | os.PathLike[str] | None = attrs.field(default=None, validator=root_path, metadata={"help": ROOT_HELP})
    image_size: int | tuple[int, int] | None = attrs.field(
        default=None,
        converter=_size_pair,
        validator=check(_is_image_size, f"pixels square or [height, width], from 1 to {MAX_SIDE}", optional=True),
        metadata={"help": "resize every image to N pixels square or to [height, width]; None: keep the size"},
    )
    channels: int | None = attrs.field(
        default=None,
        validator=check(
            lambda v: is_integer(v) and v in (1, 3),
            "1 (grey-scale) or 3 (RGB)",
            optional=True,
        ),
        metadata={"help": "1 (grey-scale) or 3 (RGB); None: 1 when every image is grey-scale, else 3"},
    )
    val_fraction: float = held_out("validation")
    test_fraction: float = held_out("test")
    limit: int | None = attrs.field(
        default=None, converter=int_if_integer, validator=image_limit, metadata={"help": LIMIT_HELP}
    )

    def __attrs_post_init__(self) -> None:
        check_held_out(self.val_fraction, self.test_fraction, type(self).__name__)


def load_image_folder(*, seed: int = 0, **options: Any) -> Dataset:
    """Images of ``root/<class>/`` as (N, channels, height, width) float32.

    Args:
        seed: seeds the train/validation/test split and the ``limit`` sample.
        options: :class:`ImageFolderOptions`:

            * ``root``: the folder of class folders (default ``$AUTOML_CODEGEN_DATA/image-folder``,
              else ``~/.automl_codegen/data/image-folder``).
            * ``image_size``: resize every image to this many pixels square, or to
              ``[height, width]``. By default the images keep their size, which must then be
              the same for all.
            * ``channels``: 1 (grey-scale) or 3 (RGB); images are converted. By default 1 when
              every image is grey-scale, else 3.
            * ``val_fraction``, ``test_fraction``: share of each class held out for validation
              and test (default 0.2 each; their sum below 0.9).
            * ``limit``: use this many images in all, drawn per class (for quick searches).

    Raises:
        ConfigError: an unknown option or a bad value (named), or unreadable images.
    """
    o = dataset_options(ImageFolderOptions, NAME, options)
    root, channels, limit = o.root, o.channels, o.limit
    val_fraction, test_fraction = float(o.val_fraction), float(o.test_fraction)
    size = _check_image_size(o.image_size)
    folder, classes, files, labels = _list_images(root)
    how = f"split per class: validation {val_fraction * 100:g}%, test {test_fraction * 100:g}%"
    if limit is not None and limit < len(files):
        (subset_rng,) = seeded_generators(seed, 1)
        keep = stratified_subset(labels, limit, subset_rng)
        files, labels = [files[i] for i in keep], labels[keep]
        how += f"; limit {limit} images, drawn per class"
    x, grey = _decode(files, size, channels)
    if size is not None:
        how += f"; resized to {size[0]}x{size[1]} (height x width)"
    train, val, test = stratified_split(labels, val_fraction, test_fraction, seed)
    parts = {"train": (x[train], labels[train]), "val": (x[val], labels[val]), "test": (x[test], labels[test])}
    sizes = ", ".join(f"{len(parts[k][1])} {k}" for k in ("train", "val", "test"))
    shown = ", ".join(classes[:20]) + (f" and {len(classes) - 20} more" if len(classes) > 20 else "")
    colour = "grey-scale" if x.shape[1] == 1 else "RGB"
    if channels is not None and grey != (channels == 1):
        how += f"; converted to {colour}"
    return image_dataset(
        NAME,
        parts,
        num_classes=len(classes),
        seed=seed,
        description=(
            f"image folder {folder}: {x.shape[2]}x{x.shape[3]} {colour} images, {len(classes)} classes "
            f"({shown}) ({sizes}); {how}; split seed {seed}"
        ),
        how_to_grow="add images, or raise limit, val_fraction or test_fraction",
        # Colour folders are usually photos, where crops and flips help; grey-scale ones are
        # as often scans of text or digits, where a flip changes the class.
        augment=x.shape[1] == 3,
    )


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
    """``image_size`` (already checked) as (height, width), or None."""
    if image_size is None:
        return None
    height, width = (image_size, image_size) if is_integer(image_size) else image_size
    return int(height), int(width)


def _list_images(root: str | os.PathLike[str] | None) -> tuple[Path, list[str], list[Path], np.ndarray]:
    """The folder, the sorted class names, every image file and its label."""
    directory = data_directory(NAME, root)
    if not directory.path.is_dir():
        raise directory.missing(EXPECTED)
    folders = sorted(p for p in directory.path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        found = f"only the class folder {folders[0].name}/" if folders else "no class folders"
        msg = (
            f"{NAME}: {directory.path} ({directory.origin}) has {found}; a classifier needs at least 2 classes. "
            f"{EXPECTED}"
        )
        raise ConfigError(msg)
    files: list[Path] = []
    labels: list[int] = []
    for label, class_folder in enumerate(folders):
        images = sorted(
            p
            for p in class_folder.iterdir()
            if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not images:
            msg = (
                f"{NAME}: the class folder {class_folder} holds no PNG or JPEG images (.png, .jpg, .jpeg); "
                f"add some, or remove the folder"
            )
            raise ConfigError(msg)
        files += images
        labels += [label] * len(images)
    return directory.path, [p.name for p in folders], files, np.asarray(labels, dtype=np.int64)


def _decode(files: list[Path], size: tuple[int, int] | None, channels: int | None) -> tuple[np.ndarray, bool]:
    """uint8 (N, C, H, W) images, and whether every one of them was grey-scale."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        msg = (
            f"{NAME} decodes images with Pillow, which is not installed: "
            f"pip install 'automl-codegen[images]' (or pip install pillow)"
        )
        raise ConfigError(msg) from None
    mode = "L" if channels == 1 else "RGB"
    out: np.ndarray | None = None
    first: Path = files[0]
    all_grey = True
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:  # reads the header only
                if image.width * image.height > MAX_SOURCE_PIXELS:
                    msg = (
                        f"{NAME}: {path} is {image.height}x{image.width} pixels, more than "
                        f"{MAX_SOURCE_PIXELS:,}; downscale it first (a network sees at most {MAX_SIDE} a side)"
                    )
                    raise ConfigError(msg)
                image.load()  # decode now, so a truncated file fails here and is named
                all_grey = all_grey and (image.mode in ("1", "L", "LA", "I", "F") or image.mode.startswith("I;16"))
                converted = image.convert(mode)
        except ConfigError:
            raise
        except UnidentifiedImageError:
            msg = f"{NAME}: cannot read {path}: Pillow does not recognise it as an image; replace or remove the file"
            raise ConfigError(msg) from None
        except Exception as exc:
            msg = f"{NAME}: cannot read {path} ({type(exc).__name__}: {exc}); replace or remove the file"
            raise ConfigError(msg) from exc
        height, width = converted.height, converted.width
        if out is None:
            target = size or (height, width)
            nbytes = len(files) * target[0] * target[1] * len(mode)
            if nbytes > MAX_DATASET_BYTES or max(target) > MAX_SIDE:
                msg = (
                    f"{NAME}: {len(files)} images of {target[0]}x{target[1]} would take {nbytes / 2**30:.1f} GiB "
                    f"(at most {MAX_DATASET_BYTES >> 30} GiB, {MAX_SIDE} pixels a side); pass a smaller "
                    f"image_size (--dataset-option image_size=64)"
                )
                raise ConfigError(msg)
            out = np.empty((len(files), *target, len(mode)), dtype=np.uint8)
        elif size is None and (height, width) != out.shape[1:3]:
            msg = (
                f"{NAME}: {path} is {height}x{width} pixels (height x width) but {first} is "
                f"{out.shape[1]}x{out.shape[2]}; to resize every image to one size pass image_size "
                f"(--dataset-option image_size=32, or image_size=[height,width])"
            )
            raise ConfigError(msg)
        if (height, width) != out.shape[1:3]:
            converted = converted.resize((out.shape[2], out.shape[1]), Image.Resampling.BILINEAR)
        out[i] = np.asarray(converted).reshape(out.shape[1:])
    assert out is not None  # files is never empty
    if channels is None and all_grey:
        out = out[..., :1]  # grey converted to RGB repeats one value three times
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), all_grey


load_image_folder.Options = ImageFolderOptions  # type: ignore[attr-defined]


@hookimpl
def register_datasets(register):
    register(NAME, load_image_folder)
