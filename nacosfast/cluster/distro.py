"""Distro: AP replication of ephemeral instances between nodes, anti-entropy and warm-up (sans-I/O).

The unit of replication is a *datum*: the ephemeral instance set of one service, keyed by
``namespace##group@@service`` (Nacos's granularity), with a version. ``Distro`` is a planner in the
style of ``PushHub``: the naming application tells it about local changes (``local_change``, called by
``effects.notify``), it says what to send and when (``due_syncs``, ``digest_round``, ``next_repair``),
the Trio shell (``nacosfast.server.distro_runner``) moves the bytes and reports back; peers' messages
come in through ``handle``. Nothing here reads a clock or touches a socket.

Versions (fixing Nacos #4355, where an old datum could overwrite a newer one). Every node keeps a
Lamport clock that starts at ``epoch_ms << VERSION_EPOCH_SHIFT`` — the wall-clock ms of the node's
start in the high bits, so a restarted node's versions are above those of its previous life even if it
learns nothing from its peers — and jumps to any version it sees. A local change of a service's
ephemeral set gets ``clock + 1``. A datum is applied only if ``(version, digest)`` is greater than the
local one (the digest breaks ties between two nodes that wrote the same version), so duplicated,
reordered, delayed or re-fetched messages all converge to the same state: the greatest write wins.
Because the owner has seen every version it ever issued, a new write by the owner is newer than
anything replicated before, including data deleted since.

Replication. A local change queues the service for every healthy peer; one batch per peer is in
flight at a time, and batches to a peer leave at most once per ``sync_delay_ms`` (100 ms; Nacos waits
1 s before every batch): a change after a quiet window goes at once, changes within the window are
coalesced into the next batch, which carries the services' *current* state. A failed send is queued
again with exponential back-off; a peer whose queue exceeds ``max_backlog_keys`` loses the queue and
is repaired by anti-entropy. Applying a datum replaces the
service's ephemeral set in the registry, tells push (so local subscribers are pushed), untracks the
beats of removed instances and — only on the owner, which alone expires instances — tracks new ones
as just beaten. Writes are forwarded to owners by the routing layer, but a change made anywhere is
replicated the same way (last writer wins), so nothing is lost if a write is handled locally.

Anti-entropy (Nacos verify, made cheap). Every ``anti_entropy_period_ms`` a node sends each peer a
*summary* of the services it owns: for ``buckets`` buckets by key hash, the sum of
``xxh3(version, digest)`` seeded with the key's hash — 2 KiB whatever the number of services. The
receiver computes the same summary over its copies of those services; for buckets that differ it asks
the owner for their digest table (``nacosfast._core.digest``) and diffs it. It fetches what is
missing, older or different in batches of ``fetch_batch_keys`` (50) with ``fetch_pause_ms`` (200 ms)
between them, and sends the owner what it holds newer — or holds with instances while the owner does
not list it at all (the owner missed the write, or took the service over without it). A service the
owner removed is listed as an empty set for ``tombstone_ms``, so copies are emptied by the versioned
apply; once the owner stops listing it, empty copies are deleted — but only while membership is
stable, only if both nodes see the same healthy list, and only keys the sender owns under it (Nacos
#10323 emptied live services while membership moved). One repair per owner runs at a time, and every
result goes through the same versioned apply: one writer per key.

Warm-up (fixing Nacos #8436). A node with peers starts *not ready*: it answers no client request
but the operator's, expires nothing, serves no snapshot and sends no digest until it has loaded a
full snapshot (``distro/snapshot``, paged by key) from a ready peer. If no peer answers within
``warmup_timeout_ms`` — or membership counts no other member healthy — it starts alone, keeps asking,
and merges the first snapshot it gets; until then it sends no digest, so it never tells peers to
delete what it has not seen.
"""

from __future__ import annotations

import json
import logging
import struct
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from xxhash import xxh3_64_intdigest

from nacosfast._core import digest as digest_tables
from nacosfast._core.registry import Service
from nacosfast.cluster.datum import Datum, DatumCodec
from nacosfast.cluster.view import MembershipView, service_key
from nacosfast.limits import (
    DISTRO_ANTI_ENTROPY_PERIOD_MS,
    DISTRO_DIGEST_BUCKETS,
    DISTRO_FETCH_BATCH_KEYS,
    DISTRO_FETCH_PAUSE_MS,
    DISTRO_MAX_BACKLOG_KEYS,
    DISTRO_RETRY_MAX_MS,
    DISTRO_RETRY_MIN_MS,
    DISTRO_SNAPSHOT_PAGE_BYTES,
    DISTRO_SNAPSHOT_PAGE_KEYS,
    DISTRO_SYNC_BATCH_BYTES,
    DISTRO_SYNC_BATCH_KEYS,
    DISTRO_SYNC_DELAY_MS,
    DISTRO_TOMBSTONE_MS,
    DISTRO_WARMUP_RETRY_MS,
    DISTRO_WARMUP_TIMEOUT_MS,
)
from nacosfast.naming.effects import beat_key
from nacosfast.naming.journal import is_durable
from nacosfast.naming.meta import DEFAULT_SERVICE_META
from nacosfast.naming.state import NamingState

