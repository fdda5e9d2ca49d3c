"""The report's figure: four panels for every run, plus panels for strategies that log their own story.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global state, no GUI backend, so building a report in a notebook, a
thread or a headless server behaves the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..objective import MIN, Objective
from ..trial import Trial
from . import _data
from ._data import value

FRONT_COLOR = "crimson"
POINT_COLOR = "steelblue"
MUTED = "0.55"
#: Figure width in inches; a base height for the four panels and one more per strategy row.
WIDTH, BASE_HEIGHT, ROW_HEIGHT = 13.0, 9.5, 4.2


def require_matplotlib() -> None:
    """Import matplotlib, or say how to get it (it is an optional dependency)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        msg = "the run report needs matplotlib; install it with: pip install 'automl-codegen[report]'"
        raise ConfigError(msg) from None


def make_figure(result: Any, alpha_labels: tuple[list[str], list[str]] | None = None) -> Any:
    """The report figure of ``result`` (a :class:`~automl_codegen.search.SearchResult`).

    Args:
        result: the run.
        alpha_labels: ``(op names, edge labels)`` for DARTS' α panels; positions when None.

    Returns:
        A :class:`matplotlib.figure.Figure` with an Agg canvas attached (``savefig`` works).
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    extras = _strategy_panels(result, alpha_labels)
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
    for i, draw in enumerate(extras):
        draw(fig.add_subplot(grid[2 + i // 2, i % 2]))
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


def _integer_ticks(ax: Any, steps: Sequence[int]) -> None:
    """Ticks on whole numbers only (trials, epochs, updates), every one of them when there are few."""
    from matplotlib.ticker import MaxNLocator

    if 0 < len(steps) <= 12:
        ax.set_xticks(sorted(set(steps)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


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
        ax.boxplot(
            data,
            positions=positions,
            widths=max(0.6 * size, 0.5),
            manage_ticks=False,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "lightsteelblue", "alpha": 0.45, "edgecolor": "slategray"},
            medianprops={"color": "slategray"},
            whiskerprops={"color": "slategray"},
            capprops={"color": "slategray"},
            zorder=1,
        )
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
    _integer_ticks(ax, [t.number for t in trials])
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


# -- strategy panels --------------------------------------------------------------------------


def _strategy_panels(result: Any, alpha_labels: tuple[list[str], list[str]] | None) -> list[Callable[[Any], None]]:
    """One drawing function per extra panel, chosen by the events the run's strategy logged.

    Keyed on the events, not the strategy's name, so a third-party strategy that logs
    ``alpha`` or ``controller`` events in the same shape gets the same panels.
    """
    panels: list[Callable[[Any], None]] = []
    alpha = result.events("alpha")
    if alpha:
        for kind, matrices in _alpha_series(alpha).items():
            panels.append(lambda ax, k=kind, m=matrices: _alpha_panel(ax, k, [s for s, _ in alpha], m, alpha_labels))
    supernet = result.events("supernet")
    if supernet:
        panels.append(lambda ax: _supernet_panel(ax, supernet))
    controller = result.events("controller")
    if controller:
        panels.append(lambda ax: _reward_panel(ax, controller))
        panels.append(lambda ax: _entropy_panel(ax, controller))
    return panels


def _alpha_series(events: list[tuple[int, dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Per cell kind, softmax(α) as an array (epochs, edges, ops); malformed kinds are left out."""
    series = {}
    kinds = sorted({k for _, payload in events for k in payload}, key=lambda k: (k != "normal", k))
    for kind in kinds:
        try:
            array = np.array([payload[kind] for _, payload in events], dtype=float)
        except (KeyError, ValueError, TypeError):
            continue  # missing in some epoch or ragged: not a matrix per epoch
        if array.ndim == 2:
            array = array[:, None, :]  # a single edge
        if array.ndim == 3 and array.shape[2] > 0:
            series[kind] = array
    return series


def _alpha_panel(
    ax: Any, kind: str, steps: list[int], alpha: np.ndarray, labels: tuple[list[str], list[str]] | None
) -> None:
    _, n_edges, n_ops = alpha.shape
    ops, edges = labels if labels and len(labels[0]) == n_ops and len(labels[1]) == n_edges else ([], [])
    ops = ops or [f"op {i}" for i in range(n_ops)]
    edges = edges or [f"edge {i}" for i in range(n_edges)]
    strongest = alpha[-1].argmax(axis=1)
    colors = _cycle(n_edges)
    for edge in range(n_edges):
        op = int(strongest[edge])
        ax.plot(steps, alpha[:, edge, op], color=colors[edge], marker=".", label=f"{edges[edge]}: {ops[op]}")
    ax.axhline(1 / n_ops, color=MUTED, linestyle=":", linewidth=1, label=f"uniform (1/{n_ops})")
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("softmax(α) of the op")
    ax.set_title(f"DARTS α, {kind} cell: each edge's strongest op at the end")
    ax.legend(fontsize=6, ncol=3 if n_edges > 8 else 2, loc="best")


def _supernet_panel(ax: Any, events: list[tuple[int, dict[str, Any]]]) -> None:
    steps = [step for step, _ in events]
    for key, color in (("train_accuracy", POINT_COLOR), ("search_accuracy", "seagreen"), ("val_accuracy", FRONT_COLOR)):
        values = _series(events, key)
        if not all(math.isnan(v) for v in values):
            ax.plot(steps, values, color=color, marker=".", label=key.replace("_", " "))
    # Where the derived cell changed: a run whose genotype still moves at the end was stopped early.
    changed = [
        s for (s, p), (_, q) in zip(events[1:], events[:-1], strict=True) if p.get("genotype") != q.get("genotype")
    ]
    for i, step in enumerate(changed):
        ax.axvline(step, color=MUTED, linestyle=":", linewidth=1, label="derived cell changed" if i == 0 else None)
    _integer_ticks(ax, steps)
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("Supernet: accuracy per epoch")
    ax.legend(fontsize=7)


def _cycle(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def _series(events: list[tuple[int, dict[str, Any]]], key: str) -> list[float]:
    out = []
    for _, payload in events:
        raw = payload.get(key)
        out.append(float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else math.nan)
    return out


def _reward_panel(ax: Any, events: list[tuple[int, dict[str, Any]]]) -> None:
    steps = [step for step, _ in events]
    for key, style in (
        ("reward_mean", {"color": POINT_COLOR, "marker": "."}),
        ("reward_max", {"color": "seagreen", "linestyle": "--"}),
        ("baseline", {"color": FRONT_COLOR}),
    ):
        ax.plot(steps, _series(events, key), label=key.replace("_", " "), **style)
    _integer_ticks(ax, steps)
    ax.set_xlabel("controller update")
    ax.set_ylabel("reward")
    ax.set_title("RL controller: reward per update")
    ax.legend(fontsize=7)


def _entropy_panel(ax: Any, events: list[tuple[int, dict[str, Any]]]) -> None:
    steps = [step for step, _ in events]
    ax.plot(steps, _series(events, "entropy"), color="darkorange", marker=".")
    _integer_ticks(ax, steps)
    ax.set_xlabel("controller update")
    ax.set_ylabel("entropy of one architecture's decisions (nats)")
    ax.set_title("RL controller: entropy per update")
