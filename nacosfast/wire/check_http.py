"""The HTTP health check's request and the status line of its answer, sans-I/O.

Nacos resolves the checker's ``path`` as a URL against ``http://ip:port`` (``new URL(host, path)``), so
a path such as ``http://elsewhere/`` would check another host. Here the request always goes to the
instance's own address: only the path and query of ``path`` are kept, and anything a request line
cannot carry (spaces, control characters, non-ASCII) is percent-encoded. ``headers`` is Nacos's
``name:value|name2:value2``; an entry that does not split into exactly two parts is skipped (as Nacos
does), and one whose name is not an HTTP token or whose value holds control characters is skipped too,
so a checker can never inject a header line. The answer's status line is all that is read.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, urlsplit

from nacosfast.limits import HTTP_CHECK_MAX_TARGET_BYTES

__all__ = ["USER_AGENT", "check_request", "check_target", "parse_headers", "parse_status_line"]

USER_AGENT: Final = "VIPServer"
"""The ``User-Agent`` Nacos's HTTP checks send."""
_SAFE_TARGET: Final = "/?&=%:@!$'()*+,;~-._"
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: |\r?$)")


def check_target(path: str) -> str:
    """The request target for the checker's ``path``: its path and query, on the instance itself."""
    try:
        parts = urlsplit(path.strip())
        target, query = parts.path, parts.query
    except ValueError:  # e.g. an unbalanced '[' in what looks like a host
        target, query = path.strip(), ""
    if not target.startswith("/"):
        target = "/" + target
    if query:
        target += "?" + query
    return quote(target, safe=_SAFE_TARGET)


def parse_headers(headers: str) -> list[tuple[str, str]]:
    """Nacos's ``name:value|name2:value2`` custom headers, keeping only well-formed ones."""
    parsed: dict[str, tuple[str, str]] = {}
    for entry in headers.split("|"):
        parts = entry.split(":")
        while len(parts) > 1 and not parts[-1]:  # Java's split drops trailing empty strings
            parts.pop()
        if len(parts) != 2:
            continue
        name, value = parts[0].strip(), parts[1].strip()
        if _TOKEN.fullmatch(name) and _VALUE.fullmatch(value):
            parsed[name.lower()] = (name, value)
    return list(parsed.values())


def check_request(ip: str, port: int, path: str, headers: str) -> bytes:
    """The whole ``GET`` request of one check (``Connection: close``). ``ValueError`` if too large."""
    host = f"[{ip}]" if ":" in ip else ip
    fields = {"host": ("Host", f"{host}:{port}"), "user-agent": ("User-Agent", USER_AGENT)}
    for name, value in parse_headers(headers):
        fields[name.lower()] = (name, value)
    fields["connection"] = ("Connection", "close")
    lines = [f"GET {check_target(path)} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in fields.values())
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    if len(request) > HTTP_CHECK_MAX_TARGET_BYTES:
        raise ValueError(f"health check request is larger than {HTTP_CHECK_MAX_TARGET_BYTES} bytes")
    return request


def parse_status_line(data: bytes) -> int | None:
    """The status code once ``data`` holds the whole status line; ``ValueError`` if it is not HTTP."""
    end = data.find(b"\n")
    if end < 0:
        if not b"HTTP/1.".startswith(bytes(data[:7])):
            raise ValueError("not an HTTP answer")
        return None
    match = _STATUS_LINE.match(data[:end])
    if match is None:
        raise ValueError(f"bad status line {bytes(data[: min(end, 64)])!r}")
    return int(match.group(1))
