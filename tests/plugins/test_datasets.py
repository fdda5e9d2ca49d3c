"""Datasets read from local files: MNIST/Fashion-MNIST idx, CIFAR pickles, image folders.

Every test writes its own tiny files in the published formats and reads them back;
nothing is downloaded. Error messages are compared word for word.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import pickle
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from automl_codegen import ConfigError
from automl_codegen.cli import _key_values
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.datasets import cifar, image_folder, mnist

needs_pillow = pytest.mark.skipif(importlib.util.find_spec("PIL") is None, reason="Pillow is not installed")

ELSEWHERE = (
    "Nothing is downloaded; to read {name} from another place pass --dataset-option root=PATH "
    "(dataset_options={{'root': PATH}} in Python) or set AUTOML_CODEGEN_DATA to a folder that contains {name}/."
)
MNIST_EXPECTED = (
    "It should hold the four MNIST idx files, gzipped or not: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may end in .gz)."
)
CIFAR10_EXPECTED = (
    "It should hold cifar-10-batches-py/ as unpacked from the official python archive cifar-10-python.tar.gz: "
    "the pickled batches data_batch_1 to data_batch_5 and test_batch."
)
IMAGES_EXPECTED = (
    "It should hold one folder per class, named after the class, each with that class's PNG or JPEG images "
    "(.png, .jpg, .jpeg)."
)


@pytest.fixture(autouse=True)
def _no_data_home(monkeypatch, tmp_path):
    # Neither the machine's $AUTOML_CODEGEN_DATA nor its ~/.automl_codegen may leak in.
    monkeypatch.delenv("AUTOML_CODEGEN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def error_of(load, **options) -> str:
    with pytest.raises(ConfigError) as info:
        load(**options)
    return str(info.value)


def raw_pixels(x: np.ndarray, normalization: dict) -> np.ndarray:
    """Undo the recorded normalisation: float32 (N, C, H, W) -> the uint8 values read."""
    mean = np.asarray(normalization["mean"])[None, :, None, None]
    std = np.asarray(normalization["std"])[None, :, None, None]
    restored = (x * std + mean) * 255
    np.testing.assert_allclose(restored, np.rint(restored), atol=1e-3)
    return np.rint(restored).astype(np.uint8)


def assert_same(a, b) -> None:
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.normalization == b.normalization


# -- MNIST and Fashion-MNIST ---------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file: 0, 0, type 0x08 (unsigned byte), ndim; big-endian uint32 dims; the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()


def write_mnist(root: Path, *, n_train=60, n_test=20, size=(8, 8), gz=False, seed=0) -> dict:
    """The four idx files with random images and labels 0..9 in turn; returns the arrays."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, array in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_mnist_reads_the_four_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    data = mnist.load_mnist(root=tmp_path / "mnist")
    assert data.name == "mnist"
    assert data.num_classes == 10
    assert data.input_shape == (1, 8, 8)
    for x, y, n in ((data.x_train, data.y_train, 50), (data.x_val, data.y_val, 10), (data.x_test, data.y_test, 20)):
        assert (x.dtype, x.shape, y.dtype, y.shape) == (np.float32, (n, 1, 8, 8), np.int64, (n,))
        assert set(y.tolist()) <= set(range(10))
    # Validation: 10% of each class of the official training set (6 images per class here).
    assert np.bincount(data.y_val, minlength=10).tolist() == [1] * 10
    # The official test set is the test split, in its order.
    test_images, test_labels = arrays["t10k"]
    np.testing.assert_array_equal(raw_pixels(data.x_test, data.normalization)[:, 0], test_images)
    np.testing.assert_array_equal(data.y_test, test_labels)
    # Training and validation together are the official training set, each image once, labels kept.
    official = {image.tobytes(): int(label) for image, label in zip(*arrays["train"], strict=True)}
    seen = [
        (image.tobytes(), int(label))
        for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val))
        for image, label in zip(raw_pixels(x, data.normalization)[:, 0], y, strict=True)
    ]
    assert len({key for key, _ in seen}) == 60
    assert all(official[key] == label for key, label in seen)
    assert data.description == (
        f"MNIST: 8x8 grey-scale handwritten digits, 10 classes, read from {(tmp_path / 'mnist').resolve()} "
        f"(50 train, 10 val, 20 test); validation: 10% of each class of the official training set; "
        f"test: the official test set; split seed 0"
    )


