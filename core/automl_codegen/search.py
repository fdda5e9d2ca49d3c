"""``NeuralArchitectureSearch``: the user-facing facade that composes the installed plugins.

from automl_codegen import NeuralArchitectureSearch
nas = NeuralArchitectureSearch(task="image_classification")   # digits, evolution
result = nas.search()
result.export("pytorch", "out/")

The facade validates the arguments into a :class:`~automl_codegen.config.SearchConfig`,
builds the plugins, and runs :class:`~automl_codegen.engine.SearchEngine` inside the
``search_run`` hook, so lifecycle plugins see the whole run.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .callbacks import CallbackPlugin
from .config import BudgetSettings, SearchConfig, TrainingSettings, objective_records, resolve_device
from .errors import ConfigError, RunDirectoryError, Terminated
from .fidelity import Fidelity
from .journal import RunJournal
from .objective import Constraint, Objective
from .plugins import PluginManager, Registry, get_plugin_manager
from .protocols import attribute
from .result import SearchResult
from .run import RunInfo
from .tasks import IMAGE_CLASSIFICATION, TASK_METRICS, Task, get_task

__all__ = ["IN_MEMORY", "NeuralArchitectureSearch", "SearchResult"]

#: The dataset name of data given from Python (``dataset=(x, y)`` and the like).
IN_MEMORY = "in-memory"

_UNSET = object()

#: The time budget of a search given none: a few minutes on a laptop's CPU.
DEFAULT_SECONDS = 180

#: ``fidelity="auto"``: the shortest training sees at least this many images (about 150
#: steps of 64), else a small dataset's candidates would be compared on noise.
MIN_RUNG_SAMPLES = 10_000


class NeuralArchitectureSearch:
    """Finds architectures for a dataset under objectives and constraints.

    Args:
        task: ``"image_classification"``, ``"tabular_classification"``,
            ``"tabular_regression"`` or ``"sequence_classification"`` (see
            :mod:`automl_codegen.tasks`); by default the dataset's own. It picks the loss,
            the metrics (``accuracy``; ``mse``, ``mae``, ``r2`` for regression), the
            default objective and the default space.
        dataset: a registered dataset name (``digits`` is embedded, ``synthetic`` for tests), or
            data from Python: ``(x, y)`` arrays or tensors (split with ``seed``), a dict
            ``{"train": (x, y), "validation": ..., "test": ...}``, a torch ``Dataset`` of
            ``(x, y)`` items, or an :class:`~automl_codegen.Dataset`. ``resume`` needs it again.
        space: a registered search space (by default the task's: ``chain-cnn`` for
            images, ``mlp`` for tables, ``seq-cnn`` for sequences), ``"package.module:attribute"``
            naming a space factory, or the factory itself, such as a
            :class:`~automl_codegen.model_space.ModelSpace` (``resume`` then needs it again).
        strategy: a registered strategy (``evolution``).
        objectives: by default the task's metric (``accuracy``, or ``mse`` for regression);
            registered objective names, or :class:`~automl_codegen.Objective` values
            defined in Python (``Objective("acc_per_kparam", fn, direction="max",
            needs=["accuracy", "params"])``), or ``(function, "max")`` pairs named after the
            function; the first one picks ``result.best``.
        constraints: hard limits such as ``"latency_ms <= 2"`` or ``"params < 50000"``.
        budget: trials (int) or ``{"trials": N, "seconds": S}``; by default 180 seconds.
            Under ``seconds`` no trial starts that should end after the budget (its
            duration is predicted from the trials finished so far, per epoch count under
            multi-fidelity), and training is capped by the time left, so the search ends
            on time (exporting comes after).
        seed: makes the split, the strategy and every trial's training reproducible.
        epochs / patience / trial_seconds: the training budget of one trial.
        fidelity: multi-fidelity scheduling of the epochs: ``"successive-halving"``,
            ``"hyperband"``, or ``{"schedule": ..., "min_epochs": ..., "eta": ...}``
            (see :mod:`automl_codegen.fidelity`); ``epochs`` is then the top rung's.
            ``"auto"`` (the default): successive halving under a seconds budget when the
            evaluator trains and the data is large enough that a training of a few epochs
            sees 10,000 images, so many candidates get a short training; ``"none"``:
            every trial trains for ``epochs``.
        evaluator / executor / profilers: registered names; see ``automl-codegen plugins``.
        run_dir: where the journal, weights and best architecture go
            (default ``runs/<timestamp>``).
        progress: show a progress bar.
        device: ``"auto"`` (CUDA when torch sees a device, else the CPU), ``"cpu"``,
            ``"cuda"`` or ``"cuda:N"``; the journal records the device chosen.
        callbacks: objects with any of the :class:`~automl_codegen.Callback` methods
            (trial started/ended, new best, search start and end, Ctrl-C included).
        *_options: keyword options passed to the respective plugin.
        plugin_manager: a custom :class:`~automl_codegen.plugins.PluginManager` (tests).
    """

    def __init__(
        self,
        task: str | None = None,
        dataset: str | Any = "digits",
        *,
        space: str | Any = None,
        strategy: str = "evolution",
        objectives: Sequence[str | Objective] | None = None,
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
        device: str = "auto",
        progress: bool = True,
        dataset_options: Mapping[str, Any] | None = None,
        space_options: Mapping[str, Any] | None = None,
        strategy_options: Mapping[str, Any] | None = None,
        evaluator_options: Mapping[str, Any] | None = None,
        executor_options: Mapping[str, Any] | None = None,
        profiler_options: Mapping[str, Mapping[str, Any]] | None = None,
        fidelity: str | Mapping[str, Any] | None = "auto",
        callbacks: Sequence[Any] = (),
        plugin_manager: PluginManager | None = None,
    ) -> None:
        if isinstance(objectives, str):
            objectives = [objectives]
        if objectives is not None and not objectives:
            msg = "at least one objective is needed, e.g. objectives=['accuracy']"
            raise ConfigError(msg)
        if isinstance(constraints, str):
            constraints = [constraints]
        # Data given from Python goes to the in-memory dataset, beside the journaled options.
        data, dataset = (None, dataset) if isinstance(dataset, str) else (dataset, IN_MEMORY)
        default_budget = budget is None
        if default_budget:
            budget = {"seconds": DEFAULT_SECONDS}
        auto_fidelity = isinstance(fidelity, str) and fidelity == "auto"
        config = SearchConfig(
            task=task,
            dataset=dataset,
            dataset_options=dataset_options,
            space=_space_name(space),
            space_from_python=not (space is None or isinstance(space, str)),
            space_options=space_options,
            strategy=strategy,
            strategy_options=strategy_options,
            constraints=[str(Constraint.parse(text)) for text in constraints],
            seed=seed,
            training=TrainingSettings(epochs=epochs, patience=patience, trial_seconds=trial_seconds),
            budget=BudgetSettings.parse(budget),
            evaluator=evaluator,
            evaluator_options=evaluator_options,
            executor=executor,
            executor_options=executor_options,
            profilers=profilers,
            profiler_options=profiler_options,
            device=resolve_device(device),
            fidelity=None if auto_fidelity else _fidelity_record(fidelity, epochs),
        )
        registry = Registry(plugin_manager or get_plugin_manager())
        self._build(
            config,
            registry,
            None if objectives is None else list(objectives),
            run_dir=run_dir,
            progress=progress,
            callbacks=callbacks,
            data=data,
            space=None if isinstance(space, str) else space,
        )
        self._default_budget, self._auto_fidelity = default_budget, auto_fidelity
        self._settle_evaluator_options()
        self._choose_defaults()

    def _settle_evaluator_options(self) -> None:
        """A new run records the options its evaluator settles for this machine (``run_options``)."""
        settle = attribute("evaluator", self.evaluator, "run_options")
        if settle is None:
            return
        given = self.settings.evaluator_options
        options = dict(settle(self.settings.device))
        if options == given:
            return
        self.evaluator = self.registry.get("evaluator", self.settings.evaluator)(**options)
        self.settings = attrs.evolve(self.settings, evaluator_options=options)
        chosen = ", ".join(f"{k}={v!r}" for k, v in options.items() if given.get(k, _UNSET) != v)
        self._settled = f"evaluator {self.settings.evaluator!r} chose {chosen} for this machine (recorded with the run)"

    def _choose_defaults(self) -> None:
        """Settle what the user left to us, and say what was chosen (shown when the search starts).

        ``fidelity="auto"`` is successive halving where a seconds budget meets an
        evaluator that trains, so many candidates get a short training.
        """
        self.notes = [self._settled] if self._settled else []
        if self._default_budget:
            self.notes.append(
                f"no budget given: searching for {DEFAULT_SECONDS} s "
                f"(budget=N trials or {{'seconds': S}} to choose; --budget-seconds / --budget-trials)"
            )
        if not self._auto_fidelity:
            return
        config = self.settings
        epochs = config.training.epochs
        one_shot = attribute("strategy", self.strategy, "one_shot")
        trains = attribute("evaluator", self.evaluator, "trains")
        # The shortest training must still learn something: see MIN_RUNG_SAMPLES images.
        samples = len(getattr(self.dataset, "y_train", ()))
        min_epochs = math.ceil(MIN_RUNG_SAMPLES / samples) if samples else epochs
        eta = 3
        if config.budget.seconds is None or one_shot or not trains or min_epochs * eta > epochs:
            self.settings = attrs.evolve(config, fidelity=None)
            return
        fidelity = Fidelity.parse({"schedule": "successive-halving", "min_epochs": min_epochs, "eta": eta}, epochs)
        self.settings = attrs.evolve(config, fidelity=fidelity.to_dict())
        rungs = " → ".join(str(e) for e in fidelity.rungs)
        self.notes.append(
            f"multi-fidelity under the time budget: candidates train {rungs} epochs, the best third of each "
            f"rung moves up (fidelity='none' / --fidelity none trains every candidate {epochs} epochs)"
        )

    def _build(
        self,
        config: SearchConfig,
        registry: Registry,
        objective_specs: list[str | Objective] | None,
        *,
        run_dir: str | Path | None,
        progress: bool,
        callbacks: Sequence[Any] = (),
        data: Any = None,
        space: Any = None,
    ) -> None:
        """Build every plugin ``config`` names, then record what they tell about themselves.

        ``objective_specs`` None: the task's metric. ``space``: the space factory given
        from Python (else ``config.space`` names it).
        """
        self.registry, reg = registry, registry
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self._resuming = False
        self._budget_changed = False
        self._default_budget = self._auto_fidelity = False
        self._settled = ""
        self.notes: list[str] = []
        self.callbacks = CallbackPlugin(callbacks) if callbacks else None
        specs = [] if objective_specs is None else objective_specs
        self.objectives = [_objective(reg, spec) for spec in specs]
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            msg = f"objectives are listed twice: {names}"
            raise ConfigError(msg)
        python = [o.name for o, spec in zip(self.objectives, specs, strict=True) if not isinstance(spec, str)]
        self.constraints = [Constraint.parse(text) for text in config.constraints]
        self.evaluator = reg.get("evaluator", config.evaluator)(**config.evaluator_options)
        self.profilers = [
            _build_profiler(reg.get("profiler", name), config.profiler_options.get(name, {}), name)
            for name in config.profilers
        ]
        self._check_measurable()
        _check_not_set_by_the_search(config)
        self.dataset = _load_dataset(reg, config, data)
        task = get_task(getattr(self.dataset, "task", IMAGE_CLASSIFICATION))
        if objective_specs is None:  # the task's own metric, a registered objective
            self.objectives = [_objective(reg, task.metric)]
            self._check_measurable()
        _check_task_metrics(task, self.objectives, self.constraints)
        config = attrs.evolve(config, task=task.name, space=config.space or task.default_space)
        factory = space if space is not None else space_factory(reg, config.space)
        registered = space is None and ":" not in config.space
        self.space = _build_space(factory, config.space, self.dataset, config.space_options, registered=registered)
        self.strategy = reg.get("strategy", config.strategy)(
            self.space, self.objectives, seed=config.seed, **config.strategy_options
        )
        self.executor_factory = reg.get("executor", config.executor)
        self.settings = attrs.evolve(
            config,
            objectives=objective_records(self.objectives, python),
            dataset_summary=_summary(self.dataset, in_memory=data is not None),
            first_generation_size=attribute("strategy", self.strategy, "first_generation_size"),
        )

    # Read-only views of the settings, as attributes of the first release.
    budget = property(lambda self: self.settings.budget)
    seed = property(lambda self: self.settings.seed)
    device = property(lambda self: self.settings.device)
    training = property(lambda self: self.settings.training.budget())

    @property
    def config(self) -> dict[str, Any]:
        """The configuration as the journal records it (a fresh dict; see :attr:`settings`)."""
        return self.settings.to_dict()

    def _check_measurable(self) -> None:
        """Every objective and constraint must name something an evaluator or profiler measures."""
        known = set(attribute("evaluator", self.evaluator, "measures"))
        for profiler in self.profilers:
            known.update(attribute("profiler", profiler, "measures"))
        if not known:
            return  # a plugin that does not declare its measurements: checked per trial
        needed = [(f"objective {o.name!r}", m, known) for o in self.objectives for m in o.needs]
        # A constraint may bound a measurement or an objective (one computed in Python, say).
        bounded = known | {o.name for o in self.objectives}
        needed += [(f"constraint '{c}'", c.name, bounded) for c in self.constraints]
        for what, measurement, available in needed:
            if measurement not in available:
                msg = (
                    f"{what} needs the measurement {measurement!r}, which no evaluator or "
                    f"profiler of this search produces; measured: {', '.join(sorted(known))}"
                )
                raise ConfigError(msg)

    def _default_run_dir(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path("runs") / f"{self.settings.dataset}-{self.settings.strategy}-{stamp}"

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        *,
        progress: bool = True,
        objectives: Sequence[Objective] = (),
        callbacks: Sequence[Any] = (),
        dataset: Any = None,
        space: Any = None,
        budget: int | Mapping[str, Any] | None = None,
        plugin_manager: PluginManager | None = None,
    ) -> NeuralArchitectureSearch:
        """The search recorded in ``run_dir``, ready to continue where it stopped.

        Finished trials are never repeated; trials that were running when the process
        died run again. Without ``budget`` the run finishes the budget it was started
        with; ``budget`` (trials, or ``{"trials": N, "seconds": S}``) extends it by N
        more trials and/or S more seconds. Objectives that the run was given from Python
        (not by name) are not in the journal as code: pass them again as ``objectives``;
        so is data given from Python (``dataset``) and a space given as an object
        (``space``). Call :meth:`search` on the result.
        """
        with RunJournal.open(run_dir) as journal:
            try:
                config = SearchConfig.from_dict(journal.config())
            except ConfigError as exc:
                msg = f"run {str(run_dir)!r} cannot be resumed: {exc}; restore its journal.sqlite or start a new run"
                raise RunDirectoryError(msg) from None
        if isinstance(objectives, str | Objective) or any(isinstance(o, str) for o in objectives):
            msg = f"resume(objectives=...) takes the Objective values the run was given from Python, got {objectives!r}"
            raise ConfigError(msg)
        given = {o.name: o for o in (_objective(None, spec) for spec in objectives)}
        specs: list[str | Objective] = []
        for record in config.objectives:
            if not record.python:
                specs.append(record.name)
            elif record.name in given:
                specs.append(given[record.name])
            else:
                msg = (
                    f"run {str(run_dir)!r} optimises the objective {record.name!r}, which was given from Python; "
                    f"pass it again: NeuralArchitectureSearch.resume(run_dir, "
                    f"objectives=[Objective({record.name!r}, ...)])"
                )
                raise ConfigError(msg)
        if config.space_from_python and space is None:
            msg = (
                f"run {str(run_dir)!r} searched the space {config.space!r}, which was given from Python; "
                f"pass it again: NeuralArchitectureSearch.resume(run_dir, space=...)"
            )
            raise ConfigError(msg)
        if space is not None and _space_name(space) != config.space:
            msg = f"run {str(run_dir)!r} searched the space {config.space!r}, not {_space_name(space)!r}"
            raise ConfigError(msg)
        nas = cls.__new__(cls)
        registry = Registry(plugin_manager or get_plugin_manager())
        nas._build(
            config,
            registry,
            specs,
            run_dir=run_dir,
            progress=progress,
            callbacks=callbacks,
            data=dataset,
            space=space if config.space_from_python else None,
        )
        recorded = config.dataset_summary.get("fingerprint")
        if recorded is not None and recorded != nas.settings.dataset_summary.get("fingerprint"):
            msg = (
                f"run {str(run_dir)!r} searched other data than the dataset given now (its fingerprint "
                f"{recorded} is now {nas.settings.dataset_summary.get('fingerprint')}); pass the same arrays"
            )
            raise ConfigError(msg)
        nas._resuming = True
        if budget is not None:
            nas._extend(BudgetSettings.parse(budget))
        return nas

    def _extend(self, budget: BudgetSettings) -> None:
        """Search ``budget`` more: after a search, counted from the trials and seconds it ran."""
        if not self._resuming:  # nothing searched yet: it is simply the budget
            self.settings = attrs.evolve(self.settings, budget=budget)
            self._default_budget = False
            self._choose_defaults()
            return
        with RunJournal.open(self.run_dir) as journal:
            done, elapsed = len(journal.trials()), journal.elapsed_s
        self.settings = attrs.evolve(self.settings, budget=budget.after(done, elapsed))
        self._budget_changed = True

    def search(self, trials: int | None = None, seconds: float | None = None) -> SearchResult:
        """Run the search until the budget is spent; returns the :class:`SearchResult`.

        ``trials`` / ``seconds`` set the budget of this call: N more trials and/or S more
        seconds, counted from where the run stands, so calling ``search(trials=10)``
        again searches ten more in the same run directory (the journal records the new
        total). Without them the first call runs the constructor's budget and a later
        call finishes whatever of it is left (after Ctrl-C, say).

        Ctrl-C stops after cleaning up and re-raises KeyboardInterrupt; the run directory
        then holds every finished trial and :meth:`resume` continues it. Lifecycle
        plugins see the run through the ``search_run`` hook (a wrapper sees Ctrl-C too).
        """
        if trials is not None or seconds is not None:
            self._extend(BudgetSettings.parse({"trials": trials, "seconds": seconds}))
        run = RunInfo(
            run_dir=self.run_dir or self._default_run_dir(),
            config=self.settings,
            objectives=self.objectives,
            constraints=self.constraints,
            dataset=self.dataset,
            space=self.space,
            strategy=self.strategy,
            evaluator=self.evaluator,
            profilers=self.profilers,
            registry=self.registry,
            resumed=self._resuming,
        )
        pm = self.registry.plugin_manager
        # For this search only (the manager may be shared), and only if there are any:
        # every registered plugin costs a call per hook per trial.
        name = None if self.callbacks is None else pm.register(self.callbacks)
        try:
            with _sigterm_as_interrupt():
                result = pm.hook.search_run.call_extra([self._run_engine], {"run": run})
            pm.hook.on_search_end(run=run, result=result)
        finally:
            if name is not None:
                pm.unregister(self.callbacks, name)
        return result

    def _run_engine(self, run: RunInfo) -> SearchResult:
        """The engine's own ``search_run``: open the journal, run the loop, close the journal."""
        from .engine import SearchEngine

        if run.resumed:
            journal = RunJournal.open(run.run_dir)
            journal.lock()
        else:
            journal = RunJournal.create(run.run_dir, run.config.to_dict())
            # From now on the run exists: searching again continues it.
            self.run_dir, self._resuming = run.run_dir, True
        try:
            if self._budget_changed:
                journal.update_config(run.config.to_dict())
                self._budget_changed = False
            executor = self.executor_factory(**run.config.executor_options)
            notes, self.notes = self.notes, []  # said once, when the run starts
            return SearchEngine(run, journal, executor, progress=self.progress, notes=notes).run()
        finally:
            journal.close()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While searching, SIGTERM stops the search like Ctrl-C (:class:`~automl_codegen.errors.Terminated`).

    Only where nobody else handles SIGTERM (the default action, in the main thread): a
    program with its own handler keeps it.
    """
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(_signum: int, _frame: Any) -> None:
        raise Terminated("terminated by SIGTERM")

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _space_name(space: Any) -> str | None:
    """What the journal records of ``space``: a name, ``module:attribute``, or a factory's ``name``."""
    if space is None or isinstance(space, str):
        return space
    name = getattr(space, "name", None)
    if not callable(space) or not isinstance(name, str):
        msg = (
            f"space= takes a registered name, 'package.module:attribute', or a space factory with a "
            f"name (an automl_codegen.model_space.ModelSpace); got {type(space).__name__}"
        )
        raise ConfigError(msg)
    return name


