"""First-order DARTS on `digits` against random architectures of the same space, on CPU.

For each ``--remedy``: a whole search through the engine (``NeuralArchitectureSearch``
with ``strategy="darts"``): the supernet phase, then the derived cell retrained from
scratch, profiled, recorded as a trial and exported to PyTorch code. Then ``--random``
architectures sampled from the same space (same space options) are trained with the
same per-trial budget through the same evaluator. Printed: the derived cells, their test
accuracy against the mean ± std of the random ones, how many of the derived cell's
edges are parameter-free (skip connections, pooling, none), the supernet's peak memory
per step, and the wall-clock times.

    python benchmarks/darts_digits.py                       # nb201, remedies none and darts-minus
    python benchmarks/darts_digits.py --space darts-cell --remedy none

Everything runs on one torch thread (``--threads``): on two shared cores more threads
only wait for each other.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _baselines import random_test_accuracies

from automl_codegen import NeuralArchitectureSearch
from automl_codegen.plugins import get_plugin_manager, get_registry
from automl_codegen_plugins.strategies import darts

#: Small evaluation networks for 8×8 digits, and smaller supernets.
SPACES = {
    "nb201": ({"channels": 16, "cells_per_stage": 2}, {"channels": 8, "cells_per_stage": 1}),
    "darts-cell": ({"init_channels": 8, "layers": 5}, {"init_channels": 8, "layers": 5}),
}
FREE_OPS = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3")


def edge_ops(space_name: str, genotype) -> list[str]:
    """The ops of a derived genotype's (normal) cell."""
    if space_name == "nb201":
        return [part.split("~")[0] for node in genotype.split("+") for part in node.strip("|").split("|")]
    return [op for op, _ in genotype["normal"]]


def plugin_manager():
    pm = get_plugin_manager()
    if "darts" not in get_registry(pm).names("strategy"):  # not installed with its entry point yet
        pm = get_plugin_manager(plugins=[("darts", darts)])
    return pm


def run_darts(args, seed: int, remedy: str, run_dir: Path) -> tuple[NeuralArchitectureSearch, dict]:
    """One whole search: supernet, then the derived cell retrained, profiled and exported."""
    space_options, supernet = SPACES[args.space]
    started = time.perf_counter()
    nas = NeuralArchitectureSearch(
        dataset="digits",
        space=args.space,
        space_options=space_options,
        strategy="darts",
        strategy_options={
            "order": 1,
            "epochs": args.supernet_epochs,
            "batch_size": args.batch_size,
            "alpha_lr": args.alpha_lr,
            "remedy": remedy,
            **supernet,
        },
        objectives=["accuracy", "latency_ms"],
        budget={"trials": 5},  # the strategy proposes one architecture, then stops the search
        epochs=args.epochs,
        seed=seed,
        evaluator_options={"threads": args.threads},
        run_dir=run_dir,
        progress=False,
        plugin_manager=plugin_manager(),
    )
    result = nas.search()
    seconds = time.perf_counter() - started
    (trial,) = result.history
    result.export("pytorch", run_dir / "export")
    ops = edge_ops(args.space, trial.genotype)
    memory = nas.strategy.memory
    row = {
        "remedy": remedy,
        "test": trial.metrics["test_accuracy"],
        "free": sum(op in FREE_OPS for op in ops),
        "edges": len(ops),
        "skips": ops.count("skip_connect"),
        "supernet_s": sum(h["seconds"] for h in nas.strategy.history),
        "search_s": seconds,
    }
    print(f"\nseed {seed}, remedy {remedy!r}: derived {trial.genotype}")
    print(
        f"  test accuracy {row['test']:.4f} (validation {trial.metrics['accuracy']:.4f}), "
        f"latency {trial.metrics.get('latency_ms', float('nan')):.3f} ms, params {trial.metrics.get('params')}"
    )
    print(
        f"  parameter-free edges {row['free']}/{row['edges']} (skip_connect {row['skips']}); "
        f"supernet {row['supernet_s']:.0f} s, whole search {seconds:.0f} s; "
        f"supernet step peak {memory['peak_bytes'] / 2**20:.1f} MiB ({memory['method']})"
    )
    return nas, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", choices=sorted(SPACES), default="nb201")
    parser.add_argument("--remedy", nargs="+", default=["none", "darts-minus"], choices=darts.REMEDIES)
    parser.add_argument("--random", type=int, default=10, help="random architectures to train per seed")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every trial")
    parser.add_argument("--supernet-epochs", type=int, default=20)
    # digits has 1,078 training images: batches of 32 give 34 steps per epoch, and the
    # paper's 3e-4 (tuned for 390 steps per epoch on CIFAR-10) would barely move α.
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--alpha-lr", type=float, default=3e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="each seed also draws its own split")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space_options, supernet = SPACES[args.space]
    print(
        f"DARTS (first order) on digits, space {args.space} {space_options}, supernet {supernet}, "
        f"{args.supernet_epochs} supernet epochs, batch {args.batch_size}, alpha_lr {args.alpha_lr}; "
        f"every trial {args.epochs} epochs; {args.threads} torch thread(s)"
    )
    rows, randoms = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for remedy in args.remedy:
                nas, row = run_darts(args, seed, remedy, Path(tmp) / f"seed{seed}-{remedy}")
                rows.append({"seed": seed, **row})
            accuracies, seconds = random_test_accuracies(nas, seed, args.random, args.threads, verbose=True)
            randoms.append({"seed": seed, "accuracies": accuracies, "seconds": seconds})

    print(f"\n{'seed':>4} {'':26} {'test accuracy':>16} {'free edges':>11} {'supernet s':>11} {'search s':>9}")
    for random in randoms:
        seed = random["seed"]
        for row in (r for r in rows if r["seed"] == seed):
            print(
                f"{seed:>4} DARTS, remedy {row['remedy']:<12} {row['test']:>16.4f} "
                f"{row['free']:>8}/{row['edges']} {row['supernet_s']:>11.0f} {row['search_s']:>9.0f}"
            )
        acc = random["accuracies"]
        spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
        label = f"{len(acc)} random architectures"
        print(f"{seed:>4} {label:<26} {statistics.mean(acc):>9.4f} ± {spread:.4f} {'':>23} {random['seconds']:>9.0f}")
    random_mean = statistics.mean(a for random in randoms for a in random["accuracies"])
    print(f"\nmean over seeds: random {random_mean:.4f}")
    for remedy in args.remedy:
        tests = [r["test"] for r in rows if r["remedy"] == remedy]
        wins = sum(
            r["test"] > statistics.mean(random["accuracies"])
            for r in rows
            for random in randoms
            if r["remedy"] == remedy and random["seed"] == r["seed"]
        )
        free = sum(r["free"] for r in rows if r["remedy"] == remedy)
        edges = sum(r["edges"] for r in rows if r["remedy"] == remedy)
        print(
            f"DARTS, remedy {remedy!r}: {statistics.mean(tests):.4f}, beats its seed's random mean "
            f"{wins}/{len(tests)}, parameter-free edges {free}/{edges}"
        )


if __name__ == "__main__":
    main()
