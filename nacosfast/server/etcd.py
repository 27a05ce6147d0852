"""The etcd store: durable records of a cluster in etcd, and the watch that feeds every node's memory.

It is the naming layer's journal sink, like ``nacosfast.server.durability.Durability`` on a standalone
node: ``append(record) -> number`` (synchronous; the naming layer applies the write in memory
and records it in the ledger), then ``await wait_durable(number)`` before answering. Here each record
becomes one etcd transaction (``nacosfast.store.etcd_keys``) guarded by the key's revision as this
node last saw it, sent at once; writes to one key are sent one after the other, in order. Outcomes
are reported to the naming layer in number order: ``on_durable(n)`` when etcd committed write
``n``; ``on_refused(n)`` when it did not (a lost compare-and-set: 409; no answer in time, no quorum,
unreachable: 503), and the ledger puts the key back to the value etcd holds — so a client never gets
``ok`` for a write a majority of etcd does not hold, and a refused write does not stay visible.

Reads come from memory. ``run`` reads every key under the prefix at one revision, then watches from
the next revision; each event is applied through ``journal.observe`` (push is told). An event whose
revision this node already knows (its own write, a replayed event after a reconnect) is skipped; an
event for a key this node has a write to whose outcome is not reported yet waits for that report
(outcomes go in write order), then is applied unless this node's own write is newer.
When the watch breaks it resumes from the last revision seen; when etcd compacted that revision
away, it re-reads everything at a fresh revision, applies the difference (keys gone are deleted), and
watches on from there: nothing is lost and nothing applied twice.
"""

from __future__ import annotations

import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import trio

from nacosfast.config import ConfigError, Settings
from nacosfast.errors import Conflict, Unavailable
from nacosfast.limits import (
    ETCD_FAILED_WRITES_KEPT,
    ETCD_MAX_PENDING_WRITES,
    ETCD_RETRY_INTERVAL_MS,
    ETCD_TOMBSTONES_KEPT,
)
from nacosfast.metrics import MetricFamily, counter, gauge
from nacosfast.server.etcd_http import EtcdClient, EtcdError, EtcdUnavailable
from nacosfast.store.etcd_keys import (
    Target,
    key_of,
    parse_endpoints,
    range_request,
    record_target,
    unb64,
    watch_request,
    write_request,
)
from nacosfast.store.log import SNAPSHOT_NAME

__all__ = ["EtcdStore", "etcd_client", "has_log", "warn_unimported_log"]

log = logging.getLogger("nacosfast.etcd")

Observer = Callable[[Hashable, "bytes | None"], object]
"""Told that etcd now holds this record (``None``: nothing) at this journal key."""
Outcome = Callable[[int], object]


def _ignore(value: object, *args: object) -> None:
    """The default listener."""


class _Compacted(Exception):
    """The watch's start revision was compacted away: re-read everything."""


