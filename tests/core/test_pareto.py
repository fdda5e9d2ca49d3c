"""Dominance, sorting, crowding, Pareto fronts and hypervolume, checked against brute force."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl_codegen import Objective, Trial, pareto
from automl_codegen.pareto import (
    constrained_dominates,
    crowding_distance,
    dominates,
    hypervolume,
    non_dominated_sort,
    pareto_front,
)

# Small integer coordinates make ties and duplicate points common, which is where
# sorting code tends to go wrong.
coordinate = st.integers(min_value=0, max_value=4)


@st.composite
def point_sets(draw, min_dims=1, max_dims=4, max_points=30):
    dims = draw(st.integers(min_dims, max_dims))
    vectors = st.lists(coordinate, min_size=dims, max_size=dims)
    return draw(st.lists(vectors, min_size=0, max_size=max_points))


def brute_force_fronts(n, beats):
    """Peel fronts by definition: a front is what no remaining point beats."""
    remaining, fronts = set(range(n)), []
    while remaining:
        front = sorted(i for i in remaining if not any(beats(j, i) for j in remaining))
        fronts.append(front)
        remaining -= set(front)
    return fronts


# -- dominance ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((1, 2), (2, 3), True),
        ((1, 3), (2, 3), True),  # better in one, equal in the other
        ((1, 2), (1, 2), False),  # equal vectors do not dominate
        ((1, 4), (2, 3), False),  # a trade-off
        ((2, 3), (1, 2), False),
        ((0.0, 5.0), (0.0, math.inf), True),  # a failed trial's inf loses
        ((math.inf, math.inf), (math.inf, math.inf), False),
        ((3,), (4,), True),
    ],
)
def test_dominates(a, b, expected):
    assert dominates(a, b) is expected


def test_dominates_rejects_vectors_of_different_lengths():
    with pytest.raises(ValueError, match="lengths 2 and 3"):
        dominates((1, 2), (1, 2, 3))


@pytest.mark.parametrize(
    ("a", "va", "b", "vb", "expected"),
    [
        ((9, 9), 0.0, (0, 0), 0.5, True),  # feasible beats infeasible, however good
        ((0, 0), 0.5, (9, 9), 0.0, False),
        ((9, 9), 0.1, (0, 0), 0.5, True),  # two infeasible: smaller violation wins
        ((0, 0), 0.5, (9, 9), 0.1, False),
        ((0, 0), 0.3, (9, 9), 0.3, False),  # equal violations: neither
        ((1, 1), 0.0, (2, 2), 0.0, True),  # both feasible: Pareto dominance
        ((1, 3), 0.0, (2, 2), 0.0, False),
        ((9, 9), 2.0, (0, 0), math.inf, True),  # a failed trial (inf) is the worst
        ((0, 0), math.nan, (9, 9), 5.0, False),  # NaN violation counts as inf
    ],
)
def test_constrained_dominates(a, va, b, vb, expected):
    assert constrained_dominates(a, va, b, vb) is expected


# -- non-dominated sorting -----------------------------------------------------------------


def test_non_dominated_sort_known_fronts():
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (4, 4), (2, 2), (6, 6)]
    assert non_dominated_sort(points) == [[0, 1, 2, 5], [3], [4], [6]]


def test_non_dominated_sort_empty_and_single():
    assert non_dominated_sort([]) == []
    assert non_dominated_sort([(1.0, 2.0)]) == [[0]]


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_non_dominated_sort_matches_brute_force(points):
    expected = brute_force_fronts(len(points), lambda i, j: dominates(points[i], points[j]))
    assert non_dominated_sort(points) == expected


@settings(max_examples=150, deadline=None)
@given(point_sets(max_dims=3), st.data())
def test_constrained_sort_matches_brute_force(points, data):
    # Violation 0 (feasible) often, so every case of Deb's rule shows up.
    violations = data.draw(
        st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, math.inf]), min_size=len(points), max_size=len(points))
    )

    def beats(i, j):
        return constrained_dominates(points[i], violations[i], points[j], violations[j])

    assert non_dominated_sort(points, violations) == brute_force_fronts(len(points), beats)


def test_constrained_sort_puts_feasible_first():
    points = [(0, 0), (5, 5), (1, 1), (9, 0)]
    violations = [0.7, 0.0, 0.2, 0.0]
    assert non_dominated_sort(points, violations) == [[1, 3], [2], [0]]


def test_non_dominated_sort_seeded_set_in_small_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    points = rng.integers(0, 20, size=(400, 3))
    whole = non_dominated_sort(points)
    # Comparing a few rows at a time (as for thousands of trials) gives the same fronts.
    monkeypatch.setattr(pareto, "_BLOCK_ELEMENTS", 7 * 400 * 3)
    fronts = non_dominated_sort(points)
    assert fronts == whole
    trials = [
        Trial(number=i, genotype=[i], objectives={"a": float(a), "b": float(b), "c": float(c)})
        for i, (a, b, c) in enumerate(points)
    ]
    objectives = [Objective(name, "min") for name in "abc"]
    assert [t.number for t in pareto_front(trials, objectives)] == fronts[0]
    assert sorted(i for f in fronts for i in f) == list(range(400))
    for k, front in enumerate(fronts):
        for i in front:
            assert not any(dominates(points[j], points[i]) for j in front)
            if k:  # each point of a later front is dominated by one of the front before
                assert any(dominates(points[j], points[i]) for j in fronts[k - 1])


def test_non_dominated_sort_rejects_mismatched_violations():
    with pytest.raises(ValueError, match="2 constraint violations for 3 points"):
        non_dominated_sort([(1,), (2,), (3,)], [0.0, 0.0])


# -- crowding distance -------------------------------------------------------------------


def test_crowding_distance_boundaries_are_inf_and_interior_normalised():
    front = [(0, 4), (1, 2), (3, 1), (4, 0)]
    distance = crowding_distance(front)
    assert distance[0] == distance[3] == math.inf
    # (3 - 0)/4 + (4 - 1)/4 for the second point; (4 - 1)/4 + (2 - 0)/4 for the third.
    assert distance[1] == pytest.approx(1.5)
    assert distance[2] == pytest.approx(1.25)


def test_crowding_distance_small_fronts_are_all_inf():
    assert crowding_distance([]) == []
    assert crowding_distance([(1, 2)]) == [math.inf]
    assert crowding_distance([(1, 2), (2, 1)]) == [math.inf, math.inf]


def test_crowding_distance_ignores_constant_and_infinite_objectives():
    # Objective 1 does not vary: it neither marks boundaries nor adds distance.
    assert crowding_distance([(0, 7), (1, 7), (3, 7)]) == [math.inf, pytest.approx(1.0), math.inf]
    # A front of failed trials (all inf) gets no distances, not NaN.
    assert crowding_distance([(math.inf, math.inf)] * 3) == [0.0, 0.0, 0.0]


@settings(max_examples=50, deadline=None)
@given(point_sets(min_dims=2, max_dims=3))
def test_crowding_distance_is_nonnegative_with_inf_extremes(points):
    distance = crowding_distance(points)
    assert len(distance) == len(points)
    assert all(d >= 0 for d in distance)
    if len(points) >= 3 and len({tuple(p) for p in points}) > 1:
        assert math.inf in distance


# -- pareto_front ------------------------------------------------------------------------

ACC = Objective("accuracy", "max")
LAT = Objective("latency_ms", "min")


def trial(number, accuracy, latency, **kwargs):
    return Trial(number=number, genotype=[number], objectives={"accuracy": accuracy, "latency_ms": latency}, **kwargs)


def test_pareto_front_keeps_complete_feasible_non_dominated_trials():
    trials = [
        trial(0, 0.90, 5.0),
        trial(1, 0.80, 1.0),
        trial(2, 0.85, 6.0),  # dominated by 0
        trial(3, 0.99, 0.5, constraint_violation=0.2),  # would dominate all, but infeasible
        trial(4, 0.0, 0.0, status="failed"),
        trial(5, 0.90, 5.0),  # identical to 0: both kept
        trial(6, 0.95, 9.0),
    ]
    front = pareto_front(trials, [ACC, LAT])
    assert [t.number for t in front] == [0, 1, 5, 6]


def test_pareto_front_single_objective_is_the_best_ties_included():
    trials = [trial(0, 0.5, 1), trial(1, 0.9, 2), trial(2, 0.9, 3), trial(3, 0.1, 0)]
    assert [t.number for t in pareto_front(trials, [ACC])] == [1, 2]


def test_pareto_front_edge_cases():
    assert pareto_front([], [ACC]) == []
    assert pareto_front([trial(0, 0.5, 1, status="failed")], [ACC, LAT]) == []
    with pytest.raises(ValueError, match="at least one objective"):
        pareto_front([trial(0, 0.5, 1)], [])


def test_pareto_front_matches_first_front_on_random_trials():
    rng = np.random.default_rng(3)
    trials = [trial(i, float(a), float(b)) for i, (a, b) in enumerate(rng.integers(0, 15, (200, 2)))]
    losses = [t.loss_vector([ACC, LAT]) for t in trials]
    expected = non_dominated_sort(losses)[0]
    assert [t.number for t in pareto_front(trials, [ACC, LAT])] == expected


# -- hypervolume -------------------------------------------------------------------------


def test_hypervolume_2d_by_hand():
    # Staircase: 3×1 + 2×1 + 1×1.
    assert hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4)) == 6.0
    assert hypervolume([(1, 1)], (3, 2)) == 2.0


def test_hypervolume_3d_by_hand():
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == 6.0
    # Boxes of volume 4 and 2 sharing the unit cube [1,2]^3.
    assert hypervolume([(0, 0, 1), (1, 1, 0)], (2, 2, 2)) == 5.0
    # Inclusion-exclusion: 3×4 - 3×2 + 1.
    assert hypervolume([(1, 0, 0), (0, 1, 0), (0, 0, 1)], (2, 2, 2)) == 7.0


def test_hypervolume_one_objective_and_empty():
    assert hypervolume([(3,), (1,), (5,)], (4,)) == 3.0
    assert hypervolume([], (1, 1)) == 0.0


def test_hypervolume_ignores_points_not_dominating_the_reference():
    base = hypervolume([(1, 1)], (2, 2))
    outside = [(3, 0), (0, 2), (math.inf, 0), (math.nan, 0), (2, 2)]
    assert hypervolume([(1, 1), *outside], (2, 2)) == base == 1.0


def test_hypervolume_unchanged_by_dominated_points_duplicates_and_order():
    points = [(1, 3, 2), (2, 2, 2), (3, 1, 0.5)]
    extra = [(2, 3, 2), (2, 2, 2), (3.5, 1.5, 1)]
    reference = (4, 4, 4)
    expected = hypervolume(points, reference)
    assert hypervolume(points + extra, reference) == pytest.approx(expected)
    assert hypervolume((points + extra)[::-1], reference) == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(point_sets(min_dims=2, max_dims=4, max_points=12))
def test_hypervolume_exact_on_integer_grid(points):
    # With integer coordinates in 0..4 and reference 5 the volume is a count of unit
    # cells: cell c is covered when some point is <= c in every coordinate.
    dims = len(points[0]) if points else 2
    reference = (5,) * dims
    covered = sum(
        any(all(p <= c for p, c in zip(point, cell, strict=True)) for point in points)
        for cell in itertools.product(range(5), repeat=dims)
    )
    assert hypervolume(points, reference) == covered


@pytest.mark.parametrize("dims", [2, 3])
def test_hypervolume_agrees_with_monte_carlo(dims):
    rng = np.random.default_rng(dims)
    points = rng.random((25, dims))
    reference = np.full(dims, 1.1)
    samples = rng.random((200_000, dims)) * 1.1
    hit = (points[None, :, :] <= samples[:, None, :]).all(axis=2).any(axis=1)
    estimate = hit.mean() * 1.1**dims
    # The Monte Carlo standard error here is about 0.001.
    assert hypervolume(points, reference) == pytest.approx(estimate, abs=0.01)


def test_hypervolume_rejects_bad_reference():
    with pytest.raises(ValueError, match="must be finite"):
        hypervolume([(1, 1)], (math.inf, 2))
    with pytest.raises(ValueError, match="2 objectives but the reference point has 3"):
        hypervolume([(1, 1)], (2, 2, 2))


def test_results_are_plain_python_for_json():
    points = [(1, 2), (2, 1), (3, 3)]
    json.dumps({"fronts": non_dominated_sort(points), "hv": hypervolume(points, (4, 4))})
    assert all(isinstance(d, float) for d in crowding_distance(points))
