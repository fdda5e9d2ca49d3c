"""The layers and combinators of a declared space: argument checks, rank rules and lowering.

Every layer knows three things: its arguments (literals or :class:`Decision` values),
checked when it is constructed; how it changes the rank of what flows through it (a
vector ``(F,)``, a sequence ``(C, L)``, a feature map ``(C, H, W)``), checked when the
space is declared and again for the input shape a space is built for; and how it lowers
to IR nodes, inferring its input sizes from the shape that reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .._ops import MAX_CHANNELS, MAX_KERNEL, MAX_STRIDE
from ..errors import ConfigError, shown
from ._choices import (
    Decision,
    Value,
    boolean,
    check_argument,
    check_choice_name,
    check_options,
    integer,
    odd_kernel,
    one_of,
    optional,
    probability,
    same_value,
    show_argument,
)
from ._lowering import Lowering, describe_shape

__all__ = [
    "ACTIVATIONS",
    "MAX_DEPTH",
    "Activation",
    "AvgPool",
    "BatchNorm",
    "Conv",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "Identity",
    "Layer",
    "LayerNorm",
    "Linear",
    "MaxPool",
    "OneOf",
    "RankCheck",
    "Repeat",
    "Residual",
    "Sequential",
]

#: Activation names and the IR op each lowers to (``swish`` is SiLU's other name).
ACTIVATIONS = {
    "relu": "relu",
    "gelu": "gelu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu6": "relu6",
    "hardswish": "hardswish",
}
#: The most repetitions a Repeat may have (chain-cnn allows as many stages).
MAX_DEPTH = 64

_CONV = {2: "conv1d", 3: "conv2d"}
_BATCHNORM = {1: "batchnorm1d", 2: "batchnorm1d", 3: "batchnorm2d"}
_MAX_POOL = {2: "max_pool1d", 3: "max_pool2d"}
_AVG_POOL = {2: "avg_pool1d", 3: "avg_pool2d"}
_VECTOR_INPUT = "add GlobalAvgPool() or Flatten() before it"


class RankCheck:
    """Walks a declaration with ranks instead of shapes; ``steps`` counts the layers passed."""

    def __init__(self) -> None:
        self.steps = 0
        self.path: list[str] = []

    def fail(self, problem: str) -> ConfigError:
        where = " > ".join(self.path)
        error = ConfigError(f"{where}: {problem}" if where else problem)
        error.steps = self.steps  # type: ignore[attr-defined]
        return error

    def within(self, label: str, layer: Layer, rank: int) -> int:
        self.path.append(label)
        try:
            return layer.rank(rank, self)
        finally:
            self.path.pop()


class Layer:
    """A part of a declared network. Subclasses: the layers and combinators of this module."""

    #: The node name of the layer's one node (``layer0_linear``); composites have none.
    kind = ""
    composite = False

    def arguments(self) -> dict[str, Value]:
        """The arguments, in the order of the signature (literals or decisions)."""
        return {}

    def parts(self) -> Iterator[tuple[str, Any]]:
        """What the layer declares, in source order: ``("arg", value)``, ``("layer", child)``,
        or ``("repeat", (child, index))`` for repetition ``index`` of a Repeat's block."""
        for value in self.arguments().values():
            yield "arg", value

    def rank(self, rank: int, check: RankCheck) -> int:
        """The rank of the output for an input of ``rank``; a ConfigError if the layer cannot take it."""
        check.steps += 1
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        """Append this layer's nodes for input node ``x``; the output node."""
        raise NotImplementedError

    def label(self) -> str:
        """How messages show the layer: ``Linear(out=choice 'width')``."""
        args = ", ".join(f"{k}={show_argument(v)}" for k, v in self.arguments().items())
        return f"{type(self).__name__}({args})"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments().items())
        return f"{type(self).__name__}({args})"


