"""The HTTP/1.1 server: a thin Trio shell around ``nacosfast.wire.http.HttpConnection``.

Built for throughput on Trio, where a trip through the scheduler (and the epoll re-arm Trio does on
every wait) costs more than parsing a request (/work/shared/perf-notes.md). ``serve_http`` therefore
serves every connection of a listener from one *hub* task instead of one task per connection:

- the listening socket and every idle connection sit in one level-triggered ``select.epoll`` set,
  registered once; the hub awaits ``trio.lowlevel.wait_readable`` on that set's descriptor and then
  serves every ready socket: ``accept`` all pending connections (and read their first request at
  once, as it usually arrived with them), ``recv`` everything a connection sent, answer all the
  pipelined requests in it and ``send`` the answers together. A keep-alive request costs one
  ``recv`` and one ``send``; the await, the task switch and the epoll call are shared by all the
  connections that were ready at the same time;
- what cannot finish at once leaves the hub: an answer that must wait for the log is *parked*, and
  one task (``durable_loop``) waits for the log once per batch of them and sends them; an answer
  the socket buffer cannot take, more pipelined requests than one turn allows, and a lingering
  close each get a task of their own, which hands the connection back to the hub when done;
- timeouts cost nothing per request: a timer task ticks every ``tick_ms``, refreshes the ``Date``
  header and closes connections whose deadline (head, request or idle) has passed;
- the hub yields after ``HUB_REQUESTS_PER_WAKEUP`` requests, so the rest of the process (push,
  flusher, reaper) keeps running under any load;
- memory is bounded across connections, not only per connection: a ``RequestBudget``
  (``nacosfast.wire.budget``) lets each connection hold ``REQUEST_ALLOWANCE_BYTES`` of request (every
  normal Nacos request) and makes larger ones reserve their whole size from a server-wide pool of
  ``MAX_BUFFERED_REQUEST_BYTES`` first. A request that cannot get a reservation waits unread: its
  socket leaves the epoll set (TCP backpressure slows its client) until earlier large requests finish,
  while small requests on other connections go on being served.

The application is a synchronous ``handler(request) -> Response``. A response with ``durable_seq > 0``
is sent only after ``await wait_durable(seq)`` returns (503 if it raises). A handler that raises
answers 500 and the server carries on.

``serve_stream`` runs the same protocol (the same ``HttpConnection``, limits and answer logic) over
any ``trio.abc.Stream``, one connection per call; tests drive it over memory streams.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import select
import socket
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Final

import trio
from trio.lowlevel import cancel_shielded_checkpoint, wait_readable, wait_writable

from nacosfast.errors import NacosError
from nacosfast.limits import (
    ACCEPT_BATCH,
    ACCEPT_ERROR_BACKOFF_MS,
    CONNECTION_LIMIT_LOG_PERIOD_MS,
    CONNECTION_SHED_BATCH,
    CONNECTION_SHED_MIN_QUIET_MS,
    HTTP_TICK_MS,
    HUB_EVENTS_PER_WAKEUP,
    HUB_REQUESTS_PER_WAKEUP,
    KEEPALIVE_IDLE_TIMEOUT_MS,
    LINGER_TIMEOUT_MS,
    LISTEN_BACKLOG,
    MAX_BODY_BYTES,
    MAX_BUFFERED_REQUEST_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_PIPELINED_REQUESTS,
    RECV_BUFFER_BYTES,
    REQUEST_ALLOWANCE_BYTES,
    REQUEST_HEAD_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    RESPONSE_TIMEOUT_MS,
    SHUTDOWN_GRACE_MS,
)
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.wire.budget import RequestBudget, Share
from nacosfast.wire.http import HttpConnection, encode_response, max_request_bytes, set_date
from nacosfast.wire.message import Request, Response

__all__ = ["Handler", "HttpLimits", "WaitDurable", "serve_http", "serve_stream"]

log = logging.getLogger("nacosfast.http")

Handler = Callable[[Request], Response]
"""The application: answers one request, synchronously."""
WaitDurable = Callable[[int], Awaitable[None]]
"""Returns once the log record with this sequence number is durable; raises if it never will be.

