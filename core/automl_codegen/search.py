"""``NeuralArchitectureSearch``: the user-facing API that composes the installed plugins.

from automl_codegen import NeuralArchitectureSearch
nas = NeuralArchitectureSearch(task="image_classification")   # digits, evolution
result = nas.search()
result.export("pytorch", "out/")
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from . import pareto
from ._progress import SearchProgress
from .engine import (
    Budget,
    ObjectiveFaultError,
    TrialDuration,
    TrialOutcome,
    best_trial,
    is_better,
    run_trial,
    score,
    trial_seed,
)
from .errors import AutoMLCodeGenError, ConfigError, PluginError, RunDirectoryError
from .evaluation import EvaluationContext, TrainingBudget
from .fidelity import Fidelity, FidelityScheduler, top_rung
from .journal import RunJournal
from .objective import Constraint, Objective
from .plugins import PluginManager, Registry, get_plugin_manager
from .space import SupernetContext
from .trial import Trial

TASKS = ("image_classification",)
DEFAULT_TRIALS = 30


def _positive(name: str, value: Any, kind: type = int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{name} must be a positive {kind.__name__}, got {value!r}"
        raise ConfigError(msg)
    if kind is int and not isinstance(value, int):
        msg = f"{name} must be a whole number, got {value!r}"
        raise ConfigError(msg)


def _budget(budget: int | Mapping[str, Any] | None) -> Budget:
    if budget is None:
        return Budget(trials=DEFAULT_TRIALS)
    if isinstance(budget, int) and not isinstance(budget, bool):
        _positive("budget", budget)
        return Budget(trials=budget)
    if not isinstance(budget, Mapping):
        msg = f"budget must be a number of trials or a dict like {{'trials': 60, 'seconds': 180}}, got {budget!r}"
        raise ConfigError(msg)
    unknown = sorted(set(budget) - {"trials", "seconds"})
    if unknown:
        msg = f"budget has unknown key(s) {unknown}; use 'trials' and/or 'seconds'"
        raise ConfigError(msg)
    _positive("budget['trials']", budget.get("trials"))
    _positive("budget['seconds']", budget.get("seconds"), float)
    if budget.get("trials") is None and budget.get("seconds") is None:
        msg = "budget needs 'trials' or 'seconds' (or both)"
        raise ConfigError(msg)
    return Budget(trials=budget.get("trials"), seconds=budget.get("seconds"))


def _arguments_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments that reproduce a recorded search."""
    training = config["training"]
    return {
        "task": config["task"],
        "dataset": config["dataset"],
        "space": config["space"],
        "strategy": config["strategy"],
        "objectives": [o["name"] for o in config["objectives"]],
        "constraints": config["constraints"],
        "budget": {k: v for k, v in config["budget"].items() if v is not None},
        "seed": config["seed"],
        "epochs": training["epochs"],
        "patience": training["patience"],
        "trial_seconds": training["trial_seconds"],
        "evaluator": config["evaluator"],
        "executor": config["executor"],
        "profilers": config["profilers"],
        "device": config["device"],
        "dataset_options": config["dataset_options"],
        "space_options": config["space_options"],
        "strategy_options": config["strategy_options"],
        "evaluator_options": config["evaluator_options"],
        "executor_options": config["executor_options"],
        "profiler_options": config["profiler_options"],
        # Runs recorded before multi-fidelity scheduling existed have no entry.
        "fidelity": config.get("fidelity"),
    }


