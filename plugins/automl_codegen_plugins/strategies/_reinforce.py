"""The REINFORCE learner that ``rl`` and ``enas`` share: a controller, its baseline, its record.

The controller (Zoph & Le 2017; the controller shape of ENAS, Pham et al. 2018) emits one
categorical decision at a time over any space described as a sequence of
:class:`~automl_codegen.Choice`; ``controller="factorized"`` swaps the LSTM for one
independent softmax per decision (the NAS-Bench-201 paper's REINFORCE policy). Each
update takes one step on::

    loss = -mean_i(A_i * log π(a_i)) - entropy_weight * mean_i(H_i) - elite_weight * mean_e(log π(e))

where ``A_i`` is the reward minus an exponential-moving-average baseline
(``baseline_decay``; the first batch sets it to its mean), divided by a running estimate
of its spread when ``normalize_advantage`` is on (so one learning rate suits rewards in
[0, 1] and rewards in milliseconds alike), ``H_i`` is the entropy of the trajectory, and
``e`` runs over an elite the strategy keeps (``rl`` only). The gradient norm is clipped to
``grad_clip`` and the ``optimizer`` (plain SGD or Adam) applies it.

This module imports torch only when a learner is built, so listing plugins stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from automl_codegen import ChunkedList, ConfigError
from automl_codegen.options import (
    OptionError,
    PluginOptions,
    boolean,
    finite_number,
    integer,
    one_of,
)

if TYPE_CHECKING:
    from ._rl_controller import ControllerTrainer

__all__ = ["CONTROLLERS", "OPTIMIZERS", "ControllerOptions", "ReinforceLearner", "float_to_json", "number", "text"]

OPTIMIZERS = ("adam", "sgd")  # of the controller (see ControllerTrainer)
CONTROLLERS = ("lstm", "factorized")

# SGD steps in proportion to the advantages; Adam moves every logit by about ``lr`` per
# step whatever its gradient, so it needs a far smaller rate.
_DEFAULT_LR = {"adam": 0.01, "sgd": 0.5}

#: How the strategies word an unknown choice (``unknown optimizer 'rmsprop'; ...``).
UNKNOWN_CHOICE = "{owner}: unknown {name} {value!r}; choose one of {choices}"


def text(help_text: str) -> dict[str, str]:
    """An option's one-line help, as ``attrs.field(metadata=...)``."""
    return {"help": help_text}


def number(
    low: float = -math.inf, high: float = math.inf, *, high_open: bool = False, positive: bool = False, **kwargs: Any
) -> Any:
    """A finite number validator worded as the strategies always worded it ("a finite number > 0").

    Args:
        low / high: the bounds; ``positive`` makes ``low`` (0) open.
        high_open: whether ``high`` is excluded.
        kwargs: :func:`~automl_codegen.options.finite_number`'s (``optional``).
    """
    if high < math.inf:
        expected = f"a finite number in [{low:g}, {high:g}{')' if high_open else ']'}"
    elif low > -math.inf:
        expected = f"a finite number {'>' if positive else '>='} {low:g}"
    else:
        expected = "a finite number"
    return finite_number(low, high, low_open=positive, high_open=high_open, expected=expected, **kwargs)


@attrs.frozen(kw_only=True)
class ControllerOptions(PluginOptions):
    """The controller options of ``rl`` and ``enas``; each subclass sets its own defaults.

    ``lr``, ``hidden_size`` and ``embedding_size`` default to ``None``, resolved by
    :attr:`learning_rate`, :attr:`hidden` and :attr:`embedding`: their defaults depend on
    the optimizer and the strategy.
    """

    batch_size: int = attrs.field(default=5, validator=integer(1), metadata=text("rewards per controller update"))
    optimizer: str = attrs.field(
        default="sgd",
        validator=one_of(OPTIMIZERS, message=UNKNOWN_CHOICE),
        metadata=text("the controller's optimizer: sgd or adam"),
    )
    lr: float | None = attrs.field(
        default=None,
        validator=number(0, positive=True, optional=True),
        metadata=text("learning rate (default 0.5 with sgd, 0.01 with adam)"),
    )
    controller: str = attrs.field(
        default="lstm",
        validator=one_of(CONTROLLERS, message=UNKNOWN_CHOICE),
        metadata=text("lstm or factorized (one independent softmax per decision)"),
    )
    # A controller wider than 4,096 units is a typo: 10^8 ran out of memory after two minutes.
    hidden_size: int | None = attrs.field(
        default=None, validator=integer(1, 4096, optional=True), metadata=text("LSTM width, at most 4096")
    )
    embedding_size: int | None = attrs.field(
        default=None,
        validator=integer(1, 4096, optional=True),
        metadata=text("decision embedding width (hidden_size), at most 4096"),
    )
    entropy_weight: float = attrs.field(default=0.01, validator=number(0), metadata=text("entropy bonus weight"))
    baseline_decay: float = attrs.field(
        default=0.9, validator=number(0, 1, high_open=True), metadata=text("decay of the moving-average baseline")
    )
    grad_clip: float | None = attrs.field(
        default=5.0,
        validator=number(0, positive=True, optional=True),
        metadata=text("maximum gradient norm of the controller, or None"),
    )
    tanh_constant: float | None = attrs.field(
        default=None, validator=number(0, positive=True, optional=True), metadata=text("logits become c*tanh(logits)")
    )
    normalize_advantage: bool = attrs.field(
        default=True, validator=boolean(), metadata=text("divide advantages by the reward's running spread")
    )

    #: The LSTM width when ``hidden_size`` is not given.
    default_hidden_size: ClassVar[int] = 32

    def __attrs_post_init__(self) -> None:
        if self.controller == "factorized":
            for name in ("hidden_size", "embedding_size"):
                if getattr(self, name):
                    template = "{owner}: {name} only applies to controller='lstm'; the factorized policy has no LSTM"
                    raise OptionError(template, owner=type(self).__name__, name=name)

    @property
    def learning_rate(self) -> float:
        return _DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    @property
    def hidden(self) -> int:
        """The LSTM width; 0 for the factorized policy."""
        if self.controller == "factorized":
            return 0
        return self.default_hidden_size if self.hidden_size is None else int(self.hidden_size)

    @property
    def embedding(self) -> int:
        if self.controller == "factorized":
            return 0
        return self.hidden if self.embedding_size is None else int(self.embedding_size)


