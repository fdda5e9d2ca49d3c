"""The `process` executor: trials run in parallel, each in a worker process on this machine.

Each worker is a one-process :class:`~concurrent.futures.ProcessPoolExecutor` of its own,
so a worker that dies mid-trial (killed for memory, a segfault in native code) takes
down only the trial it was running: that trial fails with the reason, the worker is
replaced, and the trials running on the other workers go on.

The dataset goes to each worker once, not with every trial: a call is pickled here with
every :class:`~automl_codegen.Dataset` in it replaced by a reference, and the datasets
the worker has not seen yet travel beside it, to be kept in the worker for the next
calls. (60,000 MNIST images are 188 MB: pickled per trial, that is seconds a trial.)
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

from automl_codegen import Dataset, hookimpl
from automl_codegen.options import PluginOptions, one_of, positive_int, structure_options

__all__ = ["START_METHODS", "ProcessExecutor", "ProcessOptions", "WorkerDiedError", "register_executors"]

# Never "fork": a process forked from one that has started torch's thread pools (or any
# other thread) can deadlock.
START_METHODS = ("spawn", "forkserver")

# Environment variables that fix the size of the thread pools torch and its BLAS start.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class WorkerDiedError(RuntimeError):
    """The worker process running a trial ended before the trial did."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Most worker processes (each imports torch: 100,000 asked for would fill any memory)
#: and torch threads per worker (OpenMP aborts long before 100,000).
MAX_WORKERS = 256
MAX_THREADS = 1024


@attrs.frozen(kw_only=True)
class ProcessOptions(PluginOptions):
    """The options of :class:`ProcessExecutor`, checked (see its docstring)."""

    workers: int | None = attrs.field(
        default=None,
        validator=positive_int(maximum=MAX_WORKERS, optional=True),
        metadata={"help": f"trials running at once, at most {MAX_WORKERS}; None: the CPUs this process may use"},
    )
    threads_per_worker: int | None = attrs.field(
        default=None,
        validator=positive_int(maximum=MAX_THREADS, optional=True),
        metadata={"help": "torch threads in each worker; None: CPUs // workers, at least 1"},
    )
    start_method: str = attrs.field(
        default="spawn", validator=one_of(START_METHODS), metadata={"help": "spawn or forkserver (never fork)"}
    )