Records must become durable in sequence order (an append-only log with group commit): once
``wait_durable(n)`` returns, every record up to ``n`` is durable. ``serve_http`` relies on it to wait
once for a whole batch of answers."""

_INTERNAL_ERROR: Final = Response(status=500, body=b"caused: internal server error;")
_ACCEPT_RESOURCE_ERRORS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class HttpLimits:
    """The bounds one server applies; defaults from ``nacosfast.limits``."""

    __slots__ = (
        "head_timeout_ms",
        "idle_timeout_ms",
        "max_body_bytes",
        "max_buffered_bytes",
        "max_connections",
        "max_header_bytes",
        "request_allowance_bytes",
        "request_timeout_ms",
        "response_timeout_ms",
        "shed_min_quiet_ms",
        "shutdown_grace_ms",
        "tick_ms",
    )

    def __init__(
        self,
        *,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
        head_timeout_ms: int = REQUEST_HEAD_TIMEOUT_MS,
        request_timeout_ms: int = REQUEST_TIMEOUT_MS,
        idle_timeout_ms: int = KEEPALIVE_IDLE_TIMEOUT_MS,
        response_timeout_ms: int = RESPONSE_TIMEOUT_MS,
        shutdown_grace_ms: int = SHUTDOWN_GRACE_MS,
        max_connections: int = MAX_CONNECTIONS,
        tick_ms: int = HTTP_TICK_MS,
        max_buffered_bytes: int = MAX_BUFFERED_REQUEST_BYTES,
        request_allowance_bytes: int = REQUEST_ALLOWANCE_BYTES,
        shed_min_quiet_ms: int = CONNECTION_SHED_MIN_QUIET_MS,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.head_timeout_ms = head_timeout_ms
        self.request_timeout_ms = request_timeout_ms
        self.idle_timeout_ms = idle_timeout_ms
        self.response_timeout_ms = response_timeout_ms
        self.shutdown_grace_ms = shutdown_grace_ms
        self.max_connections = max_connections
        self.shed_min_quiet_ms = shed_min_quiet_ms
        """At ``max_connections``, connections quiet this long may be closed to make room."""
        self.tick_ms = tick_ms
        """How often timeouts are checked (``serve_http``): they fire up to this late."""
        self.max_buffered_bytes = max_buffered_bytes
        """The pool of a server's ``RequestBudget`` (``serve_http``)."""
        self.request_allowance_bytes = request_allowance_bytes
        """Request bytes a connection holds without a share of the pool (``serve_http``)."""
        if max_buffered_bytes < max_request_bytes(max_header_bytes, max_body_bytes):
            raise ValueError("max_buffered_bytes must hold at least one request of the largest size")
        if not 1 <= request_allowance_bytes <= RECV_BUFFER_BYTES:
            raise ValueError(f"request_allowance_bytes must be within 1..{RECV_BUFFER_BYTES}")

    def budget(self) -> RequestBudget:
        """A new memory budget for one server's connections with these limits."""
        return RequestBudget(self.max_buffered_bytes, self.request_allowance_bytes, RECV_BUFFER_BYTES)

    def connection(self, remote: tuple[str, int], now_ms: int) -> HttpConnection:
        """A new sans-I/O connection with these limits."""
        return HttpConnection(
            remote,
            now_ms=now_ms,
            max_header_bytes=self.max_header_bytes,
            max_body_bytes=self.max_body_bytes,
            head_timeout_ms=self.head_timeout_ms,
            request_timeout_ms=self.request_timeout_ms,
            idle_timeout_ms=self.idle_timeout_ms,
        )


def _http_date() -> str:
    return formatdate(wall_ms() / 1000, usegmt=True)


