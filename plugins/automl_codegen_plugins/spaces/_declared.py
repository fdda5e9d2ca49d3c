"""Options shared by the spaces declared with :mod:`automl_codegen.model_space` (``mlp``, ``seq-cnn``).

Each option is a set of values a choice may take: distinct, non-empty, checked before
the space is declared so a bad value is reported as the option it came from.
"""

from __future__ import annotations

import numbers
from typing import Any

import attrs

from automl_codegen import model_space as ms
from automl_codegen.options import check

# "must list ...": the list options word their problem themselves.
_LIST_MESSAGE = "{owner} option {name!r} must {expected}, got {value!r}"


def _values(value: object) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else ()


def _distinct(values: tuple[Any, ...]) -> bool:
    return bool(values) and len(set(values)) == len(values)


def _ints(value: object, odd: bool) -> bool:
    values = _values(value)
    good = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in values)
    return good and _distinct(values) and (not odd or all(int(v) % 2 for v in values))


def _rates(value: object) -> bool:
    values = _values(value)
    good = all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < 1 for v in values)
    return good and _distinct(values)


def _activations(value: object) -> bool:
    values = _values(value)
    return all(isinstance(v, str) and v in ms.ACTIVATIONS for v in values) and _distinct(values)


def int_set(default: tuple[int, ...], help: str, *, odd: bool = False) -> Any:
    """Distinct positive integers (odd ones if ``odd``: kernels keep "same" padding symmetric)."""
    expected = "list distinct odd positive integers" if odd else "list distinct positive integers"
    return attrs.field(
        default=default,
        converter=lambda v: tuple(int(x) for x in v) if _ints(v, odd) else v,
        validator=check(lambda v: _ints(v, odd), expected, message=_LIST_MESSAGE),
        metadata={"help": help},
    )


def rate_set(default: tuple[float, ...], help: str) -> Any:
    """Distinct rates in [0, 1) (dropout probabilities)."""
    return attrs.field(
        default=default,
        converter=lambda v: tuple(float(x) for x in v) if _rates(v) else v,
        validator=check(_rates, "list distinct rates in [0, 1)", message=_LIST_MESSAGE),
        metadata={"help": help},
    )


def activation_set(default: tuple[str, ...], help: str) -> Any:
    """Distinct activation names of :data:`automl_codegen.model_space.ACTIVATIONS`."""
    return attrs.field(
        default=default,
        converter=lambda v: tuple(v) if _activations(v) else v,
        validator=check(
            _activations, f"list distinct activations among {', '.join(ms.ACTIVATIONS)}", message=_LIST_MESSAGE
        ),
        metadata={"help": help},
    )
