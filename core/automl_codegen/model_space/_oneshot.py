"""``Cell`` and the one-shot contract of declared spaces: what ``darts`` and ``enas`` need.

A declared space is a fixed graph with op choices on its edges when every one of its
choices is an edge choice: the choice of a :class:`OneOf` (one edge) or of an edge of a
:class:`Cell`, each option a fixed layer that keeps the shape. Such a space maps onto
:class:`~automl_codegen.supernet.SupernetDescription`:

* the skeleton is the declared network with every OneOf and Cell replaced by a call to a
  cell block; each is a *cell kind* with its own architecture weights, named by its
  choice (``op``, ``op[2]``) or by the cell and repetition (``cell``, ``cell[1]``). One
  OneOf or Cell object used in several places is one decision, so its cells share
  weights, as DARTS' normal cells do; in a Repeat each repetition decides for itself;
* a OneOf is a cell of one edge ``(0, 1)``; a Cell of ``n`` nodes has the edges
  ``(i, j)``, ``i < j <= n``, in NAS-Bench-201's order (node 0 is its input, node ``j``
  the sum over its incoming edges, node ``n`` its output);
* the candidate ops of an edge are lowered by the space exactly as in a final network.

The supernet description has one op list and one edge list for all kinds, so every
OneOf and Cell of a searchable space must offer the same labels and the same edges.
Everything else is refused with a :class:`ConfigError` that names the choices in the way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .._ops import Shape
from ..architecture import Architecture, Block, Node
from ..errors import ConfigError, shown
from ..supernet import SupernetCell, SupernetDescription
from ._choices import Decision, check_choice_name, check_options, integer, same_value
from ._layers import Layer, OneOf, RankCheck, _layer
from ._lowering import Lowering, describe_shape

if TYPE_CHECKING:
    from ._space import DeclaredSpace

__all__ = ["MAX_CELL_NODES", "Cell", "OneShotPlan", "genotype_from_weights", "genotype_weights", "plan", "supernet"]

#: Most computed nodes of a cell (DARTS has 4, NAS-Bench-201 3).
MAX_CELL_NODES = 8
#: The label darts and enas read as the zero op (an edge that contributes nothing).
ZERO_LABEL = "none"


def _choices_in(layer: Layer) -> Iterator[Decision]:
    for kind, item in layer.parts():
        if kind == "arg":
            if isinstance(item, Decision):
                yield item
        else:
            yield from _choices_in(item if kind == "layer" else item[0])


class Cell(Layer):
    """A cell of ``nodes`` nodes whose every edge chooses one of ``ops``, as in NAS-Bench-201.

    Node 0 is the cell's input; node ``j`` (1 to ``nodes``) is the sum of
    ``op_ij(node i)`` over ``i < j``; the cell returns node ``nodes``. Edge ``(i, j)`` is
    the choice ``<name>.edge_<i>_<j>`` with the labels of ``ops`` as options. The ops
    are fixed layers (no choices inside) that keep the shape, such as
    ``Sequential(Activation("relu"), Conv(16, 3), BatchNorm())`` at width 16 or
    ``Identity()``. A space whose only choices are cell edges (and OneOfs) can be
    searched by ``darts`` and ``enas`` as well as by the other strategies.
    """

    composite = True

    def __init__(self, name: str, nodes: int, ops: Mapping[Any, Layer]) -> None:
        check_choice_name(name, "Cell")
        expected = integer(1, MAX_CELL_NODES)(nodes)
        if expected is not None:
            msg = f"Cell {name!r}: nodes must be {expected}, got {shown(nodes)}"
            raise ConfigError(msg)
        if not isinstance(ops, Mapping):
            msg = f"Cell {name!r}: ops must be a dict {{label: layer}}, got {shown(ops)}"
            raise ConfigError(msg)
        labels = check_options(name, list(ops), "Cell")
        self.ops = tuple(_layer(layer, f"Cell {name!r} op {label!r}") for label, layer in ops.items())
        for label, layer in zip(labels, self.ops, strict=True):
            inner = next(_choices_in(layer), None)
            if inner is not None:
                msg = (
                    f"Cell {name!r}: op {label!r} holds choice {inner.name!r}; a cell's ops are fixed layers "
                    f"(its edges choose among them)"
                )
                raise ConfigError(msg)
        self.name = name
        self.nodes = nodes
        self.labels = labels
        self.edges = tuple((i, j) for j in range(1, nodes + 1) for i in range(j))
        self.decisions = tuple(Decision(f"{name}.edge_{i}_{j}", labels) for i, j in self.edges)

    def parts(self) -> Iterator[tuple[str, Any]]:
        for decision in self.decisions:
            yield "arg", decision

    def op(self, label: Any) -> Layer:
        return next(layer for known, layer in zip(self.labels, self.ops, strict=True) if same_value(known, label))

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        for label, op in zip(self.labels, self.ops, strict=True):
            out = check.within(f"Cell {self.name!r} op {label!r}", op, rank)
            if out != rank:
                raise check.fail(
                    f"Cell {self.name!r}: op {label!r} turns {describe_shape(rank)} into {describe_shape(out)}; "
                    f"a cell's ops must keep the shape"
                )
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        if ctx.cells is not None:
            return ctx.cells.call(self, ctx, x)
        values = {0: x}
        for j in range(1, self.nodes + 1):
            terms = []
            for i in range(j):
                label = ctx.value(self.decisions[self.edges.index((i, j))])
                op = self.op(label)
                edge = f"{self.name}_{i}_{j}"
                if op.composite:
                    with ctx.scope(prefix=f"{ctx.prefix}_{edge}" if ctx.prefix else edge):
                        out = op.lower(ctx, values[i])
                else:
                    with ctx.scope(kind=edge):
                        out = op.lower(ctx, values[i])
                if ctx.shape(out) != ctx.shape(values[i]):
                    raise ctx.error(
                        out,
                        f"Cell {self.name!r} op {label!r}",
                        f"maps {ctx.shape(values[i])} to {ctx.shape(out)}; a cell's ops must keep the shape",
                    )
                terms.append(out)
            if len(terms) == 1:
                values[j] = terms[0]
            else:
                values[j] = ctx.emit(f"{self.name}_node{j}", "add", tuple(terms), {}, self.label())
        return values[self.nodes]

    def label(self) -> str:
        return f"Cell({self.name!r}, nodes={self.nodes})"

    def __repr__(self) -> str:
        ops = ", ".join(f"{label!r}: {layer!r}" for label, layer in zip(self.labels, self.ops, strict=True))
        return f"Cell({self.name!r}, nodes={self.nodes}, ops={{{ops}}})"


# -- the supernet -------------------------------------------------------------------------------


class _Instance(NamedTuple):
    """One cell of the skeleton: a OneOf or Cell where the declaration uses it."""

    node: str
    kind: str
    choices: tuple[str, ...]  # the edge choices, in ``edges`` order
    edges: tuple[tuple[int, int], ...]
    labels: tuple[Any, ...]
    ops: tuple[Layer, ...]
    shape: Shape


class _Cells:
    """Stands in for every OneOf and Cell while the skeleton is lowered, and records them."""

    def __init__(self) -> None:
        self.instances: list[_Instance] = []

    def call(self, layer: OneOf | Cell, ctx: Lowering, x: str) -> str:
        shape = ctx.shape(x)
        if isinstance(layer, OneOf):
            decisions, edges, labels, ops = (layer.decision,), ((0, 1),), layer.decision.options, layer.options
            kind = layer.decision.name + ctx.suffix
        else:
            decisions, edges, labels, ops = layer.decisions, layer.edges, layer.labels, layer.ops
            kind = layer.name + ctx.suffix
        # The block's body does not matter: the strategy replaces every cell call.
        block = Block(f"Cell{len(self.instances)}", ("x",), (), [Node("body", "identity", ("x",))], "body")
        node = ctx.call(layer.decision.name if isinstance(layer, OneOf) else layer.name, block, x, shape)
        names = tuple(ctx.full_name(d) for d in decisions)
        self.instances.append(_Instance(node, kind, names, edges, labels, ops, shape))
        return node


class OneShotPlan(NamedTuple):
    """A declared space as a supernet: the skeleton, its cells, and the edges and ops they share."""

    skeleton: Architecture
    instances: tuple[_Instance, ...]
    kinds: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    labels: tuple[Any, ...]


def _edge_decisions(layer: Layer, out: set[int]) -> None:
    """The ids of the decisions that are edge choices: OneOfs and Cells, not inside another's ops."""
    if isinstance(layer, OneOf):
        out.add(id(layer.decision))
        return
    if isinstance(layer, Cell):
        out.update(id(d) for d in layer.decisions)
        return
    for kind, item in layer.parts():
        if kind != "arg":
            _edge_decisions(item if kind == "layer" else item[0], out)


