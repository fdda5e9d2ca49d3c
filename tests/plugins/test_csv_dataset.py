"""The csv dataset: real files written here, statistics checked against numpy on the training rows.

Each table has an ``id`` column (the row's number, never missing), so a test recovers
which rows a split holds from that standardised feature. Error messages are compared
word for word.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

from automl_codegen import ConfigError
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.datasets import csv as csv_dataset
from automl_codegen_plugins.datasets.csv import load_csv

MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "?")
COLORS = ("red", "green", "blue", "teal")


def mixed_rows(n: int = 60) -> list[dict[str, str]]:
    """Rows of a table with numbers written in several ways, categories, gaps and a text label."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        age = f"{rng.integers(18, 80)}"
        if i % 11 == 3:
            age = ["NA", "", "?"][i % 3]
        elif i % 7 == 0:
            age = f" {age} "  # spaces around a number
        elif i % 13 == 5:
            age = f"{int(age) / 10:g}e1"  # 4.2e1
        color = COLORS[int(rng.integers(0, 3))] if i < n - 3 else "teal"  # teal: only in the last rows
        if i % 9 == 4:
            color = "N/A"
        city = '"Paris, FR"' if i % 4 == 0 else ["Rome", "Oslo"][i % 2]  # a quoted field with a comma
        income = f"{rng.normal(3.0, 1.0):.3f}"
        label = "yes" if (i % 2 == 0) != (i % 5 == 0) else "no"
        rows.append({"id": str(i), "age": age, "color": color, "city": city, "income": income, "label": label})
    return rows


def write_rows(path, rows, *, sep=",", newline="\n", bom=False):
    names = list(rows[0])
    lines = [sep.join(names)] + [sep.join(row[k] for k in names) for row in rows]
    path.write_bytes((("\ufeff" if bom else "") + newline.join(lines) + newline).encode())
    return path


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def error_of(**options) -> str:
    with pytest.raises(ConfigError) as info:
        load_csv(**options)
    text = str(info.value)
    assert "\n" not in text
    return text


def parsed(value: str) -> float:
    value = value.strip()
    return np.nan if value in MISSING else float(value)


def rows_of(x_part: np.ndarray, id_column: dict) -> np.ndarray:
    return np.round(x_part[:, 0].astype(np.float64) * id_column["std"] + id_column["mean"]).astype(int)


def split_rows(data):
    """The file's row indices (0-based, header excluded) of the training, validation and test parts."""
    id_column = data.normalization["columns"][0]
    return [rows_of(x, id_column) for x in (data.x_train, data.x_val, data.x_test)]


@pytest.fixture
def mixed(tmp_path):
    rows = mixed_rows()
    return rows, write_rows(tmp_path / "mixed.csv", rows, newline="\r\n", bom=True)


