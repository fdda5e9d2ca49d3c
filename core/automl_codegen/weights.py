"""Trained weights to and from the run directory, through the evaluator that made them.

The core imports no framework: the evaluator that returns weights says how to write and
read them (:class:`automl_codegen.protocols.Evaluator`, ``save_weights``/``load_weights``).
"""

from __future__ import annotations

import errno
import warnings
from pathlib import Path
from typing import Any

from .errors import RunDirectoryError
from .protocols import attribute

__all__ = ["load_weights", "save_weights"]


def save_weights(evaluator: Any, state_dict: Any, path: Path) -> None:
    """Write ``state_dict`` to ``path`` with the evaluator's ``save_weights``.

    Raises:
        OSError: the file could not be written (its directory gone, the disk full); torch
            reports these as RuntimeError, which would read as a bug.
    """
    save = attribute("evaluator", evaluator, "save_weights")
    if save is None:
        _warn_legacy(evaluator)
        import torch

        save = torch.save
    try:
        save(state_dict, path)
    except RuntimeError as exc:
        if not path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "the weights directory is missing", str(path.parent)) from None
        msg = f"the weights could not be written; is the disk full? (torch: {_first_line(exc)})"
        raise OSError(errno.EIO, msg, str(path)) from None


def load_weights(evaluator: Any, path: Path) -> Any:
    """Read what :func:`save_weights` wrote, with the evaluator's ``load_weights``.

    Raises:
        OSError: the file cannot be opened (missing, a directory).
        RunDirectoryError: the file is not weights (damaged, truncated, another file).
    """
    load = attribute("evaluator", evaluator, "load_weights")
    if load is None:
        _warn_legacy(evaluator)
        import torch

        def load(p: Path) -> Any:
            return torch.load(p, map_location="cpu", weights_only=True)

    try:
        return load(path)
    except OSError:
        raise  # said with its path by the caller
    except Exception as exc:  # a damaged file fails anywhere in the unpickler: IndexError, EOFError, ...
        msg = (
            f"cannot read the weights {str(path)!r} ({type(exc).__name__}: {_first_line(exc)}); the file is "
            f"damaged or not this run's: export another trial with --trial N, or retrain this one"
        )
        raise RunDirectoryError(msg) from None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _warn_legacy(evaluator: Any) -> None:
    warnings.warn(
        f"evaluator {type(evaluator).__name__} returns weights but has no save_weights/load_weights; "
        f"they are written with torch.save, which will stop in a later release "
        f"(see automl_codegen.protocols.Evaluator)",
        DeprecationWarning,
        stacklevel=3,
    )