def _not_durable(error: Exception) -> Response:
    """The answer when the log could not make a write durable: 503 (clients try another server)."""
    if isinstance(error, NacosError) and error.status >= 500:
        return Response(status=error.status, body=error.body())
    return Response(status=503, body=NacosError(f"write not durable: {error}").body())


class _Abandon(Exception):
    """The answer could not be delivered in time (or the peer is gone): close the connection."""


class _Responder:
    """What both drivers share: calling the handler, durable waits, and bounded in-flight work.

    Work that must finish once a request is parsed (waiting for durability, sending a response that
    did not fit the socket buffer) runs in a shielded cancel scope with a deadline: cancelling the
    server does not cut an answer in half, and ``begin_shutdown`` shortens every such deadline to the
    shutdown grace.
    """

    __slots__ = ("_guards", "_shutdown_at", "handler", "limits", "wait_durable")

    def __init__(self, handler: Handler, wait_durable: WaitDurable, limits: HttpLimits) -> None:
        self.handler = handler
        self.wait_durable = wait_durable
        self.limits = limits
        self._guards: set[trio.CancelScope] = set()
        self._shutdown_at: float | None = None

    def call(self, request: Request) -> Response:
        """Run the handler; an error that escapes it becomes a response, never a dead connection."""
        try:
            return self.handler(request)
        except NacosError as error:
            return Response(status=error.status, body=error.body())
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            return _INTERNAL_ERROR

    def guard(self) -> trio.CancelScope:
        """A shielded scope bounded by the response timeout (or the shutdown grace, once shutting down)."""
        deadline = trio.current_time() + self.limits.response_timeout_ms / 1000
        if self._shutdown_at is not None:
            deadline = min(deadline, self._shutdown_at)
        return trio.CancelScope(deadline=deadline, shield=True)

    def begin_shutdown(self) -> None:
        """Give every in-flight answer at most the shutdown grace from now."""
        shutdown_at = trio.current_time() + self.limits.shutdown_grace_ms / 1000
        self._shutdown_at = shutdown_at
        for scope in self._guards:
            scope.deadline = min(scope.deadline, shutdown_at)

    async def durable(self, response: Response) -> Response:
        """Wait until ``response.durable_seq`` is durable; 503 if that fails or takes too long."""
        guard = self.guard()
        self._guards.add(guard)
        try:
            with guard:
                try:
                    await self.wait_durable(response.durable_seq)
                except Exception as error:
                    log.warning("write %d not durable: %s", response.durable_seq, error)
                    return _not_durable(error)
        finally:
            self._guards.discard(guard)
        if guard.cancelled_caught:
            return Response(status=503, body=b"caused: write not durable in time;", close=True)
        return response

    async def answer(
        self,
        conn: HttpConnection,
        requests: list[Request],
        send: Callable[[bytes], Awaitable[None]],
        first: Response | None = None,
    ) -> None:
        """Answer ``requests`` in order (then ``conn.error``, if any) with as few sends as possible.

        ``first``, if given, is the handler's answer to ``requests[0]``, already computed.
        """
        out: list[bytes] = []
        answered_all = False  # set by the loop's else: no request closed the connection
        for count, request in enumerate(requests, 1):
            if first is not None:
                response, first = first, None
            else:
                response = self.call(request)
            if response.durable_seq > 0:
                if out:
                    await send(b"".join(out))
                    out = []
                response = await self.durable(response)
            out.append(conn.respond(request, response))
            if conn.closing:
                break
            if count % MAX_PIPELINED_REQUESTS == 0:
                await send(b"".join(out))
                out = []
                await cancel_shielded_checkpoint()  # let other connections run; nothing is lost
        else:
            answered_all = True
        out += conn.end_of_batch(answered_all)
        if out:
            await send(out[0] if len(out) == 1 else b"".join(out))


# --- sockets ------------------------------------------------------------------------------------------


