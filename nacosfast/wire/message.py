"""The request and response values passed between the HTTP layer and the application."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"
TEXT_PLAIN = b"text/plain;charset=UTF-8"
APPLICATION_JSON = b"application/json;charset=UTF-8"


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
    _params: dict[str, str] | None = None

    @property
    def params(self) -> dict[str, str]:
        """Query-string and form-body parameters (Spring's ``getParameter``: first value wins).

        Raises ``UnicodeDecodeError`` for percent-escapes that are not UTF-8 (the HTTP layer answers 400).
        """
        if self._params is None:
            merged: dict[str, str] = {}
            sources = [self.query]
            if self.body and self.headers.get(b"content-type", b"").startswith(FORM_CONTENT_TYPE):
                sources.append(self.body)
            for source in sources:
                if source:
                    for key, value in parse_qsl(
                        source.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict"
                    ):
                        merged.setdefault(key, value)
            self._params = merged
        return self._params

    @property
    def user_agent(self) -> str:
        """``User-Agent``, else ``Client-Version`` (Nacos ``ClientInfo``)."""
        raw = self.headers.get(b"user-agent") or self.headers.get(b"client-version") or b""
        return raw.decode("latin-1")


@dataclass(slots=True)
class Response:
    """One HTTP response. ``durable_seq`` > 0 means: send only after the log made that record durable."""

    status: int = 200
    body: bytes = b"ok"
    content_type: bytes = TEXT_PLAIN
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False
    durable_seq: int = 0
