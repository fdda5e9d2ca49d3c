"""``nb201``: the NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020).

The network is the benchmark's own (the authors' ``TinyNetwork``), so parameter counts
and trained results line up with the benchmark's tables:

* stem: 3×3 conv to ``C`` channels (no bias) → BN;
* three stages of ``N`` cells with ``C``, ``2C`` and ``4C`` channels, joined by ResNet
  basic blocks that halve the resolution (ReLUConvBN 3×3 stride 2 → ReLUConvBN 3×3, plus
  a shortcut of 2×2 average pooling and a 1×1 conv);
* BN → ReLU → global average pooling → linear classifier.

A cell has four nodes; node 0 is the cell's input and node ``j`` is the sum of
``op_ij(node i)`` over ``i < j``, each of the six edges being one of ``none``,
``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3`` (ReLU → conv → BN) or
``avg_pool_3x3`` (``count_include_pad=False``, as the authors' ``POOLING``). Node 3 is
the cell's output.

A genotype is the benchmark's own cell string, e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``
(node ``j`` lists ``op~i`` for its inputs ``i``), or the architecture's index in the
benchmark (looked up in the NAS-Bench-201 CSV table, only when an index is given). The
encoding is six categorical choices, one per edge, in the order of the cell string, with
the five ops in the benchmark's order.

How ``none`` lowers: a ``none`` edge adds nothing, so it is left out of its node's sum,
and a node whose edges are all ``none`` is zeros (``zero`` of the cell input). The
benchmark still builds, trains and counts the parameters of convolutions whose result
reaches the output only through ``none`` edges (its forward multiplies them by zero);
the IR rejects nodes that do not contribute to the output, so such a node enters the
output's sum as ``zero(node)`` — it is the ``none`` edge to node 3 — and the parameter
count stays the benchmark's. Dead computation without parameters is dropped. Outputs
equal the benchmark's either way: adding zeros changes nothing.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from automl_codegen import Architecture, Block, Choice, ConfigError, Node, SearchSpace, hookimpl
from automl_codegen.options import PluginOptions, file_path, integer, structure_options

from ._cells import (
    SupernetCell,
    SupernetDescription,
    block_params,
    call,
    check_input_shape,
    check_partial_channels,
    check_supernet_sizes,
    edge_op_network,
    is_int,
    positive_int,
    relu_conv_bn,
    sum_node,
    weight_rows,
)

__all__ = ["DEFAULT_INPUT", "DEFAULT_TABLE", "EDGES", "EXAMPLE", "OPS", "NB201Space", "cell_string", "parse_cell"]

#: The benchmark's CIFAR-10 setting, used when no dataset says otherwise.
DEFAULT_INPUT = (3, 32, 32)
#: The NAS-Bench-201 table (columns ``index`` and ``arch``), read only to resolve an index:
#: ``$AUTOML_CODEGEN_NB201_TABLE``, else the workspace's copy beside the project checkout.
DEFAULT_TABLE = Path(os.environ.get("AUTOML_CODEGEN_NB201_TABLE", "../shared/data/nasbench201/nb201_accuracy.csv"))
#: The candidate ops, in the benchmark's order (``NAS_BENCH_201`` in the authors' code).
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges ``(i, j)`` in the order of the cell string.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

_CONVS = {"nor_conv_1x1": (1, 0), "nor_conv_3x3": (3, 1)}  # kernel size, padding
_SPACE = "nb201"


@hookimpl
def register_search_spaces(register):
    register("nb201", NB201Space)


def cell_string(ops: Sequence[str]) -> str:
    """The cell string of six ops given in :data:`EDGES` order."""
    edge_op = dict(zip(EDGES, ops, strict=True))
    return "+".join("|" + "".join(f"{edge_op[(i, j)]}~{i}|" for i in range(j)) for j in (1, 2, 3))


@functools.lru_cache(maxsize=1 << 14)
def _decode(indices: tuple[int, ...]) -> str:
    """The cell string of six option indices (cached like :func:`parse_cell`)."""
    if len(indices) != len(EDGES):
        msg = f"nb201 decodes {len(EDGES)} indices, got {len(indices)}"
        raise ConfigError(msg)
    for (i, j), index in zip(EDGES, indices, strict=True):
        if not is_int(index) or not 0 <= index < len(OPS):
            msg = f"edge_{i}_{j}: index {index!r} is outside 0..{len(OPS) - 1}"
            raise ConfigError(msg)
    return cell_string([OPS[index] for index in indices])


def _bad_cell(text: str, problem: str) -> ConfigError:
    shown = text if len(text) <= 120 else text[:117] + "..."  # a 50 MB argument is not echoed back
    return ConfigError(f"{shown!r} is not a NAS-Bench-201 cell string: {problem}. Example: {EXAMPLE}")


# Cached: strategies key and encode every genotype they consider (an rl ask looks at a few
# candidates, a tabular benchmark makes thousands of asks), and the space has only 15,625
# cells. A malformed string raises, and lru_cache does not keep exceptions.
@functools.lru_cache(maxsize=1 << 14)
def parse_cell(text: str) -> tuple[str, ...]:
    """The six ops of a cell string, in :data:`EDGES` order (ConfigError if malformed).

    Inputs of a node may be listed in any order; each earlier node exactly once.
    """
    parts = text.split("+")
    if len(parts) != 3:
        raise _bad_cell(text, f"it has {len(parts)} node(s) separated by '+', not 3")
    edge_op: dict[tuple[int, int], str] = {}
    for j, part in enumerate(parts, start=1):
        if len(part) < 2 or not part.startswith("|") or not part.endswith("|"):
            raise _bad_cell(text, f"node {j} is {part!r}, not edges between bars like |op~0|")
        edges = part[1:-1].split("|")
        if len(edges) != j:
            raise _bad_cell(text, f"node {j} has {len(edges)} edge(s), not {j} (one from each earlier node)")
        for edge in edges:
            op, tilde, source = edge.partition("~")
            if not tilde or not source.isdigit() or not source.isascii():
                raise _bad_cell(text, f"edge {edge!r} of node {j} is not op~input")
            if op not in OPS:
                raise _bad_cell(text, f"unknown op {op!r} (the ops are {', '.join(OPS)})")
            i = int(source)
            if i >= j:
                raise _bad_cell(text, f"node {j} has input {i}, which is not an earlier node (0 to {j - 1})")
            if (i, j) in edge_op:
                raise _bad_cell(text, f"node {j} takes input {i} twice")
            edge_op[(i, j)] = op
    return tuple(edge_op[edge] for edge in EDGES)


@functools.lru_cache(maxsize=4)
def _read_table(path: str) -> tuple[str, ...]:
    """The cell strings of a NAS-Bench-201 CSV table, by index."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            rows = [(row["index"], row["arch"]) for row in reader] if {"index", "arch"} <= columns else None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"cannot read the NAS-Bench-201 table {path}: {exc}"
        raise ConfigError(msg) from None
    if rows is None:
        msg = f"{path} is not a NAS-Bench-201 table: it needs the columns 'index' and 'arch'"
        raise ConfigError(msg)
    if [index for index, _ in rows] != [str(i) for i in range(len(rows))]:
        msg = f"{path}: the rows are not indices 0 to {len(rows) - 1} in order"
        raise ConfigError(msg)
    return tuple(arch for _, arch in rows)


