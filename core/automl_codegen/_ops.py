"""The closed operation vocabulary of the IR, with shape and parameter rules per op.

Shapes are per sample (no batch dimension), channels first as in PyTorch: ``(C, H, W)``
for feature maps, ``(C, L)`` for sequences and ``(F,)`` for vectors (tabular rows,
pooled features, logits). Adding an op is a vocabulary change: bump ``IR_VERSION``, give
the op ``since=IR_VERSION`` and teach every emitter and the torch builder about it (the
op-coverage tests fail until then).

Versions: 1 had the image ops; 2 added sequence and tabular ops (``conv1d``,
``batchnorm1d``, ``max_pool1d``, ``avg_pool1d``, ``layer_norm``, ``gelu``, ``tanh``) and
network inputs of rank 1 and 2. The vocabulary only grows, so an architecture written
for an older version still reads (see :func:`required_version`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import ArchitectureError

IR_VERSION = 2
#: The first version whose network inputs may be (F,) vectors and (C, L) sequences.
RANK_1_2_INPUTS_SINCE = 2

# Upper bounds that keep hostile or mistaken input from asking for absurd models.
MAX_CHANNELS = 1 << 16
MAX_KERNEL = 31
MAX_STRIDE = 16
MAX_PADDING = 64
MAX_DILATION = 16

Shape = tuple[int, ...]


@attrs.frozen
class AttrSpec:
    """One attribute of an op: its Python type, default (``None`` = required) and bounds.

    ``default_to`` names an earlier attribute whose value an omitted one takes (a pool's
    stride is its kernel size unless given, as in PyTorch).
    """

    name: str
    type: type
    default: Any = None
    min: float | None = None
    max: float | None = None
    default_to: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None and self.default_to is None


@attrs.frozen
class OpSpec:
    """An op of the vocabulary: arity, attributes, shape rule and parameter count."""

    name: str
    min_inputs: int
    max_inputs: int
    attrs: tuple[AttrSpec, ...]
    infer: Callable[[list[Shape], Mapping[str, Any]], Shape]
    count_params: Callable[[list[Shape], Mapping[str, Any]], int] = lambda shapes, a: 0
    doc: str = ""
    since: int = 1  # the IR version that added the op

    def attr(self, name: str) -> AttrSpec | None:
        return next((a for a in self.attrs if a.name == name), None)


def _fail(msg: str) -> ArchitectureError:
    return ArchitectureError(msg)


_RANK_NAMES = {1: "a (F,) vector", 2: "a (C, L) sequence", 3: "a (C, H, W) feature map"}


def _of_rank(shape: Shape, op: str, *ranks: int) -> Shape:
    """``shape`` if its rank is one of ``ranks``; else an error naming what ``op`` takes."""
    if len(shape) not in ranks:
        kinds = [_RANK_NAMES[rank] for rank in ranks]
        wanted = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
        msg = f"{op} needs {wanted}, got shape {shape}"
        raise _fail(msg)
    return shape


def _feature_map(shape: Shape, op: str) -> Shape:
    return _of_rank(shape, op, 3)


def _conv_out(size: int, k: int, s: int, p: int, d: int, op: str) -> int:
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        msg = (
            f"{op} with kernel_size={k}, stride={s}, padding={p}, dilation={d} "
            f"leaves no output for an input of size {size}"
        )
        raise _fail(msg)
    return out


def _check_channels(shape: Shape, expected: int, attr: str, op: str) -> None:
    if shape[0] != expected:
        what = "features" if len(shape) == 1 else "channels"
        msg = f"{op} expects {expected} input {what} ({attr}), got {shape[0]}"
        raise _fail(msg)


def _conv(op: str, rank: int) -> Callable[[list[Shape], Mapping[str, Any]], Shape]:
    """The shape rule of ``conv2d`` (rank 3) or ``conv1d`` (rank 2)."""

    def infer(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
        _of_rank(shapes[0], op, rank)
        _check_channels(shapes[0], a["in_channels"], "in_channels", op)
        g = a["groups"]
        if a["in_channels"] % g or a["out_channels"] % g:
            msg = f"{op} groups={g} must divide in_channels={a['in_channels']} and out_channels={a['out_channels']}"
            raise _fail(msg)
        k, s, p, d = a["kernel_size"], a["stride"], a["padding"], a["dilation"]
        return (a["out_channels"], *(_conv_out(size, k, s, p, d, op) for size in shapes[0][1:]))

    return infer


def _conv_params(rank: int) -> Callable[[list[Shape], Mapping[str, Any]], int]:
    def count(shapes: list[Shape], a: Mapping[str, Any]) -> int:
        weights = a["out_channels"] * (a["in_channels"] // a["groups"]) * a["kernel_size"] ** (rank - 1)
        return weights + (a["out_channels"] if a["bias"] else 0)

    return count


def _depthwise(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    c, h, w = _feature_map(shapes[0], "depthwise_conv2d")
    _check_channels(shapes[0], a["channels"], "channels", "depthwise_conv2d")
    k, s, p, d = a["kernel_size"], a["stride"], a["padding"], a["dilation"]
    op = "depthwise_conv2d"
    return (c, _conv_out(h, k, s, p, d, op), _conv_out(w, k, s, p, d, op))


def _depthwise_params(shapes: list[Shape], a: Mapping[str, Any]) -> int:
    return a["channels"] * a["kernel_size"] ** 2 + (a["channels"] if a["bias"] else 0)


def _normalisation(op: str, *ranks: int) -> Callable[[list[Shape], Mapping[str, Any]], Shape]:
    """Shape rule of a normalisation over the first dimension (channels or features)."""

    def infer(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
        _of_rank(shapes[0], op, *ranks)
        _check_channels(shapes[0], a["num_features"], "num_features", op)
        return shapes[0]

    return infer


def _pool(op: str, rank: int = 3) -> Callable[[list[Shape], Mapping[str, Any]], Shape]:
    def infer(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
        c, *sizes = _of_rank(shapes[0], op, rank)
        k, s, p = a["kernel_size"], a["stride"], a["padding"]
        if p * 2 > k:
            msg = f"{op} padding={p} must be at most half of kernel_size={k}"
            raise _fail(msg)
        return (c, *(_conv_out(size, k, s, p, 1, op) for size in sizes))

    return infer


def _same(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    return shapes[0]


def _global_avg_pool(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    return (_of_rank(shapes[0], "global_avg_pool", 2, 3)[0],)


def _flatten(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    size = 1
    for dim in shapes[0]:
        size *= dim
    return (size,)


def _linear(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    if len(shapes[0]) != 1:
        msg = f"linear needs a vector input, got shape {shapes[0]}; add flatten or global_avg_pool"
        raise _fail(msg)
    if shapes[0][0] != a["in_features"]:
        msg = f"linear expects {a['in_features']} input features (in_features), got {shapes[0][0]}"
        raise _fail(msg)
    return (a["out_features"],)


def _linear_params(shapes: list[Shape], a: Mapping[str, Any]) -> int:
    return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0)


def _zero(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    s = a["stride"]
    if s == 1:
        return shapes[0]
    c, *sizes = _of_rank(shapes[0], f"zero with stride={s}", 2, 3)
    return (c, *(-(-size // s) for size in sizes))


def _layer_norm(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    if len(shapes[0]) != 1:
        msg = (
            f"layer_norm normalises the features of a (F,) vector, got shape {shapes[0]}; "
            f"add flatten or global_avg_pool, or use batchnorm1d/batchnorm2d"
        )
        raise _fail(msg)
    _check_channels(shapes[0], a["num_features"], "num_features", "layer_norm")
    return shapes[0]


def _crop(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    c, h, w = _feature_map(shapes[0], "crop2d")
    out_h, out_w = h - a["top"] - a["bottom"], w - a["left"] - a["right"]
    if out_h < 1 or out_w < 1:
        margins = ", ".join(f"{side}={a[side]}" for side in ("top", "bottom", "left", "right"))
        msg = f"crop2d removes all of a {h}x{w} map ({margins})"
        raise _fail(msg)
    return (c, out_h, out_w)


def _add(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    if any(shape != shapes[0] for shape in shapes):
        msg = f"add needs inputs of one shape, got {', '.join(map(str, shapes))}"
        raise _fail(msg)
    return shapes[0]


def _concat(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    ranks = {len(shape) for shape in shapes}
    if len(ranks) != 1 or any(shape[1:] != shapes[0][1:] for shape in shapes):
        msg = f"concat joins along channels and needs equal other dimensions, got {', '.join(map(str, shapes))}"
        raise _fail(msg)
    return (sum(shape[0] for shape in shapes), *shapes[0][1:])


def _bn_params(shapes: list[Shape], a: Mapping[str, Any]) -> int:
    # Batch norm's scale and shift, and layer norm's (torch's elementwise_affine with bias).
    return 2 * a["num_features"] if a["affine"] else 0


def _eps() -> AttrSpec:
    return AttrSpec("eps", float, 1e-5, 0.0, 1.0)


def _conv_attrs() -> tuple[AttrSpec, ...]:
    return (
        _channels("in_channels"),
        _channels("out_channels"),
        _kernel(),
        _stride(),
        _padding(),
        AttrSpec("dilation", int, 1, 1, MAX_DILATION),
        AttrSpec("groups", int, 1, 1, MAX_CHANNELS),
        AttrSpec("bias", bool, False),
    )


def _bn_attrs() -> tuple[AttrSpec, ...]:
    return (
        _channels("num_features"),
        _eps(),
        AttrSpec("momentum", float, 0.1, 0.0, 1.0),
        AttrSpec("affine", bool, True),
    )


def _kernel(default: int | None = None) -> AttrSpec:
    return AttrSpec("kernel_size", int, default, 1, MAX_KERNEL)


def _stride(default: int | None = 1) -> AttrSpec:
    return AttrSpec("stride", int, default, 1, MAX_STRIDE)


def _pool_stride() -> AttrSpec:
    return AttrSpec("stride", int, None, 1, MAX_STRIDE, default_to="kernel_size")


def _padding() -> AttrSpec:
    return AttrSpec("padding", int, 0, 0, MAX_PADDING)


def _channels(name: str) -> AttrSpec:
    return AttrSpec(name, int, None, 1, MAX_CHANNELS)


#: name -> (formula, the IR version that added it).
_ACTIVATIONS = {
    "relu": ("max(x, 0)", 1),
    "relu6": ("min(max(x, 0), 6)", 1),
    "sigmoid": ("1 / (1 + exp(-x))", 1),
    "hardswish": ("x * relu6(x + 3) / 6", 1),
    "silu": ("x * sigmoid(x)", 1),
    "gelu": ("x * (1 + erf(x / sqrt(2))) / 2 (exact, not the tanh approximation)", 2),
    "tanh": ("tanh(x)", 2),
}

OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in [
        OpSpec(
            "conv2d",
            1,
            1,
            _conv_attrs(),
            _conv("conv2d", 3),
            _conv_params(3),
            "2-D convolution of a (C, H, W) map (symmetric zero padding).",
        ),
        OpSpec(
            "conv1d",
            1,
            1,
            _conv_attrs(),
            _conv("conv1d", 2),
            _conv_params(2),
            "1-D convolution of a (C, L) sequence (symmetric zero padding).",
            since=2,
        ),
        OpSpec(
            "depthwise_conv2d",
            1,
            1,
            (
                _channels("channels"),
                _kernel(),
                _stride(),
                _padding(),
                AttrSpec("dilation", int, 1, 1, MAX_DILATION),
                AttrSpec("bias", bool, False),
            ),
            _depthwise,
            _depthwise_params,
            "Depthwise 2-D convolution: one filter per channel.",
        ),
        OpSpec(
            "batchnorm2d",
            1,
            1,
            _bn_attrs(),
            _normalisation("batchnorm2d", 3),
            _bn_params,
            "Batch normalisation over the channels of a (C, H, W) map (PyTorch momentum convention).",
        ),
        OpSpec(
            "batchnorm1d",
            1,
            1,
            _bn_attrs(),
            _normalisation("batchnorm1d", 1, 2),
            _bn_params,
            "Batch normalisation of a (F,) vector's features or a (C, L) sequence's channels "
            "(torch's BatchNorm1d; PyTorch momentum convention).",
            since=2,
        ),
        OpSpec(
            "layer_norm",
            1,
            1,
            (_channels("num_features"), _eps(), AttrSpec("affine", bool, True)),
            _layer_norm,
            _bn_params,
            "Layer normalisation over the features of a (F,) vector, per sample; affine adds a "
            "scale and a shift per feature.",
            since=2,
        ),
        *(
            OpSpec(name, 1, 1, (), _same, doc=f"Activation {formula}.", since=since)
            for name, (formula, since) in _ACTIVATIONS.items()
        ),
        OpSpec(
            "max_pool2d",
            1,
            1,
            (_kernel(), _pool_stride(), _padding()),
            _pool("max_pool2d"),
            doc="Max pooling of a (C, H, W) map; stride defaults to kernel_size.",
        ),
        OpSpec(
            "avg_pool2d",
            1,
            1,
            (_kernel(), _pool_stride(), _padding(), AttrSpec("count_include_pad", bool, True)),
            _pool("avg_pool2d"),
            doc="Average pooling of a (C, H, W) map; count_include_pad=False divides by the real window size.",
        ),
        OpSpec(
            "max_pool1d",
            1,
            1,
            (_kernel(), _pool_stride(), _padding()),
            _pool("max_pool1d", 2),
            doc="Max pooling of a (C, L) sequence; stride defaults to kernel_size.",
            since=2,
        ),
        OpSpec(
            "avg_pool1d",
            1,
            1,
            (_kernel(), _pool_stride(), _padding(), AttrSpec("count_include_pad", bool, True)),
            _pool("avg_pool1d", 2),
            doc="Average pooling of a (C, L) sequence; count_include_pad=False divides by the real window size.",
            since=2,
        ),
        OpSpec(
            "global_avg_pool",
            1,
            1,
            (),
            _global_avg_pool,
            doc="Mean over L of a (C, L) sequence or over H and W of a (C, H, W) map: (C,).",
        ),
        OpSpec("flatten", 1, 1, (), _flatten, doc="Flatten to (F,) in channels-first order: C, H, W or C, L."),
        OpSpec(
            "linear",
            1,
            1,
            (_channels("in_features"), _channels("out_features"), AttrSpec("bias", bool, True)),
            _linear,
            _linear_params,
            "Fully connected layer of a (F,) vector.",
        ),
        OpSpec(
            "dropout",
            1,
            1,
            (AttrSpec("p", float, 0.5, 0.0, 1.0),),
            _same,
            doc="Dropout (identity at inference), of any shape.",
        ),
        OpSpec("identity", 1, 1, (), _same, doc="Passes its input through."),
        OpSpec(
            "zero",
            1,
            1,
            (_stride(),),
            _zero,
            doc="Zeros shaped like the input, its L or H and W subsampled by stride (a cell's 'none' edge).",
        ),
        OpSpec(
            "crop2d",
            1,
            1,
            tuple(AttrSpec(side, int, 0, 0, MAX_PADDING) for side in ("top", "bottom", "left", "right")),
            _crop,
            doc="Drops rows/columns at the borders (the odd-offset path of DARTS' factorized reduce).",
        ),
        OpSpec("add", 2, 64, (), _add, doc="Element-wise sum of inputs of one shape."),
        OpSpec("concat", 2, 64, (), _concat, doc="Concatenation along the first dimension (channels or features)."),
    ]
}


def required_version(ops: Iterable[str], input_rank: int) -> int:
    """The oldest IR version that has all of ``ops`` and network inputs of ``input_rank``.

    What an architecture records by default: a network that only uses what version 1
    had keeps ``ir_version`` 1 (and its fingerprint), so older readers load it.
    """
    since = [OPS[op].since for op in ops if op in OPS]
    return max([1, *since, RANK_1_2_INPUTS_SINCE if input_rank != 3 else 1])


#: The op of a node that calls a block; its attrs bind the block's parameters.
BLOCK_OP = "block"
