"""Reinforcement-learning search: a controller trained with REINFORCE on measured trials.

The controller (:mod:`._reinforce`: an LSTM over the space's decisions, or one softmax per
decision with ``controller="factorized"``) works on ``chain-cnn``, ``nb201``,
``darts-cell`` or any third-party space through ``choices``/``encode``/``decode`` alone.
``ask`` samples genotypes of the controller that are neither told nor pending
(:mod:`._rl_proposals`), the engine trains and measures them, ``tell`` turns each trial
into a reward (:mod:`._rl_rewards`). Once ``batch_size`` rewards have arrived the
controller takes one REINFORCE step, with an elite term: the ``elite_size`` genotypes
with the best rewards told so far are imitated with weight ``elite_weight`` (priority
queue training, Abolafia et al. 2018). A batch made only of failures before any trial
has succeeded carries no reward scale and is dropped.

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
on-policy approximation.

Everything is deterministic on CPU for a given ``seed``: the weights are initialised from a
private ``torch.Generator`` and sampling draws from the strategy's numpy RNG, so the global
torch RNG is not advanced, and the controller's arithmetic runs on one thread whatever
``torch.get_num_threads()`` says. ``state_dict`` holds the controller weights and Adam
moments (base64 of the raw float32 bytes: exact and strict JSON), the baseline, the
told-but-unused rewards, the RNG, the current sampling pass (as the RNG state it was drawn
from: resume draws it again) and the per-update ``history`` that run reports plot; the
history and the fingerprints seen are saved in chunks, so saving the state after every
trial does not grow slower as trials accumulate.

Weight sharing (ENAS) is the ``enas`` strategy (:mod:`.enas`). ``rl`` with
``weight_sharing=true``, its spelling before, still builds it for one release, with a
:class:`DeprecationWarning`.

This module imports torch only when the strategy is constructed, so listing plugins stays
fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import attrs

from automl_codegen import ConfigError, Genotype, Objective, SearchSpace, Strategy, Trial, hookimpl
from automl_codegen.options import OptionError, check, integer, one_of, structure_options

from ._reinforce import CONTROLLERS, OPTIMIZERS, UNKNOWN_CHOICE, ControllerOptions, ReinforceLearner, number, text
from ._rl_proposals import PASSES, Proposals
from ._rl_rewards import REWARDS, Rewards

__all__ = ["CONTROLLERS", "OPTIMIZERS", "PASSES", "REWARDS", "RLOptions", "RLStrategy", "register_strategies"]

_NAME = "rl"
_OWNER = f"strategy {_NAME!r}"
_STATE_VERSION = 1

# Chosen on NAS-Bench-201 (100 queries, seeds 100-299; README): plain SGD at 0.5 with a
# 5-strong elite reached 94.1 where Adam at 0.01 without one reached 93.9.
_DEFAULT_ELITE_SIZE = 5


def _mnas_options(options: RLOptions, attribute: attrs.Attribute, value: Any) -> None:
    """The latency options belong to ``reward="mnas"``, which needs ``latency_target``."""
    given = sorted(k for k in ("latency_target", "latency_weight", "latency_metric") if getattr(options, k) is not None)
    if options.reward != "mnas" and given:
        verb = "is" if len(given) == 1 else "are"
        template = "{owner}: {given} {verb} only used by reward 'mnas', not {reward!r}"
        raise OptionError(template, owner=type(options).__name__, given=", ".join(given), verb=verb, reward=value)
    if options.reward == "mnas" and options.latency_target is None:
        raise OptionError("{owner}: reward 'mnas' needs latency_target (the target latency T, > 0)")


@attrs.frozen(kw_only=True)
class RLOptions(ControllerOptions):
    """The options of :class:`RLStrategy`, checked (see its docstring)."""

    elite_size: int | None = attrs.field(
        default=None, validator=integer(0, optional=True), metadata=text("best genotypes imitated (5)")
    )
    elite_weight: float = attrs.field(default=2.0, validator=number(0), metadata=text("weight of the elite term"))
    latency_target: float | None = attrs.field(
        default=None, validator=number(0, positive=True, optional=True), metadata=text("mnas: the target latency T")
    )
    latency_weight: float | None = attrs.field(
        default=None, validator=number(optional=True), metadata=text("mnas: the exponent w (-0.07)")
    )
    latency_metric: str | None = attrs.field(
        default=None,
        validator=check(lambda v: isinstance(v, str) and bool(v), "a measurement name", optional=True),
        metadata=text("mnas: the latency measurement (latency_ms)"),
    )
    # After the latency options: the check that they fit the reward sees them checked.
    reward: str = attrs.field(
        default="objective",
        validator=[one_of(REWARDS, message=UNKNOWN_CHOICE), _mnas_options],
        metadata=text("objective or mnas"),
    )
    constraint_penalty: float = attrs.field(
        default=1.0, validator=number(0), metadata=text("reward lost per unit of constraint violation")
    )
    failure_margin: float = attrs.field(
        default=1.0, validator=number(0), metadata=text("failures score this many spreads below the worst")
    )

    @property
    def elite(self) -> int:
        return _DEFAULT_ELITE_SIZE if self.elite_size is None else int(self.elite_size)


class RLStrategy(Strategy):
    """REINFORCE over a controller, ask/tell.

    Args:
        space: any space; only its ``choices``, ``decode``, ``encode`` and ``key`` are used.
        objectives: the first one is the reward (see ``reward``).
        seed: seeds the controller's initial weights and all sampling.
        batch_size: rewards per controller update, >= 1 (default 5). Smaller learns
            sooner from few trials, larger lowers the variance of each step.
        optimizer: ``"sgd"`` (default) or ``"adam"``.
        lr: learning rate, > 0 (default 0.5 with SGD; 0.01 with Adam: searches run tens
            to hundreds of trials, not the tens of thousands ENAS's 3.5e-4 was tuned
            for, and from about 0.03 Adam often commits to a wrong option before exploring).
        elite_size: how many of the best genotypes told so far the elite term imitates,
            >= 0 (default 5; 0 turns it off).
        elite_weight: weight of the elite term, >= 0 (default 2).
        controller: ``"lstm"`` (default: each decision conditioned on the earlier ones)
            or ``"factorized"`` (an independent softmax per decision: half the overhead
            per trial, and on NAS-Bench-201 94.07 against the LSTM's 94.17).
        hidden_size: LSTM width, >= 1 (default 32).
        embedding_size: width of the decision embeddings, >= 1 (default: ``hidden_size``).
        entropy_weight: weight of the entropy bonus, >= 0 (default 0.01).
        baseline_decay: decay of the moving-average baseline (and of the reward spread
            estimate), in [0, 1) (default 0.9: about the last ten rewards).
        grad_clip: maximum gradient norm, > 0, or ``None`` for no clipping (default 5).
        tanh_constant: logits become ``c * tanh(logits)`` (ENAS: 2.5), > 0, or ``None``
            (default). The cap keeps exploring, but at this strategy's rates Adam pushes
            options into the cap, where two of them can end up tied for good.
        normalize_advantage: divide advantages by the running spread of the reward
            around the baseline (default ``True``).
        reward: ``"objective"`` or ``"mnas"`` (see :mod:`._rl_rewards`).
        latency_target: mnas only, required: the target latency ``T``, > 0.
        latency_weight: mnas only: the exponent ``w`` (default -0.07), finite.
        latency_metric: mnas only: the measurement read as ``LAT`` (default ``latency_ms``).
        constraint_penalty: reward lost per unit of constraint violation, >= 0 (default 1).
        failure_margin: failed trials score this many standard deviations of the rewards
            seen below the worst reward seen, >= 0 (default 1).

    Raises:
        ConfigError: naming the option, for a value of the wrong type or out of range.
    """

    name = _NAME
    Options = RLOptions

    def __new__(cls, space: SearchSpace, objectives: Sequence[Objective], **options: Any) -> Any:
        # For one release, ``weight_sharing=true`` (weight sharing's spelling before the
        # ``enas`` strategy) builds an EnasStrategy; __init__ is then skipped, as the
        # result is not an RLStrategy.
        if "weight_sharing" in options and _weight_sharing(options["weight_sharing"]):
            return _deprecated_enas(space, objectives, options)
        return super().__new__(cls)

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], *, seed: int = 0, **options: Any) -> None:
        options.pop("weight_sharing", None)  # false: __new__ checked it
        _refuse_enas_options(options)
        self.options: RLOptions = structure_options(RLOptions, options, owner=_OWNER)
        super().__init__(space, objectives, seed=seed)
        self.sizes = _decision_sizes(space)
        self.rewards = Rewards(self.options, self.objectives)
        self._learner = ReinforceLearner(self.sizes, self.options, seed)
        self._proposals = Proposals(space, self.rng, self._learner.policy.sample)
        self.first_generation_size = self.options.batch_size
        self._asked = 0
        self._told = 0
        # Told, not yet used for an update: (option indices, reward or None if failed).
        self._buffer: list[tuple[list[int], float | None]] = []
        # The best ``elite_size`` (option indices, reward) told so far, best first.
        self._elite: list[tuple[list[int], float]] = []

    @property
    def history(self) -> list[dict[str, Any]]:
        """One entry per controller update (step, trials, rewards, baseline, entropy, loss, gradient norm)."""
        return self._learner.history

    # -- ask/tell ------------------------------------------------------------------------

    def ask(self, n: int) -> list[Genotype]:
        """``n`` genotypes sampled from the controller, avoiding ones seen or pending."""
        _check_count(n)
        self._asked += n
        return [self._proposals.ask() for _ in range(n)]

    def tell(self, trials: Sequence[Trial]) -> None:
        """Turn finished trials (failed ones included) into rewards; update per full batch."""
        # Within one batch the order the executor finished in should not matter.
        for trial in sorted(trials, key=lambda t: t.number):
            indices = list(self.space.encode(trial.genotype))
            self._proposals.told(indices)
            value = self.rewards(trial)
            if value is not None:
                self.rewards.observe(value)
                self._remember(indices, value)
            self._buffer.append((indices, value))
            self._told += 1
            if len(self._buffer) >= self.options.batch_size:
                batch, self._buffer = self._buffer[: self.options.batch_size], self._buffer[self.options.batch_size :]
                self._update(batch)

    def reward(self, trial: Trial) -> float | None:
        """The trial's reward (larger is better), or ``None`` when it failed (see :mod:`._rl_rewards`)."""
        return self.rewards(trial)

    def _remember(self, indices: list[int], value: float) -> None:
        """Keep ``indices`` among the elite if its reward is among the best ``elite_size`` told."""
        size = self.options.elite
        # Stable: among equal rewards the one told first stays ahead.
        position = sum(1 for _, r in self._elite if r >= value)
        if position < size:
            self._elite.insert(position, (indices, value))
            del self._elite[size:]

    def _update(self, batch: list[tuple[list[int], float | None]]) -> None:
        """One REINFORCE step on a full batch of told trials."""
        if self.rewards.worst is None:
            return  # only failures so far: no reward scale to rank them against
        failed = self.rewards.failure()
        entry = self._learner.update(
            [indices for indices, _ in batch],
            [failed if r is None else r for _, r in batch],
            trials=self._told,
            elite=[indices for indices, _ in self._elite],
            elite_weight=self.options.elite_weight,
        )
        self._proposals.policy_changed()
        # The run report reads reward and entropy per update from the journal's events.
        self.emit("controller", entry["step"], **{k: v for k, v in entry.items() if k != "step"})

    # -- the policy ----------------------------------------------------------------------

    def probabilities(self, genotype: Genotype | None = None) -> list[list[float]]:
        """Per decision, the controller's option probabilities given the earlier decisions.

        Args:
            genotype: the path to condition on; ``None`` follows the most likely option at
                every step (:meth:`greedy`).
        """
        genotype = self.greedy() if genotype is None else genotype
        return self._learner.trainer.probabilities(self.space.encode(genotype))

    def greedy(self) -> Genotype:
        """The genotype made of the most likely option at each step, given the earlier ones."""
        return self.space.decode(self._learner.policy.greedy())

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-compatible state (strict JSON: no NaN/inf) from which to resume exactly."""
        return {
            **super().state_dict(),
            "version": _STATE_VERSION,
            **self._learner.state_dict(),
            **self.rewards.state_dict(),
            **self._proposals.state_dict(),
            "asked": self._asked,
            "told": self._told,
            "buffer": [[indices, r] for indices, r in self._buffer],
            "elite": [[indices, r] for indices, r in self._elite],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned: controller, optimizer, baseline, RNG."""
        if state.get("version") != _STATE_VERSION:
            msg = f"strategy 'rl' cannot read a saved state of version {state.get('version')!r}"
            raise ConfigError(msg)
        if state.get("weight_sharing") is not None:
            msg = "strategy 'rl' was saved with weight sharing; resume it as strategy 'enas'"
            raise ConfigError(msg)
        self._learner.load_state_dict(state, _OWNER)
        super().load_state_dict(state)
        self.rewards.load_state_dict(state)
        self._proposals.load_state_dict(state)
        self._asked = int(state["asked"])
        self._told = int(state["told"])
        self._buffer = [([int(i) for i in indices], None if r is None else float(r)) for indices, r in state["buffer"]]
        self._elite = [([int(i) for i in indices], float(r)) for indices, r in state.get("elite", [])]


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register(_NAME, RLStrategy)


# -- helpers -----------------------------------------------------------------------------


def _decision_sizes(space: SearchSpace) -> tuple[int, ...]:
    sizes = tuple(len(c.options) for c in space.choices())
    if not sizes or min(sizes) < 1:
        msg = (
            f"strategy 'rl' needs a space described as categorical choices, each with at "
            f"least one option; space {space.name!r} has {list(sizes)} options per choice"
        )
        raise ConfigError(msg)
    return sizes


def _check_count(n: Any) -> None:
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 0:
        msg = f"ask(n) needs a non-negative integer, got {n!r}"
        raise ValueError(msg)


def _refuse_enas_options(options: dict[str, Any]) -> None:
    """Options of ``enas`` given to ``rl``: name the strategy they belong to."""
    from .enas import EnasOptions

    own = {field.name for field in attrs.fields(RLOptions)}
    theirs = sorted(k for k in options if k not in own and k in attrs.fields_dict(EnasOptions))
    if theirs:
        msg = (
            f"strategy 'rl': {', '.join(theirs)} only apply to weight sharing, which is strategy 'enas'; "
            f"drop them or use --strategy enas"
        )
        raise ConfigError(msg)


# Options ``rl`` took with weight_sharing=true that never acted there: the controller
# learnt from shared-weight accuracies (no failures, constraints or elite).
_INERT_WITH_SHARING = ("elite_size", "elite_weight", "constraint_penalty", "failure_margin")


def _weight_sharing(enabled: Any) -> bool:
    """The deprecated ``weight_sharing`` option, checked; false is rl's only mode (a warning)."""
    if not isinstance(enabled, bool):
        msg = f"strategy 'rl': weight_sharing must be true or false, got {enabled!r}"
        raise ConfigError(msg)
    if not enabled:
        warnings.warn(
            "strategy 'rl': weight_sharing=false is deprecated and does nothing; drop it",
            DeprecationWarning,
            stacklevel=4,
        )
    return enabled


def _deprecated_enas(space: SearchSpace, objectives: Sequence[Objective], options: dict[str, Any]) -> Any:
    """``rl`` with ``weight_sharing=true``: the ``enas`` strategy, with a deprecation warning."""
    warnings.warn(
        "strategy 'rl' with weight_sharing=true is deprecated; use --strategy enas "
        "(strategy='enas' in Python) with the same options, without weight_sharing",
        DeprecationWarning,
        stacklevel=3,
    )
    options = {k: v for k, v in options.items() if k not in ("weight_sharing", *_INERT_WITH_SHARING)}
    reward = options.pop("reward", "objective")
    if reward != "objective":
        msg = (
            f"strategy 'rl': reward {reward!r} needs measured trials, but with weight_sharing=true "
            f"the controller learns from the shared weights' validation accuracy; use reward 'objective'"
        )
        raise ConfigError(msg)
    from .enas import EnasStrategy

    return EnasStrategy(space, objectives, **options)
