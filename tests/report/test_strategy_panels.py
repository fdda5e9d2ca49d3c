"""Panels that plugins add to the report: DARTS' α per edge, the RL controller's reward and entropy, anyone's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_runs import axes_titled, make_trial, write_run

import automl_codegen.report
from automl_codegen import Evaluation, NeuralArchitectureSearch, SearchResult, hookimpl
from automl_codegen.report import Panel
from automl_codegen.report.panels import event_values
from automl_codegen.testing import plugin_manager_with, registry_with
from automl_codegen_plugins.spaces.nb201 import EDGES, OPS

BASE_PANELS = 5  # search space, progress, trade-off, ops, parameters


def softmax_rows(rows):
    import math

    out = []
    for row in rows:
        e = [math.exp(v) for v in row]
        out.append([v / sum(e) for v in e])
    return out


def test_alpha_events_give_one_panel_per_cell_kind(tmp_path):
    # Three edges of four ops; over three epochs edge 0 moves to op 2, edge 1 to op 0, edge 2 to op 3.
    targets = [2, 0, 3]
    events = [
        (
            epoch,
            {
                "normal": softmax_rows([[epoch * (op == t) for op in range(4)] for t in targets]),
                "reduce": softmax_rows([[0.5 * epoch * (op == 1) for op in range(4)] for _ in targets]),
                "broken": [[1.0, 2.0], [3.0]],  # ragged: not a matrix, so no panel
            },
        )
        for epoch in range(3)
    ]
    result = write_run(
        tmp_path / "run", [make_trial(0, ["accuracy"], metrics={"accuracy": 0.5})], events={"alpha": events}
    )
    figure = result.plot(tmp_path / "out", html=False).figure
    titles = [ax.get_title() for ax in figure.axes]
    assert [t for t in titles if t.startswith("DARTS α")] == [
        "DARTS α, normal cell: each edge's strongest op at the end",
        "DARTS α, reduce cell: each edge's strongest op at the end",
    ]
    normal = axes_titled(figure, "DARTS α, normal")
    # chain-cnn has no supernet, so edges and ops are named by position.
    curves = {line.get_label(): list(line.get_ydata()) for line in normal.lines}
    assert list(curves) == ["edge 0: op 2", "edge 1: op 0", "edge 2: op 3", "uniform (1/4)"]
    for edge, target in enumerate(targets):
        expected = [payload["normal"][edge][target] for _, payload in events]
        assert curves[f"edge {edge}: op {target}"] == pytest.approx(expected)
    assert curves["uniform (1/4)"] == [0.25, 0.25]


def test_controller_events_give_reward_and_entropy_panels(tmp_path):
    events = [
        (
            step,
            {"reward_mean": 0.1 * step, "reward_max": 0.2 + 0.1 * step, "baseline": 0.05 * step, "entropy": 3.0 - step},
        )
        for step in range(4)
    ]
    events[2][1]["baseline"] = None  # a NaN the strategy stored as null: a gap, not an error
    result = write_run(
        tmp_path / "run", [make_trial(0, ["accuracy"], metrics={"accuracy": 0.5})], events={"controller": events}
    )
    figure = result.plot(tmp_path / "out", html=False).figure
    assert len(figure.axes) == BASE_PANELS + 1 + 2  # + the colour bar, + reward and entropy
    reward = axes_titled(figure, "RL controller: reward")
    lines = {line.get_label(): list(line.get_ydata()) for line in reward.lines}
    assert lines["reward mean"] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert lines["baseline"][:2] == pytest.approx([0.0, 0.05])
    assert lines["baseline"][2] != lines["baseline"][2]  # NaN
    (entropy,) = axes_titled(figure, "RL controller: entropy").lines
    assert list(entropy.get_ydata()) == [3.0, 2.0, 1.0, 0.0]


def test_a_run_without_strategy_events_has_only_the_four_panels(tmp_path):
    result = write_run(tmp_path / "run", [make_trial(0, ["accuracy"], metrics={"accuracy": 0.5})])
    figure = result.plot(tmp_path / "out", html=False).figure
    assert len(figure.axes) == BASE_PANELS + 1  # + the colour bar
    assert not [ax for ax in figure.axes if ax.get_title().startswith(("DARTS", "RL"))]


class Scored:
    """Scores an architecture by its size, instantly: the controller still learns from real rewards."""

    measures = ("accuracy",)

    def evaluate(self, architecture, context):
        return Evaluation(metrics={"accuracy": 1 / (1 + architecture.num_params / 10_000)})


class ScoredPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("scored", Scored)


def test_an_rl_search_reports_its_controller(tmp_path):
    result = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 80, "num_classes": 3},
        strategy="rl",
        strategy_options={"batch_size": 2},
        evaluator="scored",
        profilers=[],
        budget=6,
        progress=False,
        run_dir=tmp_path / "run",
        plugin_manager=plugin_manager_with(ScoredPlugin()),
    ).search()
    report = result.plot(tmp_path / "out")
    updates = result.events("controller")
    assert len(updates) == 3
    reward = axes_titled(report.figure, "RL controller: reward")
    (mean,) = [line for line in reward.lines if line.get_label() == "reward mean"]
    assert list(mean.get_ydata()) == pytest.approx([values["reward_mean"] for _, values in updates])
    assert "3 generations of 2" in axes_titled(report.figure, "Search progress").get_title()
    assert report.html_path.is_file()


@pytest.mark.slow
def test_a_darts_search_reports_alpha_with_the_spaces_op_names(tmp_path):
    result = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 120},
        space="nb201",
        space_options={"channels": 4, "cells_per_stage": 1},
        strategy="darts",
        strategy_options={"epochs": 2, "batch_size": 32},
        budget={"trials": 1},
        epochs=1,
        profilers=(),
        progress=False,
        run_dir=tmp_path / "run",
    ).search()
    report = result.plot(tmp_path / "out")
    alpha = axes_titled(report.figure, "DARTS α, normal cell")
    labels = [line.get_label() for line in alpha.lines][:-1]  # the last is the uniform line
    assert len(labels) == len(EDGES)
    final = result.events("alpha")[-1][1]["normal"]
    for (i, j), label, weights in zip(EDGES, labels, final, strict=True):
        assert label == f"{i}→{j}: {OPS[weights.index(max(weights))]}"
    supernet = axes_titled(report.figure, "Supernet: accuracy")
    assert {line.get_label() for line in supernet.lines} >= {"train accuracy", "val accuracy"}
    assert f"Trial {result.best.number} &mdash; best" in report.html_path.read_text()


# -- panels from any plugin ------------------------------------------------------------


class LossPanel:
    """A third-party plugin: one panel from the events its strategy logged."""

    @hookimpl
    def report_panels(self, result):
        losses = result.events("my_loss")
        if not losses:
            return None

        def draw(ax):
            ax.plot([step for step, _ in losses], event_values(losses, "loss"), label="loss")

        return [Panel("My strategy: loss per step", draw)]


class Exploding:
    @hookimpl
    def report_panels(self, result):
        raise RuntimeError("no panels today")


class BadDraw:
    @hookimpl
    def report_panels(self, result):
        def draw(ax):
            raise ValueError("bad data")

        return [Panel("Broken panel", draw)]


class NotPanels:
    @hookimpl
    def report_panels(self, result):
        return ["a title, not a panel"]


def run_with(tmp_path, *plugins, events=None):
    """A one-trial run loaded with the built-in plugins plus ``plugins``."""
    write_run(tmp_path / "run", [make_trial(0, ["accuracy"], metrics={"accuracy": 0.5})], events=events)
    return SearchResult.load(tmp_path / "run", registry_with(*plugins))


def test_a_third_party_plugin_adds_its_panel(tmp_path):
    result = run_with(
        tmp_path, LossPanel(), events={"my_loss": [(step, {"loss": 1.0 / (1 + step)}) for step in range(3)]}
    )
    figure = result.plot(tmp_path / "out", html=False).figure
    assert len(figure.axes) == BASE_PANELS + 1 + 1
    (line,) = axes_titled(figure, "My strategy: loss per step").lines
    assert list(line.get_ydata()) == pytest.approx([1.0, 0.5, 1 / 3])


def test_a_panel_hook_that_raises_is_skipped_with_a_warning_naming_the_plugin(tmp_path):
    controller = [(step, {"reward_mean": 0.1, "entropy": 1.0}) for step in range(2)]
    result = run_with(tmp_path, Exploding(), events={"controller": controller})
    with pytest.warns(
        RuntimeWarning, match=r"plugin 'Exploding' .* raised in report_panels: RuntimeError: no panels today"
    ):
        report = result.plot(tmp_path / "out")
    titles = [ax.get_title() for ax in report.figure.axes]
    assert "RL controller: reward per update" in titles  # the other plugins' panels are kept
    assert report.html_path.is_file()


def test_a_panel_that_fails_to_draw_shows_the_error_and_the_report_goes_on(tmp_path):
    result = run_with(tmp_path, BadDraw())
    with pytest.warns(RuntimeWarning, match=r"plugin 'BadDraw' .* failed to draw its report panel 'Broken panel'"):
        figure = result.plot(tmp_path / "out", html=False).figure
    broken = axes_titled(figure, "Broken panel")
    assert "ValueError: bad data" in broken.texts[0].get_text()


def test_a_hook_returning_something_else_than_panels_is_warned_about(tmp_path):
    result = run_with(tmp_path, NotPanels())
    with pytest.warns(RuntimeWarning, match=r"plugin 'NotPanels' .* not an automl_codegen.report.Panel"):
        figure = result.plot(tmp_path / "out", html=False).figure
    assert len(figure.axes) == BASE_PANELS + 1


def test_a_panel_needs_a_title_and_a_drawing_function():
    with pytest.raises(TypeError, match="title"):
        Panel("", lambda ax: None)
    with pytest.raises(TypeError, match="callable"):
        Panel("A title", "not callable")


def test_the_core_report_knows_no_strategys_events():
    # The strategies' event formats live in their plugins (darts_report, rl_report).
    report = Path(automl_codegen.report.__file__).parent
    words = re.compile(r'"alpha"|"controller"|"supernet"|population_size|batch_size')
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(report.rglob("*"))
        if path.is_file() and path.suffix in (".py", ".jinja")  # not __pycache__'s bytecode
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if words.search(line)
    ]
    assert found == []


def test_loading_the_plugins_does_not_import_matplotlib():
    # The report plugins are loaded with every other plugin, by `automl-codegen --help` too.
    code = "import sys; from automl_codegen.plugins import get_registry; get_registry(); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
