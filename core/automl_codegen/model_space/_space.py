"""``ModelSpace``: a declaration, checked once; called with an input shape, a :class:`SearchSpace`."""

from __future__ import annotations

import copy
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..architecture import Architecture
from ..errors import ArchitectureError, ConfigError, shown
from ..space import Choice, SearchSpace
from ..supernet import SupernetDescription
from . import _oneshot
from ._choices import Decision, same_value
from ._layers import Layer, OneOf, RankCheck, Repeat
from ._lowering import Lowering, describe_shape

__all__ = ["MAX_CHOICES", "DeclaredSpace", "ModelSpace"]

_SPACE_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")
#: Most decisions a declaration may expand to (repetitions included).
MAX_CHOICES = 4096
_PLURAL = {1: "(F,) vectors", 2: "(C, L) sequences", 3: "(C, H, W) feature maps"}
#: How many names a message lists before it says "..." instead.
_LISTED = 12


def _listing(values: Sequence[Any]) -> str:
    shown_values = ", ".join(shown(v, 40) for v in values[:_LISTED])
    return shown_values + (f", ... ({len(values)} in all)" if len(values) > _LISTED else "")


def _is_int(value: object) -> bool:
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _collect(name: str, body: Layer) -> tuple[tuple[Choice, ...], dict[str, Decision]]:
    """The decisions of a declaration in source order, repetitions expanded (``width[0]``, ...)."""
    entries: dict[str, Decision] = {}
    by_name: dict[str, Decision] = {}
    enclosing: dict[int, tuple[int, ...]] = {}

    def visit(decision: Decision, suffix: str, repeats: tuple[int, ...]) -> None:
        if by_name.setdefault(decision.name, decision) is not decision:
            msg = (
                f"model space {name!r}: two different choices are named {decision.name!r}; rename one, "
                f"or use one choice object in both places to make them one decision"
            )
            raise ConfigError(msg)
        if enclosing.setdefault(id(decision), repeats) != repeats:
            msg = (
                f"model space {name!r}: choice {decision.name!r} is used both inside a Repeat, where it is "
                f"decided per repetition ({decision.name + '[0]'!r}, {decision.name + '[1]'!r}, ...), and "
                f"outside it or in another Repeat; use a separate choice in each place"
            )
            raise ConfigError(msg)
        entries.setdefault(decision.name + suffix, decision)
        if len(entries) > MAX_CHOICES:
            msg = f"model space {name!r} has more than {MAX_CHOICES} choices once its repetitions are counted"
            raise ConfigError(msg)

    def walk(layer: Layer, suffix: str, repeats: tuple[int, ...]) -> None:
        for kind, item in layer.parts():
            if kind == "arg":
                if isinstance(item, Decision):
                    visit(item, suffix, repeats)
            elif kind == "layer":
                walk(item, suffix, repeats)
            else:
                child, index = item
                walk(child, f"{suffix}[{index}]", (*repeats, id(layer)))

    walk(body, "", ())
    return tuple(Choice(full, d.options) for full, d in entries.items()), entries


def _active(layer: Layer, suffix: str, genotype: Mapping[str, Any], out: set[str]) -> None:
    """Add to ``out`` the choices that ``genotype`` reads when it is lowered."""

    def read(value: Any) -> Any:
        if not isinstance(value, Decision):
            return value
        out.add(value.name + suffix)
        return genotype[value.name + suffix]

    if isinstance(layer, Repeat):
        for index in range(read(layer.depth)):
            _active(layer.block, f"{suffix}[{index}]", genotype, out)
    elif isinstance(layer, OneOf):
        _active(layer.option(read(layer.decision)), suffix, genotype, out)
    else:
        for kind, item in layer.parts():
            if kind == "arg":
                read(item)
            else:
                _active(item, suffix, genotype, out)


def _class_name(space: str) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in space.split("-"))
    return name if len(name) >= 2 else f"{name}Net"


