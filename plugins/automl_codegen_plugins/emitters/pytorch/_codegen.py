"""Lower an architecture to the statements of the PyTorch classes the template lays out.

The classes follow the plan of :mod:`.._structure`: one ``nn.Module`` per block kind
(twins merged, constant parameters written in), the network last. Parameterised nodes
turn into submodules named after the node, and repeated calls into one
``nn.ModuleList`` (or ``nn.Sequential``) named after them: the state-dict keys of
:mod:`automl_codegen_plugins.torch_model`, which holds them the same way (``cells.7``).
The rest become functional calls in ``forward``. A block that is a plain chain of
modules is an ``nn.Sequential`` whose submodules run in the order they are assigned, as
torchvision writes them. Statements come back as finished, indented lines of at most
:data:`LINE_LENGTH` characters, so the output passes ``ruff check`` whatever the names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from automl_codegen import Architecture, ArchitectureError, Node

from .._common import INDENT, LINE_LENGTH, Call, Expr, Statements, Sum, flat, format_lines, graph_body
from .._structure import ClassPlan, Group, Lin, Op, Plan, plan

_MODULE_OPS = frozenset(
    {"conv2d", "conv1d", "depthwise_conv2d", "batchnorm2d", "batchnorm1d", "layer_norm", "linear", "dropout", "block"}
)
_ACTIVATIONS = {
    "relu": "F.relu",
    "relu6": "F.relu6",
    "sigmoid": "torch.sigmoid",
    "hardswish": "F.hardswish",
    "silu": "F.silu",
    "gelu": "F.gelu",  # exact (erf) by default, as the IR defines it
    "tanh": "torch.tanh",
}
#: The module of each activation, for blocks written as nn.Sequential.
_ACTIVATION_MODULES = {
    "relu": "nn.ReLU",
    "relu6": "nn.ReLU6",
    "sigmoid": "nn.Sigmoid",
    "hardswish": "nn.Hardswish",
    "silu": "nn.SiLU",
    "gelu": "nn.GELU",
    "tanh": "nn.Tanh",
}
_POOLS = {
    "max_pool2d": "nn.MaxPool2d",
    "avg_pool2d": "nn.AvgPool2d",
    "max_pool1d": "nn.MaxPool1d",
    "avg_pool1d": "nn.AvgPool1d",
}
_SEQUENTIAL_OPS = _MODULE_OPS | set(_ACTIVATIONS) | set(_POOLS) | {"flatten", "identity"}


# -- lowering ----------------------------------------------------------------------------


@attrs.frozen
class ClassCode:
    """One generated class, as lines ready for the template."""

    name: str
    base: str  # nn.Module or nn.Sequential
    docstring: str | None
    init_def: list[str]  # empty when the class needs no ``__init__``
    init_body: list[str]
    forward_def: list[str]  # empty for an nn.Sequential
    forward_body: list[str]


@attrs.frozen
class ModuleCode:
    """Everything the template needs besides the docstring."""

    classes: list[ClassCode]
    uses_functional: bool
    build_model_def: list[str]
    model_lines: list[str]  # build_model's ``model = Network(...)``


def lower(arch: Architecture, *, num_classes_argument: bool = True) -> ModuleCode:
    """The classes of ``arch``: one per block kind in dependency order, then the network."""
    # Names that would clash in generated code (a class "F", a node "compile") are
    # refused by the IR itself, so every valid architecture renders.
    the_plan = plan(arch, num_classes_argument=num_classes_argument)
    ranks = _ranks(arch)
    classes = [_block_class(the_plan, cls, ranks) for cls in the_plan.classes]
    classes.append(_network_class(arch, the_plan, ranks))
    body = "\n".join(line for c in classes for line in c.forward_body)
    arguments = [f"{name}: int = {value}" for name, value in the_plan.sizes]
    build_def = Call("def build_model", ("weights: str | None = None", *arguments))
    build_lines = format_lines(build_def, "", suffix=f" -> {arch.name}:")
    call = Call(arch.name, tuple(f"{name}={name}" for name, _ in the_plan.sizes))
    model_lines = format_lines(call, INDENT, "model = ")
    return ModuleCode(classes, "F." in body, build_lines, model_lines)


def _ranks(arch: Architecture) -> dict[tuple[str, str], set[int]]:
    """Per (graph, node), the per-sample ranks of the node's input over all calls of the graph."""
    seen: dict[tuple[str, str], set[int]] = {}
    done: dict[tuple[str, tuple[int, ...]], int] = {}  # (block, input ranks) -> output rank

    def walk(graph: str, nodes: Sequence[Node], ranks: dict[str, int], output: str) -> int:
        for node in nodes:
            given = tuple(ranks[ref] for ref in node.inputs)
            seen.setdefault((graph, node.name), set()).add(given[0])
            if node.op == "block":
                block = arch.block_map[node.block]
                key = (block.name, given)
                if key not in done:
                    done[key] = walk(block.name, block.nodes, dict(zip(block.inputs, given, strict=True)), block.output)
                ranks[node.name] = done[key]
            else:
                ranks[node.name] = 1 if node.op in ("flatten", "global_avg_pool", "linear") else given[0]
        return ranks[output]

    walk(arch.name, arch.nodes, {Architecture.INPUT: len(arch.input_shape)}, arch.output)
    return seen


