"""Every size and time bound of the client SDK, named, with its reason. Times are milliseconds.

The intervals are defaults: :class:`nacosfast.client.ClientTimings` carries them per client, so a test
can shorten them without touching these names.
"""

from __future__ import annotations

from typing import Final

# --- Server list (NameProxy) --------------------------------------------------------------------------
DEFAULT_SERVER_PORT: Final = 8848
"""Port of a server address given without one."""
DEFAULT_ENDPOINT_PORT: Final = 8080
"""Port of an address-server endpoint given without one (Nacos ``endpointPort``)."""
ENDPOINT_PATH: Final = "/nacos/serverlist"
"""Where an address server lists the Nacos servers, one ``ip[:port]`` per line."""
ENDPOINT_REFRESH_MS: Final = 30_000
"""How often the server list is fetched again from the endpoint (Nacos ``refreshSrvIfNeed``)."""
MAX_SERVERS: Final = 256
"""Addresses kept from one endpoint answer; a cluster larger than this is not a Nacos deployment."""

# --- HTTP --------------------------------------------------------------------------------------------
CONNECT_TIMEOUT_MS: Final = 3_000
"""Longest TCP connect to one server before the next one is tried."""
REQUEST_TIMEOUT_MS: Final = 5_000
"""Longest wait for a whole answer from one server (Nacos reads with a 3 s socket timeout per read;
this bounds the whole answer instead)."""
MAX_RESPONSE_BODY_BYTES: Final = 32 * 1024 * 1024
"""Largest answer body accepted: a list of 50,000 instances is about 15 MiB."""
MAX_RESPONSE_HEAD_BYTES: Final = 64 * 1024
"""Largest answer status line plus headers."""
MAX_IDLE_CONNECTIONS: Final = 8
"""Keep-alive connections kept per server; more concurrent requests open and then close extra ones."""
RECEIVE_CHUNK_BYTES: Final = 64 * 1024
"""Largest single read from a server connection."""

# --- Beats (BeatReactor) -----------------------------------------------------------------------------
BEAT_INTERVAL_MS: Final = 5_000
"""Beat period until the server says otherwise (``clientBeatInterval``)."""
MIN_BEAT_INTERVAL_MS: Final = 100
"""A smaller ``clientBeatInterval`` from a server (or metadata) is raised to this: no busy loop."""
MAX_BEAT_INTERVAL_MS: Final = 3_600_000
"""A larger ``clientBeatInterval`` is lowered to this."""

BEAT_CONCURRENCY: Final = 16
"""Beats in flight at once; beats have their own limit so that a burst of polls never delays them."""

# --- Host reactor ------------------------------------------------------------------------------------
FIRST_READ_WAIT_MS: Final = 5_000
"""A first read of a service with nothing cached waits this long for the first answer (the seeds:
the Java HostReactor waits up to 5 s)."""
REFRESH_RETRY_BASE_MS: Final = 1_000
"""After a failed refresh the next one comes after ``base << failures`` (Nacos ``DEFAULT_DELAY``)."""
REFRESH_MAX_BACKOFF_MS: Final = 60_000
"""Longest pause between refresh attempts while servers fail; polling never stops."""
REFRESH_MAX_FAILURE_SHIFT: Final = 6
"""``failures`` stops growing here (Nacos caps its ``failCount`` at 6)."""
MIN_CACHE_MILLIS: Final = 1_000
"""A smaller ``cacheMillis`` from a server is raised to this (Nacos's own minimum, compatibility.md §3)."""
MAX_CACHE_MILLIS: Final = 60_000
"""A larger ``cacheMillis`` is lowered to this: a poll at least every minute, push or not."""
POLL_CONCURRENCY: Final = 16
"""Polls in flight at once (10,000 services polled every 10 s is 1,000 polls/s at most)."""
MAX_SUBSCRIBED_SERVICES: Final = 10_000
"""Services one client keeps in its cache (subscribed or read): bounds memory, polling and files."""
LISTENER_QUEUE: Final = 1_024
"""Change events waiting for listeners; when full the oldest waiting event is dropped (the next
change of that service carries the full instance list anyway)."""

# --- UDP push ----------------------------------------------------------------------------------------
MAX_DATAGRAM_BYTES: Final = 65_535
"""Largest UDP datagram read."""
MAX_PUSH_DECOMPRESSED_BYTES: Final = 8 * 1024 * 1024
"""A gzipped push that inflates past this is dropped (a 64 KiB gzip bomb would reach 64 MiB)."""
MAX_ACK_BYTES: Final = 60_000
"""A ``dump-ack`` whose cache dump would exceed this is sent with empty ``data``."""

# --- Disk cache and failover (DiskCache, FailoverReactor) --------------------------------------------
FAILOVER_SWITCH_CHECK_MS: Final = 5_000
"""How often the failover switch file is read (Nacos ``SwitchRefresher``)."""
FAILOVER_BACKUP_MS: Final = 24 * 3_600_000
"""How often the whole cache is copied into the failover directory (Nacos ``DiskFileWriter``)."""
FAILOVER_FIRST_BACKUP_MS: Final = 10_000
"""After start, a backup is written this soon if the failover directory has none yet (as Nacos)."""
MAX_CACHE_FILE_BYTES: Final = 32 * 1024 * 1024
"""A cache or failover file larger than this is not loaded (same bound as an answer body)."""
