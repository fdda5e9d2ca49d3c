"""The generated preprocessing of a table: raw CSV rows to exactly the dataset's inputs.

The code is rendered from a dataset's ``normalization``, written to a file and imported
like a generated model file (numpy only), then fed the rows of the CSV file the dataset
was read from, as ``csv.DictReader`` gives them.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from automl_codegen_plugins.datasets.csv import load_csv
from automl_codegen_plugins.datasets.in_memory import load_in_memory
from automl_codegen_plugins.emitters._tabular import IMPORTS, WIDTH, is_tabular, tabular_lines, tabular_module

_ids = itertools.count()
TABLE = """id,age,color,city,income,label
0,34,red,"Paris, FR",1e3,yes
1, 45 ,blue,Rome, 3.5 ,no
2,NA,green,Oslo,2.5,yes
3,28,,Paris,4,no
4,51,red,Rome,?,yes
5,39,blue,Oslo,1.5,no
6,60,red,Rome,2,yes
7,22,green,"Paris, FR",3,no
8,33,blue,Oslo,2.2,yes
9,41,red,Rome,2.8,no
10,29,green,Oslo,NaN,yes
11,38,blue,Lima,3.1,no
12,N/A,red,Rome,2.9,yes
13,47,green,"Paris, FR",1.1,no
14,52,blue,Oslo,0.9,yes
15,31,red,Rome,2.4,no
"""


def module_of(source: str, tmp_path: Path):
    path = tmp_path / f"generated_{next(_ids)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def parts_by_id(data):
    """The file's row ids of each part, from the standardised ``id`` feature."""
    column = data.normalization["columns"][0]
    assert column["name"] == "id"
    return [
        np.round(x[:, 0].astype(np.float64) * column["std"] + column["mean"]).astype(int)
        for x in (data.x_train, data.x_val, data.x_test)
    ]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(TABLE)
    return path


def test_raw_csv_rows_become_exactly_the_datasets_inputs(table, tmp_path):
    data = load_csv(path=table, seed=2)
    assert is_tabular(data.normalization)
    source = tabular_module(data.normalization)
    assert [line for line in source.splitlines() if line.startswith(("import", "from"))] == ["import numpy as np"]
    module = module_of(source, tmp_path)
    rows = raw_rows(table)
    inputs = module.preprocess(rows)
    assert inputs.dtype == np.float32
    assert inputs.shape == (len(rows), module.NUM_FEATURES)
    assert data.normalization["feature_names"] == module.FEATURE_NAMES
    for part, ids in zip((data.x_train, data.x_val, data.x_test), parts_by_id(data), strict=True):
        np.testing.assert_array_equal(inputs[ids], part)
    assert module.CLASSES == ["no", "yes"]
    assert module.label(1) == "yes"
    assert module.labels(np.array([[0.2, 0.1], [-1.0, 3.0]])) == ["no", "yes"]
    assert not hasattr(module, "postprocess")


def test_missing_values_and_unseen_categories(table, tmp_path):
    data = load_csv(path=table, seed=2)
    module = module_of(tabular_module(data.normalization), tmp_path)
    age = data.normalization["columns"][1]
    names = module.FEATURE_NAMES
    filled = np.float32((age["fill"] - age["mean"]) / age["std"])
    base = {"id": "3", "age": "40", "color": "red", "city": "Rome", "income": "2"}
    for gap in (None, "", " NA ", "?", "nan", float("nan"), np.float32("nan")):
        assert module.preprocess({**base, "age": gap})[0, names.index("age")] == filled
    colors = [j for j, name in enumerate(names) if name.startswith("color=")]
    for unknown in ("purple", None, "N/A", "RED"):
        assert not module.preprocess({**base, "color": unknown})[0, colors].any()
    # Numbers given as numbers, and rows as sequences in COLUMNS order, are the same rows.
    as_numbers = {**base, "id": 3, "age": 40.0, "income": np.float64(2)}
    as_sequence = [base[column] for column in module.COLUMNS]
    np.testing.assert_array_equal(module.preprocess(as_numbers), module.preprocess([base]))
    np.testing.assert_array_equal(module.preprocess([as_sequence]), module.preprocess(base))
    with pytest.raises(KeyError, match="row 0 has no column 'city'; give None if it is missing"):
        module.preprocess({k: v for k, v in base.items() if k != "city"})
    with pytest.raises(ValueError, match="row 1: column 'age' must be a number, got 'old'"):
        module.preprocess([base, {**base, "age": "old"}])
    with pytest.raises(ValueError, match="row 0: column 'income' must be a finite number, got 'inf'"):
        module.preprocess({**base, "income": "inf"})


