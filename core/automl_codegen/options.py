"""Plugin options as frozen attrs classes, checked by declarative validators.

A plugin declares its keyword options once, as a frozen attrs class derived from
:class:`PluginOptions`, each field with a default, a validator from this module and a
one-line help::

    @attrs.frozen(kw_only=True)
    class EvolutionOptions(PluginOptions):
        population_size: int = attrs.field(
            default=10, validator=integer(2), metadata={"help": "members kept; at least 2"}
        )

and builds it from what the user gave with :func:`structure_options`, which goes through
the project's one cattrs converter (:func:`automl_codegen.serialization.get_converter`).
Every failure comes out as a :class:`~automl_codegen.errors.ConfigError` worded from the
class's templates, so each plugin keeps the messages its users (and tests) know:

* ``invalid_message`` (default :data:`INVALID`) words a bad value from ``owner``,
  ``name``, ``expected`` (the validator's text, e.g. ``"an integer >= 2"``) and ``value``;
  a validator may carry its own template (``message=``) for a one-off wording.
* ``unknown_message`` (default :data:`UNKNOWN`) words unknown names from ``owner``,
  ``unknown`` (their sorted list), ``names`` (the options, comma-separated, in declared
  order) and ``sorted_names`` (the options' sorted list).

Types are strict, as a JSON or TOML configuration should be read: a bool is neither an
integer nor a number, a string is not a number, but an integer is a number. This module
imports neither torch nor any plugin, so listing plugins and their options stays fast.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from .errors import ConfigError, shown
from .serialization import get_converter

__all__ = [
    "INVALID",
    "UNKNOWN",
    "OptionError",
    "PluginOptions",
    "boolean",
    "check",
    "describe_options",
    "file_path",
    "finite_number",
    "integer",
    "is_integer",
    "is_number",
    "is_options_class",
    "non_negative_int",
    "one_of",
    "positive_int",
    "probability",
    "register_option_hooks",
    "structure_options",
    "unstructure_options",
]

_T = TypeVar("_T")

#: The default wording of a bad value.
INVALID = "{owner}: {name} must be {expected}, got {value!r}"
#: The default wording of unknown option names (the same as the strategy base class's).
UNKNOWN = "{owner} has no option(s) {unknown}"


class PluginOptions:
    """Base of every plugin's options class: the message templates, and the marker by
    which the converter recognises an options class.

    Subclasses are ``@attrs.frozen(kw_only=True)`` classes; they may override the two
    templates as plain class attributes.
    """

    # No instance dict of its own: the attrs subclasses are slotted.
    __slots__ = ()

    invalid_message: ClassVar[str] = INVALID
    unknown_message: ClassVar[str] = UNKNOWN


class OptionError(ConfigError):
    """A bad option, worded by a template; :func:`structure_options` fills in the owner.

    Raised by the validators of this module and by an options class's own cross-field
    checks (``__attrs_post_init__``). Built directly (without :func:`structure_options`),
    an options class names itself as the owner.

    Args:
        template: a :meth:`str.format` template; ``{owner}`` is the plugin's name.
        fields: the template's other fields (``owner`` among them: the default owner).
    """

    def __init__(self, template: str, /, **fields: Any) -> None:
        self.template = template
        self.fields = fields
        super().__init__(self.render(fields.get("owner", "options")))

    def render(self, owner: str) -> str:
        """The message with ``owner`` as the plugin's name."""
        return self.template.format(**{**self.fields, "owner": owner})


# -- validators ----------------------------------------------------------------------------


def is_integer(value: object) -> bool:
    """An integer (numpy's too), but not a bool: ``True`` must not pass for 1."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A real number, integers included, but not a bool (nor a string)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check(
    accept: Callable[[Any], bool],
    expected: str,
    *,
    optional: bool = False,
    message: str | None = None,
    **fields: Any,
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """An attrs validator: ``accept(value)`` or an :class:`OptionError` worded by a template.

    Args:
        accept: true for a good value (it must not raise).
        expected: what a good value is, for the template's ``{expected}``.
        optional: also accept None.
        message: the template, instead of the options class's ``invalid_message``.
        fields: more fields for the template.

    Returns:
        The validator, for ``attrs.field(validator=...)``.
    """

    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if (optional and value is None) or accept(value):
            return
        template = message if message is not None else type(instance).invalid_message
        raise OptionError(
            template,
            owner=type(instance).__name__,
            name=attribute.name,
            expected=expected,
            value=_Shown.of(value),
            **fields,
        )

    return validate


def integer(
    minimum: int,
    maximum: int | None = None,
    *,
    optional: bool = False,
    expected: str | None = None,
    message: str | None = None,
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """An integer >= ``minimum`` and, if given, <= ``maximum`` (worded "an integer >= N" or
    "an integer from N to M"): sizes a user controls get a maximum, checked before any work."""
    if expected is None:
        expected = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    return check(
        lambda v: is_integer(v) and v >= minimum and (maximum is None or v <= maximum),
        expected,
        optional=optional,
        message=message,
    )


def positive_int(**kwargs: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    """An integer >= 1; the keywords are :func:`integer`'s."""
    return integer(1, **kwargs)


