"""The peer transport: signed, zstd-compressed calls between nacosfast nodes over HTTP/1.1 keep-alive.

``PeerClient.call(address, kind, payload, timeout_s)`` POSTs ``payload`` (raw bytes; compressed here
with zstd level 1) to ``http://<address>/nacos/v1/ns/peer/<kind>``, signed with the cluster secret
(``nacosfast.cluster.auth``), and returns the peer's raw (decompressed) reply. Connection errors,
timeouts and any status but 200 raise ``PeerUnavailable``. Each peer gets a small pool of keep-alive
connections (``MAX_PEER_CONNECTIONS``): a call is one ``send_all`` and usually one ``receive_some``;
a connection the peer closed while idle is replaced once, transparently.

``PeerRouter`` is the receiving side: the HTTP handler passes it every request under
``/nacos/v1/ns/peer/``; it verifies the signature, time and nonce (403 otherwise), decompresses
(bounded), and calls the handler registered for the longest matching kind prefix with
``(kind, payload, now_ms)``. The handler's reply bytes are compressed into a 200; a ``ValueError`` or
``NacosError`` from it is a 400 with its message. A handler may return a ``PeerReply`` whose
``durable_seq`` makes the HTTP layer wait for the log before answering (a forwarded persistent write).

Why not httpx: its Trio support goes through anyio and h11, whose per-request cost is several times
that of this client (a Trio + h11 server measured ~108 µs of CPU per request on this kind of machine,
against ~24 µs with a plain parser), and peer calls are few, batched, and always to nacosfast itself,
so a small client is enough.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import trio

from nacosfast.cluster.auth import PeerAuthError, PeerVerifier, signed_headers
from nacosfast.cluster.codec import ZstdCodec
from nacosfast.errors import NacosError
from nacosfast.limits import (
    MAX_HEADER_BYTES,
    MAX_PEER_CONNECTIONS,
    MAX_PEER_REPLY_BYTES,
    PEER_CALL_TIMEOUT_MS,
    PEER_CONNECT_TIMEOUT_MS,
    RECV_BUFFER_BYTES,
)
from nacosfast.server.clock import wall_ms
from nacosfast.wire.message import Request, Response

__all__ = [
    "PEER_PATH_PREFIX",
    "PeerClient",
    "PeerHandler",
    "PeerReply",
    "PeerRouter",
    "PeerUnavailable",
    "http_get",
]

log = logging.getLogger("nacosfast.peers")

PEER_PATH_PREFIX: Final = "/nacos/v1/ns/peer/"
_OCTET_STREAM: Final = b"application/octet-stream"
_ZSTD_HEADER: Final = (b"Content-Encoding", b"zstd")
_NONCE_BYTES: Final = 12


class PeerUnavailable(Exception):
    """A peer call failed: no connection, a timeout, a broken reply or a status other than 200."""

    def __init__(self, address: str, reason: str, *, refused: bool = False) -> None:
        super().__init__(f"peer {address}: {reason}")
        self.address = address
        self.reason = reason
        self.refused = refused
        """Nothing listens at the address (the connection was refused)."""


@dataclass(frozen=True, slots=True)
class PeerReply:
    """A handler's reply that must wait until the log record ``durable_seq`` is durable."""

    body: bytes
    durable_seq: int = 0


PeerHandler = Callable[[str, bytes, int], "bytes | PeerReply"]
"""``(kind, raw payload, now_ms) -> raw reply``: one registered peer endpoint (synchronous)."""


