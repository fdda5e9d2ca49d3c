"""The `torch-cuda` profiler: latency from CUDA events and peak GPU memory of a built model."""

from __future__ import annotations

import statistics
from typing import Any

import attrs

from automl_codegen import ConfigError, hookimpl
from automl_codegen.options import OptionError, PluginOptions, boolean, is_integer, structure_options

from ._memory import MB, activation_bytes, module_bytes

__all__ = ["TorchCUDAOptions", "TorchCUDAProfiler"]

_NAME = "torch-cuda"

_CACHE: dict[tuple[str, str, int], dict[str, float]] = {}


@attrs.frozen(kw_only=True)
class TorchCUDAOptions(PluginOptions):
    """The options of :class:`TorchCUDAProfiler`, checked (see its docstring)."""

    invalid_message = "{owner} option {name} must be {expected}, got {value!r}"

    batch_size: int = attrs.field(default=1, metadata={"help": "samples per forward pass, >= 1"})
    warmup: int = attrs.field(default=10, metadata={"help": "untimed passes first, >= 0"})
    repeats: int = attrs.field(default=50, metadata={"help": "timed passes, >= 3"})
    train_step: bool = attrs.field(
        default=True, validator=boolean(), metadata={"help": "also measure one training step's peak memory"}
    )
    cache: bool = attrs.field(
        default=True, validator=boolean(), metadata={"help": "reuse the measurements of a network already profiled"}
    )

    def __attrs_post_init__(self) -> None:
        # One message for the three sizes, as this profiler always worded it.
        sizes = ((self.batch_size, 1), (self.warmup, 0), (self.repeats, 3))
        if not all(is_integer(value) and value >= least for value, least in sizes):
            raise OptionError(
                "{owner} needs batch_size >= 1, warmup >= 0 and repeats >= 3; got {batch_size}, {warmup}, {repeats}",
                owner=type(self).__name__,
                batch_size=self.batch_size,
                warmup=self.warmup,
                repeats=self.repeats,
            )


class TorchCUDAProfiler:
    """Measures a model on a CUDA GPU: inference latency and peak memory, and the memory of one training step.

    * ``latency_ms``: the median over ``repeats`` forward passes, each timed with a pair
      of ``torch.cuda.Event(enable_timing=True)`` around it after ``warmup`` passes
      (the GPU clock, so Python overhead between launches is not counted twice);
      ``latency_iqr_ms`` and ``latency_cv`` (standard deviation / mean) say how steady.
    * ``peak_memory_mb``: parameters, buffers and input, plus what one no-grad forward
      pass allocates at its peak: ``torch.cuda.max_memory_allocated`` after
      ``torch.cuda.reset_peak_memory_stats``, less what was allocated before the pass
      (so other tensors of the process are not counted).
    * ``train_peak_memory_mb``: the same over one training step (forward, cross-entropy
      backward, SGD update with momentum) at ``batch_size`` (at least 2) on a copy of the
      model: gradients and optimizer state are part of its peak.
    * ``activation_memory_mb``: the analytic estimate from the IR's shapes (as
      ``torch-cpu``); ``param_memory_mb``: bytes of parameters and buffers; ``params``.

    Measurements are cached per process by (architecture fingerprint, device, batch size).

    Args:
        batch_size: samples per forward pass (>= 1).
        warmup: untimed passes first (>= 0).
        repeats: timed passes (>= 3).
        train_step: also measure one training step's peak memory.
        cache: reuse the measurements of an architecture already profiled on the device.

    Raises:
        ConfigError: on bad options, or when this torch sees no CUDA device.
    """

    measures = (
        "params",
        "latency_ms",
        "latency_iqr_ms",
        "latency_cv",
        "peak_memory_mb",
        "train_peak_memory_mb",
        "activation_memory_mb",
        "param_memory_mb",
    )

    Options = TorchCUDAOptions

    def __init__(self, **options: Any):
        self.options = o = structure_options(self.Options, options, owner=f"{_NAME} profiler")
        import torch

        if not torch.cuda.is_available():
            msg = (
                f"torch-cuda profiler: this torch ({torch.__version__}) sees no CUDA device, so there is "
                f"nothing to measure; use --profiler torch-cpu, or a CUDA build of torch on a machine with a GPU"
            )
            raise ConfigError(msg)
        self.batch_size = o.batch_size
        self.warmup = o.warmup
        self.repeats = o.repeats
        self.train_step = o.train_step
        self.cache = o.cache
        if not self.train_step:
            self.measures = tuple(m for m in self.measures if m != "train_peak_memory_mb")

    def profile(self, model: Any, architecture: Any, device: str = "cuda") -> dict[str, float]:
        import torch

        target = torch.device(device if str(device).startswith("cuda") else "cuda")
        if target.index is None:
            target = torch.device("cuda", torch.cuda.current_device())
        key = (architecture.fingerprint(), str(target), self.batch_size)
        if self.cache and key in _CACHE:
            return dict(_CACHE[key])
        metrics = self._measure(model, architecture, target)
        if self.cache:
            _CACHE[key] = dict(metrics)
        return metrics

    def _measure(self, model: Any, architecture: Any, device: Any) -> dict[str, float]:
        import copy

        import torch

        model = model.to(device).eval()
        x = torch.randn(self.batch_size, *architecture.input_shape, device=device)
        metrics: dict[str, float] = {
            "params": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            "param_memory_mb": module_bytes(model) / MB,
            "activation_memory_mb": activation_bytes(architecture, self.batch_size) / MB,
        }
        with torch.cuda.device(device), torch.no_grad():
            for _ in range(self.warmup):
                model(x)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            model(x)
            torch.cuda.synchronize()
            forward = torch.cuda.max_memory_allocated() - before
            held = module_bytes(model) + x.numel() * x.element_size()
            metrics["peak_memory_mb"] = (held + forward) / MB
            event = torch.cuda.Event
            pairs = [(event(enable_timing=True), event(enable_timing=True)) for _ in range(self.repeats)]
            for start, end in pairs:
                start.record()
                model(x)
                end.record()
            torch.cuda.synchronize()
        times = sorted(start.elapsed_time(end) for start, end in pairs)  # milliseconds
        quartiles = statistics.quantiles(times, n=4)
        mean = statistics.fmean(times)
        metrics.update(
            {
                "latency_ms": statistics.median(times),
                "latency_iqr_ms": quartiles[2] - quartiles[0],
                "latency_cv": statistics.pstdev(times) / mean if mean > 0 else 0.0,
            }
        )
        if self.train_step:
            metrics["train_peak_memory_mb"] = self._train_step_peak(copy.deepcopy(model), architecture, device)
        return metrics

    def _train_step_peak(self, model: Any, architecture: Any, device: Any) -> float:
        import torch

        model.train()
        # BatchNorm cannot train on a single sample.
        batch = max(self.batch_size, 2)
        x = torch.randn(batch, *architecture.input_shape, device=device)
        y = torch.randint(0, architecture.num_classes, (batch,), device=device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        with torch.cuda.device(device):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            torch.cuda.synchronize()
            step = torch.cuda.max_memory_allocated() - before
            peak = (module_bytes(model) + x.numel() * x.element_size() + step) / MB
        del model, optimizer, x, y
        torch.cuda.empty_cache()
        return peak


@hookimpl
def register_profilers(register):
    register(_NAME, TorchCUDAProfiler)
