"""Every size and time bound in nacosfast, named, with its reason. Times are milliseconds.

Sections are owned by the module named in their heading; add new bounds to the matching section.
"""

from __future__ import annotations

from typing import Final

# --- Nacos timing (client-visible defaults, compatibility.md §2.1, §9.7) ------------------------------------
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
REAPER_PERIOD_MS: Final = 100
"""How often beat expiry is swept. Nacos checks every 5 s, so its instances turn unhealthy anywhere
between 15 s and 20 s; a sweep of 1,000,000 untouched instances costs under 1 ms here, so sweeping
every 100 ms puts each transition within 0.1 s of the 15 s / 30 s marks."""

REAPER_STALL_MS: Final = 5_000
"""A sweep this late means the process did not run (SIGSTOP, a paused VM): beats sent meanwhile never
arrived, so every tracked instance then counts as just beaten instead of expiring on resume. A whole
client beat period (5 s): shorter stalls cannot have lost a beat's worth of time."""

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
"""Open client connections per listener. At the limit, quiet connections are shed to make room
(``CONNECTION_SHED_BATCH``); only when none can be shed is a new connection closed at once."""
CONNECTION_SHED_BATCH: Final = 64
"""Quiet connections (idle keep-alive, or an unfinished head) closed at once, oldest first, when a
connection arrives at ``MAX_CONNECTIONS`` (nginx drains 32 reusable connections the same way): a flood
of idle sockets cannot lock clients out for the idle timeout. One scan of all connections per batch."""
CONNECTION_SHED_MIN_QUIET_MS: Final = 1_000
"""A connection is shed only after this long without a completed request: one just answered is
likely about to send its next request (a close would race with it)."""
CONNECTION_LIMIT_LOG_PERIOD_MS: Final = 10_000
"""At most one warning this often while connections are shed or refused at the limit (a flood must
not flood the log too)."""
MAX_PIPELINED_REQUESTS: Final = 256
"""Requests answered from one read before the connection yields to others."""
REQUEST_TIMEOUT_MS: Final = 30_000
"""A whole request (head and body) must arrive this soon after its first byte (slow bodies)."""
RESPONSE_TIMEOUT_MS: Final = 30_000
"""Longest a parsed request may wait for its durable write plus the send of its answer (a client
that stops reading, a stuck disk); then the connection is closed."""
SHUTDOWN_GRACE_MS: Final = 2_000
"""On shutdown, requests already parsed get this long to be answered before connections close."""
STORE_CLOSE_TIMEOUT_MS: Final = 10_000
"""On shutdown, the log's last flush and close (in a worker thread) may take this long; past it the
node stops without waiting (a hung disk must not hang the process; whatever was acknowledged was
fsync'd already, so only unacknowledged records can be lost)."""
PARSER_FEED_SLICE_BYTES: Final = 4 * 1024
"""Bytes handed to llhttp per call: bounds how far an unfinished head grows past MAX_HEADER_BYTES."""
RECV_BUFFER_BYTES: Final = 64 * 1024
"""Largest single read from a client socket (everything pipelined in it is answered with one send)."""
LISTEN_BACKLOG: Final = 4_096
"""Pending-connection queue; Linux caps it at net.core.somaxconn (4096 by default since 5.4)."""
ACCEPT_BATCH: Final = 256
"""Connections accepted per wake-up of the accept loop before it yields to other tasks."""
HUB_EVENTS_PER_WAKEUP: Final = 256
"""Ready sockets taken from the connection hub's epoll set per wake-up."""
HUB_REQUESTS_PER_WAKEUP: Final = 1_024
"""Requests the connection hub answers per wake-up before it yields to other tasks (the sockets it did
not get to stay ready and are served on the next wake-up)."""
HUB_POLLS_PER_WAKEUP: Final = 16
"""Times the hub polls its epoll set (without waiting) per wake-up: sockets that became ready while it
served the others are served at once, without a trip through Trio's scheduler."""
ACCEPT_ERROR_BACKOFF_MS: Final = 100
"""Pause after accept() fails for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM)."""
HTTP_TICK_MS: Final = 1_000
"""Period of the HTTP timer: refreshes the Date header and closes timed-out connections."""
LINGER_TIMEOUT_MS: Final = 2_000
"""After an error answer (400, 413, 431) the unread rest of the input is drained this long before
the socket closes, so that the client reads the answer instead of a reset (nginx lingers up to 5 s)."""
MAX_HEADER_FIELDS: Final = 100
"""Distinct header names in one request; more is 431. Tomcat's ``maxHeaderCount`` default (Nacos runs on
Tomcat). Bounds the Python objects one head makes: ~100 bytes each beyond the bytes counted."""
REQUEST_ALLOWANCE_BYTES: Final = 8 * 1024
"""Bytes of a request a connection may hold (and read at once) without a share of
``MAX_BUFFERED_REQUEST_BYTES``. Nacos API requests are under 2 KiB, so they never wait for the budget;
10,000 connections hold at most 80 MiB this way."""
MAX_BUFFERED_REQUEST_BYTES: Final = 128 * 1024 * 1024
"""Request bytes held beyond their allowance across all connections of a server: partial heads and
bodies, and received requests not answered yet. A request that needs more is not read (TCP backpressure)
until earlier ones finish; 128 one-MiB bodies go through at once. Worst case with the allowances:
128 MiB + 10,000 x 8 KiB = 208 MiB (without it: 10,000 x 1 MiB = 10 GiB)."""

