"""The Trio shell of Distro replication: warm-up, sync sends, anti-entropy rounds and repairs.

``DistroRunner(distro, send)`` moves the bytes that the sans-I/O ``nacosfast.cluster.distro.Distro``
plans. ``send(address, kind, payload) -> reply`` is the peer transport (``PeerClient.call`` in the
server, an in-memory function between nodes of one process in tests); any exception it raises, or a
call slower than ``call_timeout_ms``, counts as a failed call. ``register(router)`` puts the ``distro/``
handlers on any object with ``register(kind_prefix, handler)`` (``PeerRouter``). ``figures`` counts what
only the runner sees; its ``families`` is the node's ``distro`` metrics collector.

Tasks (one nursery, all cancelled together):

- warm-up: asks the healthy peers in turn for their snapshot, page by page, until one answers ready;
  starts alone at the warm-up deadline and keeps asking until a snapshot is merged;
- sync: sends each due batch (one in flight per peer), woken by local changes or the next deadline;
- anti-entropy: every ``anti_entropy_period_ms``, the summary of the services this node owns to every
  peer (a fixed schedule, like the reaper);
- repairs: one per owner at a time — its digest table, then fetches in batches with pauses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from nacosfast.cluster.distro import (
    KIND_DIGEST,
    KIND_FETCH,
    KIND_PREFIX,
    KIND_SNAPSHOT,
    KIND_SYNC,
    KIND_TABLE,
    Distro,
    Repair,
    SyncBatch,
)
from nacosfast.limits import DISTRO_CALL_TIMEOUT_MS
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.distro_metrics import DistroFigures

__all__ = ["DistroRunner", "HandlerRouter", "Send"]

log = logging.getLogger("nacosfast.distro")

Send = Callable[[str, str, bytes], Awaitable[bytes]]
"""``(address, kind, payload) -> reply``: one call to a peer; raises on failure."""

MAX_SNAPSHOT_PAGES = 1_000_000
"""A snapshot load stops after this many pages (each must move the cursor forward anyway)."""


class HandlerRouter(Protocol):
    """Where peer-call handlers are registered (``nacosfast.server.peers.PeerRouter``)."""

    def register(self, kind_prefix: str, handler: Callable[[str, bytes, int], bytes]) -> None: ...


class DistroRunner:
    """Runs one node's replication tasks until cancelled."""

    def __init__(self, distro: Distro, send: Send, *, call_timeout_ms: int = DISTRO_CALL_TIMEOUT_MS) -> None:
        self.distro = distro
        self.figures = DistroFigures(distro)
        self._send = send
        self._timeout_s = call_timeout_ms / 1000
        self._sync_wakeup = trio.Event()
        self._repair_wakeup = trio.Event()
        distro.wake = self.wake

    def wake(self) -> None:
        """Something new may be due (a local change, a digest that needs a repair)."""
        self._sync_wakeup.set()
        self._repair_wakeup.set()

    def handle(self, kind: str, payload: bytes, now_ms: int) -> bytes:
        """Answer a peer's ``distro/*`` call (the router's handler)."""
        return self.distro.handle(kind, payload, now_ms)

    def register(self, router: HandlerRouter) -> None:
        """Register the ``distro/`` handlers on ``router``."""
        router.register(KIND_PREFIX, self.handle)

    async def call(self, address: str, kind: str, payload: bytes) -> bytes:
        """One peer call with the runner's timeout; raises whatever ``send`` raises, or ``TooSlowError``."""
        with trio.fail_after(self._timeout_s):
            return await self._send(address, kind, payload)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every task until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._warm_up)
            nursery.start_soon(self._sync_loop, nursery)
            nursery.start_soon(self._anti_entropy_loop, nursery)
            nursery.start_soon(self._repair_loop, nursery)
            task_status.started()

    # --- warm-up --------------------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        distro = self.distro
        while not distro.synced:
            for address in distro.view.peers():
                if await self._load_snapshot(address):
                    self.figures.snapshot_loads += 1
                    distro.snapshot_loaded()
                    return
            distro.warmup_expired(monotonic_ms())
            await trio.sleep(distro.config.warmup_retry_ms / 1000)

    async def _load_snapshot(self, address: str) -> bool:
        """Load every page of ``address``'s snapshot; ``False`` if it is not ready or a call fails."""
        distro = self.distro
        cursor: str | None = None
        for _page in range(MAX_SNAPSHOT_PAGES):
            try:
                reply = await self.call(address, KIND_SNAPSHOT, distro.snapshot_request(cursor))
                ready, following = distro.load_snapshot_page(reply, monotonic_ms())
            except Exception as error:
                log.info("distro: no snapshot from %s: %s", address, error)
                self.figures.snapshot_loads_failed += 1
                return False
            if not ready:
                self.figures.snapshot_loads_not_ready += 1
                return False
            if following is None:
                return True
            if cursor is not None and following <= cursor:
                log.warning("distro: %s sent a snapshot cursor that does not advance", address)
                self.figures.snapshot_loads_failed += 1
                return False
            cursor = following
        self.figures.snapshot_loads_failed += 1
        return False

    # --- sync -----------------------------------------------------------------------------------------

    async def _sync_loop(self, nursery: trio.Nursery) -> None:
        distro = self.distro
        while True:
            self._sync_wakeup = trio.Event()
            for batch in distro.due_syncs(monotonic_ms()):
                nursery.start_soon(self._send_batch, batch)
            deadline = distro.next_deadline_ms()
            # Half a millisecond past the deadline: ``monotonic_ms`` floors, so waking exactly on it
            # could find nothing due yet (and, under a virtual clock, never move time forward).
            wake_at = math.inf if deadline is None else (deadline + 0.5) / 1000
            with trio.move_on_at(wake_at):
                await self._sync_wakeup.wait()

    async def _send_batch(self, batch: SyncBatch) -> None:
        distro = self.distro
        try:
            await self.call(batch.address, KIND_SYNC, batch.payload)
        except Exception as error:
            log.info("distro: sync of %d services to %s failed: %s", len(batch.keys), batch.address, error)
            distro.sync_failed(batch, monotonic_ms())
            self.figures.sync_failed(batch.address, len(batch.keys))
        else:
            distro.sync_done(batch)
            self.figures.sync_sent(batch.address, len(batch.keys), monotonic_ms())
        self._sync_wakeup.set()

    # --- anti-entropy ---------------------------------------------------------------------------------

    async def _anti_entropy_loop(self, nursery: trio.Nursery) -> None:
        distro = self.distro
        period_s = distro.config.anti_entropy_period_ms / 1000
        start = trio.current_time()
        rounds = 0
        while True:
            rounds += 1
            await trio.sleep_until(start + rounds * period_s)
            summary = distro.digest_round(monotonic_ms())
            if summary is None:
                continue
            for address in distro.view.peers():
                nursery.start_soon(self._send_digest, address, summary)

    async def _send_digest(self, address: str, summary: bytes) -> None:
        try:
            await self.call(address, KIND_DIGEST, summary)
        except Exception as error:
            log.info("distro: digest to %s failed: %s", address, error)
            self.figures.digest_send_failures += 1

    async def _repair_loop(self, nursery: trio.Nursery) -> None:
        busy: set[str] = set()
        while True:
            self._repair_wakeup = trio.Event()
            while (repair := self.distro.next_repair(busy)) is not None:
                busy.add(repair.source)
                nursery.start_soon(self._repair, repair, busy)
            await self._repair_wakeup.wait()

    async def _repair(self, repair: Repair, busy: set[str]) -> None:
        distro = self.distro
        source = repair.source
        try:
            table = await self.call(source, KIND_TABLE, repair.table_request)
            batches = distro.plan_repair(repair, table, monotonic_ms())
            self.figures.keys_requested += sum(map(len, batches))
            for number, keys in enumerate(batches):
                if number:
                    await trio.sleep(distro.config.fetch_pause_ms / 1000)
                reply = await self.call(source, KIND_FETCH, distro.fetch_request(keys))
                distro.fetched(reply, monotonic_ms())
        except Exception as error:
            log.info("distro: repair from %s failed: %s", source, error)
            self.figures.repairs_failed += 1
        else:
            self.figures.repairs_done += 1
        finally:
            busy.discard(source)
            self._repair_wakeup.set()
