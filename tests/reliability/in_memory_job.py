"""A search of in-memory data with a Python objective and a callback, killed and resumed.

Run as a script (``python in_memory_job.py RUN_DIR KIND EVENTS``) it starts the search
that ``test_in_memory_kill.py`` kills; imported, it gives the test the same data,
objective and callback to resume with.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from automl_codegen import Callback, NeuralArchitectureSearch, Objective


def accuracy_per_kparam(metrics):
    return metrics["accuracy"] / (metrics["params"] / 1000)


OBJECTIVE = Objective("acc_per_kparam", accuracy_per_kparam, direction="max", needs=["accuracy", "params"])
TRIALS = 6


def data(kind: str):
    """Digits as channels-last numpy arrays, or as a torch Dataset of (C, H, W) tensors."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.images[:400].astype(np.float32), bunch.target[:400]
    if kind == "numpy":
        return x[..., None], y
    import torch

    return torch.utils.data.TensorDataset(torch.from_numpy(x[:, None]), torch.from_numpy(y))


class EventLog(Callback):
    """Appends one line per trial event to a file, so another process can follow."""

    def __init__(self, path: Path, pause: float = 0.0) -> None:
        self.path, self.pause = Path(path), pause

    def on_trial_start(self, run, number, genotype):
        time.sleep(self.pause)  # slows the killed run, so it is killed mid-search

    def on_trial_end(self, run, trial):
        with self.path.open("a") as log:
            log.write(f"end {trial.number}\n")


def search(run_dir: Path, kind: str, events: Path, pause: float = 0.0) -> NeuralArchitectureSearch:
    return NeuralArchitectureSearch(
        dataset=data(kind),
        objectives=[OBJECTIVE, "accuracy"],
        budget=TRIALS,
        epochs=2,
        profilers=["torch-cpu"],
        profiler_options={"torch-cpu": {"calibrate": False, "min_run_time": 0.01, "warmup": 1}},
        strategy_options={"population_size": 3},
        space_options={"widths": [4, 8], "depths": [1]},
        callbacks=[EventLog(events, pause)],
        progress=False,
        device="cpu",
        run_dir=run_dir,
    )


if __name__ == "__main__":
    run_dir, kind, events = sys.argv[1:4]
    search(Path(run_dir), kind, Path(events), pause=0.5).search()
