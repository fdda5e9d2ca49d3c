"""How long the next trial should take, so a time budget starts no trial it cannot finish."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .fidelity import BUDGET_EPOCHS
from .trial import Trial

__all__ = ["TIME_CAPPED", "TrialDuration"]

#: The metric an evaluator sets (to 1) on a trial whose training the time cap cut short.
TIME_CAPPED = "time_capped"


class TrialDuration:
    """Predicts how long a trial of so many epochs takes, from the trials finished so far.

    A trial costs a fixed part (building, profiling, testing) plus a part per epoch, so
    with finished trials of at least two different epoch counts the prediction is the
    least-squares line ``a + b * epochs`` through them (``a`` kept >= 0); with one epoch
    count it is their mean duration scaled by the epochs asked (a conservative guess for
    shorter trials); with none there is no prediction. The time budget uses it to start
    no trial that would end after the budget.
    """

    def __init__(self, planned_epochs: int, trials: Sequence[Trial] = ()) -> None:
        self.planned_epochs = planned_epochs
        # Running sums over (epochs x, seconds y): count, x, y, x*x, x*y. Predicting is
        # then O(1) per trial started, even over thousands of tabular trials.
        self._sums = [0.0] * 5
        self._overheads: list[float] = []
        for trial in trials:
            self.add(trial)

    def add(self, trial: Trial) -> None:
        """Learn from a finished trial: its planned epochs (its rung's, else the run's) and duration.

        Planned, not trained: a trial that early stopping cut short still says how long
        the next one may take. A trial the time cap cut short (``time_capped``) says how
        fast it trained: the epochs it got count (a fraction of one, maybe).
        """
        if not trial.ok or not trial.duration_s > 0:
            return  # failures often end early, which says little about a full training
        if trial.metrics.get(TIME_CAPPED):
            x = float(trial.metrics.get("epochs", math.nan))
        else:
            x = float(trial.metrics.get(BUDGET_EPOCHS, self.planned_epochs))
        if math.isfinite(x) and x > 0:
            y = float(trial.duration_s)
            for index, value in enumerate((1.0, x, y, x * x, x * y)):
                self._sums[index] += value
        trained = trial.metrics.get("train_seconds")
        if isinstance(trained, int | float) and math.isfinite(trained):
            self._overheads = [*self._overheads[-2:], max(float(trial.duration_s) - trained, 0.0)]

    def overhead(self) -> float:
        """Seconds a trial spends besides training (building, testing, profiling), 0 if unknown.

        The largest of the last three trials: profiling time varies little between
        networks, and erring long ends the search a little early rather than late.
        """
        return max(self._overheads, default=0.0)

    def predict(self, epochs: float) -> float | None:
        """Seconds a trial of ``epochs`` epochs should take, or ``None`` before any trial finished."""
        n, sx, sy, sxx, sxy = self._sums
        if n == 0:
            return None
        spread = sxx - sx * sx / n
        if spread <= 1e-9 * sxx:  # one epoch count: its mean duration, scaled
            return sy / sx * epochs
        slope = (sxy - sx * sy / n) / spread
        intercept = (sy - slope * sx) / n
        if slope <= 0 or intercept < 0:  # noise or overlapping trials: fall back to a rate
            return epochs * sy / sx
        return intercept + slope * epochs
