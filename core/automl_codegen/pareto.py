"""Pareto dominance, non-dominated sorting, crowding distance and hypervolume.

Conventions shared by every function here:

* A *point* is a loss vector: one float per objective, **smaller is better** in every
  component. :meth:`Trial.loss_vector` turns a trial's objectives into that form
  (maximised objectives are negated; failed trials and missing or NaN values are
  ``+inf``). NaN components make two vectors incomparable, so convert them first.
* A *constraint violation* is ``0`` for a feasible point and a positive number for an
  infeasible one (smaller is closer to feasible); NaN counts as ``+inf``.
* Sets of points are sequences of equal-length sequences or a 2-D array, one row per
  point; functions that return positions return indices into that sequence.

Pure Python and numpy, so the engine and every strategy can use it without torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .objective import Objective
from .trial import Trial

__all__ = [
    "constrained_dominates",
    "crowding_distance",
    "dominates",
    "front_table",
    "hypervolume",
    "non_dominated_sort",
    "pareto_front",
]

# Upper bound on the elements of the (rows, n, m) comparison block built at once, so
# sorting thousands of trials does not allocate an n*n*m temporary.
_BLOCK_ELEMENTS = 1 << 22


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether loss vector ``a`` Pareto-dominates ``b``.

    ``a`` dominates ``b`` when it is no worse in every component and strictly better in
    at least one. Equal vectors do not dominate each other.

    Raises:
        ValueError: if the vectors differ in length.
    """
    if len(a) != len(b):
        msg = f"cannot compare loss vectors of lengths {len(a)} and {len(b)}"
        raise ValueError(msg)
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def constrained_dominates(a: Sequence[float], viol_a: float, b: Sequence[float], viol_b: float) -> bool:
    """Deb's constraint-domination: whether ``a`` (violation ``viol_a``) beats ``b``.

    A feasible point beats an infeasible one; of two infeasible points the one with the
    smaller violation wins (equal violations: neither); two feasible points compare by
    :func:`dominates`. (Deb et al. 2002, NSGA-II, section VI.)
    """
    va, vb = _violation(viol_a), _violation(viol_b)
    if va == 0.0 and vb == 0.0:
        return dominates(a, b)
    if va == 0.0 or vb == 0.0:
        return va == 0.0
    return va < vb


def non_dominated_sort(
    points: Sequence[Sequence[float]] | np.ndarray,
    violations: Sequence[float] | np.ndarray | None = None,
) -> list[list[int]]:
    """Split points into Pareto fronts, best first (the fast sort of NSGA-II).

    Front 0 holds the points no other point dominates, front 1 those dominated only by
    front 0, and so on. Indices within a front are ascending; equal points share a front.

    Args:
        points: loss vectors, one row per point.
        violations: optional constraint violation per point; when given, dominance is
            :func:`constrained_dominates`, so feasible points come before infeasible
            ones and infeasible ones are ordered by violation.

    Returns:
        The fronts as lists of indices into ``points``; together they cover every point.
    """
    losses = _as_matrix(points)
    n = len(losses)
    if n == 0:
        return []
    beats = np.zeros((n, n), dtype=bool)
    for rows, block in _domination_blocks(losses, _as_violations(violations, n)):
        beats[rows] = block
    # How many not-yet-assigned points dominate each point: a front is where that is 0.
    dominated_by = beats.sum(axis=0)
    assigned = np.zeros(n, dtype=bool)
    fronts: list[list[int]] = []
    current = np.flatnonzero(dominated_by == 0)
    while current.size:
        fronts.append(current.tolist())
        assigned[current] = True
        dominated_by = dominated_by - beats[current].sum(axis=0)
        current = np.flatnonzero((dominated_by == 0) & ~assigned)
    return fronts


