"""A table read from a CSV file: numeric and categorical columns, and a class or a number to predict.

``--dataset csv --dataset-option path=data.csv`` (``dataset="csv",
dataset_options={"path": "data.csv"}`` in Python). The file:

* is UTF-8 text (a byte-order mark is fine); its first line names the columns, unless
  ``header=false``, when the columns are called ``col1``, ``col2``, ... (1-based);
* has its fields separated by a comma, a semicolon or a tab (sniffed from the first
  lines, or given as ``delimiter``); fields may be quoted (``"Smith, John"``) and are
  read with the spaces around them stripped (``" 3.5 "`` is 3.5);
* marks a missing value by an empty field or one of ``missing_values`` (``NA``, ``N/A``,
  ``NaN``, ``nan``, ``null``, ``?``).

Rows are numbered as the file's lines, the header being row 1, as an editor or a
spreadsheet shows them; errors name the row and the column at fault.

The target is the ``target`` column (by default the last one). The task, unless given,
is ``tabular_classification`` for a target holding a value that is not a number, or at
most 20 distinct whole numbers; otherwise ``tabular_regression``. Classification splits
keep each class's proportions; regression splits are random; both are fixed by the seed.

Features are the other columns (or ``columns``). A column is categorical when
``categorical`` names it, or, with ``categorical`` left out, when it holds a value that
is not a number; the others are numeric. Every statistic comes from the training split
alone and is recorded in ``normalization["columns"]``, one entry per feature column in
input order:

* numeric: ``{"name", "kind": "numeric", "fill", "missing", "mean", "std"}``: a missing
  value becomes ``fill`` (the training median; ``missing`` counts those filled in the
  whole file), then ``(x - mean) / std`` (std 0 counts as 1): one input feature;
* categorical: ``{"name", "kind": "categorical", "categories", "missing", "unseen",
  "unknown": "all zeros"}``: one-hot over the training categories in sorted order, a
  missing value or one unseen in training (``unseen`` counts those) all zeros:
  ``len(categories)`` input features, named ``"column=category"``.

``normalization`` also holds ``feature_names`` (the input features, in order),
``missing_values``, ``description``, and for classification with labels other than
the whole numbers 0..K-1 ``classes`` (the original label of each class index), for
regression ``target`` (``{"name", "mean", "std"}``: targets are stored standardised).
The file's path is not recorded there, so the same table moved elsewhere keeps its
fingerprint.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, hookimpl
from automl_codegen.errors import shown
from automl_codegen.evaluation import Dataset
from automl_codegen.options import OptionError, boolean, check, file_path

from ._split import (
    MAX_AUTO_CLASSES,
    DatasetOptions,
    apply_numeric,
    check_held_out,
    check_parts,
    class_codes,
    dataset_options,
    fraction,
    numeric_column,
    split_rows,
    standardize_target,
    target_text,
)

NAME = "csv"
CLASSIFICATION, REGRESSION = "tabular_classification", "tabular_regression"
#: What an empty-looking field may say instead of a value (compared after stripping spaces).
MISSING_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "?")
#: The separators sniffed, in order of preference when more than one fits.
DELIMITERS = (",", ";", "\t")
#: Distinct training values a categorical column may hold: more is an identifier or free
#: text, whose one-hot encoding would only be a very wide input.
MAX_CATEGORIES = 1000
#: Lines read to sniff the separator.
SNIFF_LINES = 50


# -- options -------------------------------------------------------------------------------------


def _names(value: Any) -> Any:
    """``"a, b"`` (as the command line gives it) and lists as a tuple of names."""
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(","))
    return tuple(value) if isinstance(value, list | tuple) else value


def _is_names(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(name, str) for name in value)


def _delimiter(value: Any) -> Any:
    """``\\t`` as typed in a shell, and ``tab``, as the tab character."""
    return "\t" if value in ("\\t", "tab", "TAB") else value


@attrs.frozen(kw_only=True)
class CsvOptions(DatasetOptions):
    """The options of ``csv`` (see :func:`load_csv` and the module's documentation)."""

    path: str | os.PathLike[str] | None = attrs.field(
        default=None, validator=file_path(), metadata={"help": "the CSV file to read (required)"}
    )
    target: str | None = attrs.field(
        default=None,
        validator=check(lambda v: isinstance(v, str) and bool(v), "a column name", optional=True),
        metadata={"help": "the column to predict; None: the last column"},
    )
    columns: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_names,
        validator=check(_is_names, "a list of column names", optional=True),
        metadata={
            "help": "the feature columns, in this order (a list, or names separated by commas); None: every "
            "column but the target"
        },
    )
    categorical: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_names,
        validator=check(_is_names, "a list of column names", optional=True),
        metadata={
            "help": "the feature columns to one-hot encode, every other one numeric; None: each column that "
            "holds a value that is not a number"
        },
    )
    task: str | None = attrs.field(
        default=None,
        validator=check(
            lambda v: v in (CLASSIFICATION, REGRESSION),
            f"{CLASSIFICATION}, {REGRESSION} or None (decided from the target)",
            optional=True,
            message="{owner} reads tables: {name} must be {expected}, got {value!r}",
        ),
        metadata={
            "help": f"{CLASSIFICATION} or {REGRESSION}; None: classification for a target holding a value "
            f"that is not a number, or at most {MAX_AUTO_CLASSES} distinct whole numbers, else regression"
        },
    )
    val_fraction: float = attrs.field(
        default=0.2,
        validator=fraction,
        metadata={"help": "share of the rows held out for validation (of each class when classifying), in (0, 1)"},
    )
    test_fraction: float = attrs.field(
        default=0.2,
        validator=fraction,
        metadata={"help": "share of the rows held out for test (of each class when classifying), in (0, 1)"},
    )
    delimiter: str | None = attrs.field(
        default=None,
        converter=_delimiter,
        validator=check(
            lambda v: isinstance(v, str) and len(v) == 1 and v not in '"\r\n',
            "one character, not a quote or a line break",
            optional=True,
        ),
        metadata={"help": "the field separator (\\t or tab for a tab); None: sniffed among comma, semicolon, tab"},
    )
    header: bool = attrs.field(
        default=True,
        validator=boolean(),
        metadata={"help": "whether the first line names the columns; false: they are called col1, col2, ..."},
    )
    missing_values: tuple[str, ...] = attrs.field(
        default=MISSING_VALUES,
        converter=lambda v: tuple(v) if isinstance(v, list | tuple) else v,
        validator=check(_is_names, "a list of strings"),
        metadata={
            "help": "field values (spaces stripped) that mean missing: numeric features get the training "
            "median, categorical ones all zeros"
        },
    )

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        if self.path is None:
            raise OptionError(
                "{owner} needs the option path, the CSV file to read: --dataset-option path=FILE.csv "
                "(dataset_options={{'path': 'FILE.csv'}} in Python)",
                owner=owner,
            )
        check_held_out(self.val_fraction, self.test_fraction, owner)
        for option in ("columns", "categorical"):
            names = getattr(self, option)
            if names is None:
                continue
            if option == "columns" and not names:
                raise OptionError("{option} lists no column; leave it out to use every column", option=option)
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise OptionError("{option} names {name!r} twice", option=option, name=twice[0])
        if self.columns is not None and self.target in self.columns:
            raise OptionError("columns names the target {target!r}; it cannot be a feature too", target=self.target)


