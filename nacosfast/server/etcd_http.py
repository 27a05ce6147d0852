"""A small HTTP/1.1 keep-alive client for etcd's v3 JSON gateway, on Trio.

``EtcdClient.call(path, body)`` POSTs JSON to one of the endpoints and returns the decoded reply;
``EtcdClient.stream(path, body)`` yields the JSON messages of a streaming reply (``/v3/watch``) on a
connection of its own. Endpoints are tried in turn (the one that answered last is tried first); a
connection error, a timeout or a 5xx raises ``EtcdUnavailable`` once every endpoint failed. With
``user``/``password`` the client fetches a token (``/v3/auth/authenticate``) and fetches a new one
when etcd says it expired. ``https://`` endpoints use TLS (``ssl_context``).

Why not an etcd library: the Python ones are gRPC clients (grpcio with its own threads and loop) that
would run off the Trio loop, a worker-thread hop per call — measured here at ~64 µs wall and ~51 µs
CPU for a bare ``trio.to_thread.run_sync`` before any gRPC work — and the best known, ``etcd3``, has had
no release since 0.12.0 (2020). This client sends a txn with one ``send_all`` and usually reads the
answer with one ``receive_some``, on the loop: ``bench/etcd_ratio.py`` measured ~245 µs of its process's
CPU per put (JSON, base64, HTTP and the load generator itself) at 1,900 puts/s: under half a core
for the whole loop (docs/etcd.md).
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import urlsplit

import httptools
import trio

from nacosfast.limits import (
    ETCD_CONNECT_TIMEOUT_MS,
    ETCD_MAX_CONNECTIONS,
    ETCD_MAX_REPLY_BYTES,
    ETCD_REQUEST_TIMEOUT_MS,
    RECV_BUFFER_BYTES,
)

__all__ = ["EtcdClient", "EtcdError", "EtcdUnavailable"]

_TOKEN_INVALID: Final = ("invalid auth token", "user name is empty", "token is expired")


class EtcdUnavailable(Exception):
    """No endpoint answered in time (unreachable, or no quorum): the outcome of a write is unknown."""


class EtcdError(Exception):
    """etcd answered with an error (4xx): the request was refused."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"etcd answered {status}: {message}")
        self.status = status
        self.message = message


