"""Convert a PyTorch state dict into the weights of the Keras layers the emitter writes.

Keys of the state dict are module paths plus a tensor name (``cell1.inner.conv.weight``);
the generated Keras layers are named by those module paths (``cell1.inner.conv``), as
the generated PyTorch code spells them (repeated calls in a container: ``cells.1.inner.conv``,
see :attr:`.._structure.Plan.renames`). The arrays change layout on the way:

===============================  ==========================  ===========================
PyTorch                          Keras layer                 Keras weights
===============================  ==========================  ===========================
Conv2d weight (O, I/g, kh, kw)   Conv2D                      kernel (kh, kw, I/g, O)
Conv2d weight (C·m, 1, kh, kw)   DepthwiseConv2D             kernel (kh, kw, C, m)
Conv1d weight (O, I/g, k)        Conv1D                      kernel (k, I/g, O)
Conv1d weight (C·m, 1, k)        DepthwiseConv1D             kernel (k, C, m)
BatchNorm2d/1d weight, bias,     BatchNormalization          gamma, beta, moving_mean,
running_mean, running_var                                    moving_variance
LayerNorm weight, bias           LayerNormalization          gamma, beta
Linear weight (O, I)             Dense                       kernel (I, O)
===============================  ==========================  ===========================

Biases keep their shape; ``num_batches_tracked`` has no Keras counterpart (Keras' moving
averages use a fixed momentum) and is dropped. Only numpy is needed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from automl_codegen import Architecture, Node

from .._structure import plan
from ._codegen import conv_is_depthwise

__all__ = ["keras_weights"]


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def keras_weights(arch: Architecture, state_dict: Mapping[str, Any]) -> dict[str, list[np.ndarray]]:
    """Layer name → weights in the order of ``layer.get_weights()``, for every layer with any.

    Args:
        arch: the architecture the state dict belongs to.
        state_dict: the PyTorch weights (tensors or arrays), keys as in
            :func:`automl_codegen_plugins.torch_model.build_model` (``cells.7.x``); the
            caller checks that they fit ``arch``.
    """
    weights: dict[str, list[np.ndarray]] = {}
    # Repeated calls live in one container, in the builder as in generated code: cell7 is cells.7.
    renames = plan(arch).renames

    def walk(nodes: Sequence[Node], params: Mapping[str, int], prefix: str) -> None:
        for node in nodes:
            path = prefix + node.name if prefix else renames.get(node.name, node.name)
            values = {k: params[v] if isinstance(v, str) else v for k, v in node.attrs}
            if node.op == "block":
                walk(arch.block_map[node.block].nodes, values, f"{path}.")
                continue
            arrays = _convert(node, values, lambda key, path=path: _array(state_dict[f"{path}.{key}"]))
            if arrays:
                weights[path] = arrays

    walk(arch.nodes, {}, "")
    return weights


def _convert(node: Node, a: Mapping[str, Any], get: Any) -> list[np.ndarray]:
    """The Keras weights of one node, read from the state dict through ``get(key)``."""
    op = node.op
    bias = [get("bias")] if a.get("bias") else []
    if op == "depthwise_conv2d" or (op in ("conv2d", "conv1d") and conv_is_depthwise(node)):
        weight = get("weight")  # (C·m, 1, *kernel), the m outputs of channel c adjacent
        out_channels, _, *kernel_size = weight.shape
        channels = a["channels"] if op == "depthwise_conv2d" else a["in_channels"]
        # (C, m, *kernel) -> (*kernel, C, m)
        kernel = weight.reshape(channels, out_channels // channels, *kernel_size)
        kernel = kernel.transpose(*range(2, 2 + len(kernel_size)), 0, 1)
        return [np.ascontiguousarray(kernel), *bias]
    if op == "conv2d":
        return [np.ascontiguousarray(get("weight").transpose(2, 3, 1, 0)), *bias]
    if op == "conv1d":
        return [np.ascontiguousarray(get("weight").transpose(2, 1, 0)), *bias]
    if op in ("batchnorm2d", "batchnorm1d"):
        affine = [get("weight"), get("bias")] if a["affine"] else []
        return [*affine, get("running_mean"), get("running_var")]
    if op == "layer_norm":
        return [get("weight"), get("bias")] if a["affine"] else []
    if op == "linear":
        return [np.ascontiguousarray(get("weight").T), *bias]
    return []
