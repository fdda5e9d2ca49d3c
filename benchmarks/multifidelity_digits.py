"""Multi-fidelity evolution against full-fidelity evolution on `digits`, by wall-clock time.

Per seed: a full-fidelity evolution search (every trial trains ``--epochs`` epochs) of
``--trials`` trials, timed; then the same search with successive halving (or Hyperband)
given half that wall-clock time as its budget. Printed per seed and averaged: the best
test accuracy each reaches (multi-fidelity: the best of its top rung, i.e. networks
trained as long as the full-fidelity ones), the wall-clock seconds, the trials and the
epochs trained.

    python benchmarks/multifidelity_digits.py --seeds 0 1 2
    python benchmarks/multifidelity_digits.py --schedule hyperband --seeds 0 1 2

Everything runs on one torch thread (``--threads``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from automl_codegen import NeuralArchitectureSearch


def search(args, seed: int, run_dir: Path, *, fidelity=None, seconds=None) -> dict:
    budget = {"seconds": seconds} if seconds is not None else {"trials": args.trials}
    started = time.perf_counter()
    nas = NeuralArchitectureSearch(
        dataset="digits",
        strategy="evolution",
        objectives=["accuracy"],
        budget=budget,
        epochs=args.epochs,
        patience=None,  # every trial trains its full budget, so the epochs are comparable
        seed=seed,
        fidelity=fidelity,
        profilers=(),
        evaluator_options={"threads": args.threads},
        run_dir=run_dir,
        progress=False,
    )
    result = nas.search()
    wall = time.perf_counter() - started
    best = result.best
    return {
        "test": best.metrics["test_accuracy"],
        "valid": best.metrics["accuracy"],
        "wall_s": wall,
        "trials": len(result.trials),
        "epochs": sum(t.metrics.get("epochs", 0) for t in result.trials),
        "full": sum(t.metrics.get("budget_epochs", args.epochs) == args.epochs for t in result.trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="trials of the full-fidelity search")
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a full training (the top rung)")
    parser.add_argument("--schedule", choices=["successive-halving", "hyperband"], default="successive-halving")
    parser.add_argument("--min-epochs", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fidelity = {"schedule": args.schedule, "min_epochs": args.min_epochs, "eta": args.eta}
    print(
        f"evolution on digits: full fidelity {args.trials} trials x {args.epochs} epochs, against "
        f"{args.schedule} (min_epochs {args.min_epochs}, eta {args.eta}) in half its wall-clock time; "
        f"{args.threads} torch thread(s)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            full = search(args, seed, Path(tmp) / f"full{seed}")
            multi = search(args, seed, Path(tmp) / f"multi{seed}", fidelity=fidelity, seconds=full["wall_s"] / 2)
            rows.append((seed, full, multi))
            for label, row in (("full fidelity", full), (args.schedule, multi)):
                print(
                    f"seed {seed} {label:<19} best test {row['test']:.4f} (validation {row['valid']:.4f}), "
                    f"{row['wall_s']:6.0f} s, {row['trials']:3d} trials ({row['full']} fully trained), "
                    f"{row['epochs']:4.0f} epochs",
                    flush=True,
                )
    full_test = statistics.mean(r[1]["test"] for r in rows)
    multi_test = statistics.mean(r[2]["test"] for r in rows)
    ratio = statistics.mean(r[2]["wall_s"] / r[1]["wall_s"] for r in rows)
    print(
        f"\nmean over {len(rows)} seeds: full fidelity {full_test:.4f}, {args.schedule} {multi_test:.4f} "
        f"in {ratio:.2f}x the wall-clock time; same or better: {multi_test >= full_test}"
    )


if __name__ == "__main__":
    main()
