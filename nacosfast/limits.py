"""Every size and time bound in nacosfast, named, with its reason. Times are milliseconds.

Sections are owned by the module named in their heading; add new bounds to the matching section.
"""

from __future__ import annotations

from typing import Final

# --- Nacos timing (client-visible defaults, spec §2.1, §9.7) -----------------------------------------
CLIENT_BEAT_INTERVAL_MS: Final = 5_000
"""Beat period Nacos tells clients (``clientBeatInterval``)."""
HEARTBEAT_TIMEOUT_MS: Final = 15_000
"""An ephemeral instance is unhealthy once its last beat is older than this."""
IP_DELETE_TIMEOUT_MS: Final = 30_000
"""An ephemeral instance is removed once its last beat is older than this."""
DEFAULT_CACHE_MILLIS: Final = 3_000
"""``cacheMillis`` in list answers without push: clients poll this often."""
PUSH_CACHE_MILLIS: Final = 10_000
"""``cacheMillis`` with push; also the subscriber zombie window (strict ``>``)."""
REAPER_PERIOD_MS: Final = 1_000
"""How often beat expiry is swept. Nacos checks every 5 s; a shorter period only makes transitions
closer to the 15 s / 30 s marks (the thresholds themselves are unchanged)."""

# --- HTTP (nacosfast.wire.http, nacosfast.server.http) -----------------------------------------------
MAX_HEADER_BYTES: Final = 16 * 1024
"""Request line plus headers; more is 431. nginx's default large buffer is 8 KiB, h11's limit 16 KiB."""
MAX_BODY_BYTES: Final = 1024 * 1024
"""Largest request body; more is 413. Nacos metadata batches are the largest legitimate bodies."""
REQUEST_HEAD_TIMEOUT_MS: Final = 10_000
"""A client must finish sending a request head this soon after its first byte (slowloris)."""
KEEPALIVE_IDLE_TIMEOUT_MS: Final = 60_000
"""An idle keep-alive connection is closed after this long."""
MAX_CONNECTIONS: Final = 10_000
"""Open client connections per listener; past this new connections are closed at once."""
MAX_PIPELINED_REQUESTS: Final = 256
"""Requests answered from one read before the connection yields to others."""

# --- Names and values (nacosfast.naming) -------------------------------------------------------------
MAX_NAME_LENGTH: Final = 512
"""Service, group, cluster and namespace ids. Nacos stores them as VARCHAR(255/128) in its config DB."""
MAX_NAMESPACE_ID_LENGTH: Final = 128
"""Nacos: custom namespace ids are at most 128 characters."""
MAX_IP_LENGTH: Final = 255
"""An ip may be a host name; 255 is the DNS limit."""
MAX_METADATA_BYTES: Final = 64 * 1024
"""Raw ``metadata`` parameter size."""
MAX_METADATA_ENTRIES: Final = 256
"""Keys in one instance's or service's metadata."""
MAX_METADATA_VALUE_LENGTH: Final = 8 * 1024
"""One metadata key or value."""
MAX_PAGE_SIZE: Final = 10_000
"""Largest ``pageSize`` in list endpoints."""
