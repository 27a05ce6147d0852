"""What every connection driver shares: calling the handler, the answering loop, durable waits, bounds.

``answer_ready`` is the one answering loop. It is synchronous: it answers a batch of pipelined
requests in order and stops where an answer cannot go out at once — one that must wait for the log
(``durable_seq > 0``), one not known yet (``deferred``: a write forwarded to its owner in a cluster),
or the request after ``MAX_PIPELINED_REQUESTS`` answers (the connection must let others run) — and
returns that place as a ``Pending``. The epoll hub runs it inline and parks or
hands off a ``Pending``; ``Responder.finish`` runs the rest of one in a task (the stream driver and
the hub's tasks). ``Responder.wait_for_log`` is the one durable wait: bounded, shielded, and turned
into a 503 when the log fails or takes too long.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Final

import trio
from trio.lowlevel import cancel_shielded_checkpoint

from nacosfast.errors import NacosError
from nacosfast.limits import MAX_PIPELINED_REQUESTS
from nacosfast.wire.http import HttpConnection
from nacosfast.wire.http_limits import HttpLimits
from nacosfast.wire.message import Request, Response

__all__ = ["Abandon", "Handler", "Pending", "Responder", "Send", "WaitDurable", "answer_ready"]

log = logging.getLogger("nacosfast.http")

Handler = Callable[[Request], Response]
"""The application: answers one request, synchronously."""
WaitDurable = Callable[[int], Awaitable[None]]
"""Returns once the log record with this sequence number is durable; raises if it never will be.

Records become durable in sequence order (an append-only log with group commit), so once
``wait_durable(n)`` returned or raised, every record up to ``n`` is decided; but a record the disk
refused does not fail later ones, so each answer's own number is still asked (cheap once decided)."""
Send = Callable[[bytes], Awaitable[None]]
"""Sends bytes to one connection's peer; raises ``Abandon`` (or a stream/socket error) if it cannot."""

_INTERNAL_ERROR: Final = Response(status=500, body=b"caused: internal server error;")
_NOT_DURABLE_IN_TIME: Final = Response(status=503, body=b"caused: write not durable in time;", close=True)
_NO_ANSWER_IN_TIME: Final = Response(status=503, body=b"caused: no answer in time;", close=True)


class Abandon(Exception):
    """The answer could not be delivered in time (or the peer is gone): close the connection."""


class Pending:
    """Where ``answer_ready`` stopped: ``response``, the handler's answer to ``requests[0]``, is not
    sent yet — it waits for its deferred answer if ``response.deferred`` is set, for the log if
    ``response.durable_seq > 0``, else only for the next turn."""

    __slots__ = ("requests", "response")

    def __init__(self, requests: list[Request], response: Response) -> None:
        self.requests = requests
        self.response = response


def answer_ready(
    conn: HttpConnection,
    requests: list[Request],
    call: Handler,
    out: list[bytes],
    first: Response | None = None,
) -> Pending | None:
    """Append the encoded answers to ``requests`` to ``out``, in order, then ``conn.end_of_batch``.

    Stops (and returns where) at the first answer that must wait for the log or is deferred, or after
    ``MAX_PIPELINED_REQUESTS`` answers; returns None when the batch is answered. ``first``, if given,
    is the final answer to ``requests[0]`` (its durable wait is over). Stops early, without the
    error answer, when a response closes the connection.
    """
    answered_all = False  # set by the loop's else: no request closed the connection
    for index, request in enumerate(requests):
        if first is not None:
            response, first = first, None
        else:
            response = call(request)
            if response.durable_seq > 0 or response.deferred is not None or index >= MAX_PIPELINED_REQUESTS:
                return Pending(requests[index:], response)
        out.append(conn.respond(request, response))
        if conn.closing:
            break
    else:
        answered_all = True
    out += conn.end_of_batch(answered_all)
    return None


def _not_durable(error: Exception) -> Response:
    """The answer when the store could not make a write durable: 503 (clients try another server), or
    409 when a shared store (etcd) refused it because the record changed meanwhile."""
    if isinstance(error, NacosError) and (error.status >= 500 or error.status == 409):  # 409: lost CAS
        return Response(status=error.status, body=error.body())
    return Response(status=503, body=NacosError(f"write not durable: {error}").body())