__all__ = [
    "KIND_DIGEST",
    "KIND_FETCH",
    "KIND_PREFIX",
    "KIND_SNAPSHOT",
    "KIND_SYNC",
    "KIND_TABLE",
    "VERSION_EPOCH_SHIFT",
    "Distro",
    "DistroConfig",
    "Repair",
    "SyncBatch",
]

log = logging.getLogger("nacosfast.distro")

KIND_PREFIX: Final = "distro/"
KIND_SYNC: Final = "distro/sync"
"""Datums pushed by the node that changed them: ``{"d": [...]}``; the reply is empty."""
KIND_DIGEST: Final = "distro/digest"
"""An owner's bucket summary (binary, see ``_SUMMARY_HEAD``); the reply is empty."""
KIND_TABLE: Final = "distro/table"
"""A request for the digest table of some buckets (binary); the reply is a ``_core.digest`` message."""
KIND_FETCH: Final = "distro/fetch"
"""A JSON list of keys; the reply is the datums of those the node holds."""
KIND_SNAPSHOT: Final = "distro/snapshot"
"""``{"after": key|null}``; the reply ``{"ready": bool, "next": key|null, "d": [...]}``."""

VERSION_EPOCH_SHIFT: Final = 20
"""A node's first version is its start wall-clock ms shifted by this: about a million versions per
millisecond of downtime stay above the previous life's, and int64 lasts until the year 2248."""
_MASK64: Final = 2**64 - 1
_SUMMARY_MAGIC: Final = b"NFS1"
_SUMMARY_HEAD: Final = struct.Struct("<4sQIHH")
"""magic, healthy-list fingerprint, key count, bucket count, sender address length; then the address
(UTF-8) and ``bucket count`` little-endian uint64 bucket sums."""
_TABLE_HEAD: Final = struct.Struct("<HH")
"""bucket count, number of requested buckets; then that many uint16 bucket numbers."""
_ENTRY: Final = struct.Struct("<qQ")
_MAX_BUCKETS: Final = 4_096
_MAX_ADDRESS_BYTES: Final = 300


@dataclass(frozen=True, slots=True)
class DistroConfig:
    """Timings and bounds (defaults from ``nacosfast.limits``; tests scale them down)."""

    sync_delay_ms: int = DISTRO_SYNC_DELAY_MS
    sync_batch_keys: int = DISTRO_SYNC_BATCH_KEYS
    sync_batch_bytes: int = DISTRO_SYNC_BATCH_BYTES
    retry_min_ms: int = DISTRO_RETRY_MIN_MS
    retry_max_ms: int = DISTRO_RETRY_MAX_MS
    max_backlog_keys: int = DISTRO_MAX_BACKLOG_KEYS
    anti_entropy_period_ms: int = DISTRO_ANTI_ENTROPY_PERIOD_MS
    buckets: int = DISTRO_DIGEST_BUCKETS
    fetch_batch_keys: int = DISTRO_FETCH_BATCH_KEYS
    fetch_pause_ms: int = DISTRO_FETCH_PAUSE_MS
    warmup_timeout_ms: int = DISTRO_WARMUP_TIMEOUT_MS
    warmup_retry_ms: int = DISTRO_WARMUP_RETRY_MS
    snapshot_page_keys: int = DISTRO_SNAPSHOT_PAGE_KEYS
    snapshot_page_bytes: int = DISTRO_SNAPSHOT_PAGE_BYTES
    tombstone_ms: int = DISTRO_TOMBSTONE_MS

    def __post_init__(self) -> None:
        if not 1 <= self.buckets <= _MAX_BUCKETS:
            raise ValueError(f"distro buckets must be in 1..{_MAX_BUCKETS}")
        if min(self.sync_batch_keys, self.fetch_batch_keys, self.snapshot_page_keys) < 1:
            raise ValueError("distro batch sizes must be at least 1")
        if self.retry_min_ms < 1 or self.retry_max_ms < self.retry_min_ms:
            raise ValueError("distro retry pauses must satisfy 1 <= min <= max")


