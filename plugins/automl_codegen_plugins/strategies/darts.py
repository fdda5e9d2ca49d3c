"""DARTS: differentiable architecture search (Liu, Simonyan & Yang, ICLR 2019), one-shot.

A supernet holds every candidate op on every edge of a cell, mixed by the softmax of
architecture parameters ``α`` (one matrix per cell kind, shared by all cells of that
kind). Training is bilevel, as in the authors' code: per step, ``α`` takes an Adam step on
a validation batch, then the network weights take an SGD step on a training batch.

* ``order=1`` (first order): ``α`` follows the gradient of the validation loss at the
  current weights.
* ``order=2`` (second order): the gradient of the validation loss after one unrolled
  weight step, with the paper's finite-difference Hessian-vector product.

After the last epoch the genotype is derived by the space's rule — NAS-Bench-201: the
strongest op per edge; DARTS cells: per node the two strongest incoming edges, ``none``
excluded — and ``ask`` returns it once; the engine retrains it from scratch, profiles it
and records it as a normal trial, exportable with every emitter.

Supported spaces are those with a supernet description (``supernet_description`` and
``genotype_from_weights``): ``nb201`` and ``darts-cell``.

Known failure mode and the remedy offered: DARTS collapses to parameter-free ops (skip
connections) when trained long; on NAS-Bench-201 it finds cells of skip connections only
(54.30% CIFAR-10 test accuracy in the benchmark's paper). ``remedy="darts-minus"`` adds
DARTS-'s auxiliary skip connection (Chu et al., ICLR 2021): every stride-1 edge computes
``beta * x + sum_o softmax(α)_o * o(x)`` with ``beta`` decaying linearly from 1 to 0 over
the epochs, so the skip op no longer has to stand in for the residual path that makes
deep supernets trainable, and its weight stops growing for that reason alone.

Memory: ``checkpointing=True`` recomputes each cell in the backward pass instead of
storing its activations; ``partial_channels=K`` (PC-DARTS, Xu et al., ICLR 2020) sends
only ``1/K`` of the channels of each edge through the ops. The peak memory of one search
step is logged (``memory`` event and the state's ``memory``).

Everything is seeded: the weights (in a forked RNG), ``α`` and the data order (a private
``torch.Generator``). ``state_dict`` holds the supernet, ``α``, both optimisers and the
generator as base64 text (``torch.save``, loaded with ``weights_only=True``) until the
supernet phase is over, then only the history and the derived genotype.

This module imports torch only when the supernet trains, so listing plugins stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

from automl_codegen import (
    ConfigError,
    Genotype,
    Objective,
    OneShotStrategy,
    SearchSpace,
    SupernetContext,
    Trial,
    hookimpl,
)

__all__ = ["REMEDIES", "DartsOptions", "DartsStrategy", "register_strategies"]

REMEDIES = ("none", "darts-minus")
_STATE_VERSION = 1
_NAME = "darts"


@dataclass(frozen=True)
class DartsOptions:
    """The training options of :class:`DartsStrategy`, validated (see its docstring)."""

    order: int = 1
    epochs: int = 10
    batch_size: int = 64
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    alpha_lr: float = 3e-4
    alpha_weight_decay: float = 1e-3
    grad_clip: float | None = 5.0
    affine: bool = False
    remedy: str = "none"
    checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.order not in (1, 2) or isinstance(self.order, bool):
            _bad("order", self.order, "1 (first order) or 2 (second order)")
        _integer("epochs", self.epochs, 1)
        _integer("batch_size", self.batch_size, 2)
        _number("w_lr", self.w_lr, positive=True)
        _number("w_lr_min", self.w_lr_min, positive=False)
        if self.w_lr_min > self.w_lr:
            _bad("w_lr_min", self.w_lr_min, f"a number in [0, w_lr={self.w_lr}]")
        _number("w_momentum", self.w_momentum, positive=False)
        if self.w_momentum >= 1:
            _bad("w_momentum", self.w_momentum, "a number in [0, 1)")
        _number("w_weight_decay", self.w_weight_decay, positive=False)
        _number("alpha_lr", self.alpha_lr, positive=True)
        _number("alpha_weight_decay", self.alpha_weight_decay, positive=False)
        if self.grad_clip is not None:
            _number("grad_clip", self.grad_clip, positive=True)
        for name in ("affine", "checkpointing"):
            if not isinstance(getattr(self, name), bool):
                _bad(name, getattr(self, name), "true or false")
        if self.remedy not in REMEDIES:
            _bad("remedy", self.remedy, f"one of {', '.join(REMEDIES)}")


class DartsStrategy(OneShotStrategy):
    """DARTS, first or second order, on a space with a supernet description.

    Args:
        space: ``nb201`` or ``darts-cell`` (any space with ``supernet_description`` and
            ``genotype_from_weights``).
        objectives: recorded by the engine for the derived trial; the search itself
            minimises the cross-entropy.
        seed: seeds the supernet's weights, ``α`` and the data order.
        order: 1 (first order, default) or 2 (second order, unrolled).
        epochs: supernet epochs (default 10; the paper trains 50 on CIFAR-10).
        batch_size: of both the training and the validation batches (64), >= 2.
        w_lr / w_lr_min: SGD learning rate of the weights, cosine from ``w_lr`` (0.025) to
            ``w_lr_min`` (0.001) over the epochs.
        w_momentum: SGD momentum, in [0, 1) (0.9).
        w_weight_decay: SGD weight decay, >= 0 (3e-4).
        alpha_lr: Adam learning rate of ``α``, > 0 (3e-4; betas 0.5, 0.999 as the authors).
        alpha_weight_decay: Adam weight decay of ``α``, >= 0 (1e-3).
        grad_clip: maximum gradient norm of the weights, > 0, or None (5).
        affine: keep BatchNorm's affine parameters inside cells (default False, as the
            authors: the ops' outputs must not be rescaled behind ``α``'s back).
        remedy: ``"none"`` or ``"darts-minus"`` (see the module documentation).
        checkpointing: gradient checkpointing of cells (default False).
        partial_channels: PC-DARTS's ``K`` (default 1, off); must divide every cell's width.
        init_channels / layers: ``darts-cell`` supernet size (default: the authors' search
            network, 16 channels and 8 cells, but never larger than the space's network).
        channels / cells_per_stage: ``nb201`` supernet size (default: the space's).

    Raises:
        ConfigError: naming the option, for a value of the wrong type or out of range, or
            for a space without a supernet description.
    """

    name = _NAME

    def __init__(
        self,
        space: SearchSpace,
        objectives: Sequence[Objective],
        *,
        seed: int = 0,
        order: int = 1,
        epochs: int = 10,
        batch_size: int = 64,
        w_lr: float = 0.025,
        w_lr_min: float = 0.001,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        alpha_lr: float = 3e-4,
        alpha_weight_decay: float = 1e-3,
        grad_clip: float | None = 5.0,
        affine: bool = False,
        remedy: str = "none",
        checkpointing: bool = False,
        partial_channels: int = 1,
        init_channels: int | None = None,
        layers: int | None = None,
        channels: int | None = None,
        cells_per_stage: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(space, objectives, seed=seed, **options)
        self.options = DartsOptions(
            order=order,
            epochs=epochs,
            batch_size=batch_size,
            w_lr=w_lr,
            w_lr_min=w_lr_min,
            w_momentum=w_momentum,
            w_weight_decay=w_weight_decay,
            alpha_lr=alpha_lr,
            alpha_weight_decay=alpha_weight_decay,
            grad_clip=grad_clip,
            affine=affine,
            remedy=remedy,
            checkpointing=checkpointing,
        )
        describe = getattr(space, "supernet_description", None)
        if not callable(describe) or not callable(getattr(space, "genotype_from_weights", None)):
            msg = (
                f"darts needs a space with a supernet description: nb201, darts-cell "
                f"(space {getattr(space, 'name', type(space).__name__)!r} has none)"
            )
            raise ConfigError(msg)
        sizes = {
            "init_channels": init_channels,
            "layers": layers,
            "channels": channels,
            "cells_per_stage": cells_per_stage,
        }
        sizes = {key: value for key, value in sizes.items() if value is not None}
        self.description = describe(partial_channels=partial_channels, **sizes)
        # What a saved state must have been trained with to be resumed here.
        self.settings = {**asdict(self.options), "partial_channels": partial_channels, **sizes}
        self.epoch = 0
        self.finished = False
        self.derived: Genotype | None = None
        self.asked = 0
        self.told = 0
        #: One record per finished epoch: metrics, softmax(α) per cell kind, the genotype.
        self.history: list[dict[str, Any]] = []
        self.memory: dict[str, Any] | None = None
        self._trainer: Any = None
        self._pending_state: str | None = None  # a loaded supernet, restored when training resumes

    # -- the one-shot phase ----------------------------------------------------------------

    @property
    def supernet_trained(self) -> bool:
        return self.finished

    def train_supernet(self, context: SupernetContext) -> None:
        """Train the supernet for the remaining epochs, checkpointing after each."""
        if self.finished:
            return
        import time

        from ._darts_supernet import SupernetTrainer, decode_state

        if self._trainer is None:
            self._trainer = SupernetTrainer(self.description, self.options, context.dataset, context.device, self.seed)
            if self._pending_state is not None:
                self._trainer.load(decode_state(self._pending_state))
                self._pending_state = None
        trainer = self._trainer
        if self.epoch == 0:
            context.log("alpha", 0, **trainer.weights())
        while self.epoch < self.options.epochs:
            if context.deadline is not None and time.perf_counter() > context.deadline:
                break
            record = trainer.train_epoch(self.epoch, context.deadline, measure_memory=self.memory is None)
            self.epoch += 1
            if "memory" in record:
                self.memory = record.pop("memory")
                context.log("memory", self.epoch, **self.memory)
            weights = trainer.weights()
            self.derived = self.space.genotype_from_weights(weights)
            self.history.append({"epoch": self.epoch, **record, "alpha": weights, "genotype": self.derived})
            context.log("alpha", self.epoch, **weights)
            context.log("supernet", self.epoch, **record, genotype=self.derived)
            if not record["complete"]:
                break
            if self.epoch < self.options.epochs:
                context.checkpoint()
        if self.derived is None:
            self.derived = self.space.genotype_from_weights(trainer.weights())
        self.finished = True
        self._trainer = None  # the supernet is not needed any more
        context.checkpoint()

    # -- ask / tell --------------------------------------------------------------------------

    def ask(self, n: int) -> list[Genotype]:
        """The derived genotype, once; then nothing (the search is over)."""
        if not self.finished:
            msg = "strategy 'darts': ask() before the supernet is trained; the engine calls train_supernet() first"
            raise RuntimeError(msg)
        if n < 1 or self.asked:
            return []
        self.asked += 1
        return [self.derived]

    def tell(self, trials: Sequence[Trial]) -> None:
        self.told += len(trials)

    # -- state -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        supernet = self._pending_state
        if self._trainer is not None and not self.finished:
            from ._darts_supernet import encode_state

            supernet = encode_state(self._trainer.state())
        return {
            "version": _STATE_VERSION,
            "rng": self.rng.bit_generator.state,
            "settings": self.settings,
            "epoch": self.epoch,
            "finished": self.finished,
            "derived": self.derived,
            "asked": self.asked,
            "told": self.told,
            "history": self.history,
            "memory": self.memory,
            "supernet": None if self.finished else supernet,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version = state.get("version") if isinstance(state, dict) else None
        if version != _STATE_VERSION:
            msg = f"strategy 'darts' cannot load a state of version {version!r}; expected {_STATE_VERSION}"
            raise ConfigError(msg)
        if state["settings"] != self.settings:
            msg = (
                "strategy 'darts': the saved state was trained with other options "
                f"({state['settings']}) than these ({self.settings})"
            )
            raise ConfigError(msg)
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
        self.finished = bool(state["finished"])
        self.derived = state["derived"]
        self.asked = int(state["asked"])
        self.told = int(state["told"])
        self.history = list(state["history"])
        self.memory = state["memory"]
        self._trainer = None
        self._pending_state = state["supernet"]


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register(_NAME, DartsStrategy)


def _bad(option: str, value: Any, expected: str) -> None:
    msg = f"strategy 'darts': {option} must be {expected}, got {value!r}"
    raise ConfigError(msg)


def _integer(option: str, value: Any, minimum: int) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        _bad(option, value, f"an integer >= {minimum}")


def _number(option: str, value: Any, *, positive: bool) -> None:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0)
    if not ok:
        _bad(option, value, "a number > 0" if positive else "a number >= 0")
