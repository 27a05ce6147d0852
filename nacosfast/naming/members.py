"""How this node presents itself: server status, ``Member`` JSON (compatibility.md §4, §9.1), RaftPeer.

A standalone node is the only member of its cluster, in state ``UP``. The cluster-membership layer
replaces :func:`members` when nacosfast runs as a cluster.
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
    """``UP``, unless an operator overrode it with the ``overriddenServerStatus`` switch."""
    overridden = state.switches.overriddenServerStatus
    return overridden if overridden else "UP"


def address(state: NamingState) -> str:
    """This node's ``ip:port``."""
    identity = state.identity
    return f"{identity.host}:{identity.port}"


def self_member(state: NamingState, wall_ms: int) -> dict[str, Any]:
    """This node as a Nacos ``Member`` (Spring-written: every field present)."""
    identity = state.identity
    return {
        "ip": identity.host,
        "port": identity.port,
        "state": "UP",
        "extendInfo": {
            "lastRefreshTime": wall_ms,
            "raftPort": str(identity.port - RAFT_PORT_OFFSET),
            "version": NACOS_COMPAT_VERSION,
        },
        "address": address(state),
        "failAccessCnt": 0,
    }


def members(state: NamingState, wall_ms: int) -> list[dict[str, Any]]:
    """Every member, sorted by address (a standalone node lists only itself)."""
    return [self_member(state, wall_ms)]


def raft_peer(state: NamingState) -> dict[str, Any]:
    """The local ``RaftPeer`` of ``/operator/cluster/state``: a standalone node leads its own store."""
    me = address(state)
    return {"ip": me, "voteFor": me, "term": 0, "leaderDueMs": 0, "heartbeatDueMs": 0, "state": "LEADER"}
