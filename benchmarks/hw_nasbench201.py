"""Hardware-aware NAS-Bench-201: accuracy against Raspberry Pi 5 latency, by hypervolume.

Two objectives on the NAS-Bench-201 tables: the 12-epoch CIFAR-10 validation accuracy
(``cifar10_valid_12ep``, maximised) and the latency measured on a Raspberry Pi 5
(``nb201_device_latency.csv``, column ``--column``, default ``pi5_onnx_latency_ms``,
minimised). Each method queries ``--queries`` architectures per run; a run is scored by
the hypervolume of the non-dominated set of what it queried divided by the hypervolume
of the true front, computed from all 15,625 rows. Printed: mean ± std of that ratio
over ``--seeds`` runs, and the share of runs reaching ``--target`` (0.98).

Normalisation, the same for every method: accuracy as a fraction (``acc / 100``), latency
divided by the table's largest latency, both as losses ``(1 - acc/100, latency / max)``.
The reference point is the worst loss of each objective over the whole table, moved
beyond it by 1% of that objective's range, so every architecture counts.

Methods, all in this process on the same table:

* ``nsga2``: our ``evolution`` strategy (NSGA-II with two objectives). With the contrib
  package ``automl-codegen-nasbench201`` installed it runs through the real engine
  (``NeuralArchitectureSearch``, space ``nb201``, evaluator ``nasbench201`` with the
  latency table, journal and all); without it, ``EvolutionStrategy`` is driven
  directly by ask/tell with a lookup in this script. The first line says which.
* ``random``: ``--queries`` genotypes sampled from the ``nb201`` space (with replacement).
* ``optuna-nsga2``: Optuna's ``NSGAIISampler`` (default settings, seeded, in-memory),
  the six edge ops as categorical parameters (needs ``optuna``; left out without it).

    python benchmarks/hw_nasbench201.py --queries 300 --seeds 20
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from automl_codegen import Objective, Trial
from automl_codegen.pareto import hypervolume, non_dominated_sort
from automl_codegen_plugins.spaces.nb201 import EDGES, OPS, NB201Space, cell_string, parse_cell

TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nasbench201"
ACCURACY = "cifar10_valid_12ep"
OBJECTIVES = (Objective("accuracy", "max"), Objective("latency_ms", "min"))


class Problem:
    """The two tables joined by index, the normalisation and the true front's hypervolume."""

    def __init__(self, tables: Path, column: str) -> None:
        self.accuracy_table = tables / "nb201_accuracy.csv"
        self.latency_table = tables / "nb201_device_latency.csv"
        with open(self.accuracy_table, newline="") as handle:
            rows = list(csv.DictReader(handle))
        with open(self.latency_table, newline="") as handle:
            latency = {row["index"]: float(row[column]) for row in csv.DictReader(handle)}
        self.column = column
        #: canonical cell string -> (accuracy in %, latency in ms)
        self.cells = {
            cell_string(parse_cell(row["arch"])): (float(row[ACCURACY]), latency[row["index"]]) for row in rows
        }
        values = np.array(list(self.cells.values()))
        self.max_latency = float(values[:, 1].max())
        losses = self.losses(values[:, 0], values[:, 1])
        worst, best = losses.max(axis=0), losses.min(axis=0)
        self.reference = worst + 0.01 * (worst - best)
        self.true_front = losses[non_dominated_sort(losses)[0]]
        self.true_hv = hypervolume(self.true_front, self.reference)

    def losses(self, accuracy_pct, latency_ms) -> np.ndarray:
        accuracy_pct, latency_ms = np.atleast_1d(accuracy_pct), np.atleast_1d(latency_ms)
        return np.stack([1.0 - accuracy_pct / 100.0, latency_ms / self.max_latency], axis=1)

    def ratio(self, queried: list[tuple[float, float]]) -> float:
        """Hypervolume of the queried (accuracy %, latency ms) pairs over the true front's."""
        values = np.array(queried, dtype=float)
        return hypervolume(self.losses(values[:, 0], values[:, 1]), self.reference) / self.true_hv

    def lookup(self, genotype: str) -> tuple[float, float]:
        return self.cells[cell_string(parse_cell(genotype))]


def has_contrib_evaluator() -> bool:
    if importlib.util.find_spec("automl_codegen_nasbench201") is None:
        return False
    from automl_codegen.plugins import Registry, get_plugin_manager

    return "nasbench201" in Registry(get_plugin_manager()).names("evaluator")


