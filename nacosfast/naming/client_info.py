"""Client type and version from ``User-Agent`` (Nacos ``ClientInfo``, compatibility.md §1.6 and §7.1)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from nacosfast.javaparse import UNKNOWN_VERSION, parse_version
from nacosfast.limits import MAX_CLIENT_INFO_MEMO
from nacosfast.naming.memo import BoundedMemo


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
DEFAULT_PUSH_MIN_VERSIONS: Final = {
    ClientKind.JAVA: (0, 1, 0),
    ClientKind.DNS: (0, 4, 3),
    ClientKind.C: (1, 0, 12),
    ClientKind.GO: (0, 1, 0),
    ClientKind.CSHARP: (0, 9, 0),
}
"""SwitchDomain ``push*Version`` defaults: the oldest client of each kind that is pushed to."""


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """What a ``User-Agent`` says about the client."""

    kind: ClientKind
    version: tuple[int, int, int]

    @property
    def wants_grouped_names(self) -> bool:
        """Java clients from 1.0.0 get ``group@@service`` in ``dom`` and ``hosts[].serviceName``."""
        return self.kind is ClientKind.JAVA and self.version >= (1, 0, 0)


def parse_client_info(user_agent: str) -> ClientInfo:
    """Classify a ``User-Agent`` by prefix; the version is what follows ``:v`` (Jackson's
    ``VersionUtil.parseVersion``), else 0.0.0. Nacos would parse from the second character when
    there is no ``:v``; nacosfast takes that as "no version"."""
    kind = ClientKind.UNKNOWN
    for prefix, candidate in _PREFIXES:
        if user_agent.startswith(prefix):
            kind = candidate
            break
    marker = user_agent.find(":v")
    version = parse_version(user_agent[marker + 2 :]) if marker >= 0 else UNKNOWN_VERSION
    return ClientInfo(kind, version)


class ClientInfoMemo:
    """``User-Agent`` → ``ClientInfo`` for one node: clients send a handful of distinct agents.

    Bounded by ``limit``; once full, further agents are parsed per request and not remembered.
    """

    __slots__ = ("_memo",)

    def __init__(self, limit: int = MAX_CLIENT_INFO_MEMO) -> None:
        self._memo: BoundedMemo[str, ClientInfo] = BoundedMemo(limit, clear_when_full=False)

    def __len__(self) -> int:
        return len(self._memo)

    def get(self, user_agent: str) -> ClientInfo:
        """The client a ``User-Agent`` describes (``parse_client_info``, remembered)."""
        info = self._memo.get(user_agent)
        if info is None:
            info = parse_client_info(user_agent)
            self._memo.put(user_agent, info)
        return info


def may_push(
    info: ClientInfo, min_versions: dict[ClientKind, tuple[int, int, int]] = DEFAULT_PUSH_MIN_VERSIONS
) -> bool:
    """Whether Nacos would UDP-push to this client (Java and Node yes; Python 0.1.x never)."""
    minimum = min_versions.get(info.kind)
    return minimum is not None and info.version >= minimum
