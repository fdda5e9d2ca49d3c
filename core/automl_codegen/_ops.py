"""The closed operation vocabulary of the IR, with shape and parameter rules per op.

Shapes are per sample (no batch dimension): ``(C, H, W)`` for feature maps and
``(F,)`` for vectors. Adding an op is a vocabulary change: bump ``IR_VERSION`` and teach
every emitter and the torch builder about it (the op-coverage tests fail until then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .errors import ArchitectureError

IR_VERSION = 1

# Upper bounds that keep hostile or mistaken input from asking for absurd models.
MAX_CHANNELS = 1 << 16
MAX_KERNEL = 31
MAX_STRIDE = 16
MAX_PADDING = 64
MAX_DILATION = 16

Shape = tuple[int, ...]


@attrs.frozen
class AttrSpec:
    """One attribute of an op: its Python type, default (``None`` = required) and bounds."""

    name: str
    type: type
    default: Any = None
    min: float | None = None
    max: float | None = None

    @property
    def required(self) -> bool:
        return self.default is None


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

    def attr(self, name: str) -> AttrSpec | None:
        return next((a for a in self.attrs if a.name == name), None)


def _fail(msg: str) -> ArchitectureError:
    return ArchitectureError(msg)


def _feature_map(shape: Shape, op: str) -> Shape:
    if len(shape) != 3:
        msg = f"{op} needs a (C, H, W) feature map, got shape {shape}"
        raise _fail(msg)
    return shape


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
        msg = f"{op} expects {expected} input channels ({attr}), got {shape[0]}"
        raise _fail(msg)


def _conv2d(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    _, h, w = _feature_map(shapes[0], "conv2d")
    _check_channels(shapes[0], a["in_channels"], "in_channels", "conv2d")
    g = a["groups"]
    if a["in_channels"] % g or a["out_channels"] % g:
        msg = f"conv2d groups={g} must divide in_channels={a['in_channels']} and out_channels={a['out_channels']}"
        raise _fail(msg)
    k, s, p, d = a["kernel_size"], a["stride"], a["padding"], a["dilation"]
    return (a["out_channels"], _conv_out(h, k, s, p, d, "conv2d"), _conv_out(w, k, s, p, d, "conv2d"))


def _conv2d_params(shapes: list[Shape], a: Mapping[str, Any]) -> int:
    weights = a["out_channels"] * (a["in_channels"] // a["groups"]) * a["kernel_size"] ** 2
    return weights + (a["out_channels"] if a["bias"] else 0)


def _depthwise(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    c, h, w = _feature_map(shapes[0], "depthwise_conv2d")
    _check_channels(shapes[0], a["channels"], "channels", "depthwise_conv2d")
    k, s, p, d = a["kernel_size"], a["stride"], a["padding"], a["dilation"]
    op = "depthwise_conv2d"
    return (c, _conv_out(h, k, s, p, d, op), _conv_out(w, k, s, p, d, op))


def _depthwise_params(shapes: list[Shape], a: Mapping[str, Any]) -> int:
    return a["channels"] * a["kernel_size"] ** 2 + (a["channels"] if a["bias"] else 0)


def _batchnorm(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    _feature_map(shapes[0], "batchnorm2d")
    _check_channels(shapes[0], a["num_features"], "num_features", "batchnorm2d")
    return shapes[0]


def _pool(op: str) -> Callable[[list[Shape], Mapping[str, Any]], Shape]:
    def infer(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
        c, h, w = _feature_map(shapes[0], op)
        k, s, p = a["kernel_size"], a["stride"], a["padding"]
        if p * 2 > k:
            msg = f"{op} padding={p} must be at most half of kernel_size={k}"
            raise _fail(msg)
        return (c, _conv_out(h, k, s, p, 1, op), _conv_out(w, k, s, p, 1, op))

    return infer


def _same(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    return shapes[0]


def _global_avg_pool(shapes: list[Shape], a: Mapping[str, Any]) -> Shape:
    return (_feature_map(shapes[0], "global_avg_pool")[0],)


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
    c, h, w = _feature_map(shapes[0], "zero")
    return (c, -(-h // s), -(-w // s))


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
    return 2 * a["num_features"] if a["affine"] else 0


def _kernel(default: int | None = None) -> AttrSpec:
    return AttrSpec("kernel_size", int, default, 1, MAX_KERNEL)


def _stride(default: int | None = 1) -> AttrSpec:
    return AttrSpec("stride", int, default, 1, MAX_STRIDE)


def _padding() -> AttrSpec:
    return AttrSpec("padding", int, 0, 0, MAX_PADDING)


def _channels(name: str) -> AttrSpec:
    return AttrSpec(name, int, None, 1, MAX_CHANNELS)


_ACTIVATIONS = {
    "relu": "max(x, 0)",
    "relu6": "min(max(x, 0), 6)",
    "sigmoid": "1 / (1 + exp(-x))",
    "hardswish": "x * relu6(x + 3) / 6",
    "silu": "x * sigmoid(x)",
}

OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in [
        OpSpec(
            "conv2d",
            1,
            1,
            (
                _channels("in_channels"),
                _channels("out_channels"),
                _kernel(),
                _stride(),
                _padding(),
                AttrSpec("dilation", int, 1, 1, MAX_DILATION),
                AttrSpec("groups", int, 1, 1, MAX_CHANNELS),
                AttrSpec("bias", bool, False),
            ),
            _conv2d,
            _conv2d_params,
            "2-D convolution (symmetric zero padding).",
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
            (
                _channels("num_features"),
                AttrSpec("eps", float, 1e-5, 0.0, 1.0),
                AttrSpec("momentum", float, 0.1, 0.0, 1.0),
                AttrSpec("affine", bool, True),
            ),
            _batchnorm,
            _bn_params,
            "Batch normalisation over channels (PyTorch momentum convention).",
        ),
        *(OpSpec(name, 1, 1, (), _same, doc=f"Activation {formula}.") for name, formula in _ACTIVATIONS.items()),
        OpSpec(
            "max_pool2d",
            1,
            1,
            (_kernel(), _stride(None), _padding()),
            _pool("max_pool2d"),
            doc="Max pooling.",
        ),
        OpSpec(
            "avg_pool2d",
            1,
            1,
            (_kernel(), _stride(None), _padding(), AttrSpec("count_include_pad", bool, True)),
            _pool("avg_pool2d"),
            doc="Average pooling; count_include_pad=False divides by the real window size.",
        ),
        OpSpec("global_avg_pool", 1, 1, (), _global_avg_pool, doc="Mean over H and W: (C,)."),
        OpSpec("flatten", 1, 1, (), _flatten, doc="Flatten a (C, H, W) map in C, H, W order."),
        OpSpec(
            "linear",
            1,
            1,
            (_channels("in_features"), _channels("out_features"), AttrSpec("bias", bool, True)),
            _linear,
            _linear_params,
            "Fully connected layer.",
        ),
        OpSpec(
            "dropout",
            1,
            1,
            (AttrSpec("p", float, 0.5, 0.0, 1.0),),
            _same,
            doc="Dropout (identity at inference).",
        ),
        OpSpec("identity", 1, 1, (), _same, doc="Passes its input through."),
        OpSpec(
            "zero",
            1,
            1,
            (_stride(),),
            _zero,
            doc="Zeros shaped like the input subsampled by stride (a cell's 'none' edge).",
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
        OpSpec("concat", 2, 64, (), _concat, doc="Concatenation along channels."),
    ]
}

#: The op of a node that calls a block; its attrs bind the block's parameters.
BLOCK_OP = "block"