def space_factory(registry: Registry, spec: str) -> Any:
    """The registered space ``spec``, or the factory ``package.module:attribute`` names."""
    if ":" not in spec:
        return registry.get("search_space", spec)
    module_name, _, attribute_name = spec.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not attribute_name.isidentifier():
        msg = f"space {spec!r}: write package.module:attribute, e.g. my_spaces:wide_mlp"
        raise ConfigError(msg)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"space {spec!r}: cannot import {module_name!r} ({exc}); is it installed or on PYTHONPATH?"
        raise ConfigError(msg) from None
    except Exception as exc:  # the user's module failed while it was imported: its error, in one line
        msg = f"space {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {str(exc)[:200]}"
        raise ConfigError(msg) from None
    factory = getattr(module, attribute_name, None)
    if factory is None or not callable(factory):
        msg = f"space {spec!r}: module {module_name!r} has no space factory {attribute_name!r}"
        raise ConfigError(msg)
    return factory


#: What the engine and the strategies call on a space (see SearchSpaceProtocol).
_SPACE_METHODS = ("choices", "encode", "decode", "to_architecture", "sample", "mutate", "crossover", "key")


def _build_space(factory: Any, name: str, dataset: Any, options: Mapping[str, Any], *, registered: bool) -> Any:
    """The space ``factory`` makes for ``dataset``, checked to be one: a ``module:attribute``
    or an object from Python may name any callable, and a wrong one should say so, not
    fail inside the first strategy call."""
    try:
        space = factory(dataset.input_shape, dataset.num_classes, **options)
    except TypeError as exc:
        if registered:
            raise  # a registered factory's own bug, not a wrong name: shown as an internal error
        msg = (
            f"space {name!r}: calling it as a space factory, with the input shape and the class count, "
            f"failed ({type(exc).__name__}: {str(exc)[:200]}); name a SearchSpace class, a ModelSpace, or a "
            f"function (input_shape, num_classes) -> SearchSpace"
        )
        raise ConfigError(msg) from None
    missing = [method for method in _SPACE_METHODS if not callable(getattr(space, method, None))]
    if missing:
        msg = (
            f"space {name!r} made a {type(space).__name__}, not a search space (it has no "
            f"{', '.join(missing)}); a space factory returns an automl_codegen.SearchSpace"
        )
        raise ConfigError(msg)
    return space


