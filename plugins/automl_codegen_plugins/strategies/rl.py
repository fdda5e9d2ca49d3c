"""Reinforcement-learning search: an LSTM controller trained with REINFORCE, with or without weight sharing.

The controller (Zoph & Le 2017, "Neural Architecture Search with Reinforcement
Learning"; the controller shape of ENAS, Pham et al. 2018) emits one categorical decision
at a time over any space that describes itself as a sequence of :class:`Choice`: each
step's LSTM input is the embedding of the previous decision, and each decision has its own
softmax head. It works on ``chain-cnn``, ``nb201``, ``darts-cell`` or any third-party
space through ``choices``/``encode``/``decode`` alone. ``controller="factorized"`` swaps
the LSTM for one independent softmax per decision (the NAS-Bench-201 paper's REINFORCE
policy): cheaper per trial, blind to how decisions interact.

Multi-trial mode: ``ask`` samples genotypes from the controller, the engine trains and
measures them, ``tell`` turns each trial into a reward. Once ``batch_size`` rewards have
arrived the controller takes one REINFORCE step on::

    loss = -mean_i(A_i * log π(a_i)) - entropy_weight * mean_i(H_i) - elite_weight * mean_e(log π(e))

where ``A_i`` is the reward minus an exponential-moving-average baseline
(``baseline_decay``), divided by a running estimate of its spread when
``normalize_advantage`` is on (so one learning rate suits rewards in [0, 1] and rewards in
milliseconds alike), ``H_i`` is the entropy of the trajectory, and ``e`` runs over the
elite: the ``elite_size`` genotypes with the best rewards told so far (priority queue
training, Abolafia et al. 2018, "Neural Program Synthesis with Priority Queue Training").
The gradient norm is clipped to ``grad_clip`` and the ``optimizer`` applies it: plain SGD
by default, or Adam. The first batch sets the baseline to its mean reward.

Why the elite and SGD: a NAS run affords tens to hundreds of trials, and REINFORCE alone
learns little from so few rewards; on NAS-Bench-201 (100 queries, 50 seeds) the
Adam-only controller ended at 93.9% test accuracy, about random search plus 0.1, and
the elite with plain SGD at 94.1, level with TPE within the noise. Adam moves every logit
by about ``lr`` per step whatever its gradient, so noise moves the policy as far as
signal does; SGD steps in proportion to the advantages.

Log-probabilities are recomputed at update time from ``space.encode(genotype)`` under the
current policy; nothing but the genotype is kept between ``ask`` and ``tell``. With the
engine's sequential ask-one/tell-one loop every genotype of a batch was sampled from the
policy being updated, so this is exact; when an executor runs trials in parallel, a
genotype asked before the previous update is scored under the newer policy, the usual
on-policy approximation (as in ENAS). Resampling that avoids genotypes already evaluated
or pending makes the proposals differ from the policy in the same, accepted way: 32
samples of the policy, then 512, then, if a policy grew so sure that none of those is
new, 512 at each of the temperatures 2, 4, 8 and 16 (logits divided by it) before a
repeat is accepted (see ``_PASSES``).

Rewards (option ``reward``):

* ``"objective"`` (default): the first objective, made larger-is-better (``max``
  objectives as they are, ``min`` objectives negated). Further objectives only act
  through constraints.
* ``"mnas"``: the MnasNet soft constraint (Tan et al. 2019),
  ``reward = Q * (LAT / latency_target) ** latency_weight``, with ``Q`` the first
  objective (it must be maximised, e.g. ``accuracy``), ``LAT`` the measurement
  ``latency_metric`` (default ``latency_ms``; read from the trial's objectives, else its
  metrics) and ``latency_weight`` ``w`` (default -0.07, the paper's value: twice the
  latency costs about 5% of the reward, half the latency gains about 5%).

Hard constraints (``constraints=[...]`` of the search) apply on top of either reward: a
complete trial that breaks them by a (relative) ``constraint_violation`` ``v > 0`` gets
``reward - constraint_penalty * v``. A latency constraint (``latency_ms <= T``) with a
large ``constraint_penalty`` plays the part of MnasNet's hard-constraint variant.

Failed trials (and trials whose reward is NaN or infinite, e.g. a missing latency) get
the worst reward seen so far minus ``failure_margin`` standard deviations of the finite
rewards seen so far (or, while those are all equal, minus ``failure_margin * |worst|``, or
``failure_margin`` when the worst is 0), resolved when their batch is used: always below
every working architecture, on the reward's own scale. A batch made only of failures
before any trial has succeeded carries no reward scale and is dropped.

Everything is deterministic on CPU for a given ``seed``: the weights are initialised from a
private ``torch.Generator`` and sampling draws from the strategy's numpy RNG, so the global
torch RNG is not advanced, and the controller's arithmetic runs on one thread whatever
``torch.get_num_threads()`` says (it is restored after each call). ``state_dict`` holds the controller weights and
Adam moments (base64 of the raw float32 bytes: exact and strict JSON), the baseline, the
told-but-unused rewards, the RNG, the current sampling pass (as the RNG state it was
drawn from: resume draws it again) and the per-update ``history`` (step, trials, reward
mean and max, baseline, entropy, loss, gradient norm) that run reports plot; the history
and the fingerprints seen are saved in chunks (:class:`automl_codegen.ChunkedList`), so
saving the state after every trial does not grow slower as trials accumulate.

Weight-sharing mode (``weight_sharing=True``, ENAS, Pham et al. 2018) on the cell spaces
(``nb201``, ``darts-cell``: any space with a supernet description): one supernet holds the
weights of every child. Per epoch, each training batch trains the child the controller
samples for it (SGD with Nesterov momentum, cosine learning rate), then the controller
takes ``controller_steps`` REINFORCE updates, each on ``batch_size`` children whose reward
is their accuracy on one validation batch with the shared weights. After ``epochs`` the
greedy child and ``derive_samples`` sampled children are scored on the whole validation
split, and the best ``retrain`` of them are what ``ask`` returns: the engine retrains
each from scratch, profiles it and records it like any other trial. Options that only
mean something in one mode are refused in the other. The reward in this mode is the
validation accuracy (``reward="mnas"`` and constraints act on measured trials only, so
they apply to the retrained architectures, not to the supernet phase). Per epoch the
journal gets a ``supernet`` event (training loss, the greedy child and its accuracy) and
per controller update a ``controller`` event, as in multi-trial mode; a killed search
resumes from its last finished epoch, supernet, controller and RNGs included.

This module imports torch only when the strategy is constructed, so listing plugins stays
fast.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from automl_codegen import (
    ChunkedList,
    ConfigError,
    FingerprintSet,
    Genotype,
    Objective,
    SearchSpace,
    Strategy,
    SupernetContext,
    Trial,
    hookimpl,
)
from automl_codegen.objective import MAX

if TYPE_CHECKING:
    from ._rl_controller import ControllerTrainer

__all__ = ["CONTROLLERS", "OPTIMIZERS", "REWARDS", "RLStrategy", "WeightSharingOptions", "register_strategies"]

REWARDS = ("objective", "mnas")
OPTIMIZERS = ("adam", "sgd")  # of the controller (see ControllerTrainer)
CONTROLLERS = ("lstm", "factorized")

# (samples, temperature) of the controller passes that look for a genotype neither told
# nor pending, widest last. A pass's cost is mostly per call (0.3-0.4 ms for 32 samples,
# 2.4-2.7 for 512 on this project's 2-core machine), and a converged controller needs
# many draws to find something new (with 32, 4.5 of 100 NAS-Bench-201 queries were
# repeats). A pass that yields nothing new moves on to the next one until the policy
# changes: past 512 samples at the policy's own temperature the logits are divided by 2,
# 4, 8, 16, which spreads the draws around the policy's favourites, so that 64 samples
# hold new ones; the last pass ignores the policy (infinite temperature: uniform). The
# policy sharpens on whatever it is told, repeats included, so a search that accepts
# repeats too early collapses: with no pass past 512 samples at the policy's own
# temperature, 191 distinct architectures in 2,000 NAS-Bench-201 queries, at 47 ms a
# query; with passes of 32-64 samples up to temperature 16 and none uniform, 1,700 in
# 5,000. With the uniform pass, 5,000 queries are 5,000 distinct networks. After it a
# repeat is accepted, as evolution does (the space is then nearly exhausted). In 100
# NAS-Bench-201 queries no pass past the second is needed.
_PASSES = ((32, 1.0), (512, 1.0), (64, 2.0), (64, 4.0), (64, 8.0), (64, 16.0), (128, math.inf))
# Fingerprints remembered per option-index tuple (computing one lowers the genotype).
_FINGERPRINT_CACHE = 1 << 16

_STATE_VERSION = 1

# Multi-trial defaults, chosen on NAS-Bench-201 (100 queries, seeds 100-299; README): plain
# SGD at 0.5 with a 5-strong elite reached 94.1 where Adam at 0.01 without one reached 93.9.
# Weight-sharing mode keeps ENAS's Adam at 0.01 and no elite: its rewards are one
# validation batch on weights that keep changing, so yesterday's best is stale.
_DEFAULT_LR = {"adam": 0.01, "sgd": 0.5}
_DEFAULT_ELITE_SIZE = 5
# LSTM width: 32 in multi-trial mode (NAS-Bench-201, seeds 100-299: 94.17 against 94.14
# with 64, and the update and the saved weights cost less), ENAS's 64 with weight sharing.
_DEFAULT_HIDDEN = {False: 32, True: 64}

#: The defaults of the mnas-only options, applied when ``reward="mnas"``.
_MNAS_DEFAULTS = {"latency_metric": "latency_ms", "latency_weight": -0.07}

#: Supernet sizes a weight-sharing search may override, per space option name.
_SUPERNET_SIZES = ("channels", "cells_per_stage", "init_channels", "layers")


@dataclass(frozen=True)
class WeightSharingOptions:
    """The weight-sharing (ENAS) options of :class:`RLStrategy`, validated (see its docstring)."""

    epochs: int = 10
    w_batch_size: int = 64
    w_lr: float = 0.05
    w_lr_min: float = 0.0005
    w_momentum: float = 0.9
    w_weight_decay: float = 1e-4
    grad_clip: float | None = 5.0
    controller_steps: int = 10
    reward_batch_size: int = 128
    derive_samples: int = 32
    retrain: int = 3

    def __post_init__(self) -> None:
        for name in ("epochs", "controller_steps", "retrain"):
            _check_int(name, getattr(self, name))
        for name in ("w_batch_size", "reward_batch_size"):
            if _check_int(name, getattr(self, name)) < 2:
                msg = f"strategy 'rl': {name} must be an integer >= 2 (BatchNorm needs two samples), got 1"
                raise ConfigError(msg)
        samples = self.derive_samples
        if not isinstance(samples, Integral) or isinstance(samples, bool) or samples < 0:
            msg = f"strategy 'rl': derive_samples must be an integer >= 0, got {self.derive_samples!r}"
            raise ConfigError(msg)
        _check_number("w_lr", self.w_lr, "> 0", lambda x: x > 0)
        _check_number("w_lr_min", self.w_lr_min, f"in [0, w_lr={self.w_lr}]", lambda x: 0 <= x <= self.w_lr)
        _check_number("w_momentum", self.w_momentum, "in [0, 1)", lambda x: 0 <= x < 1)
        _check_number("w_weight_decay", self.w_weight_decay, ">= 0", lambda x: x >= 0)
        if self.grad_clip is not None:
            _check_number("w_grad_clip", self.grad_clip, "> 0", lambda x: x > 0)


class RLStrategy(Strategy):
    """REINFORCE over an LSTM controller, ask/tell.

    Args:
        space: any space; only its ``choices``, ``decode``, ``encode`` and ``key`` are used.
        objectives: the first one is the reward (see ``reward``).
        seed: seeds the controller's initial weights and all sampling.
        batch_size: rewards per controller update, >= 1 (default 5). Smaller learns
            sooner from few trials, larger lowers the variance of each step.
        optimizer: ``"sgd"`` (default) or ``"adam"`` (the default with weight sharing).
        lr: learning rate, > 0 (default 0.5 with SGD; 0.01 with Adam: searches run tens
            to hundreds of trials, not the tens of thousands ENAS's 3.5e-4 was tuned
            for, and from about 0.03 Adam often commits to a wrong option before exploring).
        elite_size: how many of the best genotypes told so far the elite term imitates,
            >= 0 (default 5; 0, i.e. off, with weight sharing, whose rewards come from
            weights that keep changing).
        elite_weight: weight of the elite term, >= 0 (default 2).
        controller: ``"lstm"`` (default: each decision conditioned on the earlier ones)
            or ``"factorized"`` (an independent softmax per decision, the NAS-Bench-201
            paper's REINFORCE policy: half the overhead per trial, and on NAS-Bench-201
            94.07 against the LSTM's 94.17).
        hidden_size: LSTM width, >= 1 (default 32; 64, ENAS's, with weight sharing).
        embedding_size: width of the decision embeddings, >= 1 (default: ``hidden_size``).
        entropy_weight: weight of the entropy bonus, >= 0 (default 0.01).
        baseline_decay: decay of the moving-average baseline (and of the reward spread
            estimate), in [0, 1) (default 0.9: about the last ten rewards).
        grad_clip: maximum gradient norm, > 0, or ``None`` for no clipping (default 5).
        tanh_constant: logits become ``c * tanh(logits)`` (ENAS: 2.5), > 0, or ``None``
            (default). The cap keeps exploring, but ENAS paired it with a learning rate
            of 3.5e-4: at this strategy's rates Adam pushes options into the cap, where
            two of them can end up tied for good (measured on the toy bandit: 8 of 12
            seeds converged with 2.5, 12 of 12 without).
        normalize_advantage: divide advantages by the running spread of the reward
            around the baseline (default ``True``).
        reward: ``"objective"`` or ``"mnas"`` (see the module documentation).
        latency_target: mnas only, required: the target latency ``T``, > 0.
        latency_weight: mnas only: the exponent ``w`` (default -0.07), finite.
        latency_metric: mnas only: the measurement read as ``LAT`` (default ``latency_ms``).
        constraint_penalty: reward lost per unit of constraint violation, >= 0 (default 1).
        failure_margin: failed trials score this many standard deviations of the rewards
            seen below the worst reward seen, >= 0 (default 1).
        weight_sharing: ENAS mode (default ``False``; see the module documentation).
            Its options, refused otherwise:
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
        ConfigError: naming the option, for a value of the wrong type or out of range.
    """

    name = "rl"

    def __init__(
        self,
        space: SearchSpace,
        objectives: Sequence[Objective],
        *,
        seed: int = 0,
        batch_size: int = 5,
        lr: float | None = None,
        optimizer: str | None = None,
        elite_size: int | None = None,
        elite_weight: float = 2.0,
        controller: str = "lstm",
        hidden_size: int | None = None,
        embedding_size: int | None = None,
        entropy_weight: float = 0.01,
        baseline_decay: float = 0.9,
        grad_clip: float | None = 5.0,
        tanh_constant: float | None = None,
        normalize_advantage: bool = True,
        reward: str = "objective",
        latency_target: float | None = None,
        latency_weight: float | None = None,
        latency_metric: str | None = None,
        constraint_penalty: float = 1.0,
        failure_margin: float = 1.0,
        weight_sharing: bool = False,
        **options: Any,
    ) -> None:
        sharing_options = {k: options.pop(k) for k in list(options) if k in _SHARING_OPTION_NAMES}
        super().__init__(space, objectives, seed=seed, **options)
        self.batch_size = _check_int("batch_size", batch_size)
        sharing = weight_sharing is True
        if optimizer is None:
            optimizer = "adam" if sharing else "sgd"
        if optimizer not in OPTIMIZERS:
            msg = f"strategy 'rl': unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            raise ConfigError(msg)
        self.optimizer = optimizer
        self.lr = _check_number("lr", _DEFAULT_LR[optimizer] if lr is None else lr, "> 0", lambda x: x > 0)
        if elite_size is None:
            elite_size = 0 if sharing else _DEFAULT_ELITE_SIZE
        if not isinstance(elite_size, Integral) or isinstance(elite_size, bool) or elite_size < 0:
            msg = f"strategy 'rl': elite_size must be an integer >= 0, got {elite_size!r}"
            raise ConfigError(msg)
        self.elite_size = int(elite_size)
        self.elite_weight = _check_number("elite_weight", elite_weight, ">= 0", lambda x: x >= 0)
        if controller not in CONTROLLERS:
            msg = f"strategy 'rl': unknown controller {controller!r}; choose one of {', '.join(CONTROLLERS)}"
            raise ConfigError(msg)
        self.controller = controller
        if controller == "factorized":
            given = [name for name, v in (("hidden_size", hidden_size), ("embedding_size", embedding_size)) if v]
            if given:
                msg = f"strategy 'rl': {given[0]} only applies to controller='lstm'; the factorized policy has no LSTM"
                raise ConfigError(msg)
            self.hidden_size = self.embedding_size = 0
        else:
            hidden_size = _DEFAULT_HIDDEN[sharing] if hidden_size is None else hidden_size
            self.hidden_size = _check_int("hidden_size", hidden_size)
            self.embedding_size = (
                self.hidden_size if embedding_size is None else _check_int("embedding_size", embedding_size)
            )
        self.entropy_weight = _check_number("entropy_weight", entropy_weight, ">= 0", lambda x: x >= 0)
        self.baseline_decay = _check_number("baseline_decay", baseline_decay, "in [0, 1)", lambda x: 0 <= x < 1)
        self.grad_clip = None if grad_clip is None else _check_number("grad_clip", grad_clip, "> 0", lambda x: x > 0)
        self.tanh_constant = (
            None if tanh_constant is None else _check_number("tanh_constant", tanh_constant, "> 0", lambda x: x > 0)
        )
        if not isinstance(normalize_advantage, bool):
            msg = f"strategy 'rl': normalize_advantage must be true or false, got {normalize_advantage!r}"
            raise ConfigError(msg)
        self.normalize_advantage = normalize_advantage
        self.constraint_penalty = _check_number("constraint_penalty", constraint_penalty, ">= 0", lambda x: x >= 0)
        self.failure_margin = _check_number("failure_margin", failure_margin, ">= 0", lambda x: x >= 0)
        self.reward_kind = reward
        self.latency_target, self.latency_weight, self.latency_metric = self._check_reward(
            reward, latency_target, latency_weight, latency_metric
        )
        self.sizes = self._check_space(space)

        from ._rl_controller import Controller, ControllerTrainer, FactorizedPolicy

        if controller == "factorized":
            policy: Any = FactorizedPolicy(self.sizes, tanh_constant=self.tanh_constant, seed=seed)
        else:
            policy = Controller(
                self.sizes,
                hidden_size=self.hidden_size,
                embedding_size=self.embedding_size,
                tanh_constant=self.tanh_constant,
                seed=seed,
            )
        self._trainer: ControllerTrainer = ControllerTrainer(
            policy, lr=self.lr, grad_clip=self.grad_clip, optimizer=self.optimizer
        )
        # The encoded controller and Adam state, kept until the next update: the engine
        # saves the strategy state after every trial, but the controller only changes
        # once per batch, and encoding it dominated the per-trial cost on tabular benchmarks.
        self._controller_state: dict[str, Any] | None = None

        #: One entry per controller update, for run reports (see the module docs).
        self.history: list[dict[str, Any]] = []
        # The same entries in their JSON form, saved in chunks (the state is saved per trial).
        self._history_json: list[dict[str, Any]] = []
        self._history_log = ChunkedList()
        self._asked = 0
        self._told = 0
        self._baseline: float | None = None
        self._reward_var: float | None = None  # EMA of (reward - baseline) ** 2
        self._worst: float | None = None  # lowest finite reward told so far
        # Count, mean and sum of squared deviations (Welford) of the finite rewards told.
        self._reward_stats = [0, 0.0, 0.0]
        # Told, not yet used for an update: (option indices, reward or None if failed).
        self._buffer: list[tuple[list[int], float | None]] = []
        self._pending: dict[str, int] = {}  # fingerprint -> times asked, not yet told
        self._seen = FingerprintSet()  # fingerprints of told genotypes
        # The best ``elite_size`` (option indices, reward) told so far, best first.
        self._elite: list[tuple[list[int], float]] = []
        # The current controller pass (see _propose): its samples, how many were looked
        # at, whether any was new, which pass of _PASSES it is, and how to draw it again
        # (the RNG state before it), so the state saves four numbers, not 512 samples.
        self._candidates: list[tuple[int, ...]] = []
        self._next = 0
        self._fresh = False
        self._level = 0
        # The pass that last found something new: after an update the search starts one
        # pass narrower than it, not at the first. A converged controller otherwise pays
        # for every pass up to the one it needs after each update (at 5,000 NAS-Bench-201
        # queries it climbed five passes after every update).
        self._found_level = 0
        self._draw_rng: dict[str, Any] | None = None
        self._fingerprints: dict[tuple[int, ...], str] = {}
        self._setup_sharing(weight_sharing, sharing_options)

    # -- weight sharing (ENAS) -----------------------------------------------------------

    def _setup_sharing(self, enabled: Any, options: dict[str, Any]) -> None:
        if not isinstance(enabled, bool):
            msg = f"strategy 'rl': weight_sharing must be true or false, got {enabled!r}"
            raise ConfigError(msg)
        #: The ENAS options, or None in multi-trial mode.
        self.sharing: WeightSharingOptions | None = None
        if not enabled:
            if options:
                msg = (
                    f"strategy 'rl': {', '.join(sorted(options))} only apply with weight_sharing=true "
                    f"(ENAS mode); drop them or turn weight sharing on"
                )
                raise ConfigError(msg)
            return
        describe = getattr(self.space, "supernet_description", None)
        if not callable(describe) or not callable(getattr(self.space, "genotype_weights", None)):
            msg = (
                f"strategy 'rl' with weight_sharing=true needs a cell space with a supernet: nb201 or "
                f"darts-cell (space {self.space.name!r} has none); or use weight_sharing=false"
            )
            raise ConfigError(msg)
        if self.reward_kind != "objective":
            msg = (
                f"strategy 'rl': reward {self.reward_kind!r} needs measured trials, but with weight_sharing=true "
                f"the controller learns from the shared weights' validation accuracy; use reward 'objective'"
            )
            raise ConfigError(msg)
        sizes = {k: options.pop(k) for k in list(options) if k in _SUPERNET_SIZES}
        if "w_grad_clip" in options:
            options["grad_clip"] = options.pop("w_grad_clip")
        self.sharing = WeightSharingOptions(**options)
        self._description = describe(**sizes)
        # What a saved state must have been trained with to be resumed here.
        self._sharing_settings = {**asdict(self.sharing), **sizes}
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
    def one_shot(self) -> bool:
        """Whether the engine runs a supernet phase first (weight-sharing mode)."""
        return self.sharing is not None

    @property
    def supernet_trained(self) -> bool:
        return self.sharing is None or self._finished

    def train_supernet(self, context: SupernetContext) -> None:
        """ENAS: per epoch, shared weights on the training split, then the controller on rewards."""
        if self.supernet_trained:
            return
        import time

        from ._darts_supernet import decode_state
        from ._enas import SharedWeights

        assert self.sharing is not None
        if self._shared is None:
            self._shared = SharedWeights(self._description, self.sharing, context.dataset, context.device, self.seed)
            if self._pending_supernet is not None:
                self._shared.load(decode_state(self._pending_supernet))
                self._pending_supernet = None
        while self._epoch < self.sharing.epochs:
            if context.deadline is not None and time.perf_counter() > context.deadline:
                break
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
            if not record["complete"]:
                break
            if self._epoch < self.sharing.epochs:
                context.checkpoint()
        self._derive(context)
        self._finished = True
        self._shared = None  # the supernet is not needed any more
        context.checkpoint()

    def _child(self, genotype: Genotype) -> dict[str, Any]:
        from ._darts_supernet import child_path

        return {kind: child_path(rows) for kind, rows in self.space.genotype_weights(genotype).items()}

    def _sample_child(self) -> dict[str, Any]:
        """A child for one training batch, drawn from the current policy."""
        (indices,) = self._trainer.controller.sample(self.rng.random((1, len(self.sizes))))
        return self._child(self.space.decode(indices))

    def _train_controller(self) -> float:
        """``controller_steps`` REINFORCE updates on shared-weight validation accuracy; the mean reward."""
        assert self.sharing is not None
        rewards = []
        for _ in range(self.sharing.controller_steps):
            samples = self._trainer.controller.sample(self.rng.random((self.batch_size, len(self.sizes))))
            batch = self._shared.validation_batch(self.sharing.reward_batch_size)
            scored = []
            for indices in samples:
                value = self._shared.accuracy(self._child(self.space.decode(indices)), batch)
                self._observe(value)
                self._told += 1
                scored.append((list(indices), value))
                rewards.append(value)
            self._update(scored)
        return sum(rewards) / len(rewards)

    def _derive(self, context: SupernetContext) -> None:
        """Score the greedy child and ``derive_samples`` sampled ones; keep the best ``retrain``."""
        assert self.sharing is not None
        candidates = [self.greedy()]
        if self.sharing.derive_samples:
            uniforms = self.rng.random((self.sharing.derive_samples, len(self.sizes)))
            candidates += [self.space.decode(indices) for indices in self._trainer.controller.sample(uniforms)]
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
        self.derived = scored[: self.sharing.retrain]
        context.log("derive", self._epoch, candidates=scored)

    def _check_reward(
        self, reward: str, target: float | None, weight: float | None, metric: str | None
    ) -> tuple[float | None, float | None, str | None]:
        if reward not in REWARDS:
            msg = f"strategy 'rl': unknown reward {reward!r}; choose one of {', '.join(REWARDS)}"
            raise ConfigError(msg)
        given = {"latency_target": target, "latency_weight": weight, "latency_metric": metric}
        if reward != "mnas":
            extra = sorted(k for k, v in given.items() if v is not None)
            if extra:
                verb = "is" if len(extra) == 1 else "are"
                msg = f"strategy 'rl': {', '.join(extra)} {verb} only used by reward 'mnas', not {reward!r}"
                raise ConfigError(msg)
            return None, None, None
        primary = self.objectives[0]
        if primary.direction != MAX:
            msg = (
                f"strategy 'rl': reward 'mnas' multiplies the first objective, which must be "
                f"maximised (e.g. accuracy); got {primary.name!r} ({primary.direction})"
            )
            raise ConfigError(msg)
        if target is None:
            msg = "strategy 'rl': reward 'mnas' needs latency_target (the target latency T, > 0)"
            raise ConfigError(msg)
        target = _check_number("latency_target", target, "> 0", lambda x: x > 0)
        weight = _MNAS_DEFAULTS["latency_weight"] if weight is None else weight
        weight = _check_number("latency_weight", weight, "", lambda x: True)
        metric = _MNAS_DEFAULTS["latency_metric"] if metric is None else metric
        if not isinstance(metric, str) or not metric:
            msg = f"strategy 'rl': latency_metric must be a measurement name, got {metric!r}"
            raise ConfigError(msg)
        return target, weight, metric

    @staticmethod
    def _check_space(space: SearchSpace) -> tuple[int, ...]:
        sizes = tuple(len(c.options) for c in space.choices())
        if not sizes or min(sizes) < 1:
            msg = (
                f"strategy 'rl' needs a space described as categorical choices, each with at "
                f"least one option; space {space.name!r} has {list(sizes)} options per choice"
            )
            raise ConfigError(msg)
        return sizes

    # -- ask/tell ------------------------------------------------------------------------

    def ask(self, n: int) -> list[Genotype]:
        """``n`` genotypes sampled from the controller, avoiding ones seen or pending."""
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 0:
            msg = f"ask(n) needs a non-negative integer, got {n!r}"
            raise ValueError(msg)
        if self.sharing is not None:
            return self._ask_derived(n)
        genotypes = []
        for _ in range(n):
            genotype, key = self._propose()
            self._pending[key] = self._pending.get(key, 0) + 1
            self._asked += 1
            genotypes.append(genotype)
        return genotypes

    def _ask_derived(self, n: int) -> list[Genotype]:
        """Weight sharing: the next derived children, best first; then nothing."""
        if not self._finished:
            msg = "strategy 'rl': ask() before the supernet is trained; the engine calls train_supernet() first"
            raise RuntimeError(msg)
        chosen = self.derived[self._handed_out : self._handed_out + n]
        self._handed_out += len(chosen)
        return [entry["genotype"] for entry in chosen]

    def tell(self, trials: Sequence[Trial]) -> None:
        """Turn finished trials (failed ones included) into rewards; update per full batch.

        With weight sharing the trials are the retrained children: the controller has
        finished learning, so they are only counted.
        """
        if self.sharing is not None:
            self._retrained_told += len(trials)
            return
        # Within one batch the order the executor finished in should not matter.
        for trial in sorted(trials, key=lambda t: t.number):
            indices = list(self.space.encode(trial.genotype))
            key = self._fingerprint(indices)
            left = self._pending.pop(key, 0) - 1
            if left > 0:
                self._pending[key] = left
            self._seen.add(key)
            value = self.reward(trial)
            if value is not None:
                self._observe(value)
                self._remember(indices, value)
            self._buffer.append((indices, value))
            self._told += 1
            if len(self._buffer) >= self.batch_size:
                batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
                self._update(batch)

    def reward(self, trial: Trial) -> float | None:
        """The trial's reward (larger is better), or ``None`` when it failed.

        ``None`` also for a complete trial whose reward cannot be computed: a NaN or
        infinite objective, constraint violation or latency, or a latency <= 0 under
        the mnas reward.
        """
        if not trial.ok:
            return None
        violation = float(trial.constraint_violation)
        if not 0 <= violation < math.inf:
            return None
        primary = self.objectives[0]
        quality = float(trial.objectives.get(primary.name, math.nan))
        if self.reward_kind == "objective":
            value = -primary.as_loss(quality)
        else:
            latency = trial.objectives.get(self.latency_metric, trial.metrics.get(self.latency_metric, math.nan))
            latency = float(latency)
            if not 0 < latency < math.inf:
                return None
            value = quality * (latency / self.latency_target) ** self.latency_weight
        value -= self.constraint_penalty * violation
        return value if math.isfinite(value) else None

    def _observe(self, value: float) -> None:
        """Note a finite reward: the worst so far and the running spread (Welford)."""
        self._worst = value if self._worst is None else min(self._worst, value)
        count, mean, m2 = self._reward_stats
        count += 1
        delta = value - mean
        mean += delta / count
        self._reward_stats = [count, mean, m2 + delta * (value - mean)]

    def _remember(self, indices: list[int], value: float) -> None:
        """Keep ``indices`` among the elite if its reward is among the best ``elite_size`` told."""
        if not self.elite_size:
            return
        # Stable: among equal rewards the one told first stays ahead.
        position = sum(1 for _, r in self._elite if r >= value)
        if position < self.elite_size:
            self._elite.insert(position, (indices, value))
            del self._elite[self.elite_size :]

    def _update(self, batch: list[tuple[list[int], float | None]]) -> None:
        """One REINFORCE step on a full batch of told trials."""
        if self._worst is None:
            return  # only failures so far: no reward scale to rank them against
        failed = self._failure_reward()
        rewards = [failed if r is None else r for _, r in batch]
        decay = self.baseline_decay
        if self._baseline is None:
            # The first batch starts the baseline at its own mean.
            self._baseline = sum(rewards) / len(rewards)
            advantages = [r - self._baseline for r in rewards]
            self._reward_var = sum(a * a for a in advantages) / len(advantages)
        else:
            # Every trial of a batch is judged against the same, earlier baseline.
            advantages = [r - self._baseline for r in rewards]
            for r, a in zip(rewards, advantages, strict=True):
                self._baseline = decay * self._baseline + (1 - decay) * r
                self._reward_var = decay * self._reward_var + (1 - decay) * a * a
        if self.normalize_advantage and self._reward_var > 0:
            scale = math.sqrt(self._reward_var)
            advantages = [a / scale for a in advantages]
        stats = self._trainer.update(
            [indices for indices, _ in batch],
            advantages,
            self.entropy_weight,
            elite=[indices for indices, _ in self._elite],
            elite_weight=self.elite_weight,
        )
        self._controller_state = None
        # Samples of the old policy are dropped; the search for new ones starts one pass
        # narrower than the last one that found something new.
        self._candidates, self._next, self._fresh, self._draw_rng = [], 0, False, None
        self._level = max(0, self._found_level - 1)
        entry = {
            "step": len(self.history),
            "trials": self._told,
            "reward_mean": sum(rewards) / len(rewards),
            "reward_max": max(rewards),
            "baseline": self._baseline,
            **stats,
        }
        self.history.append(entry)
        self._history_json.append({k: _float_to_json(v) for k, v in entry.items()})
        # The run report reads reward and entropy per update from the journal's events.
        self.emit("controller", entry["step"], **{k: _float_to_json(v) for k, v in entry.items() if k != "step"})

    def _failure_reward(self) -> float:
        """The worst finite reward told so far, less ``failure_margin`` spreads."""
        assert self._worst is not None
        count, _, m2 = self._reward_stats
        spread = math.sqrt(m2 / count)
        if spread == 0:
            # Every reward so far is equal, so there is no scale yet: any margin tells
            # failures apart, and |worst| puts a failure at accuracy 0 (or at twice the
            # latency) rather than at an arbitrary number.
            spread = abs(self._worst) or 1.0
        return self._worst - self.failure_margin * spread

    # -- the policy ----------------------------------------------------------------------

    def probabilities(self, genotype: Genotype | None = None) -> list[list[float]]:
        """Per decision, the controller's option probabilities given the earlier decisions.

        Args:
            genotype: the path to condition on; ``None`` follows the most likely option at
                every step (:meth:`greedy`).
        """
        genotype = self.greedy() if genotype is None else genotype
        return self._trainer.probabilities(self.space.encode(genotype))

    def greedy(self) -> Genotype:
        """The genotype made of the most likely option at each step, given the earlier ones."""
        return self.space.decode(self._trainer.controller.greedy())

    def _propose(self) -> tuple[Genotype, str]:
        """A genotype of the current policy that is neither told nor pending, and its fingerprint.

        Candidates come from batched controller passes (a pass of 32 costs little more
        than one sample); unused ones wait for the next ask until the policy changes
        (``_update`` drops them). A pass that held nothing new is followed by the next,
        wider one of ``_PASSES``; after an update the search starts one pass narrower
        than the last one that found something new.
        """
        while True:
            while self._next < len(self._candidates):
                indices = self._candidates[self._next]
                self._next += 1
                key = self._fingerprint(indices)
                if key not in self._seen and key not in self._pending:
                    self._fresh, self._found_level = True, self._level
                    return self.space.decode(list(indices)), key
            if self._candidates and not self._fresh:
                if self._level == len(_PASSES) - 1:
                    # A repeat is better than stalling in a (nearly) exhausted space; the
                    # next ask draws the widest pass again.
                    indices = self._candidates[-1]
                    self._candidates, self._next, self._draw_rng = [], 0, None
                    return self.space.decode(list(indices)), self._fingerprint(indices)
                self._level += 1
            self._draw_rng = self.rng.bit_generator.state
            self._candidates, self._next, self._fresh = self._draw(), 0, False

    def _draw(self) -> list[tuple[int, ...]]:
        """The distinct samples of pass ``_level`` in the order drawn, with the RNG as it stands.

        A sure policy draws the same few genotypes hundreds of times in a pass; only the
        first of each can be new, so only it is looked at.
        """
        samples, temperature = _PASSES[self._level]
        drawn = self._trainer.controller.sample(self.rng.random((samples, len(self.sizes))), temperature)
        return list(dict.fromkeys(map(tuple, drawn)))

    def _fingerprint(self, indices: Sequence[int]) -> str:
        """64 bits of the space's key, as in evolution (keeps the state small); cached."""
        row = tuple(indices)
        fingerprint = self._fingerprints.get(row)
        if fingerprint is None:
            if len(self._fingerprints) >= _FINGERPRINT_CACHE:
                self._fingerprints.clear()
            key = self.space.key(self.space.decode(list(row)))
            fingerprint = self._fingerprints[row] = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        return fingerprint

    # -- state ---------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        """What must match for a saved controller to be loadable."""
        return {
            "sizes": list(self.sizes),
            "controller": self.controller,
            "hidden_size": self.hidden_size,
            "embedding_size": self.embedding_size,
            "optimizer": self.optimizer,
        }

    def state_dict(self) -> dict[str, Any]:
        """JSON-compatible state (strict JSON: no NaN/inf) from which to resume exactly."""
        state = super().state_dict()
        state.update(
            version=_STATE_VERSION,
            controller_config=self._config(),
            controller=self._encoded_controller(),
            asked=self._asked,
            told=self._told,
            baseline=self._baseline,
            reward_var=self._reward_var,
            worst=self._worst,
            reward_stats=list(self._reward_stats),
            buffer=[[indices, r] for indices, r in self._buffer],
            pending=dict(sorted(self._pending.items())),
            seen=self._seen.dump(),
            elite=[[indices, r] for indices, r in self._elite],
            candidates=self._candidates_state(),
            history=self._history_log.dump(self._history_json),
        )
        if self.sharing is not None:
            state["weight_sharing"] = self._sharing_state()
        return state

    def _candidates_state(self) -> dict[str, Any] | list[list[int]]:
        if self._draw_rng is None and self._candidates:
            return [list(indices) for indices in self._candidates[self._next :]]  # loaded from an old state
        return {
            "rng": self._draw_rng,
            "level": self._level,
            "next": self._next,
            "fresh": self._fresh,
            "found": self._found_level,
        }

    def _load_candidates(self, saved: Any) -> None:
        if isinstance(saved, list):  # states before the passes were replayed: the samples themselves
            self._candidates = [tuple(int(i) for i in indices) for indices in saved]
            self._next, self._fresh, self._level, self._draw_rng = 0, False, 0, None
            return
        self._level, self._next, self._fresh = int(saved["level"]), int(saved["next"]), bool(saved["fresh"])
        self._found_level = int(saved.get("found", 0))  # not saved before passes were remembered
        self._draw_rng = saved["rng"]
        self._candidates = []
        if self._draw_rng is not None:
            # Draw the pass again from the RNG state it started from (the controller is
            # already restored), then put the RNG back where it was saved.
            now = self.rng.bit_generator.state
            self.rng.bit_generator.state = self._draw_rng
            self._candidates = self._draw()
            self.rng.bit_generator.state = now

    def _encoded_controller(self) -> dict[str, Any]:
        if self._controller_state is None:
            self._controller_state = self._trainer.state_dict()
        return self._controller_state

    def _sharing_state(self) -> dict[str, Any]:
        supernet = self._pending_supernet
        if self._shared is not None and not self._finished:
            from ._darts_supernet import encode_state

            supernet = encode_state(self._shared.state())
        return {
            "settings": self._sharing_settings,
            "epoch": self._epoch,
            "finished": self._finished,
            "derived": self.derived,
            "handed_out": self._handed_out,
            "retrained_told": self._retrained_told,
            "history": [{k: _float_to_json(v) for k, v in entry.items()} for entry in self.supernet_history],
            # The supernet is dropped once the children to retrain are chosen.
            "supernet": None if self._finished else supernet,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned: controller, optimizer, baseline, RNG."""
        if state.get("version") != _STATE_VERSION:
            msg = f"strategy 'rl' cannot read a saved state of version {state.get('version')!r}"
            raise ConfigError(msg)
        sharing = state.get("weight_sharing")
        if (sharing is None) != (self.sharing is None):
            saved = "with" if sharing is not None else "without"
            msg = f"strategy 'rl' was saved {saved} weight sharing; resume with the same weight_sharing option"
            raise ConfigError(msg)
        saved_config = state.get("controller_config")
        if isinstance(saved_config, dict):
            # Saved before these options existed: what they meant then.
            saved_config = {"optimizer": "adam", "controller": "lstm", **saved_config}
        config = self._config()
        if saved_config != config:
            if isinstance(saved_config, dict):  # name only the settings that differ
                differ = [k for k in {**config, **saved_config} if saved_config.get(k) != config.get(k)]
                saved_config = {k: saved_config.get(k) for k in differ}
                config = {k: config.get(k) for k in differ}
            msg = (
                f"strategy 'rl' was saved with controller {saved_config} but is "
                f"configured for {config}; resume with the same space and options"
            )
            raise ConfigError(msg)
        super().load_state_dict(state)
        self._trainer.load_state_dict(state["controller"])
        self._controller_state = None
        self._asked = int(state["asked"])
        self._told = int(state["told"])
        self._baseline = _optional_float(state["baseline"])
        self._reward_var = _optional_float(state["reward_var"])
        self._worst = _optional_float(state["worst"])
        count, mean, m2 = state["reward_stats"]
        self._reward_stats = [int(count), float(mean), float(m2)]
        self._buffer = [([int(i) for i in indices], _optional_float(r)) for indices, r in state["buffer"]]
        self._pending = {str(k): int(v) for k, v in state["pending"].items()}
        self._seen = FingerprintSet.load(state["seen"])
        self._elite = [([int(i) for i in indices], float(r)) for indices, r in state.get("elite", [])]
        self._load_candidates(state.get("candidates", []))
        self._history_json = ChunkedList.load(state["history"])
        self.history = [
            {k: v if k in ("step", "trials") else float(v) for k, v in entry.items()} for entry in self._history_json
        ]
        if sharing is not None:
            if sharing["settings"] != self._sharing_settings:
                msg = (
                    f"strategy 'rl': the saved supernet was trained with other options ({sharing['settings']}) "
                    f"than these ({self._sharing_settings}); resume with the same options"
                )
                raise ConfigError(msg)
            self._epoch = int(sharing["epoch"])
            self._finished = bool(sharing["finished"])
            self.derived = list(sharing["derived"])
            self._handed_out = int(sharing["handed_out"])
            self._retrained_told = int(sharing["retrained_told"])
            self.supernet_history = list(sharing["history"])
            self._shared = None
            self._pending_supernet = sharing["supernet"]


#: Options that only weight-sharing mode takes (``w_grad_clip`` is ``WeightSharingOptions.grad_clip``).
_SHARING_OPTION_NAMES = frozenset(
    {f for f in WeightSharingOptions.__dataclass_fields__ if f != "grad_clip"} | {"w_grad_clip", *_SUPERNET_SIZES}
)


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("rl", RLStrategy)


# -- helpers -----------------------------------------------------------------------------


def _check_int(option: str, value: Any) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        msg = f"strategy 'rl': {option} must be an integer >= 1, got {value!r}"
        raise ConfigError(msg)
    return int(value)


def _check_number(option: str, value: Any, requirement: str, ok: Callable[[float], bool]) -> float:
    """A finite real number (bools refused) that satisfies ``ok``, described by ``requirement``."""
    valid = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) and ok(float(value))
    if not valid:
        wanted = f"a finite number {requirement}".rstrip()
        msg = f"strategy 'rl': {option} must be {wanted}, got {value!r}"
        raise ConfigError(msg)
    return float(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_to_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "-inf", "nan": strict JSON
    return value
