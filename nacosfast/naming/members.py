"""How this node presents itself: server status, ``Member`` JSON (compatibility.md §4, §9.1), RaftPeer.

A standalone node is the only member of its cluster, in state ``UP``. In a cluster every member of
``state.members`` is listed with its state (``UP``, ``SUSPICIOUS``, ``DOWN``), the wall time of its last
report (``extendInfo.lastRefreshTime``) and its failed reports in a row (``failAccessCnt``).
"""

from __future__ import annotations

from typing import Any, Final

from nacosfast import NACOS_COMPAT_VERSION
from nacosfast.naming.state import NamingState

SERVER_STATUSES: Final = ("UP", "DOWN", "STARTING", "PAUSED", "WRITE_ONLY", "READ_ONLY")
"""Nacos ``ServerStatus``: the values ``overriddenServerStatus`` may take."""
RAFT_PORT_OFFSET: Final = 1000
"""Nacos's ``raftPort`` is the HTTP port minus 1000 (7848 for 8848)."""


def server_status(state: NamingState) -> str:
    """``UP`` (``STARTING`` while a cluster node warms up), unless an operator overrode it with the
    ``overriddenServerStatus`` switch."""
    overridden = state.switches.overriddenServerStatus
    if overridden:
        return overridden
    return "UP" if state.ready else "STARTING"


def address(state: NamingState) -> str:
    """This node's ``ip:port`` (its member address in a cluster)."""
    if state.members is not None:
        return state.members.self_address
    identity = state.identity
    return f"{identity.host}:{identity.port}"


def member_json(
    ip: str, port: int, state: str, last_refresh_ms: int, version: str, fail_count: int
) -> dict[str, Any]:
    """One Nacos ``Member`` (Spring-written: every field present)."""
    extend: dict[str, Any] = {"lastRefreshTime": last_refresh_ms, "raftPort": str(port - RAFT_PORT_OFFSET)}
    if version:
        extend["version"] = version
    return {
        "ip": ip,
        "port": port,
        "state": state,
        "extendInfo": extend,
        "address": f"{ip}:{port}",
        "failAccessCnt": fail_count,
    }


def self_member(state: NamingState, wall_ms: int) -> dict[str, Any]:
    """This node as a Nacos ``Member``."""
    table = state.members
    if table is not None:
        me = table.get(table.self_address)
        assert me is not None
        return member_json(me.ip, me.port, me.state, wall_ms, NACOS_COMPAT_VERSION, 0)
    identity = state.identity
    return member_json(identity.host, identity.port, "UP", wall_ms, NACOS_COMPAT_VERSION, 0)


def members(state: NamingState, wall_ms: int) -> list[dict[str, Any]]:
    """Every member, sorted by address (a standalone node lists only itself)."""
    table = state.members
    if table is None:
        return [self_member(state, wall_ms)]
    me = table.self_address
    return [
        self_member(state, wall_ms)
        if member.address == me
        else member_json(
            member.ip,
            member.port,
            member.state,
            member.last_report_wall_ms,
            member.version,
            member.fail_count,
        )
        for member in table.members()
    ]


def raft_peer(state: NamingState) -> dict[str, Any]:
    """The local ``RaftPeer`` of ``/operator/cluster/state``: a standalone node leads its own store."""
    me = address(state)
    return {"ip": me, "voteFor": me, "term": 0, "leaderDueMs": 0, "heartbeatDueMs": 0, "state": "LEADER"}
