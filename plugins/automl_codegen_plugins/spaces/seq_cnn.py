"""``seq-cnn``: the sequence task's default space, a 1-D convolutional network declared with
:mod:`automl_codegen.model_space`.

One to ``max_depth`` blocks of convolution, batch norm and activation over ``(C, L)``
sequences; each block picks its width, kernel size, stride (2 halves the sequence) and
whether an identity shortcut (projected where width or length change) goes around it.
Global average pooling over time and a linear layer make the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from automl_codegen import hookimpl
from automl_codegen import model_space as ms
from automl_codegen.options import PluginOptions, integer, structure_options

from ._declared import activation_set, int_set

__all__ = ["SeqCNNOptions", "seq_cnn_space"]

NAME = "seq-cnn"


@attrs.frozen(kw_only=True)
class SeqCNNOptions(PluginOptions):
    """The options of ``seq-cnn``."""

    widths: tuple[int, ...] = int_set((16, 32, 64), "output channels a block may pick")
    kernel_sizes: tuple[int, ...] = int_set((3, 5, 7), "odd kernel sizes a block may pick", odd=True)
    strides: tuple[int, ...] = int_set((1, 2), "strides a block may pick (2 halves the length)")
    max_depth: int = attrs.field(
        default=4, validator=integer(1, ms.MAX_DEPTH), metadata={"help": "most convolution blocks (at least 1)"}
    )
    activations: tuple[str, ...] = activation_set(("relu", "gelu", "silu"), "activations a block may pick")


def declare(options: SeqCNNOptions) -> ms.ModelSpace:
    """The declaration for ``options`` (what ``seq-cnn`` searches)."""
    block = ms.Sequential(
        ms.Conv(
            ms.choice("width", options.widths),
            ms.choice("kernel", options.kernel_sizes),
            stride=ms.choice("stride", options.strides),
            bias=False,  # the batch norm after it has its own shift
        ),
        ms.BatchNorm(),
        ms.Activation(ms.choice("act", options.activations)),
    )
    depth = ms.choice("depth", list(range(1, options.max_depth + 1)))
    return ms.ModelSpace(NAME, ms.Repeat(ms.Residual(block, enabled=ms.choice("skip", [False, True])), depth=depth))


def seq_cnn_space(input_shape: Sequence[int], num_classes: int, **options: Any) -> ms.DeclaredSpace:
    """Blocks of 1-D conv, batch norm and activation with width, kernel, stride and shortcut chosen per block.

    ``input_shape`` is ``(C, L)``; ``options`` are :class:`SeqCNNOptions`.
    """
    o = structure_options(SeqCNNOptions, options, owner=f"search space {NAME!r}")
    return declare(o)(input_shape, num_classes)


seq_cnn_space.Options = SeqCNNOptions  # type: ignore[attr-defined]
seq_cnn_space.name = NAME  # type: ignore[attr-defined]


@hookimpl
def register_search_spaces(register):
    register(NAME, seq_cnn_space)
