"""Latency against an interleaved reference network: stable on machines whose speed drifts.

A shared or power-managed CPU runs the same code at different speeds from one second to
the next: on this project's 2-core cloud machine the same sub-millisecond network timed
0.76 ms for half a minute and 1.5 ms for the next, and five repeated measurements of one
network differed by up to 100%. Such phases last seconds, so a measurement window of a few
hundred milliseconds lands entirely inside one, and no statistic of its samples (median,
minimum) can undo it.

What such phases leave almost untouched is the ratio between two networks timed in
alternation: chunks of calls to the measured model and to a fixed reference network take
turns, each pair within a millisecond or two, so both see the same machine. The median
of the per-pair ratios varied by at most 7% over the same repeats (3.7% on average). The
latency reported is that ratio times the reference's latency calibrated once per process
(:func:`reference_ms`): the fastest of many short windows, i.e. the machine at its
undisturbed speed, so every network of a process is measured on one scale.

A calibration that falls entirely into a slow phase would put a whole process on a slower
scale (measured: one process in six calibrated 45% slow), and parallel workers are
separate processes. So the fastest calibration is kept on disk per machine, torch
version, input shape, batch and threads (``$AUTOML_CODEGEN_CACHE_DIR``, else
``$XDG_CACHE_HOME/automl-codegen``, else ``~/.cache/automl-codegen``), and a process
uses the faster of its own and the stored one: scales agree across processes once one
calibration has seen the machine undisturbed. The file is a cache: when it cannot be
read or written, each process keeps its own calibration.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CalibratedTiming", "cache_file", "reference_model", "reference_ms", "time_against_reference"]

# (input shape, batch size, threads) -> the reference's calibrated milliseconds per call.
_REFERENCE_MS: dict[tuple[tuple[int, ...], int, int], float] = {}
_REFERENCE_MODELS: dict[tuple[int, ...], Any] = {}

# Calibration: this many windows of this many seconds; each window's median chunk time,
# and the lowest of those medians.
_CALIBRATION_WINDOWS = 40
_CALIBRATION_WINDOW_S = 0.025
# A chunk repeats a model's call until it lasts about this long, so the timer's own cost
# and the call's jitter stay small against it, and a pair of chunks fits in a short time.
_CHUNK_S = 0.0005
# A window whose reference ran more than this much slower than calibrated is disturbed.
# Undisturbed windows read 1.1-1.4 (the calibration is the fastest ever seen, and the
# model's calls evict the reference's data between chunks); slow phases read 2 and more.
_DISTURBED = 1.6


def reference_model(input_shape: tuple[int, ...]) -> Any:
    """The fixed reference: a small plain CNN (two 3x3 convolutions with BN and ReLU), eval mode.

    The convolutions are 2-D for (C, H, W) inputs and 1-D for (C, L) sequences; (F,)
    vectors get the same layers as an MLP (two linear layers with BN and ReLU). Its
    weights come from a fixed seed (the global torch RNG is left alone); only its
    structure matters for timing.
    """
    import torch
    from torch import nn

    shape = tuple(int(d) for d in input_shape)
    model = _REFERENCE_MODELS.get(shape)
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            if len(shape) == 1:
                model = nn.Sequential(
                    nn.Linear(shape[0], 16, bias=False),
                    nn.BatchNorm1d(16),
                    nn.ReLU(),
                    nn.Linear(16, 32, bias=False),
                    nn.BatchNorm1d(32),
                    nn.ReLU(),
                    nn.Linear(32, 10),
                ).eval()
            else:
                conv, bn, pool = (
                    (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)
                    if len(shape) == 3
                    else (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d)
                )
                model = nn.Sequential(
                    conv(shape[0], 16, 3, padding=1, bias=False),
                    bn(16),
                    nn.ReLU(),
                    conv(16, 32, 3, stride=2, padding=1, bias=False),
                    bn(32),
                    nn.ReLU(),
                    pool(1),
                    nn.Flatten(),
                    nn.Linear(32, 10),
                ).eval()
        _REFERENCE_MODELS[shape] = model
    return model


def _chunk_size(model: Any, x: Any) -> int:
    """Calls per chunk so that a chunk lasts about ``_CHUNK_S``."""
    started = time.perf_counter()
    model(x)
    once = max(time.perf_counter() - started, 1e-6)
    return max(1, min(1000, round(_CHUNK_S / once)))


def _time_chunk(model: Any, x: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        model(x)
    return (time.perf_counter() - started) / calls


def reference_ms(input_shape: tuple[int, ...], batch_size: int, threads: int) -> float:
    """The reference network's milliseconds per call at this machine's undisturbed speed.

    Calibrated once per process and (shape, batch, threads): the lowest median of
    ``_CALIBRATION_WINDOWS`` short windows (one second in all). Must run with torch set
    to ``threads`` threads and gradients off (as :func:`time_against_reference` does).
    """
    import torch

    key = (tuple(int(d) for d in input_shape), int(batch_size), int(threads))
    if key not in _REFERENCE_MS:
        model = reference_model(key[0])
        x = torch.randn(batch_size, *key[0], generator=torch.Generator().manual_seed(0))
        for _ in range(5):
            model(x)
        calls = _chunk_size(model, x)
        medians = []
        for _ in range(_CALIBRATION_WINDOWS):
            chunks = []
            end = time.perf_counter() + _CALIBRATION_WINDOW_S
            while not chunks or time.perf_counter() < end:
                chunks.append(_time_chunk(model, x, calls))
            medians.append(statistics.median(chunks))
        _REFERENCE_MS[key] = _fastest_on_disk(key, min(medians) * 1e3)
    return _REFERENCE_MS[key]


def cache_file() -> Path:
    """Where calibrations are kept (see the module documentation)."""
    root = os.environ.get("AUTOML_CODEGEN_CACHE_DIR")
    if root:
        return Path(root) / "cpu-reference.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "automl-codegen" / "cpu-reference.json"


def _fastest_on_disk(key: tuple[tuple[int, ...], int, int], measured: float) -> float:
    """The faster of ``measured`` and the stored calibration for ``key``; stores the faster."""
    import torch

    shape, batch, threads = key
    name = (
        f"{platform.machine()} {platform.processor() or '?'} cpus={os.cpu_count()} torch={torch.__version__} "
        f"input={'x'.join(map(str, shape))} batch={batch} threads={threads}"
    )
    path = cache_file()
    try:
        stored = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(stored, dict):
            stored = {}
    except (OSError, ValueError):
        stored = {}
    previous = stored.get(name)
    if isinstance(previous, int | float) and 0 < previous <= measured:
        return float(previous)
    stored[name] = measured
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole and renamed: a concurrent reader sees the old file or the new one.
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
            json.dump(stored, handle, indent=1, sort_keys=True)
        os.replace(handle.name, path)
    except OSError:
        pass  # a cache: this process keeps its own calibration
    return measured


class CalibratedTiming:
    """The outcome of :func:`time_against_reference`, in milliseconds.

    ``slowdown`` is how much slower than calibrated the reference ran meanwhile (1.0: the
    machine was undisturbed).
    """

    def __init__(self, ratios: list[float], raw: list[float], reference_s: list[float], calibrated: float) -> None:
        self.ratio = statistics.median(ratios)
        self.reference_ms = calibrated
        self.latency_ms = self.ratio * calibrated
        self.raw_ms = statistics.median(raw) * 1e3
        self.slowdown = statistics.median(reference_s) * 1e3 / calibrated
        scaled = [r * calibrated for r in ratios]
        quartiles = statistics.quantiles(scaled, n=4) if len(scaled) >= 2 else [scaled[0]] * 3
        self.iqr_ms = quartiles[2] - quartiles[0]
        mean = statistics.fmean(ratios)
        self.cv = statistics.pstdev(ratios) / mean if mean > 0 else 0.0


def time_against_reference(
    model: Any, x: Any, *, threads: int, min_run_time: float, warmup: int, patience: float = 0.0
) -> CalibratedTiming:
    """Time ``model(x)`` in chunks alternating with the reference network's, for ``min_run_time`` s.

    The ratio corrects most of a slowdown, not all: contention slows a large network's
    memory traffic more than the small reference's calls (measured: a window 1.9x slow
    still read 18% high). So while the reference runs more than ``_DISTURBED`` times
    slower than calibrated, the window is measured again, for up to ``patience`` seconds
    in all, and the least disturbed window is kept.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            reference = reference_model(tuple(x.shape[1:]))
            calibrated = reference_ms(tuple(x.shape[1:]), x.shape[0], threads)
            for _ in range(warmup):
                model(x)
                reference(x)
            model_calls, reference_calls = _chunk_size(model, x), _chunk_size(reference, x)
            give_up = time.perf_counter() + patience
            best = None
            while True:
                ratios, raw, theirs = [], [], []
                end = time.perf_counter() + min_run_time
                while len(ratios) < 3 or time.perf_counter() < end:
                    mine = _time_chunk(model, x, model_calls)
                    theirs.append(_time_chunk(reference, x, reference_calls))
                    ratios.append(mine / theirs[-1])
                    raw.append(mine)
                timing = CalibratedTiming(ratios, raw, theirs, calibrated)
                if best is None or timing.slowdown < best.slowdown:
                    best = timing
                if best.slowdown <= _DISTURBED or time.perf_counter() >= give_up:
                    return best
    finally:
        torch.set_num_threads(previous)
