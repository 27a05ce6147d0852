"""The two clocks: monotonic milliseconds (expiry, ordering) and wall milliseconds (shown values)."""

from __future__ import annotations

import math
import time

import trio


def monotonic_ms() -> int:
    """Trio's clock in ms: monotonic in production, virtual under ``autojump_clock`` in tests."""
    return math.floor(trio.current_time() * 1000)


def wall_ms() -> int:
    """Epoch milliseconds, only for values sent to clients (``lastRefTime``, ``lastBeat``)."""
    return time.time_ns() // 1_000_000
