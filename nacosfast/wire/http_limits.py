"""``HttpLimits``: the bounds one HTTP server applies, as one frozen value (defaults from ``limits``).

The sans-I/O ``HttpConnection`` takes it as it is (the sizes and per-connection timeouts), the Trio
shell reads the rest (connection count, shedding, the response and shutdown bounds, the tick and the
request memory budget). It holds no state, so several servers in one process can share one.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacosfast.limits import (
    CONNECTION_SHED_MIN_QUIET_MS,
    HTTP_TICK_MS,
    KEEPALIVE_IDLE_TIMEOUT_MS,
    MAX_BODY_BYTES,
    MAX_BUFFERED_REQUEST_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    PARSER_FEED_SLICE_BYTES,
    RECV_BUFFER_BYTES,
    REQUEST_ALLOWANCE_BYTES,
    REQUEST_HEAD_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    RESPONSE_TIMEOUT_MS,
    SHUTDOWN_GRACE_MS,
)
from nacosfast.wire.budget import RequestBudget

__all__ = ["HttpLimits", "max_request_bytes"]


def max_request_bytes(max_header_bytes: int, max_body_bytes: int) -> int:
    """The most ``HttpConnection.buffered`` can reach for one request under these limits."""
    return max_header_bytes + 2 * PARSER_FEED_SLICE_BYTES + max_body_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """The bounds one server applies; every default is a named constant in ``nacosfast.limits``."""

    max_header_bytes: int = MAX_HEADER_BYTES
    """Request line plus headers; more is 431."""
    max_header_fields: int = MAX_HEADER_FIELDS
    """Header fields per request; more is 431."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Largest (de-chunked) body; more is 413."""
    head_timeout_ms: int = REQUEST_HEAD_TIMEOUT_MS
    """A started head must be complete this soon (else 408)."""
    request_timeout_ms: int = REQUEST_TIMEOUT_MS
    """A started request must be complete this soon (else 408)."""
    idle_timeout_ms: int = KEEPALIVE_IDLE_TIMEOUT_MS
    """An idle keep-alive connection is closed after this long."""
    response_timeout_ms: int = RESPONSE_TIMEOUT_MS
    """Longest a parsed request may wait for durability plus the send of its answer."""
    shutdown_grace_ms: int = SHUTDOWN_GRACE_MS
    """On shutdown, answers to requests already parsed get this long to go out."""
    max_connections: int = MAX_CONNECTIONS
    """Open connections per listener."""
    shed_min_quiet_ms: int = CONNECTION_SHED_MIN_QUIET_MS
    """At ``max_connections``, connections quiet this long may be closed to make room."""
    tick_ms: int = HTTP_TICK_MS
    """How often timeouts are checked (``serve_http``): they fire up to this late."""
    max_buffered_bytes: int = MAX_BUFFERED_REQUEST_BYTES
    """The pool of a server's ``RequestBudget`` (``serve_http``)."""
    request_allowance_bytes: int = REQUEST_ALLOWANCE_BYTES
    """Request bytes a connection holds without a share of the pool (``serve_http``)."""

    def __post_init__(self) -> None:
        if self.max_buffered_bytes < self.max_need:
            raise ValueError("max_buffered_bytes must hold at least one request of the largest size")
        if not 1 <= self.request_allowance_bytes <= RECV_BUFFER_BYTES:
            raise ValueError(f"request_allowance_bytes must be within 1..{RECV_BUFFER_BYTES}")

    @property
    def max_need(self) -> int:
        """The most one unfinished request can hold in memory under these limits."""
        return max_request_bytes(self.max_header_bytes, self.max_body_bytes)

    def budget(self) -> RequestBudget:
        """A new memory budget for one server's connections with these limits."""
        return RequestBudget(self.max_buffered_bytes, self.request_allowance_bytes, RECV_BUFFER_BYTES)


DEFAULT_HTTP_LIMITS = HttpLimits()
"""The limits of a server that was given none (immutable, so one value serves every connection)."""
