"""Fixtures: a tiny hand-written table and a complete synthetic one (written to temporary files)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from automl_codegen_nasbench201 import DATASETS
from nb201_tables import HEADER, OPS, TINY_ROWS, cell_of, synthetic_scores, write_csv


@pytest.fixture
def tiny_table(tmp_path) -> Path:
    return write_csv(tmp_path / "tiny.csv", HEADER, TINY_ROWS)


@pytest.fixture(scope="session")
def full_table(tmp_path_factory) -> Path:
    """All 15,625 cells with synthetic scores, so a whole search runs without the real table."""
    rows = []
    for index, ops in enumerate(itertools.product(OPS, repeat=6)):
        valid, test12, test200 = synthetic_scores(ops)
        rows.append([index, cell_of(ops), *[valid, test12, test200] * len(DATASETS)])
    return write_csv(tmp_path_factory.mktemp("tables") / "full.csv", HEADER, rows)
