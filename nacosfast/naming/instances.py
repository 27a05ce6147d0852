"""Instance endpoints: register, deregister, update, patch, detail, list, beat, metadata batch, statuses
(compatibility.md §3.1–3.9) and the legacy ``/api/srvIPXT`` and ``/api/clientBeat`` (§3.12).

Every parameter is read and validated before anything is written, so a rejected request leaves the
registry untouched. Every write then goes through ``effects``: push is told, ephemeral instances are
(re)tracked in the heartbeat table, and persistent data is journaled; the answer to a persistent write
carries ``durable_seq`` so that the HTTP layer sends it only once the record is on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from nacosfast._core.beats import BEAT_REVIVED, BEAT_UNKNOWN
from nacosfast._core.registry import Instance, Service
from nacosfast.errors import BadRequest, NacosError, NotFound, client_values, required_param
from nacosfast.javaparse import java_bool, java_trim, parse_java_int, parse_version
from nacosfast.limits import (
    MAX_BATCH_INSTANCES,
    MAX_BEAT_BYTES,
    MAX_CLUSTERS_PARAM_LENGTH,
)
from nacosfast.naming import effects, journal
from nacosfast.naming.client_info import ClientInfo, ClientKind, may_push
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.memo import PushMinimums
from nacosfast.naming.meta import DEFAULT_SERVICE_META
from nacosfast.naming.metadata import check_metadata, loads_exact, metadata_from_json, parse_metadata
from nacosfast.naming.names import (
    DEFAULT_CLUSTER,
    DEFAULT_GROUP,
    GROUP_SEPARATOR,
    check_cluster,
    check_grouped_name,
    check_ip,
    check_namespace,
    cluster_param,
    datum_key,
    grouped_name,
    namespace_param,
    required_grouped_name,
)
from nacosfast.naming.params import Params, parse_int, parse_json
from nacosfast.naming.render import render_list, service_meta
from nacosfast.naming.state import Forwarding, NamingState
from nacosfast.naming.switches import Switches
from nacosfast.wire.message import APPLICATION_JSON, Response, parse_form

__all__ = [
    "ROUTES",
    "ListQuery",
    "ServiceTest",
    "after_beat",
    "apply_relayed_beat",
    "beat_ok_body",
    "beat_service",
    "client_beat_service",
    "datum_key",
    "deregister_ephemeral",
    "light_beat_names_valid",
    "light_beat_target",
    "list_subscribes",
    "metadata_or_none",
    "owns_everything",
    "register_ephemeral",
    "relay_beat",
    "remove_ephemeral",
    "subscribe_lister",
    "upsert",
]

CODE_OK: Final = 10200
"""``NamingResponseCode.OK`` in a beat reply."""
CODE_NOT_FOUND: Final = 20404
"""``NamingResponseCode.RESOURCE_NOT_FOUND``: a light beat for an unknown instance (re-register)."""
DEFAULT_APP: Final = "DEFAULT"
MIN_POSITIVE_WEIGHT: Final = 0.01
"""Nacos's ``Service.onChange`` raises weights in (0, 0.01) to 0.01."""
LOOPBACK: Final = "127.0.0.1"
_INTERVAL_KEY: Final = "preserved.heart.beat.interval"
_ID_GENERATOR_KEY: Final = "preserved.instance.id.generator"
_SNOWFLAKE: Final = "snowflake"
_MAX_PORT: Final = 65535
_EPHEMERAL_SUFFIX: Final = {True: "ephemeral", False: "persist"}
_CONSISTENCY_TYPES: Final = {suffix: ephemeral for ephemeral, suffix in _EPHEMERAL_SUFFIX.items()}
"""``consistencyType`` of the metadata batch → the kind of instance it names."""
ServiceTest = Callable[[str, str], bool]
"""A question about a service, by namespace and grouped name (e.g. whether this node owns it)."""


def _json(value: Any) -> Response:
    return Response(body=json.dumps(value, separators=(",", ":")).encode(), content_type=APPLICATION_JSON)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """A JSON object without its ``null`` members: clients write ``null`` for "not set", so it reads as
    absent (the field's default), where Jackson would put Java's zero value (``false``, ``0``)."""
    if None not in fields.values():
        return fields
    return {key: item for key, item in fields.items() if item is not None}


# --- reading an instance from parameters -----------------------------------------------------------


def _port(params: Params, key: str = "port") -> int:
    """A required port, 0..65535."""
    return params.integer(key, low=0, high=_MAX_PORT)


def _weight(value: float) -> float:
    """Nacos's 0.01 floor for positive weights (``Instance`` itself refuses anything outside 0..10000)."""
    if 0.0 < value < MIN_POSITIVE_WEIGHT:
        return MIN_POSITIVE_WEIGHT
    return value


