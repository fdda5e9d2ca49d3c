"""What a search is for: the task decides the input layout, the loss, the metrics and the default space.

==========================  ===============  ==================  ===============  ===========
task                        inputs (no N)    targets             loss             space
==========================  ===============  ==================  ===============  ===========
``image_classification``    ``(C, H, W)``    int64 class         cross-entropy    chain-cnn
``tabular_classification``  ``(F,)``         int64 class         cross-entropy    mlp
``tabular_regression``      ``(F,)``         float32 value       mean squared     mlp
``sequence_classification`` ``(C, L)``       int64 class         cross-entropy    seq-cnn
==========================  ===============  ==================  ===============  ===========

A regression dataset stores its targets standardised (``(y - mean) / std`` of the
training split) and records ``normalization["target"] = {"mean": ..., "std": ...}``; the
network predicts standardised values, and the metrics (``mse``, ``mae``, ``r2``) and the
generated code's ``postprocess`` turn them back into the target's own units.
"""

from __future__ import annotations

import attrs

from .errors import ConfigError

__all__ = ["TASKS", "TASK_METRICS", "Task", "get_task", "task_for_shape"]


@attrs.frozen
class Task:
    """One kind of problem: the rank of its inputs, whether it regresses, its default space."""

    name: str
    input_rank: int
    regression: bool
    default_space: str
    inputs: str

    @property
    def metric(self) -> str:
        """The default objective: validation accuracy, or mean squared error for regression."""
        return "mse" if self.regression else "accuracy"

    @property
    def metrics(self) -> tuple[str, ...]:
        """What training measures for this task, on the validation and the test split."""
        names = REGRESSION_METRICS if self.regression else CLASSIFICATION_METRICS
        return (*names, *(f"test_{name}" for name in names))


CLASSIFICATION_METRICS = ("accuracy",)
REGRESSION_METRICS = ("mse", "mae", "r2")
#: Measurements that only some tasks have.
TASK_METRICS = frozenset(
    {*CLASSIFICATION_METRICS, *REGRESSION_METRICS}
    | {f"test_{name}" for name in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)}
)

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("image_classification", 3, False, "chain-cnn", "(C, H, W) images"),
        Task("tabular_classification", 1, False, "mlp", "(F,) feature vectors"),
        Task("tabular_regression", 1, True, "mlp", "(F,) feature vectors"),
        Task("sequence_classification", 2, False, "seq-cnn", "(C, L) sequences"),
    )
}

IMAGE_CLASSIFICATION = "image_classification"


def get_task(name: object) -> Task:
    """The task called ``name``, or a ConfigError listing the tasks there are."""
    if isinstance(name, str) and name in TASKS:
        return TASKS[name]
    msg = f"unknown task {name!r}; the tasks are {', '.join(TASKS)}"
    raise ConfigError(msg)


def task_for_shape(shape: tuple[int, ...]) -> Task:
    """The classification task whose inputs have the rank of ``shape`` (one sample)."""
    for task in TASKS.values():
        if task.input_rank == len(shape) and not task.regression:
            return task
    msg = f"inputs of shape {tuple(shape)} fit no task: give (F,), (C, L) or (C, H, W) per sample"
    raise ConfigError(msg)
