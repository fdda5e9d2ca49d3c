"""Callbacks from Python: the lifecycle events, for users who will not write an entry point.

``NeuralArchitectureSearch(..., callbacks=[MyCallback()])`` registers the callbacks as a
plugin for the duration of each ``search()``; every method is optional::

    class PrintBest(Callback):
        def on_new_best(self, run, trial):
            print(trial.number, trial.objectives)

The events are the lifecycle hooks' (:mod:`automl_codegen.hookspecs`), and
``on_search_end`` is called however the search ends: with the result, or with the
error (``KeyboardInterrupt`` for Ctrl-C and SIGTERM) and no result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .result import SearchResult
    from .run import RunInfo
    from .trial import Trial

__all__ = ["Callback", "CallbackPlugin"]

_EVENTS = ("on_search_start", "on_trial_start", "on_trial_end", "on_new_best", "on_search_end")


class Callback:
    """A base class with every event as a method that does nothing; override what you need."""

    def on_search_start(self, run: RunInfo) -> None:
        """Before the first trial (after the supernet of a resumed one-shot run)."""

    def on_trial_start(self, run: RunInfo, number: int, genotype: Any) -> None:
        """A trial was journaled as started and handed to the executor."""

    def on_trial_end(self, run: RunInfo, trial: Trial) -> bool | None:
        """A trial was recorded (failed ones too); return ``True`` to stop the search."""
        return None

    def on_new_best(self, run: RunInfo, trial: Trial) -> None:
        """``trial`` is the new best (feasible first, then the first objective)."""

    def on_search_end(self, run: RunInfo, result: SearchResult | None, error: BaseException | None) -> None:
        """The search ended: ``result`` when it finished, else ``error`` (and no result)."""


class CallbackPlugin:
    """The pluggy plugin that forwards each lifecycle hook to the user's callbacks, in order."""

    def __init__(self, callbacks: Sequence[Any]) -> None:
        callbacks = list(callbacks)
        for callback in callbacks:
            if isinstance(callback, type) or not any(callable(getattr(callback, e, None)) for e in _EVENTS):
                msg = (
                    f"callback {callback!r} has none of the methods {', '.join(_EVENTS)}; "
                    f"pass an instance of a class with at least one (see automl_codegen.Callback)"
                )
                raise ConfigError(msg)
        self.callbacks = callbacks

    def _each(self, event: str, *args: Any) -> list[Any]:
        return [method(*args) for c in self.callbacks if callable(method := getattr(c, event, None))]

    @hookimpl
    def on_search_start(self, run: RunInfo) -> None:
        self._each("on_search_start", run)

    @hookimpl
    def on_trial_start(self, run: RunInfo, number: int, genotype: Any) -> None:
        self._each("on_trial_start", run, number, genotype)

    @hookimpl
    def on_trial_end(self, run: RunInfo, trial: Trial) -> bool:
        return any(self._each("on_trial_end", run, trial))

    @hookimpl
    def on_new_best(self, run: RunInfo, trial: Trial) -> None:
        self._each("on_new_best", run, trial)

    @hookimpl(wrapper=True)
    def search_run(self, run: RunInfo) -> Any:
        try:
            result = yield
        except BaseException as error:
            self._each("on_search_end", run, None, error)
            raise
        self._each("on_search_end", run, result, None)
        return result