def run_nsga2_engine(problem: Problem, queries: int, seed: int, options: dict) -> float:
    from automl_codegen import NeuralArchitectureSearch

    with tempfile.TemporaryDirectory() as tmp:
        nas = NeuralArchitectureSearch(
            dataset="nb201-cifar10",
            space="nb201",
            strategy="evolution",
            objectives=["accuracy", "latency_ms"],
            evaluator="nasbench201",
            evaluator_options={
                "table": str(problem.accuracy_table),
                "latency_table": str(problem.latency_table),
                "latency_column": problem.column,
            },
            profilers=(),
            strategy_options=options,
            budget={"trials": queries},
            seed=seed,
            progress=False,
            run_dir=Path(tmp) / "run",
        )
        result = nas.search()
    # The evaluator reports accuracy as a fraction: back to % for the shared normalisation.
    return problem.ratio([(t.metrics["accuracy"] * 100, t.metrics["latency_ms"]) for t in result.trials if t.ok])


def run_nsga2_ask_tell(problem: Problem, queries: int, seed: int, options: dict) -> float:
    from automl_codegen_plugins.strategies.evolution import EvolutionStrategy

    space = NB201Space((3, 32, 32), 10)
    strategy = EvolutionStrategy(space, list(OBJECTIVES), seed=seed, **options)
    queried = []
    for number in range(queries):
        (genotype,) = strategy.ask(1)
        acc, lat = problem.lookup(genotype)
        queried.append((acc, lat))
        values = {"accuracy": acc / 100, "latency_ms": lat}
        strategy.tell([Trial(number, genotype, metrics=dict(values), objectives=dict(values))])
    return problem.ratio(queried)


def run_random(problem: Problem, queries: int, seed: int, options: dict) -> float:
    space = NB201Space((3, 32, 32), 10)
    rng = np.random.default_rng(seed)
    return problem.ratio([problem.lookup(space.sample(rng)) for _ in range(queries)])


def run_optuna(problem: Problem, queries: int, seed: int, options: dict) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed, **options)
    )
    queried = []

    def objective(trial):
        ops = [trial.suggest_categorical(f"edge_{i}_{j}", OPS) for i, j in EDGES]
        acc, lat = problem.lookup(cell_string(ops))
        queried.append((acc, lat))
        return acc, lat

    study.optimize(objective, n_trials=queries)
    return problem.ratio(queried)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--column", default="pi5_onnx_latency_ms")
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--population-size", type=int, default=None, help="our NSGA-II's population_size")
    parser.add_argument("--ask-tell", action="store_true", help="drive our NSGA-II by ask/tell even with the engine")
    parser.add_argument("--tables", type=Path, default=TABLES)
    args = parser.parse_args(argv)
    if not (args.tables / "nb201_accuracy.csv").is_file():
        print(f"NAS-Bench-201 tables not found in {args.tables}", file=sys.stderr)
        return 2

    problem = Problem(args.tables, args.column)
    engine = has_contrib_evaluator() and not args.ask_tell
    ours = {} if args.population_size is None else {"population_size": args.population_size}
    methods = {"nsga2 (ours)": (run_nsga2_engine if engine else run_nsga2_ask_tell, ours), "random": (run_random, {})}
    if importlib.util.find_spec("optuna") is not None:
        methods["optuna-nsga2"] = (run_optuna, {})
    else:
        print("optuna is not installed: its NSGAIISampler is left out")

    print(
        f"Hardware-aware NAS-Bench-201, CIFAR-10 {ACCURACY} (max) vs {args.column} (min); "
        f"{args.queries} queries, {args.seeds} seeds"
    )
    print(
        f"our NSGA-II runs {'through the engine with the nasbench201 evaluator' if engine else 'by ask/tell'}; "
        f"losses (1 - acc/100, latency / {problem.max_latency:.3f} ms), reference "
        f"({problem.reference[0]:.4f}, {problem.reference[1]:.4f}); true front: {len(problem.true_front)} "
        f"architectures, hypervolume {problem.true_hv:.5f}"
    )
    print()
    print(f"| method | HV / true HV (mean ± std) | min | runs ≥ {args.target} | s per run |")
    print("| --- | --- | --- | --- | --- |")
    for name, (run, options) in methods.items():
        ratios, started = [], time.perf_counter()
        for seed in range(args.seeds):
            ratios.append(run(problem, args.queries, seed, options))
        seconds = (time.perf_counter() - started) / args.seeds
        std = statistics.stdev(ratios) if len(ratios) > 1 else math.nan
        reached = sum(r >= args.target for r in ratios)
        print(
            f"| {name} | {statistics.fmean(ratios):.4f} ± {std:.4f} | {min(ratios):.4f} | "
            f"{reached}/{len(ratios)} | {seconds:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
