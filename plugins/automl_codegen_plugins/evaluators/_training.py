"""Training and scoring one candidate network with PyTorch (imported only when used).

:class:`Trainer` turns the evaluator's options into a :class:`TrainingRun` for one model,
dataset and device: the options' ``None``/``"auto"`` values are resolved here (see
:func:`resolve`), and the resolved settings are recorded in the trial's metrics under
``"training"``. The epoch loop keeps the host out of the way: the loss stays on the
device until the epoch ends (one synchronisation per epoch, not one per batch), batches
are gathered from tensors already on the device, and augmentation is batched.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from automl_codegen import ConfigError
from automl_codegen.evaluation import Dataset, Evaluation, EvaluationContext, TrainingBudget
from automl_codegen.protocols import attribute
from automl_codegen.tasks import get_task

from ..torch_model import build_model
from ._augment import crop_flip, draw, padding_for
from ._options import TrainingOptions
from ._schedule import learning_rate

__all__ = [
    "Settings",
    "Trainer",
    "TrainingDivergedError",
    "TrainingRun",
    "accuracy",
    "regression_metrics",
    "resolve",
    "train_and_profile",
]

#: On CUDA the splits go to the GPU when they take at most this share of its memory.
DEVICE_DATA_SHARE = 0.25


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the trial is recorded as failed with this reason."""


class CompileFailedError(RuntimeError):
    """``torch.compile`` could not compile the model; the message says how to go on."""


@attrs.frozen(kw_only=True)
class Settings:
    """The training configuration a trial actually used, every option resolved."""

    device: str
    epochs: int
    optimizer: str
    lr: float
    lr_min: float
    weight_decay: float
    momentum: float | None
    schedule: str
    warmup_epochs: int
    batch_size: int
    label_smoothing: float
    augment: bool
    augment_padding: int | None
    amp: str
    channels_last: bool
    compile: bool
    data: str
    workers: int | None
    threads: int | None
    final: bool

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def resolve(options: TrainingOptions, data: Dataset, device: str, epochs: int, *, final: bool = False) -> Settings:
    """``options`` made concrete for ``data`` on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Defaults that depend on the data or the device: ``augment`` is the dataset's own
    default (:attr:`Dataset.augment`); ``amp`` and ``channels_last`` are on for CUDA
    only; ``data="auto"`` keeps the splits as tensors on the device (always on CPU, where
    they are already in memory; on CUDA when they take at most a quarter of the GPU's
    memory, else a DataLoader feeds it).

    Raises:
        ConfigError: ``amp`` was asked for on a device other than CUDA.
    """
    cuda = str(device).startswith("cuda")
    amp = options.amp
    if amp != "auto" and amp != "off" and not cuda:
        msg = (
            f"train evaluator: amp={amp!r} needs a CUDA device, but this run trains on {device!r}; "
            f"leave amp at 'auto' (on for CUDA, off elsewhere) or set amp='off'"
        )
        raise ConfigError(msg)
    if amp == "auto":
        amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "off"
    placement = options.data
    if placement == "auto":
        placement = "device"
        if cuda:
            held = data.x_train.nbytes + data.x_val.nbytes
            placement = "device" if held <= DEVICE_DATA_SHARE * _memory(device) else "loader"
    images = len(data.input_shape) == 3
    augment = data.augment if options.augment is None else options.augment
    if not images and (augment or options.channels_last):
        what = "augment" if augment else "channels_last"
        msg = (
            f"train evaluator: {what}=true is for images, and this run's inputs are "
            f"{get_task(data.task).inputs}; leave it unset"
        )
        raise ConfigError(msg)
    regression = get_task(data.task).regression
    if regression and options.label_smoothing:
        msg = "train evaluator: label_smoothing is for classification; this run regresses, leave it at 0"
        raise ConfigError(msg)
    workers = options.workers if options.workers is not None else min(4, os.cpu_count() or 1)
    return Settings(
        device=str(device),
        epochs=epochs,
        optimizer=options.optimizer,
        lr=options.peak_lr,
        lr_min=options.lr_min,
        weight_decay=options.weight_decay,
        momentum=options.momentum if options.optimizer == "sgd" else None,
        schedule=options.schedule,
        warmup_epochs=max(0, min(options.warmup_epochs, epochs - 1)),
        batch_size=options.batch_size,
        label_smoothing=options.label_smoothing,
        augment=augment,
        augment_padding=padding_for(*data.input_shape[-2:]) if augment else None,
        amp=amp,
        channels_last=(cuda and images) if options.channels_last is None else options.channels_last,
        compile=options.compile,
        data=placement,
        workers=workers if placement == "loader" else None,
        threads=options.threads,
        final=final,
    )


