"""How emitted code is organised: one class per block kind, twins merged, repeats in loops.

The IR keeps a network as a flat graph of block calls with integer parameters. Written
out as it stands, that is code nobody would write: twenty ``self.cellN = ...`` lines,
parameters that are always ``c // 2`` of another, two classes that differ in one
submodule, literal channel counts. :func:`plan` decides what the emitters write instead;
both emitters (PyTorch and Keras) follow the same plan, so their code has one shape.

* **Derived parameters.** Inside a block, the channel counts of its nodes must agree
  (a batch norm after two concatenated convs of ``c_half`` channels has ``c_out`` of
  them), so some parameters follow from others. :func:`_analyse_block` solves those
  equations and drops a parameter that is a fixed multiple or fraction of another
  (``c_half`` becomes ``c_out // 2``).
* **Twins.** Two blocks whose names differ by a suffix (``NormalCell`` and
  ``NormalCellReductionPrev``, ``MBConv5`` and ``MBConv5Residual``) and whose bodies
  agree up to the parameters they bind, a node that calls another block, or nodes
  appended at the end, become one class with a boolean argument named after the
  suffix (``reduction_prev``, ``residual``).
* **Constant parameters.** A parameter bound to the same literal in every call becomes
  that literal in the class (a ``ReLUConvBN`` only ever called 1×1 is a 1×1 class).
* **Sizes.** Channel counts of the network that are multiples of a size the
  architecture declares (:attr:`Architecture.sizes`) are written as expressions of it,
  the classifier's output as ``num_classes``; the network takes both as arguments.
* **Repeats.** Consecutive calls named ``<prefix>0``, ``<prefix>1``, ... that feed each
  other (each reads the outputs of the calls before it) become one container, built
  and run in a loop: ``cell7`` is ``cells.7``. The torch builder holds them the same
  way (:func:`repeats`), so trained state dicts load as they are; weights saved before
  (``cell7.x``) are renamed by :func:`grouped_state_dict`.

Values in a plan's attributes are ints (floats, bools) or :class:`Lin` expressions over
the parameters of the class they are in (or the network's sizes).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs

from automl_codegen import Architecture, Block, Node
from automl_codegen.architecture import RESERVED_NAMES, RESERVED_PREFIXES

__all__ = [
    "ClassPlan",
    "Group",
    "Lin",
    "Op",
    "Plan",
    "Tail",
    "grouped_state_dict",
    "plan",
    "rename_key",
    "repeats",
    "snake_case",
]

#: Attributes that count channels (or features); sizes scale them.
CHANNEL_ATTRS = frozenset(
    {"in_channels", "out_channels", "channels", "num_features", "in_features", "out_features", "groups"}
)
#: Attributes whose parameter PyTorch code stores on the module and reads in forward.
_STORED_ATTRS = {"zero": ("stride",), "crop2d": ("top", "bottom", "left", "right")}
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Mixed-case words of network names that splitting at capitals would tear apart.
_WORDS = re.compile(r"PReLU|ReLU|SiLU|ResNet|MobileNet|EfficientNet")
_NUMBERED = re.compile(r"(?P<prefix>[a-z][a-z0-9_]*?_?)(?P<index>0|[1-9][0-9]*)\Z")
_STAGE_PREFIX = re.compile(r"(?P<stem>[a-z][a-z0-9_]*?)\d+_\Z")


def snake_case(name: str) -> str:
    """``NormalCellAfterReduction`` -> ``normal_cell_after_reduction``, acronyms kept whole."""
    words = _WORDS.sub(lambda m: m[0].capitalize(), name)
    return _SNAKE.sub("_", words).lower()


# -- values -------------------------------------------------------------------------------


@attrs.frozen
class Lin:
    """``coef * name``: a parameter (coef 1), or a fixed multiple or fraction of one.

    A fraction is exact for every valid call (it comes from the IR's shape rules), so
    it is written with integer division: ``Lin(1/2, "c_out")`` is ``c_out // 2``.
    """

    coef: Fraction
    name: str

    def __str__(self) -> str:
        n, d = self.coef.numerator, self.coef.denominator
        if d == 1:
            return self.name if n == 1 else f"{n} * {self.name}"
        return f"{self.name} // {d}" if n == 1 else f"{n} * {self.name} // {d}"

    def scaled(self, factor: Fraction) -> Lin:
        return Lin(self.coef * factor, self.name)


def param(name: str) -> Lin:
    return Lin(Fraction(1), name)


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """``value`` with the parameters of ``env`` replaced (by ints or other :class:`Lin`)."""
    if not isinstance(value, Lin) or value.name not in env:
        return value
    bound = env[value.name]
    if isinstance(bound, Lin):
        return bound.scaled(value.coef)
    if isinstance(bound, bool):
        return bound
    exact = value.coef * bound
    return int(exact) if exact.denominator == 1 else exact


# -- the plan -----------------------------------------------------------------------------


@attrs.frozen
class Op:
    """One node as emitted (a :class:`automl_codegen.Node` look-alike).

    ``attrs`` may hold :class:`Lin` values. A block call (``op == "block"``) names the
    emitted class in ``block`` and holds its arguments in ``attrs``, flags as ``True``.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...] = ()
    block: str | None = None

    @property
    def attr_dict(self) -> dict[str, Any]:
        return dict(self.attrs)

    def attr(self, name: str) -> Any:
        return self.attr_dict[name]


