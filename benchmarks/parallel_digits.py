"""The same search with each executor: `local`, `process` (2 workers), `ray` (2 workers).

A real search on `digits` (evolution, a fixed number of trials, real training and the
`torch-cpu` profiler) per executor: its wall-clock time and the ratio to `local`. Then
what each executor adds per trial, from a search with an evaluator that does no work:
the start-up (worker processes importing torch, Ray) and the time per trial beyond it
(dispatch, pickling, the journal).

    python benchmarks/parallel_digits.py --trials 12
    python benchmarks/parallel_digits.py --trials 12 --executors local process

`ray` needs `pip install -e contrib/automl-codegen-ray` (it is skipped without it).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import tempfile
import time
from pathlib import Path

from automl_codegen import Evaluation, NeuralArchitectureSearch, hookimpl
from automl_codegen.testing import plugin_manager_with

EXECUTORS = {
    "local": {},
    "process": {"workers": 2},
    "ray": {"workers": 2, "num_cpus": 1, "cpus": 2},
}


def ready() -> int:
    """What a worker does before its first real trial: import torch."""
    import torch

    return torch.get_num_threads()


class NoWork:
    """An evaluator that returns at once: what is left of a trial is the executor's and engine's cost."""

    measures = ("accuracy",)

    def evaluate(self, architecture, context):
        ready()  # so that this search's workers start up like the real search's
        return Evaluation(metrics={"accuracy": (architecture.num_params % 97) / 97})


class NoWorkPlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("no-work", NoWork)


def run(executor: str, run_dir: Path, trials: int, seed: int, **overrides) -> tuple[float, list]:
    started = time.perf_counter()
    result = NeuralArchitectureSearch(
        dataset="digits",
        strategy="evolution",
        objectives=["accuracy"],
        budget=trials,
        seed=seed,
        executor=executor,
        executor_options=EXECUTORS[executor],
        run_dir=run_dir,
        progress=False,
        plugin_manager=plugin_manager_with(NoWorkPlugin()),
        **overrides,
    ).search()
    return time.perf_counter() - started, result.trials


def start_up(executor: str) -> float:
    """Seconds from making the executor until each worker has imported torch."""
    from automl_codegen.plugins import Registry, get_plugin_manager

    factory = Registry(get_plugin_manager()).get("executor", executor)
    started = time.perf_counter()
    pool = factory(**EXECUTORS[executor])
    futures = [pool.submit(ready) for _ in range(getattr(pool, "max_workers", 1))]
    for future in futures:
        future.result()
    elapsed = time.perf_counter() - started
    pool.shutdown()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=list(EXECUTORS))
    parser.add_argument("--overhead-only", action="store_true", help="skip the real search (minutes per executor)")
    args = parser.parse_args()
    executors = [e for e in args.executors if e != "ray" or importlib.util.find_spec("automl_codegen_ray")]
    if executors != args.executors:
        print("ray: skipped (pip install -e contrib/automl-codegen-ray)")

    ready()  # the search process has torch loaded in any real search; not part of an executor's cost
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for executor in executors:
            wall = in_trials = best = float("nan")
            failed = 0
            if not args.overhead_only:
                wall, trials = run(executor, Path(tmp) / f"real-{executor}", args.trials, args.seed)
                failed = sum(not t.ok for t in trials)
                in_trials = sum(t.duration_s for t in trials)
                best = max((t.metrics["accuracy"] for t in trials if t.ok), default=float("nan"))
            noop_wall, noop_trials = run(executor, Path(tmp) / f"noop-{executor}", 3 * args.trials, args.seed,
                                         evaluator="no-work", profilers=[])  # fmt: skip
            startup = start_up(executor)
            rows[executor] = (wall, in_trials, failed, best, startup, noop_wall, len(noop_trials))
            print(f"{executor}: {wall:.1f} s", flush=True)

    local = rows.get("local", (None,))[0]
    print(f"\n{args.trials} trials of evolution on digits (seed {args.seed}, real training, torch-cpu profiler)\n")
    print("| executor | wall-clock s | vs local | sum of trial times s | failed | best val acc "
          f"| start-up s | no-work search of {3 * args.trials} s | per trial after start-up ms |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for executor, (wall, in_trials, failed, best, startup, noop_wall, noop_n) in rows.items():
        ratio = "–" if math.isnan(wall) or not local else f"{wall / local:.2f}×"
        per_trial = max(noop_wall - startup, 0.0) / noop_n * 1e3
        print(
            f"| {executor} {EXECUTORS[executor] or ''} | {wall:.1f} | {ratio} | {in_trials:.1f} | {failed} "
            f"| {best:.2%} | {startup:.1f} | {noop_wall:.1f} | {per_trial:.0f} |"
        )


if __name__ == "__main__":  # the process executor's workers re-import this module
    main()
