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


@hookspec
def register_strategies(register):
    """Add search strategies.

    Called once when the plugin manager is built. ``register(name, factory)`` where
    ``factory(space, objectives, *, seed, **options)`` returns an object with
    ``ask(n) -> list[genotype]``, ``tell(trials)``, ``state_dict()`` and
    ``load_state_dict(state)`` (see :class:`automl_codegen.Strategy`).
    """


@hookspec
def register_search_spaces(register):
    """Add search spaces.

    ``register(name, factory)`` where ``factory(input_shape, num_classes, **options)``
    returns a :class:`automl_codegen.SearchSpace`: it samples, mutates and crosses over
    genotypes and lowers one to an :class:`automl_codegen.Architecture`.
    """


@hookspec
def register_objectives(register):
    """Add objectives.

    ``register(name, objective)`` with an :class:`automl_codegen.Objective`: its
    direction (``"min"`` or ``"max"``) and how it is computed from a trial's
    measurements.
    """


@hookspec
def register_profilers(register):
    """Add profilers.

    ``register(name, profiler)`` where ``profiler.profile(model, architecture, device)``
    measures a built ``torch.nn.Module`` and returns ``{measurement_name: float}``
    (latency, memory, parameter count, FLOPs, ...). ``profiler.measures`` lists the
    names it produces so the engine can pick the profilers an objective needs. A profiler
    with ``needs_context = True`` is called with ``context=`` the trial's
    :class:`automl_codegen.EvaluationContext` too (genotype, space, dataset), e.g. to look
    a latency up in a table of device measurements.
    """


@hookspec
def register_emitters(register):
    """Add code emitters.

    ``register(name, emitter)`` where ``emitter.render(architecture, metadata)``
    returns the source of one standalone module and
    ``emitter.export(architecture, out_dir, state_dict, metadata)`` writes the module
    and its weights, returning the paths written.
    """


@hookspec
def register_datasets(register):
    """Add datasets.

    ``register(name, loader)`` where ``loader(*, seed, **options)`` returns an
    :class:`automl_codegen.Dataset` with seeded train/validation/test splits.
    """


@hookspec
def register_evaluators(register):
    """Add trial evaluators.

    ``register(name, factory)`` where ``factory(**options)`` returns an object whose
    ``evaluate(architecture, context)`` scores one architecture and returns
    :class:`automl_codegen.Evaluation` (metrics and, optionally, trained weights).
    """


@hookspec
def register_executors(register):
    """Add executors: where trials run.

    ``register(name, factory)`` where ``factory(**options)`` returns an object with the
    :class:`concurrent.futures.Executor` methods ``submit(fn, *args)`` and
    ``shutdown(wait=True)``.
    """


# -- lifecycle ---------------------------------------------------------------------------


@hookspec
def on_search_start(run):
    """Called once before the first trial, with the :class:`automl_codegen.Run`."""


@hookspec
def on_trial_end(run, trial):
    """Called after each trial is recorded, failed trials included.

    Return ``True`` to ask the engine to stop the search after this trial (early
    stopping, a wall-clock rule of your own, ...). Other return values are ignored.
    """


@hookspec
def on_search_end(run, result):
    """Called once after the search, with the :class:`automl_codegen.SearchResult`."""
