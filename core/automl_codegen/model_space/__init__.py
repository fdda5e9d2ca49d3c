"""Declare a search space in a few lines of Python.

::

    from automl_codegen import model_space as ms

    mlp = ms.ModelSpace(
        "my-mlp",
        ms.Repeat(
            ms.Residual(                                   # x + block(x), projected when shapes differ
                ms.Sequential(
                    ms.Linear(ms.choice("width", [64, 128, 256])),
                    ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm(), "layer": ms.LayerNorm()}),
                    ms.Activation(ms.choice("act", ["relu", "gelu", "silu"])),
                    ms.Dropout(ms.choice("dropout", [0.0, 0.1, 0.3])),
                ),
                enabled=ms.choice("skip", [False, True]),
            ),
            depth=ms.choice("depth", [1, 2, 3, 4]),
        ),
    )
    space = mlp((13,), 3)          # a SearchSpace for inputs (13,) and 3 outputs
    NeuralArchitectureSearch(dataset=(x, y), space=mlp, strategy="evolution", budget=20)

Layers take only what they output; their input sizes come from the shape that reaches
them, a vector ``(F,)``, a sequence ``(C, L)`` or a feature map ``(C, H, W)``:

==========================================  ===============================================
``Linear(out, *, bias=True)``               vectors only (GlobalAvgPool() or Flatten() first)
``Conv(out, kernel, stride=1, *, bias=True)``  conv1d on sequences, conv2d on maps; odd kernels,
                                            "same" padding ``kernel // 2``
``BatchNorm()``                             batchnorm1d on vectors and sequences, batchnorm2d on maps
``LayerNorm()``                             vectors only
``Dropout(p)``                              ``p`` in [0, 1); 0 adds no node
``Activation(name)``                        relu, gelu, silu (swish), tanh, sigmoid, relu6, hardswish
``MaxPool(kernel, stride=None, *, padding=0)``  1-D or 2-D by rank; stride = kernel by default
``AvgPool(kernel, stride=None, *, padding=0)``  likewise (padding counts as zeros)
``GlobalAvgPool()``                         ``(C, ...)`` to ``(C,)``
``Flatten()``                               to a vector in C, H, W order
``Identity()``                              no node
==========================================  ===============================================

Every argument is a literal or a :func:`choice`. Combinators: :class:`Sequential`,
:class:`OneOf` (an op choice; its labels are the genotype's values), :class:`Repeat`
(choices inside are decided per repetition: ``width[0]``, ``width[1]``, ...),
:class:`Residual`, and :class:`Cell` (a NAS-Bench-201-style cell whose every edge
chooses one of a set of ops). :class:`ModelSpace` adds the head (global average pooling
for maps and sequences, then a linear classifier) and checks the declaration.

Every strategy that works on choices (evolution, rl) searches any declared space. The
one-shot strategies (darts, enas) search a declared space whose only choices are OneOf
and Cell edges with ops that keep the shape, a fixed graph with op choices on its edges
(see :mod:`automl_codegen.model_space._oneshot`); other spaces refuse them with an error
naming the choices in the way.

A genotype is a plain JSON object, one entry per choice in declaration (source) order::

    {"width[0]": 64, "norm[0]": "batch", "act[0]": "relu", "dropout[0]": 0.1, "skip[0]": true,
     "width[1]": 128, ..., "depth": 2}

It holds every repetition up to the largest depth; ``space.key(genotype)`` leaves out
the choices a genotype does not use (repetitions beyond its depth, options a OneOf did
not choose), so strategies recognise duplicates. Choices are listed in the order they
appear in the declaration: a layer's arguments in signature order, a Repeat's
repetitions one after another and then its depth, a Residual's block and then
``enabled``, a OneOf's own choice and then its options' choices.

Node names follow the declaration: repetitions of a top-level Repeat are ``layer0``,
``layer1``, ...; a layer's node is ``<prefix>_<kind>`` (``layer0_linear``, ``layer0_bn``,
``layer0_act``, ``layer0_residual``), and a OneOf's node takes the OneOf's name
(``layer0_norm``).
"""

from __future__ import annotations

from ._choices import Decision, choice
from ._layers import (
    ACTIVATIONS,
    MAX_DEPTH,
    Activation,
    AvgPool,
    BatchNorm,
    Conv,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Identity,
    Layer,
    LayerNorm,
    Linear,
    MaxPool,
    OneOf,
    Repeat,
    Residual,
    Sequential,
)
from ._oneshot import MAX_CELL_NODES, Cell
from ._space import DeclaredSpace, ModelSpace

__all__ = [
    "ACTIVATIONS",
    "MAX_CELL_NODES",
    "MAX_DEPTH",
    "Activation",
    "AvgPool",
    "BatchNorm",
    "Cell",
    "Conv",
    "Decision",
    "DeclaredSpace",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "Identity",
    "Layer",
    "LayerNorm",
    "Linear",
    "MaxPool",
    "ModelSpace",
    "OneOf",
    "Repeat",
    "Residual",
    "Sequential",
    "choice",
]
