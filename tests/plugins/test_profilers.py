"""Profilers: torch-cpu (latency spread, measured and analytic memory, cache), torch-cuda, table-latency."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from automl_codegen import Architecture, ConfigError, Node
from automl_codegen.testing import tiny_architecture
from automl_codegen_plugins import objectives
from automl_codegen_plugins.profilers import table, torch_cpu, torch_cuda
from automl_codegen_plugins.profilers._memory import MB, activation_bytes, measured_forward_peak_bytes
from automl_codegen_plugins.profilers.table import TableLatencyProfiler, load_latency_table, lookup_latency
from automl_codegen_plugins.profilers.torch_cpu import TorchCPUProfiler
from automl_codegen_plugins.profilers.torch_cuda import TorchCUDAProfiler
from automl_codegen_plugins.spaces.nb201 import NB201Space, cell_string
from automl_codegen_plugins.torch_model import build_model

FAST = {"min_run_time": 0.01, "warmup": 1}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "nasbench201"
needs_tables = pytest.mark.skipif(
    not (SHARED / "nb201_device_latency.csv").is_file(), reason=f"NAS-Bench-201 tables absent from {SHARED}"
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ALL_CONV3 = cell_string(["nor_conv_3x3"] * 6)


@pytest.fixture(autouse=True)
def _fresh_cache():
    torch_cpu.clear_cache()
    yield
    torch_cpu.clear_cache()


def wide_architecture(channels: int = 32, size: int = 32) -> Architecture:
    """Activations dominate: a wide 3x3 convolution on a large map, then a small head."""
    return Architecture(
        input_shape=(3, size, size),
        num_classes=10,
        nodes=(
            Node(
                "conv",
                "conv2d",
                ("input_",),
                {"in_channels": 3, "out_channels": channels, "kernel_size": 3, "padding": 1},
            ),
            Node("act", "relu", ("conv",)),
            Node("conv2", "conv2d", ("act",), {"in_channels": channels, "out_channels": channels, "kernel_size": 1}),
            Node("pool", "global_avg_pool", ("conv2",)),
            Node("classifier", "linear", ("pool",), {"in_features": channels, "out_features": 10}),
        ),
        output="classifier",
    )


def registered(module):
    names = []
    module.register_profilers(lambda name, factory: names.append((name, factory)))
    return names


# -- torch-cpu -----------------------------------------------------------------------------------


def test_torch_cpu_reports_everything_it_declares():
    arch = tiny_architecture()
    profiler = TorchCPUProfiler(**FAST)
    metrics = profiler.profile(build_model(arch), arch)
    assert set(metrics) == set(profiler.measures)
    assert set(profiler.measures) == {
        *TorchCPUProfiler.measures,
        "latency_raw_ms",
        "latency_reference_ms",
        "latency_slowdown",
    }
    assert all(math.isfinite(v) and v >= 0 for v in metrics.values())
    assert metrics["params"] == arch.num_params
    assert metrics["latency_ms"] > 0
    assert metrics["latency_threads"] == 1.0
    assert metrics["param_memory_mb"] == pytest.approx(
        sum(t.numel() * t.element_size() for t in build_model(arch).state_dict().values()) / MB
    )


def test_torch_cpu_without_memory_measures_less():
    profiler = TorchCPUProfiler(memory=False, **FAST)
    arch = tiny_architecture()
    metrics = profiler.profile(build_model(arch), arch)
    assert "peak_memory_mb" not in profiler.measures
    assert set(metrics) == set(profiler.measures)
    assert "activation_memory_mb" in metrics  # analytic, costs nothing


def test_analytic_activation_memory_of_the_tiny_network_by_hand():
    # input 1x8x8 (64) is live throughout; conv -> bn -> relu each 8x8x8 (512): two of them
    # are live at once at the peak (an op's input until it has run, and its output).
    assert activation_bytes(tiny_architecture()) == (64 + 512 + 512) * 4
    assert activation_bytes(tiny_architecture(), batch_size=8) == 8 * (64 + 512 + 512) * 4


def test_analytic_activation_memory_walks_blocks():
    space = NB201Space((3, 8, 8), 10, channels=4, cells_per_stage=1)
    arch = space.to_architecture(ALL_CONV3)
    assert arch.blocks
    largest_top_level = max(math.prod(s) for s in arch.shapes.values())
    # A cell of all 3x3 convolutions holds several of its node outputs at once.
    assert activation_bytes(arch) > 2 * largest_top_level * 4


@pytest.mark.parametrize("batch_size", [1, 8])
def test_measured_peak_memory_agrees_with_the_analytic_estimate(batch_size):
    arch = wide_architecture()
    model = build_model(arch).eval()
    metrics = TorchCPUProfiler(batch_size=batch_size, **FAST).profile(model, arch)
    analytic = metrics["activation_memory_mb"] + metrics["param_memory_mb"]
    # The analytic figure leaves out kernel workspaces (im2col buffers), so the
    # allocator sees at least it and, for this network, not more than a few times it.
    assert analytic * 0.9 <= metrics["peak_memory_mb"] <= analytic * 4


def test_measured_forward_peak_grows_with_the_batch():
    arch = wide_architecture()
    model = build_model(arch).eval()
    one = measured_forward_peak_bytes(model, torch.randn(1, *arch.input_shape))
    eight = measured_forward_peak_bytes(model, torch.randn(8, *arch.input_shape))
    assert one > 32 * 32 * 32 * 4 * 0.9  # at least the first convolution's output
    assert 4 * one < eight <= 10 * one


def test_torch_cpu_caches_by_architecture_device_and_batch_size(monkeypatch):
    calls = []
    real = TorchCPUProfiler._measure

    def counting(self, model, architecture):
        calls.append(self.batch_size)
        return real(self, model, architecture)

    monkeypatch.setattr(TorchCPUProfiler, "_measure", counting)
    arch = tiny_architecture()
    first = TorchCPUProfiler(**FAST).profile(build_model(arch), arch)
    again = TorchCPUProfiler(**FAST).profile(build_model(arch), arch)  # another instance, other weights
    assert again == first
    assert calls == [1]
    TorchCPUProfiler(batch_size=2, **FAST).profile(build_model(arch), arch)
    TorchCPUProfiler(**FAST).profile(build_model(tiny_architecture(num_classes=3)), tiny_architecture(num_classes=3))
    TorchCPUProfiler(cache=False, **FAST).profile(build_model(arch), arch)
    assert calls == [1, 2, 1, 1]
    again["latency_ms"] = -1.0  # callers get copies
    assert TorchCPUProfiler(**FAST).profile(build_model(arch), arch) == first


@pytest.mark.parametrize(
    "options", [{"batch_size": 0}, {"threads": 0}, {"min_run_time": 0}, {"warmup": -1}], ids=lambda o: next(iter(o))
)
def test_torch_cpu_refuses_bad_options(options):
    with pytest.raises(ConfigError, match="torch-cpu profiler needs"):
        TorchCPUProfiler(**options)


def test_peak_memory_is_a_builtin_objective():
    objective = {o.name: o for o in objectives.BUILTIN_OBJECTIVES}["peak_memory_mb"]
    assert objective.direction == "min"
    assert objective.needs == ("peak_memory_mb",)
    assert "peak_memory_mb" in TorchCPUProfiler.measures


def test_profilers_register_under_their_names():
    assert registered(torch_cpu) == [("torch-cpu", TorchCPUProfiler)]
    assert registered(torch_cuda) == [("torch-cuda", TorchCUDAProfiler)]
    assert registered(table) == [("table-latency", TableLatencyProfiler)]


# -- torch-cuda ----------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_torch_cuda_says_clearly_that_there_is_no_gpu():
    with pytest.raises(ConfigError, match=r"torch-cuda profiler: this torch \(.*\) sees no CUDA device"):
        TorchCUDAProfiler()


def test_torch_cuda_refuses_bad_options():
    with pytest.raises(ConfigError, match="torch-cuda profiler needs batch_size >= 1"):
        TorchCUDAProfiler(repeats=1)


@needs_cuda
def test_torch_cuda_measures_latency_and_memory():
    arch = wide_architecture()
    profiler = TorchCUDAProfiler(batch_size=8, warmup=2, repeats=10)
    metrics = profiler.profile(build_model(arch), arch, "cuda")
    assert set(metrics) == set(profiler.measures)
    assert metrics["latency_ms"] > 0
    assert metrics["latency_cv"] >= 0
    analytic = metrics["activation_memory_mb"] + metrics["param_memory_mb"]
    assert metrics["peak_memory_mb"] >= 0.9 * analytic
    # A training step keeps activations for backward, plus gradients and momentum.
    assert metrics["train_peak_memory_mb"] > metrics["peak_memory_mb"]
    assert profiler.profile(build_model(arch), arch, "cuda") == metrics  # cached


# -- table-latency -------------------------------------------------------------------------------


@pytest.fixture
def tables(tmp_path):
    cells = [cell_string(["nor_conv_3x3"] * 6), cell_string(["skip_connect"] * 6), cell_string(["none"] * 6)]
    latency = tmp_path / "latency.csv"
    latency.write_text("index,pi5_onnx_latency_ms,other\n0,10.5,1\n1,2.25,1\n2,0.5,1\n")
    index = tmp_path / "accuracy.csv"
    index.write_text("index,arch\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    return latency, index, cells


def test_lookup_latency_by_index_and_by_cell_string(tables):
    latency, index, cells = tables
    table_ = load_latency_table(str(latency), "index", "pi5_onnx_latency_ms", str(index))
    assert lookup_latency(1, table_) == 2.25
    assert lookup_latency("2", table_) == 0.5
    assert lookup_latency(cells[0], table_) == 10.5
    # The inputs of a node may come in any order.
    swapped = "|skip_connect~0|+|skip_connect~1|skip_connect~0|+|skip_connect~2|skip_connect~0|skip_connect~1|"
    assert lookup_latency(swapped, table_) == 2.25


def test_lookup_latency_errors_say_what_is_missing(tables):
    latency, _, cells = tables
    table_ = load_latency_table(str(latency), "index", "pi5_onnx_latency_ms", None)
    with pytest.raises(ConfigError, match="needs index_table=PATH"):
        lookup_latency(cells[0], table_)
    with pytest.raises(ConfigError, match=r"index='7' is not in"):
        lookup_latency(7, table_)
    with pytest.raises(ConfigError, match="is not a NAS-Bench-201 cell string"):
        lookup_latency("|conv~0|", load_latency_table(str(latency), "index", "pi5_onnx_latency_ms", str(tables[1])))
    with pytest.raises(ConfigError, match=r"has no column\(s\) gpu_ms; its columns: index, pi5_onnx_latency_ms, other"):
        load_latency_table(str(latency), "index", "gpu_ms", None)


def test_table_latency_profiler_reads_the_genotype_from_the_context(tables):
    latency, index, cells = tables
    profiler = TableLatencyProfiler(table=latency, index_table=index)
    assert profiler.measures == ("latency_ms", "pi5_onnx_latency_ms")
    metrics = profiler.profile(None, None, "cpu", context=SimpleNamespace(genotype=cells[2]))
    assert metrics == {"latency_ms": 0.5, "pi5_onnx_latency_ms": 0.5}
    with pytest.raises(ConfigError, match="needs the trial's genotype"):
        profiler.profile(None, None, "cpu")


def test_table_latency_profiler_refuses_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="table-latency profiler needs table=PATH"):
        TableLatencyProfiler()
    with pytest.raises(ConfigError, match="is not a file"):
        TableLatencyProfiler(table=tmp_path / "missing.csv")


@needs_tables
def test_table_latency_on_the_real_nasbench201_tables():
    profiler = TableLatencyProfiler(
        table=SHARED / "nb201_device_latency.csv", index_table=SHARED / "nb201_accuracy.csv"
    )
    first_row = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert profiler.profile(None, None, context=SimpleNamespace(genotype=first_row))["latency_ms"] == 1.83050
    assert profiler.profile(None, None, context=SimpleNamespace(genotype=0))["latency_ms"] == 1.83050
    assert len(profiler.table) == 15625
