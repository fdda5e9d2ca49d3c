"""One DARTS supernet training step, ours against the DARTS authors' code, same tiny setting.

A step is what the authors' ``train_search.py`` does per batch: the architecture step
(``Architect.step``: first order, or second order with ``unrolled=True``) on a
validation batch, then the SGD step on the weights (gradient clipping included) on a
training batch. Both supernets are the darts-cell search network of the same size (the
parameter counts are printed and must agree); both run on the same random batches.

Time: the median of ``--repeats`` steps each, run in back-to-back pairs (who goes first
alternates); the ratio printed is the median of the pairs' ratios, which cancels the
drift of a shared machine's load.
Peak memory: the most bytes allocated during one step above what was allocated before
it (CPU: the PyTorch profiler's allocation events; CUDA: ``max_memory_allocated``), after
warm-up steps so that both have their optimiser state.

The reference is quark0/darts, fetched by you (never committed here), e.g.::

    git clone https://github.com/quark0/darts /tmp/darts
    python benchmarks/darts_step.py --reference /tmp/darts

``--reference`` may name the repository or its ``cnn`` folder; by default
``/tmp/darts``, ``/tmp/darts_ref`` and ``/tmp/quark0-darts`` are tried. The authors' code
calls ``.cuda()``; on a machine without CUDA those calls are made no-ops.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from automl_codegen.evaluation import Dataset
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.strategies._darts_supernet import SupernetTrainer, step_peak_bytes
from automl_codegen_plugins.strategies.darts import DartsOptions

DEFAULT_PLACES = ("/tmp/darts", "/tmp/darts_ref", "/tmp/quark0-darts")


def find_reference(path: str | None) -> Path | None:
    """The reference's ``cnn`` folder (holding ``model_search.py``), or None."""
    places = [path] if path else DEFAULT_PLACES
    for place in places:
        for folder in (Path(place), Path(place) / "cnn"):
            if (folder / "model_search.py").is_file() and (folder / "architect.py").is_file():
                return folder
    return None


def load_reference(folder: Path, device: torch.device) -> types.SimpleNamespace:
    if device.type != "cuda":
        # The authors' code moves everything with .cuda(); keep it where it is instead.
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
        nn.Module.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, str(folder))
    try:
        model_search = importlib.import_module("model_search")
        architect = importlib.import_module("architect")
    finally:
        sys.path.remove(str(folder))
    return types.SimpleNamespace(Network=model_search.Network, Architect=architect.Architect)


def count(parameters) -> int:
    return sum(p.numel() for p in parameters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", help="quark0/darts checkout (or its cnn folder)")
    parser.add_argument("--init-channels", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=16, help="input height and width (3 channels, as the reference)")
    parser.add_argument("--order", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    folder = find_reference(args.reference)
    if folder is None:
        where = args.reference or ", ".join(DEFAULT_PLACES)
        print(
            f"The DARTS reference code was not found in {where}.\n"
            "Fetch it (it is not part of this project) and pass its path:\n"
            "    git clone https://github.com/quark0/darts /tmp/darts\n"
            "    python benchmarks/darts_step.py --reference /tmp/darts"
        )
        raise SystemExit(2)
    warnings.filterwarnings("ignore", category=UserWarning)  # the reference's deprecated torch calls
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ref = load_reference(folder, device)

    shape, classes, b = (3, args.size, args.size), 10, args.batch_size
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * b, *shape)).astype(np.float32)
    y = rng.integers(classes, size=4 * b).astype(np.int64)
    data = Dataset("random", x[: 2 * b], y[: 2 * b], x[2 * b :], y[2 * b :], x[:0], y[:0], classes)
    xt, yt = torch.from_numpy(x[:b]).to(device), torch.from_numpy(y[:b]).to(device)
    xv, yv = torch.from_numpy(x[2 * b : 3 * b]).to(device), torch.from_numpy(y[2 * b : 3 * b]).to(device)
    lr = 0.025

    print(
        f"DARTS search step, darts-cell supernet C={args.init_channels}, {args.layers} cells, batch {b}, "
        f"input {shape}, device {device}, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(f"reference: {folder}")
    for order in args.order:
        space = DartsCellSpace(shape, classes, init_channels=args.init_channels, layers=args.layers)
        options = DartsOptions(order=order, batch_size=b)
        ours = SupernetTrainer(space.supernet_description(), options, data, str(device), seed=0)

        torch.manual_seed(0)
        criterion = nn.CrossEntropyLoss()
        model = ref.Network(args.init_channels, classes, args.layers, criterion).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=3e-4)
        hyper = types.SimpleNamespace(momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4, arch_weight_decay=1e-3)
        architect = ref.Architect(model, hyper)

        def ours_step(ours=ours) -> None:
            ours.step((xt, yt), (xv, yv), lr)

        def reference_step(
            model=model, optimizer=optimizer, architect=architect, order=order, criterion=criterion
        ) -> None:
            model.train()
            architect.step(xt, yt, xv, yv, lr, optimizer, unrolled=order == 2)
            optimizer.zero_grad()
            loss = criterion(model(xt), yt)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5)
            optimizer.step()

        def timed(fn) -> float:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return time.perf_counter() - start

        for _ in range(args.warmup):
            ours_step()
            reference_step()
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        for repeat in range(args.repeats):
            # Alternate who goes first, so neither always runs on a warmer cache.
            pair = [("ours", ours_step), ("reference", reference_step)]
            for name, fn in pair if repeat % 2 == 0 else pair[::-1]:
                times[name].append(timed(fn))
        peak_ours, method = step_peak_bytes(ours_step, device)
        peak_ref, _ = step_peak_bytes(reference_step, device)
        t_ours, t_ref = statistics.median(times["ours"]), statistics.median(times["reference"])
        # Each pair ran back to back: the median of their ratios cancels the drift of a shared machine's load.
        ratio = statistics.median(a / b for a, b in zip(times["ours"], times["reference"], strict=True))
        params_ours, params_ref = count(ours.model.parameters()), count(model.parameters())
        print(f"\norder {order} ({'first' if order == 1 else 'second'} order)")
        print(f"  parameters        ours {params_ours:>12,}   reference {params_ref:>12,}")
        print(f"  step time (ms)    ours {t_ours * 1e3:>12.1f}   reference {t_ref * 1e3:>12.1f}   ratio {ratio:.2f}")
        print(
            f"  step peak (MiB)   ours {peak_ours / 2**20:>12.2f}   reference {peak_ref / 2**20:>12.2f}   "
            f"ratio {peak_ours / peak_ref:.2f}"
        )
        print(
            f"  (ratio = ours / reference; time: medians of {args.repeats} steps, ratio: median of the "
            f"{args.repeats} back-to-back pairs' ratios; memory: {method})"
        )


if __name__ == "__main__":
    main()
