"""Our search against AutoKeras 3 on the same `digits` split and the same wall-clock budget.

For each seed, both sides get the identical train/validation/test arrays (the ``digits``
dataset plugin's split for that seed, already normalised; handed to AutoKeras as NHWC
through an .npz file, 8x8 as they are: AutoKeras's vanilla block pads small images
itself) and ``--seconds`` of wall clock. Each side picks its best model by validation
accuracy and is scored on the test split. Printed per seed and side, then as means:

* test accuracy of the chosen model (trained on the train split only, on both sides);
* its parameters (trainable ones on the Keras side, like ``torch`` ``parameters()``);
* batch-1 CPU latency: median of single forward passes after a warm-up, timed by this
  script in the same way on both sides, with ``--threads`` threads (torch
  ``set_num_threads``; TensorFlow intra- and inter-op threads): the exported PyTorch
  model called eagerly under ``no_grad``, and the Keras model called eagerly as
  ``model(x, training=False)``. Keras's eager call pays Python overhead per layer that
  dominates at this size, so the table also gives the Keras model's time as a
  ``tf.function`` graph ("graph ms"), how one would serve it. The JSON also has our
  profiler's own (calibrated) ``latency_ms``;
* wall time of the search (``search()`` here; ``AutoModel`` plus ``fit`` there, in its
  own process, without the TensorFlow import) and the trials finished (one whose
  training the deadline cut short counts, on both sides; the JSON says how many were).

Our side: ``NeuralArchitectureSearch(dataset="digits", budget={"seconds": S}, seed=s)``
with every other setting at its default (chain-cnn space, evolution, and the per-trial
training the API chooses for a seconds budget). It plans its trials not to run past the
budget, so its wall time comes out at or just under it. The JSON gives the epochs the
chosen model trained (and its multi-fidelity rung, where there is one).

AutoKeras side: ``ak.ImageInput() -> ak.ImageBlock(block_type="vanilla") ->
ak.ClassificationHead()`` in an ``ak.AutoModel`` (greedy tuner, ``max_trials`` 10,000,
``objective="val_accuracy"``, our validation split as ``validation_data``, seed s).
AutoKeras has no time budget, so this script adds one: a Keras callback stops the
training that is running when the deadline passes (after the batch in progress; the
epoch is then validated as usual), and a tuner subclass lets no trial start after it
(``pre_create_trial`` caps the oracle's ``max_trials`` at the trials it has). The best
trial's checkpoint is then the model, as AutoKeras itself would return it. AutoKeras
normally also refits the best model on train + validation after its search; we pass it
the same ``EarlyStopping(patience=10, min_delta=1e-4)`` it would add by itself, which
makes it skip that refit, so both sides report a model trained on the train split
alone and no training happens outside the budget. Its wall time is reported as it
came out: a few seconds over the budget (the cut epoch's validation and checkpoint, and
AutoKeras saving its best model at the end of ``fit``).

The AutoKeras environment: AutoKeras never goes into the project's venv. Unless
``--autokeras-python`` names an interpreter that has it, the script makes a venv under
``~/.cache/automl-codegen-bench/autokeras-venv`` (``$XDG_CACHE_HOME`` respected) with
``pip install -r benchmarks/autokeras-requirements.txt`` (autokeras 3.0.0, keras-tuner
1.4.8, keras 3.12.4, tensorflow-cpu 2.21.0, tensorboard 2.21.0) and rebuilds it when
that file changes. This file then runs there as the AutoKeras worker; it imports only
the standard library and numpy at the top for that reason.

Incompatibilities worked around, both in the requirements file:

* Keras is held at 3.12.x: from 3.13 on ``Dense(units=...)`` refuses a NumPy integer,
  and AutoKeras 3.0.0 passes the class count as ``np.int64`` (its ``dataset_shape``
  builds shapes with ``np.array``), so every trial fails with "Received an invalid
  value for `units`" and keras-tuner gives up after 3. TensorFlow 2.21 accepts 3.12.
* ``tensorboard`` is listed: keras-tuner 1.4.8 imports it in every trial on the
  TensorFlow backend, and tensorflow-cpu 2.21 no longer depends on it.

Reproduce (from the repository root, about 2 x 3 x 120 s plus the install):

    .venv/bin/python benchmarks/vs_autokeras.py --seconds 120 --seeds 0 1 2 --json vs_autokeras.json

Timings are wall-clock on a shared machine: other load on the cores shows up in them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "autokeras-requirements.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl-codegen-bench"
WORKER = "autokeras-worker"  # first argument that runs this file as the AutoKeras side
SPLITS = ("train", "val", "test")


def median_ms(call: Callable[[], object], repeats: int, warmup: int) -> float:
    """Median wall time of one call after ``warmup`` untimed ones, in milliseconds."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


