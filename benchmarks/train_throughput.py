"""Training throughput (images/s) of the train evaluator's epoch loop.

On CPU (the default): the Trainer's epoch loop against a plain hand-written PyTorch loop
on the same chain-cnn network (the space's default genotype at 3×32×32), the same
random data held as tensors, the same batch size, AdamW settings and thread count. The
two alternate (ours, plain, plain, ours, ...) so that load on a shared machine hits both
alike; printed: the median images/s of each over ``--repeats`` epochs and their ratio.
The Trainer with augmentation on (random crop + flip) is printed too, for its cost, and
the per-step time of both loops on a tiny network, where the loop's own work dominates.

    python benchmarks/train_throughput.py                     # CPU, 1 thread
    python benchmarks/train_throughput.py --threads 2 --repeats 9

With ``--device cuda``: the card's name, then images/s of one chain-cnn network and one
darts-cell network (DARTS_V2, 36 channels, 20 cells: the paper's CIFAR-10 network) on
synthetic 32×32×3 data, with AMP off and on (bf16 where the card has it, else fp16), and
the plain loop in float32 beside them. One to two minutes on one GPU:

    python benchmarks/train_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from automl_codegen.evaluation import Dataset, EvaluationContext, TrainingBudget
from automl_codegen.testing import tiny_architecture
from automl_codegen_plugins.evaluators._training import Trainer, TrainingRun
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.torch_model import build_model

SHAPE = (3, 32, 32)
CLASSES = 10
LR, WEIGHT_DECAY = 3e-3, 1e-4


def random_data(n: int, seed: int = 0) -> Dataset:
    """``n`` random 32×32×3 images with random labels (throughput does not need learning)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + 64, *SHAPE), dtype=np.float32)
    y = rng.integers(CLASSES, size=n + 64).astype(np.int64)
    return Dataset("random", x[:n], y[:n], x[n:], y[n:], x[n:], y[n:], CLASSES)


def architectures() -> dict[str, object]:
    chain = ChainCNNSpace(SHAPE, CLASSES)
    darts = DartsCellSpace(SHAPE, CLASSES)
    return {
        "chain-cnn (default genotype)": chain.to_architecture(chain.default_genotype()),
        "darts-cell (DARTS_V2, 36 ch, 20 cells)": darts.to_architecture(darts.parse_genotype("DARTS_V2")),
    }


def ours(arch: object, data: Dataset, device: str, batch_size: int, epochs: int, **options: object) -> TrainingRun:
    torch.manual_seed(0)
    ctx = EvaluationContext(dataset=data, budget=TrainingBudget(epochs=epochs), seed=0, device=device)
    trainer = Trainer(batch_size=batch_size, lr=LR, weight_decay=WEIGHT_DECAY, **options)
    return trainer.start(build_model(arch), data, ctx)


