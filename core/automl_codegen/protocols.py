"""What each kind of plugin implements, and what the engine guarantees in return.

This is the one place a plugin author reads. Every registry hook in
:mod:`automl_codegen.hookspecs` registers one of the kinds below; each protocol lists
the methods the engine calls and every optional attribute it reads, with its default
and meaning. The base classes :class:`automl_codegen.Strategy`,
:class:`automl_codegen.OneShotStrategy` and :class:`automl_codegen.SearchSpace` implement
the protocols' bookkeeping; a plugin may use them or write the methods itself.

What is registered, per hook:

============================  ==========================================================
hook                          ``register(name, X)`` with X
============================  ==========================================================
``register_strategies``       a :class:`StrategyFactory` (usually the strategy class)
``register_search_spaces``    a :class:`SpaceFactory` (usually the space class)
``register_objectives``       an :class:`automl_codegen.Objective` (a value)
``register_profilers``        a :class:`ProfilerFactory` (usually the profiler class)
``register_emitters``         an :class:`Emitter` (an object)
``register_datasets``         a :class:`DatasetLoader` (a function)
``register_evaluators``       an :class:`EvaluatorFactory` (usually the evaluator class)
``register_executors``        an :class:`ExecutorFactory` (usually the executor class)
============================  ==========================================================

A factory is called with the plugin's options as keyword arguments (``--strategy-option
population_size=20`` becomes ``population_size=20``); a plugin that declares its options
as a frozen attrs class (see :mod:`automl_codegen.options`) exposes it as ``Options`` so
``automl-codegen plugins`` lists them.

What the engine guarantees to a strategy
----------------------------------------
* **One engine, one thread.** ``ask``, ``tell``, ``state_dict`` and ``load_state_dict``
  are called from the thread that runs the search, never concurrently.
* **Ask, then tell.** ``ask(n)`` is called with ``n >= 1`` whenever an executor slot is
  free (``n`` is 1 today; a strategy must accept any ``n``). An empty list ends the
  search ("nothing more to propose"). Every genotype asked is evaluated exactly once and
  told exactly once, failed trials included, in the order trials finish (by trial number
  among those that finish together). With one slot (the ``local`` executor) that is
  strictly ask 1, tell 1, ask 1, ...; with ``k`` slots up to ``k`` asks are outstanding.
* **State after every tell.** ``state_dict()`` is called after each ``tell`` and stored
  in the journal in the same transaction as the trial it follows, so the state on disk
  always matches the trials on disk. It must be JSON-compatible (strict JSON: no NaN).
* **Resume.** After a crash or Ctrl-C the engine builds a new strategy with the same
  arguments, calls ``load_state_dict`` with the state saved after the last finished
  trial, and then asks again for the trials that had not finished: they are *re-asked*,
  not replayed, so a strategy whose randomness comes only from the ``rng`` it saves
  proposes exactly what the uninterrupted run would have with one slot. Draw every
  random number from ``self.rng`` (a :class:`numpy.random.Generator` the base class
  seeds with ``seed`` and saves in ``state_dict``).
* **Trials are values.** A :class:`automl_codegen.Trial` is frozen; a strategy keeps
  what it needs of it (number, genotype, ``loss_vector(objectives)``,
  ``constraint_violation``, ``ok``).
* **One-shot.** A :class:`OneShotStrategyProtocol` is asked nothing until its supernet is
  trained: the engine calls ``train_supernet(context)`` once (again after a resume while
  ``supernet_trained`` is false), then asks it for the architectures to retrain.

Optional attributes are read with :func:`attribute`, which applies the defaults listed in
:data:`OPTIONAL_ATTRIBUTES`; nothing else in the engine guesses at a plugin's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from .architecture import Architecture
    from .evaluation import Dataset, Evaluation, EvaluationContext
    from .objective import Objective
    from .strategy import SupernetContext
    from .supernet import SupernetDescription
    from .trial import Trial

__all__ = [
    "OPTIONAL_ATTRIBUTES",
    "DatasetLoader",
    "Emitter",
    "Evaluator",
    "EvaluatorFactory",
    "Executor",
    "ExecutorFactory",
    "ExportMetadata",
    "Lifecycle",
    "OneShotSpace",
    "OneShotStrategyProtocol",
    "Profiler",
    "ProfilerFactory",
    "SearchSpaceProtocol",
    "SpaceFactory",
    "StrategyFactory",
    "StrategyProtocol",
    "attribute",
]

Genotype = Any  # JSON-compatible: dicts, lists, strings, numbers


# -- strategies ----------------------------------------------------------------------------


@runtime_checkable
class StrategyProtocol(Protocol):
    """An ask/tell search strategy (see "What the engine guarantees" above).

    Optional attributes (defaults in :data:`OPTIONAL_ATTRIBUTES`):
        first_generation_size: how many trials the strategy proposes before it has
            learnt anything (evolution's random population, rl's first batch). Summaries
            and reports compare the best of these with the final best; ``None`` means
            the strategy has no such phase, and the summary compares with the first
            tenth of the trials instead. Strategies written before this attribute
            existed are read through ``population_size``.
        one_shot: ``True`` for a :class:`OneShotStrategyProtocol`.
        drain_events(): events for the run report, as ``[(kind, step, values)]`` since
            the last call; the engine journals them after every tell (a step logged again
            after a resume replaces the earlier record). The base class's ``emit(kind,
            step, **values)`` collects them. Default: none.
    """

    def ask(self, n: int) -> list[Genotype]:
        """Up to ``n`` genotypes to evaluate next; an empty list ends the search."""

    def tell(self, trials: Sequence[Trial]) -> None:
        """Learn from finished trials (failed ones included)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-compatible state from which :meth:`load_state_dict` restores this exact strategy."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (possibly by an older version of the plugin)."""


