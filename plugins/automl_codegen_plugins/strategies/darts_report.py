"""The ``darts-report`` plugin: DARTS' story in the run report, from the events the strategy logs.

* ``alpha`` events (per epoch, softmax(α) per cell kind as an edges × ops matrix): one
  panel per cell kind, each edge's weight of the op it ends up preferring.
* ``supernet`` events (per epoch, the supernet's accuracies and the derived genotype):
  the accuracies, with a mark where the derived cell changed. ENAS (``rl`` with weight
  sharing) logs the same record, so its runs get this panel too.

Keyed on the events, not the strategy's name, so a third-party one-shot strategy that
logs events of the same shape gets the same panels. matplotlib is imported only while
drawing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from automl_codegen import hookimpl
from automl_codegen.report.panels import (
    FRONT_COLOR,
    MUTED,
    POINT_COLOR,
    Panel,
    color_cycle,
    event_values,
    integer_ticks,
)

Events = list[tuple[int, dict[str, Any]]]
#: Op names and edge labels of the α matrices' columns and rows.
Labels = tuple[list[str], list[str]]
_ACCURACIES = (("train_accuracy", POINT_COLOR), ("search_accuracy", "seagreen"), ("val_accuracy", FRONT_COLOR))


@hookimpl
def report_panels(result: Any) -> list[Panel]:
    """α panels when the run logged ``alpha`` events, a supernet panel for ``supernet`` events."""
    panels = []
    alpha = result.events("alpha")
    if alpha:
        steps = [step for step, _ in alpha]
        labels = supernet_labels(result)
        for kind, matrices in alpha_series(alpha).items():
            panels.append(
                Panel(
                    f"DARTS α, {kind} cell: each edge's strongest op at the end",
                    lambda ax, m=matrices: _draw_alpha(ax, steps, m, labels),
                )
            )
    supernet = result.events("supernet")
    if supernet:
        panels.append(Panel("Supernet: accuracy per epoch", lambda ax: _draw_supernet(ax, supernet)))
    return panels


def supernet_labels(result: Any) -> Labels | None:
    """``(op names, edge labels)`` of the run's supernet, for the α panels; None if unknown.

    The journal's α events hold bare matrices; the names come from the search space the
    run used, rebuilt from its recorded options. A run read on a machine without that
    space (or with a changed one) still gets its panels, labelled by position.
    """
    config = result.config
    data = config.get("dataset_summary") or {}
    try:
        factory = result.registry.get("search_space", config["space"])
        space = factory(tuple(data["input_shape"]), int(data["num_classes"]), **dict(config.get("space_options") or {}))
        description = space.supernet_description()
        ops = [str(op) for op in description.ops]
        edges = [f"{i}→{j}" for i, j in description.edges]
    except Exception:  # any failure only costs the labels, never the report
        return None
    return ops, edges


def alpha_series(events: Events) -> dict[str, np.ndarray]:
    """Per cell kind (normal first), softmax(α) as an array (epochs, edges, ops); malformed kinds are left out."""
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


def _draw_alpha(ax: Any, steps: list[int], alpha: np.ndarray, labels: Labels | None) -> None:
    _, n_edges, n_ops = alpha.shape
    # Labels of another shape belong to a changed space: positions are honest, names would not be.
    ops, edges = labels if labels and len(labels[0]) == n_ops and len(labels[1]) == n_edges else ([], [])
    ops = ops or [f"op {i}" for i in range(n_ops)]
    edges = edges or [f"edge {i}" for i in range(n_edges)]
    strongest = alpha[-1].argmax(axis=1)
    colors = color_cycle(n_edges)
    for edge in range(n_edges):
        op = int(strongest[edge])
        ax.plot(steps, alpha[:, edge, op], color=colors[edge], marker=".", label=f"{edges[edge]}: {ops[op]}")
    ax.axhline(1 / n_ops, color=MUTED, linestyle=":", linewidth=1, label=f"uniform (1/{n_ops})")
    integer_ticks(ax, steps)
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("softmax(α) of the op")
    ax.legend(fontsize=6, ncol=3 if n_edges > 8 else 2, loc="best")


def _draw_supernet(ax: Any, events: Events) -> None:
    steps = [step for step, _ in events]
    for key, color in _ACCURACIES:
        values = event_values(events, key)
        if not all(math.isnan(v) for v in values):
            ax.plot(steps, values, color=color, marker=".", label=key.replace("_", " "))
    # Where the derived cell changed: a run whose genotype still moves at the end was stopped early.
    changed = [
        s for (s, p), (_, q) in zip(events[1:], events[:-1], strict=True) if p.get("genotype") != q.get("genotype")
    ]
    for i, step in enumerate(changed):
        ax.axvline(step, color=MUTED, linestyle=":", linewidth=1, label="derived cell changed" if i == 0 else None)
    integer_ticks(ax, steps)
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
