"""The `local` executor: trials run one after another in the search's own process."""

from __future__ import annotations

from concurrent.futures import Executor, Future
from typing import Any

import attrs

from automl_codegen import hookimpl
from automl_codegen.options import PluginOptions, structure_options


@attrs.frozen
class LocalOptions(PluginOptions):
    """The local executor has no options; the class says so to users who give one."""


class LocalExecutor(Executor):
    """Runs each submitted call at once and hands back an already finished future.

    The simplest correct executor: nothing to pickle, errors keep their tracebacks, and
    Ctrl-C reaches the running trial directly. It takes no options: a ConfigError names
    any given.
    """

    Options = LocalOptions

    def __init__(self, **options: Any) -> None:
        self.options = structure_options(self.Options, options, owner="executor 'local'")

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit stop the search, not the trial
            future.set_exception(exc)
        return future


@hookimpl
def register_executors(register):
    register("local", LocalExecutor)