@runtime_checkable
class OneShotStrategyProtocol(StrategyProtocol, Protocol):
    """A strategy that trains a weight-sharing supernet before proposing anything.

    ``train_supernet`` trains through the :class:`automl_codegen.SupernetContext` it is
    given and calls ``context.checkpoint()`` after every epoch, so a killed run resumes
    from its last finished epoch; ``supernet_trained`` is part of the saved state. Then
    ``ask`` returns the derived architectures, which the engine retrains from scratch,
    profiles and records like any other trial.
    """

    one_shot: bool

    @property
    def supernet_trained(self) -> bool:
        """Whether the supernet phase is over."""

    def train_supernet(self, context: SupernetContext) -> None:
        """Train the supernet within ``context``; checkpoint after every epoch."""


class StrategyFactory(Protocol):
    """What ``register_strategies`` registers: usually the strategy class itself.

    ``space`` is the built search space, ``objectives`` the run's objectives (the first
    is the primary one), ``seed`` a non-negative int; ``options`` are the user's
    ``--strategy-option`` values. Unknown options must raise
    :class:`automl_codegen.ConfigError` naming them.
    """

    def __call__(
        self, space: Any, objectives: Sequence[Objective], *, seed: int, **options: Any
    ) -> StrategyProtocol: ...


# -- search spaces -------------------------------------------------------------------------


@runtime_checkable
class SearchSpaceProtocol(Protocol):
    """Turns genotypes into architectures; what every multi-trial strategy searches.

    :class:`automl_codegen.SearchSpace` derives ``sample``, ``mutate``, ``crossover``,
    ``key``, ``size`` and ``describe`` from ``choices``/``encode``/``decode``.

    Optional attributes:
        parse_genotype(text): a genotype from the text a user types after
            ``generate --genotype``; default :func:`json.loads`.
        name: shown in messages; default the class name.
    """

    input_shape: tuple[int, ...]
    num_classes: int

    def choices(self) -> list[Any]:
        """The categorical decisions (:class:`automl_codegen.Choice`), in a fixed order."""

    def encode(self, genotype: Genotype) -> list[int]:
        """One option index per choice."""

    def decode(self, indices: Sequence[int]) -> Genotype:
        """The genotype with option ``indices[i]`` for choice ``i``."""

    def to_architecture(self, genotype: Genotype) -> Architecture:
        """Lower a genotype to the IR; raise :class:`automl_codegen.ArchitectureError` or
        :class:`automl_codegen.ConfigError` for a genotype that is not of this space."""

    def sample(self, rng: np.random.Generator) -> Genotype:
        """A random genotype, drawn from ``rng`` only."""

    def mutate(self, genotype: Genotype, rng: np.random.Generator, rate: float | None = None) -> Genotype:
        """A genotype that differs from ``genotype``."""

    def crossover(self, a: Genotype, b: Genotype, rng: np.random.Generator) -> Genotype:
        """A child of ``a`` and ``b``."""

    def key(self, genotype: Genotype) -> str:
        """A canonical string: two genotypes that lower to the same network share it."""


@runtime_checkable
class OneShotSpace(SearchSpaceProtocol, Protocol):
    """A cell space that one-shot strategies (``darts``, ``enas``) can search.

    The supernet is described in IR terms (:class:`automl_codegen.supernet.SupernetDescription`),
    so a third-party cell space needs no import from the built-in plugins.
    """

    def supernet_description(self, *, partial_channels: int = 1, **sizes: Any) -> SupernetDescription:
        """The supernet for ``sizes`` (the strategy's width/depth options)."""

    def genotype_from_weights(self, weights: Mapping[str, Any]) -> Genotype:
        """The genotype a trained supernet's architecture weights (one matrix per cell kind) choose."""

    def genotype_weights(self, genotype: Genotype) -> dict[str, list[list[float]]]:
        """One-hot architecture weights selecting ``genotype`` (the inverse of the above)."""


