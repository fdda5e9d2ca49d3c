"""NAS-Bench-201 tabular benchmark: our strategies, random search and Optuna on one table.

Every run searches the ``nb201`` space for ``--queries`` architectures, seeing only the
12-epoch validation accuracy (the search signal), and returns its best trial by that
signal; the run is judged by that architecture's 200-epoch test accuracy (the
NATS-Bench protocol). Printed: mean ± std over ``--seeds`` runs per strategy and
dataset, the published figures beside them, and each strategy's overhead per query.

* ``evolution``, ``rl`` and ``random`` (the contrib package ``automl-codegen-random``)
  run through the real engine, ``NeuralArchitectureSearch`` with the ``nasbench201``
  evaluator, so their overhead is the framework's own: the strategy, the SQLite
  journal (a trial is recorded when it starts and, with the strategy's state, when it
  ends), ``trials.jsonl``, and ``best.json`` (the best genotype lowered to the IR, at
  most once a second; the evaluator itself needs no IR).
* ``tpe`` and ``nsga2`` are Optuna's ``TPESampler`` and ``NSGAIISampler`` (default
  settings, in-memory storage), asking for the six edge ops as categorical parameters
  and looking the same table up through the same evaluator, in this process.
* ``darts`` is left out: it trains a weight-sharing supernet on real images, which a
  table of finished trainings cannot stand in for.

Overhead per query = (wall time of the search - time spent in table lookups) / queries.

    # The README's figures (about a minute on 2 cores):
    python benchmarks/nasbench201.py --queries 100 --seeds 50 --seeds-for cifar100=20 --seeds-for imagenet16=20 \
        --strategies evolution rl "rl[controller=factorized]" random tpe nsga2
    # 5,000 queries (40 s):
    python benchmarks/nasbench201.py --datasets cifar10 --queries 5000 --seeds 2 \
        --strategies evolution rl "rl[controller=factorized]" random
    python benchmarks/nasbench201.py --breakdown --seeds 10 --strategies evolution rl random

Needs ``automl-codegen-nasbench201`` and ``automl-codegen-random`` installed and, for the
Optuna peers, ``optuna`` (left out with a note when it is missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from automl_codegen_nasbench201 import DATASETS, NasBench201Evaluator

from automl_codegen import Architecture, NeuralArchitectureSearch
from automl_codegen import journal as journal_module
from automl_codegen.journal import RunJournal
from automl_codegen.plugins import get_plugin_manager
from automl_codegen_plugins.spaces.nb201 import EDGES, OPS, cell_string

ENGINE_STRATEGIES = ("evolution", "rl", "random")
OPTUNA_STRATEGIES = ("tpe", "nsga2")
TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
# 200-epoch test accuracy (%), mean ± std over runs: the NAS-Bench-201 paper as quoted in
# ../shared/data/nasbench201/README.md. None: not published there.
PUBLISHED = {
    "REINFORCE (NAS-Bench-201)": {"cifar10": (93.85, 0.37)},
    "random (NAS-Bench-201)": {"cifar10": (93.70, 0.36)},
}


class Variant:
    """A strategy with options, written ``name`` or ``name[key=value,key=value]`` (values JSON if they parse)."""

    def __init__(self, text: str) -> None:
        name, bracket, inside = text.partition("[")
        if bracket and not inside.endswith("]"):
            raise SystemExit(f"strategy {text!r}: write NAME or NAME[key=value,...]")
        self.label, self.name, self.options = text, name, {}
        for pair in filter(None, inside[:-1].split(",")):
            key, eq, raw = pair.partition("=")
            if not (key and eq):
                raise SystemExit(f"strategy {text!r}: {pair!r} is not key=value")
            try:
                self.options[key.strip()] = json.loads(raw)
            except ValueError:
                self.options[key.strip()] = raw.strip()
        if name not in (*ENGINE_STRATEGIES, *OPTUNA_STRATEGIES):
            known = ", ".join((*ENGINE_STRATEGIES, *OPTUNA_STRATEGIES))
            raise SystemExit(f"unknown strategy {name!r}; choose from {known}")
        if name in OPTUNA_STRATEGIES and self.options:
            raise SystemExit(f"{text!r}: the Optuna peers run with their default settings only")

    @property
    def optuna(self) -> bool:
        return self.name in OPTUNA_STRATEGIES


# -- where the time goes ---------------------------------------------------------------------


class Phases:
    """Wall-clock seconds per phase of the engine, gathered by wrapping the calls that make it up.

    Top-level phases add up to (almost) the search's wall time; the nested ones (marked
    ``of which``) are parts of the journal's phases.
    """

    TOP = (
        "lower genotype -> IR (space.to_architecture)",
        "table lookup (evaluator.evaluate)",
        "strategy.ask",
        "strategy.tell",
        "strategy.state_dict",
        "journal.start_trial",
        "journal.finish_trial",
        "journal.save_best",
        "journal.log_event",
    )
    NESTED = ("of which architecture -> JSON", "of which other JSON (state, metrics)")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, label: str, function: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started

        return wrapper

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Wrap the journal's writes and the architecture's serialisation for the duration."""
        targets = [
            (RunJournal, "start_trial", "journal.start_trial"),
            (RunJournal, "finish_trial", "journal.finish_trial"),
            (RunJournal, "save_best", "journal.save_best"),
            (RunJournal, "log_event", "journal.log_event"),
            (Architecture, "to_dict", "of which architecture -> JSON"),
            (journal_module, "_dumps", "of which other JSON (state, metrics)"),
        ]
        originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
        try:
            for (owner, name, label), (_, _, original) in zip(targets, originals, strict=True):
                setattr(owner, name, self.timed(label, original))
            yield
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def instrument(self, nas: NeuralArchitectureSearch) -> None:
        """Wrap one search's space, evaluator and strategy (instance attributes, nothing global)."""
        nas.space.to_architecture = self.timed(self.TOP[0], nas.space.to_architecture)
        nas.evaluator.evaluate = self.timed(self.TOP[1], nas.evaluator.evaluate)
        for name in ("ask", "tell", "state_dict"):
            setattr(nas.strategy, name, self.timed(f"strategy.{name}", getattr(nas.strategy, name)))