# --- The AutoKeras side: runs in the AutoKeras venv, never imports the project. ---------------


def deadline_callback(keras: Any, deadline: float, cut: list[bool]) -> Any:
    """A Keras callback that ends the training in progress once ``deadline`` has passed."""

    class StopAtDeadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() >= deadline:
                self.model.stop_training = True
                cut.append(True)  # the closure's list: the per-trial deep copies all share it

    return StopAtDeadline()


def deadline_tuner(ak: Any, deadline: float) -> type:
    """AutoKeras's default (greedy) tuner, starting no trial once ``deadline`` has passed."""

    class DeadlineGreedy(ak.tuners.Greedy):
        def pre_create_trial(self):
            if time.perf_counter() >= deadline and self.oracle.trials:
                # The oracle answers STOPPED once it holds max_trials trials.
                self.oracle.max_trials = len(self.oracle.trials)

    return DeadlineGreedy


def autokeras_search(data: Path, out: Path, seconds: float, seed: int) -> dict[str, Any]:
    """Search with AutoKeras for ``seconds``; save the best model; return its figures."""
    import autokeras as ak
    import keras
    import tensorflow as tf

    arrays = np.load(data)
    x = {s: arrays[f"x_{s}"] for s in SPLITS}
    y = {s: arrays[f"y_{s}"] for s in SPLITS}
    keras.utils.set_random_seed(seed)
    cut: list[bool] = []
    started = time.perf_counter()
    deadline = started + seconds
    inputs = ak.ImageInput()
    outputs = ak.ClassificationHead()(ak.ImageBlock(block_type="vanilla")(inputs))
    auto_model = ak.AutoModel(
        inputs=inputs,
        outputs=outputs,
        objective="val_accuracy",
        max_trials=10_000,
        tuner=deadline_tuner(ak, deadline),
        directory=str(out),
        project_name="search",
        overwrite=True,
        seed=seed,
    )
    stop_early = keras.callbacks.EarlyStopping(patience=10, min_delta=1e-4)  # AutoKeras's own default
    auto_model.fit(
        x["train"],
        y["train"],
        validation_data=(x["val"], y["val"]),
        callbacks=[stop_early, deadline_callback(keras, deadline, cut)],
        verbose=0,
    )
    elapsed = time.perf_counter() - started

    best = auto_model.export_model()
    best.save(out / "best.keras")
    predicted = np.asarray(auto_model.predict(x["test"], verbose=0)).reshape(-1).astype(np.int64)
    statuses = [t.status for t in auto_model.tuner.oracle.trials.values()]
    chosen = auto_model.tuner.oracle.get_best_trials(1)[0]
    return {
        "versions": {"autokeras": ak.__version__, "keras": keras.__version__, "tensorflow": tf.__version__},
        "val_accuracy": float(chosen.score),
        "best_epochs": int(chosen.best_step) + 1,
        "test_accuracy": float(np.mean(predicted == y["test"])),
        "params": int(sum(np.prod(w.shape) for w in best.trainable_weights)),
        "params_all": int(best.count_params()),
        "wall_s": elapsed,
        "trials": statuses.count("COMPLETED"),
        "trials_failed": len(statuses) - statuses.count("COMPLETED"),
        "last_trial_cut": bool(cut),
    }


