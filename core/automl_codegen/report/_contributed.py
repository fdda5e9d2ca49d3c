"""The extra panels that plugins contribute to a report through the ``report_panels`` hook.

The core keys no panel on a strategy or an event kind: every plugin is asked, and the
ones whose strategy logged something worth drawing answer. A plugin that fails costs
its own panels, never the report.
"""

from __future__ import annotations

import warnings
from typing import Any

import attrs

from ..plugins import PluginSource
from .panels import Panel

HOOK = "report_panels"


@attrs.frozen
class Contributed:
    """A panel and the plugin that contributed it (named when the panel fails to draw)."""

    panel: Panel
    source: PluginSource


def contributed_panels(result: Any) -> list[Contributed]:
    """Every plugin's panels for ``result``, in pluggy's call order (the last registered first).

    Each implementation is called on its own, as ``Registry`` does for its hooks, so a
    hook that raises or returns something else than panels can be named in the
    warning and left out while the other plugins' panels are kept.
    """
    pm = result.registry.plugin_manager
    arguments = {"result": result}
    out: list[Contributed] = []
    for impl in reversed(getattr(pm.hook, HOOK).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue  # a wrapper wraps pluggy's joint call, which is never made here
        source = pm.source_of(impl.plugin_name)
        try:
            returned = impl.function(*(arguments[name] for name in impl.argnames))
        except Exception as exc:
            warn(source, f"raised in {HOOK}: {type(exc).__name__}: {exc}; its panels are left out of the report")
            continue
        for panel in _as_list(returned, source):
            if isinstance(panel, Panel):
                out.append(Contributed(panel, source))
            else:
                warn(source, f"returned {panel!r} from {HOOK}, not an automl_codegen.report.Panel; left out")
    return out


def _as_list(returned: Any, source: PluginSource) -> list[Any]:
    if returned is None:
        return []
    if isinstance(returned, Panel):
        return [returned]  # one panel for a list of one: the intent is clear
    try:
        return list(returned)
    except Exception as exc:  # not iterable, or a generator that raised
        warn(source, f"returned {returned!r} from {HOOK}, not a list of panels ({type(exc).__name__}: {exc})")
        return []


def warn(source: PluginSource, message: str) -> None:
    """A RuntimeWarning about ``source``'s panels, worded like the plugin loader's."""
    warnings.warn(f"{source.describe()} {message}", RuntimeWarning, stacklevel=3)
