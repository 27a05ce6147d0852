"""Distro's Prometheus figures: sync traffic per peer, anti-entropy rounds and repairs, warm-up.

``DistroFigures`` belongs to one node's ``DistroRunner``: it counts what only the runner sees (which
peer took or refused a batch, failed digest sends, repairs, snapshot loads) with plain integer
increments, and its ``families`` — registered as the ``distro`` collector of the node's
``MetricsRegistry`` in cluster mode — reads the rest from the counters the planner (``Distro``) keeps
anyway.
"""

from __future__ import annotations

from typing import Final

from nacosfast.cluster.distro import Distro
from nacosfast.metrics import MetricFamily, counter, gauge
from nacosfast.server.clock import monotonic_ms

__all__ = ["DistroFigures", "PeerSync"]

_PLANNER_COUNTERS: Final = (
    (
        "datumsApplied",
        "datums_applied",
        "Datums received from peers (sync, fetch, snapshot) and applied: newer than the copy held.",
    ),
    ("datumsStale", "datums_stale", "Datums received from peers and ignored: not newer than the copy held."),
    (
        "backlogDropped",
        "backlog_dropped",
        "Services dropped from a peer's sync queue (left to anti-entropy).",
    ),
    ("digestsSent", "digest_rounds", "Anti-entropy rounds: this node's summary sent to every peer."),
    ("digestsReceived", "digests_received", "Anti-entropy summaries received from peers."),
    (
        "bucketsRepaired",
        "repaired_buckets",
        "Summary buckets that differed from an owner's and were repaired.",
    ),
    ("keysFetched", "keys_fetched", "Services fetched from their owner by anti-entropy and applied."),
    ("keysPushedBack", "keys_pushed_back", "Services sent back to an owner that held an older copy or none."),
    ("keysDeleted", "keys_deleted", "Copies deleted because their owner no longer lists them."),
    ("deletionsDeferred", "deletions_deferred", "Deletions put off while membership was not stable."),
    ("snapshotDatumsLoaded", "snapshot_datums_loaded", "Services received in peers' warm-up snapshots."),
    ("snapshotPagesServed", "snapshot_pages_served", "Warm-up snapshot pages served to peers."),
)
"""``Distro.counters`` key, metric name (after ``nacosfast_distro_``, before ``_total``), help."""


class PeerSync:
    """Sync batches to one peer: taken and failed, their services, and when the last one was taken."""

    __slots__ = ("batches_failed", "batches_sent", "keys_failed", "keys_sent", "last_sent_ms")

    def __init__(self) -> None:
        self.batches_sent = 0
        self.batches_failed = 0
        self.keys_sent = 0
        self.keys_failed = 0
        self.last_sent_ms: int | None = None


class DistroFigures:
    """The runner's counts and the ``distro`` collector over them and the planner's counters."""

    __slots__ = (
        "_distro",
        "digest_send_failures",
        "keys_requested",
        "peers",
        "repairs_done",
        "repairs_failed",
        "snapshot_loads",
        "snapshot_loads_failed",
        "snapshot_loads_not_ready",
    )

    def __init__(self, distro: Distro) -> None:
        self._distro = distro
        self.peers: dict[str, PeerSync] = {}
        """Sync figures per peer address (kept when a peer leaves: counters never go back)."""
        self.digest_send_failures = 0
        self.repairs_done = 0
        self.repairs_failed = 0
        self.keys_requested = 0
        """Services found missing or older here than on their owner, and asked for."""
        self.snapshot_loads = 0
        self.snapshot_loads_not_ready = 0
        self.snapshot_loads_failed = 0

    def _peer(self, address: str) -> PeerSync:
        peer = self.peers.get(address)
        if peer is None:
            peer = self.peers[address] = PeerSync()
        return peer

    def sync_sent(self, address: str, keys: int, now_ms: int) -> None:
        """``address`` took a batch of ``keys`` services at ``now_ms``."""
        peer = self._peer(address)
        peer.batches_sent += 1
        peer.keys_sent += keys
        peer.last_sent_ms = now_ms

    def sync_failed(self, address: str, keys: int) -> None:
        """A batch of ``keys`` services to ``address`` failed (it is queued again)."""
        peer = self._peer(address)
        peer.batches_failed += 1
        peer.keys_failed += keys

    def families(self) -> list[MetricFamily]:
        """Readiness, backlog and sync per peer, anti-entropy and warm-up counters."""
        distro = self._distro
        counters = distro.counters
        now_ms = monotonic_ms()
        batches = counter("nacosfast_distro_sync_batches", "Sync batches sent to peers, by result.")
        keys = counter("nacosfast_distro_sync_keys", "Services sent to peers in sync batches, by result.")
        for address, peer in sorted(self.peers.items()):
            for family, sent, failed in (
                (batches, peer.batches_sent, peer.batches_failed),
                (keys, peer.keys_sent, peer.keys_failed),
            ):
                family.add(sent, (("peer", address), ("result", "sent")), "_total")
                family.add(failed, (("peer", address), ("result", "failed")), "_total")
        age = gauge(
            "nacosfast_distro_last_sync_age_seconds",
            "Seconds since each current peer last took a sync batch (grows while nothing changes).",
        )
        for address in distro.view.peers():
            known = self.peers.get(address)
            if known is not None and known.last_sent_ms is not None:
                age.add((now_ms - known.last_sent_ms) / 1000, (("peer", address),))
        backlog = gauge("nacosfast_distro_backlog", "Services waiting to be sent, per peer.")
        for address, waiting in sorted(distro.backlog().items()):
            backlog.add(waiting, (("peer", address),))
        repairs = counter("nacosfast_distro_repairs", "Anti-entropy repairs against an owner, by result.")
        repairs.add(self.repairs_done, (("result", "done"),), "_total")
        repairs.add(self.repairs_failed, (("result", "failed"),), "_total")
        loads = counter("nacosfast_distro_snapshot_loads", "Warm-up snapshot loads from a peer, by result.")
        loads.add(self.snapshot_loads, (("result", "loaded"),), "_total")
        loads.add(self.snapshot_loads_not_ready, (("result", "not_ready"),), "_total")
        loads.add(self.snapshot_loads_failed, (("result", "failed"),), "_total")
        result = [
            gauge("nacosfast_distro_ready", "1 once the node serves clients (warm-up over).", distro.ready),
            gauge("nacosfast_distro_synced", "1 once a peer's full snapshot was loaded.", distro.synced),
            gauge(
                "nacosfast_distro_services",
                "Services whose ephemeral instances are replicated.",
                len(distro.records),
            ),
            backlog,
            batches,
            keys,
            age,
            counter(
                "nacosfast_distro_digest_send_failures",
                "Anti-entropy summaries a peer did not take.",
                self.digest_send_failures,
            ),
            repairs,
            counter(
                "nacosfast_distro_keys_requested",
                "Services found missing or older here than on their owner, and fetched from it.",
                self.keys_requested,
            ),
            loads,
        ]
        result += [
            counter(f"nacosfast_distro_{name}", help_text, counters[key])
            for key, name, help_text in _PLANNER_COUNTERS
        ]
        return result
