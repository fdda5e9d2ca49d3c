"""Memory of a forward pass: analytic from the IR's shapes, and measured with the torch profiler.

The analytic estimate walks the architecture's graph in its (topological) node order,
as the built model runs it: each node's output is allocated when the node runs and freed
after its last consumer, so the peak of the running sum is the activation memory a
forward pass needs. Blocks are walked inside, their own peak added on top of what is
live around them. It assumes float32, no in-place ops and no kernel workspaces, so it
is a lower bound of what an allocator sees (im2col buffers of a convolution, say).

The measurement runs one forward pass under ``torch.profiler`` with
``profile_memory=True`` and replays the allocator's ``[memory]`` events (each an
allocation or a free, in bytes, with a timestamp) in time order: the highest running
sum is the peak of the bytes the forward pass allocated beyond what already existed.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from automl_codegen import OPS, Architecture

__all__ = ["MB", "activation_bytes", "measured_forward_peak_bytes", "module_bytes"]

MB = float(1 << 20)
_FLOAT_BYTES = 4
# Ops whose output is the input itself in an eval-mode torch model: they allocate nothing.
_ALIASES = frozenset({"identity", "flatten", "dropout"})


def activation_bytes(architecture: Architecture, batch_size: int = 1) -> int:
    """Peak bytes of live activations in one float32 forward pass, input included."""
    per_sample = (
        math.prod(architecture.input_shape)
        + _graph_peak(
            architecture,
            architecture.nodes,
            {Architecture.INPUT: tuple(architecture.input_shape)},
            {},
            architecture.output,
        )[0]
    )
    return per_sample * _FLOAT_BYTES * batch_size


def _graph_peak(
    architecture: Architecture,
    nodes: Sequence[Any],
    inputs: Mapping[str, tuple[int, ...]],
    params: Mapping[str, int],
    output: str,
) -> tuple[int, tuple[int, ...]]:
    """(peak elements allocated inside the graph beyond its inputs, output shape)."""
    shapes: dict[str, tuple[int, ...]] = dict(inputs)
    owned: dict[str, int] = {}  # elements each node's output allocated (0 for aliases)
    last_use = {ref: i for i, node in enumerate(nodes) for ref in node.inputs}
    live = peak = 0
    for i, node in enumerate(nodes):
        in_shapes = [shapes[ref] for ref in node.inputs]
        values = {k: params[v] if isinstance(v, str) else v for k, v in node.attrs}
        if node.op == "block":
            block = architecture.block_map[node.block]
            inner_peak, shape = _graph_peak(
                architecture, block.nodes, dict(zip(block.inputs, in_shapes, strict=True)), values, block.output
            )
            peak = max(peak, live + inner_peak)
            size = math.prod(shape)
        else:
            shape = tuple(OPS[node.op].infer(in_shapes, values))
            size = 0 if node.op in _ALIASES else math.prod(shape)
            peak = max(peak, live + size)
        shapes[node.name], owned[node.name] = shape, size
        live += size
        for ref in set(node.inputs):
            if last_use.get(ref) == i and ref in owned and ref != output:
                live -= owned.pop(ref)
    return peak, shapes[output]


def module_bytes(model: Any) -> int:
    """Bytes held by a module's parameters and buffers (BatchNorm statistics, say)."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the profiler's C++ start/stop lines, which would break a progress bar.

    They are written straight to file descriptor 2, so sys.stderr cannot catch them;
    the descriptor is pointed at /dev/null for the few milliseconds of one pass.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def measured_forward_peak_bytes(model: Any, x: Any) -> int:
    """Peak bytes allocated on the CPU during ``model(x)`` (no grad), from the profiler's events.

    Runs the forward pass once under ``torch.profiler.profile(profile_memory=True)`` and
    takes the highest running sum of its ``[memory]`` events; what existed before the
    pass (weights, ``x``) is not counted.
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and str(event.device_type()).endswith("CPU")
    )
    running = peak = 0
    for _, nbytes in events:
        running += nbytes
        peak = max(peak, running)
    return peak
