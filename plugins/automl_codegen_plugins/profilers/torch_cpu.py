"""The `torch-cpu` profiler: parameters, FLOPs, CPU latency and peak memory of a built model."""

from __future__ import annotations

import statistics
from typing import Any

import attrs

from automl_codegen import hookimpl
from automl_codegen.options import (
    OptionError,
    PluginOptions,
    boolean,
    finite_number,
    is_integer,
    is_number,
    structure_options,
)

from ._memory import MB, activation_bytes, measured_forward_peak_bytes, module_bytes

__all__ = ["TorchCPUOptions", "TorchCPUProfiler", "clear_cache"]

_NAME = "torch-cpu"

# (architecture fingerprint, device, batch size, threads) -> measurements. Latency and
# memory depend on the network's structure, not on its weights, so a model measured
# once in this process is not measured again (evolution re-proposes the same network
# often, and re-measuring would only add noise and minutes).
_CACHE: dict[tuple[str, str, int, int, bool, bool], dict[str, float]] = {}


def clear_cache() -> None:
    """Forget every cached measurement of this process (tests, or after changing the machine's load)."""
    _CACHE.clear()


@attrs.frozen(kw_only=True)
class TorchCPUOptions(PluginOptions):
    """The options of :class:`TorchCPUProfiler`, checked (see its docstring)."""

    invalid_message = "{owner} option {name} must be {expected}, got {value!r}"

    batch_size: int = attrs.field(default=1, metadata={"help": "samples per timed call, >= 1"})
    threads: int = attrs.field(default=1, metadata={"help": "torch threads while timing, >= 1"})
    min_run_time: float = attrs.field(default=0.2, metadata={"help": "seconds of timed calls per measurement, > 0"})
    warmup: int = attrs.field(default=5, metadata={"help": "untimed calls first, >= 0"})
    memory: bool = attrs.field(default=True, validator=boolean(), metadata={"help": "measure the peak memory"})
    cache: bool = attrs.field(
        default=True, validator=boolean(), metadata={"help": "reuse the measurements of a network already profiled"}
    )
    calibrate: bool = attrs.field(
        default=True, validator=boolean(), metadata={"help": "time against a reference network (steadier ranks)"}
    )
    patience: float = attrs.field(
        default=2.0,
        validator=finite_number(0, expected="a number of seconds >= 0"),
        metadata={"help": "seconds to spend re-measuring a disturbed window"},
    )

    def __attrs_post_init__(self) -> None:
        # One message for the four sizes, as this profiler always worded it.
        ok = is_integer(self.batch_size) and self.batch_size >= 1 and is_integer(self.threads) and self.threads >= 1
        ok = ok and is_number(self.min_run_time) and self.min_run_time > 0
        if not (ok and is_integer(self.warmup) and self.warmup >= 0):
            raise OptionError(
                "{owner} needs batch_size >= 1, threads >= 1, min_run_time > 0 and warmup >= 0; "
                "got {batch_size}, {threads}, {min_run_time}, {warmup}",
                owner=type(self).__name__,
                batch_size=self.batch_size,
                threads=self.threads,
                min_run_time=self.min_run_time,
                warmup=self.warmup,
            )


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

    Options = TorchCPUOptions

    def __init__(self, **options: Any):
        self.options = o = structure_options(self.Options, options, owner=f"{_NAME} profiler")
        self.batch_size = o.batch_size
        self.threads = o.threads
        self.min_run_time = o.min_run_time
        self.warmup = o.warmup
        self.memory = memory = o.memory
        self.cache = o.cache
        self.calibrate = calibrate = o.calibrate
        self.patience = float(o.patience)
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
    register(_NAME, TorchCPUProfiler)