def test_a_mixed_table_with_missing_values(mixed):
    rows, path = mixed
    data = load_csv(path=str(path), seed=1)  # a seed that holds both teal rows out of training
    assert (data.name, data.task, data.num_classes) == ("csv", "tabular_classification", 2)
    assert data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int64
    norm = data.normalization
    assert [c["name"] for c in norm["columns"]] == ["id", "age", "color", "city", "income"]
    assert [c["kind"] for c in norm["columns"]] == ["numeric", "numeric", "categorical", "categorical", "numeric"]
    assert norm["classes"] == ["no", "yes"]
    assert norm["missing_values"] == list(MISSING)
    assert "target" not in norm
    train, val, test = split_rows(data)
    assert sorted([*train, *val, *test]) == list(range(60))
    assert (len(train), len(val), len(test)) == (36, 12, 12)

    expected_blocks = []
    for column in norm["columns"]:
        raw = [row[column["name"]].strip().strip('"') for row in rows]
        if column["kind"] == "numeric":
            values = np.array([parsed(v) for v in raw])
            fill = float(np.nanmedian(values[train]))
            filled = np.where(np.isnan(values), fill, values)
            assert column == {
                "name": column["name"],
                "kind": "numeric",
                "fill": fill,
                "missing": int(np.isnan(values).sum()),
                "mean": float(filled[train].mean()),
                "std": float(filled[train].std()),
            }
            expected_blocks.append(((filled - column["mean"]) / column["std"]).astype(np.float32)[:, None])
        else:
            categories = sorted({raw[i] for i in train} - set(MISSING))
            absent = [v in MISSING for v in raw]
            unseen = [not a and v not in categories for v, a in zip(raw, absent, strict=True)]
            assert column == {
                "name": column["name"],
                "kind": "categorical",
                "categories": categories,
                "missing": sum(absent),
                "unseen": sum(unseen),
                "unknown": "all zeros",
            }
            expected_blocks.append(np.array([[v == c for c in categories] for v in raw], dtype=np.float32))
    age, color = norm["columns"][1], norm["columns"][2]
    assert age["missing"] == 6
    assert color["missing"] == 7
    assert color["categories"] == ["blue", "green", "red"]  # teal comes only after the training rows
    assert color["unseen"] == 2
    assert norm["columns"][3]["categories"] == ["Oslo", "Paris, FR", "Rome"]
    expected = np.concatenate(expected_blocks, axis=1)
    for part, indices in zip((data.x_train, data.x_val, data.x_test), (train, val, test), strict=True):
        np.testing.assert_array_equal(part, expected[indices])
    labels = np.array([row["label"] == "yes" for row in rows], dtype=np.int64)
    np.testing.assert_array_equal(data.y_train, labels[train])
    assert norm["feature_names"] == [
        "id",
        "age",
        "color=blue",
        "color=green",
        "color=red",
        "city=Oslo",
        "city=Paris, FR",
        "city=Rome",
        "income",
    ]
    assert data.description == (
        f"csv file {path}: 60 rows, 5 feature columns (3 numeric, 2 categorical) giving 9 input features; "
        f"target 'label': 2 classes (tabular_classification, decided: the target holds text such as 'no'); "
        f"split per class with seed 1: 36 training, 12 validation, 12 test rows; missing values filled: "
        f"'age' 6 (training median {age['fill']:g}), 'color' 7 (all zeros); categories unseen in training "
        f"(all zeros): 'color' 2"
    )
    assert norm["description"] == (
        "numeric columns: missing values filled with the training median, then (x - mean) / std; categorical "
        "columns: one-hot over the training categories in sorted order, missing and unseen values all zeros "
        "(statistics of the training split, per column in 'columns')"
    )


def test_splits_and_fingerprints_are_reproducible(mixed, tmp_path):
    _, path = mixed
    first, again = load_csv(path=path, seed=3), load_csv(path=str(path), seed=3)
    assert first.fingerprint() == again.fingerprint()
    np.testing.assert_array_equal(first.x_test, again.x_test)
    # The path is not in the normalization: the same table elsewhere is the same data.
    moved = tmp_path / "elsewhere.csv"
    moved.write_bytes(path.read_bytes())
    assert load_csv(path=moved, seed=3).fingerprint() == first.fingerprint()
    other = load_csv(path=path, seed=4)
    assert other.fingerprint() != first.fingerprint()
    assert [len(p) for p in split_rows(other)] == [36, 12, 12]
    assert sorted(split_rows(other)[2]) != sorted(split_rows(first)[2])


def regression_rows(n: int = 50) -> list[dict[str, str]]:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        size = rng.uniform(30, 200)
        kind = ["flat", "house"][i % 2]
        price = 1000 * size + (5e4 if kind == "house" else 0) + rng.normal(0, 1e4)
        rows.append({"id": str(i), "size": f"{size:.1f}", "kind": kind, "price": f"{price:.2f}"})
    return rows


def test_a_regression_table(tmp_path):
    rows = regression_rows()
    path = write_rows(tmp_path / "houses.csv", rows, sep=";")  # semicolons, sniffed
    data = load_csv(path=path, seed=1)
    assert (data.task, data.num_classes, data.input_shape) == ("tabular_regression", 1, (4,))
    train, val, test = split_rows(data)
    assert (len(train), len(val), len(test)) == (30, 10, 10)
    prices = np.array([float(row["price"]) for row in rows])
    target = data.normalization["target"]
    assert target == {"name": "price", "mean": float(prices[train].mean()), "std": float(prices[train].std())}
    assert data.y_train.dtype == np.float32
    np.testing.assert_array_equal(data.y_val, ((prices[val] - target["mean"]) / target["std"]).astype(np.float32))
    assert "classes" not in data.normalization
    assert (
        "target 'price': a number (tabular_regression, decided: the target holds numbers that are not all whole)"
        in (data.description)
    )
    assert (
        "split at random with seed 1: 30 training, 10 validation, 10 test rows; no missing values" in data.description
    )
    assert data.normalization["description"].endswith(f"; target (y - {target['mean']:.6g}) / {target['std']:.6g}")
    # Whole-number targets: few distinct ones are classes, many a number.
    write(tmp_path / "few.csv", "a,y\n" + "".join(f"{i},{i % 3 + 1}\n" for i in range(30)))
    few = load_csv(path=tmp_path / "few.csv")
    assert (few.task, few.normalization["classes"]) == ("tabular_classification", [1, 2, 3])
    assert "decided: the target holds 3 distinct whole numbers" in few.description
    write(tmp_path / "many.csv", "a,y\n" + "".join(f"{i},{i * 7}\n" for i in range(30)))
    assert load_csv(path=tmp_path / "many.csv").task == "tabular_regression"
    as_classes = load_csv(path=tmp_path / "many.csv", task="tabular_regression")
    assert "decided" not in as_classes.description
    zero_based = load_csv(path=tmp_path / "few.csv", target="y", task="tabular_classification")
    assert zero_based.normalization["classes"] == [1, 2, 3]