def _rank_of(
    graph: str, sources: Sequence[str], ops: Sequence[Op], ranks: Mapping[tuple[str, str], set[int]]
) -> dict[str, int]:
    """The one input rank of each node whose code depends on it."""
    found = {}
    for op in ops:
        if op.op == "global_avg_pool" or (op.op == "zero" and op.attr("stride") != 1):
            given = set().union(*(ranks.get((source, op.name), set()) for source in sources))
            if len(given) != 1:
                msg = (
                    f"block {graph!r} node {op.name!r}: {op.op} gets inputs of ranks {sorted(given)} in "
                    f"different calls; the PyTorch emitter needs one rank per block node"
                )
                raise ArchitectureError(msg)
            found[op.name] = next(iter(given))
    return found


def _is_sequential(cls: ClassPlan) -> bool:
    """Whether ``cls`` is a plain chain of modules from its one input to its output."""
    if len(cls.inputs) != 1 or cls.flags or cls.output != cls.nodes[-1].name:
        return False
    previous = cls.inputs[0]
    for op in cls.nodes:
        if op.inputs != (previous,) or op.op not in _SEQUENTIAL_OPS:
            return False
        previous = op.name
    return True


def _block_class(the_plan: Plan, cls: ClassPlan, ranks: Mapping[tuple[str, str], set[int]]) -> ClassCode:
    init = INDENT * 2
    signature = Call(
        "def __init__", ("self", *(f"{p}: int" for p in cls.params), *(f"{f}: bool = False" for f in cls.flags))
    )
    init_def = format_lines(signature, INDENT, suffix=" -> None:")
    if _is_sequential(cls):
        body = []
        for op in cls.nodes:
            body += format_lines(_sequential_expr(the_plan, op), init, f"self.{op.name} = ")
        return ClassCode(cls.name, "nn.Sequential", None, init_def, body, [], [])
    # A zero's stride or a crop's margins given by a parameter are read from ``self``
    # in forward, so __init__ stores them; so is a flag that appends nodes.
    forward_attrs = {"zero": ("stride",), "crop2d": ("top", "bottom", "left", "right")}
    used = (op.attr(k) for op in cls.all_ops() for k in forward_attrs.get(op.op, ()))
    stored = sorted({value.name for value in used if isinstance(value, Lin)})
    if cls.tail is not None:
        stored.append(cls.tail.flag)
    init_body = [f"{init}self.{p} = {p}" for p in stored]
    for op in cls.nodes:
        if not _is_module(op):
            continue
        if op.name in cls.alternatives:
            flag, other = cls.alternatives[op.name]
            chosen, plain = _module_expr(the_plan, other), _module_expr(the_plan, op)
            switch = Call(f"({chosen.func} if {flag} else {plain.func})", plain.args)
            if chosen.args == plain.args and len(flat(switch)) + len(init) + len(op.name) + 8 <= LINE_LENGTH:
                # Two classes built from the same arguments: pick the class.
                init_body.append(f"{init}self.{op.name} = {flat(switch)}")
                continue
            init_body.append(f"{init}if {flag}:")
            init_body += format_lines(chosen, init + INDENT, f"self.{op.name} = ")
            init_body.append(f"{init}else:")
            init_body += format_lines(plain, init + INDENT, f"self.{op.name} = ")
        else:
            init_body += format_lines(_module_expr(the_plan, op), init, f"self.{op.name} = ")
    if not init_body and not cls.params and not cls.flags:
        init_def = []
    forward_args = ("self", *(f"{var}: torch.Tensor" for var in cls.inputs))
    forward_def = format_lines(Call("def forward", forward_args), INDENT, suffix=" -> torch.Tensor:")
    rank_of = _rank_of(cls.name, cls.sources, list(cls.all_ops()), ranks)
    inputs = {name: name for name in cls.inputs}
    if cls.tail is None:
        forward_body = _forward_body(cls.nodes, inputs, rank_of)
    else:
        tail = cls.tail
        var = next(v for v in ("out", "x", "y") if v not in cls.inputs)
        inner = {op.name for op in tail.nodes}
        keep = [ref for op in tail.nodes for ref in op.inputs if ref not in inner and ref != cls.output]
        forward_body = _forward_body(cls.nodes, inputs, rank_of, final=f"{var} = ", keep=keep)
        forward_body.append(f"{INDENT * 2}if self.{tail.flag}:")
        tail_inputs = {**inputs, **{op.name: op.name for op in cls.nodes}, cls.output: var}
        forward_body += _forward_body(tail.nodes, tail_inputs, rank_of, final=f"{var} = ", indent=INDENT * 3)
        forward_body.append(f"{INDENT * 2}return {var}")
    return ClassCode(cls.name, "nn.Module", None, init_def, init_body, forward_def, forward_body)


