"""The DARTS strategy: supernet, bilevel steps, the second-order gradient, derivation, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from automl_codegen import ConfigError, NeuralArchitectureSearch, Objective, Trial
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen.testing import RecordingSupernetContext
from automl_codegen_plugins.datasets.synthetic import load_synthetic
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import OPS as DARTS_OPS
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.spaces.nb201 import OPS as NB201_OPS
from automl_codegen_plugins.spaces.nb201 import NB201Space
from automl_codegen_plugins.strategies import darts
from automl_codegen_plugins.strategies._darts_supernet import (
    MixedEdge,
    Supernet,
    SupernetTrainer,
    decode_state,
    encode_state,
    second_order_alpha_grads,
)
from automl_codegen_plugins.strategies.darts import DartsOptions, DartsStrategy
from automl_codegen_plugins.torch_model import build_model

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
    return load_synthetic(num_samples=120, num_classes=4, image_size=8)


def nb201(data, **options):
    return NB201Space(data.input_shape, data.num_classes, channels=4, cells_per_stage=1, **options)


def darts_cell(data, **options):
    return DartsCellSpace(data.input_shape, data.num_classes, init_channels=4, layers=3, **options)


def make(space, **options):
    options = {"epochs": 2, "batch_size": 32, **options}
    return DartsStrategy(space, [ACCURACY], seed=0, **options)


# -- the plugin ---------------------------------------------------------------------------------


def test_registered_through_its_hook():
    registry = get_registry(get_plugin_manager(entry_points=False, plugins=[("darts", darts)]))
    assert registry.get("strategy", "darts") is DartsStrategy


def test_module_does_not_import_torch():
    code = (
        "import sys; import automl_codegen_plugins.strategies.darts as d; "
        "d.DartsStrategy; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"order": 3}, "strategy 'darts': order must be 1 (first order) or 2 (second order), got 3"),
        ({"order": True}, "strategy 'darts': order must be 1 (first order) or 2 (second order), got True"),
        ({"epochs": 0}, "strategy 'darts': epochs must be an integer >= 1, got 0"),
        ({"batch_size": 1}, "strategy 'darts': batch_size must be an integer >= 2, got 1"),
        ({"w_lr": 0}, "strategy 'darts': w_lr must be a number > 0, got 0"),
        ({"w_lr_min": 0.1}, "strategy 'darts': w_lr_min must be a number in [0, w_lr=0.025], got 0.1"),
        ({"w_momentum": 1.0}, "strategy 'darts': w_momentum must be a number in [0, 1), got 1.0"),
        ({"alpha_lr": float("nan")}, "strategy 'darts': alpha_lr must be a number > 0, got nan"),
        ({"alpha_weight_decay": -1}, "strategy 'darts': alpha_weight_decay must be a number >= 0, got -1"),
        ({"grad_clip": "5"}, "strategy 'darts': grad_clip must be a number > 0, got '5'"),
        ({"checkpointing": 1}, "strategy 'darts': checkpointing must be true or false, got 1"),
        ({"remedy": "pdarts"}, "strategy 'darts': remedy must be one of none, darts-minus, got 'pdarts'"),
        ({"colour": 1}, "strategy 'darts' has no option(s) ['colour']"),
        ({"layers": 4}, "nb201 has no supernet size option 'layers'; its options are channels, cells_per_stage"),
        ({"channels": 0}, "nb201 option 'channels' must be a positive integer, got 0"),
        (
            {"partial_channels": 3},
            "nb201: partial_channels=3 must divide the width of every cell, but cell 'stage1_0' has 4 channels (the widths are [4, 8, 16])",
        ),
    ],
)
def test_bad_options_name_the_option(data, options, message):
    with pytest.raises(ConfigError) as error:
        make(nb201(data), **options)
    assert str(error.value) == message


def test_a_reduction_cell_needs_an_even_width_per_op(data):
    space = DartsCellSpace(data.input_shape, data.num_classes, init_channels=3, layers=1)  # one reduction cell, C=6
    with pytest.raises(ConfigError) as error:
        make(space, partial_channels=2)
    assert str(error.value) == (
        "darts-cell: partial_channels=2 leaves 3 channels per op in the reduction cell 'cell0', "
        "but a strided skip connection (FactorizedReduce) needs an even number"
    )


def test_spaces_without_a_supernet_are_refused(data):
    space = ChainCNNSpace(data.input_shape, data.num_classes)
    with pytest.raises(ConfigError) as error:
        make(space)
    assert (
        str(error.value)
        == "darts needs a space with a supernet description: nb201, darts-cell (space 'chain-cnn' has none)"
    )


# -- derivation ------------------------------------------------------------------------------


def test_nb201_derivation_is_the_argmax_per_edge_none_included(data):
    space = nb201(data)
    rows = [[0.0] * 5 for _ in range(6)]
    for edge, op in enumerate(["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]):
        rows[edge][NB201_OPS.index(op)] = 1.0
    rows[5][NB201_OPS.index("skip_connect")] = 1.0  # a tie goes to the op listed first
    assert (
        space.genotype_from_weights({"normal": rows})
        == "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    )


def test_darts_derivation_keeps_the_two_strongest_inputs_without_none(data):
    space = darts_cell(data)
    none, skip, sep3, dil5 = (DARTS_OPS.index(op) for op in ("none", "skip_connect", "sep_conv_3x3", "dil_conv_5x5"))
    normal = np.full((14, 8), 0.1)
    # Node 2 (edges 0, 1): none is the largest weight of edge 0, but does not count.
    normal[0, none], normal[0, sep3] = 0.9, 0.2
    normal[1, skip] = 0.5
    # Node 3 (edges 2, 3, 4 from inputs 0, 1, 2): inputs 2 and 0 are the strongest.
    normal[2, dil5], normal[3, sep3], normal[4, skip] = 0.6, 0.3, 0.7
    # Node 4 (edges 5..8) and node 5 (edges 9..13): all equal, ties to the earlier input and op.
    reduce = np.full((14, 8), 0.125)
    genotype = space.genotype_from_weights({"normal": normal.tolist(), "reduce": reduce.tolist()})
    first = DARTS_OPS[1]  # max_pool_3x3: the first op other than none
    assert genotype["normal"] == [
        ["skip_connect", 1],
        ["sep_conv_3x3", 0],
        ["skip_connect", 2],
        ["dil_conv_5x5", 0],
        [first, 0],
        [first, 1],
        [first, 0],
        [first, 1],
    ]
    assert genotype["reduce"] == [[first, 0], [first, 1]] * 4
    assert genotype["normal_concat"] == genotype["reduce_concat"] == [2, 3, 4, 5]
    space.to_architecture(genotype)  # a valid genotype of the space


def test_derivation_refuses_weights_of_the_wrong_shape(data):
    with pytest.raises(ConfigError, match=r"nb201 derives a genotype from weights\['normal'\] of 6 rows of 5 numbers"):
        nb201(data).genotype_from_weights({"normal": [[1.0] * 5] * 5})


# -- the supernet ------------------------------------------------------------------------------


def _edge_module(model, name):
    module = model
    for part in name.split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize(
    ("space_name", "op", "stride"),
    [
        ("nb201", "nor_conv_3x3", 1),
        ("nb201", "nor_conv_1x1", 1),
        ("darts-cell", "sep_conv_5x5", 1),
        ("darts-cell", "dil_conv_3x3", 2),
        ("darts-cell", "skip_connect", 2),
    ],
)
def test_supernet_ops_are_the_final_networks_ops(data, space_name, op, stride):
    """With the same weights, a mixed edge with a one-hot weight computes the retrained network's op."""
    space = nb201(data) if space_name == "nb201" else darts_cell(data)
    description = space.supernet_description()
    cell = description.cells[1] if stride == 2 else description.cells[0]
    edge = MixedEdge(description, cell.channels, stride).eval()
    if space_name == "nb201":
        final = build_model(space.to_architecture(space.decode([NB201_OPS.index(op)] * 6))).eval()
        reference = _edge_module(final, f"{cell.node}.edge_0_1")
    else:
        genotype = {kind: [[op, 0], [op, 1]] + [[op, 0]] * 6 for kind in ("normal", "reduce")}
        final = build_model(space.to_architecture(genotype)).eval()
        reference = _edge_module(final, f"{cell.node}.node2_op0")
    column = description.ops.index(op)
    (module,) = [edge.ops[index] for c, index, _ in edge._plan if c == column]
    ours, theirs = module.state_dict(), reference.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    generator = torch.Generator().manual_seed(0)
    for value in theirs.values():
        if value.is_floating_point():
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
    module.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    x = torch.randn(3, cell.channels, 8, 8, generator=generator)
    weights = torch.zeros(len(description.ops))
    weights[column] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(edge(x, weights.unbind()), reference(x), rtol=1e-6, atol=1e-6)


