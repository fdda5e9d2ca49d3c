"""Lower an architecture to the statements of a Keras functional model.

Each block kind becomes one function that adds its layers to the graph, following the
plan of :mod:`.._structure` that the PyTorch emitter follows too (twins merged, constant
parameters written in, repeated calls in loops); the network's own graph is built in
``build_model``. Every other node becomes one named Keras layer (an identity becomes
none), and a layer's name is the node's module path in the PyTorch model
(``cells.1.inner.conv``), so converted weights find their layers by name. A few
nodes need a helper layer first (zero padding, a subsampling step, the channels-first
permutation before a flatten); those helpers are named after the node plus a suffix
(``stem.pad``), which no node path can take because node names have no dots.

PyTorch semantics that Keras does not share are made explicit here:

* Padding: PyTorch pads symmetrically; Keras' ``"same"`` pads asymmetrically on
  stride 2. ``"same"`` is used only where it is provably symmetric (stride 1 and
  ``2 * padding == dilation * (kernel_size - 1)``); anything else pads explicitly.
* Max pooling pads with -inf and ``count_include_pad=False`` average pooling divides by
  the real pixels: both get a helper layer in the generated module.
* Flatten runs in PyTorch's (C, H, W) or (C, L) order, so a dense layer's weights
  transfer as they are.
* Keras' Conv2D and Conv1D refuse a stride together with a dilation: such a convolution
  runs at stride 1 and is subsampled afterwards, which computes the same values.
* BatchNormalization momentum is ``1 - momentum`` of PyTorch's; LayerNormalization's
  default epsilon (1e-3) is not PyTorch's, so it is always written.
* Keras is channels-last: the model takes (H, W, C) images, (L, C) sequences and (F,)
  vectors, so channels are the last axis everywhere (normalisation, concatenation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from automl_codegen import Architecture, ArchitectureError, Node

from .._common import INDENT, LINE_LENGTH, Branches, Call, Expr, Statements, flat, format_lines, graph_body
from .._structure import ClassPlan, Group, Lin, Op, Plan, plan, snake_case

__all__ = ["ModuleCode", "conv_is_depthwise", "lower"]

_ACTIVATIONS = {
    "relu": ("layers.ReLU", ()),
    "relu6": ("layers.ReLU", ("6.0",)),
    "sigmoid": ("layers.Activation", ('"sigmoid"',)),
    "hardswish": ("layers.Activation", ('"hard_swish"',)),
    "silu": ("layers.Activation", ('"silu"',)),
    "gelu": ("layers.Activation", ('"gelu"',)),  # Keras' gelu is exact unless approximate=True
    "tanh": ("layers.Activation", ('"tanh"',)),
}
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Mixed-case words of network names that splitting at capitals would tear apart.
_WORDS = re.compile(r"PReLU|ReLU|SiLU|ResNet|MobileNet|EfficientNet")


@attrs.frozen
class Apply:
    """``layer(arg)``: a Keras layer applied to a variable or a list display of them."""

    layer: Call
    arg: Expr


@attrs.frozen
class IfParam:
    """``apply if param else arg``: a layer that a block parameter of 0 makes a no-op (padding)."""

    apply: Apply
    param: str


def flat_apply(expr: Expr | Apply) -> str:
    """An expression on one line, layer calls included."""
    if isinstance(expr, Apply):
        return f"{flat(expr.layer)}({flat(expr.arg)})"
    return flat(expr)


def layout(expr: Expr | Apply | IfParam, indent: str, prefix: str = "") -> list[str]:
    """Lay out ``prefix + expr``, breaking a layer call inside its arguments first."""
    if isinstance(expr, IfParam):
        tail = f" if {expr.param} else {flat(expr.apply.arg)}"
        line = f"{indent}{prefix}{flat(expr.apply.layer)}({flat(expr.apply.arg)}){tail}"
        if len(line) <= LINE_LENGTH:
            return [line]
        inner = indent + INDENT
        return [f"{indent}{prefix}(", *layout(expr.apply, inner), f"{inner}{tail.strip()}", f"{indent})"]
    if not isinstance(expr, Apply):
        return format_lines(expr, indent, prefix)
    line = f"{indent}{prefix}{flat(expr.layer)}({flat(expr.arg)})"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + INDENT
    head = f"{indent}{prefix}{flat(expr.layer)}("
    if len(head) <= LINE_LENGTH:
        return [head, *format_lines(expr.arg, inner), f"{indent})"]
    lines = format_lines(expr.layer, indent, prefix, suffix=f"({flat(expr.arg)})")
    if all(len(line) <= LINE_LENGTH for line in lines):
        return lines
    return [*format_lines(expr.layer, indent, prefix, suffix="("), *format_lines(expr.arg, inner), f"{indent})"]


# -- the generated module --------------------------------------------------------------


@attrs.frozen
class FunctionCode:
    """One block function: its ``def`` lines and body, ready for the template."""

    def_lines: list[str]
    body: list[str]


@attrs.frozen
class ModuleCode:
    """Everything the template needs besides the docstring."""

    helpers: frozenset[str]  # the helper layer classes the network uses
    functions: list[FunctionCode]
    build_def: list[str]
    build_body: list[str]
    model_lines: list[str]
    input_shape: tuple[int, ...]  # (H, W, C), (L, C) or (F,): what keras.Input takes


def lower(arch: Architecture, *, num_classes_argument: bool = True) -> ModuleCode:
    """The block functions of ``arch`` in dependency order, and ``build_model``'s body."""
    the_plan = plan(arch, num_classes_argument=num_classes_argument)
    names = _function_names(the_plan)
    ranks = _ranks(arch)
    helpers: set[str] = set()
    functions = []
    # The parameters each block function takes: those its Keras layers read. Keras infers
    # input channels, so a PyTorch block's ``c_in`` is often not one of them.
    used: dict[str, tuple[str, ...]] = {}
    for cls in the_plan.classes:  # callees first, so their used parameters are known
        scope = _Scope(the_plan, cls.name, cls.sources, names, ranks, helpers, used, in_block=True)
        body = _function_body(cls, scope)
        text = "\n".join(body)
        used[cls.name] = tuple(p for p in cls.params if re.search(rf"\b{p}\b", text))
        tensor = "keras.KerasTensor"
        args = (
            *(f"{n}: {tensor}" for n in cls.inputs),
            *(f"{p}: int" for p in used[cls.name]),
            "name: str",
            *(f"{f}: bool = False" for f in cls.flags),
        )
        def_lines = format_lines(Call(f"def {names[cls.name]}", args), "", suffix=f" -> {tensor}:")
        functions.append(FunctionCode(def_lines, body))
    scope = _Scope(the_plan, arch.name, (arch.name,), names, ranks, helpers, used, in_block=False)
    groups = {group.members[0]: group for group in the_plan.groups}
    members = {member for group in the_plan.groups for member in group.members}
    nodes: list[Any] = []
    for op in the_plan.nodes:
        if op.name in groups:
            nodes.append(_Loop(groups[op.name]))
        elif op.name not in members:
            nodes.append(op)
    scope.taken = {op.name for op in the_plan.nodes} | {name for name, _ in the_plan.sizes}
    inputs = {Architecture.INPUT: "inputs"}
    build_body = graph_body(
        nodes,
        inputs,
        scope.lower,
        INDENT,
        final="outputs = ",
        layout=layout,
        inline=_inline,
        keep=[Architecture.INPUT],
        one_line=flat_apply,
    )
    arguments = [f"{name}: int = {value}" for name, value in the_plan.sizes]
    build_def = format_lines(
        Call("def build_model", ("weights: str | None = None", *arguments)), "", suffix=" -> keras.Model:"
    )
    model_lines = format_lines(Call("keras.Model", ("inputs", "outputs", f'name="{arch.name}"')), INDENT, "model = ")
    c, *sizes = arch.input_shape
    channels_last = (*sizes, c)
    return ModuleCode(frozenset(helpers), functions, build_def, build_body, model_lines, channels_last)


