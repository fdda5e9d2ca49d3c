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
``genotype_from_weights``): ``nb201``, ``darts-cell``, and spaces declared with
:mod:`automl_codegen.model_space` whose only choices are ``OneOf`` and ``Cell`` edges (the
declared space refuses itself otherwise, naming the other choices).

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

from collections.abc import Callable, Sequence
from typing import Any

import attrs

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
from automl_codegen.options import (
    OptionError,
    PluginOptions,
    boolean,
    check,
    finite_number,
    integer,
    is_integer,
    one_of,
    structure_options,
    unstructure_options,
)

__all__ = ["REMEDIES", "DartsOptions", "DartsStrategy", "register_strategies"]

REMEDIES = ("none", "darts-minus")
_STATE_VERSION = 1
_NAME = "darts"


def _within_w_lr(instance: DartsOptions, attribute: attrs.Attribute, value: Any) -> None:
    # Runs after w_lr's own validator (attrs checks fields in order), so w_lr is a number.
    if value > instance.w_lr:
        template = "{owner}: {name} must be a number in [0, w_lr={w_lr}], got {value!r}"
        raise OptionError(template, owner=type(instance).__name__, name=attribute.name, w_lr=instance.w_lr, value=value)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@attrs.frozen(kw_only=True)
class DartsOptions(PluginOptions):
    """The options of :class:`DartsStrategy`, checked (see its docstring).

    The supernet sizes (``partial_channels`` and after) are checked by the space, which
    knows its cells.
    """

    order: int = attrs.field(
        default=1,
        validator=check(lambda v: is_integer(v) and v in (1, 2), "1 (first order) or 2 (second order)"),
        metadata=_help("1 (first order) or 2 (second order, unrolled)"),
    )
    epochs: int = attrs.field(default=10, validator=integer(1), metadata=_help("supernet epochs"))
    batch_size: int = attrs.field(
        default=64, validator=integer(2), metadata=_help("training and validation batch size, >= 2")
    )
    w_lr: float = attrs.field(
        default=0.025, validator=finite_number(0, low_open=True), metadata=_help("SGD learning rate of the weights")
    )
    w_lr_min: float = attrs.field(
        default=0.001, validator=[finite_number(0), _within_w_lr], metadata=_help("where the cosine schedule ends")
    )
    # Two checks keep the two wordings: a negative momentum is "a number >= 0".
    w_momentum: float = attrs.field(
        default=0.9,
        validator=[finite_number(0), finite_number(0, 1, high_open=True)],
        metadata=_help("SGD momentum, in [0, 1)"),
    )
    w_weight_decay: float = attrs.field(default=3e-4, validator=finite_number(0), metadata=_help("SGD weight decay"))
    alpha_lr: float = attrs.field(
        default=3e-4, validator=finite_number(0, low_open=True), metadata=_help("Adam learning rate of alpha")
    )
    alpha_weight_decay: float = attrs.field(
        default=1e-3, validator=finite_number(0), metadata=_help("Adam weight decay of alpha")
    )
    grad_clip: float | None = attrs.field(
        default=5.0,
        validator=finite_number(0, low_open=True, optional=True),
        metadata=_help("maximum gradient norm of the weights, or None"),
    )
    affine: bool = attrs.field(
        default=False, validator=boolean(), metadata=_help("keep BatchNorm's affine parameters inside cells")
    )
    remedy: str = attrs.field(
        default="none", validator=one_of(REMEDIES), metadata=_help("none or darts-minus (auxiliary skip)")
    )
    checkpointing: bool = attrs.field(
        default=False, validator=boolean(), metadata=_help("gradient checkpointing of cells")
    )
    partial_channels: int = attrs.field(
        default=1, metadata=_help("PC-DARTS's K (1: off); must divide every cell's width")
    )
    init_channels: int | None = attrs.field(
        default=None, metadata=_help("darts-cell supernet width; None: 16, at most the space's")
    )
    layers: int | None = attrs.field(
        default=None, metadata=_help("darts-cell supernet cells; None: 8, at most the space's")
    )
    channels: int | None = attrs.field(default=None, metadata=_help("nb201 supernet width; None: the space's"))
    cells_per_stage: int | None = attrs.field(
        default=None, metadata=_help("nb201 supernet cells per stage; None: the space's")
    )


#: The supernet size overrides, passed to the space only when given.
_SIZES = ("init_channels", "layers", "channels", "cells_per_stage")


class DartsStrategy(OneShotStrategy):
    """DARTS, first or second order, on a space with a supernet description.

    Args:
        space: ``nb201``, ``darts-cell`` or a declared space of op choices (any space with
            ``supernet_description`` and ``genotype_from_weights``).
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

    Options = DartsOptions

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], *, seed: int = 0, **options: Any) -> None:
        # Options first: an unknown name is reported before anything else, as it always was.
        self.options = structure_options(self.Options, options, owner=f"strategy {self.name!r}")
        super().__init__(space, objectives, seed=seed)
        describe = getattr(space, "supernet_description", None)
        if not callable(describe) or not callable(getattr(space, "genotype_from_weights", None)):
            msg = (
                f"darts needs a space with a supernet description: nb201, darts-cell "
                f"(space {getattr(space, 'name', type(space).__name__)!r} has none)"
            )
            raise ConfigError(msg)
        # What a saved state must have been trained with to be resumed here: every option,
        # the supernet sizes only when given (the keys of states saved before the sizes).
        self.settings = {
            key: value
            for key, value in unstructure_options(self.options).items()
            if key not in _SIZES or value is not None
        }
        sizes = {key: self.settings[key] for key in _SIZES if key in self.settings}
        self.description = describe(partial_channels=self.options.partial_channels, **sizes)
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
