"""The built-in objectives: validation accuracy or regression error, latency, memory, parameters, FLOPs.

Each reads the measurement of the same name from a trial; the profiler or evaluator that
produces it is named in ``requires`` so the engine can tell a user what is missing.
Test-split figures (``test_accuracy``, ``test_mse``, ...) are measured and reported for
every trial but are deliberately not objectives: selecting on the test split would
overstate what was found.
"""

from __future__ import annotations

from automl_codegen import Objective, hookimpl

BUILTIN_OBJECTIVES = (
    Objective("accuracy", "max", description="validation accuracy after training (0..1)"),
    Objective(
        "error",
        "min",
        compute=lambda m: 1.0 - m["accuracy"],
        requires=("accuracy",),
        description="validation error, 1 - accuracy",
    ),
    Objective("mse", "min", description="validation mean squared error (regression), in the target's units squared"),
    Objective("mae", "min", description="validation mean absolute error (regression), in the target's units"),
    Objective("r2", "max", description="validation coefficient of determination (regression; 1 is perfect)"),
    Objective("latency_ms", "min", description="median CPU inference latency, batch 1", unit="ms"),
    Objective("params", "min", description="trainable parameters"),
    Objective(
        "peak_memory_mb",
        "min",
        description="measured peak memory of a forward pass: weights, input and activations",
        unit="MiB",
    ),
    Objective("flops", "min", description="FLOPs of one forward pass at batch 1 (torch flop counter)"),
)


@hookimpl
def register_objectives(register):
    for objective in BUILTIN_OBJECTIVES:
        register(objective.name, objective)
