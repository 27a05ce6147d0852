"""Heartbeat table: last-beat time per tracked instance, in int64 ms of an injected monotonic clock.

Slots live in C arrays (last beat, unhealthy-after, delete-after, state); a dict maps each key to its
slot and freed slots are reused. ``beat`` is a dict lookup plus one store; ``sweep`` is one pass over
the arrays. Thresholds are strict, as in Nacos: unhealthy once ``now - last > timeout``, expired once
``now - last > delete``. Each transition is reported once.

Times and timeouts are int64 ms; a time outside ``±limits.CORE_MAX_ABS_MS`` or a timeout outside
``0 ≤ t < CORE_MAX_ABS_MS`` raises ``ValueError`` (so no difference can overflow).
"""

from collections.abc import Hashable
from typing import Final, final

BEAT_UNKNOWN: Final[int]
"""0: ``beat`` on a key that is not tracked."""
BEAT_OK: Final[int]
"""1: ``beat`` on a healthy tracked key."""
BEAT_REVIVED: Final[int]
"""2: ``beat`` on a key that ``sweep`` had reported unhealthy; it is healthy again."""

@final
class BeatTable:
    """Tracks when each instance last beat and reports health transitions on ``sweep``."""

    def __init__(self, capacity_hint: int = 1024) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: Hashable, /) -> bool: ...
    def track(
        self, key: Hashable, now_ms: int, timeout_ms: int, delete_ms: int, healthy: bool = True
    ) -> None:
        """Start tracking ``key`` (or reset it): last beat ``now_ms``, the given per-instance timeouts.

        ``healthy=False`` tracks it as already reported unhealthy (the next beat revives it).
        """
    def untrack(self, key: Hashable) -> bool:
        """Stop tracking ``key``; ``False`` if it was not tracked."""
    def beat(self, key: Hashable, now_ms: int) -> int:
        """Record a beat: ``BEAT_UNKNOWN``, ``BEAT_OK`` or ``BEAT_REVIVED``. O(1), no allocation."""
    def last_beat(self, key: Hashable) -> int | None:
        """The monotonic ms of the last beat, or ``None`` if untracked."""
    def is_healthy(self, key: Hashable) -> bool | None:
        """Health as this table sees it, or ``None`` if untracked."""
    def set_timeouts(self, key: Hashable, timeout_ms: int, delete_ms: int) -> bool:
        """Change one key's timeouts (metadata update); ``False`` if untracked."""
    def touch_all(self, now_ms: int) -> None:
        """Set every key's last beat to ``now_ms`` (a node taking over services)."""
    def sweep(self, now_ms: int) -> tuple[list[Hashable], list[Hashable]]:
        """``(became_unhealthy, expired)`` since the last sweep. Expired keys are untracked and not
        also listed as unhealthy. Allocates only for keys it reports; the order of keys in each list
        is unspecified (slot order)."""