@attrs.frozen
class Tail:
    """Nodes a flag appends to a class's graph (a residual add): ``output`` is then the result."""

    flag: str
    nodes: tuple[Op, ...]
    output: str


@attrs.frozen
class ClassPlan:
    """One emitted class (PyTorch) or function (Keras).

    Attributes:
        name: the class name (of the IR block, or of the base of merged twins).
        inputs: the graph's inputs.
        params: integer arguments, in order.
        flags: boolean arguments (default False), one per merged twin.
        nodes: the graph, in order.
        output: the node whose value it returns (without the tail).
        alternatives: node name -> (flag, node used instead when the flag is set).
        tail: nodes a flag appends, or None.
        sources: the IR blocks it stands for (the base first).
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    flags: tuple[str, ...]
    nodes: tuple[Op, ...]
    output: str
    alternatives: Mapping[str, tuple[str, Op]] = attrs.field(factory=dict)
    tail: Tail | None = None
    sources: tuple[str, ...] = ()

    def all_ops(self) -> Iterable[Op]:
        yield from self.nodes
        for _, alternative in self.alternatives.values():
            yield alternative
        if self.tail is not None:
            yield from self.tail.nodes


@attrs.frozen
class Group:
    """Consecutive calls that feed each other, held in one container.

    Attributes:
        name: the container's attribute name (``cells``).
        members: the calls' node names, in order (``cell0``, ``cell1``, ...).
        arity: how many inputs each call takes: call ``i`` reads the last ``arity``
            values of ``initial + outputs of the calls before it``.
        initial: the values the first call reads.
    """

    name: str
    members: tuple[str, ...]
    arity: int
    initial: tuple[str, ...]


@attrs.frozen
class Plan:
    """What an emitter writes for an architecture (see the module docstring).

    Attributes:
        classes: one per emitted class, callees before callers.
        nodes: the network's graph; block calls name classes, attributes may be
            expressions of the sizes and ``num_classes``.
        output: the node yielding the logits.
        groups: containers of repeated calls, each a run of ``nodes``.
        sizes: the network's own arguments with their defaults (sizes, then
            ``num_classes`` when the classifier is the output).
        renames: top-level node name -> module path in emitted code (``cell7`` -> ``cells.7``).
    """

    classes: tuple[ClassPlan, ...]
    nodes: tuple[Op, ...]
    output: str
    groups: tuple[Group, ...]
    sizes: tuple[tuple[str, int], ...]
    renames: Mapping[str, str]

    @property
    def class_map(self) -> dict[str, ClassPlan]:
        return {c.name: c for c in self.classes}


def rename_key(key: str, renames: Mapping[str, str]) -> str:
    """A key (or layer name) with a repeated call's node name as its container spells it."""
    head, dot, rest = key.partition(".")
    return renames.get(head, head) + dot + rest


