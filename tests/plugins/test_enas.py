"""The enas strategy (and rl's deprecated weight_sharing spelling of it): child paths, training, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from automl_codegen import ConfigError, NeuralArchitectureSearch, Objective, Trial
from automl_codegen.testing import RecordingSupernetContext
from automl_codegen_plugins.datasets.synthetic import load_synthetic
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import DARTS_V2, DartsCellSpace
from automl_codegen_plugins.spaces.nb201 import NB201Space
from automl_codegen_plugins.strategies._darts_supernet import Supernet, batch_statistics_only, child_path
from automl_codegen_plugins.strategies.enas import EnasOptions, EnasStrategy
from automl_codegen_plugins.strategies.rl import RLStrategy

ACCURACY = Objective("accuracy", "max")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these networks are tiny, and on shared cores more threads only wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return load_synthetic(num_samples=160, num_classes=4, image_size=8)


def nb201(data):
    return NB201Space(data.input_shape, data.num_classes, channels=4, cells_per_stage=1)


def darts_cell(data, **options):
    return DartsCellSpace(data.input_shape, data.num_classes, init_channels=4, layers=3, **options)


def make(space, **options):
    options = {
        "epochs": 2,
        "w_batch_size": 32,
        "controller_steps": 3,
        "reward_batch_size": 32,
        "derive_samples": 6,
        "retrain": 2,
        **options,
    }
    return EnasStrategy(space, [ACCURACY], seed=0, **options)


def deprecated(space, **options):
    """``rl`` with ``weight_sharing=true``, enas's spelling before; checks the warning names the new one."""
    with pytest.warns(DeprecationWarning, match="use --strategy enas"):
        return RLStrategy(space, [ACCURACY], seed=0, weight_sharing=True, **options)


def test_registered_and_importable_without_torch():
    from automl_codegen.plugins import get_plugin_manager, get_registry
    from automl_codegen_plugins.strategies import enas

    pm = get_plugin_manager(entry_points=False, plugins=[("enas", enas)])
    assert get_registry(pm).get("strategy", "enas") is EnasStrategy
    code = "import sys, automl_codegen_plugins.strategies.enas; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the supernet along one child --------------------------------------------------------------


def test_genotype_weights_invert_the_derivation(data):
    space = nb201(data)
    rng = np.random.default_rng(0)
    for _ in range(20):
        genotype = space.sample(rng)
        weights = space.genotype_weights(genotype)
        assert space.genotype_from_weights(weights) == genotype
        assert all(sum(row) == 1 for row in weights["normal"])
    cells = darts_cell(data)
    weights = cells.genotype_weights(DARTS_V2)
    assert cells.key(cells.genotype_from_weights(weights)) == cells.key(DARTS_V2)
    # Two inputs per node, so 8 ops per cell kind.
    assert sum(map(sum, weights["normal"])) == sum(map(sum, weights["reduce"])) == 8


@pytest.mark.parametrize("space_name", ["nb201", "darts-cell"])
def test_a_child_path_computes_the_mixture_with_its_weights_and_runs_only_its_ops(data, space_name):
    """Along a child's path the supernet computes what the mixed supernet does with the child's 0/1
    weights (``none`` and absent edges contribute nothing), and no other op runs."""
    space = nb201(data) if space_name == "nb201" else darts_cell(data)
    description = space.supernet_description()
    torch.manual_seed(0)
    model = Supernet(description, affine=False)
    batch_statistics_only(model)
    model.eval()  # batch statistics anyway: eval and train agree
    x = torch.from_numpy(data.x_train[:16])
    rng = np.random.default_rng(1)
    for _ in range(4):
        genotype = space.sample(rng)
        weights = space.genotype_weights(genotype)
        ran = []
        hooks = [
            op.register_forward_hook(lambda module, args, out, ran=ran: ran.append(module))
            for module in model.modules()
            if hasattr(module, "_plan")
            for op in module.ops
        ]
        with torch.no_grad():
            path_out = model(x, {kind: child_path(rows) for kind, rows in weights.items()})
        for hook in hooks:
            hook.remove()
        with torch.no_grad():
            mixed_out = model(x, {kind: torch.tensor(rows) for kind, rows in weights.items()})
        torch.testing.assert_close(path_out, mixed_out, rtol=1e-5, atol=1e-5)
        # Each op that ran is a chosen op: at most one per chosen (edge, op) pair per cell.
        chosen_with_params = sum(
            1
            for rows in weights.values()
            for row in rows
            for column, count in enumerate(row)
            if count and description.ops[column] not in ("none", "skip_connect")
        )
        cells = len(description.cells) if space_name == "nb201" else None
        if cells is not None:
            assert len(ran) == cells * chosen_with_params


