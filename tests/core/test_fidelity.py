"""The multi-fidelity scheduler: rungs, asynchronous promotions, Hyperband brackets, resume."""

from __future__ import annotations

import pytest

from automl_codegen import ConfigError, Objective, Trial
from automl_codegen.fidelity import BUDGET_EPOCHS, PROMOTED_FROM, RUNG, Fidelity, FidelityScheduler, top_rung

ACCURACY = Objective("accuracy", "max")


def run(scheduler, accuracy_of, count):
    """Start and finish ``count`` jobs in order; new candidates get fresh genotypes."""
    trials, new = [], 0
    for number in range(count):
        job = scheduler.next()
        if job.promote is None:
            genotype, new = f"g{new}", new + 1
        else:
            genotype = job.promote.genotype
        metrics = {**scheduler.metrics(job), "accuracy": accuracy_of(genotype, job.epochs)}
        trial = Trial(number=number, genotype=genotype, metrics=metrics, objectives={"accuracy": metrics["accuracy"]})
        scheduler.finished(trial)
        trials.append(trial)
    return trials


def quality(genotype, epochs):
    """Longer training helps; g7 is the best network, g3 the second best."""
    base = {"g7": 0.9, "g3": 0.8}.get(genotype, 0.5 + int(genotype[1:]) / 1000)
    return base * epochs / (epochs + 1)


def test_rungs_grow_by_eta_and_end_at_the_full_training():
    assert Fidelity("successive-halving", 1, 9, 3).rungs == (1, 3, 9)
    assert Fidelity("successive-halving", 1, 10, 3).rungs == (1, 3, 9, 10)
    assert Fidelity("successive-halving", 2, 15, 2).rungs == (2, 4, 8, 15)
    assert Fidelity("hyperband", 1, 9, 3).brackets == (0, 1)
    assert Fidelity("successive-halving", 1, 9, 3).brackets == (0,)


def test_the_best_third_is_promoted_as_soon_as_it_ranks_there():
    scheduler = FidelityScheduler(Fidelity("successive-halving", 1, 9, 3), ACCURACY)
    trials = run(scheduler, quality, 16)
    steps = [(t.genotype, int(t.metrics[RUNG])) for t in trials]
    # Three rung-0 trials, and the best of them (g2) goes up at once; g3 is promoted as
    # soon as it finishes, being the best of four...
    assert steps[:6] == [("g0", 0), ("g1", 0), ("g2", 0), ("g2", 1), ("g3", 0), ("g3", 1)]
    # ... and the two best networks, and only they, reach the full training.
    assert [g for g, rung in steps if rung == 2] == ["g3", "g7"]
    assert all(t.metrics[BUDGET_EPOCHS] == (1, 3, 9)[int(t.metrics[RUNG])] for t in trials)
    parents = [t.metrics[PROMOTED_FROM] for t in trials if PROMOTED_FROM in t.metrics]
    assert len(parents) == len(set(parents))  # nothing is promoted twice
    # Most trials are short: 9 of 1 epoch, 5 of 3, 2 of 9 instead of 16 of 9.
    assert sum(t.metrics[BUDGET_EPOCHS] for t in trials) == 9 + 15 + 18


def test_hyperband_cycles_the_rung_new_candidates_start_at():
    scheduler = FidelityScheduler(Fidelity("hyperband", 1, 9, 3), ACCURACY)
    starts = [scheduler.next().rung for _ in range(4)]  # nothing finished: only new candidates
    assert starts == [0, 1, 0, 1]


def test_failed_and_infeasible_trials_are_not_promoted_first():
    scheduler = FidelityScheduler(Fidelity("successive-halving", 1, 9, 3), ACCURACY)
    for number, (status, violation, accuracy) in enumerate(
        [("failed", 0.0, 0.99), ("complete", 0.5, 0.95), ("complete", 0.0, 0.6)]
    ):
        job = scheduler.next()
        trial = Trial(
            number=number,
            genotype=f"g{number}",
            status=status,
            metrics=scheduler.metrics(job),
            objectives={"accuracy": accuracy} if status == "complete" else {},
            constraint_violation=violation,
        )
        scheduler.finished(trial)
    job = scheduler.next()
    assert job.promote is None  # only two finished trials count: two // 3 = 0 promotions
    for number in (4, 5):
        trial = Trial(
            number=number, genotype=f"g{number}", metrics={RUNG: 0.0, BUDGET_EPOCHS: 1.0}, objectives={"accuracy": 0.1}
        )
        scheduler.finished(trial)
    assert scheduler.next().promote.number == 2  # feasible beats a more accurate infeasible one


def test_a_rebuilt_scheduler_makes_the_same_next_decision():
    scheduler = FidelityScheduler(Fidelity("successive-halving", 1, 9, 3), ACCURACY)
    trials = run(scheduler, quality, 10)
    rebuilt = FidelityScheduler(Fidelity("successive-halving", 1, 9, 3), ACCURACY, trials)
    assert rebuilt.next() == scheduler.next()


def test_top_rung_keeps_only_the_longest_trained():
    trials = [
        Trial(number=0, genotype="a", metrics={RUNG: 0.0}),
        Trial(number=1, genotype="b", metrics={RUNG: 1.0}),
        Trial(number=2, genotype="c", metrics={RUNG: 1.0}),
    ]
    assert [t.number for t in top_rung(trials)] == [1, 2]
    plain = [Trial(number=0, genotype="a"), Trial(number=1, genotype="b")]
    assert top_rung(plain) == plain


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "halving",
            "fidelity schedule 'halving' is unknown; choose one of successive-halving, hyperband, 'auto' or 'none'",
        ),
        ({"eta": 1}, "fidelity eta must be an integer >= 2, got 1"),
        (
            {"min_epochs": 9},
            "fidelity min_epochs must be an integer from 1 to epochs - 1 = 8 (the full training is the top rung), got 9",
        ),
        ({"rungs": 3}, "fidelity has no option(s) ['rungs']; allowed: eta, min_epochs, schedule"),
        (3, "fidelity must be a schedule name or a mapping, got 3"),
    ],
)
def test_bad_configurations_name_the_problem(spec, message):
    with pytest.raises(ConfigError) as caught:
        Fidelity.parse(spec, 9)
    assert str(caught.value) == message


def test_defaults():
    assert Fidelity.parse("successive-halving", 9) == Fidelity("successive-halving", 1, 9, 3)
    assert Fidelity.parse({"schedule": "hyperband"}, 27) == Fidelity("hyperband", 3, 27, 3)
    assert Fidelity.parse(None, 9) is None


def test_peek_shows_the_next_job_without_starting_it():
    scheduler = FidelityScheduler(Fidelity("hyperband", 1, 9, 3), ACCURACY)
    run(scheduler, quality, 5)
    peeked = [scheduler.peek() for _ in range(3)]
    assert peeked[0] == peeked[1] == peeked[2]  # peeking twice changes nothing
    assert scheduler.next() == peeked[0]
