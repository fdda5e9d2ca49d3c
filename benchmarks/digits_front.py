"""Accuracy against measured CPU latency on `digits`: the front, and whether its latencies hold up.

A real two-objective search (``accuracy`` max, ``latency_ms`` min; evolution, i.e.
NSGA-II; real training; the ``torch-cpu`` profiler) on the embedded ``digits`` dataset.
Then every front member's network is rebuilt from its architecture and its latency
measured again from scratch (cache off). Checked, per seed:

* the front has at least ``--min-front`` (4) architectures,
* spanning at least ``--min-span`` (3×) in latency (slowest / fastest),
* and every member's re-measured latency is within ``--tolerance`` (15%) of the one the
  search recorded.

The profiler calibrates against an interleaved reference network (its default; see
``automl_codegen_plugins.profilers._calibration``); the re-measurement runs in the same
process, on the same calibration. The uncalibrated chunk medians (``latency_raw_ms``) are
printed beside, to show how much the machine's speed drifted meanwhile.

    python benchmarks/digits_front.py --trials 60 --seeds 0
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from automl_codegen import NeuralArchitectureSearch
from automl_codegen_plugins.profilers.torch_cpu import TorchCPUProfiler
from automl_codegen_plugins.torch_model import build_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--min-run-time", type=float, default=0.3, help="torch-cpu min_run_time, seconds")
    parser.add_argument("--batch-size", type=int, default=1, help="torch-cpu batch_size (default 1: one request)")
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3],
        help="chain-cnn layer counts per stage (default 0 1 2 3: empty stages reach the cheap end)",
    )
    parser.add_argument("--min-front", type=int, default=4)
    parser.add_argument("--min-span", type=float, default=3.0)
    parser.add_argument("--tolerance", type=float, default=0.15)
    args = parser.parse_args(argv)
    profiler_options = {"min_run_time": args.min_run_time, "threads": 1, "batch_size": args.batch_size}
    failures = 0
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            result = NeuralArchitectureSearch(
                dataset="digits",
                space_options={"depths": args.depths},
                strategy="evolution",
                objectives=["accuracy", "latency_ms"],
                budget={"trials": args.trials},
                epochs=args.epochs,
                seed=seed,
                progress=False,
                profiler_options={"torch-cpu": profiler_options},
                run_dir=Path(tmp) / "run",
            ).search()
        front = sorted(result.pareto_front, key=lambda t: t.metrics["latency_ms"])
        remeasure = TorchCPUProfiler(cache=False, memory=False, **profiler_options)
        latencies = [t.metrics["latency_ms"] for t in result.trials if t.ok]
        print(
            f"seed {seed}: {len(result.trials)} trials (latency {min(latencies):.3f}–{max(latencies):.3f} ms), "
            f"front of {len(front)}"
        )
        print(
            "| trial | accuracy | latency_ms (search) | latency_ms (again) | Δ | raw (search → again) "
            "| params | peak_memory_mb |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        worst = 0.0
        for trial in front:
            measured = remeasure.profile(build_model(trial.architecture), trial.architecture)
            again = measured["latency_ms"]
            recorded = trial.metrics["latency_ms"]
            nan = float("nan")
            raw = f"{trial.metrics.get('latency_raw_ms', nan):.3f} → {measured.get('latency_raw_ms', nan):.3f}"
            delta = again / recorded - 1.0
            worst = max(worst, abs(delta))
            memory = trial.metrics.get("peak_memory_mb", float("nan"))
            print(
                f"| {trial.number} | {trial.metrics['accuracy']:.4f} | {recorded:.4f} | {again:.4f} | "
                f"{delta:+.1%} | {raw} | {int(trial.metrics['params'])} | {memory:.3f} |"
            )
        span = front[-1].metrics["latency_ms"] / front[0].metrics["latency_ms"] if front else 0.0
        checks = {
            f"front ≥ {args.min_front}": len(front) >= args.min_front,
            f"latency span ≥ {args.min_span:g}× (got {span:.2f}×)": span >= args.min_span,
            f"re-measured within {args.tolerance:.0%} (worst {worst:.1%})": worst <= args.tolerance,
        }
        for what, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'} {what}")
        failures += not all(checks.values())
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
