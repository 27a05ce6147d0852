"""Console and core endpoints (compatibility.md §5): namespaces, health probes, server state, nodes.

Nacos keeps namespaces in its config database; nacosfast keeps them in ``NamespaceTable`` and
journals every change. ``public`` (id ``""`` on the console) always exists and cannot be changed or
deleted. Deleting a namespace leaves its services alone, as in Nacos. Unlike Nacos (which answers
``true`` and changes nothing), editing or deleting an unknown namespace is 404, and a malformed id is
400; a duplicate id answers ``false`` as in Nacos.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.errors import BadRequest, NotFound
from nacosfast.limits import (
    MAX_NAMESPACE_DESC_LENGTH,
    MAX_NAMESPACE_ID_LENGTH,
    MAX_NAMESPACE_NAME_LENGTH,
    MAX_NAMESPACES,
)
from nacosfast.naming import effects
from nacosfast.naming.context import Context, Routes
from nacosfast.naming.journal import namespace_key
from nacosfast.naming.members import members, self_member, server_status
from nacosfast.naming.names import check_namespace
from nacosfast.naming.namespaces import NAMESPACE_QUOTA, PUBLIC_NAMESPACE, Namespace
from nacosfast.naming.params import Params
from nacosfast.naming.replies import json_reply, request_param, rest_result
from nacosfast.wire.message import TEXT_PLAIN, Response

CUSTOM_NAMESPACE_ID: Final = re.compile(r"[A-Za-z0-9_-]+")
"""Nacos's ``^[\\w-]+`` with ``matches()``: the whole id, ASCII word characters and ``-``."""
TYPE_PUBLIC: Final = 0
TYPE_CUSTOM: Final = 2
CONFIG_COUNT: Final = 0
"""Configurations per namespace: a naming-only server holds none."""
FUNCTION_MODE: Final = "naming"
"""``nacos.functionMode``: the console shows only the naming pages."""
NOT_READY: Final = b"Naming is not in readiness"


def _is_public(namespace_id: str) -> bool:
    return namespace_id in ("", PUBLIC_NAMESPACE)


