"""Operator endpoints (compatibility.md §4), also served under ``/v1/ns/ops/*`` (aliased by ``app.py``).

``/metrics`` is what the Java and Node clients probe for ``"status":"UP"``. Switches are validated
by :mod:`nacosfast.naming.switch_update` and journaled whole, as Nacos writes its SwitchDomain datum.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from nacosfast.cluster.members import service_key
from nacosfast.errors import BadRequest, NotFound
from nacosfast.limits import MAX_LOG_NAME_LENGTH, MAX_SWITCH_VALUE_BYTES
from nacosfast.naming import effects
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.journal import SWITCHES_KEY
from nacosfast.naming.members import address, members, raft_peer, server_status
from nacosfast.naming.names import namespace_param, required_grouped_name
from nacosfast.naming.replies import json_reply, ok, request_param
from nacosfast.naming.state import NamingState
from nacosfast.naming.switch_update import updated
from nacosfast.wire.message import Response

NACOS_LOGGERS: Final = {
    "naming-server": "nacosfast.naming",
    "naming-push": "nacosfast.push",
    "naming-event": "nacosfast.naming.expiry",
    "naming-rt": "nacosfast.naming.health",
    "naming-distro": "nacosfast.cluster",
    "naming-raft": "nacosfast.store",
    "naming-performance": "nacosfast.server",
}
"""Nacos's ``logName`` values and the nacosfast logger each one controls (children included): a fixed
set, so the loggers it may create are bounded."""
LOG_ROOT: Final = "nacosfast"
LOG_LEVELS: Final = {
    "ALL": logging.NOTSET,
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "OFF": logging.CRITICAL + 10,
}
"""logback level names (what Nacos accepts) in stdlib terms; ``OFF`` is above every level."""


def metrics(ctx: Context) -> Response:
    """``GET /operator/metrics``: status (clients probe ``UP``; ``STARTING`` while warming up), counts,
    host load (``state.host``); in a cluster the membership and forwarding figures (``cluster``),
    ``distroReady`` and the replication counters (``distro``)."""
    state = ctx.state
    registry = state.registry
    services = registry.service_count
    instances = registry.instance_count
    owned_services, owned_instances = (
        _owned_counts(state) if state.members is not None else (services, instances)
    )
    host = state.host
    answer: dict[str, Any] = {
        "status": server_status(state),
        "serviceCount": services,
        "instanceCount": instances,
        "raftNotifyTaskCount": 0,
        "responsibleServiceCount": owned_services,
        "responsibleInstanceCount": owned_instances,
        "cpu": host.cpu,
        "load": host.load,
        "mem": host.mem,
        "pushSubscriberCount": state.push.subscriber_count,
        "distroReady": state.ready,
    }
    if state.replication is not None:
        answer["distro"] = state.replication.status()
    if state.members is not None:
        members = state.members
        answer["cluster"] = {
            "self": members.self_address,
            "healthyMembers": len(members.healthy_addresses()),
            "membershipVersion": members.version,
            "membershipStable": members.stable(ctx.now_ms),
            **(state.forwarding.counters() if state.forwarding is not None else {}),
        }
    return json_reply(answer)


def _owned_counts(state: NamingState) -> tuple[int, int]:
    """Services this node owns, and their instances (``responsible*Count``)."""
    members = state.members
    assert members is not None
    registry = state.registry
    owned_services = owned_instances = 0
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            if members.is_owner(service_key(namespace, name)):
                service = registry.get(namespace, name)
                owned_services += 1
                owned_instances += len(service) if service is not None else 0
    return owned_services, owned_instances


def get_switches(ctx: Context) -> Response:
    """``GET /operator/switches``: the SwitchDomain JSON, nulls included."""
    return json_reply(ctx.state.switches.to_json())


def put_switches(ctx: Context) -> Response:
    """``PUT /operator/switches``: change one entry (or ``batch``); unknown entries are ignored.

    ``debug=true`` applies the change without journaling it, as Nacos applies it locally only.
    """
    params = ctx.params
    debug = params.spring_bool("debug")
    entry = request_param(params, "entry").strip()
    value = request_param(params, "value")
    if len(value.encode()) > MAX_SWITCH_VALUE_BYTES:
        raise BadRequest(f"Param 'value' is larger than {MAX_SWITCH_VALUE_BYTES} bytes")
    state = ctx.state
    switches = updated(state.switches, entry, value)
    if switches is None:
        return ok()
    seq = 0 if debug else effects.persist(state, SWITCHES_KEY, switches)  # first: it may refuse
    state.switches = switches
    return ok(seq)


def servers(ctx: Context) -> Response:
    """``GET /operator/servers``: the cluster members (``healthy=true`` keeps those ``UP``)."""
    healthy = ctx.params.spring_bool("healthy")
    listed = [m for m in members(ctx.state, ctx.wall_ms) if not healthy or m["state"] == "UP"]
    return json_reply({"servers": listed})


def push_state(ctx: Context) -> Response:
    """``/operator/push/state``: push success counters (``detail`` adds the in-flight packets)."""
    params = ctx.params
    detail = params.spring_bool("detail")
    reset = params.spring_bool("reset")
    return json_reply(ctx.state.push.push_state(detail=detail, reset=reset))


def distro_server(ctx: Context) -> Response:
    """``GET /operator/distro/server``: the member responsible for (owning) a service."""
    params = ctx.params
    namespace = namespace_param(params)
    name = required_grouped_name(params)
    state = ctx.state
    if state.registry.get(namespace, name) is None:
        raise NotFound("service not found")
    owner = address(state) if state.members is None else state.members.owner_of(service_key(namespace, name))
    return json_reply({"responsibleServer": owner})


def distro_status(ctx: Context) -> Response:
    """``GET /operator/distro/status``: ``action=view`` (the default) lists the members."""
    if ctx.params.raw("action", "view") != "view":
        return json_reply({})
    return json_reply({"status": members(ctx.state, ctx.wall_ms)})


def _logger_named(log_name: str) -> logging.Logger:
    """The logger a ``logName`` names: a Nacos name, or a ``nacosfast`` logger that already exists.

    Only loggers that exist (or the fixed ``NACOS_LOGGERS``) are accepted: ``logging.getLogger`` keeps
    every logger it is asked for, and each dotted prefix of its name, for the life of the process.
    """
    if len(log_name) > MAX_LOG_NAME_LENGTH:
        raise BadRequest(f"Param 'logName' is too long: at most {MAX_LOG_NAME_LENGTH} characters")
    logger_name = NACOS_LOGGERS.get(log_name)
    ours = log_name == LOG_ROOT or log_name.startswith(LOG_ROOT + ".")
    # A placeholder (a parent of existing loggers, e.g. ``nacosfast``) counts: it is kept anyway.
    if logger_name is None and ours and log_name in logging.Logger.manager.loggerDict:
        logger_name = log_name
    if logger_name is None:
        known = ", ".join(sorted(NACOS_LOGGERS))
        raise BadRequest(
            f"unknown logName: {log_name[:128]}; use one of {known} or an existing nacosfast.* logger"
        )
    return logging.getLogger(logger_name)


def set_log_level(ctx: Context) -> Response:
    """``PUT /operator/log``: set a logger's level by Nacos name (``naming-push``) or ``nacosfast.*``.

    Levels are process-wide, as logback's are in Nacos: every node in one process shares them.
    """
    params = ctx.params
    logger = _logger_named(request_param(params, "logName").strip())
    level_name = request_param(params, "logLevel").strip().upper()
    level = LOG_LEVELS.get(level_name)
    if level is None:
        raise BadRequest(f"unknown logLevel: {level_name[:32]}; use one of {', '.join(LOG_LEVELS)}")
    logger.setLevel(level)
    return ok()


def cluster_state(ctx: Context) -> Response:
    """``GET /operator/cluster/state``: the local RaftPeer JSON."""
    return json_reply(raft_peer(ctx.state))


ROUTES: Routes = {
    ("GET", "/v1/ns/operator/switches"): get_switches,
    ("PUT", "/v1/ns/operator/switches"): put_switches,
    ("GET", "/v1/ns/operator/metrics"): metrics,
    ("GET", "/v1/ns/operator/servers"): servers,
    ("GET", "/v1/ns/operator/distro/server"): distro_server,
    ("GET", "/v1/ns/operator/distro/status"): distro_status,
    ("PUT", "/v1/ns/operator/log"): set_log_level,
    ("GET", "/v1/ns/operator/cluster/state"): cluster_state,
    **any_method("/v1/ns/operator/push/state", push_state),
}
