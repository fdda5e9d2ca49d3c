"""``pareto.hypervolume`` against an independent implementation (pymoo's ``HV``), and ``front_table``.

The pymoo comparisons are skipped when pymoo is not installed (``pip install pymoo``).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import numpy as np
import pytest

from automl_codegen import Objective, Trial
from automl_codegen.pareto import front_table, hypervolume, non_dominated_sort

needs_pymoo = pytest.mark.skipif(importlib.util.find_spec("pymoo") is None, reason="pymoo is not installed")


@pytest.fixture
def hv_module():
    from pymoo.indicators import hv

    return hv


def random_front(rng, n, m, *, on_front):
    """``n`` random points in [0, 1]^m; with ``on_front``, points on the sphere (mutually non-dominated)."""
    if on_front:
        points = np.abs(rng.normal(size=(n, m)))
        return 1.0 - points / np.linalg.norm(points, axis=1, keepdims=True)
    return rng.random((n, m))


@needs_pymoo
@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("on_front", [True, False], ids=["front", "cloud"])
@pytest.mark.parametrize("seed", range(5))
def test_matches_pymoo(hv_module, m, on_front, seed):
    rng = np.random.default_rng(seed)
    points = random_front(rng, int(rng.integers(1, 60)), m, on_front=on_front)
    reference = np.full(m, 1.1)
    expected = hv_module.HV(ref_point=reference)(points)
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@needs_pymoo
def test_matches_pymoo_on_a_nondominated_front_with_a_tight_reference(hv_module):
    # Points beyond the reference in some component are ignored by both.
    rng = np.random.default_rng(7)
    points = rng.random((200, 3))
    front = points[non_dominated_sort(points)[0]]
    reference = np.array([0.9, 0.95, 0.8])
    expected = hv_module.HV(ref_point=reference)(front)
    assert hypervolume(front, reference) == pytest.approx(expected, rel=1e-9)
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-9)


@needs_pymoo
def test_matches_pymoo_with_ties_and_duplicates(hv_module):
    rng = np.random.default_rng(3)
    points = rng.integers(0, 5, size=(40, 2)).astype(float)
    reference = np.array([5.0, 5.0])
    assert hypervolume(points, reference) == pytest.approx(hv_module.HV(ref_point=reference)(points))


# -- front_table -----------------------------------------------------------------------------------


def test_front_table_rows_are_the_front_best_first():
    objectives = [Objective("accuracy", "max"), Objective("latency_ms", "min")]

    def trial(number, acc, lat, genotype, **extra):
        metrics = {"accuracy": acc, "latency_ms": lat, **extra}
        return Trial(number, genotype, metrics=metrics, objectives={"accuracy": acc, "latency_ms": lat})

    trials = [
        trial(0, 0.80, 1.0, "a", params=10.0),
        trial(1, 0.90, 3.0, {"ops": [1, 2]}),
        trial(2, 0.70, 2.0, "dominated", params=5.0),
        trial(3, 0.95, 9.0, "c", params=99.0),
        Trial(4, "failed", status="failed", error="boom"),
        Trial(5, "infeasible", objectives={"accuracy": 0.99, "latency_ms": 0.5}, constraint_violation=1.0),
    ]
    rows = front_table(trials, objectives)
    assert [r["trial"] for r in rows] == [3, 1, 0]
    assert rows[1]["genotype"] == '{"ops": [1, 2]}'
    assert list(rows[0]) == ["trial", "genotype", "accuracy", "latency_ms", "params"]
    assert rows[1]["params"] is None
    # Ready for both formats.
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    assert out.getvalue().splitlines()[1] == "3,c,0.95,9.0,99.0"
    assert json.loads(json.dumps(rows)) == rows


def test_front_table_of_nothing():
    assert front_table([], [Objective("accuracy", "max")]) == []
    with pytest.raises(ValueError, match="at least one objective"):
        front_table([], [])
