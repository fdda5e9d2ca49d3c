"""Cross-framework parity of emitted code, on architectures sampled from every search space.

For each sampled architecture: build the engine's torch model with PyTorch's own random
init and random batch-norm statistics, export it with the ``pytorch`` and the
``tensorflow`` emitters, load both exports from disk, and print the max |Δ| of their
outputs on random inputs (float32, NHWC for Keras) and the parameter counts both ways.

    python benchmarks/tf_parity.py --samples 5
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

# Set before TensorFlow is imported, or its C++ logging floods the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import torch

from automl_codegen import Architecture
from automl_codegen_plugins.emitters.pytorch import PytorchEmitter
from automl_codegen_plugins.emitters.tensorflow import TensorflowEmitter
from automl_codegen_plugins.torch_model import build_model

#: label → (module under automl_codegen_plugins.spaces, class, args, options)
SPACES = {
    "chain-cnn 1x8x8": ("chain_cnn", "ChainCNNSpace", ((1, 8, 8), 10), {}),
    "chain-cnn 3x32x32": ("chain_cnn", "ChainCNNSpace", ((3, 32, 32), 10), {}),
    "nb201 3x32x32": ("nb201", "NB201Space", ((3, 32, 32), 10), {"channels": 8, "cells_per_stage": 2}),
    "darts-cell 3x32x32": ("darts_cell", "DartsCellSpace", ((3, 32, 32), 10), {"init_channels": 8, "layers": 5}),
}


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def trained_like(arch: Architecture, seed: int) -> torch.nn.Module:
    """PyTorch's own init plus random BN statistics: weights at the scale training leaves."""
    torch.manual_seed(seed)
    model = build_model(arch)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.5, 0.5)
    return model.eval()


def export_both(arch: Architecture, directory: Path, model: torch.nn.Module, tag: str):
    """(PyTorch-emitted module, Keras-emitted model), each loaded from its exported files."""
    PytorchEmitter().export(arch, directory / "pt", model.state_dict())
    TensorflowEmitter().export(arch, directory / "tf", model.state_dict())
    pt = load_module(directory / "pt" / "model.py", f"pt_{tag}").build_model(str(directory / "pt" / "model.pt"))
    tf_module = load_module(directory / "tf" / "model_tf.py", f"tf_{tag}")
    return pt, tf_module.build_model(str(directory / "tf" / "model_tf.weights.h5"))


def sample(label: str, count: int) -> list[Architecture]:
    module, cls, args, options = SPACES[label]
    try:
        found = importlib.import_module(f"automl_codegen_plugins.spaces.{module}")
    except ModuleNotFoundError:
        return []
    space = getattr(found, cls)(*args, **options)
    return [space.to_architecture(space.sample(np.random.default_rng(seed))) for seed in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5, help="architectures per space")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in SPACES:
            for index, arch in enumerate(sample(label, args.samples)):
                tag = f"{len(rows)}"
                pt, keras_model = export_both(arch, Path(tmp) / tag, trained_like(arch, index), tag)
                x = torch.randn(args.batch, *arch.input_shape)
                with torch.no_grad():
                    expected = pt(x).numpy()
                got = np.asarray(keras_model(x.numpy().transpose(0, 2, 3, 1)))
                delta = float(np.abs(got - expected).max())
                pt_params = sum(p.numel() for p in pt.parameters())
                tf_params = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
                rows.append((label, index, delta, float(np.abs(expected).max()), pt_params, tf_params))
    print("| space | arch | max abs diff | max abs output | params PyTorch | params Keras |")
    print("|---|---|---|---|---|---|")
    for label, index, delta, scale, pt_params, tf_params in rows:
        print(f"| {label} | {index} | {delta:.1e} | {scale:.2f} | {pt_params:,} | {tf_params:,} |")
    print()
    for label in SPACES:
        mine = [r for r in rows if r[0] == label]
        if mine:
            worst = max(r[2] for r in mine)
            equal = all(r[4] == r[5] for r in mine)
            print(f"{label}: {len(mine)} architectures, max |Δ| {worst:.1e}, parameter counts equal: {equal}")
        else:
            print(f"{label}: space not installed, skipped")


if __name__ == "__main__":
    main()