def plan(space: DeclaredSpace) -> OneShotPlan:
    """The supernet of ``space``, or a ConfigError naming what keeps it from being one."""
    cached = space.__dict__.get("_one_shot_plan")
    if cached is not None:
        return cached
    model = space.model
    edge_ids: set[int] = set()
    _edge_decisions(model.body, edge_ids)
    others = [name for name, decision in model._decisions.items() if id(decision) not in edge_ids]
    if others:
        listed = ", ".join(map(repr, others[:12])) + (f", ... ({len(others)} in all)" if len(others) > 12 else "")
        msg = (
            f"space {space.name!r} has choices that are not op choices on a fixed graph ({listed}): one-shot "
            f"strategies (darts, enas) search only OneOf and Cell edges whose ops keep the shape; use evolution or rl"
        )
        raise ConfigError(msg)
    if not model._decisions:
        msg = f"space {space.name!r} has no choices: there is nothing for a one-shot strategy to search"
        raise ConfigError(msg)
    cells = _Cells()
    skeleton = space.lower(space.default_genotype(), cells)
    first = cells.instances[0]
    for instance in cells.instances:
        if instance.edges != first.edges or not same_value(list(instance.labels), list(first.labels)):
            msg = (
                f"space {space.name!r}: one-shot strategies need every op choice to offer the same ops on the same "
                f"edges (one op list for all cells), but {first.kind!r} has ops {list(first.labels)} on "
                f"{len(first.edges)} edge(s) and {instance.kind!r} has ops {list(instance.labels)} on "
                f"{len(instance.edges)} edge(s)"
            )
            raise ConfigError(msg)
    kinds = tuple(dict.fromkeys(instance.kind for instance in cells.instances))
    result = OneShotPlan(skeleton, tuple(cells.instances), kinds, first.edges, tuple(first.labels))
    space.__dict__["_one_shot_plan"] = result
    return result


