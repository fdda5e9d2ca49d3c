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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "Branches",
    "Call",
    "Expr",
    "Preprocess",
    "Statements",
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
    hugged = expr.args[0] if len(expr.args) == 1 and isinstance(expr.args[0], Call) else None
    if hugged is not None and expr.func and not hugged.func:
        # One list argument: the brackets hug, ``nn.ModuleList([`` ... ``])``.
        return format_lines(hugged, indent, f"{prefix}{expr.func}{expr.brackets[0]}", f"{expr.brackets[1]}{suffix}")
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

#: ``lower(node, args, tmp)``: the expressions computing ``node`` from ``args`` (variables,
#: or the text of values written in place). Most nodes are one expression; with
#: several, each after the first reads the previous one's result from the variable
#: ``tmp``. A node may also lower to :class:`Branches` or :class:`Statements`.
Lower = Callable[[Node, Sequence[str], str], Any]
#: ``layout(expr, indent, prefix)``: the lines of ``prefix + expr``.
Layout = Callable[[Any, str, str], list[str]]
#: ``inline(value, reader)``: whether the expression of node ``value`` may be written
#: inside that of ``reader``, its only reader (a term of a sum, a slice in a call).
Inline = Callable[[Node, Node], bool]


@attrs.frozen
class Branches:
    """``if flag:`` one lowering, ``else:`` another, into the same variable."""

    flag: str
    if_set: Sequence[Any]
    otherwise: Sequence[Any]


@attrs.frozen
class Statements:
    """A node lowered to statements of its own (a loop over repeated calls).

    ``lines`` are indented relative to the body; ``outputs`` says which variable holds
    which value afterwards (the node's own among them).
    """

    lines: tuple[str, ...]
    outputs: Mapping[str, str]


@attrs.define
class _Unit:
    """A statement, with the statements written inside it (``parts``, in order)."""

    index: int
    node: Any
    inputs: tuple[str, ...]
    parts: list[_Unit] = attrs.field(factory=list)

    def indices(self) -> set[int]:
        return {self.index}.union(*(part.indices() for part in self.parts))


