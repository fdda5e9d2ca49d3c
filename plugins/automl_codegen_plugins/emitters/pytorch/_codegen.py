"""Lower an architecture to the statements of the PyTorch classes the template lays out.

Each graph (a block or the network) becomes one ``nn.Module`` class: parameterised nodes
turn into submodules named after the node (the state-dict keys of
:mod:`automl_codegen_plugins.torch_model`), the rest into functional calls in
``forward``. Statements come back as finished, indented lines of at most
:data:`LINE_LENGTH` characters, so the output passes ``ruff check`` whatever the names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from automl_codegen import Architecture, ArchitectureError, Node

from .._common import INDENT, Call, Expr, Sum, format_lines, graph_body

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
_POOLS = {
    "max_pool2d": "nn.MaxPool2d",
    "avg_pool2d": "nn.AvgPool2d",
    "max_pool1d": "nn.MaxPool1d",
    "avg_pool1d": "nn.AvgPool1d",
}


# -- lowering ----------------------------------------------------------------------------


@attrs.frozen
class ClassCode:
    """One generated ``nn.Module`` class, as lines ready for the template."""

    name: str
    docstring: str | None
    init_def: list[str]  # empty when the class needs no ``__init__``
    init_body: list[str]
    forward_def: list[str]
    forward_body: list[str]


@attrs.frozen
class ModuleCode:
    """Everything the template needs besides the docstring."""

    classes: list[ClassCode]
    uses_functional: bool
    build_model_def: list[str]


def lower(arch: Architecture) -> ModuleCode:
    """The classes of ``arch``: one per block kind in dependency order, then the network."""
    # Names that would clash in generated code (a class "F", a node "compile") are
    # refused by the IR itself, so every valid architecture renders.
    ranks = _ranks(arch)
    classes = [_lower_graph(arch, b.name, b.nodes, b.params, {n: n for n in b.inputs}, ranks) for b in arch.block_order]
    net = _lower_graph(arch, arch.name, arch.nodes, (), {Architecture.INPUT: "x"}, ranks)
    shape = ", ".join(map(str, arch.input_shape))
    docstring = f"Maps (N, {shape}) inputs to (N, {arch.num_classes}) logits; {arch.num_params:,} parameters."
    classes.append(attrs.evolve(net, docstring=docstring))
    body = "\n".join(line for c in classes for line in c.forward_body)
    build_def = Call("def build_model", ("weights: str | None = None",))
    build_lines = format_lines(build_def, "", suffix=f" -> {arch.name}:")
    return ModuleCode(classes, "F." in body, build_lines)


def _lower_graph(
    arch: Architecture,
    name: str,
    nodes: Sequence[Node],
    params: Sequence[str],
    input_vars: Mapping[str, str],
    ranks: Mapping[tuple[str, str], set[int]],
) -> ClassCode:
    init = INDENT * 2
    modules = [node for node in nodes if _is_module(node)]
    # A zero's stride or a crop's margins given by a parameter are read from ``self``
    # in forward, so __init__ stores them.
    forward_attrs = {"zero": ("stride",), "crop2d": ("top", "bottom", "left", "right")}
    used = (node.attr(k) for node in nodes for k in forward_attrs.get(node.op, ()))
    stored = sorted({value for value in used if isinstance(value, str)})
    init_body = [f"{init}self.{p} = {p}" for p in stored]
    for node in modules:
        init_body += format_lines(_module_expr(arch, node), init, f"self.{node.name} = ")
    init_def: list[str] = []
    if init_body or params:
        signature = Call("def __init__", ("self", *(f"{p}: int" for p in params)))
        init_def = format_lines(signature, INDENT, suffix=" -> None:")
    forward_args = ("self", *(f"{var}: torch.Tensor" for var in input_vars.values()))
    forward_def = format_lines(Call("def forward", forward_args), INDENT, suffix=" -> torch.Tensor:")
    ranked = [
        node for node in nodes if node.op == "global_avg_pool" or (node.op == "zero" and node.attr("stride") != 1)
    ]
    rank_of = {node.name: _one_rank(name, node, ranks) for node in ranked}
    forward_body = _forward_body(nodes, input_vars, rank_of)
    return ClassCode(name, None, init_def, init_body, forward_def, forward_body)


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


def _one_rank(graph: str, node: Node, ranks: Mapping[tuple[str, str], set[int]]) -> int:
    """The one input rank of a node whose code depends on it."""
    found = ranks[(graph, node.name)]
    if len(found) != 1:
        msg = (
            f"block {graph!r} node {node.name!r}: {node.op} gets inputs of ranks {sorted(found)} in "
            f"different calls; the PyTorch emitter needs one rank per block node"
        )
        raise ArchitectureError(msg)
    return next(iter(found))


def _is_module(node: Node) -> bool:
    # A pool whose window depends on a block parameter becomes nn.MaxPool2d/AvgPool2d
    # (or the 1-D ones) so that forward needs no stored parameters.
    pooled = node.op in _POOLS
    return node.op in _MODULE_OPS or (pooled and any(isinstance(v, str) for _, v in node.attrs))


def _literal(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _keywords(node: Node, defaults: Mapping[str, object]) -> tuple[str, ...]:
    """``name=value`` for attributes that differ from torch's defaults (or are parameters)."""
    a = node.attr_dict
    return tuple(
        f"{key}={_literal(a[key])}" for key, default in defaults.items() if isinstance(a[key], str) or a[key] != default
    )


def _module_expr(arch: Architecture, node: Node) -> Call:
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
        block = arch.block_map[node.block]
        return Call(block.name, tuple(f"{p}={a[p]}" for p in block.params))
    return Call(_POOLS[node.op], (a["kernel_size"], *_pool_keywords(node)))


def _pool_keywords(node: Node) -> tuple[str, ...]:
    a = node.attr_dict
    # torch's stride defaults to the kernel size, not to 1.
    stride = () if a["stride"] == a["kernel_size"] else (f"stride={_literal(a['stride'])}",)
    rest = _keywords(node, {"padding": 0})
    if node.op in ("avg_pool2d", "avg_pool1d"):
        rest += _keywords(node, {"count_include_pad": True})
    return stride + rest


def _forward_expr(node: Node, args: Sequence[str], rank: int | None) -> Expr:
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
        step = f"self.{stride}" if isinstance(stride, str) else str(stride)
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


def _crop_slice(node: Node, start: str, end: str, dim: int, x: str) -> str:
    """``1:`` or ``1 : x.shape[2] - 1``: a slice as a person would write it."""
    first, last = node.attr(start), node.attr(end)

    def bound(value: int | str) -> str:
        return f"self.{value}" if isinstance(value, str) else str(value)

    begin = "" if first == 0 else bound(first)
    if last == 0:
        return f"{begin}:"
    return f"{begin} : {x}.shape[{dim}] - {bound(last)}"


def _forward_body(nodes: Sequence[Node], input_vars: Mapping[str, str], rank_of: Mapping[str, int]) -> list[str]:
    """``forward``'s statements (see :func:`.._common.graph_body`)."""

    def lower(node: Node, args: Sequence[str], tmp: str) -> list[Expr]:
        return [_forward_expr(node, args, rank_of.get(node.name))]

    return graph_body(nodes, input_vars, lower, INDENT * 2)
