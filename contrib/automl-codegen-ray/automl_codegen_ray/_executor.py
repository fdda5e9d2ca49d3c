"""The `ray` executor, written against the core's public API and Ray's task API only.

Datasets go through Ray's object store, once: a trial's call is pickled with each
:class:`~automl_codegen.Dataset` in it replaced by a key, and the dataset is put in the
store the first time the executor sees it. The call carries the object refs nested in a
dict, so Ray leaves them unresolved; the worker process fetches a dataset the first time
a trial needs it and keeps it for the trials after. (50,000 CIFAR-sized images with
their validation and test sets are 737 MB: serialised into the store with every trial,
they cost 210-290 ms a trial on two CPUs, against about 2 ms shipped once.)
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for
from numbers import Real
from typing import Any

from automl_codegen import ConfigError, Dataset

__all__ = ["RayExecutor"]

_OPTIONS = ("address", "cpus", "workers", "num_cpus", "num_gpus", "retries", "init_options")

# Environment variables that fix the size of the thread pools torch and its BLAS start.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# How often a trial is run again after losing its node: enough for a few node failures,
# not forever, in case it is the trial that brings its nodes down.
NODE_LOSSES = 3


class RayExecutor(Executor):
    """Runs each trial as a Ray task with its own resources, on one machine or a cluster.

    Each dataset is put in Ray's object store once, and each Ray worker process fetches
    it once and keeps it (the datasets of its last trial), so a trial ships only the
    search space, the evaluator and the evaluation context.

    A trial whose node dies (the machine fails, its raylet is killed) is run again on
    another node, up to :data:`NODE_LOSSES` times: nothing of the search is lost with a
    node. A trial that fails by itself stays failed: one that raises is a failed trial
    like under any executor, and one whose worker process dies (killed for memory, a
    crash in native code) fails with Ray's reason unless ``retries`` asks for more.

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
        # Ray's retries cover a dead worker process and a dead node alike; a lost node is
        # handled in _finished, which can tell them apart.
        self._task = ray.remote(_run).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries, retry_exceptions=False, name="automl-trial"
        )
        self._threads = max(1, int(num_cpus))
        # A done-callback may run at once, in the thread that holds the lock: hence RLock.
        self._lock = threading.RLock()
        self._running: dict[Future, Any] = {}  # each trial's future -> the ObjectRef of its task
        self._datasets: dict[int, tuple[Dataset, Any]] = {}  # id -> the dataset (held, so the id stays its), its ref
        self._closed = False
        self._rerun = True  # whether a trial that lost its node is run again

    def _fitting_workers(self, num_cpus: float, num_gpus: float) -> int:
        resources = self._ray.cluster_resources()
        fits = []
        if num_cpus:
            fits.append(int(resources.get("CPU", 0) // num_cpus))
        if num_gpus:
            fits.append(int(resources.get("GPU", 0) // num_gpus))
        return max(1, min(fits))

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                msg = "cannot submit to an executor that was shut down"
                raise RuntimeError(msg)
            call, refs = self._pack(fn, args, kwargs)
            self._start(future, call, refs, lost=0)
        return future

    def _pack(self, fn: Any, args: tuple, kwargs: dict) -> tuple[bytes, dict[str, Any]]:
        """The call pickled with its datasets as keys, and the object refs of those keys."""
        refs: dict[str, Any] = {}

        def key(dataset: Dataset) -> str:
            if id(dataset) not in self._datasets:
                self._datasets[id(dataset)] = (dataset, self._ray.put(dataset))
            ref = self._datasets[id(dataset)][1]
            refs[ref.hex()] = ref  # unique in the cluster, unlike id(): worker processes outlive executors
            return ref.hex()

        return _pickle_call((fn, args, kwargs), key), refs

    def _start(self, future: Future, call: bytes, refs: dict[str, Any], lost: int) -> None:
        ref = self._task.remote(call, refs, self._threads)  # refs nested in a dict: Ray does not fetch them
        self._running[future] = ref
        ref.future().add_done_callback(lambda task: self._finished(future, task, call, refs, lost))

    def _finished(self, future: Future, task: Future, call: bytes, refs: dict[str, Any], lost: int) -> None:
        error = task.exception()
        with self._lock:
            if isinstance(error, self._ray.exceptions.NodeDiedError) and self._rerun and lost < NODE_LOSSES:
                try:
                    self._start(future, call, refs, lost + 1)
                    return
                except Exception as exc:  # no cluster left to run it on: the trial fails, not hangs
                    error = exc
            self._running.pop(future, None)
        if error is None:
            future.set_result(task.result())
        else:
            future.set_exception(error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop; with ``cancel_futures`` the running trials are cancelled (their workers killed).

        An interrupted search (Ctrl-C) shuts down with ``cancel_futures=True``. A Ray that
        this executor started is stopped; a cluster it joined is only left.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._rerun = wait and not cancel_futures
            running = dict(self._running)
        if cancel_futures:
            for ref in running.values():
                self._ray.cancel(ref, force=True)
        elif wait:
            wait_for(running)
        self._datasets.clear()  # their refs: the object store may free them
        if self._owns_ray:
            self._ray.shutdown()


def _pickle_call(call: tuple, key: Callable[[Dataset], str]) -> bytes:
    """``call`` pickled as Ray pickles task arguments, with each Dataset replaced by ``key(dataset)``."""
    from ray import cloudpickle  # by value for what Ray was told to (register_pickle_by_value, __main__)

    buffer = io.BytesIO()
    pickler = cloudpickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = lambda obj: key(obj) if isinstance(obj, Dataset) else None
    pickler.dump(call)
    return buffer.getvalue()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, datasets: dict[str, Dataset]) -> None:
        super().__init__(file)
        self.datasets = datasets

    def persistent_load(self, key: str) -> Dataset:
        return self.datasets[key]


#: The datasets of this Ray worker process's last trial, by key: the next trial on the
#: same data neither fetches nor unpickles them again. Only the last trial's, so a worker
#: that serves several searches in turn keeps one search's data.
_KEPT: dict[str, Dataset] = {}


def _run(call: bytes, refs: dict[str, Any], threads: int) -> Any:
    """One trial inside a Ray worker, with torch limited to the trial's CPUs."""
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)  # read when torch is imported
    if "torch" in sys.modules:  # a reused worker that imported torch already
        sys.modules["torch"].set_num_threads(threads)
    import ray

    datasets = {key: _KEPT[key] if key in _KEPT else ray.get(ref) for key, ref in refs.items()}
    _KEPT.clear()
    _KEPT.update(datasets)
    fn, args, kwargs = _Unpickler(io.BytesIO(call), datasets).load()
    return fn(*args, **kwargs)


def _check_number(option: str, value: Any, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not value >= minimum:
        msg = f"executor 'ray': {option} must be a number >= {minimum}, got {value!r}"
        raise ConfigError(msg)


def _check_int(option: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"executor 'ray': {option} must be an integer >= {minimum}, got {value!r}"
        raise ConfigError(msg)
