"""Latency against an interleaved reference network: the ratio, the calibration and its cache."""

from __future__ import annotations

import copy
import json
import time

import pytest
import torch
from torch import nn

from automl_codegen import ConfigError
from automl_codegen.testing import tiny_architecture
from automl_codegen_plugins.profilers import _calibration
from automl_codegen_plugins.profilers._calibration import reference_model, reference_ms, time_against_reference
from automl_codegen_plugins.profilers.torch_cpu import TorchCPUProfiler
from automl_codegen_plugins.torch_model import build_model

SHAPE = (1, 8, 8)


def timing(model, **options):
    x = torch.randn(1, *SHAPE)
    return time_against_reference(
        model,
        x,
        threads=1,
        min_run_time=options.get("min_run_time", 0.2),
        warmup=2,
        patience=options.get("patience", 0),
    )


def test_the_reference_itself_measures_a_ratio_of_one():
    twin = copy.deepcopy(reference_model(SHAPE))  # same work, another module
    measured = timing(twin)
    # Measured 0.97-1.03: the two alternate within a millisecond, so they see one machine.
    assert measured.ratio == pytest.approx(1.0, abs=0.15)
    assert measured.latency_ms == pytest.approx(measured.ratio * reference_ms(SHAPE, 1, 1))
    assert min(measured.cv, measured.iqr_ms) >= 0
    assert measured.raw_ms > 0


class Twice(nn.Module):
    """Two copies of the reference on the same input: twice its work, plus one addition."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = copy.deepcopy(reference_model(SHAPE)), copy.deepcopy(reference_model(SHAPE))

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_twice_the_work_measures_about_twice_the_reference():
    assert 1.6 < timing(Twice().eval()).ratio < 2.6  # measured 2.0-2.1


def test_the_reference_is_fixed_and_leaves_the_global_rng_alone():
    _calibration._REFERENCE_MODELS.clear()
    state = torch.random.get_rng_state()
    first = reference_model(SHAPE)
    assert torch.equal(torch.random.get_rng_state(), state)
    _calibration._REFERENCE_MODELS.clear()
    again = reference_model(SHAPE)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True))
    assert not first.training


def test_the_profiler_reports_calibrated_and_raw_latency():
    arch = tiny_architecture()
    metrics = TorchCPUProfiler(min_run_time=0.05, warmup=1).profile(build_model(arch), arch)
    assert {"latency_raw_ms", "latency_reference_ms"} <= set(metrics)
    assert metrics["latency_reference_ms"] == reference_ms(arch.input_shape, 1, 1)
    assert min(metrics["latency_ms"], metrics["latency_raw_ms"]) > 0
    plain = TorchCPUProfiler(min_run_time=0.05, warmup=1, calibrate=False)
    assert "latency_raw_ms" not in plain.measures
    assert set(plain.profile(build_model(arch), arch)) == set(plain.measures)


def test_calibrate_must_be_a_bool():
    with pytest.raises(ConfigError, match="torch-cpu profiler option calibrate must be true or false, got 'yes'"):
        TorchCPUProfiler(calibrate="yes")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CODEGEN_CACHE_DIR", str(tmp_path))
    return tmp_path


KEY = ((3, 4, 4), 2, 1)


def test_the_faster_calibration_is_kept_on_disk(cache_dir):
    assert _calibration._fastest_on_disk(KEY, 0.30) == 0.30  # nothing stored yet: stored now
    stored = json.loads((cache_dir / "cpu-reference.json").read_text())
    (name,) = stored
    assert "input=3x4x4 batch=2 threads=1" in name
    assert stored[name] == 0.30
    # A later process calibrated in a slow phase uses the stored, faster scale...
    assert _calibration._fastest_on_disk(KEY, 0.45) == 0.30
    # ... and one that saw the machine faster replaces it.
    assert _calibration._fastest_on_disk(KEY, 0.25) == 0.25
    assert json.loads((cache_dir / "cpu-reference.json").read_text())[name] == 0.25
    assert _calibration._fastest_on_disk(((3, 4, 4), 2, 2), 0.5) == 0.5  # other threads: another entry


def test_an_unreadable_cache_only_costs_the_shared_scale(cache_dir):
    (cache_dir / "cpu-reference.json").write_text("{not json")
    assert _calibration._fastest_on_disk(KEY, 0.3) == 0.3
    assert json.loads((cache_dir / "cpu-reference.json").read_text())  # rewritten whole
    blocked = cache_dir / "file"
    blocked.write_text("")
    # The cache directory cannot be created (a file is in the way): the process keeps its own.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOML_CODEGEN_CACHE_DIR", str(blocked / "sub"))
        assert _calibration._fastest_on_disk(KEY, 0.7) == 0.7


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTOML_CODEGEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _calibration.cache_file() == tmp_path / "automl-codegen" / "cpu-reference.json"


def test_a_disturbed_window_is_measured_again_for_up_to_patience_seconds(monkeypatch):
    # Pretend the machine once ran the reference a hundred times faster: every window now
    # looks disturbed, so the timing keeps trying until its patience runs out.
    monkeypatch.setitem(_calibration._REFERENCE_MS, (SHAPE, 1, 1), reference_ms(SHAPE, 1, 1) / 100)
    twin = copy.deepcopy(reference_model(SHAPE))
    started = time.perf_counter()
    once = timing(twin, min_run_time=0.05)
    assert time.perf_counter() - started < 0.4  # patience 0: one window
    assert once.slowdown > 50
    started = time.perf_counter()
    timing(twin, min_run_time=0.05, patience=0.5)
    assert time.perf_counter() - started >= 0.5


def test_patience_must_be_seconds():
    with pytest.raises(ConfigError, match="option patience must be a number of seconds >= 0, got -1"):
        TorchCPUProfiler(patience=-1)