def test_normalisation_statistics_come_from_the_training_split_and_are_recorded(tmp_path):
    write_mnist(tmp_path)
    data = mnist.load_mnist(root=tmp_path, seed=3)
    assert data.x_train.mean() == pytest.approx(0.0, abs=1e-5)
    assert data.x_train.std() == pytest.approx(1.0, abs=1e-5)
    norm = data.normalization
    raw_train = raw_pixels(data.x_train, norm) / 255.0
    assert norm["mean"] == pytest.approx([raw_train.mean()])
    assert norm["std"] == pytest.approx([raw_train.std()])
    assert norm["split_seed"] == 3
    assert norm["description"] == (
        f"pixel values 0..255 divided by 255, then per channel (x - mean) / std with mean [{norm['mean'][0]:.6f}] "
        f"and std [{norm['std'][0]:.6f}] (statistics of the training split, split seed 3)"
    )
    # What the run records: Dataset.summary() lands, as JSON, in the journal's configuration.
    assert json.loads(json.dumps(data.summary()))["normalization"] == norm


def test_the_split_is_seeded_and_the_test_set_never_moves(tmp_path):
    write_mnist(tmp_path, n_train=200)
    first, again, other = (mnist.load_mnist(root=tmp_path, seed=s) for s in (1, 1, 2))
    assert_same(first, again)
    assert not np.array_equal(first.x_val, other.x_val)
    np.testing.assert_array_equal(
        raw_pixels(first.x_test, first.normalization), raw_pixels(other.x_test, other.normalization)
    )


def test_limit_draws_a_seeded_sample_of_each_class(tmp_path):
    write_mnist(tmp_path)
    data = mnist.load_mnist(root=tmp_path, limit=40, val_fraction=0.25, seed=5)
    # 40 of 80 images: 30 training (3 per class, one of them for validation) and 10 test.
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (20, 10, 10)
    assert np.bincount(data.y_train, minlength=10).tolist() == [2] * 10
    assert np.bincount(data.y_test, minlength=10).tolist() == [1] * 10
    assert_same(data, mnist.load_mnist(root=tmp_path, limit=40, val_fraction=0.25, seed=5))
    other = mnist.load_mnist(root=tmp_path, limit=40, val_fraction=0.25, seed=6)
    assert not np.array_equal(data.x_test, other.x_test)
    assert data.description.endswith("limit 40: 30 training and 10 test images, drawn per class; split seed 5")
    # A limit above the dataset's size takes everything.
    assert len(mnist.load_mnist(root=tmp_path, limit=10_000).y_test) == 20


def test_fashion_mnist_reads_its_own_folder_under_the_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CODEGEN_DATA", str(tmp_path))
    write_mnist(tmp_path / "fashion-mnist", gz=True)
    data = mnist.load_fashion_mnist()
    assert data.name == "fashion-mnist"
    assert data.description.startswith(
        f"Fashion-MNIST: 8x8 grey-scale images of clothing, 10 classes, read from {(tmp_path / 'fashion-mnist').resolve()} "
    )


def test_the_default_directory_is_under_the_home_directory(tmp_path):
    write_mnist(tmp_path / "home" / ".automl_codegen" / "data" / "mnist")
    assert len(mnist.load_mnist().y_test) == 20