def _build(
    ip: str,
    port: int,
    cluster: str,
    *,
    weight: float = 1.0,
    healthy: bool = True,
    enabled: bool = True,
    ephemeral: bool = True,
    metadata: Mapping[str, str] | None = None,
    app: str | None = None,
) -> Instance:
    """An ``Instance``; the core's validation errors become 400."""
    with client_values():
        return Instance(
            ip,
            port,
            cluster,
            weight=_weight(weight),
            healthy=healthy,
            enabled=enabled,
            ephemeral=ephemeral,
            metadata=metadata,
            app=app,
        )


def _instance_from_params(params: Params, switches: Switches) -> Instance:
    """Nacos ``parseInstance``: every register/update parameter with its default (§3.1)."""
    ip = check_ip(params.required("ip"))
    port = _port(params)
    cluster = cluster_param(params)
    weight = params.number("weight", 1.0)
    enabled = params.commons_bool("enabled", params.commons_bool("enable", True))
    healthy = params.commons_bool("healthy", True)
    ephemeral = params.commons_bool("ephemeral", switches.defaultInstanceEphemeral)
    metadata = parse_metadata(params.optional("metadata"))
    app = params.name("app", default=DEFAULT_APP)
    return _build(
        ip,
        port,
        cluster,
        weight=weight,
        healthy=healthy,
        enabled=enabled,
        ephemeral=ephemeral,
        metadata=metadata,
        app=app,
    )


def _java_string(instance: Instance) -> str:
    """Nacos ``Instance.toString``: ``datumKey_weight_healthy_marked_cluster``."""
    flags = "_".join("true" if flag else "false" for flag in (instance.healthy, instance.marked))
    return f"{instance.key}_{instance.weight!r}_{flags}_{instance.cluster}"


# --- writes ---------------------------------------------------------------------------------------


def _snowflake_id(service: Service | None, ephemeral: bool, name: str) -> str:
    """The smallest non-negative integer id not used in the service's list of that kind."""
    used = {instance.id_in(name) for instance in service.instances(ephemeral)} if service else set()
    candidate = 0
    while str(candidate) in used:
        candidate += 1
    return str(candidate)


def _mark_persisted(state: NamingState, namespace: str, name: str) -> None:
    """A persistent instance puts its service's attributes in the durable store (Nacos: CP store)."""
    service = state.registry.get(namespace, name)
    meta = service_meta(service) if service is not None else DEFAULT_SERVICE_META
    if not meta.persisted:
        meta = replace(meta, persisted=True)
        effects.persist(state, journal.service_key(namespace, name), meta)
        state.registry.set_meta(namespace, name, meta)


def _put(state: NamingState, namespace: str, name: str, instance: Instance, now_ms: int) -> Response:
    """Journal ``instance`` (persistent), write it, tell push, and track it (ephemeral)."""
    # Journaled even when nothing changes: an identical write still answers only once it is durable.
    number = 0 if instance.ephemeral else effects.persist_instance(state, namespace, name, instance)
    change = state.registry.put_instance(namespace, name, instance, DEFAULT_SERVICE_META)
    effects.notify(state, change, now_ms)
    if instance.ephemeral:
        effects.track(state, namespace, name, instance, now_ms)
    return Response(durable_seq=number)


def upsert(state: NamingState, namespace: str, name: str, instance: Instance, now_ms: int) -> Response:
    """Register semantics (§3.1): upsert by datumKey, keeping an existing instance's id and health."""
    service = state.registry.get(namespace, name)
    existing = service.get(instance.key, instance.ephemeral) if service is not None else None
    if existing is not None:
        instance = instance.replace(
            healthy=existing.healthy, marked=existing.marked, instance_id=existing.instance_id
        )
    elif instance.metadata.get(_ID_GENERATOR_KEY, "").lower() == _SNOWFLAKE:
        instance = instance.replace(instance_id=_snowflake_id(service, instance.ephemeral, name))
    if not instance.ephemeral:
        _mark_persisted(state, namespace, name)
    return _put(state, namespace, name, instance, now_ms)


def _named_service(params: Params) -> tuple[str, str]:
    """The namespace and grouped name a write names, validated."""
    return namespace_param(params), required_grouped_name(params)


def _registration(params: Params, switches: Switches) -> tuple[str, str, Instance]:
    """What ``POST /instance`` writes: namespace, grouped name and instance, all validated."""
    namespace, name = _named_service(params)
    return namespace, name, _instance_from_params(params, switches)


def register(ctx: Context) -> Response:
    """POST ``/instance``."""
    namespace, name, instance = _registration(ctx.params, ctx.state.switches)
    return upsert(ctx.state, namespace, name, instance, ctx.now_ms)


def _query_params(query: bytes) -> Params:
    values: dict[str, str] = {}
    parse_form(query, values)
    return Params(values)


