"""Nacos ``SwitchDomain``: server-wide switches shown by ``GET /operator/switches`` (compatibility.md §4).

The JSON includes null fields, as Spring writes this POJO. Only the switches nacosfast acts on change
its behaviour; the others are kept and shown so that operators' tools see what Nacos shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from nacosfast.limits import CLIENT_BEAT_INTERVAL_MS, DEFAULT_CACHE_MILLIS, PUSH_CACHE_MILLIS

SWITCH_DOMAIN_NAME: Final = "00-00---000-NACOS_SWITCH_DOMAIN-000---00-00"


@dataclass(slots=True)
class Switches:
    """Every SwitchDomain field with Nacos 1.4.8's default. Field names are the JSON keys."""

    name: str = SWITCH_DOMAIN_NAME
    masters: list[str] | None = None
    adWeightMap: dict[str, int] = field(default_factory=dict)
    defaultPushCacheMillis: int = PUSH_CACHE_MILLIS
    clientBeatInterval: int = CLIENT_BEAT_INTERVAL_MS
    defaultCacheMillis: int = DEFAULT_CACHE_MILLIS
    distroThreshold: float = 0.7
    healthCheckEnabled: bool = True
    autoChangeHealthCheckEnabled: bool = True
    distroEnabled: bool = True
    enableStandalone: bool = True
    pushEnabled: bool = True
    checkTimes: int = 3
    httpHealthParams: dict[str, float] = field(
        default_factory=lambda: {"max": 5000, "min": 500, "factor": 0.85}
    )
    tcpHealthParams: dict[str, float] = field(
        default_factory=lambda: {"max": 5000, "min": 1000, "factor": 0.75}
    )
    mysqlHealthParams: dict[str, float] = field(
        default_factory=lambda: {"max": 3000, "min": 2000, "factor": 0.65}
    )
    incrementalList: list[str] = field(default_factory=list)
    serverStatusSynchronizationPeriodMillis: int = 2_000
    serviceStatusSynchronizationPeriodMillis: int = 5_000
    disableAddIP: bool = False
    sendBeatOnly: bool = False
    lightBeatEnabled: bool = True
    limitedUrlMap: dict[str, int] = field(default_factory=dict)
    distroServerExpiredMillis: int = 10_000
    pushGoVersion: str = "0.1.0"
    pushJavaVersion: str = "0.1.0"
    pushPythonVersion: str = "0.4.3"
    pushCVersion: str = "1.0.12"
    pushCSharpVersion: str = "0.9.0"
    enableAuthentication: bool = False
    overriddenServerStatus: str | None = None
    defaultInstanceEphemeral: bool = True
    healthCheckWhiteList: list[str] = field(default_factory=list)
    checksum: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The SwitchDomain JSON object, nulls included."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Switches:
        """Known fields from a SwitchDomain JSON object; unknown fields are ignored."""
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
