"""TrialDuration: how long the next trial should take, for the time budget."""

from __future__ import annotations

import pytest

from automl_codegen import Trial
from automl_codegen.fidelity import BUDGET_EPOCHS
from automl_codegen.timing import TrialDuration


def finished(seconds, epochs=None, status="complete"):
    metrics = {} if epochs is None else {BUDGET_EPOCHS: float(epochs)}
    return Trial(number=0, genotype=[], status=status, metrics=metrics, duration_s=seconds)


def test_no_prediction_before_a_trial_finished():
    assert TrialDuration(planned_epochs=10).predict(10) is None


def test_one_epoch_count_scales_the_mean_duration():
    durations = TrialDuration(planned_epochs=10, trials=[finished(4.0), finished(6.0)])
    assert durations.predict(10) == pytest.approx(5.0)
    assert durations.predict(20) == pytest.approx(10.0)


def test_several_epoch_counts_fit_a_fixed_cost_plus_a_cost_per_epoch():
    # 2 s to build, profile and test, then 1 s per epoch: rungs of 1, 3 and 9 epochs.
    trials = [finished(2.0 + e, epochs=e) for e in (1, 1, 3, 9)]
    durations = TrialDuration(planned_epochs=9, trials=trials)
    assert durations.predict(9) == pytest.approx(11.0)
    assert durations.predict(3) == pytest.approx(5.0)


def test_failed_trials_and_a_falling_line_do_not_mislead_it():
    durations = TrialDuration(planned_epochs=3, trials=[finished(0.1, status="failed")])
    assert durations.predict(3) is None  # a failure says nothing about a full training
    # Longer trials that finished faster (noise): no negative cost per epoch, a plain rate.
    durations = TrialDuration(planned_epochs=3, trials=[finished(6.0, epochs=1), finished(4.0, epochs=3)])
    assert durations.predict(4) == pytest.approx(4 * 10.0 / 4)


def test_a_trial_cut_by_the_time_cap_counts_the_epochs_it_trained():
    # Planned 15 epochs, cut after 0.5 of one in 20 s: 15 epochs would take ten minutes.
    cut = Trial(number=0, genotype=[], status="complete", duration_s=20.0, metrics={"epochs": 0.5, "time_capped": 1.0})
    assert TrialDuration(planned_epochs=15, trials=[cut]).predict(15) == pytest.approx(600.0)


def test_overhead_is_the_time_besides_training_of_the_last_three_trials():
    def trial(duration, trained):
        return Trial(number=0, genotype=[], status="complete", duration_s=duration, metrics={"train_seconds": trained})

    assert TrialDuration(planned_epochs=3).overhead() == 0.0
    durations = TrialDuration(planned_epochs=3, trials=[trial(9.0, 1.0), trial(3.0, 2.0), trial(4.0, 2.0)])
    assert durations.overhead() == 8.0
    durations.add(trial(5.0, 4.5))
    assert durations.overhead() == 2.0  # the first trial's start-up costs no longer count