def non_negative_int(**kwargs: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    """An integer >= 0; the keywords are :func:`integer`'s."""
    return integer(0, **kwargs)


def finite_number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
    expected: str | None = None,
    message: str | None = None,
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A finite real number (an int will do, a bool will not) between ``low`` and ``high``.

    Worded "a number > 0" / "a number >= 0" with only a lower bound, "a number in [0, 1)"
    with both, unless ``expected`` says otherwise. NaN and infinities never pass.
    """
    if expected is None:
        if high == math.inf:
            expected = f"a number {'>' if low_open else '>='} {low:g}"
        else:
            expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def accept(value: Any) -> bool:
        if not is_number(value) or not math.isfinite(value):
            return False
        return (value > low if low_open else value >= low) and (value < high if high_open else value <= high)

    return check(accept, expected, optional=optional, message=message)


def probability(
    *, low_open: bool = False, high_open: bool = False, optional: bool = False, message: str | None = None
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A number in [0, 1], either end open as asked (worded "a number in (0, 1]", say)."""
    return finite_number(0, 1, low_open=low_open, high_open=high_open, optional=optional, message=message)


def one_of(
    choices: Iterable[Any], *, expected: str | None = None, message: str | None = None
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """One of ``choices`` (by default worded "one of a, b"; ``{choices}`` in a template)."""
    allowed = tuple(choices)
    shown = ", ".join(str(c) for c in allowed)

    def accept(value: Any) -> bool:
        # type() as well: True == 1, and 1 == 1.0, but neither is the choice 1.
        return any(type(value) is type(c) and value == c for c in allowed)

    return check(
        accept,
        f"one of {shown}" if expected is None else expected,
        message=message,
        choices=shown,
        choices_repr=", ".join(repr(c) for c in allowed),
    )


def boolean(
    *, optional: bool = False, expected: str | None = None, message: str | None = None
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """True or false, nothing else (by default worded "true or false")."""
    return check(
        lambda v: isinstance(v, bool),
        "true or false" if expected is None else expected,
        optional=optional,
        message=message,
    )


def file_path(
    *, optional: bool = True, expected: str = "a file path", message: str | None = None
) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A ``str`` or :class:`os.PathLike` (not checked for existence), None by default allowed."""
    return check(lambda v: isinstance(v, str | os.PathLike), expected, optional=optional, message=message)


# -- structure / unstructure -----------------------------------------------------------------


def is_options_class(kind: Any) -> bool:
    """Whether ``kind`` is a :class:`PluginOptions` attrs class (the converter's test)."""
    return isinstance(kind, type) and issubclass(kind, PluginOptions) and attrs.has(kind)


def structure_options(cls: type[_T], raw: Mapping[str, Any], *, owner: str) -> _T:
    """Build ``cls`` from user options: names first, then every value, strictly.

    Args:
        cls: a :class:`PluginOptions` attrs class.
        raw: the options as given (keyword arguments, a TOML table, JSON).
        owner: the plugin as messages name it, e.g. ``"strategy 'evolution'"``.

    Returns:
        The validated, frozen options.

    Raises:
        ConfigError: for an unknown name or a bad value, worded by ``cls``'s templates.
    """
    if not isinstance(raw, Mapping):
        msg = f"{owner} options must be a mapping of names to values, got {type(raw).__name__}"
        raise ConfigError(msg)
    # The converter's hook checks the names before the values, as the plugins always did.
    try:
        return get_converter().structure(raw, cls)
    except OptionError as exc:
        raise ConfigError(exc.render(owner)) from None


def unstructure_options(options: Any) -> dict[str, Any]:
    """JSON-compatible options (tuples as lists, paths as text), via the converter.

    :func:`structure_options` of the result gives back equal options.
    """
    return get_converter().unstructure(options)


def describe_options(cls: type) -> list[dict[str, Any]]:
    """One record per option of ``cls``, in declared order, for listing a plugin's options.

    Returns:
        Dicts with ``name``, ``type`` (as written in the class), ``default`` (JSON-compatible;
        None when the option has no default) and ``help`` (``metadata={"help": ...}``, or "").
    """
    records = []
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default is attrs.NOTHING:
            default = None
        records.append(
            {
                "name": field.name,
                "type": _type_text(field.type),
                "default": _plain(default),
                "help": field.metadata.get("help", ""),
            }
        )
    return records


# -- converter hooks (registered by serialization.make_converter) ----------------------------


def register_option_hooks(converter: Any) -> None:
    """Teach ``converter`` the :class:`PluginOptions` classes; called by ``make_converter``."""
    converter.register_structure_hook_func(is_options_class, _structure)
    converter.register_unstructure_hook_func(is_options_class, _unstructure)


def _structure(raw: Mapping[str, Any], cls: type) -> Any:
    # The attrs validators check the values, type included: one check per option, worded
    # as the plugin words it. The converter's strict scalar hooks would word a wrong type
    # differently from a value out of range, so values go to the class as they are.
    names = [field.name for field in attrs.fields(cls)]
    extra = sorted((key for key in raw if key not in names), key=str)
    if extra:
        extra = [_Shown.of(key) for key in extra[:10]]
        fields = {"unknown": extra, "names": ", ".join(names), "sorted_names": sorted(names)}
        raise OptionError(cls.unknown_message, owner=cls.__name__, **fields)
    return cls(**raw)


class _Shown:
    """A long value as a message shows it: its repr and str cut (a 50 MB value is not echoed back)."""

    LIMIT = 80

    def __init__(self, value: Any, text: str) -> None:
        self.value, self.text = value, text

    @classmethod
    def of(cls, value: Any) -> Any:
        return value if len(repr(value)) <= cls.LIMIT else cls(value, shown(value, cls.LIMIT))

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _unstructure(options: Any) -> dict[str, Any]:
    return {field.name: _plain(getattr(options, field.name)) for field in attrs.fields(type(options))}


def _plain(value: Any) -> Any:
    """``value`` as JSON-compatible data: tuples as lists, paths as text."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _type_text(kind: Any) -> str:
    if kind is None:
        return "any"
    if isinstance(kind, str):  # postponed annotations: the text as written
        return kind
    if isinstance(kind, type) and not getattr(kind, "__args__", None):
        return kind.__name__
    return str(kind).replace("typing.", "")
