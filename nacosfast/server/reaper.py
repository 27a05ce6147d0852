"""The reaper task: beat expiry and empty-service cleanup on the monotonic clock."""

from __future__ import annotations

import logging

import trio

from nacosfast.limits import REAPER_PERIOD_MS, REAPER_STALL_MS
from nacosfast.naming.expiry import forgive_stall, sweep
from nacosfast.naming.metrics import SweepStats
from nacosfast.naming.state import NamingState
from nacosfast.server.clock import monotonic_ms

log = logging.getLogger("nacosfast.server")


async def run_reaper(
    state: NamingState,
    period_ms: int = REAPER_PERIOD_MS,
    stall_ms: int = REAPER_STALL_MS,
    stats: SweepStats | None = None,
) -> None:
    """Sweep every ``period_ms`` until cancelled; a failing sweep is logged and the next one runs.

    Sweeps keep a fixed schedule (start + k periods) rather than sleeping a period after each one, so
    neither the sweep's own time nor floating-point rounding makes them drift late.

    A sweep more than ``stall_ms`` late means this process did not run meanwhile (SIGSTOP, a paused
    VM, a blocked event loop): beats sent to it then could not be received, so before sweeping every
    tracked instance counts as just beaten (``expiry.forgive_stall``), and the schedule restarts from
    now instead of catching up.
    ``stats`` counts the sweeps, their transitions and how late each one started.
    """
    stats = stats or SweepStats()
    start = trio.current_time()
    rounds = 0
    while True:
        rounds += 1
        due = start + rounds * period_ms / 1000
        await trio.sleep_until(due)
        now_ms = monotonic_ms()
        late_ms = now_ms - int(due * 1000)
        stats.lag.observe_ns(max(0, round((trio.current_time() - due) * 1e9)))
        try:
            if late_ms > stall_ms:
                forgive_stall(state, now_ms, late_ms)
                start, rounds = trio.current_time(), 0
            result = sweep(state, now_ms)
        except Exception:  # a bug in one sweep must not stop expiry for good
            log.exception("expiry sweep failed")
            continue
        stats.sweeps += 1
        stats.unhealthy += result.unhealthy
        stats.removed += result.removed
        stats.services_removed += result.services_removed
