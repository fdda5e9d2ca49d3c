"""Learning rate per epoch: linear warm-up, then cosine annealing or a constant rate."""

from __future__ import annotations

import math

__all__ = ["learning_rate"]


def learning_rate(
    epoch: int, *, epochs: int, peak: float, minimum: float = 0.0, schedule: str = "cosine", warmup: int = 0
) -> float:
    """The learning rate of 0-based ``epoch`` out of ``epochs``.

    ``epoch == epochs`` is where the schedule ends (``minimum`` for cosine), the value
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` leaves after its last step; without
    warm-up the epochs in between get exactly its rates. The rate changes once per
    epoch, as in the DARTS and NAS-Bench-201 training recipes. Warm-up ramps linearly
    over ``warmup`` epochs (``peak / (warmup + 1)`` first), and is cut to ``epochs - 1``
    so that a short, low-fidelity trial still reaches its peak rate.
    """
    warmup = max(0, min(warmup, epochs - 1))
    if epoch < warmup:
        return peak * (epoch + 1) / (warmup + 1)
    if schedule == "constant":
        return peak
    progress = min((epoch - warmup) / (epochs - warmup), 1.0)
    return minimum + (peak - minimum) * (1.0 + math.cos(math.pi * progress)) / 2.0
