"""The `torch-cpu` profiler: parameters, FLOPs, CPU latency and peak memory of a built model."""

from __future__ import annotations

import statistics
from typing import Any

from automl_codegen import ConfigError, hookimpl

from ._memory import MB, activation_bytes, measured_forward_peak_bytes, module_bytes

__all__ = ["TorchCPUProfiler", "clear_cache"]

# (architecture fingerprint, device, batch size, threads) -> measurements. Latency and
# memory depend on the network's structure, not on its weights, so a model measured
# once in this process is not measured again (evolution re-proposes the same network
# often, and re-measuring would only add noise and minutes).
_CACHE: dict[tuple[str, str, int, int, bool, bool], dict[str, float]] = {}


def clear_cache() -> None:
    """Forget every cached measurement of this process (tests, or after changing the machine's load)."""
    _CACHE.clear()


class TorchCPUProfiler:
    """Measures a model the way it will run for a single request on this CPU.

    * ``latency_ms``: after a warm-up, at ``batch_size`` and a fixed thread count
      (``latency_threads``, recorded since it changes the figure more than anything
      else). With ``calibrate`` (default), chunks of calls alternate with chunks of a
      fixed reference network's, and the latency is the median model/reference ratio
      times the reference's latency calibrated once per process at the machine's
      undisturbed speed (``latency_reference_ms``; see ``_calibration``): machines whose
      speed drifts by tens of percent for seconds at a time (shared cloud CPUs, power
      management) then still rank and re-measure networks consistently;
      ``latency_raw_ms`` is the plain median of the model's chunks. A window in which the
      reference ran over 1.6x slower than calibrated is measured again, for up to
      ``patience`` seconds (2), and the least disturbed one kept (``latency_slowdown``:
      how much slower the reference ran in it). Without ``calibrate``: the median of
      ``torch.utils.benchmark.Timer.blocked_autorange`` blocks. ``latency_iqr_ms`` and
      ``latency_cv`` (standard deviation / mean of the chunks or blocks) say how steady
      it was.
    * ``peak_memory_mb``: **measured** — parameters and buffers, the input, plus the
      peak of the bytes allocated during one forward pass, read from the
      ``torch.profiler`` allocator events (``profile_memory=True``).
    * ``activation_memory_mb``: **analytic**, from the IR's shapes alone — the peak sum
      of float32 activations alive at once in node order (input included, no kernel
      workspaces); ``param_memory_mb``: the bytes of parameters and buffers.
    * ``flops`` from ``torch.utils.flop_counter``; ``params`` counted from the module.

    Measurements are cached per process by (architecture fingerprint, device, batch
    size, threads, calibration), so the same network is profiled once (``cache=False``
    turns that off; :func:`clear_cache` empties it).
    """

    measures = (
        "params",
        "flops",
        "latency_ms",
        "latency_iqr_ms",
        "latency_cv",
        "latency_threads",
        "peak_memory_mb",
        "activation_memory_mb",
        "param_memory_mb",
    )

    def __init__(
        self,
        *,
        batch_size: int = 1,
        threads: int = 1,
        min_run_time: float = 0.2,
        warmup: int = 5,
        memory: bool = True,
        cache: bool = True,
        calibrate: bool = True,
        patience: float = 2.0,
    ):
        if batch_size < 1 or threads < 1 or min_run_time <= 0 or warmup < 0:
            msg = (
                f"torch-cpu profiler needs batch_size >= 1, threads >= 1, min_run_time > 0 and "
                f"warmup >= 0; got {batch_size}, {threads}, {min_run_time}, {warmup}"
            )
            raise ConfigError(msg)
        self.batch_size = batch_size
        self.threads = threads
        self.min_run_time = min_run_time
        self.warmup = warmup
        self.memory = memory
        self.cache = cache
        if not isinstance(calibrate, bool):
            msg = f"torch-cpu profiler option calibrate must be true or false, got {calibrate!r}"
            raise ConfigError(msg)
        self.calibrate = calibrate
        if type(patience) not in (int, float) or not 0 <= patience < float("inf"):
            msg = f"torch-cpu profiler option patience must be a number of seconds >= 0, got {patience!r}"
            raise ConfigError(msg)
        self.patience = float(patience)
        if not memory:
            self.measures = tuple(m for m in self.measures if m not in ("peak_memory_mb", "param_memory_mb"))
        if calibrate:
            self.measures = (*self.measures, "latency_raw_ms", "latency_reference_ms", "latency_slowdown")

    def profile(self, model: Any, architecture: Any, device: str = "cpu") -> dict[str, float]:
        key = (architecture.fingerprint(), "cpu", self.batch_size, self.threads, self.memory, self.calibrate)
        if self.cache and key in _CACHE:
            return dict(_CACHE[key])
        metrics = self._measure(model, architecture)
        if self.cache:
            _CACHE[key] = dict(metrics)
        return metrics

    def _measure(self, model: Any, architecture: Any) -> dict[str, float]:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        model = model.to("cpu").eval()
        x = torch.randn(self.batch_size, *architecture.input_shape)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        metrics: dict[str, float] = {}
        with torch.no_grad():
            counter = FlopCounterMode(display=False)
            with counter:
                model(x[:1])
            if self.memory:
                forward = measured_forward_peak_bytes(model, x)
                held = module_bytes(model)
                metrics["peak_memory_mb"] = (held + x.numel() * x.element_size() + forward) / MB
                metrics["param_memory_mb"] = held / MB
        metrics.update(self._latency(model, x))
        metrics.update(
            {
                "params": float(params),
                "flops": float(counter.get_total_flops()),
                "latency_threads": float(self.threads),
                "activation_memory_mb": activation_bytes(architecture, self.batch_size) / MB,
            }
        )
        return metrics

    def _latency(self, model: Any, x: Any) -> dict[str, float]:
        if self.calibrate:
            from ._calibration import time_against_reference

            timing = time_against_reference(
                model,
                x,
                threads=self.threads,
                min_run_time=self.min_run_time,
                warmup=self.warmup,
                patience=self.patience,
            )
            return {
                "latency_ms": timing.latency_ms,
                "latency_iqr_ms": timing.iqr_ms,
                "latency_cv": timing.cv,
                "latency_raw_ms": timing.raw_ms,
                "latency_reference_ms": timing.reference_ms,
                "latency_slowdown": timing.slowdown,
            }
        import torch
        from torch.utils import benchmark

        with torch.no_grad():
            for _ in range(self.warmup):
                model(x)
            timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=self.threads)
            measurement = timer.blocked_autorange(min_run_time=self.min_run_time)
        times = measurement.times
        mean = statistics.fmean(times)
        return {
            "latency_ms": measurement.median * 1e3,
            "latency_iqr_ms": measurement.iqr * 1e3,
            "latency_cv": statistics.pstdev(times) / mean if mean > 0 else 0.0,
        }


@hookimpl
def register_profilers(register):
    register("torch-cpu", TorchCPUProfiler)
