"""Health endpoints (compatibility.md §3.12): set an instance's health by hand, and the health probes.

``PUT /health`` only works on a cluster whose checker is ``NONE`` (nothing else decides its health).
Nacos answers a missing service or cluster with a NullPointerException (500); nacosfast with 404.
"""

from __future__ import annotations

from typing import Final

from nacosfast._core.registry import Instance, Service
from nacosfast.errors import BadRequest, NotFound
from nacosfast.javaparse import commons_bool
from nacosfast.naming import effects
from nacosfast.naming.checkers import NONE, all_checkers, cluster_names
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.names import (
    DEFAULT_CLUSTER,
    check_cluster,
    namespace_param,
    required_grouped_name,
)
from nacosfast.naming.render import service_meta
from nacosfast.naming.replies import json_reply, ok
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Response

_MAX_PORT: Final = 65_535


def _find(service: Service, cluster: str, ip: str, port: int) -> Instance | None:
    """The first instance at ``ip:port`` in the cluster, persistent ones first (``Cluster.allIPs``)."""
    for ephemeral in (False, True):
        for instance in service.instances(ephemeral=ephemeral):
            if instance.cluster == cluster and instance.ip == ip and instance.port == port:
                return instance
    return None


def _retrack(state: NamingState, namespace: str, name: str, instance: Instance, healthy: bool) -> None:
    """Tell the beat table the new health, keeping the last beat: beats and expiry go on as in Nacos.

    Marked unhealthy, the next beat revives the instance; marked healthy without beats, the next
    sweep finds it stale again. An untracked (marked) instance stays untracked.
    """
    key = effects.beat_key(namespace, name, instance.key)
    last = state.beats.last_beat(key)
    if last is not None:
        state.beats.track(key, last, instance.beat_timeout_ms, instance.delete_timeout_ms, healthy)


def update_health(ctx: Context) -> Response:
    """``PUT /health`` and ``/health/instance``: set one instance's health (checker ``NONE`` only)."""
    params = ctx.params
    text = params.optional("healthy") or params.optional("valid")
    if not text:
        raise BadRequest("Param 'healthy' is required.")
    healthy = commons_bool(text)
    name = required_grouped_name(params)
    namespace = namespace_param(params)
    cluster = check_cluster(params.optional("clusterName", DEFAULT_CLUSTER))
    ip = params.required("ip")
    port = params.integer("port", low=0, high=_MAX_PORT)
    state = ctx.state
    service = state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"no service {name} found!")
    meta = service_meta(service)
    if cluster not in cluster_names(service, meta):
        raise NotFound(f"cluster {cluster} is not found in service {name}")
    if meta.cluster(cluster).health_checker.get("type") != NONE:
        raise BadRequest(f"health check is still working, service: {name}")
    instance = _find(service, cluster, ip, port)
    if instance is None:
        raise NotFound(f"no matched ip found! {ip}:{port} in cluster {cluster} of service {name}")
    number = 0
    if not instance.ephemeral:
        number = effects.persist_instance(state, namespace, name, instance.replace(healthy=healthy))
    change = state.registry.set_healthy(namespace, name, instance.key, instance.ephemeral, healthy)
    effects.notify(state, change, ctx.now_ms)
    if instance.ephemeral:
        _retrack(state, namespace, name, instance, healthy)
    return ok(number)


def server_health(ctx: Context) -> Response:
    """``/health/server``: Nacos's hello message with the service count and the local port."""
    state = ctx.state
    return json_reply(
        {
            "msg": "Hello! I am Nacos-Naming and healthy! total services: raft "
            f"{state.registry.service_count}, local port:{state.identity.port}"
        }
    )


def checkers(ctx: Context) -> Response:
    """``GET /health/checkers``: a default instance of every health checker type."""
    return json_reply(all_checkers())


ROUTES: Routes = {
    ("PUT", "/v1/ns/health"): update_health,
    ("PUT", "/v1/ns/health/instance"): update_health,
    ("GET", "/v1/ns/health/checkers"): checkers,
    **any_method("/v1/ns/health/server", server_health),
}