def test_batch_statistics_only_ignores_running_averages(data):
    description = nb201(data).supernet_description()
    model = Supernet(description)
    batch_statistics_only(model)
    assert not any(name.endswith(("running_mean", "running_var")) for name, _ in model.named_buffers())
    x = torch.from_numpy(data.x_train[:16])
    genotype = nb201(data).sample(np.random.default_rng(0))
    child = {kind: child_path(rows) for kind, rows in nb201(data).genotype_weights(genotype).items()}
    with torch.no_grad():
        model.train()
        train_out = model(x, child)
        model.eval()
        eval_out = model(x, child)
    torch.testing.assert_close(train_out, eval_out)


# -- the strategy ------------------------------------------------------------------------------


def test_train_then_ask_the_best_children_best_first(data):
    strategy = make(nb201(data))
    assert strategy.one_shot
    assert not strategy.supernet_trained
    with pytest.raises(RuntimeError, match="before the supernet is trained"):
        strategy.ask(1)
    context = RecordingSupernetContext(data, strategy)
    strategy.train_supernet(context)
    assert strategy.supernet_trained
    kinds = [kind for kind, _, _ in context.events]
    # Per epoch: the supernet record and three controller updates; then the derivation.
    assert kinds == ["supernet", *["controller"] * 3, "supernet", *["controller"] * 3, "derive"]
    assert [step for kind, step, _ in context.events if kind == "controller"] == list(range(6))
    _, _, derive = context.events[-1]
    accuracies = [c["accuracy"] for c in derive["candidates"]]
    assert accuracies == sorted(accuracies, reverse=True)
    assert len({nb201(data).key(c["genotype"]) for c in derive["candidates"]}) == len(derive["candidates"])
    # The two best are asked for, one after the other, then nothing.
    first, second = strategy.ask(1), strategy.ask(5)
    assert first + second == [c["genotype"] for c in derive["candidates"][:2]]
    assert strategy.ask(1) == []
    strategy.tell([Trial(number=0, genotype=first[0], objectives={"accuracy": 0.5})])
    assert len(strategy.history) == 6  # retrained trials do not train the controller
    # One checkpoint per epoch but the last, then one at the end, without the supernet.
    assert len(context.saved) == 2
    state = json.loads(context.saved[-1])
    assert state["weight_sharing"]["finished"]
    assert state["weight_sharing"]["supernet"] is None


def test_shared_weights_learn_and_the_controller_prefers_what_they_score_well(data):
    """On an easy task the shared weights learn (training loss falls) and the children the
    controller samples at the end score at least as well as those it sampled first."""
    strategy = make(nb201(data), epochs=6, controller_steps=4, w_lr=0.05)
    strategy.train_supernet(RecordingSupernetContext(data, strategy))
    history = strategy.supernet_history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["reward_mean"] >= history[0]["reward_mean"]
    assert strategy.history[-1]["entropy"] < strategy.history[0]["entropy"]


def test_same_seed_same_search(data):
    runs = []
    for _ in range(2):
        strategy = make(nb201(data))
        strategy.train_supernet(RecordingSupernetContext(data, strategy))
        runs.append((strategy.derived, [h["train_loss"] for h in strategy.supernet_history], strategy.history))
    assert runs[0] == runs[1]