# --- Storage (nacosfast.store.log, nacosfast.server.durability; docs/storage.md) ----------------------
STORE_MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
"""Largest record: one key's value (a persistent instance, a service's attributes, a namespace), far
above what the metadata limits let one reach; a service's size is not capped by it. Larger values are
refused (400), larger appends with ValueError; a frame claiming more is corrupt."""
STORE_MAX_PENDING_BYTES: Final = 64 * 1024 * 1024
"""Records buffered and not yet durable (a stuck or full disk); past this appends answer 503 instead of
growing memory without bound."""
STORE_SNAPSHOT_LOG_BYTES: Final = 64 * 1024 * 1024
"""A snapshot is taken once the log files hold this many bytes: bounds disk use and start-up replay."""
STORE_SNAPSHOT_LOG_RECORDS: Final = 500_000
"""...or this many records, whichever comes first (small records replay at ~1 µs each)."""
STORE_SNAPSHOT_WRITE_CHUNK_BYTES: Final = 1024 * 1024
"""A snapshot is written in chunks of about this size (one os.write each), not built whole in memory."""
STORE_RETRY_INTERVAL_MS: Final = 500
"""After a failed flush or snapshot (ENOSPC, EIO), the next attempt waits this long: no busy loop on a
full disk, and a freed disk is noticed within half a second."""
STORE_REFUSED_RANGES_KEPT: Final = 1024
"""Ranges of refused record numbers remembered (one per failure episode), so that a late
``wait_durable`` for a refused record still raises; waits come within a request's lifetime."""
STORE_SHUTDOWN_FLUSH_TIMEOUT_MS: Final = 5_000
"""On shutdown, the last flush of pending records may take this long before it is abandoned."""

