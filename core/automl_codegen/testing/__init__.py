"""Helpers for testing plugins: conformance checks, a toy search space, inline plugins.

A plugin author checks a plugin against the contract of :mod:`automl_codegen.protocols`
with one call per plugin; each check raises :class:`AssertionError` with a message that
names what is wrong and how to fix it, and returns a :class:`ConformanceReport` of what
it checked and what it skipped (and why)::

    from automl_codegen.testing import (
        check_emitter, check_objective, check_space, check_strategy, check_strategy_in_search,
    )
    from my_plugin import ENERGY, MyEmitter, MySpace, MyStrategy

    def test_strategy():
        check_strategy(MyStrategy)                         # ask/tell on a toy space, kill and resume
        check_strategy_in_search(MyStrategy)               # the same through the real engine

    def test_space():
        check_space(MySpace, input_shape=(3, 32, 32), num_classes=10)

    def test_emitter():
        check_emitter(MyEmitter())

    def test_objective():
        check_objective(ENERGY, {"energy_mj": 1.5})

Inline plugins (objects or modules with ``@hookimpl`` methods) are registered without
installing anything::

    class MyPlugin:
        @hookimpl
        def register_objectives(self, register):
            register("energy", Objective("energy", "min"))

    def test_energy_is_registered():
        registry = registry_with(MyPlugin())
        assert registry.get("objective", "energy").direction == "min"

Nothing here imports torch or TensorFlow when the module is imported; ``check_emitter``
imports the emitter's framework when it runs the exported code.
"""

from __future__ import annotations

from ._emitter import FRAMEWORKS, check_emitter
from ._fixtures import RecordingSupernetContext, tiny_architecture
from ._objective import check_objective
from ._registry import plugin_manager_with, registry_with
from ._report import ConformanceReport
from ._search import check_strategy_in_search
from ._space import check_space
from ._strategy import check_strategy
from ._toy import TOY_DATASET, TOY_OBJECTIVES, ToyEvaluator, ToySpace, toy_dataset, toy_score

__all__ = [
    "FRAMEWORKS",
    "TOY_DATASET",
    "TOY_OBJECTIVES",
    "ConformanceReport",
    "RecordingSupernetContext",
    "ToyEvaluator",
    "ToySpace",
    "check_emitter",
    "check_objective",
    "check_space",
    "check_strategy",
    "check_strategy_in_search",
    "plugin_manager_with",
    "registry_with",
    "tiny_architecture",
    "toy_dataset",
    "toy_score",
]
