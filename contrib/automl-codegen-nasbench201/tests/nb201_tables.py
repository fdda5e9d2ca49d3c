"""Test tables: a tiny hand-written one, a complete synthetic one, and where the real one lives."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from automl_codegen_nasbench201 import DATASETS

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The workspace's copy of the benchmark, beside the project checkout (never in the repo):
#: contrib/automl-codegen-nasbench201/tests/ -> four levels up is the checkout's parent.
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "nasbench201"
REAL_TABLE = SHARED / "nb201_accuracy.csv"
REAL_DEVICE_TABLE = SHARED / "nb201_device_latency.csv"

CELL_A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CELL_B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
CELL_C = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
HEADER = ["index", "arch"] + [f"{d}_{c}" for d in DATASETS for c in ("valid_12ep", "test_12ep", "test_200ep")]
# index, arch, then (valid 12ep, test 12ep, test 200ep) for cifar10, cifar100, imagenet16: the
# first two rows are the real table's rows 1 and 0.
TINY_ROWS = [
    [1, CELL_A, 82.834, 88.22, 93.66, 57.8, 58.26, 70.2933, 35.4333, 33.8, 44.0333],
    [0, CELL_B, 63.364, 69.55, 85.8633, 31.84, 31.26, 52.9133, 18.4667, 17.0, 26.6333],
    [7, CELL_C, 10.0, 10.0, 10.0, 1.0, 1.0, 1.0, 0.8333, 0.8333, 0.8333],
]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cell_of(ops: tuple[str, ...]) -> str:
    """The cell string of six edge ops in the benchmark's order (edges 0-1, 0-2, 1-2, 0-3, 1-3, 2-3)."""
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def synthetic_scores(ops: tuple[str, ...]) -> tuple[float, float, float]:
    """Made-up (valid 12ep, test 12ep, test 200ep) that reward convolutions, 3x3 most."""
    valid = 40 + 8 * ops.count("nor_conv_3x3") + 5 * ops.count("nor_conv_1x1") + ops.count("skip_connect")
    return float(valid), valid + 1.0, valid + 5.0


needs_real_table = pytest.mark.skipif(
    not (REAL_TABLE.is_file() and REAL_DEVICE_TABLE.is_file()),
    reason=f"the NAS-Bench-201 tables are not in {SHARED}",
)