def _memory(device: str) -> int:
    return torch.cuda.get_device_properties(torch.device(device)).total_memory


def accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 512,
    *,
    device: str | torch.device | None = None,
    channels_last: bool = False,
) -> float:
    """Share of ``y`` predicted right, in float32 (as the exported model runs).

    ``x`` and ``y`` may live on the host; each batch is moved to ``device`` (default:
    the model's).
    """
    return accuracy_and_loss(model, x, y, batch_size, device=device, channels_last=channels_last)[0]


@torch.no_grad()
def accuracy_and_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 512,
    *,
    device: str | torch.device | None = None,
    channels_last: bool = False,
) -> tuple[float, float]:
    """Accuracy (see :func:`accuracy`) and minus the mean cross-entropy of ``model`` on ``x``, ``y``."""
    model.eval()
    if device is None:
        device = next(model.parameters()).device
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(y), batch_size):
        xb = x[start : start + batch_size].to(device, non_blocking=True)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yb = y[start : start + batch_size].to(device, non_blocking=True)
        logits = model(xb).float()
        correct += (logits.argmax(1) == yb).sum()
        total_loss += torch.nn.functional.cross_entropy(logits, yb, reduction="sum").double()
    n = max(len(y), 1)
    return int(correct) / n, -float(total_loss) / n


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = 512, *, device: Any = None) -> torch.Tensor:
    """The model's single output per row of ``x``, on the host, in float32."""
    model.eval()
    if device is None:
        device = next(model.parameters()).device
    parts = [
        model(x[start : start + batch_size].to(device)).float().reshape(-1).cpu()
        for start in range(0, len(x), batch_size)
    ]
    return torch.cat(parts) if parts else torch.zeros(0)