def repeats(arch: Architecture) -> tuple[Group, ...]:
    """The containers of ``arch``'s repeated calls (see :class:`Group`).

    The torch builder holds them as the emitted code does, so that a state dict trained
    in the search loads into the generated ``model.py`` as it is.
    """
    return tuple(_groups(arch.nodes, arch.output))


def grouped_state_dict(arch: Architecture, state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``state_dict`` with the keys of today's builder and generated code.

    Weights saved before repeated calls had containers name them by node
    (``cell7.preprocess0.conv.weight``); now they are ``cells.7.preprocess0.conv.weight``.
    Keys already in that form are left as they are.
    """
    renames = {member: f"{group.name}.{i}" for group in repeats(arch) for i, member in enumerate(group.members)}
    return {rename_key(key, renames): value for key, value in state_dict.items()}


def plan(arch: Architecture, *, num_classes_argument: bool = True) -> Plan:
    """The plan of ``arch``; ``num_classes_argument=False`` keeps the class count literal."""
    summaries = _analyse(arch)
    classes, calls = _classes(arch, summaries)
    top = [_top_op(node, calls, summaries) for node in arch.nodes]
    sizes = list(arch.sizes)
    top = _with_sizes(arch, top, classes, summaries)
    output = arch.output
    # (A node named num_classes would be a variable of that name in Keras' build_model.)
    free = all(node.name != "num_classes" for node in arch.nodes)
    if num_classes_argument and free and _classifier_out(top, output, arch.num_classes):
        top = [_with_classes(op) if op.name == output else op for op in top]
        sizes.append(("num_classes", arch.num_classes))
    order = _class_order(classes, top)
    classes, top = _specialise(order, classes, top)
    groups = repeats(arch)
    renames = {member: f"{group.name}.{i}" for group in groups for i, member in enumerate(group.members)}
    return Plan(tuple(classes[name] for name in order), tuple(top), output, tuple(groups), tuple(sizes), renames)


# -- channel analysis ---------------------------------------------------------------------

Form = dict[str, Fraction]  # symbol -> coefficient; "" is the constant


def _const(value: int) -> Form:
    return {"": Fraction(value)} if value else {}


def _sum(*forms: Form) -> Form:
    out: Form = {}
    for form in forms:
        for key, coef in form.items():
            out[key] = out.get(key, Fraction(0)) + coef
    return {k: c for k, c in out.items() if c}


def _scale(form: Form, factor: Fraction) -> Form:
    return {k: c * factor for k, c in form.items() if c * factor}


class _System:
    """Linear equations over channel counts, solved as they come (Gaussian elimination).

    Symbols: block parameters, ``@i`` for the channels of input ``i`` and ``?n`` for
    counts nothing names (a flatten's output). A new equation is solved for its symbol
    of highest priority: unnamed counts, then inputs, then parameters, latest declared
    first, so that ``2 * c_half == c_out`` keeps ``c_out`` and derives ``c_half``.
    """

    def __init__(self, params: Sequence[str]) -> None:
        self.rank = {p: i for i, p in enumerate(params)}
        self.pivots: dict[str, Form] = {}
        self.fresh = 0

    def unknown(self) -> Form:
        self.fresh += 1
        return {f"?{self.fresh}": Fraction(1)}

    def priority(self, symbol: str) -> tuple[int, int, str]:
        if symbol.startswith("?"):
            return (0, 0, symbol)
        if symbol.startswith("@"):
            return (1, 0, symbol)
        return (2, -self.rank[symbol], symbol)

    def reduce(self, form: Form) -> Form:
        return _sum(*(_scale(self.pivots[k], c) if k in self.pivots else {k: c} for k, c in form.items()))

    def equate(self, a: Form, b: Form) -> None:
        form = self.reduce(_sum(a, _scale(b, Fraction(-1))))
        symbols = [k for k in form if k]
        if not symbols:
            return  # consistent (or, for an invalid graph, nothing this analysis can use)
        pivot = min(symbols, key=self.priority)
        coef = form.pop(pivot)
        solved = _scale(form, -1 / coef)
        for key, expr in self.pivots.items():
            if pivot in expr:
                self.pivots[key] = _sum({k: c for k, c in expr.items() if k != pivot}, _scale(solved, expr[pivot]))
        self.pivots[pivot] = solved


@attrs.frozen
class _Summary:
    """What a block's channel analysis found, for its callers and for emitting it."""

    equations: tuple[Form, ...]  # each == 0, over params, @i and ?n
    output: Form
    derived: Mapping[str, Lin | int]  # parameter -> its value in the remaining ones
    channel_params: frozenset[str]  # parameters that count channels
    input_params: Mapping[str, int]  # parameter -> the input whose channel count it is


def _analyse(arch: Architecture) -> dict[str, _Summary]:
    summaries: dict[str, _Summary] = {}
    for block in arch.block_order:  # callees first
        summaries[block.name] = _analyse_block(arch, block, summaries)
    return summaries


def _form_of(value: Any) -> Form:
    return {value: Fraction(1)} if isinstance(value, str) else _const(value)


def _analyse_block(arch: Architecture, block: Block, summaries: Mapping[str, _Summary]) -> _Summary:
    system = _System(block.params)
    forms: dict[str, Form] = {name: {f"@{i}": Fraction(1)} for i, name in enumerate(block.inputs)}
    channel_params: set[str] = set()
    for node in block.nodes:
        forms[node.name] = _node_channels(arch, node, [forms[ref] for ref in node.inputs], system, summaries)
        for key, value in node.attrs:
            if not isinstance(value, str):
                continue
            if node.op == "block":
                if key in summaries[node.block].channel_params:
                    channel_params.add(value)
            elif key in CHANNEL_ATTRS:
                channel_params.add(value)
    equations = tuple(_sum({k: Fraction(1)}, _scale(v, Fraction(-1))) for k, v in system.pivots.items())
    stored = {v for node in block.nodes for k in _STORED_ATTRS.get(node.op, ()) for v in [node.attr(k)]}
    derived: dict[str, Lin | int] = {}
    for name in block.params:
        value = _simple(system.pivots.get(name), block.params)
        if value is not None and name not in stored:
            derived[name] = value
    input_params = {}
    for i in range(len(block.inputs)):
        value = _simple(system.pivots.get(f"@{i}"), block.params)
        if isinstance(value, Lin) and value.coef == 1:
            input_params[value.name] = i
    return _Summary(equations, system.reduce(forms[block.output]), derived, frozenset(channel_params), input_params)


def _simple(form: Form | None, params: Sequence[str]) -> Lin | int | None:
    """A positive multiple or fraction of one parameter, or a positive constant; else None."""
    if form is None:
        return None
    if set(form) == {""} and form[""] > 0 and form[""].denominator == 1:
        return int(form[""])
    if len(form) == 1:
        ((name, coef),) = form.items()
        if name in params and coef > 0:
            return Lin(coef, name)
    return None


def _node_channels(
    arch: Architecture, node: Node, ins: list[Form], system: _System, summaries: Mapping[str, _Summary]
) -> Form:
    """The channel count of ``node``'s output; records what its attributes imply."""
    op, a = node.op, node.attr_dict
    first = ins[0]
    if op in ("conv2d", "conv1d"):
        system.equate(first, _form_of(a["in_channels"]))
        return _form_of(a["out_channels"])
    if op == "depthwise_conv2d":
        system.equate(first, _form_of(a["channels"]))
        return _form_of(a["channels"])
    if op in ("batchnorm2d", "batchnorm1d", "layer_norm"):
        system.equate(first, _form_of(a["num_features"]))
        return first
    if op == "linear":
        system.equate(first, _form_of(a["in_features"]))
        return _form_of(a["out_features"])
    if op == "flatten":
        return system.unknown()
    if op == "add":
        for other in ins[1:]:
            system.equate(first, other)
        return first
    if op == "concat":
        return _sum(*ins)
    if op == "block":
        summary = summaries[node.block]
        callee = arch.block_map[node.block]
        env = {p: _form_of(a[p]) for p in callee.params}
        env.update({f"@{i}": form for i, form in enumerate(ins)})
        fresh: dict[str, Form] = {}

        def mapped(form: Form) -> Form:
            parts = []
            for key, coef in form.items():
                if key.startswith("?"):
                    part = fresh.setdefault(key, system.unknown())
                else:
                    part = env.get(key, {key: Fraction(1)}) if key else {"": Fraction(1)}
                parts.append(_scale(part, coef))
            return _sum(*parts)

        for equation in summary.equations:
            system.equate(mapped(equation), {})
        return mapped(summary.output)
    return first  # activations, pools, dropout, identity, zero, crop, global pooling


# -- classes ------------------------------------------------------------------------------


def _value(value: Any, derived: Mapping[str, Lin | int]) -> Any:
    """An IR attribute value in a class: an int, or a parameter (derived ones replaced)."""
    if not isinstance(value, str):
        return value
    return derived.get(value, param(value))


def _class_of(block: Block, summaries: Mapping[str, _Summary]) -> ClassPlan:
    derived = summaries[block.name].derived
    nodes = []
    for node in block.nodes:
        attrs_ = node.attrs
        if node.op == "block":
            dropped = summaries[node.block].derived
            attrs_ = tuple((k, v) for k, v in attrs_ if k not in dropped)
        op = Op(node.name, node.op, node.inputs, tuple((k, _value(v, derived)) for k, v in attrs_), node.block)
        nodes.append(op)
    params = tuple(p for p in block.params if p not in derived)
    return ClassPlan(block.name, block.inputs, params, (), tuple(nodes), block.output, sources=(block.name,))


@attrs.frozen
class _Call:
    """How a call of an IR block becomes a call of an emitted class.

    ``args`` gives each argument of class ``target`` in terms of the IR block's own
    (remaining) parameters; ``flags`` are set to True.
    """

    target: str
    args: Mapping[str, Any]
    flags: tuple[str, ...]


def _rebind_op(op: Op, calls: Mapping[str, _Call]) -> Op:
    if op.op != "block" or op.block not in calls:
        return op
    call = calls[op.block]
    bound = op.attr_dict
    args = [(name, substitute(value, bound)) for name, value in call.args.items()]
    return attrs.evolve(op, block=call.target, attrs=(*args, *((flag, True) for flag in call.flags)))


def _top_op(node: Node, calls: Mapping[str, _Call], summaries: Mapping[str, _Summary]) -> Op:
    attrs_ = node.attrs
    if node.op == "block":
        dropped = summaries[node.block].derived
        attrs_ = tuple((k, v) for k, v in attrs_ if k not in dropped)
    return _rebind_op(Op(node.name, node.op, node.inputs, attrs_, node.block), calls)


# -- twins --------------------------------------------------------------------------------


class _MergeError(Exception):
    pass


def _classes(arch: Architecture, summaries: Mapping[str, _Summary]) -> tuple[dict[str, ClassPlan], dict[str, _Call]]:
    """The classes of ``arch``'s blocks, twins merged, and how each block's calls map to them.

    Blocks are taken callees first, so a block's calls already name the merged classes
    when it is compared with its twin.
    """
    classes: dict[str, ClassPlan] = {}
    calls: dict[str, _Call] = {}
    for block in arch.block_order:
        cls = _class_of(block, summaries)
        classes[block.name] = attrs.evolve(cls, nodes=tuple(_rebind_op(op, calls) for op in cls.nodes))
        calls[block.name] = _Call(block.name, {p: param(p) for p in cls.params}, ())
        for other in list(classes):
            name = block.name
            base, variant = (other, name) if name.startswith(other) else (name, other)
            if other == name or not variant.startswith(base) or not variant[len(base)].isupper():
                continue
            if classes[base].flags or _calls(classes[base], variant) or _calls(classes[variant], base):
                continue
            flag = snake_case(variant[len(base) :])
            try:
                merged, args = _merge(classes[base], classes[variant], flag)
            except _MergeError:
                continue
            classes[base] = merged
            del classes[variant]
            calls[variant] = _Call(base, {p: args[p] for p in merged.params}, (flag,))
            break
    # A block taken before its callee merged into a twin still names the callee.
    merged_away = {name: call for name, call in calls.items() if call.target != name}
    for name, cls in classes.items():
        classes[name] = _map_ops(cls, lambda op: _rebind_op(op, merged_away))
    return classes, calls


def _calls(cls: ClassPlan, name: str) -> bool:
    return any(op.op == "block" and op.block == name for op in cls.all_ops())


def _merge(a: ClassPlan, b: ClassPlan, flag: str) -> tuple[ClassPlan, dict[str, Any]]:
    """``a`` extended by ``flag`` to compute ``b`` too, and how ``b``'s calls bind ``a``'s arguments."""
    if a.inputs != b.inputs or len(b.nodes) < len(a.nodes):
        raise _MergeError
    common, tail = b.nodes[: len(a.nodes)], b.nodes[len(a.nodes) :]
    # The flag may share its name with a last appended sum (MBConv5Residual's "residual"):
    # that value is written into the class's output variable, never under its own name.
    names = {n.name for n in b.nodes} - ({tail[-1].name} if tail and tail[-1].op in ("add", "concat") else set())
    taken = {*a.inputs, *a.params, *names}
    if flag in taken or _reserved(flag):
        raise _MergeError
    if [n.name for n in common] != [n.name for n in a.nodes]:
        raise _MergeError
    if tail and (a.output != a.nodes[-1].name or b.output != tail[-1].name):
        raise _MergeError
    # Appended nodes read the inputs, the base's output and each other (the values the
    # emitters keep in named variables), nothing else.
    readable = {*a.inputs, a.output, *(n.name for n in tail)}
    if any(ref not in readable for n in tail for ref in n.inputs):
        raise _MergeError
    if not tail and a.output != b.output:
        raise _MergeError
    binding: dict[str, Any] = {}  # a's parameter -> its value in b's parameters
    switched = []
    for x, y in zip(a.nodes, common, strict=True):
        if x.op != y.op or x.inputs != y.inputs:
            raise _MergeError
        if x.op == "block" and x.block != y.block:
            # Different callees: unify the arguments they share by name.
            xa, ya = x.attr_dict, y.attr_dict
            for key in xa.keys() & ya.keys():
                _unify(xa[key], ya[key], binding)
            switched.append(y)
            continue
        if {k for k, _ in x.attrs} != {k for k, _ in y.attrs}:
            raise _MergeError
        ya = y.attr_dict
        for key, value in x.attrs:
            _unify(value, ya[key], binding)
    if set(binding) != set(a.params):
        raise _MergeError  # an argument of a that b's calls would leave unknown
    inverse: dict[str, Lin] = {}
    for name in a.params:
        value = binding[name]
        if isinstance(value, Lin):
            inverse.setdefault(value.name, Lin(1 / value.coef, name))
    if set(inverse) != set(b.params):
        raise _MergeError

    def in_a(op: Op) -> Op:
        return attrs.evolve(op, attrs=tuple((k, substitute(v, inverse)) for k, v in op.attrs))

    merged = attrs.evolve(
        a,
        flags=(*a.flags, flag),
        sources=(*a.sources, *b.sources),
        alternatives={**a.alternatives, **{op.name: (flag, in_a(op)) for op in switched}},
        tail=Tail(flag, tuple(in_a(op) for op in tail), b.output) if tail else None,
    )
    return merged, binding


#: Arguments and locals of the generated code, besides the names the IR reserves.
_CODE_LOCALS = frozenset({"name", "weights", "num_classes", "i", "block", "s0", "s1"})


def _reserved(name: str) -> bool:
    """Whether a name of emitted code's making (a flag, a container) could clash with another."""
    return (
        not name.isidentifier()
        or keyword.iskeyword(name)
        or name in RESERVED_NAMES
        or name.startswith(RESERVED_PREFIXES)
        or name in _CODE_LOCALS
    )


def _unify(x: Any, y: Any, binding: dict[str, Any]) -> None:
    """Record what ``x`` (of the base class) must be for the twin, which has ``y`` there."""
    if isinstance(x, Lin):
        if isinstance(y, Lin):
            value: Any = y.scaled(1 / x.coef)
        elif isinstance(y, int) and not isinstance(y, bool) and Fraction(y) / x.coef == int(Fraction(y) / x.coef):
            value = int(Fraction(y) / x.coef)
        else:
            raise _MergeError
        if binding.setdefault(x.name, value) != value:
            raise _MergeError
    elif isinstance(y, Lin) or type(x) is not type(y) or x != y:
        raise _MergeError


# -- the network's own arguments ------------------------------------------------------------


def _with_sizes(
    arch: Architecture, top: list[Op], classes: Mapping[str, ClassPlan], summaries: Mapping[str, _Summary]
) -> list[Op]:
    """Channel counts that are multiples of a declared size, written in terms of it."""
    if not arch.sizes:
        return top
    channel_args = {name: _channel_args(cls, classes, summaries) for name, cls in classes.items()}

    def scaled(value: Any) -> Any:
        if type(value) is not int:
            return value
        for size, base in arch.sizes:
            if value % base == 0:
                return Lin(Fraction(value // base), size)
        return value

    out = []
    for op in top:
        if op.op == "block":
            # An argument that is the channel count of the network's input stays literal.
            tied = {p for p in channel_args[op.block] if _reads_input(op, classes[op.block], p, summaries)}
            keys = channel_args[op.block] - tied
        else:
            keys = CHANNEL_ATTRS
            if Architecture.INPUT in op.inputs:
                keys = keys - {"in_channels", "channels", "num_features", "in_features", "groups"}
        out.append(attrs.evolve(op, attrs=tuple((k, scaled(v) if k in keys else v) for k, v in op.attrs)))
    return out


def _channel_args(cls: ClassPlan, classes: Mapping[str, ClassPlan], summaries: Mapping[str, _Summary]) -> set[str]:
    """The arguments of ``cls`` that count channels (used where channels are counted)."""
    found = set()
    for op in cls.all_ops():
        for key, value in op.attrs:
            if not isinstance(value, Lin):
                continue
            if (op.op == "block" and key in _channel_args(classes[op.block], classes, summaries)) or (
                op.op != "block" and key in CHANNEL_ATTRS
            ):
                found.add(value.name)
    return found


def _reads_input(op: Op, cls: ClassPlan, name: str, summaries: Mapping[str, _Summary]) -> bool:
    summary = summaries.get(cls.name)
    index = summary.input_params.get(name) if summary else None
    return index is not None and op.inputs[index] == Architecture.INPUT


def _classifier_out(top: Sequence[Op], output: str, num_classes: int) -> bool:
    last = next(op for op in top if op.name == output)
    return last.op == "linear" and last.attr("out_features") == num_classes


def _with_classes(op: Op) -> Op:
    return attrs.evolve(op, attrs=tuple((k, param("num_classes") if k == "out_features" else v) for k, v in op.attrs))


# -- constant parameters -------------------------------------------------------------------


def _class_order(classes: Mapping[str, ClassPlan], top: Sequence[Op]) -> list[str]:
    """Callees before callers, in the order the network first needs them."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for op in classes[name].all_ops():
            if op.op == "block":
                visit(op.block)
        order.append(name)

    for op in top:
        if op.op == "block":
            visit(op.block)
    return order


def _specialise(
    order: Sequence[str], classes: dict[str, ClassPlan], top: list[Op]
) -> tuple[dict[str, ClassPlan], list[Op]]:
    """Replace each parameter that every call binds to one literal by that literal."""
    for name in reversed(order):  # callers first: their literals reach their callees
        callers = [top, *(list(c.all_ops()) for c in classes.values() if c.name != name)]
        calls = [op for ops in callers for op in ops if op.op == "block" and op.block == name]
        constant = {}
        for p in classes[name].params:
            values = {_key(call.attr(p)) for call in calls}
            if len(values) == 1 and isinstance(calls[0].attr(p), int) and not isinstance(calls[0].attr(p), bool):
                constant[p] = calls[0].attr(p)
        if not constant:
            continue
        cls = classes[name]

        def fixed(op: Op, env: Mapping[str, Any] = constant) -> Op:
            return attrs.evolve(op, attrs=tuple((k, substitute(v, env)) for k, v in op.attrs))

        classes[name] = attrs.evolve(
            cls,
            params=tuple(p for p in cls.params if p not in constant),
            nodes=tuple(fixed(op) for op in cls.nodes),
            alternatives={k: (flag, fixed(op)) for k, (flag, op) in cls.alternatives.items()},
            tail=None if cls.tail is None else attrs.evolve(cls.tail, nodes=tuple(fixed(op) for op in cls.tail.nodes)),
        )

        def drop(op: Op, name: str = name, constant: Mapping[str, Any] = constant) -> Op:
            if op.op != "block" or op.block != name:
                return op
            return attrs.evolve(op, attrs=tuple((k, v) for k, v in op.attrs if k not in constant))

        top = [drop(op) for op in top]
        for other, c in classes.items():
            if other != name:
                classes[other] = _map_ops(c, drop)
    return classes, top


def _key(value: Any) -> Any:
    return (type(value).__name__, value)


def _map_ops(cls: ClassPlan, fn: Callable[[Op], Op]) -> ClassPlan:
    return attrs.evolve(
        cls,
        nodes=tuple(fn(op) for op in cls.nodes),
        alternatives={k: (flag, fn(op)) for k, (flag, op) in cls.alternatives.items()},
        tail=None if cls.tail is None else attrs.evolve(cls.tail, nodes=tuple(fn(op) for op in cls.tail.nodes)),
    )


# -- repeats ------------------------------------------------------------------------------


def _groups(top: Sequence[Any], output: str) -> list[Group]:
    """Runs of numbered block calls that feed each other (see :class:`Group`)."""
    runs: list[tuple[str, list[int]]] = []
    for index, op in enumerate(top):
        match = _NUMBERED.match(op.name)
        if op.op != "block" or match is None:
            continue
        prefix, number = match["prefix"], int(match["index"])
        if runs and runs[-1][0] == prefix and runs[-1][1][-1] == index - 1 and number == len(runs[-1][1]):
            runs[-1][1].append(index)
        elif number == 0:
            runs.append((prefix, [index]))
    taken = {op.name for op in top}
    users: dict[str, list[int]] = {}
    for index, op in enumerate(top):
        for ref in op.inputs:
            users.setdefault(ref, []).append(index)
    found: list[tuple[str, Group]] = []
    for prefix, indices in runs:
        group = _group(prefix, indices, top, users, taken)
        if group is not None:
            found.append((prefix, group))
    # A lone call is a group when its stage's siblings are (stage1_0 beside stage2_0..2).
    stems = {m["stem"] for prefix, g in found if len(g.members) > 1 and (m := _STAGE_PREFIX.match(prefix))}
    chosen = []
    for prefix, group in found:
        match = _STAGE_PREFIX.match(prefix)
        if len(group.members) > 1 or (match is not None and match["stem"] in stems):
            chosen.append(group)
            taken.add(group.name)
    return chosen


def _group(
    prefix: str, indices: list[int], top: Sequence[Any], users: Mapping[str, list[int]], taken: set[str]
) -> Group | None:
    calls = [top[i] for i in indices]
    arity = len(calls[0].inputs)
    if any(len(call.inputs) != arity for call in calls):
        return None
    state = list(calls[0].inputs)
    for call in calls:
        if tuple(state[-arity:]) != call.inputs:
            return None
        state.append(call.name)
    members = tuple(call.name for call in calls)
    # Outside the run, only the values still in the state at its end may be read.
    last = indices[-1]
    outside = {ref for i in range(last + 1, len(top)) for ref in top[i].inputs}
    if any(m in outside for m in members[:-arity]):
        return None
    if any(i < indices[0] for m in members for i in users.get(m, [])):
        return None
    name = prefix.rstrip("_")
    if not name[-1].isdigit() and not name.endswith("s"):
        name += "s"
    if name in taken or _reserved(name):
        return None
    return Group(name, members, arity, calls[0].inputs)
