"""The preprocessing code of a generated model file for a table: raw rows to the network's inputs.

A pure renderer: :func:`tabular_lines` turns the ``normalization`` a tabular dataset
recorded (the ``csv`` dataset's, or the ``in-memory`` dataset's for arrays ``(N, F)``)
into module-level Python source that repeats it with numpy alone:

* constants: ``COLUMNS`` (the feature columns, in input order), ``MISSING_VALUES``,
  ``FILL``/``MEAN``/``STD`` (per numeric column), ``CATEGORIES`` (per categorical
  column, in one-hot order), ``FEATURE_NAMES``, ``NUM_FEATURES``; ``CLASSES`` when the
  labels were recorded; ``TARGET``/``TARGET_MEAN``/``TARGET_STD`` for regression;
* ``preprocess(rows)``: rows (dicts of column to raw value, as ``csv.DictReader``
  reads them, or sequences in ``COLUMNS`` order), or one dict, to a float32 array
  ``(N, NUM_FEATURES)`` equal to the dataset's inputs for the same rows;
* ``postprocess(outputs)`` for regression: standardised predictions in target units;
* ``label(index)`` and ``labels(outputs)`` when ``CLASSES`` is recorded.

The code needs ``import numpy as np`` at the top of its module (:data:`IMPORTS`);
:func:`tabular_module` gives a whole module. Lines stay within :data:`WIDTH` characters.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = [
    "IMPORTS",
    "MISSING_VALUES",
    "WIDTH",
    "is_tabular",
    "prediction",
    "tabular_code",
    "tabular_lines",
    "tabular_module",
]

#: The imports the rendered code needs, for the top of the module that holds it.
IMPORTS = ("import numpy as np",)
#: The longest line rendered.
WIDTH = 100
#: The missing-value tokens when the normalization records none (the in-memory dataset's).
MISSING_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "?")

_FUNCTIONS = '''
_CATEGORY_INDEX = {
    column: {category: j for j, category in enumerate(values)}
    for column, values in CATEGORIES.items()
}


def _missing(value):
    """None, NaN and the MISSING_VALUES tokens (spaces around them ignored) are missing."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in MISSING_VALUES
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _number(value, column, row):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"row {row}: column {column!r} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"row {row}: column {column!r} must be a finite number, got {value!r}")
    return number


def _category_keys(value):
    """The texts a raw value may have been written as in the CSV file."""
    if isinstance(value, str):
        return (value.strip(),)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return (str(float(value)), str(int(value)))
    return (str(value),)


def preprocess(rows):
    """Raw rows as the network's input: a float32 array (N, NUM_FEATURES), in FEATURE_NAMES order.

    ``rows``: a list of rows, each a dict of column name to raw value (strings as read
    from a CSV file, or numbers) or a sequence of values in COLUMNS order; or one dict.
    None, NaN and MISSING_VALUES count as missing. A numeric column's missing value
    becomes FILL, then (x - MEAN) / STD; a categorical column is one-hot over CATEGORIES,
    a missing value or a category unseen in training all zeros.
    """
    if isinstance(rows, dict):
        rows = [rows]
    rows = list(rows)
    out = np.zeros((len(rows), NUM_FEATURES), dtype=np.float32)
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            absent = [column for column in COLUMNS if column not in row]
            if absent:
                raise KeyError(f"row {i} has no column {absent[0]!r}; give None if it is missing")
            values = [row[column] for column in COLUMNS]
        else:
            values = list(row)
            if len(values) != len(COLUMNS):
                raise ValueError(f"row {i} has {len(values)} values; COLUMNS has {len(COLUMNS)}")
        j = 0
        for column, value in zip(COLUMNS, values, strict=True):
            if column in CATEGORIES:
                index = _CATEGORY_INDEX[column]
                if not _missing(value):
                    hit = next((index[key] for key in _category_keys(value) if key in index), None)
                    if hit is not None:
                        out[i, j + hit] = 1.0
                j += len(index)
            else:
                number = FILL[column] if _missing(value) else _number(value, column, i)
                out[i, j] = (number - MEAN[column]) / STD[column]
                j += 1
    return out
'''

_POSTPROCESS = '''

def postprocess(outputs):
    """The network's outputs (standardised predictions, (N, 1) or (N,)) in TARGET's units, (N,)."""
    if hasattr(outputs, "detach"):  # a torch tensor
        outputs = outputs.detach().cpu().numpy()
    return np.asarray(outputs, dtype=np.float64).reshape(-1) * TARGET_STD + TARGET_MEAN
'''

_LABELS = '''

def label(index):
    """The original label of class ``index``."""
    return CLASSES[int(index)]


def labels(outputs):
    """The original label of each row's highest output (logits or probabilities, (N, K))."""
    if hasattr(outputs, "detach"):  # a torch tensor
        outputs = outputs.detach().cpu().numpy()
    return [CLASSES[int(i)] for i in np.asarray(outputs).argmax(axis=1)]