def _function_body(cls: ClassPlan, scope: _Scope) -> list[str]:
    """A block function's statements: its graph, then the nodes a flag appends."""
    inputs = {n: n for n in cls.inputs}
    if cls.tail is None:
        return graph_body(cls.nodes, inputs, scope.lower, INDENT, layout=layout)
    tail = cls.tail
    var = next(v for v in ("out", "x", "y") if v not in cls.inputs)
    inner = {op.name for op in tail.nodes}
    keep = [ref for op in tail.nodes for ref in op.inputs if ref not in inner and ref != cls.output]
    body = graph_body(cls.nodes, inputs, scope.lower, INDENT, final=f"{var} = ", layout=layout, keep=keep)
    body.append(f"{INDENT}if {tail.flag}:")
    tail_inputs = {**inputs, **{op.name: op.name for op in cls.nodes}, cls.output: var}
    body += graph_body(tail.nodes, tail_inputs, scope.lower, INDENT * 2, final=f"{var} = ", layout=layout)
    body.append(f"{INDENT}return {var}")
    return body


@attrs.frozen
class _Loop:
    """The calls of a group, as one node of ``build_model``'s graph."""

    group: Group

    @property
    def name(self) -> str:
        return self.group.members[-1]

    @property
    def op(self) -> str:
        return "loop"

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.group.initial


