"""The host reactor (Nacos ``HostReactor``), sans-I/O: the local map of services served to reads, the
refresh schedule of the ones in use, and the failover view.

- Data arrives from polls, pushes and the disk cache; only data at least as new as what is held is
  applied (``lastRefTime``, the server's wall clock), so a late poll answer cannot undo a push.
- Each tracked service is polled every ``cacheMillis``; after a failure the next poll comes after
  ``1 s << failures`` (capped at 60 s) and polling never stops.
- With the failover switch on, reads are answered from the failover data wherever it has the
  service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nacosfast.client.errors import NacosClientError
from nacosfast.client.limits import (
    MAX_CACHE_MILLIS,
    MAX_SUBSCRIBED_SERVICES,
    MIN_CACHE_MILLIS,
    REFRESH_MAX_BACKOFF_MS,
    REFRESH_MAX_FAILURE_SHIFT,
    REFRESH_RETRY_BASE_MS,
)
from nacosfast.client.model import ServiceChange, ServiceInfo, cache_key, diff
from nacosfast.client.schedule import DueHeap


class TooManyServices(NacosClientError):
    """More services in use than ``MAX_SUBSCRIBED_SERVICES``."""


@dataclass(slots=True)
class Tracked:
    """A service selection being polled."""

    grouped: str
    clusters: str
    due_ms: int
    failures: int = 0
    in_flight: bool = False
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of applying data: the change for listeners (``None`` if the instances are the same)
    and whether the disk cache should be rewritten (the instances changed, or the service is new)."""

    change: ServiceChange | None
    persist: bool


_NOT_STORED = Applied(None, persist=False)


