"""JSON <-> IR through one cattrs converter, with errors that carry the field's path.

``structure_architecture`` is the only door from untrusted JSON into the IR: every field
is type-checked strictly (no ``str(5)`` or ``int("3")`` coercion), then the IR's own
validation runs. Whatever goes wrong comes out as one :class:`ArchitectureError` whose
message lists ``problem @ $.path`` lines.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cattrs
from cattrs.errors import IterableValidationNote

from .architecture import Architecture, Block, Node
from .errors import ArchitectureError

__all__ = ["get_converter", "make_converter", "structure_architecture"]


def _strict(kind: type):
    def hook(value: Any, _type: Any) -> Any:
        # bool is an int subclass; JSON true must not pass as 1.
        if type(value) is not kind and not (kind is float and type(value) is int):
            msg = f"expected {kind.__name__}, got {type(value).__name__} {value!r}"
            raise TypeError(msg)
        return value

    return hook


def _attr_value(value: Any, _type: Any) -> Any:
    if type(value) not in (int, float, bool, str):
        msg = f"an attribute value must be a number, a boolean or a parameter name, got {value!r}"
        raise TypeError(msg)
    return value


def _node_attrs(value: Any, _type: Any) -> tuple:
    if not isinstance(value, dict):
        msg = f"expected an object of attribute values, got {type(value).__name__}"
        raise TypeError(msg)
    return tuple((_strict(str)(k, str), _attr_value(v, None)) for k, v in value.items())


def _sequence(item_type: type):
    def hook(value: Any, _type: Any) -> tuple:
        if not isinstance(value, list):
            msg = f"expected a list, got {type(value).__name__}"
            raise TypeError(msg)
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(converter_structure(item, item_type))
            except Exception as exc:
                note = f"Structuring {item_type.__name__} @ index {index}"
                exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(note, index, item_type)]
                errors.append(exc)
        if errors:
            msg = f"while structuring a list of {item_type.__name__}"
            raise cattrs.IterableValidationError(msg, errors, tuple)
        return tuple(items)

    return hook


def _unstructure_node(node: Node) -> dict[str, Any]:
    data: dict[str, Any] = {"name": node.name, "op": node.op, "inputs": list(node.inputs)}
    data["attrs"] = dict(node.attrs)
    if node.block is not None:
        data["block"] = node.block
    return data


def converter_structure(value: Any, kind: type) -> Any:
    return get_converter().structure(value, kind)


def make_converter() -> cattrs.Converter:
    """The converter for every IR type and plugin options class. Build it once; see :func:`get_converter`."""
    # Imported here: options.py imports this module for get_converter.
    from .options import register_option_hooks

    conv = cattrs.Converter(forbid_extra_keys=True)
    # Registered hooks take precedence over cattrs' built-in attrs handling.
    register_option_hooks(conv)
    for kind in (str, int, float, bool):
        conv.register_structure_hook(kind, _strict(kind))
    generic_hooks = {
        tuple[str, ...]: _sequence(str),
        tuple[int, ...]: _sequence(int),
        tuple[Node, ...]: _sequence(Node),
        tuple[Block, ...]: _sequence(Block),
        tuple[tuple[str, int | float | bool | str], ...]: _node_attrs,
    }
    for generic, hook in generic_hooks.items():
        # Parametrised generics are not classes, so they are matched by equality.
        conv.register_structure_hook_func(lambda t, g=generic: t == g, hook)
    conv.register_unstructure_hook(Node, _unstructure_node)
    return conv


@cache
def get_converter() -> cattrs.Converter:
    """The one shared converter (IR and plugin options), made once by :func:`make_converter`."""
    return make_converter()


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, ArchitectureError | TypeError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {sorted(exc.extra_fields)}"
    return cattrs.v.format_exception(exc, _type)


def structure_architecture(data: Any) -> Architecture:
    """Build a validated Architecture from JSON-like data, or raise ArchitectureError."""
    if not isinstance(data, dict):
        msg = f"an architecture must be a JSON object, got {type(data).__name__}"
        raise ArchitectureError(msg)
    try:
        return get_converter().structure(data, Architecture)
    except ArchitectureError:
        raise
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ArchitectureError("invalid architecture: " + "; ".join(problems)) from None
    except (TypeError, ValueError, RecursionError) as exc:
        msg = f"invalid architecture: {exc}"
        raise ArchitectureError(msg) from None