# -- one run ---------------------------------------------------------------------------------


def engine_run(
    variant: Variant,
    dataset: str,
    seed: int,
    queries: int,
    table: str,
    work: Path,
    pm: Any,
    phases: Phases | None = None,
) -> dict:
    """One search through the engine; the returned architecture is its best trial."""
    nas = NeuralArchitectureSearch(
        dataset=f"nb201-{dataset}",
        space="nb201",
        strategy=variant.name,
        strategy_options=variant.options,
        evaluator="nasbench201",
        evaluator_options={"table": table},
        profilers=[],
        budget=queries,
        seed=seed,
        progress=False,
        run_dir=work / f"seed{seed}",
        plugin_manager=pm,
    )
    if phases is not None:
        phases.instrument(nas)
    started = time.perf_counter()
    result = nas.search()
    wall = time.perf_counter() - started
    best = result.best
    return {
        "test": best.metrics["test_accuracy"] * 100,
        "valid": best.metrics["accuracy"] * 100,
        "unique": len({nas.space.key(t.genotype) for t in result.trials}),
        "wall_s": wall,
        "lookup_s": nas.evaluator.lookup_seconds,
        "queries": len(result.trials),
    }


def optuna_run(sampler: str, dataset: str, seed: int, queries: int, evaluator: NasBench201Evaluator) -> dict:
    """One Optuna study (ask/tell) over the six edge ops, scored by the same lookups."""
    import optuna

    make = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler}[sampler]
    before = evaluator.lookup_seconds
    started = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=make(seed=seed))
    seen, best = set(), None
    for _ in range(queries):
        trial = study.ask()
        cell = cell_string([trial.suggest_categorical(f"edge_{i}_{j}", OPS) for i, j in EDGES])
        metrics = evaluator.lookup(cell, dataset)
        study.tell(trial, metrics["accuracy"])
        seen.add(cell)
        if best is None or metrics["accuracy"] > best["accuracy"]:
            best = metrics
    wall = time.perf_counter() - started
    return {
        "test": best["test_accuracy"] * 100,
        "valid": best["accuracy"] * 100,
        "unique": len(seen),
        "wall_s": wall,
        "lookup_s": evaluator.lookup_seconds - before,
        "queries": queries,
    }