def crowding_distance(points: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
    """NSGA-II crowding distance of each point within one front.

    For each objective the points are sorted; the two extremes get ``inf`` and every
    other point adds the gap between its neighbours divided by the objective's range.
    An objective on which the front does not vary (range 0) adds nothing, and one with a
    non-finite range only marks its extremes. Fronts of one or two points are all ``inf``.

    Returns:
        One distance per point, larger meaning a less crowded (more valuable) point.
    """
    losses = _as_matrix(points)
    n, m = losses.shape
    if n <= 2:
        return [math.inf] * n
    distance = np.zeros(n)
    for j in range(m):
        column = losses[:, j]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        span = float(ordered[-1]) - float(ordered[0])  # Python floats: inf - inf is NaN, no warning
        if not span > 0:  # also false for NaN spans (all-inf columns)
            continue
        distance[order[0]] = distance[order[-1]] = math.inf
        if math.isfinite(span):
            gaps = (ordered[2:] - ordered[:-2]) / span
            distance[order[1:-1]] += np.where(np.isfinite(gaps), gaps, 0.0)
    return distance.tolist()


def pareto_front(trials: Sequence[Trial], objectives: Sequence[Objective]) -> list[Trial]:
    """The complete, feasible trials that no other such trial dominates.

    Failed trials and trials that break a constraint (``constraint_violation > 0``) are
    left out before comparing, so an infeasible trial never pushes a feasible one off
    the front. Trials with identical loss vectors do not dominate each other, so all of
    them are kept. The result keeps the order of ``trials``.

    Raises:
        ValueError: if ``objectives`` is empty.
    """
    if not objectives:
        msg = "pareto_front needs at least one objective"
        raise ValueError(msg)
    candidates = [t for t in trials if t.feasible]
    if not candidates:
        return []
    losses = np.array([t.loss_vector(objectives) for t in candidates], dtype=float)
    dominated = np.zeros(len(candidates), dtype=bool)
    for _, block in _domination_blocks(losses, None):
        dominated |= block.any(axis=0)
    return [t for t, out in zip(candidates, dominated, strict=True) if not out]


def front_table(trials: Sequence[Trial], objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The Pareto front of ``trials`` as flat rows, ready for ``csv.DictWriter`` or ``json.dump``.

    One row per trial of :func:`pareto_front`, sorted best first on the first objective
    (then by trial number). Each row has ``trial`` (the trial's number), ``genotype`` (a
    string; JSON for structured genotypes), one column per objective, then every other
    measurement of the trial in name order. All rows have the same keys, in the same
    order (a measurement one trial lacks is ``None``), so the rows form one table.

    Raises:
        ValueError: if ``objectives`` is empty.
    """
    front = pareto_front(trials, objectives)
    first = objectives[0]
    front.sort(key=lambda t: (first.as_loss(t.objectives.get(first.name, math.nan)), t.number))
    names = [o.name for o in objectives]
    extra = sorted({k for t in front for k in t.metrics} - set(names))
    rows = []
    for trial in front:
        genotype = trial.genotype if isinstance(trial.genotype, str) else json.dumps(trial.genotype, sort_keys=True)
        row: dict[str, Any] = {"trial": trial.number, "genotype": genotype}
        for objective in objectives:
            row[objective.name] = trial.objectives.get(objective.name, trial.metrics.get(objective.name))
        for name in extra:
            row[name] = trial.metrics.get(name)
        rows.append(row)
    return rows


def hypervolume(points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Exact for any number of objectives by slicing along the last objective down to a
    2-D sweep (While et al. 2006): O(n log n) for 2 objectives, O(n² log n) for 3, and
    exponential in the number of objectives beyond that. Points that do not strictly
    dominate ``reference`` in every component (``inf`` or NaN ones included) add nothing
    and are ignored.

    Args:
        points: loss vectors, one row per point.
        reference: the finite corner the volume is measured to, typically a little worse
            than the worst value of each objective you care about.

    Raises:
        ValueError: if ``reference`` is not finite or does not match the points' length.
    """
    ref = np.asarray(reference, dtype=float).ravel()
    if ref.size == 0 or not np.all(np.isfinite(ref)):
        msg = f"the hypervolume reference point must be finite and non-empty, got {list(reference)}"
        raise ValueError(msg)
    losses = _as_matrix(points, width=ref.size)
    if losses.shape[1] != ref.size:
        msg = f"points have {losses.shape[1]} objectives but the reference point has {ref.size}"
        raise ValueError(msg)
    inside = losses[np.all(losses < ref, axis=1)]
    return float(_hypervolume(inside, ref))


# -- helpers -----------------------------------------------------------------------------


def _violation(value: float) -> float:
    value = float(value)
    return math.inf if value != value else max(value, 0.0)


def _as_matrix(points: Sequence[Sequence[float]] | np.ndarray, width: int = 0) -> np.ndarray:
    if len(points) == 0:
        return np.zeros((0, width))
    matrix = np.asarray(points, dtype=float)
    if matrix.ndim != 2:
        msg = f"expected one loss vector per row (a 2-D array), got shape {matrix.shape}"
        raise ValueError(msg)
    return matrix


def _as_violations(violations: Sequence[float] | np.ndarray | None, n: int) -> np.ndarray | None:
    if violations is None:
        return None
    values = np.asarray(violations, dtype=float).ravel()
    if values.size != n:
        msg = f"got {values.size} constraint violations for {n} points"
        raise ValueError(msg)
    return np.where(np.isnan(values), math.inf, np.maximum(values, 0.0))


def _domination_blocks(losses: np.ndarray, violations: np.ndarray | None) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, block)`` with ``block[i, j]``: point ``rows.start + i`` beats ``j``."""
    n, m = losses.shape
    step = max(1, _BLOCK_ELEMENTS // max(1, n * m))
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        mine, others = losses[rows, None, :], losses[None, :, :]
        block = np.all(mine <= others, axis=2) & np.any(mine < others, axis=2)
        if violations is not None:
            va, vb = violations[rows, None], violations[None, :]
            feasible_a, feasible_b = va == 0.0, vb == 0.0
            block = (
                (feasible_a & feasible_b & block) | (feasible_a & ~feasible_b) | (~feasible_a & ~feasible_b & (va < vb))
            )
        yield rows, block


def _hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of points that all strictly dominate ``ref``."""
    n, m = points.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - points[:, 0].min())
    if m == 2:
        return _hypervolume_2d(points, ref)
    # Slice along the last objective: between consecutive values of it, the dominated
    # region's cross-section is the (m-1)-D volume of the points already passed.
    points = points[np.argsort(points[:, -1], kind="stable")]
    bounds = np.append(points[1:, -1], ref[-1])
    total = 0.0
    for i in range(n):
        depth = bounds[i] - points[i, -1]
        if depth > 0:
            total += depth * _hypervolume(points[: i + 1, :-1], ref[:-1])
    return total


def _hypervolume_2d(points: np.ndarray, ref: np.ndarray) -> float:
    # Sweep in increasing x: each point adds the strip between its y and the lowest y
    # seen so far, reaching from its x to the reference.
    order = np.lexsort((points[:, 1], points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    lowest_before = np.minimum.accumulate(np.concatenate(([ref[1]], y[:-1])))
    heights = np.clip(lowest_before - y, 0.0, None)
    return float(np.sum((ref[0] - x) * heights))
