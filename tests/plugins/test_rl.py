"""The rl strategy: it learns a toy bandit, is reproducible, resumes exactly, shapes rewards."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from automl_codegen import Choice, ChunkedList, ConfigError, Objective, SearchSpace, Trial
from automl_codegen.journal import BLOB_MIN_CHARS
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.strategies import rl
from automl_codegen_plugins.strategies.rl import RLStrategy

SCORE = Objective("score", "max")
ACCURACY = Objective("accuracy", "max")
LATENCY = Objective("latency_ms", "min")


class ToySpace(SearchSpace):
    """``length`` decisions of ``options`` values each; the genotype is the list of values."""

    name = "toy"

    def __init__(self, length: int = 8, options: int = 5) -> None:
        super().__init__(input_shape=(1,), num_classes=2)
        self.length, self.options = length, options

    def choices(self) -> list[Choice]:
        return [Choice(f"c{i}", range(self.options)) for i in range(self.length)]

    def decode(self, indices):
        return [int(i) for i in indices]

    def encode(self, genotype):
        return list(genotype)

    def to_architecture(self, genotype):
        raise NotImplementedError


def target_of(space: ToySpace) -> list[int]:
    """The hidden best arm: a fixed option per decision, different across decisions."""
    return [(3 * i + 1) % space.options for i in range(space.length)]


def bandit(space: ToySpace):
    """Reward = the number of decisions equal to the hidden target."""
    target = target_of(space)

    def evaluate(number, genotype, **kwargs) -> Trial:
        score = sum(a == b for a, b in zip(genotype, target, strict=True))
        return Trial(number=number, genotype=genotype, objectives={"score": score}, **kwargs)

    return evaluate


def run(strategy, evaluate, budget):
    """Ask one, tell one, as the engine does; returns the trials."""
    trials = []
    for number in range(budget):
        (genotype,) = strategy.ask(1)
        trials.append(evaluate(number, genotype))
        strategy.tell([trials[-1]])
    return trials


# -- registration and import cost -----------------------------------------------------------


def test_registered_through_the_hook():
    pm = get_plugin_manager(entry_points=False, plugins=[("rl", rl)])
    assert get_registry(pm).get("strategy", "rl") is RLStrategy


def test_plugin_module_does_not_import_torch():
    # `automl-codegen plugins` and --help load every plugin module: torch must wait until
    # the strategy is constructed.
    code = "import sys, automl_codegen_plugins.strategies.rl; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- it learns -----------------------------------------------------------------------------


def test_policy_gradient_finds_the_best_arm_of_a_toy_bandit_and_beats_random_search():
    # 8 decisions of 5 options (390 625 arms); the reward counts the decisions that match
    # a hidden target. Measured with the defaults, seeds 0-5, 200 trials: every seed finds
    # the target (first at trial 31-99; random search's best is 4-6 of 8) and the mean
    # best-so-far is 6.7-7.5 against random search's 3.8-5.9. Every proposal is a new
    # arm, so once the target is told the controller samples only worse ones, whose
    # negative advantages pull it off the target again (the greedy policy is the target
    # on 3 of 6 seeds); the elite keeps the target.
    space = ToySpace()
    evaluate, target = bandit(space), target_of(space)
    ours, theirs = [], []
    for seed in range(3):
        strategy = RLStrategy(space, [SCORE], seed=seed)
        trials = run(strategy, evaluate, 200)
        scores = [t.objectives["score"] for t in trials]
        assert strategy._elite[0] == (target, 8.0)
        assert len({tuple(t.genotype) for t in trials}) == 200  # the target included once
        rng = np.random.default_rng(seed)
        randoms = [evaluate(i, space.sample(rng)).objectives["score"] for i in range(200)]
        # Area under the best-so-far curve: finding good arms sooner counts too.
        ours.append(np.mean(np.maximum.accumulate(scores)))
        theirs.append(np.mean(np.maximum.accumulate(randoms)))
        assert max(scores) == 8 > max(randoms)
        assert len(strategy.history) == 200 // strategy.options.batch_size
    assert np.mean(ours) > np.mean(theirs) + 1.0


def test_entropy_falls_and_reward_rises_in_the_history():
    strategy = RLStrategy(ToySpace(), [SCORE], seed=0)
    run(strategy, bandit(ToySpace()), 150)
    history = strategy.history
    assert [h["step"] for h in history] == list(range(30))
    assert [h["trials"] for h in history] == list(range(5, 151, 5))
    assert set(history[0]) == {
        "step",
        "trials",
        "reward_mean",
        "reward_max",
        "baseline",
        "entropy",
        "loss",
        "grad_norm",
    }
    assert all(math.isfinite(v) for h in history for v in h.values())
    # Measured (seeds 0-2): entropy 12.86 nats (8 x ln 5 = 12.88) at first, 0.06-0.15
    # after 150 trials; mean reward from 1.4-2.6 (random) to 7.7-8.0.
    assert history[0]["entropy"] > 12 > 6 > history[-1]["entropy"]
    assert np.mean([h["reward_mean"] for h in history[-5:]]) > history[0]["reward_mean"] + 3


def test_failed_arms_are_learnt_to_be_avoided():
    # Every genotype whose first decision is 0 fails (out of memory, say); nothing else
    # matters. The policy must learn to keep away from option 0 of the first decision.
    space = ToySpace(length=6, options=4)

    def evaluate(number, genotype):
        status = "failed" if genotype[0] == 0 else "complete"
        return Trial(number=number, genotype=genotype, status=status, objectives={"score": 1.0})

    strategy = RLStrategy(space, [SCORE], seed=0)
    before = strategy.probabilities([0] * 6)[0][0]
    failed = [not t.ok for t in run(strategy, evaluate, 60)]
    assert before == pytest.approx(0.25, abs=0.1)  # close to uniform at first
    # Measured (seeds 0-5): 0.002-0.023 after 60 trials; 2-5 failures in all, where
    # sampling at random fails 15 times on average.
    assert strategy.probabilities([0] * 6)[0][0] < 0.05
    assert sum(failed) < 0.25 * len(failed)


def test_the_elite_term_finds_good_arms_sooner():
    # Priority-queue training on the best five told so far, against the same controller
    # without it. Measured (seeds 0-5, 100 trials): mean best-so-far 6.10 against 5.69,
    # better on 5 of 6 seeds.
    space = ToySpace()
    evaluate = bandit(space)

    def area(seed, elite_size):
        scores = [
            t.objectives["score"]
            for t in run(RLStrategy(space, [SCORE], seed=seed, elite_size=elite_size), evaluate, 100)
        ]
        return np.mean(np.maximum.accumulate(scores))

    with_elite = [area(seed, 5) for seed in range(6)]
    without = [area(seed, 0) for seed in range(6)]
    assert np.mean(with_elite) > np.mean(without) + 0.2


def test_the_elite_holds_the_best_rewards_told_first_among_equals():
    space = ToySpace(length=2, options=5)
    strategy = RLStrategy(space, [SCORE], elite_size=3, batch_size=100)
    for number, (genotype, score) in enumerate([([0, 0], 1), ([1, 1], 3), ([2, 2], 3), ([3, 3], 2), ([4, 4], 5)]):
        strategy.tell([Trial(number=number, genotype=genotype, objectives={"score": score})])
    strategy.tell([Trial(number=5, genotype=[0, 1], status="failed")])  # failures never enter
    assert strategy.state_dict()["elite"] == [[[4, 4], 5.0], [[1, 1], 3.0], [[2, 2], 3.0]]


# -- reproducible ------------------------------------------------------------------------


def asked_genotypes(seed, budget=40, **options):
    space = ToySpace()
    return [t.genotype for t in run(RLStrategy(space, [SCORE], seed=seed, **options), bandit(space), budget)]


def test_same_seed_same_asks_different_seed_different_asks():
    assert asked_genotypes(7) == asked_genotypes(7)
    assert asked_genotypes(7) != asked_genotypes(8)


def test_independent_of_the_global_torch_rng_and_thread_count():
    # The strategy uses its own generators: it neither reads nor advances torch's global
    # RNG, and leaves the thread count as it found it.
    torch.manual_seed(1)
    first = asked_genotypes(3, budget=15)
    torch.manual_seed(2)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    assert asked_genotypes(3, budget=15) == first
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


def drive(strategy, evaluate, steps):
    """Batches of three told out of order and one short (it stays pending for good),
    with a failed and an infeasible trial now and then; returns the asks."""
    asks = []
    for step in steps:
        genotypes = strategy.ask(3)
        trials = [evaluate(3 * step + i, g) for i, g in enumerate(genotypes)]
        if step % 5 == 0:
            trials[1] = Trial(number=3 * step + 1, genotype=genotypes[1], status="failed")
        if step % 7 == 0:
            trials[0] = evaluate(3 * step, genotypes[0], constraint_violation=0.25)
        strategy.tell(trials[::-1][:2])
        asks.append(genotypes)
    return asks


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_from_json_restores_the_controller_exactly(optimizer):
    space = ToySpace()
    evaluate = bandit(space)

    def make(seed=3):
        return RLStrategy(space, [SCORE], seed=seed, batch_size=4, optimizer=optimizer)

    uninterrupted = make()
    expected = drive(uninterrupted, evaluate, range(40))

    interrupted = make()
    drive(interrupted, evaluate, range(21))
    state = interrupted.state_dict()
    assert state["buffer"]  # saved mid-batch: told rewards not yet used are kept
    assert len(state["elite"]) == 5
    saved = json.dumps(state, allow_nan=False)
    resumed = make(seed=999)  # the seed must not matter: weights and RNG are restored
    resumed.load_state_dict(json.loads(saved))
    assert resumed.state_dict() == state
    assert drive(resumed, evaluate, range(21, 40)) == expected[21:]
    # Weights, Adam moments, baseline, elite, unused samples, history: bit for bit.
    assert resumed.state_dict() == uninterrupted.state_dict()
    for a, b in zip(resumed._learner.policy.parameters(), uninterrupted._learner.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.history == uninterrupted.history


def test_tanh_constant_caps_how_sure_the_policy_gets():
    # ENAS's c * tanh(logits): with c = 1 no option of five gets more than
    # e / (e + 4 / e) = 0.65, however long the controller trains.
    space = ToySpace()
    strategy = RLStrategy(space, [SCORE], seed=0, tanh_constant=1.0)
    run(strategy, bandit(space), 60)
    cap = math.e / (math.e + 4 / math.e)
    greedy = strategy.probabilities()
    assert max(max(p) for p in greedy) <= cap + 1e-6
    assert max(max(p) for p in greedy) > 0.5  # it did learn (measured 0.64), up to the cap


def test_a_state_saved_before_the_optimizer_option_loads_as_adam():
    old = RLStrategy(ToySpace(), [SCORE], optimizer="adam").state_dict()
    del old["controller_config"]["optimizer"]
    RLStrategy(ToySpace(), [SCORE], optimizer="adam").load_state_dict(old)
    with pytest.raises(ConfigError, match=r"'optimizer': 'adam'\} but is configured for .*'optimizer': 'sgd'\}"):
        RLStrategy(ToySpace(), [SCORE]).load_state_dict(old)


def test_load_state_of_another_controller_is_refused():
    small = RLStrategy(ToySpace(), [SCORE], hidden_size=16)
    with pytest.raises(ConfigError, match=r"saved with controller .* but is configured for"):
        RLStrategy(ToySpace(), [SCORE]).load_state_dict(small.state_dict())
    with pytest.raises(ConfigError, match="resume with the same space and options"):
        RLStrategy(ToySpace(length=7), [SCORE]).load_state_dict(RLStrategy(ToySpace(), [SCORE]).state_dict())
    with pytest.raises(ConfigError, match="cannot read a saved state of version 99"):
        RLStrategy(ToySpace(), [SCORE]).load_state_dict({**small.state_dict(), "version": 99})


# -- rewards -------------------------------------------------------------------------------


def trial(**kwargs) -> Trial:
    return Trial(number=0, genotype=[0] * 8, **kwargs)


def test_objective_reward_is_larger_is_better():
    assert RLStrategy(ToySpace(), [ACCURACY]).reward(trial(objectives={"accuracy": 0.9})) == 0.9
    assert RLStrategy(ToySpace(), [LATENCY, ACCURACY]).reward(trial(objectives={"latency_ms": 3.0})) == -3.0


def test_mnas_reward_formula():
    # MnasNet: ACC * (LAT / T) ** w, w = -0.07 by default.
    strategy = RLStrategy(ToySpace(), [ACCURACY, LATENCY], reward="mnas", latency_target=2.0)
    assert strategy.reward(trial(objectives={"accuracy": 0.8, "latency_ms": 4.0})) == pytest.approx(0.8 * 2.0**-0.07)
    assert strategy.reward(trial(objectives={"accuracy": 0.8, "latency_ms": 2.0})) == pytest.approx(0.8)
    assert strategy.reward(trial(objectives={"accuracy": 0.8, "latency_ms": 1.0})) == pytest.approx(0.8 * 0.5**-0.07)
    # Twice the latency costs about 5%; half the latency gains about 5%.
    assert 0.8 * 0.95 < strategy.reward(trial(objectives={"accuracy": 0.8, "latency_ms": 4.0})) < 0.8 * 0.96
    # The latency may be a plain measurement rather than an objective; other weights too.
    other = RLStrategy(
        ToySpace(), [ACCURACY], reward="mnas", latency_target=10, latency_weight=-0.5, latency_metric="flops"
    )
    assert other.reward(trial(objectives={"accuracy": 0.5}, metrics={"flops": 40.0})) == pytest.approx(0.25)
    # No usable latency: treated like a failed trial.
    assert other.reward(trial(objectives={"accuracy": 0.5})) is None
    assert other.reward(trial(objectives={"accuracy": 0.5}, metrics={"flops": 0.0})) is None


def test_constraint_penalty_and_failures():
    strategy = RLStrategy(ToySpace(), [ACCURACY], constraint_penalty=2.0)
    assert strategy.reward(trial(objectives={"accuracy": 0.9}, constraint_violation=0.1)) == pytest.approx(0.7)
    assert strategy.reward(trial(status="failed", constraint_violation=math.inf)) is None
    assert strategy.reward(trial(objectives={"accuracy": 0.9}, constraint_violation=math.inf)) is None
    assert strategy.reward(trial(objectives={"accuracy": math.nan})) is None
    assert strategy.reward(trial(objectives={})) is None  # objective missing


def trial_at(number, genotype, accuracy) -> Trial:
    return Trial(number=number, genotype=genotype, objectives={"accuracy": accuracy})


def test_failed_trials_score_below_the_worst_by_the_reward_spread():
    strategy = RLStrategy(ToySpace(), [ACCURACY], batch_size=2, seed=0)
    genotypes = strategy.ask(4)
    strategy.tell([trial_at(0, genotypes[0], 0.5), trial_at(1, genotypes[1], 0.7)])
    first = strategy.history[-1]
    # The first batch starts the baseline at its mean and the spread at its variance.
    assert (first["reward_mean"], first["baseline"]) == (pytest.approx(0.6), pytest.approx(0.6))
    strategy.tell([Trial(number=2, genotype=genotypes[2], status="failed"), trial_at(3, genotypes[3], 0.9)])
    # The failure scores the worst reward (0.5) less failure_margin (1) standard
    # deviations of the rewards seen (0.5, 0.7, 0.9); then the baseline moves towards the
    # failure's reward and 0.9 in turn (decay 0.9).
    failed = 0.5 - np.std([0.5, 0.7, 0.9])
    second = strategy.history[-1]
    assert second["reward_mean"] == pytest.approx((failed + 0.9) / 2)
    assert second["baseline"] == pytest.approx(0.9 * (0.9 * 0.6 + 0.1 * failed) + 0.1 * 0.9)


@pytest.mark.parametrize(("objective", "value", "failed"), [(ACCURACY, 0.9, 0.0), (LATENCY, 3.0, -6.0), (SCORE, 0, -1)])
def test_failures_among_equal_rewards_score_below_them(objective, value, failed):
    # Every working trial has the same reward: no spread yet, so a failure scores
    # |worst| below it (accuracy 0, twice the latency), or 1 below a reward of 0.
    strategy = RLStrategy(ToySpace(), [objective], batch_size=3, seed=0)
    genotypes = strategy.ask(3)
    ok = [Trial(number=i, genotype=genotypes[i], objectives={objective.name: value}) for i in (0, 2)]
    strategy.tell([ok[0], Trial(number=1, genotype=genotypes[1], status="failed")])
    strategy.tell([ok[1]])
    reward = -objective.as_loss(value)
    assert strategy.history[-1]["reward_mean"] == pytest.approx((2 * reward + failed) / 3)


def test_a_first_batch_of_only_failures_is_dropped():
    strategy = RLStrategy(ToySpace(), [ACCURACY], batch_size=2, seed=0)
    before = strategy.state_dict()["controller"]
    genotypes = strategy.ask(4)
    strategy.tell([Trial(number=i, genotype=g, status="failed") for i, g in enumerate(genotypes[:2])])
    assert strategy.history == []
    assert strategy.state_dict()["controller"] == before  # no reward scale yet: no step
    strategy.tell([trial_at(2, genotypes[2], 0.5), trial_at(3, genotypes[3], 0.7)])
    assert len(strategy.history) == 1
    json.dumps(strategy.state_dict(), allow_nan=False)


# -- robustness --------------------------------------------------------------------------


def test_batch_asks_and_out_of_order_partial_tells_never_repeat():
    space = ToySpace()
    evaluate = bandit(space)
    strategy = RLStrategy(space, [SCORE], seed=1)
    rng = np.random.default_rng(0)
    outstanding, number, asked = [], 0, []
    for batch in [7, 0, 13, 1, 5, 20, 3]:
        new = strategy.ask(batch)
        assert len(new) == batch
        asked += new
        outstanding += new
        rng.shuffle(outstanding)
        told, outstanding = outstanding[: len(outstanding) // 2], outstanding[len(outstanding) // 2 :]
        strategy.tell([evaluate(number + i, g) for i, g in enumerate(told)][::-1])
        number += len(told)
    keys = [space.key(g) for g in asked]
    assert len(set(keys)) == len(keys)
    assert sum(strategy.state_dict()["pending"].values()) == len(outstanding)
    assert len(strategy.history) == number // strategy.options.batch_size


def test_no_repeats_until_the_space_runs_out():
    space = ToySpace(length=2, options=3)
    strategy = RLStrategy(space, [SCORE], seed=0, batch_size=2)
    keys = [json.dumps(t.genotype) for t in run(strategy, bandit(space), 12)]
    assert len(set(keys[:9])) == 9  # all 9 genotypes before any repeat
    assert len(set(keys)) == 9  # then repeats are accepted instead of stalling


def sure_of_option_0(space: ToySpace, bias: float, batch_size: int) -> RLStrategy:
    """A strategy whose controller prefers option 0 of each decision by ``bias`` logits."""
    strategy = RLStrategy(space, [SCORE], seed=0, batch_size=batch_size)
    with torch.no_grad():
        for head in strategy._learner.policy.heads:
            head.bias.copy_(torch.tensor([bias, 0.0, 0.0, 0.0]))
    return strategy


def test_a_collapsed_policy_widens_its_draws_instead_of_repeating():
    # A policy sure of one arm: at its own temperature 544 draws find nothing new, so
    # the draws spread out (logits / 2, 4, ...) and every ask is still a new arm.
    space = ToySpace(length=6, options=4)
    strategy = sure_of_option_0(space, 12.0, batch_size=100)
    favourite = [0] * 6
    assert min(p[0] for p in strategy.probabilities(favourite)) > 0.9999
    trials = run(strategy, bandit(space), 30)
    assert trials[0].genotype == favourite
    assert len({tuple(t.genotype) for t in trials}) == 30
    assert strategy._proposals.level >= 3  # past the three passes at the policy's own temperature
    # Saved mid-pass at a widened level, the state replays the pass: the resumed
    # strategy asks exactly what the uninterrupted one does.
    state = json.loads(json.dumps(strategy.state_dict()))
    assert set(state["candidates"]) == {"rng", "level", "next", "fresh", "found"}
    resumed = RLStrategy(space, [SCORE], seed=7, batch_size=100)
    resumed.load_state_dict(state)
    assert resumed.ask(5) == strategy.ask(5)


def test_a_policy_too_sure_for_every_temperature_still_proposes_new_arms():
    # Logits of 1,000 stay decisive even divided by 16: only the last, uniform pass
    # finds new arms, and without it every ask after the first would be a repeat.
    space = ToySpace(length=6, options=4)
    strategy = sure_of_option_0(space, 1000.0, batch_size=100)
    trials = run(strategy, bandit(space), 20)
    assert len({tuple(t.genotype) for t in trials}) == 20
    assert rl.PASSES[-1][1] == math.inf
    assert strategy._proposals.level == len(rl.PASSES) - 1


def test_after_an_update_a_collapsed_policy_starts_near_the_pass_it_needed():
    # Updates every 2 trials, each leaving the policy about as sure as before. Starting
    # again from the narrowest pass costs every pass up to the one that finds something
    # new; starting one narrower than the last one that did costs one or two.
    space = ToySpace(length=6, options=4)

    def samples_drawn(forget: bool) -> tuple[int, RLStrategy]:
        strategy = sure_of_option_0(space, 24.0, batch_size=2)
        proposals = strategy._proposals
        levels, draw, changed = [], proposals._draw, proposals.policy_changed

        def counted():
            levels.append(proposals.level)
            return draw()

        def forgetful():
            changed()
            proposals.level = 0  # what every update did before

        proposals._draw = counted
        if forget:
            proposals.policy_changed = forgetful
        trials = run(strategy, bandit(space), 40)
        assert len({tuple(t.genotype) for t in trials}) == 40
        return sum(rl.PASSES[level][0] for level in levels), strategy

    # Measured: 7,264 samples drawn, against 14,208.
    remembered, strategy = samples_drawn(forget=False)
    forgotten, _ = samples_drawn(forget=True)
    assert remembered < 0.7 * forgotten, (remembered, forgotten)
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = RLStrategy(space, [SCORE], seed=7, batch_size=2)
    resumed.load_state_dict(state)
    assert resumed._proposals.found_level == strategy._proposals.found_level
    assert resumed.ask(3) == strategy.ask(3)


def test_a_state_with_the_samples_themselves_still_loads():
    # States saved before passes were replayed held the unused samples as lists.
    space = ToySpace()
    strategy = RLStrategy(space, [SCORE], seed=0)
    run(strategy, bandit(space), 7)
    state = strategy.state_dict()
    old = {
        **state,
        "candidates": [[1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2, 2, 2]],
        "seen": sorted(strategy._proposals.seen),
    }
    old["history"] = ChunkedList.load(state["history"])
    resumed = RLStrategy(space, [SCORE], seed=0)
    resumed.load_state_dict(old)
    assert resumed.ask(2) == [[1] * 8, [2] * 8]
    assert resumed.history == strategy.history


def test_saving_costs_no_more_as_trials_accumulate():
    # The state is journaled after every trial: what grows with the trials (seen
    # fingerprints, history) is saved as frozen chunks the journal writes once.
    space = ToySpace(length=10, options=6)
    strategy = RLStrategy(space, [SCORE], seed=0)
    evaluate, sizes = bandit(space), []
    for number in range(600):
        (genotype,) = strategy.ask(1)
        strategy.tell([evaluate(number, genotype)])
        state = strategy.state_dict()  # as the engine does after every tell
        sizes.append(len(json.dumps(state, default=str)))
    seen, history = state["seen"], state["history"]
    # A fingerprint is 19 characters of JSON: 600 make 2 chunks of 4 kB, merged into one.
    assert len(seen["chunks"]) == 1
    assert len(json.loads(seen["chunks"][0])) == 2 * 216
    assert 1 <= len(history["chunks"]) <= 3  # 120 updates of ~190 characters: 5 chunks, merged
    # What the journal writes inline (strings of 4 kB and more are blobs written once:
    # the chunks and the controller's weights) stays under 10 kB.
    blobs = [*seen["chunks"], *history["chunks"], state["controller"]["weights"]["float32"]]
    assert all(len(b) >= BLOB_MIN_CHARS for b in blobs)
    assert sizes[-1] - sum(len(b) for b in blobs) < 10_000
    assert ChunkedList.load(seen) == list(strategy._proposals.seen)
    assert len(ChunkedList.load(history)) == 120
    again = strategy.state_dict()
    assert all(a is b for a, b in zip(seen["chunks"], again["seen"]["chunks"], strict=True))
    assert all(a is b for a, b in zip(history["chunks"], again["history"]["chunks"], strict=True))


@pytest.mark.parametrize("tanh_constant", [None, 2.5])
def test_hand_written_gradients_match_autograd(tanh_constant):
    # The update differentiates the LSTM in numpy; autograd through evaluate() is the judge.
    from automl_codegen_plugins.strategies._rl_controller import Controller

    controller = Controller((3, 1, 6, 2, 5), hidden_size=8, embedding_size=4, tanh_constant=tanh_constant, seed=1)
    with torch.no_grad():
        for parameter in controller.parameters():
            parameter.mul_(10)
    rng = np.random.default_rng(0)
    indices = np.array([[rng.integers(n) for n in controller.sizes] for _ in range(7)])
    a, e = rng.normal(size=7), rng.normal(size=7)
    loss, entropy, grads = controller.gradients(indices, a, e)
    log_prob, expected_entropy, _ = controller.evaluate(torch.from_numpy(indices))
    expected = (torch.from_numpy(a).float() * log_prob + torch.from_numpy(e).float() * expected_entropy).sum()
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(entropy, expected_entropy.detach().numpy(), rtol=1e-5)
    for name, parameter in controller.named_parameters():
        wanted = np.zeros(parameter.shape) if parameter.grad is None else parameter.grad.numpy()
        np.testing.assert_allclose(grads[name], wanted, rtol=1e-4, atol=1e-6, err_msg=name)


def test_the_factorized_policy_learns_the_toy_bandit_too():
    # One softmax per decision (NAS-Bench-201's REINFORCE policy); the bandit's reward is
    # a sum over decisions, which such a policy can represent exactly. Measured (seeds
    # 0-5, 200 trials): the target first found at trials 64-121, the greedy policy is the
    # target on every seed (target options at probability 0.45-0.73 given the others).
    space = ToySpace()
    evaluate, target = bandit(space), target_of(space)
    for seed in range(3):
        strategy = RLStrategy(space, [SCORE], seed=seed, controller="factorized")
        scores = [t.objectives["score"] for t in run(strategy, evaluate, 200)]
        assert max(scores) == 8
        assert strategy.greedy() == target
        resumed = RLStrategy(space, [SCORE], seed=99, controller="factorized")
        resumed.load_state_dict(json.loads(json.dumps(strategy.state_dict())))
        assert resumed.ask(3) == strategy.ask(3)


def test_the_factorized_policy_has_no_lstm_options():
    with pytest.raises(ConfigError, match="hidden_size only applies to controller='lstm'"):
        RLStrategy(ToySpace(), [SCORE], controller="factorized", hidden_size=16)
    with pytest.raises(ConfigError, match="unknown controller 'gru'; choose one of lstm, factorized"):
        RLStrategy(ToySpace(), [SCORE], controller="gru")
    lstm = RLStrategy(ToySpace(), [SCORE]).state_dict()
    with pytest.raises(ConfigError, match=r"\{'controller': 'lstm', 'hidden_size': 32, 'embedding_size': 32\} but"):
        RLStrategy(ToySpace(), [SCORE], controller="factorized").load_state_dict(lstm)


def test_a_state_saved_after_an_exhausted_pass_resumes():
    # 9 arms, all told: the widest pass finds nothing new, so asks repeat. A state saved
    # then (right after a repeat) must resume to the same repeats.
    space = ToySpace(length=2, options=3)
    strategy = RLStrategy(space, [SCORE], seed=0, batch_size=50)
    run(strategy, bandit(space), 10)
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = RLStrategy(space, [SCORE], seed=1, batch_size=50)
    resumed.load_state_dict(state)
    assert resumed.ask(3) == strategy.ask(3)
    assert resumed._proposals.level == len(rl.PASSES) - 1


def test_controller_weights_saved_a_tensor_per_name_still_load():
    # States before the weights became one string held {name: {shape, float32}}.
    from automl_codegen_plugins.strategies._rl_controller import _tensor_to_json

    space = ToySpace()
    strategy = RLStrategy(space, [SCORE], seed=0)
    run(strategy, bandit(space), 12)
    state = strategy.state_dict()
    per_name = {name: _tensor_to_json(t) for name, t in strategy._learner.policy.state_dict().items()}
    old = {**state, "controller": {**state["controller"], "weights": per_name}}
    resumed = RLStrategy(space, [SCORE], seed=5)
    resumed.load_state_dict(json.loads(json.dumps(old)))
    for a, b in zip(resumed._learner.policy.parameters(), strategy._learner.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.ask(4) == strategy.ask(4)


def test_ask_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative integer, got -1"):
        RLStrategy(ToySpace(), [SCORE]).ask(-1)


def test_works_on_the_chain_cnn_space():
    space = ChainCNNSpace((1, 8, 8), 10)
    strategy = RLStrategy(space, [ACCURACY, LATENCY], seed=0, reward="mnas", latency_target=1.0)
    assert strategy.sizes == tuple(len(c.options) for c in space.choices())
    keys = []
    for number in range(20):
        (genotype,) = strategy.ask(1)
        space.to_architecture(genotype)  # a proposal is a valid genotype of the space
        keys.append(space.key(genotype))
        depth = sum(stage["depth"] for stage in genotype["stages"])
        objectives = {"accuracy": 0.5 + 0.02 * depth, "latency_ms": 0.2 * depth}
        strategy.tell([Trial(number=number, genotype=genotype, objectives=objectives)])
    assert len(set(keys)) == 20
    assert len(strategy.history) == 4
    json.dumps(strategy.state_dict(), allow_nan=False)


# -- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"batch_size": "5"}, "batch_size must be an integer >= 1, got '5'"),
        ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
        ({"hidden_size": 2.5}, "hidden_size must be an integer from 1 to 4096, got 2.5"),
        ({"hidden_size": 100_000_000}, "hidden_size must be an integer from 1 to 4096, got 100000000"),
        ({"embedding_size": 0}, "embedding_size must be an integer from 1 to 4096, got 0"),
        ({"lr": 0}, "lr must be a finite number > 0, got 0"),
        ({"lr": math.inf}, "lr must be a finite number > 0, got inf"),
        ({"lr": "fast"}, "lr must be a finite number > 0, got 'fast'"),
        ({"entropy_weight": -1}, "entropy_weight must be a finite number >= 0, got -1"),
        ({"baseline_decay": 1.0}, r"baseline_decay must be a finite number in \[0, 1\), got 1.0"),
        ({"baseline_decay": math.nan}, r"baseline_decay must be a finite number in \[0, 1\), got nan"),
        ({"grad_clip": 0}, "grad_clip must be a finite number > 0, got 0"),
        ({"tanh_constant": -2.5}, "tanh_constant must be a finite number > 0, got -2.5"),
        ({"normalize_advantage": "yes"}, "normalize_advantage must be true or false, got 'yes'"),
        ({"constraint_penalty": -1}, "constraint_penalty must be a finite number >= 0, got -1"),
        ({"failure_margin": math.nan}, "failure_margin must be a finite number >= 0, got nan"),
        ({"reward": "accuracy"}, "unknown reward 'accuracy'; choose one of objective, mnas"),
        ({"latency_target": 2.0}, "latency_target is only used by reward 'mnas', not 'objective'"),
        ({"reward": "mnas"}, "reward 'mnas' needs latency_target"),
        ({"reward": "mnas", "latency_target": 0}, "latency_target must be a finite number > 0, got 0"),
        (
            {"reward": "mnas", "latency_target": 2, "latency_weight": math.inf},
            "latency_weight must be a finite number, got inf",
        ),
        (
            {"reward": "mnas", "latency_target": 2, "latency_metric": ""},
            "latency_metric must be a measurement name, got ''",
        ),
        ({"learning_rate": 0.1}, r"has no option\(s\) \['learning_rate'\]"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose one of adam, sgd"),
        ({"elite_size": -1}, "elite_size must be an integer >= 0, got -1"),
        ({"elite_size": 2.0}, "elite_size must be an integer >= 0, got 2.0"),
        ({"elite_weight": -0.5}, "elite_weight must be a finite number >= 0, got -0.5"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        RLStrategy(ToySpace(), [ACCURACY, LATENCY], **options)


def test_mnas_needs_a_maximised_first_objective():
    with pytest.raises(ConfigError, match=r"must be maximised \(e.g. accuracy\); got 'latency_ms' \(min\)"):
        RLStrategy(ToySpace(), [LATENCY], reward="mnas", latency_target=2)


def test_space_without_choices_is_refused():
    with pytest.raises(ConfigError, match=r"space 'toy' has \[\] options per choice"):
        RLStrategy(ToySpace(length=0), [SCORE])


def test_defaults():
    options = RLStrategy(ToySpace(), [SCORE]).options
    assert (options.batch_size, options.learning_rate, options.hidden, options.embedding) == (5, 0.5, 32, 32)
    assert options.controller == "lstm"
    assert (options.optimizer, options.elite, options.elite_weight) == ("sgd", 5, 2.0)
    assert RLStrategy(ToySpace(), [SCORE], optimizer="adam").options.learning_rate == 0.01  # per optimizer
    assert (options.entropy_weight, options.baseline_decay, options.grad_clip, options.tanh_constant) == (
        0.01,
        0.9,
        5.0,
        None,
    )
    assert (options.reward, options.latency_target, options.constraint_penalty) == ("objective", None, 1.0)
    mnas = RLStrategy(ToySpace(), [ACCURACY], reward="mnas", latency_target=5).rewards
    assert (mnas.latency_weight, mnas.latency_metric) == (-0.07, "latency_ms")
