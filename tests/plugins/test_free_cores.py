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
