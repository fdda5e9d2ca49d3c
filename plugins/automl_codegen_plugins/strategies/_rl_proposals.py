"""How ``rl`` proposes genotypes of its policy that are neither told nor pending.

Candidates come from batched controller passes (a pass of 32 costs little more than one
sample); unused ones wait for the next ask until the policy changes. A pass that held
nothing new is followed by the next, wider one of :data:`PASSES`; after an update the
search starts one pass narrower than the last one that found something new. Proposals
thus differ from the policy in an accepted, on-policy-approximate way (as in ENAS).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from automl_codegen import FingerprintSet, Genotype, SearchSpace

__all__ = ["PASSES", "Proposals"]

# (samples, temperature) of the controller passes that look for a genotype neither told
# nor pending, widest last. A pass's cost is mostly per call, and a converged controller
# needs many draws to find something new. Past 512 samples at the policy's own
# temperature the logits are divided by 2, 4, 8, 16, which spreads the draws around the
# policy's favourites, so that 64 samples hold new ones; the last pass ignores the policy
# (infinite temperature: uniform). The policy sharpens on whatever it is told, repeats
# included, so a search that accepts repeats too early collapses onto a few
# architectures; after the uniform pass a repeat is accepted, as evolution does (the
# space is then nearly exhausted).
PASSES = ((32, 1.0), (512, 1.0), (64, 2.0), (64, 4.0), (64, 8.0), (64, 16.0), (128, math.inf))
# Fingerprints remembered per option-index tuple (computing one lowers the genotype).
_FINGERPRINT_CACHE = 1 << 16


class Proposals:
    """The told and pending genotypes, and the controller pass being looked through.

    Args:
        space: the space searched (``decode`` and ``key``).
        rng: the strategy's generator, which every pass draws from.
        sample: the current policy's ``sample(uniforms, temperature)``.
    """

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        sample: Callable[[np.ndarray, float], list[list[int]]],
    ) -> None:
        self.space = space
        self.rng = rng
        self.sample = sample
        self.decisions = len(space.choices())
        self.pending: dict[str, int] = {}  # fingerprint -> times asked, not yet told
        self.seen = FingerprintSet()  # fingerprints of told genotypes
        # The current pass: its samples, how many were looked at, whether any was new,
        # which of PASSES it is, and how to draw it again (the RNG state before it), so
        # the state saves four numbers, not 512 samples.
        self.candidates: list[tuple[int, ...]] = []
        self.next = 0
        self.fresh = False
        self.level = 0
        # The pass that last found something new: after an update the search starts one
        # pass narrower than it, not at the first, or a converged controller pays for
        # every pass up to the one it needs after each update.
        self.found_level = 0
        self.draw_rng: dict[str, Any] | None = None
        self._fingerprints: dict[tuple[int, ...], str] = {}

    def ask(self) -> Genotype:
        """A new genotype of the current policy, counted as pending until told."""
        genotype, key = self._propose()
        self.pending[key] = self.pending.get(key, 0) + 1
        return genotype

    def told(self, indices: Sequence[int]) -> None:
        """Note that the genotype with these option indices has been evaluated."""
        key = self.fingerprint(indices)
        left = self.pending.pop(key, 0) - 1
        if left > 0:
            self.pending[key] = left
        self.seen.add(key)

    def policy_changed(self) -> None:
        """Drop the old policy's samples; start one pass narrower than the last that found something new."""
        self.candidates, self.next, self.fresh, self.draw_rng = [], 0, False, None
        self.level = max(0, self.found_level - 1)

    def _propose(self) -> tuple[Genotype, str]:
        while True:
            while self.next < len(self.candidates):
                indices = self.candidates[self.next]
                self.next += 1
                key = self.fingerprint(indices)
                if key not in self.seen and key not in self.pending:
                    self.fresh, self.found_level = True, self.level
                    return self.space.decode(list(indices)), key
            if self.candidates and not self.fresh:
                if self.level == len(PASSES) - 1:
                    # A repeat is better than stalling in a (nearly) exhausted space; the
                    # next ask draws the widest pass again.
                    indices = self.candidates[-1]
                    self.candidates, self.next, self.draw_rng = [], 0, None
                    return self.space.decode(list(indices)), self.fingerprint(indices)
                self.level += 1
            self.draw_rng = self.rng.bit_generator.state
            self.candidates, self.next, self.fresh = self._draw(), 0, False

    def _draw(self) -> list[tuple[int, ...]]:
        """The distinct samples of pass ``level`` in the order drawn, with the RNG as it stands.

        A sure policy draws the same few genotypes hundreds of times in a pass; only the
        first of each can be new, so only it is looked at.
        """
        samples, temperature = PASSES[self.level]
        drawn = self.sample(self.rng.random((samples, self.decisions)), temperature)
        return list(dict.fromkeys(map(tuple, drawn)))

    def fingerprint(self, indices: Sequence[int]) -> str:
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

    def state_dict(self) -> dict[str, Any]:
        return {
            "pending": dict(sorted(self.pending.items())),
            "seen": self.seen.dump(),
            "candidates": self._pass_state(),
        }

    def _pass_state(self) -> dict[str, Any] | list[list[int]]:
        if self.draw_rng is None and self.candidates:
            return [list(indices) for indices in self.candidates[self.next :]]  # loaded from an old state
        return {
            "rng": self.draw_rng,
            "level": self.level,
            "next": self.next,
            "fresh": self.fresh,
            "found": self.found_level,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s keys; the policy must be restored first (the pass is drawn again)."""
        self.pending = {str(k): int(v) for k, v in state["pending"].items()}
        self.seen = FingerprintSet.load(state["seen"])
        saved = state.get("candidates", [])
        if isinstance(saved, list):  # states before the passes were replayed: the samples themselves
            self.candidates = [tuple(int(i) for i in indices) for indices in saved]
            self.next, self.fresh, self.level, self.draw_rng = 0, False, 0, None
            return
        self.level, self.next, self.fresh = int(saved["level"]), int(saved["next"]), bool(saved["fresh"])
        self.found_level = int(saved.get("found", 0))  # not saved before passes were remembered
        self.draw_rng = saved["rng"]
        self.candidates = []
        if self.draw_rng is not None:
            # Draw the pass again from the RNG state it started from, then put the RNG
            # back where it was saved.
            now = self.rng.bit_generator.state
            self.rng.bit_generator.state = self.draw_rng
            self.candidates = self._draw()
            self.rng.bit_generator.state = now
