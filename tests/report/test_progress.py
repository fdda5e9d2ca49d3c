"""What a search shows while it runs: trial n/N, best so far and ETA; ``--quiet`` shows nothing."""

from __future__ import annotations

import io
import types

import pytest
from rich.console import Console

from automl_codegen import Objective, Trial
from automl_codegen import _progress as progress_module
from automl_codegen._progress import SearchProgress
from automl_codegen.cli import main

ACCURACY = Objective("accuracy", "max")


@pytest.fixture
def clock(monkeypatch):
    """A settable perf_counter for the progress module only."""
    fake = types.SimpleNamespace(now=100.0)
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(perf_counter=lambda: fake.now))
    return fake


def trial(number, accuracy):
    return Trial(number, {}, metrics={"accuracy": accuracy}, objectives={"accuracy": accuracy})


def test_eta_from_the_mean_trial_time_counts_down_between_trials(clock):
    progress = SearchProgress(5, ACCURACY, enabled=False)
    assert progress.eta() == "-:--:--"  # nothing to estimate from yet
    clock.now = 110.0
    progress.update(trial(0, 0.5), trial(0, 0.5))
    assert progress.eta() == "0:00:40"  # 10 s per trial, 4 to go
    clock.now = 125.0
    assert progress.eta() == "0:00:25"
    clock.now = 190.0
    assert progress.eta() == "0:00:00"  # a slow trial: the estimate stops at zero, never negative
    progress.update(trial(1, 0.6), trial(1, 0.6))
    assert progress.eta() == "0:02:15"  # 45 s per trial now, 3 to go


def test_eta_of_a_time_budget_is_the_time_left_and_the_sooner_end_wins(clock):
    by_time = SearchProgress(None, ACCURACY, enabled=False, seconds=3600)
    clock.now = 130.0
    assert by_time.eta() == "0:59:30"
    both = SearchProgress(100, ACCURACY, enabled=False, seconds=60)
    clock.now = 140.0
    both.update(trial(0, 0.5), trial(0, 0.5))
    assert both.eta() == "0:00:50"  # 99 trials of 10 s would take longer than the budget's 50 s left


def test_a_resumed_run_estimates_from_all_its_trials(clock):
    progress = SearchProgress(10, ACCURACY, enabled=False)
    progress.catch_up([trial(n, 0.5) for n in range(4)], trial(0, 0.5), elapsed=80.0)
    assert progress.eta() == "0:02:00"  # 20 s per trial over the earlier run, 6 to go


def test_the_bar_shows_trial_count_best_and_eta(clock):
    progress = SearchProgress(5, ACCURACY)
    clock.now = 110.0
    progress.update(trial(0, 0.5), trial(0, 0.5))
    clock.now = 120.0
    progress.update(trial(1, 0.25), trial(0, 0.5))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(progress._progress.make_tasks_table(progress._progress.tasks))
    shown = console.file.getvalue()
    assert "trial 2/5" in shown
    assert "best accuracy 50.00%" in shown
    assert "ETA 0:00:30" in shown


def test_quiet_search_prints_nothing(tmp_path, capsys):
    argv = ["search", "--dataset", "synthetic", "--dataset-option", "num_samples=80", "--budget-trials", "2"]
    argv += ["--epochs", "1", "--profiler", "none", "--quiet", "-o", str(tmp_path / "run")]
    assert main(argv) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "run" / "summary.json").is_file()
