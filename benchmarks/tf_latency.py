"""CPU inference latency of the TensorFlow-emitted model against the PyTorch-emitted one.

For a few chain-cnn architectures (the space's hand-designed default and random
samples), export both ways with the same weights and time, on the same number of
threads: the PyTorch module (eval, no_grad) and the Keras model run as a ``tf.function``
graph, at batch 1 and 64, and the TFLite conversion of the Keras model (XNNPACK, the
interpreter's default) at batch 1. Prints a markdown table and the ratios to PyTorch
(above 1: slower than PyTorch). Each figure is the median of single calls after warm-up.

    python benchmarks/tf_latency.py --samples 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# Set before TensorFlow is imported, or its C++ logging floods the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import torch
from tf_parity import export_both, trained_like

from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace


def median_ms(call: Callable[[], object], min_run_time: float, warmup: int = 10) -> float:
    """Median wall time of one call, in milliseconds."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < min_run_time or len(times) < 20:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1e3


def tflite_runner(keras_model, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    with warnings.catch_warnings():
        # tf.lite.Interpreter is deprecated for ai_edge_litert, which these machines lack.
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]["index"]
    result = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(given, x)
        interpreter.invoke()
        return interpreter.get_tensor(result)

    return run


def measure(pt, graph, lite, arch, min_run_time: float) -> tuple[float, dict[tuple[str, int], float]]:
    """Max |Δ| of the TF and TFLite outputs against PyTorch's, and the timings in ms."""
    timings, delta = {}, 0.0
    for batch in (1, 64):
        x = torch.randn(batch, *arch.input_shape)
        x_nhwc = tf.constant(x.numpy().transpose(0, 2, 3, 1))
        with torch.no_grad():
            expected = pt(x).numpy()
            timings["pt", batch] = median_ms(lambda x=x: pt(x), min_run_time)
        delta = max(delta, float(np.abs(graph(x_nhwc).numpy() - expected).max()))
        timings["tf", batch] = median_ms(lambda x=x_nhwc: graph(x).numpy(), min_run_time)
        if batch == 1:
            x_array = x_nhwc.numpy()
            delta = max(delta, float(np.abs(lite(x_array) - expected).max()))
            timings["lite", 1] = median_ms(lambda x=x_array: lite(x), min_run_time)
    return delta, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=3, help="random architectures besides the default one")
    parser.add_argument("--input", type=int, nargs=3, default=[3, 32, 32], metavar=("C", "H", "W"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per measurement")
    args = parser.parse_args()
    # Before TensorFlow starts its runtime: the same thread budget for every framework.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    torch.set_num_threads(args.threads)
    space = ChainCNNSpace(tuple(args.input), 10)
    genotypes = [("default", space.default_genotype())]
    genotypes += [(f"sample {seed}", space.sample(np.random.default_rng(seed))) for seed in range(args.samples)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, genotype) in enumerate(genotypes):
            arch = space.to_architecture(genotype)
            pt, keras_model = export_both(arch, Path(tmp) / str(index), trained_like(arch, index), str(index))
            graph = tf.function(lambda x, model=keras_model: model(x, training=False))
            delta, timings = measure(pt, graph, tflite_runner(keras_model, args.threads), arch, args.min_run_time)
            rows.append((label, arch.num_params, delta, timings))
    print(f"CPU, {args.threads} thread(s), input {tuple(args.input)}; times in ms (median of single calls)\n")
    print(
        "| arch | params | max abs diff | PyTorch b1 | TF b1 | TF/PT b1 | PyTorch b64 | TF b64 | TF/PT b64 "
        "| TFLite b1 | TFLite/PT b1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {"tf1": [], "tf64": [], "lite1": []}
    for label, params, delta, t in rows:
        tf1, tf64, lite1 = t["tf", 1] / t["pt", 1], t["tf", 64] / t["pt", 64], t["lite", 1] / t["pt", 1]
        for key, value in zip(ratios, (tf1, tf64, lite1), strict=True):
            ratios[key].append(value)
        print(
            f"| {label} | {params:,} | {delta:.1e} | {t['pt', 1]:.3f} | {t['tf', 1]:.3f} | {tf1:.2f} "
            f"| {t['pt', 64]:.2f} | {t['tf', 64]:.2f} | {tf64:.2f} | {t['lite', 1]:.3f} | {lite1:.2f} |"
        )
    print(
        f"\nmedian ratios to PyTorch: TF batch 1 {statistics.median(ratios['tf1']):.2f}, "
        f"TF batch 64 {statistics.median(ratios['tf64']):.2f}, "
        f"TFLite batch 1 {statistics.median(ratios['lite1']):.2f}"
    )


if __name__ == "__main__":
    main()