class NeuralArchitectureSearch:
    """Finds architectures for a dataset under objectives and constraints.

    Args:
        task: only ``"image_classification"`` for now.
        dataset: a registered dataset name (``digits`` is embedded, ``synthetic`` for tests).
        space: a registered search space (``chain-cnn``).
        strategy: a registered strategy (``evolution``).
        objectives: objective names; the first one picks ``result.best``.
        constraints: hard limits such as ``"latency_ms <= 2"`` or ``"params < 50000"``.
        budget: trials (int) or ``{"trials": N, "seconds": S}``. A trial that starts runs
            to its end, so under ``seconds`` no trial starts that should end after the
            budget: its duration is predicted from the trials finished so far (per epoch
            count under multi-fidelity), and the search stops early rather than late.
        seed: makes the split, the strategy and every trial's training reproducible.
        epochs / patience / trial_seconds: the training budget of one trial.
        fidelity: multi-fidelity scheduling of the epochs: ``"successive-halving"``,
            ``"hyperband"``, or ``{"schedule": ..., "min_epochs": ..., "eta": ...}``
            (see :mod:`automl_codegen.fidelity`); ``epochs`` is then the top rung's.
        evaluator / executor / profilers: registered names; see ``automl-codegen plugins``.
        run_dir: where the journal, weights and best architecture go
            (default ``runs/<timestamp>``).
        progress: show a progress bar.
        *_options: keyword options passed to the respective plugin.
        plugin_manager: a custom :class:`~automl_codegen.plugins.PluginManager` (tests).
    """

    def __init__(
        self,
        task: str = "image_classification",
        dataset: str = "digits",
        *,
        space: str = "chain-cnn",
        strategy: str = "evolution",
        objectives: Sequence[str] = ("accuracy",),
        constraints: Sequence[str] = (),
        budget: int | Mapping[str, Any] | None = None,
        seed: int = 0,
        epochs: int = 15,
        patience: int | None = 4,
        trial_seconds: float | None = None,
        evaluator: str = "train",
        executor: str = "local",
        profilers: Sequence[str] = ("torch-cpu",),
        run_dir: str | Path | None = None,
        device: str = "cpu",
        progress: bool = True,
        dataset_options: Mapping[str, Any] | None = None,
        space_options: Mapping[str, Any] | None = None,
        strategy_options: Mapping[str, Any] | None = None,
        evaluator_options: Mapping[str, Any] | None = None,
        executor_options: Mapping[str, Any] | None = None,
        profiler_options: Mapping[str, Mapping[str, Any]] | None = None,
        fidelity: str | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> None:
        if task not in TASKS:
            msg = f"unknown task {task!r}; supported: {', '.join(TASKS)}"
            raise ConfigError(msg)
        if isinstance(objectives, str):
            objectives = [objectives]
        if not objectives:
            msg = "at least one objective is needed, e.g. objectives=['accuracy']"
            raise ConfigError(msg)
        if isinstance(constraints, str):
            constraints = [constraints]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            msg = f"seed must be a non-negative integer, got {seed!r}"
            raise ConfigError(msg)
        _positive("epochs", epochs)
        _positive("patience", patience)
        _positive("trial_seconds", trial_seconds, float)
        self.budget = _budget(budget)
        self.seed = seed
        self.device = device
        self.progress = progress
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._resuming = False
        self.training = TrainingBudget(epochs=epochs, max_seconds=trial_seconds, patience=patience)
        self.fidelity = Fidelity.parse(fidelity, epochs)
        self.registry = Registry(plugin_manager or get_plugin_manager())
        reg = self.registry

        self.objectives: list[Objective] = [reg.get("objective", name) for name in objectives]
        if len({o.name for o in self.objectives}) != len(self.objectives):
            msg = f"objectives are listed twice: {list(objectives)}"
            raise ConfigError(msg)
        self.constraints = [Constraint.parse(text) for text in constraints]
        self.evaluator = reg.get("evaluator", evaluator)(**dict(evaluator_options or {}))
        profiler_options = dict(profiler_options or {})
        self.profilers = [reg.get("profiler", name)(**dict(profiler_options.get(name, {}))) for name in profilers]
        self._check_measurable()
        self.dataset = reg.get("dataset", dataset)(seed=seed, **dict(dataset_options or {}))
        self.space = reg.get("search_space", space)(
            self.dataset.input_shape, self.dataset.num_classes, **dict(space_options or {})
        )
        self.strategy = reg.get("strategy", strategy)(
            self.space, self.objectives, seed=seed, **dict(strategy_options or {})
        )
        self.executor_factory = reg.get("executor", executor)
        self.executor_options = dict(executor_options or {})
        self.config = {
            "task": task,
            "dataset": dataset,
            "dataset_options": dict(dataset_options or {}),
            "dataset_summary": self.dataset.summary(),
            "space": space,
            "space_options": dict(space_options or {}),
            "strategy": strategy,
            "strategy_options": dict(strategy_options or {}),
            # How many trials the strategy samples at random before it learns anything
            # (the "first generation" that reports compare the result against).
            "first_generation_size": getattr(self.strategy, "population_size", None),
            "objectives": [{"name": o.name, "direction": o.direction} for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            "budget": {"trials": self.budget.trials, "seconds": self.budget.seconds},
            "seed": seed,
            "training": {"epochs": epochs, "patience": patience, "trial_seconds": trial_seconds},
            "evaluator": evaluator,
            "evaluator_options": dict(evaluator_options or {}),
            "executor": executor,
            "executor_options": dict(executor_options or {}),
            "profilers": list(profilers),
            "profiler_options": {k: dict(v) for k, v in (profiler_options or {}).items()},
            "device": device,
            "fidelity": None if self.fidelity is None else self.fidelity.to_dict(),
        }

    def _check_measurable(self) -> None:
        """Every objective and constraint must name something an evaluator or profiler measures."""
        known = set(getattr(self.evaluator, "measures", ()))
        for profiler in self.profilers:
            known.update(getattr(profiler, "measures", ()))
        if not known:
            return  # a plugin that does not declare its measurements: checked per trial
        needed = [(f"objective {o.name!r}", m) for o in self.objectives for m in o.needs]
        needed += [(f"constraint '{c}'", c.name) for c in self.constraints]
        for what, measurement in needed:
            if measurement not in known:
                msg = (
                    f"{what} needs the measurement {measurement!r}, which no evaluator or "
                    f"profiler of this search produces; measured: {', '.join(sorted(known))}"
                )
                raise ConfigError(msg)

    def _default_run_dir(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path("runs") / f"{self.config['dataset']}-{self.config['strategy']}-{stamp}"

    @classmethod
    def resume(
        cls, run_dir: str | Path, *, progress: bool = True, plugin_manager: PluginManager | None = None
    ) -> NeuralArchitectureSearch:
        """The search recorded in ``run_dir``, ready to continue where it stopped.

        Finished trials are never repeated; trials that were running when the process
        died run again. Call :meth:`search` on the result.
        """
        with RunJournal.open(run_dir) as journal:
            config = journal.config()
        nas = cls(**_arguments_from_config(config), run_dir=run_dir, progress=progress, plugin_manager=plugin_manager)
        nas._resuming = True
        return nas

    def search(self) -> SearchResult:
        """Run the search until the budget is spent; returns the :class:`SearchResult`.

        Ctrl-C stops after cleaning up and re-raises KeyboardInterrupt; the run directory
        then holds every finished trial and :meth:`resume` continues it.
        """
        run_dir = self.run_dir or self._default_run_dir()
        if self._resuming:
            journal = RunJournal.open(run_dir)
            journal.lock()
        else:
            journal = RunJournal.create(run_dir, self.config)
        try:
            return self._search(journal)
        finally:
            journal.close()

    def _search(self, journal: RunJournal) -> SearchResult:
        pm = self.registry.plugin_manager
        primary = self.objectives[0]
        trials: list[Trial] = []
        earlier_s = 0.0
        if self._resuming:
            trials, earlier_s = self._restore(journal)
        best = best_trial(trials, self.objectives)
        best_file = _BestFile(journal, self._with_architecture)
        if self._resuming and best is not None:
            best_file.update(best)
            best_file.flush()  # a crash may have left it behind the journal
        started = time.perf_counter()

        def elapsed() -> float:
            return earlier_s + time.perf_counter() - started

        numbers = self._free_numbers(trials)
        # Trials the executor is running: future -> (number, genotype, when submitted).
        in_flight: dict[Future, tuple[int, Any, float, Any]] = {}
        scheduler = None if self.fidelity is None else FidelityScheduler(self.fidelity, primary, trials)
        durations = TrialDuration(self.training.epochs or 1, trials)
        executor = self.executor_factory(**self.executor_options)
        pm.hook.on_search_start(run=self)
        stop_requested = out_of_proposals = out_of_time = False
        progress = SearchProgress(self.budget.trials, primary, enabled=self.progress, seconds=self.budget.seconds)
        try:
            slots = self._slots(executor)
            with progress:
                progress.catch_up(trials, best, earlier_s)
                one_shot = getattr(self.strategy, "one_shot", False)
                if one_shot and not self.strategy.supernet_trained:
                    self._train_supernet(journal, len(trials), elapsed(), progress)
                while True:
                    # Fill the free slots. The budget counts running trials, so none starts
                    # that the budget has no room for; those running always finish.
                    while (
                        len(in_flight) < slots
                        and not (stop_requested or out_of_proposals or out_of_time)
                        and (
                            not self.budget.exhausted(len(trials) + len(in_flight), elapsed())
                            # A one-shot search always retrains what its supernet found, even when
                            # the supernet used up the time budget: otherwise its work would be lost.
                            or (one_shot and not trials and not in_flight)
                        )
                    ):
                        # Multi-fidelity: a finished trial may have earned a longer training.
                        job = None if scheduler is None else scheduler.peek()
                        epochs = (self.training.epochs or 1) if job is None else job.epochs
                        # (The one-shot retraining above is owed whatever the time left.)
                        if (trials or in_flight or not one_shot) and not self._fits(
                            durations, epochs, elapsed(), progress
                        ):
                            out_of_time = True
                            break
                        if scheduler is not None:
                            job = scheduler.next()
                        if job is not None and job.promote is not None:
                            genotype = job.promote.genotype
                        else:
                            proposed = self._plugin_call("strategy", self.strategy.ask, 1)
                            if not proposed:
                                progress.log(f"strategy {self.config['strategy']!r} has nothing more to propose")
                                out_of_proposals = True
                                break
                            genotype = proposed[0]
                        number = next(numbers)
                        journal.start_trial(number, genotype)
                        context = EvaluationContext(
                            dataset=self.dataset,
                            # A trial that starts runs to its end: cutting its training short
                            # to fit the time budget would record an unfairly bad network.
                            budget=self.training if job is None else attrs.evolve(self.training, epochs=job.epochs),
                            seed=trial_seed(self.seed, number),
                            profilers=self.profilers,
                            device=self.device,
                            trial_number=number,
                            genotype=genotype,
                            space=self.config["space"],
                        )
                        future = executor.submit(run_trial, self.space, genotype, self.evaluator, context)
                        in_flight[future] = (number, genotype, time.perf_counter(), job)
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    # Results are recorded in the order they finish; trials that finished
                    # together are taken by number, so a batch is recorded reproducibly.
                    for future in sorted(done, key=lambda f: in_flight[f][0]):
                        number, genotype, submitted, job = in_flight.pop(future)
                        outcome = self._outcome(future, submitted)
                        trial = self._score(number, genotype, outcome)
                        if job is not None:
                            trial = attrs.evolve(trial, metrics={**trial.metrics, **scheduler.metrics(job)})
                            scheduler.finished(trial)
                        durations.add(trial)
                        if outcome.state_dict is not None:
                            trial = self._save_weights(journal, trial, outcome.state_dict)
                        self._plugin_call("strategy", self.strategy.tell, [trial])
                        journal.finish_trial(
                            trial, self._plugin_call("strategy", self.strategy.state_dict), elapsed(), len(trials) + 1
                        )
                        for kind, step, values in self.strategy.drain_events():
                            journal.log_event(kind, step, values)
                        trials.append(trial)
                        if is_better(trial, best, self.objectives):
                            best = trial
                        best_file.update(best)
                        progress.update(trial, best)
                        if any(pm.hook.on_trial_end(run=self, trial=trial)) and not stop_requested:
                            stop_requested = True
                            progress.log("a plugin asked the search to stop early")
                best_file.flush()
        except KeyboardInterrupt:
            journal.discard_running()
            with contextlib.suppress(OSError):  # the interrupt matters more than the derived file
                best_file.flush()
            progress.log(f"interrupted: {len(trials)} finished trials are safe in {journal.path}")
            raise
        finally:
            if in_flight:  # interrupted or failed: nobody will record these trials
                executor.shutdown(wait=True, cancel_futures=True)
            else:
                executor.shutdown(wait=True)
        trials.sort(key=lambda t: t.number)  # finished in any order; reported by number
        result = SearchResult(trials, self.objectives, self.constraints, journal.path, self.config, self.registry)
        result.elapsed_s = elapsed()
        journal.save_summary(result.summary())
        if trials and not any(t.ok for t in trials):
            progress.log(f"[red]{result.failure_summary()}")
        pm.hook.on_search_end(run=self, result=result)
        return result

    def _fits(self, durations: TrialDuration, epochs: int, elapsed: float, progress: SearchProgress) -> bool:
        """Whether a trial of ``epochs`` epochs should end within the time budget (logs when not)."""
        if self.budget.seconds is None:
            return True
        predicted = durations.predict(epochs)
        left = self.budget.seconds - elapsed
        if predicted is None or predicted <= left:
            return True
        progress.log(
            f"time budget: the next trial ({epochs} epochs) should take about "
            f"{predicted:.1f} s and {left:.1f} s are left; starting no more trials"
        )
        return False

    def _slots(self, executor: Any) -> int:
        """How many trials to keep running: the executor's ``max_workers`` (1 if it has none)."""
        slots = getattr(executor, "max_workers", 1)
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            msg = f"executor {self.config['executor']!r} has max_workers={slots!r}; it must be a positive integer"
            raise ConfigError(msg)
        return slots

    def _with_architecture(self, trial: Trial) -> Trial:
        """``trial`` with its architecture lowered, if its evaluator did not need it (best.json needs it)."""
        if trial.architecture is not None or not trial.ok:
            return trial
        try:
            return attrs.evolve(trial, architecture=self.space.to_architecture(trial.genotype))
        except AutoMLCodeGenError:
            return trial

    @staticmethod
    def _free_numbers(finished: Sequence[Trial]) -> Iterator[int]:
        """Numbers for new trials: first those of trials a stopped run left unfinished.

        Trials finish out of order under a parallel executor, so a stopped run may have
        finished trial 5 but not trial 4; resume gives 4 to the next trial it starts.
        """
        taken = {t.number for t in finished}
        top = max(taken, default=-1) + 1
        return itertools.chain((n for n in range(top) if n not in taken), itertools.count(top))

    @staticmethod
    def _outcome(future: Future, submitted: float) -> TrialOutcome:
        """The trial's outcome; a trial the executor lost (its worker died) is a failed one."""
        try:
            return future.result()
        except Exception as exc:
            error = f"the executor lost the trial: {type(exc).__name__}: {exc}"
            return TrialOutcome(None, {}, None, error, time.perf_counter() - submitted)

    def _train_supernet(self, journal: RunJournal, told: int, elapsed: float, progress: SearchProgress) -> None:
        """The one-shot phase: the strategy trains its supernet, checkpointing each epoch."""

        def checkpoint() -> None:
            journal.save_strategy_state(self._plugin_call("strategy", self.strategy.state_dict), told)

        left = None if self.budget.seconds is None else self.budget.seconds - elapsed
        context = SupernetContext(
            dataset=self.dataset,
            device=self.device,
            seed=self.seed,
            deadline=None if left is None else time.perf_counter() + left,
            checkpoint=checkpoint,
            log=journal.log_event,
        )
        progress.log(f"training the {self.config['strategy']} supernet on {self.config['dataset']} ...")
        self._plugin_call("strategy", self.strategy.train_supernet, context)
        checkpoint()

    def _restore(self, journal: RunJournal) -> tuple[list[Trial], float]:
        """Finished trials and the strategy state after the last of them; unfinished ones go."""
        journal.discard_running()
        trials = journal.trials()
        state = journal.strategy_state()
        if state is not None:
            told, strategy_state = state
            if told != len(trials):
                msg = (
                    f"the journal in {journal.path} holds {len(trials)} finished trials but a strategy "
                    f"state after {told}; it was changed by hand or is damaged and cannot be resumed"
                )
                raise RunDirectoryError(msg)
            self._plugin_call("strategy", self.strategy.load_state_dict, strategy_state)
        journal.rewrite_derived(trials)
        return trials, journal.elapsed_s

    def _score(self, number: int, genotype: Any, outcome: Any) -> Trial:
        try:
            return score(number, genotype, outcome, self.objectives, self.constraints)
        except ObjectiveFaultError as fault:
            raise self._plugin_fault("objective", fault.objective, fault.__cause__) from fault.__cause__

    def _plugin_call(self, kind: str, fn: Any, *args: Any) -> Any:
        """Call into a strategy; an unexpected exception stops the run naming the plugin."""
        try:
            return fn(*args)
        except (AutoMLCodeGenError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self._plugin_fault(kind, self.config[kind], exc) from exc

    def _plugin_fault(self, kind: str, name: str, exc: BaseException | None) -> PluginError:
        source = self.registry.entry(kind, name).source
        where = self.run_dir or "the run directory"
        msg = (
            f"{kind} {name!r} ({source.describe()}) raised {type(exc).__name__}: {exc}. "
            f"The journal is intact: fix or replace the plugin, then `automl-codegen search --resume {where}`"
        )
        return PluginError(msg)

    @staticmethod
    def _save_weights(journal: RunJournal, trial: Trial, state_dict: Any) -> Trial:
        import torch

        path = journal.weights_path(trial.number)
        torch.save(state_dict, path)
        return attrs.evolve(trial, weights=str(path.relative_to(journal.path)))


class _BestFile:
    """Keeps ``best.json`` on the best trial, rewriting it at most once every ``every_s`` seconds.

    Lowering the architecture and writing its JSON cost milliseconds (2 ms for an
    ``nb201`` network): nothing next to a trial that trains, but more than the rest of a
    trial on a tabular benchmark, which improves its best dozens of times a second. A
    trial that trains gets its file at once; :meth:`flush` writes what is pending when
    the search stops, and resume rewrites it after a crash.
    """

    def __init__(self, journal: RunJournal, lower: Callable[[Trial], Trial], every_s: float = 1.0) -> None:
        self._journal, self._lower, self._every_s = journal, lower, every_s
        self._pending: Trial | None = None
        self._written: Trial | None = None
        self._written_at = time.perf_counter()

    def update(self, best: Trial | None) -> None:
        """Called after every trial: a best held back is written by the first one that is due."""
        self._pending = best
        if self._pending is not self._written and time.perf_counter() - self._written_at >= self._every_s:
            self.flush()

    def flush(self) -> None:
        if self._pending is not None and self._pending is not self._written:
            self._journal.save_best(self._lower(self._pending))
            self._written, self._written_at = self._pending, time.perf_counter()


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

    @classmethod
    def load(cls, run_dir: str | Path, registry: Registry | None = None) -> SearchResult:
        """Read a run directory written by :meth:`NeuralArchitectureSearch.search`."""
        with RunJournal.open(run_dir) as journal:
            config, trials, elapsed = journal.config(), journal.trials(), journal.elapsed_s
        registry = registry or Registry(get_plugin_manager())
        objectives = [registry.get("objective", o["name"]) for o in config["objectives"]]
        constraints = [Constraint.parse(c) for c in config.get("constraints", [])]
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
        with RunJournal.open(self.run_dir) as journal:
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
            values = [t.objectives[primary.name] for t in trials if t.ok]
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
            import torch

            state_dict = torch.load(self.run_dir / trial.weights, map_location="cpu", weights_only=True)
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

        Returns:
            A Trial with the retrained metrics (``test_accuracy``, ``train_loss``,
            ``epochs``, ``train_seconds``, ``training``) and ``weights``.
        """
        _positive("epochs", epochs)
        trial = self._chosen(trial)
        if trial is None or trial.architecture is None:
            msg = f"run {str(self.run_dir)!r} has no completed trial to retrain"
            raise RunDirectoryError(msg)
        config, reg = self.config, self.registry
        name = config["evaluator"]
        options = {**config.get("evaluator_options", {}), **dict(evaluator_options or {})}
        evaluator = reg.get("evaluator", name)(**options)
        if not getattr(evaluator, "final_training", False):
            msg = (
                f"evaluator {name!r} cannot retrain an architecture (it has no final training); "
                f"final training needs an evaluator that trains, such as 'train'"
            )
            raise ConfigError(msg)
        seed = config["seed"] if seed is None else seed
        dataset = reg.get("dataset", config["dataset"])(seed=config["seed"], **config.get("dataset_options", {}))
        recorded = config.get("dataset_summary") or {}
        now = json.loads(json.dumps(dataset.summary(), default=str))
        compared = ("input_shape", "num_classes", "train", "val", "test", "normalization")
        changed = [k for k in compared if k in recorded and recorded[k] != now.get(k)]
        if changed:
            msg = (
                f"dataset {config['dataset']!r} loads differently now than when run {str(self.run_dir)!r} searched "
                f"({', '.join(changed)} changed: were its files replaced?); the test accuracy would not be comparable"
            )
            raise RunDirectoryError(msg)
        context = EvaluationContext(
            dataset=dataset,
            budget=TrainingBudget(epochs=epochs, max_seconds=None, patience=None),
            seed=seed,
            device=device or config.get("device", "cpu"),
            trial_number=trial.number,
            genotype=trial.genotype,
            space=config.get("space"),
            final=True,
        )
        started = time.perf_counter()
        try:
            evaluation = evaluator.evaluate(trial.architecture, context)
        except AutoMLCodeGenError:
            raise
        except Exception as exc:
            msg = f"final training of trial {trial.number} failed: {type(exc).__name__}: {exc}"
            raise AutoMLCodeGenError(msg) from exc
        duration = time.perf_counter() - started

        import torch

        folder = self.run_dir / "final"
        folder.mkdir(exist_ok=True)
        k = 1
        while (folder / f"trial_{trial.number:04d}_{k}.pt").exists():
            k += 1
        weights = folder / f"trial_{trial.number:04d}_{k}.pt"
        torch.save(evaluation.state_dict, weights)
        final = attrs.evolve(
            trial,
            status="complete",  # a trial that failed in the search (out of memory, say) may train now
            error=None,
            metrics=dict(evaluation.metrics),
            objectives={},
            constraint_violation=0.0,
            duration_s=duration,
            weights=str(weights.relative_to(self.run_dir)),
        )
        record = {
            "trial": trial.number,
            "genotype": trial.genotype,
            "epochs": epochs,
            "seed": seed,
            "device": context.device,
            "data": "training + validation splits; scored on the test split",
            "evaluator": name,
            "evaluator_options": options,
            "metrics": final.metrics,
            "search_metrics": trial.metrics,
            "weights": final.weights,
            "seconds": duration,
        }
        weights.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        return final

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
        return {
            "input": {
                "shape": data.get("input_shape", list(trial.architecture.input_shape)),
                "dtype": "float32",
                "normalization": (data.get("normalization") or {}).get("description", "none recorded"),
            },
            "metrics": {k: v for k, v in trial.metrics.items() if k in _REPORTED_METRICS},
            "dataset": self.config.get("dataset"),
            "strategy": self.config.get("strategy"),
            "space": self.config.get("space"),
            "trial": trial.number,
            "genotype": trial.genotype,
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


_REPORTED_METRICS = ("accuracy", "test_accuracy", "latency_ms", "params", "flops", "epochs")


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
