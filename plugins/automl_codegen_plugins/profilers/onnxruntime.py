"""The `onnxruntime` profiler: the model exported to ONNX and timed under ONNX Runtime.

Many models are deployed not as PyTorch modules but as ONNX graphs run by ONNX Runtime,
whose graph optimisations (fused convolution + batch norm + activation, constant
folding) and kernels rank architectures differently from eager PyTorch. This profiler
measures that deployment: export, check the exported graph computes what the module
computes, then time ``InferenceSession.run`` on a fixed thread count.

It needs the ``onnx`` extra (``pip install 'automl-codegen[onnx]'``): onnxruntime, onnx
for the TorchScript-based exporter and onnxscript for the ``torch.export``-based one.
They are imported when the profiler is created, never when the plugin is listed, so
``automl-codegen plugins`` shows it (and stays fast) on machines without them.
"""

from __future__ import annotations

import importlib
import io
import statistics
import time
import warnings
from typing import Any

import attrs

from automl_codegen import ConfigError, Objective, PluginError, hookimpl
from automl_codegen.options import OptionError, PluginOptions, boolean, check, is_integer, one_of, structure_options

__all__ = ["EXPORTERS", "OnnxRuntimeOptions", "OnnxRuntimeProfiler", "clear_cache", "export_onnx", "inference_session"]

_NAME = "onnxruntime"
_INSTALL = "pip install 'automl-codegen[onnx]'"
_INPUT, _OUTPUT = "input", "logits"

#: exporter name -> the package ``torch.onnx.export`` needs for it, besides onnxruntime.
#: ``torchscript`` is the default: it exports one of the search's small networks in a few
#: tenths of a second where the ``torch.export``-based ``dynamo`` exporter takes seconds,
#: and a search exports every new architecture. Torch has deprecated it, so ``dynamo`` is
#: there for the day it goes.
EXPORTERS = {"torchscript": "onnx", "dynamo": "onnxscript"}

# (architecture fingerprint, provider, batch size, threads, exporter) -> measurements.
# As for torch-cpu: timing depends on the network's structure, not its weights, and
# evolution proposes the same network again and again, so each is exported and timed once.
_CACHE: dict[tuple[str, str, int, int, str], dict[str, float]] = {}

# How far ONNX Runtime's outputs may stray from the module's before the export is
# called wrong: fused kernels reorder float32 sums, so exact equality is not expected.
_RTOL, _ATOL = 1e-3, 1e-4

#: An objective to search on ONNX Runtime latency by name (``--objective ort_latency_ms``);
#: ``as_latency=True`` feeds the standard ``latency_ms`` objective instead.
ORT_LATENCY = Objective(
    "ort_latency_ms", "min", description="median ONNX Runtime inference latency (onnxruntime profiler)", unit="ms"
)


def clear_cache() -> None:
    """Forget every cached measurement of this process (tests, or after changing the machine's load)."""
    _CACHE.clear()


