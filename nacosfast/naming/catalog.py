"""Catalog endpoints and cluster settings (compatibility.md §3.12): the views the Nacos console reads.

``/catalog/instances`` writes each instance in the full shape (C) with ``lastBeat`` in epoch ms:
the beat table keeps monotonic time, so a tracked instance's last beat is shown as
``wall_ms - (now_ms - last_beat)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from nacosfast._core.registry import Instance, Service
from nacosfast.errors import BadRequest, NotFound
from nacosfast.javaparse import LONG_MAX, commons_bool, java_float32, lenient_int
from nacosfast.limits import MAX_PAGE_SIZE
from nacosfast.naming import effects, journal
from nacosfast.naming.checkers import cluster_full, cluster_names, parse_health_checker
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.meta import ClusterConfig
from nacosfast.naming.metadata import parse_metadata
from nacosfast.naming.names import (
    GROUP_SEPARATOR,
    check_cluster,
    namespace_param,
    required_grouped_name,
    split_grouped,
)
from nacosfast.naming.render import service_meta
from nacosfast.naming.replies import json_reply, ok, page, required_service
from nacosfast.wire.message import Response

ID_GENERATOR_KEY: Final = "preserved.instance.id.generator"
DEFAULT_ID_GENERATOR: Final = "simple"
_MAX_PORT: Final = 65_535


def _last_beat_wall_ms(ctx: Context, namespace: str, name: str, instance: Instance) -> int:
    """The instance's last beat in epoch ms; now for instances the beat table does not track."""
    if instance.ephemeral:
        last = ctx.state.beats.last_beat(effects.beat_key(namespace, name, instance.key))
        if last is not None:
            return ctx.wall_ms - (ctx.now_ms - last)
    return ctx.wall_ms


def instance_full_json(instance: Instance, name: str, last_beat: int) -> dict[str, Any]:
    """Shape (C): the Jackson-written server ``Instance``, nulls omitted."""
    metadata = instance.metadata
    result: dict[str, Any] = {
        "instanceId": instance.id_in(name),
        "ip": instance.ip,
        "port": instance.port,
        "weight": instance.weight,
        "healthy": instance.healthy,
        "enabled": instance.enabled,
        "ephemeral": instance.ephemeral,
        "clusterName": instance.cluster,
        "serviceName": name,
        "metadata": dict(metadata),
        "lastBeat": last_beat,
        "marked": instance.marked,
        "instanceHeartBeatInterval": instance.beat_interval_ms,
        "instanceHeartBeatTimeOut": instance.beat_timeout_ms,
        "ipDeleteTimeout": instance.delete_timeout_ms,
    }
    if instance.app is not None:
        result["app"] = instance.app
    if not metadata:
        result["instanceIdGenerator"] = DEFAULT_ID_GENERATOR
    elif ID_GENERATOR_KEY in metadata:
        result["instanceIdGenerator"] = metadata[ID_GENERATOR_KEY]
    return result


def _cluster_instances(service: Service, cluster: str) -> list[Instance]:
    """A cluster's instances as ``Cluster.allIPs()``: persistent ones, then ephemeral ones."""
    persistent = [i for i in service.instances(ephemeral=False) if i.cluster == cluster]
    return persistent + [i for i in service.instances(ephemeral=True) if i.cluster == cluster]


def service_detail(ctx: Context) -> Response:
    """``GET /catalog/service``: the service's attributes and its full Cluster objects."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    service = required_service(ctx.state, namespace, name)
    meta = service_meta(service)
    group, bare = split_grouped(name)
    occupied = set(service.clusters())
    return json_reply(
        {
            "service": {
                "name": bare,
                "protectThreshold": meta.protect_threshold,
                "groupName": group,
                "selector": dict(meta.selector),
                "metadata": dict(meta.metadata),
            },
            "clusters": [
                cluster_full(name, cluster, meta.cluster(cluster), cluster not in occupied)
                for cluster in cluster_names(service, meta)
            ],
        }
    )


def instance_list(ctx: Context) -> Response:
    """``/catalog/instances``: one page of a cluster's instances in shape (C)."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    cluster = params.required("clusterName")
    page_no = params.integer("pageNo")
    page_size = params.integer("pageSize", low=0)
    service = required_service(ctx.state, namespace, name)
    if cluster not in cluster_names(service, service_meta(service)):
        raise NotFound(f"cluster {cluster} is not found!")
    instances = _cluster_instances(service, cluster)
    size = min(page_size, MAX_PAGE_SIZE)
    chosen = page(instances, (page_no - 1) * page_size, size)
    listed = [instance_full_json(i, name, _last_beat_wall_ms(ctx, namespace, name, i)) for i in chosen]
    return json_reply({"list": listed, "count": len(instances)})


def _name_matches(name: str, pattern: str) -> bool:
    """``getPagedService``'s ``group@@service`` search: each non-blank part is a substring of its part.

    Nacos builds a regex from the raw text; nacosfast matches literally (no client-supplied regex).
    """
    group_part, _, service_part = pattern.partition(GROUP_SEPARATOR)
    group, service = split_grouped(name)
    if group_part.strip() and group_part not in group:
        return False
    return not service_part.strip() or service_part in service


def _contains_instance(service: Service, wanted: str) -> bool:
    """The ``instance`` filter (``IPUtil.containsPort``): ``ip:port``, ``[v6]:port`` or a bare ip."""
    with_port = wanted.count(":") == 1 or (wanted.startswith("[") and "]:" in wanted)
    for instance in service.instances():
        if with_port:
            if wanted in (f"{instance.ip}:{instance.port}", f"[{instance.ip}]:{instance.port}"):
                return True
        elif instance.ip == wanted:
            return True
    return False