@dataclass(slots=True)
class _Record:
    """What this node knows of one service's ephemeral set: the version it holds and its digest."""

    namespace: str
    name: str
    version: int
    digest: int
    key_hash: int
    empty_since_ms: int | None = None
    """On the owner: since when the set is empty (the record is kept as a tombstone for a while)."""
    owner: str = ""
    owner_version: int = -1
    """The owner under membership version ``owner_version`` (recomputed when membership changes)."""


@dataclass(slots=True)
class _PeerQueue:
    """Services waiting to be sent to one peer."""

    pending: dict[str, None] = field(default_factory=dict)
    last_sent_ms: int = -(2**62)
    """When the last batch left (or, after a full batch, ``sync_delay_ms`` earlier: the rest is due)."""
    in_flight: bool = False
    failures: int = 0
    retry_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """One ``distro/sync`` call to make: report it with ``sync_done`` or ``sync_failed``."""

    address: str
    payload: bytes
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Repair:
    """One anti-entropy repair against an owner: first its digest table for ``buckets``."""

    source: str
    bucket_count: int
    buckets: tuple[int, ...]
    fingerprint: int
    table_request: bytes


def fingerprint(healthy: tuple[str, ...]) -> int:
    """A hash of the healthy member list: two nodes that agree on it agree on every owner."""
    return xxh3_64_intdigest("\n".join(healthy).encode())


