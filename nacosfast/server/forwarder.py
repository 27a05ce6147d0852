"""Forwarding to owners: batches of writes and relayed beats per owner, one peer call per batch.

``Forwarder`` is the server's ``naming.state.Forwarding``. ``forward(owner, request)`` queues the request
on the owner's *write lane* and returns a response with a pending answer (the HTTP layer parks the
connection until it resolves); a lane
task sends everything queued (up to ``MAX_FORWARD_BATCH``) in one ``forward/requests`` call and hands
each answer back. Requests that arrive while a call is in flight go together in the next one, so
batches grow with load and add no delay when idle. If the owner cannot be reached (``PeerUnavailable``,
no answer within ``FORWARD_TIMEOUT_MS``, a malformed reply) or its lane is full, each request is handled
here by ``fallback`` (AP: the client gets the answer the owner would have given).

``relay_beat`` queues a beat on the owner's *beat lane* (separate, so beats never wait behind writes);
a lost batch is not retried (every client beats again within its interval, well inside the 15 s
timeout), and a full lane drops the beat. The owner answers with the beats whose instance it does not
know; for each, ``reregister`` may build a registration from this node's copy, which is forwarded.

The owner side is ``owner_handlers``: the peer endpoints ``forward/requests`` (each request handled as
a forwarded one: never forwarded again) and ``forward/beats``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from nacosfast.cluster.codec import (
    Beat,
    decode_beats,
    decode_requests,
    decode_responses,
    encode_beats,
    encode_requests,
    encode_responses,
)
from nacosfast.limits import FORWARD_TIMEOUT_MS, MAX_FORWARD_BATCH, MAX_FORWARD_QUEUE
from nacosfast.naming.app import NamingApp
from nacosfast.naming.instances import apply_relayed_beat
from nacosfast.server.clock import wall_ms
from nacosfast.server.peers import PeerClient, PeerReply, PeerUnavailable
from nacosfast.wire.message import PendingAnswer, Request, Response

__all__ = ["FORWARD_BEATS", "FORWARD_REQUESTS", "Forwarder", "owner_handlers"]

log = logging.getLogger("nacosfast.forward")

FORWARD_REQUESTS = "forward/requests"
FORWARD_BEATS = "forward/beats"


class _Lane:
    """Items queued for one owner and whether a task is sending them."""

    __slots__ = ("items", "sending")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.sending = False


class Forwarder:
    """Sends writes and beats to their owners in batches (see the module docstring)."""

    def __init__(
        self,
        client: PeerClient,
        fallback: Callable[[Request], Response],
        *,
        reregister: Callable[[str, str, str], Request | None] | None = None,
        timeout_ms: int = FORWARD_TIMEOUT_MS,
        max_batch: int = MAX_FORWARD_BATCH,
        max_queue: int = MAX_FORWARD_QUEUE,
    ) -> None:
        self._client = client
        self._fallback = fallback
        self._reregister = reregister
        self._timeout_s = timeout_ms / 1000
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._writes: dict[str, _Lane] = {}
        self._beats: dict[str, _Lane] = {}
        self._nursery: trio.Nursery | None = None
        self.forwarded = 0
        self.handled_locally = 0
        self.beats_relayed = 0
        self.beats_dropped = 0
        self.reregistered = 0
        self.batches = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the lane tasks until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            for lane in self._writes.values():  # stopping: answer what is still queued here
                for request, pending in lane.items:
                    pending.resolve(self._fallback(request))
                lane.items.clear()

    def forward(self, owner: str, request: Request) -> Response:
        """Queue ``request`` for ``owner``; the returned response's deferred answer is the owner's."""
        lane = self._writes.get(owner)
        if lane is None:
            lane = self._writes[owner] = _Lane()
        if len(lane.items) >= self._max_queue or self._nursery is None:
            self.handled_locally += 1
            return self._fallback(request)
        pending = PendingAnswer()
        lane.items.append((request, pending))
        self._start(lane, owner, self._send_writes)
        return Response(deferred=pending)

    def relay_beat(self, owner: str, namespace: str, name: str, key: str) -> None:
        """Queue one beat for ``owner`` (dropped if its lane is full)."""
        lane = self._beats.get(owner)
        if lane is None:
            lane = self._beats[owner] = _Lane()
        if len(lane.items) >= self._max_queue or self._nursery is None:
            self.beats_dropped += 1
            return
        lane.items.append((namespace, name, key))
        self._start(lane, owner, self._send_beats)

    def _start(self, lane: _Lane, owner: str, send: Callable[[str, list[Any]], Awaitable[None]]) -> None:
        if not lane.sending:
            assert self._nursery is not None
            lane.sending = True
            self._nursery.start_soon(self._drain, lane, owner, send)

    async def _drain(
        self, lane: _Lane, owner: str, send: Callable[[str, list[Any]], Awaitable[None]]
    ) -> None:
        try:
            while lane.items:
                batch = lane.items[: self._max_batch]
                del lane.items[: self._max_batch]
                self.batches += 1
                await send(owner, batch)
        finally:
            lane.sending = False

    async def _send_writes(self, owner: str, batch: list[tuple[Request, PendingAnswer]]) -> None:
        try:
            reply = await self._client.call(
                owner, FORWARD_REQUESTS, encode_requests(request for request, _ in batch), self._timeout_s
            )
            responses = decode_responses(reply)
            if len(responses) != len(batch):
                raise ValueError(f"{len(responses)} answers to {len(batch)} forwarded requests")
        except (PeerUnavailable, ValueError) as error:
            log.warning("forwarding %d writes to %s failed (%s); handled here", len(batch), owner, error)
        else:
            self.forwarded += len(batch)
            for (_, pending), response in zip(batch, responses, strict=True):
                pending.resolve(response)
        finally:  # failed, or cancelled at shutdown: whatever has no answer is handled here
            for request, pending in batch:
                if pending.response is None:
                    self.handled_locally += 1
                    pending.resolve(self._fallback(request))

    async def _send_beats(self, owner: str, beats: list[Beat]) -> None:
        try:
            reply = await self._client.call(owner, FORWARD_BEATS, encode_beats(beats), self._timeout_s)
            unknown = decode_beats(reply)
        except (PeerUnavailable, ValueError) as error:
            log.info("relaying %d beats to %s failed: %s", len(beats), owner, error)
            self.beats_dropped += len(beats)
            return
        self.beats_relayed += len(beats)
        reregister = self._reregister
        if reregister is None:
            return
        for namespace, name, key in unknown:
            request = reregister(namespace, name, key)
            if request is not None:
                self.reregistered += 1
                self.forward(owner, request)

    def counters(self) -> dict[str, int]:
        """Forwarding figures for ``operator/metrics``."""
        return {
            "forwarded": self.forwarded,
            "forwardedHandledLocally": self.handled_locally,
            "beatsRelayed": self.beats_relayed,
            "beatsDropped": self.beats_dropped,
            "beatsReregistered": self.reregistered,
            "forwardBatches": self.batches,
        }


def owner_handlers(app: NamingApp) -> dict[str, Callable[[str, bytes, int], bytes | PeerReply]]:
    """The owner side of forwarding: peer kind → handler, for ``PeerRouter.register``."""

    def handle_requests(kind: str, payload: bytes, now_ms: int) -> PeerReply:
        wall = wall_ms()
        responses = [
            app.handle(request, now_ms, wall, forwarded=True) for request in decode_requests(payload)
        ]
        durable_seq = max((response.durable_seq for response in responses), default=0)
        return PeerReply(encode_responses(responses), durable_seq)

    def handle_beats(kind: str, payload: bytes, now_ms: int) -> bytes:
        """Apply relayed beats; answer those whose instance is unknown here."""
        state = app.state
        return encode_beats(
            beat for beat in decode_beats(payload) if not apply_relayed_beat(state, *beat, now_ms)
        )

    return {FORWARD_REQUESTS: handle_requests, FORWARD_BEATS: handle_beats}
