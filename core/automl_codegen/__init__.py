"""AutoML-CodeGen: neural architecture search that ends in standalone model code.

The package root stays light (no torch, no TensorFlow) so that ``automl-codegen --help``
and plugin listings start fast; heavy work lives in the plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import model_space as model_space
from .architecture import IR_VERSION, OPS, Architecture, Block, Node
from .callbacks import Callback
from .chunked import ChunkedList, FingerprintSet
from .errors import (
    ArchitectureError,
    AutoMLCodeGenError,
    ConfigError,
    PluginError,
    RunDirectoryError,
    UnknownNameError,
)
from .hookspecs import hookimpl
from .objective import Constraint, Objective
from .space import Choice, Genotype, SearchSpace
from .strategy import OneShotStrategy, Strategy, SupernetContext
from .supernet import SupernetCell, SupernetDescription
from .trial import Trial

if TYPE_CHECKING:
    from .config import SearchConfig
    from .evaluation import Dataset, Evaluation, EvaluationContext
    from .result import SearchResult
    from .run import RunInfo
    from .search import NeuralArchitectureSearch

__version__ = "0.1.0"

__all__ = [
    "IR_VERSION",
    "OPS",
    "Architecture",
    "ArchitectureError",
    "AutoMLCodeGenError",
    "Block",
    "Callback",
    "Choice",
    "ChunkedList",
    "ConfigError",
    "Constraint",
    "Dataset",
    "Evaluation",
    "EvaluationContext",
    "FingerprintSet",
    "Genotype",
    "NeuralArchitectureSearch",
    "Node",
    "Objective",
    "OneShotStrategy",
    "PluginError",
    "RunDirectoryError",
    "RunInfo",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "Strategy",
    "SupernetCell",
    "SupernetContext",
    "SupernetDescription",
    "Trial",
    "UnknownNameError",
    "hookimpl",
]

_LAZY = {
    "NeuralArchitectureSearch": "search",
    "SearchResult": "result",
    "SearchConfig": "config",
    "RunInfo": "run",
    "Dataset": "evaluation",
    "Evaluation": "evaluation",
    "EvaluationContext": "evaluation",
}


def __getattr__(name: str) -> Any:
    # The search engine pulls in rich and the run journal; load it on first use.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