def _network_class(arch: Architecture, the_plan: Plan, ranks: Mapping[tuple[str, str], set[int]]) -> ClassCode:
    init = INDENT * 2
    groups = {group.members[0]: group for group in the_plan.groups}
    members = {member for group in the_plan.groups for member in group.members}
    ops = {op.name: op for op in the_plan.nodes}
    init_body = []
    for op in the_plan.nodes:
        if op.name in groups:
            group = groups[op.name]
            init_body += format_lines(_container(the_plan, group, ops), init, f"self.{group.name} = ")
        elif op.name not in members and _is_module(op):
            init_body += format_lines(_module_expr(the_plan, op), init, f"self.{op.name} = ")
    arguments = [f"{name}: int = {value}" for name, value in the_plan.sizes]
    init_def = format_lines(Call("def __init__", ("self", *arguments)), INDENT, suffix=" -> None:")
    forward_def = format_lines(Call("def forward", ("self", "x: torch.Tensor")), INDENT, suffix=" -> torch.Tensor:")
    rank_of = _rank_of(arch.name, (arch.name,), the_plan.nodes, ranks)
    nodes: list[Any] = []
    for op in the_plan.nodes:
        if op.name in groups:
            nodes.append(_Loop(groups[op.name], the_plan, ops))
        elif op.name not in members:
            nodes.append(op)
    forward_body = _forward_body(nodes, {Architecture.INPUT: "x"}, rank_of)
    shape = ", ".join(map(str, arch.input_shape))
    docstring = f"Maps (N, {shape}) inputs to (N, {arch.num_classes}) logits; {arch.num_params:,} parameters."
    return ClassCode(arch.name, "nn.Module", docstring, init_def, init_body, forward_def, forward_body)


@attrs.frozen
class _Loop:
    """The calls of a group, as one node of the network's graph."""

    group: Group
    plan: Plan
    ops: Mapping[str, Op]

    @property
    def name(self) -> str:
        return self.group.members[-1]

    @property
    def op(self) -> str:
        return "loop" if self.group.arity > 1 else "group"

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.group.initial


def _container(the_plan: Plan, group: Group, ops: Mapping[str, Op]) -> Call:
    """``nn.Sequential(...)`` or ``nn.ModuleList([...])`` of a group's calls, repeats in loops."""
    calls = [flat(_module_expr(the_plan, ops[member])) for member in group.members]
    runs: list[tuple[str, int]] = []
    for call in calls:
        if runs and runs[-1][0] == call:
            runs[-1] = (call, runs[-1][1] + 1)
        else:
            runs.append((call, 1))
    if group.arity == 1:
        items = tuple(call if n == 1 else f"*({call} for _ in range({n}))" for call, n in runs)
        return Call("nn.Sequential", items)
    if len(runs) == 1:
        call, n = runs[0]
        return Call("nn.ModuleList", (f"[{call} for _ in range({n})]",))
    items = tuple(call if n == 1 else f"*({call} for _ in range({n}))" for call, n in runs)
    return Call("nn.ModuleList", (Call("", items, "[]"),))