def test_resume_continues_exactly(data):
    """2 epochs straight equal 1 epoch, a kill, a JSON round trip into a new strategy, and 1 more."""
    straight = make(darts_cell(data))
    straight.train_supernet(RecordingSupernetContext(data, straight))

    first = make(darts_cell(data))
    context = RecordingSupernetContext(data, first, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        first.train_supernet(context)
    state = json.loads(context.saved[-1])
    assert state["weight_sharing"]["epoch"] == 1
    assert isinstance(state["weight_sharing"]["supernet"], str)

    resumed = make(darts_cell(data))
    resumed.load_state_dict(state)
    assert not resumed.supernet_trained
    resumed.train_supernet(RecordingSupernetContext(data, resumed))
    assert resumed.derived == straight.derived
    untimed = [
        [{k: v for k, v in h.items() if k != "seconds"} for h in s.supernet_history] for s in (resumed, straight)
    ]
    assert untimed[0] == untimed[1]
    assert resumed.history == straight.history


def test_a_state_from_other_options_or_strategy_is_refused(data):
    strategy = make(nb201(data))
    state = json.loads(json.dumps(strategy.state_dict()))
    with pytest.raises(ConfigError, match="trained with other options"):
        make(nb201(data), epochs=3).load_state_dict(state)
    with pytest.raises(ConfigError, match="saved with weight sharing; resume it as strategy 'enas'"):
        RLStrategy(nb201(data), [ACCURACY], seed=0).load_state_dict(state)
    multi_trial = RLStrategy(nb201(data), [ACCURACY], seed=0, hidden_size=64, optimizer="adam").state_dict()
    with pytest.raises(ConfigError, match="strategy 'enas' cannot resume a state of strategy 'rl'"):
        strategy.load_state_dict(json.loads(json.dumps(multi_trial)))


def test_the_deprecated_rl_spelling_builds_enas_and_resumes_its_states(data):
    """``rl`` with ``weight_sharing=true`` (and the options it took, even those that never acted
    with weight sharing) is the enas strategy; states it saved, with rl's multi-trial keys, resume."""
    old = deprecated(nb201(data), epochs=2, w_batch_size=32, controller_steps=3, reward_batch_size=32,
                     derive_samples=6, retrain=2, elite_size=5, reward="objective", failure_margin=2.0)  # fmt: skip
    assert isinstance(old, EnasStrategy)
    assert old.options == make(nb201(data)).options
    context = RecordingSupernetContext(data, old, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        old.train_supernet(context)
    # What rl saved besides: its multi-trial bookkeeping, unused with weight sharing.
    rl_keys = {"asked": 0, "worst": 0.25, "reward_stats": [3, 0.3, 0.01], "buffer": [], "pending": {}, "seen": [],
               "elite": [], "candidates": {"rng": None, "level": 0, "next": 0, "fresh": False, "found": 0}}  # fmt: skip
    saved = {**json.loads(context.saved[-1]), **rl_keys}
    resumed, straight = make(nb201(data)), make(nb201(data))
    resumed.load_state_dict(saved)
    for strategy in (resumed, straight):
        strategy.train_supernet(RecordingSupernetContext(data, strategy))
    assert resumed.derived == straight.derived
    assert resumed.history == straight.history
    # weight_sharing=false is rl itself, with a warning that the option does nothing now.
    with pytest.warns(DeprecationWarning, match="weight_sharing=false is deprecated"):
        assert type(RLStrategy(nb201(data), [ACCURACY], weight_sharing=False)) is RLStrategy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert type(RLStrategy(nb201(data), [ACCURACY])) is RLStrategy


def test_the_deadline_stops_training_and_still_proposes(data):
    strategy = make(nb201(data), epochs=50)
    strategy.train_supernet(RecordingSupernetContext(data, strategy, deadline=0.0))
    assert strategy.supernet_trained
    assert strategy.supernet_history == []
    (genotype,) = strategy.ask(1)
    assert genotype == strategy.greedy() or genotype in [c["genotype"] for c in strategy.derived]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": 0}, "strategy 'enas': epochs must be an integer >= 1, got 0"),
        ({"w_batch_size": 1}, "strategy 'enas': w_batch_size must be an integer >= 2 (BatchNorm needs two samples)"),
        ({"w_lr_min": 1.0}, "strategy 'enas': w_lr_min must be a finite number in [0, w_lr=0.05], got 1.0"),
        ({"w_lr_min": -1}, "strategy 'enas': w_lr_min must be a finite number in [0, w_lr=0.05], got -1"),
        ({"w_grad_clip": 0}, "strategy 'enas': w_grad_clip must be a finite number > 0, got 0"),
        ({"derive_samples": -1}, "strategy 'enas': derive_samples must be an integer >= 0, got -1"),
        ({"lr": 0}, "strategy 'enas': lr must be a finite number > 0, got 0"),
        ({"elite_size": 5}, "strategy 'enas' has no option(s) ['elite_size']"),
        ({"channels": 0}, "nb201"),
    ],
)
def test_bad_options_name_the_option(data, options, message):
    with pytest.raises(ConfigError) as caught:
        make(nb201(data), **options)
    assert message in str(caught.value)


