"""What a plugin needs to add a panel to the run report: :class:`Panel` and the report's style.

A plugin implements the ``report_panels(result)`` hook and returns panels drawn from
what its strategy logged (``result.events(kind)``)::

    from automl_codegen import hookimpl
    from automl_codegen.report.panels import Panel, event_values

    @hookimpl
    def report_panels(result):
        losses = result.events("my_loss")
        if not losses:
            return None  # not a run of this strategy

        def draw(ax):
            ax.plot([step for step, _ in losses], event_values(losses, "loss"))

        return [Panel("My strategy: loss per step", draw)]

Nothing here imports matplotlib: a plugin module imports this at load time, and
``automl-codegen --help`` loads every plugin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["FRONT_COLOR", "MUTED", "POINT_COLOR", "Panel", "color_cycle", "event_values", "integer_ticks"]

#: The report's colours, for panels that should read like the built-in ones.
FRONT_COLOR = "crimson"  # the Pareto front, the best so far, a baseline
POINT_COLOR = "steelblue"  # a trial, a measurement
MUTED = "0.55"  # reference lines, "nothing to show" notes


def _non_empty(_: Any, attribute: attrs.Attribute, text: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        msg = f"Panel.{attribute.name} must be a non-empty string, got {text!r}"
        raise TypeError(msg)


@attrs.frozen
class Panel:
    """One extra panel of the report figure, as a plugin's ``report_panels`` hook returns it.

    The figure lays extra panels out two per row below its four fixed panels, in the order
    the hooks returned them.

    Attributes:
        title: the panel's title; the figure sets it after ``draw`` (so ``draw`` need
            not), and warnings about the panel name it.
        draw: ``draw(ax)`` draws the panel on a :class:`matplotlib.axes.Axes` (axes,
            ticks, legend). Import matplotlib inside it, never at module level. If it
            raises, the report shows the panel empty with the error, and goes on.
    """

    title: str = attrs.field(validator=_non_empty)
    draw: Callable[[Any], None] = attrs.field(validator=attrs.validators.is_callable())


def event_values(events: Sequence[tuple[int, dict[str, Any]]], key: str) -> list[float]:
    """``key`` of each event's values as a float, NaN where missing or not a number (a gap in a line)."""
    out = []
    for _, values in events:
        raw = values.get(key)
        out.append(float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else math.nan)
    return out


def integer_ticks(ax: Any, steps: Sequence[int]) -> None:
    """Ticks on whole numbers only (trials, epochs, updates), every one of them when there are few."""
    from matplotlib.ticker import MaxNLocator

    if 0 < len(steps) <= 12:
        ax.set_xticks(sorted(set(steps)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def color_cycle(n: int) -> list[Any]:
    """``n`` distinguishable colours (repeating after 20), for one line per edge, op, ..."""
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]