def owns_everything(namespace: str, name: str) -> bool:
    """A standalone node's ``ServiceTest`` of ownership: it owns every service."""
    return True


def register_ephemeral(
    state: NamingState, query: bytes, now_ms: int, owns: ServiceTest = owns_everything
) -> bool:
    """``register`` for a request whose parameters are all in ``query``, when it writes an ephemeral
    instance of a service this node ``owns`` (answered ``ok``, as ``register`` answers it); False —
    nothing read is written — for a persistent instance, a service another cluster member owns or a
    request ``register`` refuses (the compiled request path)."""
    try:
        params = _query_params(query)  # a ParamEncodingError is a 400 the Python path answers
        namespace, name = _named_service(params)
        if not owns(namespace, name):  # asked first: the Python path forwards it, unbuilt
            return False
        instance = _instance_from_params(params, state.switches)
    except NacosError:
        return False
    if not instance.ephemeral:
        return False
    upsert(state, namespace, name, instance, now_ms)
    return True


def metadata_or_none(text: str) -> dict[str, str] | None:
    """``parse_metadata`` of an already trimmed ``metadata`` parameter; ``None`` where it answers 400."""
    try:
        return parse_metadata(text)
    except NacosError:
        return None


def _is_java_1x(client: ClientInfo) -> bool:
    return client.kind is ClientKind.JAVA and client.version >= (1, 0, 0)


def update(ctx: Context) -> Response:
    """PUT ``/instance``: register semantics; Java ≥ 1.0 clients may only update what exists (§3.3)."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    instance = _instance_from_params(params, ctx.state.switches)
    if _is_java_1x(ctx.client):
        service = ctx.state.registry.get(namespace, name)
        if service is None:
            raise NotFound(f"service not found, namespace: {namespace}, service: {name}")
        # Nacos Instance.equals: ip, port (0 on the request side matches any) and kind; not the cluster.
        if not any(
            other.ip == instance.ip and instance.port in (0, other.port)
            for other in service.instances(instance.ephemeral)
        ):
            raise NotFound(f"instance not exist: {_java_string(instance)}")
    return upsert(ctx.state, namespace, name, instance, ctx.now_ms)


def _addressed(params: Params) -> tuple[str, str, str]:
    """Namespace, grouped name and datumKey (``ip``, ``port``, cluster) of the instance a write names."""
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    ip = check_ip(params.required("ip"))
    port = _port(params)
    cluster = cluster_param(params)
    return namespace, name, datum_key(ip, port, cluster)


def _find(service: Service | None, key: str) -> Instance | None:
    """The instance with this datumKey, persistent first (Nacos ``Cluster.allIPs`` order)."""
    if service is None:
        return None
    found = service.get(key, False)
    return found if found is not None else service.get(key, True)


def patch(ctx: Context) -> Response:
    """PATCH ``/instance``: change only the given fields of an existing instance (§3.4)."""
    params = ctx.params
    namespace, name, key = _addressed(params)
    changes: dict[str, Any] = {}
    if params.optional("metadata"):
        changes["metadata"] = parse_metadata(params.optional("metadata"))
    if params.optional("app"):
        changes["app"] = params.name("app", default="")
    if params.optional("weight"):
        changes["weight"] = _weight(params.number("weight"))
    if params.optional("healthy"):
        changes["healthy"] = params.commons_bool("healthy", True)
    if params.optional("enabled"):
        changes["enabled"] = params.commons_bool("enabled", True)
    found = _find(ctx.state.registry.get(namespace, name), key)
    if found is None:
        raise BadRequest("instance not found")
    with client_values():
        instance = found.replace(**changes)
    return _put(ctx.state, namespace, name, instance, ctx.now_ms)


def _deregistration(params: Params, switches: Switches) -> tuple[str, str, str, bool]:
    """What ``DELETE /instance`` removes: namespace, grouped name, datumKey and kind, validated."""
    namespace, name, key = _addressed(params)
    ephemeral = params.commons_bool("ephemeral", switches.defaultInstanceEphemeral)
    params.number("weight", 1.0)  # parsed (and refused when malformed) but unused, as in Nacos
    return namespace, name, key, ephemeral


def deregister_ephemeral(
    state: NamingState, query: bytes, now_ms: int, owns: ServiceTest = owns_everything
) -> bool:
    """``deregister`` for a request whose parameters are all in ``query``, when it names an ephemeral
    instance of a service this node ``owns`` (answered ``ok``); False, with nothing written,
    otherwise (the compiled request path)."""
    try:
        namespace, name, key, ephemeral = _deregistration(_query_params(query), state.switches)
    except NacosError:
        return False
    if not ephemeral or not owns(namespace, name):
        return False
    _remove(state, namespace, name, key, ephemeral, now_ms)
    return True


def remove_ephemeral(state: NamingState, namespace: str, name: str, key: str, now_ms: int) -> None:
    """``deregister`` of an ephemeral instance already read and validated (the compiled request path)."""
    _remove(state, namespace, name, key, True, now_ms)


def deregister(ctx: Context) -> Response:
    """DELETE ``/instance``: remove by datumKey from the list ``ephemeral`` names; unknown is ``ok``."""
    return _remove(ctx.state, *_deregistration(ctx.params, ctx.state.switches), ctx.now_ms)


def _remove(
    state: NamingState, namespace: str, name: str, key: str, ephemeral: bool, now_ms: int
) -> Response:
    """Remove one instance: journal its removal (persistent), tell push, untrack it (ephemeral)."""
    service = state.registry.get(namespace, name)
    existing = service.get(key, ephemeral) if service is not None else None
    if existing is None:
        return Response()
    number = 0 if ephemeral else effects.persist(state, journal.instance_key(namespace, name, existing), None)
    effects.notify(state, state.registry.remove_instance(namespace, name, key, ephemeral), now_ms)
    if ephemeral:
        state.beats.untrack(effects.beat_key(namespace, name, key))
    return Response(durable_seq=number)


# --- reads ----------------------------------------------------------------------------------------


def detail(ctx: Context) -> Response:
    """GET ``/instance``: shape (B); ``clusterName`` only (Nacos ignores ``cluster`` here)."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    ip = check_ip(params.required("ip"))
    port = _port(params)
    cluster = check_cluster(params.optional("clusterName", DEFAULT_CLUSTER))
    service = ctx.state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"no service {name} found!")
    candidates = [
        instance
        for instance in (*service.instances(ephemeral=False), *service.instances(ephemeral=True))
        if instance.cluster == cluster
    ]
    if not candidates:
        raise NotFound(f"no ips found for cluster {cluster} in service {name}")
    for instance in candidates:
        if instance.ip == ip and instance.port == port:
            return _json(
                {
                    "service": name,
                    "ip": ip,
                    "port": port,
                    "clusterName": cluster,
                    "weight": instance.weight,
                    "healthy": instance.healthy,
                    "instanceId": instance.id_in(name),
                    "metadata": dict(instance.metadata),
                }
            )
    raise NotFound("no matched ip found!")


