"""Service endpoints (compatibility.md §3.10–3.12): CRUD, lists, names, subscribers, ``/api/allDomNames``.

Service attributes (protect threshold, metadata, selector) live in ``ServiceMeta`` on the registry's
snapshot; every change goes through :mod:`nacosfast.naming.effects` (push, beats, journal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from nacosfast.errors import BadRequest, NotFound
from nacosfast.javaparse import lenient_int
from nacosfast.naming import effects, journal, render
from nacosfast.naming.checkers import cluster_brief, cluster_names
from nacosfast.naming.client_info import ClientKind
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.metadata import parse_metadata
from nacosfast.naming.names import (
    DEFAULT_GROUP,
    DEFAULT_NAMESPACE,
    GROUP_SEPARATOR,
    check_namespace,
    namespace_param,
    required_grouped_name,
    split_grouped,
    strip_group,
)
from nacosfast.naming.params import parse_float
from nacosfast.naming.render import service_meta
from nacosfast.naming.replies import json_reply, ok, page, required_service
from nacosfast.naming.selectors import parse_list_filter, parse_selector
from nacosfast.wire.message import Response

ALL_GROUPS: Final = "*"
"""``groupName=*`` lists the services of every group, with grouped names."""
DEFAULT_SUBSCRIBER_PAGE_SIZE: Final = 1000
OLD_DNSF_VERSION: Final = (1, 0, 1)
"""DNS-F clients up to this version get the flat ``allDomNames`` answer for ``public`` only."""


def _write_attributes(
    ctx: Context,
    namespace: str,
    name: str,
    base: ServiceMeta,
    threshold: float,
    metadata: dict[str, str],
    selector: Mapping[str, Any],
) -> Response:
    """Journal ``base`` with the ``/service`` attributes, marked persisted, then store it and push."""
    meta = replace(
        base,
        persisted=True,
        protect_threshold=threshold,
        metadata=MappingProxyType(metadata),
        selector=MappingProxyType(dict(selector)),
    )
    state = ctx.state
    number = effects.persist(state, journal.service_key(namespace, name), meta)
    effects.notify(state, state.registry.set_meta(namespace, name, meta), ctx.now_ms)
    return ok(number)


def create_service(ctx: Context) -> Response:
    """``POST /service``: create an empty service with its attributes; 400 if it exists."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    threshold = params.number("protectThreshold", 0.0)
    metadata = parse_metadata(params.raw("metadata"))
    selector = parse_selector(params.raw("selector"))
    if ctx.state.registry.get(namespace, name) is not None:
        raise BadRequest(f"specified service already exists, serviceName : {name}")
    return _write_attributes(ctx, namespace, name, ServiceMeta(), threshold, metadata, selector)


def remove_service(ctx: Context) -> Response:
    """``DELETE /service``: remove the service with all its instances (Nacos 1.x does not refuse)."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    state = ctx.state
    service = state.registry.get(namespace, name)
    if service is None:
        raise BadRequest(f"specified service not exist, serviceName : {name}")
    number = effects.persist_service_removal(state, namespace, name) if journal.is_durable(service) else 0
    effects.untrack_service(state, service)
    effects.notify(state, state.registry.remove_service(namespace, name), ctx.now_ms)
    return ok(number)


def update_service(ctx: Context) -> Response:
    """``PUT /service``: set threshold, metadata (missing clears) and selector (missing resets)."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    threshold = parse_float("protectThreshold", params.required("protectThreshold"))
    metadata = parse_metadata(params.optional("metadata"))
    selector = parse_selector(params.optional("selector"))
    service = ctx.state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"service {name} not found!")
    return _write_attributes(ctx, namespace, name, service_meta(service), threshold, metadata, selector)


