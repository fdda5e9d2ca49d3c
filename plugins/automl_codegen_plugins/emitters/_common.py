"""What every emitter shares: line layout, variable planning and the module docstring.

The emitters write source code, not ASTs: expressions are small attrs values
(:class:`Call`, :class:`Sum`, plain strings) laid out into lines of at most
:data:`LINE_LENGTH` characters, so the output passes ``ruff check`` whatever the names.
:func:`graph_body` decides which value lives in which variable for one graph; the
docstring helpers turn search metadata into text that cannot break out of the
triple-quoted string it lands in.
"""

from __future__ import annotations

import functools
import json
import os
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from automl_codegen import Architecture, Node

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "CHAIN_VARS",
    "INDENT",
    "LINE_LENGTH",
    "Call",
    "Expr",
    "Preprocess",
    "Sum",
    "docstring_lines",
    "flat",
    "format_lines",
    "graph_body",
    "load_state_dict",
    "load_template",
    "preprocess_constants",
    "require",
    "write_atomically",
]

LINE_LENGTH = 100
INDENT = "    "
#: Variables a straight chain of nodes reuses; the IR reserves both as node names.
CHAIN_VARS = ("x", "out")
# Wrapping at this width leaves room for the escapes added afterwards in most cases.
_DOC_WIDTH = 92
_PRINTABLE = re.compile(r"[ -~]*")
_ESCAPED_CHAR = re.compile(r"\\.|.")


# -- expressions and line breaking ------------------------------------------------------


@attrs.frozen
class Call:
    """``func(args)``; with ``brackets="[]"`` and no ``func``, a list display."""

    func: str
    args: tuple[Expr, ...]
    brackets: str = "()"


@attrs.frozen
class Sum:
    """``a + b + ...``, evaluated left to right like the torch builder does."""

    terms: tuple[str, ...]


Expr = str | Call | Sum


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename to ``path``: an export killed mid-way leaves the old file or none.

    The temporary name keeps the file's suffix (Keras checks ``.weights.h5``).
    """
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def flat(expr: Expr) -> str:
    """``expr`` on one line."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, Sum):
        return " + ".join(expr.terms)
    return f"{expr.func}{expr.brackets[0]}{', '.join(map(flat, expr.args))}{expr.brackets[1]}"


