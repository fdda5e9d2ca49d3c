"""The report's figure: four panels for every run, plus the panels plugins contribute.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global state, no GUI backend, so building a report in a notebook, a
thread or a headless server behaves the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..objective import MIN, Objective
from ..trial import Trial
from . import _data
from ._contributed import Contributed, contributed_panels, warn
from ._data import value
from .panels import FRONT_COLOR, MUTED, POINT_COLOR, integer_ticks

#: Figure width in inches; a base height for the four panels and one more per row of contributed panels.
WIDTH, BASE_HEIGHT, ROW_HEIGHT = 13.0, 9.5, 4.2


def require_matplotlib() -> None:
    """Import matplotlib, or say how to get it (it is an optional dependency)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        msg = "the run report needs matplotlib; install it with: pip install 'automl-codegen[report]'"
        raise ConfigError(msg) from None


def make_figure(result: Any) -> Any:
    """The report figure of ``result`` (a :class:`~automl_codegen.search.SearchResult`).

    Below the four panels every run has come the :class:`~automl_codegen.report.Panel`
    values that plugins return from ``report_panels(result)``, two per row.

    Returns:
        A :class:`matplotlib.figure.Figure` with an Agg canvas attached (``savefig`` works).
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    extras = contributed_panels(result)
    rows = math.ceil(len(extras) / 2)
    fig = Figure(figsize=(WIDTH, BASE_HEIGHT + ROW_HEIGHT * rows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 + rows, 2, height_ratios=[1, 1] + [ROW_HEIGHT / (BASE_HEIGHT / 2)] * rows)
    trials = result.trials
    front = {t.number for t in result.pareto_front}
    _search_space(fig.add_subplot(grid[0, 0]), trials, result.objectives, result.constraints, front)
    _progress(fig.add_subplot(grid[0, 1]), trials, result.objectives, _data.generation_size(result.config, len(trials)))
    _trade_off(fig.add_subplot(grid[1, 0]), trials, result.objectives, result.constraints, front)
    _distribution(fig, grid[1, 1], trials, result.best)
    for i, extra in enumerate(extras):
        _contributed(fig.add_subplot(grid[2 + i // 2, i % 2]), extra)
    fig.suptitle(_title(result), fontsize=13)
    return fig


def _title(result: Any) -> str:
    config = result.config
    failed = sum(not t.ok for t in result.trials)
    elapsed = f", {result.elapsed_s:.0f} s" if result.elapsed_s else ""
    return (
        f"{config.get('strategy', '?')} on {config.get('space', '?')}, dataset {config.get('dataset', '?')}: "
        f"{len(result.trials)} trials ({failed} failed){elapsed}"
    )


def _axis_label(name: str, objectives: Sequence[Objective]) -> str:
    better = "lower" if _data.direction(name, objectives) == MIN else "higher"
    return f"{name} ({better} is better)"


def _empty(ax: Any, title: str, why: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


def _log_if_wide(ax: Any, values: Sequence[float], axis: str = "x") -> None:
    """Log scale when the positive values span more than a factor of 20 (parameter counts do)."""
    positive = [v for v in values if v > 0]
    if len(positive) == len(values) and positive and max(positive) / min(positive) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _plain_numbers(ax: Any) -> None:
    """Whole tick labels on linear axes (``10,880``), not an offset (``+1.088e4``) that reads as an error."""
    from matplotlib.ticker import FuncFormatter

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        formatter = axis.get_major_formatter()
        if scale == "linear" and hasattr(formatter, "set_useOffset"):
            formatter.set_useOffset(False)
    if ax.get_xscale() == "linear":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"))


def _points(trials: Sequence[Trial], x: str, y: str) -> list[tuple[Trial, float, float]]:
    """Completed trials with finite values on both axes."""
    out = [(t, value(t, x), value(t, y)) for t in trials if t.ok]
    return [(t, a, b) for t, a, b in out if not (math.isnan(a) or math.isnan(b))]


def _mark_front(ax: Any, points: list[tuple[Trial, float, float]], front: set[int]) -> None:
    members = [(t, a, b) for t, a, b in points if t.number in front]
    if not members:
        return
    ax.scatter(
        [a for _, a, _ in members],
        [b for _, _, b in members],
        s=110,
        facecolors="none",
        edgecolors=FRONT_COLOR,
        linewidths=1.6,
        label="Pareto front (run's objectives)",
        zorder=4,
    )
    for t, a, b in members:
        ax.annotate(f"#{t.number}", (a, b), textcoords="offset points", xytext=(5, 5), fontsize=7, color=FRONT_COLOR)


def _scatter_trials(ax: Any, points: list[tuple[Trial, float, float]], **feasible_style: Any) -> Any:
    """Feasible trials in colour, infeasible ones hollow; returns the feasible collection."""
    feasible = [(t, a, b) for t, a, b in points if t.feasible]
    infeasible = [(t, a, b) for t, a, b in points if not t.feasible]
    collection = None
    if feasible:
        collection = ax.scatter([a for _, a, _ in feasible], [b for _, _, b in feasible], zorder=3, **feasible_style)
    if infeasible:
        ax.scatter(
            [a for _, a, _ in infeasible],
            [b for _, _, b in infeasible],
            s=28,
            facecolors="none",
            edgecolors=MUTED,
            label="breaks a constraint",
            zorder=3,
        )
    return collection


# -- the four panels ---------------------------------------------------------------------------


def _search_space(
    ax: Any, trials: Sequence[Trial], objectives: Sequence[Objective], constraints: Sequence[Any], front: set[int]
) -> None:
    y = _data.accuracy_axis(trials, objectives) if trials else objectives[0].name
    title = f"Search space: parameters vs {y}"
    points = _points(trials, "params", y)
    if not points:
        _empty(ax, title, "no completed trial")
        return
    last = max(t.number for t in trials)
    feasible = [t.number for t, _, _ in points if t.feasible]
    colored = _scatter_trials(
        ax, points, c=feasible, cmap="viridis", vmin=0, vmax=max(last, 1), s=30, label="trial (colour: number)"
    )
    _mark_front(ax, points, front)
    if colored is not None:
        ax.figure.colorbar(colored, ax=ax, label="trial number", fraction=0.05, pad=0.01)
    _log_if_wide(ax, [a for _, a, _ in points])
    # The trade-off panel lists constraints on other axes; here they would only repeat it.
    _constraint_lines(ax, constraints, "params", y)
    _plain_numbers(ax)
    ax.set_xlabel("parameters")
    ax.set_ylabel(_axis_label(y, objectives))
    failed = sum(not t.ok for t in trials)
    ax.set_title(title + (f" ({failed} failed, not shown)" if failed else ""))
    ax.legend(fontsize=7, loc="best")


def _progress(ax: Any, trials: Sequence[Trial], objectives: Sequence[Objective], size: int) -> None:
    primary = objectives[0].name
    title = "Search progress"
    if not trials:
        _empty(ax, title, "no trials")
        return
    groups = _data.generations(trials, size)
    data, positions = [], []
    for group in groups:
        values = [v for v in (value(t, primary) for t in group if t.ok) if not math.isnan(v)]
        if values:
            data.append(values)
            positions.append(sum(t.number for t in group) / len(group))
        if group[0].number > trials[0].number:
            ax.axvline(group[0].number - 0.5, color="0.85", linestyle=":", zorder=0)
    if data:
        boxes = ax.boxplot(
            data,
            positions=positions,
            widths=max(0.6 * size, 0.5),
            manage_ticks=False,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "lightsteelblue", "edgecolor": "slategray"},
            medianprops={"color": "slategray"},
            whiskerprops={"color": "slategray"},
            capprops={"color": "slategray"},
            zorder=1,
        )
        for box in boxes["boxes"]:
            box.set_alpha(0.45)  # the trials' points show through the spread
    points = [(t, float(t.number), value(t, primary)) for t in trials if t.ok and not math.isnan(value(t, primary))]
    _scatter_trials(ax, points, s=18, color=POINT_COLOR, label="trial")
    best = _data.best_so_far(trials, objectives)
    curve = [value(b, primary) if b is not None and b.ok else math.nan for b in best]
    ax.step([t.number for t in trials], curve, where="post", color=FRONT_COLOR, linewidth=1.8, label="best so far")
    failed = [t.number for t in trials if not t.ok]
    if failed:
        from matplotlib.transforms import blended_transform_factory

        ax.scatter(
            failed,
            [0.03] * len(failed),
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            marker="x",
            color="red",
            label=f"failed ({len(failed)})",
            zorder=4,
        )
    integer_ticks(ax, [t.number for t in trials])
    ax.set_xlabel("trial")
    ax.set_ylabel(_axis_label(primary, objectives))
    ax.set_title(f"{title}: {len(groups)} generation{'s' * (len(groups) != 1)} of {size} (boxes: spread)")
    ax.legend(fontsize=7, loc="best")


def _trade_off(
    ax: Any, trials: Sequence[Trial], objectives: Sequence[Objective], constraints: Sequence[Any], front: set[int]
) -> None:
    x, y = _data.trade_off_axes(trials, objectives)
    title = f"Trade-off: {y} vs {x}"
    points = _points(trials, x, y)
    if not points:
        _empty(ax, title, f"no completed trial with both {x} and {y}")
        return
    _scatter_trials(ax, points, s=30, color=POINT_COLOR, label="trial")
    stairs = _data.front_2d(trials, x, y, objectives)
    if stairs:
        where = "post" if _data.direction(x, objectives) == MIN else "pre"
        ax.step(
            [value(t, x) for t in stairs],
            [value(t, y) for t in stairs],
            where=where,
            color=FRONT_COLOR,
            alpha=0.6,
            linewidth=1.2,
            label=f"front on {x} and {y}",
        )
    _mark_front(ax, points, front)
    _log_if_wide(ax, [a for _, a, _ in points])
    elsewhere = _constraint_lines(ax, constraints, x, y)
    _plain_numbers(ax)
    if elsewhere:
        ax.text(0.01, 0.01, "also: " + "; ".join(elsewhere), transform=ax.transAxes, fontsize=7, color="0.3")
    ax.set_xlabel(_axis_label(x, objectives))
    ax.set_ylabel(_axis_label(y, objectives))
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")


def _constraint_lines(ax: Any, constraints: Sequence[Any], x: str, y: str) -> list[str]:
    """A dashed line per constraint on a shown axis, its infeasible side shaded; the others' text."""
    elsewhere = []
    for constraint in constraints:
        if constraint.name not in (x, y):
            elsewhere.append(str(constraint))
            continue
        vertical = constraint.name == x
        (ax.axvline if vertical else ax.axhline)(
            constraint.bound, color=FRONT_COLOR, linestyle="--", linewidth=1, label=str(constraint)
        )
        low, high = ax.get_xlim() if vertical else ax.get_ylim()
        # An upper bound makes everything above it infeasible, a lower bound everything below.
        start, end = (constraint.bound, high) if constraint.op in ("<", "<=") else (low, constraint.bound)
        (ax.axvspan if vertical else ax.axhspan)(start, end, color=FRONT_COLOR, alpha=0.06, zorder=0)
        (ax.set_xlim if vertical else ax.set_ylim)(low, high)
    return elsewhere