# --- etcd store (nacosfast.server.etcd; docs/etcd.md) -------------------------------------------------
ETCD_REQUEST_TIMEOUT_MS: Final = 3_000
"""A write or read etcd has not answered within this is 503 (unreachable, or no quorum: etcd itself
waits up to ~7 s before it gives up on a proposal); never an ``ok`` and, after the undo, not visible."""
ETCD_CONNECT_TIMEOUT_MS: Final = 1_000
"""Opening a connection to one etcd endpoint; past it the next endpoint is tried."""
ETCD_MAX_CONNECTIONS: Final = 32
"""Keep-alive connections to etcd for writes and reads (concurrent requests beyond wait for one)."""
ETCD_MAX_PENDING_WRITES: Final = 10_000
"""Writes sent and not yet answered by etcd; past it writes answer 503 at once instead of queueing."""
ETCD_MAX_REPLY_BYTES: Final = 512 * 1024 * 1024
"""Largest reply read from etcd (a full range read of every key at start-up or after compaction)."""
ETCD_RETRY_INTERVAL_MS: Final = 200
"""The watch reconnects (or re-reads after a compaction) this long after a failure."""
ETCD_RANGE_PAGE_KEYS: Final = 5_000
"""Keys per page when a node reads everything (start-up, after a compaction): bounds one reply (with
``STORE_MAX_RECORD_BYTES`` values, and etcd's own reply limits) while staying one revision."""
ETCD_TOMBSTONES_KEPT: Final = 10_000
"""Deleted keys remembered with their revision before those the watch has passed are forgotten."""
ETCD_FAILED_WRITES_KEPT: Final = 100_000
"""Refused write numbers remembered with their reason, so a waiter learns why (oldest dropped)."""
# --- Compiled core (nacosfast._core: registry, beats, digest) ----------------------------------------
CORE_MAX_CACHED_VARIANTS: Final = 16
"""Encoded responses one ``Service`` snapshot memoizes (clusters × healthyOnly × client shape); a
snapshot lives only until the next write, so a handful of variants covers real traffic."""
CORE_MAX_INTERNED_METADATA: Final = 65_536
"""Distinct metadata maps shared between instances; the table is emptied when it fills, so unique
per-instance metadata cannot make it grow without bound (maps already shared stay shared)."""
CORE_MAX_INTERNED_STRINGS: Final = 65_536
"""Distinct cluster names, app names and metadata keys shared between instances (emptied when full)."""
CORE_MAX_ABS_MS: Final = 2**62
"""Monotonic-ms values and timeouts the beat table accepts (``|value| < 2**62``), so every difference
it computes fits in an int64."""
CORE_MAX_DIGEST_MESSAGE_BYTES: Final = 64 * 1024 * 1024
"""Largest decompressed digest message accepted from a peer: ~800k services at ~80 bytes a key."""

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
MAX_LOGGED_QUERY_CHARS: Final = 512
"""(``naming.app``) Characters of a failed request's query string written to the log with its traceback."""

# --- Instances, beats and expiry (nacosfast.naming.instances, render, expiry; compatibility.md §3, §8) ------
MAX_BEAT_BYTES: Final = MAX_METADATA_BYTES + 8 * 1024
"""The ``beat`` JSON parameter: a beat carries the instance's metadata plus a few short fields."""
MAX_LIST_QUERY_MEMO: Final = 4_096
"""Validated ``instance/list`` query strings remembered (clients poll the same URL every few seconds);
when full the memo is cleared, so hostile variety costs one re-parse per request, never memory."""
MAX_MEMOIZED_METADATA_CHARS: Final = 1_024
"""The compiled request path remembers how a ``metadata`` parameter of up to this many characters
reads (clients of one application send the same few maps), at most ``MAX_LIST_QUERY_MEMO`` of them:
~4 MiB at worst. Longer texts are parsed on every request."""
MAX_CLIENT_INFO_MEMO: Final = 1_024
"""Distinct ``User-Agent`` strings a node remembers the parsed client of; clients send a handful, so
this bounds hostile variety (further agents are parsed per request)."""
MAX_CLUSTERS_PARAM_LENGTH: Final = 1_024
"""The ``clusters`` list of ``instance/list``; it is echoed in every answer and keys the push table
(whose own bound, ``PUSH_MAX_FIELD_LENGTH``, is the same)."""
MAX_BATCH_INSTANCES: Final = 10_000
"""Entries of the ``instances`` JSON list of ``/instance/metadata/batch``."""
MAX_BEAT_REPLY_VARIANTS: Final = 64
"""Encoded beat replies memoized by (code, interval, lightBeatEnabled); instances choose their own
interval, so the memo is bounded and further variants are encoded per request."""
EMPTY_SERVICE_CLEAN_PERIOD_MS: Final = 30_000
"""How often services without instances are looked for (Nacos's shipped conf: every 30 s)."""
EMPTY_SERVICE_CLEAN_ROUNDS: Final = 5
"""A service is removed on this many consecutive empty observations (Nacos: ``finalizeCount > 3``,
i.e. the 5th). A write to the service (a new revision) starts the count again."""
EMPTY_SERVICE_MIN_AGE_MS: Final = 60_000
"""An empty service is never removed sooner than this after it was first seen empty (a service created
just before a check, e.g. by ``POST /service``, survives several minutes)."""