def format_lines(expr: Expr, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """Lay out ``prefix + expr + suffix`` on one line, or break it to fit LINE_LENGTH."""
    line = f"{indent}{prefix}{flat(expr)}{suffix}"
    if len(line) <= LINE_LENGTH or isinstance(expr, str):
        return [line]
    inner = indent + INDENT
    if isinstance(expr, Sum):
        terms = [f"{inner}{expr.terms[0]}", *(f"{inner}+ {term}" for term in expr.terms[1:])]
        return [f"{indent}{prefix}(", *terms, f"{indent}){suffix}"]
    head = f"{indent}{prefix}{expr.func}{expr.brackets[0]}"
    if len(head) > LINE_LENGTH and prefix:
        # Long target and callee together: parenthesise the call on its own lines.
        return [f"{indent}{prefix}(", *format_lines(expr, inner), f"{indent}){suffix}"]
    close = f"{indent}{expr.brackets[1]}{suffix}"
    joined = f"{inner}{', '.join(map(flat, expr.args))}"
    if len(joined) <= LINE_LENGTH:
        return [head, joined, close]
    lines = [head]
    for arg in expr.args:
        lines += format_lines(arg, inner, suffix=",")
    return [*lines, close]


# -- which value lives in which variable ------------------------------------------------

#: ``lower(node, args, tmp)``: the expressions computing ``node`` from the variables
#: ``args``. Most nodes are one expression; with several, each after the first reads
#: the previous one's result from the variable ``tmp``.
Lower = Callable[[Node, Sequence[str], str], Sequence[Any]]
#: ``layout(expr, indent, prefix)``: the lines of ``prefix + expr``.
Layout = Callable[[Any, str, str], list[str]]


def graph_body(
    nodes: Sequence[Node],
    input_vars: Mapping[str, str],
    lower: Lower,
    indent: str,
    final: str = "return ",
    layout: Layout = format_lines,
) -> list[str]:
    """The statements of one graph; a straight chain reuses ``x``, shared values get names.

    A value goes into a chain variable when exactly one node uses it and that node comes
    next, and the variable's current value is not needed afterwards; any other value is
    kept in a variable named after its node. An identity shares its input's variable.

    Args:
        nodes: the graph in topological order.
        input_vars: graph input name → the variable holding it.
        lower: the expressions of a node (see :data:`Lower`).
        indent: the indentation of the statements.
        final: what the last node's value is given to (``"return "``, ``"outputs = "``).
        layout: lays out one expression (see :data:`Layout`).
    """
    users: dict[str, set[int]] = {}
    for index, node in enumerate(nodes):
        for ref in node.inputs:
            users.setdefault(ref, set()).add(index)
    last_use = {ref: max(indices) for ref, indices in users.items()}
    var_of = dict(input_vars)
    held = {var: value for value, var in input_vars.items() if var in CHAIN_VARS}
    lines: list[str] = []

    def emit(stages: Sequence[Any], tmp: str, target: str) -> None:
        for stage in stages[:-1]:
            lines.extend(layout(stage, indent, f"{tmp} = "))
        lines.extend(layout(stages[-1], indent, target))

    for index, node in enumerate(nodes):
        args = [var_of[ref] for ref in node.inputs]
        if index == len(nodes) - 1:
            # Nothing is needed afterwards, so any chain variable can hold intermediates.
            emit(lower(node, args, CHAIN_VARS[0]), CHAIN_VARS[0], final)
            break
        if node.op == "identity" and args[0] not in CHAIN_VARS:
            # Named variables are never reassigned, so the identity can share one.
            var_of[node.name] = args[0]
            continue
        var = node.name
        if users[node.name] == {index + 1}:
            preferred = [var_of[ref] for ref in node.inputs if var_of[ref] in CHAIN_VARS]
            free = [
                v
                for v in dict.fromkeys([*preferred, *CHAIN_VARS])
                if v not in held or last_use.get(held[v], -1) <= index
            ]
            if free:
                var = free[0]
                held[var] = node.name
        var_of[node.name] = var
        stages = lower(node, args, var)
        if list(stages) != [var]:  # an identity that lands in its input's variable needs no line
            emit(stages, var, f"{var} = ")
    return lines


# -- the module docstring ------------------------------------------------------------------


def show(value: object) -> str:
    """One-line display text; anything but plain printable ASCII goes through JSON."""
    if isinstance(value, str):
        return value if _PRINTABLE.fullmatch(value) else json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


@attrs.frozen
class Preprocess:
    """How stored pixel values became the network's input, as source literals.

    ``x / scale``, then per channel ``(x - mean) / std`` (one value, or one per channel).
    ``rank`` is that of one input: 3 for images ``(C, H, W)``, 2 for sequences ``(C, L)``.
    """

    scale: str
    mean: str
    std: str
    rank: int = 3

    @property
    def channels_first(self) -> str:
        """The stored layout, channels first: ``(N, C, H, W)`` or ``(N, C, L)``."""
        return "(N, C, H, W)" if self.rank == 3 else "(N, C, L)"

    @property
    def channels_last(self) -> str:
        """The layout the Keras model takes: ``(N, H, W, C)`` or ``(N, L, C)``."""
        return "(N, H, W, C)" if self.rank == 3 else "(N, L, C)"

    @property
    def view(self) -> str:
        """``.view(...)`` arguments that put per-channel constants along dim 1 of a batch."""
        return ", ".join(["1", "-1"] + ["1"] * (self.rank - 1))

    @property
    def values(self) -> str:
        """What the raw inputs are called in ``preprocess``."""
        return "pixels" if self.rank == 3 else "values"


def preprocess_constants(metadata: Mapping[str, Any] | None, input_shape: Sequence[int]) -> Preprocess | None:
    """The constants of a ``preprocess`` function, from the metadata's ``input.preprocess``.

    ``None`` where the metadata has none (code written from an architecture alone) or
    what it has is not plain finite numbers of a fitting length: the function would only
    be guessed, and the docstring still says what is known in words.
    """
    given = _mapping(_mapping(metadata, "metadata").get("input"), "'input'").get("preprocess")
    if not isinstance(given, Mapping) or len(input_shape) not in (2, 3):
        return None  # tables have their own preprocessing (see _tabular)
    channels = input_shape[0]

    def numbers(value: Any) -> tuple[float, ...] | None:
        values = value if isinstance(value, list | tuple) else [value]
        if not values or len(values) not in (1, channels):
            return None
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e30 for v in values):
            return None  # NaN fails abs(v) < 1e30 too
        return tuple(float(v) for v in values)

    scale, mean, std = numbers(given.get("scale", 1.0)), numbers(given.get("mean")), numbers(given.get("std"))
    if scale is None or mean is None or std is None or len(scale) != 1 or min(*scale, *std) <= 0:
        return None
    return Preprocess(repr(scale[0]), repr(mean), repr(std), len(input_shape))


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"metadata {what} must be a mapping, got {value!r}"
        raise TypeError(msg)
    return value


def _output_line(arch: Architecture, task: Any, tabular: Any) -> str:
    """What the network outputs: logits, or for regression standardised values."""
    size = f"{arch.name}, which has {arch.num_params:,} parameters"
    if task == "tabular_regression":
        target = tabular.get("target") if isinstance(tabular, Mapping) else None
        units = " (postprocess turns them into the target's units)" if isinstance(target, Mapping) else ""
        return f"Output: (N, 1) standardised predictions{units} from {size}."
    return f"Output: (N, {arch.num_classes}) logits from {size}."


