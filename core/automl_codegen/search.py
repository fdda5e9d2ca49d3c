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

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .callbacks import CallbackPlugin
from .config import BudgetSettings, SearchConfig, TrainingSettings, objective_records, resolve_device
from .errors import ConfigError
from .fidelity import Fidelity
from .journal import RunJournal
from .objective import Constraint, Objective
from .plugins import PluginManager, Registry, get_plugin_manager
from .protocols import attribute
from .result import SearchResult
from .run import RunInfo

__all__ = ["IN_MEMORY", "NeuralArchitectureSearch", "SearchResult"]

#: The dataset name of data given from Python (``dataset=(x, y)`` and the like).
IN_MEMORY = "in-memory"


class NeuralArchitectureSearch:
    """Finds architectures for a dataset under objectives and constraints.

    Args:
        task: only ``"image_classification"`` for now.
        dataset: a registered dataset name (``digits`` is embedded, ``synthetic`` for tests), or
            data from Python: ``(x, y)`` arrays or tensors (split with ``seed``), a dict
            ``{"train": (x, y), "validation": ..., "test": ...}``, a torch ``Dataset`` of
            ``(x, y)`` items, or an :class:`~automl_codegen.Dataset`. ``resume`` needs it again.
        space: a registered search space (``chain-cnn``).
        strategy: a registered strategy (``evolution``).
        objectives: registered objective names, or :class:`~automl_codegen.Objective` values
            defined in Python (``Objective("acc_per_kparam", "max", compute=fn,
            requires=("accuracy", "params"))``); the first one picks ``result.best``.
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
        device: ``"auto"`` (CUDA when torch sees a device, else the CPU), ``"cpu"``,
            ``"cuda"`` or ``"cuda:N"``; the journal records the device chosen.
        callbacks: objects with any of the :class:`~automl_codegen.Callback` methods
            (trial started/ended, new best, search start and end, Ctrl-C included).
        *_options: keyword options passed to the respective plugin.
        plugin_manager: a custom :class:`~automl_codegen.plugins.PluginManager` (tests).
    """

    def __init__(
        self,
        task: str = "image_classification",
        dataset: str | Any = "digits",
        *,
        space: str = "chain-cnn",
        strategy: str = "evolution",
        objectives: Sequence[str | Objective] = ("accuracy",),
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
        fidelity: str | Mapping[str, Any] | None = None,
        callbacks: Sequence[Any] = (),
        plugin_manager: PluginManager | None = None,
    ) -> None:
        if isinstance(objectives, str):
            objectives = [objectives]
        if not objectives:
            msg = "at least one objective is needed, e.g. objectives=['accuracy']"
            raise ConfigError(msg)
        if isinstance(constraints, str):
            constraints = [constraints]
        # Data given from Python goes to the in-memory dataset, beside the journaled options.
        data, dataset = (None, dataset) if isinstance(dataset, str) else (dataset, IN_MEMORY)
        config = SearchConfig(
            task=task,
            dataset=dataset,
            dataset_options=dataset_options,
            space=space,
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
            fidelity=_fidelity_record(fidelity, epochs),
        )
        registry = Registry(plugin_manager or get_plugin_manager())
        self._build(
            config, registry, list(objectives), run_dir=run_dir, progress=progress, callbacks=callbacks, data=data
        )

    def _build(
        self,
        config: SearchConfig,
        registry: Registry,
        objective_specs: list[str | Objective],
        *,
        run_dir: str | Path | None,
        progress: bool,
        callbacks: Sequence[Any] = (),
        data: Any = None,
    ) -> None:
        """Build every plugin ``config`` names, then record what they tell about themselves."""
        self.registry, reg = registry, registry
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self._resuming = False
        self.callbacks = CallbackPlugin(callbacks) if callbacks else None
        self.objectives = [_objective(reg, spec) for spec in objective_specs]
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            msg = f"objectives are listed twice: {names}"
            raise ConfigError(msg)
        python = [spec.name for spec in objective_specs if isinstance(spec, Objective)]
        self.constraints = [Constraint.parse(text) for text in config.constraints]
        self.evaluator = reg.get("evaluator", config.evaluator)(**config.evaluator_options)
        self.profilers = [
            _build_profiler(reg.get("profiler", name), config.profiler_options.get(name, {}), name)
            for name in config.profilers
        ]
        self._check_measurable()
        given = {} if data is None else {"data": data}
        self.dataset = reg.get("dataset", config.dataset)(seed=config.seed, **config.dataset_options, **given)
        self.space = reg.get("search_space", config.space)(
            self.dataset.input_shape, self.dataset.num_classes, **config.space_options
        )
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
        plugin_manager: PluginManager | None = None,
    ) -> NeuralArchitectureSearch:
        """The search recorded in ``run_dir``, ready to continue where it stopped.

        Finished trials are never repeated; trials that were running when the process
        died run again. Objectives that the run was given from Python (not by name) are
        not in the journal as code: pass them again as ``objectives``. Call
        :meth:`search` on the result.
        """
        with RunJournal.open(run_dir) as journal:
            config = SearchConfig.from_dict(journal.config())
        if isinstance(objectives, str | Objective) or not all(isinstance(o, Objective) for o in objectives):
            msg = f"resume(objectives=...) takes the Objective values the run was given from Python, got {objectives!r}"
            raise ConfigError(msg)
        given = {o.name: o for o in objectives}
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
        nas = cls.__new__(cls)
        registry = Registry(plugin_manager or get_plugin_manager())
        nas._build(config, registry, specs, run_dir=run_dir, progress=progress, callbacks=callbacks, data=dataset)
        recorded = config.dataset_summary.get("fingerprint")
        if recorded is not None and recorded != nas.settings.dataset_summary.get("fingerprint"):
            msg = (
                f"run {str(run_dir)!r} searched other data than the dataset given now (its fingerprint "
                f"{recorded} is now {nas.settings.dataset_summary.get('fingerprint')}); pass the same arrays"
            )
            raise ConfigError(msg)
        nas._resuming = True
        return nas

    def search(self) -> SearchResult:
        """Run the search until the budget is spent; returns the :class:`SearchResult`.

        Ctrl-C stops after cleaning up and re-raises KeyboardInterrupt; the run directory
        then holds every finished trial and :meth:`resume` continues it. Lifecycle
        plugins see the run through the ``search_run`` hook (a wrapper sees Ctrl-C too).
        """
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
        try:
            executor = self.executor_factory(**run.config.executor_options)
            return SearchEngine(run, journal, executor, progress=self.progress).run()
        finally:
            journal.close()