class SpaceFactory(Protocol):
    """What ``register_search_spaces`` registers: ``factory(input_shape, num_classes, **options)``."""

    def __call__(self, input_shape: Sequence[int], num_classes: int, **options: Any) -> SearchSpaceProtocol: ...


# -- evaluation ----------------------------------------------------------------------------


@runtime_checkable
class Evaluator(Protocol):
    """Scores one architecture: trains and profiles it, or looks it up.

    ``evaluate`` runs in the executor's worker (another process for ``process`` and
    Ray), so the evaluator must pickle. It returns an :class:`automl_codegen.Evaluation`
    with the measurements (floats) and, optionally, the trained weights; raising fails
    the trial, not the search.

    Optional attributes:
        measures: the measurement names ``evaluate`` produces (besides the profilers'),
            so a misspelt objective fails before the first trial; default ``()`` (not
            checked).
        needs_architecture: ``False`` for an evaluator that looks the genotype up
            (``context.genotype``) and never reads the architecture; it then gets
            ``None``. Default ``True``.
        final_training: ``True`` if ``evaluate`` honours ``context.final`` (train on
            training + validation data for the whole budget, report test figures), which
            ``SearchResult.retrain`` needs. Default ``False``.
        trains: ``True`` if ``evaluate`` trains for ``context.budget.epochs`` and stops
            once ``context.budget.max_seconds`` have passed (within a batch or so): a
            search under a seconds budget then schedules epochs (multi-fidelity) by
            default and relies on the cap to end on time. Default ``False``.
        run_options(device): the evaluator's options with what depends on the machine
            filled in for a new run (the ``train`` evaluator: torch threads where other
            processes keep cores busy); the run records them, so a resumed run gets the
            same. Default: none.
        save_weights(state_dict, path) / load_weights(path): how the weights that
            ``evaluate`` returns are written to and read from the run directory; the
            core never imports a framework. Default: none (an evaluator that returns
            weights without them is saved with ``torch.save``, deprecated).
    """

    def evaluate(self, architecture: Architecture | None, context: EvaluationContext) -> Evaluation: ...


class EvaluatorFactory(Protocol):
    """What ``register_evaluators`` registers: ``factory(**options)``."""

    def __call__(self, **options: Any) -> Evaluator: ...


@runtime_checkable
class Profiler(Protocol):
    """Measures a built model on a device: latency, memory, parameters, FLOPs, ...

    ``profile`` is called in the evaluator (the ``train`` evaluator calls each profiler
    after training) with the built ``torch.nn.Module``; it returns
    ``{measurement_name: float}``.

    Optional attributes:
        measures: the names it produces; default ``()``.
        needs_context: ``True`` to be called with ``context=`` the trial's
            :class:`automl_codegen.EvaluationContext` too (a table lookup by genotype).
            Default ``False``.
    """

    def profile(self, model: Any, architecture: Architecture, device: str) -> dict[str, float]: ...


class ProfilerFactory(Protocol):
    """What ``register_profilers`` registers: ``factory(**options)``, usually the class.

    Plugins written against the first release registered a profiler *object* (anything
    with ``profile`` that is not a class); it is still accepted, used as it is, and takes
    no options.
    """

    def __call__(self, **options: Any) -> Profiler: ...


class DatasetLoader(Protocol):
    """What ``register_datasets`` registers: ``loader(*, seed, **options)``.

    Returns an :class:`automl_codegen.Dataset` split into train/validation/test with
    ``seed`` (the same seed gives the same split), inputs float32 and normalised, with
    ``normalization`` recording how (for the generated code's docstring).
    """

    def __call__(self, *, seed: int, **options: Any) -> Dataset: ...


# -- where trials run ----------------------------------------------------------------------


