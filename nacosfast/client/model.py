"""Values of the naming model as a client sees them: instances, service snapshots, change events.

``ServiceInfo`` is what one ``instance/list`` answer (or one push) says about one service and cluster
selection at one ``lastRefTime``. Its JSON form is the one Nacos clients write to their disk cache (the
list answer's fields plus ``groupName``), so a cache file is also a valid list answer.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Final

from nacosfast.client.errors import InvalidResponse

DEFAULT_GROUP: Final = "DEFAULT_GROUP"
DEFAULT_CLUSTER: Final = "DEFAULT"
DEFAULT_NAMESPACE: Final = "public"
GROUP_SEPARATOR: Final = "@@"


def grouped_name(service: str, group: str) -> str:
    """``group@@service``; a name that already carries a group is kept, as the server does."""
    if GROUP_SEPARATOR in service:
        return service
    return f"{group or DEFAULT_GROUP}{GROUP_SEPARATOR}{service}"


def split_grouped(name: str) -> tuple[str, str]:
    """``(group, service)`` of ``group@@service``; a plain name is in ``DEFAULT_GROUP``."""
    group, separator, service = name.partition(GROUP_SEPARATOR)
    if not separator:
        return DEFAULT_GROUP, name
    return group, service


def cache_key(grouped: str, clusters: str) -> str:
    """The key of a (service, clusters) selection: ``group@@service[@@clusters]`` (Nacos
    ``ServiceInfo.getKey``)."""
    return f"{grouped}{GROUP_SEPARATOR}{clusters}" if clusters else grouped


def join_clusters(clusters: Iterable[str] | str | None) -> str:
    """The ``clusters`` query value: a comma list, as given (the server echoes it)."""
    if clusters is None:
        return ""
    if isinstance(clusters, str):
        return clusters
    return ",".join(clusters)


@dataclass(frozen=True, slots=True)
class Instance:
    """One registered instance, as listed by the server."""

    ip: str
    port: int
    weight: float = 1.0
    healthy: bool = True
    enabled: bool = True
    ephemeral: bool = True
    cluster: str = DEFAULT_CLUSTER
    service: str = ""
    """The service name without its group."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    instance_id: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        """Identity within one service: (ip, port, cluster)."""
        return self.ip, self.port, self.cluster

    @property
    def address(self) -> str:
        """``ip:port``."""
        return f"{self.ip}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        """The Nacos JSON form (the ``hosts[]`` entry of a list answer)."""
        return {
            "instanceId": self.instance_id,
            "ip": self.ip,
            "port": self.port,
            "weight": self.weight,
            "healthy": self.healthy,
            "enabled": self.enabled,
            "ephemeral": self.ephemeral,
            "clusterName": self.cluster,
            "serviceName": self.service,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, value: Any, group: str) -> Instance:
        """Read one ``hosts[]`` entry; ``InvalidResponse`` if it is not one."""
        if not isinstance(value, dict):
            raise InvalidResponse(f"an instance must be a JSON object, got {type(value).__name__}")
        try:
            ip = value["ip"]
            port = value["port"]
            if not isinstance(ip, str) or not isinstance(port, int) or isinstance(port, bool):
                raise InvalidResponse(f"instance ip/port of the wrong type: {ip!r}:{port!r}")
            metadata = value.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise InvalidResponse("instance metadata must be a JSON object")
            service = str(value.get("serviceName") or "")
            if GROUP_SEPARATOR in service:  # Java-style agents get grouped names back
                service = split_grouped(service)[1]
            return cls(
                ip=ip,
                port=port,
                weight=float(value.get("weight", 1.0)),
                healthy=bool(value.get("healthy", True)),
                enabled=bool(value.get("enabled", True)),
                ephemeral=bool(value.get("ephemeral", True)),
                cluster=str(value.get("clusterName") or DEFAULT_CLUSTER),
                service=service,
                metadata={str(key): str(item) for key, item in metadata.items()},
                instance_id=str(value.get("instanceId") or ""),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidResponse(f"malformed instance {value!r:.200}: {error}") from error


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A service's instances for one cluster selection, as of ``last_ref_time`` (server wall ms)."""

    name: str
    """The grouped name, ``group@@service``."""
    clusters: str = ""
    hosts: tuple[Instance, ...] = ()
    last_ref_time: int = 0
    """Server wall clock (ms) of the answer; 0 when the server gave none (an unknown service)."""
    cache_millis: int = 10_000
    checksum: str = ""

    @property
    def key(self) -> str:
        """Cache key: ``group@@service[@@clusters]``."""
        return cache_key(self.name, self.clusters)

    @property
    def group(self) -> str:
        return split_grouped(self.name)[0]

    @property
    def service(self) -> str:
        return split_grouped(self.name)[1]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (a list answer plus ``groupName``), as written to the disk cache."""
        return {
            "name": self.name,
            "groupName": self.group,
            "clusters": self.clusters,
            "cacheMillis": self.cache_millis,
            "lastRefTime": self.last_ref_time,
            "checksum": self.checksum,
            "hosts": [host.to_json() for host in self.hosts],
        }

    def encode(self) -> bytes:
        """UTF-8 JSON of :meth:`to_json`."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: Any) -> ServiceInfo:
        """Read a list answer, a push's ``data`` or a cache file; ``InvalidResponse`` if malformed."""
        if not isinstance(value, dict):
            raise InvalidResponse(f"a service list must be a JSON object, got {type(value).__name__}")
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidResponse("a service list needs its grouped 'name'")
        name = grouped_name(name, str(value.get("groupName") or DEFAULT_GROUP))
        hosts = value.get("hosts")
        if hosts is None:
            hosts = []
        if not isinstance(hosts, list):
            raise InvalidResponse("'hosts' must be a JSON array")
        group = split_grouped(name)[0]
        try:
            last_ref_time = int(value.get("lastRefTime") or 0)
            cache_millis = int(value.get("cacheMillis") or 0)
        except (TypeError, ValueError) as error:
            raise InvalidResponse(f"bad lastRefTime/cacheMillis: {error}") from error
        return cls(
            name=name,
            clusters=str(value.get("clusters") or ""),
            hosts=tuple(Instance.from_json(host, group) for host in hosts),
            last_ref_time=last_ref_time,
            cache_millis=cache_millis,
            checksum=str(value.get("checksum") or ""),
        )

    @classmethod
    def decode(cls, body: bytes | str) -> ServiceInfo:
        """Parse JSON text into a ``ServiceInfo``; ``InvalidResponse`` if it is not one."""
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise InvalidResponse(f"not JSON: {error}") from error
        return cls.from_json(value)