def docstring_lines(
    arch: Architecture,
    metadata: Mapping[str, Any] | None,
    *,
    input_dims: Sequence[int],
    usage: Sequence[str],
    input_notes: Sequence[str] = (),
) -> list[str]:
    """The module docstring after its title: input, output, metrics, search, usage.

    Every line is escaped for a ``\"\"\"`` string and fits LINE_LENGTH, whatever the
    metadata holds.

    Args:
        arch: the network the module holds.
        metadata: ``input`` (``shape`` — checked against ``arch`` —, ``dtype``,
            ``normalization``), ``metrics``, ``dataset``, ``strategy``, ``space``,
            ``genotype`` and any other JSON-like entries; ``None`` values are left out.
        input_dims: the per-sample input shape in the layout the generated model takes.
        usage: the lines of the usage example, indented under "Usage:".
        input_notes: lines after the input line (e.g. how to convert the layout).

    Raises:
        ValueError: the metadata's input shape is not the architecture's.
        TypeError: ``metadata``, its ``input`` or its ``metrics`` is not a mapping.
    """
    # None means "not known" (a search without a space, say): leave it out.
    meta = {k: v for k, v in _mapping(metadata, "metadata").items() if v is not None}
    given = _mapping(meta.pop("input", None), "'input'")
    shape = given.get("shape")
    if shape is not None and (not isinstance(shape, list | tuple) or tuple(shape) != arch.input_shape):
        msg = f"metadata input shape {shape!r} does not match the architecture's input_shape {arch.input_shape}"
        raise ValueError(msg)
    dims = ", ".join(map(str, input_dims))
    norm = given.get("normalization", given.get("normalisation"))
    lines = [
        "",
        f"Input: a {show(given.get('dtype', 'float32'))} tensor of shape (N, {dims}), N being the batch size.",
        *input_notes,
        f"Normalisation: {show(norm)}"
        if norm is not None
        else "Normalisation: not recorded; scale inputs as they were in training.",
        _output_line(arch, meta.pop("task", None), given.get("tabular")),
    ]
    metrics = _mapping(meta.pop("metrics", None), "'metrics'")
    if metrics:
        lines += ["", "Measured during the search:"]
        lines += [f"    {show(k)}: {show(metrics[k])}" for k in sorted(metrics, key=str)]
    search = [f"{k} {show(meta.pop(k))}" for k in ("dataset", "strategy", "space") if k in meta]
    genotype = meta.pop("genotype", None)
    if search or genotype is not None or meta:
        lines.append("")
    if search:
        lines.append(f"Search: {', '.join(search)}.")
    if genotype is not None:
        lines.append(f"Genotype: {show(genotype)}")
    lines += [f"{show(k)}: {show(meta[k])}" for k in sorted(meta, key=str)]
    lines += ["", "Usage:", *(f"    {line}" for line in usage)]
    return [out for line in lines for out in fit(line)]


def fit(line: str) -> list[str]:
    """Wrap a display line and escape it for a triple-quoted string, within LINE_LENGTH."""
    if not line:
        return [""]
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    # A token longer than a line (an NB201 genotype, a path) gets a line of its own,
    # whole, so that it can be copied (linters do not count a line of one word); only
    # one longer than two lines is cut.
    wrapped = textwrap.wrap(line, _DOC_WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    out = []
    for part in wrapped:
        escaped = part.replace("\\", "\\\\").replace('"""', '""\\"')
        if LINE_LENGTH < len(escaped) <= 2 * LINE_LENGTH and len(escaped.split()) == 1:
            out.append(escaped)
            continue
        # Escapes can push a line past the limit: cut it, never inside an escape.
        current = ""
        for atom in _ESCAPED_CHAR.findall(escaped):
            if len(current) + len(atom) > LINE_LENGTH:
                out.append(current.rstrip())
                current = indent
            current += atom
        out.append(current.rstrip())
    return out


# -- what artifact emitters share -----------------------------------------------------------


def require(package: str, emitter: str, extra: str) -> Any:
    """Import an optional package, or a ConfigError naming the extra that brings it."""
    import importlib

    from automl_codegen import ConfigError

    try:
        return importlib.import_module(package)
    except ImportError:
        msg = (
            f"the {emitter} emitter needs the package {package!r}, which is not installed: "
            f"pip install 'automl-codegen[{extra}]'"
        )
        raise ConfigError(msg) from None


def load_state_dict(module: Any, weights: Mapping[str, Any], architecture: Architecture) -> None:
    """``module.load_state_dict(weights)``, or an ArchitectureError in one line."""
    from automl_codegen import ArchitectureError

    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:
        why = " ".join(str(exc).split())  # torch's message spans lines
        msg = f"the state dict does not fit architecture {architecture.name!r}: {why}"
        raise ArchitectureError(msg) from None


# -- templates -----------------------------------------------------------------------------


@functools.cache
def load_template(package: str, name: str) -> jinja2.Template:
    """``templates/<name>`` of ``package``, with the settings every emitter uses."""
    import jinja2  # imported on first use so that listing plugins stays fast

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name)
