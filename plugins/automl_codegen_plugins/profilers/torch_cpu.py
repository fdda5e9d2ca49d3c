"""The `torch-cpu` profiler: parameters, FLOPs and measured CPU latency of a built model."""

from __future__ import annotations

from automl_codegen import ConfigError, hookimpl


class TorchCPUProfiler:
    """Measures a model the way it will run for a single request on this CPU.

    Latency is the median of ``torch.utils.benchmark.Timer.blocked_autorange`` blocks
    after a warm-up, at ``batch_size`` and a fixed thread count (recorded with the
    result, since it changes the figure more than anything else). FLOPs come from
    ``torch.utils.flop_counter``; parameters are counted from the module.
    """

    measures = ("params", "flops", "latency_ms", "latency_iqr_ms", "latency_threads")

    def __init__(self, *, batch_size: int = 1, threads: int = 1, min_run_time: float = 0.2, warmup: int = 5):
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

    def profile(self, model, architecture, device: str = "cpu") -> dict[str, float]:
        import torch
        from torch.utils import benchmark
        from torch.utils.flop_counter import FlopCounterMode

        model = model.to("cpu").eval()
        x = torch.randn(self.batch_size, *architecture.input_shape)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        with torch.no_grad():
            counter = FlopCounterMode(display=False)
            with counter:
                model(x[:1])
            for _ in range(self.warmup):
                model(x)
            timer = benchmark.Timer(
                stmt="model(x)",
                globals={"model": model, "x": x},
                num_threads=self.threads,
            )
            measurement = timer.blocked_autorange(min_run_time=self.min_run_time)
        return {
            "params": float(params),
            "flops": float(counter.get_total_flops()),
            "latency_ms": measurement.median * 1e3,
            "latency_iqr_ms": measurement.iqr * 1e3,
            "latency_threads": float(self.threads),
        }


@hookimpl
def register_profilers(register):
    register("torch-cpu", TorchCPUProfiler)