def _bounded(key: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise BadRequest(f"Param '{key}' is too long: at most {limit} characters")
    return value


def _namespace_view(namespace: Namespace) -> dict[str, Any]:
    return {
        "namespace": namespace.namespace_id,
        "namespaceShowName": namespace.show_name,
        "quota": NAMESPACE_QUOTA,
        "configCount": CONFIG_COUNT,
        "type": TYPE_CUSTOM,
    }


def list_namespaces(ctx: Context) -> Response:
    """``GET /console/namespaces``: ``public`` first, then custom namespaces in creation order."""
    public = {
        "namespace": "",
        "namespaceShowName": PUBLIC_NAMESPACE,
        "quota": NAMESPACE_QUOTA,
        "configCount": CONFIG_COUNT,
        "type": TYPE_PUBLIC,
    }
    views = [public] + [_namespace_view(namespace) for namespace in ctx.state.namespaces.all()]
    return rest_result(views)


def namespace_detail(ctx: Context) -> Response:
    """``GET /console/namespaces?show=all&namespaceId=``: one namespace with its description."""
    namespace_id = request_param(ctx.params, "namespaceId")
    if _is_public(namespace_id.strip()):
        return json_reply(
            {
                "namespace": namespace_id,
                "namespaceShowName": "Public",
                "quota": NAMESPACE_QUOTA,
                "configCount": CONFIG_COUNT,
                "type": TYPE_PUBLIC,
                "namespaceDesc": "Public Namespace",
            }
        )
    namespace = ctx.state.namespaces.get(namespace_id)
    if namespace is None:
        raise NotFound(f"namespace {namespace_id[:128]} is not found")
    return json_reply({**_namespace_view(namespace), "namespaceDesc": namespace.description})


def namespace_exists(ctx: Context) -> Response:
    """``GET /console/namespaces?checkNamespaceIdExist=true&customNamespaceId=``: ``true``/``false``."""
    namespace_id = request_param(ctx.params, "customNamespaceId")
    if not namespace_id.strip():
        return json_reply(False)
    return json_reply(namespace_id in ctx.state.namespaces)


def get_namespaces(ctx: Context) -> Response:
    """``GET /console/namespaces``: the list, or one of the two parameter-selected forms."""
    params = ctx.params
    if params.raw("show") == "all":
        return namespace_detail(ctx)
    if params.raw("checkNamespaceIdExist") == "true":
        return namespace_exists(ctx)
    return list_namespaces(ctx)


def _custom_id(raw: str) -> str:
    """A console-chosen namespace id: blank is a new UUID; else ``[A-Za-z0-9_-]+``, at most 128."""
    namespace_id = raw.strip()
    if not namespace_id:
        return str(uuid.uuid4())
    if len(namespace_id) > MAX_NAMESPACE_ID_LENGTH or not CUSTOM_NAMESPACE_ID.fullmatch(namespace_id):
        raise BadRequest(
            f"Param 'customNamespaceId' is illegal: up to {MAX_NAMESPACE_ID_LENGTH} of A-Za-z0-9_-, "
            f"current: {namespace_id[:128]}"
        )
    return check_namespace(namespace_id)


def _show_name(params: Params, key: str) -> str:
    name = request_param(params, key).strip()
    if not name:
        raise BadRequest(f"Param '{key}' is required.")
    return _bounded(key, name, MAX_NAMESPACE_NAME_LENGTH)


def _requested_namespace(params: Params, namespace_id: str, name_key: str) -> Namespace:
    """The namespace a create or edit asks for: the show name under ``name_key``, the description."""
    show_name = _show_name(params, name_key)
    description = _bounded("namespaceDesc", params.raw("namespaceDesc"), MAX_NAMESPACE_DESC_LENGTH)
    return Namespace(namespace_id, show_name, description)


def _store_namespace(ctx: Context, namespace: Namespace) -> Response:
    """Journal the namespace (first: the journal may refuse), keep it, answer ``true`` once durable."""
    seq = effects.persist(ctx.state, namespace_key(namespace.namespace_id), namespace)
    ctx.state.namespaces.put(namespace)
    return json_reply(True, durable_seq=seq)


def create_namespace(ctx: Context) -> Response:
    """``POST /console/namespaces``: ``true``, or ``false`` when the id is taken."""
    params = ctx.params
    namespace_id = _custom_id(request_param(params, "customNamespaceId"))
    namespace = _requested_namespace(params, namespace_id, "namespaceName")
    table = ctx.state.namespaces
    if namespace_id in table:
        return json_reply(False)
    if len(table) >= MAX_NAMESPACES:
        raise BadRequest(f"too many namespaces: at most {MAX_NAMESPACES}")
    return _store_namespace(ctx, namespace)


def edit_namespace(ctx: Context) -> Response:
    """``PUT /console/namespaces``: change a custom namespace's name and description."""
    params = ctx.params
    namespace_id = request_param(params, "namespace").strip()
    namespace = _requested_namespace(params, namespace_id, "namespaceShowName")
    if _is_public(namespace_id):
        raise BadRequest("the public namespace cannot be changed")
    if ctx.state.namespaces.get(namespace_id) is None:
        raise NotFound(f"namespace {namespace_id[:128]} is not found")
    return _store_namespace(ctx, namespace)


def delete_namespace(ctx: Context) -> Response:
    """``DELETE /console/namespaces``: remove a custom namespace (its services stay, as in Nacos)."""
    namespace_id = request_param(ctx.params, "namespaceId").strip()
    if _is_public(namespace_id):
        raise BadRequest("the public namespace cannot be deleted")
    table = ctx.state.namespaces
    if table.get(namespace_id) is None:
        raise NotFound(f"namespace {namespace_id[:128]} is not found")
    seq = effects.persist(ctx.state, namespace_key(namespace_id), None)  # first: it may refuse
    table.remove(namespace_id)
    return json_reply(True, durable_seq=seq)


def liveness(ctx: Context) -> Response:
    """``GET /console/health/liveness``: ``OK`` while the process answers."""
    return Response(body=b"OK")


def readiness(ctx: Context) -> Response:
    """``GET /console/health/readiness``: ``OK`` when the server status is ``UP``, else 500."""
    if server_status(ctx.state) == "UP":
        return Response(body=b"OK")
    return Response(status=500, body=NOT_READY, content_type=TEXT_PLAIN)


def server_state(ctx: Context) -> Response:
    """``GET /console/server/state``: standalone or cluster, function mode and version."""
    mode = "standalone" if ctx.state.identity.standalone else "cluster"
    return json_reply(
        {"standalone_mode": mode, "function_mode": FUNCTION_MODE, "version": NACOS_COMPAT_VERSION}
    )


def cluster_nodes(ctx: Context) -> Response:
    """``GET /core/cluster/nodes``: members whose address equals or starts with ``keyword``."""
    keyword = ctx.params.raw("keyword")
    listed = members(ctx.state, ctx.wall_ms)
    if keyword.strip():
        listed = [member for member in listed if member["address"].startswith(keyword)]
    return rest_result(listed)


def cluster_self(ctx: Context) -> Response:
    """``GET /core/cluster/self``: this node's Member."""
    return rest_result(self_member(ctx.state, ctx.wall_ms))


def cluster_simple_nodes(ctx: Context) -> Response:
    """``GET /core/cluster/simple/nodes``: the addresses of the members."""
    return rest_result([member["address"] for member in members(ctx.state, ctx.wall_ms)])


def cluster_health(ctx: Context) -> Response:
    """``GET /core/cluster/health``: this node's member state."""
    return rest_result(self_member(ctx.state, ctx.wall_ms)["state"])


ROUTES: Routes = {
    ("GET", "/v1/console/namespaces"): get_namespaces,
    ("POST", "/v1/console/namespaces"): create_namespace,
    ("PUT", "/v1/console/namespaces"): edit_namespace,
    ("DELETE", "/v1/console/namespaces"): delete_namespace,
    ("GET", "/v1/console/health/liveness"): liveness,
    ("GET", "/v1/console/health/readiness"): readiness,
    ("GET", "/v1/console/server/state"): server_state,
    ("GET", "/v1/core/cluster/nodes"): cluster_nodes,
    ("GET", "/v1/core/cluster/self"): cluster_self,
    ("GET", "/v1/core/cluster/simple/nodes"): cluster_simple_nodes,
    ("GET", "/v1/core/cluster/health"): cluster_health,
}