def _inline(value: Any, reader: Any) -> bool:
    """A layer call may start a loop (``s0 = s1 = layers.BatchNormalization(...)(x)``)."""
    return reader.op == "loop" and value.op not in ("add", "concat", "loop", "block")


def _function_names(the_plan: Plan) -> dict[str, str]:
    """``_snake_case`` function names per class; the underscore keeps them apart from
    node names (local variables), and a number any two classes that would share one."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for cls in the_plan.classes:
        base = "_" + snake_case(cls.name)
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        names[cls.name] = name
    return names


def _ranks(arch: Architecture) -> dict[tuple[str, str], set[int]]:
    """Per (graph, node), the per-sample ranks of the node's first input over all calls."""
    seen: dict[tuple[str, str], set[int]] = {}
    done: dict[tuple[str, tuple[int, ...]], int] = {}  # (block, input ranks) -> output rank

    def walk(graph: str, nodes: Sequence[Node], ranks: dict[str, int], output: str) -> int:
        for node in nodes:
            given = tuple(ranks[ref] for ref in node.inputs)
            seen.setdefault((graph, node.name), set()).add(given[0])
            if node.op == "block":
                block = arch.block_map[node.block]
                key = (block.name, given)
                if key not in done:  # a block's ranks depend on its input ranks alone
                    inner = dict(zip(block.inputs, given, strict=True))
                    done[key] = walk(block.name, block.nodes, inner, block.output)
                ranks[node.name] = done[key]
            else:
                ranks[node.name] = 1 if node.op in ("flatten", "global_avg_pool", "linear") else given[0]
        return ranks[output]

    walk(arch.name, arch.nodes, {Architecture.INPUT: len(arch.input_shape)}, arch.output)
    return seen


def conv_is_depthwise(node: Node) -> bool:
    """Whether a ``conv2d`` (``conv1d``) node is written as a Keras DepthwiseConv2D (1D).

    A convolution with one group per input channel is a depthwise convolution (with a
    depth multiplier when it has more outputs than inputs); DepthwiseConv2D is what
    Keras, XNNPACK and TFLite run fastest. The weight conversion follows this choice.
    """
    a = node.attr_dict
    groups, c_in, c_out = a["groups"], a["in_channels"], a["out_channels"]
    if groups != c_in or groups == 1:
        return False
    # With block parameters the multiplier must be known: equal parameters give 1.
    return c_out == c_in or all(isinstance(v, int) for v in (c_in, c_out))


def _literal(value: object) -> str:
    return str(value) if isinstance(value, Lin) else repr(value)


def _is_one(value: object) -> bool:
    """Known to be 1 (a block parameter might be anything)."""
    return value == 1 and not isinstance(value, Lin)


