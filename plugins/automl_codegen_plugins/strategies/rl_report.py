"""The ``rl-report`` plugin: the RL controller's learning in the run report.

``controller`` events (one per policy update: ``reward_mean``, ``reward_max``,
``baseline``, ``entropy``; a NaN is stored as null) give two panels: the rewards
against the baseline, and the entropy of the policy's decisions, which falls as the
controller grows sure of its choices.

Keyed on the events, not the strategy's name, so a third-party controller that logs
events of the same shape gets the same panels. matplotlib is imported only while
drawing.
"""

from __future__ import annotations

from typing import Any

from automl_codegen import hookimpl
from automl_codegen.report.panels import FRONT_COLOR, POINT_COLOR, Panel, event_values, integer_ticks

Events = list[tuple[int, dict[str, Any]]]
_REWARD_LINES = (
    ("reward_mean", {"color": POINT_COLOR, "marker": "."}),
    ("reward_max", {"color": "seagreen", "linestyle": "--"}),
    ("baseline", {"color": FRONT_COLOR}),
)


@hookimpl
def report_panels(result: Any) -> list[Panel] | None:
    """Reward and entropy panels when the run logged ``controller`` events."""
    updates = result.events("controller")
    if not updates:
        return None
    return [
        Panel("RL controller: reward per update", lambda ax: _draw_reward(ax, updates)),
        Panel("RL controller: entropy per update", lambda ax: _draw_entropy(ax, updates)),
    ]


def _draw_reward(ax: Any, events: Events) -> None:
    steps = [step for step, _ in events]
    for key, style in _REWARD_LINES:
        ax.plot(steps, event_values(events, key), label=key.replace("_", " "), **style)
    integer_ticks(ax, steps)
    ax.set_xlabel("controller update")
    ax.set_ylabel("reward")
    ax.legend(fontsize=7)


def _draw_entropy(ax: Any, events: Events) -> None:
    steps = [step for step, _ in events]
    ax.plot(steps, event_values(events, "entropy"), color="darkorange", marker=".")
    integer_ticks(ax, steps)
    ax.set_xlabel("controller update")
    ax.set_ylabel("entropy of one architecture's decisions (nats)")
