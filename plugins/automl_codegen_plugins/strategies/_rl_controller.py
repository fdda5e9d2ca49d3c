"""The controller of ``rl`` and ``enas`` (LSTM or factorized policy) and its REINFORCE step (imports torch).

Kept apart from the strategy modules so that listing plugins never imports torch:
:class:`~._reinforce.ReinforceLearner` imports this module when a strategy is constructed.
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

__all__ = ["Controller", "ControllerTrainer", "FactorizedPolicy", "build_trainer"]

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
        _register_option_layout(self)
        self._parameter_list: list[tuple[str, nn.Parameter]] | None = None
        self._array_cache: tuple[tuple[int, ...], dict[str, np.ndarray]] | None = None
        self._gradient_cache: tuple[tuple[int, ...], dict[str, np.ndarray]] | None = None

    def _log_probs(self, hidden: torch.Tensor, step: int) -> torch.Tensor:
        logits = self.heads[step](hidden)
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return torch.log_softmax(logits, dim=-1)

    def evaluate(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Score given decisions (teacher forcing), differentiably.

        Args:
            indices: ``(batch, decisions)`` option indices.

        Returns:
            The log-probability of each row, the entropy of each row's trajectory (the
            sum over decisions of the entropy of the distribution the policy drew that
            decision from), and the probabilities as ``(decisions, batch, options of
            all decisions)``, 0 outside each decision's own options (:meth:`split`
            cuts them per decision).
        """
        # Only the LSTM runs step by step. The heads, softmaxes and sums run once over all
        # decisions (each decision's softmax confined to its own columns by a -inf mask):
        # on these tiny tensors the cost is per torch call, and the update went from about
        # 72 calls forward to 20.
        inputs = self.start.expand(indices.shape[0], -1)
        state = None
        hidden = []
        for step in range(len(self.sizes)):
            state = self.cell(inputs, state)
            hidden.append(state[0])
            if step + 1 < len(self.sizes):
                inputs = self.embeddings[step](indices[:, step])
        weight = torch.cat([head.weight for head in self.heads])
        bias = torch.cat([head.bias for head in self.heads])
        logits = torch.stack(hidden) @ weight.T + bias  # (decisions, batch, all options)
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        log_p = torch.log_softmax(logits.masked_fill(self._foreign.unsqueeze(1), -math.inf), dim=-1)
        p = log_p.exp()  # 0 in other decisions' columns
        columns = (indices + self._offsets).T.unsqueeze(-1)  # (decisions, batch, 1)
        log_prob = log_p.gather(-1, columns).squeeze(-1).sum(0)
        entropy = -(p * log_p.masked_fill(self._foreign.unsqueeze(1), 0.0)).sum(dim=(0, 2))
        return log_prob, entropy, p

    def split(self, probabilities: torch.Tensor) -> list[torch.Tensor]:
        """``evaluate``'s ``(decisions, batch, all options)`` probabilities per decision."""
        return _split_options(self, probabilities)

    def _named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        # Walking the module tree costs more than an update's arithmetic; the parameters
        # never change identity (load_state_dict and optimizers update them in place).
        if self._parameter_list is None:
            self._parameter_list = list(self.named_parameters())
        return self._parameter_list

    def gradients(
        self, indices: np.ndarray, log_prob_weights: np.ndarray, entropy_weights: np.ndarray
    ) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
        """``L = sum_r a_r log π(row r) + e_r H(row r)``, its per-row entropies and gradients.

        The same function as :meth:`evaluate` scores, differentiated by hand in float32
        numpy, torch's precision (a test checks it against autograd). On arrays of a few
        hundred numbers the cost is per call, not per number, so only the recurrence runs
        step by step (about ten calls forward and eight back); the input projections, the
        heads, softmaxes and every weight gradient are one call each over all decisions.
        Kept by hand because autograd through :meth:`evaluate` costs about 2.2 ms an update
        against 0.55 here: on NAS-Bench-201 (CIFAR-10, 100 queries, 50 seeds) it chose the
        same architectures on every seed but raised rl's overhead from 1.33-1.45 to
        1.77-1.83 ms a query, with evolution at 0.67-0.72 in the same runs.

        Args:
            indices: ``(rows, decisions)`` option indices.
            log_prob_weights / entropy_weights: ``a_r`` and ``e_r``, one per row.

        Returns:
            ``L``, the entropy of each row's trajectory, and the gradient of ``L`` per
            parameter name (as in ``named_parameters``).
        """
        w = self._gradient_arrays()
        steps, (rows, n) = len(self.sizes), (indices.shape[0], w["w_hh"].shape[1])
        f32 = np.float32  # every array stays float32 (float64 numbers would upcast them)
        a, e = log_prob_weights.astype(f32), entropy_weights.astype(f32)
        # Inputs (steps, rows, embedding): the start vector, then the previous decision's
        # embedding (teacher forcing), gathered from all embedding tables at once.
        x = np.empty((steps, rows, w["start"].size), f32)
        x[0] = w["start"]
        x[1:] = w["embeddings"][(indices[:, :-1] + w["embedding_offsets"]).T]
        projected = x @ w["w_ih"].T + w["bias"]
        hs, cs = np.zeros((steps + 1, rows, n), f32), np.zeros((steps + 1, rows, n), f32)  # [s]: before step s
        squashed = np.empty((steps, rows, 4 * n), f32)  # tanh of the gates' inputs: sigmoid(z) = (1 + tanh(z/2)) / 2
        for step in range(steps):
            squashed[step] = np.tanh((projected[step] + hs[step] @ w["w_hh"].T) * w["gate_scale"])
            gate = 0.5 + 0.5 * squashed[step]  # i, f, _, o are sigmoids; g is squashed itself
            cs[step + 1] = gate[:, n : 2 * n] * cs[step] + gate[:, :n] * squashed[step, :, 2 * n : 3 * n]
            hs[step + 1] = gate[:, 3 * n :] * np.tanh(cs[step + 1])

        # Heads over the options of all decisions; each decision's softmax masked to its own.
        logits = hs[1:] @ w["heads"].T + w["head_bias"]  # (steps, rows, all options)
        capped = None
        if self.tanh_constant is not None:
            capped = np.tanh(logits)
            logits = self.tanh_constant * capped
        foreign = w["foreign"][:, None, :]
        logits = np.where(foreign, -np.inf, logits)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        p = np.exp(log_p)
        log_p = np.where(foreign, 0.0, log_p)
        step_entropy = -(p * log_p).sum(axis=-1)  # (steps, rows)
        step_index, row_index = np.indices((steps, rows))
        columns = indices.T + w["option_offsets"][:, None]
        log_prob = log_p[step_index, row_index, columns].sum(axis=0)
        entropy = step_entropy.sum(axis=0)
        loss = float(a @ log_prob + e @ entropy)

        # d log p(chosen) / d logits = onehot - p; d H / d logits = -p (log p + H).
        d_logits = -a[:, None] * p - e[:, None] * p * (log_p + step_entropy[..., None])
        d_logits[step_index, row_index, columns] += a
        if capped is not None:
            d_logits *= self.tanh_constant * (1.0 - capped * capped)
        d_hs = d_logits @ w["heads"]  # what the heads pass back to each step's hidden state

        gate = 0.5 + 0.5 * squashed
        i, f, g, o = (gate[..., :n], gate[..., n : 2 * n], squashed[..., 2 * n : 3 * n], gate[..., 3 * n :])
        tanh_c = np.tanh(cs[1:])
        to_cell = o * (1.0 - tanh_c * tanh_c)  # d c / d h, through h = o tanh(c)
        # d z for gates i, f, g per unit of d c, and for gate o per unit of d h.
        per_cell = np.stack([g * i * (1.0 - i), cs[:-1] * f * (1.0 - f), i * (1.0 - g * g)], axis=2)
        per_hidden = tanh_c * o * (1.0 - o)
        d_z = np.empty((steps, rows, 4 * n), f32)
        d_h, d_c = np.zeros((rows, n), f32), np.zeros((rows, n), f32)
        for step in reversed(range(steps)):
            d_h = d_h + d_hs[step]
            d_c = d_c + d_h * to_cell[step]
            d_z[step, :, : 3 * n] = (d_c[:, None, :] * per_cell[step]).reshape(rows, 3 * n)
            d_z[step, :, 3 * n :] = d_h * per_hidden[step]
            d_h, d_c = d_z[step] @ w["w_hh"], d_c * f[step]

        flat_z = d_z.reshape(-1, 4 * n)
        d_x = d_z @ w["w_ih"]
        d_embeddings = np.zeros_like(w["embeddings"])
        np.add.at(d_embeddings, (indices[:, :-1] + w["embedding_offsets"]).T, d_x[1:])
        d_bias = flat_z.sum(axis=0)
        grads = {
            "start": d_x[0].sum(axis=0),
            "cell.weight_ih": flat_z.T @ x.reshape(-1, x.shape[2]),
            "cell.weight_hh": flat_z.T @ hs[:-1].reshape(-1, n),
            "cell.bias_ih": d_bias,
            "cell.bias_hh": d_bias.copy(),
        }
        d_heads = d_logits.reshape(-1, d_logits.shape[2]).T @ hs[1:].reshape(-1, n)
        d_head_bias = d_logits.sum(axis=(0, 1))
        for step, (offset, size) in enumerate(zip(w["option_offsets"].tolist(), self.sizes, strict=True)):
            grads[f"heads.{step}.weight"] = d_heads[offset : offset + size]
            grads[f"heads.{step}.bias"] = d_head_bias[offset : offset + size]
            grads[f"embeddings.{step}.weight"] = d_embeddings[offset : offset + size]
        return loss, entropy, grads

    def _gradient_arrays(self) -> dict[str, np.ndarray]:
        """The weights laid out for :meth:`gradients`; rebuilt when one changes."""
        versions = self._versions()
        if self._gradient_cache is None or self._gradient_cache[0] != versions:
            named = self._named_parameters()
            with torch.no_grad():  # one copy of all weights, then views
                flat = torch.cat([p.reshape(-1) for _, p in named]).numpy()
            ends = np.cumsum([p.numel() for _, p in named])
            t = {name: flat[end - p.numel() : end].reshape(p.shape) for (name, p), end in zip(named, ends, strict=True)}
            steps, hidden = len(self.sizes), t["cell.weight_hh"].shape[1]
            offsets = np.array([0, *np.cumsum(self.sizes)[:-1]], dtype=np.int64)
            arrays = {
                "start": t["start"],
                "w_ih": t["cell.weight_ih"],
                "w_hh": t["cell.weight_hh"],
                "bias": t["cell.bias_ih"] + t["cell.bias_hh"],
                # Every embedding table stacked (the last decision's is never fed, but kept
                # so that the offsets are the heads' too).
                "embeddings": np.concatenate([t[f"embeddings.{s}.weight"] for s in range(steps)]),
                "heads": np.concatenate([t[f"heads.{s}.weight"] for s in range(steps)]),
                "head_bias": np.concatenate([t[f"heads.{s}.bias"] for s in range(steps)]),
                "option_offsets": offsets,
                "embedding_offsets": offsets[:-1],
                "foreign": self._foreign.numpy(),
                "gate_scale": np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=np.float32), hidden),
            }
            self._gradient_cache = (versions, arrays)
        return self._gradient_cache[1]

    def _versions(self) -> tuple[int, ...]:
        # Every in-place change of a parameter (an optimizer step, load_state_dict, an edit
        # under torch.no_grad()) bumps its version counter, so a cached copy cannot go stale.
        return tuple(p._version for _, p in self._named_parameters())

    @torch.no_grad()
    def sample(self, uniforms: np.ndarray, temperature: float = 1.0) -> list[list[int]]:
        """Draw several genotypes' option indices at once, autoregressively.

        Args:
            uniforms: ``(samples, decisions)`` numbers in [0, 1) from the caller's seeded
                RNG; decision ``i`` of sample ``k`` takes the option where
                ``uniforms[k, i]`` falls in the cumulative distribution.
            temperature: the logits are divided by it; above 1 the draws spread out
                from the policy's favourites towards uniform.
        """

        def inverse_cdf(step: int, p: np.ndarray) -> np.ndarray:
            cumulative = np.cumsum(p, axis=1)
            # p is unnormalised: u is scaled by the row's total. The clamp guards the
            # last bin against u * total landing exactly on its edge.
            u = uniforms[:, step : step + 1] * cumulative[:, -1:]
            return np.minimum((cumulative <= u).sum(axis=1), p.shape[1] - 1)

        return self._rollout(len(uniforms), inverse_cdf, temperature)

    @torch.no_grad()
    def greedy(self) -> list[int]:
        """The most likely option at each step, given the earlier (greedy) ones."""
        return self._rollout(1, lambda _, p: p.argmax(axis=1))[0]

    def _rollout(
        self, count: int, choose: Callable[[int, np.ndarray], np.ndarray], temperature: float = 1.0
    ) -> list[list[int]]:
        # The arithmetic of ``evaluate`` in numpy on the float32 weights: on these tiny
        # arrays a call costs more than its work, and this runs on every pass of asks, so
        # each step is as few calls as it can be (``_arrays`` holds what can be prepared).
        w = self._arrays()
        n = w["w_hh"].shape[0]
        z = np.broadcast_to(w["start_gates"], (count, 4 * n))
        cell = np.zeros((count, n), dtype=np.float32)
        chosen = []
        for step in range(len(self.sizes)):
            squashed = np.tanh(z * w["gate_scale"])  # sigmoid(z) = (1 + tanh(z / 2)) / 2
            gate = 0.5 + 0.5 * squashed
            cell = gate[:, n : 2 * n] * cell + gate[:, :n] * squashed[:, 2 * n : 3 * n]
            hidden = gate[:, 3 * n :] * np.tanh(cell)
            logits = (hidden @ w[f"head{step}"] + w[f"head{step}_bias"]).astype(np.float64)
            if self.tanh_constant is not None:
                logits = self.tanh_constant * np.tanh(logits)
            if temperature != 1.0:
                logits /= temperature
            # Unnormalised: both choices (inverse CDF, argmax) only compare within a row.
            index = np.asarray(choose(step, np.exp(logits - logits.max(axis=1, keepdims=True))), dtype=np.int64)
            chosen.append(index)
            if step + 1 < len(self.sizes):
                z = w[f"gates{step}"][index] + hidden @ w["w_hh"]
        return np.stack(chosen, axis=1).tolist()

    def _arrays(self) -> dict[str, np.ndarray]:
        """The float32 weights laid out for :meth:`_rollout`, rebuilt when one changes.

        ``gates{s}`` is what option ``k`` of decision ``s``, fed as the next input, adds
        to the gates' pre-activations (its embedding times the input weights, plus both
        biases): a row lookup instead of two products and two sums per step.
        """
        versions = self._versions()
        if self._array_cache is None or self._array_cache[0] != versions:
            t = {name: p.detach().numpy() for name, p in self._named_parameters()}
            w_ih = t["cell.weight_ih"].T
            bias = t["cell.bias_ih"] + t["cell.bias_hh"]
            hidden = t["cell.weight_hh"].shape[1]
            arrays = {
                "start_gates": t["start"] @ w_ih + bias,
                "w_hh": t["cell.weight_hh"].T.copy(),
                "gate_scale": np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=np.float32), hidden),
            }
            for step in range(len(self.sizes)):
                arrays[f"head{step}"] = t[f"heads.{step}.weight"].T.copy()
                arrays[f"head{step}_bias"] = t[f"heads.{step}.bias"].copy()
                arrays[f"gates{step}"] = t[f"embeddings.{step}.weight"] @ w_ih + bias
            self._array_cache = (versions, arrays)
        return self._array_cache[1]


