"""In-memory data, a Python objective and a callback survive kill -9: resume finishes the
run, and the exported code documents the data it was searched on."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import in_memory_job as job
import pytest

from automl_codegen import NeuralArchitectureSearch

pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def wait_for_lines(path: Path, count: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or len(path.read_text().splitlines()) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the search did not get far enough in time"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_kill_9_then_resume_in_memory_data_with_a_python_objective(tmp_path, kind):
    run_dir, events = tmp_path / "run", tmp_path / "events.txt"
    process = subprocess.Popen(
        [sys.executable, job.__file__, str(run_dir), kind, str(events)], stderr=subprocess.PIPE, text=True
    )
    wait_for_lines(events, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = len(events.read_text().splitlines())
    assert 2 <= killed_after < job.TRIALS

    after = tmp_path / "after.txt"
    nas = NeuralArchitectureSearch.resume(
        run_dir, progress=False, dataset=job.data(kind), objectives=[job.OBJECTIVE], callbacks=[job.EventLog(after)]
    )
    result = nas.search()
    assert [t.number for t in result.trials] == list(range(job.TRIALS))
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    # The callback heard of exactly the trials the resumed run finished.
    resumed = [int(line.split()[1]) for line in after.read_text().splitlines()]
    assert sorted(resumed) == list(range(job.TRIALS))[len(result.trials) - len(resumed) :]
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        numbers = [n for (n,) in db.execute("SELECT number FROM trials ORDER BY number")]
    assert numbers == list(range(job.TRIALS))  # none repeated
    best = result.best
    assert best.objectives["acc_per_kparam"] == max(t.objectives["acc_per_kparam"] for t in result.trials)

    written = result.export("pytorch", tmp_path / "out")
    source = next(p for p in written if p.name == "model.py").read_text()
    docstring = source.split('"""')[1]
    normalization = result.config["dataset_summary"]["normalization"]
    assert "Input: a float32 tensor of shape (N, 1, 8, 8)" in docstring, docstring
    assert f"Normalisation: {normalization['description']}" in docstring, docstring
    layout = "channels-last (N, H, W, C)" if kind == "numpy" else "channels-first (N, C, H, W)"
    assert f"{layout} inputs, taken as (C, H, W) = (1, 8, 8)" in " ".join(docstring.split()), docstring