def test_mnist_missing_directory_says_what_to_put_where(tmp_path, monkeypatch):
    where = (tmp_path / "nowhere").resolve()
    assert error_of(mnist.load_mnist, root=tmp_path / "nowhere") == (
        f"mnist: the data directory {where} (from the root option) does not exist. {MNIST_EXPECTED} "
        f"{ELSEWHERE.format(name='mnist')}"
    )
    home = (tmp_path / "home" / ".automl_codegen" / "data" / "mnist").resolve()
    assert error_of(mnist.load_mnist) == (
        f"mnist: the data directory {home} (the default location; AUTOML_CODEGEN_DATA is not set) does not exist. "
        f"{MNIST_EXPECTED} {ELSEWHERE.format(name='mnist')}"
    )
    monkeypatch.setenv("AUTOML_CODEGEN_DATA", str(tmp_path / "data"))
    assert error_of(mnist.load_fashion_mnist) == (
        f"fashion-mnist: the data directory {(tmp_path / 'data' / 'fashion-mnist').resolve()} (from AUTOML_CODEGEN_DATA) "
        f"does not exist. {MNIST_EXPECTED.replace('MNIST', 'Fashion-MNIST')} {ELSEWHERE.format(name='fashion-mnist')}"
    )


def test_mnist_missing_files_are_all_named(tmp_path):
    write_mnist(tmp_path, gz=True)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"mnist: {tmp_path.resolve()} (from the root option) has no train-images-idx3-ubyte[.gz] and "
        f"t10k-labels-idx1-ubyte[.gz]. {MNIST_EXPECTED} {ELSEWHERE.format(name='mnist')}"
    )


def test_truncated_idx_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} is truncated: its header announces 60 images of 8x8 (3856 bytes in all) but it holds 3846 bytes; "
        f"download it again"
    )
    path.write_bytes(b"\0\0")
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} is truncated: 2 bytes, too few for an idx header; download it again"
    )
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} is truncated: 6 bytes, too few for its 16-byte idx header; download it again"
    )


def test_truncated_gzip_file_and_truncated_file_inside_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    packed = path.read_bytes()
    path.write_bytes(packed[:-12])
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} is not a readable gzip file (Compressed file ended before the end-of-stream marker was reached); "
        f"download it again, or put the uncompressed t10k-labels-idx1-ubyte there"
    )
    path.write_bytes(gzip.compress(gzip.decompress(packed)[:-3]))
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} is truncated: its header announces 20 labels (28 bytes in all) but it holds 25 bytes after "
        f"decompression; download it again"
    )


def test_a_gzip_file_that_expands_too_far_is_refused_before_it_fills_the_memory(tmp_path, monkeypatch):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 10_000)
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"\0" * 20_000))
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} expands to more than 10,000 bytes from {path.stat().st_size:,}: not an idx file as published; "
        f"download it again"
    )


def test_idx_file_longer_than_its_header_says(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\0" * 5)
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{path} holds 1301 bytes, 5 more than the 1296 its header announces (20 images of 8x8); it is not an idx "
        f"file as published, download it again"
    )


def test_bad_magic_number(tmp_path):
    write_mnist(tmp_path)
    images, labels = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    images.write_bytes(labels.read_bytes())
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{images} is not an idx images file: it starts with 0x00000801, not 0x00000803 (0x00000801 starts an "
        f"idx labels file: are two files swapped?); download it again"
    )
    # What a failed download often leaves behind.
    images.write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{images} is not an idx images file: it starts with 0x3C21444F, not 0x00000803; download it again"
    )


def test_label_count_must_match_image_count(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.arange(59) % 10))
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{tmp_path / 'train-images-idx3-ubyte'} holds 60 images but {labels} holds 59 labels; both must come "
        f"from the same MNIST release"
    )


def test_labels_must_be_digits(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    values = np.arange(20) % 10
    values[7] = 12
    labels.write_bytes(idx_bytes(values))
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        f"{labels} holds label 12 (at position 7), but MNIST labels are 0 to 9; download it again"
    )


