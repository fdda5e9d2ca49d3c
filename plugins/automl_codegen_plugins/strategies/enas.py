"""ENAS: a REINFORCE controller trained on a weight-sharing supernet (Pham et al. 2018).

On a cell space (``nb201``, ``darts-cell``: any :class:`~automl_codegen.protocols.OneShotSpace`)
one supernet holds the weights of every child (:mod:`._enas`). Per epoch, each training
batch trains the child the controller samples for it (SGD with Nesterov momentum, cosine
learning rate), then the controller (:mod:`._reinforce`, the one ``rl`` uses) takes
``controller_steps`` REINFORCE updates, each on ``batch_size`` children whose reward is
their accuracy on one validation batch with the shared weights. After ``epochs`` the
greedy child and ``derive_samples`` sampled children are scored on the whole validation
split, and the best ``retrain`` of them are what ``ask`` returns: the engine retrains
each from scratch, profiles it and records it like any other trial (objectives and
constraints act on those, not on the supernet phase).

Per epoch the journal gets a ``supernet`` event (training loss, the greedy child and its
accuracy) and per controller update a ``controller`` event, as ``rl`` logs; a killed
search resumes from its last finished epoch, supernet, controller and RNGs included.
States saved by ``rl`` with ``weight_sharing=true`` (this strategy's spelling before)
load too.

This module imports torch only when the supernet trains, so listing plugins stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs

from automl_codegen import ConfigError, Genotype, Objective, OneShotStrategy, SupernetContext, Trial, hookimpl
from automl_codegen.options import OptionError, integer, is_number, structure_options
from automl_codegen.protocols import OneShotSpace

from ._reinforce import ControllerOptions, ReinforceLearner, float_to_json, number, text

__all__ = ["EnasOptions", "EnasStrategy", "register_strategies"]

_NAME = "enas"
_OWNER = f"strategy {_NAME!r}"
# The state keeps the layout of ``rl`` with weight sharing, so its states still load.
_STATE_VERSION = 1

#: Supernet sizes a search may override, per space option name.
_SUPERNET_SIZES = ("channels", "cells_per_stage", "init_channels", "layers")
_BATCH_NORM = "an integer >= 2 (BatchNorm needs two samples)"


def _within_w_lr(options: EnasOptions, attribute: attrs.Attribute, value: Any) -> None:
    # Runs after w_lr's own validator (attrs checks fields in order), so w_lr is a number.
    if not (is_number(value) and 0 <= value <= options.w_lr):
        template = "{owner}: {name} must be a finite number in [0, w_lr={w_lr}], got {value!r}"
        raise OptionError(template, owner=type(options).__name__, name=attribute.name, w_lr=options.w_lr, value=value)


@attrs.frozen(kw_only=True)
class EnasOptions(ControllerOptions):
    """The options of :class:`EnasStrategy`, checked (see its docstring).

    The controller keeps ENAS's Adam at 0.01 and width 64: its rewards are one validation
    batch on weights that keep changing, so no elite either (yesterday's best is stale).
    The supernet sizes are checked by the space, which knows its cells.
    """

    optimizer: str = attrs.field(
        default="adam", validator=attrs.fields(ControllerOptions).optimizer.validator, metadata=text("sgd or adam")
    )
    epochs: int = attrs.field(default=10, validator=integer(1), metadata=text("supernet epochs"))
    w_batch_size: int = attrs.field(
        default=64, validator=integer(2, expected=_BATCH_NORM), metadata=text("training batch size of the weights")
    )
    w_lr: float = attrs.field(
        default=0.05, validator=number(0, positive=True), metadata=text("SGD learning rate of the weights")
    )
    w_lr_min: float = attrs.field(
        default=0.0005,
        validator=_within_w_lr,
        metadata=text("where the cosine schedule ends"),
    )
    w_momentum: float = attrs.field(
        default=0.9, validator=number(0, 1, high_open=True), metadata=text("Nesterov momentum")
    )
    w_weight_decay: float = attrs.field(default=1e-4, validator=number(0), metadata=text("SGD weight decay"))
    w_grad_clip: float | None = attrs.field(
        default=5.0,
        validator=number(0, positive=True, optional=True),
        metadata=text("maximum gradient norm of the weights, or None"),
    )
    controller_steps: int = attrs.field(default=10, validator=integer(1), metadata=text("controller updates per epoch"))
    reward_batch_size: int = attrs.field(
        default=128, validator=integer(2, expected=_BATCH_NORM), metadata=text("validation images per reward")
    )
    derive_samples: int = attrs.field(
        default=32, validator=integer(0), metadata=text("children sampled at the end besides the greedy one")
    )
    retrain: int = attrs.field(default=3, validator=integer(1), metadata=text("best children the engine retrains"))
    channels: int | None = attrs.field(default=None, metadata=text("nb201 supernet width (the space's)"))
    cells_per_stage: int | None = attrs.field(default=None, metadata=text("nb201 supernet depth (the space's)"))
    init_channels: int | None = attrs.field(default=None, metadata=text("darts-cell supernet width"))
    layers: int | None = attrs.field(default=None, metadata=text("darts-cell supernet depth"))

    default_hidden_size: ClassVar[int] = 64  # ENAS's

    def settings(self) -> dict[str, Any]:
        """What a saved supernet must have been trained with (the keys ``rl`` saved them under)."""
        names = [
            "epochs", "w_batch_size", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay",
            "controller_steps", "reward_batch_size", "derive_samples", "retrain",
        ]  # fmt: skip
        return {**{k: getattr(self, k) for k in names}, "grad_clip": self.w_grad_clip, **self.sizes()}

    def sizes(self) -> dict[str, int]:
        """The supernet sizes given, as the space's options."""
        return {k: getattr(self, k) for k in _SUPERNET_SIZES if getattr(self, k) is not None}


class EnasStrategy(OneShotStrategy):
    """ENAS on a cell space: shared weights, then the controller's best children retrained.

    Args:
        space: a :class:`~automl_codegen.protocols.OneShotSpace` (``nb201``, ``darts-cell``).
        objectives: the retrained children's objectives (the controller learns from the
            shared weights' validation accuracy).
        seed: seeds the controller, the supernet and all sampling.
        batch_size, optimizer, lr, controller, hidden_size, embedding_size,
            entropy_weight, baseline_decay, grad_clip, tanh_constant, normalize_advantage:
            the controller's, as ``rl``'s (:class:`~.rl.RLStrategy`), except the
            defaults: Adam at 0.01 and an LSTM of width 64, ENAS's.
        epochs: supernet epochs, >= 1 (10).
        w_batch_size: training batch size of the shared weights, >= 2 (64).
        w_lr / w_lr_min: SGD learning rate of the shared weights, cosine from ``w_lr``
            (0.05, ENAS's) to ``w_lr_min`` (0.0005) over the epochs.
        w_momentum: Nesterov momentum, in [0, 1) (0.9).
        w_weight_decay: >= 0 (1e-4, ENAS's).
        w_grad_clip: maximum gradient norm of the shared weights, > 0, or None (5).
        controller_steps: controller updates per epoch, >= 1 (10), each on ``batch_size``
            children.
        reward_batch_size: validation images per reward, >= 2 (128).
        derive_samples: children sampled at the end, besides the greedy one, >= 0 (32).
        retrain: how many of the best children the engine retrains, >= 1 (3); fewer when
            the greedy and sampled children are fewer distinct ones (a converged controller).
        channels / cells_per_stage (``nb201``), init_channels / layers (``darts-cell``):
            the supernet's size (default: the space's, and for ``darts-cell`` at most the
            authors' search network); the retrained networks use the space's own.

    Raises:
        ConfigError: naming the option, for a value of the wrong type or out of range,
            or for a space without a supernet.
    """

    name = _NAME
    Options = EnasOptions

    def __init__(self, space: Any, objectives: Sequence[Objective], *, seed: int = 0, **options: Any) -> None:
        self.options: EnasOptions = structure_options(EnasOptions, options, owner=_OWNER)
        super().__init__(space, objectives, seed=seed)
        if not isinstance(space, OneShotSpace):
            msg = (
                f"strategy 'enas' needs a cell space with a supernet: nb201 or darts-cell "
                f"(space {getattr(space, 'name', type(space).__name__)!r} has none); or use strategy 'rl'"
            )
            raise ConfigError(msg)
        self.sizes = tuple(len(c.options) for c in space.choices())
        self._learner = ReinforceLearner(self.sizes, self.options, seed)
        self._description = space.supernet_description(**self.options.sizes())
        self._told = 0  # rewards the controller has learnt from
        self._epoch = 0
        self._finished = False
        #: The children to retrain, best first, with their shared-weight validation accuracy.
        self.derived: list[dict[str, Any]] = []
        self._handed_out = 0
        self._retrained_told = 0
        #: One record per supernet epoch (losses, the greedy child and its accuracy).
        self.supernet_history: list[dict[str, Any]] = []
        self._shared: Any = None
        self._pending_supernet: str | None = None  # a loaded supernet, restored when training resumes

    @property
    def history(self) -> list[dict[str, Any]]:
        """One entry per controller update (step, trials, rewards, baseline, entropy, loss, gradient norm)."""
        return self._learner.history

    @property
    def supernet_trained(self) -> bool:
        return self._finished

    def greedy(self) -> Genotype:
        """The genotype made of the most likely option at each step, given the earlier ones."""
        return self.space.decode(self._learner.policy.greedy())

    # -- the one-shot phase --------------------------------------------------------------

    def train_supernet(self, context: SupernetContext) -> None:
        """Per epoch, shared weights on the training split, then the controller on rewards."""
        if self._finished:
            return
        from ._darts_supernet import decode_state
        from ._enas import SharedWeights

        if self._shared is None:
            self._shared = SharedWeights(self._description, self.options, context.dataset, context.device, self.seed)
            if self._pending_supernet is not None:
                self._shared.load(decode_state(self._pending_supernet))
                self._pending_supernet = None
        while self._epoch < self.options.epochs:
            if context.deadline is not None and time.perf_counter() > context.deadline:
                break
            record = self._train_epoch(context)
            if not record["complete"]:
                break
            if self._epoch < self.options.epochs:
                context.checkpoint()
        self._derive(context)
        self._finished = True
        self._shared = None  # the supernet is not needed any more
        context.checkpoint()

    def _train_epoch(self, context: SupernetContext) -> dict[str, Any]:
        """One epoch of the shared weights, then (if it finished) of the controller; logged."""
        record = self._shared.train_epoch(self._epoch, self._sample_child, context.deadline)
        if record["complete"]:
            record["reward_mean"] = self._train_controller()
        self._epoch += 1
        greedy = self.greedy()
        record.update(genotype=greedy, greedy_accuracy=self._shared.accuracy(self._child(greedy)))
        self.supernet_history.append({"epoch": self._epoch, **record})
        context.log("supernet", self._epoch, **record)
        for kind, step, values in self.drain_events():
            context.log(kind, step, **values)
        return record

    def _child(self, genotype: Genotype) -> dict[str, Any]:
        from ._darts_supernet import child_path

        return {kind: child_path(rows) for kind, rows in self.space.genotype_weights(genotype).items()}

    def _sample_child(self) -> dict[str, Any]:
        """A child for one training batch, drawn from the current policy."""
        (indices,) = self._learner.policy.sample(self.rng.random((1, len(self.sizes))))
        return self._child(self.space.decode(indices))

    def _train_controller(self) -> float:
        """``controller_steps`` REINFORCE updates on shared-weight validation accuracy; the mean reward."""
        rewards = []
        for _ in range(self.options.controller_steps):
            samples = self._learner.policy.sample(self.rng.random((self.options.batch_size, len(self.sizes))))
            batch = self._shared.validation_batch(self.options.reward_batch_size)
            scores = [self._shared.accuracy(self._child(self.space.decode(indices)), batch) for indices in samples]
            self._told += len(samples)
            entry = self._learner.update(samples, scores, trials=self._told)
            self.emit("controller", entry["step"], **{k: v for k, v in entry.items() if k != "step"})
            rewards += scores
        return sum(rewards) / len(rewards)

    def _derive(self, context: SupernetContext) -> None:
        """Score the greedy child and ``derive_samples`` sampled ones; keep the best ``retrain``."""
        candidates = [self.greedy()]
        if self.options.derive_samples:
            uniforms = self.rng.random((self.options.derive_samples, len(self.sizes)))
            candidates += [self.space.decode(indices) for indices in self._learner.policy.sample(uniforms)]
        unique: dict[str, Genotype] = {}
        for genotype in candidates:
            unique.setdefault(self.space.key(genotype), genotype)
        if self._shared is None:  # the time budget ran out before the supernet was built
            scored = [{"genotype": genotype, "accuracy": None} for genotype in unique.values()]
        else:
            scored = [
                {"genotype": genotype, "accuracy": self._shared.accuracy(self._child(genotype))}
                for genotype in unique.values()
            ]
            # Best first; among equals the earlier candidate (the greedy one leads).
            scored.sort(key=lambda c: -c["accuracy"])
        self.derived = scored[: self.options.retrain]
        context.log("derive", self._epoch, candidates=scored)

    # -- ask/tell ------------------------------------------------------------------------

    def ask(self, n: int) -> list[Genotype]:
        """The next derived children, best first; then nothing."""
        if not self._finished:
            msg = "strategy 'enas': ask() before the supernet is trained; the engine calls train_supernet() first"
            raise RuntimeError(msg)
        chosen = self.derived[self._handed_out : self._handed_out + n]
        self._handed_out += len(chosen)
        return [entry["genotype"] for entry in chosen]

    def tell(self, trials: Sequence[Trial]) -> None:
        """The retrained children: the controller has finished learning, so they are only counted."""
        self._retrained_told += len(trials)

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-compatible state (strict JSON) from which to resume exactly."""
        return {
            **super().state_dict(),
            "version": _STATE_VERSION,
            **self._learner.state_dict(),
            "told": self._told,
            "weight_sharing": self._supernet_state(),
        }

    def _supernet_state(self) -> dict[str, Any]:
        supernet = self._pending_supernet
        if self._shared is not None and not self._finished:
            from ._darts_supernet import encode_state

            supernet = encode_state(self._shared.state())
        return {
            "settings": self.options.settings(),
            "epoch": self._epoch,
            "finished": self._finished,
            "derived": self.derived,
            "handed_out": self._handed_out,
            "retrained_told": self._retrained_told,
            "history": [{k: float_to_json(v) for k, v in entry.items()} for entry in self.supernet_history],
            # The supernet is dropped once the children to retrain are chosen.
            "supernet": None if self._finished else supernet,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` (or ``rl`` with weight sharing) saved."""
        if state.get("version") != _STATE_VERSION:
            msg = f"strategy 'enas' cannot read a saved state of version {state.get('version')!r}"
            raise ConfigError(msg)
        saved = state.get("weight_sharing")
        if saved is None:
            msg = "strategy 'enas' cannot resume a state of strategy 'rl' (saved without weight sharing)"
            raise ConfigError(msg)
        if saved["settings"] != self.options.settings():
            msg = (
                f"strategy 'enas': the saved supernet was trained with other options ({saved['settings']}) "
                f"than these ({self.options.settings()}); resume with the same options"
            )
            raise ConfigError(msg)
        self._learner.load_state_dict(state, _OWNER)
        super().load_state_dict(state)
        self._told = int(state["told"])
        self._epoch = int(saved["epoch"])
        self._finished = bool(saved["finished"])
        self.derived = list(saved["derived"])
        self._handed_out = int(saved["handed_out"])
        self._retrained_told = int(saved["retrained_told"])
        self.supernet_history = list(saved["history"])
        self._shared = None
        self._pending_supernet = saved["supernet"]


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register(_NAME, EnasStrategy)
