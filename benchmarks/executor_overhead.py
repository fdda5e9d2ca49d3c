"""What a trial costs the `process` executor on CIFAR-10-sized in-memory data, before any work.

Runs trials that do nothing but touch the dataset through a two-worker
``ProcessExecutor`` and prints, per way of shipping the data, the bytes pickled per
trial (the first trial on a worker and the later ones) and the wall time per trial:

* ``once per worker`` (now): the call carries a ``Dataset``, which each worker receives
  with its first trial and keeps;
* ``every trial`` (before): the same arrays in a plain object, pickled with every call,
  which is what every trial paid until datasets were shipped once.

    python benchmarks/executor_overhead.py --samples 50000 --trials 8
"""

from __future__ import annotations

import argparse
import time

import attrs
import numpy as np

from automl_codegen import Dataset
from automl_codegen_plugins.executors.process import ProcessExecutor


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    data = dataset(args.samples)
    nbytes = sum(a.nbytes for a in (data.x_train, data.x_val, data.x_test))
    print(f"{args.samples} images of 3x32x32 float32 ({nbytes / 1e6:.0f} MB with validation and test), 2 workers")
    print(f"{'shipping':>16} {'first trial, bytes':>19} {'later trials, bytes':>20} {'ms per trial':>13}")
    for label, payload in (("once per worker", data), ("every trial", PlainArrays(data.x_train, data.y_train))):
        executor = ProcessExecutor(workers=2)
        try:
            (first, later), seconds = measure(executor, payload, args.trials)
        finally:
            executor.shutdown()
        print(f"{label:>16} {first:19,} {later:20,} {seconds * 1000:13.1f}", flush=True)


if __name__ == "__main__":
    main()
