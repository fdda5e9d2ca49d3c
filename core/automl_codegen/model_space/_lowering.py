"""The state of one lowering: nodes so far, their shapes, readable unique names, and the choices read."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .._ops import IR_VERSION, OPS, Shape
from ..architecture import RESERVED_NAMES, RESERVED_PREFIXES, Architecture, Block, Node
from ..errors import ArchitectureError, shown
from ._choices import Decision, Value

__all__ = ["Lowering", "describe_shape"]

_NOT_IDENT = re.compile(r"[^a-z0-9_]+")
#: How many of the choices read before a lowering error its message shows (the latest).
_SHOWN_CHOICES = 12


def describe_shape(shape_or_rank: Shape | int) -> str:
    """``a vector (F,)``, ``a (C, L) sequence``, ``a (C, H, W) feature map``, with sizes when known."""
    rank = shape_or_rank if isinstance(shape_or_rank, int) else len(shape_or_rank)
    kind = {1: "vector", 2: "sequence", 3: "feature map"}.get(rank, f"rank-{rank} tensor")
    layout = {1: "(F,)", 2: "(C, L)", 3: "(C, H, W)"}.get(rank, "")
    sizes = "" if isinstance(shape_or_rank, int) else f" {tuple(shape_or_rank)}"
    return f"a {layout} {kind}{sizes}" if layout else f"a {kind}{sizes}"


def _identifier(text: str) -> str:
    name = _NOT_IDENT.sub("_", text.lower()).strip("_") or "node"
    if not name[0].isalpha():
        name = f"n_{name}"
    return name[:56]


class Lowering:
    """Builds the flat node list of one genotype, inferring shapes as it goes.

    ``suffix`` is the repetition suffix of the choices read (``[0]``, ``[1][2]``),
    ``prefix`` the start of node names (``layer0``), ``kind`` a name that replaces a
    layer's own for its one node (a :class:`OneOf` names its chosen option).
    """

    def __init__(
        self, space: str, genotype: Mapping[str, Any], input_shape: Shape, input_name: str = Architecture.INPUT
    ) -> None:
        self.space = space
        self.genotype = genotype
        self.nodes: list[Node] = []
        self.blocks: list[Block] = []
        self.shapes: dict[str, Shape] = {input_name: tuple(input_shape)}
        self.taken: set[str] = {input_name}
        #: Set while lowering a supernet's skeleton: ``cells.call(layer, ctx, x)`` stands in
        #: for every op choice (OneOf, Cell) and returns the node of its cell.
        self.cells: Any = None
        self.counters: dict[str, int] = {}
        self.suffix = ""
        self.prefix = ""
        self.kind: str | None = None
        #: The choices read so far, ``{full name: value}``, for messages.
        self.read: dict[str, Any] = {}

    # -- choices -------------------------------------------------------------------------------

    def full_name(self, decision: Decision) -> str:
        return decision.name + self.suffix

    def value(self, argument: Value) -> Any:
        """A literal as it is; a decision's value in this repetition of the genotype."""
        if not isinstance(argument, Decision):
            return argument
        name = self.full_name(argument)
        value = self.genotype[name]
        self.read[name] = value
        return value

    @contextlib.contextmanager
    def scope(self, *, suffix: str = "", prefix: str | None = None, kind: str | None = None) -> Iterator[None]:
        saved = self.suffix, self.prefix, self.kind
        self.suffix += suffix
        if prefix is not None:
            self.prefix = prefix
        self.kind = kind
        try:
            yield
        finally:
            self.suffix, self.prefix, self.kind = saved

    def repetition_prefix(self) -> str:
        """The prefix of the next repetition: ``layer0``, ``layer1``, ... at the top, ``layer0_0`` below."""
        n = self.counters.get(self.prefix, 0)
        self.counters[self.prefix] = n + 1
        return f"{self.prefix}_{n}" if self.prefix else f"layer{n}"

    # -- nodes ---------------------------------------------------------------------------------

    def name(self, kind: str) -> str:
        """A fresh node name ``<prefix>_<kind>`` (``_1``, ``_2``, ... when taken), valid in the IR."""
        base = _identifier(f"{self.prefix}_{kind}" if self.prefix else kind)
        if base in RESERVED_NAMES or base.startswith(RESERVED_PREFIXES):
            base = f"n_{base}"[:56]
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def shape(self, ref: str) -> Shape:
        return self.shapes[ref]

    def emit(self, kind: str, op: str, inputs: tuple[str, ...], attrs: Mapping[str, Any], layer: str) -> str:
        """Append one node (named for ``kind``, or the enclosing OneOf); its name.

        Raises:
            ArchitectureError: the op does not exist in this IR, or refuses its attributes
                or input shapes; the message names the node, the layer and the choices read.
        """
        name = self.name(self.kind or kind)
        self.kind = None  # a OneOf names one node: its option's
        if op not in OPS:
            raise self.error(
                name,
                layer,
                f"the IR (version {IR_VERSION}) has no op {op!r} for {describe_shape(self.shape(inputs[0]))}",
            )
        try:
            node = Node(name, op, inputs, dict(attrs))
            shape = OPS[op].infer([self.shapes[ref] for ref in inputs], node.attr_dict)
        except ArchitectureError as exc:
            raise self.error(name, layer, str(exc)) from None
        self.nodes.append(node)
        self.shapes[name] = tuple(shape)
        return name

    def call(self, kind: str, block: Block, x: str, shape: Shape) -> str:
        """Append a node calling ``block`` (without parameters) on ``x``, whose output has ``shape``."""
        name = self.name(kind)
        self.nodes.append(Node(name, "block", (x,), {}, block=block.name))
        self.blocks.append(block)
        self.shapes[name] = tuple(shape)
        return name

    def error(self, node: str, layer: str, problem: str) -> ArchitectureError:
        read = [f"{k}={shown(v, 40)}" for k, v in self.read.items()]
        values = ", ".join(read if len(read) <= _SHOWN_CHOICES else ["...", *read[-_SHOWN_CHOICES:]])
        context = f" (with {values})" if values else ""
        return ArchitectureError(f"space {self.space!r}: {node} = {layer}: {problem}{context}")
