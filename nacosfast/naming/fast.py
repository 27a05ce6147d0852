"""The compiled request path (``nacosfast._core.fastpath``) bound to one node's naming state.

The compiled path answers light beats and cached lists straight from request bytes, and hands
registrations and deregistrations of ephemeral instances (parameters in the query) to the same
functions ``register`` and ``deregister`` use, skipping the request objects and routing; everything it
reads or changes belongs to this node's ``NamingState`` and its memos, and every effect beyond the
heartbeat table goes through the same functions the Python handlers use (``instances.after_beat``,
``instances.beat_ok_body``). It fills no cache of its own but the per-query light-beat targets, which
depend on the query bytes only.

Features that must see every request (auth, per-request metrics, replication) switch it off for
their node — ``fast_path.enabled = False`` — or pass a ``gate``, until they integrate with it. On a
cluster member (``state.members`` set: beats and writes are routed to their owner) it always stands
aside.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from nacosfast._core.fastpath import FastPath
from nacosfast._core.registry import Instance
from nacosfast.limits import MAX_LIST_QUERY_MEMO
from nacosfast.naming.instances import (
    after_beat,
    beat_ok_body,
    deregister_ephemeral,
    light_beat_names_valid,
    light_beat_target,
    register_ephemeral,
)
from nacosfast.naming.render import LIST_VARIANT_TAG
from nacosfast.naming.state import NamingState
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits

__all__ = ["build_fast_path"]


def build_fast_path(
    state: NamingState, limits: HttpLimits = DEFAULT_HTTP_LIMITS, gate: Callable[[], bool] | None = None
) -> FastPath:
    """A ``FastPath`` answering for ``state``, within the HTTP head limits of ``limits``."""

    def resolve_beat(query: bytes) -> tuple[str, str, str, Hashable] | None:
        return light_beat_target(query)

    def check_names(namespace: str, name: str, cluster: str) -> bool:
        return light_beat_names_valid(namespace, name, cluster)

    def beat_effects(
        namespace: str, name: str, key: str, instance: Instance, status: int, now_ms: int
    ) -> None:
        after_beat(state, namespace, name, key, instance, status, now_ms)

    def beat_body(interval: int, light: bool) -> bytes:
        return beat_ok_body(state, interval, light)

    def register(query: bytes, now_ms: int) -> bool:
        return register_ephemeral(state, query, now_ms)

    def deregister(query: bytes, now_ms: int) -> bool:
        return deregister_ephemeral(state, query, now_ms)

    def open_now() -> bool:
        # A cluster member routes beats and writes to their owner (``NamingApp.handle``): answering
        # them here would skip that, so the compiled path stands aside on every cluster node.
        return state.members is None and (gate is None or gate())

    return FastPath(
        state,
        resolve_beat=resolve_beat,
        check_names=check_names,
        after_beat=beat_effects,
        beat_body=beat_body,
        register=register,
        deregister=deregister,
        list_tag=LIST_VARIANT_TAG,
        max_head_bytes=limits.max_header_bytes,
        max_header_fields=limits.max_header_fields,
        memo_limit=MAX_LIST_QUERY_MEMO,
        gate=open_now,
    )
