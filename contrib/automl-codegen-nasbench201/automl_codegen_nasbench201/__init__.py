"""NAS-Bench-201 as a tabular benchmark for AutoML-CodeGen: ``--evaluator nasbench201``.

Scores ``nb201`` architectures by looking their results up in NAS-Bench-201 (Dong &
Yang, ICLR 2020; the topology space of NATS-Bench) instead of training them, so a
strategy can be benchmarked on hundreds of runs in seconds. Registers:

* the evaluator ``nasbench201`` (:class:`NasBench201Evaluator`);
* the shape-only datasets ``nb201-cifar10``, ``nb201-cifar100`` and ``nb201-imagenet16``
  that size the ``nb201`` space like the benchmark's networks;
* objectives for the device measurements of ``nb201_device_latency.csv``
  (``pi5_onnx_latency_ms``, ``pi5_onnx_energy_mj``, ...), all minimised;
* ``on_search_start`` / ``on_trial_end`` hooks that check the search's space and
  dataset before the first trial and enforce the evaluator's simulated ``time_budget``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automl_codegen import Objective, hookimpl

from ._datasets import PREFIX, SHAPES, dataset_loader
from ._evaluator import (
    DEFAULT_LATENCY_COLUMN,
    DEFAULT_TABLE,
    DEVICE_MEASUREMENTS,
    TABLE_ENV_VAR,
    NasBench201Evaluator,
)
from ._table import DATASETS, AccuracyTable, Record, canonical_cell, load_accuracy_table, load_device_table

__all__ = [
    "DATASETS",
    "DEFAULT_LATENCY_COLUMN",
    "DEFAULT_TABLE",
    "DEVICE_MEASUREMENTS",
    "TABLE_ENV_VAR",
    "AccuracyTable",
    "NasBench201Evaluator",
    "Record",
    "canonical_cell",
    "load_accuracy_table",
    "load_device_table",
]
__version__ = "0.1.0"

Register = Callable[[str, Any], None]


@hookimpl
def register_evaluators(register: Register) -> None:
    register("nasbench201", NasBench201Evaluator)


@hookimpl
def register_datasets(register: Register) -> None:
    for dataset in SHAPES:
        register(PREFIX + dataset, dataset_loader(dataset))


@hookimpl
def register_objectives(register: Register) -> None:
    for name, (unit, device) in DEVICE_MEASUREMENTS.items():
        kind = "latency" if unit == "ms" else "energy per inference"
        description = f"NAS-Bench-201 table: measured {kind} on {device} (evaluator nasbench201, latency_table)"
        register(name, Objective(name, "min", description=description, unit=unit))


@hookimpl
def on_search_start(run: Any) -> None:
    evaluator = getattr(run, "evaluator", None)
    if isinstance(evaluator, NasBench201Evaluator):
        evaluator.search_started(run)


@hookimpl
def on_trial_end(run: Any, trial: Any) -> bool | None:
    evaluator = getattr(run, "evaluator", None)
    if isinstance(evaluator, NasBench201Evaluator):
        return evaluator.trial_ended(trial)
    return None