def test_options_choose_the_target_the_features_and_their_kinds(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "id\tzip\tscore\tgrade\n" + "".join(f"{i}\t{10000 + i % 4}\t{i * 0.5}\t{'abc'[i % 3]}\n" for i in range(30)),
    )
    default = load_csv(path=path)  # tabs sniffed; the last column is the target
    assert [c["name"] for c in default.normalization["columns"]] == ["id", "zip", "score"]
    assert default.normalization["classes"] == ["a", "b", "c"]
    chosen = load_csv(path=path, target="score", columns="grade, zip", categorical=["zip", "grade"], delimiter="\\t")
    assert chosen.task == "tabular_regression"
    assert [(c["name"], c["kind"]) for c in chosen.normalization["columns"]] == [
        ("grade", "categorical"),
        ("zip", "categorical"),
    ]
    assert chosen.normalization["feature_names"][-4:] == ["zip=10000", "zip=10001", "zip=10002", "zip=10003"]
    headless = write(tmp_path / "headless.csv", "".join(f"{i},{i % 2}\n" for i in range(20)))
    assert error_of(path=headless) == (
        f"csv: the first line of {headless} holds only numbers ('0', '0', ...), not column names; add a header "
        f"line, or pass header=false to call the columns col1, col2, ..."
    )
    data = load_csv(path=headless, header=False)
    assert [c["name"] for c in data.normalization["columns"]] == ["col1"]
    assert data.num_classes == 2
    # Values that look like numbers but are not: "1,5" in a semicolon file makes a categorical column.
    decimal_comma = write(tmp_path / "dc.csv", "w;y\n" + "".join(f"{i},5;{i % 2}\n" for i in range(20)))
    assert load_csv(path=decimal_comma).normalization["columns"][0]["kind"] == "categorical"
    tokens = load_csv(path=decimal_comma, missing_values=["0,5"], val_fraction=0.25, test_fraction=0.25)
    assert tokens.normalization["missing_values"] == ["0,5"]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("a,b\n1,2\n", {"target": "c"}, "csv: no column 'c' in {path}; its columns are 'a', 'b'"),
        (
            "a,b\n1,x\n2,\n3,y\n4,NA\n",
            {},
            "csv: the target column 'b' has 2 missing values (rows 3 and 5); fill them in or drop those rows",
        ),
        (
            "a,b,c\n1,2,3\n1,2\n",
            {},
            "csv: row 3 of {path} has 2 fields, the header has 3; quote fields that hold the separator ','",
        ),
        ("a,b,a\n1,2,3\n", {}, "csv: the header of {path} names the column 'a' twice (columns 1 and 3); rename one"),
        ("a,,b\n1,2,3\n", {}, "csv: column 2 of the header of {path} has no name; name it, or delete the column"),
        (
            "a,b\n1,2\n",
            {"categorical": ["z"]},
            "csv: categorical names 'z', which is not a column in {path}; its columns are 'a', 'b'",
        ),
        (
            "a,b\n1,2\n",
            {"columns": ["a", "q"]},
            "csv: columns names 'q', which is not a column in {path}; its columns are 'a', 'b'",
        ),
        (
            "a,b,c\n1,2,3\n",
            {"columns": ["a"], "categorical": ["b"]},
            "csv: categorical names 'b', which columns leaves out; add it to columns or drop it here",
        ),
        (
            "a,gone,y\n1,,0\n2,NA,1\n3,?,0\n",
            {},
            "csv: column 'gone' holds no values: all 3 rows are missing it; leave it out with the columns option",
        ),
        (
            "a,b,y\n1,2,0\n2,n/a,1\n3,4,0\n",
            {"categorical": []},
            "csv: column 'b' is numeric (categorical leaves it out), but row 3 holds 'n/a'; add 'b' to categorical, "
            "or the value to missing_values",
        ),
        (
            "a,y\n1,yes\n2,yes\n3,yes\n",
            {},
            "csv: the target column 'y' holds only one class ('yes'); a classifier needs two or more",
        ),
        (
            "a,y\n1,0\n2,1\n3,0\n4,1\n",
            {},
            "csv: too few rows to split per class: 4 rows leave 4 for training, 0 for validation and 0 for test; "
            "every part needs at least one, so add rows or change val_fraction/test_fraction",
        ),
        (
            "a,y\n1,2.5\n2,x\n",
            {"task": "tabular_regression"},
            "csv: task 'tabular_regression' needs a numeric target, but row 3 of the target column 'y' holds 'x'",
        ),
        (
            "y\n1\n2\n",
            {},
            "csv: {path} has no column besides the target 'y'; a table needs at least one feature column",
        ),
        ("a,b\n", {}, "csv: {path} has a header line but no rows below it"),
        (" \n\n", {}, "csv: {path} is empty; it needs a line naming the columns, then one line per row"),
    ],
)
def test_a_bad_table_is_named_in_one_line(tmp_path, text, options, message):
    path = write(tmp_path / "bad.csv", text)
    assert error_of(path=path, **options) == message.format(path=path)


