"""UDP push shell: one socket, an ack receiver and a sender task driving ``PushHub`` (compatibility.md §7).

The sender sends from a plain non-blocking socket and waits for writability only on ``EAGAIN``
(~477k datagrams/s against ~49k through ``trio.socket.sendto``; ``docs/architecture.md``).
Everything about what to send and when lives in :class:`nacosfast.naming.push.PushHub`; this module
only moves bytes and reads the monotonic clock (``trio.current_time``, the clock the application
uses for ``now_ms``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import secrets
import socket

import trio

from nacosfast.limits import (
    PUSH_ACKS_PER_WAKE,
    PUSH_BATCH,
    PUSH_ERROR_BACKOFF_MS,
    PUSH_RECV_BUFFER_BYTES,
    PUSH_SEQ_LIMIT,
    PUSH_SOCKET_BUFFER_BYTES,
)
from nacosfast.naming.push import Datagram, PushHub
from nacosfast.server.clock import monotonic_ms as now_ms

__all__ = ["PushServer", "now_ms"]

log = logging.getLogger("nacosfast.push")

_PERMANENT_SEND_ERRORS = frozenset(
    {
        errno.EMSGSIZE,
        errno.EAFNOSUPPORT,
        errno.EINVAL,
        errno.EACCES,
        errno.EPERM,
        errno.EDESTADDRREQ,
        errno.EADDRNOTAVAIL,
    }
)
"""Errors that sending the same datagram again cannot cure: the packet fails at once (as in Nacos).
Others (ENOBUFS, ENETUNREACH, ...) leave it to the retry timer."""
_V4_MAPPED = "::ffff:"


class PushServer:
    """Owns the push socket: binds it, receives acks, sends what the hub returns, runs its timers.

    ``host`` is an IP literal or a name resolved once at start (``""`` = all IPv4 interfaces; an IPv6
    host such as ``"::"`` makes a dual-stack socket). ``port`` 0 picks an ephemeral port, as Nacos.
    """

    def __init__(
        self,
        hub: PushHub,
        host: str = "0.0.0.0",
        port: int = 0,
        *,
        batch: int = PUSH_BATCH,
        socket_buffer_bytes: int = PUSH_SOCKET_BUFFER_BYTES,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"push port must be within 0..65535, got {port}")
        self.hub = hub
        self._host = host or "0.0.0.0"
        self._port = port
        self._batch = max(1, batch)
        self._buffer_bytes = socket_buffer_bytes
        self._sock: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._wake = trio.Event()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (ip, port); only once :meth:`run` has started."""
        if self._address is None:
            raise RuntimeError("the push socket is not bound yet")
        return self._address

    async def run(self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, then receive acks and push until cancelled; ``task_status.started`` gets the address."""
        sock = await self._open()
        self._sock = sock
        self.hub.seed_sequence(1 + secrets.randbelow(PUSH_SEQ_LIMIT // 2))
        self.hub.set_wakeup(self._wakeup)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive_loop, sock)
                nursery.start_soon(self._send_loop, sock)
                log.info("push: UDP socket on %s:%d", *self.address)
                task_status.started(self.address)
        finally:
            self.hub.set_wakeup(None)
            self._sock = None
            trio.lowlevel.notify_closing(sock)
            sock.close()

    # --- socket -------------------------------------------------------------------------------------

    async def _open(self) -> socket.socket:
        infos = await trio.socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        if not infos:
            raise OSError(f"cannot resolve push host {self._host!r}")
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                # Capped or refused by the kernel: the default buffer still works.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, self._buffer_bytes)
            sock.bind(sockaddr)
        except BaseException:
            sock.close()
            raise
        bound = sock.getsockname()
        self._address = (_unmap(str(bound[0])), int(bound[1]))
        return sock

    def _wakeup(self) -> None:
        self._wake.set()

    # --- acks ---------------------------------------------------------------------------------------

    async def _receive_loop(self, sock: socket.socket) -> None:
        hub = self.hub
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                for _ in range(PUSH_ACKS_PER_WAKE):
                    try:
                        data, source = sock.recvfrom(PUSH_RECV_BUFFER_BYTES)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as error:  # an ICMP error report (ECONNREFUSED, ...): ignore it
                        log.debug("push: receive error %s", error)
                        continue
                    hub.on_ack(data, _unmap(source[0]), source[1], now_ms())
            except Exception:
                log.exception("push: ack receiver error")
                await trio.sleep(PUSH_ERROR_BACKOFF_MS / 1000)

    # --- sending ------------------------------------------------------------------------------------

    async def _send_loop(self, sock: socket.socket) -> None:
        hub = self.hub
        while True:
            try:
                batch = hub.poll(now_ms(), self._batch)
                if batch:
                    await self._send(sock, batch)
                await trio.lowlevel.checkpoint()
                # A fresh event before reading the deadline: a wake-up from here on is never lost.
                self._wake = trio.Event()
                deadline = hub.next_deadline_ms(now_ms())
                if deadline is not None and deadline <= now_ms():
                    continue
                # Half a millisecond late, so that the floored clock reads at least ``deadline``.
                wake_at = math.inf if deadline is None else (deadline + 0.5) / 1000
                with trio.move_on_at(wake_at):
                    await self._wake.wait()
            except Exception:
                log.exception("push: sender error")
                await trio.sleep(PUSH_ERROR_BACKOFF_MS / 1000)

    async def _send(self, sock: socket.socket, batch: list[Datagram]) -> None:
        """Send every datagram; wait for writability only when the socket buffer is full."""
        ipv6 = sock.family == socket.AF_INET6
        for datagram in batch:
            ip, port = datagram.addr
            if ":" in ip and not ipv6:
                self.hub.send_failed(datagram, now_ms(), permanent=True)
                continue
            target = (ip, port) if not ipv6 or ":" in ip else (_V4_MAPPED + ip, port)
            attempts = 0
            while True:
                try:
                    sock.sendto(datagram.payload, target)
                    break
                except (BlockingIOError, InterruptedError):
                    await trio.lowlevel.wait_writable(sock)
                except OSError as error:
                    attempts += 1
                    # ECONNREFUSED reports an earlier datagram's ICMP error; this one was not sent.
                    if error.errno == errno.ECONNREFUSED and attempts < 2:
                        continue
                    permanent = error.errno in _PERMANENT_SEND_ERRORS
                    log.debug("push: sendto %s:%d failed: %s", ip, port, error)
                    self.hub.send_failed(datagram, now_ms(), permanent=permanent)
                    break


def _unmap(ip: str) -> str:
    """``::ffff:a.b.c.d`` (from a dual-stack socket) as ``a.b.c.d``, the form subscribers are keyed by."""
    return ip[len(_V4_MAPPED) :] if ip.startswith(_V4_MAPPED) and "." in ip else ip
