"""The Nacos 1.x v1 naming API as the client uses it: requests as values, answers decoded.

Requests carry the parameters the Java client sends (grouped ``serviceName`` plus ``groupName``,
``namespaceId`` always), so a real Nacos 1.x server and nacosfast read them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from nacosfast.client.errors import InvalidResponse
from nacosfast.client.model import DEFAULT_CLUSTER, split_grouped

BASE: Final = "/nacos/v1/ns"
USER_AGENT: Final = "Nacos-Java-Client:v1.4.8"
"""Nacos 1.x pushes only to clients whose User-Agent names a push-capable agent (Java ≥ 0.1.0, Go,
C, C#, DNS); Python 0.1.x is never pushed to. The SDK speaks the Java client's protocol (grouped
names, light beats, push acks), so it presents the Java client's agent, as the Node client does."""
CLIENT_VERSION_HEADER: Final = ("Client-Version", "nacosfast-python-0.1.0")
RESOURCE_NOT_FOUND: Final = 20404
"""Beat reply ``code``: the server does not know the instance; the client registers it again."""


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request: method, path, parameters (query string, or form body when ``form``)."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    form: bool = False


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What a client registers: the instance's fields as the server stores them."""

    grouped: str
    ip: str
    port: int
    cluster: str = DEFAULT_CLUSTER
    weight: float = 1.0
    enabled: bool = True
    healthy: bool = True
    ephemeral: bool = True
    metadata: Mapping[str, str] = field(default_factory=dict)

    def params(self, namespace: str) -> dict[str, str]:
        return {
            "namespaceId": namespace,
            "serviceName": self.grouped,
            "groupName": split_grouped(self.grouped)[0],
            "clusterName": self.cluster,
            "ip": self.ip,
            "port": str(self.port),
            "weight": repr(float(self.weight)),
            "enable": _bool(self.enabled),
            "enabled": _bool(self.enabled),
            "healthy": _bool(self.healthy),
            "ephemeral": _bool(self.ephemeral),
            "metadata": json.dumps(dict(self.metadata), ensure_ascii=False, separators=(",", ":")),
        }

    def beat_json(self, period_ms: int) -> str:
        """The ``beat`` parameter (Java ``BeatInfo``)."""
        return json.dumps(
            {
                "serviceName": self.grouped,
                "ip": self.ip,
                "port": self.port,
                "cluster": self.cluster,
                "weight": float(self.weight),
                "metadata": dict(self.metadata),
                "ephemeral": self.ephemeral,
                "scheduled": False,
                "period": period_ms,
                "stopped": False,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def register(namespace: str, spec: InstanceSpec) -> ApiCall:
    return ApiCall("POST", f"{BASE}/instance", spec.params(namespace))


def update(namespace: str, spec: InstanceSpec) -> ApiCall:
    return ApiCall("PUT", f"{BASE}/instance", spec.params(namespace))


def deregister(namespace: str, spec: InstanceSpec) -> ApiCall:
    params = {
        "namespaceId": namespace,
        "serviceName": spec.grouped,
        "groupName": split_grouped(spec.grouped)[0],
        "clusterName": spec.cluster,
        "ip": spec.ip,
        "port": str(spec.port),
        "ephemeral": _bool(spec.ephemeral),
    }
    return ApiCall("DELETE", f"{BASE}/instance", params)


def beat(namespace: str, spec: InstanceSpec, period_ms: int, *, light: bool) -> ApiCall:
    """A beat; a light one names the instance by parameters only (the server may then answer 20404)."""
    params = {
        "namespaceId": namespace,
        "serviceName": spec.grouped,
        "groupName": split_grouped(spec.grouped)[0],
        "clusterName": spec.cluster,
        "ip": spec.ip,
        "port": str(spec.port),
    }
    if not light:
        params["beat"] = spec.beat_json(period_ms)
    return ApiCall("PUT", f"{BASE}/instance/beat", params, form=True)


def list_instances(
    namespace: str,
    grouped: str,
    clusters: str,
    *,
    healthy_only: bool = False,
    udp_port: int = 0,
    client_ip: str = "",
) -> ApiCall:
    params = {
        "namespaceId": namespace,
        "serviceName": grouped,
        "groupName": split_grouped(grouped)[0],
        "clusters": clusters,
        "healthyOnly": _bool(healthy_only),
    }
    if udp_port > 0:
        params["udpPort"] = str(udp_port)
        params["clientIP"] = client_ip
    return ApiCall("GET", f"{BASE}/instance/list", params)


def service_list(namespace: str, group: str, page_no: int, page_size: int) -> ApiCall:
    params = {
        "namespaceId": namespace,
        "groupName": group,
        "pageNo": str(page_no),
        "pageSize": str(page_size),
    }
    return ApiCall("GET", f"{BASE}/service/list", params)


def metrics() -> ApiCall:
    return ApiCall("GET", f"{BASE}/operator/metrics")


# --- answers ------------------------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidResponse(f"not JSON: {body[:200]!r}") from error


def expect_ok(body: bytes) -> None:
    """Writes answer exactly ``ok``."""
    if body.strip() != b"ok":
        raise InvalidResponse(f"expected 'ok', got {body[:200]!r}")


@dataclass(frozen=True, slots=True)
class BeatReply:
    """What a beat answer tells the client."""

    interval_ms: int
    """``clientBeatInterval``; 0 when absent."""
    code: int
    light_beat_enabled: bool


def decode_beat_reply(body: bytes) -> BeatReply:
    """The beat answer ``{"clientBeatInterval":..,"code":..,"lightBeatEnabled":..}``; a plain ``ok``
    (servers before 1.1) is a successful beat with no advice."""
    if body.strip() == b"ok":
        return BeatReply(0, 10200, light_beat_enabled=False)
    value = _json(body)
    if not isinstance(value, dict):
        raise InvalidResponse(f"beat answer is not a JSON object: {body[:200]!r}")
    try:
        return BeatReply(
            interval_ms=int(value.get("clientBeatInterval") or 0),
            code=int(value.get("code") or 10200),
            light_beat_enabled=value.get("lightBeatEnabled") is True,
        )
    except (TypeError, ValueError) as error:
        raise InvalidResponse(f"malformed beat answer {body[:200]!r}") from error


@dataclass(frozen=True, slots=True)
class ServicePage:
    """One page of ``service/list``: the total count and the names (without group) on this page."""

    count: int
    names: tuple[str, ...]


def decode_service_page(body: bytes) -> ServicePage:
    value = _json(body)
    if not isinstance(value, dict) or not isinstance(value.get("doms"), list):
        raise InvalidResponse(f"service list answer without 'doms': {body[:200]!r}")
    names = tuple(str(name) for name in value["doms"])
    try:
        count = int(value.get("count", len(names)))
    except (TypeError, ValueError) as error:
        raise InvalidResponse("malformed service list count") from error
    return ServicePage(count, names)


def decode_metrics_up(body: bytes) -> bool:
    """Whether ``operator/metrics`` says ``"status":"UP"`` (the Java ``serverHealthy`` check)."""
    value = _json(body)
    return isinstance(value, dict) and value.get("status") == "UP"
