"""The server list (Nacos ``NamingProxy``): static addresses, or an address server's list refreshed
every 30 s, and the order in which one request tries them.

A request starts at the server that answered last and moves on to the next one on a connection error,
a timeout or a 5xx; a server that answered keeps being used first, so a client sticks to one server
(and its keep-alive connection) while it works.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass
from typing import Final

from nacosfast.client.limits import (
    DEFAULT_ENDPOINT_PORT,
    DEFAULT_SERVER_PORT,
    ENDPOINT_REFRESH_MS,
    MAX_SERVERS,
)

_HOST_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,253}")


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """``host:port`` of one server."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str, default_port: int = DEFAULT_SERVER_PORT) -> Address:
    """``host``, ``host:port``, ``[v6]:port`` or ``http://host:port`` → ``Address``; ``ValueError``."""
    value = text.strip()
    for scheme in ("http://", "https://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    value = value.split("/", 1)[0]
    if not value:
        raise ValueError(f"empty server address in {text!r}")
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif ":" in value:  # a bare IPv6 address, without a port
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValueError(f"bad server address {text!r} (write IPv6 as [addr]:port)") from None
    if not host:
        raise ValueError(f"server address without a host: {text!r}")
    if ":" not in host and not _HOST_NAME.fullmatch(host):
        raise ValueError(f"bad host name in server address {text!r}")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in server address {text!r}")
        port = int(port_text)
    return Address(host, port)


def parse_addresses(text: str, default_port: int = DEFAULT_SERVER_PORT) -> list[Address]:
    """A comma (or newline) separated address list, duplicates removed, order kept."""
    found: dict[Address, None] = {}
    for part in text.replace("\r", "\n").replace("\n", ",").split(","):
        if part.strip():
            found[parse_address(part, default_port)] = None
    return list(found)[:MAX_SERVERS]


def parse_endpoint_answer(body: bytes) -> list[Address]:
    """An address server's answer: one ``ip[:port]`` per line; lines that are not addresses are
    skipped (an HTML error page yields nothing)."""
    found: dict[Address, None] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        try:
            found[parse_address(line)] = None
        except ValueError:
            continue
        if len(found) >= MAX_SERVERS:
            break
    return list(found)


class ServerList:
    """Which servers to try, in which order; refreshed from an endpoint when one is configured."""

    def __init__(
        self,
        servers: list[Address],
        *,
        endpoint: Address | None = None,
        refresh_ms: int = ENDPOINT_REFRESH_MS,
        rng: random.Random | None = None,
    ) -> None:
        if not servers and endpoint is None:
            raise ValueError("give at least one server address or an endpoint")
        self._servers = list(servers)
        self.endpoint = endpoint
        self.refresh_ms = refresh_ms
        self._next_refresh_ms: int | None = None  # None: refresh now (the first time)
        rng = rng or random.Random()
        # Clients of one deployment spread over its servers, as Nacos picks a random start.
        self._preferred = rng.randrange(len(servers)) if servers else 0

    @classmethod
    def from_text(cls, servers: str = "", endpoint: str = "", rng: random.Random | None = None) -> ServerList:
        """From ``"host:port,host:port"`` and/or an address server ``"host[:port]"``."""
        endpoint_address = parse_address(endpoint, DEFAULT_ENDPOINT_PORT) if endpoint.strip() else None
        return cls(parse_addresses(servers), endpoint=endpoint_address, rng=rng)

    @property
    def servers(self) -> tuple[Address, ...]:
        return tuple(self._servers)

    def order(self) -> list[Address]:
        """Servers in the order one request tries them: the last good one first."""
        count = len(self._servers)
        return [self._servers[(self._preferred + step) % count] for step in range(count)]

    def succeeded(self, server: Address) -> None:
        """``server`` answered: try it first next time."""
        if server in self._servers:
            self._preferred = self._servers.index(server)

    def refresh_due(self, now_ms: int) -> bool:
        """Whether the endpoint should be asked again."""
        return self.endpoint is not None and (
            self._next_refresh_ms is None or now_ms >= self._next_refresh_ms
        )

    def next_refresh_ms(self) -> int | None:
        """When the endpoint is next due (``None`` without an endpoint)."""
        if self.endpoint is None:
            return None
        return self._next_refresh_ms if self._next_refresh_ms is not None else 0

    def refreshed(self, servers: list[Address] | None, now_ms: int) -> bool:
        """Record an endpoint answer (``None`` when it failed); whether the list changed. An empty or
        failed answer keeps the old list: a broken address server must not leave the client without
        servers."""
        self._next_refresh_ms = now_ms + self.refresh_ms
        if not servers or servers == self._servers:
            return False
        current = self._servers[self._preferred] if self._servers else None
        self._servers = list(servers)
        self._preferred = self._servers.index(current) if current in self._servers else 0
        return True
