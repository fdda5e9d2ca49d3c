"""The `ray` executor, written against the core's public API and Ray's task API only."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Executor, Future
from numbers import Real
from typing import Any

from automl_codegen import ConfigError

__all__ = ["RayExecutor"]

_OPTIONS = ("address", "cpus", "workers", "num_cpus", "num_gpus", "retries", "init_options")

# Environment variables that fix the size of the thread pools torch and its BLAS start.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class RayExecutor(Executor):
    """Runs each trial as a Ray task with its own resources, on one machine or a cluster.

    Args:
        address: an existing cluster to join (``"auto"``, ``"ray://head:10001"``, ...);
            ``None`` (default) starts a private Ray on this machine, stopped with the
            search. If Ray is already initialised in this process, that one is used.
        cpus: CPUs of the private Ray (default: all of this machine's); not used with
            ``address``.
        workers: trials running at once (default: the cluster's CPUs // ``num_cpus``,
            or its GPUs // ``num_gpus`` when that is fewer).
        num_cpus: CPUs reserved for each trial (default 1); the trial's torch uses that
            many threads (at least 1).
        num_gpus: GPUs reserved for each trial (default 0; fractions share a GPU).
        retries: how often a trial whose worker process died is run again (default 0:
            it is recorded as a failed trial at once; a trial that ran out of memory
            would usually do so again).
        init_options: further keyword arguments for ``ray.init``.

    Raises:
        ConfigError: naming the option, for a value of the wrong type or out of range.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        cpus: int | None = None,
        workers: int | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        retries: int = 0,
        init_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if options:
            msg = f"executor 'ray' has no option(s) {sorted(options)}; its options: {', '.join(_OPTIONS)}"
            raise ConfigError(msg)
        _check_number("num_cpus", num_cpus, minimum=0)
        _check_number("num_gpus", num_gpus, minimum=0)
        if num_cpus == 0 and num_gpus == 0:
            msg = "executor 'ray': num_cpus and num_gpus are both 0; a trial needs some resource to be scheduled"
            raise ConfigError(msg)
        for name, value, minimum in (("cpus", cpus, 1), ("workers", workers, 1), ("retries", retries, 0)):
            if value is not None:
                _check_int(name, value, minimum)
        import ray

        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **dict(init_options or {})}
            if address is None:
                ray.init(num_cpus=cpus, **kwargs)
            else:
                ray.init(address=address, **kwargs)
            self._owns_ray = True
        self.max_workers = workers if workers is not None else self._fitting_workers(num_cpus, num_gpus)
        threads = max(1, int(num_cpus))
        self._task = ray.remote(_run).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries, retry_exceptions=False, name="automl-trial"
        )
        self._threads = threads
        self._lock = threading.Lock()
        self._running: dict[Any, Future] = {}  # ObjectRef -> its future, until it is done
        self._closed = False

    def _fitting_workers(self, num_cpus: float, num_gpus: float) -> int:
        resources = self._ray.cluster_resources()
        fits = []
        if num_cpus:
            fits.append(int(resources.get("CPU", 0) // num_cpus))
        if num_gpus:
            fits.append(int(resources.get("GPU", 0) // num_gpus))
        return max(1, min(fits))

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            if self._closed:
                msg = "cannot submit to an executor that was shut down"
                raise RuntimeError(msg)
            ref = self._task.remote(fn, args, kwargs, self._threads)
            future = ref.future()
            self._running[ref] = future
        future.add_done_callback(lambda _, ref=ref: self._forget(ref))
        return future

    def _forget(self, ref: Any) -> None:
        with self._lock:
            self._running.pop(ref, None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop; with ``cancel_futures`` the running trials are cancelled (their workers killed).

        An interrupted search (Ctrl-C) shuts down with ``cancel_futures=True``. A Ray that
        this executor started is stopped; a cluster it joined is only left.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            refs = list(self._running)
        if cancel_futures:
            for ref in refs:
                self._ray.cancel(ref, force=True)
        elif wait and refs:
            self._ray.wait(refs, num_returns=len(refs))
        if self._owns_ray:
            self._ray.shutdown()


def _run(fn: Any, args: tuple, kwargs: dict, threads: int) -> Any:
    """One trial inside a Ray worker, with torch limited to the trial's CPUs."""
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)  # read when torch is imported
    if "torch" in sys.modules:  # a reused worker that imported torch already
        sys.modules["torch"].set_num_threads(threads)
    return fn(*args, **kwargs)


def _check_number(option: str, value: Any, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= minimum:
        msg = f"executor 'ray': {option} must be a number >= {minimum}, got {value!r}"
        raise ConfigError(msg)


def _check_int(option: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"executor 'ray': {option} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)
