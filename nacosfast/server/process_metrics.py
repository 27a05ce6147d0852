"""The standard ``process_*`` figures of this process (CPU, memory, descriptors, start time)."""

from __future__ import annotations

import os
import time
from typing import Final

from nacosfast.metrics import MetricFamily, counter, gauge

__all__ = ["ProcessFigures"]

_STATM: Final = "/proc/self/statm"
_FDS: Final = "/proc/self/fd"


class ProcessFigures:
    """A collector of the figures ``prometheus_client``'s process collector exports, same names."""

    __slots__ = ("_page_size", "_started_s")

    def __init__(self) -> None:
        self._started_s = time.time() - _process_age_s()
        self._page_size = os.sysconf("SC_PAGE_SIZE")

    def families(self) -> list[MetricFamily]:
        """CPU seconds, resident and virtual memory, open descriptors, start time."""
        times = os.times()
        result = [
            counter(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                times.user + times.system,
            ),
            gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                self._started_s,
            ),
        ]
        try:
            with open(_STATM, "rb") as statm:
                virtual_pages, resident_pages = (int(value) for value in statm.read().split()[:2])
            result.append(
                gauge(
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    virtual_pages * self._page_size,
                )
            )
            result.append(
                gauge(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    resident_pages * self._page_size,
                )
            )
            result.append(
                gauge("process_open_fds", "Number of open file descriptors.", len(os.listdir(_FDS)))
            )
        except (OSError, ValueError):  # no /proc (not Linux): these three are left out
            pass
        return result


def _process_age_s() -> float:
    """Seconds since this process started (``/proc``), else 0."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # starttime: clock ticks after boot
        with open("/proc/uptime", "rb") as uptime:
            boot_uptime_s = float(uptime.read().split()[0])
        return max(0.0, boot_uptime_s - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