@dataclass(frozen=True, slots=True)
class ServiceChange:
    """What a listener is told: the service's new instance list and how it differs from the last."""

    service: str
    group: str
    clusters: str
    instances: tuple[Instance, ...]
    added: tuple[Instance, ...] = ()
    removed: tuple[Instance, ...] = ()
    modified: tuple[Instance, ...] = ()
    """The new form of instances whose fields (health, weight, metadata, ...) changed."""

    @property
    def grouped_name(self) -> str:
        return f"{self.group}{GROUP_SEPARATOR}{self.service}"


def diff(old: Sequence[Instance], new: ServiceInfo) -> ServiceChange | None:
    """The change from ``old`` to ``new``'s hosts, keyed by (ip, port, cluster); ``None`` if none."""
    before = {host.key: host for host in old}
    after = {host.key: host for host in new.hosts}
    added = tuple(host for key, host in after.items() if key not in before)
    removed = tuple(host for key, host in before.items() if key not in after)
    modified = tuple(host for key, host in after.items() if key in before and before[key] != host)
    if not (added or removed or modified):
        return None
    return ServiceChange(new.service, new.group, new.clusters, new.hosts, added, removed, modified)


def select(hosts: Iterable[Instance], healthy: bool) -> list[Instance]:
    """Nacos ``selectInstances``: enabled, positive-weight instances whose health equals ``healthy``."""
    return [host for host in hosts if host.healthy == healthy and host.enabled and host.weight > 0]


def pick_weighted(hosts: Sequence[Instance], rng: random.Random) -> Instance | None:
    """One instance at random with probability proportional to its weight (the Java ``Chooser``)."""
    weighted = [host for host in hosts if host.weight > 0]
    if not weighted:
        return None
    bounds = list(accumulate(host.weight for host in weighted))
    index = bisect_right(bounds, rng.random() * bounds[-1])
    return weighted[min(index, len(weighted) - 1)]