# --- Push (nacosfast.naming.push, nacosfast.server.udp; compatibility.md §7) --------------------------------
PUSH_COALESCE_MS: Final = 50
"""Changes to one service within this window become one packet per subscriber. Nacos waits 1000 ms
before every push; 50 ms keeps change → packet well under the 100 ms p99 target."""
PUSH_RETRY_MS: Final = 10_000
"""An unacked packet is resent this long after its last send (Nacos ``ACK_TIMEOUT_NANOS``, 10 s)."""
PUSH_GIVE_UP_MS: Final = 20_000
"""An unacked packet is abandoned this long after its first send (Nacos: 2 sends, then 20 s)."""
PUSH_REPEAT_MS: Final = 0
"""Period of the optional re-push of the latest state to subscribers whose last packet went unacked.
0 = off, as in Nacos 1.4 (the seed documents describe 10 s; clients poll anyway)."""
PUSH_ZOMBIE_SWEEP_MS: Final = 20_000
"""How often zombie subscribers (no poll for more than ``PUSH_CACHE_MILLIS``) are removed (Nacos 20 s).
Zombies are skipped at push time whatever this is."""
PUSH_GZIP_MIN_BYTES: Final = 1_024
"""A packet of at least this many bytes is gzipped whole (Nacos ``compressIfNecessary``)."""
PUSH_GZIP_LEVEL: Final = 6
"""zlib level of push packets (Java's ``GZIPOutputStream`` default); one compression per distinct body."""
PUSH_MAX_DATAGRAM_BYTES: Final = 65_507
"""Largest UDP payload over IPv4; a larger packet is counted failed (clients still poll). The Java
client reads into a 64 KiB buffer."""
PUSH_MAX_SUBSCRIBERS: Final = 200_000
"""Subscribers held at once (about 300 bytes each); past this new ones are refused and simply poll."""
PUSH_MAX_FIELD_LENGTH: Final = 1_024
"""Longest ``clusters``, ``agent``, ``app`` or ``tid`` a subscriber may carry; longer ones are refused
so that a flood of huge parameters cannot inflate the subscriber table."""
PUSH_MAX_DIRTY_SERVICES: Final = 65_536
"""Services waiting to be pushed; past this the oldest waiting one is dropped and counted."""
PUSH_BATCH: Final = 1_024
"""Subscribers visited or timers fired per step of the push task; the task yields to others between
steps (a checkpoint every ~1,000 sends; ``docs/architecture.md``)."""
PUSH_ACKS_PER_WAKE: Final = 1_024
"""Datagrams read per wake-up of the ack receiver before it yields."""
PUSH_MAX_ACK_BYTES: Final = 4_096
"""Largest ack parsed; a ``push-ack`` is under 100 bytes. Larger datagrams are counted invalid."""
PUSH_RECV_BUFFER_BYTES: Final = 65_536
"""Read size of the push socket: a whole datagram, so an oversized one is dropped, not split."""
PUSH_SOCKET_BUFFER_BYTES: Final = 4 * 1024 * 1024
"""SO_SNDBUF/SO_RCVBUF asked for the push socket (the kernel caps it at wmem_max/rmem_max); a deep send
buffer lets a 10k-subscriber fan-out go out without waiting for writability."""
PUSH_SEQ_LIMIT: Final = 2**53
"""Packet sequence numbers (the outer ``lastRefTime``) stay below this: Node parses them as doubles."""
PUSH_STATE_DETAIL_MAX: Final = 1_000
"""In-flight packets listed by ``/operator/push/state?detail=true``."""
PUSH_ERROR_BACKOFF_MS: Final = 1_000
"""Pause of a push task after an unexpected error, so that a bug cannot spin a core (clients poll)."""