def _loop_lines(loop: _Loop, args: Sequence[str], taken: set[str]) -> Statements:
    """``s0 = s1 = ...`` and the loop over a group's ModuleList."""
    group, arity = loop.group, loop.group.arity
    inputs = {loop.plan.class_map[loop.ops[m].block].inputs for m in group.members}
    names = next(iter(inputs)) if len(inputs) == 1 else ()
    if len(names) != arity or set(names) & (taken | {"x", "out", "self"}):
        names = tuple(f"s{i}" for i in range(arity))
    single = group.name[:-1] if group.name.endswith("s") else "block"
    if single in taken or single in names or not single.isidentifier():
        single = "block"
    # One start value for every state (the stem's output, twice): s0 = s1 = stem.
    same = len(set(args)) == 1
    init = f"{' = '.join(names)} = {args[0]}" if same else f"{', '.join(names)} = {', '.join(args)}"
    shifted = ", ".join((*names[1:], f"{single}({', '.join(names)})"))
    lines = (init, f"for {single} in self.{group.name}:", f"{INDENT}{', '.join(names)} = {shifted}")
    outputs = dict(zip(reversed(group.members), reversed(names), strict=False))
    return Statements(lines, outputs)


def _is_module(op: Any) -> bool:
    # A pool whose window depends on a block parameter becomes nn.MaxPool2d/AvgPool2d
    # (or the 1-D ones) so that forward needs no stored parameters.
    pooled = op.op in _POOLS
    return op.op in _MODULE_OPS or (pooled and any(isinstance(v, Lin) for _, v in op.attrs))


def _literal(value: object) -> str:
    return str(value) if isinstance(value, Lin) else repr(value)


def _keywords(node: Op, defaults: Mapping[str, object]) -> tuple[str, ...]:
    """``name=value`` for attributes that differ from torch's defaults (or are parameters)."""
    a = node.attr_dict
    return tuple(
        f"{key}={_literal(a[key])}" for key, default in defaults.items() if isinstance(a[key], Lin) or a[key] != default
    )


def _module_expr(the_plan: Plan, node: Op) -> Call:
    a = {key: _literal(value) for key, value in node.attrs}
    if node.op == "conv2d":
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
        positional = (a["in_channels"], a["out_channels"], a["kernel_size"])
        return Call("nn.Conv2d", positional + _keywords(node, defaults))
    if node.op == "depthwise_conv2d":
        c = a["channels"]
        options = _keywords(node, {"stride": 1, "padding": 0, "dilation": 1})
        bias = _keywords(node, {"bias": True})
        return Call("nn.Conv2d", (c, c, a["kernel_size"], *options, f"groups={c}", *bias))
    if node.op == "conv1d":
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
        positional = (a["in_channels"], a["out_channels"], a["kernel_size"])
        return Call("nn.Conv1d", positional + _keywords(node, defaults))
    if node.op in ("batchnorm2d", "batchnorm1d"):
        defaults = {"eps": 1e-5, "momentum": 0.1, "affine": True}
        cls = "nn.BatchNorm2d" if node.op == "batchnorm2d" else "nn.BatchNorm1d"
        return Call(cls, (a["num_features"], *_keywords(node, defaults)))
    if node.op == "layer_norm":
        affine = () if node.attr("affine") else ("elementwise_affine=False",)
        return Call("nn.LayerNorm", (a["num_features"], *_keywords(node, {"eps": 1e-5}), *affine))
    if node.op == "linear":
        positional = (a["in_features"], a["out_features"])
        return Call("nn.Linear", positional + _keywords(node, {"bias": True}))
    if node.op == "dropout":
        return Call("nn.Dropout", _keywords(node, {"p": 0.5}))
    if node.op == "block":
        cls = the_plan.class_map[node.block]
        given = node.attr_dict
        args = [f"{p}={_literal(given[p])}" for p in cls.params]
        args += [f"{f}=True" for f in cls.flags if given.get(f)]
        return Call(cls.name, tuple(args))
    return Call(_POOLS[node.op], (a["kernel_size"], *_pool_keywords(node)))