# -- the loader ----------------------------------------------------------------------------------


def load_csv(*, seed: int = 0, **options: Any) -> Dataset:
    """The table in the CSV file ``path``, split with ``seed`` and encoded for a network.

    Returns float32 inputs ``(N, F)`` (F: numeric columns plus one per category of each
    categorical column) and int64 classes or standardised float32 targets; see the
    module's documentation for what ``normalization`` records.

    Raises:
        ConfigError: the file cannot be read, or a column, row or option is at fault, named.
    """
    o = dataset_options(CsvOptions, NAME, options)
    path = Path(o.path).expanduser().resolve()  # type: ignore[arg-type]
    table = _read_table(path, o)
    missing = frozenset(o.missing_values)
    target, features = _chosen_columns(table, path, o)
    target_values = table.column(target)
    absent = [row for row, value in zip(table.rows, target_values, strict=True) if value in missing]
    if absent:
        many = len(absent) != 1
        msg = (
            f"csv: the target column {target!r} has {len(absent)} missing value{'s' if many else ''} "
            f"({_rows_text(absent)}); fill {'them' if many else 'it'} in or drop {'those rows' if many else 'the row'}"
        )
        raise ConfigError(msg)
    kinds = _kinds(table, features, o.categorical, missing)
    task, why, y = _target(target, target_values, table.rows, o.task)
    regression = task == REGRESSION
    classes = None
    if not regression:
        y, classes = class_codes(y)
        if y.max() == 0:
            label = classes[0] if classes is not None else 0
            msg = f"csv: the target column {target!r} holds only one class ({label!r}); a classifier needs two or more"
            raise ConfigError(msg)
    parts = split_rows(
        y, regression=regression, val_fraction=float(o.val_fraction), test_fraction=float(o.test_fraction), seed=seed
    )
    check_parts(NAME, parts, per_class=not regression)
    train = parts[0]
    blocks, records = [], []
    for name in features:
        encode = _numeric if kinds[name] == "numeric" else _categorical
        block, record = encode(name, table.column(name), table.rows, train, missing)
        blocks.append(block)
        records.append(record)
    x = np.concatenate(blocks, axis=1)
    normalization: dict[str, Any] = {
        "description": _how(records),
        "columns": records,
        "feature_names": [name for record in records for name in _feature_names(record)],
        "missing_values": list(o.missing_values),
    }
    if regression:
        ys, normalization["target"] = standardize_target(target, *(y[p] for p in parts))
        normalization["description"] += f"; {target_text(normalization['target'])}"
        num_classes, predicts = 1, f"a number ({REGRESSION}{why})"
    else:
        ys = [y[p] for p in parts]
        num_classes = int(y.max()) + 1
        predicts = f"{num_classes} classes ({CLASSIFICATION}{why})"
    if classes is not None:
        normalization["classes"] = classes
    numeric = sum(kinds[name] == "numeric" for name in features)
    description = (
        f"csv file {path}: {len(y)} rows, {len(features)} feature columns ({numeric} numeric, "
        f"{len(features) - numeric} categorical) giving {x.shape[1]} input features; target {target!r}: {predicts}; "
        f"split {'at random' if regression else 'per class'} with seed {seed}: {len(parts[0])} training, "
        f"{len(parts[1])} validation, {len(parts[2])} test rows; {_filled(records)}"
    )
    (x_train, x_val, x_test), (y_train, y_val, y_test) = (x[p] for p in parts), ys
    return Dataset(
        name=NAME,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        normalization=normalization,
        description=description,
        task=task,
    )