def _healthy_count(service: Service) -> int:
    return sum(1 for instance in service.instances() if instance.healthy)


def _trigger_flag(service: Service, threshold: float) -> str:
    """``Service.triggerFlag``: healthy/all ≤ threshold (a Java float); never for an empty service."""
    total = len(service)
    if total == 0:
        return "false"
    return "true" if _healthy_count(service) / total <= java_float32(threshold) else "false"


def service_list(ctx: Context) -> Response:
    """``GET /catalog/services``: the console's service table, or with ``withInstances`` every host.

    As in Nacos, the table pages with ``pageNo - 1``, ``withInstances`` with ``pageNo``, and a page
    size at least the number of matches returns every match. Pages hold at most ``MAX_PAGE_SIZE``.
    """
    params = ctx.params
    with_instances = params.spring_bool("withInstances")
    namespace = namespace_param(params)
    page_no = params.integer("pageNo")
    page_size = min(params.integer("pageSize", low=0), MAX_PAGE_SIZE)
    service_param = params.raw("serviceNameParam")
    group_param = params.raw("groupNameParam")
    wanted = params.raw("instance").strip()
    has_ip_count = params.spring_bool("hasIpCount")
    pattern = (
        ""
        if not service_param.strip() and not group_param.strip()
        else group_param + GROUP_SEPARATOR + service_param
    )
    registry = ctx.state.registry
    names = registry.services(namespace)
    if pattern:
        names = [name for name in names if _name_matches(name, pattern)]
    if not with_instances and (has_ip_count or wanted):
        kept = []
        for name in names:
            service = registry.get(namespace, name)
            if service is None or (has_ip_count and len(service) == 0):
                continue
            if wanted and not _contains_instance(service, wanted):
                continue
            kept.append(name)
        names = kept
    index = page_no if with_instances else page_no - 1
    shown = names if page_size >= len(names) else page(names, index * page_size, page_size)
    chosen = [service for name in shown if (service := registry.get(namespace, name)) is not None]
    if with_instances:
        return json_reply([_service_with_instances(service) for service in chosen])
    views = []
    for service in chosen:
        meta = service_meta(service)
        group, bare = split_grouped(service.name)
        views.append(
            {
                "name": bare,
                "groupName": group,
                "clusterCount": len(cluster_names(service, meta)),
                "ipCount": len(service),
                "healthyInstanceCount": _healthy_count(service),
                "triggerFlag": _trigger_flag(service, meta.protect_threshold),
            }
        )
    return json_reply({"serviceList": views, "count": len(names)})


def _service_with_instances(service: Service) -> dict[str, Any]:
    """``ServiceDetailInfo``: the service with every cluster's hosts."""
    meta = service_meta(service)
    group, bare = split_grouped(service.name)
    cluster_map = {}
    for cluster in cluster_names(service, meta):
        hosts = [
            {
                "valid": instance.healthy,
                "metadata": dict(instance.metadata),
                "port": instance.port,
                "ip": instance.ip,
                "weight": instance.weight,
                "enabled": instance.enabled,
            }
            for instance in _cluster_instances(service, cluster)
        ]
        cluster_map[cluster] = {"hosts": hosts}
    return {
        "serviceName": bare,
        "groupName": group,
        "clusterMap": cluster_map,
        "metadata": dict(meta.metadata),
    }


def rt_service(ctx: Context) -> Response:
    """``/catalog/rt/service``: health-check response times per cluster.

    A cluster this node does not check (yet) shows Nacos's values before a first check: best
    ``Long.MAX_VALUE``, worst 0, normalized -1.
    """
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    state = ctx.state
    service = state.registry.get(namespace, name)
    if service is None:
        raise NotFound("request service doesn't exist")
    checks = state.health_checks
    clusters = []
    for cluster in cluster_names(service, service_meta(service)):
        figures = None if checks is None else checks.check_rt(namespace, name, cluster)
        best, worst, normalized = figures or (LONG_MAX, 0, -1)
        clusters.append(
            {"name": cluster, "checkRTBest": best, "checkRTWorst": worst, "checkRTNormalized": normalized}
        )
    return json_reply({"clusters": clusters})


def update_cluster(ctx: Context) -> Response:
    """``PUT /cluster``: set a cluster's health checker, check port and metadata (creating it)."""
    params = ctx.params
    namespace = namespace_param(params)
    cluster = check_cluster(params.required("clusterName"))
    name = required_grouped_name(params)
    check_port = lenient_int(params.required("checkPort"))
    if not 0 <= check_port <= _MAX_PORT:
        raise BadRequest(f"checkPort must be in [0, {_MAX_PORT}], current: {check_port}")
    use_instance_port = commons_bool(params.required("useInstancePort4Check"))
    checker = parse_health_checker(params.required("healthChecker"))
    metadata = parse_metadata(params.optional("metadata"))
    state = ctx.state
    service = state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"service not found:{name}")
    config = ClusterConfig.from_json(
        {
            "healthChecker": checker,
            "checkPort": check_port,
            "useInstancePort": use_instance_port,
            "metadata": metadata,
        }
    )
    meta = replace(service_meta(service).with_cluster(cluster, config), persisted=True)
    number = effects.persist(state, journal.service_key(namespace, name), meta)
    state.registry.set_meta(namespace, name, meta)
    return ok(number)


ROUTES: Routes = {
    ("GET", "/v1/ns/catalog/service"): service_detail,
    ("GET", "/v1/ns/catalog/services"): service_list,
    ("PUT", "/v1/ns/cluster"): update_cluster,
    **any_method("/v1/ns/catalog/instances", instance_list),
    **any_method("/v1/ns/catalog/rt/service", rt_service),
}
