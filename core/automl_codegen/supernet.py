"""The one-shot contract: what a cell space tells a one-shot strategy about its supernet.

A space that one-shot strategies (``darts``, ``enas``) can search implements
:class:`automl_codegen.protocols.OneShotSpace`; its ``supernet_description()`` returns a
:class:`SupernetDescription`, in IR terms only, so neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .architecture import Architecture

__all__ = ["SupernetCell", "SupernetDescription"]


@attrs.frozen
class SupernetCell:
    """One searchable cell of a supernet's skeleton.

    Attributes:
        node: the skeleton node (a call to a cell block) that the mixed cell replaces.
        kind: which architecture weights the cell shares (``"normal"`` or ``"reduce"``).
        channels: ``C``, the width of every edge of the cell.
        reduction: whether edges leaving the cell's inputs have stride 2.
    """

    node: str
    kind: str
    channels: int
    reduction: bool


@attrs.frozen(eq=False)
class SupernetDescription:
    """What a one-shot strategy needs to build a space's supernet, in IR terms (no torch).

    The supernet is the space's own network (``skeleton``, lowered for some genotype)
    with every cell call replaced by a *mixed cell*: node ``j`` of a cell is the sum over
    its incoming ``edges`` ``(i, j)`` of a softmax-weighted mixture of ``ops``. Each
    candidate op is built from ``op_networks``, which the space lowers exactly as it
    lowers that op in a final network, so the searched ops are the ops that get retrained.

    Attributes:
        skeleton: the space's network; the nodes named by ``cells`` call cell blocks.
        cells: the searchable cells, in skeleton order.
        kinds: the cell kinds, one architecture-weight matrix each.
        ops: candidate ops of every edge (the columns of the weights), in the space's order.
        edges: ``(i, j)`` per row of the weights; nodes below ``cell_inputs`` are the
            cell's inputs.
        cell_inputs: 1 (node 0 is the cell input) or 2 (nodes 0 and 1 are the two
            preprocessed inputs).
        preprocess: per cell input, the name of the node of the skeleton's cell block that
            preprocesses it (empty when inputs are used as they are).
        output: ``"last"`` (the cell returns its last node) or ``"concat"`` (the nodes
            after the inputs, concatenated along channels).
        pool_bn: whether the search network follows pooling ops with a non-affine
            BatchNorm (the DARTS authors' search network does; the final network does not).
        partial_channels: ``K`` of partial channel connections (PC-DARTS): each edge's
            ops see ``C / K`` of its channels; 1 when off.
        op_networks: ``(op, C, stride)`` to a tiny network whose first node, ``edge``,
            calls a one-node block computing the op of an edge of width ``C`` (on
            ``C / K`` channels); ``none`` has no entry (it contributes nothing).
    """

    skeleton: Architecture
    cells: tuple[SupernetCell, ...]
    kinds: tuple[str, ...]
    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    cell_inputs: int
    preprocess: tuple[str, ...]
    output: str
    pool_bn: bool
    partial_channels: int
    op_networks: Mapping[tuple[str, int, int], Architecture]
