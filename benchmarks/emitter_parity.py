"""Emitted PyTorch code against the in-engine model, on architectures sampled from chain-cnn.

For each sampled architecture: build the engine's model with random weights, emit
model.py, load the same weights into it, and print the max |Δ| of the outputs, the
parameter counts both ways, and the batch-1 CPU latency of each (generated code has no
graph interpreter in its forward, so it should be no slower).

    python benchmarks/emitter_parity.py --samples 20
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils import benchmark

from automl_codegen_plugins.emitters.pytorch import PytorchEmitter
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.torch_model import build_model


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def latency_ms(model: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=1)
        return timer.blocked_autorange(min_run_time=0.3).median * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--input", type=int, nargs=3, default=[1, 8, 8], metavar=("C", "H", "W"))
    args = parser.parse_args()
    space = ChainCNNSpace(tuple(args.input), 10)
    rng = np.random.default_rng(0)
    emitter = PytorchEmitter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.samples):
            arch = space.to_architecture(space.sample(rng))
            torch.manual_seed(i)
            engine = build_model(arch).eval()
            # Non-trivial BN statistics, so the comparison covers them too.
            for module in engine.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-1, 1)
                    module.running_var.uniform_(0.5, 2)
            out_dir = Path(tmp) / f"m{i}"
            emitter.export(arch, out_dir, engine.state_dict())
            generated = load_module(out_dir / "model.py", f"generated_{i}").build_model(str(out_dir / "model.pt"))
            x = torch.randn(16, *args.input)
            with torch.no_grad():
                delta = (engine(x) - generated(x)).abs().max().item()
            params = (sum(p.numel() for p in engine.parameters()), sum(p.numel() for p in generated.parameters()))
            one = x[:1]
            rows.append((i, delta, *params, latency_ms(engine, one), latency_ms(generated, one)))
    print("| arch | max abs diff | params engine | params emitted | engine ms | emitted ms |")
    print("|---|---|---|---|---|---|")
    for i, delta, pe, pg, le, lg in rows:
        print(f"| {i} | {delta:.2e} | {pe} | {pg} | {le:.3f} | {lg:.3f} |")
    deltas = [r[1] for r in rows]
    ratio = np.median([r[5] / r[4] for r in rows])
    print(
        f"\nmax |Δ| over {len(rows)} architectures: {max(deltas):.2e}; parameter counts equal: "
        f"{all(r[2] == r[3] for r in rows)}; median latency emitted/engine: {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
