"""Sans-I/O HTTP/1.1 for the client: request bytes out, one answer parsed from bytes in.

The same llhttp parser (httptools) the server uses reads the answers: Content-Length, chunked, and
bodies that end with the connection. A ``ResponseReader`` reads exactly one answer; the transport
keeps a connection for the next request only when the answer allows keep-alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httptools

from nacosfast.client.limits import MAX_RESPONSE_BODY_BYTES, MAX_RESPONSE_HEAD_BYTES


class HttpProtocolError(Exception):
    """The peer's bytes are not a valid HTTP/1.1 answer, or exceed a bound."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One complete answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    keep_alive: bool

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def encode_request(
    method: str,
    path: str,
    params: Mapping[str, str],
    host: str,
    headers: Mapping[str, str],
    *,
    form: bool = False,
) -> bytes:
    """A request with ``params`` in the query string, or in a form body when ``form`` is set."""
    query = urlencode(params)
    target = path
    body = b""
    lines = [f"Host: {host}", "Connection: keep-alive", "Accept-Encoding: identity"]
    if form:
        body = query.encode("ascii")
        lines.append("Content-Type: application/x-www-form-urlencoded;charset=utf-8")
    elif query:
        target = f"{path}?{query}"
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    head = f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("utf-8") + body


class ResponseReader:
    """Feed the bytes of a connection; ``response`` is set once one whole answer has arrived.

    ``head_request`` answers carry no body. A body without Content-Length or chunking ends with the
    connection: call :meth:`feed_eof`.
    """

    def __init__(self, *, max_body_bytes: int = MAX_RESPONSE_BODY_BYTES) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._max_body = max_body_bytes
        self._head_bytes = 0
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._headers_done = False
        self._framed = False
        self.response: HttpResponse | None = None

    # --- llhttp callbacks ---------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.decode("latin-1").lower()
        if lowered in {"content-length", "transfer-encoding"}:
            self._framed = True
        self._headers.append((lowered, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._max_body:
            raise HttpProtocolError(f"answer body larger than {self._max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._finish(self._parser.should_keep_alive())

    # --- feeding ------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> HttpResponse | None:
        """Parse ``data``; the answer once complete. Bytes after the answer are an error (no
        pipelining: one request is in flight per connection)."""
        if self.response is not None:
            if data:
                raise HttpProtocolError("bytes after the answer")
            return self.response
        if not self._headers_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.response is not None:
                raise HttpProtocolError("bytes after the answer") from error
            raise HttpProtocolError(f"malformed answer: {error}") from error
        if not self._headers_done and self._head_bytes > MAX_RESPONSE_HEAD_BYTES:
            raise HttpProtocolError("answer head too large")
        return self.response

    def feed_eof(self) -> HttpResponse:
        """The connection closed: the answer if it is complete (or ends with the connection)."""
        if self.response is not None:
            return self.response
        if self._headers_done and not self._framed:
            return self._finish(keep_alive=False)
        raise HttpProtocolError("connection closed before the answer was complete")

    @property
    def started(self) -> bool:
        """Whether any byte of the answer has arrived (a silent close of a kept-alive connection
        before any byte means the server never read the request)."""
        return self._head_bytes > 0

    def _finish(self, keep_alive: bool) -> HttpResponse:
        self.response = response = HttpResponse(
            status=self._parser.get_status_code(),
            headers=tuple(self._headers),
            body=b"".join(self._body),
            keep_alive=keep_alive,
        )
        return response
