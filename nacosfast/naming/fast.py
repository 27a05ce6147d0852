"""The compiled request path (``nacosfast._core.fastpath``) bound to one node's naming state.

The compiled path answers light beats and cached lists (those that subscribe for push too) straight
from request bytes. Registrations and deregistrations of ephemeral instances (parameters in the
query) are read in compiled code when the query is plain (``WriteReader``; names and metadata are
still judged by this layer, once per distinct value) and by
``register_ephemeral``/``deregister_ephemeral`` otherwise, then written by the same functions
``register`` and ``deregister`` use (``upsert``, ``remove_ephemeral``); everything it reads or changes
belongs to this node's ``NamingState`` and its memos, and every effect beyond the heartbeat table
goes through the same functions the Python handlers use (``instances.after_beat``,
``instances.beat_ok_body``, ``instances.list_subscribes`` and ``instances.subscribe_lister``). It
fills no cache of its own but the per-query light-beat targets, which depend on the query bytes only.

How the node's other features see what it answers:

- auth: with the auth gate enabled (``auth``) it stands aside, so every request passes the gate in
  ``NamingApp.handle`` (``server/main.py`` does not even build it then);
- metrics: it counts what it answers per route (``FastPath.counts``); ``RequestStats`` adds those to
  ``nacosfast_http_requests_total`` at scrape time, so the hot path pays nothing for them;
- push subscribers: a list with ``udpPort`` > 0 from a client Nacos pushes to adds or refreshes its
  subscriber through ``instances.subscribe_lister``, with the connection's address as the hub gives
  it, and answers ``cacheMillis`` ``defaultPushCacheMillis``, as ``list_instances`` does;
- push, replication and active health checks: its registrations and deregistrations run the Python
  handlers' own functions (``instances.register_ephemeral``/``deregister_ephemeral`` →
  ``effects.notify``), which tell all three; a beat that revives an instance is left to the Python
  path, and ``after_beat`` covers a beat of an untracked one;
- the warm-up gate (``state.ready``): it stands aside while the node is not ready;
- cluster routing (``naming/routing.py``): on a cluster member it does what the Python path does
  there. Lists are answered from the local replica on every member. A beat of a service this node owns
  is handled as on a standalone node (the owner keeps the heartbeat table); a beat of an instance it
  knows whose service another member owns is answered here and relayed to that owner through
  ``state.forwarding.relay_beat``, as ``routing.route`` does; one it does not know is left to the
  Python path, which forwards it. The owner of each service is remembered under the member table's
  ``version``, bumped on every membership change. A registration or deregistration is handled only
  when this node owns the instance's service (its effects tell Distro, as the handler's do); the
  Python path forwards the others to their owner.

Any other feature that must see every request switches it off for its node — ``fast_path.enabled =
False`` — or passes a ``gate``, until it integrates with it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING

from nacosfast._core.fastpath import FastPath
from nacosfast._core.registry import Instance
from nacosfast._core.writes import WriteReader
from nacosfast.cluster.members import MemberTable, service_key
from nacosfast.limits import MAX_LIST_QUERY_MEMO, MAX_MEMOIZED_METADATA_CHARS
from nacosfast.naming.instances import (
    ServiceTest,
    after_beat,
    beat_ok_body,
    deregister_ephemeral,
    light_beat_names_valid,
    light_beat_target,
    list_subscribes,
    metadata_or_none,
    owns_everything,
    register_ephemeral,
    remove_ephemeral,
    subscribe_lister,
    upsert,
)
from nacosfast.naming.render import LIST_VARIANT_TAG
from nacosfast.naming.state import NamingState
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits

if TYPE_CHECKING:
    from nacosfast.auth.gate import AuthGate

__all__ = ["build_fast_path"]


def _owned_by(members: MemberTable) -> ServiceTest:
    """Whether ``members``' own node owns a service now (``routing.route`` asks the same)."""

    def owns(namespace: str, name: str) -> bool:
        return members.is_owner(service_key(namespace, name))

    return owns


def _owner_elsewhere(members: MemberTable) -> Callable[[str, str], str | None]:
    """The address of a service's owner now, ``None`` when it is ``members``' own node."""

    def owner_of(namespace: str, name: str) -> str | None:
        owner = members.owner_of(service_key(namespace, name))
        return None if owner == members.self_address else owner

    return owner_of


def build_fast_path(
    state: NamingState,
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    gate: Callable[[], bool] | None = None,
    auth: AuthGate | None = None,
) -> FastPath:
    """A ``FastPath`` answering for ``state``, within the HTTP head limits of ``limits``; it stands
    aside whenever ``gate`` says False, ``auth`` is enabled or the node is warming up, and on a cluster
    member (``state.members`` and ``state.forwarding`` set before this is called) for beats and writes
    of services other members own."""
    members = state.members
    forwarding = state.forwarding
    routing = members if forwarding is not None else None  # ``routing.route`` routes only with both
    owns = _owned_by(routing) if routing is not None else owns_everything

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

    def register_instance(namespace: str, name: str, instance: Instance, now_ms: int) -> None:
        upsert(state, namespace, name, instance, now_ms)

    def deregister_instance(namespace: str, name: str, key: str, now_ms: int) -> None:
        remove_ephemeral(state, namespace, name, key, now_ms)

    def register(query: bytes, now_ms: int) -> bool:
        return register_ephemeral(state, query, now_ms, owns)

    def deregister(query: bytes, now_ms: int) -> bool:
        return deregister_ephemeral(state, query, now_ms, owns)

    def open_now() -> bool:
        # A warming node answers 503 (``NamingApp.handle``), an enabled auth gate checks every caller:
        # answering here would skip those, so the compiled path stands aside; likewise if the node's
        # cluster routing changed after this was built (its ownership tests would be wrong).
        return (
            state.members is members
            and state.forwarding is forwarding
            and state.ready
            and (auth is None or not auth.enabled)
            and (gate is None or gate())
        )

    return FastPath(
        state,
        resolve_beat=resolve_beat,
        after_beat=beat_effects,
        beat_body=beat_body,
        writes=WriteReader(
            check_names=check_names,
            parse_metadata=metadata_or_none,
            memo_limit=MAX_LIST_QUERY_MEMO,
            metadata_memo_chars=MAX_MEMOIZED_METADATA_CHARS,
        ),
        upsert=register_instance,
        remove=deregister_instance,
        register=register,
        deregister=deregister,
        list_subscribes=partial(list_subscribes, state),  # bound without a frame of their own: a poll
        subscribe=partial(subscribe_lister, state),  # with udpPort calls both
        list_tag=LIST_VARIANT_TAG,
        max_head_bytes=limits.max_header_bytes,
        max_header_fields=limits.max_header_fields,
        memo_limit=MAX_LIST_QUERY_MEMO,
        gate=open_now,
        members=routing,
        owner_of=_owner_elsewhere(routing) if routing is not None else None,
        relay_beat=forwarding.relay_beat if routing is not None and forwarding is not None else None,
    )
