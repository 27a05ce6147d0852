"""The epoll hub: every connection of one listener, served from one task through one epoll set.

Built for throughput on Trio, where a trip through the scheduler (and the epoll re-arm Trio does on
every wait) costs more than parsing a request (``docs/architecture.md``, *Why one hub per listener*):

- the listening socket and every idle connection sit in one level-triggered ``select.epoll`` set,
  registered once; the hub awaits ``trio.lowlevel.wait_readable`` on that set's descriptor and then
  serves every ready socket: ``accept`` all pending connections (and read their first request at
  once, as it usually arrived with them), ``recv`` everything a connection sent, answer all the
  pipelined requests in it and ``send`` the answers together. A keep-alive request costs one
  ``recv`` and one ``send``; the await, the task switch and the epoll call are shared by all the
  connections that were ready at the same time;
- what cannot finish at once leaves the hub: an answer that must wait for the log is *parked*, and
  one task (``durable_loop``) waits for the log once per batch of them and answers them; an answer
  the socket buffer cannot take, more pipelined requests than one turn allows, and a lingering
  close each get a task of their own, which hands the connection back to the hub when done;
- timeouts cost nothing per request: a timer task ticks every ``tick_ms``, refreshes the hub's
  ``HttpDate`` and closes connections whose deadline (head, request or idle) has passed;
- the hub yields after ``HUB_REQUESTS_PER_WAKEUP`` requests, so the rest of the process (push,
  flusher, reaper) keeps running under any load;
- memory is bounded across connections, not only per connection: a ``RequestBudget``
  (``nacosfast.wire.budget``) lets each connection hold ``REQUEST_ALLOWANCE_BYTES`` of request (every
  normal Nacos request) and makes larger ones reserve their whole size from a server-wide pool of
  ``MAX_BUFFERED_REQUEST_BYTES`` first. A request that cannot get a reservation waits unread: its
  socket leaves the epoll set (TCP backpressure slows its client) until earlier large requests finish,
  while small requests on other connections go on being served.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import select
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final

import trio
from trio.lowlevel import wait_readable, wait_writable

from nacosfast._core.fastpath import FastPath
from nacosfast.limits import (
    ACCEPT_BATCH,
    ACCEPT_ERROR_BACKOFF_MS,
    CONNECTION_LIMIT_LOG_PERIOD_MS,
    CONNECTION_SHED_BATCH,
    HUB_EVENTS_PER_WAKEUP,
    HUB_POLLS_PER_WAKEUP,
    HUB_REQUESTS_PER_WAKEUP,
    LINGER_TIMEOUT_MS,
    MAX_PIPELINED_REQUESTS,
    RECV_BUFFER_BYTES,
)
from nacosfast.metrics import MetricFamily, counter, gauge
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.http.responder import Abandon, Pending, Responder, answer_ready
from nacosfast.wire.budget import RequestBudget, Share
from nacosfast.wire.http import HttpConnection, HttpDate
from nacosfast.wire.message import Request, Response

__all__ = ["Hub"]

log = logging.getLogger("nacosfast.http")

_ACCEPT_RESOURCE_ERRORS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Client(Share):
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


def _no_delay(client: Client) -> None:
    """Turn Nagle off once a connection outlives its first answer or sends in pieces.

    A connection answered and closed at once (``Connection: close``) never needs it: its answer
    leaves in one ``send`` with nothing unacknowledged before it. Skipping it saves a system call
    per such connection.
    """
    if not client.no_delay:
        client.no_delay = True
        with contextlib.suppress(OSError):
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Parked:
    """A connection whose next answer waits for the log: the answers before it not sent yet
    (``out``) and where answering stopped (``pending``)."""

    __slots__ = ("client", "out", "pending")

    def __init__(self, client: Client, out: list[bytes], pending: Pending) -> None:
        self.client = client
        self.out = out
        self.pending = pending


class Hub:
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
        self,
        responder: Responder,
        listener: socket.socket,
        nursery: trio.Nursery,
        buffers: RequestBudget,
        fast: FastPath | None = None,
    ) -> None:
        self.responder = responder
        self.fast = fast
        """The compiled request path, tried first on every read that starts a request (or None)."""
        self.limits = responder.limits
        self.date = HttpDate()
        """The ``Date`` line of this listener's responses, refreshed by ``tick``."""
        self.date.refresh(wall_ms())
        self.listener = listener
        self.nursery = nursery
        self.buffers = buffers
        self._allowance = buffers.allowance
        self.epoll = select.epoll()
        self.clients: dict[int, Client] = {}
        self.now_ms = monotonic_ms()
        """Monotonic ms, read once per poll of the epoll set (and by ``tick``)."""
        self.wall_ms = wall_ms()
        """Wall ms, read with ``now_ms``: the ``lastRefTime`` of answers made in that poll."""
        self.closing = False
        self._requests_left = 0
        self._parked: list[Parked] = []
        self._parked_event = trio.Event()
        self._shed_pause_until_ms = 0
        self._limit_logged_ms = -CONNECTION_LIMIT_LOG_PERIOD_MS
        self.shed_count = 0
        """Connections closed to make room at the connection limit."""
        self.accepted_count = 0
        """Connections accepted (including those refused at the limit right after)."""
        self.refused_count = 0
        """Connections closed at once: at the limit with none quiet enough to shed."""

    def families(self) -> list[MetricFamily]:
        """This listener's connection figures for the metrics registry."""
        return [
            gauge("nacosfast_http_connections", "Open HTTP connections.", len(self.clients)),
            counter("nacosfast_http_connections_accepted", "HTTP connections accepted.", self.accepted_count),
            counter(
                "nacosfast_http_connections_shed",
                "Quiet connections closed to make room at the connection limit.",
                self.shed_count,
            ),
            counter(
                "nacosfast_http_connections_refused",
                "Connections closed at once at the limit (none was quiet enough to shed).",
                self.refused_count,
            ),
            gauge(
                "nacosfast_http_buffered_request_bytes",
                "Request bytes held past the per-connection allowance.",
                self.buffers.used,
            ),
        ]

    # --- the hub task -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; then close idle connections (busy ones finish within the grace)."""
        epoll = self.epoll
        poll = epoll.poll
        epoll_fd = epoll.fileno()
        listener_fd = self.listener.fileno()
        clients = self.clients
        epoll.register(listener_fd, select.EPOLLIN)
        try:
            while True:
                await wait_readable(epoll_fd)
                self._requests_left = HUB_REQUESTS_PER_WAKEUP
                for _ in range(HUB_POLLS_PER_WAKEUP):
                    events = poll(0, HUB_EVENTS_PER_WAKEUP)
                    if not events or not self._serve(events, listener_fd):
                        break
        finally:
            self.closing = True
            self.responder.begin_shutdown()
            for client in list(clients.values()):
                if not client.busy:
                    self._close(client)
            epoll.close()

    def _serve(self, events: list[tuple[int, int]], listener_fd: int) -> bool:
        """Serve one poll's ready sockets; False once this wake-up's request budget is spent (the
        sockets not served yet stay ready for the next one)."""
        self.now_ms = monotonic_ms()  # one reading of each clock per poll, not per request
        self.wall_ms = wall_ms()
        clients = self.clients
        for fd, _ in events:
            if fd == listener_fd:
                self._accept()
                continue
            client = clients.get(fd)
            if client is None:
                continue  # closed earlier in this turn
            if client.busy:  # a task owns it: stop watching until it is handed back
                self.epoll.unregister(fd)
                client.registered = False
                continue
            try:
                self._readable(client)
            except Exception:  # a bug must cost one connection, not the server
                log.exception("connection from %s failed", client.conn.remote)
                self._close(client)
            if self._requests_left <= 0:
                return False
        return True

    async def tick(self) -> None:
        """Every ``tick_ms``: refresh the clock and ``Date``; close idle connections past deadline."""
        while True:
            self.now_ms = now_ms = monotonic_ms()
            self.date.refresh(wall_ms())
            expired = [
                client
                for client in self.clients.values()
                if not client.busy and client.conn.deadline_ms <= now_ms
            ]
            for client in expired:
                if not client.open or client.busy:  # closed, or given to a task, earlier in this loop
                    continue
                timeout = client.conn.respond_timeout()
                if timeout:  # a partial request: tell the client why (best effort)
                    with contextlib.suppress(OSError):
                        client.sock.send(timeout)
                    if _has_input(client.sock):  # a close would reset the answer: drain briefly first
                        if client.charge or client.waiting:
                            self.buffers.release(client)
                        client.busy = True
                        self.nursery.start_soon(self._linger_close, client)
                        continue
                self._close(client)
            await trio.sleep(self.limits.tick_ms / 1000)

    async def _linger_close(self, client: Client) -> None:
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
            self.accepted_count += 1
            if len(clients) >= limits.max_connections and not self._shed():
                self.refused_count += 1
                sock.close()
                continue
            sock.setblocking(False)
            conn = HttpConnection((address[0], address[1]), limits, now_ms=self.now_ms, date=self.date)
            client = Client(sock, conn)
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

    def _watch(self, client: Client) -> None:
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

    def _readable(self, client: Client) -> None:
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
        answered: list[bytes] | None = None
        fast = self.fast
        if fast is not None and conn.between_requests:
            out, consumed, count, closing = fast.serve(
                data, self.now_ms, self.wall_ms, self.date.line, MAX_PIPELINED_REQUESTS, conn.remote[0]
            )
            if count:
                self._requests_left -= count
                if closing:
                    conn.closing = True
                if consumed == len(data):
                    self._send(client, out)
                    return
                answered = [out]
                data = data[consumed:]
        requests = conn.feed(data, self.now_ms)
        if requests or conn.error is not None:
            self._answer(client, requests, out=answered)
            if (conn.buffered or client.charge) and client.open and not client.busy:
                self._settle(client)
        else:
            if answered:  # the compiled path answered the requests before this partial one
                self._send(client, answered[0])
                if not client.open or client.busy:
                    return
            if (conn.buffered or client.charge) and self._settle(client):  # a waiting one gets no 100 yet
                interim = conn.take_interim()
                if interim:
                    self._send(client, interim)

    # --- the memory budget --------------------------------------------------------------------------

    def _settle(self, client: Client) -> bool:
        """Fit the client's reservation to its partial request; False: it waits, out of the epoll set."""
        if self.buffers.settle(client, client.conn, self._resume):
            return True
        if client.registered:
            self.epoll.unregister(client.fd)
            client.registered = False
        return False

    def _resume(self, share: Share) -> None:
        """A waiting client got its reservation: watch it again (and invite a body it holds back)."""
        assert isinstance(share, Client)
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

    def _give_back(self, client: Client) -> None:
        """A task is done with the client: settle its share and watch it again (or close it)."""
        client.busy = False
        if self.closing:
            self._close(client)
        elif not (client.conn.buffered or client.charge) or self._settle(client):
            self._watch(client)

    def _answer(
        self,
        client: Client,
        requests: list[Request],
        first: Response | None = None,
        out: list[bytes] | None = None,
    ) -> None:
        """Answer ``requests`` and send; park at an answer that must wait for the log.

        ``first`` is the final answer to ``requests[0]`` (durable already); ``out`` holds answers
        to earlier requests that are not sent yet.
        """
        self._requests_left -= len(requests)
        if out is None:
            out = []
        pending = answer_ready(client.conn, requests, self.responder.call, out, first)
        if pending is None:
            self._send(client, out[0] if len(out) == 1 else b"".join(out))
        elif pending.response.deferred is not None:  # a forwarded write: answered when it resolves
            if out:
                if not self._send_or_hand_off(client, b"".join(out), pending):
                    return
                out = []
            client.busy = True
            pending.response.deferred.on_resolved(partial(self._deferred_done, client, pending.requests, out))
        elif pending.response.durable_seq > 0:
            if out:  # what is answered already goes now, not after the log
                if not self._send_or_hand_off(client, b"".join(out), pending):
                    return
                out = []
            self._park(Parked(client, out, pending))
        else:  # the rest in a task that yields now and then
            self._hand_off(client, b"".join(out), pending)

    def _deferred_done(
        self, client: Client, requests: list[Request], out: list[bytes], response: Response
    ) -> None:
        """A deferred answer arrived: answer it (and the requests after it), then watch the client."""
        client.busy = False
        if not client.open:
            return
        try:
            if response.durable_seq > 0:  # handled here after all, and durable: wait for the log
                self._park(Parked(client, out, Pending(requests, response)))
                return
            self._answer(client, requests, response, out)
        except Exception:  # a bug must cost one connection, not the server
            log.exception("connection from %s failed", client.conn.remote)
            self._close(client)
        if client.open and not client.busy:
            self._give_back(client)

    # --- durable answers ----------------------------------------------------------------------------

    def _park(self, parked: Parked) -> None:
        parked.client.busy = True
        self._parked.append(parked)
        if not self._parked_event.is_set():
            self._parked_event.set()

    async def durable_loop(self) -> None:
        """Wait for the log once per batch of parked answers, then send them all.

        Records become durable in sequence order (group commit), so waiting for the largest
        sequence number of a batch decides the whole batch; each other number is then only checked
        (a write the disk refused fails its own answer, not the others).
        """
        responder = self.responder
        try:
            while True:
                if not self._parked:
                    self._parked_event = trio.Event()
                    await self._parked_event.wait()
                    continue
                batch, self._parked = self._parked, []
                failures = await responder.wait_for_logs(
                    parked.pending.response.durable_seq for parked in batch
                )
                for parked in batch:
                    client = parked.client
                    client.busy = False
                    if client.open:
                        try:
                            pending = parked.pending
                            answer = failures.get(pending.response.durable_seq, pending.response)
                            self._answer(client, pending.requests, answer, parked.out)
                        except Exception:  # a bug must cost one connection, not the server
                            log.exception("connection from %s failed", client.conn.remote)
                            self._close(client)
                        if client.open and not client.busy:
                            self._give_back(client)  # also if the hub stopped watching it meanwhile
        finally:
            for parked in self._parked:
                self._close(parked.client)
            self._parked.clear()

    def _send_or_hand_off(self, client: Client, data: bytes, pending: Pending | None) -> bool:
        """Send ``data`` now; ``True`` if the socket took it all. Otherwise the rest, with what is
        ``pending``, goes to a task, or a broken socket is closed, and ``False`` says the connection
        is no longer this loop's."""
        try:
            sent = client.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(client)
            return False
        if sent < len(data):
            self._hand_off(client, memoryview(data)[sent:], pending)
            return False
        return True

    def _send(self, client: Client, data: bytes) -> None:
        if not self._send_or_hand_off(client, data, None):
            return
        conn = client.conn
        if conn.closing:
            if conn.discarded_input:
                self._hand_off(client, b"", None)  # the task lingers, then closes
            else:
                self._close(client)
            return
        conn.mark_idle(self.now_ms)

    def _close(self, client: Client) -> None:
        if client.open:
            client.open = False
            if client.charge or client.waiting:
                self.buffers.release(client)
            if self.clients.get(client.fd) is client:
                del self.clients[client.fd]
            client.sock.close()  # also takes it out of the epoll set

    # --- tasks for what cannot finish at once -------------------------------------------------------

    def _hand_off(self, client: Client, unsent: bytes | memoryview, pending: Pending | None) -> None:
        _no_delay(client)
        client.busy = True
        self.nursery.start_soon(self._finish, client, unsent, pending)

    async def _finish(self, client: Client, unsent: bytes | memoryview, pending: Pending | None) -> None:
        """Send ``unsent``, answer what is ``pending``, then give the connection back (or close it)."""
        conn = client.conn
        send = self._sender(client)
        try:
            if unsent:
                await send(unsent)
            await self.responder.finish(conn, pending, send)
            if conn.closing:
                if conn.discarded_input:
                    await self._linger(client)
                self._close(client)
                return
        except (Abandon, OSError):
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

    def _sender(self, client: Client) -> Callable[[bytes | memoryview], Awaitable[None]]:
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
            with responder.bounded():
                while rest:
                    await wait_writable(client.fd)
                    try:
                        sent = sock.send(rest)
                    except BlockingIOError:
                        continue
                    rest = rest[sent:]
            if rest:
                raise Abandon

        return send

    @staticmethod
    async def _linger(client: Client) -> None:
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
