"""The opt-in ``tensorboard`` lifecycle plugin, read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import subprocess
import sys
import types
from importlib import metadata

import pytest

from automl_codegen import Evaluation, NeuralArchitectureSearch, hookimpl
from automl_codegen.testing import plugin_manager_with
from automl_codegen_plugins.lifecycle import tensorboard as plugin

pytest.importorskip("tensorboard", reason="the test extra installs tensorboard; without it there is nothing to read")

ACCURACIES = [0.5, 0.7, None, 0.6, 0.9]  # None: the trial fails


class Listed:
    """Trial n scores ACCURACIES[n] at once; a None fails the way a crashed training would."""

    measures = ("accuracy",)

    def evaluate(self, architecture, context):
        accuracy = ACCURACIES[context.trial_number]
        if accuracy is None:
            msg = "simulated crash"
            raise RuntimeError(msg)
        return Evaluation(metrics={"accuracy": accuracy, "train_seconds": 0.25})


class ListedPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("listed", Listed)


def search(run_dir):
    return NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 80, "num_classes": 3},
        evaluator="listed",
        profilers=[],
        budget=len(ACCURACIES),
        progress=False,
        run_dir=run_dir,
        plugin_manager=plugin_manager_with(ListedPlugin()),
    ).search()


def scalars(log_dir, monkeypatch):
    """{tag: [(step, value), ...]} of every event file in ``log_dir``."""
    # TensorBoard's reader imports TensorFlow when it can (seconds); its stub reads local files as well.
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(log_dir))
    reader.Reload()
    return {tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def test_each_trial_is_logged_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(plugin.ENV_VAR, "1")
    result = search(tmp_path / "run")
    (event_file,) = (tmp_path / "run" / plugin.LOG_DIR).glob("events.out.tfevents.*")
    assert event_file.stat().st_size > 0
    logged = scalars(tmp_path / "run" / plugin.LOG_DIR, monkeypatch)
    # TensorBoard stores float32: compare to that precision.
    assert [s for s, _ in logged["objective/accuracy"]] == [0, 1, 3, 4]
    assert [v for _, v in logged["objective/accuracy"]] == pytest.approx([0.5, 0.7, 0.6, 0.9], rel=1e-6)
    assert logged["metric/train_seconds"] == [(n, 0.25) for n in (0, 1, 3, 4)]
    assert logged["trial/feasible"] == [(n, float(t.feasible)) for n, t in enumerate(result.trials)]
    assert [v for _, v in logged["trial/feasible"]] == [1, 1, 0, 1, 1]
    assert [v for _, v in logged["search/failed_trials"]] == [0, 0, 1, 1, 1]
    best = [v for _, v in logged["search/best_accuracy"]]
    assert best == pytest.approx([0.5, 0.7, 0.7, 0.7, 0.9], rel=1e-6)
    # The failed trial's violation is infinite: left out rather than written as inf.
    assert [s for s, _ in logged["trial/constraint_violation"]] == [0, 1, 3, 4]


def test_nothing_is_written_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(plugin.ENV_VAR, raising=False)
    search(tmp_path / "run")
    assert not (tmp_path / "run" / plugin.LOG_DIR).exists()


def test_asked_without_tensorboard_installed_it_warns_and_the_search_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(plugin.ENV_VAR, "true")
    monkeypatch.setattr(plugin, "available", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"tensorboard package is not installed.*pip install tensorboard"):
        result = search(tmp_path / "run")
    assert len(result.trials) == len(ACCURACIES)
    assert not (tmp_path / "run" / plugin.LOG_DIR).exists()


def test_a_run_without_a_run_dir_is_written_when_its_directory_is_known(tmp_path, monkeypatch):
    monkeypatch.setenv(plugin.ENV_VAR, "on")
    monkeypatch.chdir(tmp_path)
    result = search(None)  # the engine picks runs/<dataset>-<strategy>-<time> inside search()
    logged = scalars(result.run_dir / plugin.LOG_DIR, monkeypatch)
    assert [s for s, _ in logged["trial/duration_s"]] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("", False), ("0", False), ("no", False)],
)
def test_the_switch(value, on):
    assert plugin.enabled({plugin.ENV_VAR: value}) is on
    assert plugin.enabled({}) is False


def test_declared_as_an_entry_point_and_free_to_import():
    (entry,) = metadata.entry_points(group="automl_codegen", name="tensorboard")
    assert entry.value == "automl_codegen_plugins.lifecycle.tensorboard"
    code = f"import sys, {entry.value}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'torch', 'tensorflow')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
