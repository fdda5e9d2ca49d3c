"""What a trial costs the `process` and `ray` executors on CIFAR-10-sized in-memory data, before any work.

Runs trials that do nothing but touch the dataset on two workers and prints, per
executor and way of shipping the data, the bytes pickled per trial (the first trial on
a worker and the later ones) and the wall time per trial:

* ``once per worker`` (now): the call carries a ``Dataset``, which each worker receives
  with its first trial and keeps (Ray: put in the object store once, fetched by each
  worker process once);
* ``every trial`` (before): what every trial paid until datasets were shipped once. For
  `process`, the same arrays in a plain object, pickled with every call; for Ray, a
  task given the call's arguments as they are, as the executor passed them, which Ray
  serialises into its object store with every task.

The Ray rows need ``automl-codegen-ray`` installed; they run on a private Ray of 2 CPUs,
with two trials in flight as the engine keeps them.

    python benchmarks/executor_overhead.py --samples 50000 --trials 8
"""

from __future__ import annotations

import argparse
import pickle
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait

import attrs
import numpy as np

from automl_codegen import Dataset
from automl_codegen_plugins.executors.process import ProcessExecutor

try:
    import ray
    from automl_codegen_ray import RayExecutor
except ImportError:  # the Ray rows are left out
    ray = None


@attrs.frozen(eq=False)
class PlainArrays:
    """The dataset's arrays in an object the executor does not recognise: pickled per call."""

    x_train: np.ndarray
    y_train: np.ndarray


def touch(data: object) -> float:
    """The trial: read one value, so the data must have arrived."""
    return float(data.x_train[0, 0, 0, 0])


def dataset(samples: int) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((samples, 3, 32, 32), dtype=np.float32)
    y = (np.arange(samples) % 10).astype(np.int64)
    held = max(samples // 10, 10)
    return Dataset("cifar-sized", x, y, x[:held], y[:held], x[:held], y[:held], num_classes=10)


def measure(executor: ProcessExecutor, data: object, trials: int) -> tuple[list[int], float]:
    """Bytes pickled for each call (as the executor packs them) and seconds per trial."""
    sizes = []
    for slot in (0, 0):
        shipped, call = executor._pack(slot, touch, (data,), {})
        sizes.append(sum(len(b) for b in shipped.values()) + len(call))
    executor._shipped = [set() for _ in executor._shipped]  # measured only: nothing was sent
    for warm in [executor.submit(touch, data) for _ in range(2)]:  # both workers start outside the timing
        warm.result()
    started = time.perf_counter()
    futures = [executor.submit(touch, data) for _ in range(trials)]
    for future in futures:
        future.result()
    return sizes, (time.perf_counter() - started) / trials


def measure_ray(data: Dataset, trials: int) -> list[tuple[str, int, int, float]]:
    """For Ray now and before: bytes shipped by the first trial and by later ones, seconds per trial."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor(workers=2)
        try:
            call, refs = executor._pack(touch, (data,), {})  # puts the dataset, as the first trial does
            shipped = len(call) + len(ray.cloudpickle.dumps(refs))
            stored = len(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
            now = ("once per worker", stored + shipped, shipped, timed(executor.submit, data, trials))
        finally:
            executor.shutdown()
        task = ray.remote(num_cpus=1)(call_as_given)
        size = len(ray.cloudpickle.dumps((touch, (data,), {}), protocol=pickle.HIGHEST_PROTOCOL))
        before = ("every trial", size, size, timed(lambda fn, *args: task.remote(fn, args, {}).future(), data, trials))
        return [now, before]
    finally:
        ray.shutdown()


def call_as_given(fn, args, kwargs):
    """A trial as the Ray executor ran it before: its arguments as Ray passed them."""
    return fn(*args, **kwargs)


def timed(submit, data: object, trials: int, in_flight: int = 2) -> float:
    """Seconds per trial with ``in_flight`` trials running at once, once each worker has had one."""
    wait([submit(touch, data) for _ in range(in_flight)])  # both workers start outside the timing
    started = time.perf_counter()
    running: set[Future] = set()
    for _ in range(trials):
        if len(running) == in_flight:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        running.add(submit(touch, data))
    for future in running:
        future.result()
    return (time.perf_counter() - started) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    data = dataset(args.samples)
    nbytes = sum(a.nbytes for a in (data.x_train, data.x_val, data.x_test))
    print(f"{args.samples} images of 3x32x32 float32 ({nbytes / 1e6:.0f} MB with validation and test), 2 workers")
    print(
        f"{'executor':>8} {'shipping':>16} {'first trial, bytes':>19} {'later trials, bytes':>20} {'ms per trial':>13}"
    )
    for label, payload in (("once per worker", data), ("every trial", PlainArrays(data.x_train, data.y_train))):
        executor = ProcessExecutor(workers=2)
        try:
            (first, later), seconds = measure(executor, payload, args.trials)
        finally:
            executor.shutdown()
        print(f"{'process':>8} {label:>16} {first:19,} {later:20,} {seconds * 1000:13.1f}", flush=True)
    if ray is None:
        print("(no Ray rows: automl-codegen-ray is not installed)")
        return
    for label, first, later, seconds in measure_ray(data, args.trials):
        print(f"{'ray':>8} {label:>16} {first:19,} {later:20,} {seconds * 1000:13.1f}", flush=True)


if __name__ == "__main__":
    main()
