"""The plugin manager factory and the registries the hooks fill.

Everything that does work is a plugin found through the ``automl_codegen`` entry-point
group; this module loads them, keeps a broken one from hiding the others, and builds the
name -> object registries the engine and the CLI look things up in.
"""

from __future__ import annotations

import os
import traceback
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError, UnknownNameError, shown

ENTRY_POINT_GROUP = "automl_codegen"
DISABLE_ENV_VAR = "AUTOML_CODEGEN_DISABLE_PLUGINS"

#: kind of registered thing -> the registry hook that adds it
KINDS: dict[str, str] = {
    "strategy": "register_strategies",
    "search_space": "register_search_spaces",
    "objective": "register_objectives",
    "profiler": "register_profilers",
    "emitter": "register_emitters",
    "dataset": "register_datasets",
    "evaluator": "register_evaluators",
    "executor": "register_executors",
}


@attrs.frozen
class PluginSource:
    """Where a plugin came from: its entry point and distribution."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        where = f"from {self.distribution} {self.version}" if self.distribution else "not installed"
        return f"plugin {self.name!r} ({self.module}, {where})"


@attrs.frozen
class PluginLoadError:
    """A plugin that could not be loaded or whose registry hook raised.

    ``traceback`` keeps the original exception's traceback, which ``automl-codegen
    plugins`` prints, so the plugin's author can find the failing line.
    """

    source: PluginSource
    message: str
    traceback: str = ""


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and what failed."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.sources: dict[str, PluginSource] = {}
        self.load_errors: list[PluginLoadError] = []

    def register_plugin(self, plugin: object, source: PluginSource) -> None:
        """Register ``plugin`` and remember its source for error messages and listings."""
        self.register(plugin, name=source.name)
        self.sources[source.name] = source

    def source_of(self, plugin_name: str) -> PluginSource:
        return self.sources.get(plugin_name, PluginSource(plugin_name, plugin_name))


def disabled_plugin_names(environ: dict[str, str] | None = None) -> list[str]:
    """Names listed in ``AUTOML_CODEGEN_DISABLE_PLUGINS`` (comma separated)."""
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV_VAR, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def get_plugin_manager(*, entry_points: bool = True, plugins: Iterable[tuple[str, object]] = ()) -> PluginManager:
    """Build a plugin manager with every installed plugin loaded.

    Args:
        entry_points: load the ``automl_codegen`` entry points (built-ins included).
        plugins: extra ``(name, plugin)`` pairs to register, e.g. from tests.

    A plugin whose import fails is recorded in ``load_errors`` (and warned about) so the
    others still load; names in ``AUTOML_CODEGEN_DISABLE_PLUGINS`` are blocked.
    """
    pm = PluginManager()
    for name in disabled_plugin_names():
        pm.set_blocked(name)
    if entry_points:
        for ep in _unique_entry_points(pm):
            if pm.is_blocked(ep.name):
                continue
            source = _source(ep)
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must not hide the rest
                _record_failure(pm, source, f"failed to import: {type(exc).__name__}: {exc}", exc)
                continue
            pm.register_plugin(plugin, source)
    for name, plugin in plugins:
        if pm.is_blocked(name) or pm.is_registered(plugin):
            continue  # an installed plugin passed again is already there
        if pm.has_plugin(name):
            msg = (
                f"cannot add plugin {plugin!r} as {name!r}: {pm.source_of(name).describe()} already has that name; "
                f"pass it under another name"
            )
            raise PluginError(msg)
        module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", name)
        pm.register_plugin(plugin, PluginSource(name, str(module)))
    # A misspelt hook name (register_strategy) fails here instead of being silently ignored.
    pm.check_pending()
    return pm


def _source(ep: metadata.EntryPoint) -> PluginSource:
    dist = ep.dist
    return PluginSource(ep.name, ep.value, dist.metadata["Name"] if dist else None, dist.version if dist else None)


def _unique_entry_points(pm: PluginManager) -> list[metadata.EntryPoint]:
    """The group's entry points by name; two distributions claiming one name is an error.

    A plugin name is how users select and block plugins, so a second ``train`` must not
    silently shadow (or vanish behind) the first. The same entry point seen twice (one
    distribution found on two paths) counts once.
    """
    chosen: dict[str, metadata.EntryPoint] = {}
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        other = chosen.get(ep.name)
        if other is None:
            chosen[ep.name] = ep
            continue
        first, second = _source(other), _source(ep)
        if (first.module, first.distribution) == (second.module, second.distribution):
            continue
        msg = (
            f"two installed distributions declare the plugin name {ep.name!r} in the "
            f"{ENTRY_POINT_GROUP!r} entry-point group: {first.describe()} and {second.describe()}; "
            f"uninstall one of them (pip uninstall {second.distribution or second.module}), "
            f"or block the name with {DISABLE_ENV_VAR}={ep.name} to load neither"
        )
        if not pm.is_blocked(ep.name):
            raise PluginError(msg)
    return list(chosen.values())


def _record_failure(pm: PluginManager, source: PluginSource, message: str, exc: BaseException) -> None:
    trace = "".join(traceback.format_exception(exc))
    pm.load_errors.append(PluginLoadError(source, message, trace))
    warnings.warn(f"{source.describe()} {message}", RuntimeWarning, stacklevel=3)


@attrs.frozen
class Registered:
    """One named thing a plugin registered."""

    kind: str
    name: str
    obj: Any
    source: PluginSource


class Registry:
    """Every named strategy, space, objective, ... that the installed plugins registered."""

    def __init__(self, pm: PluginManager) -> None:
        self.plugin_manager = pm
        self._entries: dict[str, dict[str, Registered]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            self._collect(kind, hook_name)

    def _collect(self, kind: str, hook_name: str) -> None:
        pm = self.plugin_manager
        # Call each implementation on its own so the registrations can be attributed
        # to the plugin that made them; pluggy's joint call would hide that.
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            source = pm.source_of(impl.plugin_name)
            register = self._register_callback(kind, source)
            try:
                impl.function(register=register)
            except PluginError as exc:
                raise exc from None
            except Exception as exc:
                _record_failure(pm, source, f"raised in {hook_name}: {type(exc).__name__}: {exc}", exc)

    def _register_callback(self, kind: str, source: PluginSource) -> Callable[[str, Any], None]:
        entries = self._entries[kind]

        def register(name: str, obj: Any) -> None:
            if not isinstance(name, str) or not name:
                msg = f"{source.describe()} registered a {kind} with an invalid name {name!r}"
                raise PluginError(msg)
            if name in entries:
                other = entries[name].source
                msg = (
                    f"duplicate {kind} name {name!r}: registered by {other.describe()} and "
                    f"by {source.describe()}; uninstall one of them or block one with "
                    f"{DISABLE_ENV_VAR}={other.name} or {DISABLE_ENV_VAR}={source.name}"
                )
                raise PluginError(msg)
            own = getattr(obj, "name", None) if kind == "objective" else None
            if isinstance(own, str) and own != name:
                # Trials key objective values by the objective's own name: another name
                # here would select one thing and record another.
                msg = (
                    f"{source.describe()} registered the objective {own!r} under the name {name!r}; "
                    f"register it as register({own!r}, objective)"
                )
                raise PluginError(msg)
            entries[name] = Registered(kind, name, obj, source)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str | None = None) -> list[Registered]:
        kinds = [kind] if kind else list(KINDS)
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def entry(self, kind: str, name: str) -> Registered:
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(kind, name)) from None

    def get(self, kind: str, name: str) -> Any:
        """The object registered as ``name``; unknown names list what is installed."""
        return self.entry(kind, name).obj

    def _unknown_message(self, kind: str, name: str) -> str:
        known = ", ".join(self.names(kind)) or "none"
        msg = f"unknown {kind.replace('_', ' ')} {shown(name)}; installed: {known}"
        broken = [e.source.name for e in self.plugin_manager.load_errors]
        if broken:
            msg += f" (plugins that failed to load: {', '.join(broken)})"
        return msg + ". See `automl-codegen plugins`."


def get_registry(pm: PluginManager | None = None) -> Registry:
    """The registries of ``pm`` (a fresh :func:`get_plugin_manager` by default)."""
    return Registry(pm if pm is not None else get_plugin_manager())


def describe_plugins(registry: Registry) -> list[dict[str, Any]]:
    """One row per registered thing, then one per plugin that only implements hooks.

    Each row names the plugin and its distribution; registered things add a one-line
    description (an objective's own, else the first docstring line) and the options
    their ``Options`` class declares (:func:`automl_codegen.options.describe_options`).
    """
    from .options import describe_options, is_options_class

    rows = []
    for entry in registry.entries():
        options_class = getattr(entry.obj, "Options", None)
        rows.append(
            {
                **_source_row(entry.name, entry.kind, entry.source),
                "description": _one_line(entry.obj),
                "options": describe_options(options_class) if is_options_class(options_class) else [],
            }
        )
    pm = registry.plugin_manager
    registering = {entry.source.name for entry in registry.entries()}
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0] or ""):
        if name is None or name in registering:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append(
            {
                **_source_row(name, "hooks", pm.source_of(name)),
                "description": _one_line(plugin),
                "options": [],
                "hooks": hooks,
            }
        )
    return rows


def _source_row(name: str, kind: str, source: PluginSource) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "plugin": source.name,
        "module": source.module,
        "distribution": source.distribution,
        "version": source.version,
    }


def _one_line(obj: Any) -> str:
    """An object's own ``description`` (objectives have one, maybe empty), else its docstring's first line."""
    text = getattr(obj, "description", None)
    if not isinstance(text, str):
        text = getattr(obj, "__doc__", None) or ""
    return text.strip().splitlines()[0] if text.strip() else ""