def _layer(value: Any, where: str) -> Layer:
    if not isinstance(value, Layer):
        msg = f"{where} must be a layer (Linear, Conv, Sequential, ...), got {shown(value)}"
        raise ConfigError(msg)
    return value


def _needs(check: RankCheck, layer: Layer, rank: int, ranks: tuple[int, ...], advice: str) -> None:
    if rank not in ranks:
        wanted = " or ".join(describe_shape(r) for r in ranks)
        raise check.fail(f"{layer.label()} needs {wanted}, but gets {describe_shape(rank)}; {advice}")


# -- layers ------------------------------------------------------------------------------------


class Linear(Layer):
    """A fully connected layer to ``out`` features (its input size is inferred)."""

    kind = "linear"

    def __init__(self, out: Value, *, bias: Value = True) -> None:
        self.out = check_argument("Linear", "out", out, integer(1, MAX_CHANNELS))
        self.bias = check_argument("Linear", "bias", bias, boolean)

    def arguments(self) -> dict[str, Value]:
        return {"out": self.out, "bias": self.bias}

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        _needs(check, self, rank, (1,), _VECTOR_INPUT)
        return 1

    def lower(self, ctx: Lowering, x: str) -> str:
        attrs = {"in_features": ctx.shape(x)[0], "out_features": ctx.value(self.out), "bias": ctx.value(self.bias)}
        return ctx.emit(self.kind, "linear", (x,), attrs, self.label())


class Conv(Layer):
    """A convolution to ``out`` channels: conv1d on ``(C, L)``, conv2d on ``(C, H, W)``.

    "Same" padding ``kernel // 2`` (so kernels are odd): stride 1 keeps the size, stride
    ``s`` maps ``n`` to ``ceil(n / s)``.
    """

    kind = "conv"

    def __init__(self, out: Value, kernel: Value, stride: Value = 1, *, bias: Value = True) -> None:
        self.out = check_argument("Conv", "out", out, integer(1, MAX_CHANNELS))
        self.kernel = check_argument("Conv", "kernel", kernel, odd_kernel(MAX_KERNEL))
        self.stride = check_argument("Conv", "stride", stride, integer(1, MAX_STRIDE))
        self.bias = check_argument("Conv", "bias", bias, boolean)

    def arguments(self) -> dict[str, Value]:
        return {"out": self.out, "kernel": self.kernel, "stride": self.stride, "bias": self.bias}

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        _needs(check, self, rank, (2, 3), "use Linear on vectors")
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        shape = ctx.shape(x)
        kernel = ctx.value(self.kernel)
        attrs = {
            "in_channels": shape[0],
            "out_channels": ctx.value(self.out),
            "kernel_size": kernel,
            "stride": ctx.value(self.stride),
            "padding": kernel // 2,
            "bias": ctx.value(self.bias),
        }
        return ctx.emit(self.kind, _CONV[len(shape)], (x,), attrs, self.label())


class BatchNorm(Layer):
    """Batch normalisation over features or channels: batchnorm1d on ``(F,)`` and ``(C, L)``, batchnorm2d on maps."""

    kind = "bn"

    def lower(self, ctx: Lowering, x: str) -> str:
        shape = ctx.shape(x)
        return ctx.emit(self.kind, _BATCHNORM[len(shape)], (x,), {"num_features": shape[0]}, self.label())


class LayerNorm(Layer):
    """Layer normalisation of a vector ``(F,)``."""

    kind = "ln"

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        _needs(check, self, rank, (1,), "use BatchNorm() on sequences and feature maps")
        return 1

    def lower(self, ctx: Lowering, x: str) -> str:
        return ctx.emit(self.kind, "layer_norm", (x,), {"num_features": ctx.shape(x)[0]}, self.label())


class Dropout(Layer):
    """Dropout with probability ``p`` in [0, 1); ``p == 0`` adds no node."""

    kind = "dropout"

    def __init__(self, p: Value) -> None:
        self.p = check_argument("Dropout", "p", p, probability)

    def arguments(self) -> dict[str, Value]:
        return {"p": self.p}

    def lower(self, ctx: Lowering, x: str) -> str:
        p = ctx.value(self.p)
        return x if p == 0 else ctx.emit(self.kind, "dropout", (x,), {"p": float(p)}, self.label())