def _clusters_param(params: Params) -> str:
    """``clusters``: echoed exactly (trimmed, as ``WebUtils.optional`` does); each name validated."""
    clusters = params.optional("clusters")
    if len(clusters) > MAX_CLUSTERS_PARAM_LENGTH:
        raise BadRequest(f"Param 'clusters' is too long: at most {MAX_CLUSTERS_PARAM_LENGTH} characters")
    for token in clusters.split(","):
        if token:
            check_cluster(token)
    return clusters


def _push_minimums(state: NamingState) -> dict[ClientKind, tuple[int, int, int]]:
    """The oldest pushable client of each kind, from the ``push*Version`` switches (memoized per node)."""
    switches = state.switches
    source = (
        switches.pushJavaVersion,
        switches.pushPythonVersion,
        switches.pushCVersion,
        switches.pushGoVersion,
        switches.pushCSharpVersion,
    )
    memo = state.memos.push_minimums
    if memo.source != source:
        java, dns, c, go, csharp = (parse_version(text) for text in source)
        memo = PushMinimums(
            source,
            {
                ClientKind.JAVA: java,
                ClientKind.DNS: dns,
                ClientKind.C: c,
                ClientKind.GO: go,
                ClientKind.CSHARP: csharp,
            },
        )
        state.memos.push_minimums = memo
    return memo.minimums


@dataclass(frozen=True, slots=True)
class ListQuery:
    """An ``instance/list`` request's parameters, read and validated (§3.6)."""

    namespace: str
    name: str
    clusters: str
    udp_port: int
    client_ip: str
    env: str
    is_check: bool
    app: str
    tenant: str
    healthy_only: bool


def _read_list_query(params: Params, namespace: str, name: str) -> ListQuery:
    udp_port = params.integer("udpPort", 0)
    if udp_port > _MAX_PORT:
        raise BadRequest(f"Param 'udpPort' is out of range: {udp_port} not in [0, {_MAX_PORT}]")
    return ListQuery(
        namespace=namespace,
        name=name,
        clusters=_clusters_param(params),
        udp_port=udp_port,
        client_ip=params.name("clientIP", default=""),
        env=params.name("env", default=""),
        is_check=params.java_bool("isCheck"),
        app=params.name("app", default=""),
        tenant=params.name("tid", default=""),
        healthy_only=params.java_bool("healthyOnly"),
    )