def autokeras_latency(model_path: Path, data: Path, threads: int, repeats: int) -> dict[str, float]:
    """Batch-1 latency of the saved Keras model on ``threads`` TensorFlow threads."""
    import tensorflow as tf

    # Before anything runs in TensorFlow, or the settings are refused.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import autokeras  # noqa: F401  (registers AutoKeras's layers for loading)
    import keras

    model = keras.models.load_model(model_path)
    x1 = tf.constant(np.load(data)["x_test"][:1])
    graph = tf.function(lambda x: model(x, training=False))
    return {
        "latency_ms": median_ms(lambda: model(x1, training=False), repeats, warmup=20),
        "latency_graph_ms": median_ms(lambda: graph(x1), repeats, warmup=20),
    }


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"vs_autokeras.py {WORKER}")
    parser.add_argument("task", choices=["search", "latency"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    if args.task == "search":
        figures = autokeras_search(args.data, args.out, args.seconds, args.seed)
    else:
        figures = autokeras_latency(args.out / "best.keras", args.data, args.threads, args.repeats)
    (args.out / f"{args.task}.json").write_text(json.dumps(figures))


# --- The AutoKeras environment, seen from the project's side. --------------------------------


def autokeras_env(venv: Path) -> Path:
    """The python of a venv with ``autokeras-requirements.txt`` installed, made if missing or stale."""
    python = venv / "bin" / "python"
    stamp = venv / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"making the AutoKeras venv in {venv} (a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def run_worker(python: Path, args: list[str], timeout: float) -> dict[str, Any] | str:
    """Run this file as the AutoKeras worker; its figures, or why there are none."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ""}
    try:
        done = subprocess.run(
            [str(python), str(Path(__file__).resolve()), WORKER, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return f"killed after {timeout:.0f} s"
    out = Path(args[args.index("--out") + 1]) / f"{args[0]}.json"
    if done.returncode != 0 or not out.exists():
        return f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"
    return json.loads(out.read_text())


def run_autokeras(
    python: Path, data: Path, work: Path, seed: int, seconds: float, threads: int, repeats: int
) -> dict[str, Any]:
    out = work / f"autokeras-{seed}"
    out.mkdir()
    common = ["--data", str(data), "--out", str(out)]
    started = time.perf_counter()
    # The in-process deadline is the budget; this timeout only catches a hung worker.
    search = run_worker(python, ["search", *common, "--seconds", str(seconds), "--seed", str(seed)], 2 * seconds + 300)
    process_s = time.perf_counter() - started
    if isinstance(search, str):
        return {"side": "autokeras", "seed": seed, "error": search, "process_s": process_s}
    latency = run_worker(python, ["latency", *common, "--threads", str(threads), "--repeats", str(repeats)], 600)
    if isinstance(latency, str):
        latency = {"latency_ms": float("nan"), "latency_error": latency}
    return {"side": "autokeras", "seed": seed, **search, **latency, "process_s": process_s}


# --- Our side. --------------------------------------------------------------------------------


def torch_latency_ms(export_dir: Path, x1: np.ndarray, threads: int, repeats: int) -> float:
    """Batch-1 latency of the exported ``model.py`` (what a user deploys) on ``threads`` threads."""
    import torch

    spec = importlib.util.spec_from_file_location(f"exported_{export_dir.name}", export_dir / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model(str(export_dir / "model.pt")).eval()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.from_numpy(x1)
        with torch.no_grad():
            return median_ms(lambda: model(x), repeats, warmup=20)
    finally:
        torch.set_num_threads(before)


def our_search(nas: Any, seed: int, work: Path, threads: int, repeats: int) -> dict[str, Any]:
    started = time.perf_counter()
    result = nas.search()
    elapsed = time.perf_counter() - started
    metrics = result.best.metrics
    export_dir = work / f"ours-export-{seed}"
    result.export("pytorch", export_dir)
    return {
        "side": "ours",
        "seed": seed,
        "val_accuracy": metrics["accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "params": int(metrics["params"]),
        "latency_ms": torch_latency_ms(export_dir, nas.dataset.x_test[:1], threads, repeats),
        "profiler_latency_ms": metrics["latency_ms"],
        "best_epochs": metrics.get("epochs"),
        "best_rung": metrics.get("rung"),
        "wall_s": elapsed,
        "trials": sum(t.ok for t in result.trials),
        "trials_failed": sum(not t.ok for t in result.trials),
        "trials_time_capped": sum(bool(t.metrics.get("time_capped")) for t in result.trials),
    }


def write_split(dataset: Any, path: Path) -> None:
    """The split our search sees, as NHWC float32 arrays for Keras."""
    arrays = {}
    for split in SPLITS:
        arrays[f"x_{split}"] = np.ascontiguousarray(getattr(dataset, f"x_{split}").transpose(0, 2, 3, 1))
        arrays[f"y_{split}"] = np.asarray(getattr(dataset, f"y_{split}"), dtype=np.int64)
    np.savez(path, **arrays)


# --- The comparison. ---------------------------------------------------------------------------

COLUMNS = ("test acc", "val acc", "params", "latency ms", "graph ms", "wall s", "trials")


def cells(row: dict[str, Any]) -> list[str]:
    if "error" in row:
        return ["failed"] * len(COLUMNS)
    return [
        f"{row['test_accuracy']:.2%}",
        f"{row['val_accuracy']:.2%}",
        f"{row['params']:,.0f}",
        f"{row['latency_ms']:.3f}",
        f"{row['latency_graph_ms']:.3f}" if "latency_graph_ms" in row else "-",
        f"{row['wall_s']:.1f}",
        f"{row['trials']:.1f}" if isinstance(row["trials"], float) else str(row["trials"]),
    ]


def mean_row(rows: list[dict[str, Any]], side: str) -> dict[str, Any] | None:
    mine = [r for r in rows if r["side"] == side and "error" not in r]
    if not mine:
        return None
    keys = ("test_accuracy", "val_accuracy", "params", "latency_ms", "latency_graph_ms", "wall_s", "trials")
    keys = [k for k in keys if all(k in r for r in mine)]
    return {"side": side, "seed": "mean", **{k: float(np.mean([r[k] for r in mine])) for k in keys}}


def print_table(rows: list[dict[str, Any]], means: list[dict[str, Any]], threads: int) -> None:
    print(f"\nlatency: batch 1, median of single forward passes on {threads} thread(s); graph: Keras as tf.function")
    print("| side | seed | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for row in [*rows, *means]:
        print(f"| {row['side']} | {row['seed']} | " + " | ".join(cells(row)) + " |")
    for row in rows:
        if "error" in row:
            print(f"\n{row['side']} seed {row['seed']} failed: {row['error']}")
    versions = next((r["versions"] for r in rows if "versions" in r), None)
    if versions:
        print("\nAutoKeras side: " + ", ".join(f"{name} {v}" for name, v in versions.items()))


def compare(args: argparse.Namespace, python: Path, work: Path) -> list[dict[str, Any]]:
    from automl_codegen import NeuralArchitectureSearch

    rows = []
    for seed in args.seeds:
        nas = NeuralArchitectureSearch(
            dataset="digits",
            budget={"seconds": args.seconds},
            seed=seed,
            progress=False,
            run_dir=work / f"ours-{seed}",
        )
        data = work / f"digits-{seed}.npz"
        write_split(nas.dataset, data)
        print(f"seed {seed}: our search ({args.seconds:g} s)", flush=True)
        rows.append(our_search(nas, seed, work, args.threads, args.repeats))
        print(f"seed {seed}: AutoKeras ({args.seconds:g} s)", flush=True)
        rows.append(run_autokeras(python, data, work, seed, args.seconds, args.threads, args.repeats))
    return rows


def main() -> None:
    if sys.argv[1:2] == [WORKER]:
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120, help="wall-clock budget of each search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="threads for the latency measurements")
    parser.add_argument("--repeats", type=int, default=200, help="timed single-image calls per latency")
    parser.add_argument("--autokeras-python", type=Path, help="an interpreter with autokeras installed")
    parser.add_argument("--autokeras-venv", type=Path, default=CACHE / "autokeras-venv")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    python = args.autokeras_python or autokeras_env(args.autokeras_venv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = compare(args, python, Path(tmp))
    means = [m for m in (mean_row(rows, side) for side in ("ours", "autokeras")) if m]
    print_table(rows, means, args.threads)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        report = {"settings": json.loads(json.dumps(settings, default=str)), "rows": rows, "means": means}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