def regression_metrics(predicted: torch.Tensor, y: torch.Tensor, target_std: float) -> dict[str, float]:
    """``mse``, ``mae`` (in the target's units) and ``r2`` of standardised predictions.

    Predictions and targets are both standardised by the training split, so errors
    scale back by the target's ``std``; ``r2`` is scale-free and compares with the
    split's own mean (1 is perfect, 0 is no better than predicting that mean).
    """
    predicted, y = predicted.double(), y.double().reshape(-1)
    error = predicted - y
    sse = float((error**2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    n = max(len(y), 1)
    return {
        "mse": sse / n * target_std**2,
        "mae": float(error.abs().sum()) / n * target_std,
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
    }


# -- where the batches come from ---------------------------------------------------------------


class _DeviceBatches:
    """The training split as two tensors on the device; a batch is one gather."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device: str) -> None:
        # On CPU from_numpy shares the arrays' memory: nothing is copied.
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.device = device

    def epoch(self, batches: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not batches:
            return
        # One transfer of the epoch's order; the batches are views of it.
        order = torch.cat(batches).to(self.device, non_blocking=True)
        start = 0
        for batch in batches:
            index = order[start : start + len(batch)]
            start += len(batch)
            yield self.x[index], self.y[index]

    def close(self) -> None:
        pass


class _Rows(torch.utils.data.Dataset):
    """Whole batches of rows of in-memory arrays, fetched by a worker process."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = index.numpy()
        return torch.from_numpy(self.x[rows]), torch.from_numpy(self.y[rows])


class _EpochOrder(torch.utils.data.Sampler):
    """Yields the batches of the current epoch, set by the trainer before each epoch.

    Samplers run in the main process, so the order comes from the trainer's seeded
    generator and is the same as with the data on the device.
    """

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _LoaderBatches:
    """Batches gathered by DataLoader workers from host memory (pinned for CUDA), then sent."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device: str, workers: int) -> None:
        self.device = device
        self.order = _EpochOrder()
        self.loader: torch.utils.data.DataLoader | None = torch.utils.data.DataLoader(
            _Rows(x, y),
            batch_size=None,  # the dataset returns whole batches
            sampler=self.order,
            num_workers=workers,
            pin_memory=str(device).startswith("cuda"),
            persistent_workers=workers > 0,
        )

    def epoch(self, batches: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        assert self.loader is not None
        self.order.batches = batches
        for xb, yb in self.loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def close(self) -> None:
        self.loader = None  # lets the persistent workers shut down


# -- training ----------------------------------------------------------------------------------


def _optimizer(settings: Settings, params: Any) -> torch.optim.Optimizer:
    fused = {"fused": True} if settings.device.startswith("cuda") else {}
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=settings.lr,
            momentum=settings.momentum or 0.0,
            nesterov=bool(settings.momentum),
            weight_decay=settings.weight_decay,
        )
    return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, **fused)


def _grad_scaler() -> Any:
    # torch.amp.GradScaler since 2.3; the older spelling still works before that.
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - torch < 2.3


def _from_compiler(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x), torch.from_numpy(y)


class _SquaredError(nn.Module):
    """Mean squared error of a one-output network against a vector of targets."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(output.reshape(-1).float(), target.float())


class TrainingRun:
    """One model being trained: optimizer, schedule, data source and device state.

    Made by :meth:`Trainer.start`; :meth:`train_epoch` runs one epoch and is what the
    throughput benchmark times. Close it (or use it as a context manager) to stop
    DataLoader workers.
    """

    def __init__(self, model: nn.Module, data: Dataset, settings: Settings, seed: int) -> None:
        self.settings = s = settings
        # The thread count is process-wide: put it back when this run closes.
        self._threads_before = torch.get_num_threads()
        if s.threads:
            torch.set_num_threads(s.threads)
        x, y = data.x_train, data.y_train
        if s.final:
            # Final training: validation data is training data; nothing is held out but the test set.
            x, y = np.concatenate([x, data.x_val]), np.concatenate([y, data.y_val])
        self.train_size = len(y)
        memory_format = torch.channels_last if s.channels_last else torch.preserve_format
        self.model = model.to(s.device, memory_format=memory_format)
        self.net: nn.Module = torch.compile(self.model) if s.compile else self.model
        self._compiled = not s.compile
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer = _optimizer(s, self.model.parameters())
        self.regression = get_task(data.task).regression
        # Regression targets are standardised (see automl_codegen.tasks): MSE on them is
        # well scaled whatever the target's units.
        self.loss_fn: Any = (
            _SquaredError() if self.regression else nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
        )
        self.target_std = float((data.normalization.get("target") or {}).get("std", 1.0))
        self.scaler = _grad_scaler() if s.amp == "fp16" else None
        self._amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(s.amp)
        if s.data == "loader":
            self.source: _DeviceBatches | _LoaderBatches = _LoaderBatches(x, y, s.device, s.workers or 0)
        else:
            self.source = _DeviceBatches(x, y, s.device)
        self.lrs: list[float] = []
        self.epoch_fraction = 1.0

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()
        torch.set_num_threads(self._threads_before)

    def lr_at(self, epoch: int) -> float:
        """The schedule's learning rate for 0-based ``epoch`` (``epochs``: where it ends)."""
        s = self.settings
        return learning_rate(
            epoch, epochs=s.epochs, peak=s.lr, minimum=s.lr_min, schedule=s.schedule, warmup=s.warmup_epochs
        )

    def train_epoch(self, epoch: int, stop_at: float | None = None) -> float:
        """Train one epoch (0-based ``epoch`` sets the learning rate); the mean training loss.

        ``stop_at`` is a ``time.perf_counter()`` value: the epoch ends after the batch
        during which it passes (one batch at least), so a time cap holds even when one
        epoch takes longer than the whole cap (a big network at full resolution).

        Raises:
            TrainingDivergedError: the loss was NaN or infinite in this epoch.
        """
        s = self.settings
        lr = self.lr_at(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.lrs.append(lr)
        self.model.train()
        n, size = self.train_size, s.batch_size
        order = torch.randperm(n, generator=self.generator)
        if s.augment:
            shifts, flips = (t.to(s.device, non_blocking=True) for t in draw(n, s.augment_padding, self.generator))
        # BatchNorm cannot train on a single sample, so a last batch of one is left out.
        starts = [start for start in range(0, n, size) if min(size, n - start) >= 2]
        batches = [order[start : start + size] for start in starts]
        losses: list[torch.Tensor] = []
        for start, (xb, yb) in zip(starts, self.source.epoch(batches), strict=True):
            if stop_at is not None and losses and time.perf_counter() > stop_at:
                batches = batches[: len(losses)]
                break
            if s.augment:
                end = start + len(yb)
                xb = crop_flip(xb, shifts[start:end], flips[start:end], s.augment_padding)
            if s.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            losses.append(self._step(xb, yb))
        # How much of the epoch ran: less than 1 when ``stop_at`` ended it early.
        self.epoch_fraction = len(losses) / len(starts) if starts else 1.0
        if not losses:
            return float("nan")
        sizes = torch.tensor([len(b) for b in batches], dtype=torch.float32, device=losses[0].device)
        # The epoch's only synchronisation with the host.
        mean = float((torch.stack(losses).float() * sizes).sum() / sizes.sum())
        if not np.isfinite(mean):
            msg = f"training diverged: loss is {mean} at epoch {epoch + 1}"
            raise TrainingDivergedError(msg)
        return mean

    def _step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if not self._compiled:
            try:
                loss = self._update(xb, yb)
            except Exception as exc:
                if not _from_compiler(exc):
                    raise
                # The compiler's own error is wrapped (BackendCompilerFailed, ...): show the innermost.
                cause: BaseException = exc
                while (inner := getattr(cause, "inner_exception", None) or cause.__cause__) is not None:
                    cause = inner
                first = (str(cause).strip().splitlines() or [""])[0]
                msg = (
                    f"compile=true: torch.compile could not compile the model ({type(cause).__name__}: {first}); "
                    f"on CPU it needs a working C++ compiler (g++ or clang, or $CXX), on CUDA Triton; "
                    f"or leave compile=false"
                )
                raise CompileFailedError(msg) from exc
            self._compiled = True
            return loss
        return self._update(xb, yb)

    def _update(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        if self._amp_dtype is None:
            loss = self.loss_fn(self.net(xb), yb)
        else:
            with torch.autocast("cuda", dtype=self._amp_dtype):
                loss = self.loss_fn(self.net(xb), yb)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def scores(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The task's measurements on host arrays: ``accuracy``, or ``mse``, ``mae`` and ``r2``."""
        if self.regression:
            predicted = predictions(self.model, torch.from_numpy(x), device=self.settings.device)
            return regression_metrics(predicted, torch.from_numpy(y), self.target_std)
        return {"accuracy": self.accuracy(x, y)}

    def validation_score(self, val: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
        """Higher is better: accuracy then minus the mean cross-entropy (which breaks ties
        between epochs of one accuracy, common on small validation splits), or minus the
        mean squared error (standardised units) twice."""
        s = self.settings
        if self.regression:
            mse = -float(((predictions(self.model, val[0], device=s.device) - val[1].cpu()) ** 2).mean())
            return mse, mse
        return accuracy_and_loss(self.model, *val, device=s.device, channels_last=s.channels_last)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the (uncompiled) model on host arrays, batch by batch, in float32."""
        return accuracy(
            self.model,
            torch.from_numpy(x),
            torch.from_numpy(y),
            device=self.settings.device,
            channels_last=self.settings.channels_last,
        )

    def fit(self, data: Dataset, budget: TrainingBudget) -> dict[str, Any]:
        """Train under ``budget``; the model ends with its best weights.

        Search trials keep the weights of the epoch with the best validation accuracy
        and stop early after ``budget.patience`` epochs without improvement. Final
        training (``settings.final``) has no validation data: it runs every epoch and
        keeps the last weights.
        """
        s = self.settings
        val = (torch.from_numpy(data.x_val), torch.from_numpy(data.y_val))
        if s.data == "device" and not s.final:
            val = (val[0].to(s.device), val[1].to(s.device))  # evaluated every epoch: sent once
        started = time.perf_counter()
        stop_at = None if budget.max_seconds is None else started + budget.max_seconds
        best_score, best_state, best_epoch, epochs_run, loss = (-np.inf, -np.inf), None, 0, 0.0, float("nan")
        capped = False
        for epoch in range(s.epochs):
            loss = self.train_epoch(epoch, stop_at)
            epochs_run = epoch + self.epoch_fraction
            if not s.final:
                score = self.validation_score(val)
                if score > best_score:
                    best_score, best_epoch = score, epoch + 1
                    best_state = copy.deepcopy(self.model.state_dict())
                if budget.patience is not None and epoch + 1 - best_epoch >= budget.patience:
                    break
            if stop_at is not None and time.perf_counter() > stop_at:
                capped = epoch + 1 < s.epochs
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        metrics = {
            "train_loss": loss,
            "epochs": float(epochs_run),
            "best_epoch": float(epochs_run if s.final else best_epoch),
            "train_seconds": time.perf_counter() - started,
            "training": s.as_dict(),
        }
        if capped:
            # Cut by the time cap (fractional ``epochs``): the search's time budget learns
            # the real speed from it, and reports can tell it from early stopping.
            metrics["time_capped"] = 1.0
        return metrics


class Trainer:
    """Trains a network as the evaluator's options say (see :class:`TrainingOptions`).

    Search trials train on the training split with early stopping on validation
    accuracy, keeping the weights of the best epoch, so a late dip in accuracy does not
    cost the trial its result. Final training (``context.final``) trains on training +
    validation for every epoch of the budget.
    """

    def __init__(self, **options: Any) -> None:
        self.options = TrainingOptions.from_options(**options)

    def start(self, model: nn.Module, data: Dataset, ctx: EvaluationContext) -> TrainingRun:
        final = bool(getattr(ctx, "final", False))
        settings = resolve(self.options, data, ctx.device, ctx.budget.epochs, final=final)
        return TrainingRun(model, data, settings, ctx.seed)

    def fit(self, model: nn.Module, data: Dataset, ctx: EvaluationContext) -> dict[str, Any]:
        with self.start(model, data, ctx) as run:
            return run.fit(data, ctx.budget)


def train_and_profile(trainer: Trainer, architecture: Any, ctx: EvaluationContext) -> Evaluation:
    """Build, train, score on validation (search trials) and test, then run the profilers.

    The trial's seed drives initialisation and dropout through torch's global RNG, in a
    fork of it: the caller's random state is as it was afterwards.
    """
    devices = [torch.device(ctx.device).index or 0] if str(ctx.device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(ctx.seed)
        return _train_and_profile(trainer, architecture, ctx)


def _train_and_profile(trainer: Trainer, architecture: Any, ctx: EvaluationContext) -> Evaluation:
    model = build_model(architecture)
    data = ctx.dataset
    with trainer.start(model, data, ctx) as run:
        metrics = run.fit(data, ctx.budget)
        if not run.settings.final:
            metrics.update(run.scores(data.x_val, data.y_val))
            if not run.regression:
                # Breaks ties between trials of one validation accuracy (see scoring.is_better).
                metrics["val_loss"] = -run.validation_score(_tensors(data.x_val, data.y_val))[1]
        metrics.update({f"test_{name}": value for name, value in run.scores(data.x_test, data.y_test).items()})
    # Profilers measure the network as it is exported: NCHW, float32, not compiled.
    model = model.to(memory_format=torch.contiguous_format).eval()
    for profiler in ctx.profilers:
        # Profilers that look measurements up by genotype (table-latency) ask for the context.
        kwargs = {"context": ctx} if attribute("profiler", profiler, "needs_context") else {}
        metrics.update(profiler.profile(model, architecture, ctx.device, **kwargs))
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return Evaluation(metrics=metrics, state_dict=state)
