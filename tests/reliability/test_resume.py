"""Nothing is lost: kill -9, Ctrl-C and a second process against a real search."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from automl_codegen import NeuralArchitectureSearch

pytestmark = pytest.mark.slow

CONFIG = {
    "dataset": "synthetic",
    "dataset_options": {"num_samples": 200, "num_classes": 3},
    "strategy": "evolution",
    "strategy_options": {"population_size": 3, "sample_size": 2},
    "objectives": ["accuracy"],
    "budget": 9,
    "epochs": 2,
    "profilers": [],
    "seed": 3,
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from automl_codegen import NeuralArchitectureSearch
    config = json.loads(sys.argv[1])
    NeuralArchitectureSearch(**config, run_dir=sys.argv[2], progress=False).search()
    """
)


STRATEGIES = {
    "evolution": {"strategy": "evolution", "strategy_options": {"population_size": 3, "sample_size": 2}},
    "rl": {"strategy": "rl", "strategy_options": {"batch_size": 2}},
    # Multi-fidelity: the scheduler is rebuilt from the journal's trials on resume.
    "evolution-successive-halving": {
        "strategy": "evolution",
        "strategy_options": {"population_size": 3, "sample_size": 2},
        "fidelity": {"schedule": "successive-halving", "min_epochs": 1, "eta": 2},
    },
}


def start(run_dir: Path, **overrides) -> subprocess.Popen:
    config = json.dumps({**CONFIG, **overrides})
    return subprocess.Popen([sys.executable, "-c", SCRIPT, config, str(run_dir)], stderr=subprocess.PIPE, text=True)


def finished_trials(run_dir: Path) -> int:
    try:
        with sqlite3.connect(run_dir / "journal.sqlite", timeout=1) as db:
            return db.execute("SELECT count(*) FROM trials WHERE status != 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for(run_dir: Path, count: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while finished_trials(run_dir) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the search did not get far enough in time"
        time.sleep(0.05)


def history(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    return [
        (r["number"], json.dumps(r["genotype"], sort_keys=True), r["status"], r["metrics"].get("accuracy"))
        for r in rows
    ]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "automl_codegen.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory) -> dict[str, list[tuple]]:
    """Uninterrupted runs, one per strategy, made on first use."""
    cache: dict[str, list[tuple]] = {}

    def get(strategy: str) -> list[tuple]:
        if strategy not in cache:
            run_dir = tmp_path_factory.mktemp(f"reference-{strategy}") / "run"
            process = start(run_dir, **STRATEGIES[strategy])
            assert process.wait(timeout=600) == 0, process.stderr.read()
            cache[strategy] = history(run_dir)
        return cache[strategy]

    return get


@pytest.fixture
def uninterrupted(reference_runs) -> list[tuple]:
    return reference_runs("evolution")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_kill_9_mid_search_then_resume_equals_an_uninterrupted_run(tmp_path, reference_runs, strategy):
    uninterrupted = reference_runs(strategy)
    run_dir = tmp_path / "run"
    process = start(run_dir, **STRATEGIES[strategy])
    wait_for(run_dir, 4, process)
    # Let the next trial start, so one is in flight when the process dies.
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = finished_trials(run_dir)
    assert 4 <= killed_at < 9

    out = cli("search", "--resume", str(run_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    resumed = history(run_dir)
    assert len(resumed) == 9
    assert resumed == uninterrupted
    # Finished trials were never repeated: each number appears once in the journal.
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        numbers = [n for (n,) in db.execute("SELECT number FROM trials ORDER BY number")]
    assert numbers == list(range(9))


@pytest.mark.parametrize(
    ("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")]
)
def test_ctrl_c_or_sigterm_stops_cleanly_and_prints_the_resume_command(tmp_path, uninterrupted, sent, code, said):
    """Ctrl-C, or SIGTERM as Slurm, Kubernetes and systemd send it."""
    run_dir = tmp_path / "run"
    args = [
        sys.executable, "-m", "automl_codegen.cli", "search", "--dataset", "synthetic",
        "--dataset-option", "num_samples=200", "--dataset-option", "num_classes=3", "--profiler", "none",
        "--budget-trials", "9", "--epochs", "2", "--seed", "3", "--strategy-option", "population_size=3",
        "--strategy-option", "sample_size=2", "--quiet", "-o", str(run_dir),
    ]  # fmt: skip
    # A shell that runs us in the background ignores SIGINT, and children inherit that;
    # restore the default so the search sees Ctrl-C as a user's terminal would send it.
    process = subprocess.Popen(
        args, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    wait_for(run_dir, 2, process)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert f"{said}; continue with: automl-codegen search --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        assert db.execute("SELECT count(*) FROM trials WHERE status = 'running'").fetchone()[0] == 0
    out = cli("search", "--resume", str(run_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    assert history(run_dir) == uninterrupted
    # A finished run searches more when given a budget: two more trials.
    out = cli("search", "--resume", str(run_dir), "--budget-trials", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    assert len(history(run_dir)) == 11


def test_a_second_process_on_the_same_run_gets_a_clear_error(tmp_path):
    run_dir = tmp_path / "run"
    process = start(run_dir, budget=40)
    try:
        wait_for(run_dir, 1, process)
        out = cli("search", "--resume", str(run_dir))
        assert out.returncode == 2
        assert out.stderr.startswith(
            f"automl-codegen: error: run directory '{run_dir}' is in use by another automl-codegen process (pid {process.pid})"
        )
    finally:
        process.kill()
        process.wait()


def test_resume_through_the_api_after_a_finished_run_adds_nothing(tmp_path):
    run_dir = tmp_path / "run"
    first = NeuralArchitectureSearch(**{**CONFIG, "budget": 3}, run_dir=run_dir, progress=False).search()
    again = NeuralArchitectureSearch.resume(run_dir, progress=False).search()
    assert [t.number for t in again.trials] == [t.number for t in first.trials] == [0, 1, 2]
    assert os.path.exists(run_dir / "summary.json")


DARTS = {
    "space": "nb201",
    "space_options": {"channels": 4, "cells_per_stage": 1},
    "strategy": "darts",
    "strategy_options": {"epochs": 6, "batch_size": 32, "channels": 4, "cells_per_stage": 1},
    "epochs": 1,
}


def alpha_events(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "journal.sqlite", timeout=1) as db:
        return db.execute("SELECT step, data FROM events WHERE kind = 'alpha' ORDER BY step").fetchall()


def test_darts_killed_mid_supernet_resumes_to_the_same_alpha_and_architecture(tmp_path):
    reference = tmp_path / "reference"
    process = start(reference, **DARTS)
    assert process.wait(timeout=600) == 0, process.stderr.read()

    run_dir = tmp_path / "run"
    process = start(run_dir, **DARTS)
    deadline = time.monotonic() + 300
    while True:  # epoch 0's alpha plus two trained epochs
        assert process.poll() is None, "the search ended before it could be killed"
        assert time.monotonic() < deadline
        try:
            if len(alpha_events(run_dir)) >= 3:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert finished_trials(run_dir) == 0  # killed during the supernet phase

    out = cli("search", "--resume", str(run_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    assert alpha_events(run_dir) == alpha_events(reference)
    assert history(run_dir) == history(reference)
