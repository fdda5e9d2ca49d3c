"""The LSTM controller of the ``rl`` strategy and its REINFORCE update (imports torch).

Kept apart from :mod:`automl_codegen_plugins.strategies.rl` so that listing plugins never
imports torch: the strategy imports this module when it is constructed.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Controller", "ControllerTrainer"]

# ENAS initialises every controller weight uniformly in [-0.1, 0.1]: the first policy is
# close to uniform, so the first batches explore like random search.
_INIT_RANGE = 0.1


class Controller(nn.Module):
    """An autoregressive policy over a fixed sequence of categorical decisions.

    Step ``i`` feeds the embedding of decision ``i - 1`` (a learned start vector for the
    first) to an LSTM cell and turns the hidden state into logits over the options of
    decision ``i`` with a head of its own.

    Args:
        sizes: the number of options of each decision, in order.
        hidden_size: width of the LSTM cell.
        embedding_size: width of the decision embeddings fed to the cell.
        tanh_constant: when set, logits are ``c * tanh(logits)`` (ENAS), which bounds how
            sure the policy can become and so keeps some exploration; ``None`` leaves
            them as they are.
        seed: seeds the weight initialisation (a private generator: the global torch RNG
            is not advanced).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        hidden_size: int,
        embedding_size: int,
        tanh_constant: float | None,
        seed: int,
    ) -> None:
        super().__init__()
        self.sizes = tuple(int(n) for n in sizes)
        self.tanh_constant = tanh_constant
        # The layers' default initialisation draws from the global torch RNG; fork_rng
        # restores it afterwards, and every weight is re-drawn from our generator below.
        with torch.random.fork_rng(devices=[]):
            self.start = nn.Parameter(torch.empty(embedding_size))
            self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_size) for n in self.sizes)
            self.cell = nn.LSTMCell(embedding_size, hidden_size)
            self.heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.sizes)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -_INIT_RANGE, _INIT_RANGE, generator=generator)

    def _log_probs(self, hidden: torch.Tensor, step: int) -> torch.Tensor:
        logits = self.heads[step](hidden)
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return torch.log_softmax(logits, dim=-1)

    def evaluate(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Score given decisions (teacher forcing), differentiably.

        Args:
            indices: ``(batch, decisions)`` option indices.

        Returns:
            The log-probability of each row, the entropy of each row's trajectory (the
            sum over decisions of the entropy of the distribution the policy drew that
            decision from), and per decision the ``(batch, options)`` probabilities.
        """
        batch = indices.shape[0]
        inputs = self.start.expand(batch, -1)
        state = None
        log_prob = torch.zeros(batch)
        entropy = torch.zeros(batch)
        probabilities = []
        for step in range(len(self.sizes)):
            state = self.cell(inputs, state)
            log_p = self._log_probs(state[0], step)
            p = log_p.exp()
            log_prob = log_prob + log_p.gather(1, indices[:, step : step + 1]).squeeze(1)
            entropy = entropy - (p * log_p).sum(dim=1)
            probabilities.append(p)
            inputs = self.embeddings[step](indices[:, step])
        return log_prob, entropy, probabilities

    @torch.no_grad()
    def sample(self, uniforms: np.ndarray) -> list[list[int]]:
        """Draw several genotypes' option indices at once, autoregressively.

        Args:
            uniforms: ``(samples, decisions)`` numbers in [0, 1) from the caller's seeded
                RNG; decision ``i`` of sample ``k`` takes the option where
                ``uniforms[k, i]`` falls in the cumulative distribution.
        """

        def inverse_cdf(step: int, p: np.ndarray) -> np.ndarray:
            cumulative = np.cumsum(p, axis=1)
            # Scaling by the total absorbs rounding in the float32 softmax; the clamp
            # guards the last bin against u * total landing exactly on its edge.
            u = uniforms[:, step : step + 1] * cumulative[:, -1:]
            return np.minimum((cumulative <= u).sum(axis=1), p.shape[1] - 1)

        return self._rollout(len(uniforms), inverse_cdf)

    @torch.no_grad()
    def greedy(self) -> list[int]:
        """The most likely option at each step, given the earlier (greedy) ones."""
        return self._rollout(1, lambda _, p: p.argmax(axis=1))[0]

    def _rollout(self, count: int, choose: Callable[[int, np.ndarray], np.ndarray]) -> list[list[int]]:
        with one_thread():
            inputs = self.start.expand(count, -1)
            state = None
            chosen = []
            for step in range(len(self.sizes)):
                state = self.cell(inputs, state)
                p = self._log_probs(state[0], step).exp().double().numpy()
                index = torch.from_numpy(np.asarray(choose(step, p), dtype=np.int64))
                chosen.append(index)
                inputs = self.embeddings[step](index)
        return torch.stack(chosen, dim=1).tolist()


class ControllerTrainer:
    """A controller with its optimizer: REINFORCE updates and exact (de)serialisation.

    Args:
        optimizer: ``"adam"`` (per-parameter steps of about ``lr`` whatever the gradient's
            size) or ``"sgd"`` (plain steps of ``lr`` times the gradient, no momentum: no
            state to keep, and a step as large as the advantages say).
    """

    def __init__(self, controller: Controller, *, lr: float, grad_clip: float | None, optimizer: str = "adam") -> None:
        self.controller = controller
        self.grad_clip = grad_clip
        if optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(controller.parameters(), lr=lr)
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(controller.parameters(), lr=lr)
        else:
            msg = f"unknown controller optimizer {optimizer!r}; choose adam or sgd"
            raise ValueError(msg)

    def update(
        self,
        batch: Sequence[Sequence[int]],
        advantages: Sequence[float],
        entropy_weight: float,
        elite: Sequence[Sequence[int]] = (),
        elite_weight: float = 0.0,
    ) -> dict[str, float]:
        """One gradient step on ``-mean(A * log π(a)) - entropy_weight * mean(H) - elite_weight * mean(log π(e))``.

        The last term, over the ``elite`` decisions (the best seen so far), is priority
        queue training (Abolafia et al. 2018): it pulls the policy towards what already
        worked, which REINFORCE alone learns slowly from few rewards.

        Returns:
            ``loss``, ``entropy`` (mean trajectory entropy before the step) and
            ``grad_norm`` (before clipping), as floats.
        """
        elite = list(elite) if elite_weight else []
        # One pass scores the batch and the elite together (the controller's cost is per
        # call, not per row).
        indices = torch.tensor([list(row) for row in [*batch, *elite]], dtype=torch.long)
        weights = torch.tensor(list(advantages), dtype=torch.float32)
        with one_thread():
            log_probs, entropies, _ = self.controller.evaluate(indices)
            log_prob, entropy = log_probs[: len(batch)], entropies[: len(batch)]
            loss = -(weights * log_prob).mean() - entropy_weight * entropy.mean()
            if elite:
                loss = loss - elite_weight * log_probs[len(batch) :].mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            parameters = list(self.controller.parameters())
            max_norm = math.inf if self.grad_clip is None else self.grad_clip
            grad_norm = float(nn.utils.clip_grad_norm_(parameters, max_norm))
            if math.isfinite(grad_norm):  # a non-finite gradient would poison Adam's moments
                self.optimizer.step()
        return {"loss": loss.item(), "entropy": entropy.mean().item(), "grad_norm": grad_norm}

    @torch.no_grad()
    def probabilities(self, indices: Sequence[int]) -> list[list[float]]:
        """Per decision, the option probabilities given the earlier decisions of ``indices``."""
        with one_thread():
            _, _, probabilities = self.controller.evaluate(torch.tensor([list(indices)], dtype=torch.long))
        return [[float(x) for x in p[0]] for p in probabilities]

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Weights and Adam moments as base64 of the raw little-endian tensor bytes.

        Exact (bit for bit) and strict JSON; nested lists of floats would also be exact
        but about four times larger, and the state is written after every tell. Plain
        SGD keeps no state: its ``adam`` entries are all ``None``.
        """
        optimizer_state = self.optimizer.state_dict()["state"]
        moments = []
        for index in range(len(list(self.controller.parameters()))):
            slot = optimizer_state.get(index)
            if slot is None:  # before the first step Adam keeps nothing for a parameter
                moments.append(None)
                continue
            moments.append(
                {
                    "step": float(slot["step"]),
                    "exp_avg": _tensor_to_json(slot["exp_avg"]),
                    "exp_avg_sq": _tensor_to_json(slot["exp_avg_sq"]),
                }
            )
        return {
            "weights": {name: _tensor_to_json(t) for name, t in self.controller.state_dict().items()},
            "adam": moments,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict({name: _tensor_from_json(t) for name, t in state["weights"].items()})
        optimizer_state = self.optimizer.state_dict()
        optimizer_state["state"] = {
            index: {
                "step": torch.tensor(float(slot["step"])),
                "exp_avg": _tensor_from_json(slot["exp_avg"]),
                "exp_avg_sq": _tensor_from_json(slot["exp_avg_sq"]),
            }
            for index, slot in enumerate(state["adam"])
            if slot is not None
        }
        self.optimizer.load_state_dict(optimizer_state)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the controller's tiny ops on one thread, then restore the thread count.

    Spreading a 64-wide LSTM step over several threads only costs synchronisation (on a
    busy 2-core machine a step took 16 ms instead of 50 µs), and one thread also makes
    the controller's arithmetic independent of the machine's thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _tensor_to_json(tensor: torch.Tensor) -> dict[str, Any]:
    array = tensor.detach().cpu().contiguous().numpy().astype("<f4")
    return {"shape": list(array.shape), "float32": base64.b64encode(array.tobytes()).decode("ascii")}


def _tensor_from_json(data: dict[str, Any]) -> torch.Tensor:
    array = np.frombuffer(base64.b64decode(data["float32"]), dtype="<f4").reshape(data["shape"])
    return torch.from_numpy(array.astype(np.float32))  # astype copies: frombuffer is read-only