# --- Services, catalog, operator, health and console (nacosfast.naming.services, catalog, operator,
# --- health, console; compatibility.md §3.10–3.12, §4, §5) --------------------------------------------------
MAX_SELECTOR_BYTES: Final = 8 * 1024
"""A ``selector`` JSON parameter; a label expression names a handful of labels."""
MAX_HEALTH_CHECKER_BYTES: Final = 8 * 1024
"""A ``healthChecker`` JSON parameter of ``PUT /cluster`` (an HTTP checker's path and headers)."""
MAX_SWITCH_VALUE_BYTES: Final = 64 * 1024
"""The ``value`` of ``PUT /operator/switches`` (``batch`` is a whole SwitchDomain JSON)."""
HOST_FIGURES_PERIOD_MS: Final = 1_000
"""The server samples cpu/load/memory from ``/proc`` this often for ``/operator/metrics`` (a CPU fraction
over less than a second is mostly noise)."""
MAX_LOG_NAME_LENGTH: Final = 256
"""``logName`` of ``PUT /operator/log``; nacosfast's logger names are under 40 characters."""
MIN_PUSH_CACHE_MILLIS: Final = 10_000
"""Nacos's floor for ``pushCacheMillis``: push subscribers expire after this, clients poll at it."""
MIN_DEFAULT_CACHE_MILLIS: Final = 1_000
"""Nacos's floor for ``defaultCacheMillis`` (the poll period of clients without push)."""
MIN_SERVICE_SYNC_MILLIS: Final = 5_000
"""Nacos's floor for ``serviceStatusSynchronizationPeriodMillis``."""
MIN_SERVER_SYNC_MILLIS: Final = 1_000
"""Nacos's floor for ``serverStatusSynchronizationPeriodMillis`` (its message says 15000)."""
MIN_CLIENT_BEAT_INTERVAL_MS: Final = 500
"""Smallest ``clientBeatInterval`` switch: Nacos takes any long, and 0 or 1 ms would make every
client beat in a tight loop. Half a second still allows aggressive test set-ups."""
MIN_HEALTH_PARAMS_MIN_MS: Final = 500
"""Nacos's floor for the ``min`` of the HTTP and TCP health-check periods."""
MIN_HEALTH_PARAMS_MAX_MS: Final = 3_000
"""Nacos's floor for the ``max`` of the HTTP and TCP health-check periods."""
MAX_NAMESPACES: Final = 10_000
"""Custom namespaces; each is journaled in every snapshot. Nacos's console lists a few dozen."""
MAX_NAMESPACE_NAME_LENGTH: Final = 128
"""A namespace's display name (Nacos ``tenant_info.tenant_name`` is VARCHAR(128))."""
MAX_NAMESPACE_DESC_LENGTH: Final = 256
"""A namespace's description (Nacos ``tenant_info.tenant_desc`` is VARCHAR(256))."""