class _Client(Share):
    """One accepted socket, its protocol state and its part of the memory budget."""

    __slots__ = ("busy", "conn", "fd", "no_delay", "open", "registered", "sock")

    def __init__(self, sock: socket.socket, conn: HttpConnection) -> None:
        self.charge = 0
        self.waiting = False
        self.sock = sock
        self.fd = sock.fileno()
        self.conn = conn
        self.open = True
        self.busy = False
        """A task owns the connection (durable wait, slow send, linger); the hub leaves it alone."""
        self.registered = False
        """The socket is in the hub's epoll set (never while ``busy`` or ``waiting``)."""
        self.no_delay = False


def _no_delay(client: _Client) -> None:
    """Turn Nagle off once a connection outlives its first answer or sends in pieces.

    A connection answered and closed at once (``Connection: close``) never needs it: its answer
    leaves in one ``send`` with nothing unacknowledged before it. Skipping it saves a system call
    per such connection.
    """
    if not client.no_delay:
        client.no_delay = True
        with contextlib.suppress(OSError):
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Parked:
    """A connection whose next answer waits for the log: what to send once it is durable."""

    __slots__ = ("client", "out", "requests", "response")

    def __init__(
        self, client: _Client, out: list[bytes], requests: list[Request], response: Response
    ) -> None:
        self.client = client
        self.out = out
        self.requests = requests
        self.response = response


