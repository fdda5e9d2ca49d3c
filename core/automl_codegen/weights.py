"""Trained weights to and from the run directory, through the evaluator that made them.

The core imports no framework: the evaluator that returns weights says how to write and
read them (:class:`automl_codegen.protocols.Evaluator`, ``save_weights``/``load_weights``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .protocols import attribute

__all__ = ["load_weights", "save_weights"]


def save_weights(evaluator: Any, state_dict: Any, path: Path) -> None:
    """Write ``state_dict`` to ``path`` with the evaluator's ``save_weights``."""
    save = attribute("evaluator", evaluator, "save_weights")
    if save is None:
        _warn_legacy(evaluator)
        import torch

        torch.save(state_dict, path)
        return
    save(state_dict, path)


def load_weights(evaluator: Any, path: Path) -> Any:
    """Read what :func:`save_weights` wrote, with the evaluator's ``load_weights``."""
    load = attribute("evaluator", evaluator, "load_weights")
    if load is None:
        _warn_legacy(evaluator)
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    return load(path)


def _warn_legacy(evaluator: Any) -> None:
    warnings.warn(
        f"evaluator {type(evaluator).__name__} returns weights but has no save_weights/load_weights; "
        f"they are written with torch.save, which will stop in a later release "
        f"(see automl_codegen.protocols.Evaluator)",
        DeprecationWarning,
        stacklevel=3,
    )