load_csv.Options = CsvOptions  # type: ignore[attr-defined]


# -- reading the file ----------------------------------------------------------------------------


@attrs.frozen
class _Table:
    """The file's column names, its rows' line numbers and their fields (spaces stripped)."""

    names: list[str]
    rows: list[int]
    fields: list[list[str]]

    def column(self, name: str) -> list[str]:
        j = self.names.index(name)
        return [fields[j] for fields in self.fields]


def _read_table(path: Path, o: CsvOptions) -> _Table:
    text = _read_text(path)
    delimiter = o.delimiter or _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            if record:  # a blank line (the one after a final newline, say) holds no row
                records.append((start, [field.strip() for field in record]))
    except csv.Error as exc:
        msg = f"csv: cannot read {path}, row {reader.line_num}: {exc}; is it a CSV file?"
        raise ConfigError(msg) from None
    if o.header:
        _, names = records.pop(0)
        _check_header(names, path)
    else:
        names = [f"col{j + 1}" for j in range(len(records[0][1]))]
    if not records:
        msg = f"csv: {path} has a header line but no rows below it"
        raise ConfigError(msg)
    what = "the header" if o.header else f"row {records[0][0]}"
    for row, fields in records:
        if len(fields) != len(names):
            sep = {"\t": "tab"}.get(delimiter, repr(delimiter))
            msg = (
                f"csv: row {row} of {path} has {len(fields)} field{'s' if len(fields) != 1 else ''}, {what} has "
                f"{len(names)}; quote fields that hold the separator {sep}"
            )
            raise ConfigError(msg)
    return _Table(names, [row for row, _ in records], [fields for _, fields in records])


