"""``SearchResult``: the trials of a run, its best trial, Pareto front, exports and reports."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import pareto
from .config import SearchConfig
from .errors import ConfigError, RunDirectoryError
from .fidelity import top_rung
from .journal import RunJournal
from .objective import Constraint, Objective
from .plugins import Registry, get_plugin_manager
from .scoring import best_trial
from .trial import Trial
from .weights import load_weights

__all__ = ["SearchResult"]


class SearchResult:
    """The trials of a finished (or loaded) run, its best trial, Pareto front and exports."""

    def __init__(
        self,
        trials: Sequence[Trial],
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint],
        run_dir: Path,
        config: Mapping[str, Any],
        registry: Registry | None = None,
    ) -> None:
        self.trials = list(trials)
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.run_dir = Path(run_dir)
        self.config = dict(config)
        self._registry = registry
        self.elapsed_s: float | None = None
        #: The Dataset of a search of data given from Python, on the result that search
        #: returned (retraining needs it); None on a loaded result.
        self.in_memory_data: Any = None

    @classmethod
    def load(cls, run_dir: str | Path, registry: Registry | None = None) -> SearchResult:
        """Read a run directory written by :meth:`NeuralArchitectureSearch.search`."""
        with RunJournal.open(run_dir, read_only=True) as journal:
            recorded, trials, elapsed = journal.config(), journal.trials(), journal.elapsed_s
        try:
            settings = SearchConfig.from_dict(recorded)
        except ConfigError as exc:
            msg = f"run {str(run_dir)!r} cannot be read: {exc}; restore its journal.sqlite from a copy"
            raise RunDirectoryError(msg) from None
        config = settings.to_dict()
        registry = registry or Registry(get_plugin_manager())
        # An objective given from Python is not importable here; its recorded values are
        # all a loaded run needs (ranking, fronts, reports).
        objectives = [
            Objective(o.name, o.direction, description="given from Python")
            if o.python
            else registry.get("objective", o.name)
            for o in settings.objectives
        ]
        constraints = [Constraint.parse(c) for c in settings.constraints]
        result = cls(trials, objectives, constraints, Path(run_dir), config, registry)
        result.elapsed_s = elapsed
        return result

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(get_plugin_manager())
        return self._registry

    def events(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """Events a strategy logged, e.g. ``result.events("alpha")`` for DARTS' α per epoch."""
        with RunJournal.open(self.run_dir, read_only=True) as journal:
            return journal.events(kind)

    @property
    def history(self) -> list[Trial]:
        return list(self.trials)

    @property
    def best(self) -> Trial | None:
        """The best trial on the first objective (feasible trials first; ties go to the later objectives)."""
        return best_trial(self.trials, self.objectives)

    @property
    def pareto_front(self) -> list[Trial]:
        """Complete, feasible trials that no other such trial dominates on the objectives.

        In a multi-fidelity run only the trials of the highest rung reached compete.
        """
        return pareto.pareto_front(top_rung(self.trials), self.objectives)

    def _first_generation_size(self) -> int:
        size = self.config.get("first_generation_size") or max(1, len(self.trials) // 10)
        return max(1, min(int(size), len(self.trials)))

    def failure_summary(self) -> str:
        """Why trials failed, most common reason first (first line of each error)."""
        reasons: dict[str, int] = {}
        for trial in self.trials:
            if not trial.ok:
                reason = (trial.error or "unknown error").splitlines()[0]
                reasons[reason] = reasons.get(reason, 0) + 1
        failed = sum(reasons.values())
        if not failed:
            return "no trial failed"
        head = (
            f"all {failed} trials failed"
            if failed == len(self.trials)
            else f"{failed} of {len(self.trials)} trials failed"
        )
        listed = "; ".join(
            f"{reason} ({count}x)" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        )
        return f"{head}: {listed}"

    def summary(self) -> dict[str, Any]:
        primary = self.objectives[0]
        first = best_trial(self.trials[: self._first_generation_size()], self.objectives)
        best = self.best
        failed = [t for t in self.trials if not t.ok]
        size = self._first_generation_size()

        def mean(trials: Sequence[Trial]) -> float | None:
            values = [t.objectives[primary.name] for t in trials if t.ok and primary.name in t.objectives]
            return sum(values) / len(values) if values else None

        return {
            "trials": len(self.trials),
            "failed": len(failed),
            "elapsed_s": self.elapsed_s,
            "objectives": [o.name for o in self.objectives],
            "best": _trial_summary(best),
            "best_of_first_generation": _trial_summary(first),
            "first_generation_size": size,
            # The typical random architecture against the typical one proposed last.
            "first_generation_mean": mean(self.trials[:size]),
            "last_generation_mean": mean(self.trials[-size:]) if len(self.trials) >= 2 * size else None,
            "pareto_front": [_trial_summary(t) for t in self.pareto_front],
        }

    def export(
        self, emitter: str = "pytorch", path: str | Path = "out", trial: Trial | int | None = None
    ) -> list[Path]:
        """Write the code (and trained weights) of ``trial`` (default: best) with ``emitter``."""
        trial = self._chosen(trial)
        if trial is None or trial.architecture is None:
            reasons = sorted({(t.error or "").splitlines()[0] for t in self.trials if not t.ok})
            msg = f"run {str(self.run_dir)!r} has no completed trial to export"
            if reasons:
                msg += f"; trials failed with: {'; '.join(reasons[:3])}"
            raise RunDirectoryError(msg)
        state_dict = None
        if trial.weights:
            state_dict = load_weights(self._evaluator(), self._weights_path(trial))
        target = self.registry.get("emitter", emitter)
        return target.export(trial.architecture, Path(path), state_dict, self.export_metadata(trial))

    def retrain(
        self,
        epochs: int,
        trial: Trial | int | None = None,
        *,
        seed: int | None = None,
        device: str | None = None,
        evaluator_options: Mapping[str, Any] | None = None,
        dataset: Any = None,
    ) -> Trial:
        """Train ``trial``'s architecture (default: the best) from scratch as the final model.

        A search trains each candidate briefly and holds out validation data to compare
        them; the chosen network then deserves a longer schedule on all the data it may
        learn from. The architecture is trained for exactly ``epochs`` epochs on the
        training and validation splits together (no early stopping: nothing is left to
        stop on), with the run's evaluator and its options (``evaluator_options``
        override them, e.g. ``{"optimizer": "sgd", "lr": 0.05, "warmup_epochs": 5}``),
        and the last weights are kept. The test split, the same one the search reported
        on, is scored once at the end.

        The weights go to ``final/trial_NNNN_K.pt`` in the run directory (K counts the
        retrainings of that trial) with a ``.json`` record beside them (options, seed,
        metrics); the returned Trial points at them, so
        ``result.export("pytorch", "out/", trial=final)`` writes the retrained model.

        Args:
            epochs: training epochs, typically several times the search's.
            trial: a trial or its number; default :attr:`best`.
            seed: seeds initialisation and data order; default the run's seed.
            device: default the run's device.
            evaluator_options: options that replace the run's evaluator options.
            dataset: for a run of data given from Python, the same data again (not
                needed on the result a search returned in this process).

        Returns:
            A Trial with the retrained metrics (``test_accuracy``, ``train_loss``,
            ``epochs``, ``train_seconds``, ``training``) and ``weights``.
        """
        from .final import retrain

        return retrain(
            self, epochs, trial, seed=seed, device=device, evaluator_options=evaluator_options, dataset=dataset
        )

    def _weights_path(self, trial: Trial) -> Path:
        """Where ``trial``'s weights are: a file the journal names inside the run directory."""
        path = self.run_dir / str(trial.weights)
        if not path.resolve().is_relative_to(self.run_dir.resolve()):
            msg = (
                f"trial {trial.number} of run {str(self.run_dir)!r} names weights outside the run directory "
                f"({str(trial.weights)[:80]!r}); its journal was edited or is damaged"
            )
            raise RunDirectoryError(msg)
        return path

    def _evaluator_options(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The run's recorded evaluator options, ``overrides`` replacing some."""
        return {**self.config.get("evaluator_options", {}), **dict(overrides or {})}

    def _evaluator(self, options: Mapping[str, Any] | None = None) -> Any:
        """The run's evaluator, built with its recorded options (``options`` override them)."""
        return self.registry.get("evaluator", self.config["evaluator"])(**self._evaluator_options(options))

    def _chosen(self, trial: Trial | int | None) -> Trial | None:
        """A trial given as itself or by number (default: the best), with its architecture."""
        if isinstance(trial, int):
            matches = [t for t in self.trials if t.number == trial]
            if not matches:
                msg = f"run {str(self.run_dir)!r} has no trial {trial}"
                raise RunDirectoryError(msg)
            trial = matches[0]
        return self.with_architecture(trial or self.best)

    def with_architecture(self, trial: Trial | None) -> Trial | None:
        """``trial`` with its architecture: lowered from its genotype by the run's space when
        the evaluator did not need it (tabular benchmarks record genotypes only)."""
        if trial is None or trial.architecture is not None or not trial.ok:
            return trial
        config = self.config
        data = config.get("dataset_summary") or {}
        space = self.registry.get("search_space", config["space"])(
            tuple(data["input_shape"]), data["num_classes"], **config.get("space_options", {})
        )
        return attrs.evolve(trial, architecture=space.to_architecture(trial.genotype))

    def export_front(self, path: str | Path) -> Path:
        """Write the Pareto front as CSV, or JSON when ``path`` ends in ``.json``."""
        rows, path = pareto.front_table(top_rung(self.trials), self.objectives), Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(json.dumps(rows, indent=2) + "\n")
            return path
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["trial", "genotype"])
            writer.writeheader()
            writer.writerows(rows)
        return path

    def export_metadata(self, trial: Trial) -> dict[str, Any]:
        data = self.config.get("dataset_summary", {})
        normalization = data.get("normalization") or {}
        preprocess = None
        # A recorded scale, or data given from Python (standardised as given): the emitters
        # write a preprocess function. Older runs of image files recorded no scale, and
        # guessing 1 where it was 255 would be wrong, so they get the description only.
        if "mean" in normalization and ("scale" in normalization or "fingerprint" in data):
            preprocess = {k: normalization.get(k, 1.0) for k in ("scale", "mean", "std")}
        return {
            "input": {
                "shape": data.get("input_shape", list(trial.architecture.input_shape)),
                "dtype": "float32",
                "normalization": normalization.get("description", "none recorded"),
                "preprocess": preprocess,
                # A table's columns, categories and target scaling: the emitters write them
                # out as a preprocess function that takes raw rows.
                "tabular": normalization if isinstance(normalization.get("columns"), list) else None,
            },
            # Images are what generated code assumed before tasks existed; say only the others.
            "task": None if data.get("task", "image_classification") == "image_classification" else data["task"],
            "metrics": {k: v for k, v in trial.metrics.items() if k in _REPORTED_METRICS},
            "dataset": self.config.get("dataset"),
            "strategy": self.config.get("strategy"),
            "space": self.config.get("space"),
            "trial": trial.number,
            "genotype": trial.genotype,
            # Data given from Python: its layout and shape as given, which the user's own
            # inputs will have (the generated model takes channels-first).
            "data": data.get("description") if "fingerprint" in data else None,
        }

    def __repr__(self) -> str:
        best = self.best
        shown = f"trial {best.number} {best.objectives}" if best else "none"
        return f"<SearchResult {len(self.trials)} trials, best: {shown}, run_dir={str(self.run_dir)!r}>"

    def plot(self, path: str | Path | None = None, *, html: bool = True) -> Any:
        """Write the run report, ``report.png`` and ``report.html``, into ``path`` (default: the run directory).

        Returns the :class:`automl_codegen.report.Report` (paths and the matplotlib figure).
        Needs matplotlib (``pip install 'automl-codegen[report]'``), imported only here.
        """
        from .report import build_report

        return build_report(self, path, html=html)


_REPORTED_METRICS = (
    "accuracy",
    "test_accuracy",
    "mse",
    "mae",
    "r2",
    "test_mse",
    "test_mae",
    "test_r2",
    "latency_ms",
    "params",
    "flops",
    "epochs",
)


def _trial_summary(trial: Trial | None) -> dict[str, Any] | None:
    if trial is None:
        return None
    return {
        "number": trial.number,
        "status": trial.status,
        "objectives": trial.objectives,
        "metrics": {k: v for k, v in trial.metrics.items() if k in _REPORTED_METRICS},
        "feasible": trial.feasible,
        "genotype": trial.genotype,
    }
