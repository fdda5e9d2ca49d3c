"""Tabular search against scikit-learn's defaults and a hand-written PyTorch MLP.

On the tables that ship with scikit-learn (``wine`` and ``iris`` classification,
``diabetes`` regression), for each seed one stratified (classification) or random
(regression) split into 60% train, 20% validation and 20% test is drawn, and every
method sees the same split:

* ``search``: this project's search (``task`` tabular, the default ``mlp`` space,
  evolution) on train/validation, then the best architecture retrained on train +
  validation for the epochs its best trial trained (``result.retrain``).
* ``hgb``: ``HistGradientBoosting{Classifier,Regressor}()`` with default settings.
* ``sk-mlp``: ``MLP{Classifier,Regressor}()`` with default settings (``max_iter=1000`` so it converges).
* ``torch-mlp``: two hidden layers of 64 ReLU units, AdamW, up to 200 epochs: the epoch
  count with the best validation score, then refitted on train + validation for that
  many epochs: what one writes by hand.

Every method ends fitted on train + validation (the refit of a model selection, as
scikit-learn's ``GridSearchCV`` does it); the validation split alone is there for the
methods that select something first: the search, and the torch MLP's epoch count. Inputs are
standardised with the training split's statistics for every method; regression targets
too, and errors are reported in the target's units. Prints one Markdown table: the mean
and standard deviation over seeds of test accuracy (classification) or test MSE
(regression), and the mean seconds per fit.

    python benchmarks/tabular.py --seeds 5 --trials 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import torch
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from torch import nn

from automl_codegen import NeuralArchitectureSearch

TABLES = {
    "wine": (datasets.load_wine, "tabular_classification"),
    "iris": (datasets.load_iris, "tabular_classification"),
    "diabetes": (datasets.load_diabetes, "tabular_regression"),
}


def split(x: np.ndarray, y: np.ndarray, seed: int, classify: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """60/20/20, per class when classifying, the same for every method of a seed."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == label) for label in np.unique(y)] if classify else [np.arange(len(y))]
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        order = rng.permutation(group)
        n_val, n_test = round(len(order) * 0.2), round(len(order) * 0.2)
        parts["test"] += order[:n_test].tolist()
        parts["validation"] += order[n_test : n_test + n_val].tolist()
        parts["train"] += order[n_test + n_val :].tolist()
    return {name: (x[np.sort(idx)], y[np.sort(idx)]) for name, idx in parts.items()}


def score(classify: bool, predicted: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy, or test mean squared error in the target's units."""
    return float(np.mean(predicted == y)) if classify else float(np.mean((predicted - y) ** 2))


def standardised(splits: dict[str, tuple[np.ndarray, np.ndarray]], classify: bool):
    """Inputs (and regression targets) scaled by the training split, and the target's scale."""
    x_train, y_train = splits["train"]
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    y_mean, y_std = (0.0, 1.0) if classify else (float(y_train.mean()), float(y_train.std()))
    out = {}
    for name, (x, y) in splits.items():
        out[name] = ((x - mean) / std, y if classify else (y - y_mean) / y_std)
    return out, y_mean, y_std


def fit_sklearn(model, splits, classify: bool) -> float:
    scaled, y_mean, y_std = standardised(splits, classify)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(*(np.concatenate(parts) for parts in zip(scaled["train"], scaled["validation"], strict=True)))
    predicted = model.predict(scaled["test"][0])
    return score(classify, predicted if classify else predicted * y_std + y_mean, splits["test"][1])


def fit_torch_mlp(splits, classify: bool, seed: int, epochs: int = 200) -> float:
    scaled, y_mean, y_std = standardised(splits, classify)
    best_epochs = train_torch_mlp(scaled["train"], scaled["validation"], classify, seed, epochs)[1]
    refit = tuple(np.concatenate(parts) for parts in zip(scaled["train"], scaled["validation"], strict=True))
    predict = train_torch_mlp(refit, None, classify, seed, best_epochs)[0]
    predicted = predict(scaled["test"][0])
    return score(classify, predicted if classify else predicted * y_std + y_mean, splits["test"][1])


def train_torch_mlp(train, validation, classify: bool, seed: int, epochs: int):
    """The MLP trained ``epochs`` epochs (a prediction function), and its best epoch on ``validation``."""
    torch.manual_seed(seed)
    x_train, y_train = (torch.tensor(a, dtype=torch.float32) for a in train)
    outputs = int(y_train.max()) + 1 if classify else 1
    model = nn.Sequential(
        nn.Linear(x_train.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, outputs)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    target = y_train.long() if classify else y_train

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.tensor(x, dtype=torch.float32))
        return out.argmax(1).numpy() if classify else out[:, 0].numpy()

    best, best_epoch = -np.inf, epochs
    for epoch in range(epochs):
        model.train()
        for index in torch.randperm(len(target)).split(64):
            optimizer.zero_grad()
            out = model(x_train[index])
            loss_fn(out if classify else out[:, 0], target[index]).backward()
            optimizer.step()
        if validation is not None:
            model.eval()
            val = score(classify, predict(validation[0]), validation[1])
            val = val if classify else -val
            if val > best:
                best, best_epoch = val, epoch + 1
    model.eval()
    return predict, best_epoch


def fit_search(splits, task: str, seed: int, trials: int, epochs: int) -> float:
    metric = "test_accuracy" if task.endswith("classification") else "test_mse"
    with tempfile.TemporaryDirectory() as run_dir:
        nas = NeuralArchitectureSearch(
            task=task,
            dataset=dict(splits),
            budget=trials,
            epochs=epochs,
            patience=epochs // 4,
            seed=seed,
            profilers=[],
            progress=False,
            run_dir=run_dir,
        )
        result = nas.search()
        final = result.retrain(epochs=max(1, round(result.best.metrics["best_epoch"])))
        return float(final.metrics[metric])


METHODS = ("search", "hgb", "sk-mlp", "torch-mlp")


def fit(method: str, splits, task: str, seed: int, args: argparse.Namespace) -> float:
    """The test figure of ``method`` on one split."""
    classify = task.endswith("classification")
    if method == "search":
        return fit_search(splits, task, seed, args.trials, args.epochs)
    if method == "hgb":
        model = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return fit_sklearn(model(random_state=seed), splits, classify)
    if method == "sk-mlp":
        model = MLPClassifier if classify else MLPRegressor
        return fit_sklearn(model(max_iter=1000, random_state=seed), splits, classify)
    return fit_torch_mlp(splits, classify, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=30, help="trials per search")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs per trial")
    parser.add_argument("--tables", nargs="*", default=list(TABLES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| table | metric | method | mean | std | seconds per fit |")
    print("|---|---|---|---|---|---|")
    for table in args.tables:
        load, task = TABLES[table]
        classify = task.endswith("classification")
        bunch = load()
        x, y = bunch.data.astype(np.float32), bunch.target
        y = y.astype(np.int64) if classify else y.astype(np.float32)
        for name in METHODS:
            scores, seconds = [], []
            for seed in range(args.seeds):
                splits = split(x, y, seed, classify)
                started = time.perf_counter()
                scores.append(fit(name, splits, task, seed, args))
                seconds.append(time.perf_counter() - started)
            metric = "test accuracy" if classify else "test MSE"
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            print(
                f"| {table} | {metric} | {name} | {statistics.mean(scores):.4g} | {spread:.3g} | "
                f"{statistics.mean(seconds):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
