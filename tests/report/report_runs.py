"""Run directories for report tests, written trial by trial through the real journal.

The trials are chosen to hit the cases a real search reaches only by chance: failures,
one objective, no latency, one trial, constraints on either axis, strategy events.
"""

from __future__ import annotations

import math
from html.parser import HTMLParser

from automl_codegen import Architecture, Constraint, Node, SearchResult, Trial
from automl_codegen.journal import RunJournal


def network(width: int = 8) -> Architecture:
    """conv -> BN -> ReLU -> pool -> linear with ``width`` channels (so sizes differ between trials)."""
    return Architecture(
        input_shape=(1, 8, 8),
        num_classes=4,
        nodes=(
            Node(
                "conv", "conv2d", ("input_",), {"in_channels": 1, "out_channels": width, "kernel_size": 3, "padding": 1}
            ),
            Node("bn", "batchnorm2d", ("conv",), {"num_features": width}),
            Node("act", "relu", ("bn",)),
            Node("pool", "global_avg_pool", ("act",)),
            Node("classifier", "linear", ("pool",), {"in_features": width, "out_features": 4}),
        ),
        output="classifier",
    )


def make_trial(number, objectives, *, metrics=None, constraints=(), error=None, width=8):
    """A trial as the engine records it: objectives from the metrics, constraints checked."""
    metrics = dict(metrics or {})
    if error is not None:
        return Trial(number, {"width": width}, network(width), "failed", {}, {}, math.inf, error, 0.5)
    metrics.setdefault("params", float(network(width).num_params))
    violation = sum(Constraint.parse(c).violation(metrics) for c in constraints)
    values = {name: metrics[name] for name in objectives}
    return Trial(number, {"width": width}, network(width), "complete", metrics, values, violation, None, 1.5)


def write_run(
    path, trials, *, objectives=("accuracy",), constraints=(), events=None, strategy="evolution", options=None
):
    """A run directory holding ``trials`` and ``events`` ({kind: [(step, values)]}), loaded back as a SearchResult."""
    directions = {"accuracy": "max"}
    config = {
        "task": "image_classification",
        "dataset": "synthetic",
        "dataset_options": {},
        "dataset_summary": {"name": "synthetic", "input_shape": [1, 8, 8], "num_classes": 4, "description": "blobs"},
        "space": "chain-cnn",
        "space_options": {},
        "strategy": strategy,
        "strategy_options": dict(options or {}),
        "first_generation_size": (options or {}).get("population_size"),
        "objectives": [{"name": o, "direction": directions.get(o, "min")} for o in objectives],
        "constraints": list(constraints),
        "budget": {"trials": len(trials), "seconds": None},
        "seed": 0,
    }
    with RunJournal.create(path, config) as journal:
        for trial in trials:
            journal.start_trial(trial.number, trial.genotype)
            journal.finish_trial(trial, None, 1.0 + trial.number)
        for kind, logged in (events or {}).items():
            for step, values in logged:
                journal.log_event(kind, step, values)
    return SearchResult.load(path)


def axes_titled(figure, start):
    """The one axes of ``figure`` whose title starts with ``start``."""
    (found,) = [ax for ax in figure.axes if ax.get_title().startswith(start)]
    return found


class Tables(HTMLParser):
    """The cells of every table of a page by table id: ``headers[id]`` and ``rows[id]`` (text, stripped)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self._table = self._row = self._cell = None
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs).get("id", "")
            self.headers[self._table], self.rows[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._in_head:
                self.headers[self._table] = self._row
            else:
                self.rows[self._table].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def column(self, table: str, header: str) -> list[str]:
        """One column of a table's body, by its header text."""
        index = self.headers[table].index(header)
        return [row[index] for row in self.rows[table]]
