"""Decisions (``choice(name, options)``) and the checks of the values a layer argument may take."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, shown

__all__ = ["Decision", "Value", "check_argument", "choice", "same_value", "show_argument"]

#: A choice name: a letter, then letters, digits, ``_``, ``.`` or ``-`` (``[`` and ``]``
#: are kept for the per-repetition suffix, ``width[0]``).
_CHOICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}\Z")
#: Most options one choice may list (a categorical decision, not a grid of floats).
MAX_OPTIONS = 1024


class Decision:
    """One categorical decision of a declared space; made by :func:`choice`.

    The object is the decision: using one ``Decision`` in two places makes the two take
    the same value; two different objects may not share a name.
    """

    __slots__ = ("name", "options")

    def __init__(self, name: str, options: tuple[Any, ...]) -> None:
        self.name = name
        self.options = options

    def __repr__(self) -> str:
        return f"choice({self.name!r}, {list(self.options)!r})"


#: What a layer argument is given as: a literal, or a decision among literals.
Value = Any


def _json_value(value: Any, where: str) -> Any:
    """``value`` as a plain JSON value (numpy scalars become Python ones), or a ConfigError."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            msg = f"{where} {value!r} is not a JSON value (JSON has no NaN or infinity)"
            raise ConfigError(msg)
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, where) for k, v in value.items()}
    msg = f"{where} {shown(value)} is not a JSON value (None, a bool, number or string, or a list or dict of them)"
    raise ConfigError(msg)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, but ``1`` is ``1.0``; lists and dicts by element."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def check_choice_name(name: object, what: str = "choice") -> str:
    if not isinstance(name, str) or not _CHOICE_NAME.match(name):
        msg = (
            f"{what} name {shown(name)} is not valid: use a letter, then letters, digits, "
            f"'_', '.' or '-' (at most 64 characters)"
        )
        raise ConfigError(msg)
    return name


def check_options(name: str, options: Any, what: str = "choice") -> tuple[Any, ...]:
    """The options of a decision as a tuple of distinct JSON values, or a ConfigError."""
    if isinstance(options, str | bytes | dict | set | frozenset) or not isinstance(options, Iterable):
        msg = f"{what} {name!r}: options must be a list (or tuple or range) of values, got {shown(options)}"
        raise ConfigError(msg)
    values = tuple(_json_value(v, f"{what} {name!r}: option") for v in options)
    if not values:
        msg = f"{what} {name!r} has no options; give at least one"
        raise ConfigError(msg)
    if len(values) > MAX_OPTIONS:
        msg = f"{what} {name!r} has {len(values)} options, more than the limit of {MAX_OPTIONS}"
        raise ConfigError(msg)
    for i, value in enumerate(values):
        if any(same_value(value, other) for other in values[:i]):
            msg = f"{what} {name!r} lists the option {shown(value)} twice"
            raise ConfigError(msg)
    return values


def choice(name: str, options: Iterable[Any]) -> Decision:
    """A decision named ``name`` among ``options`` (JSON values), for any layer argument.

    ``Linear(choice("width", [64, 128]))``: the genotype holds ``{"width": 64}`` or
    ``{"width": 128}``. Use the returned object in several places to tie them to one
    decision.

    Raises:
        ConfigError: an invalid name, no options, an option that is not a JSON value,
            or an option listed twice.
    """
    check_choice_name(name)
    return Decision(name, check_options(name, options))


def show_argument(value: Value) -> str:
    """An argument as written in a message: ``choice 'width'`` or the literal."""
    return f"choice {value.name!r}" if isinstance(value, Decision) else repr(value)


Check = Callable[[Any], str | None]


def check_argument(layer: str, argument: str, value: Value, check: Check) -> Value:
    """``value`` (a literal or a :class:`Decision`) if every value it may take passes ``check``.

    ``check(v)`` returns ``None`` for a good value, else what was expected ("an odd
    integer from 1 to 31"). The error names the layer, the argument and, for a choice,
    the choice and its bad option.
    """
    if isinstance(value, Decision):
        for option in value.options:
            expected = check(option)
            if expected is not None:
                msg = (
                    f"{layer}: {argument} is choice {value.name!r}, whose option {shown(option)} is not "
                    f"{expected} (options: {', '.join(map(repr, value.options))})"
                )
                raise ConfigError(msg)
        return value
    literal = value
    if isinstance(value, numbers.Real) and not isinstance(value, bool | int | float):
        literal = int(value) if isinstance(value, numbers.Integral) else float(value)  # numpy scalars
    expected = check(literal)
    if expected is not None:
        msg = f"{layer}: {argument} must be {expected}, got {shown(value)}"
        raise ConfigError(msg)
    return literal


# -- checks of single values -----------------------------------------------------------------


def integer(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
        return None if ok else f"an integer from {lo} to {hi}"

    return check


def odd_kernel(hi: int) -> Check:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= hi and v % 2 == 1
        return None if ok else f"an odd integer from 1 to {hi} ('same' padding k // 2 needs an odd kernel)"

    return check


def optional(inner: Check) -> Check:
    def check(v: Any) -> str | None:
        expected = inner(v)
        return None if v is None or expected is None else f"None or {expected}"

    return check


def probability(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1
    return None if ok else "a probability in [0, 1)"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "True or False"


def one_of(names: Iterable[str], aliases: dict[str, str] | None = None) -> Check:
    known = tuple(names)
    accepted = (*known, *(aliases or {}))

    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in accepted else f"one of {', '.join(accepted)}"

    return check
