"""Beat expiry and empty-service cleanup (compatibility.md §8.2–8.3), run every ``REAPER_PERIOD_MS``.

Sans-I/O: ``sweep(state, now_ms)`` takes the monotonic clock. The heartbeat table reports which
ephemeral instances crossed their beat timeout (15 s, or ``preserved.heart.beat.timeout``) and which
crossed their delete timeout (30 s, or ``preserved.ip.delete.timeout``); the first are marked unhealthy
and the second removed, each change told to push once. Persistent and marked instances are never
tracked, so they never expire. Nothing happens while the ``healthCheckEnabled`` switch is off (Nacos's
ClientBeatCheckTask does not run then); the beat table keeps its last-beat times, so instances whose
beats stopped meanwhile expire as soon as the switch is on again. Empty-service cleanup does not
depend on that switch.

In a cluster (``state.members`` set) only the owner of a service expires its instances and removes it
when empty: transitions of services owned elsewhere are skipped (their owner decides, and replication
brings the result). When the healthy member list changes, every ephemeral instance of a service that
this node owns now but did not own before is treated as just beaten (its beat times are re-armed), so
a handover — a member lost or added, this node restarting — never expires an instance that kept
beating to the previous owner. The first sweep takes over every service this node owns.

Services without instances are removed as Nacos's EmptyServiceAutoClean does: every
``EMPTY_SERVICE_CLEAN_PERIOD_MS`` each service is looked at, and one found empty on
``EMPTY_SERVICE_CLEAN_ROUNDS`` consecutive looks, at least ``EMPTY_SERVICE_MIN_AGE_MS`` after the first,
is removed (its durable record replaced by a tombstone). Any write to the service in between (a new
snapshot revision) starts the count again, so a service that is in use is never removed.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import NamedTuple

from nacosfast.cluster.members import owner_among, service_key
from nacosfast.errors import NacosError
from nacosfast.limits import (
    EMPTY_SERVICE_CLEAN_PERIOD_MS,
    EMPTY_SERVICE_CLEAN_ROUNDS,
    EMPTY_SERVICE_MIN_AGE_MS,
)
from nacosfast.naming import effects
from nacosfast.naming.journal import is_durable
from nacosfast.naming.state import NamingState

__all__ = ["SweepResult", "clean_empty_services", "expire_beats", "forgive_stall", "sweep", "take_over"]

log = logging.getLogger("nacosfast.naming.expiry")


def _instance_of(key: Hashable) -> tuple[str, str, str] | None:
    """``(namespace, service, datumKey)`` of a heartbeat-table key (see ``effects.beat_key``)."""
    if isinstance(key, tuple) and len(key) == 3 and all(isinstance(part, str) for part in key):
        return key[0], key[1], key[2]
    return None


class SweepResult(NamedTuple):
    """What one sweep changed: instances marked unhealthy, instances removed, services removed."""

    unhealthy: int = 0
    removed: int = 0
    services_removed: int = 0


def sweep(state: NamingState, now_ms: int) -> SweepResult:
    """Expire beats (mark unhealthy, remove) and, when due, clean up empty services.

    Nothing happens while the node warms up (``state.ready`` false): its registry is still filling.
    """
    if not state.ready:
        return SweepResult()
    members = state.members
    if members is not None and members.healthy_addresses() != state.owned_under:
        take_over(state, now_ms)
    unhealthy = removed = 0
    if state.switches.healthCheckEnabled:
        unhealthy, removed = expire_beats(state, now_ms)
    services_removed = 0
    due = state.next_empty_check_ms
    if due is None:
        state.next_empty_check_ms = now_ms + EMPTY_SERVICE_CLEAN_PERIOD_MS
    elif now_ms >= due:
        state.next_empty_check_ms = now_ms + EMPTY_SERVICE_CLEAN_PERIOD_MS
        services_removed = len(clean_empty_services(state, now_ms))
    return SweepResult(unhealthy, removed, services_removed)


def forgive_stall(state: NamingState, now_ms: int, stalled_ms: int) -> None:
    """This node did not run for ``stalled_ms``: every tracked instance counts as beaten ``now_ms``.

    Beats sent while the process was stopped never arrived (or went to another node), so judging
    instances by them would expire live ones the moment the node runs again.
    """
    log.warning("this node did not run for %d ms: every instance counts as just beaten", stalled_ms)
    state.beats.touch_all(now_ms)


def take_over(state: NamingState, now_ms: int) -> int:
    """Re-arm the beat times of every instance of services owned now but not under ``owned_under``.

    Returns how many instances were re-armed. Marked and persistent instances are never tracked.
    """
    members = state.members
    assert members is not None
    me = members.self_address
    before = state.owned_under
    registry = state.registry
    rearmed = 0
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            key = service_key(namespace, name)
            if members.owner_of(key) != me or (before and owner_among(before, key) == me):
                continue
            service = registry.get(namespace, name)
            if service is None:
                continue
            for instance in service.instances(ephemeral=True):
                if not instance.marked:
                    state.beats.track(
                        effects.beat_key(service.namespace, service.name, instance.key),
                        now_ms,
                        instance.beat_timeout_ms,
                        instance.delete_timeout_ms,
                        instance.healthy,
                    )
                    rearmed += 1
    if rearmed:
        log.info("took over services: %d instances treated as just beaten", rearmed)
    state.owned_under = members.healthy_addresses()
    return rearmed


def _owns(state: NamingState, namespace: str, name: str) -> bool:
    members = state.members
    return members is None or members.is_owner(service_key(namespace, name))


def expire_beats(state: NamingState, now_ms: int) -> tuple[int, int]:
    """Apply the heartbeat table's transitions: unhealthy after the beat timeout, gone after delete.

    Returns how many instances were marked unhealthy and how many were removed.
    """
    became_unhealthy, expired = state.beats.sweep(now_ms)
    registry = state.registry
    unhealthy = removed = 0
    for key in became_unhealthy:
        target = _instance_of(key)
        if target is None:
            continue
        namespace, name, instance_key = target
        if not _owns(state, namespace, name):
            continue
        change = registry.set_healthy(namespace, name, instance_key, True, False)
        if change is not None:
            unhealthy += 1
            log.info("beat timeout: %s %s %s is unhealthy", namespace, name, instance_key)
        effects.notify(state, change, now_ms)
    for key in expired:
        target = _instance_of(key)
        if target is None:
            continue
        namespace, name, instance_key = target
        if not _owns(state, namespace, name):
            continue
        service = registry.get(namespace, name)
        instance = service.get(instance_key, True) if service is not None else None
        if instance is None or instance.marked:
            continue
        log.info("beat expired: %s %s %s is removed", namespace, name, instance_key)
        change = registry.remove_instance(namespace, name, instance_key, True)
        removed += change is not None
        effects.notify(state, change, now_ms)
    return unhealthy, removed


def clean_empty_services(state: NamingState, now_ms: int) -> list[tuple[str, str]]:
    """One look at every service; remove those empty long enough. Returns the removed services."""
    registry = state.registry
    previous = state.empty_services
    seen: dict[tuple[str, str], tuple[int, int, int]] = {}
    removed: list[tuple[str, str]] = []
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            if service is None or len(service) or not _owns(state, namespace, name):
                continue
            key = (namespace, name)
            before = previous.get(key)
            if before is None or before[0] != service.revision:
                entry = (service.revision, 1, now_ms)
            else:
                entry = (before[0], before[1] + 1, before[2])
            if entry[1] >= EMPTY_SERVICE_CLEAN_ROUNDS and now_ms - entry[2] >= EMPTY_SERVICE_MIN_AGE_MS:
                if is_durable(service):
                    try:  # journaled first: the journal may refuse, and then the service stays
                        effects.persist_service_removal(state, namespace, name)
                    except NacosError as error:
                        log.warning("empty service %s %s not removed: %s", namespace, name, error.message)
                        seen[key] = entry
                        continue
                effects.untrack_service(state, service)
                registry.remove_service(namespace, name)
                log.info("empty service removed: %s %s", namespace, name)
                removed.append(key)
                continue
            seen[key] = entry
    state.empty_services = seen
    return removed
