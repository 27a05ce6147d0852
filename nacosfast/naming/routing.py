"""Cluster routing of writes: a write or beat for a service another node owns goes to that owner.

Nacos's ``DistroFilter`` (docs/cluster.md) forwards instance writes and beats to the responsible node. Here:

- ephemeral instance writes (register, update, patch, deregister), the metadata batch and manual health
  changes are *forwarded*: the request goes to the owner in a batch per peer, and the owner's answer
  is the answer (``Forwarding.forward`` returns a deferred response). If the owner cannot be reached
  the request is handled here, as the owner would have (AP);
- a beat whose instance this node knows is *answered here* with the reply the owner would give, and
  the beat is *relayed* to the owner in a batch (fire and forget; a lost one is repeated by the
  client's next beat). If the owner does not know the instance (it lost it, or a write for it was
  handled here while the owner was unreachable), it says so and this node forwards a registration
  built from its copy (``reregistration``), as a Nacos beat re-registers an unknown instance. A beat
  for an instance unknown here is forwarded like a write, so a beat that re-registers an instance
  reaches the owner;
- persistent writes stay on the node that received them (they are journaled there);
- a request that was itself forwarded is never forwarded again (the loop guard): if views of the
  membership disagree, the receiving node handles it.

A request without a valid service name is not forwarded (it has no owner): handled here, it gets the
400 any node would give. Other mistakes are found by the owner, which answers the same 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

from nacosfast.cluster.members import service_key
from nacosfast.errors import NacosError
from nacosfast.naming import instances
from nacosfast.naming.context import Context
from nacosfast.naming.names import namespace_param, required_grouped_name
from nacosfast.naming.params import Params
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request, Response

__all__ = ["reregistration", "route"]

ServiceOf = Callable[[Params], tuple[str, str]]
REGISTER_PATH: Final = "/nacos/v1/ns/instance"


def _write_service(params: Params) -> tuple[str, str]:
    return namespace_param(params), required_grouped_name(params)


def _is_persistent_write(ctx: Context) -> bool:
    params = ctx.params
    if "consistencyType" in params:  # metadata batch: "persist" names persistent instances only
        return params.optional("consistencyType") == "persist"
    return not params.commons_bool("ephemeral", ctx.state.switches.defaultInstanceEphemeral)


_FORWARDED: Final[dict[tuple[str, str], ServiceOf]] = {
    ("POST", "/v1/ns/instance"): _write_service,
    ("PUT", "/v1/ns/instance"): _write_service,
    ("PATCH", "/v1/ns/instance"): _write_service,
    ("DELETE", "/v1/ns/instance"): _write_service,
    ("PUT", "/v1/ns/instance/metadata/batch"): _write_service,
    ("DELETE", "/v1/ns/instance/metadata/batch"): _write_service,
    ("PUT", "/v1/ns/health"): _write_service,
    ("PUT", "/v1/ns/health/instance"): _write_service,
}
"""Writes that go to the owner: route → how to read their service from the parameters."""

_RELAYED: Final[dict[tuple[str, str], ServiceOf]] = {
    ("PUT", "/v1/ns/instance/beat"): instances.beat_service,
    **{
        (method, "/v1/ns/api/clientBeat"): instances.client_beat_service
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
    },
}
"""Beats: answered here and relayed when the instance is known here, else forwarded."""


def route(ctx: Context, route_key: tuple[str, str]) -> Response | None:
    """The answer for a request that belongs to another node, or ``None`` to handle it here."""
    state = ctx.state
    members = state.members
    forwarding = state.forwarding
    if members is None or forwarding is None:
        return None
    relayed = False
    service_of = _FORWARDED.get(route_key)
    if service_of is None:
        service_of = _RELAYED.get(route_key)
        if service_of is None:
            return None
        relayed = True
    try:
        namespace, name = service_of(ctx.params)
        owner = members.owner_of(service_key(namespace, name))
        if owner == members.self_address:
            return None
        if relayed:
            answer = instances.relay_beat(ctx, namespace, name, owner, forwarding)
            if answer is not None:
                return answer
        elif _is_persistent_write(ctx):
            return None
    except (NacosError, ValueError):  # no valid service, so no owner: answer it here
        return None
    return forwarding.forward(owner, ctx.request)


def reregistration(state: NamingState, namespace: str, name: str, key: str) -> Request | None:
    """A registration of this node's copy of an ephemeral instance, for an owner that lacks it."""
    service = state.registry.get(namespace, name)
    instance = service.get(key, True) if service is not None else None
    if instance is None or instance.marked:
        return None
    query = urlencode(
        {
            "namespaceId": namespace,
            "serviceName": name,
            "ip": instance.ip,
            "port": instance.port,
            "clusterName": instance.cluster,
            "weight": repr(instance.weight),
            "enabled": "true" if instance.enabled else "false",
            "ephemeral": "true",
            "metadata": json.dumps(dict(instance.metadata)),
            "app": instance.app,
        }
    )
    return Request("POST", REGISTER_PATH, query=query.encode())
