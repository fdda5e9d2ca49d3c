"""The onnxruntime profiler: export parity, timing and its spread, cache, options, missing packages, a search."""

from __future__ import annotations

import math
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from ir_cases import chain_cnn

from automl_codegen import ConfigError, NeuralArchitectureSearch, PluginError, SearchResult
from automl_codegen.testing import tiny_architecture
from automl_codegen_plugins.profilers import onnxruntime as ort_profiler
from automl_codegen_plugins.profilers.onnxruntime import OnnxRuntimeProfiler, export_onnx, inference_session
from automl_codegen_plugins.spaces.nb201 import NB201Space
from automl_codegen_plugins.torch_model import build_model

needs_ort = pytest.mark.skipif(
    find_spec("onnxruntime") is None or find_spec("onnx") is None,
    reason="needs the onnx extra: pip install 'automl-codegen[onnx]'",
)
FAST = {"warmup": 1, "repeats": 5}
NB201_CELL = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
MISSING = "onnxruntime profiler needs the package {!r} {}, and it is not installed: pip install 'automl-codegen[onnx]'"


@pytest.fixture(autouse=True)
def _fresh_cache():
    ort_profiler.clear_cache()
    yield
    ort_profiler.clear_cache()


def nb201_cell():
    return NB201Space((3, 8, 8), 10, channels=4, cells_per_stage=1).to_architecture(NB201_CELL)


def trained_like(arch):
    """A built model whose batch-norm statistics are not the defaults, so eval mode matters."""
    torch.manual_seed(1)
    model = build_model(arch)
    with torch.no_grad():
        model(torch.randn(16, *arch.input_shape))  # train mode: updates running statistics
    return model.eval()


def test_the_plugin_registers_the_profiler_and_its_objective():
    profilers, objectives = [], []
    ort_profiler.register_profilers(lambda name, factory: profilers.append((name, factory)))
    ort_profiler.register_objectives(lambda name, objective: objectives.append((name, objective)))
    assert profilers == [("onnxruntime", OnnxRuntimeProfiler)]
    assert [(name, o.direction, o.needs) for name, o in objectives] == [("ort_latency_ms", "min", ("ort_latency_ms",))]


def test_loading_the_plugin_imports_no_onnx_package():
    code = (
        "import sys; import automl_codegen_plugins.profilers.onnxruntime; "
        "print(sorted(m for m in ('onnx', 'onnxruntime', 'onnxscript', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_ort
@pytest.mark.parametrize("case", [chain_cnn, nb201_cell], ids=["chain-cnn", "nb201-cell"])
def test_onnx_runtime_computes_what_the_module_computes(case):
    arch = case()
    model = trained_like(arch)
    x = torch.randn(3, *arch.input_shape)
    session = inference_session(export_onnx(model, x))
    assert [i.shape for i in session.get_inputs()] == [[3, *arch.input_shape]]
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == (3, arch.num_classes)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert not model.training  # left in the mode it was in


@needs_ort
def test_export_leaves_a_training_model_in_training_mode():
    arch = chain_cnn()
    model = build_model(arch)
    export_onnx(model, torch.randn(1, *arch.input_shape))
    assert model.training


@needs_ort
def test_profile_reports_the_median_latency_its_spread_and_threads():
    arch = tiny_architecture()
    profiler = OnnxRuntimeProfiler(threads=1, **FAST)
    metrics = profiler.profile(build_model(arch).eval(), arch)
    assert (
        set(metrics)
        == set(profiler.measures)
        == {
            "ort_latency_ms",
            "ort_latency_iqr_ms",
            "ort_latency_cv",
            "ort_threads",
        }
    )
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0 < metrics["ort_latency_ms"] < 1000
    assert metrics["ort_latency_iqr_ms"] >= 0
    assert 0 <= metrics["ort_latency_cv"] < 10
    assert metrics["ort_threads"] == 1.0


@needs_ort
def test_as_latency_feeds_the_standard_latency_names():
    arch = tiny_architecture()
    profiler = OnnxRuntimeProfiler(as_latency=True, threads=2, **FAST)
    metrics = profiler.profile(build_model(arch).eval(), arch)
    assert set(metrics) == set(profiler.measures)
    for name in ("latency_ms", "latency_iqr_ms", "latency_cv"):
        assert metrics[name] == metrics[f"ort_{name}"]
    assert metrics["latency_threads"] == metrics["ort_threads"] == 2.0


@needs_ort
def test_cache_hit_does_not_export_again(monkeypatch):
    exported = []
    real = OnnxRuntimeProfiler._export

    def counting(self, model, example):
        exported.append((tuple(example.shape), self.threads))
        return real(self, model, example)

    monkeypatch.setattr(OnnxRuntimeProfiler, "_export", counting)
    arch = tiny_architecture()
    first = OnnxRuntimeProfiler(**FAST).profile(build_model(arch).eval(), arch)
    again = OnnxRuntimeProfiler(**FAST).profile(build_model(arch).eval(), arch)  # another instance, other weights
    assert again == first
    assert exported == [((1, 1, 8, 8), 1)]
    OnnxRuntimeProfiler(batch_size=4, **FAST).profile(build_model(arch).eval(), arch)
    OnnxRuntimeProfiler(threads=2, **FAST).profile(build_model(arch).eval(), arch)
    other = tiny_architecture(num_classes=3)
    OnnxRuntimeProfiler(**FAST).profile(build_model(other).eval(), other)
    OnnxRuntimeProfiler(cache=False, **FAST).profile(build_model(arch).eval(), arch)
    assert exported == [((1, 1, 8, 8), 1), ((4, 1, 8, 8), 1), ((1, 1, 8, 8), 2), ((1, 1, 8, 8), 1), ((1, 1, 8, 8), 1)]
    again["ort_latency_ms"] = -1.0  # callers get copies
    assert OnnxRuntimeProfiler(**FAST).profile(build_model(arch).eval(), arch) == first


@needs_ort
def test_batch_size_is_the_exported_and_timed_shape(monkeypatch):
    sessions = []
    real = ort_profiler.inference_session

    def keeping(onnx_model, **options):
        sessions.append(real(onnx_model, **options))
        return sessions[-1]

    monkeypatch.setattr(ort_profiler, "inference_session", keeping)
    arch = nb201_cell()
    metrics = OnnxRuntimeProfiler(batch_size=8, **FAST).profile(trained_like(arch), arch)
    assert [i.shape for i in sessions[0].get_inputs()] == [[8, 3, 8, 8]]
    assert [o.shape for o in sessions[0].get_outputs()] == [[8, 10]]
    assert metrics["ort_latency_ms"] > 0


@needs_ort
def test_an_export_that_computes_something_else_is_an_error(monkeypatch):
    arch = chain_cnn()
    torch.manual_seed(2)
    impostor = build_model(arch)  # same graph, other weights
    monkeypatch.setattr(OnnxRuntimeProfiler, "_export", lambda self, model, example: export_onnx(impostor, example))
    with pytest.raises(
        PluginError,
        match=r"the ONNX graph that the torchscript exporter made of ChainNet computes something else than the module .* try exporter='dynamo'$",
    ):
        OnnxRuntimeProfiler(**FAST).profile(trained_like(arch), arch)


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"threads": 0}, {"warmup": -1}, {"repeats": 2}],
    ids=lambda o: next(iter(o)),
)
def test_bad_options_are_refused(options):
    with pytest.raises(ConfigError, match="onnxruntime profiler needs batch_size >= 1, threads >= 1"):
        OnnxRuntimeProfiler(**options)