def graph_body(
    nodes: Sequence[Node],
    input_vars: Mapping[str, str],
    lower: Lower,
    indent: str,
    final: str = "return ",
    layout: Layout = format_lines,
    *,
    inline: Inline | None = None,
    keep: Iterable[str] = (),
    one_line: Callable[[Any], str] | None = None,
) -> list[str]:
    """The statements of one graph, with variables as a person would name them.

    * An identity is no statement: its readers read its input.
    * A value whose only reader comes next may be written inside it when ``inline``
      allows (``a + self.op(b)``), if the line still fits.
    * A node that reads the chain variable ``x`` (or ``out``) for the last time takes it
      over: ``x = F.relu(x)``, however many nodes read the new value; unless it is one of
      several terms of the next statement, which are named after their nodes.
    * A value read only by the next statement, which reads nothing else or continues a
      chain, goes into a free chain variable (``x``, then ``out``).
    * Any other value is kept in a variable named after its node.

    Args:
        nodes: the graph in topological order; its last node is its output.
        input_vars: graph input name → the variable holding it.
        lower: the expressions of a node (see :data:`Lower`).
        indent: the indentation of the statements.
        final: what the output is given to (``"return "``, ``"outputs = "``).
        layout: lays out one expression (see :data:`Layout`).
        inline: which values may be written inside their reader (see :data:`Inline`).
        keep: values still needed after the body; their variables are not reused.
        one_line: an expression on one line (default :func:`flat`), for ``inline``.
    """
    one_line = one_line or flat
    source: dict[str, str] = {}

    def resolve(ref: str) -> str:
        while ref in source:
            ref = source[ref]
        return ref

    statements: list[tuple[Any, tuple[str, ...]]] = []
    for node in nodes:
        if node.op == "identity":
            source[node.name] = resolve(node.inputs[0])
        else:
            statements.append((node, tuple(resolve(ref) for ref in node.inputs)))
    output = resolve(nodes[-1].name)
    readers: dict[str, list[int]] = {}
    for index, (_, refs) in enumerate(statements):
        for ref in refs:
            readers.setdefault(ref, []).append(index)
    forever = len(statements) + 1
    last_read = {ref: max(indices) for ref, indices in readers.items()}
    for ref in (*keep, output):
        last_read[resolve(ref)] = forever

    # Which statements are written inside the next one.
    units: list[_Unit] = []
    for index, (node, refs) in enumerate(statements):
        unit = _Unit(index, node, refs)
        limit = len(refs)
        while units and inline is not None:
            part = units[-1]
            name = part.node.name
            if last_read.get(name) == forever or set(readers.get(name, ())) != {index}:
                break
            positions = [i for i, ref in enumerate(refs) if ref == name]
            single = len(positions) == 1 or (node.op == "loop" and len(set(refs)) == 1)
            if not single or positions[0] >= limit or not inline(part.node, node):
                break
            limit = positions[0]
            unit.parts.insert(0, units.pop())
        units.append(unit)

    var_of = dict(input_vars)
    holders: dict[str, set[str]] = {var: {value} for value, var in input_vars.items()}
    lines: list[str] = []

    def busy(var: str) -> int:
        return max((last_read.get(value, -1) for value in holders.get(var, ())), default=-1)

    def text(unit: _Unit) -> str:
        """The expression of a unit written in place (its parts in place too)."""
        written = {part.node.name: text(part) for part in unit.parts}
        args = [written.get(ref) or var_of[ref] for ref in unit.inputs]
        return one_line(lower(unit.node, args, "")[0])

    def reads(unit: _Unit) -> list[str]:
        inside = {part.node.name for part in unit.parts}
        found = [var_of[ref] for ref in unit.inputs if ref not in inside]
        for part in unit.parts:
            found += reads(part)
        return list(dict.fromkeys(found))

    def choose(unit: _Unit, following: _Unit | None) -> str:
        at = max(unit.indices())
        read = reads(unit)
        name = unit.node.name
        users = set(readers.get(name, ()))
        # One of several terms of the next statement is named after its node.
        if following is not None and users == {following.index} and len(set(following.inputs)) > 1:
            return name
        for var in read:
            if var in CHAIN_VARS and busy(var) <= at:
                return var
        if following is not None and users and users <= following.indices():
            # A chain starts where the next statement reads this value alone, and goes on
            # where this one reads a chain variable alone.
            unary = len(set(following.inputs)) == 1 or following.node.op == "loop"
            if unary or (len(read) == 1 and read[0] in CHAIN_VARS):
                free = [var for var in CHAIN_VARS if busy(var) <= at]
                if free:
                    return free[0]
        return name

    def fits(unit: _Unit, args: Sequence[str], target: str) -> bool:
        lowered = lower(unit.node, args, "")
        if isinstance(lowered, Statements):
            return all(len(indent + line) <= LINE_LENGTH for line in lowered.lines)
        return len(lowered) == 1 and len(f"{indent}{target}{one_line(lowered[0])}") <= LINE_LENGTH

    def emit(unit: _Unit, following: _Unit | None, last: bool) -> None:
        while True:
            written = {part.node.name: text(part) for part in unit.parts}
            args = [written.get(ref) or var_of[ref] for ref in unit.inputs]
            target = final if last else f"{choose(unit, following)} = "
            if not unit.parts or fits(unit, args, target):
                break
            # Too long with its parts written in place: the first becomes a statement.
            emit(unit.parts.pop(0), unit, last=False)
        node = unit.node
        at = max(unit.indices())
        if last:
            tmp = next((var for var in CHAIN_VARS if busy(var) <= at), node.name)
            lowered = lower(node, args, tmp)
            if isinstance(lowered, Statements):
                lines.extend(indent + line for line in lowered.lines)
                var_of.update(lowered.outputs)
                lines.extend(layout(var_of[node.name], indent, final))
            else:
                write(lowered, tmp, final)
            return
        var = choose(unit, following)
        lowered = lower(node, args, var)
        if isinstance(lowered, Statements):
            lines.extend(indent + line for line in lowered.lines)
            for value, held in lowered.outputs.items():
                var_of[value] = held
                holders[held] = {value}
            return
        var_of[node.name] = var
        if isinstance(lowered, Branches):
            lines.append(f"{indent}if {lowered.flag}:")
            write(lowered.if_set, var, f"{var} = ", indent + INDENT)
            lines.append(f"{indent}else:")
            write(lowered.otherwise, var, f"{var} = ", indent + INDENT)
        else:
            write(lowered, var, f"{var} = ")
        holders[var] = {node.name}

    def write(stages: Sequence[Any], tmp: str, target: str, at: str = indent) -> None:
        for stage in stages[:-1]:
            lines.extend(layout(stage, at, f"{tmp} = "))
        lines.extend(layout(stages[-1], at, target))

    for position, unit in enumerate(units):
        following = units[position + 1] if position + 1 < len(units) else None
        emit(unit, following, last=following is None and unit.node.name == output)
    if not units or units[-1].node.name != output:
        lines.extend(layout(var_of[output], indent, final))
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