def _op_network(space: DeclaredSpace, instance: _Instance, label: Any, op: Layer) -> Architecture:
    """A tiny network whose first node ``edge`` calls a one-node block computing ``op`` on the cell's input."""
    shape = instance.shape
    sub = Lowering(space.name, {}, shape, input_name="x")
    out = op.lower(sub, "x")
    if sub.shape(out) != shape:
        msg = (
            f"space {space.name!r}: op {label!r} of {instance.kind!r} maps {shape} to {sub.shape(out)}; "
            f"one-shot strategies need ops that keep the shape"
        )
        raise ConfigError(msg)
    blocks = list(sub.blocks)
    if not sub.nodes:
        inner = [Node("op", "identity", ("x",))]
    elif len(sub.nodes) == 1:
        inner = sub.nodes
    else:
        blocks.append(Block("Op", ("x",), (), sub.nodes, out))
        inner = [Node("op", "block", ("x",), {}, block="Op")]
    wrapper = Block("EdgeOp", ("x",), (), inner, inner[-1].name)
    nodes = [Node("edge", "block", (Architecture.INPUT,), {}, block="EdgeOp")]
    if len(shape) > 1:
        nodes.append(Node("pool", "global_avg_pool", ("edge",)))
    nodes.append(Node("classifier", "linear", (nodes[-1].name,), {"in_features": shape[0], "out_features": 1}))
    return Architecture(
        input_shape=shape,
        num_classes=1,
        nodes=nodes,
        output="classifier",
        blocks=[wrapper, *blocks],
        name="EdgeOpProbe",
    )