def list_subscribes(state: NamingState, query: ListQuery, client: ClientInfo) -> bool:
    """Whether this list subscribes its caller for push: ``udpPort > 0``, push on and a client Nacos
    pushes to (§7.1). Such a list answers ``cacheMillis`` ``defaultPushCacheMillis``. No effect."""
    return query.udp_port > 0 and state.switches.pushEnabled and may_push(client, _push_minimums(state))


def subscribe_lister(state: NamingState, query: ListQuery, agent: str, peer_ip: str, now_ms: int) -> None:
    """Add or refresh the push subscriber a list names (when ``list_subscribes``); ``agent`` is the
    request's ``user_agent``, ``peer_ip`` the address it came from."""
    state.push.subscribe(
        query.namespace,
        query.name,
        query.clusters,
        query.client_ip or LOOPBACK,
        query.udp_port,
        agent,
        query.app,
        query.tenant,
        now_ms,
        peer_ip=peer_ip,
    )


def _serve_list(ctx: Context, query: ListQuery) -> Response:
    """Nacos ``doSrvIpxt``: subscribe for push when asked and allowed, then the list (§3.6)."""
    state = ctx.state
    switches = state.switches
    client = ctx.client
    cache_millis = switches.defaultCacheMillis
    if list_subscribes(state, query, client):
        subscribe_lister(state, query, ctx.request.user_agent, ctx.request.remote[0], ctx.now_ms)
        cache_millis = switches.defaultPushCacheMillis
    body = render_list(
        state,
        query.namespace,
        query.name,
        query.clusters,
        client,
        query.client_ip,
        query.healthy_only,
        cache_millis,
        ctx.wall_ms,
        env=query.env,
        is_check=query.is_check,
    )
    return Response(body=body, content_type=APPLICATION_JSON)


def list_instances(ctx: Context) -> Response:
    """GET ``/instance/list``; a query string seen before skips parameter parsing and validation."""
    request = ctx.request
    memo = ctx.state.memos.list_queries
    memoizable = not request.body  # parameters from a form body are not part of the key
    query = memo.get(request.query) if memoizable else None
    if query is None:
        params = ctx.params
        query = _read_list_query(params, namespace_param(params), required_grouped_name(params))
        if memoizable:
            memo.put(request.query, query)
    return _serve_list(ctx, query)


def _legacy_name(params: Params) -> str:
    """``dom`` of the legacy ``/api/*`` endpoints: a plain name in ``DEFAULT_GROUP``."""
    return check_grouped_name(f"{DEFAULT_GROUP}{GROUP_SEPARATOR}{params.required('dom')}")


def srv_ipxt(ctx: Context) -> Response:
    """Any method ``/api/srvIPXT``: ``instance/list`` for ``DEFAULT_GROUP@@<dom>``."""
    params = ctx.params
    return _serve_list(ctx, _read_list_query(params, namespace_param(params), _legacy_name(params)))


# --- beats ----------------------------------------------------------------------------------------


def _beat_reply(state: NamingState, code: int, interval: int, light: bool | None) -> Response:
    """``{"clientBeatInterval":N,"code":C[,"lightBeatEnabled":B]}``, encoded once per variant."""
    memo = state.memos.beat_replies
    variant = (code, interval, light)
    body = memo.get(variant)
    if body is None:
        value: dict[str, Any] = {"clientBeatInterval": interval, "code": code}
        if light is not None:
            value["lightBeatEnabled"] = light
        body = json.dumps(value, separators=(",", ":")).encode()
        memo.put(variant, body)
    return Response(body=body, content_type=APPLICATION_JSON)


@dataclass(frozen=True, slots=True)
class _BeatInfo:
    """The fields of a beat JSON (Nacos ``RsInfo``) that the server reads."""

    ip: str
    port: int
    cluster: str
    weight: float
    ephemeral: bool
    raw: str
    """The beat JSON: its metadata is converted only when the beat re-registers (an existing instance
    ignores it)."""

    def metadata(self) -> dict[str, str]:
        """The metadata as Jackson reads ``Map<String,String>``: numbers as written, booleans as text."""
        try:
            value = loads_exact(self.raw).get("metadata")
        except (ValueError, RecursionError):
            raise BadRequest(f"Param 'beat' is not valid JSON: {self.raw[:128]}") from None
        return metadata_from_json(value, json.dumps(value)) if value else {}