def _read_text(path: Path) -> str:
    if not path.exists():
        msg = f"csv: {path} does not exist; pass the CSV file to read as path (--dataset-option path=FILE.csv)"
        raise ConfigError(msg)
    if path.is_dir():
        msg = f"csv: {path} is a directory; path must name a CSV file"
        raise ConfigError(msg)
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"csv: cannot read {path} ({exc.strerror or exc}); check that the file is readable"
        raise ConfigError(msg) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = (
            f"csv: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"save it as UTF-8 (CSV UTF-8 in a spreadsheet's Save As)"
        )
        raise ConfigError(msg) from None
    if not text.strip():
        msg = f"csv: {path} is empty; it needs a line naming the columns, then one line per row"
        raise ConfigError(msg)
    return text


def _sniff(text: str) -> str:
    """The separator that splits the first lines into the same number of fields, most of them."""
    sample = "\n".join(text.splitlines()[:SNIFF_LINES])
    best, best_key = DELIMITERS[0], (False, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r]
        except csv.Error:
            continue
        # The last sampled line may be cut inside a quoted field: it does not count.
        consistent = len(set(counts[:-1] or counts)) == 1
        key = (consistent and counts[0] > 1, counts[0])
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _check_header(names: list[str], path: Path) -> None:
    if all(_number(name) is not None for name in names):
        first = ", ".join(shown(n, 20) for n in names[:3])
        msg = (
            f"csv: the first line of {path} holds only numbers ({first}, ...), not column names; add a header "
            f"line, or pass header=false to call the columns col1, col2, ..."
        )
        raise ConfigError(msg)
    for j, name in enumerate(names):
        if not name:
            msg = f"csv: column {j + 1} of the header of {path} has no name; name it, or delete the column"
            raise ConfigError(msg)
        if names.index(name) != j:
            msg = (
                f"csv: the header of {path} names the column {name!r} twice (columns {names.index(name) + 1} and "
                f"{j + 1}); rename one"
            )
            raise ConfigError(msg)


def _chosen_columns(table: _Table, path: Path, o: CsvOptions) -> tuple[str, list[str]]:
    """The target and the feature columns, each checked to be one of the file's."""

    def known(name: str, option: str) -> None:
        if name not in table.names:
            head = ", ".join(shown(n, 40) for n in table.names[:30])
            more = f" and {len(table.names) - 30} more" if len(table.names) > 30 else ""
            what = "no column" if option == "target" else f"{option} names"
            tail = "" if option == "target" else ", which is not a column"
            msg = f"csv: {what} {shown(name)}{tail} in {path}; its columns are {head}{more}"
            raise ConfigError(msg)

    target = o.target if o.target is not None else table.names[-1]
    known(target, "target")
    for name in o.columns or ():
        known(name, "columns")
    features = list(o.columns) if o.columns is not None else [n for n in table.names if n != target]
    if target in features:
        msg = f"csv: columns names the target {target!r}; it cannot be a feature too"
        raise ConfigError(msg)
    if not features:
        msg = f"csv: {path} has no column besides the target {target!r}; a table needs at least one feature column"
        raise ConfigError(msg)
    for name in o.categorical or ():
        known(name, "categorical")
        if name == target:
            msg = f"csv: categorical names the target {target!r}; pass task to say whether it is a class or a number"
            raise ConfigError(msg)
        if name not in features:
            msg = f"csv: categorical names {name!r}, which columns leaves out; add it to columns or drop it here"
            raise ConfigError(msg)
    return target, features


# -- the target ---------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    """``text`` as a finite number, or None ("1e3" and "-.5" are numbers; "inf" and "1,5" are not)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and "_" not in text else None


def _target(name: str, values: list[str], rows: list[int], given: str | None) -> tuple[str, str, np.ndarray]:
    """The task, why it was decided (for the description), and the target as numbers or strings."""
    numbers = [_number(v) for v in values]
    text = next((i for i, n in enumerate(numbers) if n is None), None)
    if text is not None:
        if given == REGRESSION:
            msg = (
                f"csv: task {REGRESSION!r} needs a numeric target, but row {rows[text]} of the target column "
                f"{name!r} holds {shown(values[text])}"
            )
            raise ConfigError(msg)
        why = "" if given else f", decided: the target holds text such as {shown(values[text], 40)}"
        return CLASSIFICATION, why, np.array(values)
    y = np.array(numbers, dtype=np.float64)
    whole = bool(np.all(y == np.round(y)))
    distinct = len(np.unique(y))
    if given:
        return given, "", y
    if whole and distinct <= MAX_AUTO_CLASSES:
        return CLASSIFICATION, f", decided: the target holds {distinct} distinct whole numbers", y
    why = "numbers that are not all whole" if not whole else f"{distinct} distinct whole numbers"
    return REGRESSION, f", decided: the target holds {why}", y


# -- the features -------------------------------------------------------------------------------


def _kinds(table: _Table, features: list[str], categorical: Sequence[str] | None, missing: frozenset[str]) -> dict:
    """``"numeric"`` or ``"categorical"`` per feature column, checked against the values."""
    kinds = {}
    for name in features:
        values = table.column(name)
        if all(v in missing for v in values):
            msg = (
                f"csv: column {name!r} holds no values: all {len(values)} rows are missing it; leave it out "
                f"with the columns option"
            )
            raise ConfigError(msg)
        text = next((i for i, v in enumerate(values) if v not in missing and _number(v) is None), None)
        if categorical is None:
            kinds[name] = "numeric" if text is None else "categorical"
        elif name in categorical:
            kinds[name] = "categorical"
        elif text is not None:
            msg = (
                f"csv: column {name!r} is numeric (categorical leaves it out), but row {table.rows[text]} holds "
                f"{shown(values[text], 40)}; add {name!r} to categorical, or the value to missing_values"
            )
            raise ConfigError(msg)
        else:
            kinds[name] = "numeric"
    return kinds


def _numeric(
    name: str, values: list[str], rows: list[int], train: np.ndarray, missing: frozenset[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    column = np.array([np.nan if v in missing else float(v) for v in values], dtype=np.float64)
    absent = np.isnan(column)
    if absent[train].all():
        msg = f"csv: column {name!r} has no value in the {len(train)} training rows; leave it out with columns"
        raise ConfigError(msg)
    record = numeric_column(name, column[train], missing=int(absent.sum()))
    return apply_numeric(record, column)[:, None], record


def _categorical(
    name: str, values: list[str], rows: list[int], train: np.ndarray, missing: frozenset[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    categories = sorted({values[i] for i in train} - missing)
    if not categories:
        msg = f"csv: column {name!r} has no value in the {len(train)} training rows; leave it out with columns"
        raise ConfigError(msg)
    if len(categories) > MAX_CATEGORIES:
        msg = (
            f"csv: the categorical column {name!r} holds {len(categories):,} distinct values in the training rows, "
            f"more than {MAX_CATEGORIES:,}: an identifier or free text; leave it out with columns (or, if it is "
            f"numeric, add its other values to missing_values)"
        )
        raise ConfigError(msg)
    index = {category: j for j, category in enumerate(categories)}
    block = np.zeros((len(values), len(categories)), dtype=np.float32)
    n_missing = n_unseen = 0
    for i, value in enumerate(values):
        if value in missing:
            n_missing += 1
        elif value in index:
            block[i, index[value]] = 1.0
        else:
            n_unseen += 1
    record = {
        "name": name,
        "kind": "categorical",
        "categories": categories,
        "missing": n_missing,
        "unseen": n_unseen,
        "unknown": "all zeros",
    }
    return block, record


def _feature_names(record: dict[str, Any]) -> list[str]:
    if record["kind"] == "numeric":
        return [record["name"]]
    return [f"{record['name']}={category}" for category in record["categories"]]


def _how(records: list[dict[str, Any]]) -> str:
    """How raw values became inputs, for ``normalization["description"]``."""
    kinds = {record["kind"] for record in records}
    parts = []
    if "numeric" in kinds:
        parts.append("numeric columns: missing values filled with the training median, then (x - mean) / std")
    if "categorical" in kinds:
        parts.append(
            "categorical columns: one-hot over the training categories in sorted order, missing and unseen "
            "values all zeros"
        )
    return "; ".join(parts) + " (statistics of the training split, per column in 'columns')"


def _filled(records: list[dict[str, Any]]) -> str:
    """Where missing values were filled, and unseen categories zeroed, for the description."""
    filled = [
        f"{r['name']!r} {r['missing']} (training median {r['fill']:g})"
        if r["kind"] == "numeric"
        else f"{r['name']!r} {r['missing']} (all zeros)"
        for r in records
        if r["missing"]
    ]
    text = f"missing values filled: {', '.join(filled)}" if filled else "no missing values"
    unseen = [f"{r['name']!r} {r['unseen']}" for r in records if r.get("unseen")]
    if unseen:
        text += f"; categories unseen in training (all zeros): {', '.join(unseen)}"
    return text


def _rows_text(rows: list[int], show: int = 5) -> str:
    """``row 4``, ``rows 4, 9 and 12``, ``rows 4, 9, 12, 15, 20, ...``."""
    if len(rows) == 1:
        return f"row {rows[0]}"
    if len(rows) <= show:
        return f"rows {', '.join(map(str, rows[:-1]))} and {rows[-1]}"
    return f"rows {', '.join(map(str, rows[:show]))}, ..."


@hookimpl
def register_datasets(register):
    register(NAME, load_csv)
