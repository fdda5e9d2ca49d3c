"""The repository's NAS-Bench-201 benchmark still runs (tiny sizes, synthetic table).

Optuna is a benchmark-only dependency: without it the Optuna peers are left out, and so
is the part of this test that needs them.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "nasbench201.py"
HAS_OPTUNA = importlib.util.find_spec("optuna") is not None

pytestmark = [
    pytest.mark.skipif(not SCRIPT.is_file(), reason=f"{SCRIPT} is not here (package tested outside the repository)"),
    pytest.mark.skipif(
        importlib.util.find_spec("automl_codegen_random") is None, reason="automl-codegen-random is not installed"
    ),
]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_benchmark_prints_the_table(full_table):
    out = bench(
        *f"--table {full_table} --queries 8 --seeds 2 --datasets cifar10 cifar100".split(),
        "--strategies",
        "evolution[population_size=4,sample_size=2]",
        "random",
    )
    assert out.returncode == 0, out.stderr
    table = out.stdout
    assert "evolution[population_size=4,sample_size=2]" in table
    assert "REINFORCE (NAS-Bench-201)" in table
    assert "93.85 ± 0.37" in table
    # The synthetic table's optimum: six 3x3 convolutions, 40 + 8 * 6 + 5 = 93 % test accuracy.
    assert re.search(r"optimum \(table\) +93\.00 +93\.00\n", table)


@pytest.mark.skipif(not HAS_OPTUNA, reason="optuna is a benchmark-only dependency and is not installed")
def test_benchmark_runs_the_optuna_peers(full_table):
    out = bench(*f"--table {full_table} --queries 6 --seeds 1 --datasets cifar10 --strategies tpe nsga2".split())
    assert out.returncode == 0, out.stderr
    assert "tpe (optuna)" in out.stdout
    assert "nsga2 (optuna)" in out.stdout


def test_benchmark_breakdown(full_table):
    out = bench(*f"--table {full_table} --queries 5 --seeds 1 --breakdown --strategies random".split())
    assert out.returncode == 0, out.stderr
    assert "lower genotype -> IR (space.to_architecture)" in out.stdout
    assert "journal.finish_trial" in out.stdout