def test_training_and_test_images_must_have_one_size(tmp_path):
    write_mnist(tmp_path)
    write_mnist(tmp_path / "other", size=(7, 7))
    (tmp_path / "other" / "t10k-images-idx3-ubyte").replace(tmp_path / "t10k-images-idx3-ubyte")
    assert error_of(mnist.load_mnist, root=tmp_path) == (
        "MNIST: the training images are 8x8 pixels but the test images 7x7; all four files must come from the "
        "same release"
    )


def test_bad_mnist_options(tmp_path):
    write_mnist(tmp_path)
    assert error_of(mnist.load_mnist, root=tmp_path, val_fraction=1.0) == (
        "val_fraction must be between 0 and 1 (exclusive), got 1.0"
    )
    assert (
        error_of(mnist.load_mnist, root=tmp_path, limit=0) == "limit must be a positive whole number of images, got 0"
    )
    assert error_of(mnist.load_mnist, root=tmp_path, limit="many") == (
        "limit must be a positive whole number of images, got 'many'"
    )
    assert error_of(mnist.load_mnist, root=tmp_path, limit=12) == (
        "mnist: the split leaves 9 training, 0 validation and 3 test images; every part needs at least one, so "
        "raise limit or val_fraction"
    )
    assert error_of(mnist.load_mnist, root=[tmp_path]) == f"mnist: root must be a directory path, got [{tmp_path!r}]"


# -- CIFAR-10 and CIFAR-100 ----------------------------------------------------------------------


def write_pickle(path: Path, content, protocol: int = 4) -> None:
    path.write_bytes(pickle.dumps(content, protocol=protocol))


def cifar_batch(rng, n: int, labels: dict[str, list[int]], title: str) -> dict:
    """A batch laid out like the official ones (as read with encoding="bytes")."""
    return {
        b"batch_label": title.encode(),
        **{key.encode(): values for key, values in labels.items()},
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [f"image_{i}.png".encode() for i in range(n)],
    }


def write_cifar10(root: Path, *, per_batch=20, n_test=20, protocol=4, seed=0) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        batches[name] = cifar_batch(rng, n, {"labels": [i % 10 for i in range(n)]}, name)
        write_pickle(folder / name, batches[name], protocol)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    write_pickle(folder / "batches.meta", {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072})
    return batches