class Distro:
    """The replication planner of one node (see the module docstring)."""

    def __init__(
        self,
        state: NamingState,
        view: MembershipView,
        epoch_ms: int,
        now_ms: int,
        config: DistroConfig | None = None,
    ) -> None:
        """Attach to ``state`` (its local changes are reported here from now on); ``epoch_ms`` is the
        wall-clock ms of the node's start, ``now_ms`` the monotonic start of the warm-up."""
        self.state = state
        self.view = view
        self.config = config or DistroConfig()
        self.clock = max(0, epoch_ms) << VERSION_EPOCH_SHIFT
        self.records: dict[str, _Record] = {}
        self.codec = DatumCodec()
        self._queues: dict[str, _PeerQueue] = {}
        self._fingerprint = 0
        self._fingerprint_version = -1
        self._by_owner: dict[str, dict[str, _Record]] = {}
        """Owner → its services' records, for membership version ``_by_owner_version``."""
        self._by_owner_version = -1
        self._repairs: dict[str, tuple[set[int], int, int]] = {}
        """Owner → (differing buckets, its membership fingerprint, its bucket count): repairs to run."""
        self._sorted_keys: list[str] | None = None
        self.ready = not view.peers()
        """Serving: answers clients, expires, serves snapshots. False while warming up."""
        self.synced = False
        """A peer's snapshot has been loaded (or merged after starting alone)."""
        self.warmup_deadline_ms = now_ms + self.config.warmup_timeout_ms
        self.wake: Callable[[], None] = _nothing
        """Called when something new is due (a local change, a repair): the shell's wake-up."""
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "syncSent",
                "syncFailed",
                "datumsSent",
                "datumsApplied",
                "datumsStale",
                "backlogDropped",
                "digestsSent",
                "digestsReceived",
                "bucketsRepaired",
                "keysFetched",
                "keysPushedBack",
                "keysDeleted",
                "deletionsDeferred",
                "snapshotPagesServed",
                "snapshotDatumsLoaded",
            ),
            0,
        )
        state.replication = self
        state.ready = self.ready

    # --- ownership -----------------------------------------------------------------------------------

    def owner(self, key: str) -> str:
        """The owner of ``key`` under the current membership (kept on its record per membership version)."""
        record = self.records.get(key)
        return self.view.owner_of(key) if record is None else self._owner_of(key, record)

    def _owner_of(self, key: str, record: _Record) -> str:
        version = self.view.version
        if record.owner_version != version:
            record.owner = self.view.owner_of(key)
            record.owner_version = version
        return record.owner

    def _owned_by(self, owner: str) -> dict[str, _Record]:
        """The records of ``owner``'s services (the index is rebuilt when membership changes)."""
        if self._by_owner_version != self.view.version:
            index: dict[str, dict[str, _Record]] = {}
            for key, record in self.records.items():
                index.setdefault(self._owner_of(key, record), {})[key] = record
            self._by_owner = index
            self._by_owner_version = self.view.version
        return self._by_owner.get(owner) or {}

    def membership_fingerprint(self) -> int:
        """``fingerprint`` of the current healthy list."""
        view = self.view
        if view.version != self._fingerprint_version:
            self._fingerprint = fingerprint(view.healthy_addresses())
            self._fingerprint_version = view.version
        return self._fingerprint

    # --- local changes and sync ----------------------------------------------------------------------

    def local_change(self, namespace: str, name: str, now_ms: int) -> None:
        """A local write touched this service: if its ephemeral set changed, version it and queue it."""
        service = self.state.registry.get(namespace, name)
        digest = service.ephemeral_digest if service is not None else 0
        key = service_key(namespace, name)
        record = self.records.get(key)
        if record is None:
            if digest == 0:
                return  # nothing ephemeral here, and nothing was ever replicated
            if service is not None:
                namespace, name = service.namespace, service.name
            record = self._new_record(key, namespace, name, 0, digest)
        elif record.digest == digest:
            return  # attributes or persistent instances changed: not ours to replicate
        self.clock += 1
        record.version = self.clock
        record.digest = digest
        self._enqueue(key, self.view.peers(), now_ms)

    def _new_record(self, key: str, namespace: str, name: str, version: int, digest: int) -> _Record:
        record = _Record(namespace, name, version, digest, xxh3_64_intdigest(key.encode()))
        self.records[key] = record
        self._sorted_keys = None
        if self._by_owner_version == self.view.version:
            self._by_owner.setdefault(self._owner_of(key, record), {})[key] = record
        return record

    def _drop_record(self, key: str) -> None:
        self.codec.forget(key)
        record = self.records.pop(key, None)
        if record is not None:
            self._sorted_keys = None
            owned = self._by_owner.get(record.owner)
            if owned is not None:
                owned.pop(key, None)

    def _enqueue(self, key: str, peers: tuple[str, ...], now_ms: int) -> None:
        limit = self.config.max_backlog_keys
        for address in peers:
            queue = self._queues.get(address)
            if queue is None:
                queue = self._queues[address] = _PeerQueue()
            if len(queue.pending) >= limit and key not in queue.pending:
                # A peer this far behind is repaired by anti-entropy instead of an ever-longer queue.
                log.warning("distro: %s is %d services behind; left to anti-entropy", address, limit)
                self.backlog_dropped(address)
            queue.pending[key] = None
        if peers:
            self.wake()

    def _forget_departed(self) -> None:
        peers = set(self.view.peers())
        for address in [a for a, q in self._queues.items() if a not in peers and not q.in_flight]:
            del self._queues[address]

    def due_syncs(self, now_ms: int) -> list[SyncBatch]:
        """The batches to send now (at most one in flight per peer), built from the current state."""
        self._forget_departed()
        config = self.config
        batches = []
        for address, queue in self._queues.items():
            due = self._due_ms(queue)
            if due is None or now_ms < due:
                continue
            batch = self._take_batch(queue, config.sync_batch_keys, config.sync_batch_bytes)
            # A full batch leaves the rest due as soon as it is answered; else wait out the window.
            queue.last_sent_ms = now_ms - config.sync_delay_ms if queue.pending else now_ms
            if not batch:
                continue
            queue.in_flight = True
            keys = tuple(key for key, _, _ in batch)
            self.counters["datumsSent"] += len(keys)
            batches.append(SyncBatch(address, self.codec.encode(batch), keys))
        return batches

    def _take_batch(
        self, queue: _PeerQueue, max_keys: int, max_bytes: int
    ) -> list[tuple[str, int, Service | None]]:
        batch: list[tuple[str, int, Service | None]] = []
        size = 0
        registry = self.state.registry
        for key in list(queue.pending):
            if len(batch) >= max_keys or (batch and size >= max_bytes):
                break
            del queue.pending[key]
            record = self.records.get(key)
            if record is None:
                continue  # deleted since: anti-entropy tells the peer
            service = registry.get(record.namespace, record.name)
            size += len(self.codec.rows_json(key, service)) + len(key) + 48
            batch.append((key, record.version, service))
        return batch

    def sync_done(self, batch: SyncBatch) -> None:
        """The peer took ``batch``."""
        queue = self._queues.get(batch.address)
        self.counters["syncSent"] += 1
        if queue is not None:
            queue.in_flight = False
            queue.failures = 0
            queue.retry_at_ms = 0

    def sync_failed(self, batch: SyncBatch, now_ms: int) -> None:
        """Sending ``batch`` failed: queue its services again and back off."""
        self.counters["syncFailed"] += 1
        queue = self._queues.get(batch.address)
        if queue is None:
            return
        queue.in_flight = False
        queue.failures += 1
        config = self.config
        pause = min(config.retry_max_ms, config.retry_min_ms << min(queue.failures - 1, 30))
        queue.retry_at_ms = now_ms + pause
        if batch.address in self.view.peers():
            for key in batch.keys:
                if key not in queue.pending:
                    self._enqueue(key, (batch.address,), now_ms)

    def _due_ms(self, queue: _PeerQueue) -> int | None:
        """When a queue's next batch may leave: at once after a quiet window (a lone change is not
        delayed), else one window after the previous batch; a full batch does not wait."""
        if queue.in_flight or not queue.pending:
            return None
        if len(queue.pending) >= self.config.sync_batch_keys:
            return queue.retry_at_ms
        return max(queue.retry_at_ms, queue.last_sent_ms + self.config.sync_delay_ms)

    def next_deadline_ms(self) -> int | None:
        """When ``due_syncs`` next has something to send (``None``: nothing queued)."""
        deadlines = [due for due in map(self._due_ms, self._queues.values()) if due is not None]
        return min(deadlines, default=None)

    def backlog_dropped(self, address: str) -> None:
        """Forget what waits for ``address``: anti-entropy brings it up to date instead."""
        queue = self._queues.get(address)
        if queue is not None:
            self.counters["backlogDropped"] += len(queue.pending)
            queue.pending.clear()

    def backlog(self) -> dict[str, int]:
        """Services waiting per peer."""
        return {address: len(queue.pending) for address, queue in self._queues.items()}

    # --- applying datums -----------------------------------------------------------------------------

    def _held(self, record: _Record) -> tuple[int, int]:
        """``(version, digest)`` of what the registry holds now. A set that changed without a versioned
        write (no hook saw it) counts as version 0: any replicated datum replaces it."""
        service = self.state.registry.get(record.namespace, record.name)
        digest = service.ephemeral_digest if service is not None else 0
        return (record.version, digest) if digest == record.digest else (0, digest)

    def apply(self, datum: Datum, now_ms: int) -> bool:
        """Apply a peer's datum if it is newer than what this node holds; whether it was applied."""
        self.clock = max(self.clock, datum.version)
        record = self.records.get(datum.key)
        if record is not None and (datum.version, datum.digest) <= self._held(record):
            self.counters["datumsStale"] += 1
            return False
        state = self.state
        registry = state.registry
        before = registry.get(datum.namespace, datum.name)
        change = registry.replace_instances(
            datum.namespace, datum.name, True, datum.instances, DEFAULT_SERVICE_META
        )
        after = registry.get(datum.namespace, datum.name)
        digest = after.ephemeral_digest if after is not None else 0
        if record is None:
            namespace, name = (after.namespace, after.name) if after else (datum.namespace, datum.name)
            record = self._new_record(datum.key, namespace, name, datum.version, digest)
        record.version = datum.version
        record.digest = digest
        self.codec.remember(datum)
        self.counters["datumsApplied"] += 1
        if change is not None:
            state.push.service_changed(record.namespace, record.name, now_ms)
            self._hand_over_beats(datum.key, before, after, now_ms)
        return True

    def _hand_over_beats(self, key: str, before: Service | None, after: Service | None, now_ms: int) -> None:
        """Untrack removed instances; on the owner (the only node that expires), track new ones."""
        beats = self.state.beats
        old = {instance.key for instance in before.instances(ephemeral=True)} if before else set()
        current = after.instances(ephemeral=True) if after else []
        if before is not None:
            for instance_key in old.difference(instance.key for instance in current):
                beats.untrack(beat_key(before.namespace, before.name, instance_key))
        if after is None or self.owner(key) != self.view.self_address:
            return
        for instance in current:
            if instance.key not in old and not instance.marked:
                beats.track(
                    beat_key(after.namespace, after.name, instance.key),
                    now_ms,
                    instance.beat_timeout_ms,
                    instance.delete_timeout_ms,
                    instance.healthy,
                )

    def delete(self, key: str, now_ms: int) -> None:
        """The owner no longer lists ``key``: empty the set here (and drop the service if nothing is left)."""
        record = self.records.get(key)
        if record is None:
            return
        self._drop_record(key)
        state = self.state
        registry = state.registry
        before = registry.get(record.namespace, record.name)
        change = registry.replace_instances(record.namespace, record.name, True, [], DEFAULT_SERVICE_META)
        after = registry.get(record.namespace, record.name)
        if after is not None and len(after) == 0 and not is_durable(after):
            registry.remove_service(record.namespace, record.name)
        self.counters["keysDeleted"] += 1
        if change is not None:
            state.push.service_changed(record.namespace, record.name, now_ms)
            self._hand_over_beats(key, before, None, now_ms)

    # --- anti-entropy: the owner's side ---------------------------------------------------------------

    def _own_summary(self, now_ms: int, buckets: int) -> tuple[list[int], int]:
        """The bucket sums of the services this node owns. On the way, versions changes that no hook
        reported, and forgets services gone for ``tombstone_ms`` (peers then delete their copies)."""
        me = self.view.self_address
        registry = self.state.registry
        tombstone_ms = self.config.tombstone_ms
        peers = self.view.peers()
        sums = [0] * buckets
        count = 0
        pack = _ENTRY.pack
        vanished: list[str] = []
        for key, record in self._owned_by(me).items():
            service = registry.get(record.namespace, record.name)
            digest = service.ephemeral_digest if service is not None else 0
            if digest != record.digest:
                self.clock += 1
                record.version = self.clock
                record.digest = digest
                record.empty_since_ms = None if digest else now_ms
                self._enqueue(key, peers, now_ms)
            elif digest:
                record.empty_since_ms = None
            elif record.empty_since_ms is None:
                record.empty_since_ms = now_ms
            elif service is None and now_ms - record.empty_since_ms >= tombstone_ms:
                vanished.append(key)
                continue
            count += 1
            index = record.key_hash % buckets
            sums[index] = (
                sums[index] + xxh3_64_intdigest(pack(record.version, digest), seed=record.key_hash)
            ) & (_MASK64)
        for key in vanished:
            self._drop_record(key)
        return sums, count

    def _bucket_sums(self, owner: str, buckets: int) -> tuple[list[int], int]:
        """The bucket sums of this node's copies of ``owner``'s services."""
        sums = [0] * buckets
        count = 0
        pack = _ENTRY.pack
        for record in self._owned_by(owner).values():
            count += 1
            index = record.key_hash % buckets
            entry = xxh3_64_intdigest(pack(*self._held(record)), seed=record.key_hash)
            sums[index] = (sums[index] + entry) & _MASK64
        return sums, count

    def digest_round(self, now_ms: int) -> bytes | None:
        """The summary to send every peer this round, or ``None`` (not synced with peers yet)."""
        if not (self.ready and self.synced):
            return None
        me = self.view.self_address
        buckets = self.config.buckets
        sums, count = self._own_summary(now_ms, buckets)
        address = me.encode()
        head = _SUMMARY_HEAD.pack(_SUMMARY_MAGIC, self.membership_fingerprint(), count, buckets, len(address))
        self.counters["digestsSent"] += 1
        return head + address + struct.pack(f"<{buckets}Q", *sums)

    def _owned_keys_in(self, owner: str, buckets: int, wanted: set[int]) -> list[str]:
        return [key for key, record in self._owned_by(owner).items() if record.key_hash % buckets in wanted]

    def _table(self, keys: list[str]) -> digest_tables.DigestTable:
        table = digest_tables.DigestTable()
        for key in keys:
            record = self.records[key]
            table.set(key, *self._held(record))
        return table

    def handle_table(self, payload: bytes) -> bytes:
        """``distro/table``: the digest table of this node's services in the requested buckets."""
        if len(payload) < _TABLE_HEAD.size:
            raise ValueError("distro table request: truncated")
        buckets, count = _TABLE_HEAD.unpack_from(payload)
        if not 1 <= buckets <= _MAX_BUCKETS or len(payload) != _TABLE_HEAD.size + 2 * count:
            raise ValueError("distro table request: bad bucket list")
        wanted = set(struct.unpack_from(f"<{count}H", payload, _TABLE_HEAD.size))
        if any(index >= buckets for index in wanted):
            raise ValueError("distro table request: bucket out of range")
        keys = self._owned_keys_in(self.view.self_address, buckets, wanted)
        return self._table(keys).encode()

    def handle_fetch(self, payload: bytes) -> bytes:
        """``distro/fetch``: the datums of the listed services that this node holds."""
        try:
            keys = json.loads(payload)
        except (ValueError, RecursionError):
            raise ValueError("distro fetch: not JSON") from None
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ValueError("distro fetch: expected a list of keys")
        if len(keys) > max(self.config.fetch_batch_keys, self.config.sync_batch_keys):
            raise ValueError("distro fetch: too many keys")
        return self.codec.encode(self._entries(dict.fromkeys(keys)))

    def _entries(self, keys: Any) -> list[tuple[str, int, Service | None]]:
        registry = self.state.registry
        entries = []
        for key in keys:
            record = self.records.get(key)
            if record is not None:
                entries.append((key, record.version, registry.get(record.namespace, record.name)))
        return entries

    # --- anti-entropy: the receiver's side ------------------------------------------------------------

    def handle_digest(self, payload: bytes, now_ms: int) -> bytes:
        """``distro/digest``: compare an owner's summary with ours; differing buckets become a repair."""
        if len(payload) < _SUMMARY_HEAD.size:
            raise ValueError("distro digest: truncated")
        magic, their_print, _count, buckets, address_length = _SUMMARY_HEAD.unpack_from(payload)
        offset = _SUMMARY_HEAD.size
        if magic != _SUMMARY_MAGIC or not 1 <= buckets <= _MAX_BUCKETS or address_length > _MAX_ADDRESS_BYTES:
            raise ValueError("distro digest: bad header")
        if len(payload) != offset + address_length + 8 * buckets:
            raise ValueError("distro digest: bad length")
        try:
            source = payload[offset : offset + address_length].decode()
        except UnicodeDecodeError:
            raise ValueError("distro digest: bad sender address") from None
        self.counters["digestsReceived"] += 1
        if not self.ready or source == self.view.self_address or source not in self.view.peers():
            return b""  # warming up, or a sender we do not count as a member: ignore this round
        theirs = struct.unpack_from(f"<{buckets}Q", payload, offset + address_length)
        ours, _ = self._bucket_sums(source, buckets)
        differing = {index for index in range(buckets) if theirs[index] != ours[index]}
        if differing:
            pending = self._repairs.get(source)
            if pending is not None and pending[2] == buckets:
                differing |= pending[0]
            self._repairs[source] = (differing, their_print, buckets)
            self.wake()
        return b""

    def next_repair(self, busy: set[str] | frozenset[str] = frozenset()) -> Repair | None:
        """A repair to run (its digest-table request), skipping owners in ``busy``; ``None`` if none."""
        for source, (wanted, their_print, buckets) in self._repairs.items():
            if source in busy:
                continue
            del self._repairs[source]
            ordered = tuple(sorted(wanted))
            request = _TABLE_HEAD.pack(buckets, len(ordered)) + struct.pack(f"<{len(ordered)}H", *ordered)
            return Repair(source, buckets, ordered, their_print, request)
        return None

    def plan_repair(self, repair: Repair, table_reply: bytes, now_ms: int) -> list[list[str]]:
        """Diff the owner's table with ours: delete (when safe), push back what we hold newer, and
        return the keys to fetch from the owner, in batches."""
        remote = digest_tables.decode(table_reply)
        source = repair.source
        wanted = set(repair.buckets)
        local = self._table(self._owned_keys_in(source, repair.bucket_count, wanted))
        to_fetch, to_delete = local.diff(remote)
        self.counters["bucketsRepaired"] += len(wanted)
        safe = (
            self.view.stable(now_ms)
            and repair.fingerprint == self.membership_fingerprint()
            and source in self.view.peers()
        )
        for key in to_delete:
            held = local.get(key)
            if held is not None and held[1] != 0:
                # Instances the owner does not know (it missed a write, or took the service over
                # without it): send them, never delete them. A deletion by the owner arrives as an
                # empty set first (its tombstone), so this does not bring deleted instances back.
                self.counters["keysPushedBack"] += 1
                self._enqueue(key, (source,), now_ms)
            elif safe and self.owner(key) == source:
                self.delete(key, now_ms)
            else:
                self.counters["deletionsDeferred"] += 1
        fetch = []
        for key in to_fetch:
            theirs = remote.get(key)
            record = self.records.get(key)
            if record is not None and theirs is not None and self._held(record) > theirs:
                self.counters["keysPushedBack"] += 1
                self._enqueue(key, (source,), now_ms)  # the owner missed a newer write: send it
            else:
                fetch.append(key)
        size = self.config.fetch_batch_keys
        return [fetch[start : start + size] for start in range(0, len(fetch), size)]

    @staticmethod
    def fetch_request(keys: list[str]) -> bytes:
        """The ``distro/fetch`` payload for ``keys``."""
        return json.dumps(keys, separators=(",", ":"), ensure_ascii=False).encode()

    def apply_datums(self, payload: bytes, now_ms: int) -> int:
        """Apply every datum of a sync or fetch reply; how many were newer."""
        datums, _ = self.codec.decode(payload)
        return sum(self.apply(datum, now_ms) for datum in datums)

    def handle_sync(self, payload: bytes, now_ms: int) -> bytes:
        """``distro/sync``: a peer's changes."""
        self.apply_datums(payload, now_ms)
        return b""

    def fetched(self, payload: bytes, now_ms: int) -> int:
        """Apply a ``distro/fetch`` reply (one repair batch)."""
        applied = self.apply_datums(payload, now_ms)
        self.counters["keysFetched"] += applied
        return applied

    # --- warm-up --------------------------------------------------------------------------------------

    def handle_snapshot(self, payload: bytes) -> bytes:
        """``distro/snapshot``: one page of every datum this node holds, after the given key."""
        try:
            request = json.loads(payload)
        except (ValueError, RecursionError):
            raise ValueError("distro snapshot: not JSON") from None
        after = request.get("after") if isinstance(request, dict) else None
        if after is not None and not isinstance(after, str):
            raise ValueError("distro snapshot: 'after' must be a key or null")
        if not self.ready:
            return b'{"ready":false,"next":null,"d":[]}'
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.records)
        keys = self._sorted_keys
        start = 0 if after is None else bisect_right(keys, after)
        config = self.config
        page: list[tuple[str, int, Service | None]] = []
        size = 0
        registry = self.state.registry
        index = start
        while index < len(keys) and len(page) < config.snapshot_page_keys:
            if page and size >= config.snapshot_page_bytes:
                break
            key = keys[index]
            record = self.records.get(key)
            index += 1
            if record is None:
                continue
            service = registry.get(record.namespace, record.name)
            size += len(self.codec.rows_json(key, service)) + len(key) + 48
            page.append((key, record.version, service))
        following = keys[index - 1] if index < len(keys) else None
        self.counters["snapshotPagesServed"] += 1
        return self.codec.encode(page, {"ready": True, "next": following})

    @staticmethod
    def snapshot_request(after: str | None) -> bytes:
        """The ``distro/snapshot`` payload for the page after ``after``."""
        return json.dumps({"after": after}, ensure_ascii=False).encode()

    def load_snapshot_page(self, payload: bytes, now_ms: int) -> tuple[bool, str | None]:
        """Apply one snapshot page: ``(peer_ready, next_cursor)``; ``next_cursor`` ``None`` at the end."""
        datums, extra = self.codec.decode(payload)
        ready = extra.get("ready") is True
        following = extra.get("next")
        if following is not None and not isinstance(following, str):
            raise ValueError("distro snapshot: 'next' must be a key or null")
        for datum in datums:
            self.apply(datum, now_ms)
        self.counters["snapshotDatumsLoaded"] += len(datums)
        return ready, following

    def snapshot_loaded(self) -> None:
        """A whole snapshot (every page) was applied: the node is synced and ready."""
        if not self.synced:
            log.info("distro: loaded a peer snapshot (%d services); ready", len(self.records))
        self.synced = True
        self._set_ready()

    def warmup_expired(self, now_ms: int) -> bool:
        """Start alone (a later snapshot is merged) when past the warm-up deadline without a snapshot,
        or at once when no member is healthy but this node (nobody holds anything to load)."""
        if self.ready:
            return False
        if self.view.peers():
            if now_ms < self.warmup_deadline_ms:
                return False
            log.warning(
                "distro: no peer snapshot within %d ms; starting alone", self.config.warmup_timeout_ms
            )
        else:
            log.info("distro: no healthy peer to load from; starting alone")
        self._set_ready()
        return True

    def _set_ready(self) -> None:
        self.ready = True
        self.state.ready = True

    def status(self) -> dict[str, Any]:
        """Readiness, sizes and counters (``/operator/metrics``)."""
        return {
            "ready": self.ready,
            "synced": self.synced,
            "services": len(self.records),
            "backlog": sum(len(queue.pending) for queue in self._queues.values()),
            **self.counters,
        }

    # --- dispatch -------------------------------------------------------------------------------------

    def handle(self, kind: str, payload: bytes, now_ms: int) -> bytes:
        """Answer one ``distro/*`` peer call; ``ValueError`` for a malformed one or an unknown kind."""
        if kind == KIND_SYNC:
            return self.handle_sync(payload, now_ms)
        if kind == KIND_DIGEST:
            return self.handle_digest(payload, now_ms)
        if kind == KIND_TABLE:
            return self.handle_table(payload)
        if kind == KIND_FETCH:
            return self.handle_fetch(payload)
        if kind == KIND_SNAPSHOT:
            return self.handle_snapshot(payload)
        raise ValueError(f"unknown distro call: {kind[:64]}")


def _nothing() -> None:
    return None