# -- the table -------------------------------------------------------------------------------


def optimum(evaluator: NasBench201Evaluator, dataset: str) -> tuple[float, float]:
    """(best 200-epoch test accuracy, that of the architecture with the best search signal)."""
    records = [evaluator.table.lookup(cell, dataset) for cell in evaluator.table.cells()]
    best_test = max(r.test_200ep for r in records)
    best_signal = max(records, key=lambda r: (r.valid_12ep, r.test_200ep))
    return best_test, best_signal.test_200ep


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {std:.2f}"


def print_table(results: dict, variants: list[Variant], optima: dict, seeds: dict[str, int], queries: int) -> None:
    datasets = list(seeds)
    width = 17
    first = max(36, *(len(v.label) + len(" (optuna)") + 2 for v in variants))
    head = f"{'strategy':<{first}}" + "".join(f"{TITLES[d]:>{width}}" for d in datasets) + f"{'overhead ms/query':>20}"
    runs = ", ".join(f"{TITLES[d]} {n}" for d, n in seeds.items())
    print(f"\nNAS-Bench-201, {queries} queries per run, seeds per dataset: {runs}")
    print("200-epoch test accuracy (%) of the architecture with the best 12-epoch validation accuracy,")
    print("mean ± std over seeds; overhead = (wall - table lookups) / queries, median over runs\n")
    print(head)
    print("-" * len(head))
    for variant in variants:
        runs_all = [r for d in datasets for r in results.get((variant.label, d), [])]
        if not runs_all:
            continue
        overhead = statistics.median((r["wall_s"] - r["lookup_s"]) / r["queries"] * 1000 for r in runs_all)
        cells = "".join(
            f"{mean_std([r['test'] for r in results.get((variant.label, d), [])]):>{width}}" for d in datasets
        )
        label = variant.label + (" (optuna)" if variant.optuna else "")
        print(f"{label:<{first}}{cells}{overhead:>20.2f}")
    print("-" * len(head))
    for label, figures in PUBLISHED.items():
        cells = "".join(
            f"{(f'{figures[d][0]:.2f} ± {figures[d][1]:.2f}' if d in figures else '-'):>{width}}" for d in datasets
        )
        print(f"{label:<{first}}{cells}")
    print(f"{'best on the search signal (table)':<{first}}" + "".join(f"{optima[d][1]:>{width}.2f}" for d in datasets))
    print(f"{'optimum (table)':<{first}}" + "".join(f"{optima[d][0]:>{width}.2f}" for d in datasets))


def print_overhead(results: dict, variants: list[Variant]) -> None:
    print("\nper query, ms, median over all runs: wall = overhead + table lookup")
    first = max(10, *(len(v.label) for v in variants))
    for variant in variants:
        runs = [r for (label, _), rs in results.items() if label == variant.label for r in rs]
        if not runs:
            continue
        wall = statistics.median(r["wall_s"] / r["queries"] * 1000 for r in runs)
        lookup = statistics.median(r["lookup_s"] / r["queries"] * 1000 for r in runs)
        unique = statistics.fmean(r["unique"] for r in runs)
        print(
            f"  {variant.label:<{first}} wall {wall:6.2f}   lookup {lookup:5.3f}   overhead {wall - lookup:6.2f}"
            f"   distinct architectures per run {unique:5.1f}"
        )


