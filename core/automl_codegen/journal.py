"""The run directory: configuration, every trial, strategy state and trained weights.

Layout of a run directory::

    run.json            what was asked for (dataset, space, strategy, objectives, ...)
    trials.jsonl        one JSON line per finished trial, appended and flushed at once
    strategy.json       the strategy's state after the latest tell
    weights/trial_0007.pt   trained weights of each completed trial
    best.json           the best trial's architecture (IR JSON), rewritten as it changes

Lines are appended and fsynced one by one so a crash loses at most the trial in flight.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .architecture import Architecture
from .errors import ArchitectureError, RunDirectoryError
from .trial import Trial

RUN_FILE = "run.json"
TRIALS_FILE = "trials.jsonl"
STRATEGY_FILE = "strategy.json"
BEST_FILE = "best.json"
WEIGHTS_DIR = "weights"
FORMAT_VERSION = 1


def trial_to_dict(trial: Trial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "status": trial.status,
        "genotype": trial.genotype,
        "metrics": trial.metrics,
        "objectives": trial.objectives,
        "constraint_violation": trial.constraint_violation,
        "error": trial.error,
        "duration_s": trial.duration_s,
        "weights": trial.weights,
        "architecture": trial.architecture.to_dict() if trial.architecture else None,
    }


def trial_from_dict(data: dict[str, Any]) -> Trial:
    arch = data.get("architecture")
    return Trial(
        number=data["number"],
        genotype=data["genotype"],
        architecture=Architecture.from_dict(arch) if arch else None,
        status=data["status"],
        metrics=data.get("metrics", {}),
        objectives=data.get("objectives", {}),
        constraint_violation=data.get("constraint_violation", 0.0),
        error=data.get("error"),
        duration_s=data.get("duration_s", 0.0),
        weights=data.get("weights"),
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunJournal:
    """Reads and writes one run directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | os.PathLike[str], config: dict[str, Any]) -> RunJournal:
        """Start a new run in ``path``, which must be absent or empty."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            msg = f"run directory {str(path)!r} exists and is a file; choose another -o/--output"
            raise RunDirectoryError(msg)
        if path.is_dir() and any(path.iterdir()):
            kind = "holds a run" if (path / RUN_FILE).exists() else "exists and is not empty"
            msg = (
                f"run directory {str(path)!r} {kind}; choose a new -o/--output directory "
                f"(or delete this one) so nothing is overwritten"
            )
            raise RunDirectoryError(msg)
        (path / WEIGHTS_DIR).mkdir(parents=True, exist_ok=True)
        journal = cls(path)
        _write_atomic(path / RUN_FILE, json.dumps({"format": FORMAT_VERSION, **config}, indent=2) + "\n")
        (path / TRIALS_FILE).touch()
        return journal

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunJournal:
        """Open an existing run; a clear error if ``path`` is not one."""
        path = Path(path)
        if not path.is_dir():
            msg = f"run directory {str(path)!r} does not exist"
            raise RunDirectoryError(msg)
        if not (path / RUN_FILE).is_file():
            msg = f"{str(path)!r} is not a run directory (no {RUN_FILE}); pass the -o directory of a search"
            raise RunDirectoryError(msg)
        return cls(path)

    def config(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / RUN_FILE).read_text())
        except ValueError as exc:
            msg = f"{self.path / RUN_FILE} is corrupt ({exc}); the run cannot be read"
            raise RunDirectoryError(msg) from None

    def weights_path(self, trial_number: int) -> Path:
        return self.path / WEIGHTS_DIR / f"trial_{trial_number:04d}.pt"

    def append_trial(self, trial: Trial) -> None:
        line = json.dumps(trial_to_dict(trial), allow_nan=True)
        with open(self.path / TRIALS_FILE, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def trials(self) -> list[Trial]:
        """Every recorded trial; a torn last line (a crash mid-write) is skipped."""
        trials = []
        lines = (self.path / TRIALS_FILE).read_text().splitlines()
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                trials.append(trial_from_dict(json.loads(line)))
            except (ValueError, KeyError, ArchitectureError) as exc:
                if index == len(lines) - 1:
                    break
                msg = f"{self.path / TRIALS_FILE} line {index + 1} is corrupt: {exc}"
                raise RunDirectoryError(msg) from None
        return trials

    def save_strategy_state(self, state: dict[str, Any]) -> None:
        _write_atomic(self.path / STRATEGY_FILE, json.dumps(state))

    def save_best(self, trial: Trial) -> None:
        if trial.architecture is not None:
            _write_atomic(self.path / BEST_FILE, trial.architecture.to_json())

    def save_summary(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