class ReinforceLearner:
    """A controller with its REINFORCE baseline, reward spread and per-update history.

    Args:
        sizes: the number of options of each decision.
        options: the controller options.
        seed: seeds the controller's initial weights (a private generator).
    """

    def __init__(self, sizes: Sequence[int], options: ControllerOptions, seed: int) -> None:
        from ._rl_controller import build_trainer

        self.sizes = tuple(sizes)
        self.options = options
        self.trainer: ControllerTrainer = build_trainer(self.sizes, options, seed)
        self.baseline: float | None = None
        self.reward_var: float | None = None  # EMA of (reward - baseline) ** 2
        #: One entry per update: step, trials, reward mean and max, baseline, entropy, loss, gradient norm.
        self.history: list[dict[str, Any]] = []
        # The same entries in their JSON form, saved in chunks: the state is saved per trial.
        self._history_json: list[dict[str, Any]] = []
        self._history_log = ChunkedList()
        # The encoded controller, kept until the next update: the engine saves the state
        # after every trial, but the controller changes once per batch.
        self._encoded: dict[str, Any] | None = None

    @property
    def policy(self) -> Any:
        """The controller: ``sample``, ``greedy``, ``probabilities`` of the current policy."""
        return self.trainer.controller

    def update(
        self,
        batch: Sequence[Sequence[int]],
        rewards: Sequence[float],
        *,
        trials: int,
        elite: Sequence[Sequence[int]] = (),
        elite_weight: float = 0.0,
    ) -> dict[str, Any]:
        """One REINFORCE step on ``batch`` (option indices) and its ``rewards``.

        Args:
            trials: how many rewards the strategy has been told, for the history.
            elite / elite_weight: the decisions the elite term imitates, and its weight.

        Returns:
            The history entry in JSON form (non-finite numbers as strings), for the
            ``controller`` event.
        """
        decay = self.options.baseline_decay
        if self.baseline is None:
            self.baseline = sum(rewards) / len(rewards)
            advantages = [r - self.baseline for r in rewards]
            self.reward_var = sum(a * a for a in advantages) / len(advantages)
        else:
            # Every reward of a batch is judged against the same, earlier baseline.
            advantages = [r - self.baseline for r in rewards]
            for r, a in zip(rewards, advantages, strict=True):
                self.baseline = decay * self.baseline + (1 - decay) * r
                self.reward_var = decay * self.reward_var + (1 - decay) * a * a
        if self.options.normalize_advantage and self.reward_var > 0:
            scale = math.sqrt(self.reward_var)
            advantages = [a / scale for a in advantages]
        stats = self.trainer.update(
            batch, advantages, self.options.entropy_weight, elite=elite, elite_weight=elite_weight
        )
        self._encoded = None
        entry = {
            "step": len(self.history),
            "trials": trials,
            "reward_mean": sum(rewards) / len(rewards),
            "reward_max": max(rewards),
            "baseline": self.baseline,
            **stats,
        }
        self.history.append(entry)
        self._history_json.append({k: float_to_json(v) for k, v in entry.items()})
        return self._history_json[-1]

    # -- state ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What must match for a saved controller to be loadable."""
        return {
            "sizes": list(self.sizes),
            "controller": self.options.controller,
            "hidden_size": self.options.hidden,
            "embedding_size": self.options.embedding,
            "optimizer": self.options.optimizer,
        }

    def state_dict(self) -> dict[str, Any]:
        """Keys of the strategy's state: the controller (weights, Adam moments), baseline, history."""
        if self._encoded is None:
            self._encoded = self.trainer.state_dict()
        return {
            "controller_config": self.config(),
            "controller": self._encoded,
            "baseline": self.baseline,
            "reward_var": self.reward_var,
            "history": self._history_log.dump(self._history_json),
        }

    def load_state_dict(self, state: dict[str, Any], owner: str) -> None:
        """Restore what :meth:`state_dict` saved; ``owner`` names the strategy in errors."""
        saved_config = state.get("controller_config")
        if isinstance(saved_config, dict):
            # Saved before these options existed: what they meant then.
            saved_config = {"optimizer": "adam", "controller": "lstm", **saved_config}
        config = self.config()
        if saved_config != config:
            if isinstance(saved_config, dict):  # name only the settings that differ
                differ = [k for k in {**config, **saved_config} if saved_config.get(k) != config.get(k)]
                saved_config = {k: saved_config.get(k) for k in differ}
                config = {k: config.get(k) for k in differ}
            msg = (
                f"{owner} was saved with controller {saved_config} but is "
                f"configured for {config}; resume with the same space and options"
            )
            raise ConfigError(msg)
        self.trainer.load_state_dict(state["controller"])
        self._encoded = None
        self.baseline = optional_float(state["baseline"])
        self.reward_var = optional_float(state["reward_var"])
        self._history_json = ChunkedList.load(state["history"])
        self.history = [
            {k: v if k in ("step", "trials") else float(v) for k, v in entry.items()} for entry in self._history_json
        ]


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def float_to_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "-inf", "nan": strict JSON
    return value