def test_files_that_cannot_be_read(tmp_path):
    missing = tmp_path / "nowhere.csv"
    assert error_of(path=missing) == (
        f"csv: {missing} does not exist; pass the CSV file to read as path (--dataset-option path=FILE.csv)"
    )
    assert error_of(path=tmp_path) == f"csv: {tmp_path} is a directory; path must name a CSV file"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b\ncaf\xe9,1\n".encode("latin-1"))
    assert error_of(path=latin) == (
        f"csv: {latin} is not UTF-8 text (byte 0xe9 at offset 7); save it as UTF-8 (CSV UTF-8 in a "
        f"spreadsheet's Save As)"
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert error_of(path=empty) == f"csv: {empty} is empty; it needs a line naming the columns, then one line per row"


def test_bad_options(tmp_path):
    assert error_of() == (
        "csv needs the option path, the CSV file to read: --dataset-option path=FILE.csv "
        "(dataset_options={'path': 'FILE.csv'} in Python)"
    )
    path = str(tmp_path / "t.csv")
    assert error_of(path=path, task="image_classification") == (
        "csv reads tables: task must be tabular_classification, tabular_regression or None (decided from the "
        "target), got 'image_classification'"
    )
    assert (
        error_of(path=path, delimiter="ab") == "delimiter must be one character, not a quote or a line break, got 'ab'"
    )
    assert error_of(path=path, columns=["a", "a"]) == "columns names 'a' twice"
    assert (
        error_of(path=path, target="y", columns=["a", "y"])
        == "columns names the target 'y'; it cannot be a feature too"
    )
    assert error_of(path=path, val_fraction=0.5, test_fraction=0.4) == (
        "val_fraction + test_fraction = 0.9 leaves too little training data; keep their sum below 0.9"
    )
    assert error_of(path=path, header="yes") == "header must be true or false, got 'yes'"
    assert error_of(path=path, sheet=1).startswith(
        "dataset 'csv' has no option(s) ['sheet']; its options: path, target"
    )


def test_registered_as_csv():
    registry = get_registry(get_plugin_manager(entry_points=False, plugins=[("csv", csv_dataset)]))
    assert registry.get("dataset", "csv") is load_csv
    found = [e for e in metadata.entry_points(group="automl_codegen") if e.name == "csv"]
    assert found, "pyproject.toml must declare the csv entry point"
    assert found[0].load() is csv_dataset
    assert [o["name"] for o in describe(load_csv.Options)] == [
        "path",
        "target",
        "columns",
        "categorical",
        "task",
        "val_fraction",
        "test_fraction",
        "delimiter",
        "header",
        "missing_values",
    ]
    assert all(o["help"] for o in describe(load_csv.Options))
    code = "import sys, automl_codegen_plugins.datasets.csv\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def describe(options_class):
    from automl_codegen.options import describe_options

    return describe_options(options_class)
