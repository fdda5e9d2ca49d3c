"""The ``tensorboard`` plugin: every trial's objectives and measurements as TensorBoard scalars.

Opt-in: with ``AUTOML_CODEGEN_TENSORBOARD=1`` in the environment and the ``tensorboard``
package installed, a search writes ``RUN_DIR/tensorboard/events.out.tfevents.*``, one
step per trial (the trial number)::

    AUTOML_CODEGEN_TENSORBOARD=1 automl-codegen search ... -o runs/d1
    tensorboard --logdir runs          # finds every run's tensorboard/ folder

Scalars: ``objective/<name>``, ``metric/<name>`` (every numeric measurement),
``trial/feasible``, ``trial/constraint_violation``, ``trial/duration_s``,
``search/best_<first objective>`` (best feasible value so far) and
``search/failed_trials``. Files are flushed after each trial, so TensorBoard follows a
running search.

Why opt-in rather than on whenever tensorboard is installed: the test and ``tf`` extras
install it, and most searches are not watched; writing event files into every run
directory unasked would surprise more people than it helps. Without the variable the
hooks return at once and nothing is imported.

Why not ``torch.utils.tensorboard.SummaryWriter``: importing it imports TensorFlow
whenever TensorFlow is installed (about 5 s on these machines, the ``tf`` extra does
install it). tensorboard's own record writer over a plain file writes the same event
files with protobuf alone.
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from automl_codegen import hookimpl

ENV_VAR = "AUTOML_CODEGEN_TENSORBOARD"
LOG_DIR = "tensorboard"
_TRUE = ("1", "true", "yes", "on")

#: id(run) -> the logger of a search in progress (a run object is one search at a time).
_active: dict[int, RunLogger] = {}


def enabled(environ: dict[str, str] | None = None) -> bool:
    """Whether ``AUTOML_CODEGEN_TENSORBOARD`` asks for logging (1, true, yes, on)."""
    return (environ if environ is not None else os.environ).get(ENV_VAR, "").strip().lower() in _TRUE


def available() -> bool:
    """Whether the tensorboard package is installed (without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


class EventFile:
    """One TensorBoard event file, written synchronously and flushed on request."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event, self._summary = Event, Summary
        log_dir.mkdir(parents=True, exist_ok=True)
        # TensorBoard finds files by the "tfevents" in their name; host and pid keep
        # two processes (a search and its resume) from writing the same file.
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.automl-codegen"
        self.path = log_dir / name
        self._writer = RecordWriter(open(self.path, "wb"))  # noqa: SIM115 (closed in close())
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event: Any) -> None:
        self._writer.write(event.SerializeToString())

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Write ``values`` (tag -> number) at ``step``; non-finite values are left out."""
        finite = [self._summary.Value(tag=tag, simple_value=v) for tag, v in values.items() if math.isfinite(v)]
        if finite:
            self._write(self._event(wall_time=time.time(), step=step, summary=self._summary(value=finite)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        if not self._writer.closed:
            self._writer.close()


class RunLogger:
    """Turns one search's trials into scalars.

    A search started without ``run_dir`` picks its directory only inside ``search()``,
    out of the hooks' sight; its trials are kept until ``on_search_end`` names the
    directory, then written at once.
    """

    def __init__(self, run: Any) -> None:
        self.primary = run.objectives[0]
        self.best: float | None = None
        self.failed = 0
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.file: EventFile | None = None
        if run.run_dir is not None:
            self.file = EventFile(Path(run.run_dir) / LOG_DIR)

    def trial(self, trial: Any) -> None:
        values = {f"objective/{k}": float(v) for k, v in trial.objectives.items() if _is_number(v)}
        values.update({f"metric/{k}": float(v) for k, v in trial.metrics.items() if _is_number(v)})
        values["trial/feasible"] = float(trial.feasible)
        values["trial/constraint_violation"] = float(trial.constraint_violation)
        values["trial/duration_s"] = float(trial.duration_s)
        self.failed += not trial.ok
        values["search/failed_trials"] = float(self.failed)
        current = trial.objectives.get(self.primary.name)
        if trial.feasible and _is_number(current) and (self.best is None or self.primary.better(current, self.best)):
            self.best = float(current)
        if self.best is not None:
            values[f"search/best_{self.primary.name}"] = self.best
        if self.file is None:
            self.pending.append((trial.number, values))
            return
        self.file.scalars(trial.number, values)
        self.file.flush()  # so TensorBoard shows the trial now, not at the end

    def finish(self, run_dir: Path | None) -> None:
        """Write what is pending into ``run_dir`` (None: there is nowhere to write it) and close."""
        if self.file is None and self.pending and run_dir is not None:
            self.file = EventFile(Path(run_dir) / LOG_DIR)
        if self.file is not None:
            for step, values in self.pending:
                self.file.scalars(step, values)
            self.pending.clear()
            self.file.close()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@hookimpl
def on_search_start(run):
    if not enabled():
        return
    if not available():
        warnings.warn(
            f"{ENV_VAR} is set but the tensorboard package is not installed, so no TensorBoard logs are written; "
            f"install it with: pip install tensorboard",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    stale = _active.pop(id(run), None)
    if stale is not None:  # the same object searched before and never reached on_search_end
        stale.finish(run.run_dir)
    _active[id(run)] = RunLogger(run)


@hookimpl
def on_trial_end(run, trial):
    logger = _active.get(id(run))
    if logger is not None:
        logger.trial(trial)


@hookimpl
def on_search_end(run, result):
    logger = _active.pop(id(run), None)
    if logger is not None:
        logger.finish(result.run_dir)