class Responder:
    """The handler, the durable wait and the bound on in-flight work of one server.

    Work that must finish once a request is parsed (waiting for durability, sending a response that
    did not fit the socket buffer) runs in a shielded cancel scope with a deadline (``bounded``):
    cancelling the server does not cut an answer in half, and ``begin_shutdown`` shortens every such
    deadline to the shutdown grace.
    """

    __slots__ = ("_handler", "_scopes", "_shutdown_at", "_wait_durable", "limits")

    def __init__(self, handler: Handler, wait_durable: WaitDurable, limits: HttpLimits) -> None:
        self._handler = handler
        self._wait_durable = wait_durable
        self.limits = limits
        self._scopes: set[trio.CancelScope] = set()
        self._shutdown_at: float | None = None

    def call(self, request: Request) -> Response:
        """Run the handler; an error that escapes it becomes a response, never a dead connection."""
        try:
            return self._handler(request)
        except NacosError as error:
            return Response(status=error.status, body=error.body())
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            return _INTERNAL_ERROR

    @contextmanager
    def bounded(self) -> Iterator[trio.CancelScope]:
        """Run the body shielded, within the response timeout (or what is left of the shutdown grace).

        The scope is yielded: ``cancelled_caught`` tells whether the bound cut the body short.
        """
        deadline = trio.current_time() + self.limits.response_timeout_ms / 1000
        if self._shutdown_at is not None:
            deadline = min(deadline, self._shutdown_at)
        scope = trio.CancelScope(deadline=deadline, shield=True)
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)

    def begin_shutdown(self) -> None:
        """Give every in-flight answer at most the shutdown grace from now."""
        shutdown_at = trio.current_time() + self.limits.shutdown_grace_ms / 1000
        self._shutdown_at = shutdown_at
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, shutdown_at)

    async def wait_for_log(self, seq: int) -> Response | None:
        """Wait until log record ``seq`` is durable.

        None when it is; else the answer to give instead: 503 if the log failed, or 503 with
        ``Connection: close`` if it did not finish within the bound.
        """
        return (await self.wait_for_logs([seq])).get(seq)

    async def wait_for_logs(self, seqs: Iterable[int]) -> dict[int, Response]:
        """Wait until the log records ``seqs`` are decided, within one bound: the largest first (that
        one wait decides them all), then each other is only checked. Returns the answer to give
        instead, for each record that is not durable (see ``wait_for_log``)."""
        ordered = sorted(set(seqs), reverse=True)
        failures: dict[int, Response] = {}
        with self.bounded() as scope:
            for seq in ordered:
                try:
                    await self._wait_durable(seq)
                except Exception as error:
                    log.warning("write %d not durable: %s", seq, error)
                    failures[seq] = _not_durable(error)
        if scope.cancelled_caught:
            return dict.fromkeys(ordered, _NOT_DURABLE_IN_TIME)
        return failures

    async def wait_for_answer(self, response: Response) -> Response:
        """The answer a deferred ``response`` resolves to (503 if it does not arrive within the bound)."""
        pending = response.deferred
        assert pending is not None
        if pending.response is None:
            arrived = trio.Event()
            pending.on_resolved(lambda _: arrived.set())
            with self.bounded():
                await arrived.wait()
        return pending.response or _NO_ANSWER_IN_TIME

    async def finish(self, conn: HttpConnection, pending: Pending | None, send: Send) -> None:
        """Answer what ``pending`` left (waiting for answers and the log where needed), sending as it goes."""
        while pending is not None:
            first = pending.response
            waited = first.deferred is not None
            if waited:
                first = await self.wait_for_answer(first)
            if first.durable_seq > 0:
                first = await self.wait_for_log(first.durable_seq) or first
            elif not waited:
                await cancel_shielded_checkpoint()  # let other connections run; nothing is lost
            out: list[bytes] = []
            pending = answer_ready(conn, pending.requests, self.call, out, first)
            if out:
                await send(out[0] if len(out) == 1 else b"".join(out))

    async def answer(self, conn: HttpConnection, requests: list[Request], send: Send) -> None:
        """Answer ``requests`` in order (then ``conn.error``, if any) with as few sends as possible."""
        out: list[bytes] = []
        pending = answer_ready(conn, requests, self.call, out)
        if out:
            await send(out[0] if len(out) == 1 else b"".join(out))
        await self.finish(conn, pending, send)
