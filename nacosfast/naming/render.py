"""The ``instance/list`` JSON (compatibility.md §3.6, host shape (A) of §2.9), cached per service snapshot.

A snapshot (``Service``) is immutable and replaced on every write, so whatever is rendered from it can
be memoized on it (``Service.cache``) and is dropped with it. The only part of an answer that changes
from one request to the next is ``lastRefTime`` (wall-clock ms), so the cache holds the encoded bytes
before and after that number and a repeated list costs a dict lookup and one ``bytes.join``.

Nacos's ``doSrvIpxt`` in order:

1. an unknown service answers ``{"name","clusters","cacheMillis","hosts":[]}`` (no ``lastRefTime``);
2. the instances of the requested clusters (all when ``clusters`` is empty) are split into a healthy
   and an unhealthy bucket; when ``(float) healthy / all <= protectThreshold`` every instance moves to
   the healthy bucket (with the default threshold 0 that happens whenever none is healthy);
3. ``isCheck=true`` answers ``{}`` when the selection is not empty (a Nacos bug kept for clients);
4. hosts are the healthy bucket, then (unless ``healthyOnly``) the unhealthy one; ``valid`` and
   ``healthy`` both show the bucket; disabled instances are never listed, but they count in step 2.

``dom`` and ``hosts[].serviceName`` carry the ``group@@`` prefix only for Java clients ≥ 1.0.0;
``name`` is always grouped; ``clusters`` and ``env`` echo the request. Service selectors are not
applied: Nacos's label selector only filters with CMDB labels, which a naming server without a CMDB
never has, so it returns every instance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable
from typing import Any, Final

from nacosfast._core.registry import Instance, Service
from nacosfast.javaparse import java_float32
from nacosfast.naming.client_info import ClientInfo
from nacosfast.naming.meta import DEFAULT_SERVICE_META, ServiceMeta
from nacosfast.naming.names import strip_group
from nacosfast.naming.state import NamingState

__all__ = [
    "EMPTY_CHECK_BODY",
    "LIST_VARIANT_TAG",
    "checksum",
    "render_list",
    "service_meta",
    "split_clusters",
]

EMPTY_CHECK_BODY: Final = b"{}"
"""What ``isCheck=true`` answers for a service with instances."""
LIST_VARIANT_TAG: Final = "instance/list"
"""The first element of every list render-cache variant (the compiled request path reads the cache)."""
_CHECKSUM: Final = ("checksum",)


def _dumps(value: Any) -> str:
    # ASCII output: metadata may hold lone surrogates (JSON ``\ud800`` escapes), which cannot be UTF-8.
    return json.dumps(value, separators=(",", ":"))


def service_meta(service: Service) -> ServiceMeta:
    """The application attributes of a snapshot (Nacos defaults when none were set)."""
    meta = service.meta
    return meta if isinstance(meta, ServiceMeta) else DEFAULT_SERVICE_META


def split_clusters(clusters: str) -> frozenset[str]:
    """The cluster names of a ``clusters`` parameter; empty tokens are ignored (commons ``split``)."""
    return frozenset(token for token in clusters.split(",") if token)


def checksum(service: Service) -> str:
    """An MD5 of the service's instance list, computed once per snapshot.

    Nacos hashes its service JSON plus ``ip:port_weight_healthy_cluster`` per sorted instance; the JSON
    part depends on Java ``HashMap`` order and clients never check the value, so nacosfast hashes the
    grouped name and the same per-instance strings.
    """
    cached = service.cached(_CHECKSUM)
    if isinstance(cached, str):
        return cached
    entries = sorted(
        f"{i.ip}:{i.port}_{i.weight!r}_{'true' if i.healthy else 'false'}_{i.cluster}"
        for i in service.instances()
    )
    text = service.name + "".join(entry + "," for entry in entries)
    value = hashlib.md5(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
    service.cache(_CHECKSUM, value)
    return value


def _ratio_reached(healthy: int, total: int, threshold: float) -> bool:
    """Java's ``(float) healthy / total <= threshold``: the ratio is rounded to a 32-bit float."""
    return java_float32(healthy / total) <= threshold


def _host(instance: Instance, bucket: bool, name: str, service_name: str) -> dict[str, Any]:
    """Host shape (A)."""
    return {
        "ip": instance.ip,
        "port": instance.port,
        "valid": bucket,
        "healthy": bucket,
        "marked": instance.marked,
        "instanceId": instance.id_in(name),
        "metadata": dict(instance.metadata),
        "enabled": instance.enabled,
        "weight": instance.weight,
        "clusterName": instance.cluster,
        "serviceName": service_name,
        "ephemeral": instance.ephemeral,
    }


def _render(
    service: Service, clusters: str, grouped: bool, healthy_only: bool, cache_millis: int, env: str
) -> tuple[bytes, bytes, bool]:
    """Encode one list answer around its ``lastRefTime``: ``(before, after, has_instances)``."""
    name = service.name
    shown_name = name if grouped else strip_group(name)
    meta = service_meta(service)
    wanted = split_clusters(clusters)
    # Nacos lists each cluster's persistent instances before its ephemeral ones.
    selected = [
        instance
        for instance in (*service.instances(ephemeral=False), *service.instances(ephemeral=True))
        if not wanted or instance.cluster in wanted
    ]
    hosts: list[dict[str, Any]] = []
    if selected:
        healthy = [instance for instance in selected if instance.healthy]
        unhealthy = [instance for instance in selected if not instance.healthy]
        if _ratio_reached(len(healthy), len(selected), meta.protect_threshold):
            healthy += unhealthy
            unhealthy = []
        hosts = [_host(i, True, name, shown_name) for i in healthy if i.enabled]
        if not healthy_only:
            hosts += [_host(i, False, name, shown_name) for i in unhealthy if i.enabled]
    head = _dumps({"hosts": hosts, "dom": shown_name, "name": name, "cacheMillis": cache_millis})
    tail = _dumps(
        {
            "checksum": checksum(service),
            "useSpecifiedURL": False,
            "clusters": clusters,
            "env": env,
            "metadata": dict(meta.metadata),
        }
    )
    return (head[:-1] + ',"lastRefTime":').encode(), ("," + tail[1:]).encode(), bool(selected)


def render_list(
    state: NamingState,
    namespace: str,
    service: str,
    clusters: str,
    client_info: ClientInfo,
    client_ip: str,
    healthy_only: bool,
    cache_millis: int,
    wall_ms: int,
    *,
    env: str = "",
    is_check: bool = False,
) -> bytes:
    """The ``instance/list`` body for one client: ``service`` is the grouped name.

    ``client_ip`` would feed a CMDB label selector; without a CMDB every instance is selected (see
    the module docstring). Push passes ``cache_millis`` 10000, ``env`` ``""`` and ``healthy_only``
    false, as Nacos's push data source does.
    """
    snapshot = state.registry.get(namespace, service)
    if snapshot is None:
        return _dumps(
            {"name": service, "clusters": clusters, "cacheMillis": cache_millis, "hosts": []}
        ).encode()
    grouped = client_info.wants_grouped_names
    variant: Hashable = (LIST_VARIANT_TAG, clusters, grouped, healthy_only, cache_millis, env)
    parts = snapshot.cached(variant)
    if parts is None:
        parts = _render(snapshot, clusters, grouped, healthy_only, cache_millis, env)
        snapshot.cache(variant, parts)
    before, after, has_instances = parts
    if is_check and has_instances:
        return EMPTY_CHECK_BODY
    return b"%b%d%b" % (before, wall_ms, after)
