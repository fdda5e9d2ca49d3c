"""Inline plugins: a plugin manager or registry with plugins that are not installed."""

from __future__ import annotations

import itertools
import types

from ..errors import PluginError
from ..plugins import PluginManager, PluginSource, Registry, get_plugin_manager


def plugin_manager_with(*plugins: object, builtins: bool = True) -> PluginManager:
    """A fresh plugin manager with the installed plugins (unless ``builtins=False``) plus ``plugins``.

    Each plugin is named for messages and for ``AUTOML_CODEGEN_DISABLE_PLUGINS``: a module
    by its ``__name__``, a class by its ``__qualname__``, an instance by its class's
    ``__qualname__`` (a class defined in a function is named without the function), with
    ``-2``, ``-3``, ... appended when another instance took the name. A plugin that is
    already registered (an installed plugin module passed again, or one object passed
    twice) is not registered again. Nothing global is changed.

    Raises:
        PluginError: two different modules or classes with the same name.
    """
    pm = get_plugin_manager(entry_points=builtins)
    for plugin in plugins:
        if pm.is_registered(plugin):
            continue
        name = _inline_name(pm, plugin)
        if pm.is_blocked(name):
            continue
        module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", name)
        pm.register_plugin(plugin, PluginSource(name, str(module)))
    # A misspelt hook name (register_strategy) fails here instead of being silently ignored.
    pm.check_pending()
    return pm


def registry_with(*plugins: object, builtins: bool = True) -> Registry:
    """The registries of :func:`plugin_manager_with`."""
    return Registry(plugin_manager_with(*plugins, builtins=builtins))


def _inline_name(pm: PluginManager, plugin: object) -> str:
    if isinstance(plugin, types.ModuleType):
        base, numbered = plugin.__name__, False
    elif isinstance(plugin, type):
        base, numbered = _short_qualname(plugin), False
    else:
        base, numbered = _short_qualname(type(plugin)), True
    name = base
    for number in itertools.count(2):
        if pm.get_plugin(name) is None:
            return name
        if not numbered:
            other = pm.source_of(name)
            msg = (
                f"cannot register {plugin!r} as plugin {name!r}: {other.describe()} already has that "
                f"name and is another object; pass one of them, or rename one"
            )
            raise PluginError(msg)
        name = f"{base}-{number}"
    raise AssertionError  # pragma: no cover - itertools.count never ends


def _short_qualname(cls: type) -> str:
    """``Outer.Inner`` as it is; ``test_x.<locals>.Plugin`` as ``Plugin``."""
    return cls.__qualname__.rsplit("<locals>.", 1)[-1]
