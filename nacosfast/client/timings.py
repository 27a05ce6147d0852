"""Per-client intervals and timeouts; the defaults are the named bounds of ``limits``."""

from __future__ import annotations

from dataclasses import dataclass

from nacosfast.client import limits


@dataclass(frozen=True, slots=True)
class ClientTimings:
    """Every interval a client runs on, in milliseconds. Tests shorten them; applications rarely need
    to."""

    beat_interval_ms: int = limits.BEAT_INTERVAL_MS
    first_read_wait_ms: int = limits.FIRST_READ_WAIT_MS
    refresh_retry_base_ms: int = limits.REFRESH_RETRY_BASE_MS
    refresh_max_backoff_ms: int = limits.REFRESH_MAX_BACKOFF_MS
    endpoint_refresh_ms: int = limits.ENDPOINT_REFRESH_MS
    failover_switch_check_ms: int = limits.FAILOVER_SWITCH_CHECK_MS
    failover_backup_ms: int = limits.FAILOVER_BACKUP_MS
    failover_first_backup_ms: int = limits.FAILOVER_FIRST_BACKUP_MS
    connect_timeout_ms: int = limits.CONNECT_TIMEOUT_MS
    request_timeout_ms: int = limits.REQUEST_TIMEOUT_MS

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