# --- Cluster membership, ownership and peers (nacosfast.cluster, nacosfast.server.peers; docs/cluster.md) ---
DEFAULT_MEMBER_PORT: Final = 8848
"""Port of a ``cluster.conf`` or address-server entry written without one (Nacos's default)."""
MEMBER_REPORT_INTERVAL_MS: Final = 2_000
"""Each node reports its status to every peer this often (Nacos ``MemberInfoReportTask``: 2 s)."""
MEMBER_SUSPICIOUS_AFTER_MS: Final = 5_000
"""A peer not heard from (no report received, no report answered) for this long is SUSPICIOUS: two
missed reports and a half. It stays in the healthy list, as in Nacos."""
MEMBER_DOWN_AFTER_MS: Final = 9_000
"""A peer not heard from for this long is DOWN (four missed reports) and leaves the healthy list, so
its services get new owners. Nacos takes 3 failed reports (6 s) or one refused connection."""
MEMBER_FAIL_LIMIT: Final = 3
"""Consecutive failed reports to a peer (timeouts, errors) after which it is DOWN at once; a refused
connection (nothing listens: the process is gone) makes it DOWN on the first failure, as in Nacos."""
MEMBERSHIP_SETTLE_MS: Final = 10_000
"""Membership is *stable* once no member changed state for this long. Anti-entropy deletes keys only
when stable (Nacos #10323 emptied live services while the member list was moving)."""
MEMBER_CONF_POLL_MS: Final = 1_000
"""How often the ``cluster.conf`` file's mtime and size are checked (Nacos watches it with inotify)."""
ADDRESS_SERVER_POLL_MS: Final = 5_000
"""How often the address server's member list is fetched (Nacos: 5 s)."""
MAX_MEMBERS: Final = 256
"""Members in one cluster; a longer list (a mistaken file) is refused. Every node reports to every
other one every 2 s, so the report traffic grows with the square of this."""
MAX_MEMBER_LIST_BYTES: Final = 64 * 1024
"""Largest ``cluster.conf`` or address-server answer read."""
PEER_REPLAY_WINDOW_MS: Final = 30_000
"""A signed peer request is accepted only if its timestamp is within this of the receiver's wall clock
(either way), and its nonce was not seen within the window. Nodes' clocks must agree this well (NTP)."""
MAX_PEER_NONCES: Final = 200_000
"""Nonces remembered for replay detection (each at most one window old). Peers batch their traffic, so
a few thousand requests per second is already a lot; beyond this, signed requests get 503 until old
nonces leave the window."""
MIN_CLUSTER_SECRET_BYTES: Final = 32
"""The shared cluster secret must be at least this long (256 bits for HMAC-SHA256)."""
PEER_CALL_TIMEOUT_MS: Final = 2_000
"""Default time a peer call may take, connect to reply (Nacos's distro filter uses 2 s too)."""
PEER_CONNECT_TIMEOUT_MS: Final = 1_000
"""Time to open a connection to a peer (loopback or LAN)."""
MAX_PEER_CONNECTIONS: Final = 8
"""Keep-alive connections kept open to one peer; calls beyond it wait for a connection to be free."""
MAX_PEER_PAYLOAD_BYTES: Final = 256 * 1024 * 1024
"""Largest decompressed peer payload (request or reply); a zstd bomb stops here. A full snapshot of
1,000,000 instances is below 200 MiB raw."""
MAX_PEER_REPLY_BYTES: Final = 64 * 1024 * 1024
"""Largest compressed peer reply read (requests are bounded by ``MAX_BODY_BYTES`` of the HTTP server)."""
PEER_ZSTD_LEVEL: Final = 1
"""zstd level between nodes: level 1 compresses a snapshot 17x at ~1.2 GB/s (gzip-6: 20x, 156 MB/s)."""
FORWARD_TIMEOUT_MS: Final = 2_000
"""A write forwarded to its owner is handled locally (AP) if the owner has not answered in this time."""
MAX_FORWARD_BATCH: Final = 512
"""Forwarded requests (or relayed beats) sent to one owner in one peer call. Requests queue while a call
is in flight and go together in the next one, so batching adds no delay."""
MAX_FORWARD_QUEUE: Final = 20_000
"""Forwarded requests waiting for one owner; beyond it a write is handled locally (as when the owner
is unreachable) and a relayed beat is dropped (the client's next beat, 5 s later, goes again)."""

