"""Reading the CSV tables: what a good table gives, and a clear message for each bad one."""

from __future__ import annotations

import pytest
from automl_codegen_nasbench201 import Record, canonical_cell, load_accuracy_table, load_device_table
from nb201_tables import CELL_A, CELL_B, HEADER, REAL_DEVICE_TABLE, REAL_TABLE, TINY_ROWS, needs_real_table, write_csv

from automl_codegen import ConfigError


def test_records_by_cell_string_any_input_order_or_index(tiny_table):
    table = load_accuracy_table(tiny_table)
    assert len(table) == 3
    assert table.lookup(CELL_A, "cifar10") == Record(1, 82.834, 88.22, 93.66, None)
    assert table.lookup(1, "cifar100") == Record(1, 57.8, 58.26, 70.2933, None)
    reordered = "|avg_pool_3x3~0|+|skip_connect~1|nor_conv_1x1~0|+|skip_connect~2|nor_conv_1x1~0|skip_connect~1|"
    assert table.lookup(reordered, "imagenet16") == Record(0, 18.4667, 17.0, 26.6333, None)


def test_a_table_is_read_once_per_version_of_the_file(tiny_table):
    first = load_accuracy_table(tiny_table)
    assert load_accuracy_table(tiny_table) is first
    write_csv(tiny_table, HEADER, TINY_ROWS[:2])
    assert len(load_accuracy_table(tiny_table)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CELL_A, CELL_A),
        ("|a~0|+|none~0|none~1|+|none~0|none~1|none~2|", None),  # unknown op
        ("|none~0|+|none~1|none~0|+|none~2|none~1|none~0|", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", None),  # node 2 lacks an input
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", None),  # input 0 twice
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", None),  # not an earlier node
        ("|none~0|+|none~0|none~1|", None),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", None),
        ("|none~٣|+|none~0|none~1|+|none~0|none~1|none~2|", None),  # a digit, but not an ASCII one
    ],
)
def test_canonical_cell(text, expected):
    assert canonical_cell(text) == expected


def test_a_missing_architecture_names_the_table(tiny_table):
    table = load_accuracy_table(tiny_table)
    missing = "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    with pytest.raises(ConfigError) as excinfo:
        table.lookup(missing, "cifar10")
    assert str(excinfo.value) == f"architecture {missing!r} is not in {tiny_table} (3 architectures)"
    with pytest.raises(ConfigError, match="architecture 5 is not in"):
        table.lookup(5, "cifar10")
    with pytest.raises(ConfigError, match="'nonsense' is not a NAS-Bench-201 cell string"):
        table.lookup("nonsense", "cifar10")
    with pytest.raises(ConfigError, match=r"is a cell string or a benchmark index, got 1\.5"):
        table.lookup(1.5, "cifar10")


# -- malformed tables: one test each, the message checked word for word --------------------


def _table(tmp_path, header, rows):
    return write_csv(tmp_path / "bad.csv", header, rows)


def _error(path) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_accuracy_table(path)
    return str(excinfo.value)


def test_missing_file(tmp_path):
    assert _error(tmp_path / "nope.csv") == f"the NAS-Bench-201 accuracy table {tmp_path / 'nope.csv'} does not exist"


def test_not_a_file(tmp_path):
    assert _error(tmp_path) == f"the NAS-Bench-201 accuracy table {tmp_path} is not a file"


def test_missing_columns(tmp_path):
    path = _table(tmp_path, ["idx", "arch", "x"], [[0, CELL_A, 1]])
    assert _error(path) == (
        f"{path} is not a NAS-Bench-201 accuracy table: it has no column(s) index (its header: ['idx', 'arch', 'x'])"
    )


def test_bad_number_names_the_line_and_column(tmp_path):
    rows = [list(TINY_ROWS[0]), list(TINY_ROWS[1])]
    rows[1][4] = "n/a"
    path = _table(tmp_path, HEADER, rows)
    assert _error(path) == f"{path} line 3: cifar10_test_200ep is 'n/a', not a finite number"


def test_nan_is_not_a_number_here(tmp_path):
    rows = [list(TINY_ROWS[0])]
    rows[0][2] = "nan"
    path = _table(tmp_path, HEADER, rows)
    assert _error(path) == f"{path} line 2: cifar10_valid_12ep is 'nan', not a finite number"


def test_short_row(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(",".join(HEADER) + "\n0," + CELL_A + ",1,2\n")
    assert _error(path) == f"{path} line 2: 11 columns expected"


def test_bad_index(tmp_path):
    path = _table(tmp_path, HEADER, [["-1", *TINY_ROWS[0][1:]]])
    assert _error(path) == f"{path} line 2: index is '-1', not a non-negative integer"


def test_duplicate_index(tmp_path):
    path = _table(tmp_path, HEADER, [TINY_ROWS[0], [1, *TINY_ROWS[1][1:]]])
    assert _error(path) == f"{path} line 3: index 1 appears twice (first on line 2)"


def test_duplicate_architecture(tmp_path):
    path = _table(tmp_path, HEADER, [TINY_ROWS[0], [5, *TINY_ROWS[0][1:]]])
    assert _error(path) == f"{path} line 3: arch {CELL_A} appears twice (first on line 2)"


def test_bad_cell_string(tmp_path):
    path = _table(tmp_path, HEADER, [[0, "|conv~0|", *TINY_ROWS[0][2:]]])
    assert _error(path) == f"{path} line 2: arch '|conv~0|' is not a NAS-Bench-201 cell string"


def test_empty_table(tmp_path):
    path = _table(tmp_path, HEADER, [])
    assert _error(path) == f"{path} holds no architectures"


def test_not_text(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00index")
    assert _error(path).startswith(f"cannot read the NAS-Bench-201 accuracy table {path}: ")


def test_device_table(tmp_path):
    path = write_csv(tmp_path / "device.csv", ["index", "pi5_onnx_latency_ms"], [[1, 10.5], [0, 1.25]])
    table = load_device_table(path)
    assert table.columns == ("pi5_onnx_latency_ms",)
    assert table.lookup(0) == {"pi5_onnx_latency_ms": 1.25}
    with pytest.raises(ConfigError, match=f"architecture 7 is not in the device table {path}"):
        table.lookup(7)


# -- the real table, where the workspace has it ------------------------------------------


@needs_real_table
def test_real_table_matches_the_published_facts():
    table = load_accuracy_table(REAL_TABLE)
    assert len(table) == 15625
    assert table.lookup(CELL_A, "cifar10") == Record(1, 82.834, 88.22, 93.66, None)
    assert table.lookup(CELL_B, "cifar10").index == 0
    best = {
        d: max((table.lookup(i, d) for i in range(15625)), key=lambda r: r.test_200ep)
        for d in ("cifar10", "cifar100", "imagenet16")
    }
    # 13714 ties with 6111 for the best test accuracy, and alone has the best search signal.
    assert round(best["cifar10"].test_200ep, 2) == 94.37
    assert table.lookup(13714, "cifar10").test_200ep == best["cifar10"].test_200ep
    assert max(range(15625), key=lambda i: table.lookup(i, "cifar10").valid_12ep) == 13714
    assert round(best["cifar100"].test_200ep, 2) == 73.51
    assert round(best["imagenet16"].test_200ep, 2) == 47.31
    device = load_device_table(REAL_DEVICE_TABLE)
    assert "pi5_onnx_latency_ms" in device.columns
    assert device.lookup(13714)["pi5_onnx_latency_ms"] > device.lookup(0)["pi5_onnx_latency_ms"]
