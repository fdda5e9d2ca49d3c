"""``darts-cell``: the DARTS CNN search space (Liu, Simonyan & Yang, ICLR 2019).

The network is the authors' evaluation network (``NetworkCIFAR``):

* stem: 3×3 conv to ``3 × init_channels`` (no bias) → BN;
* ``layers`` cells; those at 1/3 and 2/3 of the depth (``layers // 3`` and
  ``2 * layers // 3``) are reduction cells, which double the channels and halve the
  resolution;
* global average pooling → linear classifier.

A cell takes the outputs of the two cells before it (the stem's output for the first
cell, twice). It preprocesses them to ``C`` channels — ReLUConvBN 1×1, or for the older
input of a cell that follows a reduction cell, FactorizedReduce — then computes four
nodes; node ``j`` (2 to 5) is the sum of two ops, each applied to an earlier node
(0 and 1 are the preprocessed inputs). The cell returns the four nodes concatenated, so
it has ``4C`` channels. The ops: ``none``, ``max_pool_3x3``, ``avg_pool_3x3``,
``skip_connect``, ``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``,
``dil_conv_5x5``; in a reduction cell, ops on the cell's inputs have stride 2 (a strided
skip connection is a FactorizedReduce). ``none`` is left out unless ``allow_none=True``:
DARTS never picks it for a final cell.

A genotype is JSON in the form of the authors' ``Genotype``::

    {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...],   # 8 (op, input) pairs
     "normal_concat": [2, 3, 4, 5],
     "reduce": [["max_pool_3x3", 0], ...],
     "reduce_concat": [2, 3, 4, 5]}

:meth:`DartsCellSpace.parse_genotype` also reads the authors' notation
(``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)``, as
printed by their search script, ``range(2, 6)`` included) and the names of the
published genotypes, :data:`DARTS_V1` and :data:`DARTS_V2`.

The encoding: for each cell type (normal, then reduce), each node (2 to 5) and each of
its two inputs, the input's index (node ``j`` chooses among its ``j`` predecessors)
and the op — 32 categorical choices.

Lowering keeps every kind of module a block — ReLUConvBN, FactorizedReduce, SepConv,
DilConv, and one cell block per kind (normal / reduction, and whether it follows a
reduction cell: ``NormalCellReductionPrev``, after the authors' ``reduction_prev``) —
and declares ``C`` as the architecture's size (``sizes={"c": C}``). Emitted code has one
class per cell kind (the cell after a reduction is its kind's class with
``reduction_prev=True``) built in a loop, with channels as multiples of ``c``, so the
20-cell network is under 150 lines of code. Cell inputs
that no op reads are not preprocessed (the authors' code builds the unused 1×1 conv, and
counts its parameters); the published genotypes read both inputs of every cell.

Not expressed: drop-path (a training-time regulariser that leaves the inference
network unchanged), and the auxiliary head, which is a second, training-only output
that the IR's single output cannot hold.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Sequence
from typing import Any

import attrs

from automl_codegen import Architecture, Block, Choice, ConfigError, Node, SearchSpace, hookimpl
from automl_codegen.options import PluginOptions, boolean, check, integer, structure_options

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
    weight_rows,
)

__all__ = ["DARTS_V1", "DARTS_V2", "DEFAULT_INPUT", "FORM", "NAMED", "OPS", "DartsCellSpace"]

#: The CIFAR-10 setting of the paper, used when no dataset says otherwise.
DEFAULT_INPUT = (3, 32, 32)
#: The candidate ops, in the authors' order (``PRIMITIVES``).
OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
CELLS = ("normal", "reduce")
NODES = (2, 3, 4, 5)
CONCAT = [2, 3, 4, 5]
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

# The published genotypes, from the authors' cnn/genotypes.py (quark0/darts).
#: DARTS (first order), 3.3M parameters, 3.00 ± 0.14 % test error on CIFAR-10.
DARTS_V1 = {
    "normal": [
        ["sep_conv_3x3", 1],
        ["sep_conv_3x3", 0],
        ["skip_connect", 0],
        ["sep_conv_3x3", 1],
        ["skip_connect", 0],
        ["sep_conv_3x3", 1],
        ["sep_conv_3x3", 0],
        ["skip_connect", 2],
    ],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [
        ["max_pool_3x3", 0],
        ["max_pool_3x3", 1],
        ["skip_connect", 2],
        ["max_pool_3x3", 0],
        ["max_pool_3x3", 0],
        ["skip_connect", 2],
        ["skip_connect", 2],
        ["avg_pool_3x3", 0],
    ],
    "reduce_concat": [2, 3, 4, 5],
}
#: DARTS (second order), 3.3M parameters, 2.76 ± 0.09 % test error on CIFAR-10.
DARTS_V2 = {
    "normal": [
        ["sep_conv_3x3", 0],
        ["sep_conv_3x3", 1],
        ["sep_conv_3x3", 0],
        ["sep_conv_3x3", 1],
        ["sep_conv_3x3", 1],
        ["skip_connect", 0],
        ["skip_connect", 0],
        ["dil_conv_3x3", 2],
    ],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [
        ["max_pool_3x3", 0],
        ["max_pool_3x3", 1],
        ["skip_connect", 2],
        ["max_pool_3x3", 1],
        ["max_pool_3x3", 0],
        ["skip_connect", 2],
        ["skip_connect", 2],
        ["max_pool_3x3", 1],
    ],
    "reduce_concat": [2, 3, 4, 5],
}
#: Names :meth:`DartsCellSpace.parse_genotype` accepts; ``DARTS`` is V2, as in the authors' code.
NAMED = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2, "DARTS": DARTS_V2}

FORM = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5]) with 8 (op, input) pairs per cell, "
    "the same as a JSON object, or DARTS_V1 / DARTS_V2"
)
_SPACE = "darts-cell"


@hookimpl
def register_search_spaces(register):
    register("darts-cell", DartsCellSpace)


def _bad_text(problem: str) -> ConfigError:
    return ConfigError(f"darts-cell genotype text {problem}; write {FORM}")


def _literal(field: str, node: ast.expr) -> Any:
    """The value of one field of ``Genotype(...)``: a literal, or ``range(a, b)`` for a concat."""
    if (
        field.endswith("_concat")
        and isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
        and all(isinstance(a, ast.Constant) and is_int(a.value) and abs(a.value) <= 64 for a in node.args)
    ):
        return list(range(*(a.value for a in node.args)))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        try:
            shown = ast.unparse(node)[:60]
        except RecursionError:  # pragma: no cover - absurdly deep text
            shown = "..."
        raise _bad_text(f"has a {field} that is not a literal ({shown})") from None


def _parse_text(text: str) -> Any:
    """The genotype (not yet validated) written in the authors' notation or as JSON."""
    if text in NAMED:
        return copy.deepcopy(NAMED[text])
    if text.startswith("{"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _bad_text(f"is not valid JSON ({exc})") from None
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise _bad_text(f"does not parse ({exc.msg} at column {exc.offset})") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise _bad_text(f"does not parse ({type(exc).__name__})") from None
    func = tree.func if isinstance(tree, ast.Call) else None
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name != "Genotype":
        raise _bad_text("is not Genotype(...), a JSON object or a published genotype's name")
    if len(tree.args) > len(_FIELDS):
        raise _bad_text(f"has {len(tree.args)} positional fields; Genotype has {len(_FIELDS)}")
    fields: dict[str, ast.expr] = dict(zip(_FIELDS, tree.args, strict=False))  # checked above: at most four
    for keyword in tree.keywords:
        if keyword.arg not in _FIELDS:
            shown = "**" if keyword.arg is None else repr(keyword.arg)
            raise _bad_text(f"has an unknown field {shown}; the fields are {', '.join(_FIELDS)}")
        if keyword.arg in fields:
            raise _bad_text(f"gives {keyword.arg!r} twice")
        fields[keyword.arg] = keyword.value
    return {field: _literal(field, node) for field, node in fields.items()}


_NO_AUXILIARY = (
    "{owner} option 'auxiliary' is not supported yet: the auxiliary head is a second, "
    "training-only output, and the architecture IR has a single output; use auxiliary=false"
)


@attrs.frozen(kw_only=True)
class DartsCellOptions(PluginOptions):
    """The options of :class:`DartsCellSpace`, checked (see its docstring)."""

    invalid_message = "{owner} option {name!r} must be {expected}, got {value!r}"

    # Maxima, checked before any work, far above published networks: the last cells
    # concatenate 4 nodes of 4C channels, and a network of 100,000 cells took minutes
    # to build before the IR refused it.
    init_channels: int = attrs.field(
        default=36,
        validator=integer(1, 4096),
        metadata={"help": "C of the first cells; the stem has 3C (the paper's 36), at most 4096"},
    )
    layers: int = attrs.field(
        default=20,
        validator=integer(1, 256),
        metadata={"help": "number of cells (the paper's evaluation network: 20), at most 256"},
    )
    auxiliary: bool = attrs.field(
        default=False,
        validator=[boolean(), check(lambda v: not v, "false", message=_NO_AUXILIARY)],
        metadata={"help": "the auxiliary head (not supported yet)"},
    )
    allow_none: bool = attrs.field(
        default=False, validator=boolean(), metadata={"help": "whether 'none' is one of the ops"}
    )


class DartsCellSpace(SearchSpace):
    """Normal and reduction cells of DARTS on the authors' evaluation network.

    Args:
        input_shape: per-sample input ``(C, H, W)``; H and W must halve evenly at each
            reduction cell (FactorizedReduce needs an even size). Default: CIFAR-10's
            ``(3, 32, 32)``.
        num_classes: number of output logits (default 10).
        init_channels: ``C`` of the first cells; the stem has ``3C`` (the paper's 36).
        layers: number of cells (the paper's evaluation network: 20).
        auxiliary: the auxiliary head; not supported yet (a ConfigError says why).
        allow_none: whether ``none`` is one of the ops (DARTS never picks it for a final
            cell; the one-shot search mixes it in).

    Raises:
        ConfigError: an option is out of range; the message names it.
    """

    name = _SPACE

    Options = DartsCellOptions

    def __init__(self, input_shape: Sequence[int] = DEFAULT_INPUT, num_classes: int = 10, **options: Any) -> None:
        shape = check_input_shape(_SPACE, input_shape)
        super().__init__(shape, positive_int(_SPACE, "num_classes", num_classes))
        self.options = o = structure_options(self.Options, options, owner=self.name)
        self.init_channels = int(o.init_channels)
        self.layers = int(o.layers)
        self.allow_none = o.allow_none
        self.ops = OPS if self.allow_none else OPS[1:]
        self.reductions = sorted({self.layers // 3, 2 * self.layers // 3})
        factor = 2 ** len(self.reductions)
        if shape[1] % factor or shape[2] % factor:
            msg = (
                f"darts-cell with layers={self.layers} has {len(self.reductions)} reduction cell(s), so it needs "
                f"input height and width divisible by {factor} (factorized reduce halves an even size), "
                f"got {shape[1]}x{shape[2]}"
            )
            raise ConfigError(msg)

    # -- genotypes -----------------------------------------------------------------------

    def choices(self) -> list[Choice]:
        """Per cell type, node and input slot: the input's index, then the op."""
        return [
            choice
            for cell in CELLS
            for node in NODES
            for slot in (0, 1)
            for choice in (
                Choice(f"{cell}.node{node}.input{slot}", tuple(range(node))),
                Choice(f"{cell}.node{node}.op{slot}", self.ops),
            )
        ]

    def decode(self, indices: Sequence[int]) -> dict[str, Any]:
        choices = self.choices()
        if len(indices) != len(choices):
            msg = f"darts-cell decodes {len(choices)} indices, got {len(indices)}"
            raise ConfigError(msg)
        values = []
        for choice, index in zip(choices, indices, strict=True):
            if not is_int(index) or not 0 <= index < len(choice.options):
                msg = f"{choice.name}: index {index!r} is outside 0..{len(choice.options) - 1}"
                raise ConfigError(msg)
            values.append(choice.options[index])
        genotype: dict[str, Any] = {}
        for number, cell in enumerate(CELLS):
            flat = values[number * 16 : (number + 1) * 16]
            genotype[cell] = [[flat[k + 1], flat[k]] for k in range(0, 16, 2)]
            genotype[f"{cell}_concat"] = list(CONCAT)
        return genotype

    def encode(self, genotype: Any) -> list[int]:
        pairs = self._pairs(genotype)
        return [index for cell in CELLS for op, i in pairs[cell] for index in (i, self.ops.index(op))]

    def key(self, genotype: Any) -> str:
        """Equal for genotypes that differ only in the order of a node's two inputs.

        A node is the sum of its two ops, and floating-point addition is commutative, so
        swapping them changes neither the output nor the parameters.
        """
        canonical = self.decode(self.encode(genotype))
        for cell in CELLS:
            pairs = canonical[cell]
            canonical[cell] = [p for k in range(0, 8, 2) for p in sorted(pairs[k : k + 2], key=lambda p: (p[1], p[0]))]
        return super().key(canonical)

    def _pairs(self, genotype: Any) -> dict[str, list[tuple[str, int]]]:
        """The (op, input) pairs per cell type, checked; a ConfigError names what is wrong."""
        if not isinstance(genotype, dict) or not all(cell in genotype for cell in CELLS):
            msg = (
                f"a darts-cell genotype is a dict with 'normal' and 'reduce' lists of [op, input] pairs "
                f"(and optionally 'normal_concat' and 'reduce_concat'), got {genotype!r}"
            )
            raise ConfigError(msg)
        unknown = sorted(set(genotype) - set(_FIELDS), key=str)
        if unknown:
            msg = f"darts-cell genotype has an unknown key {unknown[0]!r}; the keys are {', '.join(map(repr, _FIELDS))}"
            raise ConfigError(msg)
        out = {}
        for cell in CELLS:
            concat = genotype.get(f"{cell}_concat", CONCAT)
            if not isinstance(concat, list | tuple | range) or list(concat) != CONCAT:
                msg = (
                    f"darts-cell genotype: '{cell}_concat' is {concat!r}, but darts-cell cells concatenate "
                    f"all four nodes, {CONCAT}"
                )
                raise ConfigError(msg)
            pairs = genotype[cell]
            if not isinstance(pairs, list | tuple) or len(pairs) != 2 * len(NODES):
                count = f"{len(pairs)} items" if isinstance(pairs, list | tuple) else repr(pairs)
                msg = (
                    f"darts-cell genotype: {cell!r} has {count}, but needs 8 (op, input) pairs, "
                    f"two for each of the nodes 2 to 5"
                )
                raise ConfigError(msg)
            out[cell] = [self._pair(cell, position, pair) for position, pair in enumerate(pairs)]
        return out

    def _pair(self, cell: str, position: int, pair: object) -> tuple[str, int]:
        node = NODES[position // 2]
        where = f"darts-cell genotype: {cell}[{position}] (node {node})"
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str) or not is_int(pair[1]):
            msg = f"{where} is {pair!r}, not an (op, input) pair such as ('sep_conv_3x3', 0)"
            raise ConfigError(msg)
        op, source = pair[0], int(pair[1])
        if op not in self.ops:
            if op == "none":
                msg = f"{where}: op 'none' is not allowed; set the space option allow_none=true to allow it"
            else:
                msg = f"{where}: unknown op {op!r}; the ops are {', '.join(self.ops)}"
            raise ConfigError(msg)
        if not 0 <= source < node:
            msg = f"{where}: input {source} is not an earlier node; node {node} reads one of 0 to {node - 1}"
            raise ConfigError(msg)
        return op, source

    def parse_genotype(self, text: str) -> dict[str, Any]:
        """The JSON genotype written in ``text``.

        ``text`` is the authors' notation (``Genotype(normal=[('sep_conv_3x3', 0), ...],
        normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``; the
        concats may be ``range(2, 6)``), the same as a JSON object, or the name of a
        published genotype (``DARTS_V1``, ``DARTS_V2``, ``DARTS``). Python text is read with
        :mod:`ast`, never evaluated.
        """
        if not isinstance(text, str):
            msg = f"darts-cell parses genotype text, got {text!r}"
            raise ConfigError(msg)
        return self.decode(self.encode(_parse_text(text.strip())))

    # -- one-shot search -----------------------------------------------------------------

    def supernet_description(self, *, partial_channels: int = 1, **sizes: Any) -> SupernetDescription:
        """The supernet of this space: the authors' search network (``model_search.Network``).

        Every normal cell shares one weight matrix and every reduction cell another, each
        14 edges × 8 ops (``none`` included, whatever ``allow_none`` says: the derivation
        never picks it). ``sizes`` set ``init_channels`` and ``layers`` of the supernet
        only (default: the authors' search network, 16 channels and 8 cells, but never
        larger than this space's network); the derived genotype is lowered with this
        space's own options. ``partial_channels`` is PC-DARTS's ``K``.
        """
        sizes = check_supernet_sizes(_SPACE, sizes, ("init_channels", "layers"))
        net = DartsCellSpace(
            self.input_shape,
            self.num_classes,
            init_channels=sizes.get("init_channels", min(16, self.init_channels)),
            layers=sizes.get("layers", min(8, self.layers)),
            allow_none=self.allow_none,
        )
        # DARTS_V2 reads both inputs of both cell kinds, so every cell block has both
        # preprocessing nodes; its ops do not matter, the strategy replaces them.
        skeleton = net.to_architecture(DARTS_V2)
        cells = []
        for node in skeleton.nodes:
            if node.op == "block" and node.block.endswith(("Cell", "CellReductionPrev")):
                reduction = node.block.startswith("Reduction")
                kind = "reduce" if reduction else "normal"
                cells.append(SupernetCell(node.name, kind, int(node.attr("c")), reduction))
        k = check_partial_channels(_SPACE, partial_channels, cells)
        networks = {}
        for cell in cells:
            c = cell.channels // k
            for op in OPS[1:]:
                for stride in (1, 2) if cell.reduction else (1,):
                    if (op, cell.channels, stride) not in networks:
                        blocks: dict[str, Block] = {}
                        node = _op_node("op", op, "x", stride, blocks)
                        network = edge_op_network(node, blocks.values(), {"c": c, "c_half": c // 2}, c)
                        networks[(op, cell.channels, stride)] = network
        return SupernetDescription(
            skeleton=skeleton,
            cells=tuple(cells),
            kinds=CELLS,
            ops=OPS,
            edges=tuple((i, j) for j in NODES for i in range(j)),
            cell_inputs=2,
            preprocess=("preprocess0", "preprocess1"),
            output="concat",
            pool_bn=True,
            partial_channels=k,
            op_networks=networks,
        )

    def genotype_from_weights(self, weights: Any) -> dict[str, Any]:
        """The authors' derivation (``Network.genotype``): per node, the two strongest inputs.

        ``weights["normal"]`` and ``weights["reduce"]`` hold one row of eight op weights
        (in :data:`OPS` order) per edge, edges ordered by node and then input: (0, 2),
        (1, 2), (0, 3), ... (4, 5). An edge's strength is its largest weight other than
        ``none``'s; each node keeps its two strongest edges, strongest first, each with its
        strongest op other than ``none``. Ties go to the earlier input or op.
        """
        genotype: dict[str, Any] = {}
        edges = sum(NODES)
        none = OPS.index("none")
        for cell in CELLS:
            rows = weight_rows(_SPACE, weights, cell, edges, len(OPS))
            pairs, start = [], 0
            for node in NODES:
                strongest = {
                    i: max((k for k in range(len(OPS)) if k != none), key=lambda k, row=rows[start + i]: (row[k], -k))
                    for i in range(node)
                }
                inputs = sorted(range(node), key=lambda i: -rows[start + i][strongest[i]])[:2]
                pairs += [[OPS[strongest[i]], i] for i in inputs]
                start += node
            genotype[cell] = pairs
            genotype[f"{cell}_concat"] = list(CONCAT)
        return genotype

    def genotype_weights(self, genotype: Any) -> dict[str, list[list[float]]]:
        """The edge-by-op matrices of a genotype, per cell kind: the count of each (op, input) pair.

        Rows are the supernet's edges (see :meth:`genotype_from_weights`); a node's two
        inputs put a 1 each on their edge and op (a 2 when both slots are the same pair).
        A weight-sharing strategy runs the supernet's ops where the matrix is non-zero,
        which sums the same ops into each node as the final network does.
        """
        pairs = self._pairs(genotype)
        weights = {}
        for cell in CELLS:
            rows = [[0.0] * len(OPS) for _ in range(sum(NODES))]
            start = 0
            for number, node in enumerate(NODES):
                for op, i in pairs[cell][2 * number : 2 * number + 2]:
                    rows[start + i][OPS.index(op)] += 1.0
                start += node
            weights[cell] = rows
        return weights

    # -- lowering ------------------------------------------------------------------------

    def to_architecture(self, genotype: Any) -> Architecture:
        """Lower a genotype to the IR (a :class:`ConfigError` if it is malformed)."""
        pairs = self._pairs(genotype)
        blocks: dict[str, Block] = {}
        c = self.init_channels
        stem = 3 * c
        nodes = [
            Node(
                "stem",
                "conv2d",
                (Architecture.INPUT,),
                {"in_channels": self.input_shape[0], "out_channels": stem, "kernel_size": 3, "padding": 1},
            ),
            Node("stem_bn", "batchnorm2d", ("stem",), {"num_features": stem}),
        ]
        # The first cell reads the stem's output as both of its inputs.
        inputs, c_prev_prev, c_prev = ("stem_bn", "stem_bn"), stem, stem
        reduction_prev = False
        for index in range(self.layers):
            reduction = index in self.reductions
            if reduction:
                c *= 2
            cell = _cell_block(pairs["reduce" if reduction else "normal"], reduction, reduction_prev, blocks)
            blocks.setdefault(cell.name, cell)
            name = f"cell{index}"
            nodes.append(call(name, cell, inputs, c_prev_prev=c_prev_prev, c_prev=c_prev, c=c, c_half=c // 2))
            inputs, c_prev_prev, c_prev = (inputs[1], name), c_prev, len(NODES) * c
            reduction_prev = reduction
        nodes += [
            Node("pool", "global_avg_pool", (inputs[1],)),
            Node("classifier", "linear", ("pool",), {"in_features": c_prev, "out_features": self.num_classes}),
        ]
        return Architecture(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            nodes=nodes,
            output="classifier",
            blocks=list(blocks.values()),
            name="DartsNetwork",
            # Every channel count is a multiple of C: generated code takes C as an argument.
            sizes={"c": self.init_channels},
        )


# -- block kinds ---------------------------------------------------------------------------


def _factorized_reduce() -> Block:
    """Halves the resolution with two 1×1 stride-2 convs, the second offset by one pixel.

    ``c_half`` is ``c_out // 2``; the IR does no arithmetic on parameters.
    """
    conv = {"in_channels": "c_in", "out_channels": "c_half", "kernel_size": 1, "stride": 2}
    nodes = [
        Node("relu", "relu", ("x",)),
        Node("conv_1", "conv2d", ("relu",), conv),
        # x[:, :, 1:, 1:] in the authors' code.
        Node("shifted", "crop2d", ("relu",), {"top": 1, "left": 1}),
        Node("conv_2", "conv2d", ("shifted",), conv),
        Node("halves", "concat", ("conv_1", "conv_2")),
        Node("bn", "batchnorm2d", ("halves",), {"num_features": "c_out"}),
    ]
    return Block(name="FactorizedReduce", inputs=("x",), params=("c_in", "c_out", "c_half"), nodes=nodes, output="bn")


def _relu_dw_pw_bn(suffix: str, source: str, stride: str | int, dilation: str | int = 1) -> list[Node]:
    depthwise = {"channels": "c", "kernel_size": "kernel_size", "stride": stride, "padding": "padding"}
    if dilation != 1:
        depthwise["dilation"] = dilation
    pointwise = {"in_channels": "c", "out_channels": "c", "kernel_size": 1}
    return [
        Node(f"relu{suffix}", "relu", (source,)),
        Node(f"dw{suffix}", "depthwise_conv2d", (f"relu{suffix}",), depthwise),
        Node(f"pw{suffix}", "conv2d", (f"dw{suffix}",), pointwise),
        Node(f"bn{suffix}", "batchnorm2d", (f"pw{suffix}",), {"num_features": "c"}),
    ]


def _sep_conv() -> Block:
    """The authors' SepConv: (ReLU → depthwise → pointwise → BN) twice, strided once."""
    nodes = _relu_dw_pw_bn("1", "x", "stride") + _relu_dw_pw_bn("2", "bn1", 1)
    return Block(
        name="SepConv",
        inputs=("x",),
        params=("c", "kernel_size", "stride", "padding"),
        nodes=nodes,
        output="bn2",
    )


def _dil_conv() -> Block:
    """The authors' DilConv: ReLU → dilated depthwise → pointwise → BN."""
    nodes = _relu_dw_pw_bn("", "x", "stride", "dilation")
    return Block(
        name="DilConv",
        inputs=("x",),
        params=("c", "kernel_size", "stride", "padding", "dilation"),
        nodes=nodes,
        output="bn",
    )


_CONVS = {
    "sep_conv_3x3": (_sep_conv, {"kernel_size": 3, "padding": 1}),
    "sep_conv_5x5": (_sep_conv, {"kernel_size": 5, "padding": 2}),
    "dil_conv_3x3": (_dil_conv, {"kernel_size": 3, "padding": 2, "dilation": 2}),
    "dil_conv_5x5": (_dil_conv, {"kernel_size": 5, "padding": 4, "dilation": 2}),
}


def _use(blocks: dict[str, Block], block: Block) -> Block:
    return blocks.setdefault(block.name, block)


def _op_node(name: str, op: str, source: str, stride: int, blocks: dict[str, Block]) -> Node:
    """One op of a cell on ``C`` channels (the cell's parameter ``c``)."""
    if op == "none":
        return Node(name, "zero", (source,), {"stride": stride})
    if op == "skip_connect":
        if stride == 1:
            return Node(name, "identity", (source,))
        return call(name, _use(blocks, _factorized_reduce()), (source,), c_in="c", c_out="c", c_half="c_half")
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        attrs: dict[str, Any] = {"kernel_size": 3, "stride": stride, "padding": 1}
        if op == "avg_pool_3x3":
            attrs["count_include_pad"] = False
        return Node(name, op.replace("_3x3", "2d"), (source,), attrs)
    make, attrs = _CONVS[op]
    return call(name, _use(blocks, make()), (source,), c="c", stride=stride, **attrs)


def _cell_block(
    pairs: Sequence[tuple[str, int]], reduction: bool, reduction_prev: bool, blocks: dict[str, Block]
) -> Block:
    """One cell kind: preprocessing of the inputs that are read, four nodes, the concat."""
    read = {source for _, source in pairs}
    nodes: list[Node] = []
    conv = relu_conv_bn()
    if 0 in read:
        if reduction_prev:
            block = _use(blocks, _factorized_reduce())
            nodes.append(call("preprocess0", block, ("s0",), c_in="c_prev_prev", c_out="c", c_half="c_half"))
        else:
            block = _use(blocks, conv)
            nodes.append(
                call("preprocess0", block, ("s0",), c_in="c_prev_prev", c_out="c", kernel_size=1, stride=1, padding=0)
            )
    if 1 in read:
        block = _use(blocks, conv)
        nodes.append(call("preprocess1", block, ("s1",), c_in="c_prev", c_out="c", kernel_size=1, stride=1, padding=0))
    states = ["preprocess0", "preprocess1"]
    for number, node in enumerate(NODES):
        terms = []
        for slot in (0, 1):
            op, source = pairs[2 * number + slot]
            stride = 2 if reduction and source < 2 else 1
            nodes.append(_op_node(f"node{node}_op{slot}", op, states[source], stride, blocks))
            terms.append(nodes[-1].name)
        nodes.append(Node(f"node{node}", "add", tuple(terms)))
        states.append(nodes[-1].name)
    nodes.append(Node("concat", "concat", tuple(states[2:])))
    name = "ReductionCell" if reduction else "NormalCell"
    if reduction_prev and 0 in read:
        # Its older input is twice the size: a different module structure, so a different class.
        name += "ReductionPrev"
    return Block(
        name=name,
        inputs=("s0", "s1"),
        params=block_params(nodes, ("c_prev_prev", "c_prev", "c", "c_half")),
        nodes=nodes,
        output="concat",
    )