@attrs.frozen(kw_only=True)
class NB201Options(PluginOptions):
    """The options of :class:`NB201Space`, checked (see its docstring)."""

    invalid_message = "{owner} option {name!r} must be {expected}, got {value!r}"

    # Maxima far above the benchmark's, checked before any work (the last stage has 4C).
    channels: int = attrs.field(
        default=16,
        validator=integer(1, 4096),
        metadata={"help": "C, the width of the first stage (the benchmark's 16), at most 4096"},
    )
    cells_per_stage: int = attrs.field(
        default=5,
        validator=integer(1, 256),
        metadata={"help": "N, cells per stage (the benchmark's 5), at most 256"},
    )
    benchmark_table: str | Path | None = attrs.field(
        default=None,
        validator=file_path(),
        metadata={"help": "the NAS-Bench-201 CSV table that turns an index into a cell string"},
    )


class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell on the benchmark's network.

    Args:
        input_shape: per-sample input ``(C, H, W)``; H and W must be multiples of 4
            (the two residual reduction blocks halve them, and the branches of each
            must agree). Default: CIFAR-10's ``(3, 32, 32)``.
        num_classes: number of output logits (default 10).
        channels: ``C``, the width of the first stage (the benchmark's 16).
        cells_per_stage: ``N``, cells per stage (the benchmark's 5).
        benchmark_table: path of the NAS-Bench-201 CSV table used to turn an index into
            a cell string; read only when a genotype is an index.

    Raises:
        ConfigError: an option is out of range; the message names it.
    """

    name = _SPACE

    Options = NB201Options

    def __init__(self, input_shape: Sequence[int] = DEFAULT_INPUT, num_classes: int = 10, **options: Any) -> None:
        shape = check_input_shape(_SPACE, input_shape)
        super().__init__(shape, positive_int(_SPACE, "num_classes", num_classes))
        if shape[1] % 4 or shape[2] % 4:
            msg = (
                f"nb201 needs input height and width that are multiples of 4 (two residual "
                f"blocks halve them), got {shape[1]}x{shape[2]}"
            )
            raise ConfigError(msg)
        self.options = o = structure_options(self.Options, options, owner=self.name)
        self.channels = int(o.channels)
        self.cells_per_stage = int(o.cells_per_stage)
        self.benchmark_table = Path(o.benchmark_table) if o.benchmark_table is not None else DEFAULT_TABLE

    # -- genotypes -----------------------------------------------------------------------

    def choices(self) -> list[Choice]:
        return [Choice(f"edge_{i}_{j}", OPS) for i, j in EDGES]

    def decode(self, indices: Sequence[int]) -> str:
        indices = tuple(indices)
        # Plain ints are cached; a bool or 1.0 would share the cache entry of 1 and must fail.
        if all(type(index) is int for index in indices):
            return _decode(indices)
        return _decode.__wrapped__(indices)

    def encode(self, genotype: Any) -> list[int]:
        return [OPS.index(op) for op in self.edge_ops(genotype)]

    def key(self, genotype: Any) -> str:
        """The cell string; an index and its cell string get the same key."""
        return self.decode(self.encode(genotype))

    def edge_ops(self, genotype: Any) -> tuple[str, ...]:
        """The six ops of a genotype (cell string or benchmark index), in :data:`EDGES` order."""
        if is_int(genotype):
            genotype = self.lookup(int(genotype))
        if not isinstance(genotype, str):
            msg = (
                f"an nb201 genotype is a NAS-Bench-201 cell string such as {EXAMPLE!r} "
                f"or a benchmark index, got {genotype!r}"
            )
            raise ConfigError(msg)
        return parse_cell(genotype)

    def lookup(self, index: int) -> str:
        """The cell string of the benchmark's architecture ``index``, from the CSV table."""
        path = self.benchmark_table
        if not path.is_file():
            msg = (
                f"nb201 index {index} needs the NAS-Bench-201 table, but {path} does not exist; "
                f"pass its path as the space option benchmark_table=PATH, or give the cell string"
            )
            raise ConfigError(msg)
        table = _read_table(str(path))
        if not 0 <= index < len(table):
            msg = f"nb201 index {index} is outside the benchmark's 0..{len(table) - 1}"
            raise ConfigError(msg)
        return table[index]

    def parse_genotype(self, text: str) -> str:
        """The genotype written in ``text``: a cell string, or a benchmark index.

        A JSON string (the cell string in double quotes) is accepted too, so a genotype
        copied from a run's files works. Returns the cell string.
        """
        if not isinstance(text, str):
            msg = f"nb201 parses genotype text, got {text!r}"
            raise ConfigError(msg)
        text = text.strip()
        if text.isdigit() and text.isascii():
            text = self.lookup(int(text))
        if text.startswith('"'):
            try:
                text = json.loads(text)
            except ValueError:
                raise _bad_cell(text, "the quoted string is not valid JSON") from None
            if not isinstance(text, str):  # pragma: no cover - a JSON text starting with '"' is a string
                raise _bad_cell(str(text), "not a string")
        return cell_string(parse_cell(text))

    # -- one-shot search -----------------------------------------------------------------

    def supernet_description(self, *, partial_channels: int = 1, **sizes: Any) -> SupernetDescription:
        """The supernet of this space: the benchmark's network with mixed cells.

        One weight matrix (six edges × five ops) is shared by every cell, as in the
        benchmark's DARTS baseline. ``sizes`` override ``channels`` and ``cells_per_stage``
        for the supernet only (a smaller supernet trains faster; the derived cell is
        lowered with this space's own options). ``partial_channels`` is PC-DARTS's ``K``.
        """
        sizes = check_supernet_sizes(_SPACE, sizes, ("channels", "cells_per_stage"))
        net = NB201Space(
            self.input_shape,
            self.num_classes,
            channels=sizes.get("channels", self.channels),
            cells_per_stage=sizes.get("cells_per_stage", self.cells_per_stage),
            benchmark_table=self.benchmark_table,
        )
        # Any genotype will do: the strategy replaces every cell call.
        skeleton = net.to_architecture(cell_string(["nor_conv_3x3"] * len(EDGES)))
        cells = tuple(
            SupernetCell(node.name, "normal", int(node.attr("channels")), reduction=False)
            for node in skeleton.nodes
            if node.op == "block" and node.block == "Cell"
        )
        k = check_partial_channels(_SPACE, partial_channels, cells)
        conv = relu_conv_bn()
        networks = {}
        for c in sorted({cell.channels for cell in cells}):
            for op in OPS[1:]:
                node = _edge("op", op, "x", conv)
                networks[(op, c, 1)] = edge_op_network(node, [conv], {"channels": c // k}, c // k)
        return SupernetDescription(
            skeleton=skeleton,
            cells=cells,
            kinds=("normal",),
            ops=OPS,
            edges=EDGES,
            cell_inputs=1,
            preprocess=(),
            output="last",
            pool_bn=False,
            partial_channels=k,
            op_networks=networks,
        )

    def genotype_from_weights(self, weights: Any) -> str:
        """The cell of the strongest op per edge, ``none`` included (the benchmark's DARTS rule).

        ``weights["normal"]`` holds one row of five op weights per edge, in :data:`EDGES`
        order (softmax of the architecture parameters, or the parameters themselves: the
        argmax is the same). Ties go to the op listed first.
        """
        rows = weight_rows(_SPACE, weights, "normal", len(EDGES), len(OPS))
        return cell_string([OPS[max(range(len(OPS)), key=lambda k, row=row: (row[k], -k))] for row in rows])

    def genotype_weights(self, genotype: Any) -> dict[str, list[list[float]]]:
        """The 0/1 edge-by-op matrix of a genotype: one 1 per edge, at its op (``none`` too).

        The inverse of :meth:`genotype_from_weights`; a weight-sharing strategy runs the
        supernet's ops where the matrix is non-zero, which is exactly this cell.
        """
        rows = [[0.0] * len(OPS) for _ in EDGES]
        for row, op in zip(rows, self.edge_ops(genotype), strict=True):
            row[OPS.index(op)] = 1.0
        return {"normal": rows}

    # -- lowering ------------------------------------------------------------------------

    def to_architecture(self, genotype: Any) -> Architecture:
        """Lower a genotype to the IR (a :class:`ConfigError` if it is malformed)."""
        conv = relu_conv_bn()
        cell = _cell_block(self.edge_ops(genotype), conv)
        return Architecture(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            nodes=self._top_level(cell.params),
            output="classifier",
            blocks=(conv, cell, _resnet_block(conv)),  # the residual blocks use ReLUConvBN whatever the cell
            name="NasBench201Net",
        )

    def _top_level(self, cell_params: tuple[str, ...]) -> tuple[Node, ...]:
        """The network's top-level nodes, which depend on the cell only through its parameters.

        Built once per space and kind of cell (with or without convolutions): tabular
        benchmarks lower thousands of genotypes, and only their cells differ.
        """
        cache = self.__dict__.setdefault("_top_level_cache", {})
        if cell_params in cache:
            return cache[cell_params]
        conv = relu_conv_bn()
        resnet = _resnet_block(conv)
        c = self.channels
        nodes = [
            Node(
                "stem",
                "conv2d",
                (Architecture.INPUT,),
                {"in_channels": self.input_shape[0], "out_channels": c, "kernel_size": 3, "padding": 1},
            ),
            Node("stem_bn", "batchnorm2d", ("stem",), {"num_features": c}),
        ]
        # The authors' flat list: N cells, a residual block, N cells, a residual block, N cells.
        for stage in (1, 2, 3):
            width = c * 2 ** (stage - 1)
            if stage > 1:
                nodes.append(call(f"reduction{stage - 1}", resnet, (nodes[-1].name,), c_in=width // 2, c_out=width))
            for k in range(self.cells_per_stage):
                bound = {"channels": width} if "channels" in cell_params else {}
                nodes.append(Node(f"stage{stage}_{k}", "block", (nodes[-1].name,), bound, block="Cell"))
        width = 4 * c
        nodes += [
            Node("lastact_bn", "batchnorm2d", (nodes[-1].name,), {"num_features": width}),
            Node("lastact_relu", "relu", ("lastact_bn",)),
            Node("pool", "global_avg_pool", ("lastact_relu",)),
            Node("classifier", "linear", ("pool",), {"in_features": width, "out_features": self.num_classes}),
        ]
        cache[cell_params] = tuple(nodes)
        return cache[cell_params]


# -- block kinds ---------------------------------------------------------------------------


@functools.cache
def _resnet_block(conv: Block) -> Block:
    """The authors' ``ResNetBasicblock`` with stride 2: the reduction between stages."""
    nodes = [
        call("conv_a", conv, ("x",), c_in="c_in", c_out="c_out", kernel_size=3, stride=2, padding=1),
        call("conv_b", conv, ("conv_a",), c_in="c_out", c_out="c_out", kernel_size=3, stride=1, padding=1),
        Node("downsample_pool", "avg_pool2d", ("x",), {"kernel_size": 2, "stride": 2}),
        Node(
            "downsample",
            "conv2d",
            ("downsample_pool",),
            {"in_channels": "c_in", "out_channels": "c_out", "kernel_size": 1},
        ),
        # residual + basicblock, in the authors' order.
        Node("residual", "add", ("downsample", "conv_b")),
    ]
    return Block(name="ResNetBasicBlock", inputs=("x",), params=("c_in", "c_out"), nodes=nodes, output="residual")


def _edge(name: str, op: str, source: str, conv: Block) -> Node:
    if op == "skip_connect":
        return Node(name, "identity", (source,))
    if op == "avg_pool_3x3":
        return Node(
            name,
            "avg_pool2d",
            (source,),
            {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False},
        )
    kernel, padding = _CONVS[op]
    return call(name, conv, (source,), c_in="channels", c_out="channels", kernel_size=kernel, stride=1, padding=padding)


def _live_nodes(edge_op: dict[tuple[int, int], str]) -> tuple[set[int], list[int]]:
    """Which cell nodes to compute, and which of them reach node 3 only as ``zero(node)``.

    A node is live when a non-``none`` path leads from it to node 3. A node that is not
    live but whose value is computed with parameters (a conv into it, or into a node it
    reads) is kept, so the network has the parameters the benchmark counts.
    """
    live = {3}
    for i in (2, 1):
        if any(edge_op[(i, j)] != "none" and j in live for j in range(i + 1, 4)):
            live.add(i)
    has_params = {0: False}
    for j in (1, 2):
        has_params[j] = any(
            edge_op[(i, j)] in _CONVS or (edge_op[(i, j)] != "none" and has_params[i]) for i in range(j)
        )
    kept = []
    for i in (2, 1):
        if i not in live and has_params[i]:
            kept.append(i)
            live.add(i)
            live.update(k for k in range(1, i) if edge_op[(k, i)] != "none")
    return live, sorted(kept)


@functools.lru_cache(maxsize=4096)  # frozen Blocks; ops is a tuple
def _cell_block(ops: tuple[str, ...], conv: Block) -> Block:
    """The cell of a genotype; edge ``(i, j)`` is the node ``edge_i_j``, node ``j``'s sum ``nodej``."""
    edge_op = dict(zip(EDGES, ops, strict=True))
    live, kept = _live_nodes(edge_op)
    value = {0: "x"}
    nodes: list[Node] = []
    for j in (1, 2, 3):
        if j not in live:
            continue
        terms = []
        for i in range(j):
            if edge_op[(i, j)] != "none":
                nodes.append(_edge(f"edge_{i}_{j}", edge_op[(i, j)], value[i], conv))
                terms.append(nodes[-1].name)
        if j == 3:
            for i in kept:
                nodes.append(Node(f"edge_{i}_3", "zero", (value[i],)))
                terms.append(nodes[-1].name)
        if not terms:
            # Every input is none: the node is zeros, shaped like the cell's input.
            nodes.append(Node(f"edge_0_{j}", "zero", ("x",)))
            terms.append(nodes[-1].name)
        total = sum_node(f"node{j}", terms)
        if total is not None:
            nodes.append(total)
        value[j] = nodes[-1].name
    return Block(
        name="Cell",
        inputs=("x",),
        params=block_params(nodes, ("channels",)),
        nodes=nodes,
        output=value[3],
    )
