"""What the ``NamingApp.handle`` benchmarks share: requests as the HTTP layer hands them over, and a
journal that only counts (no payload is kept, so long runs do not grow memory)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from nacosfast.wire.message import FORM_CONTENT_TYPE, Request

JAVA_UA = b"Nacos-Java-Client:v1.4.8"


class NullJournal:
    """A journal sink that numbers records and drops them."""

    def __init__(self) -> None:
        self.seq = 0

    def append(self, payload: bytes) -> int:
        self.seq += 1
        return self.seq


def request(method: str, path: str, params: dict[str, Any], form: dict[str, Any] | None = None) -> Request:
    """A Java-client request with ``params`` in the query and, if given, ``form`` as the body."""
    headers = {b"user-agent": JAVA_UA}
    body = b""
    if form is not None:
        headers[b"content-type"] = FORM_CONTENT_TYPE
        body = urlencode(form).encode()
    return Request(method=method, path=path, query=urlencode(params).encode(), headers=headers, body=body)
