"""Client type and version from ``User-Agent`` (Nacos ``ClientInfo``, spec §1.6 and §7.1)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final


class ClientKind(enum.Enum):
    """Nacos ``ClientType``."""

    JAVA = "JAVA"
    DNS = "DNS"
    C = "C"
    JAVA_SDK = "JAVA_SDK"
    NACOS_SERVER = "NACOS_SERVER"
    TENGINE = "TENGINE"
    GO = "GO"
    CSHARP = "CSHARP"
    UNKNOWN = "UNKNOWN"


_PREFIXES: Final = (
    ("Nacos-Java-Client", ClientKind.JAVA),
    ("Nacos-DNS", ClientKind.DNS),
    ("Nacos-C-Client", ClientKind.C),
    ("vip-client4cpp", ClientKind.C),
    ("Nacos-SDK-Java", ClientKind.JAVA_SDK),
    ("Nacos-Server", ClientKind.NACOS_SERVER),
    ("unit-nginx", ClientKind.TENGINE),
    ("Nacos-Go-Client", ClientKind.GO),
    ("Nacos-CSharp-Client", ClientKind.CSHARP),
)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_NO_VERSION: Final = (0, 0, 0)
DEFAULT_PUSH_MIN_VERSIONS: Final = {
    ClientKind.JAVA: (0, 1, 0),
    ClientKind.DNS: (0, 4, 3),
    ClientKind.C: (1, 0, 12),
    ClientKind.GO: (0, 1, 0),
    ClientKind.CSHARP: (0, 9, 0),
}
"""SwitchDomain ``push*Version`` defaults: the oldest client of each kind that is pushed to."""
_CACHE_LIMIT: Final = 1024
"""Distinct User-Agent strings remembered; clients send a handful, so this bounds hostile variety."""


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """What a ``User-Agent`` says about the client."""

    kind: ClientKind
    version: tuple[int, int, int]

    @property
    def wants_grouped_names(self) -> bool:
        """Java clients from 1.0.0 get ``group@@service`` in ``dom`` and ``hosts[].serviceName``."""
        return self.kind is ClientKind.JAVA and self.version >= (1, 0, 0)


_cache: dict[str, ClientInfo] = {}


def parse_client_info(user_agent: str) -> ClientInfo:
    """Classify a ``User-Agent`` by prefix; the version is the x.y.z after ``:v`` (else 0.0.0)."""
    info = _cache.get(user_agent)
    if info is not None:
        return info
    kind = ClientKind.UNKNOWN
    for prefix, candidate in _PREFIXES:
        if user_agent.startswith(prefix):
            kind = candidate
            break
    version = _NO_VERSION
    marker = user_agent.find(":v")
    if marker >= 0:
        match = _VERSION.match(user_agent, marker + 2)
        if match:
            version = (int(match[1]), int(match[2]), int(match[3]))
    info = ClientInfo(kind, version)
    if len(_cache) < _CACHE_LIMIT:
        _cache[user_agent] = info
    return info


def may_push(
    info: ClientInfo, min_versions: dict[ClientKind, tuple[int, int, int]] = DEFAULT_PUSH_MIN_VERSIONS
) -> bool:
    """Whether Nacos would UDP-push to this client (Java and Node yes; Python 0.1.x never)."""
    minimum = min_versions.get(info.kind)
    return minimum is not None and info.version >= minimum