def _require(package: str, why: str) -> Any:
    """Import an optional package, or say which extra brings it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        msg = f"{_NAME} profiler needs the package {package!r} {why}, and it is not installed: {_INSTALL}"
        raise ConfigError(msg) from None


def export_onnx(model: Any, example: Any, *, exporter: str = "torchscript") -> bytes:
    """Serialise ``model`` to an ONNX graph with a fixed input shape (that of ``example``).

    The batch dimension is fixed, not symbolic, as for a server that batches to one size:
    ONNX Runtime then plans memory and picks kernels for exactly that shape. The model is
    exported in eval mode and left in the mode it was in.

    Args:
        model: a ``torch.nn.Module`` mapping ``(N, C, H, W)`` to logits.
        example: an input tensor of the shape to export for, on the model's device.
        exporter: ``"torchscript"`` or ``"dynamo"`` (see :data:`EXPORTERS`).

    Returns:
        The ONNX model as bytes, with one input ``input`` and one output ``logits``.
    """
    import torch

    if exporter not in EXPORTERS:
        msg = f"{_NAME} profiler: unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}"
        raise ConfigError(msg)
    _require(EXPORTERS[exporter], f"for the {exporter} exporter")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            if exporter == "torchscript":
                # Chosen on purpose (see EXPORTERS); its deprecation notice would repeat on every trial.
                warnings.simplefilter("ignore", DeprecationWarning)
                buffer = io.BytesIO()
                torch.onnx.export(model, (example,), buffer, dynamo=False, input_names=[_INPUT], output_names=[_OUTPUT])
                return buffer.getvalue()
            program = torch.onnx.export(
                model, (example,), dynamo=True, input_names=[_INPUT], output_names=[_OUTPUT], verbose=False
            )
            return program.model_proto.SerializeToString()
    finally:
        model.train(was_training)


def inference_session(onnx_model: bytes, *, threads: int = 1, provider: str = "CPUExecutionProvider") -> Any:
    """An ONNX Runtime session for ``onnx_model`` with all graph optimisations, on ``threads`` threads.

    One inter-op thread and sequential execution: running a cell's branches side by side
    would make a figure depend on how many cores happen to be free, so parallelism is
    only inside operators (``intra_op_num_threads``), fixed and recorded, which keeps
    figures comparable between trials.
    """
    ort = _require("onnxruntime", "to run the exported model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: initializer notices are noise in a search's log
    return ort.InferenceSession(onnx_model, options, providers=[provider])


@attrs.frozen(kw_only=True)
class OnnxRuntimeOptions(PluginOptions):
    """The options of :class:`OnnxRuntimeProfiler`, checked (see its docstring); the
    provider is checked against the installed onnxruntime by the profiler."""

    batch_size: int = attrs.field(default=1, metadata={"help": "samples per run, >= 1"})
    threads: int = attrs.field(default=1, metadata={"help": "ONNX Runtime's intra-op threads, >= 1"})
    warmup: int = attrs.field(default=10, metadata={"help": "untimed runs first, >= 0"})
    repeats: int = attrs.field(default=50, metadata={"help": "timed runs, >= 3"})
    provider: str = attrs.field(
        default="CPUExecutionProvider",
        validator=check(lambda v: isinstance(v, str), "an execution provider name"),
        metadata={"help": "the execution provider"},
    )
    exporter: str = attrs.field(
        default="torchscript",
        validator=one_of(EXPORTERS, message="{owner}: unknown exporter {value!r}; choose one of {choices}"),
        metadata={"help": "torchscript (fast) or dynamo (torch.export-based)"},
    )
    as_latency: bool = attrs.field(
        default=False, validator=boolean(), metadata={"help": "also record the figures under the latency_* names"}
    )
    cache: bool = attrs.field(
        default=True, validator=boolean(), metadata={"help": "reuse the measurements of a network already profiled"}
    )

    def __attrs_post_init__(self) -> None:
        # One message for the four sizes, as this profiler always worded it.
        sizes = ((self.batch_size, 1), (self.threads, 1), (self.warmup, 0), (self.repeats, 3))
        if not all(is_integer(value) and value >= least for value, least in sizes):
            raise OptionError(
                "{owner} needs batch_size >= 1, threads >= 1, warmup >= 0 and repeats >= 3; "
                "got {batch_size}, {threads}, {warmup}, {repeats}",
                owner=type(self).__name__,
                batch_size=self.batch_size,
                threads=self.threads,
                warmup=self.warmup,
                repeats=self.repeats,
            )


class OnnxRuntimeProfiler:
    """Measures a model as ONNX Runtime runs it after export to ONNX.

    * ``ort_latency_ms``: the median of ``repeats`` timed ``session.run`` calls at
      ``batch_size`` after ``warmup`` untimed ones (wall clock, numpy input and output
      included, as a caller of ONNX Runtime sees it); ``ort_latency_iqr_ms`` and
      ``ort_latency_cv`` (standard deviation / mean of the calls) say how steady it was.
    * ``ort_threads``: ``intra_op_num_threads``, recorded because it moves the figure
      more than anything else.
    * With ``as_latency=True`` the same figures are recorded as ``latency_ms``,
      ``latency_iqr_ms``, ``latency_cv`` and ``latency_threads`` too, so the standard
      ``latency_ms`` objective and constraints search on ONNX Runtime latency. Do not
      combine that with ``torch-cpu``, which writes the same names: the profiler listed
      last would win.

    Before timing, the session's outputs are compared with the module's on the same
    input; a mismatch is an error rather than a fast but wrong measurement.
    Measurements are cached per process by (architecture fingerprint, provider, batch
    size, threads, exporter) (``cache=False`` turns that off; :func:`clear_cache`
    empties it).

    Args:
        batch_size: samples per run (>= 1); the graph is exported for this batch size.
        threads: ONNX Runtime's intra-op threads (>= 1).
        warmup: untimed runs first (>= 0); the first runs allocate and pick kernels.
        repeats: timed runs (>= 3).
        provider: the execution provider (``CPUExecutionProvider``; another one if the
            installed onnxruntime build has it, e.g. ``CUDAExecutionProvider`` with
            onnxruntime-gpu).
        exporter: ``torchscript`` (default, fast) or ``dynamo`` (``torch.export``-based).
        as_latency: also record the figures under the ``latency_*`` names.
        cache: reuse the measurements of an architecture already profiled.

    Raises:
        ConfigError: on bad options, an unavailable provider, or when onnxruntime (or the
            exporter's package) is not installed.
    """

    Options = OnnxRuntimeOptions

    def __init__(self, **options: Any):
        self.options = o = structure_options(self.Options, options, owner=f"{_NAME} profiler")
        provider, exporter = o.provider, o.exporter
        # Fail when the search is set up, not at its first trial.
        ort = _require("onnxruntime", "to run the exported model")
        _require(EXPORTERS[exporter], f"for the {exporter} exporter")
        available = ort.get_available_providers()
        if provider not in available:
            msg = (
                f"{_NAME} profiler: this onnxruntime ({ort.__version__}) has no {provider!r}; "
                f"it has {', '.join(available)}"
            )
            raise ConfigError(msg)
        self.batch_size = o.batch_size
        self.threads = o.threads
        self.warmup = o.warmup
        self.repeats = o.repeats
        self.provider = provider
        self.exporter = exporter
        self.as_latency = o.as_latency
        self.cache = o.cache
        names = ["ort_latency_ms", "ort_latency_iqr_ms", "ort_latency_cv", "ort_threads"]
        if self.as_latency:
            names += ["latency_ms", "latency_iqr_ms", "latency_cv", "latency_threads"]
        self.measures = tuple(names)

    def profile(self, model: Any, architecture: Any, device: str = "cpu") -> dict[str, float]:
        # ``device`` is where the engine trained; ONNX Runtime runs on its provider instead.
        key = (architecture.fingerprint(), self.provider, self.batch_size, self.threads, self.exporter)
        if self.cache and key in _CACHE:
            return dict(_CACHE[key])
        metrics = self._measure(model, architecture)
        if self.cache:
            _CACHE[key] = dict(metrics)
        return metrics

    def _export(self, model: Any, example: Any) -> bytes:
        return export_onnx(model, example, exporter=self.exporter)

    def _measure(self, model: Any, architecture: Any) -> dict[str, float]:
        import numpy as np
        import torch

        on = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
        generator = torch.Generator().manual_seed(0)
        example = torch.randn(self.batch_size, *architecture.input_shape, generator=generator).to(on)
        session = inference_session(self._export(model, example), threads=self.threads, provider=self.provider)
        feeds = {_INPUT: example.cpu().numpy()}
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                expected = model(example).cpu().numpy()
        finally:
            model.train(was_training)
        (got,) = session.run(None, feeds)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=_RTOL, atol=_ATOL):
            worst = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("nan")
            other = next(name for name in EXPORTERS if name != self.exporter)
            msg = (
                f"{_NAME} profiler: the ONNX graph that the {self.exporter} exporter made of {architecture.name} "
                f"computes something else than the module (outputs {got.shape} vs {expected.shape}, "
                f"max |difference| {worst:.3g}); try exporter={other!r}"
            )
            raise PluginError(msg)
        for _ in range(self.warmup):
            session.run(None, feeds)
        times = []
        for _ in range(self.repeats):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        mean = statistics.fmean(times)
        q1, _, q3 = statistics.quantiles(times, n=4)
        figures = {
            "latency_ms": statistics.median(times) * 1e3,
            "latency_iqr_ms": (q3 - q1) * 1e3,
            "latency_cv": statistics.pstdev(times) / mean if mean > 0 else 0.0,
        }
        metrics = {f"ort_{name}": value for name, value in figures.items()}
        metrics["ort_threads"] = float(self.threads)
        if self.as_latency:
            metrics.update(figures, latency_threads=float(self.threads))
        return metrics


@hookimpl
def register_profilers(register):
    register(_NAME, OnnxRuntimeProfiler)


@hookimpl
def register_objectives(register):
    register(ORT_LATENCY.name, ORT_LATENCY)
