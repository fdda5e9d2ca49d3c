"""Exceptions users see. Each message names the problem and the way out."""

from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters: input given by a
    user (a 50 MB option value, say) is never echoed back whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return repr(value[: max(limit - 5, 1)] + "...")
    return text[: limit - 3] + "..."


class AutoMLCodeGenError(Exception):
    """Base class of every error this package raises on purpose."""


class PluginError(AutoMLCodeGenError):
    """A plugin could not be loaded, registered a duplicate name, or misbehaved."""


class UnknownNameError(AutoMLCodeGenError, KeyError):
    """A strategy, space, dataset, ... name that no installed plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ArchitectureError(AutoMLCodeGenError, ValueError):
    """An architecture that does not validate; the message names the node or field."""


class ConfigError(AutoMLCodeGenError, ValueError):
    """Bad search configuration: constraint syntax, budgets, objective names, ..."""


class RunDirectoryError(AutoMLCodeGenError):
    """A run directory that is missing, not a run, or cannot be used."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, as Slurm, Kubernetes and systemd send).

    A KeyboardInterrupt, so a search stops exactly as on Ctrl-C: trials in flight are
    dropped, the journal is closed, and ``--resume`` continues.
    """
