"""Does a seconds budget hold? Wall time of whole searches on `digits` against their budget.

For each budget and seed, runs ``NeuralArchitectureSearch(budget={"seconds": S})`` with
every other setting at its default (so multi-fidelity is on) and prints the wall time
of ``search()`` over the budget, how many trials and distinct architectures it ran,
how many trials the time cap cut short, the best test accuracy, and the export time
(which comes after the search and is reported apart).

    python benchmarks/time_budget.py --budgets 30 60 120 --seeds 0 1 2
    python benchmarks/time_budget.py --budgets 97 --seeds 0 --dataset synthetic \
        --dataset-option num_samples=6700 --dataset-option image_size=28 --dataset-option num_classes=10

Target: wall / budget <= 1.10 in every run, and more than one architecture in each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from automl_codegen import NeuralArchitectureSearch


def one_run(seconds: float, seed: int, dataset: str, options: dict, workdir: Path) -> dict:
    run_dir = workdir / f"b{seconds:g}-s{seed}"
    nas = NeuralArchitectureSearch(
        dataset=dataset,
        dataset_options=options,
        budget={"seconds": seconds},
        seed=seed,
        run_dir=run_dir,
        progress=False,
    )
    started = time.perf_counter()
    result = nas.search()
    wall = time.perf_counter() - started
    started = time.perf_counter()
    result.export("pytorch", run_dir / "export")
    export_s = time.perf_counter() - started
    genotypes = {json.dumps(t.genotype, sort_keys=True) for t in result.trials}
    best = result.best
    return {
        "budget_s": seconds,
        "seed": seed,
        "wall_s": wall,
        "ratio": wall / seconds,
        "trials": len(result.trials),
        "architectures": len(genotypes),
        "time_capped": sum(bool(t.metrics.get("time_capped")) for t in result.trials),
        "test_accuracy": None if best is None else best.metrics.get("test_accuracy"),
        "export_s": export_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[30, 60, 120])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE", help="integer options")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    options = {key: int(value) for key, value in (item.split("=", 1) for item in args.dataset_option)}
    rows = []
    columns = ("budget", "seed", "wall s", "ratio", "trials", "archs", "capped", "test acc", "export s")
    print(" ".join(f"{name:>{max(len(name), 4)}}" for name in columns))
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.budgets:
            for seed in args.seeds:
                row = one_run(seconds, seed, args.dataset, options, Path(tmp))
                rows.append(row)
                accuracy = "-" if row["test_accuracy"] is None else f"{row['test_accuracy']:.4f}"
                print(
                    f"{seconds:7.0f} {seed:4d} {row['wall_s']:7.1f} {row['ratio']:6.3f} {row['trials']:6d} "
                    f"{row['architectures']:5d} {row['time_capped']:6d} {accuracy:>8} {row['export_s']:8.2f}",
                    flush=True,
                )
    worst = max(r["ratio"] for r in rows)
    fewest = min(r["architectures"] for r in rows)
    print(f"\nworst wall/budget {worst:.3f} (target <= 1.10); fewest architectures in a run: {fewest}")
    for seconds in args.budgets:
        ratios = [r["ratio"] for r in rows if r["budget_s"] == seconds]
        print(f"  {seconds:.0f} s: mean ratio {statistics.mean(ratios):.3f}, max {max(ratios):.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
