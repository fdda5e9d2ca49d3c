"""The run report built from a finished search: the figure's panels and the HTML page's content."""

from __future__ import annotations

import base64
import html
import json
import re
import sys

import pytest
from PIL import Image
from report_runs import Tables, axes_titled, make_trial, write_run

from automl_codegen import ConfigError
from automl_codegen.report import FIGURE_FILE, HTML_FILE, build_report
from automl_codegen.report import _data as data

PANELS = ("Search space", "Search progress", "Trade-off", "Ops in the", "Parameters")


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory):
    return trained_run.plot(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(report):
    return report.html_path.read_text(encoding="utf-8")


def test_the_report_is_a_png_and_a_page_with_the_four_panels(report):
    assert report.figure_path.name == FIGURE_FILE
    assert report.html_path.name == HTML_FILE
    with Image.open(report.figure_path) as image:
        assert image.format == "PNG"
        assert image.width > 1000
        assert image.height > 700
    titles = [ax.get_title() for ax in report.figure.axes]
    for panel in PANELS:
        assert any(t.startswith(panel) for t in titles), (panel, titles)


def test_the_report_goes_into_the_run_directory_by_default(trained_run, tmp_path):
    # A copy of the run, so the shared one stays as the search left it.
    copy = write_run(tmp_path / "run", trained_run.trials, objectives=("accuracy", "latency_ms"))
    report = copy.plot(html=False)
    assert report.figure_path == tmp_path / "run" / FIGURE_FILE
    assert report.html_path is None
    assert not (tmp_path / "run" / HTML_FILE).exists()


def test_the_search_space_panel_plots_every_completed_trial_and_marks_the_front(trained_run, report):
    ax = axes_titled(report.figure, "Search space")
    plotted = {tuple(p) for c in ax.collections for p in c.get_offsets()}
    for trial in trained_run.trials:
        assert (trial.metrics["params"], trial.metrics["accuracy"]) in plotted
    labels = {t.get_text() for t in ax.texts}
    assert labels == {f"#{t.number}" for t in trained_run.pareto_front}
    # The run's constraint (params < 20000) is on this panel's x axis: a line at the bound.
    assert any(list(line.get_xdata()) == [20000, 20000] for line in ax.lines)


def test_the_progress_panel_follows_the_best_so_far_over_two_generations(trained_run, report):
    ax = axes_titled(report.figure, "Search progress")
    assert "2 generations of 3" in ax.get_title()
    (best_line,) = [line for line in ax.lines if line.get_label() == "best so far"]
    expected = [b.metrics["accuracy"] for b in data.best_so_far(trained_run.trials, trained_run.objectives)]
    assert list(best_line.get_ydata()) == pytest.approx(expected)
    assert expected[-1] == trained_run.best.metrics["accuracy"]


def test_the_trade_off_panel_shows_accuracy_against_latency_with_the_front(trained_run, report):
    ax = axes_titled(report.figure, "Trade-off")
    assert ax.get_title() == "Trade-off: accuracy vs latency_ms"
    (stairs,) = [line for line in ax.lines if line.get_label().startswith("front on")]
    # With two objectives the panel's own front is the run's Pareto front.
    front = sorted(trained_run.pareto_front, key=lambda t: t.metrics["latency_ms"])
    assert list(stairs.get_xdata()) == pytest.approx([t.metrics["latency_ms"] for t in front])
    # The params constraint is on neither axis: it is named in the corner instead.
    assert any(t.get_text() == "also: params < 20000" for t in ax.texts)


def test_the_distribution_panel_counts_ops_per_sampled_architecture(trained_run, report):
    ax = axes_titled(report.figure, "Ops in the 6 sampled")
    bars = {label.get_text(): patch.get_width() for label, patch in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    convs = sum(t.architecture.op_counts().get("conv2d", 0) for t in trained_run.trials) / 6
    assert bars["conv2d"] == pytest.approx(convs)


def test_the_page_lists_every_trial_the_front_and_the_configuration(trained_run, page):
    tables = Tables(page)
    assert tables.column("trials-table", "trial") == [str(t.number) for t in trained_run.trials]
    accuracies = tables.column("trials-table", "accuracy")
    assert accuracies == [f"{t.metrics['accuracy']:.4f}" for t in trained_run.trials]
    front = sorted(trained_run.pareto_front, key=lambda t: (-t.metrics["accuracy"], t.number))
    assert tables.column("front-table", "trial") == [str(t.number) for t in front]
    shown = re.search(r'<h2 id="config">Configuration</h2>\s*<pre>(.*?)</pre>', page, re.S).group(1)
    assert json.loads(html.unescape(shown)) == json.loads(json.dumps(trained_run.config))


def test_the_page_shows_the_generated_code_of_the_best_architectures(trained_run, page, tmp_path):
    best = trained_run.best
    (model,) = [p for p in trained_run.export("pytorch", tmp_path / "best", best) if p.name == "model.py"]
    source = model.read_text()
    classes = re.findall(r"^class \w+\(nn\.Module\):$", source, re.M)
    assert classes
    for line in classes:
        assert line in page
    # The whole file, escaped: the page holds exactly what export writes.
    assert html.escape(source, quote=False) in page.replace("&#34;", '"').replace("&#39;", "'")
    assert f"Trial {best.number} &mdash; best" in page
    for member in trained_run.pareto_front[:2]:
        assert f"Trial {member.number} &mdash;" in page


def test_the_page_is_self_contained(report, page):
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == report.figure_path.read_bytes()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<link" not in page


# -- runs that a small search reaches only by chance ------------------------------------------


def test_failed_trials_one_objective_and_no_latency(tmp_path):
    trials = [
        make_trial(0, ["accuracy"], metrics={"accuracy": 0.5}, width=4),
        make_trial(1, ["accuracy"], error="RuntimeError: simulated out of memory\ntraceback"),
        make_trial(2, ["accuracy"], metrics={"accuracy": 0.7}, width=16),
        make_trial(3, ["accuracy"], error="FloatingPointError: loss is nan at epoch 1"),
    ]
    result = write_run(tmp_path / "run", trials)
    report = result.plot(tmp_path / "out")
    # One objective and no latency measured: the trade-off is against the size.
    assert axes_titled(report.figure, "Trade-off").get_title() == "Trade-off: accuracy vs params"
    progress = axes_titled(report.figure, "Search progress")
    assert "failed (2)" in [t.get_text() for t in progress.get_legend().get_texts()]
    assert "(2 failed, not shown)" in axes_titled(report.figure, "Search space").get_title()
    # Failed trials were still sampled: the distribution counts all four.
    assert axes_titled(report.figure, "Ops in the 4 sampled")
    page = report.html_path.read_text()
    tables = Tables(page)
    assert tables.column("trials-table", "status") == ["complete", "failed", "complete", "failed"]
    assert tables.column("trials-table", "error") == [
        "",
        "RuntimeError: simulated out of memory",
        "",
        "FloatingPointError: loss is nan at epoch 1",
    ]
    assert "2 of 4 trials failed" in page


def test_a_run_whose_trials_all_failed_still_reports(tmp_path):
    trials = [make_trial(i, ["accuracy"], error="MemoryError: out of memory") for i in range(2)]
    report = write_run(tmp_path / "run", trials).plot(tmp_path / "out")
    ax = axes_titled(report.figure, "Trade-off")
    assert [t.get_text() for t in ax.texts] == ["no completed trial with both params and accuracy"]
    page = report.html_path.read_text()
    assert "No completed architecture to show." in page
    assert "all 2 trials failed: MemoryError: out of memory (2x)" in page


@pytest.mark.parametrize("count", [1, 2])
def test_runs_of_one_or_two_trials(tmp_path, count):
    trials = [
        make_trial(i, ["accuracy", "latency_ms"], metrics={"accuracy": 0.6 + i / 10, "latency_ms": 1.0 + i})
        for i in range(count)
    ]
    result = write_run(tmp_path / "run", trials, objectives=("accuracy", "latency_ms"))
    report = result.plot(tmp_path / "out")
    progress = axes_titled(report.figure, "Search progress")
    assert f"1 generation of {count}" in progress.get_title()
    assert [int(x) for x in progress.get_xticks()] == list(range(count))
    assert Tables(report.html_path.read_text()).column("trials-table", "trial") == [str(i) for i in range(count)]


def test_constraint_lines_on_the_axes_they_limit(tmp_path):
    constraints = ["latency_ms <= 2", "accuracy >= 0.55", "flops < 100"]
    metrics = [(0.5, 1.0), (0.6, 1.5), (0.8, 3.0)]
    trials = [
        make_trial(i, ["accuracy"], metrics={"accuracy": a, "latency_ms": lat, "flops": 50.0}, constraints=constraints)
        for i, (a, lat) in enumerate(metrics)
    ]
    result = write_run(tmp_path / "run", trials, constraints=constraints)
    ax = axes_titled(result.plot(tmp_path / "out", html=False).figure, "Trade-off")
    assert ax.get_title() == "Trade-off: accuracy vs latency_ms"  # one objective: latency was measured
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines["latency_ms <= 2"].get_xdata()) == [2, 2]
    assert list(lines["accuracy >= 0.55"].get_ydata()) == [0.55, 0.55]
    assert [t.get_text() for t in ax.texts] == ["#1", "also: flops < 100"]  # the front, then the rest
    # Only trial 1 is feasible (trial 0 is below the accuracy floor, trial 2 too slow).
    assert [t.feasible for t in result.trials] == [False, True, False]
    hollow = [c for c in ax.collections if c.get_label() == "breaks a constraint"]
    assert sorted(map(tuple, hollow[0].get_offsets())) == [(1.0, 0.5), (3.0, 0.8)]


def test_generation_size_comes_from_the_recorded_first_generation_size():
    assert data.generation_size({"first_generation_size": 20}, 100) == 20
    # Only the recorded size counts, never a strategy's own options.
    assert data.generation_size({"strategy_options": {"population_size": 8}}, 100) == data.DEFAULT_GENERATION
    # Runs recorded before the attribute: a strategy without a population recorded null.
    assert data.generation_size({"first_generation_size": None}, 100) == data.DEFAULT_GENERATION
    assert data.generation_size({}, 100) == data.DEFAULT_GENERATION
    assert data.generation_size({"first_generation_size": 20}, 6) == 6
    assert [len(g) for g in data.generations(list(range(7)), 3)] == [3, 3, 1]


def test_without_matplotlib_the_report_says_how_to_get_it(trained_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an import of an absent package does
    with pytest.raises(ConfigError, match=re.escape("pip install 'automl-codegen[report]'")):
        build_report(trained_run, tmp_path)
    assert not list(tmp_path.iterdir())