@dataclass(slots=True)
class HostReactor:
    """Cache, poll schedule and failover view of one client."""

    retry_base_ms: int = REFRESH_RETRY_BASE_MS
    max_backoff_ms: int = REFRESH_MAX_BACKOFF_MS
    max_services: int = MAX_SUBSCRIBED_SERVICES
    _cache: dict[str, ServiceInfo] = field(default_factory=dict)
    _answered: set[str] = field(default_factory=set)
    """Keys a server has answered for since start (the rest came from disk only)."""
    _tracked: dict[str, Tracked] = field(default_factory=dict)
    _heap: DueHeap[str, Tracked] = field(init=False)
    _generations: int = 0
    _failover: dict[str, ServiceInfo] | None = None
    stale_ignored: int = 0
    """Data dropped because it was older than what was held."""

    def __post_init__(self) -> None:
        self._heap = DueHeap(self._tracked)

    # --- data -----------------------------------------------------------------------------------------

    def load(self, infos: list[ServiceInfo]) -> int:
        """Seed the cache from disk (never over server data); how many were taken."""
        taken = 0
        for info in infos:
            if info.key not in self._cache and len(self._cache) < self.max_services:
                self._cache[info.key] = info
                taken += 1
        return taken

    def apply(self, info: ServiceInfo, *, from_push: bool = False) -> Applied:
        """Take a server's answer (poll or push) for ``info.key``.

        A push for a service not in use is ignored (the map only holds what the application reads).
        Older data (smaller ``lastRefTime``) is ignored; a poll answer without ``lastRefTime`` (an
        unknown service) is taken as it is.
        """
        key = info.key
        if from_push and key not in self._tracked:
            return _NOT_STORED
        old = self._cache.get(key)
        if old is not None and 0 < info.last_ref_time < old.last_ref_time:
            self.stale_ignored += 1
            return _NOT_STORED
        if old is None and len(self._cache) >= self.max_services:
            return _NOT_STORED
        self._answered.add(key)
        change = diff(old.hosts if old is not None else (), info)
        self._cache[key] = info
        return Applied(change, persist=change is not None or old is None)

    def answered(self, key: str) -> bool:
        """Whether a server has answered for ``key`` since start."""
        return key in self._answered

    def cached(self, key: str) -> ServiceInfo | None:
        """The live data for ``key`` (ignoring failover)."""
        return self._cache.get(key)

    def read(self, key: str) -> ServiceInfo | None:
        """What a read returns: the failover data while the switch is on, else the live data."""
        if self._failover is not None:
            info = self._failover.get(key)
            if info is not None:
                return info
        return self._cache.get(key)

    def snapshot(self) -> list[ServiceInfo]:
        """Every service held (for a failover backup or a ``dump`` push)."""
        return list(self._cache.values())

    # --- failover -------------------------------------------------------------------------------------
    @property
    def failover_on(self) -> bool:
        return self._failover is not None

    def set_failover(self, infos: list[ServiceInfo] | None) -> None:
        """Switch failover on with ``infos`` as its data, or off with ``None``."""
        self._failover = None if infos is None else {info.key: info for info in infos}

    # --- poll schedule --------------------------------------------------------------------------------
    def track(self, grouped: str, clusters: str, now_ms: int) -> str:
        """Poll ``(grouped, clusters)`` from now on (the first poll is due at once); its key."""
        key = cache_key(grouped, clusters)
        if key in self._tracked:
            return key
        if len(self._tracked) >= self.max_services:
            raise TooManyServices(f"a client may use at most {self.max_services} services")
        self._generations += 1
        entry = Tracked(grouped, clusters, now_ms, generation=self._generations)
        self._tracked[key] = entry
        self._heap.push(key, entry)
        return key

    def untrack(self, key: str) -> None:
        """Stop polling ``key`` (its data stays cached for later reads)."""
        self._tracked.pop(key, None)

    def is_tracked(self, key: str) -> bool:
        return key in self._tracked

    def tracked_keys(self) -> list[str]:
        return list(self._tracked)

    def due(self, now_ms: int) -> list[tuple[str, Tracked]]:
        """Polls due now; each is in flight until reported done or failed."""
        return self._heap.due(now_ms)

    def next_deadline_ms(self) -> int | None:
        """The earliest poll due, or ``None`` when nothing is tracked."""
        return self._heap.next_deadline_ms()

    def poll_now(self, key: str, now_ms: int) -> None:
        """Bring the next poll of ``key`` forward to now (unless one is in flight)."""
        entry = self._tracked.get(key)
        if entry is None or entry.in_flight or entry.due_ms <= now_ms:
            return
        entry.due_ms = now_ms
        self._heap.push(key, entry)

    def poll_all_now(self, now_ms: int) -> None:
        """Bring every poll forward to now: a server came back (or lost its state), so its push
        subscriptions must be renewed and its data read again."""
        for key in self._tracked:
            self.poll_now(key, now_ms)

    def _reschedule(self, key: str, entry: Tracked, delay_ms: int, now_ms: int) -> None:
        entry.in_flight = False
        entry.due_ms = now_ms + delay_ms
        self._heap.push(key, entry)

    def polled(self, key: str, info: ServiceInfo, now_ms: int) -> Applied:
        """A poll answered: apply it and schedule the next poll ``cacheMillis`` later."""
        applied = self.apply(info)
        entry = self._tracked.get(key)
        if entry is not None:
            entry.failures = 0
            delay = max(MIN_CACHE_MILLIS, min(MAX_CACHE_MILLIS, info.cache_millis or MIN_CACHE_MILLIS))
            self._reschedule(key, entry, delay, now_ms)
        return applied

    def poll_failed(self, key: str, now_ms: int) -> int:
        """A poll failed: back off; the delay until the next one."""
        entry = self._tracked.get(key)
        if entry is None:
            return 0
        entry.failures = min(entry.failures + 1, REFRESH_MAX_FAILURE_SHIFT)
        delay = min(self.retry_base_ms << entry.failures, self.max_backoff_ms)
        self._reschedule(key, entry, delay, now_ms)
        return delay