def _distribution(fig: Any, cell: Any, trials: Sequence[Trial], best: Trial | None) -> None:
    ops_ax, params_ax = (fig.add_subplot(spec) for spec in cell.subgridspec(1, 2, width_ratios=[1.2, 1]))
    sampled = [t for t in trials if t.architecture is not None]
    frequencies = _data.op_frequencies(trials)
    if not frequencies:
        _empty(ops_ax, "Ops of sampled architectures", "no architecture")
        _empty(params_ax, "Parameters", "no architecture")
        return
    shown = list(frequencies.items())[:14]
    ops_ax.barh([op for op, _ in shown], [n for _, n in shown], color=POINT_COLOR)
    ops_ax.invert_yaxis()
    ops_ax.tick_params(axis="y", labelsize=7)
    ops_ax.set_xlabel("mean count per architecture")
    ops_ax.set_title(f"Ops in the {len(sampled)} sampled architectures", fontsize=10)
    params = [value(t, "params") for t in sampled]
    params = [p for p in params if not math.isnan(p)]
    if params and max(params) > 0 and min(params) > 0 and max(params) / min(params) > 20:
        bins: Any = np.geomspace(min(params), max(params), 12)
        params_ax.set_xscale("log")
    else:
        bins = min(12, max(len(set(params)), 1))
    spread = max(params) - min(params) if params else 0
    # One distinct size would make a zero-width bin around it: give it a visible width.
    extent = (min(params) * 0.9, max(params) * 1.1) if params and spread == 0 else None
    params_ax.hist(params, bins=bins, range=extent, color="lightsteelblue", edgecolor="slategray")
    _plain_numbers(params_ax)
    if best is not None and not math.isnan(value(best, "params")):
        params_ax.axvline(value(best, "params"), color=FRONT_COLOR, linestyle="--", label=f"best (#{best.number})")
        params_ax.legend(fontsize=7)
    params_ax.set_xlabel("parameters")
    params_ax.set_ylabel("architectures")
    params_ax.set_title("Parameters", fontsize=10)


# -- contributed panels -------------------------------------------------------------------------


def _contributed(ax: Any, extra: Contributed) -> None:
    """Draw a plugin's panel; one that raises is shown empty with the error, not allowed to end the report."""
    title = extra.panel.title
    try:
        extra.panel.draw(ax)
    except Exception as exc:
        warn(extra.source, f"failed to draw its report panel {title!r}: {type(exc).__name__}: {exc}")
        ax.clear()
        _empty(ax, title, f"could not be drawn:\n{type(exc).__name__}: {exc}")
    ax.set_title(title)
