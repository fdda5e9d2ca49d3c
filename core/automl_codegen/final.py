"""Final training: the chosen architecture trained from scratch on all the data it may learn from.

``SearchResult.retrain`` calls :func:`retrain`; the training itself is the run's
evaluator's (with ``EvaluationContext.final`` set), and so is writing the weights.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import attrs

from .config import _seed, resolve_device
from .errors import AutoMLCodeGenError, ConfigError, RunDirectoryError
from .evaluation import EvaluationContext, TrainingBudget
from .protocols import attribute
from .trial import Trial
from .weights import save_weights

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from .result import SearchResult

__all__ = ["retrain"]


def retrain(
    result: SearchResult,
    epochs: int,
    trial: Trial | int | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
    evaluator_options: Mapping[str, Any] | None = None,
    dataset: Any = None,
) -> Trial:
    """Train ``trial`` of ``result`` for ``epochs`` epochs; see :meth:`SearchResult.retrain`."""
    _check_epochs(epochs)
    if seed is not None:
        _seed(None, None, seed)  # type: ignore[arg-type]
    if device is not None:
        device = resolve_device(device)  # "cuda" where torch sees none fails here, not in the training
    trial = result._chosen(trial)
    if trial is None or trial.architecture is None:
        msg = f"run {str(result.run_dir)!r} has no completed trial to retrain"
        raise RunDirectoryError(msg)
    config = result.config
    evaluator = _final_evaluator(result, evaluator_options)
    context = EvaluationContext(
        dataset=_unchanged_dataset(result, dataset),
        budget=TrainingBudget(epochs=epochs, max_seconds=None, patience=None),
        seed=config["seed"] if seed is None else seed,
        device=device or config.get("device", "cpu"),
        trial_number=trial.number,
        genotype=trial.genotype,
        space=config.get("space"),
        final=True,
    )
    started = time.perf_counter()
    try:
        evaluation = evaluator.evaluate(trial.architecture, context)
    except AutoMLCodeGenError:
        raise
    except Exception as exc:
        msg = f"final training of trial {trial.number} failed: {type(exc).__name__}: {exc}"
        raise AutoMLCodeGenError(msg) from exc
    duration = time.perf_counter() - started
    weights = _next_weights_path(result.run_dir / "final", trial.number)
    save_weights(evaluator, evaluation.state_dict, weights)
    final = attrs.evolve(
        trial,
        status="complete",  # a trial that failed in the search (out of memory, say) may train now
        error=None,
        metrics=dict(evaluation.metrics),
        objectives={},
        constraint_violation=0.0,
        duration_s=duration,
        weights=str(weights.relative_to(result.run_dir)),
    )
    record = {
        "trial": trial.number,
        "genotype": trial.genotype,
        "epochs": epochs,
        "seed": context.seed,
        "device": context.device,
        "data": "training + validation splits; scored on the test split",
        "evaluator": config["evaluator"],
        "evaluator_options": result._evaluator_options(evaluator_options),
        "metrics": final.metrics,
        "search_metrics": trial.metrics,
        "weights": final.weights,
        "seconds": duration,
    }
    weights.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return final


def _final_evaluator(result: SearchResult, options: Mapping[str, Any] | None) -> Any:
    """The run's evaluator (``options`` override its recorded ones), if it can train a final model."""
    evaluator = result._evaluator(options)
    if not attribute("evaluator", evaluator, "final_training"):
        msg = (
            f"evaluator {result.config['evaluator']!r} cannot retrain an architecture (it has no final training); "
            f"final training needs an evaluator that trains, such as 'train'"
        )
        raise ConfigError(msg)
    return evaluator


def _unchanged_dataset(result: SearchResult, data: Any = None) -> Any:
    """The run's dataset, loaded again; refused if it no longer splits as the search saw it.

    Data given from Python is ``data`` (or what the search that returned ``result`` was
    given); its fingerprint must be the recorded one.
    """
    config = result.config
    recorded = config.get("dataset_summary") or {}
    if data is None and "fingerprint" in recorded:
        data = result.in_memory_data
    loader = result.registry.get("dataset", config["dataset"])
    given = {} if data is None else {"data": data}
    dataset = loader(seed=config["seed"], **config.get("dataset_options", {}), **given)
    if "fingerprint" in recorded and dataset.fingerprint() != recorded["fingerprint"]:
        msg = (
            f"run {str(result.run_dir)!r} searched other data than the dataset given now; pass the same arrays "
            f"(their fingerprint was {recorded['fingerprint']})"
        )
        raise ConfigError(msg)
    now = json.loads(json.dumps(dataset.summary(), default=str))
    compared = ("input_shape", "num_classes", "train", "val", "test", "normalization")
    changed = [k for k in compared if k in recorded and recorded[k] != now.get(k)]
    if changed:
        msg = (
            f"dataset {config['dataset']!r} loads differently now than when run {str(result.run_dir)!r} searched "
            f"({', '.join(changed)} changed: were its files replaced?); the test accuracy would not be comparable"
        )
        raise RunDirectoryError(msg)
    return dataset


def _next_weights_path(folder: Path, number: int) -> Path:
    """``final/trial_NNNN_K.pt``, K counting the retrainings of that trial."""
    folder.mkdir(exist_ok=True)
    k = 1
    while (folder / f"trial_{number:04d}_{k}.pt").exists():
        k += 1
    return folder / f"trial_{number:04d}_{k}.pt"


def _check_epochs(epochs: Any) -> None:
    if isinstance(epochs, float) and epochs > 0:
        msg = f"epochs must be a whole number, got {epochs!r}"
        raise ConfigError(msg)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        msg = f"epochs must be a positive int, got {epochs!r}"
        raise ConfigError(msg)
