"""ENAS's shared weights: one supernet whose children are trained one path at a time.

Efficient Neural Architecture Search (Pham et al., ICML 2018) trains one set of weights
for every network of a cell space: at each training step the controller samples a child,
and the child, which is a path through the supernet, takes an SGD step. The controller is
then trained on the validation accuracy of the children it samples, computed with the
shared weights. This module holds the weights side; :mod:`.enas` drives both, with the
controller of :mod:`._reinforce` (it imports this module only when a search trains).

The supernet is the DARTS one (:class:`~._darts_supernet.Supernet`, the space's own
network with every cell's candidate ops), run along a :data:`~._darts_supernet.ChildPath`
so only the child's ops compute. BatchNorm always uses the batch's statistics: the running
averages of a network that changes every step would describe none of its children.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name every PyTorch reader expects
from torch import nn

from automl_codegen.evaluation import Dataset
from automl_codegen.supernet import SupernetDescription

from ._darts_supernet import ChildPath, Supernet, batch_statistics_only

__all__ = ["SharedWeights"]

Tensor = torch.Tensor

#: A child to train or score: per cell kind, its path (see :func:`~._darts_supernet.child_path`).
Child = Mapping[str, ChildPath]


class SharedWeights:
    """The supernet's weights, trained one sampled child per batch (SGD, cosine schedule).

    Args:
        description: the space's supernet description.
        options: the strategy's options (``epochs``, ``w_batch_size``, ``w_lr``,
            ``w_lr_min``, ``w_momentum``, ``w_weight_decay``, ``w_grad_clip``).
        dataset: x/y train and validation arrays.
        device: ``"cpu"`` or ``"cuda"``.
        seed: seeds the weights (in a forked RNG: the global one is untouched) and the
            order of the batches (a private generator).
    """

    def __init__(self, description: SupernetDescription, options: Any, dataset: Dataset, device: str, seed: int):
        self.options = options
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Supernet(description, affine=False)
        batch_statistics_only(model)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=options.w_lr,
            momentum=options.w_momentum,
            nesterov=options.w_momentum > 0,
            weight_decay=options.w_weight_decay,
        )
        self.x_train = torch.from_numpy(dataset.x_train).to(self.device)
        self.y_train = torch.from_numpy(dataset.y_train).to(self.device)
        self.x_val = torch.from_numpy(dataset.x_val).to(self.device)
        self.y_val = torch.from_numpy(dataset.y_val).to(self.device)
        self._val_order: list[Tensor] = []

    def lr(self, epoch: int) -> float:
        o = self.options
        return o.w_lr_min + (o.w_lr - o.w_lr_min) * (1 + math.cos(math.pi * epoch / o.epochs)) / 2

    def _batches(self, n: int, size: int) -> list[Tensor]:
        order = torch.randperm(n, generator=self.generator).to(self.device)
        # BatchNorm cannot normalise a single sample.
        return [order[s : s + size] for s in range(0, n, size) if min(size, n - s) >= 2]

    def train_epoch(self, epoch: int, sample: Callable[[], Child], deadline: float | None = None) -> dict[str, Any]:
        """One pass over the training split, a new child from ``sample()`` for every batch."""
        started = time.perf_counter()
        lr = self.lr(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        loss_sum, correct, seen, complete = 0.0, 0, 0, True
        for batch in self._batches(len(self.y_train), self.options.w_batch_size):
            x, y = self.x_train[batch], self.y_train[batch]
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(x, sample())
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                msg = f"shared-weight training diverged: the training loss is {loss.item()}; lower w_lr"
                raise FloatingPointError(msg)
            loss.backward()
            if self.options.w_grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.options.w_grad_clip)
            self.optimizer.step()
            loss_sum += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(batch)
            if deadline is not None and time.perf_counter() > deadline:
                complete = False
                break
        return {
            "lr": lr,
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "seconds": time.perf_counter() - started,
            "complete": complete,
        }

    def validation_batch(self, size: int) -> tuple[Tensor, Tensor]:
        """The next validation batch of a seeded shuffle that restarts when used up (ENAS's reward data)."""
        if not self._val_order:
            self._val_order = self._batches(len(self.y_val), size)
        batch = self._val_order.pop(0)
        return self.x_val[batch], self.y_val[batch]

    @torch.no_grad()
    def accuracy(self, child: Child, batch: tuple[Tensor, Tensor] | None = None, batch_size: int = 256) -> float:
        """Accuracy of ``child`` with the shared weights, on ``batch`` or the whole validation split."""
        batches = [batch] if batch is not None else self._split_batches(batch_size)
        correct = total = 0
        for x, y in batches:
            correct += int((self.model(x, child).argmax(1) == y).sum())
            total += len(y)
        return correct / max(total, 1)

    def _split_batches(self, size: int) -> Sequence[tuple[Tensor, Tensor]]:
        n = len(self.y_val)
        # The batch statistics of a tiny last batch would be noise: fold it into the one before.
        starts = list(range(0, n, size))
        if len(starts) > 1 and n - starts[-1] < 2:
            starts.pop()
        ends = [*starts[1:], n]
        return [(self.x_val[a:b], self.y_val[a:b]) for a, b in zip(starts, ends, strict=True)]

    def state(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "val_order": [b.cpu() for b in self._val_order],
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self._val_order = [b.to(self.device) for b in state["val_order"]]