class Activation(Layer):
    """An activation by name: relu, gelu, silu (or swish), tanh, sigmoid, relu6, hardswish."""

    kind = "act"

    def __init__(self, name: Value) -> None:
        self.name = check_argument("Activation", "name", name, one_of(ACTIVATIONS))

    def arguments(self) -> dict[str, Value]:
        return {"name": self.name}

    def lower(self, ctx: Lowering, x: str) -> str:
        return ctx.emit(self.kind, ACTIVATIONS[ctx.value(self.name)], (x,), {}, self.label())


class _Pool(Layer):
    _ops: Mapping[int, str] = {}

    def __init__(self, kernel: Value, stride: Value = None, *, padding: Value = 0) -> None:
        owner = type(self).__name__
        self.kernel = check_argument(owner, "kernel", kernel, integer(1, MAX_KERNEL))
        self.stride = check_argument(owner, "stride", stride, optional(integer(1, MAX_STRIDE)))
        self.padding = check_argument(owner, "padding", padding, integer(0, MAX_KERNEL // 2))
        kernels = self.kernel.options if isinstance(self.kernel, Decision) else (self.kernel,)
        paddings = self.padding.options if isinstance(self.padding, Decision) else (self.padding,)
        if max(paddings) * 2 > min(kernels):
            msg = (
                f"{owner}: padding {max(paddings)} is more than half of kernel {min(kernels)}; "
                f"padding k // 2 keeps the size at stride 1"
            )
            raise ConfigError(msg)

    def arguments(self) -> dict[str, Value]:
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding}

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        _needs(check, self, rank, (2, 3), "pool before GlobalAvgPool(), Flatten() or Linear")
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        kernel, stride = ctx.value(self.kernel), ctx.value(self.stride)
        attrs = {
            "kernel_size": kernel,
            "stride": kernel if stride is None else stride,
            "padding": ctx.value(self.padding),
        }
        return ctx.emit(self.kind, self._ops[len(ctx.shape(x))], (x,), attrs, self.label())


class MaxPool(_Pool):
    """Max pooling (1-D on sequences, 2-D on maps); ``stride`` defaults to ``kernel``, ``padding`` to 0."""

    kind = "maxpool"
    _ops = _MAX_POOL


class AvgPool(_Pool):
    """Average pooling (1-D on sequences, 2-D on maps); ``stride`` defaults to ``kernel``, ``padding`` to 0.

    Padded positions count as zeros (PyTorch's ``count_include_pad=True``)."""

    kind = "avgpool"
    _ops = _AVG_POOL


class GlobalAvgPool(Layer):
    """The mean over the length or the height and width: ``(C, ...)`` to ``(C,)``."""

    kind = "pool"

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        _needs(check, self, rank, (2, 3), "the input is a vector already")
        return 1

    def lower(self, ctx: Lowering, x: str) -> str:
        return ctx.emit(self.kind, "global_avg_pool", (x,), {}, self.label())


class Flatten(Layer):
    """A feature map or sequence as one vector (in C, H, W order); a vector stays as it is."""

    kind = "flatten"

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        return 1

    def lower(self, ctx: Lowering, x: str) -> str:
        return x if len(ctx.shape(x)) == 1 else ctx.emit(self.kind, "flatten", (x,), {}, self.label())


class Identity(Layer):
    """Passes its input through (adds no node): the "nothing" option of a OneOf."""

    kind = "identity"

    def lower(self, ctx: Lowering, x: str) -> str:
        return x


# -- combinators -------------------------------------------------------------------------------


class Sequential(Layer):
    """Layers applied one after the other."""

    composite = True

    def __init__(self, *layers: Layer) -> None:
        if not layers:
            msg = "Sequential() needs at least one layer (Identity() for none)"
            raise ConfigError(msg)
        self.layers = tuple(_layer(layer, f"Sequential item {i}") for i, layer in enumerate(layers))

    def parts(self) -> Iterator[tuple[str, Any]]:
        for layer in self.layers:
            yield "layer", layer

    def rank(self, rank: int, check: RankCheck) -> int:
        for i, layer in enumerate(self.layers):
            rank = check.within(f"Sequential item {i}", layer, rank)
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        for layer in self.layers:
            x = layer.lower(ctx, x)
        return x

    def label(self) -> str:
        return f"Sequential({len(self.layers)} layers)"

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"


class OneOf(Layer):
    """An op choice named ``name``: one of ``options`` (``{label: layer}``), the label in the genotype.

    Every option must give the same kind of output (all vectors, or all feature maps).
    The chosen option's node is named after the choice (``layer0_norm``).
    """

    composite = True

    def __init__(self, name: str, options: Mapping[Any, Layer]) -> None:
        check_choice_name(name, "OneOf")
        if not isinstance(options, Mapping):
            msg = f"OneOf {name!r}: options must be a dict {{label: layer}}, got {shown(options)}"
            raise ConfigError(msg)
        labels = check_options(name, list(options), "OneOf")
        for label in labels:
            if isinstance(label, list | dict):
                msg = f"OneOf {name!r}: a label must be a string, number, bool or None, got {shown(label)}"
                raise ConfigError(msg)
        self.decision = Decision(name, labels)
        self.options = tuple(_layer(layer, f"OneOf {name!r} option {label!r}") for label, layer in options.items())

    @property
    def name(self) -> str:
        return self.decision.name

    def parts(self) -> Iterator[tuple[str, Any]]:
        yield "arg", self.decision
        for option in self.options:
            yield "layer", option

    def option(self, label: Any) -> Layer:
        for known, layer in zip(self.decision.options, self.options, strict=True):
            if same_value(known, label):
                return layer
        raise KeyError(label)  # pragma: no cover - genotypes are checked before lowering

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        out = {}
        for label, option in zip(self.decision.options, self.options, strict=True):
            out[label] = check.within(f"OneOf {self.name!r} option {label!r}", option, rank)
        if len(set(out.values())) > 1:
            kinds = ", ".join(f"{label!r} gives {describe_shape(r)}" for label, r in out.items())
            raise check.fail(f"OneOf {self.name!r}: its options must give one kind of output, but {kinds}")
        return next(iter(out.values()))

    def lower(self, ctx: Lowering, x: str) -> str:
        if ctx.cells is not None:
            return ctx.cells.call(self, ctx, x)
        option = self.option(ctx.value(self.decision))
        if option.composite:
            with ctx.scope(prefix=f"{ctx.prefix}_{self.name}" if ctx.prefix else self.name):
                return option.lower(ctx, x)
        with ctx.scope(kind=self.name):
            return option.lower(ctx, x)

    def label(self) -> str:
        return f"OneOf({self.name!r})"

    def __repr__(self) -> str:
        pairs = zip(self.decision.options, self.options, strict=True)
        options = ", ".join(f"{label!r}: {layer!r}" for label, layer in pairs)
        return f"OneOf({self.name!r}, {{{options}}})"


class Repeat(Layer):
    """``block`` applied ``depth`` times, each repetition with its own decisions.

    A choice ``width`` inside the block is decided per repetition, as ``width[0]``,
    ``width[1]``, ...; the genotype holds them up to the largest depth, and the space's
    ``key`` leaves out those of repetitions beyond the chosen depth.
    """

    composite = True

    def __init__(self, block: Layer, depth: Value) -> None:
        self.block = _layer(block, "Repeat's block")
        self.depth = check_argument("Repeat", "depth", depth, integer(0, MAX_DEPTH))

    @property
    def max_depth(self) -> int:
        return max(self.depth.options) if isinstance(self.depth, Decision) else self.depth

    def depths(self) -> tuple[int, ...]:
        return self.depth.options if isinstance(self.depth, Decision) else (self.depth,)

    def parts(self) -> Iterator[tuple[str, Any]]:
        for index in range(self.max_depth):
            yield "repeat", (self.block, index)
        yield "arg", self.depth

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        ranks = [rank]
        for index in range(self.max_depth):
            ranks.append(check.within(f"Repeat repetition {index}", self.block, ranks[-1]))
        out = {d: ranks[d] for d in self.depths()}
        if len(set(out.values())) > 1:
            kinds = ", ".join(f"depth {d} gives {describe_shape(r)}" for d, r in out.items())
            raise check.fail(f"Repeat: every depth must give one kind of output, but {kinds}")
        return next(iter(out.values()))

    def lower(self, ctx: Lowering, x: str) -> str:
        for index in range(ctx.value(self.depth)):
            with ctx.scope(suffix=f"[{index}]", prefix=ctx.repetition_prefix()):
                x = self.block.lower(ctx, x)
        return x

    def label(self) -> str:
        return f"Repeat(depth={show_argument(self.depth)})"

    def __repr__(self) -> str:
        return f"Repeat({self.block!r}, depth={self.depth!r})"


class Residual(Layer):
    """``x + block(x)`` when ``enabled``; where the shapes differ ``x`` is projected first.

    The projection is a linear layer for vectors, and a 1×1 convolution (strided when the
    block is) followed by batch normalisation for sequences and feature maps.
    """

    composite = True

    def __init__(self, block: Layer, enabled: Value = True) -> None:
        self.block = _layer(block, "Residual's block")
        self.enabled = check_argument("Residual", "enabled", enabled, boolean)

    def parts(self) -> Iterator[tuple[str, Any]]:
        yield "layer", self.block
        yield "arg", self.enabled

    def rank(self, rank: int, check: RankCheck) -> int:
        check.steps += 1
        out = check.within("Residual", self.block, rank)
        if out != rank:
            raise check.fail(
                f"Residual's block turns {describe_shape(rank)} into {describe_shape(out)}; "
                f"a skip connection adds its input to its output, so they must be of one kind"
            )
        return rank

    def lower(self, ctx: Lowering, x: str) -> str:
        y = self.block.lower(ctx, x)
        if not ctx.value(self.enabled):
            return y
        source, target = ctx.shape(x), ctx.shape(y)
        label = self.label()
        if source != target:
            if len(source) == 1:
                attrs = {"in_features": source[0], "out_features": target[0]}
                x = ctx.emit("proj", "linear", (x,), attrs, label)
            else:
                stride = _projection_stride(source[1:], target[1:])
                if stride is None:
                    raise ctx.error(
                        ctx.name("residual"),
                        label,
                        f"the block maps {source} to {target}, which no strided 1x1 projection of the input matches",
                    )
                attrs = {"in_channels": source[0], "out_channels": target[0], "kernel_size": 1, "stride": stride}
                x = ctx.emit("proj", _CONV[len(source)], (x,), attrs, label)
                x = ctx.emit("proj_bn", _BATCHNORM[len(source)], (x,), {"num_features": target[0]}, label)
        return ctx.emit("residual", "add", (x, y), {}, label)

    def label(self) -> str:
        return f"Residual(enabled={show_argument(self.enabled)})"

    def __repr__(self) -> str:
        return f"Residual({self.block!r}, enabled={self.enabled!r})"


def _projection_stride(source: tuple[int, ...], target: tuple[int, ...]) -> int | None:
    """The stride ``s`` with ``ceil(n / s) == m`` for every dimension, as a 1×1 conv computes."""
    for stride in range(1, MAX_STRIDE + 1):
        if all(-(-n // stride) == m for n, m in zip(source, target, strict=True)):
            return stride
    return None