class _Connection:
    __slots__ = ("reused", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reused = False


class _Broken(Exception):
    """The connection failed; ``before_reply``: the peer sent nothing back (safe to retry once)."""

    def __init__(self, reason: str, *, before_reply: bool) -> None:
        super().__init__(reason)
        self.before_reply = before_reply


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class PeerClient:
    """Calls other nodes (see the module docstring). One per node; close it with ``aclose``."""

    def __init__(
        self,
        self_address: str,
        secret: bytes,
        *,
        max_connections: int = MAX_PEER_CONNECTIONS,
        connect_timeout_ms: int = PEER_CONNECT_TIMEOUT_MS,
    ) -> None:
        self.self_address = self_address
        self._secret = secret
        self._codec = ZstdCodec()
        self._max_connections = max_connections
        self._connect_timeout_s = connect_timeout_ms / 1000
        self._idle: dict[str, list[_Connection]] = {}
        self._slots: dict[str, trio.Semaphore] = {}
        self.calls = 0
        self.failures = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    async def call(
        self, address: str, kind: str, payload: bytes, timeout_s: float = PEER_CALL_TIMEOUT_MS / 1000
    ) -> bytes:
        """Send ``payload`` to ``address``'s ``kind`` endpoint; its raw reply, or ``PeerUnavailable``."""
        self.calls += 1
        path = PEER_PATH_PREFIX + kind
        body = self._codec.compress(payload)
        headers = signed_headers(
            self._secret, "POST", path, wall_ms(), os.urandom(_NONCE_BYTES).hex(), self.self_address, body
        )
        head = b"".join(
            [
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Encoding: zstd\r\nContent-Length: %d\r\n"
                % (path.encode(), address.encode(), len(body)),
                *(b"%s: %s\r\n" % pair for pair in headers),
                b"\r\n",
            ]
        )
        try:
            with trio.fail_after(timeout_s):
                status, reply = await self._exchange(address, head + body)
        except trio.TooSlowError:
            self.failures += 1
            raise PeerUnavailable(address, f"no answer within {timeout_s:.3g} s") from None
        except PeerUnavailable:
            self.failures += 1
            raise
        self.bytes_sent += len(head) + len(body)
        self.bytes_received += len(reply)
        if status != 200:
            self.failures += 1
            raise PeerUnavailable(address, f"answered {status}: {reply[:200]!r}")
        try:
            return self._codec.decompress(reply)
        except ValueError as error:
            self.failures += 1
            raise PeerUnavailable(address, str(error)) from None

    async def _exchange(self, address: str, request: bytes) -> tuple[int, bytes]:
        slots = self._slots.get(address)
        if slots is None:
            slots = self._slots[address] = trio.Semaphore(self._max_connections)
        async with slots:
            for _attempt in range(2):
                connection = await self._connection(address)
                try:
                    status, reply, keep = await self._round_trip(connection, request)
                except _Broken as broken:
                    await _close(connection)
                    if broken.before_reply and connection.reused:
                        continue  # the peer closed an idle connection: once more on a new one
                    raise PeerUnavailable(address, str(broken)) from None
                except BaseException:
                    await _close(connection)
                    raise
                if keep:
                    connection.reused = True
                    self._idle.setdefault(address, []).append(connection)
                else:
                    await _close(connection)
                return status, reply
        raise PeerUnavailable(address, "connection closed before an answer")  # pragma: no cover

    async def _connection(self, address: str) -> _Connection:
        idle = self._idle.get(address)
        if idle:
            return idle.pop()
        host, port = _split_address(address)
        sock = trio.socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            with trio.fail_after(self._connect_timeout_s):
                await sock.connect((host, port))
        except trio.TooSlowError:
            sock.close()
            raise PeerUnavailable(address, "connect timed out") from None
        except OSError as error:
            sock.close()
            refused = error.errno == errno.ECONNREFUSED
            raise PeerUnavailable(address, f"cannot connect: {error}", refused=refused) from None
        except BaseException:
            sock.close()
            raise
        return _Connection(trio.SocketStream(sock))

    @staticmethod
    async def _round_trip(connection: _Connection, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read one answer: ``(status, body, keep-alive)``."""
        stream = connection.stream
        try:
            await stream.send_all(request)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            raise _Broken(f"send failed: {error}", before_reply=True) from None
        buffer = bytearray()
        head_end = -1
        try:
            while head_end < 0:
                data = await stream.receive_some(RECV_BUFFER_BYTES)
                if not data:
                    raise _Broken("connection closed before an answer", before_reply=not buffer)
                buffer += data
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0 and len(buffer) > MAX_HEADER_BYTES:
                    raise _Broken("answer head too large", before_reply=False)
            status, length, keep = _parse_head(bytes(buffer[:head_end]))
            if length > MAX_PEER_REPLY_BYTES:
                raise _Broken(f"answer of {length} bytes is too large", before_reply=False)
            body_start = head_end + 4
            while len(buffer) - body_start < length:
                data = await stream.receive_some(max(RECV_BUFFER_BYTES, length - len(buffer) + body_start))
                if not data:
                    raise _Broken("connection closed in the middle of an answer", before_reply=False)
                buffer += data
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            raise _Broken(f"receive failed: {error}", before_reply=not buffer) from None
        if len(buffer) - body_start != length:
            keep = False  # bytes we did not ask for: do not trust this connection again
        return status, bytes(buffer[body_start : body_start + length]), keep

    async def aclose(self) -> None:
        """Close every idle connection."""
        for connections in self._idle.values():
            for connection in connections:
                await _close(connection)
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """``(status, Content-Length, keep-alive)`` of an HTTP/1.1 answer head; ``_Broken`` if malformed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _Broken(f"not an HTTP answer: {lines[0][:80]!r}", before_reply=False)
    status = int(parts[1])
    length = -1
    keep = parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise _Broken("bad Content-Length in answer", before_reply=False)
            length = int(value)
        elif name == b"connection":
            keep = value.strip().lower() == b"keep-alive"
        elif name == b"transfer-encoding":
            raise _Broken("chunked answers are not expected from a peer", before_reply=False)
    if length < 0:
        if status < 200 or status in (204, 304):
            length = 0
        else:
            raise _Broken("answer without Content-Length", before_reply=False)
    return status, length, keep


async def http_get(url: str) -> bytes:
    """The body of a plain ``GET http://host[:port]/path`` answered 200 (an address server's list).

    ``PeerUnavailable`` if it cannot be fetched; the caller bounds the time.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise PeerUnavailable(url, "not an http:// URL")
    port = parts.port or 80
    address = f"{parts.hostname}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        stream = await trio.open_tcp_stream(parts.hostname, port)
    except OSError as error:
        raise PeerUnavailable(address, f"cannot connect: {error}") from None
    connection = _Connection(stream)
    request = b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
        target.encode(),
        address.encode(),
    )
    try:
        status, body, _ = await PeerClient._round_trip(connection, request)
    except _Broken as broken:
        raise PeerUnavailable(address, str(broken)) from None
    finally:
        await _close(connection)
    if status != 200:
        raise PeerUnavailable(address, f"answered {status}")
    return body


async def _close(connection: _Connection) -> None:
    with trio.CancelScope(shield=True):
        await connection.stream.aclose()


class PeerRouter:
    """Verifies peer requests and dispatches them to registered handlers (see the module docstring)."""

    def __init__(self, verifier: PeerVerifier) -> None:
        self._verifier = verifier
        self._codec = ZstdCodec()
        self._handlers: list[tuple[str, PeerHandler]] = []
        self.requests = 0
        self.refused = 0

    def register(self, kind_prefix: str, handler: PeerHandler) -> None:
        """Route kinds starting with ``kind_prefix`` (e.g. ``distro/``) to ``handler``."""
        if any(prefix == kind_prefix for prefix, _ in self._handlers):
            raise ValueError(f"peer kind prefix {kind_prefix!r} is registered twice")
        self._handlers.append((kind_prefix, handler))
        self._handlers.sort(key=lambda entry: len(entry[0]), reverse=True)

    def handle(self, request: Request, now_ms: int, wall_ms: int) -> Response:
        """Answer one request under ``PEER_PATH_PREFIX``."""
        self.requests += 1
        if request.method != "POST":
            return Response(status=405, body=b"caused: peer endpoints take POST only;")
        try:
            self._verifier.verify(request.method, request.path, request.headers, request.body, wall_ms)
        except PeerAuthError as error:
            self.refused += 1
            log.warning("refused a peer request from %s: %s", request.remote[0], error.message)
            return Response(status=error.status, body=error.body())
        kind = request.path[len(PEER_PATH_PREFIX) :]
        handler = next((h for prefix, h in self._handlers if kind.startswith(prefix)), None)
        if handler is None:
            return Response(status=404, body=NacosError(f"unknown peer endpoint: {kind[:64]}").body())
        try:
            payload = self._codec.decompress(request.body)
            reply = handler(kind, payload, now_ms)
        except NacosError as error:
            return Response(status=error.status, body=error.body())
        except ValueError as error:
            return Response(status=400, body=NacosError(str(error)).body())
        body, durable_seq = (reply.body, reply.durable_seq) if isinstance(reply, PeerReply) else (reply, 0)
        return Response(
            body=self._codec.compress(body),
            content_type=_OCTET_STREAM,
            headers=[_ZSTD_HEADER],
            durable_seq=durable_seq,
        )