def write_cifar100(root: Path, *, n_train=500, n_test=100, seed=0) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = [i % 100 for i in range(n)]
        labels = {"fine_labels": fine, "coarse_labels": [f // 5 for f in fine]}
        write_pickle(folder / name, cifar_batch(rng, n, labels, name))


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_cifar10_reads_the_pickled_batches(tmp_path, protocol):
    batches = write_cifar10(tmp_path, protocol=protocol)
    data = cifar.load_cifar10(root=tmp_path)
    assert (data.name, data.num_classes, data.input_shape) == ("cifar10", 10, (3, 32, 32))
    for x, y, n in ((data.x_train, data.y_train, 90), (data.x_val, data.y_val, 10), (data.x_test, data.y_test, 20)):
        assert (x.dtype, x.shape, y.dtype, y.shape) == (np.float32, (n, 3, 32, 32), np.int64, (n,))
    assert np.bincount(data.y_val, minlength=10).tolist() == [1] * 10
    # A row holds the red plane, then green, then blue, each row by row.
    test = batches["test_batch"]
    np.testing.assert_array_equal(raw_pixels(data.x_test, data.normalization), test[b"data"].reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(data.y_test, test[b"labels"])
    assert len(data.normalization["mean"]) == len(data.normalization["std"]) == 3
    for c in range(3):
        assert data.x_train[:, c].mean() == pytest.approx(0.0, abs=1e-5)
        assert data.x_train[:, c].std() == pytest.approx(1.0, abs=1e-5)
    folder = (tmp_path / "cifar-10-batches-py").resolve()
    assert data.description == (
        f"CIFAR-10: 32x32 colour images, 10 classes, read from {folder} (90 train, 10 val, 20 test); validation: "
        f"10% of each class of the official training set; test: the official test set; split seed 0"
    )


def test_cifar10_reads_batches_written_by_numpy_1(tmp_path):
    # numpy 1 (and the official Python 2 files) name numpy.core.multiarray; numpy 2 writes numpy._core.
    batches = write_cifar10(tmp_path, protocol=3)
    for path in (tmp_path / "cifar-10-batches-py").iterdir():
        path.write_bytes(path.read_bytes().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    assert b"cnumpy.core.multiarray\n_reconstruct" in (tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes()
    data = cifar.load_cifar10(root=tmp_path)
    np.testing.assert_array_equal(
        raw_pixels(data.x_test, data.normalization), batches["test_batch"][b"data"].reshape(-1, 3, 32, 32)
    )


def test_cifar10_root_may_be_the_batches_folder_itself(tmp_path):
    write_cifar10(tmp_path)
    assert_same(cifar.load_cifar10(root=tmp_path), cifar.load_cifar10(root=tmp_path / "cifar-10-batches-py"))


def test_cifar_split_and_limit_are_seeded(tmp_path):
    write_cifar10(tmp_path)
    assert_same(cifar.load_cifar10(root=tmp_path, seed=4), cifar.load_cifar10(root=tmp_path, seed=4))
    assert not np.array_equal(cifar.load_cifar10(root=tmp_path, seed=4).x_val, cifar.load_cifar10(root=tmp_path).x_val)
    small = cifar.load_cifar10(root=tmp_path, limit=60, val_fraction=0.2)
    assert (len(small.y_train), len(small.y_val), len(small.y_test)) == (40, 10, 10)
    assert np.bincount(small.y_test, minlength=10).tolist() == [1] * 10


@pytest.mark.parametrize(("label_mode", "num_classes"), [("fine", 100), ("coarse", 20)])
def test_cifar100_fine_and_coarse_labels(tmp_path, label_mode, num_classes):
    write_cifar100(tmp_path)
    options = {} if label_mode == "fine" else {"label_mode": label_mode}
    data = cifar.load_cifar100(root=tmp_path, val_fraction=0.2, **options)
    assert (data.name, data.num_classes, data.input_shape) == ("cifar100", num_classes, (3, 32, 32))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (400, 100, 100)
    assert set(data.y_test.tolist()) == set(range(num_classes))
    assert data.description.startswith(f"CIFAR-100 ({label_mode} labels): 32x32 colour images, {num_classes} classes")


def test_cifar100_label_mode_must_be_fine_or_coarse(tmp_path):
    write_cifar100(tmp_path)
    assert error_of(cifar.load_cifar100, root=tmp_path, label_mode="medium") == (
        "label_mode must be 'fine' (100 classes) or 'coarse' (20 superclasses), got 'medium'"
    )


def test_cifar_missing_directory_folder_and_files(tmp_path):
    where = (tmp_path / "nowhere").resolve()
    assert error_of(cifar.load_cifar10, root=where) == (
        f"cifar10: the data directory {where} (from the root option) does not exist. {CIFAR10_EXPECTED} "
        f"{ELSEWHERE.format(name='cifar10')}"
    )
    assert error_of(cifar.load_cifar10, root=tmp_path) == (
        f"cifar10: {tmp_path} (from the root option) has no cifar-10-batches-py/. {CIFAR10_EXPECTED} "
        f"{ELSEWHERE.format(name='cifar10')}"
    )
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    (folder / "test_batch").unlink()
    assert error_of(cifar.load_cifar10, root=tmp_path) == (
        f"cifar10: {folder} (from the root option) has no data_batch_3 and test_batch. {CIFAR10_EXPECTED} "
        f"{ELSEWHERE.format(name='cifar10')}"
    )
    assert error_of(cifar.load_cifar100, root=tmp_path) == (
        f"cifar100: {tmp_path} (from the root option) has no cifar-100-python/. It should hold cifar-100-python/ as "
        f"unpacked from the official python archive cifar-100-python.tar.gz: the pickled batches train and test. "
        f"{ELSEWHERE.format(name='cifar100')}"
    )


def test_corrupt_pickle(tmp_path):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:5000])
    assert error_of(cifar.load_cifar10, root=tmp_path) == (
        f"{path} is not a readable CIFAR batch: the pickle is corrupt or truncated (UnpicklingError: pickle data "
        f"was truncated); unpack the official archive again"
    )
    path.write_bytes(b"")
    assert error_of(cifar.load_cifar10, root=tmp_path) == (
        f"{path} is not a readable CIFAR batch: the pickle is corrupt or truncated (EOFError: Ran out of input); "
        f"unpack the official archive again"
    )


class _Payload:
    """Unpickling this runs a shell command: what a malicious "batch" would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Payload(f"touch {shlex.quote(str(marker))}"), b"labels": [0]}, protocol=4)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(payload)
    assert error_of(cifar.load_cifar10, root=tmp_path) == (
        f"refusing to load {path}: it references {os.system.__module__}.system, which a CIFAR batch never does "
        f"({os.system.__module__}.system was not run); use the files of the official archive"
    )
    assert not marker.exists()
    # The payload is live: plain pickle.loads runs it.
    pickle.loads(payload)  # on purpose: the refusal above is what stopped this
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([1, 2], " is not a CIFAR batch: it holds a list, not a dict with 'data' and 'labels'"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, " is not a CIFAR batch: it has no 'labels' entry (it has 'data')"),
        (
            {b"data": np.zeros((2, 3072)), b"labels": [0, 1]},
            ": 'data' must be a uint8 array of shape (N, 3072), found a float64 array of shape (2, 3072)",
        ),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, " holds 2 images but 1 labels in 'labels'"),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
            " holds label 10 (at position 1) in 'labels', outside 0 to 9",
        ),
    ],
    ids=["not-a-dict", "no-labels", "float-data", "label-count", "label-range"],
)
def test_batches_with_the_wrong_content(tmp_path, content, problem):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    write_pickle(path, content)
    assert error_of(cifar.load_cifar10, root=tmp_path) == f"{path}{problem}; use the files of the official archive"


# -- image folders -------------------------------------------------------------------------------


def write_images(root: Path, counts: dict[str, int], *, size=(6, 5), grey=False, suffix=".png", seed=0) -> dict:
    """PNG/JPEG files root/<class>/NNN<suffix>; returns {(C, H, W) pixel bytes: class name} (PNG is lossless)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written = {}
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, size=size if grey else (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}{suffix}")
            written[(pixels[None] if grey else pixels.transpose(2, 0, 1)).tobytes()] = name
    return written


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@needs_pillow
def test_image_folder_reads_one_folder_per_class(tmp_path):
    written = write_images(tmp_path, {"dog": 10, "cat": 10, "eel": 10})
    # Neither hidden nor other files count.
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / ".cache").mkdir()
    data = image_folder.load_image_folder(root=tmp_path)
    assert (data.name, data.num_classes, data.input_shape) == ("image-folder", 3, (3, 6, 5))
    for x, y, n in ((data.x_train, data.y_train, 18), (data.x_val, data.y_val, 6), (data.x_test, data.y_test, 6)):
        assert (x.dtype, x.shape, y.dtype, y.shape) == (np.float32, (n, 3, 6, 5), np.int64, (n,))
        assert np.bincount(y, minlength=3).tolist() == [n // 3] * 3
    # Classes in sorted order: cat 0, dog 1, eel 2; every image read back exactly, once.
    classes = ["cat", "dog", "eel"]
    seen = [
        (image.tobytes(), classes[label])
        for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test))
        for image, label in zip(raw_pixels(x, data.normalization), y, strict=True)
    ]
    assert dict(seen) == written
    assert data.normalization["split_seed"] == 0
    assert data.description == (
        f"image folder {tmp_path.resolve()}: 6x5 RGB images, 3 classes (cat, dog, eel) (18 train, 6 val, 6 test); "
        f"split per class: validation 20%, test 20%; split seed 0"
    )


@needs_pillow
def test_image_folder_reads_jpeg_and_is_seeded(tmp_path):
    write_images(tmp_path, {"a": 10}, suffix=".jpg")
    write_images(tmp_path, {"b": 10}, suffix=".JPEG", seed=1)
    data = image_folder.load_image_folder(root=tmp_path, seed=7)
    assert data.x_train.shape == (12, 3, 6, 5)
    assert_same(data, image_folder.load_image_folder(root=tmp_path, seed=7))
    assert not np.array_equal(data.x_test, image_folder.load_image_folder(root=tmp_path, seed=8).x_test)


@needs_pillow
def test_image_folder_channels(tmp_path):
    write_images(tmp_path / "grey", {"a": 5, "b": 5}, grey=True)
    write_images(tmp_path / "rgb", {"a": 5, "b": 5})
    options = {"val_fraction": 0.2, "test_fraction": 0.2}
    assert image_folder.load_image_folder(root=tmp_path / "grey", **options).input_shape == (1, 6, 5)
    as_rgb = image_folder.load_image_folder(root=tmp_path / "grey", channels=3, **options)
    assert as_rgb.input_shape == (3, 6, 5)
    raw = raw_pixels(as_rgb.x_train, as_rgb.normalization)
    np.testing.assert_array_equal(raw[:, 0], raw[:, 2])
    assert "; converted to RGB" in as_rgb.description
    as_grey = image_folder.load_image_folder(root=tmp_path / "rgb", channels=1, **options)
    assert as_grey.input_shape == (1, 6, 5)
    assert "; converted to grey-scale" in as_grey.description


@needs_pillow
def test_image_folder_sizes(tmp_path):
    write_images(tmp_path, {"a": 5})
    write_images(tmp_path, {"b": 5}, size=(7, 5), seed=1)
    first, odd = (tmp_path / "a" / "000.png").resolve(), (tmp_path / "b" / "000.png").resolve()
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: {odd} is 7x5 pixels (height x width) but {first} is 6x5; to resize every image to one "
        f"size pass image_size (--dataset-option image_size=32, or image_size=[height,width])"
    )
    assert image_folder.load_image_folder(root=tmp_path, image_size=4).input_shape == (3, 4, 4)
    # Options as the command line parses them: --dataset-option image_size=[4,6]
    options = _key_values([f"root={tmp_path}", "image_size=[4,6]", "limit=8"], "--dataset-option")
    registry = get_registry(get_plugin_manager(entry_points=False, plugins=[("image-folder", image_folder)]))
    data = registry.get("dataset", "image-folder")(seed=0, **options)
    assert data.input_shape == (3, 4, 6)
    assert sum(len(y) for y in (data.y_train, data.y_val, data.y_test)) == 8
    assert data.description.endswith(
        "split per class: validation 20%, test 20%; limit 8 images, drawn per class; resized to 4x6 (height x width); "
        "split seed 0"
    )