class _Hub:
    """Every connection of one listener, served from one task through one epoll set.

    The hub waits for its epoll descriptor (one ``wait_readable`` for all connections), takes every
    ready socket from it, and for each: ``recv`` whatever is there, parse it, call the handler for
    every complete request and ``send`` all the answers at once — no await, no task switch, no epoll
    re-arm per request (level-triggered registrations persist). Whatever cannot finish at once — an
    answer that must wait for the log to be durable, a send the socket buffer cannot take, more
    pipelined requests than one turn allows, a lingering close — is handed to a task of its own,
    which gives the connection back to the hub when done. Answers that wait for the log are parked
    and released a batch at a time by one task (``durable_loop``).

    Memory: a connection is read with at most ``buffers.read_size`` bytes and its ``buffers`` share is
    settled after every read (and when a task gives it back); one that must wait for a reservation
    leaves the epoll set until ``_resume``. ``_close`` releases the share, whatever closed it.
    """

    def __init__(
        self, responder: _Responder, listener: socket.socket, nursery: trio.Nursery, buffers: RequestBudget
    ) -> None:
        self.responder = responder
        self.limits = responder.limits
        self.listener = listener
        self.nursery = nursery
        self.buffers = buffers
        self._allowance = buffers.allowance
        self.epoll = select.epoll()
        self.clients: dict[int, _Client] = {}
        self.now_ms = monotonic_ms()
        self.closing = False
        self._requests_left = 0
        self._parked: list[_Parked] = []
        self._parked_event = trio.Event()
        self._shed_pause_until_ms = 0
        self._limit_logged_ms = -CONNECTION_LIMIT_LOG_PERIOD_MS
        self.shed_count = 0
        """Connections closed to make room at the connection limit."""

    # --- the hub task -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; then close idle connections (busy ones finish within the grace)."""
        epoll = self.epoll
        poll = epoll.poll
        epoll_fd = epoll.fileno()
        listener_fd = self.listener.fileno()
        clients = self.clients
        readable = self._readable
        epoll.register(listener_fd, select.EPOLLIN)
        try:
            while True:
                await wait_readable(epoll_fd)
                self._requests_left = HUB_REQUESTS_PER_WAKEUP
                for fd, _ in poll(0, HUB_EVENTS_PER_WAKEUP):
                    if fd == listener_fd:
                        self._accept()
                        continue
                    client = clients.get(fd)
                    if client is None:
                        continue  # closed earlier in this turn
                    if client.busy:  # a task owns it: stop watching until it is handed back
                        epoll.unregister(fd)
                        client.registered = False
                        continue
                    try:
                        readable(client)
                    except Exception:  # a bug must cost one connection, not the server
                        log.exception("connection from %s failed", client.conn.remote)
                        self._close(client)
                    if self._requests_left <= 0:
                        break  # the sockets not served yet stay ready for the next turn
        finally:
            self.closing = True
            self.responder.begin_shutdown()
            for client in list(clients.values()):
                if not client.busy:
                    self._close(client)
            epoll.close()

    async def tick(self) -> None:
        """Every ``tick_ms``: refresh the clock and ``Date``; close idle connections past deadline."""
        while True:
            self.now_ms = now_ms = monotonic_ms()
            set_date(_http_date())
            expired = [
                client
                for client in self.clients.values()
                if not client.busy and client.conn.deadline_ms <= now_ms
            ]
            for client in expired:
                if not client.open or client.busy:  # closed, or given to a task, earlier in this loop
                    continue
                response = client.conn.timeout_response()
                if response is not None:  # a partial request: tell the client why (best effort)
                    with contextlib.suppress(OSError):
                        client.sock.send(encode_response(response, keep_alive=False))
                    if _has_input(client.sock):  # a close would reset the answer: drain briefly first
                        if client.charge or client.waiting:
                            self.buffers.release(client)
                        client.busy = True
                        self.nursery.start_soon(self._linger_close, client)
                        continue
                self._close(client)
            await trio.sleep(self.limits.tick_ms / 1000)

    async def _linger_close(self, client: _Client) -> None:
        try:
            with contextlib.suppress(OSError):
                await self._linger(client)
        finally:
            self._close(client)

    # --- synchronous fast path ----------------------------------------------------------------------

    def _accept(self) -> None:
        accept = self.listener.accept
        limits = self.limits
        clients = self.clients
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = accept()
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno in _ACCEPT_RESOURCE_ERRORS:
                    log.warning("accept failed: %s; pausing", error)
                    self.epoll.unregister(self.listener.fileno())
                    self.nursery.start_soon(self._resume_accepting)
                    return
                continue  # ECONNABORTED and the like: that client is gone
            if len(clients) >= limits.max_connections and not self._shed():
                sock.close()
                continue
            sock.setblocking(False)
            client = _Client(sock, limits.connection((address[0], address[1]), self.now_ms))
            clients[client.fd] = client
            try:
                self._readable(client)  # the request often arrives with the connection: no epoll trip
            except Exception:  # a bug must cost one connection, not the server
                log.exception("connection from %s failed", client.conn.remote)
                self._close(client)
            self._watch(client)

    def _shed(self) -> bool:
        """Make room at the connection limit: close the oldest quiet connections; False if none is.

        Quiet: no task owns it and it holds no started request beyond part of a head, for at least
        ``limits.shed_min_quiet_ms``. After a scan that finds none, no scan is made for that long
        (a flood of new connections then costs one scan per period, not one per connection).
        """
        now_ms = self.now_ms
        if now_ms < self._shed_pause_until_ms:
            return False
        min_quiet_ms = self.limits.shed_min_quiet_ms
        quiet_before = now_ms - min_quiet_ms
        candidates = [
            (since, client.fd)
            for client in self.clients.values()
            if not client.busy and 0 <= (since := client.conn.quiet_since_ms) <= quiet_before
        ]
        if not candidates:
            self._shed_pause_until_ms = now_ms + min_quiet_ms
            self._limit_warning("refusing new connections, none is quiet")
            return False
        shed = heapq.nsmallest(CONNECTION_SHED_BATCH, candidates)
        self.shed_count += len(shed)
        for _, fd in shed:
            self._close(self.clients[fd])
        self._limit_warning(f"closed the {len(shed)} quiet longest")
        return True

    def _limit_warning(self, action: str) -> None:
        if self.now_ms >= self._limit_logged_ms + CONNECTION_LIMIT_LOG_PERIOD_MS:
            self._limit_logged_ms = self.now_ms
            log.warning(
                "%d connections open (the limit): %s (%d shed so far)",
                self.limits.max_connections,
                action,
                self.shed_count,
            )

    async def _resume_accepting(self) -> None:
        await trio.sleep(ACCEPT_ERROR_BACKOFF_MS / 1000)
        if not self.closing:
            self.epoll.register(self.listener.fileno(), select.EPOLLIN)

    def _watch(self, client: _Client) -> None:
        if (
            client.open
            and not client.busy
            and not client.registered
            and not client.waiting
            and not self.closing
        ):
            self.epoll.register(client.fd, select.EPOLLIN)
            client.registered = True
            _no_delay(client)

    def _readable(self, client: _Client) -> None:
        conn = client.conn
        try:
            if client.charge:
                data = client.sock.recv(self.buffers.read_size(client, conn))
            else:  # what it reads stays within its allowance
                data = client.sock.recv(self._allowance - conn.buffered)
        except BlockingIOError:
            return
        except OSError:
            self._close(client)
            return
        if not data:
            self._close(client)
            return
        requests = conn.feed(data, self.now_ms)
        if requests or conn.error is not None:
            self._answer(client, requests)
            if (conn.buffered or client.charge) and client.open and not client.busy:
                self._settle(client)
        elif (conn.buffered or client.charge) and self._settle(client):  # a waiting one gets no 100 yet
            interim = conn.take_interim()
            if interim:
                self._send(client, interim)

    # --- the memory budget --------------------------------------------------------------------------

    def _settle(self, client: _Client) -> bool:
        """Fit the client's reservation to its partial request; False: it waits, out of the epoll set."""
        if self.buffers.settle(client, client.conn, self._resume):
            return True
        if client.registered:
            self.epoll.unregister(client.fd)
            client.registered = False
        return False

    def _resume(self, share: Share) -> None:
        """A waiting client got its reservation: watch it again (and invite a body it holds back)."""
        assert isinstance(share, _Client)
        client = share
        if not client.open or client.busy:
            return
        if self.closing:
            self._close(client)
            return
        self._watch(client)
        interim = client.conn.take_interim()
        if interim:
            self._send(client, interim)

    def _give_back(self, client: _Client) -> None:
        """A task is done with the client: settle its share and watch it again (or close it)."""
        client.busy = False
        if self.closing:
            self._close(client)
        elif not (client.conn.buffered or client.charge) or self._settle(client):
            self._watch(client)

    def _answer(
        self,
        client: _Client,
        requests: list[Request],
        ready: Response | None = None,
        out: list[bytes] | None = None,
    ) -> None:
        """Answer ``requests`` and send; park at an answer that must wait for the log.

        ``ready`` is the final answer to ``requests[0]`` (durable already); ``out`` holds answers
        to earlier requests that are not sent yet.
        """
        conn = client.conn
        call = self.responder.call
        self._requests_left -= len(requests)
        if out is None:
            out = []
        answered_all = False  # set by the loop's else: no request closed the connection
        for index, request in enumerate(requests):
            if ready is not None:
                response, ready = ready, None
            else:
                response = call(request)
                if response.durable_seq > 0:
                    if out:  # what is answered already goes now, not after the log
                        if not self._send_or_hand_off(client, b"".join(out), requests[index:], response):
                            return
                        out = []
                    self._park(_Parked(client, out, requests[index:], response))
                    return
                if index >= MAX_PIPELINED_REQUESTS:  # the rest in a task that yields now and then
                    self._hand_off(client, b"".join(out), requests[index:], response)
                    return
            out.append(conn.respond(request, response))
            if conn.closing:
                break
        else:
            answered_all = True
        out += conn.end_of_batch(answered_all)
        self._send(client, out[0] if len(out) == 1 else b"".join(out))

    # --- durable answers ----------------------------------------------------------------------------

    def _park(self, parked: _Parked) -> None:
        parked.client.busy = True
        self._parked.append(parked)
        if not self._parked_event.is_set():
            self._parked_event.set()

    async def durable_loop(self) -> None:
        """Wait for the log once per batch of parked answers, then send them all.

        Records become durable in sequence order (group commit), so waiting for the largest
        sequence number of a batch covers the whole batch.
        """
        responder = self.responder
        try:
            while True:
                if not self._parked:
                    self._parked_event = trio.Event()
                    await self._parked_event.wait()
                    continue
                batch, self._parked = self._parked, []
                top = max(parked.response.durable_seq for parked in batch)
                failure: Response | None = None
                guard = responder.guard()
                responder._guards.add(guard)
                try:
                    with guard:
                        try:
                            await responder.wait_durable(top)
                        except Exception as error:
                            log.warning("writes up to %d not durable: %s", top, error)
                            failure = _not_durable(error)
                finally:
                    responder._guards.discard(guard)
                if guard.cancelled_caught:
                    failure = Response(status=503, body=b"caused: write not durable in time;", close=True)
                for parked in batch:
                    client = parked.client
                    client.busy = False
                    if client.open:
                        try:
                            self._answer(client, parked.requests, failure or parked.response, parked.out)
                        except Exception:  # a bug must cost one connection, not the server
                            log.exception("connection from %s failed", client.conn.remote)
                            self._close(client)
                        if client.open and not client.busy:
                            self._give_back(client)  # also if the hub stopped watching it meanwhile
        finally:
            for parked in self._parked:
                self._close(parked.client)
            self._parked.clear()

    def _send_or_hand_off(
        self, client: _Client, data: bytes, requests: list[Request], ready: Response | None
    ) -> bool:
        """Send ``data`` now; ``True`` if the socket took it all. Otherwise the rest, with the
        ``requests`` still to answer (``ready`` being the first one's answer), goes to a task, or a
        broken socket is closed, and ``False`` says the connection is no longer this loop's."""
        try:
            sent = client.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(client)
            return False
        if sent < len(data):
            self._hand_off(client, memoryview(data)[sent:], requests, ready)
            return False
        return True

    def _send(self, client: _Client, data: bytes) -> None:
        if not self._send_or_hand_off(client, data, [], None):
            return
        conn = client.conn
        if conn.closing:
            if conn.discarded_input:
                self._hand_off(client, b"", [], None)  # the task lingers, then closes
            else:
                self._close(client)
            return
        conn.mark_idle(self.now_ms)

    def _close(self, client: _Client) -> None:
        if client.open:
            client.open = False
            if client.charge or client.waiting:
                self.buffers.release(client)
            if self.clients.get(client.fd) is client:
                del self.clients[client.fd]
            client.sock.close()  # also takes it out of the epoll set

    # --- tasks for what cannot finish at once -------------------------------------------------------

    def _hand_off(
        self, client: _Client, pending: bytes | memoryview, requests: list[Request], first: Response | None
    ) -> None:
        _no_delay(client)
        client.busy = True
        self.nursery.start_soon(self._finish, client, pending, requests, first)

    async def _finish(
        self, client: _Client, pending: bytes | memoryview, requests: list[Request], first: Response | None
    ) -> None:
        """Send ``pending``, answer ``requests`` (``first`` answers ``requests[0]``), then give back."""
        conn = client.conn
        send = self._sender(client)
        try:
            if pending:
                await send(pending)
            if requests:
                await self.responder.answer(conn, requests, send, first)
            if conn.closing:
                if conn.discarded_input:
                    await self._linger(client)
                self._close(client)
                return
        except (_Abandon, OSError):
            self._close(client)
            return
        except Exception:  # a bug must cost one connection, not the server
            log.exception("connection from %s failed", conn.remote)
            self._close(client)
            return
        except BaseException:
            self._close(client)
            raise
        conn.mark_idle(self.now_ms)
        self._give_back(client)

    def _sender(self, client: _Client) -> Callable[[bytes | memoryview], Awaitable[None]]:
        sock = client.sock
        responder = self.responder

        async def send(data: bytes | memoryview) -> None:
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            rest = memoryview(data)[sent:]
            guard = responder.guard()
            responder._guards.add(guard)
            try:
                with guard:
                    while rest:
                        await wait_writable(client.fd)
                        try:
                            sent = sock.send(rest)
                        except BlockingIOError:
                            continue
                        rest = rest[sent:]
            finally:
                responder._guards.discard(guard)
            if rest:
                raise _Abandon

        return send

    @staticmethod
    async def _linger(client: _Client) -> None:
        """Half-close, then read and drop input until the peer closes (bounded by LINGER_TIMEOUT_MS)."""
        sock = client.sock
        with trio.move_on_after(LINGER_TIMEOUT_MS / 1000):
            sock.shutdown(socket.SHUT_WR)
            while True:
                await wait_readable(client.fd)
                try:
                    if not sock.recv(RECV_BUFFER_BYTES):
                        return
                except BlockingIOError:
                    continue


