"""``serve_stream``: the HTTP/1.1 protocol over any ``trio.abc.Stream``, one connection per call.

The same ``HttpConnection``, limits and answering loop as the socket server (``serve_http``), driven
the plain way: one task, ``receive_some`` with the connection's deadline, answer, repeat. Tests drive
it over memory streams with a virtual clock; it has no memory budget across connections.
"""

from __future__ import annotations

import trio

from nacosfast.limits import RECV_BUFFER_BYTES
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.http.responder import Abandon, Handler, Responder, WaitDurable
from nacosfast.wire.http import HttpConnection, HttpDate
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits

__all__ = ["serve_stream"]


async def serve_stream(
    stream: trio.abc.Stream,
    handler: Handler,
    wait_durable: WaitDurable,
    *,
    remote: tuple[str, int] = ("127.0.0.1", 0),
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
) -> None:
    """Serve one HTTP/1.1 connection over ``stream`` until the peer or a timeout closes it.

    Same protocol, limits and timeouts as ``serve_http`` (timeouts use the Trio clock, so tests run
    them with ``autojump_clock``), without a server-wide memory budget: one connection holds at most
    one request. ``remote`` is the peer address the handler sees. The stream is closed on return.
    """
    responder = Responder(handler, wait_durable, limits)
    date = HttpDate()
    conn = HttpConnection(remote, limits, now_ms=monotonic_ms(), date=date)

    async def send(data: bytes) -> None:
        with responder.bounded() as scope:
            await stream.send_all(data)
        if scope.cancelled_caught:
            raise Abandon

    try:
        while True:
            data: bytes | bytearray | None = None
            with trio.move_on_at(conn.deadline_ms / 1000):
                data = await stream.receive_some(RECV_BUFFER_BYTES)
            date.refresh(wall_ms())
            if data is None:  # the head, request or idle deadline passed
                timeout = conn.respond_timeout()
                if timeout:
                    await send(timeout)
                return
            if not data:
                return
            requests = conn.feed(data, monotonic_ms())
            if requests or conn.error is not None:
                await responder.answer(conn, requests, send)
                if conn.closing:
                    return
                conn.mark_idle(monotonic_ms())
            else:
                interim = conn.take_interim()
                if interim:
                    await send(interim)
    except (Abandon, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 1):
            await stream.aclose()
