"""``chain-cnn``: a macro search space of stacked convolutional stages for image classification.

The network is a stem (3×3 conv → BN → ReLU; stride 2 for inputs of 28×28 and larger,
where full-resolution stages would cost most of a search's time), then ``num_stages`` stages, then global
average pooling, optional dropout and a linear classifier. Every stage picks its layer
type (plain conv, depthwise-separable conv or MobileNetV2 inverted residual), kernel
size, width, depth, stride, whether to add identity shortcuts, and the expansion ratio
of the inverted residual.

A genotype is JSON::

    {"stages": [{"op": "mbconv", "kernel": 3, "width": 32, "depth": 2,
                 "stride": 2, "skip": true, "expand": 4}, ...]}

Every genotype is valid for every input size: convolutions use odd kernels with
``padding = k // 2``, so a layer maps size ``n`` to ``ceil(n / stride)`` and a 1×1 map
stays 1×1 under stride 2. No stride needs clamping, and the architecture's structure
does not depend on the input size.

Lowering keeps repeated structure grouped: one :class:`Block` per layer kind (op,
kernel, with or without shortcut), parameterised by channels and stride, so generated
code has one class per kind however deep the network is.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import attrs

from automl_codegen import Architecture, Block, Choice, ConfigError, Node, SearchSpace, hookimpl
from automl_codegen.options import OptionError, PluginOptions, check, finite_number, positive_int, structure_options

__all__ = ["ChainCNNOptions", "ChainCNNSpace"]

OPS = ("conv", "dsconv", "mbconv")
#: More stages than any chain network needs; a larger value is a typo, refused before
#: a million-stage genotype is sampled.
MAX_STAGES = 64
#: Inputs at least this many pixels on both sides get a stride-2 stem by default.
DOWNSAMPLE_FROM = 28
STRIDES = (1, 2)
SKIPS = (False, True)
#: The decisions of one stage, in the order of :meth:`ChainCNNSpace.choices`.
FIELDS = ("op", "kernel", "width", "depth", "stride", "skip", "expand")

# Block class names per op; the kernel size and "Residual" are appended (MBConv3Residual).
_KIND_NAMES = {"conv": "ConvBnRelu", "dsconv": "DepthwiseSeparable", "mbconv": "MBConv"}
_STEM_KERNEL = 3


@hookimpl
def register_search_spaces(register):
    register("chain-cnn", ChainCNNSpace)


def _is_int(value: object) -> bool:
    # numpy integers count (a dataset may report its shape with them); bools do not.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _distinct_ints(value: object, least: int) -> bool:
    raw = tuple(value) if isinstance(value, list | tuple) else ()
    return bool(raw) and all(_is_int(v) and v >= least for v in raw) and len({int(v) for v in raw}) == len(raw)


# "must list ..." and "must hold ...": the list options word their problem themselves.
_LIST_MESSAGE = "{owner} option {name!r} must {expected}, got {value!r}"


def _int_set(default: tuple[int, ...], help: str, *, least: int = 1, odd: bool = False) -> Any:
    """A field holding a non-empty tuple of distinct ints >= ``least`` (odd ones if ``odd``)."""
    kind = "positive" if least == 1 else "non-negative"
    validators = [check(lambda v: _distinct_ints(v, least), f"list distinct {kind} integers", message=_LIST_MESSAGE)]
    if odd:
        # Only odd kernels keep "same" padding (k // 2) symmetric; even ones grow the map.
        validators.append(check(lambda v: all(int(k) % 2 for k in v), "hold odd kernel sizes", message=_LIST_MESSAGE))

    def convert(value: Any) -> Any:
        # Only a good value becomes a tuple of ints: a bad one is reported as it was given.
        good = _distinct_ints(value, least) and (not odd or all(int(k) % 2 for k in value))
        return tuple(int(v) for v in value) if good else value

    return attrs.field(default=default, converter=convert, validator=validators, metadata={"help": help})


@attrs.frozen(kw_only=True)
class ChainCNNOptions(PluginOptions):
    """The options of :class:`ChainCNNSpace`, checked (see its docstring)."""

    invalid_message = "{owner} option {name!r} must be {expected}, got {value!r}"

    num_stages: int = attrs.field(
        default=3,
        validator=check(lambda v: _is_int(v) and 1 <= v <= MAX_STAGES, f"an integer from 1 to {MAX_STAGES}"),
        metadata={"help": f"stages after the stem, at most {MAX_STAGES}"},
    )
    widths: tuple[int, ...] = _int_set((8, 16, 24, 32, 48, 64), "output channel counts a stage may pick")
    kernel_sizes: tuple[int, ...] = _int_set((3, 5), "odd kernel sizes a stage may pick", odd=True)
    depths: tuple[int, ...] = _int_set((1, 2, 3), "layer counts a stage may pick (0: an empty stage)", least=0)
    expand_ratios: tuple[int, ...] = _int_set((2, 4, 6), "inverted-residual expansion ratios (mbconv)")
    stem_width: int = attrs.field(
        default=16,
        validator=positive_int(expected="a positive integer"),
        metadata={"help": "output channels of the stem convolution"},
    )
    stem_stride: int | None = attrs.field(
        default=None,
        validator=check(lambda v: _is_int(v) and v in (1, 2), "1, 2 or None", optional=True),
        metadata={"help": "stride of the stem: 1, 2, or None for 2 on inputs of 28×28 and larger"},
    )
    dropout: float = attrs.field(
        default=0.0,
        validator=finite_number(0, 1, high_open=True),
        metadata={"help": "dropout probability before the classifier, in [0, 1)"},
    )

    def __attrs_post_init__(self) -> None:
        # Fail here rather than on some sampled genotype: the IR bounds kernels and channels.
        owner = type(self).__name__
        if max(self.kernel_sizes) > 31:
            template = "{owner} option 'kernel_sizes' allows at most 31, got {kernel_sizes}"
            raise OptionError(template, owner=owner, kernel_sizes=list(self.kernel_sizes))
        channels = max(self.widths) * max(self.expand_ratios)
        if channels > 1 << 16:
            template = "{owner} options 'widths' × 'expand_ratios' reach {channels} channels, more than 65536"
            raise OptionError(template, owner=owner, channels=channels)


def _positive_int(name: str, value: object) -> int:
    if not _is_int(value) or value < 1:
        msg = f"chain-cnn option {name!r} must be a positive integer, got {value!r}"
        raise ConfigError(msg)
    return int(value)


def _nearest(options: Sequence[int], target: int) -> int:
    return min(options, key=lambda o: (abs(o - target), o))


def _show(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) for v in values)


class _Layer(NamedTuple):
    """One layer of the chain: where it sits and how it connects."""

    stage: int  # 1-based, as in the node names stage1_0, stage1_1, ...
    index: int
    genes: dict[str, Any]
    c_in: int
    c_out: int
    stride: int
    shortcut: bool


def _same_value(value: object, option: object) -> bool:
    if isinstance(value, bool) or isinstance(option, bool):
        # True == 1 in Python; a genotype with "stride": true must not pass for stride 1.
        return type(value) is type(option) and value == option
    if isinstance(option, int):
        return _is_int(value) and value == option  # 32, not 32.0 or "32"
    return value == option


class ChainCNNSpace(SearchSpace):
    """Stages of conv / depthwise-separable / inverted-residual layers, chosen per stage.

    Args:
        input_shape: per-sample input ``(C, H, W)``.
        num_classes: number of output logits.
        num_stages: how many stages follow the stem.
        widths: output channel counts a stage may pick.
        kernel_sizes: odd kernel sizes a stage may pick.
        depths: layer counts a stage may pick. 0 is allowed: a stage of depth 0 is
            empty (its other decisions change nothing), which lets a hardware-aware
            search reach networks shallower than ``num_stages`` layers, the cheap end
            of a latency front.
        expand_ratios: inverted-residual expansion ratios (used by ``mbconv`` stages only,
            but always part of the encoding so it has a fixed length). A ratio of 1 keeps
            the 1×1 expansion conv, which MobileNetV2 would drop.
        stem_width: output channels of the stem convolution.
        stem_stride: 1 or 2; by default 2 when both sides of the input are at least
            :data:`DOWNSAMPLE_FROM` (28) pixels: a first trial at full MNIST
            resolution costs four times as much, for little accuracy.
        dropout: dropout probability before the classifier; 0 leaves it out.

    Raises:
        ConfigError: an option is out of range; the message names it.
    """

    name = "chain-cnn"

    Options = ChainCNNOptions

    def __init__(self, input_shape: Sequence[int], num_classes: int, **options: Any) -> None:
        shape = tuple(input_shape) if isinstance(input_shape, list | tuple) else ()
        if len(shape) != 3 or not all(_is_int(d) and d >= 1 for d in shape):
            msg = f"chain-cnn needs input_shape (C, H, W) of positive integers, got {input_shape!r}"
            raise ConfigError(msg)
        super().__init__(tuple(int(d) for d in shape), _positive_int("num_classes", num_classes))
        self.options = o = structure_options(self.Options, options, owner=self.name)
        self.num_stages = int(o.num_stages)
        self.widths = o.widths
        self.kernel_sizes = o.kernel_sizes
        self.depths = o.depths
        self.expand_ratios = o.expand_ratios
        self.stem_width = int(o.stem_width)
        downsample = min(self.input_shape[1:]) >= DOWNSAMPLE_FROM
        self.stem_stride = int(o.stem_stride) if o.stem_stride is not None else (2 if downsample else 1)
        self.dropout = float(o.dropout)
        self._options = {
            "op": OPS,
            "kernel": self.kernel_sizes,
            "width": self.widths,
            "depth": self.depths,
            "stride": STRIDES,
            "skip": SKIPS,
            "expand": self.expand_ratios,
        }

    # -- encoding ------------------------------------------------------------------------

    def choices(self) -> list[Choice]:
        return [
            Choice(f"stage{i}.{field}", self._options[field]) for i in range(1, self.num_stages + 1) for field in FIELDS
        ]

    def decode(self, indices: Sequence[int]) -> dict[str, Any]:
        choices = self.choices()
        if len(indices) != len(choices):
            msg = f"chain-cnn decodes {len(choices)} indices, got {len(indices)}"
            raise ConfigError(msg)
        values = []
        for choice, index in zip(choices, indices, strict=True):
            if not 0 <= index < len(choice.options):
                msg = f"{choice.name}: index {index} is outside 0..{len(choice.options) - 1}"
                raise ConfigError(msg)
            values.append(choice.options[index])
        n = len(FIELDS)
        return {"stages": [dict(zip(FIELDS, values[i : i + n], strict=True)) for i in range(0, len(values), n)]}

    def encode(self, genotype: Any) -> list[int]:
        stages = genotype.get("stages") if isinstance(genotype, dict) else None
        if not isinstance(stages, list):
            msg = f'a chain-cnn genotype is {{"stages": [...]}}, got {genotype!r}'
            raise ConfigError(msg)
        if len(stages) != self.num_stages:
            msg = f"genotype has {len(stages)} stages, but the space has num_stages={self.num_stages}"
            raise ConfigError(msg)
        indices = []
        for number, stage in enumerate(stages, start=1):
            if not isinstance(stage, dict):
                msg = f"stage {number} must be a dict with keys {_show(FIELDS)}, got {stage!r}"
                raise ConfigError(msg)
            unknown = sorted(set(stage) - set(FIELDS), key=str)
            if unknown:
                msg = f"stage {number} has unknown key {unknown[0]!r}; the keys are {_show(FIELDS)}"
                raise ConfigError(msg)
            for field in FIELDS:
                options = self._options[field]
                if field not in stage:
                    msg = f"stage {number} is missing {field!r}; allowed values: {_show(options)}"
                    raise ConfigError(msg)
                found = [i for i, o in enumerate(options) if _same_value(stage[field], o)]
                if not found:
                    msg = (
                        f"stage {number} {field!r} is {stage[field]!r}, not one of the allowed values: {_show(options)}"
                    )
                    raise ConfigError(msg)
                indices.append(found[0])
        return indices

    def key(self, genotype: Any) -> str:
        """Equal for genotypes that lower to the same network.

        ``expand`` of a non-mbconv stage, ``skip`` of a stage with no layer that can
        take a shortcut, and every decision of an empty (depth 0) stage change nothing,
        so they are normalised before hashing; strategies that de-duplicate by key then
        do not train one network twice.
        """
        canonical = self.decode(self.encode(genotype))
        for stage, has_shortcut in zip(canonical["stages"], self._shortcut_stages(canonical), strict=True):
            if stage["depth"] == 0:
                stage.update({field: self._options[field][0] for field in FIELDS if field != "depth"})
                continue
            if stage["op"] != "mbconv":
                stage["expand"] = self.expand_ratios[0]
            if not has_shortcut:
                stage["skip"] = False
        return super().key(canonical)

    def default_genotype(self) -> dict[str, Any]:
        """A hand-designed baseline: a plain conv stage, then strided inverted residuals.

        With the default options it is conv 16 → mbconv 32 (stride 2) → mbconv 64
        (stride 2), 3×3 kernels, expansion 4; other options get the nearest allowed
        values, so it is always in the space. The stage-1 conv has no shortcut, so it
        shares its class with the stem.
        """
        stages = []
        for i in range(self.num_stages):
            first = i == 0
            stages.append(
                {
                    "op": "conv" if first else "mbconv",
                    "kernel": _nearest(self.kernel_sizes, 3),
                    "width": _nearest(self.widths, self.stem_width * 2**i),
                    "depth": _nearest(self.depths, 1 if first else 2),
                    "stride": 1 if first else 2,
                    "skip": not first,
                    "expand": _nearest(self.expand_ratios, 4),
                }
            )
        return {"stages": stages}

    # -- lowering ------------------------------------------------------------------------

    def _layers(self, genotype: dict[str, Any]) -> list[_Layer]:
        """The layers of a (well-formed) genotype, stem excluded."""
        layers = []
        channels = self.stem_width
        for number, stage in enumerate(genotype["stages"], start=1):
            for j in range(stage["depth"]):
                stride = stage["stride"] if j == 0 else 1
                # Shapes match exactly when stride is 1 and width is unchanged, whatever
                # the input size; deciding it structurally keeps the network size-independent.
                shortcut = stage["skip"] and stride == 1 and channels == stage["width"]
                layers.append(_Layer(number, j, stage, channels, stage["width"], stride, shortcut))
                channels = stage["width"]
        return layers

    def _shortcut_stages(self, genotype: dict[str, Any]) -> list[bool]:
        """Per stage, whether ``skip=True`` would give any layer a shortcut."""
        has = [False] * self.num_stages
        for layer in self._layers(genotype):
            if layer.stride == 1 and layer.c_in == layer.c_out:
                has[layer.stage - 1] = True
        return has

    def to_architecture(self, genotype: Any) -> Architecture:
        """Lower a genotype to the IR (a :class:`ConfigError` if it is malformed)."""
        genotype = self.decode(self.encode(genotype))
        blocks: dict[str, Block] = {}

        def call(name: str, inputs: str, op: str, kernel: int, shortcut: bool, **params: int) -> Node:
            block = _layer_block(op, kernel, shortcut)
            blocks.setdefault(block.name, block)
            return Node(name, "block", (inputs,), params, block=block.name)

        # The stem is a ConvBnRelu3 like any 3×3 conv layer, so the two share one class.
        stem = call(
            "stem",
            Architecture.INPUT,
            "conv",
            _STEM_KERNEL,
            False,
            c_in=self.input_shape[0],
            c_out=self.stem_width,
            stride=self.stem_stride,
        )
        nodes = [stem]
        layers = self._layers(genotype)
        for layer in layers:
            op, kernel = layer.genes["op"], layer.genes["kernel"]
            if layer.shortcut:
                params = {"channels": layer.c_out}
            else:
                params = {"c_in": layer.c_in, "c_out": layer.c_out, "stride": layer.stride}
            if op == "mbconv":
                params["hidden"] = layer.c_in * layer.genes["expand"]
            name = f"stage{layer.stage}_{layer.index}"
            nodes.append(call(name, nodes[-1].name, op, kernel, layer.shortcut, **params))
        nodes.append(Node("pool", "global_avg_pool", (nodes[-1].name,)))
        if self.dropout > 0:
            nodes.append(Node("dropout", "dropout", ("pool",), {"p": self.dropout}))
        # Not the last stage's width: that stage may be empty (depth 0).
        width = layers[-1].c_out if layers else self.stem_width
        nodes.append(
            Node(
                "classifier",
                "linear",
                (nodes[-1].name,),
                {"in_features": width, "out_features": self.num_classes},
            )
        )
        return Architecture(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            nodes=nodes,
            output="classifier",
            blocks=list(blocks.values()),
            name="ChainCNN",
        )


# -- block kinds ---------------------------------------------------------------------------


def _conv_bn(prefix: str, source: str, act: str | None, **conv: Any) -> list[Node]:
    """conv (or depthwise conv when ``channels`` is given) → BN → optional activation."""
    op = "depthwise_conv2d" if "channels" in conv else "conv2d"
    width = conv.get("channels", conv.get("out_channels"))
    nodes = [
        Node(prefix, op, (source,), conv),
        Node(f"{prefix}_bn", "batchnorm2d", (prefix,), {"num_features": width}),
    ]
    if act is not None:
        nodes.append(Node(f"{prefix}_act", act, (f"{prefix}_bn",)))
    return nodes


def _layer_block(op: str, kernel: int, shortcut: bool) -> Block:
    """The block of one layer kind; equal arguments give equal (hashable) blocks.

    A shortcut block has equal in/out channels and stride 1 by construction, so it takes
    one ``channels`` parameter; a plain block takes ``c_in``, ``c_out`` and ``stride``.
    mbconv blocks also take ``hidden``, the expanded channel count (c_in × ratio).
    """
    c_in, c_out, stride = ("channels", "channels", 1) if shortcut else ("c_in", "c_out", "stride")
    params = ["channels"] if shortcut else ["c_in", "c_out", "stride"]
    pad = kernel // 2
    if op == "conv":
        body = _conv_bn(
            "conv",
            "x",
            "relu",
            in_channels=c_in,
            out_channels=c_out,
            kernel_size=kernel,
            stride=stride,
            padding=pad,
        )
    elif op == "dsconv":
        # MobileNet v1: a depthwise k×k filter per channel, then a 1×1 conv mixes channels.
        body = _conv_bn("dw", "x", "relu", channels=c_in, kernel_size=kernel, stride=stride, padding=pad)
        body += _conv_bn("pw", body[-1].name, "relu", in_channels=c_in, out_channels=c_out, kernel_size=1)
    else:
        # MobileNet v2: expand 1×1 → depthwise k×k → project 1×1; no activation after the
        # projection (linear bottleneck), since ReLU there destroys low-dimensional features.
        params.insert(1, "hidden")
        body = _conv_bn("expand", "x", "relu6", in_channels=c_in, out_channels="hidden", kernel_size=1)
        body += _conv_bn(
            "dw",
            body[-1].name,
            "relu6",
            channels="hidden",
            kernel_size=kernel,
            stride=stride,
            padding=pad,
        )
        body += _conv_bn("project", body[-1].name, None, in_channels="hidden", out_channels=c_out, kernel_size=1)
    if shortcut:
        body.append(Node("residual", "add", ("x", body[-1].name)))
    name = f"{_KIND_NAMES[op]}{kernel}{'Residual' if shortcut else ''}"
    return Block(name=name, inputs=("x",), params=params, nodes=body, output=body[-1].name)
