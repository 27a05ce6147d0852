"""The request and response values passed between the HTTP layer and the application."""

from __future__ import annotations

from binascii import a2b_qp
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_to_bytes

from nacosfast.errors import BadRequest

FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"
TEXT_PLAIN = b"text/plain;charset=UTF-8"
APPLICATION_JSON = b"application/json;charset=UTF-8"
REASON_PHRASES: Final = {
    100: "Continue",
    200: "OK",
    201: "Created",
    204: "No Content",
    302: "Found",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    417: "Expectation Failed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}
"""Reason phrases of the statuses nacosfast answers (RFC 9110 wording), for status lines and the
Spring error JSON."""


class ParamEncodingError(UnicodeDecodeError, BadRequest):
    """A query or form parameter is not valid UTF-8 (HTTP 400).

    It is both a ``UnicodeDecodeError`` (what ``Request.params`` documents) and a ``BadRequest`` (so
    whatever catches ``NacosError`` answers 400 with ``caused: <message>;``).
    """

    def __init__(self, error: UnicodeDecodeError, key: str | None) -> None:
        super().__init__(error.encoding, error.object, error.start, error.end, error.reason)
        self.message = (
            f"Param '{key}' is not valid UTF-8" if key else "request parameters are not valid UTF-8"
        )
        self.status = 400

    def __str__(self) -> str:
        return self.message


def _unquote(raw: bytes) -> bytes:
    """Percent-decode ``raw`` (``%XX`` → one octet; an invalid escape stays as it is).

    ``binascii.a2b_qp`` decodes ``=XX`` escapes in C, 15x faster than ``unquote_to_bytes``; it is used
    when it cannot differ: no literal ``=`` or line breaks, and every escape was valid (each one
    shortened the text by exactly two octets). Anything else takes the stdlib path.
    """
    if b"=" not in raw and b"\n" not in raw and b"\r" not in raw:
        decoded = a2b_qp(raw.replace(b"%", b"="))
        if len(decoded) == len(raw) - 2 * raw.count(b"%"):
            return decoded
    return unquote_to_bytes(raw)


def _decode(text: str) -> str:
    """Percent-decode one key or value (already UTF-8 text, ``+`` already spaces) as UTF-8."""
    return _unquote(text.encode("utf-8")).decode("utf-8") if "%" in text else text


def parse_form(source: bytes, into: dict[str, str]) -> None:
    """Add the ``key=value`` pairs of a query string or form body to ``into``; the first value wins.

    ``+`` is a space, ``%XX`` an octet, and the octets (escaped or raw) are UTF-8. A pair without
    ``=`` has the empty value; pairs with an empty key are skipped (as Tomcat does). Values are not
    trimmed. Raises ``ParamEncodingError`` when a key or value is not UTF-8.
    """
    if b"+" in source:
        source = source.replace(b"+", b" ")  # '+' is never a delimiter, and %2B is still escaped
    try:
        # Escapes are ASCII, so decoding the whole source first is exact and validates raw octets.
        text = source.decode("utf-8")
        if "%" not in text:
            for pair in text.split("&"):
                key, _, value = pair.partition("=")
                if key and key not in into:
                    into[key] = value
            return
        for pair in text.split("&"):
            key, _, value = pair.partition("=")
            if "%" in key:
                key = _decode(key)
            if "%" in value:
                value = _decode(value)  # even when ignored: any pair that is not UTF-8 is an error
            if key and key not in into:
                into[key] = value
    except UnicodeDecodeError as error:
        raise ParamEncodingError(error, _failing_key(source)) from None


def _failing_key(source: bytes) -> str | None:
    """The name of the first parameter whose value is not UTF-8, for the error message."""
    for raw_pair in source.split(b"&"):
        raw_key, _, raw_value = raw_pair.partition(b"=")
        try:
            key = _unquote(raw_key).decode("utf-8")
        except UnicodeDecodeError:
            return None
        try:
            _unquote(raw_value).decode("utf-8")
        except UnicodeDecodeError:
            return key
    return None


@dataclass(slots=True)
class Request:
    """One parsed HTTP request. ``params`` merges the query and a form body, first value winning."""

    method: str
    path: str
    query: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    """Lower-cased header names; the first occurrence of a repeated header wins."""
    body: bytes = b""
    remote: tuple[str, int] = ("127.0.0.1", 0)
    keep_alive: bool = True
    """Whether the client lets the connection stay open after this request (HTTP/1.1 default)."""
    _params: dict[str, str] | None = None

    @property
    def params(self) -> dict[str, str]:
        """Query-string and form-body parameters (Spring's ``getParameter``: first value wins).

        The query comes first, then an ``application/x-www-form-urlencoded`` body on any method. ``+``
        is a space and ``%XX`` escapes and raw octets are decoded as UTF-8; values are not trimmed.
        Raises ``ParamEncodingError`` (a ``UnicodeDecodeError`` and a ``BadRequest``) when they are not
        UTF-8.
        """
        params = self._params
        if params is None:
            params = {}
            if self.query:
                parse_form(self.query, params)
            if self.body and self.is_form():
                parse_form(self.body, params)
            self._params = params
        return params

    def is_form(self) -> bool:
        """Whether the body is ``application/x-www-form-urlencoded`` (any case, any parameters)."""
        content_type = self.headers.get(b"content-type")
        if not content_type or content_type[:33].lower() != FORM_CONTENT_TYPE:
            return False
        return len(content_type) == 33 or content_type[33:34] in (b";", b" ", b"\t")

    @property
    def user_agent(self) -> str:
        """``User-Agent``, else ``Client-Version`` (Nacos ``ClientInfo``)."""
        raw = self.headers.get(b"user-agent") or self.headers.get(b"client-version") or b""
        return raw.decode("latin-1")


class PendingAnswer:
    """An answer that is not known yet (a write forwarded to its owner): resolved once, later.

    Whoever waits registers a callback with ``on_resolved``; it runs synchronously inside ``resolve``
    (or at once if the answer is already there), so the HTTP layer answers without a task per request.
    """

    __slots__ = ("_callbacks", "response")

    def __init__(self) -> None:
        self.response: Response | None = None
        self._callbacks: list[Callable[[Response], None]] = []

    def resolve(self, response: Response) -> None:
        """Set the answer (only the first one counts) and run the callbacks."""
        if self.response is not None:
            return
        self.response = response
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(response)

    def on_resolved(self, callback: Callable[[Response], None]) -> None:
        """Call ``callback(response)`` once the answer is there (now, if it already is)."""
        if self.response is not None:
            callback(self.response)
        else:
            self._callbacks.append(callback)


@dataclass(slots=True)
class Response:
    """One HTTP response. ``durable_seq`` > 0 means: send only after the log made that record durable.

    ``deferred``, if set, means the answer is not known yet (a write forwarded to the node that owns
    its service): the HTTP layer sends the answer it resolves to instead of this response.
    """

    status: int = 200
    body: bytes = b"ok"
    content_type: bytes = TEXT_PLAIN
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False
    durable_seq: int = 0
    deferred: PendingAnswer | None = None