def test_the_deprecated_spelling_keeps_its_messages(data):
    with pytest.raises(ConfigError, match="strategy 'rl': weight_sharing must be true or false, got 'yes'"):
        RLStrategy(nb201(data), [ACCURACY], weight_sharing="yes")
    with pytest.raises(ConfigError, match="with weight_sharing=true the controller learns from the shared weights'"):
        deprecated(nb201(data), reward="mnas", latency_target=1.0)
    with pytest.raises(ConfigError, match="strategy 'enas': epochs must be an integer >= 1, got 0"):
        deprecated(nb201(data), epochs=0)


def test_enas_options_given_to_rl_name_the_enas_strategy(data):
    with pytest.raises(ConfigError) as caught:
        RLStrategy(nb201(data), [ACCURACY], epochs=3, w_lr=0.1)
    assert str(caught.value) == (
        "strategy 'rl': epochs, w_lr only apply to weight sharing, which is strategy 'enas'; "
        "drop them or use --strategy enas"
    )


def test_spaces_without_a_supernet_are_refused(data):
    chain = ChainCNNSpace(data.input_shape, data.num_classes)
    with pytest.raises(ConfigError) as caught:
        make(chain)
    assert str(caught.value) == (
        "strategy 'enas' needs a cell space with a supernet: nb201 or darts-cell "
        "(space 'chain-cnn' has none); or use strategy 'rl'"
    )


def test_defaults_are_enas(data):
    options = EnasOptions()
    assert (options.w_lr, options.w_lr_min, options.w_momentum, options.w_weight_decay) == (0.05, 0.0005, 0.9, 1e-4)
    # The controller keeps ENAS's Adam (and has no elite: the shared weights change under it).
    assert (options.optimizer, options.learning_rate) == ("adam", 0.01)
    assert (options.controller, options.hidden, options.embedding) == ("lstm", 64, 64)  # ENAS's width


@pytest.mark.parametrize(
    ("strategy", "spelling"),
    [("enas", {}), pytest.param("rl", {"weight_sharing": True}, id="deprecated-rl-weight_sharing")],
)
def test_a_search_retrains_the_chosen_children_and_resumes(tmp_path, strategy, spelling):
    options = {
        "dataset": "synthetic",
        "dataset_options": {"num_samples": 120},
        "space": "nb201",
        "space_options": {"channels": 4, "cells_per_stage": 1},
        "strategy": strategy,
        "strategy_options": {**spelling, "epochs": 2, "controller_steps": 2, "retrain": 2},
        "budget": {"trials": 5},
        "epochs": 1,
        "profilers": (),
        "progress": False,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        nas = NeuralArchitectureSearch(**options, run_dir=tmp_path / "run")
    assert isinstance(nas.strategy, EnasStrategy)
    assert any("--strategy enas" in str(w.message) for w in caught) == bool(spelling)
    result = nas.search()
    assert [t.genotype for t in result.history] == [c["genotype"] for c in nas.strategy.derived]
    assert all(t.ok for t in result.history)
    assert [step for step, _ in result.events("supernet")] == [1, 2]
    assert len(result.events("controller")) == 4
    ((_, derive),) = result.events("derive")
    assert len(derive["candidates"]) >= 2
    # Resuming the finished run trains nothing again and proposes nothing new.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        again = NeuralArchitectureSearch.resume(tmp_path / "run", progress=False)
    assert [t.number for t in again.search().trials] == [0, 1]