class ModelSpace:
    """A search space declared in Python; call it like any registered space factory.

    ``ModelSpace("my-mlp", body)(input_shape, num_classes)`` is a :class:`DeclaredSpace`
    for that input. The declaration is checked here, once: choice names, and that the
    layers fit together for some input (``(F,)``, ``(C, L)`` or ``(C, H, W)``).

    Args:
        name: the space's name (lower-case letters, digits and dashes), recorded by runs.
        body: the network, a layer or combinator (:class:`Sequential`, :class:`Repeat`, ...).
        head: append the classifier: ``global_avg_pool`` if the body ends in a feature
            map or sequence, then ``linear`` to ``num_classes`` outputs. Without it the
            body must end in a vector of ``num_classes`` values.

    Raises:
        ConfigError: naming the problem: an invalid name, two different choices of one
            name, a choice used inside and outside a Repeat, or layers that fit no input.
    """

    def __init__(self, name: str, body: Layer, *, head: bool = True) -> None:
        if not isinstance(name, str) or not _SPACE_NAME.match(name) or len(name) > 64:
            msg = (
                f"model space name {shown(name)} is not valid: use lower-case letters, digits and "
                f"dashes, starting with a letter (at most 64 characters), e.g. 'my-mlp'"
            )
            raise ConfigError(msg)
        if not isinstance(body, Layer):
            msg = f"model space {name!r}: the body must be a layer (Linear, Conv, Sequential, ...), got {shown(body)}"
            raise ConfigError(msg)
        if not isinstance(head, bool):
            msg = f"model space {name!r}: head must be True or False, got {shown(head)}"
            raise ConfigError(msg)
        self.name = name
        self.body = body
        self.head = head
        #: The declared choices, repetitions expanded, in the order a built space lists them.
        self.declared_choices, self._decisions = _collect(name, body)
        self._rank_errors: dict[int, ConfigError] = {}
        for rank in (1, 2, 3):
            try:
                self._rank(rank)
            except ConfigError as exc:
                self._rank_errors[rank] = exc
        #: The input ranks the declaration fits: 1 (vectors), 2 (sequences), 3 (feature maps).
        self.input_ranks = tuple(r for r in (1, 2, 3) if r not in self._rank_errors)
        if not self.input_ranks:
            rank, error = max(self._rank_errors.items(), key=lambda item: (item[1].steps, item[0]))
            msg = f"model space {name!r} fits no input; with {describe_shape(rank)} as input, {error}"
            raise ConfigError(msg)

    def _rank(self, rank: int) -> int:
        check = RankCheck()
        out = self.body.rank(rank, check)
        if not self.head and out != 1:
            check.steps += 1
            ends = describe_shape(out)
            raise check.fail(f"with head=False the body must end in a vector of outputs, but ends in {ends}")
        return out

    def __call__(self, input_shape: Sequence[int], num_classes: int, **options: Any) -> DeclaredSpace:
        if options:
            msg = (
                f"space {self.name!r} is declared in Python and takes no options; got "
                f"{', '.join(map(repr, sorted(options)))} (change the declaration instead)"
            )
            raise ConfigError(msg)
        return DeclaredSpace(self, input_shape, num_classes)

    def __repr__(self) -> str:
        return f"ModelSpace({self.name!r}, {self.body!r}, head={self.head!r})"


