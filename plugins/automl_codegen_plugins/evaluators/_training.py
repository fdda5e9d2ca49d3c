"""Training and scoring one candidate network with PyTorch (imported only when used)."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn

from automl_codegen.evaluation import Dataset, Evaluation, EvaluationContext

from ..torch_model import build_model


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the trial is recorded as failed with this reason."""


def _tensors(x: np.ndarray, y: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    return correct / max(len(y), 1)


class Trainer:
    """AdamW with a cosine schedule, early stopping on validation accuracy.

    The weights of the best validation epoch are kept, so a late dip in accuracy does not
    cost the trial its result.
    """

    def __init__(
        self,
        *,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        label_smoothing: float = 0.0,
        threads: int | None = None,
    ) -> None:
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.label_smoothing = label_smoothing
        self.threads = threads

    def fit(self, model: nn.Module, data: Dataset, ctx: EvaluationContext) -> dict[str, float]:
        if self.threads:
            torch.set_num_threads(self.threads)
        device, budget = ctx.device, ctx.budget
        x_train, y_train = _tensors(data.x_train, data.y_train, device)
        x_val, y_val = _tensors(data.x_val, data.y_val, device)
        generator = torch.Generator().manual_seed(ctx.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=budget.epochs)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

        started = time.perf_counter()
        best_acc, best_state, best_epoch, epochs_run, loss_value = -1.0, None, 0, 0, math.nan
        for epoch in range(budget.epochs):
            model.train()
            order = torch.randperm(len(y_train), generator=generator).to(device)
            total, seen = 0.0, 0
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                if len(batch) < 2:  # BatchNorm cannot train on a single sample
                    continue
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                if not torch.isfinite(loss):
                    msg = f"training diverged: loss is {loss.item()} at epoch {epoch + 1}"
                    raise TrainingDivergedError(msg)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
                seen += len(batch)
            scheduler.step()
            epochs_run = epoch + 1
            loss_value = total / max(seen, 1)
            val_acc = accuracy(model, x_val, y_val)
            if val_acc > best_acc:
                best_acc, best_epoch = val_acc, epochs_run
                best_state = copy.deepcopy(model.state_dict())
            if budget.patience is not None and epochs_run - best_epoch >= budget.patience:
                break
            if budget.max_seconds is not None and time.perf_counter() - started > budget.max_seconds:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        return {
            "train_loss": loss_value,
            "epochs": float(epochs_run),
            "best_epoch": float(best_epoch),
            "train_seconds": time.perf_counter() - started,
        }


def train_and_profile(trainer: Trainer, architecture, ctx: EvaluationContext) -> Evaluation:
    """Build, train, score on validation and test, then run the context's profilers."""
    torch.manual_seed(ctx.seed)
    model = build_model(architecture).to(ctx.device)
    metrics = trainer.fit(model, ctx.dataset, ctx)
    data = ctx.dataset
    metrics["accuracy"] = accuracy(model, *_tensors(data.x_val, data.y_val, ctx.device))
    metrics["test_accuracy"] = accuracy(model, *_tensors(data.x_test, data.y_test, ctx.device))
    model.eval()
    for profiler in ctx.profilers:
        # Profilers that look measurements up by genotype (table-latency) ask for the context.
        kwargs = {"context": ctx} if getattr(profiler, "needs_context", False) else {}
        metrics.update(profiler.profile(model, architecture, ctx.device, **kwargs))
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    return Evaluation(metrics=metrics, state_dict=state)