'''


def prediction(normalization: Mapping[str, Any], outputs: str) -> dict[str, str]:
    """How a generated ``predict`` turns the network's ``outputs`` (an expression) into answers.

    Returns ``{"result": expression, "returns": annotation, "what": description}``:
    target values for regression, original labels when ``classes`` were recorded, else
    class indices.
    """
    if normalization.get("target") is not None:
        return {"result": f"postprocess({outputs})", "returns": "np.ndarray", "what": "predictions in TARGET's units"}
    if normalization.get("classes") is not None:
        return {"result": f"labels({outputs})", "returns": "list", "what": "the predicted labels (see CLASSES)"}
    return {"result": f"{outputs}.argmax(1).numpy()", "returns": "np.ndarray", "what": "the predicted class indices"}


def is_tabular(normalization: Any) -> bool:
    """Whether ``normalization`` is a table's (it records ``columns``), for an emitter to choose."""
    return isinstance(normalization, Mapping) and isinstance(normalization.get("columns"), list)


def tabular_module(normalization: Mapping[str, Any]) -> str:
    """A whole module: :data:`IMPORTS`, then :func:`tabular_lines`."""
    return "\n".join([*IMPORTS, "", *tabular_lines(normalization)]) + "\n"


def tabular_lines(normalization: Mapping[str, Any]) -> list[str]:
    """The module-level code that repeats a table's ``normalization`` (see the module's text).

    Returns:
        Source lines without newlines: a comment, the constants, then the functions.

    Raises:
        ValueError: ``normalization`` is not a table's, or a recorded value is not usable
            (a missing statistic, a std of 0, a category that is not text, ...), named.
    """
    if not is_tabular(normalization):
        msg = "normalization: not a table's; it records no 'columns' list"
        raise ValueError(msg)
    columns = [_column(c, j) for j, c in enumerate(normalization["columns"])]
    if not columns:
        msg = "normalization: 'columns' is empty"
        raise ValueError(msg)
    names = [c["name"] for c in columns]
    twice = next((n for j, n in enumerate(names) if n in names[:j]), None)
    if twice is not None:
        msg = f"normalization: the column {twice!r} is recorded twice"
        raise ValueError(msg)
    numeric = [c for c in columns if c["kind"] == "numeric"]
    categories = {c["name"]: c["categories"] for c in columns if c["kind"] == "categorical"}
    features = _feature_names(columns)
    recorded = normalization.get("feature_names")
    if recorded is not None and list(recorded) != features:
        msg = "normalization: 'feature_names' does not follow from 'columns'"
        raise ValueError(msg)
    missing = normalization.get("missing_values", list(MISSING_VALUES))
    if not (isinstance(missing, list | tuple) and all(isinstance(v, str) for v in missing)):
        msg = "normalization: 'missing_values' must be a list of strings"
        raise ValueError(msg)
    lines = [
        "# Raw table rows to the network's inputs, as the search's dataset made them, with the",
        "# statistics of its training split: a numeric column's missing value becomes FILL, then",
        "# (x - MEAN) / STD; a categorical column is one-hot over CATEGORIES (missing or unseen: zeros).",
        "",
        *_assign("COLUMNS", names),
        *_assign("MISSING_VALUES", frozenset(missing)),
        *_assign("FILL", {c["name"]: c["fill"] for c in numeric}, split=True),
        *_assign("MEAN", {c["name"]: c["mean"] for c in numeric}, split=True),
        *_assign("STD", {c["name"]: c["std"] for c in numeric}, split=True),
        *_assign("CATEGORIES", categories, split=True),
        *_assign("FEATURE_NAMES", features),
        f"NUM_FEATURES = {len(features)}",
    ]
    classes = normalization.get("classes")
    if classes is not None:
        if not (isinstance(classes, list) and classes and all(_is_label(v) for v in classes)):
            msg = "normalization: 'classes' must be a list of labels (strings or finite numbers)"
            raise ValueError(msg)
        lines += _assign("CLASSES", list(classes))
    target = normalization.get("target")
    if target is not None:
        mean, std = (_statistic(target, key, "'target'") for key in ("mean", "std"))
        if std == 0:
            msg = "normalization: 'target' has a std of 0"
            raise ValueError(msg)
        if isinstance(target.get("name"), str):
            lines += _assign("TARGET", target["name"])
        lines += [f"TARGET_MEAN = {mean!r}", f"TARGET_STD = {std!r}"]
    lines += ["", *_FUNCTIONS.splitlines()]
    if target is not None:
        lines += _POSTPROCESS.splitlines()
    if classes is not None:
        lines += _LABELS.splitlines()
    return lines


# -- checking what was recorded ------------------------------------------------------------------


def _column(column: Any, j: int) -> dict[str, Any]:
    where = f"normalization: column {j}"
    if not isinstance(column, Mapping) or not isinstance(column.get("name"), str):
        msg = f"{where} must be a mapping with a 'name' string"
        raise ValueError(msg)
    where += f" ({column['name']!r})"
    kind = column.get("kind")
    if kind == "numeric":
        out = {key: _statistic(column, key, where) for key in ("fill", "mean", "std")}
        if out["std"] == 0:
            msg = f"{where} has a std of 0"
            raise ValueError(msg)
        return {"name": column["name"], "kind": kind, **out}
    if kind == "categorical":
        values = column.get("categories")
        if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
            msg = f"{where}: 'categories' must be a non-empty list of strings"
            raise ValueError(msg)
        if len(set(values)) != len(values):
            msg = f"{where}: 'categories' holds a category twice"
            raise ValueError(msg)
        return {"name": column["name"], "kind": kind, "categories": list(values)}
    msg = f"{where}: 'kind' must be 'numeric' or 'categorical', got {kind!r}"
    raise ValueError(msg)


def _statistic(record: Mapping[str, Any], key: str, where: str) -> float:
    value = record.get(key)
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)):
        msg = f"{where}: {key!r} must be a finite number, got {value!r}"
        raise ValueError(msg)
    return float(value)


def _is_label(value: Any) -> bool:
    if isinstance(value, str | bool | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _feature_names(columns: list[dict[str, Any]]) -> list[str]:
    return [
        name
        for c in columns
        for name in ([c["name"]] if c["kind"] == "numeric" else [f"{c['name']}={v}" for v in c["categories"]])
    ]


# -- source text ---------------------------------------------------------------------------------


def _assign(name: str, value: Any, *, split: bool = False) -> list[str]:
    """``NAME = literal``, on one line when it fits, else one item per line.

    ``split``: a dict of more than one entry goes one entry per line even when it fits
    (columns of long floats read better one under the other).
    """
    if split and isinstance(value, dict) and len(value) > 1:
        return _split(value, 0, f"{name} = ", "")
    return _lines(value, 0, f"{name} = ", "")


def _lines(value: Any, indent: int, prefix: str, suffix: str) -> list[str]:
    """``prefix`` + the literal of ``value`` + ``suffix`` at ``indent``: one line if it fits."""
    pad = " " * indent
    flat = f"{pad}{prefix}{_literal(value)}{suffix}"
    if len(flat) <= WIDTH or not isinstance(value, str | list | dict | frozenset) or not value:
        return [flat]
    if isinstance(value, str):  # implicitly concatenated pieces, in parentheses
        room = WIDTH - indent - 4
        return [f"{pad}{prefix}(", *(f"{pad}    {_text(p)}" for p in _pieces(value, room)), f"{pad}){suffix}"]
    return _split(value, indent, prefix, suffix)


def _split(value: list | dict | frozenset, indent: int, prefix: str, suffix: str) -> list[str]:
    pad = " " * indent
    opening, closing = {list: ("[", "]"), dict: ("{", "}"), frozenset: ("frozenset({", "})")}[type(value)]
    out = [f"{pad}{prefix}{opening}"]
    if isinstance(value, dict):
        for key, item in value.items():
            key_lines = _lines(key, indent + 4, "", "")
            out += key_lines[:-1]
            out += _lines(item, indent + 4, f"{key_lines[-1].strip()}: ", ",")
    else:
        for item in _ordered(value):
            out += _lines(item, indent + 4, "", ",")
    out.append(f"{pad}{closing}{suffix}")
    return out


def _literal(value: Any) -> str:
    """``value`` as a Python literal on one line."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return f"[{', '.join(_literal(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(_literal(v) for v in _ordered(value)) + "})" if value else "frozenset()"
    msg = f"cannot write {type(value).__name__} as a literal"
    raise TypeError(msg)


def _ordered(value: list | frozenset) -> list[Any]:
    return sorted(value) if isinstance(value, frozenset) else list(value)


def _text(value: str) -> str:
    """A string literal, in double quotes unless the text holds one."""
    literal = repr(value)
    if literal.startswith("'") and '"' not in value:
        return f'"{literal[1:-1]}"'
    return literal


def _pieces(value: str, room: int) -> list[str]:
    """``value`` cut into pieces whose literals fit ``room`` characters, after a space if one is near."""
    pieces, current = [], ""
    for char in value:
        if current and len(_text(current + char)) > room:
            cut = current.rfind(" ") + 1
            if cut < len(current) // 2:  # no space in the second half: cut the word
                cut = len(current)
            pieces.append(current[:cut])
            current = current[cut:]
        current += char
    return [*pieces, current]


def tabular_code(metadata: Mapping[str, Any] | None, outputs: str) -> dict[str, Any] | None:
    """What an emitter's template needs for a table's model: the code lines and how ``predict`` ends.

    None when ``metadata["input"]["tabular"]`` records no table (images, sequences).
    """
    given = (metadata or {}).get("input") if isinstance(metadata, Mapping) else None
    normalization = given.get("tabular") if isinstance(given, Mapping) else None
    if not is_tabular(normalization):
        return None
    return {"lines": tabular_lines(normalization), **prediction(normalization, outputs)}
