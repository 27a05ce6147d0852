"""Group commit and snapshots over ``nacosfast.store.log.AppendLog``: the Trio shell of persistence.

The application calls ``append(record) -> number`` (synchronous) and answers the client only after
``await wait_durable(number)``. Records wait in a buffer here; one flusher task (``run``) hands
everything buffered to the log and writes and fsyncs it, in a worker thread, so one fsync covers all
the records that arrived while the previous round was running; then it reports the outcome
(``on_durable``) and wakes the waiters. Numbers are the log's seqs as long as no round is refused.

Failures: a round that fails (ENOSPC, EIO) makes every waiter whose record it carried raise
``Unavailable("storage failure: ...")`` (503). The log then discards the round's records (cut back from
the segment, never retried) and ``on_refused(through)`` lets the application undo those writes in
memory, so nothing a client saw outlives the refusal and nothing superseded waits for the disk: after a
failure the buffer holds only writes that came later. If even the cut-back fails, the records stay
in the log's buffer and the next round writes them first (their outcome is then unknown, and they are
not undone). Rounds after a failure wait ``STORE_RETRY_INTERVAL_MS``; once ``STORE_MAX_PENDING_BYTES``
wait, ``append`` itself raises ``Unavailable``.

Snapshots: when the log grows past ``STORE_SNAPSHOT_LOG_BYTES`` or ``STORE_SNAPSHOT_LOG_RECORDS``,
the state comes from ``snapshot_source`` on the Trio thread and must be the *durable* state: every
record up to the last outcome reported (``durable_seq``) and nothing later. The file is written in a
worker thread while flushing goes on.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from nacosfast.errors import BadRequest, Unavailable
from nacosfast.limits import (
    STORE_MAX_PENDING_BYTES,
    STORE_MAX_RECORD_BYTES,
    STORE_REFUSED_RANGES_KEPT,
    STORE_RETRY_INTERVAL_MS,
    STORE_SHUTDOWN_FLUSH_TIMEOUT_MS,
    STORE_SNAPSHOT_LOG_BYTES,
    STORE_SNAPSHOT_LOG_RECORDS,
)
from nacosfast.metrics import Histogram, MetricFamily, counter, gauge
from nacosfast.store.log import FRAME_OVERHEAD, AppendLog

__all__ = ["Durability", "Worker"]

_logger = logging.getLogger(__name__)

SnapshotSource = Callable[[], Iterable[bytes]]
"""The durable state as records (as of ``durable_seq``); replaying them alone must rebuild it. Called on
the Trio thread, it must capture the state then: the records are read later, in a worker thread."""
Outcome = Callable[[int], object]
"""Told ``through``: every record numbered up to it is durable (``on_durable``) or refused."""
Worker = Callable[..., Awaitable[Any]]
"""Runs ``fn(*args)`` off the Trio thread: ``await worker(fn, *args, abandon_on_cancel=flag)``."""


def _ignore(through: int) -> None:
    """The default outcome listener."""


def _describe(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


class _Round:
    """One flush attempt: ``done`` is set when it ends; ``error`` if it failed for numbers up to
    ``failed_through``."""

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
        on_durable: Outcome = _ignore,
        on_refused: Outcome = _ignore,
        snapshot_log_bytes: int = STORE_SNAPSHOT_LOG_BYTES,
        snapshot_log_records: int = STORE_SNAPSHOT_LOG_RECORDS,
        max_pending_bytes: int = STORE_MAX_PENDING_BYTES,
        retry_interval_ms: int = STORE_RETRY_INTERVAL_MS,
        shutdown_flush_timeout_ms: int = STORE_SHUTDOWN_FLUSH_TIMEOUT_MS,
        worker: Worker | None = None,
    ) -> None:
        """Wrap an opened (and replayed) ``log``; it stays the caller's to close after ``run`` ends.

        ``on_refused(through)`` runs on the Trio thread before any waiter of a refused round wakes;
        ``worker`` runs the file operations (a worker thread by default; tests may run them inline).
        """
        self._log = log
        self._snapshot_source = snapshot_source
        self._on_durable = on_durable
        self._on_refused = on_refused
        self._snapshot_log_bytes = snapshot_log_bytes
        self._snapshot_log_records = snapshot_log_records
        self._max_pending_bytes = max_pending_bytes
        self._retry_interval = retry_interval_ms / 1000
        self._shutdown_timeout = shutdown_flush_timeout_ms / 1000
        self._limiter = trio.CapacityLimiter(2)  # one flush and one snapshot, never queued behind others
        self._worker = worker
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._last = log.last_seq
        """The number of the newest appended record."""
        self._resolved = log.durable_seq
        """Every record numbered up to this is durable or refused (as reported on the Trio thread)."""
        self._refused: deque[tuple[int, int, str]] = deque(maxlen=STORE_REFUSED_RANGES_KEPT)
        """Refused numbers as ranges ``(first, last, why)``, oldest first; the rest up to ``_resolved``
        are durable."""
        self._durable_log_seq = log.durable_seq
        """The log seq that ``_resolved`` corresponds to: what a snapshot taken now covers."""
        self._wake = trio.Event()
        self._round = _Round()
        self._started = False
        self._closed = False
        self._failing = False
        self._snapshotting = False
        self._snapshot_not_before = -float("inf")
        self.flush_rounds = 0
        self.refused_records = 0
        self.snapshots = 0
        self.failed_snapshots = 0
        self.flush_latency = Histogram()
        """Wall time of each flush round (write and fsync) that succeeded."""

    async def _off_thread(self, fn: Callable[..., Any], *args: Any, abandon_on_cancel: bool = False) -> Any:
        if self._worker is not None:
            return await self._worker(fn, *args, abandon_on_cancel=abandon_on_cancel)
        return await trio.to_thread.run_sync(
            fn, *args, abandon_on_cancel=abandon_on_cancel, limiter=self._limiter
        )

    @property
    def durable_seq(self) -> int:
        """Every record numbered up to this is durable or was refused (``refused`` tells which)."""
        return self._resolved

    def refused(self, number: int) -> str | None:
        """Why record ``number`` was refused (discarded after a failed write), or ``None``."""
        ranges = self._refused
        index = bisect.bisect_right(ranges, number, key=lambda item: item[0]) - 1
        if index >= 0 and ranges[index][0] <= number <= ranges[index][1]:
            return ranges[index][2]
        return None

    @property
    def failing(self) -> bool:
        """Whether the last flush failed."""
        return self._failing

    @property
    def pending_records(self) -> int:
        """Records appended and not yet durable nor refused (buffered here or in the log)."""
        return self._last - self._resolved

    def counters(self) -> dict[str, Any]:
        """Figures for operators: numbers, backlog, log size, fsyncs and failures."""
        log = self._log
        return {
            "lastSeq": self._last,
            "durableSeq": self._resolved,
            "logSeq": log.durable_seq,
            "snapshotSeq": log.snapshot_seq,
            "pendingRecords": self.pending_records,
            "pendingBytes": self._buffer_bytes + log.pending_bytes,
            "logBytes": log.log_bytes,
            "logRecords": log.log_records,
            "fsyncs": log.fsyncs,
            "flushRounds": self.flush_rounds,
            "failedFlushes": log.failed_flushes,
            "refusedRecords": self.refused_records,
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
        """Buffer one record; return the number to pass to ``wait_durable`` before acknowledging.

        Raises ``Unavailable`` after shutdown or when ``STORE_MAX_PENDING_BYTES`` already wait for the
        disk, and ``BadRequest`` for a record over ``STORE_MAX_RECORD_BYTES`` (the write asked to store
        more in one object than the store takes); nothing is buffered then.
        """
        length = len(payload)
        if length > STORE_MAX_RECORD_BYTES:
            raise BadRequest(
                f"record of {length} bytes is larger than the {STORE_MAX_RECORD_BYTES}-byte storage limit"
            )
        if self._closed:
            raise Unavailable("storage failure: the server is shutting down")
        waiting = self._buffer_bytes + self._log.pending_bytes + length + FRAME_OVERHEAD
        if waiting > self._max_pending_bytes:
            raise Unavailable("storage failure: too many records are waiting for the disk")
        self._buffer.append(payload)
        self._buffer_bytes += length + FRAME_OVERHEAD
        self._last += 1
        self._wake.set()
        return self._last

    async def wait_durable(self, number: int) -> None:
        """Return once record ``number`` is fsync'd.

        Raises ``Unavailable("storage failure: ...")`` if the round that carried it failed (the record
        was then discarded and ``on_refused`` told, unless the log could not cut it back) or the
        server shut down first. Records are durable in number order, but a refused record does not
        make later ones fail: wait for each number whose outcome matters.
        """
        if number > self._last:
            raise ValueError(f"record {number} was never appended (last is {self._last})")
        while number > self._resolved:
            if self._closed:
                raise Unavailable("storage failure: the server shut down before the record was written")
            round_ = self._round
            await round_.done.wait()
            if number > self._resolved and round_.error is not None and number <= round_.failed_through:
                raise Unavailable(f"storage failure: {round_.error}")
        await trio.lowlevel.checkpoint()
        refusal = self.refused(number)
        if refusal is not None:
            raise Unavailable(f"storage failure: {refusal}")

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
                    if not self._has_work():
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

    def _has_work(self) -> bool:
        return bool(self._buffer) or self._log.pending_records > 0

    def _write(self) -> tuple[int, OSError | None, bool]:
        """In a worker: flush the log. Returns (durable log seq, error, whether the failed records were
        discarded)."""
        log = self._log
        try:
            return log.flush(), None, False
        except OSError as error:
            try:
                log.discard()
            except OSError:
                _logger.exception("log: cannot cut a failed write back; it is written again next time")
                return 0, error, False
            return 0, error, True

    async def _flush_round(self) -> bool:
        round_ = self._round
        for payload in self._buffer:  # in the log's buffer, a record is flushed even at shutdown
            self._log.append(payload)
        self._buffer, self._buffer_bytes = [], 0
        through = self._last
        # Abandoned on cancellation (a hung disk must not hang shutdown): the log's own lock keeps a
        # later flush or close() from overlapping the abandoned one, which may still succeed.
        started_ns = time.perf_counter_ns()
        log_seq, error, discarded = await self._off_thread(self._write, abandon_on_cancel=True)
        self._round = _Round()
        if error is None:
            self.flush_rounds += 1
            self.flush_latency.observe_ns(time.perf_counter_ns() - started_ns)
            if self._failing:
                _logger.warning("storage recovered: durable up to record %d", through)
                self._failing = False
            self._resolved, self._durable_log_seq = through, log_seq
            self._on_durable(through)
            round_.done.set()
            return True
        if not self._failing:
            _logger.error(
                "storage failure: %s; writes answer 503 and are undone, the next attempt in %d ms",
                error,
                round(self._retry_interval * 1000),
            )
        self._failing = True
        round_.error = _describe(error)
        if discarded:
            self._refuse(through, round_.error)
        round_.failed_through = through
        round_.done.set()
        return False

    def _refuse(self, through: int, why: str) -> None:
        """Records after ``_resolved`` up to ``through`` were discarded: remember, then let the
        application undo them (before any of their waiters runs)."""
        first = self._resolved + 1
        self.refused_records += through - self._resolved
        ranges = self._refused
        if ranges and ranges[-1][1] == self._resolved:  # the same failure episode: one range
            first = ranges.pop()[0]
        ranges.append((first, through, why))
        self._resolved = through
        self._on_refused(through)

    def _snapshot_due(self) -> bool:
        if self._snapshotting or trio.current_time() < self._snapshot_not_before:
            return False
        log = self._log
        return log.log_bytes >= self._snapshot_log_bytes or log.log_records >= self._snapshot_log_records

    async def _snapshot(self) -> None:
        self._snapshotting = True
        try:
            # Rotate first: records flushed from now on go to a new segment.
            await self._off_thread(self._log.rotate)
            covers = self._durable_log_seq
            payloads = self._snapshot_source()  # on the Trio thread: the durable state as of covers
            await self._off_thread(self._log.write_snapshot, payloads, covers)
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
            while self._has_work() and await self._flush_round():
                pass
        if scope.cancelled_caught:
            _logger.error("the last flush did not finish within %.1f s", self._shutdown_timeout)
        if self.pending_records:
            _logger.error("shutting down with %d records not written", self.pending_records)
        self._closed = True
        final = self._round
        self._round = _Round()
        final.error = "the server is shutting down"
        final.failed_through = self._last
        final.done.set()
