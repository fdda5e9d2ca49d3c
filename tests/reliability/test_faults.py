"""Failing trials, faulty plugins and hostile input: the run goes on or stops with a clear message."""

from __future__ import annotations

import json

import pytest

from automl_codegen import (
    Architecture,
    ArchitectureError,
    Evaluation,
    NeuralArchitectureSearch,
    Objective,
    PluginError,
    Strategy,
    hookimpl,
)
from automl_codegen.journal import RunJournal
from automl_codegen.testing import plugin_manager_with, tiny_architecture


class ParamsEvaluator:
    """Scores without training, so these tests take milliseconds."""

    measures = ("accuracy", "params")

    def evaluate(self, architecture, context):
        return Evaluation(
            metrics={"accuracy": 1 / (1 + architecture.num_params / 1e4), "params": architecture.num_params}
        )


class BrokenStrategy(Strategy):
    name = "broken"

    def ask(self, n):
        if getattr(self, "asked", 0) >= 3:
            msg = "controller state went missing"
            raise RuntimeError(msg)
        self.asked = getattr(self, "asked", 0) + 1
        return [self.space.sample(self.rng) for _ in range(n)]

    def tell(self, trials):
        pass


def failing_measure(metrics):
    return metrics["accuracy"] / 0.0


class Faulty:
    @hookimpl
    def register_evaluators(self, register):
        register("params", ParamsEvaluator)

    @hookimpl
    def register_strategies(self, register):
        register("broken", BrokenStrategy)

    @hookimpl
    def register_objectives(self, register):
        register("ratio", Objective("ratio", "max", compute=failing_measure, requires=("accuracy",)))


def search(tmp_path, **kwargs):
    args = {
        "dataset": "synthetic",
        "evaluator": "params",
        "profilers": [],
        "budget": 6,
        "progress": False,
        "run_dir": tmp_path / "run",
        "plugin_manager": plugin_manager_with(Faulty()),
        **kwargs,
    }
    return NeuralArchitectureSearch(**args).search()


def test_a_strategy_that_raises_stops_the_run_naming_it_and_keeps_the_journal(tmp_path):
    with pytest.raises(PluginError) as info:
        search(tmp_path, strategy="broken")
    assert str(info.value) == (
        "strategy 'broken' (plugin 'Faulty' (test_faults, not installed)) raised RuntimeError: controller state "
        f"went missing. The journal is intact: fix or replace the plugin, then `automl-codegen search --resume {tmp_path / 'run'}`"
    )
    with RunJournal.open(tmp_path / "run") as journal:
        assert [t.number for t in journal.trials()] == [0, 1, 2]
        assert journal.running() == []


def test_an_objective_that_raises_stops_the_run_naming_it(tmp_path):
    with pytest.raises(PluginError) as info:
        search(tmp_path, objectives=["ratio"])
    assert str(info.value).startswith(
        "objective 'ratio' (plugin 'Faulty' (test_faults, not installed)) raised ZeroDivisionError"
    )
    with RunJournal.open(tmp_path / "run") as journal:
        assert journal.trials() == []


def test_a_run_where_every_trial_fails_says_so_and_why(tmp_path):
    class OutOfMemory:
        measures = ("accuracy",)

        def evaluate(self, architecture, context):
            msg = "CUDA out of memory. Tried to allocate 2.00 GiB"
            raise MemoryError(msg)

    class Plugin:
        @hookimpl
        def register_evaluators(self, register):
            register("oom", OutOfMemory)

    result = search(tmp_path, evaluator="oom", plugin_manager=plugin_manager_with(Plugin()), budget=3)
    assert result.best is None
    assert (
        result.failure_summary()
        == "all 3 trials failed: MemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (3x)"
    )
    assert all(t.status == "failed" for t in result.trials)


def test_a_missing_measurement_fails_the_trial_not_the_run(tmp_path):
    class NoParams(ParamsEvaluator):
        measures = ("accuracy", "params")

        def evaluate(self, architecture, context):
            return Evaluation(metrics={"accuracy": 0.5})

    class Plugin:
        @hookimpl
        def register_evaluators(self, register):
            register("noparams", NoParams)

    result = search(
        tmp_path, evaluator="noparams", plugin_manager=plugin_manager_with(Plugin()), objectives=["params"], budget=2
    )
    assert [t.error for t in result.trials] == [
        "objective could not be computed: objective 'params' needs the measurement 'params', which no profiler produced"
    ] * 2


# -- hostile architecture JSON --------------------------------------------------------------------

PAYLOADS = [
    "x'); import os; os.system('echo pwned'); ('",
    '"""; import os #',
    "__import__('os').system('id')",
    "a\nimport os",
    "Net(nn.Module):\n    pass\nclass Evil",
    "{{ config }}{% for x in y %}",
    "../../etc/passwd",
    "",
]


def string_fields(data, path=()):
    """Every (path, value) of a string in the document, keys of attrs included."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from string_fields(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from string_fields(value, (*path, index))
    elif isinstance(data, str):
        yield path, data


def with_value(data, path, value):
    copy = json.loads(json.dumps(data))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_in_any_string_field_is_refused(payload):
    from tests_cases import block_architecture

    data = block_architecture().to_dict()
    fields = list(string_fields(data))
    assert len(fields) > 10
    for path, _ in fields:
        with pytest.raises(ArchitectureError):
            Architecture.from_dict(with_value(data, path, payload))
    # Keys of attrs are strings too.
    node = data["nodes"][0]
    node["attrs"][payload] = 1
    with pytest.raises(ArchitectureError):
        Architecture.from_dict(data)


def test_emitted_code_never_contains_an_accepted_payload():
    emitter = plugin_manager_with()
    from automl_codegen.plugins import Registry

    render = Registry(emitter).get("emitter", "pytorch").render
    source = render(tiny_architecture(), {"dataset": PAYLOADS[1], "genotype": {"x": PAYLOADS[0]}})
    compile(source, "model.py", "exec")  # still valid Python: metadata cannot break out
    assert "import os" not in source.split('"""', 2)[2]


def test_nan_loss_and_a_failing_profiler_fail_only_their_trial(tmp_path):
    class ExplodingProfiler:
        measures = ("watts",)

        def profile(self, model, architecture, device):
            msg = "power meter unplugged"
            raise OSError(msg)

    class Plugin:
        @hookimpl
        def register_profilers(self, register):
            register("watts", ExplodingProfiler)

    diverging = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 120, "num_classes": 3},
        evaluator_options={"lr": 1e12},
        profilers=[],
        epochs=3,
        budget=2,
        progress=False,
        run_dir=tmp_path / "nan",
    ).search()
    for trial in diverging.trials:
        assert trial.status == "failed"
        assert trial.error.startswith("TrainingDivergedError: training diverged: loss is nan at epoch ")

    profiled = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 120, "num_classes": 3},
        profilers=["watts"],
        epochs=1,
        budget=2,
        progress=False,
        run_dir=tmp_path / "profiler",
        plugin_manager=plugin_manager_with(Plugin()),
    ).search()
    assert [t.error.splitlines()[0] for t in profiled.trials] == ["OSError: power meter unplugged"] * 2