def _beat_scalar(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    raise BadRequest(f"Param 'beat' is illegal: '{key}' must be a string")


def _parse_beat(raw: str, cluster_default: str) -> _BeatInfo:
    """Decode a beat JSON like Jackson into ``RsInfo``; malformed beats are 400 (Nacos: 500)."""
    if len(raw) > MAX_BEAT_BYTES:
        raise BadRequest(f"Param 'beat' is too large: at most {MAX_BEAT_BYTES} bytes")
    parsed = parse_json("Param 'beat'", raw, 128)
    if not isinstance(parsed, dict):
        raise BadRequest(f"Param 'beat' must be a JSON object: {raw[:128]}")
    value = _present(parsed)
    ip = check_ip(_beat_scalar(value.get("ip", ""), "ip").strip())
    port_value = value.get("port", 0)
    if isinstance(port_value, bool) or not isinstance(port_value, int | str):
        raise BadRequest("Param 'beat' is illegal: 'port' must be an integer")
    port = parse_int("port", str(port_value), 0, _MAX_PORT)
    cluster = value.get("cluster")
    cluster = _beat_scalar(cluster, "cluster").strip() if cluster is not None else ""
    cluster = check_cluster(cluster or cluster_default)
    weight = value.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise BadRequest("Param 'beat' is illegal: 'weight' must be a number")
    try:
        weight = float(weight)
    except OverflowError:  # an integer literal beyond any double
        raise BadRequest("Param 'beat' is illegal: 'weight' is out of range") from None
    ephemeral = value.get("ephemeral", True)
    if isinstance(ephemeral, str):
        ephemeral = java_bool(java_trim(ephemeral))
    if not isinstance(ephemeral, bool):
        raise BadRequest("Param 'beat' is illegal: 'ephemeral' must be a boolean")
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("Param 'beat' is illegal: 'metadata' must be an object")
    return _BeatInfo(ip, port, cluster, weight, ephemeral, raw)


def _interval(instance: Instance, switches: Switches) -> int:
    """The reply's ``clientBeatInterval``: the instance's preserved interval, else the switch."""
    if _INTERVAL_KEY in instance.metadata:
        return instance.beat_interval_ms
    return switches.clientBeatInterval


def _beat_target(params: Params) -> tuple[str, _BeatInfo | None]:
    """The datumKey a beat names and its decoded ``beat`` JSON, if it has one."""
    cluster_default = check_cluster(params.optional("clusterName", DEFAULT_CLUSTER))
    raw_beat = params.optional("beat")
    if raw_beat:
        info = _parse_beat(raw_beat, cluster_default)
        return datum_key(info.ip, info.port, info.cluster), info
    ip = check_ip(params.optional("ip"))
    port = params.integer("port", 0, low=0, high=_MAX_PORT)
    return datum_key(ip, port, cluster_default), None


def _beat_known(state: NamingState, namespace: str, name: str, instance: Instance, now_ms: int) -> None:
    """A beat of a registered ephemeral instance: note it, and revive the instance if it was unhealthy."""
    key = instance.key
    status = state.beats.beat(effects.beat_key(namespace, name, key), now_ms)
    after_beat(state, namespace, name, key, instance, status, now_ms)


def after_beat(
    state: NamingState, namespace: str, name: str, key: str, instance: Instance, status: int, now_ms: int
) -> None:
    """What a beat of a stored ephemeral instance changes beyond the heartbeat table (§8.1); ``status``
    is what ``BeatTable.beat`` answered."""
    if not instance.marked:
        if status == BEAT_UNKNOWN:  # not tracked (should not happen): track it from now on
            effects.track(state, namespace, name, instance.replace(healthy=True), now_ms)
        if status == BEAT_REVIVED or not instance.healthy:
            effects.notify(state, state.registry.set_healthy(namespace, name, key, True, True), now_ms)


def light_beat_target(query: bytes) -> tuple[str, str, str, Hashable] | None:
    """``PUT /instance/beat`` with this query string and no body, read and validated as ``beat`` does:
    ``(namespace, grouped name, datumKey, heartbeat key)`` of a light beat; ``None`` for a beat with a
    ``beat`` JSON or a request the handler refuses (the compiled request path then leaves it to
    ``beat``). Depends on the query bytes only, so its answer may be memoized per query."""
    values: dict[str, str] = {}
    try:
        parse_form(query, values)
        params = Params(values)
        namespace, name = beat_service(params)
        if params.optional("beat"):
            return None
        key, _ = _beat_target(params)
    except NacosError:
        return None
    return namespace, name, key, effects.beat_key(namespace, name, key)


def light_beat_names_valid(namespace: str, name: str, cluster: str) -> bool:
    """Whether a light beat's ``namespaceId``, ``serviceName`` (grouped) and ``clusterName``, already
    trimmed, pass the checks ``beat`` makes (the compiled request path reads the rest itself)."""
    try:
        return (
            check_namespace(namespace) == namespace
            and check_grouped_name(name) == name
            and check_cluster(cluster) == cluster
        )
    except NacosError:
        return False


def beat_ok_body(state: NamingState, interval: int, light: bool) -> bytes:
    """The encoded ``code:10200`` beat reply (memoized per node)."""
    return _beat_reply(state, CODE_OK, interval, light).body


def apply_relayed_beat(state: NamingState, namespace: str, name: str, key: str, now_ms: int) -> bool:
    """A beat another node answered and relayed here, the owner; ``False`` if the instance is unknown."""
    service = state.registry.get(namespace, name)
    instance = service.get(key, True) if service is not None else None
    if instance is None:
        return False
    _beat_known(state, namespace, name, instance, now_ms)
    return True


def relay_beat(
    ctx: Context, namespace: str, name: str, owner: str, forwarding: Forwarding
) -> Response | None:
    """A beat for a service ``owner`` owns: if this node knows the instance, answer as the owner would
    (the reply depends only on the instance and the switches) and relay the beat to the owner in a
    batch. ``None`` when the instance is unknown here: the request itself must go to the owner.
    """
    key, _ = _beat_target(ctx.params)
    service = ctx.state.registry.get(namespace, name)
    instance = service.get(key, True) if service is not None else None
    if instance is None:
        return None
    forwarding.relay_beat(owner, namespace, name, key)
    switches = ctx.state.switches
    return _beat_reply(ctx.state, CODE_OK, _interval(instance, switches), switches.lightBeatEnabled)


def beat_service(params: Params) -> tuple[str, str]:
    """Namespace and grouped name of an ``/instance/beat`` request (400 when malformed)."""
    return namespace_param(params), required_grouped_name(params)


def client_beat_service(params: Params) -> tuple[str, str]:
    """Namespace and grouped name of an ``/api/clientBeat`` request (400 when malformed)."""
    return namespace_param(params), _legacy_name(params)


def _handle_beat(ctx: Context, namespace: str, name: str) -> Response:
    """Nacos ``InstanceController.beat`` (§3.7, §8.1)."""
    params = ctx.params
    state = ctx.state
    switches = state.switches
    key, info = _beat_target(params)
    service = state.registry.get(namespace, name)
    ephemeral = service.get(key, True) if service is not None else None
    if ephemeral is None:
        persistent = service.get(key, False) if service is not None else None
        if persistent is not None:  # the beat processor only looks at ephemeral instances
            return _beat_reply(state, CODE_OK, _interval(persistent, switches), switches.lightBeatEnabled)
        if info is None:
            return _beat_reply(state, CODE_NOT_FOUND, switches.clientBeatInterval, None)
        instance = _build(
            info.ip,
            info.port,
            info.cluster,
            weight=info.weight,
            ephemeral=info.ephemeral,
            metadata=info.metadata(),
        )
        written = upsert(state, namespace, name, instance, ctx.now_ms)
        reply = _beat_reply(state, CODE_OK, _interval(instance, switches), switches.lightBeatEnabled)
        reply.durable_seq = written.durable_seq
        return reply
    _beat_known(state, namespace, name, ephemeral, ctx.now_ms)
    return _beat_reply(state, CODE_OK, _interval(ephemeral, switches), switches.lightBeatEnabled)


def beat(ctx: Context) -> Response:
    """PUT ``/instance/beat``."""
    return _handle_beat(ctx, *beat_service(ctx.params))


def client_beat(ctx: Context) -> Response:
    """Any method ``/api/clientBeat``: a beat for ``DEFAULT_GROUP@@<dom>``."""
    return _handle_beat(ctx, *client_beat_service(ctx.params))


# --- metadata batch and statuses -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    ip: str
    port: int
    ephemeral: bool
    cluster: str


def _parse_target(item: object) -> _Target | None:
    """One entry of ``instances``; ``None`` when it does not read as an instance (Jackson would fail)."""
    if not isinstance(item, dict):
        return None
    fields = _present(item)
    ip, port, ephemeral = fields.get("ip", ""), fields.get("port", 0), fields.get("ephemeral", True)
    cluster = fields.get("clusterName") or DEFAULT_CLUSTER
    if isinstance(port, str):
        port = parse_java_int(java_trim(port))
    if (
        not isinstance(ip, str)
        or isinstance(port, bool)
        or not isinstance(port, int)
        or not isinstance(ephemeral, bool)
        or not isinstance(cluster, str)
    ):
        return None
    return _Target(ip, port, ephemeral, cluster)


def _parse_targets(raw: str) -> list[_Target]:
    """The ``instances`` JSON list: ip, port, ephemeral (default true), clusterName (default DEFAULT).

    As Nacos, a value that does not read as a list of instances (``null``, malformed JSON, an entry of
    the wrong shape) is an empty list: the batch then updates nothing. Only the size is bounded.
    """
    try:
        value = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return []
    if not isinstance(value, list):
        return []
    if len(value) > MAX_BATCH_INSTANCES:
        raise BadRequest(f"Param 'instances' lists more than {MAX_BATCH_INSTANCES} instances")
    targets = [_parse_target(item) for item in value]
    if any(target is None for target in targets):  # Jackson reads the whole list or nothing
        return []
    return [target for target in targets if target is not None]


def _locate(service: Service, targets: list[_Target], consistency: str) -> list[Instance]:
    """Nacos ``batchOperate``: all of one kind for ``ephemeral``/``persist``, nothing for any other type,
    else each target by ip, port (0 matches any), kind and cluster."""
    if consistency:
        kind = _CONSISTENCY_TYPES.get(consistency)
        return [] if kind is None else service.instances(ephemeral=kind)
    located: dict[tuple[bool, str], Instance] = {}
    for target in targets:
        for instance in service.instances(target.ephemeral):
            if (
                instance.ip == target.ip
                and target.port in (0, instance.port)
                and instance.cluster == target.cluster
            ):
                located.setdefault((instance.ephemeral, instance.key), instance)
                break
    return list(located.values())


def _batch_metadata(ctx: Context, remove: bool) -> Response:
    """PUT (merge keys) / DELETE (remove keys) ``/instance/metadata/batch`` (§3.8)."""
    params = ctx.params
    state = ctx.state
    namespace = namespace_param(params)
    name = grouped_name(params)
    if not name:
        raise required_param("serviceName")
    consistency = params.optional("consistencyType")
    targets = [] if consistency else _parse_targets(params.optional("instances"))
    metadata = parse_metadata(params.required("metadata"))
    empty = _json({"updated": []})
    try:
        check_grouped_name(name)
    except BadRequest:
        return empty  # Nacos swallows every error past this point and answers an empty list
    service = state.registry.get(namespace, name)
    if service is None:
        return empty
    located = _locate(service, targets, consistency)
    updated: list[Instance] = []
    for instance in located:
        if remove:
            merged = {k: v for k, v in instance.metadata.items() if k not in metadata}
        else:
            merged = {**instance.metadata, **metadata}
        check_metadata(merged)
        with client_values():
            updated.append(instance.replace(metadata=merged))
    response = _json({"updated": [f"{i.key}:{_EPHEMERAL_SUFFIX[i.ephemeral]}" for i in updated]})
    if not updated:
        return response
    ephemeral = [instance for instance in updated if instance.ephemeral]
    registry = state.registry
    effects.notify(
        state, registry.put_instances(namespace, name, ephemeral, DEFAULT_SERVICE_META), ctx.now_ms
    )
    for instance in ephemeral:
        state.beats.set_timeouts(
            effects.beat_key(namespace, name, instance.key),
            instance.beat_timeout_ms,
            instance.delete_timeout_ms,
        )
    for instance in updated:  # one record each, applied as soon as journaled: memory follows the journal
        if not instance.ephemeral:
            response.durable_seq = effects.persist_instance(state, namespace, name, instance)
            effects.notify(
                state, registry.put_instance(namespace, name, instance, DEFAULT_SERVICE_META), ctx.now_ms
            )
    return response


def metadata_update(ctx: Context) -> Response:
    """PUT ``/instance/metadata/batch``."""
    return _batch_metadata(ctx, remove=False)


def metadata_remove(ctx: Context) -> Response:
    """DELETE ``/instance/metadata/batch``."""
    return _batch_metadata(ctx, remove=True)


def statuses(ctx: Context) -> Response:
    """Any method ``/instance/statuses``: ``{"ips":["ip:port_true",..]}`` for ``key`` (§3.9)."""
    key = ctx.params.raw("key")
    if not key:
        raise required_param("key")
    namespace, separator, name = key.partition("##")
    if not separator:
        namespace, name = "", key
    namespace = check_namespace(namespace)
    name = check_grouped_name(name)
    service = ctx.state.registry.get(namespace, name)
    if service is None:
        raise NotFound(f"service: {name} not found.")
    return _json(
        {
            "ips": [
                f"{i.ip}:{i.port}_{'true' if i.healthy else 'false'}"
                for i in (*service.instances(ephemeral=False), *service.instances(ephemeral=True))
            ]
        }
    )


ROUTES: Routes = {
    ("POST", "/v1/ns/instance"): register,
    ("DELETE", "/v1/ns/instance"): deregister,
    ("PUT", "/v1/ns/instance"): update,
    ("PATCH", "/v1/ns/instance"): patch,
    ("GET", "/v1/ns/instance"): detail,
    ("GET", "/v1/ns/instance/list"): list_instances,
    ("PUT", "/v1/ns/instance/beat"): beat,
    ("PUT", "/v1/ns/instance/metadata/batch"): metadata_update,
    ("DELETE", "/v1/ns/instance/metadata/batch"): metadata_remove,
    **any_method("/v1/ns/instance/statuses", statuses),
    **any_method("/v1/ns/api/srvIPXT", srv_ipxt),
    **any_method("/v1/ns/api/clientBeat", client_beat),
}
"""The instance endpoints, by (method, path below ``/nacos``)."""
