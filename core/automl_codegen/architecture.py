"""The architecture IR: a validated DAG of typed nodes, with repeated blocks kept grouped.

An :class:`Architecture` is a frozen, hashable value. Constructing one validates it
(closed op vocabulary, attribute types and bounds, topological order, no dangling or
unused nodes, shapes), so an architecture that exists always builds. Errors name the
node: ``nodes[3] 'stage1_0' -> block 'MBConv' nodes[1] 'dw': conv2d expects 16 input
channels (in_channels), got 8``.

Blocks are parameterised sub-graphs (one class per block kind in emitted code). Inside a
block, an integer attribute may be the name of a block parameter instead of a literal;
each ``op="block"`` node binds the parameters with integers.

An architecture may also name the sizes its space scales it by (``sizes``, e.g. DARTS'
``{"c": 36}``): a hint for emitters, which write channel counts that are multiples of a
size as expressions of it and take the size as an argument. It changes nothing the
network computes.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

import attrs

from ._ops import BLOCK_OP, IR_VERSION, OPS, OpSpec, Shape, required_version
from .errors import ArchitectureError

__all__ = [
    "IR_VERSION",
    "OPS",
    "Architecture",
    "Block",
    "Node",
    "infer_shapes",
]

AttrValue = int | float | bool | str

_IDENT = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]{1,63}\Z")
#: Names that generated code uses itself, so no input, parameter or node may take them.
CODE_NAMES = frozenset({"self", "torch", "nn", "F", "tf", "keras", "layers", "super", "math"})
#: Attributes of torch.nn.Module and keras.layers.Layer / keras.Model: a node (a module
#: attribute in generated code) named like one would shadow it. tests/core checks this
#: list against the installed torch so a new torch attribute cannot slip through.
FRAMEWORK_ATTRIBUTES = frozenset(
    # A word list reads better than 70 quoted strings.
    """
    add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward half ipu load_state_dict modules mtia
    parameters requires_grad_ share_memory state_dict to to_empty train type xpu zero_grad
    training
    add_loss add_weight build built call compute_dtype compute_output_shape
    compute_output_spec count_params dtype dtype_policy evaluate fit from_config input
    input_spec inputs losses metrics name non_trainable_variables non_trainable_weights
    output outputs path predict quantize save stateful summary supports_masking
    trainable trainable_variables trainable_weights variable_dtype variables weights
    """.split()
)
#: Prefixes of framework method families (register_*, named_*, get_*, set_*).
RESERVED_PREFIXES = ("register_", "named_", "get_", "set_")
#: Names a node (a module attribute and local variable in generated code) must not take.
RESERVED_NAMES = (
    CODE_NAMES | FRAMEWORK_ATTRIBUTES | frozenset({"x", "out", "model", "state", "build_model", "input_", "cls"})
)
MAX_NODES = 4096
#: Most blocks calling blocks calling blocks ... (a chain this deep is not a network anyone writes).
MAX_BLOCK_DEPTH = 64
#: Most primitive ops once every block call is inlined: a block called twice by a block
#: called twice ... doubles per level, and 40 levels in a 9 KB file would be 10**12 modules.
MAX_EXPANDED_OPS = 1 << 16
#: Most named sizes an architecture may declare, and the largest value of one.
MAX_SIZES = 8
MAX_SIZE = 1 << 16
#: Argument names of the generated network and ``build_model`` that a size must not take.
_SIZE_RESERVED = frozenset({"weights", "num_classes", "inputs", "outputs"})


def _check_identifier(kind: str, value: object, reserved: frozenset[str] = RESERVED_NAMES) -> None:
    if not isinstance(value, str) or not _IDENT.match(value) or keyword.iskeyword(value):
        msg = (
            f"{kind} {value!r} is not a valid name: use lower_case letters, digits and "
            f"underscores, starting with a letter (at most 64 characters)"
        )
        raise ArchitectureError(msg)
    if value in reserved or (reserved is RESERVED_NAMES and value.startswith(RESERVED_PREFIXES)):
        msg = f"{kind} {value!r} is reserved in generated code; rename it"
        raise ArchitectureError(msg)


def _check_class_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not _CLASS_NAME.match(value):
        msg = f"{kind} {value!r} is not a valid class name: use CamelCase letters and digits, at least 2 characters"
        raise ArchitectureError(msg)


def _freeze_attrs(value: Mapping[str, AttrValue] | Iterable[tuple[str, AttrValue]]) -> tuple:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), v) for k, v in items))


def _freeze_sizes(value: Any) -> Any:
    """``{"c": 36}`` or ``[["c", 36]]`` as ``(("c", 36),)``; anything else is left for validation."""
    if isinstance(value, Mapping):
        value = list(value.items())
    if isinstance(value, list | tuple) and all(isinstance(item, list | tuple) and len(item) == 2 for item in value):
        return tuple((item[0], item[1]) for item in value)
    return value


@attrs.frozen
class Node:
    """One node of a graph.

    Attributes:
        name: identifier, unique in its graph; the attribute / variable name in code.
        op: an op of :data:`OPS`, or ``"block"`` to call the block named by ``block``.
        inputs: names of earlier nodes or of the graph's inputs.
        attrs: the op's attributes (defaults filled in), sorted ``(name, value)`` pairs;
            a block call binds the block's parameters here.
        block: the called block's name when ``op == "block"``.
    """

    name: str
    op: str
    inputs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    attrs: tuple[tuple[str, AttrValue], ...] = attrs.field(default=(), converter=_freeze_attrs)
    block: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_identifier("node name", self.name)
        where = f"node {self.name!r}"
        for ref in self.inputs:
            if not isinstance(ref, str):
                msg = f"{where}: inputs must be node names, got {ref!r}"
                raise ArchitectureError(msg)
        if self.op == BLOCK_OP:
            _check_class_name(f"{where}: block", self.block)
            for key, value in self.attrs:
                _check_identifier(f"{where}: block parameter", key, CODE_NAMES)
                # 0 is a legitimate binding (padding); per-op bounds are checked per call.
                _check_attr_value(where, key, value, int, 0, 1 << 16)
            return
        if self.block is not None:
            msg = f"{where}: 'block' is only allowed with op 'block', not {self.op!r}"
            raise ArchitectureError(msg)
        spec = OPS.get(self.op) if isinstance(self.op, str) else None
        if spec is None:
            known = ", ".join(sorted([*OPS, BLOCK_OP]))
            msg = f"{where}: unknown op {self.op!r}; the vocabulary (IR v{IR_VERSION}) is: {known}"
            raise ArchitectureError(msg)
        if not spec.min_inputs <= len(self.inputs) <= spec.max_inputs:
            want = (
                str(spec.min_inputs)
                if spec.min_inputs == spec.max_inputs
                else f"{spec.min_inputs} to {spec.max_inputs}"
            )
            msg = f"{where}: {self.op} takes {want} inputs, got {len(self.inputs)}"
            raise ArchitectureError(msg)
        given = dict(self.attrs)
        unknown = sorted(set(given) - {a.name for a in spec.attrs})
        if unknown:
            allowed = ", ".join(a.name for a in spec.attrs) or "none"
            msg = f"{where}: {self.op} has no attribute {unknown[0]!r} (allowed: {allowed})"
            raise ArchitectureError(msg)
        for attr in spec.attrs:
            if attr.name not in given:
                if attr.required:
                    msg = f"{where}: {self.op} needs attribute {attr.name!r}"
                    raise ArchitectureError(msg)
                given[attr.name] = given[attr.default_to] if attr.default_to else attr.default
            elif attr.type is float and type(given[attr.name]) is int:
                given[attr.name] = float(given[attr.name])
            _check_attr_value(where, attr.name, given[attr.name], attr.type, attr.min, attr.max)
        # Defaults are stored explicitly: equal networks get equal (hashable) nodes.
        object.__setattr__(self, "attrs", _freeze_attrs(given))

    @property
    def attr_dict(self) -> dict[str, AttrValue]:
        return dict(self.attrs)

    def attr(self, name: str) -> AttrValue:
        return self.attr_dict[name]

    @property
    def spec(self) -> OpSpec | None:
        return OPS.get(self.op)


def _check_attr_value(where: str, name: str, value: object, kind: type, lo: float | None, hi: float | None) -> None:
    if kind is int and isinstance(value, str):
        # A block parameter reference; resolved (and range-checked) per call.
        if not _IDENT.match(value) or value in CODE_NAMES or keyword.iskeyword(value):
            msg = f"{where}: attribute {name!r} must be int or a block parameter name, got {value!r}"
            raise ArchitectureError(msg)
        return
    if type(value) is not kind:
        msg = f"{where}: attribute {name!r} must be {kind.__name__}, got {value!r}"
        raise ArchitectureError(msg)
    if kind is bool:
        return
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        msg = f"{where}: attribute {name!r}={value!r} is outside [{lo}, {hi}]"
        raise ArchitectureError(msg)


def _check_graph(where: str, inputs: tuple[str, ...], nodes: tuple[Node, ...], output: str) -> None:
    """Names unique, inputs defined earlier, no cycles, every node used by the output."""
    prefix = f"{where}: " if where else ""
    if not nodes:
        msg = f"{prefix}has no nodes"
        raise ArchitectureError(msg)
    if len(nodes) > MAX_NODES:
        msg = f"{prefix}has {len(nodes)} nodes, more than the limit of {MAX_NODES}"
        raise ArchitectureError(msg)
    position = {}
    for index, node in enumerate(nodes):
        if node.name in position or node.name in inputs:
            msg = f"{prefix}nodes[{index}] {node.name!r}: the name is used twice"
            raise ArchitectureError(msg)
        position[node.name] = index
    for index, node in enumerate(nodes):
        for ref in node.inputs:
            if ref in inputs:
                continue
            if ref not in position:
                msg = f"{prefix}nodes[{index}] {node.name!r}: input {ref!r} is not defined"
                raise ArchitectureError(msg)
            if position[ref] >= index:
                cycle = _find_cycle(nodes, position, node.name)
                detail = f"cycle {' -> '.join(cycle)}" if cycle else "order the nodes topologically"
                msg = f"{prefix}nodes[{index}] {node.name!r}: input {ref!r} is not computed before it ({detail})"
                raise ArchitectureError(msg)
    if output not in position:
        msg = f"{prefix}output {output!r} is not a node"
        raise ArchitectureError(msg)
    used = {output}
    for node in reversed(nodes):
        if node.name in used:
            used.update(node.inputs)
    unused = [n.name for n in nodes if n.name not in used]
    if unused:
        msg = f"{prefix}nodes {unused} do not contribute to the output {output!r}; remove them"
        raise ArchitectureError(msg)


def _find_cycle(nodes: tuple[Node, ...], position: dict[str, int], start: str) -> list[str]:
    by_name = {n.name: n for n in nodes}
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name not in by_name:
            return None
        path.append(name)
        for ref in by_name[name].inputs:
            found = visit(ref)
            if found:
                return found
        path.pop()
        return None

    return visit(start) or []


@attrs.frozen
class Block:
    """A parameterised sub-graph; emitters write one class per block.

    Attributes:
        name: CamelCase name, the class name in emitted code.
        inputs: formal input names (the arguments of ``forward``).
        params: integer parameter names (the arguments of ``__init__``).
        nodes: the body, in topological order.
        output: the node whose value the block returns.
    """

    name: str
    inputs: tuple[str, ...] = attrs.field(converter=tuple)
    params: tuple[str, ...] = attrs.field(converter=tuple)
    nodes: tuple[Node, ...] = attrs.field(converter=tuple)
    output: str

    def __attrs_post_init__(self) -> None:
        _check_class_name("block name", self.name)
        where = f"block {self.name!r}"
        if not self.inputs:
            msg = f"{where}: needs at least one input"
            raise ArchitectureError(msg)
        for name in self.inputs:
            _check_identifier(f"{where}: input", name, CODE_NAMES)
        for name in self.params:
            # Parameters may be stored on the module (self.stride), so they follow node rules.
            _check_identifier(f"{where}: parameter", name)
        if len(set(self.inputs) | set(self.params)) != len(self.inputs) + len(self.params):
            msg = f"{where}: input and parameter names must be distinct"
            raise ArchitectureError(msg)
        _check_graph(where, self.inputs, self.nodes, self.output)
        clashes = sorted(set(self.params) & {n.name for n in self.nodes})
        if clashes:
            msg = f"{where}: parameters {clashes} have the names of nodes; rename one of each"
            raise ArchitectureError(msg)
        referenced = {v for node in self.nodes for _, v in node.attrs if isinstance(v, str)}
        unused = [p for p in self.params if p not in referenced]
        if unused:
            msg = f"{where}: parameters {unused} are not used by any node; remove them"
            raise ArchitectureError(msg)
        for index, node in enumerate(self.nodes):
            for key, value in node.attrs:
                if isinstance(value, str) and value not in self.params:
                    msg = (
                        f"{where}: nodes[{index}] {node.name!r}: attribute {key!r} refers to "
                        f"{value!r}, which is not a parameter of the block ({list(self.params)})"
                    )
                    raise ArchitectureError(msg)


@attrs.frozen
class Architecture:
    """A whole network: input shape, classes, top-level graph and the blocks it calls.

    Attributes:
        input_shape: per-sample input, channels first: ``(C, H, W)`` images, ``(C, L)``
            sequences or ``(F,)`` vectors (tabular rows).
        num_classes: size of the output vector (logits).
        nodes: the top-level graph in topological order; its input is named ``input_``.
        output: the node that yields the logits.
        blocks: block definitions, each used by at least one ``op="block"`` node.
        name: the class name of the network in emitted code.
        ir_version: vocabulary version the architecture was written against; by default
            the oldest that has every op and the input rank it uses (see
            :func:`automl_codegen._ops.required_version`), so that a network the older
            vocabulary can express keeps its JSON and fingerprint. Any version from 1 to
            :data:`IR_VERSION` reads, since the vocabulary only grew.
        sizes: ``(name, value)`` pairs (a mapping is accepted): the sizes the network's
            space scales it by, such as DARTS' initial channel count. A hint for emitters
            only: generated code takes each as an argument and writes channel counts that
            are multiples of it as expressions of it. Empty by default, and then left out
            of the JSON (and the fingerprint).
    """

    INPUT = "input_"

    input_shape: tuple[int, ...] = attrs.field(converter=tuple)
    num_classes: int
    nodes: tuple[Node, ...] = attrs.field(converter=tuple)
    output: str
    blocks: tuple[Block, ...] = attrs.field(default=(), converter=tuple)
    name: str = "Net"
    ir_version: int = attrs.field()

    @ir_version.default
    def _oldest_sufficient_version(self) -> int:
        # Runs before validation: tolerate anything, __attrs_post_init__ words the errors.
        graphs = [self.nodes, *(getattr(block, "nodes", ()) for block in self.blocks)]
        ops = {getattr(node, "op", None) for nodes in graphs for node in nodes}
        return required_version(ops, len(self.input_shape))

    # Typed Any so that JSON's {"c": 36} reaches the converter; validated below.
    sizes: Any = attrs.field(default=(), converter=_freeze_sizes)

    def __attrs_post_init__(self) -> None:
        if type(self.ir_version) is not int or not 1 <= self.ir_version <= IR_VERSION:
            msg = (
                f"architecture was written for IR version {self.ir_version}; this "
                f"automl-codegen reads versions 1 to {IR_VERSION}"
            )
            raise ArchitectureError(msg)
        _check_class_name("architecture name", self.name)
        forms = {1: "(F,)", 2: "(C, L)", 3: "(C, H, W)"}
        if len(self.input_shape) not in forms:
            msg = f"input_shape must be (F,), (C, L) or (C, H, W), got {self.input_shape}"
            raise ArchitectureError(msg)
        if any(type(d) is not int or not 1 <= d <= 1 << 14 for d in self.input_shape):
            msg = (
                f"input_shape must be {forms[len(self.input_shape)]}, each an integer from 1 to {1 << 14}, "
                f"got {self.input_shape}"
            )
            raise ArchitectureError(msg)
        if type(self.num_classes) is not int or not 1 <= self.num_classes <= 1 << 20:
            msg = f"num_classes must be a positive integer, got {self.num_classes!r}"
            raise ArchitectureError(msg)
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names) or self.name in names:
            msg = f"block names must be unique and differ from the network's name {self.name!r}"
            raise ArchitectureError(msg)
        _check_graph("", (self.INPUT,), self.nodes, self.output)
        for index, node in enumerate(self.nodes):
            for key, value in node.attrs:
                if isinstance(value, str):
                    msg = (
                        f"nodes[{index}] {node.name!r}: attribute {key!r}={value!r} refers to a "
                        f"parameter, but only nodes inside a block have parameters"
                    )
                    raise ArchitectureError(msg)
        self._check_block_calls()
        self._check_version()
        self._check_sizes()
        out = self.shapes[self.output]
        if out != (self.num_classes,):
            msg = (
                f"output {self.output!r} has shape {out}, but the network must return "
                f"({self.num_classes},) logits for num_classes={self.num_classes}"
            )
            raise ArchitectureError(msg)

    def _check_version(self) -> None:
        """An explicit ir_version must have every op and the input rank the network uses."""
        newer = sorted(op for op in self.op_counts() if OPS[op].since > self.ir_version)
        if newer:
            op = newer[0]
            msg = f"op {op!r} needs IR version {OPS[op].since}, but the architecture says ir_version={self.ir_version}"
            raise ArchitectureError(msg)
        needed = required_version((), len(self.input_shape))
        if self.ir_version < needed:
            msg = (
                f"an input_shape of rank {len(self.input_shape)} needs IR version {needed}, but "
                f"the architecture says ir_version={self.ir_version}"
            )
            raise ArchitectureError(msg)

    def _check_sizes(self) -> None:
        if not isinstance(self.sizes, tuple) or len(self.sizes) > MAX_SIZES:
            msg = f"sizes must map at most {MAX_SIZES} names to positive integers, got {self.sizes!r}"
            raise ArchitectureError(msg)
        taken = {node.name for node in self.nodes} | _SIZE_RESERVED
        names = [name for name, _ in self.sizes]
        for name, value in self.sizes:
            _check_identifier("size", name)
            if name in taken or names.count(name) > 1:
                msg = f"size {name!r} is also the name of a node, an argument of the generated code or another size"
                raise ArchitectureError(msg)
            if type(value) is not int or not 1 <= value <= MAX_SIZE:
                msg = f"size {name!r} must be an integer from 1 to {MAX_SIZE}, got {value!r}"
                raise ArchitectureError(msg)

    def _check_block_calls(self) -> None:
        blocks = self.block_map
        used: set[str] = set()
        graphs = [("", self.nodes), *((f"block {b.name!r}: ", b.nodes) for b in self.blocks)]
        for where, nodes in graphs:
            for index, node in enumerate(nodes):
                if node.op != BLOCK_OP:
                    continue
                block = blocks.get(node.block or "")
                if block is None:
                    msg = f"{where}nodes[{index}] {node.name!r}: calls unknown block {node.block!r}"
                    raise ArchitectureError(msg)
                used.add(block.name)
                if len(node.inputs) != len(block.inputs):
                    msg = (
                        f"{where}nodes[{index}] {node.name!r}: block {block.name!r} takes "
                        f"{len(block.inputs)} inputs, got {len(node.inputs)}"
                    )
                    raise ArchitectureError(msg)
                bound = {k for k, _ in node.attrs}
                if bound != set(block.params):
                    msg = (
                        f"{where}nodes[{index}] {node.name!r}: block {block.name!r} needs "
                        f"parameters {sorted(block.params)}, got {sorted(bound)}"
                    )
                    raise ArchitectureError(msg)
        unused = sorted(set(blocks) - used)
        if unused:
            msg = f"blocks {unused} are defined but never called; remove them"
            raise ArchitectureError(msg)
        expanded = self.expanded_size
        if expanded > MAX_EXPANDED_OPS:
            msg = (
                f"the network expands to {expanded} primitive ops once its block calls are "
                f"inlined, more than the limit of {MAX_EXPANDED_OPS}; call fewer blocks from blocks"
            )
            raise ArchitectureError(msg)

    @cached_property
    def block_map(self) -> dict[str, Block]:
        return {b.name: b for b in self.blocks}

    @cached_property
    def block_order(self) -> tuple[Block, ...]:
        """Blocks in dependency order: a block comes after every block it calls."""
        blocks, order, state, depth = self.block_map, [], {}, {}

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if state.get(name) == "done":
                return
            if name in chain:
                msg = f"blocks call each other recursively: {' -> '.join([*chain, name])}"
                raise ArchitectureError(msg)
            if len(chain) >= MAX_BLOCK_DEPTH:  # stops the recursion; the depth check below words it
                msg = f"block {chain[0]!r} nests blocks more than {MAX_BLOCK_DEPTH} deep, the limit"
                raise ArchitectureError(msg)
            callees = dict.fromkeys(node.block for node in blocks[name].nodes if node.op == BLOCK_OP)
            for callee in callees:
                visit(callee, (*chain, name))
            depth[name] = 1 + max((depth[callee] for callee in callees), default=0)
            if depth[name] > MAX_BLOCK_DEPTH:
                msg = f"block {name!r} nests blocks {depth[name]} deep, more than the limit of {MAX_BLOCK_DEPTH}"
                raise ArchitectureError(msg)
            state[name] = "done"
            order.append(blocks[name])

        for block in self.blocks:
            visit(block.name, ())
        return tuple(order)

    @cached_property
    def _block_op_counts(self) -> dict[str, Counter[str]]:
        """Primitive ops of each block once inlined, counted in one pass over the blocks."""
        counts: dict[str, Counter[str]] = {}
        for block in self.block_order:  # callees first
            counts[block.name] = self._inlined_counts(block.nodes, counts)
        return counts

    @staticmethod
    def _inlined_counts(nodes: tuple[Node, ...], blocks: Mapping[str, Counter[str]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for node in nodes:
            if node.op == BLOCK_OP:
                counts.update(blocks[node.block])
            else:
                counts[node.op] += 1
        return counts

    # -- derived facts -------------------------------------------------------------------

    @cached_property
    def expanded_size(self) -> int:
        """Primitive ops once every block call is inlined (what a framework instantiates)."""
        return sum(self.op_counts().values())

    @cached_property
    def _analysis(self) -> tuple[dict[str, Shape], int]:
        return _analyse(self)

    @cached_property
    def shapes(self) -> dict[str, Shape]:
        """Per-sample output shape of every top-level node."""
        return self._analysis[0]

    @cached_property
    def num_params(self) -> int:
        """Trainable parameter count, computed from the IR alone."""
        return self._analysis[1]

    def fingerprint(self) -> str:
        """A short, stable hash of the canonical JSON (identical for equal architectures)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def op_counts(self) -> dict[str, int]:
        """How often each op occurs once blocks are expanded (for reports and tests)."""
        return dict(sorted(self._inlined_counts(self.nodes, self._block_op_counts).items()))

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        from .serialization import get_converter

        data = get_converter().unstructure(self)
        # Without sizes the JSON (and fingerprint) is what it was before sizes existed.
        sizes = data.pop("sizes")
        if sizes:
            data["sizes"] = dict(self.sizes)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent) + ("\n" if indent else "")

    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        from .serialization import structure_architecture

        return structure_architecture(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Architecture:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            msg = f"architecture JSON does not parse: {exc}"
            raise ArchitectureError(msg) from None
        return cls.from_dict(data)


# -- shape inference and parameter counting ----------------------------------------------


def _resolve(node: Node, params: Mapping[str, int]) -> dict[str, AttrValue]:
    return {k: params[v] if isinstance(v, str) else v for k, v in node.attrs}


def _walk_graph(
    arch: Architecture,
    nodes: tuple[Node, ...],
    inputs: Mapping[str, Shape],
    params: Mapping[str, int],
    where: str,
    memo: dict[Any, tuple[Shape, int]],
) -> tuple[dict[str, Shape], int]:
    """Shapes of ``nodes`` given their graph's input shapes, and the parameters they hold.

    ``memo`` remembers each block call's output shape and parameter count by (block, input
    shapes, parameters): cell networks call the same block with the same shapes many times,
    and a block that calls another twice, nested, would otherwise cost time exponential in
    the nesting.
    """
    shapes = dict(inputs)
    total = 0
    for index, node in enumerate(nodes):
        in_shapes = [shapes[ref] for ref in node.inputs]
        values = _resolve(node, params)
        if node.op == BLOCK_OP:
            key = (node.block, tuple(in_shapes), tuple(sorted(values.items())))
            if key not in memo:
                block = arch.block_map[node.block]
                inner, count = _walk_graph(
                    arch,
                    block.nodes,
                    dict(zip(block.inputs, in_shapes, strict=True)),
                    values,
                    f"{where}nodes[{index}] {node.name!r} -> block {block.name!r} ",
                    memo,
                )
                memo[key] = (inner[block.output], count)
            shapes[node.name], count = memo[key]
            total += count
            continue
        spec = OPS[node.op]
        for attr in spec.attrs:
            value = values[attr.name]
            if attr.type is int and attr.max is not None and not attr.min <= value <= attr.max:
                msg = (
                    f"{where}nodes[{index}] {node.name!r}: {node.op} attribute {attr.name!r}={value} "
                    f"is outside [{attr.min}, {attr.max}]"
                )
                raise ArchitectureError(msg)
        try:
            shapes[node.name] = spec.infer(in_shapes, values)
        except ArchitectureError as exc:
            raise ArchitectureError(f"{where}nodes[{index}] {node.name!r}: {exc}") from None
        total += spec.count_params(in_shapes, values)
    return shapes, total


def _analyse(arch: Architecture) -> tuple[dict[str, Shape], int]:
    shapes, params = _walk_graph(arch, arch.nodes, {Architecture.INPUT: arch.input_shape}, {}, "", {})
    del shapes[Architecture.INPUT]
    return shapes, params


def infer_shapes(arch: Architecture) -> dict[str, Shape]:
    """Per-sample shapes of the top-level nodes; raises ArchitectureError naming the node."""
    return _analyse(arch)[0]
