"""The random search strategy, written against the core's public API only."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import attrs
import numpy as np

from automl_codegen import ConfigError, Genotype, Objective, SearchSpace, Strategy, Trial
from automl_codegen.options import PluginOptions, integer, structure_options

__all__ = ["DEFAULT_MAX_TRIES", "RandomOptions", "RandomSearch"]

#: Draws per proposal before a repeat is accepted: enough to step around what was already
#: proposed until the space is nearly used up, bounded so a small space cannot stall a run.
DEFAULT_MAX_TRIES = 32

_STATE_VERSION = 1


@attrs.frozen(kw_only=True)
class RandomOptions(PluginOptions):
    """The options of :class:`RandomSearch`, checked (see its docstring)."""

    unknown_message = "{owner} has no option(s) {unknown}; its options: {names}"

    max_tries: int = attrs.field(
        default=DEFAULT_MAX_TRIES,
        validator=integer(1),
        metadata={"help": "draws per proposal before a repeat is accepted, >= 1"},
    )


class RandomSearch(Strategy):
    """Uniform random search: every genotype is ``space.sample(rng)``; results are ignored.

    It never proposes a genotype twice while the space has unproposed ones left it can
    find in ``max_tries`` draws, so with ``n`` trials it evaluates ``n`` different
    architectures (the baseline that NAS papers compare against). The only randomness
    is the strategy's own ``self.rng``, seeded from ``seed``: the same seed and space
    give the same genotypes, in the same order.

    Args:
        space: any search space; only ``sample``, ``key`` and ``size`` are used.
        objectives: the run's objectives (random search does not look at them).
        seed: seeds the draws, a non-negative integer.
        max_tries: draws per proposal before a genotype that was already proposed is
            accepted anyway, an integer >= 1 (default 32).

    Raises:
        ConfigError: an unknown option, or ``max_tries`` of the wrong type or range; the
            message names the option.
    """

    name = "random"

    Options = RandomOptions

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], *, seed: int = 0, **options: Any) -> None:
        # Options first: an unknown name is reported before anything else, as it always was.
        self.options = structure_options(self.Options, options, owner=f"strategy {self.name!r}")
        super().__init__(space, objectives, seed=seed)
        self.max_tries = int(self.options.max_tries)
        self._size: int | None = None  # the space's size, asked for once when first needed
        self._asked = 0
        self._told = 0
        self._proposed: set[str] = set()  # space.key of every genotype proposed
        self._pending: dict[str, None] = {}  # keys asked but not told yet, in ask order
        self._requeue: list[Genotype] = []  # asked before a resume, never told: ask again

    # -- ask/tell ------------------------------------------------------------------------

    def ask(self, n: int) -> list[Genotype]:
        """``n`` genotypes drawn uniformly, none proposed before while that can be avoided."""
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 0:
            msg = f"ask(n) needs a non-negative integer, got {n!r}"
            raise ValueError(msg)
        genotypes = []
        for _ in range(n):
            if self._requeue:
                genotype = self._requeue.pop(0)
                key = self.space.key(genotype)
            else:
                genotype, key = self._propose()
                self._asked += 1
            self._pending[key] = None
            genotypes.append(genotype)
        return genotypes

    def tell(self, trials: Sequence[Trial]) -> None:
        """Note that these trials finished; random search learns nothing from them."""
        for trial in trials:
            self._pending.pop(self.space.key(trial.genotype), None)
            self._told += 1

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Strict-JSON state whose size does not grow with the run.

        The engine writes this after every trial. Rather than every key proposed so far,
        it holds how many proposals were made; :meth:`load_state_dict` replays that many
        seeded draws to rebuild them. The RNG state is kept to check the replay.
        """
        state = super().state_dict()
        state.update(version=_STATE_VERSION, asked=self._asked, told=self._told, pending=list(self._pending))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state; asks then continue exactly as before the stop.

        Genotypes that were asked but never told (trials that were running when the
        process died, which the engine runs again) are proposed first.

        Raises:
            ConfigError: the state is of another version, or was saved by a search with
                another seed, space or ``max_tries`` (the replay does not arrive at the
                saved RNG state).
        """
        if state.get("version") != _STATE_VERSION:
            msg = f"strategy 'random' cannot read a saved state of version {state.get('version')!r}"
            raise ConfigError(msg)
        asked, pending = int(state["asked"]), set(state["pending"])
        self.rng = np.random.default_rng(self.seed)
        self._proposed, self._pending, self._requeue = set(), {}, []
        for _ in range(asked):
            genotype, key = self._propose()
            if key in pending:
                self._requeue.append(genotype)
        if self.rng.bit_generator.state != state["rng"]:
            msg = (
                "strategy 'random' cannot continue this run: replaying its draws does not reproduce "
                "the saved state; resume with the seed, search space and options of the original run"
            )
            raise ConfigError(msg)
        self._asked, self._told = asked, int(state["told"])

    # -- drawing -------------------------------------------------------------------------

    def _propose(self) -> tuple[Genotype, str]:
        """A new draw and its key (a repeat only after ``max_tries`` draws, or in a used-up space)."""
        exhausted = len(self._proposed) >= self._space_size()
        for _ in range(1 if exhausted else self.max_tries):
            genotype = self.space.sample(self.rng)
            key = self.space.key(genotype)
            if key not in self._proposed:
                break
        # After max_tries repeats, a repeat is better than stalling a (nearly) used-up space.
        self._proposed.add(key)
        return genotype, key

    def _space_size(self) -> int:
        if self._size is None:
            self._size = self.space.size()
        return self._size