def test_supernet_parameters_match_the_authors_search_network(data):
    # model_search.Network(C=4, 10 classes, layers=3) on 3-channel input has 72,854
    # parameters (counted with the authors' code, quark0/darts, cnn/model_search.py).
    space = DartsCellSpace((3, 8, 8), 10, init_channels=4, layers=3)
    model = Supernet(space.supernet_description())
    assert sum(p.numel() for p in model.parameters()) == 72_854


def test_darts_minus_adds_the_decaying_skip(data):
    description = nb201(data).supernet_description()
    edge = MixedEdge(description, 4, 1)
    x = torch.randn(2, 4, 8, 8)
    weights = torch.softmax(torch.randn(5), 0).unbind()
    with torch.no_grad():
        torch.testing.assert_close(edge(x, weights, 0.25) - edge(x, weights, 0.0), 0.25 * x)
    strategy = make(nb201(data), remedy="darts-minus", epochs=4)
    trainer = SupernetTrainer(strategy.description, strategy.options, data, "cpu", 0)
    assert [trainer.aux_skip(epoch) for epoch in range(4)] == [1.0, 0.75, 0.5, 0.25]


def test_partial_channels_send_a_quarter_of_the_channels_through_the_ops(data):
    strategy = make(darts_cell(data), partial_channels=2)
    trainer = SupernetTrainer(strategy.description, strategy.options, data, "cpu", 0)
    edge = trainer.model.layers["cell0"].edges[0]
    assert edge.ops[2].dw1.weight.shape[0] == 2  # sep_conv_3x3 on 4 / 2 channels
    batch = (torch.from_numpy(data.x_train[:8]), torch.from_numpy(data.y_train[:8]))
    trainer.step(batch, batch, 0.025)