def _sequential_expr(the_plan: Plan, node: Op) -> Call:
    """The module of a node of an nn.Sequential block (activations and flatten included)."""
    if node.op in _ACTIVATION_MODULES:
        return Call(_ACTIVATION_MODULES[node.op], ())
    if node.op == "flatten":
        return Call("nn.Flatten", ())
    if node.op == "identity":
        return Call("nn.Identity", ())
    return _module_expr(the_plan, node)


def _pool_keywords(node: Op) -> tuple[str, ...]:
    a = node.attr_dict
    # torch's stride defaults to the kernel size, not to 1.
    stride = () if a["stride"] == a["kernel_size"] else (f"stride={_literal(a['stride'])}",)
    rest = _keywords(node, {"padding": 0})
    if node.op in ("avg_pool2d", "avg_pool1d"):
        rest += _keywords(node, {"count_include_pad": True})
    return stride + rest


def _forward_expr(node: Op, args: Sequence[str], rank: int | None) -> Expr:
    if _is_module(node):
        return Call(f"self.{node.name}", tuple(args))
    op, x = node.op, args[0]
    if op in _ACTIVATIONS:
        return Call(_ACTIVATIONS[op], (x,))
    if op in _POOLS:
        return Call(f"F.{op}", (x, _literal(node.attr("kernel_size")), *_pool_keywords(node)))
    if op == "global_avg_pool":
        return Call(f"{x}.mean", ("dim=2" if rank == 2 else "dim=(2, 3)",))
    if op == "flatten":
        return Call("torch.flatten", (x, "1"))
    if op == "zero":
        stride = node.attr("stride")
        if stride == 1:
            return Call("torch.zeros_like", (x,))
        step = f"self.{stride}" if isinstance(stride, Lin) else str(stride)
        # Subsample L of (N, C, L), or H and W of (N, C, H, W).
        steps = ", ".join([f"::{step}"] * (rank - 1))
        return Call("torch.zeros_like", (f"{x}[:, :, {steps}]",))
    if op == "crop2d":
        return f"{x}[:, :, {_crop_slice(node, 'top', 'bottom', 2, x)}, {_crop_slice(node, 'left', 'right', 3, x)}]"
    if op == "add":
        return Sum(tuple(args))
    if op == "concat":
        return Call("torch.cat", (Call("", tuple(args), "[]"), "dim=1"))
    if op == "identity":
        return x
    msg = f"node {node.name!r}: the PyTorch emitter does not know op {op!r}"
    raise ArchitectureError(msg)


def _crop_slice(node: Op, start: str, end: str, dim: int, x: str) -> str:
    """``1:`` or ``1 : x.shape[2] - 1``: a slice as a person would write it."""
    first, last = node.attr(start), node.attr(end)

    def bound(value: int | Lin) -> str:
        return f"self.{value}" if isinstance(value, Lin) else str(value)

    begin = "" if first == 0 else bound(first)
    if last == 0:
        return f"{begin}:"
    return f"{begin} : {x}.shape[{dim}] - {bound(last)}"


def _inline(value: Any, reader: Any) -> bool:
    """A call may be a term of a sum, a part of a concatenation or a loop's start; a slice goes anywhere."""
    if value.op in ("add", "concat", "loop"):
        return False
    return value.op == "crop2d" or reader.op in ("add", "concat", "loop")


def _forward_body(
    nodes: Sequence[Any],
    input_vars: Mapping[str, str],
    rank_of: Mapping[str, int],
    final: str = "return ",
    keep: Sequence[str] = (),
    indent: str = INDENT * 2,
) -> list[str]:
    """``forward``'s statements (see :func:`.._common.graph_body`)."""
    taken = {node.name for node in nodes} | set(input_vars.values())

    def lower(node: Any, args: Sequence[str], tmp: str) -> Any:
        if isinstance(node, _Loop):
            if node.group.arity == 1:
                return [Call(f"self.{node.group.name}", tuple(args))]
            return _loop_lines(node, args, taken)
        return [_forward_expr(node, args, rank_of.get(node.name))]

    return graph_body(nodes, input_vars, lower, indent, final, inline=_inline, keep=keep)
