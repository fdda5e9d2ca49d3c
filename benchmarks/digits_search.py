"""A real search on the embedded `digits` dataset under a wall-clock budget.

Prints, per seed: how many trials fit, the best of the first (random) generation, the
best found (validation and test accuracy, latency), a hand-designed baseline trained
the same way, and whether the exported model.py, run in an interpreter that cannot
import automl_codegen, reproduces the test accuracy.

    python benchmarks/digits_search.py --seconds 180 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from automl_codegen import NeuralArchitectureSearch
from automl_codegen.evaluation import EvaluationContext, TrainingBudget
from automl_codegen_plugins.datasets.digits import load_digits
from automl_codegen_plugins.evaluators.train import TrainEvaluator
from automl_codegen_plugins.profilers.torch_cpu import TorchCPUProfiler
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace


def bare_interpreter(root: Path) -> Path:
    """A venv that sees this environment's packages but not the project (see tests)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin" / "python"


def exported_test_accuracy(python: Path, export_dir: Path, data_dir: Path) -> float:
    script = textwrap.dedent(
        f"""
        import numpy as np, torch
        try:
            import automl_codegen
            raise SystemExit("the project is importable; the check would prove nothing")
        except ImportError:
            pass
        from model import build_model
        model = build_model("model.pt")
        x = torch.from_numpy(np.load({str(data_dir / "x.npy")!r}))
        y = torch.from_numpy(np.load({str(data_dir / "y.npy")!r}))
        with torch.no_grad():
            print((model(x).argmax(1) == y).float().mean().item())
        """
    )
    out = subprocess.run([str(python), "-c", script], cwd=export_dir, capture_output=True, text=True, check=True)
    return float(out.stdout)


def baseline(seed: int, epochs: int) -> dict[str, float]:
    """The space's hand-designed default network, trained exactly like a trial."""
    data = load_digits(seed=seed)
    space = ChainCNNSpace(data.input_shape, data.num_classes)
    context = EvaluationContext(
        dataset=data, budget=TrainingBudget(epochs=epochs), seed=seed, profilers=[TorchCPUProfiler()]
    )
    return TrainEvaluator().evaluate(space.to_architecture(space.default_genotype()), context).metrics


def run(seed: int, seconds: float, epochs: int, work: Path, python: Path) -> dict:
    started = time.perf_counter()
    nas = NeuralArchitectureSearch(
        dataset="digits",
        strategy="evolution",
        objectives=["accuracy"],
        budget={"seconds": seconds},
        epochs=epochs,
        seed=seed,
        run_dir=work / f"run-{seed}",
        progress=False,
    )
    result = nas.search()
    elapsed = time.perf_counter() - started
    summary = result.summary()
    export_dir = work / f"export-{seed}"
    result.export("pytorch", export_dir)
    data = load_digits(seed=seed)
    data_dir = work / f"data-{seed}"
    data_dir.mkdir()
    np.save(data_dir / "x.npy", data.x_test)
    np.save(data_dir / "y.npy", data.y_test)
    reproduced = exported_test_accuracy(python, export_dir, data_dir)
    best, first = summary["best"]["metrics"], summary["best_of_first_generation"]["metrics"]
    size = summary["first_generation_size"]
    val = [t.metrics.get("accuracy", 0.0) for t in result.trials]
    return {
        "seed": seed,
        "elapsed_s": round(elapsed, 1),
        "trials": summary["trials"],
        "failed": summary["failed"],
        "first_generation_size": summary["first_generation_size"],
        "first_generation_best_val": first["accuracy"],
        "first_generation_best_test": first["test_accuracy"],
        # The typical random architecture against the typical one evolution proposes last.
        "first_generation_mean_val": float(np.mean(val[:size])),
        "last_generation_mean_val": float(np.mean(val[-size:])) if len(val) >= 2 * size else None,
        "best_val": best["accuracy"],
        "best_test": best["test_accuracy"],
        "best_latency_ms": best["latency_ms"],
        "best_params": best["params"],
        "exported_test": reproduced,
        "reproduced": abs(reproduced - best["test_accuracy"]) < 1e-6,
        "baseline_test": baseline(seed, epochs)["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        python = bare_interpreter(work / "bare")
        rows = [run(seed, args.seconds, args.epochs, work, python) for seed in args.seeds]
    print(json.dumps(rows, indent=2))
    print(
        "\n| seed | trials | first gen: mean val / best val / its test | last gen mean val "
        "| best val | best test | exported test | baseline test | best latency ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        last = f"{r['last_generation_mean_val']:.2%}" if r["last_generation_mean_val"] is not None else "n/a"
        print(
            f"| {r['seed']} | {r['trials']} | {r['first_generation_mean_val']:.2%} / "
            f"{r['first_generation_best_val']:.2%} / {r['first_generation_best_test']:.2%} | {last} | "
            f"{r['best_val']:.2%} | {r['best_test']:.2%} | {r['exported_test']:.2%} | {r['baseline_test']:.2%} | "
            f"{r['best_latency_ms']:.3f} |"
        )
    tests = [r["best_test"] for r in rows]
    print(f"\nbest test accuracy: mean {np.mean(tests):.2%} over {len(rows)} seed(s), min {min(tests):.2%}")


if __name__ == "__main__":
    main()