@needs_pillow
def test_unreadable_and_truncated_images_are_named(tmp_path):
    write_images(tmp_path, {"a": 5, "b": 5})
    broken = tmp_path / "b" / "broken.png"
    broken.write_bytes(b"this is not a PNG file")
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: cannot read {broken.resolve()}: Pillow does not recognise it as an image; replace or "
        f"remove the file"
    )
    whole = png_bytes(np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8))
    broken.write_bytes(whole[: len(whole) // 2])
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: cannot read {broken.resolve()} (OSError: image file is truncated); replace or remove the file"
    )


def test_image_folder_layout_errors(tmp_path):
    where = (tmp_path / "nowhere").resolve()
    assert error_of(image_folder.load_image_folder, root=where) == (
        f"image-folder: the data directory {where} (from the root option) does not exist. {IMAGES_EXPECTED} "
        f"{ELSEWHERE.format(name='image-folder')}"
    )
    (tmp_path / "loose.png").write_bytes(b"")
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: {tmp_path} (from the root option) has no class folders; a classifier needs at least 2 "
        f"classes. {IMAGES_EXPECTED}"
    )
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(b"")
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: {tmp_path} (from the root option) has only the class folder cat/; a classifier needs at "
        f"least 2 classes. {IMAGES_EXPECTED}"
    )
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.txt").write_text("no images here")
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: the class folder {tmp_path / 'dog'} holds no PNG or JPEG images (.png, .jpg, .jpeg); add "
        f"some, or remove the folder"
    )