def _has_input(sock: socket.socket) -> bool:
    """Whether unread input waits in the socket (a waiting request's body, say)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except OSError:  # BlockingIOError: nothing there
        return False


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


async def serve_http(
    handler: Handler,
    wait_durable: WaitDurable,
    host: str,
    port: int,
    *,
    limits: HttpLimits | None = None,
    budget: RequestBudget | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP/1.1 on ``host:port`` until cancelled; reports the bound port through ``task_status``.

    Cancelling it closes the listener and idle connections at once; answers to requests already
    parsed get up to ``limits.shutdown_grace_ms`` to go out. ``budget`` bounds the request bytes
    held across connections (default: ``limits.budget()``; pass one to share it or to watch it).
    """
    limits = limits or HttpLimits()
    budget = budget or limits.budget()
    budget.check(limits.connection(("", 0), 0))
    listener = _listen(host, port)
    set_date(_http_date())
    try:
        async with trio.open_nursery() as nursery:
            hub = _Hub(_Responder(handler, wait_durable, limits), listener, nursery, budget)
            nursery.start_soon(hub.tick)
            nursery.start_soon(hub.durable_loop)
            bound = listener.getsockname()[1]
            task_status.started(bound)
            log.info("HTTP listening on %s:%d", host, bound)
            try:
                await hub.run()
            finally:
                nursery.cancel_scope.cancel()  # the timer; tasks finishing answers are shielded
    finally:
        listener.close()


