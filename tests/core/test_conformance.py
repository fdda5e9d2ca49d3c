"""The conformance helpers of automl_codegen.testing, applied to every built-in plugin.

Each built-in strategy, space, emitter and objective passes the checks a third-party
plugin's author runs; and each check fails, with a message saying how to fix it, on a
plugin that breaks the contract in the way the check is about.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from automl_codegen import Objective, PluginError, Strategy, hookimpl
from automl_codegen.testing import (
    TOY_OBJECTIVES,
    ToySpace,
    check_emitter,
    check_objective,
    check_space,
    check_strategy,
    check_strategy_in_search,
    plugin_manager_with,
    registry_with,
    tiny_architecture,
    toy_score,
)

CORE = "automl-codegen"


@pytest.fixture(scope="module")
def registry():
    return registry_with()


def builtin_names(registry, kind: str) -> set[str]:
    return {e.name for e in registry.entries(kind) if e.source.distribution == CORE}


# -- registering inline plugins --------------------------------------------------------------


def objective_module(module_name: str, objective: str) -> types.ModuleType:
    module = types.ModuleType(module_name)

    @hookimpl
    def register_objectives(register):
        register(objective, Objective(objective, "min"))

    module.register_objectives = register_objectives
    return module


def test_two_plugin_modules_are_named_by_their_module_names():
    registry = registry_with(objective_module("plug_a", "a_mj"), objective_module("plug_b", "b_mj"), builtins=False)
    assert registry.entry("objective", "a_mj").source.name == "plug_a"
    assert registry.entry("objective", "b_mj").source.name == "plug_b"


def test_an_installed_plugin_module_passed_again_is_registered_once():
    import automl_codegen_random

    registry = registry_with(automl_codegen_random)
    assert registry.entry("strategy", "random").source.name == "random"  # its entry point, not a second copy
    assert registry_with(automl_codegen_random, builtins=False).names("strategy") == ["random"]


def test_one_object_passed_twice_is_registered_once():
    class Energy:
        @hookimpl
        def register_objectives(self, register):
            register("energy_mj", Objective("energy_mj", "min"))

    plugin = Energy()
    assert registry_with(plugin, plugin, builtins=False).names("objective") == ["energy_mj"]


class Named:
    def __init__(self, objective: str) -> None:
        self.objective = objective

    @hookimpl
    def register_objectives(self, register):
        register(self.objective, Objective(self.objective, "min"))


def test_instances_of_one_class_are_numbered():
    registry = registry_with(Named("x_mj"), Named("y_mj"), Named("z_mj"), builtins=False)
    names = [registry.entry("objective", n).source.name for n in ("x_mj", "y_mj", "z_mj")]
    assert names == ["Named", "Named-2", "Named-3"]


def test_classes_are_named_by_qualname_and_local_classes_without_their_function():
    class Outer:
        class Inner:
            @staticmethod
            @hookimpl
            def register_objectives(register):
                register("inner_mj", Objective("inner_mj", "min"))

    registry = registry_with(Outer.Inner, builtins=False)
    assert registry.entry("objective", "inner_mj").source.name == "Outer.Inner"


def test_two_different_modules_of_one_name_are_a_clear_conflict():
    with pytest.raises(PluginError) as info:
        plugin_manager_with(objective_module("same", "a_mj"), objective_module("same", "b_mj"), builtins=False)
    message = str(info.value)
    assert "as plugin 'same'" in message
    assert "plugin 'same' (same, not installed) already has that name and is another object" in message


def test_two_different_classes_of_one_name_are_a_clear_conflict():
    def make():
        class Twin:
            @staticmethod
            @hookimpl
            def register_objectives(register):
                pass

        return Twin

    with pytest.raises(PluginError, match=r"as plugin 'Twin'.*pass one of them, or rename one"):
        plugin_manager_with(make(), make(), builtins=False)


# -- every built-in plugin conforms ----------------------------------------------------------

# Small options keep each check well under a second (rl's controller is torch).
STRATEGIES = {
    "evolution": {"options": {"population_size": 4}},
    "evolution-nsga2": {"name": "evolution", "options": {"population_size": 4}, "objectives": TOY_OBJECTIVES},
    "rl": {"options": {"batch_size": 3, "hidden_size": 8}},
    "rl-factorized": {"name": "rl", "options": {"batch_size": 3, "controller": "factorized"}},
}
ONE_SHOT = {
    "darts-nb201": ("darts", "nb201", {}),
    "darts-darts-cell": ("darts", "darts-cell", {}),
    "enas-nb201": ("enas", "nb201", {}),
    "enas-darts-cell": ("enas", "darts-cell", {}),
}


def test_every_builtin_strategy_is_checked(registry):
    covered = {c.get("name", key) for key, c in STRATEGIES.items()} | {name for name, _, _ in ONE_SHOT.values()}
    assert builtin_names(registry, "strategy") <= covered


@pytest.mark.parametrize("case", sorted(STRATEGIES))
def test_builtin_strategy_conforms(registry, case):
    spec = STRATEGIES[case]
    factory = registry.get("strategy", spec.get("name", case))
    report = check_strategy(factory, options=spec["options"], objectives=spec.get("objectives"))
    assert not report.skipped
    assert any("killed after 5 trials and resumed" in c for c in report.checked)


@pytest.mark.parametrize("case", sorted(ONE_SHOT))
def test_one_shot_strategy_is_checked_as_far_as_it_applies(registry, case):
    name, space_name, options = ONE_SHOT[case]
    space = registry.get("search_space", space_name)((3, 8, 8), 4)
    report = check_strategy(registry.get("strategy", name), space=space, options=options)
    assert report.checked[-1].startswith("one-shot:")
    assert report.skipped == [
        "ask/tell: a one-shot strategy is asked nothing before its supernet is trained; check it with "
        "check_strategy_in_search, or train_supernet with RecordingSupernetContext"
    ]


@pytest.mark.parametrize(
    ("name", "options"), [("evolution", {"population_size": 4}), ("rl", {"batch_size": 3, "hidden_size": 8})]
)
def test_builtin_strategy_resumes_in_a_real_search(name, options, tmp_path):
    report = check_strategy_in_search(name, strategy_options=options, run_dir=tmp_path)
    assert "killed after 5 trials and resumed, the search has the same trials" in report.checked
    assert len(report.result.trials) == 12
    assert [t.ok for t in report.result.trials].count(False) == 3  # every 4th fails, and is told


def test_a_search_on_another_space_scores_its_genotypes():
    report = check_strategy_in_search("evolution", strategy_options={"population_size": 4}, space="nb201")
    assert {type(t.genotype) for t in report.result.trials} == {str}


def test_every_builtin_space_is_checked(registry):
    assert builtin_names(registry, "search_space") == {"chain-cnn", "nb201", "darts-cell", "mlp", "seq-cnn"}


@pytest.mark.parametrize(
    ("name", "input_shape"),
    [
        ("chain-cnn", (3, 32, 32)),
        ("nb201", (3, 32, 32)),
        ("darts-cell", (3, 32, 32)),
        ("mlp", (13,)),
        ("seq-cnn", (2, 64)),
    ],
)
def test_builtin_space_conforms(registry, name, input_shape):
    report = check_space(registry.get("search_space", name), input_shape=input_shape, num_classes=10)
    assert "20 samples: JSON, encode/decode, key, to_architecture" in report.checked


def test_builtin_space_conforms_with_small_inputs(registry):
    check_space(registry.get("search_space", "chain-cnn"), input_shape=(1, 8, 8), num_classes=2, samples=5)
    check_space(registry.get("search_space", "nb201"), input_shape=(1, 4, 4), num_classes=3, samples=5)


def test_the_toy_space_conforms_and_has_a_known_optimum():
    space = ToySpace()
    check_space(space, input_shape=(1, 8, 8), num_classes=4)
    assert toy_score(space, space.optimum()) == 1.0
    rng = np.random.default_rng(0)
    assert all(toy_score(space, space.sample(rng)) <= 1.0 for _ in range(50))


def test_pytorch_emitter_conforms(registry):
    report = check_emitter(registry.get("emitter", "pytorch"))
    assert report.checked[-1].startswith("with the exported weights it matches the torch reference")
    assert not report.skipped


def test_pytorch_emitter_conforms_on_a_cell_network(registry):
    space = registry.get("search_space", "nb201")((3, 8, 8), 4, channels=4, cells_per_stage=1)
    arch = space.to_architecture(space.sample(np.random.default_rng(0)))
    check_emitter(registry.get("emitter", "pytorch"), architecture=arch)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_tensorflow_emitter_conforms(registry):
    pytest.importorskip("tensorflow")
    report = check_emitter(registry.get("emitter", "tensorflow"))
    assert report.checked[-1].startswith("with the exported weights it matches the torch reference")


@pytest.mark.slow
def test_onnx_emitter_conforms(registry):
    report = check_emitter(registry.get("emitter", "onnx"))
    assert report.checked[-1].startswith("the onnx model matches the torch reference")
    assert not report.skipped


@pytest.mark.slow
def test_tflite_emitter_conforms(registry):
    pytest.importorskip("tensorflow")
    report = check_emitter(registry.get("emitter", "tflite"))
    assert report.checked[-1].startswith("the tflite model matches the torch reference")
    assert not report.skipped


def test_every_builtin_emitter_is_checked(registry):
    assert builtin_names(registry, "emitter") == {"pytorch", "tensorflow", "onnx", "tflite"}


MEASURED = {"accuracy": 0.9, "latency_ms": 1.5, "params": 12000.0, "peak_memory_mb": 3.0, "flops": 2.0e6}


def test_every_builtin_objective_conforms(registry):
    names = builtin_names(registry, "objective")
    assert {"accuracy", "error", "latency_ms", "params", "peak_memory_mb", "flops"} <= names
    for name in sorted(names):
        objective = registry.get("objective", name)
        check_objective(objective, {m: MEASURED.get(m, 1.0) for m in objective.needs})


# -- the checks catch what they are about ----------------------------------------------------


class ToyStrategy(Strategy):
    """Samples the space; a subclass breaks one rule."""

    name = "broken"

    def ask(self, n):
        return [self.space.sample(self.rng) for _ in range(n)]

    def tell(self, trials):
        pass


def test_a_strategy_on_the_global_rng_is_caught():
    class GlobalRng(ToyStrategy):
        def ask(self, n):
            return [self.space.decode([np.random.randint(len(c.options)) for c in self.space.choices()])]

    with pytest.raises(
        AssertionError, match=r"a second strategy with the same seed proposed .* never from numpy's global RNG"
    ):
        check_strategy(GlobalRng)


def test_a_strategy_that_does_not_save_its_rng_is_caught():
    class Forgetful(ToyStrategy):
        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.raises(AssertionError) as info:
        check_strategy(Forgetful)
    assert str(info.value).startswith("strategy 'broken': a strategy rebuilt from its state after 5 trials proposed {")
    assert "the RNG state included" in str(info.value)


def test_a_strategy_that_forgets_its_rng_is_caught_in_a_search_too():
    class Forgetful(ToyStrategy):
        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.raises(AssertionError) as info:
        check_strategy_in_search(Forgetful)
    message = str(info.value)
    assert message.startswith("strategy 'conformance-strategy': a search killed after 5 trials and resumed proposed {")
    assert message.endswith("and load_state_dict() must restore all of it")


def test_a_strategy_that_swallows_unknown_options_is_caught():
    class Lenient(ToyStrategy):
        def __init__(self, space, objectives, *, seed=0, **options):
            super().__init__(space, objectives, seed=seed)

    with pytest.raises(AssertionError, match=r"accepted an unknown option 'conformance_no_such_option'\. refuse"):
        check_strategy(Lenient)


def test_a_state_with_nan_is_caught():
    class NotStrict(ToyStrategy):
        def state_dict(self):
            return {**super().state_dict(), "best": float("nan")}

    with pytest.raises(
        AssertionError, match=r"state_dict\(\) after trial 2 is not strict JSON.*write inf/nan as strings"
    ):
        check_strategy(NotStrict)


def test_a_tuple_genotype_is_caught():
    class Tuples(ToyStrategy):
        def ask(self, n):
            return [("a", 1)]

    with pytest.raises(AssertionError, match=r"changes in a JSON round trip\. use lists, not tuples"):
        check_strategy(Tuples)


def test_a_strategy_that_chokes_on_failed_trials_is_caught():
    class Fragile(ToyStrategy):
        def tell(self, trials):
            for trial in trials:
                assert trial.ok

    with pytest.raises(AssertionError, match=r"tell\(\) of trial 3 \(a failed trial\) raised AssertionError"):
        check_strategy(Fragile)


def test_a_strategy_that_learns_nothing_useful_is_caught():
    class Worst(ToyStrategy):
        def ask(self, n):
            # The toy optimum has option indices [1, 0, 2, 1]: these score 0.125.
            return [self.space.decode([int(self.rng.integers(2)) * 2, 2, 0, 0])]

    with pytest.raises(AssertionError, match=r"is 0.125, below the median random genotype's \(0.500; its first"):
        check_strategy(Worst)


def test_a_bad_first_generation_size_is_caught():
    class Sized(ToyStrategy):
        first_generation_size = 0

    with pytest.raises(AssertionError, match=r"first_generation_size is 0\. set it to a positive int"):
        check_strategy(Sized)


def test_a_space_whose_mutate_keeps_the_parent_is_caught():
    class Lazy(ToySpace):
        def mutate(self, genotype, rng, rate=None):
            return dict(genotype)

    with pytest.raises(AssertionError, match=r"mutate\(.*\) returned a genotype with the same options"):
        check_space(Lazy, input_shape=(1, 8, 8), num_classes=4)


def test_a_space_with_numpy_genotypes_is_caught():
    class Numpy(ToySpace):
        def decode(self, indices):
            return {k: np.int64(v) if isinstance(v, int) else v for k, v in super().decode(indices).items()}

    with pytest.raises(AssertionError, match=r"is not JSON .*no tuples, numpy values or NaN"):
        check_space(Numpy(), input_shape=(1, 8, 8), num_classes=4)


def test_a_space_on_the_global_rng_is_caught():
    class Global(ToySpace):
        def sample(self, rng):
            return self.decode([np.random.randint(len(c.options)) for c in self.choices()])

    with pytest.raises(AssertionError, match="the same rng seed gave different samples"):
        check_space(Global(), input_shape=(1, 8, 8), num_classes=4)


def test_a_space_with_the_wrong_shape_is_caught():
    with pytest.raises(AssertionError, match=r"built for input_shape=\(3, 32, 32\).* reports input_shape=\(1, 8, 8\)"):
        check_space(lambda shape, classes: ToySpace(), input_shape=(3, 32, 32), num_classes=4)


def test_a_nondeterministic_emitter_is_caught(registry):
    class Stamped:
        name = "stamped"

        def __init__(self):
            self.calls = 0

        def render(self, architecture, metadata=None):
            self.calls += 1
            return f"# render {self.calls}\nx = 1\n"

        def export(self, architecture, out_dir, state_dict, metadata=None):
            raise NotImplementedError

    with pytest.raises(
        AssertionError,
        match=r"two renders of one architecture differ \(first at line 1\)\. the output must be deterministic",
    ):
        check_emitter(Stamped())


def test_an_emitter_of_an_unknown_framework_gets_the_neutral_checks(tmp_path):
    class Onnx:
        name = "onnx-text"
        file_name = "model.txt"

        def render(self, architecture, metadata=None):
            return f"# {architecture.name}\n"

        def export(self, architecture, out_dir, state_dict, metadata=None):
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / self.file_name
            path.write_text(self.render(architecture), encoding="utf-8")
            return [path]

    report = check_emitter(Onnx(), architecture=tiny_architecture())
    assert report.checked[-1] == "export writes model.txt with the rendered source"
    assert report.skipped == [
        "run: framework 'onnx-text' is not one of "
        "['keras', 'onnx', 'onnxruntime', 'pytorch', 'tensorflow', 'tflite', 'torch']; set `framework`"
    ]


def test_objective_mistakes_are_caught():
    with pytest.raises(AssertionError, match="objective 'energy': it has no description"):
        check_objective(Objective("energy", "min"), {"energy": 1.0})
    with pytest.raises(
        AssertionError, match=r"declares no measurements\. list the measurements compute reads in requires"
    ):
        check_objective(Objective("ratio", "min", compute=lambda m: m["a"] / m["b"], description="a per b"), {"a": 1.0})
    guarded = Objective(
        "ratio", "min", compute=lambda m: m.get("a") / m["b"], requires=("a", "b"), description="a per b"
    )
    with pytest.raises(
        AssertionError, match=r"without the measurement 'a', value\(\) raised TypeError.*raise KeyError"
    ):
        check_objective(guarded, {"a": 1.0, "b": 2.0})
    with pytest.raises(AssertionError, match=r"value\(\) gave inf for finite metrics"):
        check_objective(Objective("x", "min", description="x"), {"x": float("inf")})
    json.dumps(check_objective(Objective("x", "max", description="x"), {"x": 0.5}).checked)