# -- bilevel training ----------------------------------------------------------------------------


def _trainer(data, space, **options):
    strategy = make(space, **options)
    return SupernetTrainer(strategy.description, strategy.options, data, "cpu", 0)


def _batches(data):
    train = (torch.from_numpy(data.x_train[:16]), torch.from_numpy(data.y_train[:16]))
    val = (torch.from_numpy(data.x_val[:16]), torch.from_numpy(data.y_val[:16]))
    return train, val


@pytest.mark.parametrize("order", [1, 2])
def test_a_step_updates_weights_and_alphas(data, order):
    trainer = _trainer(data, nb201(data), order=order)
    alpha = trainer.alphas["normal"].detach().clone()
    weights = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.step(*_batches(data), 0.025)
    assert not torch.equal(trainer.alphas["normal"], alpha)
    assert all(not torch.equal(p, w) for p, w in zip(trainer.model.parameters(), weights, strict=True))


def test_first_and_second_order_give_different_alpha_steps(data):
    steps = {}
    for order in (1, 2):
        trainer = _trainer(data, nb201(data), order=order)
        before = trainer.alphas["normal"].detach().clone()
        trainer.step(*_batches(data), 0.025)
        steps[order] = trainer.alphas["normal"].detach() - before
    assert not torch.allclose(steps[1], steps[2])
    # Adam's first step is about lr * sign(gradient) for both.
    assert steps[1].abs().max() < 1e-3
    assert steps[2].abs().max() < 1e-3