def test_image_folder_without_pillow_says_how_to_install_it(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.png").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "PIL", None)  # what `import PIL` does when it is not installed
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        "image-folder decodes images with Pillow, which is not installed: pip install 'automl-codegen[images]' "
        "(or pip install pillow)"
    )


def test_bad_image_folder_options(tmp_path):
    assert error_of(image_folder.load_image_folder, root=tmp_path, channels=2) == (
        "channels must be 1 (grey-scale) or 3 (RGB), got 2"
    )
    assert error_of(image_folder.load_image_folder, root=tmp_path, image_size=0) == (
        "image_size must be pixels square or [height, width], from 1 to 4096, got 0"
    )
    assert error_of(image_folder.load_image_folder, root=tmp_path, image_size=[4]) == (
        "image_size must be pixels square or [height, width], from 1 to 4096, got [4]"
    )
    assert error_of(image_folder.load_image_folder, root=tmp_path, image_size=[60000, 60000]) == (
        "image_size must be pixels square or [height, width], from 1 to 4096, got [60000, 60000]"
    )


def test_a_huge_source_image_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")  # noqa: N806
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        Image.new("L", (40, 30)).save(tmp_path / label / "big.png")
    monkeypatch.setattr(image_folder, "MAX_SOURCE_PIXELS", 1000)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))
    path = tmp_path / "a" / "big.png"
    assert error_of(image_folder.load_image_folder, root=tmp_path) == (
        f"image-folder: {path} is 30x40 pixels, more than 1,000; downscale it first (a network sees at most 4096 a side)"
    )
    assert decoded == []
    assert error_of(image_folder.load_image_folder, root=tmp_path, val_fraction=0.5, test_fraction=0.4) == (
        "val_fraction + test_fraction = 0.9 leaves too little training data; keep their sum below 0.9"
    )