def _load_dataset(registry: Registry, config: SearchConfig, data: Any) -> Any:
    """The dataset ``config`` names, asked for ``config.task`` where it takes one, and checked against it."""
    loader = registry.get("dataset", config.dataset)
    given = {} if data is None else {"data": data}
    options = getattr(loader, "Options", None)
    takes_task = attrs.has(options) and "task" in attrs.fields_dict(options)
    if config.task is not None and takes_task and "task" not in config.dataset_options:
        given["task"] = config.task
    dataset = loader(seed=config.seed, **config.dataset_options, **given)
    task = getattr(dataset, "task", IMAGE_CLASSIFICATION)
    if config.task is not None and task != config.task:
        msg = (
            f"task={config.task!r}, but dataset {config.dataset!r} holds {get_task(task).inputs} "
            f"for {task!r}; leave task out or give a dataset for {config.task!r}"
        )
        raise ConfigError(msg)
    return dataset


def _check_task_metrics(task: Task, objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> None:
    """Accuracy is not measured when regressing, nor mse when classifying: say so before any trial."""
    wanted = [(f"objective {o.name!r}", name) for o in objectives for name in o.needs]
    wanted += [(f"constraint '{c}'", c.name) for c in constraints]
    for what, name in wanted:
        if name in TASK_METRICS and name not in task.metrics:
            msg = (
                f"{what} needs {name!r}, which task {task.name!r} does not measure; "
                f"it measures {', '.join(task.metrics)}"
            )
            raise ConfigError(msg)


def _summary(dataset: Any, *, in_memory: bool) -> dict[str, Any]:
    """The dataset's summary; data given from Python adds its fingerprint for resume to check."""
    summary = dataset.summary()
    if in_memory:
        summary["fingerprint"] = dataset.fingerprint()
    return summary


def _objective(registry: Registry | None, spec: Any) -> Objective:
    """A registered objective by name, one given from Python, or a ``(function, direction)`` pair."""
    if isinstance(spec, Objective):
        return spec
    if isinstance(spec, str) and registry is not None:
        return registry.get("objective", spec)
    if isinstance(spec, tuple) and len(spec) == 2 and any(callable(part) for part in spec):
        function = next(part for part in spec if callable(part))
        name = getattr(function, "__name__", "")
        if not name.isidentifier():
            msg = (
                f"objective {spec!r}: a function without a usable name (a lambda, say) needs one; "
                f"write Objective('name', fn, direction='max')"
            )
            raise ConfigError(msg)
        return Objective(name, *spec)
    msg = (
        f"objectives takes names, (function, 'min' | 'max') pairs and automl_codegen.Objective values, "
        f"got {spec!r}; wrap a function as Objective('name', fn, direction='max', needs=['accuracy', 'params'])"
    )
    raise ConfigError(msg)


def _fidelity_record(fidelity: str | Mapping[str, Any] | None, epochs: Any) -> dict[str, Any] | None:
    if isinstance(fidelity, str) and fidelity == "none":
        return None
    parsed = Fidelity.parse(fidelity, epochs)
    return None if parsed is None else parsed.to_dict()


#: Arguments the search passes to each plugin itself; an option of the same name would
#: be passed twice (a TypeError deep in the call, before this check).
_SET_BY_THE_SEARCH = {
    "dataset": ("dataset_options", ("seed", "data"), "the search's seed and data"),
    "search space": ("space_options", ("input_shape", "num_classes"), "the dataset"),
    "strategy": ("strategy_options", ("space", "objectives", "seed"), "the search's space, objectives and seed"),
}


def _check_not_set_by_the_search(config: SearchConfig) -> None:
    for kind, (field, names, source) in _SET_BY_THE_SEARCH.items():
        taken = sorted(set(getattr(config, field)) & set(names))
        if taken:
            msg = f"{kind} option {taken[0]!r} is set by the search itself (from {source}); leave it out"
            raise ConfigError(msg)


def _build_profiler(registered: Any, options: Mapping[str, Any], name: str) -> Any:
    """A profiler from its factory; a profiler *object* (the first release's contract) as it is."""
    if isinstance(registered, type) or not hasattr(registered, "profile"):
        return registered(**dict(options))
    if options:
        msg = f"profiler {name!r} takes no options (it was registered as an object, not a factory)"
        raise ConfigError(msg)
    return registered