def test_the_second_order_gradient_matches_finite_differences_of_the_unrolled_loss():
    """DARTS's approximation against a direct central difference of L_val(w'(α), α), in double."""
    torch.manual_seed(0)
    space = NB201Space((1, 4, 4), 3, channels=4, cells_per_stage=1)
    model = Supernet(space.supernet_description()).double()
    params = list(model.parameters())
    names = [name for name, _ in model.named_parameters()]
    alpha = (0.5 * torch.randn(6, 5, dtype=torch.float64)).requires_grad_()
    x_train, x_val = torch.randn(6, 1, 4, 4, dtype=torch.float64), torch.randn(6, 1, 4, 4, dtype=torch.float64)
    y_train, y_val = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([2, 1, 0, 2, 1, 0])
    lr, momentum, decay = 0.1, 0.9, 3e-4
    buffers = [0.01 * torch.randn_like(p) for p in params]

    def loss_fn(x, y, a=None, values=None):
        weights = {"normal": torch.softmax(alpha if a is None else a, dim=-1)}
        if values is None:
            logits = model(x, weights)
        else:
            logits = torch.func.functional_call(model, dict(zip(names, values, strict=True)), (x, weights))
        return torch.nn.functional.cross_entropy(logits, y)

    # The finite-difference Hessian-vector product is exact up to O(eps²) where the loss is
    # smooth, but a ReLU network is only piecewise smooth: at the paper's r=0.01 (for float32)
    # a ReLU that flips between w - eps v and w + eps v dominates on a network this small.
    # In double precision a step small enough to cross no kink measures the method itself.
    grads, _ = second_order_alpha_grads(
        loss_fn,
        params,
        [alpha],
        (x_train, y_train),
        (x_val, y_val),
        lr=lr,
        momentum=momentum,
        weight_decay=decay,
        momentum_buffers=buffers,
        r=1e-5,
    )

    w = [p.detach().clone() for p in params]

    def unrolled_val_loss(a):
        values = [v.clone().requires_grad_() for v in w]
        g = torch.autograd.grad(loss_fn(x_train, y_train, a, values), values)
        unrolled = [v - lr * (momentum * b + gi + decay * v) for v, b, gi in zip(w, buffers, g, strict=True)]
        return float(loss_fn(x_val, y_val, a, unrolled))

    h = 1e-5
    direct = torch.zeros_like(alpha)
    with torch.no_grad():
        base = alpha.detach()
    for index in np.ndindex(*alpha.shape):
        plus, minus = base.clone(), base.clone()
        plus[index] += h
        minus[index] -= h
        direct[index] = (unrolled_val_loss(plus) - unrolled_val_loss(minus)) / (2 * h)
    torch.testing.assert_close(grads[0], direct, rtol=1e-4, atol=1e-7)
    # ... and the parameters are back where they were, bit for bit.
    assert all(torch.equal(p, v) for p, v in zip(params, w, strict=True))
    # The first-order gradient is measurably different.
    first = torch.autograd.grad(loss_fn(x_val, y_val), alpha)[0]
    assert (first - direct).abs().max() > 100 * (grads[0] - direct).abs().max()


def test_checkpointing_changes_neither_the_result_nor_the_batchnorm_statistics(data):
    results = []
    for checkpointing in (False, True):
        trainer = _trainer(data, darts_cell(data), checkpointing=checkpointing)
        trainer.step(*_batches(data), 0.025)
        results.append((trainer.alphas, trainer.model.state_dict()))
    (alphas, state), (alphas_ckpt, state_ckpt) = results
    for kind in alphas:
        torch.testing.assert_close(alphas_ckpt[kind], alphas[kind], rtol=1e-6, atol=1e-7)
    assert state.keys() == state_ckpt.keys()
    for key in state:
        torch.testing.assert_close(state_ckpt[key], state[key], rtol=1e-5, atol=1e-6)


# -- the strategy ------------------------------------------------------------------------------


def test_train_then_ask_once(data):
    strategy = make(nb201(data))
    context = RecordingSupernetContext(data, strategy)
    assert not strategy.supernet_trained
    with pytest.raises(RuntimeError, match="before the supernet is trained"):
        strategy.ask(1)
    strategy.train_supernet(context)
    assert strategy.supernet_trained
    (genotype,) = strategy.ask(1)
    assert genotype == strategy.history[-1]["genotype"]
    space = nb201(data)
    assert space.key(genotype) == genotype  # a canonical nb201 cell string
    assert strategy.ask(1) == []
    strategy.tell([Trial(number=0, genotype=genotype, objectives={"accuracy": 0.5})])
    kinds = [kind for kind, _, _ in context.events]
    assert kinds == ["alpha", "memory", "alpha", "supernet", "alpha", "supernet"]
    alpha_steps = [step for kind, step, _ in context.events if kind == "alpha"]
    assert alpha_steps == [0, 1, 2]
    _, _, alpha = context.events[-2]
    assert np.allclose(np.sum(alpha["normal"], axis=1), 1.0)
    memory = strategy.memory
    assert memory["peak_bytes"] > memory["step_bytes"] > 0
    assert memory["method"] == "torch.profiler memory events (CPU allocator)"
    # One checkpoint per epoch but the last, then one at the end.
    assert len(context.saved) == 2
    state = json.loads(context.saved[-1])
    assert state["finished"]
    assert state["supernet"] is None
    assert state["derived"] == genotype


