"""ENAS (the `enas` strategy) on `digits` against random architectures of the same space, on CPU.

Per seed: a whole search through the engine (``strategy="enas"``):
the shared supernet and its controller, then the ``retrain`` best children retrained
from scratch, profiled and recorded as trials. The search's result is its best trial by
validation accuracy (what ``result.best`` gives a user); its test accuracy is compared
with the mean ± std of ``--random`` architectures sampled from the same space and
trained with the same per-trial budget through the same evaluator on the same split.

    python benchmarks/enas_digits.py --seeds 0 1 2
    python benchmarks/enas_digits.py --space darts-cell --seeds 0

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

#: Small evaluation networks for 8×8 digits; the supernet has the same size.
SPACES = {
    "nb201": {"channels": 16, "cells_per_stage": 2},
    "darts-cell": {"init_channels": 8, "layers": 5},
}


def run_enas(args, seed: int, run_dir: Path) -> tuple[NeuralArchitectureSearch, dict]:
    started = time.perf_counter()
    nas = NeuralArchitectureSearch(
        dataset="digits",
        space=args.space,
        space_options=SPACES[args.space],
        strategy="enas",
        strategy_options={
            "epochs": args.supernet_epochs,
            "controller_steps": args.controller_steps,
            "retrain": args.retrain,
        },
        objectives=["accuracy", "latency_ms"],
        budget={"trials": args.retrain},
        epochs=args.epochs,
        seed=seed,
        evaluator_options={"threads": args.threads},
        run_dir=run_dir,
        progress=False,
    )
    result = nas.search()
    seconds = time.perf_counter() - started
    best = result.best
    supernet_s = sum(h["seconds"] for h in nas.strategy.supernet_history)
    print(f"\nseed {seed}: supernet {supernet_s:.0f} s (weights only), whole search {seconds:.0f} s")
    for h in nas.strategy.supernet_history[:: max(1, len(nas.strategy.supernet_history) // 5)]:
        print(
            f"  epoch {h['epoch']:3d}: train loss {h['train_loss']:.3f}, "
            f"controller reward {h.get('reward_mean', 0):.3f}, greedy child {h['greedy_accuracy']:.3f}"
        )
    for trial in result.history:
        mark = "*" if trial is best else " "
        print(
            f" {mark}retrained {trial.number}: validation {trial.metrics['accuracy']:.4f}, "
            f"test {trial.metrics['test_accuracy']:.4f}  {trial.genotype}"
        )
    row = {"test": best.metrics["test_accuracy"], "search_s": seconds, "supernet_s": supernet_s}
    return nas, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", choices=sorted(SPACES), default="nb201")
    parser.add_argument("--random", type=int, default=10, help="random architectures to train per seed")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every trial")
    parser.add_argument("--supernet-epochs", type=int, default=20)
    parser.add_argument("--controller-steps", type=int, default=10)
    parser.add_argument("--retrain", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="each seed also draws its own split")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"ENAS (rl, weight sharing) on digits, space {args.space} {SPACES[args.space]}, "
        f"{args.supernet_epochs} supernet epochs x {args.controller_steps} controller steps, "
        f"{args.retrain} children retrained; every trial {args.epochs} epochs; {args.threads} torch thread(s)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            nas, row = run_enas(args, seed, Path(tmp) / f"seed{seed}")
            accuracies, seconds = random_test_accuracies(nas, seed, args.random, args.threads, verbose=False)
            rows.append({"seed": seed, **row, "random": accuracies, "random_s": seconds})

    print(f"\n{'seed':>4} {'ENAS test':>10} {'random test (mean ± std)':>26} {'ENAS search s':>14} {'random s':>9}")
    for row in rows:
        acc = row["random"]
        spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(
            f"{row['seed']:>4} {row['test']:>10.4f} {statistics.mean(acc):>17.4f} ± {spread:.4f} "
            f"{row['search_s']:>14.0f} {row['random_s']:>9.0f}"
        )
    wins = sum(row["test"] > statistics.mean(row["random"]) for row in rows)
    print(
        f"\nmean over seeds: ENAS {statistics.mean(r['test'] for r in rows):.4f}, random "
        f"{statistics.mean(a for r in rows for a in r['random']):.4f}; ENAS beats its seed's random mean "
        f"{wins}/{len(rows)}; mean ENAS search {statistics.mean(r['search_s'] for r in rows):.0f} s"
    )


if __name__ == "__main__":
    main()
