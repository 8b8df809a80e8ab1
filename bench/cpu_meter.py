"""Per-process CPU accounting from /proc, waiting for the services to go idle, stopping a child.

A figure is only comparable when the machine is quiet, so every phase records the cores each
process used meanwhile, including `others`: every user-space process the bench did not start.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from streetwatch.errors import ServiceError
from streetwatch.services.process import wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")
PF_KTHREAD = 0x00200000
QUIET_WINDOW_S = 0.5  # one CPU sample while waiting for the services to go idle


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def user_processes_cpu() -> dict[int, float]:
    """CPU seconds (user + system, all threads) of every user-space process, by pid; kernel
    threads are excluded."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(entry.name) if entry.name.isdigit() else None
        if fields is not None and not int(fields[6]) & PF_KTHREAD:
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


class CpuMeter:
    """Cores used by named processes between `start()` and `stop()` (Δcpu / Δwall), plus
    `others`: what every other user-space process used meanwhile (a busy neighbour skews a run;
    kernel threads are left out, since they mostly do our services' I/O)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._cpu0: dict[int, float] = {}

    def start(self) -> CpuMeter:
        self._t0 = time.monotonic()
        self._cpu0 = user_processes_cpu()
        return self

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        now = user_processes_cpu()
        delta = {pid: cpu - self._cpu0.get(pid, 0.0) for pid, cpu in now.items()}
        used = {name: delta.pop(pid, 0.0) / wall for name, pid in self.pids.items()}
        used["others"] = sum(delta.values()) / wall
        return {name: round(cores, 2) for name, cores in used.items()}


def _named_cores(pids: dict[str, int]) -> float:
    """Cores the named processes used over one QUIET_WINDOW_S."""
    meter = CpuMeter(pids).start()
    time.sleep(QUIET_WINDOW_S)
    return sum(cores for name, cores in meter.stop().items() if name != "others")


def wait_quiet(pids: dict[str, int], timeout_s: float = 60, below_cores: float = 0.15) -> float:
    """Wait until the services are idle (InfluxDB compacts after a bulk load), so one phase's
    background work does not slow the next; returns the seconds waited (never fails a run)."""
    t0 = time.monotonic()
    with contextlib.suppress(ServiceError):  # still busy at the deadline: go on regardless
        wait_until(lambda: _named_cores(pids) < below_cores, timeout_s, "the services to go idle")
    return round(time.monotonic() - t0, 1)
