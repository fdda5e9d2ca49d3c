"""Nothing is lost with trials in parallel: kill -9 and Ctrl-C against a `process` search.

Trials finish out of order here, so a stopped run may hold trial 5 but not trial 4. The
journal must still resume: the strategy state counts what it was told, the trials that
were running are dropped, their numbers go to the next trials, and the workers of a
killed search do not live on.
"""

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

pytestmark = pytest.mark.slow

BUDGET = 10
CONFIG = {
    "dataset": "synthetic",
    "dataset_options": {"num_samples": 200, "num_classes": 3},
    "strategy": "evolution",
    "strategy_options": {"population_size": 3, "sample_size": 2},
    "objectives": ["accuracy"],
    "budget": BUDGET,
    "epochs": 2,
    "profilers": [],
    "seed": 3,
    "executor": "process",
    "executor_options": {"workers": 2},
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from automl_codegen import NeuralArchitectureSearch
    config = json.loads(sys.argv[1])
    NeuralArchitectureSearch(**config, run_dir=sys.argv[2], progress=False).search()
    """
)


def statuses(run_dir: Path) -> list[tuple[int, str]]:
    try:
        with sqlite3.connect(run_dir / "journal.sqlite", timeout=1) as db:
            return db.execute("SELECT number, status FROM trials ORDER BY number").fetchall()
    except sqlite3.Error:
        return []


def wait_for(run_dir: Path, count: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while sum(status != "running" for _, status in statuses(run_dir)) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the search did not get far enough in time"
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (the workers and multiprocessing's helpers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name may hold spaces; the parent pid follows its ")".
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def wait_gone(pids: set[int], timeout: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def resume_and_check(run_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "automl_codegen.cli", "search", "--resume", str(run_dir), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    rows = statuses(run_dir)
    assert [number for number, _ in rows] == list(range(BUDGET))  # every number once, no gaps
    assert all(status != "running" for _, status in rows)
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        assert db.execute("SELECT after_trial FROM strategy_state").fetchone()[0] == BUDGET
    lines = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert sorted(line["number"] for line in lines) == list(range(BUDGET))
    assert all(line["status"] == "complete" for line in lines), [line["error"] for line in lines]


def test_kill_9_mid_search_leaves_no_workers_and_resumes_to_a_whole_run(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(CONFIG), str(run_dir)], stderr=subprocess.PIPE, text=True
    )
    wait_for(run_dir, 4, process)
    workers = children(process.pid)
    assert len(workers) >= 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_gone(workers) == set(), "workers outlived the killed search"
    rows = statuses(run_dir)
    assert 4 <= sum(status != "running" for _, status in rows) < BUDGET
    resume_and_check(run_dir)


@pytest.mark.parametrize(
    ("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")]
)
def test_ctrl_c_or_sigterm_stops_the_workers_at_once_and_the_run_resumes(tmp_path, sent, code, said):
    """Ctrl-C to the search; SIGTERM to its whole process group, as a batch scheduler sends it."""
    run_dir = tmp_path / "run"
    args = [
        sys.executable, "-m", "automl_codegen.cli", "search", "--dataset", "synthetic",
        "--dataset-option", "num_samples=200", "--dataset-option", "num_classes=3", "--profiler", "none",
        "--budget-trials", str(BUDGET), "--epochs", "2", "--seed", "3", "--strategy-option", "population_size=3",
        "--executor", "process", "--quiet", "-o", str(run_dir),
    ]  # fmt: skip
    process = subprocess.Popen(
        args,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    wait_for(run_dir, 2, process)
    workers = children(process.pid)
    if sent == signal.SIGTERM:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(sent)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert f"{said}; continue with: automl-codegen search --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    assert wait_gone(workers, timeout=5) == set()
    assert all(status != "running" for _, status in statuses(run_dir))
    resume_and_check(run_dir)
