"""Random search: seeded, free of repeats, resumable exactly, strict about its options."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from automl_codegen_random import DEFAULT_MAX_TRIES, RandomSearch

from automl_codegen import Choice, ConfigError, Objective, SearchSpace, Trial
from automl_codegen.plugins import get_plugin_manager, get_registry

SCORE = Objective("score", "max")


class ToySpace(SearchSpace):
    """``length`` decisions of ``options`` values each; the genotype is the list of values."""

    name = "toy"

    def __init__(self, length: int = 6, options: int = 5) -> None:
        super().__init__(input_shape=(1,), num_classes=2)
        self.length, self.options = length, options

    def choices(self) -> list[Choice]:
        return [Choice(f"c{i}", range(self.options)) for i in range(self.length)]

    def decode(self, indices):
        return [int(i) for i in indices]

    def encode(self, genotype):
        return list(genotype)

    def to_architecture(self, genotype):
        raise NotImplementedError  # strategies never lower genotypes


def make(space=None, seed=0, **options) -> RandomSearch:
    return RandomSearch(space or ToySpace(), [SCORE], seed=seed, **options)


def trial(number, genotype) -> Trial:
    return Trial(number=number, genotype=genotype, objectives={"score": float(sum(genotype))})


def run(strategy, budget, start=0):
    """Ask one, tell one, as the engine does; returns the genotypes asked."""
    asked = []
    for number in range(start, start + budget):
        (genotype,) = strategy.ask(1)
        strategy.tell([trial(number, genotype)])
        asked.append(genotype)
    return asked


# -- registration ------------------------------------------------------------------------


def test_installed_entry_point_registers_random():
    registry = get_registry(get_plugin_manager())
    assert registry.get("strategy", "random") is RandomSearch
    assert registry.entry("strategy", "random").source.distribution == "automl-codegen-random"


# -- what it proposes --------------------------------------------------------------------


def test_same_seed_same_genotypes_other_seed_others():
    assert run(make(seed=3), 40) == run(make(seed=3), 40)
    assert run(make(seed=3), 40) != run(make(seed=4), 40)


def test_no_repeats_until_the_space_is_used_up_then_repeats_are_accepted():
    space = ToySpace(length=2, options=3)  # 9 genotypes
    strategy = make(space)
    first = run(strategy, 9)
    assert sorted(map(tuple, first)) == sorted((a, b) for a in range(3) for b in range(3))
    more = run(strategy, 5, start=9)  # nothing new is left: repeats, not a stall
    assert all(g in first for g in more)


def test_batch_asks_are_distinct_and_avoid_pending_ones():
    strategy = make(ToySpace(length=2, options=3))
    batch = strategy.ask(5)
    assert len({tuple(g) for g in batch}) == 5
    rest = strategy.ask(4)  # none told yet: the pending five are still avoided
    assert len({tuple(g) for g in batch + rest}) == 9


def test_draws_are_uniform_over_each_decision():
    space = ToySpace(length=3, options=4)
    counts = Counter(option for g in make(space, seed=1, max_tries=1).ask(4000) for option in g)
    # 12,000 draws over 4 options: 3,000 each, with a standard deviation of about 47.
    assert all(abs(count - 3000) < 250 for count in counts.values()), counts


def test_results_do_not_change_what_it_asks():
    a, b = make(seed=5), make(seed=5)
    for number in range(20):
        (ga,), (gb,) = a.ask(1), b.ask(1)
        assert ga == gb
        a.tell([trial(number, ga)])
        b.tell([Trial(number=number, genotype=gb, status="failed", error="boom")])


# -- state and resume --------------------------------------------------------------------


def test_state_is_strict_json_and_does_not_grow_with_the_run():
    strategy = make()
    run(strategy, 5)
    early = len(json.dumps(strategy.state_dict(), allow_nan=False))
    run(strategy, 500, start=5)
    late = json.dumps(strategy.state_dict(), allow_nan=False)
    assert abs(len(late) - early) < 10  # a few more digits in the counters, no list of keys


@pytest.mark.parametrize("stop_after", [0, 1, 17, 200])
def test_resumed_strategy_asks_exactly_what_the_uninterrupted_one_asks(stop_after):
    uninterrupted = run(make(seed=7), 260)
    before = make(seed=7)
    asked = run(before, stop_after)
    state = json.loads(json.dumps(before.state_dict()))
    after = make(seed=7)
    after.load_state_dict(state)
    asked += run(after, 260 - stop_after, start=stop_after)
    assert asked == uninterrupted


def test_genotypes_asked_but_never_told_are_asked_again_first():
    strategy = make(seed=2)
    run(strategy, 3)
    lost = strategy.ask(2)  # running when the process dies: the engine discards them
    strategy.tell([trial(3, lost[0])])  # one of them finished and was saved
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = make(seed=2)
    resumed.load_state_dict(state)
    assert resumed.ask(1) == [lost[1]]
    assert resumed.ask(1)[0] not in lost


def test_state_of_another_seed_or_space_is_refused():
    strategy = make(seed=1)
    run(strategy, 10)
    state = strategy.state_dict()
    message = (
        "strategy 'random' cannot continue this run: replaying its draws does not reproduce the saved "
        "state; resume with the seed, search space and options of the original run"
    )
    with pytest.raises(ConfigError) as excinfo:
        make(seed=2).load_state_dict(state)
    assert str(excinfo.value) == message
    with pytest.raises(ConfigError, match="cannot continue this run"):
        make(ToySpace(length=4), seed=1).load_state_dict(state)
    with pytest.raises(ConfigError, match="cannot read a saved state of version 99"):
        make(seed=1).load_state_dict({**state, "version": 99})


# -- options -----------------------------------------------------------------------------


def test_defaults():
    strategy = make()
    assert (strategy.max_tries, strategy.seed) == (DEFAULT_MAX_TRIES, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"population_size": 10}, "strategy 'random' has no option(s) ['population_size']; its options: max_tries"),
        ({"max_tries": 0}, "strategy 'random': max_tries must be an integer >= 1, got 0"),
        ({"max_tries": 2.5}, "strategy 'random': max_tries must be an integer >= 1, got 2.5"),
        ({"max_tries": True}, "strategy 'random': max_tries must be an integer >= 1, got True"),
        ({"seed": -1}, "strategy 'random' needs a non-negative integer seed, got -1"),
    ],
)
def test_bad_options_name_the_option(options, message):
    seed = options.pop("seed", 0)
    with pytest.raises(ConfigError) as excinfo:
        make(seed=seed, **options)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_ask_refuses_bad_counts(n):
    with pytest.raises(ValueError, match="ask\\(n\\) needs a non-negative integer"):
        make().ask(n)