# -- registration --------------------------------------------------------------------------------

MODULES = {"mnist": mnist, "cifar": cifar, "image-folder": image_folder}
DATASETS = {
    "mnist": mnist.load_mnist,
    "fashion-mnist": mnist.load_fashion_mnist,
    "cifar10": cifar.load_cifar10,
    "cifar100": cifar.load_cifar100,
    "image-folder": image_folder.load_image_folder,
}


def test_registered_through_their_hooks():
    registry = get_registry(get_plugin_manager(entry_points=False, plugins=list(MODULES.items())))
    for name, loader in DATASETS.items():
        assert registry.get("dataset", name) is loader


@pytest.mark.parametrize("name", list(MODULES))
def test_registered_by_their_entry_points(name):
    found = [e for e in metadata.entry_points(group="automl_codegen") if e.name == name]
    assert found, f"pyproject.toml must declare the {name} entry point"
    assert found[0].load() is MODULES[name]


def test_modules_import_neither_torch_nor_pillow():
    # `automl-codegen plugins` and --help load every entry point and must start fast.
    code = (
        "import sys\n"
        "import automl_codegen_plugins.datasets.mnist, automl_codegen_plugins.datasets.cifar\n"
        "import automl_codegen_plugins.datasets.image_folder\n"
        "print(sorted(m for m in ('torch', 'PIL') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
