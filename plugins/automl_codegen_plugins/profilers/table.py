"""The `table-latency` profiler: latency read from a table of device measurements, not measured here.

For hardware this machine is not (a Raspberry Pi, a phone), a table of latencies measured
there stands in for a profiler: ``nb201_device_latency.csv`` has one row per
NAS-Bench-201 architecture and one column per device and runtime.

A row is found by the trial's *genotype*: the key column holds either the genotype
itself (a cell string, say, when the table has an ``arch`` column) or the benchmark
index (``key="index"``); a cell string is turned into its index with ``index_table``, a
CSV with the columns ``index`` and ``arch`` (NAS-Bench-201's ``nb201_accuracy.csv``).
Cell strings are compared in canonical form, so the order of a node's inputs does not
matter. :func:`lookup_latency` does the lookup from a genotype; the profiler calls it
with the genotype of the trial being profiled, which it reads from ``context``.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from pathlib import Path
from typing import Any

import attrs

from automl_codegen import ConfigError, hookimpl
from automl_codegen.options import PluginOptions, check, file_path, structure_options

__all__ = ["LatencyTable", "TableLatencyOptions", "TableLatencyProfiler", "load_latency_table", "lookup_latency"]

_NAME = "table-latency"
_NEEDS_TABLE = "{owner} needs table=PATH, the CSV of latencies (e.g. nb201_device_latency.csv)"


class LatencyTable:
    """One column of a CSV table, by key: ``values[key] -> float``.

    Attributes:
        path: the CSV file.
        key: the key column.
        column: the value column.
        values: the column's values by key (as text, stripped).
        index_of_cell: canonical cell string -> index, from ``index_table`` (may be empty).
    """

    def __init__(self, path: Path, key: str, column: str, values: dict[str, float], index_of_cell: dict[str, str]):
        self.path, self.key, self.column = path, key, column
        self.values = values
        self.index_of_cell = index_of_cell

    def __len__(self) -> int:
        return len(self.values)


def _canonical(cell: str) -> str:
    from ..spaces.nb201 import cell_string, parse_cell

    return cell_string(parse_cell(cell))


def _rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or ())
            missing = [c for c in needed if c not in columns]
            if missing:
                msg = f"{_NAME}: {path} has no column(s) {', '.join(missing)}; its columns: {', '.join(columns)}"
                raise ConfigError(msg)
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"{_NAME}: cannot read the table {path}: {exc}"
        raise ConfigError(msg) from None


@functools.lru_cache(maxsize=8)
def load_latency_table(path: str, key: str, column: str, index_table: str | None = None) -> LatencyTable:
    """Read ``column`` of the CSV ``path`` by ``key`` (cached per process).

    Raises:
        ConfigError: a missing file or column, a duplicate key, or a value that is not a number.
    """
    values: dict[str, float] = {}
    for number, row in enumerate(_rows(Path(path), (key, column)), start=2):
        name = row[key].strip()
        if key == "arch":
            name = _canonical(name)
        if name in values:
            msg = f"{_NAME}: {path} line {number}: key {name!r} appears twice in column {key!r}"
            raise ConfigError(msg)
        try:
            values[name] = float(row[column])
        except (TypeError, ValueError):
            msg = f"{_NAME}: {path} line {number}: {column}={row[column]!r} is not a number"
            raise ConfigError(msg) from None
    index_of_cell: dict[str, str] = {}
    if index_table is not None:
        for row in _rows(Path(index_table), ("index", "arch")):
            index_of_cell[_canonical(row["arch"])] = row["index"].strip()
    return LatencyTable(Path(path), key, column, values, index_of_cell)


def lookup_latency(genotype: Any, table: LatencyTable) -> float:
    """The table's value for a genotype: a benchmark index (int or digits) or a cell string.

    An index is looked up as is when the key column holds indices; a cell string is
    looked up directly when the key column is ``arch``, else translated to its index
    through the table's ``index_table``.

    Raises:
        ConfigError: the genotype is not in the table, or a cell string cannot be turned
            into the table's key.
    """
    if isinstance(genotype, bool) or not isinstance(genotype, int | str):
        msg = f"{_NAME}: a genotype to look up is a benchmark index or a cell string, got {genotype!r}"
        raise ConfigError(msg)
    text = str(genotype).strip()
    is_index = text.isdigit() and text.isascii()
    if table.key == "arch":
        if is_index:
            msg = f"{_NAME}: {table.path} is keyed by cell string (column 'arch'); got the index {text}"
            raise ConfigError(msg)
        key = _canonical(text)
    elif is_index:
        key = str(int(text))
    else:
        cell = _canonical(text)
        if not table.index_of_cell:
            msg = (
                f"{_NAME}: {table.path} is keyed by {table.key!r}, so the cell string {text!r} needs "
                f"index_table=PATH (a CSV with columns index and arch, e.g. nb201_accuracy.csv)"
            )
            raise ConfigError(msg)
        if cell not in table.index_of_cell:
            msg = f"{_NAME}: the cell {cell!r} is not in the index table"
            raise ConfigError(msg)
        key = table.index_of_cell[cell]
    if key not in table.values:
        msg = f"{_NAME}: {table.key}={key!r} is not in {table.path}"
        raise ConfigError(msg)
    return table.values[key]


@attrs.frozen(kw_only=True)
class TableLatencyOptions(PluginOptions):
    """The options of :class:`TableLatencyProfiler`, checked (see its docstring); the files
    are checked to exist by the profiler, which reads them."""

    table: str | os.PathLike[str] | None = attrs.field(
        default=None,
        # None is the default only so that a missing table gets this message.
        validator=[check(lambda v: v is not None, "a file path", message=_NEEDS_TABLE), file_path()],
        metadata={"help": "the CSV file of measurements (required)"},
    )
    column: str = attrs.field(
        default="pi5_onnx_latency_ms",
        validator=check(lambda v: isinstance(v, str), "a column name"),
        metadata={"help": "the value column"},
    )
    key: str = attrs.field(
        default="index",
        validator=check(lambda v: isinstance(v, str), "a column name"),
        metadata={"help": "the column that identifies a row: index, or arch for cell strings"},
    )
    index_table: str | os.PathLike[str] | None = attrs.field(
        default=None,
        validator=file_path(),
        metadata={"help": "CSV with columns index and arch, to turn a cell string into an index"},
    )


class TableLatencyProfiler:
    """Reports a trial's latency from a table of measurements on another device.

    Measures ``latency_ms`` and the column itself (``pi5_onnx_latency_ms``, say), so an
    objective or constraint can name either.

    Args:
        table: the CSV file of measurements.
        column: the value column (default ``pi5_onnx_latency_ms``).
        key: the column that identifies a row (default ``index``; ``arch`` for cell strings).
        index_table: CSV with columns ``index`` and ``arch`` that turns a cell string into
            an index (NAS-Bench-201's ``nb201_accuracy.csv``); needed when ``key`` holds
            indices and genotypes are cell strings.

    The genotype comes from the trial's evaluation context (``context.genotype``): the
    evaluator must pass ``context=`` to :meth:`profile` (see ``needs_context``).
    """

    #: Ask the evaluator for the trial's context: the genotype is not in the model.
    needs_context = True

    Options = TableLatencyOptions

    def __init__(self, **options: Any):
        self.options = o = structure_options(self.Options, options, owner=f"{_NAME} profiler")
        table, column, key, index_table = o.table, o.column, o.key, o.index_table
        for option, path in (("table", table), ("index_table", index_table)):
            if path is not None and not Path(path).is_file():
                msg = f"{_NAME} profiler: {option} {str(path)!r} is not a file"
                raise ConfigError(msg)
        self.table = load_latency_table(str(table), key, column, None if index_table is None else str(index_table))
        self.measures = ("latency_ms", column) if column != "latency_ms" else ("latency_ms",)

    def profile(self, model: Any, architecture: Any, device: str = "cpu", context: Any = None) -> dict[str, float]:
        genotype = getattr(context, "genotype", None)
        if genotype is None:
            msg = (
                f"{_NAME} profiler needs the trial's genotype: it looks the latency up by genotype, "
                f"and was called without an evaluation context that has one"
            )
            raise ConfigError(msg)
        value = lookup_latency(genotype, self.table)
        if not math.isfinite(value):
            msg = f"{_NAME}: {self.table.column} of {genotype!r} is {value}"
            raise ConfigError(msg)
        return dict.fromkeys(self.measures, value)


@hookimpl
def register_profilers(register):
    register(_NAME, TableLatencyProfiler)