def test_an_unknown_exporter_is_refused():
    with pytest.raises(ConfigError, match=r"unknown exporter 'tflite'; choose one of torchscript, dynamo"):
        OnnxRuntimeProfiler(exporter="tflite")


@needs_ort
def test_an_unavailable_provider_names_those_there_are():
    with pytest.raises(ConfigError, match=r"has no 'NoSuchExecutionProvider'; it has .*CPUExecutionProvider"):
        OnnxRuntimeProfiler(provider="NoSuchExecutionProvider")


@pytest.mark.parametrize(
    ("blocked", "exporter", "why"),
    [
        ("onnxruntime", "torchscript", "to run the exported model"),
        ("onnx", "torchscript", "for the torchscript exporter"),
        ("onnxscript", "dynamo", "for the dynamo exporter"),
    ],
)
def test_a_missing_package_says_which_extra_to_install(monkeypatch, blocked, exporter, why):
    monkeypatch.setitem(sys.modules, blocked, None)  # makes `import <blocked>` fail as if not installed
    with pytest.raises(ConfigError) as info:
        OnnxRuntimeProfiler(exporter=exporter)
    assert str(info.value) == MISSING.format(blocked, why)


def test_without_onnxruntime_the_profiler_is_listed_but_refuses_to_run(monkeypatch):
    from automl_codegen.testing import registry_with

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    registry = registry_with()
    assert "onnxruntime" in registry.names("profiler")
    with pytest.raises(ConfigError, match=r"needs the package 'onnxruntime'.*pip install 'automl-codegen\[onnx\]'"):
        NeuralArchitectureSearch(dataset="synthetic", profilers=["onnxruntime"], progress=False)


@needs_ort
@pytest.mark.slow  # the torch.export-based exporter takes seconds per network
@pytest.mark.skipif(find_spec("onnxscript") is None, reason="the dynamo exporter needs onnxscript")
def test_the_dynamo_exporter_agrees_with_the_module():
    arch = chain_cnn()
    model = trained_like(arch)
    x = torch.randn(2, *arch.input_shape)
    (got,) = inference_session(export_onnx(model, x, exporter="dynamo")).run(None, {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)


@needs_ort
def test_a_search_records_the_onnxruntime_measurements_with_each_trial(tmp_path):
    nas = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 120, "num_classes": 3},
        objectives=["accuracy", "ort_latency_ms"],
        constraints=["ort_latency_cv < 100"],
        profilers=["onnxruntime"],
        profiler_options={"onnxruntime": FAST},
        budget=2,
        epochs=1,
        seed=0,
        progress=False,
        run_dir=tmp_path / "run",
        strategy_options={"population_size": 2},
    )
    nas.search()
    trials = SearchResult.load(tmp_path / "run").trials  # as recorded in the journal
    assert len(trials) == 2
    for trial in trials:
        assert trial.status == "complete", trial
        assert trial.metrics["ort_latency_ms"] > 0
        assert trial.metrics["ort_latency_cv"] >= 0
        assert trial.metrics["ort_threads"] == 1.0
        assert "latency_ms" not in trial.metrics  # torch-cpu was not asked for
