"""NAS-Bench-201 results read from the compact CSV tables: one row per architecture.

The accuracy table (``nb201_accuracy.csv``) has the columns ``index``, ``arch`` (the
cell string) and, per dataset ``<ds>`` in :data:`DATASETS`, ``<ds>_valid_12ep``,
``<ds>_test_12ep`` and ``<ds>_test_200ep`` (accuracies in percent). An optional column
``<ds>_train_seconds_12ep`` gives the simulated training time of the 12-epoch schedule.
A slice of the table (any subset of rows) is a valid table too.

The device table (``nb201_device_latency.csv``) has ``index`` and one column per
measurement (``pi5_onnx_latency_ms``, ...), joined to the accuracy table on ``index``.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from automl_codegen import ConfigError

__all__ = [
    "DATASETS",
    "OPS",
    "AccuracyTable",
    "DeviceTable",
    "Record",
    "canonical_cell",
    "load_accuracy_table",
    "load_device_table",
]

#: The benchmark's datasets, as this plugin names them (NATS-Bench: ``cifar10``,
#: ``cifar100``, ``ImageNet16-120``).
DATASETS = ("cifar10", "cifar100", "imagenet16")
#: The candidate ops of an edge, in the benchmark's order.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_COLUMNS = ("valid_12ep", "test_12ep", "test_200ep")
_TIME_COLUMN = "train_seconds_12ep"


class Record(NamedTuple):
    """What the benchmark knows of one architecture on one dataset (accuracies in %)."""

    index: int
    valid_12ep: float
    test_12ep: float
    test_200ep: float
    train_seconds: float | None  # simulated 12-epoch training time, when the source has it


def canonical_cell(text: str) -> str | None:
    """The benchmark's spelling of a cell string (inputs of a node in order), or None.

    ``|a~1|b~0|`` and ``|b~0|a~1|`` are the same node; the tables use the second form.
    """
    nodes = text.split("+")
    if len(nodes) != 3:
        return None
    parts = []
    for j, node in enumerate(nodes, start=1):
        if len(node) < 2 or node[0] != "|" or node[-1] != "|":
            return None
        edges: dict[int, str] = {}
        for edge in node[1:-1].split("|"):
            op, _, source = edge.partition("~")
            if op not in OPS or not (source.isascii() and source.isdigit()):
                return None
            i = int(source)
            if i >= j or i in edges:
                return None
            edges[i] = op
        if len(edges) != j:
            return None
        parts.append("|" + "".join(f"{edges[i]}~{i}|" for i in range(j)))
    return "+".join(parts)


class AccuracyTable:
    """The accuracy table held in memory; look architectures up by cell string or index."""

    def __init__(self, path: Path, rows: dict[str, int], indices: list[int], columns: dict[str, list[float]]) -> None:
        self.path = path
        self._rows = rows  # cell string -> row position
        self._by_index = {index: row for row, index in enumerate(indices)}
        self._indices = indices
        self._columns = columns

    def __len__(self) -> int:
        return len(self._indices)

    def cells(self) -> Iterator[str]:
        """Every cell string of the table, in row order."""
        return iter(self._rows)

    def has_dataset(self, dataset: str) -> bool:
        return all(f"{dataset}_{column}" in self._columns for column in _COLUMNS)

    def has_times(self, dataset: str) -> bool:
        return f"{dataset}_{_TIME_COLUMN}" in self._columns

    def missing_columns(self, dataset: str) -> list[str]:
        return [f"{dataset}_{c}" for c in _COLUMNS if f"{dataset}_{c}" not in self._columns]

    def row_of(self, genotype: Any) -> int:
        """The row of a cell string (any input order) or benchmark index; ConfigError if absent."""
        if isinstance(genotype, str):
            row = self._rows.get(genotype)
            if row is None:
                canonical = canonical_cell(genotype)
                if canonical is None:
                    msg = f"{genotype!r} is not a NAS-Bench-201 cell string (e.g. |nor_conv_3x3~0|+|...|+|...|)"
                    raise ConfigError(msg)
                row = self._rows.get(canonical)
        elif isinstance(genotype, int) and not isinstance(genotype, bool):
            row = self._by_index.get(genotype)
        else:
            msg = f"a NAS-Bench-201 architecture is a cell string or a benchmark index, got {genotype!r}"
            raise ConfigError(msg)
        if row is None:
            msg = f"architecture {genotype!r} is not in {self.path} ({len(self)} architectures)"
            raise ConfigError(msg)
        return row

    def lookup(self, genotype: Any, dataset: str) -> Record:
        """The record of ``genotype`` on ``dataset`` (the dataset's columns must exist)."""
        row = self.row_of(genotype)
        columns = self._columns
        times = columns.get(f"{dataset}_{_TIME_COLUMN}")
        return Record(
            self._indices[row],
            columns[f"{dataset}_valid_12ep"][row],
            columns[f"{dataset}_test_12ep"][row],
            columns[f"{dataset}_test_200ep"][row],
            None if times is None else times[row],
        )


class DeviceTable:
    """Per-architecture device measurements (latency, energy), by benchmark index."""

    def __init__(self, path: Path, columns: tuple[str, ...], by_index: dict[int, tuple[float, ...]]) -> None:
        self.path = path
        self.columns = columns
        self._by_index = by_index

    def lookup(self, index: int) -> dict[str, float]:
        values = self._by_index.get(index)
        if values is None:
            msg = f"architecture {index} is not in the device table {self.path}"
            raise ConfigError(msg)
        return dict(zip(self.columns, values, strict=True))


# -- reading -------------------------------------------------------------------------------


def load_accuracy_table(path: str | Path) -> AccuracyTable:
    """Read (once per file version) the accuracy table at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, lacks ``index``/``arch`` or holds a
            malformed row; the message gives the file and line.
    """
    path, stamp = _stat(path, "NAS-Bench-201 accuracy table")
    return _read_accuracy(path, stamp)


def load_device_table(path: str | Path) -> DeviceTable:
    """Read (once per file version) the device measurement table at ``path``."""
    path, stamp = _stat(path, "NAS-Bench-201 device table")
    return _read_device(path, stamp)


def _stat(path: str | Path, what: str) -> tuple[Path, tuple[int, int]]:
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        msg = f"the {what} {path} does not exist"
        raise ConfigError(msg) from None
    if not path.is_file():
        msg = f"the {what} {path} is not a file"
        raise ConfigError(msg)
    return path, (info.st_mtime_ns, info.st_size)


def _rows(path: Path, required: tuple[str, ...], what: str) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV file whose header has the ``required`` columns."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                msg = f"{path} is not a {what}: it has no column(s) {', '.join(missing)} (its header: {header})"
                raise ConfigError(msg)
            for line, row in enumerate(reader, start=2):
                if None in row or None in row.values():
                    msg = f"{path} line {line}: {len(header)} columns expected"
                    raise ConfigError(msg)
                yield line, row
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"cannot read the {what} {path}: {exc}"
        raise ConfigError(msg) from None


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        msg = f"{path} line {line}: {column} is {text!r}, not a finite number"
        raise ConfigError(msg)
    return value


def _index(path: Path, line: int, text: str, seen: dict[int, int]) -> int:
    if not (text.isascii() and text.isdigit()):
        msg = f"{path} line {line}: index is {text!r}, not a non-negative integer"
        raise ConfigError(msg)
    index = int(text)
    if index in seen:
        msg = f"{path} line {line}: index {index} appears twice (first on line {seen[index]})"
        raise ConfigError(msg)
    seen[index] = line
    return index


@functools.lru_cache(maxsize=4)
def _read_accuracy(path: Path, stamp: tuple[int, int]) -> AccuracyTable:
    what = "NAS-Bench-201 accuracy table"
    rows: dict[str, int] = {}
    lines: dict[int, int] = {}
    indices: list[int] = []
    columns: dict[str, list[float]] | None = None
    for line, row in _rows(path, ("index", "arch"), what):
        if columns is None:
            columns = {name: [] for name in row if name not in ("index", "arch")}
        index = _index(path, line, row["index"], lines)
        cell = canonical_cell(row["arch"])
        if cell is None:
            msg = f"{path} line {line}: arch {row['arch']!r} is not a NAS-Bench-201 cell string"
            raise ConfigError(msg)
        if cell in rows:
            msg = f"{path} line {line}: arch {cell} appears twice (first on line {lines[indices[rows[cell]]]})"
            raise ConfigError(msg)
        rows[cell] = len(indices)
        indices.append(index)
        for name, values in columns.items():
            values.append(_number(path, line, name, row[name]))
    if not indices:
        msg = f"{path} holds no architectures"
        raise ConfigError(msg)
    assert columns is not None
    return AccuracyTable(path, rows, indices, columns)


@functools.lru_cache(maxsize=4)
def _read_device(path: Path, stamp: tuple[int, int]) -> DeviceTable:
    what = "NAS-Bench-201 device table"
    by_index: dict[int, tuple[float, ...]] = {}
    lines: dict[int, int] = {}
    names: tuple[str, ...] = ()
    for line, row in _rows(path, ("index",), what):
        if not names:
            names = tuple(name for name in row if name != "index")
        index = _index(path, line, row["index"], lines)
        by_index[index] = tuple(_number(path, line, name, row[name]) for name in names)
    if not by_index:
        msg = f"{path} holds no architectures"
        raise ConfigError(msg)
    return DeviceTable(path, names, by_index)