# --- Distro replication, anti-entropy and warm-up (nacosfast.cluster.distro, nacosfast.server.distro_runner)
DISTRO_SYNC_DELAY_MS: Final = 100
"""Local changes to one peer are coalesced this long into one batch (Nacos waits 1,000 ms); a service
changed several times within the window is sent once, in its latest state."""
DISTRO_SYNC_BATCH_KEYS: Final = 1_000
"""A batch is sent early once this many services wait for one peer (Nacos ``batchSyncKeyCount``)."""
DISTRO_SYNC_BATCH_BYTES: Final = 4 * 1024 * 1024
"""Encoded datum bytes (before zstd) in one batch; the rest waits for the next one. About 60,000
instances; zstd-1 makes it ~10x smaller, under the peer request limit. A single larger service still
goes alone."""
DISTRO_RETRY_MIN_MS: Final = 100
"""First pause after a failed send to a peer; doubled per failure up to ``DISTRO_RETRY_MAX_MS``."""
DISTRO_RETRY_MAX_MS: Final = 5_000
"""Longest pause between sends to a failing peer (Nacos retries every 5 s)."""
DISTRO_MAX_BACKLOG_KEYS: Final = 20_000
"""Services queued for one peer. A peer that falls this far behind gets its queue dropped and is
repaired by anti-entropy instead (its next digest round), so a slow peer cannot grow memory."""
DISTRO_ANTI_ENTROPY_PERIOD_MS: Final = 5_000
"""Each node sends every peer the digest summary of the services it owns this often (Nacos verify: 5 s)."""
DISTRO_DIGEST_BUCKETS: Final = 256
"""Buckets of the digest summary: 256 x 8 bytes = 2 KiB per peer per round whatever the number of
services; only the buckets that differ are listed key by key."""
DISTRO_FETCH_BATCH_KEYS: Final = 50
"""Services fetched from their owner per request during a repair (the seeds' batches of 50)."""
DISTRO_FETCH_PAUSE_MS: Final = 200
"""Pause between two fetch requests of one repair (the seeds' 200 ms), sparing the owner."""
DISTRO_WARMUP_TIMEOUT_MS: Final = 10_000
"""A starting node waits at most this long for a peer's snapshot before it starts alone (and merges a
peer's snapshot as soon as one answers)."""
DISTRO_WARMUP_RETRY_MS: Final = 500
"""Pause between two rounds of snapshot requests to the peers while warming up."""
DISTRO_SNAPSHOT_PAGE_KEYS: Final = 5_000
"""Services in one snapshot page (``distro/snapshot`` is paged by key)."""
DISTRO_SNAPSHOT_PAGE_BYTES: Final = 4 * 1024 * 1024
"""Encoded datum bytes (before zstd) in one snapshot page; a single larger service is a page alone."""
DISTRO_TOMBSTONE_MS: Final = 60_000
"""The owner keeps listing a removed service (as an empty set) this long, so that every peer empties
its copy before the key disappears; a copy that still holds instances of a key its owner does not list
is sent to the owner, not deleted."""
DISTRO_CALL_TIMEOUT_MS: Final = 5_000
"""Longest a replication, digest, fetch or snapshot call may take before it counts as failed."""
# --- Active health checks (nacosfast.naming.healthcheck, nacosfast.server.checker, wire.mysql; §8.4) --
HEALTH_CHECK_FIRST_DELAY_MS: Final = 2_000
"""A cluster's first check round comes this long plus ``rand(0, rand(0, tcpHealthParams.max))`` after
its task appears (Nacos ``HealthCheckTask.initCheckRT``): the jitter spreads clusters apart."""
HEALTH_CHECK_SCAN_MS: Final = 1_000
"""How often the services changed since the last look are looked at for clusters holding persistent
instances (a new persistent instance waits at most this plus the first delay for its first check). A
whole-registry scan costs ~1 µs a service (100 ms for 100,000), so only changed services are looked at."""
HEALTH_CHECK_MAX_IN_FLIGHT: Final = 512
"""Checks running at once. Each holds one socket; 512 checks timing out at 500 ms still start ~1,000
checks a second, and the descriptors stay far below the HTTP connection limit."""
HEALTH_CHECK_MAX_RATE: Final = 2_500
"""Checks started per second (token bucket). A TCP check to a loopback target costs ~100 µs of this
process's CPU (the kernel does both ends of the handshake in the connecting process), so 10,000
instances on Nacos's fastest TCP period (1 s) would take a whole core; at 2,500/s it is about a quarter
of one. 10,000 instances are then each checked every ~4 s, and three consecutive results (a flip)
come within ~16 s."""
HEALTH_CHECK_RATE_BURST: Final = 100
"""Checks that may start at once after a quiet spell (the bucket's depth): one poll never starts more."""
TCP_CHECK_TIMEOUT_MS: Final = 500
"""A TCP check must connect within this (Nacos ``TcpSuperSenseProcessor.CONNECT_TIMEOUT_MS``)."""
HTTP_CHECK_TIMEOUT_MS: Final = 1_000
"""Connect, send and read the status line within this (Nacos: 500 ms to connect plus 500 ms to read)."""
HTTP_CHECK_MAX_STATUS_LINE_BYTES: Final = 1_024
"""Bytes read while looking for the status line of an HTTP check's answer; more is a failure."""
HTTP_CHECK_MAX_TARGET_BYTES: Final = 4_096
"""An HTTP check's request path and headers together (they come from the cluster's checker JSON)."""
MYSQL_CHECK_TIMEOUT_MS: Final = 1_500
"""Connect, log in and run the command within this (Nacos: 500 ms connect and socket timeouts, 1 s
query timeout)."""
MYSQL_CHECK_MAX_PACKET_BYTES: Final = 1024 * 1024
"""Largest MySQL packet a check accepts (a handshake or one row of the answer); more is a failure."""
MYSQL_CHECK_MAX_ROWS: Final = 10_000
"""Rows of a check command's answer read before the check gives up on it (a failure)."""
HEALTH_CHECK_TICK_MS: Final = 10
"""The check task polls the planner at most this often: checks start in batches of about
``HEALTH_CHECK_MAX_RATE`` x tick (25), each batch a few ms of work between HTTP answers."""
HEALTH_CHECK_ERROR_BACKOFF_MS: Final = 1_000
"""Pause of the check task after an unexpected error in the planner, so a bug cannot spin a core."""
# --- Authentication and authorization (nacosfast.auth, nacosfast.server.auth; docs/security.md) ------
TOKEN_TTL_S: Final = 18_000
"""Lifetime of an access token, in seconds (Nacos ``token.expire.seconds``; clients log in again at
90 % of it)."""
MIN_TOKEN_SECRET_BYTES: Final = 32
"""Shortest HMAC key accepted in ``--token-secret-file``: 256 bits, the HS256 output size (RFC 7518
§3.2 requires a key of at least the hash size)."""
MAX_TOKEN_BYTES: Final = 4_096
"""Longest token looked at; a Nacos token is ~150 bytes. Longer ones are refused before any work."""
TOKEN_CACHE_ENTRIES: Final = 4_096
"""Verified tokens remembered per node (token → user, expiry): a light beat with a known token costs
a dict lookup instead of an HMAC and two JSON parses. Oldest entries go first."""
BCRYPT_ROUNDS: Final = 10
"""bcrypt cost (2**10 rounds, Nacos's Spring ``BCryptPasswordEncoder`` default): ~100-200 ms per hash
on this machine's cores, which is what makes an offline guess expensive."""
MAX_PASSWORD_BYTES: Final = 72
"""bcrypt reads at most 72 bytes of a password; a longer one is refused rather than silently cut."""
MIN_PASSWORD_CHARS: Final = 8
"""Shortest password accepted for a new user or a password change (NIST SP 800-63B minimum)."""
MAX_USERNAME_LENGTH: Final = 64
"""Longest user or role name (Nacos ``users.username`` and ``roles.role`` are VARCHAR(50))."""
MAX_RESOURCE_LENGTH: Final = 512
"""Longest permission resource (``namespace:group:naming/service`` with every part at its maximum)."""
MAX_USERS: Final = 10_000
"""Users, role bindings and permissions each: all of them live in memory and in every snapshot."""
CREDENTIAL_CACHE_ENTRIES: Final = 1_024
"""Checked (user, password) pairs remembered per node, keyed by an HMAC of the password: Node's
client sends its password on every request, and only the first costs a bcrypt check."""
MAX_PENDING_PASSWORD_JOBS: Final = 64
"""bcrypt checks and hashes waiting for a worker thread; more is 503 (a login flood cannot queue
unbounded CPU work)."""
PASSWORD_WORKER_THREADS: Final = 2
"""Worker threads running bcrypt at once (bcrypt releases the GIL): at most this many cores go to
password checks, whatever arrives."""
LOGIN_FAILURE_BURST: Final = 10
"""Failed logins one source address may make in a row before it is slowed down."""
LOGIN_FAILURE_REFILL_MS: Final = 6_000
"""After the burst, one more attempt per this period (10 a minute): a brute force of a 1e6-word list
takes 115 days per source address."""
LOGIN_SOURCES_TRACKED: Final = 10_000
"""Source addresses whose failed logins are counted; the least recently failing is forgotten first."""
