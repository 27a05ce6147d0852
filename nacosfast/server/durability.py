"""Group commit and snapshots over ``nacosfast.store.log.AppendLog``: the Trio shell of persistence.

The application calls ``append(record) -> seq`` (synchronous) after a durable change and answers the
client only after ``await wait_durable(seq)``. One flusher task (``run``) writes and fsyncs, in a
worker thread, everything appended since its last round, so one fsync covers all the records that
arrived while the previous one was running; then it wakes the waiters. When the log grows past
``STORE_SNAPSHOT_LOG_BYTES`` or ``STORE_SNAPSHOT_LOG_RECORDS`` it takes a snapshot: the state comes
from the application's ``snapshot_source`` on the Trio thread, the file is written in a worker thread
while flushing goes on.

Failures: a flush that fails (ENOSPC, EIO) makes every waiter whose record it carried raise
``Unavailable("storage failure: ...")`` (503). Its records stay buffered and are written again every
``STORE_RETRY_INTERVAL_MS`` until the disk takes them, so the disk converges on what the application
holds in memory; records appended meanwhile are accepted and wait for that retry, until
``STORE_MAX_PENDING_BYTES`` are waiting, after which ``append`` itself raises ``Unavailable``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import trio

from nacosfast.errors import BadRequest, Unavailable
from nacosfast.limits import (
    STORE_MAX_PENDING_BYTES,
    STORE_RETRY_INTERVAL_MS,
    STORE_SHUTDOWN_FLUSH_TIMEOUT_MS,
    STORE_SNAPSHOT_LOG_BYTES,
    STORE_SNAPSHOT_LOG_RECORDS,
)
from nacosfast.metrics import Histogram, MetricFamily, counter, gauge
from nacosfast.store.log import FRAME_OVERHEAD, AppendLog

__all__ = ["Durability"]

_logger = logging.getLogger(__name__)

SnapshotSource = Callable[[], Iterable[bytes]]
"""Yields the whole durable state as records; replaying them alone must rebuild it."""


def _describe(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


class _Round:
    """One flush attempt: set ``done`` when it ends; ``error`` if it failed for seqs ≤ ``failed_through``."""

    __slots__ = ("done", "error", "failed_through")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: str | None = None
        self.failed_through = 0


class Durability:
    """Makes appended records durable in batches; see the module docstring."""

    def __init__(
        self,
        log: AppendLog,
        *,
        snapshot_source: SnapshotSource,
        snapshot_log_bytes: int = STORE_SNAPSHOT_LOG_BYTES,
        snapshot_log_records: int = STORE_SNAPSHOT_LOG_RECORDS,
        max_pending_bytes: int = STORE_MAX_PENDING_BYTES,
        retry_interval_ms: int = STORE_RETRY_INTERVAL_MS,
        shutdown_flush_timeout_ms: int = STORE_SHUTDOWN_FLUSH_TIMEOUT_MS,
    ) -> None:
        """Wrap an opened (and replayed) ``log``; it stays the caller's to close after ``run`` ends."""
        self._log = log
        self._snapshot_source = snapshot_source
        self._snapshot_log_bytes = snapshot_log_bytes
        self._snapshot_log_records = snapshot_log_records
        self._max_pending_bytes = max_pending_bytes
        self._retry_interval = retry_interval_ms / 1000
        self._shutdown_timeout = shutdown_flush_timeout_ms / 1000
        self._limiter = trio.CapacityLimiter(2)  # one flush and one snapshot, never queued behind others
        self._wake = trio.Event()
        self._round = _Round()
        self._started = False
        self._closed = False
        self._failing = False
        self._snapshotting = False
        self._snapshot_not_before = -float("inf")
        self.flush_rounds = 0
        self.snapshots = 0
        self.failed_snapshots = 0
        self.flush_latency = Histogram()
        """Wall time of each flush round (write and fsync) that succeeded."""

    @property
    def durable_seq(self) -> int:
        """Every record up to this seq is fsync'd."""
        return self._log.durable_seq

    @property
    def failing(self) -> bool:
        """Whether the last flush failed (records are waiting for a retry)."""
        return self._failing

    def counters(self) -> dict[str, Any]:
        """Figures for operators: sequence numbers, backlog, log size, fsyncs and failures."""
        log = self._log
        return {
            "lastSeq": log.last_seq,
            "durableSeq": log.durable_seq,
            "snapshotSeq": log.snapshot_seq,
            "pendingRecords": log.pending_records,
            "pendingBytes": log.pending_bytes,
            "logBytes": log.log_bytes,
            "logRecords": log.log_records,
            "fsyncs": log.fsyncs,
            "flushRounds": self.flush_rounds,
            "failedFlushes": log.failed_flushes,
            "snapshots": self.snapshots,
            "failedSnapshots": self.failed_snapshots,
            "failing": self._failing,
        }

    def families(self) -> list[MetricFamily]:
        """The log's Prometheus figures: fsync latency, the queue waiting for the disk, log size."""
        log = self._log
        return [
            MetricFamily(
                "nacosfast_log_flush_duration_seconds",
                "histogram",
                "Time of one group commit (write and fsync of every record waiting).",
            ).add_histogram(self.flush_latency),
            counter("nacosfast_log_fsyncs", "fsync calls on the data log.", log.fsyncs),
            counter(
                "nacosfast_log_failed_flushes", "Flushes the disk refused (retried).", log.failed_flushes
            ),
            gauge("nacosfast_log_pending_records", "Records appended, not yet durable.", log.pending_records),
            gauge("nacosfast_log_pending_bytes", "Bytes appended, not yet durable.", log.pending_bytes),
            gauge("nacosfast_log_bytes", "Size of the log since the last snapshot.", log.log_bytes),
            gauge("nacosfast_log_records", "Records in the log since the last snapshot.", log.log_records),
            counter("nacosfast_log_snapshots", "Snapshots written.", self.snapshots),
            counter("nacosfast_log_failed_snapshots", "Snapshots that failed.", self.failed_snapshots),
            gauge(
                "nacosfast_log_failing", "1 while the last flush failed (writes answer 503).", self._failing
            ),
        ]

    def append(self, payload: bytes) -> int:
        """Buffer one record; return the seq to pass to ``wait_durable`` before acknowledging.

        Raises ``Unavailable`` after shutdown or when ``STORE_MAX_PENDING_BYTES`` already wait for the
        disk, and ``BadRequest`` for a record over ``STORE_MAX_RECORD_BYTES`` (the write asked to store
        more in one object than the store takes).
        """
        if self._closed:
            raise Unavailable("storage failure: the server is shutting down")
        if self._log.pending_bytes + len(payload) + FRAME_OVERHEAD > self._max_pending_bytes:
            raise Unavailable("storage failure: too many records are waiting for the disk")
        try:
            seq = self._log.append(payload)
        except ValueError as error:  # the log's size check: nothing was buffered
            raise BadRequest(str(error)) from None
        self._wake.set()
        return seq

    async def wait_durable(self, seq: int) -> None:
        """Return once record ``seq`` is fsync'd.

        Raises ``Unavailable("storage failure: ...")`` if the flush that carried it failed or the
        server shut down first. The record may still reach the disk later (its flush is retried): the
        outcome of a failed write is unknown, as with any storage error.
        """
        if seq > self._log.last_seq:
            raise ValueError(f"record {seq} was never appended (last is {self._log.last_seq})")
        if seq <= self._log.durable_seq:
            await trio.lowlevel.checkpoint()
            return
        while True:
            if self._closed:
                raise Unavailable("storage failure: the server shut down before the record was written")
            round_ = self._round
            await round_.done.wait()
            if seq <= self._log.durable_seq:
                return
            if round_.error is not None and seq <= round_.failed_through:
                raise Unavailable(f"storage failure: {round_.error}")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher task: flush while records are pending, snapshot when due.

        On cancellation it flushes what is pending (shielded, for at most
        ``STORE_SHUTDOWN_FLUSH_TIMEOUT_MS``), fails the remaining waiters with ``Unavailable`` and
        returns; a snapshot being written is finished first. Close the log after it returns.
        """
        if self._started:
            raise RuntimeError("Durability.run() was already started")
        self._started = True
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                if self._snapshot_due():
                    nursery.start_soon(self._snapshot)
                while True:
                    if not self._log.pending_records:
                        self._wake = trio.Event()
                        await self._wake.wait()
                        continue
                    if await self._flush_round():
                        if self._snapshot_due():
                            nursery.start_soon(self._snapshot)
                    else:
                        await trio.sleep(self._retry_interval)
        finally:
            await self._shutdown()

    async def _flush_round(self) -> bool:
        round_ = self._round
        started_ns = time.perf_counter_ns()
        try:
            # Abandoned on cancellation (a hung disk must not hang shutdown): the log's own lock keeps
            # a later flush or close() from overlapping the abandoned one, which may still succeed.
            await trio.to_thread.run_sync(self._log.flush, abandon_on_cancel=True, limiter=self._limiter)
        except OSError as error:
            if not self._failing:
                _logger.error(
                    "storage failure: %s; writes answer 503 and are retried every %d ms",
                    error,
                    round(self._retry_interval * 1000),
                )
            self._failing = True
            self._round = _Round()
            round_.error = _describe(error)
            round_.failed_through = self._log.failed_through
            round_.done.set()
            return False
        self.flush_rounds += 1
        self.flush_latency.observe_ns(time.perf_counter_ns() - started_ns)
        if self._failing:
            _logger.warning("storage recovered: durable up to record %d", self._log.durable_seq)
            self._failing = False
        self._round = _Round()
        round_.done.set()
        return True

    def _snapshot_due(self) -> bool:
        if self._snapshotting or trio.current_time() < self._snapshot_not_before:
            return False
        log = self._log
        return log.log_bytes >= self._snapshot_log_bytes or log.log_records >= self._snapshot_log_records

    async def _snapshot(self) -> None:
        self._snapshotting = True
        try:
            # Rotate first: every record in the older segments is then part of the state taken next.
            await trio.to_thread.run_sync(self._log.rotate, limiter=self._limiter)
            covers = self._log.last_seq
            payloads = list(self._snapshot_source())  # on the Trio thread: a consistent state
            await trio.to_thread.run_sync(self._log.write_snapshot, payloads, covers, limiter=self._limiter)
            self.snapshots += 1
        except Exception:
            self.failed_snapshots += 1
            self._snapshot_not_before = trio.current_time() + self._retry_interval
            _logger.exception("snapshot failed; the log keeps growing until one succeeds")
        finally:
            self._snapshotting = False

    async def _shutdown(self) -> None:
        deadline = trio.current_time() + self._shutdown_timeout
        with trio.CancelScope(deadline=deadline, shield=True) as scope:
            while self._log.pending_records and await self._flush_round():
                pass
        if scope.cancelled_caught:
            _logger.error("the last flush did not finish within %.1f s", self._shutdown_timeout)
        if self._log.pending_records:
            _logger.error("shutting down with %d records not written", self._log.pending_records)
        self._closed = True
        final = self._round
        self._round = _Round()
        final.error = "the server is shutting down"
        final.failed_through = self._log.last_seq
        final.done.set()
