"""HTTP/1.1 over anyio TCP streams: keep-alive connections per server, and the server rotation.

One request is in flight per connection; up to ``MAX_IDLE_CONNECTIONS`` idle connections are kept
per server. A kept connection the server has closed meanwhile shows as a close before the first
byte of the answer: the request is then sent once more on a fresh connection (the server never read
it). Any other failure moves the request to the next server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from nacosfast.client.api import CLIENT_VERSION_HEADER, ApiCall
from nacosfast.client.errors import NacosRequestError, NoServerAvailable
from nacosfast.client.httpwire import HttpProtocolError, HttpResponse, ResponseReader, encode_request
from nacosfast.client.limits import (
    CONNECT_TIMEOUT_MS,
    MAX_IDLE_CONNECTIONS,
    RECEIVE_CHUNK_BYTES,
    REQUEST_TIMEOUT_MS,
)
from nacosfast.client.servers import Address, ServerList

log = logging.getLogger("nacosfast.client")

CallBuilder = ApiCall | Callable[[str], ApiCall]
"""A request, or a function of the connection's local IP that builds it (``clientIP`` for push)."""


class Unreachable(Exception):
    """One server could not be asked (connect failed, timed out, reset, or sent garbage)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer and where it came from."""

    body: bytes
    server: Address
    local_ip: str


@dataclass(slots=True)
class _Connection:
    stream: anyio.abc.SocketStream
    local_ip: str
    peer_ip: str


def _unmapped(ip: str) -> str:
    """``::ffff:a.b.c.d`` → ``a.b.c.d``."""
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return ip


@dataclass(slots=True)
class Transport:
    """Sends API calls to the servers of a ``ServerList``."""

    servers: ServerList
    user_agent: str
    connect_timeout_ms: int = CONNECT_TIMEOUT_MS
    request_timeout_ms: int = REQUEST_TIMEOUT_MS
    known_ips: set[str] = field(default_factory=set)
    """IPs of servers this client has talked to (and the configured numeric ones): push sources."""
    on_recovered: Callable[[Address], None] | None = None
    """Called when a server that failed answers again (it may have restarted and lost its state)."""
    _failed: set[Address] = field(default_factory=set)
    _idle: dict[Address, list[_Connection]] = field(default_factory=dict)
    _closed: bool = False

    def __post_init__(self) -> None:
        self.note_servers()

    def note_servers(self) -> None:
        """Remember the numeric IPs of the configured servers as push sources."""
        for server in self.servers.servers:
            with contextlib.suppress(ValueError):
                self.known_ips.add(_unmapped(str(ipaddress.ip_address(server.host))))

    async def call(self, build: CallBuilder) -> Reply:
        """Send to the servers in turn until one answers below 500; a 4xx raises
        ``NacosRequestError``, no answer at all raises ``NoServerAvailable``."""
        errors: list[str] = []
        last_answer: NacosRequestError | None = None
        for server in self.servers.order():
            try:
                response, local_ip = await self.request(server, build)
            except Unreachable as error:
                errors.append(f"{server}: {error}")
                self._failed.add(server)
                continue
            if response.status >= 500:
                last_answer = NacosRequestError(response.status, response.text(), str(server))
                errors.append(f"{server}: HTTP {response.status}")
                self._failed.add(server)
                continue
            self.servers.succeeded(server)
            if server in self._failed:
                self._failed.discard(server)
                if self.on_recovered is not None:
                    self.on_recovered(server)
            if not 200 <= response.status < 300:
                raise NacosRequestError(response.status, response.text(), str(server))
            return Reply(response.body, server, local_ip)
        if last_answer is not None:
            raise last_answer
        detail = "; ".join(errors) if errors else "the server list is empty"
        raise NoServerAvailable(f"no Nacos server reachable ({detail})")

    async def request(self, server: Address, build: CallBuilder) -> tuple[HttpResponse, str]:
        """One request to one server: the answer (any status) and the local IP it was sent from."""
        for attempt in range(2):
            connection, reused = await self._checkout(server)
            call = build if isinstance(build, ApiCall) else build(connection.local_ip)
            data = encode_request(
                call.method,
                call.path,
                call.params,
                str(server),
                {"User-Agent": self.user_agent, CLIENT_VERSION_HEADER[0]: CLIENT_VERSION_HEADER[1]},
                form=call.form,
            )
            reader = ResponseReader()
            try:
                with anyio.fail_after(self.request_timeout_ms / 1000):
                    response = await self._exchange(connection, data, reader)
            except (
                OSError,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                HttpProtocolError,
            ) as error:
                await anyio.aclose_forcefully(connection.stream)
                if reused and not reader.started and attempt == 0:
                    continue  # a kept connection the server had closed: once more, fresh
                raise Unreachable(f"{type(error).__name__}: {error}") from error
            except TimeoutError as error:
                await anyio.aclose_forcefully(connection.stream)
                raise Unreachable(f"no answer within {self.request_timeout_ms} ms") from error
            except BaseException:
                await anyio.aclose_forcefully(connection.stream)
                raise
            await self._checkin(server, connection, response.keep_alive)
            return response, connection.local_ip
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, connection: _Connection, data: bytes, reader: ResponseReader) -> HttpResponse:
        await connection.stream.send(data)
        while True:
            try:
                chunk = await connection.stream.receive(RECEIVE_CHUNK_BYTES)
            except anyio.EndOfStream:
                return reader.feed_eof()
            response = reader.feed(chunk)
            if response is not None:
                return response

    async def _checkout(self, server: Address) -> tuple[_Connection, bool]:
        idle = self._idle.get(server)
        if idle:
            return idle.pop(), True
        try:
            with anyio.fail_after(self.connect_timeout_ms / 1000):
                stream = await anyio.connect_tcp(server.host, server.port)
        except TimeoutError as error:
            raise Unreachable(f"connect timed out after {self.connect_timeout_ms} ms") from error
        except OSError as error:
            raise Unreachable(f"cannot connect: {error.strerror or error}") from error
        local_ip = _unmapped(str(stream.extra(SocketAttribute.local_address)[0]))
        peer_ip = _unmapped(str(stream.extra(SocketAttribute.remote_address)[0]))
        self.known_ips.add(peer_ip)
        return _Connection(stream, local_ip, peer_ip), False

    async def _checkin(self, server: Address, connection: _Connection, keep_alive: bool) -> None:
        idle = self._idle.setdefault(server, [])
        if keep_alive and not self._closed and len(idle) < MAX_IDLE_CONNECTIONS:
            idle.append(connection)
        else:
            await anyio.aclose_forcefully(connection.stream)

    async def aclose(self) -> None:
        """Close every kept connection."""
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                await anyio.aclose_forcefully(connection.stream)
        self._idle.clear()

    async def get(self, server: Address, path: str) -> HttpResponse:
        """A plain GET of ``path`` on ``server`` (the address server), any status."""
        response, _ = await self.request(server, ApiCall("GET", path))
        return response
