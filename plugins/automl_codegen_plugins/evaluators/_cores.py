"""How many torch threads a CPU training should use, given what else keeps the cores busy.

torch's thread pool spins while it waits for its threads. On cores that other processes
keep busy, a two-thread training of a small network measured 10× slower than a
one-thread one (2 cores, a test suite running beside it), while on idle cores two
threads were 1.5× faster. So a new run asks how many cores the *other* processes keep
busy (Linux ``/proc/stat``, less this process's own CPU time) and leaves those to them;
the choice is recorded with the run, since the thread count changes the numbers a
training computes and a resumed run must compute the same.
"""

from __future__ import annotations

import os
import time

__all__ = ["FreeCores", "available_cores"]

_STAT = "/proc/stat"
_MIN_WINDOW_S = 0.2  # shorter windows measure noise
_FIRST_WINDOW_S = 0.1  # the first reading has no earlier one: a short sample


class FreeCores:
    """Reads how many cores other processes kept busy, between one call and the next."""

    def __init__(self, stat_path: str = _STAT) -> None:
        self.stat_path = stat_path
        self._last: tuple[float, float, float] | None = None  # (wall, all busy s, own busy s)
        self._others = 0.0
        self._measured = False

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            with open(self.stat_path) as stat:
                fields = stat.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu" or len(fields) < 8:
            return None
        # user nice system idle iowait irq softirq [steal ...]: everything but idle and iowait.
        ticks = [int(v) for v in fields[1:]]
        busy = sum(ticks) - ticks[3] - ticks[4]
        own = sum(os.times()[:2])
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own

    def others_busy(self) -> float | None:
        """Cores' worth of CPU the other processes used lately; None where it cannot be read."""
        if self._last is None:
            self._last = self._sample()
            if self._last is None:
                return None
            time.sleep(_FIRST_WINDOW_S)
        now = self._sample()
        if now is None:
            return None
        wall = now[0] - self._last[0]
        if wall >= _MIN_WINDOW_S or not self._measured:
            others = ((now[1] - self._last[1]) - (now[2] - self._last[2])) / max(wall, 1e-9)
            self._others, self._last, self._measured = max(others, 0.0), now, True
        return self._others

    def threads(self, most: int) -> int:
        """Threads for the next training: ``most``, less the cores others keep busy (at least 1)."""
        others = self.others_busy()
        if others is None:
            return most
        free = int(available_cores() - others + 0.5)
        return max(1, min(most, free))


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
