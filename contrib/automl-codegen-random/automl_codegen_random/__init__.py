"""Random search for AutoML-CodeGen: ``--strategy random``.

A complete strategy plugin in one small package, written only against the public API of
``automl_codegen``: the reference for plugin authors and the baseline in benchmarks.
Installed, it is found through the ``automl_codegen`` entry-point group like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automl_codegen import hookimpl

from ._search import DEFAULT_MAX_TRIES, RandomOptions, RandomSearch

__all__ = ["DEFAULT_MAX_TRIES", "RandomOptions", "RandomSearch", "register_strategies"]
__version__ = "0.1.0"


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("random", RandomSearch)
