"""The engine's side of the plugin contract: lifecycle, run info, configuration, global state."""

from __future__ import annotations

import json

import attrs
import pytest

from automl_codegen import Evaluation, NeuralArchitectureSearch, RunInfo, SearchConfig, hookimpl
from automl_codegen.journal import RunJournal
from automl_codegen.testing import plugin_manager_with


class InstantEvaluator:
    """Scores a genotype without training."""

    measures = ("accuracy",)
    needs_architecture = False

    def evaluate(self, architecture, context):
        return Evaluation(metrics={"accuracy": (context.trial_number % 7) / 10})


class Watcher:
    """Records what each lifecycle hook saw; ``stop_at`` raises KeyboardInterrupt like Ctrl-C."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at = stop_at
        self.seen: list[str] = []
        self.runs: list[RunInfo] = []

    @hookimpl
    def register_evaluators(self, register):
        register("instant", InstantEvaluator)

    @hookimpl(wrapper=True)
    def search_run(self, run):
        self.seen.append("wrapper start")
        self.runs.append(run)
        try:
            result = yield
        except KeyboardInterrupt:
            self.seen.append("wrapper saw KeyboardInterrupt")
            raise
        self.seen.append(f"wrapper end: {len(result.trials)} trials")
        return result

    @hookimpl
    def on_search_start(self, run):
        self.seen.append("start")

    @hookimpl
    def on_trial_end(self, run, trial):
        self.seen.append(f"trial {trial.number}")
        if self.stop_at is not None and trial.number == self.stop_at:
            raise KeyboardInterrupt

    @hookimpl
    def on_search_end(self, run, result):
        self.seen.append("end")


def _search(tmp_path, watcher, **overrides):
    kwargs = {
        "dataset": "synthetic",
        "dataset_options": {"num_samples": 64, "image_size": 8},
        "evaluator": "instant",
        "profilers": [],
        "budget": 4,
        "progress": False,
        "run_dir": tmp_path / "run",
        "strategy_options": {"population_size": 2},
        "plugin_manager": plugin_manager_with(watcher),
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


def test_a_wrapper_sees_the_whole_run_in_order(tmp_path):
    watcher = Watcher()
    _search(tmp_path, watcher).search()
    assert watcher.seen == [
        "wrapper start",
        "start",
        "trial 0",
        "trial 1",
        "trial 2",
        "trial 3",
        "wrapper end: 4 trials",
        "end",
    ]


def test_a_wrapper_sees_ctrl_c_after_the_journal_is_closed_and_the_run_resumes(tmp_path):
    watcher = Watcher(stop_at=1)
    with pytest.raises(KeyboardInterrupt):
        _search(tmp_path, watcher).search()
    assert watcher.seen[-2:] == ["trial 1", "wrapper saw KeyboardInterrupt"]
    assert "end" not in watcher.seen
    # Closed and unlocked: the journal opens, with both trials.
    with RunJournal.open(tmp_path / "run") as journal:
        assert [t.number for t in journal.trials()] == [0, 1]
    again = Watcher()
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, plugin_manager=plugin_manager_with(again)
    ).search()
    assert [t.number for t in resumed.trials] == [0, 1, 2, 3]
    assert again.runs[0].resumed


def test_run_info_is_immutable_and_holds_the_configuration(tmp_path):
    watcher = Watcher()
    _search(tmp_path, watcher).search()
    run = watcher.runs[0]
    assert isinstance(run.config, SearchConfig)
    assert (run.config.strategy, run.config.evaluator, run.run_dir) == ("evolution", "instant", tmp_path / "run")
    assert [o.name for o in run.objectives] == ["accuracy"]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        run.run_dir = tmp_path  # type: ignore[misc]
    # Plugins written against the dict configuration still read it, with a warning.
    with pytest.warns(DeprecationWarning, match=r"read config\.space instead of config\.get\('space'\)"):
        assert run.config.get("space") == "chain-cnn"


def test_the_configuration_round_trips_through_the_journal(tmp_path):
    nas = _search(tmp_path, Watcher(), budget={"trials": 3, "seconds": 60}, constraints=["accuracy >= 0.1234567"])
    nas.search()
    with RunJournal.open(tmp_path / "run") as journal:
        recorded = journal.config()
    assert SearchConfig.from_dict(recorded) == nas.settings
    assert recorded["budget"] == {"trials": 3, "seconds": 60}
    assert recorded["constraints"] == ["accuracy >= 0.1234567"]  # exact, not rounded to 6 digits
    assert recorded["first_generation_size"] == 2
    assert json.loads(json.dumps(recorded)) == recorded


def test_a_configuration_recorded_before_fidelity_existed_still_loads(tmp_path):
    nas = _search(tmp_path, Watcher())
    old = nas.config
    del old["fidelity"]
    assert SearchConfig.from_dict(old).fidelity is None


def test_bad_arguments_keep_their_messages(tmp_path):
    cases = {
        "budget must be a positive int, got 0": {"budget": 0},
        "budget['seconds'] must be a positive float, got nan": {"budget": {"seconds": float("nan")}},
        "seed must be a non-negative integer, got -1": {"seed": -1},
        "epochs must be a whole number, got 2.5": {"epochs": 2.5},
        "unknown task 'speech'; the tasks are image_classification, tabular_classification, "
        "tabular_regression, sequence_classification": {"task": "speech"},
    }
    for message, overrides in cases.items():
        with pytest.raises(Exception, match="^" + message.replace("[", r"\[").replace("]", r"\]") + "$"):
            _search(tmp_path, Watcher(), **overrides)


def test_training_leaves_torch_threads_and_the_global_rng_as_they_were(tmp_path):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 64, "image_size": 8},
        budget=1,
        epochs=1,
        profilers=[],
        progress=False,
        run_dir=tmp_path / "run",
        evaluator_options={"threads": 1 if threads > 1 else 2},
    ).search()
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected)
