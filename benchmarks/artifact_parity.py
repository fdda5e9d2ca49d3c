"""Deployment files of sampled architectures: ONNX and TFLite against the PyTorch model.

For each architecture sampled from every search space (the spaces and weights of
``tf_parity.py``: PyTorch's init plus random batch-norm statistics), export it with the
``onnx`` and ``tflite`` emitters, run each file in its own runtime (ONNX Runtime, the
TFLite interpreter) on random inputs at batch 1 and 16, and print the max |Δ| from the
PyTorch model, the parity the export recorded, the file size and the export time.

    python benchmarks/artifact_parity.py --samples 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tf_parity import SPACES, sample, trained_like

from automl_codegen_plugins.emitters.onnx import OnnxEmitter
from automl_codegen_plugins.emitters.tflite import TfliteEmitter
from automl_codegen_plugins.emitters.tflite import _emitter as tflite

EMITTERS = {"onnx": OnnxEmitter(), "tflite": TfliteEmitter()}


def run_file(kind: str, path: Path, x: np.ndarray) -> np.ndarray:
    if kind == "onnx":
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    return tflite.run(path.read_bytes(), np.ascontiguousarray(x.transpose(0, 2, 3, 1)))


def recorded_parity(kind: str, paths: list[Path]) -> float:
    if kind == "onnx":
        props = {p.key: p.value for p in onnx.load(str(paths[0])).metadata_props}
        return json.loads(props["parity_max_abs_diff"])
    return json.loads(paths[1].read_text())["parity_max_abs_diff"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2, help="architectures per space")
    args = parser.parse_args()
    print("| space | arch | emitter | max abs diff (batch 1, 16) | recorded at export | file | export s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label in SPACES:
            for index, arch in enumerate(sample(label, args.samples)):
                model = trained_like(arch, index)
                for kind, emitter in EMITTERS.items():
                    started = time.perf_counter()
                    paths = emitter.export(arch, Path(tmp) / f"{label}-{index}-{kind}", model.state_dict())
                    seconds = time.perf_counter() - started
                    delta = 0.0
                    for batch in (1, 16):
                        x = torch.randn(batch, *arch.input_shape)
                        with torch.no_grad():
                            expected = model(x).numpy()
                        delta = max(delta, float(np.abs(run_file(kind, paths[0], x.numpy()) - expected).max()))
                    size = paths[0].stat().st_size / 1e6
                    parity = recorded_parity(kind, paths)
                    cells = [label, index, kind, f"{delta:.1e}", f"{parity:.1e}", f"{size:.2f} MB", f"{seconds:.1f}"]
                    print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
