"""Host figures for ``/operator/metrics``: CPU, load and memory, sampled by a server task.

The naming layer reads no ``/proc``: this task replaces ``state.host`` every period, as the shell passes
``now_ms`` into each request. The files read are procfs pseudo-files, answered from kernel memory.
"""

from __future__ import annotations

import logging
import os
from typing import Final

import trio

from nacosfast.limits import HOST_FIGURES_PERIOD_MS
from nacosfast.naming.state import HostFigures, NamingState

log = logging.getLogger("nacosfast.server")

PROC_STAT: Final = "/proc/stat"
PROC_MEMINFO: Final = "/proc/meminfo"


class CpuSampler:
    """System-wide CPU busy fraction from ``/proc/stat`` between two calls (since boot at first)."""

    def __init__(self, path: str = PROC_STAT) -> None:
        self._path = path
        self._last: tuple[int, int] | None = None

    def sample(self) -> float:
        """Busy fraction in [0, 1] since the previous sample; 0.0 where ``/proc`` is unreadable."""
        try:
            with open(self._path, "rb") as stat:
                fields = [int(value) for value in stat.readline().split()[1:9]]
        except (OSError, ValueError):
            return 0.0
        if len(fields) < 4:
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields)
        previous, self._last = self._last, (idle, total)
        if previous is not None and total > previous[1]:
            idle -= previous[0]
            total -= previous[1]
        return max(0.0, min(1.0, (total - idle) / total)) if total > 0 else 0.0


def memory_used(path: str = PROC_MEMINFO) -> float:
    """Fraction of physical memory in use (1 - available/total), 0.0 when it cannot be read."""
    values: dict[bytes, int] = {}
    try:
        with open(path, "rb") as meminfo:
            for line in meminfo:
                key, _, rest = line.partition(b":")
                if key in (b"MemTotal", b"MemAvailable"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = values.get(b"MemTotal", 0)
    if total <= 0 or b"MemAvailable" not in values:
        return 0.0
    return max(0.0, min(1.0, 1.0 - values[b"MemAvailable"] / total))


def load_average() -> float:
    """The one-minute load average, 0.0 where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


class HostSampler:
    """Reads the three figures; the CPU fraction is over the time since the previous ``sample``."""

    def __init__(self, cpu: CpuSampler | None = None, meminfo_path: str = PROC_MEMINFO) -> None:
        self._cpu = cpu or CpuSampler()
        self._meminfo_path = meminfo_path

    def sample(self) -> HostFigures:
        """The figures now."""
        return HostFigures(self._cpu.sample(), load_average(), memory_used(self._meminfo_path))


async def run_host_sampler(
    state: NamingState, sampler: HostSampler | None = None, period_ms: int = HOST_FIGURES_PERIOD_MS
) -> None:
    """Replace ``state.host`` at once and then every ``period_ms`` until cancelled."""
    sampler = sampler or HostSampler()
    while True:
        try:
            state.host = sampler.sample()
        except Exception:  # a bug here must not take the node down: the figures just go stale
            log.exception("sampling host figures failed")
        await trio.sleep(period_ms / 1000)