def test_categories_written_as_numbers(tmp_path):
    path = tmp_path / "zip.csv"
    path.write_text("id,zip,y\n" + "".join(f"{i},{[10115, 80331, 20095][i % 3]},{i % 2}\n" for i in range(30)))
    data = load_csv(path=path, categorical=["zip"])
    module = module_of(tabular_module(data.normalization), tmp_path)
    assert module.CATEGORIES == {"zip": ["10115", "20095", "80331"]}
    for value in ("80331", 80331, 80331.0, np.int64(80331)):
        assert module.preprocess({"id": 0, "zip": value})[0, 1:].tolist() == [0.0, 0.0, 1.0]
    assert "CLASSES" not in vars(module)  # the labels were 0 and 1 already


def test_regression_postprocess_gives_back_the_targets(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["id,size,kind,price"]
    prices = []
    for i in range(40):
        price = rng.uniform(1e5, 9e5)
        prices.append(float(f"{price:.2f}"))
        lines.append(f"{i},{rng.uniform(30, 200):.1f},{'ab'[i % 2]},{price:.2f}")
    path = tmp_path / "houses.csv"
    path.write_text("\n".join(lines) + "\n")
    data = load_csv(path=path, seed=5)
    module = module_of(tabular_module(data.normalization), tmp_path)
    assert module.TARGET == "price"
    assert (
        data.normalization["target"]["mean"],
        data.normalization["target"]["std"],
    ) == (module.TARGET_MEAN, module.TARGET_STD)
    rows = raw_rows(path)
    inputs = module.preprocess(rows)
    prices = np.array(prices)
    for x, y, ids in zip(
        (data.x_train, data.x_val, data.x_test), (data.y_train, data.y_val, data.y_test), parts_by_id(data), strict=True
    ):
        np.testing.assert_array_equal(inputs[ids], x)
        np.testing.assert_allclose(module.postprocess(y[:, None]), prices[ids], rtol=1e-6)
    torch = pytest.importorskip("torch")
    back = module.postprocess(torch.from_numpy(data.y_test[:, None]).requires_grad_())
    np.testing.assert_allclose(back, prices[parts_by_id(data)[2]], rtol=1e-6)
    assert not hasattr(module, "label")


def test_arrays_given_from_python(tmp_path):
    from sklearn.datasets import load_wine

    bunch = load_wine()
    x = np.concatenate([np.arange(len(bunch.target))[:, None], bunch.data], axis=1)  # an id first
    data = load_in_memory(data=(x, bunch.target), seed=1)
    source = tabular_module(data.normalization)
    module = module_of(source, tmp_path)
    assert [f"x{j}" for j in range(14)] == module.COLUMNS
    inputs = module.preprocess(x)  # rows as sequences: the array's rows
    for part, ids in zip((data.x_train, data.x_val, data.x_test), parts_by_id_x0(data), strict=True):
        np.testing.assert_array_equal(inputs[ids], part)
    as_dicts = [{f"x{j}": float(v) for j, v in enumerate(row)} for row in x[:5]]
    np.testing.assert_array_equal(module.preprocess(as_dicts), inputs[:5])


def parts_by_id_x0(data):
    column = data.normalization["columns"][0]
    return [
        np.round(x[:, 0].astype(np.float64) * column["std"] + column["mean"]).astype(int)
        for x in (data.x_train, data.x_val, data.x_test)
    ]


def test_long_names_stay_within_the_line_width_and_pass_ruff(tmp_path):
    long_name = "measured value " * 9 + "(in units)"
    long_category = "a category " * 15
    normalization = {
        "columns": [
            {"name": long_name, "kind": "numeric", "fill": 1.5, "missing": 0, "mean": 0.1 / 3, "std": 2.0},
            {
                "name": 'say "hi"',
                "kind": "categorical",
                "categories": [long_category, "b\\c", "naïve", "it's"],
                "missing": 0,
                "unseen": 0,
                "unknown": "all zeros",
            },
        ],
        "classes": [long_category, 2, 3.5, True],
    }
    source = tabular_module(normalization)
    path = tmp_path / "long.py"
    path.write_text(source)
    assert max(len(line) for line in source.splitlines()) <= WIDTH
    module = module_of(source, tmp_path)
    assert [long_name, 'say "hi"'] == module.COLUMNS
    assert module.CATEGORIES['say "hi"'] == [long_category, "b\\c", "naïve", "it's"]
    assert [long_category, 2, 3.5, True] == module.CLASSES
    assert module.MEAN[long_name] == 0.1 / 3
    got = module.preprocess({long_name: "2", 'say "hi"': " it's "})
    assert got.tolist() == [[np.float32((2 - 0.1 / 3) / 2.0), 0.0, 0.0, 0.0, 1.0]]
    ruff(path)


def ruff(path: Path) -> None:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed")
    rules = "E,F,W,I,B,UP,SIM,C4,RUF,N,RET,PIE"
    command = [exe, "check", "--isolated", "--no-cache", "--line-length", str(WIDTH), "--select", rules]
    command += ["--ignore", "RUF001", "--target-version", "py310", str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_generated_files_pass_ruff(table, tmp_path):
    data = load_csv(path=table)
    lines = tabular_lines(data.normalization)
    assert lines[0].startswith("# ")
    assert "import numpy as np" not in lines  # the caller puts IMPORTS at the top of its module
    assert IMPORTS == ("import numpy as np",)
    path = tmp_path / "generated.py"
    path.write_text(tabular_module(data.normalization))
    ruff(path)
    assert "FILL = {\n" in path.read_text()  # one numeric column per line
    assert 'CLASSES = ["no", "yes"]\n' in path.read_text()


@pytest.mark.parametrize(
    ("normalization", "message"),
    [
        ({"scale": 255.0, "mean": 0.5, "std": 0.25}, "normalization: not a table's; it records no 'columns' list"),
        ({"columns": []}, "normalization: 'columns' is empty"),
        (
            {"columns": [{"name": "a", "kind": "numeric", "fill": 0.0, "mean": 0.0, "std": 0.0}]},
            "normalization: column 0 ('a') has a std of 0",
        ),
        (
            {"columns": [{"name": "a", "kind": "numeric", "fill": math.nan, "mean": 0.0, "std": 1.0}]},
            "normalization: column 0 ('a'): 'fill' must be a finite number, got nan",
        ),
        (
            {"columns": [{"name": "a", "kind": "categorical", "categories": [1, 2]}]},
            "normalization: column 0 ('a'): 'categories' must be a non-empty list of strings",
        ),
        (
            {"columns": [{"name": "a", "kind": "text"}]},
            "normalization: column 0 ('a'): 'kind' must be 'numeric' or 'categorical', got 'text'",
        ),
        (
            {
                "columns": [{"name": "a", "kind": "numeric", "fill": 0.0, "mean": 0.0, "std": 1.0}],
                "target": {"name": "y", "mean": 1.0, "std": 0},
            },
            "normalization: 'target' has a std of 0",
        ),
        (
            {
                "columns": [{"name": "a", "kind": "numeric", "fill": 0.0, "mean": 0.0, "std": 1.0}],
                "feature_names": ["b"],
            },
            "normalization: 'feature_names' does not follow from 'columns'",
        ),
    ],
)
def test_what_cannot_be_rendered_is_named(normalization, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tabular_lines(normalization)
