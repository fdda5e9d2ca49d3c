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
        _register_option_layout(self)
        self._parameter_list: list[tuple[str, nn.Parameter]] | None = None
        self._array_cache: tuple[tuple[int, ...], dict[str, np.ndarray]] | None = None

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

        The same function as :meth:`evaluate` scores, differentiated by hand in float64
        numpy (a test checks it against autograd): an update is about 150 operations on
        arrays of a few hundred numbers, where torch's per-call and autograd overhead
        made it cost 3 ms against 0.9 here, and the update runs every ``batch_size`` trials.

        Args:
            indices: ``(rows, decisions)`` option indices.
            log_prob_weights / entropy_weights: ``a_r`` and ``e_r``, one per row.

        Returns:
            ``L``, the entropy of each row's trajectory, and the gradient of ``L`` per
            parameter name (as in ``named_parameters``).
        """
        w = {name: t.detach().double().numpy() for name, t in self._named_parameters()}
        w_ih, w_hh = w["cell.weight_ih"], w["cell.weight_hh"]
        bias = w["cell.bias_ih"] + w["cell.bias_hh"]
        rows, hidden_size = indices.shape[0], w_hh.shape[1]
        every = np.arange(rows)
        x = np.broadcast_to(w["start"], (rows, w["start"].size))
        h = np.zeros((rows, hidden_size))
        c = np.zeros((rows, hidden_size))
        log_prob, entropy = np.zeros(rows), np.zeros(rows)
        tape = []
        for step in range(len(self.sizes)):
            z = x @ w_ih.T + h @ w_hh.T + bias  # gates in torch's order: i, f, g, o
            i_f = _sigmoid(z[:, : 2 * hidden_size])
            i, f = i_f[:, :hidden_size], i_f[:, hidden_size:]
            g, o = np.tanh(z[:, 2 * hidden_size : 3 * hidden_size]), _sigmoid(z[:, 3 * hidden_size :])
            c_new = f * c + i * g
            tanh_c = np.tanh(c_new)
            h_new = o * tanh_c
            logits = h_new @ w[f"heads.{step}.weight"].T + w[f"heads.{step}.bias"]
            capped = None
            if self.tanh_constant is not None:
                capped = np.tanh(logits)
                logits = self.tanh_constant * capped
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            p = np.exp(log_p)
            chosen = indices[:, step]
            step_entropy = -(p * log_p).sum(axis=1)
            log_prob += log_p[every, chosen]
            entropy += step_entropy
            # d log p(chosen) / d logits = onehot - p; d H / d logits = -p (log p + H).
            d_logits = -log_prob_weights[:, None] * p - entropy_weights[:, None] * p * (log_p + step_entropy[:, None])
            d_logits[every, chosen] += log_prob_weights
            if capped is not None:
                d_logits *= self.tanh_constant * (1.0 - capped * capped)
            tape.append((x, h, c, i, f, g, o, tanh_c, h_new, d_logits))
            h, c = h_new, c_new
            if step + 1 < len(self.sizes):
                x = w[f"embeddings.{step}.weight"][chosen]
        loss = float(log_prob_weights @ log_prob + entropy_weights @ entropy)

        grads = {name: np.zeros_like(value) for name, value in w.items()}
        d_h, d_c = np.zeros((rows, hidden_size)), np.zeros((rows, hidden_size))
        d_bias = np.zeros_like(bias)
        d_z = np.empty((rows, 4 * hidden_size))
        gate = [slice(k * hidden_size, (k + 1) * hidden_size) for k in range(4)]
        for step in reversed(range(len(self.sizes))):
            x, h_prev, c_prev, i, f, g, o, tanh_c, h_new, d_logits = tape[step]
            grads[f"heads.{step}.weight"] = d_logits.T @ h_new
            grads[f"heads.{step}.bias"] = d_logits.sum(axis=0)
            d_h = d_h + d_logits @ w[f"heads.{step}.weight"]
            d_c = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
            d_z[:, gate[0]] = d_c * g * i * (1.0 - i)
            d_z[:, gate[1]] = d_c * c_prev * f * (1.0 - f)
            d_z[:, gate[2]] = d_c * i * (1.0 - g * g)
            d_z[:, gate[3]] = d_h * tanh_c * o * (1.0 - o)
            grads["cell.weight_ih"] += d_z.T @ x
            grads["cell.weight_hh"] += d_z.T @ h_prev
            d_bias += d_z.sum(axis=0)
            d_x = d_z @ w_ih
            d_h, d_c = d_z @ w_hh, d_c * f
            if step == 0:
                grads["start"] = d_x.sum(axis=0)
            else:
                np.add.at(grads[f"embeddings.{step - 1}.weight"], indices[:, step - 1], d_x)
        grads["cell.bias_ih"] = d_bias
        grads["cell.bias_hh"] = d_bias.copy()
        return loss, entropy, grads

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
            # Scaling by the total absorbs rounding in the float32 softmax; the clamp
            # guards the last bin against u * total landing exactly on its edge.
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
        # arrays a torch call costs more than its work, and this runs on every ask.
        w = self._arrays()
        inputs = np.broadcast_to(w["start"], (count, w["start"].size))
        hidden = np.zeros((count, w["w_hh"].shape[0]), dtype=np.float32)
        cell = np.zeros_like(hidden)
        chosen = []
        for step in range(len(self.sizes)):
            z = inputs @ w["w_ih"] + hidden @ w["w_hh"] + w["bias"]  # gates i, f, g, o
            n = hidden.shape[1]
            i_f = _sigmoid(z[:, : 2 * n])
            cell = i_f[:, n:] * cell + i_f[:, :n] * np.tanh(z[:, 2 * n : 3 * n])
            hidden = _sigmoid(z[:, 3 * n :]) * np.tanh(cell)
            logits = (hidden @ w[f"head{step}"] + w[f"head{step}_bias"]).astype(np.float64)
            if self.tanh_constant is not None:
                logits = self.tanh_constant * np.tanh(logits)
            logits = logits / temperature
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            index = np.asarray(choose(step, p), dtype=np.int64)
            chosen.append(index)
            inputs = w[f"embedding{step}"][index]
        return np.stack(chosen, axis=1).tolist()

    def _arrays(self) -> dict[str, np.ndarray]:
        """The weights as numpy arrays laid out for ``x @ w``, rebuilt when one changes.

        Every in-place change of a parameter (an optimizer step, ``load_state_dict``, an
        edit under ``torch.no_grad()``) bumps its tensor's version counter, so the copy
        cannot go stale.
        """
        versions = tuple(p._version for _, p in self._named_parameters())
        if self._array_cache is None or self._array_cache[0] != versions:
            t = {name: p.detach().numpy() for name, p in self._named_parameters()}
            arrays = {
                "start": t["start"],
                "w_ih": t["cell.weight_ih"].T.copy(),
                "w_hh": t["cell.weight_hh"].T.copy(),
                "bias": t["cell.bias_ih"] + t["cell.bias_hh"],
            }
            for step in range(len(self.sizes)):
                arrays[f"head{step}"] = t[f"heads.{step}.weight"].T.copy()
                arrays[f"head{step}_bias"] = t[f"heads.{step}.bias"].copy()
                arrays[f"embedding{step}"] = t[f"embeddings.{step}.weight"].copy()
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
    owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    policy.register_buffer("_foreign", owner.unsqueeze(0) != torch.arange(len(sizes)).unsqueeze(1), False)
    policy.register_buffer("_offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), False)


def _split_options(policy: nn.Module, probabilities: torch.Tensor) -> list[torch.Tensor]:
    """``(decisions, batch, all options)`` probabilities as one ``(batch, options)`` per decision."""
    offsets = [int(o) for o in policy._offsets]
    return [probabilities[i, :, o : o + n] for i, (o, n) in enumerate(zip(offsets, policy.sizes, strict=True))]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


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
        self._named_parameters = list(controller.named_parameters())
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
        with one_thread():
            self.optimizer.zero_grad(set_to_none=True)
            if isinstance(self.controller, Controller):
                # loss = sum_r a_r log π(r) + e_r H(r) with these per-row weights.
                a = np.concatenate(
                    [-np.asarray(advantages, dtype=np.float64) / n, np.full(m, -elite_weight / max(m, 1))]
                )
                e = np.concatenate([np.full(n, -entropy_weight / n), np.zeros(m)])
                loss_value, entropies, grads = self.controller.gradients(np.asarray(rows, dtype=np.int64), a, e)
                for name, parameter in self._named_parameters:
                    parameter.grad = torch.from_numpy(grads[name].astype(np.float32))
                entropy_value = float(entropies[:n].mean())
            else:
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