@attrs.define
class _Scope:
    """Lowers the nodes of one graph: a block function or ``build_model``."""

    plan: Plan
    graph: str
    sources: tuple[str, ...]  # the IR graphs the nodes come from (for their ranks)
    functions: Mapping[str, str]
    ranks: Mapping[tuple[str, str], set[int]]
    helpers: set[str]
    used_params: Mapping[str, tuple[str, ...]]  # class name -> the parameters its function takes
    in_block: bool
    taken: set[str] = attrs.field(factory=set)  # names of build_model's variables and arguments

    def name_kw(self, node: Any, suffix: str = "") -> str:
        """The ``name=`` argument of a node's layer: its path in the PyTorch model."""
        if self.in_block:
            return f'name=f"{{name}}.{node.name}{suffix}"'
        return f'name="{node.name}{suffix}"'

    def layer(self, cls: str, node: Any, *args: str, suffix: str = "") -> Call:
        return Call(cls, (*args, self.name_kw(node, suffix)))

    def lower(self, node: Any, args: Sequence[str], tmp: str) -> Any:
        """The expressions of one node: usually one layer call, more with helpers."""
        if isinstance(node, _Loop):
            return self._loop(node.group, args, tmp)
        cls = self.plan.class_map.get(self.graph)
        if cls is not None and node.name in cls.alternatives:
            flag, other = cls.alternatives[node.name]
            chosen, plain = self._lower(other, args, tmp), self._lower(node, args, tmp)
            if len(chosen) == len(plain) == 1 and isinstance(chosen[0], Call) and isinstance(plain[0], Call):
                switch = Call(f"({chosen[0].func} if {flag} else {plain[0].func})", plain[0].args)
                if chosen[0].args == plain[0].args and len(INDENT + tmp + " = " + flat(switch)) <= LINE_LENGTH:
                    return [switch]  # two functions called with the same arguments: pick the function
            return Branches(flag, chosen, plain)
        return self._lower(node, args, tmp)

    def _lower(self, node: Op, args: Sequence[str], tmp: str) -> list[Expr | Apply]:
        op, a = node.op, node.attr_dict
        x = args[0]
        if op in ("conv2d", "conv1d", "depthwise_conv2d"):
            return self._conv(node, x, tmp)
        if op in ("batchnorm2d", "batchnorm1d"):
            # Channels (or a vector's features) are the last axis, Keras' default.
            options = [f"momentum={_float(1 - a['momentum'])}", f"epsilon={a['eps']!r}"]
            if not a["affine"]:
                options += ["center=False", "scale=False"]
            return [Apply(self.layer("layers.BatchNormalization", node, *options), x)]
        if op == "layer_norm":
            options = [f"epsilon={a['eps']!r}"]
            if not a["affine"]:
                options += ["center=False", "scale=False"]
            return [Apply(self.layer("layers.LayerNormalization", node, *options), x)]
        if op in _ACTIVATIONS:
            cls, options = _ACTIVATIONS[op]
            return [Apply(self.layer(cls, node, *options), x)]
        if op in ("max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d"):
            return self._pool(node, x, tmp)
        if op == "global_avg_pool":
            dims = "1D" if self.rank(node) == 2 else "2D"
            return [Apply(self.layer(f"layers.GlobalAveragePooling{dims}", node), x)]
        if op == "flatten":
            return self._flatten(node, x, tmp)
        if op == "linear":
            options = () if a["bias"] else ("use_bias=False",)
            return [Apply(self.layer("layers.Dense", node, _literal(a["out_features"]), *options), x)]
        if op == "dropout":
            return [Apply(self.layer("layers.Dropout", node, repr(a["p"])), x)]
        if op == "identity":
            return [x]
        if op == "zero":
            self.helpers.add("_Zeros")
            if _is_one(a["stride"]) or self.rank(node) != 2:
                stride = () if _is_one(a["stride"]) else (f"strides={_literal(a['stride'])}",)
                return [Apply(self.layer("_Zeros", node, *stride), x)]
            # A sequence is subsampled first (a 1-wide max pool keeps every s-th step).
            step = self.layer("layers.MaxPooling1D", node, "1", f"strides={_literal(a['stride'])}", suffix=".subsample")
            return [Apply(step, x), Apply(self.layer("_Zeros", node), tmp)]
        if op == "crop2d":
            box = "(({}, {}), ({}, {}))".format(*(_literal(a[side]) for side in ("top", "bottom", "left", "right")))
            return [Apply(self.layer("layers.Cropping2D", node, box), x)]
        if op == "add":
            return [Apply(self.layer("layers.Add", node), Call("", tuple(args), "[]"))]
        if op == "concat":
            # Channels are last in NHWC maps and the only axis of vectors: axis -1 either way.
            return [Apply(self.layer("layers.Concatenate", node), Call("", tuple(args), "[]"))]
        if op == "block":
            return [self.call(node, args, self.name_kw(node))]
        msg = f"node {node.name!r}: the TensorFlow emitter does not know op {op!r}"
        raise ArchitectureError(msg)

    def call(self, node: Op, args: Sequence[str], name: str) -> Call:
        """The call of a block function."""
        cls = self.plan.class_map[node.block]
        a = node.attr_dict
        params = tuple(f"{p}={_literal(a[p])}" for p in self.used_params[cls.name])
        flags = tuple(f"{flag}=True" for flag in cls.flags if a.get(flag))
        return Call(self.functions[cls.name], (*args, *params, name, *flags))

    def _loop(self, group: Group, args: Sequence[str], tmp: str) -> Statements:
        """The calls of a group: a ``for`` loop over each run of equal calls."""
        ops = {op.name: op for op in self.plan.nodes}
        arity = group.arity
        inputs = {self.plan.class_map[ops[m].block].inputs for m in group.members}
        names: tuple[str, ...] = next(iter(inputs)) if len(inputs) == 1 else ()
        if arity == 1:
            names = (tmp,)
        elif len(names) != arity or set(names) & (self.taken | {"x", "out", "inputs", "outputs", "model"}):
            names = tuple(f"s{i}" for i in range(arity))
        index = next(v for v in ("i", "index", "position") if v not in self.taken)
        lines: list[str] = []
        if arity > 1 or args[0] != names[0]:
            # One start value for every state (the stem's output, twice): s0 = s1 = stem.
            same = len(set(args)) == 1
            lines.append(f"{' = '.join(names)} = {args[0]}" if same else f"{', '.join(names)} = {', '.join(args)}")
        target = f"{names[0]} = " if arity == 1 else f"{', '.join(names)} = {', '.join(names[1:])}, "

        def member(position: int, name: str) -> Call:
            return self.call(ops[group.members[position]], names, name)

        def relative(lines: list[str]) -> list[str]:  # graph_body indents them for build_model
            return [line.removeprefix(INDENT) for line in lines]

        texts = [flat(member(position, "")) for position in range(len(group.members))]
        position = 0
        while position < len(texts):
            end = position + 1
            while end < len(texts) and texts[end] == texts[position]:
                end += 1
            if end - position == 1:
                lines += relative(format_lines(member(position, f'name="{group.name}.{position}"'), INDENT, target))
            else:
                lines.append(f"for {index} in range({f'{position}, ' if position else ''}{end}):")
                call = member(position, f'name=f"{group.name}.{{{index}}}"')
                lines += relative(format_lines(call, INDENT * 2, target))
            position = end
        outputs = dict(zip(reversed(group.members), reversed(names), strict=False))
        return Statements(tuple(lines), outputs)

    def _conv(self, node: Op, x: str, tmp: str) -> list[Expr | Apply]:
        a = node.attr_dict
        k, s, p, d = a["kernel_size"], a["stride"], a["padding"], a["dilation"]
        dims = "1D" if node.op == "conv1d" else "2D"
        if node.op == "depthwise_conv2d":
            cls, head = "layers.DepthwiseConv2D", [_literal(k)]
        elif conv_is_depthwise(node):
            cls, head = f"layers.DepthwiseConv{dims}", [_literal(k)]
            c_in, c_out = a["in_channels"], a["out_channels"]
            if c_out != c_in:
                head.append(f"depth_multiplier={c_out // c_in}")
        else:
            cls, head = f"layers.Conv{dims}", [_literal(a["out_channels"]), _literal(k)]
            if not _is_one(a["groups"]):
                head.append(f"groups={_literal(a['groups'])}")
        # Keras' Conv2D and Conv1D (not its depthwise ones) refuse a stride with a dilation.
        subsample = cls == f"layers.Conv{dims}" and not _is_one(s) and not _is_one(d)
        options = []
        if not _is_one(s) and not subsample:
            options.append(f"strides={_literal(s)}")
        symmetric_same = all(isinstance(v, int) for v in (k, s, p, d)) and s == 1 and 2 * p == d * (k - 1)
        pad = p != 0 and not symmetric_same
        if p != 0 and symmetric_same:
            options.append('padding="same"')
        if not _is_one(d):
            options.append(f"dilation_rate={_literal(d)}")
        if not a["bias"]:
            options.append("use_bias=False")
        stages: list[Expr | Apply | IfParam] = []
        if pad:
            padding = Apply(self.layer(f"layers.ZeroPadding{dims}", node, _literal(p), suffix=".pad"), x)
            # A block parameter may be 0 in some calls: those get no padding layer at all.
            stages.append(IfParam(padding, str(p)) if isinstance(p, Lin) else padding)
        stages.append(Apply(self.layer(cls, node, *head, *options), tmp if stages else x))
        if subsample:
            # A 1x1 max pool with stride s keeps every s-th pixel: the strided result.
            step = self.layer(f"layers.MaxPooling{dims}", node, "1", f"strides={_literal(s)}", suffix=".subsample")
            stages.append(Apply(step, tmp))
        return stages

    def _pool(self, node: Op, x: str, tmp: str) -> list[Expr | Apply]:
        a = node.attr_dict
        k, s, p = a["kernel_size"], a["stride"], a["padding"]
        dims = node.op[-2:].upper()  # "1D" or "2D"
        is_max = node.op.startswith("max")
        # Keras' pools default to strides=pool_size, like PyTorch's.
        strides = () if s == k else (f"strides={_literal(s)}",)
        if p == 0:
            cls = f"layers.MaxPooling{dims}" if is_max else f"layers.AveragePooling{dims}"
            return [Apply(self.layer(cls, node, _literal(k), *strides), x)]
        if not is_max and a["count_include_pad"]:
            padding = self.layer(f"layers.ZeroPadding{dims}", node, _literal(p), suffix=".pad")
            pool = self.layer(f"layers.AveragePooling{dims}", node, _literal(k), *strides)
            return [Apply(padding, x), Apply(pool, tmp)]
        helper = f"_PaddedMaxPooling{dims}" if is_max else f"_PaddedAveragePooling{dims}"
        self.helpers.add(helper)
        options = (_literal(k), f"strides={_literal(s)}", f"padding={_literal(p)}")
        return [Apply(self.layer(helper, node, *options), x)]

    def rank(self, node: Any) -> int:
        """The per-sample rank of a node's input, the same in every call of the graph."""
        ranks = set().union(*(self.ranks.get((source, node.name), set()) for source in self.sources))
        if len(ranks) != 1:
            first, *others = (_KINDS[rank] for rank in sorted(ranks, reverse=True))
            msg = (
                f"block {self.graph!r} node {node.name!r}: {node.op} gets {first} in some calls and "
                f"{' and '.join(others)} in others; the TensorFlow emitter needs one kind per block"
            )
            raise ArchitectureError(msg)
        return next(iter(ranks))

    def _flatten(self, node: Op, x: str, tmp: str) -> list[Expr | Apply]:
        rank = self.rank(node)
        if rank == 1:
            return [Apply(self.layer("layers.Flatten", node), x)]
        # PyTorch flattens (C, H, W) or (C, L); going channels-first first keeps the dense
        # weights as they are.
        if rank == 3:
            permute = self.layer("layers.Permute", node, "(3, 1, 2)", suffix=".chw")
        else:
            permute = self.layer("layers.Permute", node, "(2, 1)", suffix=".cl")
        return [Apply(permute, x), Apply(self.layer("layers.Flatten", node), tmp)]


_KINDS = {1: "vectors", 2: "sequences", 3: "feature maps"}


def _float(value: float) -> str:
    """A computed float as a person writes it: ``1 - 0.9`` as ``0.1``, not ``0.09999999999999998``."""
    return repr(float(f"{value:.12g}"))