class EtcdStore:
    """Writes records to etcd and keeps memory in step with it; see the module docstring."""

    def __init__(
        self,
        client: EtcdClient,
        prefix: str,
        *,
        observe: Observer = _ignore,
        on_durable: Outcome = _ignore,
        on_refused: Outcome = _ignore,
        max_pending: int = ETCD_MAX_PENDING_WRITES,
        retry_interval_ms: int = ETCD_RETRY_INTERVAL_MS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._observe = observe
        self._on_durable = on_durable
        self._on_refused = on_refused
        self._max_pending = max_pending
        self._retry_interval = retry_interval_ms / 1000
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self._last = 0
        self._resolved = 0
        self._outcomes: dict[int, str | None] = {}
        """Write number → ``None`` (committed) or why it was refused, until reported in order."""
        self._failures: OrderedDict[int, Exception] = OrderedDict()
        self._resolved_event = trio.Event()
        self._paths: dict[int, str] = {}
        """Write number → its etcd key, until its outcome is reported."""
        self._unsettled: dict[str, int] = {}
        """etcd key → this node's writes to it whose outcome is not reported yet."""
        self._deferred: dict[str, tuple[int, Hashable, bytes | None]] = {}
        """etcd key → the newest event for it that arrived while a write of this node to it was
        unsettled: applied once the last such write is reported (if still the newest), so an outcome
        reported late never leaves memory on an older value than etcd's."""
        self._tails: dict[str, trio.Event] = {}
        """etcd key → done-event of the newest write to it (the next write to it waits for that)."""
        self._revisions: dict[str, int] = {}
        """etcd key → revision of its last change seen, for every key that exists: what writes compare."""
        self._tombstones: dict[str, int] = {}
        """etcd key → revision of its deletion, until the watch has passed it (then no older event for the
        key can arrive): an event replayed after a reconnect does not bring a deleted key back."""
        self.revision = 0
        """The etcd revision memory is in step with (every event up to it applied)."""
        self._broken = False
        """The watch failed and has not been re-established yet."""
        self.ready = trio.Event()
        """Set once the first full read is applied."""
        self.committed = 0
        self.conflicts = 0
        self.unavailable = 0
        self.events = 0
        self.resyncs = 0
        self.watch_restarts = 0

    # --- the journal sink ---------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Send one record to etcd; the number to pass to ``wait_durable``. ``Unavailable`` when not
        running or too many writes wait for etcd (nothing was sent then)."""
        if self._nursery is None or self._closed:
            raise Unavailable("etcd store is not running")
        if self._last - self._resolved >= self._max_pending:
            raise Unavailable("too many writes are waiting for etcd")
        try:
            target = record_target(self.prefix, payload)
        except (ValueError, KeyError) as error:
            raise Unavailable(f"this record is not stored in etcd: {error}") from None
        self._last += 1
        number = self._last
        self._paths[number] = target.path
        self._unsettled[target.path] = self._unsettled.get(target.path, 0) + 1
        previous = self._tails.get(target.path)
        done = self._tails[target.path] = trio.Event()
        self._nursery.start_soon(self._write, number, target, previous, done)
        return number

    async def wait_durable(self, number: int) -> None:
        """Return once etcd committed write ``number``: ``Conflict`` (409) if its compare-and-set lost,
        ``Unavailable`` (503) if etcd could not be reached or had no quorum in time."""
        if number > self._last:
            raise ValueError(f"write {number} was never sent (last is {self._last})")
        while number > self._resolved:
            if self._closed:
                raise Unavailable("the server is shutting down; the write is not acknowledged")
            event = self._resolved_event
            await event.wait()
        await trio.lowlevel.checkpoint()
        failure = self._failures.get(number)
        if failure is not None:
            raise failure

    @property
    def pending_writes(self) -> int:
        """Writes sent and not yet decided."""
        return self._last - self._resolved

    def counters(self) -> dict[str, Any]:
        """Figures for operators."""
        return {
            "revision": self.revision,
            "lastWrite": self._last,
            "pendingWrites": self.pending_writes,
            "committed": self.committed,
            "conflicts": self.conflicts,
            "unavailable": self.unavailable,
            "events": self.events,
            "resyncs": self.resyncs,
            "watchRestarts": self.watch_restarts,
        }

    def families(self) -> list[MetricFamily]:
        """The etcd store's Prometheus figures (``counters`` as gauges and counters)."""
        return [
            gauge("nacosfast_etcd_revision", "etcd revision memory is in step with.", self.revision),
            gauge(
                "nacosfast_etcd_pending_writes", "Writes sent to etcd, not yet decided.", self.pending_writes
            ),
            counter("nacosfast_etcd_committed", "Writes etcd committed.", self.committed),
            counter(
                "nacosfast_etcd_conflicts", "Writes refused with 409 (lost compare-and-set).", self.conflicts
            ),
            counter(
                "nacosfast_etcd_unavailable", "Writes refused with 503 (etcd unreachable).", self.unavailable
            ),
            counter("nacosfast_etcd_events", "Watch events applied.", self.events),
            counter("nacosfast_etcd_resyncs", "Full re-reads after a compaction.", self.resyncs),
            counter("nacosfast_etcd_watch_restarts", "Watch connections re-opened.", self.watch_restarts),
        ]

    async def _write(
        self, number: int, target: Target, previous: trio.Event | None, done: trio.Event
    ) -> None:
        try:
            if previous is not None:
                await previous.wait()
            try:
                outcome = await self._send(target)
            except (KeyError, ValueError, TypeError) as error:  # an answer this client cannot read
                log.exception("unreadable etcd answer to a write")
                outcome = Unavailable(f"unreadable etcd answer ({error!r}); the write is not acknowledged")
        finally:
            done.set()
            if self._tails.get(target.path) is done:
                del self._tails[target.path]
        self._decide(number, outcome)

    async def _send(self, target: Target) -> Exception | None:
        revision = self._revisions.get(target.path)
        try:
            reply = await self.client.call("/v3/kv/txn", write_request(target, revision))
        except EtcdUnavailable as error:
            self.unavailable += 1
            return Unavailable(f"{error}; the write is not acknowledged")
        except EtcdError as error:
            self.unavailable += 1
            return Unavailable(f"etcd refused the write: {error.message}")
        header_revision = int(reply.get("header", {}).get("revision", 0))
        if reply.get("succeeded"):
            self.committed += 1
            self._saw(target.path, header_revision, target.value is not None)
            return None
        self.conflicts += 1
        return Conflict("the record was changed meanwhile (by another node); read it again and retry")

    def _settled(self, path: str) -> None:
        """One write of this node to ``path`` was reported; after the last, apply a deferred event."""
        left = self._unsettled[path] - 1
        if left:
            self._unsettled[path] = left
            return
        del self._unsettled[path]
        deferred = self._deferred.pop(path, None)
        if deferred is None:
            return
        revision, key, value = deferred
        newest = self._revisions.get(path) or self._tombstones.get(path)
        if newest is None or revision >= newest:  # not superseded by this node's own later write
            self._deliver(path, key, value)

    def _saw(self, path: str, revision: int, exists: bool) -> bool:
        """Remember ``path``'s change at ``revision``; False if an equal or newer one was seen."""
        seen = self._revisions.get(path) or self._tombstones.get(path)
        if seen is not None and seen >= revision:
            return False
        if exists:
            self._revisions[path] = revision
            self._tombstones.pop(path, None)
        else:
            self._revisions.pop(path, None)
            self._tombstones[path] = revision
            if len(self._tombstones) > ETCD_TOMBSTONES_KEPT:
                self._forget_tombstones()
        return True

    def _forget_tombstones(self) -> None:
        """Drop deletions the watch has passed (they cannot be contradicted by an older event)."""
        passed = [path for path, revision in self._tombstones.items() if revision <= self.revision]
        for path in passed:
            del self._tombstones[path]

    def _decide(self, number: int, failure: Exception | None) -> None:
        self._outcomes[number] = None if failure is None else str(failure)
        if failure is not None:
            self._failures[number] = failure
            while len(self._failures) > ETCD_FAILED_WRITES_KEPT:
                self._failures.popitem(last=False)
        moved = False
        while self._resolved + 1 in self._outcomes:
            self._resolved += 1
            moved = True
            if self._outcomes.pop(self._resolved) is None:
                self._on_durable(self._resolved)
            else:
                self._on_refused(self._resolved)
            self._settled(self._paths.pop(self._resolved))
        if moved:
            self._resolved_event.set()
            self._resolved_event = trio.Event()

    # --- memory from etcd ---------------------------------------------------------------------------

    async def load(self) -> int:
        """Read every key under the prefix (in pages, all at one revision) and apply what differs from
        memory; the revision read at."""
        revision = 0
        after = ""
        present: set[str] = set()
        while True:
            reply = await self.client.call("/v3/kv/range", range_request(self.prefix, revision, after))
            revision = revision or int(reply["header"]["revision"])
            for kv in reply.get("kvs", ()):
                path = unb64(kv["key"]).decode()
                present.add(path)
                self._apply(path, int(kv["mod_revision"]), unb64(kv.get("value", "")))
                after = path
            if not reply.get("more"):
                break
        for path in [path for path in self._revisions if path not in present]:
            self._apply(path, revision, None)
        self.revision = max(self.revision, revision)
        self._forget_tombstones()
        return revision

    def _apply(self, path: str, revision: int, value: bytes | None) -> None:
        if not self._saw(path, revision, value is not None):
            return
        try:
            key = key_of(self.prefix, path)
        except ValueError:
            log.warning("ignoring etcd key %r: not one nacosfast writes", path)
            return
        self.events += 1
        if path in self._unsettled:
            self._deferred[path] = (revision, key, value)
            return
        self._deliver(path, key, value)

    def _deliver(self, path: str, key: Hashable, value: bytes | None) -> None:
        try:
            self._observe(key, value)
        except (ValueError, KeyError, TypeError) as error:
            log.error("ignoring etcd key %r: unreadable value (%s)", path, error)

    async def _watch(self, start_revision: int, on_created: Callable[[], object]) -> None:
        """Apply events from ``start_revision`` on until the watch breaks (raises); ``on_created`` is
        called once etcd confirmed the watch."""
        messages = self.client.stream("/v3/watch", watch_request(self.prefix, start_revision))
        try:
            async for message in messages:
                result = message.get("result", message)
                if int(result.get("compact_revision", 0) or 0) > 0:
                    raise _Compacted(str(result["compact_revision"]))
                if result.get("canceled"):
                    raise EtcdUnavailable(f"etcd cancelled the watch: {result.get('cancel_reason', '')}")
                if result.get("created"):
                    on_created()
                for event in result.get("events", ()):
                    kv = event["kv"]
                    path = unb64(kv["key"]).decode()
                    revision = int(kv["mod_revision"])
                    deleted = event.get("type") == "DELETE"
                    self._apply(path, revision, None if deleted else unb64(kv.get("value", "")))
                    self.revision = max(self.revision, revision)
                header = result.get("header", {})
                if not result.get("events") and "revision" in header and not result.get("created"):
                    self.revision = max(self.revision, int(header["revision"]))
        finally:
            await messages.aclose()  # type: ignore[attr-defined]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load everything, then watch (resuming after failures) and send writes, until cancelled.

        Starts once the first load succeeded; until then it retries (a node does not serve without
        its persistent data)."""
        async with trio.open_nursery() as nursery:
            await self._resync(first=True)
            self._nursery = nursery
            self.ready.set()
            task_status.started()
            try:
                await self.follow()
            finally:
                self._closed = True
                self._resolved_event.set()  # waiters of writes that will never be decided: 503

    async def follow(self) -> None:
        """Apply etcd's changes after ``revision`` as they come, until cancelled (``run`` calls it
        after the first load)."""
        while True:
            try:
                await self._watch(self.revision + 1, self._watching)
            except _Compacted as compacted:
                log.warning("etcd compacted past revision %d (now %s): re-reading", self.revision, compacted)
                await self._resync()
            except (EtcdUnavailable, EtcdError, KeyError, ValueError, TypeError) as error:
                self.watch_restarts += 1
                if not self._broken:  # once per outage, not every retry
                    log.warning("etcd watch broken (%s); resuming from revision %d", error, self.revision + 1)
                self._broken = True
                await trio.sleep(self._retry_interval)

    def _watching(self) -> None:
        if self._broken:
            log.info("etcd watch resumed at revision %d", self.revision + 1)
        self._broken = False

    async def _resync(self, *, first: bool = False) -> None:
        """``load`` until it succeeds (warning once, not at every retry)."""
        warned = False
        while True:
            try:
                await self.load()
            except (EtcdUnavailable, EtcdError) as error:
                if not warned:
                    log.warning(
                        "cannot read etcd (%s); retrying every %d ms", error, self._retry_interval * 1000
                    )
                warned = True
                await trio.sleep(self._retry_interval)
                continue
            if not first:
                self.resyncs += 1
            return


def etcd_client(settings: Settings) -> EtcdClient:
    """The etcd client ``settings`` describe (``ConfigError`` if a credential file cannot be read)."""
    password = ""
    if settings.etcd_password_file:
        try:
            password = Path(settings.etcd_password_file).read_text().rstrip("\r\n")
        except OSError as error:
            raise ConfigError(f"cannot read etcd_password_file: {error}") from None
    context = None
    if settings.etcd_ca_file or settings.etcd_cert_file:
        try:
            context = ssl.create_default_context(cafile=settings.etcd_ca_file or None)
            if settings.etcd_cert_file:
                context.load_cert_chain(settings.etcd_cert_file, settings.etcd_key_file)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"cannot load the etcd TLS files: {error}") from None
    return EtcdClient(
        parse_endpoints(settings.etcd), user=settings.etcd_user, password=password, ssl_context=context
    )


def has_log(data_dir: str) -> bool:
    """Whether ``data_dir`` holds a standalone node's log (a snapshot or a log segment)."""
    path = Path(data_dir)
    return path.is_dir() and any(
        entry.name == SNAPSHOT_NAME or (entry.name.startswith("wal-") and entry.name.endswith(".log"))
        for entry in path.iterdir()
    )


def warn_unimported_log(data_dir: str) -> None:
    """Log how to import a standalone log found in ``data_dir`` (a node on etcd does not read it)."""
    if has_log(data_dir):
        log.warning(
            "%s holds a standalone log, which a node on etcd does not read: import it once with "
            "`nacosfast import-log --etcd ... --data-dir %s` (idempotent)",
            data_dir,
            data_dir,
        )