class DeclaredSpace(SearchSpace):
    """The :class:`SearchSpace` of a :class:`ModelSpace` for one input shape and output count.

    A genotype is a JSON object ``{choice name: option value}`` with every choice of
    :meth:`choices`, in that order: ``{"width[0]": 64, "norm[0]": "batch", ..., "depth": 2}``.
    """

    def __init__(self, model: ModelSpace, input_shape: Sequence[int], num_classes: int) -> None:
        try:
            shape = () if isinstance(input_shape, str | bytes | Mapping) else tuple(input_shape)
        except TypeError:
            shape = ()
        if not 1 <= len(shape) <= 3 or not all(_is_int(d) and d >= 1 for d in shape):
            msg = (
                f"space {model.name!r} needs input_shape (F,), (C, L) or (C, H, W) of positive integers, "
                f"got {shown(input_shape)}"
            )
            raise ConfigError(msg)
        if not _is_int(num_classes) or num_classes < 1:
            msg = f"space {model.name!r} needs a positive integer num_classes, got {shown(num_classes)}"
            raise ConfigError(msg)
        shape = tuple(int(d) for d in shape)
        if len(shape) not in model.input_ranks:
            takes = " or ".join(_PLURAL[r] for r in model.input_ranks)
            msg = (
                f"space {model.name!r} takes {takes}, not inputs of shape {shape}; "
                f"with {describe_shape(len(shape))} as input, {model._rank_errors[len(shape)]}"
            )
            raise ConfigError(msg)
        super().__init__(shape, int(num_classes))
        self.model = model
        self.name = model.name
        self._choices = model.declared_choices
        self._position = {c.name: i for i, c in enumerate(self._choices)}

    # -- encoding ----------------------------------------------------------------------------

    def choices(self) -> list[Choice]:
        return list(self._choices)

    def decode(self, indices: Sequence[int]) -> dict[str, Any]:
        choices = self._choices
        if len(indices) != len(choices):
            msg = f"space {self.name!r} decodes {len(choices)} indices (one per choice), got {len(indices)}"
            raise ConfigError(msg)
        genotype = {}
        for choice, index in zip(choices, indices, strict=True):
            if not _is_int(index) or not 0 <= index < len(choice.options):
                msg = f"choice {choice.name!r}: index {shown(index)} is outside 0..{len(choice.options) - 1}"
                raise ConfigError(msg)
            value = choice.options[int(index)]
            genotype[choice.name] = copy.deepcopy(value) if isinstance(value, list | dict) else value
        return genotype

    def encode(self, genotype: Any) -> list[int]:
        if not isinstance(genotype, Mapping):
            msg = (
                f"a genotype of space {self.name!r} is a dict {{choice name: value}} such as "
                f"{shown(self.default_genotype(), 120)}, got {shown(genotype)}"
            )
            raise ConfigError(msg)
        unknown = [key for key in genotype if key not in self._position]
        if unknown:
            msg = (
                f"space {self.name!r} has no choice {shown(unknown[0])}; its choices are "
                f"{_listing([c.name for c in self._choices])}"
            )
            raise ConfigError(msg)
        indices = []
        for choice in self._choices:
            options = _listing(choice.options)
            if choice.name not in genotype:
                msg = f"the genotype lacks choice {choice.name!r} of space {self.name!r}; its options are {options}"
                raise ConfigError(msg)
            value = genotype[choice.name]
            index = next((i for i, o in enumerate(choice.options) if same_value(value, o)), None)
            if index is None:
                msg = f"choice {choice.name!r} is {shown(value)}, not one of its options: {options}"
                raise ConfigError(msg)
            indices.append(index)
        return indices

    def active_choices(self, genotype: Any) -> list[str]:
        """The choices ``genotype`` uses, in :meth:`choices` order: not those of repetitions
        beyond its depth, nor those inside the options a OneOf did not choose."""
        canonical = self.decode(self.encode(genotype))
        used: set[str] = set()
        _active(self.model.body, "", canonical, used)
        return [c.name for c in self._choices if c.name in used]

    def key(self, genotype: Any) -> str:
        """Equal for genotypes that differ only in choices they do not use (see :meth:`active_choices`)."""
        canonical = self.decode(self.encode(genotype))
        return super().key({name: canonical[name] for name in self.active_choices(canonical)})

    def default_genotype(self) -> dict[str, Any]:
        """The first option of every choice."""
        return self.decode([0] * len(self._choices))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "head": self.model.head,
            "declaration": repr(self.model.body),
        }

    # -- lowering ----------------------------------------------------------------------------

    def to_architecture(self, genotype: Any) -> Architecture:
        """Lower ``genotype`` with shape inference (ConfigError: not of this space;
        ArchitectureError: its layers do not fit, naming the node, the layer and the choices)."""
        return self.lower(genotype)

    def lower(self, genotype: Any, cells: Any = None) -> Architecture:
        """:meth:`to_architecture`; with ``cells``, every OneOf and Cell is a call to a cell block
        that ``cells.call`` makes (a supernet's skeleton)."""
        canonical = self.decode(self.encode(genotype))
        ctx = Lowering(self.name, canonical, self.input_shape)
        ctx.cells = cells
        out = self.model.body.lower(ctx, Architecture.INPUT)
        with ctx.scope(prefix=""):
            if self.model.head:
                if len(ctx.shape(out)) > 1:
                    out = ctx.emit("pool", "global_avg_pool", (out,), {}, "the head's pooling")
                attrs = {"in_features": ctx.shape(out)[0], "out_features": self.num_classes}
                out = ctx.emit("classifier", "linear", (out,), attrs, "the head's classifier")
            elif ctx.shape(out) != (self.num_classes,):
                raise ctx.error(
                    out,
                    "the body's output",
                    f"with head=False the body must end in ({self.num_classes},) for num_classes={self.num_classes}, "
                    f"got {ctx.shape(out)}",
                )
        if out == Architecture.INPUT:
            msg = f"space {self.name!r}: the body computes nothing for {shown(canonical, 120)}; add a layer"
            raise ArchitectureError(msg)
        try:
            return Architecture(
                input_shape=self.input_shape,
                num_classes=self.num_classes,
                nodes=ctx.nodes,
                output=out,
                blocks=ctx.blocks,
                name=_class_name(self.name),
            )
        except ArchitectureError as exc:
            raise ArchitectureError(f"space {self.name!r}: {exc}") from None

    # -- one-shot search (darts, enas) -------------------------------------------------------

    def supernet_description(self, *, partial_channels: int = 1, **sizes: Any) -> SupernetDescription:
        """The supernet of a space whose only choices are OneOf and Cell edges (see
        :mod:`automl_codegen.model_space._oneshot`); a ConfigError naming the other choices otherwise.
        The supernet is the declared network: there are no size options."""
        return _oneshot.supernet(self, partial_channels, **sizes)

    def genotype_from_weights(self, weights: Mapping[str, Any]) -> dict[str, Any]:
        """The genotype of the strongest op per edge, from one weight matrix per cell kind."""
        return _oneshot.genotype_from_weights(self, weights)

    def genotype_weights(self, genotype: Any) -> dict[str, list[list[float]]]:
        """One-hot weights per cell kind selecting ``genotype``."""
        return _oneshot.genotype_weights(self, genotype)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DeclaredSpace, (self.model, self.input_shape, self.num_classes))