# --- streams ------------------------------------------------------------------------------------------


async def serve_stream(
    stream: trio.abc.Stream,
    handler: Handler,
    wait_durable: WaitDurable,
    *,
    remote: tuple[str, int] = ("127.0.0.1", 0),
    limits: HttpLimits | None = None,
) -> None:
    """Serve one HTTP/1.1 connection over ``stream`` until the peer or a timeout closes it.

    Same protocol, limits and timeouts as ``serve_http`` (timeouts use the Trio clock, so tests run
    them with ``autojump_clock``), without a server-wide memory budget: one connection holds at most
    one request. The stream is closed on return.
    """
    limits = limits or HttpLimits()
    responder = _Responder(handler, wait_durable, limits)
    conn = limits.connection(remote, monotonic_ms())

    async def send(data: bytes) -> None:
        guard = responder.guard()
        with guard:
            await stream.send_all(data)
        if guard.cancelled_caught:
            raise _Abandon

    try:
        while True:
            data: bytes | bytearray | None = None
            with trio.move_on_at(conn.deadline_ms / 1000):
                data = await stream.receive_some(RECV_BUFFER_BYTES)
            if data is None:  # the head, request or idle deadline passed
                timeout = conn.timeout_response()
                if timeout is not None:
                    await send(encode_response(timeout, keep_alive=False))
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
    except (_Abandon, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 1):
            await stream.aclose()