def _summary(dataset: Any, *, in_memory: bool) -> dict[str, Any]:
    """The dataset's summary; data given from Python adds its fingerprint for resume to check."""
    summary = dataset.summary()
    if in_memory:
        summary["fingerprint"] = dataset.fingerprint()
    return summary


def _objective(registry: Registry, spec: Any) -> Objective:
    """A registered objective by name, or one given from Python as an :class:`Objective`."""
    if isinstance(spec, Objective):
        return spec
    if isinstance(spec, str):
        return registry.get("objective", spec)
    msg = (
        f"objectives takes names and automl_codegen.Objective values, got {spec!r}; wrap a function as "
        f"Objective('name', 'max', compute=fn, requires=('accuracy', 'params'))"
    )
    raise ConfigError(msg)


def _fidelity_record(fidelity: str | Mapping[str, Any] | None, epochs: Any) -> dict[str, Any] | None:
    parsed = Fidelity.parse(fidelity, epochs)
    return None if parsed is None else parsed.to_dict()


def _build_profiler(registered: Any, options: Mapping[str, Any], name: str) -> Any:
    """A profiler from its factory; a profiler *object* (the first release's contract) as it is."""
    if isinstance(registered, type) or not hasattr(registered, "profile"):
        return registered(**dict(options))
    if options:
        msg = f"profiler {name!r} takes no options (it was registered as an object, not a factory)"
        raise ConfigError(msg)
    return registered
