"""FreeCores: torch threads for a training, less the cores other processes keep busy."""

from __future__ import annotations

import os

import pytest

from automl_codegen_plugins.evaluators import _cores
from automl_codegen_plugins.evaluators._cores import FreeCores


class Machine:
    """A fake /proc/stat and clock: ``busy`` cores' worth of other processes' CPU per second."""

    def __init__(self, tmp_path, monkeypatch, cores: int = 2) -> None:
        self.path = tmp_path / "stat"
        self.now, self.ticks = 100.0, 0
        self.hz = os.sysconf("SC_CLK_TCK")
        monkeypatch.setattr(_cores.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(_cores.time, "sleep", self.advance_idle)
        monkeypatch.setattr(_cores.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
        monkeypatch.setattr(_cores.os, "times", lambda: os.times_result((0.0, 0.0, 0.0, 0.0, 0.0)))
        self.write()

    def write(self) -> None:
        # user nice system idle iowait irq softirq steal
        self.path.write_text(f"cpu  {self.ticks} 0 0 999999 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0\n")

    def advance(self, seconds: float, busy: float) -> None:
        self.now += seconds
        self.ticks += round(seconds * busy * self.hz)
        self.write()

    def advance_idle(self, seconds: float) -> None:
        self.advance(seconds, 0.0)


def test_idle_cores_keep_torchs_threads(tmp_path, monkeypatch):
    machine = Machine(tmp_path, monkeypatch)
    cores = FreeCores(str(machine.path))
    assert cores.threads(2) == 2
    machine.advance(5.0, busy=0.2)
    assert cores.threads(2) == 2


def test_a_core_kept_busy_by_another_process_is_left_to_it(tmp_path, monkeypatch):
    machine = Machine(tmp_path, monkeypatch)
    cores = FreeCores(str(machine.path))
    cores.threads(2)
    machine.advance(5.0, busy=1.0)
    assert cores.threads(2) == 1
    machine.advance(5.0, busy=2.0)
    assert cores.threads(2) == 1  # never fewer than one
    machine.advance(5.0, busy=0.0)
    assert cores.threads(2) == 2


def test_without_proc_stat_torchs_setting_stands(tmp_path):
    assert FreeCores(str(tmp_path / "missing")).threads(4) == 4


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux only")
def test_the_real_machine_gives_a_thread_count_in_range():
    assert 1 <= FreeCores().threads(2) <= 2


def test_a_new_run_records_the_threads_it_chose_and_a_resumed_run_keeps_them(tmp_path, monkeypatch):
    from automl_codegen import NeuralArchitectureSearch

    monkeypatch.setattr(_cores.FreeCores, "threads", lambda self, most: 1)
    monkeypatch.setattr(_cores, "available_cores", lambda: 2)
    common = {"dataset": "synthetic", "profilers": [], "progress": False, "device": "cpu"}
    nas = NeuralArchitectureSearch(**common, budget=1, epochs=1, run_dir=tmp_path / "run")
    assert nas.settings.evaluator_options == {"threads": 1}
    assert "evaluator 'train' chose threads=1 for this machine (recorded with the run)" in nas.notes
    result = nas.search()
    assert result.trials[0].metrics["training"]["threads"] == 1
    # The machine is idle now, but the run keeps training as it began.
    monkeypatch.setattr(_cores.FreeCores, "threads", lambda self, most: 2)
    resumed = NeuralArchitectureSearch.resume(tmp_path / "run", progress=False, budget=1)
    assert resumed.settings.evaluator_options == {"threads": 1}
    # An idle machine, a new run: torch's own setting, nothing recorded.
    fresh = NeuralArchitectureSearch(**common, budget=1, run_dir=tmp_path / "other")
    assert fresh.settings.evaluator_options == {}
    # Threads given by the user are never changed.
    monkeypatch.setattr(_cores.FreeCores, "threads", lambda self, most: 1)
    given = NeuralArchitectureSearch(**common, budget=1, evaluator_options={"threads": 2}, run_dir=tmp_path / "x")
    assert given.settings.evaluator_options == {"threads": 2}