class ProcessExecutor(Executor):
    """Runs up to ``workers`` trials at once in worker processes.

    Workers start on first use and serve trial after trial, so torch is imported once per
    worker, not once per trial. Every argument of a trial (search space, evaluator,
    evaluation context) is pickled to the worker, the dataset only the first time, and
    its outcome (metrics and trained weights) pickled back.

    Args:
        workers: trials running at once (default: the CPUs this process may use).
        threads_per_worker: torch threads in each worker (default: CPUs // workers, at
            least 1), so that the workers together do not oversubscribe the cores.
        start_method: ``"spawn"`` (default) or ``"forkserver"``.

    Raises:
        ConfigError: naming the option, for a value of the wrong type or out of range.
    """

    Options = ProcessOptions

    def __init__(self, **options: Any) -> None:
        self.options = o = structure_options(self.Options, options, owner="executor 'process'")
        cpus = available_cpus()
        self.max_workers = cpus if o.workers is None else o.workers
        self.threads_per_worker = (
            max(1, cpus // self.max_workers) if o.threads_per_worker is None else o.threads_per_worker
        )
        self._context = multiprocessing.get_context(o.start_method)
        # A done-callback may run at once, in the thread that holds the lock: hence RLock.
        self._lock = threading.RLock()
        self._pools: list[ProcessPoolExecutor | None] = [None] * self.max_workers
        self._running: list[Future | None] = [None] * self.max_workers  # the call on each worker
        self._queue: deque[tuple[Future, Any, tuple, dict]] = deque()
        self._closed = False
        # Datasets by id (held, so the id stays theirs) and the ids each worker has.
        self._datasets: dict[int, Dataset] = {}
        self._shipped: list[set[int]] = [set() for _ in range(self.max_workers)]

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                msg = "cannot submit to an executor that was shut down"
                raise RuntimeError(msg)
            self._queue.append((future, fn, args, kwargs))
            self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Start queued calls on idle workers (the lock is held)."""
        while self._queue and None in self._running:
            future, fn, args, kwargs = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            slot = self._running.index(None)
            self._running[slot] = future
            started = time.perf_counter()
            try:
                inner = self._pool(slot).submit(_call, *self._pack(slot, fn, args, kwargs))
            except BrokenProcessPool:  # the worker died while idle
                self._pools[slot] = None
                self._shipped[slot] = set()
                inner = self._pool(slot).submit(_call, *self._pack(slot, fn, args, kwargs))
            inner.add_done_callback(lambda inner, slot=slot, started=started: self._finished(slot, inner, started))

    def _pack(self, slot: int, fn: Any, args: tuple, kwargs: dict) -> tuple[dict[int, bytes], bytes]:
        """The call pickled for worker ``slot``, and the datasets it has not received yet."""
        found: dict[int, Dataset] = {}
        buffer = io.BytesIO()
        _Packer(buffer, found).dump((fn, args, kwargs))
        self._datasets.update(found)
        new = {key: pickle.dumps(found[key], pickle.HIGHEST_PROTOCOL) for key in found.keys() - self._shipped[slot]}
        self._shipped[slot].update(new)
        return new, buffer.getvalue()

    def _pool(self, slot: int) -> ProcessPoolExecutor:
        if self._pools[slot] is None:
            self._pools[slot] = ProcessPoolExecutor(
                max_workers=1,
                mp_context=self._context,
                initializer=_start_worker,
                initargs=(self.threads_per_worker, os.getpid()),
            )
        return self._pools[slot]

    def _finished(self, slot: int, inner: Future, started: float) -> None:
        with self._lock:
            future, self._running[slot] = self._running[slot], None
            pool = self._pools[slot]
            error = None if inner.cancelled() else inner.exception()
            if isinstance(error, BrokenProcessPool):
                # The worker is gone and its pool unusable: the next call gets a new one.
                self._pools[slot] = None
                self._shipped[slot] = set()
                error = WorkerDiedError(_death_notice(pool, time.perf_counter() - started))
                error.__cause__ = inner.exception()
                pool.shutdown(wait=False)
            if not self._closed:
                self._dispatch()
        if future is None or future.done():
            return
        if inner.cancelled():  # by a shutdown; ours is running already, so it cannot be cancelled
            future.set_exception(CancelledError("the executor was shut down"))
        elif error is not None:
            future.set_exception(error)
        else:
            try:
                future.set_result(pickle.loads(inner.result()))
            except Exception as exc:  # a result that does not unpickle here, e.g. a class only the worker has
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers; with ``cancel_futures`` the running calls are stopped too.

        A search that is interrupted shuts down with ``cancel_futures=True``: queued
        trials are cancelled and the workers killed at once, not left to finish trials
        nobody will record.
        """
        with self._lock:
            self._closed = True
            pools = [pool for pool in self._pools if pool is not None]
            if cancel_futures:
                while self._queue:
                    self._queue.popleft()[0].cancel()
                for pool in pools:
                    _kill_workers(pool)
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class _Packer(pickle.Pickler):
    """Pickles a call with each Dataset replaced by its key, collecting them in ``found``."""

    def __init__(self, file: io.BytesIO, found: dict[int, Dataset]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.found = found

    def persistent_id(self, obj: Any) -> int | None:
        if isinstance(obj, Dataset):
            self.found[id(obj)] = obj
            return id(obj)
        return None


class _Unpacker(pickle.Unpickler):
    def persistent_load(self, key: int) -> Dataset:
        return _WORKER_DATASETS[key]


#: The datasets this worker process has received, by the parent's key.
_WORKER_DATASETS: dict[int, Dataset] = {}


def _call(datasets: dict[int, bytes], call: bytes) -> bytes:
    """Run one call in a worker; the result goes back as plain pickle bytes.

    ``datasets`` are those the worker has not received before; ``call`` refers to
    datasets by key. Plain pickling copies tensors by value: the default for processes,
    which passes them as shared-memory file descriptors, can run out of descriptors and
    ties the result's memory to the worker.
    """
    for key, data in datasets.items():
        _WORKER_DATASETS[key] = pickle.loads(data)
    fn, args, kwargs = _Unpacker(io.BytesIO(call)).load()
    return pickle.dumps(fn(*args, **kwargs), protocol=pickle.HIGHEST_PROTOCOL)


def _start_worker(threads: int, parent: int) -> None:
    # Ctrl-C and a scheduler's SIGTERM reach the whole process group; the search handles
    # them by stopping the workers, which should neither print a traceback each nor die
    # first (a trial would then be recorded as failed, not re-run on resume).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)  # read when torch is imported, usually after this
    import sys

    if "torch" in sys.modules:  # imported already, e.g. by the main module re-run under spawn
        sys.modules["torch"].set_num_threads(threads)
    # A search killed with kill -9 cannot stop its workers; they notice and exit.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop a running call before Python 3.14.
    kill = getattr(pool, "kill_workers", None)
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _death_notice(pool: ProcessPoolExecutor | None, seconds: float) -> str:
    codes = []
    for process in (getattr(pool, "_processes", None) or {}).values():
        # The pool notices the death when the worker's pipe closes, a moment before the
        # process can be reaped: wait that moment for the exit code.
        process.join(timeout=2)
        if process.exitcode is not None:
            codes.append(process.exitcode)
    how = "ended"
    if codes and codes[0] < 0:
        how = f"was killed by signal {-codes[0]} ({signal.Signals(-codes[0]).name})"
        if -codes[0] == signal.SIGKILL:
            how += ", often the kernel's out-of-memory killer"
    elif codes:
        how = f"exited with code {codes[0]}"
    return f"the worker process running this trial {how} after {seconds:.1f} s; the search goes on with a new worker"


@hookimpl
def register_executors(register):
    register("process", ProcessExecutor)
