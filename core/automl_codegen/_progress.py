"""The progress display of a search: trial n/N, best so far, ETA (rich)."""

from __future__ import annotations

import time
from typing import Any

from .objective import Objective
from .trial import Trial


def _clock(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _fmt(objective: Objective, value: float) -> str:
    if objective.name in ("accuracy", "test_accuracy"):
        return f"{value:.2%}"
    return f"{value:.4g}{objective.unit}"


class SearchProgress:
    """A rich progress bar, or nothing when ``enabled`` is False (tests, --quiet)."""

    def __init__(
        self, trials: int | None, objective: Objective, enabled: bool = True, seconds: float | None = None
    ) -> None:
        self.objective = objective
        self.enabled = enabled
        self.failed = 0
        self.done = 0
        self.trials = trials
        self.seconds = seconds
        # With only a time budget the bar follows the clock, so the ETA is the time left.
        self.by_time = trials is None and seconds is not None
        self._started = time.perf_counter()
        self._last = self._started  # when the last trial finished
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        # Not rich's TimeRemainingColumn: it estimates speed from the last 30 s only, so
        # with trials longer than that (or after the first trial) it never shows an ETA.
        class EtaColumn(ProgressColumn):
            def render(column, task: Any) -> Text:  # noqa: N805 (self is the SearchProgress)
                return Text(f"ETA {self.eta()}", style="progress.remaining")

        self._progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            EtaColumn(),
            TextColumn("{task.fields[best]}"),
        )
        total = seconds if self.by_time else trials
        self._task = self._progress.add_task("search", total=total, best="", count=self._count())

    def eta(self, now: float | None = None) -> str:
        """Time left: the budget's seconds, or the mean trial time so far times the trials left.

        The trial-based estimate is made when a trial finishes and counts down until the
        next one does; with both budgets the sooner end wins.
        """
        now = time.perf_counter() if now is None else now
        left = []
        if self.seconds is not None:
            left.append(self.seconds - (now - self._started))
        if self.trials and self.done:
            per_trial = (self._last - self._started) / self.done
            left.append(per_trial * max(self.trials - self.done, 0) - (now - self._last))
        return _clock(min(left)) if left else "-:--:--"

    def _count(self) -> str:
        return f"trial {self.done}/{self.trials}" if self.trials else f"{self.done} trials"

    def __enter__(self) -> SearchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, trial: Trial, best: Trial | None) -> None:
        self.failed += not trial.ok
        self.done += 1
        self._last = time.perf_counter()
        if self._progress is None:
            return
        best_text = ""
        if best is not None and best.ok:
            best_text = f"best {self.objective.name} {_fmt(self.objective, best.objectives[self.objective.name])}"
            if not best.feasible:
                best_text += " (infeasible)"
        if self.failed:
            best_text += f"  [red]{self.failed} failed"
        if self.by_time:
            self._progress.update(self._task, completed=time.perf_counter() - self._started)
        else:
            self._progress.update(self._task, advance=1)
        self._progress.update(self._task, best=best_text, count=self._count())

    def catch_up(self, trials: list[Trial], best: Trial | None, elapsed: float) -> None:
        """Show a resumed run's earlier trials as done."""
        if not trials:
            return
        self.done = len(trials)
        self.failed = sum(not t.ok for t in trials)
        self._started -= elapsed
        self._last = time.perf_counter()
        if self._progress is not None:
            completed = elapsed if self.by_time else len(trials)
            self._progress.update(self._task, completed=completed, count=self._count())
            self.log(f"resuming after {len(trials)} finished trials")

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
