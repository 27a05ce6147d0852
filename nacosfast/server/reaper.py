"""The reaper task: beat expiry and empty-service cleanup on the monotonic clock."""

from __future__ import annotations

import logging

import trio

from nacosfast.limits import REAPER_PERIOD_MS
from nacosfast.naming.expiry import sweep
from nacosfast.naming.state import NamingState
from nacosfast.server.clock import monotonic_ms

log = logging.getLogger("nacosfast.server")


async def run_reaper(state: NamingState, period_ms: int = REAPER_PERIOD_MS) -> None:
    """Sweep every ``period_ms`` until cancelled; a failing sweep is logged and the next one runs.

    Sweeps keep a fixed schedule (start + k periods) rather than sleeping a period after each one, so
    neither the sweep's own time nor floating-point rounding makes them drift late.
    """
    start = trio.current_time()
    rounds = 0
    while True:
        rounds += 1
        await trio.sleep_until(start + rounds * period_ms / 1000)
        try:
            sweep(state, monotonic_ms())
        except Exception:  # a bug in one sweep must not stop expiry for good
            log.exception("expiry sweep failed")
