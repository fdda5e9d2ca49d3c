"""``RunInfo``: what lifecycle plugins are told about the search they observe."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .config import SearchConfig
from .objective import Constraint, Objective

if TYPE_CHECKING:
    from .evaluation import Dataset
    from .plugins import Registry

__all__ = ["RunInfo"]


@attrs.frozen(eq=False)
class RunInfo:
    """One search run, as lifecycle hooks see it: immutable, built once per ``search()``.

    Attributes:
        run_dir: where the journal, weights and ``best.json`` go.
        config: the run's :class:`~automl_codegen.config.SearchConfig`.
        objectives / constraints: the built objectives (first = primary) and constraints.
        dataset: the loaded :class:`automl_codegen.Dataset`.
        space / strategy / evaluator: the built plugins (for plugins that pair with one,
            such as a tabular benchmark's evaluator and its hooks); treat them as read-only.
        registry: the plugin registries of this run.
        resumed: whether this run continues a journal.
    """

    run_dir: Path
    config: SearchConfig
    objectives: tuple[Objective, ...] = attrs.field(converter=tuple)
    constraints: tuple[Constraint, ...] = attrs.field(converter=tuple)
    dataset: Dataset
    space: Any
    strategy: Any
    evaluator: Any
    profilers: Sequence[Any] = attrs.field(converter=tuple)
    registry: Registry
    resumed: bool = False