@runtime_checkable
class Executor(Protocol):
    """Runs trials: the :class:`concurrent.futures.Executor` methods the engine uses.

    ``submit(fn, *args)`` returns a :class:`concurrent.futures.Future`; a future that
    raises (a worker died) fails that trial, not the search. ``shutdown(wait=True)`` is
    called once at the end. When a search is interrupted, the engine first cancels the
    futures it will not record and then calls ``shutdown(wait=True, cancel_futures=True)``
    if the executor's ``shutdown`` accepts ``cancel_futures`` (so running trials can be
    killed), else ``shutdown(wait=True)``.

    Optional attributes:
        max_workers: how many trials to keep running at once; default 1.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future: ...

    def shutdown(self, wait: bool = True) -> None: ...


class ExecutorFactory(Protocol):
    """What ``register_executors`` registers: ``factory(**options)``."""

    def __call__(self, **options: Any) -> Executor: ...


# -- code emitters -------------------------------------------------------------------------


class ExportMetadata(TypedDict, total=False):
    """What an emitter is told about the network it writes (all keys may be missing).

    Keys:
        input: ``{"shape": [...], "dtype": "float32", "normalization": text,
            "preprocess": ..., "tabular": ...}``. ``preprocess`` (images and sequences:
            ``{"scale", "mean", "std"}``, numbers or one per channel) and ``tabular`` (a
            table's recorded ``normalization``: ``columns``, ``classes``, ``target``; see
            :mod:`automl_codegen_plugins.datasets.csv`) are what an emitter needs to write
            preprocessing as code; either may be None.
        metrics: the trial's reported measurements (``accuracy``, ``latency_ms``, ...).
        dataset / strategy / space: the names the run used.
        trial: the trial number.
        genotype: the trial's genotype.
        task: the run's task when it is not ``image_classification`` (see
            :mod:`automl_codegen.tasks`), so a regression network is described as one.
        data: for data given from Python, its description (layout as given).
    """

    input: dict[str, Any]
    metrics: dict[str, float]
    dataset: str
    strategy: str
    space: str
    trial: int
    genotype: Any
    task: str
    data: str


@runtime_checkable
class Emitter(Protocol):
    """Writes an architecture out as standalone source code.

    The code must import only its framework, be deterministic (the same input gives
    byte-identical output) and, given the weights, compute what the trained model did.

    Optional attributes:
        file_name: the module's file name, for reports that show the code; default
            ``"model.py"``.
        artifact: ``True`` for an emitter whose file is a deployment artifact (an ONNX
            or TFLite model, weights included), not the text ``render`` returns; default
            ``False``. ``render`` then returns a readable, deterministic description.
    """

    def render(self, architecture: Architecture, metadata: ExportMetadata | None = None) -> str:
        """The source of one standalone module."""

    def export(
        self, architecture: Architecture, out_dir: Path, state_dict: Any, metadata: ExportMetadata | None = None
    ) -> list[Path]:
        """Write the module (and the weights, if ``state_dict`` is given); the paths written."""


# -- lifecycle -----------------------------------------------------------------------------


class Lifecycle(Protocol):
    """Hooks around a search, for loggers and early stopping (see :mod:`automl_codegen.hookspecs`).

    Each receives ``run``, an immutable :class:`automl_codegen.RunInfo`. A plugin
    implements any of them as module functions or methods marked ``@hookimpl``:

    * ``search_run(run)`` as a wrapper (``@hookimpl(wrapper=True)``, ``result = yield``)
      sees the whole run, including Ctrl-C, SIGTERM and faults, as exceptions thrown at
      its ``yield``;
    * ``on_search_start(run)`` before the first trial;
    * ``on_trial_start(run, number, genotype)`` when a trial is journaled as started;
    * ``on_trial_end(run, trial)`` after each trial is journaled; return ``True`` to stop;
    * ``on_new_best(run, trial)`` when ``trial`` becomes the best so far;
    * ``on_search_end(run, result)`` after a search that ended normally.

    Users who will not write a plugin pass the same events from Python as
    ``callbacks=[...]`` (:class:`automl_codegen.Callback`).
    """


# -- optional attributes -------------------------------------------------------------------

#: (kind, attribute) -> default, for every optional attribute the engine reads.
OPTIONAL_ATTRIBUTES: dict[tuple[str, str], Any] = {
    ("strategy", "first_generation_size"): None,
    ("strategy", "one_shot"): False,
    ("strategy", "drain_events"): None,
    ("search_space", "parse_genotype"): None,
    ("emitter", "artifact"): False,
    ("evaluator", "measures"): (),
    ("evaluator", "needs_architecture"): True,
    ("evaluator", "final_training"): False,
    ("evaluator", "trains"): False,
    ("evaluator", "run_options"): None,
    ("evaluator", "save_weights"): None,
    ("evaluator", "load_weights"): None,
    ("profiler", "measures"): (),
    ("profiler", "needs_context"): False,
    ("executor", "max_workers"): 1,
    ("emitter", "file_name"): "model.py",
}

# Attributes that plugins of the first release used for the same purpose.
_FORMER_NAMES = {("strategy", "first_generation_size"): "population_size"}


def attribute(kind: str, plugin: object, name: str) -> Any:
    """The optional attribute ``name`` of a ``kind`` plugin, or its documented default.

    Raises:
        KeyError: ``(kind, name)`` is not an optional attribute of this contract (a typo
            in the engine, not a user error).
    """
    default = OPTIONAL_ATTRIBUTES[(kind, name)]
    value = getattr(plugin, name, _MISSING)
    if value in (_MISSING, None) and (kind, name) in _FORMER_NAMES:
        value = getattr(plugin, _FORMER_NAMES[(kind, name)], _MISSING)
    return default if value is _MISSING else value


_MISSING = object()
