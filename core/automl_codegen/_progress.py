"""The progress display of a search: trial n/N, best so far, ETA (rich)."""

from __future__ import annotations

import time
from typing import Any

from .objective import Objective
from .trial import Trial


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
        # With only a time budget the bar follows the clock, so the ETA is the time left.
        self.by_time = trials is None and seconds is not None
        self._started = time.perf_counter()
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
        )
        total = seconds if self.by_time else trials
        self._task = self._progress.add_task("search", total=total, best="", count=self._count())

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
        if self._progress is not None:
            completed = elapsed if self.by_time else len(trials)
            self._progress.update(self._task, completed=completed, count=self._count())
            self.log(f"resuming after {len(trials)} finished trials")

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