def supernet(space: DeclaredSpace, partial_channels: int = 1, **sizes: Any) -> SupernetDescription:
    """The :class:`SupernetDescription` of ``space`` (see the module documentation)."""
    given = sorted(name for name, value in sizes.items() if value is not None)
    if given:
        msg = (
            f"space {space.name!r} has no supernet size options ({', '.join(given)} given): its supernet is the "
            f"declared network"
        )
        raise ConfigError(msg)
    if type(partial_channels) is not int or partial_channels != 1:
        msg = (
            f"space {space.name!r}: partial channels (PC-DARTS) need cells of image channels; a declared space "
            f"takes partial_channels=1 only, got {shown(partial_channels)}"
        )
        raise ConfigError(msg)
    one_shot = plan(space)
    networks: dict[tuple[Any, int, int], Architecture] = {}
    built: dict[tuple[Any, int, int], tuple[str, int]] = {}
    for instance in one_shot.instances:
        for label, op in zip(instance.labels, instance.ops, strict=True):
            if label == ZERO_LABEL:
                msg = (
                    f"space {space.name!r}: {instance.kind!r} has an op labelled {ZERO_LABEL!r}, which one-shot "
                    f"strategies read as the zero op; give {op!r} another label"
                )
                raise ConfigError(msg)
            key = (label, instance.shape[0], 1)
            seen = built.setdefault(key, (repr(op), len(instance.shape)))
            if seen != (repr(op), len(instance.shape)):
                msg = (
                    f"space {space.name!r}: op {label!r} at width {instance.shape[0]} is {seen[0]} on "
                    f"{describe_shape(seen[1])} in one place and {op!r} on {describe_shape(instance.shape)} in "
                    f"{instance.kind!r}; one-shot strategies need one op per label and width"
                )
                raise ConfigError(msg)
            if key not in networks:
                networks[key] = _op_network(space, instance, label, op)
    cells = tuple(SupernetCell(i.node, i.kind, i.shape[0], reduction=False) for i in one_shot.instances)
    return SupernetDescription(
        skeleton=one_shot.skeleton,
        cells=cells,
        kinds=one_shot.kinds,
        ops=one_shot.labels,
        edges=one_shot.edges,
        cell_inputs=1,
        preprocess=(),
        output="last",
        pool_bn=False,
        partial_channels=1,
        op_networks=networks,
    )


def _rows(space: DeclaredSpace, weights: Any, kind: str, rows: int, columns: int) -> list[list[float]]:
    matrix = weights.get(kind) if isinstance(weights, Mapping) else None
    try:
        out = [[float(v) for v in row] for row in matrix]
    except (TypeError, ValueError):
        out = None
    if out is None or len(out) != rows or any(len(row) != columns for row in out):
        msg = (
            f"space {space.name!r} derives a genotype from weights[{kind!r}] of {rows} rows of {columns} numbers, "
            f"got {shown(matrix)}"
        )
        raise ConfigError(msg)
    return out


def genotype_from_weights(space: DeclaredSpace, weights: Any) -> dict[str, Any]:
    """The strongest op per edge of every cell kind (ties go to the op listed first)."""
    one_shot = plan(space)
    genotype: dict[str, Any] = {}
    for instance in one_shot.instances:
        rows = _rows(space, weights, instance.kind, len(one_shot.edges), len(one_shot.labels))
        for name, row in zip(instance.choices, rows, strict=True):
            best = max(range(len(row)), key=lambda k, row=row: (row[k], -k))
            genotype[name] = one_shot.labels[best]
    return space.decode(space.encode(genotype))


def genotype_weights(space: DeclaredSpace, genotype: Any) -> dict[str, list[list[float]]]:
    """The 0/1 edge-by-op matrix per cell kind that selects ``genotype`` (the inverse of the above)."""
    one_shot = plan(space)
    canonical = space.decode(space.encode(genotype))
    return {
        instance.kind: [
            [1.0 if same_value(canonical[name], label) else 0.0 for label in one_shot.labels]
            for name in instance.choices
        ]
        for instance in one_shot.instances
    }
