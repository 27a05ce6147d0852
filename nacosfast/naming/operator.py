"""Operator endpoints (spec §4), also served under ``/v1/ns/ops/*`` (aliased by ``app.py``).

``/metrics`` is what the Java and Node clients probe for ``"status":"UP"``. Switches are validated
by :mod:`nacosfast.naming.switch_update` and journaled whole, as Nacos writes its SwitchDomain datum.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final

from nacosfast.cluster.members import service_key
from nacosfast.errors import BadRequest, NotFound
from nacosfast.limits import HOST_FIGURES_PERIOD_MS, MAX_SWITCH_VALUE_BYTES
from nacosfast.naming.context import Context, Routes, any_method
from nacosfast.naming.journal import switches_record
from nacosfast.naming.members import address, members, raft_peer, server_status
from nacosfast.naming.names import namespace_param, required_grouped_name
from nacosfast.naming.replies import json_reply, ok, request_param
from nacosfast.naming.state import NamingState
from nacosfast.naming.switch_update import updated
from nacosfast.wire.message import Response

NACOS_LOGGERS: Final = {
    "naming-server": "nacosfast.naming",
    "naming-push": "nacosfast.naming.push",
    "naming-event": "nacosfast.naming.expiry",
    "naming-rt": "nacosfast.naming.health",
    "naming-distro": "nacosfast.cluster",
    "naming-raft": "nacosfast.store",
    "naming-performance": "nacosfast.server",
}
"""Nacos's ``logName`` values and the nacosfast logger each one controls (children included)."""
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
_PROC_STAT: Final = "/proc/stat"
_PROC_MEMINFO: Final = "/proc/meminfo"


class CpuSampler:
    """System-wide CPU busy fraction from ``/proc/stat`` between two calls (since boot at first)."""

    def __init__(self, path: str = _PROC_STAT) -> None:
        self._path = path
        self._last: tuple[int, int] | None = None

    def sample(self) -> float:
        """Busy fraction in [0, 1] since the previous sample; 0.0 where ``/proc`` is unreadable."""
        try:
            with open(self._path, "rb") as stat:
                fields = [int(value) for value in stat.readline().split()[1:9]]
        except (OSError, ValueError):
            return 0.0
        if len(fields) < 4:
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields)
        previous, self._last = self._last, (idle, total)
        if previous is not None and total > previous[1]:
            idle -= previous[0]
            total -= previous[1]
        return max(0.0, min(1.0, (total - idle) / total)) if total > 0 else 0.0


class HostFigures:
    """cpu, load and memory of the host, refreshed at most every ``period_ms`` of the caller's clock."""

    def __init__(self, sampler: CpuSampler | None = None, period_ms: int = HOST_FIGURES_PERIOD_MS) -> None:
        self._sampler = sampler or CpuSampler()
        self._period_ms = period_ms
        self._at_ms: int | None = None
        self._figures = (0.0, 0.0, 0.0)

    def read(self, now_ms: int) -> tuple[float, float, float]:
        """``(cpu, load, mem)``; a clock that went backwards (another caller's clock) refreshes too."""
        at = self._at_ms
        if at is None or not at <= now_ms < at + self._period_ms:
            self._figures = (self._sampler.sample(), load_average(), memory_used())
            self._at_ms = now_ms
        return self._figures


def memory_used(path: str = _PROC_MEMINFO) -> float:
    """Fraction of physical memory in use (1 - available/total), 0.0 when it cannot be read."""
    values: dict[bytes, int] = {}
    try:
        with open(path, "rb") as meminfo:
            for line in meminfo:
                key, _, rest = line.partition(b":")
                if key in (b"MemTotal", b"MemAvailable"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = values.get(b"MemTotal", 0)
    if total <= 0 or b"MemAvailable" not in values:
        return 0.0
    return max(0.0, min(1.0, 1.0 - values[b"MemAvailable"] / total))


def load_average() -> float:
    """The one-minute load average, 0.0 where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


_HOST: Final = HostFigures()
"""The process's figures: CPU and memory are properties of the host, not of one application object."""


def metrics(ctx: Context) -> Response:
    """``GET /operator/metrics``: status (clients probe ``UP``), counts and host load."""
    state = ctx.state
    registry = state.registry
    services = registry.service_count
    instances = registry.instance_count
    owned_services, owned_instances = (
        _owned_counts(state) if state.members is not None else (services, instances)
    )
    cpu, load, mem = _HOST.read(ctx.now_ms)
    answer: dict[str, Any] = {
        "status": server_status(state),
        "serviceCount": services,
        "instanceCount": instances,
        "raftNotifyTaskCount": 0,
        "responsibleServiceCount": owned_services,
        "responsibleInstanceCount": owned_instances,
        "cpu": cpu,
        "load": load,
        "mem": mem,
        "pushSubscriberCount": state.push.subscriber_count,
    }
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
    seq = 0 if debug else state.journal.append(switches_record(switches))  # first: it may refuse
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


def set_log_level(ctx: Context) -> Response:
    """``PUT /operator/log``: set a logger's level by Nacos name (``naming-push``) or ``nacosfast.*``."""
    params = ctx.params
    log_name = request_param(params, "logName").strip()
    level_name = request_param(params, "logLevel").strip().upper()
    logger_name = NACOS_LOGGERS.get(log_name)
    if logger_name is None and (log_name == LOG_ROOT or log_name.startswith(LOG_ROOT + ".")):
        logger_name = log_name
    if logger_name is None:
        known = ", ".join(sorted(NACOS_LOGGERS))
        raise BadRequest(f"unknown logName: {log_name[:128]}; use one of {known} or a nacosfast.* logger")
    level = LOG_LEVELS.get(level_name)
    if level is None:
        raise BadRequest(f"unknown logLevel: {level_name[:32]}; use one of {', '.join(LOG_LEVELS)}")
    logging.getLogger(logger_name).setLevel(level)
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
