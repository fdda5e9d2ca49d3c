"""The progress display of a search: trial n/N, best so far, ETA (rich)."""

from __future__ import annotations

from typing import Any

from .objective import Objective
from .trial import Trial


def _fmt(objective: Objective, value: float) -> str:
    if objective.name in ("accuracy", "test_accuracy"):
        return f"{value:.2%}"
    return f"{value:.4g}{objective.unit}"


class SearchProgress:
    """A rich progress bar, or nothing when ``enabled`` is False (tests, --quiet)."""

    def __init__(self, total: int | None, objective: Objective, enabled: bool = True) -> None:
        self.objective = objective
        self.enabled = enabled
        self.failed = 0
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"),
        )
        self._task = self._progress.add_task("search", total=total, best="")

    def __enter__(self) -> SearchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, trial: Trial, best: Trial | None) -> None:
        self.failed += not trial.ok
        if self._progress is None:
            return
        best_text = ""
        if best is not None and best.ok:
            best_text = f"best {self.objective.name} {_fmt(self.objective, best.objectives[self.objective.name])}"
            if not best.feasible:
                best_text += " (infeasible)"
        if self.failed:
            best_text += f"  [red]{self.failed} failed"
        self._progress.update(self._task, advance=1, best=best_text)

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