def breakdown(variants: list[Variant], seeds: int, queries: int, table: str, pm: Any, work: Path) -> None:
    """Per engine strategy, milliseconds per query in each phase (CIFAR-10, ``seeds`` runs)."""
    print(f"\nwhere the engine's time goes, ms per query (CIFAR-10, {queries} queries, {seeds} runs each)")
    engine = [v for v in variants if not v.optuna]
    columns = {}
    for variant in engine:
        phases = Phases()
        with phases.patched():
            runs = [
                engine_run(variant, "cifar10", seed, queries, table, work / f"breakdown-{len(columns)}", pm, phases)
                for seed in range(seeds)
            ]
        done = sum(r["queries"] for r in runs)
        wall = sum(r["wall_s"] for r in runs)
        top = sum(phases.seconds[label] for label in Phases.TOP)
        column = {label: phases.seconds[label] / done * 1000 for label in (*Phases.TOP, *Phases.NESTED)}
        column["rest of the engine loop"] = (wall - top) / done * 1000
        column["wall"] = wall / done * 1000
        columns[variant.label] = column
    labels = [*Phases.TOP, "rest of the engine loop", *Phases.NESTED, "wall"]
    widths = [max(11, len(v.label) + 2) for v in engine]
    print(f"{'':<46}" + "".join(f"{v.label:>{w}}" for v, w in zip(engine, widths, strict=True)))
    for label in labels:
        shown = f"  {label}" if label.startswith("of which") else label
        values = (columns[v.label][label] for v in engine)
        print(f"{shown:<46}" + "".join(f"{x:>{w}.3f}" for x, w in zip(values, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queries", type=int, default=100, help="architectures evaluated per run (default 100)")
    parser.add_argument(
        "--seeds", type=int, default=50, help="runs per strategy and dataset, seeds 0..N-1 (default 50)"
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run from here (default 0); tune options on other seeds than the ones you report",
    )
    parser.add_argument(
        "--seeds-for", action="append", default=[], metavar="DATASET=N", help="another number of seeds for one dataset"
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=[*ENGINE_STRATEGIES, *OPTUNA_STRATEGIES],
        metavar="NAME[key=value,...]",
        help=f"default: {' '.join((*ENGINE_STRATEGIES, *OPTUNA_STRATEGIES))}",
    )
    parser.add_argument("--table", default=None, help="nb201_accuracy.csv (default: the evaluator's default)")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument(
        "--breakdown", action="store_true", help="instead, time the engine's phases per query (CIFAR-10)"
    )
    args = parser.parse_args(argv)

    variants = [Variant(text) for text in args.strategies]
    seeds = dict.fromkeys(args.datasets, args.seeds)
    for item in args.seeds_for:
        dataset, _, count = item.partition("=")
        if dataset not in seeds or not count.isdigit():
            raise SystemExit(f"--seeds-for {item!r}: write DATASET=N for one of {', '.join(seeds)}")
        seeds[dataset] = int(count)
    evaluator = NasBench201Evaluator(**({"table": args.table} if args.table else {}))
    table = str(evaluator.table.path)
    if any(v.optuna for v in variants):
        try:
            import optuna
        except ImportError:
            print("optuna is not installed: the Optuna peers are left out (pip install optuna)", file=sys.stderr)
            variants = [v for v in variants if not v.optuna]
        else:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
    pm = get_plugin_manager()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nb201-bench-") as tmp:
        if args.breakdown:
            breakdown(variants, args.seeds, args.queries, table, pm, Path(tmp))
            return 0
        optima = {d: optimum(evaluator, d) for d in seeds}
        first = args.first_seed
        results: dict[tuple[str, str], list[dict]] = {}
        for dataset, count in seeds.items():
            for number, variant in enumerate(variants):
                clock = time.perf_counter()
                work = Path(tmp) / f"{dataset}-{number}"
                if variant.optuna:
                    chosen = range(first, first + count)
                    runs = [optuna_run(variant.name, dataset, s, args.queries, evaluator) for s in chosen]
                else:
                    chosen = range(first, first + count)
                    runs = [engine_run(variant, dataset, s, args.queries, table, work, pm) for s in chosen]
                results[(variant.label, dataset)] = runs
                print(
                    f"{dataset:<11} {variant.label:<46} {mean_std([r['test'] for r in runs]):>14}"
                    f"  ({time.perf_counter() - clock:5.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(results, variants, optima, seeds, args.queries)
    print_overhead(results, variants)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s on this machine ({os.cpu_count()} CPUs, load average {load})")
    if args.json:
        rows = [
            {"strategy": s, "dataset": d, "seed": i, **r} for (s, d), rs in results.items() for i, r in enumerate(rs)
        ]
        args.json.write_text(json.dumps({"queries": args.queries, "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