class FactorizedPolicy(nn.Module):
    """One independent softmax per decision: the REINFORCE policy of the NAS-Bench-201 paper.

    No decision sees the others, which suits spaces whose decisions act on their own (the
    edges of a cell). Same interface as :class:`Controller`; it holds one logit per
    option, so an update or a pass of samples is a handful of tensor calls instead of
    an LSTM step per decision.

    Args:
        sizes: the number of options of each decision, in order.
        tanh_constant: as :class:`Controller`'s.
        seed: seeds the initialisation (logits uniform in [-0.1, 0.1]).
    """

    def __init__(self, sizes: Sequence[int], *, tanh_constant: float | None, seed: int) -> None:
        super().__init__()
        self.sizes = tuple(int(n) for n in sizes)
        self.tanh_constant = tanh_constant
        generator = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(torch.empty(sum(self.sizes)))
        with torch.no_grad():
            nn.init.uniform_(self.logits, -_INIT_RANGE, _INIT_RANGE, generator=generator)
        _register_option_layout(self)

    def _log_probs(self, temperature: float = 1.0) -> torch.Tensor:
        """``(decisions, all options)`` log-probabilities, -inf outside each decision's options."""
        logits = self.logits
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        if temperature != 1.0:
            logits = logits / temperature
        return torch.log_softmax(logits.expand(len(self.sizes), -1).masked_fill(self._foreign, -math.inf), dim=-1)

    def evaluate(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`Controller.evaluate`."""
        log_p = self._log_probs()
        p = log_p.exp()
        columns = (indices + self._offsets).T  # (decisions, batch)
        log_prob = log_p.gather(1, columns).sum(0)
        entropy = -(p * log_p.masked_fill(self._foreign, 0.0)).sum().expand(indices.shape[0])
        return log_prob, entropy, p.unsqueeze(1).expand(-1, indices.shape[0], -1)

    def split(self, probabilities: torch.Tensor) -> list[torch.Tensor]:
        return _split_options(self, probabilities)

    @torch.no_grad()
    def sample(self, uniforms: np.ndarray, temperature: float = 1.0) -> list[list[int]]:
        """As :meth:`Controller.sample`: decision ``i`` of sample ``k`` by ``uniforms[k, i]``."""
        with one_thread():
            p = self._log_probs(temperature).exp().double().numpy()
        chosen = []
        for step, (offset, n) in enumerate(zip((int(o) for o in self._offsets), self.sizes, strict=True)):
            cumulative = np.cumsum(p[step, offset : offset + n])
            u = uniforms[:, step : step + 1] * cumulative[-1]
            chosen.append(np.minimum((cumulative <= u).sum(axis=1), n - 1))
        return np.stack(chosen, axis=1).tolist()

    @torch.no_grad()
    def greedy(self) -> list[int]:
        p = self._log_probs().exp().numpy()
        return [
            int(np.argmax(p[i, o : o + n]))
            for i, (o, n) in enumerate(zip(self._offsets.tolist(), self.sizes, strict=True))
        ]


def _register_option_layout(policy: nn.Module) -> None:
    """Buffers for scoring every decision at once over all options, concatenated.

    Column j of the concatenation belongs to one decision; ``_foreign[i, j]`` says it is
    not decision i's, and ``_offsets[i]`` is decision i's first column. Not saved: they
    follow from ``sizes``.
    """
    sizes = policy.sizes
    owner = np.repeat(np.arange(len(sizes)), sizes)  # numpy: torch's first repeat_interleave costs ms
    policy.register_buffer("_foreign", torch.from_numpy(owner[None, :] != np.arange(len(sizes))[:, None]), False)
    policy.register_buffer("_offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), False)


def _split_options(policy: nn.Module, probabilities: torch.Tensor) -> list[torch.Tensor]:
    """``(decisions, batch, all options)`` probabilities as one ``(batch, options)`` per decision."""
    offsets = [int(o) for o in policy._offsets]
    return [probabilities[i, :, o : o + n] for i, (o, n) in enumerate(zip(offsets, policy.sizes, strict=True))]


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
        self.lr = lr
        self._named_parameters = list(controller.named_parameters())
        self._sizes = [p.numel() for _, p in self._named_parameters]
        # foreach: one call per step for all parameters (on CPU torch defaults to a loop).
        if optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(controller.parameters(), lr=lr, foreach=True)
        elif optimizer == "sgd":
            self.optimizer = torch.optim.SGD(controller.parameters(), lr=lr, foreach=True)
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
        rows = [list(row) for row in [*batch, *elite]]
        n, m = len(batch), len(elite)
        if isinstance(self.controller, Controller):
            # loss = sum_r a_r log π(r) + e_r H(r) with these per-row weights, differentiated in numpy.
            a = np.concatenate([-np.asarray(advantages, dtype=np.float64) / n, np.full(m, -elite_weight / max(m, 1))])
            e = np.concatenate([np.full(n, -entropy_weight / n), np.zeros(m)])
            loss_value, entropies, grads = self.controller.gradients(np.asarray(rows, dtype=np.int64), a, e)
            with one_thread():
                grad_norm = self._step(np.concatenate([grads[name].ravel() for name, _ in self._named_parameters]))
            return {"loss": loss_value, "entropy": float(entropies[:n].mean()), "grad_norm": grad_norm}
        with one_thread():
            self.optimizer.zero_grad(set_to_none=True)
            indices = torch.tensor(rows, dtype=torch.long)
            weights = torch.tensor(list(advantages), dtype=torch.float32)
            log_probs, entropies_t, _ = self.controller.evaluate(indices)
            loss = -(weights * log_probs[:n]).mean() - entropy_weight * entropies_t[:n].mean()
            if elite:
                loss = loss - elite_weight * log_probs[n:].mean()
            loss.backward()
            loss_value, entropy_value = loss.item(), entropies_t[:n].mean().item()
            parameters = [parameter for _, parameter in self._named_parameters]
            max_norm = math.inf if self.grad_clip is None else self.grad_clip
            grad_norm = float(nn.utils.clip_grad_norm_(parameters, max_norm))
            if math.isfinite(grad_norm):  # a non-finite gradient would poison Adam's moments
                self.optimizer.step()
        return {"loss": loss_value, "entropy": entropy_value, "grad_norm": grad_norm}

    def _step(self, gradient: np.ndarray) -> float:
        """Clip the flat ``gradient`` (``named_parameters`` order) and step; its norm before.

        What ``clip_grad_norm_`` and the optimizer do, for a gradient that is already in
        numpy: plain SGD is one scaled subtraction per parameter, where torch's clip and
        step cost five times as much on these tiny tensors.
        """
        grad_norm = float(np.linalg.norm(gradient.astype(np.float64)))  # float64: no overflow in the squares
        if not math.isfinite(grad_norm):  # a non-finite gradient would poison the weights and Adam's moments
            return grad_norm
        scale = 1.0 if self.grad_clip is None else min(1.0, self.grad_clip / (grad_norm + 1e-6))
        if isinstance(self.optimizer, torch.optim.SGD):
            steps = torch.from_numpy((gradient * (-self.lr * scale)).astype(np.float32)).split(self._sizes)
            with torch.no_grad():
                for (_, parameter), step in zip(self._named_parameters, steps, strict=True):
                    parameter.view(-1).add_(step)
        else:
            grads = torch.from_numpy((gradient * scale).astype(np.float32)).split(self._sizes)
            for (_, parameter), grad in zip(self._named_parameters, grads, strict=True):
                parameter.grad = grad.view_as(parameter)
            self.optimizer.step()
        return grad_norm

    @torch.no_grad()
    def probabilities(self, indices: Sequence[int]) -> list[list[float]]:
        """Per decision, the option probabilities given the earlier decisions of ``indices``."""
        with one_thread():
            _, _, probabilities = self.controller.evaluate(torch.tensor([list(indices)], dtype=torch.long))
        return [[float(x) for x in p[0]] for p in self.controller.split(probabilities)]

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Weights and Adam moments as base64 of the raw little-endian float32 bytes.

        Exact (bit for bit) and strict JSON; nested lists of floats would also be exact
        but about four times larger. The weights are one string, every parameter in the
        order of ``named_parameters``: the journal walks the state after every trial, and
        one string costs it one step where a tensor each cost a hundred.
        Plain SGD keeps no state: its ``adam`` list is empty.
        """
        optimizer_state = self.optimizer.state_dict()["state"]
        moments = []
        if isinstance(self.optimizer, torch.optim.Adam):
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
        # In the order of named_parameters (the state_dict's, without walking the modules).
        flat = torch.cat([p.detach().reshape(-1) for _, p in self._named_parameters])
        return {"weights": _tensor_to_json(flat), "adam": moments}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        weights = state["weights"]
        if "float32" in weights:
            flat = _tensor_from_json(weights)
            sizes = [p.numel() for _, p in self._named_parameters]
            if flat.numel() != sum(sizes):
                msg = f"saved controller weights hold {flat.numel()} numbers, this controller has {sum(sizes)}"
                raise ValueError(msg)
            parts = flat.split(sizes)
            loaded = {
                name: part.reshape(p.shape) for (name, p), part in zip(self._named_parameters, parts, strict=True)
            }
        else:  # saved with a tensor per name (before the weights were one string)
            loaded = {name: _tensor_from_json(t) for name, t in weights.items()}
        self.controller.load_state_dict(loaded)
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


def build_trainer(sizes: Sequence[int], options: Any, seed: int) -> ControllerTrainer:
    """The policy ``options`` ask for (:class:`~._reinforce.ControllerOptions`) with its optimizer."""
    tanh = None if options.tanh_constant is None else float(options.tanh_constant)
    if options.controller == "factorized":
        policy: Any = FactorizedPolicy(sizes, tanh_constant=tanh, seed=seed)
    else:
        policy = Controller(
            sizes, hidden_size=options.hidden, embedding_size=options.embedding, tanh_constant=tanh, seed=seed
        )
    clip = None if options.grad_clip is None else float(options.grad_clip)
    return ControllerTrainer(policy, lr=options.learning_rate, grad_clip=clip, optimizer=options.optimizer)


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