class _Reply:
    """httptools callbacks for one response: status, body chunks, completion."""

    __slots__ = ("body", "complete", "parser", "size")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.size = 0
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > ETCD_MAX_REPLY_BYTES:
            raise ValueError(f"etcd reply larger than {ETCD_MAX_REPLY_BYTES} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def take(self) -> bytes:
        data = b"".join(self.body)
        self.body.clear()
        return data


class EtcdClient:
    """Calls etcd's JSON gateway (see the module docstring). Close it with ``aclose``."""

    def __init__(
        self,
        endpoints: tuple[str, ...],
        *,
        user: str = "",
        password: str = "",
        ssl_context: ssl.SSLContext | None = None,
        timeout_ms: int = ETCD_REQUEST_TIMEOUT_MS,
        max_connections: int = ETCD_MAX_CONNECTIONS,
    ) -> None:
        self._endpoints = list(endpoints)
        self._user = user
        self._password = password
        self._ssl_context = ssl_context
        self.timeout_s = timeout_ms / 1000
        self._slots = trio.Semaphore(max_connections)
        self._idle: dict[str, list[trio.abc.Stream]] = {}
        self._token = ""
        self.calls = 0
        self.failures = 0

    async def aclose(self) -> None:
        """Close every idle connection."""
        for streams in self._idle.values():
            for stream in streams:
                await _close(stream)
        self._idle.clear()

    async def _open(self, endpoint: str) -> trio.abc.Stream:
        parts = urlsplit(endpoint)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        with trio.fail_after(ETCD_CONNECT_TIMEOUT_MS / 1000):
            if parts.scheme == "https":
                context = self._ssl_context or ssl.create_default_context()
                return await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context)
            return await trio.open_tcp_stream(host, port)

    def _head(self, endpoint: str, path: str, body: bytes) -> bytes:
        auth = b"Authorization: %s\r\n" % self._token.encode() if self._token else b""
        return (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (path.encode(), urlsplit(endpoint).netloc.encode(), len(body), auth)
        )

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path``; the JSON reply. ``EtcdUnavailable`` or ``EtcdError`` otherwise.

        The whole call, over every endpoint, takes at most the client's timeout."""
        self.calls += 1
        try:
            with trio.fail_after(self.timeout_s):
                return await self._call(path, json.dumps(body).encode(), authenticate=True)
        except trio.TooSlowError:
            self.failures += 1
            raise EtcdUnavailable(f"etcd did not answer within {self.timeout_s:.3g} s (no quorum?)") from None
        except EtcdUnavailable:
            self.failures += 1
            raise

    async def _call(self, path: str, payload: bytes, *, authenticate: bool) -> dict[str, Any]:
        if authenticate and self._user and not self._token:
            await self._authenticate()
        reasons = []
        async with self._slots:
            for endpoint in list(self._endpoints):
                try:
                    status, reply = await self._exchange(endpoint, path, payload)
                except (OSError, trio.BrokenResourceError, trio.TooSlowError, ValueError) as error:
                    reasons.append(f"{endpoint}: {error or type(error).__name__}")
                    continue
                if status >= 500:
                    reasons.append(f"{endpoint}: {status} {reply[:200]!r}")
                    continue
                self._prefer(endpoint)
                break
            else:
                raise EtcdUnavailable("etcd unavailable: " + "; ".join(reasons))
        try:
            data: dict[str, Any] = json.loads(reply) if reply else {}
        except ValueError:
            raise EtcdUnavailable(
                f"etcd answered {status} with something not JSON: {reply[:200]!r}"
            ) from None
        if status != 200:
            message = str(data.get("error") or data.get("message") or reply[:200])
            if authenticate and self._user and any(text in message for text in _TOKEN_INVALID):
                self._token = ""
                return await self._call(path, payload, authenticate=True)
            raise EtcdError(status, message)
        return data

    def _prefer(self, endpoint: str) -> None:
        if self._endpoints[0] != endpoint:
            self._endpoints.remove(endpoint)
            self._endpoints.insert(0, endpoint)

    async def _authenticate(self) -> None:
        body = json.dumps({"name": self._user, "password": self._password}).encode()
        reply = await self._call("/v3/auth/authenticate", body, authenticate=False)
        self._token = str(reply.get("token", ""))

    async def _exchange(self, endpoint: str, path: str, payload: bytes) -> tuple[int, bytes]:
        request = self._head(endpoint, path, payload) + payload
        idle = self._idle.setdefault(endpoint, [])
        for _attempt in range(2):
            reused = bool(idle)
            stream = idle.pop() if idle else await self._open(endpoint)
            reply = _Reply()
            try:
                await stream.send_all(request)
                while not reply.complete:
                    data = await stream.receive_some(RECV_BUFFER_BYTES)
                    if not data:
                        raise trio.BrokenResourceError("etcd closed the connection")
                    reply.parser.feed_data(data)
            except (OSError, trio.BrokenResourceError, httptools.HttpParserError) as error:
                await _close(stream)
                if reused and not reply.size:
                    continue  # an idle connection etcd closed: once more on a new one
                raise trio.BrokenResourceError(str(error)) from None
            except BaseException:
                await _close(stream)
                raise
            if reply.parser.should_keep_alive():
                idle.append(stream)
            else:
                await _close(stream)
            return reply.parser.get_status_code(), reply.take()
        raise trio.BrokenResourceError("connection closed before an answer")  # pragma: no cover

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The JSON messages of a streaming reply (one per line), on a connection of its own, until the
        connection ends (``EtcdUnavailable``). Opening it is bounded by the client's timeout."""
        if self._user and not self._token:
            with trio.fail_after(self.timeout_s):
                await self._authenticate()
        payload = json.dumps(body).encode()
        stream: trio.abc.Stream | None = None
        reasons = []
        for endpoint in list(self._endpoints):
            try:
                with trio.fail_after(self.timeout_s):
                    stream = await self._open(endpoint)
                    await stream.send_all(self._head(endpoint, path, payload) + payload)
                break
            except (OSError, trio.BrokenResourceError, trio.TooSlowError) as error:
                reasons.append(f"{endpoint}: {error or type(error).__name__}")
        if stream is None:
            raise EtcdUnavailable("etcd unavailable: " + "; ".join(reasons))
        try:
            reply = _Reply()
            pending = b""
            while not reply.complete:
                try:
                    data = await stream.receive_some(RECV_BUFFER_BYTES)
                except (OSError, trio.BrokenResourceError) as error:
                    raise EtcdUnavailable(f"etcd watch connection lost: {error}") from None
                if not data:
                    raise EtcdUnavailable("etcd closed the watch connection")
                try:
                    reply.parser.feed_data(data)
                except (httptools.HttpParserError, ValueError) as error:
                    raise EtcdUnavailable(f"etcd watch reply unreadable: {error}") from None
                pending += reply.take()
                reply.size = len(pending)
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        try:
                            message: dict[str, Any] = json.loads(line)
                        except ValueError:
                            raise EtcdUnavailable(
                                f"etcd watch sent something not JSON: {line[:200]!r}"
                            ) from None
                        if reply.parser.get_status_code() != 200:
                            raise EtcdError(reply.parser.get_status_code(), str(message))
                        yield message
            raise EtcdUnavailable("etcd ended the watch")
        finally:
            await _close(stream)


async def _close(stream: trio.abc.Stream) -> None:
    with trio.CancelScope(shield=True), contextlib.suppress(OSError, trio.BrokenResourceError):
        await stream.aclose()
