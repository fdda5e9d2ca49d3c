"""Test fixtures: a supernet context that records, and the smallest useful network."""

from __future__ import annotations

import json
from typing import Any

from ..architecture import Architecture, Node
from ..strategy import SupernetContext


class RecordingSupernetContext(SupernetContext):
    """A :class:`SupernetContext` for testing a one-shot strategy without the engine.

    ``events`` collects what the strategy logs as ``(kind, step, values)``; ``saved``
    collects the strategy's ``state_dict()`` as strict JSON at every checkpoint. With
    ``stop_after=N`` the N-th checkpoint raises KeyboardInterrupt, like a kill between
    epochs, so a test can resume from ``json.loads(saved[-1])``.
    """

    def __init__(
        self,
        dataset: Any,
        strategy: Any,
        stop_after: int | None = None,
        deadline: float | None = None,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.saved: list[str] = []

        def checkpoint() -> None:
            self.saved.append(json.dumps(strategy.state_dict(), allow_nan=False))
            if stop_after is not None and len(self.saved) >= stop_after:
                raise KeyboardInterrupt

        def log(kind: str, step: int, values: dict[str, Any]) -> None:
            self.events.append((kind, step, values))

        super().__init__(dataset, device, seed, deadline, checkpoint, log)


def tiny_architecture(input_shape: tuple[int, int, int] = (1, 8, 8), num_classes: int = 10) -> Architecture:
    """conv3x3 -> BN -> ReLU -> global pool -> linear: the smallest useful network."""
    c = input_shape[0]
    return Architecture(
        input_shape=input_shape,
        num_classes=num_classes,
        nodes=(
            Node("conv", "conv2d", ("input_",), {"in_channels": c, "out_channels": 8, "kernel_size": 3, "padding": 1}),
            Node("bn", "batchnorm2d", ("conv",), {"num_features": 8}),
            Node("act", "relu", ("bn",)),
            Node("pool", "global_avg_pool", ("act",)),
            Node("classifier", "linear", ("pool",), {"in_features": 8, "out_features": num_classes}),
        ),
        output="classifier",
    )