def service_detail(ctx: Context) -> Response:
    """``GET /service``: the service's attributes and its clusters' settings."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    service = required_service(ctx.state, namespace, name)
    meta = service_meta(service)
    group, bare = split_grouped(name)
    return json_reply(
        {
            "name": bare,
            "namespaceId": namespace,
            "protectThreshold": meta.protect_threshold,
            "metadata": dict(meta.metadata),
            "selector": dict(meta.selector),
            "groupName": group,
            "clusters": [cluster_brief(c, meta.cluster(c)) for c in cluster_names(service, meta)],
        }
    )


def list_services(ctx: Context) -> Response:
    """``GET /service/list``: one page of service names, sorted by grouped name."""
    params = ctx.params
    page_no = lenient_int(params.required("pageNo"))
    page_size = lenient_int(params.required("pageSize"))
    namespace = namespace_param(params)
    group = params.optional("groupName", DEFAULT_GROUP)
    selector = parse_list_filter(params.optional("selector"))
    registry = ctx.state.registry
    names = registry.services(namespace)
    prefix = group + GROUP_SEPARATOR
    if group != ALL_GROUPS:
        names = [name for name in names if name.startswith(prefix)]
    if selector is not None:
        kept = []
        for name in names:
            service = registry.get(namespace, name)
            if service is not None and selector.matches(service, service_meta(service)):
                kept.append(name)
        names = kept
    doms = page(names, (page_no - 1) * page_size, page_size)
    if group != ALL_GROUPS:
        doms = [name[len(prefix) :] for name in doms]
    return json_reply({"doms": doms, "count": len(names)})


def service_names(ctx: Context) -> Response:
    """``/service/names``: names containing ``expr`` per namespace (all namespaces when none is given).

    Nacos matches ``expr`` as a regex fragment; nacosfast matches it literally (a client-supplied
    regex could backtrack for seconds). ``count`` is the number of namespaces, as in Nacos.
    """
    params = ctx.params
    namespace = params.raw("namespaceId").strip()
    expr = params.raw("expr")
    params.spring_bool("responsibleOnly")  # a standalone node is responsible for every service
    registry = ctx.state.registry
    namespaces = [check_namespace(namespace)] if namespace else registry.namespaces()
    services = {
        ns: sorted({strip_group(name) for name in registry.services(ns) if expr in name}) for ns in namespaces
    }
    return json_reply({"services": services, "count": len(services)})


def all_dom_names(ctx: Context) -> Response:
    """``/api/allDomNames``: every service name (without group) per namespace; flat for old DNS-F."""
    ctx.params.java_bool("responsibleOnly")  # a standalone node is responsible for every service
    registry = ctx.state.registry
    client = ctx.client
    if client.kind is ClientKind.DNS and client.version <= OLD_DNSF_VERSION:
        flat = sorted({strip_group(name) for name in registry.services(DEFAULT_NAMESPACE)})
        return json_reply({"count": len(flat), "doms": flat})
    doms = {ns: sorted({strip_group(name) for name in registry.services(ns)}) for ns in registry.namespaces()}
    return json_reply({"count": sum(len(names) for names in doms.values()), "doms": doms})


def subscribers(ctx: Context) -> Response:
    """``GET /service/subscribers``: this node's push subscribers, one page.

    As Nacos, names match by substring on the service and on the group (``subscribers_fuzzy`` of the
    push table). A standalone node is the whole cluster, so ``aggregation`` asks no one else.
    """
    params = ctx.params
    page_no = lenient_int(params.optional("pageNo", "1"))
    page_size = lenient_int(params.optional("pageSize", str(DEFAULT_SUBSCRIBER_PAGE_SIZE)))
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    params.java_bool("aggregation", True)
    found = [item.to_json() for item in ctx.state.push.subscribers_fuzzy(namespace, name)]
    chosen = page(found, (page_no - 1) * page_size, page_size)
    return json_reply({"subscribers": chosen, "count": len(found)})


def checksum(ctx: Context) -> Response:
    """``PUT /service/checksum``: ``{"checksum":"<md5>"}``; 404 for an unknown service."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    service = ctx.state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"serviceName not found: {name}")
    return json_reply({"checksum": render.checksum(service)})


ROUTES: Routes = {
    ("POST", "/v1/ns/service"): create_service,
    ("DELETE", "/v1/ns/service"): remove_service,
    ("PUT", "/v1/ns/service"): update_service,
    ("GET", "/v1/ns/service"): service_detail,
    ("GET", "/v1/ns/service/list"): list_services,
    ("GET", "/v1/ns/service/subscribers"): subscribers,
    ("PUT", "/v1/ns/service/checksum"): checksum,
    **any_method("/v1/ns/service/names", service_names),
    **any_method("/v1/ns/api/allDomNames", all_dom_names),
}