class PlainLoop:
    """What one would write by hand: shuffle, index, forward, loss, backward, step."""

    def __init__(self, arch: object, data: Dataset, device: str, batch_size: int) -> None:
        torch.manual_seed(0)
        self.model = build_model(arch).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x = torch.from_numpy(data.x_train).to(device)
        self.y = torch.from_numpy(data.y_train).to(device)
        self.batch_size, self.device = batch_size, device
        self.generator = torch.Generator().manual_seed(0)

    def epoch(self) -> None:
        self.model.train()
        order = torch.randperm(len(self.y), generator=self.generator).to(self.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.x[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


def images_per_s(epoch: Callable[[], object], images: int) -> tuple[float, float]:
    """Images per second of wall-clock time and per second of this process's CPU time.

    On a shared machine the CPU-time rate is the steadier one: time spent waiting for
    another process's turn on the core is not counted.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    epoch()
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def cpu(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    data = random_data(args.images)
    arch = architectures()["chain-cnn (default genotype)"]
    epochs = 2 * args.repeats + 2
    run = ours(arch, data, "cpu", args.batch_size, epochs, threads=args.threads, augment=False)
    augmented = ours(arch, data, "cpu", args.batch_size, epochs, threads=args.threads, augment=True)
    plain = PlainLoop(arch, data, "cpu", args.batch_size)
    n = len(data.y_train)
    # One warm-up epoch each (allocator, first-call overheads), not timed.
    run.train_epoch(0)
    augmented.train_epoch(0)
    plain.epoch()
    mine, theirs, aug = [], [], []
    for i in range(args.repeats):
        # ABBA order: a load change during a pair hits both loops alike.
        pair = [("ours", lambda i=i: run.train_epoch(i + 1)), ("plain", plain.epoch)]
        for name, fn in pair if i % 2 == 0 else pair[::-1]:
            (mine if name == "ours" else theirs).append(images_per_s(fn, n))
        aug.append(images_per_s(lambda i=i: augmented.train_epoch(i + 1), n))
        print(
            f"  epoch {i + 1}: images/s (wall / CPU time): ours {mine[-1][0]:6.1f} / {mine[-1][1]:6.1f}   "
            f"plain {theirs[-1][0]:6.1f} / {theirs[-1][1]:6.1f}   ours+augment {aug[-1][0]:6.1f} / {aug[-1][1]:6.1f}"
        )
    print(
        f"\nCPU, {args.threads} thread(s), chain-cnn default genotype at 3x32x32, {arch.num_params:,} parameters, "
        f"batch {args.batch_size}, {n} images per epoch, AdamW; medians of {args.repeats} epochs:"
    )
    for k, clock in enumerate(("wall-clock", "CPU time")):
        a, b, c = (statistics.median(r[k] for r in rows) for rows in (mine, theirs, aug))
        pairs = statistics.median(m[k] / t[k] for m, t in zip(mine, theirs, strict=True))
        print(f"  by {clock}:")
        print(f"    Trainer epoch loop       {a:8.1f} images/s")
        print(f"    plain PyTorch loop       {b:8.1f} images/s")
        print(f"    ratio Trainer / plain    {a / b:8.3f}   (median of per-epoch ratios {pairs:.3f}; target >= 0.95)")
        print(f"    Trainer with augment     {c:8.1f} images/s  ({c / a:.3f} of without)")


def overhead(args: argparse.Namespace) -> None:
    """Per-step cost on a network so small that the loop itself is most of the work."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096 + 64, 1, 8, 8), dtype=np.float32)
    y = rng.integers(CLASSES, size=len(x)).astype(np.int64)
    data = Dataset("tiny", x[:4096], y[:4096], x[4096:], y[4096:], x[4096:], y[4096:], CLASSES)
    arch = tiny_architecture((1, 8, 8), CLASSES)
    run = ours(arch, data, "cpu", args.batch_size, 42, threads=args.threads, augment=False)
    plain = PlainLoop(arch, data, "cpu", args.batch_size)
    run.train_epoch(0)
    plain.epoch()
    steps = len(y[:4096]) // args.batch_size
    mine, theirs = [], []
    for i in range(20):
        mine.append(images_per_s(functools.partial(run.train_epoch, i + 1), steps)[1])
        theirs.append(images_per_s(plain.epoch, steps)[1])
    a, b = 1e6 / statistics.median(mine), 1e6 / statistics.median(theirs)
    print(
        f"\nLoop overhead, tiny network (conv 8 channels on 1x8x8, {arch.num_params} parameters), batch "
        f"{args.batch_size}, CPU time per step, median of 20 epochs of {steps} steps:"
    )
    print(f"    Trainer {a:7.1f} us   plain {b:7.1f} us   ratio plain / Trainer {b / a:.3f}")


def cuda(args: argparse.Namespace) -> None:
    if not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)")
    device = "cuda"
    props = torch.cuda.get_device_properties(0)
    print(f"GPU: {torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}")
    data = random_data(args.images)
    n = len(data.y_train)
    timed = max(1, args.repeats)
    for name, arch in architectures().items():
        print(f"\n{name}: {arch.num_params:,} parameters, batch {args.batch_size}, {n} images per epoch")
        for label, options in (
            ("AMP off, fp32", {"amp": "off"}),
            ("AMP on", {"amp": "auto"}),
            ("AMP on + augment", {"amp": "auto", "augment": True}),
        ):
            run = ours(arch, data, device, args.batch_size, timed + 1, **options)
            run.train_epoch(0)  # warm-up: cuDNN autotuning, allocator
            rates = [images_per_s(functools.partial(run.train_epoch, e), n)[0] for e in range(1, timed + 1)]
            amp = run.settings.amp
            run.close()
            print(
                f"  Trainer {label:<18} {statistics.median(rates):9.0f} images/s  "
                f"(amp={amp}, channels_last={run.settings.channels_last})"
            )
        plain = PlainLoop(arch, data, device, args.batch_size)
        plain.epoch()
        rates = [images_per_s(plain.epoch, n)[0] for _ in range(timed)]
        print(f"  plain loop, fp32, NCHW   {statistics.median(rates):9.0f} images/s")
        del plain
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 64 on CPU, 256 on CUDA")
    parser.add_argument("--images", type=int, default=None, help="images per epoch (default: 512 CPU, 16384 CUDA)")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per loop (default: 9 CPU, 3 CUDA)")
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    args.batch_size = args.batch_size or (256 if on_gpu else 64)
    args.images = args.images or (16384 if on_gpu else 512)
    args.repeats = args.repeats or (3 if on_gpu else 9)
    if on_gpu:
        cuda(args)
    else:
        cpu(args)
        overhead(args)


if __name__ == "__main__":
    main()
