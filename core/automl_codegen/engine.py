"""The search loop: fill the executor's slots, collect finished trials, record them.

:class:`SearchEngine` runs one search described by a :class:`~automl_codegen.RunInfo`
against an open journal. It owns timing, objectives and constraints; strategies only
see finished :class:`~automl_codegen.Trial` records (the guarantees are listed in
:mod:`automl_codegen.protocols`). The facade, :class:`automl_codegen.NeuralArchitectureSearch`,
builds the plugins and calls :meth:`SearchEngine.run` through the ``search_run`` hook.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

import attrs

from ._progress import SearchProgress
from .errors import AutoMLCodeGenError, ConfigError, PluginError, RunDirectoryError
from .evaluation import EvaluationContext, TrainingBudget
from .fidelity import BUDGET_EPOCHS, Fidelity, FidelityScheduler, Job
from .journal import RunJournal
from .protocols import attribute
from .result import SearchResult
from .run import RunInfo
from .scoring import ObjectiveFaultError, TrialOutcome, best_trial, is_better, run_trial, score, trial_seed
from .strategy import SupernetContext
from .timing import TrialDuration
from .trial import Trial
from .weights import save_weights

__all__ = ["BestFile", "SearchEngine"]


@attrs.define
class _Running:
    """A trial the executor is running."""

    number: int
    genotype: Any
    submitted: float
    job: Job | None
    epochs: int


class SearchEngine:
    """One search run: ``SearchEngine(run, journal, executor).run()`` returns its result."""

    def __init__(
        self, run: RunInfo, journal: RunJournal, executor: Any, *, progress: bool = True, notes: Sequence[str] = ()
    ) -> None:
        config = run.config
        self.run_info, self.journal, self.executor = run, journal, executor
        self.strategy = run.strategy
        self.budget = config.budget
        self.training = config.training.budget()
        self.fidelity = Fidelity.parse(config.fidelity, config.training.epochs)
        self.hook = run.registry.plugin_manager.hook
        self.trials: list[Trial] = []
        self.best: Trial | None = None
        self.running: dict[Future, _Running] = {}
        self.stop_reason: str | None = None
        self._earlier_s = 0.0
        self._started = time.perf_counter()
        self._show_progress = progress
        self.notes = tuple(notes)  # defaults the facade chose, shown before the first trial

    # -- the run -------------------------------------------------------------------------

    def run(self) -> SearchResult:
        """Search until the budget, the strategy or a plugin says stop; Ctrl-C re-raises."""
        if self.run_info.resumed:
            self._restore()
        self.best = best_trial(self.trials, self.run_info.objectives)
        self.best_file = BestFile(self.journal, self._with_architecture)
        if self.run_info.resumed and self.best is not None:
            self.best_file.update(self.best)
            self.best_file.flush()  # a crash may have left it behind the journal
        self._started = time.perf_counter()
        self.numbers = _free_numbers(self.trials)
        primary = self.run_info.objectives[0]
        self.scheduler = None if self.fidelity is None else FidelityScheduler(self.fidelity, primary, self.trials)
        self.durations = TrialDuration(self.training.epochs or 1, self.trials)
        self.slots = self._slots()
        # Only an evaluator that trains takes less time for fewer epochs.
        self.trains = bool(attribute("evaluator", self.run_info.evaluator, "trains"))
        self.progress = SearchProgress(
            self.budget.trials, primary, enabled=self._show_progress, seconds=self.budget.seconds
        )
        self.hook.on_search_start(run=self.run_info)
        try:
            with self.progress:
                for note in self.notes:
                    self.progress.log(note)
                self.progress.catch_up(self.trials, self.best, self._earlier_s)
                if self.run_info.resumed and self.budget.exhausted(len(self.trials), self._earlier_s):
                    self.progress.log(
                        "the run's budget is spent; to search more, pass search(trials=N, seconds=S), "
                        "resume(run_dir, budget=...) or --resume with --budget-trials / --budget-seconds"
                    )
                self.one_shot = bool(attribute("strategy", self.strategy, "one_shot"))
                if self.one_shot and not self.strategy.supernet_trained:
                    self._train_supernet()
                while True:
                    self._fill_slots()
                    if not self.running:
                        break
                    self._collect()
            self.best_file.flush()
        except KeyboardInterrupt:
            # A second Ctrl-C (or SIGTERM) while cleaning up would cut the cleanup short
            # and end in a traceback: the first one is being honoured already.
            with _interrupts_ignored():
                self.journal.discard_running()
                with contextlib.suppress(OSError):  # the interrupt matters more than the derived file
                    self.best_file.flush()
                self.progress.log(f"interrupted: {len(self.trials)} finished trials are safe in {self.journal.path}")
                self._shut_down_executor()
            raise
        except BaseException:  # a fault: stop the workers, then let it be reported
            self._shut_down_executor()
            raise
        self._shut_down_executor()
        return self._result()

    def elapsed(self) -> float:
        """Seconds this run has searched, earlier sessions of a resumed run included."""
        return self._earlier_s + time.perf_counter() - self._started

    def _fill_slots(self) -> None:
        """Start trials until every slot is busy or something says stop.

        The budget counts running trials, so none starts that the budget has no room
        for; those running always finish.
        """
        while len(self.running) < self.slots and self.stop_reason is None:
            # A one-shot search always retrains what its supernet found, even when the
            # supernet used up the time budget: otherwise its work would be lost.
            owed = self.one_shot and not self.trials and not self.running
            if self.budget.exhausted(len(self.trials) + len(self.running), self.elapsed()) and not owed:
                return
            # Multi-fidelity: a finished trial may have earned a longer training.
            job = None if self.scheduler is None else self.scheduler.peek()
            epochs = (self.training.epochs or 1) if job is None else job.epochs
            if not owed:
                epochs = self._epochs_that_fit(epochs, shrink=job is None and self.trains)
                if epochs is None:
                    self.stop_reason = "time"
                    return
            if self.scheduler is not None:
                job = self.scheduler.next()
            genotype = self._next_genotype(job)
            if genotype is None:
                return
            self._submit(genotype, job, epochs)

    def _next_genotype(self, job: Job | None) -> Any:
        if job is not None and job.promote is not None:
            return job.promote.genotype
        proposed = self._plugin_call("strategy", self.strategy.ask, 1)
        if not proposed:
            self.progress.log(f"strategy {self.run_info.config.strategy!r} has nothing more to propose")
            self.stop_reason = "proposals"
            return None
        return proposed[0]

    def _submit(self, genotype: Any, job: Job | None, epochs: int) -> None:
        number = next(self.numbers)
        self.journal.start_trial(number, genotype)
        run = self.run_info
        context = EvaluationContext(
            dataset=run.dataset,
            budget=self._training_budget(epochs),
            seed=trial_seed(run.config.seed, number),
            profilers=run.profilers,
            device=run.config.device,
            trial_number=number,
            genotype=genotype,
            space=run.config.space,
        )
        self.hook.on_trial_start(run=run, number=number, genotype=genotype)
        future = self.executor.submit(run_trial, run.space, genotype, run.evaluator, context)
        self.running[future] = _Running(number, genotype, time.perf_counter(), job, epochs)

    def _training_budget(self, epochs: int) -> TrainingBudget:
        """The trial's training budget: the run's, at the epochs chosen for it (its rung's).

        Under a seconds budget, training is also capped by the time left, less what the
        trial needs after training (testing, profiling: learnt from the trials so far),
        so the search ends on time whatever a network costs. :meth:`_epochs_that_fit`
        chose epochs predicted to fit, so the cap only cuts a trial that runs slower
        than predicted. Before any trial has finished there is no prediction: such a
        trial trains for at most half the time left, and one slow first network cannot
        spend the whole budget.
        """
        budget = attrs.evolve(self.training, epochs=epochs)
        if self.budget.seconds is None:
            return budget
        left = self.budget.seconds - self.elapsed()
        cap = 0.5 * left if self.durations.predict(budget.epochs or 1) is None else left - self.durations.overhead()
        cap = max(cap, 0.0)
        if budget.max_seconds is None or cap < budget.max_seconds:
            budget = attrs.evolve(budget, max_seconds=cap)
        return budget

    def _collect(self) -> None:
        """Record the trials that finished, in the order they finished.

        Trials that finished together are taken by number, so a batch is recorded
        reproducibly.
        """
        done, _ = wait(self.running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: self.running[f].number):
            running = self.running.pop(future)
            self._record(running, _outcome(future, running.submitted))

    def _record(self, running: _Running, outcome: TrialOutcome) -> None:
        trial = self._score(running.number, running.genotype, outcome)
        if running.job is not None:
            trial = attrs.evolve(trial, metrics={**trial.metrics, **self.scheduler.metrics(running.job)})
            self.scheduler.finished(trial)
        elif running.epochs != self.training.epochs:  # fewer epochs, to fit the time budget
            trial = attrs.evolve(trial, metrics={**trial.metrics, BUDGET_EPOCHS: float(running.epochs)})
        self.durations.add(trial)
        if outcome.state_dict is not None:
            path = self.journal.weights_path(trial.number)
            save_weights(self.run_info.evaluator, outcome.state_dict, path)
            trial = attrs.evolve(trial, weights=str(path.relative_to(self.journal.path)))
        self._plugin_call("strategy", self.strategy.tell, [trial])
        state = self._plugin_call("strategy", self.strategy.state_dict)
        self.journal.finish_trial(trial, state, self.elapsed(), len(self.trials) + 1)
        drain_events = attribute("strategy", self.strategy, "drain_events")
        for kind, step, values in drain_events() if drain_events else ():
            self.journal.log_event(kind, step, values)
        self.trials.append(trial)
        if is_better(trial, self.best, self.run_info.objectives):
            self.best = trial
            self.hook.on_new_best(run=self.run_info, trial=trial)
        self.best_file.update(self.best)
        self.progress.update(trial, self.best)
        if any(self.hook.on_trial_end(run=self.run_info, trial=trial)) and self.stop_reason is None:
            self.stop_reason = "plugin"
            self.progress.log("a plugin asked the search to stop early")

    def _result(self) -> SearchResult:
        run = self.run_info
        self.trials.sort(key=lambda t: t.number)  # finished in any order; reported by number
        result = SearchResult(
            self.trials, run.objectives, run.constraints, self.journal.path, run.config.to_dict(), run.registry
        )
        result.elapsed_s = self.elapsed()
        if "fingerprint" in run.config.dataset_summary:
            result.in_memory_data = run.dataset
        self.journal.save_summary(result.summary())
        if self.trials and not any(t.ok for t in self.trials):
            self.progress.log(f"[red]{result.failure_summary()}")
        return result

    # -- phases and checks ---------------------------------------------------------------

    def _epochs_that_fit(self, epochs: int, *, shrink: bool) -> int | None:
        """The epochs the next trial may train for within the time budget; None: start none.

        ``epochs`` when the trial is predicted to end in time (or there is no prediction
        yet). Otherwise, with ``shrink`` (an evaluator that trains, outside
        multi-fidelity rungs), the most epochs that fit: a search on a slow
        machine trains its candidates less rather than stopping. A search that has tried
        fewer than two networks starts a second one all the same, trained for the time
        left: one trial is not a search.
        """
        if self.budget.seconds is None:
            return epochs
        predicted = self.durations.predict(epochs)
        left = self.budget.seconds - self.elapsed()
        if predicted is None or predicted <= left:
            return epochs
        fitting = [e for e in range(epochs - 1, 0, -1) if self.durations.predict(e) <= left] if shrink else []
        if fitting:
            return fitting[0]
        if len(self.trials) + len(self.running) < 2 and left > 0.1 * self.budget.seconds:
            self.progress.log(
                f"time budget: a trial of {epochs} epochs should take about {predicted:.1f} s and "
                f"{left:.1f} s are left; a second network trains for the time left"
            )
            return epochs
        self.progress.log(
            f"time budget: the next trial ({epochs} epochs) should take about "
            f"{predicted:.1f} s and {left:.1f} s are left; starting no more trials"
        )
        return None

    def _slots(self) -> int:
        """How many trials to keep running: the executor's ``max_workers``."""
        slots = attribute("executor", self.executor, "max_workers")
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            msg = f"executor {self.run_info.config.executor!r} has max_workers={slots!r}; it must be a positive integer"
            raise ConfigError(msg)
        return slots

    def _train_supernet(self) -> None:
        """The one-shot phase: the strategy trains its supernet, checkpointing each epoch."""
        told = len(self.trials)

        def checkpoint() -> None:
            self.journal.save_strategy_state(self._plugin_call("strategy", self.strategy.state_dict), told)

        left = None if self.budget.seconds is None else self.budget.seconds - self.elapsed()
        config = self.run_info.config
        context = SupernetContext(
            dataset=self.run_info.dataset,
            device=config.device,
            seed=config.seed,
            deadline=None if left is None else time.perf_counter() + left,
            checkpoint=checkpoint,
            log=self.journal.log_event,
        )
        self.progress.log(f"training the {config.strategy} supernet on {config.dataset} ...")
        self._plugin_call("strategy", self.strategy.train_supernet, context)
        checkpoint()

    def _restore(self) -> None:
        """Finished trials and the strategy state after the last of them; unfinished ones go."""
        journal = self.journal
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
            try:
                self._plugin_call("strategy", self.strategy.load_state_dict, strategy_state)
            except PluginError as exc:
                # The state came from the journal: "fix the plugin, the journal is intact" is
                # not what can be said of a state the plugin refuses.
                cause = exc.__cause__
                msg = (
                    f"strategy {self.run_info.config.strategy!r} could not restore the state saved in the journal "
                    f"in {journal.path} ({type(cause).__name__}: {cause}); the journal is damaged, or the plugin "
                    f"changed since: restore journal.sqlite from a copy, or start a new run"
                )
                raise RunDirectoryError(msg) from cause
        journal.rewrite_derived(trials)
        self.trials, self._earlier_s = trials, journal.elapsed_s

    def _shut_down_executor(self) -> None:
        """Shut the executor down; on an interrupt or fault, cancel what nobody will record.

        An executor written to the protocol's plain ``shutdown(wait=True)`` is supported:
        ``cancel_futures`` is passed only where ``shutdown`` accepts it. A failing
        shutdown after an interrupt must not hide the interrupt, so it only warns there.
        """
        if not self.running:
            self.executor.shutdown(wait=True)
            return
        for future in self.running:
            future.cancel()
        try:
            if _accepts(self.executor.shutdown, "cancel_futures"):
                self.executor.shutdown(wait=True, cancel_futures=True)
            else:
                self.executor.shutdown(wait=True)
        except Exception as exc:
            warnings.warn(
                f"executor {self.run_info.config.executor!r} failed to shut down: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )

    def _with_architecture(self, trial: Trial) -> Trial:
        """``trial`` with its architecture lowered, if its evaluator did not need it (best.json needs it)."""
        if trial.architecture is not None or not trial.ok:
            return trial
        try:
            return attrs.evolve(trial, architecture=self.run_info.space.to_architecture(trial.genotype))
        except AutoMLCodeGenError:
            return trial

    # -- naming the plugin at fault ------------------------------------------------------

    def _score(self, number: int, genotype: Any, outcome: TrialOutcome) -> Trial:
        try:
            return score(number, genotype, outcome, self.run_info.objectives, self.run_info.constraints)
        except ObjectiveFaultError as fault:
            raise self._plugin_fault("objective", fault.objective, fault.__cause__) from fault.__cause__

    def _plugin_call(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call into a strategy; an unexpected exception stops the run naming the plugin."""
        try:
            return fn(*args)
        except (AutoMLCodeGenError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self._plugin_fault(kind, getattr(self.run_info.config, kind), exc) from exc

    def _plugin_fault(self, kind: str, name: str, exc: BaseException | None) -> PluginError:
        source = self.run_info.registry.entry(kind, name).source
        msg = (
            f"{kind} {name!r} ({source.describe()}) raised {type(exc).__name__}: {exc}. "
            f"The journal is intact: fix or replace the plugin, then "
            f"`automl-codegen search --resume {self.run_info.run_dir}`"
        )
        return PluginError(msg)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored for the block (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _free_numbers(finished: Sequence[Trial]) -> Iterator[int]:
    """Numbers for new trials: first those of trials a stopped run left unfinished.

    Trials finish out of order under a parallel executor, so a stopped run may have
    finished trial 5 but not trial 4; resume gives 4 to the next trial it starts.
    """
    taken = {t.number for t in finished}
    top = max(taken, default=-1) + 1
    return itertools.chain((n for n in range(top) if n not in taken), itertools.count(top))


def _outcome(future: Future, submitted: float) -> TrialOutcome:
    """The trial's outcome; a trial the executor lost (its worker died) is a failed one."""
    try:
        return future.result()
    except Exception as exc:
        error = f"the executor lost the trial: {type(exc).__name__}: {exc}"
        return TrialOutcome(None, {}, None, error, time.perf_counter() - submitted)


def _accepts(fn: Callable[..., Any], keyword: str) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return keyword in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class BestFile:
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
