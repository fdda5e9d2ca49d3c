"""Tables (N, F) and sequences (N, L) / (N, C, L) given from Python to the in-memory dataset.

Statistics are checked against numpy on the training rows, which each test recovers
from a feature that holds the row's number.
"""

from __future__ import annotations

import numpy as np
import pytest

from automl_codegen import ConfigError
from automl_codegen_plugins.datasets.in_memory import load_in_memory


def error_of(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_in_memory(**kwargs)
    text = str(info.value)
    assert "\n" not in text
    return text


def numbered_table(n: int = 100, features: int = 4, seed: int = 0) -> np.ndarray:
    """Random features whose first column is the row's number (to find the rows of a split)."""
    x = np.random.default_rng(seed).normal(3.0, 2.0, size=(n, features))
    x[:, 0] = np.arange(n)
    return x


def rows_of(x_part: np.ndarray, column: dict) -> np.ndarray:
    """The original row numbers of a split, from its standardised first feature."""
    return np.round(x_part[:, 0].astype(np.float64) * column["std"] + column["mean"]).astype(int)


@pytest.mark.parametrize(
    ("loader", "task", "shape", "num_classes"),
    [
        ("load_wine", "tabular_classification", (13,), 3),
        ("load_iris", "tabular_classification", (4,), 3),
        ("load_diabetes", "tabular_regression", (10,), 1),
    ],
)
def test_scikit_learn_tables(loader, task, shape, num_classes):
    from sklearn import datasets

    bunch = getattr(datasets, loader)()
    data = load_in_memory(data=(bunch.data, bunch.target), seed=0)
    assert (data.task, data.input_shape, data.num_classes) == (task, shape, num_classes)
    assert data.x_train.dtype == np.float32
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == len(bunch.target)
    assert [c["name"] for c in data.normalization["columns"]] == [f"x{j}" for j in range(shape[0])]
    if task == "tabular_regression":
        # diabetes targets are whole numbers, but hundreds of them: a regression, said so
        assert "regression decided from y (its floats are more than 20 distinct whole numbers)" in data.description
        assert data.y_train.dtype == np.float32
        assert abs(float(data.y_train.mean())) < 1e-6
    else:
        assert data.y_train.dtype == np.int64
        assert "classes" not in data.normalization  # wine and iris are labelled 0..K-1 already
        assert set(np.unique(data.y_train)) == set(range(num_classes))


def test_each_feature_is_standardised_by_the_training_rows():
    x = numbered_table()
    x[:, 2] = 7.0  # a constant feature: shifted, not divided by zero
    y = np.arange(100) % 3
    data = load_in_memory(data=(x, y), seed=4)
    columns = data.normalization["columns"]
    train = rows_of(data.x_train, columns[0])
    assert len(train) == 58  # 34, 33 and 33 rows a class: 7 of each held out twice
    for j, column in enumerate(columns):
        values = x[train, j]
        assert column == {
            "name": f"x{j}",
            "kind": "numeric",
            "fill": float(np.median(values)),
            "missing": 0,
            "mean": float(values.mean()),
            "std": float(values.std()) or 1.0,
        }
    assert columns[2]["std"] == 1.0
    assert data.normalization["feature_names"] == ["x0", "x1", "x2", "x3"]
    for part in (data.x_train, data.x_val, data.x_test):
        rows = rows_of(part, columns[0])
        expected = (x[rows] - [c["mean"] for c in columns]) / [c["std"] for c in columns]
        np.testing.assert_array_equal(part, expected.astype(np.float32))
    # stratified: every class keeps its share in each part
    for part in (data.y_val, data.y_test):
        assert np.bincount(part).tolist() == [7, 7, 7]


def test_regression_targets_are_standardised_and_split_at_random():
    x = numbered_table(n=50)
    y = np.random.default_rng(1).normal(100.0, 15.0, size=50)
    data = load_in_memory(data=(x, y), seed=2)
    assert data.task == "tabular_regression"
    assert data.num_classes == 1
    assert "regression decided from y (its floats are not all whole numbers)" in data.description
    shifted = load_in_memory(data=(x, y - 1000.0), seed=2).normalization
    assert shifted["description"].endswith(
        f"; target (y + {-shifted['target']['mean']:.6g}) / {shifted['target']['std']:.6g}"
    )
    train = rows_of(data.x_train, data.normalization["columns"][0])
    target = data.normalization["target"]
    assert target == {"name": "y", "mean": float(y[train].mean()), "std": float(y[train].std())}
    assert data.y_train.dtype == np.float32
    np.testing.assert_array_equal(data.y_train, ((y[train] - target["mean"]) / target["std"]).astype(np.float32))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (30, 10, 10)
    again = load_in_memory(data=(x, y), seed=2)
    assert again.fingerprint() == data.fingerprint()
    assert load_in_memory(data=(x, y), seed=3).fingerprint() != data.fingerprint()


def test_the_task_decided_and_overruled():
    x = numbered_table(n=300)
    few_whole = (np.arange(300) % 3).astype(np.float64)
    assert load_in_memory(data=(x, few_whole)).task == "tabular_classification"
    many_ints = np.arange(300) % 30  # an integer array holds labels, however many
    assert load_in_memory(data=(x, many_ints)).num_classes == 30
    regression = load_in_memory(data=(x, few_whole), task="tabular_regression")
    assert (regression.task, regression.y_train.dtype) == ("tabular_regression", np.float32)
    classes = load_in_memory(data=(x, few_whole + 0.5), task="tabular_classification")
    assert classes.normalization["classes"] == [0.5, 1.5, 2.5]


@pytest.mark.parametrize(
    ("labels", "classes"),
    [
        (np.array(["cat", "dog", "emu"] * 20), ["cat", "dog", "emu"]),
        (np.arange(60) % 3 + 1, [1, 2, 3]),
        (np.array([True, False] * 30), [False, True]),
        (np.arange(60) % 2, None),
    ],
)
def test_labels_other_than_0_to_k_are_mapped_and_recorded(labels, classes):
    data = load_in_memory(data=(numbered_table(n=60), labels))
    assert data.normalization.get("classes") == classes
    assert data.num_classes == len(np.unique(labels))
    rows = rows_of(data.x_train, data.normalization["columns"][0])
    recorded = classes if classes is not None else list(range(data.num_classes))
    assert [recorded[k] for k in data.y_train] == labels[rows].tolist()


def test_sequences_are_channels_first_and_standardised_per_channel():
    rng = np.random.default_rng(0)
    one = load_in_memory(data=(rng.normal(5.0, 3.0, size=(40, 32)), np.arange(40) % 2), task="sequence_classification")
    assert (one.task, one.input_shape) == ("sequence_classification", (1, 32))
    assert "(N, L) taken as one channel" in one.description
    x = rng.normal(size=(40, 3, 32)) * np.array([1.0, 10.0, 100.0])[None, :, None]
    data = load_in_memory(data=(x, np.arange(40) % 2), task="sequence_classification", seed=1)
    assert data.input_shape == (3, 32)
    norm = data.normalization
    assert len(norm["mean"]) == len(norm["std"]) == 3
    restored = (
        data.x_train.astype(np.float64) * np.array(norm["std"])[None, :, None] + np.array(norm["mean"])[None, :, None]
    )
    train = np.array([np.flatnonzero(np.all(np.isclose(x, r, atol=1e-4), axis=(1, 2)))[0] for r in restored])
    np.testing.assert_allclose(norm["mean"], x[train].mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(norm["std"], x[train].std(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2)), 0, atol=1e-5)


def test_a_dict_of_splits_of_tables():
    x, y = numbered_table(n=90), np.random.default_rng(0).normal(size=90)
    data = load_in_memory(data={"train": (x[:70], y[:70]), "test": (x[70:], y[70:])}, seed=0)
    assert data.task == "tabular_regression"
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (56, 14, 20)
    columns = data.normalization["columns"]
    assert set(rows_of(data.x_test, columns[0])) == set(range(70, 90))
    train = rows_of(data.x_train, columns[0])
    assert data.normalization["target"]["mean"] == float(y[train].mean())
    labels = np.array(["a", "b"] * 45)
    split = load_in_memory(data={"train": (x[:60], labels[:60]), "validation": (x[60:], labels[60:])})
    assert split.normalization["classes"] == ["a", "b"]
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (48, 30, 12)


@pytest.mark.parametrize(
    ("x", "y", "task", "message"),
    [
        (
            np.zeros((10, 8, 8, 1)),
            np.arange(10) % 2,
            "sequence_classification",
            "data: task 'sequence_classification' needs x of shape (N, L) or (N, C, L), got (N, H, W, C) = "
            "[10, 8, 8, 1]",
        ),
        (
            np.zeros((10, 50, 3)),
            np.arange(10) % 2,
            "sequence_classification",
            "data: task 'sequence_classification' takes channels first, x of shape (N, C, L); [10, 50, 3] looks "
            "like (N, L, C), 3 channels of length 50: pass x.transpose(0, 2, 1)",
        ),
        (
            np.zeros((10, 3, 5)),
            np.arange(10) % 2,
            "tabular_classification",
            "data: task 'tabular_classification' needs x of shape (N, F), got (N, C, L) = [10, 3, 5]; use "
            "x.reshape(len(x), -1) to flatten each example",
        ),
        (
            np.zeros(10),
            np.arange(10) % 2,
            None,
            "data: x must be images, (N, H, W), (N, C, H, W) or (N, H, W, C), or a table (N, F); got 1 dimension, "
            "shape [10]; for sequences pass task='sequence_classification'",
        ),
        (
            np.zeros((10, 2)),
            np.array(["a"] * 10),
            "tabular_regression",
            "data: y must hold numbers for task 'tabular_regression', got dtype <U1",
        ),
        (
            np.zeros((10, 2)),
            np.array([0.5, np.nan] * 5),
            None,
            "data: y holds 5 NaN or infinite values; drop those examples first",
        ),
        (
            np.full((10, 2), np.inf),
            np.arange(10) % 2,
            None,
            "data: x holds 20 NaN or infinite values; drop or impute them first",
        ),
        (
            np.zeros((10, 2)),
            np.array(["a"] * 10),
            None,
            "the labels hold only one class ('a'); a classifier needs two or more",
        ),
        (np.zeros((10, 2)), np.arange(9) % 2, None, "data: x has 10 examples and y has 9 targets"),
        (
            np.zeros((2, 2)),
            np.array([0.5, 1.5]),
            None,
            "data: too few examples to split: 2 examples leave 2 for training, 0 for validation and 0 for test; "
            "every part needs at least one, so add examples or change val_fraction/test_fraction",
        ),
    ],
)
def test_bad_arrays_are_named_in_one_line(x, y, task, message):
    options = {} if task is None else {"task": task}
    assert error_of(data=(x, y), **options) == message


def test_an_unknown_task_is_refused():
    assert error_of(data=(np.zeros((10, 2)), np.arange(10) % 2), task="tabular") == (
        "task must be one of image_classification, tabular_classification, tabular_regression, "
        "sequence_classification, got 'tabular'"
    )
