"""What follows a registry write: push notification, replication, heartbeat tracking, durable records.

Every endpoint that changes a service goes through these helpers, so that no write forgets to push,
to track (or untrack) beats, or to journal what must survive a restart.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from nacosfast._core.registry import Change, Instance, Service
from nacosfast.naming import journal
from nacosfast.naming.state import NamingState


def beat_key(namespace: str, name: str, instance_key: str) -> Hashable:
    """The heartbeat-table key of one ephemeral instance."""
    return (namespace, name, instance_key)


def track(state: NamingState, namespace: str, name: str, instance: Instance, now_ms: int) -> None:
    """Start (or restart) beat tracking for an ephemeral, unmarked instance."""
    if instance.ephemeral and not instance.marked:
        service = state.registry.get(namespace, name)
        if service is not None:  # store the snapshot's strings: shared by every instance of the service
            namespace, name = service.namespace, service.name
        state.beats.track(
            beat_key(namespace, name, instance.key),
            now_ms,
            instance.beat_timeout_ms,
            instance.delete_timeout_ms,
            instance.healthy,
        )


def untrack_service(state: NamingState, service: Service) -> None:
    """Stop beat tracking for every ephemeral instance of a (removed) service."""
    for instance in service.instances(ephemeral=True):
        state.beats.untrack(beat_key(service.namespace, service.name, instance.key))


def notify(state: NamingState, change: Change | None, now_ms: int) -> None:
    """Tell push, the health checker and (in a cluster) replication that a service changed (a no-op
    for ``None``)."""
    if change is not None:
        service = change.service
        state.push.service_changed(service.namespace, service.name, now_ms)
        if state.health_checks is not None:
            current = None if change.service_removed else service
            state.health_checks.service_changed(service.namespace, service.name, current)
        replication = state.replication
        if replication is not None:
            replication.local_change(service.namespace, service.name, now_ms)


def persist(state: NamingState, key: Hashable, value: Any) -> int:
    """Journal that ``key`` becomes ``value`` (``None``: deleted); call it *before* applying the change.

    Returns the number to wait on before acknowledging. If the journal refuses the record (too large,
    too much waiting for the disk, shutting down) this raises and nothing has changed; if the disk
    refuses it later, ``journal.undo`` puts the key back to its durable value.
    """
    before = journal.current(state, key)
    number = state.journal.append(journal.encode(key, value))
    state.ledger.record(key, before, value, number)
    return number


def persist_instance(state: NamingState, namespace: str, name: str, instance: Instance) -> int:
    """``persist`` one persistent instance's new value (before ``put_instance``)."""
    return persist(state, journal.instance_key(namespace, name, instance), instance)


def persist_service_removal(state: NamingState, namespace: str, name: str) -> int:
    """Journal the removal of a service's durable part (attributes and persistent instances), before
    removing it; one O(1) record, while the ledger remembers every key it deletes."""
    service = state.registry.get(namespace, name)
    number = state.journal.append(journal.removal_record(namespace, name))
    ledger = state.ledger
    ledger.record(journal.service_key(namespace, name), journal.durable_meta(service), None, number)
    recorded: set[Hashable] = set()
    if service is not None:
        for instance in service.instances(ephemeral=False):
            key = journal.instance_key(namespace, name, instance)
            ledger.record(key, instance, None, number)
            recorded.add(key)
    # The record also deletes instances absent from memory only because a write to them is pending
    # (a deregistration): if that write is refused, the undo must not bring back what this removes.
    pending = [
        other
        for other, _ in ledger.durable()
        if _instance_of(other, namespace, name) and other not in recorded
    ]
    for other in pending:
        ledger.record(other, None, None, number)
    return number


def _instance_of(key: Hashable, namespace: str, name: str) -> bool:
    """Whether ``key`` is the key of a persistent instance of ``namespace``/``name``."""
    return isinstance(key, tuple) and key[0] == "instance" and key[1] == namespace and key[2] == name
