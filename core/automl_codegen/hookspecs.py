"""Every hook a plugin can implement.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match
the stubs below, declared under the ``automl_codegen`` entry-point group. Built-in
plugins are registered exactly like a third-party package's.

Registry hooks receive a ``register`` callback and call it once per thing they add::

    @hookimpl
    def register_strategies(register):
        register("random", RandomSearch)

The host records which plugin registered each name and refuses a second registration
of the same name, naming both plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("automl_codegen")
hookimpl = pluggy.HookimplMarker("automl_codegen")

# -- registries --------------------------------------------------------------------------
# Called once when the registries are built. What each kind must implement, with every
# optional attribute and its default, is in :mod:`automl_codegen.protocols`.


@hookspec
def register_strategies(register):
    """Add search strategies: ``register(name, factory)``.

    ``factory(space, objectives, *, seed, **options)`` returns a
    :class:`~automl_codegen.protocols.StrategyProtocol` (subclass
    :class:`automl_codegen.Strategy` or :class:`automl_codegen.OneShotStrategy`).
    """


@hookspec
def register_search_spaces(register):
    """Add search spaces: ``register(name, factory)``.

    ``factory(input_shape, num_classes, **options)`` returns a
    :class:`~automl_codegen.protocols.SearchSpaceProtocol` (subclass
    :class:`automl_codegen.SearchSpace`); one that one-shot strategies can search also
    implements :class:`~automl_codegen.protocols.OneShotSpace`.
    """


@hookspec
def register_objectives(register):
    """Add objectives: ``register(name, objective)`` with an :class:`automl_codegen.Objective`."""


@hookspec
def register_profilers(register):
    """Add profilers: ``register(name, factory)``.

    ``factory(**options)`` returns a :class:`~automl_codegen.protocols.Profiler`
    (``profile(model, architecture, device) -> {measurement: float}``).
    """


@hookspec
def register_emitters(register):
    """Add code emitters: ``register(name, emitter)`` with an :class:`~automl_codegen.protocols.Emitter` object."""


@hookspec
def register_datasets(register):
    """Add datasets: ``register(name, loader)`` with a :class:`~automl_codegen.protocols.DatasetLoader`."""


@hookspec
def register_evaluators(register):
    """Add trial evaluators: ``register(name, factory)``.

    ``factory(**options)`` returns an :class:`~automl_codegen.protocols.Evaluator`
    (``evaluate(architecture, context) -> Evaluation``).
    """


@hookspec
def register_executors(register):
    """Add executors, where trials run: ``register(name, factory)``.

    ``factory(**options)`` returns an :class:`~automl_codegen.protocols.Executor`
    (``submit(fn, *args)``, ``shutdown(wait=True)``, optional ``max_workers``).
    """


# -- lifecycle ---------------------------------------------------------------------------
# ``run`` is an immutable :class:`automl_codegen.RunInfo`; see
# :class:`automl_codegen.protocols.Lifecycle`.


@hookspec(firstresult=True)
def search_run(run):
    """The whole search, from before the first trial to after the last.

    Implement it as a wrapper to see the run end however it ends::

        @hookimpl(wrapper=True)
        def search_run(run):
            started = time.time()
            try:
                return (yield)          # the SearchResult
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the journal is closed and intact
                ...
                raise

    The engine's own implementation runs the search; a wrapper must re-raise what it
    catches and return what the ``yield`` gave.
    """


@hookspec
def on_search_start(run):
    """Called once before the first trial (after the supernet of a resumed one-shot run)."""


@hookspec
def on_trial_start(run, number, genotype):
    """Called when trial ``number`` is journaled as started, before the executor runs it."""


@hookspec
def on_new_best(run, trial):
    """Called when ``trial`` becomes the best so far (feasible first, then the first objective)."""


@hookspec
def on_trial_end(run, trial):
    """Called after each trial is recorded, failed trials included.

    Return ``True`` to ask the engine to stop the search after this trial (early
    stopping, a wall-clock rule of your own, ...). Other return values are ignored.
    """


@hookspec
def on_search_end(run, result):
    """Called once after a search that ended normally, with the :class:`automl_codegen.SearchResult`.

    A search that ends with Ctrl-C or an error does not reach this hook: use
    :func:`search_run` to see those.
    """


# -- report ------------------------------------------------------------------------------


@hookspec
def report_panels(result):
    """Extra figure panels for the run report of ``result``.

    Called by ``automl-codegen report`` / ``result.plot()`` once per report, on every
    plugin; each returns a list of :class:`automl_codegen.report.Panel` (or ``None``).
    A strategy contributes the panels that tell its own story (DARTS' α per edge, the RL
    controller's reward), read from the events it logged (``result.events(kind)``), so
    the core knows no strategy's event format; return ``None`` for a run without them.
    The figure lays the panels out two per row below its own four. Import matplotlib
    only inside a panel's ``draw``. A hook that raises is left out and a panel whose
    ``draw`` raises is shown empty with the error, each with a warning naming the
    plugin; the report goes on.
    """