def test_resume_continues_exactly(data):
    """2 epochs straight equal 1 epoch, a kill, a JSON round trip into a new strategy, and 1 more."""
    straight = make(darts_cell(data), epochs=2)
    straight.train_supernet(RecordingSupernetContext(data, straight))

    first = make(darts_cell(data), epochs=2)
    context = RecordingSupernetContext(data, first, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        first.train_supernet(context)
    state = json.loads(context.saved[-1])
    assert state["epoch"] == 1
    assert not state["finished"]
    assert isinstance(state["supernet"], str)

    resumed = make(darts_cell(data), epochs=2)
    resumed.load_state_dict(state)
    assert not resumed.supernet_trained
    resumed.train_supernet(RecordingSupernetContext(data, resumed))
    assert resumed.ask(1) == straight.ask(1)
    assert [h["alpha"] for h in resumed.history] == [h["alpha"] for h in straight.history]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]


def test_a_state_from_other_options_is_refused(data):
    strategy = make(nb201(data))
    strategy.train_supernet(RecordingSupernetContext(data, strategy))
    other = make(nb201(data), order=2)
    with pytest.raises(ConfigError, match="trained with other options"):
        other.load_state_dict(json.loads(json.dumps(strategy.state_dict())))


def test_the_deadline_stops_training_and_still_derives(data):
    strategy = make(nb201(data), epochs=50)
    context = RecordingSupernetContext(data, strategy, deadline=0.0)
    strategy.train_supernet(context)
    assert strategy.supernet_trained
    assert strategy.epoch == 0
    (kind, step, initial) = context.events[0]
    assert (kind, step) == ("alpha", 0)
    assert strategy.ask(1) == [nb201(data).genotype_from_weights(initial)]


def test_state_round_trips_tensors_exactly():
    state = {"w": torch.randn(3, 4), "step": torch.tensor(3.0), "nested": [{"a": torch.arange(4)}]}
    back = decode_state(encode_state(state))
    assert torch.equal(back["w"], state["w"])
    assert torch.equal(back["nested"][0]["a"], state["nested"][0]["a"])


def test_options_dataclass_defaults_are_the_papers():
    options = DartsOptions()
    assert (options.w_lr, options.w_momentum, options.w_weight_decay) == (0.025, 0.9, 3e-4)
    assert (options.alpha_lr, options.alpha_weight_decay, options.grad_clip) == (3e-4, 1e-3, 5.0)


def _plugin_manager():
    pm = get_plugin_manager()
    if "darts" not in get_registry(pm).names("strategy"):  # the entry point is not installed yet
        pm = get_plugin_manager(plugins=[("darts", darts)])
    return pm


def test_a_search_retrains_the_derived_cell_as_a_trial(tmp_path):
    options = {
        "dataset": "synthetic",
        "dataset_options": {"num_samples": 120},
        "space": "nb201",
        "space_options": {"channels": 4, "cells_per_stage": 1},
        "strategy": "darts",
        "strategy_options": {"epochs": 2, "batch_size": 32},
        "budget": {"trials": 3},
        "epochs": 1,
        "profilers": (),
        "progress": False,
    }
    nas = NeuralArchitectureSearch(**options, run_dir=tmp_path / "run", plugin_manager=_plugin_manager())
    result = nas.search()
    (trial,) = result.history  # the strategy proposes one architecture, then the search ends
    assert trial.ok
    assert trial.genotype == nas.strategy.derived
    assert [step for step, _ in result.events("alpha")] == [0, 1, 2]
    assert [step for step, _ in result.events("supernet")] == [1, 2]
    ((_, memory),) = result.events("memory")
    assert memory["peak_bytes"] > 0
    result.export("pytorch", tmp_path / "out")
    assert (tmp_path / "out" / "model.py").is_file()
    # Resuming the finished run trains nothing again and proposes nothing new.
    again = NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, plugin_manager=_plugin_manager())
    assert [t.number for t in again.search().trials] == [0]
    assert again.strategy.supernet_trained
