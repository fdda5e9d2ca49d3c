"""Lower an architecture to the statements of a Keras functional model.

Each block kind becomes one function that adds its layers to the graph; the network's
own graph is built in ``build_model``. Every other node becomes one named Keras layer
(an identity becomes none), and a layer's name is the node's module path in the PyTorch
model (``cell1.inner.conv``), so converted weights find their layers by name. A few
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

import attrs

from automl_codegen import Architecture, ArchitectureError, Block, Node

from .._common import INDENT, LINE_LENGTH, Call, Expr, flat, format_lines, graph_body

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


def lower(arch: Architecture) -> ModuleCode:
    """The block functions of ``arch`` in dependency order, and ``build_model``'s body."""
    names = _function_names(arch)
    ranks = _ranks(arch)
    helpers: set[str] = set()
    functions = []
    # The parameters each block function takes: those its Keras layers read. Keras infers
    # input channels, so a PyTorch block's ``c_in`` is often not one of them.
    used: dict[str, tuple[str, ...]] = {}
    for block in arch.block_order:  # callees first, so their used parameters are known
        scope = _Scope(arch, block.name, names, ranks, helpers, used, in_block=True)
        body = graph_body(block.nodes, {n: n for n in block.inputs}, scope.lower, INDENT, layout=layout)
        text = "\n".join(body)
        used[block.name] = tuple(p for p in block.params if re.search(rf"\b{p}\b", text))
        tensor = "keras.KerasTensor"
        args = (*(f"{n}: {tensor}" for n in block.inputs), *(f"{p}: int" for p in used[block.name]), "name: str")
        def_lines = format_lines(Call(f"def {names[block.name]}", args), "", suffix=f" -> {tensor}:")
        def_lines.append(f'{INDENT}"""The ``{block.name}`` block."""')
        functions.append(FunctionCode(def_lines, body))
    scope = _Scope(arch, arch.name, names, ranks, helpers, used, in_block=False)
    inputs = {Architecture.INPUT: "inputs"}
    build_body = graph_body(arch.nodes, inputs, scope.lower, INDENT, final="outputs = ", layout=layout)
    build_def = format_lines(Call("def build_model", ("weights: str | None = None",)), "", suffix=" -> keras.Model:")
    model_lines = format_lines(Call("keras.Model", ("inputs", "outputs", f'name="{arch.name}"')), INDENT, "model = ")
    c, *sizes = arch.input_shape
    channels_last = (*sizes, c)
    return ModuleCode(frozenset(helpers), functions, build_def, build_body, model_lines, channels_last)


def _function_names(arch: Architecture) -> dict[str, str]:
    """``_snake_case`` function names per block; the underscore keeps them apart from
    node names (local variables), and a number any two blocks that would share one."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for block in arch.block_order:
        words = _WORDS.sub(lambda m: m[0].capitalize(), block.name)
        base = "_" + _SNAKE.sub("_", words).lower()
        name, number = base, 2
        while name in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name)
        names[block.name] = name
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
    return value if isinstance(value, str) else repr(value)


def _is_one(value: object) -> bool:
    """Known to be 1 (a block parameter might be anything)."""
    return value == 1 and not isinstance(value, str)


@attrs.define
class _Scope:
    """Lowers the nodes of one graph: a block function or ``build_model``."""

    arch: Architecture
    graph: str
    functions: Mapping[str, str]
    ranks: Mapping[tuple[str, str], set[int]]
    helpers: set[str]
    used_params: Mapping[str, tuple[str, ...]]  # block name -> the parameters its function takes
    in_block: bool

    def name_kw(self, node: Node, suffix: str = "") -> str:
        """The ``name=`` argument of a node's layer: its path in the PyTorch model."""
        if self.in_block:
            return f'name=f"{{name}}.{node.name}{suffix}"'
        return f'name="{node.name}{suffix}"'

    def layer(self, cls: str, node: Node, *args: str, suffix: str = "") -> Call:
        return Call(cls, (*args, self.name_kw(node, suffix)))

    def lower(self, node: Node, args: Sequence[str], tmp: str) -> list[Expr | Apply]:
        """The expressions of one node: usually one layer call, more with helpers."""
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
            block: Block = self.arch.block_map[node.block]
            params = tuple(f"{p}={_literal(a[p])}" for p in self.used_params[block.name])
            return [Call(self.functions[block.name], (*args, *params, self.name_kw(node)))]
        msg = f"node {node.name!r}: the TensorFlow emitter does not know op {op!r}"
        raise ArchitectureError(msg)

    def _conv(self, node: Node, x: str, tmp: str) -> list[Expr | Apply]:
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
            stages.append(IfParam(padding, p) if isinstance(p, str) else padding)
        stages.append(Apply(self.layer(cls, node, *head, *options), tmp if stages else x))
        if subsample:
            # A 1x1 max pool with stride s keeps every s-th pixel: the strided result.
            step = self.layer(f"layers.MaxPooling{dims}", node, "1", f"strides={_literal(s)}", suffix=".subsample")
            stages.append(Apply(step, tmp))
        return stages

    def _pool(self, node: Node, x: str, tmp: str) -> list[Expr | Apply]:
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

    def rank(self, node: Node) -> int:
        """The per-sample rank of a node's input, the same in every call of the graph."""
        ranks = self.ranks[(self.graph, node.name)]
        if len(ranks) != 1:
            first, *others = (_KINDS[rank] for rank in sorted(ranks, reverse=True))
            msg = (
                f"block {self.graph!r} node {node.name!r}: {node.op} gets {first} in some calls and "
                f"{' and '.join(others)} in others; the TensorFlow emitter needs one kind per block"
            )
            raise ArchitectureError(msg)
        return next(iter(ranks))

    def _flatten(self, node: Node, x: str, tmp: str) -> list[Expr | Apply]:
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
