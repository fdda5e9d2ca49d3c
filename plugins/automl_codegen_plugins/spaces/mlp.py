"""``mlp``: the tabular tasks' default space, a multi-layer perceptron declared with :mod:`automl_codegen.model_space`.

One to ``max_depth`` hidden blocks, each choosing its width, normalisation (none, batch
or layer norm), activation, dropout and whether an identity shortcut (projected when the
width changes) goes around it; then the linear head. Small tables overfit quickly, so
the dropout and width choices matter as much as the depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from automl_codegen import hookimpl
from automl_codegen import model_space as ms
from automl_codegen.options import PluginOptions, integer, structure_options

from ._declared import activation_set, int_set, rate_set

__all__ = ["MLPOptions", "mlp_space"]

NAME = "mlp"


@attrs.frozen(kw_only=True)
class MLPOptions(PluginOptions):
    """The options of ``mlp``."""

    widths: tuple[int, ...] = int_set((32, 64, 128, 256), "hidden widths a block may pick")
    max_depth: int = attrs.field(
        default=4, validator=integer(1, ms.MAX_DEPTH), metadata={"help": "most hidden blocks (at least 1)"}
    )
    dropouts: tuple[float, ...] = rate_set((0.0, 0.1, 0.3), "dropout rates a block may pick")
    activations: tuple[str, ...] = activation_set(("relu", "gelu", "silu"), "activations a block may pick")


def declare(options: MLPOptions) -> ms.ModelSpace:
    """The declaration for ``options`` (what ``mlp`` searches)."""
    block = ms.Sequential(
        ms.Linear(ms.choice("width", options.widths)),
        ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm(), "layer": ms.LayerNorm()}),
        ms.Activation(ms.choice("act", options.activations)),
        ms.Dropout(ms.choice("dropout", options.dropouts)),
    )
    depth = ms.choice("depth", list(range(1, options.max_depth + 1)))
    return ms.ModelSpace(NAME, ms.Repeat(ms.Residual(block, enabled=ms.choice("skip", [False, True])), depth=depth))


def mlp_space(input_shape: Sequence[int], num_classes: int, **options: Any) -> ms.DeclaredSpace:
    """Blocks of linear, norm, activation, dropout and shortcut, chosen per block, for tables.

    ``input_shape`` is ``(F,)``; ``options`` are :class:`MLPOptions`.
    """
    return declare(structure_options(MLPOptions, options, owner=f"search space {NAME!r}"))(input_shape, num_classes)


mlp_space.Options = MLPOptions  # type: ignore[attr-defined]
mlp_space.name = NAME  # type: ignore[attr-defined]


@hookimpl
def register_search_spaces(register):
    register(NAME, mlp_space)
